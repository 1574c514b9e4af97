/* SPDX-License-Identifier: MIT */
/* The state store: one SQLite file (WAL, synchronous=FULL), its schema and
 * migrations, transactions, and sets of statements a module prepares once. */
#ifndef MOTCUA_DB_H
#define MOTCUA_DB_H

#include <stddef.h>

#include <jansson.h>
#include <sqlite3.h>

sqlite3 *db_open(const char *path, char *err, size_t errlen);
void db_close(sqlite3 *db);
int db_begin(sqlite3 *db);
int db_commit(sqlite3 *db);
void db_rollback(sqlite3 *db);
int db_exec(sqlite3 *db, const char *sql);
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql);

/* A module's statements, prepared once (as a table of SQL indexed by the
 * module's own enum) and handed out reset, with no bindings left. */
struct db_stmts {
	sqlite3 *db;
	const char *const *sql;
	sqlite3_stmt **st;
	size_t n;
};
/* Prepares all n statements; 0, or -EIO (logged, naming the statement). */
int db_stmts_prepare(struct db_stmts *s, sqlite3 *db, const char *const *sql, size_t n);
/* Statement i, reset and cleared (NULL when not prepared). */
sqlite3_stmt *db_stmt(struct db_stmts *s, size_t i);
void db_stmts_finalize(struct db_stmts *s);

/* A statement's column as text, or NULL for SQL NULL. */
const char *db_text(sqlite3_stmt *st, int col);
/* A column as JSON, null for SQL NULL: text, a time (seconds) as ISO 8601 in
 * Vietnam time, an integer. */
json_t *db_json_text(sqlite3_stmt *st, int col);
json_t *db_json_time(sqlite3_stmt *st, int col);
json_t *db_json_int(sqlite3_stmt *st, int col);

#endif
