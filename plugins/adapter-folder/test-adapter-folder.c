/* SPDX-License-Identifier: MIT */
/*
 * test-adapter-folder: loads the built adapter-folder.so ($FOLDER_PLUGIN)
 * through the SDK's test host (motcua/testhost.h) and drives it on real
 * folders in a temp dir: package content and hashes (recomputed here with OpenSSL),
 * a repeated delivery, routing, a missing file, a missing or unwritable
 * folder, and atomicity (a child killed with SIGKILL in the middle of a
 * large package leaves nothing visible but a dot-named temp folder).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

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
static const struct motcua_adapter_ops *ops;
static void *ops_data;

static const char *last_error(void)
{
	return motcua_testhost_log_last_error(th);
}

/* Sets the plugin's section from NULL-terminated key, value pairs. */
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
	motcua_testhost_log_clear(th);
	int r = motcua_testhost_start(th);
	ops = motcua_testhost_adapter_ops(th, &ops_data);
	return r;
}

static void stop(void)
{
	motcua_testhost_stop(th);
	ops = NULL;
}

/* ---- helpers --------------------------------------------------------------------------- */

static char root[256], drop[300], pdf[300], p7s[300], big[300];
#define CODE "000.00.12.H50-261128-0007"

static void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len, "write %s", path);
	close(fd);
}

static void sha256_file(const char *path, char hex[65])
{
	unsigned char md[32], buf[65536];
	unsigned int len = 0;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	EVP_DigestInit_ex(h, EVP_sha256(), NULL);
	FILE *f = fopen(path, "rb");
	size_t n;
	while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
		EVP_DigestUpdate(h, buf, n);
	if (f)
		fclose(f);
	EVP_DigestFinal_ex(h, md, &len);
	EVP_MD_CTX_free(h);
	for (unsigned i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static char dossier_buf[4096];

static const char *dossier_with(const char *doc_path, const char *sidecar)
{
	snprintf(
	    dossier_buf, sizeof dossier_buf,
	    "{\"code\": \"" CODE
	    "\", \"procedure_code\": \"1.001612\", \"procedure_name\": \"Đăng ký khai sinh\","
	    " \"applicant\": {\"name\": \"Nguyễn Văn An\", \"id_number\": \"079203001234\", "
	    "\"phone\": null},"
	    " \"channel\": 1, \"status\": 2, \"received_at\": \"2026-11-28T00:30:05+07:00\","
	    " \"updated_at\": \"2026-11-28T08:00:00+07:00\", \"due_at\": null, \"documents\": ["
	    "  {\"id\": \"d1\", \"name\": \"Tờ khai.pdf\", \"type\": \"to-khai\", \"media_type\": "
	    "\"application/pdf\","
	    "   \"state\": \"done\", \"sha256\": \"x\", \"size\": 1, \"signature\": null,"
	    "   \"path\": \"%s\", \"sidecar_path\": null},"
	    "  {\"id\": \"d2\", \"name\": \"CCCD.png\", \"type\": \"cccd\", \"media_type\": "
	    "\"image/png\","
	    "   \"state\": \"done\", \"sha256\": \"y\", \"size\": 1, \"signature\": {\"level\": "
	    "\"B-B\"},"
	    "   \"path\": \"%s\", \"sidecar_path\": \"%s\"},"
	    "  {\"id\": \"d3\", \"name\": \"đang quét\", \"type\": null, \"media_type\": null,"
	    "   \"state\": \"processing\", \"path\": null, \"sidecar_path\": null}]}",
	    doc_path, pdf, sidecar);
	return dossier_buf;
}

static int deliver(int64_t id, const char *key, const char *type, const char *dossier,
		   struct motcua_delivery *d)
{
	memset(d, 0, sizeof *d);
	d->struct_size = sizeof *d;
	d->id = id;
	d->idempotency_key = key;
	d->destination = "adapter-folder";
	d->dossier_code = CODE;
	d->event_type = type;
	d->event_json = "{\"at\": \"2026-11-28T08:00:00+07:00\", \"document_id\": \"d1\"}";
	d->dossier_json = dossier;
	d->attempt = 1;
	int r = ops->deliver(ops_data, d);
	fprintf(stderr, "  deliver %lld %s -> %d (%s)\n", (long long)id, type, r, d->message);
	return r;
}

static int count_entries(const char *dir, int dot_only)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    (!dot_only || e->d_name[0] == '.'))
			n++;
	closedir(d);
	return n;
}

static char *in_pkg(const char *pkg, const char *name)
{
	static char b[4][600];
	static int i;
	char *p = b[i++ % 4];
	snprintf(p, 600, "%s/" CODE "/%s/%s", drop, pkg, name);
	return p;
}

