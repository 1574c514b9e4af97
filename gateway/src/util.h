/* SPDX-License-Identifier: MIT */
/* Small things everything below the gateway's modules uses: Vietnam time,
 * randomness and hashes, files and folders. */
#ifndef MOTCUA_UTIL_H
#define MOTCUA_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Vietnam time (UTC+7, no DST). */
#define VN_OFFSET_S (7 * 3600)
/* ISO 8601 with +07:00 for a UTC epoch time. */
void time_iso_vn(int64_t t, char out[32]);
/* YYMMDD of the Vietnam calendar day. */
void time_yymmdd_vn(int64_t t, char out[8]);
/* Parses "YYYY-MM-DD" (Vietnam day start, or its end with end_of_day) or
 * ISO 8601 with offset. 0 or -EINVAL. */
int time_parse(const char *s, bool end_of_day, int64_t *out);
/* A date alone, YYYY-MM-DD: the start of that day in Vietnam time. */
int date_parse_vn(const char *s, int64_t *start);
int64_t time_now(void);
/* 2*nbytes hex digits and a NUL. */
/* s without the spaces and tabs it starts with, nor the spaces, tabs and
 * line ends it ends with (cut in place). */
char *str_trim(char *s);
void random_hex(char *out, size_t nbytes);
void random_bytes(void *out, size_t n);
/* A new lookup key (validate.h: LOOKUP_KEY_LEN characters and a NUL). */
int lookup_key_new(char *out);
void sha256_hex(const void *data, size_t len, char out[65]);
int mkdir_p(const char *path, unsigned mode);
int fsync_dir(const char *dir);
/* Removes what a folder holds (files and, below them, folders), and the
 * folder itself if remove_self. Best effort: for temporary files. */
void remove_contents(const char *dir, bool remove_self);
/* Writes data to path atomically: temp file beside it, fsync, rename, fsync dir. */
int write_file_atomic(const char *path, const void *data, size_t len);

#endif
