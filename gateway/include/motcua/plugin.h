/* SPDX-License-Identifier: MIT */
/*
 * motcua plugin SDK: the contract between the motcua gateway and its plugins.
 *
 * A plugin is a shared object in the gateway's plugin directory, named after its
 * configuration section (`adapter-foo.so` for `[adapter-foo]`). It exports exactly
 * one symbol, motcua_plugin_entry(), and links against nothing of the gateway: every
 * service it needs comes through the host function table (struct motcua_host) that
 * the gateway hands to init().
 *
 * Versioning rules (learned from SQLite's sqlite3_api_routines and mosquitto):
 *  - The host offers the ABI versions it supports; the plugin picks one of them and
 *    names it in motcua_plugin_info.abi (MOTCUA_PLUGIN_DECLARE() below does this). A
 *    plugin that speaks none of them is refused with a log line naming both sides.
 *  - Every struct that crosses the boundary starts with its size and only ever grows
 *    at the end. Check `struct_size` before touching a member added later
 *    (MOTCUA_HAS_MEMBER()); the host does the same with what a plugin hands it, so a
 *    plugin built against an older header keeps working.
 *
 * Conventions:
 *  - Functions return 0 or a negative errno value.
 *  - Pointers passed to a plugin are borrowed for the duration of the call unless
 *    said otherwise; strings the plugin passes to the host are copied by the host.
 *  - Callbacks (init, event, timer, route, work-done) run on the gateway's event
 *    loop and must not block. Blocking work (files, devices, network) goes to
 *    motcua_host.work_submit(), or is a pipeline step (motcua_host.step_register()),
 *    which the host always runs on its worker pool.
 *  - Host functions are called from the loop thread only (from those callbacks),
 *    except log() and result_add(), which any thread may call. A work or step function that has
 *    something to announce returns it to its done callback (or in io->message).
 *
 * Builds alone with -std=c99 -pedantic and as C++.
 */
#ifndef MOTCUA_PLUGIN_H
#define MOTCUA_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. */
#define MOTCUA_ABI_VERSION 1u

/* The one symbol a plugin exports. */
#define MOTCUA_PLUGIN_ENTRY_SYMBOL "motcua_plugin_entry"

#if defined(__GNUC__)
#define MOTCUA_EXPORT __attribute__((visibility("default")))
#define MOTCUA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MOTCUA_EXPORT
#define MOTCUA_PRINTF(a, b)
#endif

/*
 * Does the struct at ptr (of type `type`, whose first member is its
 * struct_size) hold `member`? A struct from the other side may be older, and
 * so shorter, than this header's: check before touching a member added later,
 * e.g. MOTCUA_HAS_MEMBER(struct motcua_host, host, secret_read).
 */
#define MOTCUA_HAS_MEMBER(type, ptr, member)                                                       \
	((ptr)->struct_size >= offsetof(type, member) + sizeof(((type *)0)->member))

/* What a plugin provides (bit mask in motcua_plugin_info.provides). */
enum motcua_provides {
	MOTCUA_PROVIDES_CAPTURE = 1u << 0,   /* produces documents from a device */
	MOTCUA_PROVIDES_RECOGNIZE = 1u << 1, /* OCR: text, searchable PDF */
	MOTCUA_PROVIDES_SIGN = 1u << 2,	     /* digital signatures */
	MOTCUA_PROVIDES_ARCHIVE = 1u << 3,   /* e-archive */
	MOTCUA_PROVIDES_ADAPTER = 1u << 4,   /* agency / portal interconnect */
	MOTCUA_PROVIDES_SINK = 1u << 5,	     /* consumes events */
};

/* The pipeline steps, in the order a document goes through them. */
enum motcua_step {
	MOTCUA_STEP_CAPTURE = 0,
	MOTCUA_STEP_RECOGNIZE = 1,
	MOTCUA_STEP_SIGN = 2,
	MOTCUA_STEP_ARCHIVE = 3,
	/* Unused: kept so that the numbers stay what ABI 1 made them. Delivery to
	 * agencies is not a step of the document but the outbox's (see
	 * adapter_register()); step_register() refuses it. */
	MOTCUA_STEP_ROUTE = 4,
	MOTCUA_STEP_COUNT_ = 5 /* not a step; may grow in later ABI versions */
};

enum motcua_log_level {
	MOTCUA_LOG_ERROR = 3,
	MOTCUA_LOG_WARNING = 4,
	MOTCUA_LOG_INFO = 6,
	MOTCUA_LOG_DEBUG = 7,
};

