/* SPDX-License-Identifier: MIT */
/*
 * motcua-scan-sane: the process SANE runs in (see driver-proxy.c).
 *
 *   motcua-scan-sane MODULE capture TMP_DIR OPTIONS-JSON [KEY=VALUE...]
 *   motcua-scan-sane MODULE list [KEY=VALUE...]
 *
 * A small host for one plugin: loads MODULE (scan-sane.so), gives it the
 * [scan-sane] KEY=VALUE pairs and the driver role, and runs one batch or one
 * listing, speaking the line protocol of driver-proxy.c on stdout and
 * reading the answers to "page" lines on stdin ("ok cancel" stops the batch
 * after that page). The gateway starts it; it is not meant for
 * people, but `motcua-scan-sane .../scan-sane.so list` shows what SANE sees.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <motcua/plugin.h>

#include "driver-proxy.h"

static char **conf;
static int n_conf;
static struct motcua_capture_ops ops;
static void *ops_data;
static motcua_free_fn ops_free;
static struct motcua_capture_io io;
static FILE *out;

/* One protocol line: the text with newlines turned into spaces. */
static void emit(const char *kind, const char *text)
{
	fprintf(out, "%s ", kind);
	for (const char *c = text; *c; c++)
		fputc(*c == '\n' || *c == '\r' ? ' ' : *c, out);
	fputc('\n', out);
	fflush(out);
}

static void h_log(struct motcua_plugin_ctx *ctx, enum motcua_log_level level, const char *fmt, ...)
{
	(void)ctx;
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	char kind[16];
	snprintf(kind, sizeof kind, "log %d", (int)level);
	emit(kind, text);
}

static const char *h_config_get(struct motcua_plugin_ctx *ctx, const char *section, const char *key)
{
	(void)ctx;
	if (section)
		return NULL;
	if (!strcmp(key, SCAN_SANE_DRIVER_KEY))
		return "1";
	size_t n = strlen(key);
	for (int i = 0; i < n_conf; i++)
		if (!strncmp(conf[i], key, n) && conf[i][n] == '=')
			return conf[i] + n + 1;
	return NULL;
}

static int h_capture_register(struct motcua_plugin_ctx *ctx, const struct motcua_capture_ops *o,
			      void *data, motcua_free_fn free_fn)
{
	(void)ctx;
	memcpy(&ops, o, o->struct_size < sizeof ops ? o->struct_size : sizeof ops);
	ops_data = data;
	ops_free = free_fn;
	return 0;
}

static int page_ready(struct motcua_capture_io *cio, const char *path, const char *media_type)
{
	(void)cio;
	fprintf(out, "page %s\t%s\n", path, media_type);
	fflush(out);
	char line[64];
	if (!fgets(line, sizeof line, stdin))
		return -EPIPE; /* the gateway is gone: stop */
	if (!strncmp(line, "ok", 2)) {
		if (!strncmp(line, "ok cancel", 9))
			io.cancel = 1; /* the batch stops before the next page */
		return 0;
	}
	int e = !strncmp(line, "err ", 4) ? atoi(line + 4) : EPROTO;
	return e > 0 ? -e : -EPROTO;
}

static void progress(struct motcua_capture_io *cio, const char *json)
{
	(void)cio;
	emit("progress", json);
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[2], "capture") && strcmp(argv[2], "list")) ||
	    (!strcmp(argv[2], "capture") && argc < 5)) {
		fprintf(stderr,
			"usage: %s MODULE capture TMP_DIR OPTIONS [KEY=VALUE...]\n"
			"       %s MODULE list [KEY=VALUE...]\n",
			argv[0], argv[0]);
		return 2;
	}
	bool capture = !strcmp(argv[2], "capture");
	int first = capture ? 5 : 3;
	conf = argv + first;
	n_conf = argc - first;
	/* The protocol owns stdout; SANE's and libraries' chatter goes to stderr. */
	int fd = dup(1);
	out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!out || dup2(2, 1) < 0) {
		perror("motcua-scan-sane: stdout");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/*
	 * SANE's sanei_thread cancels reader threads asynchronously; one
	 * cancelled inside malloc() or free() leaves an arena locked. Large
	 * blocks from mmap() and no free() perturbation shrink that window; what
	 * remains hangs this process, which the gateway then kills.
	 */
	mallopt(M_PERTURB, 0);
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);

	void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	motcua_plugin_entry_fn entry = NULL;
	if (so)
		*(void **)&entry =
		    dlsym(so, MOTCUA_PLUGIN_ENTRY_SYMBOL); /* POSIX's way past ISO C's rule */
	const uint32_t abis[] = {MOTCUA_ABI_VERSION};
	const struct motcua_plugin_info *info = entry ? entry(abis, 1) : NULL;
	if (!info || info->abi != MOTCUA_ABI_VERSION || !info->init) {
		emit("done -22",
		     so ? "the module is not a motcua plugin of this version" : dlerror());
		return 1;
	}
	static struct motcua_host host = {
	    .struct_size = sizeof host,
	    .abi = MOTCUA_ABI_VERSION,
	    .log = h_log,
	    .config_get = h_config_get,
	    .capture_register = h_capture_register,
	};
	void *state = NULL;
	int r = info->init((struct motcua_plugin_ctx *)&host, &host, &state);
	if (r < 0 || !ops.capture || !ops.list_devices) {
		char msg[64];
		snprintf(msg, sizeof msg, "done %d", r < 0 ? r : -EPROTO);
		emit(msg, "the scanner driver could not start: see the log");
		return 1;
	}
	if (capture) {
		io = (struct motcua_capture_io){
		    .struct_size = sizeof io,
		    .dossier_code = "",
		    .document_id = "",
		    .options = argv[4],
		    .tmp_dir = argv[3],
		    .page_ready = page_ready,
		    .progress = progress,
		};
		r = ops.capture(ops_data, &io);
		io.message[sizeof io.message - 1] = 0;
		char kind[32];
		snprintf(kind, sizeof kind, "done %d", r > 0 ? 0 : r);
		emit(kind, io.message);
	} else {
		char *json = NULL;
		r = ops.list_devices(ops_data, &json);
		if (r == 0 && json) {
			emit("devices", json);
		} else {
			char kind[32];
			snprintf(kind, sizeof kind, "done %d", r < 0 ? r : -EIO);
			emit(kind, "SANE could not list the scanners");
		}
		free(json);
	}
	if (info->fini)
		info->fini(state);
	if (ops_free)
		ops_free(ops_data);
	fclose(out);
	/* Backends may leave threads behind: end without unloading anything,
	 * and without exit handlers (LeakSanitizer's among them: SANE's backends
	 * leak, and this process ends after its one batch; the gateway, which
	 * no longer loads the backends, keeps its leak checks). */
	_exit(0);
}
