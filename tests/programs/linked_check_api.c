/*
 * linked_check_api.c - nprof_check_begin()/nprof_check_end() around test
 * cases, linked with -lnprof (nprof is started by the first begin). Each
 * case states what the report must count; the program exits 1 at the
 * first case whose report differs, printing it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nprof.h"

void *volatile sink;
char *cache[16];                /* a cache a test may fill: reachable */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stop;

static void *blocked(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!stop)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void *finishing(void *arg)
{
	/* Busy for a moment after its creator returns, then gone: the grace
	 * period covers it. */
	free(malloc(64));
	return arg;
}

__attribute__((noinline)) static void case_clean(void)
{
	free(malloc(100));
	int fd = open("/dev/null", O_RDONLY);
	close(fd);
	pthread_t t;
	pthread_create(&t, NULL, finishing, NULL);
	pthread_join(t, NULL);
}

__attribute__((noinline)) static void case_cache(void)
{
	for (int i = 0; i < 16; i++)
		cache[i] = strdup("cached");
}

__attribute__((noinline)) static void case_detached(void)
{
	pthread_t t;
	pthread_create(&t, NULL, finishing, NULL);
	pthread_detach(t);
}

static int leaked_fd;
static pthread_t leaked_thread;

__attribute__((noinline)) static void case_leaky(void)
{
	char *p = malloc(4096);
	memset(p, 7, 4096);
	sink = p;
	sink = NULL;
	leaked_fd = open("/dev/null", O_RDONLY);
	pthread_create(&leaked_thread, NULL, blocked, NULL);
	__asm__ volatile("" ::: "memory"); /* not a tail call: keep this frame */
}

static int run(const char *name, void (*fn)(void), int threads, int fds, long blocks)
{
	if (nprof_check_begin() != 0) {
		printf("%s: nprof_check_begin failed\n", name);
		return 1;
	}
	fn();
	struct nprof_check_report r;
	int rc = nprof_check_end(&r);
	int want = threads + fds + blocks > 0;
	int bad = rc != want || r.threads != threads || r.fds != fds || r.heap_blocks != blocks ||
		  !r.heap_checked || (want && strstr(r.text, "case_leaky") == NULL) ||
		  (want && strstr(r.json, "\"total\": 3") == NULL);
	printf("%s: rc=%d threads=%d fds=%d heap=%ld/%ld bytes checked=%d %s\n", name, rc,
	       r.threads, r.fds, r.heap_blocks, r.heap_bytes, r.heap_checked, bad ? "WRONG" : "ok");
	if (bad || want)
		fputs(r.text, stdout);
	nprof_check_report_free(&r);
	return bad;
}

int main(void)
{
	int bad = 0;
	struct nprof_check_report r;
	bad |= nprof_check_end(&r) != -22;      /* no begin yet: -EINVAL */
	nprof_check_report_free(&r);
	bad |= run("clean", case_clean, 0, 0, 0);
	bad |= run("cache", case_cache, 0, 0, 0);
	bad |= run("detached", case_detached, 0, 0, 0);
	bad |= run("leaky", case_leaky, 1, 1, 1);
	/* Releasing what leaked makes the next case clean again. */
	pthread_mutex_lock(&mu);
	stop = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(leaked_thread, NULL);
	close(leaked_fd);
	bad |= run("clean again", case_clean, 0, 0, 0);
	printf("%s\n", bad ? "FAILED" : "PASSED");
	return bad;
}
