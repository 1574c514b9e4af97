/* SPDX-License-Identifier: MIT */
/*
 * The receipt (form 01) and the supplement request (form 02), laid out once
 * (draw_form) and drawn with cairo and pango on an A4 PDF page or on a gray
 * raster of a thermal printer's width, which is thresholded to 1 bit.
 *
 * What a form says is gathered on the loop into a JSON object of display
 * strings (gather_receipt, gather_supplement): the dossier, its procedure,
 * its documents' papers, the official's name, the lookup URL. The same
 * dossier gives the same strings, so a reprint is the same receipt. The
 * drawing runs on the I/O pool (render_work), never on the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cairo-pdf.h>
#include <cairo.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <fontconfig/fontconfig.h>
#include <glib.h>
#include <pango/pangocairo.h>

#include "calendar.h"
#include "db.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "procedures.h"
#include "qr.h"
#include "raster.h"
#include "receipt.h"
#include "records.h"
#include "router.h"
#include "util.h"
#include "weburl.h"
#include "workers.h"

#define FONT "DejaVu Sans"
#define A4_W 595.276
#define A4_H 841.890
#define A4_LEFT 56.0 /* 2 cm */
#define A4_RIGHT 42.0
#define A4_TOP 42.0
#define A4_BASE 11.0 /* points */
#define THERMAL_MARGIN 8.0
#define THRESHOLD 160	  /* gray below this prints black */
#define RENDERS_MAX 8	  /* renders queued or running at once */
#define OTHER_ROWS_MAX 40 /* documents of no paper listed one by one */

struct receipt {
	struct gateway *gw;
	unsigned in_flight;
};

enum form_kind { FORM_RECEIPT, FORM_SUPPLEMENT };

struct render {
	struct receipt *rc;
	struct evhttp_request *req;
	json_t *form; /* display strings; only the worker touches it meanwhile */
	int width;    /* 0: A4 PDF; else the raster's width in dots */
	struct bytes out;
	int result;
	double ms;
};

/* ---- the output ---- */

