/* SPDX-License-Identifier: MIT */
/*
 * Tests of the ocr-tesseract plugin, loaded as the gateway loads it through
 * the SDK's test host (motcua/testhost.h), which the test asks for the step
 * and page functions. Pages come from tests/make_pages.py (deterministic), the
 * merged PDF is checked with pdftotext, pdfinfo and qpdf. The tools are
 * installed by packaging/install-deps.sh: a missing one fails the test.
 *
 *   test-ocr-tesseract              all tests (exit 0 pass, 1 fail)
 *   test-ocr-tesseract unit         the text helpers only (no Tesseract)
 *   test-ocr-tesseract bench DIR [--preprocess LIST] [--psm N] [--threads N]
 *                                   [--repeat N]
 *       runs every page-NNN.{png,jpg,tif} of DIR (with its page-NNN.txt)
 *       through page_fn and prints the CER, seconds (wall and CPU) per page,
 *       and the means; OCR_TEST_KEEP=1 keeps the PDFs and JSON made.
 *
 * Environment: OCR_PLUGIN (the .so), OCR_TESTS_DIR (make_pages.py, cer.py),
 * OCR_PYTHON (a python3 with PIL), OMP_THREAD_LIMIT=1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <motcua/plugin.h>
#include <motcua/testhost.h>

#include "text.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- small helpers ---- */

static char *read_text(const char *path, size_t *plen)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *t = realloc(buf, cap *= 2);
			if (!t) {
				free(buf);
				buf = NULL;
			}
			buf = t;
		}
	}
	fclose(f);
	if (buf)
		buf[len] = 0;
	if (plen)
		*plen = len;
	return buf;
}

/* Runs a command (argv), returns its exit status; its stdout goes to *out
 * (malloc()ed) when out is not NULL. */
