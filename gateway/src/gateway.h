/* SPDX-License-Identifier: MIT */
/* Internal interfaces of motcua-gateway (not part of the plugin SDK). */
#ifndef MOTCUA_GATEWAY_H
#define MOTCUA_GATEWAY_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <sqlite3.h>

#include "motcua/plugin.h"

#define MOTCUA_VERSION_STRING "0.1.0"

/* ---- log.c ---- */
void gw_log(enum motcua_log_level level, const char *who, const char *fmt, ...)
	MOTCUA_PRINTF(3, 4);
void gw_logv(enum motcua_log_level level, const char *who, const char *fmt, va_list ap);
#define log_error(...) gw_log(MOTCUA_LOG_ERROR, NULL, __VA_ARGS__)
#define log_warning(...) gw_log(MOTCUA_LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...) gw_log(MOTCUA_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) gw_log(MOTCUA_LOG_DEBUG, NULL, __VA_ARGS__)
void gw_log_set_level(enum motcua_log_level max);

/* ---- config.c ---- */
struct config_entry {
	char *section;
	char *key;
	char *value;
	char *file; /* where it was set ("<default>", "<command line>" or a path) */
	int line;
	bool used;  /* claimed by a schema */
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
	char *procedures_file; /* [office] procedures: CODE;WORKING_DAYS;UNIT */
	unsigned max_sse_clients;
	unsigned step_retry_s;
	/* [outbox] */
	unsigned outbox_max_attempts;   /* tries before the dead letters */
	unsigned outbox_backoff_base_s; /* the first retry's delay */
	unsigned outbox_backoff_max_s;  /* the longest delay */
	unsigned outbox_workers;        /* deliveries at once */
};
/* Validates [gateway], [http], [office], [outbox]; rejects unknown keys in those
 * sections. Returns 0 or -EINVAL with "file:line: reason" in err. */
int settings_load(struct settings *s, struct config *c, char *err, size_t errlen);
void settings_clear(struct settings *s);
bool config_parse_bool(const char *v, bool *out);
/* Rejects any entry not marked used. */
int config_check_all_used(struct config *c, char *err, size_t errlen);

/* ---- util.c ---- */
/* Vietnam time (UTC+7, no DST). */
#define VN_OFFSET_S (7 * 3600)
/* ISO 8601 with +07:00 for a UTC epoch time. */
void time_iso_vn(int64_t t, char out[32]);
/* YYMMDD of the Vietnam calendar day. */
void time_yymmdd_vn(int64_t t, char out[8]);
/* Parses "YYYY-MM-DD" (Vietnam day start) or ISO 8601 with offset. */
int time_parse(const char *s, bool end_of_day, int64_t *out);
/* A date alone, YYYY-MM-DD: the start of that day in Vietnam time. */
int date_parse_vn(const char *s, int64_t *start);
int64_t time_now(void);
void random_hex(char *out, size_t nbytes);
void random_bytes(void *out, size_t n); /* writes 2*nbytes hex + NUL */
void sha256_hex(const void *data, size_t len, char out[65]);
bool valid_sha256_hex(const char *s);
/* "type/subtype" of RFC 6838's restricted characters, under 64 bytes. */
bool valid_media_type(const char *s);
int mkdir_p(const char *path, unsigned mode);
int fsync_dir(const char *dir);
/* Removes what a folder holds (files and, below them, folders), and the
 * folder itself if remove_self. Best effort: for temporary files. */
void remove_contents(const char *dir, bool remove_self);
/* Writes data to path atomically: temp file beside it, fsync, rename, fsync dir. */
int write_file_atomic(const char *path, const void *data, size_t len);

/* ---- store.c: content-addressed blobs under data_dir/blobs ---- */
struct store;
struct store *store_open(const char *data_dir);
void store_free(struct store *s);
/* Path for a new temp file in data_dir/tmp; caller frees. */
char *store_tmp_path(struct store *s, const char *hint);
/* Moves a finished temp file into the store: fsync, SHA-256, rename to
 * blobs/ab/abcdef..., fsync the folder. Thread-safe, blocking. */
