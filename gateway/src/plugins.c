/* SPDX-License-Identifier: MIT */
/* The plugin loader (see plugins.h): dlopen(RTLD_NOW | RTLD_LOCAL), the one
 * entry symbol, ABI negotiation, the info, the section's keys, init and fini.
 * What a plugin registers is the host's (host.c) to undo. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "gateway.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "pipeline.h"
#include "plugins.h"
#include "router.h"
#include "validate.h"

#define MAX_PLUGINS 64

static const uint32_t host_abis[] = {MOTCUA_ABI_VERSION};

struct plugin {
	struct motcua_plugin_ctx *ctx;
	char *name;
	char *path;
	void *dl;
	const struct motcua_plugin_info *info; /* &info_copy while dl is open, or NULL */
	struct motcua_plugin_info info_copy;   /* the plugin's, members it lacks zeroed */
	char *version;			       /* copied from info: outlives dl */
	uint32_t abi, provides;
	bool enabled;
	void *state_ptr;
	const char *state; /* loaded, disabled, missing, refused, failed */
	char *error;
};

struct plugins {
	struct gateway *gw;
	struct plugin *plugins[MAX_PLUGINS];
	size_t n;
};

struct plugins *plugins_new(struct gateway *gw)
{
	struct plugins *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->gw = gw;
	return h;
}

static void plugin_free(struct plugin *pl)
{
	if (!pl)
		return;
	free(pl->name);
	free(pl->version);
	free(pl->path);
	free(pl->error);
	host_ctx_free(pl->ctx);
	/* MOTCUA_DEBUG_NO_DLCLOSE=1 keeps plugins mapped until exit, so that a
	 * leak checker can name the library a leak comes from. */
	if (pl->dl && !getenv("MOTCUA_DEBUG_NO_DLCLOSE"))
		dlclose(pl->dl);
	free(pl);
}

/* Looks for <dir>/<name>.so, then <dir>/<name>/<name>.so (the build tree's
 * layout), in each folder of the colon-separated plugin_dir. */
static char *find_plugin_file(const char *plugin_dir, const char *name)
{
	char *dirs = strdup(plugin_dir), *save = NULL;
	if (!dirs)
		return NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s.so", d, name);
		if (access(path, R_OK) == 0)
			goto found;
		snprintf(path, sizeof path, "%s/%s/%s.so", d, name, name);
		if (access(path, R_OK) == 0)
			goto found;
		continue;
	found:
		free(dirs);
		return strdup(path);
	}
	free(dirs);
	return NULL;
}

static void refuse(struct plugin *pl, const char *state, const char *fmt, ...) MOTCUA_PRINTF(3, 4);
static void refuse(struct plugin *pl, const char *state, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	free(pl->error);
	pl->error = strdup(msg);
	pl->state = state;
	gw_log(MOTCUA_LOG_ERROR, pl->name, "plugin refused: %s", msg);
	if (pl->dl) {
		dlclose(pl->dl);
		pl->dl = NULL;
	}
	pl->info = NULL;
}

/* Reads the plugin's info; false (and refused) if the plugin can't be used. */
static bool plugin_open(struct plugin *pl)
{
	dlerror();
	pl->dl = dlopen(pl->path, RTLD_NOW | RTLD_LOCAL);
	if (!pl->dl) {
		refuse(pl, "refused", "cannot load %s: %s", pl->path, dlerror());
		return false;
	}
	motcua_plugin_entry_fn entry;
	*(void **)&entry = dlsym(pl->dl, MOTCUA_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		refuse(pl, "refused", "%s has no entry symbol %s()", pl->path,
		       MOTCUA_PLUGIN_ENTRY_SYMBOL);
		return false;
	}
	const struct motcua_plugin_info *info =
	    entry(host_abis, sizeof host_abis / sizeof host_abis[0]);
	if (!info) {
		refuse(pl, "refused", "%s() returned no plugin info", MOTCUA_PLUGIN_ENTRY_SYMBOL);
		return false;
	}
	bool abi_ok = false;
	for (size_t i = 0; i < sizeof host_abis / sizeof host_abis[0]; i++)
		abi_ok |= info->abi == host_abis[i];
	if (!abi_ok) {
		refuse(pl, "refused",
		       "plugin speaks ABI version %u, this gateway supports ABI version %u",
		       info->abi, MOTCUA_ABI_VERSION);
		return false;
	}
	/* An older plugin's info is shorter: what it lacks is absent (fini). */
	if (!MOTCUA_HAS_MEMBER(struct motcua_plugin_info, info, init) || !info->name ||
	    !info->version || !info->init) {
		refuse(pl, "refused",
		       "plugin info is incomplete (struct_size %u, name, version and init needed)",
		       info->struct_size);
		return false;
	}
	memset(&pl->info_copy, 0, sizeof pl->info_copy);
	memcpy(&pl->info_copy, info,
	       info->struct_size < sizeof pl->info_copy ? info->struct_size : sizeof pl->info_copy);
	info = &pl->info_copy;
	if (strcmp(info->name, pl->name) != 0) {
		refuse(pl, "refused", "file %s calls itself '%s', not '%s'", pl->path, info->name,
		       pl->name);
		return false;
	}
	pl->info = info;
	pl->version = strdup(info->version);
	pl->abi = info->abi;
	pl->provides = info->provides;
	return pl->version != NULL;
}

