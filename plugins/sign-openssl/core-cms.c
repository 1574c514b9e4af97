/* SPDX-License-Identifier: MIT */
/*
 * sign-core: the CMS SignedData of PAdES and CAdES signatures, and the
 * RFC 3161 exchange with a TSA.
 *
 * OpenSSL's CMS_final() always adds a signing-time attribute, which PAdES
 * baseline forbids (ETSI EN 319 142-1, 5.2.1: the time is the signature
 * dictionary's /M). So the signer info is built with OpenSSL's CMS API
 * (CMS_PARTIAL), its attributes are added here, and the signature over the
 * DER of the signed attributes is made here with EVP_DigestSign, which also
 * works for a token's key (libp11 gives a "foreign" EVP_PKEY).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ts.h>

#include "core-internal.h"

/* The signed attributes as a DER SET OF, sorted, as signed (RFC 5652 5.4). */
typedef STACK_OF(X509_ATTRIBUTE) SIGN_ATTRS;
DECLARE_ASN1_ITEM(SIGN_ATTRS)
ASN1_ITEM_TEMPLATE(SIGN_ATTRS) = ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SET_ORDER, 0, SignedAttributes,
						       X509_ATTRIBUTE)
    ASN1_ITEM_TEMPLATE_END(SIGN_ATTRS)

#define TSA_MAX_REPLY (1u << 20)

	static int set_pss_algor(X509_ALGOR * alg)
{
	int ok = 0;
	RSA_PSS_PARAMS *pp = RSA_PSS_PARAMS_new();
	X509_ALGOR *mgf1md = X509_ALGOR_new();
	ASN1_STRING *mgf = NULL, *os = NULL;
	if (!pp || !mgf1md)
		goto out;
	pp->hashAlgorithm = X509_ALGOR_new();
	pp->maskGenAlgorithm = X509_ALGOR_new();
	pp->saltLength = ASN1_INTEGER_new();
	if (!pp->hashAlgorithm || !pp->maskGenAlgorithm || !pp->saltLength)
		goto out;
	X509_ALGOR_set_md(pp->hashAlgorithm, EVP_sha256());
	X509_ALGOR_set_md(mgf1md, EVP_sha256());
	mgf = ASN1_item_pack(mgf1md, ASN1_ITEM_rptr(X509_ALGOR), NULL);
	if (!mgf ||
	    !X509_ALGOR_set0(pp->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE, mgf))
		goto out;
	mgf = NULL;
	if (!ASN1_INTEGER_set(pp->saltLength, 32))
		goto out;
	os = ASN1_item_pack(pp, ASN1_ITEM_rptr(RSA_PSS_PARAMS), NULL);
	if (!os || !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, os))
		goto out;
	os = NULL;
	ok = 1;
out:
	ASN1_STRING_free(mgf);
	ASN1_STRING_free(os);
	X509_ALGOR_free(mgf1md);
	RSA_PSS_PARAMS_free(pp);
	return ok;
}

/* Signs the DER of the signed attributes into the signer info. */
static int sign_attrs(struct sign_signer *s, CMS_SignerInfo *si, char *err, size_t len)
{
	SIGN_ATTRS *sk = sk_X509_ATTRIBUTE_new_null();
	unsigned char *abuf = NULL, *sig = NULL;
	EVP_MD_CTX *mctx = NULL;
	int r = -ENOMEM;
	if (!sk)
		goto out;
	for (int i = 0; i < CMS_signed_get_attr_count(si); i++)
		if (!sk_X509_ATTRIBUTE_push(sk, CMS_signed_get_attr(si, i)))
			goto out;
	int alen = ASN1_item_i2d((ASN1_VALUE *)sk, &abuf, ASN1_ITEM_rptr(SIGN_ATTRS));
	if (alen <= 0) {
		r = sign_fail_ssl(-EINVAL, err, len, "cannot encode the signed attributes");
		goto out;
	}
	mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	if (!mctx)
		goto out;
	if (s->token)
		pthread_mutex_lock(&s->token_lock);
	size_t siglen = 0;
	int ok = EVP_DigestSignInit(mctx, &pctx, EVP_sha256(), NULL, s->pkey) > 0;
	if (ok && s->pss)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) > 0 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0;
	ok = ok && EVP_DigestSign(mctx, NULL, &siglen, abuf, (size_t)alen) > 0;
	ok = ok && (sig = OPENSSL_malloc(siglen)) != NULL;
	ok = ok && EVP_DigestSign(mctx, sig, &siglen, abuf, (size_t)alen) > 0;
	if (s->token)
		pthread_mutex_unlock(&s->token_lock);
	if (!ok) {
		r = sign_fail_ssl(-EIO, err, len, "the %s key refused to sign%s", s->algorithm,
				  s->token ? " (token removed or logged out?)" : "");
		goto out;
	}
	X509_ALGOR *alg = NULL;
	CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &alg);
	if (s->is_ec)
		ok = X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL);
	else if (s->pss)
		ok = set_pss_algor(alg);
	else
		ok = X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256WithRSAEncryption), V_ASN1_NULL,
				     NULL);
	if (!ok)
		goto out;
	ASN1_STRING_set0(CMS_SignerInfo_get0_signature(si), sig, (int)siglen);
	sig = NULL;
	r = 0;
