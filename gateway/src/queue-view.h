/* SPDX-License-Identifier: MIT */
/* The queue seen from outside: the waiting room, the services, the counters
 * (queue-view.c). */
#ifndef MOTCUA_QUEUE_VIEW_H
#define MOTCUA_QUEUE_VIEW_H

struct gateway;

/* Adds GET /api/v1/queue, /services, /counters, /counters/{n}. */
int queue_view_routes_add(struct gateway *gw);

#endif
