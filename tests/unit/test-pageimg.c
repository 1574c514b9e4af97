/* SPDX-License-Identifier: MIT */
/* pageimg.c: pages turned and thumbnailed for the clerk's review. */
#include "harness.h"

#include <leptonica/allheaders.h>

#include "pageimg.h"

/* A w x h page of the given depth with a dark block in its top left
 * corner, so that a turn shows where the corner went. */
static void make_page(const char *path, int w, int h, int depth, int format)
{
	PIX *pix = pixCreate(w, h, depth);
	CHECK_NOT_NULL(pix);
	if (depth == 1)
		pixClearAll(pix);
	else
		pixSetAll(pix); /* white */
	pixSetResolution(pix, 300, 150);
	BOX *box = boxCreate(0, 0, w / 4, h / 4);
	pixClearInRect(pix, box); /* black for 8 and 32 bits */
	if (depth == 1)
		pixSetInRect(pix, box);
	boxDestroy(&box);
	CHECK_EQ_INT(format == IFF_JFIF_JPEG ? pixWriteJpeg(path, pix, 90, 0)
					     : pixWrite(path, pix, format),
		     0);
	pixDestroy(&pix);
}

static bool dark(PIX *pix, int x, int y)
{
	l_uint32 v = 0;
	PIX *g = pixGetDepth(pix) == 32 ? pixConvertRGBToLuminance(pix) : pixClone(pix);
	pixGetPixel(g, x, y, &v);
	int d = pixGetDepth(g);
	pixDestroy(&g);
	return d == 1 ? v == 1 : v < 128;
}

static void test_rotate(void)
{
	const char *dir = harness_mkdtemp();
	char in[4300], out[4300], type[32], msg[200];
	snprintf(in, sizeof in, "%s/page.png", dir);
	snprintf(out, sizeof out, "%s/turned", dir);
	make_page(in, 400, 200, 8, IFF_PNG);
	CHECK_EQ_INT(pageimg_rotate(in, 90, out, type, msg, sizeof msg), 0);
	CHECK_STREQ(type, "image/png");
	PIX *t = pixRead(out);
	CHECK_NOT_NULL(t);
	/* a quarter turn clockwise: portrait, the top left corner now top right,
	 * the resolutions swapped */
	CHECK_EQ_INT(pixGetWidth(t), 200);
	CHECK_EQ_INT(pixGetHeight(t), 400);
	CHECK(dark(t, 199, 0) && !dark(t, 0, 0));
	CHECK_EQ_INT(pixGetXRes(t), 150);
	CHECK_EQ_INT(pixGetYRes(t), 300);
	pixDestroy(&t);
	/* half a turn: the corner is bottom right */
	CHECK_EQ_INT(pageimg_rotate(in, 180, out, type, msg, sizeof msg), 0);
	t = pixRead(out);
	CHECK(pixGetWidth(t) == 400 && dark(t, 399, 199) && !dark(t, 0, 0));
	pixDestroy(&t);
	/* a JPEG stays a JPEG; a 1-bit page stays 1 bit */
	snprintf(in, sizeof in, "%s/page.jpg", dir);
	make_page(in, 400, 200, 8, IFF_JFIF_JPEG);
	CHECK_EQ_INT(pageimg_rotate(in, 270, out, type, msg, sizeof msg), 0);
	CHECK_STREQ(type, "image/jpeg");
	t = pixRead(out);
	CHECK(pixGetWidth(t) == 200 && dark(t, 0, 399) && !dark(t, 199, 0));
	pixDestroy(&t);
	snprintf(in, sizeof in, "%s/page-1bit.tif", dir);
	make_page(in, 400, 200, 1, IFF_TIFF_G4);
	CHECK_EQ_INT(pageimg_rotate(in, 90, out, type, msg, sizeof msg), 0);
	CHECK_STREQ(type, "image/png");
	t = pixRead(out);
	CHECK(pixGetDepth(t) == 1 && pixGetWidth(t) == 200 && dark(t, 199, 0));
	pixDestroy(&t);
	/* not an image: refused with a reason */
	snprintf(in, sizeof in, "%s/not-an-image", dir);
	harness_write_file(in, "hello");
	CHECK_EQ_INT(pageimg_rotate(in, 90, out, type, msg, sizeof msg), -EINVAL);
	CHECK(strstr(msg, "cannot be read") != NULL);
}

static void test_thumb(void)
{
	const char *dir = harness_mkdtemp();
	char in[4300], out[4300], msg[200];
	int w = 0, h = 0;
	snprintf(in, sizeof in, "%s/page.png", dir);
	snprintf(out, sizeof out, "%s/thumb.png", dir);
	/* an A4 page at 300 dpi: 200 pixels wide, the proportions kept */
	make_page(in, 2480, 3508, 1, IFF_PNG);
	CHECK_EQ_INT(pageimg_thumb(in, 0, 200, out, &w, &h, msg, sizeof msg), 0);
	CHECK_EQ_INT(w, 200);
	CHECK(h >= 282 && h <= 284);
	PIX *t = pixRead(out);
	CHECK_NOT_NULL(t);
	CHECK_EQ_INT(pixGetInputFormat(t), IFF_PNG);
	CHECK_EQ_INT(pixGetWidth(t), 200);
	/* a 1-bit page becomes gray, not a pattern of dots */
	CHECK_EQ_INT(pixGetDepth(t), 8);
	CHECK(dark(t, 5, 5) && !dark(t, 150, 200));
	pixDestroy(&t);
	/* turned as the PDF page is: landscape */
	CHECK_EQ_INT(pageimg_thumb(in, 90, 200, out, &w, &h, msg, sizeof msg), 0);
	CHECK(w == 200 && h < w);
	/* a page narrower than that is not enlarged */
	make_page(in, 120, 80, 32, IFF_PNG);
	CHECK_EQ_INT(pageimg_thumb(in, 0, 200, out, &w, &h, msg, sizeof msg), 0);
	CHECK(w == 120 && h == 80);
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	setMsgSeverity(L_SEVERITY_NONE);
	RUN(test_rotate);
	RUN(test_thumb);
	return harness_result();
}
