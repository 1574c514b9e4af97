/* SPDX-License-Identifier: MIT */
/*
 * The outbox: store-and-forward delivery of every dossier change to every
 * destination (adapter plugin) that takes it.
 *
 * A change that a receiver needs ("dossier.created", "document.done",
 * "dossier.status") writes one row per accepting destination in the same
 * transaction as its event (on_event, the event bus's publish hook), with a
 * snapshot of the dossier as it was then and an idempotency key derived
 * from destination, dossier and event. The runner sends a destination's rows
 * of one dossier strictly in order (a row waits while an earlier one of the
 * same dossier and destination is pending or dead), several dossiers at
 * once on its own worker pool ([outbox] workers), so a slow peer holds one
 * worker and not the counter.
 *
 * Rows being sent are marked in memory only, until their result is
 * committed (so that a row is never picked twice): after a crash they are simply
 * pending again and are sent again with the same key, which the peer uses
 * to drop the repeat. Results are recorded in one transaction per loop
 * iteration: delivered rows are never sent again once recorded; a retry
 * waits base * 2^(attempts-1) seconds (capped, with up to half of it as
 * random jitter); after max_attempts, or at once when the peer refused the
 * row for good, it goes to the dead letters, where an admin retries or
 * cancels it (GET/POST /api/v1/outbox...). A dead row holds the dossier's
 * later rows for that destination: order before completeness.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <event2/buffer.h>

#include "db.h"
#include "events.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "outbox.h"
#include "records.h"
#include "router.h"
#include "slot.h"
#include "store.h"
#include "util.h"
#include "validate.h"
#include "workers.h"

#define LIST_MAX 500

struct done_row {
	struct done_row *next;
	int64_t id;
	int result;
	unsigned attempt;
	char *dest, *code, *type;
	char message[256];
	char peer_ref[128];
};

/* A destination that cannot be reached pauses: its rows wait, and one probe
 * per backoff finds out when it is back. */
struct pause {
	char name[64];
	unsigned fails; /* unreachable in a row */
	int64_t until;	/* no delivery before */
};

#define MAX_DESTINATIONS 32

/* A destination: an adapter plugin. */
struct adapter {
	struct slot slot; /* its plugin_name is the destination's name */
	struct motcua_adapter_ops ops;
};

struct outbox {
	struct adapter adapters[MAX_DESTINATIONS]; /* in registration order */
	size_t n_adapters;
	struct pause pauses[MAX_DESTINATIONS];
	size_t n_pauses;
	struct gateway *gw;
	struct workers *pool;
	struct event *run_ev, *timer_ev, *flush_ev;
	int64_t *inflight; /* row ids being sent */
	size_t n_inflight, cap_inflight;
	struct done_row *done; /* results waiting for flush */
	bool started, stopping;
	uint64_t delivered, retried, dead; /* since start, for /metrics */
};

/* One row being sent. */
struct sending {
	struct outbox *o;
	struct motcua_adapter_ops ops; /* the adapter's */
	void *data;
	struct motcua_delivery d;
	char *key, *dest, *code, *type, *event, *dossier;
	int result;
};

static void on_run(evutil_socket_t fd, short what, void *arg);
static void on_flush(evutil_socket_t fd, short what, void *arg);
static int on_event(void *data, int64_t event_id, const char *type, const char *json);
static const struct route_def routes[4];

struct outbox *outbox_new(struct gateway *gw)
{
	struct outbox *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->gw = gw;
	o->pool = workers_new(gw->base, gw->settings.outbox_workers);
	o->run_ev = event_new(gw->base, -1, 0, on_run, o);
	o->timer_ev = event_new(gw->base, -1, 0, on_run, o);
	o->flush_ev = event_new(gw->base, -1, 0, on_flush, o);
	if (!o->pool || !o->run_ev || !o->timer_ev || !o->flush_ev ||
	    router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], o, NULL) < 0) {
		outbox_free(o);
		return NULL;
	}
	events_set_publish_hook(gw->events, on_event, o);
	return o;
}

static void done_row_free(struct done_row *d)
{
	free(d->dest);
	free(d->code);
	free(d->type);
	free(d);
}

void outbox_stop(struct outbox *o)
{
	if (o)
		o->stopping = true;
}

void outbox_drain(struct outbox *o)
{
	if (!o || !o->pool)
		return;
	o->stopping = true;
	/* Deliveries in flight finish; their results are recorded. */
	workers_free(o->pool);
	o->pool = NULL;
	if (o->gw->db && o->gw->events)
		on_flush(-1, 0, o);
}