static int run(char *const argv[], char **out)
{
	int pipefd[2];
	if (out && pipe(pipefd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (out) {
			dup2(pipefd[1], 1);
			close(pipefd[0]);
			close(pipefd[1]);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (out) {
		close(pipefd[1]);
		size_t cap = 4096, len = 0;
		char *buf = malloc(cap);
		ssize_t n;
		while (buf && (n = read(pipefd[0], buf + len, cap - len - 1)) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			len += (size_t)n;
			if (cap - len < 2)
				buf = realloc(buf, cap *= 2);
		}
		close(pipefd[0]);
		if (buf)
			buf[len] = 0;
		*out = buf;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool have_program(const char *name)
{
	char *argv[] = {(char *)"sh", (char *)"-c", NULL, NULL};
	char cmd[256];
	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
	argv[2] = cmd;
	return run(argv, NULL) == 0;
}

static bool same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *x = read_text(a, &la), *y = read_text(b, &lb);
	bool same = x && y && la == lb && !memcmp(x, y, la);
	free(x);
	free(y);
	return same;
}

/* ---- CER, as tests/cer.py computes it ---- */

static size_t to_codepoints(const char *s, uint32_t **out)
{
	/* NFC, whitespace runs as one space, ends stripped */
	char *nfc = ocr_nfc(s, strlen(s));
	size_t n = 0, len = strlen(nfc);
	uint32_t *cps = malloc((len + 1) * sizeof *cps);
	bool space = false;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)nfc[i];
		uint32_t cp;
		size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		cp = l == 1 ? c : c & (0xFF >> (l + 1));
		for (size_t k = 1; k < l && i + k < len; k++)
			cp = cp << 6 | ((unsigned char)nfc[i + k] & 0x3F);
		i += l;
		bool ws =
		    cp == ' ' || cp == '\n' || cp == '\t' || cp == '\r' || cp == '\f' || cp == '\v';
		if (ws) {
			space = n > 0;
			continue;
		}
		if (space)
			cps[n++] = ' ';
		space = false;
		cps[n++] = cp;
	}
	free(nfc);
	*out = cps;
	return n;
}

static double cer(const char *ref, const char *hyp)
{
	uint32_t *a, *b;
	size_t na = to_codepoints(ref, &a), nb = to_codepoints(hyp, &b);
	size_t *prev = malloc((nb + 1) * sizeof *prev), *cur = malloc((nb + 1) * sizeof *cur);
	for (size_t j = 0; j <= nb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= na; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t d = prev[j - 1] + (a[i - 1] != b[j - 1]);
			if (prev[j] + 1 < d)
				d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			cur[j] = d;
		}
		size_t *t = prev;
		prev = cur;
		cur = t;
	}
	double r = na ? (double)prev[nb] / (double)na : (nb ? 1.0 : 0.0);
	free(prev);
	free(cur);
	free(a);
	free(b);
	return r;
}

/* ---- unit tests of the text helpers ---- */

static const char *python(void)
{
	const char *p = getenv("OCR_PYTHON");
	return p && p[0] ? p : NULL;
}

static void test_nfc(void)
{
	CHECK(ocr_compose_table_size() == 497, "%zu pairs", ocr_compose_table_size());
	/* Python is the oracle: every Vietnamese letter, decomposed and with its
	 * marks in every order, must come back as Python's NFC */
	static const char script[] =
	    "import itertools, unicodedata as u\n"
	    "V = 'aăâeêioôơuưyAĂÂEÊIOÔƠUƯYđĐ'\n"
	    "for ch in V:\n"
	    "  for t in ['', '\\u0300', '\\u0301', '\\u0303', '\\u0309', '\\u0323']:\n"
	    "    nfc = u.normalize('NFC', ch + t)\n"
	    "    d = u.normalize('NFD', nfc)\n"
	    "    for p in set(itertools.permutations(d[1:])):\n"
	    "      s = d[0] + ''.join(p)\n"
	    "      print(s.encode('unicode_escape').decode() + '\\t' + u.normalize('NFC', s))\n"
	    "for cp in list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):\n"
	    "  c = chr(cp); d = u.normalize('NFD', c)\n"
	    "  if d != c and u.normalize('NFC', d) == c:\n"
	    "    print(d.encode('unicode_escape').decode() + '\\t' + c)\n"
	    "print('Nguye\\u0302\\u0303n Thi\\u0323 Ho\\u0302\\u0300ng\\tNguyễn Thị Hồng')\n"
	    "print('x\\u0341y\\u0340\\t' + u.normalize('NFC', 'x\\u0341y\\u0340'))\n"
	    "print('q\\u0323\\u0302 a\\u0308\\u0301\\t' + u.normalize('NFC', 'q\\u0323\\u0302 "
	    "a\\u0308\\u0301'))\n";
	if (!python()) {
		CHECK(0, "no NFC oracle: python3 with PIL (python3-pil) is missing: "
			 "packaging/install-deps.sh test");
		return;
	}
	char *argv[] = {(char *)python(), (char *)"-c", (char *)script, NULL}, *out = NULL;
	CHECK(run(argv, &out) == 0 && out, "python oracle");
	int lines = 0;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(l, '\t');
		if (!tab)
			continue;
		*tab = 0;
		/* undo unicode_escape: \uXXXX and \xXX */
		char in[256];
		size_t o = 0;
		for (char *p = l; *p && o < sizeof in - 8;) {
			if (p[0] == '\\' && (p[1] == 'u' || p[1] == 'x')) {
				int digits = p[1] == 'u' ? 4 : 2;
				char hex[5] = {0};
				memcpy(hex, p + 2, (size_t)digits);
				unsigned cp = (unsigned)strtoul(hex, NULL, 16);
				if (cp < 0x80) {
					in[o++] = (char)cp;
				} else if (cp < 0x800) {
					in[o++] = (char)(0xC0 | cp >> 6);
					in[o++] = (char)(0x80 | (cp & 0x3F));
				} else {
					in[o++] = (char)(0xE0 | cp >> 12);
					in[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
					in[o++] = (char)(0x80 | (cp & 0x3F));
				}
				p += 2 + digits;
			} else {
				in[o++] = *p++;
			}
		}
		in[o] = 0;
		char *got = ocr_nfc(in, o);
		CHECK(got && !strcmp(got, tab + 1), "NFC of %s: got %s, want %s", l, got, tab + 1);
		free(got);
		lines++;
	}
	CHECK(lines > 600, "%d oracle lines", lines);
	free(out);

	/* invalid UTF-8 becomes U+FFFD; NUL-free ASCII passes */
	char *got = ocr_nfc("a\xff"
			    "b\xc3",
			    4);
	CHECK(got && !strcmp(got, "a\xef\xbf\xbd"
				  "b\xef\xbf\xbd"),
	      "invalid UTF-8: %s", got);
	free(got);
}

static void expect_array(json_t *fields, const char *key, const char *const *want, const char *text)
{
	json_t *a = json_object_get(fields, key);
	size_t n = 0;
	while (want[n])
		n++;
	CHECK(json_is_array(a) && json_array_size(a) == n, "%s of \"%s\": %zu entries, want %zu",
	      key, text, json_array_size(a), n);
	for (size_t i = 0; i < n && i < json_array_size(a); i++)
		CHECK(!strcmp(json_string_value(json_array_get(a, i)), want[i]),
		      "%s[%zu] of \"%s\": %s, want %s", key, i, text,
		      json_string_value(json_array_get(a, i)), want[i]);
}

static void test_fields(void)
{
	static const struct {
		const char *text;
		const char *ids[4], *dates[4], *codes[3];
	} cases[] = {
	    {"Số định danh cá nhân: 001203004567\nNgày, tháng, năm sinh: 05/03/2026",
	     {"001203004567"},
	     {"05/03/2026"},
	     {NULL}},
	    {"CCCD 001 203 004 567 và 079.301.271.952; lại 001203004567",
	     {"001203004567", "079301271952"},
	     {NULL},
	     {NULL}},
	    {"số tiền 100.000.000.000 đồng, tài khoản 0012030045678, mã 12345678901",
	     {NULL},
	     {NULL},
	     {NULL}},
	    {"ngày 5 tháng 3 năm 2026, Ngày  23  tháng 8\nnăm 2026; NGÀY 01 THÁNG 12 NĂM 1999",
	     {NULL},
	     {"05/03/2026", "23/08/2026", "01/12/1999"},
	     {NULL}},
	    {"5/3/2026 05-03-2026 31/02/2026 29/02/2024 29/02/2023 1/13/2020 12/05/20260 7.8.2025",
	     {NULL},
	     {"05/03/2026", "29/02/2024", "07/08/2025"},
	     {NULL}},
	    {"Mã hồ sơ: 000.00.12.H50-261128-0007 và 000.00.31.H29-260823-8864, sai: "
	     "H50-261128-0007, "
	     "000.00.12.H50-261332-0007, 000.00.12.H50-261128-07",
	     {NULL},
	     {NULL},
	     {"000.00.12.H50-261128-0007", "000.00.31.H29-260823-8864"}},
	    {"", {NULL}, {NULL}, {NULL}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *f = ocr_fields(cases[i].text);
		CHECK(f, "fields of case %zu", i);
		if (!f)
			continue;
		expect_array(f, "id_numbers", cases[i].ids, cases[i].text);
		expect_array(f, "dates", cases[i].dates, cases[i].text);
		expect_array(f, "dossier_codes", cases[i].codes, cases[i].text);
		json_decref(f);
	}
}

static void test_cer_matches_python(const char *tmp)
{
	if (!python()) {
		CHECK(0, "cer.py not run: python3 with PIL (python3-pil) is missing: "
			 "packaging/install-deps.sh test");
		return;
	}
	char a[4096], b[4096], cerpy[4096];
	snprintf(a, sizeof a, "%s/cer-a.txt", tmp);
	snprintf(b, sizeof b, "%s/cer-b.txt", tmp);
	snprintf(cerpy, sizeof cerpy, "%s/cer.py", getenv("OCR_TESTS_DIR"));
	const char *ra = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\n";
	const char *rb = "CONG HÒA XÃ  HỘI CHU NGHIA VIET NAM Độc lập -Tự do - Hạnh phúc\f";
	FILE *f = fopen(a, "w");
	fputs(ra, f);
	fclose(f);
	f = fopen(b, "w");
	fputs(rb, f);
	fclose(f);
	char *argv[] = {(char *)python(), cerpy, a, b, NULL}, *out = NULL;
	CHECK(run(argv, &out) == 0 && out, "cer.py");
	double py = out ? atof(out) : -1, c = cer(ra, rb);
	CHECK(fabs(py - c) < 1e-4, "cer.py %f, C %f", py, c);
	free(out);
}

/* ---- the test host (motcua/testhost.h) ---- */

static struct motcua_testhost *th;
static const struct motcua_plugin_info *plugin;
static bool verbose;

static const char *last_error(void)
{
	return motcua_testhost_log_last_error(th);
}

static int plugin_load(void)
{
	const char *path = getenv("OCR_PLUGIN");
	if (!path) {
		fprintf(stderr, "OCR_PLUGIN is not set\n");
		return -1;
	}
	th = motcua_testhost_new();
	if (!th || motcua_testhost_load(th, path) < 0) {
		fprintf(stderr, "%s\n", th ? motcua_testhost_error(th) : "no test host");
		return -1;
	}
	plugin = motcua_testhost_info(th);
	return 0;
}

/* Starts the plugin with config (key, value, ..., NULL; a NULL value leaves
 * its key unset). */
static int plugin_start(const char *first, ...)
{
	va_list ap;
	motcua_testhost_config(th, NULL);
	va_start(ap, first);
	for (const char *k = first; k; k = va_arg(ap, const char *))
		motcua_testhost_config_set(th, NULL, k, va_arg(ap, const char *));
	va_end(ap);
	motcua_testhost_set_echo(th, verbose ? MOTCUA_LOG_DEBUG : MOTCUA_LOG_WARNING);
	motcua_testhost_log_clear(th);
	return motcua_testhost_start(th);
}

static void plugin_stop(void)
{
	motcua_testhost_stop(th);
}

/* The plugin's page and document functions, on the calling thread (one of
 * the test's, as one of the gateway's workers). */
static int page_fn(struct motcua_page_io *io)
{
	return motcua_testhost_page_step(th, MOTCUA_STEP_RECOGNIZE, io);
}

static int step_fn(struct motcua_step_io *io)
{
	return motcua_testhost_step(th, MOTCUA_STEP_RECOGNIZE, io);
}

/* ---- pages ---- */

struct job {
	char image[4096], truth[4096], out[4096], meta[4096];
	uint32_t page_no;
	int rc;
	char message[256];
	double seconds, cpu_seconds;
	pthread_t thread;
	double cer;
	json_t *result;
};

struct pool {
	struct job *jobs;
	size_t n;
	atomic_size_t next;
};

static void job_run(struct job *j)
{
	struct motcua_page_io io = {
	    .struct_size = sizeof io,
	    .dossier_code = "000.00.12.H50-261128-0007",
	    .document_id = "doc-1",
	    .page_no = j->page_no,
	    .media_type = strstr(j->image, ".jpg") ? "image/jpeg" : "image/png",
	    .path = j->image,
	    .out_path = j->out,
	    .meta_path = j->meta,
	};
	double t0 = now(), c0 = cpu_now();
	j->rc = page_fn(&io);
	j->seconds = now() - t0;
	j->cpu_seconds = cpu_now() - c0;
	j->thread = pthread_self();
	snprintf(j->message, sizeof j->message, "%s", io.message);
	json_decref(j->result);
	j->result = j->rc == 0 ? json_load_file(j->meta, 0, NULL) : NULL;
	j->cer = -1;
	if (j->result && j->truth[0]) {
		char *truth = read_text(j->truth, NULL);
		if (truth)
			j->cer = cer(truth, json_string_value(json_object_get(j->result, "text")));
		free(truth);
	}
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	size_t i;
	while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
		job_run(&p->jobs[i]);
	return NULL;
}

static void run_jobs(struct job *jobs, size_t n, int threads)
{
	struct pool p = {.jobs = jobs, .n = n};
	pthread_t t[16];
	if (threads > 16)
		threads = 16;
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, &p);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
}

static int make_pages(const char *dir, const char *count, const char *seed,
		      const char *const *extra)
{
	char script[4096];
	snprintf(script, sizeof script, "%s/make_pages.py", getenv("OCR_TESTS_DIR"));
	char *argv[32] = {(char *)python(),  script,	    (char *)"--out",  (char *)dir,
			  (char *)"--count", (char *)count, (char *)"--seed", (char *)seed};
	size_t n = 8;
	for (size_t i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	return run(argv, NULL);
}

static void job_init(struct job *j, const char *dir, const char *base, const char *outdir,
		     uint32_t page_no)
{
	memset(j, 0, sizeof *j);
	snprintf(j->image, sizeof j->image, "%s/%s", dir, base);
	char stem[256];
	snprintf(stem, sizeof stem, "%s", base);
	char *dot = strrchr(stem, '.');
	if (dot)
		*dot = 0;
	snprintf(j->truth, sizeof j->truth, "%s/%s.txt", dir, stem);
	if (access(j->truth, R_OK) != 0)
		j->truth[0] = 0;
	snprintf(j->out, sizeof j->out, "%s/%s.pdf", outdir, stem);
	snprintf(j->meta, sizeof j->meta, "%s/%s.json", outdir, stem);
	j->page_no = page_no;
}

static long status_kib(const char *field)
{
	char *s = read_text("/proc/self/status", NULL);
	long v = -1;
	char *p = s ? strstr(s, field) : NULL;
	if (p)
		v = strtol(p + strlen(field), NULL, 10);
	free(s);
	return v;
}

static long rss_kib(void)
{
	return status_kib("VmRSS:");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int bench(int argc, char **argv)
{
	const char *dir = NULL, *prep = NULL, *psm = NULL;
	int threads = 1, repeat = 1;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--preprocess") && i + 1 < argc)
			prep = argv[++i];
		else if (!strcmp(argv[i], "--psm") && i + 1 < argc)
			psm = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-v"))
			verbose = true;
		else
			dir = argv[i];
	}
	if (!dir || plugin_load() < 0)
		return 2;
	long rss0 = rss_kib();
	if (plugin_start("preprocess", prep, "psm", psm, NULL) != 0) {
		fprintf(stderr, "init failed: %s\n", last_error());
		return 1;
	}
	char *names[1024];
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) && n < 1024)
		if (!strncmp(de->d_name, "page-", 5) &&
		    (strstr(de->d_name, ".png") || strstr(de->d_name, ".jpg") ||
		     strstr(de->d_name, ".tif")))
			names[n++] = strdup(de->d_name);
	if (d)
		closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	char outdir[] = "/tmp/ocr-bench-XXXXXX";
	if (!mkdtemp(outdir))
		return 1;
	struct job *jobs = calloc(n * (size_t)repeat, sizeof *jobs);
	for (int r = 0; r < repeat; r++)
		for (size_t i = 0; i < n; i++)
			job_init(&jobs[(size_t)r * n + i], dir, names[i], outdir,
				 (uint32_t)(i + 1));
	double t0 = now();
	run_jobs(jobs, n * (size_t)repeat, threads);
	double wall = now() - t0, sum_cer = 0, sum_s = 0, sum_cpu = 0;
	size_t ok = 0;
	for (size_t i = 0; i < n * (size_t)repeat; i++) {
		struct job *j = &jobs[i];
		json_t *res = j->result;
		printf("%s rc=%d cer=%.4f s=%.2f cpu=%.2f rotated=%lld skew=%.2f conf=%.1f %s\n",
		       names[i % n], j->rc, j->cer, j->seconds, j->cpu_seconds,
		       res ? json_integer_value(json_object_get(res, "rotated")) : 0,
		       res ? json_number_value(json_object_get(res, "skew")) : 0.0,
		       res ? json_number_value(json_object_get(res, "confidence")) : 0.0,
		       j->rc ? j->message : "");
		if (j->rc == 0 && j->cer >= 0) {
			sum_cer += j->cer;
			ok++;
		}
		sum_s += j->seconds;
		sum_cpu += j->cpu_seconds;
	}
	long rss1 = rss_kib();
	printf("mean cer=%.4f over %zu pages; %.2f s/page in page_fn (%.2f s CPU); wall %.1f s "
	       "with %d threads; "
	       "rss %ld MiB -> %ld MiB, peak %ld MiB\n",
	       ok ? sum_cer / (double)ok : -1.0, ok, sum_s / (double)(n * (size_t)repeat),
	       sum_cpu / (double)(n * (size_t)repeat), wall, threads, rss0 / 1024, rss1 / 1024,
	       status_kib("VmHWM:") / 1024);
	plugin_stop();
	bool keep = getenv("OCR_TEST_KEEP");
	for (size_t i = 0; i < n * (size_t)repeat; i++) {
		if (!keep) {
			unlink(jobs[i].out);
			unlink(jobs[i].meta);
		}
		json_decref(jobs[i].result);
	}
	if (keep)
		printf("outputs kept in %s\n", outdir);
	else
		rmdir(outdir);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(jobs);
	motcua_testhost_free(th);
	return 0;
}

