/* SPDX-License-Identifier: MIT */
/*
 * test-scan-sane: loads the built scan-sane.so (argv[1]) through the SDK's
 * test host (motcua/testhost.h) and drives it against SANE's own virtual
 * backends:
 *  - `test` (frontend-tester: flatbed and a feeder that is empty after 10
 *    sheets, test pictures, simulated error statuses, 16-bit, three-pass and
 *    hand-scanner frames),
 *  - `pnm` (scans a given PNM file, so pixels can be compared exactly).
 * Both run from a private SANE_CONFIG_DIR made here with mkdtemp().
 *
 * Exits 0 when every check passed, 1 otherwise (also when the test backend,
 * installed with libsane1 by packaging/install-deps.sh, is missing).
 */
#define _GNU_SOURCE
#include <dlfcn.h> /* keeping SANE's backends loaded */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <allheaders.h>

#include <motcua/plugin.h>
#include <motcua/testhost.h>

/* ---- checks ---------------------------------------------------------------- */

static int failures;
static const char *current_case = "";

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL [%s] %s:%d: %s: ", current_case, __FILE__, __LINE__, \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

/* ---- the test host (motcua/testhost.h) ---------------------------------------- */

static struct motcua_testhost *th;
static const struct motcua_capture_ops *ops;
static void *ops_data;

static const char *last_error(void)
{
	return motcua_testhost_log_last_error(th);
}

/* Did the plugin log a line holding needle since the last start? */
static bool log_has(const char *needle)
{
	return motcua_testhost_log_find(th, needle) != NULL;
}

/* Sets the plugin's section from NULL-terminated key, value pairs. */
static void set_config(const char *key, ...)
{
	va_list ap;
	motcua_testhost_config(th, NULL);
	va_start(ap, key);
	for (const char *k = key; k; k = va_arg(ap, const char *))
		motcua_testhost_config_set(th, NULL, k, va_arg(ap, const char *));
	va_end(ap);
}

static int start(void)
{
	motcua_testhost_log_clear(th);
	int r = motcua_testhost_start(th);
	ops = motcua_testhost_capture_ops(th, &ops_data);
	if (r == 0) {
		CHECK(motcua_testhost_registrations(th) == 1 && ops,
		      "init succeeded without registering");
		CHECK(ops && ops->struct_size >= sizeof *ops, "ops struct_size %u",
		      ops ? ops->struct_size : 0);
	} else {
		CHECK(motcua_testhost_registrations(th) == 0, "init failed but registered");
	}
	return r;
}

static void stop(void)
{
	motcua_testhost_stop(th);
	ops = NULL;
}

/* ---- a capture ---------------------------------------------------------------- */

struct page {
	char media_type[32];
	int depth, w, h, xres;
	PIX *pix; /* kept when the capture asks for it */
};

/* One batch through the test host, and what the test saw of it. */
struct capture {
	struct motcua_testhost_capture *cap;
	struct motcua_capture_io *io; /* the host's, while cap lives */
	const char *options;
	int keep_pix;
	int cancel_after; /* set io->cancel once this many pages arrived (0: never) */
	int kill_after;	  /* signal the driver process once this many pages arrived */
	int kill_sig;	  /* with this signal (SIGKILL: it dies, SIGSTOP: it hangs) */
	int n_pages;
	struct page pages[32];
	int n_progress, n_blank;
	pthread_mutex_t lock;
	int result;
};

/* Kills this process's children named motcua-scan-sane: a crashing driver. */
static void kill_driver(int sig)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300], buf[512];
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = atoi(e->d_name) > 0 ? fopen(path, "re") : NULL;
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = 0;
		/* pid (comm) state ppid ... */
		char *close_paren = strrchr(buf, ')');
		int ppid = 0;
		if (close_paren && strstr(buf, "(motcua-scan-san") &&
		    sscanf(close_paren + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
			kill(atoi(e->d_name), sig);
	}
	if (d)
		closedir(d);
}

/* The plugin hands over a page (on the capture thread); the host then takes
 * the file over into its store. */
static int fake_page_ready(void *arg, struct motcua_capture_io *io, const char *path,
			   const char *media_type)
{
	struct capture *c = arg;
	const char *ext = strrchr(path, '.');
	CHECK(!strncmp(path, io->tmp_dir, strlen(io->tmp_dir)), "page %s outside tmp_dir", path);
	CHECK(ext && ((!strcmp(ext, ".jpg") && !strcmp(media_type, "image/jpeg")) ||
		      (!strcmp(ext, ".png") && !strcmp(media_type, "image/png"))),
	      "%s is %s", path, media_type);
	PIX *pix = pixRead(path);
	CHECK(pix != NULL, "%s is not a readable image", path);
	pthread_mutex_lock(&c->lock);
	if (pix && c->n_pages < 32) {
		struct page *p = &c->pages[c->n_pages];
		snprintf(p->media_type, sizeof p->media_type, "%s", media_type);
		p->depth = pixGetDepth(pix);
		p->w = pixGetWidth(pix);
		p->h = pixGetHeight(pix);
		p->xres = pixGetXRes(pix);
		if (c->keep_pix)
			p->pix = pixClone(pix);
	}
	c->n_pages++;
	if (c->cancel_after && c->n_pages >= c->cancel_after)
		io->cancel = 1;
	if (c->kill_after && c->n_pages == c->kill_after)
		kill_driver(c->kill_sig);
	pthread_mutex_unlock(&c->lock);
	pixDestroy(&pix);
	return 0;
}

static void fake_progress(void *arg, struct motcua_capture_io *io, const char *json)
{
	struct capture *c = arg;
	(void)io;
	CHECK(json[0] == '{' && strstr(json, "\"page\":"), "progress %s", json);
	pthread_mutex_lock(&c->lock);
	c->n_progress++;
	if (strstr(json, "\"blank\":true"))
		c->n_blank++;
	pthread_mutex_unlock(&c->lock);
}

static char tmp_root[128];

