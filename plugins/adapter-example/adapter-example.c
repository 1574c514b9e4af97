/* SPDX-License-Identifier: MIT */
/*
 * adapter-example: the template for an agency's interconnect adapter.
 * Copy this folder, rename it, and replace deliver() with your agency's call.
 * See README.md beside this file for the whole contract.
 *
 * An adapter is a destination of the gateway's outbox. The host decides
 * what to send and when (every dossier.created, document.done and
 * dossier.status event, in order per dossier, retried with backoff), and
 * calls two functions of ours:
 *   accepts()  on the event loop, quick: is this event of a dossier of this
 *              procedure for us? Here: the `procedures` key ("*" = all).
 *   deliver()  on a worker thread: send one item. Here: write it as one JSON
 *              file <drop_dir>/<idempotency key>.json, atomically (a temp
 *              file, fsync, rename), holding {"idempotency_key",
 *              "event_type", "event", "dossier"}.
 * deliver() returns 0 (the peer has it), -EAGAIN (try again later) or another
 * negative errno (refused for good: the item goes to the dead letters), with
 * a reason in d->message.
 *
 * It also serves GET /api/v1/plugins/adapter-example/status ({"sent": N}).
 *
 * Built in the tree by meson, and out of the tree with nothing but
 *   cc -shared -fPIC $(pkg-config --cflags --libs motcua-plugin) ...
 * (see the Makefile beside this file). It needs no JSON library: the host
 * hands over the event and the dossier as JSON text, copied as they are.
 */
#define _POSIX_C_SOURCE 200809L /* strdup, O_CLOEXEC under -std=c11 */
#include <ctype.h>
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
	char *procedures; /* "*" or codes separated by commas or blanks */
	atomic_uint sent;
};

/* The in-tree plugins share this loop (plugins/common/plugin-io.h), but a
 * template is copied and built out of the tree with nothing but pkg-config
 * motcua-plugin: it links nothing of ours but the SDK header, so it keeps
 * the few lines it needs. write() may write less than asked, or be cut short
 * by a signal (EINTR): go on until everything is written. */
static int write_all(int fd, const char *p, size_t len)
{
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

/* Writes a JSON string literal (the key and type are ASCII-safe already,
 * but escape anyway: never trust what goes into a file the agency parses). */
static int write_json_string(int fd, const char *s)
{
	char buf[8];
	int r = write_all(fd, "\"", 1);
	for (; !r && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			buf[0] = '\\', buf[1] = (char)ch;
			r = write_all(fd, buf, 2);
		} else if (ch < 0x20) {
			snprintf(buf, sizeof buf, "\\u%04x", ch);
			r = write_all(fd, buf, 6);
		} else {
			r = write_all(fd, (const char *)&ch, 1);
		}
	}
	return r ? r : write_all(fd, "\"", 1);
}

