/* SPDX-License-Identifier: MIT */
/* Secrets in files: one policy for every plugin (motcua_host.secret_read). A
 * secret file is the operator's promise that only the gateway's user reads
 * it, so a file anyone else could read or swap is refused rather than used:
 * a regular file (O_NOFOLLOW: not a symlink someone could point elsewhere),
 * no group or other bits, bounded in size, not empty. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "motcua/plugin.h"
#include "secret.h"

void secret_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

static int refuse(int r, char *why, size_t why_len, const char *key, const char *path,
		  const char *fmt, ...) MOTCUA_PRINTF(6, 7);
static int refuse(int r, char *why, size_t why_len, const char *key, const char *path,
		  const char *fmt, ...)
{
	if (why && why_len) {
		char reason[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason, sizeof reason, fmt, ap);
		va_end(ap);
		snprintf(why, why_len, "%s%s%s: %s", key ? key : "", key ? " " : "",
			 path ? path : "(no file)", reason);
	}
	return r;
}

int secret_read_file(const char *key, const char *path, unsigned flags, char *buf, size_t size,
		     size_t *len, char *why, size_t why_len)
{
	if (len)
		*len = 0;
	if (!buf || size < 2 || !path || !path[0]) {
		secret_wipe(buf, size);
		return refuse(-EINVAL, why, why_len, key, path,
			      "no file named, or no room for the secret");
	}
	secret_wipe(buf, size);
	size_t max = size - 1 < MOTCUA_SECRET_MAX ? size - 1 : MOTCUA_SECRET_MAX;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			return refuse(-ELOOP, why, why_len, key, path,
				      "is a symbolic link; name the file itself");
		return refuse(-e, why, why_len, key, path, "%s", strerror(e));
	}
	struct stat sb;
	int r = 0;
	if (fstat(fd, &sb) < 0)
		r = refuse(-errno, why, why_len, key, path, "%s", strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		r = refuse(-EINVAL, why, why_len, key, path, "is not a regular file");
	else if (sb.st_mode & 077)
		r = refuse(
		    -EPERM, why, why_len, key, path,
		    "is open to others (mode %04o): chmod 600 it, owned by the gateway's user",
		    (unsigned)(sb.st_mode & 07777));
	else if (sb.st_size == 0)
		r = refuse(-EINVAL, why, why_len, key, path, "is empty");
	else if ((unsigned long long)sb.st_size > max)
		r = refuse(-EFBIG, why, why_len, key, path, "is larger than %zu bytes", max);
	size_t got = 0;
	while (r == 0 && got < max) {
		ssize_t n = read(fd, buf + got, max - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = refuse(-EIO, why, why_len, key, path, "%s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	/* A file that grew after fstat: refuse rather than cut it short. */
	char extra;
	if (r == 0 && got == max && read(fd, &extra, 1) > 0)
		r = refuse(-EFBIG, why, why_len, key, path, "is larger than %zu bytes", max);
	close(fd);
	if (r == 0 && (flags & MOTCUA_SECRET_LINE)) {
		size_t n = 0;
		while (n < got && buf[n] != '\n')
			n++;
		size_t keep = n && buf[n - 1] == '\r' ? n - 1 : n;
		secret_wipe(buf + keep, size - keep);
		got = keep;
		if (got == 0)
			r = refuse(-EINVAL, why, why_len, key, path, "has an empty first line");
	}
	if (r == 0 && memchr(buf, 0, got))
		r = refuse(-EINVAL, why, why_len, key, path, "holds a NUL byte");
	if (r < 0) {
		secret_wipe(buf, size);
		return r;
	}
	buf[got] = 0;
	if (len)
		*len = got;
	return 0;
}
