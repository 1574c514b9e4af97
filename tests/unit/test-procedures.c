/* SPDX-License-Identifier: MIT */
/* procedures.c: the [office] procedures file, old and new lines, and its
 * errors with file:line. */
#include "harness.h"

#include "procedures.h"

#ifndef SAMPLE_PROCEDURES
#error SAMPLE_PROCEDURES must name conf/procedures.txt
#endif

static char err[1024];
static char path[4200];

static struct procedures *load(const char *text)
{
	snprintf(path, sizeof path, "%s/procedures.txt", harness_mkdtemp());
	harness_write_file(path, text);
	err[0] = 0;
	return procedures_load(path, err, sizeof err);
}

/* Expects text refused at line with what in the reason. */
#define CHECK_REFUSED(text, line, what)                                                            \
	do {                                                                                       \
		struct procedures *p_ = load(text);                                                \
		CHECK_NULL(p_);                                                                    \
		char where_[4300];                                                                 \
		snprintf(where_, sizeof where_, "%s:%d: ", path, (line));                          \
		CHECK_STRSTR(err, where_);                                                         \
		CHECK_STRSTR(err, (what));                                                         \
	} while (0)

static void test_old_lines_keep_working(void)
{
	struct procedures *p = load("# mã;ngày;đơn vị\n1.001193;5;Phòng Tư pháp\n"
				    "1.000656;0\n\n2.000001 ; 3 ; Văn phòng \n");
	CHECK_NOT_NULL(p);
	const struct procedure *a = procedures_find(p, "1.001193");
	CHECK_NOT_NULL(a);
	CHECK_EQ_INT(a->days, 5);
	CHECK_STREQ(a->unit, "Phòng Tư pháp");
	CHECK_NULL(a->name);
	CHECK_NULL(a->fee);
	CHECK_EQ_UINT(a->n_papers, 0);
	const struct procedure *b = procedures_find(p, "1.000656");
	CHECK_NOT_NULL(b);
	CHECK_EQ_INT(b->days, 0);
	CHECK_NULL(b->unit);
	CHECK_STREQ(procedures_find(p, "2.000001")->unit, "Văn phòng");
	procedures_free(p);
	/* CRLF lines and a BOM, as Windows editors write them */
	p = load("\xEF\xBB\xBF"
		 "1.001193;5;Phòng Tư pháp\r\n  name: Khai sinh\r\n");
	CHECK_NOT_NULL(p);
	CHECK_STREQ(procedures_find(p, "1.001193")->name, "Khai sinh");
	CHECK_NULL(procedures_find(p, "9.999999"));
	procedures_free(p);
}

static void test_details_and_papers(void)
{
	struct procedures *p = load("1.001193;0;UBND xã\n"
				    "  name: Đăng ký khai sinh\n"
				    "\tfee: 2.000 đồng/trang; từ trang thứ ba 1.000 đồng\n"
				    "  # a comment inside\n"
				    "  result: Bộ phận Một cửa\n"
				    "  paper: to-khai;Tờ khai đăng ký khai sinh;original;1\n"
				    "  paper: cccd ; Giấy tờ tùy thân ; either ; 2\n"
				    "2.000908;0\n"
				    "  paper: ban-sao;Bản sao;copy;3\n");
	CHECK_NOT_NULL(p);
	const struct procedure *a = procedures_find(p, "1.001193");
	CHECK_STREQ(a->name, "Đăng ký khai sinh");
	CHECK_STREQ(a->fee, "2.000 đồng/trang; từ trang thứ ba 1.000 đồng");
	CHECK_STREQ(a->result_place, "Bộ phận Một cửa");
	CHECK_EQ_UINT(a->n_papers, 2);
	const struct paper *pp = procedure_paper(a, "cccd");
	CHECK_NOT_NULL(pp);
	CHECK_STREQ(pp->name, "Giấy tờ tùy thân");
	CHECK_EQ_INT(pp->form, PAPER_EITHER);
	CHECK_EQ_INT(pp->count, 2);
	CHECK_NULL(procedure_paper(a, "ban-sao"));
	CHECK_EQ_INT(procedure_paper(procedures_find(p, "2.000908"), "ban-sao")->form, PAPER_COPY);
	json_t *j = procedures_json(p);
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	CHECK_STRSTR(text, "\"code\":\"2.000908\",\"name\":null");
	CHECK_STRSTR(text, "\"form\":\"either\",\"count\":2");
	CHECK_STRSTR(text, "\"fee\":null");
	free(text);
	json_decref(j);
	procedures_free(p);
}

static void test_errors_name_file_and_line(void)
{
	CHECK_REFUSED("1.001193;5\nnot a line\n", 2, "CODE;WORKING_DAYS;UNIT");
	CHECK_REFUSED("1.001193;400;X\n", 1, "days 0-365");
	CHECK_REFUSED("1.001193;x;X\n", 1, "CODE;WORKING_DAYS;UNIT");
	CHECK_REFUSED("1.001193;1;X;extra\n", 1, "CODE;WORKING_DAYS;UNIT");
	CHECK_REFUSED("# first\n  name: Khai sinh\n", 2, "procedure line above");
	CHECK_REFUSED("1.001193;1\n  colour: red\n", 2, "unknown key 'colour'");
	CHECK_REFUSED("1.001193;1\n  name: A\n  name: B\n", 3, "twice");
	CHECK_REFUSED("1.001193;1\n  no colon here\n", 2, "key: value");
	CHECK_REFUSED("1.001193;1\n  paper: a;Tờ khai;original\n", 2,
		      "ID;NAME;original|copy|either;COUNT");
	CHECK_REFUSED("1.001193;1\n  paper: a b;Tờ khai;original;1\n", 2, "paper id 'a b'");
	CHECK_REFUSED("1.001193;1\n  paper: a;Tờ khai;bản chính;1\n", 2,
		      "original, copy or either");
	CHECK_REFUSED("1.001193;1\n  paper: a;Tờ khai;copy;0\n", 2,
		      "count must be a number from 1 to 99");
	CHECK_REFUSED("1.001193;1\n  paper: a;Tờ khai;copy;1\n  paper: a;Khác;copy;1\n", 3,
		      "listed twice");
	CHECK_REFUSED("1.001193;1\n  paper: a;;copy;1\n", 2, "the name must be");
	CHECK_REFUSED("1.001193;1\n  name: \xff\xfe\n", 2, "UTF-8");
	CHECK_REFUSED("1.001193;1\n2.0;1\n1.001193;2\n", 3, "listed twice");
	CHECK_NULL(procedures_load("/nonexistent/procedures.txt", err, sizeof err));
	CHECK_STRSTR(err, "/nonexistent/procedures.txt");
}

static void test_the_shipped_sample_loads(void)
{
	err[0] = 0;
	struct procedures *p = procedures_load(SAMPLE_PROCEDURES, err, sizeof err);
	CHECK_MSG(p != NULL, "%s", err);
	const struct procedure *k = procedures_find(p, "1.001193");
	CHECK_NOT_NULL(k);
	CHECK_STREQ(k->name, "Đăng ký khai sinh");
	CHECK_GE_INT((int)k->n_papers, 3);
	CHECK_NOT_NULL(procedures_find(p, "1.001234"));
	procedures_free(p);
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	RUN(test_old_lines_keep_working);
	RUN(test_details_and_papers);
	RUN(test_errors_name_file_and_line);
	RUN(test_the_shipped_sample_loads);
	return harness_result();
}