/* Roles a token can carry (bit mask for motcua_host.route_add()). */
enum motcua_role {
	MOTCUA_ROLE_CLERK = 1u << 0,
	MOTCUA_ROLE_SUPERVISOR = 1u << 1,
	MOTCUA_ROLE_ADMIN = 1u << 2,
	MOTCUA_ROLE_AGENCY = 1u << 3,
	MOTCUA_ROLE_KIOSK = 1u << 4, /* the citizens' rating kiosk: rates, nothing else */
};

/* Opaque handles owned by the host. */
struct motcua_plugin_ctx; /* one per loaded plugin; identifies the caller */
struct motcua_timer;
struct motcua_response;

/* A configuration key a plugin accepts in its own section, besides `enabled`.
 * The host refuses unknown keys at start, with the file and line. */
struct motcua_config_key {
	const char *name;
	const char *help; /* one line, for error messages and `motcua plugin show` */
};

/* Input and output of one pipeline step; see motcua_host.step_register(). */
struct motcua_step_io {
	uint32_t struct_size;
	const char *dossier_code;
	const char *document_id;
	const char *document_name;
	const char *media_type;	 /* of the current file */
	const char *path;	 /* the current file; read it, never change it */
	const char *out_path;	 /* where to write a new version of the file, if the
				  * step produces one; the host makes it durable */
	char out_media_type[64]; /* set when writing out_path; empty = unchanged */
	char message[256];	 /* a short note (success) or reason (failure) */
	/* -- members below were added after the first draft: check struct_size -- */
	/* Where the step may write one JSON object of document fields (at most
	 * 1 MiB), e.g. {"text": ..., "confidence": ..., "fields": {...}}. The host
	 * keeps it and shows its members in the document's JSON. */
	const char *meta_path;
	/* The document's pages, in order (0 when it has none, e.g. an uploaded
	 * PDF). page_paths are the page images; page_out_paths and
	 * page_meta_paths what this step's page function made of each page
	 * (NULL entries where it made nothing or there is no page function). */
	size_t n_pages;
	const char *const *page_paths;
	const char *const *page_media_types;
	const char *const *page_out_paths;
	const char *const *page_meta_paths;
	/* -- members below were added with the sign and archive steps -- */
	/* The dossier as GET /api/v1/dossiers/{code} shows it, without its
	 * documents: a JSON object ("code", "procedure_code", "applicant": {"name",
	 * "id_number", ...}, "channel", "status", "received_at", ...). */
	const char *dossier_json;
	/* The document as GET .../documents/{id} shows it, without "steps" and
	 * "pages": "id", "name", "type" (the document type the clerk gave, or
	 * null), "media_type", "created_at", "reused_from" (an archived item id, or
	 * null), "paper" (the paper of the procedure it is, or null), and what
	 * earlier steps wrote into their meta files ("text", "confidence",
	 * "fields", "signature", ...). A JSON object. */
	const char *document_json;
	/* The file as it was received (an upload or a reused item), or NULL for a
	 * scan, whose originals are page_paths. */
	const char *original_path;
	const char *original_media_type;
	/* A companion file an earlier step made (e.g. the detached CAdES
	 * signature of a file that is not a PDF), or NULL when there is none. */
	const char *sidecar_path;
	const char *sidecar_media_type;
	/* Where this step may write a companion file; set sidecar_out_media_type
	 * when it does. The host makes it durable and keeps it with the document
	 * (GET .../documents/{id}/sidecar). */
	const char *sidecar_out_path;
	char sidecar_out_media_type[64];
	/* Set by a step that succeeded only in part and wants to run again on the
	 * same input later (e.g. a signature made without its timestamp because
	 * the TSA was unreachable): the host keeps this output now, lets the
	 * document go on, and after again_after_s seconds runs this step again on
	 * the step's original input, then the later steps on what it made. 0 = no. */
	uint32_t again_after_s;
};

/* One page of a document, for a step's page function (see page_step_register). */
struct motcua_page_io {
	uint32_t struct_size;
	const char *dossier_code;
	const char *document_id;
	uint32_t page_no;	/* 1-based */
	const char *media_type; /* of the page image */
	const char *path;	/* the page image; read it, never change it */
	const char *out_path;	/* where to write what the page becomes (e.g. a one-page PDF) */
	const char *meta_path;	/* where to write one JSON object about the page (<= 1 MiB) */
	char message[256];	/* a short note (success) or reason (failure) */
	/* Added after ABI 1's first release: read it only where
	 * MOTCUA_HAS_MEMBER(struct motcua_page_io, io, flags). MOTCUA_PAGE_* bits. */
	uint32_t flags;
};
/* A person turned this page (the clerk, in review) to how it is to be read:
 * take it as given, do not turn it again by automatic orientation. */