static cairo_status_t pdf_write(void *closure, const unsigned char *data, unsigned int len)
{
	struct render *r = closure;
	return bytes_add(&r->out, data, len) < 0 ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

/* ---- the layout ---- */

struct pen {
	cairo_t *cr;
	PangoContext *ctx;
	double x, w; /* the content's left edge and width */
	double y;    /* where the next block starts */
	double size; /* the body's font size, in the surface's units */
	bool narrow; /* a thermal roll: one column */
	bool raster; /* dots: the QR's modules on whole dots */
};

static const char *S(json_t *f, const char *key)
{
	const char *s = json_string_value(json_object_get(f, key));
	return s ? s : "";
}

/* A paragraph of pango markup at (x, y) in width w; returns its height. */
static double para(struct pen *p, double x, double y, double w, const char *markup, double scale,
		   PangoAlignment align)
{
	PangoLayout *l = pango_layout_new(p->ctx);
	PangoFontDescription *fd = pango_font_description_from_string(FONT);
	pango_font_description_set_absolute_size(fd, p->size * scale * PANGO_SCALE);
	pango_layout_set_font_description(l, fd);
	pango_font_description_free(fd);
	pango_layout_set_width(l, (int)(w * PANGO_SCALE));
	pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
	pango_layout_set_alignment(l, align);
	pango_layout_set_markup(l, markup, -1);
	int lw, lh;
	pango_layout_get_size(l, &lw, &lh);
	cairo_move_to(p->cr, x, y);
	pango_cairo_show_layout(p->cr, l);
	g_object_unref(l);
	return (double)lh / PANGO_SCALE;
}

/* A paragraph across the content width, then a small gap. */
static void line(struct pen *p, const char *markup, double scale, PangoAlignment align)
{
	p->y += para(p, p->x, p->y, p->w, markup, scale, align) + p->size * 0.25;
}

/* "label value" with the value in bold; nothing when the value is empty
 * and skip_empty. */
static void field(struct pen *p, const char *label, const char *value, bool skip_empty)
{
	if (skip_empty && !*value)
		return;
	char *m = g_markup_printf_escaped("%s <b>%s</b>", label, *value ? value : "…");
	line(p, m, 1, PANGO_ALIGN_LEFT);
	g_free(m);
}

static void rule(struct pen *p, double x0, double x1, double y)
{
	cairo_set_line_width(p->cr, p->raster ? 1 : 0.6);
	cairo_move_to(p->cr, x0, y);
	cairo_line_to(p->cr, x1, y);
	cairo_stroke(p->cr);
}

/* The office and the national motto: side by side on A4 (as the circular's
 * forms have them), one under the other on a roll. */
static void header(struct pen *p, json_t *f)
{
	char *office = g_utf8_strup(S(f, "office"), -1), *unit = g_utf8_strup(S(f, "unit"), -1);
	char *left = *unit ? g_markup_printf_escaped("%s\n<b>%s</b>", unit, office)
			   : g_markup_printf_escaped("<b>%s</b>", office);
	const char *motto = "<b>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</b>\n"
			    "<b>Độc lập - Tự do - Hạnh phúc</b>";
	char *date = g_markup_printf_escaped("<i>%s</i>", S(f, "date_line"));
	if (p->narrow) {
		line(p, motto, 0.95, PANGO_ALIGN_CENTER);
		rule(p, p->x + p->w * 0.3, p->x + p->w * 0.7, p->y);
		p->y += p->size * 0.6;
		line(p, left, 0.95, PANGO_ALIGN_CENTER);
		line(p, date, 0.9, PANGO_ALIGN_CENTER);
	} else {
		double lw = p->w * 0.42, rw = p->w * 0.58;
		double hl = para(p, p->x, p->y, lw, left, 0.9, PANGO_ALIGN_CENTER);
		double hr = para(p, p->x + lw, p->y, rw, motto, 0.95, PANGO_ALIGN_CENTER);
		double y = p->y + (hl > hr ? hl : hr) + p->size * 0.4;
		rule(p, p->x + lw * 0.35, p->x + lw * 0.65, p->y + hl + p->size * 0.35);
		rule(p, p->x + lw + rw * 0.25, p->x + lw + rw * 0.75, p->y + hr + p->size * 0.35);
		y += p->size * 0.5;
		y += para(p, p->x + lw, y, rw, date, 0.95, PANGO_ALIGN_CENTER);
		p->y = y + p->size * 0.8;
	}
	g_free(office);
	g_free(unit);
	g_free(left);
	g_free(date);
}

/* The papers handed in: TT, name, original or copy, count, with borders. */
static void papers_table(struct pen *p, json_t *papers)
{
	static const double frac[4] = {0.09, 0.51, 0.25, 0.15};
	static const char *const heads[4] = {"<b>TT</b>", "<b>Tên giấy tờ</b>", "<b>Hình thức</b>",
					     "<b>Số lượng</b>"};
	double pad = p->size * 0.25, scale = p->narrow ? 0.9 : 0.95;
	size_t n = json_array_size(papers);
	for (size_t row = 0; row <= n; row++) {
		char *cells[4];
		if (row == 0) {
			for (int c = 0; c < 4; c++)
				cells[c] = g_strdup(heads[c]);
		} else {
			json_t *pp = json_array_get(papers, row - 1);
			cells[0] = g_strdup_printf("%zu", row);
			cells[1] = g_markup_escape_text(S(pp, "name"), -1);
			cells[2] = g_markup_escape_text(S(pp, "form"), -1);
			cells[3] = g_markup_escape_text(S(pp, "count"), -1);
		}
		/* Measure and draw each cell; the row is as tall as its tallest. */
		double x = p->x, h = 0, xs[5];
		for (int c = 0; c < 4; c++) {
			xs[c] = x;
			double cw = p->w * frac[c];
			double ch = para(p, x + pad, p->y + pad, cw - 2 * pad, cells[c], scale,
					 c == 1 ? PANGO_ALIGN_LEFT : PANGO_ALIGN_CENTER);
			if (ch > h)
				h = ch;
			x += cw;
			g_free(cells[c]);
		}
		xs[4] = p->x + p->w;
		h += 2 * pad;
		cairo_set_line_width(p->cr, p->raster ? 1 : 0.5);
		for (int c = 0; c < 5; c++) {
			cairo_move_to(p->cr, xs[c], p->y);
			cairo_line_to(p->cr, xs[c], p->y + h);
		}
		cairo_move_to(p->cr, p->x, p->y);
		cairo_line_to(p->cr, p->x + p->w, p->y);
		cairo_move_to(p->cr, p->x, p->y + h);
		cairo_line_to(p->cr, p->x + p->w, p->y + h);
		cairo_stroke(p->cr);
		p->y += h;
	}
	if (!n)
		line(p, "<i>(không có giấy tờ)</i>", 0.9, PANGO_ALIGN_LEFT);
	p->y += p->size * 0.4;
}

/* The QR code of the lookup URL with the lookup key beside it (below it on
 * a roll). */
static void lookup_block(struct pen *p, json_t *f)
{
	QRcode *q = qr_encode(S(f, "url"));
	if (!q)
		return;
	int modules = qr_side(q);
	double side = p->narrow ? p->w * 0.62 : p->size * 10;
	double m = side / modules;
	if (p->raster) {
		m = (double)(int)m;
		if (m < 2)
			m = 2;
	}
	side = m * modules;
	double qx = p->narrow ? p->x + (p->w - side) / 2 : p->x, qy = p->y;
	if (p->raster) {
		qx = (double)(int)qx;
		qy = (double)(int)qy;
	}
	qr_fill(p->cr, q, qx, qy, m);
	QRcode_free(q);
	char *key = g_markup_printf_escaped(
	    "Mã tra cứu <i>(lookup key)</i>:\n<b><big>%s</big></b>\n"
	    "<small>Quét mã QR hoặc vào địa chỉ dưới đây, nhập mã hồ sơ và mã tra cứu để "
	    "theo dõi hồ sơ. <i>Scan to follow the dossier.</i>\n%s</small>",
	    S(f, "key"), S(f, "url"));
	if (p->narrow) {
		p->y += side;
		line(p, key, 1, PANGO_ALIGN_CENTER);
	} else {
		double tx = qx + side + p->size;
		double h =
		    para(p, tx, qy + m * QR_QUIET, p->x + p->w - tx, key, 1, PANGO_ALIGN_LEFT);
		p->y += (side > h + m * QR_QUIET ? side : h + m * QR_QUIET) + p->size * 0.3;
	}
	g_free(key);
}

/* Two signatures side by side on A4; on a roll, the official's name. */
static void signatures(struct pen *p, const char *left_title, const char *left_name,
		       const char *right_title, const char *right_name)
{
	if (p->narrow) {
		char *m = g_markup_printf_escaped("%s: <b>%s</b>", right_title, right_name);
		line(p, m, 1, PANGO_ALIGN_LEFT);
		g_free(m);
		return;
	}
	p->y += p->size * 0.5;
	double half = p->w / 2, h = 0;
	const char *titles[2] = {left_title, right_title}, *names[2] = {left_name, right_name};
	for (int i = 0; i < 2; i++) {
		if (!titles[i])
			continue;
		char *u = g_utf8_strup(titles[i], -1);
		char *m = g_markup_printf_escaped(
		    "<b>%s</b>\n<i>(Ký và ghi rõ họ tên)</i>\n\n\n\n<b>%s</b>", u, names[i]);
		double hh = para(p, p->x + half * i, p->y, half, m, 1, PANGO_ALIGN_CENTER);
		if (hh > h)
			h = hh;
		g_free(m);
		g_free(u);
	}
	p->y += h + p->size * 0.5;
}

/* One copy of a form, from the pen's y on; leaves y at its end. */
static void draw_form(struct pen *p, json_t *f, const char *copy_label)
{
	cairo_set_source_rgb(p->cr, 0, 0, 0);
	header(p, f);
	bool supplement = !strcmp(S(f, "kind"), "supplement");
	char *m;
	if (!supplement) {
		line(p,
		     "<b>GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ</b>\n"
		     "<small><i>Receipt of the dossier and date for its result</i></small>",
		     1.2, PANGO_ALIGN_CENTER);
	} else {
		line(p,
		     "<b>PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ</b>\n"
		     "<small><i>Request to supplement the dossier</i></small>",
		     1.2, PANGO_ALIGN_CENTER);
	}
	m = g_markup_printf_escaped("Mã hồ sơ: <b>%s</b>", S(f, "code"));
	line(p, m, 1.05, PANGO_ALIGN_CENTER);
	g_free(m);
	if (copy_label) {
		m = g_markup_printf_escaped("<i>(%s)</i>", copy_label);
		line(p, m, 0.95, PANGO_ALIGN_CENTER);
		g_free(m);
	}
	p->y += p->size * 0.4;
	if (!supplement) {
		m = g_markup_printf_escaped("%s tiếp nhận hồ sơ của:", S(f, "office"));
		line(p, m, 1, PANGO_ALIGN_LEFT);
		g_free(m);
		field(p, "Ông/bà:", S(f, "applicant"), false);
	} else {
		field(p, "Hồ sơ của ông/bà:", S(f, "applicant"), false);
	}
	field(p, "Địa chỉ:", S(f, "address"), false);
	field(p, "Số điện thoại:", S(f, "phone"), false);
	field(p, "Email:", S(f, "email"), false);
	field(p, "Nội dung yêu cầu giải quyết:", S(f, "request"), false);
	if (!supplement) {
		line(p, "1. Thành phần hồ sơ nộp gồm:", 1, PANGO_ALIGN_LEFT);
		papers_table(p, json_object_get(f, "papers"));
		field(p, "2. Số lượng hồ sơ:", "01 (bộ)", false);
		field(p, "3. Thời gian giải quyết hồ sơ theo quy định là:", S(f, "days"), false);
		field(p, "4. Thời gian nhận hồ sơ:", S(f, "received"), false);
		field(p, "5. Thời gian trả kết quả giải quyết hồ sơ:", S(f, "due"), false);
		field(p, "6. Đăng ký nhận kết quả tại:", S(f, "result_place"), false);
		field(p, "7. Phí, lệ phí:", S(f, "fee"), true);
		p->y += p->size * 0.3;
		lookup_block(p, f);
		signatures(p, "Người nộp hồ sơ", S(f, "applicant"), "Người tiếp nhận hồ sơ",
			   S(f, "official"));
	} else {
		line(p, "Yêu cầu hoàn thiện hồ sơ gồm những nội dung sau:", 1, PANGO_ALIGN_LEFT);
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(f, "missing"), i, v)
		{
			m = g_markup_printf_escaped("%zu. <b>%s</b>", i + 1, json_string_value(v));
			p->y +=
			    para(p, p->x + p->size, p->y, p->w - p->size, m, 1, PANGO_ALIGN_LEFT) +
			    p->size * 0.2;
			g_free(m);
		}
		field(p, "Lý do:", S(f, "note"), true);
		field(p, "Ngày yêu cầu:", S(f, "requested"), false);
		line(p,
		     "Trong quá trình hoàn thiện hồ sơ, nếu có vướng mắc, ông/bà liên hệ Bộ phận "
		     "tiếp nhận và trả kết quả để được hướng dẫn. Xin trân trọng cảm ơn!",
		     0.95, PANGO_ALIGN_LEFT);
		p->y += p->size * 0.3;
		lookup_block(p, f);
		signatures(p, NULL, NULL, "Người hướng dẫn", S(f, "official"));
	}
}

