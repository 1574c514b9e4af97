/* SPDX-License-Identifier: MIT */
/* What a field from outside (a request, a plugin, a file) must look like
 * before the gateway keeps it. Predicates only: no I/O, no messages. */
#ifndef MOTCUA_VALIDATE_H
#define MOTCUA_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

/* The citizen's lookup key ("mã tra cứu"): 8 characters of Crockford's base
 * 32 (no I, L, O, U: nothing to misread on paper), 40 bits. */
#define LOOKUP_KEY_LEN 8
#define LOOKUP_KEY_ALPHABET "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/* Citizen ID (CCCD, 12 digits), old ID card (9), tax code of an organisation
 * (10, or 10-3 for a branch), passport (a letter and 7-8 digits). */
bool valid_id_number(const char *s);
/* 9 to 15 digits, optionally after a '+'. */
bool valid_phone(const char *s);
/* local@domain.tld: at most 254 bytes, no spaces or control characters, one
 * '@', a dot in the domain (not the format's every corner; what a clerk types). */
bool valid_email(const char *s);
/* A lookup key as printed on a receipt: LOOKUP_KEY_LEN characters of
 * Crockford's base-32 alphabet (either case). */
bool valid_lookup_key(const char *s);
/* 1 to max letters, digits, '.', '-' or '_' (codes, ids, names of things). */
bool valid_code_chars(const char *s, size_t max);
/* 1 to 200 bytes of UTF-8 without control characters, '/' or '\'. */
bool valid_document_name(const char *s);
bool valid_sha256_hex(const char *s);
/* "type/subtype" of RFC 6838's restricted characters, under 64 bytes. */
bool valid_media_type(const char *s);
/* A plugin's (and its config section's) name: 1 to 64 of a-z, 0-9, - and _. */
bool valid_plugin_name(const char *s);
/* The media types a document may have (uploads, results, pages). */
bool upload_type_ok(const char *type);
/* Do a file's first and last bytes (head and tail, concatenated in p) look
 * like that type? why says what is wrong when not. */
bool upload_content_matches(const char *type, const unsigned char *p, size_t n, const char **why);

#endif
