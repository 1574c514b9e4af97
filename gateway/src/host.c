/* SPDX-License-Identifier: MIT */
/* The host function table (see host.h and motcua/plugin.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "archive.h"
#include "capture.h"
#include "events.h"
#include "gateway.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "outbox.h"
#include "pipeline.h"
#include "records.h"
#include "router.h"
#include "secret.h"
#include "store.h"
#include "validate.h"
#include "workers.h"

struct motcua_timer {
	struct motcua_plugin_ctx *ctx;
	struct event *ev;
	motcua_timer_fn fn;
	void *data;
	motcua_free_fn free_fn;
	struct motcua_timer *next;
};

struct motcua_response {
	int status;
	char content_type[128];
	struct evbuffer *body;
};

struct motcua_plugin_ctx {
	struct gateway *gw;
	char *name;
	struct motcua_timer *timers;
};

/* ---- log, config ---- */

static void host_log(struct motcua_plugin_ctx *ctx, enum motcua_log_level level, const char *fmt,
		     ...)
{
	va_list ap;
	va_start(ap, fmt);
	gw_logv(level, ctx->name, fmt, ap);
	va_end(ap);
}

static const char *host_config_get(struct motcua_plugin_ctx *ctx, const char *section,
				   const char *key)
{
	if (!key)
		return NULL;
	const char *v = config_get(ctx->gw->config, section ? section : ctx->name, key);
	if (v || !section)
		return v;
	/* The gateway's own settings as it uses them: the embedded defaults
	 * when the file does not set them. */
	const struct settings *st = &ctx->gw->settings;
	if (!strcmp(section, "office") && !strcmp(key, "agency_code"))
		return st->agency_code;
	if (!strcmp(section, "office") && !strcmp(key, "name"))
		return st->office_name;
	if (!strcmp(section, "gateway") && !strcmp(key, "data_dir"))
		return st->data_dir;
	return NULL;
}

static const char *host_data_dir(struct motcua_plugin_ctx *ctx)
{
	return ctx->gw->settings.data_dir;
}

static int host_secret_read(struct motcua_plugin_ctx *ctx, const char *key, const char *path,
			    unsigned flags, char *buf, size_t size, size_t *len, char *why,
			    size_t why_len)
{
	(void)ctx;
	return secret_read_file(key, path, flags, buf, size, len, why, why_len);
}

/* ---- events ---- */

/* The payload of an event a plugin publishes: a JSON object, with the
 * plugin's name added. NULL when it is not one. */
static json_t *plugin_payload(struct motcua_plugin_ctx *ctx, const char *type, const char *json)
{
	if (!type || !type[0] || strlen(type) > 64 || !json)
		return NULL;
	json_t *obj = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	json_object_set_new(obj, "plugin", json_string(ctx->name));
	return obj;
}

static int host_event_publish(struct motcua_plugin_ctx *ctx, const char *type, const char *json)
{
	json_t *obj = plugin_payload(ctx, type, json);
	if (!obj) {
		gw_log(MOTCUA_LOG_WARNING, ctx->name,
		       "event %s refused: payload is not a JSON object", type ? type : "(none)");
		return -EINVAL;
	}
	return events_publish(ctx->gw->events, type, obj);
}

static int host_event_broadcast(struct motcua_plugin_ctx *ctx, const char *type, const char *json)
{
	json_t *obj = plugin_payload(ctx, type, json);
	return obj ? events_broadcast(ctx->gw->events, type, obj) : -EINVAL;
}

static int host_event_subscribe(struct motcua_plugin_ctx *ctx, const char *prefix,
				motcua_event_fn fn, void *data, motcua_free_fn free_fn)
{
	if (!fn) {
		if (free_fn)
			free_fn(data);
		return -EINVAL;
	}
	return events_subscribe(ctx->gw->events, ctx, prefix, fn, data, free_fn);
}

static int host_event_subscribe_from(struct motcua_plugin_ctx *ctx, const char *prefix,
				     int64_t since_id, motcua_event_id_fn fn, void *data,
				     motcua_free_fn free_fn)
{
	if (!fn || since_id < 0) {
		if (free_fn)
			free_fn(data);
		return -EINVAL;
	}
	return events_subscribe_from(ctx->gw->events, ctx, prefix, since_id, fn, data, free_fn);
}

