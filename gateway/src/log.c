/* SPDX-License-Identifier: MIT */
/* One line per event on stderr (journald adds its own time stamp under systemd;
 * we add ours for the terminal and the tests). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

static enum motcua_log_level max_level = MOTCUA_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void gw_log_set_level(enum motcua_log_level max)
{
	max_level = max;
}

static const char *level_name(enum motcua_log_level l)
{
	switch (l) {
	case MOTCUA_LOG_ERROR:
		return "error";
	case MOTCUA_LOG_WARNING:
		return "warning";
	case MOTCUA_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void gw_logv(enum motcua_log_level level, const char *who, const char *fmt, va_list ap)
{
	if (level > max_level)
		return;
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* Keep it one line whatever the message holds. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	char ts[32];
	time_iso_vn(time_now(), ts);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s %s %s%s%s\n", ts, level_name(level), who ? who : "", who ? ": " : "",
		msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void gw_log(enum motcua_log_level level, const char *who, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gw_logv(level, who, fmt, ap);
	va_end(ap);
}
