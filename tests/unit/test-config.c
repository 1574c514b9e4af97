/* SPDX-License-Identifier: MIT */
/* config.c: INI loading with file:line errors, settings validation, overrides. */
#include "harness.h"

#include "config.h"
#include "log.h"

static char err[1024];
static char ini_path[4200];

/* Writes text to a fresh temp file and returns its path. */
static const char *ini(const char *text)
{
	snprintf(ini_path, sizeof ini_path, "%s/motcua.conf", harness_mkdtemp());
	harness_write_file(ini_path, text);
	return ini_path;
}

/* Loads text and validates the core settings; returns the first error. */
static int load_settings(const char *text, struct settings *s)
{
	struct config *c = config_new();
	CHECK_NOT_NULL(c);
	err[0] = 0;
	memset(s, 0, sizeof *s);
	int r = config_load_file(c, ini(text), err, sizeof err);
	if (r == 0)
		r = settings_load(s, c, err, sizeof err);
	config_free(c);
	return r;
}

/* Expects text to be refused with "<file>:<line>" and `what` in the message. */
#define CHECK_REFUSED(text, line, what)                                                            \
	do {                                                                                       \
		struct settings s_;                                                                \
		int r_ = load_settings((text), &s_);                                               \
		settings_clear(&s_);                                                               \
		CHECK_EQ_INT(r_, -EINVAL);                                                         \
		char where_[4300];                                                                 \
		snprintf(where_, sizeof where_, "%s:%d:", ini_path, (line));                       \
		CHECK_STRSTR(err, where_);                                                         \
		CHECK_STRSTR(err, (what));                                                         \
	} while (0)

static void test_good_file(void)
{
	struct settings s;
	int r = load_settings("; motcua gateway\n"
			      "# another comment\n"
			      "\n"
			      "[gateway]\n"
			      "data_dir = /var/lib/motcua\n"
			      "plugin_dir = /opt/plugins\n"
			      "workers = 4\n"
			      "step_retry_s = 60\n"
			      "log_level = info\n"
			      "\n"
			      "[http]\n"
			      "listen = 0.0.0.0:8443\n"
			      "max_upload_mb = 100\n"
			      "max_sse_clients = 10\n"
			      "\n"
			      "[office]\n"
			      "agency_code = 000.00.12.H50\n"
			      "name = Bộ phận Một cửa xã Yên Hòa\n"
			      "\n"
			      "[adapter-example]\n"
			      "enabled = true\n"
			      "drop_dir = /srv/drop\n",
			      &s);
	CHECK_MSG(r == 0, "%s", err);
	CHECK_STREQ(s.data_dir, "/var/lib/motcua");
	CHECK_STREQ(s.plugin_dir, "/opt/plugins");
	CHECK_EQ_UINT(s.workers, 4);
	CHECK_EQ_UINT(s.step_retry_s, 60);
	CHECK_STREQ(s.listen_host, "0.0.0.0");
	CHECK_EQ_UINT(s.listen_port, 8443);
	CHECK_EQ_UINT(s.max_upload_bytes, 100ull << 20);
	CHECK_EQ_UINT(s.max_sse_clients, 10);
	CHECK_STREQ(s.agency_code, "000.00.12.H50");
	CHECK_STREQ(s.office_name, "Bộ phận Một cửa xã Yên Hòa");
	settings_clear(&s);
}

static void test_defaults(void)
{
	struct settings s;
	int r = load_settings("[adapter-example]\nenabled = false\n", &s);
	CHECK_MSG(r == 0, "%s", err);
	CHECK_STREQ(s.data_dir, "motcua-data");
	CHECK_EQ_UINT(s.workers, 2);
	CHECK_STREQ(s.listen_host, "127.0.0.1");
	CHECK_EQ_UINT(s.listen_port, 8080);
	CHECK_EQ_UINT(s.max_upload_bytes, 50ull << 20);
	CHECK_STREQ(s.agency_code, "000.00.00.H00");
	settings_clear(&s);
}