/* Every key of the section must be `enabled` or one the plugin declares. */
static int check_keys(struct plugins *h, struct plugin *pl, char *err, size_t errlen)
{
	struct config *c = h->gw->config;
	for (size_t i = 0; i < c->n; i++) {
		struct config_entry *e = &c->entries[i];
		if (strcmp(e->section, pl->name) || e->used)
			continue;
		bool known = false;
		for (const struct motcua_config_key *k = pl->info->config_keys; k && k->name; k++)
			known |= !strcmp(k->name, e->key);
		if (!known) {
			char w[512], accepted[512] = "";
			if (e->line > 0)
				snprintf(w, sizeof w, "%s:%d", e->file, e->line);
			else
				snprintf(w, sizeof w, "%s", e->file);
			for (const struct motcua_config_key *k = pl->info->config_keys;
			     k && k->name; k++) {
				size_t l = strlen(accepted);
				snprintf(accepted + l, sizeof accepted - l, " %s", k->name);
			}
			snprintf(err, errlen,
				 "%s: [%s] %s: unknown key (plugin %s accepts: enabled%s)", w,
				 e->section, e->key, pl->name, accepted);
			return -EINVAL;
		}
		e->used = true;
	}
	return 0;
}

int plugins_open(struct plugins *h, char *err, size_t errlen)
{
	struct gateway *gw = h->gw;
	const char *sections[256];
	size_t ns = config_sections(gw->config, sections, 256);
	for (size_t i = 0; i < ns; i++) {
		const char *name = sections[i];
		if (config_section_is_core(name))
			continue;
		struct config_entry *en = config_find(gw->config, name, "enabled");
		bool enabled = false;
		if (!en) {
			snprintf(err, errlen, "%s: [%s]: missing 'enabled = true|false'",
				 gw->config->path ? gw->config->path : "<command line>", name);
			return -EINVAL;
		}
		en->used = true;
		if (!config_parse_bool(en->value, &enabled)) {
			snprintf(err, errlen, "%s:%d: [%s] enabled = '%s': must be true or false",
				 en->file, en->line, name, en->value);
			return -EINVAL;
		}
		if (!valid_plugin_name(name)) {
			snprintf(
			    err, errlen,
			    "%s:%d: [%s]: unknown section (plugin names are a-z, 0-9, - and _)",
			    en->file, en->line, name);
			return -EINVAL;
		}
		if (h->n == MAX_PLUGINS) {
			snprintf(err, errlen, "more than %d plugin sections", MAX_PLUGINS);
			return -EINVAL;
		}
		struct plugin *pl = calloc(1, sizeof *pl);
		if (!pl || !(pl->name = strdup(name)) || !(pl->ctx = host_ctx_new(gw, name))) {
			plugin_free(pl);
			return -ENOMEM;
		}
		pl->enabled = enabled;
		pl->state = enabled ? "loading" : "disabled";
		h->plugins[h->n++] = pl;
		pl->path = find_plugin_file(gw->settings.plugin_dir, name);
		if (!pl->path) {
			if (enabled) {
				snprintf(err, errlen,
					 "%s:%d: [%s]: unknown section: no plugin %s.so in "
					 "plugin_dir %s",
					 en->file, en->line, name, name, gw->settings.plugin_dir);
				return -EINVAL;
			}
			gw_log(MOTCUA_LOG_WARNING, name, "disabled, and not installed in %s",
			       gw->settings.plugin_dir);
			pl->state = "missing";
		} else if (!plugin_open(pl)) {
			/* Refused (logged); its keys can't be checked. */
		}
		if (!pl->info) {
			for (size_t k = 0; k < gw->config->n; k++)
				if (!strcmp(gw->config->entries[k].section, name))
					gw->config->entries[k].used = true;
			continue;
		}
		if (check_keys(h, pl, err, errlen) < 0)
			return -EINVAL;
		if (!enabled) {
			dlclose(pl->dl);
			pl->dl = NULL;
			pl->info = NULL;
		}
	}
	return 0;
}

