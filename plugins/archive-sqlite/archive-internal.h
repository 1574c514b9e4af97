/* SPDX-License-Identifier: MIT */
/* archive-core's helpers shared with the plugin, the CLI and the tests. */
#ifndef MOTCUA_ARCHIVE_INTERNAL_H
#define MOTCUA_ARCHIVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

void archive_sha256_hex(const void *data, size_t n, char out[65]);
bool archive_valid_utf8(const char *s);

/* Tests set this to stop a process at a named point of an ingest
 * ("blob-copying", "blobs-written", "rows-written"). */
extern void (*archive_test_hook)(const char *point);

#endif
