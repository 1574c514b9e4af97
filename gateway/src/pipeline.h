/* SPDX-License-Identifier: MIT */
/*
 * The pipeline's runner: takes each document through recognize -> sign ->
 * archive on the worker pool, page steps while a batch is still being
 * scanned, retries and steps that asked to run again. It owns the step
 * slots, which the plugin host fills, and learns of new documents and pages
 * from their events (document.*).
 */
#ifndef MOTCUA_PIPELINE_H
#define MOTCUA_PIPELINE_H

#include "motcua/plugin.h"

struct evbuffer;
struct gateway;
struct pipeline;

/* Uses gw's db, store, workers, events and records. */
struct pipeline *pipeline_new(struct gateway *gw);
void pipeline_free(struct pipeline *p);
/* Resumes unfinished jobs (after start or a crash) and starts the runner. */
void pipeline_start(struct pipeline *p);
/* Stops taking new jobs; running ones finish (or are left resumable). */
void pipeline_stop(struct pipeline *p);
/* Looks for work soon. */
void pipeline_kick(struct pipeline *p);

/* The step slots: one provider per step (recognize, sign, archive). The
 * slot takes data and frees it with free_fn when it is emptied, also when
 * this call fails. owner identifies the provider for pipeline_drop_owner().
 * Returns 0; -EINVAL (not such a step, no fn); -EEXIST (taken: see
 * pipeline_step_plugin()); -ENOMEM. */
int pipeline_step_set(struct pipeline *p, enum motcua_step step, const char *plugin_name,
		      motcua_step_fn fn, void *data, motcua_free_fn free_fn, const void *owner);
/* The page part of a step owner already provides: -EINVAL (not recognize,
 * no fn), -ENOENT (owner does not provide the step), -EEXIST. */
int pipeline_page_step_set(struct pipeline *p, enum motcua_step step, motcua_page_fn fn, void *data,
			   motcua_free_fn free_fn, const void *owner);
/* Who provides the step (NULL: nobody). */
const char *pipeline_step_plugin(struct pipeline *p, enum motcua_step step);
/* Empties every slot owner filled (after its fini(), or a failed init()). */
void pipeline_drop_owner(struct pipeline *p, const void *owner);
/* A plugin enabled for the step did not start: without a provider the step
 * waits for it (held) instead of being skipped. */
int pipeline_hold(struct pipeline *p, enum motcua_step step, const char *plugin_name);

/* /metrics lines: jobs by step and state. */
void pipeline_metrics(struct pipeline *p, struct evbuffer *buf);

#endif
