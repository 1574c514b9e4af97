/* SPDX-License-Identifier: MIT */
/*
 * Driving the built eval-stream.so ($EVAL_PLUGIN) through the SDK's test host
 * (motcua/testhost.h), whose durable event log (increasing ids, replayed by
 * event_subscribe_from) stands in for the gateway's: a few names shared by
 * the tests and the benchmark. No host table of its own.
 */
#ifndef TEST_EVAL_COMMON_H
#define TEST_EVAL_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <motcua/plugin.h>
#include <motcua/testhost.h>

static struct motcua_testhost *fh_th;
static char fh_data_dir[512];			/* [gateway] data_dir at the next start */
static const char *fh_agency = "000.00.12.H50"; /* [office] agency_code */
static int fh_quiet;				/* at the next start: echo errors only */

static int fh_load(void)
{
	const char *so = getenv("EVAL_PLUGIN");
	fh_th = motcua_testhost_new();
	if (!fh_th || !so || motcua_testhost_load(fh_th, so) < 0) {
		fprintf(stderr, "cannot load EVAL_PLUGIN=%s: %s\n", so ? so : "(unset)",
			fh_th ? motcua_testhost_error(fh_th) : "no test host");
		return -1;
	}
	motcua_testhost_config_set(fh_th, "office", "agency_code", fh_agency);
	return 0;
}

/* Sets the plugin's section from NULL-terminated key, value pairs. */
static void fh_set_config(const char *key, ...)
{
	va_list ap;
	motcua_testhost_config(fh_th, NULL);
	va_start(ap, key);
	for (const char *k = key; k; k = va_arg(ap, const char *))
		motcua_testhost_config_set(fh_th, NULL, k, va_arg(ap, const char *));
	va_end(ap);
}

static int fh_start(void)
{
	motcua_testhost_config_set(fh_th, "gateway", "data_dir",
				   fh_data_dir[0] ? fh_data_dir : NULL);
	motcua_testhost_set_echo(fh_th, fh_quiet ? MOTCUA_LOG_ERROR : MOTCUA_LOG_DEBUG);
	motcua_testhost_log_clear(fh_th);
	return motcua_testhost_start(fh_th);
}

static void fh_stop(void)
{
	motcua_testhost_stop(fh_th);
}

__attribute__((unused)) static const char *fh_last_error(void)
{
	return motcua_testhost_log_last_error(fh_th);
}

/* An event of the gateway's: into the log, and to the plugin at once. */
static int64_t fh_emit(const char *type, const char *json)
{
	return motcua_testhost_emit(fh_th, type, json);
}

/* Calls a GET route as a supervisor; returns the status, *body malloc()ed. */
__attribute__((unused)) static int fh_get(const char *path, const char *query, char **body)
{
	struct motcua_testhost_request req = {
	    .method = "GET",
	    .path = path,
	    .query = query,
	    .role = MOTCUA_ROLE_SUPERVISOR,
	};
	struct motcua_testhost_response resp;
	int status = motcua_testhost_call(fh_th, &req, &resp);
	*body = resp.body;
	return status;
}

#endif
