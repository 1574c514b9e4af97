/* SPDX-License-Identifier: MIT */
/*
 * The applicant from the citizen's ID card: POST /api/v1/cccd with an image
 * of the chip-based card (CCCD, or the newer "thẻ căn cước"), or ?scan=1 to
 * take one page from the capture plugin. The card's QR holds
 *   ID|old ID|name|DDMMYYYY|sex|address|DDMMYYYY
 * (12-digit ID, the 9-digit ID of the old card or nothing, birth date, "Nam"
 * or "Nữ", permanent address, issue date). The image is decoded on the I/O
 * pool (Leptonica to 8-bit gray, libzbar for the QR, again on a cleaned,
 * scaled and turned copy if the first pass finds nothing); the answer is
 * {"id_number", "old_id_number" (null when none), "name", "birth_date"
 * ("YYYY-MM-DD"), "sex", "address", "issue_date"}, in NFC. Nothing is
 * stored. 422 {"error":"no_qr"} when no QR can be read, {"error":"not_cccd"}
 * when its text is not a card's.
 */
#ifndef MOTCUA_CCCD_H
#define MOTCUA_CCCD_H

#include <stddef.h>

#include <jansson.h>

struct gateway;
struct cccd;

struct cccd *cccd_new(struct gateway *gw);
void cccd_free(struct cccd *k);
/* The fields of a card's QR text (len bytes, not NUL-terminated), as the
 * route answers them; NULL with the reason in why when it is not a card's. */
json_t *cccd_parse(const char *text, size_t len, char *why, size_t whylen);

#endif
