/* SPDX-License-Identifier: MIT */
/*
 * motcua-report: `motcua report --quarter YYYYQn | --year YYYY |
 * --from DATE --to DATE [--out DIR]` as its own program, which
 * `motcua report ...` runs (see plugins/common/motcua-tool.h): the
 * indicators of a period per office, unit and official (eval_report(), on
 * the plugin's database), with the plan's targets, as a CSV and a printable
 * HTML page, for the plan's reporting duty.
 *
 * The database: --db, else [eval-stream] path of MOTCUA_SETTINGS, else
 * DATA_DIR/eval-stream/eval.db as the plugin keeps it; the office's name and
 * code on the page: --agency-name and --agency-code, else [office] name and
 * agency_code, else the gateway's defaults.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval-core.h"
#include "motcua-tool.h"

static void usage(json_t *settings)
{
	printf("usage: motcua report --quarter YYYYQn | --year YYYY | --from YYYY-MM-DD --to "
	       "YYYY-MM-DD\n"
	       "                     [--out DIR]\n"
	       "  the indicators per office, unit and official with the plan's targets:\n"
	       "  DIR/motcua-report-PERIOD.csv and .html (DIR: the current folder)\n"
	       "  --db FILE           the eval-stream plugin's database (default: [eval-stream]\n"
	       "                      path, else DATA_DIR/eval-stream/eval.db)\n"
	       "  --agency-name NAME  the office's name on the page (default: [office] name)\n"
	       "  --agency-code CODE  its code (default: [office] agency_code)\n"
	       "Exit status: 0 written, 1 a failure, 2 a usage error.\n");
	if (!settings)
		printf(
		    "\nRun directly as motcua-report, DATA_DIR is " MOTCUA_TOOL_DEFAULT_DATA_DIR
		    ", the office\n"
		    "\"" MOTCUA_TOOL_DEFAULT_OFFICE_NAME "\" " MOTCUA_TOOL_DEFAULT_AGENCY_CODE
		    "; run by\n"
		    "`motcua [--config FILE] [-o SECTION.KEY=VALUE] report ...`, it gets the\n"
		    "configuration motcua resolved in the environment:\n"
		    "  " MOTCUA_TOOL_SETTINGS_ENV
		    "  a JSON object {\"section\": {\"key\": \"value\"}}; read:\n"
		    "                   [eval-stream] path, [gateway] data_dir, [office] name and\n"
		    "                   agency_code\n");
}

/* YYYY-MM-DD, a day of the calendar (what the gateway's time_parse() takes
 * of a date alone). */
static bool is_date(const char *s)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

static const struct {
	const char *key, *vi, *en, *unit;
	double target; /* < 0: none */
	bool at_most;
} report_cols[] = {
    {"waiting_avg_min", "Thời gian chờ trung bình", "average wait", "phút", 30, true},
    {"waiting_p90_min", "Thời gian chờ (P90)", "wait, 90th percentile", "phút", -1, false},
    {"on_time_rate", "Tỷ lệ đúng hạn", "on-time rate", "%", 100, false},
    {"processing_avg_h", "Thời gian xử lý TB", "average processing time", "giờ", -1, false},
    {"online_rate", "Tỷ lệ trực tuyến", "online share", "%", -1, false},
    {"digitization_rate", "Tỷ lệ số hóa", "digitization", "%", 80, false},
    {"reuse_rate", "Tỷ lệ tái sử dụng", "reuse", "%", 80, false},
    {"sync_rate", "Tỷ lệ đồng bộ Cổng DVCQG", "portal sync", "%", 100, false},
    {"satisfaction", "Mức độ hài lòng", "satisfaction", "%", 70, false},
};
#define N_REPORT_COLS (sizeof report_cols / sizeof report_cols[0])