/* ---- the plugin tests ---- */

static void test_info(void)
{
	CHECK(plugin->abi == MOTCUA_ABI_VERSION, "abi %u", plugin->abi);
	CHECK(!strcmp(plugin->name, "ocr-tesseract"), "name %s", plugin->name);
	CHECK(plugin->provides == MOTCUA_PROVIDES_RECOGNIZE, "provides %u", plugin->provides);
	static const char *const want[] = {"languages",	 "tessdata_dir", "low_confidence",
					   "preprocess", "psm",		 "max_page_pixels"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		bool found = false;
		for (const struct motcua_config_key *k = plugin->config_keys; k && k->name; k++)
			if (!strcmp(k->name, want[i]))
				found = k->help && k->help[0];
		CHECK(found, "config key %s with help", want[i]);
	}
}

static void test_bad_config(void)
{
	static const struct {
		const char *key, *value, *mention;
	} bad[] = {
	    {"languages", "xyz", "xyz.traineddata"},
	    {"languages", "vie+", "languages"},
	    {"languages", "../etc", "languages"},
	    {"tessdata_dir", "/nonexistent", "tessdata_dir"},
	    {"low_confidence", "101", "low_confidence"},
	    {"low_confidence", "high", "low_confidence"},
	    {"preprocess", "orient,sharpen", "sharpen"},
	    {"preprocess", "none,deskew", "preprocess"},
	    {"preprocess", "", "preprocess"},
	    {"psm", "2", "psm"},
	    {"psm", "14", "psm"},
	    {"max_page_pixels", "lots", "max_page_pixels"},
	    {"max_page_pixels", "10", "max_page_pixels"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = plugin_start(bad[i].key, bad[i].value, NULL);
		CHECK(r == -EINVAL, "%s=%s: init gave %d", bad[i].key, bad[i].value, r);
		CHECK(strstr(last_error(), bad[i].mention), "%s=%s: log \"%s\" names %s",
		      bad[i].key, bad[i].value, last_error(), bad[i].mention);
		if (r == 0)
			plugin_stop();
	}
	/* a host without page steps is refused */
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_BEFORE(page_step_register));
	CHECK(plugin_start(NULL) == -ENOTSUP, "old host");
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_FULL);
}

