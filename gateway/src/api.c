/* SPDX-License-Identifier: MIT */
/* HTTP API v1 on libevent's evhttp: every request goes through the route
 * table (router.c), which the modules fill; this file binds the server and
 * serves what is the gateway's own: health, metrics and the route list. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "api.h"
#include "gateway.h"
#include "http.h"
#include "outbox.h"
#include "pipeline.h"
#include "records.h"
#include "router.h"
#include "workers.h"

struct api {
	struct gateway *gw;
	struct evhttp *http;
};

static void route_health(struct call *c)
{
	http_reply_json(c->req, 200,
			json_pack("{s:s, s:s}", "status", "ok", "version", MOTCUA_VERSION_STRING));
}

static void route_routes(struct call *c)
{
	struct api *a = c->data;
	http_reply_json(c->req, 200, router_list(a->gw->router));
}

static void route_metrics(struct call *c)
{
	struct api *a = c->data;
	struct gateway *gw = a->gw;
	struct evbuffer *buf = evbuffer_new();
	if (!buf) {
		http_reply_error(c->req, 503, "no_memory", "out of memory");
		return;
	}
	records_metrics(gw->records, buf);
	pipeline_metrics(gw->pipeline, buf);
	evbuffer_add_printf(
	    buf,
	    "# HELP motcua_workers_busy Work running or queued on the worker pool.\n"
	    "# TYPE motcua_workers_busy gauge\nmotcua_workers_busy %u\n"
	    "# HELP motcua_http_requests_total HTTP requests served.\n"
	    "# TYPE motcua_http_requests_total counter\nmotcua_http_requests_total %llu\n",
	    workers_busy(gw->workers), router_requests(gw->router));
	outbox_metrics(gw->outbox, buf);
	http_set_header(c->req, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(c->req, 200, "OK", buf);
	evbuffer_free(buf);
}

static const struct route_def routes[] = {
    {"GET", "/api/v1/health", 0, route_health, "{\"status\":\"ok\",\"version\":...}"},
    {"GET", "/api/v1/routes", MOTCUA_ROLE_ADMIN, route_routes,
     "this table: every route, its roles and owner"},
    {"GET", "/metrics", R_WATCH, route_metrics, "Prometheus text"},
};

static void on_request(struct evhttp_request *req, void *arg)
{
	struct api *a = arg;
	router_dispatch(a->gw->router, req);
}

struct api *api_new(struct gateway *gw, char *err, size_t errlen)
{
	struct api *a = calloc(1, sizeof *a);
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->gw = gw;
	a->http = evhttp_new(gw->base);
	if (!a->http ||
	    router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], a, NULL) < 0) {
		snprintf(err, errlen, "cannot create the HTTP server");
		api_free(a);
		return NULL;
	}
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(a->http, 16 * 1024);
	evhttp_set_max_body_size(a->http, (ev_ssize_t)gw->settings.max_upload_bytes);
	/* Read (and drop) an oversized body before answering 413, so that the
	 * client sees the answer instead of a reset connection. */
	evhttp_set_flags(a->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_timeout(a->http, 120);
	evhttp_set_gencb(a->http, on_request, a);
	if (!evhttp_bind_socket_with_handle(a->http, gw->settings.listen_host,
					    (ev_uint16_t)gw->settings.listen_port)) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", gw->settings.listen_host,
			 gw->settings.listen_port, strerror(errno));
		api_free(a);
		return NULL;
	}
	return a;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	if (a->http)
		evhttp_free(a->http);
	router_remove_owner(a->gw->router, a);
	free(a);
}
