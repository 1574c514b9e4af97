/* SPDX-License-Identifier: MIT */
/*
 * adapter-folder: delivery to an agency with no API, as packages in a folder
 * (a network share, a synced folder, a USB disk) that the agency collects.
 *
 * Each delivery of the outbox becomes one package:
 *   <path>/<dossier code>/<delivery id, 10 digits>-<event type>/
 *       manifest.json           the event, the dossier, the idempotency key,
 *                               and for each file: name, media type, sha256, size
 *       <document id>.<ext>     each document's current file (the signed PDF)
 *       <document id>.<ext>.p7s its detached signature, when it has one
 * built in <path>/<dossier code>/.tmp-<package name>/ (same filesystem),
 * every file fsynced, then renamed into place and the folder fsynced: the
 * agency never sees half a package, and names sort in delivery order.
 * Entries starting with '.' are work in progress and must be ignored.
 *
 * A package that is already there with the same idempotency key is the
 * same delivery made again (after a crash): deliver() returns 0.
 *
 * Errors: the folder missing or not writable (an unmounted share, a full
 * disk) is -EAGAIN: an operator can fix it and the outbox then delivers
 * everything that waited, in order. A document file that is missing is
 * permanent (-ENOENT): retrying cannot bring it back.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ctype.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <motcua/plugin.h>

#include "plugin-io.h"

#define PLUGIN_NAME "adapter-folder"
#define FORMAT "motcua-package/1"

struct folder {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	char *path;
	char *procedures;
	char *events;
};

/* A name that is safe as one path component. */
static int safe_component(const char *s)
{
	if (!s || !*s || !strcmp(s, ".") || !strcmp(s, "..") || s[0] == '.' || strlen(s) > 200)
		return 0;
	for (; *s; s++)
		if (*s == '/' || (unsigned char)*s < 0x20)
			return 0;
	return 1;
}

/* Keeps [A-Za-z0-9._-]; anything else becomes '_'. */
static void sanitize(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; s && *s && o + 1 < cap; s++)
		out[o++] =
		    isalnum((unsigned char)*s) || *s == '.' || *s == '-' || *s == '_' ? *s : '_';
	out[o] = 0;
	if (!o || out[0] == '.')
		snprintf(out, cap, "_%s", s ? s : "");
}

static const char *extension(const char *media_type)
{
	static const char *const map[][2] = {
	    {"application/pdf", "pdf"}, {"image/png", "png"},	    {"image/jpeg", "jpg"},
	    {"image/tiff", "tif"},	{"application/xml", "xml"}, {"text/plain", "txt"},
	};
	for (size_t i = 0; media_type && i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(media_type, map[i][0]))
			return map[i][1];
	return "bin";
}

/* What copy_hash() copies: each chunk into the hash and into the copy. */
struct copy {
	EVP_MD_CTX *hash;
	int out;
	long long size;
	int write_failed;
};

static int copy_chunk(void *arg, const void *data, size_t n)
{
	struct copy *c = arg;
	EVP_DigestUpdate(c->hash, data, n);
	int r = io_write_all(c->out, data, n);
	if (r < 0) {
		c->write_failed = 1;
		return r;
	}
	c->size += (long long)n;
	return 0;
}

/* Copies src into dest (a new file), fsyncs it and hashes what was copied.
 * Returns 0; -ENOENT (and *src_side = 1) when src is missing; another
 * negative errno with *src_side saying which side failed. */
static int copy_hash(const char *src, const char *dest, char hex[65], long long *size,
		     int *src_side)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	int r = 0;
	struct copy c = {.out = -1};
	*src_side = 1;
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	c.hash = EVP_MD_CTX_new();
	if (!c.hash || !EVP_DigestInit_ex(c.hash, EVP_sha256(), NULL)) {
		r = -ENOMEM;
		goto out;
	}
	*src_side = 0;
	c.out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (c.out < 0) {
		r = -errno;
		goto out;
	}
	static __thread char buf[1 << 16];
	if ((r = io_read_chunks(in, buf, sizeof buf, copy_chunk, &c)) < 0) {
		*src_side = !c.write_failed;
		goto out;
	}
	if (fsync(c.out) < 0) {
		r = -errno;
		goto out;
	}
	*size = c.size;
	EVP_DigestFinal_ex(c.hash, md, &md_len);
	for (unsigned i = 0; i < md_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
	if (c.out >= 0 && close(c.out) < 0 && !r)
		r = -errno;
	close(in);
	EVP_MD_CTX_free(c.hash);
	return r;
}

