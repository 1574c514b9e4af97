/* SPDX-License-Identifier: MIT */
/*
 * The queue as counters run it.
 *
 * A ticket is for a service (lĩnh vực, services.h) and may be a priority
 * ticket: the people the law serves first at public counters (the elderly,
 * 60 and over, Law on the Elderly 2009; persons with disabilities, Law on
 * Persons with Disabilities 2010; pregnant women; people with a small
 * child). States: waiting -> called (/next; /recall calls it again and
 * counts) -> serving (/start) -> done (/done, also straight from called);
 * called -> no_show; called or serving -> transferred.
 *
 * Who is called next (POST /api/v1/tickets/next), the stated rule:
 *  - priority tickets first, each group in the order people came;
 *  - but never more than [station] priority_run (K, default 3) priority calls
 *    in a row while an ordinary ticket waits: when the last K first calls of
 *    the day (at any counter) were all priority tickets, the oldest ordinary
 *    ticket the caller may take goes first; then priority again.
 * A transfer (/transfer {"service"}) ends the ticket (transferred) and makes
 * a new waiting one in the other service with the same number and priority
 * and the citizen's original place (first_id, the ticket they first took:
 * the queue's order is the order tickets were taken), so they go ahead of
 * everyone there who came later, behind those who came earlier. The waiting-time indicator keeps
 * the first call (the new ticket has no ticket.issued of its own).
 *
 * Routes: POST /api/v1/tickets, GET /api/v1/tickets, POST .../next,
 * POST .../{id}/recall|no-show|start|transfer|done (the waiting room's and
 * the counters' views are queue-view.c's).
 * Every change is one transaction with its ticket.* event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "db.h"
#include "events.h"
#include "gateway.h"
#include "http.h"
#include "queue.h"
#include "rating-session.h"
#include "router.h"
#include "services.h"
#include "util.h"

static const char *const priorities[] = {"elderly", "disabled", "pregnant", "child", NULL};

/* ---- a ticket's JSON ---- */

#define TICKET_COLUMNS                                                                             \
	"id, number, service, state, issued_at, called_at, done_at, counter, official, priority,"  \
	" recalls, started_at, transferred_to, transferred_from"

static json_t *service_name(const struct gateway *gw, const char *code)
{
	const struct service *s = services_find(gw->services, code);
	return s ? json_string(s->name) : json_null();
}

static json_t *ticket_row(const struct gateway *gw, sqlite3_stmt *st)
{
	json_t *t = json_object();
	json_object_set_new(t, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(t, "number", json_integer(sqlite3_column_int(st, 1)));
	json_object_set_new(t, "service", db_json_text(st, 2));
	json_object_set_new(t, "service_name", service_name(gw, db_text(st, 2)));
	json_object_set_new(t, "state", json_string(db_text(st, 3)));
	json_object_set_new(t, "issued_at", db_json_time(st, 4));
	json_object_set_new(t, "called_at", db_json_time(st, 5));
	json_object_set_new(t, "done_at", db_json_time(st, 6));
	json_object_set_new(t, "counter", db_json_text(st, 7));
	json_object_set_new(t, "official", db_json_text(st, 8));
	json_object_set_new(t, "priority", db_json_text(st, 9));
	json_object_set_new(t, "recalls", json_integer(sqlite3_column_int(st, 10)));
	json_object_set_new(t, "started_at", db_json_time(st, 11));
	json_object_set_new(t, "transferred_to", db_json_int(st, 12));
	json_object_set_new(t, "transferred_from", db_json_int(st, 13));
	return t;
}

json_t *ticket_get(const struct gateway *gw, int64_t id)
{
	sqlite3_stmt *st =
	    db_prepare(gw->db, "SELECT " TICKET_COLUMNS " FROM tickets WHERE id = ?1");
	json_t *t = NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			t = ticket_row(gw, st);
		sqlite3_finalize(st);
	}
	return t;
}

