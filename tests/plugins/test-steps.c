/* SPDX-License-Identifier: MIT */
/* A test plugin that exercises the whole host table: it does the recognize and
 * sign steps (deterministically: the output is the input plus a trailer line),
 * with a configurable delay so that tests can kill the gateway mid-step; it
 * subscribes to events, runs a timer and a work item, and serves routes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <motcua/plugin.h>

struct state {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	unsigned delay_ms;
	char fail_step[32];
	char busy_step[32];   /* answers -EAGAIN (a transient failure) ... */
	atomic_int busy_left; /* ... this many times */
	unsigned events, ticks;
	int work_result;
	atomic_uint steps_run;
};

static int copy_with_trailer(const char *in, const char *out, const char *trailer)
{
	int fi = open(in, O_RDONLY | O_CLOEXEC), r = 0;
	if (fi < 0)
		return -errno;
	int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fo < 0) {
		r = -errno;
		close(fi);
		return r;
	}
	char buf[65536];
	ssize_t n;
	while ((n = read(fi, buf, sizeof buf)) > 0)
		if (write(fo, buf, (size_t)n) != n) {
			r = -EIO;
			break;
		}
	if (n < 0)
		r = -errno;
	if (!r && write(fo, trailer, strlen(trailer)) != (ssize_t)strlen(trailer))
		r = -EIO;
	close(fi);
	if (close(fo) < 0 && !r)
		r = -errno;
	return r;
}

