/* SPDX-License-Identifier: MIT */
/* One log line per call, to stderr (the journal), with the module or plugin
 * that speaks. Thread-safe. */
#ifndef MOTCUA_LOG_H
#define MOTCUA_LOG_H

#include <stdarg.h>

#include "motcua/plugin.h"

void gw_log(enum motcua_log_level level, const char *who, const char *fmt, ...) MOTCUA_PRINTF(3, 4);
void gw_logv(enum motcua_log_level level, const char *who, const char *fmt, va_list ap);
#define log_error(...) gw_log(MOTCUA_LOG_ERROR, NULL, __VA_ARGS__)
#define log_warning(...) gw_log(MOTCUA_LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...) gw_log(MOTCUA_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) gw_log(MOTCUA_LOG_DEBUG, NULL, __VA_ARGS__)
void gw_log_set_level(enum motcua_log_level max);

#endif
