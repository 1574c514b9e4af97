/* SPDX-License-Identifier: MIT */
/* The routes of dossiers and their documents (/api/v1/dossiers/...). */
#ifndef MOTCUA_DOSSIER_API_H
#define MOTCUA_DOSSIER_API_H

struct gateway;
struct dossier_api;

/* Adds the routes; they use gw's records, store, io_workers and archive. */
struct dossier_api *dossier_api_new(struct gateway *gw);
void dossier_api_free(struct dossier_api *a);

#endif
