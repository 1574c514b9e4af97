/* SPDX-License-Identifier: MIT */
/* A test plugin for the host's sign and archive contract, without OpenSSL or
 * an archive database: its sign step makes a detached "signature" (a sidecar
 * file) and, with `again = 1`, asks once to run again later (as a signature
 * waiting for its timestamp does); its archive step keeps a copy of each
 * document and a JSON line of what the step io said, and serves the archive
 * ops from them. Everything it knows is under <data_dir>/test-archive/. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <motcua/plugin.h>

struct state {
	const struct motcua_host *host;
	struct motcua_plugin_ctx *ctx;
	char dir[4096];
	int again;
};

static int copy_file(const char *in, const char *out)
{
	int fi = open(in, O_RDONLY | O_CLOEXEC), r = 0;
	if (fi < 0)
		return -errno;
	int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fo < 0) {
		close(fi);
		return -errno;
	}
	char buf[65536];
	ssize_t n;
	while ((n = read(fi, buf, sizeof buf)) > 0)
		if (write(fo, buf, (size_t)n) != n) {
			r = -EIO;
			break;
		}
	if (n < 0)
		r = -errno;
	close(fi);
	if (close(fo) < 0 && !r)
		r = -errno;
	return r;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -EIO;
}

/* A copy of the value of "key": "..." in a flat JSON text (test data only). */
static void json_str(const char *json, const char *key, char *out, size_t len)
{
	char pat[80];
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	const char *p = json ? strstr(json, pat) : NULL;
	out[0] = 0;
	if (!p)
		return;
	p += strlen(pat);
	size_t n = strcspn(p, "\"");
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), p);
}

static int step_sign(void *data, struct motcua_step_io *io)
{
	struct state *s = data;
	if (io->struct_size < sizeof *io || !io->sidecar_out_path || !io->document_json ||
	    !io->dossier_json) {
		snprintf(io->message, sizeof io->message, "the host is too old");
		return -EPROTO;
	}
	/* The first run of a document signs "without timestamp" and asks to
	 * run again; the rerun (document_json has signature.runs) completes. */
	int runs = strstr(io->document_json, "\"runs\":1") ? 2 : 1;
	char sig[512];
	snprintf(sig, sizeof sig, "signature of %s (run %d)\n", io->document_id, runs);
	int r = write_text(io->sidecar_out_path, sig);
	if (r < 0)
		return r;
	snprintf(io->sidecar_out_media_type, sizeof io->sidecar_out_media_type,
		 "application/pkcs7-signature");
	char meta[256];
	snprintf(meta, sizeof meta, "{\"signature\": {\"runs\": %d, \"level\": \"%s\"}}", runs,
		 s->again && runs == 1 ? "B-B" : "B-T");
	if ((r = write_text(io->meta_path, meta)) < 0)
		return r;
	if (s->again && runs == 1)
		io->again_after_s = 1;
	snprintf(io->message, sizeof io->message, "signed (run %d)", runs);
	return 0;
}

static int step_archive(void *data, struct motcua_step_io *io)
{
	struct state *s = data;
	char path[4200], id_number[32], code[96], reused[128];
	json_str(io->dossier_json, "id_number", id_number, sizeof id_number);
	json_str(io->dossier_json, "code", code, sizeof code);
	json_str(io->document_json, "reused_from", reused, sizeof reused);
	if (!reused[0]) {
		snprintf(path, sizeof path, "%s/%s.file", s->dir, io->document_id);
		int r = copy_file(io->path, path);
		if (r < 0)
			return r;
	}
	/* one line per archived document: what the step io said */
	snprintf(path, sizeof path, "%s/%s.json", s->dir, io->document_id);
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(
	    f,
	    "{\"id\":\"%s\",\"dossier_code\":\"%s\",\"id_number\":\"%s\",\"media_type\":\"%s\","
	    "\"name\":\"%s\",\"reused_from\":\"%s\",\"sidecar\":\"%s\",\"original\":\"%s\","
	    "\"path\":\"%s/%s.file\",\"document_type\":\"%s\",\"signature\":{\"level\":\"B-T\"}}\n",
	    reused[0] ? reused : io->document_id, code, id_number, io->media_type,
	    io->document_name, reused, io->sidecar_path ? io->sidecar_media_type : "",
	    io->original_path ? io->original_media_type : "", s->dir,
	    reused[0] ? reused : io->document_id, "giay-to");
	if (fclose(f) != 0)
		return -EIO;
	snprintf(path, sizeof path, "{\"archive\": {\"id\": \"%s\"}}",
		 reused[0] ? reused : io->document_id);
	return write_text(io->meta_path, path);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = malloc(65536);
	size_t n = buf ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = 0;
	return buf;
}

