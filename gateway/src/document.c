/* SPDX-License-Identifier: MIT */
/* Documents: an upload, a reused archived paper or a scan, with its pages,
 * its job rows and what the steps said about it; and the recorders the
 * pipeline calls inside its transactions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "gateway.h"
#include "log.h"
#include "records-internal.h"
#include "util.h"

static const char *const step_names[MOTCUA_STEP_COUNT_] = {"capture", "recognize", "sign",
							   "archive", "route"};

const char *step_name(enum motcua_step step)
{
	return (unsigned)step < MOTCUA_STEP_COUNT_ ? step_names[step] : "?";
}

static int step_and_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Records a page waiting for page steps (inside the caller's transaction). */
static int insert_page(struct records *r, const char *doc, int page_no, const char *sha,
		       const char *media_type, int64_t now)
{
	sqlite3_stmt *st = rec_stmt(r, ST_PAGE_INSERT);
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, page_no);
	sqlite3_bind_text(st, 3, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, media_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now);
	return step_and_reset(st);
}

/* The jobs of a new document: its capture (done for an upload, running for
 * a scan), then one pending job per step that works on documents. Delivery
 * is not one of them: the outbox takes it from document.done. A reused paper
 * was recognized and signed when it was first archived: those are marked
 * done before, and it goes straight to the archive (which records the
 * reuse). */
static int insert_jobs(struct records *r, const char *id, const char *sha, const char *media_type,
		       int64_t now, const char *capture_plugin, bool captured,
		       const struct document_extra *x)
{
	sqlite3_stmt *st = rec_stmt(r, ST_JOB_INSERT_CAPTURE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, MOTCUA_STEP_CAPTURE);
	sqlite3_bind_text(st, 3, captured ? "done" : "running", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, capture_plugin, -1, SQLITE_TRANSIENT);
	if (captured) {
		sqlite3_bind_text(st, 5, sha, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 6, media_type, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 9, now);
	}
	sqlite3_bind_text(st, 7,
			  x->reused_from ? "reused"
			  : captured	 ? "uploaded"
					 : "scanning",
			  -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, now);
	if (step_and_reset(st) < 0)
		return -EIO;
	static const int steps[] = {MOTCUA_STEP_RECOGNIZE, MOTCUA_STEP_SIGN, MOTCUA_STEP_ARCHIVE};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		bool done_before = x->reused_from && steps[i] < MOTCUA_STEP_ARCHIVE;
		st = rec_stmt(r, done_before ? ST_JOB_INSERT_DONE_BEFORE : ST_JOB_INSERT_PENDING);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, steps[i]);
		if (done_before)
			sqlite3_bind_int64(st, 3, now);
		if (step_and_reset(st) < 0)
			return -EIO;
	}
	return 0;
}

/* Inserts a document and its jobs (inside the caller's transaction). Its
 * capture is either done already (an upload: sha is the file) or running (a
 * scan: no file until the first page). */
static int insert_document(struct records *r, const char *id, const char *dossier_code,
			   const char *name, const char *media_type, uint64_t size, const char *sha,
			   const char *created_by, int64_t now, const char *capture_plugin,
			   bool captured, const struct document_extra *x)
{
	static const struct document_extra none = {0};
	if (!x)
		x = &none;
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_INSERT);
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
	sqlite3_bind_text(st, 13, x->paper, -1, SQLITE_TRANSIENT);
	/* With [station] review on, a new paper waits for the clerk after
	 * recognition; a reused one was looked at, signed and archived when it
	 * was first received, and goes on. */
	sqlite3_bind_int(st, 14, r->gw->settings.review && !x->reused_from);
	if (step_and_reset(st) < 0)
		return -EIO;
	return insert_jobs(r, id, sha, media_type, now, capture_plugin, captured, x);
}

