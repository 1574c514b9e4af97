/* SPDX-License-Identifier: MIT */
/*
 * adapter-dvcqg: syncs every dossier to the national public service portal
 * (Cổng Dịch vụ công quốc gia, "DVCQG") through the gateway's outbox.
 *
 * The wire shape (DESIGN.md §5; no official spec is public, this follows the
 * shape seen in public integrations, see README.md for every field):
 *   POST <url><login_path>   {"username": u, "password": p}
 *        -> {"error_code": "0", "session": "<token>", "message": ...}
 *   POST <url><service_path> {"session": s, "madonvi": agency_code,
 *        "service": "DongBoHoSoMC" | "CapNhatTienDoHoSoMC",
 *        "isUpdating": bool, "data": [...]}
 *        with the header Idempotency-Key
 *        -> {"error_code": "0", "message": ..., "ref": "<portal id>"}
 * The session is cached across deliveries (all worker threads share it);
 * when the portal says it expired (HTTP 401 or error_code "SESSION_EXPIRED")
 * the adapter logs in again once and repeats the call.
 *
 * Which calls a delivery makes:
 *   dossier.created  DongBoHoSoMC isUpdating=false
 *   document.done    DongBoHoSoMC isUpdating=true
 *   dossier.status   DongBoHoSoMC isUpdating=true, then CapNhatTienDoHoSoMC
 * Results: 0 when the portal said error_code "0"; -ECONNREFUSED,
 * -EHOSTUNREACH or -ETIMEDOUT when it cannot be reached at all (retried, and
 * the outbox pauses the whole destination meanwhile); -EAGAIN for anything
 * else worth retrying (a slow answer, 5xx, 408/429, a body that is not the
 * portal's JSON); a permanent errno with the portal's message when it
 * refused the data (4xx or another error_code) or the login was refused.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include <motcua/plugin.h>

#define PLUGIN_NAME "adapter-dvcqg"
#define MAX_RESPONSE (1u << 20) /* the portal answers small JSON objects */
#define PASSWORD_FILE_MAX 4096	/* bytes of password_file (its first line is the password) */
#define VN_OFFSET_S (7 * 3600)

struct dvcqg {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	char *url;	    /* without a trailing '/' */
	char *login_path;   /* starts with '/' */
	char *service_path; /* starts with '/' */
	char *username;
	char *password;
	char *agency_code;
	char *ca_file;	  /* NULL: the system's CA store */
	char *procedures; /* "*" or a list separated by commas or spaces */
	long timeout_s;
	/* The cached login session, shared by the worker threads. */
	pthread_mutex_t lock;
	char *session;
	unsigned long logins; /* how many times we logged in (for the log) */
};

/* ---- small helpers -------------------------------------------------------------- */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * ISO 8601 ("2026-11-27T17:30:00Z", "...+07:00", "...+0700", with optional
 * fractions; no offset means Vietnam time) -> "yyyyMMddHHmmss" in Vietnam
 * time (UTC+7, no daylight saving). Returns 0 or -EINVAL.
 */
static int iso_to_vn(const char *iso, char out[15])
{
	int Y, M, D, h, m, s = 0, oh = 0, om = 0, sign = 1;
	if (!iso || strlen(iso) < 16)
		return -EINVAL;
	const char *p = iso;
	if (digits(p, 4, &Y) || p[4] != '-' || digits(p + 5, 2, &M) || p[7] != '-' ||
	    digits(p + 8, 2, &D) || (p[10] != 'T' && p[10] != ' ' && p[10] != 't') ||
	    digits(p + 11, 2, &h) || p[13] != ':' || digits(p + 14, 2, &m))
		return -EINVAL;
	p += 16;
	if (*p == ':') {
		if (digits(p + 1, 2, &s))
			return -EINVAL;
		p += 3;
		if (*p == '.' || *p == ',') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			while (isdigit((unsigned char)*p))
				p++;
		}
	}
	int has_offset = 1;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (digits(p + 1, 2, &oh))
			return -EINVAL;
		p += 3;
		if (*p == ':')
			p++;
		if (*p) {
			if (digits(p, 2, &om))
				return -EINVAL;
			p += 2;
		}
	} else {
		has_offset = 0;
	}
	if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || s > 60 || oh > 23 ||
	    om > 59)
		return -EINVAL;
	long long t =
	    days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400LL + h * 3600 + m * 60 + s;
	if (has_offset)
		t -= sign * (oh * 3600 + om * 60);
	else
		t -= VN_OFFSET_S;
	t += VN_OFFSET_S; /* now the Vietnam wall clock as if it were UTC */
	long long days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	long long sec = t - days * 86400;
	/* civil_from_days */
	long long z = days + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long y = (long long)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned mo = mp < 10 ? mp + 3 : mp - 9;
	y += mo <= 2;
	if (y < 1000 || y > 9999)
		return -EINVAL;
	snprintf(out, 15, "%04lld%02u%02u%02lld%02lld%02lld", y, mo, d, sec / 3600, sec / 60 % 60,
		 sec % 60);
	return 0;
}

