/* SPDX-License-Identifier: MIT */
/*
 * test-adapter-http-json: loads the built adapter-http-json.so
 * ($ADAPTER_PLUGIN) through the SDK's test host (motcua/testhost.h) and
 * drives it against real peers: tests/peer.py over HTTP, HTTPS, and HTTPS that wants a
 * client certificate, with a PKI made by tests/make-pki.sh (openssl CLI).
 *
 * Covers: the body and its headers, bearer, HMAC (recomputed by the peer),
 * mTLS right and wrong, an unknown server CA, peer down, 500, slow, garbage,
 * 4xx with the peer's text, a repeat with the same idempotency key, routing
 * by procedures, the webhook (good and bad bodies, HMAC, results) and poll.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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

#define TOKEN "s3cr3t-Bearer-token-0123456789"
#define HMAC_KEY "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"
#define CODE "000.00.12.H50-261128-0007"

/* ---- the test host (motcua/testhost.h) ------------------------------------------------ */

static struct motcua_testhost *th;
static char root[256], data_dir[300];
static const struct motcua_adapter_ops *ops;
static void *ops_data;
static int n_adapters;

/* What the plugin reported since the last reports_reset(): the count and the
 * last of its dossier_status() and result_add() calls (see reports_sync()). */
static int n_status;
static char status_code[80];
static int status_value;
static char status_details[1024];
static size_t status_base;

static int n_results;
static char result_code[80], result_type[64], result_name[256];
static unsigned char *result_bytes;
static size_t result_len, result_base;

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static const char *last_error(void)
{
	return motcua_testhost_log_last_error(th);
}

/* No line the plugin logged may hold a secret. */
static void check_log(void)
{
	for (size_t i = 0; i < motcua_testhost_log_count(th); i++) {
		const char *line = motcua_testhost_log_line(th, i, NULL);
		CHECK(!strstr(line, TOKEN) && !strstr(line, HMAC_KEY), "a secret in the log: %s",
		      line);
	}
}

static void reports_reset(void)
{
	status_base = motcua_testhost_status_count(th);
	result_base = motcua_testhost_result_count(th);
	n_status = n_results = 0;
}

/* Waits for the plugin's work to be done, then takes what it reported. */
static void reports_sync(void)
{
	CHECK(motcua_testhost_drain(th, 30000) == 0, "the plugin's work did not end");
	size_t ns = motcua_testhost_status_count(th), nr = motcua_testhost_result_count(th);
	n_status = (int)(ns - status_base);
	if (n_status > 0) {
		const struct motcua_testhost_status *st = motcua_testhost_status_at(th, ns - 1);
		snprintf(status_code, sizeof status_code, "%s", st->dossier_code);
		status_value = st->status;
		snprintf(status_details, sizeof status_details, "%s",
			 st->details_json ? st->details_json : "");
	}
	n_results = (int)(nr - result_base);
	if (n_results > 0) {
		const struct motcua_testhost_result *res = motcua_testhost_result_at(th, nr - 1);
		FILE *f = fopen(res->path, "rb");
		CHECK(f != NULL, "result_add: cannot open the host's copy %s", res->path);
		free(result_bytes);
		result_bytes = malloc(64u << 20);
		result_len = f && result_bytes ? fread(result_bytes, 1, 64u << 20, f) : 0;
		if (f)
			fclose(f);
		snprintf(result_code, sizeof result_code, "%s", res->dossier_code);
		snprintf(result_type, sizeof result_type, "%s", res->media_type);
		snprintf(result_name, sizeof result_name, "%s", res->name);
	}
}

static void set_config(const char *key, ...)
{
	va_list ap;
	motcua_testhost_config(th, NULL);
	va_start(ap, key);
	for (const char *k = key; k; k = va_arg(ap, const char *))
		motcua_testhost_config_set(th, NULL, k, va_arg(ap, const char *));
	va_end(ap);
}

static void stop(void)
{
	motcua_testhost_stop(th);
	ops = NULL;
	ops_data = NULL;
}

/* (Re)starts the plugin: the host frees what it registered, even on failure. */
static int start(void)
{
	stop();
	check_log();
	motcua_testhost_log_clear(th);
	int r = motcua_testhost_start(th);
	ops = motcua_testhost_adapter_ops(th, &ops_data);
	n_adapters = ops ? 1 : 0;
	if (ops)
		CHECK(ops->struct_size >= sizeof *ops, "ops struct_size %u", ops->struct_size);
	for (size_t i = 0; i < motcua_testhost_route_count(th); i++) {
		bool has_free_fn = true;
		motcua_testhost_route_info(th, i, NULL, NULL, NULL, &has_free_fn);
		CHECK(!has_free_fn, "route data with a free function");
	}
	return r;
}

static bool has_timer(uint32_t interval_ms)
{
	uint32_t iv = 0;
	bool repeat = false;
	return motcua_testhost_timer_count(th) == 1 &&
	       motcua_testhost_timer_info(th, 0, &iv, &repeat) == 0 && iv == interval_ms && repeat;
}

/* The poll timer's time has come: it polls, the host runs its work. */
static void poll_now(void)
{
	CHECK(motcua_testhost_timer_fire(th, 0) == 0, "no poll timer");
	reports_sync();
}

/* ---- helpers ------------------------------------------------------------------------- */

