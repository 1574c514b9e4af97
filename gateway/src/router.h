/* SPDX-License-Identifier: MIT */
/*
 * The route table (the shape of Redis' command table): every HTTP route the
 * gateway serves is one row (method, path pattern, roles, handler), which
 * the modules add when they start and plugins through the host. The router
 * answers what is the same for every route once, from the table: unknown
 * routes (404), methods a path does not take (405, with Allow), the bearer
 * token (401) and the caller's role (403), and POSTs while stopping (503).
 *
 * Patterns are paths of literal segments, "{name}" segments (any one
 * segment, URL-decoded, handed over in call.params in order) and a last
 * "*" (one or more further segments). Segments are matched decoded; one
 * holding a '/' once decoded, or empty, matches nothing.
 */
#ifndef MOTCUA_ROUTER_H
#define MOTCUA_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/http.h>
#include <jansson.h>
#include <sqlite3.h>

#include "auth.h"
#include "motcua/plugin.h"

#define ROUTER_MAX_SEGMENTS 16
#define ROUTER_MAX_PARAMS 4
#define ROUTER_SEGMENT_MAX 256

struct route;

/* One request as a handler gets it. */
struct call {
	struct evhttp_request *req;
	const struct token_info *tok; /* the caller; NULL on a public route */
	const char *method;	      /* "GET", "POST", ... */
	const char *path;	      /* the raw path, as sent */
	char params[ROUTER_MAX_PARAMS][ROUTER_SEGMENT_MAX];
	void *data; /* the route's data */
	const struct route *route;
	/* where each segment of the raw path ends (offsets into path) */
	size_t seg_end[ROUTER_MAX_SEGMENTS];
	int n_segs;
};
typedef void (*route_fn)(struct call *c);

/* A row of a module's static table. roles 0: public (no token). */
struct route_def {
	const char *method;
	const char *path;
	unsigned roles;
	route_fn fn;
	const char *summary; /* one line, for GET /api/v1/routes */
};

/* A fallback row answers only where no other row of that method and path
 * exists (e.g. /api/v1/indicators without the plugin that serves it). */
#define ROUTE_FALLBACK 1u

struct router;
/* db: where tokens are checked; stopping: read at each POST. */
struct router *router_new(sqlite3 *db, const bool *stopping);
void router_free(struct router *r);
/* Paths under prefix ("/api/v1/") need a token before anything else is told
 * about them, unknown ones included (401 before 404). */
int router_protect(struct router *r, const char *prefix);
/* Adds a module's table; data goes to every handler and is the rows' owner
 * (router_remove_owner(r, data) takes them out again). Returns 0, -EINVAL (a
 * bad pattern), -EEXIST (a row that exists) or -ENOMEM. */
int router_add_table(struct router *r, const struct route_def *defs, size_t n, void *data,
		     const char *owner_name);
/* Adds one row with copies of method, path and summary. owner identifies it
 * for router_remove_owner(); free_fn(data) runs when the row goes, also when
 * this call fails. Returns 0, -EINVAL, -EEXIST or -ENOMEM. */
int router_add(struct router *r, const char *method, const char *path, unsigned roles, route_fn fn,
	       void *data, motcua_free_fn free_fn, const void *owner, const char *owner_name,
	       const char *summary, unsigned flags);
/* Removes every row that owner added. */
void router_remove_owner(struct router *r, const void *owner);
/* Answers the request (the evhttp callback). */
void router_dispatch(struct router *r, struct evhttp_request *req);
/* {"routes": [{"method", "path", "roles": [...], "owner", "summary"}]}. */
json_t *router_list(struct router *r);
/* Requests answered since start, for /metrics. */
unsigned long long router_requests(const struct router *r);
/* The raw rest of the path after its first n segments ("/" when none). */
const char *call_rest(const struct call *c, int n);

#endif
