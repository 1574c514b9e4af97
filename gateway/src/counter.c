/* SPDX-License-Identifier: MIT */
/*
 * The counter's moments, the data the evaluation counts:
 *  - the office calendar: working days (Monday to Friday, minus the
 *    [office] holidays file) and each procedure's legal processing time
 *    ([office] procedures file), from which a dossier's promised return date
 *    ("hẹn trả") is set at reception;
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

#include "gateway.h"

#define VN_OFFSET (7 * 3600)
#define MAX_HOLIDAYS 2000
#define MAX_PROCEDURES 5000

struct procedure_rule {
	char code[65];
	int days;
	char unit[201];
};

struct calendar {
	int32_t holidays[MAX_HOLIDAYS]; /* days since the epoch, Vietnam time */
	size_t n_holidays;
	struct procedure_rule *procedures;
	size_t n_procedures;
};

/* ---- the calendar ---- */

static int32_t vn_day(int64_t t)
{
	return (int32_t)((t + VN_OFFSET) / 86400);
}

static bool parse_date(const char *s, int32_t *day)
{
	int64_t t;
	if (date_parse_vn(s, &t) < 0)
		return false;
	*day = vn_day(t);
	return true;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

static int load_holidays(struct calendar *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "[office] holidays = %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	char line[256];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		n++;
		char *s = trim(line);
		char *hash = strchr(s, '#');
		if (hash)
			*hash = 0;
		s = trim(s);
		if (!*s)
			continue;
		int32_t day;
		if (!parse_date(s, &day)) {
			snprintf(err, errlen, "%s:%d: '%s' is not a date YYYY-MM-DD", path, n, s);
			fclose(f);
			return -EINVAL;
		}
		if (c->n_holidays == MAX_HOLIDAYS) {
			snprintf(err, errlen, "%s:%d: more than %d holidays", path, n, MAX_HOLIDAYS);
			fclose(f);
			return -EINVAL;
		}
		c->holidays[c->n_holidays++] = day;
	}
	fclose(f);
	return 0;
}

/* Lines "CODE;DAYS;UNIT" (UNIT optional): the procedure's legal processing
 * time in working days (0: returned the same day) and the unit that
 * resolves it. */
static int load_procedures(struct calendar *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "[office] procedures = %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	char line[1024];
	int n = 0;
	size_t cap = 0;
	while (fgets(line, sizeof line, f)) {
		n++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *code = trim(strtok(s, ";")), *days = strtok(NULL, ";"), *unit = strtok(NULL, ";");
		char *end;
		long d = days ? strtol(trim(days), &end, 10) : -1;
		if (!valid_code_chars(code, 64) || !days || *end || d < 0 || d > 365) {
			snprintf(err, errlen, "%s:%d: expected CODE;WORKING_DAYS;UNIT (days 0-365), e.g. "
				 "1.001193;5;Phòng Tư pháp", path, n);
			fclose(f);
			return -EINVAL;
		}
		if (c->n_procedures == cap) {
			cap = cap ? cap * 2 : 64;
			if (cap > MAX_PROCEDURES) {
				snprintf(err, errlen, "%s:%d: more than %d procedures", path, n, MAX_PROCEDURES);
				fclose(f);
				return -EINVAL;
			}
			struct procedure_rule *p = realloc(c->procedures, cap * sizeof *p);
			if (!p) {
				fclose(f);
				return -ENOMEM;
			}
			c->procedures = p;
		}
		struct procedure_rule *r = &c->procedures[c->n_procedures++];
		snprintf(r->code, sizeof r->code, "%s", code);
		r->days = (int)d;
		snprintf(r->unit, sizeof r->unit, "%s", unit ? trim(unit) : "");
	}
	fclose(f);
	return 0;
}

struct calendar *calendar_load(const struct config *cfg_unused, const char *holidays, const char *procedures,
			       char *err, size_t errlen)
{
	(void)cfg_unused;
	struct calendar *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((holidays && load_holidays(c, holidays, err, errlen) < 0) ||
	    (procedures && load_procedures(c, procedures, err, errlen) < 0)) {
		calendar_free(c);
		return NULL;
	}
	return c;
}

void calendar_free(struct calendar *c)
{
	if (!c)
		return;
	free(c->procedures);
	free(c);
}

