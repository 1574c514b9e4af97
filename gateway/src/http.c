/* SPDX-License-Identifier: MIT */
/* HTTP helpers on libevent's evhttp (see http.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "http.h"

void http_reply_json(struct evhttp_request *req, int code, json_t *body)
{
	struct evbuffer *buf = evbuffer_new();
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json; charset=utf-8");
	if (buf && text) {
		evbuffer_add(buf, text, strlen(text));
		evbuffer_add(buf, "\n", 1);
	}
	evhttp_send_reply(req, code, NULL, buf);
	free(text);
	if (buf)
		evbuffer_free(buf);
}

void http_reply_error(struct evhttp_request *req, int code, const char *error, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	json_t *body = json_object();
	json_object_set_new(body, "error", json_string(error));
	/* json_string() refuses invalid UTF-8 (it may echo client input). */
	json_t *d = json_string(detail);
	json_object_set_new(body, "detail", d ? d : json_string("(detail not valid UTF-8)"));
	http_reply_json(req, code, body);
}

void http_reply_file(struct evhttp_request *req, int fd, const char *media_type,
		     const char *etag_sha)
{
	struct evbuffer *buf = evbuffer_new();
	off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	if (fd < 0 || !buf || size < 0 || evbuffer_add_file(buf, fd, 0, size) < 0) {
		if (fd >= 0)
			close(fd);
		if (buf)
			evbuffer_free(buf);
		http_reply_error(req, 500, "storage_error", "the file cannot be sent");
		return;
	}
	/* the buffer owns fd now */
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Content-Type", media_type);
	if (etag_sha) {
		char etag[70];
		snprintf(etag, sizeof etag, "\"%s\"", etag_sha);
		evhttp_add_header(out, "ETag", etag);
	}
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

const char *http_header(struct evhttp_request *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

void http_set_header(struct evhttp_request *req, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), name, value);
}

bool http_client_gone(struct evhttp_request *req)
{
	return evhttp_request_get_connection(req) == NULL;
}

void http_reply_gone(struct evhttp_request *req)
{
	/* Nobody to answer: sending a reply is how libevent frees it. */
	evhttp_send_reply(req, 499, "Client Closed Request", NULL);
}

json_t *http_json_body(struct evhttp_request *req)
{
	const char *ct = http_header(req, "Content-Type");
	if (ct && strncasecmp(ct, "application/json", 16) != 0) {
		http_reply_error(req, 415, "unsupported_media_type",
				 "send application/json, not %s", ct);
		return NULL;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > HTTP_JSON_BODY_MAX) {
		http_reply_error(req, 413, "too_large", "a JSON body may be at most %d bytes",
				 HTTP_JSON_BODY_MAX);
		return NULL;
	}
	json_error_t jerr;
	json_t *j =
	    json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		http_reply_error(req, 400, "bad_json", "line %d column %d: %s", jerr.line,
				 jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_reply_error(req, 400, "bad_json", "expected a JSON object");
		return NULL;
	}
	return j;
}

json_t *http_json_body_or_empty(struct evhttp_request *req)
{
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) == 0)
		return json_object();
	return http_json_body(req);
}

bool http_only_keys(struct evhttp_request *req, json_t *obj, const char *where,
		    const char *const *keys)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		bool ok = false;
		for (const char *const *p = keys; *p; p++)
			ok |= !strcmp(*p, k);
		if (!ok) {
			http_reply_error(req, 400, "bad_request", "unknown field %s%s", where, k);
			return false;
		}
	}
	return true;
}

bool http_str_field(struct evhttp_request *req, json_t *obj, const char *key, const char *label,
		    bool required, size_t max, const char **out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required) {
			http_reply_error(req, 400, "bad_request", "%s is required", label);
			return false;
		}
		return true;
	}
	if (!json_is_string(v)) {
		http_reply_error(req, 400, "bad_request", "%s must be a string", label);
		return false;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	size_t trimmed = n;
	while (trimmed && (s[trimmed - 1] == ' ' || s[0] == ' '))
		trimmed--;
	if (n == 0 || trimmed == 0 || n > max || strlen(s) != n) {
		http_reply_error(req, 400, "bad_request", "%s must be 1 to %zu bytes of text",
				 label, max);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20) {
			http_reply_error(req, 400, "bad_request",
					 "%s must not hold control characters", label);
			return false;
		}
	*out = s;
	return true;
}

bool http_query(struct evhttp_request *req, struct evkeyvalq *q)
{
	const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (evhttp_parse_query_str(qs ? qs : "", q) < 0) {
		http_reply_error(req, 400, "bad_request", "the query string is malformed");
		return false;
	}
	return true;
}

bool http_int_param(struct evhttp_request *req, const char *name, const char *value, long lo,
		    long hi, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(value, &end, 10);
	if (!*value || *end || errno || n < lo || n > hi) {
		http_reply_error(req, 400, "bad_request",
				 "%s must be a whole number from %ld to %ld", name, lo, hi);
		return false;
	}
	*out = n;
	return true;
}

void http_client_address(struct evhttp_request *req, char *out, size_t n)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;
	if (conn)
		evhttp_connection_get_peer(conn, &addr, &port);
	snprintf(out, n, "%s", addr ? addr : "?");
}