static PangoContext *pen_context(cairo_t *cr, bool raster)
{
	PangoContext *ctx = pango_cairo_create_context(cr);
	cairo_font_options_t *fo = cairo_font_options_create();
	cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
	cairo_font_options_set_hint_style(fo,
					  raster ? CAIRO_HINT_STYLE_SLIGHT : CAIRO_HINT_STYLE_NONE);
	cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
	pango_cairo_context_set_font_options(ctx, fo);
	cairo_font_options_destroy(fo);
	return ctx;
}

/* The copies of the form: the receipt has two. */
static const char *const receipt_copies[] = {"Liên 1: Lưu", "Liên 2: Giao người nộp"};

static size_t n_copies(json_t *f)
{
	return strcmp(S(f, "kind"), "supplement") ? 2 : 1;
}

/* How tall a copy is at width w (a dry run on a recording surface). */
static double form_height(json_t *f, double w, double size, bool narrow, bool raster,
			  const char *label)
{
	cairo_surface_t *s = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, NULL);
	cairo_t *cr = cairo_create(s);
	struct pen p = {.cr = cr, .x = 0, .w = w, .size = size, .narrow = narrow, .raster = raster};
	p.ctx = pen_context(cr, raster);
	draw_form(&p, f, label);
	g_object_unref(p.ctx);
	cairo_destroy(cr);
	cairo_surface_destroy(s);
	return p.y;
}