static char *path_in(const char *name)
{
	static char bufs[16][512];
	static int n;
	char *b = bufs[n++ % 16];
	snprintf(b, 512, "%s/%s", root, name);
	return b;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
	fchmod(fd, mode);
	close(fd);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct peer {
	pid_t pid;
	int port;
	char log[512];
	char base[64]; /* "http://127.0.0.1:port" or https */
};

static const char *python, *tests_dir;

/* Starts tests/peer.py with extra arguments (NULL-terminated). */
static int peer_start(struct peer *p, const char *name, int tls, ...)
{
	char port_file[512];
	snprintf(port_file, sizeof port_file, "%s/%s.port", root, name);
	snprintf(p->log, sizeof p->log, "%s/%s.jsonl", root, name);
	unlink(port_file);
	const char *argv[32];
	int n = 0;
	char script[512];
	snprintf(script, sizeof script, "%s/peer.py", tests_dir);
	argv[n++] = python;
	argv[n++] = script;
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	argv[n++] = "--log";
	argv[n++] = p->log;
	va_list ap;
	va_start(ap, tls);
	for (const char *s; (s = va_arg(ap, const char *)) && n < 30;)
		argv[n++] = s;
	va_end(ap);
	argv[n] = NULL;
	p->pid = fork();
	if (p->pid == 0) {
		execv(python, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(port_file, "r");
		if (f) {
			int ok = fscanf(f, "%d", &p->port) == 1;
			fclose(f);
			if (ok) {
				snprintf(p->base, sizeof p->base, "%s://127.0.0.1:%d",
					 tls ? "https" : "http", p->port);
				return 0;
			}
		}
		int st;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			fprintf(stderr, "peer %s exited\n", name);
			return -1;
		}
		usleep(50000);
	}
	fprintf(stderr, "peer %s did not start\n", name);
	return -1;
}

static void peer_stop(struct peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
}

/* The peer's log: the number of lines and the last one (a new reference). */
static json_t *peer_last(const struct peer *p, int *n_lines)
{
	FILE *f = fopen(p->log, "r");
	json_t *last = NULL;
	int n = 0;
	char *line = NULL;
	size_t cap = 0;
	while (f && getline(&line, &cap, f) > 0) {
		json_decref(last);
		last = json_loads(line, 0, NULL);
		n++;
	}
	free(line);
	if (f)
		fclose(f);
	if (n_lines)
		*n_lines = n;
	return last;
}

static const char *hdr(json_t *entry, const char *name)
{
	return json_string_value(json_object_get(json_object_get(entry, "headers"), name));
}

static const char pdf_bytes[] = "%PDF-1.4\n% motcua test\n1 0 obj << /Type /Catalog >> "
				"endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

static char dossier_json[4096];

static void make_dossier(void)
{
	write_file(path_in("doc1.pdf"), pdf_bytes, sizeof pdf_bytes - 1, 0644);
	write_file(path_in("doc1.p7s"), "\x30\x82\x01\x00sig", 7, 0644);
	snprintf(
	    dossier_json, sizeof dossier_json,
	    "{\"code\":\"" CODE
	    "\",\"procedure_code\":\"1.001234\",\"procedure_name\":\"Chứng thực bản sao\","
	    "\"applicant\":{\"name\":\"Nguyễn Văn "
	    "Ánh\",\"id_number\":\"079123456789\",\"phone\":\"0901234567\"},"
	    "\"channel\":\"counter\",\"status\":2,\"received_at\":\"2026-11-28T09:00:00+07:00\","
	    "\"updated_at\":\"2026-11-28T09:05:00+07:00\",\"due_at\":null,"
	    "\"documents\":[{\"id\":\"d1\",\"name\":\"Tờ "
	    "khai\",\"type\":\"to-khai\",\"media_type\":\"application/pdf\","
	    "\"state\":\"done\",\"sha256\":\"00\",\"size\":%zu,\"signature\":{\"format\":\"PAdES\"}"
	    ","
	    "\"path\":\"%s\",\"sidecar_path\":\"%s\"}]}",
	    sizeof pdf_bytes - 1, path_in("doc1.pdf"), path_in("doc1.p7s"));
}

static int deliver_one(const char *key, const char *event_type, struct motcua_delivery *d)
{
	memset(d, 0, sizeof *d);
	d->struct_size = sizeof *d;
	d->id = 1;
	d->idempotency_key = key;
	d->destination = "adapter-http-json";
	d->dossier_code = CODE;
	d->event_type = event_type;
	d->event_json = "{\"at\":\"2026-11-28T09:05:00+07:00\",\"status\":2}";
	d->dossier_json = dossier_json;
	d->attempt = 1;
	return ops->deliver(ops_data, d);
}

/* Calls the plugin's route for path (with its method) as the agency, then
 * waits for the work it started and takes what it reported. */
static int route_call(const char *path, const char *query, const char *body, size_t len,
		      struct motcua_testhost_response *resp)
{
	motcua_testhost_response_clear(resp);
	const char *method = NULL, *p = NULL;
	for (size_t i = 0; motcua_testhost_route_info(th, i, &method, &p, NULL, NULL) == 0; i++)
		if (!strcmp(p, path)) {
			struct motcua_testhost_request req = {
			    .method = method,
			    .path = path,
			    .query = query,
			    .body = body,
			    .body_len = len,
			    .token_name = "so-tu-phap",
			    .role = MOTCUA_ROLE_AGENCY,
			};
			int st = motcua_testhost_call(th, &req, resp);
			reports_sync();
			return st;
		}
	CHECK(0, "no route %s", path);
	return 0;
}

static void hmac_query(const char *body, long long ts, char *out, size_t len)
{
	unsigned char mac[32];
	unsigned int n = 0;
	char msg[1 << 16];
	int m = snprintf(msg, sizeof msg, "%lld.%s", ts, body);
	HMAC(EVP_sha256(), HMAC_KEY, (int)strlen(HMAC_KEY), (unsigned char *)msg, (size_t)m, mac,
	     &n);
	char hexs[65];
	for (unsigned i = 0; i < 32; i++)
		sprintf(hexs + 2 * i, "%02x", mac[i]);
	snprintf(out, len, "timestamp=%lld&signature=sha256=%s", ts, hexs);
}

static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

static char *b64(const void *data, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)n);
	return out;
}

