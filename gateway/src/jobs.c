/* SPDX-License-Identifier: MIT */
/* The pipeline's job and page records (see jobs.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "db.h"
#include "events.h"
#include "gateway.h"
#include "jobs.h"
#include "log.h"
#include "records.h"
#include "util.h"

#define AGAIN_MAX_S (7 * 86400) /* a step asking to run again waits at most a week */

/* The columns of the next job, by name. */
#define NEXT_COLUMNS(X)                                                                            \
	X(NJ_DOCUMENT_ID, j.document_id)                                                           \
	X(NJ_STEP, j.step)                                                                         \
	X(NJ_ATTEMPTS, j.attempts)                                                                 \
	X(NJ_DOSSIER_CODE, d.dossier_code)                                                         \
	X(NJ_NAME, d.name)                                                                         \
	X(NJ_CURRENT_SHA, d.current_sha)                                                           \
	X(NJ_CURRENT_MEDIA_TYPE, d.current_media_type)                                             \
	X(NJ_ORIGINAL_SHA, d.original_sha)                                                         \
	X(NJ_MEDIA_TYPE, d.media_type)                                                             \
	X(NJ_SIDECAR_SHA, d.sidecar_sha)                                                           \
	X(NJ_SIDECAR_MEDIA_TYPE, d.sidecar_media_type)                                             \
	X(NJ_CAPTURER,                                                                             \
	  (SELECT c.plugin FROM jobs c WHERE c.document_id = j.document_id AND c.step = 0))
#define COL_ENUM(e, c) e,
#define COL_SQL(e, c) ", " #c
enum next_column { NJ_ROWID_, NEXT_COLUMNS(COL_ENUM) };

#define AGAIN_COLUMNS(X)                                                                           \
	X(AG_DOCUMENT_ID, j.document_id)                                                           \
	X(AG_STEP, j.step)                                                                         \
	X(AG_DOSSIER_CODE, d.dossier_code)                                                         \
	X(AG_INPUT_SHA, j.input_sha)                                                               \
	X(AG_INPUT_MEDIA_TYPE, j.input_media_type)                                                 \
	X(AG_MADE_SIDECAR, j.sidecar_sha IS NOT NULL)                                              \
	X(AG_PLUGIN, j.plugin)
enum again_column { AG_ROWID_, AGAIN_COLUMNS(COL_ENUM) };

enum job_stmt {
	JS_RUNNING,
	JS_INTERRUPTED_FAIL,
	JS_INTERRUPTED_RESUME,
	JS_PAGES_RESUME,
	JS_HELD_RESUME,
	JS_UNFINISHED,
	JS_COMPLETE_BUT_OPEN,
	JS_NEXT,
	JS_FAILED_PAGE,
	JS_SET_RUNNING,
	JS_DONE,
	JS_RETRY,
	JS_FAILED,
	JS_SKIPPED,
	JS_HELD_BEFORE,
	JS_HELD,
	JS_AGAIN_DUE,
	JS_AGAIN_REQUEUE,
	JS_WAKEUP,
	JS_PAGE_NEXT,
	JS_PAGE_RUNNING,
	JS_PAGE_RECORD,
	JS_PAGES_OF,
	JS_REVIEW_CANDIDATES,
	JS_COUNT_
};