static int render_pdf(struct render *r)
{
	json_t *f = r->form;
	cairo_surface_t *s = cairo_pdf_surface_create_for_stream(pdf_write, r, A4_W, A4_H);
	/* The receipt's own time, not the printing's: a reprint is the same file. */
	cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE, S(f, "pdf_date"));
	cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, S(f, "title"));
	cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR, "motcua");
	cairo_t *cr = cairo_create(s);
	double w = A4_W - A4_LEFT - A4_RIGHT, avail = A4_H - 2 * A4_TOP;
	size_t n = n_copies(f);
	for (size_t i = 0; i < n; i++) {
		const char *label = n > 1 ? receipt_copies[i] : NULL;
		double h = form_height(f, w, A4_BASE, false, false, label);
		double scale = h > avail ? avail / h : 1;
		cairo_save(cr);
		cairo_translate(cr, A4_LEFT, A4_TOP);
		cairo_scale(cr, scale, scale);
		struct pen p = {.cr = cr, .w = w, .size = A4_BASE};
		p.ctx = pen_context(cr, false);
		draw_form(&p, f, label);
		g_object_unref(p.ctx);
		cairo_restore(cr);
		cairo_show_page(cr);
	}
	cairo_destroy(cr);
	cairo_surface_finish(s);
	int e = cairo_surface_status(s) == CAIRO_STATUS_SUCCESS ? 0 : -EIO;
	cairo_surface_destroy(s);
	return e;
}

