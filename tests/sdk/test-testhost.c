/* SPDX-License-Identifier: MIT */
/*
 * The test host's own test: it loads the test plugins (tests/plugins, and
 * test-secret here) exactly as a plugin test would, and checks that it
 * refuses what the gateway refuses (another ABI, no entry symbol, a wrong
 * name, an unknown key, a failed init, an older host's table), frees what a
 * plugin hands over (LeakSanitizer proves it in the ASan build), runs work,
 * timers and events on its fake loop, routes as the router does, captures,
 * and reads secrets under the gateway's policy. Built with -std=c99
 * -pedantic -Werror, together with its own strict build of the test host.
 *
 *   test-testhost PLUGIN_DIR        (tests/plugins' build folder; test-secret.so beside this)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <motcua/testhost.h>
#include <motcua/testhost.h> /* the include guard works */

static int failures;
static const char *current = "";

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL [%s] %s:%d: %s: ", current, __FILE__, __LINE__,      \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

static const char *plugin_dir, *secret_dir;

static char *plugin(const char *name)
{
	static char buf[4][1024];
	static int i;
	char *b = buf[i++ % 4];
	snprintf(b, 1024, "%s/%s.so", !strcmp(name, "test-secret") ? secret_dir : plugin_dir, name);
	return b;
}

static struct motcua_testhost *host_with(const char *name)
{
	struct motcua_testhost *th = motcua_testhost_new();
	CHECK(th != NULL, "no test host");
	if (th) {
		motcua_testhost_set_echo(th, MOTCUA_LOG_WARNING);
		int r = motcua_testhost_load(th, plugin(name));
		CHECK(r == 0, "load %s: %d %s", name, r, motcua_testhost_error(th));
	}
	return th;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(path, mode);
}

static void test_loader(void)
{
	current = "loader";
	struct motcua_testhost *th = motcua_testhost_new();
	motcua_testhost_set_echo(th, -1);
	/* another ABI: refused, naming both */
	int r = motcua_testhost_load(th, plugin("test-bad-abi"));
	const char *e = motcua_testhost_error(th);
	CHECK(r == -EPROTONOSUPPORT && strstr(e, "ABI version 99") &&
		  strstr(e, "supports ABI version 1"),
	      "%d %s", r, e);
	CHECK(!motcua_testhost_info(th), "an info after a refusal");
	r = motcua_testhost_load(th, plugin("test-no-entry"));
	CHECK(r == -ENOEXEC &&
		  strstr(motcua_testhost_error(th), "no entry symbol motcua_plugin_entry()"),
	      "%d %s", r, motcua_testhost_error(th));
	r = motcua_testhost_load(th, plugin("test-nonexistent"));
	CHECK(r == -ENOENT && strstr(motcua_testhost_error(th), "cannot load"), "%d %s", r,
	      motcua_testhost_error(th));
	/* a file whose name is not the plugin's */
	char other[2048], cmd[4200];
	snprintf(other, sizeof other, "%s/other-name.so", motcua_testhost_root(th));
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", plugin("test-steps"), other);
	CHECK(system(cmd) == 0, "%s", cmd);
	r = motcua_testhost_load(th, other);
	CHECK(r == -EINVAL &&
		  strstr(motcua_testhost_error(th), "calls itself 'test-steps', not 'other-name'"),
	      "%d %s", r, motcua_testhost_error(th));
	r = motcua_testhost_start(th);
	CHECK(r == -ENOENT, "start without a plugin: %d", r);
	/* a plugin info shorter than ours: its fini is absent */
	r = motcua_testhost_load(th, plugin("test-old-info"));
	CHECK(r == 0 && motcua_testhost_info(th) && !motcua_testhost_info(th)->fini,
	      "old info: %d %s", r, motcua_testhost_error(th));
	CHECK(motcua_testhost_load(th, plugin("test-steps")) == -EBUSY, "a second plugin");
	CHECK(motcua_testhost_set_abis(th, (const uint32_t[]){2}, 1) == -EBUSY, "abis after load");
	CHECK(motcua_testhost_start(th) == 0 && motcua_testhost_log_find(th, "an older plugin"),
	      "start: %s", motcua_testhost_error(th));
	motcua_testhost_stop(th); /* would crash calling the garbage fini */
	motcua_testhost_free(th);

	/* "a host of ABI 2": a plugin of ABI 1 only is refused by the loader */
	th = motcua_testhost_new();
	motcua_testhost_set_echo(th, -1);
	const uint32_t two[] = {2};
	CHECK(motcua_testhost_set_abis(th, two, 1) == 0, "set_abis");
	r = motcua_testhost_load(th, plugin("test-steps"));
	CHECK(r == -EPROTONOSUPPORT &&
		  strstr(motcua_testhost_error(th), "plugin speaks ABI version 1, this gateway "
						    "supports ABI version 2"),
	      "%d %s", r, motcua_testhost_error(th));
	/* a plugin of two ABIs picks the one offered */
	r = motcua_testhost_load(th, plugin("test-two-abi"));
	CHECK(r == 0 && motcua_testhost_info(th)->abi == 2 &&
		  !strcmp(motcua_testhost_info(th)->version, "2.0-for-abi-2"),
	      "two ABIs, 2 offered: %d", r);
	CHECK(motcua_testhost_start(th) == 0 && motcua_testhost_log_find(th, "speaking ABI 2"),
	      "host->abi");
	motcua_testhost_free(th);
	th = host_with("test-two-abi");
	CHECK(th && motcua_testhost_info(th)->abi == 1, "two ABIs, 1 offered");
	motcua_testhost_free(th);
}

