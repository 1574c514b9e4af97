/* SPDX-License-Identifier: MIT */
/* The dossiers' and documents' routes: reception, listing, uploads (stored on
 * the I/O pool), reuse of archived papers, files and pages. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "archive.h"
#include "queue.h"
#include "dossier-api.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "pageimg.h"
#include "records.h"
#include "router.h"
#include "store.h"
#include "util.h"
#include "validate.h"
#include "workers.h"

#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 500
/* Uploads held in memory at once (each up to max_upload_mb). */
#define UPLOADS_MAX 4

struct dossier_api {
	struct gateway *gw;
	unsigned uploads_in_flight;
};

static void h_dossier_create(struct dossier_api *a, struct evhttp_request *req,
			     const struct token_info *tok)
{
	static const char *const top[] = {
	    "procedure_code", "procedure_name",	 "applicant", "channel",
	    "unit",	      "processing_days", "ticket_id", NULL};
	static const char *const app[] = {"name", "id_number", "phone", "address", "email", NULL};
	json_t *j = http_json_body(req);
	if (!j)
		return;
	struct dossier_new d = {.created_by = tok->name, .processing_days = -1};
	json_t *applicant = json_object_get(j, "applicant");
	json_t *channel = json_object_get(j, "channel");
	json_t *pdays = json_object_get(j, "processing_days"),
	       *ticket = json_object_get(j, "ticket_id");
	if (!http_only_keys(req, j, "", top) ||
	    !http_str_field(req, j, "procedure_code", "procedure_code", true, 64,
			    &d.procedure_code) ||
	    !http_str_field(req, j, "procedure_name", "procedure_name", false, 500,
			    &d.procedure_name) ||
	    !http_str_field(req, j, "unit", "unit", false, 200, &d.unit))
		goto out;
	if (pdays && !json_is_null(pdays)) {
		if (!json_is_integer(pdays) || json_integer_value(pdays) < 0 ||
		    json_integer_value(pdays) > 365) {
			http_reply_error(req, 400, "bad_request",
					 "processing_days must be the legal processing time in "
					 "working days, 0 to 365");
			goto out;
		}
		d.processing_days = (int)json_integer_value(pdays);
	}
	if (ticket && !json_is_null(ticket)) {
		if (!json_is_integer(ticket) || json_integer_value(ticket) <= 0 ||
		    !ticket_exists(a->gw->db, json_integer_value(ticket))) {
			http_reply_error(req, 400, "bad_request",
					 "ticket_id must be the id of a queue ticket");
			goto out;
		}
		d.ticket_id = json_integer_value(ticket);
	}
	if (!valid_code_chars(d.procedure_code, 64)) {
		http_reply_error(
		    req, 400, "bad_request",
		    "procedure_code must be letters, digits, '.', '-' or '_' (e.g. 1.001234)");
		goto out;
	}
	if (!json_is_object(applicant)) {
		http_reply_error(req, 400, "bad_request",
				 "applicant must be an object with name and id_number");
		goto out;
	}
	if (!http_only_keys(req, applicant, "applicant.", app) ||
	    !http_str_field(req, applicant, "name", "applicant.name", true, 200,
			    &d.applicant_name) ||
	    !http_str_field(req, applicant, "id_number", "applicant.id_number", true, 20,
			    &d.applicant_id) ||
	    !http_str_field(req, applicant, "phone", "applicant.phone", false, 20,
			    &d.applicant_phone) ||
	    !http_str_field(req, applicant, "address", "applicant.address", false, 500,
			    &d.applicant_address) ||
	    !http_str_field(req, applicant, "email", "applicant.email", false, 254,
			    &d.applicant_email))
		goto out;
	if (d.applicant_email && !valid_email(d.applicant_email)) {
		http_reply_error(req, 400, "bad_request",
				 "applicant.email must be an address like ten@example.vn");
		goto out;
	}
	if (!valid_id_number(d.applicant_id)) {
		http_reply_error(
		    req, 400, "bad_request",
		    "applicant.id_number must be a 12-digit citizen ID (or 9-digit ID card, "
		    "10-digit tax code, passport number)");
		goto out;
	}
	if (d.applicant_phone && !valid_phone(d.applicant_phone)) {
		http_reply_error(req, 400, "bad_request",
				 "applicant.phone must be 9 to 15 digits, optionally after +");
		goto out;
	}
	if (!json_is_integer(channel) || json_integer_value(channel) < 1 ||
	    json_integer_value(channel) > 3) {
		http_reply_error(req, 400, "bad_request",
				 "channel must be 1 (in person), 2 (online) or 3 (postal service)");
		goto out;
	}
	d.channel = (int)json_integer_value(channel);
	int err;
	json_t *dossier = dossier_create(a->gw->records, &d, &err);
	if (!dossier) {
		http_reply_error(req, 503, "unavailable", "the dossier could not be stored: %s",
				 strerror(-err));
		goto out;
	}
	char loc[256];
	snprintf(loc, sizeof loc, "/api/v1/dossiers/%s",
		 json_string_value(json_object_get(dossier, "code")));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
	gw_log(MOTCUA_LOG_INFO, NULL, "dossier %s created by %s",
	       json_string_value(json_object_get(dossier, "code")), tok->name);
	http_reply_json(req, 201, dossier);
out:
	json_decref(j);
}

