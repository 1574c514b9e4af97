/* SPDX-License-Identifier: MIT */
/*
 * adapter-http-json: delivers the outbox's rows to an agency's REST/JSON API
 * (or a provincial integration platform, LGSP-style) and takes status updates
 * and results back, by webhook or by polling.
 *
 *   deliver()   POST <url>, a JSON body (the dossier, its documents, the
 *               event, the idempotency key), header Idempotency-Key; auth by
 *               bearer token, HMAC-SHA256 of the body, or mutual TLS.
 *   webhook     POST /api/v1/plugins/adapter-http-json/webhook (agency role):
 *               {"code", "status", "note"?, "result"?}
 *   poll        GET <poll_url> every poll_interval_s: {"updates": [...]}
 *
 * The wire format and the HMAC scheme are documented in README.md.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <motcua/plugin.h>

#include "plugin-io.h"

#define PLUGIN_NAME "adapter-http-json"
#define PLUGIN_VERSION "1.0"
#define MAX_ANSWER (1u << 20)	  /* what we read of a peer's answer */
#define MAX_SECRET 4096		  /* a token or HMAC key file */
#define MAX_HANDLES 64		  /* idle CURL handles kept for reuse */
#define MAX_CODE 64		  /* a dossier code */
#define MAX_NOTE 4000		  /* bytes of a status note */
#define MAX_NAME 200		  /* bytes of a result's file name */
#define MAX_UPDATES 1000	  /* updates in one poll answer */
#define WEBHOOK_SLACK (64u << 10) /* webhook body beyond the base64 of a result */

enum auth { AUTH_NONE, AUTH_BEARER, AUTH_HMAC, AUTH_MTLS };
enum send_files { SEND_NONE, SEND_LINKS, SEND_BASE64 };

enum event_bit {
	EV_CREATED = 1u << 0,
	EV_DOCUMENT = 1u << 1,
	EV_STATUS = 1u << 2,
	EV_OTHER = 1u << 3,
};

struct adapter {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	char *url;
	enum auth auth;
	char *bearer_header;	 /* "Authorization: Bearer ..." (secret) */
	unsigned char *hmac_key; /* secret */
	size_t hmac_key_len;
	char *client_cert, *client_key, *ca_file;
	char *client_key_pem; /* the client key's bytes (secret), MOTCUA_SECRET_MAX + 1 */
	size_t client_key_len;
	long timeout_s;
	char **procedures;
	size_t n_procedures;
	bool all_procedures;
	unsigned events;
	char *agency_code;
	enum send_files send_files;
	char *link_base_url;
	size_t max_file_bytes;
	size_t max_result_bytes;
	long hmac_max_skew_s;
	char *poll_url;
	unsigned poll_interval_s;
	bool poll_running;
	char *dir;    /* <data_dir>/adapter-http-json */
	char *cursor; /* the poll cursor the peer gave last (loop only) */

	pthread_mutex_t pool_lock;
	CURL *pool[MAX_HANDLES];
	size_t n_pool;

	atomic_ulong delivered, retried, rejected, updates, results;
	atomic_ulong tmp_seq;
};

/* ---- small helpers ------------------------------------------------------------------ */

static int fail(char *msg, size_t len, int r, const char *fmt, ...) MOTCUA_PRINTF(4, 5);
static int fail(char *msg, size_t len, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return r;
}

static void wipe_free(void *p, size_t len)
{
	if (p) {
		OPENSSL_cleanse(p, len);
		free(p);
	}
}

static void iso_now(char *buf, size_t len)
{
	/* Vietnam time, as the rest of the gateway writes it. */
	time_t t = time(NULL) + 7 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

/* HMAC-SHA256 over "<timestamp>.<body>", as lowercase hex (65 bytes with NUL). */
static int sign_body(const struct adapter *a, const char *ts, const char *body, size_t len,
		     char out[65])
{
	unsigned char mac[32];
	unsigned int mac_len = 0;
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
			       OSSL_PARAM_construct_end()};
	size_t got = 0;
	int ok = c && EVP_MAC_init(c, a->hmac_key, a->hmac_key_len, params) &&
		 EVP_MAC_update(c, (const unsigned char *)ts, strlen(ts)) &&
		 EVP_MAC_update(c, (const unsigned char *)".", 1) &&
		 EVP_MAC_update(c, (const unsigned char *)body, len) &&
		 EVP_MAC_final(c, mac, &got, sizeof mac);
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	if (!ok || got != sizeof mac)
		return -EIO;
	mac_len = (unsigned int)got;
	hex(mac, mac_len, out);
	OPENSSL_cleanse(mac, sizeof mac);
	return 0;
}

/* token_file, hmac_key_file and client_key are read under the gateway's one
 * policy for secret files, host->secret_read(), which a gateway older than
 * it does not have: such a gateway is refused when the configuration names
 * a secret file the adapter reads (and serves an adapter that needs none). */
static int need_secret_read(const struct adapter *a, const char *key, char *msg, size_t len)
{
	if (MOTCUA_HAS_MEMBER(struct motcua_host, a->host, secret_read) && a->host->secret_read)
		return 0;
	return fail(msg, len, -ENOTSUP,
		    "%s: this gateway is too old: it cannot read secret files (no secret_read in "
		    "its host table); "
		    "update the gateway",
		    key);
}

/* The first line of a secret file (a token, an HMAC key), read through the
 * host's secret_read(): the gateway's one policy, and its reason in msg when
 * it refuses the file. As before, the line also ends at a CR, and blanks at
 * its end are not part of the secret. *out is MAX_SECRET + 1 bytes:
 * wipe_free() it. */
static int read_secret(struct adapter *a, const char *key, const char *path, unsigned char **out,
		       size_t *out_len, char *msg, size_t len)
{
	int r = need_secret_read(a, key, msg, len);
	if (r < 0)
		return r;
	unsigned char *buf = malloc(MAX_SECRET + 1);
	if (!buf)
		return -ENOMEM;
	size_t line = 0;
	r = a->host->secret_read(a->ctx, key, path, MOTCUA_SECRET_LINE, (char *)buf, MAX_SECRET + 1,
				 &line, msg, len);
	if (r < 0) {
		free(buf); /* wiped by secret_read */
		return r;
	}
	unsigned char *cr = memchr(buf, '\r', line);
	if (cr)
		line = (size_t)(cr - buf);
	while (line > 0 && (buf[line - 1] == ' ' || buf[line - 1] == '\t'))
		line--;
	OPENSSL_cleanse(buf + line, MAX_SECRET + 1 - line);
	if (line == 0) {
		wipe_free(buf, MAX_SECRET + 1);
		return fail(msg, len, -EINVAL, "%s %s: has a blank first line", key, path);
	}
	*out = buf;
	*out_len = line;
	return 0;
}

/* The mTLS client key, read whole through the host's secret_read() and kept
 * in memory for libcurl (CURLOPT_SSLKEY_BLOB): the file is read once, under
 * the policy, and never again by path. Every new connection needs the key,
 * so the bytes live as long as the adapter and are wiped with it. */
static int read_client_key(struct adapter *a, char *msg, size_t len)
{
	int r = need_secret_read(a, "client_key", msg, len);
	if (r < 0)
		return r;
	a->client_key_pem = malloc(MOTCUA_SECRET_MAX + 1);
	if (!a->client_key_pem)
		return -ENOMEM;
	return a->host->secret_read(a->ctx, "client_key", a->client_key, 0, a->client_key_pem,
				    MOTCUA_SECRET_MAX + 1, &a->client_key_len, msg, len);
}

