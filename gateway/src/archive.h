/* SPDX-License-Identifier: MIT */
/* The e-archive's API, served by the archive plugin: /api/v1/archive/...
 * and reuse of an archived paper in a new dossier. It owns the archive
 * slot, which the plugin host fills. */
#ifndef MOTCUA_ARCHIVE_H
#define MOTCUA_ARCHIVE_H

#include <event2/http.h>
#include <jansson.h>

#include "auth.h"
#include "motcua/plugin.h"

struct gateway;
struct archive;

/* Uses gw's store, io_workers, records and router. */
struct archive *archive_new(struct gateway *gw);
void archive_free(struct archive *a);
/* The archive plugin: as capture_provider_set(). */
int archive_provider_set(struct archive *a, const char *plugin_name,
			 const struct motcua_archive_ops *ops, void *data, motcua_free_fn free_fn,
			 const void *owner);
const char *archive_plugin(struct archive *a);
void archive_drop_owner(struct archive *a, const void *owner);
/* POST /api/v1/dossiers/{code}/documents with {"reuse": id, "name"?, "type"?}
 * (body borrowed): answers the request. */
void archive_reuse(struct archive *a, struct evhttp_request *req, const struct token_info *tok,
		   const char *code, json_t *body);

#endif