static void test_fail_init(void)
{
	current = "failed init";
	struct motcua_testhost *th = host_with("test-fail-init");
	motcua_testhost_set_echo(th, -1);
	int r = motcua_testhost_start(th);
	CHECK(r == -ENODEV && strstr(motcua_testhost_error(th), "init failed: No such device"),
	      "%d %s", r, motcua_testhost_error(th));
	CHECK(!strcmp(motcua_testhost_log_last_error(th), "cannot reach its device"), "%s",
	      motcua_testhost_log_last_error(th));
	/* it registered a route and a step (their data freed: LSan), both undone */
	CHECK(motcua_testhost_registrations(th) == 2, "%zu registrations",
	      motcua_testhost_registrations(th));
	CHECK(!motcua_testhost_has_step(th, MOTCUA_STEP_ARCHIVE) &&
		  motcua_testhost_route_count(th) == 0,
	      "not undone");
	struct motcua_testhost_response resp;
	struct motcua_testhost_request rq = {.path = "/ghost", .role = MOTCUA_ROLE_ADMIN};
	CHECK(motcua_testhost_call(th, &rq, &resp) == 404, "%d", resp.status);
	motcua_testhost_response_clear(&resp);
	motcua_testhost_free(th);
}

struct counter {
	struct motcua_testhost *th;
	size_t want;
};

static bool published_enough(void *arg)
{
	struct counter *c = arg;
	return motcua_testhost_published_count(c->th, "test.") >= c->want;
}

