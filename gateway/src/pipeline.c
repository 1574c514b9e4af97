/* SPDX-License-Identifier: MIT */
/* Dossiers, their documents, and the durable pipeline that takes each document
 * through capture -> recognize -> sign -> archive -> route.
 *
 * One row in `jobs` per document and step is the unit of work. A job's output
 * is made durable in the store (store_commit_file) on a worker thread before
 * the loop marks the job done in a transaction, so after a crash at any point
 * the job is either done with its output safe, or still pending/running and is
 * run again from the same input. Steps must be deterministic for that. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway.h"

#define MAX_INTERRUPTED_ATTEMPTS 5
#define RETRY_MAX_S 3600
#define AGAIN_MAX_S (7 * 86400) /* a step asking to run again waits at most a week */

struct pipeline {
	struct gateway *gw;
	struct event *run_ev;
	struct event *retry_ev;
	unsigned in_flight;
	bool started, stopping;
};

static const char *const step_names[MOTCUA_STEP_COUNT_] = {
	"capture", "recognize", "sign", "archive", "route",
};

const char *step_name(enum motcua_step step)
{
	return (unsigned)step < MOTCUA_STEP_COUNT_ ? step_names[step] : "?";
}

static void on_run(evutil_socket_t fd, short what, void *arg);

struct pipeline *pipeline_new(struct gateway *gw)
{
	struct pipeline *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->gw = gw;
	p->run_ev = event_new(gw->base, -1, 0, on_run, p);
	p->retry_ev = event_new(gw->base, -1, 0, on_run, p);
	if (!p->run_ev || !p->retry_ev) {
		pipeline_free(p);
		return NULL;
	}
	return p;
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	if (p->run_ev)
		event_free(p->run_ev);
	if (p->retry_ev)
		event_free(p->retry_ev);
	free(p);
}

void pipeline_kick(struct pipeline *p)
{
	if (p->started && !p->stopping)
		event_active(p->run_ev, 0, 0);
}

void pipeline_start(struct pipeline *p)
{
	sqlite3 *db = p->gw->db;
	/* Jobs that were running when we stopped (or crashed) run again, unless
	 * they keep killing us. */
	if (db_begin(db) == 0) {
		sqlite3_stmt *st = db_prepare(db,
					      "SELECT j.document_id, j.step, j.attempts, d.dossier_code "
					      "FROM jobs j JOIN documents d ON d.id = j.document_id "
					      "WHERE j.state = 'running'");
		int resumed = 0;
		while (st && sqlite3_step(st) == SQLITE_ROW) {
			const char *doc = (const char *)sqlite3_column_text(st, 0);
			int step = sqlite3_column_int(st, 1), attempts = sqlite3_column_int(st, 2);
			sqlite3_stmt *up;
			/* A scan can't be resumed: the papers went through the feeder.
			 * The pages that arrived are kept. */
			if (step == MOTCUA_STEP_CAPTURE || attempts >= MAX_INTERRUPTED_ATTEMPTS) {
				char reason[160];
				if (step == MOTCUA_STEP_CAPTURE)
					snprintf(reason, sizeof reason,
						 "capture: the gateway stopped during the scan; the pages "
						 "scanned before are kept, scan the rest again");
				else
					snprintf(reason, sizeof reason,
						 "%s: interrupted %d times (the gateway stopped while it ran)",
						 step_name(step), attempts);
				up = db_prepare(db, "UPDATE jobs SET state = 'failed', message = ?3 "
						    "WHERE document_id = ?1 AND step = ?2");
				sqlite3_stmt *d = db_prepare(db, "UPDATE documents SET state = 'failed', "
								 "reason = ?2 WHERE id = ?1");
				if (d) {
					sqlite3_bind_text(d, 1, doc, -1, SQLITE_TRANSIENT);
					sqlite3_bind_text(d, 2, reason, -1, SQLITE_TRANSIENT);
					sqlite3_step(d);
					sqlite3_finalize(d);
				}
				if (up)
					sqlite3_bind_text(up, 3, reason, -1, SQLITE_TRANSIENT);
				log_warning("pipeline: document %s failed: %s", doc, reason);
			} else {
				up = db_prepare(db, "UPDATE jobs SET state = 'pending' "
						    "WHERE document_id = ?1 AND step = ?2");
				resumed++;
			}
			if (up) {
				sqlite3_bind_text(up, 1, doc, -1, SQLITE_TRANSIENT);
				sqlite3_bind_int(up, 2, step);
				sqlite3_step(up);
				sqlite3_finalize(up);
			}
		}
		sqlite3_finalize(st);
		db_exec(db, "UPDATE pages SET state = 'captured' WHERE state = 'running'");
		/* Steps held for a plugin that did not start: try again now. */
		db_exec(db, "UPDATE jobs SET not_before = 0 WHERE state = 'pending' AND message LIKE 'held:%'");
		if (db_commit(db) < 0)
			db_rollback(db);
		st = db_prepare(db, "SELECT COUNT(*) FROM documents WHERE state IN ('queued', 'processing')");
		if (st && sqlite3_step(st) == SQLITE_ROW)
			log_info("pipeline: %d unfinished documents, %d interrupted steps resumed",
				 sqlite3_column_int(st, 0), resumed);
		sqlite3_finalize(st);
	}
	p->started = true;
	pipeline_kick(p);
}

void pipeline_stop(struct pipeline *p)
{
	p->stopping = true;
	event_del(p->retry_ev);
}

/* ---- dossiers ---- */

json_t *dossier_create(struct pipeline *p, const struct dossier_new *d, int *err)
{
	sqlite3 *db = p->gw->db;
	int64_t now = time_now();
	char day[8], code[96], received[32];
	time_yymmdd_vn(now, day);
	time_iso_vn(now, received);
	*err = -EIO;
	if (db_begin(db) < 0)
		return NULL;
	/* The day's sequence and the dossier are one transaction: codes are unique
	 * and have no gaps, even if we crash in between. */
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO day_seq(day, last) VALUES(?1, 1) "
					  "ON CONFLICT(day) DO UPDATE SET last = last + 1 RETURNING last");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
	int64_t seq = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	if (seq < 1)
		goto fail;
	snprintf(code, sizeof code, "%s-%s-%04lld", p->gw->settings.agency_code, day, (long long)seq);

	/* The promised return date: the procedure's legal processing time in
	 * working days (given, or from [office] procedures). */
	int days = d->processing_days;
	const char *unit = d->unit, *cal_unit = NULL;
	int cal_days;
	if (calendar_procedure(p->gw->calendar, d->procedure_code, &cal_days, &cal_unit)) {
		if (days < 0)
			days = cal_days;
		if (!unit)
			unit = cal_unit;
	}
	int64_t due = days >= 0 ? calendar_due(p->gw->calendar, now, days) : 0;
	char due_iso[32] = "";
	if (due)
		time_iso_vn(due, due_iso);
	st = db_prepare(db, "INSERT INTO dossiers(code, procedure_code, procedure_name, applicant_name,"
			    " applicant_id, applicant_phone, channel, status, received_at, updated_at,"
			    " created_by, due_at, unit, ticket_id) VALUES(?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->procedure_code, -1, SQLITE_TRANSIENT);
	if (d->procedure_name)
		sqlite3_bind_text(st, 3, d->procedure_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, d->applicant_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, d->applicant_id, -1, SQLITE_TRANSIENT);
	if (d->applicant_phone)
		sqlite3_bind_text(st, 6, d->applicant_phone, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 7, d->channel);
	sqlite3_bind_int64(st, 8, now);
	sqlite3_bind_int64(st, 9, now);
	sqlite3_bind_text(st, 10, d->created_by, -1, SQLITE_TRANSIENT);
	if (due)
		sqlite3_bind_int64(st, 11, due);
	sqlite3_bind_text(st, 12, unit, -1, SQLITE_TRANSIENT);
	if (d->ticket_id)
		sqlite3_bind_int64(st, 13, d->ticket_id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	json_t *ev = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s?, s:s?, s:s?}", "code", code, "procedure_code",
			       d->procedure_code, "channel", d->channel, "status", 1, "received_at", received,
			       "due_at", due ? due_iso : NULL, "unit", unit, "official", d->created_by);
	if (ev)
		json_object_set_new(ev, "ticket_id", d->ticket_id ? json_integer(d->ticket_id) : json_null());
	if (events_publish(p->gw->events, "dossier.created", ev) < 0)
		goto fail;
	if (db_commit(db) < 0)
		goto fail;
	*err = 0;
	return dossier_get(p, code);
