/* SPDX-License-Identifier: MIT */
/*
 * sign-openssl: the gateway's sign step.
 *
 *   application/pdf  -> out_path: the PDF with an embedded PAdES signature
 *                       (B-B, or B-T when tsa_url answers)
 *   anything else    -> sidecar_out_path: a detached CAdES .p7s; out_path is
 *                       left alone (the document stays as it is)
 *   meta_path        <- {"signature": {"format", "level", "signer",
 *                       "signed_at", "timestamp", "algorithm"}}
 *
 * When a TSA is configured but cannot be reached, the document is signed
 * B-B, "timestamp" is "pending" and io->again_after_s asks the host to run
 * the step again later on the same input, which then signs with a timestamp.
 *
 * The key, the certificate and the PIN are checked in init(): a plugin that
 * cannot sign does not start. The work itself is in sign-core (sign-core.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <motcua/plugin.h>

#include "sign-core.h"

#define PLUGIN_VERSION "0.1.0"
#define DEFAULT_TSA_RETRY_S 300

struct plugin {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	struct sign_signer *signer;
	bool tsa;
	uint32_t tsa_retry_s;
};

#define HAS_MEMBER(io, m)                                                                          \
	((io)->struct_size >= offsetof(struct motcua_step_io, m) + sizeof((io)->m))

static int write_meta(const char *path, const struct sign_result *res, bool tsa)
{
	char signed_at[40], ts[40];
	sign_iso_vn(res->signed_at, signed_at, sizeof signed_at);
	json_t *tsv;
	if (res->timestamp) {
		sign_iso_vn(res->timestamp, ts, sizeof ts);
		tsv = json_string(ts);
	} else if (res->timestamp_pending) {
		tsv = json_string("pending");
	} else {
		tsv = json_null();
	}
	(void)tsa;
	json_t *sig = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "format", res->format, "level",
				res->level, "signer", res->signer, "signed_at", signed_at,
				"timestamp", tsv, "algorithm", res->algorithm);
	if (!sig)
		return -ENOMEM;
	if (res->timestamp_pending && res->tsa_error[0])
		json_object_set_new(sig, "timestamp_error", json_string(res->tsa_error));
	json_t *doc = json_pack("{s:o}", "signature", sig);
	if (!doc)
		return -ENOMEM;
	int r = json_dump_file(doc, path, JSON_PRESERVE_ORDER | JSON_COMPACT) == 0 ? 0 : -EIO;
	json_decref(doc);
	return r;
}

static int sign_step(void *data, struct motcua_step_io *io)
{
	struct plugin *p = data;
	char err[512] = "";
	struct sign_result res;
	const size_t ml = sizeof io->message;
	if (!io->path) {
		snprintf(io->message, ml, "Không có tệp để ký (no file to sign)");
		return -EINVAL;
	}
	bool pdf = io->media_type && !strcmp(io->media_type, "application/pdf");
	const char *written = NULL;
	int r;
	if (pdf) {
		if (!io->out_path) {
			snprintf(io->message, ml,
				 "Máy chủ không cho chỗ ghi tệp đã ký (the host gave no out_path)");
			return -EINVAL;
		}
		r = sign_pdf(p->signer, io->path, io->out_path, 0, &res, err, sizeof err);
		if (r == 0) {
			written = io->out_path;
			snprintf(io->out_media_type, sizeof io->out_media_type, "application/pdf");
		}
	} else {
		if (!HAS_MEMBER(io, sidecar_out_media_type) || !io->sidecar_out_path) {
			snprintf(io->message, ml,
				 "Máy chủ quá cũ, không nhận được chữ ký rời .p7s (the gateway is "
				 "too old for a "
				 "detached signature of %s)",
				 io->media_type ? io->media_type : "this file");
			return -ENOTSUP;
		}
		r = sign_cades(p->signer, io->path, io->sidecar_out_path, 0, &res, err, sizeof err);
		if (r == 0) {
			written = io->sidecar_out_path;
			snprintf(io->sidecar_out_media_type, sizeof io->sidecar_out_media_type,
				 "application/pkcs7-signature");
		}
	}
	if (r < 0) {
		if (r == -EINVAL)
			snprintf(io->message, ml, "Tệp không ký được (cannot sign): %s", err);
		else
			snprintf(io->message, ml, "Ký số thất bại (signing failed): %s", err);
		/* a token that stopped answering may come back; a bad file will not */
		return r == -EIO || r == -ENODEV ? -EAGAIN : r;
	}
	if (HAS_MEMBER(io, meta_path) && io->meta_path) {
		int m = write_meta(io->meta_path, &res, p->tsa);
		if (m < 0) {
			unlink(written);
			if (pdf)
				io->out_media_type[0] = 0;
			else
				io->sidecar_out_media_type[0] = 0;
			snprintf(io->message, ml, "Không ghi được %s (cannot write it): %s",
				 io->meta_path, strerror(-m));
			return m;
		}
	}
	if (res.timestamp_pending) {
		if (HAS_MEMBER(io, again_after_s))
			io->again_after_s = p->tsa_retry_s;
		snprintf(io->message, ml,
			 "Đã ký %s B-B, dấu thời gian đang chờ (timestamp pending: %s)", res.format,
			 res.tsa_error);
	} else {
		snprintf(io->message, ml, "Đã ký %s %s (signed by %s)", res.format, res.level,
			 res.signer);
	}
	return 0;
}

