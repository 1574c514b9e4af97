/* SPDX-License-Identifier: MIT */
/*
 * test-sign-openssl: loads the built sign-openssl.so through the SDK's test
 * host (motcua/testhost.h) and drives its sign step against a throwaway PKI
 * made by tests/make-ca.sh (RSA-2048 and ECDSA P-256 signers, a TSA), a
 * SoftHSM2 token initialised in a temp SOFTHSM2_CONF, and a TSA stand-in
 * (tests/tsa-server.py, a real HTTP server on 127.0.0.1 answering with
 * `openssl ts -reply`). Every output is checked by independent tools:
 * poppler's pdfsig, `openssl cms -verify`, `qpdf --check`, and by our own
 * verifier (motcua-verify, which `motcua verify` runs).
 *
 * Environment (meson sets it): SIGN_PLUGIN, SIGN_VERIFY, SIGN_TESTS_DIR,
 * SIGN_DEMO_PDF, TMPDIR. Exits 0 when every check passed, 1 otherwise: a
 * tool the test needs (pdfsig, qpdf, openssl, certutil, softhsm2-util,
 * pkcs11-tool, python3) is installed by packaging/install-deps.sh, and a
 * missing one is a failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <motcua/plugin.h>
#include <motcua/testhost.h>

#include "secret-cases.h"

/* ---- checks ------------------------------------------------------------------ */

static int failures;
static const char *current_case = "";

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL [%s] %s:%d: %s: ", current_case, __FILE__, __LINE__, \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

static char tmp[512]; /* the test's folder */
static char tests_dir[512];
static const char *verify_bin;

/* Runs a shell command; returns its exit status (or -1). Output goes to
 * out (if any), stderr merged. */
static int run(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t len, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	char full[8300];
	snprintf(full, sizeof full, "cd '%s' && ( %s ) 2>&1", tmp, cmd);
	FILE *p = popen(full, "r");
	if (!p)
		return -1;
	size_t n = 0;
	char sink[4096];
	for (;;) {
		char *dst = out && n + 1 < len ? out + n : sink;
		size_t cap = out && n + 1 < len ? len - n - 1 : sizeof sink;
		size_t k = fread(dst, 1, cap, p);
		if (k == 0)
			break;
		if (dst != sink)
			n += k;
	}
	if (out && len)
		out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	if (b) {
		b[n] = 0;
		if (len)
			*len = (size_t)n;
	}
	return b;
}

/* dst: a copy of src with one bit of byte at flipped. */
static int flip_bit(const char *src, const char *dst, size_t at)
{
	size_t n = 0;
	char *b = slurp(src, &n);
	if (!b || at >= n) {
		free(b);
		return -1;
	}
	b[at] ^= 1;
	FILE *f = fopen(dst, "wb");
	int r = f && fwrite(b, 1, n, f) == n ? 0 : -1;
	if (f && fclose(f) != 0)
		r = -1;
	free(b);
	return r;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmp, name);
}

/* ---- the test host (motcua/testhost.h) ---------------------------------------- */

static struct motcua_testhost *th;

/* What the plugin logged since the last start, one line after another. */
static char all_log[65536];

static void collect_log(void)
{
	all_log[0] = 0;
	for (size_t i = 0, n = 0; i < motcua_testhost_log_count(th) && n + 1 < sizeof all_log;
	     i++) {
		snprintf(all_log + n, sizeof all_log - n, "%s\n",
			 motcua_testhost_log_line(th, i, NULL));
		n += strlen(all_log + n);
	}
}

/* Sets the plugin's section from NULL-terminated key, value pairs. Values
 * are copied. */
static void set_config(const char *key, ...)
{
	va_list ap;
	motcua_testhost_config(th, NULL);
	va_start(ap, key);
	for (const char *k = key; k; k = va_arg(ap, const char *))
		motcua_testhost_config_set(th, NULL, k, va_arg(ap, const char *));
	va_end(ap);
}

static int start(void)
{
	motcua_testhost_log_clear(th);
	int r = motcua_testhost_start(th);
	collect_log();
	if (r == 0)
		CHECK(motcua_testhost_registrations(th) == 1 &&
			  motcua_testhost_has_step(th, MOTCUA_STEP_SIGN),
		      "init succeeded without registering the sign step");
	else
		CHECK(motcua_testhost_registrations(th) == 0, "init failed but registered");
	return r;
}

static void stop(void)
{
	motcua_testhost_stop(th);
}

/* ---- one step ----------------------------------------------------------------- */

struct step {
	struct motcua_step_io io;
	char in[600], out[600], meta[600], sidecar[600];
	char *meta_json;
	int r;
};