static int do_step(struct state *s, struct motcua_step_io *io, const char *step)
{
	atomic_fetch_add(&s->steps_run, 1);
	if (s->delay_ms) {
		struct timespec ts = {s->delay_ms / 1000, (long)(s->delay_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (!strcmp(s->busy_step, step) && atomic_fetch_sub(&s->busy_left, 1) > 0) {
		snprintf(io->message, sizeof io->message,
			 "%s: the agency's server is busy, try later", step);
		return -EAGAIN;
	}
	if (!strcmp(s->fail_step, step)) {
		snprintf(io->message, sizeof io->message, "%s refused this document on purpose",
			 step);
		return -EPROTO;
	}
	char trailer[128];
	snprintf(trailer, sizeof trailer, "\n%% test-steps %s\n", step);
	int r = copy_with_trailer(io->path, io->out_path, trailer);
	if (r < 0) {
		snprintf(io->message, sizeof io->message, "copy failed: %s", strerror(-r));
		return r;
	}
	snprintf(io->message, sizeof io->message, "%s by test-steps", step);
	return 0;
}

/* Per page: the page itself as output, and what was "read" on it. */
static int page_recognize(void *data, struct motcua_page_io *io)
{
	struct state *s = data;
	atomic_fetch_add(&s->steps_run, 1);
	if (s->delay_ms) {
		struct timespec ts = {s->delay_ms / 1000, (long)(s->delay_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	int r = copy_with_trailer(io->path, io->out_path, "");
	FILE *f = r ? NULL : fopen(io->meta_path, "we");
	if (!f) {
		snprintf(io->message, sizeof io->message, "cannot write the page");
		return -EIO;
	}
	fprintf(
	    f,
	    "{\"page\": %u, \"text\": \"trang %u\", \"confidence\": %u.5, \"low_confidence\": %s}",
	    io->page_no, io->page_no, 80 + io->page_no, io->page_no == 2 ? "true" : "false");
	fclose(f);
	snprintf(io->message, sizeof io->message, "page %u read", io->page_no);
	return 0;
}

static int step_recognize(void *data, struct motcua_step_io *io)
{
	struct state *s = data;
	if (io->struct_size >= sizeof *io && io->n_pages) {
		/* The document's text is its pages' texts, in order. */
		FILE *f = fopen(io->meta_path, "we");
		if (!f)
			return -EIO;
		fprintf(f, "{\"text\": \"");
		for (size_t i = 0; i < io->n_pages; i++) {
			if (!io->page_out_paths[i] || !io->page_meta_paths[i]) {
				fclose(f);
				snprintf(io->message, sizeof io->message, "page %zu was not read",
					 i + 1);
				return -EPROTO;
			}
			fprintf(f, "%strang %zu", i ? " / " : "", i + 1);
		}
		fprintf(
		    f, "\", \"pages_seen\": %zu, \"fields\": {\"id_numbers\": [\"001203004567\"]}}",
		    io->n_pages);
		fclose(f);
	}
	return do_step(s, io, "recognize");
}

static int step_sign(void *data, struct motcua_step_io *io)
{
	return do_step(data, io, "sign");
}

static void on_event(void *data, const char *type, const char *json, size_t len)
{
	struct state *s = data;
	(void)type;
	(void)json;
	(void)len;
	s->events++;
}

static void on_tick(void *data)
{
	struct state *s = data;
	s->ticks++;
}

static void work(void *data)
{
	struct state *s = data;
	s->work_result = 42; /* computed off the loop */
}

static void work_done(void *data, int cancelled)
{
	struct state *s = data;
	if (!cancelled)
		s->host->event_publish(s->ctx, "test.work_done", "{\"result\": 42}");
}

static int route_stats(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	struct state *s = data;
	char body[512];
	snprintf(body, sizeof body,
		 "{\"events\":%u,\"ticks\":%u,\"work_result\":%d,\"steps_run\":%u,\"who\":\"%s\","
		 "\"path\":\"%s\"}",
		 s->events, s->ticks, s->work_result, atomic_load(&s->steps_run), req->token_name,
		 req->path);
	s->host->response_set(resp, "application/json", body, strlen(body));
	return 200;
}

static int route_echo(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	struct state *s = data;
	s->host->response_set(resp, "application/octet-stream", req->body, req->body_len);
	return 201;
}

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	struct state *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->ctx = ctx;
	s->host = host;
	const char *d = host->config_get(ctx, NULL, "delay_ms");
	s->delay_ms = d ? (unsigned)strtoul(d, NULL, 10) : 0;
	const char *f = host->config_get(ctx, NULL, "fail_step");
	snprintf(s->fail_step, sizeof s->fail_step, "%s", f ? f : "");
	f = host->config_get(ctx, NULL, "busy_step");
	snprintf(s->busy_step, sizeof s->busy_step, "%s", f ? f : "");
	f = host->config_get(ctx, NULL, "busy_times");
	atomic_init(&s->busy_left, f ? atoi(f) : 0);
	unsigned staff = MOTCUA_ROLE_CLERK | MOTCUA_ROLE_ADMIN;
	int r = 0;
	if (!r)
		r = host->step_register(ctx, MOTCUA_STEP_RECOGNIZE, step_recognize, s, NULL);
	if (!r)
		r = host->page_step_register(ctx, MOTCUA_STEP_RECOGNIZE, page_recognize, s, NULL);
	if (!r)
		r = host->step_register(ctx, MOTCUA_STEP_SIGN, step_sign, s, NULL);
	if (!r)
		r = host->event_subscribe(ctx, "document.", on_event, s, NULL);
	if (!r)
		r = host->route_add(ctx, "GET", "/stats", staff, route_stats, s, NULL);
	if (!r)
		r = host->route_add(ctx, "POST", "/echo/*", staff, route_echo, s, NULL);
	if (!r && !host->timer_add(ctx, 50, 1, on_tick, s, NULL))
		r = -ENOMEM;
	if (!r)
		r = host->work_submit(ctx, work, work_done, s);
	if (r) {
		free(s);
		return r;
	}
	host->log(ctx, MOTCUA_LOG_INFO, "ready (delay %u ms)", s->delay_ms);
	*state = s;
	return 0;
}

static void fini(void *state)
{
	free(state);
}

static const struct motcua_config_key keys[] = {
    {"delay_ms", "milliseconds each step takes"},
    {"fail_step", "a step that fails permanently (recognize or sign)"},
    {"busy_step", "a step that fails transiently (-EAGAIN) busy_times times first"},
    {"busy_times", "how many times busy_step answers -EAGAIN"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = "test-steps",
    .version = "0.0.1",
    .provides = MOTCUA_PROVIDES_RECOGNIZE | MOTCUA_PROVIDES_SIGN | MOTCUA_PROVIDES_SINK,
    .config_keys = keys,
    .init = init,
    .fini = fini,
};

MOTCUA_PLUGIN_DECLARE(info)
