/* SPDX-License-Identifier: MIT */
/* Registers a route and a step, then fails init: the host must undo both,
 * unload it and go on. */
#include <errno.h>
#include <stdlib.h>

#include <motcua/plugin.h>

static int route(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	(void)data;
	(void)req;
	(void)resp;
	return 200;
}

static int step(void *data, struct motcua_step_io *io)
{
	(void)data;
	(void)io;
	return 0;
}

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	(void)state;
	host->route_add(ctx, "GET", "/ghost", MOTCUA_ROLE_ADMIN, route, malloc(16), free);
	host->step_register(ctx, MOTCUA_STEP_ARCHIVE, step, malloc(16), free);
	host->log(ctx, MOTCUA_LOG_ERROR, "cannot reach its device");
	return -ENODEV;
}

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = "test-fail-init",
    .version = "0.0.1",
    .provides = MOTCUA_PROVIDES_ARCHIVE,
    .init = init,
};

MOTCUA_PLUGIN_DECLARE(info)