static void h_dossier_list(struct dossier_api *a, struct evhttp_request *req)
{
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
			if (!http_int_param(req, "status", kv->value, 1, 10, &status))
				goto out;
		} else if (!strcmp(kv->key, "limit")) {
			if (!http_int_param(req, "limit", kv->value, 1, LIST_LIMIT_MAX, &limit))
				goto out;
		} else if (!strcmp(kv->key, "offset")) {
			if (!http_int_param(req, "offset", kv->value, 0, 100000000, &offset))
				goto out;
		} else if (!strcmp(kv->key, "from") || !strcmp(kv->key, "to")) {
			bool is_to = kv->key[0] == 't';
			if (time_parse(kv->value, is_to, is_to ? &to : &from) < 0) {
				http_reply_error(
				    req, 400, "bad_request",
				    "%s must be a date YYYY-MM-DD (Vietnam time) or ISO 8601 time",
				    kv->key);
				goto out;
			}
		} else {
			http_reply_error(
			    req, 400, "bad_request",
			    "unknown parameter %s (use status, from, to, limit, offset)", kv->key);
			goto out;
		}
	}
	http_reply_json(
	    req, 200, dossier_list(a->gw->records, (int)status, from, to, (int)limit, (int)offset));
out:
	evhttp_clear_headers(&q);
}

static void h_dossier_get(struct dossier_api *a, struct evhttp_request *req, const char *code)
{
	json_t *d = dossier_get(a->gw->records, code);
	if (!d)
		http_reply_error(req, 404, "not_found", "no dossier %s", code);
	else
		http_reply_json(req, 200, d);
}

static void h_document_get(struct dossier_api *a, struct evhttp_request *req, const char *code,
			   const char *id)
{
	json_t *d = document_get(a->gw->records, code, id);
	if (!d)
		http_reply_error(req, 404, "not_found", "no document %s in dossier %s", id, code);
	else
		http_reply_json(req, 200, d);
}

/* Sends a blob from the store as the response body (sendfile, no copy). */
/* Sends a blob from the store as the response body (sendfile, no copy). */
static void send_blob(struct dossier_api *a, struct evhttp_request *req, const char *sha,
		      const char *media_type, const char *id)
{
	char *path = store_blob_path(a->gw->store, sha);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	free(path);
	if (fd < 0) {
		log_error("blob %s of document %s is missing from the store", sha, id);
		http_reply_error(req, 500, "storage_error", "the document's file is missing");
		return;
	}
	http_reply_file(req, fd, media_type, sha);
}

static void h_document_content(struct dossier_api *a, struct evhttp_request *req, const char *code,
			       const char *id)
{
	char sha[65];
	char *media_type = NULL;
	if (document_content(a->gw->records, code, id, sha, &media_type) < 0) {
		http_reply_error(req, 404, "not_found", "no document %s in dossier %s", id, code);
		return;
	}
	if (!sha[0]) {
		free(media_type);
		http_reply_error(req, 409, "no_content_yet",
				 "the scan has not delivered a page yet");
		return;
	}
	send_blob(a, req, sha, media_type, id);
	free(media_type);
}

