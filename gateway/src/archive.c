/* SPDX-License-Identifier: MIT */
/* The e-archive's API, served by the archive plugin (motcua_archive_ops):
 *
 *   GET  /api/v1/archive/search?q=&id_number=&procedure=&from=&to=&limit=&offset=
 *   GET  /api/v1/archive/applicants/{id_number}/documents
 *   GET  /api/v1/archive/items/{id}            one item (metadata)
 *   GET  /api/v1/archive/items/{id}/content    its signed file
 *   GET  /api/v1/archive/disposal              items past their retention period
 *   POST /api/v1/archive/verify                fixity and audit-chain check
 *
 * and reuse: POST /api/v1/dossiers/{code}/documents {"reuse": id} attaches an
 * archived paper to a new dossier without scanning it again.
 *
 * The host checks every parameter's form here; the plugin's functions run on
 * the I/O worker pool (they read SQLite and files), never on the loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway.h"

#define Q_MAX 200        /* bytes of search words */
#define SEARCH_LIMIT_MAX 200
#define ITEM_ID_MAX 128

enum call_kind { C_SEARCH, C_APPLICANT, C_ITEM, C_CONTENT, C_DISPOSAL, C_VERIFY, C_REUSE };

struct archive_call {
	struct gateway *gw;
	struct evhttp_request *req;
	enum call_kind kind;
	struct archive_provider prov;
	char *arg; /* the query JSON, the id number or the item id */
	/* reuse */
	char code[96], name[256], doc_type[65], created_by[128];
	/* results */
	int result;
	char *json;
	char message[256];
	int fd;           /* C_CONTENT: the open file */
	char sha[65];     /* C_REUSE: the copy in the gateway's store */
	uint64_t size;
	json_t *item;     /* C_CONTENT, C_REUSE: what item() answered */
};

static void call_free(struct archive_call *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->arg);
	free(c->json);
	json_decref(c->item);
	free(c);
}

static void reply_failure(struct evhttp_request *req, int r, const char *message, const char *what)
{
	if (r == -EINVAL)
		http_reply_error(req, 400, "bad_request", "%s", message[0] ? message : "bad request");
	else if (r == -ENOENT)
		http_reply_error(req, 404, "not_found", "%s", message[0] ? message : "no such archived item");
	else
		http_reply_error(req, 500, "archive_error", "%s: %s", what,
				 message[0] ? message : strerror(r < 0 ? -r : EIO));
}

/* Parses what item() answered; NULL with a reason when it is not usable. */
static json_t *parse_item(const char *text, char *why, size_t len)
{
	json_error_t jerr;
	json_t *j = text ? json_loads(text, 0, &jerr) : NULL;
	const char *path = json_string_value(json_object_get(j, "path"));
	const char *mt = json_string_value(json_object_get(j, "media_type"));
	if (!json_is_object(j) || !path || path[0] != '/' || !mt || !valid_media_type(mt)) {
		snprintf(why, len, "the archive plugin answered an item without a path or media type");
		json_decref(j);
		return NULL;
	}
	return j;
}

static void call_work(void *arg)
{
	struct archive_call *c = arg;
	const struct motcua_archive_ops *ops = &c->prov.ops;
	void *d = c->prov.data;
	char *m = c->message;
	size_t ml = sizeof c->message;
	switch (c->kind) {
	case C_SEARCH:
		c->result = ops->search(d, c->arg, &c->json, m, ml);
		break;
	case C_APPLICANT:
		c->result = ops->applicant_documents(d, c->arg, &c->json, m, ml);
		break;
	case C_DISPOSAL:
		c->result = ops->disposal(d, &c->json, m, ml);
		break;
	case C_VERIFY:
		c->result = ops->verify(d, &c->json, m, ml);
		break;
	case C_ITEM:
	case C_CONTENT:
	case C_REUSE:
		c->result = ops->item(d, c->arg, &c->json, m, ml);
		if (c->result < 0)
			break;
		if (!(c->item = parse_item(c->json, m, ml))) {
			c->result = -EPROTO;
			break;
		}
		const char *path = json_string_value(json_object_get(c->item, "path"));
		if (c->kind == C_CONTENT) {
			c->fd = open(path, O_RDONLY | O_CLOEXEC);
			if (c->fd < 0) {
				c->result = -errno;
				snprintf(m, ml, "the archived file of item %s cannot be read: %s", c->arg,
					 strerror(errno));
			}
		} else if (c->kind == C_REUSE) {
			c->result = store_copy_file(c->gw->store, path, c->sha, &c->size);
			if (c->result < 0)
				snprintf(m, ml, "the archived file cannot be copied: %s", strerror(-c->result));
		}
		break;
	}
	c->message[sizeof c->message - 1] = 0;
}

