/* SPDX-License-Identifier: MIT */
/*
 * motcua test host: a fake gateway for unit-testing one plugin without a
 * gateway, in the shape of PipeWire's pwtest. Part of the SDK, so that an
 * agency tests its own adapter out of the tree:
 *
 *   cc -o test-my-adapter test-my-adapter.c \
 *      $(pkg-config --cflags --libs motcua-plugin motcua-testhost)
 *
 *   struct motcua_testhost *th = motcua_testhost_new();
 *   if (motcua_testhost_load(th, "./adapter-foo.so") < 0)     refused: see _error()
 *           ...
 *   motcua_testhost_config(th, "url", "http://127.0.0.1:8080/", NULL);
 *   if (motcua_testhost_start(th) < 0)                       init failed
 *           ...
 *   void *data;
 *   const struct motcua_adapter_ops *ops = motcua_testhost_adapter_ops(th, &data);
 *   ops->deliver(data, &delivery);                            call what it registered
 *   motcua_testhost_run(th, 100);                             timers, work done, events
 *   motcua_testhost_stop(th);                                 fini, then its data freed
 *   motcua_testhost_free(th);
 *
 * What it does as the gateway does:
 *  - loads the file with dlopen(RTLD_NOW | RTLD_LOCAL), calls the entry
 *    symbol with the ABI versions it offers, and refuses (with the gateway's
 *    reasons) a plugin of another ABI, an incomplete info, or a name that is
 *    not the file's; a plugin's keys must be ones its info declares;
 *  - hands init() a host table (of a size the test may choose: an older
 *    host's), checks every call as the gateway does (the same return codes;
 *    on failure the data handed over is freed), and at stop calls fini() and
 *    then frees every data the plugin handed over with its free_fn;
 *  - runs work_submit() on real worker threads; their done callbacks, the
 *    timers and the delivery of events run on the test's thread, the fake
 *    event loop, while the test pumps it (motcua_testhost_run(), _wait_until(),
 *    _drain());
 *  - reads secrets with the gateway's own policy code (gateway/src/secret.c);
 *  - keeps what the plugin logs, publishes, broadcasts and reports
 *    (dossier_status(), result_add()) for the test to look at.
 * What it does not: store anything durably across motcua_testhost_free(), add
 * "type", "at" and "plugin" to the events it keeps (it keeps the plugin's
 * JSON as given), run the pipeline, the outbox or a capture on its own: the
 * test calls the steps, deliver() and capture() itself.
 *
 * Threads: every function here is for the test's thread (the one that made
 * the test host, which is the fake event loop), except the capture hooks'
 * context and where said otherwise. Plugin functions the test calls through
 * motcua_testhost_step() and the like run on the calling thread: call them
 * from threads of your own to run several at once, as the gateway's workers do.
 *
 * Ownership: every pointer parameter is borrowed for the call and copied
 * when kept; every pointer returned is owned by the test host, valid until
 * the call the comment names (at the latest motcua_testhost_free()).
 * Functions that act return 0 or a negative errno value.
 *
 * Environment: TMPDIR (where its temporary folder goes), MOTCUA_TESTHOST_KEEP=1
 * (keep that folder), MOTCUA_DEBUG_NO_DLCLOSE=1 (never dlclose the plugin, as
 * the gateway, so that a leak checker can name the library).
 *
 * Builds alone with -std=c99 -pedantic and as C++.
 */
#ifndef MOTCUA_TESTHOST_H
#define MOTCUA_TESTHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <motcua/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One fake gateway with (at most) one plugin. Opaque. */
struct motcua_testhost;

/* ---- making one ------------------------------------------------------------------------------ */

/* A test host offering MOTCUA_ABI_VERSION with a full host table, and a
 * temporary folder (under $TMPDIR) holding its data_dir. NULL when out of
 * memory or when the folder cannot be made (the reason is on stderr). */
struct motcua_testhost *motcua_testhost_new(void);

/* Stops the plugin (motcua_testhost_stop()), frees the captures the test
 * has not freed, unloads the plugin, removes the temporary folder and frees
 * everything. Accepts NULL. */
void motcua_testhost_free(struct motcua_testhost *th);

/* "A host of ABI N": the ABI versions offered to the plugin's entry symbol,
 * in the host's order of preference (copied; 1 to 16 of them). Before
 * motcua_testhost_load(). Returns 0; -EINVAL; -EBUSY when a plugin is loaded. */
int motcua_testhost_set_abis(struct motcua_testhost *th, const uint32_t *abis, size_t n);