int document_create(struct records *r, const char *dossier_code, const char *name,
		    const char *media_type, const char *sha, uint64_t size, const char *created_by,
		    const struct document_extra *x, char id_out[33])
{
	sqlite3 *db = r->gw->db;
	int64_t now = time_now();
	random_hex(id_out, 12);
	if (db_begin(db) < 0)
		return -EIO;
	/* An upload is its own capture; the later steps wait for the runner. */
	bool reused = x && x->reused_from;
	if (insert_document(r, id_out, dossier_code, name, media_type, size, sha, created_by, now,
			    reused ? "reuse" : "upload", true, x) < 0)
		goto fail;
	/* An image is a document of one page, which page steps (OCR) work on. */
	if (!reused && !strncmp(media_type, "image/", 6) &&
	    insert_page(r, id_out, 1, sha, media_type, now) < 0)
		goto fail;
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s?}", "dossier_code", dossier_code,
			       "document_id", id_out, "name", name, "media_type", media_type,
			       "sha256", sha, "size", (json_int_t)size, "by", created_by);
	if (ev && x && x->doc_type)
		json_object_set_new(ev, "document_type", json_string(x->doc_type));
	if (ev && x && x->paper)
		json_object_set_new(ev, "paper", json_string(x->paper));
	if (ev && reused)
		json_object_set_new(ev, "reused_from", json_string(x->reused_from));
	if (events_publish(r->gw->events, "document.received", ev) < 0 ||
	    (reused &&
	     events_publish(r->gw->events, "document.reused",
			    json_pack("{s:s, s:s, s:s}", "dossier_code", dossier_code,
				      "document_id", id_out, "archive_id", x->reused_from)) < 0) ||
	    db_commit(db) < 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return -EIO;
}

int document_create_scan(struct records *r, const char *dossier_code, const char *name,
			 const char *plugin, const char *created_by, const struct document_extra *x,
			 char id_out[33])
{
	sqlite3 *db = r->gw->db;
	int64_t now = time_now();
	random_hex(id_out, 12);
	if (db_begin(db) < 0)
		return -EIO;
	/* No file yet: the first page becomes the document's file. */
	if (insert_document(r, id_out, dossier_code, name, "", 0, "", created_by, now, plugin,
			    false, x) < 0 ||
	    events_publish(r->gw->events, "document.scan.started",
			   json_pack("{s:s, s:s, s:s, s:s, s:s?}", "dossier_code", dossier_code,
				     "document_id", id_out, "name", name, "plugin", plugin, "by",
				     created_by)) < 0 ||
	    db_commit(db) < 0) {
		db_rollback(db);
		return -EIO;
	}
	return 0;
}

int document_add_page(struct records *r, const char *dossier_code, const char *doc, int page_no,
		      const char *sha, const char *media_type, uint64_t size)
{
	sqlite3 *db = r->gw->db;
	int64_t now = time_now();
	if (db_begin(db) < 0)
		return -EIO;
	if (insert_page(r, doc, page_no, sha, media_type, now) < 0)
		goto fail;
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_FIRST_PAGE);
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, media_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 5, now);
	if (step_and_reset(st) < 0 ||
	    events_publish(r->gw->events, "document.page.captured",
			   json_pack("{s:s, s:s, s:i, s:s, s:s, s:I}", "dossier_code", dossier_code,
				     "document_id", doc, "page", page_no, "sha256", sha,
				     "media_type", media_type, "size", (json_int_t)size)) < 0 ||
	    db_commit(db) < 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return -EIO;
}

int document_capture_done(struct records *r, const char *dossier_code, const char *doc, int result,
			  const char *message, int pages)
{
	sqlite3 *db = r->gw->db;
	int64_t now = time_now();
	char reason[400] = "", note[64];
	if (result == 0 && pages == 0)
		snprintf(reason, sizeof reason, "capture: no page was scanned");
	else if (result < 0)
		snprintf(reason, sizeof reason, "capture: %s%s",
			 message[0] ? message : strerror(-result),
			 pages ? "; the pages scanned before are kept" : "");
	snprintf(note, sizeof note, "%d page%s scanned", pages, pages == 1 ? "" : "s");
	if (db_begin(db) < 0)
		return -EIO;
	sqlite3_stmt *st = rec_stmt(r, ST_CAPTURE_JOB_END);
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, MOTCUA_STEP_CAPTURE);
	sqlite3_bind_text(st, 3, reason[0] ? "failed" : "done", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, reason[0] ? reason + strlen("capture: ") : note, -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now);
	if (step_and_reset(st) < 0)
		goto fail;
	if (reason[0]) {
		if (document_fail(r, dossier_code, doc, "capture", reason, pages) < 0)
			goto fail;
	} else if (events_publish(r->gw->events, "document.step.done",
				  json_pack("{s:s, s:s, s:s, s:s, s:i}", "dossier_code",
					    dossier_code, "document_id", doc, "step", "capture",
					    "message", note, "pages", pages)) < 0) {
		goto fail;
	}
	if (db_commit(db) < 0)
		goto fail;
	if (reason[0])
		log_error("pipeline: document %s failed: %s", doc, reason);
	else
		log_info("pipeline: document %s captured: %s", doc, note);
	return 0;
