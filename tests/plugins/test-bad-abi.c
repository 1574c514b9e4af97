/* SPDX-License-Identifier: MIT */
/* Speaks an ABI version no gateway has: must be refused, naming both. */
#include <motcua/plugin.h>

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	(void)ctx;
	(void)host;
	(void)state;
	return 0;
}

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = 99,
    .name = "test-bad-abi",
    .version = "9.9",
    .provides = MOTCUA_PROVIDES_SINK,
    .init = init,
};

MOTCUA_PLUGIN_DECLARE(info)
