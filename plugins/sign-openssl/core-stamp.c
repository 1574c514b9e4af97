/* SPDX-License-Identifier: MIT */
/*
 * sign-core: the optional visible stamp at the top right of page 1
 * (Decree 30/2020: the organisation's signature on copies, with the signing
 * time in Vietnam time).
 *
 * The text is drawn as the glyph outlines of a TrueType font (DejaVu Sans by
 * default), read from its cmap/loca/glyf/hmtx tables: no font is embedded, so
 * the stamp costs a few kilobytes instead of the font's 700 kB, and renders
 * the same everywhere, Vietnamese diacritics included (DejaVu's composite
 * glyphs are followed). The stamp is one form XObject, the widget's /AP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"

#define STAMP_W 230.0
#define STAMP_H 46.0
#define STAMP_MARGIN 18.0

struct ttf {
	const unsigned char *d;
	size_t n;
	size_t cmap4, loca, glyf, glyf_len, hmtx;
	unsigned upem, n_hmetrics, n_glyphs;
	bool long_loca;
};

static unsigned u16(const struct ttf *f, size_t off)
{
	return off + 2 <= f->n ? (unsigned)(f->d[off] << 8 | f->d[off + 1]) : 0;
}

static int16_t s16(const struct ttf *f, size_t off)
{
	return (int16_t)u16(f, off);
}

static uint32_t u32(const struct ttf *f, size_t off)
{
	return off + 4 <= f->n ? (uint32_t)f->d[off] << 24 | (uint32_t)f->d[off + 1] << 16 |
				     (uint32_t)f->d[off + 2] << 8 | f->d[off + 3]
			       : 0;
}

static int ttf_open(struct ttf *f, const unsigned char *d, size_t n)
{
	memset(f, 0, sizeof *f);
	f->d = d;
	f->n = n;
	unsigned nt = u16(f, 4);
	size_t head = 0, hhea = 0, maxp = 0, cmap = 0;
	uint32_t glyf_len = 0;
	for (unsigned i = 0; i < nt; i++) {
		size_t e = 12 + 16 * (size_t)i;
		uint32_t off = u32(f, e + 8), len = u32(f, e + 12);
		if ((size_t)off + len > n)
			return -EINVAL;
		if (!memcmp(d + e, "head", 4))
			head = off;
		else if (!memcmp(d + e, "hhea", 4))
			hhea = off;
		else if (!memcmp(d + e, "maxp", 4))
			maxp = off;
		else if (!memcmp(d + e, "cmap", 4))
			cmap = off;
		else if (!memcmp(d + e, "loca", 4))
			f->loca = off;
		else if (!memcmp(d + e, "glyf", 4)) {
			f->glyf = off;
			glyf_len = len;
		} else if (!memcmp(d + e, "hmtx", 4))
			f->hmtx = off;
	}
	if (!head || !hhea || !maxp || !cmap || !f->loca || !f->glyf || !f->hmtx)
		return -EINVAL;
	f->glyf_len = glyf_len;
	f->upem = u16(f, head + 18);
	f->long_loca = s16(f, head + 50) == 1;
	f->n_hmetrics = u16(f, hhea + 34);
	f->n_glyphs = u16(f, maxp + 4);
	unsigned ns = u16(f, cmap + 2);
	for (unsigned i = 0; i < ns; i++) {
		size_t r = cmap + 4 + 8 * (size_t)i;
		unsigned pid = u16(f, r), eid = u16(f, r + 2);
		size_t sub = cmap + u32(f, r + 4);
		if (pid == 3 && eid == 1 && u16(f, sub) == 4)
			f->cmap4 = sub;
	}
	return f->upem && f->cmap4 && f->n_hmetrics ? 0 : -EINVAL;
}

static unsigned ttf_glyph(const struct ttf *f, unsigned cp)
{
	if (cp > 0xFFFF)
		return 0;
	unsigned segx2 = u16(f, f->cmap4 + 6);
	size_t ends = f->cmap4 + 14, starts = ends + segx2 + 2, deltas = starts + segx2,
	       ranges = deltas + segx2;
	for (unsigned i = 0; i < segx2; i += 2) {
		if (cp > u16(f, ends + i))
			continue;
		unsigned start = u16(f, starts + i);
		if (cp < start)
			return 0;
		unsigned ro = u16(f, ranges + i), delta = u16(f, deltas + i);
		if (!ro)
			return (cp + delta) & 0xFFFF;
		unsigned g = u16(f, ranges + i + ro + 2 * (cp - start));
		return g ? (g + delta) & 0xFFFF : 0;
	}
	return 0;
}

static unsigned ttf_advance(const struct ttf *f, unsigned g)
{
	unsigned i = g < f->n_hmetrics ? g : f->n_hmetrics - 1;
	return u16(f, f->hmtx + 4 * (size_t)i);
}

static bool ttf_glyph_range(const struct ttf *f, unsigned g, size_t *off, size_t *len)
{
	if (g >= f->n_glyphs)
		return false;
	size_t a, b;
	if (f->long_loca) {
		a = u32(f, f->loca + 4 * (size_t)g);
		b = u32(f, f->loca + 4 * (size_t)g + 4);
	} else {
		a = 2 * (size_t)u16(f, f->loca + 2 * (size_t)g);
		b = 2 * (size_t)u16(f, f->loca + 2 * (size_t)g + 2);
	}
	if (b < a || b > f->glyf_len)
		return false;
	*off = f->glyf + a;
	*len = b - a;
	return true;
}

/* Affine transform: x' = a*x + c*y + e, y' = b*x + d*y + f */
struct xf {
	double a, b, c, d, e, f;
};

