/* SPDX-License-Identifier: MIT */
/*
 * sign-core: PAdES baseline signatures (ETSI EN 319 142-1, B-B and B-T).
 *
 * 1. qpdf rewrites the incoming PDF (any PDF an agency sends: object
 *    streams, cross-reference streams, damaged tables qpdf can recover)
 *    with a classic cross-reference table and no object streams;
 * 2. qpdf reads that result again to tell us its objects, and makes the
 *    new versions of the catalog (AcroForm, /SigFlags 3) and of page 1
 *    (/Annots) plus the signature field's widget;
 * 3. we append ONE incremental update: those objects, the signature
 *    dictionary with a /ByteRange and a zero-filled /Contents, its own
 *    xref section and trailer (/Prev to the table qpdf wrote);
 * 4. the byte range (the whole file but /Contents) is hashed, the CMS made
 *    (sign_cms_build) and written in hex into /Contents.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <qpdf/qpdf-c.h>

#include "core-internal.h"

#define MAX_PDF_BYTES ((size_t)1 << 30)
#define MAX_NEW_OBJS 32

static void qpdf_reason(qpdf_data q, char *buf, size_t len)
{
	if (qpdf_has_error(q))
		snprintf(buf, len, "%s", qpdf_get_error_full_text(q, qpdf_get_error(q)));
	else
		snprintf(buf, len, "unknown qpdf error");
}

/* The value of the last "startxref" of a file. */
static long long last_startxref(const unsigned char *b, size_t n)
{
	size_t from = n > 2048 ? n - 2048 : 0;
	const unsigned char *hit = NULL, *p = b + from;
	while ((p = memmem(p, n - (size_t)(p - b), "startxref", 9)) != NULL) {
		hit = p;
		p += 9;
	}
	if (!hit)
		return -1;
	return strtoll((const char *)hit + 9, NULL, 10);
}

/* Page attributes may be inherited from the page tree. */
static qpdf_oh inherited(qpdf_data q, qpdf_oh page, const char *key)
{
	qpdf_oh node = page;
	for (int depth = 0; depth < 64; depth++) {
		if (qpdf_oh_has_key(q, node, key))
			return qpdf_oh_get_key(q, node, key);
		if (!qpdf_oh_has_key(q, node, "/Parent"))
			break;
		node = qpdf_oh_get_key(q, node, "/Parent");
	}
	return qpdf_oh_new_null(q);
}

/* A new direct array: the old one's items (if any) and one more. */
static qpdf_oh array_plus(qpdf_data q, qpdf_oh old, qpdf_oh item)
{
	qpdf_oh a = qpdf_oh_new_array(q);
	if (qpdf_oh_is_array(q, old)) {
		int n = qpdf_oh_get_array_n_items(q, old);
		for (int i = 0; i < n; i++)
			qpdf_oh_append_item(q, a, qpdf_oh_get_array_item(q, old, i));
	}
	qpdf_oh_append_item(q, a, item);
	return a;
}

/* A field name no top-level field has yet: Signature1, Signature2, ... */
static void field_name(qpdf_data q, qpdf_oh fields, char *name, size_t len)
{
	int n = qpdf_oh_is_array(q, fields) ? qpdf_oh_get_array_n_items(q, fields) : 0;
	for (int k = 1; k < 10000; k++) {
		snprintf(name, len, "Signature%d", k);
		bool taken = false;
		for (int i = 0; i < n && !taken; i++) {
			qpdf_oh f = qpdf_oh_get_array_item(q, fields, i);
			if (qpdf_oh_is_dictionary(q, f) && qpdf_oh_has_key(q, f, "/T")) {
				qpdf_oh t = qpdf_oh_get_key(q, f, "/T");
				if (qpdf_oh_is_string(q, t) &&
				    !strcmp(qpdf_oh_get_utf8_value(q, t), name))
					taken = true;
			}
		}
		if (!taken)
			return;
	}
}

struct obj_entry {
	int id, gen;
	size_t offset;
};

