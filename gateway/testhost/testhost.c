/* SPDX-License-Identifier: MIT */
/*
 * The test host (see motcua/testhost.h): a fake gateway for one plugin. It
 * follows the gateway's loader (src/plugins.c) and host table (src/host.c,
 * src/router.c, src/capture.c, src/workers.c) in what a plugin can see, and
 * reads secrets with src/secret.c itself. It needs nothing but libc,
 * pthreads and libdl: no event library (the fake loop is a condition
 * variable), no JSON library (a strict validator below).
 */
#define _GNU_SOURCE
#include <jansson.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "motcua/testhost.h"
#include "secret.h"
#include "validate.h"

#define MAX_ABIS 16
#define N_WORKERS 4
#define QUEUE_MAX 4096	       /* the gateway's worker queue */
#define MAX_UPLOAD (50u << 20) /* the gateway's default [http] max_upload_mb */
#define SEGMENTS_MAX 16	       /* the gateway's router */
#define SEGMENT_MAX 256
#define LOG_LINE_MAX (64 * 1024)

/* ---- the parts ----------------------------------------------------------------------------------
 */

struct motcua_plugin_ctx {
	struct motcua_testhost *th;
};

struct kv {
	char *section; /* NULL: the plugin's own */
	char *key;
	char *value;
	struct kv *next;
};

struct retired {
	char *s;
	struct retired *next;
};

struct config_read {
	char *section;
	char *key;
};

struct log_line {
	enum motcua_log_level level;
	char *text;
};

struct ev_node {
	struct motcua_testhost_event pub;
	char *type;
	char *json;
};

struct sub {
	char *prefix;
	motcua_event_fn fn;
	motcua_event_id_fn fn_id;
	void *data;
	motcua_free_fn free_fn;
	int64_t since; /* -1: event_subscribe() */
	struct sub *next;
};

struct motcua_timer {
	uint32_t interval_ms;
	int repeat;
	motcua_timer_fn fn;
	void *data;
	motcua_free_fn free_fn;
	int64_t due_ns;
	bool armed;
	bool dead;	/* cancelled while it fired */
	unsigned round; /* the pump round it last fired in */
	struct motcua_timer *next;
};

struct route {
	char *method;
	char *path;
	char *segs[SEGMENTS_MAX];
	int n_segs;
	bool wildcard;
	unsigned roles;
	motcua_route_fn fn;
	void *data;
	motcua_free_fn free_fn;
	struct route *next;
};

#define RESPONSE_MAGIC 0x6d637273u
struct motcua_response {
	uint32_t magic;
	char content_type[128];
	char *body;
	size_t len;
};

/* A request as the route sees it, with the test's headers. */
struct call_request {
	struct motcua_request req;
	const char *const *headers;
};

struct job {
	motcua_work_fn work;
	motcua_done_fn done;
	void *data;
	int cancelled;
	struct job *next;
};

struct step_slot {
	motcua_step_fn fn;
	void *data;
	motcua_free_fn free_fn;
	motcua_page_fn page_fn;
	void *page_data;
	motcua_free_fn page_free_fn;
};

struct status_node {
	struct motcua_testhost_status pub;
	char *code;
	char *details;
};

struct result_node {
	struct motcua_testhost_result pub;
	char *code, *path, *media_type, *name;
};

struct motcua_testhost_capture {
	struct motcua_testhost *th;
	struct motcua_capture_io io;
	struct motcua_testhost_capture_args args;
	char *dossier_code, *document_id, *options, *tmp_dir;
	unsigned seq;
	pthread_t thread;
	bool running; /* a thread to join */
	bool done;    /* capture() returned (under th->lock) */
	int result;
	char **pages, **page_types;
	size_t n_pages, cap_pages, cap_types;
	struct motcua_testhost_capture *next;
};

struct motcua_testhost {
	pthread_mutex_t lock;
	pthread_cond_t loop_cond; /* the loop sleeps here (CLOCK_MONOTONIC) */
	pthread_cond_t work_cond; /* idle workers sleep here */
	pthread_t loop_thread;
	char *root, *data_dir, *store_dir;
	uint32_t abis[MAX_ABIS];
	size_t n_abis;
	size_t table_size;
	int echo_max;
	char error[1024];
	size_t violations;
	unsigned warned; /* host functions already warned about (bits) */

	/* the plugin */
	void *dl;
	char *name, *path;
	bool loaded, started;
	struct motcua_plugin_info info;
	struct motcua_plugin_ctx ctx;
	struct motcua_host *table;
	void *state;
	size_t registrations;

	struct kv *config;
	struct retired *retired;
	struct config_read *reads;
	size_t n_reads, cap_reads;

	struct log_line *log;
	size_t n_log, cap_log;

	struct ev_node **evs; /* everything, in order */
	size_t n_evs, cap_evs;
	struct ev_node **elog; /* the durable log: elog[i] has id i + 1 */
	size_t n_elog, cap_elog;
	int64_t delivered; /* ids up to this one went to the subscribers */
	struct sub *subs;

	struct motcua_timer *timers;
	struct motcua_timer *firing;
	unsigned round;
	struct route *routes;

	pthread_t threads[N_WORKERS];
	unsigned n_threads, busy;
	size_t queued;
	bool workers_stop;
	struct job *head, *tail, *done_head, *done_tail;

	struct step_slot steps[MOTCUA_STEP_COUNT_];
	struct motcua_capture_ops capture_ops;
	void *capture_data;
	motcua_free_fn capture_free;
	bool has_capture;
	struct motcua_archive_ops archive_ops;
	void *archive_data;
	motcua_free_fn archive_free;
	bool has_archive;
	struct motcua_adapter_ops adapter_ops;
	void *adapter_data;
	motcua_free_fn adapter_free;
	bool has_adapter;
	struct motcua_testhost_capture *captures;
	unsigned capture_seq;

	char **dossiers;
	size_t n_dossiers;
	struct status_node **statuses;
	size_t n_statuses, cap_statuses;
	struct result_node **results;
	size_t n_results, cap_results;
	unsigned result_seq;

	struct motcua_testhost *next_live;
};

/* Live test hosts, to tell a plugin's ctx from a foreign pointer without
 * reading through it. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct motcua_testhost *live;
static size_t foreign_calls;

/* ---- small helpers
 * ------------------------------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Grows *arr (of *cap elements of size) to hold one more. */
static int grow(void *arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*(void **)arr, c * size);
	if (!p)
		return -ENOMEM;
	*(void **)arr = p;
	*cap = c;
	return 0;
}

static void say(const struct motcua_testhost *th, enum motcua_log_level level, const char *fmt, ...)
    MOTCUA_PRINTF(3, 4);
static void say(const struct motcua_testhost *th, enum motcua_log_level level, const char *fmt, ...)
{
	if ((int)level > MOTCUA_LOG_WARNING && (int)level > th->echo_max)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "  testhost%s%s: %s\n", th->name ? " " : "", th->name ? th->name : "", msg);
}

/* The test host whose ctx this is, or NULL (counted, said) for a foreign one. */
static struct motcua_testhost *host_of(struct motcua_plugin_ctx *ctx, const char *fn)
{
	struct motcua_testhost *th = NULL;
	pthread_mutex_lock(&live_lock);
	for (struct motcua_testhost *t = live; t && ctx; t = t->next_live)
		if (&t->ctx == ctx)
			th = t;
	if (!th) {
		foreign_calls++;
		fprintf(
		    stderr,
		    "  testhost: CONTRACT: %s() called with a ctx that is not the plugin's (%p)\n",
		    fn, (void *)ctx);
	}
	pthread_mutex_unlock(&live_lock);
	return th;
}

/* Host functions other than log(), result_add() and secret_read() are for
 * the loop thread only (motcua/plugin.h). */
static void loop_only(struct motcua_testhost *th, const char *fn, unsigned bit)
{
	if (pthread_equal(pthread_self(), th->loop_thread))
		return;
	pthread_mutex_lock(&th->lock);
	th->violations++;
	bool first = !(th->warned & (1u << bit));
	th->warned |= 1u << bit;
	pthread_mutex_unlock(&th->lock);
	if (first)
		say(th, MOTCUA_LOG_ERROR,
		    "CONTRACT: %s() called off the loop thread (from a worker or a thread "
		    "of the plugin's); it is for the loop only",
		    fn);
}

enum {
	F_CONFIG,
	F_PUBLISH,
	F_SUBSCRIBE,
	F_WORK,
	F_TIMER,
	F_ROUTE,
	F_RESPONSE,
	F_STEP,
	F_CAPTURE,
	F_ARCHIVE,
	F_DATA_DIR,
	F_ADAPTER,
	F_STATUS,
	F_BROADCAST,
};

/* ---- what the gateway checks (src/validate.c, built in) ---- */

/* Is text one JSON object and nothing else (jansson, duplicate keys refused,
 * as the gateway reads what a plugin hands it)? */
static bool json_object_text(const char *text, size_t n)
{
	json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, NULL);
	bool ok = json_is_object(j);
	json_decref(j);
	return ok;
}

static const char *role_name(unsigned role)
{
	switch (role) {
	case MOTCUA_ROLE_CLERK:
		return "clerk";
	case MOTCUA_ROLE_SUPERVISOR:
		return "supervisor";
	case MOTCUA_ROLE_ADMIN:
		return "admin";
	case MOTCUA_ROLE_AGENCY:
		return "agency";
	case MOTCUA_ROLE_KIOSK:
		return "kiosk";
	default:
		return "?";
	}
}

/* ---- files
 * ---------------------------------------------------------------------------------------- */

static int make_dirs(const char *path, mode_t mode)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -errno : 0;
}

static int open_up(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_D || type == FTW_DNR)
		chmod(path, (sb->st_mode & 07777) | S_IRWXU);
	return 0;
}

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb, (void)ftw;
	if (type == FTW_DP || type == FTW_D || type == FTW_DNR)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* rm -rf, read-only folders too. */
static void remove_tree(const char *path)
{
	if (!path || access(path, F_OK) < 0)
		return;
	nftw(path, open_up, 16, FTW_PHYS);
	nftw(path, remove_one, 16, FTW_PHYS | FTW_DEPTH);
}