#define MOTCUA_PAGE_TURNED_BY_CLERK (1u << 0)

/* One capture (a scan batch) for a capture plugin; see capture_register. */
struct motcua_capture_io {
	uint32_t struct_size;
	const char *dossier_code;
	const char *document_id;
	/* The request's options as a JSON object ("{}" when none), already
	 * accepted by the plugin's check function. */
	const char *options;
	/* A folder for page files before they are handed over. */
	const char *tmp_dir;
	/* Hands a finished page to the host, which takes the file over (moves it
	 * into its store) and may start recognizing it at once, while the next
	 * page is being scanned. Pages are numbered in the order they are handed
	 * over. Callable from the capture function's thread; returns 0 or a
	 * negative errno (the capture should then stop). */
	int (*page_ready)(struct motcua_capture_io *io, const char *path, const char *media_type);
	/* Publishes a "capture.progress" event with this JSON object (copied),
	 * e.g. {"page": 3, "percent": 40}. Callable from the capture thread. */
	void (*progress)(struct motcua_capture_io *io, const char *json);
	/* Set to 1 by the host when the gateway is stopping: finish the page in
	 * hand and return. */
	volatile int cancel;
	char message[256]; /* on failure, the reason a clerk can act on */
	void *host_private;
};

/* What a capture plugin does. Grows at the end only. */
struct motcua_capture_ops {
	uint32_t struct_size;
	/* On the loop, before a capture is accepted: checks the request's options
	 * (a JSON object) quickly, without touching the device. Returns 0 or
	 * -EINVAL with a reason in message. */
	int (*check)(void *data, const char *options, char *message, size_t len);
	/* On a worker thread: captures one batch, calling io->page_ready() for
	 * each page. Returns 0 when the batch ended normally (e.g. the feeder is
	 * empty after at least one page), or a negative errno with a reason in
	 * io->message: -EBUSY device busy, -ENODEV no such device or unplugged,
	 * -ENOMEDIUM feeder empty, -EIO jam or other device error. Pages already
	 * handed over are kept either way. */
	int (*capture)(void *data, struct motcua_capture_io *io);
	/* On a worker thread: lists the devices as a JSON array of objects (at
	 * least "name"), allocated with malloc() into *json (the host frees it).
	 * Returns 0 or a negative errno. */
	int (*list_devices)(void *data, char **json);
};

/* What an archive plugin does (see archive_register). Every function runs on
 * a worker thread and returns 0, or a negative errno with a reason in
 * message: -EINVAL a bad argument (HTTP 400), -ENOENT no such item (404),
 * another errno a failure (500). A JSON answer is malloc()ed into *json and
 * freed by the host. Grows at the end only. */
struct motcua_archive_ops {
	uint32_t struct_size;
	/* GET /api/v1/archive/search. query is a JSON object with the request's
	 * parameters, all optional, already checked for form by the host: "q"
	 * (words; with or without Vietnamese diacritics), "id_number" (12 or 9
	 * digits), "procedure" (a procedure code), "from" and "to" (YYYY-MM-DD,
	 * archived time in Vietnam time, inclusive), "limit" (1-200, default 50),
	 * "offset". Answer: {"total": N, "items": [item...]} where an item is
	 * what item() answers, without "path", plus "snippet" when q was given. */
	int (*search)(void *data, const char *query, char **json, char *message, size_t len);
	/* GET /api/v1/archive/applicants/{id_number}/documents: that citizen's
	 * archived signed papers, newest first: {"id_number": "...", "items": [...]}. */
	int (*applicant_documents)(void *data, const char *id_number, char **json, char *message,
				   size_t len);
	/* One archived item: {"id", "sha256", "size", "media_type", "name",
	 * "dossier_code", "procedure_code", "id_number", "document_type",
	 * "archived_at" (ISO 8601, +07:00), "retention_years" (0 = permanent),
	 * "retain_until" (date or null), "signature" (object or null), "path" (the
	 * signed file, readable by the host), "original_path" and
	 * "original_media_type" (the scan or upload it came from, or null)}. */
	int (*item)(void *data, const char *id, char **json, char *message, size_t len);
	/* Records that item id was attached to another dossier (POST
	 * /api/v1/dossiers/{code}/documents {"reuse": id}) in the audit log. */
	int (*reused)(void *data, const char *id, const char *dossier_code, const char *document_id,
		      char *message, size_t len);
	/* GET /api/v1/archive/disposal: items past their retention period (never
	 * deleted here): {"items": [...]} as item() without "path". */
	int (*disposal)(void *data, char **json, char *message, size_t len);
	/* POST /api/v1/archive/verify: the fixity check of every blob and of the
	 * audit chain: {"ok": bool, "items": N, "changed": [...], "missing": [...],
	 * "unexpected": [...], "chain": {"ok": bool, "entries": N, "broken_at": ...}}. */
	int (*verify)(void *data, char **json, char *message, size_t len);
};