static const char *const job_sql[JS_COUNT_] = {
    [JS_RUNNING] =
	"SELECT j.document_id, j.step, j.attempts, d.dossier_code"
	" FROM jobs j JOIN documents d ON d.id = j.document_id WHERE j.state = 'running'",
    [JS_INTERRUPTED_FAIL] =
	"UPDATE jobs SET state = 'failed', message = ?3 WHERE document_id = ?1 AND step = ?2",
    [JS_INTERRUPTED_RESUME] =
	"UPDATE jobs SET state = 'pending' WHERE document_id = ?1 AND step = ?2",
    [JS_PAGES_RESUME] = "UPDATE pages SET state = 'captured' WHERE state = 'running'",
    /* steps held for a plugin that did not start: try again now */
    [JS_HELD_RESUME] =
	"UPDATE jobs SET not_before = 0 WHERE state = 'pending' AND message LIKE 'held:%'",
    [JS_UNFINISHED] = "SELECT COUNT(*) FROM documents WHERE state IN ('queued', 'processing')",
    /* documents waiting on no job (e.g. the route job, which is no more) */
    [JS_COMPLETE_BUT_OPEN] =
	"SELECT d.dossier_code, d.id FROM documents d WHERE d.state IN ('queued', 'processing')"
	" AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.document_id = d.id"
	"   AND j.state NOT IN ('done', 'skipped'))",
    /* the next job whose earlier steps are all finished */
    [JS_NEXT] = "SELECT j.rowid" NEXT_COLUMNS(
	COL_SQL) " FROM jobs j JOIN documents d ON d.id = j.document_id"
		 " WHERE j.state = 'pending' AND j.not_before <= ?1 AND d.state IN ('queued', "
		 "'processing')"
		 " AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.document_id = j.document_id"
		 "   AND e.step < j.step AND e.state NOT IN ('done', 'skipped'))"
		 /* the review gate: nothing after recognition before the clerk confirmed */
		 " AND (j.step <= 1 OR d.review = 0 OR d.reviewed_at IS NOT NULL)"
		 /* a step with a page function waits for the document's pages */
		 " AND NOT (j.step = ?2 AND EXISTS (SELECT 1 FROM pages g WHERE g.document_id = "
		 "j.document_id"
		 "   AND g.state IN ('captured', 'running')))"
		 " ORDER BY d.created_at, d.rowid, j.step LIMIT 1",
    [JS_FAILED_PAGE] =
	"SELECT page_no, message FROM pages WHERE document_id = ?1 AND state = 'failed'"
	" ORDER BY page_no LIMIT 1",
    [JS_SET_RUNNING] =
	"UPDATE jobs SET state = 'running', plugin = ?3, input_sha = ?4, input_media_type = ?5,"
	" attempts = attempts + 1, started_at = ?6 WHERE document_id = ?1 AND step = ?2",
    [JS_DONE] =
	"UPDATE jobs SET state = 'done', output_sha = ?3, output_media_type = ?4, message = ?5,"
	" finished_at = ?6, sidecar_sha = ?7, again_at = ?8 WHERE document_id = ?1 AND step = ?2",
    [JS_RETRY] = "UPDATE jobs SET state = 'pending', not_before = ?3, message = ?4"
		 " WHERE document_id = ?1 AND step = ?2",
    [JS_FAILED] = "UPDATE jobs SET state = 'failed', message = ?3, finished_at = ?4"
		  " WHERE document_id = ?1 AND step = ?2",
    [JS_SKIPPED] =
	"UPDATE jobs SET state = 'skipped', message = 'no plugin enabled', finished_at = ?3"
	" WHERE document_id = ?1 AND step = ?2",
    [JS_HELD_BEFORE] =
	"SELECT message LIKE 'held:%' FROM jobs WHERE document_id = ?1 AND step = ?2",
    [JS_HELD] =
	"UPDATE jobs SET not_before = ?3, message = ?4 WHERE document_id = ?1 AND step = ?2",
    [JS_AGAIN_DUE] = "SELECT j.rowid" AGAIN_COLUMNS(
	COL_SQL) " FROM jobs j JOIN documents d ON d.id = j.document_id"
		 " WHERE j.again_at IS NOT NULL AND j.again_at <= ?1 AND j.state = 'done' AND "
		 "d.state = 'done'"
		 " ORDER BY j.again_at LIMIT 1",
    [JS_AGAIN_REQUEUE] =
	"UPDATE jobs SET state = 'pending', again_at = NULL, not_before = 0,"
	" message = CASE WHEN step = ?2 THEN 'again, as the step asked' ELSE message END"
	" WHERE document_id = ?1 AND step >= ?2",
    [JS_WAKEUP] = "SELECT MIN(t) FROM (SELECT MIN(not_before) AS t FROM jobs WHERE state = "
		  "'pending' AND not_before > ?1"
		  " UNION ALL SELECT MIN(again_at) FROM jobs WHERE again_at > ?1)",
    [JS_PAGE_NEXT] = "SELECT g.document_id, g.page_no, g.sha, g.media_type, d.dossier_code,"
		     " g.rotation"
		     " FROM pages g JOIN documents d ON d.id = g.document_id"
		     " JOIN jobs j ON j.document_id = g.document_id AND j.step = ?1"
		     " WHERE g.state = 'captured' AND j.state = 'pending' AND d.state IN "
		     "('queued', 'processing')"
		     " ORDER BY d.created_at, d.rowid, g.page_no LIMIT 1",
    [JS_PAGE_RUNNING] = "UPDATE pages SET state = 'running', plugin = ?3, attempts = attempts + 1"
			" WHERE document_id = ?1 AND page_no = ?2",
    [JS_PAGE_RECORD] =
	"UPDATE pages SET state = ?3, output_sha = ?4, meta = ?5, message = ?6, finished_at = ?7"
	" WHERE document_id = ?1 AND page_no = ?2",
    [JS_PAGES_OF] = "SELECT sha, media_type, output_sha, meta FROM pages WHERE document_id = ?1 "
		    "ORDER BY page_no",
    /* documents that may be waiting for the clerk (e.g. a page was being
     * scanned again when the gateway stopped) */
    [JS_REVIEW_CANDIDATES] =
	"SELECT dossier_code, id FROM documents WHERE state IN ('queued', 'processing', 'rescan')"
	" AND review = 1 AND reviewed_at IS NULL",
};