fail:
	db_rollback(db);
	return -EIO;
}

/* The document's steps, as the API shows them. */
static json_t *document_steps(struct records *r, const char *id)
{
	json_t *steps = json_array();
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_STEPS);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *s = json_object();
		json_object_set_new(
		    s, "step",
		    json_string(step_name((enum motcua_step)sqlite3_column_int(st, SC_STEP))));
		json_object_set_new(s, "state", db_json_text(st, SC_STATE));
		json_object_set_new(s, "plugin", db_json_text(st, SC_PLUGIN));
		json_object_set_new(s, "message", db_json_text(st, SC_MESSAGE));
		json_object_set_new(s, "output_sha256", db_json_text(st, SC_OUTPUT_SHA));
		json_object_set_new(s, "attempts",
				    json_integer(sqlite3_column_int(st, SC_ATTEMPTS)));
		json_object_set_new(s, "started_at", db_json_time(st, SC_STARTED_AT));
		json_object_set_new(s, "finished_at", db_json_time(st, SC_FINISHED_AT));
		json_array_append_new(steps, s);
	}
	sqlite3_reset(st);
	return steps;
}

/* Its pages, each with its step's summary (confidence, flags), not its text. */
static json_t *document_pages(struct records *r, const char *id)
{
	json_t *pages = json_array();
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_PAGES);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *pg = json_object();
		json_object_set_new(pg, "page", json_integer(sqlite3_column_int(st, PC_PAGE_NO)));
		json_object_set_new(pg, "state", db_json_text(st, PC_STATE));
		json_object_set_new(pg, "media_type", db_json_text(st, PC_MEDIA_TYPE));
		json_object_set_new(pg, "sha256", db_json_text(st, PC_SHA));
		json_object_set_new(pg, "output_sha256", db_json_text(st, PC_OUTPUT_SHA));
		json_object_set_new(pg, "message", db_json_text(st, PC_MESSAGE));
		const char *meta = db_text(st, PC_META);
		json_t *m = meta ? json_loads(meta, 0, NULL) : NULL;
		const char *k;
		json_t *v;
		json_object_foreach(m, k, v) if (!json_object_get(pg, k) && strcmp(k, "text"))
		    json_object_set(pg, k, v);
		json_decref(m);
		/* what the page strip shows: null until the page is recognized */
		if (!json_object_get(pg, "confidence"))
			json_object_set_new(pg, "confidence", json_null());
		if (!json_object_get(pg, "low_confidence"))
			json_object_set_new(pg, "low_confidence", json_null());
		json_object_set_new(pg, "rotation",
				    json_integer(sqlite3_column_int(st, PC_ROTATION)));
		json_array_append_new(pages, pg);
	}
	sqlite3_reset(st);
	return pages;
}

