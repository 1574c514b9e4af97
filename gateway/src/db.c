/* SPDX-License-Identifier: MIT */
/* The state store: one SQLite file in WAL mode with synchronous=FULL, so a
 * committed transaction survives a power cut. Only the loop thread uses it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "util.h"

static const char *const schema[] = {
    /* version 1 */
    "CREATE TABLE day_seq(day TEXT PRIMARY KEY, last INTEGER NOT NULL);"
    "CREATE TABLE dossiers("
    "  code TEXT PRIMARY KEY, procedure_code TEXT NOT NULL, procedure_name TEXT,"
    "  applicant_name TEXT NOT NULL, applicant_id TEXT NOT NULL, applicant_phone TEXT,"
    "  channel INTEGER NOT NULL, status INTEGER NOT NULL, received_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL, created_by TEXT);"
    "CREATE INDEX dossiers_received ON dossiers(received_at);"
    "CREATE INDEX dossiers_status ON dossiers(status, received_at);"
    "CREATE TABLE documents("
    "  id TEXT PRIMARY KEY, dossier_code TEXT NOT NULL REFERENCES dossiers(code),"
    "  name TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,"
    "  original_sha TEXT NOT NULL, current_sha TEXT NOT NULL, current_media_type TEXT NOT NULL,"
    "  state TEXT NOT NULL, reason TEXT, created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL, created_by TEXT);"
    "CREATE INDEX documents_dossier ON documents(dossier_code, created_at);"
    "CREATE INDEX documents_state ON documents(state);"
    /* One job per document and step: the unit the pipeline resumes. */
    "CREATE TABLE jobs("
    "  document_id TEXT NOT NULL REFERENCES documents(id), step INTEGER NOT NULL,"
    "  state TEXT NOT NULL, plugin TEXT, input_sha TEXT, output_sha TEXT,"
    "  output_media_type TEXT, message TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
    "  not_before INTEGER NOT NULL DEFAULT 0, started_at INTEGER, finished_at INTEGER,"
    "  PRIMARY KEY(document_id, step));"
    "CREATE INDEX jobs_state ON jobs(state, not_before);"
    "CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,"
    "  type TEXT NOT NULL, payload TEXT NOT NULL);"
    "CREATE TABLE tokens(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
    "  role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER);",
    /* version 2: pages of a document (scans, images), and what steps say
     * about a document (OCR text, confidence, fields) */
    "CREATE TABLE pages("
    "  document_id TEXT NOT NULL REFERENCES documents(id), page_no INTEGER NOT NULL,"
    "  sha TEXT NOT NULL, media_type TEXT NOT NULL, state TEXT NOT NULL,"
    "  plugin TEXT, output_sha TEXT, meta TEXT, message TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, finished_at INTEGER,"
    "  PRIMARY KEY(document_id, page_no));"
    "CREATE INDEX pages_state ON pages(state);"
    "ALTER TABLE documents ADD COLUMN meta TEXT;",
    /* version 3: the document type the clerk gave, reuse of an archived
     * item, a companion file (detached signature), and steps that run again
     * later on their original input (a signature waiting for its timestamp) */
    "ALTER TABLE documents ADD COLUMN doc_type TEXT;"
    "ALTER TABLE documents ADD COLUMN reused_from TEXT;"
    "ALTER TABLE documents ADD COLUMN sidecar_sha TEXT;"
    "ALTER TABLE documents ADD COLUMN sidecar_media_type TEXT;"
    "ALTER TABLE jobs ADD COLUMN input_media_type TEXT;"
    "ALTER TABLE jobs ADD COLUMN sidecar_sha TEXT;"
    "ALTER TABLE jobs ADD COLUMN again_at INTEGER;"
    "CREATE INDEX jobs_again ON jobs(again_at) WHERE again_at IS NOT NULL;",
    /* version 4: the outbox, one row per dossier change and destination */
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  destination TEXT NOT NULL, dossier_code TEXT NOT NULL, event_id INTEGER NOT NULL,"
    "  event_type TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE, event TEXT NOT NULL,"
    "  dossier TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT, peer_ref TEXT,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, delivered_at INTEGER);"
    "CREATE INDEX outbox_order ON outbox(destination, dossier_code, id);"
    "CREATE INDEX outbox_due ON outbox(state, next_attempt_at);",
    /* version 5: the counter's moments: promised return date, unit and
     * ticket of a dossier; queue tickets; citizens' ratings */
    "ALTER TABLE dossiers ADD COLUMN due_at INTEGER;"
    "ALTER TABLE dossiers ADD COLUMN unit TEXT;"
    "ALTER TABLE dossiers ADD COLUMN ticket_id INTEGER;"
    "CREATE TABLE tickets(id INTEGER PRIMARY KEY AUTOINCREMENT, day TEXT NOT NULL, number INTEGER "
    "NOT NULL,"
    "  service TEXT, state TEXT NOT NULL, issued_at INTEGER NOT NULL, issued_by TEXT, called_at "
    "INTEGER,"
    "  counter TEXT, official TEXT, done_at INTEGER, UNIQUE(day, number));"
    "CREATE INDEX tickets_waiting ON tickets(day, state, number);"
    "CREATE TABLE ratings(id INTEGER PRIMARY KEY AUTOINCREMENT, dossier_code TEXT UNIQUE,"
    "  ticket_id INTEGER UNIQUE, level INTEGER NOT NULL, criteria TEXT, comment TEXT,"
    "  created_at INTEGER NOT NULL, created_by TEXT);",
    /* version 6: no route job any more (delivery is the outbox's); a
     * document that waited only for it is finished at the next start */
    "DELETE FROM jobs WHERE step = 4;",
    /* version 7: the station. Officials' accounts and their signed-in
     * sessions (a session is a bearer token like a machine token, its
     * SHA-256 kept); the applicant's address and email, for the receipt; the
     * citizen's lookup key ("mã tra cứu"), printed on the receipt. */
    "CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL, role TEXT NOT NULL, unit TEXT NOT NULL, counter TEXT,"
    "  hash TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  disabled_at INTEGER);"
    "CREATE TABLE sessions(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  user_id INTEGER NOT NULL REFERENCES users(id), hash TEXT NOT NULL UNIQUE,"
    "  client TEXT, counter TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    "  ended_at INTEGER);"
    "CREATE INDEX sessions_open ON sessions(expires_at) WHERE ended_at IS NULL;"
    "ALTER TABLE dossiers ADD COLUMN applicant_address TEXT;"
    "ALTER TABLE dossiers ADD COLUMN applicant_email TEXT;"
    "ALTER TABLE dossiers ADD COLUMN lookup_key TEXT;"
    "UPDATE dossiers SET lookup_key = upper(hex(randomblob(4)));",
    /* version 8: the queue as counters run it. A ticket's priority, recalls,
     * service start and place in the queue (first_id: the ticket the citizen
     * first took, when this one was made by a transfer to another service;
     * it keeps that place and number, so the number is unique only among
     * tickets not made by a transfer); the order of calls (call_no: first
     * calls, for the priority rule; call_seq: every call and recall, for the
     * display). Ratings name their official, counter and rating session; a
     * counter's rating sessions. */
    "CREATE TABLE tickets_v8(id INTEGER PRIMARY KEY AUTOINCREMENT, day TEXT NOT NULL,"
    "  number INTEGER NOT NULL, service TEXT, state TEXT NOT NULL, issued_at INTEGER NOT NULL,"
    "  issued_by TEXT, called_at INTEGER, counter TEXT, official TEXT, done_at INTEGER,"
    "  priority TEXT, recalls INTEGER NOT NULL DEFAULT 0, started_at INTEGER,"
    "  first_id INTEGER, call_no INTEGER, call_seq INTEGER, last_called_at INTEGER,"
    "  transferred_to INTEGER, transferred_from INTEGER);"
    "INSERT INTO tickets_v8(id, day, number, service, state, issued_at, issued_by, called_at,"
    "  counter, official, done_at, call_no, call_seq, last_called_at)"
    " SELECT id, day, number, service, state, issued_at, issued_by, called_at, counter,"
    "  official, done_at, CASE WHEN called_at IS NOT NULL THEN id END,"
    "  CASE WHEN called_at IS NOT NULL THEN id END, called_at FROM tickets;"
    "DROP TABLE tickets;"
    "ALTER TABLE tickets_v8 RENAME TO tickets;"
    "CREATE UNIQUE INDEX tickets_number ON tickets(day, number) WHERE transferred_from IS NULL;"
    "CREATE INDEX tickets_waiting ON tickets(day, state);"
    "CREATE INDEX tickets_calls ON tickets(day, call_seq) WHERE call_seq IS NOT NULL;"
    "ALTER TABLE ratings ADD COLUMN official TEXT;"
    "ALTER TABLE ratings ADD COLUMN counter TEXT;"
    "ALTER TABLE ratings ADD COLUMN session_id INTEGER;"
    "CREATE TABLE rating_sessions(id INTEGER PRIMARY KEY AUTOINCREMENT, counter TEXT NOT NULL,"
    "  ticket_id INTEGER, dossier_code TEXT, official TEXT, unit TEXT,"
    "  opened_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, closed_at INTEGER,"
    "  close_reason TEXT, rating_id INTEGER);"
    "CREATE INDEX rating_sessions_open ON rating_sessions(counter) WHERE closed_at IS NULL;",
    /* version 9: counting limits (ratelimit.h): failed sign-ins per account
     * and per client address, lookups per address; kept so that a restart
     * does not lift a lock */
    "CREATE TABLE limits(scope TEXT NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL,"
    "  window_start INTEGER NOT NULL, locked_until INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(scope, key));",
    /* version 10: the paper of its procedure ("thành phần hồ sơ", [office]
     * procedures) that a document is; NULL: not assigned */
    "ALTER TABLE documents ADD COLUMN paper TEXT;",
    /* version 11: the review gate. A document received while [station]
     * review is on waits after recognition for the clerk (review = 1) until
     * confirmed (reviewed_at, reviewed_by); a page turned by the clerk keeps
     * its image as scanned (scanned_sha) and the turn (rotation, degrees
     * clockwise); page thumbnails are cached by image and turn. */
    "ALTER TABLE documents ADD COLUMN review INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE documents ADD COLUMN reviewed_at INTEGER;"
    "ALTER TABLE documents ADD COLUMN reviewed_by TEXT;"
    "ALTER TABLE pages ADD COLUMN scanned_sha TEXT;"
    "ALTER TABLE pages ADD COLUMN rotation INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE thumbnails(sha TEXT NOT NULL, turn INTEGER NOT NULL, thumb_sha TEXT NOT NULL,"
    "  width INTEGER NOT NULL, height INTEGER NOT NULL, PRIMARY KEY(sha, turn));",
};

