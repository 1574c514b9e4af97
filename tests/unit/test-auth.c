/* SPDX-License-Identifier: MIT */
/* auth.c (with db.c): API tokens. */
#include "harness.h"

#include "auth.h"
#include "db.h"
#include "util.h"

static sqlite3 *open_db(char *path_out, size_t len)
{
	snprintf(path_out, len, "%s/state.db", harness_mkdtemp());
	char err[512] = "";
	sqlite3 *db = db_open(path_out, err, sizeof err);
	CHECK_MSG(db != NULL, "%s", err);
	return db;
}

static void test_roles(void)
{
	CHECK_EQ_UINT(role_from_name("clerk"), MOTCUA_ROLE_CLERK);
	CHECK_EQ_UINT(role_from_name("supervisor"), MOTCUA_ROLE_SUPERVISOR);
	CHECK_EQ_UINT(role_from_name("admin"), MOTCUA_ROLE_ADMIN);
	CHECK_EQ_UINT(role_from_name("agency"), MOTCUA_ROLE_AGENCY);
	CHECK_EQ_UINT(role_from_name("root"), 0);
	CHECK_EQ_UINT(role_from_name(""), 0);
	CHECK_EQ_UINT(role_from_name("Admin"), 0);
	CHECK_STREQ(role_name(MOTCUA_ROLE_ADMIN), "admin");
	CHECK_STREQ(role_name(MOTCUA_ROLE_CLERK), "clerk");
	CHECK_STREQ(role_name(0), "?");
	CHECK_STREQ(role_name(MOTCUA_ROLE_ADMIN | MOTCUA_ROLE_CLERK), "?");
}

static void test_db_open(void)
{
	char path[4300];
	sqlite3 *db = open_db(path, sizeof path);
	sqlite3_stmt *st = db_prepare(db, "PRAGMA user_version");
	CHECK_NOT_NULL(st);
	CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	int v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	CHECK_GE_INT(v, 1);
	st = db_prepare(db, "PRAGMA journal_mode");
	CHECK_NOT_NULL(st);
	CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	CHECK_STREQ((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	db_close(db);

	/* Opening again keeps the schema (no second CREATE TABLE). */
	char err[512] = "";
	db = db_open(path, err, sizeof err);
	CHECK_MSG(db != NULL, "%s", err);

	/* Transactions. */
	CHECK_EQ_INT(db_begin(db), 0);
	CHECK_EQ_INT(db_exec(db, "INSERT INTO day_seq(day, last) VALUES('260101', 1)"), 0);
	db_rollback(db);
	st = db_prepare(db, "SELECT count(*) FROM day_seq");
	CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	CHECK_EQ_INT(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	CHECK_EQ_INT(db_begin(db), 0);
	CHECK_EQ_INT(db_exec(db, "INSERT INTO day_seq(day, last) VALUES('260101', 1)"), 0);
	CHECK_EQ_INT(db_commit(db), 0);
	db_rollback(db); /* harmless outside a transaction */
	CHECK_LT_INT(db_exec(db, "this is not SQL"), 0);
	CHECK_NULL(db_prepare(db, "SELECT * FROM no_such_table"));
	db_close(db);
	db_close(NULL);

	/* A schema newer than this gateway is refused. */
	db = open_db(path, sizeof path);
	CHECK_EQ_INT(db_exec(db, "PRAGMA user_version=999"), 0);
	db_close(db);
	err[0] = 0;
	CHECK_NULL(db_open(path, err, sizeof err));
	CHECK_STRSTR(err, path);
	CHECK_STRSTR(err, "999");

	/* A path that cannot be opened. */
	err[0] = 0;
	CHECK_NULL(db_open("/nonexistent-motcua-dir/x/state.db", err, sizeof err));
	CHECK_STRSTR(err, "/nonexistent-motcua-dir/x/state.db");
}

static void test_create_check(void)
{
	char path[4300];
	sqlite3 *db = open_db(path, sizeof path);
	char tok[80];
	int64_t id = 0;
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_CLERK, "Nguyễn Văn A", tok, &id), 0);
	CHECK_GT_INT(id, 0);
	CHECK_EQ_INT(strncmp(tok, "mct_", 4), 0);
	CHECK_EQ_UINT(strlen(tok), 44);

	struct token_info info;
	memset(&info, 0, sizeof info);
	CHECK_EQ_INT(token_check(db, tok, &info), 0);
	CHECK_EQ_INT(info.id, id);
	CHECK_STREQ(info.name, "Nguyễn Văn A");
	CHECK_EQ_UINT(info.role, MOTCUA_ROLE_CLERK);

	/* A second token is different and maps to its own identity. */
	char tok2[80];
	int64_t id2 = 0;
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_ADMIN, "admin", tok2, &id2), 0);
	CHECK_STRNE(tok, tok2);
	CHECK_NE_INT(id, id2);
	CHECK_EQ_INT(token_check(db, tok2, &info), 0);
	CHECK_EQ_INT(info.id, id2);
	CHECK_EQ_UINT(info.role, MOTCUA_ROLE_ADMIN);
	/* id_out may be NULL. */
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_AGENCY, "agency", tok2, NULL), 0);
	CHECK_EQ_INT(token_check(db, tok2, &info), 0);
	CHECK_EQ_UINT(info.role, MOTCUA_ROLE_AGENCY);

	/* Bad arguments. */
	CHECK_EQ_INT(token_create(db, 0, "x", tok2, NULL), -EINVAL);
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_ADMIN | MOTCUA_ROLE_CLERK, "x", tok2, NULL),
		     -EINVAL);
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_CLERK, "", tok2, NULL), -EINVAL);
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_CLERK, NULL, tok2, NULL), -EINVAL);
	char longname[200];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_CLERK, longname, tok2, NULL), -EINVAL);
	db_close(db);
}

