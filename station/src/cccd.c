/* SPDX-License-Identifier: MIT */
/* The applicant from the citizen's ID card (see cccd.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <glib.h>
#include <leptonica/allheaders.h>
#include <zbar.h>

#include "auth.h"
#include "capture.h"
#include "cccd.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "router.h"
#include "validate.h"
#include "workers.h"

#define WHO "cccd"
/* Decodes at once (each holds an image in memory). */
#define CCCD_IN_FLIGHT_MAX 4
/* A photo or a 600 dpi A4 scan is well below this; a "PNG" that says it is
 * larger is refused before it is decoded. */
#define CCCD_MAX_PIXELS (60u * 1000 * 1000)
/* A larger image is scaled down to this for the first pass. */
#define CCCD_FIRST_PASS_MAX 3000

struct cccd {
	struct gateway *gw;
	unsigned in_flight;
};

/* One decode, on the I/O pool. */
struct decode {
	struct cccd *k;
	struct evhttp_request *req;
	unsigned char *img;
	size_t len;
	/* the worker's answer */
	int status;
	const char *error;
	char detail[300];
	json_t *fields;
	int pass;
	double ms;
};

/* ---- the QR's text ---- */

/* A DDMMYYYY date that exists, as YYYY-MM-DD; its value as YYYYMMDD. */
static bool parse_date(const char *s, size_t n, char out[11], long *value)
{
	if (n != 8)
		return false;
	for (size_t i = 0; i < 8; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	int d = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[2] - '0') * 10 + (s[3] - '0');
	int y = (s[4] - '0') * 1000 + (s[5] - '0') * 100 + (s[6] - '0') * 10 + (s[7] - '0');
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
		return false;
	snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
	*value = (long)y * 10000 + m * 100 + d;
	return true;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Text of 1 to max bytes, valid UTF-8 without control characters and not
 * only blanks, in NFC; g_free() it. */
static char *nfc_text(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max || !g_utf8_validate(s, (gssize)n, NULL))
		return NULL;
	bool blank = true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return NULL;
		blank &= c == ' ';
	}
	return blank ? NULL : g_utf8_normalize(s, (gssize)n, G_NORMALIZE_NFC);
}

json_t *cccd_parse(const char *text, size_t len, char *why, size_t whylen)
{
	/* A trailing line end (some readers add one) is not part of the card. */
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	const char *f[8];
	size_t fl[8];
	int n = 0;
	for (size_t start = 0, i = 0; i <= len; i++) {
		if (i < len && text[i] != '|')
			continue;
		if (n == 8)
			break;
		f[n] = text + start;
		fl[n] = i - start;
		n++;
		start = i + 1;
	}
	if (n != 7) {
		snprintf(why, whylen,
			 "the QR code holds %s%d field%s separated by '|'; a citizen ID card's "
			 "holds 7 (ID|old ID|name|birth date|sex|address|issue date)",
			 n == 8 ? "more than " : "", n == 8 ? 7 : n, n == 1 ? "" : "s");
		return NULL;
	}
	if (fl[0] != 12 || !all_digits(f[0], 12)) {
		snprintf(why, whylen, "the ID number is not 12 digits");
		return NULL;
	}
	if (fl[1] != 0 && (fl[1] != 9 || !all_digits(f[1], 9))) {
		snprintf(why, whylen, "the old ID number is neither 9 digits nor empty");
		return NULL;
	}
	char birth[11], issued[11];
	long bv, iv;
	if (!parse_date(f[3], fl[3], birth, &bv)) {
		snprintf(why, whylen, "the birth date is not a date as DDMMYYYY");
		return NULL;
	}
	if (!parse_date(f[6], fl[6], issued, &iv)) {
		snprintf(why, whylen, "the issue date is not a date as DDMMYYYY");
		return NULL;
	}
	if (iv < bv) {
		snprintf(why, whylen, "the issue date is before the birth date");
		return NULL;
	}
	char *name = nfc_text(f[2], fl[2], 200), *sex = nfc_text(f[4], fl[4], 16),
	     *address = nfc_text(f[5], fl[5], 500);
	json_t *j = NULL;
	if (!name)
		snprintf(why, whylen, "the name is empty or not UTF-8 text");
	else if (!address)
		snprintf(why, whylen, "the address is empty or not UTF-8 text");
	else if (!sex || (strcmp(sex, "Nam") != 0 && strcmp(sex, "Nữ") != 0))
		snprintf(why, whylen, "the sex is neither \"Nam\" nor \"Nữ\"");
	else
		j = json_pack("{s:s%, s:s%, s:s, s:s, s:s, s:s, s:s}", "id_number", f[0], fl[0],
			      "old_id_number", f[1], fl[1], "name", name, "birth_date", birth,
			      "sex", sex, "address", address, "issue_date", issued);
	if (j && fl[1] == 0)
		json_object_set_new(j, "old_id_number", json_null());
	g_free(name);
	g_free(sex);
	g_free(address);
	if (!j && !why[0])
		snprintf(why, whylen, "out of memory");
	return j;
}

