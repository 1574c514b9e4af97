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

#endif