static void h_document_sidecar(struct dossier_api *a, struct evhttp_request *req, const char *code,
			       const char *id)
{
	json_t *d = document_get(a->gw->records, code, id);
	json_t *sc = d ? json_object_get(d, "sidecar") : NULL;
	if (!d)
		http_reply_error(req, 404, "not_found", "no document %s in dossier %s", id, code);
	else if (!json_is_object(sc))
		http_reply_error(req, 404, "not_found",
				 "document %s has no companion file (a detached signature)", id);
	else
		send_blob(a, req, json_string_value(json_object_get(sc, "sha256")),
			  json_string_value(json_object_get(sc, "media_type")), id);
	json_decref(d);
}

static void h_document_page(struct dossier_api *a, struct evhttp_request *req, const char *code,
			    const char *id, const char *page)
{
	char sha[65], *end;
	char *media_type = NULL;
	long n = strtol(page, &end, 10);
	if (*end || n < 1 || n > 100000 ||
	    document_page(a->gw->records, code, id, (int)n, sha, &media_type) < 0) {
		http_reply_error(req, 404, "not_found", "no page %s of document %s in dossier %s",
				 page, id, code);
		return;
	}
	send_blob(a, req, sha, media_type, id);
	free(media_type);
}

struct upload {
	struct dossier_api *a;
	/* If the client goes away meanwhile, libevent detaches the request and
	 * the reply below frees it. */
	struct evhttp_request *req;
	struct evbuffer *body;
	char code[96];
	char name[256];
	char media_type[32];
	char doc_type[65];
	char paper[65];
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
	struct dossier_api *a = u->a;
	a->uploads_in_flight--;
	if (http_client_gone(u->req)) {
		/* Nobody to tell: the client will send it again. The blob is harmless. */
		log_warning("upload to %s abandoned by the client", u->code);
		http_reply_gone(u->req);
	} else if (cancelled) {
		http_reply_error(u->req, 503, "stopping",
				 "the gateway is stopping; send the document again");
	} else if (u->result < 0) {
		log_error("cannot store an upload to %s: %s", u->code, strerror(-u->result));
		http_reply_error(u->req, 507, "storage_error",
				 "the document could not be stored: %s", strerror(-u->result));
	} else {
		char id[33];
		struct document_extra x = {.doc_type = u->doc_type[0] ? u->doc_type : NULL,
					   .paper = u->paper[0] ? u->paper : NULL};
		int r = document_create(a->gw->records, u->code, u->name, u->media_type, u->sha,
					u->size, u->created_by, &x, id);
		if (r < 0)
			http_reply_error(u->req, 503, "unavailable",
					 "the document could not be recorded");
		else {
			gw_log(MOTCUA_LOG_INFO, NULL,
			       "document %s (%s, %llu bytes) received for %s", id, u->media_type,
			       (unsigned long long)u->size, u->code);
			http_reply_json(u->req, 202,
					json_pack("{s:s, s:s, s:s}", "id", id, "state", "queued",
						  "sha256", u->sha));
		}
	}
	evbuffer_free(u->body);
	free(u);
}

/* The upload's name, type and paper from the query (?name=&type=&paper=),
 * checked. */
static bool upload_names(struct dossier_api *a, struct evhttp_request *req, const char *code,
			 char name[256], char doc_type[65], char paper[65])
{
	struct evkeyvalq q;
	if (!http_query(req, &q))
		return false;
	const char *n = evhttp_find_header(&q, "name"), *t = evhttp_find_header(&q, "type");
	const char *pp = evhttp_find_header(&q, "paper");
	snprintf(name, 256, "%s", n ? n : "document");
	bool type_bad = t && !valid_code_chars(t, 64);
	snprintf(doc_type, 65, "%s", t && !type_bad ? t : "");
	char msg[600] = "";
	bool paper_bad = pp && (strlen(pp) > 64 ||
				dossier_paper_check(a->gw->records, code, pp, msg, sizeof msg) < 0);
	snprintf(paper, 65, "%s", pp && !paper_bad ? pp : "");
	evhttp_clear_headers(&q);
	if (paper_bad) {
		http_reply_error(req, 400, "bad_request", "paper: %s",
				 msg[0] ? msg : "not a paper of the dossier's procedure");
		return false;
	}
	if (!valid_document_name(name)) {
		http_reply_error(
		    req, 400, "bad_request",
		    "name must be 1 to 200 bytes of UTF-8 text without / or control characters");
		return false;
	}
	if (type_bad) {
		http_reply_error(
		    req, 400, "bad_request",
		    "type must be 1 to 64 letters, digits, '.', '-' or '_' (e.g. to-khai)");
		return false;
	}
	return true;
}

