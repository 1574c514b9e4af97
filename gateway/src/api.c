/* SPDX-License-Identifier: MIT */
/* HTTP API v1 on libevent's evhttp: JSON in and out, bearer tokens, errors as
 * {"error": "...", "detail": "..."}. Everything runs on the loop except writing
 * uploads, which goes to the worker pool. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway.h"

#define JSON_BODY_MAX (64 * 1024)
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 500
/* Uploads held in memory at once (each up to max_upload_mb). */
#define UPLOADS_MAX 4

struct api {
	struct gateway *gw;
	struct evhttp *http;
	unsigned uploads_in_flight;
	uint64_t requests;
};


/* ---- replies ---- */

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

/* ---- request helpers ---- */

static bool get_token(struct api *a, struct evhttp_request *req, struct token_info *tok)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (!h) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  "Bearer realm=\"motcua\"");
		http_reply_error(req, 401, "unauthorized", "Authorization: Bearer <token> is required");
		return false;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0 || token_check(a->gw->db, h + 7, tok) < 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  "Bearer realm=\"motcua\", error=\"invalid_token\"");
		http_reply_error(req, 401, "unauthorized", "the token is unknown or revoked");
		return false;
	}
	return true;
}

bool api_allowed(struct evhttp_request *req, const struct token_info *tok, unsigned roles)
{
	if (tok->role & roles)
		return true;
	http_reply_error(req, 403, "forbidden", "role %s may not do this", role_name(tok->role));
	return false;
}

/* Parses a JSON object body (bounded, UTF-8 checked by jansson). */
json_t *api_json_body(struct evhttp_request *req)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	if (ct && strncasecmp(ct, "application/json", 16) != 0) {
		http_reply_error(req, 415, "unsupported_media_type", "send application/json, not %s", ct);
		return NULL;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > JSON_BODY_MAX) {
		http_reply_error(req, 413, "too_large", "a JSON body may be at most %d bytes", JSON_BODY_MAX);
		return NULL;
	}
	json_error_t jerr;
	json_t *j = json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		http_reply_error(req, 400, "bad_json", "line %d column %d: %s", jerr.line, jerr.column,
				 jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_reply_error(req, 400, "bad_json", "expected a JSON object");
		return NULL;
	}
	return j;
}

bool api_only_keys(struct evhttp_request *req, json_t *obj, const char *where,
		      const char *const *keys)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
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

/* An optional or required string field with a length bound. */
bool api_str_field(struct evhttp_request *req, json_t *obj, const char *key, const char *label,
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
		http_reply_error(req, 400, "bad_request", "%s must be 1 to %zu bytes of text", label, max);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20) {
			http_reply_error(req, 400, "bad_request", "%s must not hold control characters",
					 label);
			return false;
		}
	*out = s;
	return true;
}

