/* SPDX-License-Identifier: MIT */
/*
 * archive-bench: ingest rate and search latency of the archive-sqlite core at
 * ARCHIVE_BENCH_N documents (default 100000) of generated Vietnamese
 * administrative text, side by side, in one run, with the baseline: plain
 * SQLite FTS5 (tokenize 'unicode61 remove_diacritics 2') over the raw text,
 * one transaction per document, no blob files and no audit log.
 *
 *   archive-bench [DIR]        (DIR: where to build both; default $TMPDIR)
 *   ARCHIVE_BENCH_N=20000 ARCHIVE_BENCH_SEED=7 archive-bench
 *
 * Both get the same documents (a seeded generator: names, addresses,
 * procedures, dates), and the same queries, typed as a clerk types them:
 * mostly without diacritics. Prints a table; see
 * plugins/archive-sqlite/README.md for the figures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "archive-core.h"

/* ---- a seeded generator ---------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t pick(size_t n)
{
	return (size_t)(rnd() % n);
}

struct word {
	const char *vi, *plain; /* with diacritics, and as a clerk types it */
};

static const struct word ho[] = {
    {"Nguyễn", "nguyen"}, {"Trần", "tran"},   {"Lê", "le"},	  {"Phạm", "pham"},
    {"Hoàng", "hoang"},	  {"Huỳnh", "huynh"}, {"Phan", "phan"},	  {"Vũ", "vu"},
    {"Võ", "vo"},	  {"Đặng", "dang"},   {"Bùi", "bui"},	  {"Đỗ", "do"},
    {"Hồ", "ho"},	  {"Ngô", "ngo"},     {"Dương", "duong"}, {"Lý", "ly"},
    {"Đinh", "dinh"},	  {"Đoàn", "doan"},   {"Trịnh", "trinh"}, {"Mai", "mai"},
};
static const struct word dem[] = {
    {"Văn", "van"},   {"Thị", "thi"},	  {"Hữu", "huu"},   {"Đức", "duc"},   {"Minh", "minh"},
    {"Ngọc", "ngoc"}, {"Thanh", "thanh"}, {"Quốc", "quoc"}, {"Xuân", "xuan"}, {"Hoài", "hoai"},
    {"Kim", "kim"},   {"Thu", "thu"},	  {"Bảo", "bao"},   {"Gia", "gia"},   {"Đình", "dinh"},
};
static const struct word ten[] = {
    {"An", "an"},	{"Bình", "binh"},   {"Cường", "cuong"}, {"Dũng", "dung"},
    {"Đông", "dong"},	{"Giang", "giang"}, {"Hà", "ha"},	{"Hải", "hai"},
    {"Hạnh", "hanh"},	{"Hoa", "hoa"},	    {"Hùng", "hung"},	{"Hương", "huong"},
    {"Khánh", "khanh"}, {"Lan", "lan"},	    {"Linh", "linh"},	{"Long", "long"},
    {"Mai", "mai"},	{"Nam", "nam"},	    {"Nga", "nga"},	{"Phong", "phong"},
    {"Phúc", "phuc"},	{"Quang", "quang"}, {"Sơn", "son"},	{"Tâm", "tam"},
    {"Thảo", "thao"},	{"Thắng", "thang"}, {"Trang", "trang"}, {"Trung", "trung"},
    {"Tuấn", "tuan"},	{"Việt", "viet"},   {"Xuân", "xuan"},	{"Yến", "yen"},
    {"Đạt", "dat"},	{"Điệp", "diep"},   {"Đào", "dao"},
};
static const struct word street[] = {
    {"Lê Lợi", "le loi"},
    {"Nguyễn Huệ", "nguyen hue"},
    {"Trần Hưng Đạo", "tran hung dao"},
    {"Hai Bà Trưng", "hai ba trung"},
    {"Lý Thường Kiệt", "ly thuong kiet"},
    {"Điện Biên Phủ", "dien bien phu"},
    {"Võ Thị Sáu", "vo thi sau"},
    {"Phan Đình Phùng", "phan dinh phung"},
    {"Cách Mạng Tháng Tám", "cach mang thang tam"},
    {"Đồng Khởi", "dong khoi"},
    {"Hoàng Diệu", "hoang dieu"},
    {"Bà Triệu", "ba trieu"},
    {"Quang Trung", "quang trung"},
    {"Đinh Tiên Hoàng", "dinh tien hoang"},
    {"Nguyễn Trãi", "nguyen trai"},
};
static const struct word ward[] = {
    {"Bến Nghé", "ben nghe"},	{"Đa Kao", "da kao"},	    {"Tân Định", "tan dinh"},
    {"Hàng Bạc", "hang bac"},	{"Điện Biên", "dien bien"}, {"Thạch Thang", "thach thang"},
    {"Vĩnh Ninh", "vinh ninh"}, {"Đông Hòa", "dong hoa"},   {"Phú Hội", "phu hoi"},
    {"Trúc Bạch", "truc bach"},
};
static const struct word district[] = {
    {"Quận 1", "quan 1"},
    {"Quận Hoàn Kiếm", "quan hoan kiem"},
    {"Quận Hải Châu", "quan hai chau"},
    {"Thành phố Huế", "thanh pho hue"},
    {"Huyện Đông Anh", "huyen dong anh"},
    {"Quận Ba Đình", "quan ba dinh"},
    {"Thành phố Thủ Đức", "thanh pho thu duc"},
    {"Huyện Đức Hòa", "huyen duc hoa"},
};
static const struct word province[] = {
    {"Thành phố Hồ Chí Minh", "ho chi minh"},
    {"Thành phố Hà Nội", "ha noi"},
    {"Thành phố Đà Nẵng", "da nang"},
    {"Tỉnh Thừa Thiên Huế", "thua thien hue"},
    {"Tỉnh Đồng Nai", "dong nai"},
    {"Tỉnh Long An", "long an"},
};
static const struct {
	const char *code, *name, *plain;
} procedure[] = {
    {"1.001193", "Đăng ký khai sinh", "dang ky khai sinh"},
    {"1.000894", "Đăng ký kết hôn", "dang ky ket hon"},
    {"2.000908", "Chứng thực bản sao từ bản chính", "chung thuc ban sao"},
    {"1.004227", "Cấp bản sao trích lục hộ tịch", "trich luc ho tich"},
    {"1.004194", "Đăng ký thường trú", "dang ky thuong tru"},
    {"1.009972", "Cấp giấy phép xây dựng nhà ở riêng lẻ", "giay phep xay dung"},
    {"1.003010", "Đăng ký biến động quyền sử dụng đất", "quyen su dung dat"},
    {"2.001823", "Cấp giấy chứng nhận đăng ký hộ kinh doanh", "ho kinh doanh"},
    {"1.001022", "Đăng ký khai tử", "dang ky khai tu"},
    {"1.000656", "Xác nhận tình trạng hôn nhân", "tinh trang hon nhan"},
};
static const char *const filler[] = {
    "Căn cứ Luật Hộ tịch ngày 20 tháng 11 năm 2014;",
    "Căn cứ Nghị định số 123/2015/NĐ-CP của Chính phủ quy định chi tiết một số điều của Luật Hộ "
    "tịch;",
    "Xét đề nghị của công chức tư pháp - hộ tịch,",
    "Tôi cam đoan những nội dung khai trên đây là đúng sự thật và chịu trách nhiệm trước pháp luật "
    "về cam đoan của mình.",
    "Hồ sơ gồm: bản chính giấy tờ tùy thân, giấy tờ chứng minh nơi cư trú, tờ khai theo mẫu.",
    "Thời hạn giải quyết: 03 ngày làm việc kể từ ngày nhận đủ hồ sơ hợp lệ.",
    "Đề nghị cơ quan có thẩm quyền xem xét, giải quyết.",
    "Nơi nhận: Như trên; Lưu: VT, Bộ phận Một cửa.",
    "Phí, lệ phí: theo quy định của Hội đồng nhân dân tỉnh.",
    "Kết quả giải quyết được trả tại Bộ phận tiếp nhận và trả kết quả hoặc qua dịch vụ bưu chính "
    "công ích.",
};

