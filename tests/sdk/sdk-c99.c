/* SPDX-License-Identifier: MIT */
/*
 * Proves that <motcua/plugin.h> is self-contained and clean C99: built with
 * -std=c99 -pedantic -Wall -Wextra -Werror and nothing included before it.
 * It is also a minimal plugin, so the types are used the way plugins use them.
 */
#include <motcua/plugin.h>
#include <motcua/plugin.h> /* the include guard works */

/* Compile-time checks, C99 style (no _Static_assert before C11). */
#define SDK_ASSERT(name, cond) typedef char sdk_assert_##name[(cond) ? 1 : -1]
SDK_ASSERT(abi_is_1, MOTCUA_ABI_VERSION == 1u);
SDK_ASSERT(host_size_first, offsetof(struct motcua_host, struct_size) == 0);
SDK_ASSERT(info_size_first, offsetof(struct motcua_plugin_info, struct_size) == 0);
SDK_ASSERT(io_size_first, offsetof(struct motcua_step_io, struct_size) == 0);
SDK_ASSERT(request_size_first, offsetof(struct motcua_request, struct_size) == 0);
SDK_ASSERT(step_count, MOTCUA_STEP_COUNT_ == 5);
SDK_ASSERT(entry_name, sizeof MOTCUA_PLUGIN_ENTRY_SYMBOL == sizeof "motcua_plugin_entry");

struct state {
	const struct motcua_host *host;
	struct motcua_plugin_ctx *ctx;
};

static struct state the_state;

static int step(void *data, struct motcua_step_io *io)
{
	(void)data;
	io->message[0] = 0;
	io->out_media_type[0] = 0;
	return 0;
}

static int route(void *data, const struct motcua_request *req, struct motcua_response *resp)
{
	struct state *s = data;
	(void)req;
	return s->host->response_set(resp, "application/json", "{}", 2) == 0 ? 200 : 500;
}

static void on_event(void *data, const char *type, const char *json, size_t json_len)
{
	(void)data;
	(void)type;
	(void)json;
	(void)json_len;
}

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	int r;
	the_state.host = host;
	the_state.ctx = ctx;
	*state = &the_state;
	if (!MOTCUA_HAS_MEMBER(struct motcua_host, host, step_register))
		return -1;
	host->log(ctx, MOTCUA_LOG_INFO, "hello from %s, ABI %u", "sdk-c99", (unsigned)host->abi);
	if ((r = host->event_subscribe(ctx, "dossier.", on_event, NULL, NULL)) < 0)
		return r;
	if ((r = host->route_add(ctx, "GET", "/status", MOTCUA_ROLE_ADMIN | MOTCUA_ROLE_SUPERVISOR,
				 route, &the_state, NULL)) < 0)
		return r;
	if (MOTCUA_HAS_MEMBER(struct motcua_host, host, secret_read)) {
		char pin[64];
		size_t len = 0;
		char why[256];
		if (host->secret_read(ctx, "pin_file", "/nonexistent", MOTCUA_SECRET_LINE, pin,
				      sizeof pin, &len, why, sizeof why) == 0)
			return -1;
	}
	return host->step_register(ctx, MOTCUA_STEP_RECOGNIZE, step, NULL, NULL);
}

static void fini(void *state)
{
	(void)state;
}

static const struct motcua_config_key keys[] = {
    {"drop_dir", "where documents go"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    sizeof(struct motcua_plugin_info),
    MOTCUA_ABI_VERSION,
    "sdk-c99",
    "1.0",
    MOTCUA_PROVIDES_ADAPTER | MOTCUA_PROVIDES_SINK,
    keys,
    init,
    fini,
};

MOTCUA_PLUGIN_DECLARE(info)

/* An info for an ABI version no host offers, to test the pick. */
static const struct motcua_plugin_info info_v9 = {
    sizeof(struct motcua_plugin_info), 9u, "sdk-c99", "1.0", 0, NULL, init, NULL,
};

static int pick_ok(void)
{
	const uint32_t one[] = {1u}, two[] = {9u, 1u}, none[] = {7u};
	const struct motcua_plugin_info *const infos[] = {&info_v9, &info};
	struct motcua_step_io io;
	io.struct_size = (uint32_t)offsetof(struct motcua_step_io, meta_path);
	return motcua_plugin_pick(one, 1, infos, 2) == &info &&
	       motcua_plugin_pick(two, 2, infos, 2) == &info_v9 &&
	       motcua_plugin_pick(none, 1, infos, 2) == &info_v9 &&
	       motcua_abi_offered(two, 2, 1u) && !motcua_abi_offered(none, 1, 1u) &&
	       !motcua_abi_offered(NULL, 0, 1u) &&
	       MOTCUA_HAS_MEMBER(struct motcua_step_io, &io, message) &&
	       !MOTCUA_HAS_MEMBER(struct motcua_step_io, &io, meta_path);
}

/* motcua_list_has(): the cases adapters rely on. */
static int list_has_ok(void)
{
	return motcua_list_has("1.001, 1.002\t1.003", "1.002") &&
	       motcua_list_has("1.001,1.002", "1.001") && !motcua_list_has("1.001,1.002", "1.00") &&
	       !motcua_list_has("1.001,1.002", "1.0021") && !motcua_list_has("1.001", "") &&
	       !motcua_list_has("1.001", NULL) && motcua_list_has(" * ", "anything") &&
	       motcua_list_has("*", NULL) && !motcua_list_has("**", "x") &&
	       !motcua_list_has(NULL, "x") && !motcua_list_has("", "x") &&
	       !motcua_list_has(" ,, ", "x") && motcua_list_has("a,,b\n", "b");
}

int main(void)
{
	const uint32_t abis[] = {MOTCUA_ABI_VERSION};
	motcua_plugin_entry_fn entry = motcua_plugin_entry;
	const struct motcua_plugin_info *i = entry(abis, sizeof abis / sizeof abis[0]);
	return i->struct_size == sizeof *i && i->abi == MOTCUA_ABI_VERSION && i->init == init &&
		       i->config_keys[1].name == NULL && list_has_ok() && pick_ok()
		   ? 0
		   : 1;
}
