/* SPDX-License-Identifier: MIT */
/*
 * eval-core: derived tables per dossier, ticket and rating, updated from the
 * gateway's events, and the indicator query over them (see eval-core.h and
 * README.md for the definitions).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "eval-core.h"

#define VN_OFFSET_S (7 * 3600)
#define DEFAULT_SYNC_DESTINATION "adapter-dvcqg"

enum stmt_id {
	S_LAST_SET,
	S_DOSSIER_INSERT,
	S_DOSSIER_GET,
	S_DOSSIER_STATUS,
	S_DOC_PAPER,
	S_DOC_RESULT,
	S_DOC_REUSED,
	S_SYNCED,
	S_TICKET_ISSUED,
	S_TICKET_CALLED,
	S_TICKET_DONE,
	S_TICKET_UNIT,
	S_RATING_INSERT,
	S_COMPLAINT_DOSSIER,
	S_COMPLAINT_TICKET,
	S_COUNT_
};

static const char *const stmt_sql[S_COUNT_] = {
    [S_LAST_SET] = "INSERT INTO meta(key, value) VALUES('last_id', ?1)"
		   " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [S_DOSSIER_INSERT] =
	"INSERT OR IGNORE INTO dossiers(code, day, received, due, channel, unit, official,"
	" ticket_id, status) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_DOSSIER_GET] =
	"SELECT received, due, end_at, supp_n, supp_since, supp_s FROM dossiers WHERE code = ?1",
    [S_DOSSIER_STATUS] =
	"UPDATE dossiers SET status = ?2, end_at = coalesce(end_at, ?3),"
	" end_status = coalesce(end_status, ?4), supp_n = ?5, supp_since = ?6, supp_s = ?7,"
	" on_time = coalesce(on_time, ?8) WHERE code = ?1",
    [S_DOC_PAPER] = "UPDATE dossiers SET paper = 1 WHERE code = ?1",
    [S_DOC_RESULT] = "UPDATE dossiers SET result = 1 WHERE code = ?1",
    [S_DOC_REUSED] = "UPDATE dossiers SET reused = reused + 1 WHERE code = ?1",
    [S_SYNCED] = "UPDATE dossiers SET synced = 1 WHERE code = ?1",
    [S_TICKET_ISSUED] = "INSERT OR IGNORE INTO tickets(id, day, issued, unit) VALUES(?1, ?2, ?3,"
			" (SELECT unit FROM dossiers WHERE ticket_id = ?1 LIMIT 1))",
    [S_TICKET_CALLED] =
	"UPDATE tickets SET called = ?2, waited_s = ?3, counter = ?4, official = ?5 WHERE id = ?1",
    [S_TICKET_DONE] = "UPDATE tickets SET done = ?2, served_s = ?3,"
		      " official = coalesce(official, ?4) WHERE id = ?1",
    [S_TICKET_UNIT] = "UPDATE tickets SET unit = coalesce(unit, ?2) WHERE id = ?1",
    [S_RATING_INSERT] = "INSERT OR IGNORE INTO ratings(id, day, dossier_code, ticket_id, level, "
			"official, unit) VALUES(?1, ?2, ?3, ?4, ?5,"
			" coalesce(?6, (SELECT official FROM dossiers WHERE code = ?3), (SELECT "
			"official FROM tickets WHERE id = ?4)),"
			" coalesce(?7, (SELECT unit FROM dossiers WHERE code = ?3), (SELECT unit "
			"FROM tickets WHERE id = ?4)))",
    [S_COMPLAINT_DOSSIER] = "UPDATE dossiers SET complaint = 1 WHERE code = ?1",
    [S_COMPLAINT_TICKET] = "UPDATE dossiers SET complaint = 1 WHERE ticket_id = ?1",
};

struct eval {
	sqlite3 *db;
	sqlite3_stmt *st[S_COUNT_];
	int64_t last_id; /* cached; reloaded after a rollback */
};