/* ---- the image ---- */

struct qr_found {
	int symbols;	/* QR codes read */
	json_t *fields; /* the first that is a card's */
	char why[200];	/* why the first one is not */
};

/* One pass of zbar over an 8-bit gray image. */
static void scan_pass(zbar_image_scanner_t *sc, PIX *pix, struct qr_found *q)
{
	l_int32 w = pixGetWidth(pix), h = pixGetHeight(pix), wpl = pixGetWpl(pix);
	l_uint32 *data = pixGetData(pix);
	unsigned char *buf = malloc((size_t)w * (size_t)h);
	if (!buf)
		return;
	for (l_int32 y = 0; y < h; y++) {
		l_uint32 *line = data + (size_t)y * (size_t)wpl;
		for (l_int32 x = 0; x < w; x++)
			buf[(size_t)y * (size_t)w + (size_t)x] =
			    (unsigned char)GET_DATA_BYTE(line, x);
	}
	zbar_image_t *img = zbar_image_create();
	if (!img) {
		free(buf);
		return;
	}
	zbar_image_set_format(img, zbar_fourcc('Y', '8', '0', '0'));
	zbar_image_set_size(img, (unsigned)w, (unsigned)h);
	zbar_image_set_data(img, buf, (unsigned long)w * (unsigned long)h, zbar_image_free_data);
	if (zbar_scan_image(sc, img) > 0) {
		for (const zbar_symbol_t *s = zbar_image_first_symbol(img); s && !q->fields;
		     s = zbar_symbol_next(s)) {
			if (zbar_symbol_get_type(s) != ZBAR_QRCODE)
				continue;
			char why[200] = "";
			q->fields = cccd_parse(zbar_symbol_get_data(s),
					       zbar_symbol_get_data_length(s), why, sizeof why);
			if (!q->symbols++)
				snprintf(q->why, sizeof q->why, "%s", why);
		}
	}
	zbar_image_destroy(img);
}

/* The passes, each on a copy the one before could not read: as it is
 * (scaled down if very large); cleaned of speckle noise (median 3x3);
 * binarized after flattening the background (shadows, uneven light);
 * scaled (up when small, down when large); turned a quarter. zbar finds a QR
 * at any angle, but a noisy or blurred finder pattern may read only once
 * the grid falls on other pixels. */
