/* SPDX-License-Identifier: MIT */
/* A bounded pool of worker threads. Work is queued from the loop; when it has
 * run, its completion is handed back to the loop through one libevent event
 * made active from the worker (thread-safe with evthread_use_pthreads()). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "workers.h"

#define QUEUE_MAX 4096

struct job {
	work_fn work;
	done_fn done;
	void *data;
	int cancelled;
	struct job *next;
};

struct workers {
	struct event_base *base;
	struct event *wake;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t *threads;
	unsigned n, busy;
	size_t queued;
	struct job *head, *tail;	   /* waiting to run */
	struct job *done_head, *done_tail; /* waiting for the loop */
	bool stop;
};

static void push(struct job **head, struct job **tail, struct job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->head)
			break; /* stopping and nothing left that is ours */
		struct job *j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		w->queued--;
		w->busy++;
		pthread_mutex_unlock(&w->lock);
		j->work(j->data);
		pthread_mutex_lock(&w->lock);
		w->busy--;
		push(&w->done_head, &w->done_tail, j);
		event_active(w->wake, EV_READ, 0);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void run_completions(struct workers *w)
{
	pthread_mutex_lock(&w->lock);
	struct job *j = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	while (j) {
		struct job *next = j->next;
		if (j->done)
			j->done(j->data, j->cancelled);
		free(j);
		j = next;
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_completions(arg);
}

struct workers *workers_new(struct event_base *base, unsigned n)
{
	struct workers *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->base = base;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->wake = event_new(base, -1, 0, on_wake, w);
	w->threads = calloc(n, sizeof(pthread_t));
	if (!w->wake || !w->threads)
		goto fail;
	for (; w->n < n; w->n++)
		if (pthread_create(&w->threads[w->n], NULL, worker_main, w) != 0)
			goto fail;
	return w;
fail:
	workers_free(w);
	return NULL;
}

int workers_submit(struct workers *w, work_fn work, done_fn done, void *data)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	j->work = work;
	j->done = done;
	j->data = data;
	pthread_mutex_lock(&w->lock);
	int r = 0;
	if (w->stop)
		r = -ESHUTDOWN;
	else if (w->queued >= QUEUE_MAX)
		r = -EAGAIN;
	else {
		push(&w->head, &w->tail, j);
		w->queued++;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	if (r)
		free(j);
	return r;
}

int workers_post(struct workers *w, done_fn fn, void *data)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	j->done = fn;
	j->data = data;
	pthread_mutex_lock(&w->lock);
	push(&w->done_head, &w->done_tail, j);
	event_active(w->wake, EV_READ, 0);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

unsigned workers_busy(struct workers *w)
{
	pthread_mutex_lock(&w->lock);
	unsigned b = w->busy + (unsigned)w->queued;
	pthread_mutex_unlock(&w->lock);
	return b;
}

unsigned workers_size(struct workers *w)
{
	return w->n;
}

void workers_free(struct workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	/* Queued work that has not started is handed back as cancelled. */
	struct job *j = w->head;
	w->head = w->tail = NULL;
	w->queued = 0;
	while (j) {
		struct job *next = j->next;
		j->cancelled = 1;
		push(&w->done_head, &w->done_tail, j);
		j = next;
	}
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	if (w->wake)
		run_completions(w);
	if (w->wake)
		event_free(w->wake);
	free(w->threads);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
