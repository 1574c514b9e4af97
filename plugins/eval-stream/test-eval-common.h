/* SPDX-License-Identifier: MIT */
/*
 * A fake host table for driving the built eval-stream.so: a durable event
 * log with increasing ids (event_subscribe_from replays it), routes, a timer
 * fired by hand, config from a table. Shared by the tests and the benchmark.
 */
#ifndef TEST_EVAL_COMMON_H
#define TEST_EVAL_COMMON_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <motcua/plugin.h>

struct motcua_plugin_ctx {
	int unused;
};
struct motcua_timer {
	uint32_t interval_ms;
	motcua_timer_fn fn;
	void *data;
};
struct motcua_response {
	char *body;
	char content_type[64];
};

struct fake_event {
	int64_t id;
	char *type;
	char *json;
};

static struct motcua_plugin_ctx fh_ctx;
static char fh_data_dir[512];
static const char *fh_config[32][2];
static size_t fh_n_config;
static const char *fh_agency = "000.00.12.H50";
static struct fake_event *fh_events;
static size_t fh_n_events, fh_cap_events;
static motcua_event_id_fn fh_sub_fn;
static void *fh_sub_data;
static int64_t fh_sub_since = -1;
static struct {
	char method[8], path[64];
	motcua_route_fn fn;
	void *data;
} fh_routes[8];
static int fh_n_routes;
static struct motcua_timer fh_timer;
static int fh_n_timers;
static int fh_quiet;
static char fh_last_error[1024];
static char *fh_last_published; /* the last JSON the plugin published */
static char fh_last_published_type[64];

static void MOTCUA_PRINTF(3, 4) fh_log(struct motcua_plugin_ctx *ctx, enum motcua_log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (!fh_quiet || level <= MOTCUA_LOG_ERROR)
		fprintf(stderr, "  eval-stream <%d> %s\n", (int)level, line);
	if (level <= MOTCUA_LOG_ERROR)
		snprintf(fh_last_error, sizeof fh_last_error, "%s", line);
}

static const char *fh_config_get(struct motcua_plugin_ctx *ctx, const char *section, const char *key)
{
	if (section && !strcmp(section, "office"))
		return !strcmp(key, "agency_code") ? fh_agency : NULL;
	if (section)
		return NULL;
	for (size_t i = 0; i < fh_n_config; i++)
		if (!strcmp(fh_config[i][0], key))
			return fh_config[i][1];
	return NULL;
}

/* Appends an event to the log and delivers it to the subscriber, like the host. */
static int64_t fh_emit(const char *type, const char *json)
{
	if (fh_n_events == fh_cap_events) {
		fh_cap_events = fh_cap_events ? fh_cap_events * 2 : 256;
		fh_events = realloc(fh_events, fh_cap_events * sizeof *fh_events);
	}
	struct fake_event *e = &fh_events[fh_n_events++];
	e->id = (int64_t)fh_n_events;
	e->type = strdup(type);
	e->json = strdup(json);
	if (fh_sub_fn)
		fh_sub_fn(fh_sub_data, e->id, e->type, e->json, strlen(e->json));
	return e->id;
}

static int fh_event_publish(struct motcua_plugin_ctx *ctx, const char *type, const char *json)
{
	free(fh_last_published);
	fh_last_published = strdup(json);
	snprintf(fh_last_published_type, sizeof fh_last_published_type, "%s", type);
	fh_emit(type, json);
	return 0;
}

static int fh_subscribe_from(struct motcua_plugin_ctx *ctx, const char *prefix, int64_t since, motcua_event_id_fn fn,
			     void *data, motcua_free_fn free_fn)
{
	fh_sub_since = since;
	for (size_t i = 0; i < fh_n_events; i++)
		if (fh_events[i].id > since)
			fn(data, fh_events[i].id, fh_events[i].type, fh_events[i].json, strlen(fh_events[i].json));
	fh_sub_fn = fn;
	fh_sub_data = data;
	return 0;
}

static struct motcua_timer *fh_timer_add(struct motcua_plugin_ctx *ctx, uint32_t interval_ms, int repeat,
					 motcua_timer_fn fn, void *data, motcua_free_fn free_fn)
{
	fh_timer = (struct motcua_timer){interval_ms, fn, data};
	fh_n_timers++;
	return &fh_timer;
}