/* An item as the API shows it: without the plugin's file paths. */
static json_t *public_item(json_t *item)
{
	json_t *j = json_deep_copy(item);
	json_object_del(j, "path");
	json_object_del(j, "original_path");
	return j;
}

static void reply_json_text(struct evhttp_request *req, const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	if (!j)
		http_reply_error(req, 500, "archive_error", "the archive plugin answered something that is not JSON");
	else
		http_reply_json(req, 200, j);
}

static void reuse_done(struct archive_call *c)
{
	json_t *it = c->item;
	/* A citizen's papers serve that citizen's dossiers only. */
	json_t *dossier = dossier_get(c->gw->pipeline, c->code);
	const char *owner = json_string_value(json_object_get(it, "id_number"));
	const char *applicant = json_string_value(json_object_get(json_object_get(dossier, "applicant"), "id_number"));
	bool same = owner && applicant && !strcmp(owner, applicant);
	json_decref(dossier);
	if (!same) {
		http_reply_error(c->req, 409, "other_applicant",
				 "archived item %s belongs to another applicant than dossier %s's", c->arg, c->code);
		return;
	}
	const char *mt = json_string_value(json_object_get(it, "media_type"));
	const char *iname = json_string_value(json_object_get(it, "name"));
	const char *itype = json_string_value(json_object_get(it, "document_type"));
	const char *name = c->name[0] ? c->name : iname && valid_document_name(iname) ? iname : "Giấy tờ tái sử dụng";
	const char *type = c->doc_type[0] ? c->doc_type : itype && valid_code_chars(itype, 64) ? itype : NULL;
	/* What is known of the paper already: its signature and its archive
	 * entry; recognition and signing are not done again. */
	json_t *meta = json_object();
	json_t *sig = json_object_get(it, "signature");
	if (json_is_object(sig))
		json_object_set(meta, "signature", sig);
	json_object_set_new(meta, "reused", public_item(it));
	char *meta_s = json_dumps(meta, JSON_COMPACT);
	json_decref(meta);
	struct document_extra x = {.doc_type = type, .reused_from = c->arg, .meta = meta_s};
	char id[33];
	int r = meta_s ? document_create(c->gw->pipeline, c->code, name, mt, c->sha, c->size, c->created_by,
					 &x, id) : -ENOMEM;
	free(meta_s);
	if (r < 0) {
		http_reply_error(c->req, 503, "unavailable", "the document could not be recorded");
		return;
	}
	gw_log(MOTCUA_LOG_INFO, NULL, "document %s of %s reuses archived item %s", id, c->code, c->arg);
	http_reply_json(c->req, 202, json_pack("{s:s, s:s, s:s, s:s}", "id", id, "state", "queued", "sha256",
					       c->sha, "reused_from", c->arg));
}

static void call_done(void *arg, int cancelled)
{
	struct archive_call *c = arg;
	struct evhttp_request *req = c->req;
	if (!evhttp_request_get_connection(req)) {
		evhttp_send_reply(req, 499, "Client Closed Request", NULL);
	} else if (cancelled) {
		http_reply_error(req, 503, "stopping", "the gateway is stopping");
	} else if (c->result < 0) {
		reply_failure(req, c->result, c->message,
			      c->kind == C_REUSE ? "the archived item could not be reused" : "the archive failed");
	} else if (c->kind == C_ITEM) {
		http_reply_json(req, 200, public_item(c->item));
	} else if (c->kind == C_CONTENT) {
		struct evbuffer *buf = evbuffer_new();
		off_t size = lseek(c->fd, 0, SEEK_END);
		if (!buf || size < 0 || evbuffer_add_file(buf, c->fd, 0, size) < 0) {
			if (buf)
				evbuffer_free(buf);
			http_reply_error(req, 500, "archive_error", "the archived file cannot be sent");
		} else {
			c->fd = -1; /* the buffer owns it now */
			struct evkeyvalq *out = evhttp_request_get_output_headers(req);
			evhttp_add_header(out, "Content-Type", json_string_value(json_object_get(c->item, "media_type")));
			const char *sha = json_string_value(json_object_get(c->item, "sha256"));
			if (sha && valid_sha256_hex(sha)) {
				char etag[70];
				snprintf(etag, sizeof etag, "\"%s\"", sha);
				evhttp_add_header(out, "ETag", etag);
			}
			evhttp_send_reply(req, 200, "OK", buf);
			evbuffer_free(buf);
		}
	} else if (c->kind == C_REUSE) {
		if (!dossier_exists(c->gw->pipeline, c->code))
			http_reply_error(req, 404, "not_found", "no dossier %s", c->code);
		else
			reuse_done(c);
	} else {
		reply_json_text(req, c->json);
	}
	call_free(c);
}

