/* SPDX-License-Identifier: MIT */
/* Officials' sign-in, sign-out and "who am I" (see session.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>

#include "db.h"
#include "events.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"
#include "router.h"
#include "session.h"
#include "users.h"
#include "util.h"
#include "workers.h"

static const struct ratelimit_policy by_account = {"signin-account", SIGNIN_ACCOUNT_LIMIT,
						   SIGNIN_WINDOW_S, SIGNIN_LOCK_S};
static const struct ratelimit_policy by_address = {"signin-address", SIGNIN_ADDRESS_LIMIT,
						   SIGNIN_WINDOW_S, SIGNIN_LOCK_S};

struct signin;

struct session_api {
	struct gateway *gw;
	struct workers *pool;
	struct signin *delayed; /* failures waiting out their delay */
	bool stopped;
};

struct signin {
	struct session_api *s;
	struct evhttp_request *req;
	char key[USER_NAME_MAX * 2 + 1]; /* the username as sent, lower case */
	char client[64];
	char counter[51];
	char password[USER_PASSWORD_MAX + 1];
	struct user user;
	bool known; /* an enabled account of that name */
	bool ok;
	double hash_ms;
	struct event *timer;
	struct signin *next;
};

static void signin_free(struct signin *si)
{
	if (!si)
		return;
	if (si->timer)
		event_free(si->timer);
	sodium_memzero(si->password, sizeof si->password);
	sodium_memzero(si->user.hash, sizeof si->user.hash);
	free(si);
}

static void set_retry_after(struct evhttp_request *req, int64_t seconds)
{
	char v[32];
	snprintf(v, sizeof v, "%lld", (long long)(seconds > 0 ? seconds : 1));
	http_set_header(req, "Retry-After", v);
}

static void reply_locked(struct evhttp_request *req, int64_t left)
{
	set_retry_after(req, left);
	http_reply_error(req, 429, "locked",
			 "too many failed sign-ins: try again in %lld minute(s) (đăng nhập sai "
			 "quá nhiều lần, vui lòng thử lại sau)",
			 (long long)(left + 59) / 60);
}

static void reply_bad(struct evhttp_request *req)
{
	http_reply_error(req, 401, "bad_credentials",
			 "wrong username or password (sai tên đăng nhập hoặc mật khẩu)");
}

/* ---- on the worker ---- */

static void verify_work(void *arg)
{
	struct signin *si = arg;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	si->ok = user_verify_password(si->known ? si->user.hash : NULL, si->password) && si->known;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	si->hash_ms =
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	sodium_memzero(si->password, sizeof si->password);
}

static void dummy_work(void *arg)
{
	(void)arg;
	/* the dummy hash made before the first unknown username needs it */
	user_verify_password(NULL, "");
}

/* ---- back on the loop ---- */

static json_t *user_json(const char *username, const char *name, const char *role, const char *unit,
			 const char *counter)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s?}", "username", username, "name", name, "role",
			 role, "unit", unit, "counter", counter && counter[0] ? counter : NULL);
}

/* The session row and its event, one transaction. */
static int session_open(struct session_api *s, struct signin *si, char token[80], int64_t *expires)
{
	struct gateway *gw = s->gw;
	sqlite3 *db = gw->db;
	char secret[65], hash[65];
	random_hex(secret, 32);
	snprintf(token, 80, "mcs_%s", secret);
	sha256_hex(token, strlen(token), hash);
	int64_t now = time_now();
	*expires = now + (int64_t)gw->settings.session_hours * 3600;
	const char *counter = si->counter[0] ? si->counter : si->user.counter;
	if (db_begin(db) < 0)
		return -EIO;
	sqlite3_stmt *st = db_prepare(
	    db, "INSERT INTO sessions(user_id, hash, client, counter, created_at, expires_at)"
		" SELECT id, ?2, ?3, ?4, ?5, ?6 FROM users WHERE id = ?1 AND disabled_at IS NULL");
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_int64(st, 1, si->user.id);
		sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, si->client, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, counter[0] ? counter : NULL, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 5, now);
		sqlite3_bind_int64(st, 6, *expires);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	int e = -EIO;
	if (rc == SQLITE_DONE && sqlite3_changes(db) != 1)
		e = -ENOENT; /* disabled meanwhile */
	else if (rc == SQLITE_DONE &&
		 events_publish(gw->events, "session.opened",
				json_pack("{s:s, s:s?}", "username", si->user.username, "counter",
					  counter[0] ? counter : NULL)) == 0 &&
		 db_commit(db) == 0)
		return 0;
	db_rollback(db);
	return e;
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct signin *si = arg;
	struct session_api *s = si->s;
	for (struct signin **pp = &s->delayed; *pp; pp = &(*pp)->next)
		if (*pp == si) {
			*pp = si->next;
			break;
		}
	if (http_client_gone(si->req))
		http_reply_gone(si->req);
	else
		reply_bad(si->req);
	signin_free(si);
}