/*
 * Delivery to an agency or a portal: the host's outbox.
 *
 * Every change a receiver needs becomes one outbox row per destination (an
 * adapter plugin), written in the same transaction as the change itself:
 *   "dossier.created"  a dossier was received (sent as soon as it exists)
 *   "document.done"    one of its documents finished (signed, archived)
 *   "dossier.status"   its status changed (national codes 1-10)
 * The host delivers a destination's rows of one dossier strictly in order,
 * retries with capped exponential backoff and jitter, moves a row to the
 * dead letters after [outbox] max_attempts or a rejection, and never sends a
 * delivered row again. After a crash a row that was being sent is sent
 * again with the same idempotency key: the peer must use it to drop repeats.
 */
struct motcua_delivery {
	uint32_t struct_size;
	int64_t id; /* the outbox row */
	/* Stable per dossier, event and destination; send it to the peer (e.g.
	 * the Idempotency-Key header), which keeps the first and drops repeats. */
	const char *idempotency_key;
	const char *destination; /* the adapter's name */
	const char *dossier_code;
	const char *event_type; /* "dossier.created", "document.done", "dossier.status" */
	const char *event_json; /* the event's payload (JSON object; "at" is ISO 8601 +07:00) */
	/* The dossier as it was when the event happened (JSON object): "code",
	 * "procedure_code", "procedure_name", "applicant" {"name", "id_number",
	 * "phone"}, "channel", "status", "received_at", "updated_at",
	 * "due_at" (or null), and "documents": [{"id", "name", "type",
	 * "media_type", "state", "sha256" (of the current file), "size",
	 * "signature" (or null), "path" (the current file, readable by the
	 * plugin), "sidecar_path" (a detached signature, or null)}]. */
	const char *dossier_json;
	uint32_t attempt; /* 1 on the first try */
	/* Out: a short note (delivered) or the reason (retry, rejected). */
	char message[256];
	/* Out: the peer's own id for what it received, if it gave one. */
	char peer_ref[128];
};

/* What an adapter plugin does (see adapter_register). Grows at the end only. */
struct motcua_adapter_ops {
	uint32_t struct_size;
	/* On the loop, quick (no I/O): does this destination take this event of
	 * a dossier of this procedure? (Its routing: e.g. a `procedures` key.)
	 * Returns 1 (yes) or 0. */
	int (*accepts)(void *data, const char *procedure_code, const char *event_type);
	/* On a worker thread: sends one row. Returns 0 when the peer has it
	 * (delivered); -EAGAIN when it is worth trying again later (the peer
	 * answered 5xx or garbage, or was slow); -ECONNREFUSED, -EHOSTUNREACH,
	 * -ENETUNREACH or -ETIMEDOUT (connecting) when the peer itself cannot be
	 * reached: tried again later too, and the whole destination pauses
	 * meanwhile, so that an outage costs one probe per backoff, not one per
	 * row; or another negative errno when the peer refused it for good
	 * (e.g. 4xx: no blind retry). The reason goes in d->message. Must not
	 * block longer than its own timeout. */
	int (*deliver)(void *data, struct motcua_delivery *d);
};

/* An HTTP request routed to a plugin. All members are borrowed for the call. */
struct motcua_request {
	uint32_t struct_size;
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* the part after /api/v1/plugins/<name>, e.g. "/status" */
	const char *query;  /* raw query string without '?', or NULL */
	const char *body;   /* request body, not NUL-terminated; may be NULL */
	size_t body_len;
	const char *token_name; /* who is calling */
	unsigned role;		/* one enum motcua_role bit */
	/* -- members below were added later: check struct_size -- */
	/* A request header's value (the name is case-insensitive), or NULL. */
	const char *(*header)(const struct motcua_request *req, const char *name);
	void *host_private;
};