static void step_run(struct step *s, const char *in_name, const char *media_type,
		     const char *out_name)
{
	memset(s, 0, sizeof *s);
	path_of(s->in, sizeof s->in, in_name);
	snprintf(s->out, sizeof s->out, "%s/%s", tmp, out_name);
	snprintf(s->meta, sizeof s->meta, "%s/%s.meta.json", tmp, out_name);
	snprintf(s->sidecar, sizeof s->sidecar, "%s/%s.p7s", tmp, out_name);
	unlink(s->out);
	unlink(s->meta);
	unlink(s->sidecar);
	s->io.struct_size = sizeof s->io;
	s->io.dossier_code = "000.00.12.H50-261128-0007";
	s->io.document_id = "doc-1";
	s->io.document_name = in_name;
	s->io.media_type = media_type;
	s->io.path = s->in;
	s->io.out_path = s->out;
	s->io.meta_path = s->meta;
	s->io.dossier_json = "{}";
	s->io.document_json = "{}";
	s->io.sidecar_out_path = s->sidecar;
	s->r = motcua_testhost_step(th, MOTCUA_STEP_SIGN, &s->io);
	s->meta_json = slurp(s->meta, NULL);
	fprintf(stderr, "  step %s (%s) -> %d: %s\n", in_name, media_type, s->r, s->io.message);
}

static void step_done(struct step *s)
{
	free(s->meta_json);
	s->meta_json = NULL;
}

static bool meta_has(const struct step *s, const char *needle)
{
	return s->meta_json && strstr(s->meta_json, needle);
}

/* The signed bytes of a PDF's last signature (from its /ByteRange). */
static int write_signed_content(const char *pdf, const char *out)
{
	size_t n;
	char *b = slurp(pdf, &n);
	if (!b)
		return -1;
	char *last = NULL, *p = b;
	while ((p = memmem(p, n - (size_t)(p - b), "/ByteRange", 10)) != NULL)
		last = p++;
	long long r[4];
	int rc = -1;
	if (last &&
	    sscanf(last, "/ByteRange [%lld %lld %lld %lld", &r[0], &r[1], &r[2], &r[3]) == 4) {
		FILE *f = fopen(out, "wb");
		if (f) {
			fwrite(b + r[0], 1, (size_t)r[1], f);
			fwrite(b + r[2], 1, (size_t)r[3], f);
			fclose(f);
			rc = 0;
		}
	}
	free(b);
	return rc;
}

/* Everything an independent tool can say about a signed PDF. */
static void check_signed_pdf(const char *name, const char *expect_alg, bool expect_ts)
{
	char out[8192];
	int rc = run(out, sizeof out, "pdfsig '%s'", name);
	CHECK(rc == 0 && strstr(out, "Signature is Valid.") &&
		  strstr(out, "Total document signed") && strstr(out, "ETSI.CAdES.detached"),
	      "pdfsig %s (%d):\n%s", name, rc, out);
	rc = run(out, sizeof out, "pdfsig -nssdir sql:nssdb '%s'", name);
	CHECK(rc == 0 && strstr(out, "Certificate is Trusted."),
	      "pdfsig with the test CA trusted: %s", out);
	rc = run(out, sizeof out, "qpdf --check '%s'", name);
	CHECK(rc == 0 && strstr(out, "No syntax or stream encoding errors"),
	      "qpdf --check %s (%d): %s", name, rc, out);
	rc = run(out, sizeof out, "'%s' '%s' --trust ca.pem", verify_bin, name);
	CHECK(rc == 0 && strstr(out, "HỢP LỆ (VALID)") && strstr(out, expect_alg),
	      "verify %s (%d):\n%s", name, rc, out);
	CHECK((strstr(out, "hợp lệ (valid)") != NULL) == expect_ts, "timestamp in %s:\n%s", name,
	      out);
	rc = run(out, sizeof out, "'%s' '%s' --trust other-ca.pem", verify_bin, name);
	CHECK(rc == 1 && strstr(out, "KHÔNG tin cậy"), "verify %s against another CA (%d):\n%s",
	      name, rc, out);

	/* the CMS as poppler extracts it, checked by openssl over the byte range */
	char pdf[700], content[700];
	path_of(pdf, sizeof pdf, name);
	snprintf(content, sizeof content, "%s.content", pdf);
	CHECK(write_signed_content(pdf, content) == 0, "byte range of %s", name);
	rc = run(out, sizeof out,
		 "rm -f '%s'.sig* && pdfsig -dump '%s' >/dev/null && openssl cms -verify -binary "
		 "-inform DER -in '%s.sig0' -content '%s.content' -CAfile ca.pem -purpose any -out "
		 "/dev/null",
		 name, name, name, name);
	CHECK(rc == 0 && strstr(out, "Verification successful"),
	      "openssl cms -verify of %s's CMS (%d): %s", name, rc, out);
	rc = run(out, sizeof out,
		 "openssl cms -cmsout -print -inform DER -in '%s.sig0' | grep -o "
		 "'object: [A-Za-z0-9-]*' | sort -u",
		 name);
	CHECK(rc == 0 && strstr(out, "id-smime-aa-signingCertificateV2") &&
		  strstr(out, "messageDigest") && strstr(out, "contentType") &&
		  !strstr(out, "signingTime"),
	      "PAdES signed attributes of %s (signing-certificate-v2, no signing-time): %s", name,
	      out);
	CHECK((strstr(out, "id-smime-aa-timeStampToken") != NULL) == expect_ts,
	      "timestamp token in %s's CMS: %s", name, out);
	unlink(content);
}