struct jobs {
	struct gateway *gw;
	struct db_stmts st;
};

struct jobs *jobs_new(struct gateway *gw)
{
	struct jobs *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->gw = gw;
	if (db_stmts_prepare(&j->st, gw->db, job_sql, JS_COUNT_) < 0) {
		free(j);
		return NULL;
	}
	return j;
}

void jobs_free(struct jobs *j)
{
	if (!j)
		return;
	db_stmts_finalize(&j->st);
	free(j);
}

static sqlite3_stmt *stmt(struct jobs *j, enum job_stmt i)
{
	return db_stmt(&j->st, i);
}

static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static void bind_job(sqlite3_stmt *st, const char *doc, int step)
{
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, step);
}

static int publish(struct jobs *j, const char *type, json_t *payload)
{
	return events_publish(j->gw->events, type, payload);
}

static void copy_col(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const char *s = db_text(st, col);
	snprintf(dst, len, "%s", s ? s : "");
}

/* ---- resuming ---- */

/* One interrupted job: run again, or failed when it cannot be (a scan: the
 * papers went through the feeder) or keeps killing us. */
static int resume_one(struct jobs *j, const char *doc, const char *code, int step, int attempts,
		      int max_attempts)
{
	if (step != MOTCUA_STEP_CAPTURE && attempts < max_attempts) {
		sqlite3_stmt *st = stmt(j, JS_INTERRUPTED_RESUME);
		bind_job(st, doc, step);
		return run(st) < 0 ? -EIO : 1;
	}
	char reason[160];
	if (step == MOTCUA_STEP_CAPTURE)
		snprintf(reason, sizeof reason,
			 "capture: the gateway stopped during the scan; the pages scanned before "
			 "are kept, "
			 "scan the rest again");
	else
		snprintf(reason, sizeof reason,
			 "%s: interrupted %d times (the gateway stopped while it ran)",
			 step_name(step), attempts);
	sqlite3_stmt *st = stmt(j, JS_INTERRUPTED_FAIL);
	bind_job(st, doc, step);
	sqlite3_bind_text(st, 3, reason, -1, SQLITE_TRANSIENT);
	if (run(st) < 0 || document_fail(j->gw->records, code, doc, NULL, reason, -1) < 0)
		return -EIO;
	log_warning("pipeline: document %s failed: %s", doc, reason);
	return 0;
}

struct interrupted {
	char doc[33], code[96];
	int step, attempts;
	struct interrupted *next;
};

/* The (dossier code, document id) rows of a statement, as a list (newest
 * first; the rows read so far if memory runs out). */