static int render_png(struct render *r)
{
	json_t *f = r->form;
	double size = r->width / 26.0; /* 576 dots: 22 (2.8 mm at 203 dpi) */
	double w = r->width - 2 * THERMAL_MARGIN;
	size_t n = n_copies(f);
	double heights[2], total = 0, gap = size * 2;
	for (size_t i = 0; i < n; i++) {
		heights[i] = form_height(f, w, size, true, true, n > 1 ? receipt_copies[i] : NULL);
		total += heights[i] + gap;
	}
	int h = (int)total + 1;
	cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, r->width, h);
	cairo_t *cr = cairo_create(img);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	double y = THERMAL_MARGIN;
	for (size_t i = 0; i < n; i++) {
		struct pen p = {.cr = cr,
				.x = THERMAL_MARGIN,
				.y = y,
				.w = w,
				.size = size,
				.narrow = true,
				.raster = true};
		p.ctx = pen_context(cr, true);
		draw_form(&p, f, n > 1 ? receipt_copies[i] : NULL);
		g_object_unref(p.ctx);
		y += heights[i] + gap;
		if (i + 1 < n) {
			/* where to tear the copies apart */
			static const double dash[] = {6, 4};
			cairo_set_dash(cr, dash, 2, 0);
			cairo_set_line_width(cr, 1);
			cairo_move_to(cr, 0, (int)(y - gap / 2) + 0.5);
			cairo_line_to(cr, r->width, (int)(y - gap / 2) + 0.5);
			cairo_stroke(cr);
			cairo_set_dash(cr, NULL, 0, 0);
		}
	}
	cairo_destroy(cr);
	cairo_surface_flush(img);
	int e = cairo_surface_status(img) == CAIRO_STATUS_SUCCESS
		    ? raster_png_1bit(img, THRESHOLD, &r->out)
		    : -EIO;
	cairo_surface_destroy(img);
	return e;
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* fontconfig's configuration, loaded once for every I/O thread: two threads
 * loading it at once for their first form lose one of them. */
static void fonts_init(void)
{
	if (!FcInit())
		log_warning("receipt: fontconfig could not load its configuration");
}

static void render_work(void *arg)
{
	static pthread_once_t fonts_once = PTHREAD_ONCE_INIT;
	struct render *r = arg;
	double t0 = mono_ms();
	pthread_once(&fonts_once, fonts_init);
	r->result = r->width ? render_png(r) : render_pdf(r);
	r->ms = mono_ms() - t0;
}

static void render_done(void *arg, int cancelled)
{
	struct render *r = arg;
	r->rc->in_flight--;
	if (http_client_gone(r->req)) {
		http_reply_gone(r->req);
	} else if (cancelled) {
		http_reply_error(r->req, 503, "stopping", "the gateway is stopping");
	} else if (r->result < 0) {
		log_error("receipt of %s: cannot draw it: %s", S(r->form, "code"),
			  strerror(-r->result));
		http_reply_error(r->req, 500, "render_failed", "the form could not be drawn");
	} else {
		struct evbuffer *body = evbuffer_new();
		if (body && evbuffer_add(body, r->out.p, r->out.len) == 0) {
			http_set_header(r->req, "Content-Type",
					r->width ? "image/png" : "application/pdf");
			http_set_header(r->req, "Cache-Control", "no-store");
			char cd[200];
			snprintf(cd, sizeof cd, "inline; filename=\"%s-%s.%s\"", S(r->form, "kind"),
				 S(r->form, "code"), r->width ? "png" : "pdf");
			http_set_header(r->req, "Content-Disposition", cd);
			char ms[32];
			snprintf(ms, sizeof ms, "%.0f", r->ms);
			http_set_header(r->req, "X-Render-Ms", ms);
			evhttp_send_reply(r->req, 200, "OK", body);
		} else {
			http_reply_error(r->req, 503, "no_memory", "out of memory");
		}
		if (body)
			evbuffer_free(body);
	}
	json_decref(r->form);
	bytes_free(&r->out);
	free(r);
}

/* ---- what the forms say, gathered on the loop ---- */