static void capture_init(struct capture *c, const char *options)
{
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->lock, NULL);
	c->options = options;
}

/* Starts the batch: capture() on a thread of the host's. */
static void capture_start(struct capture *c)
{
	static struct motcua_capture_io none;
	struct motcua_testhost_capture_args args = {
	    .dossier_code = "000.00.00.H00-240101-0001",
	    .document_id = "doc-1",
	    .options = c->options ? c->options : "{}",
	    .on_page = fake_page_ready,
	    .on_progress = fake_progress,
	    .arg = c,
	};
	c->cap = motcua_testhost_capture_start(th, &args);
	CHECK(c->cap != NULL, "the capture did not start: %s", strerror(errno));
	c->io = c->cap ? motcua_testhost_capture_io(c->cap) : &none;
}

/* Waits for the batch to end; its result. */
static int capture_wait(struct capture *c)
{
	c->result = c->cap ? motcua_testhost_capture_wait(th, c->cap, -1) : -ENODEV;
	return c->result;
}

static int capture_go(struct capture *c)
{
	capture_start(c);
	return capture_wait(c);
}

static void capture_done(struct capture *c)
{
	for (int i = 0; i < c->n_pages && i < 32; i++)
		pixDestroy(&c->pages[i].pix);
	if (c->cap) {
		const char *tmp_dir = c->io->tmp_dir;
		CHECK(rmdir(tmp_dir) == 0, "tmp_dir %s not empty: %s", tmp_dir, strerror(errno));
		CHECK(motcua_testhost_capture_page_count(c->cap) == (size_t)c->n_pages,
		      "the host took %zu pages, not %d", motcua_testhost_capture_page_count(c->cap),
		      c->n_pages);
	}
	motcua_testhost_capture_free(c->cap);
	c->cap = NULL;
	pthread_mutex_destroy(&c->lock);
}

static int run(struct capture *c, const char *options)
{
	capture_init(c, options);
	c->result = capture_go(c);
	fprintf(stderr, "  -> %d (%s) %d pages, %d blank, message \"%s\"\n", c->result,
		c->result < 0 ? strerror(-c->result) : "ok", c->n_pages, c->n_blank,
		c->io->message);
	return c->result;
}

/* ---- files ---------------------------------------------------------------------- */

static char sane_dir[128];

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	size_t n = fwrite(data, 1, len, f);
	return fclose(f) == 0 && n == len ? 0 : -EIO;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	return write_file(dir, name, text, strlen(text));
}

static int copy_file(const char *from, const char *dir, const char *name)
{
	char buf[65536];
	FILE *f = fopen(from, "rb");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	return write_file(dir, name, buf, n);
}

/* A 96x64 PNM test image: 16-pixel blocks of distinct values. */
#define IMG_W 96
#define IMG_H 64

static unsigned char gray_at(int x, int y)
{
	return (unsigned char)(((x / 16) * 40 + (y / 16) * 15) % 256);
}

static void rgb_at(int x, int y, unsigned char rgb[3])
{
	rgb[0] = (unsigned char)((x / 16) * 50);
	rgb[1] = (unsigned char)((y / 16) * 80);
	rgb[2] = (unsigned char)(((x / 16 + y / 16) % 2) * 200);
}

static int write_pnms(void)
{
	static unsigned char pgm[64 + IMG_W * IMG_H], ppm[64 + IMG_W * IMG_H * 3],
	    pbm[64 + IMG_W / 8 * IMG_H];
	int n = snprintf((char *)pgm, 64, "P5\n%d %d\n255\n", IMG_W, IMG_H);
	for (int y = 0; y < IMG_H; y++)
		for (int x = 0; x < IMG_W; x++)
			pgm[n + y * IMG_W + x] = gray_at(x, y);
	int r = write_file(tmp_root, "page.pgm", pgm, (size_t)n + IMG_W * IMG_H);
	n = snprintf((char *)ppm, 64, "P6\n%d %d\n255\n", IMG_W, IMG_H);
	for (int y = 0; y < IMG_H; y++)
		for (int x = 0; x < IMG_W; x++)
			rgb_at(x, y, ppm + n + (y * IMG_W + x) * 3);
	if (!r)
		r = write_file(tmp_root, "page.ppm", ppm, (size_t)n + IMG_W * IMG_H * 3);
	n = snprintf((char *)pbm, 64, "P4\n%d %d\n", IMG_W, IMG_H);
	for (int y = 0; y < IMG_H; y++)
		for (int x = 0; x < IMG_W; x += 8) {
			unsigned char byte = 0;
			for (int b = 0; b < 8; b++)
				if (gray_at(x + b, y) < 100)
					byte |= (unsigned char)(0x80 >> b); /* 1 = black */
			pbm[n + y * (IMG_W / 8) + x / 8] = byte;
		}
	if (!r)
		r = write_file(tmp_root, "page.pbm", pbm, (size_t)n + IMG_W / 8 * IMG_H);
	return r;
}

static int set_dll_conf(const char *backends)
{
	return write_text(sane_dir, "dll.conf", backends);
}

