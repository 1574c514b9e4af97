/* SPDX-License-Identifier: MIT */
/*
 * Counting limits per key (an account, a client address), kept in the
 * database (table limits) so that a restart does not lift a lock. A policy
 * counts hits of a key (a failed sign-in, a lookup) in a fixed window; the
 * hit that reaches the limit locks the key for lock_s. The database is the
 * loop's: call these on the loop only.
 */
#ifndef MOTCUA_RATELIMIT_H
#define MOTCUA_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

struct evhttp_request;

struct ratelimit_policy {
	const char *scope; /* what the keys are ("signin-user", "lookup-addr", ...) */
	unsigned limit;	   /* hits in one window that lock the key */
	unsigned window_s; /* a window starts at a key's first hit */
	unsigned lock_s;   /* how long a lock lasts */
};

/* Seconds the key stays locked (0: not locked; <0: -EIO). */
int64_t ratelimit_locked(sqlite3 *db, const struct ratelimit_policy *p, const char *key,
			 int64_t now);
/* Counts one hit for key: the hits in the current window, this one included
 * (the limit reached locks the key), or -EIO. */
int ratelimit_hit(sqlite3 *db, const struct ratelimit_policy *p, const char *key, int64_t now);
/* The hits of key in the current window (0 when none). */
int ratelimit_count(sqlite3 *db, const struct ratelimit_policy *p, const char *key, int64_t now);
/* Forgets key (its hits and its lock). */
int ratelimit_clear(sqlite3 *db, const struct ratelimit_policy *p, const char *key);
/* Counts one hit for the client address of req (a public route's guard):
 * true within the limit; else answers 429 with Retry-After and
 * {"error":"too_many_requests","message":message} and returns false. */
bool ratelimit_request(sqlite3 *db, const struct ratelimit_policy *p, struct evhttp_request *req,
		       const char *message);
/* Removes rows whose window and lock are over (at start, now and then). */
int ratelimit_purge(sqlite3 *db, int64_t now);

#endif