static void test_steps_plugin(void)
{
	current = "test-steps";
	struct motcua_testhost *th = host_with("test-steps");
	/* an unknown key is refused before init, as the gateway does */
	motcua_testhost_config(th, "delay_ms", "0", "colour", "blue", NULL);
	int r = motcua_testhost_start(th);
	CHECK(r == -EINVAL && strstr(motcua_testhost_error(th),
				     "[test-steps] colour: unknown key (plugin test-steps "
				     "accepts: enabled delay_ms fail_step busy_step "
				     "busy_times)"),
	      "%d %s", r, motcua_testhost_error(th));
	CHECK(motcua_testhost_registrations(th) == 0, "init was called");
	motcua_testhost_config(th, "delay_ms", "0", "fail_step", "recognize", NULL);
	r = motcua_testhost_start(th);
	CHECK(r == 0, "start: %d %s", r, motcua_testhost_error(th));
	CHECK(motcua_testhost_start(th) == -EALREADY, "started twice");
	CHECK(motcua_testhost_registrations(th) == 7, "%zu registrations",
	      motcua_testhost_registrations(th));
	CHECK(motcua_testhost_has_step(th, MOTCUA_STEP_RECOGNIZE) &&
		  motcua_testhost_has_step(th, MOTCUA_STEP_SIGN) &&
		  motcua_testhost_has_page_step(th, MOTCUA_STEP_RECOGNIZE) &&
		  !motcua_testhost_has_step(th, MOTCUA_STEP_ARCHIVE),
	      "steps");
	uint32_t iv = 0;
	bool rep = false;
	CHECK(motcua_testhost_timer_count(th) == 1 &&
		  motcua_testhost_timer_info(th, 0, &iv, &rep) == 0 && iv == 50 && rep,
	      "timer %u %d", iv, rep);
	CHECK(motcua_testhost_timer_info(th, 1, NULL, NULL) == -ENOENT, "a second timer");
	const char *prefix = NULL;
	int64_t since = 0;
	CHECK(motcua_testhost_subscription_count(th) == 1 &&
		  motcua_testhost_subscription(th, 0, &prefix, &since) == 0 &&
		  !strcmp(prefix, "document.") && since == -1,
	      "subscription");
	/* the work init submitted: done on the loop, which publishes */
	struct counter c = {th, 1};
	CHECK(motcua_testhost_wait_until(th, published_enough, &c, 5000) == 0, "no test.work_done");
	const struct motcua_testhost_event *e =
	    motcua_testhost_published_last(th, "test.work_done");
	CHECK(e && e->id == 1 && e->from_plugin && !strcmp(e->json, "{\"result\": 42}"), "%s",
	      e ? e->json : "(none)");
	/* events from the test reach the subscriber by prefix */
	CHECK(motcua_testhost_emit(th, "document.done", "{\"document_id\": \"d1\"}") == 2, "emit");
	CHECK(motcua_testhost_emit(th, "dossier.created", "{}") == 3, "emit");
	CHECK(motcua_testhost_emit(th, "document.done", "[1]") == -EINVAL, "an array as an event");
	CHECK(motcua_testhost_emit(th, "document.done", "{\"a\": 1, \"a\": 2}") == -EINVAL,
	      "duplicate keys");
	CHECK(motcua_testhost_emit(th, "document.done", "{\"a\": \"\\ud800\"}") == -EINVAL,
	      "a lone surrogate");
	CHECK(motcua_testhost_emit(th, "document.done", "{\"a\": \"\xc3\x28\"}") == -EINVAL,
	      "bad UTF-8");
	CHECK(motcua_testhost_emit(th, "document.done", "{\"a\": 01}") == -EINVAL,
	      "a leading zero");
	CHECK(motcua_testhost_emit(th, "document.done", "{} x") == -EINVAL, "trailing garbage");
	CHECK(motcua_testhost_emit(th, "", "{}") == -EINVAL, "an empty type");
	CHECK(motcua_testhost_emit(th, "document.x",
				   " {\"a\": [1, -2.5e+3, true, false, null, {\"b\": "
				   "\"\\u00e9\\ud83d\\ude00 ệ\"}]} ") == 4,
	      "a good object");
	CHECK(motcua_testhost_event_count(th) == 4 && motcua_testhost_last_event_id(th) == 4,
	      "%zu events", motcua_testhost_event_count(th));
	CHECK(motcua_testhost_event_by_id(th, 3) &&
		  !strcmp(motcua_testhost_event_by_id(th, 3)->type, "dossier.created"),
	      "by id");
	/* the timer fires while the loop runs */
	motcua_testhost_run(th, 130);
	/* routes */
	struct motcua_testhost_response resp;
	struct motcua_testhost_request rq = {
	    .path = "/stats", .role = MOTCUA_ROLE_CLERK, .token_name = "clerk-1"};
	r = motcua_testhost_call(th, &rq, &resp);
	CHECK(r == 200 && !strcmp(resp.content_type, "application/json") &&
		  strstr(resp.body, "\"events\":2,") && strstr(resp.body, "\"work_result\":42") &&
		  strstr(resp.body, "\"who\":\"clerk-1\"") &&
		  strstr(resp.body, "\"path\":\"/stats\""),
	      "%d %s", r, resp.body);
	unsigned ticks = 0;
	const char *t = resp.body ? strstr(resp.body, "\"ticks\":") : NULL;
	if (t)
		ticks = (unsigned)atoi(t + 8);
	CHECK(ticks >= 2 && ticks <= 4, "%u ticks in 130 ms of a 50 ms timer", ticks);
	motcua_testhost_response_clear(&resp);
	CHECK(motcua_testhost_timer_fire(th, 0) == 0, "fire");
	rq.role = MOTCUA_ROLE_KIOSK;
	CHECK(motcua_testhost_call(th, &rq, &resp) == 403 && strstr(resp.body, "\"forbidden\"") &&
		  strstr(resp.body, "role kiosk"),
	      "%d %s", resp.status, resp.body);
	motcua_testhost_response_clear(&resp);
	rq.role = MOTCUA_ROLE_ADMIN;
	rq.method = "POST";
	CHECK(motcua_testhost_call(th, &rq, &resp) == 405 && strstr(resp.body, "use GET"), "%d %s",
	      resp.status, resp.body);
	motcua_testhost_response_clear(&resp);
	rq.path = "/nope";
	CHECK(motcua_testhost_call(th, &rq, &resp) == 404, "%d", resp.status);
	motcua_testhost_response_clear(&resp);
	rq.path = "/echo";
	CHECK(motcua_testhost_call(th, &rq, &resp) == 404, "a wildcard route takes a rest: %d",
	      resp.status);
	motcua_testhost_response_clear(&resp);
	rq.path = "/echo/a%20b/c";
	rq.body = "xin chào";
	CHECK(motcua_testhost_call(th, &rq, &resp) == 201 &&
		  !strcmp(resp.content_type, "application/octet-stream") &&
		  resp.body_len == strlen("xin chào") && !strcmp(resp.body, "xin chào"),
	      "%d %s", resp.status, resp.body);
	motcua_testhost_response_clear(&resp);
	const char *m = NULL, *p = NULL;
	unsigned roles = 0;
	bool has_free = true;
	CHECK(motcua_testhost_route_count(th) == 2 &&
		  motcua_testhost_route_info(th, 1, &m, &p, &roles, &has_free) == 0 &&
		  !strcmp(m, "POST") && !strcmp(p, "/echo/*") &&
		  roles == (MOTCUA_ROLE_CLERK | MOTCUA_ROLE_ADMIN) && !has_free,
	      "route info");
	/* the steps, called on this thread */
	char in[2048], out[2048], meta[2048];
	snprintf(in, sizeof in, "%s/in.pdf", motcua_testhost_root(th));
	snprintf(out, sizeof out, "%s/out.pdf", motcua_testhost_root(th));
	snprintf(meta, sizeof meta, "%s/meta.json", motcua_testhost_root(th));
	write_file(in, "%PDF-1.4\n%%EOF\n", 0644);
	struct motcua_step_io io;
	memset(&io, 0, sizeof io);
	io.path = in;
	io.out_path = out;
	io.meta_path = meta;
	r = motcua_testhost_step(th, MOTCUA_STEP_SIGN, &io);
	CHECK(r == 0 && io.struct_size == sizeof io && !strcmp(io.message, "sign by test-steps"),
	      "%d %s", r, io.message);
	r = motcua_testhost_step(th, MOTCUA_STEP_RECOGNIZE, &io);
	CHECK(r == -EPROTO && strstr(io.message, "on purpose"), "%d %s", r, io.message);
	CHECK(motcua_testhost_step(th, MOTCUA_STEP_ARCHIVE, &io) == -ENOENT, "archive");
	struct motcua_page_io pio;
	memset(&pio, 0, sizeof pio);
	pio.page_no = 3;
	pio.path = in;
	pio.out_path = out;
	pio.meta_path = meta;
	r = motcua_testhost_page_step(th, MOTCUA_STEP_RECOGNIZE, &pio);
	CHECK(r == 0 && !strcmp(pio.message, "page 3 read"), "%d %s", r, pio.message);
	motcua_testhost_stop(th);
	CHECK(motcua_testhost_timer_count(th) == 0 && motcua_testhost_route_count(th) == 0 &&
		  motcua_testhost_subscription_count(th) == 0 &&
		  !motcua_testhost_has_step(th, MOTCUA_STEP_SIGN),
	      "not all undone at stop");
	rq.path = "/stats";
	rq.method = NULL;
	CHECK(motcua_testhost_call(th, &rq, &resp) == 404, "a route after stop");
	motcua_testhost_response_clear(&resp);
	/* a restart */
	CHECK(motcua_testhost_start(th) == 0, "restart: %s", motcua_testhost_error(th));
	CHECK(motcua_testhost_drain(th, 5000) == 0, "drain");
	motcua_testhost_free(th);
}

