/* SPDX-License-Identifier: MIT */
/* The configuration: an INI file (inih) and -o overrides, each value
 * remembered with where it was set; and the gateway's own settings, checked. */
#ifndef MOTCUA_CONFIG_H
#define MOTCUA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config_entry {
	char *section;
	char *key;
	char *value;
	char *file; /* where it was set ("<default>", "<command line>" or a path) */
	int line;
	bool used; /* claimed by a schema */
};

struct config {
	struct config_entry *entries;
	size_t n, cap;
	char *path; /* the file read, or NULL for embedded defaults */
};

struct config *config_new(void);
void config_free(struct config *c);
/* Parses an INI file on top of what is there. Returns 0 or -errno, with a
 * message "file:line: reason" in err. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Applies "section.key=value". */
int config_set_override(struct config *c, const char *assignment, char *err, size_t errlen);
struct config_entry *config_find(struct config *c, const char *section, const char *key);
const char *config_get(struct config *c, const char *section, const char *key);
/* Section names in file order, each once; returns count, fills up to max. */
size_t config_sections(struct config *c, const char **out, size_t max);
bool config_parse_bool(const char *v, bool *out);
/* Is a config section one a plugin could claim? (not a core section) */
bool config_section_is_core(const char *section);
/* Rejects any entry not marked used. */
int config_check_all_used(struct config *c, char *err, size_t errlen);

/* [station] announce when not set. */
#define ANNOUNCE_DEFAULT "Mời công dân có số thứ tự {number} đến quầy số {counter}"

/* The gateway's own settings, validated. */
struct settings {
	char *data_dir;
	char *plugin_dir;
	unsigned workers;
	char *listen_host;
	unsigned listen_port;
	uint64_t max_upload_bytes;
	char *agency_code;
	char *office_name;
	char *holidays_file;   /* [office] holidays: dates off, one per line */
	char *procedures_file; /* [office] procedures (procedures.h) */
	unsigned max_sse_clients;
	unsigned step_retry_s;
	/* [outbox] */
	unsigned outbox_max_attempts;	/* tries before the dead letters */
	unsigned outbox_backoff_base_s; /* the first retry's delay */
	unsigned outbox_backoff_max_s;	/* the longest delay */
	unsigned outbox_workers;	/* deliveries at once */
	/* [station] */
	bool review;		  /* a captured document waits for the clerk after OCR */
	unsigned session_hours;	  /* an official's sign-in lasts this long */
	char *lookup_url;	  /* the receipt QR's URL, with {code} and {key}; NULL: /lookup */
	unsigned rating_window_s; /* a counter's rating session stays open this long */
	char
	    *services_file; /* [station] services: CODE;Tên lĩnh vực;English name; NULL: built in */
	unsigned priority_run; /* at most this many priority calls in a row while others wait */
	char *announce;	       /* the waiting room's call, with {number} and {counter} */
	char *receipt_place;   /* printed before the date on receipts; NULL: none */
	char *public_url; /* this gateway as phones reach it (QR codes); NULL: the request's Host */
};
/* Validates [gateway], [http], [office], [outbox]; rejects unknown keys in those
 * sections. Returns 0 or -EINVAL with "file:line: reason" in err. */
int settings_load(struct settings *s, struct config *c, char *err, size_t errlen);
void settings_clear(struct settings *s);

#endif