/* A document step whose plugin is enabled but did not start (refused, or its
 * init failed) waits for it rather than going on unsigned or unarchived.
 * (Adapters deliver through the outbox: one that failed holds its rows
 * there, not the documents.) */
static void hold_steps(struct plugins *h)
{
	static const struct {
		enum motcua_step step;
		uint32_t bit;
	} steps[] = {
	    {MOTCUA_STEP_RECOGNIZE, MOTCUA_PROVIDES_RECOGNIZE},
	    {MOTCUA_STEP_SIGN, MOTCUA_PROVIDES_SIGN},
	    {MOTCUA_STEP_ARCHIVE, MOTCUA_PROVIDES_ARCHIVE},
	};
	for (size_t i = 0; i < h->n; i++) {
		struct plugin *pl = h->plugins[i];
		if (!pl->enabled || (strcmp(pl->state, "failed") && strcmp(pl->state, "refused")))
			continue;
		for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++)
			if (pl->provides & steps[k].bit)
				pipeline_hold(h->gw->pipeline, steps[k].step, pl->name);
	}
}

static void route_plugins(struct call *c)
{
	http_reply_json(c->req, 200, plugins_list(c->data));
}

void plugins_init(struct plugins *h)
{
	for (size_t i = 0; i < h->n; i++) {
		struct plugin *pl = h->plugins[i];
		if (!pl->enabled || !pl->info)
			continue;
		int r = pl->info->init(pl->ctx, host_table(), &pl->state_ptr);
		if (r < 0) {
			host_ctx_forget(pl->ctx);
			refuse(pl, "failed", "init failed: %s", strerror(-r));
			continue;
		}
		pl->state = "loaded";
		gw_log(MOTCUA_LOG_INFO, pl->name, "loaded %s version %s (ABI %u) from %s", pl->name,
		       pl->version, pl->abi, pl->path);
	}
	hold_steps(h);
	static const struct route_def routes[] = {
	    {"GET", "/api/v1/plugins", R_STAFF, route_plugins,
	     "name, version, abi, provides and state of each plugin"},
	};
	if (router_add_table(h->gw->router, routes, sizeof routes / sizeof routes[0], h, NULL) < 0)
		log_error("plugins: cannot serve GET /api/v1/plugins");
}

void plugins_free(struct plugins *h)
{
	if (!h)
		return;
	for (size_t i = h->n; i-- > 0;) {
		struct plugin *pl = h->plugins[i];
		if (pl->info && pl->dl && !strcmp(pl->state, "loaded")) {
			if (pl->info->fini)
				pl->info->fini(pl->state_ptr);
			host_ctx_forget(pl->ctx);
			gw_log(MOTCUA_LOG_INFO, pl->name, "unloaded");
		}
		plugin_free(pl);
	}
	free(h);
}

json_t *plugins_list(struct plugins *h)
{
	static const char *const provides[] = {"capture", "recognize", "sign",
					       "archive", "adapter",   "sink"};
	json_t *arr = json_array();
	for (size_t i = 0; i < h->n; i++) {
		struct plugin *pl = h->plugins[i];
		json_t *o = json_object(), *pv = json_array();
		json_object_set_new(o, "name", json_string(pl->name));
		json_object_set_new(o, "version",
				    pl->version ? json_string(pl->version) : json_null());
		json_object_set_new(o, "abi", pl->version ? json_integer(pl->abi) : json_null());
		for (unsigned b = 0; b < sizeof provides / sizeof provides[0]; b++)
			if (pl->provides & (1u << b))
				json_array_append_new(pv, json_string(provides[b]));
		json_object_set_new(o, "provides", pv);
		json_object_set_new(o, "state", json_string(pl->state));
		if (pl->error)
			json_object_set_new(o, "error", json_string(pl->error));
		json_array_append_new(arr, o);
	}
	json_t *out = json_object();
	json_object_set_new(out, "plugins", arr);
	return out;
}