/* ---- the cases ------------------------------------------------------------------------ */

static struct peer plain, tls_peer, mtls_peer, hmac_peer;
static char url[256], url2[256];

static void case_config(void)
{
	current_case = "config";
	set_config(NULL);
	CHECK(start() == -EINVAL, "no url accepted");
	CHECK(strstr(last_error(), "url"), "message: %s", last_error());
	set_config("url", "ftp://x", NULL);
	CHECK(start() == -EINVAL, "ftp url accepted");
	write_file(path_in("token-open"), TOKEN "\n", strlen(TOKEN) + 1, 0644);
	set_config("url", "http://127.0.0.1:1/", "auth", "bearer", "token_file",
		   path_in("token-open"), NULL);
	CHECK(start() == -EPERM, "a token file readable by others accepted");
	CHECK(strstr(last_error(), "chmod 600"), "message: %s", last_error());
	set_config("url", "https://127.0.0.1:1/", "auth", "mtls", NULL);
	CHECK(start() == -EINVAL, "mtls without a cert accepted");
	set_config("url", "http://127.0.0.1:1/", "auth", "kerberos", NULL);
	CHECK(start() == -EINVAL, "auth kerberos accepted");
	set_config("url", "http://127.0.0.1:1/", "send_files", "links", NULL);
	CHECK(start() == -EINVAL, "links without link_base_url accepted");
	set_config("url", "http://127.0.0.1:1/", "timeout_s", "0", NULL);
	CHECK(start() == -EINVAL, "timeout_s 0 accepted");
	set_config("url", "http://127.0.0.1:1/", NULL);
	CHECK(start() == 0, "minimal config refused: %s", last_error());
	CHECK(n_adapters == 1, "adapter not registered");
	int webhook = 0;
	const char *method, *path;
	unsigned roles;
	for (size_t i = 0; motcua_testhost_route_info(th, i, &method, &path, &roles, NULL) == 0;
	     i++)
		if (!strcmp(path, "/webhook") && !strcmp(method, "POST") &&
		    roles == MOTCUA_ROLE_AGENCY)
			webhook = 1;
	CHECK(webhook, "no POST /webhook route for the agency role");
	CHECK(motcua_testhost_timer_count(th) == 0, "a poll timer without poll_url");
	stop();
}

/* token_file, hmac_key_file and client_key are read through
 * host->secret_read() (secret-cases.h): a symlink, a 0644 file and an empty
 * file are refused with the host's reason, a good file is taken, a host
 * without secret_read is refused. */
static void secret_token(struct motcua_testhost *h, const char *path, void *arg)
{
	(void)h, (void)arg;
	set_config("url", "http://127.0.0.1:1/", "auth", "bearer", "token_file", path, NULL);
}

static void secret_hmac(struct motcua_testhost *h, const char *path, void *arg)
{
	(void)h, (void)arg;
	set_config("url", "http://127.0.0.1:1/", "auth", "hmac", "hmac_key_file", path, NULL);
}

static void secret_client_key(struct motcua_testhost *h, const char *path, void *arg)
{
	(void)h, (void)arg;
	set_config("url", "https://127.0.0.1:1/", "auth", "mtls", "client_cert",
		   path_in("client.pem"), "client_key", path, NULL);
}

static int secret_start(struct motcua_testhost *h, void *arg)
{
	(void)h, (void)arg;
	return start();
}

static void case_secret_files(void)
{
	current_case = "secret-files";
	write_file(path_in("token"), TOKEN "\n", strlen(TOKEN) + 1, 0600);
	const struct secret_case cases[] = {
	    {.key = "token_file",
	     .flags = MOTCUA_SECRET_LINE,
	     .good = path_in("token"),
	     .configure = secret_token},
	    {.key = "hmac_key_file",
	     .flags = MOTCUA_SECRET_LINE,
	     .good = path_in("hmac.key"),
	     .configure = secret_hmac},
	    {.key = "client_key",
	     .flags = 0,
	     .good = path_in("client.key"),
	     .configure = secret_client_key},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct secret_case c = cases[i];
		c.start = secret_start;
		failures += secret_cases_run(th, &c);
	}
	/* an older gateway still serves an adapter that reads no secret file */
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_BEFORE(secret_read));
	set_config("url", "http://127.0.0.1:1/", NULL);
	CHECK(start() == 0, "an older host, no secret file: %s", last_error());
	stop();
	motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_FULL);
}

static void case_accepts(void)
{
	current_case = "accepts";
	set_config("url", "http://127.0.0.1:1/", "procedures", "1.001234, 2.000555", NULL);
	CHECK(start() == 0, "start: %s", last_error());
	CHECK(ops->accepts(ops_data, "1.001234", "dossier.created") == 1,
	      "listed procedure refused");
	CHECK(ops->accepts(ops_data, "2.000555", "dossier.status") == 1,
	      "second procedure refused");
	CHECK(ops->accepts(ops_data, "9.999999", "dossier.created") == 0,
	      "other procedure accepted");
	CHECK(ops->accepts(ops_data, NULL, "dossier.created") == 0, "no procedure accepted");
	set_config("url", "http://127.0.0.1:1/", "procedures", "*", "events",
		   "dossier.created,dossier.status", NULL);
	CHECK(start() == 0, "start: %s", last_error());
	CHECK(ops->accepts(ops_data, "9.999999", "dossier.created") == 1, "* refused a procedure");
	CHECK(ops->accepts(ops_data, "9.999999", "document.done") == 0,
	      "an event not in events accepted");
	set_config("url", "http://127.0.0.1:1/", "events", "dossier.nonsense", NULL);
	CHECK(start() == -EINVAL, "unknown event accepted");
	stop();
}

