/* SPDX-License-Identifier: MIT */
/*
 * test-archive-sqlite: loads the built archive-sqlite.so ($ARCHIVE_PLUGIN)
 * with dlopen() and drives it through a fake host table: config checks, the
 * archive step (idempotent rerun, reuse link, bad input), every archive op
 * with good and bad input, and the periodic fixity job (timer -> work ->
 * "archive.fixity" event) before and after a blob is damaged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <motcua/plugin.h>

static int failures;
static const char *current_case = "";

#define CHECK(cond, ...)                                                                                  \
	do {                                                                                              \
		if (!(cond)) {                                                                            \
			failures++;                                                                       \
			fprintf(stderr, "FAIL [%s] %s:%d: %s: ", current_case, __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                                     \
			fputc('\n', stderr);                                                              \
		}                                                                                         \
	} while (0)

/* ---- the fake host ---------------------------------------------------------------- */

struct motcua_plugin_ctx {
	int unused;
};
struct motcua_timer {
	uint32_t interval_ms;
	motcua_timer_fn fn;
	void *data;
};

static struct motcua_plugin_ctx the_ctx;
static char root[256], data_dir[300];
static const char *config[16][2];
static size_t n_config;
static char last_error[2048];
static char last_event_type[64], last_event[4096];
static int n_events;
static motcua_step_fn step_fn;
static void *step_data;
static int step_step = -1;
static struct motcua_archive_ops ops;
static void *ops_data;
static int n_registered;
static struct motcua_timer the_timer;
static int n_timers;

static void MOTCUA_PRINTF(3, 4) fake_log(struct motcua_plugin_ctx *ctx, enum motcua_log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "  archive-sqlite <%d> %s\n", (int)level, line);
	if (level <= MOTCUA_LOG_ERROR)
		snprintf(last_error, sizeof last_error, "%s", line);
	CHECK(ctx == &the_ctx, "log with a foreign ctx");
}

static const char *fake_config_get(struct motcua_plugin_ctx *ctx, const char *section, const char *key)
{
	if (section && !strcmp(section, "office") && !strcmp(key, "name"))
		return "UBND phường Bến Nghé";
	CHECK(section == NULL, "config_get(%s, %s)", section, key);
	for (size_t i = 0; i < n_config; i++)
		if (!strcmp(config[i][0], key))
			return config[i][1];
	return NULL;
}

static int fake_event_publish(struct motcua_plugin_ctx *ctx, const char *type, const char *json)
{
	snprintf(last_event_type, sizeof last_event_type, "%s", type);
	snprintf(last_event, sizeof last_event, "%s", json);
	n_events++;
	json_t *j = json_loads(json, 0, NULL);
	CHECK(json_is_object(j), "event %s is not a JSON object: %s", type, json);
	json_decref(j);
	return 0;
}

static int fake_work_submit(struct motcua_plugin_ctx *ctx, motcua_work_fn work, motcua_done_fn done, void *data)
{
	work(data);
	done(data, 0);
	return 0;
}

static struct motcua_timer *fake_timer_add(struct motcua_plugin_ctx *ctx, uint32_t interval_ms, int repeat,
					   motcua_timer_fn fn, void *data, motcua_free_fn free_fn)
{
	CHECK(repeat == 1, "fixity timer not repeating");
	the_timer = (struct motcua_timer){interval_ms, fn, data};
	n_timers++;
	return &the_timer;
}

static void fake_timer_cancel(struct motcua_plugin_ctx *ctx, struct motcua_timer *t)
{
	n_timers--;
}

static int fake_step_register(struct motcua_plugin_ctx *ctx, enum motcua_step step, motcua_step_fn fn, void *data,
			      motcua_free_fn free_fn)
{
	step_fn = fn;
	step_data = data;
	step_step = (int)step;
	n_registered++;
	return 0;
}

