/* SPDX-License-Identifier: MIT */
/*
 * adapter-example: the template for an agency's interconnect adapter.
 *
 * It delivers each finished document to the agency the way agencies without an
 * API take them: a folder drop. For every document it writes
 *   <drop_dir>/<dossier code>/<document id>.<ext>      the file
 *   <drop_dir>/<dossier code>/<document id>.json       what it is
 * each atomically (temp file, fsync, rename), so the agency's side never sees
 * half a file. A drop folder that is not there (an unmounted share) is a
 * transient failure: the gateway retries later, nothing is lost.
 *
 * It also serves GET /api/v1/plugins/adapter-example/status.
 *
 * Built in the tree by meson, and out of the tree with nothing but
 *   cc -shared -fPIC $(pkg-config --cflags --libs motcua-plugin) ...
 * (see the Makefile beside this file).
 */
#define _POSIX_C_SOURCE 200809L /* strdup, O_CLOEXEC under -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <motcua/plugin.h>

struct adapter {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	char *drop_dir;
	atomic_uint sent;
};

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies src (or writes text if src is NULL) to dest atomically. */
static int drop_file(const char *dest, const char *src, const char *text)
{
	char tmp[4200];
	int r = 0, in = -1;
	snprintf(tmp, sizeof tmp, "%s.part", dest);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (out < 0)
		return -errno;
	if (src) {
		in = open(src, O_RDONLY | O_CLOEXEC);
		if (in < 0)
			r = -errno;
		char buf[65536];
		ssize_t n;
		while (!r && (n = read(in, buf, sizeof buf)) != 0) {
			if (n < 0) {
				if (errno != EINTR)
					r = -errno;
				continue;
			}
			r = write_all(out, buf, (size_t)n);
		}
		if (in >= 0)
			close(in);
	} else {
		r = write_all(out, text, strlen(text));
	}
	if (!r && fsync(out) < 0)
		r = -errno;
	if (close(out) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, dest) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

static const char *extension(const char *media_type)
{
	if (!strcmp(media_type, "application/pdf"))
		return "pdf";
	if (!strcmp(media_type, "image/png"))
		return "png";
	if (!strcmp(media_type, "image/jpeg"))
		return "jpg";
	if (!strcmp(media_type, "image/tiff"))
		return "tif";
	return "bin";
}

/* Escapes a string for JSON (the manifest is tiny; no JSON library needed). */
static void json_str(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s && o + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\%c", ch);
		else if (ch < 0x20)
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = 0;
}

/* The route step: runs on a worker thread. */
static int route_document(void *data, struct motcua_step_io *io)
{
	struct adapter *a = data;
	struct stat sb;
	char dir[4096], file[4200], manifest[4200], name[600], text[1200];
	if (stat(a->drop_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(io->message, sizeof io->message, "drop folder %.200s is not there", a->drop_dir);
		return -EAGAIN;
	}
	snprintf(dir, sizeof dir, "%s/%s", a->drop_dir, io->dossier_code);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		snprintf(io->message, sizeof io->message, "cannot create %.180s: %s", dir, strerror(errno));
		return -EAGAIN;
	}
	snprintf(file, sizeof file, "%s/%s.%s", dir, io->document_id, extension(io->media_type));
	snprintf(manifest, sizeof manifest, "%s/%s.json", dir, io->document_id);
	json_str(name, sizeof name, io->document_name);
	snprintf(text, sizeof text,
		 "{\"dossier_code\":\"%s\",\"document_id\":\"%s\",\"name\":\"%s\",\"media_type\":\"%s\"}\n",
		 io->dossier_code, io->document_id, name, io->media_type);
	int r = drop_file(file, io->path, NULL);
	if (!r)
		r = drop_file(manifest, NULL, text);
	if (r) {
		snprintf(io->message, sizeof io->message, "cannot write to %.180s: %s", dir, strerror(-r));
		return -EAGAIN;
	}
	atomic_fetch_add(&a->sent, 1);
	snprintf(io->message, sizeof io->message, "dropped in %.200s", dir);
	return 0;
}

static int status_route(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	struct adapter *a = data;
	char body[256];
	(void)req;
	snprintf(body, sizeof body, "{\"plugin\":\"adapter-example\",\"sent\":%u}",
		 atomic_load(&a->sent));
	a->host->response_set(resp, "application/json", body, strlen(body));
	return 200;
}

static int adapter_init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	const char *dir = host->config_get(ctx, NULL, "drop_dir");
	if (!dir || !dir[0]) {
		host->log(ctx, MOTCUA_LOG_ERROR, "drop_dir is not set");
		return -EINVAL;
	}
	struct adapter *a = calloc(1, sizeof *a);
	if (!a || !(a->drop_dir = strdup(dir))) {
		free(a);
		return -ENOMEM;
	}
	a->ctx = ctx;
	a->host = host;
	int r = host->route_add(ctx, "GET", "/status",
				MOTCUA_ROLE_CLERK | MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN,
				status_route, a, NULL);
	if (r == 0)
		r = host->step_register(ctx, MOTCUA_STEP_ROUTE, route_document, a, NULL);
	if (r < 0) {
		free(a->drop_dir);
		free(a);
		return r;
	}
	host->log(ctx, MOTCUA_LOG_INFO, "dropping documents in %s", a->drop_dir);
	*state = a;
	return 0;
}

static void adapter_fini(void *state)
{
	struct adapter *a = state;
	if (!a)
		return;
	free(a->drop_dir);
	free(a);
}

static const struct motcua_config_key keys[] = {
	{"drop_dir", "folder the agency collects documents from"},
	{NULL, NULL},
};

static const struct motcua_plugin_info info = {
	.struct_size = sizeof(struct motcua_plugin_info),
	.abi = MOTCUA_ABI_VERSION,
	.name = "adapter-example",
	.version = "1.0.0",
	.provides = MOTCUA_PROVIDES_ADAPTER,
	.config_keys = keys,
	.init = adapter_init,
	.fini = adapter_fini,
};

MOTCUA_EXPORT const struct motcua_plugin_info *motcua_plugin_entry(const uint32_t *host_abis, size_t n)
{
	(void)host_abis;
	(void)n;
	return &info; /* speaks only ABI 1; the host refuses it if it lacks that */
}