/* The delay before a failure's answer grows with the failures counted: none
 * for the first of an account, then 250 ms doubling up to 8 s; an address
 * counts as one account for every 5 of its failures. */
static unsigned delay_ms(int account, int address)
{
	int n = account > address / 5 ? account : address / 5;
	if (n < 2)
		return 0;
	unsigned ms = 250u << (n - 2 > 5 ? 5 : n - 2);
	return ms > 8000 ? 8000 : ms;
}

static void failed(struct session_api *s, struct signin *si)
{
	sqlite3 *db = s->gw->db;
	int64_t now = time_now();
	int a = ratelimit_hit(db, &by_account, si->key, now);
	int b = ratelimit_hit(db, &by_address, si->client, now);
	log_info("sign-in of '%s' from %s refused (failures: %d of the account, %d of the address; "
		 "hash %.0f ms)",
		 si->key, si->client, a, b, si->hash_ms);
	unsigned ms = delay_ms(a, b);
	if (ms && !s->stopped && !http_client_gone(si->req)) {
		struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
		si->timer = evtimer_new(s->gw->base, on_delay, si);
		if (si->timer && evtimer_add(si->timer, &tv) == 0) {
			si->next = s->delayed;
			s->delayed = si;
			return;
		}
	}
	on_delay(-1, 0, si);
}

static void verify_done(void *arg, int cancelled)
{
	struct signin *si = arg;
	struct session_api *s = si->s;
	struct evhttp_request *req = si->req;
	if (cancelled) {
		http_reply_error(req, 503, "stopping", "the gateway is stopping");
		signin_free(si);
		return;
	}
	if (!si->ok) {
		failed(s, si);
		return;
	}
	sqlite3 *db = s->gw->db;
	ratelimit_clear(db, &by_account, si->key);
	char token[80];
	int64_t expires;
	int e = session_open(s, si, token, &expires);
	if (e == -ENOENT) {
		failed(s, si);
		return;
	}
	log_info("%s (%s) signed in from %s (hash %.0f ms)", si->user.username, si->user.role,
		 si->client, si->hash_ms);
	if (http_client_gone(req)) {
		http_reply_gone(req);
	} else if (e < 0) {
		http_reply_error(req, 503, "unavailable", "the session could not be stored");
	} else {
		char at[32];
		time_iso_vn(expires, at);
		const char *counter = si->counter[0] ? si->counter : si->user.counter;
		http_reply_json(req, 201,
				json_pack("{s:s, s:s, s:o}", "token", token, "expires_at", at,
					  "user",
					  user_json(si->user.username, si->user.name, si->user.role,
						    si->user.unit, counter)));
	}
	sodium_memzero(token, sizeof token);
	signin_free(si);
}

/* ---- the routes ---- */

static bool counter_field(struct evhttp_request *req, json_t *j, char out[51])
{
	json_t *v = json_object_get(j, "counter");
	const char *s = NULL;
	out[0] = 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 1 || json_integer_value(v) > 999) {
			http_reply_error(req, 400, "bad_request", "counter must be 1 to 999");
			return false;
		}
		snprintf(out, 51, "%lld", (long long)json_integer_value(v));
		return true;
	}
	if (!http_str_field(req, j, "counter", "counter (the desk's name or number)", false, 50,
			    &s))
		return false;
	snprintf(out, 51, "%s", s ? s : "");
	return true;
}

