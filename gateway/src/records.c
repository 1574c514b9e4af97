/* SPDX-License-Identifier: MIT */
/* The records' statements, prepared once when the gateway starts, and what
 * dossier.c and document.c share. */
#include <errno.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "gateway.h"
#include "records-internal.h"
#include "util.h"

#define DOC_SELECT "SELECT rowid" DOCUMENT_COLUMNS(COL_SQL) " FROM documents"

static const char *const record_sql[ST_COUNT_] = {
    [ST_DAY_SEQ] = "INSERT INTO day_seq(day, last) VALUES(?1, 1)"
		   " ON CONFLICT(day) DO UPDATE SET last = last + 1 RETURNING last",
    [ST_DOSSIER_INSERT] =
	"INSERT INTO dossiers(code, procedure_code, procedure_name, applicant_name,"
	" applicant_id, applicant_phone, channel, status, received_at, updated_at,"
	" created_by, due_at, unit, ticket_id, applicant_address, applicant_email, lookup_key)"
	" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_DOSSIER_GET] = "SELECT rowid" DOSSIER_COLUMNS(COL_SQL) " FROM dossiers WHERE code = ?1",
    [ST_DOSSIER_DOCUMENTS] = DOC_SELECT " WHERE dossier_code = ?1 ORDER BY created_at, rowid",
    [ST_DOSSIER_EXISTS] = "SELECT 1 FROM dossiers WHERE code = ?1",
    [ST_DOSSIER_STATUS] = "SELECT status FROM dossiers WHERE code = ?1",
    [ST_DOSSIER_SET_STATUS] = "UPDATE dossiers SET status = ?2, updated_at = ?3 WHERE code = ?1",
    [ST_DOSSIER_COUNT] =
	"SELECT COUNT(*) FROM dossiers"
	" WHERE (?1 = 0 OR status = ?1) AND received_at >= ?2 AND received_at <= ?3",
    [ST_DOSSIER_LIST] = "SELECT rowid" DOSSIER_COLUMNS(
	COL_SQL) " FROM dossiers"
		 " WHERE (?1 = 0 OR status = ?1) AND received_at >= ?2 AND received_at <= ?3"
		 " ORDER BY received_at, code LIMIT ?4 OFFSET ?5",
    [ST_DOSSIER_PROCEDURE] = "SELECT procedure_code FROM dossiers WHERE code = ?1",
    /* The latest status change of a dossier with that status. */
    [ST_DOSSIER_LAST_STATUS] =
	"SELECT payload FROM events WHERE type = 'dossier.status'"
	" AND json_extract(payload, '$.code') = ?1 AND json_extract(payload, '$.status') = ?2"
	" ORDER BY id DESC LIMIT 1",
    [ST_DOCUMENT_INSERT] =
	"INSERT INTO documents(id, dossier_code, name, media_type, size,"
	" original_sha, current_sha, current_media_type, state,"
	" created_at, updated_at, created_by, doc_type, reused_from, meta, paper, review)"
	" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, ?4, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_JOB_INSERT_CAPTURE] =
	"INSERT INTO jobs(document_id, step, state, plugin, output_sha, output_media_type,"
	" message, attempts, started_at, finished_at)"
	" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9)",
    [ST_JOB_INSERT_DONE_BEFORE] =
	"INSERT INTO jobs(document_id, step, state, message, finished_at)"
	" VALUES(?1, ?2, 'skipped', 'reused: done when the paper was first archived', ?3)",
    [ST_JOB_INSERT_PENDING] =
	"INSERT INTO jobs(document_id, step, state) VALUES(?1, ?2, 'pending')",
    [ST_PAGE_INSERT] = "INSERT INTO pages(document_id, page_no, sha, media_type, state, created_at)"
		       " VALUES(?1, ?2, ?3, ?4, 'captured', ?5)",
    [ST_DOCUMENT_GET] = DOC_SELECT " WHERE id = ?1 AND dossier_code = ?2",
    [ST_DOCUMENT_STEPS] =
	"SELECT rowid" STEP_COLUMNS(COL_SQL) " FROM jobs WHERE document_id = ?1 ORDER BY step",
    [ST_DOCUMENT_PAGES] =
	"SELECT rowid" PAGE_COLUMNS(COL_SQL) " FROM pages WHERE document_id = ?1 ORDER BY page_no",
    [ST_DOCUMENT_PAGE] =
	"SELECT g.sha, g.media_type FROM pages g JOIN documents d ON d.id = g.document_id"
	" WHERE g.document_id = ?1 AND d.dossier_code = ?2 AND g.page_no = ?3",
    [ST_DOCUMENT_CONTENT] = "SELECT current_sha, current_media_type FROM documents"
			    " WHERE id = ?1 AND dossier_code = ?2",
    [ST_DOCUMENT_FIRST_PAGE] =
	"UPDATE documents SET original_sha = ?2, current_sha = ?2, media_type = ?3,"
	" current_media_type = ?3, size = ?4, updated_at = ?5"
	" WHERE id = ?1 AND original_sha = ''",
    [ST_CAPTURE_JOB_END] = "UPDATE jobs SET state = ?3, message = ?4, finished_at = ?5"
			   " WHERE document_id = ?1 AND step = ?2 AND state = 'running'",
    [ST_DOCUMENT_FAIL] =
	"UPDATE documents SET state = 'failed', reason = ?2, updated_at = ?3 WHERE id = ?1",
    [ST_DOCUMENT_OPEN_JOBS] = "SELECT COUNT(*) FROM jobs WHERE document_id = ?1"
			      " AND state NOT IN ('done', 'skipped')",
    [ST_DOCUMENT_FINISH] = "UPDATE documents SET state = 'done', updated_at = ?2 WHERE id = ?1"
			   " RETURNING current_sha, doc_type",
    [ST_DOCUMENT_PROCESSING] =
	"UPDATE documents SET state = 'processing' WHERE id = ?1 AND state = 'queued'",
    [ST_DOCUMENT_SET_CURRENT] = "UPDATE documents SET current_sha = ?2, current_media_type = ?3,"
				" updated_at = ?4 WHERE id = ?1",
    [ST_DOCUMENT_SET_SIDECAR] =
	"UPDATE documents SET sidecar_sha = ?2, sidecar_media_type = ?3 WHERE id = ?1",
    /* RFC 7396 merge: later steps add to or replace what earlier ones said. */
    [ST_DOCUMENT_MERGE_META] =
	"UPDATE documents SET meta = json_patch(COALESCE(meta, '{}'), ?2) WHERE id = ?1",
    [ST_DOCUMENT_REQUEUE] =
	"UPDATE documents SET state = 'queued', current_sha = ?2,"
	" current_media_type = COALESCE(NULLIF(?3, ''), current_media_type),"
	" sidecar_sha = CASE WHEN ?4 THEN NULL ELSE sidecar_sha END,"
	" sidecar_media_type = CASE WHEN ?4 THEN NULL ELSE sidecar_media_type END,"
	" updated_at = ?5 WHERE id = ?1",
    [ST_DOCUMENT_SET_PAPER] = "UPDATE documents SET paper = ?3, updated_at = ?4"
			      " WHERE id = ?1 AND dossier_code = ?2",
    /* A document whose recognition is finished (capture done, recognize
     * done or skipped: its pages were done before) and that waits for the
     * clerk. */
    [ST_REVIEW_DUE] =
	"UPDATE documents SET state = 'review', updated_at = ?2 WHERE id = ?1 AND review = 1"
	" AND reviewed_at IS NULL AND state IN ('queued', 'processing')"
	" AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.document_id = ?1 AND j.step <= 1"
	"   AND j.state NOT IN ('done', 'skipped'))"
	" RETURNING (SELECT COUNT(*) FROM pages g WHERE g.document_id = ?1),"
	" json_extract(meta, '$.low_confidence_pages')",
    /* A scan with a page that could not be recognized: back to the clerk,
     * who scans it again or deletes it (its recognize job waits). */
    [ST_REVIEW_FAILED_PAGE] =
	"UPDATE documents SET state = 'review', updated_at = ?2 WHERE id = ?1 AND review = 1"
	" AND reviewed_at IS NULL AND state IN ('queued', 'processing')"
	" AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.document_id = ?1 AND j.step = 0"
	"   AND j.state <> 'done')"
	" RETURNING (SELECT COUNT(*) FROM pages g WHERE g.document_id = ?1)",
    [ST_FAILED_PAGES] = "SELECT page_no FROM pages WHERE document_id = ?1 AND state = 'failed'"
			" ORDER BY page_no",
    [ST_REVIEW_STATE] =
	"SELECT state, (SELECT COUNT(*) FROM pages g WHERE g.document_id = d.id) FROM documents d"
	" WHERE id = ?1 AND dossier_code = ?2",
    [ST_PAGE_INFO] = "SELECT sha, media_type, COALESCE(scanned_sha, sha), rotation,"
		     " json_extract(meta, '$.rotated') FROM pages"
		     " WHERE document_id = ?1 AND page_no = ?2",
    /* a new image for a page (turned or scanned again): recognized again */
    [ST_PAGE_SET_IMAGE] =
	"UPDATE pages SET sha = ?3, media_type = ?4, scanned_sha = ?5, rotation = ?6,"
	" state = 'captured', output_sha = NULL, meta = NULL, message = NULL, attempts = 0,"
	" finished_at = NULL WHERE document_id = ?1 AND page_no = ?2 AND sha = ?7",
    [ST_PAGE_DELETE] = "DELETE FROM pages WHERE document_id = ?1 AND page_no = ?2 RETURNING sha",
    [ST_PAGES_NEGATE] = "UPDATE pages SET page_no = -page_no WHERE document_id = ?1",
    [ST_PAGES_CLOSE_GAP] =
	"UPDATE pages SET page_no = CASE WHEN -page_no > ?2 THEN -page_no - 1 ELSE -page_no END"
	" WHERE document_id = ?1 AND page_no < 0",
    [ST_PAGE_RENUMBER] = "UPDATE pages SET page_no = ?3 WHERE document_id = ?1 AND page_no = -?2",
    /* after an edit the recognize step runs again on the pages (only the
     * changed ones are recognized again; the others keep their result) */
    [ST_RECOGNIZE_AGAIN] =
	"UPDATE jobs SET state = 'pending', attempts = 0, not_before = 0,"
	" message = 'again after the clerk''s edit', output_sha = NULL, again_at = NULL"
	" WHERE document_id = ?1 AND step = 1",
    [ST_DOCUMENT_EDITED] =
	"UPDATE documents SET state = 'queued', updated_at = ?2,"
	" current_sha = COALESCE((SELECT sha FROM pages WHERE document_id = ?1 AND page_no = 1),"
	"   current_sha),"
	" current_media_type = COALESCE((SELECT media_type FROM pages WHERE document_id = ?1"
	"   AND page_no = 1), current_media_type)"
	" WHERE id = ?1",
    [ST_DOCUMENT_CONFIRM] =
	"UPDATE documents SET state = 'queued', reviewed_at = ?2, reviewed_by = ?3, updated_at = ?2"
	" WHERE id = ?1 AND state = 'review'",
    /* while the page is scanned again: neither edited nor worked on */
    [ST_REPLACE_BEGIN] = "UPDATE documents SET state = 'rescan', updated_at = ?2"
			 " WHERE id = ?1 AND state = 'review'",
    [ST_RESCAN_BACK] = "UPDATE documents SET state = 'review', updated_at = ?2"
		       " WHERE id = ?1 AND state = 'rescan'"
		       " RETURNING (SELECT COUNT(*) FROM pages g WHERE g.document_id = ?1)",
    [ST_THUMB_GET] = "SELECT thumb_sha FROM thumbnails WHERE sha = ?1 AND turn = ?2",
    [ST_THUMB_PUT] = "INSERT OR REPLACE INTO thumbnails(sha, turn, thumb_sha, width, height)"
		     " VALUES(?1, ?2, ?3, ?4, ?5)",
};