static struct interrupted *document_rows(struct jobs *j, enum job_stmt which)
{
	struct interrupted *list = NULL;
	sqlite3_stmt *st = stmt(j, which);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct interrupted *it = calloc(1, sizeof *it);
		if (!it)
			break;
		copy_col(it->code, sizeof it->code, st, 0);
		copy_col(it->doc, sizeof it->doc, st, 1);
		it->next = list;
		list = it;
	}
	sqlite3_reset(st);
	return list;
}

int jobs_resume(struct jobs *j, int max_attempts)
{
	sqlite3 *db = j->gw->db;
	if (db_begin(db) < 0)
		return -EIO;
	/* Read them all first: the updates below change what the query walks. */
	struct interrupted *list = NULL;
	sqlite3_stmt *st = stmt(j, JS_RUNNING);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct interrupted *it = calloc(1, sizeof *it);
		if (!it)
			break;
		copy_col(it->doc, sizeof it->doc, st, 0);
		it->step = sqlite3_column_int(st, 1);
		it->attempts = sqlite3_column_int(st, 2);
		copy_col(it->code, sizeof it->code, st, 3);
		it->next = list;
		list = it;
	}
	sqlite3_reset(st);
	int resumed = 0, e = 0;
	while (list) {
		struct interrupted *it = list;
		list = it->next;
		int r =
		    e < 0 ? 0
			  : resume_one(j, it->doc, it->code, it->step, it->attempts, max_attempts);
		if (r < 0)
			e = r;
		resumed += r > 0;
		free(it);
	}
	if (e == 0 && (run(stmt(j, JS_PAGES_RESUME)) < 0 || run(stmt(j, JS_HELD_RESUME)) < 0))
		e = -EIO;
	/* Documents with nothing left to do (after an upgrade that dropped a job
	 * they waited for) are finished now, with their document.done. */
	struct interrupted *done = e == 0 ? document_rows(j, JS_COMPLETE_BUT_OPEN) : NULL;
	while (done) {
		struct interrupted *it = done;
		done = it->next;
		if (e == 0 && document_finish_if_complete(j->gw->records, it->code, it->doc) < 0)
			e = -EIO;
		free(it);
	}
	/* Documents whose recognition is finished and that wait for the clerk
	 * are back in review (a page scanned again into one was interrupted). */
	done = e == 0 ? document_rows(j, JS_REVIEW_CANDIDATES) : NULL;
	while (done) {
		struct interrupted *it = done;
		done = it->next;
		if (e == 0 && (document_rescan_back(j->gw->records, it->code, it->doc, 0,
						    "the gateway stopped during the scan") < 0 ||
			       document_review_if_due(j->gw->records, it->code, it->doc) < 0))
			e = -EIO;
		free(it);
	}
	if (e < 0 || db_commit(db) < 0) {
		db_rollback(db);
		return -EIO;
	}
	st = stmt(j, JS_UNFINISHED);
	if (sqlite3_step(st) == SQLITE_ROW)
		log_info("pipeline: %d unfinished documents, %d interrupted steps resumed",
			 sqlite3_column_int(st, 0), resumed);
	sqlite3_reset(st);
	return resumed;
}

/* ---- the next job ---- */

int jobs_next(struct jobs *j, int64_t now, int page_step, struct job *out)
{
	sqlite3_stmt *st = stmt(j, JS_NEXT);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, page_step);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : -EIO;
	}
	memset(out, 0, sizeof *out);
	copy_col(out->document_id, sizeof out->document_id, st, NJ_DOCUMENT_ID);
	out->step = sqlite3_column_int(st, NJ_STEP);
	out->attempts = sqlite3_column_int(st, NJ_ATTEMPTS);
	copy_col(out->dossier_code, sizeof out->dossier_code, st, NJ_DOSSIER_CODE);
	copy_col(out->name, sizeof out->name, st, NJ_NAME);
	copy_col(out->sha, sizeof out->sha, st, NJ_CURRENT_SHA);
	copy_col(out->media_type, sizeof out->media_type, st, NJ_CURRENT_MEDIA_TYPE);
	/* The file as received: an upload's or a reused item's, not a scan's
	 * (its originals are the pages). */
	const char *capturer = db_text(st, NJ_CAPTURER);
	bool received = capturer && (!strcmp(capturer, "upload") || !strcmp(capturer, "reuse"));
	if (received && sqlite3_column_bytes(st, NJ_ORIGINAL_SHA) == 64) {
		copy_col(out->original_sha, sizeof out->original_sha, st, NJ_ORIGINAL_SHA);
		copy_col(out->original_media_type, sizeof out->original_media_type, st,
			 NJ_MEDIA_TYPE);
	}
	if (sqlite3_column_bytes(st, NJ_SIDECAR_SHA) == 64) {
		copy_col(out->sidecar_sha, sizeof out->sidecar_sha, st, NJ_SIDECAR_SHA);
		copy_col(out->sidecar_media_type, sizeof out->sidecar_media_type, st,
			 NJ_SIDECAR_MEDIA_TYPE);
	}
	sqlite3_reset(st);
	return 1;
}

