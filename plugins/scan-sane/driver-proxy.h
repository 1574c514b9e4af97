/* SPDX-License-Identifier: MIT */
/* scan-sane's SANE driver in a helper process: see driver-proxy.c. */
#ifndef SCAN_SANE_DRIVER_PROXY_H
#define SCAN_SANE_DRIVER_PROXY_H

#include <stddef.h>

#include <motcua/plugin.h>

/* The config key the helper's host answers "1" to: the module then drives
 * SANE itself instead of starting a helper. Not a key of the gateway's. */
#define SCAN_SANE_DRIVER_KEY "_driver"

struct driver_proxy;

/* keys: the [scan-sane] keys handed to the helper (NULL-terminated).
 * timeout_s: how long the helper may stay silent. NULL with a reason. */
struct driver_proxy *driver_proxy_new(struct motcua_plugin_ctx *ctx, const struct motcua_host *host,
				      const char *const *keys, unsigned timeout_s, char *why,
				      size_t len);
void driver_proxy_free(struct driver_proxy *p);
const char *driver_proxy_helper(const struct driver_proxy *p);
/* motcua_capture_ops.capture and .list_devices, through a helper. */
int driver_proxy_capture(struct driver_proxy *p, struct motcua_capture_io *io);
int driver_proxy_list(struct driver_proxy *p, char **json);

#endif