static void write_object(struct sign_buf *b, struct obj_entry *e, int *n, qpdf_data q, qpdf_oh oh)
{
	e[*n].id = qpdf_oh_get_object_id(q, oh);
	e[*n].gen = qpdf_oh_get_generation(q, oh);
	e[*n].offset = b->len;
	(*n)++;
	sign_buf_printf(b, "%d %d obj\n", qpdf_oh_get_object_id(q, oh),
			qpdf_oh_get_generation(q, oh));
	const char *text = qpdf_oh_unparse_resolved(q, oh);
	sign_buf_add(b, text, strlen(text));
	sign_buf_add(b, "\nendobj\n", 8);
}

static int cmp_entry(const void *a, const void *b)
{
	return ((const struct obj_entry *)a)->id - ((const struct obj_entry *)b)->id;
}

static int normalise(const unsigned char *in, size_t in_len, struct sign_buf *out, char *err,
		     size_t len)
{
	qpdf_data q = qpdf_init();
	int r = 0;
	char why[512];
	qpdf_silence_errors(q);
	qpdf_set_suppress_warnings(q, QPDF_TRUE);
	if (qpdf_read_memory(q, "input.pdf", (const char *)in, (unsigned long long)in_len, NULL) &
	    QPDF_ERRORS) {
		qpdf_reason(q, why, sizeof why);
		r = sign_fail(-EINVAL, err, len,
			      "the PDF cannot be read (damaged, or protected by a password): %s",
			      why);
		goto out;
	}
	if (qpdf_get_num_pages(q) <= 0) {
		r = sign_fail(-EINVAL, err, len, "the PDF has no pages");
		goto out;
	}
	if ((qpdf_init_write_memory(q) & QPDF_ERRORS)) {
		qpdf_reason(q, why, sizeof why);
		r = sign_fail(-EIO, err, len, "qpdf cannot rewrite the PDF: %s", why);
		goto out;
	}
	qpdf_set_object_stream_mode(q, qpdf_o_disable);
	qpdf_set_preserve_encryption(q, QPDF_FALSE);
	qpdf_set_linearization(q, QPDF_FALSE);
	qpdf_set_qdf_mode(q, QPDF_FALSE);
	qpdf_set_deterministic_ID(q, QPDF_TRUE);
	if (qpdf_write(q) & QPDF_ERRORS) {
		qpdf_reason(q, why, sizeof why);
		r = sign_fail(-EINVAL, err, len, "qpdf cannot rewrite the PDF: %s", why);
		goto out;
	}
	sign_buf_add(out, qpdf_get_buffer(q), qpdf_get_buffer_length(q));
	if (out->failed)
		r = -ENOMEM;
out:
	qpdf_cleanup(&q);
	return r;
}

static void pdf_date(time_t t, char *buf, size_t len)
{
	time_t vn = t + 7 * 3600;
	struct tm tm;
	gmtime_r(&vn, &tm);
	strftime(buf, len, "D:%Y%m%d%H%M%S+07'00'", &tm);
}

