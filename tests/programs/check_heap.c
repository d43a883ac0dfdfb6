/*
 * check_heap.c - heap part of the `nprof check` corpus: blocks lost in
 * known ways (each allocation line is marked LEAK: heap) beside noise that
 * must not be reported: memory freed before exit, memory still referenced
 * from a global, from a static local, from thread-local storage and from
 * another reachable block.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
	struct node *next;
	char pad[40];
};

void *keep_global;              /* noise: reachable from data */
static struct node *keep_list;  /* noise: a reachable list */
static __thread void *keep_tls; /* noise: reachable from the main thread's TLS */
void *volatile sink;

__attribute__((noinline)) static void leak_direct(void)
{
	sink = malloc(100); /* LEAK: heap */
	sink = NULL;
}

__attribute__((noinline)) static void leak_list(void)
{
	/* One direct leak (the head) and two indirect ones (the rest). */
	struct node *head = NULL;
	for (int i = 0; i < 3; i++) {
		struct node *n = calloc(1, sizeof *n); /* LEAK: heap */
		n->next = head;
		head = n;
	}
	sink = head;
	sink = NULL;
}

__attribute__((noinline)) static void leak_realloc(void)
{
	char *p = malloc(16);
	p = realloc(p, 4000); /* LEAK: heap */
	memset(p, 1, 4000);
	sink = p;
	sink = NULL;
}

__attribute__((noinline)) static void leak_aligned(void)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, 200) == 0) /* LEAK: heap */
		sink = p;
	sink = NULL;
}

__attribute__((noinline)) static void leak_large(void)
{
	sink = malloc(1 << 20); /* LEAK: heap */
	sink = NULL;
}

__attribute__((noinline)) static void noise(void)
{
	static void *volatile keep_static;
	free(malloc(64));
	char *s = strdup("freed before exit");
	free(s);
	keep_global = malloc(48);
	keep_static = malloc(56);
	sink = keep_static;
	keep_tls = malloc(72);
	for (int i = 0; i < 4; i++) {
		struct node *n = malloc(sizeof *n);
		n->next = keep_list;
		keep_list = n;
	}
	/* Hidden from the scan only by an offset: interior pointers count. */
	keep_global = (char *)keep_global + 8;
	sink = NULL;
}

int main(void)
{
	leak_direct();
	leak_list();
	leak_realloc();
	leak_aligned();
	leak_large();
	noise();
	printf("check_heap done %p\n", keep_tls);
	return 0;
}