/* Called on a worker thread: the blocking part of work_submit(). */
typedef void (*motcua_work_fn)(void *data);
/* Called on the loop after the work function returned (or was cancelled because
 * the gateway is stopping: then `cancelled` is 1 and work_fn did not run). */
typedef void (*motcua_done_fn)(void *data, int cancelled);
typedef void (*motcua_event_fn)(void *data, const char *type, const char *json, size_t json_len);
typedef void (*motcua_timer_fn)(void *data);
/* An event with its id in the durable event log (increasing). */
typedef void (*motcua_event_id_fn)(void *data, int64_t id, const char *type, const char *json,
				   size_t json_len);
/* Returns the HTTP status; sets the body with motcua_host.response_set(). */
typedef int (*motcua_route_fn)(void *data, const struct motcua_request *req,
			       struct motcua_response *resp);
/* Runs on a worker thread. Returns 0 when the step is done (having written
 * io->out_path or not), -EAGAIN for a transient failure worth retrying later
 * (e.g. an agency's server is down), another negative errno for a permanent
 * failure, with io->message saying why. Must give the same output for the same
 * input: after a crash the host runs an unfinished step again. */
typedef int (*motcua_step_fn)(void *data, struct motcua_step_io *io);
/* Runs on a worker thread for one page; returns as motcua_step_fn does. */
typedef int (*motcua_page_fn)(void *data, struct motcua_page_io *io);
/* Frees the `data` a plugin handed to the host together with a callback. */
typedef void (*motcua_free_fn)(void *data);

/*
 * The host function table. Append-only: members are never removed or reordered.
 * The table and the ctx stay valid until the plugin's fini() returns.
 */
struct motcua_host {
	uint32_t struct_size;
	uint32_t abi;

	/* Writes one log line, prefixed with the plugin's name. Any thread. */
	void (*log)(struct motcua_plugin_ctx *ctx, enum motcua_log_level level, const char *fmt,
		    ...) MOTCUA_PRINTF(3, 4);

	/* Looks up a configuration value; section NULL means the plugin's own
	 * section. Returns NULL when unset; for [office] agency_code and name
	 * and [gateway] data_dir, the value the gateway uses (its default when
	 * the file does not set it). The string is owned by the host and lives
	 * as long as the plugin. */
	const char *(*config_get)(struct motcua_plugin_ctx *ctx, const char *section,
				  const char *key);

	/* Publishes a domain event (type like "adapter.sent"; json an object, copied).
	 * Events are stored durably and streamed to subscribers and SSE clients.
	 * Returns 0; -EINVAL when type is empty or longer than 64 bytes or json is
	 * not a JSON object; -EIO when it could not be stored (nothing was
	 * published); -ENOMEM. */
	int (*event_publish)(struct motcua_plugin_ctx *ctx, const char *type, const char *json);

	/* Subscribes to events whose type starts with type_prefix ("" for all).
	 * The host owns data from the call on, and frees it with free_fn (may be
	 * NULL) when the plugin is unloaded, even when the call fails. Returns 0;
	 * -EINVAL without fn; -ENOMEM. */
	int (*event_subscribe)(struct motcua_plugin_ctx *ctx, const char *type_prefix,
			       motcua_event_fn fn, void *data, motcua_free_fn free_fn);

	/* Runs work(data) on the worker pool, then done(data, cancelled) on the
	 * loop. data stays the plugin's; it must live until done() is called.
	 * Returns 0; -EINVAL without work; -EAGAIN when the pool's queue is full
	 * (try again later); -ESHUTDOWN when the gateway is stopping. On failure
	 * neither work nor done is ever called: data is still the plugin's to
	 * free. */
	int (*work_submit)(struct motcua_plugin_ctx *ctx, motcua_work_fn work, motcua_done_fn done,
			   void *data);

	/* Calls fn(data) on the loop after interval_ms, once or every interval.
	 * Returns NULL on failure (no fn, out of memory; data is freed then). The
	 * host frees data with free_fn on cancel or unload. A one-shot timer that
	 * fired stays the plugin's to cancel (or is freed at unload). */
	struct motcua_timer *(*timer_add)(struct motcua_plugin_ctx *ctx, uint32_t interval_ms,
					  int repeat, motcua_timer_fn fn, void *data,
					  motcua_free_fn free_fn);
	/* Cancels and frees one of this plugin's timers (others are ignored). */
	void (*timer_cancel)(struct motcua_plugin_ctx *ctx, struct motcua_timer *timer);