fail:
	db_rollback(db);
	return NULL;
}

bool dossier_exists(struct pipeline *p, const char *code)
{
	sqlite3_stmt *st = db_prepare(p->gw->db, "SELECT 1 FROM dossiers WHERE code = ?");
	if (!st)
		return false;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	bool ok = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return ok;
}

static json_t *text_or_null(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_string((const char *)sqlite3_column_text(st, col));
}

static json_t *time_or_null(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	char buf[32];
	time_iso_vn(sqlite3_column_int64(st, col), buf);
	return json_string(buf);
}

#define DOSSIER_COLUMNS                                                                            \
	"code, procedure_code, procedure_name, applicant_name, applicant_id, applicant_phone,"     \
	" channel, status, received_at, updated_at, due_at, unit, ticket_id, created_by"

static json_t *dossier_row(sqlite3_stmt *st)
{
	json_t *applicant = json_object();
	json_object_set_new(applicant, "name", text_or_null(st, 3));
	json_object_set_new(applicant, "id_number", text_or_null(st, 4));
	json_object_set_new(applicant, "phone", text_or_null(st, 5));
	json_t *d = json_object();
	json_object_set_new(d, "code", text_or_null(st, 0));
	json_object_set_new(d, "procedure_code", text_or_null(st, 1));
	json_object_set_new(d, "procedure_name", text_or_null(st, 2));
	json_object_set_new(d, "applicant", applicant);
	json_object_set_new(d, "channel", json_integer(sqlite3_column_int(st, 6)));
	json_object_set_new(d, "status", json_integer(sqlite3_column_int(st, 7)));
	json_object_set_new(d, "received_at", time_or_null(st, 8));
	json_object_set_new(d, "updated_at", time_or_null(st, 9));
	json_object_set_new(d, "due_at", time_or_null(st, 10));
	json_object_set_new(d, "unit", text_or_null(st, 11));
	json_object_set_new(d, "ticket_id", sqlite3_column_type(st, 12) == SQLITE_NULL ? json_null() :
					   json_integer(sqlite3_column_int64(st, 12)));
	json_object_set_new(d, "official", text_or_null(st, 13));
	return d;
}

json_t *dossier_get(struct pipeline *p, const char *code)
{
	sqlite3_stmt *st = db_prepare(p->gw->db, "SELECT " DOSSIER_COLUMNS
						 " FROM dossiers WHERE code = ?");
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	json_t *d = NULL;
	if (sqlite3_step(st) == SQLITE_ROW)
		d = dossier_row(st);
	sqlite3_finalize(st);
	if (!d)
		return NULL;
	json_t *docs = json_array();
	st = db_prepare(p->gw->db, "SELECT id, name, state, original_sha, media_type FROM documents "
				   "WHERE dossier_code = ? ORDER BY created_at, rowid");
	if (st) {
		sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(docs, json_pack("{s:o, s:o, s:o, s:o, s:o}", "id",
							      text_or_null(st, 0), "name",
							      text_or_null(st, 1), "state",
							      text_or_null(st, 2), "sha256",
							      text_or_null(st, 3), "media_type",
							      text_or_null(st, 4)));
		sqlite3_finalize(st);
	}
	json_object_set_new(d, "documents", docs);
	return d;
}

json_t *dossier_snapshot(struct pipeline *p, const char *code)
{
	json_t *d = dossier_get(p, code);
	if (!d)
		return NULL;
	json_t *docs = json_array(), *brief = json_object_get(d, "documents");
	size_t i;
	json_t *b;
	json_array_foreach(brief, i, b) {
		json_t *full = document_brief(p, code, json_string_value(json_object_get(b, "id")));
		if (!full)
			continue;
		json_t *side = json_object_get(full, "sidecar");
		json_t *one = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "id", json_object_get(full, "id"),
					"name", json_object_get(full, "name"), "type", json_object_get(full, "type"),
					"media_type", json_object_get(full, "current_media_type"), "state",
					json_object_get(full, "state"), "sha256",
					json_object_get(full, "current_sha256"), "reused_from",
					json_object_get(full, "reused_from"));
		json_t *sig = json_object_get(full, "signature");
		json_object_set(one, "signature", sig ? sig : json_null());
		json_object_set(one, "sidecar_sha256", json_is_object(side) ? json_object_get(side, "sha256") : json_null());
		json_object_set(one, "sidecar_media_type",
				json_is_object(side) ? json_object_get(side, "media_type") : json_null());
		json_array_append_new(docs, one);
		json_decref(full);
	}
	json_object_set_new(d, "documents", docs);
	return d;
}

int dossier_set_status(struct pipeline *p, const char *code, int status, const char *by, json_t *details)
{
	sqlite3 *db = p->gw->db;
	if (status < 1 || status > 10) {
		json_decref(details);
		return -EINVAL;
	}
	if (db_begin(db) < 0) {
		json_decref(details);
		return -EIO;
	}
	int previous = -1;
	sqlite3_stmt *st = db_prepare(db, "SELECT status FROM dossiers WHERE code = ?1");
	if (st) {
		sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			previous = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (previous < 0) {
		db_rollback(db);
		json_decref(details);
		return -ENOENT;
	}
	st = db_prepare(db, "UPDATE dossiers SET status = ?2, updated_at = ?3 WHERE code = ?1");
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, status);
		sqlite3_bind_int64(st, 3, time_now());
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	json_t *ev = json_pack("{s:s, s:i, s:i, s:s}", "code", code, "status", status, "previous", previous, "by", by);
	if (ev && json_is_object(details))
		json_object_set(ev, "details", details);
	json_decref(details);
	if (rc != SQLITE_DONE || events_publish(p->gw->events, "dossier.status", ev) < 0 || db_commit(db) < 0) {
		db_rollback(db);
		return -EIO;
	}
	log_info("dossier %s: status %d -> %d (%s)", code, previous, status, by);
	return 0;
}