static void case_body(void)
{
	current_case = "body";
	struct motcua_delivery d;
	snprintf(url, sizeof url, "%s/ok", plain.base);
	set_config("url", url, "send_files", "base64", "agency_code", "000.00.05.H50", "timeout_s",
		   "5", NULL);
	CHECK(start() == 0, "start: %s", last_error());
	int r = deliver_one("k-body-1", "dossier.created", &d);
	CHECK(r == 0, "deliver: %d %s", r, d.message);
	CHECK(!strcmp(d.peer_ref, "P-1") || d.peer_ref[0] == 'P', "peer_ref '%s'", d.peer_ref);
	int n;
	json_t *e = peer_last(&plain, &n);
	CHECK(e != NULL, "the peer recorded nothing");
	if (e) {
		CHECK(hdr(e, "idempotency-key") && !strcmp(hdr(e, "idempotency-key"), "k-body-1"),
		      "Idempotency-Key %s", hdr(e, "idempotency-key"));
		CHECK(hdr(e, "content-type") && strstr(hdr(e, "content-type"), "application/json"),
		      "content-type");
		CHECK(!strcmp(json_string_value(json_object_get(e, "method")), "POST"),
		      "not a POST");
		json_t *b = json_loads(json_string_value(json_object_get(e, "body")), 0, NULL);
		CHECK(json_is_object(b), "body not JSON");
		CHECK(!strcmp(str_or_empty(json_string_value(json_object_get(b, "code"))), CODE),
		      "code");
		CHECK(!strcmp(str_or_empty(json_string_value(json_object_get(b, "procedure_code"))),
			      "1.001234"),
		      "procedure_code");
		CHECK(json_integer_value(json_object_get(b, "status")) == 2, "status");
		CHECK(!strcmp(str_or_empty(json_string_value(
				  json_object_get(json_object_get(b, "applicant"), "id_number"))),
			      "079123456789"),
		      "applicant");
		CHECK(!strcmp(str_or_empty(json_string_value(json_object_get(b, "agency_code"))),
			      "000.00.05.H50"),
		      "agency");
		CHECK(
		    !strcmp(str_or_empty(json_string_value(json_object_get(b, "idempotency_key"))),
			    "k-body-1"),
		    "key in body");
		json_t *ev = json_object_get(b, "event");
		CHECK(!strcmp(str_or_empty(json_string_value(json_object_get(ev, "type"))),
			      "dossier.created"),
		      "event.type");
		CHECK(json_is_string(json_object_get(ev, "at")), "event.at");
		json_t *doc = json_array_get(json_object_get(b, "documents"), 0);
		CHECK(json_is_object(doc), "no documents[0]");
		CHECK(!json_object_get(doc, "path") && !json_object_get(doc, "sidecar_path"),
		      "local paths leaked");
		char *want = b64(pdf_bytes, sizeof pdf_bytes - 1);
		CHECK(
		    !strcmp(str_or_empty(json_string_value(json_object_get(doc, "content_base64"))),
			    want),
		    "content_base64 does not match the file");
		CHECK(json_is_string(json_object_get(doc, "sidecar_base64")), "no sidecar_base64");
		free(want);
		json_decref(b);
	}
	json_decref(e);
	/* A repeat (as after a crash) with the same key: the peer keeps the first. */
	char first_ref[128];
	snprintf(first_ref, sizeof first_ref, "%s", d.peer_ref);
	r = deliver_one("k-body-1", "dossier.created", &d);
	CHECK(r == 0 && !strcmp(d.peer_ref, first_ref), "repeat: %d ref %s", r, d.peer_ref);
	e = peer_last(&plain, NULL);
	CHECK(json_is_true(json_object_get(e, "repeat")), "the peer did not see a repeat");
	json_decref(e);
	/* A status event carries no file content. */
	r = deliver_one("k-body-2", "dossier.status", &d);
	CHECK(r == 0, "status deliver: %s", d.message);
	e = peer_last(&plain, NULL);
	json_t *b =
	    json_loads(str_or_empty(json_string_value(json_object_get(e, "body"))), 0, NULL);
	CHECK(
	    !json_object_get(json_array_get(json_object_get(b, "documents"), 0), "content_base64"),
	    "file content sent with a status event");
	json_decref(b);
	json_decref(e);
	/* send_files = links */
	set_config("url", url, "send_files", "links", "link_base_url", "https://motcua.example.vn/",
		   NULL);
	CHECK(start() == 0, "start: %s", last_error());
	r = deliver_one("k-links-1", "document.done", &d);
	CHECK(r == 0, "deliver: %s", d.message);
	e = peer_last(&plain, NULL);
	b = json_loads(str_or_empty(json_string_value(json_object_get(e, "body"))), 0, NULL);
	const char *link = json_string_value(
	    json_object_get(json_array_get(json_object_get(b, "documents"), 0), "url"));
	CHECK(link && !strcmp(link, "https://motcua.example.vn/api/v1/dossiers/" CODE
				    "/documents/d1/content"),
	      "link %s", link);
	json_decref(b);
	json_decref(e);
	stop();
}

