/* SPDX-License-Identifier: MIT */
/* The ESC/POS receipt printer (see printer.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <png.h>

#include "printer.h"

static const struct {
	const char *name, *message;
} results[] = {
    [HW_PRINT_OK] = {"ok", "Đã in / printed"},
    [HW_PRINT_BAD_IMAGE] = {"bad-image", "Ảnh in không hợp lệ / not a printable PNG"},
    [HW_PRINT_TOO_WIDE] = {"too-wide", "Ảnh rộng hơn khổ giấy / image wider than the printer"},
    [HW_PRINT_NO_DEVICE] = {"no-device", "Không kết nối được máy in / cannot reach the printer"},
    [HW_PRINT_TIMEOUT] = {"timeout", "Máy in không trả lời / the printer timed out"},
    [HW_PRINT_OFFLINE] = {"offline", "Máy in đang ngoại tuyến / the printer is offline"},
    [HW_PRINT_PAPER_OUT] = {"paper-out", "Máy in hết giấy / the printer is out of paper"},
    [HW_PRINT_IO] = {"io", "Lỗi truyền dữ liệu tới máy in / printer link error"},
    [HW_PRINT_NO_MEMORY] = {"no-memory", "Hết bộ nhớ / out of memory"},
};

const char *hw_print_result_name(enum hw_print_result r)
{
	if ((unsigned)r >= sizeof results / sizeof results[0])
		return "unknown";
	return results[r].name;
}

const char *hw_print_result_message(enum hw_print_result r)
{
	if ((unsigned)r >= sizeof results / sizeof results[0])
		return "Lỗi không rõ / unknown error";
	return results[r].message;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- transports ---- */

int hw_transport_parse(const char *spec, struct hw_transport *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!spec || !*spec) {
		seterr(
		    err, errlen,
		    "printer device is empty: expected /dev/usb/lpN, tcp:HOST:PORT or file:PATH");
		return -EINVAL;
	}
	if (!strncmp(spec, "file:", 5)) {
		const char *path = spec + 5;
		if (!*path || strlen(path) >= sizeof out->path) {
			seterr(err, errlen, "printer device '%s': file: needs a path (file:PATH)",
			       spec);
			return -EINVAL;
		}
		out->kind = HW_TRANSPORT_FILE;
		strcpy(out->path, path);
		return 0;
	}
	if (!strncmp(spec, "tcp:", 4)) {
		const char *h = spec + 4, *hend, *portp = NULL;
		if (*h == '[') {
			hend = strchr(h, ']');
			if (!hend || (hend[1] && hend[1] != ':')) {
				seterr(err, errlen,
				       "printer device '%s': an IPv6 host is tcp:[ADDR]:PORT",
				       spec);
				return -EINVAL;
			}
			if (hend[1] == ':')
				portp = hend + 2;
			h++;
		} else {
			hend = strchr(h, ':');
			if (hend) {
				portp = hend + 1;
				if (strchr(portp, ':')) {
					seterr(err, errlen,
					       "printer device '%s': write an IPv6 host as "
					       "tcp:[ADDR]:PORT",
					       spec);
					return -EINVAL;
				}
			} else {
				hend = h + strlen(h);
			}
		}
		size_t hl = (size_t)(hend - h);
		if (!hl || hl >= sizeof out->host) {
			seterr(err, errlen,
			       "printer device '%s': tcp: needs a host (tcp:HOST:9100)", spec);
			return -EINVAL;
		}
		for (size_t i = 0; i < hl; i++) {
			unsigned char c = (unsigned char)h[i];
			if (c <= ' ' || c == '/' || c >= 0x7f) {
				seterr(err, errlen,
				       "printer device '%s': bad character in the host", spec);
				return -EINVAL;
			}
		}
		memcpy(out->host, h, hl);
		out->port = 9100;
		if (portp) {
			char *end;
			errno = 0;
			unsigned long v = strtoul(portp, &end, 10);
			if (!*portp || *end || errno || v < 1 || v > 65535 || *portp == '-' ||
			    *portp == '+') {
				seterr(
				    err, errlen,
				    "printer device '%s': the port '%s' is not a number 1..65535",
				    spec, portp);
				return -EINVAL;
			}
			out->port = (unsigned)v;
		}
		out->kind = HW_TRANSPORT_TCP;
		return 0;
	}
	if (!strncmp(spec, "/dev/", 5) && spec[5] && strlen(spec) < sizeof out->path &&
	    !strstr(spec, "/../")) {
		out->kind = HW_TRANSPORT_USBLP;
		strcpy(out->path, spec);
		return 0;
	}
	seterr(err, errlen,
	       "printer device '%s': expected a device path (/dev/usb/lp0), tcp:HOST:PORT or "
	       "file:PATH",
	       spec);
	return -EINVAL;
}

