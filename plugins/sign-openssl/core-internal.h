/* SPDX-License-Identifier: MIT */
/* sign-core internals shared by core-*.c; not installed, not for the plugin. */
#ifndef MOTCUA_SIGN_CORE_INTERNAL_H
#define MOTCUA_SIGN_CORE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "plugin-io.h" /* io_read_file, io_replace_file, io_read_chunks (plugins/common) */
#include "sign-core.h"

struct PKCS11_ctx_st;
struct PKCS11_slot_st;

struct sign_signer {
	EVP_PKEY *pkey;
	X509 *cert;
	STACK_OF(X509) * chain;
	bool pss; /* RSA-PSS (else PKCS#1 v1.5 for RSA) */
	bool is_ec;
	bool token; /* the key lives on a PKCS#11 token */
	pthread_mutex_t token_lock;
	struct PKCS11_ctx_st *p11;
	struct PKCS11_slot_st *slots;
	unsigned n_slots;
	char name[256];
	char algorithm[32];
	char *tsa_url;
	unsigned tsa_timeout_s;
	X509_STORE *tsa_trust; /* NULL: the TSA's signature is not checked at signing */
	bool stamp;
	char *organisation;
	unsigned char *font; /* the stamp's TrueType font */
	size_t font_len;
};

/* Writes a reason into err (if any), with the OpenSSL error queue's last
 * entry appended when there is one; returns r. */
int sign_fail(int r, char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int sign_fail_ssl(int r, char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Builds a detached CMS SignedData over the content digest (SHA-256, 32
 * bytes): content-type, message-digest, signing-certificate-v2 and, when
 * signing_time != 0, signing-time; then an RFC 3161 timestamp over the
 * signature value when a TSA is configured (res->timestamp or
 * res->timestamp_pending). *der is malloc()ed. */
int sign_cms_build(struct sign_signer *s, const unsigned char digest[32], time_t signing_time,
		   unsigned char **der, size_t *der_len, struct sign_result *res, char *err,
		   size_t len);
/* An estimate of the largest CMS sign_cms_build can make for this signer. */
size_t sign_cms_max_size(const struct sign_signer *s);

/* The RFC 3161 exchange: asks the TSA for a token over sha256(data).
 * -ETIMEDOUT / -ECONNREFUSED / -EHOSTUNREACH / -EPROTO (bad reply) with a
 * reason. *token (DER ContentInfo) is malloc()ed; *gen_time its time. */
int sign_tsa_request(struct sign_signer *s, const unsigned char *data, size_t data_len,
		     unsigned char **token, size_t *token_len, time_t *gen_time, char *err,
		     size_t len);

/* The stamp's appearance: writes the objects of a visible stamp, numbered
 * from first_obj, into *objs (malloc()ed); sets *ap_obj (the appearance
 * XObject's number), *n_objs and the rectangle on the page. */
struct sign_buf {
	char *data;
	size_t len, cap;
	bool failed;
};
void sign_buf_add(struct sign_buf *b, const void *data, size_t n);
void sign_buf_printf(struct sign_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int sign_stamp_objects(struct sign_signer *s, const char *org, time_t t, int first_obj,
		       const double page_box[4], int rotate, struct sign_buf *out, long *offsets,
		       int *n_objs, int *ap_obj, double rect[4], char *err, size_t len);

time_t sign_asn1_time_to_time_t(const ASN1_TIME *t);

#endif