void outbox_free(struct outbox *o)
{
	if (!o)
		return;
	outbox_drain(o);
	if (o->gw->events)
		events_set_publish_hook(o->gw->events, NULL, NULL);
	while (o->n_adapters)
		outbox_drop_owner(o, o->adapters[0].slot.owner);
	if (o->run_ev)
		event_free(o->run_ev);
	if (o->timer_ev)
		event_free(o->timer_ev);
	if (o->flush_ev)
		event_free(o->flush_ev);
	while (o->done) {
		struct done_row *d = o->done;
		o->done = d->next;
		done_row_free(d);
	}
	free(o->inflight);
	free(o);
}

void outbox_kick(struct outbox *o)
{
	if (o && o->started && !o->stopping)
		event_active(o->run_ev, 0, 0);
}

void outbox_start(struct outbox *o)
{
	sqlite3_stmt *st =
	    db_prepare(o->gw->db, "SELECT state, COUNT(*) FROM outbox GROUP BY state");
	char summary[256] = "";
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		size_t n = strlen(summary);
		snprintf(summary + n, sizeof summary - n, "%s%d %s", n ? ", " : "",
			 sqlite3_column_int(st, 1), (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	log_info("outbox: %s", summary[0] ? summary : "empty");
	o->started = true;
	outbox_kick(o);
}

/* ---- enqueue: in the caller's transaction ---- */

static const char *dossier_of(const char *type, json_t *ev)
{
	if (!strcmp(type, "dossier.created") || !strcmp(type, "dossier.status"))
		return json_string_value(json_object_get(ev, "code"));
	if (!strcmp(type, "document.done"))
		return json_string_value(json_object_get(ev, "dossier_code"));
	return NULL;
}

/* The bus's publish hook, in the event's transaction: rows for the
 * destinations that take this event (dossier.created, document.done,
 * dossier.status). */
static int on_event(void *data, int64_t event_id, const char *type, const char *json)
{
	struct outbox *o = data;
	struct gateway *gw = o->gw;
	if (strcmp(type, "dossier.created") && strcmp(type, "document.done") &&
	    strcmp(type, "dossier.status"))
		return 0;
	size_t n_adapters = o->n_adapters;
	const struct adapter *ad = o->adapters;
	if (!n_adapters)
		return 0;
	json_t *ev = json_loads(json, 0, NULL);
	const char *code = dossier_of(type, ev);
	json_t *snap = code ? dossier_snapshot(gw->records, code) : NULL;
	const char *procedure = json_string_value(json_object_get(snap, "procedure_code"));
	char *snap_s = snap ? json_dumps(snap, JSON_COMPACT) : NULL;
	int r = 0;
	if (!snap_s || !procedure) {
		log_error("outbox: %s of %s: no such dossier to deliver", type,
			  code ? code : "(none)");
		r = code ? -EIO : 0;
		goto out;
	}
	sqlite3_stmt *st =
	    db_prepare(gw->db, "INSERT INTO outbox(destination, dossier_code, event_id, event_type,"
			       " idempotency_key, event, dossier, state, created_at, updated_at)"
			       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?8)");
	for (size_t i = 0; st && i < n_adapters; i++) {
		if (!ad[i].ops.accepts(ad[i].slot.data, procedure, type))
			continue;
		char seed[512], key[65];
		snprintf(seed, sizeof seed, "%s\n%s\n%lld", ad[i].slot.plugin_name, code,
			 (long long)event_id);
		sha256_hex(seed, strlen(seed), key);
		key[32] = 0; /* 128 bits: unique enough, short enough for a header */
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, ad[i].slot.plugin_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, event_id);
		sqlite3_bind_text(st, 4, type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, json, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, snap_s, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 8, time_now());
		if (sqlite3_step(st) != SQLITE_DONE) {
			log_error("outbox: cannot queue %s of %s for %s: %s", type, code,
				  ad[i].slot.plugin_name, sqlite3_errmsg(gw->db));
			r = -EIO;
			break;
		}
	}
	if (!st)
		r = -EIO;
	sqlite3_finalize(st);
	if (r == 0)
		outbox_kick(o);
out:
	free(snap_s);
	json_decref(snap);
	json_decref(ev);
	return r;
}

/* ---- the runner ---- */

static bool is_inflight(struct outbox *o, int64_t id)
{
	for (size_t i = 0; i < o->n_inflight; i++)
		if (o->inflight[i] == id)
			return true;
	return false;
}

static void inflight_drop(struct outbox *o, int64_t id)
{
	for (size_t i = 0; i < o->n_inflight; i++)
		if (o->inflight[i] == id) {
			o->inflight[i] = o->inflight[--o->n_inflight];
			return;
		}
}

static int inflight_add(struct outbox *o, int64_t id)
{
	if (o->n_inflight == o->cap_inflight) {
		size_t cap = o->cap_inflight ? o->cap_inflight * 2 : 16;
		int64_t *n = realloc(o->inflight, cap * sizeof *n);
		if (!n)
			return -ENOMEM;
		o->inflight = n;
		o->cap_inflight = cap;
	}
	o->inflight[o->n_inflight++] = id;
	return 0;
}

static char *json_ids(struct outbox *o)
{
	json_t *a = json_array();
	for (size_t i = 0; i < o->n_inflight; i++)
		json_array_append_new(a, json_integer(o->inflight[i]));
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static struct pause *pause_of(struct outbox *o, const char *name, bool make)
{
	for (size_t i = 0; i < o->n_pauses; i++)
		if (!strcmp(o->pauses[i].name, name))
			return &o->pauses[i];
	if (!make || o->n_pauses == MAX_DESTINATIONS)
		return NULL;
	struct pause *p = &o->pauses[o->n_pauses++];
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	return p;
}

static bool unreachable(int r)
{
	return r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ENETUNREACH || r == -ETIMEDOUT;
}

/* The destinations that may be sent to now (not paused). */
static char *json_names(struct outbox *o, const struct adapter *ad, size_t n)
{
	json_t *a = json_array();
	int64_t now = time_now();
	for (size_t i = 0; i < n; i++) {
		struct pause *p = pause_of(o, ad[i].slot.plugin_name, false);
		if (p && p->until > now)
			continue;
		json_array_append_new(a, json_string(ad[i].slot.plugin_name));
	}
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static void sending_free(struct sending *s)
{
	free(s->key);
	free(s->dest);
	free(s->code);
	free(s->type);
	free(s->event);
	free(s->dossier);
	free(s);
}

/* The snapshot as the adapter sees it: each document with the path of its
 * current file and of its detached signature. */
static char *with_paths(struct store *store, const char *snapshot)
{
	json_t *d = json_loads(snapshot, 0, NULL);
	json_t *docs = json_object_get(d, "documents");
	size_t i;
	json_t *doc;
	json_array_foreach(docs, i, doc)
	{
		const char *sha = json_string_value(json_object_get(doc, "sha256"));
		const char *side = json_string_value(json_object_get(doc, "sidecar_sha256"));
		char *p = sha && valid_sha256_hex(sha) ? store_blob_path(store, sha) : NULL;
		char *q = side && valid_sha256_hex(side) ? store_blob_path(store, side) : NULL;
		struct stat sb;
		json_object_set_new(
		    doc, "size", p && stat(p, &sb) == 0 ? json_integer(sb.st_size) : json_null());
		json_object_set_new(doc, "path", p ? json_string(p) : json_null());
		json_object_set_new(doc, "sidecar_path", q ? json_string(q) : json_null());
		free(p);
		free(q);
	}
	char *s = d ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	return s;
}

static void send_work(void *arg)
{
	struct sending *s = arg;
	char *dossier = with_paths(s->o->gw->store, s->dossier);
	if (!dossier) {
		s->result = -EAGAIN;
		snprintf(s->d.message, sizeof s->d.message, "out of memory preparing the delivery");
		return;
	}
	s->d.dossier_json = dossier;
	s->result = s->ops.deliver(s->data, &s->d);
	s->d.dossier_json = NULL;
	free(dossier);
	s->d.message[sizeof s->d.message - 1] = 0;
	s->d.peer_ref[sizeof s->d.peer_ref - 1] = 0;
	if (s->result > 0)
		s->result = 0;
}

static void send_done(void *arg, int cancelled)
{
	struct sending *s = arg;
	struct outbox *o = s->o;
	/* The row stays in flight until its result is committed (on_flush):
	 * until then the database still says pending, and it must not be
	 * picked again. */
	bool recorded = false;
	if (!cancelled) {
		struct done_row *d = calloc(1, sizeof *d);
		if (d) {
			d->id = s->d.id;
			d->result = s->result;
			d->attempt = s->d.attempt;
			d->dest = s->dest;
			d->code = s->code;
			d->type = s->type;
			s->dest = s->code = s->type = NULL;
			snprintf(d->message, sizeof d->message, "%s", s->d.message);
			snprintf(d->peer_ref, sizeof d->peer_ref, "%s", s->d.peer_ref);
			d->next = o->done;
			o->done = d;
			recorded = true;
			if (o->flush_ev)
				event_active(o->flush_ev, 0, 0);
		}
	}
	if (!recorded)
		inflight_drop(o, s->d.id);
	sending_free(s);
	outbox_kick(o);
}

static const struct adapter *adapter_named(struct outbox *o, const char *name)
{
	for (size_t i = 0; i < o->n_adapters; i++)
		if (!strcmp(o->adapters[i].slot.plugin_name, name))
			return &o->adapters[i];
	return NULL;
}

/* Starts up to `room` rows that may go (each the first waiting row of its
 * destination and dossier); returns how many, or <0. */
static int start_some(struct outbox *o, unsigned room)
{
	size_t n_ad = o->n_adapters;
	const struct adapter *ad = o->adapters;
	if (!n_ad)
		return 0;
	char *ids = json_ids(o), *names = json_names(o, ad, n_ad);
	sqlite3_stmt *st =
	    ids && names
		? db_prepare(
		      o->gw->db,
		      "SELECT o.id, o.destination, o.dossier_code, o.event_type, "
		      "o.idempotency_key, o.event,"
		      " o.dossier, o.attempts FROM outbox o"
		      " WHERE o.state = 'pending' AND o.next_attempt_at <= ?1"
		      " AND o.destination IN (SELECT value FROM json_each(?2))"
		      " AND o.id NOT IN (SELECT value FROM json_each(?3))"
		      " AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.destination = o.destination"
		      "   AND e.dossier_code = o.dossier_code AND e.id < o.id AND e.state IN "
		      "('pending', 'dead'))"
		      " ORDER BY o.next_attempt_at, o.id LIMIT ?4")
		: NULL;
	int r = 0;
	if (!st) {
		r = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, time_now());
	sqlite3_bind_text(st, 2, names, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ids, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)room);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct sending *s = calloc(1, sizeof *s);
		if (!s) {
			r = r ? r : -ENOMEM;
			goto out;
		}
		s->o = o;
		int64_t id = sqlite3_column_int64(st, 0);
		s->dest = strdup((const char *)sqlite3_column_text(st, 1));
		s->code = strdup((const char *)sqlite3_column_text(st, 2));
		s->type = strdup((const char *)sqlite3_column_text(st, 3));
		s->key = strdup((const char *)sqlite3_column_text(st, 4));
		s->event = strdup((const char *)sqlite3_column_text(st, 5));
		s->dossier = strdup((const char *)sqlite3_column_text(st, 6));
		const struct adapter *prov = adapter_named(o, s->dest);
		if (!s->dest || !s->code || !s->type || !s->key || !s->event || !s->dossier ||
		    !prov || inflight_add(o, id) < 0) {
			sending_free(s);
			r = r ? r : -ENOMEM;
			goto out;
		}
		s->ops = prov->ops;
		s->data = prov->slot.data;
		s->d = (struct motcua_delivery){
		    .struct_size = sizeof s->d,
		    .id = id,
		    .idempotency_key = s->key,
		    .destination = s->dest,
		    .dossier_code = s->code,
		    .event_type = s->type,
		    .event_json = s->event,
		    .attempt = (uint32_t)sqlite3_column_int(st, 7) + 1,
		};
		int w = workers_submit(o->pool, send_work, send_done, s);
		if (w < 0) {
			inflight_drop(o, id);
			sending_free(s);
			if (!r && w != -EAGAIN)
				r = w;
			goto out;
		}
		r++;
	}
out:
	sqlite3_finalize(st);
	free(ids);
	free(names);
	return r;
}

static void arm_timer(struct outbox *o)
{
	sqlite3_stmt *st =
	    db_prepare(o->gw->db, "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'"
				  " AND next_attempt_at > ?1");
	if (!st)
		return;
	int64_t now = time_now(), at = 0;
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		at = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	for (size_t i = 0; i < o->n_pauses; i++)
		if (o->pauses[i].until > now && (!at || o->pauses[i].until < at))
			at = o->pauses[i].until;
	if (at) {
		struct timeval tv = {at - now > 0 ? at - now : 1, 0};
		event_add(o->timer_ev, &tv);
	}
}

static void on_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct outbox *o = arg;
	if (o->stopping || !o->pool)
		return;
	unsigned limit = workers_size(o->pool);
	while (o->n_inflight < limit && start_some(o, limit - (unsigned)o->n_inflight) > 0)
		;
	arm_timer(o);
}

