/* SPDX-License-Identifier: MIT */
/*
 * eval-stream: consumes every gateway event (event_subscribe_from, resuming
 * after the last id it made durable) and
 *  - keeps the Decision 766 indicators' derived tables (eval-core) in
 *    <data_dir>/eval-stream/eval.db, one transaction per event together with
 *    the event id and the event's MQTT message;
 *  - serves GET /api/v1/indicators?from=&to=&by=office|unit|official;
 *  - streams every event to <topic_prefix>/events/<type> and an indicator
 *    snapshot to <topic_prefix>/indicators over MQTT (QoS 1), from an outgoing
 *    queue table drained in order by a sender thread that deletes a row only
 *    after its PUBACK;
 *  - publishes the snapshot as an "indicators.snapshot" event (SSE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>

#include <motcua/plugin.h>

#include "eval-core.h"

#define PLUGIN_NAME "eval-stream"
#define PLUGIN_VERSION "1.0.0"
#define MAX_WINDOW 20
#define PASSWORD_FILE_MAX 4096 /* bytes of password_file (its first line is the password) */

struct inflight {
	int64_t seq;
	int mid;
	int acked;
};

struct plugin {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	struct eval *ev;
	char db_path[4096];
	char agency[128];
	char prefix[256];
	const char *sync_destination;
	struct motcua_timer *timer;
	int replaying; /* inside event_subscribe_from(): stored events come in batches */
	int batch_n;   /* events in the open transaction */

	/* MQTT */
	int mqtt;
	char mqtt_host[256];
	int mqtt_port;
	int tls;
	const char *ca_file;
	const char *username;
	char password[PASSWORD_FILE_MAX + 1]; /* secret: wiped in plugin_free() */
	char client_id[128];
	int window;
	int reconnect_max_s;
	int keepalive_s;
	int efd;
	pthread_t thread;
	int thread_started;
	atomic_int stop;
	atomic_int connected;
	atomic_llong published; /* PUBACKs received */

	/* sender thread only */
	sqlite3 *sdb;
	sqlite3_stmt *s_next, *s_delete;
	struct inflight inf[MAX_WINDOW];
	int n_inf;
	int64_t last_sent;
	int64_t acked_upto;   /* rows up to here are acknowledged ... */
	int64_t deleted_upto; /* ... and up to here deleted from the queue */
	double last_delete;
	int connect_rc;
	int was_down_logged;
};

/* ---- config ---------------------------------------------------------------------------- */

