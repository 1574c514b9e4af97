/* SPDX-License-Identifier: MIT */
/* The configuration file: INI (inih), every entry remembered with its file and
 * line so that a bad or unknown key is refused with a precise reason. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>
#include <jansson.h>

#include "config.h"
#include "log.h"
#include "util.h"
#include "validate.h"

#ifndef MOTCUA_DEFAULT_PLUGIN_DIR
#define MOTCUA_DEFAULT_PLUGIN_DIR "/usr/lib/motcua/plugins"
#endif

struct config *config_new(void)
{
	return calloc(1, sizeof(struct config));
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->entries[i].section);
		free(c->entries[i].key);
		free(c->entries[i].value);
		free(c->entries[i].file);
	}
	free(c->entries);
	free(c->path);
	free(c);
}

struct config_entry *config_find(struct config *c, const char *section, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->entries[i].section, section) && !strcmp(c->entries[i].key, key))
			return &c->entries[i];
	return NULL;
}

const char *config_get(struct config *c, const char *section, const char *key)
{
	struct config_entry *e = config_find(c, section, key);
	return e ? e->value : NULL;
}

static int config_put(struct config *c, const char *section, const char *key, const char *value,
		      const char *file, int line, char *err, size_t errlen)
{
	struct config_entry *e = config_find(c, section, key);
	if (e) {
		if (!strcmp(e->file, file) && line > 0) {
			snprintf(err, errlen, "%s:%d: [%s] %s is set twice (first at line %d)",
				 file, line, section, key, e->line);
			return -EINVAL;
		}
		/* A later source (command line) overrides the file. */
		char *v = strdup(value), *f = strdup(file);
		if (!v || !f) {
			free(v);
			free(f);
			return -ENOMEM;
		}
		free(e->value);
		free(e->file);
		e->value = v;
		e->file = f;
		e->line = line;
		return 0;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct config_entry *n = realloc(c->entries, cap * sizeof *n);
		if (!n)
			return -ENOMEM;
		c->entries = n;
		c->cap = cap;
	}
	e = &c->entries[c->n];
	*e = (struct config_entry){.section = strdup(section),
				   .key = strdup(key),
				   .value = strdup(value),
				   .file = strdup(file),
				   .line = line};
	if (!e->section || !e->key || !e->value || !e->file) {
		free(e->section);
		free(e->key);
		free(e->value);
		free(e->file);
		return -ENOMEM;
	}
	c->n++;
	return 0;
}

struct parse_state {
	struct config *c;
	FILE *f;
	const char *path;
	int line;
	char *err;
	size_t errlen;
	int r;
	int err_line; /* line of the error in err, if r */
};

/* inih's reader hook: counting lines here gives the handler its line number. */
static char *reader(char *buf, int size, void *stream)
{
	struct parse_state *st = stream;
	char *r = fgets(buf, size, st->f);
	if (r) {
		st->line++;
		size_t len = strlen(buf);
		if (len == (size_t)size - 1 && buf[len - 1] != '\n' && !feof(st->f)) {
			if (!st->r) {
				snprintf(st->err, st->errlen, "%s:%d: line longer than %d bytes",
					 st->path, st->line, size - 2);
				st->r = -EINVAL;
				st->err_line = st->line;
			}
			/* Skip the rest of the long line. */
			int ch;
			while ((ch = fgetc(st->f)) != EOF && ch != '\n')
				;
			buf[0] = 0;
		}
	}
	return r;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	if (st->r)
		return 1;
	if (!section[0]) {
		snprintf(st->err, st->errlen, "%s:%d: key '%s' is outside any [section]", st->path,
			 st->line, name);
		st->r = -EINVAL;
		st->err_line = st->line;
		return 1;
	}
	int r = config_put(st->c, section, name, value, st->path, st->line, st->err, st->errlen);
	if (r < 0) {
		st->r = r;
		st->err_line = st->line;
	}
	return 1;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return r;
	}
	struct parse_state st = {.c = c, .f = f, .path = path, .err = err, .errlen = errlen};
	int line = ini_parse_stream(reader, &st, handler, &st);
	fclose(f);
	/* inih goes on after a syntax error: report whichever error came first. */
	if (st.r && (line == 0 || st.err_line <= line))
		return st.r;
	if (line != 0) {
		snprintf(err, errlen,
			 "%s:%d: not a valid line (expected [section], key = value or a comment)",
			 path, line);
		return -EINVAL;
	}
	free(c->path);
	c->path = strdup(path);
	return 0;
}

