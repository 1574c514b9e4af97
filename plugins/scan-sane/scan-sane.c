/* SPDX-License-Identifier: MIT */
/*
 * scan-sane: the gateway's capture device, through SANE (libsane).
 *
 * One capture is one batch: a single page from the flatbed, or every page in
 * the document feeder until it is empty. Each page is read into a Leptonica
 * Pix, checked for blankness (blank pages are skipped), written into the
 * capture's tmp_dir as page-<n>.jpg (colour, JPEG quality 90) or page-<n>.png
 * (gray 8 bpp, lineart 1 bpp), with the real dpi in the file, and handed to
 * the host with io->page_ready() at once, so recognition can start while the
 * scanner feeds the next sheet.
 *
 * SANE runs in a helper process (driver-proxy.c, scan-helper.c): in the
 * gateway this module checks options and starts the helper; in the helper
 * (the driver role) it runs SANE as described below.
 *
 * SANE is not thread-safe: sane_init() runs once in init, and every other SANE
 * call is made holding one mutex. Only one batch runs at a time; a second one
 * is refused with -EBUSY. While a batch holds the scanner, list_devices()
 * answers from the last enumeration instead of waiting for the batch.
 *
 * capture() returns, with the reason in io->message:
 *   0           the batch ended normally (feeder empty after at least one
 *               page, the flatbed page, or max_pages reached: then a note)
 *   -EBUSY      another batch runs here, or the device is busy
 *   -ENODEV     no such device / unplugged / I/O error
 *   -ENOMEDIUM  the feeder was empty at the first page, or every page of the
 *               batch was blank (nothing kept)
 *   -EIO        paper jam, cover open, other device errors
 *   -EINVAL     the request or config does not fit the device (no feeder, no
 *               duplex, unknown device_options name or value, < 200 dpi)
 *   -ECANCELED  io->cancel was set: stopped between two pages
 *   -ENOMEM     a page too large for memory
 * Pages handed over before a failure stay handed over; the message then ends
 * with "(N pages saved)". Progress events carry {"page":n,"percent":p} while
 * reading and {"page":n,"percent":100} or {"page":n,"blank":true} after each
 * sheet side, n counting every side read, blank ones included. Page files are
 * tmp_dir/page-<n>.jpg|png with the same n.
 *
 * Config keys: see `keys` at the bottom. Standard SANE options used, by name:
 * source, mode, resolution, page-width, page-height, tl-x, tl-y, br-x, br-y,
 * duplex / adf-mode (only for duplex when no source value says "Duplex"), then
 * whatever device_options names.
 */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <allheaders.h>
#include <jansson.h>
#include <sane/sane.h>
#include <sane/saneopts.h>

#include <motcua/plugin.h>

#include "driver-proxy.h"
#include "page-png.h"

#define MIN_DPI 200 /* Decree 30/2020/ND-CP: scans of at least 200 dpi */
#define MAX_DPI 1200
#define INK_LEVEL 200 /* gray value under which a pixel counts as ink */
#define LINEART_LEVEL 128
#define MAX_ROWS 200000 /* hand scanners: stop growing a page past this */

enum source { SOURCE_FLATBED, SOURCE_ADF, SOURCE_ADF_DUPLEX };
enum mode { MODE_COLOR, MODE_GRAY, MODE_LINEART };

static const char *const source_names[] = {"flatbed", "adf", "adf-duplex"};
static const char *const mode_names[] = {"color", "gray", "lineart"};

struct settings {
	enum source source;
	enum mode mode;
	int resolution;
};

struct devopt {
	char *name;
	char *value;
};

struct scanner {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;

	/* configuration, read-only after init */
	char *device; /* NULL: the first device SANE finds */
	struct settings defaults;
	double page_w, page_h;	/* mm */
	double blank_threshold; /* percent of ink pixels; 0 disables */
	unsigned max_pages;
	struct devopt *devopts;
	size_t n_devopts;
	unsigned timeout_s;	    /* the helper's longest silence */
	struct driver_proxy *proxy; /* in the gateway: the helper; NULL in the helper */

	bool sane_up;
	pthread_mutex_t sane_lock; /* held for every SANE call */
	atomic_bool busy;	   /* a batch is running */
	pthread_mutex_t cache_lock;
	char *devices_json;  /* the last enumeration, for list_devices */
	char *active_device; /* the device of the running batch (cache_lock) */
};

/* One batch in progress. */
struct batch {
	struct scanner *s;
	struct motcua_capture_io *io;
	const char *device;
	SANE_Handle h;
	struct settings want;
	int dpi;	  /* the resolution the device really uses */
	unsigned scanned; /* sides read, blank ones included */
	unsigned kept;	  /* pages handed over */
	unsigned blank;	  /* pages skipped as blank */
	int last_percent;
	bool mid_page; /* sane_start() done, the page not read to its end */
};

#define LOG(s, level, ...) (s)->host->log((s)->ctx, (level), __VA_ARGS__)

/* ---- small parsers ---------------------------------------------------- */

static bool parse_long(const char *str, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(str, &end, 10);
	if (errno || end == str)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return false;
	*out = v;
	return true;
}

static bool parse_double(const char *str, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(str, &end);
	if (errno || end == str || !isfinite(v))
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return false;
	*out = v;
	return true;
}

static int lookup(const char *const *names, size_t n, const char *value)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], value))
			return (int)i;
	return -1;
}

#define LOOKUP(names, value) lookup((names), sizeof(names) / sizeof((names)[0]), (value))

static char *trim(char *str)
{
	while (isspace((unsigned char)*str))
		str++;
	size_t n = strlen(str);
	while (n && isspace((unsigned char)str[n - 1]))
		str[--n] = 0;
	return str;
}

static const struct page_size {
	const char *name;
	double w, h;
} page_sizes[] = {
    {"a4", 210.0, 297.0},
    {"a5", 148.0, 210.0},
    {"letter", 215.9, 279.4},
    {"legal", 215.9, 355.6},
};

static bool parse_page_size(const char *str, double *w, double *h)
{
	for (size_t i = 0; i < sizeof page_sizes / sizeof page_sizes[0]; i++)
		if (!strcasecmp(str, page_sizes[i].name)) {
			*w = page_sizes[i].w;
			*h = page_sizes[i].h;
			return true;
		}
	char buf[64];
	if (strlen(str) >= sizeof buf)
		return false;
	strcpy(buf, str);
	char *x = strpbrk(buf, "xX");
	if (!x)
		return false;
	*x = 0;
	return parse_double(trim(buf), w) && parse_double(trim(x + 1), h) && *w >= 10.0 &&
	       *w <= 1000.0 && *h >= 10.0 && *h <= 1000.0;
}

static void free_devopts(struct devopt *opts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(opts[i].name);
		free(opts[i].value);
	}
	free(opts);
}

/* Parses "name=value;name=value". Returns 0, -EINVAL with a reason, or -ENOMEM. */
static int parse_devopts(const char *str, struct devopt **out, size_t *n_out, char *why,
			 size_t why_len)
{
	char *copy = strdup(str);
	struct devopt *opts = NULL;
	size_t n = 0;
	int r = 0;
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		item = trim(item);
		if (!*item)
			continue;
		char *eq = strchr(item, '=');
		if (!eq) {
			snprintf(why, why_len, "\"%s\" is not name=value", item);
			r = -EINVAL;
			break;
		}
		*eq = 0;
		char *name = trim(item), *value = trim(eq + 1);
		while (*name == '-') /* tolerate scanimage's --name spelling */
			name++;
		if (!*name) {
			snprintf(why, why_len, "an option has no name before '='");
			r = -EINVAL;
			break;
		}
		struct devopt *grown = realloc(opts, (n + 1) * sizeof *opts);
		if (!grown) {
			r = -ENOMEM;
			break;
		}
		opts = grown;
		opts[n].name = strdup(name);
		opts[n].value = strdup(value);
		n++;
		if (!opts[n - 1].name || !opts[n - 1].value) {
			r = -ENOMEM;
			break;
		}
	}
	free(copy);
	if (r < 0) {
		free_devopts(opts, n);
		return r;
	}
	*out = opts;
	*n_out = n;
	return 0;
}