static int check_readable(const char *key, const char *path, char *msg, size_t len)
{
	if (access(path, R_OK) < 0)
		return fail(msg, len, -errno, "%s: cannot read %s: %s", key, path, strerror(errno));
	return 0;
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static unsigned event_bit(const char *type)
{
	if (!type)
		return EV_OTHER;
	if (!strcmp(type, "dossier.created"))
		return EV_CREATED;
	if (!strcmp(type, "document.done"))
		return EV_DOCUMENT;
	if (!strcmp(type, "dossier.status"))
		return EV_STATUS;
	return EV_OTHER;
}

/* A comma-separated list, items trimmed, empty items dropped. */
static int split_list(const char *s, char ***out, size_t *n_out)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = s;
	while (*p) {
		const char *e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		const char *b = p;
		const char *t = e;
		while (b < t && isspace((unsigned char)*b))
			b++;
		while (t > b && isspace((unsigned char)t[-1]))
			t--;
		if (t > b) {
			char **nv = realloc(v, (n + 1) * sizeof *v);
			if (!nv)
				goto oom;
			v = nv;
			v[n] = strndup(b, (size_t)(t - b));
			if (!v[n])
				goto oom;
			n++;
		}
		p = *e ? e + 1 : e;
	}
	*out = v;
	*n_out = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}

/* ---- CURL handles: one per worker at a time, kept for keep-alive --------------------- */

static CURL *handle_get(struct adapter *a)
{
	CURL *c = NULL;
	pthread_mutex_lock(&a->pool_lock);
	if (a->n_pool)
		c = a->pool[--a->n_pool];
	pthread_mutex_unlock(&a->pool_lock);
	if (c)
		curl_easy_reset(c); /* keeps the live connections and TLS sessions */
	else
		c = curl_easy_init();
	return c;
}

static void handle_put(struct adapter *a, CURL *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&a->pool_lock);
	if (a->n_pool < MAX_HANDLES) {
		a->pool[a->n_pool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&a->pool_lock);
	if (c)
		curl_easy_cleanup(c);
}

struct answer {
	char *buf;
	size_t len;
	bool too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
	struct answer *ans = data;
	size_t k = size * n;
	if (ans->len + k > MAX_ANSWER) {
		ans->too_big = true;
		return 0;
	}
	char *nb = realloc(ans->buf, ans->len + k + 1);
	if (!nb)
		return 0;
	memcpy(nb + ans->len, p, k);
	ans->len += k;
	nb[ans->len] = 0;
	ans->buf = nb;
	return k;
}

/* One HTTP exchange with the peer, with the configured auth and TLS. */
struct exchange {
	const char *url;
	const char *method; /* "POST" or "GET" */
	const char *body;
	size_t body_len;
	const char *idempotency_key;
	const char *event_type;
	/* out */
	CURLcode cc;
	long status;
	char curl_error[CURL_ERROR_SIZE];
	struct answer answer;
	char content_type[128];
};