static void pt(const struct xf *m, double x, double y, double *ox, double *oy)
{
	*ox = m->a * x + m->c * y + m->e;
	*oy = m->b * x + m->d * y + m->f;
}

static void emit_simple(const struct ttf *f, size_t g, size_t glen, const struct xf *m,
			struct sign_buf *out)
{
	int nc = s16(f, g);
	if (nc <= 0)
		return;
	size_t ends = g + 10;
	unsigned n_pts = u16(f, ends + 2 * (size_t)(nc - 1)) + 1;
	if (n_pts > 4096)
		return;
	size_t p = ends + 2 * (size_t)nc;
	p += 2 + u16(f, p); /* instructions */
	unsigned char flags[4096];
	for (unsigned i = 0; i < n_pts;) {
		if (p >= g + glen)
			return;
		unsigned char fl = f->d[p++];
		flags[i++] = fl;
		if (fl & 8) {
			unsigned rep = p < g + glen ? f->d[p++] : 0;
			while (rep-- && i < n_pts)
				flags[i++] = fl;
		}
	}
	static __thread double xs[4096], ys[4096];
	int v = 0;
	for (unsigned i = 0; i < n_pts; i++) {
		unsigned char fl = flags[i];
		if (fl & 2) {
			int dx = p < f->n ? f->d[p++] : 0;
			v += (fl & 16) ? dx : -dx;
		} else if (!(fl & 16)) {
			v += s16(f, p);
			p += 2;
		}
		xs[i] = v;
	}
	v = 0;
	for (unsigned i = 0; i < n_pts; i++) {
		unsigned char fl = flags[i];
		if (fl & 4) {
			int dy = p < f->n ? f->d[p++] : 0;
			v += (fl & 32) ? dy : -dy;
		} else if (!(fl & 32)) {
			v += s16(f, p);
			p += 2;
		}
		ys[i] = v;
	}
	unsigned first = 0;
	for (int c = 0; c < nc; c++) {
		unsigned last = u16(f, ends + 2 * (size_t)c);
		if (last < first || last >= n_pts)
			return;
		unsigned cnt = last - first + 1;
		/* start on an on-curve point, or the midpoint of two off-curve ones */
		double sx, sy;
		unsigned k0 = 0;
		while (k0 < cnt && !(flags[first + k0] & 1))
			k0++;
		if (k0 == cnt) {
			sx = (xs[first] + xs[first + (1 % cnt)]) / 2;
			sy = (ys[first] + ys[first + (1 % cnt)]) / 2;
			k0 = 0;
		} else {
			sx = xs[first + k0];
			sy = ys[first + k0];
		}
		double X, Y;
		pt(m, sx, sy, &X, &Y);
		sign_buf_printf(out, "%.2f %.2f m\n", X, Y);
		double cx = sx, cy = sy; /* current point (font units) */
		bool have_ctrl = false;
		double qx = 0, qy = 0;
		for (unsigned s = 1; s <= cnt; s++) {
			unsigned i = first + (k0 + s) % cnt;
			double x = xs[i], y = ys[i];
			bool on = flags[i] & 1;
			if (s == cnt) { /* back to the start */
				x = sx;
				y = sy;
				on = true;
			}
			if (on) {
				if (have_ctrl) {
					double x1 = cx + 2.0 / 3 * (qx - cx),
					       y1 = cy + 2.0 / 3 * (qy - cy);
					double x2 = x + 2.0 / 3 * (qx - x),
					       y2 = y + 2.0 / 3 * (qy - y);
					double X1, Y1, X2, Y2, X3, Y3;
					pt(m, x1, y1, &X1, &Y1);
					pt(m, x2, y2, &X2, &Y2);
					pt(m, x, y, &X3, &Y3);
					sign_buf_printf(out, "%.2f %.2f %.2f %.2f %.2f %.2f c\n",
							X1, Y1, X2, Y2, X3, Y3);
				} else {
					pt(m, x, y, &X, &Y);
					sign_buf_printf(out, "%.2f %.2f l\n", X, Y);
				}
				cx = x;
				cy = y;
				have_ctrl = false;
			} else {
				if (have_ctrl) { /* implied on-curve point between two controls */
					double mx = (qx + x) / 2, my = (qy + y) / 2;
					double x1 = cx + 2.0 / 3 * (qx - cx),
					       y1 = cy + 2.0 / 3 * (qy - cy);
					double x2 = mx + 2.0 / 3 * (qx - mx),
					       y2 = my + 2.0 / 3 * (qy - my);
					double X1, Y1, X2, Y2, X3, Y3;
					pt(m, x1, y1, &X1, &Y1);
					pt(m, x2, y2, &X2, &Y2);
					pt(m, mx, my, &X3, &Y3);
					sign_buf_printf(out, "%.2f %.2f %.2f %.2f %.2f %.2f c\n",
							X1, Y1, X2, Y2, X3, Y3);
					cx = mx;
					cy = my;
				}
				qx = x;
				qy = y;
				have_ctrl = true;
			}
		}
		sign_buf_add(out, "h\n", 2);
		first = last + 1;
	}
}

