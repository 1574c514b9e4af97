/* SPDX-License-Identifier: MIT */
/* The counter's moments, which the evaluation counts: citizens' ratings,
 * status changes by staff (the queue is queue.h's). */
#ifndef MOTCUA_COUNTER_H
#define MOTCUA_COUNTER_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

struct gateway;

/* Adds the counter's routes (they use gw's db, events and records). */
int counter_routes_add(struct gateway *gw);
/* A rating (1-3) of a dossier, once (the citizen's online rating, by names
 * who gave it): as POST /api/v1/ratings stores it, with rating.added. 0,
 * -ENOENT (no such dossier), -EEXIST (rated already), -EINVAL, -EIO. */
int counter_rating_add(struct gateway *gw, const char *dossier_code, int level, const char *by);

#endif