/* ---- the cases --------------------------------------------------------------------------- */

static void test_config(void)
{
	current_case = "config";
	set_config((const char *)NULL);
	CHECK(start() == -EINVAL && strstr(last_error(), "path"), "%s", last_error());
	set_config("path", "relative/drop", (const char *)NULL);
	CHECK(start() == -EINVAL, "a relative path was taken");
	set_config("path", drop, "events", "dossier.created, document.signed", (const char *)NULL);
	CHECK(start() == -EINVAL && strstr(last_error(), "document.signed"), "%s", last_error());
}

static void test_routing(void)
{
	current_case = "routing";
	set_config("path", drop, "procedures", "1.001612 2.000488", "events",
		   "document.done,dossier.status", (const char *)NULL);
	CHECK(start() == 0, "%s", last_error());
	CHECK(ops->accepts(ops_data, "1.001612", "document.done") == 1, "listed");
	CHECK(ops->accepts(ops_data, "2.000488", "dossier.status") == 1, "listed");
	CHECK(ops->accepts(ops_data, "1.001612", "dossier.created") == 0, "event not listed");
	CHECK(ops->accepts(ops_data, "3.000001", "document.done") == 0, "procedure not listed");
	CHECK(ops->accepts(ops_data, "1.00161", "document.done") == 0, "prefix");
	stop();
	set_config("path", drop, (const char *)NULL);
	CHECK(start() == 0, "%s", last_error());
	CHECK(ops->accepts(ops_data, "9.9", "dossier.created") == 1, "defaults take all");
	stop();
}

static void test_package(void)
{
	current_case = "package";
	struct motcua_delivery d;
	set_config("path", drop, (const char *)NULL);
	CHECK(start() == 0, "%s", last_error());
	CHECK(deliver(1, "key-created", "dossier.created",
		      "{\"code\": \"" CODE
		      "\", \"procedure_code\": \"1.001612\", \"status\": 1, \"documents\": []}",
		      &d) == 0,
	      "%s", d.message);
	json_t *m = json_load_file(in_pkg("0000000001-dossier.created", "manifest.json"), 0, NULL);
	CHECK(json_is_object(m) && json_array_size(json_object_get(m, "files")) == 0,
	      "empty package");
	json_decref(m);

	CHECK(deliver(7, "key-doc-d1", "document.done", dossier_with(pdf, p7s), &d) == 0, "%s",
	      d.message);
	CHECK(!strcmp(d.peer_ref, CODE "/0000000007-document.done"), "peer_ref %s", d.peer_ref);
	const char *pkg = "0000000007-document.done";
	m = json_load_file(in_pkg(pkg, "manifest.json"), 0, NULL);
	CHECK(json_is_object(m), "no manifest");
	CHECK(!strcmp(json_string_value(json_object_get(m, "idempotency_key")), "key-doc-d1"),
	      "key");
	CHECK(!strcmp(json_string_value(json_object_get(m, "event_type")), "document.done"),
	      "event_type");
	CHECK(
	    !strcmp(json_string_value(json_object_get(json_object_get(m, "event"), "document_id")),
		    "d1"),
	    "event");
	CHECK(json_integer_value(json_object_get(m, "delivery_id")) == 7, "delivery_id");
	json_t *dossier = json_object_get(m, "dossier");
	CHECK(!strcmp(
		  json_string_value(json_object_get(json_object_get(dossier, "applicant"), "name")),
		  "Nguyễn Văn An"),
	      "dossier applicant");
	json_t *doc0 = json_array_get(json_object_get(dossier, "documents"), 0);
	CHECK(doc0 && !json_object_get(doc0, "path") && !json_object_get(doc0, "sidecar_path"),
	      "the gateway's paths leaked into the manifest");
	json_t *files = json_object_get(m, "files");
	CHECK(json_array_size(files) == 3, "%zu files", json_array_size(files));
	static const char *want[][4] = {
	    {"d1.pdf", "d1", "document", "application/pdf"},
	    {"d2.png", "d2", "document", "image/png"},
	    {"d2.png.p7s", "d2", "signature", "application/pkcs7-signature"},
	};
	const char *srcs[] = {pdf, pdf, p7s};
	for (size_t i = 0; i < 3; i++) {
		json_t *f = json_array_get(files, i);
		const char *name = json_string_value(json_object_get(f, "name"));
		CHECK(name && !strcmp(name, want[i][0]), "file %zu is %s", i, name);
		CHECK(!strcmp(json_string_value(json_object_get(f, "document_id")), want[i][1]),
		      "doc id");
		CHECK(!strcmp(json_string_value(json_object_get(f, "role")), want[i][2]), "role");
		CHECK(!strcmp(json_string_value(json_object_get(f, "media_type")), want[i][3]),
		      "media type");
		char h_src[65], h_pkg[65];
		sha256_file(srcs[i], h_src);
		sha256_file(in_pkg(pkg, want[i][0]), h_pkg);
		CHECK(!strcmp(h_src, h_pkg), "copy of %s differs", want[i][0]);
		CHECK(!strcmp(json_string_value(json_object_get(f, "sha256")), h_pkg),
		      "sha256 of %s", want[i][0]);
		struct stat st;
		stat(srcs[i], &st);
		CHECK(json_integer_value(json_object_get(f, "size")) == st.st_size, "size of %s",
		      want[i][0]);
	}
	json_decref(m);
	char dossier_dir[400];
	snprintf(dossier_dir, sizeof dossier_dir, "%s/" CODE, drop);
	CHECK(count_entries(dossier_dir, 1) == 0, "a temp folder was left");

	/* the same delivery again (after a crash): nothing changes */
	struct stat before, after;
	stat(in_pkg(pkg, "manifest.json"), &before);
	CHECK(deliver(7, "key-doc-d1", "document.done", dossier_with(pdf, p7s), &d) == 0, "%s",
	      d.message);
	CHECK(strstr(d.message, "already"), "%s", d.message);
	stat(in_pkg(pkg, "manifest.json"), &after);
	CHECK(before.st_ino == after.st_ino && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec,
	      "rewritten");
	CHECK(count_entries(dossier_dir, 0) == 2, "%d packages", count_entries(dossier_dir, 0));
	/* a different delivery that would land on the same name is refused */
	int r = deliver(7, "key-other", "document.done", dossier_with(pdf, p7s), &d);
	CHECK(r < 0 && r != -EAGAIN && strstr(d.message, "another delivery"), "%d %s", r,
	      d.message);
	stop();
}