static void remove_tree(void)
{
	const char *files[] = {"dll.conf", "test.conf", NULL};
	char path[512];
	for (int i = 0; files[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", sane_dir, files[i]);
		unlink(path);
	}
	rmdir(sane_dir);
	const char *mine[] = {"page.pgm", "page.ppm", "page.pbm", NULL};
	for (int i = 0; mine[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", tmp_root, mine[i]);
		unlink(path);
	}
	rmdir(tmp_root);
}

/*
 * Finds SANE's test backend and keeps it (and pnm) loaded for good: SANE's
 * own leaks (the test backend leaks a name per open and the page buffer of a
 * cancelled reader thread) are then reported with the backend's name, which
 * the suppressions below match, instead of as an unloaded unknown module.
 */
static int test_backend_installed(void)
{
	const char *patterns[] = {
	    "/usr/lib/*/sane/libsane-test.so.1", "/usr/lib/sane/libsane-test.so.1",
	    "/usr/lib64/sane/libsane-test.so.1", "/usr/local/lib/sane/libsane-test.so.1", NULL};
	for (int i = 0; patterns[i]; i++) {
		glob_t g;
		int found = glob(patterns[i], 0, NULL, &g) == 0 && g.gl_pathc > 0;
		if (found) {
			char pnm[512];
			const char *path = g.gl_pathv[0];
			snprintf(pnm, sizeof pnm, "%.*s/libsane-pnm.so.1",
				 (int)(strrchr(path, '/') - path), path);
			dlopen(path, RTLD_NOW | RTLD_NODELETE);
			dlopen(pnm, RTLD_NOW | RTLD_NODELETE);
		}
		globfree(&g);
		if (found)
			return 1;
	}
	return 0;
}

/* LeakSanitizer (the build-asan build): SANE's backends leak; we do not. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libsane-test.so\nleak:libsane-pnm.so\n";
}

/* ---- the cases ------------------------------------------------------------------- */

#define CASE(name) (current_case = (name), fprintf(stderr, "== %s\n", current_case))

static void case_config(void)
{
	static const char *const bad[][3] = {
	    {"resolution", "100", "resolution"},
	    {"resolution", "2400", "resolution"},
	    {"resolution", "300dpi", "resolution"},
	    {"source", "tray", "source"},
	    {"mode", "sepia", "mode"},
	    {"page_size", "a3", "page_size"},
	    {"page_size", "210x", "page_size"},
	    {"blank_threshold", "-1", "blank_threshold"},
	    {"blank_threshold", "abc", "blank_threshold"},
	    {"max_pages", "0", "max_pages"},
	    {"device_options", "test-picture", "device_options"},
	    {"device_options", "=Grid", "device_options"},
	};
	CASE("config validation");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		set_config(bad[i][0], bad[i][1], NULL);
		int r = start();
		CHECK(r == -EINVAL, "%s = %s: init returned %d", bad[i][0], bad[i][1], r);
		CHECK(strstr(last_error(), bad[i][2]) != NULL, "%s = %s: log \"%s\"", bad[i][0],
		      bad[i][1], last_error());
		if (r == 0)
			stop();
	}
	set_config("device", "test:0", "source", "adf-duplex", "resolution", "200", "mode",
		   "lineart", "page_size", "215.9x279.4", "blank_threshold", "0", "max_pages", "5",
		   "device_options", " test-picture = Grid ; read-delay=no;", NULL);
	int r = start();
	CHECK(r == 0, "a good config: init returned %d (%s)", r, last_error());
	if (r == 0)
		stop();

	/* an older host, whose table ends before capture_register */
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_BEFORE(capture_register));
	set_config(NULL);
	r = start();
	CHECK(r < 0, "init accepted a host without capture_register");
	if (r == 0)
		stop();
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_FULL);
}

static void case_check(void)
{
	char msg[256];
	static const char *const bad[][2] = {
	    {"{\"resolution\":100}", "resolution"},
	    {"{\"resolution\":\"300\"}", "resolution"},
	    {"{\"mode\":\"sepia\"}", "mode"},
	    {"{\"colour\":1}", "colour"},
	    {"{\"source\":\"tray\"}", "source"},
	    {"{\"duplex\":\"yes\"}", "duplex"},
	    {"{\"duplex\":true,\"source\":\"flatbed\"}", "flatbed"},
	    {"{\"duplex\":false,\"source\":\"adf-duplex\"}", "duplex"},
	    {"[1]", "object"},
	    {"{", "JSON"},
	};
	static const char *const good[] = {
	    "{\"source\":\"adf\",\"duplex\":false,\"resolution\":300,\"mode\":\"gray\"}",
	    "{}",
	    "",
	    "{\"name\":\"Giấy khai sinh\",\"duplex\":true}",
	    "{\"resolution\":1200,\"mode\":\"lineart\",\"source\":\"flatbed\"}",
	};
	CASE("check()");
	set_config("device", "test:0", NULL);
	if (start() != 0)
		return;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msg[0] = 0;
		int r = ops->check(ops_data, bad[i][0], msg, sizeof msg);
		CHECK(r == -EINVAL, "%s: %d", bad[i][0], r);
		CHECK(strstr(msg, bad[i][1]) != NULL, "%s: message \"%s\"", bad[i][0], msg);
		fprintf(stderr, "  %s -> %s\n", bad[i][0], msg);
	}
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		msg[0] = 0;
		int r = ops->check(ops_data, good[i], msg, sizeof msg);
		CHECK(r == 0, "%s: %d (%s)", good[i], r, msg);
	}
	stop();
}

static void case_list(void)
{
	char *json = NULL;
	CASE("list_devices");
	set_config(NULL);
	if (start() != 0)
		return;
	int r = ops->list_devices(ops_data, &json);
	CHECK(r == 0 && json, "list_devices: %d", r);
	if (json) {
		fprintf(stderr, "  %s\n", json);
		CHECK(json[0] == '[', "not an array: %s", json);
		CHECK(strstr(json, "\"name\":\"test:0\""), "no test:0 in %s", json);
		CHECK(strstr(json, "\"vendor\":") && strstr(json, "\"model\":") &&
			  strstr(json, "\"type\":"),
		      "fields missing in %s", json);
	}
	free(json);
	stop();
}

static void case_flatbed_color(void)
{
	struct capture c;
	CASE("flatbed colour 300 dpi");
	set_config("device", "test:0", "device_options", "test-picture=Color pattern", NULL);
	if (start() != 0)
		return;
	int r = run(&c, "{\"name\":\"CCCD\"}");
	CHECK(r == 0, "capture: %d %s", r, c.io->message);
	CHECK(c.n_pages == 1, "%d pages", c.n_pages);
	if (c.n_pages == 1) {
		struct page *p = &c.pages[0];
		CHECK(!strcmp(p->media_type, "image/jpeg"), "%s", p->media_type);
		CHECK(p->depth == 32, "depth %d", p->depth);
		CHECK(p->xres == 300, "xres %d", p->xres);
		/* a4 is clamped to the test device's 200x200 mm */
		CHECK(abs(p->w - 2362) <= 2 && abs(p->h - 2362) <= 2, "%dx%d", p->w, p->h);
	}
	CHECK(c.n_progress >= 5, "only %d progress events", c.n_progress);
	capture_done(&c);
	stop();
}

