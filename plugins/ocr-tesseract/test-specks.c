/* SPDX-License-Identifier: MIT */
/*
 * specks_lone_pixels() against what it replaces: the union of Leptonica's
 * hit-miss transforms, one per allowed neighbour pattern. Random images of
 * every width from 1 to 97 pixels (the last word's padding bits, one-word and
 * many-word rows), 1 to 40 rows, at several ink densities, plain and
 * inverted (pixInvert() sets the padding bits), and the edges of the image.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specks.h"

static PIX *by_hmt(PIX *bin, int max_neighbours)
{
	PIX *hits = pixCreateTemplate(bin);
	for (int n = -1; hits && n < (max_neighbours ? 8 : 0); n++) {
		char s[10];
		memcpy(s, "ooooXoooo", 10);
		if (n >= 0)
			s[n < 4 ? n : n + 1] = 'x';
		SEL *sel = selCreateFromString(s, 3, 3, NULL);
		PIX *h = sel ? pixHMT(NULL, bin, sel) : NULL;
		if (!h || !pixOr(hits, hits, h))
			pixDestroy(&hits);
		pixDestroy(&h);
		selDestroy(&sel);
	}
	return hits;
}

static int check(PIX *bin, int max_neighbours, const char *what)
{
	PIX *a = specks_lone_pixels(bin, max_neighbours), *b = by_hmt(bin, max_neighbours);
	l_int32 same = 0;
	if (!a || !b || pixEqual(a, b, &same) != 0 || !same) {
		fprintf(stderr,
			"FAIL: %s, %d x %d, at most %d neighbour(s): differs from the hit-miss "
			"transforms\n",
			what, pixGetWidth(bin), pixGetHeight(bin), max_neighbours);
		same = 0;
	}
	pixDestroy(&a);
	pixDestroy(&b);
	return same ? 0 : 1;
}

int main(void)
{
	setLeptDebugOK(0);
	srand(42);
	int failed = 0, cases = 0;
	const int densities[] = {2, 10, 50, 90}; /* % black */
	for (int w = 1; w <= 97; w++) {
		for (int h = 1; h <= 40; h += (h < 4 ? 1 : 9)) {
			for (size_t d = 0; d < sizeof densities / sizeof *densities; d++) {
				PIX *bin = pixCreate(w, h, 1);
				if (!bin)
					return 2;
				for (int y = 0; y < h; y++)
					for (int x = 0; x < w; x++)
						if (rand() % 100 < densities[d])
							pixSetPixel(bin, x, y, 1);
				for (int m = 0; m < 2; m++) {
					failed += check(bin, m, "random");
					pixInvert(bin, bin);
					failed += check(bin, m, "inverted");
					pixInvert(bin, bin);
					cases += 2;
				}
				pixDestroy(&bin);
			}
		}
	}
	/* the shapes by name: a lone dot, a pair, a three-pixel line, an L */
	struct {
		const char *name;
		int pts[4][2], n, lone0, lone1; /* pixels found at most 0 / 1 neighbours */
	} shapes[] = {
	    {"dot", {{5, 5}}, 1, 1, 1},
	    {"pair", {{5, 5}, {6, 6}}, 2, 0, 2},
	    {"line of 3", {{5, 5}, {6, 5}, {7, 5}}, 3, 0, 2},
	    {"square of 4", {{5, 5}, {6, 5}, {5, 6}, {6, 6}}, 4, 0, 0},
	};
	for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
		PIX *bin = pixCreate(40, 12, 1);
		for (int k = 0; k < shapes[i].n; k++)
			pixSetPixel(bin, shapes[i].pts[k][0], shapes[i].pts[k][1], 1);
		for (int m = 0; m < 2; m++) {
			PIX *a = specks_lone_pixels(bin, m);
			l_int32 count = -1;
			pixCountPixels(a, &count, NULL);
			int want = m ? shapes[i].lone1 : shapes[i].lone0;
			if (count != want) {
				fprintf(
				    stderr,
				    "FAIL: %s: %d pixels with at most %d neighbour(s), not %d\n",
				    shapes[i].name, count, m, want);
				failed++;
			}
			pixDestroy(&a);
			cases++;
		}
		pixDestroy(&bin);
	}
	PIX *gray = pixCreate(8, 8, 8);
	if (specks_lone_pixels(gray, 1)) {
		fprintf(stderr, "FAIL: an 8 bpp image was taken\n");
		failed++;
	}
	pixDestroy(&gray);
	printf("%d cases, %d failed\n", cases, failed);
	return failed ? 1 : 0;
}
