/* SPDX-License-Identifier: MIT */
/* Capture: scan batches from the capture plugin, served at POST
 * /api/v1/dossiers/{code}/scan and GET /api/v1/scanners. It owns the
 * capture slot, which the plugin host fills. One capture at a time: a
 * station has one scanner. */
#ifndef MOTCUA_CAPTURE_H
#define MOTCUA_CAPTURE_H

#include "motcua/plugin.h"

struct gateway;
struct capture;

/* Uses gw's store, io_workers, events, records and router. */
struct capture *capture_new(struct gateway *gw);
void capture_free(struct capture *c);
/* The capture plugin. ops is copied; data is freed with free_fn when the
 * slot is emptied, also when this fails. -EINVAL (ops too short or a
 * function missing), -EEXIST (taken: see capture_plugin()), -ENOMEM. */
int capture_provider_set(struct capture *c, const char *plugin_name,
			 const struct motcua_capture_ops *ops, void *data, motcua_free_fn free_fn,
			 const void *owner);
const char *capture_plugin(struct capture *c);
void capture_drop_owner(struct capture *c, const void *owner);
/* Asks a running capture to stop after the page in hand (at shutdown). */
void capture_cancel(struct capture *c);

#endif
