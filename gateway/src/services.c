/* SPDX-License-Identifier: MIT */
/* The services of the queue: a file of CODE;Tên lĩnh vực;English name lines
 * (# comments, blank lines), checked whole at start, or the built-in list. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services.h"
#include "util.h"
#include "validate.h"

#define SERVICES_MAX 100
#define SERVICE_CODE_MAX 20
#define SERVICE_NAME_MAX 100

struct services {
	struct service *v;
	size_t n;
};

/* What a commune office (UBND xã) receives most. */
static const char *const defaults[][3] = {
    {"HT", "Hộ tịch", "Civil status (birth, marriage, death)"},
    {"CT", "Chứng thực", "Certified copies and signatures"},
    {"DD", "Đất đai", "Land"},
    {"XD", "Xây dựng", "Construction"},
    {"KD", "Kinh doanh", "Business registration"},
    {"XH", "Chính sách xã hội", "Social policy and protection"},
    {"KHAC", "Lĩnh vực khác", "Other matters"},
};

void services_free(struct services *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].code);
		free(s->v[i].name);
		free(s->v[i].name_en);
	}
	free(s->v);
	free(s);
}

static int add(struct services *s, const char *code, const char *name, const char *name_en)
{
	struct service *v = realloc(s->v, (s->n + 1) * sizeof *v);
	if (!v)
		return -ENOMEM;
	s->v = v;
	struct service *e = &v[s->n];
	e->code = strdup(code);
	e->name = strdup(name);
	e->name_en = strdup(name_en);
	if (!e->code || !e->name || !e->name_en) {
		free(e->code);
		free(e->name);
		free(e->name_en);
		return -ENOMEM;
	}
	s->n++;
	return 0;
}

/* UTF-8 without control characters, 1 to max bytes. */
static bool valid_text(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	json_t *j = json_stringn(s, n); /* NULL when not UTF-8 */
	json_decref(j);
	if (!j)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static long code_index(const struct services *s, const char *code)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].code, code))
			return (long)i;
	return -1;
}

static int load_file(struct services *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "[station] services = %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	char line[1024];
	int n = 0, r = 0;
	while (r == 0 && fgets(line, sizeof line, f)) {
		n++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, n,
				 sizeof line - 2);
			r = -EINVAL;
			break;
		}
		char *l = str_trim(line);
		if (!*l || *l == '#')
			continue;
		char *f1 = l, *f2 = strchr(f1, ';'), *f3 = f2 ? strchr(f2 + 1, ';') : NULL;
		if (!f2 || !f3 || strchr(f3 + 1, ';')) {
			snprintf(err, errlen,
				 "%s:%d: expected CODE;Tên lĩnh vực;English name (three fields "
				 "separated by ';')",
				 path, n);
			r = -EINVAL;
			break;
		}
		*f2++ = 0;
		*f3++ = 0;
		f1 = str_trim(f1);
		f2 = str_trim(f2);
		f3 = str_trim(f3);
		if (!valid_code_chars(f1, SERVICE_CODE_MAX)) {
			snprintf(err, errlen,
				 "%s:%d: service code '%.40s': 1 to %d letters, digits, '.', '-' "
				 "or '_'",
				 path, n, f1, SERVICE_CODE_MAX);
			r = -EINVAL;
		} else if (!valid_text(f2, SERVICE_NAME_MAX) || !valid_text(f3, SERVICE_NAME_MAX)) {
			snprintf(err, errlen,
				 "%s:%d: service %s: its Vietnamese and English names must be 1 to "
				 "%d bytes of UTF-8 text",
				 path, n, f1, SERVICE_NAME_MAX);
			r = -EINVAL;
		} else if (code_index(s, f1) >= 0) {
			snprintf(err, errlen, "%s:%d: service %s is listed twice", path, n, f1);
			r = -EINVAL;
		} else if (s->n == SERVICES_MAX) {
			snprintf(err, errlen, "%s:%d: more than %d services", path, n,
				 SERVICES_MAX);
			r = -EINVAL;
		} else if (add(s, f1, f2, f3) < 0) {
			snprintf(err, errlen, "out of memory");
			r = -ENOMEM;
		}
	}
	fclose(f);
	if (r == 0 && s->n == 0) {
		snprintf(err, errlen,
			 "%s: no service in the file (lines CODE;Tên lĩnh vực;English name)", path);
		r = -EINVAL;
	}
	return r;
}

struct services *services_load(const char *path, char *err, size_t errlen)
{
	struct services *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int r = 0;
	if (path) {
		r = load_file(s, path, err, errlen);
	} else {
		for (size_t i = 0; r == 0 && i < sizeof defaults / sizeof defaults[0]; i++)
			r = add(s, defaults[i][0], defaults[i][1], defaults[i][2]);
		if (r < 0)
			snprintf(err, errlen, "out of memory");
	}
	if (r < 0) {
		services_free(s);
		return NULL;
	}
	return s;
}

size_t services_count(const struct services *s)
{
	return s ? s->n : 0;
}

const struct service *services_at(const struct services *s, size_t i)
{
	return s && i < s->n ? &s->v[i] : NULL;
}

const struct service *services_find(const struct services *s, const char *code_or_name)
{
	if (!s || !code_or_name)
		return NULL;
	long c = code_index(s, code_or_name);
	if (c >= 0)
		return &s->v[c];
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, code_or_name) || !strcmp(s->v[i].name_en, code_or_name))
			return &s->v[i];
	return NULL;
}

json_t *services_json(const struct services *s)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < services_count(s); i++)
		json_array_append_new(arr,
				      json_pack("{s:s, s:s, s:s}", "code", s->v[i].code, "name",
						s->v[i].name, "name_en", s->v[i].name_en));
	return arr;
}
