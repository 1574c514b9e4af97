/* SPDX-License-Identifier: MIT */
/* users.c, ratelimit.c and the session side of auth.c (with db.c). */
#include "harness.h"

#include "auth.h"
#include "db.h"
#include "ratelimit.h"
#include "users.h"
#include "util.h"

static sqlite3 *open_db(void)
{
	char path[4300], err[512] = "";
	snprintf(path, sizeof path, "%s/state.db", harness_mkdtemp());
	sqlite3 *db = db_open(path, err, sizeof err);
	CHECK_MSG(db != NULL, "%s", err);
	return db;
}

static void test_password_rules(void)
{
	CHECK_NOT_NULL(user_password_problem("short"));
	CHECK_NOT_NULL(user_password_problem("123456789"));
	CHECK_NULL(user_password_problem("1234567890"));
	/* characters, not bytes: 10 Vietnamese letters are enough */
	CHECK_NULL(user_password_problem("ắằẳẵặâấầẩẫ"));
	CHECK_NOT_NULL(user_password_problem("ắằẳẵặâấầẩ"));
	CHECK_NOT_NULL(user_password_problem("1234567890\t"));
	CHECK_NOT_NULL(user_password_problem("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6"));
	char longer[200];
	memset(longer, 'a', sizeof longer - 1);
	longer[sizeof longer - 1] = 0;
	CHECK_NOT_NULL(user_password_problem(longer));
}

static void test_field_rules(void)
{
	CHECK_NULL(user_fields_problem("an.nv", "Nguyễn Văn An", "clerk", "Phòng Tư pháp", NULL));
	CHECK_NULL(user_fields_problem("a1", "A", "admin", "U", "2"));
	CHECK_NOT_NULL(user_fields_problem("a", "A", "clerk", "U", NULL));
	CHECK_NOT_NULL(user_fields_problem("An.nv", "A", "clerk", "U", NULL));
	CHECK_NOT_NULL(user_fields_problem(".an", "A", "clerk", "U", NULL));
	CHECK_NOT_NULL(user_fields_problem("an nv", "A", "clerk", "U", NULL));
	CHECK_NOT_NULL(user_fields_problem("an", "A", "kiosk", "U", NULL));
	CHECK_NOT_NULL(user_fields_problem("an", "A", "agency", "U", NULL));
	CHECK_NOT_NULL(user_fields_problem("an", "", "clerk", "U", NULL));
	CHECK_NOT_NULL(user_fields_problem("an", "  ", "clerk", "U", NULL));
	CHECK_NOT_NULL(user_fields_problem("an", "A", "clerk", NULL, NULL));
	CHECK_NOT_NULL(user_fields_problem("an", "A\n", "clerk", "U", NULL));
	CHECK_NOT_NULL(user_fields_problem("an", "A", "clerk", "U", ""));
}

static void test_hash_verify(void)
{
	char hash[USER_HASH_MAX];
	CHECK_EQ_INT(users_crypto_init(), 0);
	CHECK_EQ_INT(user_hash_password("mật-khẩu-đủ-dài", hash), 0);
	CHECK(!strncmp(hash, "$argon2id$", 10));
	CHECK(user_verify_password(hash, "mật-khẩu-đủ-dài"));
	CHECK(!user_verify_password(hash, "mật-khẩu-đủ-dàI"));
	CHECK(!user_verify_password(NULL, "mật-khẩu-đủ-dài"));
	CHECK(!user_verify_password("", ""));
	/* a second hash of the same password differs (its own salt) */
	char again[USER_HASH_MAX];
	CHECK_EQ_INT(user_hash_password("mật-khẩu-đủ-dài", again), 0);
	CHECK_STRNE(hash, again);
}

