/* SPDX-License-Identifier: MIT */
/*
 * The [office] procedures file. A procedure is a line
 *
 *     CODE;WORKING_DAYS;UNIT
 *
 * (UNIT optional: the form of the first version, which keeps working),
 * followed by indented lines "key: value" that belong to it:
 *
 *       name: Đăng ký khai sinh
 *       fee: Miễn lệ phí
 *       result: Bộ phận Một cửa UBND xã
 *       paper: to-khai;Tờ khai đăng ký khai sinh;original;1
 *
 * A paper is ID;NAME;FORM;COUNT with FORM original, copy or either (bản
 * chính, bản sao, either of them) and COUNT 1-99. '#' starts a comment line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procedures.h"
#include "util.h"
#include "validate.h"

#define MAX_PROCEDURES 5000
#define TEXT_MAX 500

struct procedures {
	struct procedure *list;
	size_t n, cap;
};

static const char *const form_names[] = {
    [PAPER_ORIGINAL] = "original",
    [PAPER_COPY] = "copy",
    [PAPER_EITHER] = "either",
};

const char *paper_form_name(enum paper_form form)
{
	return (unsigned)form <= PAPER_EITHER ? form_names[form] : "either";
}

/* Text a clerk wrote: 1 to TEXT_MAX bytes of UTF-8 without control characters. */
static bool valid_text(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TEXT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

static void procedure_clear(struct procedure *p)
{
	free(p->unit);
	free(p->name);
	free(p->fee);
	free(p->result_place);
	for (size_t i = 0; i < p->n_papers; i++)
		free(p->papers[i].name);
	free(p->papers);
}

void procedures_free(struct procedures *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		procedure_clear(&p->list[i]);
	free(p->list);
	free(p);
}

const struct procedure *procedures_find(const struct procedures *p, const char *code)
{
	for (size_t i = 0; p && code && i < p->n; i++)
		if (!strcmp(p->list[i].code, code))
			return &p->list[i];
	return NULL;
}

const struct paper *procedure_paper(const struct procedure *proc, const char *id)
{
	for (size_t i = 0; proc && id && i < proc->n_papers; i++)
		if (!strcmp(proc->papers[i].id, id))
			return &proc->papers[i];
	return NULL;
}

struct parse {
	const char *path;
	int line;
	char *err;
	size_t errlen;
};

#define FAIL(ps, ...)                                                                              \
	do {                                                                                       \
		int n_ = snprintf((ps)->err, (ps)->errlen, "%s:%d: ", (ps)->path, (ps)->line);     \
		if (n_ > 0 && (size_t)n_ < (ps)->errlen)                                           \
			snprintf((ps)->err + n_, (ps)->errlen - (size_t)n_, __VA_ARGS__);          \
		return -EINVAL;                                                                    \
	} while (0)

/* Splits s at ';' into at most max fields (the last one takes the rest). */
static size_t split(char *s, char **fields, size_t max)
{
	size_t n = 0;
	while (n < max) {
		fields[n++] = s;
		char *semi = n < max ? strchr(s, ';') : NULL;
		if (!semi)
			break;
		*semi = 0;
		s = semi + 1;
	}
	for (size_t i = 0; i < n; i++)
		fields[i] = str_trim(fields[i]);
	return n;
}

static int parse_procedure(struct parse *ps, struct procedures *p, char *s)
{
	char *f[4];
	size_t n = split(s, f, 4);
	char *end = NULL;
	long d = n >= 2 ? strtol(f[1], &end, 10) : -1;
	if (n > 3 || !valid_code_chars(f[0], 64) || n < 2 || !*f[1] || *end || d < 0 || d > 365)
		FAIL(ps,
		     "expected CODE;WORKING_DAYS;UNIT (days 0-365), e.g. 1.001193;5;Phòng Tư pháp, "
		     "then indented lines name:, fee:, result:, paper:");
	if (n == 3 && *f[2] && !valid_text(f[2]))
		FAIL(ps, "the unit must be 1 to %d bytes of UTF-8 text", TEXT_MAX);
	if (procedures_find(p, f[0]))
		FAIL(ps, "procedure %s is listed twice", f[0]);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		if (p->n >= MAX_PROCEDURES)
			FAIL(ps, "more than %d procedures", MAX_PROCEDURES);
		struct procedure *l = realloc(p->list, cap * sizeof *l);
		if (!l)
			return -ENOMEM;
		p->list = l;
		p->cap = cap;
	}
	struct procedure *r = &p->list[p->n++];
	memset(r, 0, sizeof *r);
	snprintf(r->code, sizeof r->code, "%s", f[0]);
	r->days = (int)d;
	if (n == 3 && *f[2] && !(r->unit = strdup(f[2])))
		return -ENOMEM;
	return 0;
}

