/* SPDX-License-Identifier: MIT */
/* The gateway's parts, as main() puts them together: every module finds the
 * others it uses here. Only handles (the modules' own headers say what they
 * do), so that this header sits below every module and ties none together. */
#ifndef MOTCUA_GATEWAY_H
#define MOTCUA_GATEWAY_H

#include <stdbool.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "config.h"

#define MOTCUA_VERSION_STRING "0.1.0"

struct gateway {
	struct event_base *base;
	struct config *config;
	struct settings settings;
	sqlite3 *db;
	struct store *store;
	struct workers *workers;    /* long blocking work: pipeline steps, plugins */
	struct workers *io_workers; /* short file work (storing uploads), so that a
				     * clerk's upload never waits behind OCR */
	struct calendar *calendar;  /* working days and procedures' processing times */
	struct services *services;  /* the queue's services (lĩnh vực) */
	struct router *router;	    /* every HTTP route */
	struct events *events;
	struct records *records;	 /* dossiers and documents */
	struct pipeline *pipeline;	 /* the jobs that take documents through the steps */
	struct capture *capture;	 /* scan batches from the capture plugin */
	struct archive *archive;	 /* the e-archive's routes, served by its plugin */
	struct outbox *outbox;		 /* delivery to the adapters */
	struct dossier_api *dossier_api; /* the routes of dossiers and documents */
	struct session_api *session_api; /* officials' sign-in */
	struct station *station;	 /* the counter's face (station/), above the core */
	struct plugins *plugins;	 /* the loaded plugins */
	struct api *api;		 /* the HTTP server */
	/* a counter's rating sessions (its rating kiosk, after a service) */
	struct rating_sessions *rating_sessions;
	bool stopping;
};

#endif
