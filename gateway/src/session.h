/* SPDX-License-Identifier: MIT */
/*
 * Officials sign in and out: POST/GET/DELETE /api/v1/session. A session is
 * a bearer token ("mcs_" and 64 hex digits, only its SHA-256 kept in table
 * sessions) that token_check (auth.c) takes beside machine tokens, valid for
 * [station] session_hours. Passwords are verified on the module's own worker
 * (one thread: a sign-in never waits behind OCR or a scan, and at most one
 * Argon2id hash's memory is in use). Failed sign-ins are counted per account
 * and per client address (ratelimit.h): each answered after a growing delay
 * (a timer, nothing blocks), then locked (429 with Retry-After).
 */
#ifndef MOTCUA_SESSION_H
#define MOTCUA_SESSION_H

struct gateway;
struct session_api;

/* Failures in SIGNIN_WINDOW_S that lock an account (or an address) for
 * SIGNIN_LOCK_S. */
#define SIGNIN_ACCOUNT_LIMIT 5
#define SIGNIN_ADDRESS_LIMIT 20
#define SIGNIN_WINDOW_S (15 * 60)
#define SIGNIN_LOCK_S (15 * 60)

/* Adds the routes; uses gw's db, events, router, settings and loop. */
struct session_api *session_api_new(struct gateway *gw);
/* Before the HTTP server goes: the worker stops (a hash running finishes,
 * queued ones are answered 503), failures waiting out their delay are
 * answered at once (counted already; the server then closes, so the answer
 * may not reach the client). */
void session_api_stop(struct session_api *s);
void session_api_free(struct session_api *s);

#endif
