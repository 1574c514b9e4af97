/* SPDX-License-Identifier: MIT */
/*
 * Records: the dossiers and their documents as the gateway keeps them
 * (tables dossiers, documents, pages, and each document's job rows when it
 * is created). Every change is one transaction with the event that reports
 * it (dossier.*, document.*); the pipeline, the outbox and the plugins learn
 * of changes from those events, never from a call in here.
 *
 * Functions that say "inside a transaction" are the pipeline's recorders:
 * they join the caller's transaction. The others open their own.
 */
#ifndef MOTCUA_RECORDS_H
#define MOTCUA_RECORDS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "motcua/plugin.h"

struct gateway;
struct records;

/* Uses gw's db, events, calendar and settings (agency code). */
struct records *records_new(struct gateway *gw);
void records_free(struct records *r);

/* ---- dossiers ---- */

struct dossier_new {
	const char *unit; /* the department that resolves it (or NULL: from [office] procedures) */
	int processing_days; /* legal processing time in working days; -1: from [office] procedures
			      */
	int64_t ticket_id;   /* the queue ticket it was received under, or 0 */
	const char *procedure_code;
	const char *procedure_name;
	const char *applicant_name;
	const char *applicant_id;
	const char *applicant_phone;
	const char *applicant_address; /* optional, for the receipt */
	const char *applicant_email;   /* optional */
	int channel;
	const char *created_by;
};
/* Creates a dossier with the next code of the day. Returns its JSON (new
 * reference) or NULL with -errno in *err. */
json_t *dossier_create(struct records *r, const struct dossier_new *d, int *err);
json_t *dossier_get(struct records *r, const char *code);
/* The dossier as the outbox hands it to adapters: dossier_get() with each
 * document's current file (sha256, media type, type, paper, signature,
 * sidecar). */
json_t *dossier_snapshot(struct records *r, const char *code);
/* A status reported (1-10): records it and publishes dossier.status.
 * Takes details' reference. -ENOENT, -EINVAL, -EIO. */
int dossier_set_status(struct records *r, const char *code, int status, const char *by,
		       json_t *details);
json_t *dossier_list(struct records *r, int status, int64_t from, int64_t to, int limit,
		     int offset);
bool dossier_exists(struct records *r, const char *code);

/* ---- documents ---- */

/* What a clerk may say about a new document besides its file (all optional). */
struct document_extra {
	const char *doc_type;	 /* the kind of paper, e.g. "to-khai" */
	const char *reused_from; /* an archived item attached instead of a new paper */
	const char *meta;	 /* JSON object: fields known already (a reused item's) */
	const char *paper;	 /* the procedure's paper it is (dossier_paper_check first) */
};
/* Inserts a document whose original is already in the store, with its jobs;
 * returns the new document id in id_out. x may be NULL. */
int document_create(struct records *r, const char *dossier_code, const char *name,
		    const char *media_type, const char *sha, uint64_t size, const char *created_by,
		    const struct document_extra *x, char id_out[33]);
/* A scanned document: created with its capture job running, then its pages
 * arrive one by one, then the capture ends (result 0 or -errno). */
int document_create_scan(struct records *r, const char *dossier_code, const char *name,
			 const char *plugin, const char *created_by, const struct document_extra *x,
			 char id_out[33]);
int document_add_page(struct records *r, const char *dossier_code, const char *doc, int page_no,
		      const char *sha, const char *media_type, uint64_t size);
int document_capture_done(struct records *r, const char *dossier_code, const char *doc, int result,
			  const char *message, int pages);
json_t *document_get(struct records *r, const char *dossier_code, const char *id);
/* The same without its steps and pages (what a step and an adapter see). */
json_t *document_brief(struct records *r, const char *dossier_code, const char *id);
/* Page page_no of a document: its image's sha and media type (caller frees). */
int document_page(struct records *r, const char *dossier_code, const char *id, int page_no,
		  char sha[65], char **media_type);
/* Current blob of a document: sha and media type (caller frees). */
int document_content(struct records *r, const char *dossier_code, const char *id, char sha[65],
		     char **media_type);

/* ---- the procedure's papers (checklist.c) ---- */

/* Is paper the id of a paper of the dossier's procedure? 0, -ENOENT (no
 * dossier), -EINVAL (not one of its papers: msg says which are). */
int dossier_paper_check(struct records *r, const char *code, const char *paper, char *msg,
			size_t msglen);
/* Assigns a document to a paper of its dossier's procedure (NULL: none);
 * event document.paper. 0, -ENOENT (no such document), -EINVAL (msg), -EIO. */
int document_set_paper(struct records *r, const char *code, const char *id, const char *paper,
		       char *msg, size_t msglen);
/* {"papers":[{"id","name","form","count","documents":[ids]}],"missing":[ids]}:
 * the procedure's papers with the documents assigned to each (failed ones
 * left out), and those without any. NULL: no dossier. */
json_t *dossier_checklist(struct records *r, const char *code);
/* The details a status change records: {"note"?} and, for a supplement
 * request (status 5), "missing": the papers named, each a paper id of the
 * procedure (recorded as its name) or a paper's name in words, and
 * "missing_papers": [{"id" (or null), "name"}]. missing may be NULL. NULL
 * with *err -ENOENT (no dossier) or -EINVAL (msg says why). */
