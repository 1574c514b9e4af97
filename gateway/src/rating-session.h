/* SPDX-License-Identifier: MIT */
/* A counter's rating sessions: finishing a service at counter N (a ticket
 * done, a dossier's result returned) opens one for [station] rating_window_s;
 * the rating kiosk of counter N rates into it. The first press counts (a
 * ratings row tied to the session's ticket or dossier and official); later
 * presses and presses with no session are only logged (event rating.ignored).
 * A dossier's result returned (dossier.status 10, followed on the bus) opens
 * one at the counter of the official who set it: the counter they are signed
 * in at, else the one their latest ticket of the day was called to.
 * Sessions are rows: a restart keeps them, and a timer closes each when its
 * window ends (also one that ended while the gateway was down, at start).
 * Routes: GET /api/v1/counters/{n}/rating-session, POST .../rating. */
#ifndef MOTCUA_RATING_SESSION_H
#define MOTCUA_RATING_SESSION_H

#include <stdbool.h>
#include <stdint.h>

struct gateway;
struct rating_sessions;

/* Uses gw's db, loop, events, router and settings; closes what has expired. */
struct rating_sessions *rating_sessions_new(struct gateway *gw);
void rating_sessions_free(struct rating_sessions *rs);
/* Opens a session at counter for the ticket or the dossier (either may be
 * 0/NULL) and official, in the caller's transaction, closing the counter's
 * open one first (events rating_session.closed, rating_session.opened).
 * 0 or -EIO. */
int rating_session_open(struct rating_sessions *rs, const char *counter, int64_t ticket_id,
			const char *dossier_code, const char *official, const char *unit);
bool rating_session_is_open(struct rating_sessions *rs, const char *counter);

#endif