int config_set_override(struct config *c, const char *assignment, char *err, size_t errlen)
{
	const char *dot = strchr(assignment, '.');
	const char *eq = strchr(assignment, '=');
	if (!dot || !eq || dot > eq || dot == assignment || eq == dot + 1) {
		snprintf(err, errlen, "<command line>: '%s' is not section.key=value", assignment);
		return -EINVAL;
	}
	char section[128], key[128];
	size_t sl = (size_t)(dot - assignment), kl = (size_t)(eq - dot - 1);
	if (sl >= sizeof section || kl >= sizeof key) {
		snprintf(err, errlen, "<command line>: '%s': name too long", assignment);
		return -EINVAL;
	}
	memcpy(section, assignment, sl);
	section[sl] = 0;
	memcpy(key, dot + 1, kl);
	key[kl] = 0;
	return config_put(c, section, key, eq + 1, "<command line>", 0, err, errlen);
}

size_t config_sections(struct config *c, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++) {
		bool seen = false;
		for (size_t j = 0; j < n; j++)
			if (!strcmp(out[j], c->entries[i].section))
				seen = true;
		if (!seen && n < max)
			out[n++] = c->entries[i].section;
	}
	return n;
}

bool config_parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

bool config_section_is_core(const char *section)
{
	return !strcmp(section, "gateway") || !strcmp(section, "http") ||
	       !strcmp(section, "office") || !strcmp(section, "outbox") ||
	       !strcmp(section, "station");
}

/* ---- the gateway's own sections ---- */

static void where(const struct config_entry *e, char *buf, size_t len)
{
	if (e->line > 0)
		snprintf(buf, len, "%s:%d", e->file, e->line);
	else
		snprintf(buf, len, "%s", e->file);
}

static int bad(const struct config_entry *e, char *err, size_t errlen, const char *reason)
{
	char w[512];
	where(e, w, sizeof w);
	snprintf(err, errlen, "%s: [%s] %s = '%s': %s", w, e->section, e->key, e->value, reason);
	return -EINVAL;
}

static int get_uint(struct config *c, const char *sec, const char *key, unsigned long lo,
		    unsigned long hi, unsigned long def, unsigned long *out, char *err,
		    size_t errlen)
{
	struct config_entry *e = config_find(c, sec, key);
	*out = def;
	if (!e)
		return 0;
	e->used = true;
	char *end;
	errno = 0;
	unsigned long v = strtoul(e->value, &end, 10);
	if (!e->value[0] || *end || errno || e->value[0] == '-') {
		return bad(e, err, errlen, "not a whole number");
	}
	if (v < lo || v > hi) {
		char reason[96];
		snprintf(reason, sizeof reason, "must be between %lu and %lu", lo, hi);
		return bad(e, err, errlen, reason);
	}
	*out = v;
	return 0;
}

static int get_str(struct config *c, const char *sec, const char *key, const char *def, char **out)
{
	struct config_entry *e = config_find(c, sec, key);
	if (e)
		e->used = true;
	const char *v = e ? e->value : def;
	*out = v ? strdup(v) : NULL; /* no default: NULL, "not set" */
	return *out || !v ? 0 : -ENOMEM;
}

/* [station] public_url: http(s)://HOST[:PORT][/PATH], HOST not empty, only
 * the characters a URL holds plainly, no query or fragment, no / at the end
 * (the routes' paths follow it). */
static bool valid_public_url(const char *s)
{
	size_t n = strlen(s), skip = 0;
	if (!strncmp(s, "https://", 8))
		skip = 8;
	else if (!strncmp(s, "http://", 7))
		skip = 7;
	if (!skip || n <= skip || n > 200 || s[skip] == '/' || s[n - 1] == '/')
		return false;
	for (size_t i = skip; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr(".-:[]/_~%", ch)))
			return false;
	}
	return true;
}

/* The waiting room's call: text with {number} and {counter}, nothing else
 * in braces (a typo such as {numbr} would be read aloud). */
static bool valid_announce(const char *s)
{
	size_t n = strlen(s);
	bool number = false;
	if (n == 0 || n > 180)
		return false;
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '}')
			return false;
		if (*p != '{')
			continue;
		if (!strncmp(p, "{number}", 8)) {
			number = true;
			p += 7;
		} else if (!strncmp(p, "{counter}", 9)) {
			p += 8;
		} else {
			return false;
		}
	}
	json_t *j = json_string(s); /* UTF-8? */
	json_decref(j);
	return number && j;
}