static void fh_timer_cancel(struct motcua_plugin_ctx *ctx, struct motcua_timer *t)
{
	fh_n_timers--;
}

static int fh_route_add(struct motcua_plugin_ctx *ctx, const char *method, const char *path, unsigned roles,
			motcua_route_fn fn, void *data, motcua_free_fn free_fn)
{
	int i = fh_n_routes++;
	snprintf(fh_routes[i].method, sizeof fh_routes[i].method, "%s", method);
	snprintf(fh_routes[i].path, sizeof fh_routes[i].path, "%s", path);
	fh_routes[i].fn = fn;
	fh_routes[i].data = data;
	return 0;
}

static int fh_response_set(struct motcua_response *resp, const char *content_type, const char *body, size_t len)
{
	free(resp->body);
	resp->body = malloc(len + 1);
	memcpy(resp->body, body, len);
	resp->body[len] = 0;
	snprintf(resp->content_type, sizeof resp->content_type, "%s", content_type);
	return 0;
}

static const char *fh_get_data_dir(struct motcua_plugin_ctx *ctx)
{
	return fh_data_dir;
}

static struct motcua_host fh_host = {
	.struct_size = sizeof(struct motcua_host),
	.abi = MOTCUA_ABI_VERSION,
	.log = fh_log,
	.config_get = fh_config_get,
	.event_publish = fh_event_publish,
	.timer_add = fh_timer_add,
	.timer_cancel = fh_timer_cancel,
	.route_add = fh_route_add,
	.response_set = fh_response_set,
	.data_dir = fh_get_data_dir,
	.event_subscribe_from = fh_subscribe_from,
};

static const struct motcua_plugin_info *fh_info;
static void *fh_state;

static void fh_set_config(const char *key, ...)
{
	va_list ap;
	fh_n_config = 0;
	va_start(ap, key);
	for (const char *k = key; k && fh_n_config < 32; k = va_arg(ap, const char *)) {
		fh_config[fh_n_config][0] = k;
		fh_config[fh_n_config][1] = va_arg(ap, const char *);
		fh_n_config++;
	}
	va_end(ap);
}

static int fh_load(void)
{
	const char *so = getenv("EVAL_PLUGIN");
	void *h = so ? dlopen(so, RTLD_NOW | RTLD_LOCAL) : NULL;
	if (!h) {
		fprintf(stderr, "cannot load EVAL_PLUGIN=%s: %s\n", so ? so : "(unset)", dlerror());
		return -1;
	}
	motcua_plugin_entry_fn entry = (motcua_plugin_entry_fn)dlsym(h, MOTCUA_PLUGIN_ENTRY_SYMBOL);
	uint32_t abis[] = {MOTCUA_ABI_VERSION};
	fh_info = entry ? entry(abis, 1) : NULL;
	return fh_info ? 0 : -1;
}

static int fh_start(void)
{
	fh_n_routes = 0;
	fh_n_timers = 0;
	fh_sub_fn = NULL;
	fh_last_error[0] = 0;
	fh_state = NULL;
	return fh_info->init(&fh_ctx, &fh_host, &fh_state);
}

static void fh_stop(void)
{
	if (fh_info->fini)
		fh_info->fini(fh_state);
	fh_state = NULL;
	fh_sub_fn = NULL;
	fh_n_routes = 0;
}

/* Calls a route; returns the status, *body malloc()ed. */
__attribute__((unused)) static int fh_get(const char *path, const char *query, char **body)
{
	for (int i = 0; i < fh_n_routes; i++) {
		if (strcmp(fh_routes[i].method, "GET") || strcmp(fh_routes[i].path, path))
			continue;
		struct motcua_request req = {.struct_size = sizeof req,
					     .method = "GET",
					     .path = path,
					     .query = query,
					     .token_name = "test",
					     .role = MOTCUA_ROLE_SUPERVISOR};
		struct motcua_response resp = {0};
		int status = fh_routes[i].fn(fh_routes[i].data, &req, &resp);
		*body = resp.body;
		return status;
	}
	*body = NULL;
	return 404;
}

#endif
