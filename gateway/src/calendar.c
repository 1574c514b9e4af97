/* SPDX-License-Identifier: MIT */
/*
 * The office calendar: working days (Monday to Friday, minus the [office]
 * holidays file), over which a dossier's promised return date ("hẹn trả") is
 * counted from its procedure's processing time (procedures.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "util.h"
#include "validate.h"

#define MAX_HOLIDAYS 2000

struct calendar {
	int32_t holidays[MAX_HOLIDAYS]; /* days since the epoch, Vietnam time */
	size_t n_holidays;
};

static int32_t vn_day(int64_t t)
{
	return (int32_t)((t + VN_OFFSET_S) / 86400);
}

static bool parse_date(const char *s, int32_t *day)
{
	int64_t t;
	if (date_parse_vn(s, &t) < 0)
		return false;
	*day = vn_day(t);
	return true;
}

static int load_holidays(struct calendar *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "[office] holidays = %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	char line[256];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		n++;
		char *s = str_trim(line);
		char *hash = strchr(s, '#');
		if (hash)
			*hash = 0;
		s = str_trim(s);
		if (!*s)
			continue;
		int32_t day;
		if (!parse_date(s, &day)) {
			snprintf(err, errlen, "%s:%d: '%s' is not a date YYYY-MM-DD", path, n, s);
			fclose(f);
			return -EINVAL;
		}
		if (c->n_holidays == MAX_HOLIDAYS) {
			snprintf(err, errlen, "%s:%d: more than %d holidays", path, n,
				 MAX_HOLIDAYS);
			fclose(f);
			return -EINVAL;
		}
		c->holidays[c->n_holidays++] = day;
	}
	fclose(f);
	return 0;
}

struct calendar *calendar_load(const char *holidays, char *err, size_t errlen)
{
	struct calendar *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (holidays && load_holidays(c, holidays, err, errlen) < 0) {
		calendar_free(c);
		return NULL;
	}
	return c;
}

void calendar_free(struct calendar *c)
{
	if (!c)
		return;
	free(c);
}

static bool working_day(const struct calendar *c, int32_t day)
{
	int wd = (int)((day + 4) % 7); /* 1970-01-01 was a Thursday: 0 = Sunday */
	if (wd == 0 || wd == 6)
		return false;
	for (size_t i = 0; c && i < c->n_holidays; i++)
		if (c->holidays[i] == day)
			return false;
	return true;
}

int64_t calendar_due(const struct calendar *c, int64_t received, int working_days)
{
	int32_t day = vn_day(received);
	/* Received on a day off: the count starts on the next working day. */
	int left = working_days;
	if (!working_day(c, day) && left == 0)
		left = 1;
	while (left > 0) {
		day++;
		if (working_day(c, day))
			left--;
	}
	/* The end of that day, Vietnam time. */
	return (int64_t)day * 86400 + 86399 - VN_OFFSET_S;
}
