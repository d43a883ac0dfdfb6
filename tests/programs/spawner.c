/*
 * spawner.c - children made every way a preloaded program makes them:
 * vfork+exec, posix_spawn with file actions, and fork+exec of a program
 * with an empty environment (so nprof is not loaded in it) that lists its
 * own open descriptors. Prints each child's exit status and the listing;
 * then waits on stdin so a test can query the parent afterwards.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void report(const char *what, pid_t p)
{
	int st = 0;
	if (p < 0 || waitpid(p, &st, 0) < 0) {
		printf("%s failed\n", what);
		return;
	}
	printf("%s exit %d\n", what, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	fflush(stdout);
}

int main(void)
{
	pid_t p = vfork();
	if (p == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	report("vfork", p);

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclose(&fa, 0);
	char *argv_sh[] = {"sh", "-c", "exit 7", NULL};
	if (posix_spawn(&p, "/bin/sh", &fa, NULL, argv_sh, environ) != 0)
		p = -1;
	report("posix_spawn", p);
	posix_spawn_file_actions_destroy(&fa);

	/* The exec'd image gets no LD_PRELOAD: whatever descriptors it has
	 * were inherited, and only 0, 1, 2 (and ls's own) may be there. */
	fflush(stdout);
	p = fork();
	if (p == 0) {
		char *argv_ls[] = {"ls", "/proc/self/fd", NULL};
		char *envp[] = {NULL};
		execve("/bin/ls", argv_ls, envp);
		_exit(127);
	}
	report("exec", p);
	printf("spawner done\n");
	fflush(stdout);
	char line[8];
	while (fgets(line, sizeof line, stdin))
		;
	return 0;
}
