/* SPDX-License-Identifier: MIT */
/*
 * test-archive-core: the archive core on real SQLite files and blob folders
 * in a temp dir: ingest (idempotent, supersession, reuse links), search with
 * and without Vietnamese diacritics and its filters, odd query input, the
 * fixity and audit-chain checks against a flipped byte, a missing blob, an
 * unexpected file, edited rows, a BagIt export checked by an independent
 * validator (tests/bagit_validate.py), and ingests killed half-way.
 */
#define _GNU_SOURCE
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

#include <sqlite3.h>

#include "archive-core.h"
#include "archive-internal.h"

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

static char root[256];
static char msg[512];

/* ---- fixtures ------------------------------------------------------------------- */

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

static char *tmp_path(const char *fmt, ...)
{
	static char bufs[16][512];
	static int n;
	char *b = bufs[n++ % 16];
	va_list ap;
	va_start(ap, fmt);
	int l = snprintf(b, 512, "%s/", root);
	vsnprintf(b + l, 512 - (size_t)l, fmt, ap);
	va_end(ap);
	return b;
}

static struct archive *open_new(const char *name, const char *rules)
{
	struct archive *a = NULL;
	struct archive_options o = {.create = true,
				    .retention_years = 10,
				    .retention_by_procedure = rules,
				    .organization = "UBND phường Bến Nghé"};
	int r = archive_open(tmp_path("%s", name), &o, &a, msg, sizeof msg);
	CHECK(r == 0, "open %s: %s", name, msg);
	if (r)
		exit(1);
	return a;
}

/* Makes a "signed PDF", two page images and a sidecar for document doc. */
struct doc {
	char signed_path[512], page1[512], page2[512], side[512];
	struct archive_file pages[2];
	struct archive_item_in in;
};

static void make_doc(struct doc *d, const char *doc_id, const char *dossier, const char *id_number,
		     const char *applicant, const char *text, const char *content)
{
	memset(d, 0, sizeof *d);
	snprintf(d->signed_path, sizeof d->signed_path, "%s",
		 tmp_path("%s-%s.pdf", dossier, doc_id));
	snprintf(d->page1, sizeof d->page1, "%s", tmp_path("%s-%s-p1.png", dossier, doc_id));
	snprintf(d->page2, sizeof d->page2, "%s", tmp_path("%s-%s-p2.png", dossier, doc_id));
	snprintf(d->side, sizeof d->side, "%s", tmp_path("%s-%s.p7s", dossier, doc_id));
	char body[4096];
	snprintf(body, sizeof body, "%%PDF-1.7\n%% %s %s\n%s\n%%%%EOF\n", doc_id, content, text);
	write_file(d->signed_path, body);
	snprintf(body, sizeof body, "PNG page 1 of %s %s", doc_id, content);
	write_file(d->page1, body);
	snprintf(body, sizeof body, "PNG page 2 of %s %s", doc_id, content);
	write_file(d->page2, body);
	snprintf(body, sizeof body, "CMS %s %s", doc_id, content);
	write_file(d->side, body);
	d->pages[0] = (struct archive_file){d->page1, "image/png"};
	d->pages[1] = (struct archive_file){d->page2, "image/png"};
	d->in = (struct archive_item_in){
	    .document_id = doc_id,
	    .name = "Tờ khai đăng ký khai sinh",
	    .dossier_code = dossier,
	    .procedure_code = "1.001193",
	    .id_number = id_number,
	    .applicant_name = applicant,
	    .document_type = "to-khai",
	    .text = text,
	    .signature_json =
		"{\"valid\": true, \"level\": \"B-T\", \"signer\": \"UBND phường Bến Nghé\"}",
	    .signed_file = {d->signed_path, "application/pdf"},
	    .originals = d->pages,
	    .n_originals = 2,
	    .sidecar = {d->side, "application/pkcs7-signature"},
	};
}

static int64_t unix_of(const char *vn_iso) /* "YYYY-MM-DD HH:MM" Vietnam time */
{
	struct tm tm = {0};
	sscanf(vn_iso, "%d-%d-%d %d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
	       &tm.tm_min);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) - 7 * 3600;
}

static int ingest(struct archive *a, struct doc *d, enum archive_ingest_result *res, char id[32])
{
	json_t *item = NULL;
	enum archive_ingest_result rr = 99;
	int r = archive_ingest(a, &d->in, &rr, &item, msg, sizeof msg);
	if (res)
		*res = rr;
	if (id)
		snprintf(id, 32, "%s",
			 r == 0 ? json_string_value(json_object_get(item, "id")) : "");
	json_decref(item);
	return r;
}

static json_t *search(struct archive *a, const char *json, int *r)
{
	json_t *q = json_loads(json, 0, NULL), *res = NULL;
	if (!q) {
		fprintf(stderr, "bad test json %s\n", json);
		exit(1);
	}
	*r = archive_search(a, q, &res, msg, sizeof msg);
	json_decref(q);
	return res;
}

static long long total_of(struct archive *a, const char *json)
{
	int r;
	json_t *res = search(a, json, &r);
	CHECK(r == 0, "search %s: %s", json, msg);
	long long t = r == 0 ? json_integer_value(json_object_get(res, "total")) : -1;
	json_decref(res);
	return t;
}