/* The body's media type from Content-Type, one of the accepted ones. */
static bool upload_media_type(struct evhttp_request *req, char type[32])
{
	const char *ct = http_header(req, "Content-Type");
	type[0] = 0;
	if (ct) {
		size_t n = strcspn(ct, "; ");
		if (n < 32) {
			memcpy(type, ct, n);
			type[n] = 0;
			for (char *p = type; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p += 'a' - 'A';
		}
	}
	if (upload_type_ok(type))
		return true;
	http_reply_error(
	    req, 415, "unsupported_media_type",
	    "Content-Type must be image/png, image/jpeg, image/tiff or application/pdf%s%s",
	    ct ? ", not " : "", ct ? ct : "");
	return false;
}

/* Is the body what its type says, and not too large? The signature is at
 * the start; JPEG and PDF markers are at the end: head and tail are checked
 * as one short file (the middle does not matter). */
static bool upload_body_ok(struct dossier_api *a, struct evhttp_request *req, const char *type)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > a->gw->settings.max_upload_bytes) {
		http_reply_error(req, 413, "too_large", "a document may be at most %llu MB",
				 (unsigned long long)(a->gw->settings.max_upload_bytes >> 20));
		return false;
	}
	if (len == 0) {
		http_reply_error(req, 422, "bad_content",
				 "the body is empty; send the file as the body");
		return false;
	}
	unsigned char probe[64 + 1024];
	size_t hn = len < 64 ? len : 64, tn = len < 1024 ? len : 1024;
	evbuffer_copyout(in, probe, hn);
	struct evbuffer_ptr pos;
	evbuffer_ptr_set(in, &pos, len - tn, EVBUFFER_PTR_SET);
	evbuffer_copyout_from(in, &pos, probe + hn, tn);
	const char *why = NULL;
	if (!upload_content_matches(type, probe, hn + tn, &why) ||
	    (!strcmp(type, "image/jpeg") && !(probe[0] == 0xFF && probe[1] == 0xD8))) {
		http_reply_error(req, 422, "bad_content", "the body is %s", why);
		return false;
	}
	return true;
}

/* Hands the body to the I/O pool, which stores it; upload_done answers. */
static void upload_submit(struct dossier_api *a, struct evhttp_request *req, const char *by,
			  const char *code, const char *name, const char *type,
			  const char *doc_type, const char *paper)
{
	if (a->uploads_in_flight >= UPLOADS_MAX) {
		http_set_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "busy",
				 "too many uploads at once; try again in a moment");
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
	snprintf(u->name, sizeof u->name, "%s", name);
	snprintf(u->media_type, sizeof u->media_type, "%s", type);
	snprintf(u->doc_type, sizeof u->doc_type, "%s", doc_type);
	snprintf(u->paper, sizeof u->paper, "%s", paper);
	snprintf(u->created_by, sizeof u->created_by, "%s", by);
	/* Moves the chains, no copy. */
	evbuffer_add_buffer(u->body, evhttp_request_get_input_buffer(req));
	int r = workers_submit(a->gw->io_workers, upload_work, upload_done, u);
	if (r < 0) {
		evbuffer_free(u->body);
		free(u);
		http_reply_error(req, 503, "busy", "cannot take the document now: %s",
				 strerror(-r));
		return;
	}
	a->uploads_in_flight++;
}

static void h_document_add(struct dossier_api *a, struct evhttp_request *req,
			   const struct token_info *tok, const char *code)
{
	if (strlen(code) >= sizeof(((struct upload *)0)->code) ||
	    !dossier_exists(a->gw->records, code)) {
		http_reply_error(req, 404, "not_found", "no dossier %s", code);
		return;
	}
	const char *ct = http_header(req, "Content-Type");
	if (ct && !strncasecmp(ct, "application/json", 16)) {
		/* Not a file but a reference: {"reuse": "<archived item id>"}. */
		json_t *j = http_json_body(req);
		if (j)
			archive_reuse(a->gw->archive, req, tok, code, j);
		json_decref(j);
		return;
	}
	char name[256], doc_type[65], paper[65], type[32];
	if (upload_names(a, req, code, name, doc_type, paper) && upload_media_type(req, type) &&
	    upload_body_ok(a, req, type))
		upload_submit(a, req, tok->name, code, name, type, doc_type, paper);
}

/* ---- the review: the clerk's page edits and confirmation ---- */

#define THUMB_WIDTH 200