json_t *dossier_list(struct pipeline *p, int status, int64_t from, int64_t to, int limit, int offset)
{
	const char *where = " WHERE (?1 = 0 OR status = ?1) AND received_at >= ?2 AND received_at <= ?3";
	char sql[512];
	json_t *out = json_object(), *arr = json_array();
	snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM dossiers%s", where);
	sqlite3_stmt *st = db_prepare(p->gw->db, sql);
	json_int_t total = 0;
	if (st) {
		sqlite3_bind_int(st, 1, status);
		sqlite3_bind_int64(st, 2, from);
		sqlite3_bind_int64(st, 3, to);
		if (sqlite3_step(st) == SQLITE_ROW)
			total = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	snprintf(sql, sizeof sql,
		 "SELECT " DOSSIER_COLUMNS " FROM dossiers%s ORDER BY received_at, code LIMIT ?4 OFFSET ?5",
		 where);
	st = db_prepare(p->gw->db, sql);
	if (st) {
		sqlite3_bind_int(st, 1, status);
		sqlite3_bind_int64(st, 2, from);
		sqlite3_bind_int64(st, 3, to);
		sqlite3_bind_int(st, 4, limit);
		sqlite3_bind_int(st, 5, offset);
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(arr, dossier_row(st));
		sqlite3_finalize(st);
	}
	json_object_set_new(out, "dossiers", arr);
	json_object_set_new(out, "total", json_integer(total));
	json_object_set_new(out, "limit", json_integer(limit));
	json_object_set_new(out, "offset", json_integer(offset));
	return out;
}

/* ---- documents ---- */

/* Records a page waiting for page steps (inside the caller's transaction). */
static int insert_page(sqlite3 *db, const char *doc, int page_no, const char *sha, const char *media_type,
		       int64_t now)
{
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO pages(document_id, page_no, sha, media_type, state,"
					  " created_at) VALUES(?1, ?2, ?3, ?4, 'captured', ?5)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, page_no);
	sqlite3_bind_text(st, 3, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, media_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Inserts a document and its jobs (inside the caller's transaction). Its
 * capture is either done already (an upload: sha is the file) or running (a
 * scan: no file until the first page). */
static int insert_document(sqlite3 *db, const char *id, const char *dossier_code, const char *name,
			   const char *media_type, uint64_t size, const char *sha, const char *created_by,
			   int64_t now, const char *capture_plugin, bool captured,
			   const struct document_extra *x)
{
	static const struct document_extra none = {0};
	if (!x)
		x = &none;
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO documents(id, dossier_code, name, media_type, size,"
					  " original_sha, current_sha, current_media_type, state,"
					  " created_at, updated_at, created_by, doc_type, reused_from, meta)"
					  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, ?4, ?7, ?8, ?8, ?9, ?10, ?11, ?12)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dossier_code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, media_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)size);
	sqlite3_bind_text(st, 6, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, captured ? "queued" : "processing", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, now);
	sqlite3_bind_text(st, 9, created_by, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 10, x->doc_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 11, x->reused_from, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 12, x->meta, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	for (int step = 0; rc == SQLITE_DONE && step < MOTCUA_STEP_COUNT_; step++) {
		/* A reused paper was recognized and signed when it was first
		 * archived: it goes straight to the archive (which records the
		 * reuse) and on. */
		bool done_before = x->reused_from && step > MOTCUA_STEP_CAPTURE && step < MOTCUA_STEP_ARCHIVE;
		st = db_prepare(db, step == MOTCUA_STEP_CAPTURE ?
			"INSERT INTO jobs(document_id, step, state, plugin, output_sha, output_media_type,"
			" message, attempts, started_at, finished_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9)" :
			done_before ?
			"INSERT INTO jobs(document_id, step, state, message, finished_at)"
			" VALUES(?1, ?2, 'skipped', 'reused: done when the paper was first archived', ?9)" :
			"INSERT INTO jobs(document_id, step, state) VALUES(?1, ?2, 'pending')");
		if (!st)
			return -EIO;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, step);
		if (done_before)
			sqlite3_bind_int64(st, 9, now);
		if (step == MOTCUA_STEP_CAPTURE) {
			sqlite3_bind_text(st, 3, captured ? "done" : "running", -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, capture_plugin, -1, SQLITE_TRANSIENT);
			if (captured) {
				sqlite3_bind_text(st, 5, sha, -1, SQLITE_TRANSIENT);
				sqlite3_bind_text(st, 6, media_type, -1, SQLITE_TRANSIENT);
				sqlite3_bind_int64(st, 9, now);
			}
			sqlite3_bind_text(st, 7, x->reused_from ? "reused" : captured ? "uploaded" : "scanning",
					  -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 8, now);
		}
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int document_create(struct pipeline *p, const char *dossier_code, const char *name,
		    const char *media_type, const char *sha, uint64_t size, const char *created_by,
		    const struct document_extra *x, char id_out[33])
{
	sqlite3 *db = p->gw->db;
	int64_t now = time_now();
	random_hex(id_out, 12);
	if (db_begin(db) < 0)
		return -EIO;
	/* An upload is its own capture; the later steps wait for the runner. */
	bool reused = x && x->reused_from;
	if (insert_document(db, id_out, dossier_code, name, media_type, size, sha, created_by, now,
			    reused ? "reuse" : "upload", true, x) < 0)
		goto fail;
	/* An image is a document of one page, which page steps (OCR) work on. */
	if (!reused && !strncmp(media_type, "image/", 6) && insert_page(db, id_out, 1, sha, media_type, now) < 0)
		goto fail;
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "dossier_code", dossier_code,
			       "document_id", id_out, "name", name, "media_type", media_type,
			       "sha256", sha, "size", (json_int_t)size);
	if (ev && x && x->doc_type)
		json_object_set_new(ev, "type", json_string(x->doc_type));
	if (ev && reused)
		json_object_set_new(ev, "reused_from", json_string(x->reused_from));
	if (events_publish(p->gw->events, "document.received", ev) < 0 ||
	    (reused && events_publish(p->gw->events, "document.reused",
				      json_pack("{s:s, s:s, s:s}", "dossier_code", dossier_code,
						"document_id", id_out, "archive_id", x->reused_from)) < 0))
		goto fail;
	if (db_commit(db) < 0)
		goto fail;
	pipeline_kick(p);
	return 0;
fail:
	db_rollback(db);
	return -EIO;
}

static json_t *document_fetch(struct pipeline *p, const char *dossier_code, const char *id, bool parts)
{
	sqlite3 *db = p->gw->db;
	sqlite3_stmt *st = db_prepare(db, "SELECT id, name, state, reason, original_sha, media_type, size,"
					  " current_sha, current_media_type, created_at, updated_at,"
					  " doc_type, reused_from, sidecar_sha, sidecar_media_type"
					  " FROM documents WHERE id = ? AND dossier_code = ?");
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dossier_code, -1, SQLITE_TRANSIENT);
	json_t *doc = NULL;
	if (sqlite3_step(st) == SQLITE_ROW) {
		doc = json_object();
		json_object_set_new(doc, "id", text_or_null(st, 0));
		json_object_set_new(doc, "dossier_code", json_string(dossier_code));
		json_object_set_new(doc, "name", text_or_null(st, 1));
		json_object_set_new(doc, "state", text_or_null(st, 2));
		json_object_set_new(doc, "reason", text_or_null(st, 3));
		json_object_set_new(doc, "sha256", text_or_null(st, 4));
		json_object_set_new(doc, "media_type", text_or_null(st, 5));
		json_object_set_new(doc, "size", json_integer(sqlite3_column_int64(st, 6)));
		json_object_set_new(doc, "current_sha256", text_or_null(st, 7));
		json_object_set_new(doc, "current_media_type", text_or_null(st, 8));
		json_object_set_new(doc, "created_at", time_or_null(st, 9));
		json_object_set_new(doc, "updated_at", time_or_null(st, 10));
		json_object_set_new(doc, "type", text_or_null(st, 11));
		json_object_set_new(doc, "reused_from", text_or_null(st, 12));
		json_object_set_new(doc, "sidecar", sqlite3_column_type(st, 13) == SQLITE_NULL ? json_null() :
				    json_pack("{s:o, s:o}", "sha256", text_or_null(st, 13),
					      "media_type", text_or_null(st, 14)));
	}
	sqlite3_finalize(st);
	if (!doc)
		return NULL;
	/* Its steps and pages: what the API shows, not what a step needs. */
	if (parts) {
		json_t *steps = json_array();
		st = db_prepare(db, "SELECT step, state, plugin, message, output_sha, attempts, started_at,"
				    " finished_at FROM jobs WHERE document_id = ? ORDER BY step");
		if (st) {
			sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
			while (sqlite3_step(st) == SQLITE_ROW) {
				json_t *s = json_object();
				json_object_set_new(s, "step", json_string(step_name(sqlite3_column_int(st, 0))));
				json_object_set_new(s, "state", text_or_null(st, 1));
				json_object_set_new(s, "plugin", text_or_null(st, 2));
				json_object_set_new(s, "message", text_or_null(st, 3));
				json_object_set_new(s, "output_sha256", text_or_null(st, 4));
				json_object_set_new(s, "attempts", json_integer(sqlite3_column_int(st, 5)));
				json_object_set_new(s, "started_at", time_or_null(st, 6));
				json_object_set_new(s, "finished_at", time_or_null(st, 7));
				json_array_append_new(steps, s);
			}
			sqlite3_finalize(st);
		}
		json_object_set_new(doc, "steps", steps);

		json_t *pages = json_array();
		st = db_prepare(db, "SELECT page_no, state, media_type, sha, output_sha, meta, message"
				    " FROM pages WHERE document_id = ? ORDER BY page_no");
		if (st) {
			sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
			while (sqlite3_step(st) == SQLITE_ROW) {
				json_t *pg = json_object();
				json_object_set_new(pg, "page", json_integer(sqlite3_column_int(st, 0)));
				json_object_set_new(pg, "state", text_or_null(st, 1));
				json_object_set_new(pg, "media_type", text_or_null(st, 2));
				json_object_set_new(pg, "sha256", text_or_null(st, 3));
				json_object_set_new(pg, "output_sha256", text_or_null(st, 4));
				json_object_set_new(pg, "message", text_or_null(st, 6));
				/* The page's summary from its step (confidence, flags), not its text. */
				const char *meta = (const char *)sqlite3_column_text(st, 5);
				json_t *m = meta ? json_loads(meta, 0, NULL) : NULL;
				const char *k;
				json_t *v;
				json_object_foreach(m, k, v)
					if (!json_object_get(pg, k) && strcmp(k, "text"))
						json_object_set(pg, k, v);
				json_decref(m);
				json_array_append_new(pages, pg);
			}
			sqlite3_finalize(st);
		}
		json_object_set_new(doc, "pages", pages);
	}

	/* What the steps said about the document (OCR text, confidence, fields),
	 * beside the gateway's own members, which it never overrides. */
	st = db_prepare(db, "SELECT meta FROM documents WHERE id = ?");
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
			json_t *m = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
			const char *k;
			json_t *v;
			json_object_foreach(m, k, v)
				if (!json_object_get(doc, k) && (parts || (strcmp(k, "steps") && strcmp(k, "pages"))))
					json_object_set(doc, k, v);
			json_decref(m);
		}
		sqlite3_finalize(st);
	}
	return doc;
}

json_t *document_get(struct pipeline *p, const char *dossier_code, const char *id)
{
	return document_fetch(p, dossier_code, id, true);
}

json_t *document_brief(struct pipeline *p, const char *dossier_code, const char *id)
{
	return document_fetch(p, dossier_code, id, false);
}

int document_page(struct pipeline *p, const char *dossier_code, const char *id, int page_no,
		  char sha[65], char **media_type)
{
	sqlite3_stmt *st = db_prepare(p->gw->db, "SELECT g.sha, g.media_type FROM pages g"
						 " JOIN documents d ON d.id = g.document_id"
						 " WHERE g.document_id = ? AND d.dossier_code = ? AND g.page_no = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dossier_code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, page_no);
	int r = -ENOENT;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(sha, 65, "%s", (const char *)sqlite3_column_text(st, 0));
		*media_type = strdup((const char *)sqlite3_column_text(st, 1));
		r = *media_type ? 0 : -ENOMEM;
	}
	sqlite3_finalize(st);
	return r;
}

/* ---- scans: a document whose pages arrive from a capture plugin ---- */

int document_create_scan(struct pipeline *p, const char *dossier_code, const char *name,
			 const char *plugin, const char *created_by, const struct document_extra *x,
			 char id_out[33])
{
	sqlite3 *db = p->gw->db;
	int64_t now = time_now();
	random_hex(id_out, 12);
	if (db_begin(db) < 0)
		return -EIO;
	/* No file yet: the first page becomes the document's file. */
	if (insert_document(db, id_out, dossier_code, name, "", 0, "", created_by, now, plugin, false, x) < 0)
		goto fail;
	if (events_publish(p->gw->events, "document.scan.started",
			   json_pack("{s:s, s:s, s:s, s:s}", "dossier_code", dossier_code, "document_id",
				     id_out, "name", name, "plugin", plugin)) < 0 ||
	    db_commit(db) < 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return -EIO;
}

int document_add_page(struct pipeline *p, const char *dossier_code, const char *doc, int page_no,
		      const char *sha, const char *media_type, uint64_t size)
{
	sqlite3 *db = p->gw->db;
	int64_t now = time_now();
	if (db_begin(db) < 0)
		return -EIO;
	if (insert_page(db, doc, page_no, sha, media_type, now) < 0)
		goto fail;
	sqlite3_stmt *st = db_prepare(db, "UPDATE documents SET original_sha = ?2, current_sha = ?2, media_type = ?3,"
			    " current_media_type = ?3, size = ?4, updated_at = ?5 WHERE id = ?1 AND original_sha = ''");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, media_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 5, now);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	if (events_publish(p->gw->events, "document.page.captured",
			   json_pack("{s:s, s:s, s:i, s:s, s:s, s:I}", "dossier_code", dossier_code,
				     "document_id", doc, "page", page_no, "sha256", sha, "media_type",
				     media_type, "size", (json_int_t)size)) < 0 ||
	    db_commit(db) < 0)
		goto fail;
	pipeline_kick(p);
	return 0;
fail:
	db_rollback(db);
	return -EIO;
}

int document_capture_done(struct pipeline *p, const char *dossier_code, const char *doc, int result,
			  const char *message, int pages)
{
	sqlite3 *db = p->gw->db;
	int64_t now = time_now();
	char reason[400] = "";
	if (result == 0 && pages == 0)
		snprintf(reason, sizeof reason, "capture: no page was scanned");
	else if (result < 0)
		snprintf(reason, sizeof reason, "capture: %s%s", message[0] ? message : strerror(-result),
			 pages ? "; the pages scanned before are kept" : "");
	if (db_begin(db) < 0)
		return -EIO;
	sqlite3_stmt *st = db_prepare(db, "UPDATE jobs SET state = ?3, message = ?4, finished_at = ?5"
					  " WHERE document_id = ?1 AND step = ?2 AND state = 'running'");
	if (!st)
		goto fail;
	char note[400];
	snprintf(note, sizeof note, "%d page%s scanned", pages, pages == 1 ? "" : "s");
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, MOTCUA_STEP_CAPTURE);
	sqlite3_bind_text(st, 3, reason[0] ? "failed" : "done", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, reason[0] ? reason + 9 : note, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	if (reason[0]) {
		st = db_prepare(db, "UPDATE documents SET state = 'failed', reason = ?2, updated_at = ?3"
				    " WHERE id = ?1");
		if (!st)
			goto fail;
		sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, now);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE ||
		    events_publish(p->gw->events, "document.failed",
				   json_pack("{s:s, s:s, s:s, s:s, s:i}", "dossier_code", dossier_code,
					     "document_id", doc, "step", "capture", "reason", reason,
					     "pages", pages)) < 0)
			goto fail;
	} else if (events_publish(p->gw->events, "document.step.done",
				  json_pack("{s:s, s:s, s:s, s:s, s:i}", "dossier_code", dossier_code,
					    "document_id", doc, "step", "capture", "message", note,
					    "pages", pages)) < 0) {
		goto fail;
	}
	if (db_commit(db) < 0)
		goto fail;
	if (reason[0])
		log_error("pipeline: document %s failed: %s", doc, reason);
	else
		log_info("pipeline: document %s captured: %s", doc, note);
	pipeline_kick(p);
	return 0;
