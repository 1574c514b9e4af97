/* SPDX-License-Identifier: MIT */
/*
 * Page images as PNG, fast; see page-png.h. Shared by scan-sane (the pages it
 * scans) and ocr-tesseract (the straightened page in the searchable PDF).
 */
#include <endian.h>
#include <errno.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "page-png.h"

void page_png_bytes_to_words(l_uint32 *dst, const unsigned char *src, size_t n)
{
	size_t full = n / 4;
	for (size_t i = 0; i < full; i++) {
		uint32_t v;
		memcpy(&v, src + 4 * i, 4);
		dst[i] = be32toh(v);
	}
	if (n % 4) {
		l_uint32 v = 0;
		for (size_t k = 0; k < n % 4; k++)
			v |= (l_uint32)src[4 * full + k] << (24 - 8 * k);
		dst[full] = v;
	}
}

void page_png_words_to_bytes(unsigned char *dst, const l_uint32 *src, size_t n)
{
	size_t full = n / 4;
	for (size_t i = 0; i < full; i++) {
		uint32_t v = htobe32(src[i]);
		memcpy(dst + 4 * i, &v, 4);
	}
	for (size_t k = 0; k < n % 4; k++)
		dst[4 * full + k] = (unsigned char)(src[full] >> (24 - 8 * k));
}

int page_png_write(const char *path, PIX *pix)
{
	int d = pixGetDepth(pix);
	if ((d != 1 && d != 8) || pixGetColormap(pix))
		return pixWrite(path, pix, IFF_PNG) ? -EIO : 0;
	FILE *volatile f = fopen(path, "wb");
	if (!f)
		return -errno;
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	unsigned char *volatile row = NULL;
	int r = -EIO;
	if (!info || setjmp(png_jmpbuf(png)))
		goto out;
	l_uint32 w = (l_uint32)pixGetWidth(pix), h = (l_uint32)pixGetHeight(pix);
	l_int32 wpl = pixGetWpl(pix), res = pixGetYRes(pix);
	size_t bytes = d == 8 ? w : (w + 7) / 8;
	if (!(row = malloc(bytes)))
		goto out;
	png_init_io(png, f);
	png_set_IHDR(png, info, w, h, d, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (res > 0)
		png_set_pHYs(png, info, (png_uint_32)(res / 0.0254 + 0.5),
			     (png_uint_32)(res / 0.0254 + 0.5), PNG_RESOLUTION_METER);
	png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
	png_set_compression_level(png, 1);
	png_write_info(png, info);
	if (d == 1)
		png_set_invert_mono(png); /* Leptonica: 1 is ink; PNG: 0 is black */
	const l_uint32 *data = pixGetData(pix);
	for (l_uint32 y = 0; y < h; y++) {
		page_png_words_to_bytes(row, data + (size_t)y * (size_t)wpl, bytes);
		png_write_row(png, row);
	}
	png_write_end(png, info);
	r = 0;
out:
	png_destroy_write_struct(&png, info ? &info : NULL);
	free(row);
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	return r;
}
