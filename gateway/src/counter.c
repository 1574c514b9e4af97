/* SPDX-License-Identifier: MIT */
/*
 * The counter's moments, the data the evaluation counts:
 *  - queue tickets: POST /api/v1/tickets, /tickets/next, /tickets/{id}/done,
 *    GET /api/v1/tickets (today's queue);
 *  - citizen ratings: POST /api/v1/ratings, from a kiosk token that can do
 *    nothing else;
 *  - status changes by staff: POST /api/v1/dossiers/{code}/status (a
 *    supplement request is status 5).
 * Every moment is an event (ticket.*, rating.added, dossier.status).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "counter.h"
#include "db.h"
#include "events.h"
#include "gateway.h"
#include "http.h"
#include "records.h"
#include "router.h"
#include "util.h"

/* ---- tickets ---- */

static json_t *ticket_row(sqlite3_stmt *st)
{
	json_t *t = json_object();
	char buf[32];
	json_object_set_new(t, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(t, "number", json_integer(sqlite3_column_int(st, 1)));
	json_object_set_new(t, "service",
			    sqlite3_column_type(st, 2) == SQLITE_NULL
				? json_null()
				: json_string((const char *)sqlite3_column_text(st, 2)));
	json_object_set_new(t, "state", json_string((const char *)sqlite3_column_text(st, 3)));
	static const char *const times[] = {"issued_at", "called_at", "done_at"};
	for (int i = 0; i < 3; i++) {
		if (sqlite3_column_type(st, 4 + i) == SQLITE_NULL) {
			json_object_set_new(t, times[i], json_null());
		} else {
			time_iso_vn(sqlite3_column_int64(st, 4 + i), buf);
			json_object_set_new(t, times[i], json_string(buf));
		}
	}
	json_object_set_new(t, "counter",
			    sqlite3_column_type(st, 7) == SQLITE_NULL
				? json_null()
				: json_string((const char *)sqlite3_column_text(st, 7)));
	json_object_set_new(t, "official",
			    sqlite3_column_type(st, 8) == SQLITE_NULL
				? json_null()
				: json_string((const char *)sqlite3_column_text(st, 8)));
	return t;
}

#define TICKET_COLUMNS                                                                             \
	"id, number, service, state, issued_at, called_at, done_at, counter, official"

static json_t *ticket_get(sqlite3 *db, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " TICKET_COLUMNS " FROM tickets WHERE id = ?1");
	json_t *t = NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			t = ticket_row(st);
		sqlite3_finalize(st);
	}
	return t;
}

bool ticket_exists(sqlite3 *db, int64_t id)
{
	json_t *t = ticket_get(db, id);
	json_decref(t);
	return t != NULL;
}

/* Publishes type with the ticket's JSON plus extra members, and commits. */
static int ticket_event(struct gateway *gw, const char *type, json_t *t, json_t *extra)
{
	json_t *ev = json_deep_copy(t);
	const char *k;
	json_t *v;
	json_object_foreach(extra, k, v) json_object_set(ev, k, v);
	json_decref(extra);
	return events_publish(gw->events, type, ev);
}

