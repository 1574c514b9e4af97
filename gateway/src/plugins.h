/* SPDX-License-Identifier: MIT */
/* The plugin loader: finds each plugin section's shared object, checks its
 * ABI, info and config keys, calls init() and fini(), and lists the plugins
 * (GET /api/v1/plugins). What a plugin registers goes through the host
 * table (host.c) to the modules that own it. */
#ifndef MOTCUA_PLUGINS_H
#define MOTCUA_PLUGINS_H

#include <stddef.h>

#include <jansson.h>

struct gateway;
struct plugins;

/* Uses gw's config and settings (plugin_dir); its other parts at init. */
struct plugins *plugins_new(struct gateway *gw);
/* Finds and opens the plugin of every plugin section and checks the section's
 * keys against it, touching no data. A plugin that can't be used (wrong ABI,
 * no entry symbol) is refused with a log line; config errors (unknown keys or
 * sections, bad `enabled`) are fatal: returns -EINVAL with the reason. */
int plugins_open(struct plugins *h, char *err, size_t errlen);
/* Calls init() of every enabled plugin; a failing one is undone, unloaded and
 * refused, the rest go on. A document step whose plugin is enabled but did
 * not start is held for it. Adds GET /api/v1/plugins. */
void plugins_init(struct plugins *h);
/* fini() of each loaded plugin (last loaded first), then undoes what it
 * registered and unloads it. */
void plugins_free(struct plugins *h);
json_t *plugins_list(struct plugins *h);

#endif
