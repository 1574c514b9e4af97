/* SPDX-License-Identifier: MIT */
/*
 * The office's procedures ([office] procedures file): each one's legal
 * processing time and resolving unit, and optionally its name, fee, where
 * the result is collected, and the papers a dossier of it must hold
 * ("thành phần hồ sơ"). conf/procedures.txt documents the format.
 */
#ifndef MOTCUA_PROCEDURES_H
#define MOTCUA_PROCEDURES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define PAPER_ID_MAX 64
#define PROCEDURE_PAPERS_MAX 50

enum paper_form {
	PAPER_ORIGINAL, /* "bản chính" */
	PAPER_COPY,	/* "bản sao" (certified or to be checked against the original) */
	PAPER_EITHER,	/* either of them */
};

struct paper {
	char id[PAPER_ID_MAX + 1];
	char *name;
	enum paper_form form;
	int count;
};

struct procedure {
	char code[65];
	int days;	    /* legal processing time in working days (0: the same day) */
	char *unit;	    /* the unit that resolves it, or NULL */
	char *name;	    /* "Đăng ký khai sinh", or NULL */
	char *fee;	    /* "8.000 đồng", "Miễn lệ phí", or NULL: none configured */
	char *result_place; /* where the result is collected, or NULL */
	struct paper *papers;
	size_t n_papers;
};

struct procedures;

/* Reads the file (path NULL: no procedures). NULL with "file:line: reason"
 * in err when a line is wrong. */
struct procedures *procedures_load(const char *path, char *err, size_t errlen);
void procedures_free(struct procedures *p);
/* The procedure of that code, or NULL (p may be NULL). Borrowed from p. */
const struct procedure *procedures_find(const struct procedures *p, const char *code);
/* The paper of that id in the procedure, or NULL. */
const struct paper *procedure_paper(const struct procedure *proc, const char *id);
/* "original", "copy", "either". */
const char *paper_form_name(enum paper_form form);
/* {"code","name","processing_days","unit","fee","result_place","papers":[...]} */
json_t *procedure_json(const struct procedure *proc);
/* {"procedures": [...]} in the file's order. */
json_t *procedures_json(const struct procedures *p);

#endif