	/* Serves method + /api/v1/plugins/<plugin name><path> to callers with one of
	 * the roles in the roles mask. method is GET, POST, PUT or DELETE; path
	 * starts with '/', at most 200 bytes; a trailing '*' matches any rest.
	 * Data ownership as for event_subscribe(). Returns 0; -EINVAL (bad method,
	 * path or roles, no fn); -EEXIST when this plugin serves that method and
	 * path already; -ENOMEM. GET /api/v1/routes lists every route. */
	int (*route_add)(struct motcua_plugin_ctx *ctx, const char *method, const char *path,
			 unsigned roles, motcua_route_fn fn, void *data, motcua_free_fn free_fn);
	/* Sets the response body (copied) of a route callback. Returns 0;
	 * -EINVAL (no resp, a content type with CR/LF or of 128 bytes or more, a
	 * length without a body); -ENOMEM. */
	int (*response_set)(struct motcua_response *resp, const char *content_type,
			    const char *body, size_t len);

	/* Makes this plugin perform a pipeline step for every document:
	 * MOTCUA_STEP_RECOGNIZE, _SIGN or _ARCHIVE (capture has its own
	 * registration, capture_register()). One plugin per step. Data ownership
	 * as for event_subscribe(). Returns 0; -EINVAL (another step, no fn);
	 * -EEXIST when another plugin does the step. */
	int (*step_register)(struct motcua_plugin_ctx *ctx, enum motcua_step step,
			     motcua_step_fn fn, void *data, motcua_free_fn free_fn);

	/* -- members below were added after the first draft: check struct_size -- */

	/* Adds a per-page part to a step this plugin does (register the step
	 * first). fn runs for every page on the worker pool, pages of one document
	 * in parallel and as soon as each page exists (while the scanner goes on
	 * with the next); the step function then runs once per document, after
	 * the capture ended and every page is done, with the pages' outputs in
	 * motcua_step_io.page_out_paths. Data ownership as for event_subscribe().
	 * Returns 0; -EINVAL (a step other than MOTCUA_STEP_RECOGNIZE, no fn);
	 * -ENOENT when this plugin does not do the step; -EEXIST when the step has
	 * a page function already. */
	int (*page_step_register)(struct motcua_plugin_ctx *ctx, enum motcua_step step,
				  motcua_page_fn fn, void *data, motcua_free_fn free_fn);

	/* Makes this plugin the gateway's capture device: POST
	 * /api/v1/dossiers/{code}/scan and GET /api/v1/scanners call it. One
	 * capture plugin at a time. ops is copied. Data ownership as for
	 * event_subscribe(). Returns 0; -EINVAL (ops shorter than its first
	 * version, or a function missing); -EEXIST when another plugin captures. */
	int (*capture_register)(struct motcua_plugin_ctx *ctx, const struct motcua_capture_ops *ops,
				void *data, motcua_free_fn free_fn);

	/* Makes this plugin the gateway's e-archive: the /api/v1/archive/ routes
	 * and reuse (POST /api/v1/dossiers/{code}/documents {"reuse": id}) call it.
	 * One archive plugin at a time. ops is copied. Data ownership as for
	 * event_subscribe(). Returns 0; -EINVAL (ops shorter than its first
	 * version, or a function missing); -EEXIST when another plugin archives. */
	int (*archive_register)(struct motcua_plugin_ctx *ctx, const struct motcua_archive_ops *ops,
				void *data, motcua_free_fn free_fn);

	/* The gateway's data directory (absolute path), where a plugin keeps its
	 * own files in a folder named after itself. Owned by the host. */
	const char *(*data_dir)(struct motcua_plugin_ctx *ctx);

	/* Makes this plugin a delivery destination named after itself: the
	 * outbox calls ops->deliver() for every row it accepts. Several adapters
	 * may be registered. ops is copied. Data ownership as for
	 * event_subscribe(). Returns 0; -EINVAL (ops too short, accepts or deliver
	 * missing); -EEXIST when this plugin is a destination already; -ENOSPC
	 * when the gateway has as many destinations as it takes. */
	int (*adapter_register)(struct motcua_plugin_ctx *ctx, const struct motcua_adapter_ops *ops,
				void *data, motcua_free_fn free_fn);