static void case_bearer(void)
{
	current_case = "bearer";
	struct motcua_delivery d;
	write_file(path_in("token"), TOKEN "\n", strlen(TOKEN) + 1, 0600);
	snprintf(url, sizeof url, "%s/ok", plain.base);
	set_config("url", url, "auth", "bearer", "token_file", path_in("token"), NULL);
	CHECK(start() == 0, "start: %s", last_error());
	int r = deliver_one("k-bearer-1", "dossier.created", &d);
	CHECK(r == 0, "deliver: %s", d.message);
	json_t *e = peer_last(&plain, NULL);
	CHECK(hdr(e, "authorization") && !strcmp(hdr(e, "authorization"), "Bearer " TOKEN),
	      "Authorization: %s", hdr(e, "authorization"));
	json_decref(e);
	snprintf(url, sizeof url, "%s/401", plain.base);
	set_config("url", url, "auth", "bearer", "token_file", path_in("token"), NULL);
	CHECK(start() == 0, "start: %s", last_error());
	r = deliver_one("k-bearer-2", "dossier.created", &d);
	CHECK(r == -EPERM && strstr(d.message, "401") && strstr(d.message, "token không hợp lệ"),
	      "401: %d %s", r, d.message);
	CHECK(!strstr(d.message, TOKEN), "the token in the message");
	stop();
}

static void case_hmac(void)
{
	current_case = "hmac";
	struct motcua_delivery d;
	snprintf(url, sizeof url, "%s/ok", hmac_peer.base);
	set_config("url", url, "auth", "hmac", "hmac_key_file", path_in("hmac.key"), "send_files",
		   "base64", NULL);
	CHECK(start() == 0, "start: %s", last_error());
	int r = deliver_one("k-hmac-1", "dossier.created", &d);
	CHECK(r == 0, "deliver: %s", d.message);
	json_t *e = peer_last(&hmac_peer, NULL);
	CHECK(json_is_true(json_object_get(e, "hmac_ok")),
	      "the peer could not verify the HMAC: %s %s", hdr(e, "x-motcua-signature"),
	      hdr(e, "x-motcua-timestamp"));
	CHECK(hdr(e, "x-motcua-timestamp") != NULL, "no timestamp header");
	CHECK(!hdr(e, "authorization"), "an Authorization header with hmac");
	json_decref(e);
	/* A wrong key: the peer's check fails (proves the check is not vacuous). */
	write_file(path_in("hmac-wrong.key"), "a-different-key-0123456789\n", 27, 0600);
	set_config("url", url, "auth", "hmac", "hmac_key_file", path_in("hmac-wrong.key"), NULL);
	CHECK(start() == 0, "start: %s", last_error());
	r = deliver_one("k-hmac-2", "dossier.created", &d);
	e = peer_last(&hmac_peer, NULL);
	CHECK(json_is_false(json_object_get(e, "hmac_ok")), "a wrong key verified");
	json_decref(e);
	stop();
}

static void case_failures(void)
{
	current_case = "failures";
	struct motcua_delivery d;
	int r;
	snprintf(url, sizeof url, "%s/500", plain.base);
	set_config("url", url, "timeout_s", "2", NULL);
	CHECK(start() == 0, "start: %s", last_error());
	r = deliver_one("k-500", "dossier.created", &d);
	CHECK(r == -EAGAIN && strstr(d.message, "500"), "500: %d %s", r, d.message);

	snprintf(url, sizeof url, "%s/400", plain.base);
	set_config("url", url, "timeout_s", "2", NULL);
	start();
	r = deliver_one("k-400", "dossier.created", &d);
	CHECK(r != 0 && r != -EAGAIN && strstr(d.message, "400") &&
		  strstr(d.message, "applicant.id_number"),
	      "400: %d %s", r, d.message);

	snprintf(url, sizeof url, "%s/422", plain.base);
	set_config("url", url, "timeout_s", "2", NULL);
	start();
	r = deliver_one("k-422", "dossier.created", &d);
	CHECK(r != 0 && r != -EAGAIN && strstr(d.message, "422") && strstr(d.message, "mã thủ tục"),
	      "422: %d %s", r, d.message);

	snprintf(url, sizeof url, "%s/garbage", plain.base);
	set_config("url", url, "timeout_s", "2", NULL);
	start();
	r = deliver_one("k-garbage", "dossier.created", &d);
	CHECK(r == -EAGAIN && strstr(d.message, "JSON"), "garbage: %d %s", r, d.message);

	snprintf(url, sizeof url, "%s/empty", plain.base);
	set_config("url", url, "timeout_s", "2", NULL);
	start();
	r = deliver_one("k-empty", "dossier.created", &d);
	CHECK(r == 0, "204: %d %s", r, d.message);

	snprintf(url, sizeof url, "%s/slow?s=4", plain.base);
	set_config("url", url, "timeout_s", "1", NULL);
	start();
	double t0 = now_s();
	r = deliver_one("k-slow", "dossier.created", &d);
	double dt = now_s() - t0;
	CHECK(r == -EAGAIN && strstr(d.message, "timeout_s"), "slow: %d %s", r, d.message);
	CHECK(dt < 1.6, "slow took %.2f s with timeout_s = 1", dt);
	fprintf(stderr, "  slow peer: -EAGAIN after %.2f s (timeout_s = 1)\n", dt);

	/* Peer down: a port nobody listens on. */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	bind(s, (struct sockaddr *)&sa, sizeof sa);
	getsockname(s, (struct sockaddr *)&sa, &sl);
	close(s);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", ntohs(sa.sin_port));
	set_config("url", url, "timeout_s", "2", NULL);
	start();
	r = deliver_one("k-down", "dossier.created", &d);
	/* unreachable: the outbox pauses the destination */
	CHECK(r == -ECONNREFUSED && strstr(d.message, "cannot connect"), "down: %d %s", r,
	      d.message);
	stop();
}

