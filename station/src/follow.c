/* SPDX-License-Identifier: MIT */
/* Following a queue ticket on the citizen's phone (see follow.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <glib.h>
#include <sodium.h>

#include "db.h"
#include "follow.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "qr.h"
#include "queue.h"
#include "ratelimit.h"
#include "router.h"
#include "secret.h"
#include "util.h"
#include "validate.h"
#include "weburl.h"
#include "workers.h"

#define QR_SCALE 6    /* pixels a module: about 250 px for a LAN address */
#define RENDERS_MAX 8 /* QR codes queued or being drawn at once */
#define SECRET_FILE "follow.key"

static const struct ratelimit_policy by_address = {"follow-address", FOLLOW_LIMIT, FOLLOW_WINDOW_S,
						   FOLLOW_LOCK_S};

struct follow {
	struct gateway *gw;
	unsigned char secret[FOLLOW_SECRET_LEN];
	unsigned in_flight;
};

/* ---- the key ---- */

void follow_key(const unsigned char secret[FOLLOW_SECRET_LEN], int64_t id, const char *day,
		char *out)
{
	static const char alphabet[] = LOOKUP_KEY_ALPHABET; /* 32: 5 bits a character */
	char msg[64];
	int n = snprintf(msg, sizeof msg, "motcua-follow:%lld:%s", (long long)id, day ? day : "");
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, secret, FOLLOW_SECRET_LEN);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, (unsigned long long)n);
	crypto_auth_hmacsha256_final(&st, mac);
	/* the first 40 bits, 5 at a time */
	uint64_t bits = 0;
	for (int i = 0; i < 5; i++)
		bits = bits << 8 | mac[i];
	for (int i = 0; i < LOOKUP_KEY_LEN; i++)
		out[i] = alphabet[(bits >> (5 * (LOOKUP_KEY_LEN - 1 - i))) & 31];
	out[LOOKUP_KEY_LEN] = 0;
	secret_wipe(&st, sizeof st);
}

/* The secret in the data folder: read, or made once (0600, written whole
 * before it is renamed into place). */
static int secret_load(struct follow *f)
{
	char *path = g_build_filename(f->gw->settings.data_dir, SECRET_FILE, NULL);
	char *tmp = g_strconcat(path, ".tmp", NULL);
	int e = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, f->secret, sizeof f->secret);
		close(fd);
		if (n != (ssize_t)sizeof f->secret) {
			log_error("follow: %s is not %d bytes: remove it to make a new one (the "
				  "tickets' QR codes printed so far stop working)",
				  path, FOLLOW_SECRET_LEN);
			e = -EINVAL;
		}
		goto out;
	}
	if (errno != ENOENT) {
		e = -errno;
		log_error("follow: cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	random_bytes(f->secret, sizeof f->secret);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool written = fd >= 0 &&
		       write(fd, f->secret, sizeof f->secret) == (ssize_t)sizeof f->secret &&
		       fsync(fd) == 0;
	if (fd >= 0 && close(fd) < 0)
		written = false;
	if (!written || rename(tmp, path) < 0 || fsync_dir(f->gw->settings.data_dir) < 0) {
		e = -(errno ? errno : EIO);
		log_error("follow: cannot write %s: %s", path, strerror(-e));
		unlink(tmp);
	}
out:
	g_free(tmp);
	g_free(path);
	return e;
}

/* The ticket's day if there is a ticket id. */
static bool ticket_day(sqlite3 *db, int64_t id, char day[8])
{
	sqlite3_stmt *st = db_prepare(db, "SELECT day FROM tickets WHERE id = ?1");
	bool found = false;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW && db_text(st, 0)) {
			snprintf(day, 8, "%s", db_text(st, 0));
			found = true;
		}
		sqlite3_finalize(st);
	}
	return found;
}

static int64_t ticket_id(const char *s)
{
	char *end;
	long long id = s && *s ? strtoll(s, &end, 10) : 0;
	return id > 0 && !*end ? id : 0;
}

/* ---- GET /api/v1/tickets/{id}/qr.png ---- */

struct render {
	struct follow *f;
	struct evhttp_request *req;
	char *url;
	int64_t id;
	struct bytes out;
	int result;
};

static void render_work(void *arg)
{
	struct render *r = arg;
	r->result = qr_png(r->url, QR_SCALE, &r->out);
}

static void render_done(void *arg, int cancelled)
{
	struct render *r = arg;
	r->f->in_flight--;
	if (http_client_gone(r->req)) {
		http_reply_gone(r->req);
	} else if (cancelled) {
		http_reply_error(r->req, 503, "stopping", "the gateway is stopping");
	} else if (r->result < 0) {
		log_error("follow QR of ticket %lld: %s", (long long)r->id, strerror(-r->result));
		http_reply_error(r->req, 500, "render_failed", "the QR code could not be drawn");
	} else {
		struct evbuffer *body = evbuffer_new();
		if (body && evbuffer_add(body, r->out.p, r->out.len) == 0) {
			char cd[80];
			snprintf(cd, sizeof cd, "inline; filename=\"ticket-%lld-qr.png\"",
				 (long long)r->id);
			http_set_header(r->req, "Content-Type", "image/png");
			http_set_header(r->req, "Cache-Control", "private");
			http_set_header(r->req, "Content-Disposition", cd);
			evhttp_send_reply(r->req, 200, "OK", body);
		} else {
			http_reply_error(r->req, 503, "no_memory", "out of memory");
		}
		if (body)
			evbuffer_free(body);
	}
	g_free(r->url);
	bytes_free(&r->out);
	free(r);
}