static const char *cfg(struct plugin *p, const char *key)
{
	const char *v = p->host->config_get(p->ctx, NULL, key);
	return v && v[0] ? v : NULL;
}

static int parse_bool(struct plugin *p, const char *key, bool def, bool *out)
{
	const char *v = cfg(p, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off")) {
		*out = false;
		return 0;
	}
	p->host->log(p->ctx, MOTCUA_LOG_ERROR, "%s must be true or false (got \"%s\")", key, v);
	return -EINVAL;
}

static int parse_uint(struct plugin *p, const char *key, unsigned long min, unsigned long max,
		      unsigned long def, unsigned long *out)
{
	const char *v = cfg(p, key);
	if (!v) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || *end || end == v || x < min || x > max || v[0] == '-') {
		p->host->log(p->ctx, MOTCUA_LOG_ERROR,
			     "%s must be a whole number from %lu to %lu (got \"%s\")", key, min,
			     max, v);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

/* sign-core reads the key and the PIN through the host's secret_read(). */
static int read_secret(void *data, const char *key, const char *path, unsigned flags, char *buf,
		       size_t size, size_t *len, char *why, size_t why_len)
{
	struct plugin *p = data;
	return p->host->secret_read(p->ctx, key, path, flags, buf, size, len, why, why_len);
}

static int plugin_init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	if (!MOTCUA_HAS_MEMBER(struct motcua_host, host, secret_read) || !host->secret_read) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "this gateway is too old: it cannot read the key and PIN files (no "
			  "secret_read in its "
			  "host table); update the gateway");
		return -ENOTSUP;
	}
	struct plugin *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	p->host = host;
	struct sign_config c = {0};
	unsigned long timeout, retry;
	bool stamp;
	int r;
	if ((r = parse_uint(p, "tsa_timeout_s", 1, 300, 10, &timeout)) < 0 ||
	    (r = parse_uint(p, "tsa_retry_s", 1, 86400, DEFAULT_TSA_RETRY_S, &retry)) < 0 ||
	    (r = parse_bool(p, "stamp", false, &stamp)) < 0)
		goto fail;
	const char *pad = cfg(p, "rsa_padding");
	if (pad && strcmp(pad, "pss") != 0 && strcmp(pad, "pkcs1") != 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "rsa_padding must be pss or pkcs1 (got \"%s\")",
			  pad);
		r = -EINVAL;
		goto fail;
	}
	c.key = cfg(p, "key");
	c.cert = cfg(p, "cert");
	c.chain = cfg(p, "chain");
	c.pin_file = cfg(p, "pin_file");
	c.pkcs11_module = cfg(p, "pkcs11_module");
	c.tsa_url = cfg(p, "tsa_url");
	c.tsa_timeout_s = (unsigned)timeout;
	c.trust = cfg(p, "trust");
	c.rsa_pkcs1 = pad && !strcmp(pad, "pkcs1");
	c.stamp = stamp;
	c.organisation = cfg(p, "organisation");
	c.stamp_font = cfg(p, "stamp_font");
	c.secret_read = read_secret;
	c.secret_data = p;
	if (c.tsa_url && strncmp(c.tsa_url, "http://", 7) != 0 &&
	    strncmp(c.tsa_url, "https://", 8) != 0) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "tsa_url must be an http:// or https:// URL (got \"%s\")", c.tsa_url);
		r = -EINVAL;
		goto fail;
	}
	if (c.trust && access(c.trust, R_OK) < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "trust: cannot read the CA bundle %s: %s", c.trust,
			  strerror(errno));
		r = -errno;
		goto fail;
	}
	char err[512] = "";
	r = sign_signer_open(&c, &p->signer, err, sizeof err);
	if (r < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "cannot sign: %s", err[0] ? err : strerror(-r));
		goto fail;
	}
	p->tsa = c.tsa_url != NULL;
	p->tsa_retry_s = (uint32_t)retry;
	r = host->step_register(ctx, MOTCUA_STEP_SIGN, sign_step, p, NULL);
	if (r < 0) {
		host->log(ctx, MOTCUA_LOG_ERROR, "cannot register the sign step: %s", strerror(-r));
		goto fail;
	}
	host->log(ctx, MOTCUA_LOG_INFO, "signing as \"%s\" (%s, key %s), %s%s%s",
		  sign_signer_name(p->signer), sign_signer_algorithm(p->signer),
		  !strncmp(c.key, "pkcs11:", 7) ? "on a PKCS#11 token" : "from a file",
		  c.tsa_url ? "timestamps from " : "no TSA (PAdES B-B)", c.tsa_url ? c.tsa_url : "",
		  stamp ? ", visible stamp" : "");
	*state = p;
	return 0;