	/* What an agency or the portal said about a dossier (from a poll or a
	 * webhook route): its new status (national code 1-10) and an optional
	 * JSON object with details (e.g. {"note": "...", "agency_ref": "..."}).
	 * The host records it and publishes "dossier.status", which goes to the
	 * other destinations. Returns 0; -EINVAL (not a dossier code, a status
	 * outside 1-10, details not a JSON object); -ENOENT no such dossier; -EIO
	 * when it could not be stored. */
	int (*dossier_status)(struct motcua_plugin_ctx *ctx, const char *dossier_code, int status,
			      const char *details_json);

	/* Adds a file an agency returned (the result of the procedure) to a
	 * dossier as a new document of type "ket-qua"; it goes through the sign
	 * and archive steps like any paper. Callable from any thread (best from
	 * a work or deliver function: it copies the file); the file is the host's
	 * copy when the call returns 0, and the plugin may delete its own. The
	 * document is recorded on the loop right after; a dossier that does not
	 * exist is found there, and the result is dropped with a log line.
	 * media_type: application/pdf, image/png, image/jpeg or image/tiff.
	 * Returns 0; -EINVAL (not a dossier code, another media type, content
	 * that is not what the type says, an empty or too large file, a bad
	 * name); the errno of opening or copying the file; -ESHUTDOWN when the
	 * gateway is stopping; -ENOMEM. */
	int (*result_add)(struct motcua_plugin_ctx *ctx, const char *dossier_code, const char *path,
			  const char *media_type, const char *name);

	/* Like event_subscribe(), with each event's id, starting after since_id:
	 * the stored events after it are replayed to fn first (during this call,
	 * oldest first), then the new ones follow as they happen. For a plugin
	 * that keeps state derived from events and must catch up after a
	 * restart or an outage: it remembers the last id it has made durable
	 * and passes it here. Data ownership as for event_subscribe(). Returns 0;
	 * -EINVAL (no fn, since_id < 0); -EIO when the stored events cannot be
	 * read; -ENOMEM. */
	int (*event_subscribe_from)(struct motcua_plugin_ctx *ctx, const char *type_prefix,
				    int64_t since_id, motcua_event_id_fn fn, void *data,
				    motcua_free_fn free_fn);

	/* Streams a transient event (type, JSON object, copied) to the clients
	 * of GET /api/v1/events only: not stored, not replayed, no id, not seen
	 * by subscribers. For frequent state such as a dashboard's snapshot,
	 * which would otherwise fill the durable event log. Returns 0; -EINVAL
	 * as for event_publish(); -ENOMEM. */
	int (*event_broadcast)(struct motcua_plugin_ctx *ctx, const char *type, const char *json);

	/* Reads a secret that a configuration key names (a private key, PIN,
	 * password, token or shared key file) under the gateway's one policy: a
	 * regular file, not a symlink, whose mode grants nothing to group or
	 * others (chmod 600), of at most size - 1 and MOTCUA_SECRET_MAX bytes, not
	 * empty. With MOTCUA_SECRET_LINE the secret is the file's first line
	 * (without its CR/LF); with 0, the whole file. buf receives the secret,
	 * NUL-terminated, and *len (may be NULL) its length. The host keeps no
	 * copy; wipe buf when done with it (explicit_bzero(), OPENSSL_cleanse()).
	 * Returns 0, or a negative errno with buf wiped and the reason, naming
	 * key and path, in why (may be NULL): -ENOENT, -EACCES (cannot be
	 * opened), -ELOOP (a symlink), -EINVAL (not a regular file, empty, an
	 * empty first line, a NUL byte), -EPERM (readable or writable by group or
	 * others), -EFBIG (too large), -EIO. Callable from any thread. */
	int (*secret_read)(struct motcua_plugin_ctx *ctx, const char *key, const char *path,
			   unsigned flags, char *buf, size_t size, size_t *len, char *why,
			   size_t why_len);
};

/* For motcua_host.secret_read(). */
#define MOTCUA_SECRET_LINE 1u /* the first line only */
#define MOTCUA_SECRET_MAX (64 * 1024)

/*
 * What a plugin tells about itself. Returned by motcua_plugin_entry(); must stay
 * valid while the plugin is loaded (a static const struct is the usual way).
 * Grows at the end only: a host reads what struct_size covers (at least up to
 * init) and takes the members after it as absent.
 */
