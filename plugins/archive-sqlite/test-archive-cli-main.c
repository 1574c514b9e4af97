/* SPDX-License-Identifier: MIT */
/* A stand-in for `motcua archive ...` in tests:
 *   archive-cli-main ARCHIVE_DIR SUBCOMMAND [ARGS...] */
#include <stdio.h>

int archive_sqlite_cli(int argc, char **argv, const char *archive_dir);

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s ARCHIVE_DIR SUBCOMMAND [ARGS...]\n", argv[0]);
		return 2;
	}
	return archive_sqlite_cli(argc - 2, argv + 2, argv[1]);
}