static bool page_ok_called;

static int on_page(void *arg, struct motcua_capture_io *io, const char *path,
		   const char *media_type)
{
	(void)arg, (void)io, (void)media_type;
	page_ok_called = access(path, R_OK) == 0;
	return 0;
}

static void test_capture(void)
{
	current = "capture";
	struct motcua_testhost *th = host_with("test-capture");
	CHECK(motcua_testhost_capture_start(th, NULL) == NULL && errno == ENOENT,
	      "a capture before start");
	CHECK(motcua_testhost_start(th) == 0, "%s", motcua_testhost_error(th));
	void *data = (void *)1;
	const struct motcua_capture_ops *ops = motcua_testhost_capture_ops(th, &data);
	char msg[256] = "";
	CHECK(ops && !data && ops->struct_size == sizeof *ops &&
		  ops->check(data, "{\"source\":\"moon\"}", msg, sizeof msg) == -EINVAL &&
		  strstr(msg, "flatbed"),
	      "check: %s", msg);
	struct motcua_testhost_capture_args a = {.options = "{\"pages\":3}", .on_page = on_page};
	struct motcua_testhost_capture *c = NULL;
	int r = motcua_testhost_capture(th, &a, &c);
	CHECK(r == 0 && c && motcua_testhost_capture_page_count(c) == 3 && page_ok_called,
	      "capture: %d", r);
	const char *type = NULL, *page = c ? motcua_testhost_capture_page(c, 2, &type) : NULL;
	CHECK(page && !strcmp(type, "image/png") && access(page, R_OK) == 0, "page 3 %s",
	      page ? page : "(none)");
	CHECK(motcua_testhost_published_count(th, "capture.progress") == 3 &&
		  motcua_testhost_published_last(th, "capture.progress")->broadcast,
	      "progress");
	char tmp_dir[2048];
	snprintf(tmp_dir, sizeof tmp_dir, "%s", c ? motcua_testhost_capture_io(c)->tmp_dir : "");
	CHECK(rmdir(tmp_dir) == 0, "the plugin left files in %s", tmp_dir);
	motcua_testhost_capture_free(c);
	a.options = "{\"pages\":5,\"fail_after\":2}";
	r = motcua_testhost_capture(th, &a, &c);
	CHECK(r == -EIO && strstr(motcua_testhost_capture_io(c)->message, "paper jam") &&
		  motcua_testhost_capture_page_count(c) == 2,
	      "%d", r);
	motcua_testhost_capture_free(c);
	/* a batch running when the host stops is asked to stop */
	a.options = "{\"pages\":50,\"delay_ms\":50}";
	c = motcua_testhost_capture_start(th, &a);
	motcua_testhost_run(th, 120);
	motcua_testhost_stop(th);
	CHECK(motcua_testhost_capture_io(c)->cancel && motcua_testhost_capture_page_count(c) < 50,
	      "not cancelled");
	motcua_testhost_capture_free(c);
	motcua_testhost_free(th);
}