int jobs_failed_page(struct jobs *j, const char *document_id, int *page_no, char *msg, size_t len)
{
	sqlite3_stmt *st = stmt(j, JS_FAILED_PAGE);
	sqlite3_bind_text(st, 1, document_id, -1, SQLITE_TRANSIENT);
	int found = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*page_no = sqlite3_column_int(st, 0);
		copy_col(msg, len, st, 1);
		found = 1;
	}
	sqlite3_reset(st);
	return found;
}

int job_set_running(struct jobs *j, const struct job *job, const char *plugin)
{
	sqlite3_stmt *st = stmt(j, JS_SET_RUNNING);
	bind_job(st, job->document_id, job->step);
	sqlite3_bind_text(st, 3, plugin, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, job->sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, job->media_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, time_now());
	if (run(st) < 0)
		return -EIO;
	return document_set_processing(j->gw->records, job->document_id);
}

/* ---- the recorders ---- */

int job_record_done(struct jobs *j, const struct job *job, const char *plugin, const char *out_sha,
		    const char *out_media_type, const char *sidecar_sha, const char *message,
		    uint32_t again_after_s)
{
	int64_t now = time_now();
	sqlite3_stmt *st = stmt(j, JS_DONE);
	bind_job(st, job->document_id, job->step);
	if (out_sha[0]) {
		sqlite3_bind_text(st, 3, out_sha, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, out_media_type, -1, SQLITE_TRANSIENT);
	}
	sqlite3_bind_text(st, 5, message, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, now);
	if (sidecar_sha[0])
		sqlite3_bind_text(st, 7, sidecar_sha, -1, SQLITE_TRANSIENT);
	if (again_after_s > 0)
		sqlite3_bind_int64(
		    st, 8, now + (again_after_s > AGAIN_MAX_S ? AGAIN_MAX_S : again_after_s));
	if (run(st) < 0)
		return -EIO;
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "dossier_code", job->dossier_code,
			       "document_id", job->document_id, "step", step_name(job->step),
			       "plugin", plugin, "message", message);
	if (out_sha[0])
		json_object_set_new(ev, "output_sha256", json_string(out_sha));
	if (sidecar_sha[0])
		json_object_set_new(ev, "sidecar_sha256", json_string(sidecar_sha));
	if (again_after_s > 0)
		json_object_set_new(ev, "again_in_s", json_integer(again_after_s));
	return publish(j, "document.step.done", ev);
}

int job_record_retry(struct jobs *j, const struct job *job, const char *plugin, int64_t delay_s,
		     const char *message)
{
	sqlite3_stmt *st = stmt(j, JS_RETRY);
	bind_job(st, job->document_id, job->step);
	sqlite3_bind_int64(st, 3, time_now() + delay_s);
	sqlite3_bind_text(st, 4, message, -1, SQLITE_TRANSIENT);
	if (run(st) < 0)
		return -EIO;
	return publish(j, "document.step.retry",
		       json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "dossier_code",
				 job->dossier_code, "document_id", job->document_id, "step",
				 step_name(job->step), "plugin", plugin, "message", message,
				 "retry_in_s", (json_int_t)delay_s));
}