static int fake_archive_register(struct motcua_plugin_ctx *ctx, const struct motcua_archive_ops *o, void *data,
				 motcua_free_fn free_fn)
{
	CHECK(o->struct_size >= sizeof ops, "ops struct_size %u", o->struct_size);
	memcpy(&ops, o, sizeof ops);
	ops_data = data;
	n_registered++;
	return 0;
}

static const char *fake_data_dir(struct motcua_plugin_ctx *ctx)
{
	return data_dir;
}

static struct motcua_host host = {
	.struct_size = sizeof(struct motcua_host),
	.abi = MOTCUA_ABI_VERSION,
	.log = fake_log,
	.config_get = fake_config_get,
	.event_publish = fake_event_publish,
	.work_submit = fake_work_submit,
	.timer_add = fake_timer_add,
	.timer_cancel = fake_timer_cancel,
	.step_register = fake_step_register,
	.archive_register = fake_archive_register,
	.data_dir = fake_data_dir,
};

static const struct motcua_plugin_info *info;
static void *state;

static void set_config(const char *key, ...)
{
	va_list ap;
	n_config = 0;
	va_start(ap, key);
	for (const char *k = key; k && n_config < 16; k = va_arg(ap, const char *)) {
		config[n_config][0] = k;
		config[n_config][1] = va_arg(ap, const char *);
		n_config++;
	}
	va_end(ap);
}

static int start(void)
{
	n_registered = 0;
	n_timers = 0;
	last_error[0] = 0;
	state = NULL;
	return info->init(&the_ctx, &host, &state);
}

static void stop(void)
{
	info->fini(state);
	state = NULL;
}

/* ---- helpers ------------------------------------------------------------------------- */

static char *path_in(const char *name)
{
	static char bufs[8][512];
	static int n;
	char *b = bufs[n++ % 8];
	snprintf(b, 512, "%s/%s", root, name);
	return b;
}

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(content, f);
	fclose(f);
}

static json_t *load(const char *path)
{
	return json_load_file(path, 0, NULL);
}

struct step {
	struct motcua_step_io io;
	const char *pages[2], *page_types[2];
};

static int run_step(struct step *s, const char *code, const char *doc_id, const char *file, const char *dossier_json,
		    const char *document_json, const char *meta)
{
	memset(s, 0, sizeof *s);
	s->pages[0] = path_in("p1.png");
	s->pages[1] = path_in("p2.png");
	s->page_types[0] = s->page_types[1] = "image/png";
	s->io.struct_size = sizeof s->io;
	s->io.dossier_code = code;
	s->io.document_id = doc_id;
	s->io.document_name = "Giấy khai sinh";
	s->io.media_type = "application/pdf";
	s->io.path = file;
	s->io.meta_path = meta;
	s->io.n_pages = 2;
	s->io.page_paths = s->pages;
	s->io.page_media_types = s->page_types;
	s->io.dossier_json = dossier_json;
	s->io.document_json = document_json;
	s->io.sidecar_path = NULL;
	unlink(meta);
	return step_fn(step_data, &s->io);
}

static const char *dossier1 =
	"{\"code\": \"000.00.12.H50-250301-0001\", \"procedure_code\": \"1.001193\", \"channel\": 1,"
	" \"applicant\": {\"name\": \"Nguyễn Văn Đường\", \"id_number\": \"001099012345\"}}";
static const char *document1 =
	"{\"id\": \"doc-1\", \"name\": \"Giấy khai sinh\", \"type\": \"giay-khai-sinh\", \"reused_from\": null,"
	" \"text\": \"GIẤY KHAI SINH\\nHọ và tên: Nguyễn Thị Mai\\nNơi sinh: Bệnh viện Từ Dũ\","
	" \"signature\": {\"valid\": true, \"level\": \"B-B\", \"timestamp\": null}}";

static int call_json(int (*fn)(void *, char **, char *, size_t), json_t **out, char *m, size_t ml)
{
	char *j = NULL;
	int r = fn(ops_data, &j, m, ml);
	*out = j ? json_loads(j, 0, NULL) : NULL;
	free(j);
	return r;
}