/* Copies src to dst with the byte at off xor-ed. */
static int flip(const char *src, const char *dst, long long off)
{
	char a[700], b[700];
	path_of(a, sizeof a, src);
	path_of(b, sizeof b, dst);
	size_t n;
	char *d = slurp(a, &n);
	if (!d)
		return -1;
	if (off < 0)
		off += (long long)n;
	d[off] ^= 0x01;
	FILE *f = fopen(b, "wb");
	fwrite(d, 1, n, f);
	fclose(f);
	free(d);
	return 0;
}

static long long find_in(const char *name, const char *needle)
{
	char a[700];
	path_of(a, sizeof a, name);
	size_t n;
	char *d = slurp(a, &n);
	if (!d)
		return -1;
	char *p = memmem(d, n, needle, strlen(needle));
	long long off = p ? p - d : -1;
	free(d);
	return off;
}

/* ---- cases ---------------------------------------------------------------------- */

static void case_bad_config(void)
{
	current_case = "bad-config";
	/* a key others can read */
	run(NULL, 0, "cp rsa.key loose.key && chmod 644 loose.key");
	set_config("key", "loose.key", "cert", "rsa.pem", NULL);
	CHECK(start() < 0, "a 0644 key was accepted");
	CHECK(strstr(all_log, "loose.key") && strstr(all_log, "0644") &&
		  strstr(all_log, "chmod 600"),
	      "the log names neither the file nor its mode: %s", all_log);
	/* a certificate of another key */
	set_config("key", "rsa.key", "cert", "ec.pem", NULL);
	CHECK(start() < 0, "a mismatched certificate was accepted");
	CHECK(strstr(all_log, "does not belong"), "mismatch not said: %s", all_log);
	/* no such key */
	set_config("key", "nope.key", "cert", "rsa.pem", NULL);
	CHECK(start() < 0, "a missing key was accepted");
	CHECK(strstr(all_log, "nope.key"), "missing key not named: %s", all_log);
	/* bad values */
	set_config("key", "rsa.key", "cert", "rsa.pem", "tsa_timeout_s", "0", NULL);
	CHECK(start() < 0 && strstr(all_log, "tsa_timeout_s"), "tsa_timeout_s 0 accepted");
	set_config("key", "rsa.key", "cert", "rsa.pem", "rsa_padding", "oaep", NULL);
	CHECK(start() < 0 && strstr(all_log, "rsa_padding"), "rsa_padding oaep accepted");
}

/* The key and pin_file are read through host->secret_read() (secret-cases.h):
 * a symlink, a 0644 file and an empty one are refused with the host's
 * reason, a good one is taken, and a host without secret_read is refused. */
static void secret_key(struct motcua_testhost *h, const char *path, void *arg)
{
	(void)h, (void)arg;
	set_config("key", path, "cert", "rsa.pem", NULL);
}

static void secret_pin(struct motcua_testhost *h, const char *path, void *arg)
{
	(void)h, (void)arg;
	set_config("key", "pkcs11:token=nope", "cert", "ec.pem", "pin_file", path, NULL);
}

/* A good PIN file gets past the PIN, to the token that is not there (the
 * login with one is in case_softhsm). */
static bool pin_taken(struct motcua_testhost *h, int r, void *arg)
{
	(void)arg;
	const char *line = motcua_testhost_log_last_error(h);
	return r < 0 && !strstr(line, "pin_file") && strstr(line, "PKCS#11");
}