static json_t *document_fetch(struct records *r, const char *dossier_code, const char *id,
			      bool parts)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_GET);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dossier_code, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return NULL;
	}
	json_t *doc = json_object();
	json_object_set_new(doc, "id", db_json_text(st, DOC_ID));
	json_object_set_new(doc, "dossier_code", json_string(dossier_code));
	json_object_set_new(doc, "name", db_json_text(st, DOC_NAME));
	json_object_set_new(doc, "state", db_json_text(st, DOC_STATE));
	json_object_set_new(doc, "reason", db_json_text(st, DOC_REASON));
	json_object_set_new(doc, "sha256", db_json_text(st, DOC_ORIGINAL_SHA));
	json_object_set_new(doc, "media_type", db_json_text(st, DOC_MEDIA_TYPE));
	json_object_set_new(doc, "size", json_integer(sqlite3_column_int64(st, DOC_SIZE)));
	json_object_set_new(doc, "current_sha256", db_json_text(st, DOC_CURRENT_SHA));
	json_object_set_new(doc, "current_media_type", db_json_text(st, DOC_CURRENT_MEDIA_TYPE));
	json_object_set_new(doc, "created_at", db_json_time(st, DOC_CREATED_AT));
	json_object_set_new(doc, "updated_at", db_json_time(st, DOC_UPDATED_AT));
	json_object_set_new(doc, "type", db_json_text(st, DOC_TYPE));
	json_object_set_new(doc, "reused_from", db_json_text(st, DOC_REUSED_FROM));
	json_object_set_new(doc, "paper", db_json_text(st, DOC_PAPER));
	json_object_set_new(doc, "review",
			    json_pack("{s:b, s:o, s:o}", "required",
				      sqlite3_column_int(st, DOC_REVIEW) != 0, "confirmed_at",
				      db_json_time(st, DOC_REVIEWED_AT), "confirmed_by",
				      db_json_text(st, DOC_REVIEWED_BY)));
	json_object_set_new(doc, "sidecar",
			    sqlite3_column_type(st, DOC_SIDECAR_SHA) == SQLITE_NULL
				? json_null()
				: json_pack("{s:o, s:o}", "sha256",
					    db_json_text(st, DOC_SIDECAR_SHA), "media_type",
					    db_json_text(st, DOC_SIDECAR_MEDIA_TYPE)));
	const char *meta_text = db_text(st, DOC_META);
	json_t *meta = meta_text ? json_loads(meta_text, 0, NULL) : NULL;
	sqlite3_reset(st);
	/* Its steps and pages: what the API shows, not what a step needs. */
	if (parts) {
		json_object_set_new(doc, "steps", document_steps(r, id));
		json_object_set_new(doc, "pages", document_pages(r, id));
	}
	/* What the steps said about the document (OCR text, confidence, fields),
	 * beside the gateway's own members, which it never overrides. */
	const char *k;
	json_t *v;
	json_object_foreach(meta, k, v) if (!json_object_get(doc, k) &&
					    (parts || (strcmp(k, "steps") && strcmp(k, "pages"))))
	    json_object_set(doc, k, v);
	json_decref(meta);
	return doc;
}

json_t *document_get(struct records *r, const char *dossier_code, const char *id)
{
	return document_fetch(r, dossier_code, id, true);
}

json_t *document_brief(struct records *r, const char *dossier_code, const char *id)
{
	return document_fetch(r, dossier_code, id, false);
}

/* A sha and a media type from the row of st (bound by the caller). */
static int sha_and_type(sqlite3_stmt *st, char sha[65], char **media_type)
{
	int e = -ENOENT;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(sha, 65, "%s", db_text(st, 0));
		*media_type = strdup(db_text(st, 1));
		e = *media_type ? 0 : -ENOMEM;
	}
	sqlite3_reset(st);
	return e;
}

int document_page(struct records *r, const char *dossier_code, const char *id, int page_no,
		  char sha[65], char **media_type)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_PAGE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dossier_code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, page_no);
	return sha_and_type(st, sha, media_type);
}

int document_content(struct records *r, const char *dossier_code, const char *id, char sha[65],
		     char **media_type)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_CONTENT);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dossier_code, -1, SQLITE_TRANSIENT);
	return sha_and_type(st, sha, media_type);
}

/* ---- the pipeline's recorders ---- */

int document_set_processing(struct records *r, const char *id)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_PROCESSING);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	return step_and_reset(st);
}

int document_set_current(struct records *r, const char *id, const char *sha, const char *media_type)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_SET_CURRENT);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, media_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, time_now());
	return step_and_reset(st);
}