static void test_adapter(void)
{
	current = "adapter";
	struct motcua_testhost *th = host_with("test-adapter");
	motcua_testhost_set_echo(th, -1);
	CHECK(motcua_testhost_start(th) == -EINVAL &&
		  strstr(motcua_testhost_log_last_error(th), "port"),
	      "no port");
	motcua_testhost_config(th, "port", "9", "procedures", "1.001", NULL);
	CHECK(motcua_testhost_start(th) == 0, "%s", motcua_testhost_error(th));
	void *data = NULL;
	const struct motcua_adapter_ops *ops = motcua_testhost_adapter_ops(th, &data);
	CHECK(ops && data && ops->accepts(data, "1.001", "dossier.created") &&
		  !ops->accepts(data, "2", "x"),
	      "accepts");
	const char *code = "000.00.12.H50-261128-0007";
	char body[4096];
	struct motcua_testhost_response resp;
	struct motcua_testhost_request rq = {
	    .method = "POST", .path = "/status", .role = MOTCUA_ROLE_AGENCY};
	snprintf(body, sizeof body, "{\"code\": \"%s\", \"status\": 5}", code);
	rq.body = body;
	CHECK(motcua_testhost_call(th, &rq, &resp) == 404 && strstr(resp.body, "-2"),
	      "no such dossier: %d %s", resp.status, resp.body);
	motcua_testhost_response_clear(&resp);
	CHECK(motcua_testhost_dossier_add(th, code) == 0 &&
		  motcua_testhost_dossier_add(th, "bad code") == -EINVAL,
	      "add");
	CHECK(motcua_testhost_call(th, &rq, &resp) == 200, "%d %s", resp.status, resp.body);
	motcua_testhost_response_clear(&resp);
	const struct motcua_testhost_status *st = motcua_testhost_status_at(th, 0);
	CHECK(motcua_testhost_status_count(th) == 1 && st && !strcmp(st->dossier_code, code) &&
		  st->status == 5 && !strcmp(st->details_json, "{\"note\": \"test\"}"),
	      "status");
	snprintf(body, sizeof body, "{\"code\": \"%s\", \"status\": 11}", code);
	CHECK(motcua_testhost_call(th, &rq, &resp) == 400 && motcua_testhost_status_count(th) == 1,
	      "status 11");
	motcua_testhost_response_clear(&resp);
	/* a result: the host's copy, checked for what its type says */
	char pdf[2048], bad[2048];
	snprintf(pdf, sizeof pdf, "%s/ket-qua.pdf", motcua_testhost_root(th));
	snprintf(bad, sizeof bad, "%s/not.pdf", motcua_testhost_root(th));
	write_file(pdf, "%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n", 0644);
	write_file(bad, "<html>not a pdf</html>\n", 0644);
	rq.path = "/result";
	snprintf(body, sizeof body,
		 "{\"code\": \"%s\", \"path\": \"%s\", \"media_type\": \"application/pdf\", "
		 "\"name\": \"Giấy\"}",
		 code, bad);
	CHECK(motcua_testhost_call(th, &rq, &resp) == 400 && motcua_testhost_result_count(th) == 0,
	      "%d %s", resp.status, resp.body);
	motcua_testhost_response_clear(&resp);
	snprintf(body, sizeof body,
		 "{\"code\": \"%s\", \"path\": \"%s\", \"media_type\": \"application/pdf\", "
		 "\"name\": \"Giấy\"}",
		 code, pdf);
	CHECK(motcua_testhost_call(th, &rq, &resp) == 202, "%d %s", resp.status, resp.body);
	motcua_testhost_response_clear(&resp);
	const struct motcua_testhost_result *res = motcua_testhost_result_at(th, 0);
	CHECK(motcua_testhost_result_count(th) == 1 && res && strcmp(res->path, pdf) &&
		  res->size == 35 && !strcmp(res->name, "Giấy") && access(res->path, R_OK) == 0,
	      "result");
	motcua_testhost_free(th);
}