#define YEAR0 1704042000LL /* 2024-01-01 00:00 Vietnam time */

struct docinfo {
	char id_number[13];
	unsigned char ho, dem, ten, street, proc;
	int64_t when;
};

static void make_doc(size_t i, struct docinfo *d, char *text, size_t tl, char *applicant, size_t al,
		     char *name, size_t nl)
{
	d->ho = (unsigned char)pick(sizeof ho / sizeof ho[0]);
	d->dem = (unsigned char)pick(sizeof dem / sizeof dem[0]);
	d->ten = (unsigned char)pick(sizeof ten / sizeof ten[0]);
	d->street = (unsigned char)pick(sizeof street / sizeof street[0]);
	d->proc = (unsigned char)pick(sizeof procedure / sizeof procedure[0]);
	/* a tenth of the applicants come back (reuse) */
	snprintf(d->id_number, sizeof d->id_number, "0%02zu%09llu", pick(96),
		 (unsigned long long)(rnd() % 1000000000ull));
	d->when = YEAR0 + (int64_t)pick(2 * 365 * 86400);
	const struct word *w = &ward[pick(sizeof ward / sizeof ward[0])];
	const struct word *di = &district[pick(sizeof district / sizeof district[0])];
	const struct word *pr = &province[pick(sizeof province / sizeof province[0])];
	snprintf(applicant, al, "%s %s %s", ho[d->ho].vi, dem[d->dem].vi, ten[d->ten].vi);
	snprintf(name, nl, "Tờ khai %s", procedure[d->proc].name);
	size_t o = (size_t)snprintf(
	    text, tl,
	    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\n%s\n"
	    "Kính gửi: Ủy ban nhân dân phường %s\nHọ, chữ đệm, tên người yêu cầu: %s\n"
	    "Số định danh cá nhân: %s\nNơi cư trú: số %zu Đường %s, phường %s, %s, %s\n"
	    "Người được cấp: %s %s %s, sinh ngày %02zu/%02zu/%zu\n",
	    procedure[d->proc].name, w->vi, applicant, d->id_number, 1 + pick(300),
	    street[d->street].vi, w->vi, di->vi, pr->vi, ho[pick(20)].vi, dem[pick(15)].vi,
	    ten[pick(35)].vi, 1 + pick(28), 1 + pick(12), 1950 + pick(74));
	for (size_t k = 0, n = 2 + pick(4); k < n && o < tl - 200; k++)
		o += (size_t)snprintf(text + o, tl - o, "%s\n",
				      filler[pick(sizeof filler / sizeof filler[0])]);
	(void)i;
}