static void case_tls(void)
{
	current_case = "tls";
	struct motcua_delivery d;
	int r;
	snprintf(url, sizeof url, "%s/ok", tls_peer.base);
	set_config("url", url, "ca_file", path_in("ca.pem"), "timeout_s", "5", NULL);
	CHECK(start() == 0, "start: %s", last_error());
	r = deliver_one("k-tls-1", "dossier.created", &d);
	CHECK(r == 0, "https with the right CA: %d %s", r, d.message);
	/* Keep-alive: a second delivery on the same handle. */
	r = deliver_one("k-tls-2", "dossier.created", &d);
	CHECK(r == 0, "https again: %d %s", r, d.message);

	set_config("url", url, "ca_file", path_in("other-ca.pem"), "timeout_s", "5", NULL);
	start();
	r = deliver_one("k-tls-3", "dossier.created", &d);
	CHECK(r != 0 && r != -EAGAIN && strstr(d.message, "not trusted"),
	      "unknown server CA: %d %s", r, d.message);
	int n_before, n_after;
	json_decref(peer_last(&tls_peer, &n_before));

	/* With the system store (no ca_file): our test CA is not in it. */
	set_config("url", url, "timeout_s", "5", NULL);
	start();
	r = deliver_one("k-tls-4", "dossier.created", &d);
	CHECK(r != 0 && r != -EAGAIN,
	      "a server of an unknown CA accepted with the system store: %d %s", r, d.message);
	json_decref(peer_last(&tls_peer, &n_after));
	CHECK(n_after == n_before, "a request reached a server we do not trust");
	stop();
}

static void case_mtls(void)
{
	current_case = "mtls";
	struct motcua_delivery d;
	int r;
	snprintf(url, sizeof url, "%s/ok", mtls_peer.base);
	set_config("url", url, "auth", "mtls", "client_cert", path_in("client.pem"), "client_key",
		   path_in("client.key"), "ca_file", path_in("ca.pem"), "timeout_s", "5", NULL);
	CHECK(start() == 0, "start: %s", last_error());
	r = deliver_one("k-mtls-1", "dossier.created", &d);
	CHECK(r == 0, "mtls with the right cert: %d %s", r, d.message);
	json_t *e = peer_last(&mtls_peer, NULL);
	const char *cn = json_string_value(json_object_get(e, "client_cert"));
	CHECK(cn && strstr(cn, "motcua gateway"), "the peer saw no client cert: %s", cn);
	json_decref(e);
	/* the key was read once, at start, under the policy: libcurl has its
	 * bytes (CURLOPT_SSLKEY_BLOB), not its path (restarted: no handle nor
	 * connection of before) */
	CHECK(start() == 0, "start: %s", last_error());
	CHECK(rename(path_in("client.key"), path_in("client.key.away")) == 0, "rename");
	r = deliver_one("k-mtls-1b", "dossier.created", &d);
	CHECK(r == 0, "mtls with the key file gone after start: %d %s", r, d.message);
	CHECK(rename(path_in("client.key.away"), path_in("client.key")) == 0, "rename back");

	int n_before, n_after;
	json_decref(peer_last(&mtls_peer, &n_before));
	set_config("url", url, "auth", "mtls", "client_cert", path_in("other-client.pem"),
		   "client_key", path_in("other-client.key"), "ca_file", path_in("ca.pem"),
		   "timeout_s", "5", NULL);
	CHECK(start() == 0, "start: %s", last_error());
	r = deliver_one("k-mtls-2", "dossier.created", &d);
	CHECK(r == -EPERM && strstr(d.message, "client certificate"), "wrong client cert: %d %s", r,
	      d.message);
	fprintf(stderr, "  wrong client cert: %d %s\n", r, d.message);

	set_config("url", url, "ca_file", path_in("ca.pem"), "timeout_s", "5", NULL);
	start();
	r = deliver_one("k-mtls-3", "dossier.created", &d);
	CHECK(r == -EPERM && strstr(d.message, "client certificate"), "no client cert: %d %s", r,
	      d.message);
	json_decref(peer_last(&mtls_peer, &n_after));
	CHECK(n_after == n_before, "a request without the right cert reached the peer");

	/* A client key readable by others is refused at start. */
	write_file(path_in("open.key"), "x", 1, 0644);
	set_config("url", url, "auth", "mtls", "client_cert", path_in("client.pem"), "client_key",
		   path_in("open.key"), NULL);
	CHECK(start() == -EPERM, "an open client key accepted");
	stop();
}