static void case_secret_files(void)
{
	current_case = "secret-files";
	char key[600], pin[600];
	path_of(key, sizeof key, "rsa.key");
	path_of(pin, sizeof pin, "good.pin");
	CHECK(run(NULL, 0, "printf '1234\\n' > good.pin && chmod 600 good.pin rsa.key") == 0,
	      "cannot make good.pin");
	const struct secret_case cases[] = {
	    {.key = "key", .flags = 0, .good = key, .configure = secret_key},
	    {.key = "pin_file",
	     .flags = MOTCUA_SECRET_LINE,
	     .good = pin,
	     .configure = secret_pin,
	     .taken = pin_taken},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		failures += secret_cases_run(th, &cases[i]);
}

static void case_pades(const char *key, const char *cert, const char *alg, const char *out_name)
{
	current_case = out_name;
	set_config("key", key, "cert", cert, NULL);
	if (start() < 0) {
		CHECK(0, "init failed: %s", all_log);
		return;
	}
	struct step s;
	step_run(&s, "in.pdf", "application/pdf", out_name);
	CHECK(s.r == 0, "step failed: %s", s.io.message);
	CHECK(!strcmp(s.io.out_media_type, "application/pdf"), "out_media_type %s",
	      s.io.out_media_type);
	CHECK(exists(s.out) && !exists(s.sidecar), "outputs");
	CHECK(s.io.again_after_s == 0, "again_after_s %u without a TSA", s.io.again_after_s);
	CHECK(meta_has(&s, "\"signature\":{\"format\":\"PAdES\",\"level\":\"B-B\"") &&
		  meta_has(&s, "+07:00\"") && meta_has(&s, "\"timestamp\":null") &&
		  meta_has(&s, alg) && meta_has(&s, "\"signer\":\"Bộ phận Một cửa"),
	      "meta %s", s.meta_json ? s.meta_json : "(none)");
	/* the input is untouched, the output starts with it (qpdf's rewrite) */
	step_done(&s);
	stop();
	check_signed_pdf(out_name, alg, false);
}

static void case_tamper(void)
{
	current_case = "tamper";
	const char *signed_pdf = "rsa.pdf";
	char out[8192];
	long long contents = find_in(signed_pdf, "/Contents <");
	CHECK(contents > 0, "no /Contents");
	struct {
		const char *what;
		long long off;
	} spots[] = {
	    {"header", 3},
	    {"middle", contents / 2},
	    {"in the signature's hex", contents + 11 + 40},
	    {"in the signature's padding", -1}, /* set below */
	    {"the last byte", -1},
	};
	/* the padding: the last hex digit before '>' */
	long long end = find_in(signed_pdf, ">");
	(void)end;
	{
		char a[700];
		path_of(a, sizeof a, signed_pdf);
		size_t n;
		char *d = slurp(a, &n);
		char *c = d ? memmem(d, n, "/Contents <", 11) : NULL;
		char *gt = c ? memchr(c + 11, '>', n - (size_t)(c + 11 - d)) : NULL;
		spots[3].off = gt ? (gt - d) - 3 : 0;
		free(d);
	}
	for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
		CHECK(flip(signed_pdf, "flipped.pdf", spots[i].off) == 0, "flip");
		int rc = run(out, sizeof out, "'%s' flipped.pdf --trust ca.pem", verify_bin);
		CHECK(rc == 1 && strstr(out, "KHÔNG HỢP LỆ"),
		      "a flipped byte (%s, offset %lld) not reported (%d):\n%s", spots[i].what,
		      spots[i].off, rc, out);
		rc = run(out, sizeof out, "pdfsig flipped.pdf");
		if (i == 1 || i == 2)
			CHECK(!strstr(out, "Signature is Valid."),
			      "pdfsig accepts a flipped byte (%s):\n%s", spots[i].what, out);
	}
	/* bytes appended after the signature */
	run(NULL, 0, "cp %s appended.pdf && printf '%%%%comment\\n' >> appended.pdf", signed_pdf);
	int rc = run(out, sizeof out, "'%s' appended.pdf --trust ca.pem --json", verify_bin);
	CHECK(rc == 1 && strstr(out, "\"appended_bytes\": 9") &&
		  strstr(out, "\"integrity\": true") && strstr(out, "\"whole_file\": false"),
	      "appended bytes (%d):\n%s", rc, out);
	rc = run(out, sizeof out, "pdfsig appended.pdf");
	CHECK(!strstr(out, "Total document signed"), "pdfsig: %s", out);
}

static void case_object_streams(void)
{
	current_case = "object-streams";
	char out[4096];
	int rc =
	    run(out, sizeof out,
		"qpdf --object-streams=generate in.pdf objstm.pdf && grep -c /ObjStm objstm.pdf "
		"&& grep -c /XRef objstm.pdf");
	CHECK(rc == 0, "could not make a PDF with object streams: %s", out);
	set_config("key", "ec.key", "cert", "ec.pem", NULL);
	if (start() < 0)
		return;
	struct step s;
	step_run(&s, "objstm.pdf", "application/pdf", "objstm-signed.pdf");
	CHECK(s.r == 0, "%s", s.io.message);
	step_done(&s);
	stop();
	check_signed_pdf("objstm-signed.pdf", "ECDSA-P256-SHA256", false);
}

static void case_bad_input(void)
{
	current_case = "bad-input";
	run(NULL, 0,
	    "printf 'Xin chao, this is not a PDF\\n' > notpdf.pdf && head -c 3000 in.pdf > cut.pdf "
	    "&& "
	    "printf '%%%%PDF-1.7\\n%%%%%%%%EOF\\n' > empty.pdf");
	set_config("key", "rsa.key", "cert", "rsa.pem", NULL);
	if (start() < 0)
		return;
	const char *bad[] = {"notpdf.pdf", "empty.pdf", "scan.png"};
	for (size_t i = 0; i < 3; i++) {
		struct step s;
		step_run(&s, bad[i], "application/pdf", "bad-out.pdf");
		CHECK(s.r < 0 && s.r != -EAGAIN, "%s: %d", bad[i], s.r);
		CHECK(s.io.message[0] && (strstr(s.io.message, "not a PDF") ||
					  strstr(s.io.message, "cannot be read") ||
					  strstr(s.io.message, "no pages")),
		      "%s: message %s", bad[i], s.io.message);
		CHECK(!exists(s.out) && !exists(s.meta) && !exists(s.sidecar),
		      "%s: something was written", bad[i]);
		char cmd[700];
		snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp-", tmp);
		char o[64];
		run(o, sizeof o, "%s", cmd);
		CHECK(atoi(o) == 0, "temporary files left: %s", o);
		step_done(&s);
	}
	stop();
}

