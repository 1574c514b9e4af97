/* SPDX-License-Identifier: MIT */
/*
 * Following a queue ticket on the citizen's phone. The ticket kiosk prints
 * the QR of GET /api/v1/tickets/{id}/qr.png (kiosk and staff tokens): the
 * URL http://HOST/station/follow?ticket=ID&key=KEY of the page GET
 * /station/follow, which asks GET /api/v1/queue/follow?ticket=&key= (no
 * token) every 15 s: the number, the service, the state, the people ahead,
 * the counter, the times (the page is station/www/follow.html, served with
 * the station's other pages, pages.c). KEY is 8 characters of Crockford base 32
 * (validate.h LOOKUP_KEY_ALPHABET): an HMAC-SHA256 of the ticket's id and
 * day under a random secret kept in the data folder (follow.key), so that
 * ticket ids cannot be walked; a wrong id and a wrong key get the same 404,
 * and each client address may ask FOLLOW_LIMIT times in FOLLOW_WINDOW_S,
 * then gets 429 for FOLLOW_LOCK_S.
 */
#ifndef MOTCUA_FOLLOW_H
#define MOTCUA_FOLLOW_H

#include <stddef.h>
#include <stdint.h>

struct gateway;
struct follow;

/* A phone refreshing every 15 s asks 40 times in 10 minutes. */
#define FOLLOW_LIMIT 120
#define FOLLOW_WINDOW_S 600
#define FOLLOW_LOCK_S 600
#define FOLLOW_SECRET_LEN 32

/* Reads (or makes, the first time) the secret and adds the routes. NULL if
 * it cannot (the log says why). */
struct follow *follow_new(struct gateway *gw);
void follow_free(struct follow *f);
/* The key of ticket id issued on day (YYMMDD): LOOKUP_KEY_LEN characters and
 * a NUL in out. */
void follow_key(const unsigned char secret[FOLLOW_SECRET_LEN], int64_t id, const char *day,
		char *out);

#endif