static int exchange_run(struct adapter *a, CURL *c, struct exchange *x)
{
	struct curl_slist *h = NULL, *t;
	char line[512];
	int r = -ENOMEM;
	x->curl_error[0] = 0;
	x->status = 0;

#define ADD(s)                                                                                     \
	do {                                                                                       \
		t = curl_slist_append(h, (s));                                                     \
		if (!t)                                                                            \
			goto out;                                                                  \
		h = t;                                                                             \
	} while (0)

	ADD("Accept: application/json");
	ADD("Expect:"); /* no 100-continue round trip */
	if (!strcmp(x->method, "POST"))
		ADD("Content-Type: application/json; charset=utf-8");
	if (x->idempotency_key) {
		snprintf(line, sizeof line, "Idempotency-Key: %s", x->idempotency_key);
		ADD(line);
	}
	if (x->event_type) {
		snprintf(line, sizeof line, "X-Motcua-Event: %s", x->event_type);
		ADD(line);
	}
	if (a->auth == AUTH_BEARER)
		ADD(a->bearer_header);
	if (a->auth == AUTH_HMAC) {
		char ts[32], sig[65];
		snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
		if (sign_body(a, ts, x->body ? x->body : "", x->body_len, sig) < 0) {
			r = -EIO;
			goto out;
		}
		snprintf(line, sizeof line, "X-Motcua-Timestamp: %s", ts);
		ADD(line);
		snprintf(line, sizeof line, "X-Motcua-Signature: sha256=%s", sig);
		ADD(line);
	}
	if (a->agency_code) {
		snprintf(line, sizeof line, "X-Motcua-Agency: %.200s", a->agency_code);
		ADD(line);
	}
#undef ADD

	curl_easy_setopt(c, CURLOPT_URL, x->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, a->timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, a->timeout_s < 10 ? a->timeout_s : 10L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x->answer);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->curl_error);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "motcua-" PLUGIN_NAME "/" PLUGIN_VERSION);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if (a->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_file);
	if (a->client_cert) {
		/* the key's bytes, not copied: they live (and are wiped) with the
		 * adapter, after its handles */
		struct curl_blob key = {
		    .data = a->client_key_pem, .len = a->client_key_len, .flags = CURL_BLOB_NOCOPY};
		curl_easy_setopt(c, CURLOPT_SSLCERT, a->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
	}
	if (!strcmp(x->method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	x->cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->status);
	char *ct = NULL;
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(x->content_type, sizeof x->content_type, "%s", ct);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	r = 0;
out:
	/* one of the lines may be the bearer token: libcurl frees them unwiped */
	for (t = h; t; t = t->next)
		OPENSSL_cleanse(t->data, strlen(t->data));
	curl_slist_free_all(h);
	return r;
}

/* The peer's text from an error answer: "error"/"message"/"detail" of a JSON
 * body, or the body itself, on one line, bounded. */
static void peer_text(const struct answer *ans, char *out, size_t len)
{
	out[0] = 0;
	if (!ans->buf || !ans->len)
		return;
	json_t *j = json_loadb(ans->buf, ans->len, 0, NULL);
	const char *s = NULL;
	if (json_is_object(j)) {
		static const char *keys[] = {"error", "message", "detail", "title"};
		for (size_t i = 0; i < sizeof keys / sizeof *keys && !s; i++) {
			json_t *v = json_object_get(j, keys[i]);
			if (json_is_string(v))
				s = json_string_value(v);
			else if (json_is_object(v) && json_is_string(json_object_get(v, "message")))
				s = json_string_value(json_object_get(v, "message"));
		}
	}
	if (!s)
		s = ans->buf;
	size_t o = 0;
	for (; *s && o + 1 < len; s++)
		out[o++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
	out[o] = 0;
	json_decref(j);
}

/* Did the TLS layer say the server refused our client certificate (or that it
 * wanted one)? OpenSSL puts the peer's alert in the error text. */
static bool client_cert_refused(const char *err)
{
	static const char *alerts[] = {"alert unknown ca",
				       "alert bad certificate",
				       "alert certificate required",
				       "alert certificate unknown",
				       "alert certificate expired",
				       "alert certificate revoked",
				       "alert unsupported certificate",
				       "alert access denied"};
	for (size_t i = 0; i < sizeof alerts / sizeof *alerts; i++)
		if (strcasestr(err, alerts[i]))
			return true;
	return false;
}

/* Maps a failed transfer (curl error) to -EAGAIN or a permanent error. */
static int map_transport(const struct adapter *a, const struct exchange *x, char *msg, size_t len)
{
	const char *err = x->curl_error[0] ? x->curl_error : curl_easy_strerror(x->cc);
	if (client_cert_refused(err))
		return fail(
		    msg, len, -EPERM,
		    "máy chủ từ chối chứng thư máy khách / the server refused the client "
		    "certificate%s "
		    "(check client_cert/client_key against the CA the agency trusts): %.120s",
		    a->client_cert ? "" : " (it wants one: auth = mtls)", err);
	switch (x->cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		return fail(
		    msg, len, -EPERM,
		    "chứng thư máy chủ không tin cậy / the server's certificate is not trusted "
		    "(ca_file %.60s): %.120s",
		    a->ca_file ? a->ca_file : "= system store", err);
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return fail(msg, len, -EINVAL,
			    "TLS configuration problem (client_cert, client_key, ca_file): %.150s",
			    err);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return fail(msg, len, -EINVAL, "bad url: %.180s", err);
	/* The peer itself cannot be reached: the outbox pauses this destination
	 * (one probe per backoff) instead of trying every row. */
	case CURLE_COULDNT_CONNECT:
		return fail(msg, len, -ECONNREFUSED,
			    "không kết nối được / cannot connect to the peer: %.150s", err);
	case CURLE_COULDNT_RESOLVE_HOST:
		return fail(msg, len, -EHOSTUNREACH,
			    "không tìm thấy máy chủ / cannot resolve the peer's name: %.150s", err);
	case CURLE_OPERATION_TIMEDOUT:
		return fail(msg, len, -EAGAIN,
			    "hết thời gian chờ / no answer within timeout_s = %ld s: %.150s",
			    a->timeout_s, err);
	case CURLE_WRITE_ERROR:
		if (x->answer.too_big)
			return fail(msg, len, -EAGAIN, "the peer's answer is larger than %u bytes",
				    MAX_ANSWER);
		break;
	default:
		break;
	}
	/* Connection refused or reset, DNS, a TLS handshake cut by the network,
	 * nothing received: worth trying again later. Under TLS 1.3 a server
	 * that refuses our certificate after the handshake and resets at once
	 * looks like this too: say so, in case it persists. */
	if (!strncmp(x->url, "https://", 8) &&
	    (x->cc == CURLE_SEND_ERROR || x->cc == CURLE_RECV_ERROR ||
	     x->cc == CURLE_SSL_CONNECT_ERROR))
		return fail(
		    msg, len, -EAGAIN,
		    "kết nối TLS bị ngắt / TLS connection cut (%s): %.110s; if it persists, check "
		    "client_cert against the CA the agency trusts",
		    curl_easy_strerror(x->cc), err);
	return fail(msg, len, -EAGAIN, "không kết nối được / peer unreachable (%s): %.150s",
		    curl_easy_strerror(x->cc), err);
}

/* Maps an HTTP answer of a delivery to the outbox's result. */
static int map_answer(const struct adapter *a, const struct exchange *x, struct motcua_delivery *d)
{
	char text[200];
	long s = x->status;
	(void)a;
	if (s >= 200 && s < 300) {
		if (x->answer.len == 0 || s == 204) {
			snprintf(d->message, sizeof d->message, "delivered (HTTP %ld)", s);
			return 0;
		}
		json_error_t je;
		json_t *j = json_loadb(x->answer.buf, x->answer.len, 0, &je);
		if (!j) {
			peer_text(&x->answer, text, 80);
			return fail(
			    d->message, sizeof d->message, -EAGAIN,
			    "the peer answered %ld but not with JSON (%s): \"%.80s\"; will retry",
			    s, je.text, text);
		}
		if (json_is_object(j)) {
			static const char *keys[] = {"id", "ref", "reference", "peer_ref",
						     "ma_ho_so"};
			for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
				json_t *v = json_object_get(j, keys[i]);
				if (json_is_string(v) && json_string_length(v) > 0) {
					snprintf(d->peer_ref, sizeof d->peer_ref, "%s",
						 json_string_value(v));
					break;
				}
				if (json_is_integer(v)) {
					snprintf(d->peer_ref, sizeof d->peer_ref,
						 "%" JSON_INTEGER_FORMAT, json_integer_value(v));
					break;
				}
			}
		}
		json_decref(j);
		snprintf(d->message, sizeof d->message, "delivered (HTTP %ld%s%s)", s,
			 d->peer_ref[0] ? ", ref " : "", d->peer_ref);
		return 0;
	}
	peer_text(&x->answer, text, sizeof text);
	if (s == 408 || s == 425 || s == 429 || s >= 500)
		return fail(d->message, sizeof d->message, -EAGAIN,
			    "the peer answered %ld, will retry: %.180s", s, text);
	if (s == 401 || s == 403)
		return fail(d->message, sizeof d->message, -EPERM,
			    "bị từ chối / the peer refused our credentials (HTTP %ld): %.150s", s,
			    text);
	if (s >= 300 && s < 400)
		return fail(d->message, sizeof d->message, -EBADMSG,
			    "the peer answered %ld (a redirect): set url to the new address", s);
	return fail(d->message, sizeof d->message, -EBADMSG,
		    "bị từ chối / the peer rejected it (HTTP %ld): %.170s", s, text);
}

/* ---- the delivery body ---------------------------------------------------------------- */

/* The file at path (at most max bytes) in base64; NULL with *err set (and
 * *size_out its size when it is -EFBIG). */
static char *base64_file(const char *path, size_t max, size_t *size_out, int *err)
{
	unsigned char *raw = NULL;
	size_t n = 0;
	*err = io_read_file(path, max, &raw, &n);
	*size_out = n;
	if (*err < 0)
		return NULL;
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
	else
		*err = -ENOMEM;
	free(raw);
	return out;
}

static bool url_safe(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-._~", *s))
			return false;
	return true;
}

/* Adds the file (or a link to it) to one document of the body. */
static int add_file(const struct adapter *a, json_t *doc, const char *code, json_t *src, char *msg,
		    size_t len)
{
	const char *id = json_string_value(json_object_get(src, "id"));
	if (a->send_files == SEND_LINKS) {
		if (!id || !url_safe(id) || !url_safe(code))
			return 0;
		char link[1024];
		snprintf(link, sizeof link, "%s/api/v1/dossiers/%s/documents/%s/content",
			 a->link_base_url, code, id);
		json_object_set_new(doc, "url", json_string(link));
		if (json_is_string(json_object_get(src, "sidecar_path"))) {
			snprintf(link, sizeof link, "%s/api/v1/dossiers/%s/documents/%s/sidecar",
				 a->link_base_url, code, id);
			json_object_set_new(doc, "sidecar_url", json_string(link));
		}
		return 0;
	}
	static const struct {
		const char *path_key, *out_key;
	} files[] = {{"path", "content_base64"}, {"sidecar_path", "sidecar_base64"}};
	for (size_t i = 0; i < 2; i++) {
		const char *path = json_string_value(json_object_get(src, files[i].path_key));
		if (!path)
			continue;
		size_t size = 0;
		int e;
		char *b64 = base64_file(path, a->max_file_bytes, &size, &e);
		if (e == -EFBIG) {
			char why[96];
			snprintf(why, sizeof why, "larger than max_file_mb (%zu bytes)", size);
			json_object_set_new(doc, "content_omitted", json_string(why));
			continue;
		}
		if (!b64)
			return fail(msg, len, e == -ENOMEM ? -ENOMEM : -EAGAIN,
				    "cannot read document %s's file: %s", id ? id : "?",
				    strerror(-e));
		json_object_set_new(doc, files[i].out_key, json_string_nocheck(b64));
		free(b64);
	}
	return 0;
}

static int build_body(const struct adapter *a, const struct motcua_delivery *d, char **out,
		      size_t *out_len, char *msg, size_t len)
{
	int r = -ENOMEM;
	json_error_t je;
	json_t *body = NULL, *docs = NULL;
	json_t *dossier = json_loads(d->dossier_json ? d->dossier_json : "", 0, &je);
	json_t *event = d->event_json ? json_loads(d->event_json, 0, NULL) : json_object();
	if (!json_is_object(dossier)) {
		r = fail(msg, len, -EINVAL, "the dossier is not a JSON object (%s)", je.text);
		goto out;
	}
	if (!json_is_object(event)) {
		json_decref(event);
		event = json_object();
	}
	body = json_object();
	docs = json_array();
	if (!body || !docs || !event)
		goto out;
	const char *k;
	json_t *v;
	json_object_foreach(dossier, k, v)
	{
		if (strcmp(k, "documents"))
			json_object_set(body, k, v);
	}
	/* The fields every receiver relies on are always there. */
	if (!json_is_string(json_object_get(body, "code")))
		json_object_set_new(body, "code",
				    json_string(d->dossier_code ? d->dossier_code : ""));
	if (!json_object_get(body, "procedure_code"))
		json_object_set_new(body, "procedure_code", json_null());
	if (!json_object_get(body, "status"))
		json_object_set_new(body, "status", json_null());
	if (!json_is_object(json_object_get(body, "applicant")))
		json_object_set_new(body, "applicant", json_object());
	if (a->agency_code)
		json_object_set_new(body, "agency_code", json_string(a->agency_code));
	const char *code = json_string_value(json_object_get(body, "code"));
	bool with_files =
	    a->send_files != SEND_NONE &&
	    (a->send_files == SEND_LINKS || event_bit(d->event_type) & (EV_CREATED | EV_DOCUMENT));
	size_t i;
	json_array_foreach(json_object_get(dossier, "documents"), i, v)
	{
		if (!json_is_object(v))
			continue;
		json_t *doc = json_object();
		if (!doc)
			goto out;
		json_object_foreach(v, k, v)
		{
			if (strcmp(k, "path") && strcmp(k, "sidecar_path"))
				json_object_set(doc, k, v);
		}
		v = json_array_get(json_object_get(dossier, "documents"), i);
		if (with_files && (r = add_file(a, doc, code, v, msg, len)) < 0) {
			json_decref(doc);
			goto out;
		}
		json_array_append_new(docs, doc);
	}
	json_object_set_new(body, "documents", docs);
	docs = NULL;
	json_object_set_new(event, "type", json_string(d->event_type ? d->event_type : ""));
	if (!json_is_string(json_object_get(event, "at"))) {
		char now[40];
		iso_now(now, sizeof now);
		json_object_set_new(event, "at", json_string(now));
	}
	json_object_set_new(body, "event", event);
	event = NULL;
	json_object_set_new(body, "idempotency_key",
			    json_string(d->idempotency_key ? d->idempotency_key : ""));
	json_object_set_new(body, "attempt", json_integer(d->attempt));
	*out = json_dumps(body, JSON_COMPACT);
	if (!*out)
		goto out;
	*out_len = strlen(*out);
	r = 0;
out:
	json_decref(dossier);
	json_decref(event);
	json_decref(body);
	json_decref(docs);
	return r;
}

/* ---- the adapter ops ----------------------------------------------------------------- */

static int accepts(void *data, const char *procedure_code, const char *event_type)
{
	struct adapter *a = data;
	if (!(a->events & event_bit(event_type)))
		return 0;
	if (a->all_procedures)
		return 1;
	if (!procedure_code)
		return 0;
	for (size_t i = 0; i < a->n_procedures; i++)
		if (!strcmp(a->procedures[i], procedure_code))
			return 1;
	return 0;
}

static int deliver(void *data, struct motcua_delivery *d)
{
	struct adapter *a = data;
	char *body = NULL;
	size_t body_len = 0;
	d->message[0] = 0;
	d->peer_ref[0] = 0;
	if (!d->idempotency_key || !*d->idempotency_key || strpbrk(d->idempotency_key, "\r\n") ||
	    strlen(d->idempotency_key) > 400)
		return fail(d->message, sizeof d->message, -EINVAL,
			    "the row has no usable idempotency key");
	int r = build_body(a, d, &body, &body_len, d->message, sizeof d->message);
	if (r < 0)
		goto out;
	CURL *c = handle_get(a);
	if (!c) {
		r = fail(d->message, sizeof d->message, -EAGAIN, "out of memory for a connection");
		goto out;
	}
	struct exchange x = {
	    .url = a->url,
	    .method = "POST",
	    .body = body,
	    .body_len = body_len,
	    .idempotency_key = d->idempotency_key,
	    .event_type = d->event_type,
	};
	r = exchange_run(a, c, &x);
	if (r < 0) {
		r = fail(d->message, sizeof d->message, -EAGAIN, "cannot prepare the request: %s",
			 strerror(-r));
	} else if (x.cc != CURLE_OK) {
		r = map_transport(a, &x, d->message, sizeof d->message);
		/* A connection in an unknown state is not worth keeping. */
		curl_easy_cleanup(c);
		c = NULL;
	} else {
		r = map_answer(a, &x, d);
	}
	handle_put(a, c);
	free(x.answer.buf);
out:
	free(body);
	if (r == 0)
		atomic_fetch_add(&a->delivered, 1);
	else if (r == -EAGAIN)
		atomic_fetch_add(&a->retried, 1);
	else
		atomic_fetch_add(&a->rejected, 1);
	return r;
}

/* ---- status updates and results coming back ----------------------------------------- */

static const char *const result_types[] = {"application/pdf", "image/png", "image/jpeg",
					   "image/tiff"};

static bool magic_matches(const char *media_type, const unsigned char *p, size_t n)
{
	if (!strcmp(media_type, "application/pdf"))
		return n >= 5 && !memcmp(p, "%PDF-", 5);
	if (!strcmp(media_type, "image/png"))
		return n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8);
	if (!strcmp(media_type, "image/jpeg"))
		return n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff;
	if (!strcmp(media_type, "image/tiff"))
		return n >= 4 && (!memcmp(p, "II*\0", 4) || !memcmp(p, "MM\0*", 4));
	return false;
}

