/* SPDX-License-Identifier: MIT */
/* Capture: a scan batch from the capture plugin becomes a document whose pages
 * are stored (and recognized) as they arrive. The plugin's capture function
 * runs on the I/O pool (it mostly waits for the device); each page it hands
 * over is made durable on its thread and recorded on the loop, where the
 * pipeline picks it up at once, so scanning page n+1 overlaps OCR of page n.
 * One capture at a time: a station has one scanner. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/http.h>

#include "events.h"
#include "capture.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "records.h"
#include "router.h"
#include "slot.h"
#include "store.h"
#include "util.h"
#include "validate.h"
#include "workers.h"

/* The capture plugin. */
struct provider {
	struct slot slot;
	struct motcua_capture_ops ops;
};

struct capture {
	struct gateway *gw;
	struct provider prov;
	struct capture_run *active; /* the capture in progress, if any */
	struct page_grab *grab;	    /* or the one page being taken, if any */
};

/* What a scan batch and a page taken alone share: the provider's calls, the
 * io the plugin gets, its folder, its result. */
struct scan {
	struct capture *cap;
	struct motcua_capture_ops ops; /* the provider's */
	void *data;
	struct motcua_capture_io io;
	char *plugin_name;
	char *options;
	char *tmp_dir;
	int result;
};

/* One scan batch. */
struct capture_run {
	struct scan s; /* first: the worker functions take either */
	struct gateway *gw;
	char dossier_code[96];
	char document_id[33];
	atomic_int pages_handed;
	int pages_recorded;
	/* a page scanned again into its place in a document in review (0: a
	 * new document) */
	int replace_page;
	char by[128];
};

struct page_msg {
	struct capture_run *c;
	int page_no;
	char sha[65];
	char media_type[32];
	uint64_t size;
};

struct progress_msg {
	struct capture_run *c;
	char *json;
};

static void on_page(void *arg, int cancelled)
{
	(void)cancelled;
	struct page_msg *m = arg;
	struct capture_run *c = m->c;
	if (c->replace_page) {
		if (document_replace_end(c->gw->records, c->dossier_code, c->document_id,
					 c->replace_page, m->sha, m->media_type, c->by, NULL) == 0)
			c->pages_recorded++;
		else
			log_error("capture: the page scanned again for page %d of %s could not be "
				  "recorded",
				  c->replace_page, c->document_id);
		free(m);
		return;
	}
	if (document_add_page(c->gw->records, c->dossier_code, c->document_id, m->page_no, m->sha,
			      m->media_type, m->size) == 0)
		c->pages_recorded++;
	else
		log_error("capture: page %d of %s could not be recorded", m->page_no,
			  c->document_id);
	free(m);
}

/* Is a page the plugin hands over an image file in its tmp_dir? */
static bool page_file_ok(const char *plugin_name, const char *tmp_dir, const char *path,
			 const char *media_type)
{
	static const char *const types[] = {"image/png", "image/jpeg", "image/tiff", NULL};
	bool ok = false;
	for (const char *const *t = types; media_type && *t; t++)
		ok |= !strcmp(*t, media_type);
	size_t dl = strlen(tmp_dir);
	if (!ok || !path || strncmp(path, tmp_dir, dl) != 0 || path[dl] != '/' ||
	    strstr(path, "/../")) {
		gw_log(MOTCUA_LOG_ERROR, plugin_name,
		       "page refused: it must be a PNG, JPEG or TIFF file in io->tmp_dir");
		return false;
	}
	return true;
}

/* Worker thread: the plugin hands over a finished page. */
static int page_ready(struct motcua_capture_io *io, const char *path, const char *media_type)
{
	struct capture_run *c = io->host_private;
	if (!page_file_ok(c->s.plugin_name, c->s.tmp_dir, path, media_type))
		return -EINVAL;
	/* Scanning one page again: the first page is it, the batch stops there. */
	if (c->replace_page && atomic_load(&c->pages_handed) > 0) {
		io->cancel = 1;
		return -ECANCELED;
	}
	struct page_msg *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	int r = store_commit_file(c->gw->store, path, m->sha, &m->size);
	if (r < 0) {
		free(m);
		return r;
	}
	m->c = c;
	m->page_no = atomic_fetch_add(&c->pages_handed, 1) + 1;
	snprintf(m->media_type, sizeof m->media_type, "%s", media_type);
	r = workers_post(c->gw->io_workers, on_page, m);
	if (r < 0)
		free(m);
	else if (c->replace_page)
		io->cancel = 1;
	return r;
}

