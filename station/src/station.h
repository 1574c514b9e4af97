/* SPDX-License-Identifier: MIT */
/*
 * The station: the counter's face on top of the core (ARCHITECTURE.md). Its
 * modules each add their routes to the gateway's route table here; each
 * lives in a file named after it (receipt.c, voice.c, cccd.c, lookup.c,
 * pages.c).
 */
#ifndef MOTCUA_STATION_H
#define MOTCUA_STATION_H

struct gateway;
struct station;

/* Starts the station's modules on gw's core (router, records, workers,
 * events). NULL if one cannot start (the log says which). */
struct station *station_new(struct gateway *gw);
void station_free(struct station *s);

#endif
