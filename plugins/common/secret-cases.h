/* SPDX-License-Identifier: MIT */
/*
 * The secret-file cases of a plugin's unit test, for every configuration key
 * that names a secret file (a key, PIN, password, token or shared key), run
 * through the SDK's test host, whose secret_read() is the gateway's own
 * policy (gateway/src/secret.c):
 *  - a symbolic link, a file others can read (0644) and an empty file are
 *    refused: start fails with the errno the policy gives, and the plugin's
 *    last error line holds the policy's reason, word for word (the key, the
 *    path and why);
 *  - a good file is taken;
 *  - a host from before secret_read() (a table that ends before it) is
 *    refused with -ENOTSUP and a line saying the gateway is "too old".
 * For tests only: it links the test host and the policy's code.
 */
#ifndef MOTCUA_SECRET_CASES_H
#define MOTCUA_SECRET_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include <motcua/testhost.h>

struct secret_case {
	const char *key;  /* the configuration key, e.g. "password_file" */
	unsigned flags;	  /* what the plugin asks secret_read() for: MOTCUA_SECRET_LINE or 0 */
	const char *good; /* a file the plugin takes as key's value (mode 0600), absolute */
	/* Sets the plugin's section so that start reaches key, with path as its
	 * value. */
	void (*configure)(struct motcua_testhost *th, const char *path, void *arg);
	/* Starts the plugin; NULL: motcua_testhost_start(). */
	int (*start)(struct motcua_testhost *th, void *arg);
	/* Was the good file taken, start having returned r? NULL: r == 0. For
	 * a plugin that cannot start in a unit test for a later reason (a
	 * token that is not there). */
	bool (*taken)(struct motcua_testhost *th, int r, void *arg);
	void *arg;
};

/* Runs the cases above for c->key, with files it makes beside c->good (a
 * symlink to it, a 0644 copy, an empty file). Stops the plugin after each
 * start and leaves the full host table. Prints a "FAIL [secret KEY] ..."
 * line on stderr for each failed check; returns how many failed. */
int secret_cases_run(struct motcua_testhost *th, const struct secret_case *c);

/* The reason the gateway's policy gives for path as key's value (with
 * flags), in why; "" when it takes the file. Returns what the policy
 * returns: 0 or a negative errno. */
int secret_cases_reason(const char *key, const char *path, unsigned flags, char *why,
			size_t why_len);

#endif