bool ticket_exists(sqlite3 *db, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM tickets WHERE id = ?1");
	bool found = false;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	return found;
}

int64_t ticket_ahead(sqlite3 *db, int64_t id)
{
	sqlite3_stmt *st = db_prepare(
	    db, "SELECT COUNT(*) FROM tickets o, tickets t WHERE t.id = ?1 AND o.day = t.day"
		" AND o.state = 'waiting' AND o.id != t.id"
		" AND (t.service IS NULL OR o.service IS t.service)"
		" AND CASE WHEN t.priority IS NOT NULL"
		"  THEN o.priority IS NOT NULL AND COALESCE(o.first_id, o.id) < "
		"COALESCE(t.first_id, t.id)"
		"  ELSE o.priority IS NOT NULL OR COALESCE(o.first_id, o.id) < "
		"COALESCE(t.first_id, t.id)"
		" END");
	int64_t n = 0;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	return n;
}

/* Publishes type with the ticket's JSON plus extra members (taken). */
static int ticket_event(struct gateway *gw, const char *type, json_t *t, json_t *extra)
{
	json_t *ev = json_deep_copy(t);
	const char *k;
	json_t *v;
	json_object_foreach(extra, k, v) json_object_set(ev, k, v);
	json_decref(extra);
	return events_publish(gw->events, type, ev);
}

static void today(char day[8])
{
	time_yymmdd_vn(time_now(), day);
}

/* The service a request names (code, or a name as tickets had before
 * services were configured); answers 400 and false if unknown. */
static bool service_field(struct gateway *gw, struct evhttp_request *req, json_t *j, bool required,
			  const char **code)
{
	const char *given = NULL;
	*code = NULL;
	if (!http_str_field(req, j, "service", "service", required, 100, &given))
		return false;
	if (!given)
		return true;
	const struct service *s = services_find(gw->services, given);
	if (!s) {
		char list[512] = "";
		for (size_t i = 0; i < services_count(gw->services); i++) {
			size_t len = strlen(list);
			snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
				 services_at(gw->services, i)->code);
		}
		http_reply_error(req, 400, "bad_request",
				 "no service '%.100s' (lĩnh vực không có): one of %s", given, list);
		return false;
	}
	*code = s->code;
	return true;
}

/* ---- issue ---- */

static void route_ticket_issue(struct call *c)
{
	static const char *const keys[] = {"service", "priority", NULL};
	struct gateway *gw = c->data;
	struct evhttp_request *req = c->req;
	json_t *j = http_json_body_or_empty(req);
	const char *service = NULL;
	if (!j)
		return;
	if (!http_only_keys(req, j, "", keys) || !service_field(gw, req, j, false, &service)) {
		json_decref(j);
		return;
	}
	json_t *pj = json_object_get(j, "priority");
	const char *priority = json_is_string(pj) ? json_string_value(pj) : NULL;
	bool ok = !pj || json_is_null(pj);
	for (int i = 0; priority && priorities[i]; i++)
		ok |= !strcmp(priority, priorities[i]);
	if (!ok) {
		http_reply_error(
		    req, 400, "bad_request",
		    "priority must be null or one of elderly (người cao tuổi), disabled "
		    "(người khuyết tật), pregnant (phụ nữ mang thai), child (người có "
		    "con nhỏ)");
		json_decref(j);
		return;
	}
	sqlite3 *db = gw->db;
	int64_t now = time_now();
	char day[8];
	today(day);
	json_t *t = NULL;
	if (db_begin(db) == 0) {
		sqlite3_stmt *st = db_prepare(
		    db, "INSERT INTO tickets(day, number, service, state, issued_at, issued_by,"
			" priority) VALUES(?1, (SELECT COALESCE(MAX(number), 0) + 1"
			" FROM tickets WHERE day = ?1), ?2, 'waiting', ?3, ?4, ?5) RETURNING id");
		int64_t id = 0;
		if (st) {
			sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, service, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 3, now);
			sqlite3_bind_text(st, 4, c->tok->name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 5, priority, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(st) == SQLITE_ROW)
				id = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
		t = id ? ticket_get(gw, id) : NULL;
		if (!t || ticket_event(gw, "ticket.issued", t, NULL) < 0 || db_commit(db) < 0) {
			db_rollback(db);
			json_decref(t);
			t = NULL;
		}
		if (t)
			json_object_set_new(t, "ahead", json_integer(ticket_ahead(db, id)));
	}
	json_decref(j);
	if (!t) {
		http_reply_error(req, 503, "unavailable", "the ticket could not be issued");
		return;
	}
	http_reply_json(req, 201, t);
}