static void html_escape(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* Whether a value meets its target ("" when there is none). */
static const char *verdict(json_t *v, size_t c)
{
	if (report_cols[c].target < 0 || !json_is_number(v))
		return "";
	double x = json_number_value(v);
	bool ok = report_cols[c].at_most ? x <= report_cols[c].target : x >= report_cols[c].target;
	return ok ? "đạt" : "chưa đạt";
}

/* Parses --quarter 2026Q4 / --year 2026 into from/to dates. */
static bool period(const char *quarter, const char *year, char from[11], char to[11],
		   char label[16])
{
	int y, q;
	char tail;
	if (quarter && sscanf(quarter, "%4dQ%1d%c", &y, &q, &tail) == 2 && y >= 2000 && y <= 2100 &&
	    q >= 1 && q <= 4) {
		static const char *const ends[] = {"03-31", "06-30", "09-30", "12-31"};
		snprintf(from, 11, "%04d-%02d-01", y, 3 * (q - 1) + 1);
		snprintf(to, 11, "%04d-%s", y, ends[q - 1]);
		snprintf(label, 16, "%04dQ%d", y, q);
		return true;
	}
	if (year && sscanf(year, "%4d%c", &y, &tail) == 1 && y >= 2000 && y <= 2100) {
		snprintf(from, 11, "%04d-01-01", y);
		snprintf(to, 11, "%04d-12-31", y);
		snprintf(label, 16, "%04d", y);
		return true;
	}
	return false;
}

/* argv[0] is "report", as `motcua report` always had it (getopt's
 * messages name it). */
static int report(json_t *settings, int argc, char **argv)
{
	struct option o[] = {
	    {"quarter", required_argument, NULL, 'q'},
	    {"year", required_argument, NULL, 'y'},
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"out", required_argument, NULL, 'o'},
	    {"db", required_argument, NULL, 'd'},
	    {"agency-name", required_argument, NULL, 'n'},
	    {"agency-code", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	/* --help is the tool's, run directly; run by motcua, `motcua report
	 * --help` means what it always meant (an unknown option). */
	if (settings)
		o[sizeof o / sizeof o[0] - 2] = (struct option){0};
	const char *quarter = NULL, *year = NULL, *from_a = NULL, *to_a = NULL, *out_dir = ".";
	const char *db_a = NULL, *office_name = NULL, *agency_code = NULL;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (ch == 'h') {
			usage(settings);
			return 0;
		} else if (ch == 'd')
			db_a = optarg;
		else if (ch == 'n')
			office_name = optarg;
		else if (ch == 'a')
			agency_code = optarg;
		else if (ch == 'q')
			quarter = optarg;
		else if (ch == 'y')
			year = optarg;
		else if (ch == 'f')
			from_a = optarg;
		else if (ch == 't')
			to_a = optarg;
		else if (ch == 'o')
			out_dir = optarg;
		else
			return 2;
	}
	char from[11], to[11], label[40];
	if (quarter || year) {
		if (!period(quarter, year, from, to, label) || from_a || to_a) {
			fprintf(stderr, "motcua: report --quarter YYYYQn | --year YYYY | --from "
					"DATE --to DATE [--out DIR]\n");
			return 2;
		}
	} else if (from_a && to_a && is_date(from_a) && is_date(to_a) &&
		   strcmp(from_a, to_a) <= 0) {
		snprintf(from, sizeof from, "%s", from_a);
		snprintf(to, sizeof to, "%s", to_a);
		snprintf(label, sizeof label, "%s_%s", from, to);
	} else {
		fprintf(stderr, "motcua: report --quarter YYYYQn | --year YYYY | --from YYYY-MM-DD "
				"--to YYYY-MM-DD [--out DIR]\n");
		return 2;
	}
	if (optind != argc) {
		fprintf(stderr, "motcua: report takes no argument '%s'\n", argv[optind]);
		return 2;
	}
	char db[4096];
	const char *p = db_a ? db_a : motcua_tool_setting(settings, "eval-stream", "path");
	const char *data_dir = motcua_tool_setting(settings, "gateway", "data_dir");
	if (p)
		snprintf(db, sizeof db, "%s", p);
	else
		snprintf(db, sizeof db, "%s/eval-stream/eval.db",
			 data_dir ? data_dir : MOTCUA_TOOL_DEFAULT_DATA_DIR);
	if (!office_name)
		office_name = motcua_tool_setting(settings, "office", "name");
	if (!agency_code)
		agency_code = motcua_tool_setting(settings, "office", "agency_code");
	static const char *const bys[] = {"office", "unit", "official"};
	static const char *const by_vi[] = {"Toàn cơ quan", "Theo đơn vị", "Theo cán bộ"};
	json_t *res[3] = {0};
	for (int i = 0; i < 3; i++) {
		char *json = NULL;
		int r = eval_report(db, from, to, bys[i], &json);
		res[i] = r == 0 && json ? json_loads(json, 0, NULL) : NULL;
		free(json);
		if (!res[i]) {
			fprintf(stderr, "motcua: cannot compute the indicators from %s: %s\n", db,
				r < 0 ? strerror(-r) : "bad answer");
			for (int k = 0; k < i; k++)
				json_decref(res[k]);
			return 1;
		}
	}
	char csv_path[4200], html_path[4200];
	snprintf(csv_path, sizeof csv_path, "%s/motcua-report-%s.csv", out_dir, label);
	snprintf(html_path, sizeof html_path, "%s/motcua-report-%s.html", out_dir, label);
	FILE *csv = fopen(csv_path, "w"), *html = fopen(html_path, "w");
	if (!csv || !html) {
		fprintf(stderr, "motcua: cannot write into %s: %s\n", out_dir, strerror(errno));
		if (csv)
			fclose(csv);
		if (html)
			fclose(html);
		for (int k = 0; k < 3; k++)
			json_decref(res[k]);
		return 1;
	}
	/* CSV: one row per group and indicator, the target beside the figure. */
	fputs("\xEF\xBB\xBF", csv); /* BOM: spreadsheets then read the diacritics right */
	fputs("period_from,period_to,by,group,dossiers,tickets,indicator,indicator_vi,value,unit,"
	      "target,met\n",
	      csv);
	fprintf(html,
		"<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">"
		"<title>Báo cáo chỉ số Bộ phận Một cửa %s</title><style>body{font-family:'DejaVu "
		"Sans',sans-serif;"
		"margin:2em}table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px "
		"solid #999;"
		"padding:3px "
		"6px;font-size:11pt}td.n{text-align:right}.bad{color:#b71c1c}.ok{color:#1b7f3b}"
		"@media print{body{margin:0}}</style></head><body>\n"
		"<h1>Báo cáo chỉ số phục vụ người dân, doanh nghiệp</h1>\n"
		"<p>%s — %s (%s đến %s)<br><small>Indicators report, Decision 766/QĐ-TTg; targets "
		"beside each "
		"figure</small></p>\n",
		label, office_name ? office_name : MOTCUA_TOOL_DEFAULT_OFFICE_NAME,
		agency_code ? agency_code : MOTCUA_TOOL_DEFAULT_AGENCY_CODE, from, to);
	for (int i = 0; i < 3; i++) {
		fprintf(html,
			"<h2>%s <small>(by %s)</small></h2>\n<table><tr><th>Nhóm</th><th>Hồ "
			"sơ</th><th>Phiếu</th>",
			by_vi[i], bys[i]);
		for (size_t k = 0; k < N_REPORT_COLS; k++) {
			fprintf(html, "<th>%s<br><small>%s", report_cols[k].vi, report_cols[k].en);
			if (report_cols[k].target >= 0)
				fprintf(html, "; mục tiêu %s %g%s",
					report_cols[k].at_most ? "≤" : "≥", report_cols[k].target,
					report_cols[k].unit);
			fputs("</small></th>", html);
		}
		fputs("</tr>\n", html);
		size_t gi;
		json_t *g;
		json_array_foreach(json_object_get(res[i], "groups"), gi, g)
		{
			const char *key = json_string_value(json_object_get(g, "key"));
			long long nd = json_integer_value(json_object_get(g, "dossiers"));
			long long nt = json_integer_value(json_object_get(g, "tickets"));
			fputs("<tr><td>", html);
			html_escape(html, key ? key : "(không rõ)");
			fprintf(html, "</td><td class=n>%lld</td><td class=n>%lld</td>", nd, nt);
			for (size_t k = 0; k < N_REPORT_COLS; k++) {
				json_t *v = json_object_get(g, report_cols[k].key);
				const char *met = verdict(v, k);
				char val[32] = "";
				if (json_is_number(v))
					snprintf(val, sizeof val, "%.1f", json_number_value(v));
				fprintf(html, "<td class=\"n %s\">%s</td>",
					!strcmp(met, "đạt") ? "ok"
					: met[0]	    ? "bad"
							    : "",
					val[0] ? val : "–");
				fprintf(csv, "%s,%s,%s,", from, to, bys[i]);
				csv_field(csv, key ? key : "");
				fprintf(csv, ",%lld,%lld,%s,", nd, nt, report_cols[k].key);
				csv_field(csv, report_cols[k].vi);
				fprintf(csv, ",%s,%s,", val, report_cols[k].unit);
				if (report_cols[k].target >= 0)
					fprintf(csv, "%s%g", report_cols[k].at_most ? "<=" : ">=",
						report_cols[k].target);
				fprintf(csv, ",%s\n", met);
			}
			fputs("</tr>\n", html);
		}
		fputs("</table>\n", html);
	}
	fputs("</body></html>\n", html);
	bool bad = ferror(csv) || ferror(html);
	bad |= fclose(csv) != 0;
	bad |= fclose(html) != 0;
	for (int k = 0; k < 3; k++)
		json_decref(res[k]);
	if (bad) {
		fprintf(stderr, "motcua: writing the report failed: %s\n", strerror(errno));
		return 1;
	}
	printf("%s\n%s\n", csv_path, html_path);
	return 0;
}

int main(int argc, char **argv)
{
	json_t *settings;
	char err[256];
	if (motcua_tool_settings(&settings, err, sizeof err) < 0) {
		fprintf(stderr, "motcua report: %s\n", err);
		return 2;
	}
	argv[0] = (char *)"report";
	int rc = report(settings, argc, argv);
	json_decref(settings);
	return rc;
}