static const char *json_str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

/* The national status names, for the progress note. */
static const char *status_name(int status)
{
	static const char *const names[] = {
	    "",
	    "Mới đăng ký",
	    "Được tiếp nhận",
	    "Không được tiếp nhận",
	    "Đang xử lý",
	    "Yêu cầu bổ sung giấy tờ",
	    "Yêu cầu thực hiện nghĩa vụ tài chính",
	    "Công dân yêu cầu rút hồ sơ",
	    "Dừng xử lý",
	    "Đã xử lý xong",
	    "Đã trả kết quả",
	};
	return status >= 1 && status <= 10 ? names[status] : "";
}

/* Statuses where processing has ended (DESIGN.md §5: processed, result
 * returned, stopped, refused, withdrawn). */
static int status_is_final(int status)
{
	return status == 3 || status == 7 || status == 8 || status == 9 || status == 10;
}

/* ---- building the portal's records ----------------------------------------------- */

/* Sets key to the Vietnam-time form of the ISO time; "" stays unset.
 * Returns 0 or -EINVAL with the reason. */
static int set_date(json_t *rec, const char *key, const char *iso, char *why, size_t len)
{
	char vn[15];
	if (!iso || !*iso)
		return 0;
	if (iso_to_vn(iso, vn) < 0) {
		snprintf(why, len, "%s: '%.40s' is not an ISO 8601 time", key, iso);
		return -EINVAL;
	}
	json_object_set_new(rec, key, json_string(vn));
	return 0;
}

static json_t *document_entries(json_t *documents, int results)
{
	json_t *arr = json_array();
	size_t i;
	json_t *doc;
	json_array_foreach(documents, i, doc)
	{
		const char *type = json_str_or(doc, "type", "");
		const char *state = json_str_or(doc, "state", "");
		if (!strcmp(state, "failed") || !!strcmp(type, "ket-qua") == results)
			continue;
		json_t *e = json_object();
		if (results) {
			json_object_set_new(e, "GiayToId", json_string(json_str_or(doc, "id", "")));
			json_object_set_new(e, "TenGiayTo",
					    json_string(json_str_or(doc, "name", "")));
		} else {
			json_object_set_new(e, "TepDinhKemId",
					    json_string(json_str_or(doc, "id", "")));
			json_object_set_new(e, "TenTepDinhKem",
					    json_string(json_str_or(doc, "name", "")));
			json_object_set_new(e, "IsDeleted", json_false());
		}
		json_object_set_new(e, "MaThanhPhanHoSo", json_string(type));
		json_object_set_new(e, "DinhDang", json_string(json_str_or(doc, "media_type", "")));
		json_object_set_new(e, "MaBamSHA256", json_string(json_str_or(doc, "sha256", "")));
		json_t *size = json_object_get(doc, "size");
		json_object_set_new(
		    e, "KichThuoc",
		    json_integer(json_is_integer(size) ? json_integer_value(size) : 0));
		json_object_set_new(
		    e, "CoChuKySo",
		    json_boolean(json_is_object(json_object_get(doc, "signature")) ||
				 json_is_string(json_object_get(doc, "sidecar_path"))));
		json_array_append_new(arr, e);
	}
	return arr;
}

/* The dossier record for DongBoHoSoMC. Returns NULL with the reason in why
 * when the dossier lacks what the portal requires (a permanent error). */