static bool code_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_CODE)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-._", *s))
			return false;
	return true;
}

static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
			return false;
	return true;
}

/* Strict base64 (RFC 4648, padding required, no whitespace). */
static int base64_decode(const char *in, size_t n, unsigned char **out, size_t *out_len)
{
	if (n % 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (!isalnum((unsigned char)ch) && ch != '+' && ch != '/' &&
		    !(ch == '=' && i >= n - 2))
			return -EINVAL;
		if (ch == '=' && i == n - 2 && in[n - 1] != '=')
			return -EINVAL;
	}
	unsigned char *buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	int k = n ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n) : 0;
	if (k < 0) {
		free(buf);
		return -EINVAL;
	}
	size_t pad = n >= 1 && in[n - 1] == '=' ? (n >= 2 && in[n - 2] == '=' ? 2 : 1) : 0;
	*out = buf;
	*out_len = (size_t)k - pad;
	return 0;
}

/* One update as the peer sent it, checked. */
struct update {
	char code[MAX_CODE + 1];
	int status;
	char *details; /* JSON object text */
	char *result_name;
	char result_type[32];
	unsigned char *result; /* decoded */
	size_t result_len;
	char *result_path; /* the temp file, once written */
};

static void update_clear(struct update *u)
{
	free(u->details);
	free(u->result_name);
	free(u->result);
	if (u->result_path) {
		unlink(u->result_path);
		free(u->result_path);
	}
	memset(u, 0, sizeof *u);
}