static const char schema[] =
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = NORMAL;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER);"
    "CREATE TABLE IF NOT EXISTS dossiers(code TEXT PRIMARY KEY, day TEXT NOT NULL, received "
    "INTEGER NOT NULL,"
    " due INTEGER, channel INTEGER, unit TEXT, official TEXT, ticket_id TEXT, status INTEGER,"
    " end_at INTEGER, end_status INTEGER, supp_n INTEGER NOT NULL DEFAULT 0, supp_since INTEGER,"
    " supp_s INTEGER NOT NULL DEFAULT 0, on_time INTEGER, paper INTEGER NOT NULL DEFAULT 0,"
    " result INTEGER NOT NULL DEFAULT 0, reused INTEGER NOT NULL DEFAULT 0, synced INTEGER NOT "
    "NULL DEFAULT 0,"
    " complaint INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS dossiers_day ON dossiers(day);"
    "CREATE INDEX IF NOT EXISTS dossiers_ticket ON dossiers(ticket_id) WHERE ticket_id IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS tickets(id TEXT PRIMARY KEY, day TEXT NOT NULL, issued INTEGER NOT "
    "NULL,"
    " called INTEGER, waited_s INTEGER, counter TEXT, official TEXT, unit TEXT, done INTEGER, "
    "served_s INTEGER);"
    "CREATE INDEX IF NOT EXISTS tickets_day ON tickets(day, unit, official, waited_s);"
    "CREATE TABLE IF NOT EXISTS ratings(id TEXT PRIMARY KEY, day TEXT NOT NULL, dossier_code TEXT,"
    " ticket_id TEXT, level INTEGER NOT NULL, official TEXT, unit TEXT);"
    "CREATE INDEX IF NOT EXISTS ratings_day ON ratings(day);"
    "CREATE TABLE IF NOT EXISTS outq(seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
    " payload TEXT NOT NULL);"
    /* Per-day rollups kept by triggers in the same transaction (a dossier's
     * day, unit and official never change after its insert): what a
     * period's query sums instead of every dossier. '' stands for none. */
    "CREATE TABLE IF NOT EXISTS dossier_days(day TEXT NOT NULL, unit TEXT NOT NULL, official TEXT "
    "NOT NULL,"
    " n INTEGER NOT NULL DEFAULT 0, online INTEGER NOT NULL DEFAULT 0, digitized INTEGER NOT NULL "
    "DEFAULT 0,"
    " reused INTEGER NOT NULL DEFAULT 0, synced INTEGER NOT NULL DEFAULT 0, finished INTEGER NOT "
    "NULL DEFAULT 0,"
    " on_time INTEGER NOT NULL DEFAULT 0, complaints INTEGER NOT NULL DEFAULT 0,"
    " processing_s INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(day, unit, official)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS dossiers_rollup_insert AFTER INSERT ON dossiers BEGIN"
    " INSERT INTO dossier_days(day, unit, official) VALUES(NEW.day, ifnull(NEW.unit, ''), "
    "ifnull(NEW.official, ''))"
    "  ON CONFLICT DO NOTHING;"
    " UPDATE dossier_days SET n = n + 1, online = online + (NEW.channel = 2),"
    "  digitized = digitized + (NEW.paper AND NEW.result), reused = reused + (NEW.reused > 0),"
    "  synced = synced + (NEW.synced > 0), finished = finished + (NEW.end_at IS NOT NULL),"
    "  on_time = on_time + (NEW.on_time IS 1), complaints = complaints + (NEW.complaint > 0),"
    "  processing_s = processing_s + ifnull(NEW.end_at - NEW.received - NEW.supp_s, 0)"
    "  WHERE day = NEW.day AND unit = ifnull(NEW.unit, '') AND official = ifnull(NEW.official, '');"
    " END;"
    "CREATE TRIGGER IF NOT EXISTS dossiers_rollup_update AFTER UPDATE ON dossiers BEGIN"
    " UPDATE dossier_days SET online = online - (OLD.channel = 2) + (NEW.channel = 2),"
    "  digitized = digitized - (OLD.paper AND OLD.result) + (NEW.paper AND NEW.result),"
    "  reused = reused - (OLD.reused > 0) + (NEW.reused > 0), synced = synced - (OLD.synced > 0) + "
    "(NEW.synced > 0),"
    "  finished = finished - (OLD.end_at IS NOT NULL) + (NEW.end_at IS NOT NULL),"
    "  on_time = on_time - (OLD.on_time IS 1) + (NEW.on_time IS 1),"
    "  complaints = complaints - (OLD.complaint > 0) + (NEW.complaint > 0),"
    "  processing_s = processing_s - ifnull(OLD.end_at - OLD.received - OLD.supp_s, 0)"
    "   + ifnull(NEW.end_at - NEW.received - NEW.supp_s, 0)"
    "  WHERE day = OLD.day AND unit = ifnull(OLD.unit, '') AND official = ifnull(OLD.official, '');"
    " END;"
    "CREATE TABLE IF NOT EXISTS rating_days(day TEXT NOT NULL, unit TEXT NOT NULL, official TEXT "
    "NOT NULL,"
    " level INTEGER NOT NULL, n INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(day, unit, official, "
    "level)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS ratings_rollup_insert AFTER INSERT ON ratings BEGIN"
    " INSERT INTO rating_days(day, unit, official, level, n)"
    "  VALUES(NEW.day, ifnull(NEW.unit, ''), ifnull(NEW.official, ''), NEW.level, 1)"
    "  ON CONFLICT DO UPDATE SET n = n + 1;"
    " END;";

