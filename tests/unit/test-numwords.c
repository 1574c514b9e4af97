/* SPDX-License-Identifier: MIT */
/*
 * Vietnamese number words (station/src/numwords.c), checked two ways that do
 * not share its algorithm:
 *  - a table of hand-checked readings, one or more of every tricky class
 *    (lăm, mốt, tư, lẻ, không trăm, mười vs mươi, the large groups);
 *  - for every number 0 to 9999, an oracle that reads the digits naively
 *    ("một mươi năm", "một trăm không mươi năm") and then applies the
 *    spoken language's rewrite rules to that word list, the way a grammar
 *    book states them.
 */
#include "harness.h"

#include "numwords.h"

struct hand {
	unsigned long long n;
	const char *words;
};

static const struct hand table[] = {
    {0, "không"},
    {1, "một"},
    {4, "bốn"},
    {5, "năm"},
    {9, "chín"},
    {10, "mười"},
    {11, "mười một"},
    {14, "mười bốn"},
    {15, "mười lăm"},
    {19, "mười chín"},
    {20, "hai mươi"},
    {21, "hai mươi mốt"},
    {24, "hai mươi tư"},
    {25, "hai mươi lăm"},
    {30, "ba mươi"},
    {41, "bốn mươi mốt"},
    {44, "bốn mươi tư"},
    {55, "năm mươi lăm"},
    {91, "chín mươi mốt"},
    {99, "chín mươi chín"},
    {100, "một trăm"},
    {101, "một trăm lẻ một"},
    {104, "một trăm lẻ bốn"},
    {105, "một trăm lẻ năm"},
    {110, "một trăm mười"},
    {111, "một trăm mười một"},
    {115, "một trăm mười lăm"},
    {121, "một trăm hai mươi mốt"},
    {200, "hai trăm"},
    {205, "hai trăm lẻ năm"},
    {999, "chín trăm chín mươi chín"},
    {1000, "một nghìn"},
    {1001, "một nghìn không trăm lẻ một"},
    {1005, "một nghìn không trăm lẻ năm"},
    {1010, "một nghìn không trăm mười"},
    {1015, "một nghìn không trăm mười lăm"},
    {1021, "một nghìn không trăm hai mươi mốt"},
    {1100, "một nghìn một trăm"},
    {1105, "một nghìn một trăm lẻ năm"},
    {2024, "hai nghìn không trăm hai mươi tư"},
    {5555, "năm nghìn năm trăm năm mươi lăm"},
    {9999, "chín nghìn chín trăm chín mươi chín"},
    {10000, "mười nghìn"},
    {15000, "mười lăm nghìn"},
    {21000, "hai mươi mốt nghìn"},
    {21001, "hai mươi mốt nghìn không trăm lẻ một"},
    {100000, "một trăm nghìn"},
    {105000, "một trăm lẻ năm nghìn"},
    {999999, "chín trăm chín mươi chín nghìn chín trăm chín mươi chín"},
    {1000000, "một triệu"},
    {1000500, "một triệu năm trăm"},
    {1005000, "một triệu không trăm lẻ năm nghìn"},
    {2000005, "hai triệu không trăm lẻ năm"},
    {1000000000ULL, "một tỷ"},
    {999999999999ULL, "chín trăm chín mươi chín tỷ chín trăm chín mươi chín triệu "
		      "chín trăm chín mươi chín nghìn chín trăm chín mươi chín"},
};

static void test_hand_checked_table(void)
{
	char buf[512];
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		int r = numwords(table[i].n, 0, buf, sizeof buf);
		CHECK_EQ_INT(r, (long long)strlen(table[i].words));
		CHECK_STREQ(buf, table[i].words);
	}
}

