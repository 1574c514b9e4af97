/* SPDX-License-Identifier: MIT */
/* The pipeline's runner: each document's jobs, one at a time per document,
 * on the worker pool.
 *
 * A job's output is made durable in the store (store_commit_file) on a
 * worker thread before the loop records the job done in a transaction, so
 * after a crash at any point the job is either done with its output safe, or
 * still pending/running and is run again from the same input. Steps must be
 * deterministic for that. What happened is written down by the recorders of
 * jobs.c and records.h; this file decides what runs next. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "db.h"
#include "events.h"
#include "gateway.h"
#include "jobs.h"
#include "log.h"
#include "pipeline.h"
#include "records.h"
#include "slot.h"
#include "store.h"
#include "util.h"
#include "validate.h"
#include "workers.h"

#define MAX_INTERRUPTED_ATTEMPTS 5
#define RETRY_MAX_S 3600
/* How long a step held for a plugin that did not start waits before it is
 * looked at again (a restart looks at once). */
#define HOLD_S 60
#define META_MAX (1u << 20)

/* Who does a step. */
struct step_slot {
	struct slot slot; /* the step's plugin and its data */
	motcua_step_fn fn;
	struct slot page;	/* the step's per-page part, of the same plugin */
	motcua_page_fn page_fn; /* NULL: the step has no per-page part */
	char *held;		/* an enabled plugin for the step that did not start */
};

struct pipeline {
	struct gateway *gw;
	struct jobs *jobs;
	struct event *run_ev;
	struct event *retry_ev;
	unsigned in_flight;
	bool started, stopping;
	struct step_slot slots[MOTCUA_STEP_COUNT_];
};

static void on_run(evutil_socket_t fd, short what, void *arg);

/* A new document, page or capture's end: there may be work. */
static void on_document_event(void *data, const char *type, const char *json, size_t len)
{
	(void)type, (void)json, (void)len;
	pipeline_kick(data);
}

struct pipeline *pipeline_new(struct gateway *gw)
{
	struct pipeline *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->gw = gw;
	p->jobs = jobs_new(gw);
	p->run_ev = event_new(gw->base, -1, 0, on_run, p);
	p->retry_ev = event_new(gw->base, -1, 0, on_run, p);
	if (!p->jobs || !p->run_ev || !p->retry_ev ||
	    events_subscribe(gw->events, p, "document.", on_document_event, p, NULL) < 0) {
		pipeline_free(p);
		return NULL;
	}
	return p;
}

static void slot_clear(struct step_slot *s)
{
	slot_empty(&s->page, NULL, 0);
	slot_empty(&s->slot, NULL, 0);
	s->fn = NULL;
	s->page_fn = NULL;
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	for (int i = 0; i < MOTCUA_STEP_COUNT_; i++) {
		slot_clear(&p->slots[i]);
		free(p->slots[i].held);
	}
	if (p->gw->events)
		events_unsubscribe_all(p->gw->events, p);
	if (p->run_ev)
		event_free(p->run_ev);
	if (p->retry_ev)
		event_free(p->retry_ev);
	jobs_free(p->jobs);
	free(p);
}

void pipeline_kick(struct pipeline *p)
{
	if (p->started && !p->stopping)
		event_active(p->run_ev, 0, 0);
}

void pipeline_start(struct pipeline *p)
{
	jobs_resume(p->jobs, MAX_INTERRUPTED_ATTEMPTS);
	p->started = true;
	pipeline_kick(p);
}

void pipeline_stop(struct pipeline *p)
{
	p->stopping = true;
	event_del(p->retry_ev);
}

/* ---- the step slots ---- */

static bool document_step(enum motcua_step step)
{
	return step == MOTCUA_STEP_RECOGNIZE || step == MOTCUA_STEP_SIGN ||
	       step == MOTCUA_STEP_ARCHIVE;
}

int pipeline_step_set(struct pipeline *p, enum motcua_step step, const char *plugin_name,
		      motcua_step_fn fn, void *data, motcua_free_fn free_fn, const void *owner)
{
	if (!document_step(step) || !fn) {
		if (free_fn)
			free_fn(data);
		return -EINVAL;
	}
	struct step_slot *s = &p->slots[step];
	int r = slot_fill(&s->slot, plugin_name, NULL, 0, NULL, 0, data, free_fn, owner);
	if (r < 0)
		return r;
	s->fn = fn;
	pipeline_kick(p);
	return 0;
}