/* The struct_size of the host table the next start hands to init(), for an
 * older host's shorter table: the table is then exactly that long in memory
 * (a read past it is a sanitizer error). MOTCUA_TESTHOST_TABLE_BEFORE(member)
 * is a table that ends just before member, MOTCUA_TESTHOST_TABLE_FULL all of it. Returns 0; -EINVAL
 * when size is below 8 (struct_size and abi) or above sizeof(struct motcua_host); -EBUSY while the
 * plugin is started. */
int motcua_testhost_set_table_size(struct motcua_testhost *th, size_t size);
#define MOTCUA_TESTHOST_TABLE_BEFORE(member) offsetof(struct motcua_host, member)
/* The full table of this header (the default). */
#define MOTCUA_TESTHOST_TABLE_FULL sizeof(struct motcua_host)

/* Log lines at or above this importance (a level number at or below it) are
 * echoed to stderr as they come; all are kept either way. Default
 * MOTCUA_LOG_DEBUG (all); -1 for none. The test host's own messages (a
 * refusal, a call it refused) are echoed from MOTCUA_LOG_WARNING up always. */
void motcua_testhost_set_echo(struct motcua_testhost *th, int max_level);

/* The test host's temporary folder (absolute), for the test's own files
 * too: removed by motcua_testhost_free() unless MOTCUA_TESTHOST_KEEP is set. */
const char *motcua_testhost_root(const struct motcua_testhost *th);

/* ---- the plugin --------------------------------------------------------------------------------
 */

/* Loads the plugin at path as the gateway loads <plugin_dir>/<name>.so: its
 * name is the file's, without ".so". Returns 0; -EBUSY when one is loaded
 * already; -ENOENT when the file is not there; -ELIBBAD when dlopen() fails
 * otherwise; -ENOEXEC when it has no entry symbol or that returns no info;
 * -EPROTONOSUPPORT when it speaks none of the offered ABI versions; -EINVAL
 * when its info is incomplete or names another plugin. The reason, as the
 * gateway logs it, is in motcua_testhost_error(). */
int motcua_testhost_load(struct motcua_testhost *th, const char *path);

/* The plugin's info as the host keeps it (members its older info lacks
 * zeroed), or NULL when none is loaded. Valid while it is loaded. */
const struct motcua_plugin_info *motcua_testhost_info(const struct motcua_testhost *th);

/* Why the last load or start failed ("" when it did not). Valid until the
 * next load or start. */
const char *motcua_testhost_error(const struct motcua_testhost *th);

/* ---- configuration -----------------------------------------------------------------------------
 */

/* Sets section.key to value (copied), or unsets it when value is NULL.
 * section NULL is the plugin's own. The gateway's own settings have the
 * gateway's defaults until set: [office] agency_code "000.00.00.H00",
 * [office] name "Bộ phận Một cửa", [gateway] data_dir the test host's (which
 * host->data_dir() answers too). A value the plugin may hold stays valid
 * until the plugin stops. Returns 0; -EINVAL without key; -ENOMEM. */
int motcua_testhost_config_set(struct motcua_testhost *th, const char *section, const char *key,
			       const char *value);

/* Replaces the plugin's own section with key, value pairs ended by a NULL
 * key; a NULL value leaves its key unset. Returns 0 or -ENOMEM. */
int motcua_testhost_config(struct motcua_testhost *th, const char *key, ...);

/* The config_get() calls the plugin made, in order: section (NULL for its
 * own) and key of the i-th. Returns 0; -ENOENT past the end. */
size_t motcua_testhost_config_read_count(const struct motcua_testhost *th);
int motcua_testhost_config_read(const struct motcua_testhost *th, size_t i, const char **section,
				const char **key);

/* ---- start, stop, the loop ---------------------------------------------------------------------
 */

/* Checks the plugin's section (every key must be `enabled` or one its info
 * declares) and calls init() with the host table. Returns 0; -ENOENT when no
 * plugin is loaded; -EALREADY when started; -EINVAL for an unknown key; or
 * what init() returned, after undoing what it registered (each data freed
 * with its free_fn). The reason is in motcua_testhost_error(). */
int motcua_testhost_start(struct motcua_testhost *th);

/* As the gateway stops: asks running captures to stop and waits for them,
 * hands queued work that has not started back as cancelled, waits for
 * running work, runs the done callbacks, calls fini(), then frees every data
 * the plugin handed over (routes, timers, subscriptions, steps, capture,
 * archive, adapter). The plugin stays loaded and may be started again (a
 * restart). Does nothing when not started. */
void motcua_testhost_stop(struct motcua_testhost *th);

/* Successful registrations (event_subscribe*, timer_add, route_add,
 * step_register, page_step_register, capture/archive/adapter_register) the
 * plugin made since the last start began, including those a failed init
 * made and the host undid. */
