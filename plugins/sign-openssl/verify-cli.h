/* SPDX-License-Identifier: MIT */
#ifndef MOTCUA_SIGN_VERIFY_CLI_H
#define MOTCUA_SIGN_VERIFY_CLI_H

/* `motcua verify FILE [--trust BUNDLE] [--data FILE] [--json]`: argv[0] is
 * the subcommand's name ("verify"), the options follow. trust_default
 * ([sign-openssl] trust, or NULL) is used when --trust is not given.
 * Returns the exit status: 0 intact and trusted, 1 not, 2 usage/unreadable. */
int sign_openssl_verify_cli(int argc, char **argv, const char *trust_default);

#endif