/*
 * Applies a request's JSON options over *set. Used by check() on the loop and
 * again by capture() on the worker, so both agree. Returns 0 or -EINVAL.
 */
static int parse_request(const char *options, struct settings *set, char *msg, size_t len)
{
	json_error_t err;
	json_t *root =
	    json_loads(options && *options ? options : "{}", JSON_REJECT_DUPLICATES, &err);
	int r = -EINVAL;
	int source = -1, duplex = -1;
	if (!root) {
		snprintf(msg, len, "the scan options are not valid JSON: %s", err.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(msg, len, "the scan options must be a JSON object");
		goto out;
	}
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val)
	{
		if (!strcmp(key, "name")) {
			continue; /* the document's name: the host's business */
		} else if (!strcmp(key, "source")) {
			if (!json_is_string(val) ||
			    (source = LOOKUP(source_names, json_string_value(val))) < 0) {
				snprintf(msg, len,
					 "source must be \"flatbed\", \"adf\" or \"adf-duplex\"");
				goto out;
			}
		} else if (!strcmp(key, "mode")) {
			int m =
			    json_is_string(val) ? LOOKUP(mode_names, json_string_value(val)) : -1;
			if (m < 0) {
				snprintf(msg, len,
					 "mode must be \"color\", \"gray\" or \"lineart\"");
				goto out;
			}
			set->mode = (enum mode)m;
		} else if (!strcmp(key, "resolution")) {
			json_int_t dpi = json_is_integer(val) ? json_integer_value(val) : 0;
			if (!json_is_integer(val) || dpi < MIN_DPI || dpi > MAX_DPI) {
				snprintf(msg, len,
					 "resolution must be a whole number of dpi from %d "
					 "(Decree 30/2020 asks for at least %d dpi) to %d",
					 MIN_DPI, MIN_DPI, MAX_DPI);
				goto out;
			}
			set->resolution = (int)dpi;
		} else if (!strcmp(key, "duplex")) {
			if (!json_is_boolean(val)) {
				snprintf(msg, len, "duplex must be true or false");
				goto out;
			}
			duplex = json_is_true(val);
		} else {
			snprintf(msg, len,
				 "unknown scan option \"%.60s\" (known: source, mode, "
				 "resolution, duplex, name)",
				 key);
			goto out;
		}
	}
	if (duplex == 1 && source == SOURCE_FLATBED) {
		snprintf(msg, len, "duplex scanning needs the document feeder, not the flatbed");
		goto out;
	}
	if (duplex == 0 && source == SOURCE_ADF_DUPLEX) {
		snprintf(msg, len, "duplex is false but source is \"adf-duplex\"");
		goto out;
	}
	if (source >= 0)
		set->source = (enum source)source;
	if (duplex == 1)
		set->source = SOURCE_ADF_DUPLEX;
	else if (duplex == 0 && set->source == SOURCE_ADF_DUPLEX)
		set->source = SOURCE_ADF;
	r = 0;
out:
	json_decref(root);
	return r;
}

/* ---- SANE options ------------------------------------------------------ */

/* Finds an option by name; returns its index, or -ENOENT. */
static int find_option(SANE_Handle h, const char *name, const SANE_Option_Descriptor **desc)
{
	SANE_Int count = 0;
	if (sane_control_option(h, 0, SANE_ACTION_GET_VALUE, &count, NULL) != SANE_STATUS_GOOD)
		return -EIO;
	for (SANE_Int i = 1; i < count; i++) {
		const SANE_Option_Descriptor *d = sane_get_option_descriptor(h, i);
		if (d && d->name && d->type != SANE_TYPE_GROUP && !strcmp(d->name, name)) {
			*desc = d;
			return i;
		}
	}
	return -ENOENT;
}

/* An option we can set now: active, settable, one value. */
static bool usable(const SANE_Option_Descriptor *d)
{
	return SANE_OPTION_IS_ACTIVE(d->cap) && SANE_OPTION_IS_SETTABLE(d->cap);
}

static bool is_number(const SANE_Option_Descriptor *d)
{
	return (d->type == SANE_TYPE_INT || d->type == SANE_TYPE_FIXED) &&
	       d->size == (SANE_Int)sizeof(SANE_Word);
}

static double word_value(const SANE_Option_Descriptor *d, SANE_Word w)
{
	return d->type == SANE_TYPE_FIXED ? SANE_UNFIX(w) : (double)w;
}

static SANE_Word value_word(const SANE_Option_Descriptor *d, double v)
{
	return d->type == SANE_TYPE_FIXED ? SANE_FIX(v) : (SANE_Word)lround(v);
}

/*
 * The value the option's constraint allows that is nearest to want, among
 * those >= floor. Returns false when no allowed value is >= floor.
 */
static bool constrain(const SANE_Option_Descriptor *d, double want, double floor_, double *out)
{
	if (d->constraint_type == SANE_CONSTRAINT_RANGE && d->constraint.range) {
		const SANE_Range *rg = d->constraint.range;
		double lo = word_value(d, rg->min), hi = word_value(d, rg->max);
		double q = word_value(d, rg->quant);
		if (hi < floor_)
			return false;
		double v = want < lo ? lo : want > hi ? hi : want;
		if (q > 0) {
			double steps = round((v - lo) / q);
			v = lo + steps * q;
			if (v > hi + 1e-9)
				v -= q;
			if (v < floor_ - 1e-9)
				v = lo + ceil((floor_ - lo) / q - 1e-9) * q;
			if (v > hi + 1e-9)
				return false;
		} else if (v < floor_) {
			v = floor_;
		}
		*out = v;
		return true;
	}
	if (d->constraint_type == SANE_CONSTRAINT_WORD_LIST && d->constraint.word_list) {
		const SANE_Word *list = d->constraint.word_list;
		bool found = false;
		double best = 0;
		for (SANE_Word i = 1; i <= list[0]; i++) {
			double v = word_value(d, list[i]);
			if (v < floor_)
				continue;
			if (!found || fabs(v - want) < fabs(best - want)) {
				best = v;
				found = true;
			}
		}
		if (found)
			*out = best;
		return found;
	}
	if (want < floor_)
		return false;
	*out = want;
	return true;
}

static SANE_Status get_number(SANE_Handle h, int idx, const SANE_Option_Descriptor *d, double *out)
{
	SANE_Word w = 0;
	SANE_Status st = sane_control_option(h, idx, SANE_ACTION_GET_VALUE, &w, NULL);
	if (st == SANE_STATUS_GOOD)
		*out = word_value(d, w);
	return st;
}

/* Sets a numeric option and reads back what the device took. */
static SANE_Status set_number(SANE_Handle h, const char *name, double v, double *actual)
{
	const SANE_Option_Descriptor *d;
	int idx = find_option(h, name, &d);
	if (idx < 0)
		return SANE_STATUS_UNSUPPORTED;
	SANE_Word w = value_word(d, v);
	SANE_Status st = sane_control_option(h, idx, SANE_ACTION_SET_VALUE, &w, NULL);
	if (st != SANE_STATUS_GOOD)
		return st;
	d = sane_get_option_descriptor(h, idx); /* may have been reloaded */
	if (actual && d)
		st = get_number(h, idx, d, actual);
	return st;
}

static SANE_Status set_string(SANE_Handle h, int idx, const SANE_Option_Descriptor *d,
			      const char *value)
{
	size_t size = d->size > 0 ? (size_t)d->size : 0;
	if (strlen(value) >= size)
		return SANE_STATUS_INVAL;
	char *buf = calloc(1, size);
	if (!buf)
		return SANE_STATUS_NO_MEM;
	memcpy(buf, value, strlen(value));
	SANE_Status st = sane_control_option(h, idx, SANE_ACTION_SET_VALUE, buf, NULL);
	free(buf);
	return st;
}

static bool contains_any(const char *str, const char *const *words)
{
	for (; *words; words++)
		if (strcasestr(str, *words))
			return true;
	return false;
}

static bool equals_any(const char *str, const char *const *words)
{
	for (; *words; words++)
		if (!strcasecmp(str, *words))
			return true;
	return false;
}