fail:
	db_rollback(db);
	return -EIO;
}

int document_content(struct pipeline *p, const char *dossier_code, const char *id, char sha[65],
		     char **media_type)
{
	sqlite3_stmt *st = db_prepare(p->gw->db, "SELECT current_sha, current_media_type FROM documents"
						 " WHERE id = ? AND dossier_code = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dossier_code, -1, SQLITE_TRANSIENT);
	int r = -ENOENT;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(sha, 65, "%s", (const char *)sqlite3_column_text(st, 0));
		*media_type = strdup((const char *)sqlite3_column_text(st, 1));
		r = *media_type ? 0 : -ENOMEM;
	}
	sqlite3_finalize(st);
	return r;
}

/* ---- the runner ---- */

#define META_MAX (1u << 20)

/* The pages of a document as a step sees them: paths into the store. */
struct page_set {
	size_t n;
	char **paths, **media_types, **out_paths, **meta_paths;
	char **metas; /* page meta JSON from the DB, written to meta_paths by the worker */
};

struct step_run {
	struct pipeline *p;
	struct step_provider prov;
	char *plugin_name;
	struct motcua_step_io io;
	char document_id[33];
	char dossier_code[96];
	char name[256];
	char media_type[64];
	char *in_path;
	char *out_path;
	char *meta_path;
	char *meta; /* what the step wrote to meta_path, checked */
	char *dossier_json, *document_json;
	char *original_path, *sidecar_path, *sidecar_out_path;
	char original_media_type[64], sidecar_media_type[64];
	char sidecar_sha[65];
	struct page_set pages;
	int step;
	int attempts;
	int result;
	char out_sha[65];
};

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void page_set_clear(struct page_set *ps)
{
	free_strv(ps->paths, ps->n);
	free_strv(ps->media_types, ps->n);
	free_strv(ps->out_paths, ps->n);
	for (size_t i = 0; ps->meta_paths && i < ps->n; i++)
		if (ps->meta_paths[i])
			unlink(ps->meta_paths[i]);
	free_strv(ps->meta_paths, ps->n);
	free_strv(ps->metas, ps->n);
	memset(ps, 0, sizeof *ps);
}

/* Reads a step's meta file: one JSON object of at most META_MAX bytes.
 * Returns the compact text (caller frees) or NULL with a reason. */
static char *read_meta(const char *path, char *why, size_t whylen)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		return NULL; /* the step wrote none: fine */
	if (sb.st_size > META_MAX) {
		snprintf(why, whylen, "meta is larger than %u bytes", META_MAX);
		return NULL;
	}
	json_error_t jerr;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		snprintf(why, whylen, "meta is not a JSON object: %s", j ? "not an object" : jerr.text);
		json_decref(j);
		return NULL;
	}
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