/* A page number from the path: 400 when it is not one, 404 when the
 * document has no such page. */
static bool page_param(struct evhttp_request *req, const char *s, int pages, int *out)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (!*s || *end || s[0] == '+' || s[0] == '-' || s[0] == ' ' || n < 1 || n > 100000) {
		http_reply_error(req, 400, "bad_request",
				 "the page must be a page number from 1 (not %s)", s);
		return false;
	}
	if (n > pages) {
		http_reply_error(req, 404, "not_found", "the document has %d page%s, not page %ld",
				 pages, pages == 1 ? "" : "s", n);
		return false;
	}
	*out = (int)n;
	return true;
}

/* The document must exist (404) and be in review (409). */
static bool in_review(struct dossier_api *a, struct evhttp_request *req, const char *code,
		      const char *id, int *pages)
{
	char state[16];
	if (document_review_state(a->gw->records, code, id, state, pages) < 0) {
		http_reply_error(req, 404, "not_found", "no document %s in dossier %s", id, code);
		return false;
	}
	if (strcmp(state, "review")) {
		http_reply_error(req, 409, "not_in_review",
				 "document %s is %s: pages are changed and confirmed only while it "
				 "waits for review (Chỉ sửa và xác nhận khi tài liệu đang chờ "
				 "kiểm tra)",
				 id, state);
		return false;
	}
	return true;
}

/* The answer to an edit, or why it was refused. */
static void edit_reply(struct dossier_api *a, struct evhttp_request *req, int e, const char *code,
		       const char *id, int code_ok)
{
	switch (e) {
	case 0: {
		json_t *d = document_get(a->gw->records, code, id);
		http_reply_json(req, code_ok, d ? d : json_object());
		break;
	}
	case -ENOENT:
		http_reply_error(req, 404, "not_found", "no such page of document %s", id);
		break;
	case -EBUSY:
	case -ESTALE:
		http_reply_error(req, 409, "not_in_review",
				 "document %s changed meanwhile or is no longer in review", id);
		break;
	case -EMLINK:
		http_reply_error(req, 409, "last_page",
				 "the only page of a document cannot be deleted (Không thể xóa "
				 "trang duy nhất)");
		break;
	case -EINVAL:
		http_reply_error(req, 400, "bad_request", "order must list every page once");
		break;
	case -EPIPE:
		http_reply_error(req, 409, "page_failed",
				 "a page could not be recognized: scan it again or delete it first "
				 "(Có trang không nhận dạng được: quét lại hoặc xóa trang đó)");
		break;
	default:
		http_reply_error(req, 503, "unavailable", "the change could not be recorded");
	}
}

struct rotation {
	struct dossier_api *a;
	struct evhttp_request *req;
	char code[96], id[33], by[128];
	int page_no, degrees, rotation;
	struct page_info pi;
	char *in, *tmp;
	char sha[65], media_type[32], msg[200];
	int result;
};

static void rotation_free(struct rotation *t)
{
	if (t->tmp)
		unlink(t->tmp);
	free(t->tmp);
	free(t->in);
	free(t);
}

/* On an I/O worker: the scanned image turned, into the store. */
static void rotation_work(void *arg)
{
	struct rotation *t = arg;
	if (t->rotation == 0) {
		/* turned back to how it was scanned: that image again */
		unsigned char head[4] = {0};
		int fd = open(t->in, O_RDONLY | O_CLOEXEC);
		ssize_t got = fd >= 0 ? read(fd, head, sizeof head) : -1;
		if (fd >= 0)
			close(fd);
		snprintf(t->sha, sizeof t->sha, "%s", t->pi.scanned_sha);
		snprintf(t->media_type, sizeof t->media_type, "%s",
			 got == 4 && head[0] == 0xFF && head[1] == 0xD8	  ? "image/jpeg"
			 : got == 4 && (head[0] == 'I' || head[0] == 'M') ? "image/tiff"
									  : "image/png");
		t->result = got == 4 ? 0 : -EIO;
		return;
	}
	t->result =
	    pageimg_rotate(t->in, t->rotation, t->tmp, t->media_type, t->msg, sizeof t->msg);
	if (t->result == 0)
		t->result = store_commit_file(t->a->gw->store, t->tmp, t->sha, NULL);
}