static struct archive_call *call_new(struct gateway *gw, struct evhttp_request *req, enum call_kind kind)
{
	const struct archive_provider *prov = plugins_archive(gw->plugins);
	if (!prov) {
		http_reply_error(req, 503, "no_archive",
				 "no archive plugin is enabled ([archive-sqlite] enabled = true)");
		return NULL;
	}
	struct archive_call *c = calloc(1, sizeof *c);
	if (!c) {
		http_reply_error(req, 503, "no_memory", "out of memory");
		return NULL;
	}
	c->gw = gw;
	c->req = req;
	c->kind = kind;
	c->prov = *prov;
	c->fd = -1;
	return c;
}

static void call_submit(struct archive_call *c)
{
	int r = workers_submit(c->gw->io_workers, call_work, call_done, c);
	if (r < 0) {
		http_reply_error(c->req, 503, "busy", "cannot ask the archive now: %s", strerror(-r));
		call_free(c);
	}
}

static bool valid_item_id(const char *s)
{
	return valid_code_chars(s, ITEM_ID_MAX);
}

static bool valid_date(const char *s)
{
	int64_t t;
	return date_parse_vn(s, &t) == 0;
}

static bool parse_count(const char *v, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < lo || n > hi)
		return false;
	*out = n;
	return true;
}

/* The search's query string, checked, as the JSON object search() takes. */
static json_t *search_query(struct evhttp_request *req)
{
	static const char *const keys[] = {"q", "id_number", "procedure", "from", "to", "limit", "offset", NULL};
	struct evkeyvalq q;
	const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (evhttp_parse_query_str(qs ? qs : "", &q) < 0) {
		http_reply_error(req, 400, "bad_request", "the query string is malformed");
		return NULL;
	}
	json_t *j = json_object();
	const char *bad = NULL;
	for (struct evkeyval *kv = q.tqh_first; kv && !bad; kv = kv->next.tqe_next) {
		bool known = false;
		for (const char *const *k = keys; *k; k++)
			known |= !strcmp(*k, kv->key);
		if (!known) {
			http_reply_error(req, 400, "bad_request",
					 "unknown parameter %.60s (known: q, id_number, procedure, from, to, limit, offset)",
					 kv->key);
			bad = kv->key;
			break;
		}
		if (json_object_get(j, kv->key)) {
			http_reply_error(req, 400, "bad_request", "%s is given twice", kv->key);
			bad = kv->key;
			break;
		}
		const char *v = kv->value;
		long n;
		if (!v[0])
			continue; /* an empty filter is no filter */
		if (!strcmp(kv->key, "q")) {
			json_t *s = strlen(v) <= Q_MAX ? json_string(v) : NULL;
			if (!s)
				http_reply_error(req, 400, "bad_request", "q must be at most %d bytes of UTF-8 text", Q_MAX);
			else
				json_object_set_new(j, "q", s);
			bad = s ? NULL : "q";
		} else if (!strcmp(kv->key, "id_number")) {
			if (!valid_id_number(v)) {
				http_reply_error(req, 400, "bad_request",
						 "id_number must be a 12-digit citizen ID (or 9-digit ID card)");
				bad = "id_number";
			} else
				json_object_set_new(j, "id_number", json_string(v));
		} else if (!strcmp(kv->key, "procedure")) {
			if (!valid_code_chars(v, 64)) {
				http_reply_error(req, 400, "bad_request", "procedure must be a procedure code (e.g. 1.001234)");
				bad = "procedure";
			} else
				json_object_set_new(j, "procedure", json_string(v));
		} else if (!strcmp(kv->key, "from") || !strcmp(kv->key, "to")) {
			if (!valid_date(v)) {
				http_reply_error(req, 400, "bad_request", "%s must be a date YYYY-MM-DD", kv->key);
				bad = kv->key;
			} else
				json_object_set_new(j, kv->key, json_string(v));
		} else if (!strcmp(kv->key, "limit")) {
			if (!parse_count(v, 1, SEARCH_LIMIT_MAX, &n)) {
				http_reply_error(req, 400, "bad_request", "limit must be 1 to %d", SEARCH_LIMIT_MAX);
				bad = "limit";
			} else
				json_object_set_new(j, "limit", json_integer(n));
		} else if (!strcmp(kv->key, "offset")) {
			if (!parse_count(v, 0, 1000000, &n)) {
				http_reply_error(req, 400, "bad_request", "offset must be 0 to 1000000");
				bad = "offset";
			} else
				json_object_set_new(j, "offset", json_integer(n));
		}
	}
	evhttp_clear_headers(&q);
	if (!bad) {
		const char *from = json_string_value(json_object_get(j, "from"));
		const char *to = json_string_value(json_object_get(j, "to"));
		if (from && to && strcmp(from, to) > 0) {
			http_reply_error(req, 400, "bad_request", "from is after to");
			bad = "from";
		}
	}
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

void archive_route(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok,
		   char segs[][256], int n)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	bool get = cmd == EVHTTP_REQ_GET, post = cmd == EVHTTP_REQ_POST;
	const char *r = n >= 4 ? segs[3] : "";
	struct archive_call *c = NULL;
	if (n == 4 && !strcmp(r, "search")) {
		if (!get || !api_allowed(req, tok, R_STAFF)) {
			if (!get)
				http_reply_error(req, 405, "method_not_allowed", "use GET");
			return;
		}
		json_t *q = search_query(req);
		if (!q)
			return;
		char *s = json_dumps(q, JSON_COMPACT);
		json_decref(q);
		if (!s || !(c = call_new(gw, req, C_SEARCH))) {
			if (!s)
				http_reply_error(req, 503, "no_memory", "out of memory");
			free(s);
			return;
		}
		c->arg = s;
	} else if (n == 6 && !strcmp(r, "applicants") && !strcmp(segs[5], "documents")) {
		if (!get || !api_allowed(req, tok, R_STAFF)) {
			if (!get)
				http_reply_error(req, 405, "method_not_allowed", "use GET");
			return;
		}
		if (!valid_id_number(segs[4])) {
			http_reply_error(req, 400, "bad_request",
					 "the applicant must be a 12-digit citizen ID (or 9-digit ID card)");
			return;
		}
		if (!(c = call_new(gw, req, C_APPLICANT)))
			return;
		c->arg = strdup(segs[4]);
	} else if ((n == 5 || (n == 6 && !strcmp(segs[5], "content"))) && !strcmp(r, "items")) {
		if (!get || !api_allowed(req, tok, R_ALL)) {
			if (!get)
				http_reply_error(req, 405, "method_not_allowed", "use GET");
			return;
		}
		if (!valid_item_id(segs[4])) {
			http_reply_error(req, 404, "not_found", "no archived item %.80s", segs[4]);
			return;
		}
		if (!(c = call_new(gw, req, n == 5 ? C_ITEM : C_CONTENT)))
			return;
		c->arg = strdup(segs[4]);
	} else if (n == 4 && !strcmp(r, "disposal")) {
		if (!get || !api_allowed(req, tok, R_WATCH)) {
			if (!get)
				http_reply_error(req, 405, "method_not_allowed", "use GET");
			return;
		}
		if (!(c = call_new(gw, req, C_DISPOSAL)))
			return;
	} else if (n == 4 && !strcmp(r, "verify")) {
		if (!post || !api_allowed(req, tok, R_WATCH)) {
			if (!post)
				http_reply_error(req, 405, "method_not_allowed", "use POST");
			return;
		}
		if (!(c = call_new(gw, req, C_VERIFY)))
			return;
	} else {
		http_reply_error(req, 404, "not_found", "no such archive route");
		return;
	}
	if (c->kind != C_DISPOSAL && c->kind != C_VERIFY && !c->arg) {
		http_reply_error(req, 503, "no_memory", "out of memory");
		call_free(c);
		return;
	}
	call_submit(c);
}

