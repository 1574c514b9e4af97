/* SPDX-License-Identifier: MIT */
/*
 * test-adapter-dvcqg: loads the built adapter-dvcqg.so ($DVCQG_PLUGIN)
 * through the SDK's test host (motcua/testhost.h) and drives it against a
 * stand-in portal (tests/portal.py, a real HTTP server on 127.0.0.1) that requires a
 * login, checks the shape and the dates, and records every call.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <motcua/plugin.h>
#include <motcua/testhost.h>

#include "secret-cases.h"

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

/* ---- the test host (motcua/testhost.h) ------------------------------------------------ */

static struct motcua_testhost *th;
static const struct motcua_adapter_ops *ops;
static void *ops_data;

static const char *last_error(void)
{
	return motcua_testhost_log_last_error(th);
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
	ops = motcua_testhost_adapter_ops(th, &ops_data);
	if (r == 0) {
		CHECK(motcua_testhost_registrations(th) == 1 && ops && ops->deliver && ops->accepts,
		      "not registered");
		CHECK(ops && ops->struct_size >= sizeof *ops, "ops struct_size %u",
		      ops ? ops->struct_size : 0);
	}
	return r;
}

static void stop(void)
{
	motcua_testhost_stop(th);
	ops = NULL;
}

/* ---- the stand-in portal ------------------------------------------------------------- */

static char root[256], portal_log[300], good_pw[300], wrong_pw[300], open_pw[300], url[64];
static int port;
static pid_t portal_pid;

static int start_portal(void)
{
	const char *python = getenv("DVCQG_PYTHON"), *script = getenv("DVCQG_PORTAL");
	char port_file[300];
	snprintf(port_file, sizeof port_file, "%s/port", root);
	snprintf(portal_log, sizeof portal_log, "%s/portal.jsonl", root);
	portal_pid = fork();
	if (portal_pid == 0) {
		execl(python, python, script, "--port-file", port_file, "--log", portal_log,
		      "--user", "motcua", "--password", "mat-khau-1", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(port_file, "r");
		if (f) {
			int ok = fscanf(f, "%d", &port) == 1;
			fclose(f);
			if (ok) {
				snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
				return 0;
			}
		}
		usleep(50000);
	}
	return -1;
}

static void stop_portal(void)
{
	if (portal_pid > 0) {
		kill(portal_pid, SIGTERM);
		waitpid(portal_pid, NULL, 0);
	}
}

/* A tiny HTTP POST to the portal's control routes. */
static void control(const char *path, const char *body)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		CHECK(0, "control %s: %s", path, strerror(errno));
		close(fd);
		return;
	}
	char req[512];
	int n = snprintf(req, sizeof req,
			 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 path, strlen(body), body);
	CHECK(write(fd, req, (size_t)n) == n, "control write");
	char buf[512];
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
}

static void set_mode(const char *mode)
{
	char body[64];
	snprintf(body, sizeof body, "{\"mode\": \"%s\"}", mode);
	control("/control/mode", body);
}

/* The portal's record of calls, from line `from` on, as a JSON array. */
static json_t *calls_since(size_t from)
{
	json_t *arr = json_array();
	FILE *f = fopen(portal_log, "r");
	if (!f)
		return arr;
	char *line = NULL;
	size_t cap = 0, i = 0;
	while (getline(&line, &cap, f) > 0)
		if (i++ >= from)
			json_array_append_new(arr, json_loads(line, 0, NULL));
	free(line);
	fclose(f);
	return arr;
}

static size_t n_calls(void)
{
	json_t *a = calls_since(0);
	size_t n = json_array_size(a);
	json_decref(a);
	return n;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write %s", path);
	fchmod(fd, mode);
	close(fd);
}

/* ---- deliveries ------------------------------------------------------------------------ */