/* ---- work and timers ---- */

static int host_work_submit(struct motcua_plugin_ctx *ctx, motcua_work_fn work, motcua_done_fn done,
			    void *data)
{
	if (!work)
		return -EINVAL;
	return workers_submit(ctx->gw->workers, work, done, data);
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct motcua_timer *t = arg;
	t->fn(t->data);
	/* A one-shot timer stays registered (the plugin may still cancel it) but
	 * never fires again. */
}

static void timer_free(struct motcua_timer *t)
{
	event_free(t->ev);
	if (t->free_fn)
		t->free_fn(t->data);
	free(t);
}

static struct motcua_timer *host_timer_add(struct motcua_plugin_ctx *ctx, uint32_t interval_ms,
					   int repeat, motcua_timer_fn fn, void *data,
					   motcua_free_fn free_fn)
{
	struct motcua_timer *t = fn ? calloc(1, sizeof *t) : NULL;
	if (t)
		t->ev = event_new(ctx->gw->base, -1, repeat ? EV_PERSIST : 0, timer_fire, t);
	struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
	if (!t || !t->ev || event_add(t->ev, &tv) < 0) {
		if (t && t->ev)
			event_free(t->ev);
		if (free_fn)
			free_fn(data);
		free(t);
		return NULL;
	}
	t->ctx = ctx;
	t->fn = fn;
	t->data = data;
	t->free_fn = free_fn;
	t->next = ctx->timers;
	ctx->timers = t;
	return t;
}

static void host_timer_cancel(struct motcua_plugin_ctx *ctx, struct motcua_timer *timer)
{
	for (struct motcua_timer **pp = &ctx->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = timer->next;
			timer_free(timer);
			return;
		}
	}
}

/* ---- routes ---- */

/* API paths a plugin's route is also served at (/api/v1 + its path). */
static const char *const well_known[] = {"/indicators"};

struct plugin_route {
	struct motcua_plugin_ctx *ctx;
	motcua_route_fn fn;
	void *data;
	motcua_free_fn free_fn; /* NULL on a well-known alias: the plugin's route frees data */
	int prefix_segments;	/* of the full path, before the plugin's own */
};

static void plugin_route_free(void *arg)
{
	struct plugin_route *pr = arg;
	if (pr->free_fn)
		pr->free_fn(pr->data);
	free(pr);
}

static const char *request_header(const struct motcua_request *r, const char *name)
{
	if (!r || !name || !r->host_private)
		return NULL;
	return http_header(r->host_private, name);
}

static void call_plugin_route(struct call *c)
{
	struct plugin_route *pr = c->data;
	struct evhttp_request *req = c->req;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *rest = call_rest(c, pr->prefix_segments);
	struct motcua_request r = {
	    .struct_size = sizeof r,
	    .method = c->method,
	    .path = rest,
	    .query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)),
	    .body = len ? (const char *)evbuffer_pullup(in, -1) : NULL,
	    .body_len = len,
	    .token_name = c->tok->name,
	    .role = c->tok->role,
	    .header = request_header,
	    .host_private = req,
	};
	struct motcua_response resp = {.status = 200, .body = evbuffer_new()};
	if (!resp.body) {
		http_reply_error(req, 503, "no_memory", "out of memory");
		return;
	}
	snprintf(resp.content_type, sizeof resp.content_type, "application/json");
	int status = pr->fn(pr->data, &r, &resp);
	if (status < 100 || status > 599) {
		gw_log(MOTCUA_LOG_ERROR, pr->ctx->name, "route %s %s returned bad status %d",
		       c->method, rest, status);
		evbuffer_free(resp.body);
		http_reply_error(req, 500, "plugin_error", "plugin %s failed", pr->ctx->name);
		return;
	}
	http_set_header(req, "Content-Type", resp.content_type);
	evhttp_send_reply(req, status, NULL, resp.body);
	evbuffer_free(resp.body);
}

