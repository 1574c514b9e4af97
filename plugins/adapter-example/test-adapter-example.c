/* SPDX-License-Identifier: MIT */
/*
 * test-adapter-example: how to test an adapter without a gateway. Loads the
 * built plugin with dlopen() exactly as the gateway does, hands it a small
 * fake host table, and calls its accepts() and deliver() directly.
 *
 *   make check              (out of tree, next to the Makefile)
 *   test-adapter-example ./adapter-example.so
 *
 * Needs nothing but the SDK header and libc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <motcua/plugin.h>

static int failures;
#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			failures++;                                          \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
		}                                                            \
	} while (0)

/* ---- the fake host: only what the plugin calls ---- */
struct motcua_plugin_ctx {
	int unused;
};
static struct motcua_plugin_ctx ctx;
static char drop_dir[256];
static const char *procedures = "1.001612";
static struct motcua_adapter_ops ops;
static void *ops_data;
static motcua_route_fn route_fn;
static void *route_data;

static void fake_log(struct motcua_plugin_ctx *c, enum motcua_log_level level, const char *fmt, ...)
{
	va_list ap;
	(void)c;
	va_start(ap, fmt);
	fprintf(stderr, "  plugin <%d> ", (int)level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char *fake_config_get(struct motcua_plugin_ctx *c, const char *section, const char *key)
{
	(void)c, (void)section;
	if (!strcmp(key, "drop_dir"))
		return drop_dir;
	if (!strcmp(key, "procedures"))
		return procedures;
	return NULL;
}

static int fake_route_add(struct motcua_plugin_ctx *c, const char *method, const char *path, unsigned roles,
			  motcua_route_fn fn, void *data, motcua_free_fn free_fn)
{
	(void)c, (void)method, (void)path, (void)roles, (void)free_fn;
	route_fn = fn;
	route_data = data;
	return 0;
}

static char response[256];
static int fake_response_set(struct motcua_response *resp, const char *type, const char *body, size_t len)
{
	(void)resp, (void)type;
	snprintf(response, sizeof response, "%.*s", (int)len, body);
	return 0;
}

static int fake_adapter_register(struct motcua_plugin_ctx *c, const struct motcua_adapter_ops *o, void *data,
				 motcua_free_fn free_fn)
{
	(void)c, (void)free_fn;
	ops = *o;
	ops_data = data;
	return 0;
}

static struct motcua_host host = {
	.struct_size = sizeof(struct motcua_host),
	.abi = MOTCUA_ABI_VERSION,
	.log = fake_log,
	.config_get = fake_config_get,
	.route_add = fake_route_add,
	.response_set = fake_response_set,
	.adapter_register = fake_adapter_register,
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	const char *so_path = argc > 1 ? argv[1] : getenv("EXAMPLE_PLUGIN");
	void *so = so_path ? dlopen(so_path, RTLD_NOW | RTLD_LOCAL) : NULL;
	if (!so) {
		fprintf(stderr, "usage: %s path/to/adapter-example.so (%s)\n", argv[0], so_path ? dlerror() : "");
		return 1;
	}
	motcua_plugin_entry_fn entry = (motcua_plugin_entry_fn)dlsym(so, MOTCUA_PLUGIN_ENTRY_SYMBOL);
	uint32_t abis[] = {MOTCUA_ABI_VERSION};
	const struct motcua_plugin_info *info = entry ? entry(abis, 1) : NULL;
	if (!info || info->abi != MOTCUA_ABI_VERSION) {
		fprintf(stderr, "no plugin info or another ABI\n");
		return 1;
	}
	snprintf(drop_dir, sizeof drop_dir, "%s/adapter-example-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(drop_dir))
		return 1;
	void *state = NULL;
	CHECK(info->init(&ctx, &host, &state) == 0, "init failed");
	CHECK(ops.accepts && ops.deliver, "not registered as an adapter");
	if (failures)
		return 1;

	/* routing by the procedures key */
	CHECK(ops.accepts(ops_data, "1.001612", "dossier.created") == 1, "listed procedure");
	CHECK(ops.accepts(ops_data, "2.000001", "dossier.created") == 0, "other procedure");

	/* one delivery -> one file named by the idempotency key */
	struct motcua_delivery d = {
		.struct_size = sizeof d,
		.id = 1,
		.idempotency_key = "000.00.12.H50-261128-0007:dossier.created:adapter-example",
		.destination = "adapter-example",
		.dossier_code = "000.00.12.H50-261128-0007",
		.event_type = "dossier.created",
		.event_json = "{\"at\": \"2026-11-28T08:00:00+07:00\"}",
		.dossier_json = "{\"code\": \"000.00.12.H50-261128-0007\", \"status\": 1}",
		.attempt = 1,
	};
	CHECK(ops.deliver(ops_data, &d) == 0, "deliver: %s", d.message);
	char path[512];
	snprintf(path, sizeof path, "%s/000.00.12.H50-261128-0007_dossier.created_adapter-example.json", drop_dir);
	const char *text = slurp(path);
	CHECK(text && strstr(text, "\"event_type\": \"dossier.created\"") &&
		      strstr(text, "\"dossier\": {\"code\": \"000.00.12.H50-261128-0007\""),
	      "file %s: %s", path, text ? text : "(missing)");
	/* the same item again (after a crash) is a no-op */
	CHECK(ops.deliver(ops_data, &d) == 0 && strstr(d.message, "already"), "repeat: %s", d.message);
	CHECK(route_fn && route_fn(route_data, NULL, NULL) == 200 && strstr(response, "\"sent\":1"), "%s", response);

	/* the drop folder gone (an unmounted share) -> try again later */
	unlink(path);
	rmdir(drop_dir);
	CHECK(ops.deliver(ops_data, &d) == -EAGAIN, "missing folder: %s", d.message);

	info->fini(state);
	fprintf(stderr, "%s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
