/* SPDX-License-Identifier: MIT */
/*
 * test-archive-sqlite: loads the built archive-sqlite.so ($ARCHIVE_PLUGIN)
 * through the SDK's test host (motcua/testhost.h) and drives it: config
 * checks, an older host refused, the archive step (idempotent rerun, reuse
 * link, bad input), every archive op with good and bad input, and the
 * periodic fixity job (timer -> work on the host's workers -> "archive.fixity"
 * event) before and after a blob is damaged.
 */
#define _GNU_SOURCE
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
#include <motcua/testhost.h>

static int failures;
static const char *current_case = "";

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL [%s] %s:%d: %s: ", current_case, __FILE__, __LINE__, \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

/* ---- the test host (motcua/testhost.h) ------------------------------------------------ */

static struct motcua_testhost *th;
static char root[256], data_dir[300];
static const struct motcua_archive_ops *ops;
static void *ops_data;

static const char *last_error(void)
{
	return motcua_testhost_log_last_error(th);
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static void set_config(const char *key, ...)
{
	va_list ap;
	motcua_testhost_config(th, NULL);
	va_start(ap, key);
	for (const char *k = key; k; k = va_arg(ap, const char *))
		motcua_testhost_config_set(th, NULL, k, va_arg(ap, const char *));
	va_end(ap);
}

static int start(void)
{
	motcua_testhost_stop(th);
	motcua_testhost_log_clear(th);
	int r = motcua_testhost_start(th);
	ops = motcua_testhost_archive_ops(th, &ops_data);
	if (ops)
		CHECK(ops->struct_size >= sizeof *ops, "ops struct_size %u", ops->struct_size);
	return r;
}

static void stop(void)
{
	motcua_testhost_stop(th);
	ops = NULL;
}

/* The periodic fixity check's time has come: its timer, then its work. */
static void fixity_now(void)
{
	CHECK(motcua_testhost_timer_fire(th, 0) == 0, "no fixity timer");
	CHECK(motcua_testhost_drain(th, 60000) == 0, "the fixity work did not end");
}

/* Events the plugin published, and the last one. */
static size_t n_events(void)
{
	return motcua_testhost_published_count(th, NULL);
}

static const char *last_event_type(void)
{
	const struct motcua_testhost_event *e = motcua_testhost_published_last(th, NULL);
	return e ? e->type : "";
}

static const char *last_event(void)
{
	const struct motcua_testhost_event *e = motcua_testhost_published_last(th, NULL);
	return e ? e->json : "";
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

static int run_step(struct step *s, const char *code, const char *doc_id, const char *file,
		    const char *dossier_json, const char *document_json, const char *meta)
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
	return motcua_testhost_step(th, MOTCUA_STEP_ARCHIVE, &s->io);
}

static const char *dossier1 =
    "{\"code\": \"000.00.12.H50-250301-0001\", \"procedure_code\": \"1.001193\", \"channel\": 1,"
    " \"applicant\": {\"name\": \"Nguyễn Văn Đường\", \"id_number\": \"001099012345\"}}";
static const char *document1 =
    "{\"id\": \"doc-1\", \"name\": \"Giấy khai sinh\", \"type\": \"giay-khai-sinh\", "
    "\"reused_from\": null,"
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
	int r = ops->search(ops_data, q, &j, m, ml);
	*out = j ? json_loads(j, 0, NULL) : NULL;
	free(j);
	return r;
}

/* ---- cases ------------------------------------------------------------------------------ */

static void test_config(void)
{
	current_case = "config";
	static const char *const bad[][2] = {
	    {"retention_years", "ten"},		 {"retention_years", "-1"},
	    {"fixity_interval_h", "2000"},	 {"path", "relative/dir"},
	    {"retention_by_procedure", "1.0=5"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		set_config(bad[i][0], bad[i][1], NULL);
		int r = start();
		CHECK(r == -EINVAL && motcua_testhost_registrations(th) == 0 &&
			  strstr(last_error(), bad[i][0]),
		      "%s = %s: %d '%s'", bad[i][0], bad[i][1], r, last_error());
	}
	/* a host without archive_register (its table ends after capture_register) is refused */
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_BEFORE(archive_register));
	set_config(NULL);
	int r = start();
	CHECK(r == -ENOTSUP && strstr(last_error(), "too old"), "old host: %d", r);
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_FULL);
}

