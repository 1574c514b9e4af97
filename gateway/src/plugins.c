/* SPDX-License-Identifier: MIT */
/* The plugin host: finds, checks, loads and unloads plugins, and implements
 * the host function table they receive (see motcua/plugin.h). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway.h"
#include "secret.h"

#define MAX_PLUGINS 64

static const uint32_t host_abis[] = {MOTCUA_ABI_VERSION};

struct route {
	char *method;
	char *path;
	unsigned roles;
	motcua_route_fn fn;
	void *data;
	motcua_free_fn free_fn;
	struct route *next;
};

struct motcua_timer {
	struct plugin *pl;
	struct event *ev;
	motcua_timer_fn fn;
	void *data;
	motcua_free_fn free_fn;
	int repeat;
	struct motcua_timer *next;
};

struct motcua_response {
	int status;
	char content_type[128];
	struct evbuffer *body;
};

struct plugin {
	struct motcua_plugin_ctx *ctx;
	struct plugin_host *host;
	char *name;
	char *path;
	void *dl;
	const struct motcua_plugin_info *info; /* &info_copy while dl is open, or NULL */
	struct motcua_plugin_info info_copy;   /* the plugin's, members it lacks zeroed */
	char *version;                          /* copied from info: outlives dl */
	uint32_t abi, provides;
	bool enabled;
	void *state_ptr;
	const char *state; /* loaded, disabled, refused, failed */
	char *error;
	struct route *routes;
	struct motcua_timer *timers;
};

struct motcua_plugin_ctx {
	struct plugin *pl;
};

struct step_slot {
	struct step_provider prov;
	struct plugin *owner;
	motcua_free_fn free_fn;
	motcua_free_fn page_free_fn;
};

struct capture_slot {
	struct capture_provider prov;
	struct plugin *owner;
	motcua_free_fn free_fn;
};

struct archive_slot {
	struct archive_provider prov;
	struct plugin *owner;
	motcua_free_fn free_fn;
};

struct plugin_host {
	struct gateway *gw;
	struct plugin *plugins[MAX_PLUGINS];
	size_t n;
	/* delivery destinations, in registration order */
	struct adapter_provider adapters[MAX_PLUGINS];
	struct plugin *adapter_owner[MAX_PLUGINS];
	motcua_free_fn adapter_free[MAX_PLUGINS];
	size_t n_adapters;
	struct step_slot steps[MOTCUA_STEP_COUNT_];
	struct capture_slot capture;
	struct archive_slot archive;
	struct motcua_host table;
};

/* ---- the host function table ---- */

static void host_log(struct motcua_plugin_ctx *ctx, enum motcua_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gw_logv(level, ctx->pl->name, fmt, ap);
	va_end(ap);
}

static const char *host_config_get(struct motcua_plugin_ctx *ctx, const char *section, const char *key)
{
	if (!key)
		return NULL;
	const char *v = config_get(ctx->pl->host->gw->config, section ? section : ctx->pl->name, key);
	if (v || !section)
		return v;
	/* The gateway's own settings as it uses them: the embedded defaults
	 * when the file does not set them. */
	const struct settings *st = &ctx->pl->host->gw->settings;
	if (!strcmp(section, "office") && !strcmp(key, "agency_code"))
		return st->agency_code;
	if (!strcmp(section, "office") && !strcmp(key, "name"))
		return st->office_name;
	if (!strcmp(section, "gateway") && !strcmp(key, "data_dir"))
		return st->data_dir;
	return NULL;
}

static int host_event_publish(struct motcua_plugin_ctx *ctx, const char *type, const char *json)
{
	if (!type || !type[0] || strlen(type) > 64 || !json)
		return -EINVAL;
	json_t *obj = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj)) {
		json_decref(obj);
		gw_log(MOTCUA_LOG_WARNING, ctx->pl->name, "event %s refused: payload is not a JSON object",
		       type);
		return -EINVAL;
	}
	json_object_set_new(obj, "plugin", json_string(ctx->pl->name));
	return events_publish(ctx->pl->host->gw->events, type, obj);
}

static int host_event_subscribe(struct motcua_plugin_ctx *ctx, const char *prefix, motcua_event_fn fn,
				void *data, motcua_free_fn free_fn)
{
	if (!fn) {
		if (free_fn)
			free_fn(data);
		return -EINVAL;
	}
	return events_subscribe(ctx->pl->host->gw->events, ctx->pl, prefix, fn, data, free_fn);
}

