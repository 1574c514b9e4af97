/* SPDX-License-Identifier: MIT */
/*
 * Numbers as Vietnamese words, for the waiting room's voice: espeak-ng reads
 * "15" as "mười năm" and "21" as "hai mươi một"; a clerk says "mười lăm" and
 * "hai mươi mốt". The rules (the northern, official reading):
 *   0 không; 5 năm; 10 mười; 15 mười lăm; 11 mười một; 14 mười bốn;
 *   20 hai mươi; 21 hai mươi mốt (mốt after mươi, never after mười);
 *   24 hai mươi tư (or bốn: NUMWORDS_BON); 25 hai mươi lăm (lăm after
 *   mười/mươi); 105 một trăm lẻ năm (or linh: NUMWORDS_LINH); 110 một trăm
 *   mười; 1000 một nghìn; 1005 một nghìn không trăm lẻ năm; 10 000 mười
 *   nghìn; 1 000 000 một triệu; 1 000 500 một triệu năm trăm.
 * A group of three digits after a higher group that is not zero is read in
 * full ("không trăm", "lẻ"); a group that is zero is not read.
 * The output is UTF-8 in NFC.
 */
#ifndef MOTCUA_NUMWORDS_H
#define MOTCUA_NUMWORDS_H

#include <stddef.h>

/* The largest number numwords() reads. */
#define NUMWORDS_MAX 999999999999ULL

enum numwords_flags {
	NUMWORDS_LINH = 1 << 0, /* 105 "một trăm linh năm" instead of "lẻ" */
	NUMWORDS_BON = 1 << 1,	/* 24 "hai mươi bốn" instead of "tư" */
};

/* Writes n (0 to NUMWORDS_MAX) as words into out. Returns the length, or
 * -ERANGE (n too large) or -ENOSPC (out too small: then out is ""). */
int numwords(unsigned long long n, unsigned flags, char *out, size_t len);
/* Copies text into out with every run of ASCII digits (at most 12) read
 * as words ("Quầy 3" → "Quầy ba"); longer runs are copied as they are.
 * Returns the length or -ENOSPC. */
int numwords_text(const char *text, unsigned flags, char *out, size_t len);

#endif
