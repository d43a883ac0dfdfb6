/*
 * units.h - unit scaling and number labels for the CLI's tables
 * (units.c), as pprof's internal/measurement prints them.
 */
#ifndef NPROF_CLI_UNITS_H
#define NPROF_CLI_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* `value` in unit `from` ("bytes", "nanoseconds", "count") expressed in
 * `to`, which may be "minimum"/"auto" (the largest unit keeping the
 * value >= 1); *uname gets the unit printed after the number. */
double nprof_units_scale(int64_t value, const char *from, const char *to,
			 const char **uname);

/* "1.07s", "512kB", "0"; `plus` prefixes positive values with "+"
 * (diff tables). Returns buf. */
const char *nprof_units_label(int64_t value, const char *from, const char *to,
			      int plus, char *buf, size_t len);

/* Always 6 columns: "  100%", "96.26%", "0.93%". Returns buf. */
const char *nprof_units_percent(int64_t value, int64_t total, char *buf, size_t len);

#endif