/* ---- call the next ---- */

/* Are the last K first calls of the day all priority tickets? */
static bool priority_run_full(struct gateway *gw, const char *day)
{
	sqlite3_stmt *st =
	    db_prepare(gw->db, "SELECT COUNT(*), COUNT(priority) FROM (SELECT priority FROM tickets"
			       " WHERE day = ?1 AND call_no IS NOT NULL ORDER BY call_no DESC"
			       " LIMIT ?2)");
	bool full = false;
	unsigned k = gw->settings.priority_run ? gw->settings.priority_run : 3;
	if (st) {
		sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)k);
		if (sqlite3_step(st) == SQLITE_ROW)
			full = sqlite3_column_int(st, 0) == (int)k &&
			       sqlite3_column_int(st, 1) == (int)k;
		sqlite3_finalize(st);
	}
	return full;
}

/* The optional "services" of /next: the codes this counter takes. NULL
 * (all) or a JSON array text in *out (free it); false when answered. */
static bool services_filter(struct gateway *gw, struct evhttp_request *req, json_t *j, char **out)
{
	json_t *arr = json_object_get(j, "services");
	*out = NULL;
	if (!arr || json_is_null(arr))
		return true;
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 100) {
		http_reply_error(req, 400, "bad_request",
				 "services must be a list of service codes (GET /api/v1/services)");
		return false;
	}
	json_t *codes = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		const struct service *s =
		    json_is_string(v) ? services_find(gw->services, json_string_value(v)) : NULL;
		if (!s) {
			json_decref(codes);
			http_reply_error(req, 400, "bad_request",
					 "services[%zu]: not a service code (GET /api/v1/services)",
					 i);
			return false;
		}
		json_array_append_new(codes, json_string(s->code));
	}
	*out = json_dumps(codes, JSON_COMPACT);
	json_decref(codes);
	return *out != NULL;
}

