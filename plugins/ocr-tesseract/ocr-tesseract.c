/* SPDX-License-Identifier: MIT */
/*
 * ocr-tesseract: Vietnamese OCR and searchable PDF for the recognize step.
 *
 * Per page (page_fn, on the host's worker threads, several pages of one
 * document at once): read the page image (JPEG, PNG, TIFF), bound its size,
 * straighten it (a page fed sideways or upside down, a skewed page), clean a
 * copy for recognition, recognize it with Tesseract, and write
 *   out_path   a one-page searchable PDF: the straightened page image, never
 *              the cleaned or binarized copy, under an invisible text layer
 *   meta_path  {"page", "text" (NFC), "confidence", "low_confidence",
 *               "words", "rotated", "skew"}
 * Per document (finish_fn, once the pages are done): merge the page PDFs with
 * qpdf into one PDF (PDF/A-2B when an sRGB ICC profile is installed, see
 * add_pdfa()), and write the document's text, confidence, the pages to check
 * and the fields found (ID numbers, dates, dossier codes).
 *
 * Threads: one Tesseract engine per worker thread, made on the thread's first
 * page and kept for every later page (a thread-specific key); engines are
 * never shared, so no locking around recognition. Tesseract must run
 * single-threaded inside: the gateway exports OMP_THREAD_LIMIT=1 before it
 * loads plugins (libgomp reads it once, when it is loaded); init() warns when
 * that is missing.
 *
 * Memory (measured on Debian 12, Tesseract 5.3.0, x86-64, RSS): an
 * initialised "vie" engine (LSTM only) adds 16 MiB, its "osd" engine for
 * orient 31 MiB more; recognizing an A4 page at 300 dpi (8-bit gray) adds
 * about 67 MiB inside Tesseract at its peak, plus our image copies (9 MiB
 * each for gray, 35 MiB for colour), all given back after the page. One
 * worker doing pages: about 120 MiB at its peak; each more busy worker about
 * as much again.
 *
 * Output is a function of the input: the same page gives the same bytes
 * (Tesseract's creation date is dropped, the PDF ID is derived from the
 * content), and so does the merged document, as the host requires of a step
 * it may run again after a crash.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <leptonica/allheaders.h>
#include <qpdf/qpdf-c.h>
#include <tesseract/capi.h>

#include <motcua/plugin.h>

#include "text.h"
#include "page-png.h"
#include "plugin-io.h"
#include "specks.h"

#define PLUGIN_VERSION "1.0.0"
#define META_MAX (1u << 20) /* the host's limit for a meta file */

enum prep {
	PREP_ORIENT = 1u << 0,
	PREP_DESKEW = 1u << 1,
	PREP_DESPECKLE = 1u << 2,
	PREP_NORMALIZE = 1u << 3,
	PREP_BINARIZE = 1u << 4,
};

static const struct {
	const char *name;
	unsigned bit;
} prep_names[] = {
    {"orient", PREP_ORIENT},	   {"deskew", PREP_DESKEW},	{"despeckle", PREP_DESPECKLE},
    {"normalize", PREP_NORMALIZE}, {"binarize", PREP_BINARIZE},
};

/* The defaults, chosen by measuring the character error rate on generated
 * pages (README.md has the figures): each of orient, deskew, despeckle and
 * normalize removes the errors of its kind of page and costs nothing on clean
 * ones; binarize (Sauvola) adds errors on noisy and skewed pages once
 * normalize is on, so it stays off. */
#define DEFAULT_PREPROCESS "orient,deskew,despeckle,normalize"
#define DEFAULT_PSM 3
#define DEFAULT_LOW_CONFIDENCE 70
#define DEFAULT_MAX_PAGE_PIXELS 60e6

struct ocr {
	struct motcua_plugin_ctx *ctx;
	const struct motcua_host *host;
	char *languages;
	char *tessdata; /* without a trailing slash */
	int low_confidence;
	int psm;
	unsigned preprocess;
	double max_page_pixels;
	pthread_key_t key;
	bool key_made;
	unsigned char *icc; /* an sRGB profile for the PDF/A output intent, or NULL */
	size_t icc_len;
	char producer[96];
};

/* One thread's engines. */
struct engine {
	TessBaseAPI *api;
	TessBaseAPI *osd; /* orientation detection, made on first need */
	bool osd_failed;
	struct engine *next;
};

/* Every engine of every thread, so that fini() can end the engines of worker
 * threads that outlive the plugin (their key is deleted first, so their
 * destructor never runs into unloaded code). */
static pthread_mutex_t engines_lock = PTHREAD_MUTEX_INITIALIZER;
static struct engine *engines;

static void engine_free(struct engine *e)
{
	if (e->api) {
		TessBaseAPIEnd(e->api);
		TessBaseAPIDelete(e->api);
	}
	if (e->osd) {
		TessBaseAPIEnd(e->osd);
		TessBaseAPIDelete(e->osd);
	}
	free(e);
}

/* The key's destructor: a worker thread ends. e is only looked at when it is
 * still registered (fini() may have freed it already). */
static void engine_thread_exit(void *p)
{
	struct engine **pp, *e = p;
	pthread_mutex_lock(&engines_lock);
	for (pp = &engines; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			engine_free(e);
			break;
		}
	}
	pthread_mutex_unlock(&engines_lock);
}

/* Settings applied once per engine, at its start. */
static int engine_setup(const struct ocr *o, TessBaseAPI *api)
{
	static const char *const vars[][2] = {
	    /* no retry of every doubtful line as white on black: forms are
	     * black on white, and it costs time */
	    {"tessedit_do_invert", "0"},
	    /* the PDF renderer's quality when it must re-encode a page image */
	    {"jpg_quality", "85"},
	};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		if (!TessBaseAPISetVariable(api, vars[i][0], vars[i][1]))
			return -EINVAL;
	TessBaseAPISetPageSegMode(api, (TessPageSegMode)o->psm);
	return 0;
}

/* This thread's engine, made on first use. */
static struct engine *engine_get(struct ocr *o, char *msg, size_t len)
{
	struct engine *e = pthread_getspecific(o->key);
	if (e)
		return e;
	e = calloc(1, sizeof *e);
	if (!e || !(e->api = TessBaseAPICreate())) {
		free(e);
		snprintf(msg, len, "out of memory starting Tesseract");
		return NULL;
	}
	if (TessBaseAPIInit2(e->api, o->tessdata, o->languages, OEM_LSTM_ONLY) != 0 ||
	    engine_setup(o, e->api) < 0) {
		snprintf(msg, len, "Tesseract could not load the languages %s from %s",
			 o->languages, o->tessdata);
		engine_free(e);
		return NULL;
	}
	if (pthread_setspecific(o->key, e) != 0) {
		snprintf(msg, len, "out of memory starting Tesseract");
		engine_free(e);
		return NULL;
	}
	pthread_mutex_lock(&engines_lock);
	e->next = engines;
	engines = e;
	pthread_mutex_unlock(&engines_lock);
	return e;
}

