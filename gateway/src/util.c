/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util.h"
#include "validate.h"

int64_t time_now(void)
{
	return (int64_t)time(NULL);
}

void time_iso_vn(int64_t t, char out[32])
{
	time_t vn = (time_t)(t + VN_OFFSET_S);
	struct tm tm;
	gmtime_r(&vn, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
}

void time_yymmdd_vn(int64_t t, char out[8])
{
	time_t vn = (time_t)(t + VN_OFFSET_S);
	struct tm tm;
	gmtime_r(&vn, &tm);
	strftime(out, 8, "%y%m%d", &tm);
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

int time_parse(const char *s, bool end_of_day, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, se = 0, off = VN_OFFSET_S;
	size_t len = strlen(s);
	if (len < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31)
		return -EINVAL;
	const char *p = s + 10;
	if (*p == 'T' || *p == ' ') {
		if (strlen(p) < 9 || !digits(p + 1, 2, &h) || p[3] != ':' ||
		    !digits(p + 4, 2, &mi) || p[6] != ':' || !digits(p + 7, 2, &se))
			return -EINVAL;
		if (h > 23 || mi > 59 || se > 59)
			return -EINVAL;
		p += 9;
		if (*p == 'Z') {
			off = 0;
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;
			if (strlen(p) != 6 || !digits(p + 1, 2, &oh) || p[3] != ':' ||
			    !digits(p + 4, 2, &om) || oh > 14 || om > 59)
				return -EINVAL;
			off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
			p += 6;
		}
	} else if (end_of_day) {
		h = 23, mi = 59, se = 59;
	}
	if (*p)
		return -EINVAL;
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = se};
	time_t t = timegm(&tm);
	/* Reject 2026-02-31 and the like: timegm normalises them. */
	struct tm chk;
	gmtime_r(&t, &chk);
	if (chk.tm_mday != d || chk.tm_mon != mo - 1)
		return -EINVAL;
	*out = (int64_t)t - off;
	return 0;
}

int date_parse_vn(const char *s, int64_t *start)
{
	/* a date and nothing else: time_parse() also takes a time */
	if (strlen(s) != 10)
		return -EINVAL;
	return time_parse(s, false, start);
}

char *str_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

void random_hex(char *out, size_t nbytes)
{
	unsigned char buf[64];
	if (nbytes > sizeof buf)
		nbytes = sizeof buf;
	if (RAND_bytes(buf, (int)nbytes) != 1)
		abort(); /* no entropy: nothing safe can be done */
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", buf[i]);
	out[2 * nbytes] = 0;
}

void random_bytes(void *out, size_t n)
{
	if (RAND_bytes(out, (int)n) != 1)
		abort(); /* no entropy: nothing safe can be done */
}

int lookup_key_new(char *out)
{
	static const char alphabet[] = LOOKUP_KEY_ALPHABET; /* 32: 5 bits a character */
	unsigned char b[LOOKUP_KEY_LEN];
	random_bytes(b, sizeof b);
	for (size_t i = 0; i < LOOKUP_KEY_LEN; i++)
		out[i] = alphabet[b[i] & 31];
	out[LOOKUP_KEY_LEN] = 0;
	return 0;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = 0;
}

int mkdir_p(const char *path, unsigned mode)
{
	char buf[4096];
	if (strlen(path) >= sizeof buf)
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int write_file_atomic(const char *path, const void *data, size_t len)
{
	char tmp[4096], dir[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			close(fd);
			unlink(tmp);
			return r;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		int r = -errno;
		unlink(tmp);
		return r;
	}
	if (rename(tmp, path) < 0) {
		int r = -errno;
		unlink(tmp);
		return r;
	}
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		return fsync_dir(slash == dir ? "/" : dir);
	}
	return fsync_dir(".");
}

void remove_contents(const char *dir, bool remove_self)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char p[4096];
			if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= (int)sizeof p)
				continue;
			if (unlink(p) < 0 && errno == EISDIR)
				remove_contents(p, true);
		}
		closedir(d);
	}
	if (remove_self)
		rmdir(dir);
}
