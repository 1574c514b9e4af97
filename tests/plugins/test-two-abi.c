/* SPDX-License-Identifier: MIT */
/* Speaks two ABI versions, the newer preferred: a gateway that offers only
 * ABI 1 must get the ABI 1 info (MOTCUA_PLUGIN_DECLARE_VERSIONS picks it). */
#include <motcua/plugin.h>

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	(void)state;
	host->log(ctx, MOTCUA_LOG_INFO, "speaking ABI %u", (unsigned)host->abi);
	return 0;
}

static const struct motcua_plugin_info info_v2 = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = 2,
    .name = "test-two-abi",
    .version = "2.0-for-abi-2",
    .provides = MOTCUA_PROVIDES_SINK,
    .init = init,
};

static const struct motcua_plugin_info info_v1 = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = 1,
    .name = "test-two-abi",
    .version = "2.0-for-abi-1",
    .provides = MOTCUA_PROVIDES_SINK,
    .init = init,
};

MOTCUA_PLUGIN_DECLARE_VERSIONS(&info_v2, &info_v1)