/* Seconds before try number `attempts` + 1. */
static int64_t backoff(const struct settings *s, unsigned attempts)
{
	int64_t d = s->outbox_backoff_base_s;
	for (unsigned i = 1; i < attempts && d < s->outbox_backoff_max_s; i++)
		d *= 2;
	if (d > s->outbox_backoff_max_s)
		d = s->outbox_backoff_max_s;
	/* Jitter: up to half of it, so that rows that failed together do not
	 * all come back at the same second. */
	uint32_t r;
	random_bytes(&r, sizeof r);
	return d - (int64_t)(r % (uint32_t)(d / 2 + 1));
}

/* Records the results gathered since the last flush, in one transaction. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct outbox *o = arg;
	struct gateway *gw = o->gw;
	if (!o->done)
		return;
	if (db_begin(gw->db) < 0)
		return; /* the rows stay pending: sent again, dropped by key */
	sqlite3_stmt *st = db_prepare(
	    gw->db, "UPDATE outbox SET state = ?2, attempts = ?3, next_attempt_at = ?4,"
		    " last_error = ?5, peer_ref = COALESCE(?6, peer_ref), updated_at = ?7,"
		    " delivered_at = ?8 WHERE id = ?1 AND state = 'pending'");
	int64_t now = time_now();
	bool ok = st != NULL;
	struct done_row *list = o->done;
	for (struct done_row *d = list; ok && d; d = d->next) {
		const char *state = "pending";
		char reason[400] = "";
		int64_t next = 0;
		const char *evtype = NULL;
		struct pause *pz = pause_of(o, d->dest, unreachable(d->result));
		if (pz && unreachable(d->result)) {
			pz->fails++;
			pz->until = now + backoff(&gw->settings, pz->fails);
			if (pz->fails == 1)
				gw_log(MOTCUA_LOG_WARNING, d->dest,
				       "cannot reach the peer (%s): deliveries pause", d->message);
		} else if (pz && pz->fails) {
			gw_log(MOTCUA_LOG_INFO, d->dest,
			       "the peer answers again after %u failed probes", pz->fails);
			pz->fails = 0;
			pz->until = 0;
		}
		bool again = d->result == -EAGAIN || unreachable(d->result);
		if (d->result == 0) {
			state = "delivered";
			evtype = "outbox.delivered";
			o->delivered++;
		} else if (again && d->attempt < gw->settings.outbox_max_attempts) {
			next = now + backoff(&gw->settings, d->attempt);
			snprintf(reason, sizeof reason, "%s",
				 d->message[0] ? d->message : "the peer will be tried again");
			o->retried++;
		} else {
			state = "dead";
			evtype = "outbox.dead";
			if (again)
				snprintf(reason, sizeof reason, "gave up after %u attempts: %s",
					 d->attempt,
					 d->message[0] ? d->message : "no reason given");
			else
				snprintf(reason, sizeof reason, "refused: %s",
					 d->message[0] ? d->message : strerror(-d->result));
			o->dead++;
		}
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, d->id);
		sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, (int)d->attempt);
		sqlite3_bind_int64(st, 4, next);
		if (reason[0])
			sqlite3_bind_text(st, 5, reason, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 5);
		if (d->peer_ref[0])
			sqlite3_bind_text(st, 6, d->peer_ref, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 6);
		sqlite3_bind_int64(st, 7, now);
		if (d->result == 0)
			sqlite3_bind_int64(st, 8, now);
		else
			sqlite3_bind_null(st, 8);
		ok = sqlite3_step(st) == SQLITE_DONE;
		if (ok && sqlite3_changes(gw->db) == 1 && evtype)
			ok =
			    events_publish(gw->events, evtype,
					   json_pack("{s:I, s:s, s:s, s:s, s:i, s:s}", "id",
						     (json_int_t)d->id, "destination", d->dest,
						     "dossier_code", d->code, "event_type", d->type,
						     "attempts", (int)d->attempt, "message",
						     d->result == 0 ? d->message : reason)) == 0;
		if (ok && !strcmp(state, "dead"))
			gw_log(MOTCUA_LOG_WARNING, d->dest,
			       "delivery %lld of %s (%s) is a dead letter: %s", (long long)d->id,
			       d->code, d->type, reason);
		else if (ok && next)
			gw_log(MOTCUA_LOG_INFO, d->dest,
			       "delivery %lld of %s (%s) will be tried again in %llds: %s",
			       (long long)d->id, d->code, d->type, (long long)(next - now), reason);
	}
	sqlite3_finalize(st);
	if (!ok || db_commit(gw->db) < 0) {
		db_rollback(gw->db);
		log_error("outbox: cannot record delivery results; the rows will be sent again");
		return; /* keep the list: tried again at the next flush */
	}
	o->done = NULL;
	while (list) {
		struct done_row *d = list;
		list = d->next;
		inflight_drop(o, d->id);
		done_row_free(d);
	}
	outbox_kick(o);
}