/*
 * Picks a value from a string list: the first equal (ignoring case) to one of
 * exact, else the first containing one of partial and none of avoid, else
 * (when avoid_last is given) the first containing partial and not avoid_last.
 */
static const char *pick(const SANE_String_Const *list, const char *const *exact,
			const char *const *partial, const char *const *avoid)
{
	static const char *const nothing[] = {NULL};
	if (!avoid)
		avoid = nothing;
	for (const SANE_String_Const *p = list; *p; p++)
		if (exact && equals_any(*p, exact))
			return *p;
	for (const SANE_String_Const *p = list; *p; p++)
		if (partial && contains_any(*p, partial) && !contains_any(*p, avoid))
			return *p;
	return NULL;
}

static void join_list(const SANE_String_Const *list, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (const SANE_String_Const *p = list; *p && o + 1 < len; p++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", p == list ? "" : ", ", *p);
}

static const SANE_String_Const *string_list(const SANE_Option_Descriptor *d)
{
	if (d->type == SANE_TYPE_STRING && d->constraint_type == SANE_CONSTRAINT_STRING_LIST)
		return d->constraint.string_list;
	return NULL;
}

#define FAIL(b, err, ...) (snprintf((b)->io->message, sizeof(b)->io->message, __VA_ARGS__), (err))

static int setup_source(struct batch *b)
{
	static const char *const flatbed_exact[] = {"flatbed", "normal", NULL};
	static const char *const flatbed_partial[] = {"flatbed", "platen", "glass", NULL};
	static const char *const adf_partial[] = {"adf", "feeder", NULL};
	static const char *const adf_avoid[] = {"duplex", "back", NULL};
	static const char *const adf_avoid2[] = {"duplex", NULL};
	static const char *const duplex_partial[] = {"duplex", NULL};
	const SANE_Option_Descriptor *d;
	const SANE_String_Const *list = NULL;
	const char *value = NULL;
	char values[160] = "";
	int idx = find_option(b->h, SANE_NAME_SCAN_SOURCE, &d);
	if (idx >= 0 && usable(d))
		list = string_list(d);
	if (!list) {
		if (b->want.source == SOURCE_FLATBED)
			return 0; /* nothing to choose: a flatbed-only scanner */
		return FAIL(b, -EINVAL, "the scanner has no document feeder (device %s)",
			    b->device);
	}
	join_list(list, values, sizeof values);
	switch (b->want.source) {
	case SOURCE_FLATBED:
		value = pick(list, flatbed_exact, flatbed_partial, NULL);
		if (!value)
			return FAIL(b, -EINVAL,
				    "the scanner has no flatbed (sources: %s): "
				    "scan with source adf",
				    values);
		break;
	case SOURCE_ADF:
		value = pick(list, NULL, adf_partial, adf_avoid);
		if (!value)
			value = pick(list, NULL, adf_partial, adf_avoid2);
		if (!value)
			return FAIL(b, -EINVAL, "the scanner has no document feeder (sources: %s)",
				    values);
		break;
	case SOURCE_ADF_DUPLEX:
		value = pick(list, NULL, duplex_partial, NULL);
		if (!value) {
			/* Some backends have one feeder source and a separate
			 * duplex switch: use the feeder, then flip the switch. */
			value = pick(list, NULL, adf_partial, adf_avoid);
			if (!value)
				return FAIL(b, -EINVAL,
					    "the scanner has no document feeder (sources: %s)",
					    values);
		}
		break;
	}
	SANE_Status st = set_string(b->h, idx, d, value);
	if (st != SANE_STATUS_GOOD)
		return FAIL(b, -EIO, "the scanner refused source \"%s\": %s", value,
			    sane_strstatus(st));
	if (b->want.source == SOURCE_ADF_DUPLEX && !strcasestr(value, "duplex")) {
		idx = find_option(b->h, "duplex", &d);
		if (idx >= 0 && usable(d) && d->type == SANE_TYPE_BOOL) {
			SANE_Word on = SANE_TRUE;
			st = sane_control_option(b->h, idx, SANE_ACTION_SET_VALUE, &on, NULL);
		} else if ((idx = find_option(b->h, "adf-mode", &d)) >= 0 && usable(d) &&
			   string_list(d) &&
			   (value = pick(string_list(d), NULL, duplex_partial, NULL))) {
			st = set_string(b->h, idx, d, value);
		} else {
			return FAIL(b, -EINVAL, "the scanner cannot scan both sides (sources: %s)",
				    values);
		}
		if (st != SANE_STATUS_GOOD)
			return FAIL(b, -EIO, "the scanner refused duplex scanning: %s",
				    sane_strstatus(st));
	}
	LOG(b->s, MOTCUA_LOG_DEBUG, "source %s -> \"%s\"", source_names[b->want.source], value);
	return 0;
}

static int setup_mode(struct batch *b)
{
	static const char *const color_exact[] = {"color", "colour", "rgb", NULL};
	static const char *const color_partial[] = {"color", "colour", "rgb", NULL};
	static const char *const color_avoid[] = {"lineart", "halftone", "binary", NULL};
	static const char *const gray_exact[] = {"gray", "grey", "grayscale", "greyscale", NULL};
	static const char *const gray_partial[] = {"gray", "grey", NULL};
	static const char *const gray_avoid[] = {"halftone", "diffusion", "dither", NULL};
	static const char *const lineart_exact[] = {
	    "lineart", "binary", "black & white", "black and white", "bw", "mono", NULL};
	static const char *const lineart_partial[] = {"lineart", "binary", "black", NULL};
	static const char *const lineart_avoid[] = {"halftone", "diffusion", "dither", "gray",
						    "grey",	"color",     "colour", NULL};
	const SANE_Option_Descriptor *d;
	const SANE_String_Const *list = NULL;
	const char *value = NULL;
	char values[160] = "";
	int idx = find_option(b->h, SANE_NAME_SCAN_MODE, &d);
	if (idx >= 0 && usable(d))
		list = string_list(d);
	if (!list) {
		LOG(b->s, MOTCUA_LOG_DEBUG,
		    "no mode option: converting what the scanner sends to %s",
		    mode_names[b->want.mode]);
		return 0;
	}
	join_list(list, values, sizeof values);
	switch (b->want.mode) {
	case MODE_LINEART:
		value = pick(list, lineart_exact, lineart_partial, lineart_avoid);
		if (value)
			break;
		LOG(b->s, MOTCUA_LOG_INFO,
		    "no lineart mode (modes: %s): scanning gray and "
		    "thresholding",
		    values);
		/* fall through */
	case MODE_GRAY:
		value = pick(list, gray_exact, gray_partial, gray_avoid);
		if (value)
			break;
		LOG(b->s, MOTCUA_LOG_INFO,
		    "no gray mode (modes: %s): scanning in colour and "
		    "converting",
		    values);
		/* fall through */
	case MODE_COLOR:
		value = pick(list, color_exact, color_partial, color_avoid);
		if (!value)
			return FAIL(b, -EINVAL, "the scanner cannot scan in %s (modes: %s)",
				    b->want.mode == MODE_COLOR ? "colour" : "gray", values);
		break;
	}
	SANE_Status st = set_string(b->h, idx, d, value);
	if (st != SANE_STATUS_GOOD)
		return FAIL(b, -EIO, "the scanner refused mode \"%s\": %s", value,
			    sane_strstatus(st));
	LOG(b->s, MOTCUA_LOG_DEBUG, "mode %s -> \"%s\"", mode_names[b->want.mode], value);
	return 0;
}

static int setup_resolution(struct batch *b)
{
	const SANE_Option_Descriptor *d;
	double v, actual;
	int idx = find_option(b->h, SANE_NAME_SCAN_RESOLUTION, &d);
	b->dpi = b->want.resolution;
	if (idx < 0 || !usable(d) || !is_number(d)) {
		LOG(b->s, MOTCUA_LOG_WARNING,
		    "the scanner has no settable resolution: assuming %d dpi", b->dpi);
		return 0;
	}
	if (!constrain(d, b->want.resolution, MIN_DPI, &v))
		return FAIL(b, -EINVAL,
			    "the scanner cannot scan at %d dpi or more, which Decree "
			    "30/2020 asks for",
			    MIN_DPI);
	if (fabs(v - b->want.resolution) > 0.5)
		LOG(b->s, MOTCUA_LOG_INFO, "the scanner cannot do %d dpi: using %.0f dpi",
		    b->want.resolution, v);
	SANE_Status st = set_number(b->h, SANE_NAME_SCAN_RESOLUTION, v, &actual);
	if (st != SANE_STATUS_GOOD)
		return FAIL(b, -EIO, "the scanner refused %.0f dpi: %s", v, sane_strstatus(st));
	b->dpi = (int)lround(actual);
	if (b->dpi < MIN_DPI)
		return FAIL(b, -EIO, "the scanner set %d dpi instead of %.0f", b->dpi, v);
	return 0;
}

/* Sets one geometry option (in mm) to the allowed value nearest to want. */
static void set_mm(struct batch *b, const char *name, double want, double *actual)
{
	const SANE_Option_Descriptor *d;
	double v;
	int idx = find_option(b->h, name, &d);
	if (idx < 0 || !usable(d) || !is_number(d) || d->unit != SANE_UNIT_MM)
		return;
	if (!constrain(d, want, -DBL_MAX, &v))
		return;
	SANE_Status st = set_number(b->h, name, v, actual);
	if (st != SANE_STATUS_GOOD)
		LOG(b->s, MOTCUA_LOG_WARNING, "the scanner refused %s = %.1f mm: %s", name, v,
		    sane_strstatus(st));
}

/* The low end of a geometry option's range, or 0. */
static double range_min(struct batch *b, const char *name)
{
	const SANE_Option_Descriptor *d;
	int idx = find_option(b->h, name, &d);
	if (idx < 0 || !is_number(d) || d->constraint_type != SANE_CONSTRAINT_RANGE)
		return 0;
	return word_value(d, d->constraint.range->min);
}

static void setup_geometry(struct batch *b)
{
	double x0 = range_min(b, SANE_NAME_SCAN_TL_X), y0 = range_min(b, SANE_NAME_SCAN_TL_Y);
	double x1 = 0, y1 = 0;
	/* Sheet-fed scanners bound br-x/br-y by the paper size: set it first. */
	set_mm(b, SANE_NAME_PAGE_WIDTH, b->s->page_w, NULL);
	set_mm(b, SANE_NAME_PAGE_HEIGHT, b->s->page_h, NULL);
	set_mm(b, SANE_NAME_SCAN_TL_X, x0, &x0);
	set_mm(b, SANE_NAME_SCAN_TL_Y, y0, &y0);
	set_mm(b, SANE_NAME_SCAN_BR_X, x0 + b->s->page_w, &x1);
	set_mm(b, SANE_NAME_SCAN_BR_Y, y0 + b->s->page_h, &y1);
	if (x1 > 0 && y1 > 0 && (x1 - x0 < b->s->page_w - 0.5 || y1 - y0 < b->s->page_h - 0.5))
		LOG(b->s, MOTCUA_LOG_DEBUG, "scan area %.0fx%.0f mm (the device's limit)", x1 - x0,
		    y1 - y0);
}

static bool parse_bool(const char *str, SANE_Word *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1", NULL};
	static const char *const no[] = {"no", "false", "off", "0", NULL};
	if (equals_any(str, yes))
		*out = SANE_TRUE;
	else if (equals_any(str, no))
		*out = SANE_FALSE;
	else
		return false;
	return true;
}

static int apply_devopt(struct batch *b, const struct devopt *o)
{
	const SANE_Option_Descriptor *d;
	SANE_Status st;
	SANE_Word w = 0;
	double v = 0;
	long l = 0;
	int idx = find_option(b->h, o->name, &d);
	if (idx < 0)
		return FAIL(b, -EINVAL,
			    "the scanner (device %s) has no option \"%s\": check "
			    "device_options",
			    b->device, o->name);
	if (!SANE_OPTION_IS_SETTABLE(d->cap))
		return FAIL(b, -EINVAL,
			    "the scanner's option \"%s\" cannot be set by software "
			    "(device_options)",
			    o->name);
	if (!SANE_OPTION_IS_ACTIVE(d->cap))
		return FAIL(b, -EINVAL,
			    "the scanner's option \"%s\" is inactive: another option "
			    "must enable it first (device_options)",
			    o->name);
	switch (d->type) {
	case SANE_TYPE_BOOL:
		if (!parse_bool(o->value, &w))
			return FAIL(b, -EINVAL, "device option \"%s\" takes yes or no, not \"%s\"",
				    o->name, o->value);
		st = sane_control_option(b->h, idx, SANE_ACTION_SET_VALUE, &w, NULL);
		break;
	case SANE_TYPE_INT:
	case SANE_TYPE_FIXED:
		if (d->size != (SANE_Int)sizeof(SANE_Word))
			return FAIL(b, -EINVAL,
				    "device option \"%s\" is a list: device_options "
				    "cannot set it",
				    o->name);
		if (d->type == SANE_TYPE_INT ? !parse_long(o->value, &l)
					     : !parse_double(o->value, &v))
			return FAIL(b, -EINVAL, "device option \"%s\" takes a number, not \"%s\"",
				    o->name, o->value);
		w = d->type == SANE_TYPE_INT ? (SANE_Word)l : SANE_FIX(v);
		st = sane_control_option(b->h, idx, SANE_ACTION_SET_VALUE, &w, NULL);
		break;
	case SANE_TYPE_STRING: {
		const char *value = o->value;
		const SANE_String_Const *list = string_list(d);
		if (list) {
			const char *const exact[] = {o->value, NULL};
			char values[160];
			value = pick(list, exact, NULL, NULL);
			if (!value) {
				join_list(list, values, sizeof values);
				return FAIL(b, -EINVAL,
					    "device option \"%s\" cannot be \"%s\" "
					    "(values: %s)",
					    o->name, o->value, values);
			}
		}
		st = set_string(b->h, idx, d, value);
		break;
	}
	case SANE_TYPE_BUTTON:
		st = sane_control_option(b->h, idx, SANE_ACTION_SET_VALUE, NULL, NULL);
		break;
	default:
		return FAIL(b, -EINVAL, "device option \"%s\" cannot be set", o->name);
	}
	if (st != SANE_STATUS_GOOD)
		return FAIL(b, -EINVAL, "the scanner refused device option %s=%s: %s", o->name,
			    o->value, sane_strstatus(st));
	LOG(b->s, MOTCUA_LOG_DEBUG, "device option %s = %s", o->name, o->value);
	return 0;
}

/* ---- errors ------------------------------------------------------------ */

static int status_error(struct batch *b, SANE_Status st, const char *while_)
{
	switch (st) {
	case SANE_STATUS_DEVICE_BUSY:
		return FAIL(b, -EBUSY, "the scanner is busy");
	case SANE_STATUS_JAMMED:
		return FAIL(b, -EIO,
			    "paper jam in the feeder: clear it and scan the remaining pages");
	case SANE_STATUS_NO_DOCS:
		if (b->want.source == SOURCE_FLATBED)
			return FAIL(b, -ENOMEDIUM,
				    "the scanner reports no paper: put the page on "
				    "the glass and press scan");
		return FAIL(b, -ENOMEDIUM, "the feeder is empty: put the papers in and press scan");
	case SANE_STATUS_COVER_OPEN:
		return FAIL(b, -EIO, "the scanner cover is open");
	case SANE_STATUS_IO_ERROR:
		return FAIL(b, -ENODEV, "the scanner is not connected (device %s)", b->device);
	case SANE_STATUS_NO_MEM:
		return FAIL(b, -ENOMEM, "the scanner driver ran out of memory");
	case SANE_STATUS_ACCESS_DENIED:
		return FAIL(b, -EIO,
			    "the gateway is not allowed to use the scanner (device %s): "
			    "access denied",
			    b->device);
	default:
		return FAIL(b, -EIO, "scanner error while %s: %s", while_, sane_strstatus(st));
	}
}

/* ---- reading a page ---------------------------------------------------- */

static void publish(struct batch *b, const char *json)
{
	if (b->io->progress)
		b->io->progress(b->io, json);
}

static void progress(struct batch *b, unsigned page, int percent)
{
	char json[64];
	snprintf(json, sizeof json, "{\"page\":%u,\"percent\":%d}", page, percent);
	publish(b, json);
}

static int sample(const SANE_Byte *src, int depth, size_t i)
{
	if (depth == 16) {
		uint16_t v; /* SANE sends 16-bit samples in host byte order */
		memcpy(&v, src + 2 * i, sizeof v);
		return v >> 8;
	}
	return src[i];
}

/* Stores one scan line of a frame as row y of pix. */
static void put_row(PIX *pix, int y, const SANE_Parameters *p, const SANE_Byte *src)
{
	l_uint32 *line = pixGetData(pix) + (size_t)y * (size_t)pixGetWpl(pix);
	int w = p->pixels_per_line;
	switch (p->format) {
	case SANE_FRAME_GRAY:
		if (p->depth == 1) { /* 1 = black, MSB first: Leptonica's own layout */
			int nbytes = (w + 7) / 8;
			page_png_bytes_to_words(line, src, (size_t)nbytes);
			if (w % 8)
				SET_DATA_BYTE(line, nbytes - 1,
					      src[nbytes - 1] & (0xff00 >> (w % 8)));
		} else if (p->depth == 8) {
			page_png_bytes_to_words(line, src, (size_t)w);
		} else {
			for (int x = 0; x < w; x++)
				SET_DATA_BYTE(line, x, sample(src, p->depth, (size_t)x));
		}
		break;
	case SANE_FRAME_RGB:
		for (int x = 0; x < w; x++) {
			size_t i = (size_t)x * 3;
			line[x] = (l_uint32)sample(src, p->depth, i) << L_RED_SHIFT |
				  (l_uint32)sample(src, p->depth, i + 1) << L_GREEN_SHIFT |
				  (l_uint32)sample(src, p->depth, i + 2) << L_BLUE_SHIFT;
		}
		break;
	case SANE_FRAME_RED:
	case SANE_FRAME_GREEN:
	case SANE_FRAME_BLUE: {
		int ch = p->format == SANE_FRAME_RED	 ? COLOR_RED
			 : p->format == SANE_FRAME_GREEN ? COLOR_GREEN
							 : COLOR_BLUE;
		for (int x = 0; x < w; x++)
			SET_DATA_BYTE(line + x, ch, sample(src, p->depth, (size_t)x));
		break;
	}
	}
}

/* Makes room for at least rows rows (hand scanners do not say the height). */
static int grow(PIX **pix, int rows)
{
	int h = pixGetHeight(*pix);
	if (rows <= h)
		return 0;
	int nh = h * 2 > rows ? h * 2 : rows;
	PIX *bigger = pixCreate(pixGetWidth(*pix), nh, pixGetDepth(*pix));
	if (!bigger)
		return -ENOMEM;
	memcpy(pixGetData(bigger), pixGetData(*pix), (size_t)h * (size_t)pixGetWpl(*pix) * 4);
	pixDestroy(pix);
	*pix = bigger;
	return 0;
}

static bool frame_ok(const SANE_Parameters *p)
{
	if (p->pixels_per_line <= 0 || p->pixels_per_line > 100000 || p->lines == 0 ||
	    p->lines < -1 || p->lines > MAX_ROWS)
		return false;
	size_t need;
	switch (p->format) {
	case SANE_FRAME_GRAY:
		if (p->depth != 1 && p->depth != 8 && p->depth != 16)
			return false;
		need = p->depth == 1 ? ((size_t)p->pixels_per_line + 7) / 8
				     : (size_t)p->pixels_per_line * (size_t)(p->depth / 8);
		break;
	case SANE_FRAME_RGB:
		if (p->depth != 8 && p->depth != 16)
			return false;
		need = (size_t)p->pixels_per_line * 3 * (size_t)(p->depth / 8);
		break;
	case SANE_FRAME_RED:
	case SANE_FRAME_GREEN:
	case SANE_FRAME_BLUE:
		if (p->depth != 8 && p->depth != 16)
			return false;
		need = (size_t)p->pixels_per_line * (size_t)(p->depth / 8);
		break;
	default:
		return false;
	}
	return p->bytes_per_line > 0 && (size_t)p->bytes_per_line >= need;
}

/* Result of read_page() besides 0 and -errno: the feeder had no paper. */
#define NO_PAPER 1

/*
 * Reads one page (one or three frames) into *out. Returns 0, NO_PAPER when
 * sane_start() found the feeder empty, or -errno with io->message set.
 */
static int read_page(struct batch *b, PIX **out)
{
	SANE_Parameters p;
	SANE_Status st;
	PIX *pix = NULL;
	SANE_Byte *line = NULL;
	int rows = 0, frame = 0, r = 0;
	bool last = false;
	b->last_percent = 0;
	while (!last) {
		st = sane_start(b->h);
		if (st == SANE_STATUS_NO_DOCS && frame == 0) {
			r = NO_PAPER;
			goto out;
		}
		if (st != SANE_STATUS_GOOD) {
			r = status_error(b, st, "starting the scan");
			goto out;
		}
		b->mid_page = true;
		st = sane_get_parameters(b->h, &p);
		if (st != SANE_STATUS_GOOD) {
			r = status_error(b, st, "reading the scan parameters");
			goto out;
		}
		if (!frame_ok(&p) ||
		    (frame > 0 && (p.format == SANE_FRAME_GRAY || p.format == SANE_FRAME_RGB ||
				   p.pixels_per_line != pixGetWidth(pix)))) {
			r = FAIL(b, -EIO,
				 "the scanner sent an image this gateway cannot read "
				 "(format %d, depth %d, %d pixels per line)",
				 (int)p.format, p.depth, p.pixels_per_line);
			goto out;
		}
		if (!pix) {
			int depth = p.format == SANE_FRAME_GRAY ? (p.depth == 1 ? 1 : 8) : 32;
			pix = pixCreate(p.pixels_per_line, p.lines > 0 ? p.lines : 1024, depth);
			if (!pix) {
				r = FAIL(b, -ENOMEM, "not enough memory for a %dx%d page",
					 p.pixels_per_line, p.lines);
				goto out;
			}
		}
		free(line);
		line = malloc((size_t)p.bytes_per_line);
		if (!line) {
			r = FAIL(b, -ENOMEM, "out of memory");
			goto out;
		}
		int frames = p.format == SANE_FRAME_GRAY || p.format == SANE_FRAME_RGB ? 1 : 3;
		size_t fill = 0;
		int y = 0;
		for (;;) {
			SANE_Int got = 0;
			st = sane_read(b->h, line + fill,
				       (SANE_Int)((size_t)p.bytes_per_line - fill), &got);
			if (st == SANE_STATUS_EOF)
				break;
			if (st != SANE_STATUS_GOOD) {
				r = status_error(b, st, "reading the page");
				goto out;
			}
			fill += (size_t)(got > 0 ? got : 0);
			if (fill < (size_t)p.bytes_per_line)
				continue;
			fill = 0;
			if (p.lines > 0 ? y >= p.lines : y >= MAX_ROWS)
				continue; /* more than announced: drop it */
			if (grow(&pix, y + 1) < 0) {
				r = FAIL(b, -ENOMEM, "not enough memory for the page");
				goto out;
			}
			put_row(pix, y++, &p, line);
			if (p.lines > 0) {
				int percent = (int)(((long long)frame * p.lines + y) * 100 /
						    ((long long)frames * p.lines));
				if (percent >= b->last_percent + 10 && percent < 100) {
					b->last_percent = percent - percent % 10;
					progress(b, b->scanned + 1, b->last_percent);
				}
			}
		}
		if (y > rows)
			rows = y;
		b->mid_page = false;
		last = p.last_frame || frames == 1;
		frame++;
		if (frame > 3 && !last) {
			r = FAIL(b, -EIO, "the scanner sent more than three frames for one page");
			goto out;
		}
	}
	if (rows == 0) {
		r = FAIL(b, -EIO, "the scanner sent an empty page");
		goto out;
	}
	if (rows < pixGetHeight(pix)) {
		BOX *box = boxCreate(0, 0, pixGetWidth(pix), rows);
		PIX *clipped = box ? pixClipRectangle(pix, box, NULL) : NULL;
		boxDestroy(&box);
		if (!clipped) {
			r = FAIL(b, -ENOMEM, "out of memory");
			goto out;
		}
		pixDestroy(&pix);
		pix = clipped;
	}
	*out = pix;
	pix = NULL;
out:
	free(line);
	pixDestroy(&pix);
	return r;
}

/* ---- a page's image ------------------------------------------------------ */

/*
 * Percentage of ink (pixels darker than INK_LEVEL) inside a 3% margin, measured
 * on a copy reduced to about 100 dpi by taking the darkest pixel of each block:
 * thin strokes survive the reduction, so a page of text is never taken for a
 * blank one (the error costs a document; the opposite one costs a page).
 */
static double ink_percent(PIX *pix, int dpi)
{
	double percent = 100.0;
	int f = dpi / 100 > 1 ? dpi / 100 : 1;
	PIX *gray = pixConvertTo8(pix, 0);
	PIX *small = NULL, *inner = NULL, *ink = NULL;
	BOX *box = NULL;
	l_int32 count = 0;
	if (!gray)
		goto out;
	small = f > 1 ? pixScaleGrayMinMax(gray, f, f, L_CHOOSE_MIN) : pixClone(gray);
	if (!small)
		goto out;
	int w = pixGetWidth(small), h = pixGetHeight(small);
	int bx = w * 3 / 100, by = h * 3 / 100;
	if (w - 2 * bx < 1 || h - 2 * by < 1)
		goto out;
	box = boxCreate(bx, by, w - 2 * bx, h - 2 * by);
	inner = box ? pixClipRectangle(small, box, NULL) : NULL;
	ink = inner ? pixThresholdToBinary(inner, INK_LEVEL) : NULL;
	if (ink && pixCountPixels(ink, &count, NULL) == 0)
		percent = 100.0 * count / ((double)pixGetWidth(ink) * pixGetHeight(ink));
out:
	pixDestroy(&ink);
	pixDestroy(&inner);
	boxDestroy(&box);
	pixDestroy(&small);
	pixDestroy(&gray);
	return percent;
}

/* Turns the scanned pix into what the mode asks for; consumes *pix. */
static PIX *to_mode(PIX *pix, enum mode mode)
{
	PIX *out = NULL, *gray;
	int d = pixGetDepth(pix);
	switch (mode) {
	case MODE_COLOR:
		out = d == 1 ? pixConvertTo8(pix, 0) : pixClone(pix);
		break;
	case MODE_GRAY:
		out = d == 8 ? pixClone(pix) : pixConvertTo8(pix, 0);
		break;
	case MODE_LINEART:
		if (d == 1) {
			out = pixClone(pix);
			break;
		}
		gray = d == 8 ? pixClone(pix) : pixConvertTo8(pix, 0);
		out = gray ? pixThresholdToBinary(gray, LINEART_LEVEL) : NULL;
		pixDestroy(&gray);
		break;
	}
	if (out)
		pixCopyResolution(out, pix);
	pixDestroy(&pix);
	return out;
}

static int handle_page(struct batch *b, PIX *pix)
{
	struct motcua_capture_io *io = b->io;
	unsigned n = b->scanned;
	char path[4096], json[80];
	pixSetResolution(pix, b->dpi, b->dpi);
	if (b->s->blank_threshold > 0) {
		double ink = ink_percent(pix, b->dpi);
		if (ink < b->s->blank_threshold) {
			LOG(b->s, MOTCUA_LOG_INFO, "page %u is blank (%.2f%% ink): skipped", n,
			    ink);
			b->blank++;
			pixDestroy(&pix);
			snprintf(json, sizeof json, "{\"page\":%u,\"blank\":true}", n);
			publish(b, json);
			return 0;
		}
	}
	pix = to_mode(pix, b->want.mode);
	if (!pix)
		return FAIL(b, -ENOMEM, "out of memory while converting page %u", n);
	bool jpeg = b->want.mode == MODE_COLOR;
	snprintf(path, sizeof path, "%s/page-%u.%s", io->tmp_dir, n, jpeg ? "jpg" : "png");
	bool bad = jpeg ? pixWriteJpeg(path, pix, 90, 0) != 0 : page_png_write(path, pix) < 0;
	pixDestroy(&pix);
	if (bad) {
		unlink(path);
		return FAIL(b, -EIO, "cannot write page %u into %.150s: is the disk full?", n,
			    io->tmp_dir);
	}
	int r = io->page_ready(io, path, jpeg ? "image/jpeg" : "image/png");
	if (r < 0) {
		unlink(path);
		return FAIL(b, r, "the gateway did not take page %u: %s", n, strerror(-r));
	}
	b->kept++;
	progress(b, n, 100);
	return 0;
}

/* ---- a batch --------------------------------------------------------------- */

static void cache_devices(struct scanner *s, const SANE_Device **list)
{
	json_t *arr = json_array();
	char *dump = NULL, *copy = NULL;
	json_free_t free_fn = NULL;
	for (size_t i = 0; arr && list && list[i]; i++) {
		const SANE_Device *dev = list[i];
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "name",
						     dev->name ? dev->name : "", "vendor",
						     dev->vendor ? dev->vendor : "", "model",
						     dev->model ? dev->model : "", "type",
						     dev->type ? dev->type : ""));
	}
	if (arr)
		dump = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (!dump)
		return;
	/* The host frees with free(): do not trust json_dumps() to use malloc(). */
	copy = strdup(dump);
	json_get_alloc_funcs(NULL, &free_fn);
	(free_fn ? free_fn : free)(dump);
	if (!copy)
		return;
	pthread_mutex_lock(&s->cache_lock);
	free(s->devices_json);
	s->devices_json = copy;
	pthread_mutex_unlock(&s->cache_lock);
}

