/* SPDX-License-Identifier: MIT */
/*
 * The pipeline's records: one row in `jobs` per document and step, one in
 * `pages` per page, and the recorders that move them on, each one change and
 * the event that reports it, inside the runner's transaction. The runner
 * (pipeline.c) decides; these only write down what happened.
 */
#ifndef MOTCUA_JOBS_H
#define MOTCUA_JOBS_H

#include <stdbool.h>
#include <stdint.h>

struct evbuffer;
struct gateway;
struct jobs;

/* Uses gw's db, events and records. */
struct jobs *jobs_new(struct gateway *gw);
void jobs_free(struct jobs *j);

/* After a start or a crash, in one transaction: interrupted steps run again
 * (a scan, or a step interrupted max_attempts times, fails instead), running
 * pages are captured again, held steps are looked at at once, and a document
 * none of whose jobs is left open is finished. Returns the number resumed. */
int jobs_resume(struct jobs *j, int max_attempts);

/* The next job whose earlier steps are finished: what the runner needs. */
struct job {
	char document_id[33];
	char dossier_code[96];
	char name[256];
	char sha[65], media_type[64]; /* the current file */
	char original_sha[65],
	    original_media_type[64]; /* an upload's or reused item's; "" for a scan */
	char sidecar_sha[65], sidecar_media_type[64]; /* "" when none */
	int step, attempts;			      /* attempts so far */
};
/* 1 and the job, 0 when none is due, <0. page_step: the step that waits for
 * the document's pages (or -1). */
int jobs_next(struct jobs *j, int64_t now, int page_step, struct job *out);
/* A page of the document that failed: its number and message. 1, 0 (none), <0. */
int jobs_failed_page(struct jobs *j, const char *document_id, int *page_no, char *msg, size_t len);
int job_set_running(struct jobs *j, const struct job *job, const char *plugin);

/* The recorders. Each is one change with its event. */
int job_record_done(struct jobs *j, const struct job *job, const char *plugin, const char *out_sha,
		    const char *out_media_type, const char *sidecar_sha, const char *message,
		    uint32_t again_after_s);
int job_record_retry(struct jobs *j, const struct job *job, const char *plugin, int64_t delay_s,
		     const char *message);
int job_record_failed(struct jobs *j, const struct job *job, const char *plugin,
		      const char *message);
/* No plugin does the step. */
int job_record_skipped(struct jobs *j, const struct job *job);
/* The step's plugin is enabled but did not start: the step waits hold_s. */
int job_record_held(struct jobs *j, const struct job *job, const char *plugin, int64_t hold_s);

/* A step that asked to run again and whose time has come, once its document
 * is done: the step and the later ones are queued again on the file the step
 * had as input. 1 when one was, 0 when none is due, <0. */
int jobs_requeue_again(struct jobs *j, int64_t now);
/* When the next retry or again is due (0 when none). */
int64_t jobs_next_wakeup(struct jobs *j, int64_t now);

/* The next captured page of a document whose page step is pending. */
struct page {
	char document_id[33];
	char dossier_code[96];
	int page_no;
	char sha[65], media_type[64];
	int rotation; /* degrees the clerk turned it (0: as scanned) */
};
int pages_next(struct jobs *j, int step, struct page *out);
int page_set_running(struct jobs *j, const struct page *pg, const char *plugin);
/* meta: the page step's JSON object (or NULL); out_sha "" when none. */
int page_record(struct jobs *j, const struct page *pg, const char *plugin, bool ok,
		const char *out_sha, const char *meta, const char *message);
/* Calls fn for each page of a document, in order (sha, media type, the page
 * step's output sha or NULL, its meta or NULL); stops at fn's first <0. */
int jobs_each_page(struct jobs *j, const char *document_id,
		   int (*fn)(void *data, const char *sha, const char *media_type,
			     const char *out_sha, const char *meta),
		   void *data);

/* /metrics lines: jobs by step and state. */
void jobs_metrics(struct jobs *j, struct evbuffer *buf);

#endif
