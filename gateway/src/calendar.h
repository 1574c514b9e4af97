/* SPDX-License-Identifier: MIT */
/* The office calendar: working days. */
#ifndef MOTCUA_CALENDAR_H
#define MOTCUA_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct calendar;
/* Reads the holidays file (may be NULL). NULL with "file:line: reason" in
 * err when it is wrong. */
struct calendar *calendar_load(const char *holidays, char *err, size_t errlen);
void calendar_free(struct calendar *c);
/* The end (Vietnam time) of the working day `working_days` after received. */
int64_t calendar_due(const struct calendar *c, int64_t received, int working_days);

#endif