static int open_device(struct batch *b, char **owned)
{
	struct scanner *s = b->s;
	SANE_Status st;
	if (!b->device) {
		const SANE_Device **list = NULL;
		st = sane_get_devices(&list, SANE_FALSE);
		if (st != SANE_STATUS_GOOD)
			return FAIL(b, -EIO, "cannot look for scanners: %s", sane_strstatus(st));
		cache_devices(s, list);
		if (!list || !list[0])
			return FAIL(b, -ENODEV,
				    "no scanner found: check that it is plugged in and "
				    "switched on");
		if (!(*owned = strdup(list[0]->name)))
			return FAIL(b, -ENOMEM, "out of memory");
		b->device = *owned;
		LOG(s, MOTCUA_LOG_DEBUG, "using the first scanner found: %s", b->device);
	}
	pthread_mutex_lock(&s->cache_lock);
	free(s->active_device);
	s->active_device = strdup(b->device);
	pthread_mutex_unlock(&s->cache_lock);
	st = sane_open(b->device, &b->h);
	if (st == SANE_STATUS_GOOD)
		return 0;
	b->h = NULL;
	switch (st) {
	case SANE_STATUS_INVAL: /* the dll backend: no such device (any more) */
	case SANE_STATUS_IO_ERROR:
		return FAIL(b, -ENODEV, "the scanner is not connected (device %s)", b->device);
	case SANE_STATUS_DEVICE_BUSY:
		return FAIL(b, -EBUSY,
			    "the scanner is busy: another program is using it (device %s)",
			    b->device);
	default:
		return status_error(b, st, "opening the scanner");
	}
}