/* ---- API ---- */

static json_t *row_json(sqlite3_stmt *st, bool full)
{
	json_t *j = json_object();
	char t[32];
	json_object_set_new(j, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(j, "destination",
			    json_string((const char *)sqlite3_column_text(st, 1)));
	json_object_set_new(j, "dossier_code",
			    json_string((const char *)sqlite3_column_text(st, 2)));
	json_object_set_new(j, "event_type", json_string((const char *)sqlite3_column_text(st, 3)));
	json_object_set_new(j, "idempotency_key",
			    json_string((const char *)sqlite3_column_text(st, 4)));
	json_object_set_new(j, "state", json_string((const char *)sqlite3_column_text(st, 5)));
	json_object_set_new(j, "attempts", json_integer(sqlite3_column_int(st, 6)));
	int64_t next = sqlite3_column_int64(st, 7);
	if (next > 0 && !strcmp((const char *)sqlite3_column_text(st, 5), "pending")) {
		time_iso_vn(next, t);
		json_object_set_new(j, "next_attempt_at", json_string(t));
	} else {
		json_object_set_new(j, "next_attempt_at", json_null());
	}
	json_object_set_new(j, "last_error",
			    sqlite3_column_type(st, 8) == SQLITE_NULL
				? json_null()
				: json_string((const char *)sqlite3_column_text(st, 8)));
	json_object_set_new(j, "peer_ref",
			    sqlite3_column_type(st, 9) == SQLITE_NULL
				? json_null()
				: json_string((const char *)sqlite3_column_text(st, 9)));
	time_iso_vn(sqlite3_column_int64(st, 10), t);
	json_object_set_new(j, "created_at", json_string(t));
	if (sqlite3_column_type(st, 11) != SQLITE_NULL) {
		time_iso_vn(sqlite3_column_int64(st, 11), t);
		json_object_set_new(j, "delivered_at", json_string(t));
	} else {
		json_object_set_new(j, "delivered_at", json_null());
	}
	if (full) {
		json_object_set_new(j, "event",
				    json_loads((const char *)sqlite3_column_text(st, 12), 0, NULL));
		json_object_set_new(j, "dossier",
				    json_loads((const char *)sqlite3_column_text(st, 13), 0, NULL));
	}
	return j;
}

#define ROW_COLUMNS                                                                                \
	"id, destination, dossier_code, event_type, idempotency_key, state, attempts, "            \
	"next_attempt_at,"                                                                         \
	" last_error, peer_ref, created_at, delivered_at, event, dossier"

static const char *const states[] = {"pending", "delivered", "dead", "cancelled", NULL};

static bool valid_state(const char *s)
{
	for (const char *const *p = states; *p; p++)
		if (!strcmp(*p, s))
			return true;
	return false;
}

static void h_list(struct gateway *gw, struct evhttp_request *req)
{
	struct evkeyvalq q;
	const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (evhttp_parse_query_str(qs ? qs : "", &q) < 0) {
		http_reply_error(req, 400, "bad_request", "the query string is malformed");
		return;
	}
	const char *state = NULL, *dest = NULL, *code = NULL, *bad = NULL;
	char state_b[16], dest_b[72], code_b[100]; /* copies: the query is freed below */
	long limit = 50, offset = 0;
	for (struct evkeyval *kv = q.tqh_first; kv && !bad; kv = kv->next.tqe_next) {
		char *end;
		if (!strcmp(kv->key, "state")) {
			if (valid_state(kv->value))
				state = strcpy(state_b, kv->value);
			else
				bad = "state must be pending, delivered, dead or cancelled";
		} else if (!strcmp(kv->key, "destination")) {
			if (valid_code_chars(kv->value, 64))
				dest = strcpy(dest_b, kv->value);
			else
				bad = "destination must be an adapter's name";
		} else if (!strcmp(kv->key, "dossier")) {
			if (valid_code_chars(kv->value, 95))
				code = strcpy(code_b, kv->value);
			else
				bad = "dossier must be a dossier code";
		} else if (!strcmp(kv->key, "limit")) {
			limit = strtol(kv->value, &end, 10);
			if (*end || !kv->value[0] || limit < 1 || limit > LIST_MAX)
				bad = "limit must be 1 to 500";
		} else if (!strcmp(kv->key, "offset")) {
			offset = strtol(kv->value, &end, 10);
			if (*end || !kv->value[0] || offset < 0 || offset > 100000000)
				bad = "offset must be a whole number from 0";
		} else {
			bad =
			    "unknown parameter (known: state, destination, dossier, limit, offset)";
		}
	}
	if (bad) {
		http_reply_error(req, 400, "bad_request", "%s", bad);
		evhttp_clear_headers(&q);
		return;
	}
	const char *where = " WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR destination = ?2)"
			    " AND (?3 IS NULL OR dossier_code = ?3)";
	char sql[512];
	json_t *out = json_object(), *items = json_array(), *counts = json_object();
	snprintf(sql, sizeof sql,
		 "SELECT state, COUNT(*) FROM outbox WHERE (?2 IS NULL OR destination = ?2)"
		 " AND (?3 IS NULL OR dossier_code = ?3) GROUP BY state");
	sqlite3_stmt *st = db_prepare(gw->db, sql);
	for (const char *const *p = states; *p; p++)
		json_object_set_new(counts, *p, json_integer(0));
	for (int pass = 0; pass < 2 && st; pass++) {
		sqlite3_bind_text(st, 1, state, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, dest, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, code, -1, SQLITE_TRANSIENT);
		if (pass == 1) {
			sqlite3_bind_int64(st, 4, limit);
			sqlite3_bind_int64(st, 5, offset);
		}
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (pass == 0)
				json_object_set_new(counts,
						    (const char *)sqlite3_column_text(st, 0),
						    json_integer(sqlite3_column_int64(st, 1)));
			else
				json_array_append_new(items, row_json(st, false));
		}
		sqlite3_finalize(st);
		st = NULL;
		if (pass == 0) {
			snprintf(sql, sizeof sql,
				 "SELECT " ROW_COLUMNS
				 " FROM outbox%s ORDER BY id LIMIT ?4 OFFSET ?5",
				 where);
			st = db_prepare(gw->db, sql);
		}
	}
	evhttp_clear_headers(&q);
	json_int_t total = 0;
	if (state)
		total = json_integer_value(json_object_get(counts, state));
	else {
		const char *k;
		json_t *v;
		json_object_foreach(counts, k, v) total += json_integer_value(v);
	}
	json_object_set_new(out, "total", json_integer(total));
	json_object_set_new(out, "counts", counts);
	json_object_set_new(out, "items", items);
	json_object_set_new(out, "limit", json_integer(limit));
	json_object_set_new(out, "offset", json_integer(offset));
	http_reply_json(req, 200, out);
}