int store_commit_file(struct store *s, const char *tmp_path, char sha_out[65], uint64_t *size_out);
/* Writes a buffer as a blob (blocking). */
int store_put(struct store *s, const void *data, size_t len, char sha_out[65]);
char *store_blob_path(struct store *s, const char *sha);
bool store_has(struct store *s, const char *sha);
/* Copies a file into the store (the original stays): sha and size out. */
int store_copy_file(struct store *s, const char *path, char sha[65], uint64_t *size);
/* Removes leftover temp files (after a crash). */
void store_clean_tmp(struct store *s);

/* ---- workers.c: bounded pool, completions on the loop ---- */
struct workers;
typedef void (*work_fn)(void *data);
typedef void (*done_fn)(void *data, int cancelled);
struct workers *workers_new(struct event_base *base, unsigned n);
/* Queues work; done runs on the loop. -EAGAIN when the queue is full,
 * -ESHUTDOWN when stopping. */
int workers_submit(struct workers *w, work_fn work, done_fn done, void *data);
/* Runs fn(data, 0) on the loop soon. Thread-safe: for worker threads that
 * have something to hand to the loop while their work goes on. */
int workers_post(struct workers *w, done_fn fn, void *data);
unsigned workers_busy(struct workers *w);
unsigned workers_size(struct workers *w);
/* Waits for running work to finish; queued work is completed as cancelled. */
void workers_free(struct workers *w);

/* ---- db.c ---- */
sqlite3 *db_open(const char *path, char *err, size_t errlen);
void db_close(sqlite3 *db);
int db_begin(sqlite3 *db);
int db_commit(sqlite3 *db);
void db_rollback(sqlite3 *db);
int db_exec(sqlite3 *db, const char *sql);
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql);

/* ---- auth.c ---- */
struct token_info {
	int64_t id;
	char name[128];
	unsigned role; /* enum motcua_role bit */
};
unsigned role_from_name(const char *name);
const char *role_name(unsigned role);
/* Creates a token, prints nothing; token_out gets the secret (only its hash
 * is stored). */
int token_create(sqlite3 *db, unsigned role, const char *name, char token_out[80], int64_t *id_out);
int token_revoke(sqlite3 *db, int64_t id);
/* 0 if valid, -EACCES if unknown or revoked. */
int token_check(sqlite3 *db, const char *token, struct token_info *out);
json_t *token_list(sqlite3 *db);

/* ---- the gateway itself ---- */
struct events;
struct pipeline;
struct plugin_host;
struct api;

struct gateway {
	struct event_base *base;
	struct config *config;
	struct settings settings;
	sqlite3 *db;
	struct store *store;
	struct workers *workers;    /* long blocking work: pipeline steps, plugins */
	struct workers *io_workers; /* short file work (storing uploads), so that a
				     * clerk's upload never waits behind OCR */
	struct events *events;
	struct pipeline *pipeline;
	struct plugin_host *plugins;
	struct outbox *outbox;
	struct calendar *calendar; /* working days and procedures' processing times */
	struct api *api;
	bool stopping;
};

/* ---- events.c: durable event log, subscribers, SSE ---- */
typedef void (*event_fn)(void *data, const char *type, const char *json, size_t len);
struct events *events_new(struct gateway *gw);
void events_free(struct events *ev);
/* Stores the event (in the caller's transaction, if any) and delivers it to
 * subscribers after the current loop iteration. Takes a reference-free copy. */
int events_publish(struct events *ev, const char *type, json_t *payload);
int events_publish_text(struct events *ev, const char *type, const char *json);
/* owner identifies who subscribed, for unsubscribe_all (a plugin). */
int events_subscribe(struct events *ev, const void *owner, const char *prefix, event_fn fn,
		     void *data, motcua_free_fn free_fn);
void events_unsubscribe_all(struct events *ev, const void *owner);
/* Streams a transient event to SSE clients only (not stored). */
int events_broadcast(struct events *ev, const char *type, json_t *payload);
/* Replays the stored events after since_id to fn, then subscribes fn. */
int events_subscribe_from(struct events *ev, const void *owner, const char *prefix, int64_t since_id,
			  motcua_event_id_fn fn, void *data, motcua_free_fn free_fn);
