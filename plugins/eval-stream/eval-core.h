/* SPDX-License-Identifier: MIT */
/*
 * eval-core: the indicators of Decision 766/QĐ-TTg (DESIGN.md §5) derived
 * from the gateway's events, kept in one SQLite database (see README.md).
 * Used by the eval-stream plugin (live) and by eval_report() (offline, for
 * the `motcua report` CLI).
 */
#ifndef EVAL_CORE_H
#define EVAL_CORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

struct eval;

/* Opens (creating when needed) the plugin database at path: WAL, the derived
 * tables, the MQTT outgoing queue. Returns 0 or -errno (message set). */
int eval_open(const char *path, struct eval **ev, char *message, size_t len);
void eval_close(struct eval *ev);
sqlite3 *eval_db(struct eval *ev);

/* The id of the last event applied (0 when none). */
int64_t eval_last_id(struct eval *ev);

/* Applies one event (id from the gateway's event log) to the derived tables
 * and records id as the last one, inside the caller's transaction. Events
 * with id <= eval_last_id() are ignored (returns 1); 0 when applied; -errno
 * on a database error. sync_destination: the outbox destination that means
 * "synced to the national portal" (NULL = "adapter-dvcqg"). */
int eval_apply(struct eval *ev, int64_t id, const char *type, const char *json, size_t json_len,
	       const char *sync_destination);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int eval_begin(struct eval *ev);
int eval_commit(struct eval *ev);
void eval_rollback(struct eval *ev);

/* The indicators for [from, to] (YYYY-MM-DD, Vietnam time; NULL = today)
 * grouped by "office", "unit" or "official" (NULL = office), as the JSON
 * object GET /api/v1/indicators answers (malloc()ed into *json). -EINVAL
 * with a reason in message for bad parameters. */
int eval_query(struct eval *ev, const char *from, const char *to, const char *by, char **json,
	       char *message, size_t len);

/* The same, offline, from the plugin's database file (opened read-only). */
int eval_report(const char *db_path, const char *from, const char *to, const char *by, char **json);

/* ISO 8601 ("2026-11-28T08:15:00+07:00", "...Z", fractions allowed, or a
 * date alone, which means the end of that day in Vietnam time) to Unix
 * seconds. Returns 0 or -EINVAL. */
int eval_parse_time(const char *s, int64_t *epoch);
/* Unix seconds to the date in Vietnam time (buf >= 11 bytes). */
void eval_vn_day(int64_t epoch, char *buf);
/* Now as ISO 8601 with +07:00 (buf >= 26 bytes). */
void eval_now_iso(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