/* ---- the encoder ---- */

void hw_buf_free(struct hw_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int buf_add(struct hw_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
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

const unsigned char hw_escpos_status_request[6] = {0x10, 0x04, 0x01, 0x10, 0x04, 0x04};

enum hw_print_result hw_escpos_status(unsigned char printer, unsigned char paper)
{
	/* An answer byte has bit 1 and bit 4 set, bits 0 and 7 clear. */
	if ((printer & 0x93) != 0x12 || (paper & 0x93) != 0x12)
		return HW_PRINT_IO;
	if (paper & 0x60) /* paper roll end sensor */
		return HW_PRINT_PAPER_OUT;
	if (printer & 0x08)
		return HW_PRINT_OFFLINE;
	return HW_PRINT_OK;
}

enum hw_print_result hw_escpos_encode(const unsigned char *png, size_t len,
				      const struct hw_escpos_opts *opts, struct hw_buf *out,
				      char *err, size_t errlen)
{
	struct hw_escpos_opts o = opts ? *opts : (struct hw_escpos_opts){0};
	if (!o.dots)
		o.dots = HW_PRINTER_DOTS_80MM;
	if (!o.band_rows)
		o.band_rows = 128;
	if (o.band_rows > 256)
		o.band_rows = 256;
	if (!o.threshold)
		o.threshold = 128;
	if (!o.feed)
		o.feed = 4;
	if (o.feed > 255)
		o.feed = 255;

	if (!png || len < 8 || png_sig_cmp(png, 0, 8)) {
		seterr(err, errlen, "not a PNG image");
		return HW_PRINT_BAD_IMAGE;
	}
	png_image img;
	memset(&img, 0, sizeof img);
	img.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&img, png, len)) {
		seterr(err, errlen, "PNG: %s", img.message);
		png_image_free(&img);
		return HW_PRINT_BAD_IMAGE;
	}
	if (!img.width || !img.height) {
		seterr(err, errlen, "PNG is empty");
		png_image_free(&img);
		return HW_PRINT_BAD_IMAGE;
	}
	if (img.width > o.dots) {
		seterr(err, errlen, "the image is %u dots wide, the printer prints %u", img.width,
		       o.dots);
		png_image_free(&img);
		return HW_PRINT_TOO_WIDE;
	}
	if (img.height > HW_ESCPOS_MAX_ROWS) {
		seterr(err, errlen, "the image is %u rows long, at most %u are printed", img.height,
		       HW_ESCPOS_MAX_ROWS);
		png_image_free(&img);
		return HW_PRINT_BAD_IMAGE;
	}
	/* Gray + alpha: transparent is paper (white). */
	img.format = PNG_FORMAT_GA;
	size_t w = img.width, h = img.height;
	unsigned char *ga = malloc(w * h * 2);
	if (!ga) {
		png_image_free(&img);
		seterr(err, errlen, "out of memory");
		return HW_PRINT_NO_MEMORY;
	}
	if (!png_image_finish_read(&img, NULL, ga, (png_int_32)(w * 2), NULL)) {
		seterr(err, errlen, "PNG: %s", img.message);
		free(ga);
		png_image_free(&img);
		return HW_PRINT_BAD_IMAGE;
	}

	size_t wb = (w + 7) / 8;
	enum hw_print_result r = HW_PRINT_OK;
	unsigned char *row = calloc(wb, 1);
	static const unsigned char init[] = {0x1b, 0x40};
	if (!row || buf_add(out, init, sizeof init) < 0)
		goto nomem;
	for (size_t y0 = 0; y0 < h; y0 += o.band_rows) {
		size_t rows = h - y0 < o.band_rows ? h - y0 : o.band_rows;
		unsigned char hdr[8] = {0x1d,
					0x76,
					0x30,
					0x00,
					(unsigned char)(wb & 0xff),
					(unsigned char)(wb >> 8),
					(unsigned char)(rows & 0xff),
					(unsigned char)(rows >> 8)};
		if (buf_add(out, hdr, sizeof hdr) < 0)
			goto nomem;
		for (size_t y = y0; y < y0 + rows; y++) {
			memset(row, 0, wb);
			const unsigned char *px = ga + y * w * 2;
			for (size_t x = 0; x < w; x++) {
				unsigned g = px[2 * x], a = px[2 * x + 1];
				unsigned gray = (g * a + 255 * (255 - a) + 127) / 255;
				if (gray < o.threshold)
					row[x / 8] |= (unsigned char)(0x80 >> (x % 8));
			}
			if (buf_add(out, row, wb) < 0)
				goto nomem;
		}
	}
	unsigned char tail[] = {0x1b, 0x64, (unsigned char)o.feed, 0x1d, 0x56, 0x42, 0x00};
	if (buf_add(out, tail, o.no_cut ? 3 : sizeof tail) < 0)
		goto nomem;
	goto done;
nomem:
	seterr(err, errlen, "out of memory");
	r = HW_PRINT_NO_MEMORY;
done:
	free(row);
	free(ga);
	png_image_free(&img);
	return r;
}