/* "14 giờ 05 phút, ngày 03/12/2026" from "2026-12-03T14:05:33+07:00". */
static char *time_words(const char *iso)
{
	int y, mo, d, h, mi;
	if (!iso || sscanf(iso, "%4d-%2d-%2dT%2d:%2d", &y, &mo, &d, &h, &mi) != 5)
		return g_strdup("");
	return g_strdup_printf("%02d giờ %02d phút, ngày %02d/%02d/%04d", h, mi, d, mo, y);
}

/* "Tân Hiệp, ngày 03 tháng 12 năm 2026". */
static char *date_line(const char *place, const char *iso)
{
	int y = 0, mo = 0, d = 0;
	if (iso)
		sscanf(iso, "%4d-%2d-%2d", &y, &mo, &d);
	return g_strdup_printf("%s%sngày %02d tháng %02d năm %04d", place ? place : "",
			       place ? ", " : "", d, mo, y);
}

/* The official's full name from the accounts (officials sign in with their
 * username, which records name), else the name recorded. */
static char *official_name(struct gateway *gw, const char *username)
{
	char *name = NULL;
	sqlite3_stmt *st = db_prepare(gw->db, "SELECT name FROM users WHERE username = ?1");
	if (st) {
		sqlite3_bind_text(st, 1, username ? username : "", -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW && db_text(st, 0))
			name = g_strdup(db_text(st, 0));
		sqlite3_finalize(st);
	}
	return name ? name : g_strdup(username ? username : "");
}

/* The lookup URL: [station] lookup_url with {code} and {key} put in
 * (URL-encoded), or this gateway's /lookup on the Host the request used. */
static char *lookup_url(struct gateway *gw, struct evhttp_request *req, const char *code,
			const char *key)
{
	char *ecode = evhttp_uriencode(code, -1, 0), *ekey = evhttp_uriencode(key, -1, 0);
	char *url;
	if (gw->settings.lookup_url) {
		GString *s = g_string_new(NULL);
		for (const char *p = gw->settings.lookup_url; *p;) {
			if (!strncmp(p, "{code}", 6)) {
				g_string_append(s, ecode ? ecode : "");
				p += 6;
			} else if (!strncmp(p, "{key}", 5)) {
				g_string_append(s, ekey ? ekey : "");
				p += 5;
			} else {
				g_string_append_c(s, *p++);
			}
		}
		url = g_string_free(s, FALSE);
	} else {
		char *path =
		    g_strdup_printf("/lookup?code=%s&key=%s", ecode ? ecode : "", ekey ? ekey : "");
		url = weburl_make(gw, req, path);
		g_free(path);
	}
	free(ecode);
	free(ekey);
	return url;
}

static const char *form_words(const char *form)
{
	if (!form)
		return "Bản điện tử";
	if (!strcmp(form, "original"))
		return "Bản chính";
	if (!strcmp(form, "copy"))
		return "Bản sao";
	return "Bản chính hoặc bản sao";
}

static void set_str(json_t *f, const char *key, const char *value)
{
	json_object_set_new(f, key, json_string(value ? value : ""));
}

static void set_own(json_t *f, const char *key, char *value)
{
	set_str(f, key, value);
	g_free(value);
}

/* What both forms say of the dossier. */
static json_t *gather_common(struct receipt *rc, struct evhttp_request *req, json_t *d,
			     const struct procedure *proc, const char *kind)
{
	struct gateway *gw = rc->gw;
	json_t *f = json_object(), *a = json_object_get(d, "applicant");
	const char *code = json_string_value(json_object_get(d, "code"));
	const char *key = json_string_value(json_object_get(d, "lookup_key"));
	const char *pname = json_string_value(json_object_get(d, "procedure_name"));
	const char *pcode = json_string_value(json_object_get(d, "procedure_code"));
	set_str(f, "kind", kind);
	set_str(f, "office", gw->settings.office_name);
	const char *unit = json_string_value(json_object_get(d, "unit"));
	set_str(f, "unit", unit ? unit : proc ? proc->unit : NULL);
	set_str(f, "code", code);
	set_str(f, "key", key);
	set_own(f, "url", lookup_url(gw, req, code, key ? key : ""));
	set_str(f, "applicant", json_string_value(json_object_get(a, "name")));
	set_str(f, "address", json_string_value(json_object_get(a, "address")));
	set_str(f, "phone", json_string_value(json_object_get(a, "phone")));
	set_str(f, "email", json_string_value(json_object_get(a, "email")));
	set_own(f, "request",
		pname ? g_strdup_printf("%s (mã thủ tục %s)", pname, pcode)
		      : g_strdup_printf("Thủ tục %s", pcode));
	return f;
}

/* The processing time the dossier was given: the working days from its
 * reception to its promised date (as the calendar counted them then). -1
 * without a promised date. */