static void case_cades(void)
{
	current_case = "cades";
	set_config("key", "rsa.key", "cert", "rsa.pem", "rsa_padding", "pkcs1", NULL);
	if (start() < 0)
		return;
	const char *files[][2] = {{"note.txt", "text/plain"}, {"scan.png", "image/png"}};
	char out[8192];
	for (size_t i = 0; i < 2; i++) {
		struct step s;
		char out_name[64];
		snprintf(out_name, sizeof out_name, "cades-%zu", i);
		step_run(&s, files[i][0], files[i][1], out_name);
		CHECK(s.r == 0, "%s", s.io.message);
		CHECK(!exists(s.out), "out_path was written for a CAdES signature");
		CHECK(exists(s.sidecar), "no .p7s");
		CHECK(!strcmp(s.io.sidecar_out_media_type, "application/pkcs7-signature"),
		      "sidecar type %s", s.io.sidecar_out_media_type);
		CHECK(s.io.out_media_type[0] == 0, "out_media_type set");
		CHECK(meta_has(&s, "\"format\":\"CAdES\"") && meta_has(&s, "\"level\":\"B-B\"") &&
			  meta_has(&s, "RSA-SHA256"),
		      "meta %s", s.meta_json ? s.meta_json : "");
		int rc = run(
		    out, sizeof out,
		    "openssl cms -verify -binary -content '%s' -inform DER -in '%s' -CAfile ca.pem "
		    "-purpose any -out /dev/null",
		    files[i][0], s.sidecar);
		CHECK(rc == 0 && strstr(out, "Verification successful"),
		      "openssl cms -verify (%d): %s", rc, out);
		rc = run(out, sizeof out, "openssl cms -cmsout -print -inform DER -in '%s'",
			 s.sidecar);
		CHECK(strstr(out, "signingTime") && strstr(out, "id-smime-aa-signingCertificateV2"),
		      "CAdES attributes");
		rc = run(out, sizeof out, "'%s' '%s' --data '%s' --trust ca.pem", verify_bin,
			 s.sidecar, files[i][0]);
		CHECK(rc == 0 && strstr(out, "HỢP LỆ (VALID)"), "verify (%d): %s", rc, out);
		/* a flipped bit in the data (writing a fixed byte changed nothing
		 * where the random file had that byte already) */
		CHECK(flip_bit(files[i][0], "changed.bin", 5) == 0, "cannot write changed.bin");
		rc = run(out, sizeof out, "'%s' '%s' --data changed.bin --trust ca.pem", verify_bin,
			 s.sidecar);
		CHECK(rc == 1 && strstr(out, "BỊ THAY ĐỔI"), "a changed file verified (%d): %s", rc,
		      out);
		rc = run(out, sizeof out,
			 "openssl cms -verify -binary -content changed.bin -inform DER -in '%s' "
			 "-CAfile ca.pem -purpose any -out /dev/null",
			 s.sidecar);
		CHECK(rc != 0, "openssl accepts a changed file");
		step_done(&s);
	}
	/* `motcua verify x.p7s` finds x by itself */
	run(NULL, 0, "cp note.txt default.txt && cp cades-0.p7s default.txt.p7s");
	int rc = run(out, sizeof out, "'%s' default.txt.p7s --trust ca.pem", verify_bin);
	CHECK(rc == 0, "default data file (%d): %s", rc, out);
	stop();
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	close(fd);
	return ntohs(a.sin_port);
}

static pid_t start_tsa(int port)
{
	char portfile[600], cnf[600], script[600], portstr[16];
	path_of(portfile, sizeof portfile, "tsa.port");
	path_of(cnf, sizeof cnf, "tsa.cnf");
	snprintf(script, sizeof script, "%s/tsa-server.py", tests_dir);
	snprintf(portstr, sizeof portstr, "%d", port);
	unlink(portfile);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/usr/bin/python3", "python3", script, portstr, cnf, portfile, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !exists(portfile); i++)
		usleep(50000);
	CHECK(exists(portfile), "the TSA stand-in did not start");
	return pid;
}

