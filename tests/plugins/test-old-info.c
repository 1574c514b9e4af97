/* SPDX-License-Identifier: MIT */
/* A plugin built against an older header, whose info ends before fini: the
 * host must take it (members it lacks are absent) and never call a fini it
 * has not got. */
#include <stddef.h>

#include <motcua/plugin.h>

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	(void)state;
	host->log(ctx, MOTCUA_LOG_INFO, "an older plugin, info of %u bytes",
		  (unsigned)offsetof(struct motcua_plugin_info, fini));
	return 0;
}

/* What follows init in the struct is garbage the host must not read. */
static const struct {
	struct motcua_plugin_info info;
} old = {{
    .struct_size = offsetof(struct motcua_plugin_info, fini),
    .abi = MOTCUA_ABI_VERSION,
    .name = "test-old-info",
    .version = "0.9",
    .provides = MOTCUA_PROVIDES_SINK,
    .init = init,
    .fini = (void (*)(void *))1, /* would crash if called */
}};

MOTCUA_PLUGIN_DECLARE(old.info)