int pipeline_page_step_set(struct pipeline *p, enum motcua_step step, motcua_page_fn fn, void *data,
			   motcua_free_fn free_fn, const void *owner)
{
	int r = 0;
	/* pages exist for recognizing; other steps work per document */
	if (step != MOTCUA_STEP_RECOGNIZE || !fn)
		r = -EINVAL;
	else if (!slot_taken_by(&p->slots[step].slot, owner))
		r = -ENOENT;
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	struct step_slot *s = &p->slots[step];
	r = slot_fill(&s->page, s->slot.plugin_name, NULL, 0, NULL, 0, data, free_fn, owner);
	if (r < 0)
		return r;
	s->page_fn = fn;
	pipeline_kick(p);
	return 0;
}

const char *pipeline_step_plugin(struct pipeline *p, enum motcua_step step)
{
	return (unsigned)step < MOTCUA_STEP_COUNT_ ? p->slots[step].slot.plugin_name : NULL;
}

void pipeline_drop_owner(struct pipeline *p, const void *owner)
{
	for (int i = 0; p && i < MOTCUA_STEP_COUNT_; i++)
		if (slot_taken_by(&p->slots[i].slot, owner))
			slot_clear(&p->slots[i]);
}

int pipeline_hold(struct pipeline *p, enum motcua_step step, const char *plugin_name)
{
	if (!document_step(step))
		return -EINVAL;
	if (p->slots[step].held)
		return 0;
	p->slots[step].held = strdup(plugin_name);
	return p->slots[step].held ? 0 : -ENOMEM;
}

/* ---- what a step run carries ---- */

/* The pages of a document as a step sees them: paths into the store. */
struct page_set {
	size_t n, cap;
	struct store *store;
	char **paths, **media_types, **out_paths, **meta_paths;
	char **metas; /* page meta JSON from the DB, written to meta_paths by the worker */
};

struct step_run {
	struct pipeline *p;
	motcua_step_fn fn; /* the slot's: it may be emptied while the step runs */
	void *data;
	char *plugin_name;
	struct job job;
	struct motcua_step_io io;
	char *in_path, *out_path, *meta_path, *sidecar_out_path;
	char *original_path, *sidecar_path;
	char *meta; /* what the step wrote to meta_path, checked */
	char *dossier_json, *document_json;
	struct page_set pages;
	int result;
	char out_sha[65], sidecar_sha[65];
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

static int page_set_add(void *data, const char *sha, const char *media_type, const char *out_sha,
			const char *meta)
{
	struct page_set *ps = data;
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 8;
		char ***vs[] = {&ps->paths, &ps->media_types, &ps->out_paths, &ps->meta_paths,
				&ps->metas};
		for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) {
			char **nv = realloc(*vs[k], cap * sizeof(char *));
			if (!nv)
				return -ENOMEM;
			*vs[k] = nv;
		}
		ps->cap = cap;
	}
	size_t i = ps->n++;
	ps->paths[i] = store_blob_path(ps->store, sha);
	ps->media_types[i] = strdup(media_type);
	ps->out_paths[i] = out_sha ? store_blob_path(ps->store, out_sha) : NULL;
	ps->metas[i] = meta ? strdup(meta) : NULL;
	ps->meta_paths[i] = meta ? store_tmp_path(ps->store, "page-meta") : NULL;
	if (!ps->paths[i] || !ps->media_types[i] || (meta && (!ps->metas[i] || !ps->meta_paths[i])))
		return -ENOMEM;
	return 0;
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
		snprintf(why, whylen, "meta is not a JSON object: %s",
			 j ? "not an object" : jerr.text);
		json_decref(j);
		return NULL;
	}
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

/* Makes a finished output file durable in the store; "" when there is none. */
static int commit_output(struct store *store, const char *path, char sha[65], char *msg,
			 size_t msglen)
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

/* ---- a document step, on a worker ---- */