static int host_event_subscribe_from(struct motcua_plugin_ctx *ctx, const char *prefix, int64_t since_id,
				     motcua_event_id_fn fn, void *data, motcua_free_fn free_fn)
{
	if (!fn || since_id < 0) {
		if (free_fn)
			free_fn(data);
		return -EINVAL;
	}
	return events_subscribe_from(ctx->pl->host->gw->events, ctx->pl, prefix, since_id, fn, data, free_fn);
}

static int host_event_broadcast(struct motcua_plugin_ctx *ctx, const char *type, const char *json)
{
	if (!type || !type[0] || strlen(type) > 64 || !json)
		return -EINVAL;
	json_t *obj = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return -EINVAL;
	}
	json_object_set_new(obj, "plugin", json_string(ctx->pl->name));
	return events_broadcast(ctx->pl->host->gw->events, type, obj);
}

static int host_work_submit(struct motcua_plugin_ctx *ctx, motcua_work_fn work, motcua_done_fn done,
			    void *data)
{
	if (!work)
		return -EINVAL;
	return workers_submit(ctx->pl->host->gw->workers, work, done, data);
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
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
	if (!t) {
		if (free_fn)
			free_fn(data);
		return NULL;
	}
	t->pl = ctx->pl;
	t->fn = fn;
	t->data = data;
	t->free_fn = free_fn;
	t->repeat = repeat;
	t->ev = event_new(ctx->pl->host->gw->base, -1, repeat ? EV_PERSIST : 0, timer_fire, t);
	struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
	if (!t->ev || event_add(t->ev, &tv) < 0) {
		if (t->ev)
			event_free(t->ev);
		if (free_fn)
			free_fn(data);
		free(t);
		return NULL;
	}
	t->next = ctx->pl->timers;
	ctx->pl->timers = t;
	return t;
}

static void host_timer_cancel(struct motcua_plugin_ctx *ctx, struct motcua_timer *timer)
{
	for (struct motcua_timer **pp = &ctx->pl->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = timer->next;
			timer_free(timer);
			return;
		}
	}
}

static int host_route_add(struct motcua_plugin_ctx *ctx, const char *method, const char *path,
			  unsigned roles, motcua_route_fn fn, void *data, motcua_free_fn free_fn)
{
	int r = -EINVAL;
	struct route *rt = NULL;
	if (!fn || !method || !path || path[0] != '/' || strlen(path) > 200 || !roles ||
	    (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "PUT") &&
	     strcmp(method, "DELETE")))
		goto fail;
	r = -ENOMEM;
	rt = calloc(1, sizeof *rt);
	if (!rt || !(rt->method = strdup(method)) || !(rt->path = strdup(path)))
		goto fail;
	rt->roles = roles;
	rt->fn = fn;
	rt->data = data;
	rt->free_fn = free_fn;
	rt->next = ctx->pl->routes;
	ctx->pl->routes = rt;
	gw_log(MOTCUA_LOG_DEBUG, ctx->pl->name, "route %s /api/v1/plugins/%s%s", method, ctx->pl->name,
	       path);
	return 0;
fail:
	if (rt) {
		free(rt->method);
		free(rt);
	}
	if (free_fn)
		free_fn(data);
	return r;
}

static int host_response_set(struct motcua_response *resp, const char *content_type, const char *body,
			     size_t len)
{
	if (!resp || !content_type || strlen(content_type) >= sizeof resp->content_type ||
	    strpbrk(content_type, "\r\n") || (len && !body))
		return -EINVAL;
	snprintf(resp->content_type, sizeof resp->content_type, "%s", content_type);
	evbuffer_drain(resp->body, evbuffer_get_length(resp->body));
	return evbuffer_add(resp->body, body, len) == 0 ? 0 : -ENOMEM;
}

static int host_step_register(struct motcua_plugin_ctx *ctx, enum motcua_step step, motcua_step_fn fn,
			      void *data, motcua_free_fn free_fn)
{
	struct plugin_host *h = ctx->pl->host;
	int r = 0;
	if ((unsigned)step >= MOTCUA_STEP_COUNT_ || step == MOTCUA_STEP_CAPTURE || step == MOTCUA_STEP_ROUTE || !fn)
		r = -EINVAL;
	else if (h->steps[step].owner) {
		gw_log(MOTCUA_LOG_ERROR, ctx->pl->name, "cannot do the %s step: %s already does it",
		       step_name(step), h->steps[step].owner->name);
		r = -EEXIST;
	}
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	h->steps[step] = (struct step_slot){
		.prov = {.plugin_name = ctx->pl->name, .fn = fn, .data = data},
		.owner = ctx->pl,
		.free_fn = free_fn,
	};
	gw_log(MOTCUA_LOG_INFO, ctx->pl->name, "does the %s step", step_name(step));
	pipeline_kick(h->gw->pipeline);
	return 0;
}