static void test_config_api(void)
{
	struct config *c = config_new();
	CHECK_NOT_NULL(c);
	int r =
	    config_load_file(c,
			     ini("[office]\nname = A\n[gateway]\nworkers = 3\n"
				 "[adapter-example]\ndrop_dir = /x\n[office]\nagency_code = a.b\n"),
			     err, sizeof err);
	CHECK_MSG(r == 0, "%s", err);
	CHECK_STREQ(c->path, ini_path);
	CHECK_STREQ(config_get(c, "gateway", "workers"), "3");
	CHECK_STREQ(config_get(c, "office", "agency_code"), "a.b");
	CHECK_NULL(config_get(c, "gateway", "nope"));
	CHECK_NULL(config_get(c, "nope", "workers"));
	struct config_entry *e = config_find(c, "adapter-example", "drop_dir");
	CHECK_NOT_NULL(e);
	CHECK_STREQ(e->file, ini_path);
	CHECK_EQ_INT(e->line, 6);
	CHECK(!e->used);

	const char *secs[8];
	size_t n = config_sections(c, secs, 8);
	CHECK_EQ_UINT(n, 3);
	CHECK_STREQ(secs[0], "office");
	CHECK_STREQ(secs[1], "gateway");
	CHECK_STREQ(secs[2], "adapter-example");
	/* max bounds what is filled */
	CHECK_EQ_UINT(config_sections(c, secs, 1), 1);

	/* A plugin section nobody claimed is refused by config_check_all_used. */
	struct settings s;
	r = settings_load(&s, c, err, sizeof err);
	CHECK_MSG(r == 0, "%s", err);
	settings_clear(&s);
	err[0] = 0;
	r = config_check_all_used(c, err, sizeof err);
	CHECK_EQ_INT(r, -EINVAL);
	char where[4300];
	snprintf(where, sizeof where, "%s:6:", ini_path);
	CHECK_STRSTR(err, where);
	CHECK_STRSTR(err, "drop_dir");
	e->used = true;
	CHECK_EQ_INT(config_check_all_used(c, err, sizeof err), 0);
	config_free(c);
}

static void test_missing_file(void)
{
	struct config *c = config_new();
	char path[4200];
	snprintf(path, sizeof path, "%s/does-not-exist.conf", harness_mkdtemp());
	CHECK_EQ_INT(config_load_file(c, path, err, sizeof err), -ENOENT);
	CHECK_STRSTR(err, path);
	config_free(c);
}

static void test_unknown_keys(void)
{
	CHECK_REFUSED("[gateway]\n"
		      "workers = 2\n"
		      "\n"
		      "; comment\n"
		      "wrokers = 3\n",
		      5, "wrokers");
	CHECK_REFUSED("[gateway]\nworkers = 2\n[http]\nlisten = 127.0.0.1:80\nlisten_port = 81\n",
		      5, "listen_port");
	CHECK_REFUSED("# x\n[office]\n\n\nagency_code = 000.00.12.H50\ncity = Hanoi\n", 6, "city");
	/* An unknown key in a plugin section is not settings_load's business. */
	struct settings s;
	CHECK_EQ_INT(load_settings("[adapter-foo]\nwhatever = 1\n", &s), 0);
	settings_clear(&s);
}