/* Removes a temp package left by a crash (one level of plain files). */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

/* The idempotency key of an existing package, or NULL. */
static char *package_key(const char *pkg)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/manifest.json", pkg);
	json_t *m = json_load_file(p, 0, NULL);
	const char *k = json_string_value(json_object_get(m, "idempotency_key"));
	char *key = k ? strdup(k) : NULL;
	json_decref(m);
	return key;
}

static int folder_accepts(void *data, const char *procedure_code, const char *event_type)
{
	struct folder *a = data;
	return motcua_list_has(a->events, event_type) &&
	       motcua_list_has(a->procedures, procedure_code);
}

/* Copies one file into the package and lists it in files. Returns 0,
 * -ENOENT with the reason when the source is gone (permanent), -EAGAIN when
 * the destination failed. */
static int add_file(struct motcua_delivery *d, const char *tmp, const char *fname, const char *src,
		    const char *media_type, const char *doc_id, const char *role, json_t *files)
{
	char dest[4400], hex[65] = "";
	long long size = 0;
	int src_side = 0;
	snprintf(dest, sizeof dest, "%s/%s", tmp, fname);
	int r = copy_hash(src, dest, hex, &size, &src_side);
	if (r == -ENOENT && src_side) {
		snprintf(d->message, sizeof d->message,
			 "document %.40s: its file %.150s is missing", doc_id, src);
		return -ENOENT;
	}
	if (r < 0) {
		snprintf(d->message, sizeof d->message, "cannot %s %.150s: %s",
			 src_side ? "read" : "write", src_side ? src : dest, strerror(-r));
		return -EAGAIN;
	}
	json_array_append_new(files,
			      json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "name", fname,
					"document_id", doc_id, "role", role, "media_type",
					media_type, "sha256", hex, "size", (json_int_t)size));
	return 0;
}

