/* SPDX-License-Identifier: MIT */
/*
 * `motcua archive ...`: offline commands on the archive folder (the
 * gateway may be running: SQLite WAL lets both read).
 *
 *   verify                      fixity of every file and the audit chain
 *                               (read-only); exit 1 naming every bad item
 *   export CODE DIR             BagIt package of dossier CODE in DIR/CODE
 *   search [--id-number N] [--procedure P] [--from D] [--to D]
 *          [--limit N] [--offset N] WORDS...
 *   disposal                    items past their retention period
 * Every command takes --json to print the JSON answer instead of lines.
 * Exit status: 0 done (verify: intact), 1 a failure or a problem found,
 * 2 a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "archive-core.h"

int archive_sqlite_cli(int argc, char **argv, const char *archive_dir);
void archive_sqlite_cli_usage(FILE *f);

void archive_sqlite_cli_usage(FILE *f)
{
	fprintf(f,
		"usage: motcua archive verify [--json]\n"
		"       motcua archive export CODE DIR\n"
		"       motcua archive search [--id-number N] [--procedure P] [--from YYYY-MM-DD]\n"
		"                             [--to YYYY-MM-DD] [--limit N] [--offset N] [--json] "
		"WORDS...\n"
		"       motcua archive disposal [--json]\n");
}

static int open_archive(const char *dir, bool read_only, struct archive **a)
{
	char msg[512];
	struct archive_options opt = {.read_only = read_only, .retention_years = 10};
	int r = archive_open(dir, &opt, a, msg, sizeof msg);
	if (r < 0)
		fprintf(stderr, "motcua: archive %s: %s\n", dir, msg);
	return r;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (s)
		printf("%s\n", s);
	free(s);
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static void print_ids(json_t *ids)
{
	size_t i;
	json_t *v;
	if (!json_array_size(ids)) {
		printf(" (no item)");
		return;
	}
	printf(" item");
	json_array_foreach(ids, i, v) printf(" %s", json_string_value(v));
}

static int cmd_verify(const char *dir, bool as_json)
{
	struct archive *a;
	if (open_archive(dir, true, &a) < 0)
		return 1;
	json_t *rep = NULL;
	char msg[512];
	int r = archive_verify(a, false, &rep, msg, sizeof msg);
	archive_close(a);
	if (r < 0) {
		fprintf(stderr, "motcua: archive verify: %s\n", msg);
		return 1;
	}
	bool ok = json_is_true(json_object_get(rep, "ok"));
	json_t *chain = json_object_get(rep, "chain");
	if (as_json) {
		print_json(rep);
	} else {
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(rep, "changed"), i, e)
		{
			printf("CHANGED %s", str(e, "path"));
			print_ids(json_object_get(e, "items"));
			printf(": SHA-256 is now %s\n", str(e, "actual_sha256"));
		}
		json_array_foreach(json_object_get(rep, "missing"), i, e)
		{
			printf("MISSING %s", str(e, "path"));
			print_ids(json_object_get(e, "items"));
			printf("\n");
		}
		json_array_foreach(json_object_get(rep, "unexpected"), i, e)
		    printf("UNEXPECTED %s: %s\n", str(e, "path"), str(e, "reason"));
		json_array_foreach(json_object_get(chain, "problems"), i, e)
		{
			const char *id = json_string_value(json_object_get(e, "item_id"));
			printf("AUDIT%s%s: %s\n", id ? " item " : "", id ? id : "",
			       str(e, "problem"));
		}
		printf("%s: %lld items, %lld files, %lld audit entries%s\n",
		       ok ? "Kho lưu trữ nguyên vẹn / archive intact"
			  : "Kho lưu trữ có lỗi / archive NOT intact",
		       (long long)json_integer_value(json_object_get(rep, "items")),
		       (long long)json_integer_value(json_object_get(rep, "blobs")),
		       (long long)json_integer_value(json_object_get(chain, "entries")),
		       json_is_true(json_object_get(chain, "ok")) ? ", chain intact"
								  : ", chain BROKEN");
	}
	json_decref(rep);
	return ok ? 0 : 1;
}

static int cmd_export(const char *dir, const char *code, const char *out)
{
	struct archive *a;
	if (open_archive(dir, false, &a) < 0)
		return 1;
	char msg[512], bag[4096];
	int r = archive_export(a, code, out, bag, sizeof bag, msg, sizeof msg);
	archive_close(a);
	if (r < 0) {
		fprintf(stderr, "motcua: archive export: %s\n", msg);
		return 1;
	}
	printf("%s\n", bag);
	fprintf(stderr, "%s\n", msg);
	return 0;
}

static void print_items(json_t *items)
{
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		printf("%s  %s  %s  %s  %s\n", str(it, "id"), str(it, "archived_at"),
		       str(it, "dossier_code"), str(it, "id_number"), str(it, "name"));
		const char *sn = json_string_value(json_object_get(it, "snippet"));
		if (sn)
			printf("    %s\n", sn);
	}
}

static int cmd_search(const char *dir, json_t *q, bool as_json)
{
	struct archive *a;
	if (open_archive(dir, true, &a) < 0)
		return 1;
	json_t *res = NULL;
	char msg[512];
	int r = archive_search(a, q, &res, msg, sizeof msg);
	archive_close(a);
	if (r < 0) {
		fprintf(stderr, "motcua: archive search: %s\n", msg);
		return r == -EINVAL ? 2 : 1;
	}
	if (as_json) {
		print_json(res);
	} else {
		printf("%lld found\n",
		       (long long)json_integer_value(json_object_get(res, "total")));
		print_items(json_object_get(res, "items"));
	}
	json_decref(res);
	return 0;
}

static int cmd_disposal(const char *dir, bool as_json)
{
	struct archive *a;
	if (open_archive(dir, true, &a) < 0)
		return 1;
	json_t *res = NULL;
	char msg[512];
	int r = archive_disposal(a, false, &res, msg, sizeof msg);
	archive_close(a);
	if (r < 0) {
		fprintf(stderr, "motcua: archive disposal: %s\n", msg);
		return 1;
	}
	json_t *items = json_object_get(res, "items");
	if (as_json) {
		print_json(res);
	} else {
		printf("%zu items past their retention period on %s (nothing is deleted)\n",
		       json_array_size(items), str(res, "today"));
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it) printf(
		    "%s  retain until %s  %s  %s  %s\n", str(it, "id"), str(it, "retain_until"),
		    str(it, "dossier_code"), str(it, "procedure_code"), str(it, "name"));
	}
	json_decref(res);
	return 0;
}

int archive_sqlite_cli(int argc, char **argv, const char *archive_dir)
{
	if (argc > 0 && !strcmp(argv[0], "archive")) {
		argc--;
		argv++;
	}
	if (argc < 1 || !archive_dir) {
		archive_sqlite_cli_usage(stderr);
		return 2;
	}
	const char *cmd = argv[0];
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"id-number", required_argument, NULL, 'i'},
	    {"procedure", required_argument, NULL, 'p'},
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"limit", required_argument, NULL, 'l'},
	    {"offset", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool as_json = false;
	json_t *q = json_object();
	int c, rc = 2;
	optind = 0;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			as_json = true;
			break;
		case 'i':
			json_object_set_new(q, "id_number", json_string(optarg));
			break;
		case 'p':
			json_object_set_new(q, "procedure", json_string(optarg));
			break;
		case 'f':
			json_object_set_new(q, "from", json_string(optarg));
			break;
		case 't':
			json_object_set_new(q, "to", json_string(optarg));
			break;
		case 'l':
			json_object_set_new(q, "limit", json_string(optarg));
			break;
		case 'o':
			json_object_set_new(q, "offset", json_string(optarg));
			break;
		case 'h':
			archive_sqlite_cli_usage(stdout);
			rc = 0;
			goto out;
		default:
			archive_sqlite_cli_usage(stderr);
			goto out;
		}
	}
	int nargs = argc - optind;
	char **args = argv + optind;
	bool search = !strcmp(cmd, "search");
	if (!search && json_object_size(q)) {
		fprintf(stderr, "motcua: archive %s takes no search options\n", cmd);
		goto out;
	}
	if (!strcmp(cmd, "verify") && nargs == 0) {
		rc = cmd_verify(archive_dir, as_json);
	} else if (!strcmp(cmd, "export") && nargs == 2) {
		rc = cmd_export(archive_dir, args[0], args[1]);
	} else if (!strcmp(cmd, "disposal") && nargs == 0) {
		rc = cmd_disposal(archive_dir, as_json);
	} else if (search) {
		size_t l = 0;
		for (int i = 0; i < nargs; i++)
			l += strlen(args[i]) + 1;
		char *words = calloc(1, l + 1);
		if (!words) {
			rc = 1;
			goto out;
		}
		for (int i = 0; i < nargs; i++) {
			if (i)
				strcat(words, " ");
			strcat(words, args[i]);
		}
		json_t *w = json_string(words);
		free(words);
		if (nargs && !w) {
			fprintf(stderr, "motcua: the search words must be UTF-8 text\n");
			goto out;
		}
		if (w)
			json_object_set_new(q, "q", w);
		rc = cmd_search(archive_dir, q, as_json);
	} else {
		if (!strcmp(cmd, "export"))
			fprintf(stderr,
				"motcua: archive export takes a dossier CODE and a folder DIR\n");
		else if (!strcmp(cmd, "verify") || !strcmp(cmd, "disposal"))
			fprintf(stderr, "motcua: archive %s takes no argument\n", cmd);
		else
			fprintf(stderr, "motcua: unknown archive command '%s'\n", cmd);
		archive_sqlite_cli_usage(stderr);
	}
out:
	json_decref(q);
	return rc;
}