static int host_page_step_register(struct motcua_plugin_ctx *ctx, enum motcua_step step,
				   motcua_page_fn fn, void *data, motcua_free_fn free_fn)
{
	struct plugin_host *h = ctx->pl->host;
	int r = 0;
	if (step != MOTCUA_STEP_RECOGNIZE || !fn)
		r = -EINVAL; /* pages exist for recognizing; other steps work per document */
	else if (h->steps[step].owner != ctx->pl)
		r = -ENOENT; /* register the step itself first */
	else if (h->steps[step].prov.page_fn)
		r = -EEXIST;
	if (r < 0) {
		gw_log(MOTCUA_LOG_ERROR, ctx->pl->name, "cannot add a page function to the %s step: %s",
		       step_name(step), strerror(-r));
		if (free_fn)
			free_fn(data);
		return r;
	}
	h->steps[step].prov.page_fn = fn;
	h->steps[step].prov.page_data = data;
	h->steps[step].page_free_fn = free_fn;
	pipeline_kick(h->gw->pipeline);
	return 0;
}

static int host_capture_register(struct motcua_plugin_ctx *ctx, const struct motcua_capture_ops *ops,
				 void *data, motcua_free_fn free_fn)
{
	struct plugin_host *h = ctx->pl->host;
	int r = 0;
	if (!ops || ops->struct_size < sizeof(uint32_t) + 3 * sizeof(void *) || !ops->check ||
	    !ops->capture || !ops->list_devices)
		r = -EINVAL;
	else if (h->capture.owner) {
		gw_log(MOTCUA_LOG_ERROR, ctx->pl->name, "cannot capture: %s already does",
		       h->capture.owner->name);
		r = -EEXIST;
	}
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	h->capture.prov.plugin_name = ctx->pl->name;
	memset(&h->capture.prov.ops, 0, sizeof h->capture.prov.ops);
	memcpy(&h->capture.prov.ops, ops,
	       ops->struct_size < sizeof h->capture.prov.ops ? ops->struct_size : sizeof h->capture.prov.ops);
	h->capture.prov.data = data;
	h->capture.owner = ctx->pl;
	h->capture.free_fn = free_fn;
	gw_log(MOTCUA_LOG_INFO, ctx->pl->name, "captures documents (POST /api/v1/dossiers/{code}/scan)");
	return 0;
}

bool plugins_route_any(struct plugin_host *h, struct evhttp_request *req, const char *rest,
		       const struct token_info *tok)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->plugins[i]->routes && plugins_route(h, req, h->plugins[i]->name, rest, tok))
			return true;
	return false;
}

const struct capture_provider *plugins_capture(struct plugin_host *h)
{
	return h->capture.owner ? &h->capture.prov : NULL;
}

static int host_archive_register(struct motcua_plugin_ctx *ctx, const struct motcua_archive_ops *ops,
				 void *data, motcua_free_fn free_fn)
{
	struct plugin_host *h = ctx->pl->host;
	int r = 0;
	/* The first version of the ops has all six functions; each is needed. */
	if (!ops || ops->struct_size < sizeof(uint32_t) + 6 * sizeof(void *) || !ops->search ||
	    !ops->applicant_documents || !ops->item || !ops->reused || !ops->disposal || !ops->verify)
		r = -EINVAL;
	else if (h->archive.owner) {
		gw_log(MOTCUA_LOG_ERROR, ctx->pl->name, "cannot archive: %s already does",
		       h->archive.owner->name);
		r = -EEXIST;
	}
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	h->archive.prov.plugin_name = ctx->pl->name;
	memset(&h->archive.prov.ops, 0, sizeof h->archive.prov.ops);
	memcpy(&h->archive.prov.ops, ops,
	       ops->struct_size < sizeof h->archive.prov.ops ? ops->struct_size : sizeof h->archive.prov.ops);
	h->archive.prov.data = data;
	h->archive.owner = ctx->pl;
	h->archive.free_fn = free_fn;
	gw_log(MOTCUA_LOG_INFO, ctx->pl->name, "keeps the e-archive (/api/v1/archive/, reuse)");
	return 0;
}

