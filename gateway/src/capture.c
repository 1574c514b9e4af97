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

#include "gateway.h"

struct capture {
	struct gateway *gw;
	struct capture_provider prov;
	struct motcua_capture_io io;
	char *plugin_name;
	char *options;
	char *tmp_dir;
	char dossier_code[96];
	char document_id[33];
	atomic_int pages_handed;
	int pages_recorded;
	int result;
};

struct page_msg {
	struct capture *c;
	int page_no;
	char sha[65];
	char media_type[32];
	uint64_t size;
};

struct progress_msg {
	struct capture *c;
	char *json;
};

static struct capture *active; /* the capture in progress, if any */

static void on_page(void *arg, int cancelled)
{
	(void)cancelled;
	struct page_msg *m = arg;
	struct capture *c = m->c;
	if (document_add_page(c->gw->pipeline, c->dossier_code, c->document_id, m->page_no, m->sha,
			      m->media_type, m->size) == 0)
		c->pages_recorded++;
	else
		log_error("capture: page %d of %s could not be recorded", m->page_no, c->document_id);
	free(m);
}

/* Worker thread: the plugin hands over a finished page. */
static int page_ready(struct motcua_capture_io *io, const char *path, const char *media_type)
{
	struct capture *c = io->host_private;
	static const char *const types[] = {"image/png", "image/jpeg", "image/tiff", NULL};
	bool ok = false;
	for (const char *const *t = types; media_type && *t; t++)
		ok |= !strcmp(*t, media_type);
	size_t dl = strlen(c->tmp_dir);
	if (!ok || !path || strncmp(path, c->tmp_dir, dl) != 0 || path[dl] != '/' || strstr(path, "/../")) {
		gw_log(MOTCUA_LOG_ERROR, c->plugin_name,
		       "page refused: it must be a PNG, JPEG or TIFF file in io->tmp_dir");
		return -EINVAL;
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
		json_object_set_new(j, "plugin", json_string(m->c->plugin_name));
		events_broadcast(m->c->gw->events, "capture.progress", j);
	} else {
		json_decref(j);
	}
	free(m->json);
	free(m);
}