/* Starts an SSE stream on req. */
void events_sse_start(struct events *ev, struct evhttp_request *req);
/* Ends every SSE stream (at stop, before the HTTP server goes). */
void events_close_streams(struct events *ev);

/* ---- pipeline.c: dossiers, documents and their jobs ---- */
struct pipeline *pipeline_new(struct gateway *gw);
void pipeline_free(struct pipeline *p);
/* Resumes unfinished jobs (after start or a crash) and starts the runner. */
void pipeline_start(struct pipeline *p);
/* Stops taking new jobs; running ones finish (or are left resumable). */
void pipeline_stop(struct pipeline *p);
const char *step_name(enum motcua_step step);
/* Called when a job finished or a step plugin was registered. */
void pipeline_kick(struct pipeline *p);

struct dossier_new {
	const char *unit;       /* the department that resolves it (or NULL: from [office] procedures) */
	int processing_days;    /* legal processing time in working days; -1: from [office] procedures */
	int64_t ticket_id;      /* the queue ticket it was received under, or 0 */
	const char *procedure_code;
	const char *procedure_name;
	const char *applicant_name;
	const char *applicant_id;
	const char *applicant_phone;
	int channel;
	const char *created_by;
};
/* Creates a dossier with the next code of the day. Returns its JSON (new
 * reference) or NULL with -errno in *err. */
json_t *dossier_create(struct pipeline *p, const struct dossier_new *d, int *err);
json_t *dossier_get(struct pipeline *p, const char *code);
/* The dossier as the outbox hands it to adapters: dossier_get() with each
 * document's current file (sha256, media type, type, signature, sidecar). */
json_t *dossier_snapshot(struct pipeline *p, const char *code);
/* A status an agency or the portal reported (1-10): records it and
 * publishes dossier.status. -ENOENT, -EINVAL. */
int dossier_set_status(struct pipeline *p, const char *code, int status, const char *by, json_t *details);
json_t *dossier_list(struct pipeline *p, int status, int64_t from, int64_t to, int limit,
		     int offset);
bool dossier_exists(struct pipeline *p, const char *code);
/* What a clerk may say about a new document besides its file (all optional). */
struct document_extra {
	const char *doc_type;    /* the kind of paper, e.g. "to-khai" */
	const char *reused_from; /* an archived item attached instead of a new paper */
	const char *meta;        /* JSON object: fields known already (a reused item's) */
};
/* Inserts a document whose original is already in the store, with its jobs;
 * returns the new document id in id_out. x may be NULL. */
int document_create(struct pipeline *p, const char *dossier_code, const char *name,
		    const char *media_type, const char *sha, uint64_t size, const char *created_by,
		    const struct document_extra *x, char id_out[33]);
json_t *document_get(struct pipeline *p, const char *dossier_code, const char *id);
/* The same without its steps and pages (what a step and an adapter see). */
json_t *document_brief(struct pipeline *p, const char *dossier_code, const char *id);
/* Page page_no of a document: its image's sha and media type (caller frees). */
int document_page(struct pipeline *p, const char *dossier_code, const char *id, int page_no,
		  char sha[65], char **media_type);
/* A scanned document: created with its capture job running, then its pages
 * arrive one by one, then the capture ends (result 0 or -errno). */
int document_create_scan(struct pipeline *p, const char *dossier_code, const char *name,
			 const char *plugin, const char *created_by, const struct document_extra *x,
			 char id_out[33]);
int document_add_page(struct pipeline *p, const char *dossier_code, const char *doc, int page_no,
		      const char *sha, const char *media_type, uint64_t size);
int document_capture_done(struct pipeline *p, const char *dossier_code, const char *doc, int result,
			  const char *message, int pages);
/* Current blob of a document: sha and media type (caller frees). */
int document_content(struct pipeline *p, const char *dossier_code, const char *id, char sha[65],
		     char **media_type);