/* ---- the printer on the loop ---- */

/* CLOSING (tcp): every byte written, our side shut down, the printer's bytes
 * read until it closes (or LINGER_MS) so that closing never resets a link
 * with unread bytes and loses the job's end. */
enum job_state { JOB_IDLE, JOB_CONNECTING, JOB_STATUS, JOB_SENDING, JOB_CLOSING, JOB_DONE };
#define LINGER_MS 1000u

struct hw_printer {
	struct event_base *base;
	struct hw_transport t;
	char device[300];
	unsigned timeout_ms;
	bool status;
	struct hw_escpos_opts escpos;
	struct evdns_base *dns;

	/* the job in flight */
	enum job_state state;
	struct hw_buf job;
	struct bufferevent *bev;
	int fd; /* file: */
	struct event *finish_ev;
	enum hw_print_result result;
	char message[512];
	hw_print_done_cb done;
	void *arg;
};

struct hw_printer *hw_printer_new(struct event_base *base, const struct hw_printer_opts *opts,
				  char *err, size_t errlen)
{
	if (!base || !opts) {
		seterr(err, errlen, "no loop or options");
		return NULL;
	}
	struct hw_transport t;
	if (hw_transport_parse(opts->device, &t, err, errlen) < 0)
		return NULL;
	unsigned dots = opts->dots ? opts->dots : HW_PRINTER_DOTS_80MM;
	if (dots % 8 || dots < 8 || dots > 4096) {
		seterr(err, errlen, "printer width %u dots: expected a multiple of 8 (576, 384)",
		       dots);
		return NULL;
	}
	struct hw_printer *p = calloc(1, sizeof *p);
	if (!p) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	p->base = base;
	p->t = t;
	snprintf(p->device, sizeof p->device, "%s", opts->device);
	p->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 5000;
	p->status = opts->status < 0 ? t.kind != HW_TRANSPORT_FILE : opts->status != 0;
	p->escpos = opts->escpos;
	p->escpos.dots = dots;
	p->fd = -1;
	return p;
}

bool hw_printer_busy(const struct hw_printer *p)
{
	return p && p->state != JOB_IDLE;
}

static void job_close(struct hw_printer *p)
{
	if (p->bev) {
		bufferevent_free(p->bev);
		p->bev = NULL;
	}
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	hw_buf_free(&p->job);
}

static void on_finish(evutil_socket_t fd, short what, void *arg)
{
	struct hw_printer *p = arg;
	hw_print_done_cb done = p->done;
	void *darg = p->arg;
	char message[sizeof p->message];
	enum hw_print_result r = p->result;
	memcpy(message, p->message, sizeof message);
	event_free(p->finish_ev);
	p->finish_ev = NULL;
	p->state = JOB_IDLE;
	p->done = NULL;
	done(darg, r, message);
}

