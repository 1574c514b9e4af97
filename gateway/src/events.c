/* SPDX-License-Identifier: MIT */
/* The event bus. Every domain event is a row in the events table, written in
 * the same transaction as the state change it reports; delivery to subscribers
 * (plugins) and SSE clients happens afterwards, in id order, from the table.
 * So a rolled-back change never announces itself, and a dashboard that
 * reconnects with Last-Event-ID misses nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "db.h"
#include "events.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "router.h"
#include "util.h"

#define SSE_REPLAY_MAX 1000
#define SSE_OUTBUF_MAX (1u << 20)
#define SSE_KEEPALIVE_S 15

struct subscriber {
	const void *owner;
	char *prefix;
	event_fn fn;
	motcua_event_id_fn fn_id; /* instead of fn: with the event's id */
	void *data;
	motcua_free_fn free_fn;
	struct subscriber *next;
};

struct sse_client {
	struct events *ev;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	unsigned role; /* the caller's: what of the stream it may see */
	struct sse_client *next;
};

struct events {
	struct gateway *gw;
	struct event *flush;
	struct event *keepalive;
	int64_t delivered; /* highest id handed to subscribers */
	struct subscriber *subs;
	struct sse_client *clients;
	unsigned n_clients;
	sqlite3_stmt *insert;
	events_hook_fn hook;
	void *hook_data;
};

static void sse_start(struct call *call);

static int64_t last_id(sqlite3 *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT COALESCE(MAX(id), 0) FROM events");
	int64_t id = 0;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

static void sse_write(struct sse_client *c, int64_t id, const char *type, const char *json)
{
	struct evbuffer *buf = evbuffer_new();
	if (!buf)
		return;
	evbuffer_add_printf(buf, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)id, type, json);
	evhttp_send_reply_chunk(c->req, buf);
	evbuffer_free(buf);
}

static void sse_write_transient(struct sse_client *c, const char *type, const char *json)
{
	struct evbuffer *buf = evbuffer_new();
	if (!buf)
		return;
	/* no id: a client resuming with Last-Event-ID is not moved by it */
	evbuffer_add_printf(buf, "event: %s\ndata: %s\n\n", type, json);
	evhttp_send_reply_chunk(c->req, buf);
	evbuffer_free(buf);
}

/* What a stream shows to whom. A kiosk (ticket kiosk, display, rating
 * kiosk) sees only the queue and the rating sessions: no dossier, no
 * applicant. An official (clerk) sees a rating without its level, comment or
 * criteria: the official's screen never shows how they were rated.
 * Supervisors and admins (the dashboard) see everything. */
static bool sse_visible(unsigned role, const char *type)
{
	if (role == MOTCUA_ROLE_KIOSK)
		return !strncmp(type, "ticket.", 7) || !strncmp(type, "rating_session.", 15);
	return true;
}

static bool sse_masked(unsigned role, const char *type)
{
	return role == MOTCUA_ROLE_CLERK && !strncmp(type, "rating.", 7);
}

/* The event's text without what an official may not see; NULL when out of
 * memory or not JSON. */
static char *mask_rating(const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	static const char *const hidden[] = {"level", "level_name", "comment", "criteria"};
	for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
		json_object_del(j, hidden[i]);
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

/* Writes the event as c may see it; *masked caches the masked text for the
 * other officials' streams (free it after). */
static void sse_send(struct sse_client *c, int64_t id, const char *type, const char *json,
		     char **masked)
{
	if (!sse_visible(c->role, type))
		return;
	if (sse_masked(c->role, type)) {
		if (!*masked)
			*masked = mask_rating(json);
		if (*masked)
			sse_write(c, id, type, *masked);
		return;
	}
	sse_write(c, id, type, json);
}

static void sse_drop(struct sse_client *c, bool end_reply)
{
	struct events *ev = c->ev;
	for (struct sse_client **pp = &ev->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			ev->n_clients--;
			break;
		}
	}
	evhttp_connection_set_closecb(c->conn, NULL, NULL);
	if (end_reply)
		evhttp_send_reply_end(c->req);
	free(c);
}

static bool sse_congested(struct sse_client *c)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
	return bev && evbuffer_get_length(bufferevent_get_output(bev)) > SSE_OUTBUF_MAX;
}

static void deliver(struct events *ev, int64_t id, const char *type, const char *json)
{
	size_t len = strlen(json);
	for (struct subscriber *s = ev->subs; s; s = s->next)
		if (!strncmp(type, s->prefix, strlen(s->prefix))) {
			if (s->fn_id)
				s->fn_id(s->data, id, type, json, len);
			else
				s->fn(s->data, type, json, len);
		}
	char *masked = NULL;
	for (struct sse_client *c = ev->clients, *next; c; c = next) {
		next = c->next;
		if (sse_congested(c)) {
			gw_log(MOTCUA_LOG_WARNING, NULL, "events: dropping a stalled SSE client");
			sse_drop(c, true);
			continue;
		}
		sse_send(c, id, type, json, &masked);
	}
	free(masked);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct events *ev = arg;
	sqlite3_stmt *st = db_prepare(ev->gw->db, "SELECT id, type, payload FROM events "
						  "WHERE id > ? ORDER BY id LIMIT 500");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, ev->delivered);
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		ev->delivered = sqlite3_column_int64(st, 0);
		deliver(ev, ev->delivered, (const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2));
		n++;
	}
	sqlite3_finalize(st);
	if (n == 500)
		event_active(ev->flush, 0, 0);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct events *ev = arg;
	for (struct sse_client *c = ev->clients; c; c = c->next) {
		struct evbuffer *buf = evbuffer_new();
		if (!buf)
			return;
		evbuffer_add_printf(buf, ": keepalive\n\n");
		evhttp_send_reply_chunk(c->req, buf);
		evbuffer_free(buf);
	}
}

