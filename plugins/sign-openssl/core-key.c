/* SPDX-License-Identifier: MIT */
/*
 * sign-core: the signer (key, certificate, chain) from a PEM file or a
 * PKCS#11 token through libp11, and small helpers shared by core-*.c.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libp11.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <motcua/plugin.h> /* MOTCUA_SECRET_LINE, MOTCUA_SECRET_MAX */

#include "core-internal.h"

/* ---- helpers ---------------------------------------------------------------- */

static void vfail(char *err, size_t len, bool ssl, const char *fmt, va_list ap)
{
	if (!err || !len)
		return;
	vsnprintf(err, len, fmt, ap);
	unsigned long e = ssl ? ERR_peek_last_error() : 0;
	if (e) {
		char buf[256];
		ERR_error_string_n(e, buf, sizeof buf);
		size_t n = strlen(err);
		snprintf(err + n, len - n, " (%s)", buf);
	}
}

int sign_fail(int r, char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(err, len, false, fmt, ap);
	va_end(ap);
	return r;
}

int sign_fail_ssl(int r, char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(err, len, true, fmt, ap);
	va_end(ap);
	ERR_clear_error();
	return r;
}

void sign_buf_add(struct sign_buf *b, const void *data, size_t n)
{
	if (b->failed || n == 0)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = 0;
}

void sign_buf_printf(struct sign_buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof small) {
		sign_buf_add(b, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sign_buf_add(b, big, (size_t)n);
	free(big);
}

time_t sign_asn1_time_to_time_t(const ASN1_TIME *t)
{
	struct tm tm;
	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

void sign_iso_vn(time_t t, char *buf, size_t len)
{
	time_t vn = t + 7 * 3600;
	struct tm tm;
	gmtime_r(&vn, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
}

bool sign_is_pdf(const char *path)
{
	FILE *f = fopen(path, "rbe");
	if (!f)
		return false;
	char head[1024];
	size_t n = fread(head, 1, sizeof head, f);
	fclose(f);
	/* PDF readers accept the header within the first 1024 bytes */
	return memmem(head, n, "%PDF-", 5) != NULL;
}

/* ---- certificates ---------------------------------------------------------------- */

static int load_certs(const char *path, STACK_OF(X509) * *out, char *err, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return sign_fail(-errno, err, len, "cannot open %s: %s", path, strerror(errno));
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;
	while (sk && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			break;
		}
	fclose(f);
	ERR_clear_error(); /* the end of the file shows as an error */
	if (!sk || sk_X509_num(sk) == 0) {
		sk_X509_pop_free(sk, X509_free);
		return sign_fail(-EINVAL, err, len, "%s holds no PEM certificate", path);
	}
	*out = sk;
	return 0;
}

static void subject_field(X509 *x, int nid, char *buf, size_t len)
{
	buf[0] = 0;
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, nid, -1);
	if (i < 0)
		return;
	unsigned char *utf8 = NULL;
	int k = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
	if (k >= 0)
		snprintf(buf, len, "%.*s", k, (char *)utf8);
	OPENSSL_free(utf8);
}

/* The name a person knows the signer by: CN, else O, else the subject. */
void sign_cert_name(X509 *x, char *buf, size_t len);
void sign_cert_name(X509 *x, char *buf, size_t len)
{
	subject_field(x, NID_commonName, buf, len);
	if (!buf[0])
		subject_field(x, NID_organizationName, buf, len);
	if (!buf[0])
		X509_NAME_oneline(X509_get_subject_name(x), buf, (int)len);
}

/* ---- PKCS#11 -------------------------------------------------------------------- */

struct p11_uri {
	char token[128];
	char object[128];
	unsigned char id[64];
	size_t id_len;
	char module[512];
	char serial[64];
};

static int pct_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *out_len)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				return -EINVAL;
			char hex[3] = {s[i + 1], s[i + 2], 0};
			c = (unsigned char)strtoul(hex, NULL, 16);
			i += 2;
		}
		if (k + 1 >= cap)
			return -ENAMETOOLONG;
		out[k++] = c;
	}
	out[k] = 0;
	*out_len = k;
	return 0;
}

