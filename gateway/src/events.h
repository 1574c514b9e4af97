/* SPDX-License-Identifier: MIT */
/* The event bus: every domain event is a row of the events table, stored in
 * the transaction of the change it reports, then delivered in id order to
 * subscribers (plugins, the pipeline) and to Server-Sent Events clients
 * (GET /api/v1/events). */
#ifndef MOTCUA_EVENTS_H
#define MOTCUA_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "motcua/plugin.h"

struct gateway;
struct events;

typedef void (*event_fn)(void *data, const char *type, const char *json, size_t len);
/* Called inside the publishing transaction, with the stored event's id: what
 * it writes commits or rolls back with the event. <0 aborts the publish. */
typedef int (*events_hook_fn)(void *data, int64_t id, const char *type, const char *json);

/* Uses gw's db, loop, settings and router (it serves GET /api/v1/events). */
struct events *events_new(struct gateway *gw);
void events_free(struct events *ev);
/* The one publish hook (the shape of sqlite3_update_hook): replaces the one
 * set before and returns its data. */
void *events_set_publish_hook(struct events *ev, events_hook_fn fn, void *data);
/* Stores the event (in the caller's transaction, if any; in its own
 * otherwise) and delivers it to subscribers after the current loop
 * iteration. Takes the payload's reference; adds "type" and "at". */
int events_publish(struct events *ev, const char *type, json_t *payload);
/* owner identifies who subscribed, for unsubscribe_all (a plugin). */
int events_subscribe(struct events *ev, const void *owner, const char *prefix, event_fn fn,
		     void *data, motcua_free_fn free_fn);
void events_unsubscribe_all(struct events *ev, const void *owner);
/* Streams a transient event to SSE clients only (not stored); takes the
 * payload's reference. */
int events_broadcast(struct events *ev, const char *type, json_t *payload);
/* Replays the stored events after since_id to fn, then subscribes fn. */
int events_subscribe_from(struct events *ev, const void *owner, const char *prefix,
			  int64_t since_id, motcua_event_id_fn fn, void *data,
			  motcua_free_fn free_fn);
/* Ends every SSE stream (at stop, before the HTTP server goes). */
void events_close_streams(struct events *ev);

#endif
