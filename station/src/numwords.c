/* SPDX-License-Identifier: MIT */
/* Vietnamese number words (see numwords.h for the rules). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "numwords.h"

static const char *const digit[10] = {"không", "một", "hai", "ba",  "bốn",
				      "năm",   "sáu", "bảy", "tám", "chín"};

struct out {
	char *p;
	size_t len, n;
	bool overflow;
};

static void put(struct out *o, const char *w)
{
	size_t wl = strlen(w), sep = o->n ? 1 : 0;
	if (o->n + sep + wl >= o->len) {
		o->overflow = true;
		return;
	}
	if (sep)
		o->p[o->n++] = ' ';
	memcpy(o->p + o->n, w, wl);
	o->n += wl;
	o->p[o->n] = 0;
}

/* One group of three digits (1 to 999); full: a higher group was read, so
 * its hundreds and a zero ten are read too ("không trăm lẻ năm"). */
static void group(struct out *o, unsigned g, bool full, unsigned flags)
{
	unsigned h = g / 100, t = g / 10 % 10, u = g % 10;
	if (h || full) {
		put(o, digit[h]);
		put(o, "trăm");
	}
	if (t == 0) {
		if (u && (h || full))
			put(o, flags & NUMWORDS_LINH ? "linh" : "lẻ");
	} else if (t == 1) {
		put(o, "mười");
	} else {
		put(o, digit[t]);
		put(o, "mươi");
	}
	if (u == 0)
		return;
	if (u == 1 && t >= 2)
		put(o, "mốt");
	else if (u == 4 && t >= 2 && !(flags & NUMWORDS_BON))
		put(o, "tư");
	else if (u == 5 && t >= 1)
		put(o, "lăm");
	else
		put(o, digit[u]);
}

int numwords(unsigned long long n, unsigned flags, char *out, size_t len)
{
	if (n > NUMWORDS_MAX)
		return -ERANGE;
	if (!len)
		return -ENOSPC;
	struct out o = {out, len, 0, false};
	out[0] = 0;
	if (n == 0) {
		put(&o, digit[0]);
	} else {
		static const char *const scale[] = {"tỷ", "triệu", "nghìn", NULL};
		unsigned long long div = 1000000000ULL;
		bool higher = false;
		for (int i = 0; i < 4; i++, div /= 1000) {
			unsigned g = (unsigned)(n / div % 1000);
			if (!g)
				continue;
			group(&o, g, higher, flags);
			if (scale[i])
				put(&o, scale[i]);
			higher = true;
		}
	}
	if (o.overflow) {
		out[0] = 0;
		return -ENOSPC;
	}
	return (int)o.n;
}

static bool is_letter(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

int numwords_text(const char *text, unsigned flags, char *out, size_t len)
{
	size_t n = 0;
	if (!len)
		return -ENOSPC;
	for (const char *p = text; *p;) {
		size_t run = strspn(p, "0123456789");
		if (run == 0 || run > 12) {
			size_t k = run ? run : 1;
			if (n + k >= len)
				goto nospace;
			memcpy(out + n, p, k);
			n += k;
			p += k;
			continue;
		}
		unsigned long long v = 0;
		for (size_t i = 0; i < run; i++)
			v = v * 10 + (unsigned)(p[i] - '0');
		/* Words stay words: "Quầy3" is read "Quầy ba", "3A" "ba A". */
		if (n && is_letter((unsigned char)out[n - 1])) {
			if (n + 1 >= len)
				goto nospace;
			out[n++] = ' ';
		}
		int r = numwords(v, flags, out + n, len - n);
		if (r < 0)
			goto nospace;
		n += (size_t)r;
		p += run;
		if (is_letter((unsigned char)*p)) {
			if (n + 1 >= len)
				goto nospace;
			out[n++] = ' ';
		}
	}
	out[n] = 0;
	return (int)n;
nospace:
	out[0] = 0;
	return -ENOSPC;
}