const char *plugins_step_held(struct plugin_host *h, enum motcua_step step)
{
	static const uint32_t bit[MOTCUA_STEP_COUNT_] = {
		[MOTCUA_STEP_CAPTURE] = MOTCUA_PROVIDES_CAPTURE,
		[MOTCUA_STEP_RECOGNIZE] = MOTCUA_PROVIDES_RECOGNIZE,
		[MOTCUA_STEP_SIGN] = MOTCUA_PROVIDES_SIGN,
		[MOTCUA_STEP_ARCHIVE] = MOTCUA_PROVIDES_ARCHIVE,
		/* adapters deliver through the outbox, not the route step: one
		 * that failed holds its deliveries (they wait in the outbox), not
		 * the documents */
		[MOTCUA_STEP_ROUTE] = 0,
	};
	if ((unsigned)step >= MOTCUA_STEP_COUNT_)
		return NULL;
	for (size_t i = 0; i < h->n; i++) {
		struct plugin *pl = h->plugins[i];
		if (bit[step] && pl->enabled && (pl->provides & bit[step]) &&
		    (!strcmp(pl->state, "failed") || !strcmp(pl->state, "refused")))
			return pl->name;
	}
	return NULL;
}

const struct archive_provider *plugins_archive(struct plugin_host *h)
{
	return h->archive.owner ? &h->archive.prov : NULL;
}

static int host_adapter_register(struct motcua_plugin_ctx *ctx, const struct motcua_adapter_ops *ops,
				 void *data, motcua_free_fn free_fn)
{
	struct plugin_host *h = ctx->pl->host;
	int r = 0;
	if (!ops || ops->struct_size < sizeof(uint32_t) + 2 * sizeof(void *) || !ops->accepts || !ops->deliver)
		r = -EINVAL;
	for (size_t i = 0; r == 0 && i < h->n_adapters; i++)
		if (h->adapter_owner[i] == ctx->pl)
			r = -EEXIST;
	if (r == 0 && h->n_adapters == MAX_PLUGINS)
		r = -ENOSPC;
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	struct adapter_provider *a = &h->adapters[h->n_adapters];
	a->plugin_name = ctx->pl->name;
	memset(&a->ops, 0, sizeof a->ops);
	memcpy(&a->ops, ops, ops->struct_size < sizeof a->ops ? ops->struct_size : sizeof a->ops);
	a->data = data;
	h->adapter_owner[h->n_adapters] = ctx->pl;
	h->adapter_free[h->n_adapters] = free_fn;
	h->n_adapters++;
	gw_log(MOTCUA_LOG_INFO, ctx->pl->name, "delivers dossiers (outbox destination %s)", ctx->pl->name);
	outbox_kick(h->gw->outbox);
	return 0;
}

const struct adapter_provider *plugins_adapters(struct plugin_host *h, size_t *n)
{
	*n = h ? h->n_adapters : 0;
	return h ? h->adapters : NULL;
}

const struct adapter_provider *plugins_adapter(struct plugin_host *h, const char *name)
{
	for (size_t i = 0; h && i < h->n_adapters; i++)
		if (!strcmp(h->adapters[i].plugin_name, name))
			return &h->adapters[i];
	return NULL;
}

static int host_dossier_status(struct motcua_plugin_ctx *ctx, const char *code, int status, const char *details)
{
	struct plugin_host *h = ctx->pl->host;
	json_t *d = NULL;
	if (!code || !valid_code_chars(code, 95))
		return -EINVAL;
	if (details) {
		/* (json_is_object() is a macro: it would parse twice) */
		d = json_loads(details, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(d)) {
			json_decref(d);
			return -EINVAL;
		}
	}
	int r = dossier_set_status(h->gw->pipeline, code, status, ctx->pl->name, d);
	if (r == -EINVAL)
		gw_log(MOTCUA_LOG_WARNING, ctx->pl->name, "status %d for %s refused: not a code from 1 to 10",
		       status, code);
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
	char id[33];
	struct document_extra x = {.doc_type = "ket-qua"};
	char by[80];
	snprintf(by, sizeof by, "agency:%s", j->plugin);
	if (cancelled) {
		/* stopping: the blob stays unreferenced; the agency sends it again */
	} else if (!dossier_exists(gw->pipeline, j->code)) {
		gw_log(MOTCUA_LOG_ERROR, j->plugin, "a result for %s was dropped: no such dossier", j->code);
	} else if (document_create(gw->pipeline, j->code, j->name, j->media_type, j->sha, j->size, by, &x, id) < 0) {
		gw_log(MOTCUA_LOG_ERROR, j->plugin, "a result for %s could not be recorded", j->code);
	} else {
		gw_log(MOTCUA_LOG_INFO, j->plugin, "result %s (%s) added to %s as document %s", j->name,
		       j->media_type, j->code, id);
	}
	free(j);
}