static json_t *row_by_id(struct gateway *gw, int64_t id, bool full)
{
	sqlite3_stmt *st = db_prepare(gw->db, "SELECT " ROW_COLUMNS " FROM outbox WHERE id = ?1");
	json_t *j = NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			j = row_json(st, full);
		sqlite3_finalize(st);
	}
	return j;
}

/* retry: a dead (or waiting) row goes again now, with a fresh count;
 * cancel: a row that will never go (frees the dossier's later rows). */
static void h_action(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok,
		     int64_t id, bool retry)
{
	json_t *row = row_by_id(gw, id, false);
	if (!row) {
		http_reply_error(req, 404, "not_found", "no outbox item %lld", (long long)id);
		return;
	}
	const char *state = json_string_value(json_object_get(row, "state"));
	if (strcmp(state, "dead") && strcmp(state, "pending")) {
		http_reply_error(req, 409, "conflict",
				 "item %lld is %s: only pending or dead items can be %s",
				 (long long)id, state, retry ? "retried" : "cancelled");
		json_decref(row);
		return;
	}
	if (is_inflight(gw->outbox, id)) {
		http_reply_error(req, 409, "conflict",
				 "item %lld is being sent right now; try again in a moment",
				 (long long)id);
		json_decref(row);
		return;
	}
	int64_t now = time_now();
	if (db_begin(gw->db) < 0) {
		json_decref(row);
		http_reply_error(req, 503, "unavailable", "the database is busy");
		return;
	}
	sqlite3_stmt *st =
	    db_prepare(gw->db, retry ? "UPDATE outbox SET state = 'pending', attempts = 0, "
				       "next_attempt_at = 0, updated_at = ?2 WHERE id = ?1"
				     : "UPDATE outbox SET state = 'cancelled', next_attempt_at = "
				       "0, updated_at = ?2 WHERE id = ?1");
	bool ok = st != NULL;
	if (ok) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	ok = ok &&
	     events_publish(gw->events, retry ? "outbox.retry" : "outbox.cancelled",
			    json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "destination",
				      json_string_value(json_object_get(row, "destination")),
				      "dossier_code",
				      json_string_value(json_object_get(row, "dossier_code")), "by",
				      tok->name)) == 0;
	json_decref(row);
	if (!ok || db_commit(gw->db) < 0) {
		db_rollback(gw->db);
		http_reply_error(req, 503, "unavailable", "the item could not be changed");
		return;
	}
	gw_log(MOTCUA_LOG_INFO, NULL, "outbox item %lld %s by %s", (long long)id,
	       retry ? "retried" : "cancelled", tok->name);
	outbox_kick(gw->outbox);
	http_reply_json(req, 200, row_by_id(gw, id, false));
}

