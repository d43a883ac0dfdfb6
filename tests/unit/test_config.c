/*
 * test_config.c - NPROF_* variables and the nprof_start() string: good
 * values are taken, bad ones keep the default (with a message), and the
 * string wins over the environment.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "unit.h"

static void clear_env(void)
{
	const char *vars[] = {"NPROF_HTTP", "NPROF_SOCKET", "NPROF_HEAP_RATE", "NPROF_CPU_HZ",
			      "NPROF_SNAPSHOT", "NPROF_DUMP_SIGNAL", "NPROF_BLOCK_RATE",
			      "NPROF_MUTEX_FRACTION", "NPROF_EXPOSE_CMDLINE", "NPROF_OUT"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
}

int main(void)
{
	clear_env();
	setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
	nprof__core_configure(NULL);
	CHECK(nprof__cfg.heap_rate == 524288);
	CHECK(nprof__cfg.cpu_hz == 100);
	CHECK(nprof__cfg.snapshot_s == 1.0);
	CHECK(nprof__cfg.http[0] == '\0');
	CHECK(strncmp(nprof__cfg.socket_path, "/run/user/7/nprof/", 18) == 0);
	CHECK(!nprof__cfg.expose_cmdline);

	unsetenv("XDG_RUNTIME_DIR");
	setenv("NPROF_HEAP_RATE", "1", 1);
	setenv("NPROF_CPU_HZ", "250", 1);
	setenv("NPROF_SNAPSHOT", "1h", 1);
	setenv("NPROF_DUMP_SIGNAL", "SIGUSR2", 1);
	setenv("NPROF_SOCKET", "off", 1);
	setenv("NPROF_EXPOSE_CMDLINE", "1", 1);
	setenv("NPROF_BLOCK_RATE", "1000", 1);
	nprof__core_configure(NULL);
	CHECK(nprof__cfg.heap_rate == 1);
	CHECK(nprof__cfg.cpu_hz == 250);
	CHECK_MSG(nprof__cfg.snapshot_s == 3600.0, "snapshot %g", nprof__cfg.snapshot_s);
	CHECK(nprof__cfg.dump_signal == SIGUSR2);
	CHECK(nprof__cfg.socket_path[0] == '\0');
	CHECK(nprof__cfg.expose_cmdline);
	CHECK(nprof__cfg.block_rate == 1000);

	/* Bad values: defaults, with a message (a bad heap rate keeps the
	 * default rate, as docs/reference.md §1 says of every bad value). */
	setenv("NPROF_HEAP_RATE", "abc", 1);
	setenv("NPROF_CPU_HZ", "1e9", 1);
	setenv("NPROF_SNAPSHOT", "5 parsecs", 1);
	setenv("NPROF_DUMP_SIGNAL", "SIGKILL", 1);
	nprof__core_configure(NULL);
	CHECK(nprof__cfg.heap_rate == 524288);
	CHECK(nprof__cfg.cpu_hz == 100);
	CHECK(nprof__cfg.snapshot_s == 1.0);
	CHECK(nprof__cfg.dump_signal == 0);
	setenv("NPROF_CPU_HZ", "5000", 1);
	setenv("NPROF_SNAPSHOT", "500ms", 1);
	nprof__core_configure(NULL);
	CHECK(nprof__cfg.cpu_hz == 1000);
	CHECK(nprof__cfg.snapshot_s == 0.5);

	/* The string wins over the environment, and bad items are skipped. */
	setenv("NPROF_HTTP", ":1111", 1);
	nprof__core_configure("http=127.0.0.1:2222,cpu_hz=42,nonsense,bogus_key=1,heap_rate=4096");
	CHECK(strcmp(nprof__cfg.http, "127.0.0.1:2222") == 0);
	CHECK(nprof__cfg.cpu_hz == 42);
	CHECK(nprof__cfg.heap_rate == 4096);

	/* "off" in any case switches the unix socket off. */
	clear_env();
	setenv("NPROF_SOCKET", "OFF", 1);
	nprof__core_configure(NULL);
	CHECK(nprof__cfg.socket_path[0] == '\0');
	setenv("NPROF_SOCKET", "Off", 1);
	nprof__core_configure(NULL);
	CHECK(nprof__cfg.socket_path[0] == '\0');
	unsetenv("NPROF_SOCKET");

	/* Tokens: up to 4096 bytes are kept whole; anything nprof cannot
	 * use (too long, empty, blank, spaces or control bytes) marks the
	 * token unusable, which keeps the TCP listener off (fail closed). */
	{
		static char tok[5000];
		memset(tok, 'a', 4096);
		tok[4096] = '\0';
		tok[4095] = 'z';
		setenv("NPROF_TOKEN", tok, 1);
		nprof__core_configure(NULL);
		CHECK(!nprof__cfg.token_bad);
		CHECK_MSG(strlen(nprof__cfg.token) == 4096, "token length %zu",
			  strlen(nprof__cfg.token));
		memset(tok, 'b', 4200);
		tok[4200] = '\0';
		setenv("NPROF_TOKEN", tok, 1);
		nprof__core_configure(NULL);
		CHECK(nprof__cfg.token_bad);
		const char *bad[] = {"", "   ", "ab cd", "ab\ncd", "\t"};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			setenv("NPROF_TOKEN", bad[i], 1);
			nprof__core_configure(NULL);
			CHECK_MSG(nprof__cfg.token_bad, "token #%zu accepted", i);
		}
		unsetenv("NPROF_TOKEN");
		/* The same through the nprof_start() string, past 400 bytes. */
		char cfgs[5100];
		memset(tok, 'c', 1000);
		tok[1000] = '\0';
		snprintf(cfgs, sizeof cfgs, "cpu_hz=7,token=%s", tok);
		nprof__core_configure(cfgs);
		CHECK(!nprof__cfg.token_bad && strlen(nprof__cfg.token) == 1000);
		CHECK(nprof__cfg.cpu_hz == 7);
		nprof__core_configure(NULL);
		CHECK(!nprof__cfg.token_bad && nprof__cfg.token[0] == '\0');
	}
	return unit_done("test_config");
}