static void case_adf_gray(void)
{
	struct capture c;
	CASE("feeder gray Grid: 10 sheets, then empty");
	set_config("device", "test:0", "source", "adf", "mode", "gray", "resolution", "200",
		   "device_options", "test-picture=grid", NULL);
	if (start() != 0)
		return;
	int r = run(&c, NULL);
	CHECK(r == 0, "capture: %d %s", r, c.io->message);
	CHECK(c.n_pages == 10, "%d pages", c.n_pages);
	for (int i = 0; i < c.n_pages && i < 10; i++) {
		CHECK(!strcmp(c.pages[i].media_type, "image/png"), "page %d %s", i,
		      c.pages[i].media_type);
		CHECK(c.pages[i].depth == 8, "page %d depth %d", i, c.pages[i].depth);
		CHECK(c.pages[i].xres == 200, "page %d xres %d", i, c.pages[i].xres);
	}
	capture_done(&c);

	/* A second batch opens the device again: the test backend's feeder is
	 * full again then (SANE 1.1/1.2); were it not, the feeder is empty. */
	r = run(&c, "{\"source\":\"adf\"}");
	CHECK((r == 0 && c.n_pages == 10) ||
		  (r == -ENOMEDIUM && strstr(c.io->message, "feeder is empty")),
	      "second batch: %d %s", r, c.io->message);
	capture_done(&c);

	/* max_pages: options from the request override the config */
	stop();
	set_config("device", "test:0", "source", "flatbed", "max_pages", "3", "mode", "color",
		   "device_options", "test-picture=Grid", NULL);
	if (start() != 0)
		return;
	r = run(&c, "{\"source\":\"adf\",\"mode\":\"lineart\",\"resolution\":200}");
	CHECK(r == 0, "capture: %d %s", r, c.io->message);
	CHECK(c.n_pages == 3, "max_pages 3 gave %d pages", c.n_pages);
	CHECK(strstr(c.io->message, "max_pages"), "message \"%s\"", c.io->message);
	for (int i = 0; i < c.n_pages && i < 3; i++)
		CHECK(c.pages[i].depth == 1 && !strcmp(c.pages[i].media_type, "image/png"),
		      "lineart page %d: depth %d %s", i, c.pages[i].depth, c.pages[i].media_type);
	capture_done(&c);
	stop();
}

static void case_blank(void)
{
	struct capture c;
	CASE("blank pages");
	set_config("device", "test:0", "source", "adf", "resolution", "200", "mode", "gray",
		   "blank_threshold", "0.5", "device_options", "test-picture=Solid white", NULL);
	if (start() != 0)
		return;
	int r = run(&c, NULL);
	CHECK(r == -ENOMEDIUM, "all blank: %d", r);
	CHECK(strstr(c.io->message, "blank"), "message \"%s\"", c.io->message);
	CHECK(c.n_pages == 0, "%d pages kept", c.n_pages);
	CHECK(c.n_blank == 10, "%d blank progress events", c.n_blank);
	capture_done(&c);
	r = run(&c, "{\"source\":\"flatbed\"}");
	CHECK(r == -ENOMEDIUM && strstr(c.io->message, "blank"), "flatbed blank: %d %s", r,
	      c.io->message);
	capture_done(&c);
	stop();

	/* A grid is ink; so is a black page. With the check off, white is kept. */
	set_config("device", "test:0", "resolution", "200", "mode", "gray", "blank_threshold", "0",
		   "device_options", "test-picture=Solid white", NULL);
	if (start() != 0)
		return;
	r = run(&c, NULL);
	CHECK(r == 0 && c.n_pages == 1, "blank check off: %d, %d pages", r, c.n_pages);
	capture_done(&c);
	stop();
	set_config("device", "test:0", "resolution", "200", "mode", "gray", "blank_threshold", "5",
		   "device_options", "test-picture=Grid", NULL);
	if (start() != 0)
		return;
	r = run(&c, NULL);
	CHECK(r == 0 && c.n_pages == 1, "grid with 5%% threshold: %d, %d pages", r, c.n_pages);
	capture_done(&c);
	stop();
}

static void case_status(const char *status, int want_r, const char *want_msg, const char *source)
{
	struct capture c;
	char devopts[128];
	char name[160];
	snprintf(name, sizeof name, "read-return-value %s (%s)", status, source);
	CASE(name);
	snprintf(devopts, sizeof devopts, "test-picture=Grid;read-return-value=%s", status);
	set_config("device", "test:0", "source", source, "resolution", "200", "mode", "gray",
		   "device_options", devopts, NULL);
	if (start() != 0)
		return;
	int r = run(&c, NULL);
	CHECK(r == want_r, "%s: %d, want %d", status, r, want_r);
	CHECK(strstr(c.io->message, want_msg), "%s: message \"%s\"", status, c.io->message);
	CHECK(c.n_pages == 0, "%d pages", c.n_pages);
	capture_done(&c);
	stop();
}