static TessBaseAPI *engine_osd(struct ocr *o, struct engine *e)
{
	if (e->osd || e->osd_failed)
		return e->osd;
	e->osd = TessBaseAPICreate();
	if (e->osd && TessBaseAPIInit2(e->osd, o->tessdata, "osd", OEM_TESSERACT_ONLY) == 0) {
		TessBaseAPISetPageSegMode(e->osd, PSM_OSD_ONLY);
		return e->osd;
	}
	if (e->osd)
		TessBaseAPIDelete(e->osd);
	e->osd = NULL;
	e->osd_failed = true;
	o->host->log(o->ctx, MOTCUA_LOG_WARNING,
		     "cannot load osd.traineddata: pages are not turned upright");
	return NULL;
}

/* ---- files ---- */

/* Dumps a JSON object to path, at most META_MAX bytes. */
static int write_json(const char *path, const json_t *obj)
{
	char *s = json_dumps(obj, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (!s)
		return -ENOMEM;
	size_t len = strlen(s);
	int r = len + 1 > META_MAX ? -EFBIG : 0;
	if (!r) {
		s[len] = '\n';
		r = io_replace_file(path, s, len + 1, 0640);
	}
	free(s);
	return r;
}

/* Cuts a UTF-8 string to at most max bytes, at a character boundary. */
static void utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	s[max] = 0;
}

/* ---- the page image ---- */

struct page {
	PIX *pix; /* the page as it goes into the PDF: upright, straight */
	PIX *ocr; /* the copy Tesseract reads */
	int dpi;
	int rotated;	 /* degrees turned clockwise to make it upright */
	double skew;	 /* degrees of skew corrected */
	double speckles; /* share of isolated black pixels */
	bool geometry_changed;
	bool file_as_is; /* the file may go into the PDF as it is (JPEG, PNG) */
};

static void page_clear(struct page *p)
{
	pixDestroy(&p->pix);
	pixDestroy(&p->ocr);
}

/* Reads the image: 1, 8 bpp gray or 32 bpp RGB, square pixels, resolution set. */
static int page_load(const struct ocr *o, const char *path, struct page *p, char *msg, size_t len)
{
	l_int32 format, w, h, bps, spp, cmap;
	if (pixReadHeader(path, &format, &w, &h, &bps, &spp, &cmap) != 0 || w <= 0 || h <= 0) {
		snprintf(msg, len, "the page image could not be read (corrupt or not an image)");
		return -EINVAL;
	}
	if (w < 32 || h < 32) {
		snprintf(msg, len, "the page image is only %d x %d pixels: not a scanned page", w,
			 h);
		return -EINVAL;
	}
	if ((double)w * h > o->max_page_pixels) {
		snprintf(
		    msg, len,
		    "the page image is %d x %d pixels (%.0f million), more than max_page_pixels "
		    "(%.0f million): scan at a lower resolution",
		    w, h, (double)w * h / 1e6, o->max_page_pixels / 1e6);
		return -EFBIG;
	}
	PIX *pix = pixRead(path);
	if (!pix) {
		snprintf(msg, len, "the page image could not be read (corrupt or not an image)");
		return -EINVAL;
	}
	PIX *t = NULL;
	int d = pixGetDepth(pix);
	if (pixGetColormap(pix))
		t = pixRemoveColormap(pix, REMOVE_CMAP_BASED_ON_SRC);
	else if (d == 32 && pixGetSpp(pix) == 4)
		t = pixRemoveAlpha(pix);
	else if (d == 16)
		t = pixConvert16To8(pix, L_MS_BYTE);
	else if (d == 2 || d == 4)
		t = pixConvertTo8(pix, 0);
	if (t) {
		pixCopyResolution(t, pix);
		pixDestroy(&pix);
		pix = t;
	}
	/* Tesseract's PDF renderer (through Leptonica) copies a JPEG's or a
	 * PNG's compressed data into the PDF instead of re-encoding the pixels,
	 * when it is given the file: for the plain kinds, with nothing changed */
	p->file_as_is = !t && !cmap && (spp == 1 || spp == 3) && bps <= 8 &&
			(format == IFF_JFIF_JPEG || format == IFF_PNG);
	d = pixGetDepth(pix);
	if (d != 1 && d != 8 && d != 32) {
		pixDestroy(&pix);
		snprintf(msg, len, "the page image has an unsupported pixel format (%d bits)", d);
		return -EINVAL;
	}
	if (d == 32)
		pixSetSpp(pix, 3);
	l_int32 xres = pixGetXRes(pix), yres = pixGetYRes(pix);
	if (xres < 70 || yres < 70 || xres > 2400 || yres > 2400) {
		/* no usable resolution: take the page for an A4 sheet (297 mm) */
		int longest = w > h ? w : h;
		xres = yres = (int)lround(longest / (297.0 / 25.4));
		if (xres < 70)
			xres = yres = 70;
	} else if (abs(xres - yres) * 100 > yres) {
		/* non-square pixels (some fax modes): make them square */
		t = pixScale(pix, 1.0f, (float)xres / (float)yres);
		if (!t) {
			pixDestroy(&pix);
			snprintf(msg, len, "out of memory");
			return -ENOMEM;
		}
		pixDestroy(&pix);
		pix = t;
		yres = xres;
		p->file_as_is = false;
	}
	pixSetResolution(pix, xres, yres);
	p->pix = pix;
	p->dpi = yres;
	return 0;
}

/* A binary copy for orientation detection and (at half size) the skew
 * search: background-normalised Otsu, which copes with uneven lighting. */
static PIX *page_binary(PIX *pix)
{
	PIX *g = pixConvertTo8(pix, 0), *b = NULL;
	if (!g)
		return NULL;
	if (pixGetDepth(pix) == 1)
		b = pixConvertTo1(g, 128);
	else
		b = pixOtsuThreshOnBackgroundNorm(g, NULL, 10, 15, 100, 50, 255, 2, 2, 0.1f, NULL);
	pixDestroy(&g);
	return b;
}

/* Turns p->pix by quads quarter turns clockwise. */
static int page_turn(struct page *p, int quads)
{
	if (quads == 0)
		return 0;
	PIX *t = pixRotateOrth(p->pix, quads);
	if (!t)
		return -ENOMEM;
	l_int32 xres = pixGetXRes(p->pix), yres = pixGetYRes(p->pix);
	if (quads % 2)
		pixSetResolution(t, yres, xres);
	pixDestroy(&p->pix);
	p->pix = t;
	p->rotated = 90 * quads;
	p->geometry_changed = true;
	return 0;
}

/* Tesseract's orientation detection on the page: returns the quarter turns
 * clockwise that make it upright, 0 when unsure. */
static int orient_osd(struct ocr *o, struct engine *e, PIX *bin, int dpi)
{
	TessBaseAPI *osd = engine_osd(o, e);
	int deg = 0, quads = 0;
	float conf = 0, script_conf = 0;
	const char *script = NULL;
	if (!osd)
		return 0;
	TessBaseAPISetImage2(osd, bin);
	TessBaseAPISetSourceResolution(osd, dpi);
	if (TessBaseAPIDetectOrientationScript(osd, &deg, &conf, &script, &script_conf) &&
	    conf >= 1.5f)
		quads = ((360 - deg) / 90) % 4;
	TessBaseAPIClear(osd);
	TessBaseAPISetInputImage(osd, NULL);
	return quads;
}