static void case_tsa(void)
{
	current_case = "tsa-down-then-up";
	int port = free_port();
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/tsr", port);
	set_config("key", "rsa.key", "cert", "rsa.pem", "tsa_url", url, "tsa_timeout_s", "3",
		   "tsa_retry_s", "120", "trust", "ca.pem", NULL);
	if (start() < 0)
		return;
	struct step s;
	/* down: signed B-B, timestamp pending, the host is asked to come back */
	step_run(&s, "in.pdf", "application/pdf", "tsa-down.pdf");
	CHECK(s.r == 0, "%s", s.io.message);
	CHECK(s.io.again_after_s == 120, "again_after_s %u", s.io.again_after_s);
	CHECK(meta_has(&s, "\"level\":\"B-B\"") && meta_has(&s, "\"timestamp\":\"pending\""),
	      "meta %s", s.meta_json ? s.meta_json : "");
	CHECK(strstr(s.io.message, "pending"), "message %s", s.io.message);
	step_done(&s);
	check_signed_pdf("tsa-down.pdf", "RSA-PSS-SHA256", false);
	step_run(&s, "note.txt", "text/plain", "tsa-down-cades");
	CHECK(s.r == 0 && s.io.again_after_s > 0 && meta_has(&s, "\"timestamp\":\"pending\""),
	      "CAdES pending: %s", s.meta_json ? s.meta_json : "");
	step_done(&s);

	/* up: the rerun on the same input signs B-T */
	pid_t tsa = start_tsa(port);
	step_run(&s, "in.pdf", "application/pdf", "tsa-up.pdf");
	CHECK(s.r == 0, "%s", s.io.message);
	CHECK(s.io.again_after_s == 0, "again_after_s %u", s.io.again_after_s);
	CHECK(meta_has(&s, "\"level\":\"B-T\"") && meta_has(&s, "\"timestamp\":\"20") &&
		  meta_has(&s, "+07:00\",\"alg"),
	      "meta %s", s.meta_json ? s.meta_json : "");
	step_done(&s);
	check_signed_pdf("tsa-up.pdf", "RSA-PSS-SHA256", true);
	step_run(&s, "note.txt", "text/plain", "tsa-up-cades");
	CHECK(s.r == 0 && meta_has(&s, "\"level\":\"B-T\""), "CAdES B-T: %s",
	      s.meta_json ? s.meta_json : "");
	char out[8192];
	int rc =
	    run(out, sizeof out,
		"openssl cms -verify -binary -content note.txt -inform DER -in '%s' -CAfile ca.pem "
		"-purpose any -out /dev/null && '%s' '%s' --data note.txt --trust ca.pem",
		s.sidecar, verify_bin, s.sidecar);
	CHECK(rc == 0 && strstr(out, "hợp lệ (valid)") && strstr(out, "CAdES B-T"),
	      "CAdES B-T verify (%d): %s", rc, out);
	step_done(&s);
	stop();
	if (tsa > 0) {
		kill(tsa, SIGTERM);
		waitpid(tsa, NULL, 0);
	}
}