static long long audit_count(const char *dir)
{
	sqlite3 *db;
	char p[600];
	snprintf(p, sizeof p, "%s/archive.db", dir);
	sqlite3_open(p, &db);
	sqlite3_stmt *s;
	long long n = -1;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

static int sql(const char *dir, const char *q)
{
	sqlite3 *db;
	char p[600];
	snprintf(p, sizeof p, "%s/archive.db", dir);
	sqlite3_open(p, &db);
	archive_register_tokenizer(db);
	char *err = NULL;
	int rc = sqlite3_exec(db, q, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fprintf(stderr, "  sql: %s\n", err);
	sqlite3_free(err);
	sqlite3_close(db);
	return rc;
}

static const char *text1 =
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\nTỜ KHAI ĐĂNG KÝ KHAI SINH\n"
    "Họ, chữ đệm, tên người yêu cầu: Nguyễn Văn An\nNơi cư trú: 12 Đường Lê Lợi, phường Bến Nghé, "
    "Quận 1\n"
    "Quan hệ với người được khai sinh: cha";
static const char *text2 = "ĐƠN ĐỀ NGHỊ cấp bản sao trích lục hộ tịch\nHọ tên: Trần Thị Bích Ngọc\n"
			   "Địa chỉ: 45 Hai Bà Trưng, Quận 3, Thành phố Hồ Chí Minh";

/* ---- cases ------------------------------------------------------------------------ */

static void test_ingest_and_search(void)
{
	current_case = "ingest+search";
	struct archive *a = open_new("a1", "1.000001:0, 2.000002:5");
	struct doc d1, d2;
	char id1[32], id2[32], id3[32];
	enum archive_ingest_result res;
	make_doc(&d1, "doc-1", "000.00.12.H50-250301-0001", "001099012345", "Nguyễn Văn An", text1,
		 "v1");
	d1.in.archived_unix =
	    unix_of("2025-03-01 23:30"); /* 16:30 UTC: still March 1st in Vietnam */
	CHECK(ingest(a, &d1, &res, id1) == 0 && res == ARCHIVE_INGESTED, "%s", msg);
	CHECK(archive_valid_id(id1), "id %s", id1);
	long long n_audit = audit_count(tmp_path("a1"));
	CHECK(ingest(a, &d1, &res, id3) == 0 && res == ARCHIVE_EXISTED && !strcmp(id1, id3),
	      "second ingest: %s %d", msg, res);
	CHECK(audit_count(tmp_path("a1")) == n_audit, "a second ingest wrote to the audit log");

	make_doc(&d2, "doc-2", "000.00.12.H50-250315-0002", "079188001234", "Trần Thị Bích Ngọc",
		 text2, "x");
	d2.in.procedure_code = "2.000002";
	d2.in.name = "Đơn đề nghị";
	d2.in.archived_unix = unix_of("2025-03-15 08:00");
	CHECK(ingest(a, &d2, &res, id2) == 0 && res == ARCHIVE_INGESTED, "%s", msg);

	/* the item, its files */
	json_t *it = NULL;
	CHECK(archive_item(a, id1, true, &it, msg, sizeof msg) == 0, "%s", msg);
	CHECK(!strcmp(json_string_value(json_object_get(it, "archived_at")),
		      "2025-03-01T23:30:00+07:00"),
	      "%s", json_string_value(json_object_get(it, "archived_at")));
	CHECK(!strcmp(json_string_value(json_object_get(it, "retain_until")), "2035-03-01"),
	      "retain_until");
	CHECK(json_integer_value(json_object_get(it, "retention_years")) == 10, "retention");
	CHECK(!strcmp(json_string_value(json_object_get(it, "id_number")), "001099012345"),
	      "id_number");
	CHECK(json_is_true(json_object_get(json_object_get(it, "signature"), "valid")),
	      "signature");
	CHECK(!strcmp(json_string_value(json_object_get(it, "original_media_type")), "image/png"),
	      "orig mt");
	CHECK(json_array_size(json_object_get(it, "originals")) == 2, "two pages");
	const char *path = json_string_value(json_object_get(it, "path"));
	char expect[600], sha[65];
	snprintf(expect, sizeof expect, "%s/blobs/%.2s/%s", tmp_path("a1"),
		 json_string_value(json_object_get(it, "sha256")),
		 json_string_value(json_object_get(it, "sha256")));
	CHECK(path && !strcmp(path, expect), "path %s", path);
	FILE *f = fopen(path, "rb");
	char buf[8192];
	size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
	if (f)
		fclose(f);
	archive_sha256_hex(buf, n, sha);
	CHECK(!strcmp(sha, json_string_value(json_object_get(it, "sha256"))), "blob content");
	CHECK(access(json_string_value(json_object_get(it, "original_path")), R_OK) == 0,
	      "original readable");
	json_decref(it);
	CHECK(archive_item(a, "0123456789abcdef01234567", true, &it, msg, sizeof msg) == -ENOENT,
	      "missing item");
	CHECK(archive_item(a, "../../etc/passwd", true, &it, msg, sizeof msg) == -EINVAL, "bad id");

	/* retention per procedure */
	CHECK(archive_item(a, id2, false, &it, msg, sizeof msg) == 0, "%s", msg);
	CHECK(json_integer_value(json_object_get(it, "retention_years")) == 5, "procedure rule");
	CHECK(json_object_get(it, "path") == NULL, "no path without with_path");
	json_decref(it);

	/* diacritic-free and diacritic search */
	CHECK(total_of(a, "{\"q\": \"nguyen\"}") == 1, "nguyen");
	CHECK(total_of(a, "{\"q\": \"Nguyễn\"}") == 1, "Nguyễn");
	CHECK(total_of(a, "{\"q\": \"NGUYEN van an\"}") == 1, "NGUYEN van an");
	CHECK(total_of(a, "{\"q\": \"duong\"}") == 1, "duong");
	CHECK(total_of(a, "{\"q\": \"đường\"}") == 1, "đường");
	CHECK(total_of(a, "{\"q\": \"ĐƯỜNG le loi\"}") == 1, "ĐƯỜNG le loi");
	CHECK(total_of(a, "{\"q\": \"Nguye\u0302\u0303n\"}") == 1, "decomposed (NFD) Nguyễn");
	CHECK(total_of(a, "{\"q\": \"ngoc\"}") == 1, "ngoc (applicant name and text)");
	CHECK(total_of(a, "{\"q\": \"don de nghi\"}") == 1, "don de nghi");
	CHECK(total_of(a, "{\"q\": \"ho chi minh\"}") == 1, "ho chi minh");
	CHECK(total_of(a, "{\"q\": \"nguy*\"}") == 1, "prefix");
	CHECK(total_of(a, "{\"q\": \"nguyen ngoc\"}") == 0, "AND of words");
	CHECK(total_of(a, "{\"q\": \"phuong\"}") == 1, "phuong in text1 only");
	CHECK(total_of(a, "{\"q\": \"quan\"}") == 2, "quan in both");
	int r;
	json_t *sr = search(a, "{\"q\": \"duong\"}", &r);
	const char *snip = json_string_value(
	    json_object_get(json_array_get(json_object_get(sr, "items"), 0), "snippet"));
	CHECK(snip && strstr(snip, "[Đường]"), "snippet keeps the diacritics: %s",
	      snip ? snip : "(null)");
	CHECK(json_object_get(json_array_get(json_object_get(sr, "items"), 0), "path") == NULL,
	      "no path in search");
	json_decref(sr);

	/* filters */
	CHECK(total_of(a, "{\"q\": \"quan\", \"id_number\": \"079188001234\"}") == 1, "id_number");
	CHECK(total_of(a, "{\"id_number\": \"001099012345\"}") == 1, "id_number alone");
	CHECK(total_of(a, "{\"procedure\": \"2.000002\"}") == 1, "procedure");
	CHECK(total_of(a, "{\"q\": \"quan\", \"procedure\": \"9.9\"}") == 0, "other procedure");
	CHECK(total_of(a, "{\"from\": \"2025-03-01\", \"to\": \"2025-03-01\"}") == 1,
	      "one day, Vietnam time");
	CHECK(total_of(a, "{\"from\": \"2025-03-02\"}") == 1, "from");
	CHECK(total_of(a, "{\"to\": \"2025-02-28\"}") == 0, "to");
	CHECK(total_of(a, "{\"q\": \"quan\", \"from\": \"2025-03-01\", \"to\": \"2025-03-15\"}") ==
		  2,
	      "inclusive");
	CHECK(total_of(a, "{}") == 2, "everything");
	sr = search(a, "{\"limit\": 1, \"offset\": 1}", &r);
	CHECK(r == 0 && json_integer_value(json_object_get(sr, "total")) == 2 &&
		  json_array_size(json_object_get(sr, "items")) == 1,
	      "limit/offset");
	CHECK(!strcmp(json_string_value(
			  json_object_get(json_array_get(json_object_get(sr, "items"), 0), "id")),
		      id1),
	      "newest first without words");
	json_decref(sr);
	sr = search(a, "{\"limit\": \"1\", \"offset\": \"5\"}", &r);
	CHECK(r == 0 && json_integer_value(json_object_get(sr, "total")) == 2 &&
		  json_array_size(json_object_get(sr, "items")) == 0,
	      "offset past the end");
	json_decref(sr);

	/* odd input never reaches FTS5 raw */
	static const char *const odd[] = {
	    "{\"q\": \"\\\"\"}",	"{\"q\": \"AND\"}",
	    "{\"q\": \"NEAR(\"}",	"{\"q\": \"*\"}",
	    "{\"q\": \"a\\\"b\"}",	"{\"q\": \"-x\"}",
	    "{\"q\": \"text:nguyen\"}", "{\"q\": \"(nguyen OR\"}",
	    "{\"q\": \"^an\"}",		"{\"q\": \"'; DROP TABLE items; --\"}",
	    "{\"q\": \"   \"}",		"{\"q\": \"!!! ???\"}",
	    "{\"q\": \"{a b}\"}",	"{\"q\": \"nguyen NOT an\"}",
	    "{\"q\": \"\\u0000x\"}",
	};
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		json_t *oq = json_loads(odd[i], JSON_ALLOW_NUL, NULL), *ores = NULL;
		r = archive_search(a, oq, &ores, msg, sizeof msg);
		CHECK(r == 0, "odd query %s: %d %s", odd[i], r, msg);
		json_decref(ores);
		json_decref(oq);
	}
	CHECK(total_of(a, "{\"q\": \"text:nguyen\"}") == 0,
	      "column syntax is just words (a phrase)");
	CHECK(total_of(a, "{\"q\": \"nguyen-van\"}") == 1, "hyphenated words are a phrase");

	/* bad input: -EINVAL with a reason */
	static const char *const bad[] = {
	    "{\"id_number\": \"123\"}",
	    "{\"id_number\": 1234567890}",
	    "{\"from\": \"2025-02-30\"}",
	    "{\"to\": \"25-01-01\"}",
	    "{\"limit\": 0}",
	    "{\"limit\": 201}",
	    "{\"limit\": \"x\"}",
	    "{\"offset\": -1}",
	    "{\"q\": 5}",
	    "{\"procedure\": \"a/b\"}",
	    "{\"from\": \"2025-03-02\", \"to\": \"2025-03-01\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msg[0] = 0;
		json_t *bres = search(a, bad[i], &r);
		CHECK(r == -EINVAL && msg[0], "bad query %s gave %d", bad[i], r);
		json_decref(bres);
	}
	char longq[700];
	memset(longq, 'a', sizeof longq);
	longq[sizeof longq - 1] = 0;
	json_t *lq = json_pack("{s:s}", "q", longq), *lres = NULL;
	CHECK(archive_search(a, lq, &lres, msg, sizeof msg) == -EINVAL, "long query");
	json_decref(lq);

	/* applicant documents: a newer version supersedes, both stay */
	struct doc d1b;
	make_doc(&d1b, "doc-1", "000.00.12.H50-250301-0001", "001099012345", "Nguyễn Văn An", text1,
		 "v2 timestamped");
	d1b.in.archived_unix = unix_of("2025-03-02 09:00");
	char id1b[32];
	CHECK(ingest(a, &d1b, &res, id1b) == 0 && res == ARCHIVE_INGESTED && strcmp(id1b, id1),
	      "%s", msg);
	CHECK(archive_item(a, id1, false, &it, msg, sizeof msg) == 0, "old version stays");
	const char *superseded_by = json_string_value(json_object_get(it, "superseded_by"));
	CHECK(superseded_by && !strcmp(superseded_by, id1b), "superseded_by");
	json_decref(it);
	CHECK(total_of(a, "{\"q\": \"nguyen\"}") == 1, "one current version found");
	struct doc d4;
	make_doc(&d4, "doc-4", "000.00.12.H50-250310-0003", "001099012345", "Nguyễn Văn An",
		 "Giấy xác nhận", "y");
	d4.in.archived_unix = unix_of("2025-03-10 10:00");
	CHECK(ingest(a, &d4, &res, id3) == 0, "%s", msg);
	json_t *ad = NULL;
	CHECK(archive_applicant_documents(a, "001099012345", &ad, msg, sizeof msg) == 0, "%s", msg);
	json_t *items = json_object_get(ad, "items");
	CHECK(json_array_size(items) == 2, "two current papers: %zu", json_array_size(items));
	CHECK(!strcmp(json_string_value(json_object_get(json_array_get(items, 0), "id")), id3),
	      "newest first");
	json_decref(ad);
	CHECK(archive_applicant_documents(a, "12", &ad, msg, sizeof msg) == -EINVAL,
	      "bad id number");

	/* bad items */
	struct doc bd;
	make_doc(&bd, "doc-bad", "C-1", "001099012345", "X", "x", "z");
	bd.in.id_number = "12ab";
	CHECK(ingest(a, &bd, NULL, NULL) == -EINVAL, "bad id number");
	bd.in.id_number = NULL;
	bd.in.signature_json = "[1]";
	CHECK(ingest(a, &bd, NULL, NULL) == -EINVAL, "signature not an object");
	bd.in.signature_json = NULL;
	bd.in.signed_file.path = tmp_path("no-such-file");
	CHECK(ingest(a, &bd, NULL, NULL) == -ENOENT, "missing file: %s", msg);
	bd.in.signed_file.path = tmp_path("a1");
	CHECK(ingest(a, &bd, NULL, NULL) == -EINVAL, "a folder: %s", msg);
	bd.in.signed_file.path = bd.signed_path;
	bd.in.dossier_code = NULL;
	CHECK(ingest(a, &bd, NULL, NULL) == -EINVAL, "no dossier");

	json_t *rep = NULL;
	CHECK(archive_verify(a, true, &rep, msg, sizeof msg) == 0 &&
		  json_is_true(json_object_get(rep, "ok")),
	      "verify after ingests: %s", rep ? json_dumps(rep, 0) : msg);
	json_decref(rep);
	archive_close(a);
}

static void test_reuse_and_export(void)
{
	current_case = "reuse+export";
	struct archive *a = open_new("a2", NULL);
	struct doc d1, d2, d3;
	char id1[32], id2[32], id3[32];
	enum archive_ingest_result res;
	make_doc(&d1, "doc-1", "D-250401-0001", "001099012345", "Lê Văn Đức",
		 "Giấy khai sinh của Lê Văn Đức", "a");
	CHECK(ingest(a, &d1, &res, id1) == 0, "%s", msg);
	make_doc(&d2, "doc-7", "D-250401-0001", "001099012345", "Lê Văn Đức", "Sổ hộ khẩu", "b");
	d2.in.sidecar.path = NULL;
	d2.in.n_originals = 0;
	CHECK(ingest(a, &d2, &res, id2) == 0, "%s", msg);
	long long before = audit_count(tmp_path("a2"));
	/* the clerk attaches item 1 to a second dossier: the API records it... */
	CHECK(archive_reused(a, id1, "D-250402-0009", "doc-20", msg, sizeof msg) == 0, "%s", msg);
	CHECK(audit_count(tmp_path("a2")) == before + 1, "reuse logged");
	/* ...and the archive step of that document links it */
	d3 = d1;
	d3.in.document_id = "doc-20";
	d3.in.dossier_code = "D-250402-0009";
	d3.in.reused_from = id1;
	d3.in.n_originals = 0;
	d3.in.sidecar.path = NULL;
	CHECK(ingest(a, &d3, &res, id3) == 0 && res == ARCHIVE_LINKED && !strcmp(id3, id1), "%s %d",
	      msg, res);
	CHECK(audit_count(tmp_path("a2")) == before + 1, "the same reuse is not logged twice");
	CHECK(archive_reused(a, id1, "D-250402-0009", "doc-20", msg, sizeof msg) == 0, "%s", msg);
	CHECK(archive_reused(a, "0123456789abcdef01234567", "D-1", "x", msg, sizeof msg) == -ENOENT,
	      "no item");
	CHECK(archive_reused(a, id1, "../x", "x", msg, sizeof msg) == -EINVAL, "bad code");
	CHECK(total_of(a, "{}") == 2, "a reuse is no second item");
	json_t *it = NULL;
	CHECK(archive_item(a, id1, false, &it, msg, sizeof msg) == 0, "%s", msg);
	json_t *re = json_object_get(it, "reused_in");
	CHECK(json_array_size(re) == 1 &&
		  !strcmp(json_string_value(json_object_get(json_array_get(re, 0), "dossier_code")),
			  "D-250402-0009"),
	      "reused_in");
	json_decref(it);
	/* the blob is stored once */
	sqlite3 *db;
	sqlite3_open(tmp_path("a2/archive.db"), &db);
	sqlite3_stmt *s;
	sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM reuses)",
			   -1, &s, NULL);
	sqlite3_step(s);
	CHECK(sqlite3_column_int(s, 0) == 2 && sqlite3_column_int(s, 1) == 1, "items %d reuses %d",
	      sqlite3_column_int(s, 0), sqlite3_column_int(s, 1));
	sqlite3_finalize(s);
	sqlite3_close(db);

	/* export of both dossiers, checked by the independent validator */
	mkdir(tmp_path("out"), 0755);
	char bag[600];
	CHECK(archive_export(a, "D-250401-0001", tmp_path("out"), bag, sizeof bag, msg,
			     sizeof msg) == 0,
	      "%s", msg);
	CHECK(archive_export(a, "D-250402-0009", tmp_path("out"), bag, sizeof bag, msg,
			     sizeof msg) == 0,
	      "%s", msg);
	CHECK(archive_export(a, "D-250401-0001", tmp_path("out"), bag, sizeof bag, msg,
			     sizeof msg) == -EEXIST,
	      "export over a bag");
	CHECK(archive_export(a, "D-999", tmp_path("out"), bag, sizeof bag, msg, sizeof msg) ==
		  -ENOENT,
	      "no dossier");
	CHECK(archive_export(a, "../etc", tmp_path("out"), bag, sizeof bag, msg, sizeof msg) ==
		  -EINVAL,
	      "bad code");
	CHECK(archive_export(a, "D-250401-0001", tmp_path("nowhere"), bag, sizeof bag, msg,
			     sizeof msg) == -ENOENT,
	      "no folder");
	const char *py = getenv("ARCHIVE_PYTHON"), *val = getenv("ARCHIVE_BAGIT_VALIDATOR");
	char cmd[2048];
	if (py && *py && val) {
		snprintf(cmd, sizeof cmd,
			 "%s %s --require-tag External-Identifier --require-tag Payload-Oxum "
			 "--require-tag Bagging-Date"
			 " --require-tag Source-Organization %s %s",
			 py, val, tmp_path("out/D-250401-0001"), tmp_path("out/D-250402-0009"));
		CHECK(system(cmd) == 0, "the validator refused the bags");
		snprintf(cmd, sizeof cmd,
			 "grep -q 'External-Identifier: D-250402-0009' %s && grep -q "
			 "'\"reused_in_this_dossier\": true' %s",
			 tmp_path("out/D-250402-0009/bag-info.txt"),
			 tmp_path("out/D-250402-0009/data/metadata.json"));
		CHECK(system(cmd) == 0, "bag-info / metadata of the reuse");
		/* the validator can fail: a changed payload byte */
		snprintf(cmd, sizeof cmd,
			 "printf X >> %s/data/001-%s/signed.pdf; %s %s %s >/dev/null 2>&1",
			 tmp_path("out/D-250401-0001"), id1, py, val,
			 tmp_path("out/D-250401-0001"));
		CHECK(system(cmd) != 0, "the validator accepted a changed bag");
	} else {
		CHECK(0, "no python3 for the BagIt validator: packaging/install-deps.sh test");
		failures++;
	}
	/* nothing half-written next to the bags */
	snprintf(cmd, sizeof cmd, "ls -a %s | grep -q tmp", tmp_path("out"));
	CHECK(system(cmd) != 0, "a temp folder was left");
	archive_close(a);
}

