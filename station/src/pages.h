/* SPDX-License-Identifier: MIT */
/* The station's pages: GET /station/console, /station/display,
 * /station/tickets, /station/rating (station/www/). */
#ifndef MOTCUA_STATION_PAGES_H
#define MOTCUA_STATION_PAGES_H

struct gateway;

/* Adds the pages' routes to gw's router. 0 or the router's error. */
int pages_routes_add(struct gateway *gw);

#endif
