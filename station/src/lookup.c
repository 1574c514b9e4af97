/* SPDX-License-Identifier: MIT */
/* The citizen's lookup (see lookup.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "counter.h"
#include "db.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "lookup.h"
#include "ratelimit.h"
#include "router.h"
#include "util.h"
#include "validate.h"

static const struct ratelimit_policy by_address = {"lookup-address", LOOKUP_LIMIT, LOOKUP_WINDOW_S,
						   LOOKUP_LOCK_S};

/* The national status codes (DESIGN.md), as a citizen reads them. */
static const char *const status_vi[] = {
    NULL,
    "Hồ sơ mới được tiếp nhận",
    "Hồ sơ đã được tiếp nhận",
    "Hồ sơ không được tiếp nhận",
    "Hồ sơ đang được giải quyết",
    "Hồ sơ cần bổ sung giấy tờ",
    "Chờ nộp phí, lệ phí",
    "Công dân đã rút hồ sơ",
    "Hồ sơ đã dừng xử lý",
    "Đã có kết quả, mời công dân đến nhận",
    "Đã trả kết quả",
};
static const char *const status_en[] = {
    NULL,
    "Newly received",
    "Accepted",
    "Not accepted",
    "Being processed",
    "Papers to be supplemented",
    "Waiting for the fees to be paid",
    "Withdrawn by the applicant",
    "Processing stopped",
    "The result is ready to be collected",
    "The result has been returned",
};

const char *lookup_status_text(int status, int english)
{
	if (status < 1 || status > 10)
		return NULL;
	return english ? status_en[status] : status_vi[status];
}

/* The bytes of the UTF-8 character at s. */
static size_t char_len(const char *s)
{
	unsigned char c = (unsigned char)*s;
	size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	for (size_t i = 1; i < n; i++)
		if (!s[i])
			return i;
	return n;
}

void lookup_mask_name(const char *name, char *out, size_t n)
{
	size_t o = 0;
	int word = 0;
	out[0] = 0;
	for (const char *p = name; *p && o + 8 < n;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, " ");
		bool whole = word == 0 && p[len] != 0 && p[len + strspn(p + len, " ")] != 0;
		size_t take = whole ? len : char_len(p);
		if (take + 4 > n - o)
			break;
		if (o)
			out[o++] = ' ';
		memcpy(out + o, p, take);
		o += take;
		if (!whole)
			out[o++] = '.';
		out[o] = 0;
		p += len;
		word++;
	}
}

/* The key as the citizen typed it, in the printed alphabet: upper case,
 * O read as 0, I and L as 1, spaces and dashes dropped. false if it cannot
 * be one. */
static bool normalize_key(const char *in, char out[LOOKUP_KEY_LEN + 1])
{
	size_t o = 0;
	for (const char *p = in; *p; p++) {
		char c = *p;
		if (c == ' ' || c == '-')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (c == 'O')
			c = '0';
		else if (c == 'I' || c == 'L')
			c = '1';
		if (o == LOOKUP_KEY_LEN)
			return false;
		out[o++] = c;
	}
	out[o] = 0;
	return valid_lookup_key(out);
}

struct found {
	int status;
	char procedure_code[64], procedure_name[256], name[256];
	int64_t received_at, due_at;
	bool has_due;
};

/* The dossier if code and key match it; the same work and answer (false)
 * for a wrong code as for a wrong key. */
static bool find(sqlite3 *db, const char *code, const char *key_in, struct found *f)
{
	char key[LOOKUP_KEY_LEN + 1], stored[LOOKUP_KEY_LEN + 1] = "00000000";
	bool key_ok = key_in && normalize_key(key_in, key);
	if (!key_ok)
		memcpy(key, "ZZZZZZZZ", sizeof key);
	sqlite3_stmt *st = db_prepare(
	    db,
	    "SELECT status, procedure_code, procedure_name, received_at, due_at, applicant_name,"
	    " lookup_key FROM dossiers WHERE code = ?1");
	if (!st)
		return false;
	sqlite3_bind_text(st, 1, code ? code : "", -1, SQLITE_TRANSIENT);
	bool row = sqlite3_step(st) == SQLITE_ROW;
	if (row) {
		const char *k = db_text(st, 6);
		row = k && strlen(k) == LOOKUP_KEY_LEN;
		if (row)
			memcpy(stored, k, sizeof stored);
		f->status = sqlite3_column_int(st, 0);
		snprintf(f->procedure_code, sizeof f->procedure_code, "%s",
			 db_text(st, 1) ? db_text(st, 1) : "");
		snprintf(f->procedure_name, sizeof f->procedure_name, "%s",
			 db_text(st, 2) ? db_text(st, 2) : "");
		f->received_at = sqlite3_column_int64(st, 3);
		f->has_due = sqlite3_column_type(st, 4) != SQLITE_NULL;
		f->due_at = sqlite3_column_int64(st, 4);
		snprintf(f->name, sizeof f->name, "%s", db_text(st, 5) ? db_text(st, 5) : "");
	}
	sqlite3_finalize(st);
	/* compared whatever was found, in constant time */
	bool same = sodium_memcmp(stored, key, LOOKUP_KEY_LEN) == 0;
	return row && key_ok && same;
}

/* The papers the latest supplement request (status 5) names, while the
 * dossier waits for them. */
