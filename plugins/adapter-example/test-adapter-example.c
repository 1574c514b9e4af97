/* SPDX-License-Identifier: MIT */
/*
 * test-adapter-example: how to test an adapter without a gateway. The SDK's
 * test host (motcua/testhost.h) loads the built plugin with dlopen() exactly
 * as the gateway does, gives it its configuration, starts it, and lets the
 * test call what it registered: accepts() and deliver() of its outbox
 * destination, and its routes.
 *
 *   make check              (out of tree, next to the Makefile)
 *   test-adapter-example ./adapter-example.so
 *
 * Needs the SDK: pkg-config --cflags --libs motcua-plugin motcua-testhost.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <motcua/plugin.h>
#include <motcua/testhost.h>

static int failures;
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

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
	if (!so_path) {
		fprintf(stderr, "usage: %s path/to/adapter-example.so\n", argv[0]);
		return 1;
	}
	struct motcua_testhost *th = motcua_testhost_new();
	if (!th)
		return 1;
	/* loaded as the gateway loads it: refused with a reason if it is not a
	 * plugin of this ABI, or not the one the file is named after */
	if (motcua_testhost_load(th, so_path) < 0) {
		fprintf(stderr, "FAIL: %s\n", motcua_testhost_error(th));
		motcua_testhost_free(th);
		return 1;
	}
	const struct motcua_plugin_info *info = motcua_testhost_info(th);
	CHECK(info->abi == MOTCUA_ABI_VERSION && (info->provides & MOTCUA_PROVIDES_ADAPTER),
	      "plugin info");

	/* a host older than the outbox (no adapter_register): refused, saying why */
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_BEFORE(adapter_register));
	CHECK(motcua_testhost_start(th) == -ENOTSUP && motcua_testhost_log_find(th, "no outbox"),
	      "an old host: %s", motcua_testhost_log_last_error(th));
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_FULL);

	/* drop_dir is required */
	CHECK(motcua_testhost_start(th) == -EINVAL &&
		  strstr(motcua_testhost_log_last_error(th), "drop_dir"),
	      "no drop_dir: %s", motcua_testhost_log_last_error(th));

	char drop_dir[2048];
	snprintf(drop_dir, sizeof drop_dir, "%s/drop", motcua_testhost_root(th));
	if (mkdir(drop_dir, 0755) < 0)
		return 1;
	motcua_testhost_config(th, "drop_dir", drop_dir, "procedures", "1.001612", NULL);
	CHECK(motcua_testhost_start(th) == 0, "init failed: %s", motcua_testhost_error(th));
	void *data = NULL;
	const struct motcua_adapter_ops *ops = motcua_testhost_adapter_ops(th, &data);
	CHECK(ops && ops->accepts && ops->deliver, "not registered as an adapter");
	if (failures || !ops) {
		motcua_testhost_free(th);
		return 1;
	}

	/* routing by the procedures key */
	CHECK(ops->accepts(data, "1.001612", "dossier.created") == 1, "listed procedure");
	CHECK(ops->accepts(data, "2.000001", "dossier.created") == 0, "other procedure");

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
	CHECK(ops->deliver(data, &d) == 0, "deliver: %s", d.message);
	char path[4096];
	snprintf(path, sizeof path,
		 "%s/000.00.12.H50-261128-0007_dossier.created_adapter-example.json", drop_dir);
	const char *text = slurp(path);
	CHECK(text && strstr(text, "\"event_type\": \"dossier.created\"") &&
		  strstr(text, "\"dossier\": {\"code\": \"000.00.12.H50-261128-0007\""),
	      "file %s: %s", path, text ? text : "(missing)");
	/* the same item again (after a crash) is a no-op */
	CHECK(ops->deliver(data, &d) == 0 && strstr(d.message, "already"), "repeat: %s", d.message);

	/* its route, as the gateway serves it: GET /api/v1/plugins/adapter-example/status */
	struct motcua_testhost_request rq = {
	    .method = "GET", .path = "/status", .role = MOTCUA_ROLE_SUPERVISOR};
	struct motcua_testhost_response resp;
	int status = motcua_testhost_call(th, &rq, &resp);
	CHECK(status == 200 && !strcmp(resp.content_type, "application/json") &&
		  strstr(resp.body, "\"sent\":1"),
	      "%d %s", status, resp.body);
	motcua_testhost_response_clear(&resp);
	rq.role = MOTCUA_ROLE_KIOSK; /* the kiosk may not */
	CHECK(motcua_testhost_call(th, &rq, &resp) == 403, "kiosk: %d", resp.status);
	motcua_testhost_response_clear(&resp);

	/* the drop folder gone (an unmounted share) -> try again later */
	unlink(path);
	rmdir(drop_dir);
	CHECK(ops->deliver(data, &d) == -EAGAIN, "missing folder: %s", d.message);

	motcua_testhost_stop(th);
	CHECK(motcua_testhost_violations(th) == 0, "the plugin broke the host's contract");
	motcua_testhost_free(th);
	fprintf(stderr, "%s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
