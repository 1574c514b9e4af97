/* SPDX-License-Identifier: MIT */
/* The secret-file cases of a plugin's unit test (secret-cases.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <motcua/plugin.h>

#include "secret-cases.h"
#include "secret.h" /* gateway/src: the policy the test host's secret_read() runs */

static int failed(const struct secret_case *c, const char *fmt, ...) MOTCUA_PRINTF(2, 3);
static int failed(const struct secret_case *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL [secret %s] ", c->key);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int secret_cases_reason(const char *key, const char *path, unsigned flags, char *why,
			size_t why_len)
{
	static char buf[MOTCUA_SECRET_MAX + 1];
	why[0] = 0;
	return secret_read_file(key, path, flags, buf, sizeof buf, NULL, why, why_len);
}

/* Copies src into a new file dst of that mode; the mode set whatever the umask. */
static int copy_file(const char *src, const char *dst, mode_t mode)
{
	static char buf[MOTCUA_SECRET_MAX + 1];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	ssize_t n = read(in, buf, sizeof buf);
	close(in);
	if (n < 0)
		return -errno;
	unlink(dst);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (out < 0)
		return -errno;
	int r = write(out, buf, (size_t)n) == n && fchmod(out, mode) == 0 ? 0 : -EIO;
	close(out);
	return r;
}

static int start(struct motcua_testhost *th, const struct secret_case *c)
{
	motcua_testhost_log_clear(th);
	return c->start ? c->start(th, c->arg) : motcua_testhost_start(th);
}

int secret_cases_run(struct motcua_testhost *th, const struct secret_case *c)
{
	int failures = 0;
	char link[4200], open_to_all[4200], empty[4200];
	snprintf(link, sizeof link, "%s.link", c->good);
	snprintf(open_to_all, sizeof open_to_all, "%s.0644", c->good);
	snprintf(empty, sizeof empty, "%s.empty", c->good);
	unlink(link);
	if (symlink(c->good, link) < 0 || copy_file(c->good, open_to_all, 0644) < 0 ||
	    copy_file("/dev/null", empty, 0600) < 0)
		return failed(c, "cannot make the files beside %s: %s", c->good, strerror(errno));
	char why[512];
	if (secret_cases_reason(c->key, c->good, c->flags, why, sizeof why) < 0)
		return failed(c, "the good file is not good: %s", why);

	const char *bad[] = {link, open_to_all, empty};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int want = secret_cases_reason(c->key, bad[i], c->flags, why, sizeof why);
		c->configure(th, bad[i], c->arg);
		int r = start(th, c);
		const char *line = motcua_testhost_log_last_error(th);
		if (r != want || !strstr(line, why))
			failures += failed(c,
					   "%s: start returned %d (%s), the policy %d; wanted the "
					   "host's reason \"%s\" in \"%s\"",
					   bad[i], r, strerror(-r), want, why, line);
		motcua_testhost_stop(th);
	}

	c->configure(th, c->good, c->arg);
	int r = start(th, c);
	if (c->taken ? !c->taken(th, r, c->arg) : r != 0)
		failures += failed(c, "%s refused (%d): %s", c->good, r,
				   motcua_testhost_log_last_error(th));
	motcua_testhost_stop(th);

	/* a gateway from before secret_read(): refused, not crashed */
	if (motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_BEFORE(secret_read)) < 0)
		return failures + failed(c, "cannot make an older host");
	c->configure(th, c->good, c->arg);
	r = start(th, c);
	if (r != -ENOTSUP || !strstr(motcua_testhost_log_last_error(th), "too old"))
		failures += failed(c, "an older host: start returned %d: \"%s\"", r,
				   motcua_testhost_log_last_error(th));
	motcua_testhost_stop(th);
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_FULL);
	unlink(link);
	unlink(open_to_all);
	unlink(empty);
	return failures;
}
