/* SPDX-License-Identifier: MIT */
/* Counting limits per key, in the database (see ratelimit.h). */
#include <errno.h>
#include <stdio.h>

#include "db.h"
#include "http.h"
#include "ratelimit.h"
#include "util.h"

int64_t ratelimit_locked(sqlite3 *db, const struct ratelimit_policy *p, const char *key,
			 int64_t now)
{
	sqlite3_stmt *st =
	    db_prepare(db, "SELECT locked_until FROM limits WHERE scope = ?1 AND key = ?2");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, p->scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
	int64_t left = 0;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > now)
		left = sqlite3_column_int64(st, 0) - now;
	sqlite3_finalize(st);
	return left;
}

int ratelimit_hit(sqlite3 *db, const struct ratelimit_policy *p, const char *key, int64_t now)
{
	/* A window over (and no lock running) starts again at this hit; the
	 * hit that reaches the limit sets the lock. */
	sqlite3_stmt *st = db_prepare(
	    db, "INSERT INTO limits(scope, key, count, window_start, locked_until)"
		" VALUES(?1, ?2, 1, ?3, CASE WHEN ?4 <= 1 THEN ?3 + ?6 ELSE 0 END)"
		" ON CONFLICT(scope, key) DO UPDATE SET"
		"  count = CASE WHEN window_start + ?5 <= ?3 AND locked_until <= ?3 THEN 1"
		"          ELSE count + 1 END,"
		"  window_start = CASE WHEN window_start + ?5 <= ?3 AND locked_until <= ?3 THEN ?3"
		"          ELSE window_start END,"
		"  locked_until = CASE"
		"   WHEN locked_until > ?3 THEN locked_until"
		"   WHEN (CASE WHEN window_start + ?5 <= ?3 THEN 1 ELSE count + 1 END) >= ?4"
		"    THEN ?3 + ?6 ELSE 0 END"
		" RETURNING count");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, p->scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, p->limit);
	sqlite3_bind_int64(st, 5, p->window_s);
	sqlite3_bind_int64(st, 6, p->lock_s);
	int n = -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

int ratelimit_count(sqlite3 *db, const struct ratelimit_policy *p, const char *key, int64_t now)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT count FROM limits WHERE scope = ?1 AND key = ?2"
					  " AND (window_start + ?3 > ?4 OR locked_until > ?4)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, p->scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, p->window_s);
	sqlite3_bind_int64(st, 4, now);
	int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return n;
}

int ratelimit_clear(sqlite3 *db, const struct ratelimit_policy *p, const char *key)
{
	sqlite3_stmt *st = db_prepare(db, "DELETE FROM limits WHERE scope = ?1 AND key = ?2");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, p->scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int ratelimit_purge(sqlite3 *db, int64_t now)
{
	/* a day past its window: no policy's window is that long */
	sqlite3_stmt *st = db_prepare(db, "DELETE FROM limits WHERE locked_until <= ?1"
					  " AND window_start + 86400 <= ?1");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, now);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

bool ratelimit_request(sqlite3 *db, const struct ratelimit_policy *p, struct evhttp_request *req,
		       const char *message)
{
	char client[64];
	http_client_address(req, client, sizeof client);
	int64_t now = time_now();
	int64_t left = ratelimit_locked(db, p, client, now);
	if (left == 0 && ratelimit_hit(db, p, client, now) >= 0)
		return true;
	char v[32];
	snprintf(v, sizeof v, "%lld", (long long)(left > 0 ? left : 60));
	http_set_header(req, "Retry-After", v);
	http_reply_error(req, 429, "too_many_requests", "%s", message);
	return false;
}