static json_t *dossier_record(json_t *dossier, json_t *event, const char *event_type, char *why,
			      size_t len)
{
	const char *code = json_str_or(dossier, "code", NULL);
	const char *proc = json_str_or(dossier, "procedure_code", NULL);
	json_t *jstatus = json_object_get(dossier, "status");
	json_t *jchannel = json_object_get(dossier, "channel");
	if (!code || !*code || !proc || !*proc) {
		snprintf(why, len, "the dossier has no code or no procedure code");
		return NULL;
	}
	/* a dossier.status event may be newer than the snapshot's status */
	if (!strcmp(event_type, "dossier.status") &&
	    json_is_integer(json_object_get(event, "status")))
		jstatus = json_object_get(event, "status");
	int status = json_is_integer(jstatus) ? (int)json_integer_value(jstatus) : 0;
	int channel = json_is_integer(jchannel) ? (int)json_integer_value(jchannel) : 1;
	if (status < 1 || status > 10) {
		snprintf(why, len, "dossier %s has no national status code (1-10)", code);
		return NULL;
	}
	json_t *applicant = json_object_get(dossier, "applicant");
	json_t *rec = json_object();
	json_object_set_new(rec, "MaHoSo", json_string(code));
	json_object_set_new(rec, "MaTTHC", json_string(proc));
	json_object_set_new(rec, "TenTTHC",
			    json_string(json_str_or(dossier, "procedure_name", "")));
	json_object_set_new(rec, "ChuHoSo", json_string(json_str_or(applicant, "name", "")));
	json_object_set_new(rec, "MaDoiTuong",
			    json_string(json_str_or(applicant, "id_number", "")));
	json_object_set_new(rec, "SoDienThoaiChuHoSo",
			    json_string(json_str_or(applicant, "phone", "")));
	json_object_set_new(rec, "TrangThaiHoSo", json_integer(status));
	json_object_set_new(rec, "KenhThucHien", json_integer(channel));
	const char *received = json_str_or(dossier, "received_at", NULL);
	if (!received) {
		snprintf(why, len, "dossier %s has no received_at", code);
		json_decref(rec);
		return NULL;
	}
	if (set_date(rec, "NgayTiepNhan", received, why, len) < 0 ||
	    set_date(rec, "NgayHenTra", json_str_or(dossier, "due_at", NULL), why, len) < 0)
		goto bad;
	if (status_is_final(status)) {
		/* when processing ended: the dossier's own record of it, else the
		 * status event's time, else the last change */
		const char *end = json_str_or(dossier, "finished_at", NULL);
		if (!end && !strcmp(event_type, "dossier.status"))
			end = json_str_or(event, "at", NULL);
		if (!end)
			end = json_str_or(dossier, "updated_at", NULL);
		if (set_date(rec, "NgayKetThucXuLy", end, why, len) < 0)
			goto bad;
	}
	json_t *docs = json_object_get(dossier, "documents");
	json_object_set_new(rec, "TaiLieuNop", document_entries(docs, 0));
	json_object_set_new(rec, "DanhSachGiayToKetQua", document_entries(docs, 1));
	return rec;
bad:
	json_decref(rec);
	return NULL;
}

/* The progress record for CapNhatTienDoHoSoMC. */
static json_t *progress_record(struct dvcqg *a, json_t *dossier, json_t *event, json_t *rec,
			       char *why, size_t len)
{
	int status = (int)json_integer_value(json_object_get(rec, "TrangThaiHoSo"));
	json_t *p = json_object();
	json_object_set_new(p, "MaHoSo", json_deep_copy(json_object_get(rec, "MaHoSo")));
	json_object_set_new(p, "TrangThaiHoSo", json_integer(status));
	json_object_set_new(p, "DonViXuLy", json_string(a->agency_code));
	const char *note = json_str_or(json_object_get(event, "details"), "note", NULL);
	json_object_set_new(p, "NoiDungXuLy", json_string(note ? note : status_name(status)));
	const char *at = json_str_or(event, "at", json_str_or(dossier, "updated_at", NULL));
	if (!at) {
		snprintf(why, len, "the status event has no time");
		json_decref(p);
		return NULL;
	}
	if (set_date(p, "ThoiDiemXuLy", at, why, len) < 0) {
		json_decref(p);
		return NULL;
	}
	json_object_set(p, "NgayBatDau", json_object_get(rec, "NgayTiepNhan"));
	if (json_object_get(rec, "NgayHenTra"))
		json_object_set(p, "NgayKetThucTheoQuyDinh", json_object_get(rec, "NgayHenTra"));
	return p;
}

/* ---- HTTP ------------------------------------------------------------------------------ */

struct buf {
	char *data;
	size_t len;
	int too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n > MAX_RESPONSE) {
		b->too_big = 1;
		return 0;
	}
	char *d = realloc(b->data, b->len + n + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, ptr, n);
	b->data = d;
	b->len += n;
	d[b->len] = 0;
	return n;
}

