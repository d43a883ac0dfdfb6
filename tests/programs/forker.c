/*
 * forker.c - forks and execs while preloaded. On each line of stdin:
 * "exec" forks a child that execs `echo child-ran`; "fork" forks a child
 * that exits through exit() (running destructors) without exec. The parent
 * reports each child's exit status and keeps running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	char line[64];
	printf("forker: pid %d\n", (int)getpid());
	fflush(stdout);
	while (fgets(line, sizeof line, stdin)) {
		pid_t p = fork();
		if (p == 0) {
			if (strncmp(line, "exec", 4) == 0) {
				execlp("echo", "echo", "child-ran", (char *)NULL);
				_exit(127);
			}
			void *m = malloc(100);
			free(m);
			exit(0);
		}
		int st;
		waitpid(p, &st, 0);
		printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		fflush(stdout);
	}
	return 0;
}