static int add_plugin_route(struct motcua_plugin_ctx *ctx, const char *method, const char *full,
			    unsigned roles, motcua_route_fn fn, void *data, motcua_free_fn free_fn,
			    int prefix_segments)
{
	struct plugin_route *pr = calloc(1, sizeof *pr);
	if (!pr) {
		if (free_fn)
			free_fn(data);
		return -ENOMEM;
	}
	*pr = (struct plugin_route){ctx, fn, data, free_fn, prefix_segments};
	return router_add(ctx->gw->router, method, full, roles, call_plugin_route, pr,
			  plugin_route_free, ctx, ctx->name, NULL, 0);
}

static int host_route_add(struct motcua_plugin_ctx *ctx, const char *method, const char *path,
			  unsigned roles, motcua_route_fn fn, void *data, motcua_free_fn free_fn)
{
	char full[300];
	if (!fn || !method || !path || path[0] != '/' || strlen(path) > 200 || !roles ||
	    strpbrk(path, "{}") ||
	    (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "PUT") &&
	     strcmp(method, "DELETE"))) {
		if (free_fn)
			free_fn(data);
		return -EINVAL;
	}
	snprintf(full, sizeof full, "/api/v1/plugins/%s%s", ctx->name, path);
	int r = add_plugin_route(ctx, method, full, roles, fn, data, free_fn, 4);
	if (r < 0)
		return r;
	gw_log(MOTCUA_LOG_DEBUG, ctx->name, "route %s %s", method, full);
	for (size_t i = 0; i < sizeof well_known / sizeof well_known[0]; i++) {
		if (strcmp(path, well_known[i]))
			continue;
		snprintf(full, sizeof full, "/api/v1%s", path);
		/* another plugin serving it already keeps it */
		if (add_plugin_route(ctx, method, full, roles, fn, data, NULL, 2) == 0)
			gw_log(MOTCUA_LOG_DEBUG, ctx->name, "route %s %s", method, full);
	}
	return 0;
}

static int host_response_set(struct motcua_response *resp, const char *content_type,
			     const char *body, size_t len)
{
	if (!resp || !content_type || strlen(content_type) >= sizeof resp->content_type ||
	    strpbrk(content_type, "\r\n") || (len && !body))
		return -EINVAL;
	snprintf(resp->content_type, sizeof resp->content_type, "%s", content_type);
	evbuffer_drain(resp->body, evbuffer_get_length(resp->body));
	return evbuffer_add(resp->body, body, len) == 0 ? 0 : -ENOMEM;
}

static void route_no_plugin(struct call *c)
{
	http_reply_error(c->req, 503, "no_indicators",
			 "no evaluation plugin is enabled ([eval-stream] enabled = true)");
}

int host_routes_add(struct gateway *gw)
{
	/* /api/v1/indicators while no plugin serves it */
	return router_add(
	    gw->router, "GET", "/api/v1/indicators", R_ANY, route_no_plugin, NULL, NULL, NULL, NULL,
	    "the indicators of a period, served by the evaluation plugin (eval-stream)",
	    ROUTE_FALLBACK);
}

/* ---- what a plugin provides ---- */

/* Logs the outcome of filling a slot: who has it already (taken names the
 * thing and other the plugin), or what the plugin now does. */
static int filled(struct motcua_plugin_ctx *ctx, int r, const char *other, const char *taken,
		  const char *done)
{
	if (r == -EEXIST)
		gw_log(MOTCUA_LOG_ERROR, ctx->name, "cannot %s: %s already does it", taken, other);
	else if (r == 0)
		gw_log(MOTCUA_LOG_INFO, ctx->name, "%s", done);
	return r;
}

static void copy_name(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s", name ? name : "");
}

static int host_step_register(struct motcua_plugin_ctx *ctx, enum motcua_step step,
			      motcua_step_fn fn, void *data, motcua_free_fn free_fn)
{
	struct pipeline *p = ctx->gw->pipeline;
	char other[64], taken[64], done[64];
	copy_name(other, sizeof other, pipeline_step_plugin(p, step));
	snprintf(taken, sizeof taken, "do the %s step", step_name(step));
	snprintf(done, sizeof done, "does the %s step", step_name(step));
	return filled(ctx, pipeline_step_set(p, step, ctx->name, fn, data, free_fn, ctx), other,
		      taken, done);
}

