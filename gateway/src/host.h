/* SPDX-License-Identifier: MIT */
/*
 * The host function table plugins receive (struct motcua_host): each
 * function checks what the plugin hands over and passes it to the module
 * that owns the thing (the router, the event bus, the pipeline's step
 * slots, capture, the archive, the outbox, the records). One context per
 * plugin remembers what it registered, so that it can all be undone.
 */
#ifndef MOTCUA_HOST_H
#define MOTCUA_HOST_H

#include "motcua/plugin.h"

struct gateway;

/* The table (static, the same for every plugin). */
const struct motcua_host *host_table(void);
/* A plugin's context; name is copied. */
struct motcua_plugin_ctx *host_ctx_new(struct gateway *gw, const char *name);
/* Undoes everything the plugin registered (routes, timers, subscriptions,
 * the slots it fills), freeing the data it handed over. */
void host_ctx_forget(struct motcua_plugin_ctx *ctx);
void host_ctx_free(struct motcua_plugin_ctx *ctx);
/* The API paths a plugin may serve under their well-known name
 * (/api/v1/indicators: eval-stream's "/indicators"), answered 503 while no
 * plugin does. */
int host_routes_add(struct gateway *gw);

#endif