static int host_result_add(struct motcua_plugin_ctx *ctx, const char *code, const char *path,
			   const char *media_type, const char *name)
{
	struct plugin_host *h = ctx->pl->host;
	struct gateway *gw = h->gw;
	if (!code || !valid_code_chars(code, 95) || !path || !media_type || !upload_type_ok(media_type) ||
	    (name && !valid_document_name(name)))
		return -EINVAL;
	/* The content must be what the type says, as for an upload. */
	unsigned char probe[64 + 1024];
	size_t hn = 0, tn = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	off_t size = lseek(fd, 0, SEEK_END);
	if (size > 0) {
		hn = (size_t)(size < 64 ? size : 64);
		tn = (size_t)(size < 1024 ? size : 1024);
		if (pread(fd, probe, hn, 0) != (ssize_t)hn || pread(fd, probe + hn, tn, size - (off_t)tn) != (ssize_t)tn)
			hn = tn = 0;
	}
	close(fd);
	const char *why = NULL;
	if (size <= 0 || (uint64_t)size > gw->settings.max_upload_bytes ||
	    !upload_content_matches(media_type, probe, hn + tn, &why)) {
		gw_log(MOTCUA_LOG_WARNING, ctx->pl->name, "a result for %s was refused: %s", code,
		       size <= 0 ? "empty file" : why ? why : "too large");
		return -EINVAL;
	}
	struct result_job *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	j->gw = gw;
	snprintf(j->code, sizeof j->code, "%s", code);
	snprintf(j->name, sizeof j->name, "%s", name ? name : "Kết quả giải quyết");
	snprintf(j->media_type, sizeof j->media_type, "%s", media_type);
	snprintf(j->plugin, sizeof j->plugin, "%s", ctx->pl->name);
	int r = store_copy_file(gw->store, path, j->sha, &j->size);
	if (r == 0)
		r = workers_post(gw->io_workers, result_on_loop, j);
	if (r < 0)
		free(j);
	return r;
}

static const char *host_data_dir(struct motcua_plugin_ctx *ctx)
{
	return ctx->pl->host->gw->settings.data_dir;
}

static int host_secret_read(struct motcua_plugin_ctx *ctx, const char *key, const char *path, unsigned flags,
			    char *buf, size_t size, size_t *len, char *why, size_t why_len)
{
	(void)ctx;
	return secret_read_file(key, path, flags, buf, size, len, why, why_len);
}

/* ---- loading ---- */

struct plugin_host *plugins_new(struct gateway *gw)
{
	struct plugin_host *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->gw = gw;
	h->table = (struct motcua_host){
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
	return h;
}

/* Drops everything a plugin registered: after fini(), or after a failed init(). */
static void unregister_all(struct plugin *pl)
{
	struct plugin_host *h = pl->host;
	while (pl->routes) {
		struct route *rt = pl->routes;
		pl->routes = rt->next;
		if (rt->free_fn)
			rt->free_fn(rt->data);
		free(rt->method);
		free(rt->path);
		free(rt);
	}
	while (pl->timers) {
		struct motcua_timer *t = pl->timers;
		pl->timers = t->next;
		timer_free(t);
	}
	for (int s = 0; s < MOTCUA_STEP_COUNT_; s++) {
		if (h->steps[s].owner == pl) {
			if (h->steps[s].free_fn)
				h->steps[s].free_fn(h->steps[s].prov.data);
			if (h->steps[s].page_free_fn)
				h->steps[s].page_free_fn(h->steps[s].prov.page_data);
			memset(&h->steps[s], 0, sizeof h->steps[s]);
		}
	}
	if (h->capture.owner == pl) {
		if (h->capture.free_fn)
			h->capture.free_fn(h->capture.prov.data);
		memset(&h->capture, 0, sizeof h->capture);
	}
	for (size_t i = 0; i < h->n_adapters;) {
		if (h->adapter_owner[i] != pl) {
			i++;
			continue;
		}
		if (h->adapter_free[i])
			h->adapter_free[i](h->adapters[i].data);
		memmove(&h->adapters[i], &h->adapters[i + 1], (h->n_adapters - i - 1) * sizeof h->adapters[0]);
		memmove(&h->adapter_owner[i], &h->adapter_owner[i + 1], (h->n_adapters - i - 1) * sizeof(struct plugin *));
		memmove(&h->adapter_free[i], &h->adapter_free[i + 1], (h->n_adapters - i - 1) * sizeof(motcua_free_fn));
		h->n_adapters--;
	}
	if (h->archive.owner == pl) {
		if (h->archive.free_fn)
			h->archive.free_fn(h->archive.prov.data);
		memset(&h->archive, 0, sizeof h->archive);
	}
	events_unsubscribe_all(h->gw->events, pl);
}

static void plugin_free(struct plugin *pl)
{
	if (!pl)
		return;
	free(pl->name);
	free(pl->version);
	free(pl->path);
	free(pl->error);
	free(pl->ctx);
	/* MOTCUA_DEBUG_NO_DLCLOSE=1 keeps plugins mapped until exit, so that a
	 * leak checker can name the library a leak comes from. */
	if (pl->dl && !getenv("MOTCUA_DEBUG_NO_DLCLOSE"))
		dlclose(pl->dl);
	free(pl);
}

static bool valid_plugin_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return false;
	return true;
}