/* Makes a finished output file durable in the store; "" when there is none. */
static int commit_output(struct store *store, const char *path, char sha[65], char *msg, size_t msglen)
{
	struct stat sb;
	sha[0] = 0;
	if (stat(path, &sb) < 0)
		return 0;
	int c = store_commit_file(store, path, sha, NULL);
	if (c < 0)
		snprintf(msg, msglen, "cannot store the output: %s", strerror(-c));
	return c;
}

/* Sets the document done when no step is left. Inside a transaction. */
static int finish_if_complete(struct pipeline *p, const char *doc, const char *dossier_code)
{
	sqlite3 *db = p->gw->db;
	sqlite3_stmt *st = db_prepare(db, "SELECT COUNT(*) FROM jobs WHERE document_id = ?"
					  " AND state NOT IN ('done', 'skipped')");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	int left = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (left != 0)
		return left < 0 ? -EIO : 0;
	st = db_prepare(db, "UPDATE documents SET state = 'done', updated_at = ?2 WHERE id = ?1"
			    " RETURNING current_sha, doc_type");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, time_now());
	char sha[65] = "", type[65] = "";
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(sha, sizeof sha, "%s", (const char *)sqlite3_column_text(st, 0));
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			snprintf(type, sizeof type, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	log_info("pipeline: document %s of %s done", doc, dossier_code);
	return events_publish(p->gw->events, "document.done",
			      json_pack("{s:s, s:s, s:s, s:s?}", "dossier_code", dossier_code,
					"document_id", doc, "sha256", sha, "type", type[0] ? type : NULL));
}

static void step_work(void *arg)
{
	struct step_run *r = arg;
	struct store *store = r->p->gw->store;
	/* Page metas are handed to the step as files. */
	for (size_t i = 0; i < r->pages.n; i++)
		if (r->pages.metas[i] &&
		    write_file_atomic(r->pages.meta_paths[i], r->pages.metas[i], strlen(r->pages.metas[i])) < 0) {
			free(r->pages.meta_paths[i]);
			r->pages.meta_paths[i] = NULL;
		}
	r->result = r->prov.fn(r->prov.data, &r->io);
	r->io.message[sizeof r->io.message - 1] = 0;
	r->io.out_media_type[sizeof r->io.out_media_type - 1] = 0;
	if (r->result == 0) {
		char why[200] = "";
		r->meta = read_meta(r->meta_path, why, sizeof why);
		if (why[0]) {
			r->result = -EPROTO;
			snprintf(r->io.message, sizeof r->io.message, "the plugin's %s", why);
		}
	}
	r->io.sidecar_out_media_type[sizeof r->io.sidecar_out_media_type - 1] = 0;
	if (r->result == 0)
		r->result = commit_output(store, r->out_path, r->out_sha, r->io.message, sizeof r->io.message);
	if (r->result == 0) {
		r->result = commit_output(store, r->sidecar_out_path, r->sidecar_sha, r->io.message,
					  sizeof r->io.message);
		if (r->result == 0 && r->sidecar_sha[0] && !valid_media_type(r->io.sidecar_out_media_type)) {
			r->result = -EPROTO;
			snprintf(r->io.message, sizeof r->io.message,
				 "the plugin wrote a companion file without a valid media type");
		}
	}
	unlink(r->out_path);
	unlink(r->meta_path);
	unlink(r->sidecar_out_path);
}

static void step_run_free(struct step_run *r)
{
	free(r->dossier_json);
	free(r->document_json);
	free(r->original_path);
	free(r->sidecar_path);
	free(r->sidecar_out_path);
	free(r->in_path);
	free(r->out_path);
	free(r->meta_path);
	free(r->meta);
	free(r->plugin_name);
	page_set_clear(&r->pages);
	free(r);
}

static void step_done(void *arg, int cancelled)
{
	struct step_run *r = arg;
	struct pipeline *p = r->p;
	sqlite3 *db = p->gw->db;
	const char *who = r->plugin_name;
	p->in_flight--;
	if (cancelled) {
		/* Stopping: the job stays 'running' and is resumed at the next start. */
		step_run_free(r);
		return;
	}
	int64_t now = time_now();
	if (db_begin(db) < 0)
		goto out;
	sqlite3_stmt *st;
	int rc = SQLITE_DONE;
	if (r->result == 0) {
		st = db_prepare(db, "UPDATE jobs SET state = 'done', output_sha = ?3, output_media_type = ?4,"
				    " message = ?5, finished_at = ?6, sidecar_sha = ?7, again_at = ?8"
				    " WHERE document_id = ?1 AND step = ?2");
		if (!st)
			goto fail;
		if (r->sidecar_sha[0])
			sqlite3_bind_text(st, 7, r->sidecar_sha, -1, SQLITE_STATIC);
		if (r->io.again_after_s > 0)
			sqlite3_bind_int64(st, 8, now + (r->io.again_after_s > AGAIN_MAX_S ? AGAIN_MAX_S :
							 r->io.again_after_s));
		sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, r->step);
		const char *mt = r->io.out_media_type[0] ? r->io.out_media_type : r->media_type;
		if (r->out_sha[0]) {
			sqlite3_bind_text(st, 3, r->out_sha, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, mt, -1, SQLITE_STATIC);
		}
		sqlite3_bind_text(st, 5, r->io.message, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, now);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			goto fail;
		if (r->out_sha[0]) {
			st = db_prepare(db, "UPDATE documents SET current_sha = ?2, current_media_type = ?3,"
					    " updated_at = ?4 WHERE id = ?1");
			if (!st)
				goto fail;
			sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, r->out_sha, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, mt, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, now);
			rc = sqlite3_step(st);
			sqlite3_finalize(st);
			if (rc != SQLITE_DONE)
				goto fail;
		}
		if (r->sidecar_sha[0]) {
			st = db_prepare(db, "UPDATE documents SET sidecar_sha = ?2, sidecar_media_type = ?3"
					    " WHERE id = ?1");
			if (!st)
				goto fail;
			sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, r->sidecar_sha, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, r->io.sidecar_out_media_type, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_finalize(st);
			if (rc != SQLITE_DONE)
				goto fail;
		}
		if (r->meta) {
			/* RFC 7396 merge: later steps add to or replace what earlier ones said. */
			st = db_prepare(db, "UPDATE documents SET meta = json_patch(COALESCE(meta, '{}'), ?2)"
					    " WHERE id = ?1");
			if (!st)
				goto fail;
			sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, r->meta, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_finalize(st);
			if (rc != SQLITE_DONE)
				goto fail;
		}
		gw_log(MOTCUA_LOG_INFO, who, "%s of document %s done%s%s", step_name(r->step),
		       r->document_id, r->io.message[0] ? ": " : "", r->io.message);
		json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "dossier_code", r->dossier_code,
				       "document_id", r->document_id, "step", step_name(r->step),
				       "plugin", who, "message", r->io.message);
		if (r->out_sha[0])
			json_object_set_new(ev, "output_sha256", json_string(r->out_sha));
		if (r->sidecar_sha[0])
			json_object_set_new(ev, "sidecar_sha256", json_string(r->sidecar_sha));
		if (r->io.again_after_s > 0)
			json_object_set_new(ev, "again_in_s", json_integer(r->io.again_after_s));
		if (events_publish(p->gw->events, "document.step.done", ev) < 0 ||
		    finish_if_complete(p, r->document_id, r->dossier_code) < 0)
			goto fail;
	} else if (r->result == -EAGAIN) {
		int64_t delay = (int64_t)p->gw->settings.step_retry_s << (r->attempts > 10 ? 10 : r->attempts - 1);
		if (delay > RETRY_MAX_S)
			delay = RETRY_MAX_S;
		st = db_prepare(db, "UPDATE jobs SET state = 'pending', not_before = ?3, message = ?4"
				    " WHERE document_id = ?1 AND step = ?2");
		if (!st)
			goto fail;
		sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, r->step);
		sqlite3_bind_int64(st, 3, now + delay);
		sqlite3_bind_text(st, 4, r->io.message, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			goto fail;
		gw_log(MOTCUA_LOG_WARNING, who, "%s of document %s will be retried in %llds: %s",
		       step_name(r->step), r->document_id, (long long)delay, r->io.message);
		if (events_publish(p->gw->events, "document.step.retry",
				   json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "dossier_code",
					     r->dossier_code, "document_id", r->document_id, "step",
					     step_name(r->step), "plugin", who, "message", r->io.message,
					     "retry_in_s", (json_int_t)delay)) < 0)
			goto fail;
	} else {
		char reason[400];
		snprintf(reason, sizeof reason, "%s (%s): %s", step_name(r->step), who,
			 r->io.message[0] ? r->io.message : strerror(-r->result));
		st = db_prepare(db, "UPDATE jobs SET state = 'failed', message = ?3, finished_at = ?4"
				    " WHERE document_id = ?1 AND step = ?2");
		if (!st)
			goto fail;
		sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, r->step);
		sqlite3_bind_text(st, 3, r->io.message[0] ? r->io.message : strerror(-r->result), -1,
				  SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, now);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		st = db_prepare(db, "UPDATE documents SET state = 'failed', reason = ?2, updated_at = ?3"
				    " WHERE id = ?1");
		if (!st || rc != SQLITE_DONE)
			goto fail;
		sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			goto fail;
		gw_log(MOTCUA_LOG_ERROR, who, "document %s failed: %s", r->document_id, reason);
		if (events_publish(p->gw->events, "document.failed",
				   json_pack("{s:s, s:s, s:s, s:s}", "dossier_code", r->dossier_code,
					     "document_id", r->document_id, "step", step_name(r->step),
					     "reason", reason)) < 0)
			goto fail;
	}
	if (db_commit(db) == 0)
		goto out;