/* ---- timing -------------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof *v, cmp_double);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static long long du_kib(const char *path)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "du -sk '%s' 2>/dev/null", path);
	FILE *f = popen(cmd, "r");
	long long k = -1;
	if (f) {
		if (fscanf(f, "%lld", &k) != 1)
			k = -1;
		pclose(f);
	}
	return k;
}

/* ---- the baseline ------------------------------------------------------------------------ */

static sqlite3 *base_open(const char *path)
{
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return NULL;
	sqlite3_exec(
	    db,
	    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "CREATE TABLE docs(n INTEGER PRIMARY KEY, name TEXT, applicant TEXT, text TEXT, "
	    "id_number TEXT,"
	    " procedure_code TEXT, archived_date TEXT);"
	    "CREATE INDEX docs_id_number ON docs(id_number);"
	    "CREATE INDEX docs_date ON docs(archived_date);"
	    "CREATE VIRTUAL TABLE docs_fts USING fts5(name, applicant, text, content='docs',"
	    " content_rowid='n', tokenize='unicode61 remove_diacritics 2');",
	    NULL, NULL, NULL);
	return db;
}

static int base_insert(sqlite3 *db, sqlite3_stmt *ins, sqlite3_stmt *fts, const char *name,
		       const char *applicant, const char *text, const struct docinfo *d,
		       const char *date)
{
	sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	sqlite3_reset(ins);
	sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, applicant, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 3, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 4, d->id_number, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 5, procedure[d->proc].code, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 6, date, -1, SQLITE_STATIC);
	if (sqlite3_step(ins) != SQLITE_DONE)
		return -1;
	sqlite3_reset(fts);
	sqlite3_bind_int64(fts, 1, sqlite3_last_insert_rowid(db));
	sqlite3_bind_text(fts, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(fts, 3, applicant, -1, SQLITE_STATIC);
	sqlite3_bind_text(fts, 4, text, -1, SQLITE_STATIC);
	if (sqlite3_step(fts) != SQLITE_DONE)
		return -1;
	return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* The same query shape as the archive's: count, then a page of 20 by rank
 * with a snippet; words quoted the same way. */
static long long base_search(sqlite3 *db, const char *fts, const char *id_number, const char *from,
			     const char *to)
{
	char where[256] = " WHERE 1";
	if (fts)
		strcat(where, " AND docs_fts MATCH ?1");
	if (id_number)
		strcat(where, " AND d.id_number = ?2");
	if (from)
		strcat(where, " AND d.archived_date >= ?3");
	if (to)
		strcat(where, " AND d.archived_date <= ?4");
	const char *src =
	    fts ? " FROM docs_fts JOIN docs d ON d.n = docs_fts.rowid" : " FROM docs d";
	char q1[512], q2[768];
	snprintf(q1, sizeof q1, "SELECT count(*)%s%s", src, where);
	snprintf(q2, sizeof q2, "SELECT d.n, d.name%s%s%s ORDER BY %s LIMIT 20",
		 fts ? ", snippet(docs_fts, -1, '[', ']', '…', 16)" : "", src, where,
		 fts ? "docs_fts.rank" : "d.archived_date DESC");
	long long total = 0;
	for (int pass = 0; pass < 2; pass++) {
		sqlite3_stmt *s;
		if (sqlite3_prepare_v2(db, pass ? q2 : q1, -1, &s, NULL) != SQLITE_OK)
			return -1;
		sqlite3_bind_text(s, 1, fts, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, id_number, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, from, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, to, -1, SQLITE_STATIC);
		while (sqlite3_step(s) == SQLITE_ROW)
			if (!pass)
				total = sqlite3_column_int64(s, 0);
			else
				(void)sqlite3_column_text(s, 1);
		sqlite3_finalize(s);
	}
	return total;
}

/* ---- queries ------------------------------------------------------------------------------ */

struct query {
	char q[160];
	char id_number[13];
	char from[11], to[11];
	bool has_d; /* a word whose letter đ the baseline cannot find without diacritics */
};

static bool plain_has_d(const char *vi)
{
	return strstr(vi, "Đ") || strstr(vi, "đ");
}

static void make_queries(struct query *qs, size_t nq, const struct docinfo *docs, size_t n)
{
	for (size_t i = 0; i < nq; i++) {
		struct query *q = &qs[i];
		memset(q, 0, sizeof *q);
		const struct docinfo *d = &docs[pick(n)];
		switch (i % 8) {
		case 0: /* a full name, without diacritics */
			snprintf(q->q, sizeof q->q, "%s %s %s", ho[d->ho].plain, dem[d->dem].plain,
				 ten[d->ten].plain);
			q->has_d = plain_has_d(ho[d->ho].vi) || plain_has_d(dem[d->dem].vi) ||
				   plain_has_d(ten[d->ten].vi);
			break;
		case 1: /* a street, as typed */
			snprintf(q->q, sizeof q->q, "duong %s", street[d->street].plain);
			q->has_d = true;
			break;
		case 2: /* a procedure */
			snprintf(q->q, sizeof q->q, "%s", procedure[d->proc].plain);
			q->has_d = plain_has_d(procedure[d->proc].name);
			break;
		case 3: /* a name with diacritics */
			snprintf(q->q, sizeof q->q, "%s %s", ho[d->ho].vi, ten[d->ten].vi);
			break;
		case 4: /* a citizen's papers: ID number and a word */
			snprintf(q->q, sizeof q->q, "%s", ten[d->ten].plain);
			snprintf(q->id_number, sizeof q->id_number, "%s", d->id_number);
			q->has_d = plain_has_d(ten[d->ten].vi);
			break;
		case 5: { /* a surname in one month */
			snprintf(q->q, sizeof q->q, "%s", ho[d->ho].plain);
			time_t t = (time_t)(d->when + 7 * 3600);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(q->from, sizeof q->from, "%Y-%m-01", &tm);
			strftime(q->to, sizeof q->to, "%Y-%m-28", &tm);
			q->has_d = plain_has_d(ho[d->ho].vi);
			break;
		}
		case 6: /* one common word */
			snprintf(q->q, sizeof q->q, "%s", i % 16 == 6 ? "dang ky" : "ho tich");
			q->has_d = i % 16 == 6;
			break;
		default: /* a prefix, as typed while the clerk is still typing */
			snprintf(q->q, sizeof q->q, "%s %.3s*", ho[d->ho].plain, ten[d->ten].plain);
			q->has_d = plain_has_d(ho[d->ho].vi) || plain_has_d(ten[d->ten].vi);
			break;
		}
	}
}

int main(int argc, char **argv)
{
	const char *ns = getenv("ARCHIVE_BENCH_N"), *ss = getenv("ARCHIVE_BENCH_SEED"),
		   *t = getenv("TMPDIR");
	size_t n = ns ? strtoul(ns, NULL, 10) : 100000;
	rng_state = ss ? strtoull(ss, NULL, 10) : 42;
	uint64_t seed = rng_state;
	char root[512];
	snprintf(root, sizeof root, "%s/archive-bench-XXXXXX",
		 argc > 1  ? argv[1]
		 : t && *t ? t
			   : "/tmp");
	if (n < 100 || !mkdtemp(root)) {
		fprintf(stderr, "archive-bench: N must be >= 100 and %s writable\n", root);
		return 1;
	}
	char dir[600], file[600], bpath[600], msg[512];
	snprintf(dir, sizeof dir, "%s/archive", root);
	snprintf(file, sizeof file, "%s/doc.pdf", root);
	snprintf(bpath, sizeof bpath, "%s/baseline.db", root);
	struct archive *a;
	struct archive_options opt = {.create = true, .retention_years = 10};
	if (archive_open(dir, &opt, &a, msg, sizeof msg) < 0) {
		fprintf(stderr, "archive-bench: %s\n", msg);
		return 1;
	}
	sqlite3 *b = base_open(bpath);
	sqlite3_stmt *ins, *fts;
	sqlite3_prepare_v2(
	    b,
	    "INSERT INTO docs(name, applicant, text, id_number, procedure_code, archived_date)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	    -1, &ins, NULL);
	sqlite3_prepare_v2(
	    b, "INSERT INTO docs_fts(rowid, name, applicant, text) VALUES(?1, ?2, ?3, ?4)", -1,
	    &fts, NULL);
	struct docinfo *docs = calloc(n, sizeof *docs);
	char text[4096], applicant[128], name[160], date[11];
	double t_arch = 0, t_base = 0;
	size_t text_bytes = 0;
	fprintf(stderr, "archive-bench: %zu documents in %s (seed %llu)\n", n, root,
		(unsigned long long)seed);
	for (size_t i = 0; i < n; i++) {
		make_doc(i, &docs[i], text, sizeof text, applicant, sizeof applicant, name,
			 sizeof name);
		text_bytes += strlen(text);
		time_t tt = (time_t)(docs[i].when + 7 * 3600);
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(date, sizeof date, "%Y-%m-%d", &tm);
		/* the "signed PDF": its bytes differ per document */
		FILE *f = fopen(file, "w");
		fprintf(f, "%%PDF-1.7\n%% document %zu\n%s%%%%EOF\n", i, text);
		fclose(f);
		char docid[32], code[48];
		snprintf(docid, sizeof docid, "doc-%zu", i);
		snprintf(code, sizeof code, "000.00.12.H50-%s-%04zu", "250101", i % 10000);
		struct archive_item_in in = {
		    .document_id = docid,
		    .name = name,
		    .dossier_code = code,
		    .procedure_code = procedure[docs[i].proc].code,
		    .id_number = docs[i].id_number,
		    .applicant_name = applicant,
		    .document_type = "to-khai",
		    .text = text,
		    .signature_json = "{\"valid\": true, \"level\": \"B-T\"}",
		    .signed_file = {file, "application/pdf"},
		    .archived_unix = docs[i].when,
		};
		double t0 = now_s();
		if (archive_ingest(a, &in, NULL, NULL, msg, sizeof msg) < 0) {
			fprintf(stderr, "archive-bench: ingest %zu: %s\n", i, msg);
			return 1;
		}
		double t1 = now_s();
		if (base_insert(b, ins, fts, name, applicant, text, &docs[i], date) < 0) {
			fprintf(stderr, "archive-bench: baseline insert %zu: %s\n", i,
				sqlite3_errmsg(b));
			return 1;
		}
		double t2 = now_s();
		t_arch += t1 - t0;
		t_base += t2 - t1;
		if ((i + 1) % 10000 == 0)
			fprintf(stderr, "  %zu documents: archive %.0f/s, baseline %.0f/s\n", i + 1,
				(double)(i + 1) / t_arch, (double)(i + 1) / t_base);
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(fts);

	/* searches */
	size_t nq = 400;
	struct query *qs = calloc(nq, sizeof *qs);
	make_queries(qs, nq, docs, n);
	double *la = calloc(nq, sizeof *la), *lb = calloc(nq, sizeof *lb);
	long long hits_a = 0, hits_b = 0, hits_a_d = 0, hits_b_d = 0;
	size_t missed = 0, n_d = 0;
	for (size_t i = 0; i < 20; i++) { /* warm the page cache */
		json_t *q = json_pack("{s:s}", "q", qs[i].q), *res = NULL;
		archive_search(a, q, &res, msg, sizeof msg);
		json_decref(q);
		json_decref(res);
	}
	for (size_t i = 0; i < nq; i++) {
		struct query *q = &qs[i];
		json_t *jq = json_pack("{s:s, s:i}", "q", q->q, "limit", 20);
		if (q->id_number[0])
			json_object_set_new(jq, "id_number", json_string(q->id_number));
		if (q->from[0]) {
			json_object_set_new(jq, "from", json_string(q->from));
			json_object_set_new(jq, "to", json_string(q->to));
		}
		json_t *res = NULL;
		double t0 = now_s();
		int r = archive_search(a, jq, &res, msg, sizeof msg);
		double t1 = now_s();
		bool empty;
		char *fq = archive_fts_query(q->q, &empty);
		long long bt = base_search(b, fq, q->id_number[0] ? q->id_number : NULL,
					   q->from[0] ? q->from : NULL, q->to[0] ? q->to : NULL);
		double t2 = now_s();
		free(fq);
		if (r < 0) {
			fprintf(stderr, "archive-bench: search '%s': %s\n", q->q, msg);
			return 1;
		}
		long long at = json_integer_value(json_object_get(res, "total"));
		la[i] = (t1 - t0) * 1000;
		lb[i] = (t2 - t1) * 1000;
		hits_a += at;
		hits_b += bt;
		if (q->has_d) {
			n_d++;
			hits_a_d += at;
			hits_b_d += bt;
		}
		if (bt < at)
			missed++;
		json_decref(jq);
		json_decref(res);
	}
	double a50 = pct(la, nq, 0.5), a95 = pct(la, nq, 0.95), b50 = pct(lb, nq, 0.5),
	       b95 = pct(lb, nq, 0.95);
	double amax = la[nq - 1], bmax = lb[nq - 1];
	archive_close(a);
	sqlite3_close(b);
	long long ka = du_kib(dir), kb = du_kib(bpath);
	printf("\narchive-bench: %zu documents of generated Vietnamese text (%.0f bytes of text on "
	       "average), seed %llu\n",
	       n, (double)text_bytes / (double)n, (unsigned long long)seed);
	printf("%-44s %18s %18s\n", "", "archive-sqlite", "baseline FTS5");
	printf("%-44s %18.0f %18.0f\n", "ingest, documents/s (1 transaction each)",
	       (double)n / t_arch, (double)n / t_base);
	printf("%-44s %18.2f %18.2f\n", "ingest, ms per document", t_arch * 1000 / (double)n,
	       t_base * 1000 / (double)n);
	printf("%-44s %18.2f %18.2f\n", "search p50, ms (count + 20 by rank + snippet)", a50, b50);
	printf("%-44s %18.2f %18.2f\n", "search p95, ms", a95, b95);
	printf("%-44s %18.2f %18.2f\n", "search max, ms", amax, bmax);
	printf("%-44s %18lld %18lld\n", "hits, all queries", hits_a, hits_b);
	printf("%-44s %18lld %18lld\n", "hits, queries with a d typed for đ", hits_a_d, hits_b_d);
	printf("%-44s %18s %18zu\n", "queries that found fewer (of 400)", "-", missed);
	printf("%-44s %18.1f %18.1f\n", "on disk, MiB (archive: db + blobs)", (double)ka / 1024,
	       (double)kb / 1024);
	printf("(%zu queries, %zu of them with a d typed for đ; baseline: one SQLite table + FTS5 "
	       "'unicode61\n"
	       " remove_diacritics 2' over the raw text, one transaction per document, "
	       "synchronous=FULL, WAL,\n"
	       " no blob file, no audit entry; the archive: blob written + fsynced + renamed, "
	       "rows, FTS5 with\n"
	       " the motcua_vi tokenizer, audit entry, one transaction, synchronous=FULL, WAL)\n",
	       nq, n_d);
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "archive-bench: could not remove %s\n", root);
	free(docs);
	free(qs);
	free(la);
	free(lb);
	return 0;
}