static void rotation_done(void *arg, int cancelled)
{
	struct rotation *t = arg;
	struct dossier_api *a = t->a;
	int e = cancelled ? -ECANCELED : t->result;
	if (e == 0)
		e = document_page_rotate(a->gw->records, t->code, t->id, t->page_no, t->pi.sha,
					 t->sha, t->media_type, t->rotation, t->degrees, t->by);
	if (e == 0)
		gw_log(MOTCUA_LOG_INFO, NULL, "page %d of document %s turned by %d degrees by %s",
		       t->page_no, t->id, t->degrees, t->by);
	if (http_client_gone(t->req))
		http_reply_gone(t->req);
	else if (cancelled)
		http_reply_error(t->req, 503, "stopping", "the gateway is stopping; try again");
	else if (t->result < 0)
		http_reply_error(t->req, 422, "bad_image", "the page cannot be turned: %s",
				 t->msg[0] ? t->msg : strerror(-t->result));
	else
		edit_reply(a, t->req, e, t->code, t->id, 200);
	rotation_free(t);
}

static void h_page_rotate(struct dossier_api *a, struct evhttp_request *req,
			  const struct token_info *tok, const char *code, const char *id,
			  const char *page)
{
	static const char *const keys[] = {"degrees", NULL};
	int pages, n;
	json_t *j = http_json_body(req);
	if (!j)
		return;
	json_t *deg = json_object_get(j, "degrees");
	if (!http_only_keys(req, j, "", keys))
		goto out;
	if (!json_is_integer(deg) ||
	    (json_integer_value(deg) != 90 && json_integer_value(deg) != 180 &&
	     json_integer_value(deg) != 270)) {
		http_reply_error(req, 400, "bad_request",
				 "degrees must be 90, 180 or 270 (clockwise)");
		goto out;
	}
	if (!in_review(a, req, code, id, &pages) || !page_param(req, page, pages, &n))
		goto out;
	struct rotation *t = calloc(1, sizeof *t);
	if (!t)
		goto oom;
	t->a = a;
	t->req = req;
	snprintf(t->code, sizeof t->code, "%s", code);
	snprintf(t->id, sizeof t->id, "%s", id);
	snprintf(t->by, sizeof t->by, "%s", tok->name);
	t->page_no = n;
	t->degrees = (int)json_integer_value(deg);
	if (document_page_info(a->gw->records, id, n, &t->pi) < 0) {
		free(t);
		http_reply_error(req, 404, "not_found", "no page %d of document %s", n, id);
		goto out;
	}
	/* The clerk turns the page as it is shown (the thumbnail, the PDF): the
	 * scanned image as turned before, by the clerk and by the recognize
	 * step's own upright detection, and then by degrees. The turned image is
	 * recognized again (better text than turning the old text layer). */
	t->rotation = (((t->pi.rotation + t->pi.turned + t->degrees) % 360) + 360) % 360;
	t->in = store_blob_path(a->gw->store, t->pi.scanned_sha);
	t->tmp = store_tmp_path(a->gw->store, "turned");
	if (!t->in || !t->tmp ||
	    workers_submit(a->gw->io_workers, rotation_work, rotation_done, t) < 0) {
		rotation_free(t);
		http_reply_error(req, 503, "busy", "cannot turn the page now; try again");
	}
	goto out;
oom:
	http_reply_error(req, 503, "no_memory", "out of memory");
out:
	json_decref(j);
}

static void h_page_delete(struct dossier_api *a, struct evhttp_request *req,
			  const struct token_info *tok, const char *code, const char *id,
			  const char *page)
{
	int pages, n;
	if (!in_review(a, req, code, id, &pages) || !page_param(req, page, pages, &n))
		return;
	int e = document_page_delete(a->gw->records, code, id, n, tok->name);
	if (e == 0)
		gw_log(MOTCUA_LOG_INFO, NULL, "page %d of document %s deleted by %s", n, id,
		       tok->name);
	edit_reply(a, req, e, code, id, 200);
}