/* RFC 7512: pkcs11:attr=value;attr=value?qattr=value&qattr=value */
static int parse_p11_uri(const char *uri, struct p11_uri *u, char *err, size_t len)
{
	memset(u, 0, sizeof *u);
	const char *p = uri + strlen("pkcs11:");
	const char *q = strchr(p, '?');
	const char *end_path = q ? q : p + strlen(p);
	for (int part = 0; part < 2; part++) {
		const char *s = part ? (q ? q + 1 : NULL) : p;
		const char *e = part ? (q ? q + strlen(q) : NULL) : end_path;
		char sep = part ? '&' : ';';
		while (s && s < e) {
			const char *next = memchr(s, sep, (size_t)(e - s));
			if (!next)
				next = e;
			const char *eq = memchr(s, '=', (size_t)(next - s));
			if (!eq && next > s)
				return sign_fail(-EINVAL, err, len,
						 "key: bad pkcs11: URI attribute \"%.*s\"",
						 (int)(next - s), s);
			if (eq) {
				size_t an = (size_t)(eq - s);
				const char *v = eq + 1;
				size_t vn = (size_t)(next - v), got = 0;
				unsigned char tmp[512];
				if (pct_decode(v, vn, tmp, sizeof tmp, &got) < 0)
					return sign_fail(
					    -EINVAL, err, len,
					    "key: bad value in the pkcs11: URI: \"%.*s\"",
					    (int)(next - s), s);
				if (an == 5 && !strncmp(s, "token", 5))
					snprintf(u->token, sizeof u->token, "%s", tmp);
				else if (an == 6 && !strncmp(s, "object", 6))
					snprintf(u->object, sizeof u->object, "%s", tmp);
				else if (an == 2 && !strncmp(s, "id", 2)) {
					if (got > sizeof u->id)
						return sign_fail(-EINVAL, err, len,
								 "key: the pkcs11: id is too long");
					memcpy(u->id, tmp, got);
					u->id_len = got;
				} else if (an == 11 && !strncmp(s, "module-path", 11))
					snprintf(u->module, sizeof u->module, "%s", tmp);
				else if (an == 6 && !strncmp(s, "serial", 6))
					snprintf(u->serial, sizeof u->serial, "%s", tmp);
				else if (an == 9 && !strncmp(s, "pin-value", 9))
					return sign_fail(-EINVAL, err, len,
							 "key: a PIN inside the pkcs11: URI is "
							 "refused; put it in pin_file");
				/* type=, manufacturer=, model=, library-*: accepted and ignored */
			}
			s = next + 1;
		}
	}
	return 0;
}

/* The token's PIN: the first line of pin_file, read under the host's policy
 * (its reason in err when refused). */
static int read_pin(const struct sign_config *cfg, char *pin, size_t cap, char *err, size_t len)
{
	if (!cfg->pin_file)
		return sign_fail(-EINVAL, err, len,
				 "pin_file is not set: a pkcs11: key needs the token's PIN");
	if (!cfg->secret_read)
		return sign_fail(-EINVAL, err, len,
				 "pin_file: no reader for secret files was given");
	return cfg->secret_read(cfg->secret_data, "pin_file", cfg->pin_file, MOTCUA_SECRET_LINE,
				pin, cap, NULL, err, len);
}

static const char *ckr_pin_reason(unsigned long e)
{
	switch (ERR_GET_REASON(e)) {
	case 0xA0:
		return "wrong PIN (CKR_PIN_INCORRECT)";
	case 0xA1:
		return "the PIN has characters the token refuses (CKR_PIN_INVALID)";
	case 0xA2:
		return "the PIN has the wrong length (CKR_PIN_LEN_RANGE)";
	case 0xA4:
		return "the PIN is locked after too many wrong tries (CKR_PIN_LOCKED)";
	case 0xA3:
		return "the PIN has expired (CKR_PIN_EXPIRED)";
	default:
		return NULL;
	}
}

