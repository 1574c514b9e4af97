/* SPDX-License-Identifier: MIT */
/*
 * archive-sqlite: the gateway's e-archive (see README.md and archive-core.h).
 *
 *  - the archive step (MOTCUA_STEP_ARCHIVE): the signed file (io->path), its
 *    original (io->original_path, or the scanned pages io->page_paths) and
 *    the sign step's sidecar go into the archive with the dossier's and the
 *    document's fields; io->meta_path gets {"archive": {"id", "sha256",
 *    "archived_at", "reused"}}. Running it again (after a crash) changes
 *    nothing; a reused document (document_json "reused_from") whose file is
 *    the archived item's is recorded as a link to it, not archived again;
 *  - the archive ops (search, applicant documents, item, reuse record,
 *    disposal list, verify) behind /api/v1/archive/;
 *  - a fixity check every fixity_interval_h hours, on the worker pool, which
 *    logs what it found and publishes an "archive.fixity" event.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <motcua/plugin.h>

#include "archive-core.h"

#define PLUGIN_NAME "archive-sqlite"
#define PLUGIN_VERSION "1.0.0"
#define DEFAULT_RETENTION_YEARS 10
#define DEFAULT_FIXITY_H 24

struct plugin {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	struct archive *archive;
	char dir[4096];
	unsigned fixity_h;
	struct motcua_timer *timer;
	int fixity_running;
};

struct fixity_job {
	struct plugin *p;
	int r;
	json_t *report;
	char message[256];
};

#define HAS(s, member)                                                                             \
	((s)->struct_size >= offsetof(__typeof__(*(s)), member) + sizeof((s)->member))

/* ---- config ------------------------------------------------------------------------ */