static int folder_deliver(void *data, struct motcua_delivery *d)
{
	struct folder *a = data;
	char dossier_dir[4200], pkg[4400], tmp[4400], name[300], type[64];
	struct stat st;
	int r = 0, made_tmp = 0;
	json_t *dossier = NULL, *event = NULL, *files = NULL, *manifest = NULL;
	char *text = NULL;
	d->message[0] = 0;
	if (!safe_component(d->dossier_code)) {
		snprintf(d->message, sizeof d->message, "dossier code '%.60s' cannot name a folder",
			 d->dossier_code ? d->dossier_code : "");
		return -EINVAL;
	}
	dossier = json_loads(d->dossier_json ? d->dossier_json : "", 0, NULL);
	event = json_loads(d->event_json ? d->event_json : "{}", 0, NULL);
	if (!json_is_object(dossier)) {
		snprintf(d->message, sizeof d->message, "the dossier is not a JSON object");
		r = -EINVAL;
		goto out;
	}
	/* the folder itself: missing or read-only is for an operator to fix */
	if (stat(a->path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(d->message, sizeof d->message,
			 "folder %.150s is not there (share not mounted?); will retry", a->path);
		r = -EAGAIN;
		goto out;
	}
	if (access(a->path, W_OK | X_OK) < 0) {
		snprintf(d->message, sizeof d->message,
			 "folder %.150s is not writable (%s); will retry", a->path,
			 strerror(errno));
		r = -EAGAIN;
		goto out;
	}
	snprintf(dossier_dir, sizeof dossier_dir, "%s/%s", a->path, d->dossier_code);
	int new_dossier_dir = mkdir(dossier_dir, 0755) == 0;
	if (!new_dossier_dir && errno != EEXIST) {
		snprintf(d->message, sizeof d->message, "cannot create %.150s: %s; will retry",
			 dossier_dir, strerror(errno));
		r = -EAGAIN;
		goto out;
	}
	sanitize(type, sizeof type, d->event_type);
	snprintf(name, sizeof name, "%010lld-%s", (long long)d->id, type);
	snprintf(pkg, sizeof pkg, "%s/%s", dossier_dir, name);
	snprintf(tmp, sizeof tmp, "%s/.tmp-%s", dossier_dir, name);
	if (lstat(pkg, &st) == 0) {
		char *key = package_key(pkg);
		int same = key && d->idempotency_key && !strcmp(key, d->idempotency_key);
		if (same)
			snprintf(d->message, sizeof d->message, "already delivered as %.200s", pkg);
		else
			snprintf(d->message, sizeof d->message,
				 "%.150s holds another delivery (key %.40s); move it away", pkg,
				 key ? key : "unreadable");
		free(key);
		r = same ? 0 : -EEXIST;
		goto out;
	}
	/* a half-built package from a crash: this delivery's own, start over */
	remove_tree(tmp);
	if (mkdir(tmp, 0755) < 0) {
		snprintf(d->message, sizeof d->message, "cannot create %.150s: %s; will retry", tmp,
			 strerror(errno));
		r = -EAGAIN;
		goto out;
	}
	made_tmp = 1;
	files = json_array();
	json_t *docs = json_object_get(dossier, "documents");
	size_t i;
	json_t *doc;
	json_array_foreach(docs, i, doc)
	{
		const char *src = json_string_value(json_object_get(doc, "path"));
		const char *side = json_string_value(json_object_get(doc, "sidecar_path"));
		const char *id = json_string_value(json_object_get(doc, "id"));
		const char *mt = json_string_value(json_object_get(doc, "media_type"));
		char fname[300], sname[320], safe_id[200];
		sanitize(safe_id, sizeof safe_id, id ? id : "document");
		snprintf(fname, sizeof fname, "%s.%s", safe_id, extension(mt));
		if (src && (r = add_file(d, tmp, fname, src, mt ? mt : "application/octet-stream",
					 id ? id : "", "document", files)) < 0)
			goto out;
		if (side) {
			/* a detached CAdES signature unless the host says otherwise */
			const char *smt =
			    json_string_value(json_object_get(doc, "sidecar_media_type"));
			int cades = !smt || !strcmp(smt, "application/pkcs7-signature");
			snprintf(sname, sizeof sname, "%s.%s", fname,
				 cades ? "p7s" : extension(smt));
			if ((r = add_file(d, tmp, sname, side,
					  cades ? "application/pkcs7-signature" : smt, id ? id : "",
					  "signature", files)) < 0)
				goto out;
		}
		/* the gateway's own paths mean nothing to the agency */
		json_object_del(doc, "path");
		json_object_del(doc, "sidecar_path");
	}
	manifest = json_pack(
	    "{s:s, s:s, s:I, s:s, s:s, s:s, s:O, s:O, s:O}", "format", FORMAT, "idempotency_key",
	    d->idempotency_key ? d->idempotency_key : "", "delivery_id", (json_int_t)d->id,
	    "destination", d->destination ? d->destination : PLUGIN_NAME, "dossier_code",
	    d->dossier_code, "event_type", d->event_type ? d->event_type : "", "event",
	    json_is_object(event) ? event : json_object(), "dossier", dossier, "files", files);
	text = manifest ? json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII)
			: NULL;
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	char mpath[4500];
	snprintf(mpath, sizeof mpath, "%s/manifest.json", tmp);
	if ((r = io_create_file(mpath, text, strlen(text), 0644)) < 0 ||
	    (r = io_fsync_dir(tmp)) < 0) {
		snprintf(d->message, sizeof d->message, "cannot write %.150s: %s; will retry",
			 mpath, strerror(-r));
		r = -EAGAIN;
		goto out;
	}
	if (rename(tmp, pkg) < 0) {
		snprintf(d->message, sizeof d->message,
			 "cannot move %.150s into place: %s; will retry", tmp, strerror(errno));
		r = -EAGAIN;
		goto out;
	}
	made_tmp = 0;
	/* the rename, and a new dossier folder, durable too */
	if ((r = io_fsync_dir(dossier_dir)) < 0 ||
	    (new_dossier_dir && (r = io_fsync_dir(a->path)) < 0)) {
		snprintf(d->message, sizeof d->message, "cannot sync %.150s: %s; will retry",
			 dossier_dir, strerror(-r));
		r = -EAGAIN;
		goto out;
	}
	snprintf(d->message, sizeof d->message, "package %.40s/%.60s with %zu file(s)",
		 d->dossier_code, name, json_array_size(files));
	snprintf(d->peer_ref, sizeof d->peer_ref, "%.60s/%.60s", d->dossier_code, name);
	r = 0;
out:
	if (made_tmp)
		remove_tree(tmp);
	free(text);
	json_decref(manifest);
	json_decref(files);
	json_decref(dossier);
	json_decref(event);
	return r;
}

