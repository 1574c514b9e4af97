/* SPDX-License-Identifier: MIT */
/*
 * The citizen's lookup, with no token: GET /api/v1/lookup?code=&key= (the
 * dossier code and the lookup key printed on the receipt), POST
 * /api/v1/lookup/rating (one online rating per dossier) and the page GET
 * /lookup. What it shows: the status in plain words, the procedure, the
 * dates, the papers still missing, whether the result is ready, and the
 * applicant's name masked; nothing else of the dossier. A wrong code and a
 * wrong key get the same 404; each client address may ask LOOKUP_LIMIT
 * times in LOOKUP_WINDOW_S (both routes together), then gets 429 for
 * LOOKUP_LOCK_S.
 */
#ifndef MOTCUA_LOOKUP_H
#define MOTCUA_LOOKUP_H

#include <stddef.h>

struct gateway;

#define LOOKUP_LIMIT 30
#define LOOKUP_WINDOW_S 600
#define LOOKUP_LOCK_S 600

int lookup_routes_add(struct gateway *gw);
/* "Nguyễn Văn An" -> "Nguyễn V. A." (the first word whole, the others
 * their first letter). */
void lookup_mask_name(const char *name, char *out, size_t n);
/* The status in plain words (1-10; NULL for another). */
const char *lookup_status_text(int status, int english);

#endif
