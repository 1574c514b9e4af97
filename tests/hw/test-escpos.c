/* SPDX-License-Identifier: MIT */
/* The receipt printer's encoder, status bytes, transports and file: job. */
#include <fcntl.h>
#include <sys/time.h>

#include <event2/event.h>
#include <png.h>

#include "harness.h"
#include "printer.h"

/* A gray PNG (8-bit, or 8-bit gray + alpha when ga) of w x h from px. */
static unsigned char *gray_png(const unsigned char *px, unsigned w, unsigned h, int ga, size_t *len)
{
	png_image img;
	memset(&img, 0, sizeof img);
	img.version = PNG_IMAGE_VERSION;
	img.width = w;
	img.height = h;
	img.format = ga ? PNG_FORMAT_GA : PNG_FORMAT_GRAY;
	png_alloc_size_t size = 0;
	CHECK(png_image_write_to_memory(&img, NULL, &size, 0, px, 0, NULL));
	unsigned char *out = malloc(size);
	CHECK(out);
	CHECK(png_image_write_to_memory(&img, out, &size, 0, px, 0, NULL));
	*len = size;
	return out;
}

struct mem {
	unsigned char *p;
	size_t len;
};

static void mem_write(png_structp png, png_bytep data, png_size_t n)
{
	struct mem *m = png_get_io_ptr(png);
	m->p = realloc(m->p, m->len + n);
	memcpy(m->p + m->len, data, n);
	m->len += n;
}

static void mem_flush(png_structp png)
{
}

