/* SPDX-License-Identifier: MIT */
/*
 * sign-core: PAdES and CAdES signatures, RFC 3161 timestamps and their
 * verification, on OpenSSL 3, qpdf (C API), libp11 and libcurl.
 *
 * Everything here is library code: it does not log. Every function that can
 * fail returns 0 or a negative errno and, when the caller gives a buffer,
 * writes there a reason a clerk or an operator can act on.
 *
 * Ownership: pointers passed in are borrowed for the duration of the call.
 * A struct sign_signer may be used from several threads at once (signing
 * with a PKCS#11 key is serialised inside).
 */
#ifndef MOTCUA_SIGN_CORE_H
#define MOTCUA_SIGN_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default PKCS#11 module when neither the URI's module-path nor the
 * configuration names one: SoftHSM2 as Debian installs it. */
#define SIGN_DEFAULT_PKCS11_MODULE "/usr/lib/softhsm/libsofthsm2.so"
/* Default TrueType font of the visible stamp (fonts-dejavu-core). */
#define SIGN_DEFAULT_STAMP_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

struct sign_config {
	const char *key;	   /* PEM file (read with secret_read) or a pkcs11: URI */
	const char *cert;	   /* PEM certificate of the signer (required for a PEM
				    * key; for a token, taken from it when NULL) */
	const char *chain;	   /* PEM bundle of intermediate certificates, or NULL */
	const char *pin_file;	   /* the token's user PIN (first line; read with
				    * secret_read), or NULL */
	const char *pkcs11_module; /* NULL: the URI's module-path or SoftHSM2's */
	const char *tsa_url;	   /* http(s) URL of an RFC 3161 TSA, or NULL */
	unsigned tsa_timeout_s;	   /* bound on one TSA exchange; 0 = 10 s */
	const char *trust;	   /* CA bundle a TSA reply must chain to, or NULL */
	bool rsa_pkcs1;		   /* RSA PKCS#1 v1.5 instead of RSA-PSS */
	/* Visible stamp at the top right of page 1 (PDF only). */
	bool stamp;
	const char *organisation; /* the stamp's first line (UTF-8); default: the
				   * certificate's O or CN */
	const char *stamp_font;	  /* TrueType font; NULL = SIGN_DEFAULT_STAMP_FONT */
	/* Reads a secret file (the PEM key, the PIN) under the gateway's one
	 * policy, with the contract of motcua_host.secret_read() in
	 * <motcua/plugin.h> (data is secret_data). The plugin passes the host's;
	 * required for a PEM key and for pin_file. The core wipes what it read
	 * as soon as OpenSSL or the token has it. */
	int (*secret_read)(void *data, const char *key, const char *path, unsigned flags, char *buf,
			   size_t size, size_t *len, char *why, size_t why_len);
	void *secret_data;
};

struct sign_signer;

/* Loads the key, the certificate and the chain, checks that they belong
 * together, that the key is strong enough (RSA >= 2048 bits, ECDSA P-256,
 * P-384 or P-521) and, for a token, logs in with the PIN. *out is owned by
 * the caller (sign_signer_free). */
int sign_signer_open(const struct sign_config *cfg, struct sign_signer **out, char *err,
		     size_t len);
void sign_signer_free(struct sign_signer *s);
/* The signer's display name (certificate CN, else O, else the subject). */
const char *sign_signer_name(const struct sign_signer *s);
/* "RSA-PSS-SHA256", "RSA-SHA256" or "ECDSA-P256-SHA256" (and so on). */
const char *sign_signer_algorithm(const struct sign_signer *s);

struct sign_result {
	char format[8]; /* "PAdES" or "CAdES" */
	char level[8];	/* "B-B" or "B-T" */
	char signer[256];
	char algorithm[32];
	time_t signed_at;
	time_t timestamp;	/* genTime of the timestamp, 0 when none */
	bool timestamp_pending; /* a TSA is configured but could not be reached */
	char tsa_error[256];	/* why, when timestamp_pending */
};

/* Signs the PDF at in_path into out_path (PAdES B-B, or B-T when a TSA is
 * configured and answers). The input is normalised with qpdf, then one
 * incremental update with the signature is appended. The output is written
 * to a temporary file next to out_path and renamed: on failure nothing is
 * left at out_path. -EINVAL: the input is not a readable PDF (permanent).
 * now = 0 means the current time. */
int sign_pdf(struct sign_signer *s, const char *in_path, const char *out_path, time_t now,
	     struct sign_result *res, char *err, size_t len);
/* The same on memory: *out is malloc()ed (the caller frees it). */
int sign_pdf_buffer(struct sign_signer *s, const unsigned char *in, size_t in_len, time_t now,
		    unsigned char **out, size_t *out_len, struct sign_result *res, char *err,
		    size_t len);

/* Writes a detached CAdES signature (DER CMS SignedData) of the file at
 * in_path to p7s_path (B-B, or B-T with a TSA); atomically as sign_pdf. */
int sign_cades(struct sign_signer *s, const char *in_path, const char *p7s_path, time_t now,
	       struct sign_result *res, char *err, size_t len);

/* ---- verification ------------------------------------------------------- */

struct sign_verify_report {
	char format[8];	  /* "PAdES", "CAdES" or "" when none was found */
	int n_signatures; /* in the PDF; 1 for a .p7s */
	char signer[256]; /* subject CN (or the whole subject) */
	char signer_subject[512];
	char algorithm[32];
	time_t signing_time;	  /* /M, or the signing-time attribute; 0 = none */
	time_t timestamp;	  /* 0 = none */
	bool timestamp_valid;	  /* the token's imprint is the signature's and it
				   * is signed (and chains to trust when given) */
	bool integrity;		  /* digest and signature value both check out */
	bool whole_file;	  /* PDF: ByteRange covers everything but /Contents */
	long long appended_bytes; /* PDF: bytes after the last signed revision */
	bool chain_ok;		  /* the signer chains to the trust bundle */
	char chain_error[256];
	bool ok;	  /* integrity && chain_ok && (PDF: byte range sane) */
	char reason[512]; /* why not ok, for a person */
	char level[8];	  /* "B-B", "B-T" (from what is there) */
};

/* Verifies the last signature of a PDF (and every earlier one for integrity).
 * trust may be NULL (then chain_ok is false with a reason). Returns 0 when a
 * report was made (look at report->ok), a negative errno when the file cannot
 * be read at all. */
int sign_verify_pdf(const char *pdf_path, const char *trust, struct sign_verify_report *rep);
/* Verifies a detached .p7s over data_path. */
int sign_verify_cades(const char *p7s_path, const char *data_path, const char *trust,
		      struct sign_verify_report *rep);
/* True when the file starts like a PDF. */
bool sign_is_pdf(const char *path);

/* ISO 8601 in Vietnam time: "2026-03-05T14:03:00+07:00" (buf >= 26). */
void sign_iso_vn(time_t t, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MOTCUA_SIGN_CORE_H */
