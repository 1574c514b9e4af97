/* SPDX-License-Identifier: MIT */
/*
 * scan-sane's capture ops as the gateway runs them: SANE itself runs in a
 * separate process, the driver helper (motcua-scan-sane, installed next to
 * this module), started for each batch and each device listing.
 *
 * Why a process: SANE backends are vendor code with threads of their own.
 * Several (those built on sanei_thread: pixma, avision, plustek, test, ...)
 * pthread_cancel() their reader thread asynchronously; cancelled inside
 * malloc() it leaves a heap lock taken, and a process that goes on hangs.
 * A backend that crashes or hangs now takes its helper with it, not the
 * gateway: the helper is killed when it stays silent for timeout_s seconds
 * (it reports progress while a page is read), and the pages it handed over
 * before stay handed over.
 *
 * The helper is this same module, loaded by a small host (scan-helper.c)
 * that gives it the [scan-sane] keys plus the driver role, and speaks a line
 * protocol on its stdout (answers come back on its stdin):
 *   page PATH<TAB>MEDIA-TYPE   a page in tmp_dir; answered "ok", "ok cancel"
 *                              (the gateway is stopping: no next page) or
 *                              "err ERRNO"
 *   progress JSON              a capture.progress event
 *   log LEVEL TEXT             a log line
 *   devices JSON               the answer of `list`
 *   done RC MESSAGE            the end of a batch: capture()'s result
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <motcua/plugin.h>

#include "driver-proxy.h"

#define LINE_MAX_BYTES (1u << 20) /* a device list of many scanners fits */
#define CANCEL_GRACE_MS 10000	  /* after the cancel signal, the page in hand */

struct driver_proxy {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	char *helper; /* the helper's path */
	char *module; /* this module's path, for the helper to load */
	char **conf;  /* "key=value" of the plugin's section */
	size_t n_conf;
	unsigned timeout_s;
	atomic_bool busy;
	pthread_mutex_t lock;
	char *devices_json; /* the last listing, answered while a batch runs */
	char *device;	    /* the configured device (JSON-safe) or NULL */
};

extern char **environ;

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

struct driver_proxy *driver_proxy_new(struct motcua_plugin_ctx *ctx, const struct motcua_host *host,
				      const char *const *keys, unsigned timeout_s, char *why,
				      size_t len)
{
	struct driver_proxy *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->ctx = ctx;
	p->host = host;
	p->timeout_s = timeout_s;
	pthread_mutex_init(&p->lock, NULL);
	atomic_init(&p->busy, false);
	/* This module's own path: the helper sits beside it. */
	Dl_info dl;
	char *dir = NULL;
	/* (an object of the module: ISO C has no function-to-object pointer) */
	static const char here;
	if (!dladdr(&here, &dl) || !dl.dli_fname || !(p->module = realpath(dl.dli_fname, NULL))) {
		snprintf(why, len, "cannot tell where the scan-sane module is");
		goto fail;
	}
	dir = strdup(p->module);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	if (!slash || asprintf(&p->helper, "%.*s/motcua-scan-sane", (int)(slash - dir), dir) < 0) {
		p->helper = NULL;
		snprintf(why, len, "out of memory");
		goto fail;
	}
	if (access(p->helper, X_OK) < 0) {
		snprintf(why, len,
			 "the scanner driver helper %s is missing or not executable (%s): "
			 "reinstall motcua",
			 p->helper, strerror(errno));
		goto fail;
	}
	size_t n = 0;
	while (keys[n])
		n++;
	p->conf = calloc(n + 1, sizeof *p->conf);
	for (size_t i = 0; p->conf && i < n; i++) {
		const char *v = host->config_get(ctx, NULL, keys[i]);
		if (v && asprintf(&p->conf[p->n_conf++], "%s=%s", keys[i], v) < 0) {
			p->conf[--p->n_conf] = NULL;
			snprintf(why, len, "out of memory");
			goto fail;
		}
	}
	if (!p->conf)
		goto fail;
	const char *dev = host->config_get(ctx, NULL, "device");
	if (dev && *dev && !strpbrk(dev, "\"\\"))
		p->device = strdup(dev);
	free(dir);
	return p;
fail:
	free(dir);
	driver_proxy_free(p);
	return NULL;
}

