/* SPDX-License-Identifier: MIT */
/* store.c: the content-addressed blob store. */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>

#include "store.h"
#include "util.h"
#include "validate.h"

#define ABC_SHA "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

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

static void check_blob(struct store *s, const char *sha, const void *data, size_t len)
{
	CHECK(store_has(s, sha));
	char *p = store_blob_path(s, sha);
	CHECK_NOT_NULL(p);
	size_t got = 0;
	char *content = harness_read_file(p, &got);
	free(p);
	CHECK_NOT_NULL(content);
	CHECK_EQ_UINT(got, len);
	CHECK_MEMEQ(content, data, len);
	char sha2[65];
	sha256_hex(content, got, sha2);
	free(content);
	CHECK_STREQ(sha2, sha);
}

static void test_open(void)
{
	const char *dir = harness_mkdtemp();
	char data_dir[4200], p[4300];
	/* store_open makes the data dir and its folders. */
	snprintf(data_dir, sizeof data_dir, "%s/data/nested", dir);
	struct store *s = store_open(data_dir);
	CHECK_NOT_NULL(s);
	struct stat st;
	snprintf(p, sizeof p, "%s/blobs", data_dir);
	CHECK_EQ_INT(stat(p, &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	snprintf(p, sizeof p, "%s/tmp", data_dir);
	CHECK_EQ_INT(stat(p, &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	store_free(s);
	/* Opening again is fine. */
	s = store_open(data_dir);
	CHECK_NOT_NULL(s);
	store_free(s);
	store_free(NULL);

	/* A data dir that cannot be made. */
	snprintf(p, sizeof p, "%s/file", dir);
	harness_write_file(p, "x");
	CHECK_NULL(store_open(p));
}

static void test_put(void)
{
	const char *dir = harness_mkdtemp();
	struct store *s = store_open(dir);
	CHECK_NOT_NULL(s);
	char sha[65];
	CHECK(!store_has(s, ABC_SHA));
	CHECK_EQ_INT(store_put(s, "abc", 3, sha), 0);
	CHECK_STREQ(sha, ABC_SHA);
	check_blob(s, sha, "abc", 3);

	char *p = store_blob_path(s, sha);
	char want[4300];
	snprintf(want, sizeof want, "%s/blobs/ba/%s", dir, ABC_SHA);
	CHECK_STREQ(p, want);
	free(p);

	/* The same content again: same blob, no error, nothing left in tmp. */
	char sha2[65];
	CHECK_EQ_INT(store_put(s, "abc", 3, sha2), 0);
	CHECK_STREQ(sha2, sha);
	char tmpdir[4300], fan[4300];
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", dir);
	snprintf(fan, sizeof fan, "%s/blobs/ba", dir);
	CHECK_EQ_UINT(count_entries(tmpdir), 0);
	CHECK_EQ_UINT(count_entries(fan), 1);

	/* Empty and binary blobs. */
	CHECK_EQ_INT(store_put(s, "", 0, sha), 0);
	CHECK_STREQ(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_blob(s, sha, "", 0);
	unsigned char big[200000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7 + (i >> 9));
	CHECK_EQ_INT(store_put(s, big, sizeof big, sha), 0);
	check_blob(s, sha, big, sizeof big);
	CHECK_EQ_UINT(count_entries(tmpdir), 0);
	store_free(s);
}

static void test_blob_path_validation(void)
{
	const char *dir = harness_mkdtemp();
	struct store *s = store_open(dir);
	CHECK_NOT_NULL(s);
	/* Anything but a lower-case sha256 is refused: no path tricks. */
	CHECK_NULL(store_blob_path(s, "../../etc/passwd"));
	CHECK_NULL(store_blob_path(s, ""));
	CHECK_NULL(
	    store_blob_path(s, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	CHECK(!store_has(s, "../../etc/passwd"));
	CHECK(!store_has(s, ABC_SHA));
	store_free(s);
}

static void test_commit_file(void)
{
	const char *dir = harness_mkdtemp();
	struct store *s = store_open(dir);
	CHECK_NOT_NULL(s);
	char *tmp = store_tmp_path(s, "upload");
	CHECK_NOT_NULL(tmp);
	char prefix[4300];
	snprintf(prefix, sizeof prefix, "%s/tmp/upload.", dir);
	CHECK_EQ_INT(strncmp(tmp, prefix, strlen(prefix)), 0);
	char *tmp2 = store_tmp_path(s, "upload");
	CHECK_STRNE(tmp, tmp2);
	free(tmp2);

	const char *text = "hello motcua\n";
	harness_write_file(tmp, text);
	char sha[65];
	uint64_t size = 0;
	CHECK_EQ_INT(store_commit_file(s, tmp, sha, &size), 0);
	CHECK_STREQ(sha, "b2e10d98f2ab179b3716c71874a29e31a5ca25c535e2a09f841ea89c8d545444");
	CHECK_EQ_UINT(size, strlen(text));
	check_blob(s, sha, text, strlen(text));
	/* The temp file was moved, not copied. */
	CHECK_EQ_INT(access(tmp, F_OK), -1);
	free(tmp);

	/* size_out may be NULL. */
	tmp = store_tmp_path(s, "x");
	harness_write_file(tmp, "abc");
	CHECK_EQ_INT(store_commit_file(s, tmp, sha, NULL), 0);
	CHECK_STREQ(sha, ABC_SHA);
	free(tmp);

	/* A missing temp file is an error. */
	char missing[4300];
	snprintf(missing, sizeof missing, "%s/tmp/missing", dir);
	CHECK_EQ_INT(store_commit_file(s, missing, sha, &size), -ENOENT);
	store_free(s);
}

static void test_clean_tmp(void)
{
	const char *dir = harness_mkdtemp();
	struct store *s = store_open(dir);
	CHECK_NOT_NULL(s);
	char sha[65];
	CHECK_EQ_INT(store_put(s, "abc", 3, sha), 0);
	/* Leftovers of a crash. */
	for (int i = 0; i < 5; i++) {
		char *tmp = store_tmp_path(s, "crash");
		harness_write_file(tmp, "partial");
		free(tmp);
	}
	char tmpdir[4300];
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", dir);
	CHECK_EQ_UINT(count_entries(tmpdir), 5);
	store_clean_tmp(s);
	CHECK_EQ_UINT(count_entries(tmpdir), 0);
	/* Blobs are untouched. */
	check_blob(s, sha, "abc", 3);
	/* Cleaning an empty tmp is fine. */
	store_clean_tmp(s);
	store_free(s);
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	RUN(test_open);
	RUN(test_put);
	RUN(test_blob_path_validation);
	RUN(test_commit_file);
	RUN(test_clean_tmp);
	return harness_result();
}