static int search(const char *q, json_t **out, char *m, size_t ml)
{
	char *j = NULL;
	int r = ops.search(ops_data, q, &j, m, ml);
	*out = j ? json_loads(j, 0, NULL) : NULL;
	free(j);
	return r;
}

/* ---- cases ------------------------------------------------------------------------------ */

static void test_config(void)
{
	current_case = "config";
	static const char *const bad[][2] = {
		{"retention_years", "ten"}, {"retention_years", "-1"}, {"fixity_interval_h", "2000"},
		{"path", "relative/dir"},   {"retention_by_procedure", "1.0=5"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		set_config(bad[i][0], bad[i][1], NULL);
		int r = start();
		CHECK(r == -EINVAL && n_registered == 0 && strstr(last_error, bad[i][0]), "%s = %s: %d '%s'", bad[i][0],
		      bad[i][1], r, last_error);
	}
	/* a host without archive_register is refused */
	struct motcua_host old = host;
	old.struct_size = offsetof(struct motcua_host, capture_register) + sizeof host.capture_register;
	set_config(NULL);
	int r = info->init(&the_ctx, &old, &state);
	CHECK(r == -ENOTSUP && strstr(last_error, "too old"), "old host: %d", r);
}

static void test_plugin(void)
{
	current_case = "plugin";
	set_config("retention_by_procedure", "1.001193:0", NULL);
	int r = start();
	CHECK(r == 0, "init: %d %s", r, last_error);
	if (r)
		return;
	CHECK(n_registered == 2 && step_step == MOTCUA_STEP_ARCHIVE, "registrations %d step %d", n_registered, step_step);
	CHECK(n_timers == 1 && the_timer.interval_ms == 24u * 3600 * 1000, "fixity timer %u", the_timer.interval_ms);
	struct stat st;
	CHECK(stat(path_in("data/archive-sqlite/archive.db"), &st) == 0, "archive in <data_dir>/archive-sqlite");

	write_file(path_in("signed.pdf"), "%PDF-1.7 signed\n%%EOF\n");
	write_file(path_in("p1.png"), "page one");
	write_file(path_in("p2.png"), "page two");
	struct step s;
	const char *meta = path_in("meta.json");
	r = run_step(&s, "000.00.12.H50-250301-0001", "doc-1", path_in("signed.pdf"), dossier1, document1, meta);
	CHECK(r == 0, "step: %d %s", r, s.io.message);
	json_t *m = load(meta), *a = json_object_get(m, "archive");
	const char *id = json_string_value(json_object_get(a, "id"));
	char item_id[32] = "";
	snprintf(item_id, sizeof item_id, "%s", id ? id : "");
	CHECK(strlen(item_id) == 24 && json_is_string(json_object_get(a, "sha256")) &&
		      strstr(json_string_value(json_object_get(a, "archived_at")) ?: "", "+07:00") &&
		      json_is_false(json_object_get(a, "reused")),
	      "meta %s", json_dumps(m, 0));
	json_decref(m);
	/* the host runs a step again after a crash: same answer, nothing new */
	r = run_step(&s, "000.00.12.H50-250301-0001", "doc-1", path_in("signed.pdf"), dossier1, document1, meta);
	m = load(meta);
	CHECK(r == 0 && !strcmp(json_string_value(json_object_get(json_object_get(m, "archive"), "id")) ?: "", item_id) &&
		      strstr(s.io.message, "already"),
	      "rerun: %d %s", r, s.io.message);
	json_decref(m);

	/* ops */
	char msg[256];
	json_t *res = NULL;
	CHECK(search("{\"q\": \"nguyen\"}", &res, msg, sizeof msg) == 0 &&
		      json_integer_value(json_object_get(res, "total")) == 1,
	      "search nguyen: %s", msg);
	json_decref(res);
	CHECK(search("{\"q\": \"duong\", \"id_number\": \"001099012345\", \"procedure\": \"1.001193\"}", &res, msg, sizeof msg) ==
			      0 &&
		      json_integer_value(json_object_get(res, "total")) == 1,
	      "search duong (applicant name): %s", msg);
	json_decref(res);
	CHECK(search("{\"q\": \"tu du\"}", &res, msg, sizeof msg) == 0 &&
		      json_integer_value(json_object_get(res, "total")) == 1,
	      "search tu du: %s", msg);
	json_t *first = json_array_get(json_object_get(res, "items"), 0);
	CHECK(json_is_string(json_object_get(first, "snippet")) && !json_object_get(first, "path"), "search item");
	json_decref(res);
	msg[0] = 0;
	CHECK(search("not json", &res, msg, sizeof msg) == -EINVAL && msg[0], "bad json");
	CHECK(search("{\"limit\": 500}", &res, msg, sizeof msg) == -EINVAL, "bad limit");
	CHECK(search("{\"q\": \"\\\"NEAR(\"}", &res, msg, sizeof msg) == 0, "odd words: %s", msg);
	json_decref(res);

	char *j = NULL;
	CHECK(ops.item(ops_data, item_id, &j, msg, sizeof msg) == 0, "item: %s", msg);
	json_t *it = j ? json_loads(j, 0, NULL) : NULL;
	free(j);
	j = NULL;
	CHECK(access(json_string_value(json_object_get(it, "path")) ?: "/nonexistent", R_OK) == 0, "item path");
	CHECK(!strcmp(json_string_value(json_object_get(it, "document_type")) ?: "", "giay-khai-sinh") &&
		      json_integer_value(json_object_get(it, "retention_years")) == 0 &&
		      json_is_null(json_object_get(it, "retain_until")) &&
		      json_is_true(json_object_get(json_object_get(it, "signature"), "valid")) &&
		      !strcmp(json_string_value(json_object_get(it, "original_media_type")) ?: "", "image/png"),
	      "item fields %s", json_dumps(it, 0));
	json_decref(it);
	CHECK(ops.item(ops_data, "x", &j, msg, sizeof msg) == -EINVAL, "bad id");
	CHECK(ops.item(ops_data, "0123456789abcdef01234567", &j, msg, sizeof msg) == -ENOENT, "no item");
	CHECK(ops.applicant_documents(ops_data, "001099012345", &j, msg, sizeof msg) == 0 && strstr(j, item_id),
	      "applicant documents");
	free(j);
	j = NULL;
	CHECK(ops.applicant_documents(ops_data, "abc", &j, msg, sizeof msg) == -EINVAL, "bad id number");

	/* reuse in a second dossier: the API records it, the step links it */
	CHECK(ops.reused(ops_data, item_id, "000.00.12.H50-250302-0004", "doc-9", msg, sizeof msg) == 0, "reused: %s", msg);
	CHECK(ops.reused(ops_data, item_id, "bad code!", "doc-9", msg, sizeof msg) == -EINVAL, "reused bad code");
	char doc2[512];
	snprintf(doc2, sizeof doc2, "{\"id\": \"doc-9\", \"name\": \"Giấy khai sinh\", \"reused_from\": \"%s\"}", item_id);
	r = run_step(&s, "000.00.12.H50-250302-0004", "doc-9", path_in("signed.pdf"),
		     "{\"code\": \"000.00.12.H50-250302-0004\", \"procedure_code\": \"1.000894\","
		     " \"applicant\": {\"name\": \"Nguyễn Văn Đường\", \"id_number\": \"001099012345\"}}",
		     doc2, meta);
	m = load(meta);
	a = json_object_get(m, "archive");
	CHECK(r == 0 && !strcmp(json_string_value(json_object_get(a, "id")) ?: "", item_id) &&
		      json_is_true(json_object_get(a, "reused")),
	      "reuse step: %d %s %s", r, s.io.message, json_dumps(m, 0));
	json_decref(m);
	CHECK(search("{\"q\": \"nguyen\"}", &res, msg, sizeof msg) == 0 &&
		      json_integer_value(json_object_get(res, "total")) == 1,
	      "a reuse is no second item");
	json_decref(res);

	/* disposal and verify */
	CHECK(call_json(ops.disposal, &res, msg, sizeof msg) == 0 && json_array_size(json_object_get(res, "items")) == 0,
	      "disposal: %s", msg);
	json_decref(res);
	CHECK(call_json(ops.verify, &res, msg, sizeof msg) == 0 && json_is_true(json_object_get(res, "ok")) &&
		      json_is_true(json_object_get(json_object_get(res, "chain"), "ok")),
	      "verify: %s", msg);
	json_decref(res);

	/* bad step input */
	r = run_step(&s, "C-1", "doc-x", path_in("signed.pdf"), "{not json", document1, meta);
	CHECK(r == -EINVAL && strstr(s.io.message, "dossier"), "bad dossier json: %d %s", r, s.io.message);
	r = run_step(&s, "C-1", "doc-x", NULL, dossier1, document1, meta);
	CHECK(r == -EINVAL && s.io.message[0], "no file: %d", r);
	r = run_step(&s, "C-1", "doc-x", path_in("gone.pdf"), dossier1, document1, meta);
	CHECK(r == -ENOENT && strstr(s.io.message, "gone.pdf"), "missing file: %d %s", r, s.io.message);
	r = run_step(&s, "C-1", "doc-x", path_in("signed.pdf"),
		     "{\"code\": \"C-1\", \"applicant\": {\"id_number\": \"12\"}}", document1, meta);
	CHECK(r == -EINVAL && strstr(s.io.message, "ID number"), "bad id number: %d %s", r, s.io.message);

	/* the periodic fixity check */
	n_events = 0;
	the_timer.fn(the_timer.data);
	CHECK(n_events == 1 && !strcmp(last_event_type, "archive.fixity") && strstr(last_event, "\"ok\":true"),
	      "fixity event %s", last_event);
	CHECK(ops.item(ops_data, item_id, &j, msg, sizeof msg) == 0, "item");
	it = json_loads(j, 0, NULL);
	free(j);
	j = NULL;
	int fd = open(json_string_value(json_object_get(it, "path")), O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1, "damage the blob");
	close(fd);
	json_decref(it);
	last_error[0] = 0;
	the_timer.fn(the_timer.data);
	CHECK(n_events == 2 && strstr(last_event, "\"ok\":false") && strstr(last_event, item_id), "fixity event %s",
	      last_event);
	CHECK(strstr(last_error, "FAILED") && strstr(last_error, item_id), "fixity log '%s'", last_error);
	CHECK(call_json(ops.verify, &res, msg, sizeof msg) == 0 && json_is_false(json_object_get(res, "ok")),
	      "verify sees it");
	json_decref(res);
	stop();
}

int main(void)
{
	const char *so = getenv("ARCHIVE_PLUGIN");
	const char *t = getenv("TMPDIR");
	if (!so) {
		fprintf(stderr, "set ARCHIVE_PLUGIN to the built archive-sqlite.so\n");
		return 1;
	}
	snprintf(root, sizeof root, "%s/archive-plugin-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(data_dir, sizeof data_dir, "%s/data", root);
	mkdir(data_dir, 0755);
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	motcua_plugin_entry_fn entry = (motcua_plugin_entry_fn)dlsym(h, MOTCUA_PLUGIN_ENTRY_SYMBOL);
	uint32_t abis[] = {MOTCUA_ABI_VERSION};
	info = entry ? entry(abis, 1) : NULL;
	if (!info) {
		fprintf(stderr, "no entry symbol\n");
		return 1;
	}
	CHECK(!strcmp(info->name, "archive-sqlite") && info->provides == MOTCUA_PROVIDES_ARCHIVE, "info");
	test_config();
	test_plugin();
	if (!failures) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
		system(cmd);
	}
	fprintf(stderr, "%s (%d failures)\n", failures ? "FAILED" : "ok", failures);
	return failures ? 1 : 0;
}