static void h_ticket_issue(struct gateway *gw, struct evhttp_request *req,
			   const struct token_info *tok)
{
	static const char *const keys[] = {"service", NULL};
	json_t *j = http_json_body_or_empty(req);
	const char *service = NULL;
	if (!j)
		return;
	if (!http_only_keys(req, j, "", keys) ||
	    !http_str_field(req, j, "service", "service", false, 100, &service)) {
		json_decref(j);
		return;
	}
	sqlite3 *db = gw->db;
	int64_t now = time_now();
	char day[8];
	time_yymmdd_vn(now, day);
	json_t *t = NULL;
	if (db_begin(db) == 0) {
		sqlite3_stmt *st = db_prepare(
		    db, "INSERT INTO tickets(day, number, service, state, issued_at, issued_by)"
			" VALUES(?1, (SELECT COALESCE(MAX(number), 0) + 1 FROM tickets"
			" WHERE day = ?1), ?2, 'waiting', ?3, ?4) RETURNING id");
		int64_t id = 0;
		if (st) {
			sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, service, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 3, now);
			sqlite3_bind_text(st, 4, tok->name, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(st) == SQLITE_ROW)
				id = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
		t = id ? ticket_get(db, id) : NULL;
		if (!t || ticket_event(gw, "ticket.issued", t, NULL) < 0 || db_commit(db) < 0) {
			db_rollback(db);
			json_decref(t);
			t = NULL;
		}
	}
	json_decref(j);
	if (!t) {
		http_reply_error(req, 503, "unavailable", "the ticket could not be issued");
		return;
	}
	http_reply_json(req, 201, t);
}

static void h_ticket_next(struct gateway *gw, struct evhttp_request *req,
			  const struct token_info *tok)
{
	static const char *const keys[] = {"counter", NULL};
	json_t *j = http_json_body(req);
	const char *counter = NULL;
	if (!j)
		return;
	if (!http_only_keys(req, j, "", keys) ||
	    !http_str_field(req, j, "counter", "counter (the desk's name or number)", true, 50,
			    &counter)) {
		json_decref(j);
		return;
	}
	sqlite3 *db = gw->db;
	int64_t now = time_now();
	char day[8];
	time_yymmdd_vn(now, day);
	json_t *t = NULL;
	int r = -EIO;
	if (db_begin(db) == 0) {
		sqlite3_stmt *st = db_prepare(
		    db, "UPDATE tickets SET state = 'serving', called_at = ?2, counter = ?3,"
			" official = ?4 WHERE id = (SELECT id FROM tickets WHERE day = ?1"
			" AND state = 'waiting' ORDER BY number LIMIT 1) RETURNING id, issued_at");
		int64_t id = 0, issued = 0;
		if (st) {
			sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, now);
			sqlite3_bind_text(st, 3, counter, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 4, tok->name, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(st) == SQLITE_ROW) {
				id = sqlite3_column_int64(st, 0);
				issued = sqlite3_column_int64(st, 1);
			}
			sqlite3_finalize(st);
			r = id ? 0 : -ENOENT;
		}
		t = id ? ticket_get(db, id) : NULL;
		if (r == 0 &&
		    (!t ||
		     ticket_event(gw, "ticket.called", t,
				  json_pack("{s:I}", "waited_s", (json_int_t)(now - issued))) < 0 ||
		     db_commit(db) < 0))
			r = -EIO;
		if (r < 0) {
			db_rollback(db);
			json_decref(t);
			t = NULL;
		}
	}
	json_decref(j);
	if (r == -ENOENT)
		http_reply_error(req, 404, "no_one_waiting",
				 "no ticket is waiting today (không có ai đang chờ)");
	else if (!t)
		http_reply_error(req, 503, "unavailable", "the next ticket could not be called");
	else
		http_reply_json(req, 200, t);
}

