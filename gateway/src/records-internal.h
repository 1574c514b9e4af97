/* SPDX-License-Identifier: MIT */
/* Shared by records.c, dossier.c and document.c: the statements, prepared
 * once, and the columns they read, by name. */
#ifndef MOTCUA_RECORDS_INTERNAL_H
#define MOTCUA_RECORDS_INTERNAL_H

#include "db.h"
#include "records.h"

/* Columns as X(ENUM_NAME, column): the SELECT lists and the enums that read
 * them come from one list, so they cannot drift apart. Each list starts
 * after rowid (column 0). */
#define COL_ENUM(e, c) e,
#define COL_SQL(e, c) ", " #c

#define DOSSIER_COLUMNS(X)                                                                         \
	X(DC_CODE, code)                                                                           \
	X(DC_PROCEDURE_CODE, procedure_code)                                                       \
	X(DC_PROCEDURE_NAME, procedure_name)                                                       \
	X(DC_APPLICANT_NAME, applicant_name)                                                       \
	X(DC_APPLICANT_ID, applicant_id)                                                           \
	X(DC_APPLICANT_PHONE, applicant_phone)                                                     \
	X(DC_CHANNEL, channel)                                                                     \
	X(DC_STATUS, status)                                                                       \
	X(DC_RECEIVED_AT, received_at)                                                             \
	X(DC_UPDATED_AT, updated_at)                                                               \
	X(DC_DUE_AT, due_at)                                                                       \
	X(DC_UNIT, unit)                                                                           \
	X(DC_TICKET_ID, ticket_id)                                                                 \
	X(DC_CREATED_BY, created_by)                                                               \
	X(DC_APPLICANT_ADDRESS, applicant_address)                                                 \
	X(DC_APPLICANT_EMAIL, applicant_email)                                                     \
	X(DC_LOOKUP_KEY, lookup_key)
enum dossier_column { DC_ROWID_, DOSSIER_COLUMNS(COL_ENUM) };

#define DOCUMENT_COLUMNS(X)                                                                        \
	X(DOC_ID, id)                                                                              \
	X(DOC_NAME, name)                                                                          \
	X(DOC_STATE, state)                                                                        \
	X(DOC_REASON, reason)                                                                      \
	X(DOC_ORIGINAL_SHA, original_sha)                                                          \
	X(DOC_MEDIA_TYPE, media_type)                                                              \
	X(DOC_SIZE, size)                                                                          \
	X(DOC_CURRENT_SHA, current_sha)                                                            \
	X(DOC_CURRENT_MEDIA_TYPE, current_media_type)                                              \
	X(DOC_CREATED_AT, created_at)                                                              \
	X(DOC_UPDATED_AT, updated_at)                                                              \
	X(DOC_TYPE, doc_type)                                                                      \
	X(DOC_REUSED_FROM, reused_from)                                                            \
	X(DOC_SIDECAR_SHA, sidecar_sha)                                                            \
	X(DOC_SIDECAR_MEDIA_TYPE, sidecar_media_type)                                              \
	X(DOC_META, meta)                                                                          \
	X(DOC_PAPER, paper)                                                                        \
	X(DOC_REVIEW, review)                                                                      \
	X(DOC_REVIEWED_AT, reviewed_at)                                                            \
	X(DOC_REVIEWED_BY, reviewed_by)
enum document_column { DOC_ROWID_, DOCUMENT_COLUMNS(COL_ENUM) };

#define STEP_COLUMNS(X)                                                                            \
	X(SC_STEP, step)                                                                           \
	X(SC_STATE, state)                                                                         \
	X(SC_PLUGIN, plugin)                                                                       \
	X(SC_MESSAGE, message)                                                                     \
	X(SC_OUTPUT_SHA, output_sha)                                                               \
	X(SC_ATTEMPTS, attempts)                                                                   \
	X(SC_STARTED_AT, started_at)                                                               \
	X(SC_FINISHED_AT, finished_at)
enum step_column { SC_ROWID_, STEP_COLUMNS(COL_ENUM) };

#define PAGE_COLUMNS(X)                                                                            \
	X(PC_PAGE_NO, page_no)                                                                     \
	X(PC_STATE, state)                                                                         \
	X(PC_MEDIA_TYPE, media_type)                                                               \
	X(PC_SHA, sha)                                                                             \
	X(PC_OUTPUT_SHA, output_sha)                                                               \
	X(PC_META, meta)                                                                           \
	X(PC_MESSAGE, message)                                                                     \
	X(PC_ROTATION, rotation)
enum page_column { PC_ROWID_, PAGE_COLUMNS(COL_ENUM) };

enum record_stmt {
	/* dossiers */
	ST_DAY_SEQ,
	ST_DOSSIER_INSERT,
	ST_DOSSIER_GET,
	ST_DOSSIER_DOCUMENTS,
	ST_DOSSIER_EXISTS,
	ST_DOSSIER_STATUS,
	ST_DOSSIER_SET_STATUS,
	ST_DOSSIER_COUNT,
	ST_DOSSIER_LIST,
	ST_DOSSIER_PROCEDURE,
	ST_DOSSIER_LAST_STATUS,
	/* documents */
	ST_DOCUMENT_INSERT,
	ST_JOB_INSERT_CAPTURE,
	ST_JOB_INSERT_DONE_BEFORE,
	ST_JOB_INSERT_PENDING,
	ST_PAGE_INSERT,
	ST_DOCUMENT_GET,
	ST_DOCUMENT_STEPS,
	ST_DOCUMENT_PAGES,
	ST_DOCUMENT_PAGE,
	ST_DOCUMENT_CONTENT,
	ST_DOCUMENT_FIRST_PAGE,
	ST_CAPTURE_JOB_END,
	ST_DOCUMENT_FAIL,
	ST_DOCUMENT_OPEN_JOBS,
	ST_DOCUMENT_FINISH,
	ST_DOCUMENT_PROCESSING,
	ST_DOCUMENT_SET_CURRENT,
	ST_DOCUMENT_SET_SIDECAR,
	ST_DOCUMENT_MERGE_META,
	ST_DOCUMENT_REQUEUE,
	ST_DOCUMENT_SET_PAPER,
	/* the review gate and the clerk's page edits */
	ST_REVIEW_DUE,
	ST_REVIEW_FAILED_PAGE,
	ST_FAILED_PAGES,
	ST_REVIEW_STATE,
	ST_PAGE_INFO,
	ST_PAGE_SET_IMAGE,
	ST_PAGE_DELETE,
	ST_PAGES_NEGATE,
	ST_PAGES_CLOSE_GAP,
	ST_PAGE_RENUMBER,
	ST_RECOGNIZE_AGAIN,
	ST_DOCUMENT_EDITED,
	ST_DOCUMENT_CONFIRM,
	ST_REPLACE_BEGIN,
	ST_RESCAN_BACK,
	ST_THUMB_GET,
	ST_THUMB_PUT,
	ST_COUNT_
};

struct records {
	struct gateway *gw;
	struct db_stmts st;
};

static inline sqlite3_stmt *rec_stmt(struct records *r, enum record_stmt i)
{
	return db_stmt(&r->st, i);
}

/* Column values as JSON. */

#endif