static void step_work(void *arg)
{
	struct step_run *r = arg;
	struct store *store = r->p->gw->store;
	/* Page metas are handed to the step as files. */
	for (size_t i = 0; i < r->pages.n; i++)
		if (r->pages.metas[i] &&
		    write_file_atomic(r->pages.meta_paths[i], r->pages.metas[i],
				      strlen(r->pages.metas[i])) < 0) {
			free(r->pages.meta_paths[i]);
			r->pages.meta_paths[i] = NULL;
		}
	r->result = r->fn(r->data, &r->io);
	r->io.message[sizeof r->io.message - 1] = 0;
	r->io.out_media_type[sizeof r->io.out_media_type - 1] = 0;
	r->io.sidecar_out_media_type[sizeof r->io.sidecar_out_media_type - 1] = 0;
	if (r->result == 0) {
		char why[200] = "";
		r->meta = read_meta(r->meta_path, why, sizeof why);
		if (why[0]) {
			r->result = -EPROTO;
			snprintf(r->io.message, sizeof r->io.message, "the plugin's %s", why);
		}
	}
	if (r->result == 0)
		r->result = commit_output(store, r->out_path, r->out_sha, r->io.message,
					  sizeof r->io.message);
	if (r->result == 0) {
		r->result = commit_output(store, r->sidecar_out_path, r->sidecar_sha, r->io.message,
					  sizeof r->io.message);
		if (r->result == 0 && r->sidecar_sha[0] &&
		    !valid_media_type(r->io.sidecar_out_media_type)) {
			r->result = -EPROTO;
			snprintf(r->io.message, sizeof r->io.message,
				 "the plugin wrote a companion file without a valid media type");
		}
	}
	unlink(r->out_path);
	unlink(r->meta_path);
	unlink(r->sidecar_out_path);
}

/* ---- a document step's result, on the loop ---- */

static int record_success(struct step_run *r)
{
	struct records *rec = r->p->gw->records;
	const char *id = r->job.document_id;
	const char *mt = r->io.out_media_type[0] ? r->io.out_media_type : r->job.media_type;
	if (job_record_done(r->p->jobs, &r->job, r->plugin_name, r->out_sha, mt, r->sidecar_sha,
			    r->io.message, r->io.again_after_s) < 0 ||
	    (r->out_sha[0] && document_set_current(rec, id, r->out_sha, mt) < 0) ||
	    (r->sidecar_sha[0] &&
	     document_set_sidecar(rec, id, r->sidecar_sha, r->io.sidecar_out_media_type) < 0) ||
	    (r->meta && document_merge_meta(rec, id, r->meta) < 0))
		return -EIO;
	gw_log(MOTCUA_LOG_INFO, r->plugin_name, "%s of document %s done%s%s",
	       step_name(r->job.step), id, r->io.message[0] ? ": " : "", r->io.message);
	/* The review gate: after recognition the document may wait for the clerk. */
	if (r->job.step == MOTCUA_STEP_RECOGNIZE &&
	    document_review_if_due(rec, r->job.dossier_code, id) < 0)
		return -EIO;
	return document_finish_if_complete(rec, r->job.dossier_code, id);
}

static int record_retry(struct step_run *r)
{
	int attempts = r->job.attempts + 1;
	int64_t delay = (int64_t)r->p->gw->settings.step_retry_s
			<< (attempts > 10 ? 10 : attempts - 1);
	if (delay > RETRY_MAX_S)
		delay = RETRY_MAX_S;
	gw_log(MOTCUA_LOG_WARNING, r->plugin_name, "%s of document %s will be retried in %llds: %s",
	       step_name(r->job.step), r->job.document_id, (long long)delay, r->io.message);
	return job_record_retry(r->p->jobs, &r->job, r->plugin_name, delay, r->io.message);
}

static void step_done(void *arg, int cancelled)
{
	struct step_run *r = arg;
	struct pipeline *p = r->p;
	sqlite3 *db = p->gw->db;
	p->in_flight--;
	if (cancelled) {
		/* Stopping: the job stays 'running' and is resumed at the next start. */
		step_run_free(r);
		return;
	}
	if (db_begin(db) < 0)
		goto out;
	int e = r->result == 0 ? record_success(r)
		: r->result == -EAGAIN
		    ? record_retry(r)
		    : job_record_failed(p->jobs, &r->job, r->plugin_name,
					r->io.message[0] ? r->io.message : strerror(-r->result));
	if (e < 0 || db_commit(db) < 0) {
		db_rollback(db);
		log_error("pipeline: cannot record %s of document %s; it will run again",
			  step_name(r->job.step), r->job.document_id);
	}
out:
	step_run_free(r);
	pipeline_kick(p);
}

/* ---- starting a document step ---- */

/* The dossier and the document as a step sees them (motcua_step_io). */
static char *step_dossier_json(struct records *rec, const char *code)
{
	json_t *d = dossier_get(rec, code);
	if (!d)
		return NULL;
	json_object_del(d, "documents");
	char *s = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	return s;
}

static char *step_document_json(struct records *rec, const char *code, const char *id)
{
	json_t *d = document_brief(rec, code, id);
	char *s = d ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	return s;
}

/* Fills what the step is handed: paths into the store, the dossier and the
 * document as JSON, the pages. */