int document_set_sidecar(struct records *r, const char *id, const char *sha, const char *media_type)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_SET_SIDECAR);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, media_type, -1, SQLITE_TRANSIENT);
	return step_and_reset(st);
}

int document_merge_meta(struct records *r, const char *id, const char *meta)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_MERGE_META);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, meta, -1, SQLITE_TRANSIENT);
	return step_and_reset(st);
}

int document_fail(struct records *r, const char *dossier_code, const char *id, const char *step,
		  const char *reason, int pages)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_FAIL);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, time_now());
	if (step_and_reset(st) < 0)
		return -EIO;
	if (!step)
		return 0;
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "dossier_code", dossier_code, "document_id",
			       id, "step", step, "reason", reason);
	if (ev && pages >= 0)
		json_object_set_new(ev, "pages", json_integer(pages));
	return events_publish(r->gw->events, "document.failed", ev);
}

int document_finish_if_complete(struct records *r, const char *dossier_code, const char *id)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_OPEN_JOBS);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	int left = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_reset(st);
	if (left != 0)
		return left < 0 ? -EIO : 0;
	st = rec_stmt(r, ST_DOCUMENT_FINISH);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, time_now());
	char sha[65] = "", type[65] = "";
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(sha, sizeof sha, "%s", db_text(st, 0));
		if (db_text(st, 1))
			snprintf(type, sizeof type, "%s", db_text(st, 1));
	}
	sqlite3_reset(st);
	log_info("pipeline: document %s of %s done", id, dossier_code);
	return events_publish(r->gw->events, "document.done",
			      json_pack("{s:s, s:s, s:s, s:s?}", "dossier_code", dossier_code,
					"document_id", id, "sha256", sha, "document_type",
					type[0] ? type : NULL));
}

int document_requeue(struct records *r, const char *id, const char *sha, const char *media_type,
		     bool drop_sidecar)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_REQUEUE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, media_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, drop_sidecar);
	sqlite3_bind_int64(st, 5, time_now());
	return step_and_reset(st);
}

/* ---- the review gate ---- */

int document_review_if_due(struct records *r, const char *dossier_code, const char *id)
{
	sqlite3_stmt *st = rec_stmt(r, ST_REVIEW_DUE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, time_now());
	int rc = sqlite3_step(st), pages = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	/* the pages the recognize step found hard to read, for the clerk to check */
	const char *low = rc == SQLITE_ROW ? db_text(st, 1) : NULL;
	json_t *lowj = low ? json_loads(low, 0, NULL) : NULL;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : -EIO;
	if (!json_is_array(lowj)) {
		json_decref(lowj);
		lowj = json_array();
	}
	log_info("pipeline: document %s of %s waits for the clerk's review", id, dossier_code);
	if (events_publish(r->gw->events, "document.review",
			   json_pack("{s:s, s:s, s:i, s:o}", "dossier_code", dossier_code,
				     "document_id", id, "pages", pages, "low_confidence_pages",
				     lowj)) < 0)
		return -EIO;
	return 1;
}

static json_t *failed_pages(struct records *r, const char *id)
{
	json_t *a = json_array();
	sqlite3_stmt *st = rec_stmt(r, ST_FAILED_PAGES);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, json_integer(sqlite3_column_int(st, 0)));
	sqlite3_reset(st);
	return a;
}

int document_review_failed_page(struct records *r, const char *dossier_code, const char *id)
{
	sqlite3_stmt *st = rec_stmt(r, ST_REVIEW_FAILED_PAGE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, time_now());
	int rc = sqlite3_step(st), pages = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : -EIO;
	json_t *failed = failed_pages(r, id);
	log_warning("pipeline: document %s of %s waits for the clerk: %zu page(s) could not be "
		    "recognized",
		    id, dossier_code, json_array_size(failed));
	if (events_publish(r->gw->events, "document.review",
			   json_pack("{s:s, s:s, s:i, s:[], s:o}", "dossier_code", dossier_code,
				     "document_id", id, "pages", pages, "low_confidence_pages",
				     "failed_pages", failed)) < 0)
		return -EIO;
	return 1;
}

