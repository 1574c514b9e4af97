/* SPDX-License-Identifier: MIT */
/* A test plugin for the host's outbox, with no dependency: an adapter that
 * POSTs each delivery to a peer on 127.0.0.1 (plain HTTP/1.0 over a socket,
 * the Idempotency-Key header, a JSON body with the key, the event and the
 * dossier), mapping the answer the way real adapters do: 2xx delivered, 4xx
 * refused for good, 5xx / no connection / timeout tried again later. Its
 * routes let a test play the agency: POST /status {"code","status"} calls
 * dossier_status(), POST /result {"code","path","media_type","name"} calls
 * result_add(). Config: port, procedures ("*" or codes, comma-separated),
 * timeout_ms. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <motcua/plugin.h>

struct state {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	int port;
	int timeout_ms;
	char procedures[256];
};

static int accepts(void *data, const char *procedure_code, const char *event_type)
{
	struct state *s = data;
	(void)event_type;
	if (!strcmp(s->procedures, "*"))
		return 1;
	/* comma-separated codes */
	size_t n = strlen(procedure_code);
	for (const char *p = s->procedures; *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && !strncmp(p, procedure_code, n))
			return 1;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Writes s as a JSON string (the test data is plain; quotes and
 * backslashes are escaped, control characters dropped). */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static int wait_fd(int fd, short what, int ms)
{
	struct pollfd p = {.fd = fd, .events = what};
	int r;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r;
}

static int deliver(void *data, struct motcua_delivery *d)
{
	struct state *s = data;
	char *body = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&body, &blen);
	if (!f)
		return -EAGAIN;
	fprintf(f, "{\"key\":");
	json_str(f, d->idempotency_key);
	fprintf(f, ",\"destination\":");
	json_str(f, d->destination);
	fprintf(f, ",\"code\":");
	json_str(f, d->dossier_code);
	fprintf(f, ",\"type\":");
	json_str(f, d->event_type);
	fprintf(f, ",\"attempt\":%u,\"event\":%s,\"dossier\":%s}", d->attempt, d->event_json,
		d->dossier_json);
	fclose(f);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), r = -EAGAIN;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char head[512], answer[512];
	if (fd < 0)
		goto out;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
		snprintf(d->message, sizeof d->message, "cannot connect to the peer: %s",
			 strerror(errno));
		r = -errno;
		goto out;
	}
	int err = 0;
	socklen_t el = sizeof err;
	if (wait_fd(fd, POLLOUT, s->timeout_ms) <= 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		snprintf(d->message, sizeof d->message, "cannot connect to the peer: %s",
			 err ? strerror(err) : "timeout");
		r = err ? -err : -ETIMEDOUT; /* the peer is unreachable: the destination pauses */
		goto out;
	}
	int hl = snprintf(
	    head, sizeof head,
	    "POST /deliver HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	    "Idempotency-Key: %s\r\nContent-Length: %zu\r\n\r\n",
	    d->idempotency_key, blen);
	const char *parts[2] = {head, body};
	size_t lens[2] = {(size_t)hl, blen};
	for (int i = 0; i < 2; i++)
		for (size_t off = 0; off < lens[i];) {
			if (wait_fd(fd, POLLOUT, s->timeout_ms) <= 0) {
				snprintf(d->message, sizeof d->message,
					 "the peer did not take the request in time");
				goto out;
			}
			ssize_t w = send(fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				snprintf(d->message, sizeof d->message, "sending failed: %s",
					 strerror(errno));
				goto out;
			}
			off += w > 0 ? (size_t)w : 0;
		}
	size_t got = 0;
	while (got < sizeof answer - 1) {
		if (wait_fd(fd, POLLIN, s->timeout_ms) <= 0) {
			snprintf(d->message, sizeof d->message,
				 "the peer did not answer within %d ms", s->timeout_ms);
			goto out;
		}
		ssize_t n = recv(fd, answer + got, sizeof answer - 1 - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	answer[got] = 0;
	int status = 0;
	if (sscanf(answer, "HTTP/%*s %d", &status) != 1) {
		snprintf(d->message, sizeof d->message, "the peer's answer is not HTTP");
		goto out;
	}
	const char *text = strstr(answer, "\r\n\r\n");
	text = text ? text + 4 : "";
	if (status >= 200 && status < 300) {
		r = 0;
		snprintf(d->message, sizeof d->message, "HTTP %d", status);
		snprintf(d->peer_ref, sizeof d->peer_ref, "%.100s", text);
	} else if (status >= 400 && status < 500) {
		r = -EBADMSG;
		snprintf(d->message, sizeof d->message, "HTTP %d: %.200s", status, text);
	} else {
		snprintf(d->message, sizeof d->message, "HTTP %d: %.200s", status, text);
	}
out:
	if (fd >= 0)
		close(fd);
	free(body);
	return r;
}

/* Finds "key": <number or "string"> in a small flat JSON body (test only). */
static int field(const char *body, size_t len, const char *key, char *out, size_t outlen)
{
	char pat[64], buf[2048];
	snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf - 1 ? len : sizeof buf - 1), body);
	snprintf(pat, sizeof pat, "\"%s\"", key);
	char *p = strstr(buf, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	while (*p == ' ' || *p == ':')
		p++;
	if (*p == '"') {
		p++;
		size_t n = strcspn(p, "\"");
		snprintf(out, outlen, "%.*s", (int)n, p);
	} else {
		size_t n = strcspn(p, ",} ");
		snprintf(out, outlen, "%.*s", (int)n, p);
	}
	return 0;
}

