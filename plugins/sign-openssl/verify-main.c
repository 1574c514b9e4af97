/* SPDX-License-Identifier: MIT */
/* A tiny stand-in for `motcua verify` for the tests (the real command is
 * gateway/cli's): motcua-sign-verify FILE [--trust ..] [--data ..] [--json] */
#include <stdlib.h>

#include "verify-cli.h"

int main(int argc, char **argv)
{
	return sign_openssl_verify_cli(argc, argv, getenv("MOTCUA_SIGN_TRUST"));
}