static int config_long(struct plugin *p, const char *key, long def, long min, long max, long *out)
{
	const char *v = p->host->config_get(p->ctx, NULL, key);
	*out = def;
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (end == v || *end || errno || x < min || x > max) {
		p->host->log(p->ctx, MOTCUA_LOG_ERROR,
			     "%s = %s: phải là số nguyên từ %ld đến %ld (must be a whole number "
			     "from %ld to %ld)",
			     key, v, min, max, min, max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int config_bool(struct plugin *p, const char *key, int def, int *out)
{
	const char *v = p->host->config_get(p->ctx, NULL, key);
	*out = def;
	if (!v)
		return 0;
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1") ||
	    !strcasecmp(v, "on"))
		*out = 1;
	else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0") ||
		 !strcasecmp(v, "off"))
		*out = 0;
	else {
		p->host->log(p->ctx, MOTCUA_LOG_ERROR,
			     "%s = %s: phải là true hoặc false (must be true or false)", key, v);
		return -EINVAL;
	}
	return 0;
}

/* The MQTT password: the first line of password_file, read through the
 * host's secret_read() under the gateway's one policy (its reason logged when
 * it refuses the file). A gateway older than that policy is refused when a
 * password file is configured. */
static int read_password(struct plugin *p, const char *path)
{
	char why[512];
	if (!MOTCUA_HAS_MEMBER(struct motcua_host, p->host, secret_read) || !p->host->secret_read) {
		p->host->log(
		    p->ctx, MOTCUA_LOG_ERROR,
		    "password_file: gateway quá cũ, không đọc được tệp bí mật (this gateway is too "
		    "old: it cannot "
		    "read secret files, no secret_read in its host table); update the gateway");
		return -ENOTSUP;
	}
	int r = p->host->secret_read(p->ctx, "password_file", path, MOTCUA_SECRET_LINE, p->password,
				     sizeof p->password, NULL, why, sizeof why);
	if (r < 0)
		p->host->log(p->ctx, MOTCUA_LOG_ERROR, "%s", why);
	return r;
}

/* Frees the plugin's state; the password wiped first. */
static void plugin_free(struct plugin *p)
{
	explicit_bzero(p->password, sizeof p->password);
	free(p);
}

/* ---- the MQTT sender thread ----------------------------------------------------------------- */

static void wake(struct plugin *p)
{
	if (p->efd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(p->efd, &one, sizeof one);
		(void)w;
	}
}

static void drain_efd(struct plugin *p)
{
	uint64_t v;
	ssize_t r = read(p->efd, &v, sizeof v);
	(void)r;
}

static void on_connect(struct mosquitto *m, void *data, int rc)
{
	struct plugin *p = data;
	p->connect_rc = rc;
	if (rc == 0) {
		atomic_store(&p->connected, 1);
		p->host->log(p->ctx, MOTCUA_LOG_INFO, "MQTT: đã kết nối %s:%d (connected)",
			     p->mqtt_host, p->mqtt_port);
		p->was_down_logged = 0;
	} else {
		p->host->log(p->ctx, MOTCUA_LOG_ERROR,
			     "MQTT: máy chủ %s:%d từ chối kết nối (broker refused): %s",
			     p->mqtt_host, p->mqtt_port, mosquitto_connack_string(rc));
	}
}

static void on_publish(struct mosquitto *m, void *data, int mid)
{
	struct plugin *p = data;
	for (int i = 0; i < p->n_inf; i++)
		if (p->inf[i].mid == mid)
			p->inf[i].acked = 1;
	/* ordered acknowledgement: a row goes only when it and all before it are acked */
	int k = 0;
	while (k < p->n_inf && p->inf[k].acked)
		k++;
	if (!k)
		return;
	p->acked_upto = p->inf[k - 1].seq;
	atomic_fetch_add(&p->published, k);
	memmove(p->inf, p->inf + k, (size_t)(p->n_inf - k) * sizeof p->inf[0]);
	p->n_inf -= k;
}

static double mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Deletes the acknowledged rows. Done in batches (every 256 rows, 100 ms, or
 * when idle) so that the sender seldom takes the write lock the gateway's
 * loop needs for every event; a crash in between sends those few again
 * (at least once, in order; "event_id" tells repeats apart). */
static void flush_deletes(struct plugin *p, int force)
{
	if (p->acked_upto <= p->deleted_upto)
		return;
	double now = mono_s();
	if (!force && p->acked_upto - p->deleted_upto < 256 && now - p->last_delete < 0.1 &&
	    p->n_inf)
		return;
	sqlite3_bind_int64(p->s_delete, 1, p->acked_upto);
	if (sqlite3_step(p->s_delete) != SQLITE_DONE)
		p->host->log(p->ctx, MOTCUA_LOG_WARNING, "MQTT queue: %s", sqlite3_errmsg(p->sdb));
	else
		p->deleted_upto = p->acked_upto;
	sqlite3_reset(p->s_delete);
	p->last_delete = now;
}

/* Publishes queued rows until the window is full. Returns 0 or a mosquitto error. */
static int fill_window(struct plugin *p, struct mosquitto *m)
{
	if (p->n_inf >= p->window)
		return 0;
	sqlite3_bind_int64(p->s_next, 1, p->last_sent);
	sqlite3_bind_int(p->s_next, 2, p->window - p->n_inf);
	int rc = MOSQ_ERR_SUCCESS;
	while (sqlite3_step(p->s_next) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(p->s_next, 0);
		const char *topic = (const char *)sqlite3_column_text(p->s_next, 1);
		const void *payload = sqlite3_column_blob(p->s_next, 2);
		int len = sqlite3_column_bytes(p->s_next, 2);
		int mid = 0;
		rc = mosquitto_publish(m, &mid, topic, len, payload, 1, false);
		if (rc != MOSQ_ERR_SUCCESS)
			break;
		p->inf[p->n_inf++] = (struct inflight){seq, mid, 0};
		p->last_sent = seq;
	}
	sqlite3_reset(p->s_next);
	return rc;
}

static void run_session(struct plugin *p, struct mosquitto *m)
{
	p->n_inf = 0;
	p->last_sent = 0; /* from the oldest row not yet acknowledged */
	while (!atomic_load(&p->stop)) {
		if (atomic_load(&p->connected) && fill_window(p, m) != MOSQ_ERR_SUCCESS)
			break;
		flush_deletes(p, 0);
		if (p->connect_rc > 0)
			break;
		struct pollfd pf[2] = {{.fd = mosquitto_socket(m), .events = POLLIN},
				       {.fd = p->efd, .events = POLLIN}};
		if (pf[0].fd < 0)
			break;
		if (mosquitto_want_write(m))
			pf[0].events |= POLLOUT;
		int n = poll(pf, 2, 1000);
		if (n < 0 && errno != EINTR)
			break;
		if (pf[1].revents & POLLIN)
			drain_efd(p);
		if (pf[0].revents & (POLLIN | POLLERR | POLLHUP)) {
			if (mosquitto_loop_read(m, 1) != MOSQ_ERR_SUCCESS)
				break;
		}
		if (pf[0].revents & POLLOUT) {
			if (mosquitto_loop_write(m, 1) != MOSQ_ERR_SUCCESS)
				break;
		}
		if (mosquitto_loop_misc(m) != MOSQ_ERR_SUCCESS)
			break;
	}
	if (atomic_load(&p->connected) && !atomic_load(&p->stop))
		p->host->log(p->ctx, MOTCUA_LOG_WARNING,
			     "MQTT: mất kết nối %s:%d, sự kiện được giữ lại trong hàng đợi "
			     "(connection lost; events are kept queued)",
			     p->mqtt_host, p->mqtt_port);
	flush_deletes(p, 1);
	atomic_store(&p->connected, 0);
	p->n_inf = 0;
}

static void *sender_main(void *data)
{
	struct plugin *p = data;
	if (sqlite3_open_v2(p->db_path, &p->sdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(p->sdb, 10000) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		p->sdb, "SELECT seq, topic, payload FROM outq WHERE seq > ?1 ORDER BY seq LIMIT ?2",
		-1, &p->s_next, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(p->sdb, "DELETE FROM outq WHERE seq <= ?1", -1, &p->s_delete,
			       NULL) != SQLITE_OK) {
		p->host->log(p->ctx, MOTCUA_LOG_ERROR, "MQTT queue: %s", sqlite3_errmsg(p->sdb));
		return NULL;
	}
	int backoff = 1;
	while (!atomic_load(&p->stop)) {
		struct mosquitto *m = mosquitto_new(p->client_id, true, p);
		if (!m) {
			p->host->log(p->ctx, MOTCUA_LOG_ERROR, "MQTT: out of memory");
			break;
		}
		mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
		mosquitto_connect_callback_set(m, on_connect);
		mosquitto_publish_callback_set(m, on_publish);
		if (p->username)
			mosquitto_username_pw_set(m, p->username,
						  p->password[0] ? p->password : NULL);
		int rc = MOSQ_ERR_SUCCESS;
		if (p->tls)
			rc = mosquitto_tls_set(m, p->ca_file, p->ca_file ? NULL : "/etc/ssl/certs",
					       NULL, NULL, NULL);
		p->connect_rc = -1;
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_connect(m, p->mqtt_host, p->mqtt_port, p->keepalive_s);
		if (rc == MOSQ_ERR_SUCCESS) {
			run_session(p, m);
			if (p->connect_rc == 0)
				backoff = 1;
		} else if (!p->was_down_logged) {
			p->host->log(p->ctx, MOTCUA_LOG_WARNING,
				     "MQTT: không kết nối được %s:%d, sẽ thử lại; sự kiện được giữ "
				     "lại (cannot connect, will retry; events are kept): %s",
				     p->mqtt_host, p->mqtt_port,
				     rc == MOSQ_ERR_ERRNO ? strerror(errno)
							  : mosquitto_strerror(rc));
			p->was_down_logged = 1;
		}
		mosquitto_destroy(m);
		if (atomic_load(&p->stop))
			break;
		/* back off (interruptible by stop) */
		struct timespec t0, now;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long left = (long)backoff * 1000 - ((now.tv_sec - t0.tv_sec) * 1000 +
							    (now.tv_nsec - t0.tv_nsec) / 1000000);
			if (left <= 0 || atomic_load(&p->stop))
				break;
			struct pollfd pf = {.fd = p->efd, .events = POLLIN};
			if (poll(&pf, 1, (int)left) > 0)
				drain_efd(p);
		}
		backoff = backoff * 2 > p->reconnect_max_s ? p->reconnect_max_s : backoff * 2;
	}
	sqlite3_finalize(p->s_next);
	sqlite3_finalize(p->s_delete);
	sqlite3_close(p->sdb);
	return NULL;
}

/* ---- events ------------------------------------------------------------------------------- */

static int queue_add(struct plugin *p, const char *topic, const char *payload)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v3(eval_db(p->ev), "INSERT INTO outq(topic, payload) VALUES(?1, ?2)",
			       -1, 0, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, payload, (int)strlen(payload), SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static char *mqtt_payload(struct plugin *p, int64_t id, const char *type, const char *json,
			  size_t len)
{
	json_t *j = json_loadb(json, len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	if (!json_is_string(json_object_get(j, "type")))
		json_object_set_new(j, "type", json_string(type));
	if (!json_is_string(json_object_get(j, "at"))) {
		char at[40];
		eval_now_iso(at, sizeof at);
		json_object_set_new(j, "at", json_string(at));
	}
	json_object_set_new(j, "office", json_string(p->agency));
	json_object_set_new(j, "event_id", json_integer(id));
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* Commits the open batch of events (see on_event). */
static void batch_commit(struct plugin *p)
{
	if (!p->batch_n)
		return;
	if (eval_commit(p->ev)) {
		p->host->log(p->ctx, MOTCUA_LOG_ERROR,
			     "chỉ số: không ghi được (indicators not recorded): %s",
			     sqlite3_errmsg(eval_db(p->ev)));
		eval_rollback(p->ev);
	}
	p->batch_n = 0;
	if (p->mqtt)
		wake(p);
}

/* One event: its derived rows, its MQTT queue row and the new last id, in
 * one transaction (a savepoint of a batch of up to 1000 while the stored
 * events are replayed at start, so that catching up on a year is quick). */
static void on_event(void *data, int64_t id, const char *type, const char *json, size_t json_len)
{
	struct plugin *p = data;
	sqlite3 *db = eval_db(p->ev);
	if (id <= eval_last_id(p->ev))
		return;
	if (!p->batch_n && eval_begin(p->ev)) {
		p->host->log(p->ctx, MOTCUA_LOG_ERROR, "event %lld: %s", (long long)id,
			     sqlite3_errmsg(db));
		return;
	}
	p->batch_n++;
	sqlite3_exec(db, "SAVEPOINT ev", NULL, NULL, NULL);
	int r = 0;
	/* our own snapshots go to <prefix>/indicators, not again as events */
	if (p->mqtt && strcmp(type, "indicators.snapshot")) {
		char *payload = mqtt_payload(p, id, type, json, json_len);
		char topic[600];
		snprintf(topic, sizeof topic, "%s/events/%s", p->prefix, type);
		r = payload ? queue_add(p, topic, payload) : -ENOMEM;
		free(payload);
	}
	/* last: it records id as the last one applied */
	if (r == 0)
		r = eval_apply(p->ev, id, type, json, json_len, p->sync_destination);
	if (r < 0) {
		p->host->log(p->ctx, MOTCUA_LOG_ERROR,
			     "sự kiện %lld (%s) không ghi được (event not recorded): %s",
			     (long long)id, type, sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK TO ev", NULL, NULL, NULL);
	}
	sqlite3_exec(db, "RELEASE ev", NULL, NULL, NULL);
	if (!p->replaying || p->batch_n >= 1000)
		batch_commit(p);
}

static void snapshot(void *data)
{
	struct plugin *p = data;
	char *q = NULL, message[512];
	if (eval_query(p->ev, NULL, NULL, "office", &q, message, sizeof message)) {
		p->host->log(p->ctx, MOTCUA_LOG_WARNING, "snapshot: %s", message);
		return;
	}
	json_t *j = json_loads(q, 0, NULL);
	free(q);
	if (!j)
		return;
	char at[40];
	eval_now_iso(at, sizeof at);
	json_object_set_new(j, "type", json_string("indicators.snapshot"));
	json_object_set_new(j, "at", json_string(at));
	json_object_set_new(j, "office", json_string(p->agency));
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(j);
	if (!s)
		return;
	if (p->mqtt) {
		char topic[600];
		snprintf(topic, sizeof topic, "%s/indicators", p->prefix);
		if (queue_add(p, topic, s))
			p->host->log(p->ctx, MOTCUA_LOG_WARNING, "snapshot: %s",
				     sqlite3_errmsg(eval_db(p->ev)));
		else
			wake(p);
	}
	/* To dashboards: streamed, not stored (a snapshot a minute would fill
	 * the durable event log); an older gateway gets a stored event. */
	if (p->host->struct_size >=
		offsetof(struct motcua_host, event_broadcast) + sizeof p->host->event_broadcast &&
	    p->host->event_broadcast)
		p->host->event_broadcast(p->ctx, "indicators.snapshot", s);
	else
		p->host->event_publish(p->ctx, "indicators.snapshot", s);
	free(s);
}

/* ---- routes ------------------------------------------------------------------------------- */

static int respond_error(struct plugin *p, struct motcua_response *resp, int status,
			 const char *message)
{
	json_t *e = json_pack("{s:s}", "error", message);
	char *s = json_dumps(e, JSON_COMPACT);
	p->host->response_set(resp, "application/json", s, strlen(s));
	free(s);
	json_decref(e);
	return status;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

static void url_decode(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else {
			*o++ = *s == '+' ? ' ' : *s;
		}
	}
	*o = 0;
}

static int route_indicators(void *data, const struct motcua_request *req,
			    struct motcua_response *resp)
{
	struct plugin *p = data;
	char from[64] = "", to[64] = "", by[64] = "", q[1024];
	int have_from = 0, have_to = 0, have_by = 0;
	snprintf(q, sizeof q, "%s", req->query ? req->query : "");
	char *save = NULL;
	for (char *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		const char *v = eq ? eq + 1 : "";
		if (eq)
			*eq = 0;
		char *dst;
		int *have;
		if (!strcmp(kv, "from")) {
			dst = from;
			have = &have_from;
		} else if (!strcmp(kv, "to")) {
			dst = to;
			have = &have_to;
		} else if (!strcmp(kv, "by")) {
			dst = by;
			have = &have_by;
		} else {
			char m[256];
			snprintf(
			    m, sizeof m,
			    "Tham số không hỗ trợ (unknown parameter): %.64s; dùng from, to, by",
			    kv);
			return respond_error(p, resp, 400, m);
		}
		if (*have)
			return respond_error(p, resp, 400, "Tham số lặp lại (repeated parameter)");
		if (strlen(v) >= 64)
			return respond_error(p, resp, 400, "Tham số quá dài (parameter too long)");
		snprintf(dst, 64, "%s", v);
		url_decode(dst);
		*have = 1;
	}
	char *json = NULL, message[512];
	int r = eval_query(p->ev, from, to, by, &json, message, sizeof message);
	if (r == -EINVAL)
		return respond_error(p, resp, 400, message);
	if (r)
		return respond_error(p, resp, 500, message);
	p->host->response_set(resp, "application/json", json, strlen(json));
	free(json);
	return 200;
}

static int route_status(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	struct plugin *p = data;
	sqlite3_stmt *st;
	long long queued = -1;
	if (sqlite3_prepare_v2(eval_db(p->ev), "SELECT count(*) FROM outq", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			queued = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	json_t *j = json_pack("{s:I, s:{s:b, s:b, s:s, s:i, s:I, s:I}}", "last_event_id",
			      (json_int_t)eval_last_id(p->ev), "mqtt", "enabled", p->mqtt,
			      "connected", atomic_load(&p->connected), "host", p->mqtt_host, "port",
			      p->mqtt_port, "queued", (json_int_t)queued, "acknowledged",
			      (json_int_t)atomic_load(&p->published));
	char *s = json_dumps(j, JSON_COMPACT);
	p->host->response_set(resp, "application/json", s, strlen(s));
	free(s);
	json_decref(j);
	return 200;
}

/* ---- init / fini ------------------------------------------------------------------------------
 */

static void eval_fini(void *state)
{
	struct plugin *p = state;
	if (!p)
		return;
	if (p->thread_started) {
		atomic_store(&p->stop, 1);
		wake(p);
		pthread_join(p->thread, NULL);
		mosquitto_lib_cleanup();
	}
	if (p->efd >= 0)
		close(p->efd);
	eval_close(p->ev);
	plugin_free(p);
}

static int eval_init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	struct plugin *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	p->host = host;
	p->efd = -1;
	if (host->struct_size < offsetof(struct motcua_host, event_subscribe_from) +
				    sizeof host->event_subscribe_from ||
	    !host->event_subscribe_from) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "gateway quá cũ: thiếu event_subscribe_from (gateway too old)");
		plugin_free(p);
		return -ENOTSUP;
	}
	const char *agency = host->config_get(ctx, "office", "agency_code");
	snprintf(p->agency, sizeof p->agency, "%s", agency && *agency ? agency : "office");
	const char *prefix = host->config_get(ctx, NULL, "topic_prefix");
	if (prefix && *prefix)
		snprintf(p->prefix, sizeof p->prefix, "%s", prefix);
	else
		snprintf(p->prefix, sizeof p->prefix, "motcua/%s", p->agency);
	size_t pl = strlen(p->prefix);
	while (pl > 0 && p->prefix[pl - 1] == '/')
		p->prefix[--pl] = 0;
	if (strpbrk(p->prefix, "+#") || !pl) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "topic_prefix = %s: không được chứa + hoặc # (must not contain + or #)",
			  p->prefix);
		plugin_free(p);
		return -EINVAL;
	}
	p->sync_destination = host->config_get(ctx, NULL, "sync_destination");

	long interval, port, window, backoff, keepalive;
	int r = config_long(p, "snapshot_interval_s", 60, 0, 86400, &interval);
	if (!r)
		r = config_bool(p, "mqtt_tls", 0, &p->tls);
	if (!r)
		r = config_long(p, "mqtt_port", p->tls ? 8883 : 1883, 1, 65535, &port);
	if (!r)
		r = config_long(p, "mqtt_window", 16, 1, MAX_WINDOW, &window);
	if (!r)
		r = config_long(p, "mqtt_reconnect_max_s", 60, 1, 3600, &backoff);
	if (!r)
		r = config_long(p, "mqtt_keepalive_s", 30, 5, 3600, &keepalive);
	if (r) {
		plugin_free(p);
		return r;
	}
	p->mqtt_port = (int)port;
	p->window = (int)window;
	p->reconnect_max_s = (int)backoff;
	p->keepalive_s = (int)keepalive;
	const char *mh = host->config_get(ctx, NULL, "mqtt_host");
	p->mqtt = mh && *mh;
	snprintf(p->mqtt_host, sizeof p->mqtt_host, "%s", p->mqtt ? mh : "");
	p->ca_file = host->config_get(ctx, NULL, "mqtt_ca_file");
	p->username = host->config_get(ctx, NULL, "username");
	const char *pwf = host->config_get(ctx, NULL, "password_file");
	if (pwf && *pwf && (r = read_password(p, pwf))) {
		plugin_free(p);
		return r;
	}
	if (p->ca_file && access(p->ca_file, R_OK)) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "mqtt_ca_file %s: không đọc được (cannot read): %s", p->ca_file,
			  strerror(errno));
		plugin_free(p);
		return -ENOENT;
	}
	const char *cid = host->config_get(ctx, NULL, "mqtt_client_id");
	snprintf(p->client_id, sizeof p->client_id, "%s", cid && *cid ? cid : "");
	if (!p->client_id[0])
		snprintf(p->client_id, sizeof p->client_id, "motcua-%s", p->agency);

	char dir[4096], message[512];
	snprintf(dir, sizeof dir, "%s/%s", host->data_dir(ctx), PLUGIN_NAME);
	if (mkdir(dir, 0750) && errno != EEXIST) {
		host->log(ctx, MOTCUA_LOG_ERROR, "không tạo được thư mục %s (cannot create): %s",
			  dir, strerror(errno));
		plugin_free(p);
		return -errno;
	}
	snprintf(p->db_path, sizeof p->db_path, "%s/eval.db", dir);
	if ((r = eval_open(p->db_path, &p->ev, message, sizeof message))) {
		host->log(ctx, MOTCUA_LOG_ERROR, "%s", message);
		plugin_free(p);
		return r;
	}
	*state = p;

	if (p->mqtt) {
		mosquitto_lib_init();
		p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (p->efd < 0 || pthread_create(&p->thread, NULL, sender_main, p)) {
			host->log(ctx, MOTCUA_LOG_ERROR, "MQTT: cannot start the sender thread");
			mosquitto_lib_cleanup();
			r = -EAGAIN;
			goto fail;
		}
		p->thread_started = 1;
	}

	const unsigned roles = MOTCUA_ROLE_CLERK | MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN;
	if ((r = host->route_add(ctx, "GET", "/indicators", roles, route_indicators, p, NULL)) ||
	    (r = host->route_add(ctx, "GET", "/status", roles, route_status, p, NULL)))
		goto fail;
	int64_t since = eval_last_id(p->ev);
	p->replaying = 1;
	r = host->event_subscribe_from(ctx, "", since, on_event, p, NULL);
	p->replaying = 0;
	batch_commit(p);
	if (r)
		goto fail;
	if (interval > 0) {
		p->timer = host->timer_add(ctx, (uint32_t)interval * 1000u, 1, snapshot, p, NULL);
		if (!p->timer) {
			r = -ENOMEM;
			goto fail;
		}
	}
	host->log(ctx, MOTCUA_LOG_INFO,
		  "chỉ số từ sự kiện %lld; MQTT %s%s%s (indicators resume after event %lld)",
		  (long long)since, p->mqtt ? p->mqtt_host : "tắt (off)", p->mqtt ? " → " : "",
		  p->mqtt ? p->prefix : "", (long long)since);
	return 0;

fail:
	/* the host does not call fini() after a failed init */
	eval_fini(p);
	*state = NULL;
	return r;
}

