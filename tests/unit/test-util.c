/* SPDX-License-Identifier: MIT */
/* util.c: Vietnam time, time parsing, hashing, atomic writes. */
#include "harness.h"

#include <dirent.h>

#include "util.h"
#include "validate.h"

static void test_time_iso_vn(void)
{
	char out[32];
	time_iso_vn(0, out);
	CHECK_STREQ(out, "1970-01-01T07:00:00+07:00");
	time_iso_vn(1795798800, out); /* 2026-11-27T17:00:00Z */
	CHECK_STREQ(out, "2026-11-28T00:00:00+07:00");
	time_iso_vn(1795798799, out);
	CHECK_STREQ(out, "2026-11-27T23:59:59+07:00");
	time_iso_vn(1709164800, out); /* 2024-02-29T00:00:00Z */
	CHECK_STREQ(out, "2024-02-29T07:00:00+07:00");
	time_iso_vn(-7 * 3600, out);
	CHECK_STREQ(out, "1970-01-01T00:00:00+07:00");
}

static void test_time_yymmdd_vn(void)
{
	char out[8];
	/* 2026-11-27T17:00:00Z is midnight in Vietnam: the 28th. */
	time_yymmdd_vn(1795798800, out);
	CHECK_STREQ(out, "261128");
	time_yymmdd_vn(1795798799, out);
	CHECK_STREQ(out, "261127");
	/* 00:00Z and 16:59:59Z are the same Vietnam day. */
	time_yymmdd_vn(1795798800 - 17 * 3600, out);
	CHECK_STREQ(out, "261127");
	time_yymmdd_vn(0, out);
	CHECK_STREQ(out, "700101");
	/* New year in Vietnam comes 7 hours before UTC's. */
	time_yymmdd_vn(946684800 - 7 * 3600 - 1, out); /* 1999-12-31T16:59:59Z */
	CHECK_STREQ(out, "991231");
	time_yymmdd_vn(946684800 - 7 * 3600, out);
	CHECK_STREQ(out, "000101");
	CHECK_EQ_UINT(strlen(out), 6);
}

static void test_time_parse_dates(void)
{
	int64_t t = 0;
	/* A date alone is the start of that Vietnam day... */
	CHECK_EQ_INT(time_parse("2026-03-01", false, &t), 0);
	CHECK_EQ_INT(t, 1772298000);
	/* ...or its last second. */
	CHECK_EQ_INT(time_parse("2026-03-01", true, &t), 0);
	CHECK_EQ_INT(t, 1772384399);
	CHECK_EQ_INT(time_parse("2024-02-29", false, &t), 0);
	CHECK_EQ_INT(t, 1709164800 - 7 * 3600);
	char out[8];
	time_yymmdd_vn(t, out);
	CHECK_STREQ(out, "240229");
	CHECK_EQ_INT(time_parse("2026-12-31", true, &t), 0);
	time_yymmdd_vn(t, out);
	CHECK_STREQ(out, "261231");
	time_yymmdd_vn(t + 1, out);
	CHECK_STREQ(out, "270101");
}

static void test_time_parse_iso(void)
{
	int64_t t = 0;
	CHECK_EQ_INT(time_parse("2026-11-27T17:00:00Z", false, &t), 0);
	CHECK_EQ_INT(t, 1795798800);
	CHECK_EQ_INT(time_parse("2026-11-28T00:00:00+07:00", false, &t), 0);
	CHECK_EQ_INT(t, 1795798800);
	CHECK_EQ_INT(time_parse("2026-03-15T08:30:00-05:00", false, &t), 0);
	CHECK_EQ_INT(t, 1773581400);
	CHECK_EQ_INT(time_parse("2000-01-01T00:00:00+00:00", false, &t), 0);
	CHECK_EQ_INT(t, 946684800);
	CHECK_EQ_INT(time_parse("2026-02-28T00:00:00+07:00", false, &t), 0);
	CHECK_EQ_INT(t, 1772211600);
	/* No offset: Vietnam time. */
	CHECK_EQ_INT(time_parse("2026-11-28T00:00:00", false, &t), 0);
	CHECK_EQ_INT(t, 1795798800);
	/* A space instead of T. */
	CHECK_EQ_INT(time_parse("2026-11-28 00:00:00+07:00", false, &t), 0);
	CHECK_EQ_INT(t, 1795798800);
	/* A time given wins over end_of_day. */
	CHECK_EQ_INT(time_parse("2026-11-27T17:00:00Z", true, &t), 0);
	CHECK_EQ_INT(t, 1795798800);
	/* Round trip through time_iso_vn. */
	char iso[32];
	time_iso_vn(1773581400, iso);
	CHECK_EQ_INT(time_parse(iso, false, &t), 0);
	CHECK_EQ_INT(t, 1773581400);
}

