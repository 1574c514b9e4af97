/* SPDX-License-Identifier: MIT */
/*
 * What the station's images are written into: a growing byte buffer, and a
 * cairo RGB24 image thresholded to a 1-bit grayscale PNG (libpng), the
 * format a thermal printer prints (the receipt, the QR codes).
 */
#ifndef MOTCUA_RASTER_H
#define MOTCUA_RASTER_H

#include <stddef.h>

#include <cairo.h>

struct bytes {
	unsigned char *p;
	size_t len, cap;
};

/* Appends len bytes: 0 or -ENOMEM. */
int bytes_add(struct bytes *b, const void *data, size_t len);
void bytes_free(struct bytes *b);

/* The gray of each pixel of img (CAIRO_FORMAT_RGB24, flushed), below
 * threshold black, else white, as a 1-bit PNG appended to out (0 black,
 * 1 white). 0, -EINVAL (not an RGB24 image) or -ENOMEM. */
int raster_png_1bit(cairo_surface_t *img, unsigned threshold, struct bytes *out);

#endif
