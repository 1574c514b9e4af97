/* SPDX-License-Identifier: MIT */
/*
 * The counter's moments, the data the evaluation counts (the queue's
 * tickets are queue.c's, the rating kiosks' sessions rating-session.c's):
 *  - citizen ratings: POST /api/v1/ratings, from a kiosk token that can do
 *    nothing else;
 *  - status changes by staff: POST /api/v1/dossiers/{code}/status (a
 *    supplement request is status 5; the result returned, 10, opens a
 *    rating session: rating-session.c follows dossier.status).
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
	static const char *const keys[] = {"status", "note", NULL};
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
	int r = dossier_set_status(gw->records, code, (int)json_integer_value(status), tok->name,
				   note ? json_pack("{s:s}", "note", note) : NULL);
	json_decref(j);
	if (r == -ENOENT)
		http_reply_error(req, 404, "not_found", "no dossier %s", code);
	else if (r < 0)
		http_reply_error(req, 503, "unavailable", "the status could not be recorded");
	else
		http_reply_json(req, 200, dossier_get(gw->records, code));
}

static const struct route_def routes[] = {
    {"POST", "/api/v1/ratings", MOTCUA_ROLE_KIOSK | R_WRITE, route_rating,
     "a citizen's rating (1-3) of a dossier or a ticket, once"},
    {"POST", "/api/v1/dossiers/{code}/status", R_WRITE | MOTCUA_ROLE_AGENCY, route_dossier_status,
     "a new national status code (1-10) for a dossier"},
};

int counter_routes_add(struct gateway *gw)
{
	return router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], gw, NULL);
}

int counter_rating_add(struct gateway *gw, const char *dossier_code, int level, const char *by)
{
	struct rating in = {.code = dossier_code, .level = level};
	char official[128], unit[201];
	json_t *answer = NULL;
	if (level < 1 || level > 3)
		return -EINVAL;
	if (!rated_official(gw->db, &in, official, unit))
		return -ENOENT;
	int r = store_rating(gw, &in, by, official, unit, &answer);
	json_decref(answer);
	return r;
}