/* The item id in the path: a positive number, or 404. */
static bool item_id(struct call *c, long long *id)
{
	char *end;
	*id = strtoll(c->params[0], &end, 10);
	if (*end || *id <= 0) {
		http_reply_error(c->req, 404, "not_found", "no such outbox route");
		return false;
	}
	return true;
}

static void route_list(struct call *c)
{
	struct outbox *o = c->data;
	h_list(o->gw, c->req);
}

static void route_item(struct call *c)
{
	struct outbox *o = c->data;
	long long id;
	if (!item_id(c, &id))
		return;
	json_t *row = row_by_id(o->gw, id, true);
	if (row)
		http_reply_json(c->req, 200, row);
	else
		http_reply_error(c->req, 404, "not_found", "no outbox item %lld", id);
}

static void route_retry(struct call *c)
{
	struct outbox *o = c->data;
	long long id;
	if (item_id(c, &id))
		h_action(o->gw, c->req, c->tok, id, true);
}

static void route_cancel(struct call *c)
{
	struct outbox *o = c->data;
	long long id;
	if (item_id(c, &id))
		h_action(o->gw, c->req, c->tok, id, false);
}

static const struct route_def routes[4] = {
    {"GET", "/api/v1/outbox", R_WATCH, route_list,
     "deliveries by state, destination and dossier, with counts (paged)"},
    {"GET", "/api/v1/outbox/{id}", R_WATCH, route_item,
     "one delivery with the event and the dossier as sent"},
    {"POST", "/api/v1/outbox/{id}/retry", MOTCUA_ROLE_ADMIN, route_retry,
     "a dead or waiting delivery goes again now"},
    {"POST", "/api/v1/outbox/{id}/cancel", MOTCUA_ROLE_ADMIN, route_cancel,
     "a delivery that will never go"},
};