static int answer(struct state *s, struct motcua_response *resp, int code, int r)
{
	char b[128];
	int n = snprintf(b, sizeof b, "{\"result\": %d}", r);
	s->host->response_set(resp, "application/json", b, (size_t)n);
	return code;
}

static int route_status(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	struct state *s = data;
	char code[128], st[16];
	if (field(req->body, req->body_len, "code", code, sizeof code) < 0 ||
	    field(req->body, req->body_len, "status", st, sizeof st) < 0)
		return answer(s, resp, 400, -EINVAL);
	int r = s->host->dossier_status(s->ctx, code, atoi(st), "{\"note\": \"test\"}");
	return answer(s, resp, r == 0 ? 200 : r == -ENOENT ? 404 : 400, r);
}

static int route_result(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	struct state *s = data;
	char code[128], path[1024], type[64], name[256];
	if (field(req->body, req->body_len, "code", code, sizeof code) < 0 ||
	    field(req->body, req->body_len, "path", path, sizeof path) < 0 ||
	    field(req->body, req->body_len, "media_type", type, sizeof type) < 0 ||
	    field(req->body, req->body_len, "name", name, sizeof name) < 0)
		return answer(s, resp, 400, -EINVAL);
	/* (a real adapter calls this from a work function: it copies the file) */
	int r = s->host->result_add(s->ctx, code, path, type, name);
	return answer(s, resp, r == 0 ? 202 : 400, r);
}

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	if (host->struct_size < sizeof *host)
		return -EPROTO;
	struct state *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->ctx = ctx;
	s->host = host;
	const char *v = host->config_get(ctx, NULL, "port");
	s->port = v ? atoi(v) : 0;
	v = host->config_get(ctx, NULL, "timeout_ms");
	s->timeout_ms = v ? atoi(v) : 2000;
	v = host->config_get(ctx, NULL, "procedures");
	snprintf(s->procedures, sizeof s->procedures, "%s", v ? v : "*");
	if (s->port <= 0 || s->port > 65535) {
		host->log(ctx, MOTCUA_LOG_ERROR, "port must be the peer's port on 127.0.0.1");
		free(s);
		return -EINVAL;
	}
	static const struct motcua_adapter_ops ops = {
	    .struct_size = sizeof ops,
	    .accepts = accepts,
	    .deliver = deliver,
	};
	int r;
	if ((r = host->adapter_register(ctx, &ops, s, NULL)) < 0 ||
	    (r = host->route_add(ctx, "POST", "/status", MOTCUA_ROLE_AGENCY | MOTCUA_ROLE_ADMIN,
				 route_status, s, NULL)) < 0 ||
	    (r = host->route_add(ctx, "POST", "/result", MOTCUA_ROLE_AGENCY | MOTCUA_ROLE_ADMIN,
				 route_result, s, NULL)) < 0) {
		free(s);
		return r;
	}
	*state = s;
	return 0;
}

static void fini(void *state)
{
	free(state);
}

static const struct motcua_config_key keys[] = {
    {"port", "the peer's port on 127.0.0.1"},
    {"procedures", "procedure codes routed here, comma-separated, or * (default *)"},
    {"timeout_ms", "connect, send and answer timeout in ms (default 2000)"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof info,
    .abi = MOTCUA_ABI_VERSION,
    .name = "test-adapter",
    .version = "1",
    .provides = MOTCUA_PROVIDES_ADAPTER,
    .config_keys = keys,
    .init = init,
    .fini = fini,
};

MOTCUA_PLUGIN_DECLARE(info)