static bool all_digits(const char *s, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Citizen ID (CCCD, 12 digits), old ID card (9), tax code of an organisation
 * (10, or 10-3 for a branch), passport (a letter and 7-8 digits). */
bool valid_id_number(const char *s)
{
	size_t n = strlen(s);
	if ((n == 9 || n == 10 || n == 12) && all_digits(s, 0, n))
		return true;
	if (n == 14 && all_digits(s, 0, 10) && s[10] == '-' && all_digits(s, 11, 14))
		return true;
	if ((n == 8 || n == 9) && s[0] >= 'A' && s[0] <= 'Z' && all_digits(s, 1, n))
		return true;
	return false;
}

static bool valid_phone(const char *s)
{
	size_t n = strlen(s), start = s[0] == '+' ? 1 : 0;
	return n - start >= 9 && n - start <= 15 && all_digits(s, start, n);
}

bool valid_code_chars(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* ---- handlers ---- */

static void h_health(struct api *a, struct evhttp_request *req)
{
	(void)a;
	http_reply_json(req, 200, json_pack("{s:s, s:s}", "status", "ok", "version", MOTCUA_VERSION_STRING));
}

static void h_plugins(struct api *a, struct evhttp_request *req, const struct token_info *tok)
{
	if (api_allowed(req, tok, R_STAFF))
		http_reply_json(req, 200, plugins_list(a->gw->plugins));
}

static void h_dossier_create(struct api *a, struct evhttp_request *req, const struct token_info *tok)
{
	static const char *const top[] = {"procedure_code", "procedure_name", "applicant", "channel", "unit",
					  "processing_days", "ticket_id", NULL};
	static const char *const app[] = {"name", "id_number", "phone", NULL};
	if (!api_allowed(req, tok, R_WRITE))
		return;
	json_t *j = api_json_body(req);
	if (!j)
		return;
	struct dossier_new d = {.created_by = tok->name, .processing_days = -1};
	json_t *applicant = json_object_get(j, "applicant");
	json_t *channel = json_object_get(j, "channel");
	json_t *pdays = json_object_get(j, "processing_days"), *ticket = json_object_get(j, "ticket_id");
	if (!api_only_keys(req, j, "", top) ||
	    !api_str_field(req, j, "procedure_code", "procedure_code", true, 64, &d.procedure_code) ||
	    !api_str_field(req, j, "procedure_name", "procedure_name", false, 500, &d.procedure_name) ||
	    !api_str_field(req, j, "unit", "unit", false, 200, &d.unit))
		goto out;
	if (pdays && !json_is_null(pdays)) {
		if (!json_is_integer(pdays) || json_integer_value(pdays) < 0 || json_integer_value(pdays) > 365) {
			http_reply_error(req, 400, "bad_request",
					 "processing_days must be the legal processing time in working days, 0 to 365");
			goto out;
		}
		d.processing_days = (int)json_integer_value(pdays);
	}
	if (ticket && !json_is_null(ticket)) {
		if (!json_is_integer(ticket) || json_integer_value(ticket) <= 0 ||
		    !ticket_exists(a->gw->db, json_integer_value(ticket))) {
			http_reply_error(req, 400, "bad_request", "ticket_id must be the id of a queue ticket");
			goto out;
		}
		d.ticket_id = json_integer_value(ticket);
	}
	if (!valid_code_chars(d.procedure_code, 64)) {
		http_reply_error(req, 400, "bad_request",
				 "procedure_code must be letters, digits, '.', '-' or '_' (e.g. 1.001234)");
		goto out;
	}
	if (!json_is_object(applicant)) {
		http_reply_error(req, 400, "bad_request", "applicant must be an object with name and id_number");
		goto out;
	}
	if (!api_only_keys(req, applicant, "applicant.", app) ||
	    !api_str_field(req, applicant, "name", "applicant.name", true, 200, &d.applicant_name) ||
	    !api_str_field(req, applicant, "id_number", "applicant.id_number", true, 20, &d.applicant_id) ||
	    !api_str_field(req, applicant, "phone", "applicant.phone", false, 20, &d.applicant_phone))
		goto out;
	if (!valid_id_number(d.applicant_id)) {
		http_reply_error(req, 400, "bad_request",
				 "applicant.id_number must be a 12-digit citizen ID (or 9-digit ID card, "
				 "10-digit tax code, passport number)");
		goto out;
	}
	if (d.applicant_phone && !valid_phone(d.applicant_phone)) {
		http_reply_error(req, 400, "bad_request", "applicant.phone must be 9 to 15 digits, optionally after +");
		goto out;
	}
	if (!json_is_integer(channel) || json_integer_value(channel) < 1 || json_integer_value(channel) > 3) {
		http_reply_error(req, 400, "bad_request",
				 "channel must be 1 (in person), 2 (online) or 3 (postal service)");
		goto out;
	}
	d.channel = (int)json_integer_value(channel);
	int err;
	json_t *dossier = dossier_create(a->gw->pipeline, &d, &err);
	if (!dossier) {
		http_reply_error(req, 503, "unavailable", "the dossier could not be stored: %s", strerror(-err));
		goto out;
	}
	char loc[256];
	snprintf(loc, sizeof loc, "/api/v1/dossiers/%s", json_string_value(json_object_get(dossier, "code")));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
	gw_log(MOTCUA_LOG_INFO, NULL, "dossier %s created by %s", json_string_value(json_object_get(dossier, "code")),
	       tok->name);
	http_reply_json(req, 201, dossier);
out:
	json_decref(j);
}

static bool parse_int_param(struct evhttp_request *req, const char *name, const char *v, long lo, long hi,
			    long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < lo || n > hi) {
		http_reply_error(req, 400, "bad_request", "%s must be a whole number from %ld to %ld", name, lo, hi);
		return false;
	}
	*out = n;
	return true;
}

static void h_dossier_list(struct api *a, struct evhttp_request *req, const struct token_info *tok)
{
	if (!api_allowed(req, tok, R_ALL))
		return;
	struct evkeyvalq q;
	const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (evhttp_parse_query_str(qs ? qs : "", &q) < 0) {
		http_reply_error(req, 400, "bad_request", "the query string is malformed");
		return;
	}
	long status = 0, limit = LIST_LIMIT_DEFAULT, offset = 0;
	int64_t from = INT64_MIN, to = INT64_MAX;
	for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
		if (!strcmp(kv->key, "status")) {
			if (!parse_int_param(req, "status", kv->value, 1, 10, &status))
				goto out;
		} else if (!strcmp(kv->key, "limit")) {
			if (!parse_int_param(req, "limit", kv->value, 1, LIST_LIMIT_MAX, &limit))
				goto out;
		} else if (!strcmp(kv->key, "offset")) {
			if (!parse_int_param(req, "offset", kv->value, 0, 100000000, &offset))
				goto out;
		} else if (!strcmp(kv->key, "from") || !strcmp(kv->key, "to")) {
			bool is_to = kv->key[0] == 't';
			if (time_parse(kv->value, is_to, is_to ? &to : &from) < 0) {
				http_reply_error(req, 400, "bad_request",
						 "%s must be a date YYYY-MM-DD (Vietnam time) or ISO 8601 time",
						 kv->key);
				goto out;
			}
		} else {
			http_reply_error(req, 400, "bad_request",
					 "unknown parameter %s (use status, from, to, limit, offset)", kv->key);
			goto out;
		}
	}
	http_reply_json(req, 200, dossier_list(a->gw->pipeline, (int)status, from, to, (int)limit, (int)offset));
out:
	evhttp_clear_headers(&q);
}