/* ---- time ---------------------------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int parse_date(const char *s, int *y, int *m, int *d)
{
	if (digits(s, 4, y) || s[4] != '-' || digits(s + 5, 2, m) || s[7] != '-' ||
	    digits(s + 8, 2, d))
		return -EINVAL;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (*y < 1970 || *m < 1 || *m > 12 || *d < 1 || *d > mdays[*m - 1])
		return -EINVAL;
	if (*m == 2 && *d == 29 && !((*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0))
		return -EINVAL;
	return 0;
}

int eval_parse_time(const char *s, int64_t *epoch)
{
	int y, mo, d, h = 23, mi = 59, se = 59, off = VN_OFFSET_S;
	if (!s || parse_date(s, &y, &mo, &d))
		return -EINVAL;
	const char *p = s + 10;
	if (*p == 'T' || *p == ' ') {
		if (digits(p + 1, 2, &h) || p[3] != ':' || digits(p + 4, 2, &mi) || h > 23 ||
		    mi > 59)
			return -EINVAL;
		p += 6;
		se = 0;
		if (*p == ':') {
			if (digits(p + 1, 2, &se) || se > 60)
				return -EINVAL;
			p += 3;
		}
		if (*p == '.' || *p == ',') {
			p++;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == 'Z') {
			off = 0;
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;
			if (digits(p + 1, 2, &oh))
				return -EINVAL;
			const char *q = p + 3;
			if (*q == ':')
				q++;
			if (digits(q, 2, &om))
				return -EINVAL;
			off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
			p = q + 2;
		}
	}
	if (*p)
		return -EINVAL;
	*epoch = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
	return 0;
}

void eval_vn_day(int64_t epoch, char *buf)
{
	time_t t = (time_t)(epoch + VN_OFFSET_S);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, 11, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

void eval_now_iso(char *buf, size_t len)
{
	time_t t = time(NULL) + VN_OFFSET_S;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d+07:00", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- the database -------------------------------------------------------------------- */

static int64_t load_last_id(struct eval *ev);

int eval_open(const char *path, struct eval **out, char *message, size_t len)
{
	struct eval *ev = calloc(1, sizeof *ev);
	if (!ev)
		return -ENOMEM;
	int rc = sqlite3_open_v2(path, &ev->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
				 NULL);
	char *err = NULL;
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(ev->db, 5000);
		rc = sqlite3_exec(ev->db, schema, NULL, NULL, &err);
	}
	if (rc != SQLITE_OK) {
		snprintf(message, len,
			 "Không mở được cơ sở dữ liệu chỉ số %s (cannot open the indicator "
			 "database): %s",
			 path, err ? err : sqlite3_errmsg(ev->db));
		sqlite3_free(err);
		eval_close(ev);
		return -EIO;
	}
	for (int i = 0; i < S_COUNT_; i++) {
		if (sqlite3_prepare_v3(ev->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &ev->st[i], NULL) != SQLITE_OK) {
			snprintf(message, len, "eval-stream: SQL %d: %s", i,
				 sqlite3_errmsg(ev->db));
			eval_close(ev);
			return -EIO;
		}
	}
	ev->last_id = load_last_id(ev);
	*out = ev;
	return 0;
}

void eval_close(struct eval *ev)
{
	if (!ev)
		return;
	for (int i = 0; i < S_COUNT_; i++)
		sqlite3_finalize(ev->st[i]);
	sqlite3_close(ev->db);
	free(ev);
}

sqlite3 *eval_db(struct eval *ev)
{
	return ev->db;
}

int64_t eval_last_id(struct eval *ev)
{
	return ev->last_id;
}