struct doc_pages {
	const char *paths[16], *metas[16], *images[16], *types[16];
	size_t n;
};

static int finish(const struct doc_pages *d, const char *out, const char *meta,
		  struct motcua_step_io *io)
{
	memset(io, 0, sizeof *io);
	io->struct_size = sizeof *io;
	io->dossier_code = "000.00.12.H50-261128-0007";
	io->document_id = "doc-1";
	io->document_name = "Tờ khai đăng ký khai sinh";
	io->media_type = "image/png";
	io->path = d->n ? d->images[0] : "/dev/null";
	io->out_path = out;
	io->meta_path = meta;
	io->n_pages = d->n;
	io->page_paths = d->images;
	io->page_media_types = d->types;
	io->page_out_paths = d->paths;
	io->page_meta_paths = d->metas;
	return step_fn(io);
}

static bool contains_nfc(const char *haystack, const char *needle)
{
	char *h = ocr_nfc(haystack, strlen(haystack));
	bool r = h && strstr(h, needle);
	free(h);
	return r;
}

/* The image in a page PDF is the page as it came: an unchanged 8-bit PNG's
 * pixels exactly (its compressed rows are copied, not re-encoded), and a
 * bilevel PNG's page white, not inverted (black on white, checked on a
 * rendering); a straightened gray page is a lossless (flate) gray image of
 * the page's size, white too, copied from a PNG (its rows carry PNG
 * predictors: not deflated again by Tesseract). */
