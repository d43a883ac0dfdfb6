/*
 * units.c - units and number formatting of `nprof top`/`diff` tables,
 * following pprof's internal/measurement package so the numbers read
 * exactly like `go tool pprof -top`: unit names and aliases ("kB",
 * "kilobytes"), scaling to a chosen or the smallest fitting unit, labels
 * ("1.07s", "+512kB") and 6-column percentages. Pure functions over
 * constant tables; no state, thread-safe.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

struct unit {
	const char *name;
	const char *alias[4];
	double factor;
};

struct unit_type {
	const struct unit *units;
	size_t n;
	struct unit def;
};

static const struct unit byte_units[] = {
	{"B", {"b", "byte"}, 1},
	{"kB", {"kb", "kbyte", "kilobyte"}, 1024.0},
	{"MB", {"mb", "mbyte", "megabyte"}, 1048576.0},
	{"GB", {"gb", "gbyte", "gigabyte"}, 1073741824.0},
	{"TB", {"tb", "tbyte", "terabyte"}, 1099511627776.0},
	{"PB", {"pb", "pbyte", "petabyte"}, 1125899906842624.0},
};

static const struct unit time_units[] = {
	{"ns", {"ns", "nanosecond"}, 1},
	{"us", {"\xce\xbcs", "us", "microsecond"}, 1e3},
	{"ms", {"ms", "millisecond"}, 1e6},
	{"s", {"s", "sec", "second"}, 1e9},
	{"hrs", {"hour", "hr"}, 3600e9},
};

static const struct unit_type unit_types[] = {
	{byte_units, sizeof(byte_units) / sizeof(byte_units[0]), {"B", {0}, 1}},
	{time_units, sizeof(time_units) / sizeof(time_units[0]), {"s", {0}, 1e9}},
};

/* measurement.sniffUnit: case-insensitive, plural "s" dropped. */
static const struct unit *sniff_unit(const struct unit_type *ut, const char *name)
{
	char low[64];
	size_t n = strlen(name);

	if (n >= sizeof(low))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	if (n > 2 && low[n - 1] == 's')
		low[n - 1] = '\0';
	for (size_t i = 0; i < ut->n; i++)
		for (size_t a = 0; a < 4 && ut->units[i].alias[a]; a++)
			if (strcmp(low, ut->units[i].alias[a]) == 0)
				return &ut->units[i];
	return NULL;
}

/* measurement.Scale: `value` in unit `from` expressed in `to`, which may
 * be "minimum"/"auto" (the largest unit keeping the value >= 1). */
double nprof_units_scale(int64_t value, const char *from, const char *to,
			 const char **uname)
{
	if (value < 0 && value != INT64_MIN)
		return -nprof_units_scale(-value, from, to, uname);
	for (size_t t = 0; t < sizeof(unit_types) / sizeof(unit_types[0]); t++) {
		const struct unit_type *ut = &unit_types[t];
		const struct unit *fu = sniff_unit(ut, from), *tu;
		double v;

		if (!fu)
			continue;
		v = (double)value * fu->factor;
		if (strcmp(to, "minimum") == 0 || strcmp(to, "auto") == 0) {
			double f = 0;

			*uname = NULL;
			for (size_t i = 0; i < ut->n; i++)
				if (ut->units[i].factor >= f && v / ut->units[i].factor >= 1.0) {
					f = ut->units[i].factor;
					*uname = ut->units[i].name;
				}
			if (*uname)
				return v / f;
			*uname = ut->def.name;
			return v / ut->def.factor;
		}
		tu = sniff_unit(ut, to);
		if (!tu) {
			*uname = ut->def.name;
			return v / ut->def.factor;
		}
		*uname = tu->name;
		return v / tu->factor;
	}
	if (!strcmp(to, "count") || !strcmp(to, "sample") || !strcmp(to, "unit") ||
	    !strcmp(to, "minimum") || !strcmp(to, "auto"))
		*uname = "";
	else
		*uname = to;
	return (double)value;
}

/* measurement.ScaledLabel: "1.07s", "512kB", "0". A `plus` sign marks
 * positive values (diff tables). */
const char *nprof_units_label(int64_t value, const char *from, const char *to,
			      int plus, char *buf, size_t len)
{
	const char *u;
	double v = nprof_units_scale(value, from, to, &u);
	char num[64];
	size_t n;

	snprintf(num, sizeof(num), "%.2f", v);
	n = strlen(num);
	if (n > 3 && strcmp(num + n - 3, ".00") == 0)
		num[n - 3] = '\0';
	if (strcmp(num, "0") == 0 || strcmp(num, "-0") == 0)
		snprintf(buf, len, "0");
	else
		snprintf(buf, len, "%s%s%s", plus && value > 0 ? "+" : "", num, u);
	return buf;
}

/* measurement.Percentage: always 6 columns ("  100%", "96.26%", "0.93%"). */
const char *nprof_units_percent(int64_t value, int64_t total, char *buf, size_t len)
{
	double r = total ? (double)value / (double)total * 100 : 0;

	if (r < 0)
		r = -r;

	if (r >= 99.95 && r <= 100.05)
		snprintf(buf, len, "  100%%");
	else if (r >= 1.0)
		snprintf(buf, len, "%5.2f%%", r);
	else
		snprintf(buf, len, "%5.2g%%", r);
	return buf;
}
