/* SPDX-License-Identifier: MIT */
/* Page images for the review (see pageimg.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "pageimg.h"

static PIX *load(const char *in, char *msg, size_t len)
{
	PIX *pix = pixRead(in);
	if (!pix)
		snprintf(msg, len, "the page image cannot be read (not a PNG, JPEG or TIFF file)");
	return pix;
}

/* Turns pix (taken) by degrees clockwise; the resolution follows. */
static PIX *turn(PIX *pix, int degrees)
{
	int quads = ((degrees % 360) + 360) % 360 / 90;
	if (!pix || quads == 0)
		return pix;
	PIX *t = pixRotateOrth(pix, quads);
	if (t && quads % 2)
		pixSetResolution(t, pixGetYRes(pix), pixGetXRes(pix));
	pixDestroy(&pix);
	return t;
}

int pageimg_rotate(const char *in, int degrees, const char *out, char out_type[32], char *msg,
		   size_t len)
{
	PIX *pix = load(in, msg, len);
	if (!pix)
		return -EINVAL;
	l_int32 format = pixGetInputFormat(pix);
	pix = turn(pix, degrees);
	if (!pix) {
		snprintf(msg, len, "out of memory turning the page");
		return -ENOMEM;
	}
	int r;
	if (format == IFF_JFIF_JPEG && (pixGetDepth(pix) == 8 || pixGetDepth(pix) == 32) &&
	    !pixGetColormap(pix)) {
		snprintf(out_type, 32, "image/jpeg");
		r = pixWriteJpeg(out, pix, 92, 0);
	} else {
		snprintf(out_type, 32, "image/png");
		r = pixWrite(out, pix, IFF_PNG);
	}
	pixDestroy(&pix);
	if (r) {
		snprintf(msg, len, "cannot write the turned page");
		return -EIO;
	}
	return 0;
}

int pageimg_thumb(const char *in, int degrees, int max_width, const char *out, int *width,
		  int *height, char *msg, size_t len)
{
	PIX *pix = load(in, msg, len);
	if (!pix)
		return -EINVAL;
	/* gray or colour for smooth downscaling (a 1-bit page scaled as 1 bit
	 * is unreadable) */
	PIX *c = pixGetColormap(pix) ? pixRemoveColormap(pix, REMOVE_CMAP_BASED_ON_SRC)
		 : pixGetDepth(pix) == 8 || pixGetDepth(pix) == 32 ? pixClone(pix)
								   : pixConvertTo8(pix, 0);
	pixDestroy(&pix);
	if (c && pixGetDepth(c) != 8 && pixGetDepth(c) != 32) {
		PIX *d = pixConvertTo32(c);
		pixDestroy(&c);
		c = d;
	}
	c = turn(c, degrees);
	if (!c) {
		snprintf(msg, len, "out of memory making the thumbnail");
		return -ENOMEM;
	}
	PIX *t = pixGetWidth(c) > max_width ? pixScaleToSize(c, max_width, 0) : pixClone(c);
	pixDestroy(&c);
	if (!t) {
		snprintf(msg, len, "out of memory making the thumbnail");
		return -ENOMEM;
	}
	*width = pixGetWidth(t);
	*height = pixGetHeight(t);
	int r = pixWrite(out, t, IFF_PNG);
	pixDestroy(&t);
	if (r) {
		snprintf(msg, len, "cannot write the thumbnail");
		return -EIO;
	}
	return 0;
}