static int config_uint(struct plugin *p, const char *key, long def, long min, long max, long *out)
{
	const char *v = p->host->config_get(p->ctx, NULL, key);
	*out = def;
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (end == v || *end || errno || x < min || x > max) {
		p->host->log(p->ctx, MOTCUA_LOG_ERROR,
			     "%s = %s: must be a whole number from %ld to %ld", key, v, min, max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

/* ---- the archive step ---------------------------------------------------------------- */

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : NULL;
}

static int write_meta(const char *path, json_t *item, bool reused)
{
	json_t *m =
	    json_pack("{s:{s:O, s:O, s:O, s:b}}", "archive", "id", json_object_get(item, "id"),
		      "sha256", json_object_get(item, "sha256"), "archived_at",
		      json_object_get(item, "archived_at"), "reused", reused);
	if (!m)
		return -ENOMEM;
	int r = json_dump_file(m, path, JSON_COMPACT) < 0 ? -EIO : 0;
	json_decref(m);
	return r;
}

static int archive_step(void *data, struct motcua_step_io *io)
{
	struct plugin *p = data;
	const size_t ml = sizeof io->message;
	json_t *dossier = NULL, *doc = NULL, *item = NULL;
	struct archive_file *orig = NULL;
	char *sig = NULL;
	int r;
	if (!io->path) {
		snprintf(io->message, ml, "nothing to archive: the document has no file");
		return -EINVAL;
	}
	const char *dj = HAS(io, dossier_json) ? io->dossier_json : NULL;
	const char *docj = HAS(io, document_json) ? io->document_json : NULL;
	json_error_t err;
	if (dj && !(dossier = json_loads(dj, 0, &err))) {
		snprintf(io->message, ml, "the dossier's JSON is not valid: %s", err.text);
		r = -EINVAL;
		goto out;
	}
	if (docj && !(doc = json_loads(docj, 0, &err))) {
		snprintf(io->message, ml, "the document's JSON is not valid: %s", err.text);
		r = -EINVAL;
		goto out;
	}
	if ((dossier && !json_is_object(dossier)) || (doc && !json_is_object(doc))) {
		snprintf(io->message, ml, "the dossier's and the document's JSON must be objects");
		r = -EINVAL;
		goto out;
	}
	json_t *applicant = json_object_get(dossier, "applicant");
	json_t *sj = json_object_get(doc, "signature");
	if (json_is_object(sj))
		sig = json_dumps(sj, JSON_COMPACT | JSON_SORT_KEYS);
	struct archive_item_in in = {
	    .document_id = io->document_id ? io->document_id : jstr(doc, "id"),
	    .name = io->document_name ? io->document_name : jstr(doc, "name"),
	    .dossier_code = io->dossier_code ? io->dossier_code : jstr(dossier, "code"),
	    .procedure_code = jstr(dossier, "procedure_code"),
	    .id_number = jstr(applicant, "id_number"),
	    .applicant_name = jstr(applicant, "name"),
	    .document_type = jstr(doc, "type"),
	    .text = jstr(doc, "text"),
	    .signature_json = sig,
	    .reused_from = jstr(doc, "reused_from"),
	    .signed_file = {io->path, io->media_type},
	};
	const char *op = HAS(io, original_path) ? io->original_path : NULL;
	if (op) {
		orig = calloc(1, sizeof *orig);
		if (!orig) {
			r = -ENOMEM;
			goto out;
		}
		orig[0].path = op;
		orig[0].media_type = HAS(io, original_media_type) ? io->original_media_type : NULL;
		in.n_originals = 1;
	} else if (HAS(io, page_paths) && io->n_pages && io->page_paths) {
		orig = calloc(io->n_pages, sizeof *orig);
		if (!orig) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < io->n_pages; i++) {
			orig[i].path = io->page_paths[i];
			orig[i].media_type = io->page_media_types ? io->page_media_types[i] : NULL;
		}
		in.n_originals = io->n_pages;
	}
	in.originals = orig;
	if (HAS(io, sidecar_media_type) && io->sidecar_path) {
		in.sidecar.path = io->sidecar_path;
		in.sidecar.media_type = io->sidecar_media_type;
	}
	enum archive_ingest_result res;
	r = archive_ingest(p->archive, &in, &res, &item, io->message, ml);
	if (r < 0)
		goto out;
	if (HAS(io, meta_path) && io->meta_path &&
	    (r = write_meta(io->meta_path, item, res == ARCHIVE_LINKED)) < 0)
		snprintf(io->message, ml, "cannot write %s: %s", io->meta_path, strerror(-r));
out:
	json_decref(dossier);
	json_decref(doc);
	json_decref(item);
	free(orig);
	free(sig);
	return r;
}

/* ---- the archive ops ------------------------------------------------------------------- */

static int answer(int r, json_t *j, char **json)
{
	if (r < 0)
		return r;
	*json = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return *json ? 0 : -ENOMEM;
}

static int op_search(void *data, const char *query, char **json, char *message, size_t len)
{
	struct plugin *p = data;
	json_error_t err;
	json_t *q = json_loads(query ? query : "{}", 0, &err), *res = NULL;
	if (!q) {
		snprintf(message, len, "the search is not valid JSON: %s", err.text);
		return -EINVAL;
	}
	int r = archive_search(p->archive, q, &res, message, len);
	json_decref(q);
	return answer(r, res, json);
}

static int op_applicant_documents(void *data, const char *id_number, char **json, char *message,
				  size_t len)
{
	struct plugin *p = data;
	json_t *res = NULL;
	int r = archive_applicant_documents(p->archive, id_number, &res, message, len);
	return answer(r, res, json);
}

static int op_item(void *data, const char *id, char **json, char *message, size_t len)
{
	struct plugin *p = data;
	json_t *res = NULL;
	int r = archive_item(p->archive, id, true, &res, message, len);
	return answer(r, res, json);
}

static int op_reused(void *data, const char *id, const char *dossier_code, const char *document_id,
		     char *message, size_t len)
{
	struct plugin *p = data;
	return archive_reused(p->archive, id, dossier_code, document_id, message, len);
}

static int op_disposal(void *data, char **json, char *message, size_t len)
{
	struct plugin *p = data;
	json_t *res = NULL;
	int r = archive_disposal(p->archive, true, &res, message, len);
	return answer(r, res, json);
}

static int op_verify(void *data, char **json, char *message, size_t len)
{
	struct plugin *p = data;
	json_t *res = NULL;
	int r = archive_verify(p->archive, true, &res, message, len);
	return answer(r, res, json);
}

/* ---- the periodic fixity check ------------------------------------------------------------ */

static void fixity_work(void *data)
{
	struct fixity_job *j = data;
	j->r = archive_verify(j->p->archive, true, &j->report, j->message, sizeof j->message);
}

/* The item ids named in a list of problems, at most max. */
static void bad_items(json_t *list, json_t *ids, size_t max)
{
	size_t i, k;
	json_t *e, *id;
	json_array_foreach(list, i, e)
	{
		json_t *its = json_object_get(e, "items");
		json_array_foreach(its, k, id) if (json_array_size(ids) < max)
		    json_array_append(ids, id);
		id = json_object_get(e, "item_id");
		if (json_is_string(id) && json_array_size(ids) < max)
			json_array_append(ids, id);
	}
}

static void fixity_done(void *data, int cancelled)
{
	struct fixity_job *j = data;
	struct plugin *p = j->p;
	p->fixity_running = 0;
	if (cancelled)
		goto out;
	if (j->r < 0) {
		p->host->log(p->ctx, MOTCUA_LOG_ERROR, "fixity check failed to run: %s",
			     j->message);
		json_t *e = json_pack("{s:b, s:s}", "ok", 0, "error", j->message);
		char *es = e ? json_dumps(e, JSON_COMPACT) : NULL;
		if (es)
			p->host->event_publish(p->ctx, "archive.fixity", es);
		free(es);
		json_decref(e);
		goto out;
	}
	json_t *rep = j->report, *chain = json_object_get(rep, "chain");
	json_t *ids = json_array();
	bad_items(json_object_get(rep, "changed"), ids, 50);
	bad_items(json_object_get(rep, "missing"), ids, 50);
	bad_items(json_object_get(chain, "problems"), ids, 50);
	json_t *ev = json_pack(
	    "{s:O, s:O, s:O, s:I, s:I, s:I, s:O, s:O, s:o}", "ok", json_object_get(rep, "ok"),
	    "items", json_object_get(rep, "items"), "blobs", json_object_get(rep, "blobs"),
	    "changed", (json_int_t)json_array_size(json_object_get(rep, "changed")), "missing",
	    (json_int_t)json_array_size(json_object_get(rep, "missing")), "unexpected",
	    (json_int_t)json_array_size(json_object_get(rep, "unexpected")), "chain_ok",
	    json_object_get(chain, "ok"), "chain_entries", json_object_get(chain, "entries"),
	    "bad_items", ids);
	char *evs = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	if (json_is_true(json_object_get(rep, "ok"))) {
		p->host->log(p->ctx, MOTCUA_LOG_INFO,
			     "fixity check: %lld files and %lld audit entries intact",
			     (long long)json_integer_value(json_object_get(rep, "blobs")),
			     (long long)json_integer_value(json_object_get(chain, "entries")));
	} else {
		char *bad = json_dumps(json_object_get(ev, "bad_items"), JSON_COMPACT);
		p->host->log(p->ctx, MOTCUA_LOG_ERROR,
			     "Kiểm tra toàn vẹn kho lưu trữ phát hiện lỗi / fixity check FAILED: "
			     "%zu changed, %zu"
			     " missing, %zu unexpected files, audit chain %s; items %s; run "
			     "`motcua archive verify`",
			     json_array_size(json_object_get(rep, "changed")),
			     json_array_size(json_object_get(rep, "missing")),
			     json_array_size(json_object_get(rep, "unexpected")),
			     json_is_true(json_object_get(chain, "ok")) ? "intact" : "BROKEN",
			     bad ? bad : "[]");
		free(bad);
	}
	if (evs)
		p->host->event_publish(p->ctx, "archive.fixity", evs);
	free(evs);
	json_decref(ev);
out:
	json_decref(j->report);
	free(j);
}

static void fixity_timer(void *data)
{
	struct plugin *p = data;
	if (p->fixity_running) /* the last one is still hashing */
		return;
	struct fixity_job *j = calloc(1, sizeof *j);
	if (!j)
		return;
	j->p = p;
	p->fixity_running = 1;
	int r = p->host->work_submit(p->ctx, fixity_work, fixity_done, j);
	if (r < 0) {
		p->fixity_running = 0;
		free(j);
		p->host->log(p->ctx, MOTCUA_LOG_WARNING, "cannot start the fixity check: %s",
			     strerror(-r));
	}
}

/* ---- init --------------------------------------------------------------------------------- */

static void plugin_free(struct plugin *p)
{
	if (!p)
		return;
	archive_close(p->archive);
	free(p);
}

static int archive_init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	if (!HAS(host, data_dir) || !host->archive_register || !host->data_dir) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "the gateway is too old: " PLUGIN_NAME " needs archive_register");
		return -ENOTSUP;
	}
	struct plugin *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	p->host = host;
	long years, fixity;
	int r;
	if ((r = config_uint(p, "retention_years", DEFAULT_RETENTION_YEARS, 0, 1000, &years)) < 0 ||
	    (r = config_uint(p, "fixity_interval_h", DEFAULT_FIXITY_H, 0, 1000, &fixity)) < 0)
		goto fail;
	p->fixity_h = (unsigned)fixity;
	const char *path = host->config_get(ctx, NULL, "path");
	const char *rules = host->config_get(ctx, NULL, "retention_by_procedure");
	char msg[512];
	if (rules && (r = archive_check_retention_rules(rules, msg, sizeof msg)) < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "%s", msg);
		goto fail;
	}
	if (path && *path) {
		if (path[0] != '/') {
			host->log(ctx, MOTCUA_LOG_ERROR, "path = %s: must be an absolute path",
				  path);
			r = -EINVAL;
			goto fail;
		}
		snprintf(p->dir, sizeof p->dir, "%s", path);
	} else {
		const char *dd = host->data_dir(ctx);
		if (!dd) {
			host->log(ctx, MOTCUA_LOG_ERROR,
				  "the gateway has no data directory; set path");
			r = -EINVAL;
			goto fail;
		}
		snprintf(p->dir, sizeof p->dir, "%s/" PLUGIN_NAME, dd);
	}
	struct archive_options opt = {
	    .create = true,
	    .retention_years = (int)years,
	    .retention_by_procedure = rules,
	    .organization = host->config_get(ctx, "office", "name"),
	};
	if ((r = archive_open(p->dir, &opt, &p->archive, msg, sizeof msg)) < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "%s", msg);
		goto fail;
	}
	static const struct motcua_archive_ops ops = {
	    .struct_size = sizeof(struct motcua_archive_ops),
	    .search = op_search,
	    .applicant_documents = op_applicant_documents,
	    .item = op_item,
	    .reused = op_reused,
	    .disposal = op_disposal,
	    .verify = op_verify,
	};
	if ((r = host->step_register(ctx, MOTCUA_STEP_ARCHIVE, archive_step, p, NULL)) < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "cannot take the archive step: %s", strerror(-r));
		goto fail;
	}
	if ((r = host->archive_register(ctx, &ops, p, NULL)) < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "cannot become the gateway's archive: %s",
			  strerror(-r));
		goto fail;
	}
	if (p->fixity_h) {
		p->timer = host->timer_add(ctx, (uint32_t)(p->fixity_h * 3600u * 1000u), 1,
					   fixity_timer, p, NULL);
		if (!p->timer) {
			host->log(ctx, MOTCUA_LOG_ERROR, "cannot set the fixity timer");
			r = -ENOMEM;
			goto fail;
		}
	}
	host->log(ctx, MOTCUA_LOG_INFO, "archive in %s, retention %ld years%s, fixity check %s",
		  p->dir, years, years ? "" : " (permanent)", p->fixity_h ? "on" : "off");
	if (p->fixity_h)
		host->log(ctx, MOTCUA_LOG_INFO, "fixity check every %u h", p->fixity_h);
	*state = p;
	return 0;
fail:
	plugin_free(p);
	return r;
}

static void archive_fini(void *state)
{
	plugin_free(state);
}

static const struct motcua_config_key keys[] = {
    {"path", "archive folder (default <data_dir>/archive-sqlite)"},
    {"retention_years",
     "years an item is kept before it is listed for disposal, 0 = permanent (default 10)"},
    {"retention_by_procedure",
     "per procedure code, CODE:YEARS separated by commas, e.g. 1.004227:20, 2.000001:0"},
    {"fixity_interval_h",
     "hours between fixity checks of every file and of the audit chain, 0 = off (default 24)"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = PLUGIN_NAME,
    .version = PLUGIN_VERSION,
    .provides = MOTCUA_PROVIDES_ARCHIVE,
    .config_keys = keys,
    .init = archive_init,
    .fini = archive_fini,
};

MOTCUA_PLUGIN_DECLARE(info)
