/* SPDX-License-Identifier: MIT */
/* The office calendar: working days and procedures' processing times. */
#ifndef MOTCUA_CALENDAR_H
#define MOTCUA_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct calendar;
/* Reads the holidays and procedures files (either may be NULL). NULL with
 * "file:line: reason" in err when one is wrong. */
struct calendar *calendar_load(const char *holidays, const char *procedures, char *err,
			       size_t errlen);
void calendar_free(struct calendar *c);
/* The end (Vietnam time) of the working day `working_days` after received. */
int64_t calendar_due(const struct calendar *c, int64_t received, int working_days);
/* The procedure's processing time and unit from [office] procedures. */
bool calendar_procedure(const struct calendar *c, const char *code, int *days, const char **unit);

#endif