static void test_missing_file(void)
{
	current_case = "missing file";
	struct motcua_delivery d;
	set_config("path", drop, (const char *)NULL);
	CHECK(start() == 0, "%s", last_error());
	char gone[400];
	snprintf(gone, sizeof gone, "%s/gone.pdf", root);
	int r = deliver(8, "key-gone", "document.done", dossier_with(gone, p7s), &d);
	CHECK(r == -ENOENT && strstr(d.message, "missing"), "%d %s", r, d.message);
	CHECK(access(in_pkg("0000000008-document.done", "."), F_OK) < 0, "a package was made");
	char dossier_dir[400];
	snprintf(dossier_dir, sizeof dossier_dir, "%s/" CODE, drop);
	CHECK(count_entries(dossier_dir, 1) == 0, "a temp folder was left");
	stop();
}

static void test_unwritable(void)
{
	current_case = "unwritable";
	struct motcua_delivery d;
	char nowhere[400], ro[400], file[400];
	snprintf(nowhere, sizeof nowhere, "%s/not-mounted", root);
	set_config("path", nowhere, (const char *)NULL);
	CHECK(start() == 0, "a missing folder must not stop the plugin: %s", last_error());
	CHECK(deliver(9, "key-9", "dossier.created", dossier_with(pdf, p7s), &d) == -EAGAIN, "%s",
	      d.message);
	CHECK(strstr(d.message, "not there"), "%s", d.message);
	/* the share comes back */
	mkdir(nowhere, 0755);
	CHECK(deliver(9, "key-9", "dossier.created", dossier_with(pdf, p7s), &d) == 0, "%s",
	      d.message);
	stop();
	snprintf(file, sizeof file, "%s/a-file", root);
	write_bytes(file, "x", 1);
	set_config("path", file, (const char *)NULL);
	CHECK(start() == 0, "%s", last_error());
	CHECK(deliver(10, "key-10", "dossier.created", dossier_with(pdf, p7s), &d) == -EAGAIN, "%s",
	      d.message);
	stop();
	if (geteuid() != 0) { /* root writes anywhere */
		snprintf(ro, sizeof ro, "%s/read-only", root);
		mkdir(ro, 0555);
		set_config("path", ro, (const char *)NULL);
		CHECK(start() == 0, "%s", last_error());
		CHECK(deliver(11, "key-11", "dossier.created", dossier_with(pdf, p7s), &d) ==
			  -EAGAIN,
		      "%s", d.message);
		CHECK(strstr(d.message, "not writable"), "%s", d.message);
		stop();
	} else {
		fprintf(stderr, "  (running as root: the read-only folder case is not checked)\n");
	}
}