struct events *events_new(struct gateway *gw)
{
	struct events *ev = calloc(1, sizeof *ev);
	if (!ev)
		return NULL;
	ev->gw = gw;
	ev->delivered = last_id(gw->db);
	ev->flush = event_new(gw->base, -1, 0, on_flush, ev);
	ev->keepalive = event_new(gw->base, -1, EV_PERSIST, on_keepalive, ev);
	ev->insert = db_prepare(gw->db, "INSERT INTO events(at, type, payload) VALUES(?, ?, ?)");
	if (!ev->flush || !ev->keepalive || !ev->insert) {
		events_free(ev);
		return NULL;
	}
	static const struct route_def routes[] = {
	    {"GET", "/api/v1/events", R_STAFF | MOTCUA_ROLE_KIOSK, sse_start,
	     "Server-Sent Events of the domain events the caller may see (a kiosk: ticket.* and "
	     "rating_session.*); resumes from Last-Event-ID or ?since=ID"},
	};
	if (router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], ev, NULL) < 0) {
		events_free(ev);
		return NULL;
	}
	struct timeval tv = {SSE_KEEPALIVE_S, 0};
	event_add(ev->keepalive, &tv);
	return ev;
}

static void subscriber_free(struct subscriber *s)
{
	if (s->free_fn)
		s->free_fn(s->data);
	free(s->prefix);
	free(s);
}

void events_free(struct events *ev)
{
	if (!ev)
		return;
	while (ev->clients)
		sse_drop(ev->clients, true);
	while (ev->subs) {
		struct subscriber *s = ev->subs;
		ev->subs = s->next;
		subscriber_free(s);
	}
	if (ev->flush)
		event_free(ev->flush);
	if (ev->keepalive)
		event_free(ev->keepalive);
	sqlite3_finalize(ev->insert);
	free(ev);
}

void *events_set_publish_hook(struct events *ev, events_hook_fn fn, void *data)
{
	void *old = ev->hook_data;
	ev->hook = fn;
	ev->hook_data = data;
	return old;
}