out:
	OPENSSL_free(sig);
	OPENSSL_free(abuf);
	EVP_MD_CTX_free(mctx);
	sk_X509_ATTRIBUTE_free(sk); /* the attributes stay the signer info's */
	return r;
}

size_t sign_cms_max_size(const struct sign_signer *s)
{
	size_t n = 4096 + (size_t)i2d_X509(s->cert, NULL);
	for (int i = 0; i < sk_X509_num(s->chain); i++)
		n += (size_t)i2d_X509(sk_X509_value(s->chain, i), NULL);
	if (s->tsa_url)
		n += 12288; /* a token with the TSA's certificate and chain */
	return n;
}

int sign_cms_build(struct sign_signer *s, const unsigned char digest[32], time_t signing_time,
		   unsigned char **der, size_t *der_len, struct sign_result *res, char *err,
		   size_t len)
{
	int r = -ENOMEM;
	unsigned char *token = NULL;
	ASN1_TIME *st = NULL;
	CMS_ContentInfo *cms =
	    CMS_sign(NULL, NULL, NULL, NULL, CMS_DETACHED | CMS_BINARY | CMS_PARTIAL);
	if (!cms)
		return sign_fail_ssl(-ENOMEM, err, len, "cannot start a CMS SignedData");
	CMS_SignerInfo *si = CMS_add1_signer(cms, s->cert, s->pkey, EVP_sha256(),
					     CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP | CMS_CADES);
	if (!si) {
		r = sign_fail_ssl(-EINVAL, err, len, "cannot add the signer to the CMS");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(s->chain); i++)
		if (!CMS_add1_cert(cms, sk_X509_value(s->chain, i)))
			goto out;
	if (CMS_signed_get_attr_by_NID(si, NID_pkcs9_contentType, -1) < 0 &&
	    !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType, V_ASN1_OBJECT,
					 OBJ_nid2obj(NID_pkcs7_data), -1))
		goto out;
	if (!CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, digest,
					 32))
		goto out;
	if (CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, -1) < 0) {
		r = sign_fail(-EINVAL, err, len,
			      "OpenSSL did not add the signing-certificate-v2 attribute");
		goto out;
	}
	if (signing_time) {
		st = ASN1_TIME_set(NULL, signing_time);
		if (!st ||
		    !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, st->type, st, -1))
			goto out;
	}
	r = sign_attrs(s, si, err, len);
	if (r < 0)
		goto out;
	snprintf(res->level, sizeof res->level, "B-B");
	if (s->tsa_url) {
		const ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
		size_t token_len = 0;
		time_t gen = 0;
		int t = sign_tsa_request(s, ASN1_STRING_get0_data(sig),
					 (size_t)ASN1_STRING_length(sig), &token, &token_len, &gen,
					 res->tsa_error, sizeof res->tsa_error);
		if (t == 0) {
			if (!CMS_unsigned_add1_attr_by_NID(si, NID_id_smime_aa_timeStampToken,
							   V_ASN1_SEQUENCE, token,
							   (int)token_len)) {
				r = sign_fail_ssl(-ENOMEM, err, len,
						  "cannot add the timestamp to the CMS");
				goto out;
			}
			res->timestamp = gen;
			snprintf(res->level, sizeof res->level, "B-T");
		} else {
			res->timestamp_pending = true;
		}
	}
	unsigned char *out = NULL;
	int n = i2d_CMS_ContentInfo(cms, &out);
	if (n <= 0) {
		r = sign_fail_ssl(-EINVAL, err, len, "cannot encode the CMS");
		goto out;
	}
	*der = malloc((size_t)n);
	if (!*der) {
		OPENSSL_free(out);
		r = -ENOMEM;
		goto out;
	}
	memcpy(*der, out, (size_t)n);
	OPENSSL_free(out);
	*der_len = (size_t)n;
	snprintf(res->signer, sizeof res->signer, "%s", s->name);
	snprintf(res->algorithm, sizeof res->algorithm, "%s", s->algorithm);
	r = 0;
out:
	if (r == -ENOMEM && err && !err[0])
		sign_fail_ssl(r, err, len, "out of memory building the CMS");
	free(token);
	ASN1_TIME_free(st);
	CMS_ContentInfo_free(cms);
	return r;
}