static void h_dossier_get(struct api *a, struct evhttp_request *req, const struct token_info *tok,
			  const char *code)
{
	if (!api_allowed(req, tok, R_ALL))
		return;
	json_t *d = dossier_get(a->gw->pipeline, code);
	if (!d)
		http_reply_error(req, 404, "not_found", "no dossier %s", code);
	else
		http_reply_json(req, 200, d);
}

static void h_document_get(struct api *a, struct evhttp_request *req, const struct token_info *tok,
			   const char *code, const char *id)
{
	if (!api_allowed(req, tok, R_ALL))
		return;
	json_t *d = document_get(a->gw->pipeline, code, id);
	if (!d)
		http_reply_error(req, 404, "not_found", "no document %s in dossier %s", id, code);
	else
		http_reply_json(req, 200, d);
}

static void send_blob(struct api *a, struct evhttp_request *req, const char *sha, const char *media_type,
		      const char *id);

static void h_document_content(struct api *a, struct evhttp_request *req, const struct token_info *tok,
			       const char *code, const char *id)
{
	if (!api_allowed(req, tok, R_ALL))
		return;
	char sha[65];
	char *media_type = NULL;
	if (document_content(a->gw->pipeline, code, id, sha, &media_type) < 0) {
		http_reply_error(req, 404, "not_found", "no document %s in dossier %s", id, code);
		return;
	}
	if (!sha[0]) {
		free(media_type);
		http_reply_error(req, 409, "no_content_yet", "the scan has not delivered a page yet");
		return;
	}
	send_blob(a, req, sha, media_type, id);
	free(media_type);
}

static void h_document_sidecar(struct api *a, struct evhttp_request *req, const struct token_info *tok,
			       const char *code, const char *id)
{
	if (!api_allowed(req, tok, R_ALL))
		return;
	json_t *d = document_get(a->gw->pipeline, code, id);
	json_t *sc = d ? json_object_get(d, "sidecar") : NULL;
	if (!d)
		http_reply_error(req, 404, "not_found", "no document %s in dossier %s", id, code);
	else if (!json_is_object(sc))
		http_reply_error(req, 404, "not_found", "document %s has no companion file (a detached signature)", id);
	else
		send_blob(a, req, json_string_value(json_object_get(sc, "sha256")),
			  json_string_value(json_object_get(sc, "media_type")), id);
	json_decref(d);
}

static void h_document_page(struct api *a, struct evhttp_request *req, const struct token_info *tok,
			    const char *code, const char *id, const char *page)
{
	if (!api_allowed(req, tok, R_ALL))
		return;
	char sha[65], *end;
	char *media_type = NULL;
	long n = strtol(page, &end, 10);
	if (*end || n < 1 || n > 100000 ||
	    document_page(a->gw->pipeline, code, id, (int)n, sha, &media_type) < 0) {
		http_reply_error(req, 404, "not_found", "no page %s of document %s in dossier %s", page, id, code);
		return;
	}
	send_blob(a, req, sha, media_type, id);
	free(media_type);
}