static void flip_byte(const char *path)
{
	int fd = open(path, O_RDWR);
	unsigned char c;
	pread(fd, &c, 1, 3);
	c ^= 1;
	pwrite(fd, &c, 1, 3);
	close(fd);
}

static json_t *verify(struct archive *a)
{
	json_t *rep = NULL;
	int r = archive_verify(a, false, &rep, msg, sizeof msg);
	CHECK(r == 0, "verify ran: %s", msg);
	return rep;
}

static bool names(json_t *list, const char *id)
{
	char *s = json_dumps(list, 0);
	bool found = s && strstr(s, id);
	free(s);
	return found;
}

static void test_tamper(void)
{
	current_case = "tamper";
	struct archive *a = open_new("a3", NULL);
	struct doc d1, d2;
	char id1[32], id2[32];
	make_doc(&d1, "doc-1", "T-1", "001099012345", "Phạm Thị Hoa", "văn bản một", "1");
	make_doc(&d2, "doc-2", "T-1", "001099012345", "Phạm Thị Hoa", "văn bản hai", "2");
	CHECK(ingest(a, &d1, NULL, id1) == 0 && ingest(a, &d2, NULL, id2) == 0, "%s", msg);
	json_t *it = NULL, *rep;
	archive_item(a, id1, true, &it, msg, sizeof msg);
	char blob[600], page[600];
	snprintf(blob, sizeof blob, "%s", json_string_value(json_object_get(it, "path")));
	snprintf(page, sizeof page, "%s", json_string_value(json_object_get(it, "original_path")));
	json_decref(it);
	rep = verify(a);
	CHECK(json_is_true(json_object_get(rep, "ok")), "intact at first");
	json_decref(rep);

	/* a flipped byte */
	flip_byte(blob);
	rep = verify(a);
	CHECK(!json_is_true(json_object_get(rep, "ok")) &&
		  json_array_size(json_object_get(rep, "changed")) == 1 &&
		  names(json_object_get(rep, "changed"), id1) &&
		  !names(json_object_get(rep, "changed"), id2),
	      "flipped byte not found: %s", json_dumps(rep, 0));
	json_decref(rep);
	flip_byte(blob);
	/* a missing blob (an original page) */
	char saved[640];
	snprintf(saved, sizeof saved, "%s.saved", tmp_path("page"));
	CHECK(rename(page, saved) == 0, "move");
	rep = verify(a);
	CHECK(!json_is_true(json_object_get(rep, "ok")) &&
		  json_array_size(json_object_get(rep, "missing")) == 1 &&
		  names(json_object_get(rep, "missing"), id1),
	      "missing blob not found: %s", json_dumps(rep, 0));
	json_decref(rep);
	CHECK(rename(saved, page) == 0, "move back");
	/* unexpected files */
	mkdir(tmp_path("a3/blobs/ab"), 0755);
	write_file(tmp_path("a3/blobs/ab/stray.txt"), "x");
	write_file(tmp_path("a3/blobs/README"), "x");
	rep = verify(a);
	CHECK(!json_is_true(json_object_get(rep, "ok")) &&
		  json_array_size(json_object_get(rep, "unexpected")) == 2,
	      "unexpected files: %s", json_dumps(rep, 0));
	json_decref(rep);
	unlink(tmp_path("a3/blobs/ab/stray.txt"));
	unlink(tmp_path("a3/blobs/README"));
	rep = verify(a);
	CHECK(json_is_true(json_object_get(rep, "ok")), "intact again: %s", json_dumps(rep, 0));
	json_decref(rep);
	archive_close(a);

	/* the audit log is append-only inside SQLite... */
	CHECK(sql(tmp_path("a3"), "UPDATE audit SET detail = '{}' WHERE seq = 1") != SQLITE_OK,
	      "update allowed");
	CHECK(sql(tmp_path("a3"), "DELETE FROM audit WHERE seq = 1") != SQLITE_OK,
	      "delete allowed");
	/* ...and an edit behind its back is found, naming the item */
	char q[512];
	snprintf(
	    q, sizeof q,
	    "DROP TRIGGER audit_no_update; UPDATE audit SET detail = replace(detail, 'T-1', 'T-2')"
	    " WHERE item_id = '%s';",
	    id2);
	CHECK(sql(tmp_path("a3"), q) == SQLITE_OK, "edit");
	struct archive_options ro = {.read_only = true};
	CHECK(archive_open(tmp_path("a3"), &ro, &a, msg, sizeof msg) == 0, "%s", msg);
	rep = verify(a);
	json_t *chain = json_object_get(rep, "chain");
	CHECK(!json_is_true(json_object_get(rep, "ok")) &&
		  !json_is_true(json_object_get(chain, "ok")) &&
		  names(json_object_get(chain, "problems"), id2) &&
		  json_integer_value(json_object_get(chain, "broken_at")) > 0,
	      "edited audit row: %s", json_dumps(rep, 0));
	json_decref(rep);
	archive_close(a);

	/* a changed item row and a deleted one */
	struct archive *b = open_new("a4", NULL);
	make_doc(&d1, "doc-1", "T-2", "001099012345", "Phạm Thị Hoa", "văn bản một", "1");
	make_doc(&d2, "doc-2", "T-2", "001099012345", "Phạm Thị Hoa", "văn bản hai", "2");
	CHECK(ingest(b, &d1, NULL, id1) == 0 && ingest(b, &d2, NULL, id2) == 0, "%s", msg);
	archive_close(b);
	snprintf(q, sizeof q, "UPDATE items SET id_number = '001099099999' WHERE id = '%s'", id1);
	sql(tmp_path("a4"), q);
	snprintf(q, sizeof q, "DELETE FROM items WHERE id = '%s'", id2);
	sql(tmp_path("a4"), q);
	CHECK(archive_open(tmp_path("a4"), &ro, &a, msg, sizeof msg) == 0, "%s", msg);
	rep = verify(a);
	chain = json_object_get(rep, "chain");
	CHECK(!json_is_true(json_object_get(rep, "ok")) &&
		  names(json_object_get(chain, "problems"), id1) &&
		  names(json_object_get(chain, "problems"), id2),
	      "edited/deleted item rows: %s", json_dumps(rep, 0));
	json_decref(rep);
	archive_close(a);

	/* deleted audit rows (a gap) */
	b = open_new("a5", NULL);
	make_doc(&d1, "doc-1", "T-3", "001099012345", "A", "một", "1");
	make_doc(&d2, "doc-2", "T-3", "001099012345", "A", "hai", "2");
	CHECK(ingest(b, &d1, NULL, id1) == 0 && ingest(b, &d2, NULL, id2) == 0, "%s", msg);
	json_t *dl = NULL;
	CHECK(archive_disposal(b, true, &dl, msg, sizeof msg) == 0, "%s", msg); /* a third entry */
	json_decref(dl);
	archive_close(b);
	CHECK(sql(tmp_path("a5"),
		  "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2") == SQLITE_OK,
	      "del");
	CHECK(archive_open(tmp_path("a5"), &ro, &a, msg, sizeof msg) == 0, "%s", msg);
	rep = verify(a);
	chain = json_object_get(rep, "chain");
	CHECK(!json_is_true(json_object_get(chain, "ok")) &&
		  names(json_object_get(chain, "problems"), id2) &&
		  json_integer_value(json_object_get(chain, "broken_at")) == 2,
	      "deleted audit row: %s", json_dumps(rep, 0));
	json_decref(rep);
	archive_close(a);
}