static int copy_file(const char *from, const char *to, uint64_t *size)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		r = -errno;
		close(in);
		return r;
	}
	char buf[65536];
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		for (ssize_t o = 0; o < n;) {
			ssize_t w = write(out, buf + o, (size_t)(n - o));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r = -errno;
				break;
			}
			o += w;
		}
		if (r)
			break;
		total += (uint64_t)n;
	}
	close(in);
	if (close(out) < 0 && !r)
		r = -errno;
	if (r)
		unlink(to);
	else if (size)
		*size = total;
	return r;
}

/* ---- the log
 * ------------------------------------------------------------------------------------- */

static void keep_line(struct motcua_testhost *th, enum motcua_log_level level, char *text)
{
	pthread_mutex_lock(&th->lock);
	if ((int)level <= th->echo_max)
		fprintf(stderr, "  %s <%d> %s\n", th->name ? th->name : "?", (int)level, text);
	if (grow(&th->log, &th->cap_log, th->n_log, sizeof *th->log) == 0) {
		th->log[th->n_log].level = level;
		th->log[th->n_log++].text = text;
		text = NULL;
	}
	pthread_mutex_unlock(&th->lock);
	free(text);
}

static void host_log(struct motcua_plugin_ctx *ctx, enum motcua_log_level level, const char *fmt,
		     ...)
{
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = fmt ? vasprintf(&text, fmt, ap) : -1;
	va_end(ap);
	struct motcua_testhost *th = host_of(ctx, "log");
	if (n < 0) {
		text = NULL;
	} else if (n > LOG_LINE_MAX) {
		text[LOG_LINE_MAX] = 0;
	}
	if (!th) {
		fprintf(stderr, "  ? <%d> %s\n", (int)level, text ? text : "");
		free(text);
		return;
	}
	if (text)
		keep_line(th, level, text);
}

size_t motcua_testhost_log_count(const struct motcua_testhost *th)
{
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	size_t n = th->n_log;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return n;
}

const char *motcua_testhost_log_line(const struct motcua_testhost *th, size_t i,
				     enum motcua_log_level *level)
{
	const char *s = NULL;
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	if (i < th->n_log) {
		s = th->log[i].text;
		if (level)
			*level = th->log[i].level;
	}
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return s;
}

const char *motcua_testhost_log_find(const struct motcua_testhost *th, const char *needle)
{
	const char *s = NULL;
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	for (size_t i = 0; needle && i < th->n_log && !s; i++)
		if (strstr(th->log[i].text, needle))
			s = th->log[i].text;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return s;
}

const char *motcua_testhost_log_last_error(const struct motcua_testhost *th)
{
	const char *s = "";
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	for (size_t i = th->n_log; i-- > 0;)
		if (th->log[i].level <= MOTCUA_LOG_ERROR) {
			s = th->log[i].text;
			break;
		}
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return s;
}

void motcua_testhost_log_clear(struct motcua_testhost *th)
{
	pthread_mutex_lock(&th->lock);
	for (size_t i = 0; i < th->n_log; i++)
		free(th->log[i].text);
	th->n_log = 0;
	pthread_mutex_unlock(&th->lock);
}

/* ---- configuration
 * ----------------------------------------------------------------------------------- */

static bool own_section(const struct motcua_testhost *th, const char *section)
{
	return !section || (th->name && !strcmp(section, th->name));
}

static struct kv *kv_find(const struct motcua_testhost *th, const char *section, const char *key)
{
	bool own = own_section(th, section);
	for (struct kv *e = th->config; e; e = e->next)
		if (!strcmp(e->key, key) && (own ? own_section(th, e->section)
						 : e->section && !strcmp(e->section, section)))
			return e;
	return NULL;
}

/* A value the plugin may hold: freed when it stops. */
static void retire(struct motcua_testhost *th, char *s)
{
	if (!s)
		return;
	struct retired *r = th->started ? malloc(sizeof *r) : NULL;
	if (!r) {
		/* not started: nobody holds it (or out of memory: leak rather than dangle) */
		if (!th->started)
			free(s);
		return;
	}
	r->s = s;
	r->next = th->retired;
	th->retired = r;
}

static void free_retired(struct motcua_testhost *th)
{
	while (th->retired) {
		struct retired *r = th->retired;
		th->retired = r->next;
		free(r->s);
		free(r);
	}
}

int motcua_testhost_config_set(struct motcua_testhost *th, const char *section, const char *key,
			       const char *value)
{
	if (!th || !key || !key[0])
		return -EINVAL;
	pthread_mutex_lock(&th->lock);
	struct kv *e = kv_find(th, section, key);
	int r = 0;
	if (value) {
		char *v = strdup(value);
		if (!v) {
			r = -ENOMEM;
		} else if (e) {
			retire(th, e->value);
			e->value = v;
		} else {
			e = calloc(1, sizeof *e);
			if (!e || !(e->key = strdup(key)) ||
			    (!own_section(th, section) && !(e->section = strdup(section)))) {
				if (e)
					free(e->key);
				free(e);
				free(v);
				r = -ENOMEM;
			} else {
				e->value = v;
				struct kv **pp = &th->config;
				while (*pp)
					pp = &(*pp)->next;
				*pp = e;
			}
		}
	} else if (e) {
		retire(th, e->value);
		e->value = NULL; /* kept, unset: the entry may be set again */
	}
	pthread_mutex_unlock(&th->lock);
	return r;
}

int motcua_testhost_config(struct motcua_testhost *th, const char *key, ...)
{
	if (!th)
		return -EINVAL;
	pthread_mutex_lock(&th->lock);
	for (struct kv *e = th->config; e; e = e->next)
		if (own_section(th, e->section) && e->value) {
			retire(th, e->value);
			e->value = NULL;
		}
	pthread_mutex_unlock(&th->lock);
	int r = 0;
	va_list ap;
	va_start(ap, key);
	for (const char *k = key; k && r == 0; k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);
		r = motcua_testhost_config_set(th, NULL, k, v);
	}
	va_end(ap);
	return r;
}

size_t motcua_testhost_config_read_count(const struct motcua_testhost *th)
{
	return th->n_reads;
}

int motcua_testhost_config_read(const struct motcua_testhost *th, size_t i, const char **section,
				const char **key)
{
	if (i >= th->n_reads)
		return -ENOENT;
	if (section)
		*section = th->reads[i].section;
	if (key)
		*key = th->reads[i].key;
	return 0;
}

static const char *host_config_get(struct motcua_plugin_ctx *ctx, const char *section,
				   const char *key)
{
	struct motcua_testhost *th = host_of(ctx, "config_get");
	if (!th)
		return NULL;
	loop_only(th, "config_get", F_CONFIG);
	pthread_mutex_lock(&th->lock);
	bool own = own_section(th, section);
	if (grow(&th->reads, &th->cap_reads, th->n_reads, sizeof *th->reads) == 0) {
		th->reads[th->n_reads].section = own ? NULL : dup_or_null(section);
		th->reads[th->n_reads].key = dup_or_null(key);
		th->n_reads++;
	}
	const char *v = NULL;
	if (key) {
		struct kv *e = kv_find(th, section, key);
		v = e ? e->value : NULL;
		if (!v && !own) {
			/* the gateway's own settings as it uses them: its defaults */
			if (!strcmp(section, "office") && !strcmp(key, "agency_code"))
				v = "000.00.00.H00";
			else if (!strcmp(section, "office") && !strcmp(key, "name"))
				v = "Bộ phận Một cửa";
			else if (!strcmp(section, "gateway") && !strcmp(key, "data_dir"))
				v = th->data_dir;
		}
	}
	pthread_mutex_unlock(&th->lock);
	return v;
}

static const char *data_dir_of(struct motcua_testhost *th)
{
	struct kv *e = kv_find(th, "gateway", "data_dir");
	return e && e->value ? e->value : th->data_dir;
}

static const char *host_data_dir(struct motcua_plugin_ctx *ctx)
{
	struct motcua_testhost *th = host_of(ctx, "data_dir");
	if (!th)
		return NULL;
	loop_only(th, "data_dir", F_DATA_DIR);
	pthread_mutex_lock(&th->lock);
	const char *d = data_dir_of(th);
	pthread_mutex_unlock(&th->lock);
	return d;
}

static int host_secret_read(struct motcua_plugin_ctx *ctx, const char *key, const char *path,
			    unsigned flags, char *buf, size_t size, size_t *len, char *why,
			    size_t why_len)
{
	if (!host_of(ctx, "secret_read")) {
		secret_wipe(buf, size);
		return -EINVAL;
	}
	return secret_read_file(key, path, flags, buf, size, len, why, why_len);
}

/* ---- events
 * ---------------------------------------------------------------------------------------- */

static bool event_args_ok(const char *type, const char *json)
{
	return type && type[0] && strlen(type) <= 64 && json &&
	       json_object_text(json, strlen(json));
}

/* Keeps an event (in the log when stored); its id, 0 for a broadcast, or -ENOMEM. */
static int64_t keep_event(struct motcua_testhost *th, const char *type, const char *json,
			  bool from_plugin, bool broadcast)
{
	struct ev_node *e = calloc(1, sizeof *e);
	int64_t id = -ENOMEM;
	if (!e || !(e->type = strdup(type)) || !(e->json = strdup(json)))
		goto fail;
	pthread_mutex_lock(&th->lock);
	if (grow(&th->evs, &th->cap_evs, th->n_evs, sizeof *th->evs) < 0 ||
	    (!broadcast && grow(&th->elog, &th->cap_elog, th->n_elog, sizeof *th->elog) < 0)) {
		pthread_mutex_unlock(&th->lock);
		goto fail;
	}
	e->pub = (struct motcua_testhost_event){
	    .id = broadcast ? 0 : (int64_t)th->n_elog + 1,
	    .type = e->type,
	    .json = e->json,
	    .json_len = strlen(e->json),
	    .from_plugin = from_plugin,
	    .broadcast = broadcast,
	};
	th->evs[th->n_evs++] = e;
	if (!broadcast)
		th->elog[th->n_elog++] = e;
	id = e->pub.id;
	pthread_cond_broadcast(&th->loop_cond);
	pthread_mutex_unlock(&th->lock);
	return id;
fail:
	if (e) {
		free(e->type);
		free(e->json);
	}
	free(e);
	return -ENOMEM;
}

static bool prefix_of(const char *prefix, const char *type)
{
	return !strncmp(type, prefix, strlen(prefix));
}