static void test_page_image(const char *tmp, const char *outdir, const char *png, const char *pdf,
			    const char *skewed_pdf)
{
	if (!python() || !have_program("pdfimages") || !have_program("pdftoppm")) {
		CHECK(0, "the page images not checked: python3-pil or poppler-utils (pdfimages, "
			 "pdftoppm) missing: "
			 "packaging/install-deps.sh test");
		return;
	}
	char bw[4096], bwpdf[4096], bwmeta[4096], script[4096];
	snprintf(bw, sizeof bw, "%s/bilevel.png", tmp);
	snprintf(bwpdf, sizeof bwpdf, "%s/bilevel.pdf", outdir);
	snprintf(bwmeta, sizeof bwmeta, "%s/bilevel.json", outdir);
	snprintf(
	    script, sizeof script,
	    "import subprocess, sys, tempfile, os\n"
	    "from PIL import Image, ImageChops, ImageStat\n"
	    "png, pdf, bw, bwpdf = sys.argv[1:5]\n"
	    "if len(sys.argv) > 6:\n"
	    "    Image.open(png).point(lambda v: 255 if v > 127 else 0).convert('1').save(bw, "
	    "dpi=(300, 300))\n"
	    "    sys.exit(0)\n"
	    "d = tempfile.mkdtemp(dir=os.path.dirname(pdf))\n"
	    "subprocess.run(['pdfimages', '-png', pdf, d + '/im'], check=True)\n"
	    "a = Image.open(d + '/im-000.png').convert('L'); b = Image.open(png).convert('L')\n"
	    "same = a.size == b.size and ImageChops.difference(a, b).getbbox() is None\n"
	    "subprocess.run(['pdftoppm', '-r', '30', '-gray', bwpdf, d + '/bw'], check=True)\n"
	    "m = ImageStat.Stat(Image.open(d + '/bw-1.pgm')).mean[0]\n"
	    "skewed = sys.argv[5]\n"
	    "rows = subprocess.run(['pdfimages', '-list', skewed], check=True, capture_output=True,"
	    " text=True).stdout.splitlines()[2:]\n"
	    "f = rows[0].split() if len(rows) == 1 else []\n"
	    "flate = f[3:9] == ['2480', '3508', 'gray', '1', '8', 'image'] if f else False\n"
	    "flate = flate and b'/Predictor 14' in open(skewed, 'rb').read()\n"
	    "subprocess.run(['pdftoppm', '-r', '30', '-gray', skewed, d + '/sk'], check=True)\n"
	    "ms = ImageStat.Stat(Image.open(d + '/sk-1.pgm')).mean[0]\n"
	    "print('%%d %%.1f %%d %%.1f %%s' %% (same, m, flate, ms, '/'.join(f[3:9])))\n");
	char *mk[] = {(char *)python(), "-c", script, (char *)png, (char *)pdf, bw, bwpdf, "-",
		      "make",		NULL};
	CHECK(run(mk, NULL) == 0, "bilevel page made");
	struct motcua_page_io io = {.struct_size = sizeof io,
				    .page_no = 1,
				    .media_type = "image/png",
				    .path = bw,
				    .out_path = bwpdf,
				    .meta_path = bwmeta};
	int r = page_fn(&io);
	CHECK(r == 0, "bilevel page: %d %s", r, io.message);
	char *cmp[] = {(char *)python(),   "-c", script, (char *)png, (char *)pdf, bw, bwpdf,
		       (char *)skewed_pdf, NULL},
	     *out = NULL;
	CHECK(run(cmp, &out) == 0 && out, "page images compared");
	int same = 0, flate = 0;
	double mean = 0, skewed_mean = 0;
	char how[128] = "";
	if (out &&
	    sscanf(out, "%d %lf %d %lf %127s", &same, &mean, &flate, &skewed_mean, how) >= 4) {
		CHECK(same == 1, "the page PDF's image is the PNG's pixels");
		CHECK(mean > 200, "the bilevel page is white in its PDF (mean %.1f of 255)", mean);
		CHECK(flate == 1,
		      "the straightened page is a gray PNG's rows, of the page's size: %s", how);
		CHECK(skewed_mean > 200,
		      "the straightened page is white in its PDF (mean %.1f of 255)", skewed_mean);
	} else {
		CHECK(0, "page image comparison printed %s", out ? out : "nothing");
	}
	free(out);
}