fail:
	sign_signer_free(p->signer);
	free(p);
	return r;
}

static void plugin_fini(void *state)
{
	struct plugin *p = state;
	if (!p)
		return;
	sign_signer_free(p->signer);
	free(p);
}

static const struct motcua_config_key keys[] = {
    {"key", "the signing key: a PEM file (mode 0600) or a pkcs11: URI (RFC 7512)"},
    {"cert", "the signer's PEM certificate (for a token: optional, else read from the token)"},
    {"chain", "PEM bundle of intermediate certificates to embed (optional)"},
    {"pin_file", "file holding the token's user PIN (pkcs11: keys; mode 0600)"},
    {"pkcs11_module",
     "PKCS#11 module (default: the URI's module-path, else " SIGN_DEFAULT_PKCS11_MODULE ")"},
    {"tsa_url", "RFC 3161 timestamp authority URL; unset = PAdES/CAdES B-B without timestamps"},
    {"tsa_timeout_s", "seconds one timestamp request may take, 1-300 (default 10)"},
    {"tsa_retry_s",
     "seconds before a document signed without its timestamp is signed again (default 300)"},
    {"trust", "PEM CA bundle: TSA replies must chain to it; motcua verify's default"},
    {"rsa_padding", "pss (default) or pkcs1 (RSA PKCS#1 v1.5), for RSA keys"},
    {"stamp", "true: a visible stamp at the top right of page 1 (default false)"},
    {"organisation", "the stamp's organisation name (default: the certificate's O)"},
    {"stamp_font", "TrueType font of the stamp (default " SIGN_DEFAULT_STAMP_FONT ")"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = "sign-openssl",
    .version = PLUGIN_VERSION,
    .provides = MOTCUA_PROVIDES_SIGN,
    .config_keys = keys,
    .init = plugin_init,
    .fini = plugin_fini,
};

MOTCUA_PLUGIN_DECLARE(info)
