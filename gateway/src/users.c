/* SPDX-License-Identifier: MIT */
/* Officials' accounts (see users.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "users.h"
#include "util.h"

int users_crypto_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

const char *user_password_problem(const char *pw)
{
	if (!pw || utf8_chars(pw) < USER_PASSWORD_MIN)
		return "the password must have at least 10 characters";
	if (strlen(pw) > USER_PASSWORD_MAX)
		return "the password may have at most 128 bytes";
	json_t *j = json_string(pw);
	if (!j)
		return "the password must be UTF-8 text";
	json_decref(j);
	for (const char *p = pw; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "the password must not hold control characters";
	return NULL;
}

static const char *text_problem(const char *s, size_t max, const char *what)
{
	static char msg[160];
	json_t *j = s ? json_string(s) : NULL;
	bool blank = true;
	for (const char *p = s ? s : ""; *p; p++) {
		blank &= *p == ' ';
		if ((unsigned char)*p < 0x20) {
			json_decref(j);
			snprintf(msg, sizeof msg, "%s must not hold control characters", what);
			return msg;
		}
	}
	json_decref(j);
	if (!j || blank || strlen(s) > max) {
		snprintf(msg, sizeof msg, "%s must be 1 to %zu bytes of UTF-8 text", what, max);
		return msg;
	}
	return NULL;
}

const char *user_fields_problem(const char *username, const char *name, const char *role,
				const char *unit, const char *counter)
{
	size_t n = username ? strlen(username) : 0;
	if (n < 2 || n > USER_NAME_MAX)
		return "the username must be 2 to 32 characters: a-z, 0-9, '.', '_' or '-'";
	for (size_t i = 0; i < n; i++) {
		char ch = username[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			  (i > 0 && (ch == '.' || ch == '_' || ch == '-'));
		if (!ok)
			return "the username must be 2 to 32 characters: a-z, 0-9, '.', '_' or '-' "
			       "(lower case, starting with a letter or digit)";
	}
	if (!role || (strcmp(role, "clerk") && strcmp(role, "supervisor") && strcmp(role, "admin")))
		return "the role must be clerk, supervisor or admin";
	const char *p;
	if ((p = text_problem(name, 200, "the name")) ||
	    (p = text_problem(unit, 200, "the unit")) ||
	    (counter && (p = text_problem(counter, 50, "the counter"))))
		return p;
	return NULL;
}

int user_hash_password(const char *password, char out[USER_HASH_MAX])
{
	if (crypto_pwhash_str(out, password, strlen(password), USER_HASH_OPSLIMIT,
			      USER_HASH_MEMLIMIT) != 0)
		return -ENOMEM;
	return 0;
}

static char dummy_hash[USER_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
	char pw[33];
	random_hex(pw, 16);
	if (user_hash_password(pw, dummy_hash) < 0)
		dummy_hash[0] = 0;
}

bool user_verify_password(const char *hash, const char *password)
{
	if (!hash || !hash[0]) {
		pthread_once(&dummy_once, make_dummy);
		/* the same work as for a real account, whose answer is no */
		volatile int r =
		    dummy_hash[0] ? crypto_pwhash_str_verify(dummy_hash, password, strlen(password))
				  : -1;
		(void)r;
		return false;
	}
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

