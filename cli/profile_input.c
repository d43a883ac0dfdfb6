/*
 * profile_input.c - gets a profile's bytes for the decoder of profile.c:
 * reads a file or pipe to EOF, inflates gzip (every member, as Go's
 * reader does), and enforces NPROF_PROFILE_MAX on both the compressed
 * and the inflated size, so the decoder only ever sees a bounded plain
 * buffer. Errors are one line and name the file. No global state;
 * every buffer is malloc'ed here and freed before returning.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "profile.h"

/* ------------------------------------------------------------------ */
/* gzip                                                                 */
/* ------------------------------------------------------------------ */

static int is_gzip(const uint8_t *p, size_t n)
{
	return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* Inflates every gzip member of [in, in+len) into a malloc'ed buffer. */
static int gunzip(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen,
		  char *err, size_t errlen)
{
	z_stream z;
	uint8_t *buf = NULL;
	size_t cap = 0, used = 0;
	int zr, ret = -1;

	memset(&z, 0, sizeof(z));
	if (len > (size_t)UINT32_MAX) {
		snprintf(err, errlen, "compressed profile too large");
		return -1;
	}
	/* 16 + MAX_WBITS: gzip framing only, so a bare zlib stream is not
	 * silently accepted as something it is not. */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		snprintf(err, errlen, "cannot start zlib");
		return -1;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	for (;;) {
		if (cap - used < 65536) {
			size_t ncap = cap ? cap * 2 : (len < 65536 ? 262144 : len * 4);
			uint8_t *nb;

			if (ncap > NPROF_PROFILE_MAX + 65536)
				ncap = NPROF_PROFILE_MAX + 65536;
			if (ncap <= cap) {
				snprintf(err, errlen, "decompressed profile larger than "
					 "%zu MiB", NPROF_PROFILE_MAX >> 20);
				goto out;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		z.next_out = buf + used;
		z.avail_out = (uInt)(cap - used);
		zr = inflate(&z, Z_NO_FLUSH);
		used = cap - z.avail_out;
		if (used > NPROF_PROFILE_MAX) {
			snprintf(err, errlen, "decompressed profile larger than %zu MiB",
				 NPROF_PROFILE_MAX >> 20);
			goto out;
		}
		if (zr == Z_STREAM_END) {
			if (z.avail_in == 0)
				break;
			/* Another member follows (Go's reader reads them all). */
			if (!is_gzip(z.next_in, z.avail_in)) {
				snprintf(err, errlen, "trailing garbage after gzip data");
				goto out;
			}
			if (inflateReset(&z) != Z_OK) {
				snprintf(err, errlen, "cannot restart zlib");
				goto out;
			}
			continue;
		}
		if (zr == Z_BUF_ERROR && z.avail_in == 0) {
			snprintf(err, errlen, "truncated gzip data");
			goto out;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			snprintf(err, errlen, "corrupt gzip data (%s)",
				 z.msg ? z.msg : zError(zr));
			goto out;
		}
	}
	*out = buf;
	*outlen = used;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	inflateEnd(&z);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Public                                                               */
/* ------------------------------------------------------------------ */

int nprof_profile_parse(const void *data, size_t len, struct nprof_profile **out,
			char *err, size_t errlen)
{
	const uint8_t *in = data;
	uint8_t *raw = NULL;
	size_t rawlen = len;
	char why[300];
	int zipped = is_gzip(in, len), rc;

	*out = NULL;
	if (len == 0) {
		snprintf(err, errlen, "empty profile");
		return -1;
	}
	if (zipped) {
		if (gunzip(in, len, &raw, &rawlen, err, errlen) != 0)
			return -1;
		in = raw;
	} else if (len > NPROF_PROFILE_MAX) {
		snprintf(err, errlen, "profile larger than %zu MiB", NPROF_PROFILE_MAX >> 20);
		return -1;
	}
	rc = nprof_profile_decode(in, rawlen, out, why, sizeof(why));
	free(raw);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s",
			 zipped ? "gzip data is not a profile.proto"
				: "not a gzipped or plain profile.proto", why);
		return -1;
	}
	return 0;
}

int nprof_profile_read_file(const char *path, struct nprof_profile **out,
			    char *err, size_t errlen)
{
	char why[400];
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, rc = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* Read to EOF rather than trusting st_size: pipes and /proc files
	 * have none. */
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *nb;

			if (cap > NPROF_PROFILE_MAX) {
				snprintf(err, errlen, "%s: larger than %zu MiB", path,
					 NPROF_PROFILE_MAX >> 20);
				goto out;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == 0) {
		snprintf(err, errlen, "%s: empty file", path);
		goto out;
	}
	if (nprof_profile_parse(buf, len, out, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}