/* Ends the job: closes the link now, calls done from the loop. */
static void job_end(struct hw_printer *p, enum hw_print_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void job_end(struct hw_printer *p, enum hw_print_result r, const char *fmt, ...)
{
	char detail[384] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, sizeof detail, fmt, ap);
		va_end(ap);
	}
	job_close(p);
	p->state = JOB_DONE;
	p->result = r;
	snprintf(p->message, sizeof p->message, "%s%s%s", hw_print_result_message(r),
		 *detail ? ": " : "", detail);
	if (!p->finish_ev)
		p->finish_ev = event_new(p->base, -1, 0, on_finish, p);
	if (!p->finish_ev) {
		/* Nothing to defer with: say it now. */
		p->state = JOB_IDLE;
		hw_print_done_cb done = p->done;
		p->done = NULL;
		done(p->arg, r, p->message);
		return;
	}
	event_active(p->finish_ev, 0, 0);
}

static void send_job(struct hw_printer *p)
{
	p->state = JOB_SENDING;
	bufferevent_disable(p->bev, EV_READ);
	if (bufferevent_write(p->bev, p->job.p, p->job.len) < 0) {
		job_end(p, HW_PRINT_NO_MEMORY, NULL);
		return;
	}
	hw_buf_free(&p->job);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct hw_printer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (p->state != JOB_STATUS) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (evbuffer_get_length(in) < 2)
		return;
	unsigned char st[2];
	evbuffer_remove(in, st, 2);
	enum hw_print_result r = hw_escpos_status(st[0], st[1]);
	if (r == HW_PRINT_IO) {
		job_end(p, r, "%s answered 0x%02x 0x%02x to DLE EOT, not a status", p->device,
			st[0], st[1]);
		return;
	}
	if (r != HW_PRINT_OK) {
		job_end(p, r, "%s (status 0x%02x, paper 0x%02x)", p->device, st[0], st[1]);
		return;
	}
	send_job(p);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct hw_printer *p = arg;
	if (p->state != JOB_SENDING || evbuffer_get_length(bufferevent_get_output(bev)))
		return;
	if (p->t.kind != HW_TRANSPORT_TCP) {
		job_end(p, HW_PRINT_OK, "%s", p->device);
		return;
	}
	p->state = JOB_CLOSING;
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	unsigned ms = p->timeout_ms < LINGER_MS ? p->timeout_ms : LINGER_MS;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_enable(bev, EV_READ);
}

