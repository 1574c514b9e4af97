/* SPDX-License-Identifier: MIT */
/*
 * sign-core: verification of PAdES signatures in a PDF and of detached
 * CAdES .p7s files: integrity (digest and signature value), the byte range
 * (the whole file but /Contents), the signer's chain to a trust bundle, the
 * RFC 3161 timestamp (imprint = the signature value's hash).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>
#include <qpdf/qpdf-c.h>

#include "core-internal.h"

void sign_cert_name(X509 *x, char *buf, size_t len);

#define MAX_VERIFY_BYTES ((size_t)1 << 30)

static void add_reason(struct sign_verify_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_reason(struct sign_verify_report *rep, const char *fmt, ...)
{
	size_t n = strlen(rep->reason);
	if (n && n + 3 < sizeof rep->reason) {
		memcpy(rep->reason + n, "; ", 3);
		n += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rep->reason + n, sizeof rep->reason - n, fmt, ap);
	va_end(ap);
}

static void ssl_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "no detail");
	ERR_clear_error();
}

static X509_STORE *load_trust(const char *trust, char *why, size_t len)
{
	X509_STORE *st = X509_STORE_new();
	if (!st)
		return NULL;
	if (!X509_STORE_load_file(st, trust)) {
		char e[160];
		ssl_error(e, sizeof e);
		snprintf(why, len, "cannot load the trust bundle %s (%s)", trust, e);
		X509_STORE_free(st);
		return NULL;
	}
	return st;
}

static void algorithm_name(CMS_SignerInfo *si, X509 *signer, char *buf, size_t len)
{
	X509_ALGOR *dig = NULL, *sig = NULL;
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
	const ASN1_OBJECT *o = NULL;
	X509_ALGOR_get0(&o, NULL, NULL, dig);
	const char *md = o ? OBJ_nid2sn(OBJ_obj2nid(o)) : "?";
	X509_ALGOR_get0(&o, NULL, NULL, sig);
	int nid = o ? OBJ_obj2nid(o) : NID_undef;
	char mdu[32];
	snprintf(mdu, sizeof mdu, "%s", md);
	for (char *p = mdu; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	switch (nid) {
	case NID_rsassaPss:
		snprintf(buf, len, "RSA-PSS-%s", mdu);
		break;
	case NID_rsaEncryption:
	case NID_sha256WithRSAEncryption:
	case NID_sha384WithRSAEncryption:
	case NID_sha512WithRSAEncryption:
		snprintf(buf, len, "RSA-%s", mdu);
		break;
	case NID_ecdsa_with_SHA256:
	case NID_ecdsa_with_SHA384:
	case NID_ecdsa_with_SHA512: {
		char group[32] = "";
		size_t gl;
		EVP_PKEY *pk = signer ? X509_get0_pubkey(signer) : NULL;
		if (pk)
			EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof group, &gl);
		snprintf(buf, len, "ECDSA-%s-%s",
			 !strcmp(group, "prime256v1")  ? "P256"
			 : !strcmp(group, "secp384r1") ? "P384"
			 : !strcmp(group, "secp521r1") ? "P521"
			 : group[0]		       ? group
						       : "?",
			 mdu);
		break;
	}
	default:
		snprintf(buf, len, "%s", o ? OBJ_nid2sn(nid) : "?");
	}
}

/* Checks the timestamp token in the unsigned attributes, if any. */
static void check_timestamp(CMS_SignerInfo *si, X509_STORE *store, struct sign_verify_report *rep)
{
	int i = CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken, -1);
	if (i < 0)
		return;
	X509_ATTRIBUTE *attr = CMS_unsigned_get_attr(si, i);
	ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(attr, 0);
	PKCS7 *tok = NULL;
	TS_TST_INFO *tst = NULL;
	TS_VERIFY_CTX *vctx = NULL;
	if (!t || t->type != V_ASN1_SEQUENCE) {
		add_reason(rep, "the timestamp attribute is malformed");
		goto out;
	}
	const unsigned char *p = t->value.sequence->data;
	tok = d2i_PKCS7(NULL, &p, t->value.sequence->length);
	tst = tok ? PKCS7_to_TS_TST_INFO(tok) : NULL;
	if (!tst) {
		add_reason(rep, "the timestamp token cannot be read");
		goto out;
	}
	rep->timestamp = sign_asn1_time_to_time_t(TS_TST_INFO_get_time(tst));
	snprintf(rep->level, sizeof rep->level, "B-T");
	const ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
	unsigned char *imprint = OPENSSL_malloc(32);
	vctx = TS_VERIFY_CTX_new();
	if (!imprint || !vctx) {
		OPENSSL_free(imprint);
		goto out;
	}
	SHA256(ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig), imprint);
	TS_VERIFY_CTX_set_imprint(vctx, imprint, 32);
	int flags = TS_VFY_VERSION | TS_VFY_IMPRINT;
	if (store) {
		X509_STORE_up_ref(store);
		TS_VERIFY_CTX_set_store(vctx, store);
		flags |= TS_VFY_SIGNATURE;
	}
	TS_VERIFY_CTX_set_flags(vctx, flags);
	if (TS_RESP_verify_token(vctx, tok) == 1) {
		rep->timestamp_valid = store != NULL;
		if (!store)
			add_reason(rep, "the timestamp matches but its signer was not checked (no "
					"trust bundle)");
	} else {
		char e[160];
		ssl_error(e, sizeof e);
		add_reason(rep, "the timestamp is not valid (%s)", e);
	}