/* Checks one update object; 0 or -EINVAL with the reason in msg. */
static int update_parse(const struct adapter *a, json_t *j, const char *via, struct update *u,
			char *msg, size_t len)
{
	const char *k;
	json_t *v;
	memset(u, 0, sizeof *u);
	if (!json_is_object(j))
		return fail(msg, len, -EINVAL, "an update must be a JSON object");
	json_object_foreach(j, k, v)
	{
		if (strcmp(k, "code") && strcmp(k, "status") && strcmp(k, "note") &&
		    strcmp(k, "result") && strcmp(k, "agency_ref"))
			return fail(
			    msg, len, -EINVAL,
			    "unknown member \"%.40s\" (code, status, note, result, agency_ref)", k);
	}
	json_t *code = json_object_get(j, "code");
	if (!json_is_string(code))
		return fail(msg, len, -EINVAL, "\"code\" (the dossier code, a string) is missing");
	if (!code_ok(json_string_value(code)))
		return fail(msg, len, -EINVAL,
			    "\"code\" is not a dossier code (letters, digits, . - _; at most %d)",
			    MAX_CODE);
	snprintf(u->code, sizeof u->code, "%s", json_string_value(code));
	json_t *st = json_object_get(j, "status");
	if (!json_is_integer(st) || json_integer_value(st) < 1 || json_integer_value(st) > 10)
		return fail(msg, len, -EINVAL,
			    "\"status\" must be an integer from 1 to 10 (the national codes)");
	u->status = (int)json_integer_value(st);
	json_t *note = json_object_get(j, "note");
	if (note && !json_is_null(note) &&
	    (!json_is_string(note) || !text_ok(json_string_value(note), MAX_NOTE)))
		return fail(
		    msg, len, -EINVAL,
		    "\"note\" must be a string of at most %d bytes without control characters",
		    MAX_NOTE);
	json_t *ref = json_object_get(j, "agency_ref");
	if (ref && !json_is_null(ref) &&
	    (!json_is_string(ref) || !text_ok(json_string_value(ref), 128)))
		return fail(msg, len, -EINVAL,
			    "\"agency_ref\" must be a string of at most 128 bytes");
	json_t *res = json_object_get(j, "result");
	if (res && !json_is_null(res)) {
		if (!json_is_object(res))
			return fail(
			    msg, len, -EINVAL,
			    "\"result\" must be an object {name, media_type, content_base64}");
		json_t *name = json_object_get(res, "name"),
		       *mt = json_object_get(res, "media_type"),
		       *b64 = json_object_get(res, "content_base64");
		if (!json_is_string(name) || !json_string_length(name) ||
		    !text_ok(json_string_value(name), MAX_NAME) ||
		    strchr(json_string_value(name), '\n'))
			return fail(msg, len, -EINVAL,
				    "\"result.name\" must be a file name of at most %d bytes",
				    MAX_NAME);
		const char *type = json_string_value(mt);
		size_t t;
		for (t = 0; type && t < sizeof result_types / sizeof *result_types; t++)
			if (!strcmp(type, result_types[t]))
				break;
		if (!type || t == sizeof result_types / sizeof *result_types)
			return fail(msg, len, -EINVAL,
				    "\"result.media_type\" must be application/pdf, image/png, "
				    "image/jpeg or image/tiff");
		if (!json_is_string(b64))
			return fail(msg, len, -EINVAL, "\"result.content_base64\" is missing");
		size_t n = json_string_length(b64);
		if (n / 4 * 3 > a->max_result_bytes)
			return fail(msg, len, -EINVAL,
				    "the result is larger than max_result_mb (%zu MB)",
				    a->max_result_bytes >> 20);
		if (n == 0 ||
		    base64_decode(json_string_value(b64), n, &u->result, &u->result_len) < 0)
			return fail(msg, len, -EINVAL,
				    "\"result.content_base64\" is not valid base64");
		if (u->result_len > a->max_result_bytes ||
		    !magic_matches(type, u->result, u->result_len)) {
			bool big = u->result_len > a->max_result_bytes;
			free(u->result);
			u->result = NULL;
			return big ? fail(msg, len, -EINVAL,
					  "the result is larger than max_result_mb")
				   : fail(msg, len, -EINVAL, "the result's content is not %s",
					  type);
		}
		u->result_name = strdup(json_string_value(name));
		snprintf(u->result_type, sizeof u->result_type, "%s", type);
		if (!u->result_name)
			goto oom;
	}
	json_t *details = json_object();
	if (!details)
		goto oom;
	if (json_is_string(note))
		json_object_set(details, "note", note);
	if (json_is_string(ref))
		json_object_set(details, "agency_ref", ref);
	json_object_set_new(details, "source", json_string(PLUGIN_NAME));
	json_object_set_new(details, "via", json_string(via));
	if (a->agency_code)
		json_object_set_new(details, "agency_code", json_string(a->agency_code));
	u->details = json_dumps(details, JSON_COMPACT);
	json_decref(details);
	if (!u->details)
		goto oom;
	return 0;
oom:
	update_clear(u);
	return fail(msg, len, -ENOMEM, "out of memory");
}

/* Work function side: writes the decoded result into a temp file of ours. */
static int result_write(struct adapter *a, struct update *u)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/result-%ld-%lu.tmp", a->dir, (long)getpid(),
		 atomic_fetch_add(&a->tmp_seq, 1));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = io_write_all(fd, u->result, u->result_len);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r) {
		unlink(path);
		return r;
	}
	u->result_path = strdup(path);
	if (!u->result_path) {
		unlink(path);
		return -ENOMEM;
	}
	free(u->result);
	u->result = NULL;
	return 0;
}

/* Work function side: hands a result to the host (which copies it), then
 * deletes our temp file. */
static void result_hand_over(struct adapter *a, struct update *u)
{
	int r = u->result_path ? 0 : result_write(a, u);
	if (!r)
		r = a->host->result_add(a->ctx, u->code, u->result_path, u->result_type,
					u->result_name);
	if (r < 0)
		a->host->log(
		    a->ctx, MOTCUA_LOG_ERROR,
		    "kết quả của hồ sơ %s không lưu được / result \"%s\" of %s not added: %s",
		    u->code, u->result_name, u->code, strerror(-r));
	else
		atomic_fetch_add(&a->results, 1);
	if (u->result_path) {
		unlink(u->result_path);
		free(u->result_path);
		u->result_path = NULL;
	}
}

/* A batch of results to hand over on a worker (from the webhook or a poll). */
struct result_job {
	struct adapter *a;
	size_t n;
	struct update *u;
};

static void result_job_work(void *data)
{
	struct result_job *job = data;
	for (size_t i = 0; i < job->n; i++)
		if (job->u[i].result_name)
			result_hand_over(job->a, &job->u[i]);
}

static void result_job_done(void *data, int cancelled)
{
	struct result_job *job = data;
	if (cancelled)
		job->a->host->log(job->a->ctx, MOTCUA_LOG_WARNING,
				  "stopping: %zu result(s) not added", job->n);
	for (size_t i = 0; i < job->n; i++)
		update_clear(&job->u[i]);
	free(job->u);
	free(job);
}

/* On the loop: applies a status update; the result (if any) is moved into
 * *job for a worker. Returns 0 or the host's error. */
static int update_apply(struct adapter *a, struct update *u)
{
	int r = a->host->dossier_status(a->ctx, u->code, u->status, u->details);
	if (r == 0)
		atomic_fetch_add(&a->updates, 1);
	return r;
}

static int submit_results(struct adapter *a, struct update *u, size_t n)
{
	struct result_job *job = calloc(1, sizeof *job);
	if (!job)
		return -ENOMEM;
	job->a = a;
	job->u = u;
	job->n = n;
	int r = a->host->work_submit(a->ctx, result_job_work, result_job_done, job);
	if (r < 0) {
		job->u = NULL;
		free(job);
	}
	return r;
}

static int respond(const struct adapter *a, struct motcua_response *resp, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s) {
		a->host->response_set(resp, "application/json", s, strlen(s));
		free(s);
	}
	return status;
}

static int respond_error(const struct adapter *a, struct motcua_response *resp, int status,
			 const char *msg)
{
	/* the gateway's error shape: {"error": <code>, "detail": <reason>} */
	const char *code = status == 404   ? "not_found"
			   : status == 403 ? "forbidden"
			   : status < 500  ? "bad_request"
					   : "unavailable";
	return respond(a, resp, status, json_pack("{s:s, s:s}", "error", code, "detail", msg));
}

/* The value of key in a query string, into out (as is; "%3D" is turned into '='). */
static bool query_get(const char *q, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);
	while (q && *q) {
		const char *e = strchr(q, '&');
		size_t n = e ? (size_t)(e - q) : strlen(q);
		if (n > kl && !strncmp(q, key, kl) && q[kl] == '=') {
			size_t o = 0;
			for (size_t i = kl + 1; i < n && o + 1 < len; i++) {
				if (q[i] == '%' && i + 2 < n + 0 && !strncasecmp(q + i, "%3D", 3)) {
					out[o++] = '=';
					i += 2;
				} else {
					out[o++] = q[i];
				}
			}
			out[o] = 0;
			return true;
		}
		q = e ? e + 1 : NULL;
	}
	return false;
}

/* The webhook's HMAC, the same scheme as ours on deliveries: the headers
 * X-Motcua-Timestamp: <unix s> and X-Motcua-Signature: sha256=<hex of
 * HMAC-SHA256(key, "<timestamp>.<body>")> (or, from a gateway too old to pass
 * headers to plugins, ?timestamp=&signature=), timestamp within
 * hmac_max_skew_s. */