static int host_page_step_register(struct motcua_plugin_ctx *ctx, enum motcua_step step,
				   motcua_page_fn fn, void *data, motcua_free_fn free_fn)
{
	int r = pipeline_page_step_set(ctx->gw->pipeline, step, fn, data, free_fn, ctx);
	if (r < 0)
		gw_log(MOTCUA_LOG_ERROR, ctx->name, "cannot add a page function to the %s step: %s",
		       step_name(step), strerror(-r));
	return r;
}

static int host_capture_register(struct motcua_plugin_ctx *ctx,
				 const struct motcua_capture_ops *ops, void *data,
				 motcua_free_fn free_fn)
{
	struct capture *c = ctx->gw->capture;
	char other[64];
	copy_name(other, sizeof other, capture_plugin(c));
	return filled(ctx, capture_provider_set(c, ctx->name, ops, data, free_fn, ctx), other,
		      "capture", "captures documents (POST /api/v1/dossiers/{code}/scan)");
}

static int host_archive_register(struct motcua_plugin_ctx *ctx,
				 const struct motcua_archive_ops *ops, void *data,
				 motcua_free_fn free_fn)
{
	struct archive *a = ctx->gw->archive;
	char other[64];
	copy_name(other, sizeof other, archive_plugin(a));
	return filled(ctx, archive_provider_set(a, ctx->name, ops, data, free_fn, ctx), other,
		      "archive", "keeps the e-archive (/api/v1/archive/, reuse)");
}

static int host_adapter_register(struct motcua_plugin_ctx *ctx,
				 const struct motcua_adapter_ops *ops, void *data,
				 motcua_free_fn free_fn)
{
	int r = outbox_adapter_add(ctx->gw->outbox, ctx->name, ops, data, free_fn, ctx);
	if (r == 0)
		gw_log(MOTCUA_LOG_INFO, ctx->name, "delivers dossiers (outbox destination %s)",
		       ctx->name);
	return r;
}

/* ---- what an agency reports back ---- */

static int host_dossier_status(struct motcua_plugin_ctx *ctx, const char *code, int status,
			       const char *details)
{
	json_t *d = NULL;
	if (!code || !valid_code_chars(code, 95))
		return -EINVAL;
	if (details) {
		d = json_loads(details, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(d)) {
			json_decref(d);
			return -EINVAL;
		}
	}
	int r = dossier_set_status(ctx->gw->records, code, status, ctx->name, d);
	if (r == -EINVAL)
		gw_log(MOTCUA_LOG_WARNING, ctx->name,
		       "status %d for %s refused: not a code from 1 to 10", status, code);
	return r;
}

/* A result an agency returned: copied on the caller's thread, recorded on
 * the loop. */
struct result_job {
	struct gateway *gw;
	char code[96], name[256], media_type[32], sha[65], plugin[64];
	uint64_t size;
};

static void result_on_loop(void *arg, int cancelled)
{
	struct result_job *j = arg;
	struct gateway *gw = j->gw;
	char id[33], by[80];
	struct document_extra x = {.doc_type = "ket-qua"};
	snprintf(by, sizeof by, "agency:%s", j->plugin);
	if (cancelled) {
		/* stopping: the blob stays unreferenced; the agency sends it again */
	} else if (!dossier_exists(gw->records, j->code)) {
		gw_log(MOTCUA_LOG_ERROR, j->plugin, "a result for %s was dropped: no such dossier",
		       j->code);
	} else if (document_create(gw->records, j->code, j->name, j->media_type, j->sha, j->size,
				   by, &x, id) < 0) {
		gw_log(MOTCUA_LOG_ERROR, j->plugin, "a result for %s could not be recorded",
		       j->code);
	} else {
		gw_log(MOTCUA_LOG_INFO, j->plugin, "result %s (%s) added to %s as document %s",
		       j->name, j->media_type, j->code, id);
	}
	free(j);
}