/* Sends a blob from the store as the response body (sendfile, no copy). */
static void send_blob(struct api *a, struct evhttp_request *req, const char *sha, const char *media_type,
		      const char *id)
{
	char *path = store_blob_path(a->gw->store, sha);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	free(path);
	struct evbuffer *buf = evbuffer_new();
	off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	if (fd < 0 || !buf || size < 0 || evbuffer_add_file(buf, fd, 0, size) < 0) {
		if (fd >= 0)
			close(fd);
		if (buf)
			evbuffer_free(buf);
		log_error("blob %s of document %s is missing from the store", sha, id);
		http_reply_error(req, 500, "storage_error", "the document's file is missing");
		return;
	}
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Content-Type", media_type);
	char etag[70];
	snprintf(etag, sizeof etag, "\"%s\"", sha);
	evhttp_add_header(out, "ETag", etag);
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

/* ---- uploads ---- */

static const char *const upload_types[] = {"image/png", "image/jpeg", "image/tiff", "application/pdf", NULL};

/* Does the body look like what its type says? Checks the signature and, for
 * PDF, the end-of-file marker that a truncated upload lacks. */
bool upload_type_ok(const char *type)
{
	for (const char *const *t = upload_types; *t; t++)
		if (!strcmp(type, *t))
			return true;
	return false;
}

bool upload_content_matches(const char *type, const unsigned char *p, size_t n, const char **why)
{
	if (!strcmp(type, "image/png")) {
		*why = "not a PNG file (bad signature or missing IHDR)";
		return n >= 33 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8) && !memcmp(p + 12, "IHDR", 4);
	}
	if (!strcmp(type, "image/jpeg")) {
		*why = "not a JPEG file (no SOI/EOI markers)";
		return n >= 4 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF && p[n - 2] == 0xFF &&
		       p[n - 1] == 0xD9;
	}
	if (!strcmp(type, "image/tiff")) {
		*why = "not a TIFF file (bad byte-order header)";
		return n >= 8 && (!memcmp(p, "II*\0", 4) || !memcmp(p, "MM\0*", 4));
	}
	*why = "not a PDF file (no %PDF- header or no %%EOF at the end)";
	if (n < 16 || memcmp(p, "%PDF-", 5) != 0)
		return false;
	size_t tail = n < 1024 ? n : 1024;
	for (size_t i = n - tail; i + 5 <= n; i++)
		if (!memcmp(p + i, "%%EOF", 5))
			return true;
	return false;
}

struct upload {
	struct api *a;
	/* If the client goes away meanwhile, libevent detaches the request and
	 * the reply below frees it. */
	struct evhttp_request *req;
	struct evbuffer *body;
	char code[96];
	char name[256];
	char media_type[32];
	char doc_type[65];
	char created_by[128];
	char sha[65];
	uint64_t size;
	int result;
};

static void upload_work(void *arg)
{
	struct upload *u = arg;
	struct store *s = u->a->gw->store;
	char *tmp = store_tmp_path(s, "upload");
	if (!tmp) {
		u->result = -ENOMEM;
		return;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	u->result = fd < 0 ? -errno : 0;
	while (fd >= 0 && evbuffer_get_length(u->body) > 0) {
		if (evbuffer_write(u->body, fd) < 0 && errno != EINTR) {
			u->result = -errno;
			break;
		}
	}
	if (fd >= 0 && close(fd) < 0 && !u->result)
		u->result = -errno;
	if (u->result == 0)
		u->result = store_commit_file(s, tmp, u->sha, &u->size);
	else
		unlink(tmp);
	free(tmp);
}

static void upload_done(void *arg, int cancelled)
{
	struct upload *u = arg;
	struct api *a = u->a;
	a->uploads_in_flight--;
	if (!evhttp_request_get_connection(u->req)) {
		/* Nobody to tell: the client will send it again. The blob is harmless. */
		log_warning("upload to %s abandoned by the client", u->code);
		evhttp_send_reply(u->req, 499, "Client Closed Request", NULL); /* frees it */
	} else if (cancelled) {
		http_reply_error(u->req, 503, "stopping", "the gateway is stopping; send the document again");
	} else if (u->result < 0) {
		log_error("cannot store an upload to %s: %s", u->code, strerror(-u->result));
		http_reply_error(u->req, 507, "storage_error", "the document could not be stored: %s",
				 strerror(-u->result));
	} else {
		char id[33];
		struct document_extra x = {.doc_type = u->doc_type[0] ? u->doc_type : NULL};
		int r = document_create(a->gw->pipeline, u->code, u->name, u->media_type, u->sha, u->size,
					u->created_by, &x, id);
		if (r < 0)
			http_reply_error(u->req, 503, "unavailable", "the document could not be recorded");
		else {
			gw_log(MOTCUA_LOG_INFO, NULL, "document %s (%s, %llu bytes) received for %s", id,
			       u->media_type, (unsigned long long)u->size, u->code);
			http_reply_json(u->req, 202, json_pack("{s:s, s:s, s:s}", "id", id, "state", "queued",
								 "sha256", u->sha));
		}
	}
	evbuffer_free(u->body);
	free(u);
}

bool valid_document_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 200)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '/' || s[i] == '\\')
			return false;
	/* Must be UTF-8: a json string of it must be possible. */
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

