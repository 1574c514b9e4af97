/* SPDX-License-Identifier: MIT */
/* The gateway's content-addressed store: data_dir/blobs/ab/<sha256>. A blob is
 * written to data_dir/tmp, fsynced, hashed, renamed into place and its folder
 * fsynced before anyone records it, so a power cut leaves either nothing or a
 * complete blob (and at worst an orphan temp file, removed at start). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "store.h"
#include "util.h"
#include "validate.h"

struct store {
	char *blobs;
	char *tmp;
};

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

struct store *store_open(const char *data_dir)
{
	struct store *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->blobs = path_join(data_dir, "blobs");
	s->tmp = path_join(data_dir, "tmp");
	if (!s->blobs || !s->tmp || mkdir_p(s->blobs, 0750) < 0 || mkdir_p(s->tmp, 0750) < 0) {
		store_free(s);
		return NULL;
	}
	return s;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	free(s->blobs);
	free(s->tmp);
	free(s);
}

char *store_tmp_path(struct store *s, const char *hint)
{
	char rnd[17];
	random_hex(rnd, 8);
	size_t n = strlen(s->tmp) + strlen(hint) + 40;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s.%s.tmp", s->tmp, hint, rnd);
	return p;
}

char *store_blob_path(struct store *s, const char *sha)
{
	if (!valid_sha256_hex(sha))
		return NULL;
	size_t n = strlen(s->blobs) + 70;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%.2s/%s", s->blobs, sha, sha);
	return p;
}

bool store_has(struct store *s, const char *sha)
{
	char *p = store_blob_path(s, sha);
	if (!p)
		return false;
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

int store_commit_file(struct store *s, const char *tmp_path, char sha_out[65], uint64_t *size_out)
{
	int r = 0;
	int fd = open(tmp_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		r = -ENOMEM;
		goto out;
	}
	unsigned char buf[65536];
	uint64_t size = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)n);
		size += (uint64_t)n;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	unsigned char digest[32];
	EVP_DigestFinal_ex(md, digest, NULL);
	for (int i = 0; i < 32; i++)
		sprintf(sha_out + 2 * i, "%02x", digest[i]);
	sha_out[64] = 0;
	if (size_out)
		*size_out = size;

	char dir[4096];
	snprintf(dir, sizeof dir, "%s/%.2s", s->blobs, sha_out);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	char *dest = store_blob_path(s, sha_out);
	if (!dest) {
		r = -ENOMEM;
		goto out;
	}
	/* Same content, same name: renaming over an existing blob is harmless. */
	if (rename(tmp_path, dest) < 0)
		r = -errno;
	free(dest);
	if (r == 0)
		r = fsync_dir(dir);
out:
	EVP_MD_CTX_free(md);
	close(fd);
	if (r < 0)
		unlink(tmp_path);
	return r;
}

int store_put(struct store *s, const void *data, size_t len, char sha_out[65])
{
	char *tmp = store_tmp_path(s, "put");
	if (!tmp)
		return -ENOMEM;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	int r = 0;
	if (fd < 0) {
		r = -errno;
		free(tmp);
		return r;
	}
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r == 0)
		r = store_commit_file(s, tmp, sha_out, NULL);
	else
		unlink(tmp);
	free(tmp);
	return r;
}

void store_clean_tmp(struct store *s)
{
	/* Files of unfinished steps and uploads, and folders of scans that a
	 * crash interrupted. */
	remove_contents(s->tmp, false);
}

int store_copy_file(struct store *s, const char *path, char sha[65], uint64_t *size)
{
	char *tmp = store_tmp_path(s, "copy");
	if (!tmp)
		return -ENOMEM;
	int in = open(path, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
	if (in < 0) {
		r = -errno;
		goto out;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (out < 0) {
		r = -errno;
		goto out;
	}
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				r = -errno;
				goto out;
			}
			off += w;
		}
	}
out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0 && !r)
		r = -errno;
	if (!r)
		r = store_commit_file(s, tmp, sha, size);
	else
		unlink(tmp);
	free(tmp);
	return r;
}