static bool valid_agency_code(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= 'a' && ch <= 'z') || ch == '.'))
			return false;
	}
	return true;
}

int settings_load(struct settings *s, struct config *c, char *err, size_t errlen)
{
	unsigned long v;
	int r;
	memset(s, 0, sizeof *s);

	if ((r = get_str(c, "gateway", "data_dir", "motcua-data", &s->data_dir)) < 0 ||
	    (r = get_str(c, "gateway", "plugin_dir", MOTCUA_DEFAULT_PLUGIN_DIR, &s->plugin_dir)) <
		0)
		return r;
	struct config_entry *e = config_find(c, "gateway", "data_dir");
	if (e && !e->value[0])
		return bad(e, err, errlen, "must not be empty");
	if ((r = get_uint(c, "gateway", "workers", 1, 64, 2, &v, err, errlen)) < 0)
		return r;
	s->workers = (unsigned)v;
	if ((r = get_uint(c, "gateway", "step_retry_s", 1, 86400, 30, &v, err, errlen)) < 0)
		return r;
	s->step_retry_s = (unsigned)v;
	e = config_find(c, "gateway", "log_level");
	if (e) {
		e->used = true;
		if (!strcmp(e->value, "error"))
			gw_log_set_level(MOTCUA_LOG_ERROR);
		else if (!strcmp(e->value, "warning"))
			gw_log_set_level(MOTCUA_LOG_WARNING);
		else if (!strcmp(e->value, "info"))
			gw_log_set_level(MOTCUA_LOG_INFO);
		else if (!strcmp(e->value, "debug"))
			gw_log_set_level(MOTCUA_LOG_DEBUG);
		else
			return bad(e, err, errlen, "must be error, warning, info or debug");
	}

	char *listen;
	if ((r = get_str(c, "http", "listen", "127.0.0.1:8080", &listen)) < 0)
		return r;
	char *colon = strrchr(listen, ':');
	e = config_find(c, "http", "listen");
	char *end = NULL;
	unsigned long port = 0;
	errno = 0;
	if (colon && colon[1] >= '0' && colon[1] <= '9')
		port = strtoul(colon + 1, &end, 10);
	if (!colon || colon == listen || !end || *end || errno || port > 65535) {
		free(listen);
		return e ? bad(e, err, errlen, "must be host:port, e.g. 127.0.0.1:8080") : -EINVAL;
	}
	*colon = 0;
	s->listen_host = listen;
	s->listen_port = (unsigned)port;
	if ((r = get_uint(c, "http", "max_upload_mb", 1, 2048, 50, &v, err, errlen)) < 0)
		return r;
	s->max_upload_bytes = (uint64_t)v << 20;
	if ((r = get_uint(c, "http", "max_sse_clients", 1, 1024, 64, &v, err, errlen)) < 0)
		return r;
	s->max_sse_clients = (unsigned)v;

	if ((r = get_str(c, "office", "agency_code", "000.00.00.H00", &s->agency_code)) < 0 ||
	    (r = get_str(c, "office", "name", "Bộ phận Một cửa", &s->office_name)) < 0 ||
	    (r = get_str(c, "office", "holidays", NULL, &s->holidays_file)) < 0 ||
	    (r = get_str(c, "office", "procedures", NULL, &s->procedures_file)) < 0)
		return r;
	e = config_find(c, "office", "agency_code");
	if (e && !valid_agency_code(e->value))
		return bad(e, err, errlen,
			   "must be the office's electronic identifier, e.g. 000.00.12.H50 "
			   "(letters, digits and dots, at most 32)");
	e = config_find(c, "office", "name");
	if (e && (!e->value[0] || strlen(e->value) > 200))
		return bad(e, err, errlen, "must be 1 to 200 bytes");

	if ((r = get_uint(c, "outbox", "max_attempts", 1, 1000, 20, &v, err, errlen)) < 0)
		return r;
	s->outbox_max_attempts = v;
	if ((r = get_uint(c, "outbox", "backoff_base_s", 1, 3600, 5, &v, err, errlen)) < 0)
		return r;
	s->outbox_backoff_base_s = v;
	if ((r = get_uint(c, "outbox", "backoff_max_s", 1, 86400, 3600, &v, err, errlen)) < 0)
		return r;
	s->outbox_backoff_max_s = v;
	if ((r = get_uint(c, "outbox", "workers", 1, 32, 2, &v, err, errlen)) < 0)
		return r;
	s->outbox_workers = v;

	e = config_find(c, "station", "review");
	s->review = true;
	if (e) {
		e->used = true;
		if (!config_parse_bool(e->value, &s->review))
			return bad(e, err, errlen, "must be true or false");
	}
	if ((r = get_uint(c, "station", "session_hours", 1, 24 * 7, 10, &v, err, errlen)) < 0)
		return r;
	s->session_hours = (unsigned)v;
	if ((r = get_uint(c, "station", "rating_window_s", 5, 3600, 60, &v, err, errlen)) < 0)
		return r;
	s->rating_window_s = (unsigned)v;
	if ((r = get_str(c, "station", "lookup_url", NULL, &s->lookup_url)) < 0)
		return r;
	e = config_find(c, "station", "lookup_url");
	if (e && ((strncmp(e->value, "https://", 8) && strncmp(e->value, "http://", 7)) ||
		  !strstr(e->value, "{code}") || !strstr(e->value, "{key}") ||
		  strlen(e->value) > 400 || strpbrk(e->value, " \t\"<>")))
		return bad(e, err, errlen,
			   "must be an http(s) URL with {code} and {key} in it, e.g. "
			   "https://motcua.example.gov.vn/lookup?code={code}&key={key}");
	/* The queue: its services file, and how priority tickets interleave. */
	if ((r = get_str(c, "station", "services", NULL, &s->services_file)) < 0)
		return r;
	e = config_find(c, "station", "services");
	if (e && !e->value[0])
		return bad(e, err, errlen,
			   "must name a file of CODE;Tên lĩnh vực;English name lines");
	if ((r = get_uint(c, "station", "priority_run", 1, 100, 3, &v, err, errlen)) < 0)
		return r;
	s->priority_run = (unsigned)v;
	if ((r = get_str(c, "station", "announce", ANNOUNCE_DEFAULT, &s->announce)) < 0)
		return r;
	e = config_find(c, "station", "announce");
	if (e && !valid_announce(e->value))
		return bad(e, err, errlen,
			   "must be 1 to 180 bytes of UTF-8 text whose only placeholders are "
			   "{number} (at least once) and {counter}, e.g. Mời công dân có số thứ "
			   "tự {number} đến quầy số {counter}");
	/* The place printed before the date on receipts ("Tân Hiệp, ngày ..."). */
	if ((r = get_str(c, "station", "receipt_place", NULL, &s->receipt_place)) < 0)
		return r;
	e = config_find(c, "station", "receipt_place");
	if (e && (!valid_document_name(e->value) || strlen(e->value) > 100))
		return bad(e, err, errlen,
			   "must be a place name of 1 to 100 bytes of text, e.g. Tân Hiệp");
	/* This gateway's address as the citizens' phones reach it, for the QR
	 * codes printed (the ticket's follow page, the receipt's lookup). */
	if ((r = get_str(c, "station", "public_url", NULL, &s->public_url)) < 0)
		return r;
	e = config_find(c, "station", "public_url");
	if (e && !valid_public_url(e->value))
		return bad(e, err, errlen,
			   "must be an http(s) URL of this gateway with no query and no / at its "
			   "end, at most 200 bytes, e.g. http://192.168.1.10:8080");
	/* Unknown keys in the core sections. */
	for (size_t i = 0; i < c->n; i++) {
		e = &c->entries[i];
		if (config_section_is_core(e->section) && !e->used)
			return bad(e, err, errlen, "unknown key");
	}
	return 0;
}

void settings_clear(struct settings *s)
{
	free(s->data_dir);
	free(s->plugin_dir);
	free(s->listen_host);
	free(s->agency_code);
	free(s->office_name);
	free(s->receipt_place);
	free(s->public_url);
	free(s->holidays_file);
	free(s->procedures_file);
	free(s->lookup_url);
	free(s->services_file);
	free(s->announce);
	memset(s, 0, sizeof *s);
}

int config_check_all_used(struct config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->n; i++) {
		struct config_entry *e = &c->entries[i];
		if (!e->used) {
			char w[512];
			where(e, w, sizeof w);
			snprintf(err, errlen, "%s: [%s] %s: unknown key", w, e->section, e->key);
			return -EINVAL;
		}
	}
	return 0;
}