struct records *records_new(struct gateway *gw)
{
	struct records *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->gw = gw;
	if (db_stmts_prepare(&r->st, gw->db, record_sql, ST_COUNT_) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

void records_free(struct records *r)
{
	if (!r)
		return;
	db_stmts_finalize(&r->st);
	free(r);
}

void records_metrics(struct records *r, struct evbuffer *buf)
{
	sqlite3 *db = r->gw->db;
	evbuffer_add_printf(buf, "# HELP motcua_dossiers_total Dossiers received.\n"
				 "# TYPE motcua_dossiers_total counter\n");
	sqlite3_stmt *st = db_prepare(db, "SELECT COUNT(*) FROM dossiers");
	if (st && sqlite3_step(st) == SQLITE_ROW)
		evbuffer_add_printf(buf, "motcua_dossiers_total %lld\n",
				    (long long)sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	evbuffer_add_printf(
	    buf, "# HELP motcua_documents Documents by state.\n# TYPE motcua_documents gauge\n");
	st = db_prepare(db, "SELECT state, COUNT(*) FROM documents GROUP BY state ORDER BY state");
	while (st && sqlite3_step(st) == SQLITE_ROW)
		evbuffer_add_printf(buf, "motcua_documents{state=\"%s\"} %lld\n", db_text(st, 0),
				    (long long)sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
}