/* Pages with more isolated dots than this (a share of the page's pixels) are
 * speckled and get despeckle(): generated pages measure 0 when clean,
 * 0.0014 with 0.3 % salt-and-pepper, 0.0087 with 2 %. */
#define SPECKLED 1e-4

/* How a skewed page is turned straight. Skews are small (a few degrees), where
 * three shears are as good for reading as area mapping and much cheaper. */
#define DESKEW_ROTATE L_ROTATE_SHEAR

/* Uneven lighting (a shadow from a bent page, a dim corner): the spread of
 * the paper's brightness over the page, 0-255. Measured on the brightest
 * pixel of each 16x16 block (paper, as strokes are thinner than a block),
 * between the 5th and 95th percentile: a few milliseconds. Generated pages
 * measure 0 clean, 0-2 with noise or JPEG, 60-150 shaded; normalisation
 * costs 0.1 CPU s a page and only helps the shaded ones. */
#define SHADED 24

static int shade_spread(PIX *gray)
{
	PIX *bg = pixScaleGrayMinMax(gray, 16, 16, L_CHOOSE_MAX);
	l_int32 lo = 255, hi = 255;
	if (bg) {
		pixGetRankValue(bg, 1, 0.05f, (l_uint32 *)&lo);
		pixGetRankValue(bg, 1, 0.95f, (l_uint32 *)&hi);
	}
	pixDestroy(&bg);
	return hi - lo;
}

/* A page that yields fewer words than this (or reads under the low-confidence
 * mark) gets orientation detection. */
#define ORIENT_MIN_WORDS 5

/* The share of the page's pixels that are isolated black dots (a black pixel
 * with eight white neighbours in the binary copy): salt-and-pepper noise. */
static double speckle_share(PIX *bin)
{
	PIX *hits = specks_lone_pixels(bin, 0);
	l_int32 count = 0;
	if (hits)
		pixCountPixels(hits, &count, NULL);
	pixDestroy(&hits);
	return (double)count / ((double)pixGetWidth(bin) * pixGetHeight(bin));
}

/* Salt-and-pepper removal: every dark speck of one or two pixels (at most one
 * dark neighbour) turns white and every such light speck in a dark stroke
 * black. Reads as well as a 3x3 median filter on speckled pages and costs a
 * small share of it (the median was a fifth of the gateway's CPU time on the
 * benchmark's noisy pages); strokes, dots and diacritics are bigger than two
 * pixels at scanning resolutions and stay as they are. */
static PIX *despeckle(PIX *g)
{
	PIX *bin = pixConvertTo1(g, 128), *out = pixCopy(NULL, g);
	bool ok = bin && out;
	for (int colour = 0; ok && colour < 2; colour++) {
		PIX *hits = specks_lone_pixels(bin, 1);
		ok = hits && pixSetMasked(out, hits, colour ? 0 : 255) == 0;
		pixDestroy(&hits);
		if (ok && colour == 0)
			ok = pixInvert(bin, bin) != NULL;
	}
	pixDestroy(&bin);
	if (!ok)
		pixDestroy(&out);
	return out;
}

/* Skew is measured on a background-normalised Otsu binary of the page at
 * half resolution, searched at the same effective resolution as
 * pixFindSkew() at full size (sweep at 1/4, search at 1/2): the angles agree
 * within 0.03 degrees on the generated pages and the binary costs a fifth
 * (20 ms instead of 100 ms an A4 page at 300 dpi). A bilevel page is its
 * own binary. */
static int page_skew(PIX *pix, PIX *gray, l_float32 *angle, l_float32 *conf)
{
	if (!gray)
		return pixFindSkew(pix, angle, conf);
	PIX *half = pixScaleAreaMap2(gray), *bin = half ? page_binary(half) : NULL;
	int r = bin ? pixFindSkewSweepAndSearch(bin, angle, conf, 2, 1, 7.0f, 1.0f, 0.01f) : 1;
	pixDestroy(&half);
	pixDestroy(&bin);
	return r;
}

/* Measures the page's speckles and straightens it. Specks are counted on a
 * plain threshold at full resolution (a one-pixel speck does not survive any
 * reduction): the same shares as on the normalised binary, for a tenth of
 * its cost. */
static int page_straighten(struct ocr *o, struct page *p)
{
	if (!(o->preprocess & (PREP_DESKEW | PREP_DESPECKLE)))
		return 0;
	bool bilevel = pixGetDepth(p->pix) == 1;
	PIX *gray = bilevel ? NULL : pixConvertTo8(p->pix, 0);
	if (!bilevel && !gray)
		return -ENOMEM;
	if (o->preprocess & PREP_DESPECKLE) {
		PIX *bin = bilevel ? pixClone(p->pix) : pixConvertTo1(gray, 128);
		if (bin)
			p->speckles = speckle_share(bin);
		pixDestroy(&bin);
	}
	l_float32 angle = 0, conf = 0;
	int found = (o->preprocess & PREP_DESKEW) ? page_skew(p->pix, gray, &angle, &conf) : 1;
	pixDestroy(&gray);
	if (found == 0 && conf >= 3.0f && fabsf(angle) >= 0.1f) {
		PIX *t = pixRotate(p->pix, (l_float32)(angle * M_PI / 180.0), DESKEW_ROTATE,
				   L_BRING_IN_WHITE, 0, 0);
		if (!t)
			return -ENOMEM;
		pixCopyResolution(t, p->pix);
		pixDestroy(&p->pix);
		p->pix = t;
		p->skew = round(angle * 100.0) / 100.0;
		p->geometry_changed = true;
	}
	return 0;
}

/* The copy Tesseract reads. A filter that cannot work on the image (too
 * small for its tiles) is left out rather than failing the page. */
static int page_clean(const struct ocr *o, struct page *p)
{
	PIX *g = pixGetDepth(p->pix) == 1 ? pixClone(p->pix) : pixConvertTo8(p->pix, 0), *t;
	if (!g)
		return -ENOMEM;
	bool gray = pixGetDepth(g) == 8;
	if (gray && (o->preprocess & PREP_DESPECKLE) && p->speckles >= SPECKLED &&
	    (t = despeckle(g))) {
		pixDestroy(&g);
		g = t;
	}
	if (gray && (o->preprocess & PREP_NORMALIZE) && shade_spread(g) >= SHADED &&
	    (t = pixBackgroundNormSimple(g, NULL, NULL))) {
		PIX *c = pixContrastNorm(NULL, t, 100, 100, 55, 1, 1);
		pixDestroy(&g);
		if (c) {
			pixDestroy(&t);
			g = c;
		} else {
			g = t;
		}
	}
	t = NULL;
	if (gray && (o->preprocess & PREP_BINARIZE) &&
	    pixSauvolaBinarizeTiled(g, 25, 0.34f, 1, 1, NULL, &t) == 0 && t) {
		pixDestroy(&g);
		g = t;
	}
	pixCopyResolution(g, p->pix);
	p->ocr = g;
	return 0;
}

/* ---- recognition ---- */

struct result {
	char *text; /* NFC */
	double confidence;
	int words;
};