static bool working_day(const struct calendar *c, int32_t day)
{
	int wd = (int)((day + 4) % 7); /* 1970-01-01 was a Thursday: 0 = Sunday */
	if (wd == 0 || wd == 6)
		return false;
	for (size_t i = 0; c && i < c->n_holidays; i++)
		if (c->holidays[i] == day)
			return false;
	return true;
}

int64_t calendar_due(const struct calendar *c, int64_t received, int working_days)
{
	int32_t day = vn_day(received);
	/* Received on a day off: the count starts on the next working day. */
	int left = working_days;
	if (!working_day(c, day) && left == 0)
		left = 1;
	while (left > 0) {
		day++;
		if (working_day(c, day))
			left--;
	}
	/* The end of that day, Vietnam time. */
	return (int64_t)day * 86400 + 86399 - VN_OFFSET;
}

bool calendar_procedure(const struct calendar *c, const char *code, int *days, const char **unit)
{
	for (size_t i = 0; c && i < c->n_procedures; i++)
		if (!strcmp(c->procedures[i].code, code)) {
			*days = c->procedures[i].days;
			*unit = c->procedures[i].unit[0] ? c->procedures[i].unit : NULL;
			return true;
		}
	return false;
}

/* ---- tickets ---- */

static json_t *ticket_row(sqlite3_stmt *st)
{
	json_t *t = json_object();
	char buf[32];
	json_object_set_new(t, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(t, "number", json_integer(sqlite3_column_int(st, 1)));
	json_object_set_new(t, "service", sqlite3_column_type(st, 2) == SQLITE_NULL ? json_null() :
					  json_string((const char *)sqlite3_column_text(st, 2)));
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
	json_object_set_new(t, "counter", sqlite3_column_type(st, 7) == SQLITE_NULL ? json_null() :
					  json_string((const char *)sqlite3_column_text(st, 7)));
	json_object_set_new(t, "official", sqlite3_column_type(st, 8) == SQLITE_NULL ? json_null() :
					   json_string((const char *)sqlite3_column_text(st, 8)));
	return t;
}

#define TICKET_COLUMNS "id, number, service, state, issued_at, called_at, done_at, counter, official"

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
	json_object_foreach(extra, k, v)
		json_object_set(ev, k, v);
	json_decref(extra);
	return events_publish(gw->events, type, ev);
}