static void case_device_errors(void)
{
	struct capture c;
	CASE("device nope");
	set_config("device", "nope", NULL);
	if (start() != 0)
		return;
	int r = run(&c, NULL);
	CHECK(r == -ENODEV, "%d", r);
	CHECK(strstr(c.io->message, "not connected") && strstr(c.io->message, "nope"), "\"%s\"",
	      c.io->message);
	capture_done(&c);
	stop();

	CASE("unknown device option");
	set_config("device", "test:0", "device_options", "test-picture=Grid;no-such-option=1",
		   NULL);
	if (start() != 0)
		return;
	r = run(&c, NULL);
	CHECK(r == -EINVAL && strstr(c.io->message, "no-such-option"), "%d \"%s\"", r,
	      c.io->message);
	capture_done(&c);
	stop();

	CASE("bad device option value");
	set_config("device", "test:0", "device_options", "test-picture=Sunset", NULL);
	if (start() != 0)
		return;
	r = run(&c, NULL);
	CHECK(r == -EINVAL && strstr(c.io->message, "Sunset") && strstr(c.io->message, "Grid"),
	      "%d \"%s\"", r, c.io->message);
	capture_done(&c);
	stop();

	CASE("feeder asked of a scanner without one");
	char devopts[256];
	snprintf(devopts, sizeof devopts, "filename=%s/page.pgm", tmp_root);
	set_config("device", "pnm:0", "source", "adf", "device_options", devopts, NULL);
	if (start() != 0)
		return;
	r = run(&c, NULL);
	CHECK(r == -EINVAL && strstr(c.io->message, "no document feeder"), "%d \"%s\"", r,
	      c.io->message);
	capture_done(&c);
	stop();
}

/* The pnm backend scans our own files: the pixels must come back unchanged. */
static void case_pnm(void)
{
	struct capture c;
	char devopts[256];
	CASE("pnm gray, resolution 600 -> 300");
	snprintf(devopts, sizeof devopts, "filename=%s/page.pgm", tmp_root);
	set_config("device", "pnm:0", "mode", "gray", "resolution", "600", "blank_threshold", "0",
		   "device_options", devopts, NULL);
	if (start() != 0)
		return;
	capture_init(&c, NULL);
	c.keep_pix = 1;
	int r = capture_go(&c);
	CHECK(r == 0 && c.n_pages == 1, "%d %s, %d pages", r, c.io->message, c.n_pages);
	CHECK(log_has("using 300 dpi"), "no log of the nearest resolution");
	if (c.n_pages == 1 && c.pages[0].pix) {
		PIX *pix = c.pages[0].pix;
		CHECK(pixGetDepth(pix) == 8 && pixGetWidth(pix) == IMG_W &&
			  pixGetHeight(pix) == IMG_H,
		      "%dx%dx%d", pixGetWidth(pix), pixGetHeight(pix), pixGetDepth(pix));
		CHECK(pixGetXRes(pix) == 300, "xres %d", pixGetXRes(pix));
		int bad = 0;
		for (int y = 0; y < IMG_H && pixGetDepth(pix) == 8; y++)
			for (int x = 0; x < IMG_W; x++) {
				l_uint32 v;
				pixGetPixel(pix, x, y, &v);
				bad += v != gray_at(x, y);
			}
		CHECK(bad == 0, "%d pixels differ", bad);
	}
	capture_done(&c);
	stop();

	static const char *const variants[] = {"", ";three-pass=yes", ";hand-scanner=yes",
					       ";three-pass=yes;hand-scanner=yes"};
	for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
		char name[96];
		snprintf(name, sizeof name, "pnm colour%s", variants[v]);
		CASE(name);
		snprintf(devopts, sizeof devopts, "filename=%s/page.ppm%s", tmp_root, variants[v]);
		set_config("device", "pnm:0", "mode", "color", "blank_threshold", "0",
			   "device_options", devopts, NULL);
		if (start() != 0)
			return;
		capture_init(&c, NULL);
		c.keep_pix = 1;
		r = capture_go(&c);
		CHECK(r == 0 && c.n_pages == 1, "%d %s, %d pages", r, c.io->message, c.n_pages);
		if (c.n_pages == 1 && c.pages[0].pix) {
			PIX *pix = c.pages[0].pix;
			CHECK(pixGetDepth(pix) == 32 && pixGetWidth(pix) == IMG_W &&
				  pixGetHeight(pix) == IMG_H,
			      "%dx%dx%d", pixGetWidth(pix), pixGetHeight(pix), pixGetDepth(pix));
			double err = 0;
			for (int y = 0; y < IMG_H && pixGetDepth(pix) == 32; y++)
				for (int x = 0; x < IMG_W; x++) {
					l_int32 rv, gv, bv;
					unsigned char want[3];
					pixGetRGBPixel(pix, x, y, &rv, &gv, &bv);
					rgb_at(x, y, want);
					err += abs(rv - want[0]) + abs(gv - want[1]) +
					       abs(bv - want[2]);
				}
			err /= IMG_W * IMG_H * 3;
			CHECK(err < 8.0, "mean error %.2f per sample (JPEG)", err);
		}
		capture_done(&c);
		stop();
	}

	CASE("pnm 1-bit -> lineart");
	snprintf(devopts, sizeof devopts, "filename=%s/page.pbm", tmp_root);
	set_config("device", "pnm:0", "mode", "lineart", "device_options", devopts, NULL);
	if (start() != 0)
		return;
	capture_init(&c, NULL);
	c.keep_pix = 1;
	r = capture_go(&c);
	CHECK(r == 0 && c.n_pages == 1, "%d %s, %d pages", r, c.io->message, c.n_pages);
	if (c.n_pages == 1 && c.pages[0].pix) {
		PIX *pix = c.pages[0].pix;
		CHECK(pixGetDepth(pix) == 1 && pixGetWidth(pix) == IMG_W &&
			  pixGetHeight(pix) == IMG_H,
		      "%dx%dx%d", pixGetWidth(pix), pixGetHeight(pix), pixGetDepth(pix));
		int bad = 0;
		for (int y = 0; y < IMG_H && pixGetDepth(pix) == 1; y++)
			for (int x = 0; x < IMG_W; x++) {
				l_uint32 v;
				pixGetPixel(pix, x, y, &v);
				bad += v != (gray_at(x, y) < 100);
			}
		CHECK(bad == 0, "%d pixels differ", bad);
	}
	capture_done(&c);
	stop();
}