static void route_signin(struct call *c)
{
	static const char *const keys[] = {"username", "password", "counter", NULL};
	struct session_api *s = c->data;
	struct evhttp_request *req = c->req;
	json_t *j = http_json_body(req);
	const char *username, *password;
	if (!j)
		return;
	struct signin *si = calloc(1, sizeof *si);
	if (!si) {
		json_decref(j);
		http_reply_error(req, 503, "unavailable", "out of memory");
		return;
	}
	si->s = s;
	si->req = req;
	if (!http_only_keys(req, j, "", keys) ||
	    !http_str_field(req, j, "username", "username", true, USER_NAME_MAX * 2, &username) ||
	    !http_str_field(req, j, "password", "password", true, USER_PASSWORD_MAX, &password) ||
	    !counter_field(req, j, si->counter))
		goto out;
	size_t n = strlen(username);
	for (size_t i = 0; i < n; i++)
		si->key[i] = (username[i] >= 'A' && username[i] <= 'Z') ? (char)(username[i] + 32)
									: username[i];
	si->key[n] = 0;
	snprintf(si->password, sizeof si->password, "%s", password);
	http_client_address(req, si->client, sizeof si->client);
	sqlite3 *db = s->gw->db;
	int64_t now = time_now();
	int64_t la = ratelimit_locked(db, &by_account, si->key, now);
	int64_t lb = ratelimit_locked(db, &by_address, si->client, now);
	if (la > 0 || lb > 0) {
		log_info("sign-in of '%s' from %s: locked", si->key, si->client);
		reply_locked(req, la > lb ? la : lb);
		goto out;
	}
	si->known = user_find(db, si->key, &si->user) == 0 && !si->user.disabled;
	int e = workers_submit(s->pool, verify_work, verify_done, si);
	if (e == 0) {
		json_decref(j);
		return;
	}
	set_retry_after(req, 1);
	http_reply_error(req, 503, e == -EAGAIN ? "busy" : "stopping",
			 "too many sign-ins at once: try again");
out:
	json_decref(j);
	signin_free(si);
}

static void route_whoami(struct call *c)
{
	struct session_api *s = c->data;
	const struct token_info *tok = c->tok;
	if (!tok->user_id) {
		http_reply_json(c->req, 200,
				json_pack("{s:n, s:{s:s, s:s}}", "user", "token", "name", tok->name,
					  "role", role_name(tok->role)));
		return;
	}
	sqlite3_stmt *st = db_prepare(s->gw->db, "SELECT expires_at FROM sessions WHERE id = ?1");
	char at[32] = "";
	if (st) {
		sqlite3_bind_int64(st, 1, tok->id);
		if (sqlite3_step(st) == SQLITE_ROW)
			time_iso_vn(sqlite3_column_int64(st, 0), at);
		sqlite3_finalize(st);
	}
	http_reply_json(c->req, 200,
			json_pack("{s:o, s:s}", "user",
				  user_json(tok->name, tok->full_name, role_name(tok->role),
					    tok->unit, tok->counter),
				  "expires_at", at));
}

static void route_signout(struct call *c)
{
	struct session_api *s = c->data;
	const struct token_info *tok = c->tok;
	sqlite3 *db = s->gw->db;
	if (!tok->user_id) {
		http_reply_error(
		    c->req, 400, "not_a_session",
		    "a machine token is not signed out: revoke it (motcua token revoke)");
		return;
	}
	if (db_begin(db) < 0)
		goto fail;
	sqlite3_stmt *st =
	    db_prepare(db, "UPDATE sessions SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL");
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_int64(st, 1, tok->id);
		sqlite3_bind_int64(st, 2, time_now());
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_DONE ||
	    events_publish(s->gw->events, "session.closed",
			   json_pack("{s:s, s:s?}", "username", tok->name, "counter",
				     tok->counter[0] ? tok->counter : NULL)) < 0 ||
	    db_commit(db) < 0)
		goto fail;
	log_info("%s signed out", tok->name);
	evhttp_send_reply(c->req, 204, "No Content", NULL);
	return;
fail:
	db_rollback(db);
	http_reply_error(c->req, 503, "unavailable", "the sign-out could not be stored");
}

static const struct route_def routes[] = {
    {"POST", "/api/v1/session", 0, route_signin,
     "sign in: {\"username\", \"password\", \"counter\"?} -> a session token"},
    {"GET", "/api/v1/session", R_ANY, route_whoami, "who the token is"},
    {"DELETE", "/api/v1/session", R_ANY, route_signout, "sign out (a session token)"},
};

struct session_api *session_api_new(struct gateway *gw)
{
	struct session_api *s = calloc(1, sizeof *s);
	if (!s || users_crypto_init() < 0 || !(s->pool = workers_new(gw->base, 1))) {
		log_error("cannot start the sign-in worker (libsodium)");
		session_api_free(s);
		return NULL;
	}
	s->gw = gw;
	ratelimit_purge(gw->db, time_now());
	if (router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], s, NULL) < 0) {
		session_api_free(s);
		return NULL;
	}
	workers_submit(s->pool, dummy_work, NULL, NULL);
	return s;
}

void session_api_stop(struct session_api *s)
{
	if (!s || s->stopped)
		return;
	s->stopped = true;
	workers_free(s->pool);
	s->pool = NULL;
	while (s->delayed)
		on_delay(-1, 0, s->delayed);
}

void session_api_free(struct session_api *s)
{
	if (!s)
		return;
	session_api_stop(s);
	if (s->gw)
		router_remove_owner(s->gw->router, s);
	free(s);
}