static int run_batch(struct batch *b)
{
	struct scanner *s = b->s;
	struct motcua_capture_io *io = b->io;
	char *owned = NULL;
	int r = open_device(b, &owned);
	if (r == 0)
		r = setup_source(b);
	if (r == 0)
		r = setup_mode(b);
	if (r == 0)
		r = setup_resolution(b);
	if (r == 0)
		setup_geometry(b);
	for (size_t i = 0; r == 0 && i < s->n_devopts; i++)
		r = apply_devopt(b, &s->devopts[i]);
	if (r == 0)
		LOG(s, MOTCUA_LOG_INFO, "scanning from %s: %s, %s, %d dpi", b->device,
		    source_names[b->want.source], mode_names[b->want.mode], b->dpi);
	while (r == 0) {
		PIX *pix = NULL;
		if (io->cancel) {
			r = FAIL(b, -ECANCELED,
				 "the gateway is stopping: scanning stopped after "
				 "%u pages",
				 b->kept);
			break;
		}
		if (b->scanned >= s->max_pages) {
			LOG(s, MOTCUA_LOG_WARNING, "stopped after max_pages = %u pages",
			    s->max_pages);
			snprintf(io->message, sizeof io->message,
				 "stopped after %u pages (max_pages): "
				 "scan the rest as another batch",
				 s->max_pages);
			break;
		}
		r = read_page(b, &pix);
		if (r == NO_PAPER) {
			r = b->scanned == 0 ? status_error(b, SANE_STATUS_NO_DOCS, "") : 0;
			break;
		}
		if (r < 0)
			break;
		b->scanned++;
		r = handle_page(b, pix);
		if (b->want.source == SOURCE_FLATBED)
			break;
	}
	if (r == 0 && b->scanned == 1 && b->kept == 0)
		r = FAIL(b, -ENOMEDIUM, "the page was blank: check that it faces the glass");
	else if (r == 0 && b->scanned > 1 && b->kept == 0)
		r = FAIL(b, -ENOMEDIUM,
			 "every page was blank (%u scanned): check that the papers "
			 "face the right way",
			 b->scanned);
	if (r < 0 && b->kept > 0) {
		size_t n = strlen(io->message);
		snprintf(io->message + n, sizeof io->message - n, " (%u page%s saved)", b->kept,
			 b->kept == 1 ? "" : "s");
	}
	if (b->h) {
		/*
		 * Backends built on sanei_thread (pixma, avision, plustek, test...)
		 * pthread_cancel() their reader thread asynchronously in
		 * sane_cancel(). Cancelled inside malloc() it leaves a heap lock
		 * taken and the whole gateway hangs later. Right after sane_start()
		 * that thread is setting up; give it time to reach its first
		 * blocking read or write, where a cancel is harmless.
		 */
		if (b->mid_page)
			usleep(100 * 1000);
		sane_cancel(b->h);
		sane_close(b->h);
		b->h = NULL;
	}
	if (r < 0)
		LOG(s, MOTCUA_LOG_WARNING, "scan failed: %s", io->message);
	else
		LOG(s, MOTCUA_LOG_INFO, "batch done: %u page%s kept, %u blank skipped", b->kept,
		    b->kept == 1 ? "" : "s", b->blank);
	pthread_mutex_lock(&s->cache_lock);
	free(s->active_device);
	s->active_device = NULL;
	pthread_mutex_unlock(&s->cache_lock);
	free(owned);
	return r;
}

