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
/* One page from the capture plugin that becomes no document (the station's
 * ID card reader): the plugin's capture runs on the I/O pool with options (a
 * JSON object as text, checked by the plugin first); its first page is read
 * into memory (at most max_bytes) and the rest of the batch is cancelled.
 * done(data, result, page, len, media_type, message) runs on the loop:
 * result 0 with the page (malloc'd, done frees it) or a negative errno with
 * a reason; -ECANCELED when the gateway stopped. Returns 0 (done will run),
 * or -ENODEV (no capture plugin), -EBUSY (the scanner is busy), -EINVAL
 * (options refused) with a reason in msg, and done does not run. */
typedef void (*capture_page_fn)(void *data, int result, unsigned char *page, size_t len,
				const char *media_type, const char *message);
int capture_one_page(struct capture *c, const char *options, size_t max_bytes, capture_page_fn done,
		     void *data, char *msg, size_t msglen);
/* Asks a running capture to stop after the page in hand (at shutdown). */
void capture_cancel(struct capture *c);

#endif