static void test_disposal(void)
{
	current_case = "disposal";
	struct archive *a = open_new("a6", "1.000001:0");
	struct doc d1, d2, d3;
	char id1[32], id2[32], id3[32];
	make_doc(&d1, "old", "R-1", NULL, "A", "cũ", "1");
	d1.in.archived_unix = unix_of("2010-05-01 09:00");
	make_doc(&d2, "old-permanent", "R-1", NULL, "A", "cũ vĩnh viễn", "2");
	d2.in.procedure_code = "1.000001";
	d2.in.archived_unix = unix_of("2010-05-01 09:00");
	make_doc(&d3, "new", "R-2", NULL, "A", "mới", "3");
	CHECK(ingest(a, &d1, NULL, id1) == 0 && ingest(a, &d2, NULL, id2) == 0 &&
		  ingest(a, &d3, NULL, id3) == 0,
	      "%s", msg);
	long long before = audit_count(tmp_path("a6"));
	json_t *dl = NULL;
	CHECK(archive_disposal(a, true, &dl, msg, sizeof msg) == 0, "%s", msg);
	json_t *items = json_object_get(dl, "items");
	CHECK(json_array_size(items) == 1 && names(items, id1) && !names(items, id2), "disposal %s",
	      json_dumps(dl, 0));
	json_decref(dl);
	CHECK(audit_count(tmp_path("a6")) == before + 1, "disposal listing logged");
	json_t *it = NULL;
	CHECK(archive_item(a, id1, false, &it, msg, sizeof msg) == 0, "never deleted");
	json_decref(it);
	CHECK(archive_item(a, id2, false, &it, msg, sizeof msg) == 0 &&
		  json_is_null(json_object_get(it, "retain_until")),
	      "permanent has no retain_until");
	json_decref(it);
	archive_close(a);
}