static int open_token(struct sign_signer *s, const struct sign_config *cfg, char *err, size_t len)
{
	struct p11_uri u;
	int r = parse_p11_uri(cfg->key, &u, err, len);
	if (r < 0)
		return r;
	const char *module = cfg->pkcs11_module && cfg->pkcs11_module[0] ? cfg->pkcs11_module
			     : u.module[0]				 ? u.module
					   : SIGN_DEFAULT_PKCS11_MODULE;
	char pin[256];
	r = read_pin(cfg, pin, sizeof pin, err, len);
	if (r < 0)
		return r;
	s->token = true;
	s->p11 = PKCS11_CTX_new();
	if (!s->p11) {
		r = -ENOMEM;
		goto out;
	}
	if (PKCS11_CTX_load(s->p11, module) < 0) {
		r = sign_fail_ssl(-ENOENT, err, len, "cannot load the PKCS#11 module %s", module);
		PKCS11_CTX_free(s->p11);
		s->p11 = NULL;
		goto out;
	}
	if (PKCS11_enumerate_slots(s->p11, &s->slots, &s->n_slots) < 0) {
		r = sign_fail_ssl(-EIO, err, len, "PKCS#11 module %s: cannot list its slots",
				  module);
		goto out;
	}
	PKCS11_SLOT *slot = NULL;
	for (unsigned i = 0; i < s->n_slots; i++) {
		PKCS11_TOKEN *t = s->slots[i].token;
		if (!t || !t->initialized)
			continue;
		if (u.token[0] && strcmp(t->label, u.token) != 0)
			continue;
		if (u.serial[0] && strcmp(t->serialnr, u.serial) != 0)
			continue;
		slot = &s->slots[i];
		break;
	}
	if (!slot) {
		r = sign_fail(-ENODEV, err, len, "no PKCS#11 token%s%s%s in %s (is it plugged in?)",
			      u.token[0] ? " labelled \"" : "", u.token, u.token[0] ? "\"" : "",
			      module);
		goto out;
	}
	if (PKCS11_open_session(slot, 0) < 0) {
		r = sign_fail_ssl(-EIO, err, len, "token \"%s\": cannot open a session",
				  slot->token->label);
		goto out;
	}
	ERR_clear_error();
	int login = PKCS11_login(slot, 0, pin);
	OPENSSL_cleanse(pin, sizeof pin); /* the token has it now */
	if (login < 0) {
		unsigned long e = ERR_peek_last_error();
		const char *why = ckr_pin_reason(e);
		if (why)
			r = sign_fail(-EACCES, err, len, "token \"%s\": %s; check pin_file %s",
				      slot->token->label, why, cfg->pin_file);
		else
			r = sign_fail_ssl(-EACCES, err, len,
					  "token \"%s\": login with the PIN from %s failed",
					  slot->token->label, cfg->pin_file);
		ERR_clear_error();
		goto out;
	}
	PKCS11_KEY *keys = NULL;
	unsigned n_keys = 0;
	if (PKCS11_enumerate_keys(slot->token, &keys, &n_keys) < 0) {
		r = sign_fail_ssl(-EIO, err, len, "token \"%s\": cannot list its keys",
				  slot->token->label);
		goto out;
	}
	PKCS11_KEY *key = NULL;
	int matches = 0;
	for (unsigned i = 0; i < n_keys; i++) {
		if (!keys[i].isPrivate)
			continue;
		if (u.object[0] && (!keys[i].label || strcmp(keys[i].label, u.object) != 0))
			continue;
		if (u.id_len &&
		    (keys[i].id_len != u.id_len || memcmp(keys[i].id, u.id, u.id_len) != 0))
			continue;
		if (!key)
			key = &keys[i];
		matches++;
	}
	if (!key || matches > 1) {
		if (matches > 1)
			r = sign_fail(
			    -ENOENT, err, len,
			    "token \"%s\": %d private keys match the URI; add object= or id=",
			    slot->token->label, matches);
		else
			r = sign_fail(-ENOENT, err, len,
				      "token \"%s\": no private key matches the URI (the token "
				      "holds %u private keys)",
				      slot->token->label, n_keys);
		goto out;
	}
	s->pkey = PKCS11_get_private_key(key);
	if (!s->pkey) {
		r = sign_fail_ssl(-EIO, err, len, "token \"%s\": cannot use the private key",
				  slot->token->label);
		goto out;
	}
	if (!cfg->cert || !cfg->cert[0]) {
		PKCS11_CERT *c = PKCS11_find_certificate(key);
		if (!c || !c->x509) {
			r = sign_fail(-ENOENT, err, len,
				      "token \"%s\" holds no certificate for the key: set cert to "
				      "its PEM file",
				      slot->token->label);
			goto out;
		}
		s->cert = X509_dup(c->x509);
	}
	r = 0;
out:
	OPENSSL_cleanse(pin, sizeof pin);
	return r;
}