/* Looks for <dir>/<name>.so, then <dir>/<name>/<name>.so (the build tree's
 * layout), in each folder of the colon-separated plugin_dir. */
static char *find_plugin_file(const char *plugin_dir, const char *name)
{
	char *dirs = strdup(plugin_dir), *save = NULL;
	if (!dirs)
		return NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s.so", d, name);
		if (access(path, R_OK) == 0)
			goto found;
		snprintf(path, sizeof path, "%s/%s/%s.so", d, name, name);
		if (access(path, R_OK) == 0)
			goto found;
		continue;
found:
		free(dirs);
		return strdup(path);
	}
	free(dirs);
	return NULL;
}

static void refuse(struct plugin *pl, const char *state, const char *fmt, ...) MOTCUA_PRINTF(3, 4);
static void refuse(struct plugin *pl, const char *state, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	free(pl->error);
	pl->error = strdup(msg);
	pl->state = state;
	gw_log(MOTCUA_LOG_ERROR, pl->name, "plugin refused: %s", msg);
	if (pl->dl) {
		dlclose(pl->dl);
		pl->dl = NULL;
	}
	pl->info = NULL;
}

/* Reads the plugin's info; false (and refused) if the plugin can't be used. */
static bool plugin_open(struct plugin *pl)
{
	dlerror();
	pl->dl = dlopen(pl->path, RTLD_NOW | RTLD_LOCAL);
	if (!pl->dl) {
		refuse(pl, "refused", "cannot load %s: %s", pl->path, dlerror());
		return false;
	}
	motcua_plugin_entry_fn entry;
	*(void **)&entry = dlsym(pl->dl, MOTCUA_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		refuse(pl, "refused", "%s has no entry symbol %s()", pl->path, MOTCUA_PLUGIN_ENTRY_SYMBOL);
		return false;
	}
	const struct motcua_plugin_info *info = entry(host_abis, sizeof host_abis / sizeof host_abis[0]);
	if (!info) {
		refuse(pl, "refused", "%s() returned no plugin info", MOTCUA_PLUGIN_ENTRY_SYMBOL);
		return false;
	}
	bool abi_ok = false;
	for (size_t i = 0; i < sizeof host_abis / sizeof host_abis[0]; i++)
		abi_ok |= info->abi == host_abis[i];
	if (!abi_ok) {
		refuse(pl, "refused", "plugin speaks ABI version %u, this gateway supports ABI version %u",
		       info->abi, MOTCUA_ABI_VERSION);
		return false;
	}
	/* An older plugin's info is shorter: what it lacks is absent (fini). */
	if (!MOTCUA_HAS_MEMBER(struct motcua_plugin_info, info, init) || !info->name || !info->version ||
	    !info->init) {
		refuse(pl, "refused", "plugin info is incomplete (struct_size %u, name, version and init needed)",
		       info->struct_size);
		return false;
	}
	memset(&pl->info_copy, 0, sizeof pl->info_copy);
	memcpy(&pl->info_copy, info,
	       info->struct_size < sizeof pl->info_copy ? info->struct_size : sizeof pl->info_copy);
	info = &pl->info_copy;
	if (strcmp(info->name, pl->name) != 0) {
		refuse(pl, "refused", "file %s calls itself '%s', not '%s'", pl->path, info->name, pl->name);
		return false;
	}
	pl->info = info;
	pl->version = strdup(info->version);
	pl->abi = info->abi;
	pl->provides = info->provides;
	return pl->version != NULL;
}

