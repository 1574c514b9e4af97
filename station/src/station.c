/* SPDX-License-Identifier: MIT */
/* The station's modules, started in order on the core. */
#include <stdlib.h>

#include "cccd.h"
#include "follow.h"
#include "gateway.h"
#include "log.h"
#include "lookup.h"
#include "pages.h"
#include "receipt.h"
#include "station.h"
#include "voice.h"

struct station {
	struct gateway *gw;
	struct cccd *cccd;	 /* POST /api/v1/cccd: the applicant from the ID card */
	struct voice *voice;	 /* the tickets' announce.wav */
	struct receipt *receipt; /* receipt.pdf, receipt.png, supplement.* */
	struct follow *follow;	 /* a ticket's QR and the citizen's page following it */
};

struct station *station_new(struct gateway *gw)
{
	struct station *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->gw = gw;
	if (pages_routes_add(gw) < 0 || lookup_routes_add(gw) < 0 || !(s->cccd = cccd_new(gw)) ||
	    !(s->voice = voice_new(gw))) {
		log_error(
		    "station: cannot start the pages, the lookup, the ID card reader or the voice");
		station_free(s);
		return NULL;
	}
	if (!(s->receipt = receipt_new(gw))) {
		log_error("station: cannot start the receipt");
		station_free(s);
		return NULL;
	}
	if (!(s->follow = follow_new(gw))) {
		log_error("station: cannot start the tickets' follow page");
		station_free(s);
		return NULL;
	}
	return s;
}

void station_free(struct station *s)
{
	if (!s)
		return;
	voice_free(s->voice);
	cccd_free(s->cccd);
	receipt_free(s->receipt);
	follow_free(s->follow);
	free(s);
}