static int webhook_check_hmac(const struct adapter *a, const struct motcua_request *req, char *msg,
			      size_t len)
{
	char ts[32], sig[100], want[65];
	bool has_headers =
	    req->struct_size >= offsetof(struct motcua_request, header) + sizeof req->header &&
	    req->header;
	const char *hts = has_headers ? req->header(req, "X-Motcua-Timestamp") : NULL;
	const char *hsig = has_headers ? req->header(req, "X-Motcua-Signature") : NULL;
	if (hts && hsig && strlen(hts) < sizeof ts && strlen(hsig) < sizeof sig) {
		snprintf(ts, sizeof ts, "%s", hts);
		snprintf(sig, sizeof sig, "%s", hsig);
	} else if (!query_get(req->query, "timestamp", ts, sizeof ts) ||
		   !query_get(req->query, "signature", sig, sizeof sig)) {
		return fail(msg, len, -EPERM,
			    "chữ ký thiếu / the HMAC signature is missing (X-Motcua-Timestamp and "
			    "X-Motcua-Signature: sha256=...)");
	}
	unsigned long t;
	if (parse_uint(ts, 0, ULONG_MAX, &t) < 0)
		return fail(msg, len, -EPERM, "the timestamp is not a number of seconds");
	long long skew = (long long)time(NULL) - (long long)t;
	if (skew > a->hmac_max_skew_s || -skew > a->hmac_max_skew_s)
		return fail(msg, len, -EPERM,
			    "the timestamp is %lld s away from our clock (at most %ld): replayed "
			    "or clock wrong",
			    skew, a->hmac_max_skew_s);
	if (sign_body(a, ts, req->body ? req->body : "", req->body_len, want) < 0)
		return fail(msg, len, -EIO, "cannot compute the HMAC");
	if (strncmp(sig, "sha256=", 7) || strlen(sig + 7) != 64 || CRYPTO_memcmp(sig + 7, want, 64))
		return fail(msg, len, -EPERM,
			    "chữ ký sai / the HMAC signature does not match the body");
	return 0;
}

static int webhook(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	struct adapter *a = data;
	char msg[256];
	struct update *u = NULL;
	if (req->body_len > a->max_result_bytes / 3 * 4 + WEBHOOK_SLACK)
		return respond_error(a, resp, 400, "the body is too large (max_result_mb)");
	if (a->hmac_key && webhook_check_hmac(a, req, msg, sizeof msg) < 0) {
		a->host->log(a->ctx, MOTCUA_LOG_WARNING, "webhook from %s refused: %s",
			     req->token_name ? req->token_name : "?", msg);
		return respond_error(a, resp, 400, msg);
	}
	json_error_t je;
	json_t *j = json_loadb(req->body ? req->body : "", req->body_len, 0, &je);
	if (!j) {
		snprintf(msg, sizeof msg, "the body is not JSON: %s (line %d)", je.text, je.line);
		return respond_error(a, resp, 400, msg);
	}
	u = calloc(1, sizeof *u);
	if (!u) {
		json_decref(j);
		return respond_error(a, resp, 500, "out of memory");
	}
	int r = update_parse(a, j, "webhook", u, msg, sizeof msg);
	json_decref(j);
	if (r < 0) {
		free(u);
		return respond_error(a, resp, r == -ENOMEM ? 500 : 400, msg);
	}
	r = update_apply(a, u);
	if (r < 0) {
		int status = r == -ENOENT ? 404 : r == -EINVAL ? 400 : 500;
		snprintf(msg, sizeof msg, "%s: %s",
			 r == -ENOENT ? "không có hồ sơ này / no such dossier"
				      : "status not recorded",
			 u->code);
		update_clear(u);
		free(u);
		return respond_error(a, resp, status, msg);
	}
	if (!u->result_name) {
		json_t *ok =
		    json_pack("{s:s,s:i,s:b}", "code", u->code, "status", u->status, "applied", 1);
		update_clear(u);
		free(u);
		return respond(a, resp, 200, ok);
	}
	json_t *ok = json_pack("{s:s,s:i,s:b,s:s}", "code", u->code, "status", u->status, "applied",
			       1, "result", "queued");
	if (submit_results(a, u, 1) < 0) {
		json_decref(ok);
		update_clear(u);
		free(u);
		return respond_error(
		    a, resp, 503,
		    "the status was recorded, the result could not be queued: send it again");
	}
	return respond(a, resp, 202, ok);
}

static int status_route(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	struct adapter *a = data;
	(void)req;
	return respond(a, resp, 200,
		       json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "url", a->url, "auth",
				 (const char *[]){"none", "bearer", "hmac", "mtls"}[a->auth],
				 "poll", a->poll_url ? "on" : "off", "delivered",
				 (json_int_t)atomic_load(&a->delivered), "retried",
				 (json_int_t)atomic_load(&a->retried), "rejected",
				 (json_int_t)atomic_load(&a->rejected), "updates",
				 (json_int_t)atomic_load(&a->updates), "results",
				 (json_int_t)atomic_load(&a->results)));
}

/* ---- poll ------------------------------------------------------------------------------ */

struct poll_job {
	struct adapter *a;
	char *url; /* poll_url with the cursor */
	int r;
	char message[256];
	struct update *u;
	size_t n;
	size_t n_bad;
	char *cursor; /* the new cursor, if the peer gave one */
};

static void poll_work(void *data)
{
	struct poll_job *job = data;
	struct adapter *a = job->a;
	CURL *c = handle_get(a);
	if (!c) {
		job->r = -ENOMEM;
		return;
	}
	struct exchange x = {.url = job->url, .method = "GET"};
	job->r = exchange_run(a, c, &x);
	if (job->r == 0 && x.cc != CURLE_OK) {
		job->r = map_transport(a, &x, job->message, sizeof job->message);
		curl_easy_cleanup(c);
		c = NULL;
	} else if (job->r == 0 && x.status != 200) {
		char text[150];
		peer_text(&x.answer, text, sizeof text);
		job->r = fail(job->message, sizeof job->message, -EIO, "poll answered %ld: %s",
			      x.status, text);
	}
	handle_put(a, c);
	if (job->r < 0)
		goto out;
	json_error_t je;
	json_t *j = json_loadb(x.answer.buf ? x.answer.buf : "", x.answer.len, 0, &je);
	json_t *ups = json_object_get(j, "updates");
	if (!json_is_array(ups)) {
		job->r = fail(job->message, sizeof job->message, -EBADMSG,
			      "the poll answer is not {\"updates\": [...]}: %s",
			      j ? "no updates array" : je.text);
		json_decref(j);
		goto out;
	}
	size_t n = json_array_size(ups);
	if (n > MAX_UPDATES)
		n = MAX_UPDATES;
	job->u = calloc(n ? n : 1, sizeof *job->u);
	if (!job->u) {
		job->r = -ENOMEM;
		json_decref(j);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char why[256];
		struct update *u = &job->u[job->n];
		if (update_parse(a, json_array_get(ups, i), "poll", u, why, sizeof why) < 0) {
			job->n_bad++;
			a->host->log(a->ctx, MOTCUA_LOG_WARNING, "poll: update %zu skipped: %s", i,
				     why);
			continue;
		}
		if (u->result && result_write(a, u) < 0) {
			a->host->log(a->ctx, MOTCUA_LOG_ERROR,
				     "poll: cannot keep the result of %s in %s", u->code, a->dir);
			free(u->result);
			u->result = NULL;
			free(u->result_name);
			u->result_name = NULL;
		}
		job->n++;
	}
	json_t *cur = json_object_get(j, "cursor");
	if (json_is_string(cur) && json_string_length(cur) <= 200 &&
	    url_safe(json_string_value(cur)))
		job->cursor = strdup(json_string_value(cur));
	json_decref(j);
out:
	free(x.answer.buf);
}

