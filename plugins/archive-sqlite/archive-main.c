/* SPDX-License-Identifier: MIT */
/*
 * motcua-archive: `motcua archive verify|export|search|disposal ...` as its
 * own program, which `motcua archive ...` runs (see
 * plugins/common/motcua-tool.h):
 *   motcua-archive [--dir ARCHIVE_DIR] SUBCOMMAND [ARGS...]
 * The archive folder: --dir, else [archive-sqlite] path of MOTCUA_SETTINGS,
 * else DATA_DIR/archive-sqlite, DATA_DIR being its [gateway] data_dir (or,
 * run directly, the gateway's default, motcua-data), as the plugin does.
 */
#include <stdio.h>
#include <string.h>

#include "motcua-tool.h"

int archive_sqlite_cli(int argc, char **argv, const char *archive_dir);
void archive_sqlite_cli_usage(FILE *f);

static void tool_help(void)
{
	printf("\nRun directly: motcua-archive [--dir ARCHIVE_DIR] SUBCOMMAND [ARGS...]\n"
	       "  --dir DIR        the archive folder (default: [archive-sqlite] path, else\n"
	       "                   DATA_DIR/archive-sqlite; DATA_DIR is [gateway] data_dir,\n"
	       "                   or " MOTCUA_TOOL_DEFAULT_DATA_DIR ")\n"
	       "Run by `motcua [--config FILE] [-o SECTION.KEY=VALUE] archive ...`, it gets\n"
	       "the configuration motcua resolved in the environment:\n"
	       "  " MOTCUA_TOOL_SETTINGS_ENV
	       "  a JSON object {\"section\": {\"key\": \"value\"}}; read:\n"
	       "                   [archive-sqlite] path, [gateway] data_dir\n");
}

int main(int argc, char **argv)
{
	json_t *settings;
	char err[256], dir_buf[4096];
	if (motcua_tool_settings(&settings, err, sizeof err) < 0) {
		fprintf(stderr, "motcua archive: %s\n", err);
		return 2;
	}
	const char *dir = NULL;
	int i = 1;
	while (i < argc && !strncmp(argv[i], "--dir", 5) &&
	       (argv[i][5] == 0 || argv[i][5] == '=')) {
		if (argv[i][5] == '=')
			dir = argv[i++] + 6;
		else
			dir = ++i < argc ? argv[i++] : NULL;
		if (!dir || !dir[0]) {
			fprintf(stderr, "motcua archive: --dir needs the archive folder\n");
			json_decref(settings);
			return 2;
		}
	}
	if (!dir) {
		const char *path = motcua_tool_setting(settings, "archive-sqlite", "path");
		const char *data_dir = motcua_tool_setting(settings, "gateway", "data_dir");
		if (path)
			snprintf(dir_buf, sizeof dir_buf, "%s", path);
		else
			snprintf(dir_buf, sizeof dir_buf, "%s/archive-sqlite",
				 data_dir ? data_dir : MOTCUA_TOOL_DEFAULT_DATA_DIR);
		dir = dir_buf;
	}
	/* Run directly, `motcua-archive --help` is the tool's own help; run by
	 * motcua, the command line means what `motcua archive ...` always
	 * meant. */
	if (!settings && argc - i == 1 && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
		archive_sqlite_cli_usage(stdout);
		tool_help();
		return 0;
	}
	/* From the subcommand on, with "archive" before it, as `motcua archive`
	 * always handed it: the same options, messages and exit codes. */
	argv[i - 1] = (char *)"archive";
	int rc = archive_sqlite_cli(argc - i + 1, argv + i - 1, dir);
	json_decref(settings);
	return rc;
}