static int step_run_prepare(struct step_run *r)
{
	struct gateway *gw = r->p->gw;
	struct store *store = gw->store;
	const struct job *job = &r->job;
	r->in_path = store_blob_path(store, job->sha);
	r->out_path = store_tmp_path(store, job->document_id);
	r->meta_path = store_tmp_path(store, "meta");
	r->sidecar_out_path = store_tmp_path(store, "sidecar");
	r->dossier_json = step_dossier_json(gw->records, job->dossier_code);
	r->document_json = step_document_json(gw->records, job->dossier_code, job->document_id);
	if (job->original_sha[0])
		r->original_path = store_blob_path(store, job->original_sha);
	if (job->sidecar_sha[0])
		r->sidecar_path = store_blob_path(store, job->sidecar_sha);
	r->pages.store = store;
	if (!r->plugin_name || !r->in_path || !r->out_path || !r->meta_path ||
	    !r->sidecar_out_path || !r->dossier_json || !r->document_json ||
	    (job->original_sha[0] && !r->original_path) ||
	    (job->sidecar_sha[0] && !r->sidecar_path) ||
	    jobs_each_page(r->p->jobs, job->document_id, page_set_add, &r->pages) < 0)
		return -ENOMEM;
	r->io = (struct motcua_step_io){
	    .struct_size = sizeof r->io,
	    .dossier_code = job->dossier_code,
	    .document_id = job->document_id,
	    .document_name = job->name,
	    .media_type = job->media_type,
	    .path = r->in_path,
	    .out_path = r->out_path,
	    .meta_path = r->meta_path,
	    .n_pages = r->pages.n,
	    .page_paths = (const char *const *)r->pages.paths,
	    .page_media_types = (const char *const *)r->pages.media_types,
	    .page_out_paths = (const char *const *)r->pages.out_paths,
	    .page_meta_paths = (const char *const *)r->pages.meta_paths,
	    .dossier_json = r->dossier_json,
	    .document_json = r->document_json,
	    .original_path = r->original_path,
	    .original_media_type = r->original_path ? job->original_media_type : NULL,
	    .sidecar_path = r->sidecar_path,
	    .sidecar_media_type = r->sidecar_path ? job->sidecar_media_type : NULL,
	    .sidecar_out_path = r->sidecar_out_path,
	};
	return 0;
}

/* A job without a plugin to run it, in the caller's transaction: held for a
 * plugin that is enabled but did not start (the document waits rather than
 * going on unsigned or unarchived), or else skipped. */
static int settle_unprovided(struct pipeline *p, const struct job *job)
{
	const char *held = p->slots[job->step].held;
	if (held)
		return job_record_held(p->jobs, job, held, HOLD_S);
	return job_record_skipped(p->jobs, job);
}

/* Starts the next job; 1 when one was started or settled, 0 when none is
 * due, <0 on error. */