static void poll_done(void *data, int cancelled)
{
	struct poll_job *job = data;
	struct adapter *a = job->a;
	a->poll_running = false;
	size_t applied = 0, with_results = 0;
	if (!cancelled && job->r < 0) {
		a->host->log(a->ctx, MOTCUA_LOG_WARNING, "poll %s failed: %s", a->poll_url,
			     job->message[0] ? job->message : strerror(-job->r));
	} else if (!cancelled) {
		for (size_t i = 0; i < job->n; i++) {
			struct update *u = &job->u[i];
			int r = update_apply(a, u);
			if (r < 0) {
				a->host->log(a->ctx, MOTCUA_LOG_WARNING,
					     "poll: status %d of %s not recorded: %s", u->status,
					     u->code, strerror(-r));
				update_clear(u);
				continue;
			}
			applied++;
			if (u->result_name)
				with_results++;
		}
		if (job->cursor) {
			free(a->cursor);
			a->cursor = job->cursor;
			job->cursor = NULL;
		}
		if (applied || job->n_bad)
			a->host->log(a->ctx, MOTCUA_LOG_INFO,
				     "poll: %zu update(s) applied, %zu result(s), %zu skipped",
				     applied, with_results, job->n_bad);
	}
	if (!cancelled && with_results && submit_results(a, job->u, job->n) == 0) {
		job->u = NULL; /* the result job owns them now */
	}
	for (size_t i = 0; job->u && i < job->n; i++)
		update_clear(&job->u[i]);
	free(job->u);
	free(job->cursor);
	free(job->url);
	free(job);
}

static void poll_tick(void *data)
{
	struct adapter *a = data;
	if (a->poll_running)
		return;
	struct poll_job *job = calloc(1, sizeof *job);
	if (!job)
		return;
	job->a = a;
	if (a->cursor) {
		if (asprintf(&job->url, "%s%ccursor=%s", a->poll_url,
			     strchr(a->poll_url, '?') ? '&' : '?', a->cursor) < 0)
			job->url = NULL;
	} else {
		job->url = strdup(a->poll_url);
	}
	if (!job->url) {
		free(job);
		return;
	}
	a->poll_running = true;
	if (a->host->work_submit(a->ctx, poll_work, poll_done, job) < 0) {
		a->poll_running = false;
		free(job->url);
		free(job);
	}
}

/* ---- configuration and life cycle --------------------------------------------------------- */

static void adapter_free(void *data)
{
	struct adapter *a = data;
	if (!a)
		return;
	for (size_t i = 0; i < a->n_pool; i++)
		curl_easy_cleanup(a->pool[i]);
	pthread_mutex_destroy(&a->pool_lock);
	if (a->bearer_header)
		wipe_free(a->bearer_header, strlen(a->bearer_header));
	if (a->hmac_key)
		wipe_free(a->hmac_key, MAX_SECRET + 1);
	if (a->client_key_pem)
		wipe_free(a->client_key_pem, MOTCUA_SECRET_MAX + 1);
	for (size_t i = 0; i < a->n_procedures; i++)
		free(a->procedures[i]);
	free(a->procedures);
	free(a->url);
	free(a->client_cert);
	free(a->client_key);
	free(a->ca_file);
	free(a->agency_code);
	free(a->link_base_url);
	free(a->poll_url);
	free(a->dir);
	free(a->cursor);
	free(a);
	curl_global_cleanup();
}

static char *dup_opt(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static int configure(struct adapter *a, char *msg, size_t len)
{
	const struct motcua_host *h = a->host;
#define CFG(k) h->config_get(a->ctx, NULL, (k))
	unsigned long v;
	const char *s;

	s = CFG("url");
	if (!s || (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)) || strpbrk(s, " \r\n"))
		return fail(msg, len, -EINVAL,
			    "url: the agency's endpoint is needed, http:// or https://");
	a->url = strdup(s);

	s = CFG("auth");
	if (!s || !strcmp(s, "none"))
		a->auth = AUTH_NONE;
	else if (!strcmp(s, "bearer"))
		a->auth = AUTH_BEARER;
	else if (!strcmp(s, "hmac"))
		a->auth = AUTH_HMAC;
	else if (!strcmp(s, "mtls"))
		a->auth = AUTH_MTLS;
	else
		return fail(msg, len, -EINVAL, "auth: \"%s\" is not none, bearer, hmac or mtls", s);

	s = CFG("timeout_s");
	a->timeout_s = 30;
	if (s) {
		if (parse_uint(s, 1, 600, &v) < 0)
			return fail(msg, len, -EINVAL,
				    "timeout_s: \"%s\" is not a number of seconds from 1 to 600",
				    s);
		a->timeout_s = (long)v;
	}

	int r;
	const char *token_file = CFG("token_file");
	if (a->auth == AUTH_BEARER) {
		unsigned char *tok;
		size_t n;
		if (!token_file)
			return fail(msg, len, -EINVAL, "token_file: needed with auth = bearer");
		if ((r = read_secret(a, "token_file", token_file, &tok, &n, msg, len)) < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			if (tok[i] < 0x21 || tok[i] > 0x7e) {
				wipe_free(tok, MAX_SECRET + 1);
				return fail(
				    msg, len, -EINVAL,
				    "token_file: %s: the token has spaces or control characters",
				    token_file);
			}
		if (asprintf(&a->bearer_header, "Authorization: Bearer %s", (char *)tok) < 0)
			a->bearer_header = NULL;
		wipe_free(tok, MAX_SECRET + 1);
		if (!a->bearer_header)
			return -ENOMEM;
	}
	/* The HMAC key signs deliveries with auth = hmac, and checks webhooks
	 * (and is accepted for that alone with any auth). */
	s = CFG("hmac_key_file");
	if (a->auth == AUTH_HMAC && !s)
		return fail(msg, len, -EINVAL, "hmac_key_file: needed with auth = hmac");
	if (s &&
	    (r = read_secret(a, "hmac_key_file", s, &a->hmac_key, &a->hmac_key_len, msg, len)) < 0)
		return r;
	if (a->hmac_key && a->hmac_key_len < 16)
		return fail(
		    msg, len, -EINVAL,
		    "hmac_key_file: the key is %zu bytes: at least 16 (e.g. openssl rand -hex 32)",
		    a->hmac_key_len);

	a->client_cert = dup_opt(CFG("client_cert"));
	a->client_key = dup_opt(CFG("client_key"));
	a->ca_file = dup_opt(CFG("ca_file"));
	if (a->auth == AUTH_MTLS && (!a->client_cert || !a->client_key))
		return fail(msg, len, -EINVAL,
			    "client_cert, client_key: both needed with auth = mtls");
	if (a->auth == AUTH_MTLS && strncmp(a->url, "https://", 8))
		return fail(msg, len, -EINVAL, "url: auth = mtls needs an https:// url");
	if ((a->client_cert == NULL) != (a->client_key == NULL))
		return fail(msg, len, -EINVAL, "client_cert, client_key: give both or neither");
	if (a->client_cert && (r = check_readable("client_cert", a->client_cert, msg, len)) < 0)
		return r;
	if (a->client_key && (r = read_client_key(a, msg, len)) < 0)
		return r;
	if (a->ca_file && (r = check_readable("ca_file", a->ca_file, msg, len)) < 0)
		return r;

	s = CFG("procedures");
	if (!s || !strcmp(s, "*")) {
		a->all_procedures = true;
	} else {
		if (split_list(s, &a->procedures, &a->n_procedures) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < a->n_procedures; i++)
			if (!strcmp(a->procedures[i], "*"))
				a->all_procedures = true;
		if (!a->n_procedures)
			return fail(msg, len, -EINVAL,
				    "procedures: empty (procedure codes, comma-separated, or *)");
	}

	s = CFG("events");
	a->events = EV_CREATED | EV_DOCUMENT | EV_STATUS;
	if (s) {
		char **ev;
		size_t n;
		if (split_list(s, &ev, &n) < 0)
			return -ENOMEM;
		a->events = 0;
		r = 0;
		for (size_t i = 0; i < n; i++) {
			unsigned b = !strcmp(ev[i], "*")
					 ? (EV_CREATED | EV_DOCUMENT | EV_STATUS | EV_OTHER)
					 : event_bit(ev[i]);
			if (b == EV_OTHER && strcmp(ev[i], "*"))
				r = fail(msg, len, -EINVAL,
					 "events: \"%s\" is not dossier.created, document.done, "
					 "dossier.status or *",
					 ev[i]);
			a->events |= b;
			free(ev[i]);
		}
		free(ev);
		if (r < 0)
			return r;
		if (!a->events)
			return fail(msg, len, -EINVAL, "events: empty");
	}

	a->agency_code = dup_opt(CFG("agency_code"));
	if (a->agency_code && !text_ok(a->agency_code, 100))
		return fail(msg, len, -EINVAL,
			    "agency_code: at most 100 bytes, no control characters");

	s = CFG("send_files");
	if (!s || !strcmp(s, "none"))
		a->send_files = SEND_NONE;
	else if (!strcmp(s, "links"))
		a->send_files = SEND_LINKS;
	else if (!strcmp(s, "base64"))
		a->send_files = SEND_BASE64;
	else
		return fail(msg, len, -EINVAL, "send_files: \"%s\" is not none, links or base64",
			    s);
	s = CFG("link_base_url");
	if (s && (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)))
		return fail(msg, len, -EINVAL,
			    "link_base_url: must start with http:// or https://");
	a->link_base_url = dup_opt(s);
	if (a->link_base_url) {
		size_t n = strlen(a->link_base_url);
		while (n && a->link_base_url[n - 1] == '/')
			a->link_base_url[--n] = 0;
	}
	if (a->send_files == SEND_LINKS && !a->link_base_url)
		return fail(msg, len, -EINVAL,
			    "link_base_url: needed with send_files = links (the gateway's address "
			    "as the agency reaches it)");

	a->max_file_bytes = 20u << 20;
	if ((s = CFG("max_file_mb"))) {
		if (parse_uint(s, 1, 200, &v) < 0)
			return fail(msg, len, -EINVAL,
				    "max_file_mb: \"%s\" is not a number from 1 to 200", s);
		a->max_file_bytes = (size_t)v << 20;
	}
	a->max_result_bytes = 20u << 20;
	if ((s = CFG("max_result_mb"))) {
		if (parse_uint(s, 1, 100, &v) < 0)
			return fail(msg, len, -EINVAL,
				    "max_result_mb: \"%s\" is not a number from 1 to 100", s);
		a->max_result_bytes = (size_t)v << 20;
	}
	a->hmac_max_skew_s = 300;
	if ((s = CFG("hmac_max_skew_s"))) {
		if (parse_uint(s, 1, 86400, &v) < 0)
			return fail(msg, len, -EINVAL,
				    "hmac_max_skew_s: \"%s\" is not a number from 1 to 86400", s);
		a->hmac_max_skew_s = (long)v;
	}

	s = CFG("poll_url");
	if (s && (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)))
		return fail(msg, len, -EINVAL, "poll_url: must start with http:// or https://");
	a->poll_url = dup_opt(s);
	a->poll_interval_s = 60;
	if ((s = CFG("poll_interval_s"))) {
		if (parse_uint(s, 1, 86400, &v) < 0)
			return fail(msg, len, -EINVAL,
				    "poll_interval_s: \"%s\" is not a number from 1 to 86400", s);
		a->poll_interval_s = (unsigned)v;
	}
