/*
 * head_fuzz.c - libFuzzer target for the request-head check
 * (src/http_head.c), which reads every byte a client sends before
 * anything else does. Built and run by `make fuzz` with clang
 * -fsanitize=fuzzer,address,undefined. Besides memory errors it checks the
 * function's promises: a decided head has a length within the input, an
 * error has a status in 400..505 and a constant one-line reason, and the
 * verdict does not change when more bytes follow a decided head.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nprof_head h, h2;
	char *copy = malloc(size + 1);
	int r;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = 'x'; /* a byte past the end must never change the verdict */
	r = nprof__head_check((const char *)data, size, size >= 1000, &h);
	if (r == 1) {
		if (h.status == 0 && h.head_len > size)
			abort();
		if (h.status != 0 && (h.status < 400 || h.status > 505 || h.reason == NULL ||
				      strchr(h.reason, '\n') != NULL))
			abort();
		if (h.status == 0 || h.status == 431 || h.status == 413) {
			/* "full" changes the verdict for size limits only */
		} else {
			if (nprof__head_check(copy, size + 1, 0, &h2) != 1 || h2.status != h.status)
				abort();
		}
	}
	free(copy);
	return 0;
}