int job_record_failed(struct jobs *j, const struct job *job, const char *plugin,
		      const char *message)
{
	char reason[400];
	snprintf(reason, sizeof reason, "%s (%s): %s", step_name(job->step), plugin, message);
	sqlite3_stmt *st = stmt(j, JS_FAILED);
	bind_job(st, job->document_id, job->step);
	sqlite3_bind_text(st, 3, message, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, time_now());
	if (run(st) < 0)
		return -EIO;
	gw_log(MOTCUA_LOG_ERROR, plugin, "document %s failed: %s", job->document_id, reason);
	return document_fail(j->gw->records, job->dossier_code, job->document_id,
			     step_name(job->step), reason, -1);
}

int job_record_skipped(struct jobs *j, const struct job *job)
{
	sqlite3_stmt *st = stmt(j, JS_SKIPPED);
	bind_job(st, job->document_id, job->step);
	sqlite3_bind_int64(st, 3, time_now());
	if (run(st) < 0 ||
	    publish(j, "document.step.skipped",
		    json_pack("{s:s, s:s, s:s}", "dossier_code", job->dossier_code, "document_id",
			      job->document_id, "step", step_name(job->step))) < 0)
		return -EIO;
	if (job->step == MOTCUA_STEP_RECOGNIZE &&
	    document_review_if_due(j->gw->records, job->dossier_code, job->document_id) < 0)
		return -EIO;
	return document_finish_if_complete(j->gw->records, job->dossier_code, job->document_id);
}

int job_record_held(struct jobs *j, const struct job *job, const char *plugin, int64_t hold_s)
{
	char msg[200];
	snprintf(msg, sizeof msg,
		 "held: %s is enabled but did not start (see the log); the step waits for it",
		 plugin);
	sqlite3_stmt *st = stmt(j, JS_HELD_BEFORE);
	bind_job(st, job->document_id, job->step);
	bool first = sqlite3_step(st) == SQLITE_ROW && !sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	st = stmt(j, JS_HELD);
	bind_job(st, job->document_id, job->step);
	sqlite3_bind_int64(st, 3, time_now() + hold_s);
	sqlite3_bind_text(st, 4, msg, -1, SQLITE_TRANSIENT);
	if (run(st) < 0)
		return -EIO;
	if (first && publish(j, "document.step.held",
			     json_pack("{s:s, s:s, s:s, s:s}", "dossier_code", job->dossier_code,
				       "document_id", job->document_id, "step",
				       step_name(job->step), "plugin", plugin)) < 0)
		return -EIO;
	return 0;
}

int jobs_requeue_again(struct jobs *j, int64_t now)
{
	sqlite3 *db = j->gw->db;
	if (db_begin(db) < 0)
		return -EIO;
	sqlite3_stmt *st = stmt(j, JS_AGAIN_DUE);
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_bytes(st, AG_INPUT_SHA) != 64) {
		sqlite3_reset(st);
		db_rollback(db);
		return 0;
	}
	char doc[33], code[96], sha[65], mt[64], plugin[64];
	copy_col(doc, sizeof doc, st, AG_DOCUMENT_ID);
	int step = sqlite3_column_int(st, AG_STEP);
	copy_col(code, sizeof code, st, AG_DOSSIER_CODE);
	copy_col(sha, sizeof sha, st, AG_INPUT_SHA);
	copy_col(mt, sizeof mt, st, AG_INPUT_MEDIA_TYPE);
	bool made_sidecar = sqlite3_column_int(st, AG_MADE_SIDECAR);
	copy_col(plugin, sizeof plugin, st, AG_PLUGIN);
	sqlite3_reset(st);
	st = stmt(j, JS_AGAIN_REQUEUE);
	bind_job(st, doc, step);
	if (run(st) < 0 || document_requeue(j->gw->records, doc, sha, mt, made_sidecar) < 0 ||
	    publish(j, "document.step.again",
		    json_pack("{s:s, s:s, s:s, s:s}", "dossier_code", code, "document_id", doc,
			      "step", step_name(step), "plugin", plugin)) < 0 ||
	    db_commit(db) < 0) {
		db_rollback(db);
		return -EIO;
	}
	gw_log(MOTCUA_LOG_INFO, plugin, "%s of document %s runs again, as asked", step_name(step),
	       doc);
	return 1;
}