out:
	ERR_clear_error();
	TS_VERIFY_CTX_free(vctx);
	TS_TST_INFO_free(tst);
	PKCS7_free(tok);
}

static time_t signing_time_attr(CMS_SignerInfo *si)
{
	int i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	if (i < 0)
		return 0;
	ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, i), 0);
	if (!t || (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME))
		return 0;
	return sign_asn1_time_to_time_t((const ASN1_TIME *)t->value.utctime);
}

/* Verifies one CMS over content: integrity, signer, chain, timestamp. */
static void check_cms(CMS_ContentInfo *cms, BIO *content, const char *trust,
		      struct sign_verify_report *rep)
{
	char why[256];
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		add_reason(rep, "the CMS has %d signers (1 expected)", sk_CMS_SignerInfo_num(sis));
		return;
	}
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);
	if (CMS_verify(cms, NULL, NULL, content, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) ==
	    1) {
		rep->integrity = true;
	} else {
		ssl_error(why, sizeof why);
		add_reason(rep, "the signature does not match the signed data (%s)", why);
	}
	CMS_set1_signers_certs(cms, NULL, 0);
	X509 *signer = NULL;
	CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
	if (!signer) {
		add_reason(rep, "the signer's certificate is not in the signature");
		ERR_clear_error();
		return;
	}
	sign_cert_name(signer, rep->signer, sizeof rep->signer);
	BIO *nb = BIO_new(BIO_s_mem());
	if (nb) {
		X509_NAME_print_ex(nb, X509_get_subject_name(signer), 0,
				   XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
		int k = BIO_read(nb, rep->signer_subject, (int)sizeof rep->signer_subject - 1);
		rep->signer_subject[k > 0 ? k : 0] = 0;
		BIO_free(nb);
	}
	algorithm_name(si, signer, rep->algorithm, sizeof rep->algorithm);
	if (!rep->signing_time)
		rep->signing_time = signing_time_attr(si);
	snprintf(rep->level, sizeof rep->level, "B-B");

	X509_STORE *store = NULL;
	if (trust && trust[0])
		store = load_trust(trust, rep->chain_error, sizeof rep->chain_error);
	else
		snprintf(rep->chain_error, sizeof rep->chain_error, "no trust bundle given");
	check_timestamp(si, store, rep);
	if (store) {
		STACK_OF(X509) *certs = CMS_get1_certs(cms);
		X509_STORE_CTX *ctx = X509_STORE_CTX_new();
		if (ctx && X509_STORE_CTX_init(ctx, store, signer, certs)) {
			X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY);
			/* a valid timestamp proves the signature existed then */
			if (rep->timestamp && rep->timestamp_valid)
				X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx),
							   rep->timestamp);
			if (X509_verify_cert(ctx) == 1)
				rep->chain_ok = true;
			else
				snprintf(
				    rep->chain_error, sizeof rep->chain_error, "%s",
				    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		}
		X509_STORE_CTX_free(ctx);
		sk_X509_pop_free(certs, X509_free);
		X509_STORE_free(store);
	}
	if (!rep->chain_ok)
		add_reason(rep, "the signer does not chain to the trust bundle: %s",
			   rep->chain_error);
	ERR_clear_error();
}

