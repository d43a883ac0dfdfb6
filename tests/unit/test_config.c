/*
 * test_config.c - NPROF_* variables and the nprof_start() string: good
 * values are taken, bad ones keep the default (with a message), and the
 * string wins over the environment.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "nprof_int.h"
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

	/* Bad values: defaults (heap profiling off for a bad heap rate, as
	 * docs/reference.md §1 says: a bad value keeps its default). */
	setenv("NPROF_HEAP_RATE", "abc", 1);
	setenv("NPROF_CPU_HZ", "1e9", 1);
	setenv("NPROF_SNAPSHOT", "5 parsecs", 1);
	setenv("NPROF_DUMP_SIGNAL", "SIGKILL", 1);
	nprof__core_configure(NULL);
	CHECK(nprof__cfg.heap_rate == 0);
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
	return unit_done("test_config");
}