static void emit_glyph(const struct ttf *f, unsigned gid, const struct xf *m, struct sign_buf *out,
		       int depth)
{
	size_t g, glen;
	if (depth > 8 || !ttf_glyph_range(f, gid, &g, &glen) || glen < 10)
		return;
	if (s16(f, g) >= 0) {
		emit_simple(f, g, glen, m, out);
		return;
	}
	size_t p = g + 10;
	for (;;) {
		if (p + 4 > g + glen)
			return;
		unsigned fl = u16(f, p), sub = u16(f, p + 2);
		p += 4;
		double dx = 0, dy = 0;
		if (fl & 1) {
			if (fl & 2) {
				dx = s16(f, p);
				dy = s16(f, p + 2);
			}
			p += 4;
		} else {
			if (fl & 2) {
				dx = (int8_t)f->d[p];
				dy = (int8_t)f->d[p + 1];
			}
			p += 2;
		}
		double a = 1, b = 0, c = 0, d = 1;
		if (fl & 8) {
			a = d = s16(f, p) / 16384.0;
			p += 2;
		} else if (fl & 0x40) {
			a = s16(f, p) / 16384.0;
			d = s16(f, p + 2) / 16384.0;
			p += 4;
		} else if (fl & 0x80) {
			a = s16(f, p) / 16384.0;
			b = s16(f, p + 2) / 16384.0;
			c = s16(f, p + 4) / 16384.0;
			d = s16(f, p + 6) / 16384.0;
			p += 8;
		}
		/* component transform, then ours */
		struct xf k = {
		    m->a * a + m->c * b, m->b * a + m->d * b,	       m->a * c + m->c * d,
		    m->b * c + m->d * d, m->a * dx + m->c * dy + m->e, m->b * dx + m->d * dy + m->f,
		};
		emit_glyph(f, sub, &k, out, depth + 1);
		if (!(fl & 0x20))
			return;
	}
}