static void h_ticket_issue(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok)
{
	static const char *const keys[] = {"service", NULL};
	json_t *j = evbuffer_get_length(evhttp_request_get_input_buffer(req)) ? api_json_body(req) : json_object();
	const char *service = NULL;
	if (!j)
		return;
	if (!api_only_keys(req, j, "", keys) || !api_str_field(req, j, "service", "service", false, 100, &service)) {
		json_decref(j);
		return;
	}
	sqlite3 *db = gw->db;
	int64_t now = time_now();
	char day[8];
	time_yymmdd_vn(now, day);
	json_t *t = NULL;
	if (db_begin(db) == 0) {
		sqlite3_stmt *st = db_prepare(db, "INSERT INTO tickets(day, number, service, state, issued_at, issued_by)"
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

static void h_ticket_next(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok)
{
	static const char *const keys[] = {"counter", NULL};
	json_t *j = api_json_body(req);
	const char *counter = NULL;
	if (!j)
		return;
	if (!api_only_keys(req, j, "", keys) ||
	    !api_str_field(req, j, "counter", "counter (the desk's name or number)", true, 50, &counter)) {
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
		sqlite3_stmt *st = db_prepare(db, "UPDATE tickets SET state = 'serving', called_at = ?2, counter = ?3,"
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
		if (r == 0 && (!t || ticket_event(gw, "ticket.called", t,
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
		http_reply_error(req, 404, "no_one_waiting", "no ticket is waiting today (không có ai đang chờ)");
	else if (!t)
		http_reply_error(req, 503, "unavailable", "the next ticket could not be called");
	else
		http_reply_json(req, 200, t);
}

static void h_ticket_done(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok, int64_t id)
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
		http_reply_error(req, 409, "conflict", "ticket %lld is %s: only a ticket being served can be done",
				 (long long)id, state);
		json_decref(t);
		return;
	}
	json_decref(t);
	t = NULL;
	int64_t now = time_now();
	if (db_begin(db) == 0) {
		sqlite3_stmt *st = db_prepare(db, "UPDATE tickets SET state = 'done', done_at = ?2 WHERE id = ?1"
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
		if (!t || ticket_event(gw, "ticket.done", t, json_pack("{s:I}", "served_s", (json_int_t)(now - called))) < 0 ||
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
	sqlite3_stmt *st = db_prepare(gw->db, "SELECT " TICKET_COLUMNS " FROM tickets WHERE day = ?1 ORDER BY number");
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

void counter_tickets_route(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok,
			   char segs[][256], int n)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	bool get = cmd == EVHTTP_REQ_GET, post = cmd == EVHTTP_REQ_POST;
	if (n == 3 && post) {
		if (api_allowed(req, tok, R_WRITE))
			h_ticket_issue(gw, req, tok);
	} else if (n == 3 && get) {
		if (api_allowed(req, tok, R_STAFF))
			h_ticket_list(gw, req);
	} else if (n == 4 && !strcmp(segs[3], "next") && post) {
		if (api_allowed(req, tok, R_WRITE))
			h_ticket_next(gw, req, tok);
	} else if (n == 5 && !strcmp(segs[4], "done") && post) {
		char *end;
		long long id = strtoll(segs[3], &end, 10);
		if (*end || id <= 0)
			http_reply_error(req, 404, "not_found", "no ticket %.40s", segs[3]);
		else if (api_allowed(req, tok, R_WRITE))
			h_ticket_done(gw, req, tok, id);
	} else if (n <= 5) {
		http_reply_error(req, 405, "method_not_allowed", "tickets: POST /tickets, POST /tickets/next, "
				 "POST /tickets/{id}/done, GET /tickets");
	} else {
		http_reply_error(req, 404, "not_found", "no such route");
	}
}

/* ---- ratings ---- */

static const char *const level_names[] = {NULL, "Rất hài lòng", "Hài lòng", "Không hài lòng"};

void counter_rating(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok)
{
	static const char *const keys[] = {"dossier_code", "ticket", "level", "criteria", "comment", NULL};
	if (!api_allowed(req, tok, MOTCUA_ROLE_KIOSK | R_WRITE))
		return;
	json_t *j = api_json_body(req);
	if (!j)
		return;
	const char *code = NULL, *comment = NULL;
	json_t *ticket = json_object_get(j, "ticket"), *level = json_object_get(j, "level");
	json_t *criteria = json_object_get(j, "criteria");
	if (!api_only_keys(req, j, "", keys) ||
	    !api_str_field(req, j, "dossier_code", "dossier_code", false, 95, &code) ||
	    !api_str_field(req, j, "comment", "comment", false, 1000, &comment))
		goto out;
	if ((code != NULL) == (ticket != NULL && !json_is_null(ticket))) {
		http_reply_error(req, 400, "bad_request", "give either dossier_code or ticket (the ticket's id), not both");
		goto out;
	}
	if (ticket && !json_is_null(ticket) && (!json_is_integer(ticket) || json_integer_value(ticket) <= 0)) {
		http_reply_error(req, 400, "bad_request", "ticket must be the ticket's id (a number)");
		goto out;
	}
	if (!json_is_integer(level) || json_integer_value(level) < 1 || json_integer_value(level) > 3) {
		http_reply_error(req, 400, "bad_request",
				 "level must be 1 (Rất hài lòng / very satisfied), 2 (Hài lòng / satisfied) or 3 "
				 "(Không hài lòng / not satisfied)");
		goto out;
	}
	if (criteria && !json_is_null(criteria)) {
		char *dump = json_is_object(criteria) ? json_dumps(criteria, JSON_COMPACT) : NULL;
		size_t len = dump ? strlen(dump) : 0;
		free(dump);
		if (!json_is_object(criteria) || len > 2000) {
			http_reply_error(req, 400, "bad_request", "criteria must be a JSON object of at most 2000 bytes");
			goto out;
		}
	}
	sqlite3 *db = gw->db;
	int64_t tid = ticket && !json_is_null(ticket) ? json_integer_value(ticket) : 0;
	/* who is rated: the clerk who served the ticket or received the dossier */
	char official[128] = "", unit[201] = "";
	sqlite3_stmt *st = code ? db_prepare(db, "SELECT created_by, unit FROM dossiers WHERE code = ?1") :
				  db_prepare(db, "SELECT official, NULL FROM tickets WHERE id = ?1");
	bool found = false;
	if (st) {
		if (code)
			sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, 1, tid);
		if (sqlite3_step(st) == SQLITE_ROW) {
			found = true;
			snprintf(official, sizeof official, "%s", sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
			snprintf(unit, sizeof unit, "%s", sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
		}
		sqlite3_finalize(st);
	}
	if (!found) {
		if (code)
			http_reply_error(req, 404, "not_found", "no dossier %s", code);
		else
			http_reply_error(req, 404, "not_found", "no ticket %lld", (long long)tid);
		goto out;
	}
	if (db_begin(db) < 0) {
		http_reply_error(req, 503, "unavailable", "the rating could not be stored");
		goto out;
	}
	char *crit = criteria && json_is_object(criteria) ? json_dumps(criteria, JSON_COMPACT) : NULL;
	st = db_prepare(db, "INSERT INTO ratings(dossier_code, ticket_id, level, criteria, comment, created_at, created_by)"
			    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id");
	int64_t id = 0;
	int rc = SQLITE_ERROR;
	if (st) {
		if (code)
			sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
		if (tid)
			sqlite3_bind_int64(st, 2, tid);
		sqlite3_bind_int(st, 3, (int)json_integer_value(level));
		sqlite3_bind_text(st, 4, crit, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, comment, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 6, time_now());
		sqlite3_bind_text(st, 7, tok->name, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if (rc == SQLITE_CONSTRAINT) {
		db_rollback(db);
		free(crit);
		http_reply_error(req, 409, "already_rated", "this %s was rated already: one rating per visit "
				 "(đã đánh giá)", code ? "dossier" : "ticket");
		goto out;
	}
	json_t *ev = id ? json_pack("{s:I, s:s?, s:o, s:i, s:s, s:s?, s:s?, s:s?}", "id", (json_int_t)id,
				    "dossier_code", code, "ticket_id", tid ? json_integer(tid) : json_null(), "level",
				    (int)json_integer_value(level), "level_name",
				    level_names[json_integer_value(level)], "comment", comment, "official",
				    official[0] ? official : NULL, "unit", unit[0] ? unit : NULL) : NULL;
	if (ev && crit)
		json_object_set(ev, "criteria", criteria);
	free(crit);
	json_t *answer = ev ? json_deep_copy(ev) : NULL;
	if (!ev || events_publish(gw->events, "rating.added", ev) < 0 || db_commit(db) < 0) {
		db_rollback(db);
		json_decref(answer);
		http_reply_error(req, 503, "unavailable", "the rating could not be stored");
		goto out;
	}
	http_reply_json(req, 201, answer);
out:
	json_decref(j);
}

/* ---- status changes by staff ---- */

void counter_dossier_status(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok,
			    const char *code)
{
	static const char *const keys[] = {"status", "note", NULL};
	if (!api_allowed(req, tok, R_WRITE | MOTCUA_ROLE_AGENCY))
		return;
	json_t *j = api_json_body(req);
	if (!j)
		return;
	const char *note = NULL;
	json_t *status = json_object_get(j, "status");
	if (!api_only_keys(req, j, "", keys) || !api_str_field(req, j, "note", "note", false, 1000, &note)) {
		json_decref(j);
		return;
	}
	if (!json_is_integer(status) || json_integer_value(status) < 1 || json_integer_value(status) > 10) {
		http_reply_error(req, 400, "bad_request", "status must be a national status code from 1 to 10 "
				 "(4 in process, 5 supplement requested, 9 processed, 10 result returned, ...)");
		json_decref(j);
		return;
	}
	int r = dossier_set_status(gw->pipeline, code, (int)json_integer_value(status), tok->name,
				   note ? json_pack("{s:s}", "note", note) : NULL);
	json_decref(j);
	if (r == -ENOENT)
		http_reply_error(req, 404, "not_found", "no dossier %s", code);
	else if (r < 0)
		http_reply_error(req, 503, "unavailable", "the status could not be recorded");
	else
		http_reply_json(req, 200, dossier_get(gw->pipeline, code));
}