static void route_ticket_next(struct call *c)
{
	static const char *const keys[] = {"counter", "services", NULL};
	struct gateway *gw = c->data;
	struct evhttp_request *req = c->req;
	const struct token_info *tok = c->tok;
	json_t *j = http_json_body_or_empty(req);
	const char *counter = NULL;
	char *filter = NULL;
	if (!j)
		return;
	if (!http_only_keys(req, j, "", keys) ||
	    !http_str_field(req, j, "counter", "counter (the desk's name or number)", false, 50,
			    &counter) ||
	    !services_filter(gw, req, j, &filter)) {
		json_decref(j);
		return;
	}
	if (!counter && tok->counter[0])
		counter = tok->counter; /* a signed-in official at a counter */
	if (!counter) {
		http_reply_error(req, 400, "bad_request",
				 "counter (the desk's name or number) is required (quầy nào?)");
		json_decref(j);
		return;
	}
	sqlite3 *db = gw->db;
	int64_t now = time_now();
	char day[8];
	today(day);
	json_t *t = NULL;
	int r = -EIO;
	if (db_begin(db) == 0) {
		bool ordinary_first = priority_run_full(gw, day);
		sqlite3_stmt *st = db_prepare(
		    db, "SELECT id, issued_at FROM tickets WHERE day = ?1 AND state = 'waiting'"
			" AND (?2 IS NULL OR service IS NULL OR service IN (SELECT value FROM"
			" json_each(?2))) ORDER BY CASE WHEN priority IS NULL THEN ?3 ELSE 1 - ?3"
			" END, COALESCE(first_id, id) LIMIT 1");
		int64_t id = 0, issued = 0;
		if (st) {
			sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, filter, -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 3, ordinary_first ? 0 : 1);
			if (sqlite3_step(st) == SQLITE_ROW) {
				id = sqlite3_column_int64(st, 0);
				issued = sqlite3_column_int64(st, 1);
			}
			sqlite3_finalize(st);
			r = id ? 0 : -ENOENT;
		}
		st = id ? db_prepare(db, "UPDATE tickets SET state = 'called', called_at = ?2,"
					 " last_called_at = ?2, counter = ?3, official = ?4,"
					 " call_no = (SELECT COALESCE(MAX(call_no), 0) + 1 FROM"
					 " tickets WHERE day = ?5), call_seq = (SELECT"
					 " COALESCE(MAX(call_seq), 0) + 1 FROM tickets WHERE day ="
					 " ?5) WHERE id = ?1 AND state = 'waiting'")
			: NULL;
		if (st) {
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_int64(st, 2, now);
			sqlite3_bind_text(st, 3, counter, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 4, tok->name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 5, day, -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) != 1)
				r = -EIO;
			sqlite3_finalize(st);
		} else if (id) {
			r = -EIO;
		}
		t = r == 0 ? ticket_get(gw, id) : NULL;
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
	free(filter);
	if (r == -ENOENT)
		http_reply_error(req, 404, "no_one_waiting",
				 "no ticket is waiting today (không có ai đang chờ)");
	else if (!t)
		http_reply_error(req, 503, "unavailable", "the next ticket could not be called");
	else
		http_reply_json(req, 200, t);
}

/* ---- a called ticket's moves ---- */

enum move { M_RECALL, M_NO_SHOW, M_START, M_DONE, M_TRANSFER };

static const struct move_def {
	const char *event;
	bool from_serving; /* from called always; also from serving? */
	const char *what;  /* "... can be <what>" */
	const char *sql;   /* ?1 id, ?2 now, ?3 official, ?4 today */
} moves[] = {
    [M_RECALL] = {"ticket.recalled", false, "recalled (gọi lại)",
		  "UPDATE tickets SET recalls = recalls + 1, last_called_at = ?2,"
		  " call_seq = (SELECT COALESCE(MAX(call_seq), 0) + 1 FROM tickets WHERE day = ?4)"
		  " WHERE id = ?1 AND state = 'called'"},
    [M_NO_SHOW] = {"ticket.no_show", false, "marked absent (vắng mặt)",
		   "UPDATE tickets SET state = 'no_show', done_at = ?2 WHERE id = ?1"
		   " AND state = 'called'"},
    [M_START] = {"ticket.started", false, "started (bắt đầu phục vụ)",
		 "UPDATE tickets SET state = 'serving', started_at = ?2, official = ?3"
		 " WHERE id = ?1 AND state = 'called'"},
    [M_DONE] = {"ticket.done", true, "done (hoàn thành)",
		"UPDATE tickets SET state = 'done', done_at = ?2 WHERE id = ?1"
		" AND state IN ('called', 'serving')"},
    [M_TRANSFER] = {"ticket.transferred", true, "transferred (chuyển lĩnh vực)",
		    "UPDATE tickets SET state = 'transferred', done_at = ?2 WHERE id = ?1"
		    " AND state IN ('called', 'serving')"},
};

