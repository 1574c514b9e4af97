/* SPDX-License-Identifier: MIT */
/* A byte buffer and the 1-bit PNG writer (see raster.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "raster.h"

int bytes_add(struct bytes *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < b->len + len)
			cap *= 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

void bytes_free(struct bytes *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void png_write(png_structp png, png_bytep data, png_size_t len)
{
	if (bytes_add(png_get_io_ptr(png), data, len) < 0)
		png_error(png, "out of memory");
}

static void png_flush(png_structp png)
{
	(void)png;
}

int raster_png_1bit(cairo_surface_t *img, unsigned threshold, struct bytes *out)
{
	if (cairo_image_surface_get_format(img) != CAIRO_FORMAT_RGB24)
		return -EINVAL;
	int w = cairo_image_surface_get_width(img), h = cairo_image_surface_get_height(img);
	int stride = cairo_image_surface_get_stride(img);
	const unsigned char *px = cairo_image_surface_get_data(img);
	unsigned char *row = calloc(1, (size_t)(w + 7) / 8);
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!row || !png || !info || !px) {
		png_destroy_write_struct(&png, &info);
		free(row);
		return -ENOMEM;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(row);
		return -ENOMEM;
	}
	png_set_write_fn(png, out, png_write, png_flush);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 1, PNG_COLOR_TYPE_GRAY,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < h; y++) {
		const uint32_t *src = (const uint32_t *)(px + (size_t)y * stride);
		memset(row, 0, (size_t)(w + 7) / 8);
		for (int x = 0; x < w; x++) {
			uint32_t v = src[x];
			unsigned gray = (((v >> 16) & 0xff) * 299 + ((v >> 8) & 0xff) * 587 +
					 (v & 0xff) * 114) /
					1000;
			if (gray >= threshold)
				row[x / 8] |= (unsigned char)(0x80 >> (x % 8));
		}
		png_write_row(png, row);
	}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	free(row);
	return 0;
}
