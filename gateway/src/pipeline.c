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
			if (attempts >= MAX_INTERRUPTED_ATTEMPTS) {
				char reason[160];
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

	st = db_prepare(db, "INSERT INTO dossiers(code, procedure_code, procedure_name, applicant_name,"
			    " applicant_id, applicant_phone, channel, status, received_at, updated_at,"
			    " created_by) VALUES(?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)");
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
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	if (events_publish(p->gw->events, "dossier.created",
			   json_pack("{s:s, s:s, s:i, s:i, s:s}", "code", code, "procedure_code",
				     d->procedure_code, "channel", d->channel, "status", 1,
				     "received_at", received)) < 0)
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
	" channel, status, received_at, updated_at"

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

int document_create(struct pipeline *p, const char *dossier_code, const char *name,
		    const char *media_type, const char *sha, uint64_t size, const char *created_by,
		    char id_out[33])
{
	sqlite3 *db = p->gw->db;
	int64_t now = time_now();
	random_hex(id_out, 12);
	if (db_begin(db) < 0)
		return -EIO;
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO documents(id, dossier_code, name, media_type, size,"
					  " original_sha, current_sha, current_media_type, state,"
					  " created_at, updated_at, created_by)"
					  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, ?4, 'queued', ?7, ?7, ?8)");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, id_out, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dossier_code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, media_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)size);
	sqlite3_bind_text(st, 6, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, now);
	sqlite3_bind_text(st, 8, created_by, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	/* An upload is its own capture; the later steps wait for the runner. */
	for (int step = 0; step < MOTCUA_STEP_COUNT_; step++) {
		st = db_prepare(db, step == MOTCUA_STEP_CAPTURE ?
					    "INSERT INTO jobs(document_id, step, state, plugin, output_sha,"
					    " output_media_type, message, attempts, started_at, finished_at)"
					    " VALUES(?1, ?2, 'done', 'upload', ?3, ?4, 'uploaded', 1, ?5, ?5)" :
					    "INSERT INTO jobs(document_id, step, state) VALUES(?1, ?2, 'pending')");
		if (!st)
			goto fail;
		sqlite3_bind_text(st, 1, id_out, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, step);
		if (step == MOTCUA_STEP_CAPTURE) {
			sqlite3_bind_text(st, 3, sha, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 4, media_type, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 5, now);
		}
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	if (events_publish(p->gw->events, "document.received",
			   json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "dossier_code", dossier_code,
				     "document_id", id_out, "name", name, "media_type", media_type,
				     "sha256", sha, "size", (json_int_t)size)) < 0)
		goto fail;
	if (db_commit(db) < 0)
		goto fail;
	pipeline_kick(p);
	return 0;
fail:
	db_rollback(db);
	return -EIO;
}

json_t *document_get(struct pipeline *p, const char *dossier_code, const char *id)
{
	sqlite3 *db = p->gw->db;
	sqlite3_stmt *st = db_prepare(db, "SELECT id, name, state, reason, original_sha, media_type, size,"
					  " current_sha, current_media_type, created_at, updated_at"
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
	}
	sqlite3_finalize(st);
	if (!doc)
		return NULL;
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
	return doc;
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
	int step;
	int attempts;
	int result;
	char out_sha[65];
};

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
			    " RETURNING current_sha");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, time_now());
	char sha[65] = "";
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(sha, sizeof sha, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	log_info("pipeline: document %s of %s done", doc, dossier_code);
	return events_publish(p->gw->events, "document.done",
			      json_pack("{s:s, s:s, s:s}", "dossier_code", dossier_code,
					"document_id", doc, "sha256", sha));
}

static void step_work(void *arg)
{
	struct step_run *r = arg;
	struct store *store = r->p->gw->store;
	r->result = r->prov.fn(r->prov.data, &r->io);
	r->io.message[sizeof r->io.message - 1] = 0;
	r->io.out_media_type[sizeof r->io.out_media_type - 1] = 0;
	struct stat sb;
	if (r->result == 0 && stat(r->out_path, &sb) == 0) {
		uint64_t size;
		int c = store_commit_file(store, r->out_path, r->out_sha, &size);
		if (c < 0) {
			r->result = c;
			snprintf(r->io.message, sizeof r->io.message, "cannot store the output: %s",
				 strerror(-c));
		}
	} else {
		unlink(r->out_path);
	}
}

static void step_run_free(struct step_run *r)
{
	free(r->in_path);
	free(r->out_path);
	free(r->plugin_name);
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
				    " message = ?5, finished_at = ?6 WHERE document_id = ?1 AND step = ?2");
		if (!st)
			goto fail;
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
		gw_log(MOTCUA_LOG_INFO, who, "%s of document %s done%s%s", step_name(r->step),
		       r->document_id, r->io.message[0] ? ": " : "", r->io.message);
		json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "dossier_code", r->dossier_code,
				       "document_id", r->document_id, "step", step_name(r->step),
				       "plugin", who, "message", r->io.message);
		if (r->out_sha[0])
			json_object_set_new(ev, "output_sha256", json_string(r->out_sha));
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

/* Picks the next job whose earlier steps are all finished. */
static const char next_job_sql[] =
	"SELECT j.document_id, j.step, j.attempts, d.dossier_code, d.name, d.current_sha,"
	" d.current_media_type FROM jobs j JOIN documents d ON d.id = j.document_id"
	" WHERE j.state = 'pending' AND j.not_before <= ?1 AND d.state IN ('queued', 'processing')"
	" AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.document_id = j.document_id"
	"   AND e.step < j.step AND e.state NOT IN ('done', 'skipped'))"
	" ORDER BY d.created_at, d.rowid, j.step LIMIT 1";

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
	sqlite3_finalize(st);

	const struct step_provider *prov = plugins_step(gw->plugins, r->step);
	if (!prov) {
		int s = skip_step(p, r->document_id, r->dossier_code, r->step);
		step_run_free(r);
		if (s < 0 || db_commit(db) < 0)
			goto fail;
		return 1;
	}
	r->prov = *prov;
	r->plugin_name = strdup(prov->plugin_name);
	r->in_path = store_blob_path(gw->store, sha);
	r->out_path = store_tmp_path(gw->store, r->document_id);
	if (!r->plugin_name || !r->in_path || !r->out_path) {
		step_run_free(r);
		goto fail;
	}
	r->io.struct_size = sizeof r->io;
	r->io.dossier_code = r->dossier_code;
	r->io.document_id = r->document_id;
	r->io.document_name = r->name;
	r->io.media_type = r->media_type;
	r->io.path = r->in_path;
	r->io.out_path = r->out_path;

	st = db_prepare(db, "UPDATE jobs SET state = 'running', plugin = ?3, input_sha = ?4,"
			    " attempts = attempts + 1, started_at = ?5 WHERE document_id = ?1 AND step = ?2");
	sqlite3_stmt *d = db_prepare(db, "UPDATE documents SET state = 'processing' WHERE id = ?1"
					 " AND state = 'queued'");
	int ok = st && d;
	if (ok) {
		sqlite3_bind_text(st, 1, r->document_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, r->step);
		sqlite3_bind_text(st, 3, r->plugin_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, sha, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
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

static void arm_retry_timer(struct pipeline *p)
{
	sqlite3_stmt *st = db_prepare(p->gw->db, "SELECT MIN(not_before) FROM jobs WHERE state = 'pending'"
						 " AND not_before > ?");
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
	while (p->in_flight < limit && (n = start_one(p)) > 0)
		;
	arm_retry_timer(p);
}