void driver_proxy_free(struct driver_proxy *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->conf && i < p->n_conf; i++)
		free(p->conf[i]);
	free(p->conf);
	free(p->helper);
	free(p->module);
	free(p->devices_json);
	free(p->device);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

const char *driver_proxy_helper(const struct driver_proxy *p)
{
	return p->helper;
}

/* One run of the helper. */
struct run {
	struct driver_proxy *p;
	pid_t pid;
	int out; /* its stdout */
	int in;	 /* its stdin */
	char *buf;
	size_t used;
	size_t line_len; /* of the line next_line() returned, newline included */
	bool eof;
};

static int spawn(struct driver_proxy *p, struct run *r, const char *const *args, size_t n_args)
{
	int out[2] = {-1, -1}, in[2] = {-1, -1};
	size_t argc = 2 + n_args + p->n_conf;
	char **argv = calloc(argc + 1, sizeof *argv);
	int e = 0;
	/* Its stdin is a socket: answers are sent with MSG_NOSIGNAL, so a helper
	 * that died never raises SIGPIPE in the gateway. */
	if (!argv || pipe2(out, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0) {
		e = argv ? -errno : -ENOMEM;
		goto out;
	}
	size_t k = 0;
	argv[k++] = p->helper;
	argv[k++] = p->module;
	for (size_t i = 0; i < n_args; i++)
		argv[k++] = (char *)args[i];
	for (size_t i = 0; i < p->n_conf; i++)
		argv[k++] = p->conf[i];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	/* The gateway blocks SIGTERM and SIGINT in every thread (it reads them
	 * from a signalfd) and ignores SIGPIPE: the helper starts clean. */
	sigset_t none, deflt;
	sigemptyset(&none);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGTERM);
	sigaddset(&deflt, SIGINT);
	sigaddset(&deflt, SIGPIPE);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &deflt);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	e = -posix_spawn(&r->pid, p->helper, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
out:
	free(argv);
	if (in[0] >= 0)
		close(in[0]);
	if (out[1] >= 0)
		close(out[1]);
	if (e < 0) {
		if (in[1] >= 0)
			close(in[1]);
		if (out[0] >= 0)
			close(out[0]);
		return e;
	}
	r->p = p;
	r->in = in[1];
	r->out = out[0];
	r->buf = malloc(LINE_MAX_BYTES + 1);
	r->used = 0;
	r->eof = false;
	return r->buf ? 0 : -ENOMEM;
}

/* The next line of the helper (NUL-terminated, without the newline) in
 * *line, 0 when wait_ms passed without one, -EPIPE at its end, -EPROTO for
 * a line too long. */
static int next_line(struct run *r, int wait_ms, char **line)
{
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->used);
		if (nl) {
			*nl = 0;
			r->line_len = (size_t)(nl - r->buf) + 1;
			*line = r->buf;
			return 1;
		}
		if (r->eof)
			return -EPIPE;
		if (r->used >= LINE_MAX_BYTES)
			return -EPROTO;
		struct pollfd pfd = {.fd = r->out, .events = POLLIN};
		int n = poll(&pfd, 1, wait_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		ssize_t got = read(r->out, r->buf + r->used, LINE_MAX_BYTES - r->used);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			r->eof = true;
		else
			r->used += (size_t)got;
	}
}

/* Drops the line next_line() returned (which callers may cut up). */
static void consume(struct run *r, const char *line)
{
	(void)line;
	size_t n = r->line_len;
	memmove(r->buf, r->buf + n, r->used - n);
	r->used -= n;
}

/* Ends the helper: waits, then kills it if it does not go; returns its
 * status as a reason in why. */