/* ---- the signer ---------------------------------------------------------------- */

/* A PEM key file: read whole under the host's policy (its reason in err when
 * refused), handed to OpenSSL from memory, then wiped. */
static int open_pem_key(struct sign_signer *s, const struct sign_config *cfg, char *err, size_t len)
{
	if (!cfg->secret_read)
		return sign_fail(-EINVAL, err, len, "key: no reader for secret files was given");
	size_t cap = MOTCUA_SECRET_MAX + 1, n = 0;
	char *pem = malloc(cap);
	if (!pem)
		return -ENOMEM;
	int r = cfg->secret_read(cfg->secret_data, "key", cfg->key, 0, pem, cap, &n, err, len);
	if (r < 0) {
		free(pem); /* wiped by secret_read */
		return r;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)n);
	if (bio)
		s->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	BIO_free(bio);
	OPENSSL_cleanse(pem, cap);
	free(pem);
	if (!bio)
		return -ENOMEM;
	if (!s->pkey)
		return sign_fail_ssl(-EINVAL, err, len,
				     "key: %s is not an unencrypted PEM private key", cfg->key);
	return 0;
}

static int check_key_strength(struct sign_signer *s, char *err, size_t len)
{
	int bits = EVP_PKEY_get_bits(s->pkey);
	if (EVP_PKEY_get_base_id(s->pkey) == EVP_PKEY_RSA) {
		if (bits < 2048)
			return sign_fail(-EINVAL, err, len,
					 "the RSA key has %d bits: at least 2048 are needed", bits);
		snprintf(s->algorithm, sizeof s->algorithm, "%s",
			 s->pss ? "RSA-PSS-SHA256" : "RSA-SHA256");
		return 0;
	}
	if (EVP_PKEY_get_base_id(s->pkey) == EVP_PKEY_EC) {
		char group[64] = "";
		size_t gl = 0;
		/* a token key may not answer this; its public half (the cert) does */
		EVP_PKEY *pub = X509_get0_pubkey(s->cert);
		if (!pub || !EVP_PKEY_get_utf8_string_param(pub, "group", group, sizeof group, &gl))
			return sign_fail(-EINVAL, err, len, "cannot tell the curve of the EC key");
		const char *name = !strcmp(group, "prime256v1")	 ? "P256"
				   : !strcmp(group, "secp384r1") ? "P384"
				   : !strcmp(group, "secp521r1") ? "P521"
								 : NULL;
		if (!name)
			return sign_fail(-EINVAL, err, len,
					 "the EC key is on curve %s: use P-256, P-384 or P-521",
					 group);
		s->is_ec = true;
		s->pss = false;
		snprintf(s->algorithm, sizeof s->algorithm, "ECDSA-%s-SHA256", name);
		return 0;
	}
	return sign_fail(-EINVAL, err, len, "the key is neither RSA nor EC (%s)",
			 OBJ_nid2sn(EVP_PKEY_get_base_id(s->pkey)));
}