static int recognize(struct engine *e, struct page *p, struct result *res, char *msg, size_t len)
{
	TessBaseAPI *api = e->api;
	TessBaseAPISetImage2(api, p->ocr);
	TessBaseAPISetSourceResolution(api, p->dpi);
	if (TessBaseAPIRecognize(api, NULL) != 0) {
		snprintf(msg, len, "Tesseract could not recognize the page");
		return -EIO;
	}
	char *raw = TessBaseAPIGetUTF8Text(api);
	int *confs = TessBaseAPIAllWordConfidences(api);
	long sum = 0;
	res->words = 0;
	for (int i = 0; confs && confs[i] >= 0; i++) {
		sum += confs[i];
		res->words++;
	}
	TessDeleteIntArray(confs);
	res->confidence = res->words ? round(10.0 * (double)sum / res->words) / 10.0 : 0.0;
	if (!raw) {
		snprintf(msg, len, "Tesseract gave no text for the page");
		return -EIO;
	}
	/* trailing whitespace off */
	size_t n = strlen(raw);
	while (n && (raw[n - 1] == '\n' || raw[n - 1] == ' ' || raw[n - 1] == '\t' ||
		     raw[n - 1] == '\r'))
		n--;
	res->text = ocr_nfc(raw, n);
	TessDeleteText(raw);
	if (!res->text) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	utf8_cut(res->text, META_MAX / 2);
	return 0;
}

/* Drops the creation date Tesseract puts in and gives the file an ID derived
 * from its content, so that the same page gives the same bytes. */
static int pdf_settle(const char *in, const char *out, char *msg, size_t len)
{
	qpdf_data q = qpdf_init();
	int r = 0;
	if (!q)
		return -ENOMEM;
	qpdf_silence_errors(q);
	qpdf_set_suppress_warnings(q, QPDF_TRUE);
	if ((qpdf_read(q, in, NULL) & QPDF_ERRORS) ||
	    (qpdf_set_info_key(q, "/CreationDate", NULL), qpdf_init_write(q, out) & QPDF_ERRORS)) {
		r = -EIO;
	} else {
		qpdf_set_object_stream_mode(q, qpdf_o_disable);
		qpdf_set_qdf_mode(q, QPDF_FALSE);
		qpdf_set_deterministic_ID(q, QPDF_TRUE);
		if (qpdf_write(q) & QPDF_ERRORS)
			r = -EIO;
	}
	if (r && qpdf_has_error(q))
		snprintf(msg, len, "cannot write the page PDF: %s",
			 qpdf_get_error_full_text(q, qpdf_get_error(q)));
	else if (r)
		snprintf(msg, len, "cannot write the page PDF");
	qpdf_cleanup(&q);
	return r;
}

static int render_pdf(struct ocr *o, struct engine *e, const struct page *p, const char *image_path,
		      const char *out_path, char *msg, size_t len)
{
	char *base = NULL, *made = NULL, *settled = NULL, *straight = NULL;
	int r = 0;
	if (asprintf(&base, "%s.tess-%ld", out_path, (long)gettid()) < 0) {
		base = NULL;
		r = -ENOMEM;
		goto out;
	}
	if (asprintf(&made, "%s.pdf", base) < 0)
		made = NULL;
	if (asprintf(&settled, "%s.settled.pdf", base) < 0)
		settled = NULL;
	if (!made || !settled) {
		r = -ENOMEM;
		goto out;
	}
	/* The image in the PDF: the page file as it is when the page was not
	 * turned or straightened; otherwise the straightened page, written as
	 * a PNG (page-png.c: no row filters, zlib level 1) when it is gray,
	 * and for colour and bilevel pages what Tesseract makes of it (JPEG at
	 * jpg_quality for colour, lossless for bilevel); never the cleaned copy
	 * Tesseract read.
	 * Tesseract 5.3 flate-encodes again (zlib's default level) every image
	 * read from a PNG, whatever file it is given: 55-95 ms an A4 page. With
	 * the input format unknown it asks Leptonica for the file's data, which
	 * copies a PNG's compressed rows as they are (with their PNG predictor)
	 * in under a millisecond: the same pixels, a PDF the size of the PNG.
	 * Not for bilevel PNGs: Tesseract writes their /Decode [1 0] only on
	 * its own path (without it the copied page comes out inverted).
	 * A straightened gray A4 page costs 20-37 ms that way, and is lossless
	 * and a third of the size of Tesseract's JPEG (q85: 32-49 ms). */
	const char *image_file = p->file_as_is && !p->geometry_changed ? image_path : NULL;
	if (!image_file && pixGetDepth(p->pix) == 8 && !pixGetColormap(p->pix)) {
		if (asprintf(&straight, "%s.png", base) < 0) {
			straight = NULL;
			r = -ENOMEM;
			goto out;
		}
		if ((r = page_png_write(straight, p->pix)) < 0) {
			snprintf(msg, len, "cannot write the page image next to %s: %s", out_path,
				 strerror(-r));
			goto out;
		}
		image_file = straight;
	}
	if (image_file && pixGetInputFormat(p->pix) != IFF_JFIF_JPEG && pixGetDepth(p->pix) > 1)
		pixSetInputFormat(p->pix, IFF_UNKNOWN);
	TessBaseAPISetInputImage(e->api, pixClone(p->pix));
	TessBaseAPISetInputName(e->api, image_file);
	TessResultRenderer *rr = TessPDFRendererCreate(base, o->tessdata, 0);
	if (!rr) {
		r = -ENOMEM;
		goto out;
	}
	bool ok = TessResultRendererBeginDocument(rr, "") &&
		  TessResultRendererAddImage(rr, e->api) && TessResultRendererEndDocument(rr);
	TessDeleteResultRenderer(rr);
	TessBaseAPISetInputName(e->api, NULL);
	if (!ok) {
		snprintf(msg, len, "Tesseract could not write the page PDF next to %s", out_path);
		r = -EIO;
		goto out;
	}
	if ((r = pdf_settle(made, settled, msg, len)) < 0)
		goto out;
	if (rename(settled, out_path) < 0) {
		r = -errno;
		snprintf(msg, len, "cannot write %s: %s", out_path, strerror(errno));
	}
out:
	if (made)
		unlink(made);
	if (straight)
		unlink(straight);
	if (settled && r)
		unlink(settled);
	free(base);
	free(made);
	free(settled);
	free(straight);
	if (r == -ENOMEM && !msg[0])
		snprintf(msg, len, "out of memory");
	return r;
}

/* Whether the text lines just recognized run across the page. Tesseract
 * reads a page fed sideways well enough (its lines come out tall and narrow
 * in the image), but the page in the PDF must be turned: the line boxes tell,
 * for free. Upside down pages read badly and are caught by their confidence. */
static bool reads_upright(struct engine *e)
{
	TessResultIterator *ri = TessBaseAPIGetIterator(e->api);
	if (!ri)
		return true;
	TessPageIterator *it = TessResultIteratorGetPageIterator(ri);
	int across = 0, along = 0;
	do {
		int l, t, r, b;
		if (!TessPageIteratorBoundingBox(it, RIL_TEXTLINE, &l, &t, &r, &b))
			continue;
		if (r - l >= b - t)
			across++;
		else
			along++;
	} while (TessPageIteratorNext(it, RIL_TEXTLINE));
	TessResultIteratorDelete(ri);
	return across >= along;
}

