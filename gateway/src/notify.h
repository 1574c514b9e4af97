/* SPDX-License-Identifier: MIT */
/* systemd readiness and watchdog (no libsystemd needed). */
#ifndef MOTCUA_NOTIFY_H
#define MOTCUA_NOTIFY_H

#include <event2/event.h>

void notify_send(const char *state);
/* READY=1, and watchdog pings from the loop if WATCHDOG_USEC asks for them. */
int notify_start(struct event_base *base);
void notify_stop(void);

#endif