static void test_time_parse_invalid(void)
{
	const char *bad[] = {
	    "",
	    "2026",
	    "2026-1-01",
	    "2026/01/01",
	    "2026-00-10",
	    "2026-13-01",
	    "2026-01-00",
	    "2026-01-32",
	    "2026-02-30",
	    "2026-02-29", /* not a leap year */
	    "2100-02-29", /* not a leap year either */
	    "2026-04-31",
	    "2026-06-31",
	    "2026-01-01x",
	    "2026-01-01T",
	    "2026-01-01T25:00:00Z",
	    "2026-01-01T12:60:00Z",
	    "2026-01-01T12:00Z",
	    "2026-01-01T12:00:00+7",
	    "2026-01-01T12:00:00+0700",
	    "2026-01-01T12:00:00+07:00x",
	    "2026-01-01T12:00:00Zx",
	    "2026-01-01T12:00:00 ",
	    "abcd-ef-gh",
	    " 2026-01-01",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t t = 12345;
		int r = time_parse(bad[i], false, &t);
		CHECK_MSG(r == -EINVAL, "'%s' gave %d", bad[i], r);
		CHECK_MSG(t == 12345, "'%s' changed the output", bad[i]);
		CHECK_MSG(time_parse(bad[i], true, &t) == -EINVAL, "'%s' (end of day)", bad[i]);
	}
}

static void test_time_parse_offset_range(void)
{
	int64_t t = 12345;
	/* The largest real offsets are -12:00 and +14:00. */
	CHECK_EQ_INT(time_parse("2026-01-01T12:00:00+14:00", false, &t), 0);
	CHECK_EQ_INT(time_parse("2026-01-01T12:00:00-12:00", false, &t), 0);
	CHECK_EQ_INT(time_parse("2026-01-01T12:00:00+05:45", false, &t), 0);
	t = 12345;
	/* Offsets are bounded: +99:99 is no time zone (the widest is +14:00). */
	CHECK_EQ_INT(time_parse("2026-01-01T12:00:00+99:99", false, &t), -EINVAL);
}