/* The outbox calls this on a worker thread for every item we accepted. */
static int deliver(void *data, struct motcua_delivery *d)
{
	struct adapter *a = data;
	struct stat sb;
	char name[200], dest[4400], tmp[4500];
	/* An unmounted share is for an operator to fix: retry later. */
	if (stat(a->drop_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(d->message, sizeof d->message, "drop folder %.200s is not there",
			 a->drop_dir);
		return -EAGAIN;
	}
	/* The idempotency key names the file: a repeat (after a crash) finds
	 * it there and is a no-op. Keep only safe characters in the name. */
	size_t o = 0;
	for (const char *s = d->idempotency_key; *s && o + 1 < sizeof name; s++)
		name[o++] =
		    isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.' ? *s : '_';
	name[o] = 0;
	if (!o || name[0] == '.') {
		snprintf(d->message, sizeof d->message, "unusable idempotency key");
		return -EINVAL;
	}
	snprintf(dest, sizeof dest, "%s/%s.json", a->drop_dir, name);
	snprintf(tmp, sizeof tmp, "%s/.%s.json.part", a->drop_dir, name);
	if (access(dest, F_OK) == 0) {
		snprintf(d->message, sizeof d->message, "already delivered");
		return 0;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(d->message, sizeof d->message, "cannot write to %.200s: %s", a->drop_dir,
			 strerror(errno));
		return -EAGAIN;
	}
	int r = write_all(fd, "{\"idempotency_key\": ", 20);
	if (!r)
		r = write_json_string(fd, d->idempotency_key);
	if (!r)
		r = write_all(fd, ", \"event_type\": ", 16);
	if (!r)
		r = write_json_string(fd, d->event_type);
	/* event_json and dossier_json are JSON objects from the host: copied as is */
	if (!r)
		r = write_all(fd, ", \"event\": ", 11);
	if (!r)
		r = write_all(fd, d->event_json, strlen(d->event_json));
	if (!r)
		r = write_all(fd, ", \"dossier\": ", 13);
	if (!r)
		r = write_all(fd, d->dossier_json, strlen(d->dossier_json));
	if (!r)
		r = write_all(fd, "}\n", 2);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, dest) < 0)
		r = -errno;
	if (r) {
		unlink(tmp);
		snprintf(d->message, sizeof d->message, "cannot write %.200s: %s", dest,
			 strerror(-r));
		return -EAGAIN;
	}
	atomic_fetch_add(&a->sent, 1);
	snprintf(d->message, sizeof d->message, "dropped as %.200s.json", name);
	snprintf(d->peer_ref, sizeof d->peer_ref, "%.100s.json", name);
	return 0;
}

/* On the event loop: no I/O here. */
static int accepts(void *data, const char *procedure_code, const char *event_type)
{
	struct adapter *a = data;
	(void)event_type; /* every event the outbox has: created, document done, status */
	return motcua_list_has(a->procedures, procedure_code);
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

static void adapter_free(struct adapter *a)
{
	if (!a)
		return;
	free(a->drop_dir);
	free(a->procedures);
	free(a);
}

static int adapter_init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	/* A host older than the outbox lacks adapter_register: say so. */
	if (host->struct_size <
		offsetof(struct motcua_host, adapter_register) + sizeof host->adapter_register ||
	    !host->adapter_register) {
		host->log(ctx, MOTCUA_LOG_ERROR, "this gateway has no outbox (adapter_register)");
		return -ENOTSUP;
	}
	const char *dir = host->config_get(ctx, NULL, "drop_dir");
	const char *procs = host->config_get(ctx, NULL, "procedures");
	if (!dir || !dir[0]) {
		host->log(ctx, MOTCUA_LOG_ERROR, "drop_dir is not set");
		return -EINVAL;
	}
	struct adapter *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->ctx = ctx;
	a->host = host;
	a->drop_dir = strdup(dir);
	a->procedures = strdup(procs && procs[0] ? procs : "*");
	if (!a->drop_dir || !a->procedures) {
		adapter_free(a);
		return -ENOMEM;
	}
	struct motcua_adapter_ops ops = {
	    .struct_size = sizeof ops,
	    .accepts = accepts,
	    .deliver = deliver,
	};
	int r = host->route_add(ctx, "GET", "/status",
				MOTCUA_ROLE_CLERK | MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN,
				status_route, a, NULL);
	if (r == 0)
		r = host->adapter_register(ctx, &ops, a, NULL);
	if (r < 0) {
		adapter_free(a);
		return r; /* the host undoes what was registered */
	}
	host->log(ctx, MOTCUA_LOG_INFO, "delivering dossiers of procedures '%s' into %s",
		  a->procedures, a->drop_dir);
	*state = a;
	return 0;
}

static void adapter_fini(void *state)
{
	adapter_free(state);
}

static const struct motcua_config_key keys[] = {
    {"drop_dir", "folder the agency collects deliveries from"},
    {"procedures", "procedure codes delivered here, `*` for all (default *)"},
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

MOTCUA_PLUGIN_DECLARE(info)