/* "D:YYYYMMDDHHmmSS+HH'mm'" (parts from the right may be missing). */
static time_t pdf_date(const char *s)
{
	if (!s || strncmp(s, "D:", 2) != 0)
		return 0;
	s += 2;
	int v[6] = {0, 1, 1, 0, 0, 0}, w[6] = {4, 2, 2, 2, 2, 2};
	for (int i = 0; i < 6; i++) {
		if (!isdigit((unsigned char)s[0]))
			break;
		int x = 0;
		for (int k = 0; k < w[i]; k++) {
			if (!isdigit((unsigned char)s[k]))
				return 0;
			x = x * 10 + (s[k] - '0');
		}
		v[i] = x;
		s += w[i];
	}
	struct tm tm = {.tm_year = v[0] - 1900,
			.tm_mon = v[1] - 1,
			.tm_mday = v[2],
			.tm_hour = v[3],
			.tm_min = v[4],
			.tm_sec = v[5]};
	time_t t = timegm(&tm);
	if (*s == '+' || *s == '-') {
		int sign = *s == '-' ? -1 : 1, hh = 0, mm = 0;
		sscanf(s + 1, "%2d'%2d", &hh, &mm);
		t -= sign * (hh * 3600 + mm * 60);
	}
	return t;
}

struct pdf_sig {
	long long br[4];
	time_t m;
};