static void test_linh_and_bon(void)
{
	char buf[256];
	CHECK(numwords(105, NUMWORDS_LINH, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "một trăm linh năm");
	CHECK(numwords(1004, NUMWORDS_LINH, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "một nghìn không trăm linh bốn");
	CHECK(numwords(24, NUMWORDS_BON, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "hai mươi bốn");
	/* bốn after mười either way, and tư never after lẻ */
	CHECK(numwords(14, 0, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "mười bốn");
	CHECK(numwords(304, 0, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "ba trăm lẻ bốn");
}

static void test_limits(void)
{
	char buf[16];
	CHECK_EQ_INT(numwords(NUMWORDS_MAX + 1, 0, buf, sizeof buf), -ERANGE);
	CHECK_EQ_INT(numwords(9999, 0, buf, sizeof buf), -ENOSPC);
	CHECK_STREQ(buf, "");
	CHECK_EQ_INT(numwords(0, 0, buf, 0), -ENOSPC);
	/* exactly fits: "mười" and its NUL */
	char fit[sizeof "mười"];
	CHECK_EQ_INT(numwords(10, 0, fit, sizeof fit), (long long)strlen("mười"));
	CHECK_STREQ(fit, "mười");
	CHECK_EQ_INT(numwords(10, 0, fit, sizeof fit - 1), -ENOSPC);
}

static void test_text(void)
{
	char buf[256];
	CHECK(numwords_text("Quầy 3", 0, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "Quầy ba");
	CHECK(numwords_text("15", 0, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "mười lăm");
	CHECK(numwords_text("Quầy3A", 0, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "Quầy ba A");
	CHECK(numwords_text("A-21.", 0, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "A-hai mươi mốt.");
	CHECK(numwords_text("không số", 0, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "không số");
	/* a run too long to be a number is left alone */
	CHECK(numwords_text("1234567890123", 0, buf, sizeof buf) > 0);
	CHECK_STREQ(buf, "1234567890123");
	CHECK_EQ_INT(numwords_text("", 0, buf, sizeof buf), 0);
	CHECK_EQ_INT(numwords_text("9999", 0, buf, 8), -ENOSPC);
}

/* ---- the oracle: a naive reading, then rewrite rules on its words ---- */

#define MAXW 16
struct words {
	const char *w[MAXW];
	int n;
};

static void del(struct words *s, int at, int k)
{
	memmove(&s->w[at], &s->w[at + k], sizeof s->w[0] * (size_t)(s->n - at - k));
	s->n -= k;
}

static bool ends_with(const struct words *s, const char *a, const char *b)
{
	return s->n >= 2 && !strcmp(s->w[s->n - 2], a) && !strcmp(s->w[s->n - 1], b);
}

static void oracle(unsigned n, char *out, size_t len)
{
	static const char *const names[] = {"không", "một", "hai", "ba",  "bốn",
					    "năm",   "sáu", "bảy", "tám", "chín"};
	static const char *const place[] = {NULL, "mươi", "trăm", "nghìn"};
	char digits[8];
	int nd = snprintf(digits, sizeof digits, "%u", n);
	struct words s = {.n = 0};
	/* 1. Every digit with its place: 1005 "một nghìn không trăm không mươi năm". */
	for (int i = 0; i < nd; i++) {
		s.w[s.n++] = names[digits[i] - '0'];
		if (place[nd - 1 - i])
			s.w[s.n++] = place[nd - 1 - i];
	}
	if (n != 0) {
		/* 2. Zeros at the end are not said: a last "không", then "không
		 * mươi" and "không trăm" left at the end. */
		if (!strcmp(s.w[s.n - 1], "không"))
			s.n--;
		if (ends_with(&s, "không", "mươi"))
			s.n -= 2;
		if (ends_with(&s, "không", "trăm"))
			s.n -= 2;
		for (int i = 0; i + 1 < s.n; i++) {
			/* 3. A zero ten before a unit is "lẻ". */
			if (!strcmp(s.w[i], "không") && !strcmp(s.w[i + 1], "mươi")) {
				s.w[i] = "lẻ";
				del(&s, i + 1, 1);
			}
			/* 4. One ten is "mười". */
			else if (!strcmp(s.w[i], "một") && !strcmp(s.w[i + 1], "mươi")) {
				s.w[i] = "mười";
				del(&s, i + 1, 1);
			}
		}
		/* 5. The unit after a ten: mốt, tư after mươi; lăm after mười or mươi. */
		for (int i = 0; i + 1 < s.n; i++) {
			bool muoi = !strcmp(s.w[i], "mươi"), muoi1 = !strcmp(s.w[i], "mười");
			if (muoi && !strcmp(s.w[i + 1], "một"))
				s.w[i + 1] = "mốt";
			else if (muoi && !strcmp(s.w[i + 1], "bốn"))
				s.w[i + 1] = "tư";
			else if ((muoi || muoi1) && !strcmp(s.w[i + 1], "năm"))
				s.w[i + 1] = "lăm";
		}
	}
	out[0] = 0;
	for (int i = 0; i < s.n; i++) {
		if (i)
			strncat(out, " ", len - strlen(out) - 1);
		strncat(out, s.w[i], len - strlen(out) - 1);
	}
}

static void test_every_number_to_9999_against_the_oracle(void)
{
	char got[256], want[256];
	/* the oracle itself, on readings from the table */
	oracle(1005, want, sizeof want);
	CHECK_STREQ(want, "một nghìn không trăm lẻ năm");
	oracle(2024, want, sizeof want);
	CHECK_STREQ(want, "hai nghìn không trăm hai mươi tư");
	for (unsigned n = 0; n <= 9999; n++) {
		oracle(n, want, sizeof want);
		CHECK(numwords(n, 0, got, sizeof got) > 0);
		if (strcmp(got, want) != 0) {
			fprintf(stderr, "%u: numwords \"%s\", oracle \"%s\"\n", n, got, want);
			FAIL("reading of %u differs", n);
		}
	}
	/* and the hand table agrees with the oracle where both read */
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		if (table[i].n > 9999)
			continue;
		oracle((unsigned)table[i].n, want, sizeof want);
		CHECK_STREQ(want, table[i].words);
	}
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	RUN(test_hand_checked_table);
	RUN(test_linh_and_bon);
	RUN(test_limits);
	RUN(test_text);
	RUN(test_every_number_to_9999_against_the_oracle);
	return harness_result();
}