/* Progress goes to the clients following the event stream and is not stored:
 * a driver reports ten or more a page, and each stored event is a synchronous
 * commit (an fdatasync on the Pi's SD card) for what only a progress bar
 * needs. What a batch did is stored by the capture step's own events. */
static void on_progress(void *arg, int cancelled)
{
	(void)cancelled;
	struct progress_msg *m = arg;
	json_t *j = json_loads(m->json, 0, NULL);
	if (json_is_object(j)) {
		json_object_set_new(j, "dossier_code", json_string(m->c->dossier_code));
		json_object_set_new(j, "document_id", json_string(m->c->document_id));
		json_object_set_new(j, "plugin", json_string(m->c->s.plugin_name));
		events_broadcast(m->c->gw->events, "capture.progress", j);
	} else {
		json_decref(j);
	}
	free(m->json);
	free(m);
}

static void progress(struct motcua_capture_io *io, const char *json)
{
	struct capture_run *c = io->host_private;
	struct progress_msg *m = calloc(1, sizeof *m);
	if (!m || !json || strlen(json) > 4096 || !(m->json = strdup(json))) {
		free(m);
		return;
	}
	m->c = c;
	if (workers_post(c->gw->io_workers, on_progress, m) < 0) {
		free(m->json);
		free(m);
	}
}

/* Worker thread: the plugin's capture() in its own folder, emptied after. */
static void scan_work(void *arg)
{
	struct scan *s = arg; /* the first member of a capture_run or a page_grab */
	if (mkdir(s->tmp_dir, 0750) < 0 && errno != EEXIST) {
		s->result = -errno;
		snprintf(s->io.message, sizeof s->io.message, "cannot create %s: %s", s->tmp_dir,
			 strerror(errno));
		return;
	}
	s->result = s->ops.capture(s->data, &s->io);
	s->io.message[sizeof s->io.message - 1] = 0;
	remove_contents(s->tmp_dir, true);
}

static void scan_clear(struct scan *s)
{
	free(s->plugin_name);
	free(s->options);
	free(s->tmp_dir);
}

/* Can the scanner start with these options now? Then s has the provider's
 * calls and copies of its name and the options. -ENODEV no capture plugin,
 * -EBUSY a scan runs, -EINVAL options refused, -ENOMEM; msg says why. */
