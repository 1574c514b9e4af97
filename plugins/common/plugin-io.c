/* SPDX-License-Identifier: MIT */
/* File I/O the in-tree plugins share (plugin-io.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin-io.h"

int io_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int io_read_chunks(int fd, void *buf, size_t size,
		   int (*chunk)(void *arg, const void *data, size_t n), void *arg)
{
	for (;;) {
		ssize_t n = read(fd, buf, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		int r = chunk(arg, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}

int io_read_file(const char *path, size_t max, unsigned char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = 0;
	unsigned char *buf = NULL;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	size_t n = (size_t)st.st_size, got = 0;
	if ((unsigned long long)st.st_size > max) {
		*len = n;
		r = -EFBIG;
		goto out;
	}
	if (!(buf = malloc(n + 1))) {
		r = -ENOMEM;
		goto out;
	}
	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)k;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

/* Writes data to fd and fsyncs it; closes fd. */
static int write_close(int fd, const void *data, size_t len)
{
	int r = io_write_all(fd, data, len);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	return r;
}

int io_create_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	return write_close(fd, data, len);
}

int io_replace_file(const char *path, const void *data, size_t len, mode_t mode)
{
	/* A name no other live writer has (thread ids are unique while the
	 * threads live, the count per call); one a crashed writer left is
	 * taken over. open(), not mkostemp(), so that mode goes through the
	 * umask as for any file the plugin makes. */
	static _Atomic unsigned long seq;
	char *tmp;
	if (asprintf(&tmp, "%s.tmp-%ld-%lu", path, (long)gettid(), seq++) < 0)
		return -ENOMEM;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int r = fd < 0 ? -errno : write_close(fd, data, len);
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r && fd >= 0)
		unlink(tmp);
	free(tmp);
	return r;
}

int io_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}