int64_t jobs_next_wakeup(struct jobs *j, int64_t now)
{
	sqlite3_stmt *st = stmt(j, JS_WAKEUP);
	sqlite3_bind_int64(st, 1, now);
	int64_t at = 0;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		at = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return at;
}

/* ---- pages ---- */

int pages_next(struct jobs *j, int step, struct page *out)
{
	sqlite3_stmt *st = stmt(j, JS_PAGE_NEXT);
	sqlite3_bind_int(st, 1, step);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : -EIO;
	}
	memset(out, 0, sizeof *out);
	copy_col(out->document_id, sizeof out->document_id, st, 0);
	out->page_no = sqlite3_column_int(st, 1);
	copy_col(out->sha, sizeof out->sha, st, 2);
	copy_col(out->media_type, sizeof out->media_type, st, 3);
	copy_col(out->dossier_code, sizeof out->dossier_code, st, 4);
	out->rotation = sqlite3_column_int(st, 5);
	sqlite3_reset(st);
	return 1;
}

int page_set_running(struct jobs *j, const struct page *pg, const char *plugin)
{
	sqlite3_stmt *st = stmt(j, JS_PAGE_RUNNING);
	bind_job(st, pg->document_id, pg->page_no);
	sqlite3_bind_text(st, 3, plugin, -1, SQLITE_TRANSIENT);
	if (run(st) < 0)
		return -EIO;
	return document_set_processing(j->gw->records, pg->document_id);
}

int page_record(struct jobs *j, const struct page *pg, const char *plugin, bool ok,
		const char *out_sha, const char *meta, const char *message)
{
	sqlite3_stmt *st = stmt(j, JS_PAGE_RECORD);
	bind_job(st, pg->document_id, pg->page_no);
	sqlite3_bind_text(st, 3, ok ? "done" : "failed", -1, SQLITE_STATIC);
	if (out_sha[0])
		sqlite3_bind_text(st, 4, out_sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, meta, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, message, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, time_now());
	if (run(st) < 0)
		return -EIO;
	json_t *ev =
	    json_pack("{s:s, s:s, s:i, s:s, s:s}", "dossier_code", pg->dossier_code, "document_id",
		      pg->document_id, "page", pg->page_no, "plugin", plugin, "message", message);
	/* The page's own summary (e.g. confidence) rides along, without its text. */
	json_t *m = meta ? json_loads(meta, 0, NULL) : NULL;
	const char *k;
	json_t *v;
	json_object_foreach(m, k, v) if (!json_object_get(ev, k) &&
					 (json_is_number(v) || json_is_boolean(v)))
	    json_object_set(ev, k, v);
	json_decref(m);
	return publish(j, ok ? "document.page.done" : "document.page.failed", ev);
}

int jobs_each_page(struct jobs *j, const char *document_id,
		   int (*fn)(void *data, const char *sha, const char *media_type,
			     const char *out_sha, const char *meta),
		   void *data)
{
	sqlite3_stmt *st = stmt(j, JS_PAGES_OF);
	sqlite3_bind_text(st, 1, document_id, -1, SQLITE_TRANSIENT);
	int r = 0, rc;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = fn(data, db_text(st, 0), db_text(st, 1), db_text(st, 2), db_text(st, 3));
	sqlite3_reset(st);
	return r;
}

void jobs_metrics(struct jobs *j, struct evbuffer *buf)
{
	evbuffer_add_printf(
	    buf, "# HELP motcua_jobs Pipeline jobs by step and state.\n# TYPE motcua_jobs gauge\n");
	sqlite3_stmt *st =
	    db_prepare(j->gw->db, "SELECT step, state, COUNT(*) FROM jobs GROUP BY step, state"
				  " ORDER BY step, state");
	while (st && sqlite3_step(st) == SQLITE_ROW)
		evbuffer_add_printf(buf, "motcua_jobs{step=\"%s\",state=\"%s\"} %lld\n",
				    step_name(sqlite3_column_int(st, 0)), db_text(st, 1),
				    (long long)sqlite3_column_int64(st, 2));
	sqlite3_finalize(st);
}