int user_add(sqlite3 *db, const char *username, const char *name, const char *role,
	     const char *unit, const char *counter, const char *hash, int64_t *id_out)
{
	if (user_fields_problem(username, name, role, unit, counter) || !hash || !hash[0])
		return -EINVAL;
	sqlite3_stmt *st =
	    db_prepare(db, "INSERT INTO users(username, name, role, unit, counter, hash,"
			   " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, role, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, unit, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, counter, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, time_now());
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST;
	if (rc != SQLITE_DONE)
		return -EIO;
	if (id_out)
		*id_out = sqlite3_last_insert_rowid(db);
	return 0;
}

/* The one change to an account (sql binds ?1 username, ?2 now, ?3 extra)
 * and the end of its open sessions, in one transaction. */
static int change_and_end_sessions(sqlite3 *db, const char *sql, const char *username,
				   const char *extra)
{
	int64_t now = time_now();
	if (db_begin(db) < 0)
		return -EIO;
	sqlite3_stmt *st = db_prepare(db, sql);
	int e = -EIO;
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	if (extra)
		sqlite3_bind_text(st, 3, extra, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	if (sqlite3_changes(db) != 1) {
		e = -ENOENT;
		goto fail;
	}
	st = db_prepare(db, "UPDATE sessions SET ended_at = ?2 WHERE ended_at IS NULL AND user_id ="
			    " (SELECT id FROM users WHERE username = ?1)");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || db_commit(db) < 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return e;
}

int user_set_hash(sqlite3 *db, const char *username, const char *hash)
{
	return change_and_end_sessions(
	    db, "UPDATE users SET hash = ?3, updated_at = ?2 WHERE username = ?1", username, hash);
}

int user_disable(sqlite3 *db, const char *username)
{
	return change_and_end_sessions(db,
				       "UPDATE users SET disabled_at = ?2, updated_at = ?2"
				       " WHERE username = ?1 AND disabled_at IS NULL",
				       username, NULL);
}

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int col)
{
	const char *s = db_text(st, col);
	snprintf(dst, n, "%s", s ? s : "");
}

int user_find(sqlite3 *db, const char *username, struct user *u)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id, username, name, role, unit, counter, hash,"
					  " disabled_at FROM users WHERE username = ?1");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
	int e = -ENOENT;
	if (sqlite3_step(st) == SQLITE_ROW) {
		u->id = sqlite3_column_int64(st, 0);
		copy_col(u->username, sizeof u->username, st, 1);
		copy_col(u->name, sizeof u->name, st, 2);
		copy_col(u->role, sizeof u->role, st, 3);
		copy_col(u->unit, sizeof u->unit, st, 4);
		copy_col(u->counter, sizeof u->counter, st, 5);
		copy_col(u->hash, sizeof u->hash, st, 6);
		u->disabled = sqlite3_column_type(st, 7) != SQLITE_NULL;
		e = 0;
	}
	sqlite3_finalize(st);
	return e;
}

json_t *user_list(sqlite3 *db)
{
	sqlite3_stmt *st = db_prepare(
	    db,
	    "SELECT id, username, name, role, unit, counter, created_at, disabled_at,"
	    " (SELECT COUNT(*) FROM sessions s WHERE s.user_id = users.id AND s.ended_at IS NULL"
	    "  AND s.expires_at > ?1) FROM users ORDER BY username");
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, time_now());
	json_t *arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		char created[32], disabled[32];
		time_iso_vn(sqlite3_column_int64(st, 6), created);
		bool off = sqlite3_column_type(st, 7) != SQLITE_NULL;
		if (off)
			time_iso_vn(sqlite3_column_int64(st, 7), disabled);
		json_array_append_new(
		    arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:s, s:s?, s:i}", "id",
				   (json_int_t)sqlite3_column_int64(st, 0), "username",
				   db_text(st, 1), "name", db_text(st, 2), "role", db_text(st, 3),
				   "unit", db_text(st, 4), "counter", db_text(st, 5), "created_at",
				   created, "disabled_at", off ? disabled : NULL, "sessions",
				   sqlite3_column_int(st, 8)));
	}
	sqlite3_finalize(st);
	return arr;
}

json_t *users_signed_in(sqlite3 *db, const char *counter)
{
	sqlite3_stmt *st = db_prepare(
	    db, "SELECT u.username, u.name, s.counter FROM sessions s"
		" JOIN users u ON u.id = s.user_id WHERE s.ended_at IS NULL AND s.expires_at > ?1"
		" AND u.disabled_at IS NULL AND (?2 IS NULL OR s.counter = ?2)"
		" GROUP BY u.id, s.counter ORDER BY MIN(s.created_at), u.id");
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, time_now());
	sqlite3_bind_text(st, 2, counter, -1, SQLITE_TRANSIENT);
	json_t *arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *o =
		    json_pack("{s:s, s:s}", "username", db_text(st, 0), "name", db_text(st, 1));
		if (o && !counter)
			json_object_set_new(o, "counter",
					    db_text(st, 2) ? json_string(db_text(st, 2))
							   : json_null());
		json_array_append_new(arr, o);
	}
	sqlite3_finalize(st);
	return arr;
}
