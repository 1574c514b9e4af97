/* SPDX-License-Identifier: MIT */
/* A plugin that needs host->secret_read(): it refuses an older host that
 * lacks it (MOTCUA_HAS_MEMBER), reads `token_file` under the host's policy,
 * and hands the host data with free functions in every way it can (a route,
 * a timer, a subscription from an id, work), for the test host's self-test. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <motcua/plugin.h>

struct state {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	size_t token_len;
	int64_t last_id;
	unsigned ticks;
};

static int route_token(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	struct state *s = data;
	char body[128];
	const char *h = MOTCUA_HAS_MEMBER(struct motcua_request, req, header) && req->header
			    ? req->header(req, "X-Test")
			    : NULL;
	int n = snprintf(body, sizeof body,
			 "{\"length\": %u, \"last_id\": %d, \"ticks\": %u, \"x_test\": \"%s\"}",
			 (unsigned)s->token_len, (int)s->last_id, s->ticks, h ? h : "");
	s->host->response_set(resp, "application/json", body, (size_t)n);
	return 200;
}

static void on_event(void *data, int64_t id, const char *type, const char *json, size_t len)
{
	struct state *s = data;
	(void)type, (void)json, (void)len;
	s->last_id = id;
}

static void on_tick(void *data)
{
	struct state *s = data;
	s->ticks++;
}

static void work(void *data)
{
	*(int *)data = 42;
}

static void work_done(void *data, int cancelled)
{
	int *v = data;
	(void)cancelled;
	free(v);
}

static void nothing(void *data)
{
	(void)data;
}

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	if (!MOTCUA_HAS_MEMBER(struct motcua_host, host, secret_read) || !host->secret_read) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "this gateway is too old: it has no secret_read (host table of %u bytes)",
			  (unsigned)host->struct_size);
		return -ENOTSUP;
	}
	const char *path = host->config_get(ctx, NULL, "token_file");
	char token[256], why[512];
	size_t len = 0;
	int r = host->secret_read(ctx, "token_file", path, MOTCUA_SECRET_LINE, token, sizeof token,
				  &len, why, sizeof why);
	if (r < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "%s", why);
		return r;
	}
	memset(token, 0, sizeof token);
	struct state *s = calloc(1, sizeof *s);
	int *w = malloc(sizeof *w);
	if (!s || !w) {
		free(s);
		free(w);
		return -ENOMEM;
	}
	s->ctx = ctx;
	s->host = host;
	s->token_len = len;
	/* the host owns what it is handed from the call on */
	if ((r = host->route_add(ctx, "GET", "/token", MOTCUA_ROLE_ADMIN, route_token, s, NULL)) <
		0 ||
	    (r = host->event_subscribe_from(ctx, "test.", 0, on_event, s, NULL)) < 0 ||
	    (r = host->route_add(ctx, "GET", "/owned", MOTCUA_ROLE_ADMIN, route_token, malloc(8),
				 free)) < 0 ||
	    (r = host->event_subscribe(ctx, "", NULL, malloc(8), free)) != -EINVAL ||
	    !host->timer_add(ctx, 20, 1, on_tick, s, NULL) ||
	    !host->timer_add(ctx, 1000, 0, nothing, malloc(8), free) ||
	    (r = host->work_submit(ctx, work, work_done, w)) < 0) {
		free(s);
		free(w);
		return r < 0 && r != -EINVAL ? r : -EPROTO;
	}
	host->log(ctx, MOTCUA_LOG_INFO, "token of %zu bytes", len);
	*state = s;
	return 0;
}

static void fini(void *state)
{
	free(state);
}

static const struct motcua_config_key keys[] = {
    {"token_file", "a file holding the token (chmod 600)"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = "test-secret",
    .version = "1",
    .provides = MOTCUA_PROVIDES_SINK,
    .config_keys = keys,
    .init = init,
    .fini = fini,
};

MOTCUA_PLUGIN_DECLARE(info)