static void h_ticket_done(struct gateway *gw, struct evhttp_request *req,
			  const struct token_info *tok, int64_t id)
{
	(void)tok;
	sqlite3 *db = gw->db;
	json_t *t = ticket_get(db, id);
	if (!t) {
		http_reply_error(req, 404, "not_found", "no ticket %lld", (long long)id);
		return;
	}
	const char *state = json_string_value(json_object_get(t, "state"));
	if (strcmp(state, "serving")) {
		http_reply_error(req, 409, "conflict",
				 "ticket %lld is %s: only a ticket being served can be done",
				 (long long)id, state);
		json_decref(t);
		return;
	}
	json_decref(t);
	t = NULL;
	int64_t now = time_now();
	if (db_begin(db) == 0) {
		sqlite3_stmt *st =
		    db_prepare(db, "UPDATE tickets SET state = 'done', done_at = ?2 WHERE id = ?1"
				   " AND state = 'serving' RETURNING called_at");
		int64_t called = -1;
		if (st) {
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_int64(st, 2, now);
			if (sqlite3_step(st) == SQLITE_ROW)
				called = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
		t = called >= 0 ? ticket_get(db, id) : NULL;
		if (!t ||
		    ticket_event(gw, "ticket.done", t,
				 json_pack("{s:I}", "served_s", (json_int_t)(now - called))) < 0 ||
		    db_commit(db) < 0) {
			db_rollback(db);
			json_decref(t);
			t = NULL;
		}
	}
	if (!t)
		http_reply_error(req, 503, "unavailable", "the ticket could not be closed");
	else
		http_reply_json(req, 200, t);
}

static void h_ticket_list(struct gateway *gw, struct evhttp_request *req)
{
	char day[8];
	time_yymmdd_vn(time_now(), day);
	sqlite3_stmt *st = db_prepare(gw->db, "SELECT " TICKET_COLUMNS
					      " FROM tickets WHERE day = ?1 ORDER BY number");
	json_t *arr = json_array();
	int waiting = 0;
	if (st)
		sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		json_t *t = ticket_row(st);
		waiting += !strcmp(json_string_value(json_object_get(t, "state")), "waiting");
		json_array_append_new(arr, t);
	}
	sqlite3_finalize(st);
	http_reply_json(req, 200, json_pack("{s:o, s:i}", "tickets", arr, "waiting", waiting));
}

static void route_ticket_issue(struct call *c)
{
	h_ticket_issue(c->data, c->req, c->tok);
}

static void route_ticket_list(struct call *c)
{
	h_ticket_list(c->data, c->req);
}

static void route_ticket_next(struct call *c)
{
	h_ticket_next(c->data, c->req, c->tok);
}

static void route_ticket_done(struct call *c)
{
	char *end;
	long long id = strtoll(c->params[0], &end, 10);
	if (*end || id <= 0)
		http_reply_error(c->req, 404, "not_found", "no ticket %.40s", c->params[0]);
	else
		h_ticket_done(c->data, c->req, c->tok, id);
}

/* ---- ratings ---- */

static const char *const level_names[] = {NULL, "Rất hài lòng", "Hài lòng", "Không hài lòng"};

/* A rating as the request gives it (borrowed from its JSON body). */
struct rating {
	const char *code;    /* the dossier rated, or NULL */
	int64_t ticket;	     /* or the ticket rated, or 0 */
	int level;	     /* 1-3 */
	const char *comment; /* or NULL */
	json_t *criteria;    /* an object, or NULL */
};

static bool parse_rating(struct evhttp_request *req, json_t *j, struct rating *out)
{
	static const char *const keys[] = {"dossier_code", "ticket",  "level",
					   "criteria",	   "comment", NULL};
	json_t *ticket = json_object_get(j, "ticket"), *level = json_object_get(j, "level");
	json_t *criteria = json_object_get(j, "criteria");
	memset(out, 0, sizeof *out);
	if (!http_only_keys(req, j, "", keys) ||
	    !http_str_field(req, j, "dossier_code", "dossier_code", false, 95, &out->code) ||
	    !http_str_field(req, j, "comment", "comment", false, 1000, &out->comment))
		return false;
	if (json_is_null(ticket))
		ticket = NULL;
	if ((out->code != NULL) == (ticket != NULL)) {
		http_reply_error(req, 400, "bad_request",
				 "give either dossier_code or ticket (the ticket's id), not both");
		return false;
	}
	if (ticket && (!json_is_integer(ticket) || json_integer_value(ticket) <= 0)) {
		http_reply_error(req, 400, "bad_request",
				 "ticket must be the ticket's id (a number)");
		return false;
	}
	if (!json_is_integer(level) || json_integer_value(level) < 1 ||
	    json_integer_value(level) > 3) {
		http_reply_error(req, 400, "bad_request",
				 "level must be 1 (Rất hài lòng / very satisfied), 2 (Hài lòng / "
				 "satisfied) or 3 "
				 "(Không hài lòng / not satisfied)");
		return false;
	}
	if (criteria && !json_is_null(criteria)) {
		char *dump = json_is_object(criteria) ? json_dumps(criteria, JSON_COMPACT) : NULL;
		size_t len = dump ? strlen(dump) : 0;
		free(dump);
		if (!json_is_object(criteria) || len > 2000) {
			http_reply_error(req, 400, "bad_request",
					 "criteria must be a JSON object of at most 2000 bytes");
			return false;
		}
		out->criteria = criteria;
	}
	out->ticket = ticket ? json_integer_value(ticket) : 0;
	out->level = (int)json_integer_value(level);
	return true;
}

