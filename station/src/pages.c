/* SPDX-License-Identifier: MIT */
/* The station's pages (station/www/), built into the gateway by
 * gateway/www/embed.py and served through the gateway's one mechanism for
 * embedded files (www.h): /station/console, /station/display,
 * /station/tickets, /station/rating and the CSS and scripts they share. */
#include <stddef.h>

#include "gateway.h"
#include "pages.h"
#include "www.h"

/* Generated from station/www/ (station/meson.build). */
extern const struct www_asset motcua_station_assets[];
extern const size_t motcua_station_assets_n;

int pages_routes_add(struct gateway *gw)
{
	return www_assets_add(gw->router, motcua_station_assets, motcua_station_assets_n,
			      "station");
}