static void progress(struct motcua_capture_io *io, const char *json)
{
	struct capture *c = io->host_private;
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

static void capture_work(void *arg)
{
	struct capture *c = arg;
	if (mkdir(c->tmp_dir, 0750) < 0 && errno != EEXIST) {
		c->result = -errno;
		snprintf(c->io.message, sizeof c->io.message, "cannot create %s: %s", c->tmp_dir,
			 strerror(errno));
		return;
	}
	c->result = c->prov.ops.capture(c->prov.data, &c->io);
	c->io.message[sizeof c->io.message - 1] = 0;
	remove_contents(c->tmp_dir, true);
}

static void capture_free(struct capture *c)
{
	free(c->plugin_name);
	free(c->options);
	free(c->tmp_dir);
	free(c);
}

static void capture_done(void *arg, int cancelled)
{
	struct capture *c = arg;
	if (cancelled) {
		c->result = -ECANCELED;
		snprintf(c->io.message, sizeof c->io.message, "the gateway stopped before the scan began");
	} else if (c->result == 0 && c->io.cancel) {
		c->result = -ECANCELED;
		snprintf(c->io.message, sizeof c->io.message,
			 "the gateway stopped during the scan; scan the remaining pages again");
	}
	/* Every page message was posted before this completion: all are recorded. */
	gw_log(c->result < 0 ? MOTCUA_LOG_WARNING : MOTCUA_LOG_INFO, c->plugin_name,
	       "capture of %s ended: %d page(s)%s%s", c->document_id, c->pages_recorded,
	       c->io.message[0] ? ": " : "", c->io.message);
	document_capture_done(c->gw->pipeline, c->dossier_code, c->document_id, c->result, c->io.message,
			      c->pages_recorded);
	if (active == c)
		active = NULL;
	capture_free(c);
}

int capture_start(struct gateway *gw, const char *dossier_code, const char *options, const char *name,
		  const char *created_by, const struct document_extra *x, char id_out[33], char *msg,
		  size_t msglen)
{
	const struct capture_provider *prov = plugins_capture(gw->plugins);
	if (!prov) {
		snprintf(msg, msglen, "no capture plugin is enabled (e.g. [scan-sane] enabled = true)");
		return -ENODEV;
	}
	if (active) {
		snprintf(msg, msglen, "the scanner is busy with document %s", active->document_id);
		return -EBUSY;
	}
	msg[0] = 0;
	int r = prov->ops.check(prov->data, options, msg, msglen);
	if (r < 0) {
		if (!msg[0])
			snprintf(msg, msglen, "the scan options were refused: %s", strerror(-r));
		return -EINVAL;
	}
	struct capture *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->gw = gw;
	c->prov = *prov;
	c->plugin_name = strdup(prov->plugin_name);
	c->options = strdup(options);
	snprintf(c->dossier_code, sizeof c->dossier_code, "%s", dossier_code);
	r = document_create_scan(gw->pipeline, dossier_code, name, prov->plugin_name, created_by, x, id_out);
	if (r < 0 || !c->plugin_name || !c->options) {
		capture_free(c);
		snprintf(msg, msglen, "the document could not be recorded");
		return r < 0 ? r : -ENOMEM;
	}
	snprintf(c->document_id, sizeof c->document_id, "%s", id_out);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/tmp/capture-%s", gw->settings.data_dir, id_out);
	c->tmp_dir = strdup(dir);
	c->io = (struct motcua_capture_io){
		.struct_size = sizeof c->io,
		.dossier_code = c->dossier_code,
		.document_id = c->document_id,
		.options = c->options,
		.tmp_dir = c->tmp_dir,
		.page_ready = page_ready,
		.progress = progress,
		.host_private = c,
	};
	r = c->tmp_dir ? workers_submit(gw->io_workers, capture_work, capture_done, c) : -ENOMEM;
	if (r < 0) {
		snprintf(msg, msglen, "cannot start the scan: %s", strerror(-r));
		document_capture_done(gw->pipeline, dossier_code, id_out, r, msg, 0);
		capture_free(c);
		return r;
	}
	active = c;
	gw_log(MOTCUA_LOG_INFO, c->plugin_name, "scanning document %s for %s (options %s)", id_out,
	       dossier_code, options);
	return 0;
}

void capture_cancel(struct gateway *gw)
{
	(void)gw;
	if (active)
		active->io.cancel = 1;
}

/* ---- device list ---- */

struct device_list {
	struct gateway *gw;
	struct evhttp_request *req;
	struct capture_provider prov;
	char *json;
	int result;
};

static void list_work(void *arg)
{
	struct device_list *l = arg;
	l->result = l->prov.ops.list_devices(l->prov.data, &l->json);
}

static void list_done(void *arg, int cancelled)
{
	struct device_list *l = arg;
	json_t *arr = !cancelled && l->result == 0 && l->json ? json_loads(l->json, 0, NULL) : NULL;
	if (json_is_array(arr)) {
		http_reply_json(l->req, 200, json_pack("{s:o, s:s}", "scanners", arr, "plugin",
						       l->prov.plugin_name));
	} else {
		json_decref(arr);
		http_reply_error(l->req, 503, "scanner_error", "the scanners could not be listed%s%s",
				 l->result < 0 ? ": " : "", l->result < 0 ? strerror(-l->result) : "");
	}
	free(l->json);
	free(l);
}

void capture_list_devices(struct gateway *gw, struct evhttp_request *req)
{
	const struct capture_provider *prov = plugins_capture(gw->plugins);
	if (!prov) {
		http_reply_json(req, 200, json_pack("{s:[], s:n}", "scanners", "plugin"));
		return;
	}
	struct device_list *l = calloc(1, sizeof *l);
	if (!l) {
		http_reply_error(req, 503, "no_memory", "out of memory");
		return;
	}
	l->gw = gw;
	l->req = req;
	l->prov = *prov;
	if (workers_submit(gw->io_workers, list_work, list_done, l) < 0) {
		free(l);
		http_reply_error(req, 503, "busy", "cannot list the scanners now");
	}
}