static void deliver_one(struct sub *s, const struct ev_node *e)
{
	if (!prefix_of(s->prefix, e->type))
		return;
	if (s->fn_id)
		s->fn_id(s->data, e->pub.id, e->type, e->json, e->pub.json_len);
	else
		s->fn(s->data, e->type, e->json, e->pub.json_len);
}

/* Hands the stored events not yet delivered to the subscribers, in order. */
static int deliver_events(struct motcua_testhost *th)
{
	int n = 0;
	for (;;) {
		pthread_mutex_lock(&th->lock);
		if (th->delivered >= (int64_t)th->n_elog) {
			pthread_mutex_unlock(&th->lock);
			return n;
		}
		struct ev_node *e = th->elog[th->delivered++];
		pthread_mutex_unlock(&th->lock);
		/* those subscribed from here on have it through their replay */
		struct sub *last = th->subs;
		while (last && last->next)
			last = last->next;
		for (struct sub *s = th->subs; s; s = s->next) {
			deliver_one(s, e);
			if (s == last)
				break;
		}
		n++;
	}
}

static int host_event_publish(struct motcua_plugin_ctx *ctx, const char *type, const char *json)
{
	struct motcua_testhost *th = host_of(ctx, "event_publish");
	if (!th)
		return -EINVAL;
	loop_only(th, "event_publish", F_PUBLISH);
	if (!event_args_ok(type, json)) {
		say(th, MOTCUA_LOG_WARNING, "event %s refused: payload is not a JSON object",
		    type ? type : "(none)");
		return -EINVAL;
	}
	int64_t id = keep_event(th, type, json, true, false);
	return id < 0 ? (int)id : 0;
}

static int host_event_broadcast(struct motcua_plugin_ctx *ctx, const char *type, const char *json)
{
	struct motcua_testhost *th = host_of(ctx, "event_broadcast");
	if (!th)
		return -EINVAL;
	loop_only(th, "event_broadcast", F_BROADCAST);
	if (!event_args_ok(type, json))
		return -EINVAL;
	int64_t id = keep_event(th, type, json, true, true);
	return id < 0 ? (int)id : 0;
}

static int add_sub(struct motcua_testhost *th, const char *prefix, motcua_event_fn fn,
		   motcua_event_id_fn fn_id, int64_t since, void *data, motcua_free_fn free_fn)
{
	struct sub *s = calloc(1, sizeof *s);
	if (!s || !(s->prefix = strdup(prefix ? prefix : ""))) {
		free(s);
		if (free_fn)
			free_fn(data);
		return -ENOMEM;
	}
	s->fn = fn;
	s->fn_id = fn_id;
	s->since = since;
	s->data = data;
	s->free_fn = free_fn;
	struct sub **pp = &th->subs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = s;
	th->registrations++;
	return 0;
}

static int host_event_subscribe(struct motcua_plugin_ctx *ctx, const char *prefix,
				motcua_event_fn fn, void *data, motcua_free_fn free_fn)
{
	struct motcua_testhost *th = host_of(ctx, "event_subscribe");
	if (!th || !fn) {
		if (free_fn)
			free_fn(data);
		return -EINVAL;
	}
	loop_only(th, "event_subscribe", F_SUBSCRIBE);
	return add_sub(th, prefix, fn, NULL, -1, data, free_fn);
}

static int host_event_subscribe_from(struct motcua_plugin_ctx *ctx, const char *prefix,
				     int64_t since_id, motcua_event_id_fn fn, void *data,
				     motcua_free_fn free_fn)
{
	struct motcua_testhost *th = host_of(ctx, "event_subscribe_from");
	if (!th || !fn || since_id < 0) {
		if (free_fn)
			free_fn(data);
		return -EINVAL;
	}
	loop_only(th, "event_subscribe_from", F_SUBSCRIBE);
	/* the stored events after since_id, up to what live delivery reached */
	struct sub replay = {.prefix = (char *)(prefix ? prefix : ""), .fn_id = fn, .data = data};
	for (int64_t id = since_id + 1; id <= th->delivered; id++)
		deliver_one(&replay, th->elog[id - 1]);
	return add_sub(th, prefix, NULL, fn, since_id, data, free_fn);
}

int64_t motcua_testhost_emit(struct motcua_testhost *th, const char *type, const char *json)
{
	if (!event_args_ok(type, json))
		return -EINVAL;
	int64_t id = keep_event(th, type, json, false, false);
	if (id > 0)
		deliver_events(th);
	return id;
}

int motcua_testhost_replay(struct motcua_testhost *th, int64_t first_id, int64_t last_id)
{
	int n = 0;
	if (first_id < 1)
		first_id = 1;
	for (int64_t id = first_id; id <= last_id && id <= th->delivered; id++, n++)
		for (struct sub *s = th->subs; s; s = s->next)
			deliver_one(s, th->elog[id - 1]);
	return n;
}

size_t motcua_testhost_event_count(const struct motcua_testhost *th)
{
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	size_t n = th->n_evs;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return n;
}

const struct motcua_testhost_event *motcua_testhost_event_at(const struct motcua_testhost *th,
							     size_t i)
{
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	const struct motcua_testhost_event *e = i < th->n_evs ? &th->evs[i]->pub : NULL;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return e;
}

const struct motcua_testhost_event *motcua_testhost_event_by_id(const struct motcua_testhost *th,
								int64_t id)
{
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	const struct motcua_testhost_event *e =
	    id >= 1 && id <= (int64_t)th->n_elog ? &th->elog[id - 1]->pub : NULL;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return e;
}

int64_t motcua_testhost_last_event_id(const struct motcua_testhost *th)
{
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	int64_t id = (int64_t)th->n_elog;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return id;
}

size_t motcua_testhost_published_count(const struct motcua_testhost *th, const char *type_prefix)
{
	size_t n = 0;
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	for (size_t i = 0; i < th->n_evs; i++)
		n += th->evs[i]->pub.from_plugin &&
		     prefix_of(type_prefix ? type_prefix : "", th->evs[i]->type);
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return n;
}

const struct motcua_testhost_event *motcua_testhost_published_last(const struct motcua_testhost *th,
								   const char *type_prefix)
{
	const struct motcua_testhost_event *e = NULL;
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	for (size_t i = th->n_evs; i-- > 0 && !e;)
		if (th->evs[i]->pub.from_plugin &&
		    prefix_of(type_prefix ? type_prefix : "", th->evs[i]->type))
			e = &th->evs[i]->pub;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return e;
}

void motcua_testhost_events_clear(struct motcua_testhost *th)
{
	pthread_mutex_lock(&th->lock);
	for (size_t i = 0; i < th->n_evs; i++) {
		free(th->evs[i]->type);
		free(th->evs[i]->json);
		free(th->evs[i]);
	}
	th->n_evs = th->n_elog = 0;
	th->delivered = 0;
	pthread_mutex_unlock(&th->lock);
}

size_t motcua_testhost_subscription_count(const struct motcua_testhost *th)
{
	size_t n = 0;
	for (const struct sub *s = th->subs; s; s = s->next)
		n++;
	return n;
}

int motcua_testhost_subscription(const struct motcua_testhost *th, size_t i,
				 const char **type_prefix, int64_t *since_id)
{
	const struct sub *s = th->subs;
	while (s && i--)
		s = s->next;
	if (!s)
		return -ENOENT;
	if (type_prefix)
		*type_prefix = s->prefix;
	if (since_id)
		*since_id = s->since;
	return 0;
}

/* ---- workers
 * ---------------------------------------------------------------------------------------- */

