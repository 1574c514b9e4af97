/* SPDX-License-Identifier: MIT */
/* The services ("lĩnh vực") the queue has tickets for: from the file
 * [station] services names (lines CODE;Tên lĩnh vực;English name), or a
 * commune office's usual list when it is not set. */
#ifndef MOTCUA_SERVICES_H
#define MOTCUA_SERVICES_H

#include <stddef.h>

#include <jansson.h>

struct service {
	char *code;    /* 1 to 20 letters, digits, '.', '-', '_' */
	char *name;    /* Vietnamese */
	char *name_en; /* English */
};

struct services;

/* Reads path (NULL: the built-in list). NULL with "file:line: reason" in err. */
struct services *services_load(const char *path, char *err, size_t errlen);
void services_free(struct services *s);
size_t services_count(const struct services *s);
const struct service *services_at(const struct services *s, size_t i);
/* The service with that code, or (as tickets named them before services
 * were configured) that Vietnamese or English name; NULL if none. */
const struct service *services_find(const struct services *s, const char *code_or_name);
/* [{"code","name","name_en"}], a new reference. */
json_t *services_json(const struct services *s);

#endif