static void case_softhsm(void)
{
	current_case = "softhsm";
	/* installed by packaging/install-deps.sh: missing is a failure */
	if (motcua_testhost_need_program("softhsm2-util",
					 "softhsm2: packaging/install-deps.sh test") < 0 ||
	    motcua_testhost_need_program("pkcs11-tool", "opensc: packaging/install-deps.sh test") <
		0 ||
	    !exists("/usr/lib/softhsm/libsofthsm2.so")) {
		CHECK(0, "SoftHSM2 (/usr/lib/softhsm/libsofthsm2.so, softhsm2) or pkcs11-tool "
			 "(opensc) is not installed: "
			 "packaging/install-deps.sh test");
		return;
	}
	char out[8192], conf[600];
	path_of(conf, sizeof conf, "hsm/softhsm2.conf");
	setenv("SOFTHSM2_CONF", conf, 1);
	int rc = run(out, sizeof out,
		     "mkdir -p hsm/tokens && printf 'directories.tokendir = "
		     "%s/hsm/tokens\\nobjectstore.backend = file\\n"
		     "log.level = ERROR\\n' > hsm/softhsm2.conf && "
		     "softhsm2-util --init-token --free --label 'motcua test' --pin 246810 "
		     "--so-pin 13579 && "
		     "openssl pkcs8 -topk8 -nocrypt -in ec.key -out hsm/ec.p8 && "
		     "softhsm2-util --import hsm/ec.p8 --token 'motcua test' --label 'office key' "
		     "--id a1b2 --pin 246810 && "
		     "openssl pkcs8 -topk8 -nocrypt -in rsa.key -out hsm/rsa.p8 && "
		     "softhsm2-util --import hsm/rsa.p8 --token 'motcua test' --label rsa --id 02 "
		     "--pin 246810 && "
		     "openssl x509 -in rsa.pem -outform DER -out hsm/rsa.der && "
		     "pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label 'motcua "
		     "test' --login "
		     "--pin 246810 --write-object hsm/rsa.der --type cert --id 02 --label rsa && "
		     "echo 246810 > hsm/pin && echo 111111 > hsm/wrong-pin && chmod 600 hsm/pin "
		     "hsm/wrong-pin && "
		     "rm hsm/*.p8",
		     tmp);
	CHECK(rc == 0, "SoftHSM2 setup (%d): %s", rc, out);
	/* EC key by label, certificate from a file */
	set_config("key", "pkcs11:token=motcua%20test;object=office%20key;type=private", "cert",
		   "ec.pem", "pin_file", "hsm/pin", NULL);
	if (start() == 0) {
		struct step s;
		step_run(&s, "in.pdf", "application/pdf", "hsm-ec.pdf");
		CHECK(s.r == 0, "%s", s.io.message);
		step_done(&s);
		stop();
		check_signed_pdf("hsm-ec.pdf", "ECDSA-P256-SHA256", false);
	} else {
		CHECK(0, "init with the token failed: %s", all_log);
	}
	/* RSA key by id, certificate from the token, module from the URI */
	set_config("key",
		   "pkcs11:token=motcua%20test;id=%02?module-path=/usr/lib/softhsm/libsofthsm2.so",
		   "pin_file", "hsm/pin", NULL);
	if (start() == 0) {
		struct step s;
		step_run(&s, "in.pdf", "application/pdf", "hsm-rsa.pdf");
		CHECK(s.r == 0, "%s", s.io.message);
		step_done(&s);
		step_run(&s, "note.txt", "text/plain", "hsm-rsa-cades");
		CHECK(s.r == 0, "%s", s.io.message);
		rc = run(out, sizeof out,
			 "openssl cms -verify -binary -content note.txt -inform DER -in '%s' "
			 "-CAfile ca.pem "
			 "-purpose any -out /dev/null",
			 s.sidecar);
		CHECK(rc == 0, "openssl cms -verify of the token's .p7s: %s", out);
		step_done(&s);
		stop();
		check_signed_pdf("hsm-rsa.pdf", "RSA-PSS-SHA256", false);
	} else {
		CHECK(0, "init with the token (RSA) failed: %s", all_log);
	}
	/* wrong PIN */
	set_config("key", "pkcs11:token=motcua%20test;object=office%20key", "cert", "ec.pem",
		   "pin_file", "hsm/wrong-pin", NULL);
	CHECK(start() < 0, "a wrong PIN was accepted");
	CHECK(strstr(all_log, "wrong PIN") && strstr(all_log, "hsm/wrong-pin"),
	      "wrong PIN not said: %s", all_log);
	/* no such token, no such key */
	set_config("key", "pkcs11:token=nope", "cert", "ec.pem", "pin_file", "hsm/pin", NULL);
	CHECK(start() < 0 && strstr(all_log, "no PKCS#11 token labelled \"nope\""),
	      "missing token: %s", all_log);
	set_config("key", "pkcs11:token=motcua%20test;object=nope", "cert", "ec.pem", "pin_file",
		   "hsm/pin", NULL);
	CHECK(start() < 0 && strstr(all_log, "no private key matches"), "missing key: %s", all_log);
	unsetenv("SOFTHSM2_CONF");
}

struct worker {
	struct step s;
	char name[32];
	pthread_t th;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	step_run(&w->s, "in.pdf", "application/pdf", w->name);
	return NULL;
}

/* Several worker threads signing at once with one signer (the host's pool). */
static void case_concurrent(void)
{
	current_case = "concurrent";
	set_config("key", "ec.key", "cert", "ec.pem", NULL);
	if (start() < 0)
		return;
	enum { N = 4 };
	static struct worker w[N];
	for (int i = 0; i < N; i++) {
		snprintf(w[i].name, sizeof w[i].name, "parallel-%d.pdf", i);
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(w[i].th, NULL);
		CHECK(w[i].s.r == 0, "%s: %s", w[i].name, w[i].s.io.message);
		char out[4096];
		int rc = run(out, sizeof out, "'%s' '%s' --trust ca.pem", verify_bin, w[i].name);
		CHECK(rc == 0, "%s: %s", w[i].name, out);
		step_done(&w[i].s);
	}
	stop();
}

/* Dark pixels in the top right 260 x 70 pt of page 1, rendered at 72 dpi. */
static long dark_top_right(const char *pdf)
{
	char cmd[800], pgm[700];
	path_of(pgm, sizeof pgm, "render");
	snprintf(cmd, sizeof cmd, "pdftoppm -r 72 -f 1 -l 1 -singlefile -gray '%s' render", pdf);
	if (run(NULL, 0, "%s", cmd) != 0)
		return -1;
	strcat(pgm, ".pgm");
	size_t n;
	char *d = slurp(pgm, &n);
	if (!d)
		return -1;
	int w, h, maxv, used = 0;
	long dark = -1;
	if (sscanf(d, "P5 %d %d %d%n", &w, &h, &maxv, &used) == 3 &&
	    (size_t)used + 1 + (size_t)w * h <= n) {
		const unsigned char *px = (const unsigned char *)d + used + 1;
		dark = 0;
		for (int y = 0; y < 70 && y < h; y++)
			for (int x = w - 260 > 0 ? w - 260 : 0; x < w; x++)
				dark += px[(size_t)y * w + x] < 160;
	}
	free(d);
	return dark;
}