static int page_fn(void *data, struct motcua_page_io *io)
{
	struct ocr *o = data;
	struct page p = {0};
	struct result res = {0};
	const size_t ml = sizeof io->message;
	json_t *meta = NULL;
	int r;

	io->message[0] = 0;
	if (!io->path || !io->out_path || !io->meta_path) {
		snprintf(io->message, ml, "the host gave no page image or output paths");
		return -EINVAL;
	}
	struct engine *e = engine_get(o, io->message, ml);
	if (!e)
		return -EIO;
	if ((r = page_load(o, io->path, &p, io->message, ml)) < 0)
		goto out;
	if ((r = page_straighten(o, &p)) < 0 || (r = page_clean(o, &p)) < 0) {
		snprintf(io->message, ml, "out of memory preparing the page");
		goto out;
	}
	if ((r = recognize(e, &p, &res, io->message, ml)) < 0)
		goto out;
	/* Orientation detection costs about as much as recognition (0.45 CPU s
	 * an A4 page here), and almost every page is fed upright: so it runs
	 * only on pages that read badly (upside down) or whose text blocks do
	 * not face up (sideways). Such a page is turned, straightened and read
	 * again. A page the clerk turned is read as turned. */
	bool turned = MOTCUA_HAS_MEMBER(struct motcua_page_io, io, flags) &&
		      (io->flags & MOTCUA_PAGE_TURNED_BY_CLERK);
	if ((o->preprocess & PREP_ORIENT) && !turned &&
	    (res.words < ORIENT_MIN_WORDS || res.confidence < o->low_confidence ||
	     !reads_upright(e))) {
		PIX *bin = page_binary(p.pix);
		int quads = bin ? orient_osd(o, e, bin, p.dpi) : 0;
		pixDestroy(&bin);
		if (quads) {
			TessBaseAPIClear(e->api);
			pixDestroy(&p.ocr);
			free(res.text);
			memset(&res, 0, sizeof res);
			if ((r = page_turn(&p, quads)) < 0 || (r = page_straighten(o, &p)) < 0 ||
			    (r = page_clean(o, &p)) < 0) {
				snprintf(io->message, ml, "out of memory turning the page upright");
				goto out;
			}
			if ((r = recognize(e, &p, &res, io->message, ml)) < 0)
				goto out;
		}
	}
	if ((r = render_pdf(o, e, &p, io->path, io->out_path, io->message, ml)) < 0)
		goto out;
	bool low = res.words == 0 || res.confidence < o->low_confidence;
	meta = json_pack("{s:i, s:s, s:f, s:b, s:i, s:i, s:f}", "page", (int)io->page_no, "text",
			 res.text, "confidence", res.confidence, "low_confidence", low, "words",
			 res.words, "rotated", p.rotated, "skew", p.skew);
	if (!meta) {
		r = -ENOMEM;
		snprintf(io->message, ml, "out of memory");
		goto out;
	}
	if ((r = write_json(io->meta_path, meta)) < 0) {
		snprintf(io->message, ml, "cannot write %s: %s", io->meta_path, strerror(-r));
		goto out;
	}
	snprintf(io->message, ml, "%d words, confidence %.1f%s%s", res.words, res.confidence,
		 low ? " (low: check the page)" : "", p.rotated ? ", turned upright" : "");
out:
	TessBaseAPIClear(e->api);
	TessBaseAPISetInputImage(e->api, NULL); /* let the page image go now */
	json_decref(meta);
	free(res.text);
	page_clear(&p);
	return r;
}

/* ---- the document ---- */

static bool qpdf_failed(qpdf_data q, QPDF_ERROR_CODE rc, char *msg, size_t len, const char *what)
{
	if (!(rc & QPDF_ERRORS) && !qpdf_has_error(q))
		return false;
	if (qpdf_has_error(q))
		snprintf(msg, len, "%s: %s", what, qpdf_get_error_full_text(q, qpdf_get_error(q)));
	else
		snprintf(msg, len, "%s", what);
	return true;
}

static void xml_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s && o + 7 < cap; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
				continue;
			out[o++] = *s;
		}
		if (rep)
			o += (size_t)snprintf(out + o, cap - o, "%s", rep);
	}
	out[o] = 0;
}

/*
 * PDF/A-2B, as far as the file is ours to make: the XMP metadata stream
 * (pdfaid part 2, conformance B, the producer and title, matching the Info
 * dictionary) and an sRGB output intent for the page images' DeviceRGB and
 * DeviceGray. Tesseract's pages already embed their only font (the invisible
 * GlyphLessFont, with a ToUnicode map) and use nothing PDF/A forbids. Without
 * an ICC profile on the machine the file claims nothing.
 */
static int add_pdfa(struct ocr *o, qpdf_data q, const char *title)
{
	qpdf_oh root = qpdf_get_root(q);
	qpdf_oh info = qpdf_oh_new_dictionary(q);
	qpdf_oh_replace_key(q, info, "/Producer", qpdf_oh_new_unicode_string(q, o->producer));
	if (title && title[0])
		qpdf_oh_replace_key(q, info, "/Title", qpdf_oh_new_unicode_string(q, title));
	qpdf_oh_replace_key(q, qpdf_get_trailer(q), "/Info", qpdf_make_indirect_object(q, info));
	if (!o->icc)
		return 0;

	qpdf_oh icc = qpdf_oh_new_stream(q);
	qpdf_oh_replace_stream_data(q, icc, o->icc, o->icc_len, qpdf_oh_new_null(q),
				    qpdf_oh_new_null(q));
	qpdf_oh_replace_key(q, qpdf_oh_get_dict(q, icc), "/N", qpdf_oh_new_integer(q, 3));
	qpdf_oh intent =
	    qpdf_oh_parse(q, "<< /Type /OutputIntent /S /GTS_PDFA1"
			     " /OutputConditionIdentifier (sRGB IEC61966-2.1)"
			     " /Info (sRGB IEC61966-2.1) /RegistryName (http://www.color.org) >>");
	qpdf_oh_replace_key(q, intent, "/DestOutputProfile", icc);
	qpdf_oh intents = qpdf_oh_new_array(q);
	qpdf_oh_append_item(q, intents, qpdf_make_indirect_object(q, intent));
	qpdf_oh_replace_key(q, root, "/OutputIntents", intents);

	char producer[256], etitle[1024], *xmp;
	xml_escape(producer, sizeof producer, o->producer);
	xml_escape(etitle, sizeof etitle, title ? title : "");
	int n = asprintf(
	    &xmp,
	    "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
	    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
	    " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
	    "  <rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\">\n"
	    "   <pdfaid:part>2</pdfaid:part>\n"
	    "   <pdfaid:conformance>B</pdfaid:conformance>\n"
	    "  </rdf:Description>\n"
	    "  <rdf:Description rdf:about=\"\" xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\">\n"
	    "   <pdf:Producer>%s</pdf:Producer>\n"
	    "  </rdf:Description>\n"
	    "%s%s%s"
	    " </rdf:RDF>\n"
	    "</x:xmpmeta>\n"
	    "<?xpacket end=\"w\"?>\n",
	    producer,
	    etitle[0] ? "  <rdf:Description rdf:about=\"\" "
			"xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"
			"   <dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">"
		      : "",
	    etitle, etitle[0] ? "</rdf:li></rdf:Alt></dc:title>\n  </rdf:Description>\n" : "");
	if (n < 0)
		return -ENOMEM;
	qpdf_oh md = qpdf_oh_new_stream(q);
	qpdf_oh_replace_stream_data(q, md, (unsigned char *)xmp, (size_t)n, qpdf_oh_new_null(q),
				    qpdf_oh_new_null(q));
	free(xmp);
	qpdf_oh mdd = qpdf_oh_get_dict(q, md);
	qpdf_oh_replace_key(q, mdd, "/Type", qpdf_oh_new_name(q, "/Metadata"));
	qpdf_oh_replace_key(q, mdd, "/Subtype", qpdf_oh_new_name(q, "/XML"));
	qpdf_oh_replace_key(q, root, "/Metadata", md);
	return 0;
}