static int publish_text(struct events *ev, const char *type, const char *json)
{
	sqlite3 *db = ev->gw->db;
	/* The event and what the hook writes (the outbox's rows) commit together. */
	bool own = sqlite3_get_autocommit(db);
	if (own && db_begin(db) < 0)
		return -EIO;
	sqlite3_reset(ev->insert);
	sqlite3_bind_int64(ev->insert, 1, time_now());
	sqlite3_bind_text(ev->insert, 2, type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(ev->insert, 3, json, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(ev->insert);
	sqlite3_reset(ev->insert);
	if (rc != SQLITE_DONE) {
		log_error("events: cannot store %s: %s", type, sqlite3_errmsg(db));
		if (own)
			db_rollback(db);
		return -EIO;
	}
	if ((ev->hook && ev->hook(ev->hook_data, sqlite3_last_insert_rowid(db), type, json) < 0) ||
	    (own && db_commit(db) < 0)) {
		if (own)
			db_rollback(db);
		return -EIO;
	}
	event_active(ev->flush, 0, 0);
	return 0;
}

/* An event's text: the payload with "type" and "at" (Vietnam time); takes
 * the payload's reference. NULL when out of memory. */
static char *event_text(const char *type, json_t *payload)
{
	char at[32];
	time_iso_vn(time_now(), at);
	json_object_set_new(payload, "type", json_string(type));
	json_object_set_new(payload, "at", json_string(at));
	char *text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	return text;
}

int events_publish(struct events *ev, const char *type, json_t *payload)
{
	char *text = event_text(type, payload);
	if (!text)
		return -ENOMEM;
	int r = publish_text(ev, type, text);
	free(text);
	return r;
}

int events_subscribe(struct events *ev, const void *owner, const char *prefix, event_fn fn,
		     void *data, motcua_free_fn free_fn)
{
	struct subscriber *s = calloc(1, sizeof *s);
	if (!s || !(s->prefix = strdup(prefix ? prefix : ""))) {
		free(s);
		if (free_fn)
			free_fn(data);
		return -ENOMEM;
	}
	s->owner = owner;
	s->fn = fn;
	s->data = data;
	s->free_fn = free_fn;
	/* Keep subscription order: append. */
	struct subscriber **pp = &ev->subs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = s;
	return 0;
}

int events_broadcast(struct events *ev, const char *type, json_t *payload)
{
	char *text = event_text(type, payload);
	if (!text)
		return -ENOMEM;
	for (struct sse_client *c = ev->clients, *next; c; c = next) {
		next = c->next;
		if (!sse_congested(c) && sse_visible(c->role, type) && !sse_masked(c->role, type))
			sse_write_transient(c, type, text);
	}
	free(text);
	return 0;
}

int events_subscribe_from(struct events *ev, const void *owner, const char *prefix,
			  int64_t since_id, motcua_event_id_fn fn, void *data,
			  motcua_free_fn free_fn)
{
	const char *pfx = prefix ? prefix : "";
	/* Catch up on what is stored, up to what live delivery has reached. */
	sqlite3_stmt *st =
	    db_prepare(ev->gw->db, "SELECT id, type, payload FROM events WHERE id > ?1 AND id <= ?2"
				   " AND substr(type, 1, length(?3)) = ?3 ORDER BY id");
	if (!st) {
		if (free_fn)
			free_fn(data);
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, since_id);
	sqlite3_bind_int64(st, 2, ev->delivered);
	sqlite3_bind_text(st, 3, pfx, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		fn(data, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
		   (const char *)sqlite3_column_text(st, 2), (size_t)sqlite3_column_bytes(st, 2));
	sqlite3_finalize(st);
	int r = events_subscribe(ev, owner, pfx, NULL, data, free_fn);
	if (r == 0) {
		struct subscriber *s = ev->subs;
		while (s->next)
			s = s->next;
		s->fn_id = fn;
	}
	return r;
}

void events_unsubscribe_all(struct events *ev, const void *owner)
{
	struct subscriber **pp = ev ? &ev->subs : NULL;
	while (pp && *pp) {
		struct subscriber *s = *pp;
		if (s->owner == owner) {
			*pp = s->next;
			subscriber_free(s);
		} else {
			pp = &s->next;
		}
	}
}

static void on_sse_close(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	struct sse_client *c = arg;
	/* The client went away. libevent has detached the unfinished request
	 * from the connection and leaves it to us: ending it frees it. When the
	 * whole server is being freed instead, the request is still attached and
	 * libevent frees it itself. */
	sse_drop(c, evhttp_request_get_connection(c->req) == NULL);
}

void events_close_streams(struct events *ev)
{
	while (ev && ev->clients)
		sse_drop(ev->clients, true);
}

static void sse_start(struct call *call)
{
	struct events *ev = call->data;
	struct evhttp_request *req = call->req;
	if (ev->n_clients >= ev->gw->settings.max_sse_clients) {
		http_reply_error(req, 503, "too_many_streams", "at most %u event streams at once",
				 ev->gw->settings.max_sse_clients);
		return;
	}
	/* Resume from Last-Event-ID (EventSource reconnect) or ?since=. */
	int64_t since = ev->delivered;
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
	struct evkeyvalq q;
	const char *since_q = NULL;
	if (evhttp_parse_query_str(evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req))
				       ? evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req))
				       : "",
				   &q) == 0)
		since_q = evhttp_find_header(&q, "since");
	const char *from = h ? h : since_q;
	if (from) {
		char *end;
		long long v = strtoll(from, &end, 10);
		if (!*from || *end || v < 0) {
			evhttp_clear_headers(&q);
			http_reply_error(req, 400, "bad_request",
					 "since / Last-Event-ID must be an event id");
			return;
		}
		since = v;
	}
	evhttp_clear_headers(&q);

	struct sse_client *c = calloc(1, sizeof *c);
	if (!c) {
		http_reply_error(req, 503, "no_memory", "cannot open an event stream");
		return;
	}
	c->ev = ev;
	c->req = req;
	c->conn = evhttp_request_get_connection(req);
	c->role = call->tok ? call->tok->role : 0;
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(out, "Cache-Control", "no-cache");
	evhttp_add_header(out, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(req, 200, "OK");
	struct evbuffer *hello = evbuffer_new();
	if (hello) {
		evbuffer_add_printf(hello, "retry: 2000\n: motcua events from %lld\n\n",
				    (long long)since);
		evhttp_send_reply_chunk(req, hello);
		evbuffer_free(hello);
	}
	/* Replay what the client missed, up to what subscribers have seen. */
	if (since < ev->delivered) {
		sqlite3_stmt *st = db_prepare(
		    ev->gw->db, "SELECT id, type, payload FROM events WHERE id > ? AND id <= ? "
				"ORDER BY id LIMIT ?");
		if (st) {
			sqlite3_bind_int64(st, 1, since);
			sqlite3_bind_int64(st, 2, ev->delivered);
			sqlite3_bind_int(st, 3, SSE_REPLAY_MAX);
			while (sqlite3_step(st) == SQLITE_ROW) {
				char *masked = NULL;
				sse_send(c, sqlite3_column_int64(st, 0),
					 (const char *)sqlite3_column_text(st, 1),
					 (const char *)sqlite3_column_text(st, 2), &masked);
				free(masked);
			}
			sqlite3_finalize(st);
		}
	}
	c->next = ev->clients;
	ev->clients = c;
	ev->n_clients++;
	evhttp_connection_set_closecb(c->conn, on_sse_close, c);
}