/* ---- crash safety ------------------------------------------------------------------ */

static const char *kill_at;

static void kill_hook(const char *point)
{
	if (kill_at && !strcmp(point, kill_at))
		raise(SIGKILL);
}

static void test_crash(void)
{
	current_case = "crash";
	static const char *const points[] = {"blob-copying", "blobs-written", "rows-written"};
	for (size_t i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof name, "crash%zu", i);
		struct archive *a = open_new(name, NULL);
		struct doc d0, d1;
		char id0[32];
		make_doc(&d0, "doc-0", "K-1", "001099012345", "Võ Thị Sáu", "trước", "0");
		CHECK(ingest(a, &d0, NULL, id0) == 0, "%s", msg);
		archive_close(a);
		long long n_audit = audit_count(tmp_path("%s", name));
		make_doc(&d1, "doc-1", "K-1", "001099012345", "Võ Thị Sáu",
			 "giấy bị cắt ngang khi lưu", "1");
		pid_t pid = fork();
		if (pid == 0) {
			struct archive *c = NULL;
			struct archive_options o = {.create = true, .retention_years = 10};
			if (archive_open(tmp_path("%s", name), &o, &c, msg, sizeof msg) != 0)
				_exit(3);
			kill_at = points[i];
			archive_test_hook = kill_hook;
			archive_ingest(c, &d1.in, NULL, NULL, msg, sizeof msg);
			_exit(4); /* not killed: the hook never ran */
		}
		int st = 0;
		waitpid(pid, &st, 0);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		      "%s: child not killed (status %d)", points[i], st);
		a = open_new(name, NULL);
		CHECK(total_of(a, "{\"q\": \"cat ngang\"}") == 0, "%s: half item searchable",
		      points[i]);
		CHECK(total_of(a, "{}") == 1, "%s: half item listed", points[i]);
		CHECK(audit_count(tmp_path("%s", name)) == n_audit,
		      "%s: audit entry of a rolled-back ingest", points[i]);
		CHECK(sql(tmp_path("%s", name),
			  "PRAGMA integrity_check; INSERT INTO "
			  "item_fts(item_fts) VALUES('integrity-check')") == SQLITE_OK,
		      "%s: integrity", points[i]);
		json_t *rep = verify(a);
		CHECK(json_is_true(json_object_get(json_object_get(rep, "chain"), "ok")) &&
			  !json_array_size(json_object_get(rep, "changed")) &&
			  !json_array_size(json_object_get(rep, "missing")),
		      "%s: %s", points[i], json_dumps(rep, 0));
		json_decref(rep);
		/* the pipeline runs the step again: the item is complete, leftovers adopted */
		enum archive_ingest_result res;
		char id1[32];
		CHECK(ingest(a, &d1, &res, id1) == 0 && res == ARCHIVE_INGESTED, "%s: rerun %s",
		      points[i], msg);
		CHECK(total_of(a, "{\"q\": \"cat ngang\"}") == 1, "%s: rerun not searchable",
		      points[i]);
		rep = verify(a);
		CHECK(json_is_true(json_object_get(rep, "ok")), "%s: after rerun %s", points[i],
		      json_dumps(rep, 0));
		json_decref(rep);
		archive_close(a);
	}
}