static int processing_days(struct gateway *gw, const char *received, const char *due)
{
	int64_t r, d;
	if (!received || !due || time_parse(received, false, &r) < 0 ||
	    time_parse(due, false, &d) < 0)
		return -1;
	for (int n = 0; n <= 365; n++)
		if (calendar_due(gw->calendar, r, n) >= d)
			return n;
	return -1;
}

static json_t *gather_receipt(struct receipt *rc, struct evhttp_request *req, json_t *d)
{
	struct gateway *gw = rc->gw;
	const struct procedure *proc = procedures_find(
	    gw->procedures, json_string_value(json_object_get(d, "procedure_code")));
	json_t *f = gather_common(rc, req, d, proc, "receipt");
	const char *received = json_string_value(json_object_get(d, "received_at"));
	const char *due = json_string_value(json_object_get(d, "due_at"));
	set_own(f, "date_line", date_line(gw->settings.receipt_place, received));
	set_str(f, "pdf_date", received);
	set_own(f, "title",
		g_strdup_printf("Giấy tiếp nhận hồ sơ và hẹn trả kết quả %s", S(f, "code")));
	set_own(f, "received", time_words(received));
	set_own(f, "due", due ? time_words(due) : g_strdup(""));
	int days = processing_days(gw, received, due);
	if (days < 0 && proc)
		days = proc->days;
	if (days >= 0)
		set_own(f, "days",
			days ? g_strdup_printf("%d ngày làm việc", days)
			     : g_strdup("Trong ngày làm việc"));
	set_str(f, "result_place",
		proc && proc->result_place ? proc->result_place : gw->settings.office_name);
	set_str(f, "fee", proc ? proc->fee : NULL);
	set_own(f, "official",
		official_name(gw, json_string_value(json_object_get(d, "official"))));
	/* The papers handed in: each paper of the procedure with a document,
	 * then documents assigned to none, under their own names. */
	json_t *papers = json_array();
	json_t *docs = json_object_get(d, "documents");
	for (size_t i = 0; proc && i < proc->n_papers; i++) {
		const struct paper *pp = &proc->papers[i];
		size_t k;
		json_t *doc;
		json_array_foreach(docs, k, doc)
		{
			const char *paper = json_string_value(json_object_get(doc, "paper"));
			const char *state = json_string_value(json_object_get(doc, "state"));
			if (paper && !strcmp(paper, pp->id) && strcmp(state ? state : "", "failed"))
				break;
		}
		if (k < json_array_size(docs)) {
			char count[16];
			snprintf(count, sizeof count, "%02d", pp->count);
			json_array_append_new(papers,
					      json_pack("{s:s, s:s, s:s}", "name", pp->name, "form",
							form_words(paper_form_name(pp->form)),
							"count", count));
		}
	}
	size_t k, others = 0;
	json_t *doc;
	json_array_foreach(docs, k, doc)
	{
		const char *state = json_string_value(json_object_get(doc, "state"));
		if (json_is_string(json_object_get(doc, "paper")) ||
		    !strcmp(state ? state : "", "failed"))
			continue;
		/* a form has room for so many rows; the rest are counted */
		if (++others > OTHER_ROWS_MAX)
			continue;
		json_array_append_new(papers, json_pack("{s:O, s:s, s:s}", "name",
							json_object_get(doc, "name"), "form",
							form_words(NULL), "count", "01"));
	}
	if (others > OTHER_ROWS_MAX) {
		char *more = g_strdup_printf("(và %zu giấy tờ khác)", others - OTHER_ROWS_MAX);
		char count[16];
		snprintf(count, sizeof count, "%02zu", others - OTHER_ROWS_MAX);
		json_array_append_new(papers, json_pack("{s:s, s:s, s:s}", "name", more, "form",
							form_words(NULL), "count", count));
		g_free(more);
	}
	json_object_set_new(f, "papers", papers);
	return f;
}

static json_t *gather_supplement(struct receipt *rc, struct evhttp_request *req, json_t *d,
				 json_t *ev)
{
	struct gateway *gw = rc->gw;
	const struct procedure *proc = procedures_find(
	    gw->procedures, json_string_value(json_object_get(d, "procedure_code")));
	json_t *f = gather_common(rc, req, d, proc, "supplement");
	const char *at = json_string_value(json_object_get(ev, "at"));
	json_t *details = json_object_get(ev, "details");
	set_own(f, "date_line", date_line(gw->settings.receipt_place, at));
	set_str(f, "pdf_date", at);
	set_own(f, "title",
		g_strdup_printf("Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ %s", S(f, "code")));
	set_own(f, "requested", time_words(at));
	set_str(f, "note", json_string_value(json_object_get(details, "note")));
	json_t *missing = json_object_get(details, "missing");
	json_object_set_new(f, "missing",
			    json_is_array(missing) ? json_copy(missing) : json_array());
	set_own(f, "official", official_name(gw, json_string_value(json_object_get(ev, "by"))));
	return f;
}