/* The outcome of one POST, classified. */
enum outcome {
	OK,	   /* 2xx and error_code "0" */
	EXPIRED,   /* 401 or error_code SESSION_EXPIRED: log in again */
	TRANSIENT, /* retry later */
	REFUSED,   /* the portal refused it for good */
};

struct answer {
	enum outcome outcome;
	long http;
	/* TRANSIENT because the portal cannot be reached at all: -ECONNREFUSED,
	 * -EHOSTUNREACH or -ETIMEDOUT (the outbox then pauses the destination);
	 * 0 otherwise */
	int unreachable;
	json_t *body; /* the parsed JSON object, or NULL */
	char why[200];
};

static void answer_clear(struct answer *an)
{
	json_decref(an->body);
	an->body = NULL;
}

static const char *portal_message(json_t *body)
{
	const char *m = json_str_or(body, "message", NULL);
	if (!m)
		m = json_str_or(body, "error_message", NULL);
	return m ? m : "";
}

/* error_code may come as a string ("0") or a number (0). */
static int error_code(json_t *body, char *out, size_t len)
{
	json_t *e = json_object_get(body, "error_code");
	if (json_is_string(e))
		snprintf(out, len, "%s", json_string_value(e));
	else if (json_is_integer(e))
		snprintf(out, len, "%lld", (long long)json_integer_value(e));
	else
		return -1;
	return 0;
}

static void post_json(struct dvcqg *a, const char *path, const char *body, const char *idem_key,
		      struct answer *an)
{
	char url[2048], hdr_key[300];
	struct buf b = {0};
	struct curl_slist *hdrs = NULL;
	memset(an, 0, sizeof *an);
	snprintf(url, sizeof url, "%s%s", a->url, path);
	CURL *c = curl_easy_init();
	if (!c) {
		an->outcome = TRANSIENT;
		snprintf(an->why, sizeof an->why, "cannot start an HTTP request (out of memory)");
		return;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json; charset=utf-8");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (idem_key) {
		snprintf(hdr_key, sizeof hdr_key, "Idempotency-Key: %s", idem_key);
		hdrs = curl_slist_append(hdrs, hdr_key);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, a->timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, a->timeout_s < 10 ? a->timeout_s : 10L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "motcua-" PLUGIN_NAME "/1.0");
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	if (a->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_file);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &an->http);
	curl_off_t connected_us = 0;
	curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connected_us);
	if (rc == CURLE_COULDNT_CONNECT)
		an->unreachable = -ECONNREFUSED;
	else if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY)
		an->unreachable = -EHOSTUNREACH;
	else if (rc == CURLE_OPERATION_TIMEDOUT && connected_us == 0)
		an->unreachable = -ETIMEDOUT; /* never connected; a slow answer stays -EAGAIN */
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		an->outcome = TRANSIENT;
		if (b.too_big)
			snprintf(an->why, sizeof an->why, "the portal's answer is over %u bytes",
				 MAX_RESPONSE);
		else
			snprintf(an->why, sizeof an->why, "portal unreachable: %s",
				 curl_easy_strerror(rc));
		free(b.data);
		return;
	}
	an->body = b.data ? json_loadb(b.data, b.len, 0, NULL) : NULL;
	if (an->body && !json_is_object(an->body)) {
		json_decref(an->body);
		an->body = NULL;
	}
	char code[64] = "";
	int has_code = an->body && error_code(an->body, code, sizeof code) == 0;
	const char *msg = portal_message(an->body);
	if (an->http == 401 || (has_code && !strcmp(code, "SESSION_EXPIRED"))) {
		an->outcome = EXPIRED;
		snprintf(an->why, sizeof an->why, "portal session refused (HTTP %ld)%s%.120s",
			 an->http, *msg ? ": " : "", msg);
	} else if (an->http >= 500 || an->http == 408 || an->http == 429) {
		an->outcome = TRANSIENT;
		snprintf(an->why, sizeof an->why, "portal answered HTTP %ld%s%.120s", an->http,
			 *msg ? ": " : "", msg);
	} else if (an->http >= 400) {
		an->outcome = REFUSED;
		snprintf(an->why, sizeof an->why, "portal refused (HTTP %ld%s%s)%s%.120s", an->http,
			 has_code ? ", error_code " : "", has_code ? code : "", *msg ? ": " : "",
			 msg);
	} else if (an->http < 200 || an->http >= 300 || !has_code) {
		an->outcome = TRANSIENT;
		snprintf(an->why, sizeof an->why,
			 "portal answered HTTP %ld without its JSON result (error_code)", an->http);
	} else if (!strcmp(code, "0")) {
		an->outcome = OK;
		snprintf(an->why, sizeof an->why, "%.150s", msg);
	} else {
		an->outcome = REFUSED;
		snprintf(an->why, sizeof an->why, "portal refused (error_code %.30s)%s%.140s", code,
			 *msg ? ": " : "", msg);
	}
	free(b.data);
}

