/* SPDX-License-Identifier: MIT */
/* The queue as counters run it: tickets per service, priority tickets, the
 * ticket's states (waiting -> called (recalls) -> serving -> done | no_show
 * | transferred) and the moves between them (queue.c). */
#ifndef MOTCUA_QUEUE_H
#define MOTCUA_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

struct gateway;

/* Adds the queue's routes (they use gw's db, events, services and rating
 * sessions). */
int queue_routes_add(struct gateway *gw);
bool ticket_exists(sqlite3 *db, int64_t id);
/* The ticket's JSON (a new reference), or NULL if there is none. */
json_t *ticket_get(const struct gateway *gw, int64_t id);
/* People a waiting ticket has before it in its service (the order of /next,
 * without the priority runs); 0 when there is no such ticket. */
int64_t ticket_ahead(sqlite3 *db, int64_t id);

#endif