/*
 * The 16-bit test pictures differ from the 8-bit ones, so they are checked
 * against what scanimage makes of the same scan (big-endian 16-bit PNM), high
 * bytes only. NULL when scanimage is not installed.
 */
static PIX *scanimage_ref(const char *mode, const char *picture)
{
	char cmd[512];
	int w = 0, h = 0, maxval = 0, ch, fields = 0;
	char magic[3] = "";
	snprintf(cmd, sizeof cmd,
		 "scanimage -d test:0 --mode %s --depth 16 --test-picture '%s' "
		 "--resolution 200 -l 0 -t 0 -x 200 -y 200 --format=pnm 2>/dev/null",
		 mode, picture);
	FILE *f = popen(cmd, "r");
	if (!f)
		return NULL;
	if (fread(magic, 1, 2, f) != 2 || magic[0] != 'P' || (magic[1] != '5' && magic[1] != '6')) {
		pclose(f);
		return NULL;
	}
	while (fields < 3 && (ch = getc(f)) != EOF) {
		if (ch == '#') {
			while ((ch = getc(f)) != EOF && ch != '\n')
				;
		} else if (ch >= '0' && ch <= '9') {
			int v = ch - '0';
			while ((ch = getc(f)) >= '0' && ch <= '9')
				v = v * 10 + ch - '0';
			if (fields == 0)
				w = v;
			else if (fields == 1)
				h = v;
			else
				maxval = v;
			fields++;
		}
	}
	PIX *pix = fields == 3 && maxval == 65535 && w > 0 && h > 0
		       ? pixCreate(w, h, magic[1] == '5' ? 8 : 32)
		       : NULL;
	int spp = magic[1] == '5' ? 1 : 3;
	for (int y = 0; pix && y < h; y++)
		for (int x = 0; x < w; x++) {
			int v[3];
			for (int i = 0; i < spp; i++) {
				v[i] = getc(f);
				getc(f); /* low byte */
			}
			if (spp == 1)
				pixSetPixel(pix, x, y, (l_uint32)v[0]);
			else
				pixSetRGBPixel(pix, x, y, v[0], v[1], v[2]);
		}
	int bad = ferror(f) || feof(f);
	if (pclose(f) != 0 || bad)
		pixDestroy(&pix);
	return pix;
}

static double mean_difference(PIX *a, PIX *b)
{
	l_float32 dr = 255, dg = 255, db = 255;
	if (pixGetWidth(a) != pixGetWidth(b) || pixGetHeight(a) != pixGetHeight(b) ||
	    pixGetDepth(a) != pixGetDepth(b))
		return 255;
	PIX *delta = pixAbsDifference(a, b);
	if (pixGetDepth(a) == 32) {
		pixGetAverageMaskedRGB(delta, NULL, 0, 0, 1, L_MEAN_ABSVAL, &dr, &dg, &db);
	} else {
		pixGetAverageMasked(delta, NULL, 0, 0, 1, L_MEAN_ABSVAL, &dr);
		dg = db = dr;
	}
	pixDestroy(&delta);
	return (dr + dg + db) / 3;
}

/* Frames of other shapes from the test backend must give the same picture. */
static void case_frames(void)
{
	static const struct {
		const char *name, *mode, *devopts;
	} shapes[] = {
	    {"gray 8", "gray", "test-picture=Grid"},
	    {"gray 16", "gray", "test-picture=Grid;depth=16"},
	    {"gray 1", "gray", "test-picture=Grid;depth=1"},
	    {"lineart (thresholded gray)", "lineart", "test-picture=Grid"},
	    {"gray, 7 pixels lost per line", "gray", "test-picture=Grid;ppl-loss=7"},
	    {"gray, hand scanner", "gray", "test-picture=Grid;hand-scanner=yes"},
	    {"colour 8", "color", "test-picture=Color pattern"},
	    {"colour 16", "color", "test-picture=Color pattern;depth=16"},
	    {"gray 16 pattern", "gray", "test-picture=Color pattern;depth=16"},
	    {"colour three-pass", "color", "test-picture=Color pattern;three-pass=yes"},
	    {"colour three-pass BGR", "color",
	     "test-picture=Color pattern;three-pass=yes;three-pass-order=BGR"},
	    {"colour, read-limit 333 bytes", "color",
	     "test-picture=Color pattern;read-limit=yes;read-limit-size=333"},
	};
	PIX *ref_gray = NULL, *ref_color = NULL;
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		struct capture c;
		char name[96];
		snprintf(name, sizeof name, "frames: %s", shapes[i].name);
		CASE(name);
		set_config("device", "test:0", "mode", shapes[i].mode, "resolution", "200",
			   "blank_threshold", "0", "device_options", shapes[i].devopts, NULL);
		if (start() != 0)
			return;
		capture_init(&c, NULL);
		c.keep_pix = 1;
		int r = capture_go(&c);
		CHECK(r == 0 && c.n_pages == 1, "%d %s, %d pages", r, c.io->message, c.n_pages);
		PIX *pix = c.n_pages == 1 ? c.pages[0].pix : NULL;
		if (pix) {
			int w = pixGetWidth(pix), h = pixGetHeight(pix), d = pixGetDepth(pix);
			fprintf(stderr, "  %dx%dx%d\n", w, h, d);
			CHECK(pixGetXRes(pix) == 200, "xres %d", pixGetXRes(pix));
			if (strstr(shapes[i].devopts, "hand-scanner")) {
				CHECK(abs(w - 866) <= 2 && h > 100, "hand scanner %dx%d", w, h);
			} else if (strstr(shapes[i].devopts, "ppl-loss")) {
				CHECK(ref_gray && w == pixGetWidth(ref_gray) - 7 &&
					  h == pixGetHeight(ref_gray),
				      "%dx%d", w, h);
			} else if (!strcmp(shapes[i].mode, "lineart")) {
				CHECK(d == 1, "lineart depth %d", d);
			} else if (strstr(shapes[i].devopts, "Color pattern;depth=16")) {
				int gray = !strcmp(shapes[i].mode, "gray");
				PIX *ref = scanimage_ref(gray ? "Gray" : "Color", "Color pattern");
				if (!ref) {
					fprintf(stderr,
						"  scanimage is not available: 16-bit values "
						"not cross-checked\n");
				} else {
					double diff = mean_difference(pix, ref);
					fprintf(stderr, "  mean difference from scanimage: %.3f\n",
						diff);
					/* gray is lossless PNG; colour went through JPEG */
					CHECK(gray ? diff == 0 : diff < 3,
					      "differs from scanimage's "
					      "16-bit scan by %.3f",
					      diff);
				}
				pixDestroy(&ref);
			} else if (!strcmp(shapes[i].mode, "gray")) {
				CHECK(d == 8, "gray depth %d", d);
				l_int32 same = 0;
				if (!ref_gray)
					ref_gray = pixClone(pix);
				else
					pixEqual(pix, ref_gray, &same);
				CHECK(ref_gray == pix || same, "differs from the 8-bit gray scan");
			} else {
				CHECK(d == 32, "colour depth %d", d);
				if (!ref_color) {
					ref_color = pixClone(pix);
				} else {
					double diff = mean_difference(pix, ref_color);
					CHECK(diff < 1,
					      "differs from the 8-bit colour scan by %.3f", diff);
				}
			}
		}
		capture_done(&c);
		stop();
	}
	pixDestroy(&ref_gray);
	pixDestroy(&ref_color);
}