static void test_bad_values(void)
{
	CHECK_REFUSED("[gateway]\nworkers = 0\n", 2, "workers");
	CHECK_REFUSED("[gateway]\n\nworkers = abc\n", 3, "not a whole number");
	CHECK_REFUSED("[gateway]\nworkers = 65\n", 2, "between 1 and 64");
	CHECK_REFUSED("[gateway]\nworkers = -1\n", 2, "workers");
	CHECK_REFUSED("[gateway]\nworkers = 2x\n", 2, "workers");
	CHECK_REFUSED("[gateway]\nworkers =\n", 2, "workers");
	CHECK_REFUSED("[gateway]\nlog_level = loud\n", 2, "log_level");
	CHECK_REFUSED("[gateway]\ndata_dir =\n", 2, "data_dir");
	CHECK_REFUSED("[gateway]\nstep_retry_s = 0\n", 2, "step_retry_s");
	CHECK_REFUSED("[http]\nlisten = 127.0.0.1\n", 2, "listen");
	CHECK_REFUSED("[http]\nlisten = 127.0.0.1:\n", 2, "listen");
	CHECK_REFUSED("[http]\nlisten = :8080\n", 2, "listen");
	CHECK_REFUSED("[http]\nlisten = 127.0.0.1:http\n", 2, "listen");
	CHECK_REFUSED("[http]\nlisten = 127.0.0.1:65536\n", 2, "listen");
	CHECK_REFUSED("[http]\n\n\nmax_upload_mb = 99999\n", 4, "max_upload_mb");
	CHECK_REFUSED("[http]\nmax_upload_mb = 0\n", 2, "max_upload_mb");
	CHECK_REFUSED("[http]\nmax_sse_clients = 5000\n", 2, "max_sse_clients");
	CHECK_REFUSED("[office]\nagency_code = a-b\n", 2, "agency_code");
	CHECK_REFUSED("[office]\nagency_code = .000.00\n", 2, "agency_code");
	CHECK_REFUSED("[office]\nagency_code = 000.00.\n", 2, "agency_code");
	CHECK_REFUSED("[office]\nagency_code = 000 00\n", 2, "agency_code");
	CHECK_REFUSED("[office]\nagency_code = 0123456789012345678901234567890123\n", 2,
		      "agency_code");
	CHECK_REFUSED("[office]\nname =\n", 2, "name");

	/* strtoul() quirks must not turn a bad port into a good one. */
	CHECK_REFUSED("[http]\nlisten = 127.0.0.1:-1\n", 2, "listen");
	CHECK_REFUSED("[http]\nlisten = 127.0.0.1:99999999999999999999\n", 2, "listen");

	/* Boundaries that are fine. */
	struct settings s;
	int r = load_settings("[gateway]\nworkers = 64\n[http]\nmax_upload_mb = 2048\n"
			      "listen = [::1]:1\n[office]\nagency_code = A.1\n",
			      &s);
	CHECK_MSG(r == 0, "%s", err);
	CHECK_EQ_UINT(s.workers, 64);
	CHECK_EQ_UINT(s.max_upload_bytes, 2048ull << 20);
	CHECK_STREQ(s.listen_host, "[::1]");
	CHECK_EQ_UINT(s.listen_port, 1);
	settings_clear(&s);
}

static void test_listen_sign_wrap(void)
{
	/* strtoul() accepts a sign and negates in unsigned arithmetic: the port
	 * must start with a digit, or "-18446744073709551615" would be port 1. */
	CHECK_REFUSED("[http]\nlisten = 127.0.0.1:-18446744073709551615\n", 2, "listen");
	CHECK_REFUSED("[http]\nlisten = 127.0.0.1:+80\n", 2, "listen");
	CHECK_REFUSED("[http]\nlisten = 127.0.0.1: 80\n", 2, "listen");
}

static void test_duplicate_key(void)
{
	struct config *c = config_new();
	int r = config_load_file(c, ini("[gateway]\nworkers = 2\ndata_dir = /x\nworkers = 3\n"),
				 err, sizeof err);
	CHECK_EQ_INT(r, -EINVAL);
	char where[4300];
	snprintf(where, sizeof where, "%s:4:", ini_path);
	CHECK_STRSTR(err, where);
	CHECK_STRSTR(err, "workers");
	CHECK_STRSTR(err, "line 2");
	config_free(c);

	/* Same key in a section that appears twice is a duplicate too. */
	c = config_new();
	r = config_load_file(
	    c, ini("[http]\nlisten = a:1\n[office]\nname = x\n[http]\nlisten = b:2\n"), err,
	    sizeof err);
	CHECK_EQ_INT(r, -EINVAL);
	snprintf(where, sizeof where, "%s:6:", ini_path);
	CHECK_STRSTR(err, where);
	config_free(c);

	/* The same key in different sections is fine. */
	c = config_new();
	r = config_load_file(c, ini("[a]\nk = 1\n[b]\nk = 2\n"), err, sizeof err);
	CHECK_MSG(r == 0, "%s", err);
	CHECK_STREQ(config_get(c, "a", "k"), "1");
	CHECK_STREQ(config_get(c, "b", "k"), "2");
	config_free(c);
}

