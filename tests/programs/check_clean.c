/*
 * check_clean.c - the `nprof check` corpus's clean program: every kind of
 * noise and no leak, so it must pass (exit 0, nothing reported). With an
 * argument it forks a child that leaks one block and exits through
 * exit(), whose own report must name it (LEAK: heap), and exits with the
 * argument as its status.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *cache[8];          /* reachable from data: not a leak */
void *volatile sink;

static void *work(void *arg)
{
	char *p = malloc(32);
	snprintf(p, 32, "%s", (const char *)arg);
	free(p);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	pthread_create(&t, NULL, work, "joined");
	pthread_join(t, NULL);
	int fd = open("/dev/null", O_RDONLY);
	close(fd);
	for (int i = 0; i < 8; i++)
		cache[i] = strdup("kept in a global");
	free(malloc(1000));
	if (argc > 1) {
		pid_t pid = fork();
		if (pid == 0) {
			sink = malloc(333); /* LEAK: heap (child) */
			sink = NULL;
			exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		printf("check_clean child %d\n", WEXITSTATUS(st));
		return atoi(argv[1]);
	}
	printf("check_clean done\n");
	return 0;
}
