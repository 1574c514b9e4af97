/* SPDX-License-Identifier: MIT */
/*
 * sign-tool: the core library from the command line, for tests and the
 * benchmark (not installed).
 *
 *   sign-tool pdf|cades IN OUT [-n N] [--key K] [--cert C] [--chain F]
 *             [--pin-file F] [--module M] [--tsa URL] [--trust F] [--pkcs1]
 *             [--stamp] [--org NAME]
 *
 * Signs IN into OUT N times (default 1) in one process and prints one line
 * per signature: "<seconds> <level> <timestamp|pending|none>", then, with
 * -n > 1, the median. Exit 0 on success, 1 with the reason on failure.
 * The key and PIN files are read under the gateway's own policy
 * (gateway/src/secret.c, built into this tool), as the plugin reads them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "secret.h"
#include "sign-core.h"

static int read_secret(void *data, const char *key, const char *path, unsigned flags, char *buf,
		       size_t size, size_t *len, char *why, size_t why_len)
{
	(void)data;
	return secret_read_file(key, path, flags, buf, size, len, why, why_len);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s pdf|cades IN OUT [-n N] [--key K] [--cert C] ...\n",
			argv[0]);
		return 2;
	}
	struct sign_config c = {.secret_read = read_secret};
	int n = 1;
	bool quiet = false;
	for (int i = 4; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--pkcs1")) {
			c.rsa_pkcs1 = true;
			continue;
		}
		if (!strcmp(a, "--stamp")) {
			c.stamp = true;
			continue;
		}
		if (!strcmp(a, "-q")) {
			quiet = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "%s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "-n"))
			n = atoi(v);
		else if (!strcmp(a, "--key"))
			c.key = v;
		else if (!strcmp(a, "--cert"))
			c.cert = v;
		else if (!strcmp(a, "--chain"))
			c.chain = v;
		else if (!strcmp(a, "--pin-file"))
			c.pin_file = v;
		else if (!strcmp(a, "--module"))
			c.pkcs11_module = v;
		else if (!strcmp(a, "--tsa"))
			c.tsa_url = v;
		else if (!strcmp(a, "--tsa-timeout"))
			c.tsa_timeout_s = (unsigned)atoi(v);
		else if (!strcmp(a, "--trust"))
			c.trust = v;
		else if (!strcmp(a, "--org"))
			c.organisation = v;
		else if (!strcmp(a, "--font"))
			c.stamp_font = v;
		else {
			fprintf(stderr, "unknown option %s\n", a);
			return 2;
		}
	}
	if (n < 1 || n > 100000)
		n = 1;
	char err[512] = "";
	struct sign_signer *s = NULL;
	int r = sign_signer_open(&c, &s, err, sizeof err);
	if (r < 0) {
		fprintf(stderr, "sign-tool: %s\n", err);
		return 1;
	}
	double *t = calloc((size_t)n, sizeof *t);
	bool pdf = !strcmp(argv[1], "pdf");
	for (int i = 0; i < n && t; i++) {
		struct sign_result res;
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		r = pdf ? sign_pdf(s, argv[2], argv[3], 0, &res, err, sizeof err)
			: sign_cades(s, argv[2], argv[3], 0, &res, err, sizeof err);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (r < 0) {
			fprintf(stderr, "sign-tool: %s\n", err);
			break;
		}
		t[i] = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		char ts[40] = "none";
		if (res.timestamp)
			sign_iso_vn(res.timestamp, ts, sizeof ts);
		else if (res.timestamp_pending)
			snprintf(ts, sizeof ts, "pending");
		if (!quiet)
			printf("%.6f %s %s %s%s%s\n", t[i], res.level, ts, res.algorithm,
			       res.timestamp_pending ? " " : "",
			       res.timestamp_pending ? res.tsa_error : "");
	}
	if (r == 0 && n > 1) {
		qsort(t, (size_t)n, sizeof *t, cmp_double);
		printf("median %.6f\n", n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2);
	}
	free(t);
	sign_signer_free(s);
	return r < 0 ? 1 : 0;
}