/* ---- the capture ops --------------------------------------------------------- */

static int scan_check(void *data, const char *options, char *message, size_t len)
{
	struct scanner *s = data;
	struct settings set = s->defaults;
	return parse_request(options, &set, message, len);
}

static int scan_capture(void *data, struct motcua_capture_io *io)
{
	struct scanner *s = data;
	struct batch b = {.s = s, .io = io, .device = s->device, .want = s->defaults};
	bool idle = false;
	if (io->struct_size < offsetof(struct motcua_capture_io, host_private) || !io->page_ready) {
		LOG(s, MOTCUA_LOG_ERROR, "the gateway's capture interface is too old");
		return -EINVAL;
	}
	io->message[0] = 0;
	if (parse_request(io->options, &b.want, io->message, sizeof io->message) < 0)
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&s->busy, &idle, true)) {
		snprintf(io->message, sizeof io->message, "the scanner is busy with another batch");
		return -EBUSY;
	}
	pthread_mutex_lock(&s->sane_lock);
	int r = s->sane_up ? run_batch(&b) : FAIL(&b, -ENODEV, "SANE is shut down");
	pthread_mutex_unlock(&s->sane_lock);
	atomic_store(&s->busy, false);
	return r;
}

static int scan_list_devices(void *data, char **json)
{
	struct scanner *s = data;
	int r = 0;
	*json = NULL;
	if (pthread_mutex_trylock(&s->sane_lock) == 0) {
		const SANE_Device **list = NULL;
		SANE_Status st =
		    s->sane_up ? sane_get_devices(&list, SANE_FALSE) : SANE_STATUS_INVAL;
		if (st == SANE_STATUS_GOOD)
			cache_devices(s, list);
		else
			r = -EIO;
		pthread_mutex_unlock(&s->sane_lock);
		if (r < 0) {
			LOG(s, MOTCUA_LOG_WARNING, "cannot list scanners: %s", sane_strstatus(st));
			return r;
		}
	}
	/* Busy (a batch holds SANE): answer from the last enumeration. */
	pthread_mutex_lock(&s->cache_lock);
	if (s->devices_json) {
		*json = strdup(s->devices_json);
	} else if (!s->active_device) {
		r = -EBUSY; /* another listing is running and none finished yet */
	} else {
		json_t *arr = json_pack("[{s:s, s:b}]", "name", s->active_device, "busy", 1);
		char *dump = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
		json_free_t free_fn = NULL;
		json_decref(arr);
		if (dump) {
			*json = strdup(dump);
			json_get_alloc_funcs(NULL, &free_fn);
			(free_fn ? free_fn : free)(dump);
		}
	}
	pthread_mutex_unlock(&s->cache_lock);
	return r < 0 ? r : *json ? 0 : -ENOMEM;
}