/* Every key of the section must be `enabled` or one the plugin declares. */
static int check_keys(struct plugin_host *h, struct plugin *pl, char *err, size_t errlen)
{
	struct config *c = h->gw->config;
	for (size_t i = 0; i < c->n; i++) {
		struct config_entry *e = &c->entries[i];
		if (strcmp(e->section, pl->name) || e->used)
			continue;
		bool known = false;
		for (const struct motcua_config_key *k = pl->info->config_keys; k && k->name; k++)
			known |= !strcmp(k->name, e->key);
		if (!known) {
			char w[512], accepted[512] = "";
			if (e->line > 0)
				snprintf(w, sizeof w, "%s:%d", e->file, e->line);
			else
				snprintf(w, sizeof w, "%s", e->file);
			for (const struct motcua_config_key *k = pl->info->config_keys; k && k->name; k++) {
				size_t l = strlen(accepted);
				snprintf(accepted + l, sizeof accepted - l, " %s", k->name);
			}
			snprintf(err, errlen, "%s: [%s] %s: unknown key (plugin %s accepts: enabled%s)", w,
				 e->section, e->key, pl->name, accepted);
			return -EINVAL;
		}
		e->used = true;
	}
	return 0;
}

int plugins_open(struct plugin_host *h, char *err, size_t errlen)
{
	struct gateway *gw = h->gw;
	const char *sections[256];
	size_t ns = config_sections(gw->config, sections, 256);
	for (size_t i = 0; i < ns; i++) {
		const char *name = sections[i];
		if (config_section_is_core(name))
			continue;
		struct config_entry *en = config_find(gw->config, name, "enabled");
		bool enabled = false;
		if (!en) {
			snprintf(err, errlen, "%s: [%s]: missing 'enabled = true|false'",
				 gw->config->path ? gw->config->path : "<command line>", name);
			return -EINVAL;
		}
		en->used = true;
		if (!config_parse_bool(en->value, &enabled)) {
			snprintf(err, errlen, "%s:%d: [%s] enabled = '%s': must be true or false", en->file,
				 en->line, name, en->value);
			return -EINVAL;
		}
		if (!valid_plugin_name(name)) {
			snprintf(err, errlen, "%s:%d: [%s]: unknown section (plugin names are a-z, 0-9, - and _)",
				 en->file, en->line, name);
			return -EINVAL;
		}
		if (h->n == MAX_PLUGINS) {
			snprintf(err, errlen, "more than %d plugin sections", MAX_PLUGINS);
			return -EINVAL;
		}
		struct plugin *pl = calloc(1, sizeof *pl);
		if (!pl || !(pl->name = strdup(name)) || !(pl->ctx = calloc(1, sizeof *pl->ctx))) {
			plugin_free(pl);
			return -ENOMEM;
		}
		pl->host = h;
		pl->ctx->pl = pl;
		pl->enabled = enabled;
		pl->state = enabled ? "loading" : "disabled";
		h->plugins[h->n++] = pl;
		pl->path = find_plugin_file(gw->settings.plugin_dir, name);
		if (!pl->path) {
			if (enabled) {
				snprintf(err, errlen,
					 "%s:%d: [%s]: unknown section: no plugin %s.so in plugin_dir %s",
					 en->file, en->line, name, name, gw->settings.plugin_dir);
				return -EINVAL;
			}
			gw_log(MOTCUA_LOG_WARNING, name, "disabled, and not installed in %s",
			       gw->settings.plugin_dir);
			pl->state = "missing";
		} else if (!plugin_open(pl)) {
			/* Refused (logged); its keys can't be checked. */
		}
		if (!pl->info) {
			for (size_t k = 0; k < gw->config->n; k++)
				if (!strcmp(gw->config->entries[k].section, name))
					gw->config->entries[k].used = true;
			continue;
		}
		if (check_keys(h, pl, err, errlen) < 0)
			return -EINVAL;
		if (!enabled) {
			dlclose(pl->dl);
			pl->dl = NULL;
			pl->info = NULL;
		}
	}
	return 0;
}

void plugins_init(struct plugin_host *h)
{
	for (size_t i = 0; i < h->n; i++) {
		struct plugin *pl = h->plugins[i];
		if (!pl->enabled || !pl->info)
			continue;
		int r = pl->info->init(pl->ctx, &h->table, &pl->state_ptr);
		if (r < 0) {
			unregister_all(pl);
			refuse(pl, "failed", "init failed: %s", strerror(-r));
			continue;
		}
		pl->state = "loaded";
		gw_log(MOTCUA_LOG_INFO, pl->name, "loaded %s version %s (ABI %u) from %s", pl->name,
		       pl->version, pl->abi, pl->path);
	}
}

