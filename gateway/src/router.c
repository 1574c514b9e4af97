/* SPDX-License-Identifier: MIT */
/* The route table and the one place requests are checked (see router.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "http.h"
#include "router.h"

struct route {
	char *method;
	char *path;
	char *segs[ROUTER_MAX_SEGMENTS];
	int n_segs;
	bool wildcard; /* the last pattern segment is "*" */
	unsigned roles;
	route_fn fn;
	void *data;
	motcua_free_fn free_fn;
	const void *owner;
	char *owner_name;
	char *summary;
	unsigned flags;
	struct route *next;
};

struct router {
	sqlite3 *db;
	const bool *stopping;
	struct route *routes; /* in the order added */
	struct route *protect;
	unsigned long long requests;
};

struct router *router_new(sqlite3 *db, const bool *stopping)
{
	struct router *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->db = db;
	r->stopping = stopping;
	return r;
}

static void route_free(struct route *rt)
{
	if (!rt)
		return;
	if (rt->free_fn)
		rt->free_fn(rt->data);
	for (int i = 0; i < rt->n_segs; i++)
		free(rt->segs[i]);
	free(rt->method);
	free(rt->path);
	free(rt->owner_name);
	free(rt->summary);
	free(rt);
}

static void free_list(struct route *rt)
{
	while (rt) {
		struct route *next = rt->next;
		route_free(rt);
		rt = next;
	}
}

void router_free(struct router *r)
{
	if (!r)
		return;
	free_list(r->routes);
	free_list(r->protect);
	free(r);
}

static bool valid_method(const char *m)
{
	return m && (!strcmp(m, "GET") || !strcmp(m, "POST") || !strcmp(m, "PUT") ||
		     !strcmp(m, "DELETE"));
}

/* Parses a pattern into rt; false when it is not one. */
static bool parse_pattern(struct route *rt, const char *path)
{
	if (!path || path[0] != '/' || strlen(path) > 1000)
		return false;
	const char *p = path + 1;
	while (*p) {
		size_t len = strcspn(p, "/");
		if (len == 0 || len >= ROUTER_SEGMENT_MAX || rt->n_segs == ROUTER_MAX_SEGMENTS ||
		    rt->wildcard)
			return false;
		char *s = strndup(p, len);
		if (!s)
			return false;
		rt->segs[rt->n_segs++] = s;
		if (!strcmp(s, "*"))
			rt->wildcard = true;
		else if (strchr(s, '*'))
			return false;
		p += len;
		if (*p == '/')
			p++;
	}
	return true;
}

static bool same_pattern(const struct route *a, const struct route *b)
{
	if (a->n_segs != b->n_segs)
		return false;
	for (int i = 0; i < a->n_segs; i++) {
		bool pa = a->segs[i][0] == '{', pb = b->segs[i][0] == '{';
		if (pa != pb || (!pa && strcmp(a->segs[i], b->segs[i])))
			return false;
	}
	return true;
}

static int add(struct router *r, struct route **list, const char *method, const char *path,
	       unsigned roles, route_fn fn, void *data, motcua_free_fn free_fn, const void *owner,
	       const char *owner_name, const char *summary, unsigned flags)
{
	struct route *rt = calloc(1, sizeof *rt);
	int e = -ENOMEM;
	if (!rt)
		goto fail;
	rt->free_fn = free_fn;
	rt->data = data;
	e = -EINVAL;
	if ((list == &r->routes && (!fn || !valid_method(method))) || !parse_pattern(rt, path))
		goto fail;
	e = -ENOMEM;
	if (!(rt->method = strdup(method ? method : "")) || !(rt->path = strdup(path)) ||
	    !(rt->owner_name = strdup(owner_name ? owner_name : "gateway")) ||
	    (summary && !(rt->summary = strdup(summary))))
		goto fail;
	rt->roles = roles;
	rt->fn = fn;
	rt->owner = owner;
	rt->flags = flags;
	struct route **pp = list;
	for (; *pp; pp = &(*pp)->next) {
		struct route *o = *pp;
		if ((o->flags & ROUTE_FALLBACK) == (flags & ROUTE_FALLBACK) &&
		    !strcmp(o->method, rt->method) && same_pattern(o, rt)) {
			e = -EEXIST;
			goto fail;
		}
	}
	*pp = rt;
	return 0;
fail:
	route_free(rt);
	if (!rt && free_fn)
		free_fn(data);
	return e;
}