#undef CFG
	if (!a->url)
		return -ENOMEM;
	return 0;
}

static int ensure_dir(struct adapter *a, char *msg, size_t len)
{
	const char *base = a->host->data_dir ? a->host->data_dir(a->ctx) : NULL;
	if (!base)
		return fail(msg, len, -EINVAL, "the host gives no data directory");
	if (asprintf(&a->dir, "%s/%s", base, PLUGIN_NAME) < 0) {
		a->dir = NULL;
		return -ENOMEM;
	}
	if (mkdir(a->dir, 0700) < 0 && errno != EEXIST)
		return fail(msg, len, -errno, "cannot create %s: %s", a->dir, strerror(errno));
	return 0;
}

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	char msg[512] = "";
	int r;
	if (host->struct_size <
		offsetof(struct motcua_host, result_add) + sizeof host->result_add ||
	    !host->adapter_register || !host->dossier_status || !host->result_add) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "the gateway is too old for adapters (no outbox in its host table)");
		return -ENOTSUP;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		host->log(ctx, MOTCUA_LOG_ERROR, "libcurl could not start");
		return -EIO;
	}
	struct adapter *a = calloc(1, sizeof *a);
	if (!a) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	a->ctx = ctx;
	a->host = host;
	pthread_mutex_init(&a->pool_lock, NULL);
	if ((r = configure(a, msg, sizeof msg)) < 0 || (r = ensure_dir(a, msg, sizeof msg)) < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "%s", msg[0] ? msg : strerror(-r));
		adapter_free(a);
		return r;
	}
	struct motcua_adapter_ops ops = {
	    .struct_size = sizeof ops,
	    .accepts = accepts,
	    .deliver = deliver,
	};
	/* The adapter registration owns `a`; the routes and the timer only borrow it. */
	if ((r = host->adapter_register(ctx, &ops, a, adapter_free)) < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "cannot register as a destination: %s",
			  strerror(-r));
		return r;
	}
	if ((r = host->route_add(ctx, "POST", "/webhook", MOTCUA_ROLE_AGENCY, webhook, a, NULL)) <
		0 ||
	    (r = host->route_add(ctx, "GET", "/status", MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN,
				 status_route, a, NULL)) < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "cannot add the webhook route: %s", strerror(-r));
		return r;
	}
	if (a->poll_url &&
	    !host->timer_add(ctx, a->poll_interval_s * 1000u, 1, poll_tick, a, NULL)) {
		host->log(ctx, MOTCUA_LOG_ERROR, "cannot start the poll timer");
		return -ENOMEM;
	}
	char routing[64];
	if (a->all_procedures)
		snprintf(routing, sizeof routing, "all procedures");
	else
		snprintf(routing, sizeof routing, "%zu procedure(s)", a->n_procedures);
	host->log(ctx, MOTCUA_LOG_INFO, "delivering to %s (auth %s, %s), webhook %s, poll %s",
		  a->url, (const char *[]){"none", "bearer", "hmac", "mtls"}[a->auth], routing,
		  a->hmac_key ? "with HMAC" : "by token role", a->poll_url ? a->poll_url : "off");
	*state = a;
	return 0;
}

static void fini(void *state)
{
	(void)state; /* the host frees the adapter through adapter_free */
}

static const struct motcua_config_key config_keys[] = {
    {"url", "the agency's endpoint: every delivery is a POST here (http:// or https://)"},
    {"auth", "none, bearer, hmac or mtls"},
    {"token_file", "bearer: a file (mode 0600) whose first line is the token"},
    {"hmac_key_file",
     "hmac: a file (mode 0600) whose first line is the shared key; also checks webhooks"},
    {"client_cert", "mtls: the gateway's client certificate (PEM)"},
    {"client_key", "mtls: its private key (PEM, mode 0600)"},
    {"ca_file", "CA bundle that verifies the agency's server (default: the system store)"},
    {"timeout_s", "connect + total time of one delivery, seconds (default 30)"},
    {"procedures", "procedure codes routed here, comma-separated, or * for all (default *)"},
    {"events",
     "event types sent: dossier.created, document.done, dossier.status (default all three)"},
    {"agency_code", "the receiving agency's code, sent as agency_code and X-Motcua-Agency"},
    {"send_files", "none, links or base64: the documents' signed files in the body (default none)"},
    {"link_base_url", "send_files = links: the gateway's address as the agency reaches it"},
    {"max_file_mb", "send_files = base64: larger files are left out (default 20)"},
    {"max_result_mb", "the largest result file accepted back (default 20)"},
    {"hmac_max_skew_s",
     "webhook HMAC: the timestamp's allowed distance from our clock (default 300)"},
    {"poll_url",
     "GET here every poll_interval_s for status updates and results (default: no poll)"},
    {"poll_interval_s", "seconds between polls (default 60)"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = PLUGIN_NAME,
    .version = PLUGIN_VERSION,
    .provides = MOTCUA_PROVIDES_ADAPTER,
    .config_keys = config_keys,
    .init = init,
    .fini = fini,
};

MOTCUA_PLUGIN_DECLARE(info)