static void test_accounts_and_sessions(void)
{
	sqlite3 *db = open_db();
	int64_t id;
	struct user u;
	CHECK_EQ_INT(
	    user_add(db, "an.nv", "Nguyễn Văn An", "clerk", "Phòng Tư pháp", "2", "$h$", &id), 0);
	CHECK_EQ_INT(user_add(db, "an.nv", "X", "clerk", "U", NULL, "$h$", NULL), -EEXIST);
	CHECK_EQ_INT(user_add(db, "bad name", "X", "clerk", "U", NULL, "$h$", NULL), -EINVAL);
	CHECK_EQ_INT(user_find(db, "an.nv", &u), 0);
	CHECK_STREQ(u.name, "Nguyễn Văn An");
	CHECK_STREQ(u.counter, "2");
	CHECK(!u.disabled);
	CHECK_EQ_INT(user_find(db, "khong.co", &u), -ENOENT);

	/* a session row as session.c writes it: token_check takes it */
	const char *tok = "mcs_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char hash[65], sql[512];
	sha256_hex(tok, strlen(tok), hash);
	snprintf(sql, sizeof sql,
		 "INSERT INTO sessions(user_id, hash, counter, created_at, expires_at)"
		 " VALUES(%lld, '%s', '5', 0, %lld)",
		 (long long)id, hash, (long long)time_now() + 60);
	CHECK_EQ_INT(db_exec(db, sql), 0);
	struct token_info ti;
	CHECK_EQ_INT(token_check(db, tok, &ti), 0);
	json_t *in = users_signed_in(db, "5");
	CHECK_EQ_INT((int)json_array_size(in), 1);
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(in, 0), "username")), "an.nv");
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(in, 0), "name")),
		    "Nguyễn Văn An");
	json_decref(in);
	in = users_signed_in(db, "6");
	CHECK_EQ_INT((int)json_array_size(in), 0);
	json_decref(in);
	in = users_signed_in(db, NULL);
	CHECK_EQ_INT((int)json_array_size(in), 1);
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(in, 0), "counter")), "5");
	json_decref(in);
	CHECK_STREQ(ti.name, "an.nv");
	CHECK_STREQ(ti.full_name, "Nguyễn Văn An");
	CHECK_STREQ(ti.unit, "Phòng Tư pháp");
	CHECK_STREQ(ti.counter, "5");
	CHECK_EQ_INT(ti.user_id, id);
	CHECK_EQ_UINT(ti.role, MOTCUA_ROLE_CLERK);
	/* a token one character off, or cut short, is not it */
	char other[80];
	snprintf(other, sizeof other, "%s", tok);
	other[10] = 'f';
	CHECK_EQ_INT(token_check(db, other, &ti), -EACCES);
	other[40] = 0;
	CHECK_EQ_INT(token_check(db, other, &ti), -EACCES);

	/* a new password ends the sessions */
	CHECK_EQ_INT(user_set_hash(db, "an.nv", "$h2$"), 0);
	CHECK_EQ_INT(token_check(db, tok, &ti), -EACCES);
	CHECK_EQ_INT(user_set_hash(db, "khong.co", "$h2$"), -ENOENT);
	CHECK_EQ_INT(db_exec(db, "UPDATE sessions SET ended_at = NULL"), 0);
	CHECK_EQ_INT(token_check(db, tok, &ti), 0);
	/* expired */
	CHECK_EQ_INT(db_exec(db, "UPDATE sessions SET expires_at = 1"), 0);
	CHECK_EQ_INT(token_check(db, tok, &ti), -EACCES);
	snprintf(sql, sizeof sql, "UPDATE sessions SET expires_at = %lld",
		 (long long)time_now() + 60);
	CHECK_EQ_INT(db_exec(db, sql), 0);
	CHECK_EQ_INT(token_check(db, tok, &ti), 0);
	/* disabled: sessions ended, a second disable finds nothing */
	CHECK_EQ_INT(user_disable(db, "an.nv"), 0);
	CHECK_EQ_INT(token_check(db, tok, &ti), -EACCES);
	in = users_signed_in(db, NULL);
	CHECK_EQ_INT((int)json_array_size(in), 0);
	json_decref(in);
	CHECK_EQ_INT(db_exec(db, "UPDATE sessions SET ended_at = NULL"), 0);
	CHECK_EQ_INT(token_check(db, tok, &ti), -EACCES); /* the account itself */
	CHECK_EQ_INT(user_disable(db, "an.nv"), -ENOENT);
	json_t *l = user_list(db);
	CHECK_EQ_INT((int)json_array_size(l), 1);
	CHECK(json_is_string(json_object_get(json_array_get(l, 0), "disabled_at")));
	json_decref(l);
	db_close(db);
}

static void test_ratelimit(void)
{
	sqlite3 *db = open_db();
	const struct ratelimit_policy p = {"t", 3, 100, 50};
	const struct ratelimit_policy q = {"other", 3, 100, 50};
	int64_t t = 1000000;
	CHECK_EQ_INT(ratelimit_locked(db, &p, "k", t), 0);
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t), 1);
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t + 10), 2);
	CHECK_EQ_INT(ratelimit_locked(db, &p, "k", t + 10), 0);
	/* the same key in another scope is another count */
	CHECK_EQ_INT(ratelimit_hit(db, &q, "k", t + 10), 1);
	/* the third hit in the window locks for lock_s */
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t + 20), 3);
	CHECK_EQ_INT(ratelimit_locked(db, &p, "k", t + 20), 50);
	CHECK_EQ_INT(ratelimit_locked(db, &p, "k", t + 69), 1);
	CHECK_EQ_INT(ratelimit_locked(db, &p, "k", t + 70), 0);
	CHECK_EQ_INT(ratelimit_locked(db, &q, "k", t + 20), 0);
	/* hits while locked do not lengthen the lock */
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t + 30), 4);
	CHECK_EQ_INT(ratelimit_locked(db, &p, "k", t + 30), 40);
	/* after the window (and the lock): a new window */
	CHECK_EQ_INT(ratelimit_count(db, &p, "k", t + 99), 4);
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t + 100), 1);
	CHECK_EQ_INT(ratelimit_locked(db, &p, "k", t + 100), 0);
	/* a window over while locked still waits for the lock's end */
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t + 101), 2);
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t + 150), 3);
	CHECK_EQ_INT(ratelimit_locked(db, &p, "k", t + 150), 50);
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t + 199), 4);
	CHECK_EQ_INT(ratelimit_count(db, &p, "k", t + 199), 4);
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t + 200), 1);
	/* clear forgets the key */
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t + 201), 2);
	CHECK_EQ_INT(ratelimit_clear(db, &p, "k"), 0);
	CHECK_EQ_INT(ratelimit_count(db, &p, "k", t + 201), 0);
	CHECK_EQ_INT(ratelimit_hit(db, &p, "k", t + 202), 1);
	/* a limit of 1 locks at the first hit */
	const struct ratelimit_policy one = {"one", 1, 100, 10};
	CHECK_EQ_INT(ratelimit_hit(db, &one, "k", t), 1);
	CHECK_EQ_INT(ratelimit_locked(db, &one, "k", t), 10);
	/* the purge keeps what still counts */
	CHECK_EQ_INT(ratelimit_purge(db, t + 202 + 86400 - 1), 0);
	CHECK_EQ_INT(ratelimit_count(db, &p, "k", t + 202), 1);
	CHECK_EQ_INT(ratelimit_purge(db, t + 202 + 86400), 0);
	CHECK_EQ_INT(ratelimit_count(db, &p, "k", t + 202), 0);
	db_close(db);
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	RUN(test_password_rules);
	RUN(test_field_rules);
	RUN(test_hash_verify);
	RUN(test_accounts_and_sessions);
	RUN(test_ratelimit);
	return harness_result();
}