/* ---- plugin ------------------------------------------------------------------ */

static void scanner_free(void *data)
{
	struct scanner *s = data;
	if (!s)
		return;
	free(s->device);
	free_devopts(s->devopts, s->n_devopts);
	free(s->devices_json);
	free(s->active_device);
	driver_proxy_free(s->proxy);
	pthread_mutex_destroy(&s->sane_lock);
	pthread_mutex_destroy(&s->cache_lock);
	free(s);
}

static void scanner_exit(struct scanner *s)
{
	pthread_mutex_lock(&s->sane_lock);
	if (s->sane_up)
		sane_exit();
	s->sane_up = false;
	pthread_mutex_unlock(&s->sane_lock);
}

/* Reads and checks the configuration. Returns 0 or -EINVAL, having logged why. */
static int read_config(struct scanner *s)
{
	const struct motcua_host *host = s->host;
	struct motcua_plugin_ctx *ctx = s->ctx;
	const char *v;
	long l;
	double d;
	int i;

#define BAD(key, ...)                                                                              \
	do {                                                                                       \
		host->log(ctx, MOTCUA_LOG_ERROR, "config key " key " = \"%s\": " __VA_ARGS__);     \
		return -EINVAL;                                                                    \
	} while (0)

	s->defaults = (struct settings){SOURCE_FLATBED, MODE_COLOR, 300};
	s->page_w = 210.0;
	s->page_h = 297.0;
	s->blank_threshold = 0.5;
	s->max_pages = 200;
	s->timeout_s = 60;

	if ((v = host->config_get(ctx, NULL, "device")) && *v) {
		for (const char *p = v; *p; p++)
			if (iscntrl((unsigned char)*p))
				BAD("device", "a device name has no control characters", v);
		if (!(s->device = strdup(v)))
			return -ENOMEM;
	}
	if ((v = host->config_get(ctx, NULL, "source"))) {
		if ((i = LOOKUP(source_names, v)) < 0)
			BAD("source", "must be flatbed, adf or adf-duplex", v);
		s->defaults.source = (enum source)i;
	}
	if ((v = host->config_get(ctx, NULL, "resolution"))) {
		if (!parse_long(v, &l))
			BAD("resolution", "not a whole number of dpi", v);
		if (l < MIN_DPI)
			BAD("resolution", "below %d dpi, the minimum of Decree 30/2020", v,
			    MIN_DPI);
		if (l > MAX_DPI)
			BAD("resolution", "above %d dpi", v, MAX_DPI);
		s->defaults.resolution = (int)l;
	}
	if ((v = host->config_get(ctx, NULL, "mode"))) {
		if ((i = LOOKUP(mode_names, v)) < 0)
			BAD("mode", "must be color, gray or lineart", v);
		s->defaults.mode = (enum mode)i;
	}
	if ((v = host->config_get(ctx, NULL, "page_size")) &&
	    !parse_page_size(v, &s->page_w, &s->page_h))
		BAD("page_size",
		    "must be a4, a5, letter, legal or WxH in mm (10 to 1000 each, "
		    "e.g. 210x297)",
		    v);
	if ((v = host->config_get(ctx, NULL, "blank_threshold"))) {
		if (!parse_double(v, &d) || d < 0.0 || d >= 100.0)
			BAD("blank_threshold", "must be a percentage from 0 (off) to below 100", v);
		s->blank_threshold = d;
	}
	if ((v = host->config_get(ctx, NULL, "max_pages"))) {
		if (!parse_long(v, &l) || l < 1 || l > 100000)
			BAD("max_pages", "must be a whole number from 1 to 100000", v);
		s->max_pages = (unsigned)l;
	}
	if ((v = host->config_get(ctx, NULL, "timeout_s"))) {
		if (!parse_long(v, &l) || l < 5 || l > 3600)
			BAD("timeout_s", "must be a whole number of seconds from 5 to 3600", v);
		s->timeout_s = (unsigned)l;
	}
	if ((v = host->config_get(ctx, NULL, "device_options"))) {
		char why[160];
		int r = parse_devopts(v, &s->devopts, &s->n_devopts, why, sizeof why);
		if (r == -EINVAL)
			BAD("device_options", "%s (expected name=value;name=value)", v, why);
		if (r < 0)
			return r;
	}
#undef BAD
	return 0;
}