int router_add(struct router *r, const char *method, const char *path, unsigned roles, route_fn fn,
	       void *data, motcua_free_fn free_fn, const void *owner, const char *owner_name,
	       const char *summary, unsigned flags)
{
	return add(r, &r->routes, method, path, roles, fn, data, free_fn, owner, owner_name,
		   summary, flags);
}

int router_add_table(struct router *r, const struct route_def *defs, size_t n, void *data,
		     const char *owner_name)
{
	for (size_t i = 0; i < n; i++) {
		int e = add(r, &r->routes, defs[i].method, defs[i].path, defs[i].roles, defs[i].fn,
			    data, NULL, data, owner_name, defs[i].summary, 0);
		if (e < 0)
			return e;
	}
	return 0;
}

int router_protect(struct router *r, const char *prefix)
{
	return add(r, &r->protect, NULL, prefix, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0);
}

void router_remove_owner(struct router *r, const void *owner)
{
	for (struct route **pp = r ? &r->routes : NULL; pp && *pp;) {
		struct route *rt = *pp;
		if (owner && rt->owner == owner) {
			*pp = rt->next;
			route_free(rt);
		} else {
			pp = &rt->next;
		}
	}
}

/* Splits and decodes the path into segs; -1 when it cannot be a route. */
static int split_path(struct call *c, const char *path,
		      char segs[ROUTER_MAX_SEGMENTS][ROUTER_SEGMENT_MAX])
{
	int n = 0;
	const char *p = path;
	while (*p == '/')
		p++;
	while (*p) {
		if (n == ROUTER_MAX_SEGMENTS)
			return -1;
		size_t len = strcspn(p, "/");
		if (len >= ROUTER_SEGMENT_MAX)
			return -1;
		char raw[ROUTER_SEGMENT_MAX];
		memcpy(raw, p, len);
		raw[len] = 0;
		char *dec = evhttp_uridecode(raw, 0, NULL);
		if (!dec)
			return -1;
		snprintf(segs[n], ROUTER_SEGMENT_MAX, "%s", dec);
		free(dec);
		if (!segs[n][0] || strchr(segs[n], '/'))
			return -1;
		p += len;
		c->seg_end[n] = (size_t)(p - path);
		n++;
		while (*p == '/')
			p++;
	}
	return n;
}

/* Does rt match the path? Its {params} go to c when c is given. */
static bool matches(const struct route *rt, char segs[][ROUTER_SEGMENT_MAX], int n, struct call *c)
{
	int fixed = rt->wildcard ? rt->n_segs - 1 : rt->n_segs;
	if (rt->wildcard ? n <= fixed : n != fixed)
		return false;
	int np = 0;
	for (int i = 0; i < fixed; i++) {
		if (rt->segs[i][0] == '{') {
			if (c && np < ROUTER_MAX_PARAMS)
				snprintf(c->params[np], ROUTER_SEGMENT_MAX, "%s", segs[i]);
			np++;
		} else if (strcmp(rt->segs[i], segs[i])) {
			return false;
		}
	}
	return true;
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	default:
		return "?";
	}
}

static bool check_token(struct router *r, struct evhttp_request *req, struct token_info *tok)
{
	const char *h = http_header(req, "Authorization");
	if (!h) {
		http_set_header(req, "WWW-Authenticate", "Bearer realm=\"motcua\"");
		http_reply_error(req, 401, "unauthorized",
				 "Authorization: Bearer <token> is required");
		return false;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0 || token_check(r->db, h + 7, tok) < 0) {
		http_set_header(req, "WWW-Authenticate",
				"Bearer realm=\"motcua\", error=\"invalid_token\"");
		http_reply_error(req, 401, "unauthorized", "the token is unknown or revoked");
		return false;
	}
	return true;
}