static void test_atomic(void)
{
	current_case = "atomic";
	struct motcua_delivery d;
	char dossier_dir[400], tmpname[600];
	snprintf(dossier_dir, sizeof dossier_dir, "%s/" CODE, drop);
	snprintf(tmpname, sizeof tmpname, "%s/.tmp-0000000020-document.done", dossier_dir);
	set_config("path", drop, (const char *)NULL);
	CHECK(start() == 0, "%s", last_error());
	int killed_mid_write = 0;
	for (int attempt = 0; attempt < 5 && !killed_mid_write; attempt++) {
		pid_t child = fork();
		if (child == 0) {
			struct motcua_delivery cd;
			_exit(deliver(20, "key-20", "document.done", dossier_with(big, p7s), &cd) ==
				      0
				  ? 0
				  : 1);
		}
		/* wait for the temp package to appear, then kill the writer */
		struct timespec ts = {0, 200000};
		for (int i = 0; i < 50000 && access(tmpname, F_OK) < 0; i++)
			nanosleep(&ts, NULL);
		kill(child, SIGKILL);
		int status;
		waitpid(child, &status, 0);
		killed_mid_write = WIFSIGNALED(status);
		if (!killed_mid_write) /* it finished first: start over */
			rename(in_pkg("0000000020-document.done", ""), tmpname);
	}
	CHECK(killed_mid_write, "the writer always finished before it was killed");
	CHECK(access(in_pkg("0000000020-document.done", "manifest.json"), F_OK) < 0,
	      "a package is visible after its writer was killed");
	CHECK(access(tmpname, F_OK) == 0, "no dot-named temp folder");
	/* the outbox tries again: the leftover goes, the package is whole */
	CHECK(deliver(20, "key-20", "document.done", dossier_with(big, p7s), &d) == 0, "%s",
	      d.message);
	CHECK(access(tmpname, F_OK) < 0, "the leftover temp folder stayed");
	char h1[65], h2[65];
	sha256_file(big, h1);
	sha256_file(in_pkg("0000000020-document.done", "d1.pdf"), h2);
	CHECK(!strcmp(h1, h2), "the big file differs");
	stop();
}

int main(void)
{
	const char *plugin = getenv("FOLDER_PLUGIN");
	if (!plugin) {
		fprintf(stderr, "FOLDER_PLUGIN must be set\n");
		return 1;
	}
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(root, sizeof root, "%s/test-folder-XXXXXX", tmp);
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(drop, sizeof drop, "%s/drop", root);
	snprintf(pdf, sizeof pdf, "%s/signed.pdf", root);
	snprintf(p7s, sizeof p7s, "%s/signed.p7s", root);
	snprintf(big, sizeof big, "%s/big.pdf", root);
	mkdir(drop, 0755);
	static const char pdf_bytes[] = "%PDF-1.7\n% tờ khai\n%%EOF\n";
	static const char p7s_bytes[] = "\x30\x82\x01\x00 not really DER";
	write_bytes(pdf, pdf_bytes, sizeof pdf_bytes - 1);
	write_bytes(p7s, p7s_bytes, sizeof p7s_bytes - 1);
	{
		/* 64 MiB of varied bytes: long enough to kill its copy midway */
		size_t n = 64u << 20;
		unsigned char *b = malloc(n);
		uint32_t x = 2463534242u;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			b[i] = (unsigned char)x;
		}
		write_bytes(big, b, n);
		free(b);
	}
	th = motcua_testhost_new();
	if (!th || motcua_testhost_load(th, plugin) < 0) {
		fprintf(stderr, "FAIL: %s\n", th ? motcua_testhost_error(th) : "no test host");
		return 1;
	}
	const struct motcua_plugin_info *info = motcua_testhost_info(th);
	if (strcmp(info->name, "adapter-folder") || !(info->provides & MOTCUA_PROVIDES_ADAPTER)) {
		fprintf(stderr, "bad plugin info\n");
		return 1;
	}
	test_config();
	test_routing();
	test_package();
	test_missing_file();
	test_unwritable();
	test_atomic();
	current_case = "host";
	/* the plugin reads its own section only */
	for (size_t i = 0; i < motcua_testhost_config_read_count(th); i++) {
		const char *section, *key;
		motcua_testhost_config_read(th, i, &section, &key);
		CHECK(section == NULL, "config_get(%s, %s)", section, key);
	}
	CHECK(motcua_testhost_violations(th) == 0, "the plugin broke the host's contract");
	motcua_testhost_free(th);
	if (!failures) {
		char cmd[400];
		snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", root, root);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", root);
	}
	fprintf(stderr, "%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
