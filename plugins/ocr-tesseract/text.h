/* SPDX-License-Identifier: MIT */
/*
 * Text helpers of the ocr-tesseract plugin: Unicode NFC for Vietnamese and the
 * fields a one-stop counter looks for in a recognized document. No Tesseract
 * here, so the unit tests build this file alone.
 */
#ifndef OCR_TEXT_H
#define OCR_TEXT_H

#include <stddef.h>

#include <jansson.h>

#if defined(__GNUC__)
#define OCR_HIDDEN __attribute__((visibility("hidden")))
#else
#define OCR_HIDDEN
#endif

/*
 * Returns a malloc()ed copy of the UTF-8 string s (len bytes) in Unicode
 * Normalization Form C as far as Latin letters go: every base letter followed
 * by combining marks (U+0300-U+036F) that Unicode composes into a precomposed
 * letter of Latin-1 Supplement, Latin Extended-A/B or Latin Extended
 * Additional (which covers every Vietnamese letter with its vowel and tone
 * marks) is composed, after canonical reordering of the marks; U+0340/U+0341
 * become U+0300/U+0301.
 * Other text passes unchanged, except invalid UTF-8, which becomes U+FFFD.
 * NULL when out of memory.
 */
OCR_HIDDEN char *ocr_nfc(const char *s, size_t len);

/* The number of (letter, mark) pairs the composition table knows: for tests. */
OCR_HIDDEN size_t ocr_compose_table_size(void);

/*
 * Finds the fields in text (UTF-8, NFC):
 *   {"id_numbers": [...], "dates": [...], "dossier_codes": [...]}
 * each deduplicated, in order of first appearance.
 *  - id_numbers: personal ID numbers (CCCD / số định danh cá nhân): a run of
 *    exactly 12 digits that is not part of a longer run of digits; or the
 *    number printed in four groups of three ("001 203 004 567",
 *    "001.203.004.567", one separator kind), accepted only when its first
 *    three digits are a province code, so that amounts like 100.000.000.000
 *    are not taken for IDs. Returned as the 12 digits.
 *  - dates: d/m/yyyy, d-m-yyyy, d.m.yyyy (one separator kind, 1 or 2 digit
 *    day and month, not inside a longer number) and the Vietnamese long form
 *    "ngày 5 tháng 3 năm 2026" (any case); valid calendar dates from 1800 to
 *    2199 only; returned as dd/mm/yyyy.
 *  - dossier_codes: <agency code>-<yymmdd>-<sequence>, the gateway's own
 *    format, e.g. 000.00.12.H50-261128-0007: an agency code of letters and
 *    digits in at least two dot-separated parts (at most 32 characters), a
 *    valid date, and a sequence of 4 to 9 digits.
 * Returns a new reference, or NULL when out of memory.
 */
OCR_HIDDEN json_t *ocr_fields(const char *text);

#endif /* OCR_TEXT_H */