/* ---- the session ------------------------------------------------------------------- */

/* Logs in unless another thread already replaced the session `stale` (NULL:
 * none yet). Returns 0 with a copy of the current session in *out. */
static int session_get(struct dvcqg *a, const char *stale, char **out, char *why, size_t len)
{
	int r = 0;
	pthread_mutex_lock(&a->lock);
	/* one login at a time; the others wait for its session */
	if (a->session && (!stale || strcmp(a->session, stale))) {
		*out = strdup(a->session);
		pthread_mutex_unlock(&a->lock);
		return *out ? 0 : -ENOMEM;
	}
	free(a->session);
	a->session = NULL;
	json_t *req = json_pack("{s:s, s:s}", "username", a->username, "password", a->password);
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	struct answer an;
	post_json(a, a->login_path, body ? body : "{}", NULL, &an);
	if (body)
		explicit_bzero(body, strlen(body)); /* it holds the password */
	free(body);
	const char *session = json_str_or(an.body, "session", NULL);
	if (an.outcome == OK && session && *session) {
		a->session = strdup(session);
		a->logins++;
		*out = a->session ? strdup(a->session) : NULL;
		r = *out ? 0 : -ENOMEM;
	} else if (an.outcome == OK) {
		snprintf(why, len, "portal login answered without a session");
		r = -EAGAIN;
	} else if (an.outcome == EXPIRED || an.outcome == REFUSED) {
		/* a wrong user name or password does not fix itself */
		snprintf(why, len, "portal login refused for user %.40s: %.150s", a->username,
			 an.why);
		r = -EACCES;
	} else {
		snprintf(why, len, "portal login: %.180s", an.why);
		r = an.unreachable ? an.unreachable : -EAGAIN;
	}
	answer_clear(&an);
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* Calls one service with the cached session; on an expired session logs in
 * again once and repeats. Returns 0, -EAGAIN or a permanent errno. */
static int call_service(struct dvcqg *a, struct motcua_delivery *d, const char *service,
			int updating, json_t *data, const char *idem_key, char *ref, size_t ref_len)
{
	char *session = NULL;
	int r = session_get(a, NULL, &session, d->message, sizeof d->message);
	for (int round = 0; r == 0; round++) {
		json_t *req = json_pack("{s:s, s:s, s:s, s:b, s:O}", "session", session, "madonvi",
					a->agency_code, "service", service, "isUpdating", updating,
					"data", data);
		char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
		json_decref(req);
		if (!body) {
			r = -ENOMEM;
			break;
		}
		struct answer an;
		post_json(a, a->service_path, body, idem_key, &an);
		free(body);
		if (an.outcome == EXPIRED && round == 0) {
			char *stale = session;
			session = NULL;
			r = session_get(a, stale, &session, d->message, sizeof d->message);
			free(stale);
			answer_clear(&an);
			continue;
		}
		switch (an.outcome) {
		case OK:
			r = 0;
			snprintf(ref, ref_len, "%s", json_str_or(an.body, "ref", ""));
			break;
		case EXPIRED: /* again, right after a fresh login: try later */
			r = -EAGAIN;
			break;
		case TRANSIENT:
			r = an.unreachable ? an.unreachable : -EAGAIN;
			break;
		case REFUSED:
			r = -EPROTO;
			break;
		}
		if (r)
			snprintf(d->message, sizeof d->message, "%s: %s", service, an.why);
		answer_clear(&an);
		break;
	}
	free(session);
	return r;
}

/* ---- the adapter ops ------------------------------------------------------------------ */

static int dvcqg_accepts(void *data, const char *procedure_code, const char *event_type)
{
	struct dvcqg *a = data;
	if (!event_type ||
	    (strcmp(event_type, "dossier.created") && strcmp(event_type, "document.done") &&
	     strcmp(event_type, "dossier.status")))
		return 0;
	return motcua_list_has(a->procedures, procedure_code);
}

static int dvcqg_deliver(void *data, struct motcua_delivery *d)
{
	struct dvcqg *a = data;
	int r = 0;
	d->message[0] = 0;
	json_t *dossier = json_loads(d->dossier_json ? d->dossier_json : "", 0, NULL);
	json_t *event = json_loads(d->event_json ? d->event_json : "{}", 0, NULL);
	json_t *rec = NULL, *progress = NULL;
	if (!json_is_object(dossier)) {
		snprintf(d->message, sizeof d->message, "the dossier is not a JSON object");
		r = -EINVAL;
		goto out;
	}
	int created = !strcmp(d->event_type, "dossier.created");
	int status_change = !strcmp(d->event_type, "dossier.status");
	rec = dossier_record(dossier, event, d->event_type, d->message, sizeof d->message);
	if (!rec) {
		r = -EINVAL;
		goto out;
	}
	if (status_change) {
		progress = progress_record(a, dossier, event, rec, d->message, sizeof d->message);
		if (!progress) {
			r = -EINVAL;
			goto out;
		}
	}
	char ref[128] = "", key[300];
	json_t *arr = json_pack("[O]", rec);
	r = call_service(a, d, "DongBoHoSoMC", !created, arr, d->idempotency_key, ref, sizeof ref);
	json_decref(arr);
	if (r == 0 && progress) {
		/* its own key: the portal must not take it for a repeat of the sync */
		char ref2[128] = "";
		snprintf(key, sizeof key, "%s.progress", d->idempotency_key);
		arr = json_pack("[O]", progress);
		r = call_service(a, d, "CapNhatTienDoHoSoMC", 1, arr, key, ref2, sizeof ref2);
		json_decref(arr);
	}
	if (r == 0) {
		snprintf(d->peer_ref, sizeof d->peer_ref, "%s", ref);
		snprintf(d->message, sizeof d->message, "synced to the national portal%s%s%s",
			 progress ? " with progress" : "", *ref ? ", ref " : "", ref);
	}
out:
	json_decref(dossier);
	json_decref(event);
	json_decref(rec);
	json_decref(progress);
	return r;
}

/* ---- life cycle ------------------------------------------------------------------------- */

static void dvcqg_free(struct dvcqg *a)
{
	if (!a)
		return;
	free(a->url);
	free(a->login_path);
	free(a->service_path);
	free(a->username);
	if (a->password) {
		explicit_bzero(a->password, strlen(a->password));
		free(a->password);
	}
	free(a->agency_code);
	free(a->ca_file);
	free(a->procedures);
	free(a->session);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* The password: the first line of password_file (up to a CR, as before),
 * read through the host's secret_read() under the gateway's one policy, its
 * reason in why when it refuses the file. */
static int read_password(struct dvcqg *a, const char *path, char *why, size_t len)
{
	char buf[PASSWORD_FILE_MAX + 1];
	int r = a->host->secret_read(a->ctx, "password_file", path, MOTCUA_SECRET_LINE, buf,
				     sizeof buf, NULL, why, len);
	if (r < 0)
		return r; /* buf wiped by secret_read */
	buf[strcspn(buf, "\r")] = 0;
	if (!buf[0]) {
		snprintf(why, len, "password_file %s: its first line is empty up to a CR", path);
		r = -EINVAL;
	} else if (!(a->password = strdup(buf))) {
		r = -ENOMEM;
	}
	explicit_bzero(buf, sizeof buf);
	return r;
}

static char *path_key(const char *v, const char *dflt)
{
	const char *s = v && *v ? v : dflt;
	if (s[0] == '/')
		return strdup(s);
	char *p = NULL;
	return asprintf(&p, "/%s", s) < 0 ? NULL : p;
}

static int dvcqg_init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	char why[512] = "";
	int r = -EINVAL;
	if (host->struct_size <
		offsetof(struct motcua_host, adapter_register) + sizeof host->adapter_register ||
	    !host->adapter_register) {
		host->log(ctx, MOTCUA_LOG_ERROR, "this gateway has no outbox (adapter_register)");
		return -ENOTSUP;
	}
	if (!MOTCUA_HAS_MEMBER(struct motcua_host, host, secret_read) || !host->secret_read) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "this gateway is too old: it cannot read password_file (no secret_read "
			  "in its host table); "
			  "update the gateway");
		return -ENOTSUP;
	}
	struct dvcqg *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	a->ctx = ctx;
	a->host = host;
	const char *url = host->config_get(ctx, NULL, "url");
	const char *user = host->config_get(ctx, NULL, "username");
	const char *pwfile = host->config_get(ctx, NULL, "password_file");
	const char *timeout = host->config_get(ctx, NULL, "timeout_s");
	const char *agency = host->config_get(ctx, NULL, "agency_code");
	if (!agency || !*agency)
		agency = host->config_get(ctx, "office", "agency_code");
	const char *procs = host->config_get(ctx, NULL, "procedures");
	const char *ca = host->config_get(ctx, NULL, "ca_file");
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
		snprintf(why, sizeof why, "url must be the portal's http:// or https:// address");
		goto fail;
	}
	if (!user || !*user) {
		snprintf(why, sizeof why, "username is not set");
		goto fail;
	}
	if (!pwfile || !*pwfile) {
		snprintf(why, sizeof why, "password_file is not set");
		goto fail;
	}
	if ((r = read_password(a, pwfile, why, sizeof why)) < 0)
		goto fail;
	r = -EINVAL;
	a->timeout_s = 30;
	if (timeout) {
		char *end;
		long t = strtol(timeout, &end, 10);
		if (*end || t < 1 || t > 600) {
			snprintf(why, sizeof why, "timeout_s = '%s': must be 1-600 seconds",
				 timeout);
			goto fail;
		}
		a->timeout_s = t;
	}
	if (!agency || !*agency) {
		snprintf(why, sizeof why, "agency_code is not set (nor [office] agency_code)");
		goto fail;
	}
	a->url = strdup(url);
	if (a->url)
		for (size_t n = strlen(a->url); n && a->url[n - 1] == '/'; n--)
			a->url[n - 1] = 0;
	a->username = strdup(user);
	a->agency_code = strdup(agency);
	a->procedures = strdup(procs && *procs ? procs : "*");
	a->ca_file = ca && *ca ? strdup(ca) : NULL;
	a->login_path = path_key(host->config_get(ctx, NULL, "login_path"), "/api/auth/login");
	a->service_path = path_key(host->config_get(ctx, NULL, "service_path"), "/api/dvcqg/sync");
	if (!a->url || !a->username || !a->agency_code || !a->procedures || !a->login_path ||
	    !a->service_path || (ca && *ca && !a->ca_file)) {
		r = -ENOMEM;
		goto fail;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		r = -ENOMEM;
		snprintf(why, sizeof why, "libcurl did not start");
		goto fail;
	}
	struct motcua_adapter_ops ops = {
	    .struct_size = sizeof ops,
	    .accepts = dvcqg_accepts,
	    .deliver = dvcqg_deliver,
	};
	r = host->adapter_register(ctx, &ops, a, NULL);
	if (r < 0) {
		snprintf(why, sizeof why, "cannot register as a destination: %s", strerror(-r));
		goto fail;
	}
	host->log(ctx, MOTCUA_LOG_INFO, "syncing dossiers of procedures '%s' to %s as %s (unit %s)",
		  a->procedures, a->url, a->username, a->agency_code);
	*state = a;
	return 0;
fail:
	if (*why)
		host->log(ctx, MOTCUA_LOG_ERROR, "%s", why);
	dvcqg_free(a);
	return r;
}

static void dvcqg_fini(void *state)
{
	dvcqg_free(state);
}

static const struct motcua_config_key keys[] = {
    {"url", "the portal's base URL (https://...)"},
    {"username", "the account the portal gave this office"},
    {"password_file", "file holding its password (mode 0600)"},
    {"timeout_s", "seconds one call may take (default 30)"},
    {"agency_code", "the unit code sent as madonvi (default [office] agency_code)"},
    {"login_path", "path of the login call under url (default /api/auth/login)"},
    {"service_path", "path of the sync calls under url (default /api/dvcqg/sync)"},
    {"procedures", "procedure codes synced, `*` for all (default *)"},
    {"ca_file", "CA bundle for the portal's certificate (default: the system's)"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = PLUGIN_NAME,
    .version = "1.0.0",
    .provides = MOTCUA_PROVIDES_ADAPTER,
    .config_keys = keys,
    .init = dvcqg_init,
    .fini = dvcqg_fini,
};

MOTCUA_PLUGIN_DECLARE(info)