static int proxy_capture(void *data, struct motcua_capture_io *io)
{
	struct scanner *s = data;
	if (io->struct_size < offsetof(struct motcua_capture_io, host_private) || !io->page_ready) {
		LOG(s, MOTCUA_LOG_ERROR, "the gateway's capture interface is too old");
		return -EINVAL;
	}
	io->message[0] = 0;
	struct settings set = s->defaults;
	if (parse_request(io->options, &set, io->message, sizeof io->message) < 0)
		return -EINVAL;
	return driver_proxy_capture(s->proxy, io);
}

static int proxy_list_devices(void *data, char **json)
{
	struct scanner *s = data;
	return driver_proxy_list(s->proxy, json);
}

static const struct motcua_config_key keys[] = {
    {"device", "SANE device name, e.g. airscan:e0:Canon or test:0 (default: the first found)"},
    {"source", "flatbed, adf or adf-duplex (default flatbed)"},
    {"resolution", "dpi, 200 (Decree 30/2020 minimum) to 1200 (default 300)"},
    {"mode", "color (JPEG), gray (PNG) or lineart (1-bit PNG) (default color)"},
    {"page_size", "a4, a5, letter, legal or WxH in mm (default a4)"},
    {"blank_threshold",
     "percent of ink under which a page is blank and skipped; 0 = off (default 0.5)"},
    {"max_pages", "most pages in one feeder batch (default 200)"},
    {"device_options", "extra SANE options by name, name=value;name=value (applied last)"},
    {"timeout_s",
     "seconds the SANE driver process may stay silent before it is stopped as hung (default 60)"},
    {NULL, NULL},
};

/* In the gateway: the helper process does the scanning. */
static int proxy_init(struct scanner *s, void **state)
{
	const struct motcua_host *host = s->host;
	const char *names[16];
	size_t n = 0;
	for (const struct motcua_config_key *k = keys;
	     k->name && n + 1 < sizeof names / sizeof names[0]; k++)
		names[n++] = k->name;
	names[n] = NULL;
	char why[300];
	s->proxy = driver_proxy_new(s->ctx, host, names, s->timeout_s, why, sizeof why);
	if (!s->proxy) {
		host->log(s->ctx, MOTCUA_LOG_ERROR, "%s", why);
		scanner_free(s);
		return -ENOENT;
	}
	struct motcua_capture_ops ops = {
	    .struct_size = sizeof ops,
	    .check = scan_check,
	    .capture = proxy_capture,
	    .list_devices = proxy_list_devices,
	};
	const char *helper = driver_proxy_helper(s->proxy);
	host->log(s->ctx, MOTCUA_LOG_INFO,
		  "device %s, %s, %s, %d dpi; SANE runs in %s, one process a batch",
		  s->device ? s->device : "(first found)", source_names[s->defaults.source],
		  mode_names[s->defaults.mode], s->defaults.resolution, helper);
	int r = host->capture_register(s->ctx, &ops, s, scanner_free);
	if (r < 0) {
		host->log(s->ctx, MOTCUA_LOG_ERROR, "cannot register as the capture device: %s",
			  strerror(-r));
		return r;
	}
	*state = s;
	return 0;
}

static void *exit_at_once(void *unused)
{
	(void)unused;
	pthread_exit(NULL);
}

/*
 * glibc loads its unwinder (libgcc_s) under the dynamic loader's lock the
 * first time a thread exits or is cancelled. SANE backends built on
 * sanei_thread cancel their reader thread asynchronously, so if that first
 * time is a reader's exit racing its cancel, the reader dies holding the lock
 * and the next dlopen()/dlclose() in the gateway hangs. Make the first time
 * ours.
 */
static void load_unwinder(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, exit_at_once, NULL) == 0)
		pthread_join(t, NULL);
}

static int scan_init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	if (host->struct_size <
		offsetof(struct motcua_host, capture_register) + sizeof host->capture_register ||
	    !host->capture_register) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "this gateway cannot take a capture device "
			  "(its plugin interface is too old)");
		return -ENOTSUP;
	}
	struct scanner *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->ctx = ctx;
	s->host = host;
	pthread_mutex_init(&s->sane_lock, NULL);
	pthread_mutex_init(&s->cache_lock, NULL);
	atomic_init(&s->busy, false);
	int r = read_config(s);
	if (r < 0) {
		scanner_free(s);
		return r;
	}
	const char *role = host->config_get(ctx, NULL, SCAN_SANE_DRIVER_KEY);
	if (!role || strcmp(role, "1"))
		return proxy_init(s, state);
	load_unwinder();
	SANE_Int version = 0;
	SANE_Status st = sane_init(&version, NULL);
	if (st != SANE_STATUS_GOOD) {
		host->log(ctx, MOTCUA_LOG_ERROR, "cannot start SANE: %s", sane_strstatus(st));
		scanner_free(s);
		return -EIO;
	}
	s->sane_up = true;
	struct motcua_capture_ops ops = {
	    .struct_size = sizeof ops,
	    .check = scan_check,
	    .capture = scan_capture,
	    .list_devices = scan_list_devices,
	};
	r = host->capture_register(ctx, &ops, s, scanner_free);
	if (r < 0) {
		/* The host owns s now and frees it; only SANE is ours to stop. */
		host->log(ctx, MOTCUA_LOG_ERROR, "cannot register as the capture device: %s",
			  strerror(-r));
		scanner_exit(s);
		return r;
	}
	host->log(ctx, MOTCUA_LOG_INFO, "SANE %d.%d.%d; device %s, %s, %s, %d dpi",
		  SANE_VERSION_MAJOR(version), SANE_VERSION_MINOR(version),
		  SANE_VERSION_BUILD(version), s->device ? s->device : "(first found)",
		  source_names[s->defaults.source], mode_names[s->defaults.mode],
		  s->defaults.resolution);
	*state = s;
	return 0;
}

static void scan_fini(void *state)
{
	struct scanner *s = state;
	if (s && !s->proxy)
		scanner_exit(s); /* the host frees the state with scanner_free() */
}

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = "scan-sane",
    .version = "1.0.0",
    .provides = MOTCUA_PROVIDES_CAPTURE,
    .config_keys = keys,
    .init = scan_init,
    .fini = scan_fini,
};

MOTCUA_PLUGIN_DECLARE(info)
