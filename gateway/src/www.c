/* SPDX-License-Identifier: MIT */
/* Files the gateway serves itself, from the tables gateway/www/embed.py
 * writes at build time (www.h). The pages hold no data: they ask the API
 * with a token (from their address's fragment, /dashboard#token=..., or a
 * session an official signs in to) and follow GET /api/v1/events. */
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http.h"
#include "router.h"
#include "www.h"

/* The gateway's own pages: generated from www/dashboard.html (meson.build). */
extern const struct www_asset motcua_www_assets[];
extern const size_t motcua_www_assets_n;

/* Nothing from outside the gateway: scripts, styles, images, sounds and
 * connections from the gateway itself (thumbnails, receipts and sounds are
 * fetched with the token and shown as blob: URLs). Inline scripts and styles
 * are allowed for the dashboard, a page in one file. */
#define WWW_CSP                                                                                    \
	"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "                 \
	"'unsafe-inline'; "                                                                        \
	"img-src 'self' data: blob:; media-src 'self' blob:; frame-src 'self' blob:; "             \
	"object-src 'none'; connect-src 'self'; base-uri 'none'; form-action 'self'; "             \
	"frame-ancestors 'self'"

/* Whether If-None-Match names etag (a list, or "*"). */
static int etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);
	if (!inm)
		return 0;
	for (const char *p = inm; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (!strncmp(p, etag, n) && (p[n] == 0 || p[n] == ',' || p[n] == ' '))
			return 1;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

static void route_asset(struct call *c)
{
	const struct www_asset *a = c->data;
	struct evhttp_request *req = c->req;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "ETag", a->etag);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Content-Security-Policy", WWW_CSP);
	if (etag_matches(http_header(req, "If-None-Match"), a->etag)) {
		evhttp_send_reply(req, 304, "Not Modified", NULL);
		return;
	}
	struct evbuffer *buf = evbuffer_new();
	if (!buf) {
		evhttp_send_error(req, 503, "out of memory");
		return;
	}
	evbuffer_add_reference(buf, a->bytes, a->len, NULL, NULL);
	evhttp_add_header(h, "Content-Type", a->type);
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

int www_assets_add(struct router *r, const struct www_asset *assets, size_t n,
		   const char *owner_name)
{
	for (size_t i = 0; i < n; i++) {
		int e = router_add(r, "GET", assets[i].path, 0, route_asset, (void *)&assets[i],
				   NULL, assets, owner_name, assets[i].summary, 0);
		if (e < 0)
			return e;
	}
	return 0;
}

int www_routes_add(struct router *r)
{
	return www_assets_add(r, motcua_www_assets, motcua_www_assets_n, NULL);
}