int sign_pdf_buffer(struct sign_signer *s, const unsigned char *in, size_t in_len, time_t now,
		    unsigned char **out, size_t *out_len, struct sign_result *res, char *err,
		    size_t len)
{
	memset(res, 0, sizeof *res);
	if (err && len)
		err[0] = 0;
	if (!now)
		now = time(NULL);
	if (in_len < 8 || !memmem(in, in_len < 1024 ? in_len : 1024, "%PDF-", 5))
		return sign_fail(-EINVAL, err, len, "the file is not a PDF (no %%PDF- header)");

	struct sign_buf b = {0};
	unsigned char *cms = NULL;
	size_t cms_len = 0;
	qpdf_data q = NULL;
	int r = normalise(in, in_len, &b, err, len);
	if (r < 0)
		goto out;
	long long prev = last_startxref((unsigned char *)b.data, b.len);
	if (prev <= 0) {
		r = sign_fail(-EIO, err, len, "qpdf wrote no startxref");
		goto out;
	}
	size_t base_len = b.len;
	if (b.data[b.len - 1] != '\n')
		sign_buf_add(&b, "\n", 1);

	/* read qpdf's result back: object numbers are qpdf's new ones. The
	 * buffer must not move while q reads it, so q gets its own copy. */
	char *base = malloc(base_len);
	if (!base) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(base, b.data, base_len);
	q = qpdf_init();
	qpdf_silence_errors(q);
	qpdf_set_suppress_warnings(q, QPDF_TRUE);
	if (qpdf_read_memory(q, "normalised.pdf", base, (unsigned long long)base_len, NULL) &
	    QPDF_ERRORS) {
		char why[512];
		qpdf_reason(q, why, sizeof why);
		r = sign_fail(-EIO, err, len, "qpdf cannot read back its own output: %s", why);
		qpdf_cleanup(&q);
		free(base);
		goto out;
	}

	qpdf_oh root = qpdf_get_root(q);
	qpdf_oh trailer = qpdf_get_trailer(q);
	qpdf_oh page = qpdf_get_page_n(q, 0);
	qpdf_oh widget = qpdf_make_indirect_object(q, qpdf_oh_new_dictionary(q));
	qpdf_oh sigdict = qpdf_make_indirect_object(q, qpdf_oh_new_dictionary(q));
	int sig_id = qpdf_oh_get_object_id(q, sigdict);

	/* the AcroForm, direct or indirect, old or new */
	qpdf_oh af = qpdf_oh_get_key(q, root, "/AcroForm");
	bool af_indirect = qpdf_oh_is_indirect(q, af) && qpdf_oh_is_dictionary(q, af);
	if (!qpdf_oh_is_dictionary(q, af)) {
		af = qpdf_oh_new_dictionary(q);
		af_indirect = false;
	}
	qpdf_oh fields = qpdf_oh_get_key(q, af, "/Fields");
	char name[32];
	field_name(q, fields, name, sizeof name);
	qpdf_oh_replace_key(q, af, "/Fields", array_plus(q, fields, widget));
	qpdf_oh_replace_key(q, af, "/SigFlags", qpdf_oh_new_integer(q, 3));
	if (!af_indirect)
		qpdf_oh_replace_key(q, root, "/AcroForm", af);

	/* the widget, merged with its field */
	qpdf_oh_replace_key(q, widget, "/Type", qpdf_oh_new_name(q, "/Annot"));
	qpdf_oh_replace_key(q, widget, "/Subtype", qpdf_oh_new_name(q, "/Widget"));
	qpdf_oh_replace_key(q, widget, "/FT", qpdf_oh_new_name(q, "/Sig"));
	qpdf_oh_replace_key(q, widget, "/T", qpdf_oh_new_unicode_string(q, name));
	qpdf_oh_replace_key(q, widget, "/V", sigdict);
	qpdf_oh_replace_key(q, widget, "/P", page);
	qpdf_oh_replace_key(q, widget, "/F", qpdf_oh_new_integer(q, 132)); /* print, locked */
	qpdf_oh_replace_key(q, widget, "/Rect", qpdf_oh_parse(q, "[0 0 0 0]"));

	struct obj_entry e[MAX_NEW_OBJS];
	int n = 0;
	struct sign_buf stamp = {0};
	long stamp_off[MAX_NEW_OBJS];
	int n_stamp = 0, stamp_first = 0;
	if (s->stamp) {
		double box[4] = {0, 0, 595.28, 841.89};
		qpdf_oh mb = inherited(q, page, "/CropBox");
		if (!qpdf_oh_is_array(q, mb))
			mb = inherited(q, page, "/MediaBox");
		if (qpdf_oh_is_array(q, mb) && qpdf_oh_get_array_n_items(q, mb) == 4)
			for (int i = 0; i < 4; i++)
				box[i] =
				    qpdf_oh_get_numeric_value(q, qpdf_oh_get_array_item(q, mb, i));
		qpdf_oh rot = inherited(q, page, "/Rotate");
		int rotate = qpdf_oh_is_integer(q, rot) ? qpdf_oh_get_int_value_as_int(q, rot) : 0;
		/* the stamp's appearance: an object number from qpdf, content from us */
		qpdf_oh ap_oh = qpdf_make_indirect_object(q, qpdf_oh_new_dictionary(q));
		int first = qpdf_oh_get_object_id(q, ap_oh);
		stamp_first = first;
		int ap = 0;
		double rect[4];
		r = sign_stamp_objects(s, s->organisation, now, first, box, rotate, &stamp,
				       stamp_off, &n_stamp, &ap, rect, err, len);
		if (r < 0) {
			free(stamp.data);
			goto out_q;
		}
		char tmp[160];
		snprintf(tmp, sizeof tmp, "[%.2f %.2f %.2f %.2f]", rect[0], rect[1], rect[2],
			 rect[3]);
		qpdf_oh_replace_key(q, widget, "/Rect", qpdf_oh_parse(q, tmp));
		qpdf_oh apd = qpdf_oh_new_dictionary(q);
		qpdf_oh_replace_key(q, apd, "/N", ap_oh);
		qpdf_oh_replace_key(q, widget, "/AP", apd);
		if (ap != first || n_stamp != 1) {
			r = sign_fail(-EINVAL, err, len, "stamp: unexpected objects");
			free(stamp.data);
			goto out_q;
		}
	}
	qpdf_oh_replace_key(q, page, "/Annots",
			    array_plus(q, qpdf_oh_get_key(q, page, "/Annots"), widget));

	/* the incremental update */
	write_object(&b, e, &n, q, root);
	if (af_indirect)
		write_object(&b, e, &n, q, af);
	write_object(&b, e, &n, q, page);
	write_object(&b, e, &n, q, widget);

	size_t reserve = sign_cms_max_size(s);
	char mdate[40];
	pdf_date(now, mdate, sizeof mdate);
	e[n].id = sig_id;
	e[n].gen = 0;
	e[n].offset = b.len;
	n++;
	sign_buf_printf(&b,
			"%d 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter "
			"/ETSI.CAdES.detached /M (%s) ",
			sig_id, mdate);
	sign_buf_add(&b, "/ByteRange ", 11);
	size_t br_at = b.len;
	const char br_placeholder[] = "[0 0000000000 0000000000 0000000000]";
	sign_buf_add(&b, br_placeholder, sizeof br_placeholder - 1);
	sign_buf_add(&b, " /Contents ", 11);
	size_t contents_at = b.len;
	sign_buf_add(&b, "<", 1);
	for (size_t i = 0; i < reserve && !b.failed; i++)
		sign_buf_add(&b, "00", 2);
	sign_buf_add(&b, ">", 1);
	size_t contents_end = b.len;
	sign_buf_add(&b, " >>\nendobj\n", 11);

	for (int i = 0; i < n_stamp && n < MAX_NEW_OBJS; i++) {
		e[n].id = stamp_first + i;
		e[n].gen = 0;
		e[n].offset = b.len + (size_t)stamp_off[i];
		n++;
	}
	sign_buf_add(&b, stamp.data, stamp.len);
	free(stamp.data);

	qsort(e, (size_t)n, sizeof e[0], cmp_entry);
	int size = e[n - 1].id + 1;
	if (qpdf_oh_get_int_value_as_int(q, qpdf_oh_get_key(q, trailer, "/Size")) > size)
		size = qpdf_oh_get_int_value_as_int(q, qpdf_oh_get_key(q, trailer, "/Size"));
	size_t xref_at = b.len;
	sign_buf_add(&b, "xref\n", 5);
	for (int i = 0; i < n;) {
		int j = i;
		while (j + 1 < n && e[j + 1].id == e[j].id + 1)
			j++;
		sign_buf_printf(&b, "%d %d\n", e[i].id, j - i + 1);
		for (int k = i; k <= j; k++)
			sign_buf_printf(&b, "%010zu %05d n\r\n", e[k].offset, e[k].gen);
		i = j + 1;
	}
	qpdf_oh_replace_key(q, trailer, "/Size", qpdf_oh_new_integer(q, size));
	qpdf_oh_replace_key(q, trailer, "/Prev", qpdf_oh_new_integer(q, prev));
	qpdf_oh_remove_key(q, trailer, "/XRefStm");
	const char *tr = qpdf_oh_unparse_resolved(q, trailer);
	sign_buf_printf(&b, "trailer\n%s\nstartxref\n%zu\n%%%%EOF\n", tr, xref_at);
	if (b.failed) {
		r = -ENOMEM;
		goto out_q;
	}

	/* the byte range: everything but /Contents' hex string */
	size_t b1 = contents_end, c1 = b.len - contents_end;
	char br[64];
	int bl = snprintf(br, sizeof br, "[0 %zu %zu %zu", contents_at, b1, c1);
	if (bl < 0 || (size_t)bl + 1 > sizeof br_placeholder - 1) {
		r = sign_fail(-EFBIG, err, len, "the PDF is too large to sign");
		goto out_q;
	}
	memset(b.data + br_at, ' ', sizeof br_placeholder - 1);
	memcpy(b.data + br_at, br, (size_t)bl);
	b.data[br_at + sizeof br_placeholder - 2] = ']';

	unsigned char digest[32];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
		  EVP_DigestUpdate(md, b.data, contents_at) &&
		  EVP_DigestUpdate(md, b.data + b1, c1) && EVP_DigestFinal_ex(md, digest, NULL);
	EVP_MD_CTX_free(md);
	if (!ok) {
		r = -ENOMEM;
		goto out_q;
	}

	r = sign_cms_build(s, digest, 0, &cms, &cms_len, res, err, len);
	if (r < 0)
		goto out_q;
	if (cms_len > reserve) {
		r = sign_fail(-ENOSPC, err, len,
			      "the signature (%zu bytes) does not fit the space kept for it (%zu)",
			      cms_len, reserve);
		goto out_q;
	}
	static const char hex[] = "0123456789ABCDEF";
	char *h = b.data + contents_at + 1;
	for (size_t i = 0; i < cms_len; i++) {
		h[2 * i] = hex[cms[i] >> 4];
		h[2 * i + 1] = hex[cms[i] & 15];
	}
	snprintf(res->format, sizeof res->format, "PAdES");
	res->signed_at = now;
	*out = (unsigned char *)b.data;
	*out_len = b.len;
	b.data = NULL;
	r = 0;
out_q:
	qpdf_cleanup(&q);
	free(base);
out:
	free(cms);
	free(b.data);
	return r;
}

