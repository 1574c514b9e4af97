/* SPDX-License-Identifier: MIT */
/* QR codes drawn with cairo (see qr.h). */
#include <errno.h>

#include "qr.h"

QRcode *qr_encode(const char *text)
{
	return QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
}

int qr_side(const QRcode *q)
{
	return q->width + 2 * QR_QUIET;
}

void qr_fill(cairo_t *cr, const QRcode *q, double x, double y, double m)
{
	cairo_save(cr);
	cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
	for (int yy = 0; yy < q->width; yy++)
		for (int xx = 0; xx < q->width; xx++)
			if (q->data[yy * q->width + xx] & 1)
				cairo_rectangle(cr, x + (xx + QR_QUIET) * m,
						y + (yy + QR_QUIET) * m, m, m);
	cairo_fill(cr);
	cairo_restore(cr);
}

int qr_png(const char *text, int scale, struct bytes *out)
{
	QRcode *q = qr_encode(text);
	if (!q)
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	int side = qr_side(q) * scale;
	cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, side, side);
	cairo_t *cr = cairo_create(img);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_set_source_rgb(cr, 0, 0, 0);
	qr_fill(cr, q, 0, 0, scale);
	cairo_destroy(cr);
	cairo_surface_flush(img);
	int e = cairo_surface_status(img) == CAIRO_STATUS_SUCCESS ? raster_png_1bit(img, 128, out)
								  : -ENOMEM;
	cairo_surface_destroy(img);
	QRcode_free(q);
	return e;
}