size_t motcua_testhost_registrations(const struct motcua_testhost *th);

/* Pumps the fake loop for ms milliseconds: runs the done callbacks of
 * finished work, due timers and the delivery of published events, as they
 * come. Returns how many callbacks ran. */
int motcua_testhost_run(struct motcua_testhost *th, int ms);

/* Pumps the loop until done(arg) is true (checked at least every 10 ms, on
 * this thread) or timeout_ms passed (< 0: no limit). Returns 0 or -ETIMEDOUT. */
int motcua_testhost_wait_until(struct motcua_testhost *th, bool (*done)(void *arg), void *arg,
			       int timeout_ms);

/* Pumps the loop until no work is queued or running, no done callback is
 * waiting and every event went to the subscribers (timers aside). Returns 0
 * or -ETIMEDOUT. */
int motcua_testhost_drain(struct motcua_testhost *th, int timeout_ms);

/* Calls the plugin made that break the contract (a host function called
 * with a ctx that is not its own, or off the loop thread when it is for the
 * loop only), each also logged on stderr. Tests check that it stays 0. */
size_t motcua_testhost_violations(const struct motcua_testhost *th);

/* ---- the log -----------------------------------------------------------------------------------
 */

/* The lines the plugin logged (from any thread), without its name. Strings
 * valid until motcua_testhost_log_clear(). */
size_t motcua_testhost_log_count(const struct motcua_testhost *th);
/* The i-th line and its level (level may be NULL); NULL past the end. */
const char *motcua_testhost_log_line(const struct motcua_testhost *th, size_t i,
				     enum motcua_log_level *level);
/* The first line holding needle, or NULL. */
const char *motcua_testhost_log_find(const struct motcua_testhost *th, const char *needle);
/* The last line at MOTCUA_LOG_ERROR, or "" when there is none. */
const char *motcua_testhost_log_last_error(const struct motcua_testhost *th);
void motcua_testhost_log_clear(struct motcua_testhost *th);

/* ---- events ------------------------------------------------------------------------------------
 */

/* An event the test host keeps: one the plugin published (event_publish())
 * or broadcast (event_broadcast()), or one the test emitted. */
struct motcua_testhost_event {
	int64_t id; /* in the durable log (1, 2, ...); 0 for a broadcast */
	const char *type;
	const char *json; /* as given, NUL-terminated */
	size_t json_len;
	bool from_plugin; /* the plugin published or broadcast it */
	bool broadcast;	  /* event_broadcast(): not stored, no id, not delivered to subscribers */
};

/* "Something in the gateway published this": appends the event (type, a
 * JSON object; copied) to the durable log and delivers it at once, on this
 * thread, to the plugin's matching subscribers (after any published event
 * not yet delivered). Returns its id; -EINVAL as event_publish(); -ENOMEM. */
int64_t motcua_testhost_emit(struct motcua_testhost *th, const char *type, const char *json);

/* Delivers the stored events first_id..last_id again to the subscribers, as
 * an at-least-once host may after a hiccup. Returns how many went. */
int motcua_testhost_replay(struct motcua_testhost *th, int64_t first_id, int64_t last_id);

/* Every event kept, in order (the log and the broadcasts). Pointers valid
 * until motcua_testhost_events_clear(). */
size_t motcua_testhost_event_count(const struct motcua_testhost *th);
const struct motcua_testhost_event *motcua_testhost_event_at(const struct motcua_testhost *th,
							     size_t i);
/* The stored event of that id, or NULL. */
const struct motcua_testhost_event *motcua_testhost_event_by_id(const struct motcua_testhost *th,
								int64_t id);
/* The id of the last stored event (0 when none). */
int64_t motcua_testhost_last_event_id(const struct motcua_testhost *th);
/* How many events the plugin published or broadcast whose type starts with
 * type_prefix (NULL or "" for all), and the last of them (or NULL). */
size_t motcua_testhost_published_count(const struct motcua_testhost *th, const char *type_prefix);
const struct motcua_testhost_event *motcua_testhost_published_last(const struct motcua_testhost *th,
								   const char *type_prefix);
/* Forgets every event kept: the log starts again at id 1 (a new database). */
void motcua_testhost_events_clear(struct motcua_testhost *th);

/* The plugin's subscriptions: the i-th's type prefix and since_id
 * (event_subscribe_from()'s, or -1 for event_subscribe()). Returns 0;
 * -ENOENT past the end. */
size_t motcua_testhost_subscription_count(const struct motcua_testhost *th);
int motcua_testhost_subscription(const struct motcua_testhost *th, size_t i,
				 const char **type_prefix, int64_t *since_id);