static void folder_free(struct folder *a)
{
	if (!a)
		return;
	free(a->path);
	free(a->procedures);
	free(a->events);
	free(a);
}

static int folder_init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	if (host->struct_size <
		offsetof(struct motcua_host, adapter_register) + sizeof host->adapter_register ||
	    !host->adapter_register) {
		host->log(ctx, MOTCUA_LOG_ERROR, "this gateway has no outbox (adapter_register)");
		return -ENOTSUP;
	}
	const char *path = host->config_get(ctx, NULL, "path");
	const char *procs = host->config_get(ctx, NULL, "procedures");
	const char *events = host->config_get(ctx, NULL, "events");
	if (!path || path[0] != '/') {
		host->log(ctx, MOTCUA_LOG_ERROR, "path must be an absolute folder (got '%s')",
			  path ? path : "");
		return -EINVAL;
	}
	if (events) {
		/* only the events the outbox has */
		char *copy = strdup(events), *save = NULL;
		int bad = 0;
		for (char *t = copy ? strtok_r(copy, ", \t", &save) : NULL; t;
		     t = strtok_r(NULL, ", \t", &save))
			if (strcmp(t, "dossier.created") && strcmp(t, "document.done") &&
			    strcmp(t, "dossier.status") && strcmp(t, "*")) {
				host->log(ctx, MOTCUA_LOG_ERROR,
					  "events: '%s' is not dossier.created, document.done or "
					  "dossier.status",
					  t);
				bad = 1;
			}
		free(copy);
		if (bad)
			return -EINVAL;
	}
	struct folder *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->ctx = ctx;
	a->host = host;
	a->path = strdup(path);
	a->procedures = strdup(procs && *procs ? procs : "*");
	a->events = strdup(events && *events ? events : "*");
	if (!a->path || !a->procedures || !a->events) {
		folder_free(a);
		return -ENOMEM;
	}
	for (size_t n = strlen(a->path); n > 1 && a->path[n - 1] == '/'; n--)
		a->path[n - 1] = 0;
	struct motcua_adapter_ops ops = {
	    .struct_size = sizeof ops,
	    .accepts = folder_accepts,
	    .deliver = folder_deliver,
	};
	int r = host->adapter_register(ctx, &ops, a, NULL);
	if (r < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "cannot register as a destination: %s",
			  strerror(-r));
		folder_free(a);
		return r;
	}
	struct stat st;
	if (stat(a->path, &st) < 0 || !S_ISDIR(st.st_mode))
		host->log(ctx, MOTCUA_LOG_WARNING,
			  "folder %s is not there yet: deliveries wait for it", a->path);
	host->log(ctx, MOTCUA_LOG_INFO, "packages of procedures '%s' go to %s", a->procedures,
		  a->path);
	*state = a;
	return 0;
}

static void folder_fini(void *state)
{
	folder_free(state);
}

static const struct motcua_config_key keys[] = {
    {"path", "the folder the agency collects packages from (absolute)"},
    {"procedures", "procedure codes delivered here, `*` for all (default *)"},
    {"events", "events packaged: dossier.created document.done dossier.status (default *)"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = PLUGIN_NAME,
    .version = "1.0.0",
    .provides = MOTCUA_PROVIDES_ADAPTER,
    .config_keys = keys,
    .init = folder_init,
    .fini = folder_fini,
};

MOTCUA_PLUGIN_DECLARE(info)
