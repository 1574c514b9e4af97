/* SPDX-License-Identifier: MIT */
/* Pages the gateway serves itself: GET /dashboard (gateway/www/dashboard.html,
 * built into the binary). The page holds no data: it asks the API with the
 * token given in its address's fragment (/dashboard#token=...) and follows
 * GET /api/v1/events for live updates. */
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "router.h"
#include "www.h"

/* The file itself, NUL-terminated: generated from www/dashboard.html by
 * www/embed.py at build time (see meson.build). */
extern const char motcua_dashboard_html[];

static void route_dashboard(struct call *c)
{
	struct evhttp_request *req = c->req;
	struct evbuffer *buf = evbuffer_new();
	if (!buf) {
		evhttp_send_error(req, 503, "out of memory");
		return;
	}
	evbuffer_add_reference(buf, motcua_dashboard_html, strlen(motcua_dashboard_html), NULL,
			       NULL);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(
	    h, "Content-Security-Policy",
	    "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

int www_routes_add(struct router *r)
{
	static const struct route_def routes[] = {
	    {"GET", "/dashboard", 0, route_dashboard,
	     "the live dashboard page (its data needs a token: /dashboard#token=...)"},
	};
	return router_add_table(r, routes, sizeof routes / sizeof routes[0], NULL, NULL);
}