static void test_wrong_tokens(void)
{
	char path[4300];
	sqlite3 *db = open_db(path, sizeof path);
	char tok[80];
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_CLERK, "clerk 1", tok, NULL), 0);
	struct token_info info;

	char wrong[80];
	snprintf(wrong, sizeof wrong, "%s", tok);
	wrong[43] = wrong[43] == '0' ? '1' : '0'; /* last character */
	CHECK_EQ_INT(token_check(db, wrong, &info), -EACCES);
	snprintf(wrong, sizeof wrong, "%s", tok);
	wrong[4] = wrong[4] == 'a' ? 'b' : 'a'; /* first secret character */
	CHECK_EQ_INT(token_check(db, wrong, &info), -EACCES);
	/* Prefix, suffix, case and length variations. */
	snprintf(wrong, sizeof wrong, "%s", tok);
	wrong[0] = 'M';
	CHECK_EQ_INT(token_check(db, wrong, &info), -EACCES);
	snprintf(wrong, sizeof wrong, "%sx", tok);
	CHECK_EQ_INT(token_check(db, wrong, &info), -EACCES);
	snprintf(wrong, sizeof wrong, "%.43s", tok);
	CHECK_EQ_INT(token_check(db, wrong, &info), -EACCES);
	snprintf(wrong, sizeof wrong, "%s", tok + 4); /* the secret without "mct_" */
	CHECK_EQ_INT(token_check(db, wrong, &info), -EACCES);
	CHECK_EQ_INT(token_check(db, "", &info), -EACCES);
	CHECK_EQ_INT(token_check(db, NULL, &info), -EACCES);
	CHECK_EQ_INT(token_check(db, "mct_", &info), -EACCES);
	CHECK_EQ_INT(token_check(db, "mct_' OR '1'='1' --                        ", &info),
		     -EACCES);

	/* The stored hash itself is not a token either. */
	sqlite3_stmt *st = db_prepare(db, "SELECT hash FROM tokens");
	CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	char hash[80];
	snprintf(hash, sizeof hash, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	CHECK_EQ_INT(token_check(db, hash, &info), -EACCES);
	snprintf(wrong, sizeof wrong, "mct_%.40s", hash);
	CHECK_EQ_INT(token_check(db, wrong, &info), -EACCES);

	/* The right one still works. */
	CHECK_EQ_INT(token_check(db, tok, &info), 0);
	db_close(db);
}

static void test_revoke(void)
{
	char path[4300];
	sqlite3 *db = open_db(path, sizeof path);
	char a[80], b[80];
	int64_t ida, idb;
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_CLERK, "a", a, &ida), 0);
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_SUPERVISOR, "b", b, &idb), 0);
	struct token_info info;
	CHECK_EQ_INT(token_check(db, a, &info), 0);
	CHECK_EQ_INT(token_revoke(db, ida), 0);
	CHECK_EQ_INT(token_check(db, a, &info), -EACCES);
	/* Only that one. */
	CHECK_EQ_INT(token_check(db, b, &info), 0);
	CHECK_EQ_UINT(info.role, MOTCUA_ROLE_SUPERVISOR);
	/* Twice, or an unknown id. */
	CHECK_EQ_INT(token_revoke(db, ida), -ENOENT);
	CHECK_EQ_INT(token_revoke(db, 424242), -ENOENT);
	/* Survives reopening. */
	db_close(db);
	char err[512] = "";
	db = db_open(path, err, sizeof err);
	CHECK_MSG(db != NULL, "%s", err);
	CHECK_EQ_INT(token_check(db, a, &info), -EACCES);
	CHECK_EQ_INT(token_check(db, b, &info), 0);
	db_close(db);
}

