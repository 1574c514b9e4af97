/* SPDX-License-Identifier: MIT */
/*
 * What a destination has not acknowledged, from the gateway's own tables
 * (dossiers, outbox): the query behind `motcua sync report`, kept here so
 * that nothing outside the gateway's code reads those tables.
 */
#include <string.h>

#include "db.h"
#include "log.h"
#include "outbox.h"

json_t *outbox_sync_report(sqlite3 *db, int64_t from, int64_t to, const char *destination)
{
	sqlite3_stmt *st = db_prepare(
	    db,
	    "SELECT d.code, d.status, o.state, o.event_type, o.attempts, o.last_error, o.updated_at"
	    " FROM dossiers d LEFT JOIN outbox o ON o.id = (SELECT MAX(id) FROM outbox x"
	    "   WHERE x.dossier_code = d.code AND x.destination = ?3)"
	    " WHERE d.received_at >= ?1 AND d.received_at <= ?2 ORDER BY d.received_at, d.code");
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	sqlite3_bind_text(st, 3, destination, -1, SQLITE_STATIC);
	json_t *missing = json_array();
	json_int_t total = 0, synced = 0;
	int rc;
	while (missing && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		total++;
		const char *state = (const char *)sqlite3_column_text(st, 2);
		if (state && !strcmp(state, "delivered")) {
			synced++;
			continue;
		}
		json_array_append_new(missing,
				      json_pack("{s:s, s:i, s:s, s:s?, s:i, s:s?}", "code",
						sqlite3_column_text(st, 0), "status",
						sqlite3_column_int(st, 1), "outbox_state",
						state ? state : "none", "event_type",
						(const char *)sqlite3_column_text(st, 3),
						"attempts", sqlite3_column_int(st, 4), "last_error",
						(const char *)sqlite3_column_text(st, 5)));
	}
	if (missing && rc != SQLITE_DONE) {
		log_error("database: sync report: %s", sqlite3_errmsg(db));
		json_decref(missing);
		missing = NULL;
	}
	sqlite3_finalize(st);
	if (!missing)
		return NULL;
	/* s:o takes missing, also when packing fails */
	return json_pack("{s:s, s:I, s:I, s:o}", "destination", destination, "dossiers", total,
			 "synced", synced, "not_synced", missing);
}
