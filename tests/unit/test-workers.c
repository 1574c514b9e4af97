/* SPDX-License-Identifier: MIT */
/* workers.c: the worker pool, completions on the loop, cancellation. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <event2/thread.h>

#include "workers.h"

static pthread_t main_thread;

/* Shared by every test; reset in setup(). */
static struct {
	atomic_uint worked;	  /* work functions run */
	atomic_uint work_on_main; /* work functions run on the main thread (wrong) */
	unsigned done;		  /* done callbacks (loop thread only) */
	unsigned done_off_main;	  /* done callbacks not on the main thread (wrong) */
	unsigned cancelled;	  /* done callbacks with cancelled=1 */
	unsigned want;		  /* break the loop after this many done callbacks */
	struct event_base *base;
} st;

static void setup(void)
{
	atomic_store(&st.worked, 0);
	atomic_store(&st.work_on_main, 0);
	st.done = st.done_off_main = st.cancelled = st.want = 0;
	st.base = event_base_new();
	CHECK_NOT_NULL(st.base);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct item {
	unsigned index;
	int worked;	    /* set by work */
	int done_calls;	    /* set by done */
	int done_cancelled; /* the cancelled argument */
};

static void count_work(void *data)
{
	struct item *it = data;
	if (pthread_equal(pthread_self(), main_thread))
		atomic_fetch_add(&st.work_on_main, 1);
	it->worked++;
	atomic_fetch_add(&st.worked, 1);
}

static void count_done(void *data, int cancelled)
{
	struct item *it = data;
	if (!pthread_equal(pthread_self(), main_thread))
		st.done_off_main++;
	it->done_calls++;
	it->done_cancelled = cancelled;
	st.done++;
	if (cancelled)
		st.cancelled++;
	if (st.want && st.done == st.want)
		event_base_loopbreak(st.base);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
	event_base_loopbreak(st.base);
}

/* Runs the loop until st.want done callbacks ran; false on timeout. */
static bool run_loop_until_done(int timeout_s)
{
	int timed_out = 0;
	struct event *t = evtimer_new(st.base, on_timeout, &timed_out);
	CHECK_NOT_NULL(t);
	struct timeval tv = {timeout_s, 0};
	evtimer_add(t, &tv);
	/* The pool's wake event is never "added", only activated from workers:
	 * keep the loop running although nothing else is pending. */
	if (st.done < st.want)
		event_base_loop(st.base, EVLOOP_NO_EXIT_ON_EMPTY);
	event_free(t);
	return !timed_out;
}

static void test_many_jobs(void)
{
	setup();
	struct workers *w = workers_new(st.base, 4);
	CHECK_NOT_NULL(w);
	CHECK_EQ_UINT(workers_size(w), 4);
	enum { N = 200 };
	static struct item items[N];
	memset(items, 0, sizeof items);
	st.want = N;
	for (unsigned i = 0; i < N; i++) {
		items[i].index = i;
		CHECK_EQ_INT(workers_submit(w, count_work, count_done, &items[i]), 0);
	}
	/* No done callback runs before the loop does. */
	CHECK_EQ_UINT(st.done, 0);
	CHECK(run_loop_until_done(20));
	CHECK_EQ_UINT(st.done, N);
	CHECK_EQ_UINT(atomic_load(&st.worked), N);
	CHECK_EQ_UINT(atomic_load(&st.work_on_main), 0);
	CHECK_EQ_UINT(st.done_off_main, 0);
	CHECK_EQ_UINT(st.cancelled, 0);
	for (unsigned i = 0; i < N; i++) {
		CHECK_MSG(items[i].worked == 1 && items[i].done_calls == 1 &&
			      items[i].done_cancelled == 0,
			  "item %u: worked %d, done %d, cancelled %d", i, items[i].worked,
			  items[i].done_calls, items[i].done_cancelled);
	}
	CHECK_EQ_UINT(workers_busy(w), 0);

	/* The pool is reusable after going idle. */
	st.want = N + 10;
	for (unsigned i = 0; i < 10; i++)
		CHECK_EQ_INT(workers_submit(w, count_work, count_done, &items[i]), 0);
	CHECK(run_loop_until_done(20));
	CHECK_EQ_UINT(st.done, N + 10);
	CHECK_EQ_INT(items[9].worked, 2);

	workers_free(w);
	/* Nothing was left to complete. */
	CHECK_EQ_UINT(st.done, N + 10);
	event_base_free(st.base);
}

/* A slow first job holds the only worker until workers_free() has emptied the
 * queue, so the jobs queued behind it are deterministically cancelled. */
struct slow {
	struct item item;
	struct workers *w;
	atomic_int all_submitted;
	atomic_int started;
	atomic_int saw_queue_emptied;
};

static void slow_work(void *data)
{
	struct slow *s = data;
	count_work(&s->item);
	atomic_store(&s->started, 1);
	/* Wait until all the others were queued, then until workers_free()
	 * took them off the queue (busy drops to just us). */
	double end = now_s() + 10;
	while (now_s() < end && !atomic_load(&s->all_submitted))
		sleep_ms(1);
	while (now_s() < end && workers_busy(s->w) != 1)
		sleep_ms(1);
	if (workers_busy(s->w) == 1)
		atomic_store(&s->saw_queue_emptied, 1);
	sleep_ms(20); /* workers_free() is now waiting for us */
}

static void test_free_cancels_queued(void)
{
	setup();
	struct workers *w = workers_new(st.base, 1);
	CHECK_NOT_NULL(w);
	enum { N = 20 };
	static struct slow slow;
	static struct item items[N];
	memset(&slow, 0, sizeof slow);
	memset(items, 0, sizeof items);
	slow.w = w;

	CHECK_EQ_INT(workers_submit(w, slow_work, count_done, &slow.item), 0);
	double end = now_s() + 10;
	while (!atomic_load(&slow.started) && now_s() < end)
		sleep_ms(1);
	CHECK(atomic_load(&slow.started));
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ_INT(workers_submit(w, count_work, count_done, &items[i]), 0);
	CHECK_EQ_UINT(workers_busy(w), 1 + N);
	atomic_store(&slow.all_submitted, 1);

	/* Without running the loop: workers_free waits for the slow job and
	 * completes everything, on this thread. */
	workers_free(w);
	CHECK(atomic_load(&slow.saw_queue_emptied));
	CHECK_EQ_INT(slow.item.worked, 1);
	CHECK_EQ_INT(slow.item.done_calls, 1);
	CHECK_EQ_INT(slow.item.done_cancelled, 0);
	for (unsigned i = 0; i < N; i++) {
		CHECK_MSG(items[i].worked == 0 && items[i].done_calls == 1 &&
			      items[i].done_cancelled == 1,
			  "item %u: worked %d, done %d, cancelled %d", i, items[i].worked,
			  items[i].done_calls, items[i].done_cancelled);
	}
	CHECK_EQ_UINT(st.done, N + 1);
	CHECK_EQ_UINT(st.cancelled, N);
	CHECK_EQ_UINT(atomic_load(&st.worked), 1);
	CHECK_EQ_UINT(st.done_off_main, 0);
	CHECK_EQ_UINT(atomic_load(&st.work_on_main), 0);

	/* The loop has nothing left to deliver (the wake event went with the pool). */
	CHECK_EQ_INT(event_base_loop(st.base, EVLOOP_NONBLOCK), 1);
	CHECK_EQ_UINT(st.done, N + 1);
	event_base_free(st.base);
}

/* Work finished but the loop never ran: workers_free delivers the completions
 * (not cancelled). */
static void test_free_delivers_finished(void)
{
	setup();
	struct workers *w = workers_new(st.base, 2);
	CHECK_NOT_NULL(w);
	enum { N = 8 };
	static struct item items[N];
	memset(items, 0, sizeof items);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ_INT(workers_submit(w, count_work, count_done, &items[i]), 0);
	double end = now_s() + 10;
	while (workers_busy(w) && now_s() < end)
		sleep_ms(1);
	CHECK_EQ_UINT(workers_busy(w), 0);
	CHECK_EQ_UINT(st.done, 0);
	workers_free(w);
	CHECK_EQ_UINT(st.done, N);
	CHECK_EQ_UINT(st.cancelled, 0);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ_INT(items[i].done_calls, 1);
	event_base_free(st.base);
}

struct gate {
	atomic_int open;
	atomic_int started;
};

static void gate_work(void *data)
{
	struct gate *g = data;
	atomic_store(&g->started, 1);
	double end = now_s() + 20;
	while (!atomic_load(&g->open) && now_s() < end)
		sleep_ms(1);
}

static void gate_done(void *data, int cancelled)
{
	(void)data;
	if (!pthread_equal(pthread_self(), main_thread))
		st.done_off_main++;
	st.done++;
	if (cancelled)
		st.cancelled++;
	if (st.want && st.done == st.want)
		event_base_loopbreak(st.base);
}

static void test_queue_full(void)
{
	setup();
	struct workers *w = workers_new(st.base, 1);
	CHECK_NOT_NULL(w);
	static struct gate g;
	atomic_store(&g.open, 0);
	atomic_store(&g.started, 0);
	CHECK_EQ_INT(workers_submit(w, gate_work, gate_done, &g), 0);
	double end = now_s() + 10;
	while (!atomic_load(&g.started) && now_s() < end)
		sleep_ms(1);
	CHECK(atomic_load(&g.started));
	/* Fill the queue behind the blocked job until it refuses. */
	unsigned queued = 0;
	int r;
	static struct item dummy;
	while ((r = workers_submit(w, count_work, NULL, &dummy)) == 0 && queued < 100000)
		queued++;
	CHECK_EQ_INT(r, -EAGAIN);
	CHECK_GE_INT(queued, 16);
	CHECK_EQ_UINT(workers_busy(w), queued + 1);
	/* Done may be NULL; only the gate job counts. */
	st.want = 1;
	atomic_store(&g.open, 1);
	CHECK(run_loop_until_done(20));
	end = now_s() + 20;
	while (workers_busy(w) && now_s() < end)
		sleep_ms(1);
	CHECK_EQ_UINT(workers_busy(w), 0);
	CHECK_EQ_UINT(atomic_load(&st.worked), queued);
	/* There is room again. */
	CHECK_EQ_INT(workers_submit(w, count_work, NULL, &dummy), 0);
	end = now_s() + 20;
	while (workers_busy(w) && now_s() < end)
		sleep_ms(1);
	workers_free(w);
	CHECK_EQ_UINT(atomic_load(&st.worked), queued + 1);
	CHECK_EQ_UINT(st.done_off_main, 0);
	event_base_free(st.base);
}

static void test_free_null(void)
{
	workers_free(NULL);
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	main_thread = pthread_self();
	if (evthread_use_pthreads() != 0) {
		fprintf(stderr, "evthread_use_pthreads failed\n");
		return HARNESS_EXIT_FAIL;
	}
	RUN(test_many_jobs);
	RUN(test_free_cancels_queued);
	RUN(test_free_delivers_finished);
	RUN(test_queue_full);
	RUN(test_free_null);
	libevent_global_shutdown();
	return harness_result();
}
