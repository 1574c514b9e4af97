/* SPDX-License-Identifier: MIT */
/*
 * motcua-verify: `motcua verify FILE [--trust BUNDLE] [--data FILE] [--json]`
 * as its own program, which `motcua verify ...` runs (see
 * plugins/common/motcua-tool.h); the trust bundle defaults to [sign-openssl]
 * trust of MOTCUA_SETTINGS. Run directly, it takes --trust.
 */
#include <stdio.h>
#include <string.h>

#include "motcua-tool.h"
#include "verify-cli.h"

int main(int argc, char **argv)
{
	json_t *settings;
	char err[256];
	if (motcua_tool_settings(&settings, err, sizeof err) < 0) {
		fprintf(stderr, "motcua verify: %s\n", err);
		return 2;
	}
	int rc = sign_openssl_verify_cli(argc, argv,
					 motcua_tool_setting(settings, "sign-openssl", "trust"));
	/* `motcua verify --help` prints what it always did; run directly, the
	 * help also says where the defaults come from. */
	if (!settings && argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		printf("\nRun directly as motcua-verify, it takes the same options; run by\n"
		       "`motcua [--config FILE] [-o SECTION.KEY=VALUE] verify ...`, it gets the\n"
		       "configuration motcua resolved in the environment:\n"
		       "  " MOTCUA_TOOL_SETTINGS_ENV
		       "  a JSON object {\"section\": {\"key\": \"value\"}}; the trust\n"
		       "                   bundle defaults to its [sign-openssl] trust\n");
	json_decref(settings);
	return rc;
}