static void reap(struct run *r, bool kill_now, char *why, size_t len)
{
	int status = 0;
	if (r->in >= 0)
		close(r->in);
	r->in = -1;
	if (r->pid > 0) {
		if (kill_now)
			kill(r->pid, SIGKILL);
		long until = now_ms() + 5000;
		pid_t w;
		while ((w = waitpid(r->pid, &status, WNOHANG)) == 0 && now_ms() < until)
			usleep(20 * 1000);
		if (w == 0) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, &status, 0);
		}
		if (why && WIFSIGNALED(status))
			snprintf(why, len, "killed by signal %d (%s)", WTERMSIG(status),
				 strsignal(WTERMSIG(status)));
		else if (why)
			snprintf(why, len, "exit status %d", WEXITSTATUS(status));
	}
	r->pid = 0;
	if (r->out >= 0)
		close(r->out);
	r->out = -1;
	free(r->buf);
	r->buf = NULL;
}

/* "ok", "ok cancel" (stop after this page) or "err ERRNO". */
static void answer(struct run *r, int rc, bool cancel)
{
	char a[32];
	int n = rc == 0 ? snprintf(a, sizeof a, cancel ? "ok cancel\n" : "ok\n")
			: snprintf(a, sizeof a, "err %d\n", -rc);
	if (r->in >= 0 && send(r->in, a, (size_t)n, MSG_NOSIGNAL) != n) {
		/* the helper is gone: the next read tells */
	}
}

/* Handles a log line: "log LEVEL TEXT". */
static void relay_log(struct driver_proxy *p, const char *rest)
{
	char *end;
	long level = strtol(rest, &end, 10);
	if (end == rest || *end != ' ' || level < MOTCUA_LOG_ERROR || level > MOTCUA_LOG_DEBUG)
		level = MOTCUA_LOG_INFO;
	else
		rest = end + 1;
	p->host->log(p->ctx, (enum motcua_log_level)level, "%s", rest);
}

/* "done RC MESSAGE" → rc, message. */
static int parse_done(const char *rest, char *message, size_t len)
{
	char *end;
	long rc = strtol(rest, &end, 10);
	if (end == rest || rc > 0 || rc < -4095)
		return -EPROTO;
	snprintf(message, len, "%s", *end == ' ' ? end + 1 : "");
	return (int)rc;
}

/* A page path the helper names must be a file of this capture's tmp_dir. */
static bool in_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(path, dir, n) && path[n] == '/' && !strchr(path + n + 1, '/') &&
	       path[n + 1] && path[n + 1] != '.';
}

int driver_proxy_capture(struct driver_proxy *p, struct motcua_capture_io *io)
{
	bool idle = false;
	if (!atomic_compare_exchange_strong(&p->busy, &idle, true)) {
		snprintf(io->message, sizeof io->message, "the scanner is busy with another batch");
		return -EBUSY;
	}
	struct run r = {.out = -1, .in = -1};
	const char *args[] = {"capture", io->tmp_dir, io->options};
	int rc = spawn(p, &r, args, 3);
	if (rc < 0) {
		snprintf(io->message, sizeof io->message, "cannot start the scanner driver %s: %s",
			 p->helper, strerror(-rc));
		atomic_store(&p->busy, false);
		return rc == -ENOENT ? -ENODEV : -EIO;
	}
	unsigned kept = 0;
	bool done = false, signalled = false;
	long last = now_ms(), cancel_at = 0;
	char why[160] = "";
	rc = -EIO;
	while (!done) {
		char *line = NULL;
		int n = next_line(&r, 200, &line);
		if (n < 0) {
			snprintf(why, sizeof why,
				 n == -EPROTO ? "a line longer than %u bytes" : "no answer",
				 LINE_MAX_BYTES);
			break;
		}
		long t = now_ms();
		if (io->cancel && !signalled) {
			/* Stopping: the helper finishes the page in hand, and is
			 * told to stop in the answer to it. (Not by a signal:
			 * SANE's reader threads reset signal dispositions.) */
			signalled = true;
			cancel_at = t;
		}
		if (n == 0) {
			if (signalled && t - cancel_at > CANCEL_GRACE_MS) {
				snprintf(why, sizeof why, "did not stop %d s after it was asked to",
					 CANCEL_GRACE_MS / 1000);
				break;
			}
			if (t - last > (long)p->timeout_s * 1000) {
				snprintf(why, sizeof why, "said nothing for %u s (timeout_s)",
					 p->timeout_s);
				break;
			}
			continue;
		}
		last = t;
		if (!strncmp(line, "page ", 5)) {
			char *tab = strchr(line + 5, '\t');
			int pr = -EPROTO;
			if (tab) {
				*tab = 0;
				pr = in_dir(line + 5, io->tmp_dir)
					 ? io->page_ready(io, line + 5, tab + 1)
					 : -EPROTO;
			}
			if (pr == 0)
				kept++;
			if (io->cancel && !signalled) {
				signalled = true;
				cancel_at = t;
			}
			answer(&r, pr, signalled);
		} else if (!strncmp(line, "progress ", 9)) {
			if (io->progress)
				io->progress(io, line + 9);
		} else if (!strncmp(line, "log ", 4)) {
			relay_log(p, line + 4);
		} else if (!strncmp(line, "done ", 5)) {
			rc = parse_done(line + 5, io->message, sizeof io->message);
			done = rc != -EPROTO;
			if (!done)
				snprintf(why, sizeof why, "a malformed end line");
			break;
		} else {
			snprintf(why, sizeof why, "an unexpected line");
			break;
		}
		consume(&r, line);
	}
	char status[96] = "";
	reap(&r, !done, status, sizeof status);
	if (!done) {
		rc = -EIO;
		snprintf(io->message, sizeof io->message,
			 "the scanner driver stopped: %s (%s); check the scanner and scan again",
			 why, status);
		if (kept) {
			size_t m = strlen(io->message);
			snprintf(io->message + m, sizeof io->message - m, " (%u page%s saved)",
				 kept, kept == 1 ? "" : "s");
		}
		p->host->log(p->ctx, MOTCUA_LOG_ERROR, "%s", io->message);
	}
	atomic_store(&p->busy, false);
	return rc;
}