static unsigned next_cp(const unsigned char **s)
{
	const unsigned char *p = *s;
	unsigned c = *p++;
	int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
	if (more)
		c &= 0x3F >> more;
	while (more-- && (*p & 0xC0) == 0x80)
		c = c << 6 | (*p++ & 0x3F);
	*s = p;
	return c;
}

static double text_width(const struct ttf *f, const char *s)
{
	double w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;)
		w += ttf_advance(f, ttf_glyph(f, next_cp(&p)));
	return w / f->upem;
}

static void draw_text(const struct ttf *f, const char *s, double x, double y, double size,
		      struct sign_buf *out)
{
	double k = size / f->upem;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		unsigned g = ttf_glyph(f, next_cp(&p));
		struct xf m = {k, 0, 0, k, x, y};
		emit_glyph(f, g, &m, out, 0);
		x += ttf_advance(f, g) * k;
	}
	sign_buf_add(out, "f\n", 2);
}

int sign_stamp_objects(struct sign_signer *s, const char *org, time_t t, int first_obj,
		       const double page_box[4], int rotate, struct sign_buf *out, long *offsets,
		       int *n_objs, int *ap_obj, double rect[4], char *err, size_t len)
{
	struct ttf f;
	if (ttf_open(&f, s->font, s->font_len) < 0)
		return sign_fail(-EINVAL, err, len,
				 "stamp: the font is not a TrueType font with a Unicode cmap");
	(void)rotate; /* placed in the page's own coordinates; see README */
	double x0 = page_box[0] < page_box[2] ? page_box[0] : page_box[2];
	double x1 = page_box[0] < page_box[2] ? page_box[2] : page_box[0];
	double y1 = page_box[1] < page_box[3] ? page_box[3] : page_box[1];
	double w = STAMP_W, h = STAMP_H;
	if (x1 - x0 < w + 2 * STAMP_MARGIN)
		w = x1 - x0 - 2 * STAMP_MARGIN > 60 ? x1 - x0 - 2 * STAMP_MARGIN : 60;
	rect[0] = x1 - STAMP_MARGIN - w;
	rect[1] = y1 - STAMP_MARGIN - h;
	rect[2] = x1 - STAMP_MARGIN;
	rect[3] = y1 - STAMP_MARGIN;

	char line1[300], line2[120];
	snprintf(line1, sizeof line1, "Ký bởi: %s", org && org[0] ? org : s->name);
	time_t vn = t + 7 * 3600;
	struct tm tm;
	gmtime_r(&vn, &tm);
	strftime(line2, sizeof line2, "Thời gian ký: %d/%m/%Y %H:%M:%S +07:00", &tm);

	struct sign_buf st = {0};
	sign_buf_printf(&st, "q 0.75 0.05 0.05 RG 1 w 1.5 1.5 %.2f %.2f re S\n0.75 0.05 0.05 rg\n",
			w - 3, h - 3);
	double pad = 6, avail = w - 2 * pad;
	double s1 = 9.5, s2 = 8;
	double w1 = text_width(&f, line1), w2 = text_width(&f, line2);
	if (w1 * s1 > avail)
		s1 = avail / w1;
	if (w2 * s2 > avail)
		s2 = avail / w2;
	draw_text(&f, line1, pad, h - pad - s1 * 0.95, s1, &st);
	draw_text(&f, line2, pad, pad + 2, s2, &st);
	sign_buf_add(&st, "Q\n", 2);
	if (st.failed) {
		free(st.data);
		return -ENOMEM;
	}
	size_t base = out->len;
	offsets[0] = (long)(out->len - base);
	sign_buf_printf(
	    out,
	    "%d 0 obj\n<< /Type /XObject /Subtype /Form /BBox [0 0 %.2f %.2f] /Resources << >> "
	    "/Length %zu >>\nstream\n",
	    first_obj, w, h, st.len);
	sign_buf_add(out, st.data, st.len);
	sign_buf_add(out, "\nendstream\nendobj\n", 18);
	free(st.data);
	*n_objs = 1;
	*ap_obj = first_obj;
	return out->failed ? -ENOMEM : 0;
}