static const struct motcua_config_key keys[] = {
    {"mqtt_host", "MQTT broker host name; unset = no MQTT upstream"},
    {"mqtt_port", "MQTT broker port (default 1883, 8883 with mqtt_tls)"},
    {"mqtt_tls", "true: connect with TLS (default false)"},
    {"mqtt_ca_file",
     "CA certificate(s) (PEM) that signed the broker's certificate; default: the system's"},
    {"username", "MQTT user name"},
    {"password_file", "file holding the MQTT password (mode 0600)"},
    {"topic_prefix", "topic prefix (default motcua/<agency_code>)"},
    {"snapshot_interval_s", "seconds between indicator snapshots (default 60; 0 = none)"},
    {"sync_destination",
     "the outbox destination that syncs to the national portal (default adapter-dvcqg)"},
    {"mqtt_client_id", "MQTT client id (default motcua-<agency_code>)"},
    {"mqtt_window", "messages in flight awaiting PUBACK, acknowledged in order (1-20, default 16)"},
    {"mqtt_reconnect_max_s", "longest wait between reconnection attempts (default 60)"},
    {"mqtt_keepalive_s", "MQTT keepalive in seconds (default 30)"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = PLUGIN_NAME,
    .version = PLUGIN_VERSION,
    .provides = MOTCUA_PROVIDES_SINK,
    .config_keys = keys,
    .init = eval_init,
    .fini = eval_fini,
};

MOTCUA_PLUGIN_DECLARE(info)
