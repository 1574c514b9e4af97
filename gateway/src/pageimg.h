/* SPDX-License-Identifier: MIT */
/* Page images for the clerk's review (Leptonica): a page turned by quarter
 * turns, and a small thumbnail for the page strip. Blocking (decoding an A4
 * scan takes tens of milliseconds): call on a worker. */
#ifndef MOTCUA_PAGEIMG_H
#define MOTCUA_PAGEIMG_H

#include <stddef.h>

/* Writes in (PNG, JPEG or TIFF) turned by degrees (90, 180, 270) clockwise
 * to out: a JPEG stays a JPEG, others become PNG; the media type written
 * goes to out_type. 0 or -errno with a reason in msg. */
int pageimg_rotate(const char *in, int degrees, const char *out, char out_type[32], char *msg,
		   size_t len);
/* Writes a PNG of at most max_width pixels wide of in, turned by degrees
 * first; its size to *width, *height. 0 or -errno with a reason in msg. */
int pageimg_thumb(const char *in, int degrees, int max_width, const char *out, int *width,
		  int *height, char *msg, size_t len);

#endif