static void push(struct job **head, struct job **tail, struct job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void *worker_main(void *arg)
{
	struct motcua_testhost *th = arg;
	pthread_mutex_lock(&th->lock);
	for (;;) {
		while (!th->head && !th->workers_stop)
			pthread_cond_wait(&th->work_cond, &th->lock);
		if (!th->head)
			break;
		struct job *j = th->head;
		th->head = j->next;
		if (!th->head)
			th->tail = NULL;
		th->queued--;
		th->busy++;
		pthread_mutex_unlock(&th->lock);
		j->work(j->data);
		pthread_mutex_lock(&th->lock);
		th->busy--;
		push(&th->done_head, &th->done_tail, j);
		pthread_cond_broadcast(&th->loop_cond);
	}
	pthread_mutex_unlock(&th->lock);
	return NULL;
}

static int host_work_submit(struct motcua_plugin_ctx *ctx, motcua_work_fn work, motcua_done_fn done,
			    void *data)
{
	struct motcua_testhost *th = host_of(ctx, "work_submit");
	if (!th || !work)
		return -EINVAL;
	loop_only(th, "work_submit", F_WORK);
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	j->work = work;
	j->done = done;
	j->data = data;
	int r = 0;
	pthread_mutex_lock(&th->lock);
	if (th->workers_stop || !th->started)
		r = -ESHUTDOWN;
	else if (th->queued >= QUEUE_MAX)
		r = -EAGAIN;
	for (; r == 0 && th->n_threads < N_WORKERS; th->n_threads++)
		if (pthread_create(&th->threads[th->n_threads], NULL, worker_main, th) != 0) {
			if (!th->n_threads)
				r = -EAGAIN;
			break;
		}
	if (r == 0) {
		push(&th->head, &th->tail, j);
		th->queued++;
		pthread_cond_signal(&th->work_cond);
	}
	pthread_mutex_unlock(&th->lock);
	if (r)
		free(j);
	return r;
}

static int run_completions(struct motcua_testhost *th)
{
	pthread_mutex_lock(&th->lock);
	struct job *j = th->done_head;
	th->done_head = th->done_tail = NULL;
	pthread_mutex_unlock(&th->lock);
	int n = 0;
	while (j) {
		struct job *next = j->next;
		if (j->done)
			j->done(j->data, j->cancelled);
		free(j);
		j = next;
		n++;
	}
	return n;
}

/* As the gateway's workers_free(): queued work back as cancelled, running
 * work waited for, every done callback run. */
static void workers_stop(struct motcua_testhost *th)
{
	pthread_mutex_lock(&th->lock);
	th->workers_stop = true;
	struct job *j = th->head;
	th->head = th->tail = NULL;
	th->queued = 0;
	while (j) {
		struct job *next = j->next;
		j->cancelled = 1;
		push(&th->done_head, &th->done_tail, j);
		j = next;
	}
	pthread_cond_broadcast(&th->work_cond);
	unsigned n = th->n_threads;
	pthread_mutex_unlock(&th->lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(th->threads[i], NULL);
	run_completions(th);
	pthread_mutex_lock(&th->lock);
	th->n_threads = 0;
	pthread_mutex_unlock(&th->lock);
}

/* ---- timers
 * ------------------------------------------------------------------------------------------ */

static void timer_free(struct motcua_timer *t)
{
	if (t->free_fn)
		t->free_fn(t->data);
	free(t);
}

static struct motcua_timer *host_timer_add(struct motcua_plugin_ctx *ctx, uint32_t interval_ms,
					   int repeat, motcua_timer_fn fn, void *data,
					   motcua_free_fn free_fn)
{
	struct motcua_testhost *th = host_of(ctx, "timer_add");
	struct motcua_timer *t = th && fn ? calloc(1, sizeof *t) : NULL;
	if (!t) {
		if (free_fn)
			free_fn(data);
		return NULL;
	}
	loop_only(th, "timer_add", F_TIMER);
	t->interval_ms = interval_ms;
	t->repeat = repeat;
	t->fn = fn;
	t->data = data;
	t->free_fn = free_fn;
	t->due_ns = now_ns() + (int64_t)interval_ms * 1000000;
	t->armed = true;
	struct motcua_timer **pp = &th->timers;
	while (*pp)
		pp = &(*pp)->next;
	*pp = t;
	th->registrations++;
	return t;
}

static void host_timer_cancel(struct motcua_plugin_ctx *ctx, struct motcua_timer *timer)
{
	struct motcua_testhost *th = host_of(ctx, "timer_cancel");
	if (!th)
		return;
	loop_only(th, "timer_cancel", F_TIMER);
	for (struct motcua_timer **pp = &th->timers; *pp; pp = &(*pp)->next) {
		if (*pp != timer)
			continue;
		*pp = timer->next;
		if (th->firing == timer)
			timer->dead = true; /* freed when its callback returns */
		else
			timer_free(timer);
		return;
	}
}

static void timer_fire(struct motcua_testhost *th, struct motcua_timer *t, bool by_test)
{
	th->firing = t;
	t->fn(t->data);
	th->firing = NULL;
	if (t->dead) {
		timer_free(t);
	} else if (t->repeat) {
		int64_t now = now_ns(), iv = (int64_t)t->interval_ms * 1000000;
		t->due_ns = by_test || t->due_ns + iv <= now ? now + iv : t->due_ns + iv;
	} else {
		/* a one-shot timer stays registered (the plugin may still cancel it) */
		t->armed = false;
	}
}

static int fire_due_timers(struct motcua_testhost *th)
{
	int n = 0;
	int64_t now = now_ns();
	unsigned round = ++th->round;
	for (bool again = true; again;) {
		again = false;
		for (struct motcua_timer *t = th->timers; t; t = t->next) {
			if (t->armed && t->due_ns <= now && t->round != round) {
				t->round = round;
				timer_fire(th, t, false);
				n++;
				again = true; /* the list may have changed */
				break;
			}
		}
	}
	return n;
}

size_t motcua_testhost_timer_count(const struct motcua_testhost *th)
{
	size_t n = 0;
	for (const struct motcua_timer *t = th->timers; t; t = t->next)
		n++;
	return n;
}

static struct motcua_timer *timer_at(const struct motcua_testhost *th, size_t i)
{
	struct motcua_timer *t = th->timers;
	while (t && i--)
		t = t->next;
	return t;
}

int motcua_testhost_timer_info(const struct motcua_testhost *th, size_t i, uint32_t *interval_ms,
			       bool *repeat)
{
	const struct motcua_timer *t = timer_at(th, i);
	if (!t)
		return -ENOENT;
	if (interval_ms)
		*interval_ms = t->interval_ms;
	if (repeat)
		*repeat = t->repeat != 0;
	return 0;
}

int motcua_testhost_timer_fire(struct motcua_testhost *th, size_t i)
{
	struct motcua_timer *t = timer_at(th, i);
	if (!t)
		return -ENOENT;
	timer_fire(th, t, true);
	return 0;
}

/* ---- the loop
 * ------------------------------------------------------------------------------------------ */

/* One round; when nothing ran, sleeps until something may (at most until
 * deadline). Returns how many callbacks ran. */
static int pump(struct motcua_testhost *th, int64_t deadline)
{
	int n = deliver_events(th);
	n += run_completions(th);
	n += fire_due_timers(th);
	if (n)
		return n;
	pthread_mutex_lock(&th->lock);
	int64_t wake = deadline;
	for (const struct motcua_timer *t = th->timers; t; t = t->next)
		if (t->armed && t->due_ns < wake)
			wake = t->due_ns;
	/* (a capture's end, work done and events published wake it) */
	if (!th->done_head && th->delivered >= (int64_t)th->n_elog && wake > now_ns()) {
		struct timespec ts = {(time_t)(wake / 1000000000), (long)(wake % 1000000000)};
		pthread_cond_timedwait(&th->loop_cond, &th->lock, &ts);
	}
	pthread_mutex_unlock(&th->lock);
	return 0;
}

int motcua_testhost_run(struct motcua_testhost *th, int ms)
{
	int64_t deadline = now_ns() + (int64_t)(ms > 0 ? ms : 0) * 1000000;
	int n = 0;
	do
		n += pump(th, deadline);
	while (now_ns() < deadline);
	return n;
}

int motcua_testhost_wait_until(struct motcua_testhost *th, bool (*done)(void *arg), void *arg,
			       int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		if (done(arg))
			return 0;
		int64_t now = now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		int64_t slice = now + 10 * 1000000;
		pump(th, slice < deadline ? slice : deadline);
	}
}

static bool idle(void *arg)
{
	struct motcua_testhost *th = arg;
	pthread_mutex_lock(&th->lock);
	bool r = !th->head && !th->busy && !th->done_head && th->delivered >= (int64_t)th->n_elog;
	pthread_mutex_unlock(&th->lock);
	return r;
}

int motcua_testhost_drain(struct motcua_testhost *th, int timeout_ms)
{
	return motcua_testhost_wait_until(th, idle, th, timeout_ms);
}

/* ---- routes
 * -------------------------------------------------------------------------------------------- */

static void route_free(struct route *rt)
{
	if (!rt)
		return;
	if (rt->free_fn)
		rt->free_fn(rt->data);
	for (int i = 0; i < rt->n_segs; i++)
		free(rt->segs[i]);
	free(rt->method);
	free(rt->path);
	free(rt);
}

static bool parse_pattern(struct route *rt, const char *path)
{
	const char *p = path + 1;
	while (*p) {
		size_t len = strcspn(p, "/");
		if (len == 0 || len >= SEGMENT_MAX || rt->n_segs == SEGMENTS_MAX || rt->wildcard)
			return false;
		char *s = strndup(p, len);
		if (!s)
			return false;
		rt->segs[rt->n_segs++] = s;
		if (!strcmp(s, "*"))
			rt->wildcard = true;
		else if (strchr(s, '*'))
			return false;
		p += len;
		if (*p == '/')
			p++;
	}
	return true;
}

static bool same_pattern(const struct route *a, const struct route *b)
{
	if (a->n_segs != b->n_segs)
		return false;
	for (int i = 0; i < a->n_segs; i++)
		if (strcmp(a->segs[i], b->segs[i]))
			return false;
	return true;
}

static int host_route_add(struct motcua_plugin_ctx *ctx, const char *method, const char *path,
			  unsigned roles, motcua_route_fn fn, void *data, motcua_free_fn free_fn)
{
	struct motcua_testhost *th = host_of(ctx, "route_add");
	struct route *rt = NULL;
	int r = -EINVAL;
	if (!th || !fn || !method || !path || path[0] != '/' || strlen(path) > 200 || !roles ||
	    strpbrk(path, "{}") ||
	    (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "PUT") &&
	     strcmp(method, "DELETE")))
		goto fail;
	loop_only(th, "route_add", F_ROUTE);
	r = -ENOMEM;
	if (!(rt = calloc(1, sizeof *rt)))
		goto fail;
	r = -EINVAL;
	if (!parse_pattern(rt, path))
		goto fail;
	r = -ENOMEM;
	if (!(rt->method = strdup(method)) || !(rt->path = strdup(path)))
		goto fail;
	struct route **pp = &th->routes;
	for (; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->method, method) && same_pattern(*pp, rt)) {
			r = -EEXIST;
			goto fail;
		}
	rt->roles = roles;
	rt->fn = fn;
	rt->data = data;
	rt->free_fn = free_fn;
	*pp = rt;
	th->registrations++;
	return 0;
fail:
	route_free(rt); /* (its free_fn is not set yet) */
	if (free_fn)
		free_fn(data);
	return r;
}

static int host_response_set(struct motcua_response *resp, const char *content_type,
			     const char *body, size_t len)
{
	if (!resp || resp->magic != RESPONSE_MAGIC || !content_type ||
	    strlen(content_type) >= sizeof resp->content_type || strpbrk(content_type, "\r\n") ||
	    (len && !body))
		return -EINVAL;
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, body, len);
	copy[len] = 0;
	free(resp->body);
	resp->body = copy;
	resp->len = len;
	snprintf(resp->content_type, sizeof resp->content_type, "%s", content_type);
	return 0;
}