/* Who is rated: the clerk who served the ticket or received the dossier
 * (and the dossier's unit). false when there is no such dossier or ticket. */
static bool rated_official(sqlite3 *db, const struct rating *in, char official[128], char unit[201])
{
	sqlite3_stmt *st =
	    in->code ? db_prepare(db, "SELECT created_by, unit FROM dossiers WHERE code = ?1")
		     : db_prepare(db, "SELECT official, NULL FROM tickets WHERE id = ?1");
	bool found = false;
	official[0] = unit[0] = 0;
	if (!st)
		return false;
	if (in->code)
		sqlite3_bind_text(st, 1, in->code, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(st, 1, in->ticket);
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = true;
		snprintf(official, 128, "%s", db_text(st, 0) ? db_text(st, 0) : "");
		snprintf(unit, 201, "%s", db_text(st, 1) ? db_text(st, 1) : "");
	}
	sqlite3_finalize(st);
	return found;
}

/* Stores the rating with its event rating.added; *answer is the event.
 * 0, -EEXIST (rated already), -EIO. */
static int store_rating(struct gateway *gw, const struct rating *in, const char *by,
			const char *official, const char *unit, json_t **answer)
{
	sqlite3 *db = gw->db;
	if (db_begin(db) < 0)
		return -EIO;
	char *crit = in->criteria ? json_dumps(in->criteria, JSON_COMPACT) : NULL;
	sqlite3_stmt *st = db_prepare(
	    db, "INSERT INTO ratings(dossier_code, ticket_id, level, criteria, comment,"
		" created_at, created_by) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id");
	int64_t id = 0;
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_text(st, 1, in->code, -1, SQLITE_TRANSIENT);
		if (in->ticket)
			sqlite3_bind_int64(st, 2, in->ticket);
		sqlite3_bind_int(st, 3, in->level);
		sqlite3_bind_text(st, 4, crit, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, in->comment, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 6, time_now());
		sqlite3_bind_text(st, 7, by, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	free(crit);
	if (rc == SQLITE_CONSTRAINT) {
		db_rollback(db);
		return -EEXIST;
	}
	json_t *ev =
	    id ? json_pack("{s:I, s:s?, s:o, s:i, s:s, s:s?, s:s?, s:s?}", "id", (json_int_t)id,
			   "dossier_code", in->code, "ticket_id",
			   in->ticket ? json_integer(in->ticket) : json_null(), "level", in->level,
			   "level_name", level_names[in->level], "comment", in->comment, "official",
			   official[0] ? official : NULL, "unit", unit[0] ? unit : NULL)
	       : NULL;
	if (ev && in->criteria)
		json_object_set(ev, "criteria", in->criteria);
	*answer = ev ? json_deep_copy(ev) : NULL;
	if (!ev || events_publish(gw->events, "rating.added", ev) < 0 || db_commit(db) < 0) {
		db_rollback(db);
		json_decref(*answer);
		*answer = NULL;
		return -EIO;
	}
	return 0;
}

static void route_rating(struct call *call)
{
	struct gateway *gw = call->data;
	struct evhttp_request *req = call->req;
	json_t *j = http_json_body(req), *answer = NULL;
	struct rating in;
	char official[128], unit[201];
	if (!j)
		return;
	if (!parse_rating(req, j, &in))
		goto out;
	if (!rated_official(gw->db, &in, official, unit)) {
		if (in.code)
			http_reply_error(req, 404, "not_found", "no dossier %s", in.code);
		else
			http_reply_error(req, 404, "not_found", "no ticket %lld",
					 (long long)in.ticket);
		goto out;
	}
	int r = store_rating(gw, &in, call->tok->name, official, unit, &answer);
	if (r == -EEXIST)
		http_reply_error(req, 409, "already_rated",
				 "this %s was rated already: one rating per visit (đã đánh giá)",
				 in.code ? "dossier" : "ticket");
	else if (r < 0)
		http_reply_error(req, 503, "unavailable", "the rating could not be stored");
	else
		http_reply_json(req, 201, answer);
out:
	json_decref(j);
}

/* ---- status changes by staff ---- */

static void route_dossier_status(struct call *call)
{
	static const char *const keys[] = {"status", "note", "missing", NULL};
	struct gateway *gw = call->data;
	struct evhttp_request *req = call->req;
	const struct token_info *tok = call->tok;
	const char *code = call->params[0];
	json_t *j = http_json_body(req);
	if (!j)
		return;
	const char *note = NULL;
	json_t *status = json_object_get(j, "status");
	if (!http_only_keys(req, j, "", keys) ||
	    !http_str_field(req, j, "note", "note", false, 1000, &note)) {
		json_decref(j);
		return;
	}
	if (!json_is_integer(status) || json_integer_value(status) < 1 ||
	    json_integer_value(status) > 10) {
		http_reply_error(
		    req, 400, "bad_request",
		    "status must be a national status code from 1 to 10 "
		    "(4 in process, 5 supplement requested, 9 processed, 10 result returned, ...)");
		json_decref(j);
		return;
	}
	/* a supplement request (5) names the papers "missing" */
	int r;
	char msg[600];
	json_t *details =
	    dossier_status_details(gw->records, code, (int)json_integer_value(status), note,
				   json_object_get(j, "missing"), &r, msg, sizeof msg);
	if (details)
		r = dossier_set_status(gw->records, code, (int)json_integer_value(status),
				       tok->name, details);
	json_decref(j);
	if (r == -EINVAL)
		http_reply_error(req, 400, "bad_request", "%s", msg);
	else if (r == -ENOENT)
		http_reply_error(req, 404, "not_found", "no dossier %s", code);
	else if (r < 0)
		http_reply_error(req, 503, "unavailable", "the status could not be recorded");
	else
		http_reply_json(req, 200, dossier_get(gw->records, code));
}

static const struct route_def routes[] = {
    {"POST", "/api/v1/tickets", R_WRITE, route_ticket_issue,
     "issue a queue ticket, numbered per day"},
    {"GET", "/api/v1/tickets", R_STAFF, route_ticket_list, "today's queue"},
    {"POST", "/api/v1/tickets/next", R_WRITE, route_ticket_next,
     "call the oldest waiting ticket of today to the caller's counter"},
    {"POST", "/api/v1/tickets/{id}/done", R_WRITE, route_ticket_done,
     "the ticket being served is done"},
    {"POST", "/api/v1/ratings", MOTCUA_ROLE_KIOSK | R_WRITE, route_rating,
     "a citizen's rating (1-3) of a dossier or a ticket, once"},
    {"POST", "/api/v1/dossiers/{code}/status", R_WRITE | MOTCUA_ROLE_AGENCY, route_dossier_status,
     "a new national status code (1-10) for a dossier"},
};

int counter_routes_add(struct gateway *gw)
{
	return router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], gw, NULL);
}