/* The new waiting ticket of a transfer: same number, priority and place. */
static int64_t transfer_make(struct gateway *gw, int64_t from, const char *service, const char *by,
			     int64_t now, const char *day)
{
	sqlite3 *db = gw->db;
	sqlite3_stmt *st = db_prepare(
	    db, "INSERT INTO tickets(day, number, service, state, issued_at, issued_by, priority,"
		" first_id, transferred_from) SELECT ?5, number, ?2, 'waiting', ?3, ?4, priority,"
		" COALESCE(first_id, id), id FROM tickets WHERE id = ?1 RETURNING id");
	int64_t id = 0;
	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_text(st, 2, service, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_text(st, 4, by, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, day, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = id ? db_prepare(db, "UPDATE tickets SET transferred_to = ?2 WHERE id = ?1") : NULL;
	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		id = 0;
	sqlite3_finalize(st);
	return id;
}

/* A done ticket opens its counter's rating session, rating who served it. */
static int done_rating_session(struct gateway *gw, int64_t id, json_t *t)
{
	const char *counter = json_string_value(json_object_get(t, "counter"));
	if (!counter || !gw->rating_sessions)
		return 0;
	char unit[201] = "";
	sqlite3_stmt *st =
	    db_prepare(gw->db, "SELECT unit FROM dossiers WHERE ticket_id = ?1"
			       " AND unit IS NOT NULL ORDER BY received_at DESC LIMIT 1");
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(unit, sizeof unit, "%s", db_text(st, 0));
		sqlite3_finalize(st);
	}
	return rating_session_open(gw->rating_sessions, counter, id, NULL,
				   json_string_value(json_object_get(t, "official")), unit);
}

static void ticket_move(struct call *c, enum move m)
{
	struct gateway *gw = c->data;
	struct evhttp_request *req = c->req;
	const struct move_def *d = &moves[m];
	char *end;
	long long id = strtoll(c->params[0], &end, 10);
	if (*end || id <= 0) {
		http_reply_error(req, 404, "not_found", "no ticket %.40s", c->params[0]);
		return;
	}
	const char *service = NULL;
	json_t *j = NULL;
	if (m == M_TRANSFER) {
		static const char *const keys[] = {"service", NULL};
		if (!(j = http_json_body(req)))
			return;
		if (!http_only_keys(req, j, "", keys) ||
		    !service_field(gw, req, j, true, &service)) {
			json_decref(j);
			return;
		}
	}
	json_t *t = ticket_get(gw, id);
	if (!t) {
		http_reply_error(req, 404, "not_found", "no ticket %lld", id);
		json_decref(j);
		return;
	}
	const char *state = json_string_value(json_object_get(t, "state"));
	bool legal = !strcmp(state, "called") || (d->from_serving && !strcmp(state, "serving"));
	if (!legal) {
		http_reply_error(req, 409, "conflict",
				 "ticket %lld (số %lld) is %s: only a %s ticket can be %s", id,
				 (long long)json_integer_value(json_object_get(t, "number")), state,
				 d->from_serving ? "called or serving" : "called", d->what);
		json_decref(t);
		json_decref(j);
		return;
	}
	const char *old_service = json_string_value(json_object_get(t, "service"));
	if (m == M_TRANSFER && old_service && !strcmp(old_service, service)) {
		http_reply_error(req, 409, "conflict", "ticket %lld is already for service %s", id,
				 service);
		json_decref(t);
		json_decref(j);
		return;
	}
	int64_t now = time_now();
	int64_t since = 0; /* the service's start, for served_s */
	{
		sqlite3_stmt *st = db_prepare(
		    gw->db, "SELECT COALESCE(started_at, called_at) FROM tickets WHERE id = ?1");
		if (st) {
			sqlite3_bind_int64(st, 1, id);
			if (sqlite3_step(st) == SQLITE_ROW)
				since = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
	}
	json_decref(t);
	t = NULL;
	char day[8];
	today(day);
	sqlite3 *db = gw->db;
	json_t *reply = NULL;
	if (db_begin(db) == 0) {
		sqlite3_stmt *st = db_prepare(db, d->sql);
		bool ok = false;
		if (st) {
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_int64(st, 2, now);
			sqlite3_bind_text(st, 3, c->tok->name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 4, day, -1, SQLITE_STATIC);
			ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1;
			sqlite3_finalize(st);
		}
		int64_t to = ok && m == M_TRANSFER
				 ? transfer_make(gw, id, service, c->tok->name, now, day)
				 : 0;
		ok = ok && (m != M_TRANSFER || to);
		t = ok ? ticket_get(gw, id) : NULL;
		json_t *extra = NULL;
		if (t && m == M_DONE)
			extra = json_pack("{s:I}", "served_s", (json_int_t)(now - since));
		if (t && m == M_TRANSFER) {
			reply = ticket_get(gw, to);
			extra = reply ? json_pack("{s:O}", "to", reply) : NULL;
		}
		if (!t || (m == M_TRANSFER && !extra) || ticket_event(gw, d->event, t, extra) < 0 ||
		    (m == M_DONE && done_rating_session(gw, id, t) < 0) || db_commit(db) < 0) {
			db_rollback(db);
			json_decref(t);
			json_decref(reply);
			t = reply = NULL;
		}
	}
	json_decref(j);
	if (!t) {
		http_reply_error(req, 503, "unavailable", "the ticket could not be changed");
		return;
	}
	if (reply) {
		/* a transfer answers with the new ticket, waiting in its service */
		json_decref(t);
		json_object_set_new(reply, "ahead",
				    json_integer(ticket_ahead(
					db, json_integer_value(json_object_get(reply, "id")))));
		http_reply_json(req, 200, reply);
		return;
	}
	http_reply_json(req, 200, t);
}

static void route_ticket_recall(struct call *c)
{
	ticket_move(c, M_RECALL);
}

static void route_ticket_no_show(struct call *c)
{
	ticket_move(c, M_NO_SHOW);
}

static void route_ticket_start(struct call *c)
{
	ticket_move(c, M_START);
}

static void route_ticket_done(struct call *c)
{
	ticket_move(c, M_DONE);
}

static void route_ticket_transfer(struct call *c)
{
	ticket_move(c, M_TRANSFER);
}

/* ---- views ---- */

static void route_ticket_list(struct call *c)
{
	struct gateway *gw = c->data;
	char day[8];
	today(day);
	sqlite3_stmt *st = db_prepare(gw->db, "SELECT " TICKET_COLUMNS
					      " FROM tickets WHERE day = ?1 ORDER BY number, id");
	json_t *arr = json_array();
	int waiting = 0;
	if (st)
		sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		json_t *t = ticket_row(gw, st);
		waiting += !strcmp(json_string_value(json_object_get(t, "state")), "waiting");
		json_array_append_new(arr, t);
	}
	sqlite3_finalize(st);
	http_reply_json(c->req, 200, json_pack("{s:o, s:i}", "tickets", arr, "waiting", waiting));
}

static const struct route_def routes[] = {
    {"POST", "/api/v1/tickets", R_WRITE | MOTCUA_ROLE_KIOSK, route_ticket_issue,
     "issue a queue ticket for a service, numbered per day, maybe a priority one"},
    {"GET", "/api/v1/tickets", R_STAFF, route_ticket_list, "today's queue"},
    {"POST", "/api/v1/tickets/next", R_WRITE, route_ticket_next,
     "call the next waiting ticket (priority first, at most K in a row) to a counter"},
    {"POST", "/api/v1/tickets/{id}/recall", R_WRITE, route_ticket_recall,
     "call a called ticket again"},
    {"POST", "/api/v1/tickets/{id}/no-show", R_WRITE, route_ticket_no_show,
     "the called citizen did not come"},
    {"POST", "/api/v1/tickets/{id}/start", R_WRITE, route_ticket_start,
     "the called citizen is being served"},
    {"POST", "/api/v1/tickets/{id}/transfer", R_WRITE, route_ticket_transfer,
     "to another service, keeping the number and the citizen's place"},
    {"POST", "/api/v1/tickets/{id}/done", R_WRITE, route_ticket_done,
     "the called or served ticket is done; opens the counter's rating session"},
};

int queue_routes_add(struct gateway *gw)
{
	return router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], gw, NULL);
}
