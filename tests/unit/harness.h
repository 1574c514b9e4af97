/* SPDX-License-Identifier: MIT */
/*
 * A tiny test harness for motcua's unit tests, in the spirit of PipeWire's
 * pwtest and collectd's testing.h. Header only; include it in exactly one
 * translation unit per test executable.
 *
 *   static void test_something(void)
 *   {
 *           CHECK(1 + 1 == 2);
 *           CHECK_EQ_INT(f(), -EINVAL);
 *           CHECK_STREQ(name, "expected");
 *           if (!have_feature)
 *                   SKIP("no feature here");
 *   }
 *
 *   int main(int argc, char **argv)
 *   {
 *           harness_init(argc, argv);
 *           RUN(test_something);
 *           return harness_result();
 *   }
 *
 * A failing CHECK prints "file:line: ..." with the values involved and ends the
 * current test (longjmp back to RUN); the other tests still run. The executable
 * returns 0 when every test that ran passed, 1 when any failed, and 77 (meson's
 * "skipped") when nothing failed and nothing passed because everything skipped.
 *
 * Test names given on the command line (or in HARNESS_ONLY, comma separated)
 * select which tests run.
 *
 * CHECK*, SKIP and FAIL must be used on the test's own thread only: record
 * what a worker thread sees and check it on the main thread afterwards.
 */
#ifndef MOTCUA_TEST_HARNESS_H
#define MOTCUA_TEST_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HARNESS_EXIT_PASS 0
#define HARNESS_EXIT_FAIL 1
#define HARNESS_EXIT_SKIP 77

#if defined(__GNUC__)
#define HARNESS_UNUSED __attribute__((unused))
#define HARNESS_NORETURN __attribute__((noreturn))
#define HARNESS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HARNESS_UNUSED
#define HARNESS_NORETURN
#define HARNESS_PRINTF(a, b)
#endif

enum { HARNESS_JMP_FAIL = 1, HARNESS_JMP_SKIP = 2 };

static struct {
	int argc;
	char **argv;
	unsigned passed, failed, skipped;
	const char *current;
	jmp_buf jmp;
	bool in_test;
	/* Temp dirs made by harness_mkdtemp(), removed after the test. */
	char **tmpdirs;
	unsigned ntmpdirs;
} harness_;

static HARNESS_UNUSED void harness_init(int argc, char **argv)
{
	harness_.argc = argc;
	harness_.argv = argv;
	/* Interleave our messages with the code's stderr logging sensibly. */
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static HARNESS_UNUSED HARNESS_NORETURN HARNESS_PRINTF(3, 4) void harness_fail_(const char *file,
									       int line,
									       const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s:%d: %s: ", file, line, harness_.current ? harness_.current : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	if (harness_.in_test)
		longjmp(harness_.jmp, HARNESS_JMP_FAIL);
	exit(HARNESS_EXIT_FAIL);
}

static HARNESS_UNUSED HARNESS_NORETURN void harness_skip_(const char *file, int line,
							  const char *reason)
{
	fprintf(stderr, "%s:%d: %s: skipped: %s\n", file, line,
		harness_.current ? harness_.current : "?", reason);
	fflush(stderr);
	if (harness_.in_test)
		longjmp(harness_.jmp, HARNESS_JMP_SKIP);
	exit(HARNESS_EXIT_SKIP);
}

#define FAIL(...) harness_fail_(__FILE__, __LINE__, __VA_ARGS__)
#define SKIP(reason) harness_skip_(__FILE__, __LINE__, (reason))

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			harness_fail_(__FILE__, __LINE__, "CHECK(%s) failed", #cond);              \
	} while (0)

/* Like CHECK, with a printf-style explanation added on failure. */
#define CHECK_MSG(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			char harness_m_[512];                                                      \
			snprintf(harness_m_, sizeof harness_m_, __VA_ARGS__);                      \
			harness_fail_(__FILE__, __LINE__, "CHECK(%s) failed: %s", #cond,           \
				      harness_m_);                                                 \
		}                                                                                  \
	} while (0)