int sign_pdf(struct sign_signer *s, const char *in_path, const char *out_path, time_t now,
	     struct sign_result *res, char *err, size_t len)
{
	unsigned char *in = NULL, *out = NULL;
	size_t in_len = 0, out_len = 0;
	int r = io_read_file(in_path, MAX_PDF_BYTES, &in, &in_len);
	if (r < 0)
		return sign_fail(r, err, len, "cannot read %s: %s", in_path, strerror(-r));
	r = sign_pdf_buffer(s, in, in_len, now, &out, &out_len, res, err, len);
	free(in);
	if (r < 0)
		return r;
	r = io_replace_file(out_path, out, out_len, 0644);
	free(out);
	if (r < 0)
		return sign_fail(r, err, len, "cannot write %s: %s", out_path, strerror(-r));
	return 0;
}

static int digest_chunk(void *sha, const void *data, size_t n)
{
	EVP_DigestUpdate(sha, data, n);
	return 0;
}

int sign_cades(struct sign_signer *s, const char *in_path, const char *p7s_path, time_t now,
	       struct sign_result *res, char *err, size_t len)
{
	memset(res, 0, sizeof *res);
	if (err && len)
		err[0] = 0;
	if (!now)
		now = time(NULL);
	int fd = open(in_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sign_fail(-errno, err, len, "cannot open %s: %s", in_path, strerror(errno));
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	if (!sha || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(sha);
		close(fd);
		return -ENOMEM;
	}
	unsigned char buf[1 << 16];
	int rd = io_read_chunks(fd, buf, sizeof buf, digest_chunk, sha);
	close(fd);
	if (rd < 0) {
		EVP_MD_CTX_free(sha);
		return sign_fail(rd, err, len, "cannot read %s: %s", in_path, strerror(-rd));
	}
	unsigned char digest[32];
	EVP_DigestFinal_ex(sha, digest, NULL);
	EVP_MD_CTX_free(sha);
	unsigned char *cms = NULL;
	size_t cms_len = 0;
	int r = sign_cms_build(s, digest, now, &cms, &cms_len, res, err, len);
	if (r < 0)
		return r;
	r = io_replace_file(p7s_path, cms, cms_len, 0644);
	free(cms);
	if (r < 0)
		return sign_fail(r, err, len, "cannot write %s: %s", p7s_path, strerror(-r));
	snprintf(res->format, sizeof res->format, "CAdES");
	res->signed_at = now;
	return 0;
}