int document_review_state(struct records *r, const char *dossier_code, const char *id,
			  char state[16], int *pages)
{
	sqlite3_stmt *st = rec_stmt(r, ST_REVIEW_STATE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dossier_code, -1, SQLITE_TRANSIENT);
	int e = -ENOENT;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(state, 16, "%s", db_text(st, 0) ? db_text(st, 0) : "");
		*pages = sqlite3_column_int(st, 1);
		e = 0;
	}
	sqlite3_reset(st);
	return e;
}

int document_page_info(struct records *r, const char *id, int page_no, struct page_info *out)
{
	sqlite3_stmt *st = rec_stmt(r, ST_PAGE_INFO);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, page_no);
	int e = -ENOENT;
	if (sqlite3_step(st) == SQLITE_ROW) {
		memset(out, 0, sizeof *out);
		snprintf(out->sha, sizeof out->sha, "%s", db_text(st, 0));
		snprintf(out->media_type, sizeof out->media_type, "%s", db_text(st, 1));
		snprintf(out->scanned_sha, sizeof out->scanned_sha, "%s", db_text(st, 2));
		out->rotation = sqlite3_column_int(st, 3);
		/* NULL: 0; quarter turns only */
		out->turned = (((sqlite3_column_int(st, 4) % 360) + 360) % 360) / 90 * 90;
		e = 0;
	}
	sqlite3_reset(st);
	return e;
}

/* Opens an edit: the document must be in review. -ENOENT, -EBUSY, -EIO. */
static int edit_begin(struct records *r, const char *dossier_code, const char *id, int *pages)
{
	char state[16];
	if (db_begin(r->gw->db) < 0)
		return -EIO;
	int e = document_review_state(r, dossier_code, id, state, pages);
	if (e == 0 && strcmp(state, "review"))
		e = -EBUSY;
	if (e < 0)
		db_rollback(r->gw->db);
	return e;
}

/* Closes an edit: the recognize step runs again (the document's PDF and
 * text are made again from its pages), document.edited, commit. Takes ev. */
static int edit_finish(struct records *r, const char *id, json_t *ev)
{
	sqlite3_stmt *st = rec_stmt(r, ST_RECOGNIZE_AGAIN);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	int e = step_and_reset(st);
	st = rec_stmt(r, ST_DOCUMENT_EDITED);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, time_now());
	if (e < 0 || step_and_reset(st) < 0) {
		json_decref(ev);
		goto fail;
	}
	if (events_publish(r->gw->events, "document.edited", ev) < 0 || db_commit(r->gw->db) < 0)
		goto fail;
	return 0;
fail:
	db_rollback(r->gw->db);
	return -EIO;
}

static json_t *edit_event(const char *dossier_code, const char *id, const char *action, int page_no,
			  const char *by)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:s}", "dossier_code", dossier_code, "document_id",
			 id, "action", action, "page", page_no, "by", by ? by : "");
}

static int set_page_image(struct records *r, const char *id, int page_no, const char *expect_sha,
			  const char *sha, const char *media_type, const char *scanned_sha,
			  int rotation)
{
	sqlite3_stmt *st = rec_stmt(r, ST_PAGE_SET_IMAGE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, page_no);
	sqlite3_bind_text(st, 3, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, media_type, -1, SQLITE_TRANSIENT);
	if (scanned_sha)
		sqlite3_bind_text(st, 5, scanned_sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 6, rotation);
	sqlite3_bind_text(st, 7, expect_sha, -1, SQLITE_TRANSIENT);
	if (step_and_reset(st) < 0)
		return -EIO;
	return sqlite3_changes(r->gw->db) == 1 ? 0 : -ESTALE;
}

