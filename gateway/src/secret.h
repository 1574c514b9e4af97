/* SPDX-License-Identifier: MIT */
/* The one policy for secrets in files (keys, PINs, passwords, tokens): what
 * motcua_host.secret_read() does, for the gateway and for the test host. It
 * depends on nothing but libc, so that both build it. */
#ifndef MOTCUA_SECRET_H
#define MOTCUA_SECRET_H

#include <stddef.h>

/* See motcua_host.secret_read() in motcua/plugin.h for the policy, flags and
 * return codes. key names the configuration key in the reason (may be NULL). */
int secret_read_file(const char *key, const char *path, unsigned flags, char *buf, size_t size,
		     size_t *len, char *why, size_t why_len);

/* Overwrites n bytes in a way the compiler keeps. */
void secret_wipe(void *p, size_t n);

#endif
