/* SPDX-License-Identifier: MIT */
/*
 * The receipt ("Giấy tiếp nhận hồ sơ và hẹn trả kết quả", form 01 of
 * Circular 01/2018/TT-VPCP) and the supplement request ("Phiếu yêu cầu bổ
 * sung, hoàn thiện hồ sơ", form 02): one layout drawn with cairo and pango,
 * as an A4 PDF and as a 1-bit PNG for 80 and 58 mm thermal printers, with a
 * QR code of the citizen's lookup URL. Routes:
 *   GET /api/v1/dossiers/{code}/receipt.pdf, receipt.png?width=576|384,
 *   GET /api/v1/dossiers/{code}/supplement.pdf, supplement.png?width=576|384.
 * What is printed is gathered on the loop; the drawing runs on the I/O pool.
 */
#ifndef MOTCUA_RECEIPT_H
#define MOTCUA_RECEIPT_H

struct gateway;
struct receipt;

/* Adds the routes. NULL when out of memory or a route exists already. */
struct receipt *receipt_new(struct gateway *gw);
void receipt_free(struct receipt *r);

#endif