static int scan_passes(PIX *gray, struct qr_found *q)
{
	zbar_image_scanner_t *sc = zbar_image_scanner_create();
	if (!sc)
		return -ENOMEM;
	zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
	zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
	/* The card's bytes as they are (UTF-8), not zbar's guess at a charset. */
	zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1);
	l_int32 w = pixGetWidth(gray), h = pixGetHeight(gray);
	l_int32 big = w > h ? w : h;
	PIX *base = big > CCCD_FIRST_PASS_MAX
			? pixScale(gray, (l_float32)CCCD_FIRST_PASS_MAX / (l_float32)big,
				   (l_float32)CCCD_FIRST_PASS_MAX / (l_float32)big)
			: pixClone(gray);
	int pass = 0;
	for (int i = 0; base && i < 7 && !q->fields; i++) {
		PIX *p = NULL, *t = NULL;
		switch (i) {
		case 0:
			p = pixClone(base);
			break;
		case 1:
			p = pixMedianFilter(base, 3, 3);
			break;
		case 2:
			t = pixOtsuThreshOnBackgroundNorm(base, NULL, 10, 15, 100, 50, 255, 2, 2,
							  0.1f, NULL);
			p = t ? pixConvert1To8(NULL, t, 255, 0) : NULL;
			break;
		case 3: {
			l_int32 bw = pixGetWidth(base), bh = pixGetHeight(base);
			l_int32 bb = bw > bh ? bw : bh;
			l_float32 f = bb < 1000 ? 2.0f : 0.5f;
			p = pixScale(base, f, f);
			break;
		}
		case 4:
			t = pixMedianFilter(base, 3, 3);
			p = t ? pixRotate(t, 0.12f, L_ROTATE_AREA_MAP, L_BRING_IN_WHITE, 0, 0)
			      : NULL;
			break;
		case 5:
			p = pixUnsharpMaskingGray(base, 3, 1.0f);
			break;
		case 6: {
			PIX *m = pixMedianFilter(base, 3, 3);
			t = m ? pixUnsharpMaskingGray(m, 4, 1.5f) : NULL;
			pixDestroy(&m);
			m = t ? pixOtsuThreshOnBackgroundNorm(t, NULL, 10, 15, 100, 50, 255, 2, 2,
							      0.1f, NULL)
			      : NULL;
			p = m ? pixConvert1To8(NULL, m, 255, 0) : NULL;
			pixDestroy(&m);
			break;
		}
		}
		pixDestroy(&t);
		if (p && pixGetDepth(p) == 8) {
			pass = i + 1;
			scan_pass(sc, p, q);
		}
		pixDestroy(&p);
	}
	pixDestroy(&base);
	zbar_image_scanner_destroy(sc);
	return q->fields ? pass : 0;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void decode_work(void *arg)
{
	struct decode *d = arg;
	double t0 = now_ms();
	l_int32 format = 0, w = 0, h = 0, bps = 0, spp = 0, cmap = 0;
	if (pixReadHeaderMem(d->img, d->len, &format, &w, &h, &bps, &spp, &cmap) != 0 || w <= 0 ||
	    h <= 0) {
		d->status = 400;
		d->error = "bad_image";
		snprintf(d->detail, sizeof d->detail,
			 "the body is not a PNG, JPEG or TIFF image that can be read "
			 "(không đọc được ảnh)");
		return;
	}
	if ((uint64_t)w * (uint64_t)h > CCCD_MAX_PIXELS) {
		d->status = 413;
		d->error = "too_large";
		snprintf(d->detail, sizeof d->detail,
			 "the image is %dx%d pixels; at most %u million are read", w, h,
			 CCCD_MAX_PIXELS / 1000000);
		return;
	}
	PIX *pix = pixReadMem(d->img, d->len);
	if (pix && pixGetSpp(pix) == 4) {
		/* a transparent background is paper, not black */
		PIX *flat = pixAlphaBlendUniform(pix, 0xffffff00);
		pixDestroy(&pix);
		pix = flat;
	}
	PIX *gray = pix ? pixConvertTo8(pix, 0) : NULL;
	pixDestroy(&pix);
	if (!gray) {
		d->status = 400;
		d->error = "bad_image";
		snprintf(d->detail, sizeof d->detail,
			 "the image cannot be decoded (không đọc được ảnh)");
		return;
	}
	struct qr_found q = {0};
	int r = scan_passes(gray, &q);
	pixDestroy(&gray);
	d->ms = now_ms() - t0;
	if (r < 0) {
		d->status = 503;
		d->error = "no_memory";
		snprintf(d->detail, sizeof d->detail, "out of memory");
	} else if (q.fields) {
		d->status = 200;
		d->fields = q.fields;
		d->pass = r;
	} else if (q.symbols) {
		d->status = 422;
		d->error = "not_cccd";
		snprintf(d->detail, sizeof d->detail,
			 "the QR code is not a citizen ID card's (không phải mã QR của thẻ căn "
			 "cước): %s",
			 q.why);
	} else {
		d->status = 422;
		d->error = "no_qr";
		snprintf(d->detail, sizeof d->detail,
			 "no QR code could be read in the image; place the card's side with the "
			 "QR code flat and in focus (không đọc được mã QR)");
	}
}