fail:
	db_rollback(db);
	log_error("pipeline: cannot record %s of document %s; it will run again",
		  step_name(r->step), r->document_id);
out:
	step_run_free(r);
	pipeline_kick(p);
}

/* Marks a step skipped (no plugin does it). Inside a transaction. */
static int skip_step(struct pipeline *p, const char *doc, const char *dossier_code, int step)
{
	sqlite3_stmt *st = db_prepare(p->gw->db, "UPDATE jobs SET state = 'skipped',"
						 " message = 'no plugin enabled', finished_at = ?3"
						 " WHERE document_id = ?1 AND step = ?2");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, step);
	sqlite3_bind_int64(st, 3, time_now());
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	if (events_publish(p->gw->events, "document.step.skipped",
			   json_pack("{s:s, s:s, s:s}", "dossier_code", dossier_code, "document_id",
				     doc, "step", step_name(step))) < 0)
		return -EIO;
	return finish_if_complete(p, doc, dossier_code);
}

/* The dossier and the document as a step sees them (motcua_step_io). */
static char *step_dossier_json(struct pipeline *p, const char *code)
{
	json_t *d = dossier_get(p, code);
	if (!d)
		return NULL;
	json_object_del(d, "documents");
	char *s = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	return s;
}

static char *step_document_json(struct pipeline *p, const char *code, const char *id)
{
	json_t *d = document_brief(p, code, id);
	if (!d)
		return NULL;
	char *s = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	return s;
}

/* A step that asked to run again (again_after_s) and whose time has come:
 * once the document is done, the step and the later ones are queued again,
 * on the file the step had as input. Returns 1 when one was queued. */
static int start_again(struct pipeline *p)
{
	sqlite3 *db = p->gw->db;
	int64_t now = time_now();
	if (db_begin(db) < 0)
		return -EIO;
	sqlite3_stmt *st = db_prepare(db, "SELECT j.document_id, j.step, d.dossier_code, j.input_sha,"
					  " j.input_media_type, j.sidecar_sha IS NOT NULL, j.plugin"
					  " FROM jobs j JOIN documents d ON d.id = j.document_id"
					  " WHERE j.again_at IS NOT NULL AND j.again_at <= ?1"
					  " AND j.state = 'done' AND d.state = 'done'"
					  " ORDER BY j.again_at LIMIT 1");
	if (!st)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_bytes(st, 3) != 64) {
		sqlite3_finalize(st);
		db_rollback(db);
		return 0;
	}
	char doc[33], code[96], sha[65], mt[64], plugin[64];
	snprintf(doc, sizeof doc, "%s", sqlite3_column_text(st, 0));
	int step = sqlite3_column_int(st, 1);
	snprintf(code, sizeof code, "%s", sqlite3_column_text(st, 2));
	snprintf(sha, sizeof sha, "%s", sqlite3_column_text(st, 3));
	snprintf(mt, sizeof mt, "%s", sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "");
	bool made_sidecar = sqlite3_column_int(st, 5);
	snprintf(plugin, sizeof plugin, "%s", sqlite3_column_text(st, 6) ? (const char *)sqlite3_column_text(st, 6) : "");
	sqlite3_finalize(st);
	st = db_prepare(db, "UPDATE jobs SET state = 'pending', again_at = NULL, not_before = 0,"
			    " message = CASE WHEN step = ?2 THEN 'again, as the step asked' ELSE message END"
			    " WHERE document_id = ?1 AND step >= ?2");
	sqlite3_stmt *d = db_prepare(db, "UPDATE documents SET state = 'queued', current_sha = ?2,"
					 " current_media_type = COALESCE(NULLIF(?3, ''), current_media_type),"
					 " sidecar_sha = CASE WHEN ?4 THEN NULL ELSE sidecar_sha END,"
					 " sidecar_media_type = CASE WHEN ?4 THEN NULL ELSE sidecar_media_type END,"
					 " updated_at = ?5 WHERE id = ?1");
	bool ok = st && d;
	if (ok) {
		sqlite3_bind_text(st, 1, doc, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, step);
		sqlite3_bind_text(d, 1, doc, -1, SQLITE_STATIC);
		sqlite3_bind_text(d, 2, sha, -1, SQLITE_STATIC);
		sqlite3_bind_text(d, 3, mt, -1, SQLITE_STATIC);
		sqlite3_bind_int(d, 4, made_sidecar);
		sqlite3_bind_int64(d, 5, now);
		ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_step(d) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(d);
	if (!ok || events_publish(p->gw->events, "document.step.again",
				  json_pack("{s:s, s:s, s:s, s:s}", "dossier_code", code, "document_id",
					    doc, "step", step_name(step), "plugin", plugin)) < 0 ||
	    db_commit(db) < 0)
		goto fail;
	gw_log(MOTCUA_LOG_INFO, plugin, "%s of document %s runs again, as asked", step_name(step), doc);
	return 1;
fail:
	db_rollback(db);
	return -EIO;
}

/* How long a step held for a plugin that did not start waits before it is
 * looked at again (a restart looks at once). */
#define HOLD_S 60

/* Leaves a step pending while the plugin for it is enabled but did not
 * start. Inside a transaction. */
static int hold_step(struct pipeline *p, const char *doc, const char *dossier_code, int step, const char *plugin)
{
	char msg[200];
	snprintf(msg, sizeof msg, "held: %s is enabled but did not start (see the log); the step waits for it",
		 plugin);
	sqlite3 *db = p->gw->db;
	sqlite3_stmt *st = db_prepare(db, "SELECT message FROM jobs WHERE document_id = ?1 AND step = ?2");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, step);
	bool first = sqlite3_step(st) == SQLITE_ROW && (sqlite3_column_type(st, 0) == SQLITE_NULL ||
							strncmp((const char *)sqlite3_column_text(st, 0), "held:", 5));
	sqlite3_finalize(st);
	st = db_prepare(db, "UPDATE jobs SET not_before = ?3, message = ?4 WHERE document_id = ?1 AND step = ?2");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, step);
	sqlite3_bind_int64(st, 3, time_now() + HOLD_S);
	sqlite3_bind_text(st, 4, msg, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	if (first && events_publish(p->gw->events, "document.step.held",
				    json_pack("{s:s, s:s, s:s, s:s}", "dossier_code", dossier_code, "document_id",
					      doc, "step", step_name(step), "plugin", plugin)) < 0)
		return -EIO;
	return 0;
}

/* Picks the next job whose earlier steps are all finished. */
static const char next_job_sql[] =
	"SELECT j.document_id, j.step, j.attempts, d.dossier_code, d.name, d.current_sha,"
	" d.current_media_type, d.original_sha, d.media_type, d.sidecar_sha, d.sidecar_media_type,"
	" (SELECT c.plugin FROM jobs c WHERE c.document_id = j.document_id AND c.step = 0)"
	" FROM jobs j JOIN documents d ON d.id = j.document_id"
	" WHERE j.state = 'pending' AND j.not_before <= ?1 AND d.state IN ('queued', 'processing')"
	" AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.document_id = j.document_id"
	"   AND e.step < j.step AND e.state NOT IN ('done', 'skipped'))"
	/* a step with a page function waits for the document's pages */
	" AND NOT (j.step = ?2 AND EXISTS (SELECT 1 FROM pages g WHERE g.document_id = j.document_id"
	"   AND g.state IN ('captured', 'running')))"
	" ORDER BY d.created_at, d.rowid, j.step LIMIT 1";