json_t *dossier_status_details(struct records *r, const char *code, int status, const char *note,
			       json_t *missing, int *err, char *msg, size_t msglen);
/* The latest status change to that status: its event's payload (with "at",
 * "by", "details"; a new reference), or NULL. */
json_t *dossier_last_status(struct records *r, const char *code, int status);

/* A step's name as the API shows it ("capture", "recognize", ...). */
const char *step_name(enum motcua_step step);

/* ---- the pipeline's recorders (inside a transaction) ---- */

/* A queued document is being worked on. */
int document_set_processing(struct records *r, const char *id);
/* A step's output became the document's current file. */
int document_set_current(struct records *r, const char *id, const char *sha,
			 const char *media_type);
int document_set_sidecar(struct records *r, const char *id, const char *sha,
			 const char *media_type);
/* Merges a step's meta (a JSON object, RFC 7396) into the document's. */
int document_merge_meta(struct records *r, const char *id, const char *meta);
/* The document failed: its state and reason, and document.failed naming the
 * step (and the pages scanned, when pages >= 0); step NULL: no event (an
 * interrupted step found at start). */
int document_fail(struct records *r, const char *dossier_code, const char *id, const char *step,
		  const char *reason, int pages);
/* The document is done once no job of it is left: document.done. */
int document_finish_if_complete(struct records *r, const char *dossier_code, const char *id);
/* A step runs again on its old input: the document is queued with that file
 * as its current one (and without its companion file, if the step made it). */
int document_requeue(struct records *r, const char *id, const char *sha, const char *media_type,
		     bool drop_sidecar);

/* ---- the review gate: the clerk looks at a document before it is signed ---- */

/* Inside a transaction: a document whose recognition is finished and that
 * waits for the clerk goes to state "review" (event document.review).
 * Returns 1 when it did, 0 when it is not due, <0. */
int document_review_if_due(struct records *r, const char *dossier_code, const char *id);
/* Inside a transaction: a scanned document with a page that could not be
 * recognized goes to review instead of failing (document.review with
 * "failed_pages"): the clerk scans the page again or deletes it. 1 when it
 * did, 0 when it is not under review, <0. */
int document_review_failed_page(struct records *r, const char *dossier_code, const char *id);
/* The document's state and number of pages: 0 or -ENOENT. */
int document_review_state(struct records *r, const char *dossier_code, const char *id,
			  char state[16], int *pages);
struct page_info {
	char sha[65]; /* the page image now */
	char media_type[64];
	char scanned_sha[65]; /* as it was scanned (before the clerk turned it) */
	int rotation;	      /* the clerk's turn of the scanned image, degrees clockwise */
	int turned;	      /* what the recognize step turned it by (its meta "rotated") */
};
int document_page_info(struct records *r, const char *id, int page_no, struct page_info *out);
/* The clerk's edits, each one transaction with document.edited; the
 * document must be in review (-EBUSY otherwise), -ENOENT no such page.
 * After an edit the recognize step runs again (changed pages are recognized
 * again, the PDF and text made again) and the document comes back to review.
 * Rotate: page page_no (whose image is still expect_sha, else -ESTALE) gets
 * the image sha, its scanned image turned by rotation degrees. */
int document_page_rotate(struct records *r, const char *dossier_code, const char *id, int page_no,
			 const char *expect_sha, const char *sha, const char *media_type,
			 int rotation, int degrees, const char *by);
/* The later pages move up; -EMLINK for the only page. */
int document_page_delete(struct records *r, const char *dossier_code, const char *id, int page_no,
			 const char *by);
/* Confirms it (document.confirmed; signing and archiving follow); order (n
 * page numbers, each of 1..pages once, checked by the caller; NULL: as they
 * are) sets the pages' order first (-EINVAL when n is not the page count;
 * -EPIPE while a page could not be recognized). */
int document_confirm(struct records *r, const char *dossier_code, const char *id, const int *order,
		     size_t n, const char *by);
/* A page scanned again into its place: begin (state "rescan" while the
 * scanner works, so that nothing else edits or runs it), then end with the new image
 * (sha; an edit) or without one (sha NULL, reason: back to review). */
int document_replace_begin(struct records *r, const char *dossier_code, const char *id,
			   int page_no);
int document_replace_end(struct records *r, const char *dossier_code, const char *id, int page_no,
			 const char *sha, const char *media_type, const char *by,
			 const char *reason);
/* Inside a transaction: a document whose page was being scanned again goes
 * back to review as it was (document.replace.failed, document.review);
 * page_no 0 when not known. 1 when it did, 0 when it was not being scanned. */
int document_rescan_back(struct records *r, const char *dossier_code, const char *id, int page_no,
			 const char *reason);
/* Page thumbnails, cached by image and turn: 1 found, 0 not. */
int thumb_lookup(struct records *r, const char *sha, int turn, char thumb_sha[65]);
int thumb_record(struct records *r, const char *sha, int turn, const char *thumb_sha, int width,
		 int height);

/* /metrics lines: dossiers received, documents by state. */
struct evbuffer;
void records_metrics(struct records *r, struct evbuffer *buf);

#endif