static void test_outside_section(void)
{
	struct config *c = config_new();
	int r = config_load_file(c, ini("# top\n\nworkers = 2\n[gateway]\n"), err, sizeof err);
	CHECK_EQ_INT(r, -EINVAL);
	char where[4300];
	snprintf(where, sizeof where, "%s:3:", ini_path);
	CHECK_STRSTR(err, where);
	CHECK_STRSTR(err, "workers");
	CHECK_STRSTR(err, "outside");
	config_free(c);
}

static void test_syntax_error(void)
{
	struct config *c = config_new();
	int r =
	    config_load_file(c, ini("[gateway]\nworkers = 2\nthis is not ini\n"), err, sizeof err);
	CHECK_EQ_INT(r, -EINVAL);
	char where[4300];
	snprintf(where, sizeof where, "%s:3:", ini_path);
	CHECK_STRSTR(err, where);
	config_free(c);

	/* A broken section header after a good one. */
	c = config_new();
	r = config_load_file(c, ini("[http]\nlisten = a:1\n[gateway\nworkers = 2\n"), err,
			     sizeof err);
	CHECK_EQ_INT(r, -EINVAL);
	snprintf(where, sizeof where, "%s:3:", ini_path);
	CHECK_STRSTR(err, where);
	config_free(c);
}

/* The first error in the file is the one reported. */
static void test_first_error_wins(void)
{
	char where[4300];
	/* Two handler errors: the first one stops the parse. */
	struct config *c = config_new();
	int r = config_load_file(c, ini("[a]\nk = 1\nk = 2\n\nk = 3\n"), err, sizeof err);
	CHECK_EQ_INT(r, -EINVAL);
	snprintf(where, sizeof where, "%s:3:", ini_path);
	CHECK_STRSTR(err, where);
	config_free(c);

	/* A syntax error (inih's) followed by a handler error (ours). */
	c = config_new();
	r = config_load_file(c, ini("[gateway\nworkers = 2\n"), err, sizeof err);
	CHECK_EQ_INT(r, -EINVAL);
	snprintf(where, sizeof where, "%s:1:", ini_path);
	/* inih goes on after the bad "[gateway" line 1 and calls the handler for
	 * line 2 with an empty section: the first error must still win. */
	CHECK_STRSTR(err, where);
	config_free(c);
}

static void test_long_line(void)
{
	/* A value longer than the parser's line buffer is refused, not cut. */
	char text[8192];
	int n = snprintf(text, sizeof text, "[office]\nname = ");
	memset(text + n, 'x', 5000);
	snprintf(text + n + 5000, sizeof text - (size_t)n - 5000, "\n");
	struct config *c = config_new();
	int r = config_load_file(c, ini(text), err, sizeof err);
	CHECK_EQ_INT(r, -EINVAL);
	char where[4300];
	snprintf(where, sizeof where, "%s:2:", ini_path);
	CHECK_STRSTR(err, where);
	config_free(c);
}

