/* SPDX-License-Identifier: MIT */
/* What a field from outside must look like (see validate.h). */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "validate.h"

static bool all_digits(const char *s, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Citizen ID (CCCD, 12 digits), old ID card (9), tax code of an organisation
 * (10, or 10-3 for a branch), passport (a letter and 7-8 digits). */
bool valid_id_number(const char *s)
{
	size_t n = strlen(s);
	if ((n == 9 || n == 10 || n == 12) && all_digits(s, 0, n))
		return true;
	if (n == 14 && all_digits(s, 0, 10) && s[10] == '-' && all_digits(s, 11, 14))
		return true;
	if ((n == 8 || n == 9) && s[0] >= 'A' && s[0] <= 'Z' && all_digits(s, 1, n))
		return true;
	return false;
}

bool valid_phone(const char *s)
{
	size_t n = strlen(s), start = s[0] == '+' ? 1 : 0;
	return n - start >= 9 && n - start <= 15 && all_digits(s, start, n);
}

bool valid_email(const char *s)
{
	size_t n = strlen(s);
	const char *at = strchr(s, '@');
	if (n < 5 || n > 254 || !at || at == s || strchr(at + 1, '@'))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == ',' || s[i] == ';' ||
		    s[i] == '<' || s[i] == '>' || s[i] == '"')
			return false;
	const char *dot = strrchr(at + 1, '.');
	return dot && dot > at + 1 && dot[1];
}

bool valid_lookup_key(const char *s)
{
	static const char alphabet[] = LOOKUP_KEY_ALPHABET;
	size_t n = strlen(s);
	if (n != LOOKUP_KEY_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 'a' + 'A') : s[i];
		if (!c || !strchr(alphabet, c))
			return false;
	}
	return true;
}

bool valid_code_chars(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

bool valid_sha256_hex(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool valid_media_type(const char *s)
{
	/* type "/" subtype, RFC 6838 restricted names: letters, digits and
	 * !#$&-^_.+ ; no parameters */
	size_t slash = 0, n = 0;
	for (const char *c = s; *c; c++, n++) {
		if (*c == '/') {
			if (slash || n == 0)
				return false;
			slash = n;
		} else if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			     (*c >= '0' && *c <= '9') || strchr("!#$&-^_.+", *c))) {
			return false;
		}
	}
	return slash > 0 && slash + 1 < n && n < 64;
}

static const char *const upload_types[] = {"image/png", "image/jpeg", "image/tiff",
					   "application/pdf", NULL};

/* Does the body look like what its type says? Checks the signature and, for
 * PDF, the end-of-file marker that a truncated upload lacks. */
bool upload_type_ok(const char *type)
{
	for (const char *const *t = upload_types; *t; t++)
		if (!strcmp(type, *t))
			return true;
	return false;
}

bool upload_content_matches(const char *type, const unsigned char *p, size_t n, const char **why)
{
	if (!strcmp(type, "image/png")) {
		*why = "not a PNG file (bad signature or missing IHDR)";
		return n >= 33 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8) && !memcmp(p + 12, "IHDR", 4);
	}
	if (!strcmp(type, "image/jpeg")) {
		*why = "not a JPEG file (no SOI/EOI markers)";
		return n >= 4 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF && p[n - 2] == 0xFF &&
		       p[n - 1] == 0xD9;
	}
	if (!strcmp(type, "image/tiff")) {
		*why = "not a TIFF file (bad byte-order header)";
		return n >= 8 && (!memcmp(p, "II*\0", 4) || !memcmp(p, "MM\0*", 4));
	}
	*why = "not a PDF file (no %PDF- header or no %%EOF at the end)";
	if (n < 16 || memcmp(p, "%PDF-", 5) != 0)
		return false;
	size_t tail = n < 1024 ? n : 1024;
	for (size_t i = n - tail; i + 5 <= n; i++)
		if (!memcmp(p + i, "%%EOF", 5))
			return true;
	return false;
}

bool valid_document_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 200)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '/' || s[i] == '\\')
			return false;
	/* Must be UTF-8: a json string of it must be possible. */
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

bool valid_plugin_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return false;
	return true;
}