static void decode_free(struct decode *d)
{
	free(d->img);
	json_decref(d->fields);
	free(d);
}

static void decode_done(void *arg, int cancelled)
{
	struct decode *d = arg;
	d->k->in_flight--;
	if (http_client_gone(d->req)) {
		http_reply_gone(d->req);
	} else if (cancelled) {
		http_reply_error(d->req, 503, "stopping", "the gateway is stopping");
	} else if (d->status == 200) {
		gw_log(MOTCUA_LOG_INFO, WHO, "a card read in %.0f ms (pass %d)", d->ms, d->pass);
		http_set_header(d->req, "Cache-Control", "no-store");
		http_reply_json(d->req, 200, d->fields);
		d->fields = NULL;
	} else {
		if (d->status == 422)
			gw_log(MOTCUA_LOG_INFO, WHO, "no card read (%s) in %.0f ms", d->error,
			       d->ms);
		http_reply_error(d->req, d->status, d->error, "%s", d->detail);
	}
	decode_free(d);
}

/* Takes img over; answers the request either way. */
static void decode_submit(struct cccd *k, struct evhttp_request *req, unsigned char *img,
			  size_t len)
{
	struct decode *d = calloc(1, sizeof *d);
	if (!d) {
		free(img);
		http_reply_error(req, 503, "no_memory", "out of memory");
		return;
	}
	d->k = k;
	d->req = req;
	d->img = img;
	d->len = len;
	int r = workers_submit(k->gw->io_workers, decode_work, decode_done, d);
	if (r < 0) {
		decode_free(d);
		http_set_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "busy", "cannot read the card now: %s", strerror(-r));
		return;
	}
	k->in_flight++;
}

/* ---- ?scan=1: one page from the capture plugin ---- */

struct scan_wait {
	struct cccd *k;
	struct evhttp_request *req;
};

static void on_scanned(void *data, int result, unsigned char *page, size_t len,
		       const char *media_type, const char *message)
{
	(void)media_type;
	struct scan_wait *sw = data;
	struct cccd *k = sw->k;
	struct evhttp_request *req = sw->req;
	free(sw);
	k->in_flight--;
	if (http_client_gone(req)) {
		free(page);
		http_reply_gone(req);
	} else if (result == -ECANCELED) {
		http_reply_error(req, 503, "stopping", "the gateway is stopping");
	} else if (result < 0) {
		http_reply_error(req, 503, "scanner_error",
				 "the card could not be scanned (không quét được thẻ): %s",
				 message && message[0] ? message : strerror(-result));
	} else {
		decode_submit(k, req, page, len);
	}
}

static void scan_card(struct cccd *k, struct evhttp_request *req)
{
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) != 0) {
		http_reply_error(req, 400, "bad_request",
				 "?scan=1 takes the card from the scanner: send no body");
		return;
	}
	struct scan_wait *sw = calloc(1, sizeof *sw);
	if (!sw) {
		http_reply_error(req, 503, "no_memory", "out of memory");
		return;
	}
	sw->k = k;
	sw->req = req;
	char msg[300];
	/* The plugin's configured defaults (device, source, mode, resolution). */
	int r = capture_one_page(k->gw->capture, "{}", k->gw->settings.max_upload_bytes, on_scanned,
				 sw, msg, sizeof msg);
	switch (r) {
	case 0:
		k->in_flight++;
		return;
	case -ENODEV:
		http_reply_error(req, 503, "no_scanner", "%s", msg);
		break;
	case -EBUSY:
		http_reply_error(req, 409, "scanner_busy", "%s", msg);
		break;
	case -EINVAL:
		http_reply_error(req, 400, "bad_request", "%s", msg);
		break;
	default:
		http_reply_error(req, 503, "unavailable", "the scan could not start: %s", msg);
	}
	free(sw);
}