static void h_document_add(struct api *a, struct evhttp_request *req, const struct token_info *tok,
			   const char *code)
{
	if (!api_allowed(req, tok, R_WRITE))
		return;
	if (strlen(code) >= sizeof(((struct upload *)0)->code) || !dossier_exists(a->gw->pipeline, code)) {
		http_reply_error(req, 404, "not_found", "no dossier %s", code);
		return;
	}
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	if (ct && !strncasecmp(ct, "application/json", 16)) {
		/* Not a file but a reference: {"reuse": "<archived item id>"}. */
		json_t *j = api_json_body(req);
		if (j)
			archive_reuse(a->gw, req, tok, code, j);
		json_decref(j);
		return;
	}
	struct evkeyvalq q;
	const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (evhttp_parse_query_str(qs ? qs : "", &q) < 0) {
		http_reply_error(req, 400, "bad_request", "the query string is malformed");
		return;
	}
	const char *name = evhttp_find_header(&q, "name"), *dtype = evhttp_find_header(&q, "type");
	char namebuf[256], typebuf[65];
	snprintf(namebuf, sizeof namebuf, "%s", name ? name : "document");
	bool type_bad = dtype && !valid_code_chars(dtype, 64);
	snprintf(typebuf, sizeof typebuf, "%s", dtype && !type_bad ? dtype : "");
	evhttp_clear_headers(&q);
	if (!valid_document_name(namebuf)) {
		http_reply_error(req, 400, "bad_request",
				 "name must be 1 to 200 bytes of UTF-8 text without / or control characters");
		return;
	}
	if (type_bad) {
		http_reply_error(req, 400, "bad_request",
				 "type must be 1 to 64 letters, digits, '.', '-' or '_' (e.g. to-khai)");
		return;
	}
	char type[32] = "";
	if (ct) {
		size_t n = strcspn(ct, "; ");
		if (n < sizeof type) {
			memcpy(type, ct, n);
			type[n] = 0;
			for (char *p = type; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p += 'a' - 'A';
		}
	}
	bool type_ok = false;
	for (const char *const *t = upload_types; *t; t++)
		type_ok |= !strcmp(type, *t);
	if (!type_ok) {
		http_reply_error(req, 415, "unsupported_media_type",
				 "Content-Type must be image/png, image/jpeg, image/tiff or application/pdf%s%s",
				 ct ? ", not " : "", ct ? ct : "");
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > a->gw->settings.max_upload_bytes) {
		http_reply_error(req, 413, "too_large", "a document may be at most %llu MB",
				 (unsigned long long)(a->gw->settings.max_upload_bytes >> 20));
		return;
	}
	if (len == 0) {
		http_reply_error(req, 422, "bad_content", "the body is empty; send the file as the body");
		return;
	}
	/* The signature is at the start; JPEG and PDF markers are at the end. */
	unsigned char head[64], tail[1024];
	size_t hn = len < sizeof head ? len : sizeof head, tn = len < sizeof tail ? len : sizeof tail;
	evbuffer_copyout(in, head, hn);
	struct evbuffer_ptr pos;
	evbuffer_ptr_set(in, &pos, len - tn, EVBUFFER_PTR_SET);
	evbuffer_copyout_from(in, &pos, tail, tn);
	const char *why = NULL;
	unsigned char probe[sizeof head + sizeof tail];
	/* Check head and tail as one short file (the middle does not matter). */
	memcpy(probe, head, hn);
	memcpy(probe + hn, tail, tn);
	if (!upload_content_matches(type, probe, hn + tn, &why) ||
	    (!strcmp(type, "image/jpeg") && !(head[0] == 0xFF && head[1] == 0xD8))) {
		http_reply_error(req, 422, "bad_content", "the body is %s", why);
		return;
	}
	if (a->uploads_in_flight >= UPLOADS_MAX) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
		http_reply_error(req, 503, "busy", "too many uploads at once; try again in a moment");
		return;
	}
	struct upload *u = calloc(1, sizeof *u);
	if (!u || !(u->body = evbuffer_new())) {
		free(u);
		http_reply_error(req, 503, "no_memory", "out of memory");
		return;
	}
	u->a = a;
	u->req = req;
	snprintf(u->code, sizeof u->code, "%s", code);
	snprintf(u->name, sizeof u->name, "%s", namebuf);
	snprintf(u->media_type, sizeof u->media_type, "%s", type);
	snprintf(u->doc_type, sizeof u->doc_type, "%s", typebuf);
	snprintf(u->created_by, sizeof u->created_by, "%s", tok->name);
	/* Moves the chains, no copy. */
	evbuffer_add_buffer(u->body, in);
	int r = workers_submit(a->gw->io_workers, upload_work, upload_done, u);
	if (r < 0) {
		evbuffer_free(u->body);
		free(u);
		http_reply_error(req, 503, "busy", "cannot take the document now: %s", strerror(-r));
		return;
	}
	a->uploads_in_flight++;
}