static void route_qr(struct call *c)
{
	struct follow *f = c->data;
	struct gateway *gw = f->gw;
	int64_t id = ticket_id(c->params[0]);
	char day[8], key[LOOKUP_KEY_LEN + 1];
	if (!id || !ticket_day(gw->db, id, day)) {
		http_reply_error(c->req, 404, "not_found", "no ticket %.40s", c->params[0]);
		return;
	}
	if (f->in_flight >= RENDERS_MAX) {
		http_set_header(c->req, "Retry-After", "1");
		http_reply_error(c->req, 503, "busy", "too many QR codes being drawn; try again");
		return;
	}
	follow_key(f->secret, id, day, key);
	char path[128];
	snprintf(path, sizeof path, "/station/follow?ticket=%lld&key=%s", (long long)id, key);
	struct render *r = calloc(1, sizeof *r);
	char *url = r ? weburl_make(gw, c->req, path) : NULL;
	if (!url) {
		free(r);
		http_reply_error(c->req, 503, "no_memory", "out of memory");
		return;
	}
	r->f = f;
	r->req = c->req;
	r->url = url;
	r->id = id;
	int e = workers_submit(gw->io_workers, render_work, render_done, r);
	if (e < 0) {
		g_free(url);
		free(r);
		http_reply_error(c->req, 503, "busy", "cannot draw the QR code now: %s",
				 strerror(-e));
		return;
	}
	f->in_flight++;
}

/* ---- GET /api/v1/queue/follow?ticket=&key= ---- */

/* The key as given, upper case; false if it cannot be one. */
static bool key_given(const char *in, char out[LOOKUP_KEY_LEN + 1])
{
	size_t n = in ? strlen(in) : 0;
	if (n != LOOKUP_KEY_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = g_ascii_toupper(in[i]);
	out[n] = 0;
	return valid_lookup_key(out);
}

/* The ticket if id and key match; the same work and answer (false) for a
 * wrong id as for a wrong key. */
static bool ticket_found(struct follow *f, int64_t id, const char *key_in, char day[8])
{
	char key[LOOKUP_KEY_LEN + 1], want[LOOKUP_KEY_LEN + 1];
	bool key_ok = key_given(key_in, key);
	if (!key_ok)
		memcpy(key, "ZZZZZZZZ", sizeof key);
	bool row = id && ticket_day(f->gw->db, id, day);
	follow_key(f->secret, id, row ? day : "", want);
	bool same = sodium_memcmp(want, key, LOOKUP_KEY_LEN) == 0;
	return row && key_ok && same;
}

static json_t *member(json_t *t, const char *name)
{
	json_t *v = json_object_get(t, name);
	return v ? json_incref(v) : json_null();
}

static void route_follow(struct call *c)
{
	struct follow *f = c->data;
	struct gateway *gw = f->gw;
	struct evhttp_request *req = c->req;
	if (!ratelimit_request(gw->db, &by_address, req,
			       "too many requests from this address: try again later (hỏi quá "
			       "nhiều lần, vui lòng thử lại sau)"))
		return;
	struct evkeyvalq q;
	if (!http_query(req, &q))
		return;
	const char *ticket = evhttp_find_header(&q, "ticket"), *key = evhttp_find_header(&q, "key");
	char day[8], today[8];
	json_t *t = NULL;
	if (!ticket || !key || !ticket[0] || !key[0]) {
		http_reply_error(req, 400, "bad_request",
				 "ticket and key are required: ?ticket=ID&key=KEY (the ticket's QR "
				 "code)");
	} else if (!ticket_found(f, ticket_id(ticket), key, day) ||
		   !(t = ticket_get(gw, ticket_id(ticket)))) {
		http_reply_error(req, 404, "not_found",
				 "no ticket with this number and key (không tìm thấy số thứ tự "
				 "này)");
	} else {
		/* a ticket of another day is as it was left; no one is ahead of it */
		time_yymmdd_vn(time_now(), today);
		const char *state = json_string_value(json_object_get(t, "state"));
		int64_t ahead = !strcmp(day, today) && state && !strcmp(state, "waiting")
				    ? ticket_ahead(gw->db, ticket_id(ticket))
				    : 0;
		json_t *body =
		    json_pack("{s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o}", "number",
			      member(t, "number"), "service", member(t, "service"), "service_name",
			      member(t, "service_name"), "state", member(t, "state"), "ahead",
			      (json_int_t)ahead, "counter", member(t, "counter"), "called_at",
			      member(t, "called_at"), "issued_at", member(t, "issued_at"));
		if (body)
			http_reply_json(req, 200, body);
		else
			http_reply_error(req, 500, "internal", "the answer could not be made");
	}
	json_decref(t);
	evhttp_clear_headers(&q);
}

static const struct route_def routes[] = {
    {"GET", "/api/v1/tickets/{id}/qr.png", R_STAFF | MOTCUA_ROLE_KIOSK, route_qr,
     "the ticket's QR code (PNG) of its follow page /station/follow?ticket=&key="},
    {"GET", "/api/v1/queue/follow", 0, route_follow,
     "one ticket for the citizen's phone (no token): ?ticket=&key= -> state, people ahead"},
};

struct follow *follow_new(struct gateway *gw)
{
	struct follow *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->gw = gw;
	if (sodium_init() < 0 || secret_load(f) < 0 ||
	    router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], f, "station") <
		0) {
		follow_free(f);
		return NULL;
	}
	return f;
}

void follow_free(struct follow *f)
{
	if (!f)
		return;
	sodium_memzero(f->secret, sizeof f->secret);
	free(f);
}