static void test_pages(const char *tmp)
{
	char clean[4096], skewed[4096], upside[4096], side[4096], outdir[4096];
	snprintf(clean, sizeof clean, "%s/clean", tmp);
	snprintf(skewed, sizeof skewed, "%s/skewed", tmp);
	snprintf(upside, sizeof upside, "%s/upside", tmp);
	snprintf(side, sizeof side, "%s/side", tmp);
	snprintf(outdir, sizeof outdir, "%s/out", tmp);
	mkdir(outdir, 0755);
	static const char *const skew_args[] = {"--skew", "1",	     "3", "--noise",
						"0.002",  "--first", "3", NULL};
	static const char *const upside_args[] = {"--rotate", "180", "--format", "jpg",
						  "--first",  "5",   NULL};
	static const char *const side_args[] = {"--rotate", "90",      "--skew", "1",
						"2",	    "--first", "6",	 NULL};
	CHECK(make_pages(clean, "2", "11", NULL) == 0, "make_pages clean");
	CHECK(make_pages(skewed, "2", "12", skew_args) == 0, "make_pages skewed");
	CHECK(make_pages(upside, "1", "13", upside_args) == 0, "make_pages upside-down");
	CHECK(make_pages(side, "1", "14", side_args) == 0, "make_pages sideways");

	int r = plugin_start(NULL);
	CHECK(r == 0, "init: %d %s", r, last_error());
	if (r)
		return;
	CHECK(motcua_testhost_has_step(th, MOTCUA_STEP_RECOGNIZE) &&
		  motcua_testhost_has_page_step(th, MOTCUA_STEP_RECOGNIZE),
	      "step and page functions registered");
	CHECK(motcua_testhost_registrations(th) == 2 &&
		  !motcua_testhost_has_step(th, MOTCUA_STEP_SIGN) &&
		  !motcua_testhost_has_step(th, MOTCUA_STEP_ARCHIVE),
	      "it registered %zu things: the recognize step and its pages only",
	      motcua_testhost_registrations(th));

	/* a blank page, as a PGM without a resolution (taken for A4) */
	char blank[4096];
	snprintf(blank, sizeof blank, "%s/blank.pgm", tmp);
	FILE *bf = fopen(blank, "wb");
	fprintf(bf, "P5\n2480 3508\n255\n");
	for (int y = 0; y < 3508; y++)
		for (int x = 0; x < 2480; x++)
			fputc(250, bf);
	fclose(bf);

	/* the document: clean 1-2, skewed+noisy 3-4, upside down 5 (JPEG),
	 * sideways 6, blank 7, on three threads at once */
	struct job jobs[8];
	job_init(&jobs[0], clean, "page-001.png", outdir, 1);
	job_init(&jobs[1], clean, "page-002.png", outdir, 2);
	job_init(&jobs[2], skewed, "page-003.png", outdir, 3);
	job_init(&jobs[3], skewed, "page-004.png", outdir, 4);
	job_init(&jobs[4], upside, "page-005.jpg", outdir, 5);
	job_init(&jobs[5], side, "page-006.png", outdir, 6);
	job_init(&jobs[6], tmp, "blank.pgm", outdir, 7);
	double t0 = now();
	run_jobs(jobs, 7, 3);
	fprintf(stderr, "7 pages on 3 threads in %.1f s\n", now() - t0);
	/* page 1 again, on a new thread: the pool's threads are gone with their
	 * engines, so this is a new engine with no history */
	job_init(&jobs[7], clean, "page-001.png", outdir, 1);
	snprintf(jobs[7].out, sizeof jobs[7].out, "%s/again-001.pdf", outdir);
	snprintf(jobs[7].meta, sizeof jobs[7].meta, "%s/again-001.json", outdir);
	run_jobs(&jobs[7], 1, 1);

	bool several_threads = false;
	for (int i = 0; i < 8; i++) {
		struct job *j = &jobs[i];
		fprintf(stderr, "page %u (%s): rc %d, %.2f s, CER %.4f, %s\n", j->page_no,
			strrchr(j->image, '/') + 1, j->rc, j->seconds, j->cer, j->message);
		CHECK(j->rc == 0, "page %u: %d %s", j->page_no, j->rc, j->message);
		several_threads |= i < 7 && !pthread_equal(j->thread, jobs[0].thread);
	}
	CHECK(several_threads, "pages ran on several threads");
	json_t *m7 = jobs[6].result;
	CHECK(m7 && json_integer_value(json_object_get(m7, "words")) == 0 &&
		  json_is_true(json_object_get(m7, "low_confidence")),
	      "blank page flagged");
	CHECK(jobs[0].cer >= 0 && jobs[0].cer <= 0.01, "clean page 1 CER %.4f", jobs[0].cer);
	CHECK(jobs[1].cer >= 0 && jobs[1].cer <= 0.01, "clean page 2 CER %.4f", jobs[1].cer);
	CHECK(jobs[2].cer >= 0 && jobs[2].cer <= 0.03, "skewed page 3 CER %.4f", jobs[2].cer);
	CHECK(jobs[3].cer >= 0 && jobs[3].cer <= 0.03, "skewed page 4 CER %.4f", jobs[3].cer);
	CHECK(jobs[4].cer >= 0 && jobs[4].cer <= 0.02, "upside-down page CER %.4f", jobs[4].cer);
	CHECK(jobs[5].cer >= 0 && jobs[5].cer <= 0.03, "sideways page CER %.4f", jobs[5].cer);
	json_t *m5 = jobs[4].result, *m6 = jobs[5].result, *m3 = jobs[2].result;
	CHECK(m5 && json_integer_value(json_object_get(m5, "rotated")) == 180,
	      "upside-down page turned 180");
	CHECK(m6 && json_integer_value(json_object_get(m6, "rotated")) == 270,
	      "sideways page turned 270");
	CHECK(m3 && fabs(json_number_value(json_object_get(m3, "skew"))) >= 0.5,
	      "skew found on page 3");
	json_t *m1 = jobs[0].result;
	CHECK(m1 && json_integer_value(json_object_get(m1, "page")) == 1, "page number");
	CHECK(m1 && json_integer_value(json_object_get(m1, "words")) > 100, "words");
	CHECK(m1 && json_number_value(json_object_get(m1, "confidence")) > 80, "confidence");
	CHECK(m1 && json_is_false(json_object_get(m1, "low_confidence")), "not low");
	CHECK(m1 && json_integer_value(json_object_get(m1, "rotated")) == 0, "not rotated");
	/* the same page on another thread (another engine): the same bytes */
	CHECK(same_file(jobs[0].out, jobs[7].out), "page PDF identical when run again");
	CHECK(same_file(jobs[0].meta, jobs[7].meta), "page meta identical when run again");
	test_page_image(tmp, outdir, jobs[0].image, jobs[0].out, jobs[2].out);

	/* a corrupt image */
	char bad[4096], badout[4096], badmeta[4096];
	snprintf(bad, sizeof bad, "%s/corrupt.png", tmp);
	snprintf(badout, sizeof badout, "%s/corrupt.pdf", outdir);
	snprintf(badmeta, sizeof badmeta, "%s/corrupt.json", outdir);
	FILE *f = fopen(bad, "wb");
	fputs("\x89PNG\r\n\x1a\n this is not really a PNG", f);
	fclose(f);
	struct motcua_page_io io = {.struct_size = sizeof io,
				    .page_no = 9,
				    .media_type = "image/png",
				    .path = bad,
				    .out_path = badout,
				    .meta_path = badmeta};
	r = page_fn(&io);
	CHECK(r == -EINVAL, "corrupt image: %d", r);
	CHECK(strstr(io.message, "could not be read (corrupt or not an image)"), "message: %s",
	      io.message);
	CHECK(access(badout, F_OK) != 0, "no output for a corrupt image");

	/* the document */
	struct doc_pages d = {.n = 7};
	for (size_t i = 0; i < 7; i++) {
		d.paths[i] = jobs[i].out;
		d.metas[i] = jobs[i].meta;
		d.images[i] = jobs[i].image;
		d.types[i] = "image/png";
	}
	char pdf[4096], pdf2[4096], meta[4096], meta2[4096];
	snprintf(pdf, sizeof pdf, "%s/doc.pdf", outdir);
	snprintf(pdf2, sizeof pdf2, "%s/doc-again.pdf", outdir);
	snprintf(meta, sizeof meta, "%s/doc.json", outdir);
	snprintf(meta2, sizeof meta2, "%s/doc-again.json", outdir);
	struct motcua_step_io sio;
	t0 = now();
	r = finish(&d, pdf, meta, &sio);
	fprintf(stderr, "finish: %.2f s: %s\n", now() - t0, sio.message);
	CHECK(r == 0, "finish: %d %s", r, sio.message);
	CHECK(!strcmp(sio.out_media_type, "application/pdf"), "media type %s", sio.out_media_type);
	r = finish(&d, pdf2, meta2, &sio);
	CHECK(r == 0, "finish again: %d %s", r, sio.message);
	CHECK(same_file(pdf, pdf2), "document PDF byte-identical when run again");
	CHECK(same_file(meta, meta2), "document meta identical when run again");

	json_t *doc = json_load_file(meta, 0, NULL);
	CHECK(doc, "document meta is JSON");
	json_t *fields = json_object_get(doc, "fields");
	char *facts_s = NULL;
	char facts_path[4096];
	snprintf(facts_path, sizeof facts_path, "%s/pages.json", clean);
	json_t *facts = json_load_file(facts_path, 0, NULL);
	const char *want_id =
	    json_string_value(json_object_get(json_array_get(facts, 0), "id_number"));
	const char *want_date = json_string_value(
	    json_array_get(json_object_get(json_array_get(facts, 0), "dates"), 0));
	const char *want_code =
	    json_string_value(json_object_get(json_array_get(facts, 0), "dossier_code"));
	bool id_found = false, date_found = false, code_found = false;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(fields, "id_numbers"), i, v) id_found |=
	    want_id && !strcmp(json_string_value(v), want_id);
	json_array_foreach(json_object_get(fields, "dates"), i, v) date_found |=
	    want_date && !strcmp(json_string_value(v), want_date);
	json_array_foreach(json_object_get(fields, "dossier_codes"), i, v) code_found |=
	    want_code && !strcmp(json_string_value(v), want_code);
	facts_s = json_dumps(fields, 0);
	CHECK(id_found, "ID %s in %s", want_id, facts_s);
	CHECK(date_found, "date %s in %s", want_date, facts_s);
	CHECK(code_found, "dossier code %s in %s", want_code, facts_s);
	free(facts_s);
	json_decref(facts);
	CHECK(json_array_size(json_object_get(doc, "pages")) == 7, "7 pages in meta");
	json_t *lowp = json_object_get(doc, "low_confidence_pages");
	CHECK(json_array_size(lowp) == 1 && json_integer_value(json_array_get(lowp, 0)) == 7,
	      "the blank page 7 is the one to check");
	CHECK(json_number_value(json_object_get(doc, "confidence")) > 80, "document confidence");
	const char *text = json_string_value(json_object_get(doc, "text"));
	size_t ff = 0;
	for (const char *p = text; p && *p; p++)
		ff += *p == '\f';
	CHECK(ff == 6, "pages separated by form feeds: %zu", ff);
	json_decref(doc);

	/* the PDF, as other programs see it */
	if (have_program("pdftotext") && have_program("pdfinfo")) {
		/* -raw: the text layer's own order (the layout mode scatters the
		 * words of a centred title set in the glyphless font) */
		char *argv_t[] = {(char *)"pdftotext",
				  (char *)"-raw",
				  (char *)"-enc",
				  (char *)"UTF-8",
				  pdf,
				  (char *)"-",
				  NULL},
		     *out = NULL;
		CHECK(run(argv_t, &out) == 0 && out, "pdftotext");
		static const char *const phrases[] = {
		    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
		    "TỜ KHAI ĐĂNG KÝ KHAI SINH", "Số định danh cá nhân", "Họ, chữ đệm, tên"};
		for (size_t k = 0; out && k < sizeof phrases / sizeof phrases[0]; k++)
			CHECK(contains_nfc(out, phrases[k]), "pdftotext finds \"%s\"", phrases[k]);
		free(out);
		char *argv_i[] = {(char *)"pdfinfo", pdf, NULL};
		out = NULL;
		CHECK(run(argv_i, &out) == 0 && out, "pdfinfo");
		CHECK(out && strstr(out, "Pages:           7"), "7 pages: %s", out ? out : "");
		CHECK(out && strstr(out, "(A4)"), "A4: %s", out ? out : "");
		free(out);
		char *argv_l[] = {(char *)"pdfinfo", (char *)"-f", (char *)"1", (char *)"-l",
				  (char *)"7",	     pdf,	   NULL};
		out = NULL;
		run(argv_l, &out);
		size_t a4 = 0;
		for (char *p = out; p && (p = strstr(p, "(A4)")); p++)
			a4++;
		CHECK(a4 == 7, "every page A4 (%zu)", a4);
		free(out);
		char *argv_m[] = {(char *)"pdfinfo", (char *)"-meta", pdf, NULL};
		out = NULL;
		run(argv_m, &out);
		/* PDF/A needs the sRGB profile, which packaging/install-deps.sh installs */
		CHECK(access("/usr/share/color/icc/sRGB.icc", R_OK) == 0 ||
			  access("/usr/share/color/icc/colord/sRGB.icc", R_OK) == 0,
		      "no sRGB ICC profile (icc-profiles-free): packaging/install-deps.sh test");
		CHECK(out && strstr(out, "<pdfaid:part>2</pdfaid:part>"), "PDF/A-2 XMP: %s",
		      out ? out : "");
		free(out);
	} else {
		CHECK(0,
		      "pdftotext/pdfinfo (poppler-utils) missing: packaging/install-deps.sh test");
	}
	if (have_program("qpdf")) {
		char *argv_q[] = {(char *)"qpdf", (char *)"--check", pdf, NULL}, *out = NULL;
		int qr = run(argv_q, &out);
		CHECK(qr == 0, "qpdf --check: %d %s", qr, out ? out : "");
		free(out);
	} else {
		CHECK(0, "qpdf missing: packaging/install-deps.sh test");
	}

	/* a page that failed */
	d.paths[2] = NULL;
	r = finish(&d, pdf2, meta2, &sio);
	CHECK(r < 0 && strstr(sio.message, "page 3"), "failed page: %d %s", r, sio.message);

	/* an uploaded PDF: no pages */
	char none[4096];
	snprintf(none, sizeof none, "%s/none.pdf", outdir);
	struct doc_pages empty = {.n = 0};
	r = finish(&empty, none, meta2, &sio);
	CHECK(r == 0, "no pages: %d", r);
	CHECK(!strcmp(sio.message, "nothing to recognize: the document has no page images"), "%s",
	      sio.message);
	CHECK(access(none, F_OK) != 0 && !sio.out_media_type[0], "no output without pages");

	for (int k = 0; k < 8; k++)
		json_decref(jobs[k].result);
	plugin_stop();

	/* a page bigger than max_page_pixels */
	r = plugin_start("max_page_pixels", "1e6", "preprocess", "none", NULL);
	CHECK(r == 0, "init with max_page_pixels: %d %s", r, last_error());
	if (r == 0) {
		struct motcua_page_io big = {.struct_size = sizeof big,
					     .page_no = 1,
					     .media_type = "image/png",
					     .path = jobs[0].image,
					     .out_path = badout,
					     .meta_path = badmeta};
		r = page_fn(&big);
		CHECK(r == -EFBIG && strstr(big.message, "max_page_pixels"), "big page: %d %s", r,
		      big.message);
		plugin_stop();
	}
}