/* A 1-bit PNG: black (0) where black(x, y). */
static unsigned char *bit_png(unsigned w, unsigned h, int (*black)(unsigned, unsigned), size_t *len)
{
	struct mem m = {0};
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	CHECK(png && info);
	png_set_write_fn(png, &m, mem_write, mem_flush);
	png_set_IHDR(png, info, w, h, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	unsigned char *row = malloc((w + 7) / 8);
	for (unsigned y = 0; y < h; y++) {
		memset(row, 0xff, (w + 7) / 8);
		for (unsigned x = 0; x < w; x++)
			if (black(x, y))
				row[x / 8] &= (unsigned char)~(0x80 >> (x % 8));
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(row);
	*len = m.len;
	return m.p;
}

static int diag(unsigned x, unsigned y)
{
	return (x + y) % 3 == 0;
}

/* The bit for (x, y) in a job with one kind of band: checks the framing
 * and returns the raster rows joined, width wb. */
struct raster {
	unsigned wb, rows, bands;
	unsigned band_rows[512];
	unsigned char data[65536];
	unsigned feed;
	int cut;
};

static void parse_job(const struct hw_buf *b, struct raster *r)
{
	memset(r, 0, sizeof *r);
	r->cut = -1;
	size_t i = 0;
	CHECK(b->len >= 2 && b->p[0] == 0x1b && b->p[1] == 0x40);
	i = 2;
	while (i + 8 <= b->len && b->p[i] == 0x1d && b->p[i + 1] == 0x76) {
		CHECK_EQ_INT(b->p[i + 2], 0x30);
		CHECK_EQ_INT(b->p[i + 3], 0);
		unsigned wb = b->p[i + 4] | b->p[i + 5] << 8, rows = b->p[i + 6] | b->p[i + 7] << 8;
		if (r->bands)
			CHECK_EQ_INT(wb, r->wb);
		r->wb = wb;
		CHECK(r->bands < 512);
		r->band_rows[r->bands++] = rows;
		CHECK(i + 8 + (size_t)wb * rows <= b->len);
		CHECK((r->rows + rows) * wb <= sizeof r->data);
		memcpy(r->data + r->rows * wb, b->p + i + 8, (size_t)wb * rows);
		r->rows += rows;
		i += 8 + (size_t)wb * rows;
	}
	CHECK(i + 3 <= b->len);
	CHECK_EQ_INT(b->p[i], 0x1b);
	CHECK_EQ_INT(b->p[i + 1], 0x64);
	r->feed = b->p[i + 2];
	i += 3;
	if (i < b->len) {
		CHECK_EQ_INT(b->len - i, 4);
		CHECK(b->p[i] == 0x1d && b->p[i + 1] == 0x56);
		r->cut = b->p[i + 2];
	}
}

static int bit(const struct raster *r, unsigned x, unsigned y)
{
	return (r->data[y * r->wb + x / 8] >> (7 - x % 8)) & 1;
}

static void test_width_not_a_multiple_of_8(void)
{
	size_t len;
	unsigned char *png = bit_png(13, 5, diag, &len);
	struct hw_buf b = {0};
	char err[256];
	CHECK_EQ_INT(hw_escpos_encode(png, len, NULL, &b, err, sizeof err), HW_PRINT_OK);
	struct raster *r = malloc(sizeof *r);
	parse_job(&b, r);
	CHECK_EQ_INT(r->wb, 2);
	CHECK_EQ_INT(r->rows, 5);
	CHECK_EQ_INT(r->bands, 1);
	for (unsigned y = 0; y < 5; y++)
		for (unsigned x = 0; x < 16; x++)
			CHECK_MSG(bit(r, x, y) == (x < 13 && diag(x, y)), "x %u y %u", x, y);
	CHECK_EQ_INT(r->feed, 4);
	CHECK_EQ_INT(r->cut, 0x42);
	free(r);
	hw_buf_free(&b);
	free(png);
}

static void test_bands(void)
{
	size_t len;
	unsigned char *png = bit_png(24, 300, diag, &len);
	struct raster *r = malloc(sizeof *r);
	char err[256];
	static const struct {
		unsigned band, n, last;
	} cases[] = {{0, 3, 44}, {24, 13, 12}, {256, 2, 44}, {300, 2, 44}, {1, 300, 1}};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct hw_buf b = {0};
		struct hw_escpos_opts o = {.band_rows = cases[c].band, .feed = 7, .no_cut = true};
		CHECK_EQ_INT(hw_escpos_encode(png, len, &o, &b, err, sizeof err), HW_PRINT_OK);
		parse_job(&b, r);
		CHECK_EQ_INT(r->bands, cases[c].n);
		CHECK_EQ_INT(r->band_rows[r->bands - 1], cases[c].last);
		CHECK_EQ_INT(r->rows, 300);
		CHECK_EQ_INT(r->feed, 7);
		CHECK_EQ_INT(r->cut, -1);
		for (unsigned y = 0; y < 300; y += 7)
			for (unsigned x = 0; x < 24; x++)
				CHECK(bit(r, x, y) == diag(x, y));
		hw_buf_free(&b);
	}
	free(r);
	free(png);
}

static void test_gray_is_thresholded(void)
{
	unsigned char px[] = {0, 127, 128, 255, 60, 200, 199, 1};
	size_t len;
	unsigned char *png = gray_png(px, 8, 1, 0, &len);
	struct hw_buf b = {0};
	char err[256];
	CHECK_EQ_INT(hw_escpos_encode(png, len, NULL, &b, err, sizeof err), HW_PRINT_OK);
	struct raster *r = malloc(sizeof *r);
	parse_job(&b, r);
	CHECK_EQ_INT(r->data[0], 0xc9); /* 1100 1001 */
	hw_buf_free(&b);
	struct hw_escpos_opts o = {.threshold = 200};
	CHECK_EQ_INT(hw_escpos_encode(png, len, &o, &b, err, sizeof err), HW_PRINT_OK);
	parse_job(&b, r);
	CHECK_EQ_INT(r->data[0], 0xeb); /* 1110 1011 */
	hw_buf_free(&b);
	free(png);

	/* gray + alpha: transparent is paper */
	unsigned char ga[] = {0, 255, 0, 0, 255, 255, 0, 128};
	png = gray_png(ga, 4, 1, 1, &len);
	CHECK_EQ_INT(hw_escpos_encode(png, len, NULL, &b, err, sizeof err), HW_PRINT_OK);
	parse_job(&b, r);
	CHECK_EQ_INT(r->wb, 1);
	CHECK_EQ_INT(r->data[0] & 0xf0, 0x90); /* black, white, white, black (half) */
	hw_buf_free(&b);
	free(png);
	free(r);
}

static int all_black(unsigned x, unsigned y)
{
	return 1;
}

static void test_over_wide_is_refused(void)
{
	char err[256];
	struct hw_buf b = {0};
	size_t len;
	unsigned char *png = bit_png(577, 2, all_black, &len);
	CHECK_EQ_INT(hw_escpos_encode(png, len, NULL, &b, err, sizeof err), HW_PRINT_TOO_WIDE);
	CHECK_MSG(strstr(err, "577") && strstr(err, "576"), "%s", err);
	CHECK_EQ_INT(b.len, 0);
	free(png);

	png = bit_png(576, 2, all_black, &len);
	struct hw_escpos_opts o58 = {.dots = HW_PRINTER_DOTS_58MM};
	CHECK_EQ_INT(hw_escpos_encode(png, len, &o58, &b, err, sizeof err), HW_PRINT_TOO_WIDE);
	CHECK_EQ_INT(hw_escpos_encode(png, len, NULL, &b, err, sizeof err), HW_PRINT_OK);
	struct raster *r = malloc(sizeof *r);
	parse_job(&b, r);
	CHECK_EQ_INT(r->wb, 72);
	CHECK_EQ_INT(r->data[71], 0xff);
	hw_buf_free(&b);
	free(png);

	png = bit_png(8, HW_ESCPOS_MAX_ROWS + 1, diag, &len);
	CHECK_EQ_INT(hw_escpos_encode(png, len, NULL, &b, err, sizeof err), HW_PRINT_BAD_IMAGE);
	CHECK_MSG(strstr(err, "16385"), "%s", err);
	free(png);

	png = bit_png(384, 2, all_black, &len);
	CHECK_EQ_INT(hw_escpos_encode(png, len, &o58, &b, err, sizeof err), HW_PRINT_OK);
	parse_job(&b, r);
	CHECK_EQ_INT(r->wb, 48);
	hw_buf_free(&b);
	free(png);
	free(r);
}

static void test_not_a_png(void)
{
	char err[256];
	struct hw_buf b = {0};
	static const unsigned char junk[] = "GIF89a not a png at all";
	CHECK_EQ_INT(hw_escpos_encode(junk, sizeof junk, NULL, &b, err, sizeof err),
		     HW_PRINT_BAD_IMAGE);
	size_t len;
	unsigned char *png = bit_png(16, 16, diag, &len);
	CHECK_EQ_INT(hw_escpos_encode(png, len / 2, NULL, &b, err, sizeof err), HW_PRINT_BAD_IMAGE);
	CHECK_EQ_INT(hw_escpos_encode(NULL, 0, NULL, &b, err, sizeof err), HW_PRINT_BAD_IMAGE);
	hw_buf_free(&b);
	free(png);
}

static void test_status_bytes(void)
{
	CHECK_EQ_INT(hw_escpos_status(0x12, 0x12), HW_PRINT_OK);
	CHECK_EQ_INT(hw_escpos_status(0x16, 0x12), HW_PRINT_OK); /* drawer pin */
	CHECK_EQ_INT(hw_escpos_status(0x12, 0x1e), HW_PRINT_OK); /* near end: still prints */
	CHECK_EQ_INT(hw_escpos_status(0x12, 0x72), HW_PRINT_PAPER_OUT);
	CHECK_EQ_INT(hw_escpos_status(0x1a, 0x12), HW_PRINT_OFFLINE);
	CHECK_EQ_INT(hw_escpos_status(0x1a, 0x72), HW_PRINT_PAPER_OUT);
	CHECK_EQ_INT(hw_escpos_status(0x00, 0x12), HW_PRINT_IO);
	CHECK_EQ_INT(hw_escpos_status(0x12, 0x93), HW_PRINT_IO);
	CHECK_STREQ(hw_print_result_name(HW_PRINT_PAPER_OUT), "paper-out");
	CHECK(strstr(hw_print_result_message(HW_PRINT_PAPER_OUT), "hết giấy"));
}

static void test_transports(void)
{
	struct hw_transport t;
	char err[256];
	CHECK_EQ_INT(hw_transport_parse("tcp:printer.local:9100", &t, err, sizeof err), 0);
	CHECK_EQ_INT(t.kind, HW_TRANSPORT_TCP);
	CHECK_STREQ(t.host, "printer.local");
	CHECK_EQ_INT(t.port, 9100);
	CHECK_EQ_INT(hw_transport_parse("tcp:10.0.0.5", &t, err, sizeof err), 0);
	CHECK_EQ_INT(t.port, 9100);
	CHECK_EQ_INT(hw_transport_parse("tcp:[::1]:9101", &t, err, sizeof err), 0);
	CHECK_STREQ(t.host, "::1");
	CHECK_EQ_INT(t.port, 9101);
	CHECK_EQ_INT(hw_transport_parse("/dev/usb/lp0", &t, err, sizeof err), 0);
	CHECK_EQ_INT(t.kind, HW_TRANSPORT_USBLP);
	CHECK_STREQ(t.path, "/dev/usb/lp0");
	CHECK_EQ_INT(hw_transport_parse("file:/tmp/x.bin", &t, err, sizeof err), 0);
	CHECK_EQ_INT(t.kind, HW_TRANSPORT_FILE);
	CHECK_STREQ(t.path, "/tmp/x.bin");
	static const char *bad[] = {"",	       "lp0",	      "tcp:",	  "tcp::9100",
				    "tcp:h:0", "tcp:h:70000", "tcp:h:9x", "tcp:::1:9100",
				    "file:",   "usb:lp0",     "/dev/",	  "tcp:a b:9100"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		CHECK_MSG(hw_transport_parse(bad[i], &t, err, sizeof err) == -EINVAL, "'%s'",
			  bad[i]);
		CHECK_MSG(*bad[i] == 0 || strstr(err, bad[i]), "'%s': %s", bad[i], err);
	}
}

struct done {
	int calls;
	enum hw_print_result r;
	char msg[600];
};

static void on_done(void *arg, enum hw_print_result r, const char *msg)
{
	struct done *d = arg;
	d->calls++;
	d->r = r;
	snprintf(d->msg, sizeof d->msg, "%s", msg);
}

static void test_file_job_on_the_loop(void)
{
	const char *dir = harness_mkdtemp();
	char dev[512], path[512];
	snprintf(path, sizeof path, "%s/job.bin", dir);
	snprintf(dev, sizeof dev, "file:%s", path);
	struct event_base *base = event_base_new();
	char err[256];
	struct hw_printer_opts opts = {.device = dev, .status = -1};
	struct hw_printer *p = hw_printer_new(base, &opts, err, sizeof err);
	CHECK_MSG(p, "%s", err);
	size_t len;
	unsigned char *png = bit_png(100, 50, diag, &len);
	struct done d = {0};
	CHECK_EQ_INT(hw_printer_print(p, png, len, on_done, &d), 0);
	CHECK_EQ_INT(d.calls, 0); /* never from inside the call */
	CHECK(hw_printer_busy(p));
	CHECK_EQ_INT(hw_printer_print(p, png, len, on_done, &d), -EBUSY);
	event_base_dispatch(base);
	CHECK_EQ_INT(d.calls, 1);
	CHECK_MSG(d.r == HW_PRINT_OK, "%s", d.msg);
	CHECK(!hw_printer_busy(p));

	struct hw_buf want = {0};
	CHECK_EQ_INT(hw_escpos_encode(png, len, NULL, &want, err, sizeof err), HW_PRINT_OK);
	FILE *f = fopen(path, "rb");
	CHECK(f);
	unsigned char *got = malloc(want.len + 16);
	size_t n = fread(got, 1, want.len + 16, f);
	fclose(f);
	CHECK_EQ_INT(n, want.len);
	CHECK(!memcmp(got, want.p, n));
	free(got);
	hw_buf_free(&want);

	/* a bad image is reported through done, too */
	d.calls = 0;
	CHECK_EQ_INT(hw_printer_print(p, png, 10, on_done, &d), 0);
	event_base_dispatch(base);
	CHECK_EQ_INT(d.calls, 1);
	CHECK_EQ_INT(d.r, HW_PRINT_BAD_IMAGE);

	/* an unwritable file */
	hw_printer_free(p);
	snprintf(dev, sizeof dev, "file:%s/no/such/dir/x.bin", dir);
	p = hw_printer_new(base, &opts, err, sizeof err);
	CHECK(p);
	d.calls = 0;
	CHECK_EQ_INT(hw_printer_print(p, png, len, on_done, &d), 0);
	event_base_dispatch(base);
	CHECK_EQ_INT(d.calls, 1);
	CHECK_EQ_INT(d.r, HW_PRINT_NO_DEVICE);
	CHECK_MSG(strstr(d.msg, "no/such/dir"), "%s", d.msg);
	hw_printer_free(p);

	opts.dots = 100;
	CHECK(!hw_printer_new(base, &opts, err, sizeof err));
	CHECK_MSG(strstr(err, "100"), "%s", err);
	free(png);
	event_base_free(base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(*(int *)arg)++;
}

/* A link that stops taking bytes: a FIFO nobody reads, its 64 KiB buffer
 * smaller than the job. The write times out and the loop runs meanwhile. */
static void test_stalled_link_times_out_without_blocking(void)
{
	const char *dir = harness_mkdtemp();
	char path[512], dev[600];
	snprintf(path, sizeof path, "%s/fifo", dir);
	snprintf(dev, sizeof dev, "file:%s", path);
	CHECK_EQ_INT(mkfifo(path, 0600), 0);
	int rfd = open(path, O_RDONLY | O_NONBLOCK);
	CHECK(rfd >= 0);
	struct event_base *base = event_base_new();
	char err[256];
	struct hw_printer_opts opts = {.device = dev, .timeout_ms = 300, .status = 0};
	struct hw_printer *p = hw_printer_new(base, &opts, err, sizeof err);
	CHECK_MSG(p, "%s", err);
	size_t len;
	unsigned char *png = bit_png(576, 1500, all_black, &len);
	int ticks = 0;
	struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, &ticks);
	struct timeval tv = {0, 20000};
	event_add(tick, &tv);
	struct done d = {0};
	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	CHECK_EQ_INT(hw_printer_print(p, png, len, on_done, &d), 0);
	while (!d.calls)
		event_base_loop(base, EVLOOP_ONCE);
	gettimeofday(&t1, NULL);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
	CHECK_EQ_INT(d.r, HW_PRINT_TIMEOUT);
	CHECK_MSG(strstr(d.msg, "300 ms") && strstr(d.msg, "writing to"), "%s", d.msg);
	CHECK_MSG(ms >= 250 && ms < 2000, "%ld ms", ms);
	CHECK_MSG(ticks >= 5, "the loop ran %d ticks in %ld ms", ticks, ms);
	event_free(tick);
	hw_printer_free(p);
	close(rfd);
	free(png);
	event_base_free(base);
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	RUN(test_width_not_a_multiple_of_8);
	RUN(test_bands);
	RUN(test_gray_is_thresholded);
	RUN(test_over_wide_is_refused);
	RUN(test_not_a_png);
	RUN(test_status_bytes);
	RUN(test_transports);
	RUN(test_file_job_on_the_loop);
	RUN(test_stalled_link_times_out_without_blocking);
	return harness_result();
}
