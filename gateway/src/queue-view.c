/* SPDX-License-Identifier: MIT */
/*
 * The queue seen from outside (floor 9, on queue, rating-session and the
 * sessions table): the waiting room (GET /api/v1/queue: the last 5 calls,
 * recalls too, and the people waiting per service, for the display and the
 * ticket kiosk), the services (GET /api/v1/services), and the counters (GET
 * /api/v1/counters, /counters/{n}: the officials signed in there, from the
 * sessions the sign-in writes; the ticket called or served there; the
 * dossier received under it; whether its rating session is open).
 */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "gateway.h"
#include "http.h"
#include "queue-view.h"
#include "queue.h"
#include "rating-session.h"
#include "router.h"
#include "services.h"
#include "users.h"
#include "util.h"

static json_t *service_name(const struct gateway *gw, const char *code)
{
	const struct service *s = services_find(gw->services, code);
	return s ? json_string(s->name) : json_null();
}

static void today(char day[8])
{
	time_yymmdd_vn(time_now(), day);
}

static void route_services(struct call *c)
{
	struct gateway *gw = c->data;
	http_reply_json(c->req, 200, json_pack("{s:o}", "services", services_json(gw->services)));
}

/* For the waiting-room display and the ticket kiosk: the last 5 calls
 * (recalls too), the people waiting per service. */
static void route_queue(struct call *c)
{
	struct gateway *gw = c->data;
	char day[8];
	today(day);
	json_t *called = json_array();
	sqlite3_stmt *st = db_prepare(
	    gw->db, "SELECT id, number, counter, service, COALESCE(last_called_at, called_at),"
		    " recalls FROM tickets WHERE day = ?1 AND call_seq IS NOT NULL"
		    " ORDER BY call_seq DESC LIMIT 5");
	if (st)
		sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
	while (st && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    called, json_pack("{s:I, s:i, s:o, s:o, s:o, s:o, s:i}", "id",
				      (json_int_t)sqlite3_column_int64(st, 0), "number",
				      sqlite3_column_int(st, 1), "counter", db_json_text(st, 2),
				      "service", db_json_text(st, 3), "service_name",
				      service_name(gw, db_text(st, 3)), "called_at",
				      db_json_time(st, 4), "recalls", sqlite3_column_int(st, 5)));
	sqlite3_finalize(st);
	json_t *counts = json_object();
	json_int_t unnamed = 0;
	st = db_prepare(gw->db, "SELECT service, COUNT(*) FROM tickets WHERE day = ?1"
				" AND state = 'waiting' GROUP BY service");
	if (st)
		sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const struct service *s = services_find(gw->services, db_text(st, 0));
		if (s)
			json_object_set_new(counts, s->code,
					    json_integer(sqlite3_column_int64(st, 1)));
		else
			unnamed += sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	json_t *waiting = json_array();
	for (size_t i = 0; i < services_count(gw->services); i++) {
		const struct service *s = services_at(gw->services, i);
		json_t *n = json_object_get(counts, s->code);
		json_array_append_new(waiting, json_pack("{s:s, s:s, s:I}", "service", s->code,
							 "service_name", s->name, "count",
							 n ? json_integer_value(n) : 0));
	}
	if (unnamed)
		json_array_append_new(waiting, json_pack("{s:n, s:n, s:I}", "service",
							 "service_name", "count", unnamed));
	json_decref(counts);
	http_reply_json(c->req, 200,
			json_pack("{s:o, s:o, s:o}", "called", called, "waiting", waiting,
				  "services", services_json(gw->services)));
}

/* {"counter","officials","ticket","dossier","rating_open"} */
static json_t *counter_json(struct gateway *gw, const char *counter)
{
	sqlite3 *db = gw->db;
	char day[8];
	today(day);
	/* who is signed in there (users.c: the one reading of sessions) */
	json_t *officials = users_signed_in(db, counter);
	if (!officials)
		officials = json_array();
	json_t *ticket = NULL;
	sqlite3_stmt *st =
	    db_prepare(db, "SELECT id FROM tickets WHERE day = ?1 AND counter = ?2"
			   " AND state IN ('called', 'serving') ORDER BY call_seq DESC LIMIT 1");
	if (st) {
		sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, counter, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			ticket = ticket_get(gw, sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
	}
	json_t *dossier = NULL;
	st = ticket ? db_prepare(db, "SELECT code FROM dossiers WHERE ticket_id = ?1"
				     " ORDER BY received_at DESC LIMIT 1")
		    : NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(ticket, "id")));
		if (sqlite3_step(st) == SQLITE_ROW)
			dossier = json_string(db_text(st, 0));
		sqlite3_finalize(st);
	}
	bool rating_open =
	    gw->rating_sessions && rating_session_is_open(gw->rating_sessions, counter);
	return json_pack("{s:s, s:o, s:o, s:o, s:b}", "counter", counter, "officials", officials,
			 "ticket", ticket ? ticket : json_null(), "dossier",
			 dossier ? dossier : json_null(), "rating_open", rating_open);
}

static void route_counters(struct call *c)
{
	struct gateway *gw = c->data;
	char day[8];
	today(day);
	sqlite3_stmt *st = db_prepare(
	    gw->db, "SELECT counter FROM sessions WHERE counter IS NOT NULL AND counter != ''"
		    " AND ended_at IS NULL AND expires_at > ?2"
		    " UNION SELECT counter FROM tickets WHERE day = ?1 AND counter IS NOT NULL"
		    " UNION SELECT counter FROM rating_sessions WHERE closed_at IS NULL"
		    " UNION SELECT counter FROM users WHERE counter IS NOT NULL AND counter != ''"
		    " AND disabled_at IS NULL ORDER BY 1");
	json_t *names = json_array(), *arr = json_array();
	if (st) {
		sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, time_now());
	}
	while (st && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(names, json_string(db_text(st, 0)));
	sqlite3_finalize(st);
	size_t i;
	json_t *n;
	json_array_foreach(names, i, n)
	    json_array_append_new(arr, counter_json(gw, json_string_value(n)));
	json_decref(names);
	http_reply_json(c->req, 200, json_pack("{s:o}", "counters", arr));
}

static void route_counter(struct call *c)
{
	size_t len = strlen(c->params[0]);
	if (len == 0 || len > 50) {
		http_reply_error(c->req, 404, "not_found", "no counter %.60s", c->params[0]);
		return;
	}
	http_reply_json(c->req, 200, counter_json(c->data, c->params[0]));
}

static const struct route_def routes[] = {
    {"GET", "/api/v1/queue", R_ANY, route_queue,
     "the waiting room: the last 5 calls, people waiting per service"},
    {"GET", "/api/v1/services", R_ANY, route_services, "the services (lĩnh vực) of the queue"},
    {"GET", "/api/v1/counters", R_STAFF, route_counters,
     "the counters: officials signed in, ticket and dossier there, rating session"},
    {"GET", "/api/v1/counters/{n}", R_STAFF, route_counter, "one counter"},
};

int queue_view_routes_add(struct gateway *gw)
{
	return router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], gw, NULL);
}