static void case_stamp(void)
{
	current_case = "stamp";
	set_config("key", "ec.key", "cert", "ec.pem", "stamp", "true", "organisation",
		   "UBND xã Thử Nghiệm", NULL);
	if (start() < 0) {
		CHECK(0, "init with a stamp: %s", all_log);
		return;
	}
	struct step s;
	step_run(&s, "in.pdf", "application/pdf", "stamp.pdf");
	CHECK(s.r == 0, "%s", s.io.message);
	step_done(&s);
	stop();
	check_signed_pdf("stamp.pdf", "ECDSA-P256-SHA256", false);
	long plain = dark_top_right("ec.pdf"), stamped = dark_top_right("stamp.pdf");
	CHECK(plain >= 0 && stamped > plain + 300,
	      "no stamp drawn at the top right (%ld dark pixels, %ld without)", stamped, plain);
	/* a font that is not a font */
	set_config("key", "ec.key", "cert", "ec.pem", "stamp", "true", "stamp_font", "note.txt",
		   NULL);
	if (start() == 0) {
		step_run(&s, "in.pdf", "application/pdf", "stamp-bad.pdf");
		CHECK(s.r < 0 && strstr(s.io.message, "font") && !exists(s.out), "bad font: %d %s",
		      s.r, s.io.message);
		step_done(&s);
		stop();
	}
}

int main(void)
{
	const char *plugin = getenv("SIGN_PLUGIN");
	verify_bin = getenv("SIGN_VERIFY");
	const char *td = getenv("SIGN_TESTS_DIR"), *demo = getenv("SIGN_DEMO_PDF");
	if (!plugin || !verify_bin || !td || !demo) {
		fprintf(stderr, "set SIGN_PLUGIN, SIGN_VERIFY, SIGN_TESTS_DIR, SIGN_DEMO_PDF\n");
		return 2;
	}
	snprintf(tests_dir, sizeof tests_dir, "%s", td);
	static const char *const tools[][2] = {
	    {"openssl", "openssl: packaging/install-deps.sh test"},
	    {"pdfsig", "poppler-utils: packaging/install-deps.sh test"},
	    {"qpdf", "qpdf: packaging/install-deps.sh test"},
	    {"certutil", "libnss3-tools: packaging/install-deps.sh test"},
	    {"/usr/bin/python3", "python3, for the TSA stand-in: packaging/install-deps.sh test"},
	};
	int missing = 0;
	for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
		missing |= motcua_testhost_need_program(tools[i][0], tools[i][1]) < 0;
	if (missing)
		return 1;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tmp, sizeof tmp, "%s/test-sign-XXXXXX", base);
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	char out[8192];
	int rc = run(out, sizeof out,
		     "'%s/make-ca.sh' . && cp '%s' in.pdf && mkdir nssdb && "
		     "certutil -N -d sql:nssdb --empty-password && "
		     "certutil -A -d sql:nssdb -n 'motcua test root' -t 'CT,C,C' -i ca.pem && "
		     "printf 'Giấy khai sinh — bản sao\\n' > note.txt && "
		     "head -c 200000 /dev/urandom > scan.png",
		     tests_dir, demo);
	if (rc != 0) {
		fprintf(stderr, "cannot make the test PKI (%d): %s\n", rc, out);
		return 1;
	}
	th = motcua_testhost_new();
	if (!th || motcua_testhost_load(th, plugin) < 0) {
		fprintf(stderr, "FAIL: %s\n", th ? motcua_testhost_error(th) : "no test host");
		return 1;
	}
	const struct motcua_plugin_info *info = motcua_testhost_info(th);
	if (strcmp(info->name, "sign-openssl") != 0 || !(info->provides & MOTCUA_PROVIDES_SIGN)) {
		fprintf(stderr, "bad plugin info\n");
		return 1;
	}
	if (chdir(tmp) < 0)
		return 1;

	case_bad_config();
	case_secret_files();
	case_pades("rsa.key", "rsa.pem", "RSA-PSS-SHA256", "rsa.pdf");
	case_pades("ec.key", "ec.pem", "ECDSA-P256-SHA256", "ec.pdf");
	case_tamper();
	case_object_streams();
	case_bad_input();
	case_cades();
	case_tsa();
	case_softhsm();
	case_concurrent();
	case_stamp();

	current_case = "host";
	/* the plugin reads its own section only */
	for (size_t i = 0; i < motcua_testhost_config_read_count(th); i++) {
		const char *section, *key;
		motcua_testhost_config_read(th, i, &section, &key);
		CHECK(section == NULL, "config_get(%s, %s)", section, key);
	}
	CHECK(motcua_testhost_violations(th) == 0, "the plugin broke the host's contract");
	motcua_testhost_free(th);
	if (failures == 0 && !getenv("SIGN_TEST_KEEP"))
		run(NULL, 0, "cd / && rm -rf '%s'", tmp);
	else
		fprintf(stderr, "test files kept in %s\n", tmp);
	fprintf(stderr, "%s: %d failure(s)\n", failures ? "FAILED" : "ok", failures);
	return failures ? 1 : 0;
}