static int parse_paper(struct parse *ps, struct procedure *r, char *value)
{
	char *f[5];
	size_t n = split(value, f, 5);
	static const char *const example =
	    "expected paper: ID;NAME;original|copy|either;COUNT, e.g. "
	    "paper: to-khai;Tờ khai đăng ký khai sinh;original;1";
	if (n != 4)
		FAIL(ps, "%s", example);
	if (!valid_code_chars(f[0], PAPER_ID_MAX))
		FAIL(ps, "paper id '%s' must be 1 to %d letters, digits, '.', '-' or '_' (%s)",
		     f[0], PAPER_ID_MAX, example);
	if (procedure_paper(r, f[0]))
		FAIL(ps, "paper %s is listed twice for procedure %s", f[0], r->code);
	if (!valid_text(f[1]))
		FAIL(ps, "paper %s: the name must be 1 to %d bytes of UTF-8 text", f[0], TEXT_MAX);
	enum paper_form form;
	if (!strcmp(f[2], "original"))
		form = PAPER_ORIGINAL;
	else if (!strcmp(f[2], "copy"))
		form = PAPER_COPY;
	else if (!strcmp(f[2], "either"))
		form = PAPER_EITHER;
	else
		FAIL(ps, "paper %s: the form must be original, copy or either, not '%s'", f[0],
		     f[2]);
	char *end;
	long count = strtol(f[3], &end, 10);
	if (!*f[3] || *end || count < 1 || count > 99)
		FAIL(ps, "paper %s: the count must be a number from 1 to 99, not '%s'", f[0], f[3]);
	if (r->n_papers == PROCEDURE_PAPERS_MAX)
		FAIL(ps, "procedure %s has more than %d papers", r->code, PROCEDURE_PAPERS_MAX);
	struct paper *l = realloc(r->papers, (r->n_papers + 1) * sizeof *l);
	if (!l)
		return -ENOMEM;
	r->papers = l;
	struct paper *pp = &l[r->n_papers];
	snprintf(pp->id, sizeof pp->id, "%s", f[0]);
	pp->form = form;
	pp->count = (int)count;
	if (!(pp->name = strdup(f[1])))
		return -ENOMEM;
	r->n_papers++;
	return 0;
}

/* An indented "key: value" line of the procedure above it. */
static int parse_detail(struct parse *ps, struct procedures *p, char *s)
{
	if (!p->n)
		FAIL(ps,
		     "an indented line belongs to the procedure line above it, and there is none");
	struct procedure *r = &p->list[p->n - 1];
	char *colon = strchr(s, ':');
	if (!colon)
		FAIL(ps, "expected key: value (name, fee, result or paper) for procedure %s",
		     r->code);
	*colon = 0;
	char *key = str_trim(s), *value = str_trim(colon + 1);
	char **slot = !strcmp(key, "name")     ? &r->name
		      : !strcmp(key, "fee")    ? &r->fee
		      : !strcmp(key, "result") ? &r->result_place
					       : NULL;
	if (!strcmp(key, "paper"))
		return parse_paper(ps, r, value);
	if (!slot)
		FAIL(ps, "unknown key '%s' for procedure %s (name, fee, result or paper)", key,
		     r->code);
	if (*slot)
		FAIL(ps, "%s: is given twice for procedure %s", key, r->code);
	if (!valid_text(value))
		FAIL(ps, "%s: must be 1 to %d bytes of UTF-8 text", key, TEXT_MAX);
	return (*slot = strdup(value)) ? 0 : -ENOMEM;
}

struct procedures *procedures_load(const char *path, char *err, size_t errlen)
{
	struct procedures *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!path)
		return p;
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "[office] procedures = %s: %s", path, strerror(errno));
		procedures_free(p);
		return NULL;
	}
	struct parse ps = {.path = path, .err = err, .errlen = errlen};
	char line[2048];
	int r = 0;
	while (r == 0 && fgets(line, sizeof line, f)) {
		ps.line++;
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
			snprintf(err, errlen, "%s:%d: the line is longer than %zu bytes", path,
				 ps.line, sizeof line - 2);
			r = -EINVAL;
			break;
		}
		char *s = line;
		/* a BOM, as some editors write it */
		if (ps.line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
			s += 3;
		bool indented = s[0] == ' ' || s[0] == '\t';
		s = str_trim(s);
		if (!*s || *s == '#')
			continue;
		r = indented ? parse_detail(&ps, p, s) : parse_procedure(&ps, p, s);
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
	}
	fclose(f);
	if (r < 0) {
		procedures_free(p);
		return NULL;
	}
	return p;
}

json_t *procedure_json(const struct procedure *r)
{
	json_t *papers = json_array();
	for (size_t i = 0; i < r->n_papers; i++)
		json_array_append_new(papers, json_pack("{s:s, s:s, s:s, s:i}", "id",
							r->papers[i].id, "name", r->papers[i].name,
							"form", paper_form_name(r->papers[i].form),
							"count", r->papers[i].count));
	return json_pack("{s:s, s:s?, s:i, s:s?, s:s?, s:s?, s:o}", "code", r->code, "name",
			 r->name, "processing_days", r->days, "unit", r->unit, "fee", r->fee,
			 "result_place", r->result_place, "papers", papers);
}

json_t *procedures_json(const struct procedures *p)
{
	json_t *arr = json_array();
	for (size_t i = 0; p && i < p->n; i++)
		json_array_append_new(arr, procedure_json(&p->list[i]));
	return json_pack("{s:o}", "procedures", arr);
}