/* ---- timers ------------------------------------------------------------------------------------
 */

/* The plugin's timers, in the order added (cancelled ones are gone). */
size_t motcua_testhost_timer_count(const struct motcua_testhost *th);
/* Interval and repeat of the i-th (either may be NULL). Returns 0; -ENOENT. */
int motcua_testhost_timer_info(const struct motcua_testhost *th, size_t i, uint32_t *interval_ms,
			       bool *repeat);
/* Fires the i-th timer now, on this thread, as if its time had come (a
 * repeating one is due again an interval later; a one-shot one stays, fired).
 * Returns 0; -ENOENT. */
int motcua_testhost_timer_fire(struct motcua_testhost *th, size_t i);

/* ---- routes ------------------------------------------------------------------------------------
 */

/* A request to one of the plugin's routes. */
struct motcua_testhost_request {
	const char *method;	/* NULL: "GET" */
	const char *path;	/* the part after /api/v1/plugins/<name>, e.g. "/status" */
	const char *query;	/* without '?', or NULL */
	const char *body;	/* may be NULL */
	size_t body_len;	/* 0 with a body: strlen(body) */
	unsigned role;		/* the caller's: one enum motcua_role bit */
	const char *token_name; /* NULL: "test" */
	/* Request headers: name, value, name, value, ..., NULL. May be NULL. */
	const char *const *headers;
};

/* What the route answered. */
struct motcua_testhost_response {
	int status;
	char content_type[128];
	char *body; /* NUL-terminated; the caller frees it with motcua_testhost_response_clear() */
	size_t body_len;
};

/* Calls the route as the gateway's router does: the first route whose
 * pattern matches the path (segments; a last "*" takes any rest) and the
 * method; 404 when no route has the path, 405 when none has the method,
 * 403 when the role may not, 500 when the route returns a status outside
 * 100-599; an error is the gateway's {"error", "detail"} object. resp is
 * overwritten. Returns the status. */
int motcua_testhost_call(struct motcua_testhost *th, const struct motcua_testhost_request *req,
			 struct motcua_testhost_response *resp);
/* Frees resp's body. Accepts NULL. */
void motcua_testhost_response_clear(struct motcua_testhost_response *resp);

/* The plugin's routes, in the order added: method, path pattern, roles and
 * whether it handed a free_fn (any output may be NULL). Returns 0; -ENOENT. */
size_t motcua_testhost_route_count(const struct motcua_testhost *th);
int motcua_testhost_route_info(const struct motcua_testhost *th, size_t i, const char **method,
			       const char **path, unsigned *roles, bool *has_free_fn);

/* ---- pipeline steps ----------------------------------------------------------------------------
 */

bool motcua_testhost_has_step(const struct motcua_testhost *th, enum motcua_step step);
bool motcua_testhost_has_page_step(const struct motcua_testhost *th, enum motcua_step step);

/* Calls the plugin's step (page) function with io, on this thread (as a
 * worker of the host would: call it from threads of your own to run several
 * at once). A struct_size of 0 is set to sizeof *io; io->message comes back
 * NUL-terminated. Returns what the function returned; -ENOENT when the plugin
 * does not do that step. */
int motcua_testhost_step(struct motcua_testhost *th, enum motcua_step step,
			 struct motcua_step_io *io);
int motcua_testhost_page_step(struct motcua_testhost *th, enum motcua_step step,
			      struct motcua_page_io *io);

/* ---- capture -----------------------------------------------------------------------------------
 */

/* The capture ops the plugin registered (the host's copy: members its older
 * ops lack are NULL, struct_size is the plugin's) and *data for them (data
 * may be NULL), or NULL. Valid until stop. */
const struct motcua_capture_ops *motcua_testhost_capture_ops(const struct motcua_testhost *th,
							     void **data);

/* One batch: the plugin's capture() on a thread of its own. Opaque. */
struct motcua_testhost_capture;

struct motcua_testhost_capture_args {
	const char *dossier_code; /* NULL: "000.00.00.H00-240101-0001" */
	const char *document_id;  /* NULL: "doc-<n>" */
	const char
	    *options; /* a JSON object; NULL: "{}" (check() is not called: call it yourself) */
	/* Called on the capture thread when the plugin hands over a page, before
	 * the host checks it (a PNG, JPEG or TIFF in io->tmp_dir) and takes the
	 * file over into its store: a negative return is page_ready()'s answer.
	 * May be NULL. */
	int (*on_page)(void *arg, struct motcua_capture_io *io, const char *path,
		       const char *media_type);
	/* Called on the capture thread for each progress() (the host also keeps
	 * each that is a JSON object of at most 4 KiB as a broadcast
	 * "capture.progress" event). May be NULL. */
	void (*on_progress)(void *arg, struct motcua_capture_io *io, const char *json);
	void *arg;
};