static json_t *missing_papers(sqlite3 *db, const char *code, int status)
{
	json_t *out = json_array();
	if (status != 5)
		return out;
	sqlite3_stmt *st =
	    db_prepare(db, "SELECT json_extract(payload, '$.details.missing') FROM events"
			   " WHERE type = 'dossier.status' AND json_extract(payload, '$.code') = ?1"
			   " AND json_extract(payload, '$.status') = 5 ORDER BY id DESC LIMIT 1");
	if (!st)
		return out;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW && db_text(st, 0)) {
		json_t *m = json_loads(db_text(st, 0), JSON_DECODE_ANY, NULL), *v;
		size_t i;
		json_array_foreach(m, i, v)
		{
			const char *name = json_is_string(v) ? json_string_value(v)
					   : json_is_object(v)
					       ? json_string_value(json_object_get(v, "name"))
					       : NULL;
			if (name)
				json_array_append_new(out, json_string(name));
		}
		json_decref(m);
	}
	sqlite3_finalize(st);
	return out;
}

static bool rated(sqlite3 *db, const char *code)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM ratings WHERE dossier_code = ?1");
	bool r = false;
	if (st) {
		sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
		r = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	return r;
}

/* Counts the request against the client's address: false (answered 429)
 * beyond the limit. */
static bool within_limit(struct gateway *gw, struct evhttp_request *req)
{
	return ratelimit_request(gw->db, &by_address, req,
				 "too many lookups from this address: try again later (tra cứu quá "
				 "nhiều lần, vui lòng thử lại sau)");
}

static void reply_not_found(struct evhttp_request *req)
{
	http_reply_error(req, 404, "not_found",
			 "no dossier with this code and lookup key (không tìm thấy hồ sơ với mã hồ "
			 "sơ và mã tra cứu này)");
}

static void route_lookup(struct call *c)
{
	struct gateway *gw = c->data;
	struct evhttp_request *req = c->req;
	if (!within_limit(gw, req))
		return;
	struct evkeyvalq q;
	if (!http_query(req, &q))
		return;
	const char *code = evhttp_find_header(&q, "code"), *key = evhttp_find_header(&q, "key");
	struct found f = {0};
	if (!code || !key || !code[0] || !key[0]) {
		http_reply_error(req, 400, "bad_request",
				 "code and key are required: ?code=DOSSIER-CODE&key=LOOKUP-KEY");
	} else if (!find(gw->db, code, key, &f)) {
		reply_not_found(req);
	} else {
		char received[32], due[32], masked[256];
		time_iso_vn(f.received_at, received);
		if (f.has_due)
			time_iso_vn(f.due_at, due);
		lookup_mask_name(f.name, masked, sizeof masked);
		json_t *body = json_pack(
		    "{s:s, s:i, s:s?, s:s?, s:{s:s, s:s?}, s:s, s:s?, s:o, s:b, s:{s:s}, s:b}",
		    "code", code, "status", f.status, "status_text",
		    lookup_status_text(f.status, 0), "status_text_en",
		    lookup_status_text(f.status, 1), "procedure", "code", f.procedure_code, "name",
		    f.procedure_name[0] ? f.procedure_name : NULL, "received_at", received,
		    "due_at", f.has_due ? due : NULL, "missing",
		    missing_papers(gw->db, code, f.status), "result_ready",
		    f.status == 9 || f.status == 10, "applicant", "name", masked, "rating_open",
		    !rated(gw->db, code));
		if (body)
			http_reply_json(req, 200, body);
		else
			http_reply_error(req, 500, "internal", "the answer could not be made");
	}
	evhttp_clear_headers(&q);
}

static void route_rating(struct call *c)
{
	static const char *const keys[] = {"code", "key", "level", NULL};
	struct gateway *gw = c->data;
	struct evhttp_request *req = c->req;
	if (!within_limit(gw, req))
		return;
	json_t *j = http_json_body(req);
	const char *code, *key;
	struct found f;
	if (!j)
		return;
	json_t *level = json_object_get(j, "level");
	if (!http_only_keys(req, j, "", keys) ||
	    !http_str_field(req, j, "code", "code", true, 64, &code) ||
	    !http_str_field(req, j, "key", "key", true, 32, &key))
		goto out;
	if (!json_is_integer(level) || json_integer_value(level) < 1 ||
	    json_integer_value(level) > 3) {
		http_reply_error(req, 400, "bad_request",
				 "level must be 1 (very satisfied), 2 (satisfied) or 3 (not "
				 "satisfied)");
		goto out;
	}
	if (!find(gw->db, code, key, &f)) {
		reply_not_found(req);
		goto out;
	}
	int r = counter_rating_add(gw, code, (int)json_integer_value(level), "lookup");
	if (r == -EEXIST)
		http_reply_error(req, 409, "already_rated",
				 "this dossier was rated already: one rating per dossier (hồ sơ "
				 "đã được đánh giá)");
	else if (r < 0)
		http_reply_error(req, 503, "unavailable", "the rating could not be stored");
	else
		http_reply_json(req, 201,
				json_pack("{s:s, s:I}", "code", code, "level",
					  (json_int_t)json_integer_value(level)));
out:
	json_decref(j);
}

static const struct route_def routes[] = {
    {"GET", "/api/v1/lookup", 0, route_lookup,
     "the citizen's lookup (no token): ?code=&key= -> status, dates, missing papers"},
    {"POST", "/api/v1/lookup/rating", 0, route_rating,
     "the citizen's online rating (no token): {\"code\", \"key\", \"level\"}, once a dossier"},
};

int lookup_routes_add(struct gateway *gw)
{
	if (sodium_init() < 0)
		return -EIO;
	return router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], gw,
				"station");
}