/* ---- RFC 3161 ---------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *data)
{
	struct sign_buf *b = data;
	if (b->len + size * n > TSA_MAX_REPLY)
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	sign_buf_add(b, ptr, size * n);
	return b->failed ? 0 : size * n;
}

static TS_REQ *make_request(const unsigned char *hash)
{
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *algo = X509_ALGOR_new();
	ASN1_INTEGER *nonce = NULL;
	BIGNUM *bn = BN_new();
	bool ok = req && mi && algo && bn && TS_REQ_set_version(req, 1) &&
		  X509_ALGOR_set0(algo, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) &&
		  TS_MSG_IMPRINT_set_algo(mi, algo) &&
		  TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)hash, 32) &&
		  TS_REQ_set_msg_imprint(req, mi) &&
		  BN_rand(bn, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
		  (nonce = BN_to_ASN1_INTEGER(bn, NULL)) != NULL && TS_REQ_set_nonce(req, nonce) &&
		  TS_REQ_set_cert_req(req, 1);
	ASN1_INTEGER_free(nonce);
	BN_free(bn);
	X509_ALGOR_free(algo);
	TS_MSG_IMPRINT_free(mi);
	if (!ok) {
		TS_REQ_free(req);
		return NULL;
	}
	return req;
}

int sign_tsa_request(struct sign_signer *s, const unsigned char *data, size_t data_len,
		     unsigned char **token, size_t *token_len, time_t *gen_time, char *err,
		     size_t len)
{
	unsigned char hash[32];
	SHA256(data, data_len, hash);
	TS_REQ *req = make_request(hash);
	if (!req)
		return sign_fail_ssl(-ENOMEM, err, len, "cannot make the timestamp request");
	unsigned char *qder = NULL;
	int qlen = i2d_TS_REQ(req, &qder);
	struct sign_buf body = {0};
	TS_RESP *resp = NULL;
	TS_VERIFY_CTX *vctx = NULL;
	int r;
	if (qlen <= 0) {
		r = sign_fail_ssl(-ENOMEM, err, len, "cannot encode the timestamp request");
		goto out;
	}
	pthread_once(&curl_once, curl_init_once);
	CURL *c = curl_easy_init();
	if (!c) {
		r = sign_fail(-ENOMEM, err, len, "cannot start an HTTP client");
		goto out;
	}
	struct curl_slist *hdr =
	    curl_slist_append(NULL, "Content-Type: application/timestamp-query");
	char cerr[CURL_ERROR_SIZE] = "";
	long timeout = (long)s->tsa_timeout_s;
	curl_easy_setopt(c, CURLOPT_URL, s->tsa_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout < 5 ? timeout : 5L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)qder);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)qlen);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "motcua-sign-openssl");
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		r = cc == CURLE_OPERATION_TIMEDOUT     ? -ETIMEDOUT
		    : cc == CURLE_COULDNT_CONNECT      ? -ECONNREFUSED
		    : cc == CURLE_COULDNT_RESOLVE_HOST ? -EHOSTUNREACH
						       : -EIO;
		r = sign_fail(r, err, len, "TSA %s unreachable: %s", s->tsa_url,
			      cerr[0] ? cerr : curl_easy_strerror(cc));
		goto out;
	}
	if (status != 200) {
		r = sign_fail(-EPROTO, err, len, "TSA %s answered HTTP %ld", s->tsa_url, status);
		goto out;
	}
	const unsigned char *p = (const unsigned char *)body.data;
	resp = body.data ? d2i_TS_RESP(NULL, &p, (long)body.len) : NULL;
	if (!resp) {
		r = sign_fail_ssl(-EPROTO, err, len, "TSA %s did not answer with a timestamp reply",
				  s->tsa_url);
		goto out;
	}
	vctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL);
	if (!vctx) {
		r = -ENOMEM;
		goto out;
	}
	int flags = TS_VFY_VERSION | TS_VFY_IMPRINT | TS_VFY_NONCE;
	if (s->tsa_trust) {
		X509_STORE_up_ref(s->tsa_trust);
		TS_VERIFY_CTX_set_store(vctx, s->tsa_trust);
		flags |= TS_VFY_SIGNATURE;
	}
	TS_VERIFY_CTX_set_flags(vctx, flags);
	if (!TS_RESP_verify_response(vctx, resp)) {
		r = sign_fail_ssl(-EPROTO, err, len, "TSA %s: the reply does not check out",
				  s->tsa_url);
		goto out;
	}
	PKCS7 *tok = TS_RESP_get_token(resp);
	unsigned char *tder = NULL;
	int tlen = i2d_PKCS7(tok, &tder);
	if (tlen <= 0) {
		r = sign_fail_ssl(-EPROTO, err, len, "TSA %s: cannot encode its token", s->tsa_url);
		goto out;
	}
	*token = malloc((size_t)tlen);
	if (!*token) {
		OPENSSL_free(tder);
		r = -ENOMEM;
		goto out;
	}
	memcpy(*token, tder, (size_t)tlen);
	OPENSSL_free(tder);
	*token_len = (size_t)tlen;
	*gen_time = sign_asn1_time_to_time_t(TS_TST_INFO_get_time(TS_RESP_get_tst_info(resp)));
	r = 0;
out:
	ERR_clear_error();
	TS_VERIFY_CTX_free(vctx);
	TS_RESP_free(resp);
	free(body.data);
	OPENSSL_free(qder);
	TS_REQ_free(req);
	return r;
}