int driver_proxy_list(struct driver_proxy *p, char **json)
{
	*json = NULL;
	bool idle = false;
	if (!atomic_compare_exchange_strong(&p->busy, &idle, true)) {
		/* A batch holds the scanner: the last listing, or the configured
		 * device, busy. */
		pthread_mutex_lock(&p->lock);
		if (p->devices_json)
			*json = strdup(p->devices_json);
		else if (p->device &&
			 asprintf(json, "[{\"name\":\"%s\",\"busy\":true}]", p->device) < 0)
			*json = NULL;
		pthread_mutex_unlock(&p->lock);
		if (!*json && !p->device)
			return -EBUSY;
		return *json ? 0 : -ENOMEM;
	}
	struct run r = {.out = -1, .in = -1};
	const char *args[] = {"list"};
	int rc = spawn(p, &r, args, 1);
	long start = now_ms();
	while (rc == 0) {
		char *line = NULL;
		int n = next_line(&r, 200, &line);
		if (n < 0) {
			rc = -EIO;
			break;
		}
		if (n == 0) {
			if (now_ms() - start > (long)p->timeout_s * 1000) {
				rc = -ETIMEDOUT;
				break;
			}
			continue;
		}
		if (!strncmp(line, "devices ", 8)) {
			*json = strdup(line + 8);
			rc = *json ? 1 : -ENOMEM;
			break;
		}
		if (!strncmp(line, "log ", 4))
			relay_log(p, line + 4);
		else if (!strncmp(line, "done ", 5)) {
			char msg[256];
			rc = parse_done(line + 5, msg, sizeof msg);
			if (rc >= 0)
				rc = -EPROTO;
			p->host->log(p->ctx, MOTCUA_LOG_WARNING, "cannot list scanners: %s", msg);
			break;
		}
		consume(&r, line);
	}
	reap(&r, rc <= 0, NULL, 0);
	if (rc == 1) {
		pthread_mutex_lock(&p->lock);
		free(p->devices_json);
		p->devices_json = strdup(*json);
		pthread_mutex_unlock(&p->lock);
		rc = 0;
	} else if (rc == -ETIMEDOUT) {
		p->host->log(p->ctx, MOTCUA_LOG_WARNING,
			     "the scanner driver did not list the scanners in %u s", p->timeout_s);
	}
	atomic_store(&p->busy, false);
	return rc < 0 ? rc : 0;
}