/* ---- the routes ---- */

/* ?width= of a PNG: 576 (80 mm) or 384 (58 mm), 576 when not given. */
static bool png_width(struct evhttp_request *req, int *width)
{
	struct evkeyvalq q;
	if (!http_query(req, &q))
		return false;
	const char *w = evhttp_find_header(&q, "width");
	*width = !w ? 576 : !strcmp(w, "576") ? 576 : !strcmp(w, "384") ? 384 : 0;
	evhttp_clear_headers(&q);
	if (!*width) {
		http_reply_error(req, 400, "bad_request",
				 "width must be 576 (80 mm roll) or 384 (58 mm roll) dots");
		return false;
	}
	return true;
}

static void serve(struct call *c, enum form_kind kind, bool png)
{
	struct receipt *rc = c->data;
	struct gateway *gw = rc->gw;
	const char *code = c->params[0];
	int width = 0;
	if (png && !png_width(c->req, &width))
		return;
	json_t *d = dossier_get(gw->records, code);
	if (!d) {
		http_reply_error(c->req, 404, "not_found", "no dossier %s", code);
		return;
	}
	json_t *form = NULL;
	if (kind == FORM_RECEIPT) {
		form = gather_receipt(rc, c->req, d);
	} else {
		json_t *ev = json_integer_value(json_object_get(d, "status")) == 5
				 ? dossier_last_status(gw->records, code, 5)
				 : NULL;
		if (!ev) {
			json_decref(d);
			http_reply_error(c->req, 409, "no_supplement_request",
					 "dossier %s has no supplement request (status 5) now",
					 code);
			return;
		}
		form = gather_supplement(rc, c->req, d, ev);
		json_decref(ev);
	}
	json_decref(d);
	if (rc->in_flight >= RENDERS_MAX) {
		json_decref(form);
		http_set_header(c->req, "Retry-After", "1");
		http_reply_error(c->req, 503, "busy", "too many forms being drawn; try again");
		return;
	}
	struct render *r = calloc(1, sizeof *r);
	if (!r || !form) {
		free(r);
		json_decref(form);
		http_reply_error(c->req, 503, "no_memory", "out of memory");
		return;
	}
	r->rc = rc;
	r->req = c->req;
	r->form = form;
	r->width = width;
	int e = workers_submit(gw->io_workers, render_work, render_done, r);
	if (e < 0) {
		json_decref(form);
		free(r);
		http_reply_error(c->req, 503, "busy", "cannot draw the form now: %s", strerror(-e));
		return;
	}
	rc->in_flight++;
}

static void route_receipt_pdf(struct call *c)
{
	serve(c, FORM_RECEIPT, false);
}

static void route_receipt_png(struct call *c)
{
	serve(c, FORM_RECEIPT, true);
}

static void route_supplement_pdf(struct call *c)
{
	serve(c, FORM_SUPPLEMENT, false);
}

static void route_supplement_png(struct call *c)
{
	serve(c, FORM_SUPPLEMENT, true);
}

static const struct route_def routes[] = {
    {"GET", "/api/v1/dossiers/{code}/receipt.pdf", R_STAFF, route_receipt_pdf,
     "the receipt (form 01, two copies) as an A4 PDF"},
    {"GET", "/api/v1/dossiers/{code}/receipt.png", R_STAFF, route_receipt_png,
     "the receipt as a 1-bit PNG for a thermal printer (?width=576|384)"},
    {"GET", "/api/v1/dossiers/{code}/supplement.pdf", R_STAFF, route_supplement_pdf,
     "the supplement request (form 02) as an A4 PDF, while the status is 5"},
    {"GET", "/api/v1/dossiers/{code}/supplement.png", R_STAFF, route_supplement_png,
     "the supplement request as a 1-bit PNG (?width=576|384)"},
};

struct receipt *receipt_new(struct gateway *gw)
{
	struct receipt *rc = calloc(1, sizeof *rc);
	if (!rc)
		return NULL;
	rc->gw = gw;
	if (router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], rc, NULL) < 0) {
		free(rc);
		return NULL;
	}
	return rc;
}

void receipt_free(struct receipt *rc)
{
	free(rc);
}
