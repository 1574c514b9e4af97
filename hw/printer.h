/* SPDX-License-Identifier: MIT */
/*
 * The receipt printer, ESC/POS: a 1-bit (or 8-bit gray, thresholded) PNG
 * printed as GS v 0 raster bands between ESC @ (initialise), ESC d (feed)
 * and GS V (cut), over a usblp device, a TCP port (9100) or a file.
 * Knows nothing of dossiers. Writes go through the libevent loop and time
 * out; one job at a time (a queue, and the job's bytes for a reprint, are
 * the caller's).
 */
#ifndef MOTCUA_HW_PRINTER_H
#define MOTCUA_HW_PRINTER_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;

/* Printer widths in dots (203 dpi heads). */
#define HW_PRINTER_DOTS_80MM 576
#define HW_PRINTER_DOTS_58MM 384

enum hw_print_result {
	HW_PRINT_OK = 0,
	HW_PRINT_BAD_IMAGE, /* not a PNG libpng can read, or empty */
	HW_PRINT_TOO_WIDE,  /* wider than the printer's dots */
	HW_PRINT_NO_DEVICE, /* cannot open / connection refused */
	HW_PRINT_TIMEOUT,   /* connect, write or status answer timed out */
	HW_PRINT_OFFLINE,   /* the printer reports itself offline (cover open, error) */
	HW_PRINT_PAPER_OUT, /* DLE EOT 4: paper end */
	HW_PRINT_IO,	    /* a write or read failed, the link closed */
	HW_PRINT_NO_MEMORY,
};

/* A short stable name ("paper-out") for logs and exit messages. */
const char *hw_print_result_name(enum hw_print_result r);
/* "Máy in hết giấy / printer out of paper": the operator's line. */
const char *hw_print_result_message(enum hw_print_result r);

/* ---- transports ---- */

enum hw_transport_kind { HW_TRANSPORT_USBLP, HW_TRANSPORT_TCP, HW_TRANSPORT_FILE };

struct hw_transport {
	enum hw_transport_kind kind;
	char path[256]; /* usblp device or file path */
	char host[256]; /* tcp */
	unsigned port;	/* tcp, 9100 when not given */
};

/* "/dev/usb/lp0" (any absolute /dev/ path), "tcp:HOST[:PORT]" (IPv6 as
 * "tcp:[::1]:9100"), "file:PATH". 0, or -EINVAL with a message naming the
 * value in err. */
int hw_transport_parse(const char *spec, struct hw_transport *out, char *err, size_t errlen);

/* ---- the encoder (no I/O) ---- */

struct hw_buf {
	unsigned char *p;
	size_t len, cap;
};
void hw_buf_free(struct hw_buf *b);

/* The longest image taken: 16384 rows, 2 m of paper at 203 dpi. */
#define HW_ESCPOS_MAX_ROWS 16384u

struct hw_escpos_opts {
	unsigned dots;	    /* printer width, HW_PRINTER_DOTS_*; 0: 576 */
	unsigned band_rows; /* rows per GS v 0 band, 1..256; 0: 128 */
	unsigned threshold; /* gray below it is black; 0: 128 */
	unsigned feed;	    /* ESC d n lines before the cut; 0: 4 */
	bool no_cut;	    /* leave out GS V */
};

/* Appends the whole job for png (ESC @, bands, ESC d, GS V) to out.
 * HW_PRINT_OK, HW_PRINT_BAD_IMAGE, HW_PRINT_TOO_WIDE or HW_PRINT_NO_MEMORY,
 * with the detail in err. Width in bytes is ceil(width / 8), padded with
 * white (0) bits; a set bit is a black dot. */
enum hw_print_result hw_escpos_encode(const unsigned char *png, size_t len,
				      const struct hw_escpos_opts *opts, struct hw_buf *out,
				      char *err, size_t errlen);

/* The status requests: DLE EOT 1 (printer) and DLE EOT 4 (paper sensor).
 * hw_escpos_status checks their two answer bytes: HW_PRINT_OK,
 * HW_PRINT_OFFLINE, HW_PRINT_PAPER_OUT, or HW_PRINT_IO for bytes that are not
 * status answers. */
extern const unsigned char hw_escpos_status_request[6];
enum hw_print_result hw_escpos_status(unsigned char printer, unsigned char paper);

/* ---- the printer on the loop ---- */

struct hw_printer;

struct hw_printer_opts {
	const char *device;	      /* a transport, as hw_transport_parse */
	unsigned dots;		      /* HW_PRINTER_DOTS_*; 0: 576 */
	unsigned timeout_ms;	      /* connect, each write, the status answer; 0: 5000 */
	int status;		      /* ask DLE EOT before the job: 1 yes, 0 no, -1 auto
				       * (yes for tcp and usblp, no for file) */
	struct hw_escpos_opts escpos; /* its dots is set from dots */
};

/* NULL with the reason in err (bad transport, bad dots). Opens nothing yet:
 * each job connects (or opens the device) and closes after. */
struct hw_printer *hw_printer_new(struct event_base *base, const struct hw_printer_opts *opts,
				  char *err, size_t errlen);
/* A job in flight is dropped (the link closed) and its done is not called. */
void hw_printer_free(struct hw_printer *p);

/* message: the bilingual line and the detail; valid during the call. */
typedef void (*hw_print_done_cb)(void *arg, enum hw_print_result result, const char *message);

/* Starts a job: png is copied (encoded) before the call returns, so the
 * caller may keep or free it (the PNG is decoded on the loop: a receipt is a
 * few milliseconds). done is always called later, from the loop,
 * once. -EBUSY while a job is in flight, -EINVAL for NULL arguments (and then
 * done is not called); 0 otherwise. done may free the printer. */
int hw_printer_print(struct hw_printer *p, const unsigned char *png, size_t len,
		     hw_print_done_cb done, void *arg);
bool hw_printer_busy(const struct hw_printer *p);

#endif