/* Loads the pages of a document for a step: blob paths and page metas. */
static int load_pages(struct pipeline *p, const char *doc, struct page_set *ps)
{
	struct store *store = p->gw->store;
	sqlite3_stmt *st = db_prepare(p->gw->db, "SELECT sha, media_type, output_sha, meta FROM pages"
						 " WHERE document_id = ? ORDER BY page_no");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	size_t cap = 0;
	int r = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (ps->n == cap) {
			cap = cap ? cap * 2 : 8;
			char ***vs[] = {&ps->paths, &ps->media_types, &ps->out_paths, &ps->meta_paths, &ps->metas};
			for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) {
				char **nv = realloc(*vs[k], cap * sizeof(char *));
				if (!nv) {
					r = -ENOMEM;
					goto out;
				}
				*vs[k] = nv;
			}
		}
		size_t i = ps->n++;
		const char *out = (const char *)sqlite3_column_text(st, 2);
		const char *meta = (const char *)sqlite3_column_text(st, 3);
		ps->paths[i] = store_blob_path(store, (const char *)sqlite3_column_text(st, 0));
		ps->media_types[i] = strdup((const char *)sqlite3_column_text(st, 1));
		ps->out_paths[i] = out ? store_blob_path(store, out) : NULL;
		ps->metas[i] = meta ? strdup(meta) : NULL;
		ps->meta_paths[i] = meta ? store_tmp_path(store, "page-meta") : NULL;
		if (!ps->paths[i] || !ps->media_types[i] || (meta && (!ps->metas[i] || !ps->meta_paths[i]))) {
			r = -ENOMEM;
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	return r;
}

static int start_one(struct pipeline *p)
{
	struct gateway *gw = p->gw;
	sqlite3 *db = gw->db;
	int64_t now = time_now();
	if (db_begin(db) < 0)
		return -EIO;
	sqlite3_stmt *st = db_prepare(db, next_job_sql);
	if (!st)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	const struct step_provider *rec = plugins_step(gw->plugins, MOTCUA_STEP_RECOGNIZE);
	sqlite3_bind_int(st, 2, rec && rec->page_fn ? MOTCUA_STEP_RECOGNIZE : -1);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		db_rollback(db);
		return 0;
	}
	struct step_run *r = calloc(1, sizeof *r);
	if (!r) {
		sqlite3_finalize(st);
		goto fail;
	}
	r->p = p;
	r->step = sqlite3_column_int(st, 1);
	r->attempts = sqlite3_column_int(st, 2) + 1;
	snprintf(r->document_id, sizeof r->document_id, "%s", sqlite3_column_text(st, 0));
	snprintf(r->dossier_code, sizeof r->dossier_code, "%s", sqlite3_column_text(st, 3));
	snprintf(r->name, sizeof r->name, "%s", sqlite3_column_text(st, 4));
	char sha[65];
	snprintf(sha, sizeof sha, "%s", sqlite3_column_text(st, 5));
	snprintf(r->media_type, sizeof r->media_type, "%s", sqlite3_column_text(st, 6));
	/* The file as received: an upload's or a reused item's, not a scan's
	 * (its originals are the pages). */
	const char *capturer = (const char *)sqlite3_column_text(st, 11);
	bool received = capturer && (!strcmp(capturer, "upload") || !strcmp(capturer, "reuse"));
	if (received && sqlite3_column_bytes(st, 7) == 64) {
		r->original_path = store_blob_path(gw->store, (const char *)sqlite3_column_text(st, 7));
		snprintf(r->original_media_type, sizeof r->original_media_type, "%s",
			 sqlite3_column_text(st, 8));
	}
	if (sqlite3_column_bytes(st, 9) == 64) {
		r->sidecar_path = store_blob_path(gw->store, (const char *)sqlite3_column_text(st, 9));
		snprintf(r->sidecar_media_type, sizeof r->sidecar_media_type, "%s",
			 sqlite3_column_text(st, 10));
	}
	sqlite3_finalize(st);

	const struct step_provider *prov = plugins_step(gw->plugins, r->step);
	const char *held = prov ? NULL : plugins_step_held(gw->plugins, r->step);
	if (held) {
		/* Enabled but not running (its init failed): the document waits
		 * for it rather than going on unsigned or unarchived. */
		int s = hold_step(p, r->document_id, r->dossier_code, r->step, held);
		step_run_free(r);
		if (s < 0 || db_commit(db) < 0)
			goto fail;
		return 1;
	}
	if (!prov) {
		int s = skip_step(p, r->document_id, r->dossier_code, r->step);
		step_run_free(r);
		if (s < 0 || db_commit(db) < 0)
			goto fail;
		return 1;
	}
	r->prov = *prov;
	r->plugin_name = strdup(prov->plugin_name);
	if (prov->page_fn && r->plugin_name) {
		/* A page that failed fails the step, with the page's own reason. */
		st = db_prepare(db, "SELECT page_no, message FROM pages WHERE document_id = ?"
				    " AND state = 'failed' ORDER BY page_no LIMIT 1");
		if (st) {
			sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW) {
				r->result = -EIO;
				snprintf(r->io.message, sizeof r->io.message, "page %d: %s",
					 sqlite3_column_int(st, 0), sqlite3_column_text(st, 1));
			}
			sqlite3_finalize(st);
		}
		if (r->result) {
			db_rollback(db);
			p->in_flight++; /* step_done() counts it back */
			step_done(r, 0);
			return 1;
		}
	}
	r->in_path = store_blob_path(gw->store, sha);
	r->out_path = store_tmp_path(gw->store, r->document_id);
	r->meta_path = store_tmp_path(gw->store, "meta");
	r->sidecar_out_path = store_tmp_path(gw->store, "sidecar");
	r->dossier_json = step_dossier_json(p, r->dossier_code);
	r->document_json = step_document_json(p, r->dossier_code, r->document_id);
	if (!r->plugin_name || !r->in_path || !r->out_path || !r->meta_path || !r->sidecar_out_path ||
	    !r->dossier_json || !r->document_json || load_pages(p, r->document_id, &r->pages) < 0) {
		step_run_free(r);
		goto fail;
	}
	r->io.dossier_json = r->dossier_json;
	r->io.document_json = r->document_json;
	r->io.original_path = r->original_path;
	r->io.original_media_type = r->original_path ? r->original_media_type : NULL;
	r->io.sidecar_path = r->sidecar_path;
	r->io.sidecar_media_type = r->sidecar_path ? r->sidecar_media_type : NULL;
	r->io.sidecar_out_path = r->sidecar_out_path;
	r->io.meta_path = r->meta_path;
	r->io.n_pages = r->pages.n;
	r->io.page_paths = (const char *const *)r->pages.paths;
	r->io.page_media_types = (const char *const *)r->pages.media_types;
	r->io.page_out_paths = (const char *const *)r->pages.out_paths;
	r->io.page_meta_paths = (const char *const *)r->pages.meta_paths;
	r->io.struct_size = sizeof r->io;
	r->io.dossier_code = r->dossier_code;
	r->io.document_id = r->document_id;
	r->io.document_name = r->name;
	r->io.media_type = r->media_type;
	r->io.path = r->in_path;
	r->io.out_path = r->out_path;

	st = db_prepare(db, "UPDATE jobs SET state = 'running', plugin = ?3, input_sha = ?4,"
			    " input_media_type = ?6, attempts = attempts + 1, started_at = ?5"
			    " WHERE document_id = ?1 AND step = ?2");
	sqlite3_stmt *d = db_prepare(db, "UPDATE documents SET state = 'processing' WHERE id = ?1"
					 " AND state = 'queued'");
	int ok = st && d;
	if (ok) {
		sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, r->step);
		sqlite3_bind_text(st, 3, r->plugin_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, sha, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		sqlite3_bind_text(st, 6, r->media_type, -1, SQLITE_STATIC);
		sqlite3_bind_text(d, 1, r->document_id, -1, SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_step(d) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(d);
	if (!ok || db_commit(db) < 0) {
		step_run_free(r);
		goto fail;
	}
	int s = workers_submit(gw->workers, step_work, step_done, r);
	if (s < 0) {
		/* Left 'running': resumed at the next start, or below on retry. */
		log_error("pipeline: cannot queue %s of %s: %s", step_name(r->step), r->document_id,
			  strerror(-s));
		step_run_free(r);
		return s;
	}
	p->in_flight++;
	return 1;
fail:
	db_rollback(db);
	return -EIO;
}

/* ---- pages: the per-page part of a step, in parallel, during capture ---- */

struct page_run {
	struct pipeline *p;
	struct motcua_page_io io;
	motcua_page_fn fn;
	void *data;
	char *plugin_name;
	char document_id[33];
	char dossier_code[96];
	char media_type[64];
	char *in_path, *out_path, *meta_path, *meta;
	int result;
	char out_sha[65];
};

static void page_run_free(struct page_run *r)
{
	free(r->plugin_name);
	free(r->in_path);
	free(r->out_path);
	free(r->meta_path);
	free(r->meta);
	free(r);
}

static void page_work(void *arg)
{
	struct page_run *r = arg;
	r->result = r->fn(r->data, &r->io);
	r->io.message[sizeof r->io.message - 1] = 0;
	if (r->result == 0) {
		char why[200] = "";
		r->meta = read_meta(r->meta_path, why, sizeof why);
		if (why[0]) {
			r->result = -EPROTO;
			snprintf(r->io.message, sizeof r->io.message, "the plugin's page %s", why);
		}
	}
	if (r->result == 0)
		r->result = commit_output(r->p->gw->store, r->out_path, r->out_sha, r->io.message,
					  sizeof r->io.message);
	unlink(r->out_path);
	unlink(r->meta_path);
}

static void page_done(void *arg, int cancelled)
{
	struct page_run *r = arg;
	struct pipeline *p = r->p;
	sqlite3 *db = p->gw->db;
	p->in_flight--;
	if (cancelled) {
		page_run_free(r); /* stays 'running': back to 'captured' at the next start */
		return;
	}
	bool ok = r->result == 0;
	const char *msg = r->io.message[0] ? r->io.message : ok ? "" : strerror(-r->result);
	if (db_begin(db) < 0)
		goto out;
	sqlite3_stmt *st = db_prepare(db, "UPDATE pages SET state = ?3, output_sha = ?4, meta = ?5,"
					  " message = ?6, finished_at = ?7 WHERE document_id = ?1 AND page_no = ?2");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)r->io.page_no);
	sqlite3_bind_text(st, 3, ok ? "done" : "failed", -1, SQLITE_STATIC);
	if (r->out_sha[0])
		sqlite3_bind_text(st, 4, r->out_sha, -1, SQLITE_STATIC);
	if (r->meta)
		sqlite3_bind_text(st, 5, r->meta, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, msg, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, time_now());
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	json_t *ev = json_pack("{s:s, s:s, s:i, s:s, s:s}", "dossier_code", r->dossier_code,
			       "document_id", r->document_id, "page", (int)r->io.page_no, "plugin",
			       r->plugin_name, "message", msg);
	/* The page's own summary (e.g. confidence) rides along, without its text. */
	json_t *meta = r->meta ? json_loads(r->meta, 0, NULL) : NULL;
	const char *k;
	json_t *v;
	json_object_foreach(meta, k, v)
		if (!json_object_get(ev, k) && (json_is_number(v) || json_is_boolean(v)))
			json_object_set(ev, k, v);
	json_decref(meta);
	if (events_publish(p->gw->events, ok ? "document.page.done" : "document.page.failed", ev) < 0)
		goto fail;
	if (db_commit(db) == 0) {
		gw_log(ok ? MOTCUA_LOG_INFO : MOTCUA_LOG_ERROR, r->plugin_name, "page %u of document %s %s%s%s",
		       r->io.page_no, r->document_id, ok ? "done" : "failed", msg[0] ? ": " : "", msg);
		goto out;
	}