static const char *DOSSIER_NEW =
    "{\"code\": \"000.00.12.H50-261128-0007\", \"procedure_code\": \"1.001612\","
    " \"procedure_name\": \"Đăng ký khai sinh\","
    " \"applicant\": {\"name\": \"Nguyễn Văn An\", \"id_number\": \"079203001234\", \"phone\": "
    "\"0901234567\"},"
    " \"channel\": 1, \"status\": 1,"
    " \"received_at\": \"2026-11-27T17:30:05Z\", \"updated_at\": \"2026-11-28T00:30:05+07:00\","
    " \"due_at\": \"2026-12-04T16:59:59+07:00\", \"documents\": []}";

static const char *DOSSIER_DONE =
    "{\"code\": \"000.00.12.H50-261128-0007\", \"procedure_code\": \"1.001612\","
    " \"procedure_name\": \"Đăng ký khai sinh\","
    " \"applicant\": {\"name\": \"Nguyễn Văn An\", \"id_number\": \"079203001234\", \"phone\": "
    "null},"
    " \"channel\": 2, \"status\": 4,"
    " \"received_at\": \"2026-11-28T00:30:05+07:00\", \"updated_at\": "
    "\"2026-12-02T06:15:00+07:00\","
    " \"due_at\": null, \"documents\": ["
    "  {\"id\": \"d1\", \"name\": \"Tờ khai.pdf\", \"type\": \"to-khai\", \"media_type\": "
    "\"application/pdf\","
    "   \"state\": \"done\", \"sha256\": \"ab\", \"size\": 1234, \"signature\": {\"level\": "
    "\"B-T\"},"
    "   \"path\": \"/nonexistent/d1.pdf\", \"sidecar_path\": null},"
    "  {\"id\": \"d2\", \"name\": \"Giấy khai sinh.pdf\", \"type\": \"ket-qua\", \"media_type\": "
    "\"application/pdf\","
    "   \"state\": \"done\", \"sha256\": \"cd\", \"size\": 99, \"signature\": null,"
    "   \"path\": \"/nonexistent/d2.pdf\", \"sidecar_path\": null},"
    "  {\"id\": \"d3\", \"name\": \"hỏng.pdf\", \"type\": null, \"media_type\": "
    "\"application/pdf\","
    "   \"state\": \"failed\", \"sha256\": \"ef\", \"size\": 1, \"signature\": null,"
    "   \"path\": null, \"sidecar_path\": null}]}";

static int deliver(const char *key, const char *type, const char *event, const char *dossier,
		   struct motcua_delivery *d)
{
	memset(d, 0, sizeof *d);
	d->struct_size = sizeof *d;
	d->id = 1;
	d->idempotency_key = key;
	d->destination = "adapter-dvcqg";
	d->dossier_code = "000.00.12.H50-261128-0007";
	d->event_type = type;
	d->event_json = event;
	d->dossier_json = dossier;
	d->attempt = 1;
	int r = ops->deliver(ops_data, d);
	fprintf(stderr, "  deliver %s %s -> %d (%s) ref '%s'\n", key, type, r, d->message,
		d->peer_ref);
	return r;
}