/* Starts a batch: makes io->tmp_dir (<data_dir>/tmp/capture-<n>) and runs
 * capture() on a new thread. Unlike the gateway, it lets a second batch start
 * while one runs (to see the plugin's -EBUSY). NULL with errno ENOENT when
 * the plugin does not capture, or ENOMEM. Free it with
 * motcua_testhost_capture_free(). */
struct motcua_testhost_capture *
motcua_testhost_capture_start(struct motcua_testhost *th,
			      const struct motcua_testhost_capture_args *args);
/* Pumps the loop until the batch ended or timeout_ms passed (< 0: no
 * limit). Returns what capture() returned; -ETIMEDOUT. */
int motcua_testhost_capture_wait(struct motcua_testhost *th, struct motcua_testhost_capture *cap,
				 int timeout_ms);
/* Start and wait: returns what capture() returned (or -ENOENT, -ENOMEM),
 * the batch in *cap (NULL on those errors) for the caller to free. */
int motcua_testhost_capture(struct motcua_testhost *th,
			    const struct motcua_testhost_capture_args *args,
			    struct motcua_testhost_capture **cap);
/* Has capture() returned? Callable from any thread. */
bool motcua_testhost_capture_ended(struct motcua_testhost_capture *cap);
/* The batch's io (io->message, io->cancel, io->tmp_dir). */
struct motcua_capture_io *motcua_testhost_capture_io(struct motcua_testhost_capture *cap);
/* Sets io->cancel, as the gateway does when it stops. */
void motcua_testhost_capture_cancel(struct motcua_testhost_capture *cap);
/* The pages the host took over, in order: the i-th's path in the store and
 * media type (may be NULL), or NULL. Callable from any thread. */
size_t motcua_testhost_capture_page_count(struct motcua_testhost_capture *cap);
const char *motcua_testhost_capture_page(struct motcua_testhost_capture *cap, size_t i,
					 const char **media_type);
/* Waits for the batch to end (after setting io->cancel when it has not),
 * removes its tmp_dir and frees it. Accepts NULL. */
void motcua_testhost_capture_free(struct motcua_testhost_capture *cap);

/* ---- archive, adapter --------------------------------------------------------------------------
 */

/* The ops the plugin registered (the host's copy: members its older ops lack
 * are NULL, struct_size is the plugin's) and *data for them (data may be
 * NULL), or NULL. Call them directly. Valid until stop. */
const struct motcua_archive_ops *motcua_testhost_archive_ops(const struct motcua_testhost *th,
							     void **data);
const struct motcua_adapter_ops *motcua_testhost_adapter_ops(const struct motcua_testhost *th,
							     void **data);

/* ---- what the plugin reports about dossiers ----------------------------------------------------
 */

/* Makes a dossier exist for dossier_status() and result_add(); no other
 * does. Returns 0; -EINVAL (not a code); -ENOMEM. */
int motcua_testhost_dossier_add(struct motcua_testhost *th, const char *code);

/* A dossier_status() the host accepted. */
struct motcua_testhost_status {
	const char *dossier_code;
	int status;
	const char *details_json; /* or NULL */
};

/* A result_add() the host accepted: path is the host's copy of the file. */
struct motcua_testhost_result {
	const char *dossier_code;
	const char *path;
	const char *media_type;
	const char *name; /* "Kết quả giải quyết" when the plugin gave none */
	uint64_t size;
};

/* In the order they came; pointers valid until motcua_testhost_free().
 * Callable from any thread. */
size_t motcua_testhost_status_count(const struct motcua_testhost *th);
const struct motcua_testhost_status *motcua_testhost_status_at(const struct motcua_testhost *th,
							       size_t i);
size_t motcua_testhost_result_count(const struct motcua_testhost *th);
const struct motcua_testhost_result *motcua_testhost_result_at(const struct motcua_testhost *th,
							       size_t i);

/* ---- the machine -------------------------------------------------------------------------------
 */

/* Is the program there (an absolute path that is executable, or a name
 * found in $PATH)? When not, prints "FAIL: <name> is not installed (<hint>)"
 * on stderr and returns -ENOENT; 0 when it is. hint may be NULL. For a test
 * that needs a tool: a missing tool is a failure to report, not a skip. */
int motcua_testhost_need_program(const char *name, const char *hint);

#ifdef __cplusplus
}
#endif

#endif /* MOTCUA_TESTHOST_H */
