/* SPDX-License-Identifier: MIT */
/* A bounded pool of threads for blocking work; completions run on the loop. */
#ifndef MOTCUA_WORKERS_H
#define MOTCUA_WORKERS_H

#include <event2/event.h>

struct workers;
typedef void (*work_fn)(void *data);
typedef void (*done_fn)(void *data, int cancelled);
struct workers *workers_new(struct event_base *base, unsigned n);
/* Queues work; done runs on the loop. -EAGAIN when the queue is full,
 * -ESHUTDOWN when stopping: then neither runs. */
int workers_submit(struct workers *w, work_fn work, done_fn done, void *data);
/* Runs fn(data, 0) on the loop soon. Thread-safe: for worker threads that
 * have something to hand to the loop while their work goes on. */
int workers_post(struct workers *w, done_fn fn, void *data);
unsigned workers_busy(struct workers *w);
unsigned workers_size(struct workers *w);
/* Waits for running work to finish; queued work is completed as cancelled. */
void workers_free(struct workers *w);

#endif