static void case_statuses(void)
{
	case_status("SANE_STATUS_JAMMED", -EIO, "jam", "adf");
	case_status("SANE_STATUS_NO_DOCS", -ENOMEDIUM, "feeder is empty", "adf");
	case_status("SANE_STATUS_DEVICE_BUSY", -EBUSY, "busy", "flatbed");
	case_status("SANE_STATUS_COVER_OPEN", -EIO, "cover is open", "flatbed");
	case_status("SANE_STATUS_IO_ERROR", -ENODEV, "not connected (device test:0)", "flatbed");
	case_status("SANE_STATUS_ACCESS_DENIED", -EIO, "access denied", "flatbed");
}

/* The batch reported progress, or ended. */
static bool first_progress(void *arg)
{
	struct capture *c = arg;
	pthread_mutex_lock(&c->lock);
	int n = c->n_progress;
	pthread_mutex_unlock(&c->lock);
	return n > 0 || !c->cap || motcua_testhost_capture_ended(c->cap);
}

static void case_busy(void)
{
	struct capture c1, c2;
	char *json = NULL;
	CASE("a second batch while one runs");
	set_config("device", "test:0", "source", "adf", "mode", "gray", "resolution", "200",
		   "device_options", "test-picture=Grid;read-delay=yes;read-delay-duration=2000",
		   NULL);
	if (start() != 0)
		return;
	capture_init(&c1, NULL);
	c1.cancel_after = 2;
	capture_start(&c1);
	motcua_testhost_wait_until(th, first_progress, &c1, -1);

	int r = run(&c2, NULL);
	CHECK(r == -EBUSY && strstr(c2.io->message, "busy with another batch"), "%d \"%s\"", r,
	      c2.io->message);
	capture_done(&c2);

	r = ops->list_devices(ops_data, &json);
	CHECK(r == 0 && json && strstr(json, "test:0"), "list while busy: %d %s", r,
	      json ? json : "");
	free(json);

	capture_wait(&c1);
	fprintf(stderr, "  first batch -> %d, %d pages, \"%s\"\n", c1.result, c1.n_pages,
		c1.io->message);
	CHECK(c1.result == -ECANCELED && c1.n_pages == 2, "cancelled batch: %d, %d pages",
	      c1.result, c1.n_pages);
	CHECK(strstr(c1.io->message, "2 pages saved"), "\"%s\"", c1.io->message);
	capture_done(&c1);

	r = run(&c2, "{\"source\":\"flatbed\"}");
	CHECK(r == 0 && c2.n_pages == 1, "after the busy one: %d %s", r, c2.io->message);
	capture_done(&c2);
	stop();
}

/* The SANE driver runs in its own process: one that dies (a backend that
 * crashes) or hangs fails the batch with a reason, keeps the pages handed
 * over, and the next batch works. */
static void case_driver_dies(void)
{
	struct capture c;
	CASE("the driver process dies mid-batch");
	set_config("device", "test:0", "source", "adf", "mode", "gray", "resolution", "200",
		   "device_options", "test-picture=Grid", NULL);
	if (start() != 0)
		return;
	capture_init(&c, NULL);
	c.kill_after = 2;
	c.kill_sig = SIGKILL;
	c.result = capture_go(&c);
	CHECK(c.result == -EIO && c.n_pages == 2, "%d, %d pages", c.result, c.n_pages);
	CHECK(strstr(c.io->message, "signal 9") && strstr(c.io->message, "2 pages saved"), "\"%s\"",
	      c.io->message);
	capture_done(&c);
	int r = run(&c, "{\"source\":\"flatbed\"}");
	CHECK(r == 0 && c.n_pages == 1, "the next batch: %d %s", r, c.io->message);
	capture_done(&c);
	stop();

	CASE("the driver hangs: stopped after timeout_s");
	/* stopped (as a deadlocked process is) after its first page */
	set_config("device", "test:0", "source", "adf", "mode", "gray", "resolution", "200",
		   "timeout_s", "5", "device_options", "test-picture=Grid", NULL);
	if (start() != 0)
		return;
	capture_init(&c, NULL);
	c.kill_after = 1;
	c.kill_sig = SIGSTOP;
	r = c.result = capture_go(&c);
	CHECK(r == -EIO && strstr(c.io->message, "said nothing for 5 s") &&
		  strstr(c.io->message, "1 page saved"),
	      "%d \"%s\"", r, c.io->message);
	capture_done(&c);
	stop();
}