static void test_overrides(void)
{
	struct config *c = config_new();
	int r = config_load_file(c, ini("[gateway]\nworkers = 2\n[http]\nlisten = 0.0.0.0:80\n"),
				 err, sizeof err);
	CHECK_MSG(r == 0, "%s", err);
	CHECK_EQ_INT(config_set_override(c, "http.listen=127.0.0.1:9", err, sizeof err), 0);
	CHECK_EQ_INT(config_set_override(c, "gateway.data_dir=/tmp/x=y", err, sizeof err), 0);
	CHECK_EQ_INT(config_set_override(c, "adapter-example.drop_dir=/d", err, sizeof err), 0);
	CHECK_STREQ(config_get(c, "http", "listen"), "127.0.0.1:9");
	struct config_entry *e = config_find(c, "http", "listen");
	CHECK_STREQ(e->file, "<command line>");
	CHECK_STREQ(config_get(c, "gateway", "data_dir"), "/tmp/x=y");
	CHECK_STREQ(config_get(c, "adapter-example", "drop_dir"), "/d");

	struct settings s;
	r = settings_load(&s, c, err, sizeof err);
	CHECK_MSG(r == 0, "%s", err);
	CHECK_STREQ(s.listen_host, "127.0.0.1");
	CHECK_EQ_UINT(s.listen_port, 9);
	CHECK_EQ_UINT(s.workers, 2);
	CHECK_STREQ(s.data_dir, "/tmp/x=y");
	settings_clear(&s);

	/* A bad override is refused naming the command line. */
	CHECK_EQ_INT(config_set_override(c, "gateway.workers=0", err, sizeof err), 0);
	r = settings_load(&s, c, err, sizeof err);
	settings_clear(&s);
	CHECK_EQ_INT(r, -EINVAL);
	CHECK_STRSTR(err, "<command line>");
	CHECK_STRSTR(err, "workers");

	/* Malformed assignments. */
	const char *bad[] = {"workers=2",  "gateway.workers", ".workers=2",
			     "gateway.=2", "gateway=x.y",     ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		CHECK_MSG(config_set_override(c, bad[i], err, sizeof err) == -EINVAL, "'%s'",
			  bad[i]);
		CHECK_STRSTR(err, "<command line>");
	}
	config_free(c);

	/* Overrides also work with no file at all. */
	c = config_new();
	CHECK_EQ_INT(config_set_override(c, "office.agency_code=a-b", err, sizeof err), 0);
	r = settings_load(&s, c, err, sizeof err);
	settings_clear(&s);
	CHECK_EQ_INT(r, -EINVAL);
	CHECK_STRSTR(err, "agency_code");
	config_free(c);
}

static void test_parse_bool(void)
{
	const char *yes[] = {"true", "yes", "on", "1"};
	const char *no[] = {"false", "no", "off", "0"};
	const char *neither[] = {"", "2", "TRUE ", "y", "enabled", "nope", "truex"};
	for (size_t i = 0; i < 4; i++) {
		bool b = false;
		CHECK_MSG(config_parse_bool(yes[i], &b) && b, "%s", yes[i]);
		b = true;
		CHECK_MSG(config_parse_bool(no[i], &b) && !b, "%s", no[i]);
	}
	for (size_t i = 0; i < sizeof neither / sizeof neither[0]; i++) {
		bool b = true;
		CHECK_MSG(!config_parse_bool(neither[i], &b), "'%s'", neither[i]);
		CHECK_MSG(b, "'%s' changed the output", neither[i]);
	}
}

static void test_core_sections(void)
{
	CHECK(config_section_is_core("gateway"));
	CHECK(config_section_is_core("http"));
	CHECK(config_section_is_core("office"));
	CHECK(!config_section_is_core("adapter-example"));
	CHECK(!config_section_is_core("Gateway"));
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	RUN(test_good_file);
	RUN(test_defaults);
	RUN(test_config_api);
	RUN(test_missing_file);
	RUN(test_unknown_keys);
	RUN(test_bad_values);
	RUN(test_listen_sign_wrap);
	RUN(test_duplicate_key);
	RUN(test_outside_section);
	RUN(test_syntax_error);
	RUN(test_first_error_wins);
	RUN(test_long_line);
	RUN(test_overrides);
	RUN(test_parse_bool);
	RUN(test_core_sections);
	int r = harness_result();
	gw_log_set_level(MOTCUA_LOG_INFO);
	return r;
}