static void case_webhook(void)
{
	current_case = "webhook";
	struct motcua_testhost_response resp = {0};
	int st;
	char tmpdir[400];
	snprintf(tmpdir, sizeof tmpdir, "%s/adapter-http-json", data_dir);
	set_config("url", "http://127.0.0.1:1/", "max_result_mb", "1", NULL);
	CHECK(start() == 0, "start: %s", last_error());

	reports_reset();
	const char *ok =
	    "{\"code\":\"" CODE "\",\"status\":5,\"note\":\"Đã có kết quả, mời nhận\"}";
	st = route_call("/webhook", NULL, ok, strlen(ok), &resp);
	CHECK(st == 200, "status update: %d %s", st, resp.body);
	CHECK(n_status == 1 && !strcmp(status_code, CODE) && status_value == 5,
	      "dossier_status not called right");
	CHECK(strstr(status_details, "mời nhận"), "details %s", status_details);

	/* A result: a real file whose bytes match, temp file gone after. */
	char *content = b64(pdf_bytes, sizeof pdf_bytes - 1);
	char body[8192];
	snprintf(body, sizeof body,
		 "{\"code\":\"" CODE
		 "\",\"status\":10,\"result\":{\"name\":\"Giấy chứng nhận.pdf\","
		 "\"media_type\":\"application/pdf\",\"content_base64\":\"%s\"}}",
		 content);
	reports_reset();
	st = route_call("/webhook", NULL, body, strlen(body), &resp);
	CHECK(st == 202, "result: %d %s", st, resp.body);
	CHECK(n_status == 1 && status_value == 10, "status with the result");
	CHECK(n_results == 1 && result_len == sizeof pdf_bytes - 1 &&
		  !memcmp(result_bytes, pdf_bytes, result_len),
	      "result bytes differ (%zu)", result_len);
	CHECK(!strcmp(result_code, CODE) && !strcmp(result_type, "application/pdf") &&
		  !strcmp(result_name, "Giấy chứng nhận.pdf"),
	      "result %s %s %s", result_code, result_type, result_name);
	CHECK(dir_entries(tmpdir) == 0, "temp files left in %s", tmpdir);

	/* Bad bodies: 400, nothing called. */
	char big[64];
	snprintf(big, sizeof big, "x");
	size_t big_n = (1u << 20) + 4096;
	unsigned char *raw = malloc(big_n);
	memset(raw, 'A', big_n);
	memcpy(raw, "%PDF-", 5);
	char *big64 = b64(raw, big_n);
	char *bigbody = malloc(strlen(big64) + 256);
	sprintf(
	    bigbody,
	    "{\"code\":\"" CODE
	    "\",\"status\":10,\"result\":{\"name\":\"a.pdf\",\"media_type\":\"application/pdf\","
	    "\"content_base64\":\"%s\"}}",
	    big64);
	const char *bad[] = {
	    "{\"code\":\"" CODE "\",\"status\":11}",
	    "{\"code\":\"" CODE "\",\"status\":0}",
	    "{\"code\":\"" CODE "\",\"status\":\"5\"}",
	    "{\"status\":5}",
	    "{\"code\":\"../etc\",\"status\":5}",
	    "{\"code\":\"" CODE "\",\"status\":5,\"extra\":1}",
	    "{\"code\":\"" CODE
	    "\",\"status\":5,\"result\":{\"name\":\"a.pdf\",\"media_type\":\"application/pdf\","
	    "\"content_base64\":\"JVBERi0x!!!\"}}",
	    "{\"code\":\"" CODE
	    "\",\"status\":5,\"result\":{\"name\":\"a.pdf\",\"media_type\":\"text/html\","
	    "\"content_base64\":\"JVBERi0x\"}}",
	    "{\"code\":\"" CODE
	    "\",\"status\":5,\"result\":{\"name\":\"a.png\",\"media_type\":\"image/png\","
	    "\"content_base64\":\"JVBERi0x\"}}",
	    "not json",
	    bigbody,
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		reports_reset();
		st = route_call("/webhook", NULL, bad[i], strlen(bad[i]), &resp);
		CHECK(st == 400 && strstr(resp.body, "\"error\""), "bad body %zu answered %d %s", i,
		      st, resp.body);
		CHECK(n_status == 0 && n_results == 0, "bad body %zu called the host", i);
		if (i < 3 || i == 10)
			fprintf(stderr, "  bad body %zu -> %d %s\n", i, st, resp.body);
	}
	free(raw);
	free(big64);
	free(bigbody);

	/* Unknown dossier: 404 from the host's -ENOENT. */
	const char *nope = "{\"code\":\"NOPE-1\",\"status\":5}";
	reports_reset();
	st = route_call("/webhook", NULL, nope, strlen(nope), &resp);
	CHECK(st == 404, "unknown dossier: %d %s", st, resp.body);

	/* With hmac_key_file: a signature is required and checked. */
	set_config("url", "http://127.0.0.1:1/", "hmac_key_file", path_in("hmac.key"), NULL);
	CHECK(start() == 0, "start: %s", last_error());
	char q[200];
	hmac_query(ok, (long long)time(NULL), q, sizeof q);
	reports_reset();
	st = route_call("/webhook", q, ok, strlen(ok), &resp);
	CHECK(st == 200 && n_status == 1, "signed update: %d %s", st, resp.body);
	reports_reset();
	st = route_call("/webhook", NULL, ok, strlen(ok), &resp);
	CHECK(st == 400 && n_status == 0, "unsigned update: %d %s", st, resp.body);
	char tampered[256];
	snprintf(tampered, sizeof tampered,
		 "{\"code\":\"" CODE "\",\"status\":6,\"note\":\"Đã có kết quả, mời nhận\"}");
	st = route_call("/webhook", q, tampered, strlen(tampered), &resp);
	CHECK(st == 400 && n_status == 0 && strstr(resp.body, "HMAC"), "tampered body: %d %s", st,
	      resp.body);
	hmac_query(ok, (long long)time(NULL) - 3600, q, sizeof q);
	st = route_call("/webhook", q, ok, strlen(ok), &resp);
	CHECK(st == 400 && n_status == 0, "old timestamp (replay): %d %s", st, resp.body);
	free(content);
	motcua_testhost_response_clear(&resp);
	stop();
}