static void test_misc(void)
{
	current_case = "misc";
	bool empty;
	char *q = archive_fts_query("nguyen \"van\" an* -- ***", &empty);
	CHECK(q && !strcmp(q, "\"nguyen\" \"\"\"van\"\"\" \"an\"*"), "fts query %s",
	      q ? q : "(null)");
	free(q);
	CHECK(archive_fts_query("  ;; -- ", &empty) == NULL && empty, "no words");
	CHECK(archive_valid_date("2024-02-29") && !archive_valid_date("2023-02-29") &&
		  !archive_valid_date("2024-13-01"),
	      "dates");
	CHECK(archive_check_retention_rules("1.0:5, 2.0:0", msg, sizeof msg) == 0, "%s", msg);
	CHECK(archive_check_retention_rules("1.0=5", msg, sizeof msg) == -EINVAL, "rules form");
	CHECK(archive_check_retention_rules("1.0:-1", msg, sizeof msg) == -EINVAL, "rules years");
	struct archive *a = NULL;
	struct archive_options ro = {.read_only = true};
	CHECK(archive_open(tmp_path("nothing-here"), &ro, &a, msg, sizeof msg) == -ENOENT,
	      "open missing: %s", msg);
	struct archive_options bad = {.create = true, .retention_years = -1};
	CHECK(archive_open(tmp_path("x"), &bad, &a, msg, sizeof msg) == -EINVAL, "bad retention");
	/* a read-only archive refuses writes */
	a = open_new("a7", NULL);
	archive_close(a);
	CHECK(archive_open(tmp_path("a7"), &ro, &a, msg, sizeof msg) == 0, "%s", msg);
	struct doc d;
	make_doc(&d, "doc", "M-1", NULL, "A", "a", "a");
	CHECK(ingest(a, &d, NULL, NULL) == -EROFS, "read-only ingest");
	archive_close(a);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(root, sizeof root, "%s/archive-core-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_misc();
	test_ingest_and_search();
	test_reuse_and_export();
	test_tamper();
	test_disposal();
	test_crash();
	if (!failures) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
		system(cmd);
	}
	fprintf(stderr, "%s (%d failures)\n", failures ? "FAILED" : "ok", failures);
	return failures ? 1 : 0;
}
