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

#include "archive.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "records.h"
#include "router.h"
#include "slot.h"
#include "store.h"
#include "util.h"
#include "validate.h"
#include "workers.h"

#define Q_MAX 200 /* bytes of search words */
#define SEARCH_LIMIT_MAX 200
#define ITEM_ID_MAX 128

enum call_kind { C_SEARCH, C_APPLICANT, C_ITEM, C_CONTENT, C_DISPOSAL, C_VERIFY, C_REUSE };

/* The archive plugin. */
struct provider {
	struct slot slot;
	struct motcua_archive_ops ops;
};

struct archive {
	struct gateway *gw;
	struct provider prov;
};

struct archive_call {
	struct gateway *gw;
	struct evhttp_request *req;
	enum call_kind kind;
	struct motcua_archive_ops ops; /* the provider's */
	void *data;
	char *arg; /* the query JSON, the id number or the item id */
	/* reuse */
	char code[96], name[256], doc_type[65], created_by[128];
	/* results */
	int result;
	char *json;
	char message[256];
	int fd;	      /* C_CONTENT: the open file */
	char sha[65]; /* C_REUSE: the copy in the gateway's store */
	uint64_t size;
	json_t *item; /* C_CONTENT, C_REUSE: what item() answered */
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
		http_reply_error(req, 400, "bad_request", "%s",
				 message[0] ? message : "bad request");
	else if (r == -ENOENT)
		http_reply_error(req, 404, "not_found", "%s",
				 message[0] ? message : "no such archived item");
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
		snprintf(why, len,
			 "the archive plugin answered an item without a path or media type");
		json_decref(j);
		return NULL;
	}
	return j;
}

static void call_work(void *arg)
{
	struct archive_call *c = arg;
	const struct motcua_archive_ops *ops = &c->ops;
	void *d = c->data;
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
				snprintf(m, ml, "the archived file of item %s cannot be read: %s",
					 c->arg, strerror(errno));
			}
		} else if (c->kind == C_REUSE) {
			c->result = store_copy_file(c->gw->store, path, c->sha, &c->size);
			if (c->result < 0)
				snprintf(m, ml, "the archived file cannot be copied: %s",
					 strerror(-c->result));
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
		http_reply_error(req, 500, "archive_error",
				 "the archive plugin answered something that is not JSON");
	else
		http_reply_json(req, 200, j);
}

static void reuse_done(struct archive_call *c)
{
	json_t *it = c->item;
	/* A citizen's papers serve that citizen's dossiers only. */
	json_t *dossier = dossier_get(c->gw->records, c->code);
	const char *owner = json_string_value(json_object_get(it, "id_number"));
	const char *applicant =
	    json_string_value(json_object_get(json_object_get(dossier, "applicant"), "id_number"));
	bool same = owner && applicant && !strcmp(owner, applicant);
	json_decref(dossier);
	if (!same) {
		http_reply_error(c->req, 409, "other_applicant",
				 "archived item %s belongs to another applicant than dossier %s's",
				 c->arg, c->code);
		return;
	}
	const char *mt = json_string_value(json_object_get(it, "media_type"));
	const char *iname = json_string_value(json_object_get(it, "name"));
	const char *itype = json_string_value(json_object_get(it, "document_type"));
	const char *name = c->name[0]				 ? c->name
			   : iname && valid_document_name(iname) ? iname
								 : "Giấy tờ tái sử dụng";
	const char *type = c->doc_type[0]			  ? c->doc_type
			   : itype && valid_code_chars(itype, 64) ? itype
								  : NULL;
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
	int r = meta_s ? document_create(c->gw->records, c->code, name, mt, c->sha, c->size,
					 c->created_by, &x, id)
		       : -ENOMEM;
	free(meta_s);
	if (r < 0) {
		http_reply_error(c->req, 503, "unavailable", "the document could not be recorded");
		return;
	}
	gw_log(MOTCUA_LOG_INFO, NULL, "document %s of %s reuses archived item %s", id, c->code,
	       c->arg);
	http_reply_json(c->req, 202,
			json_pack("{s:s, s:s, s:s, s:s}", "id", id, "state", "queued", "sha256",
				  c->sha, "reused_from", c->arg));
}

