/* SPDX-License-Identifier: MIT */
/*
 * QR codes (libqrencode, level M, 8-bit mode): drawn into a cairo layout
 * (the receipt's lookup QR) or alone as a 1-bit PNG (a ticket's follow QR),
 * each with its quiet zone of QR_QUIET modules.
 */
#ifndef MOTCUA_QR_H
#define MOTCUA_QR_H

#include <cairo.h>
#include <qrencode.h>

#include "raster.h"

#define QR_QUIET 4 /* modules of white around the code */

/* The code of text; QRcode_free() it. NULL when it cannot be made. */
QRcode *qr_encode(const char *text);
/* Modules across, the quiet zone included. */
int qr_side(const QRcode *q);
/* Fills the dark modules of q, m units a side, the quiet zone's top left at
 * (x, y), with the current source, without antialiasing. */
void qr_fill(cairo_t *cr, const QRcode *q, double x, double y, double m);
/* The code of text as a 1-bit PNG of scale pixels a module, quiet zone
 * included, appended to out. 0, -EINVAL (text cannot be encoded) or
 * -ENOMEM. */
int qr_png(const char *text, int scale, struct bytes *out);

#endif
