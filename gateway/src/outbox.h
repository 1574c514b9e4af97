/* SPDX-License-Identifier: MIT */
/* The outbox: store-and-forward delivery of every dossier change to every
 * destination (adapter plugin) that takes it. It hooks the event bus's
 * publishing transaction, owns the adapter slots the plugin host fills, and
 * serves /api/v1/outbox. */
#ifndef MOTCUA_OUTBOX_H
#define MOTCUA_OUTBOX_H

#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "motcua/plugin.h"

struct evbuffer;
struct gateway;
struct outbox;

/* Uses gw's db, store, events (its publish hook), records and router. */
struct outbox *outbox_new(struct gateway *gw);
/* Resets rows left half-sent and starts delivering. */
void outbox_start(struct outbox *o);
/* Starts no more deliveries (on the loop, does not block). */
void outbox_stop(struct outbox *o);
/* Lets deliveries in flight finish and records them (the database and the
 * event log must still be open). */
void outbox_drain(struct outbox *o);
/* Drains, then frees (adapters still registered are dropped). */
void outbox_free(struct outbox *o);
void outbox_kick(struct outbox *o);
/* A destination named after its plugin. ops is copied; data is freed with
 * free_fn when the adapter goes, also when this fails. -EINVAL (ops too
 * short, accepts or deliver missing), -EEXIST (owner has one already),
 * -ENOSPC (too many destinations), -ENOMEM. */
int outbox_adapter_add(struct outbox *o, const char *name, const struct motcua_adapter_ops *ops,
		       void *data, motcua_free_fn free_fn, const void *owner);
void outbox_drop_owner(struct outbox *o, const void *owner);
void outbox_metrics(struct outbox *o, struct evbuffer *buf);

/* For each dossier received in [from, to], whether its latest change reached
 * destination (delivered) and why not: {"destination", "dossiers",
 * "synced", "not_synced": [{"code", "status", "outbox_state", "event_type",
 * "attempts", "last_error"}]}. Offline: on the database alone (the CLI). */
json_t *outbox_sync_report(sqlite3 *db, int64_t from, int64_t to, const char *destination);

#endif