/* ---- api.c: request helpers shared by the API's parts ---- */
enum {
	R_ALL = MOTCUA_ROLE_CLERK | MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN | MOTCUA_ROLE_AGENCY,
	R_STAFF = MOTCUA_ROLE_CLERK | MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN,
	R_WRITE = MOTCUA_ROLE_CLERK | MOTCUA_ROLE_ADMIN,
	R_WATCH = MOTCUA_ROLE_SUPERVISOR | MOTCUA_ROLE_ADMIN,
};
/* Each answers the request with an error and returns false/NULL when it fails. */
bool api_allowed(struct evhttp_request *req, const struct token_info *tok, unsigned roles);
json_t *api_json_body(struct evhttp_request *req);
bool api_only_keys(struct evhttp_request *req, json_t *obj, const char *where, const char *const *keys);
bool api_str_field(struct evhttp_request *req, json_t *obj, const char *key, const char *label,
		   bool required, size_t max, const char **out);
bool valid_id_number(const char *s);
bool valid_code_chars(const char *s, size_t max);
bool valid_document_name(const char *s);
/* The media types a document may have, and whether a file's first and last
 * bytes (head and tail, concatenated in p) look like that type. */
bool upload_type_ok(const char *type);
bool upload_content_matches(const char *type, const unsigned char *p, size_t n, const char **why);

/* ---- counter.c: calendar, queue tickets, ratings, staff status changes ---- */
struct calendar;
struct calendar *calendar_load(const struct config *cfg, const char *holidays, const char *procedures,
			       char *err, size_t errlen);
void calendar_free(struct calendar *c);
/* The end (Vietnam time) of the working day `working_days` after received. */
int64_t calendar_due(const struct calendar *c, int64_t received, int working_days);
/* The procedure's processing time and unit from [office] procedures. */
bool calendar_procedure(const struct calendar *c, const char *code, int *days, const char **unit);
bool ticket_exists(sqlite3 *db, int64_t id);
/* /api/v1/tickets..., POST /api/v1/ratings, POST /api/v1/dossiers/{code}/status */
void counter_tickets_route(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok,
			   char segs[][256], int n);
void counter_rating(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok);
void counter_dossier_status(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok,
			    const char *code);

/* ---- www.c: pages the gateway serves (GET /dashboard) ---- */
void www_dashboard(struct evhttp_request *req);

/* ---- outbox.c: store-and-forward delivery to adapters ---- */
struct outbox *outbox_new(struct gateway *gw);
/* Resets rows left half-sent and starts delivering. */
void outbox_start(struct outbox *o);
/* Starts no more deliveries (on the loop, does not block). */
void outbox_stop(struct outbox *o);
/* Lets deliveries in flight finish and records them (the database and the
 * event log must still be open), then frees. */
void outbox_free(struct outbox *o);
void outbox_kick(struct outbox *o);
/* From events_publish, in its transaction: rows for the destinations that
 * take this event (dossier.created, document.done, dossier.status). */
int outbox_enqueue(struct gateway *gw, int64_t event_id, const char *type, const char *json);
/* GET /api/v1/outbox[/ID], POST /api/v1/outbox/ID/retry|cancel. */
void outbox_route(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok,
		  char segs[][256], int n);
void outbox_metrics(struct outbox *o, struct evbuffer *buf);

/* ---- outbox-report.c: what a destination has not acknowledged ---- */
/* For each dossier received in [from, to] (Unix seconds): its latest outbox
 * row for destination (borrowed). A dossier is synced when that row is
 * delivered. Returns a new {"destination", "dossiers", "synced",
 * "not_synced": [{"code", "status", "outbox_state" ("none": never queued),
 * "event_type", "attempts", "last_error"}]}, or NULL on a database error
 * (logged). db is borrowed. */
json_t *outbox_sync_report(sqlite3 *db, int64_t from, int64_t to, const char *destination);

/* ---- archive.c: the e-archive's routes and reuse, served by the archive plugin ---- */
/* /api/v1/archive/...: segs[3..n-1] after "archive". */
void archive_route(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok,
		   char segs[][256], int n);
/* POST /api/v1/dossiers/{code}/documents with {"reuse": id, "name"?, "type"?}. */
void archive_reuse(struct gateway *gw, struct evhttp_request *req, const struct token_info *tok,
		   const char *code, json_t *body);