int document_page_rotate(struct records *r, const char *dossier_code, const char *id, int page_no,
			 const char *expect_sha, const char *sha, const char *media_type,
			 int rotation, int degrees, const char *by)
{
	int pages;
	struct page_info pi;
	int e = edit_begin(r, dossier_code, id, &pages);
	if (e < 0)
		return e;
	if (document_page_info(r, id, page_no, &pi) < 0)
		e = -ENOENT;
	else
		e = set_page_image(r, id, page_no, expect_sha, sha, media_type, pi.scanned_sha,
				   rotation);
	if (e < 0) {
		db_rollback(r->gw->db);
		return e;
	}
	json_t *ev = edit_event(dossier_code, id, "rotate", page_no, by);
	json_object_set_new(ev, "degrees", json_integer(degrees));
	json_object_set_new(ev, "rotation", json_integer(rotation));
	json_object_set_new(ev, "sha256", json_string(sha));
	return edit_finish(r, id, ev);
}

int document_page_delete(struct records *r, const char *dossier_code, const char *id, int page_no,
			 const char *by)
{
	int pages;
	int e = edit_begin(r, dossier_code, id, &pages);
	if (e < 0)
		return e;
	if (page_no < 1 || page_no > pages)
		e = -ENOENT;
	else if (pages == 1)
		e = -EMLINK; /* the last page: nothing would be left to sign */
	char sha[65] = "";
	sqlite3_stmt *st = rec_stmt(r, ST_PAGE_DELETE);
	if (e == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, page_no);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(sha, sizeof sha, "%s", db_text(st, 0));
		else
			e = -EIO;
		sqlite3_reset(st);
	}
	if (e == 0) {
		st = rec_stmt(r, ST_PAGES_NEGATE);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		e = step_and_reset(st);
	}
	if (e == 0) {
		st = rec_stmt(r, ST_PAGES_CLOSE_GAP);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, page_no);
		e = step_and_reset(st);
	}
	if (e < 0) {
		db_rollback(r->gw->db);
		return e;
	}
	json_t *ev = edit_event(dossier_code, id, "delete", page_no, by);
	json_object_set_new(ev, "sha256", json_string(sha));
	json_object_set_new(ev, "pages", json_integer(pages - 1));
	return edit_finish(r, id, ev);
}

/* Puts the pages in order (old numbers in their new order, checked by the
 * caller to be 1..n once each), inside the caller's transaction. */
static int renumber(struct records *r, const char *id, const int *order, size_t n)
{
	sqlite3_stmt *st = rec_stmt(r, ST_PAGES_NEGATE);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (step_and_reset(st) < 0)
		return -EIO;
	for (size_t i = 0; i < n; i++) {
		st = rec_stmt(r, ST_PAGE_RENUMBER);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, order[i]);
		sqlite3_bind_int(st, 3, (int)i + 1);
		if (step_and_reset(st) < 0 || sqlite3_changes(r->gw->db) != 1)
			return -EIO;
	}
	return 0;
}

int document_confirm(struct records *r, const char *dossier_code, const char *id, const int *order,
		     size_t n, const char *by)
{
	int pages;
	int e = edit_begin(r, dossier_code, id, &pages);
	if (e < 0)
		return e;
	bool moved = false;
	for (size_t i = 0; i < n; i++)
		moved |= order[i] != (int)i + 1;
	json_t *failed = failed_pages(r, id);
	if (json_array_size(failed))
		e = -EPIPE; /* a page that could not be recognized: scan it again or delete it */
	else if (order && n != (size_t)pages)
		e = -EINVAL;
	else if (moved)
		e = renumber(r, id, order, n);
	json_decref(failed);
	if (e < 0) {
		db_rollback(r->gw->db);
		return e;
	}
	int64_t now = time_now();
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_CONFIRM);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, by, -1, SQLITE_TRANSIENT);
	json_t *ord = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ord, json_integer(order[i]));
	if (step_and_reset(st) < 0 ||
	    events_publish(r->gw->events, "document.confirmed",
			   json_pack("{s:s, s:s, s:s, s:i, s:O}", "dossier_code", dossier_code,
				     "document_id", id, "by", by ? by : "", "pages", pages, "order",
				     ord)) < 0) {
		json_decref(ord);
		db_rollback(r->gw->db);
		return -EIO;
	}
	if (!moved) {
		json_decref(ord);
		if (db_commit(r->gw->db) < 0) {
			db_rollback(r->gw->db);
			return -EIO;
		}
		log_info("pipeline: document %s of %s confirmed by %s", id, dossier_code, by);
		return 0;
	}
	/* the PDF and the text are made again in the new order, then signed */
	json_t *ev = edit_event(dossier_code, id, "order", 0, by);
	json_object_set_new(ev, "order", ord);
	e = edit_finish(r, id, ev);
	if (e == 0)
		log_info("pipeline: document %s of %s confirmed by %s, pages put in order", id,
			 dossier_code, by);
	return e;
}