static void h_confirm(struct dossier_api *a, struct evhttp_request *req,
		      const struct token_info *tok, const char *code, const char *id)
{
	static const char *const keys[] = {"order", NULL};
	int pages;
	int *order = NULL;
	json_t *j = http_json_body_or_empty(req);
	if (!j)
		return;
	json_t *ord = json_object_get(j, "order");
	if (!http_only_keys(req, j, "", keys) || !in_review(a, req, code, id, &pages))
		goto out;
	size_t n = 0;
	if (ord && !json_is_null(ord)) {
		n = json_array_size(ord);
		if (!json_is_array(ord) || n != (size_t)pages) {
			http_reply_error(
			    req, 400, "bad_request",
			    "order must list the document's %d page numbers once each, "
			    "in their new order",
			    pages);
			goto out;
		}
		order = calloc(n ? n : 1, sizeof *order);
		char *seen = calloc(n + 1, 1);
		bool ok = order && seen;
		for (size_t i = 0; ok && i < n; i++) {
			json_t *v = json_array_get(ord, i);
			json_int_t k = json_is_integer(v) ? json_integer_value(v) : 0;
			ok = k >= 1 && k <= (json_int_t)n && !seen[k];
			if (ok) {
				seen[k] = 1;
				order[i] = (int)k;
			}
		}
		free(seen);
		if (!ok) {
			http_reply_error(req, 400, "bad_request",
					 "order must list the page numbers 1 to %zu once each, in "
					 "their new order",
					 n);
			goto out;
		}
	}
	int e = document_confirm(a->gw->records, code, id, order, n, tok->name);
	if (e == 0)
		http_reply_json(req, 202,
				json_pack("{s:s, s:s, s:s}", "id", id, "state", "queued",
					  "confirmed_by", tok->name));
	else
		edit_reply(a, req, e, code, id, 202);
out:
	free(order);
	json_decref(j);
}

struct thumb {
	struct dossier_api *a;
	struct evhttp_request *req;
	char id[33];
	char sha[65], thumb_sha[65];
	int turn, width, height, result;
	char *in, *tmp;
	char msg[200];
};

static void thumb_free(struct thumb *t)
{
	if (t->tmp)
		unlink(t->tmp);
	free(t->tmp);
	free(t->in);
	free(t);
}

static void thumb_work(void *arg)
{
	struct thumb *t = arg;
	t->result = pageimg_thumb(t->in, t->turn, THUMB_WIDTH, t->tmp, &t->width, &t->height,
				  t->msg, sizeof t->msg);
	if (t->result == 0)
		t->result = store_commit_file(t->a->gw->store, t->tmp, t->thumb_sha, NULL);
}

static void thumb_done(void *arg, int cancelled)
{
	struct thumb *t = arg;
	struct dossier_api *a = t->a;
	if (!cancelled && t->result == 0 &&
	    thumb_record(a->gw->records, t->sha, t->turn, t->thumb_sha, t->width, t->height) < 0)
		log_warning("the thumbnail of %s could not be recorded", t->sha);
	if (http_client_gone(t->req))
		http_reply_gone(t->req);
	else if (cancelled)
		http_reply_error(t->req, 503, "stopping", "the gateway is stopping");
	else if (t->result < 0)
		http_reply_error(t->req, 422, "bad_image", "no thumbnail: %s",
				 t->msg[0] ? t->msg : strerror(-t->result));
	else
		send_blob(a, t->req, t->thumb_sha, "image/png", t->id);
	thumb_free(t);
}

/* A page's thumbnail, as the page will be in the PDF (turned as the
 * recognize step turned it), made once on an I/O worker and kept in the
 * store. */
static void h_page_thumb(struct dossier_api *a, struct evhttp_request *req, const char *code,
			 const char *id, const char *page)
{
	char state[16];
	int pages, n;
	struct page_info pi;
	if (document_review_state(a->gw->records, code, id, state, &pages) < 0) {
		http_reply_error(req, 404, "not_found", "no document %s in dossier %s", id, code);
		return;
	}
	if (!page_param(req, page, pages, &n))
		return;
	if (document_page_info(a->gw->records, id, n, &pi) < 0) {
		http_reply_error(req, 404, "not_found", "no page %d of document %s", n, id);
		return;
	}
	int turn = ((pi.turned % 360) + 360) % 360;
	char thumb_sha[65];
	if (thumb_lookup(a->gw->records, pi.sha, turn, thumb_sha) > 0 &&
	    store_has(a->gw->store, thumb_sha)) {
		send_blob(a, req, thumb_sha, "image/png", id);
		return;
	}
	struct thumb *t = calloc(1, sizeof *t);
	if (!t) {
		http_reply_error(req, 503, "no_memory", "out of memory");
		return;
	}
	t->a = a;
	t->req = req;
	t->turn = turn;
	snprintf(t->id, sizeof t->id, "%s", id);
	snprintf(t->sha, sizeof t->sha, "%s", pi.sha);
	t->in = store_blob_path(a->gw->store, pi.sha);
	t->tmp = store_tmp_path(a->gw->store, "thumb");
	if (!t->in || !t->tmp || workers_submit(a->gw->io_workers, thumb_work, thumb_done, t) < 0) {
		thumb_free(t);
		http_set_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "busy", "cannot make the thumbnail now; try again");
	}
}

