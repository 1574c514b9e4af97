/* SPDX-License-Identifier: MIT */
/* API tokens: a random secret shown once; only its SHA-256 is stored. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "db.h"
#include "util.h"

static const struct {
	const char *name;
	unsigned role;
} roles[] = {
    {"clerk", MOTCUA_ROLE_CLERK}, {"supervisor", MOTCUA_ROLE_SUPERVISOR},
    {"admin", MOTCUA_ROLE_ADMIN}, {"agency", MOTCUA_ROLE_AGENCY},
    {"kiosk", MOTCUA_ROLE_KIOSK},
};

unsigned role_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (!strcmp(roles[i].name, name))
			return roles[i].role;
	return 0;
}

const char *role_name(unsigned role)
{
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (roles[i].role == role)
			return roles[i].name;
	return "?";
}

int token_create(sqlite3 *db, unsigned role, const char *name, char token_out[80], int64_t *id_out)
{
	char secret[41], hash[65];
	if (!role_name(role) || role_name(role)[0] == '?')
		return -EINVAL;
	if (!name || !name[0] || strlen(name) > 100)
		return -EINVAL;
	random_hex(secret, 20);
	snprintf(token_out, 80, "mct_%s", secret);
	sha256_hex(token_out, strlen(token_out), hash);
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO tokens(name, role, hash, created_at) "
					  "VALUES(?, ?, ?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, role_name(role), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, time_now());
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	if (id_out)
		*id_out = sqlite3_last_insert_rowid(db);
	return 0;
}

int token_revoke(sqlite3 *db, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "UPDATE tokens SET revoked_at = ? "
					  "WHERE id = ? AND revoked_at IS NULL");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, time_now());
	sqlite3_bind_int64(st, 2, id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	return sqlite3_changes(db) == 1 ? 0 : -ENOENT;
}

/* An official's session (mcs_): open, not expired, its account enabled. */
static int session_check(sqlite3 *db, const char *token, struct token_info *out)
{
	char hash[65];
	sha256_hex(token, strlen(token), hash);
	sqlite3_stmt *st = db_prepare(
	    db, "SELECT s.id, s.counter, u.id, u.username, u.name, u.role, u.unit, u.counter"
		" FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ?1"
		" AND s.ended_at IS NULL AND s.expires_at > ?2 AND u.disabled_at IS NULL");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, time_now());
	int r = -EACCES;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *counter = db_text(st, 1) ? db_text(st, 1) : db_text(st, 7);
		out->id = sqlite3_column_int64(st, 0);
		out->user_id = sqlite3_column_int64(st, 2);
		snprintf(out->name, sizeof out->name, "%s", db_text(st, 3));
		snprintf(out->full_name, sizeof out->full_name, "%s", db_text(st, 4));
		out->role = role_from_name(db_text(st, 5));
		snprintf(out->unit, sizeof out->unit, "%s", db_text(st, 6));
		snprintf(out->counter, sizeof out->counter, "%s", counter ? counter : "");
		r = out->role & (MOTCUA_ROLE_CLERK | MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN)
			? 0
			: -EACCES;
	}
	sqlite3_finalize(st);
	return r;
}

int token_check(sqlite3 *db, const char *token, struct token_info *out)
{
	memset(out, 0, sizeof *out);
	if (token && !strncmp(token, "mcs_", 4) && strlen(token) == SESSION_TOKEN_LEN)
		return session_check(db, token, out);
	if (!token || strncmp(token, "mct_", 4) != 0 || strlen(token) != 44)
		return -EACCES;
	char hash[65];
	sha256_hex(token, strlen(token), hash);
	sqlite3_stmt *st = db_prepare(db, "SELECT id, name, role FROM tokens "
					  "WHERE hash = ? AND revoked_at IS NULL");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	int r = -EACCES;
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->id = sqlite3_column_int64(st, 0);
		snprintf(out->name, sizeof out->name, "%s",
			 (const char *)sqlite3_column_text(st, 1));
		out->role = role_from_name((const char *)sqlite3_column_text(st, 2));
		r = out->role ? 0 : -EACCES;
	}
	sqlite3_finalize(st);
	return r;
}

json_t *token_list(sqlite3 *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id, name, role, created_at, revoked_at "
					  "FROM tokens ORDER BY id");
	if (!st)
		return NULL;
	json_t *arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		char created[32], revoked[32];
		time_iso_vn(sqlite3_column_int64(st, 3), created);
		json_t *t =
		    json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)sqlite3_column_int64(st, 0),
			      "name", (const char *)sqlite3_column_text(st, 1), "role",
			      (const char *)sqlite3_column_text(st, 2), "created_at", created);
		if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
			time_iso_vn(sqlite3_column_int64(st, 4), revoked);
			json_object_set_new(t, "revoked_at", json_string(revoked));
		} else {
			json_object_set_new(t, "revoked_at", json_null());
		}
		json_array_append_new(arr, t);
	}
	sqlite3_finalize(st);
	return arr;
}