int document_replace_begin(struct records *r, const char *dossier_code, const char *id, int page_no)
{
	int pages;
	int e = edit_begin(r, dossier_code, id, &pages);
	if (e < 0)
		return e;
	if (page_no < 1 || page_no > pages)
		e = -ENOENT;
	sqlite3_stmt *st = rec_stmt(r, ST_REPLACE_BEGIN);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, time_now());
	if (e == 0 && step_and_reset(st) < 0)
		e = -EIO;
	if (e == 0 && events_publish(r->gw->events, "document.scan.started",
				     json_pack("{s:s, s:s, s:i}", "dossier_code", dossier_code,
					       "document_id", id, "replace_page", page_no)) < 0)
		e = -EIO;
	if (e < 0 || db_commit(r->gw->db) < 0) {
		db_rollback(r->gw->db);
		return e < 0 ? e : -EIO;
	}
	return 0;
}

int document_replace_end(struct records *r, const char *dossier_code, const char *id, int page_no,
			 const char *sha, const char *media_type, const char *by,
			 const char *reason)
{
	sqlite3 *db = r->gw->db;
	struct page_info pi;
	if (db_begin(db) < 0)
		return -EIO;
	int e = 0;
	if (sha && document_page_info(r, id, page_no, &pi) == 0 &&
	    set_page_image(r, id, page_no, pi.sha, sha, media_type, NULL, 0) == 0) {
		json_t *ev = edit_event(dossier_code, id, "replace", page_no, by);
		json_object_set_new(ev, "sha256", json_string(sha));
		return edit_finish(r, id, ev);
	}
	/* no page came (or the page is gone): back to the clerk */
	if (document_rescan_back(r, dossier_code, id, page_no, reason) < 0 || db_commit(db) < 0)
		e = -EIO;
	if (e < 0)
		db_rollback(db);
	return e;
}

int document_rescan_back(struct records *r, const char *dossier_code, const char *id, int page_no,
			 const char *reason)
{
	sqlite3_stmt *st = rec_stmt(r, ST_RESCAN_BACK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, time_now());
	int rc = sqlite3_step(st), pages = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : -EIO;
	log_warning("pipeline: page %d of document %s was not scanned again: %s", page_no, id,
		    reason && reason[0] ? reason : "no page was scanned");
	if (events_publish(r->gw->events, "document.replace.failed",
			   json_pack("{s:s, s:s, s:i, s:s}", "dossier_code", dossier_code,
				     "document_id", id, "page", page_no, "reason",
				     reason && reason[0] ? reason : "no page was scanned")) < 0 ||
	    events_publish(r->gw->events, "document.review",
			   json_pack("{s:s, s:s, s:i, s:o}", "dossier_code", dossier_code,
				     "document_id", id, "pages", pages, "failed_pages",
				     failed_pages(r, id))) < 0)
		return -EIO;
	return 1;
}

int thumb_lookup(struct records *r, const char *sha, int turn, char thumb_sha[65])
{
	sqlite3_stmt *st = rec_stmt(r, ST_THUMB_GET);
	sqlite3_bind_text(st, 1, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, turn);
	int found = 0;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 64) {
		snprintf(thumb_sha, 65, "%s", db_text(st, 0));
		found = 1;
	}
	sqlite3_reset(st);
	return found;
}

int thumb_record(struct records *r, const char *sha, int turn, const char *thumb_sha, int width,
		 int height)
{
	sqlite3_stmt *st = rec_stmt(r, ST_THUMB_PUT);
	sqlite3_bind_text(st, 1, sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, turn);
	sqlite3_bind_text(st, 3, thumb_sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, width);
	sqlite3_bind_int(st, 5, height);
	return step_and_reset(st);
}
