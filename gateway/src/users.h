/* SPDX-License-Identifier: MIT */
/*
 * Officials' accounts (table users): who signs in at a counter, with a
 * password hashed by libsodium's crypto_pwhash_str (Argon2id, the
 * parameters below, libsodium's "interactive" ones, chosen for a Raspberry
 * Pi: 64 MiB and 2 passes, 60-80 ms a hash on the x86 test host, some
 * hundreds of milliseconds expected on a Pi 4 (not measured there); one
 * hash at a time bounds the memory. The hash string records them, so a change
 * still verifies older hashes). Hashing and verifying block: the gateway
 * runs them on a worker (session.c); the CLI runs them itself. The database
 * functions are the loop's (or the CLI's).
 */
#ifndef MOTCUA_USERS_H
#define MOTCUA_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

/* Argon2id: crypto_pwhash_OPSLIMIT_INTERACTIVE and MEMLIMIT_INTERACTIVE */
#define USER_HASH_OPSLIMIT 2ULL
#define USER_HASH_MEMLIMIT (64u * 1024 * 1024)
#define USER_HASH_MAX crypto_pwhash_STRBYTES
#define USER_PASSWORD_MIN 10  /* characters (UTF-8 code points) */
#define USER_PASSWORD_MAX 128 /* bytes */
#define USER_NAME_MAX 32      /* a username's bytes */

struct user {
	int64_t id;
	char username[USER_NAME_MAX + 1];
	char name[201];
	char role[16];
	char unit[201];
	char counter[51]; /* "" if none */
	char hash[USER_HASH_MAX];
	bool disabled;
};

/* sodium_init(); 0 or -EIO. */
int users_crypto_init(void);
/* NULL if the password is acceptable, else why not (English). */
const char *user_password_problem(const char *password);
/* NULL if each field is acceptable (counter may be NULL), else why not. */
const char *user_fields_problem(const char *username, const char *name, const char *role,
				const char *unit, const char *counter);
/* Blocking (Argon2id): hash into out. 0 or -ENOMEM. */
int user_hash_password(const char *password, char out[USER_HASH_MAX]);
/* Blocking: does password match hash? A NULL or empty hash is checked
 * against a dummy hash of the same cost (an unknown username takes as long
 * as a wrong password) and is always false. */
bool user_verify_password(const char *hash, const char *password);

/* -EEXIST if the username is taken, -EINVAL for bad fields, -EIO. */
int user_add(sqlite3 *db, const char *username, const char *name, const char *role,
	     const char *unit, const char *counter, const char *hash, int64_t *id_out);
/* Sets a new hash and ends the account's open sessions. -ENOENT, -EIO. */
int user_set_hash(sqlite3 *db, const char *username, const char *hash);
/* Disables the account and ends its sessions. -ENOENT (none, or disabled
 * already), -EIO. */
int user_disable(sqlite3 *db, const char *username);
/* 0 and *u filled, -ENOENT, -EIO. */
int user_find(sqlite3 *db, const char *username, struct user *u);
/* [{"id","username","name","role","unit","counter","created_at","disabled_at",
 *   "sessions"}] (sessions: open ones now). */
json_t *user_list(sqlite3 *db);
/* The officials signed in now (open sessions of enabled accounts), each
 * once, at counter (NULL: at any, each with its "counter"):
 * [{"username","name"(, "counter")}], by username. For GET
 * /api/v1/counters. */
json_t *users_signed_in(sqlite3 *db, const char *counter);

#endif