int sign_signer_open(const struct sign_config *cfg, struct sign_signer **out, char *err, size_t len)
{
	if (!cfg->key || !cfg->key[0])
		return sign_fail(-EINVAL, err, len, "key is not set (a PEM file or a pkcs11: URI)");
	struct sign_signer *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->token_lock, NULL);
	s->pss = !cfg->rsa_pkcs1;
	int r;
	if (!strncmp(cfg->key, "pkcs11:", 7))
		r = open_token(s, cfg, err, len);
	else
		r = open_pem_key(s, cfg, err, len);
	if (r < 0)
		goto fail;
	if (cfg->cert && cfg->cert[0]) {
		STACK_OF(X509) *certs = NULL;
		r = load_certs(cfg->cert, &certs, err, len);
		if (r < 0)
			goto fail;
		s->cert = sk_X509_shift(certs);
		/* a cert file may carry its chain after the signer's certificate */
		s->chain = certs;
	} else if (!s->cert) {
		r = sign_fail(-EINVAL, err, len, "cert is not set (the signer's PEM certificate)");
		goto fail;
	}
	if (!s->chain)
		s->chain = sk_X509_new_null();
	if (cfg->chain && cfg->chain[0]) {
		STACK_OF(X509) *more = NULL;
		r = load_certs(cfg->chain, &more, err, len);
		if (r < 0)
			goto fail;
		X509 *x;
		while ((x = sk_X509_shift(more)) != NULL)
			sk_X509_push(s->chain, x);
		sk_X509_free(more);
	}
	ERR_clear_error();
	if (!X509_check_private_key(s->cert, s->pkey)) {
		r = sign_fail(-EINVAL, err, len, "the certificate %s does not belong to the key %s",
			      cfg->cert && cfg->cert[0] ? cfg->cert : "(from the token)", cfg->key);
		ERR_clear_error();
		goto fail;
	}
	r = check_key_strength(s, err, len);
	if (r < 0)
		goto fail;
	sign_cert_name(s->cert, s->name, sizeof s->name);
	if (cfg->tsa_url && cfg->tsa_url[0]) {
		s->tsa_url = strdup(cfg->tsa_url);
		s->tsa_timeout_s = cfg->tsa_timeout_s ? cfg->tsa_timeout_s : 10;
		if (cfg->trust && cfg->trust[0]) {
			s->tsa_trust = X509_STORE_new();
			if (!s->tsa_trust || !X509_STORE_load_file(s->tsa_trust, cfg->trust)) {
				r = sign_fail_ssl(-EINVAL, err, len,
						  "trust: cannot load the CA bundle %s",
						  cfg->trust);
				goto fail;
			}
		}
	}
	s->stamp = cfg->stamp;
	if (cfg->stamp) {
		char org[256] = "";
		if (cfg->organisation && cfg->organisation[0])
			snprintf(org, sizeof org, "%s", cfg->organisation);
		else
			subject_field(s->cert, NID_organizationName, org, sizeof org);
		s->organisation = strdup(org[0] ? org : s->name);
		const char *font = cfg->stamp_font && cfg->stamp_font[0] ? cfg->stamp_font
									 : SIGN_DEFAULT_STAMP_FONT;
		r = io_read_file(font, 64u << 20, &s->font, &s->font_len);
		if (r < 0) {
			sign_fail(r, err, len, "stamp: cannot read the font %s: %s", font,
				  strerror(-r));
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	sign_signer_free(s);
	return r;
}

void sign_signer_free(struct sign_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->pkey);
	X509_free(s->cert);
	sk_X509_pop_free(s->chain, X509_free);
	if (s->p11) {
		if (s->slots)
			PKCS11_release_all_slots(s->p11, s->slots, s->n_slots);
		PKCS11_CTX_unload(s->p11);
		PKCS11_CTX_free(s->p11);
	}
	pthread_mutex_destroy(&s->token_lock);
	free(s->tsa_url);
	X509_STORE_free(s->tsa_trust);
	free(s->organisation);
	free(s->font);
	free(s);
}

const char *sign_signer_name(const struct sign_signer *s)
{
	return s->name;
}

const char *sign_signer_algorithm(const struct sign_signer *s)
{
	return s->algorithm;
}