static void test_secret_and_tables(void)
{
	current = "secret";
	struct motcua_testhost *th = host_with("test-secret");
	char token[2048];
	snprintf(token, sizeof token, "%s/token", motcua_testhost_root(th));
	write_file(token, "s3cr3t-token\r\nsecond line\n", 0644);
	motcua_testhost_config(th, "token_file", token, NULL);
	motcua_testhost_set_echo(th, -1);
	/* the gateway's policy (src/secret.c): a file others can read is refused */
	int r = motcua_testhost_start(th);
	CHECK(r == -EPERM && strstr(motcua_testhost_log_last_error(th), "token_file") &&
		  strstr(motcua_testhost_log_last_error(th), "chmod 600"),
	      "%d %s", r, motcua_testhost_log_last_error(th));
	char link[2100];
	snprintf(link, sizeof link, "%s.link", token);
	CHECK(symlink(token, link) == 0, "symlink");
	motcua_testhost_config(th, "token_file", link, NULL);
	r = motcua_testhost_start(th);
	CHECK(r == -ELOOP && strstr(motcua_testhost_log_last_error(th), "symbolic link"), "%d %s",
	      r, motcua_testhost_log_last_error(th));
	chmod(token, 0600);
	motcua_testhost_config(th, "token_file", token, NULL);
	CHECK(motcua_testhost_emit(th, "test.one", "{}") == 1 &&
		  motcua_testhost_emit(th, "other", "{}") == 2 &&
		  motcua_testhost_emit(th, "test.three", "{}") == 3,
	      "emit before start");
	r = motcua_testhost_start(th);
	CHECK(r == 0, "%d %s", r, motcua_testhost_error(th));
	/* replayed from id 0 during the call; then live */
	CHECK(motcua_testhost_emit(th, "test.four", "{}") == 4, "emit");
	struct motcua_testhost_response resp;
	const char *headers[] = {"x-test", "có dấu", NULL};
	struct motcua_testhost_request rq = {
	    .path = "/token", .role = MOTCUA_ROLE_ADMIN, .headers = headers};
	motcua_testhost_run(th, 70);
	CHECK(motcua_testhost_call(th, &rq, &resp) == 200 && strstr(resp.body, "\"length\": 12") &&
		  strstr(resp.body, "\"last_id\": 4") && !strstr(resp.body, "\"ticks\": 0,") &&
		  strstr(resp.body, "\"x_test\": \"có dấu\""),
	      "%d %s", resp.status, resp.body);
	motcua_testhost_response_clear(&resp);
	int64_t since = -2;
	CHECK(motcua_testhost_subscription(th, 0, NULL, &since) == 0 && since == 0, "since %lld",
	      (long long)since);
	CHECK(motcua_testhost_registrations(th) == 5, "%zu", motcua_testhost_registrations(th));
	motcua_testhost_stop(th);
	/* an older host, whose table ends before secret_read: refused with a reason */
	CHECK(motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_BEFORE(secret_read)) == 0,
	      "table size");
	CHECK(motcua_testhost_set_table_size(th, 4) == -EINVAL &&
		  motcua_testhost_set_table_size(th, sizeof(struct motcua_host) + 8) == -EINVAL,
	      "bad sizes");
	r = motcua_testhost_start(th);
	CHECK(r == -ENOTSUP && strstr(motcua_testhost_log_last_error(th), "too old") &&
		  motcua_testhost_registrations(th) == 0,
	      "%d %s", r, motcua_testhost_log_last_error(th));
	motcua_testhost_free(th);

	current = "tables";
	th = host_with("test-capture");
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_BEFORE(capture_register));
	CHECK(motcua_testhost_start(th) == -ENOTSUP, "a host without capture_register");
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_FULL);
	CHECK(motcua_testhost_start(th) == 0, "the full table");
	motcua_testhost_free(th);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s TEST_PLUGIN_DIR TEST_SECRET_DIR\n", argv[0]);
		return 2;
	}
	plugin_dir = argv[1];
	secret_dir = argv[2];
	test_loader();
	test_fail_init();
	test_steps_plugin();
	test_capture();
	test_adapter();
	test_secret_and_tables();
	current = "tools";
	CHECK(motcua_testhost_need_program("sh", NULL) == 0, "sh");
	CHECK(motcua_testhost_need_program("/bin/sh", NULL) == 0, "/bin/sh");
	CHECK(motcua_testhost_need_program("motcua-no-such-tool",
					   "expected: the self-test asks for a missing tool") ==
		  -ENOENT,
	      "a missing tool");
	struct motcua_testhost *th = motcua_testhost_new();
	CHECK(motcua_testhost_violations(th) == 0, "%zu contract violations",
	      motcua_testhost_violations(th));
	motcua_testhost_free(th);
	motcua_testhost_free(NULL);
	fprintf(stderr, "%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
