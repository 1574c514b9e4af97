/* SPDX-License-Identifier: MIT */
/*
 * `motcua verify FILE [--trust BUNDLE] [--data FILE] [--json]`
 *
 * Checks a signed PDF (PAdES) or a detached .p7s (CAdES, over --data, by
 * default FILE without its .p7s ending) and prints who signed, when, the
 * timestamp, whether the signed bytes are intact and cover the whole file,
 * and whether the signer chains to the trust bundle.
 *
 * Exit status: 0 intact and trusted; 1 broken, untrusted or unsigned (the
 * reason is printed); 2 bad usage or an unreadable file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sign-core.h"
#include "verify-cli.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: motcua verify FILE [--trust BUNDLE] [--data FILE] [--json]\n"
		   "  FILE          a signed PDF, or a detached signature (.p7s)\n"
		   "  --trust FILE  PEM CA bundle the signer must chain to\n"
		   "                (default: [sign-openssl] trust)\n"
		   "  --data FILE   the signed file of a .p7s (default: FILE without .p7s)\n"
		   "  --json        print the report as JSON\n"
		   "Exit status: 0 intact and trusted, 1 not, 2 usage or unreadable file.\n");
}

static json_t *time_or_null(time_t t)
{
	char buf[40];
	if (!t)
		return json_null();
	sign_iso_vn(t, buf, sizeof buf);
	return json_string(buf);
}

static void print_json(const char *file, const struct sign_verify_report *r)
{
	json_t *o = json_pack(
	    "{s:s, s:b, s:s?, s:s?, s:i, s:s?, s:s?, s:s?, s:o, s:o, s:b, s:b, s:b, s:I, s:b, "
	    "s:s?, s:s?}",
	    "file", file, "ok", r->ok, "format", r->format[0] ? r->format : NULL, "level",
	    r->level[0] ? r->level : NULL, "signatures", r->n_signatures, "signer",
	    r->signer[0] ? r->signer : NULL, "signer_subject",
	    r->signer_subject[0] ? r->signer_subject : NULL, "algorithm",
	    r->algorithm[0] ? r->algorithm : NULL, "signing_time", time_or_null(r->signing_time),
	    "timestamp", time_or_null(r->timestamp), "timestamp_valid", r->timestamp_valid,
	    "integrity", r->integrity, "whole_file", r->whole_file, "appended_bytes",
	    (json_int_t)r->appended_bytes, "chain_ok", r->chain_ok, "chain_error",
	    r->chain_ok ? NULL : r->chain_error, "reason", r->reason[0] ? r->reason : NULL);
	if (!o)
		return;
	json_dumpf(o, stdout, JSON_PRESERVE_ORDER | JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(o);
}

static void print_text(const char *file, const char *data, const struct sign_verify_report *r)
{
	char t[40];
	printf("Tệp (file):                 %s\n", file);
	if (data)
		printf("Dữ liệu được ký (data):     %s\n", data);
	if (!r->format[0]) {
		printf("Kết luận (result):          KHÔNG HỢP LỆ (INVALID): không có chữ ký (no "
		       "signature): %s\n",
		       r->reason);
		return;
	}
	printf("Định dạng (format):         %s %s%s\n", r->format, r->level,
	       r->n_signatures > 1 ? " (the last of several signatures)" : "");
	printf("Người ký (signer):          %s\n", r->signer[0] ? r->signer : "?");
	if (r->signer_subject[0])
		printf("                            %s\n", r->signer_subject);
	printf("Thuật toán (algorithm):     %s\n", r->algorithm[0] ? r->algorithm : "?");
	if (r->signing_time) {
		sign_iso_vn(r->signing_time, t, sizeof t);
		printf("Thời điểm ký (signed at):   %s\n", t);
	}
	if (r->timestamp) {
		sign_iso_vn(r->timestamp, t, sizeof t);
		printf("Dấu thời gian (timestamp):  %s, %s\n", t,
		       r->timestamp_valid ? "hợp lệ (valid)" : "KHÔNG hợp lệ (NOT valid)");
	} else {
		printf("Dấu thời gian (timestamp):  không có (none)\n");
	}
	printf("Toàn vẹn (integrity):       %s\n",
	       r->integrity ? "nguyên vẹn (intact)" : "BỊ THAY ĐỔI (BROKEN)");
	if (!strcmp(r->format, "PAdES")) {
		if (r->whole_file)
			printf("Phạm vi (coverage):         toàn bộ tệp (the whole file)\n");
		else if (r->appended_bytes > 0)
			printf("Phạm vi (coverage):         %lld byte thêm sau khi ký (bytes added "
			       "after signing)\n",
			       r->appended_bytes);
		else
			printf("Phạm vi (coverage):         không rõ (unknown)\n");
	}
	printf("Chuỗi tin cậy (chain):      %s%s\n",
	       r->chain_ok ? "tin cậy (trusted)" : "KHÔNG tin cậy (NOT trusted): ",
	       r->chain_ok ? "" : r->chain_error);
	if (r->ok)
		printf("Kết luận (result):          HỢP LỆ (VALID)\n");
	else
		printf("Kết luận (result):          KHÔNG HỢP LỆ (INVALID): %s\n", r->reason);
}

int sign_openssl_verify_cli(int argc, char **argv, const char *trust_default)
{
	const char *file = NULL, *trust = trust_default, *data = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--trust") || !strcmp(a, "--data")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "motcua verify: %s needs a file\n", a);
				usage(stderr);
				return 2;
			}
			if (!strcmp(a, "--trust"))
				trust = argv[++i];
			else
				data = argv[++i];
		} else if (!strncmp(a, "--trust=", 8)) {
			trust = a + 8;
		} else if (!strncmp(a, "--data=", 7)) {
			data = a + 7;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "motcua verify: unknown option %s\n", a);
			usage(stderr);
			return 2;
		} else if (!file) {
			file = a;
		} else {
			fprintf(stderr, "motcua verify: one file at a time (%s and %s)\n", file, a);
			return 2;
		}
	}
	if (!file) {
		usage(stderr);
		return 2;
	}
	struct sign_verify_report rep;
	char data_buf[4096];
	int r;
	size_t n = strlen(file);
	bool p7s = data || (n > 4 && !strcmp(file + n - 4, ".p7s"));
	if (!p7s || (sign_is_pdf(file) && !data)) {
		/* a PDF, or what should have been one (a damaged header says so) */
		r = sign_verify_pdf(file, trust, &rep);
	} else {
		if (!data) {
			if (n - 4 >= sizeof data_buf)
				return 2;
			memcpy(data_buf, file, n - 4);
			data_buf[n - 4] = 0;
			data = data_buf;
		}
		r = sign_verify_cades(file, data, trust, &rep);
	}
	if (r < 0) {
		fprintf(stderr, "motcua verify: cannot read %s: %s\n",
			data && r == -ENOENT ? data : file, strerror(-r));
		return 2;
	}
	if (json)
		print_json(file, &rep);
	else
		print_text(file, data, &rep);
	return rep.ok ? 0 : 1;
}