struct motcua_plugin_info {
	uint32_t struct_size; /* sizeof(struct motcua_plugin_info) */
	uint32_t abi;	      /* the ABI version the plugin picked (see motcua_plugin_entry) */
	const char *name;     /* must equal the file and section name */
	const char *version;  /* the plugin's own version, free form */
	uint32_t provides;    /* enum motcua_provides bits */
	/* Keys the plugin accepts in its section besides `enabled`; terminated by
	 * an entry with name NULL. May be NULL. */
	const struct motcua_config_key *config_keys;
	/* Called once on the loop after loading. Register callbacks here. Returns
	 * 0, or a negative errno: the host then undoes the registrations, unloads
	 * the plugin and goes on without it. *state is handed back to fini(). */
	int (*init)(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state);
	/* Called once before unloading, after the host stopped calling the plugin's
	 * callbacks (but before it frees their data). May be NULL. */
	void (*fini)(void *state);
};

/*
 * The plugin's entry symbol. host_abis lists the n ABI versions the host
 * supports; the plugin returns the info of the one it picked (its `abi`), or,
 * when it speaks none of them, an info naming the one it does speak: the host
 * then refuses it, naming both. MOTCUA_PLUGIN_DECLARE() defines it.
 */
typedef const struct motcua_plugin_info *(*motcua_plugin_entry_fn)(const uint32_t *host_abis,
								   size_t n);

/* Plugins define this (and export nothing else). */
MOTCUA_EXPORT const struct motcua_plugin_info *motcua_plugin_entry(const uint32_t *host_abis,
								   size_t n);

/* Does the host offer ABI version abi? */
static inline int motcua_abi_offered(const uint32_t *host_abis, size_t n, uint32_t abi)
{
	for (size_t i = 0; host_abis && i < n; i++)
		if (host_abis[i] == abi)
			return 1;
	return 0;
}

/* The first of infos (a plugin's, one per ABI version it speaks, in its order
 * of preference) whose ABI version the host offers; infos[0] when none is. */
static inline const struct motcua_plugin_info *
motcua_plugin_pick(const uint32_t *host_abis, size_t n,
		   const struct motcua_plugin_info *const *infos, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (motcua_abi_offered(host_abis, n, infos[i]->abi))
			return infos[i];
	return infos[0];
}

/*
 * Defines motcua_plugin_entry() (as mosquitto's MOSQUITTO_PLUGIN_DECLARE_VERSION
 * does its version function): MOTCUA_PLUGIN_DECLARE(info) for a plugin that
 * speaks one ABI version (info.abi, usually MOTCUA_ABI_VERSION);
 * MOTCUA_PLUGIN_DECLARE_VERSIONS(&info_v2, &info_v1) for one that speaks
 * several, preferred first: the entry returns the first the host offers.
 */
#define MOTCUA_PLUGIN_DECLARE_VERSIONS(...)                                                        \
	MOTCUA_EXPORT const struct motcua_plugin_info *motcua_plugin_entry(                        \
	    const uint32_t *host_abis, size_t n)                                                   \
	{                                                                                          \
		static const struct motcua_plugin_info *const motcua_infos_[] = {__VA_ARGS__};     \
		return motcua_plugin_pick(host_abis, n, motcua_infos_,                             \
					  sizeof motcua_infos_ / sizeof motcua_infos_[0]);         \
	}
#define MOTCUA_PLUGIN_DECLARE(info) MOTCUA_PLUGIN_DECLARE_VERSIONS(&(info))

/*
 * A config convention adapters share (the `procedures` key and the like): does
 * list, codes separated by commas or blanks, or "*" for all, hold code? A NULL
 * list holds nothing; "*" holds everything, a NULL code too. Inline, so not
 * part of the ABI.
 */
static inline int motcua_list_has(const char *list, const char *code)
{
	if (!list)
		return 0;
	for (const char *p = list; *p;) {
		while (*p == ',' || *p == ' ' || (*p >= '\t' && *p <= '\r'))
			p++;
		const char *s = p;
		while (*p && *p != ',' && *p != ' ' && !(*p >= '\t' && *p <= '\r'))
			p++;
		size_t len = (size_t)(p - s), i = 0;
		if (len == 1 && *s == '*')
			return 1;
		while (code && i < len && code[i] == s[i])
			i++;
		if (code && len && i == len && !code[len])
			return 1;
	}
	return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* MOTCUA_PLUGIN_H */
