/* SPDX-License-Identifier: MIT */
/*
 * Speck finding for the ocr-tesseract plugin; see specks.h. A file of its own
 * so that test-specks.c can check it against Leptonica's hit-miss transforms.
 */
#include <stdbool.h>
#include <stddef.h>

#include "specks.h"

PIX *specks_lone_pixels(PIX *bin, int max_neighbours)
{
	if (pixGetDepth(bin) != 1)
		return NULL;
	PIX *out = pixCreateTemplate(bin);
	if (!out)
		return NULL;
	const l_int32 w = pixGetWidth(bin), h = pixGetHeight(bin), wpl = pixGetWpl(bin);
	const l_int32 owpl = pixGetWpl(out), words = (w + 31) / 32;
	const l_uint32 *data = pixGetData(bin);
	l_uint32 *odata = pixGetData(out);
	const int tail = w - 32 * (words - 1); /* pixels in the last word */
	const l_uint32 last = tail == 32 ? 0xffffffffu : ~(0xffffffffu >> tail);
	for (l_int32 y = 0; y < h; y++) {
		const l_uint32 *rows[3] = {y > 0 ? data + (size_t)(y - 1) * wpl : NULL,
					   data + (size_t)y * wpl,
					   y + 1 < h ? data + (size_t)(y + 1) * wpl : NULL};
		l_uint32 *o = odata + (size_t)y * owpl;
		for (l_int32 j = 0; j < words; j++) {
			l_uint32 any = 0, two = 0, centre = 0;
			for (int k = 0; k < 3; k++) {
				const l_uint32 *r = rows[k];
				if (!r)
					continue;
				l_uint32 c = r[j] & (j == words - 1 ? last : 0xffffffffu);
				l_uint32 l = j > 0 ? r[j - 1] : 0;
				l_uint32 n =
				    j + 1 < words
					? r[j + 1] & (j + 1 == words - 1 ? last : 0xffffffffu)
					: 0;
				l_uint32 from_left = (c >> 1) | (l << 31),
					 from_right = (c << 1) | (n >> 31);
				l_uint32 nb[3] = {from_left, from_right, c};
				for (int m = 0; m < (k == 1 ? 2 : 3); m++) {
					two |= any & nb[m];
					any |= nb[m];
				}
				if (k == 1)
					centre = c;
			}
			o[j] = centre & ~(max_neighbours == 0 ? any : two);
		}
	}
	return out;
}