static const char *request_header(const struct motcua_request *r, const char *name)
{
	if (!r || !name || !r->host_private)
		return NULL;
	const struct call_request *c = r->host_private;
	for (const char *const *h = c->headers; h && h[0] && h[1]; h += 2)
		if (!strcasecmp(h[0], name))
			return h[1];
	return NULL;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* Splits and %-decodes a path as the router does; -1 when it cannot be a route. */
static int split_path(const char *path, char segs[SEGMENTS_MAX][SEGMENT_MAX])
{
	int n = 0;
	const char *p = path;
	while (*p == '/')
		p++;
	while (*p) {
		if (n == SEGMENTS_MAX)
			return -1;
		size_t len = strcspn(p, "/"), o = 0;
		if (len >= SEGMENT_MAX)
			return -1;
		for (size_t i = 0; i < len; i++) {
			int hi, lo;
			if (p[i] == '%' && i + 2 < len + 1 && (hi = hexval(p[i + 1])) >= 0 &&
			    (lo = hexval(p[i + 2])) >= 0) {
				segs[n][o++] = (char)(hi << 4 | lo);
				i += 2;
			} else {
				segs[n][o++] = p[i];
			}
		}
		segs[n][o] = 0;
		if (!segs[n][0] || strchr(segs[n], '/') || strlen(segs[n]) != o)
			return -1;
		p += len;
		n++;
		while (*p == '/')
			p++;
	}
	return n;
}

static bool route_matches(const struct route *rt, char segs[][SEGMENT_MAX], int n)
{
	int fixed = rt->wildcard ? rt->n_segs - 1 : rt->n_segs;
	if (rt->wildcard ? n <= fixed : n != fixed)
		return false;
	for (int i = 0; i < fixed; i++)
		if (strcmp(rt->segs[i], segs[i]))
			return false;
	return true;
}

static int reply_error(struct motcua_testhost_response *out, int status, const char *error,
		       const char *fmt, ...) MOTCUA_PRINTF(4, 5);
static int reply_error(struct motcua_testhost_response *out, int status, const char *error,
		       const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	out->status = status;
	snprintf(out->content_type, sizeof out->content_type, "application/json");
	if (asprintf(&out->body, "{\"error\": \"%s\", \"detail\": \"%s\"}", error, detail) < 0)
		out->body = NULL;
	out->body_len = out->body ? strlen(out->body) : 0;
	return status;
}

int motcua_testhost_call(struct motcua_testhost *th, const struct motcua_testhost_request *rq,
			 struct motcua_testhost_response *out)
{
	memset(out, 0, sizeof *out);
	const char *method = rq->method ? rq->method : "GET";
	char segs[SEGMENTS_MAX][SEGMENT_MAX];
	int n = rq->path ? split_path(rq->path, segs) : -1;
	if (!th->started || n < 0)
		return reply_error(out, 404, "not_found", "no such route");
	struct route *match = NULL;
	char allow[64] = "";
	bool seen = false;
	for (struct route *rt = th->routes; rt; rt = rt->next) {
		if (!route_matches(rt, segs, n))
			continue;
		seen = true;
		if (!strcmp(rt->method, method)) {
			if (!match)
				match = rt;
		} else if (!strstr(allow, rt->method)) {
			size_t l = strlen(allow);
			snprintf(allow + l, sizeof allow - l, "%s%s", l ? ", " : "", rt->method);
		}
	}
	if (!seen)
		return reply_error(out, 404, "not_found", "no such route");
	if (!match)
		return reply_error(out, 405, "method_not_allowed", "%s is not allowed here: use %s",
				   method, allow);
	if (!(match->roles & rq->role))
		return reply_error(out, 403, "forbidden", "role %s may not do this",
				   role_name(rq->role));
	size_t len = rq->body ? (rq->body_len ? rq->body_len : strlen(rq->body)) : 0;
	struct call_request c = {
	    .req =
		{
		    .struct_size = sizeof(struct motcua_request),
		    .method = match->method,
		    .path = rq->path[0] ? rq->path : "/",
		    .query = rq->query,
		    .body = len ? rq->body : NULL,
		    .body_len = len,
		    .token_name = rq->token_name ? rq->token_name : "test",
		    .role = rq->role,
		    .header = request_header,
		},
	    .headers = rq->headers,
	};
	c.req.host_private = &c;
	struct motcua_response resp = {.magic = RESPONSE_MAGIC};
	snprintf(resp.content_type, sizeof resp.content_type, "application/json");
	int status = match->fn(match->data, &c.req, &resp);
	resp.magic = 0; /* a response_set() after the call is refused */
	if (status < 100 || status > 599) {
		say(th, MOTCUA_LOG_ERROR, "route %s %s returned bad status %d", method, rq->path,
		    status);
		free(resp.body);
		return reply_error(out, 500, "plugin_error", "plugin %s failed", th->name);
	}
	out->status = status;
	snprintf(out->content_type, sizeof out->content_type, "%s", resp.content_type);
	out->body = resp.body ? resp.body : strdup("");
	out->body_len = resp.body ? resp.len : 0;
	return status;
}

void motcua_testhost_response_clear(struct motcua_testhost_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

size_t motcua_testhost_route_count(const struct motcua_testhost *th)
{
	size_t n = 0;
	for (const struct route *rt = th->routes; rt; rt = rt->next)
		n++;
	return n;
}

int motcua_testhost_route_info(const struct motcua_testhost *th, size_t i, const char **method,
			       const char **path, unsigned *roles, bool *has_free_fn)
{
	const struct route *rt = th->routes;
	while (rt && i--)
		rt = rt->next;
	if (!rt)
		return -ENOENT;
	if (method)
		*method = rt->method;
	if (path)
		*path = rt->path;
	if (roles)
		*roles = rt->roles;
	if (has_free_fn)
		*has_free_fn = rt->free_fn != NULL;
	return 0;
}

/* ---- steps
 * --------------------------------------------------------------------------------------------- */

static const char *step_name(enum motcua_step step)
{
	static const char *const names[] = {"capture", "recognize", "sign", "archive", "route"};
	return (unsigned)step < MOTCUA_STEP_COUNT_ ? names[step] : "?";
}

static int host_step_register(struct motcua_plugin_ctx *ctx, enum motcua_step step,
			      motcua_step_fn fn, void *data, motcua_free_fn free_fn)
{
	struct motcua_testhost *th = host_of(ctx, "step_register");
	int r = 0;
	if (!th || !fn ||
	    (step != MOTCUA_STEP_RECOGNIZE && step != MOTCUA_STEP_SIGN &&
	     step != MOTCUA_STEP_ARCHIVE))
		r = -EINVAL;
	else if (th->steps[step].fn)
		r = -EEXIST;
	if (th)
		loop_only(th, "step_register", F_STEP);
	if (r == -EEXIST)
		say(th, MOTCUA_LOG_ERROR, "cannot do the %s step: %s already does it",
		    step_name(step), th->name);
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	th->steps[step].fn = fn;
	th->steps[step].data = data;
	th->steps[step].free_fn = free_fn;
	th->registrations++;
	return 0;
}

static int host_page_step_register(struct motcua_plugin_ctx *ctx, enum motcua_step step,
				   motcua_page_fn fn, void *data, motcua_free_fn free_fn)
{
	struct motcua_testhost *th = host_of(ctx, "page_step_register");
	int r = 0;
	if (!th || step != MOTCUA_STEP_RECOGNIZE || !fn)
		r = -EINVAL;
	else if (!th->steps[step].fn)
		r = -ENOENT;
	else if (th->steps[step].page_fn)
		r = -EEXIST;
	if (th) {
		loop_only(th, "page_step_register", F_STEP);
		if (r < 0)
			say(th, MOTCUA_LOG_ERROR, "cannot add a page function to the %s step: %s",
			    step_name(step), strerror(-r));
	}
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	th->steps[step].page_fn = fn;
	th->steps[step].page_data = data;
	th->steps[step].page_free_fn = free_fn;
	th->registrations++;
	return 0;
}

bool motcua_testhost_has_step(const struct motcua_testhost *th, enum motcua_step step)
{
	return (unsigned)step < MOTCUA_STEP_COUNT_ && th->steps[step].fn;
}

bool motcua_testhost_has_page_step(const struct motcua_testhost *th, enum motcua_step step)
{
	return (unsigned)step < MOTCUA_STEP_COUNT_ && th->steps[step].page_fn;
}

int motcua_testhost_step(struct motcua_testhost *th, enum motcua_step step,
			 struct motcua_step_io *io)
{
	if (!motcua_testhost_has_step(th, step) || !io)
		return -ENOENT;
	if (!io->struct_size)
		io->struct_size = sizeof *io;
	int r = th->steps[step].fn(th->steps[step].data, io);
	io->message[sizeof io->message - 1] = 0;
	return r;
}

int motcua_testhost_page_step(struct motcua_testhost *th, enum motcua_step step,
			      struct motcua_page_io *io)
{
	if (!motcua_testhost_has_page_step(th, step) || !io)
		return -ENOENT;
	if (!io->struct_size)
		io->struct_size = sizeof *io;
	int r = th->steps[step].page_fn(th->steps[step].page_data, io);
	io->message[sizeof io->message - 1] = 0;
	return r;
}

/* ---- what a plugin provides
 * ----------------------------------------------------------------------------- */

/* Copies a plugin's ops (at most ours, the rest zeroed). */
static void copy_ops(void *dst, size_t dst_size, const void *src, uint32_t src_size)
{
	memset(dst, 0, dst_size);
	memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
}

static int host_capture_register(struct motcua_plugin_ctx *ctx,
				 const struct motcua_capture_ops *ops, void *data,
				 motcua_free_fn free_fn)
{
	struct motcua_testhost *th = host_of(ctx, "capture_register");
	int r = 0;
	if (!th || !ops || !MOTCUA_HAS_MEMBER(struct motcua_capture_ops, ops, list_devices) ||
	    !ops->check || !ops->capture || !ops->list_devices)
		r = -EINVAL;
	else if (th->has_capture)
		r = -EEXIST;
	if (th) {
		loop_only(th, "capture_register", F_CAPTURE);
		if (r == -EEXIST)
			say(th, MOTCUA_LOG_ERROR, "cannot capture: %s already does", th->name);
	}
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	copy_ops(&th->capture_ops, sizeof th->capture_ops, ops, ops->struct_size);
	th->capture_data = data;
	th->capture_free = free_fn;
	th->has_capture = true;
	th->registrations++;
	return 0;
}

static int host_archive_register(struct motcua_plugin_ctx *ctx,
				 const struct motcua_archive_ops *ops, void *data,
				 motcua_free_fn free_fn)
{
	struct motcua_testhost *th = host_of(ctx, "archive_register");
	int r = 0;
	if (!th || !ops || !MOTCUA_HAS_MEMBER(struct motcua_archive_ops, ops, verify) ||
	    !ops->search || !ops->applicant_documents || !ops->item || !ops->reused ||
	    !ops->disposal || !ops->verify)
		r = -EINVAL;
	else if (th->has_archive)
		r = -EEXIST;
	if (th) {
		loop_only(th, "archive_register", F_ARCHIVE);
		if (r == -EEXIST)
			say(th, MOTCUA_LOG_ERROR, "cannot archive: %s already does", th->name);
	}
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	copy_ops(&th->archive_ops, sizeof th->archive_ops, ops, ops->struct_size);
	th->archive_data = data;
	th->archive_free = free_fn;
	th->has_archive = true;
	th->registrations++;
	return 0;
}

static int host_adapter_register(struct motcua_plugin_ctx *ctx,
				 const struct motcua_adapter_ops *ops, void *data,
				 motcua_free_fn free_fn)
{
	struct motcua_testhost *th = host_of(ctx, "adapter_register");
	int r = 0;
	if (!th || !ops || !MOTCUA_HAS_MEMBER(struct motcua_adapter_ops, ops, deliver) ||
	    !ops->accepts || !ops->deliver)
		r = -EINVAL;
	else if (th->has_adapter)
		r = -EEXIST;
	if (th)
		loop_only(th, "adapter_register", F_ADAPTER);
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	copy_ops(&th->adapter_ops, sizeof th->adapter_ops, ops, ops->struct_size);
	th->adapter_data = data;
	th->adapter_free = free_fn;
	th->has_adapter = true;
	th->registrations++;
	return 0;
}

const struct motcua_capture_ops *motcua_testhost_capture_ops(const struct motcua_testhost *th,
							     void **data)
{
	if (data)
		*data = th->has_capture ? th->capture_data : NULL;
	return th->has_capture ? &th->capture_ops : NULL;
}

const struct motcua_archive_ops *motcua_testhost_archive_ops(const struct motcua_testhost *th,
							     void **data)
{
	if (data)
		*data = th->has_archive ? th->archive_data : NULL;
	return th->has_archive ? &th->archive_ops : NULL;
}

const struct motcua_adapter_ops *motcua_testhost_adapter_ops(const struct motcua_testhost *th,
							     void **data)
{
	if (data)
		*data = th->has_adapter ? th->adapter_data : NULL;
	return th->has_adapter ? &th->adapter_ops : NULL;
}

/* ---- capture
 * -------------------------------------------------------------------------------------------- */

static struct motcua_testhost_capture *capture_of(struct motcua_capture_io *io)
{
	return io ? io->host_private : NULL;
}

static const char *extension_of(const char *media_type)
{
	return !strcmp(media_type, "image/png")	   ? "png"
	       : !strcmp(media_type, "image/jpeg") ? "jpg"
						   : "tif";
}

static int capture_page_ready(struct motcua_capture_io *io, const char *path,
			      const char *media_type)
{
	struct motcua_testhost_capture *c = capture_of(io);
	if (!c)
		return -EINVAL;
	struct motcua_testhost *th = c->th;
	if (c->args.on_page) {
		int r = c->args.on_page(c->args.arg, io, path, media_type);
		if (r < 0)
			return r;
	}
	bool ok =
	    media_type && (!strcmp(media_type, "image/png") || !strcmp(media_type, "image/jpeg") ||
			   !strcmp(media_type, "image/tiff"));
	size_t dl = strlen(c->tmp_dir);
	if (!ok || !path || strncmp(path, c->tmp_dir, dl) != 0 || path[dl] != '/' ||
	    strstr(path, "/../")) {
		say(th, MOTCUA_LOG_ERROR,
		    "page refused: it must be a PNG, JPEG or TIFF file in io->tmp_dir");
		return -EINVAL;
	}
	pthread_mutex_lock(&th->lock);
	size_t no = c->n_pages + 1;
	int r = grow(&c->pages, &c->cap_pages, c->n_pages, sizeof *c->pages);
	if (r == 0)
		r = grow(&c->page_types, &c->cap_types, c->n_pages, sizeof *c->page_types);
	pthread_mutex_unlock(&th->lock);
	char *dest = NULL, *type = strdup(media_type);
	if (r == 0 && (!type || asprintf(&dest, "%s/capture-%u-page-%zu.%s", th->store_dir, c->seq,
					 no, extension_of(media_type)) < 0)) {
		dest = NULL;
		r = -ENOMEM;
	}
	/* the host takes the file over */
	if (r == 0 && rename(path, dest) < 0) {
		r = -errno;
		if (r == -EXDEV && (r = copy_file(path, dest, NULL)) == 0)
			unlink(path);
	}
	if (r < 0) {
		free(dest);
		free(type);
		return r;
	}
	pthread_mutex_lock(&th->lock);
	c->pages[c->n_pages] = dest;
	c->page_types[c->n_pages++] = type;
	pthread_mutex_unlock(&th->lock);
	return 0;
}

static void capture_progress(struct motcua_capture_io *io, const char *json)
{
	struct motcua_testhost_capture *c = capture_of(io);
	if (!c)
		return;
	if (c->args.on_progress)
		c->args.on_progress(c->args.arg, io, json);
	if (json && strlen(json) <= 4096 && json_object_text(json, strlen(json)))
		keep_event(c->th, "capture.progress", json, true, true);
}

static void *capture_main(void *arg)
{
	struct motcua_testhost_capture *c = arg;
	struct motcua_testhost *th = c->th;
	int r = th->capture_ops.capture(th->capture_data, &c->io);
	c->io.message[sizeof c->io.message - 1] = 0;
	pthread_mutex_lock(&th->lock);
	c->result = r;
	c->done = true;
	pthread_cond_broadcast(&th->loop_cond);
	pthread_mutex_unlock(&th->lock);
	return NULL;
}

static void capture_join(struct motcua_testhost_capture *c)
{
	if (!c->running)
		return;
	pthread_join(c->thread, NULL);
	c->running = false;
}

struct motcua_testhost_capture *
motcua_testhost_capture_start(struct motcua_testhost *th,
			      const struct motcua_testhost_capture_args *args)
{
	static const struct motcua_testhost_capture_args none;
	if (!th->has_capture) {
		errno = ENOENT;
		return NULL;
	}
	if (!args)
		args = &none;
	struct motcua_testhost_capture *c = calloc(1, sizeof *c);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->th = th;
	c->seq = ++th->capture_seq;
	c->args = *args;
	char id[32];
	snprintf(id, sizeof id, "doc-%u", c->seq);
	c->dossier_code =
	    strdup(args->dossier_code ? args->dossier_code : "000.00.00.H00-240101-0001");
	c->document_id = strdup(args->document_id ? args->document_id : id);
	c->options = strdup(args->options ? args->options : "{}");
	if (asprintf(&c->tmp_dir, "%s/tmp/capture-%u", data_dir_of(th), c->seq) < 0)
		c->tmp_dir = NULL;
	int r = !c->dossier_code || !c->document_id || !c->options || !c->tmp_dir
		    ? -ENOMEM
		    : make_dirs(c->tmp_dir, 0750);
	c->io = (struct motcua_capture_io){
	    .struct_size = sizeof c->io,
	    .dossier_code = c->dossier_code,
	    .document_id = c->document_id,
	    .options = c->options,
	    .tmp_dir = c->tmp_dir,
	    .page_ready = capture_page_ready,
	    .progress = capture_progress,
	    .host_private = c,
	};
	if (r == 0 && pthread_create(&c->thread, NULL, capture_main, c) != 0)
		r = -EAGAIN;
	if (r < 0) {
		say(th, MOTCUA_LOG_ERROR, "cannot start the capture: %s", strerror(-r));
		motcua_testhost_capture_free(c);
		errno = -r;
		return NULL;
	}
	c->running = true;
	c->next = th->captures;
	th->captures = c;
	return c;
}

static bool capture_done(void *arg)
{
	struct motcua_testhost_capture *c = arg;
	pthread_mutex_lock(&c->th->lock);
	bool d = c->done;
	pthread_mutex_unlock(&c->th->lock);
	return d;
}

int motcua_testhost_capture_wait(struct motcua_testhost *th, struct motcua_testhost_capture *c,
				 int timeout_ms)
{
	if (motcua_testhost_wait_until(th, capture_done, c, timeout_ms) < 0)
		return -ETIMEDOUT;
	capture_join(c);
	return c->result;
}

int motcua_testhost_capture(struct motcua_testhost *th,
			    const struct motcua_testhost_capture_args *args,
			    struct motcua_testhost_capture **cap)
{
	struct motcua_testhost_capture *c = motcua_testhost_capture_start(th, args);
	if (cap)
		*cap = c;
	if (!c)
		return -errno;
	int r = motcua_testhost_capture_wait(th, c, -1);
	if (!cap)
		motcua_testhost_capture_free(c);
	return r;
}

bool motcua_testhost_capture_ended(struct motcua_testhost_capture *c)
{
	return capture_done(c);
}

struct motcua_capture_io *motcua_testhost_capture_io(struct motcua_testhost_capture *c)
{
	return &c->io;
}

void motcua_testhost_capture_cancel(struct motcua_testhost_capture *c)
{
	c->io.cancel = 1;
}

size_t motcua_testhost_capture_page_count(struct motcua_testhost_capture *c)
{
	pthread_mutex_lock(&c->th->lock);
	size_t n = c->n_pages;
	pthread_mutex_unlock(&c->th->lock);
	return n;
}

const char *motcua_testhost_capture_page(struct motcua_testhost_capture *c, size_t i,
					 const char **media_type)
{
	const char *p = NULL;
	pthread_mutex_lock(&c->th->lock);
	if (i < c->n_pages) {
		p = c->pages[i];
		if (media_type)
			*media_type = c->page_types[i];
	}
	pthread_mutex_unlock(&c->th->lock);
	return p;
}

void motcua_testhost_capture_free(struct motcua_testhost_capture *c)
{
	if (!c)
		return;
	if (c->running && !capture_done(c))
		c->io.cancel = 1;
	capture_join(c);
	for (struct motcua_testhost_capture **pp = &c->th->captures; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	remove_tree(c->tmp_dir);
	for (size_t i = 0; i < c->n_pages; i++) {
		free(c->pages[i]);
		free(c->page_types[i]);
	}
	free(c->pages);
	free(c->page_types);
	free(c->dossier_code);
	free(c->document_id);
	free(c->options);
	free(c->tmp_dir);
	free(c);
}

/* ---- dossiers
 * ------------------------------------------------------------------------------------------- */

static bool dossier_exists(const struct motcua_testhost *th, const char *code)
{
	for (size_t i = 0; i < th->n_dossiers; i++)
		if (!strcmp(th->dossiers[i], code))
			return true;
	return false;
}

int motcua_testhost_dossier_add(struct motcua_testhost *th, const char *code)
{
	if (!code || !valid_code_chars(code, 95))
		return -EINVAL;
	pthread_mutex_lock(&th->lock);
	int r = 0;
	if (!dossier_exists(th, code)) {
		char **d = realloc(th->dossiers, (th->n_dossiers + 1) * sizeof *d);
		char *c = strdup(code);
		if (d)
			th->dossiers = d;
		if (!d || !c) {
			free(c);
			r = -ENOMEM;
		} else {
			th->dossiers[th->n_dossiers++] = c;
		}
	}
	pthread_mutex_unlock(&th->lock);
	return r;
}

static int host_dossier_status(struct motcua_plugin_ctx *ctx, const char *code, int status,
			       const char *details)
{
	struct motcua_testhost *th = host_of(ctx, "dossier_status");
	if (!th)
		return -EINVAL;
	loop_only(th, "dossier_status", F_STATUS);
	if (!code || !valid_code_chars(code, 95))
		return -EINVAL;
	if (details && !json_object_text(details, strlen(details)))
		return -EINVAL;
	pthread_mutex_lock(&th->lock);
	int r = 0;
	struct status_node *s = NULL;
	if (!dossier_exists(th, code)) {
		r = -ENOENT;
	} else if (status < 1 || status > 10) {
		r = -EINVAL;
	} else if (!(s = calloc(1, sizeof *s)) || !(s->code = strdup(code)) ||
		   (details && !(s->details = strdup(details))) ||
		   grow(&th->statuses, &th->cap_statuses, th->n_statuses, sizeof *th->statuses) <
		       0) {
		r = -ENOMEM;
	} else {
		s->pub = (struct motcua_testhost_status){s->code, status, s->details};
		th->statuses[th->n_statuses++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&th->lock);
	if (s) {
		free(s->code);
		free(s->details);
		free(s);
	}
	if (r == -EINVAL)
		say(th, MOTCUA_LOG_WARNING, "status %d for %s refused: not a code from 1 to 10",
		    status, code);
	return r;
}

/* Does the file hold what its type says (as an upload must)? */
static int check_result_file(const char *path, const char *media_type, const char **why)
{
	unsigned char probe[64 + 1024];
	size_t hn = 0, tn = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	off_t size = lseek(fd, 0, SEEK_END);
	if (size > 0) {
		hn = (size_t)(size < 64 ? size : 64);
		tn = (size_t)(size < 1024 ? size : 1024);
		if (pread(fd, probe, hn, 0) != (ssize_t)hn ||
		    pread(fd, probe + hn, tn, size - (off_t)tn) != (ssize_t)tn)
			hn = tn = 0;
	}
	close(fd);
	if (size <= 0)
		*why = "empty file";
	else if ((uint64_t)size > MAX_UPLOAD)
		*why = "too large";
	else if (upload_content_matches(media_type, probe, hn + tn, why))
		return 0;
	return -EINVAL;
}

static int host_result_add(struct motcua_plugin_ctx *ctx, const char *code, const char *path,
			   const char *media_type, const char *name)
{
	struct motcua_testhost *th = host_of(ctx, "result_add");
	if (!th || !code || !valid_code_chars(code, 95) || !path || !media_type ||
	    !upload_type_ok(media_type) || (name && !valid_document_name(name)))
		return -EINVAL;
	pthread_mutex_lock(&th->lock);
	bool started = th->started && !th->workers_stop;
	unsigned seq = ++th->result_seq;
	pthread_mutex_unlock(&th->lock);
	if (!started)
		return -ESHUTDOWN;
	const char *why = NULL;
	int r = check_result_file(path, media_type, &why);
	if (r == -EINVAL)
		say(th, MOTCUA_LOG_WARNING, "a result for %s was refused: %s", code, why);
	if (r < 0)
		return r;
	struct result_node *n = calloc(1, sizeof *n);
	if (!n)
		return -ENOMEM;
	uint64_t size = 0;
	r = -ENOMEM;
	if (asprintf(&n->path, "%s/result-%u", th->store_dir, seq) < 0)
		n->path = NULL;
	else if ((n->code = strdup(code)) && (n->media_type = strdup(media_type)) &&
		 (n->name = strdup(name ? name : "Kết quả giải quyết")))
		r = copy_file(path, n->path, &size);
	if (r == 0) {
		pthread_mutex_lock(&th->lock);
		/* recorded on the loop in the gateway, which finds a missing dossier there */
		if (!dossier_exists(th, code)) {
			r = 1;
		} else if (grow(&th->results, &th->cap_results, th->n_results,
				sizeof *th->results) < 0) {
			r = -ENOMEM;
		} else {
			n->pub = (struct motcua_testhost_result){n->code, n->path, n->media_type,
								 n->name, size};
			th->results[th->n_results++] = n;
			n = NULL;
		}
		pthread_mutex_unlock(&th->lock);
		if (r == 1) {
			say(th, MOTCUA_LOG_ERROR, "a result for %s was dropped: no such dossier",
			    code);
			r = 0;
		}
	}
	if (n) {
		if (n->path)
			unlink(n->path);
		free(n->path);
		free(n->code);
		free(n->media_type);
		free(n->name);
		free(n);
	}
	return r;
}

size_t motcua_testhost_status_count(const struct motcua_testhost *th)
{
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	size_t n = th->n_statuses;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return n;
}

const struct motcua_testhost_status *motcua_testhost_status_at(const struct motcua_testhost *th,
							       size_t i)
{
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	const struct motcua_testhost_status *s = i < th->n_statuses ? &th->statuses[i]->pub : NULL;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return s;
}

size_t motcua_testhost_result_count(const struct motcua_testhost *th)
{
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	size_t n = th->n_results;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return n;
}

const struct motcua_testhost_result *motcua_testhost_result_at(const struct motcua_testhost *th,
							       size_t i)
{
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	const struct motcua_testhost_result *r = i < th->n_results ? &th->results[i]->pub : NULL;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return r;
}

/* ---- the table
 * ------------------------------------------------------------------------------------------- */

static const struct motcua_host full_table = {
    .struct_size = sizeof(struct motcua_host),
    .abi = MOTCUA_ABI_VERSION,
    .log = host_log,
    .config_get = host_config_get,
    .event_publish = host_event_publish,
    .event_subscribe = host_event_subscribe,
    .work_submit = host_work_submit,
    .timer_add = host_timer_add,
    .timer_cancel = host_timer_cancel,
    .route_add = host_route_add,
    .response_set = host_response_set,
    .step_register = host_step_register,
    .page_step_register = host_page_step_register,
    .capture_register = host_capture_register,
    .archive_register = host_archive_register,
    .data_dir = host_data_dir,
    .adapter_register = host_adapter_register,
    .dossier_status = host_dossier_status,
    .result_add = host_result_add,
    .event_subscribe_from = host_event_subscribe_from,
    .event_broadcast = host_event_broadcast,
    .secret_read = host_secret_read,
};

/* ---- making one
 * ------------------------------------------------------------------------------------------ */

struct motcua_testhost *motcua_testhost_new(void)
{
	struct motcua_testhost *th = calloc(1, sizeof *th);
	if (!th)
		return NULL;
	pthread_mutex_init(&th->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&th->loop_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&th->work_cond, NULL);
	th->loop_thread = pthread_self();
	th->abis[0] = MOTCUA_ABI_VERSION;
	th->n_abis = 1;
	th->table_size = sizeof(struct motcua_host);
	th->echo_max = MOTCUA_LOG_DEBUG;
	th->ctx.th = th;
	const char *tmp = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof tmpl, "%s/motcua-testhost-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "testhost: cannot make %s: %s\n", tmpl, strerror(errno));
		goto fail;
	}
	th->root = realpath(tmpl, NULL);
	if (!th->root || asprintf(&th->data_dir, "%s/data", th->root) < 0 ||
	    asprintf(&th->store_dir, "%s/store", th->root) < 0) {
		th->data_dir = th->store_dir = NULL;
		goto fail;
	}
	if (mkdir(th->data_dir, 0700) < 0 || mkdir(th->store_dir, 0700) < 0) {
		fprintf(stderr, "testhost: cannot make %s: %s\n", th->data_dir, strerror(errno));
		goto fail;
	}
	pthread_mutex_lock(&live_lock);
	th->next_live = live;
	live = th;
	pthread_mutex_unlock(&live_lock);
	return th;
fail:
	if (th->root)
		remove_tree(th->root);
	free(th->root);
	free(th->data_dir);
	free(th->store_dir);
	pthread_mutex_destroy(&th->lock);
	pthread_cond_destroy(&th->loop_cond);
	pthread_cond_destroy(&th->work_cond);
	free(th);
	return NULL;
}

int motcua_testhost_set_abis(struct motcua_testhost *th, const uint32_t *abis, size_t n)
{
	if (!abis || n == 0 || n > MAX_ABIS)
		return -EINVAL;
	if (th->loaded)
		return -EBUSY;
	memcpy(th->abis, abis, n * sizeof *abis);
	th->n_abis = n;
	return 0;
}

int motcua_testhost_set_table_size(struct motcua_testhost *th, size_t size)
{
	if (size < 2 * sizeof(uint32_t) || size > sizeof(struct motcua_host))
		return -EINVAL;
	if (th->started)
		return -EBUSY;
	th->table_size = size;
	return 0;
}

void motcua_testhost_set_echo(struct motcua_testhost *th, int max_level)
{
	pthread_mutex_lock(&th->lock);
	th->echo_max = max_level;
	pthread_mutex_unlock(&th->lock);
}

const char *motcua_testhost_root(const struct motcua_testhost *th)
{
	return th->root;
}

const char *motcua_testhost_error(const struct motcua_testhost *th)
{
	return th->error;
}

size_t motcua_testhost_violations(const struct motcua_testhost *th)
{
	pthread_mutex_lock(&live_lock);
	size_t n = foreign_calls;
	pthread_mutex_unlock(&live_lock);
	pthread_mutex_lock((pthread_mutex_t *)&th->lock);
	n += th->violations;
	pthread_mutex_unlock((pthread_mutex_t *)&th->lock);
	return n;
}

size_t motcua_testhost_registrations(const struct motcua_testhost *th)
{
	return th->registrations;
}

static int refuse(struct motcua_testhost *th, int r, const char *fmt, ...) MOTCUA_PRINTF(3, 4);
static int refuse(struct motcua_testhost *th, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(th->error, sizeof th->error, fmt, ap);
	va_end(ap);
	say(th, MOTCUA_LOG_ERROR, "plugin refused: %s", th->error);
	if (th->dl)
		dlclose(th->dl);
	th->dl = NULL;
	free(th->name);
	free(th->path);
	th->name = th->path = NULL;
	return r;
}

int motcua_testhost_load(struct motcua_testhost *th, const char *path)
{
	th->error[0] = 0;
	if (th->loaded)
		return -EBUSY;
	if (!path)
		return -EINVAL;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t bl = strlen(base);
	th->path = strdup(path);
	th->name = bl > 3 && !strcmp(base + bl - 3, ".so") ? strndup(base, bl - 3) : strdup(base);
	if (!th->path || !th->name)
		return refuse(th, -ENOMEM, "out of memory");
	if (access(path, F_OK) < 0)
		return refuse(th, -ENOENT, "cannot load %s: %s", path, strerror(errno));
	dlerror();
	th->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!th->dl)
		return refuse(th, -ELIBBAD, "cannot load %s: %s", path, dlerror());
	motcua_plugin_entry_fn entry;
	*(void **)&entry = dlsym(th->dl, MOTCUA_PLUGIN_ENTRY_SYMBOL);
	if (!entry)
		return refuse(th, -ENOEXEC, "%s has no entry symbol %s()", path,
			      MOTCUA_PLUGIN_ENTRY_SYMBOL);
	const struct motcua_plugin_info *info = entry(th->abis, th->n_abis);
	if (!info)
		return refuse(th, -ENOEXEC, "%s() returned no plugin info",
			      MOTCUA_PLUGIN_ENTRY_SYMBOL);
	if (!motcua_abi_offered(th->abis, th->n_abis, info->abi)) {
		char offered[128] = "";
		for (size_t i = 0; i < th->n_abis; i++) {
			size_t l = strlen(offered);
			snprintf(offered + l, sizeof offered - l, "%s%u", i ? ", " : "",
				 th->abis[i]);
		}
		return refuse(
		    th, -EPROTONOSUPPORT,
		    "plugin speaks ABI version %u, this gateway supports ABI version%s %s",
		    info->abi, th->n_abis > 1 ? "s" : "", offered);
	}
	/* an older plugin's info is shorter: what it lacks is absent (fini) */
	if (!MOTCUA_HAS_MEMBER(struct motcua_plugin_info, info, init) || !info->name ||
	    !info->version || !info->init)
		return refuse(
		    th, -EINVAL,
		    "plugin info is incomplete (struct_size %u, name, version and init needed)",
		    info->struct_size);
	copy_ops(&th->info, sizeof th->info, info, info->struct_size);
	if (!valid_plugin_name(th->name))
		return refuse(th, -EINVAL, "%s: not a plugin name (a-z, 0-9, - and _)", th->name);
	if (strcmp(th->info.name, th->name) != 0)
		return refuse(th, -EINVAL, "file %s calls itself '%s', not '%s'", path,
			      th->info.name, th->name);
	th->loaded = true;
	say(th, MOTCUA_LOG_INFO, "loaded %s version %s (ABI %u) from %s", th->name,
	    th->info.version, th->info.abi, path);
	return 0;
}

const struct motcua_plugin_info *motcua_testhost_info(const struct motcua_testhost *th)
{
	return th->loaded ? &th->info : NULL;
}

/* Every key of the plugin's section must be `enabled` or one it declares. */
static int check_keys(struct motcua_testhost *th)
{
	for (struct kv *e = th->config; e; e = e->next) {
		if (!own_section(th, e->section) || !e->value || !strcmp(e->key, "enabled"))
			continue;
		bool known = false;
		for (const struct motcua_config_key *k = th->info.config_keys; k && k->name; k++)
			known |= !strcmp(k->name, e->key);
		if (known)
			continue;
		char accepted[512] = "";
		for (const struct motcua_config_key *k = th->info.config_keys; k && k->name; k++) {
			size_t l = strlen(accepted);
			snprintf(accepted + l, sizeof accepted - l, " %s", k->name);
		}
		snprintf(th->error, sizeof th->error,
			 "[%s] %s: unknown key (plugin %s accepts: enabled%s)", th->name, e->key,
			 th->name, accepted);
		say(th, MOTCUA_LOG_ERROR, "configuration: %s", th->error);
		return -EINVAL;
	}
	return 0;
}

/* Drops everything the plugin registered: after fini(), or a failed init(). */
static void unregister_all(struct motcua_testhost *th)
{
	while (th->routes) {
		struct route *rt = th->routes;
		th->routes = rt->next;
		route_free(rt);
	}
	while (th->timers) {
		struct motcua_timer *t = th->timers;
		th->timers = t->next;
		timer_free(t);
	}
	for (int s = 0; s < MOTCUA_STEP_COUNT_; s++) {
		struct step_slot *sl = &th->steps[s];
		if (sl->fn && sl->free_fn)
			sl->free_fn(sl->data);
		if (sl->page_fn && sl->page_free_fn)
			sl->page_free_fn(sl->page_data);
		memset(sl, 0, sizeof *sl);
	}
	if (th->has_capture && th->capture_free)
		th->capture_free(th->capture_data);
	th->has_capture = false;
	if (th->has_archive && th->archive_free)
		th->archive_free(th->archive_data);
	th->has_archive = false;
	if (th->has_adapter && th->adapter_free)
		th->adapter_free(th->adapter_data);
	th->has_adapter = false;
	while (th->subs) {
		struct sub *s = th->subs;
		th->subs = s->next;
		if (s->free_fn)
			s->free_fn(s->data);
		free(s->prefix);
		free(s);
	}
}

/* Stops what runs besides the loop: captures, then the workers. */
static void stop_running(struct motcua_testhost *th)
{
	for (struct motcua_testhost_capture *c = th->captures; c; c = c->next)
		if (c->running) {
			c->io.cancel = 1;
			capture_join(c);
		}
	workers_stop(th);
}

int motcua_testhost_start(struct motcua_testhost *th)
{
	th->error[0] = 0;
	if (!th->loaded) {
		snprintf(th->error, sizeof th->error, "no plugin is loaded");
		return -ENOENT;
	}
	if (th->started) {
		snprintf(th->error, sizeof th->error, "%s is started already", th->name);
		return -EALREADY;
	}
	int r = check_keys(th);
	if (r < 0)
		return r;
	th->table = malloc(th->table_size);
	if (!th->table)
		return -ENOMEM;
	/* exactly that long: an older host's table */
	memcpy(th->table, &full_table, th->table_size);
	th->table->struct_size = (uint32_t)th->table_size;
	th->table->abi = th->info.abi;
	th->registrations = 0;
	th->state = NULL;
	pthread_mutex_lock(&th->lock);
	th->workers_stop = false;
	th->started = true;
	pthread_mutex_unlock(&th->lock);
	r = th->info.init(&th->ctx, th->table, &th->state);
	if (r < 0) {
		snprintf(th->error, sizeof th->error, "init failed: %s", strerror(-r));
		say(th, MOTCUA_LOG_ERROR, "plugin refused: %s", th->error);
		stop_running(th);
		unregister_all(th);
		pthread_mutex_lock(&th->lock);
		th->started = false;
		pthread_mutex_unlock(&th->lock);
		free(th->table);
		th->table = NULL;
		free_retired(th);
		return r;
	}
	return 0;
}

void motcua_testhost_stop(struct motcua_testhost *th)
{
	if (!th || !th->started)
		return;
	stop_running(th);
	if (th->info.fini)
		th->info.fini(th->state);
	unregister_all(th);
	th->state = NULL;
	pthread_mutex_lock(&th->lock);
	th->started = false;
	pthread_mutex_unlock(&th->lock);
	free(th->table);
	th->table = NULL;
	free_retired(th);
}

void motcua_testhost_free(struct motcua_testhost *th)
{
	if (!th)
		return;
	motcua_testhost_stop(th);
	while (th->captures)
		motcua_testhost_capture_free(th->captures);
	pthread_mutex_lock(&live_lock);
	for (struct motcua_testhost **pp = &live; *pp; pp = &(*pp)->next_live)
		if (*pp == th) {
			*pp = th->next_live;
			break;
		}
	pthread_mutex_unlock(&live_lock);
	if (th->dl && !getenv("MOTCUA_DEBUG_NO_DLCLOSE"))
		dlclose(th->dl);
	if (getenv("MOTCUA_TESTHOST_KEEP"))
		fprintf(stderr, "  testhost: files kept in %s\n", th->root);
	else
		remove_tree(th->root);
	while (th->config) {
		struct kv *e = th->config;
		th->config = e->next;
		free(e->section);
		free(e->key);
		free(e->value);
		free(e);
	}
	free_retired(th);
	for (size_t i = 0; i < th->n_reads; i++) {
		free(th->reads[i].section);
		free(th->reads[i].key);
	}
	free(th->reads);
	motcua_testhost_log_clear(th);
	free(th->log);
	motcua_testhost_events_clear(th);
	free(th->evs);
	free(th->elog);
	for (size_t i = 0; i < th->n_dossiers; i++)
		free(th->dossiers[i]);
	free(th->dossiers);
	for (size_t i = 0; i < th->n_statuses; i++) {
		free(th->statuses[i]->code);
		free(th->statuses[i]->details);
		free(th->statuses[i]);
	}
	free(th->statuses);
	for (size_t i = 0; i < th->n_results; i++) {
		free(th->results[i]->code);
		free(th->results[i]->path);
		free(th->results[i]->media_type);
		free(th->results[i]->name);
		free(th->results[i]);
	}
	free(th->results);
	free(th->name);
	free(th->path);
	free(th->root);
	free(th->data_dir);
	free(th->store_dir);
	pthread_mutex_destroy(&th->lock);
	pthread_cond_destroy(&th->loop_cond);
	pthread_cond_destroy(&th->work_cond);
	free(th);
}

/* ---- the machine
 * ----------------------------------------------------------------------------------------- */

int motcua_testhost_need_program(const char *name, const char *hint)
{
	bool found = false;
	if (name && strchr(name, '/')) {
		found = access(name, X_OK) == 0;
	} else if (name && name[0]) {
		const char *path = getenv("PATH");
		char *dirs = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
		for (char *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d && !found;
		     d = strtok_r(NULL, ":", &save)) {
			char full[4096];
			snprintf(full, sizeof full, "%s/%s", d, name);
			found = access(full, X_OK) == 0;
		}
		free(dirs);
	}
	if (found)
		return 0;
	fprintf(stderr, "FAIL: %s is not installed%s%s%s\n", name && name[0] ? name : "(a program)",
		hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
	return -ENOENT;
}