static void test_sha256(void)
{
	char out[65];
	sha256_hex("abc", 3, out);
	CHECK_STREQ(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK(valid_sha256_hex(out));
	sha256_hex("", 0, out);
	CHECK_STREQ(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_valid_sha256_hex(void)
{
	CHECK(valid_sha256_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	CHECK(valid_sha256_hex("0000000000000000000000000000000000000000000000000000000000000000"));
	CHECK(!valid_sha256_hex(NULL));
	CHECK(!valid_sha256_hex(""));
	/* upper case is not the canonical form */
	CHECK(
	    !valid_sha256_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	/* 63 and 65 characters */
	CHECK(!valid_sha256_hex("a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	CHECK(
	    !valid_sha256_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"));
	CHECK(
	    !valid_sha256_hex("ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	CHECK(
	    !valid_sha256_hex("../../../../../../../../../../../../../../../../../../etc/passwd"));
}

static void test_random_hex(void)
{
	char a[41], b[41];
	random_hex(a, 20);
	random_hex(b, 20);
	CHECK_EQ_UINT(strlen(a), 40);
	CHECK_STRNE(a, b);
	for (size_t i = 0; i < 40; i++)
		CHECK(strchr("0123456789abcdef", a[i]));
}

static unsigned count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	CHECK_NOT_NULL(d);
	unsigned n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_write_file_atomic(void)
{
	const char *dir = harness_mkdtemp();
	char path[4200];
	snprintf(path, sizeof path, "%s/state.json", dir);

	CHECK_EQ_INT(write_file_atomic(path, "{\"a\":1}", 7), 0);
	size_t len = 0;
	char *s = harness_read_file(path, &len);
	CHECK_NOT_NULL(s);
	CHECK_EQ_UINT(len, 7);
	CHECK_STREQ(s, "{\"a\":1}");
	free(s);

	/* Replacing: new content, and no temp file left beside it. */
	CHECK_EQ_INT(write_file_atomic(path, "xy", 2), 0);
	s = harness_read_file(path, &len);
	CHECK_NOT_NULL(s);
	CHECK_EQ_UINT(len, 2);
	CHECK_STREQ(s, "xy");
	free(s);
	CHECK_EQ_UINT(count_entries(dir), 1);

	/* Empty and binary content. */
	CHECK_EQ_INT(write_file_atomic(path, "", 0), 0);
	s = harness_read_file(path, &len);
	CHECK_EQ_UINT(len, 0);
	free(s);
	const char bin[] = {0, 1, 2, (char)0xff, 0};
	CHECK_EQ_INT(write_file_atomic(path, bin, sizeof bin), 0);
	s = harness_read_file(path, &len);
	CHECK_EQ_UINT(len, sizeof bin);
	CHECK_MEMEQ(s, bin, sizeof bin);
	free(s);

	struct stat st;
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 0037,
		     0); /* 0640 at most: not group-writable, nothing for others */

	/* A missing folder is an error and leaves nothing. */
	char bad[4200];
	snprintf(bad, sizeof bad, "%s/no/such/file", dir);
	CHECK_EQ_INT(write_file_atomic(bad, "x", 1), -ENOENT);
	CHECK_EQ_UINT(count_entries(dir), 1);

	/* A relative path (no slash) works in the current directory. */
	char cwd[4096];
	CHECK_NOT_NULL(getcwd(cwd, sizeof cwd));
	CHECK_EQ_INT(chdir(dir), 0);
	int r = write_file_atomic("relative.txt", "rel", 3);
	CHECK_EQ_INT(chdir(cwd), 0);
	CHECK_EQ_INT(r, 0);
	snprintf(path, sizeof path, "%s/relative.txt", dir);
	s = harness_read_file(path, NULL);
	CHECK_STREQ(s, "rel");
	free(s);
}

static void test_mkdir_p(void)
{
	const char *dir = harness_mkdtemp();
	char path[4200];
	snprintf(path, sizeof path, "%s/a/b/c", dir);
	CHECK_EQ_INT(mkdir_p(path, 0750), 0);
	struct stat st;
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	/* Existing is fine. */
	CHECK_EQ_INT(mkdir_p(path, 0750), 0);
	/* A file in the way is not. */
	snprintf(path, sizeof path, "%s/file", dir);
	harness_write_file(path, "x");
	snprintf(path, sizeof path, "%s/file/sub", dir);
	CHECK_LT_INT(mkdir_p(path, 0750), 0);
	CHECK_EQ_INT(fsync_dir(dir), 0);
	CHECK_LT_INT(fsync_dir(path), 0);
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	RUN(test_time_iso_vn);
	RUN(test_time_yymmdd_vn);
	RUN(test_time_parse_dates);
	RUN(test_time_parse_iso);
	RUN(test_time_parse_invalid);
	RUN(test_time_parse_offset_range);
	RUN(test_sha256);
	RUN(test_valid_sha256_hex);
	RUN(test_random_hex);
	RUN(test_write_file_atomic);
	RUN(test_mkdir_p);
	return harness_result();
}