fail:
	db_rollback(db);
	log_error("pipeline: cannot record page %u of document %s; it will run again", r->io.page_no,
		  r->document_id);
out:
	page_run_free(r);
	pipeline_kick(p);
}

/* Starts the next captured page, if a step has a page function. */
static int start_page(struct pipeline *p)
{
	struct gateway *gw = p->gw;
	sqlite3 *db = gw->db;
	const struct step_provider *prov = plugins_step(gw->plugins, MOTCUA_STEP_RECOGNIZE);
	if (!prov || !prov->page_fn)
		return 0;
	if (db_begin(db) < 0)
		return -EIO;
	sqlite3_stmt *st = db_prepare(db,
		"SELECT g.document_id, g.page_no, g.sha, g.media_type, d.dossier_code"
		" FROM pages g JOIN documents d ON d.id = g.document_id"
		" JOIN jobs j ON j.document_id = g.document_id AND j.step = ?1"
		" WHERE g.state = 'captured' AND j.state = 'pending' AND d.state IN ('queued', 'processing')"
		" ORDER BY d.created_at, d.rowid, g.page_no LIMIT 1");
	if (!st)
		goto fail;
	sqlite3_bind_int(st, 1, MOTCUA_STEP_RECOGNIZE);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		db_rollback(db);
		return 0;
	}
	struct page_run *r = calloc(1, sizeof *r);
	if (!r) {
		sqlite3_finalize(st);
		goto fail;
	}
	r->p = p;
	r->fn = prov->page_fn;
	r->data = prov->page_data;
	snprintf(r->document_id, sizeof r->document_id, "%s", sqlite3_column_text(st, 0));
	r->io.page_no = (uint32_t)sqlite3_column_int(st, 1);
	r->in_path = store_blob_path(gw->store, (const char *)sqlite3_column_text(st, 2));
	snprintf(r->media_type, sizeof r->media_type, "%s", sqlite3_column_text(st, 3));
	snprintf(r->dossier_code, sizeof r->dossier_code, "%s", sqlite3_column_text(st, 4));
	sqlite3_finalize(st);
	r->plugin_name = strdup(prov->plugin_name);
	r->out_path = store_tmp_path(gw->store, "page");
	r->meta_path = store_tmp_path(gw->store, "page-meta");
	if (!r->plugin_name || !r->in_path || !r->out_path || !r->meta_path) {
		page_run_free(r);
		goto fail;
	}
	r->io.struct_size = sizeof r->io;
	r->io.dossier_code = r->dossier_code;
	r->io.document_id = r->document_id;
	r->io.media_type = r->media_type;
	r->io.path = r->in_path;
	r->io.out_path = r->out_path;
	r->io.meta_path = r->meta_path;
	st = db_prepare(db, "UPDATE pages SET state = 'running', plugin = ?3, attempts = attempts + 1"
			    " WHERE document_id = ?1 AND page_no = ?2");
	sqlite3_stmt *d = db_prepare(db, "UPDATE documents SET state = 'processing' WHERE id = ?1"
					 " AND state = 'queued'");
	int ok = st && d;
	if (ok) {
		sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)r->io.page_no);
		sqlite3_bind_text(st, 3, r->plugin_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(d, 1, r->document_id, -1, SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_step(d) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(d);
	if (!ok || db_commit(db) < 0) {
		page_run_free(r);
		goto fail;
	}
	int e = workers_submit(gw->workers, page_work, page_done, r);
	if (e < 0) {
		page_run_free(r);
		return e;
	}
	p->in_flight++;
	return 1;
fail:
	db_rollback(db);
	return -EIO;
}

static void arm_retry_timer(struct pipeline *p)
{
	sqlite3_stmt *st = db_prepare(p->gw->db, "SELECT MIN(t) FROM (SELECT MIN(not_before) AS t FROM jobs"
						 " WHERE state = 'pending' AND not_before > ?1"
						 " UNION ALL SELECT MIN(again_at) FROM jobs WHERE again_at > ?1)");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, time_now());
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		int64_t wait = sqlite3_column_int64(st, 0) - time_now();
		struct timeval tv = {wait > 0 ? wait : 1, 0};
		event_add(p->retry_ev, &tv);
	}
	sqlite3_finalize(st);
}

static void on_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct pipeline *p = arg;
	if (p->stopping)
		return;
	unsigned limit = workers_size(p->gw->workers);
	int n;
	/* Document steps first: they are short (merge, sign, route) and finish
	 * a citizen's document; then pages, which keep the workers busy while
	 * a batch is scanned. Pages first would leave every document waiting
	 * until no page is left anywhere. */
	while ((n = start_again(p)) > 0)
		;
	while (p->in_flight < limit && (n = start_one(p)) > 0)
		;
	while (p->in_flight < limit && (n = start_page(p)) > 0)
		;
	arm_retry_timer(p);
}
