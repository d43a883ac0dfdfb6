/*
 * check_suite.c - a test-suite-like workload for `make bench`: many small
 * "test cases", each building and tearing down a few hundred small heap
 * objects (a list, strings, a hash table), some starting and joining a
 * thread, some opening and closing a file. Clean: nothing leaks, so every
 * checker's cost is its recording and its exit scan, not its reporting.
 *
 * usage: check_suite [CASES]   (default 2000)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node {
	struct node *next;
	char *name;
	int value;
};

static void *worker(void *arg)
{
	int n = *(int *)arg;
	char *buf = malloc(256);
	for (int i = 0; i < n; i++)
		snprintf(buf, 256, "worker %d", i);
	free(buf);
	return NULL;
}

static unsigned run_case(int c)
{
	unsigned sum = 0;
	struct node *head = NULL;
	for (int i = 0; i < 200; i++) {
		struct node *n = malloc(sizeof *n);
		char tmp[32];
		snprintf(tmp, sizeof tmp, "node-%d-%d", c, i);
		n->name = strdup(tmp);
		n->value = i;
		n->next = head;
		head = n;
	}
	struct node **table = calloc(64, sizeof *table);
	for (struct node *n = head; n != NULL; n = n->next)
		sum += (unsigned)strlen(n->name) + (unsigned)n->value;
	char *big = malloc(16384 + (size_t)(c % 7) * 1000);
	memset(big, c, 16384);
	sum += (unsigned char)big[100];
	big = realloc(big, 40000);
	free(big);
	free(table);
	while (head != NULL) {
		struct node *n = head->next;
		free(head->name);
		free(head);
		head = n;
	}
	if (c % 10 == 0) {
		pthread_t t;
		int n = 50;
		pthread_create(&t, NULL, worker, &n);
		pthread_join(t, NULL);
	}
	if (c % 5 == 0) {
		int fd = open("/proc/self/stat", O_RDONLY);
		char b[128];
		if (fd >= 0) {
			sum += (unsigned)read(fd, b, sizeof b);
			close(fd);
		}
	}
	return sum;
}

int main(int argc, char **argv)
{
	int cases = argc > 1 ? atoi(argv[1]) : 2000;
	unsigned sum = 0;
	for (int c = 0; c < cases; c++)
		sum += run_case(c);
	printf("%d cases, checksum %u\n", cases, sum);
	return 0;
}