static int64_t load_last_id(struct eval *ev)
{
	sqlite3_stmt *st;
	int64_t id = 0;
	if (sqlite3_prepare_v2(ev->db, "SELECT value FROM meta WHERE key = 'last_id'", -1, &st,
			       NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

int eval_begin(struct eval *ev)
{
	return sqlite3_exec(ev->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

int eval_commit(struct eval *ev)
{
	return sqlite3_exec(ev->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

void eval_rollback(struct eval *ev)
{
	sqlite3_exec(ev->db, "ROLLBACK", NULL, NULL, NULL);
	ev->last_id = load_last_id(ev);
}

/* ---- applying events ------------------------------------------------------------------ */

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : NULL;
}

/* An id that may be a JSON string or integer, as text (buf >= 32). */
static const char *jid(json_t *o, const char *key, char *buf)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v)) {
		snprintf(buf, 32, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : NULL;
}

static int jtime(json_t *o, const char *key, int64_t *t)
{
	const char *s = jstr(o, key);
	return s ? eval_parse_time(s, t) : -ENOENT;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_opt_int(sqlite3_stmt *st, int i, int has, int64_t v)
{
	if (has)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static int run(struct eval *ev, enum stmt_id id)
{
	int rc = sqlite3_step(ev->st[id]);
	sqlite3_reset(ev->st[id]);
	sqlite3_clear_bindings(ev->st[id]);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

static int run_code(struct eval *ev, enum stmt_id id, const char *code)
{
	if (!code)
		return 0;
	bind_text(ev->st[id], 1, code);
	return run(ev, id);
}

static int on_dossier_created(struct eval *ev, json_t *j)
{
	const char *code = jstr(j, "code");
	int64_t received, due;
	if (!code)
		return 0;
	if (jtime(j, "received_at", &received) && jtime(j, "at", &received))
		return 0;
	int has_due = jtime(j, "due_at", &due) == 0;
	char day[11], tbuf[32];
	eval_vn_day(received, day);
	const char *ticket = jid(j, "ticket_id", tbuf);
	sqlite3_stmt *st = ev->st[S_DOSSIER_INSERT];
	bind_text(st, 1, code);
	bind_text(st, 2, day);
	sqlite3_bind_int64(st, 3, received);
	bind_opt_int(st, 4, has_due, due);
	sqlite3_bind_int64(st, 5, json_integer_value(json_object_get(j, "channel")));
	bind_text(st, 6, jstr(j, "unit"));
	bind_text(st, 7, jstr(j, "official"));
	bind_text(st, 8, ticket);
	sqlite3_bind_int64(st, 9,
			   json_is_integer(json_object_get(j, "status"))
			       ? json_integer_value(json_object_get(j, "status"))
			       : 1);
	int r = run(ev, S_DOSSIER_INSERT);
	if (r == 0 && ticket && jstr(j, "unit")) {
		bind_text(ev->st[S_TICKET_UNIT], 1, ticket);
		bind_text(ev->st[S_TICKET_UNIT], 2, jstr(j, "unit"));
		r = run(ev, S_TICKET_UNIT);
	}
	return r;
}

static int is_end_status(int s)
{
	return s == 9 || s == 10 || s == 8 || s == 3;
}

static int on_dossier_status(struct eval *ev, json_t *j)
{
	const char *code = jstr(j, "code");
	json_t *sv = json_object_get(j, "status");
	int64_t at;
	if (!code || !json_is_integer(sv) || jtime(j, "at", &at))
		return 0;
	int status = (int)json_integer_value(sv);
	sqlite3_stmt *g = ev->st[S_DOSSIER_GET];
	bind_text(g, 1, code);
	int rc = sqlite3_step(g);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(g);
		return rc == SQLITE_DONE ? 0 : -EIO;
	}
	int has_due = sqlite3_column_type(g, 1) != SQLITE_NULL;
	int64_t due = sqlite3_column_int64(g, 1);
	int has_end = sqlite3_column_type(g, 2) != SQLITE_NULL;
	int64_t end_at = sqlite3_column_int64(g, 2);
	int64_t supp_n = sqlite3_column_int64(g, 3);
	int has_since = sqlite3_column_type(g, 4) != SQLITE_NULL;
	int64_t since = sqlite3_column_int64(g, 4);
	int64_t supp_s = sqlite3_column_int64(g, 5);
	sqlite3_reset(g);

	/* A supplement wait ends with any other status (the citizen's papers
	 * came, or processing stopped while waiting). */
	if (has_since && status != 5) {
		if (at > since)
			supp_s += at - since;
		has_since = 0;
	}
	if (status == 5 && !has_since && !has_end) {
		supp_n++;
		has_since = 1;
		since = at;
	}
	int end_status = 0, on_time = -1;
	if (!has_end && is_end_status(status)) {
		has_end = 1;
		end_at = at;
		end_status = status;
		on_time = supp_n <= 1 && (!has_due || end_at <= due + supp_s);
	}
	sqlite3_stmt *u = ev->st[S_DOSSIER_STATUS];
	bind_text(u, 1, code);
	sqlite3_bind_int(u, 2, status);
	bind_opt_int(u, 3, has_end, end_at);
	/* end_at, end_status and on_time keep what the first end recorded */
	bind_opt_int(u, 4, end_status != 0, end_status);
	bind_opt_int(u, 8, on_time >= 0, on_time);
	sqlite3_bind_int64(u, 5, supp_n);
	bind_opt_int(u, 6, has_since, since);
	sqlite3_bind_int64(u, 7, supp_s);
	return run(ev, S_DOSSIER_STATUS);
}

static int on_ticket(struct eval *ev, const char *type, json_t *j)
{
	char ibuf[32];
	const char *id = jid(j, "id", ibuf);
	if (!id)
		return 0;
	if (!strcmp(type, "ticket.issued")) {
		int64_t issued;
		if (jtime(j, "issued_at", &issued) && jtime(j, "at", &issued))
			return 0;
		char day[11];
		eval_vn_day(issued, day);
		sqlite3_stmt *st = ev->st[S_TICKET_ISSUED];
		bind_text(st, 1, id);
		bind_text(st, 2, day);
		sqlite3_bind_int64(st, 3, issued);
		return run(ev, S_TICKET_ISSUED);
	}
	if (!strcmp(type, "ticket.called")) {
		int64_t called, issued;
		if (jtime(j, "called_at", &called) && jtime(j, "at", &called))
			return 0;
		json_t *w = json_object_get(j, "waited_s");
		int64_t waited = json_is_number(w) ? (int64_t)llround(json_number_value(w))
				 : jtime(j, "issued_at", &issued) == 0 ? called - issued
								       : -1;
		sqlite3_stmt *st = ev->st[S_TICKET_CALLED];
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, called);
		bind_opt_int(st, 3, waited >= 0, waited);
		char cbuf[32];
		bind_text(st, 4, jid(j, "counter", cbuf));
		bind_text(st, 5, jstr(j, "official"));
		return run(ev, S_TICKET_CALLED);
	}
	if (!strcmp(type, "ticket.done")) {
		int64_t done;
		if (jtime(j, "done_at", &done) && jtime(j, "at", &done))
			return 0;
		json_t *s = json_object_get(j, "served_s");
		sqlite3_stmt *st = ev->st[S_TICKET_DONE];
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, done);
		bind_opt_int(st, 3, json_is_number(s),
			     json_is_number(s) ? (int64_t)llround(json_number_value(s)) : 0);
		bind_text(st, 4, jstr(j, "official"));
		return run(ev, S_TICKET_DONE);
	}
	return 0;
}

static int on_rating(struct eval *ev, json_t *j)
{
	char ibuf[32], tbuf[32];
	const char *id = jid(j, "id", ibuf);
	json_t *lv = json_object_get(j, "level");
	int64_t at;
	if (!id || !json_is_integer(lv) || json_integer_value(lv) < 1 ||
	    json_integer_value(lv) > 3 || jtime(j, "at", &at))
		return 0;
	char day[11];
	eval_vn_day(at, day);
	const char *dossier = jstr(j, "dossier_code");
	const char *ticket = jid(j, "ticket_id", tbuf);
	sqlite3_stmt *st = ev->st[S_RATING_INSERT];
	bind_text(st, 1, id);
	bind_text(st, 2, day);
	bind_text(st, 3, dossier);
	bind_text(st, 4, ticket);
	sqlite3_bind_int64(st, 5, json_integer_value(lv));
	bind_text(st, 6, jstr(j, "official"));
	bind_text(st, 7, jstr(j, "unit"));
	int r = run(ev, S_RATING_INSERT);
	if (r == 0 && json_integer_value(lv) == 3) {
		if (dossier)
			r = run_code(ev, S_COMPLAINT_DOSSIER, dossier);
		else if (ticket)
			r = run_code(ev, S_COMPLAINT_TICKET, ticket);
	}
	return r;
}

int eval_apply(struct eval *ev, int64_t id, const char *type, const char *json, size_t json_len,
	       const char *sync_destination)
{
	if (id <= eval_last_id(ev))
		return 1;
	int r = 0;
	json_t *j = json_loadb(json, json_len, 0, NULL);
	if (json_is_object(j) && type) {
		if (!strcmp(type, "dossier.created")) {
			r = on_dossier_created(ev, j);
		} else if (!strcmp(type, "dossier.status")) {
			r = on_dossier_status(ev, j);
		} else if (!strcmp(type, "document.done")) {
			const char *dt = jstr(j, "document_type");
			r = run_code(ev, dt && !strcmp(dt, "ket-qua") ? S_DOC_RESULT : S_DOC_PAPER,
				     jstr(j, "dossier_code"));
		} else if (!strcmp(type, "document.reused")) {
			r = run_code(ev, S_DOC_REUSED, jstr(j, "dossier_code"));
		} else if (!strcmp(type, "outbox.delivered")) {
			const char *dest = jstr(j, "destination");
			if (dest && !strcmp(dest, sync_destination ? sync_destination
								   : DEFAULT_SYNC_DESTINATION))
				r = run_code(ev, S_SYNCED, jstr(j, "dossier_code"));
		} else if (!strncmp(type, "ticket.", 7)) {
			r = on_ticket(ev, type, j);
		} else if (!strcmp(type, "rating.added")) {
			r = on_rating(ev, j);
		}
	}
	json_decref(j);
	if (r)
		return r;
	sqlite3_bind_int64(ev->st[S_LAST_SET], 1, id);
	r = run(ev, S_LAST_SET);
	if (r == 0)
		ev->last_id = id;
	return r;
}

/* ---- the indicators ------------------------------------------------------------------- */

struct group {
	char *key; /* NULL: no unit / official known */
	int64_t dossiers, online, digitized, reused, synced, finished, on_time, complaints;
	double processing_s;
	int64_t tickets, ratings[3];
	int64_t *waits;
	size_t n_waits, cap_waits;
};

struct groups {
	struct group *g;
	size_t n, cap;
};

static struct group *group_get(struct groups *gs, const char *key)
{
	for (size_t i = 0; i < gs->n; i++)
		if ((!key && !gs->g[i].key) || (key && gs->g[i].key && !strcmp(key, gs->g[i].key)))
			return &gs->g[i];
	if (gs->n == gs->cap) {
		size_t cap = gs->cap ? gs->cap * 2 : 16;
		struct group *n = realloc(gs->g, cap * sizeof *n);
		if (!n)
			return NULL;
		gs->g = n;
		gs->cap = cap;
	}
	struct group *g = &gs->g[gs->n++];
	memset(g, 0, sizeof *g);
	g->key = key ? strdup(key) : NULL;
	return g;
}

static int group_cmp(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (!x->key || !y->key)
		return !x->key - !y->key;
	return strcmp(x->key, y->key);
}

static double round2(double x)
{
	return round(x * 100.0) / 100.0;
}

static json_t *rate(int64_t num, int64_t den)
{
	return den ? json_real(round2(100.0 * (double)num / (double)den)) : json_null();
}

static int valid_day(const char *s)
{
	int y, m, d;
	return strlen(s) == 10 && parse_date(s, &y, &m, &d) == 0;
}

int eval_query(struct eval *ev, const char *from, const char *to, const char *by, char **json,
	       char *message, size_t len)
{
	char today[11];
	eval_vn_day((int64_t)time(NULL), today);
	if (from && !*from)
		from = NULL;
	if (to && !*to)
		to = NULL;
	if (by && !*by)
		by = NULL;
	if (from && !valid_day(from)) {
		snprintf(message, len,
			 "Tham số from không hợp lệ: cần ngày YYYY-MM-DD (from must be a date "
			 "YYYY-MM-DD): %s",
			 from);
		return -EINVAL;
	}
	if (to && !valid_day(to)) {
		snprintf(message, len,
			 "Tham số to không hợp lệ: cần ngày YYYY-MM-DD (to must be a date "
			 "YYYY-MM-DD): %s",
			 to);
		return -EINVAL;
	}
	if (!from)
		from = to ? to : today;
	if (!to)
		to = strcmp(from, today) > 0 ? from : today;
	if (strcmp(from, to) > 0) {
		snprintf(message, len,
			 "Khoảng thời gian không hợp lệ: from (%s) sau to (%s) (from is after to)",
			 from, to);
		return -EINVAL;
	}
	if (!by)
		by = "office";
	const char *dcol, *tcol, *rcol;
	if (!strcmp(by, "office")) {
		dcol = tcol = rcol = "'office'";
	} else if (!strcmp(by, "unit")) {
		dcol = rcol = "nullif(unit, '')";
		tcol = "unit";
	} else if (!strcmp(by, "official")) {
		dcol = rcol = "nullif(official, '')";
		tcol = "official";
	} else {
		snprintf(message, len,
			 "Tham số by không hợp lệ: office, unit hoặc official (by must be office, "
			 "unit or official): %s",
			 by);
		return -EINVAL;
	}

	struct groups gs = {0};
	if (!strcmp(by, "office"))
		group_get(&gs, "office");
	char sql[1024];
	sqlite3_stmt *st;
	int r = 0;

	snprintf(sql, sizeof sql,
		 "SELECT %s, sum(n), sum(online), sum(digitized), sum(reused), sum(synced), "
		 "sum(finished), sum(on_time),"
		 " sum(complaints), total(processing_s) FROM dossier_days WHERE day BETWEEN ?1 AND "
		 "?2 GROUP BY 1",
		 dcol);
	if (sqlite3_prepare_v2(ev->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto db_error;
	sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct group *g = group_get(&gs, (const char *)sqlite3_column_text(st, 0));
		if (!g) {
			r = -ENOMEM;
			break;
		}
		g->dossiers = sqlite3_column_int64(st, 1);
		g->online = sqlite3_column_int64(st, 2);
		g->digitized = sqlite3_column_int64(st, 3);
		g->reused = sqlite3_column_int64(st, 4);
		g->synced = sqlite3_column_int64(st, 5);
		g->finished = sqlite3_column_int64(st, 6);
		g->on_time = sqlite3_column_int64(st, 7);
		g->complaints = sqlite3_column_int64(st, 8);
		g->processing_s = sqlite3_column_double(st, 9);
	}
	sqlite3_finalize(st);

	snprintf(sql, sizeof sql,
		 "SELECT %s, waited_s FROM tickets WHERE day BETWEEN ?1 AND ?2 ORDER BY 1, "
		 "waited_s IS NULL, waited_s",
		 tcol);
	if (r || sqlite3_prepare_v2(ev->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto db_error;
	sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
	struct group *g = NULL;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		if (!g || !((!k && !g->key) || (k && g->key && !strcmp(k, g->key))))
			g = group_get(&gs, k);
		if (!g) {
			r = -ENOMEM;
			break;
		}
		g->tickets++;
		if (sqlite3_column_type(st, 1) == SQLITE_NULL)
			continue;
		if (g->n_waits == g->cap_waits) {
			size_t cap = g->cap_waits ? g->cap_waits * 2 : 64;
			int64_t *n = realloc(g->waits, cap * sizeof *n);
			if (!n) {
				r = -ENOMEM;
				break;
			}
			g->waits = n;
			g->cap_waits = cap;
		}
		g->waits[g->n_waits++] = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);

	snprintf(
	    sql, sizeof sql,
	    "SELECT %s, level, sum(n) FROM rating_days WHERE day BETWEEN ?1 AND ?2 GROUP BY 1, 2",
	    rcol);
	if (r || sqlite3_prepare_v2(ev->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto db_error;
	sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		g = group_get(&gs, (const char *)sqlite3_column_text(st, 0));
		int lv = sqlite3_column_int(st, 1);
		if (g && lv >= 1 && lv <= 3)
			g->ratings[lv - 1] += sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);

	qsort(gs.g, gs.n, sizeof *gs.g, group_cmp);
	json_t *out = json_object(), *arr = json_array();
	json_object_set_new(out, "from", json_string(from));
	json_object_set_new(out, "to", json_string(to));
	json_object_set_new(out, "by", json_string(by));
	for (size_t i = 0; i < gs.n; i++) {
		g = &gs.g[i];
		json_t *o = json_object();
		json_object_set_new(o, "key", g->key ? json_string(g->key) : json_null());
		json_object_set_new(o, "dossiers", json_integer(g->dossiers));
		json_object_set_new(o, "tickets", json_integer(g->tickets));
		json_object_set_new(o, "tickets_called", json_integer((json_int_t)g->n_waits));
		if (g->n_waits) {
			double sum = 0;
			for (size_t k = 0; k < g->n_waits; k++)
				sum += (double)g->waits[k];
			double avg = sum / (double)g->n_waits;
			/* nearest rank: the smallest wait with at least 90% of waits <= it */
			size_t rank = (size_t)ceil(0.9 * (double)g->n_waits);
			int64_t p90 = g->waits[rank ? rank - 1 : 0];
			json_object_set_new(o, "waiting_avg_s", json_real(round2(avg)));
			json_object_set_new(o, "waiting_p90_s", json_integer(p90));
			json_object_set_new(o, "waiting_avg_min", json_real(round2(avg / 60.0)));
			json_object_set_new(o, "waiting_p90_min",
					    json_real(round2((double)p90 / 60.0)));
		} else {
			json_object_set_new(o, "waiting_avg_s", json_null());
			json_object_set_new(o, "waiting_p90_s", json_null());
			json_object_set_new(o, "waiting_avg_min", json_null());
			json_object_set_new(o, "waiting_p90_min", json_null());
		}
		json_object_set_new(o, "finished", json_integer(g->finished));
		json_object_set_new(o, "on_time", json_integer(g->on_time));
		json_object_set_new(o, "on_time_rate", rate(g->on_time, g->finished));
		json_object_set_new(
		    o, "processing_avg_h",
		    g->finished ? json_real(round2(g->processing_s / (double)g->finished / 3600.0))
				: json_null());
		json_object_set_new(o, "online_rate", rate(g->online, g->dossiers));
		json_object_set_new(o, "digitization_rate", rate(g->digitized, g->dossiers));
		json_object_set_new(o, "reuse_rate", rate(g->reused, g->dossiers));
		json_object_set_new(o, "sync_rate", rate(g->synced, g->dossiers));
		json_object_set_new(o, "complaints", json_integer(g->complaints));
		if (g->dossiers) {
			double late = g->finished ? 100.0 * (double)(g->finished - g->on_time) /
							(double)g->finished
						  : 0.0;
			double compl = 100.0 * (double)g->complaints / (double)g->dossiers;
			double s = 100.0 - (late + compl );
			json_object_set_new(o, "satisfaction", json_real(round2(s < 0 ? 0 : s)));
		} else {
			json_object_set_new(o, "satisfaction", json_null());
		}
		json_object_set_new(o, "ratings",
				    json_pack("{s:I, s:I, s:I}", "1", (json_int_t)g->ratings[0],
					      "2", (json_int_t)g->ratings[1], "3",
					      (json_int_t)g->ratings[2]));
		json_array_append_new(arr, o);
	}
	json_object_set_new(out, "groups", arr);
	json_object_set_new(out, "targets",
			    json_pack("{s:i, s:i, s:i, s:i, s:i}", "waiting_avg_min", 30,
				      "satisfaction", 70, "digitization_rate", 80, "reuse_rate", 80,
				      "sync_rate", 100));
	*json = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(out);
	for (size_t i = 0; i < gs.n; i++) {
		free(gs.g[i].key);
		free(gs.g[i].waits);
	}
	free(gs.g);
	return *json ? 0 : -ENOMEM;

db_error:
	for (size_t i = 0; i < gs.n; i++) {
		free(gs.g[i].key);
		free(gs.g[i].waits);
	}
	free(gs.g);
	snprintf(message, len, "Lỗi cơ sở dữ liệu chỉ số (indicator database error): %s",
		 sqlite3_errmsg(ev->db));
	return r ? r : -EIO;
}

int eval_report(const char *db_path, const char *from, const char *to, const char *by, char **json)
{
	struct eval ev = {0};
	char message[512];
	if (sqlite3_open_v2(db_path, &ev.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "eval_report: cannot open %s: %s\n", db_path,
			sqlite3_errmsg(ev.db));
		sqlite3_close(ev.db);
		return -ENOENT;
	}
	sqlite3_busy_timeout(ev.db, 5000);
	int r = eval_query(&ev, from, to, by, json, message, sizeof message);
	if (r)
		fprintf(stderr, "eval_report: %s\n", message);
	sqlite3_close(ev.db);
	return r;
}