static void case_poll(void)
{
	current_case = "poll";
	struct peer p;
	char *content = b64(pdf_bytes, sizeof pdf_bytes - 1);
	char updates[8192];
	snprintf(updates, sizeof updates,
		 "{\"cursor\":\"c-42\",\"updates\":[{\"code\":\"" CODE
		 "\",\"status\":4,\"note\":\"Đang xử lý\"},"
		 "{\"code\":\"" CODE "\",\"status\":11},"
		 "{\"code\":\"" CODE
		 "\",\"status\":10,\"result\":{\"name\":\"Kết quả.pdf\",\"media_type\":"
		 "\"application/pdf\",\"content_base64\":\"%s\"}}]}",
		 content);
	free(content);
	write_file(path_in("updates.json"), updates, strlen(updates), 0644);
	if (peer_start(&p, "poll", 0, "--updates", path_in("updates.json"), NULL) < 0) {
		CHECK(0, "poll peer");
		return;
	}
	write_file(path_in("token"), TOKEN "\n", strlen(TOKEN) + 1, 0600);
	snprintf(url, sizeof url, "%s/ok", p.base);
	snprintf(url2, sizeof url2, "%s/updates", p.base);
	set_config("url", url, "auth", "bearer", "token_file", path_in("token"), "poll_url", url2,
		   "poll_interval_s", "2", NULL);
	CHECK(start() == 0, "start: %s", last_error());
	CHECK(has_timer(2000), "poll timer: %zu timers", motcua_testhost_timer_count(th));
	reports_reset();
	poll_now();
	CHECK(n_status == 2 && status_value == 10, "poll applied %d status updates (last %d)",
	      n_status, status_value);
	CHECK(n_results == 1 && result_len == sizeof pdf_bytes - 1 &&
		  !memcmp(result_bytes, pdf_bytes, result_len),
	      "poll result");
	json_t *e = peer_last(&p, NULL);
	CHECK(hdr(e, "authorization") && !strcmp(hdr(e, "authorization"), "Bearer " TOKEN),
	      "poll without the token");
	json_decref(e);
	char tmpdir[400];
	snprintf(tmpdir, sizeof tmpdir, "%s/adapter-http-json", data_dir);
	CHECK(dir_entries(tmpdir) == 0, "temp files left");
	/* The next poll sends the cursor back. */
	write_file(path_in("updates.json"), "{\"updates\":[]}", 14, 0644);
	reports_reset();
	poll_now();
	e = peer_last(&p, NULL);
	CHECK(strstr(str_or_empty(json_string_value(json_object_get(e, "path"))), "cursor=c-42"),
	      "cursor not sent: %s", json_string_value(json_object_get(e, "path")));
	CHECK(n_status == 0, "an empty poll applied something");
	json_decref(e);
	stop();
	peer_stop(&p);
}

int main(void)
{
	const char *plugin = getenv("ADAPTER_PLUGIN");
	tests_dir = getenv("ADAPTER_TESTS_DIR");
	python = getenv("ADAPTER_PYTHON");
	const char *openssl = getenv("ADAPTER_OPENSSL");
	if (!plugin || !tests_dir) {
		fprintf(stderr, "ADAPTER_PLUGIN and ADAPTER_TESTS_DIR are needed\n");
		return 1;
	}
	/* the peers are Python, the PKI is made with the openssl CLI: both are
	 * installed by packaging/install-deps.sh, so a missing one is a failure */
	if (!python ||
	    motcua_testhost_need_program(
		python, "python3, for the peers: packaging/install-deps.sh test") < 0 ||
	    !openssl ||
	    motcua_testhost_need_program(
		openssl, "openssl, for the PKI: packaging/install-deps.sh test") < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	snprintf(root, sizeof root, "%s/adapter-test-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(data_dir, sizeof data_dir, "%s/data", root);
	mkdir(data_dir, 0700);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "OPENSSL='%s' '%s/make-pki.sh' '%s'", openssl, tests_dir, root);
	if (system(cmd) != 0) {
		fprintf(stderr, "make-pki.sh failed\n");
		return 1;
	}
	write_file(path_in("hmac.key"), HMAC_KEY "\n", strlen(HMAC_KEY) + 1, 0600);
	make_dossier();

	th = motcua_testhost_new();
	if (!th || motcua_testhost_load(th, plugin) < 0) {
		fprintf(stderr, "FAIL: %s\n", th ? motcua_testhost_error(th) : "no test host");
		return 1;
	}
	const struct motcua_plugin_info *info = motcua_testhost_info(th);
	if (strcmp(info->name, "adapter-http-json") ||
	    !(info->provides & MOTCUA_PROVIDES_ADAPTER)) {
		fprintf(stderr, "bad entry\n");
		return 1;
	}
	motcua_testhost_config_set(th, "gateway", "data_dir", data_dir);
	/* the dossier the agency reports about; "NOPE-1" is not one */
	motcua_testhost_dossier_add(th, CODE);

	int ok =
	    peer_start(&plain, "plain", 0, NULL) == 0 &&
	    peer_start(&hmac_peer, "hmac", 0, "--hmac-key-file", path_in("hmac.key"), NULL) == 0 &&
	    peer_start(&tls_peer, "tls", 1, "--cert", path_in("server.pem"), "--key",
		       path_in("server.key"), NULL) == 0 &&
	    peer_start(&mtls_peer, "mtls", 1, "--cert", path_in("server.pem"), "--key",
		       path_in("server.key"), "--client-ca", path_in("ca.pem"), NULL) == 0;
	if (ok) {
		case_config();
		case_secret_files();
		case_accepts();
		case_body();
		case_bearer();
		case_hmac();
		case_failures();
		case_tls();
		case_mtls();
		case_webhook();
		case_poll();
	} else {
		failures++;
	}
	stop();
	peer_stop(&plain);
	peer_stop(&hmac_peer);
	peer_stop(&tls_peer);
	peer_stop(&mtls_peer);
	free(result_bytes);
	current_case = "host";
	check_log();
	/* the plugin reads its own section only */
	for (size_t i = 0; i < motcua_testhost_config_read_count(th); i++) {
		const char *section, *key;
		motcua_testhost_config_read(th, i, &section, &key);
		CHECK(section == NULL, "config_get(%s, %s)", section, key);
	}
	CHECK(motcua_testhost_violations(th) == 0, "the plugin broke the host's contract");
	motcua_testhost_free(th);
	if (!failures) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", root);
	}
	fprintf(stderr, "%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
