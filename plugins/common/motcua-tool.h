/* SPDX-License-Identifier: MIT */
/*
 * For a plugin's offline tool, motcua-SUBCOMMAND (motcua-verify,
 * motcua-archive, motcua-report): what `motcua SUBCOMMAND ARGS...` hands it.
 *
 * The CLI runs the tool with ARGS as they were and one environment variable,
 * MOTCUA_SETTINGS: the configuration it resolved (--config FILE, then every
 * -o SECTION.KEY=VALUE) as a JSON object of sections of string values,
 *     {"gateway": {"data_dir": "/var/lib/motcua", ...},
 *      "office": {"name": "...", "agency_code": "000.00.12.H50"},
 *      "sign-openssl": {"trust": "/etc/motcua/ca.pem", ...}, ...}
 * in which [gateway] data_dir, [office] name and [office] agency_code are
 * always present (the gateway's embedded defaults when the file leaves them
 * out). A tool run directly, without it, takes the same from its own flags and
 * from the defaults below. Header only: a tool links nothing for it but
 * jansson, and nothing of the gateway.
 */
#ifndef MOTCUA_TOOL_H
#define MOTCUA_TOOL_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#define MOTCUA_TOOL_SETTINGS_ENV "MOTCUA_SETTINGS"

/* The gateway's embedded defaults (gateway/src/config.c, settings_load()),
 * for a tool run directly. */
#define MOTCUA_TOOL_DEFAULT_DATA_DIR "motcua-data"
#define MOTCUA_TOOL_DEFAULT_OFFICE_NAME "Bộ phận Một cửa"
#define MOTCUA_TOOL_DEFAULT_AGENCY_CODE "000.00.00.H00"

/* Reads MOTCUA_SETTINGS. Returns 0 with *settings a new reference, or NULL
 * when the variable is not set (the tool was run directly); -EINVAL with a
 * reason in err when it is not a JSON object of objects. */
static inline int motcua_tool_settings(json_t **settings, char *err, size_t errlen)
{
	const char *text = getenv(MOTCUA_TOOL_SETTINGS_ENV);
	json_error_t e;
	*settings = NULL;
	if (!text)
		return 0;
	json_t *s = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	if (!s) {
		snprintf(err, errlen, MOTCUA_TOOL_SETTINGS_ENV " is not JSON: %s", e.text);
		return -EINVAL;
	}
	const char *section;
	json_t *keys;
	bool ok = json_is_object(s);
	if (ok)
		json_object_foreach(s, section, keys) ok = ok && json_is_object(keys);
	if (!ok) {
		snprintf(err, errlen,
			 MOTCUA_TOOL_SETTINGS_ENV " must be {\"section\": {\"key\": \"value\"}}");
		json_decref(s);
		return -EINVAL;
	}
	*settings = s;
	return 0;
}

/* [section] key of settings (NULL settings: none), or NULL when it is not
 * set; borrowed from settings. */
static inline const char *motcua_tool_setting(json_t *settings, const char *section,
					      const char *key)
{
	return json_string_value(json_object_get(json_object_get(settings, section), key));
}

#endif