void router_dispatch(struct router *r, struct evhttp_request *req)
{
	r->requests++;
	struct call c = {.req = req, .method = method_name(evhttp_request_get_command(req))};
	c.path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	char segs[ROUTER_MAX_SEGMENTS][ROUTER_SEGMENT_MAX];
	int n = c.path ? split_path(&c, c.path, segs) : -1;
	if (n < 0) {
		http_reply_error(req, 404, "not_found", "no such route");
		return;
	}
	c.n_segs = n;
	/* The row for this method (a fallback only where no other is), and
	 * what the path takes besides. */
	struct route *match = NULL, *fallback = NULL;
	bool path_seen = false, all_public = true;
	char allow[64] = "";
	for (struct route *rt = r->routes; rt; rt = rt->next) {
		if (!matches(rt, segs, n, NULL))
			continue;
		path_seen = true;
		all_public &= rt->roles == 0;
		if (!strcmp(rt->method, c.method)) {
			if (!(rt->flags & ROUTE_FALLBACK) && !match)
				match = rt;
			else if ((rt->flags & ROUTE_FALLBACK) && !fallback)
				fallback = rt;
		} else if (!strstr(allow, rt->method)) {
			size_t l = strlen(allow);
			snprintf(allow + l, sizeof allow - l, "%s%s", l ? ", " : "", rt->method);
		}
	}
	if (!match)
		match = fallback;
	bool protected = false;
	for (struct route *p = r->protect; p && !protected; p = p->next)
	protected = matches(p, segs, n, NULL);
	struct token_info tok = {0}; /* a machine token fills no official */
	if (match && match->roles == 0) {
		/* public: no token asked */
	} else if (!match && path_seen && all_public) {
		/* a public path with another method: nothing to hide */
	} else if (match || protected) {
		if (!check_token(r, req, &tok))
			return;
		c.tok = &tok;
	}
	if (!path_seen) {
		http_reply_error(req, 404, "not_found",
				 protected ? "no such route"
					   : "no such route (the API is under /api/v1/)");
		return;
	}
	if (!match) {
		http_set_header(req, "Allow", allow);
		http_reply_error(req, 405, "method_not_allowed", "%s is not allowed here: use %s",
				 c.method, allow);
		return;
	}
	if (match->roles && !(match->roles & tok.role)) {
		http_reply_error(req, 403, "forbidden", "role %s may not do this",
				 role_name(tok.role));
		return;
	}
	if (r->stopping && *r->stopping && !strcmp(c.method, "POST")) {
		http_reply_error(req, 503, "stopping", "the gateway is stopping");
		return;
	}
	matches(match, segs, n, &c);
	c.route = match;
	c.data = match->data;
	match->fn(&c);
}

const char *call_rest(const struct call *c, int n)
{
	if (n <= 0 || n > c->n_segs)
		return c->path;
	const char *rest = c->path + c->seg_end[n - 1];
	return *rest ? rest : "/";
}

json_t *router_list(struct router *r)
{
	json_t *arr = json_array();
	for (struct route *rt = r->routes; rt; rt = rt->next) {
		json_t *roles = json_array();
		for (unsigned b = 0; b < 32; b++)
			if (rt->roles & (1u << b))
				json_array_append_new(roles, json_string(role_name(1u << b)));
		json_t *o =
		    json_pack("{s:s, s:s, s:o, s:s, s:s?}", "method", rt->method, "path", rt->path,
			      "roles", roles, "owner", rt->owner_name, "summary", rt->summary);
		if (o && (rt->flags & ROUTE_FALLBACK))
			json_object_set_new(o, "fallback", json_true());
		json_array_append_new(arr, o);
	}
	return json_pack("{s:o}", "routes", arr);
}

unsigned long long router_requests(const struct router *r)
{
	return r->requests;
}