static void collect_sigs(qpdf_data q, qpdf_oh fields, struct pdf_sig *sigs, int *n, int max,
			 int depth)
{
	if (!qpdf_oh_is_array(q, fields) || depth > 16)
		return;
	int k = qpdf_oh_get_array_n_items(q, fields);
	for (int i = 0; i < k && *n < max; i++) {
		qpdf_oh f = qpdf_oh_get_array_item(q, fields, i);
		if (!qpdf_oh_is_dictionary(q, f))
			continue;
		if (qpdf_oh_has_key(q, f, "/Kids"))
			collect_sigs(q, qpdf_oh_get_key(q, f, "/Kids"), sigs, n, max, depth + 1);
		qpdf_oh v = qpdf_oh_get_key(q, f, "/V");
		if (!qpdf_oh_is_dictionary(q, v) || !qpdf_oh_has_key(q, v, "/ByteRange"))
			continue;
		qpdf_oh br = qpdf_oh_get_key(q, v, "/ByteRange");
		if (!qpdf_oh_is_array(q, br) || qpdf_oh_get_array_n_items(q, br) != 4)
			continue;
		struct pdf_sig *s = &sigs[(*n)++];
		for (int j = 0; j < 4; j++) {
			qpdf_oh x = qpdf_oh_get_array_item(q, br, j);
			s->br[j] = qpdf_oh_is_integer(q, x) ? qpdf_oh_get_int_value(q, x) : -1;
		}
		qpdf_oh m = qpdf_oh_get_key(q, v, "/M");
		s->m = qpdf_oh_is_string(q, m) ? pdf_date(qpdf_oh_get_utf8_value(q, m)) : 0;
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Checks one signature's byte range against the file and verifies it. */
static void check_pdf_sig(const unsigned char *f, size_t n, const struct pdf_sig *s,
			  const char *trust, struct sign_verify_report *rep)
{
	long long a = s->br[1], b = s->br[2], c = s->br[3];
	if (s->br[0] != 0 || a <= 0 || b <= a + 1 || c < 0 || (unsigned long long)(b + c) > n ||
	    f[a] != '<' || f[b - 1] != '>') {
		add_reason(rep,
			   "the /ByteRange [%lld %lld %lld %lld] does not fit the file (%zu bytes)",
			   s->br[0], a, b, c, n);
		return;
	}
	/* /Contents: hex of one case, nothing else, zeros after the DER */
	size_t hl = (size_t)(b - a - 2);
	const unsigned char *h = f + a + 1;
	unsigned char *der = malloc(hl / 2 + 1);
	unsigned char *content = malloc((size_t)(a + c) + 1);
	CMS_ContentInfo *cms = NULL;
	BIO *bio = NULL;
	if (!der || !content)
		goto out;
	bool upper = false, lower = false;
	if (hl % 2) {
		add_reason(rep, "the signature's /Contents has an odd number of hex digits");
		goto out;
	}
	for (size_t i = 0; i < hl; i += 2) {
		int hi = hexval(h[i]), lo = hexval(h[i + 1]);
		if (hi < 0 || lo < 0) {
			add_reason(
			    rep,
			    "the signature's /Contents holds a byte that is not hex at offset %lld",
			    a + 1 + (long long)i);
			goto out;
		}
		upper |= isupper(h[i]) || isupper(h[i + 1]);
		lower |= islower(h[i]) || islower(h[i + 1]);
		der[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	if (upper && lower) {
		add_reason(
		    rep,
		    "the signature's /Contents mixes upper and lower case hex: it was altered");
		goto out;
	}
	const unsigned char *p = der;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)(hl / 2));
	if (!cms) {
		char e[160];
		ssl_error(e, sizeof e);
		add_reason(rep, "the signature's /Contents is not a CMS SignedData (%s)", e);
		goto out;
	}
	for (const unsigned char *z = p; z < der + hl / 2; z++)
		if (*z) {
			add_reason(rep, "the space after the signature in /Contents was altered");
			goto out;
		}
	memcpy(content, f, (size_t)a);
	memcpy(content + a, f + b, (size_t)c);
	bio = BIO_new_mem_buf(content, (int)(a + c));
	if (!bio)
		goto out;
	rep->signing_time = s->m;
	check_cms(cms, bio, trust, rep);
	if (s->m && rep->signing_time != s->m)
		rep->signing_time = s->m;
out:
	BIO_free(bio);
	CMS_ContentInfo_free(cms);
	free(der);
	free(content);
}

int sign_verify_pdf(const char *pdf_path, const char *trust, struct sign_verify_report *rep)
{
	memset(rep, 0, sizeof *rep);
	unsigned char *f = NULL;
	size_t n = 0;
	int r = io_read_file(pdf_path, MAX_VERIFY_BYTES, &f, &n);
	if (r < 0)
		return r;
	if (!memmem(f, n < 1024 ? n : 1024, "%PDF-", 5)) {
		snprintf(rep->reason, sizeof rep->reason, "%s is not a PDF", pdf_path);
		free(f);
		return 0;
	}
	qpdf_data q = qpdf_init();
	qpdf_silence_errors(q);
	qpdf_set_suppress_warnings(q, QPDF_TRUE);
	struct pdf_sig sigs[64];
	int ns = 0;
	if (qpdf_read_memory(q, pdf_path, (const char *)f, (unsigned long long)n, NULL) &
	    QPDF_ERRORS) {
		add_reason(rep, "the PDF cannot be read: %s",
			   qpdf_has_error(q) ? qpdf_get_error_full_text(q, qpdf_get_error(q))
					     : "?");
		goto out;
	}
	qpdf_oh af = qpdf_oh_get_key(q, qpdf_get_root(q), "/AcroForm");
	if (qpdf_oh_is_dictionary(q, af))
		collect_sigs(q, qpdf_oh_get_key(q, af, "/Fields"), sigs, &ns, 64, 0);
	rep->n_signatures = ns;
	if (ns == 0) {
		add_reason(rep, "the PDF has no signature");
		goto out;
	}
	snprintf(rep->format, sizeof rep->format, "PAdES");
	/* earlier signatures: integrity only; the last one: everything */
	int last = 0;
	for (int i = 1; i < ns; i++)
		if (sigs[i].br[2] + sigs[i].br[3] > sigs[last].br[2] + sigs[last].br[3])
			last = i;
	bool earlier_ok = true;
	for (int i = 0; i < ns; i++) {
		if (i == last)
			continue;
		struct sign_verify_report tmp = {0};
		check_pdf_sig(f, n, &sigs[i], NULL, &tmp);
		if (!tmp.integrity) {
			earlier_ok = false;
			add_reason(rep, "an earlier signature (%s) is broken: %s",
				   tmp.signer[0] ? tmp.signer : "?", tmp.reason);
		}
	}
	check_pdf_sig(f, n, &sigs[last], trust, rep);
	long long end = sigs[last].br[2] + sigs[last].br[3];
	if (end > 0 && (size_t)end <= n) {
		rep->appended_bytes = (long long)n - end;
		rep->whole_file = rep->appended_bytes == 0;
		if (rep->appended_bytes)
			add_reason(
			    rep,
			    "%lld bytes were added after the last signature and are not signed",
			    rep->appended_bytes);
	}
	bool ts_ok = !rep->timestamp || rep->timestamp_valid;
	rep->ok = earlier_ok && rep->integrity && rep->chain_ok && rep->whole_file && ts_ok;
out:
	qpdf_cleanup(&q);
	free(f);
	return 0;
}

int sign_verify_cades(const char *p7s_path, const char *data_path, const char *trust,
		      struct sign_verify_report *rep)
{
	memset(rep, 0, sizeof *rep);
	unsigned char *d = NULL;
	size_t n = 0;
	int r = io_read_file(p7s_path, 64u << 20, &d, &n);
	if (r < 0)
		return r;
	const unsigned char *p = d;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)n);
	if (!cms) { /* PEM, as `openssl cms -outform PEM` writes */
		BIO *mb = BIO_new_mem_buf(d, (int)n);
		cms = mb ? PEM_read_bio_CMS(mb, NULL, NULL, NULL) : NULL;
		BIO_free(mb);
	} else if (p != d + n) {
		add_reason(rep, "%zu bytes follow the signature in %s", (size_t)(d + n - p),
			   p7s_path);
	}
	free(d);
	rep->n_signatures = cms ? 1 : 0;
	if (!cms) {
		char e[160];
		ssl_error(e, sizeof e);
		add_reason(rep, "%s is not a CMS signature (%s)", p7s_path, e);
		return 0;
	}
	snprintf(rep->format, sizeof rep->format, "CAdES");
	BIO *data = BIO_new_file(data_path, "rb");
	if (!data) {
		CMS_ContentInfo_free(cms);
		ERR_clear_error();
		return -errno ? -errno : -ENOENT;
	}
	bool trailing = rep->reason[0] != 0;
	check_cms(cms, data, trust, rep);
	BIO_free(data);
	CMS_ContentInfo_free(cms);
	rep->whole_file = true;
	bool ts_ok = !rep->timestamp || rep->timestamp_valid;
	rep->ok = !trailing && rep->integrity && rep->chain_ok && ts_ok;
	return 0;
}