static void test_list(void)
{
	char path[4300];
	sqlite3 *db = open_db(path, sizeof path);
	json_t *l = token_list(db);
	CHECK_NOT_NULL(l);
	CHECK(json_is_array(l));
	CHECK_EQ_UINT(json_array_size(l), 0);
	json_decref(l);

	char a[80], b[80];
	int64_t ida, idb;
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_CLERK, "clerk 1", a, &ida), 0);
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_ADMIN, "admin", b, &idb), 0);
	CHECK_EQ_INT(token_revoke(db, ida), 0);
	l = token_list(db);
	CHECK_NOT_NULL(l);
	CHECK_EQ_UINT(json_array_size(l), 2);
	json_t *t0 = json_array_get(l, 0), *t1 = json_array_get(l, 1);
	CHECK_EQ_INT(json_integer_value(json_object_get(t0, "id")), ida);
	CHECK_STREQ(json_string_value(json_object_get(t0, "name")), "clerk 1");
	CHECK_STREQ(json_string_value(json_object_get(t0, "role")), "clerk");
	CHECK_STRSTR(json_string_value(json_object_get(t0, "created_at")), "+07:00");
	CHECK_STRSTR(json_string_value(json_object_get(t0, "revoked_at")), "+07:00");
	CHECK_EQ_INT(json_integer_value(json_object_get(t1, "id")), idb);
	CHECK_STREQ(json_string_value(json_object_get(t1, "role")), "admin");
	CHECK(json_is_null(json_object_get(t1, "revoked_at")));

	/* Nothing secret in the list. */
	char *dump = json_dumps(l, 0);
	CHECK_NOT_NULL(dump);
	CHECK(!strstr(dump, a + 4));
	CHECK(!strstr(dump, b + 4));
	CHECK(!strstr(dump, "hash"));
	free(dump);
	json_decref(l);
	db_close(db);
}

/* Does the file at path contain needle anywhere (database, WAL)? */
static bool file_contains(const char *path, const char *needle)
{
	size_t len = 0;
	char *data = harness_read_file(path, &len);
	if (!data)
		return false;
	bool found = memmem(data, len, needle, strlen(needle)) != NULL;
	free(data);
	return found;
}

static void test_only_hash_stored(void)
{
	char path[4300];
	sqlite3 *db = open_db(path, sizeof path);
	char tok[80];
	int64_t id;
	CHECK_EQ_INT(token_create(db, MOTCUA_ROLE_ADMIN, "admin", tok, &id), 0);
	char hash[65];
	sha256_hex(tok, strlen(tok), hash);

	/* No column of the tokens table holds the secret or any part of it. */
	sqlite3_stmt *st = db_prepare(db, "SELECT * FROM tokens");
	CHECK_NOT_NULL(st);
	unsigned rows = 0;
	bool hash_seen = false;
	while (sqlite3_step(st) == SQLITE_ROW) {
		rows++;
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			if (!v)
				continue;
			CHECK_MSG(!strstr(v, tok + 4), "column %s holds the secret",
				  sqlite3_column_name(st, i));
			CHECK_MSG(!strstr(tok, v) || strlen(v) < 8,
				  "column %s is part of the token", sqlite3_column_name(st, i));
			if (!strcmp(v, hash))
				hash_seen = true;
		}
	}
	sqlite3_finalize(st);
	CHECK_EQ_UINT(rows, 1);
	CHECK(hash_seen);

	/* Nor the files on disk (the WAL before a checkpoint, then the db). */
	char wal[4400];
	snprintf(wal, sizeof wal, "%s-wal", path);
	CHECK(!file_contains(wal, tok + 4));
	CHECK(!file_contains(path, tok + 4));
	db_close(db);
	CHECK(!file_contains(path, tok + 4));
	CHECK(file_contains(path, hash));
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	RUN(test_roles);
	RUN(test_db_open);
	RUN(test_create_check);
	RUN(test_wrong_tokens);
	RUN(test_revoke);
	RUN(test_list);
	RUN(test_only_hash_stored);
	return harness_result();
}