/* Does the file hold what its type says (as an upload must)? */
static int check_result_file(const char *path, const char *media_type, uint64_t max,
			     const char **why)
{
	unsigned char probe[64 + 1024];
	size_t hn = 0, tn = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	off_t size = lseek(fd, 0, SEEK_END);
	if (size > 0) {
		hn = (size_t)(size < 64 ? size : 64);
		tn = (size_t)(size < 1024 ? size : 1024);
		if (pread(fd, probe, hn, 0) != (ssize_t)hn ||
		    pread(fd, probe + hn, tn, size - (off_t)tn) != (ssize_t)tn)
			hn = tn = 0;
	}
	close(fd);
	if (size <= 0)
		*why = "empty file";
	else if ((uint64_t)size > max)
		*why = "too large";
	else if (upload_content_matches(media_type, probe, hn + tn, why))
		return 0;
	return -EINVAL;
}

static int host_result_add(struct motcua_plugin_ctx *ctx, const char *code, const char *path,
			   const char *media_type, const char *name)
{
	struct gateway *gw = ctx->gw;
	if (!code || !valid_code_chars(code, 95) || !path || !media_type ||
	    !upload_type_ok(media_type) || (name && !valid_document_name(name)))
		return -EINVAL;
	const char *why = NULL;
	int r = check_result_file(path, media_type, gw->settings.max_upload_bytes, &why);
	if (r == -EINVAL)
		gw_log(MOTCUA_LOG_WARNING, ctx->name, "a result for %s was refused: %s", code, why);
	if (r < 0)
		return r;
	struct result_job *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	j->gw = gw;
	snprintf(j->code, sizeof j->code, "%s", code);
	snprintf(j->name, sizeof j->name, "%s", name ? name : "Kết quả giải quyết");
	snprintf(j->media_type, sizeof j->media_type, "%s", media_type);
	snprintf(j->plugin, sizeof j->plugin, "%s", ctx->name);
	r = store_copy_file(gw->store, path, j->sha, &j->size);
	if (r == 0)
		r = workers_post(gw->io_workers, result_on_loop, j);
	if (r < 0)
		free(j);
	return r;
}

/* ---- the table and the contexts ---- */

static const struct motcua_host table = {
    .struct_size = sizeof(struct motcua_host),
    .abi = MOTCUA_ABI_VERSION,
    .log = host_log,
    .config_get = host_config_get,
    .event_publish = host_event_publish,
    .event_subscribe = host_event_subscribe,
    .work_submit = host_work_submit,
    .timer_add = host_timer_add,
    .timer_cancel = host_timer_cancel,
    .route_add = host_route_add,
    .response_set = host_response_set,
    .step_register = host_step_register,
    .page_step_register = host_page_step_register,
    .capture_register = host_capture_register,
    .archive_register = host_archive_register,
    .data_dir = host_data_dir,
    .adapter_register = host_adapter_register,
    .dossier_status = host_dossier_status,
    .result_add = host_result_add,
    .event_subscribe_from = host_event_subscribe_from,
    .event_broadcast = host_event_broadcast,
    .secret_read = host_secret_read,
};

const struct motcua_host *host_table(void)
{
	return &table;
}

struct motcua_plugin_ctx *host_ctx_new(struct gateway *gw, const char *name)
{
	struct motcua_plugin_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx || !(ctx->name = strdup(name))) {
		free(ctx);
		return NULL;
	}
	ctx->gw = gw;
	return ctx;
}

void host_ctx_forget(struct motcua_plugin_ctx *ctx)
{
	struct gateway *gw = ctx->gw;
	router_remove_owner(gw->router, ctx);
	while (ctx->timers) {
		struct motcua_timer *t = ctx->timers;
		ctx->timers = t->next;
		timer_free(t);
	}
	pipeline_drop_owner(gw->pipeline, ctx);
	capture_drop_owner(gw->capture, ctx);
	archive_drop_owner(gw->archive, ctx);
	outbox_drop_owner(gw->outbox, ctx);
	events_unsubscribe_all(gw->events, ctx);
}

void host_ctx_free(struct motcua_plugin_ctx *ctx)
{
	if (!ctx)
		return;
	free(ctx->name);
	free(ctx);
}