void archive_reuse(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok,
		   const char *code, json_t *body)
{
	static const char *const keys[] = {"reuse", "name", "type", NULL};
	const char *id, *name, *type;
	(void)tok;
	if (!api_only_keys(req, body, "", keys) ||
	    !api_str_field(req, body, "reuse", "reuse (the archived item's id)", true, ITEM_ID_MAX, &id) ||
	    !api_str_field(req, body, "name", "name", false, 200, &name) ||
	    !api_str_field(req, body, "type", "type", false, 64, &type))
		return;
	if (!valid_item_id(id)) {
		http_reply_error(req, 404, "not_found", "no archived item %.80s", id);
		return;
	}
	if (name && !valid_document_name(name)) {
		http_reply_error(req, 400, "bad_request", "name must be 1 to 200 bytes of text without / or control characters");
		return;
	}
	if (type && !valid_code_chars(type, 64)) {
		http_reply_error(req, 400, "bad_request", "type must be 1 to 64 letters, digits, '.', '-' or '_'");
		return;
	}
	struct archive_call *c = call_new(gw, req, C_REUSE);
	if (!c)
		return;
	c->arg = strdup(id);
	snprintf(c->code, sizeof c->code, "%s", code);
	snprintf(c->name, sizeof c->name, "%s", name ? name : "");
	snprintf(c->doc_type, sizeof c->doc_type, "%s", type ? type : "");
	snprintf(c->created_by, sizeof c->created_by, "%s", tok->name);
	if (!c->arg) {
		http_reply_error(req, 503, "no_memory", "out of memory");
		call_free(c);
		return;
	}
	call_submit(c);
}
