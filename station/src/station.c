/* SPDX-License-Identifier: MIT */
/* The station's modules, started in order on the core. */
#include <stdlib.h>

#include "gateway.h"
#include "log.h"
#include "lookup.h"
#include "station.h"

struct station {
	struct gateway *gw;
};

struct station *station_new(struct gateway *gw)
{
	struct station *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->gw = gw;
	if (lookup_routes_add(gw) < 0) {
		log_error("cannot add the lookup's routes");
		station_free(s);
		return NULL;
	}
	return s;
}

void station_free(struct station *s)
{
	free(s);
}