static int scan_init(struct scan *s, struct capture *cap, const char *options, char *msg,
		     size_t msglen)
{
	const struct provider *prov = &cap->prov;
	if (!prov->slot.plugin_name) {
		snprintf(msg, msglen,
			 "no capture plugin is enabled (e.g. [scan-sane] enabled = true)");
		return -ENODEV;
	}
	if (cap->active) {
		snprintf(msg, msglen, "the scanner is busy with document %s",
			 cap->active->document_id);
		return -EBUSY;
	}
	if (cap->grab) {
		snprintf(msg, msglen, "the scanner is busy with an ID card");
		return -EBUSY;
	}
	msg[0] = 0;
	int r = prov->ops.check(prov->slot.data, options, msg, msglen);
	if (r < 0) {
		if (!msg[0])
			snprintf(msg, msglen, "the scan options were refused: %s", strerror(-r));
		return -EINVAL;
	}
	s->cap = cap;
	s->ops = prov->ops;
	s->data = prov->slot.data;
	if (!(s->plugin_name = strdup(prov->slot.plugin_name)) || !(s->options = strdup(options))) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static void run_free(struct capture_run *c)
{
	scan_clear(&c->s);
	free(c);
}

static void capture_done(void *arg, int cancelled)
{
	struct capture_run *c = arg;
	if (c->replace_page) {
		/* The page came (recorded by on_page) or the document goes back to
		 * the clerk as it was. */
		if (cancelled)
			snprintf(c->s.io.message, sizeof c->s.io.message,
				 "the gateway stopped before the scan began");
		gw_log(c->pages_recorded ? MOTCUA_LOG_INFO : MOTCUA_LOG_WARNING, c->s.plugin_name,
		       "page %d of %s scanned again: %s", c->replace_page, c->document_id,
		       c->pages_recorded    ? "done"
		       : c->s.io.message[0] ? c->s.io.message
					    : "no page");
		if (!c->pages_recorded)
			document_replace_end(c->gw->records, c->dossier_code, c->document_id,
					     c->replace_page, NULL, NULL, c->by,
					     c->s.io.message[0] ? c->s.io.message
								: "no page was scanned");
		if (c->s.cap->active == c)
			c->s.cap->active = NULL;
		run_free(c);
		return;
	}
	if (cancelled) {
		c->s.result = -ECANCELED;
		snprintf(c->s.io.message, sizeof c->s.io.message,
			 "the gateway stopped before the scan began");
	} else if (c->s.result == 0 && c->s.io.cancel) {
		c->s.result = -ECANCELED;
		snprintf(c->s.io.message, sizeof c->s.io.message,
			 "the gateway stopped during the scan; scan the remaining pages again");
	}
	/* Every page message was posted before this completion: all are recorded. */
	gw_log(c->s.result < 0 ? MOTCUA_LOG_WARNING : MOTCUA_LOG_INFO, c->s.plugin_name,
	       "capture of %s ended: %d page(s)%s%s", c->document_id, c->pages_recorded,
	       c->s.io.message[0] ? ": " : "", c->s.io.message);
	document_capture_done(c->gw->records, c->dossier_code, c->document_id, c->s.result,
			      c->s.io.message, c->pages_recorded);
	if (c->s.cap->active == c)
		c->s.cap->active = NULL;
	run_free(c);
}

/* Starts a capture into a new document of the dossier (options: a JSON
 * object as text). -ENODEV no capture plugin, -EBUSY one is running,
 * -EINVAL options refused; msg says why. */
static int capture_start(struct capture *cap, const char *dossier_code, const char *options,
			 const char *name, const char *created_by, const struct document_extra *x,
			 int replace_page, char id_out[33], char *msg, size_t msglen)
{
	struct gateway *gw = cap->gw;
	struct capture_run *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	int r = scan_init(&c->s, cap, options, msg, msglen);
	if (r < 0) {
		run_free(c);
		return r;
	}
	c->gw = gw;
	snprintf(c->dossier_code, sizeof c->dossier_code, "%s", dossier_code);
	snprintf(c->by, sizeof c->by, "%s", created_by);
	c->replace_page = replace_page;
	if (replace_page)
		r = document_replace_begin(gw->records, dossier_code, id_out, replace_page);
	else
		r = document_create_scan(gw->records, dossier_code, name, c->s.plugin_name,
					 created_by, x, id_out);
	if (r < 0) {
		run_free(c);
		snprintf(msg, msglen,
			 r == -EBUSY	? "the document is no longer in review"
			 : r == -ENOENT ? "the document has no such page"
					: "the document could not be recorded");
		return r == -EBUSY ? -EALREADY : r;
	}
	snprintf(c->document_id, sizeof c->document_id, "%s", id_out);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/tmp/capture-%s", gw->settings.data_dir, id_out);
	c->s.tmp_dir = strdup(dir);
	c->s.io = (struct motcua_capture_io){
	    .struct_size = sizeof c->s.io,
	    .dossier_code = c->dossier_code,
	    .document_id = c->document_id,
	    .options = c->s.options,
	    .tmp_dir = c->s.tmp_dir,
	    .page_ready = page_ready,
	    .progress = progress,
	    .host_private = c,
	};
	r = c->s.tmp_dir ? workers_submit(gw->io_workers, scan_work, capture_done, c) : -ENOMEM;
	if (r < 0) {
		snprintf(msg, msglen, "cannot start the scan: %s", strerror(-r));
		if (replace_page)
			document_replace_end(gw->records, dossier_code, id_out, replace_page, NULL,
					     NULL, created_by, msg);
		else
			document_capture_done(gw->records, dossier_code, id_out, r, msg, 0);
		run_free(c);
		return r;
	}
	cap->active = c;
	gw_log(MOTCUA_LOG_INFO, c->s.plugin_name, "scanning document %s for %s (options %s)",
	       id_out, dossier_code, options);
	return 0;
}

/* ---- one page, no document ---- */

struct page_grab {
	struct scan s; /* first: the worker functions take either */
	size_t max_bytes;
	capture_page_fn done;
	void *done_data;
	/* the first page, read on the worker */
	unsigned char *page;
	size_t len;
	char media_type[32];
};

/* Worker thread: the first page is read and the batch told to stop; later
 * ones (a feeder that had more) are dropped. */
static int grab_page_ready(struct motcua_capture_io *io, const char *path, const char *media_type)
{
	struct page_grab *g = io->host_private;
	if (!page_file_ok(g->s.plugin_name, g->s.tmp_dir, path, media_type))
		return -EINVAL;
	io->cancel = 1;
	if (g->page) {
		unlink(path);
		return 0;
	}
	FILE *f = fopen(path, "rb");
	struct stat st;
	int r = 0;
	if (!f || fstat(fileno(f), &st) < 0)
		r = -errno;
	else if ((uint64_t)st.st_size > g->max_bytes || st.st_size == 0)
		r = -EFBIG;
	else if (!(g->page = malloc((size_t)st.st_size)))
		r = -ENOMEM;
	else if (fread(g->page, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		r = -EIO;
	if (f)
		fclose(f);
	unlink(path);
	if (r < 0) {
		free(g->page);
		g->page = NULL;
		return r;
	}
	g->len = (size_t)st.st_size;
	snprintf(g->media_type, sizeof g->media_type, "%s", media_type);
	return 0;
}

static void grab_progress(struct motcua_capture_io *io, const char *json)
{
	(void)io;
	(void)json; /* one page: nothing to follow */
}

static void grab_free(struct page_grab *g)
{
	scan_clear(&g->s);
	free(g->page);
	free(g);
}

static void grab_done(void *arg, int cancelled)
{
	struct page_grab *g = arg;
	if (g->s.cap->grab == g)
		g->s.cap->grab = NULL;
	int r = g->page ? 0 : g->s.result < 0 ? g->s.result : -ENOMEDIUM;
	const char *why = g->s.io.message;
	if (cancelled) {
		r = -ECANCELED;
		why = "the gateway stopped before the scan began";
	} else if (!g->page && !why[0]) {
		why = "the scanner gave no page";
	}
	gw_log(r < 0 ? MOTCUA_LOG_WARNING : MOTCUA_LOG_INFO, g->s.plugin_name,
	       "one page for the station: %s%s%s", r < 0 ? "none" : g->media_type,
	       r < 0 ? ": " : "", r < 0 ? why : "");
	unsigned char *page = r == 0 ? g->page : NULL;
	g->page = NULL;
	g->done(g->done_data, r, page, r == 0 ? g->len : 0, g->media_type, r < 0 ? why : "");
	grab_free(g);
}

int capture_one_page(struct capture *cap, const char *options, size_t max_bytes,
		     capture_page_fn done, void *data, char *msg, size_t msglen)
{
	struct gateway *gw = cap->gw;
	static unsigned seq;
	struct page_grab *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	int r = scan_init(&g->s, cap, options, msg, msglen);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/tmp/page-%ld-%u", gw->settings.data_dir, (long)getpid(),
		 ++seq);
	if (r == 0 && !(g->s.tmp_dir = strdup(dir))) {
		snprintf(msg, msglen, "out of memory");
		r = -ENOMEM;
	}
	if (r < 0) {
		grab_free(g);
		return r;
	}
	g->max_bytes = max_bytes;
	g->done = done;
	g->done_data = data;
	g->s.io = (struct motcua_capture_io){
	    .struct_size = sizeof g->s.io,
	    .dossier_code = "",
	    .document_id = "",
	    .options = g->s.options,
	    .tmp_dir = g->s.tmp_dir,
	    .page_ready = grab_page_ready,
	    .progress = grab_progress,
	    .host_private = g,
	};
	r = workers_submit(gw->io_workers, scan_work, grab_done, g);
	if (r < 0) {
		snprintf(msg, msglen, "cannot start the scan: %s", strerror(-r));
		grab_free(g);
		return r == -EAGAIN ? -EBUSY : r;
	}
	cap->grab = g;
	gw_log(MOTCUA_LOG_INFO, g->s.plugin_name, "scanning one page for the station (options %s)",
	       options);
	return 0;
}

void capture_cancel(struct capture *cap)
{
	if (cap && cap->active)
		cap->active->s.io.cancel = 1;
	if (cap && cap->grab)
		cap->grab->s.io.cancel = 1;
}

/* POST /api/v1/dossiers/{code}/scan: optional {"source", "resolution",
 * "mode", "duplex", "name", "type", "paper"}. */
static void route_scan(struct call *call)
{
	struct capture *cap = call->data;
	struct evhttp_request *req = call->req;
	const char *code = call->params[0];
	if (!dossier_exists(cap->gw->records, code)) {
		http_reply_error(req, 404, "not_found", "no dossier %s", code);
		return;
	}
	/* An empty body means the configured defaults. */
	json_t *j = http_json_body_or_empty(req);
	if (!j)
		return;
	const char *name = NULL, *dtype = NULL, *paper = NULL, *doc = NULL;
	char paperbuf[65] = "", msg[600];
	if (!http_str_field(req, j, "name", "name", false, 200, &name) ||
	    !http_str_field(req, j, "type", "type", false, 64, &dtype) ||
	    !http_str_field(req, j, "paper", "paper", false, 64, &paper) ||
	    !http_str_field(req, j, "document", "document", false, 32, &doc))
		goto out;
	if (paper && dossier_paper_check(cap->gw->records, code, paper, msg, sizeof msg) < 0) {
		http_reply_error(req, 400, "bad_request", "paper: %s", msg);
		goto out;
	}
	if (paper) {
		/* the document's, not the scanner's: not passed to the capture plugin */
		snprintf(paperbuf, sizeof paperbuf, "%s", paper);
		json_object_del(j, "paper");
	}
	/* {"replace_page": n, "document": id}: page n of a document in review
	 * scanned again into its place */
	json_t *rp = json_object_get(j, "replace_page");
	int replace = 0;
	char docbuf[33] = "";
	if (rp || doc) {
		char state[16];
		int pages;
		if (!doc || !json_is_integer(rp) || json_integer_value(rp) < 1 ||
		    json_integer_value(rp) > 100000) {
			http_reply_error(req, 400, "bad_request",
					 "replace_page (a page number from 1) and document (the "
					 "document's id) go together");
			goto out;
		}
		if (document_review_state(cap->gw->records, code, doc, state, &pages) < 0) {
			http_reply_error(req, 404, "not_found", "no document %s in dossier %s", doc,
					 code);
			goto out;
		}
		if (strcmp(state, "review")) {
			http_reply_error(req, 409, "not_in_review",
					 "document %s is %s: a page is scanned again only while it "
					 "waits for review",
					 doc, state);
			goto out;
		}
		if (json_integer_value(rp) > pages) {
			http_reply_error(req, 404, "not_found",
					 "document %s has %d page%s, not page %lld", doc, pages,
					 pages == 1 ? "" : "s", (long long)json_integer_value(rp));
			goto out;
		}
		replace = (int)json_integer_value(rp);
		snprintf(docbuf, sizeof docbuf, "%s", doc);
		/* the document's, not the scanner's */
		json_object_del(j, "replace_page");
		json_object_del(j, "document");
	}
	if (dtype && !valid_code_chars(dtype, 64)) {
		http_reply_error(
		    req, 400, "bad_request",
		    "type must be 1 to 64 letters, digits, '.', '-' or '_' (e.g. to-khai)");
		goto out;
	}
	if (name && !valid_document_name(name)) {
		http_reply_error(
		    req, 400, "bad_request",
		    "name must be 1 to 200 bytes of text without / or control characters");
		goto out;
	}
	char typebuf[65] = "", namebuf[256];
	snprintf(namebuf, sizeof namebuf, "%s", name ? name : "Tài liệu quét");
	if (dtype) {
		/* the document's, not the scanner's: not passed to the capture plugin */
		snprintf(typebuf, sizeof typebuf, "%s", dtype);
		json_object_del(j, "type");
	}
	char *options = json_dumps(j, JSON_COMPACT);
	char id[33];
	snprintf(id, sizeof id, "%s", docbuf);
	struct document_extra x = {.doc_type = typebuf[0] ? typebuf : NULL,
				   .paper = paperbuf[0] ? paperbuf : NULL};
	int r = options ? capture_start(cap, code, options, namebuf, call->tok->name, &x, replace,
					id, msg, sizeof msg)
			: -ENOMEM;
	free(options);
	switch (r) {
	case 0:
		if (replace)
			http_reply_json(req, 202,
					json_pack("{s:s, s:s, s:i}", "id", id, "state", "rescan",
						  "replace_page", replace));
		else
			http_reply_json(req, 202,
					json_pack("{s:s, s:s}", "id", id, "state", "processing"));
		break;
	case -EALREADY:
		http_reply_error(req, 409, "not_in_review", "%s", msg);
		break;
	case -ENOENT:
		http_reply_error(req, 404, "not_found", "%s", msg);
		break;
	case -EINVAL:
		http_reply_error(req, 400, "bad_request", "%s", msg);
		break;
	case -EBUSY:
		http_reply_error(req, 409, "scanner_busy", "%s", msg);
		break;
	case -ENODEV:
		http_reply_error(req, 503, "no_scanner", "%s", msg);
		break;
	default:
		http_reply_error(req, 503, "unavailable", "the scan could not start: %s",
				 strerror(-r));
	}
out:
	json_decref(j);
}

/* ---- GET /api/v1/scanners ---- */

struct device_list {
	struct evhttp_request *req;
	struct motcua_capture_ops ops; /* the provider's */
	void *data;
	char *plugin_name;
	char *json;
	int result;
};

static void list_work(void *arg)
{
	struct device_list *l = arg;
	l->result = l->ops.list_devices(l->data, &l->json);
}

static void list_done(void *arg, int cancelled)
{
	struct device_list *l = arg;
	json_t *arr = !cancelled && l->result == 0 && l->json ? json_loads(l->json, 0, NULL) : NULL;
	if (http_client_gone(l->req)) {
		json_decref(arr);
		http_reply_gone(l->req);
	} else if (json_is_array(arr)) {
		http_reply_json(l->req, 200,
				json_pack("{s:o, s:s}", "scanners", arr, "plugin", l->plugin_name));
	} else {
		json_decref(arr);
		http_reply_error(l->req, 503, "scanner_error",
				 "the scanners could not be listed%s%s", l->result < 0 ? ": " : "",
				 l->result < 0 ? strerror(-l->result) : "");
	}
	free(l->plugin_name);
	free(l->json);
	free(l);
}

static void route_scanners(struct call *call)
{
	struct capture *cap = call->data;
	struct evhttp_request *req = call->req;
	if (!cap->prov.slot.plugin_name) {
		http_reply_json(req, 200, json_pack("{s:[], s:n}", "scanners", "plugin"));
		return;
	}
	struct device_list *l = calloc(1, sizeof *l);
	if (!l || !(l->plugin_name = strdup(cap->prov.slot.plugin_name))) {
		free(l);
		http_reply_error(req, 503, "no_memory", "out of memory");
		return;
	}
	l->ops = cap->prov.ops;
	l->data = cap->prov.slot.data;
	l->req = req;
	if (workers_submit(cap->gw->io_workers, list_work, list_done, l) < 0) {
		free(l->plugin_name);
		free(l);
		http_reply_error(req, 503, "busy", "cannot list the scanners now");
	}
}

/* ---- the module and its slot ---- */

static const struct route_def routes[] = {
    {"POST", "/api/v1/dossiers/{code}/scan", R_WRITE, route_scan,
     "scan a batch from the capture plugin into a new document (202 with its id), or "
     "{\"replace_page\": n, \"document\": id} one page into its place in a document in review"},
    {"GET", "/api/v1/scanners", R_STAFF, route_scanners, "the capture plugin's devices"},
};

struct capture *capture_new(struct gateway *gw)
{
	struct capture *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->gw = gw;
	if (router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], c, NULL) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

static void provider_clear(struct provider *p)
{
	slot_empty(&p->slot, &p->ops, sizeof p->ops);
}

void capture_free(struct capture *c)
{
	if (!c)
		return;
	provider_clear(&c->prov);
	free(c);
}

int capture_provider_set(struct capture *c, const char *plugin_name,
			 const struct motcua_capture_ops *ops, void *data, motcua_free_fn free_fn,
			 const void *owner)
{
	if (!ops || !MOTCUA_HAS_MEMBER(struct motcua_capture_ops, ops, list_devices) ||
	    !ops->check || !ops->capture || !ops->list_devices) {
		if (free_fn)
			free_fn(data);
		return -EINVAL;
	}
	return slot_fill(&c->prov.slot, plugin_name, &c->prov.ops, sizeof c->prov.ops, ops,
			 ops->struct_size, data, free_fn, owner);
}

const char *capture_plugin(struct capture *c)
{
	return c->prov.slot.plugin_name;
}

void capture_drop_owner(struct capture *c, const void *owner)
{
	if (c && slot_taken_by(&c->prov.slot, owner))
		provider_clear(&c->prov);
}