int db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		log_error("database: %s (in: %.80s)", msg ? msg : sqlite3_errstr(rc), sql);
		sqlite3_free(msg);
		return rc == SQLITE_BUSY ? -EBUSY : -EIO;
	}
	return 0;
}

sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_error("database: cannot prepare: %s (in: %.80s)", sqlite3_errmsg(db), sql);
		return NULL;
	}
	return st;
}

int db_begin(sqlite3 *db)
{
	return db_exec(db, "BEGIN IMMEDIATE");
}

int db_commit(sqlite3 *db)
{
	return db_exec(db, "COMMIT");
}

void db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st = db_prepare(db, "PRAGMA user_version");
	int v = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

sqlite3 *db_open(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(
	    path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	if (db_exec(db,
		    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") <
	    0) {
		snprintf(err, errlen, "%s: cannot set WAL mode: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	int v = user_version(db);
	int target = (int)(sizeof schema / sizeof schema[0]);
	if (v < 0 || v > target) {
		snprintf(err, errlen, "%s: schema version %d is newer than this gateway knows (%d)",
			 path, v, target);
		sqlite3_close(db);
		return NULL;
	}
	for (; v < target; v++) {
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d;", v + 1);
		if (db_begin(db) < 0 || db_exec(db, schema[v]) < 0 || db_exec(db, pragma) < 0 ||
		    db_commit(db) < 0) {
			db_rollback(db);
			snprintf(err, errlen, "%s: cannot create the schema (version %d)", path,
				 v + 1);
			sqlite3_close(db);
			return NULL;
		}
	}
	return db;
}

void db_close(sqlite3 *db)
{
	if (db)
		sqlite3_close(db);
}

int db_stmts_prepare(struct db_stmts *s, sqlite3 *db, const char *const *sql, size_t n)
{
	s->db = db;
	s->sql = sql;
	s->n = n;
	s->st = calloc(n, sizeof *s->st);
	if (!s->st)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
				       NULL) != SQLITE_OK) {
			log_error("database: cannot prepare: %s (in: %.80s)", sqlite3_errmsg(db),
				  sql[i]);
			db_stmts_finalize(s);
			return -EIO;
		}
	}
	return 0;
}

sqlite3_stmt *db_stmt(struct db_stmts *s, size_t i)
{
	if (!s->st || i >= s->n)
		return NULL;
	sqlite3_reset(s->st[i]);
	sqlite3_clear_bindings(s->st[i]);
	return s->st[i];
}

void db_stmts_finalize(struct db_stmts *s)
{
	for (size_t i = 0; s->st && i < s->n; i++)
		sqlite3_finalize(s->st[i]);
	free(s->st);
	s->st = NULL;
	s->n = 0;
}

const char *db_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

json_t *db_json_text(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_string(db_text(st, col));
}

json_t *db_json_time(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	char buf[32];
	time_iso_vn(sqlite3_column_int64(st, col), buf);
	return json_string(buf);
}

json_t *db_json_int(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, col));
}