/* ---- plugins.c ---- */
struct plugin_host *plugins_new(struct gateway *gw);
/* Finds and opens the plugin of every plugin section and checks the section's
 * keys against it, touching no data. A plugin that can't be used (wrong ABI,
 * no entry symbol) is refused with a log line; config errors (unknown keys or
 * sections, bad `enabled`) are fatal: returns -EINVAL with the reason. */
int plugins_open(struct plugin_host *h, char *err, size_t errlen);
/* Calls init() of every enabled plugin; a failing one is unloaded and
 * refused, the rest go on. */
void plugins_init(struct plugin_host *h);
void plugins_free(struct plugin_host *h);
json_t *plugins_list(struct plugin_host *h);
/* Step providers; NULL when no plugin does that step. */
struct step_provider {
	const char *plugin_name;
	motcua_step_fn fn;
	void *data;
	motcua_page_fn page_fn; /* NULL: the step has no per-page part */
	void *page_data;
};
struct capture_provider {
	const char *plugin_name;
	struct motcua_capture_ops ops;
	void *data;
};
struct archive_provider {
	const char *plugin_name;
	struct motcua_archive_ops ops;
	void *data;
};
/* The name of an enabled plugin that provides this step but did not start
 * (refused, or its init failed): the step waits for it. NULL when none. */
const char *plugins_step_held(struct plugin_host *h, enum motcua_step step);
struct adapter_provider {
	const char *plugin_name; /* the destination's name */
	struct motcua_adapter_ops ops;
	void *data;
};
/* The registered adapters (n in *n; the array lives until plugins change). */
const struct adapter_provider *plugins_adapters(struct plugin_host *h, size_t *n);
const struct adapter_provider *plugins_adapter(struct plugin_host *h, const char *name);
/* The archive plugin, or NULL. */
const struct archive_provider *plugins_archive(struct plugin_host *h);
/* The capture plugin, or NULL. */
const struct capture_provider *plugins_capture(struct plugin_host *h);
const struct step_provider *plugins_step(struct plugin_host *h, enum motcua_step step);
/* Dispatches /api/v1/plugins/<name>/...; returns false if no route matched. */
struct route_match;
bool plugins_route(struct plugin_host *h, struct evhttp_request *req, const char *plugin,
		   const char *rest, const struct token_info *tok);
/* Well-known API paths a plugin serves (/api/v1/indicators is the route
 * "/indicators" of the plugin that registered it): false if none did. */
bool plugins_route_any(struct plugin_host *h, struct evhttp_request *req, const char *rest,
		       const struct token_info *tok);
/* Is a config section one a plugin could claim? (not a core section) */
bool config_section_is_core(const char *section);

/* ---- capture.c: scan batches from the capture plugin ---- */
/* Starts a capture into a new document of the dossier (options: a JSON
 * object as text). -ENODEV no capture plugin, -EBUSY one is running,
 * -EINVAL options refused; msg says why. */
int capture_start(struct gateway *gw, const char *dossier_code, const char *options, const char *name,
		  const char *created_by, const struct document_extra *x, char id_out[33], char *msg,
		  size_t msglen);
/* Asks a running capture to stop after the page in hand (at shutdown). */
void capture_cancel(struct gateway *gw);
/* Replies to req with the capture plugin's devices (asynchronously). */
void capture_list_devices(struct gateway *gw, struct evhttp_request *req);

/* ---- notify.c: systemd readiness and watchdog (no libsystemd needed) ---- */
void notify_send(const char *state);
/* READY=1, and watchdog pings from the loop if WATCHDOG_USEC asks for them. */
int notify_start(struct event_base *base);
void notify_stop(void);

/* ---- api.c: HTTP API v1 ---- */
struct api *api_new(struct gateway *gw, char *err, size_t errlen);
void api_free(struct api *a);
/* Helpers shared with plugins.c and events.c */
void http_reply_json(struct evhttp_request *req, int code, json_t *body /* stolen */);
void http_reply_error(struct evhttp_request *req, int code, const char *error, const char *fmt,
		      ...) MOTCUA_PRINTF(4, 5);

#endif