#define CHECK_CMP_INT_(a, op, b)                                                                   \
	do {                                                                                       \
		intmax_t harness_a_ = (intmax_t)(a), harness_b_ = (intmax_t)(b);                   \
		if (!(harness_a_ op harness_b_))                                                   \
			harness_fail_(__FILE__, __LINE__,                                          \
				      "CHECK(%s %s %s) failed: %" PRIdMAX " vs %" PRIdMAX, #a,     \
				      #op, #b, harness_a_, harness_b_);                            \
	} while (0)

#define CHECK_EQ_INT(a, b) CHECK_CMP_INT_(a, ==, b)
#define CHECK_NE_INT(a, b) CHECK_CMP_INT_(a, !=, b)
#define CHECK_LT_INT(a, b) CHECK_CMP_INT_(a, <, b)
#define CHECK_LE_INT(a, b) CHECK_CMP_INT_(a, <=, b)
#define CHECK_GT_INT(a, b) CHECK_CMP_INT_(a, >, b)
#define CHECK_GE_INT(a, b) CHECK_CMP_INT_(a, >=, b)

#define CHECK_EQ_UINT(a, b)                                                                        \
	do {                                                                                       \
		uintmax_t harness_a_ = (uintmax_t)(a), harness_b_ = (uintmax_t)(b);                \
		if (harness_a_ != harness_b_)                                                      \
			harness_fail_(__FILE__, __LINE__,                                          \
				      "CHECK(%s == %s) failed: %" PRIuMAX " vs %" PRIuMAX, #a, #b, \
				      harness_a_, harness_b_);                                     \
	} while (0)

#define CHECK_STREQ(a, b)                                                                          \
	do {                                                                                       \
		const char *harness_a_ = (a), *harness_b_ = (b);                                   \
		if (!harness_a_ || !harness_b_ || strcmp(harness_a_, harness_b_) != 0)             \
			harness_fail_(__FILE__, __LINE__,                                          \
				      "CHECK_STREQ(%s, %s) failed: \"%s\" vs \"%s\"", #a, #b,      \
				      harness_a_ ? harness_a_ : "(null)",                          \
				      harness_b_ ? harness_b_ : "(null)");                         \
	} while (0)

#define CHECK_STRNE(a, b)                                                                          \
	do {                                                                                       \
		const char *harness_a_ = (a), *harness_b_ = (b);                                   \
		if (harness_a_ && harness_b_ && strcmp(harness_a_, harness_b_) == 0)               \
			harness_fail_(__FILE__, __LINE__,                                          \
				      "CHECK_STRNE(%s, %s) failed: both \"%s\"", #a, #b,           \
				      harness_a_);                                                 \
	} while (0)

/* haystack contains needle */
#define CHECK_STRSTR(haystack, needle)                                                             \
	do {                                                                                       \
		const char *harness_h_ = (haystack), *harness_n_ = (needle);                       \
		if (!harness_h_ || !harness_n_ || !strstr(harness_h_, harness_n_))                 \
			harness_fail_(                                                             \
			    __FILE__, __LINE__,                                                    \
			    "CHECK_STRSTR(%s, %s) failed: \"%s\" does not contain \"%s\"",         \
			    #haystack, #needle, harness_h_ ? harness_h_ : "(null)",                \
			    harness_n_ ? harness_n_ : "(null)");                                   \
	} while (0)

#define CHECK_NOT_NULL(p)                                                                          \
	do {                                                                                       \
		if ((p) == NULL)                                                                   \
			harness_fail_(__FILE__, __LINE__, "CHECK_NOT_NULL(%s) failed", #p);        \
	} while (0)

#define CHECK_NULL(p)                                                                              \
	do {                                                                                       \
		if ((p) != NULL)                                                                   \
			harness_fail_(__FILE__, __LINE__, "CHECK_NULL(%s) failed", #p);            \
	} while (0)

#define CHECK_MEMEQ(a, b, len)                                                                     \
	do {                                                                                       \
		if (memcmp((a), (b), (len)) != 0)                                                  \
			harness_fail_(__FILE__, __LINE__, "CHECK_MEMEQ(%s, %s, %s) failed", #a,    \
				      #b, #len);                                                   \
	} while (0)

/* ---- helpers ---- */

static HARNESS_UNUSED int harness_rm_cb_(const char *path, const struct stat *st, int type,
					 struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

/* rm -rf path */
static HARNESS_UNUSED void harness_rm_rf(const char *path)
{
	nftw(path, harness_rm_cb_, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes a fresh directory under $TMPDIR (or /tmp), removed after the test (set
 * HARNESS_KEEP=1 to keep it). Returns a string valid until the test ends. */
static HARNESS_UNUSED const char *harness_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	if (!base || !base[0])
		base = "/tmp";
	char tmpl[4096];
	snprintf(tmpl, sizeof tmpl, "%s/motcua-test-XXXXXX", base);
	if (!mkdtemp(tmpl))
		FAIL("mkdtemp(%s): %s", tmpl, strerror(errno));
	char *d = strdup(tmpl);
	char **dirs = realloc(harness_.tmpdirs, (harness_.ntmpdirs + 1) * sizeof *dirs);
	if (!d || !dirs) {
		harness_rm_rf(tmpl);
		free(d);
		FAIL("out of memory");
	}
	harness_.tmpdirs = dirs;
	harness_.tmpdirs[harness_.ntmpdirs++] = d;
	return d;
}

/* Writes text to path (truncating), failing the test on error. */
static HARNESS_UNUSED void harness_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		FAIL("cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	if (fclose(f) != 0)
		FAIL("cannot write %s: %s", path, strerror(errno));
}

/* Reads a whole file (NUL-terminated, length in *len if not NULL); NULL if it
 * cannot be read. The caller frees. */
static HARNESS_UNUSED char *harness_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n - 1 == 0) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf) {
		buf[n] = 0;
		if (len)
			*len = n;
	}
	return buf;
}

static HARNESS_UNUSED bool harness_selected_(const char *name)
{
	bool any = false;
	for (int i = 1; i < harness_.argc; i++) {
		if (harness_.argv[i][0] == '-')
			continue;
		any = true;
		if (!strcmp(harness_.argv[i], name))
			return true;
	}
	const char *only = getenv("HARNESS_ONLY");
	if (only && only[0]) {
		any = true;
		size_t n = strlen(name);
		for (const char *p = only; (p = strstr(p, name)); p += n)
			if ((p == only || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
				return true;
	}
	return !any;
}

static HARNESS_UNUSED void harness_cleanup_(void)
{
	const char *keep = getenv("HARNESS_KEEP");
	for (unsigned i = 0; i < harness_.ntmpdirs; i++) {
		if (keep && keep[0] && strcmp(keep, "0") != 0)
			fprintf(stderr, "# kept %s\n", harness_.tmpdirs[i]);
		else
			harness_rm_rf(harness_.tmpdirs[i]);
		free(harness_.tmpdirs[i]);
	}
	free(harness_.tmpdirs);
	harness_.tmpdirs = NULL;
	harness_.ntmpdirs = 0;
}

static HARNESS_UNUSED void harness_run_(const char *name, void (*fn)(void))
{
	if (!harness_selected_(name))
		return;
	harness_.current = name;
	printf("# %s\n", name);
	harness_.in_test = true;
	int j = setjmp(harness_.jmp);
	if (j == 0) {
		fn();
		harness_.passed++;
		printf("ok - %s\n", name);
	} else if (j == HARNESS_JMP_SKIP) {
		harness_.skipped++;
		printf("ok - %s # SKIP\n", name);
	} else {
		harness_.failed++;
		printf("not ok - %s\n", name);
	}
	harness_.in_test = false;
	harness_cleanup_();
	harness_.current = NULL;
}

#define RUN(fn) harness_run_(#fn, fn)

static HARNESS_UNUSED int harness_result(void)
{
	printf("# %u passed, %u failed, %u skipped\n", harness_.passed, harness_.failed,
	       harness_.skipped);
	if (harness_.failed)
		return HARNESS_EXIT_FAIL;
	if (!harness_.passed && harness_.skipped)
		return HARNESS_EXIT_SKIP;
	if (!harness_.passed) {
		fprintf(stderr, "no test ran\n");
		return HARNESS_EXIT_FAIL;
	}
	return HARNESS_EXIT_PASS;
}

#endif
