/* SPDX-License-Identifier: MIT */
/* Content-addressed blobs under data_dir/blobs: every file the gateway keeps
 * (originals, pages, step outputs) is stored once, by its SHA-256. */
#ifndef MOTCUA_STORE_H
#define MOTCUA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store *store_open(const char *data_dir);
void store_free(struct store *s);
/* Path for a new temp file in data_dir/tmp; caller frees. */
char *store_tmp_path(struct store *s, const char *hint);
/* Moves a finished temp file into the store: fsync, SHA-256, rename to
 * blobs/ab/abcdef..., fsync the folder. Thread-safe, blocking. */
int store_commit_file(struct store *s, const char *tmp_path, char sha_out[65], uint64_t *size_out);
/* Writes a buffer as a blob (blocking). */
int store_put(struct store *s, const void *data, size_t len, char sha_out[65]);
char *store_blob_path(struct store *s, const char *sha);
bool store_has(struct store *s, const char *sha);
/* Copies a file into the store (the original stays): sha and size out. */
int store_copy_file(struct store *s, const char *path, char sha[65], uint64_t *size);
/* Removes leftover temp files (after a crash). */
void store_clean_tmp(struct store *s);

#endif