static int start_one(struct pipeline *p)
{
	struct gateway *gw = p->gw;
	sqlite3 *db = gw->db;
	const struct step_slot *rec = &p->slots[MOTCUA_STEP_RECOGNIZE];
	if (db_begin(db) < 0)
		return -EIO;
	struct job job;
	int n = jobs_next(p->jobs, time_now(), rec->fn && rec->page_fn ? MOTCUA_STEP_RECOGNIZE : -1,
			  &job);
	if (n <= 0) {
		db_rollback(db);
		return n;
	}
	const struct step_slot *slot = &p->slots[job.step];
	if (!slot->fn) {
		if (settle_unprovided(p, &job) < 0 || db_commit(db) < 0)
			goto fail;
		return 1;
	}
	struct step_run *r = calloc(1, sizeof *r);
	if (!r)
		goto fail;
	r->p = p;
	r->fn = slot->fn;
	r->data = slot->slot.data;
	r->plugin_name = strdup(slot->slot.plugin_name);
	r->job = job;
	/* A page that failed fails the step, with the page's own reason; in a
	 * scan under review it goes back to the clerk, who scans the page again
	 * or deletes it. */
	int page_no;
	if (slot->page_fn && jobs_failed_page(p->jobs, job.document_id, &page_no, r->io.message,
					      sizeof r->io.message) > 0) {
		int held = job.original_sha[0]
			       ? 0
			       : document_review_failed_page(gw->records, job.dossier_code,
							     job.document_id);
		if (held != 0) {
			step_run_free(r);
			if (held < 0 || db_commit(db) < 0)
				goto fail;
			return 1;
		}
		char reason[sizeof r->io.message];
		snprintf(reason, sizeof reason, "page %d: %.200s", page_no, r->io.message);
		snprintf(r->io.message, sizeof r->io.message, "%s", reason);
		r->result = -EIO;
		db_rollback(db);
		p->in_flight++; /* step_done() counts it back */
		step_done(r, 0);
		return 1;
	}
	if (step_run_prepare(r) < 0 || job_set_running(p->jobs, &job, r->plugin_name) < 0 ||
	    db_commit(db) < 0) {
		step_run_free(r);
		goto fail;
	}
	int s = workers_submit(gw->workers, step_work, step_done, r);
	if (s < 0) {
		/* Left 'running': resumed at the next start. */
		log_error("pipeline: cannot queue %s of %s: %s", step_name(job.step),
			  job.document_id, strerror(-s));
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
	struct page page;
	struct motcua_page_io io;
	motcua_page_fn fn;
	void *data;
	char *plugin_name;
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
	if (db_begin(db) == 0 &&
	    page_record(p->jobs, &r->page, r->plugin_name, ok, r->out_sha, r->meta, msg) == 0 &&
	    db_commit(db) == 0) {
		gw_log(ok ? MOTCUA_LOG_INFO : MOTCUA_LOG_ERROR, r->plugin_name,
		       "page %d of document %s %s%s%s", r->page.page_no, r->page.document_id,
		       ok ? "done" : "failed", msg[0] ? ": " : "", msg);
	} else {
		db_rollback(db);
		log_error("pipeline: cannot record page %d of document %s; it will run again",
			  r->page.page_no, r->page.document_id);
	}
	page_run_free(r);
	pipeline_kick(p);
}

/* Starts the next captured page, if the recognize step has a page function. */
static int start_page(struct pipeline *p)
{
	struct gateway *gw = p->gw;
	sqlite3 *db = gw->db;
	const struct step_slot *slot = &p->slots[MOTCUA_STEP_RECOGNIZE];
	if (!slot->fn || !slot->page_fn)
		return 0;
	if (db_begin(db) < 0)
		return -EIO;
	struct page pg;
	int n = pages_next(p->jobs, MOTCUA_STEP_RECOGNIZE, &pg);
	if (n <= 0) {
		db_rollback(db);
		return n;
	}
	struct page_run *r = calloc(1, sizeof *r);
	if (!r)
		goto fail;
	r->p = p;
	r->page = pg;
	r->fn = slot->page_fn;
	r->data = slot->page.data;
	r->plugin_name = strdup(slot->slot.plugin_name);
	r->in_path = store_blob_path(gw->store, pg.sha);
	r->out_path = store_tmp_path(gw->store, "page");
	r->meta_path = store_tmp_path(gw->store, "page-meta");
	if (!r->plugin_name || !r->in_path || !r->out_path || !r->meta_path) {
		page_run_free(r);
		goto fail;
	}
	r->io = (struct motcua_page_io){
	    .struct_size = sizeof r->io,
	    .dossier_code = r->page.dossier_code,
	    .document_id = r->page.document_id,
	    .page_no = (uint32_t)pg.page_no,
	    .media_type = r->page.media_type,
	    .path = r->in_path,
	    .out_path = r->out_path,
	    .meta_path = r->meta_path,
	    .flags = pg.rotation ? MOTCUA_PAGE_TURNED_BY_CLERK : 0,
	};
	if (page_set_running(p->jobs, &pg, r->plugin_name) < 0 || db_commit(db) < 0) {
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

/* ---- the loop ---- */

static void arm_retry_timer(struct pipeline *p)
{
	int64_t now = time_now(), at = jobs_next_wakeup(p->jobs, now);
	if (at) {
		struct timeval tv = {at - now > 0 ? at - now : 1, 0};
		event_add(p->retry_ev, &tv);
	}
}

static void on_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct pipeline *p = arg;
	if (p->stopping)
		return;
	unsigned limit = workers_size(p->gw->workers);
	/* Document steps first: they are short (merge, sign, archive) and finish
	 * a citizen's document; then pages, which keep the workers busy while a
	 * batch is scanned. Pages first would leave every document waiting
	 * until no page is left anywhere. */
	while (jobs_requeue_again(p->jobs, time_now()) > 0)
		;
	while (p->in_flight < limit && start_one(p) > 0)
		;
	while (p->in_flight < limit && start_page(p) > 0)
		;
	arm_retry_timer(p);
}

void pipeline_metrics(struct pipeline *p, struct evbuffer *buf)
{
	jobs_metrics(p->jobs, buf);
}