static int rm_rf(const char *dir)
{
	char *argv[] = {(char *)"rm", (char *)"-rf", (char *)dir, NULL};
	return run(argv, NULL);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "bench"))
		return bench(argc - 2, argv + 2);
	bool unit_only = argc > 1 && !strcmp(argv[1], "unit");
	char tmp[4096];
	const char *t = getenv("TMPDIR");
	snprintf(tmp, sizeof tmp, "%s/ocr-test-XXXXXX", t && t[0] ? t : "/tmp");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	test_nfc();
	test_fields();
	test_cer_matches_python(tmp);
	if (!unit_only) {
		if (!python() || !getenv("OCR_TESTS_DIR")) {
			fprintf(stderr, "FAIL: no python3 with PIL (python3-pil) to make pages: "
					"packaging/install-deps.sh test\n");
			rm_rf(tmp);
			return 1;
		}
		if (plugin_load() < 0) {
			fprintf(stderr, "FAIL: cannot load the plugin\n");
			return 1;
		}
		test_info();
		test_bad_config();
		test_pages(tmp);
		CHECK(motcua_testhost_violations(th) == 0, "the plugin broke the host's contract");
		motcua_testhost_free(th);
	}
	if (!failures && !getenv("OCR_TEST_KEEP"))
		rm_rf(tmp);
	else
		fprintf(stderr, "test files kept in %s\n", tmp);
	printf("%s: %d failure%s\n", failures ? "FAIL" : "PASS", failures,
	       failures == 1 ? "" : "s");
	return failures ? 1 : 0;
}