static void test_plugin(void)
{
	current_case = "plugin";
	set_config("retention_by_procedure", "1.001193:0", NULL);
	int r = start();
	CHECK(r == 0, "init: %d %s", r, last_error());
	if (r)
		return;
	CHECK(motcua_testhost_registrations(th) == 3 &&
		  motcua_testhost_has_step(th, MOTCUA_STEP_ARCHIVE) && ops,
	      "registrations %zu", motcua_testhost_registrations(th));
	uint32_t interval = 0;
	bool repeat = false;
	CHECK(motcua_testhost_timer_count(th) == 1 &&
		  motcua_testhost_timer_info(th, 0, &interval, &repeat) == 0 &&
		  interval == 24u * 3600 * 1000,
	      "fixity timer %u", interval);
	CHECK(repeat, "fixity timer not repeating");
	struct stat st;
	CHECK(stat(path_in("data/archive-sqlite/archive.db"), &st) == 0,
	      "archive in <data_dir>/archive-sqlite");

	write_file(path_in("signed.pdf"), "%PDF-1.7 signed\n%%EOF\n");
	write_file(path_in("p1.png"), "page one");
	write_file(path_in("p2.png"), "page two");
	struct step s;
	const char *meta = path_in("meta.json");
	r = run_step(&s, "000.00.12.H50-250301-0001", "doc-1", path_in("signed.pdf"), dossier1,
		     document1, meta);
	CHECK(r == 0, "step: %d %s", r, s.io.message);
	json_t *m = load(meta), *a = json_object_get(m, "archive");
	const char *id = json_string_value(json_object_get(a, "id"));
	char item_id[32] = "";
	snprintf(item_id, sizeof item_id, "%s", id ? id : "");
	CHECK(strlen(item_id) == 24 && json_is_string(json_object_get(a, "sha256")) &&
		  strstr(str_or_empty(json_string_value(json_object_get(a, "archived_at"))),
			 "+07:00") &&
		  json_is_false(json_object_get(a, "reused")),
	      "meta %s", json_dumps(m, 0));
	json_decref(m);
	/* the host runs a step again after a crash: same answer, nothing new */
	r = run_step(&s, "000.00.12.H50-250301-0001", "doc-1", path_in("signed.pdf"), dossier1,
		     document1, meta);
	m = load(meta);
	CHECK(r == 0 &&
		  !strcmp(str_or_empty(json_string_value(
			      json_object_get(json_object_get(m, "archive"), "id"))),
			  item_id) &&
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
	CHECK(
	    search(
		"{\"q\": \"duong\", \"id_number\": \"001099012345\", \"procedure\": \"1.001193\"}",
		&res, msg, sizeof msg) == 0 &&
		json_integer_value(json_object_get(res, "total")) == 1,
	    "search duong (applicant name): %s", msg);
	json_decref(res);
	CHECK(search("{\"q\": \"tu du\"}", &res, msg, sizeof msg) == 0 &&
		  json_integer_value(json_object_get(res, "total")) == 1,
	      "search tu du: %s", msg);
	json_t *first = json_array_get(json_object_get(res, "items"), 0);
	CHECK(json_is_string(json_object_get(first, "snippet")) && !json_object_get(first, "path"),
	      "search item");
	json_decref(res);
	msg[0] = 0;
	CHECK(search("not json", &res, msg, sizeof msg) == -EINVAL && msg[0], "bad json");
	CHECK(search("{\"limit\": 500}", &res, msg, sizeof msg) == -EINVAL, "bad limit");
	CHECK(search("{\"q\": \"\\\"NEAR(\"}", &res, msg, sizeof msg) == 0, "odd words: %s", msg);
	json_decref(res);

	char *j = NULL;
	CHECK(ops->item(ops_data, item_id, &j, msg, sizeof msg) == 0, "item: %s", msg);
	json_t *it = j ? json_loads(j, 0, NULL) : NULL;
	free(j);
	j = NULL;
	const char *item_path = json_string_value(json_object_get(it, "path"));
	CHECK(access(item_path ? item_path : "/nonexistent", R_OK) == 0, "item path");
	CHECK(
	    !strcmp(str_or_empty(json_string_value(json_object_get(it, "document_type"))),
		    "giay-khai-sinh") &&
		json_integer_value(json_object_get(it, "retention_years")) == 0 &&
		json_is_null(json_object_get(it, "retain_until")) &&
		json_is_true(json_object_get(json_object_get(it, "signature"), "valid")) &&
		!strcmp(str_or_empty(json_string_value(json_object_get(it, "original_media_type"))),
			"image/png"),
	    "item fields %s", json_dumps(it, 0));
	json_decref(it);
	CHECK(ops->item(ops_data, "x", &j, msg, sizeof msg) == -EINVAL, "bad id");
	CHECK(ops->item(ops_data, "0123456789abcdef01234567", &j, msg, sizeof msg) == -ENOENT,
	      "no item");
	CHECK(ops->applicant_documents(ops_data, "001099012345", &j, msg, sizeof msg) == 0 &&
		  strstr(j, item_id),
	      "applicant documents");
	free(j);
	j = NULL;
	CHECK(ops->applicant_documents(ops_data, "abc", &j, msg, sizeof msg) == -EINVAL,
	      "bad id number");

	/* reuse in a second dossier: the API records it, the step links it */
	CHECK(ops->reused(ops_data, item_id, "000.00.12.H50-250302-0004", "doc-9", msg,
			  sizeof msg) == 0,
	      "reused: %s", msg);
	CHECK(ops->reused(ops_data, item_id, "bad code!", "doc-9", msg, sizeof msg) == -EINVAL,
	      "reused bad code");
	char doc2[512];
	snprintf(doc2, sizeof doc2,
		 "{\"id\": \"doc-9\", \"name\": \"Giấy khai sinh\", \"reused_from\": \"%s\"}",
		 item_id);
	r = run_step(
	    &s, "000.00.12.H50-250302-0004", "doc-9", path_in("signed.pdf"),
	    "{\"code\": \"000.00.12.H50-250302-0004\", \"procedure_code\": \"1.000894\","
	    " \"applicant\": {\"name\": \"Nguyễn Văn Đường\", \"id_number\": \"001099012345\"}}",
	    doc2, meta);
	m = load(meta);
	a = json_object_get(m, "archive");
	CHECK(r == 0 &&
		  !strcmp(str_or_empty(json_string_value(json_object_get(a, "id"))), item_id) &&
		  json_is_true(json_object_get(a, "reused")),
	      "reuse step: %d %s %s", r, s.io.message, json_dumps(m, 0));
	json_decref(m);
	CHECK(search("{\"q\": \"nguyen\"}", &res, msg, sizeof msg) == 0 &&
		  json_integer_value(json_object_get(res, "total")) == 1,
	      "a reuse is no second item");
	json_decref(res);

	/* disposal and verify */
	CHECK(call_json(ops->disposal, &res, msg, sizeof msg) == 0 &&
		  json_array_size(json_object_get(res, "items")) == 0,
	      "disposal: %s", msg);
	json_decref(res);
	CHECK(call_json(ops->verify, &res, msg, sizeof msg) == 0 &&
		  json_is_true(json_object_get(res, "ok")) &&
		  json_is_true(json_object_get(json_object_get(res, "chain"), "ok")),
	      "verify: %s", msg);
	json_decref(res);

	/* bad step input */
	r = run_step(&s, "C-1", "doc-x", path_in("signed.pdf"), "{not json", document1, meta);
	CHECK(r == -EINVAL && strstr(s.io.message, "dossier"), "bad dossier json: %d %s", r,
	      s.io.message);
	r = run_step(&s, "C-1", "doc-x", NULL, dossier1, document1, meta);
	CHECK(r == -EINVAL && s.io.message[0], "no file: %d", r);
	r = run_step(&s, "C-1", "doc-x", path_in("gone.pdf"), dossier1, document1, meta);
	CHECK(r == -ENOENT && strstr(s.io.message, "gone.pdf"), "missing file: %d %s", r,
	      s.io.message);
	r = run_step(&s, "C-1", "doc-x", path_in("signed.pdf"),
		     "{\"code\": \"C-1\", \"applicant\": {\"id_number\": \"12\"}}", document1,
		     meta);
	CHECK(r == -EINVAL && strstr(s.io.message, "ID number"), "bad id number: %d %s", r,
	      s.io.message);

	/* the periodic fixity check */
	size_t events0 = n_events();
	fixity_now();
	CHECK(n_events() - events0 == 1 && !strcmp(last_event_type(), "archive.fixity") &&
		  strstr(last_event(), "\"ok\":true"),
	      "fixity event %s", last_event());
	CHECK(ops->item(ops_data, item_id, &j, msg, sizeof msg) == 0, "item");
	it = json_loads(j, 0, NULL);
	free(j);
	j = NULL;
	int fd = open(json_string_value(json_object_get(it, "path")), O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1, "damage the blob");
	close(fd);
	json_decref(it);
	motcua_testhost_log_clear(th);
	fixity_now();
	CHECK(n_events() - events0 == 2 && strstr(last_event(), "\"ok\":false") &&
		  strstr(last_event(), item_id),
	      "fixity event %s", last_event());
	CHECK(strstr(last_error(), "FAILED") && strstr(last_error(), item_id), "fixity log '%s'",
	      last_error());
	CHECK(call_json(ops->verify, &res, msg, sizeof msg) == 0 &&
		  json_is_false(json_object_get(res, "ok")),
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
	th = motcua_testhost_new();
	if (!th || motcua_testhost_load(th, so) < 0) {
		fprintf(stderr, "FAIL: %s\n", th ? motcua_testhost_error(th) : "no test host");
		return 1;
	}
	const struct motcua_plugin_info *info = motcua_testhost_info(th);
	CHECK(!strcmp(info->name, "archive-sqlite") && info->provides == MOTCUA_PROVIDES_ARCHIVE,
	      "info");
	motcua_testhost_config_set(th, "gateway", "data_dir", data_dir);
	motcua_testhost_config_set(th, "office", "name", "UBND phường Bến Nghé");
	test_config();
	test_plugin();
	current_case = "host";
	/* the plugin reads its own section and the office's name only */
	for (size_t i = 0; i < motcua_testhost_config_read_count(th); i++) {
		const char *section, *key;
		motcua_testhost_config_read(th, i, &section, &key);
		CHECK(section == NULL || (!strcmp(section, "office") && !strcmp(key, "name")),
		      "config_get(%s, %s)", section, key);
	}
	CHECK(motcua_testhost_violations(th) == 0, "the plugin broke the host's contract");
	motcua_testhost_free(th);
	if (!failures) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
		system(cmd);
	}
	fprintf(stderr, "%s (%d failures)\n", failures ? "FAILED" : "ok", failures);
	return failures ? 1 : 0;
}