/* ---- the adapter slots ---- */

int outbox_adapter_add(struct outbox *o, const char *name, const struct motcua_adapter_ops *ops,
		       void *data, motcua_free_fn free_fn, const void *owner)
{
	int r = 0;
	if (!ops || !MOTCUA_HAS_MEMBER(struct motcua_adapter_ops, ops, deliver) || !ops->accepts ||
	    !ops->deliver)
		r = -EINVAL;
	for (size_t i = 0; r == 0 && i < o->n_adapters; i++)
		if (o->adapters[i].slot.owner == owner ||
		    !strcmp(o->adapters[i].slot.plugin_name, name))
			r = -EEXIST;
	if (r == 0 && o->n_adapters == MAX_DESTINATIONS)
		r = -ENOSPC;
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	struct adapter *a = &o->adapters[o->n_adapters];
	memset(a, 0, sizeof *a);
	r = slot_fill(&a->slot, name, &a->ops, sizeof a->ops, ops, ops->struct_size, data, free_fn,
		      owner);
	if (r < 0)
		return r;
	o->n_adapters++;
	outbox_kick(o);
	return 0;
}

void outbox_drop_owner(struct outbox *o, const void *owner)
{
	for (size_t i = 0; o && i < o->n_adapters;) {
		struct adapter *a = &o->adapters[i];
		if (!slot_taken_by(&a->slot, owner)) {
			i++;
			continue;
		}
		slot_empty(&a->slot, &a->ops, sizeof a->ops);
		memmove(a, a + 1, (o->n_adapters - i - 1) * sizeof *a);
		o->n_adapters--;
	}
}

void outbox_metrics(struct outbox *o, struct evbuffer *buf)
{
	if (!o)
		return;
	evbuffer_add_printf(
	    buf,
	    "# HELP motcua_outbox_items Outbox rows by state.\n# TYPE motcua_outbox_items gauge\n");
	sqlite3_stmt *st =
	    db_prepare(o->gw->db, "SELECT state, COUNT(*) FROM outbox GROUP BY state");
	while (st && sqlite3_step(st) == SQLITE_ROW)
		evbuffer_add_printf(buf, "motcua_outbox_items{state=\"%s\"} %lld\n",
				    sqlite3_column_text(st, 0),
				    (long long)sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	evbuffer_add_printf(buf,
			    "# HELP motcua_outbox_results_total Delivery results since start.\n"
			    "# TYPE motcua_outbox_results_total counter\n"
			    "motcua_outbox_results_total{result=\"delivered\"} %llu\n"
			    "motcua_outbox_results_total{result=\"retry\"} %llu\n"
			    "motcua_outbox_results_total{result=\"dead\"} %llu\n",
			    (unsigned long long)o->delivered, (unsigned long long)o->retried,
			    (unsigned long long)o->dead);
}
