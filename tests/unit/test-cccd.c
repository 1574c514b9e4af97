/* SPDX-License-Identifier: MIT */
/* The citizen ID card's QR text (station/src/cccd.c: cccd_parse): the seven
 * fields, their checks, the calendar, NFC. The images and libzbar are
 * tested end to end in tests/integration/test_cccd.py. */
#include "harness.h"

#include "cccd.h"

static json_t *parse(const char *text, char *why, size_t len)
{
	why[0] = 0;
	return cccd_parse(text, strlen(text), why, len);
}

static void test_fields(void)
{
	char why[256];
	json_t *j = parse("079203001234|023456789|Lê Văn Tám|01011990|Nam|"
			  "Ấp 3, xã Tân Thạnh, huyện Thạnh Phú, tỉnh Bến Tre|20062021",
			  why, sizeof why);
	CHECK_NOT_NULL(j);
	CHECK_STREQ(json_string_value(json_object_get(j, "id_number")), "079203001234");
	CHECK_STREQ(json_string_value(json_object_get(j, "old_id_number")), "023456789");
	CHECK_STREQ(json_string_value(json_object_get(j, "name")), "Lê Văn Tám");
	CHECK_STREQ(json_string_value(json_object_get(j, "birth_date")), "1990-01-01");
	CHECK_STREQ(json_string_value(json_object_get(j, "sex")), "Nam");
	CHECK_STREQ(json_string_value(json_object_get(j, "address")),
		    "Ấp 3, xã Tân Thạnh, huyện Thạnh Phú, tỉnh Bến Tre");
	CHECK_STREQ(json_string_value(json_object_get(j, "issue_date")), "2021-06-20");
	CHECK_EQ_INT(json_object_size(j), 7);
	json_decref(j);
	/* no old ID: null; a line end after the last field is not part of it */
	j = parse("001203004567||Nguyễn Thị Hồng Nhung|29022000|Nữ|Hà Nội|15072021\r\n", why,
		  sizeof why);
	CHECK_NOT_NULL(j);
	CHECK(json_is_null(json_object_get(j, "old_id_number")));
	CHECK_STREQ(json_string_value(json_object_get(j, "birth_date")), "2000-02-29");
	CHECK_STREQ(json_string_value(json_object_get(j, "issue_date")), "2021-07-15");
	json_decref(j);
}

static void test_nfd_becomes_nfc(void)
{
	char why[256];
	/* "Nữ" and "Nguyễn" decomposed: u + horn + tilde, e + circumflex + tilde */
	json_t *j = parse("001203004567||Nguye\xcc\x82\xcc\x83n Va\xcc\x86n A|01012000|"
			  "Nu\xcc\x9b\xcc\x83|Ha\xcc\x80 No\xcc\xa3\xcc\x82i|01012020",
			  why, sizeof why);
	CHECK_NOT_NULL(j);
	CHECK_STREQ(json_string_value(json_object_get(j, "name")), "Nguyễn Văn A");
	CHECK_STREQ(json_string_value(json_object_get(j, "sex")), "Nữ");
	CHECK_STREQ(json_string_value(json_object_get(j, "address")), "Hà Nội");
	json_decref(j);
}

static void test_refused(void)
{
	static const char *const bad[] = {
	    "https://example.gov.vn/",
	    "",
	    "001203004567|012345678|A|01011990|Nam|Hà Nội",	       /* 6 fields */
	    "001203004567|012345678|A|01011990|Nam|Hà Nội|01012020|x", /* 8 fields */
	    "00120300456|012345678|A|01011990|Nam|Hà Nội|01012020",    /* 11 digits */
	    "0012030045678|012345678|A|01011990|Nam|Hà Nội|01012020",  /* 13 digits */
	    "00120300456a|012345678|A|01011990|Nam|Hà Nội|01012020",   /* a letter */
	    "001203004567|01234567|A|01011990|Nam|Hà Nội|01012020",    /* old ID of 8 */
	    "001203004567|0123456789|A|01011990|Nam|Hà Nội|01012020",  /* old ID of 10 */
	    "001203004567||A|29022001|Nam|Hà Nội|01012020",	       /* 2001 not leap */
	    "001203004567||A|29021900|Nam|Hà Nội|01012020",	       /* 1900 not leap */
	    "001203004567||A|31042000|Nam|Hà Nội|01012020",	       /* 31 April */
	    "001203004567||A|00012000|Nam|Hà Nội|01012020",	       /* day 0 */
	    "001203004567||A|01132000|Nam|Hà Nội|01012020",	       /* month 13 */
	    "001203004567||A|1012000|Nam|Hà Nội|01012020",	       /* 7 digits */
	    "001203004567||A|01011850|Nam|Hà Nội|01012020",	       /* year 1850 */
	    "001203004567||A|01012000|Nam|Hà Nội|31121999",	       /* issued before */
	    "001203004567||A|01012000|nam|Hà Nội|01012020",	       /* sex */
	    "001203004567||A|01012000|Nữ giới|Hà Nội|01012020",	       /* sex */
	    "001203004567|||01012000|Nam|Hà Nội|01012020",	       /* no name */
	    "001203004567||   |01012000|Nam|Hà Nội|01012020",	       /* blank name */
	    "001203004567||A\tB|01012000|Nam|Hà Nội|01012020",	       /* control char */
	    "001203004567||A|01012000|Nam||01012020",		       /* no address */
	    "001203004567||\xff\xfe|01012000|Nam|Hà Nội|01012020",     /* not UTF-8 */
	};
	char why[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *j = parse(bad[i], why, sizeof why);
		if (j) {
			json_decref(j);
			FAIL("accepted: %s", bad[i]);
		}
		CHECK(why[0] != 0);
	}
	json_t *j = parse("001203004567|012345678|A|01011990|Nam|Hà Nội", why, sizeof why);
	CHECK_NULL(j);
	CHECK_STRSTR(why, "6 fields");
	j = parse("001203004567||A|01012000|Nam|Hà Nội|31121999", why, sizeof why);
	CHECK_NULL(j);
	CHECK_STRSTR(why, "issue date");
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	RUN(test_fields);
	RUN(test_nfd_becomes_nfc);
	RUN(test_refused);
	return harness_result();
}
