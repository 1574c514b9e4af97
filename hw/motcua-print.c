/* SPDX-License-Identifier: MIT */
/*
 * motcua-print: prints one PNG on a receipt printer, for operators and the
 * tests. motcua-print --device TRANSPORT [--paper 80|58] [--timeout MS]
 * [--band ROWS] [--no-status] FILE.png. Exit 0 when printed; otherwise
 * 2 (usage), 10 + the hw_print_result, with the message on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "printer.h"

struct outcome {
	enum hw_print_result result;
	char message[600];
	struct event_base *base;
};

static void on_done(void *arg, enum hw_print_result result, const char *message)
{
	struct outcome *o = arg;
	o->result = result;
	snprintf(o->message, sizeof o->message, "%s", message);
	event_base_loopbreak(o->base);
}

static int usage(FILE *f)
{
	fprintf(f, "usage: motcua-print --device TRANSPORT [--paper 80|58] [--timeout MS]\n"
		   "                    [--band ROWS] [--no-status] FILE.png\n"
		   "TRANSPORT: /dev/usb/lp0, tcp:HOST[:9100] or file:PATH\n");
	return 2;
}

static unsigned long number(const char *opt, const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi || *s == '-') {
		fprintf(stderr, "motcua-print: %s '%s': expected a number %lu..%lu\n", opt, s, lo,
			hi);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"device", required_argument, NULL, 'd'},
	    {"paper", required_argument, NULL, 'p'},
	    {"timeout", required_argument, NULL, 't'},
	    {"band", required_argument, NULL, 'b'},
	    {"no-status", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct hw_printer_opts opts = {.status = -1};
	int c;
	while ((c = getopt_long(argc, argv, "d:p:t:b:nh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			opts.device = optarg;
			break;
		case 'p':
			if (!strcmp(optarg, "80"))
				opts.dots = HW_PRINTER_DOTS_80MM;
			else if (!strcmp(optarg, "58"))
				opts.dots = HW_PRINTER_DOTS_58MM;
			else {
				fprintf(stderr, "motcua-print: --paper '%s': expected 80 or 58\n",
					optarg);
				return 2;
			}
			break;
		case 't':
			opts.timeout_ms = (unsigned)number("--timeout", optarg, 1, 600000);
			break;
		case 'b':
			opts.escpos.band_rows = (unsigned)number("--band", optarg, 1, 256);
			break;
		case 'n':
			opts.status = 0;
			break;
		case 'h':
			return usage(stdout), 0;
		default:
			return usage(stderr);
		}
	}
	if (!opts.device || optind != argc - 1) {
		if (!opts.device)
			fprintf(stderr, "motcua-print: --device is required\n");
		return usage(stderr);
	}
	const char *file = argv[optind];
	FILE *f = fopen(file, "rb");
	if (!f) {
		fprintf(stderr, "motcua-print: %s: %s\n", file, strerror(errno));
		return 2;
	}
	unsigned char *png = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			unsigned char *np = realloc(png, cap);
			if (!np) {
				fprintf(stderr, "motcua-print: out of memory\n");
				return 1;
			}
			png = np;
		}
		size_t n = fread(png + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	int rerr = ferror(f);
	fclose(f);
	if (rerr) {
		fprintf(stderr, "motcua-print: %s: read error\n", file);
		return 2;
	}

	struct outcome o = {.result = HW_PRINT_IO};
	o.base = event_base_new();
	if (!o.base) {
		fprintf(stderr, "motcua-print: no event loop\n");
		return 1;
	}
	char err[512];
	struct hw_printer *p = hw_printer_new(o.base, &opts, err, sizeof err);
	if (!p) {
		fprintf(stderr, "motcua-print: %s\n", err);
		event_base_free(o.base);
		free(png);
		return 2;
	}
	snprintf(o.message, sizeof o.message, "the job did not finish");
	if (hw_printer_print(p, png, len, on_done, &o) < 0) {
		fprintf(stderr, "motcua-print: cannot start the job\n");
		return 1;
	}
	event_base_dispatch(o.base);
	hw_printer_free(p);
	event_base_free(o.base);
	free(png);
	if (o.result == HW_PRINT_OK) {
		printf("%s\n", o.message);
		return 0;
	}
	fprintf(stderr, "motcua-print: %s [%s]\n", o.message, hw_print_result_name(o.result));
	return 10 + (int)o.result;
}
