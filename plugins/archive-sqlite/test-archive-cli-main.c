/* SPDX-License-Identifier: MIT */
/* A stand-in for `motcua archive ...` in tests:
 *   archive-cli-main ARCHIVE_DIR SUBCOMMAND [ARGS...]
 *   archive-cli-main ARCHIVE_DIR --fixture FILES_DIR   (makes a small archive) */
#include <stdio.h>
#include <string.h>

#include "archive-core.h"

int archive_sqlite_cli(int argc, char **argv, const char *archive_dir);

static int put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Three documents of two dossiers: one archived in 2010 (past its ten years),
 * one in March 2025 (Vietnam time), and one reused into a second dossier. */
static int fixture(const char *dir, const char *files)
{
	struct archive *a;
	char msg[512], p[3][600], o[600];
	struct archive_options opt = {
	    .create = true, .retention_years = 10, .organization = "UBND phường Bến Nghé"};
	if (archive_open(dir, &opt, &a, msg, sizeof msg) < 0) {
		fprintf(stderr, "%s\n", msg);
		return 1;
	}
	static const char *const texts[] = {
	    "Giấy chứng nhận quyền sử dụng đất, thửa số 12, Đường Nguyễn Huệ",
	    "Tờ khai đăng ký khai sinh: Nguyễn Văn An, cha Nguyễn Văn Bình",
	    "Sổ hộ khẩu của hộ ông Trần Văn Đông",
	};
	static const char *const applicants[] = {"Trần Văn Đông", "Nguyễn Văn Bình",
						 "Trần Văn Đông"};
	static const char *const ids[] = {"079088001111", "001099012345", "079088001111"};
	static const char *const codes[] = {
	    "000.00.12.H50-100501-0001", "000.00.12.H50-250301-0002", "000.00.12.H50-250302-0003"};
	static const long long when[] = {1272679200LL, 1740816000LL, 1740902400LL};
	for (int i = 0; i < 3; i++) {
		snprintf(p[i], sizeof p[i], "%s/doc%d.pdf", files, i);
		char body[256];
		snprintf(body, sizeof body, "%%PDF-1.7 document %d\n%s\n%%%%EOF\n", i, texts[i]);
		put(p[i], body);
		snprintf(o, sizeof o, "%s/scan%d.png", files, i);
		snprintf(body, sizeof body, "scan %d", i);
		put(o, body);
		struct archive_file orig = {o, "image/png"};
		char docid[16];
		snprintf(docid, sizeof docid, "doc-%d", i);
		struct archive_item_in in = {
		    .document_id = docid,
		    .name = "Giấy tờ",
		    .dossier_code = codes[i],
		    .procedure_code = "1.001193",
		    .id_number = ids[i],
		    .applicant_name = applicants[i],
		    .document_type = "giay-to",
		    .text = texts[i],
		    .signature_json = "{\"valid\": true}",
		    .signed_file = {p[i], "application/pdf"},
		    .originals = &orig,
		    .n_originals = 1,
		    .archived_unix = when[i],
		};
		if (archive_ingest(a, &in, NULL, NULL, msg, sizeof msg) < 0) {
			fprintf(stderr, "%s\n", msg);
			archive_close(a);
			return 1;
		}
	}
	archive_close(a);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s ARCHIVE_DIR SUBCOMMAND [ARGS...]\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[2], "--fixture") && argc == 4)
		return fixture(argv[1], argv[3]);
	return archive_sqlite_cli(argc - 2, argv + 2, argv[1]);
}
