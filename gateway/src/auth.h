/* SPDX-License-Identifier: MIT */
/* API tokens and roles: a random secret shown once, only its SHA-256 kept. */
#ifndef MOTCUA_AUTH_H
#define MOTCUA_AUTH_H

#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "motcua/plugin.h"

/* The caller: a machine token (agency, kiosk, station agent) or a signed-in
 * official's session. name is who every record of an action names (the
 * token's name, or the official's username). */
struct token_info {
	int64_t id; /* the token's id, or the session's */
	char name[128];
	unsigned role;	     /* enum motcua_role bit */
	int64_t user_id;     /* the official's account; 0 for a machine token */
	char full_name[201]; /* the official's name ("Họ tên"); "" for a machine token */
	char unit[201];	     /* the official's unit; "" for a machine token */
	char counter[51];    /* the counter the official sits at; "" if none */
};

/* Masks of roles the routes use. */
enum {
	R_ALL = MOTCUA_ROLE_CLERK | MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN | MOTCUA_ROLE_AGENCY,
	R_STAFF = MOTCUA_ROLE_CLERK | MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN,
	R_WRITE = MOTCUA_ROLE_CLERK | MOTCUA_ROLE_ADMIN,
	R_WATCH = MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN,
	R_ANY = R_ALL | MOTCUA_ROLE_KIOSK,
};

unsigned role_from_name(const char *name);
/* The name of one role bit ("?" for anything else). */
const char *role_name(unsigned role);
/* Creates a token, prints nothing; token_out gets the secret (only its hash
 * is stored). */
int token_create(sqlite3 *db, unsigned role, const char *name, char token_out[80], int64_t *id_out);
int token_revoke(sqlite3 *db, int64_t id);
/* A session token: "mcs_" and 64 hex digits (32 random bytes). */
#define SESSION_TOKEN_LEN 68
/* Either kind of bearer token: a machine token (mct_) or an official's
 * session (mcs_; counter: the one signed in at, else the account's). 0 if
 * valid, -EACCES if unknown, revoked, ended, expired or its account
 * disabled. */
int token_check(sqlite3 *db, const char *token, struct token_info *out);
json_t *token_list(sqlite3 *db);

#endif