static void h_scan(struct api *a, struct evhttp_request *req, const struct token_info *tok,
		   const char *code)
{
	if (!api_allowed(req, tok, R_WRITE))
		return;
	if (!dossier_exists(a->gw->pipeline, code)) {
		http_reply_error(req, 404, "not_found", "no dossier %s", code);
		return;
	}
	/* An empty body means the configured defaults. */
	json_t *j = evbuffer_get_length(evhttp_request_get_input_buffer(req)) ? api_json_body(req) : json_object();
	if (!j)
		return;
	const char *name = NULL, *dtype = NULL;
	if (!api_str_field(req, j, "name", "name", false, 200, &name) ||
	    !api_str_field(req, j, "type", "type", false, 64, &dtype)) {
		json_decref(j);
		return;
	}
	if (dtype && !valid_code_chars(dtype, 64)) {
		json_decref(j);
		http_reply_error(req, 400, "bad_request",
				 "type must be 1 to 64 letters, digits, '.', '-' or '_' (e.g. to-khai)");
		return;
	}
	char typebuf[65] = "";
	if (dtype) {
		/* the document's, not the scanner's: not passed to the capture plugin */
		snprintf(typebuf, sizeof typebuf, "%s", dtype);
		json_object_del(j, "type");
	}
	if (name && !valid_document_name(name)) {
		json_decref(j);
		http_reply_error(req, 400, "bad_request", "name must be 1 to 200 bytes of text without / or control characters");
		return;
	}
	char *options = json_dumps(j, JSON_COMPACT);
	char id[33], msg[300];
	struct document_extra x = {.doc_type = typebuf[0] ? typebuf : NULL};
	int r = options ? capture_start(a->gw, code, options, name ? name : "Tài liệu quét", tok->name, &x,
					id, msg, sizeof msg) : -ENOMEM;
	free(options);
	json_decref(j);
	switch (r) {
	case 0:
		http_reply_json(req, 202, json_pack("{s:s, s:s}", "id", id, "state", "processing"));
		break;
	case -EINVAL:
		http_reply_error(req, 400, "bad_request", "%s", msg);
		break;
	case -EBUSY:
		http_reply_error(req, 409, "scanner_busy", "%s", msg);
		break;
	case -ENODEV:
		http_reply_error(req, 503, "no_scanner", "%s", msg);
		break;
	default:
		http_reply_error(req, 503, "unavailable", "the scan could not start: %s", strerror(-r));
	}
}

static void h_events(struct api *a, struct evhttp_request *req, const struct token_info *tok)
{
	if (api_allowed(req, tok, R_STAFF))
		events_sse_start(a->gw->events, req);
}