/* ---- the table ---- */

static void route_dossier_create(struct call *c)
{
	h_dossier_create(c->data, c->req, c->tok);
}

static void route_dossier_list(struct call *c)
{
	h_dossier_list(c->data, c->req);
}

static void route_dossier_get(struct call *c)
{
	h_dossier_get(c->data, c->req, c->params[0]);
}

static void route_document_add(struct call *c)
{
	h_document_add(c->data, c->req, c->tok, c->params[0]);
}

static void route_document_get(struct call *c)
{
	h_document_get(c->data, c->req, c->params[0], c->params[1]);
}

static void route_document_content(struct call *c)
{
	h_document_content(c->data, c->req, c->params[0], c->params[1]);
}

static void route_document_sidecar(struct call *c)
{
	h_document_sidecar(c->data, c->req, c->params[0], c->params[1]);
}

static void route_document_page(struct call *c)
{
	h_document_page(c->data, c->req, c->params[0], c->params[1], c->params[2]);
}

static void route_page_rotate(struct call *c)
{
	h_page_rotate(c->data, c->req, c->tok, c->params[0], c->params[1], c->params[2]);
}

static void route_page_delete(struct call *c)
{
	h_page_delete(c->data, c->req, c->tok, c->params[0], c->params[1], c->params[2]);
}

static void route_page_thumb(struct call *c)
{
	h_page_thumb(c->data, c->req, c->params[0], c->params[1], c->params[2]);
}

static void route_confirm(struct call *c)
{
	h_confirm(c->data, c->req, c->tok, c->params[0], c->params[1]);
}

static const struct route_def routes[] = {
    {"POST", "/api/v1/dossiers", R_WRITE, route_dossier_create,
     "receive a dossier: its code <agency_code>-YYMMDD-NNNN and promised date"},
    {"GET", "/api/v1/dossiers", R_ALL, route_dossier_list, "dossiers by status and date (paged)"},
    {"GET", "/api/v1/dossiers/{code}", R_ALL, route_dossier_get, "one dossier with its documents"},
    {"POST", "/api/v1/dossiers/{code}/documents", R_WRITE, route_document_add,
     "a document: a file as the body, or {\"reuse\": archived item id}"},
    {"GET", "/api/v1/dossiers/{code}/documents/{id}", R_ALL, route_document_get,
     "one document with its steps and pages"},
    {"GET", "/api/v1/dossiers/{code}/documents/{id}/content", R_ALL, route_document_content,
     "the document's current file"},
    {"GET", "/api/v1/dossiers/{code}/documents/{id}/sidecar", R_ALL, route_document_sidecar,
     "the detached signature of a file that is not a PDF"},
    {"GET", "/api/v1/dossiers/{code}/documents/{id}/pages/{n}", R_ALL, route_document_page,
     "page n's image as scanned or uploaded (turned, if the clerk turned it)"},
    {"GET", "/api/v1/dossiers/{code}/documents/{id}/pages/{n}/thumb", R_ALL, route_page_thumb,
     "page n as a small PNG (at most 200 pixels wide) for the page strip"},
    {"POST", "/api/v1/dossiers/{code}/documents/{id}/pages/{n}/rotate", R_WRITE, route_page_rotate,
     "in review: turn page n by {\"degrees\": 90|180|270} clockwise"},
    {"DELETE", "/api/v1/dossiers/{code}/documents/{id}/pages/{n}", R_WRITE, route_page_delete,
     "in review: delete page n (the later pages move up)"},
    {"POST", "/api/v1/dossiers/{code}/documents/{id}/confirm", R_WRITE, route_confirm,
     "in review: confirm the document, {\"order\"?: page numbers in their new order}; it is "
     "signed and archived next"},
};

struct dossier_api *dossier_api_new(struct gateway *gw)
{
	struct dossier_api *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->gw = gw;
	if (router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], a, NULL) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

void dossier_api_free(struct dossier_api *a)
{
	free(a);
}