/* ---- the route ---- */

/* POST /api/v1/cccd: the body an image, or ?scan=1 and no body. */
static void route_cccd(struct call *call)
{
	struct cccd *k = call->data;
	struct evhttp_request *req = call->req;
	struct evkeyvalq q;
	if (!http_query(req, &q))
		return;
	bool scan = false, bad = false;
	for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
		if (!strcmp(kv->key, "scan") &&
		    (!strcmp(kv->value, "1") || !strcmp(kv->value, "0")))
			scan = !strcmp(kv->value, "1");
		else
			bad = true;
	}
	evhttp_clear_headers(&q);
	if (bad) {
		http_reply_error(req, 400, "bad_request",
				 "the only query parameter is scan=1 (take the card from the "
				 "scanner)");
		return;
	}
	if (k->in_flight >= CCCD_IN_FLIGHT_MAX) {
		http_set_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "busy", "too many cards are being read; try again");
		return;
	}
	if (scan) {
		scan_card(k, req);
		return;
	}
	const char *ct = http_header(req, "Content-Type");
	char type[32] = "";
	if (ct) {
		size_t n = strcspn(ct, "; ");
		if (n < sizeof type) {
			for (size_t i = 0; i < n; i++)
				type[i] =
				    (char)((ct[i] >= 'A' && ct[i] <= 'Z') ? ct[i] + 32 : ct[i]);
			type[n] = 0;
		}
	}
	if (strcmp(type, "image/png") != 0 && strcmp(type, "image/jpeg") != 0 &&
	    strcmp(type, "image/tiff") != 0) {
		http_reply_error(req, 415, "unsupported_media_type",
				 "send the card's image as image/png, image/jpeg or image/tiff "
				 "(or ?scan=1 with no body)");
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > k->gw->settings.max_upload_bytes) {
		http_reply_error(req, 413, "too_large", "an image may be at most %llu MB",
				 (unsigned long long)(k->gw->settings.max_upload_bytes >> 20));
		return;
	}
	if (len == 0) {
		http_reply_error(req, 400, "bad_image",
				 "the body is empty; send the card's image as the body");
		return;
	}
	unsigned char probe[64];
	size_t pn = len < sizeof probe ? len : sizeof probe;
	evbuffer_copyout(in, probe, pn);
	bool sig = !strcmp(type, "image/png") ? pn >= 8 && !memcmp(probe, "\x89PNG\r\n\x1a\n", 8)
		   : !strcmp(type, "image/jpeg")
		       ? pn >= 3 && probe[0] == 0xFF && probe[1] == 0xD8 && probe[2] == 0xFF
		       : pn >= 4 && (!memcmp(probe, "II*\0", 4) || !memcmp(probe, "MM\0*", 4));
	if (!sig) {
		http_reply_error(req, 400, "bad_image", "the body is not a %s file",
				 type + strlen("image/"));
		return;
	}
	unsigned char *img = malloc(len);
	if (!img || evbuffer_remove(in, img, len) != (int)len) {
		free(img);
		http_reply_error(req, 503, "no_memory", "out of memory");
		return;
	}
	decode_submit(k, req, img, len);
}

static const struct route_def routes[] = {
    {"POST", "/api/v1/cccd", R_STAFF, route_cccd,
     "the applicant's fields from a citizen ID card's QR (an image, or ?scan=1); stores "
     "nothing"},
};

struct cccd *cccd_new(struct gateway *gw)
{
	struct cccd *k = calloc(1, sizeof *k);
	if (!k)
		return NULL;
	k->gw = gw;
	if (router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], k, "station") <
	    0) {
		free(k);
		return NULL;
	}
	return k;
}

void cccd_free(struct cccd *k)
{
	if (!k)
		return;
	router_remove_owner(k->gw->router, k);
	free(k);
}
