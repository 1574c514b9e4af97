/* SPDX-License-Identifier: MIT */
/* Rating sessions of the counters' rating kiosks (rating-session.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>

#include "db.h"
#include "events.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "rating-session.h"
#include "router.h"
#include "util.h"

struct rating_sessions {
	struct gateway *gw;
	struct event *timer; /* the next window's end */
};

static const char *const level_names[] = {NULL, "Rất hài lòng", "Hài lòng", "Không hài lòng"};

static json_t *iso(int64_t t)
{
	char buf[32];
	time_iso_vn(t, buf);
	return json_string(buf);
}

static int publish_session(struct rating_sessions *rs, const char *type, const char *counter,
			   int64_t expires_at, const char *reason)
{
	json_t *ev = json_pack("{s:s, s:o}", "counter", counter, "expires_at", iso(expires_at));
	if (ev && reason)
		json_object_set_new(ev, "reason", json_string(reason));
	return ev ? events_publish(rs->gw->events, type, ev) : -ENOMEM;
}

/* Closes the open sessions that match (counter, or those expired by now when
 * counter is NULL), in the caller's transaction. */
static int close_where(struct rating_sessions *rs, const char *counter, int64_t now,
		       const char *reason)
{
	sqlite3 *db = rs->gw->db;
	sqlite3_stmt *st = db_prepare(
	    db, counter ? "UPDATE rating_sessions SET closed_at = ?2, close_reason = ?3"
			  " WHERE closed_at IS NULL AND counter = ?1 RETURNING counter, expires_at"
			: "UPDATE rating_sessions SET closed_at = expires_at, close_reason = ?3"
			  " WHERE closed_at IS NULL AND expires_at <= ?2"
			  " RETURNING counter, expires_at");
	if (!st)
		return -EIO;
	if (counter)
		sqlite3_bind_text(st, 1, counter, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	/* RETURNING gives every row before the update is done: collect, then publish */
	json_t *closed = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(closed, json_pack("{s:s, s:I}", "counter", db_text(st, 0),
							"expires_at",
							(json_int_t)sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	int r = rc == SQLITE_DONE ? 0 : -EIO;
	size_t i;
	json_t *c;
	json_array_foreach(closed, i, c)
	{
		if (r == 0)
			r = publish_session(rs, "rating_session.closed",
					    json_string_value(json_object_get(c, "counter")),
					    json_integer_value(json_object_get(c, "expires_at")),
					    reason);
	}
	json_decref(closed);
	return r;
}

static void arm(struct rating_sessions *rs)
{
	sqlite3_stmt *st = db_prepare(
	    rs->gw->db, "SELECT MIN(expires_at) FROM rating_sessions WHERE closed_at IS NULL");
	int64_t next = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		next = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	evtimer_del(rs->timer);
	if (next < 0)
		return;
	int64_t wait = next - time_now();
	/* seconds of wall time: a little after the second turns */
	struct timeval tv = {wait > 0 ? (time_t)wait : 0, 200000};
	evtimer_add(rs->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct rating_sessions *rs = arg;
	sqlite3 *db = rs->gw->db;
	if (db_begin(db) == 0) {
		if (close_where(rs, NULL, time_now(), "expired") < 0 || db_commit(db) < 0) {
			db_rollback(db);
			log_error("rating sessions: cannot close the expired ones");
		}
	}
	arm(rs);
}

int rating_session_open(struct rating_sessions *rs, const char *counter, int64_t ticket_id,
			const char *dossier_code, const char *official, const char *unit)
{
	sqlite3 *db = rs->gw->db;
	int64_t now = time_now(), expires = now + rs->gw->settings.rating_window_s;
	if (close_where(rs, counter, now, "replaced") < 0)
		return -EIO;
	sqlite3_stmt *st = db_prepare(
	    db, "INSERT INTO rating_sessions(counter, ticket_id, dossier_code, official, unit,"
		" opened_at, expires_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, counter, -1, SQLITE_TRANSIENT);
	if (ticket_id)
		sqlite3_bind_int64(st, 2, ticket_id);
	sqlite3_bind_text(st, 3, dossier_code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, official && *official ? official : NULL, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, unit && *unit ? unit : NULL, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 7, expires);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE ||
	    publish_session(rs, "rating_session.opened", counter, expires, NULL) < 0)
		return -EIO;
	/* armed also if the caller rolls back: the timer then finds nothing */
	arm(rs);
	return 0;
}

/* dossier.status: a result returned (10) opens a session at the counter of
 * who returned it. */
static void on_status(void *data, const char *type, const char *json, size_t len)
{
	(void)type;
	struct rating_sessions *rs = data;
	sqlite3 *db = rs->gw->db;
	json_t *j = json_loadb(json, len, 0, NULL);
	const char *code = json_string_value(json_object_get(j, "code"));
	const char *by = json_string_value(json_object_get(j, "by"));
	if (json_integer_value(json_object_get(j, "status")) != 10 || !code || !by) {
		json_decref(j);
		return;
	}
	char counter[64] = "", unit[201] = "", day[8];
	time_yymmdd_vn(time_now(), day);
	/* signed in at a counter (an official's session), else where they call */
	sqlite3_stmt *st =
	    db_prepare(db, "SELECT s.counter FROM sessions s JOIN users u ON u.id = s.user_id"
			   " WHERE u.username = ?1 AND s.ended_at IS NULL AND s.expires_at > ?3"
			   " AND s.counter IS NOT NULL AND s.counter != ''"
			   " UNION ALL SELECT * FROM (SELECT counter FROM tickets WHERE day = ?2"
			   " AND official = ?1 AND counter IS NOT NULL AND call_seq IS NOT NULL"
			   " ORDER BY call_seq DESC LIMIT 1) LIMIT 1");
	if (st) {
		sqlite3_bind_text(st, 1, by, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, day, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, time_now());
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(counter, sizeof counter, "%s", db_text(st, 0));
		sqlite3_finalize(st);
	}
	st = counter[0] ? db_prepare(db, "SELECT unit FROM dossiers WHERE code = ?1") : NULL;
	if (st) {
		sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW && db_text(st, 0))
			snprintf(unit, sizeof unit, "%s", db_text(st, 0));
		sqlite3_finalize(st);
	}
	if (counter[0] && db_begin(db) == 0) {
		if (rating_session_open(rs, counter, 0, code, by, unit) < 0 || db_commit(db) < 0) {
			db_rollback(db);
			log_error("rating sessions: cannot open one at counter %s for %s", counter,
				  code);
		}
	}
	json_decref(j);
}

/* The counter's open session: its id (0 if none) and what it rates. */
struct session {
	int64_t id, ticket_id, expires_at;
	char dossier_code[100], official[128], unit[201];
};

static bool session_find(struct rating_sessions *rs, const char *counter, struct session *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st =
	    db_prepare(rs->gw->db, "SELECT id, ticket_id, dossier_code, official, unit, expires_at"
				   " FROM rating_sessions WHERE counter = ?1 AND closed_at IS NULL"
				   " AND expires_at > ?2 ORDER BY id DESC LIMIT 1");
	if (!st)
		return false;
	sqlite3_bind_text(st, 1, counter, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, time_now());
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->id = sqlite3_column_int64(st, 0);
		out->ticket_id = sqlite3_column_int64(st, 1);
		snprintf(out->dossier_code, sizeof out->dossier_code, "%s",
			 db_text(st, 2) ? db_text(st, 2) : "");
		snprintf(out->official, sizeof out->official, "%s",
			 db_text(st, 3) ? db_text(st, 3) : "");
		snprintf(out->unit, sizeof out->unit, "%s", db_text(st, 4) ? db_text(st, 4) : "");
		out->expires_at = sqlite3_column_int64(st, 5);
	}
	sqlite3_finalize(st);
	return out->id != 0;
}

bool rating_session_is_open(struct rating_sessions *rs, const char *counter)
{
	struct session s;
	return session_find(rs, counter, &s);
}

static bool counter_param(struct call *c)
{
	const char *n = c->params[0];
	size_t len = strlen(n);
	if (len == 0 || len > 50) {
		http_reply_error(c->req, 404, "not_found", "no counter %.60s", n);
		return false;
	}
	return true;
}

static void route_session_get(struct call *c)
{
	struct rating_sessions *rs = c->data;
	struct session s;
	if (!counter_param(c))
		return;
	bool open = session_find(rs, c->params[0], &s);
	http_reply_json(c->req, 200,
			json_pack("{s:b, s:o}", "open", open, "expires_at",
				  open ? iso(s.expires_at) : json_null()));
}

/* The first press of a session: a rating of its ticket or dossier, and the
 * session closes. 1 counted, 0 not (rated already), -EIO. In the caller's
 * transaction. */
static int count_press(struct rating_sessions *rs, const struct session *s, const char *counter,
		       int level, const char *by)
{
	sqlite3 *db = rs->gw->db;
	int64_t now = time_now();
	sqlite3_stmt *st = db_prepare(
	    db, "INSERT INTO ratings(dossier_code, ticket_id, level, created_at, created_by,"
		" official, counter, session_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
		" RETURNING id");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, s->dossier_code[0] ? s->dossier_code : NULL, -1, SQLITE_TRANSIENT);
	if (s->ticket_id)
		sqlite3_bind_int64(st, 2, s->ticket_id);
	sqlite3_bind_int(st, 3, level);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_text(st, 5, by, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, s->official[0] ? s->official : NULL, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, counter, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 8, s->id);
	int rc = sqlite3_step(st);
	int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	int counted = id ? 1 : 0;
	if (!id && rc != SQLITE_CONSTRAINT)
		return -EIO;
	st = db_prepare(db, "UPDATE rating_sessions SET closed_at = ?2, close_reason = ?3,"
			    " rating_id = ?4 WHERE id = ?1");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, s->id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, counted ? "rated" : "rated_already", -1, SQLITE_STATIC);
	if (id)
		sqlite3_bind_int64(st, 4, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	if (counted) {
		json_t *ev = json_pack(
		    "{s:I, s:s?, s:o, s:i, s:s, s:n, s:s?, s:s?, s:s, s:I}", "id", (json_int_t)id,
		    "dossier_code", s->dossier_code[0] ? s->dossier_code : NULL, "ticket_id",
		    s->ticket_id ? json_integer(s->ticket_id) : json_null(), "level", level,
		    "level_name", level_names[level], "comment", "official",
		    s->official[0] ? s->official : NULL, "unit", s->unit[0] ? s->unit : NULL,
		    "counter", counter, "session", (json_int_t)s->id);
		if (!ev || events_publish(rs->gw->events, "rating.added", ev) < 0)
			return -EIO;
	}
	if (publish_session(rs, "rating_session.closed", counter, s->expires_at,
			    counted ? "rated" : "rated_already") < 0)
		return -EIO;
	return counted;
}

static void route_press(struct call *c)
{
	static const char *const keys[] = {"level", NULL};
	struct rating_sessions *rs = c->data;
	struct evhttp_request *req = c->req;
	if (!counter_param(c))
		return;
	const char *counter = c->params[0];
	json_t *j = http_json_body(req);
	if (!j)
		return;
	json_t *lv = json_object_get(j, "level");
	if (!http_only_keys(req, j, "", keys)) {
		json_decref(j);
		return;
	}
	if (!json_is_integer(lv) || json_integer_value(lv) < 1 || json_integer_value(lv) > 3) {
		http_reply_error(req, 400, "bad_request",
				 "level must be 1 (Rất hài lòng / very satisfied), 2 (Hài lòng / "
				 "satisfied) or 3 (Không hài lòng / not satisfied)");
		json_decref(j);
		return;
	}
	int level = (int)json_integer_value(lv);
	json_decref(j);
	sqlite3 *db = rs->gw->db;
	struct session s;
	int r = -EIO;
	if (db_begin(db) == 0) {
		bool open = session_find(rs, counter, &s);
		r = open ? count_press(rs, &s, counter, level, c->tok->name) : 0;
		if (r == 0) {
			/* logged, not counted */
			json_t *ev =
			    json_pack("{s:s, s:i, s:s}", "counter", counter, "level", level,
				      "reason", open ? "rated_already" : "no_session");
			if (!ev || events_publish(rs->gw->events, "rating.ignored", ev) < 0)
				r = -EIO;
		}
		if (r < 0 || db_commit(db) < 0) {
			db_rollback(db);
			r = -EIO;
		}
	}
	if (r < 0)
		http_reply_error(req, 503, "unavailable", "the rating could not be stored");
	else if (r == 1)
		http_reply_json(req, 201, json_pack("{s:b}", "counted", 1));
	else
		http_reply_json(req, 200, json_pack("{s:b}", "counted", 0));
	arm(rs);
}

static const struct route_def routes[] = {
    {"GET", "/api/v1/counters/{n}/rating-session", MOTCUA_ROLE_KIOSK | R_STAFF, route_session_get,
     "is a rating session open at the counter (and until when)"},
    {"POST", "/api/v1/counters/{n}/rating", MOTCUA_ROLE_KIOSK, route_press,
     "a press of the counter's rating kiosk (1-3): the first of a session counts"},
};

struct rating_sessions *rating_sessions_new(struct gateway *gw)
{
	struct rating_sessions *rs = calloc(1, sizeof *rs);
	if (!rs)
		return NULL;
	rs->gw = gw;
	rs->timer = evtimer_new(gw->base, on_timer, rs);
	if (!rs->timer ||
	    router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], rs, NULL) < 0) {
		rating_sessions_free(rs);
		return NULL;
	}
	if (events_subscribe(gw->events, rs, "dossier.status", on_status, rs, NULL) < 0) {
		rating_sessions_free(rs);
		return NULL;
	}
	/* what ended while the gateway was down closes now; the rest when due */
	on_timer(-1, 0, rs);
	return rs;
}

void rating_sessions_free(struct rating_sessions *rs)
{
	if (!rs)
		return;
	events_unsubscribe_all(rs->gw->events, rs);
	if (rs->timer)
		event_free(rs->timer);
	free(rs);
}