static void call_done(void *arg, int cancelled)
{
	struct archive_call *c = arg;
	struct evhttp_request *req = c->req;
	if (http_client_gone(req)) {
		http_reply_gone(req);
	} else if (cancelled) {
		http_reply_error(req, 503, "stopping", "the gateway is stopping");
	} else if (c->result < 0) {
		reply_failure(req, c->result, c->message,
			      c->kind == C_REUSE ? "the archived item could not be reused"
						 : "the archive failed");
	} else if (c->kind == C_ITEM) {
		http_reply_json(req, 200, public_item(c->item));
	} else if (c->kind == C_CONTENT) {
		const char *sha = json_string_value(json_object_get(c->item, "sha256"));
		http_reply_file(req, c->fd,
				json_string_value(json_object_get(c->item, "media_type")),
				sha && valid_sha256_hex(sha) ? sha : NULL);
		c->fd = -1; /* the reply owns it now */
	} else if (c->kind == C_REUSE) {
		if (!dossier_exists(c->gw->records, c->code))
			http_reply_error(req, 404, "not_found", "no dossier %s", c->code);
		else
			reuse_done(c);
	} else {
		reply_json_text(req, c->json);
	}
	call_free(c);
}

static struct archive_call *call_new(struct archive *a, struct evhttp_request *req,
				     enum call_kind kind)
{
	struct gateway *gw = a->gw;
	const struct provider *prov = &a->prov;
	if (!prov->slot.plugin_name) {
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
	c->ops = prov->ops;
	c->data = prov->slot.data;
	c->fd = -1;
	return c;
}

static void call_submit(struct archive_call *c)
{
	int r = workers_submit(c->gw->io_workers, call_work, call_done, c);
	if (r < 0) {
		http_reply_error(c->req, 503, "busy", "cannot ask the archive now: %s",
				 strerror(-r));
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
	static const char *const keys[] = {"q",	 "id_number", "procedure", "from",
					   "to", "limit",     "offset",	   NULL};
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
					 "unknown parameter %.60s (known: q, id_number, procedure, "
					 "from, to, limit, offset)",
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
				http_reply_error(req, 400, "bad_request",
						 "q must be at most %d bytes of UTF-8 text", Q_MAX);
			else
				json_object_set_new(j, "q", s);
			bad = s ? NULL : "q";
		} else if (!strcmp(kv->key, "id_number")) {
			if (!valid_id_number(v)) {
				http_reply_error(
				    req, 400, "bad_request",
				    "id_number must be a 12-digit citizen ID (or 9-digit ID card)");
				bad = "id_number";
			} else
				json_object_set_new(j, "id_number", json_string(v));
		} else if (!strcmp(kv->key, "procedure")) {
			if (!valid_code_chars(v, 64)) {
				http_reply_error(
				    req, 400, "bad_request",
				    "procedure must be a procedure code (e.g. 1.001234)");
				bad = "procedure";
			} else
				json_object_set_new(j, "procedure", json_string(v));
		} else if (!strcmp(kv->key, "from") || !strcmp(kv->key, "to")) {
			if (!valid_date(v)) {
				http_reply_error(req, 400, "bad_request",
						 "%s must be a date YYYY-MM-DD", kv->key);
				bad = kv->key;
			} else
				json_object_set_new(j, kv->key, json_string(v));
		} else if (!strcmp(kv->key, "limit")) {
			if (!parse_count(v, 1, SEARCH_LIMIT_MAX, &n)) {
				http_reply_error(req, 400, "bad_request", "limit must be 1 to %d",
						 SEARCH_LIMIT_MAX);
				bad = "limit";
			} else
				json_object_set_new(j, "limit", json_integer(n));
		} else if (!strcmp(kv->key, "offset")) {
			if (!parse_count(v, 0, 1000000, &n)) {
				http_reply_error(req, 400, "bad_request",
						 "offset must be 0 to 1000000");
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

/* ---- the routes ---- */

static void submit_new(struct call *call, enum call_kind kind, char *arg)
{
	struct archive_call *c = call_new(call->data, call->req, kind);
	if (!c) {
		free(arg);
		return;
	}
	c->arg = arg;
	if (kind != C_DISPOSAL && kind != C_VERIFY && !arg) {
		http_reply_error(call->req, 503, "no_memory", "out of memory");
		call_free(c);
		return;
	}
	call_submit(c);
}

static void route_search(struct call *call)
{
	json_t *q = search_query(call->req);
	if (!q)
		return;
	char *s = json_dumps(q, JSON_COMPACT);
	json_decref(q);
	submit_new(call, C_SEARCH, s);
}

static void route_applicant(struct call *call)
{
	if (!valid_id_number(call->params[0])) {
		http_reply_error(
		    call->req, 400, "bad_request",
		    "the applicant must be a 12-digit citizen ID (or 9-digit ID card)");
		return;
	}
	submit_new(call, C_APPLICANT, strdup(call->params[0]));
}

static void item_route(struct call *call, enum call_kind kind)
{
	if (!valid_item_id(call->params[0])) {
		http_reply_error(call->req, 404, "not_found", "no archived item %.80s",
				 call->params[0]);
		return;
	}
	submit_new(call, kind, strdup(call->params[0]));
}

static void route_item(struct call *call)
{
	item_route(call, C_ITEM);
}

static void route_content(struct call *call)
{
	item_route(call, C_CONTENT);
}

static void route_disposal(struct call *call)
{
	submit_new(call, C_DISPOSAL, NULL);
}

static void route_verify(struct call *call)
{
	submit_new(call, C_VERIFY, NULL);
}

static const struct route_def routes[] = {
    {"GET", "/api/v1/archive/search", R_STAFF, route_search,
     "search the archive (q, id_number, procedure, from, to, limit, offset), with or without "
     "diacritics"},
    {"GET", "/api/v1/archive/applicants/{id_number}/documents", R_STAFF, route_applicant,
     "a citizen's archived signed papers, newest first"},
    {"GET", "/api/v1/archive/items/{id}", R_ALL, route_item, "one archived item's metadata"},
    {"GET", "/api/v1/archive/items/{id}/content", R_ALL, route_content,
     "one archived item's signed file"},
    {"GET", "/api/v1/archive/disposal", R_WATCH, route_disposal,
     "items past their retention period"},
    {"POST", "/api/v1/archive/verify", R_WATCH, route_verify,
     "fixity of every file and the audit chain"},
};

struct archive *archive_new(struct gateway *gw)
{
	struct archive *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->gw = gw;
	if (router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], a, NULL) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

static void provider_clear(struct provider *p)
{
	slot_empty(&p->slot, &p->ops, sizeof p->ops);
}

void archive_free(struct archive *a)
{
	if (!a)
		return;
	provider_clear(&a->prov);
	free(a);
}

int archive_provider_set(struct archive *a, const char *plugin_name,
			 const struct motcua_archive_ops *ops, void *data, motcua_free_fn free_fn,
			 const void *owner)
{
	/* The first version of the ops has all six functions; each is needed. */
	if (!ops || !MOTCUA_HAS_MEMBER(struct motcua_archive_ops, ops, verify) || !ops->search ||
	    !ops->applicant_documents || !ops->item || !ops->reused || !ops->disposal ||
	    !ops->verify) {
		if (free_fn)
			free_fn(data);
		return -EINVAL;
	}
	return slot_fill(&a->prov.slot, plugin_name, &a->prov.ops, sizeof a->prov.ops, ops,
			 ops->struct_size, data, free_fn, owner);
}

const char *archive_plugin(struct archive *a)
{
	return a->prov.slot.plugin_name;
}

void archive_drop_owner(struct archive *a, const void *owner)
{
	if (a && slot_taken_by(&a->prov.slot, owner))
		provider_clear(&a->prov);
}

void archive_reuse(struct archive *a, struct evhttp_request *req, const struct token_info *tok,
		   const char *code, json_t *body)
{
	static const char *const keys[] = {"reuse", "name", "type", NULL};
	const char *id, *name, *type;
	(void)tok;
	if (!http_only_keys(req, body, "", keys) ||
	    !http_str_field(req, body, "reuse", "reuse (the archived item's id)", true, ITEM_ID_MAX,
			    &id) ||
	    !http_str_field(req, body, "name", "name", false, 200, &name) ||
	    !http_str_field(req, body, "type", "type", false, 64, &type))
		return;
	if (!valid_item_id(id)) {
		http_reply_error(req, 404, "not_found", "no archived item %.80s", id);
		return;
	}
	if (name && !valid_document_name(name)) {
		http_reply_error(
		    req, 400, "bad_request",
		    "name must be 1 to 200 bytes of text without / or control characters");
		return;
	}
	if (type && !valid_code_chars(type, 64)) {
		http_reply_error(req, 400, "bad_request",
				 "type must be 1 to 64 letters, digits, '.', '-' or '_'");
		return;
	}
	struct archive_call *c = call_new(a, req, C_REUSE);
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