static void h_metrics(struct api *a, struct evhttp_request *req, const struct token_info *tok)
{
	if (!api_allowed(req, tok, R_WATCH))
		return;
	struct evbuffer *buf = evbuffer_new();
	if (!buf)
		return;
	sqlite3 *db = a->gw->db;
	evbuffer_add_printf(buf, "# HELP motcua_dossiers_total Dossiers received.\n"
				 "# TYPE motcua_dossiers_total counter\n");
	sqlite3_stmt *st = db_prepare(db, "SELECT COUNT(*) FROM dossiers");
	if (st && sqlite3_step(st) == SQLITE_ROW)
		evbuffer_add_printf(buf, "motcua_dossiers_total %lld\n", (long long)sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	evbuffer_add_printf(buf, "# HELP motcua_documents Documents by state.\n# TYPE motcua_documents gauge\n");
	st = db_prepare(db, "SELECT state, COUNT(*) FROM documents GROUP BY state ORDER BY state");
	while (st && sqlite3_step(st) == SQLITE_ROW)
		evbuffer_add_printf(buf, "motcua_documents{state=\"%s\"} %lld\n", sqlite3_column_text(st, 0),
				    (long long)sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	evbuffer_add_printf(buf, "# HELP motcua_jobs Pipeline jobs by step and state.\n# TYPE motcua_jobs gauge\n");
	st = db_prepare(db, "SELECT step, state, COUNT(*) FROM jobs GROUP BY step, state ORDER BY step, state");
	while (st && sqlite3_step(st) == SQLITE_ROW)
		evbuffer_add_printf(buf, "motcua_jobs{step=\"%s\",state=\"%s\"} %lld\n",
				    step_name(sqlite3_column_int(st, 0)), sqlite3_column_text(st, 1),
				    (long long)sqlite3_column_int64(st, 2));
	sqlite3_finalize(st);
	evbuffer_add_printf(buf,
			    "# HELP motcua_workers_busy Work running or queued on the worker pool.\n"
			    "# TYPE motcua_workers_busy gauge\nmotcua_workers_busy %u\n"
			    "# HELP motcua_http_requests_total HTTP requests served.\n"
			    "# TYPE motcua_http_requests_total counter\nmotcua_http_requests_total %llu\n",
			    workers_busy(a->gw->workers), (unsigned long long)a->requests);
	outbox_metrics(a->gw->outbox, buf);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

/* ---- routing ---- */

#define MAX_SEGMENTS 8

static int split_path(const char *path, char segs[MAX_SEGMENTS][256])
{
	int n = 0;
	const char *p = path;
	while (*p == '/')
		p++;
	while (*p) {
		if (n == MAX_SEGMENTS)
			return -1;
		size_t len = strcspn(p, "/");
		if (len >= 256)
			return -1;
		char raw[256];
		memcpy(raw, p, len);
		raw[len] = 0;
		char *dec = evhttp_uridecode(raw, 0, NULL);
		if (!dec)
			return -1;
		snprintf(segs[n], 256, "%s", dec);
		free(dec);
		if (!segs[n][0] || strchr(segs[n], '/'))
			return -1;
		n++;
		p += len;
		while (*p == '/')
			p++;
	}
	return n;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct api *a = arg;
	a->requests++;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	char segs[MAX_SEGMENTS][256];
	int n = path ? split_path(path, segs) : -1;
	if (n < 0) {
		http_reply_error(req, 404, "not_found", "no such route");
		return;
	}
	bool get = cmd == EVHTTP_REQ_GET, post = cmd == EVHTTP_REQ_POST;
	if (n == 3 && !strcmp(segs[0], "api") && !strcmp(segs[1], "v1") && !strcmp(segs[2], "health")) {
		if (get)
			h_health(a, req);
		else
			http_reply_error(req, 405, "method_not_allowed", "use GET");
		return;
	}
	if (n == 1 && !strcmp(segs[0], "dashboard")) {
		if (get)
			www_dashboard(req);
		else
			http_reply_error(req, 405, "method_not_allowed", "use GET");
		return;
	}
	bool api = n >= 3 && !strcmp(segs[0], "api") && !strcmp(segs[1], "v1");
	bool metrics = n == 1 && !strcmp(segs[0], "metrics");
	if (!api && !metrics) {
		http_reply_error(req, 404, "not_found", "no such route (the API is under /api/v1/)");
		return;
	}
	struct token_info tok;
	if (!get_token(a, req, &tok))
		return;
	if (a->gw->stopping && post) {
		http_reply_error(req, 503, "stopping", "the gateway is stopping");
		return;
	}
	if (metrics) {
		if (get)
			h_metrics(a, req, &tok);
		else
			http_reply_error(req, 405, "method_not_allowed", "use GET");
		return;
	}
	const char *r = segs[2];
	if (!strcmp(r, "plugins")) {
		if (n == 3 && get)
			{ h_plugins(a, req, &tok); return; }
		if (n >= 4) {
			/* The rest of the raw path after /api/v1/plugins/<name>. */
			const char *rest = strstr(path, segs[3]);
			rest = rest ? rest + strlen(segs[3]) : "";
			if (!*rest)
				rest = "/";
			if (plugins_route(a->gw->plugins, req, segs[3], rest, &tok))
				return;
		}
	} else if (!strcmp(r, "dossiers")) {
		if (n == 3 && post)
			{ h_dossier_create(a, req, &tok); return; }
		if (n == 3 && get)
			{ h_dossier_list(a, req, &tok); return; }
		if (n == 4 && get)
			{ h_dossier_get(a, req, &tok, segs[3]); return; }
		if (n == 5 && !strcmp(segs[4], "documents") && post)
			{ h_document_add(a, req, &tok, segs[3]); return; }
		if (n == 6 && !strcmp(segs[4], "documents") && get)
			{ h_document_get(a, req, &tok, segs[3], segs[5]); return; }
		if (n == 7 && !strcmp(segs[4], "documents") && !strcmp(segs[6], "content") && get)
			{ h_document_content(a, req, &tok, segs[3], segs[5]); return; }
		if (n == 7 && !strcmp(segs[4], "documents") && !strcmp(segs[6], "sidecar") && get)
			{ h_document_sidecar(a, req, &tok, segs[3], segs[5]); return; }
		if (n == 8 && !strcmp(segs[4], "documents") && !strcmp(segs[6], "pages") && get)
			{ h_document_page(a, req, &tok, segs[3], segs[5], segs[7]); return; }
		if (n == 5 && !strcmp(segs[4], "scan") && post)
			{ h_scan(a, req, &tok, segs[3]); return; }
		if (n == 5 && !strcmp(segs[4], "status") && post)
			{ counter_dossier_status(a->gw, req, &tok, segs[3]); return; }
		if (n >= 3 && n <= 8) {
			http_reply_error(req, 405, "method_not_allowed", "this method is not allowed here");
			return;
		}
	} else if (!strcmp(r, "tickets")) {
		counter_tickets_route(a->gw, req, &tok, segs, n);
		return;
	} else if (!strcmp(r, "ratings") && n == 3) {
		if (post)
			counter_rating(a->gw, req, &tok);
		else
			http_reply_error(req, 405, "method_not_allowed", "use POST");
		return;
	} else if (!strcmp(r, "indicators")) {
		/* served by the evaluation plugin (eval-stream): its "/indicators" */
		if (plugins_route_any(a->gw->plugins, req, path + strlen("/api/v1"), &tok))
			return;
		http_reply_error(req, 503, "no_indicators", "no evaluation plugin is enabled ([eval-stream] enabled = true)");
		return;
	} else if (!strcmp(r, "outbox")) {
		outbox_route(a->gw, req, &tok, segs, n);
		return;
	} else if (!strcmp(r, "archive")) {
		archive_route(a->gw, req, &tok, segs, n);
		return;
	} else if (!strcmp(r, "scanners") && n == 3) {
		if (get && api_allowed(req, &tok, R_STAFF))
			capture_list_devices(a->gw, req);
		else if (!get)
			http_reply_error(req, 405, "method_not_allowed", "use GET");
		return;
	} else if (!strcmp(r, "events") && n == 3) {
		if (get)
			{ h_events(a, req, &tok); return; }
		http_reply_error(req, 405, "method_not_allowed", "use GET");
		return;
	}
	http_reply_error(req, 404, "not_found", "no such route");
}

struct api *api_new(struct gateway *gw, char *err, size_t errlen)
{
	struct api *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->gw = gw;
	a->http = evhttp_new(gw->base);
	if (!a->http) {
		free(a);
		snprintf(err, errlen, "cannot create the HTTP server");
		return NULL;
	}
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						    EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(a->http, 16 * 1024);
	evhttp_set_max_body_size(a->http, (ev_ssize_t)gw->settings.max_upload_bytes);
	/* Read (and drop) an oversized body before answering 413, so that the
	 * client sees the answer instead of a reset connection. */
	evhttp_set_flags(a->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_timeout(a->http, 120);
	evhttp_set_gencb(a->http, on_request, a);
	if (!evhttp_bind_socket_with_handle(a->http, gw->settings.listen_host,
					    (ev_uint16_t)gw->settings.listen_port)) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", gw->settings.listen_host,
			 gw->settings.listen_port, strerror(errno));
		evhttp_free(a->http);
		free(a);
		return NULL;
	}
	return a;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	evhttp_free(a->http);
	free(a);
}