void plugins_free(struct plugin_host *h)
{
	if (!h)
		return;
	for (size_t i = h->n; i-- > 0;) {
		struct plugin *pl = h->plugins[i];
		if (pl->info && pl->dl && !strcmp(pl->state, "loaded")) {
			if (pl->info->fini)
				pl->info->fini(pl->state_ptr);
			unregister_all(pl);
			gw_log(MOTCUA_LOG_INFO, pl->name, "unloaded");
		}
		plugin_free(pl);
	}
	free(h);
}

json_t *plugins_list(struct plugin_host *h)
{
	static const char *const provides[] = {"capture", "recognize", "sign", "archive", "adapter", "sink"};
	json_t *arr = json_array();
	for (size_t i = 0; i < h->n; i++) {
		struct plugin *pl = h->plugins[i];
		json_t *o = json_object(), *pv = json_array();
		json_object_set_new(o, "name", json_string(pl->name));
		json_object_set_new(o, "version", pl->version ? json_string(pl->version) : json_null());
		json_object_set_new(o, "abi", pl->version ? json_integer(pl->abi) : json_null());
		for (unsigned b = 0; b < sizeof provides / sizeof provides[0]; b++)
			if (pl->provides & (1u << b))
				json_array_append_new(pv, json_string(provides[b]));
		json_object_set_new(o, "provides", pv);
		json_object_set_new(o, "state", json_string(pl->state));
		if (pl->error)
			json_object_set_new(o, "error", json_string(pl->error));
		json_array_append_new(arr, o);
	}
	json_t *out = json_object();
	json_object_set_new(out, "plugins", arr);
	return out;
}

const struct step_provider *plugins_step(struct plugin_host *h, enum motcua_step step)
{
	if ((unsigned)step >= MOTCUA_STEP_COUNT_ || !h->steps[step].owner)
		return NULL;
	return &h->steps[step].prov;
}

static bool path_matches(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);
	if (n && pattern[n - 1] == '*')
		return !strncmp(pattern, path, n - 1);
	return !strcmp(pattern, path);
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	default: return "?";
	}
}

static const char *request_header(const struct motcua_request *r, const char *name)
{
	if (!r || !name || !r->host_private)
		return NULL;
	return evhttp_find_header(evhttp_request_get_input_headers(r->host_private), name);
}

bool plugins_route(struct plugin_host *h, struct evhttp_request *req, const char *plugin,
		   const char *rest, const struct token_info *tok)
{
	struct plugin *pl = NULL;
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->plugins[i]->name, plugin) && !strcmp(h->plugins[i]->state, "loaded"))
			pl = h->plugins[i];
	if (!pl)
		return false;
	const char *method = method_name(evhttp_request_get_command(req));
	struct route *match = NULL;
	bool path_seen = false;
	for (struct route *rt = pl->routes; rt; rt = rt->next) {
		if (!path_matches(rt->path, rest))
			continue;
		path_seen = true;
		if (!strcmp(rt->method, method)) {
			match = rt;
			break;
		}
	}
	if (!match) {
		if (!path_seen)
			return false;
		http_reply_error(req, 405, "method_not_allowed", "%s is not allowed here", method);
		return true;
	}
	if (!(match->roles & tok->role)) {
		http_reply_error(req, 403, "forbidden", "role %s may not do this", role_name(tok->role));
		return true;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct motcua_request r = {
		.struct_size = sizeof r,
		.method = method,
		.path = rest,
		.query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)),
		.body = len ? (const char *)evbuffer_pullup(in, -1) : NULL,
		.body_len = len,
		.token_name = tok->name,
		.role = tok->role,
		.header = request_header,
		.host_private = req,
	};
	struct motcua_response resp = {.status = 200, .body = evbuffer_new()};
	if (!resp.body) {
		http_reply_error(req, 503, "no_memory", "out of memory");
		return true;
	}
	snprintf(resp.content_type, sizeof resp.content_type, "application/json");
	int status = match->fn(match->data, &r, &resp);
	if (status < 100 || status > 599) {
		gw_log(MOTCUA_LOG_ERROR, pl->name, "route %s %s returned bad status %d", method, rest, status);
		evbuffer_free(resp.body);
		http_reply_error(req, 500, "plugin_error", "plugin %s failed", pl->name);
		return true;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", resp.content_type);
	evhttp_send_reply(req, status, NULL, resp.body);
	evbuffer_free(resp.body);
	return true;
}
