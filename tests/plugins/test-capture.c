/* SPDX-License-Identifier: MIT */
/* A capture plugin without a device, for testing the host's capture path:
 * "scans" a configurable number of small PNG pages with a delay each, and can
 * fail after some pages the way a jammed feeder does. Options:
 * {"pages": N, "delay_ms": D, "fail_after": K, "error": "jam"|"busy"|"unplugged"|"empty"}. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <motcua/plugin.h>

/* A 2x2 grey PNG; the page number goes into a tEXt-free trailing comment is
 * not possible in PNG, so pages differ by their IDAT colour byte instead. */
static const unsigned char png_head[] = {
    0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I',  'H',  'D',	'R',  0,
    0,	  0,   1,   0,	 0,    0,    1,	   8,	 0, 0, 0, 0,  0x3a, 0x7e, 0x9b, 0x55,
};

static int find_int(const char *json, const char *key, int def)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(json, pat);
	return p ? atoi(p + strlen(pat)) : def;
}

static int check(void *data, const char *options, char *message, size_t len)
{
	(void)data;
	if (find_int(options, "pages", 1) < 0 || find_int(options, "pages", 1) > 50) {
		snprintf(message, len, "pages must be 0 to 50");
		return -EINVAL;
	}
	if (strstr(options, "\"source\":\"moon\"")) {
		snprintf(message, len, "source must be flatbed or adf");
		return -EINVAL;
	}
	return 0;
}

static int write_page(const char *path, int n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	char tail[64];
	/* A PNG signature and IHDR, then the page number: enough for the host,
	 * which only checks what it is told (image/png) by the signature. */
	int tl = snprintf(tail, sizeof tail, "page %d\n", n);
	int ok = write(fd, png_head, sizeof png_head) == (ssize_t)sizeof png_head &&
		 write(fd, tail, (size_t)tl) == tl;
	close(fd);
	return ok ? 0 : -EIO;
}

static int capture(void *data, struct motcua_capture_io *io)
{
	(void)data;
	int pages = find_int(io->options, "pages", 1);
	int delay = find_int(io->options, "delay_ms", 0);
	int fail_after = find_int(io->options, "fail_after", -1);
	for (int n = 1; n <= pages; n++) {
		if (io->cancel)
			return 0;
		if (n - 1 == fail_after) {
			if (strstr(io->options, "\"error\":\"busy\"")) {
				snprintf(io->message, sizeof io->message, "the scanner is busy");
				return -EBUSY;
			}
			if (strstr(io->options, "\"error\":\"unplugged\"")) {
				snprintf(io->message, sizeof io->message,
					 "the scanner is not connected");
				return -ENODEV;
			}
			if (strstr(io->options, "\"error\":\"empty\"")) {
				snprintf(io->message, sizeof io->message, "the feeder is empty");
				return -ENOMEDIUM;
			}
			snprintf(io->message, sizeof io->message,
				 "paper jam in the feeder after %d pages", n - 1);
			return -EIO;
		}
		struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		char path[4096], prog[64];
		snprintf(path, sizeof path, "%s/page-%d.png", io->tmp_dir, n);
		int r = write_page(path, n);
		if (r == 0)
			r = io->page_ready(io, path, "image/png");
		if (r < 0) {
			snprintf(io->message, sizeof io->message, "page %d: %s", n, strerror(-r));
			return r;
		}
		snprintf(prog, sizeof prog, "{\"page\":%d,\"percent\":100}", n);
		io->progress(io, prog);
	}
	return 0;
}

static int list_devices(void *data, char **json)
{
	(void)data;
	*json = strdup("[{\"name\":\"test-capture:0\",\"vendor\":\"motcua\",\"model\":\"fake\","
		       "\"type\":\"test\"}]");
	return *json ? 0 : -ENOMEM;
}

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	(void)state;
	static const struct motcua_capture_ops ops = {
	    .struct_size = sizeof(struct motcua_capture_ops),
	    .check = check,
	    .capture = capture,
	    .list_devices = list_devices,
	};
	if (host->struct_size < offsetof(struct motcua_host, capture_register) + sizeof(void *))
		return -ENOTSUP;
	return host->capture_register(ctx, &ops, NULL, NULL);
}

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = "test-capture",
    .version = "0.0.1",
    .provides = MOTCUA_PROVIDES_CAPTURE,
    .init = init,
};

MOTCUA_PLUGIN_DECLARE(info)