static void start_link(struct hw_printer *p)
{
	if (p->status) {
		p->state = JOB_STATUS;
		bufferevent_enable(p->bev, EV_READ | EV_WRITE);
		bufferevent_write(p->bev, hw_escpos_status_request,
				  sizeof hw_escpos_status_request);
	} else {
		bufferevent_enable(p->bev, EV_WRITE);
		send_job(p);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct hw_printer *p = arg;
	if (what & BEV_EVENT_CONNECTED) {
		start_link(p);
		return;
	}
	if (p->state == JOB_CLOSING && (what & (BEV_EVENT_EOF | BEV_EVENT_TIMEOUT))) {
		job_end(p, HW_PRINT_OK, "%s", p->device);
		return;
	}
	const char *doing = p->state == JOB_CONNECTING ? "connecting to"
			    : p->state == JOB_STATUS   ? "waiting for the status of"
						       : "writing to";
	if (what & BEV_EVENT_TIMEOUT) {
		job_end(p, HW_PRINT_TIMEOUT, "%s %s: no answer in %u ms", doing, p->device,
			p->timeout_ms);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		job_end(p, HW_PRINT_IO, "%s %s: the printer closed the link", doing, p->device);
		return;
	}
	int dnserr = bufferevent_socket_get_dns_error(bev);
	if (dnserr) {
		job_end(p, HW_PRINT_NO_DEVICE, "%s: cannot resolve '%s': %s", p->device, p->t.host,
			evutil_gai_strerror(dnserr));
		return;
	}
	int e = EVUTIL_SOCKET_ERROR();
	job_end(p, p->state == JOB_CONNECTING ? HW_PRINT_NO_DEVICE : HW_PRINT_IO, "%s %s: %s",
		doing, p->device, evutil_socket_error_to_string(e));
}

static void link_timeouts(struct hw_printer *p)
{
	struct timeval tv = {.tv_sec = p->timeout_ms / 1000,
			     .tv_usec = (p->timeout_ms % 1000) * 1000};
	bufferevent_set_timeouts(p->bev, &tv, &tv);
	bufferevent_setcb(p->bev, on_read, on_write, on_event, p);
}

static void start_tcp(struct hw_printer *p)
{
	if (!p->dns) {
		p->dns = evdns_base_new(p->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (!p->dns) /* no resolv.conf: numeric hosts still work */
			p->dns = evdns_base_new(p->base, 0);
	}
	p->bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!p->bev) {
		job_end(p, HW_PRINT_NO_MEMORY, NULL);
		return;
	}
	link_timeouts(p);
	p->state = JOB_CONNECTING;
	if (bufferevent_socket_connect_hostname(p->bev, p->dns, AF_UNSPEC, p->t.host,
						(int)p->t.port) < 0) {
		/* on_event may have ended it already (a synchronous failure) */
		if (p->state == JOB_CONNECTING)
			job_end(p, HW_PRINT_NO_DEVICE, "cannot connect to %s", p->device);
	}
}

static void start_usblp(struct hw_printer *p)
{
	int fd =
	    open(p->t.path, (p->status ? O_RDWR : O_WRONLY) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		job_end(p, HW_PRINT_NO_DEVICE, "%s: %s%s", p->device, strerror(e),
			e == EACCES ? " (is the station in group lp?)" : "");
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		close(fd);
		job_end(p, HW_PRINT_NO_DEVICE, "%s is not a device (use file:PATH for a file)",
			p->device);
		return;
	}
	p->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!p->bev) {
		close(fd);
		job_end(p, HW_PRINT_NO_MEMORY, NULL);
		return;
	}
	link_timeouts(p);
	start_link(p);
}

/* file: a regular file takes its bytes at once (epoll does not take regular
 * files, and their writes do not wait on a device); a FIFO or a device named
 * by file: goes through the loop like usblp. */
static void start_file(struct hw_printer *p)
{
	int fd =
	    open(p->t.path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0) {
		job_end(p, HW_PRINT_NO_DEVICE, "%s: %s", p->device, strerror(errno));
		return;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		p->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (!p->bev) {
			close(fd);
			job_end(p, HW_PRINT_NO_MEMORY, NULL);
			return;
		}
		link_timeouts(p);
		start_link(p);
		return;
	}
	p->fd = fd;
	size_t off = 0;
	while (off < p->job.len) {
		ssize_t n = write(fd, p->job.p + off, p->job.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			job_end(p, HW_PRINT_IO, "%s: %s", p->device,
				n < 0 ? strerror(errno) : "short write");
			return;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0) {
		p->fd = -1;
		job_end(p, HW_PRINT_IO, "%s: %s", p->device, strerror(errno));
		return;
	}
	p->fd = -1;
	job_end(p, HW_PRINT_OK, "%s", p->device);
}

int hw_printer_print(struct hw_printer *p, const unsigned char *png, size_t len,
		     hw_print_done_cb done, void *arg)
{
	if (!p || !done)
		return -EINVAL;
	if (p->state != JOB_IDLE)
		return -EBUSY;
	p->done = done;
	p->arg = arg;
	p->state = JOB_CONNECTING;
	char err[256];
	enum hw_print_result r = hw_escpos_encode(png, len, &p->escpos, &p->job, err, sizeof err);
	if (r != HW_PRINT_OK) {
		job_end(p, r, "%s", err);
		return 0;
	}
	switch (p->t.kind) {
	case HW_TRANSPORT_TCP:
		start_tcp(p);
		break;
	case HW_TRANSPORT_USBLP:
		start_usblp(p);
		break;
	case HW_TRANSPORT_FILE:
		start_file(p);
		break;
	}
	return 0;
}

void hw_printer_free(struct hw_printer *p)
{
	if (!p)
		return;
	job_close(p);
	if (p->finish_ev)
		event_free(p->finish_ev);
	if (p->dns)
		evdns_base_free(p->dns, 0);
	free(p);
}