/* Every page PDF stays open (qpdf copies their streams when it writes), so a
 * document takes one file descriptor per page for the time of the merge. */
static int merge_pdf(struct ocr *o, struct motcua_step_io *io, char *msg, size_t len)
{
	size_t n = io->n_pages;
	qpdf_data out = qpdf_init(), *in = calloc(n, sizeof *in);
	char *tmp = NULL;
	int r = -EIO;
	if (!out || !in || asprintf(&tmp, "%s.tmp-%ld", io->out_path, (long)gettid()) < 0) {
		tmp = NULL;
		snprintf(msg, len, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	qpdf_silence_errors(out);
	qpdf_set_suppress_warnings(out, QPDF_TRUE);
	if (qpdf_failed(out, qpdf_empty_pdf(out), msg, len, "cannot start the PDF"))
		goto out;
	for (size_t i = 0; i < n; i++) {
		char what[64];
		snprintf(what, sizeof what, "cannot read the PDF of page %zu", i + 1);
		if (!(in[i] = qpdf_init())) {
			snprintf(msg, len, "out of memory");
			r = -ENOMEM;
			goto out;
		}
		qpdf_silence_errors(in[i]);
		qpdf_set_suppress_warnings(in[i], QPDF_TRUE);
		if (qpdf_failed(in[i], qpdf_read(in[i], io->page_out_paths[i], NULL), msg, len,
				what))
			goto out;
		int np = qpdf_get_num_pages(in[i]);
		for (int k = 0; k < np; k++) {
			qpdf_oh page = qpdf_get_page_n(in[i], (size_t)k);
			if (qpdf_failed(in[i], QPDF_SUCCESS, msg, len, what) ||
			    qpdf_failed(out, qpdf_add_page(out, in[i], page, QPDF_FALSE), msg, len,
					what))
				goto out;
		}
	}
	if (add_pdfa(o, out, io->document_name) < 0) {
		snprintf(msg, len, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	if (qpdf_failed(out, QPDF_SUCCESS, msg, len, "cannot make the PDF/A metadata") ||
	    qpdf_failed(out, qpdf_init_write(out, tmp), msg, len, "cannot write the document PDF"))
		goto out;
	qpdf_set_object_stream_mode(out, qpdf_o_disable);
	qpdf_set_qdf_mode(out, QPDF_FALSE);
	qpdf_set_deterministic_ID(out, QPDF_TRUE);
	qpdf_set_minimum_pdf_version(out, "1.7");
	if (qpdf_failed(out, qpdf_write(out), msg, len, "cannot write the document PDF"))
		goto out;
	if (rename(tmp, io->out_path) < 0) {
		snprintf(msg, len, "cannot write %s: %s", io->out_path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (r && tmp)
		unlink(tmp);
	free(tmp);
	for (size_t i = 0; in && i < n; i++)
		if (in[i])
			qpdf_cleanup(&in[i]);
	free(in);
	if (out)
		qpdf_cleanup(&out);
	return r;
}

/* The document's meta; the text is cut (and "text_truncated" set) to keep the
 * file under the host's limit. */
static int write_document_meta(const char *path, json_t *doc, const char *text)
{
	size_t cap = strlen(text);
	for (int tries = 0; tries < 8; tries++) {
		char *t = strdup(text);
		if (!t)
			return -ENOMEM;
		utf8_cut(t, cap);
		json_object_set_new(doc, "text", json_string(t));
		if (cap < strlen(text))
			json_object_set_new(doc, "text_truncated", json_true());
		free(t);
		char *s =
		    json_dumps(doc, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(6));
		if (!s)
			return -ENOMEM;
		size_t len = strlen(s);
		if (len + 1 <= META_MAX) {
			s[len] = '\n';
			int r = io_replace_file(path, s, len + 1, 0640);
			free(s);
			return r;
		}
		free(s);
		size_t over = len + 1 - META_MAX + 4096;
		cap = cap > over ? cap - over : 0;
	}
	return -EFBIG;
}

static int finish_fn(void *data, struct motcua_step_io *io)
{
	struct ocr *o = data;
	const size_t ml = sizeof io->message;
	json_t *doc = NULL, *pages = NULL, *low_pages = NULL, **metas = NULL;
	char *text = NULL;
	int r = 0;

	io->message[0] = 0;
	if (io->struct_size <
	    offsetof(struct motcua_step_io, page_meta_paths) + sizeof io->page_meta_paths) {
		snprintf(io->message, ml,
			 "the gateway is too old for ocr-tesseract (no pages in the step)");
		return -ENOTSUP;
	}
	if (io->n_pages == 0) {
		snprintf(io->message, ml, "nothing to recognize: the document has no page images");
		return 0;
	}
	if (!io->out_path) {
		snprintf(io->message, ml, "the host gave no output path");
		return -EINVAL;
	}
	size_t n = io->n_pages, text_len = 0;
	metas = calloc(n, sizeof *metas);
	if (!metas) {
		snprintf(io->message, ml, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_error_t err;
		if (!io->page_out_paths || !io->page_out_paths[i] || !io->page_meta_paths ||
		    !io->page_meta_paths[i]) {
			snprintf(io->message, ml,
				 "page %zu of %zu was not recognized (its page step failed)", i + 1,
				 n);
			r = -EIO;
			goto out;
		}
		metas[i] = json_load_file(io->page_meta_paths[i], 0, &err);
		if (!json_is_object(metas[i]) ||
		    !json_is_string(json_object_get(metas[i], "text"))) {
			snprintf(io->message, ml,
				 "the recognition result of page %zu is unreadable: %s", i + 1,
				 metas[i] ? "not the expected object" : err.text);
			r = -EIO;
			goto out;
		}
		text_len += json_string_length(json_object_get(metas[i], "text")) + 2;
	}
	if ((r = merge_pdf(o, io, io->message, ml)) < 0)
		goto out;

	/* the text: page after page, each ending in a newline, pages separated
	 * by a form feed (as pdftotext does): split on "\f" to get the pages */
	text = malloc(text_len + 1);
	pages = json_array();
	low_pages = json_array();
	if (!text || !pages || !low_pages) {
		r = -ENOMEM;
		goto oom;
	}
	size_t tl = 0;
	double conf_sum = 0;
	long words = 0;
	for (size_t i = 0; i < n; i++) {
		const char *t = json_string_value(json_object_get(metas[i], "text"));
		size_t l = strlen(t);
		if (i)
			text[tl++] = '\f';
		memcpy(text + tl, t, l);
		tl += l;
		if (l)
			text[tl++] = '\n';
		double c = json_number_value(json_object_get(metas[i], "confidence"));
		json_int_t w = json_integer_value(json_object_get(metas[i], "words"));
		bool low = json_is_true(json_object_get(metas[i], "low_confidence"));
		conf_sum += c * (double)w;
		words += (long)w;
		if (json_array_append_new(pages,
					  json_pack("{s:I, s:f, s:b}", "page", (json_int_t)(i + 1),
						    "confidence", c, "low_confidence", low)) < 0 ||
		    (low &&
		     json_array_append_new(low_pages, json_integer((json_int_t)(i + 1))) < 0)) {
			r = -ENOMEM;
			goto oom;
		}
	}
	text[tl] = 0;
	double conf = words ? round(10.0 * conf_sum / (double)words) / 10.0 : 0.0;
	/* "o" steals the references, even when packing fails */
	doc = json_pack("{s:s, s:f, s:I, s:o, s:o, s:o?}", "text", "", "confidence", conf, "words",
			(json_int_t)words, "pages", pages, "low_confidence_pages", low_pages,
			"fields", ocr_fields(text));
	pages = low_pages = NULL;
	if (!doc || !json_is_object(json_object_get(doc, "fields"))) {
		r = -ENOMEM;
		goto oom;
	}
	if (io->meta_path && (r = write_document_meta(io->meta_path, doc, text)) < 0) {
		snprintf(io->message, ml, "cannot write %s: %s", io->meta_path, strerror(-r));
		goto out;
	}
	snprintf(io->out_media_type, sizeof io->out_media_type, "application/pdf");
	size_t nlow = json_array_size(json_object_get(doc, "low_confidence_pages"));
	snprintf(io->message, ml, "%zu page%s recognized, confidence %.1f%s", n, n == 1 ? "" : "s",
		 conf, nlow ? ": some pages need checking" : "");
	goto out;
oom:
	snprintf(io->message, ml, "out of memory");
out:
	json_decref(doc);
	json_decref(pages);
	json_decref(low_pages);
	for (size_t i = 0; metas && i < n; i++)
		json_decref(metas[i]);
	free(metas);
	free(text);
	return r;
}

/* ---- configuration ---- */

static const char *const icc_paths[] = {
    "/usr/share/color/icc/sRGB.icc",		 /* icc-profiles-free */
    "/usr/share/color/icc/colord/sRGB.icc",	 /* colord-data */
    "/usr/share/color/icc/ghostscript/srgb.icc", /* libgs-common */
    NULL,
};

static void load_icc(struct ocr *o)
{
	for (size_t i = 0; icc_paths[i]; i++) {
		unsigned char *buf = NULL;
		size_t len = 0;
		if (io_read_file(icc_paths[i], 1u << 20, &buf, &len) < 0)
			continue;
		/* an ICC profile of an RGB device: "acsp" signature, "RGB " space */
		if (len >= 128 && !memcmp(buf + 36, "acsp", 4) && !memcmp(buf + 16, "RGB ", 4)) {
			o->icc = buf;
			o->icc_len = len;
			o->host->log(o->ctx, MOTCUA_LOG_INFO,
				     "PDF/A-2B output with the sRGB profile %s", icc_paths[i]);
			return;
		}
		free(buf);
	}
	o->host->log(
	    o->ctx, MOTCUA_LOG_WARNING,
	    "no sRGB ICC profile (install icc-profiles-free): document PDFs are not PDF/A");
}

static int config_int(struct ocr *o, const char *key, long min, long max, long def, long *out)
{
	const char *v = o->host->config_get(o->ctx, NULL, key);
	char *end;
	if (!v) {
		*out = def;
		return 0;
	}
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max) {
		o->host->log(o->ctx, MOTCUA_LOG_ERROR,
			     "%s must be a whole number from %ld to %ld (got \"%s\")", key, min,
			     max, v);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int parse_preprocess(struct ocr *o, const char *v, unsigned *out)
{
	char *copy = strdup(v), *save = NULL;
	unsigned mask = 0;
	bool none = false, any = false;
	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		size_t l = strlen(tok);
		while (l && (tok[l - 1] == ' ' || tok[l - 1] == '\t'))
			tok[--l] = 0;
		any = true;
		if (!strcmp(tok, "none")) {
			none = true;
			continue;
		}
		size_t i;
		for (i = 0; i < sizeof prep_names / sizeof prep_names[0]; i++)
			if (!strcmp(tok, prep_names[i].name))
				break;
		if (i == sizeof prep_names / sizeof prep_names[0]) {
			o->host->log(
			    o->ctx, MOTCUA_LOG_ERROR,
			    "preprocess: unknown step \"%s\" (use orient, deskew, despeckle, "
			    "normalize, binarize, or none)",
			    tok);
			free(copy);
			return -EINVAL;
		}
		mask |= prep_names[i].bit;
	}
	free(copy);
	if (!any || (none && mask)) {
		o->host->log(
		    o->ctx, MOTCUA_LOG_ERROR,
		    "preprocess must be a comma-separated list of orient, deskew, despeckle, "
		    "normalize, binarize, or none alone (got \"%s\")",
		    v);
		return -EINVAL;
	}
	*out = mask;
	return 0;
}

static bool file_exists(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/* Languages ("vie+eng"), the tessdata folder and that its files are there. */
static int check_tessdata(struct ocr *o)
{
	const char *langs = o->host->config_get(o->ctx, NULL, "languages");
	const char *dir = o->host->config_get(o->ctx, NULL, "tessdata_dir");
	if (!langs)
		langs = "vie";
	size_t ll = strlen(langs);
	bool ok =
	    ll > 0 && ll < 200 && langs[0] != '+' && langs[ll - 1] != '+' && !strstr(langs, "++");
	for (size_t i = 0; ok && i < ll; i++) {
		char c = langs[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '_' || c == '-' || c == '+';
	}
	if (!ok) {
		o->host->log(o->ctx, MOTCUA_LOG_ERROR,
			     "languages must be Tesseract language names joined with '+', e.g. "
			     "vie+eng (got \"%s\")",
			     langs);
		return -EINVAL;
	}
	if (dir) {
		struct stat st;
		if (!dir[0] || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			o->host->log(o->ctx, MOTCUA_LOG_ERROR, "tessdata_dir: %s is not a folder",
				     dir);
			return -EINVAL;
		}
	}
	if (!(o->languages = strdup(langs)))
		return -ENOMEM;

	/* Tesseract's own idea of the folder when none is set (TESSDATA_PREFIX,
	 * else where it was built to look); loading the languages once here
	 * also tells a damaged file from a missing one. */
	TessBaseAPI *probe = TessBaseAPICreate();
	if (!probe)
		return -ENOMEM;
	int lr = TessBaseAPIInit2(probe, dir, o->languages, OEM_LSTM_ONLY);
	const char *dp = dir ? dir : TessBaseAPIGetDatapath(probe);
	o->tessdata = strdup(dp ? dp : "");
	TessBaseAPIEnd(probe);
	TessBaseAPIDelete(probe);
	if (!o->tessdata)
		return -ENOMEM;
	size_t dl = strlen(o->tessdata);
	while (dl > 1 && o->tessdata[dl - 1] == '/')
		o->tessdata[--dl] = 0;

	char *copy = strdup(o->languages), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int r = 0;
	for (char *l = strtok_r(copy, "+", &save); l && !r; l = strtok_r(NULL, "+", &save)) {
		char name[256];
		snprintf(name, sizeof name, "%s.traineddata", l);
		if (!file_exists(o->tessdata, name)) {
			o->host->log(o->ctx, MOTCUA_LOG_ERROR,
				     "languages: %s is not in %s (install tesseract-ocr-%s, or set "
				     "tessdata_dir)",
				     name, o->tessdata, l);
			r = -EINVAL;
		}
	}
	free(copy);
	if (r)
		return r;
	if (lr != 0) {
		o->host->log(o->ctx, MOTCUA_LOG_ERROR,
			     "languages: Tesseract cannot load %s from %s (damaged file?)",
			     o->languages, o->tessdata);
		return -EINVAL;
	}
	if (!file_exists(o->tessdata, "pdf.ttf")) {
		o->host->log(o->ctx, MOTCUA_LOG_ERROR,
			     "tessdata_dir: %s has no pdf.ttf, which the PDF output needs",
			     o->tessdata);
		return -EINVAL;
	}
	if ((o->preprocess & PREP_ORIENT) && !file_exists(o->tessdata, "osd.traineddata")) {
		o->host->log(
		    o->ctx, MOTCUA_LOG_ERROR,
		    "preprocess: orient needs osd.traineddata in %s (install tesseract-ocr-osd, "
		    "or leave orient out)",
		    o->tessdata);
		return -EINVAL;
	}
	return 0;
}

static int ocr_configure(struct ocr *o)
{
	long v;
	int r;
	if ((r = config_int(o, "low_confidence", 0, 100, DEFAULT_LOW_CONFIDENCE, &v)) < 0)
		return r;
	o->low_confidence = (int)v;
	if ((r = config_int(o, "psm", 0, 13, DEFAULT_PSM, &v)) < 0)
		return r;
	if (v == 0 || v == 2) {
		o->host->log(o->ctx, MOTCUA_LOG_ERROR,
			     "psm %ld finds layout only and recognizes no text: use 1 or 3 to 13",
			     v);
		return -EINVAL;
	}
	o->psm = (int)v;

	const char *mp = o->host->config_get(o->ctx, NULL, "max_page_pixels");
	o->max_page_pixels = DEFAULT_MAX_PAGE_PIXELS;
	if (mp) {
		char *end;
		errno = 0;
		double d = strtod(mp, &end);
		if (errno || end == mp || *end || !(d >= 1e5 && d <= 1e9)) {
			o->host->log(o->ctx, MOTCUA_LOG_ERROR,
				     "max_page_pixels must be a number of pixels from 1e5 to 1e9, "
				     "e.g. 60e6 (got \"%s\")",
				     mp);
			return -EINVAL;
		}
		o->max_page_pixels = d;
	}

	const char *pp = o->host->config_get(o->ctx, NULL, "preprocess");
	if ((r = parse_preprocess(o, pp ? pp : DEFAULT_PREPROCESS, &o->preprocess)) < 0)
		return r;
	return check_tessdata(o);
}

static void ocr_free(struct ocr *o)
{
	if (!o)
		return;
	free(o->languages);
	free(o->tessdata);
	free(o->icc);
	free(o);
}

static int ocr_init(struct motcua_plugin_ctx *ctx, const struct motcua_host *host, void **state)
{
	if (host->struct_size < offsetof(struct motcua_host, page_step_register) +
				    sizeof host->page_step_register ||
	    !host->page_step_register) {
		host->log(ctx, MOTCUA_LOG_ERROR,
			  "the gateway is too old: ocr-tesseract needs page steps");
		return -ENOTSUP;
	}
	struct ocr *o = calloc(1, sizeof *o);
	if (!o)
		return -ENOMEM;
	o->ctx = ctx;
	o->host = host;
	int r = ocr_configure(o);
	if (r < 0) {
		ocr_free(o);
		return r;
	}
	const char *omp = getenv("OMP_THREAD_LIMIT");
	if (!omp || strcmp(omp, "1") != 0)
		host->log(ctx, MOTCUA_LOG_WARNING,
			  "OMP_THREAD_LIMIT is not 1: Tesseract may start threads of its own on "
			  "every worker");
	snprintf(o->producer, sizeof o->producer, "motcua ocr-tesseract %s (Tesseract %s)",
		 PLUGIN_VERSION, TessVersion());
	load_icc(o);
	if (pthread_key_create(&o->key, engine_thread_exit) != 0) {
		ocr_free(o);
		return -ENOMEM;
	}
	o->key_made = true;
	r = host->step_register(ctx, MOTCUA_STEP_RECOGNIZE, finish_fn, o, NULL);
	if (r == 0)
		r = host->page_step_register(ctx, MOTCUA_STEP_RECOGNIZE, page_fn, o, NULL);
	if (r < 0) {
		pthread_key_delete(o->key);
		ocr_free(o);
		return r;
	}
	char prep[96] = "";
	for (size_t i = 0; i < sizeof prep_names / sizeof prep_names[0]; i++)
		if (o->preprocess & prep_names[i].bit)
			snprintf(prep + strlen(prep), sizeof prep - strlen(prep), "%s%s",
				 prep[0] ? "," : "", prep_names[i].name);
	host->log(ctx, MOTCUA_LOG_INFO, "Tesseract %s, languages %s from %s, preprocess %s, psm %d",
		  TessVersion(), o->languages, o->tessdata, prep[0] ? prep : "none", o->psm);
	*state = o;
	return 0;
}

static void ocr_fini(void *state)
{
	struct ocr *o = state;
	if (!o)
		return;
	/* the host calls no page function any more: end every thread's engines */
	if (o->key_made)
		pthread_key_delete(o->key);
	pthread_mutex_lock(&engines_lock);
	while (engines) {
		struct engine *e = engines;
		engines = e->next;
		engine_free(e);
	}
	pthread_mutex_unlock(&engines_lock);
	ocr_free(o);
}

static const struct motcua_config_key keys[] = {
    {"languages", "Tesseract languages joined with '+', e.g. vie or vie+eng (default vie)"},
    {"tessdata_dir", "folder of the .traineddata files (default: Tesseract's own)"},
    {"low_confidence",
     "mean word confidence 0-100 under which a page is flagged for the clerk (default 70)"},
    {"preprocess", "comma list of orient, deskew, despeckle, normalize, binarize, or none "
		   "(default " DEFAULT_PREPROCESS ")"},
    {"psm", "Tesseract page segmentation mode, 1 or 3-13 (default 3, automatic)"},
    {"max_page_pixels", "largest page image accepted, in pixels (default 60e6)"},
    {NULL, NULL},
};

static const struct motcua_plugin_info info = {
    .struct_size = sizeof(struct motcua_plugin_info),
    .abi = MOTCUA_ABI_VERSION,
    .name = "ocr-tesseract",
    .version = PLUGIN_VERSION,
    .provides = MOTCUA_PROVIDES_RECOGNIZE,
    .config_keys = keys,
    .init = ocr_init,
    .fini = ocr_fini,
};

MOTCUA_PLUGIN_DECLARE(info)