static const char *jstr(json_t *o, const char *path)
{
	/* path: keys separated by '.', numbers index arrays */
	char buf[200];
	snprintf(buf, sizeof buf, "%s", path);
	json_t *cur = o;
	for (char *save, *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
		cur = json_is_array(cur) ? json_array_get(cur, strtoul(k, NULL, 10))
					 : json_object_get(cur, k);
	if (json_is_string(cur))
		return json_string_value(cur);
	static char num[32];
	if (json_is_integer(cur)) {
		snprintf(num, sizeof num, "%lld", (long long)json_integer_value(cur));
		return num;
	}
	if (json_is_boolean(cur))
		return json_is_true(cur) ? "true" : "false";
	return cur ? "(other)" : "(none)";
}

#define CHECK_AT(o, path, want)                                                                    \
	do {                                                                                       \
		const char *got_ = jstr((o), (path));                                              \
		CHECK(!strcmp(got_, (want)), "%s = '%s', want '%s'", (path), got_, (want));        \
	} while (0)

static void start_good(const char *extra_key, const char *extra_val)
{
	set_config("url", url, "username", "motcua", "password_file", good_pw, "timeout_s", "2",
		   "procedures", "1.001612, 2.000488", extra_key, extra_val, (const char *)NULL);
	CHECK(start() == 0, "init: %s", last_error());
}

/* ---- the cases ------------------------------------------------------------------------ */

static void test_config(void)
{
	current_case = "config";
	set_config("url", url, "username", "motcua", "password_file", open_pw, (const char *)NULL);
	CHECK(start() == -EPERM, "a password file others can read was taken");
	CHECK(strstr(last_error(), "chmod 600"), "%s", last_error());
	stop();
	set_config("url", "ftp://x", "username", "motcua", "password_file", good_pw,
		   (const char *)NULL);
	CHECK(start() == -EINVAL && strstr(last_error(), "url"), "%s", last_error());
	stop();
	set_config("url", url, "password_file", good_pw, (const char *)NULL);
	CHECK(start() == -EINVAL && strstr(last_error(), "username"), "%s", last_error());
	stop();
	set_config("url", url, "username", "u", "password_file", "/nonexistent/pw",
		   (const char *)NULL);
	CHECK(start() == -ENOENT, "%s", last_error());
	stop();
	set_config("url", url, "username", "u", "password_file", good_pw, "timeout_s", "0",
		   (const char *)NULL);
	CHECK(start() == -EINVAL && strstr(last_error(), "timeout_s"), "%s", last_error());
	stop();
}

/* password_file is read through host->secret_read() (secret-cases.h): a
 * symlink, a 0644 file and an empty file are refused with the host's reason,
 * a good file is taken, a host without secret_read is refused. */
static void secret_password(struct motcua_testhost *h, const char *path, void *arg)
{
	(void)h, (void)arg;
	set_config("url", url, "username", "motcua", "password_file", path, (const char *)NULL);
}

static int secret_start(struct motcua_testhost *h, void *arg)
{
	(void)h, (void)arg;
	return start();
}

static void test_secret_files(void)
{
	current_case = "secret files";
	const struct secret_case c = {.key = "password_file",
				      .flags = MOTCUA_SECRET_LINE,
				      .good = good_pw,
				      .configure = secret_password,
				      .start = secret_start};
	failures += secret_cases_run(th, &c);
	stop();
}

static void test_accepts(void)
{
	current_case = "accepts";
	start_good(NULL, NULL);
	CHECK(ops->accepts(ops_data, "1.001612", "dossier.created") == 1, "created");
	CHECK(ops->accepts(ops_data, "2.000488", "document.done") == 1, "document.done");
	CHECK(ops->accepts(ops_data, "1.001612", "dossier.status") == 1, "status");
	CHECK(ops->accepts(ops_data, "1.00161", "dossier.created") == 0, "prefix of a code");
	CHECK(ops->accepts(ops_data, "9.999", "dossier.created") == 0, "other procedure");
	CHECK(ops->accepts(ops_data, "1.001612", "document.failed") == 0, "other event");
	stop();
	set_config("url", url, "username", "motcua", "password_file", good_pw, (const char *)NULL);
	CHECK(start() == 0, "%s", last_error());
	CHECK(ops->accepts(ops_data, "9.999", "dossier.status") == 1, "default * takes all");
	stop();
}

static void test_new_dossier(void)
{
	current_case = "new dossier";
	struct motcua_delivery d;
	size_t mark = n_calls();
	start_good(NULL, NULL);
	CHECK(deliver("k-created-1", "dossier.created", "{\"at\": \"2026-11-28T00:30:05+07:00\"}",
		      DOSSIER_NEW, &d) == 0,
	      "%s", d.message);
	CHECK(!strncmp(d.peer_ref, "DVC-", 4), "peer_ref '%s'", d.peer_ref);
	json_t *calls = calls_since(mark);
	CHECK(json_array_size(calls) == 2, "%zu calls", json_array_size(calls));
	json_t *login = json_array_get(calls, 0), *sync = json_array_get(calls, 1);
	CHECK_AT(login, "path", "/api/auth/login");
	CHECK_AT(login, "status", "200");
	CHECK_AT(login, "body.username", "motcua");
	CHECK_AT(sync, "path", "/api/dvcqg/sync");
	CHECK_AT(sync, "status", "200");
	CHECK_AT(sync, "answer.error_code", "0");
	CHECK_AT(sync, "idempotency_key", "k-created-1");
	CHECK_AT(sync, "body.service", "DongBoHoSoMC");
	CHECK_AT(sync, "body.isUpdating", "false");
	CHECK_AT(sync, "body.madonvi", "000.00.12.H50");
	CHECK_AT(sync, "body.session", jstr(login, "answer.session"));
	json_t *rec = json_array_get(json_object_get(json_object_get(sync, "body"), "data"), 0);
	CHECK_AT(rec, "MaHoSo", "000.00.12.H50-261128-0007");
	CHECK_AT(rec, "MaTTHC", "1.001612");
	CHECK_AT(rec, "TenTTHC", "Đăng ký khai sinh");
	CHECK_AT(rec, "ChuHoSo", "Nguyễn Văn An");
	CHECK_AT(rec, "MaDoiTuong", "079203001234");
	/* 17:30:05 UTC on 27 Nov is 00:30:05 on 28 Nov in Vietnam */
	CHECK_AT(rec, "NgayTiepNhan", "20261128003005");
	CHECK_AT(rec, "NgayHenTra", "20261204165959");
	CHECK_AT(rec, "NgayKetThucXuLy", "(none)");
	CHECK_AT(rec, "TrangThaiHoSo", "1");
	CHECK_AT(rec, "KenhThucHien", "1");
	CHECK(json_array_size(json_object_get(rec, "TaiLieuNop")) == 0, "no documents yet");
	json_decref(calls);
	stop();
}

static void test_status_change(void)
{
	current_case = "status change";
	struct motcua_delivery d;
	start_good(NULL, NULL);
	size_t mark = n_calls();
	CHECK(deliver("k-doc-1", "document.done",
		      "{\"at\": \"2026-11-28T08:00:00+07:00\", \"document_id\": \"d1\"}",
		      DOSSIER_DONE, &d) == 0,
	      "%s", d.message);
	/* 23:15 UTC on 1 Dec is 06:15 on 2 Dec in Vietnam; the status of the
	 * event (10) is newer than the snapshot's (4) */
	CHECK(deliver("k-status-10", "dossier.status",
		      "{\"status\": 10, \"at\": \"2026-12-01T23:15:00.250+00:00\", \"details\": "
		      "{\"note\": \"Đã trả kết quả cho công dân\"}}",
		      DOSSIER_DONE, &d) == 0,
	      "%s", d.message);
	json_t *calls = calls_since(mark);
	/* one login (the session is kept across deliveries), sync, sync + progress */
	CHECK(json_array_size(calls) == 4, "%zu calls", json_array_size(calls));
	json_t *upd = json_array_get(calls, 1), *upd2 = json_array_get(calls, 2),
	       *prog = json_array_get(calls, 3);
	CHECK_AT(json_array_get(calls, 0), "path", "/api/auth/login");
	CHECK_AT(upd, "body.service", "DongBoHoSoMC");
	CHECK_AT(upd, "body.isUpdating", "true");
	CHECK_AT(upd, "idempotency_key", "k-doc-1");
	CHECK_AT(upd, "body.data.0.TrangThaiHoSo", "4");
	CHECK_AT(upd, "body.data.0.KenhThucHien", "2");
	CHECK_AT(upd, "body.data.0.NgayHenTra", "(none)");
	CHECK_AT(upd, "body.data.0.TaiLieuNop.0.TepDinhKemId", "d1");
	CHECK_AT(upd, "body.data.0.TaiLieuNop.0.TenTepDinhKem", "Tờ khai.pdf");
	CHECK_AT(upd, "body.data.0.TaiLieuNop.0.MaThanhPhanHoSo", "to-khai");
	CHECK_AT(upd, "body.data.0.TaiLieuNop.0.CoChuKySo", "true");
	CHECK(json_array_size(json_object_get(
		  json_array_get(json_object_get(json_object_get(upd, "body"), "data"), 0),
		  "TaiLieuNop")) == 1,
	      "the failed document is not sent");
	CHECK_AT(upd, "body.data.0.DanhSachGiayToKetQua.0.GiayToId", "d2");
	CHECK_AT(upd, "body.data.0.DanhSachGiayToKetQua.0.TenGiayTo", "Giấy khai sinh.pdf");
	CHECK_AT(upd, "body.data.0.DanhSachGiayToKetQua.1", "(none)");
	CHECK_AT(upd2, "body.service", "DongBoHoSoMC");
	CHECK_AT(upd2, "body.isUpdating", "true");
	CHECK_AT(upd2, "idempotency_key", "k-status-10");
	CHECK_AT(upd2, "body.data.0.TrangThaiHoSo", "10");
	CHECK_AT(upd2, "body.data.0.NgayKetThucXuLy", "20261202061500");
	CHECK_AT(prog, "body.service", "CapNhatTienDoHoSoMC");
	CHECK_AT(prog, "idempotency_key", "k-status-10.progress");
	CHECK_AT(prog, "status", "200");
	CHECK_AT(prog, "body.data.0.MaHoSo", "000.00.12.H50-261128-0007");
	CHECK_AT(prog, "body.data.0.TrangThaiHoSo", "10");
	CHECK_AT(prog, "body.data.0.ThoiDiemXuLy", "20261202061500");
	CHECK_AT(prog, "body.data.0.NgayBatDau", "20261128003005");
	CHECK_AT(prog, "body.data.0.NoiDungXuLy", "Đã trả kết quả cho công dân");
	CHECK_AT(prog, "body.data.0.DonViXuLy", "000.00.12.H50");
	json_decref(calls);
	stop();
}

static void test_session_expiry(void)
{
	current_case = "session expiry";
	struct motcua_delivery d;
	start_good(NULL, NULL);
	CHECK(deliver("k-e1", "dossier.created", "{}", DOSSIER_NEW, &d) == 0, "%s", d.message);
	control("/control/expire", "{}");
	size_t mark = n_calls();
	CHECK(deliver("k-e2", "document.done", "{}", DOSSIER_DONE, &d) == 0, "%s", d.message);
	json_t *calls = calls_since(mark);
	CHECK(json_array_size(calls) == 3, "%zu calls", json_array_size(calls));
	CHECK_AT(json_array_get(calls, 0), "status", "401");
	CHECK_AT(json_array_get(calls, 0), "idempotency_key", "k-e2");
	CHECK_AT(json_array_get(calls, 1), "path", "/api/auth/login");
	CHECK_AT(json_array_get(calls, 2), "status", "200");
	CHECK_AT(json_array_get(calls, 2), "idempotency_key", "k-e2");
	json_decref(calls);
	stop();
}

struct worker {
	pthread_t t;
	char key[32];
	int r;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	struct motcua_delivery d;
	w->r = deliver(w->key, "document.done", "{}", DOSSIER_DONE, &d);
	return NULL;
}

static void test_concurrent_deliveries(void)
{
	current_case = "concurrent";
	start_good(NULL, NULL);
	control("/control/expire", "{}");
	size_t mark = n_calls();
	struct worker w[8];
	for (int i = 0; i < 8; i++) {
		snprintf(w[i].key, sizeof w[i].key, "k-par-%d", i);
		pthread_create(&w[i].t, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(w[i].t, NULL);
		CHECK(w[i].r == 0, "worker %d: %d", i, w[i].r);
	}
	json_t *calls = calls_since(mark);
	size_t logins = 0, i;
	json_t *c;
	json_array_foreach(calls, i, c) logins += !strcmp(jstr(c, "path"), "/api/auth/login");
	CHECK(logins == 1, "%zu logins for 8 parallel deliveries", logins);
	json_decref(calls);
	stop();
}

static void test_wrong_password(void)
{
	current_case = "wrong password";
	struct motcua_delivery d;
	set_config("url", url, "username", "motcua", "password_file", wrong_pw, (const char *)NULL);
	CHECK(start() == 0, "%s", last_error());
	int r = deliver("k-pw", "dossier.created", "{}", DOSSIER_NEW, &d);
	CHECK(r < 0 && r != -EAGAIN, "wrong password gave %d", r);
	CHECK(strstr(d.message, "login refused") && strstr(d.message, "Sai tên đăng nhập"), "%s",
	      d.message);
	stop();
}

static void test_transient(void)
{
	current_case = "transient";
	struct motcua_delivery d;
	/* nothing listens there */
	set_config("url", "http://127.0.0.1:9/", "username", "motcua", "password_file", good_pw,
		   "timeout_s", "2", (const char *)NULL);
	CHECK(start() == 0, "%s", last_error());
	/* unreachable: retried later, and the outbox pauses the destination */
	CHECK(deliver("k-down", "dossier.created", "{}", DOSSIER_NEW, &d) == -ECONNREFUSED, "%s",
	      d.message);
	CHECK(strstr(d.message, "unreachable"), "%s", d.message);
	stop();
	start_good(NULL, NULL);
	CHECK(deliver("k-t0", "dossier.created", "{}", DOSSIER_NEW, &d) == 0, "%s",
	      d.message); /* logged in */
	set_mode("500");
	CHECK(deliver("k-500", "dossier.created", "{}", DOSSIER_NEW, &d) == -EAGAIN, "%s",
	      d.message);
	CHECK(strstr(d.message, "HTTP 500"), "%s", d.message);
	set_mode("garbage");
	CHECK(deliver("k-garbage", "dossier.created", "{}", DOSSIER_NEW, &d) == -EAGAIN, "%s",
	      d.message);
	set_mode("slow"); /* connected, then no answer: a slow peer, not an unreachable one */
	time_t t0 = time(NULL);
	CHECK(deliver("k-slow", "dossier.created", "{}", DOSSIER_NEW, &d) == -EAGAIN, "%s",
	      d.message);
	CHECK(time(NULL) - t0 <= 4, "timeout_s 2 took %lds", (long)(time(NULL) - t0));
	set_mode("ok");
	CHECK(deliver("k-again", "dossier.created", "{}", DOSSIER_NEW, &d) == 0, "%s", d.message);
	stop();
}

static void test_refused(void)
{
	current_case = "refused";
	struct motcua_delivery d;
	start_good(NULL, NULL);
	set_mode("invalid");
	int r = deliver("k-invalid", "dossier.created", "{}", DOSSIER_NEW, &d);
	CHECK(r < 0 && r != -EAGAIN, "portal data error gave %d", r);
	CHECK(strstr(d.message, "INVALID_DATA") && strstr(d.message, "Mã TTHC không tồn tại"), "%s",
	      d.message);
	set_mode("ok");
	/* what the portal cannot take is refused before it is sent */
	size_t mark = n_calls();
	r = deliver(
	    "k-baddate", "dossier.created", "{}",
	    "{\"code\": \"X-1\", \"procedure_code\": \"1.001612\", \"status\": 1, \"channel\": 1,"
	    " \"received_at\": \"28/11/2026\"}",
	    &d);
	CHECK(r == -EINVAL && strstr(d.message, "NgayTiepNhan"), "%d %s", r, d.message);
	r = deliver("k-nostatus", "dossier.created", "{}",
		    "{\"code\": \"X-1\", \"procedure_code\": \"1.001612\", \"status\": 0,"
		    " \"received_at\": \"2026-11-28T00:00:00+07:00\"}",
		    &d);
	CHECK(r == -EINVAL && strstr(d.message, "status"), "%d %s", r, d.message);
	CHECK(deliver("k-notjson", "dossier.created", "{}", "[1", &d) == -EINVAL, "%s", d.message);
	CHECK(n_calls() == mark, "bad dossiers reached the portal");
	stop();
}

static void test_dates(void)
{
	current_case = "dates";
	/* through the portal's record: offsets other than +07:00 and Z, a leap
	 * day and a year's end */
	static const char *cases[][2] = {
	    {"2024-02-28T20:00:00-05:00", "20240229080000"},
	    {"2026-12-31T17:00:00Z", "20270101000000"},
	    {"2026-06-15T09:05:07", "20260615090507"}, /* no offset: already Vietnam time */
	    {"2026-06-15T09:05:07+0530", "20260615103507"},
	};
	start_good(NULL, NULL);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char dossier[512], key[32];
		struct motcua_delivery d;
		snprintf(dossier, sizeof dossier,
			 "{\"code\": \"X-%zu\", \"procedure_code\": \"1.001612\", \"status\": 2, "
			 "\"channel\": 3,"
			 " \"applicant\": {\"name\": \"A\", \"id_number\": \"1\"}, "
			 "\"received_at\": \"%s\"}",
			 i, cases[i][0]);
		snprintf(key, sizeof key, "k-date-%zu", i);
		size_t mark = n_calls();
		CHECK(deliver(key, "dossier.created", "{}", dossier, &d) == 0, "%s", d.message);
		json_t *calls = calls_since(mark);
		json_t *last = json_array_get(calls, json_array_size(calls) - 1);
		CHECK_AT(last, "body.data.0.NgayTiepNhan", cases[i][1]);
		json_decref(calls);
	}
	stop();
}

int main(void)
{
	const char *plugin = getenv("DVCQG_PLUGIN"), *python = getenv("DVCQG_PYTHON");
	if (!plugin || !getenv("DVCQG_PORTAL")) {
		fprintf(stderr, "DVCQG_PLUGIN and DVCQG_PORTAL must be set\n");
		return 1;
	}
	/* the stand-in portal is Python: a missing python3 is a failure */
	if (!python || motcua_testhost_need_program(python, "python3, for the stand-in portal: "
							    "packaging/install-deps.sh test") < 0)
		return 1;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(root, sizeof root, "%s/test-dvcqg-XXXXXX", tmp);
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(good_pw, sizeof good_pw, "%s/pw-good", root);
	snprintf(wrong_pw, sizeof wrong_pw, "%s/pw-wrong", root);
	snprintf(open_pw, sizeof open_pw, "%s/pw-open", root);
	write_file(good_pw, "mat-khau-1\n", 0600);
	write_file(wrong_pw, "mat-khau-sai\n", 0600);
	write_file(open_pw, "mat-khau-1\n", 0644);
	th = motcua_testhost_new();
	if (!th || motcua_testhost_load(th, plugin) < 0) {
		fprintf(stderr, "FAIL: %s\n", th ? motcua_testhost_error(th) : "no test host");
		return 1;
	}
	const struct motcua_plugin_info *info = motcua_testhost_info(th);
	if (strcmp(info->name, "adapter-dvcqg") || info->abi != MOTCUA_ABI_VERSION ||
	    !(info->provides & MOTCUA_PROVIDES_ADAPTER)) {
		fprintf(stderr, "bad plugin info\n");
		return 1;
	}
	/* what the gateway's [office] says */
	motcua_testhost_config_set(th, "office", "agency_code", "000.00.12.H50");
	if (start_portal() < 0) {
		fprintf(stderr, "the stand-in portal did not start\n");
		stop_portal();
		return 1;
	}
	test_config();
	test_secret_files();
	test_accepts();
	test_new_dossier();
	test_status_change();
	test_session_expiry();
	test_concurrent_deliveries();
	test_wrong_password();
	test_transient();
	test_refused();
	test_dates();
	stop_portal();
	current_case = "host";
	/* the plugin reads its own section and the office's code only */
	for (size_t i = 0; i < motcua_testhost_config_read_count(th); i++) {
		const char *section, *key;
		motcua_testhost_config_read(th, i, &section, &key);
		CHECK(section == NULL ||
			  (!strcmp(section, "office") && !strcmp(key, "agency_code")),
		      "config_get(%s, %s)", section, key);
	}
	CHECK(motcua_testhost_violations(th) == 0, "the plugin broke the host's contract");
	motcua_testhost_free(th);
	if (!failures) {
		char cmd[400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", root);
	}
	fprintf(stderr, "%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