static int op_item(void *data, const char *id, char **json, char *message, size_t len)
{
	struct state *s = data;
	char path[4200];
	snprintf(path, sizeof path, "%s/%s.json", s->dir, id);
	if (!(*json = read_all(path))) {
		snprintf(message, len, "no archived item %s", id);
		return -ENOENT;
	}
	return 0;
}

static int op_search(void *data, const char *query, char **json, char *message, size_t len)
{
	(void)data;
	(void)message;
	(void)len;
	/* echoes the query the host checked, so that the test sees it */
	size_t n = strlen(query) + 64;
	*json = malloc(n);
	if (!*json)
		return -ENOMEM;
	snprintf(*json, n, "{\"total\": 0, \"items\": [], \"query\": %s}", query);
	return 0;
}

static int op_applicant(void *data, const char *id_number, char **json, char *message, size_t len)
{
	struct state *s = data;
	(void)message;
	(void)len;
	char cmd[4400];
	/* the items of that applicant, from the JSON lines (test data only) */
	snprintf(
	    cmd, sizeof cmd,
	    "cat %s/*.json 2>/dev/null | grep '\"id_number\":\"%s\"' | grep '\"reused_from\":\"\"'",
	    s->dir, id_number);
	FILE *p = popen(cmd, "re");
	if (!p)
		return -errno;
	size_t cap = 65536, used = 0;
	char *out = malloc(cap), line[8192];
	if (!out) {
		pclose(p);
		return -ENOMEM;
	}
	used = (size_t)snprintf(out, cap, "{\"id_number\": \"%s\", \"items\": [", id_number);
	int first = 1;
	while (fgets(line, sizeof line, p) && used + strlen(line) + 8 < cap) {
		line[strcspn(line, "\n")] = 0;
		used += (size_t)snprintf(out + used, cap - used, "%s%s", first ? "" : ",", line);
		first = 0;
	}
	pclose(p);
	snprintf(out + used, cap - used, "]}");
	*json = out;
	return 0;
}

static int op_reused(void *data, const char *id, const char *code, const char *doc, char *m,
		     size_t len)
{
	(void)data, (void)id, (void)code, (void)doc, (void)m, (void)len;
	return 0;
}

static int op_disposal(void *data, char **json, char *message, size_t len)
{
	(void)data, (void)message, (void)len;
	*json = strdup("{\"items\": []}");
	return *json ? 0 : -ENOMEM;
}

static int op_verify(void *data, char **json, char *message, size_t len)
{
	(void)data, (void)len;
	snprintf(message, len, "test-archive cannot verify anything");
	*json = NULL;
	return -ENOSYS;
}

static int init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	if (host->struct_size < sizeof *host)
		return -EPROTO;
	struct state *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->host = host;
	s->ctx = ctx;
	const char *again = host->config_get(ctx, NULL, "again");
	s->again = again && !strcmp(again, "1");
	snprintf(s->dir, sizeof s->dir, "%s/test-archive", host->data_dir(ctx));
	if (mkdir(s->dir, 0750) < 0 && errno != EEXIST) {
		free(s);
		return -errno;
	}
	static const struct motcua_archive_ops ops = {
	    .struct_size = sizeof ops,
	    .search = op_search,
	    .applicant_documents = op_applicant,
	    .item = op_item,
	    .reused = op_reused,
	    .disposal = op_disposal,
	    .verify = op_verify,
	};
	int r;
	if ((r = host->step_register(ctx, MOTCUA_STEP_SIGN, step_sign, s, NULL)) < 0 ||
	    (r = host->step_register(ctx, MOTCUA_STEP_ARCHIVE, step_archive, s, NULL)) < 0 ||
	    (r = host->archive_register(ctx, &ops, s, NULL)) < 0) {
		free(s);
		return r;
	}
	*state = s;
	return 0;
}

static void fini(void *state)
{
	free(state);
}

static const struct motcua_config_key keys[] = {
    {"again", "1: the sign step asks once to run again a second later"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof info,
    .abi = MOTCUA_ABI_VERSION,
    .name = "test-archive",
    .version = "1",
    .provides = MOTCUA_PROVIDES_SIGN | MOTCUA_PROVIDES_ARCHIVE,
    .config_keys = keys,
    .init = init,
    .fini = fini,
};

MOTCUA_PLUGIN_DECLARE(info)