static void case_default_device(void)
{
	struct capture c;
	CASE("default device");
	if (set_dll_conf("test\n") < 0)
		return;
	set_config("resolution", "200", "device_options", "test-picture=Grid", NULL);
	if (start() == 0) {
		int r = run(&c, NULL);
		CHECK(r == 0 && c.n_pages == 1, "%d %s", r, c.io->message);
		CHECK(log_has("test:0"), "did not use test:0");
		capture_done(&c);
		stop();
	}
	set_dll_conf("test\npnm\n");
}

/*
 * Runs a case in a child process. A child that hangs is killed and the case
 * run again (at most three times): SANE's sanei_thread can deadlock a process
 * (see main()), rarely, and only inside SANE; a hang of the plugin's own would
 * come back every time and fail the case.
 */
static int n_hangs;

static void run_case(const char *name, void (*fn)(void))
{
	const char *env = getenv("TEST_SCAN_SANE_CASE_TIMEOUT");
	long timeout_ms = (env ? atol(env) : 20) * 1000;
	for (int attempt = 1; attempt <= 3; attempt++) {
		int status = 0;
		long waited = 0;
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			failures++;
			return;
		}
		if (pid == 0) {
			fn();
			current_case = name;
			/* the plugin reads its own section only, and keeps the contract */
			for (size_t i = 0; i < motcua_testhost_config_read_count(th); i++) {
				const char *section, *key;
				motcua_testhost_config_read(th, i, &section, &key);
				CHECK(section == NULL, "config_get(%s, %s)", section, key);
			}
			CHECK(motcua_testhost_violations(th) == 0,
			      "the plugin broke the host's contract");
			fflush(NULL);
			exit(failures ? 1 : 0);
		}
		while (waitpid(pid, &status, WNOHANG) == 0 && waited < timeout_ms) {
			usleep(20 * 1000);
			waited += 20;
		}
		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			n_hangs++;
			fprintf(stderr,
				"HANG [%s] attempt %d hung for %ld s inside SANE: killed, "
				"running it again\n",
				name, attempt, timeout_ms / 1000);
			continue;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "FAIL [%s] the case's process ended with status 0x%x\n",
				name, status);
			failures++;
		}
		return;
	}
	fprintf(stderr, "FAIL [%s] hung three times\n", name);
	failures++;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s path/to/scan-sane.so\n", argv[0]);
		return 2;
	}
	/* the test backend is SANE's (libsane1), which packaging/install-deps.sh
	 * installs: no hardware is needed, and its absence is a failure */
	if (!test_backend_installed()) {
		fprintf(stderr,
			"FAIL: SANE's test backend (libsane-test.so.1, libsane1) is not installed: "
			"packaging/install-deps.sh test\n");
		return 1;
	}
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tmp_root, sizeof tmp_root, "%s/test-scan-sane-XXXXXX", tmp);
	if (!mkdtemp(tmp_root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sane_dir, sizeof sane_dir, "%s/sane.d", tmp_root);
	if (mkdir(sane_dir, 0700) < 0 || set_dll_conf("test\npnm\n") < 0 ||
	    copy_file("/etc/sane.d/test.conf", sane_dir, "test.conf") < 0 || write_pnms() < 0) {
		/* test.conf is optional: the backend has built-in defaults */
		if (access(sane_dir, F_OK) < 0) {
			perror(sane_dir);
			return 1;
		}
	}
	setenv("SANE_CONFIG_DIR", sane_dir, 1);

	/*
	 * Works around a SANE bug, not one of the plugin: sanei_thread (the test
	 * backend's reader, and that of several real backends) runs its reader
	 * thread with PTHREAD_CANCEL_ASYNCHRONOUS and pthread_cancel()s it from
	 * sane_cancel() / the end of a page. A reader cancelled inside malloc() or
	 * free() leaves its arena locked and the next scan hangs. Large blocks
	 * from mmap() (a fixed threshold) and no free() perturbation (meson sets
	 * MALLOC_PERTURB_, which makes free() of a page buffer slow) shrink that
	 * window. The plugin itself loads glibc's unwinder in init (the same
	 * race, under the dynamic loader's lock) and waits a little before
	 * cancelling a page that failed half-way. What remains is rare, and
	 * run_case() retries it.
	 */
	mallopt(M_PERTURB, 0);
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);

	th = motcua_testhost_new();
	if (!th || motcua_testhost_load(th, argv[1]) < 0) {
		fprintf(stderr, "FAIL: %s\n", th ? motcua_testhost_error(th) : "no test host");
		return 1;
	}
	const struct motcua_plugin_info *info = motcua_testhost_info(th);
	CHECK(info->abi == MOTCUA_ABI_VERSION && !strcmp(info->name, "scan-sane") &&
		  info->provides == MOTCUA_PROVIDES_CAPTURE,
	      "plugin info");
	for (const struct motcua_config_key *k = info->config_keys; k && k->name; k++)
		CHECK(k->help && *k->help, "key %s has no help", k->name);

	run_case("config", case_config);
	run_case("check", case_check);
	run_case("list", case_list);
	run_case("flatbed colour", case_flatbed_color);
	run_case("feeder gray", case_adf_gray);
	run_case("blank", case_blank);
	run_case("statuses", case_statuses);
	run_case("device errors", case_device_errors);
	run_case("pnm", case_pnm);
	run_case("frames", case_frames);
	run_case("busy", case_busy);
	run_case("driver dies", case_driver_dies);
	run_case("default device", case_default_device);

	remove_tree();
	/* The module stays loaded: SANE backends may leave threads behind. */
	setenv("MOTCUA_DEBUG_NO_DLCLOSE", "1", 1);
	motcua_testhost_free(th);
	fprintf(stderr, "%s: %d failure%s, %d hang%s of SANE's retried\n",
		failures ? "FAILED" : "passed", failures, failures == 1 ? "" : "s", n_hangs,
		n_hangs == 1 ? "" : "s");
	return failures ? 1 : 0;
}
