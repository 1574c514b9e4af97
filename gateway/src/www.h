/* SPDX-License-Identifier: MIT */
/*
 * Files the gateway serves itself, built into the binary: the dashboard
 * (GET /dashboard) and the station's pages (station/src/pages.c). Each is a
 * row of a table that gateway/www/embed.py writes at build time from the
 * file; www_assets_add() makes every row a public GET route, answered with
 * the same headers: its content type, a Content-Security-Policy that allows
 * nothing from outside the gateway, nosniff, no referrer, and caching by
 * ETag (revalidated on every use: a new build is seen at once).
 */
#ifndef MOTCUA_WWW_H
#define MOTCUA_WWW_H

#include <stddef.h>

struct router;

struct www_asset {
	const char *path;	    /* where it is served: "/station/console" */
	const char *type;	    /* "text/html; charset=utf-8" */
	const unsigned char *bytes; /* the file (NUL-terminated as well) */
	size_t len;
	const char *etag;    /* quoted, from the bytes */
	const char *summary; /* for GET /api/v1/routes */
};

/* Adds a public GET route per row; the rows must outlive the router
 * (they are the static tables embed.py writes). owner_name as for
 * router_add_table. 0 or the router's error. */
int www_assets_add(struct router *r, const struct www_asset *assets, size_t n,
		   const char *owner_name);

/* The gateway's own pages (GET /dashboard). */
int www_routes_add(struct router *r);

#endif
