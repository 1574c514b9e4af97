/* SPDX-License-Identifier: MIT */
/*
 * test-eval-stream: loads the built eval-stream.so ($EVAL_PLUGIN) and drives
 * it through the SDK's test host (motcua/testhost.h, test-eval-common.h).
 *   indicators  a scripted day (tickets, dossiers in person, online and by
 *               post, supplements, results, reuses, portal deliveries,
 *               ratings) whose indicators are computed by hand below and
 *               compared exactly, by office, unit and official; restart and
 *               replay without double counting; eval_report() offline; the
 *               snapshot; bad query parameters (400).
 *   mqtt        a real mosquitto broker on 127.0.0.1 started here: the stream
 *               arrives in order; broker down then up loses nothing and keeps
 *               order; a second broker with a password file (mosquitto_passwd)
 *               and the plugin's username/password_file; a TLS broker with a
 *               certificate from a CA made here (refused with another CA).
 */
#include "test-eval-common.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>
#include <mosquitto.h>
#include <sqlite3.h>

#include "eval-core.h"
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

static char root[512];

static void MOTCUA_PRINTF(2, 3) ev(const char *type, const char *fmt, ...)
{
	char body[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	char json[2300];
	/* Every event names its own type, as the gateway stores it; a
	 * document.done names the document's in "document_type". */
	snprintf(json, sizeof json, "{\"type\": \"%s\", %s}", type, body);
	json_t *j = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	CHECK(j != NULL, "bad test event %s", json);
	json_decref(j);
	CHECK(fh_emit(type, json) > 0, "the host refused the event %s", json);
}

/* ---- the scripted day (2026-11-27, Vietnam time) ------------------------------------------- */

#define DAY "2026-11-27"
#define TP "Tư pháp"
#define DC "Địa chính"
#define OA "Nguyễn An"
#define OB "Trần Bình"

static void ticket(int id, const char *issued, const char *called, const char *official, int waited)
{
	ev("ticket.issued",
	   "\"at\": \"%s\", \"id\": %d, \"number\": %d, \"service\": null, \"issued_at\": \"%s\"",
	   issued, id, id, issued);
	if (called)
		ev("ticket.called",
		   "\"at\": \"%s\", \"id\": %d, \"number\": %d, \"counter\": \"Q1\", \"official\": "
		   "\"%s\", \"issued_at\": \"%s\","
		   " \"called_at\": \"%s\", \"waited_s\": %d",
		   called, id, id, official, issued, called, waited);
}

static void dossier(const char *code, int channel, const char *unit, const char *official,
		    const char *ticket_id, const char *received, const char *due)
{
	char u[64], o[64], t[64], d[64];
	snprintf(u, sizeof u, unit ? "\"%s\"" : "null", unit);
	snprintf(o, sizeof o, official ? "\"%s\"" : "null", official);
	snprintf(t, sizeof t, ticket_id ? "%s" : "null", ticket_id);
	snprintf(d, sizeof d, due ? "\"%s\"" : "null", due);
	ev("dossier.created",
	   "\"at\": \"%s\", \"code\": \"%s\", \"procedure_code\": \"1.001\", \"channel\": %d, "
	   "\"status\": 1,"
	   " \"received_at\": \"%s\", \"due_at\": %s, \"unit\": %s, \"official\": %s, "
	   "\"ticket_id\": %s",
	   received, code, channel, received, d, u, o, t);
}

static void status(const char *code, int st, int prev, const char *at)
{
	ev("dossier.status",
	   "\"at\": \"%s\", \"code\": \"%s\", \"status\": %d, \"previous\": %d, \"by\": \"x\"", at,
	   code, st, prev);
}

static void doc(const char *code, int n, const char *type, const char *at)
{
	char t[32];
	snprintf(t, sizeof t, type ? "\"%s\"" : "null", type);
	ev("document.done",
	   "\"at\": \"%s\", \"dossier_code\": \"%s\", \"document_id\": \"d%d\", \"sha256\": "
	   "\"00\", \"document_type\": %s",
	   at, code, n, t);
}

static void delivered(int id, const char *code, const char *dest, const char *at)
{
	ev("outbox.delivered",
	   "\"at\": \"%s\", \"id\": %d, \"destination\": \"%s\", \"dossier_code\": \"%s\", "
	   "\"event_type\": \"dossier.created\","
	   " \"attempts\": 1",
	   at, id, dest, code);
}

static void scripted_day(void)
{
	/* tickets: waits 600, 1200, 2400, 2400 s; T5 never called; T6 the next day */
	ticket(1, DAY "T08:00:00+07:00", DAY "T08:10:00+07:00", OA, 600);
	ticket(2, DAY "T08:05:00+07:00", DAY "T08:25:00+07:00", OB, 1200);
	ticket(3, DAY "T08:10:00+07:00", DAY "T08:50:00+07:00", OA, 2400);
	ticket(4, DAY "T08:20:00+07:00", DAY "T09:00:00+07:00", OB, 2400);
	ticket(5, DAY "T09:00:00+07:00", NULL, NULL, 0);
	ticket(6, "2026-11-28T08:00:00+07:00", "2026-11-28T08:01:00+07:00", OA, 60);
	ev("ticket.done",
	   "\"at\": \"" DAY
	   "T08:14:00+07:00\", \"id\": 1, \"number\": 1, \"counter\": \"Q1\", \"official\": \"" OA
	   "\", \"called_at\": \"" DAY "T08:10:00+07:00\", \"done_at\": \"" DAY
	   "T08:14:00+07:00\", \"served_s\": 240");

	/* D1: in person, on time (finished 11-29 10:00, due 11-30), digitized, synced: 49.75 h */
	dossier("D1", 1, TP, OA, "1", DAY "T08:15:00+07:00", "2026-11-30T17:00:00+07:00");
	status("D1", 4, 1, DAY "T08:20:00+07:00");
	doc("D1", 1, NULL, DAY "T08:21:00+07:00");
	delivered(1, "D1", "adapter-dvcqg", DAY "T08:22:00+07:00");
	/* D3: in person, ticket 2, two supplement requests (1 h + 2 h): late; 6.5 - 3 = 3.5 h */
	dossier("D3", 1, DC, OA, "2", DAY "T08:30:00+07:00", "2026-11-28T08:30:00+07:00");
	doc("D3", 2, "giay-to", DAY "T08:31:00+07:00");
	ev("document.reused", "\"at\": \"" DAY "T08:32:00+07:00\", \"dossier_code\": \"D3\", "
			      "\"document_id\": \"d3\", \"archive_id\": \"a1\"");
	delivered(2, "D3", "adapter-folder", DAY "T08:33:00+07:00");
	status("D3", 5, 1, DAY "T09:00:00+07:00");
	/* D2: online, supplement 24 h, due 11-28 17:00 + 24 h >= end 11-29 12:00: on time; 51 - 24
	 * = 27 h */
	dossier("D2", 2, TP, OB, NULL, DAY "T09:00:00+07:00", "2026-11-28T17:00:00+07:00");
	doc("D2", 4, NULL, DAY "T09:01:00+07:00");
	ev("document.reused", "\"at\": \"" DAY "T09:02:00+07:00\", \"dossier_code\": \"D2\", "
			      "\"document_id\": \"d5\", \"archive_id\": \"a2\"");
	ev("document.reused", "\"at\": \"" DAY "T09:02:30+07:00\", \"dossier_code\": \"D2\", "
			      "\"document_id\": \"d6\", \"archive_id\": \"a3\"");
	delivered(3, "D2", "adapter-dvcqg", DAY "T09:03:00+07:00");
	delivered(4, "D2", "adapter-folder", DAY "T09:03:00+07:00");
	status("D2", 4, 1, DAY "T09:30:00+07:00");
	status("D3", 4, 5, DAY "T10:00:00+07:00");
	status("D2", 5, 4, DAY "T10:00:00+07:00");
	status("D3", 5, 4, DAY "T11:00:00+07:00");
	/* D7: in person, still open (in a supplement wait) */
	dossier("D7", 1, TP, OA, NULL, DAY "T11:00:00+07:00", "2026-11-29T17:00:00+07:00");
	doc("D7", 7, NULL, DAY "T11:01:00+07:00");
	status("D7", 4, 1, DAY "T11:30:00+07:00");
	status("D7", 5, 4, DAY "T12:00:00+07:00");
	status("D3", 4, 5, DAY "T13:00:00+07:00");
	/* D4: by post, no promised date, not accepted: on time; 0.5 h; synced */
	dossier("D4", 3, DC, OB, NULL, DAY "T14:00:00+07:00", NULL);
	doc("D4", 8, NULL, DAY "T14:01:00+07:00");
	delivered(5, "D4", "adapter-dvcqg", DAY "T14:02:00+07:00");
	status("D4", 3, 1, DAY "T14:30:00+07:00");
	status("D3", 9, 4, DAY "T15:00:00+07:00");
	doc("D3", 9, "ket-qua", DAY "T15:01:00+07:00");
	/* D5: online, no unit, no official, due the same day, finished the next morning: late; 17 h
	 */
	dossier("D5", 2, NULL, NULL, NULL, DAY "T16:00:00+07:00", DAY "T17:00:00+07:00");
	status("D5", 4, 1, DAY "T16:10:00+07:00");
	/* ratings: D1 very satisfied; ticket 2 (D3's) not satisfied; D5 not satisfied (by B);
	 * ticket 4 (no dossier) satisfied */
	ev("rating.added", "\"at\": \"" DAY
			   "T16:20:00+07:00\", \"id\": 1, \"dossier_code\": \"D1\", \"ticket_id\": "
			   "null, \"level\": 1, \"official\": null, \"unit\": null");
	ev("rating.added",
	   "\"at\": \"" DAY
	   "T16:21:00+07:00\", \"id\": 2, \"dossier_code\": null, \"ticket_id\": 2, \"level\": 3, "
	   "\"comment\": \"Chờ lâu\", \"official\": null, \"unit\": null");
	ev("rating.added", "\"at\": \"" DAY
			   "T16:22:00+07:00\", \"id\": 3, \"dossier_code\": \"D5\", \"ticket_id\": "
			   "null, \"level\": 3, \"official\": \"" OB "\", \"unit\": null");
	ev("rating.added",
	   "\"at\": \"" DAY "T16:23:00+07:00\", \"id\": 4, \"dossier_code\": null, \"ticket_id\": "
	   "4, \"level\": 2, \"official\": null, \"unit\": null");
	/* the following days */
	status("D2", 4, 5, "2026-11-28T10:00:00+07:00");
	status("D5", 9, 4, "2026-11-28T09:00:00+07:00");
	dossier("D6", 1, TP, OA, NULL, "2026-11-28T08:30:00+07:00", "2026-11-29T17:00:00+07:00");
	status("D6", 9, 1, "2026-11-28T09:30:00+07:00");
	status("D1", 9, 4, "2026-11-29T10:00:00+07:00");
	doc("D1", 10, "ket-qua", "2026-11-29T10:01:00+07:00");
	status("D1", 10, 9, "2026-11-29T11:00:00+07:00");
	status("D2", 10, 4, "2026-11-29T12:00:00+07:00");
	status("D4", 10, 3, "2026-11-30T12:00:00+07:00"); /* after the end: changes nothing */
}

/* ---- expectations, computed by hand (see the comments in scripted_day) ----------------------- */

struct expect {
	const char *key; /* NULL = JSON null */
	int dossiers, tickets;
	double wait_avg_min, wait_p90_min; /* < 0: null */
	double on_time, processing_h, online, digitization, reuse, sync,
	    satisfaction; /* < 0: null */
	int r1, r2, r3;
};

static void check_num(json_t *o, const char *field, double want, const char *key)
{
	json_t *v = json_object_get(o, field);
	if (want < 0) {
		CHECK(json_is_null(v), "%s.%s: want null, got %s", key, field,
		      v ? json_dumps(v, JSON_ENCODE_ANY) : "missing");
		return;
	}
	CHECK(json_is_number(v) && fabs(json_number_value(v) - want) < 1e-9,
	      "%s.%s: want %.2f, got %.6f", key, field, want,
	      json_is_number(v) ? json_number_value(v) : -999.0);
}

static void check_groups(const char *query, const struct expect *want, size_t n)
{
	char *body = NULL;
	int st = fh_get("/indicators", query, &body);
	CHECK(st == 200, "%s: status %d %s", query, st, body ? body : "");
	json_t *j = json_loads(body ? body : "", 0, NULL);
	free(body);
	CHECK(json_is_object(j), "%s: not JSON", query);
	json_t *groups = json_object_get(j, "groups");
	CHECK(json_array_size(groups) == n, "%s: %zu groups, want %zu", query,
	      json_array_size(groups), n);
	json_t *targets = json_object_get(j, "targets");
	CHECK(json_integer_value(json_object_get(targets, "waiting_avg_min")) == 30 &&
		  json_integer_value(json_object_get(targets, "satisfaction")) == 70 &&
		  json_integer_value(json_object_get(targets, "digitization_rate")) == 80 &&
		  json_integer_value(json_object_get(targets, "reuse_rate")) == 80 &&
		  json_integer_value(json_object_get(targets, "sync_rate")) == 100,
	      "targets");
	for (size_t i = 0; i < n && i < json_array_size(groups); i++) {
		json_t *g = json_array_get(groups, i);
		const struct expect *w = &want[i];
		json_t *k = json_object_get(g, "key");
		const char *kn = w->key ? w->key : "(null)";
		if (w->key)
			CHECK(json_is_string(k) && !strcmp(json_string_value(k), w->key),
			      "group %zu key %s", i,
			      json_is_string(k) ? json_string_value(k) : "(not a string)");
		else
			CHECK(json_is_null(k), "group %zu key not null", i);
		CHECK(json_integer_value(json_object_get(g, "dossiers")) == w->dossiers,
		      "%s dossiers %lld", kn,
		      (long long)json_integer_value(json_object_get(g, "dossiers")));
		CHECK(json_integer_value(json_object_get(g, "tickets")) == w->tickets,
		      "%s tickets %lld", kn,
		      (long long)json_integer_value(json_object_get(g, "tickets")));
		check_num(g, "waiting_avg_min", w->wait_avg_min, kn);
		check_num(g, "waiting_p90_min", w->wait_p90_min, kn);
		check_num(g, "on_time_rate", w->on_time, kn);
		check_num(g, "processing_avg_h", w->processing_h, kn);
		check_num(g, "online_rate", w->online, kn);
		check_num(g, "digitization_rate", w->digitization, kn);
		check_num(g, "reuse_rate", w->reuse, kn);
		check_num(g, "sync_rate", w->sync, kn);
		check_num(g, "satisfaction", w->satisfaction, kn);
		json_t *r = json_object_get(g, "ratings");
		CHECK(json_integer_value(json_object_get(r, "1")) == w->r1 &&
			  json_integer_value(json_object_get(r, "2")) == w->r2 &&
			  json_integer_value(json_object_get(r, "3")) == w->r3,
		      "%s ratings %lld/%lld/%lld", kn,
		      (long long)json_integer_value(json_object_get(r, "1")),
		      (long long)json_integer_value(json_object_get(r, "2")),
		      (long long)json_integer_value(json_object_get(r, "3")));
	}
	json_decref(j);
}

/* Office, 2026-11-27: dossiers D1 D2 D3 D4 D5 D7 (6); online D2 D5; digitized
 * (paper + result) D1 D3; reused D2 D3; synced (adapter-dvcqg) D1 D2 D4;
 * finished D1 D2 D3 D4 D5, on time D1 D2 D4 = 3/5 = 60%; processing
 * (49.75 + 27 + 3.5 + 0.5 + 17) / 5 = 19.55 h; complaints D3 (ticket 2) D5 =
 * 2/6; satisfaction 100 - (40 + 33.33) = 26.67; tickets T1-T5 (5), waits
 * 600 1200 2400 2400: 27.5 min, p90 (4th of 4) 40 min. */
static const struct expect office_day[] = {
    {"office", 6, 5, 27.5, 40, 60, 19.55, 33.33, 33.33, 33.33, 50, 26.67, 1, 1, 2},
};
/* By unit: TP = D1 D2 D7, ticket T1 (D1's), D1's rating; DC = D3 D4, ticket T2
 * (D3's), ticket 2's rating; no unit = D5, tickets T3 T4 T5, D5's and T4's ratings. */
static const struct expect unit_day[] = {
    {TP, 3, 1, 10, 10, 100, 38.38, 33.33, 33.33, 33.33, 66.67, 100, 1, 0, 0},
    {DC, 2, 1, 20, 20, 50, 2, 0, 50, 50, 50, 0, 0, 0, 1},
    {NULL, 1, 3, 40, 40, 0, 17, 100, 0, 0, 0, 0, 0, 1, 1},
};
/* By official: A = D1 D3 D7, tickets T1 T3 (600, 2400), D1's rating; B = D2
 * D4, tickets T2 T4 (1200, 2400), ratings of ticket 2, D5 (given B) and ticket
 * 4; none = D5, ticket T5. */
static const struct expect official_day[] = {
    {OA, 3, 2, 25, 40, 50, 26.63, 0, 66.67, 33.33, 33.33, 16.67, 1, 0, 0},
    {OB, 2, 2, 30, 40, 100, 13.75, 50, 0, 50, 100, 100, 0, 1, 2},
    {NULL, 1, 1, -1, -1, 0, 17, 100, 0, 0, 0, 0, 0, 0, 0},
};
/* 11-27 .. 11-28 adds D6 (TP, A, finished on time in 1 h) and ticket T6 (60 s). */
static const struct expect office_two_days[] = {
    {"office", 7, 6, 22.2, 40, 66.67, 16.46, 28.57, 28.57, 28.57, 42.86, 0, 1, 1, 2},
};

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* A snapshot's JSON: type, at (Vietnam time), the office's groups. */
static void check_snapshot(const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	const char *at = json_string_value(json_object_get(j, "at"));
	CHECK(at && strlen(at) == 25 && !strcmp(at + 19, "+07:00"), "snapshot at %s",
	      at ? at : "(none)");
	CHECK(!strcmp(str_or_empty(json_string_value(json_object_get(j, "type"))),
		      "indicators.snapshot"),
	      "snapshot type");
	CHECK(json_array_size(json_object_get(j, "groups")) == 1, "snapshot groups");
	json_decref(j);
}

static void rm_rf(const char *path)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", path);
}

static void test_indicators(void)
{
	current_case = "scripted day";
	snprintf(fh_data_dir, sizeof fh_data_dir, "%s/data", root);
	mkdir(fh_data_dir, 0700);
	fh_set_config("snapshot_interval_s", "30", NULL);
	CHECK(fh_start() == 0, "init: %s", fh_last_error());
	uint32_t interval = 0;
	CHECK(motcua_testhost_timer_count(fh_th) == 1 &&
		  motcua_testhost_timer_info(fh_th, 0, &interval, NULL) == 0 && interval == 30000,
	      "snapshot timer");
	scripted_day();
	check_groups("from=" DAY "&to=" DAY "&by=office", office_day, 1);
	check_groups("from=" DAY "&to=" DAY "&by=unit", unit_day, 3);
	check_groups("from=" DAY "&to=" DAY "&by=official", official_day, 3);

	/* two days: 7 dossiers; finished 6, on time D1 D2 D4 D6 = 66.67; processing
	 * (97.75 + 1) / 6 = 16.458 h; waits + 60 s: 6810 / 5 = 1362 s = 22.7 min... */
	current_case = "two days";
	{
		/* waits 60 600 1200 2400 2400: avg 1332 s = 22.2 min, p90 = 5th = 2400 s; late 2/6
		 * = 33.33 + complaints 2/7 = 28.57 -> satisfaction 38.1 */
		struct expect e = office_two_days[0];
		e.satisfaction = 38.1;
		check_groups("from=2026-11-27&to=2026-11-28", &e, 1);
	}

	/* an empty period: one office row with zeros and nulls */
	current_case = "empty period";
	static const struct expect empty[] = {
	    {"office", 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0}};
	check_groups("from=2025-01-01&to=2025-01-31&by=office", empty, 1);

	/* bad parameters */
	current_case = "bad parameters";
	const char *bad[] = {"from=2026-13-01&to=2026-12-01",
			     "from=2026-02-30",
			     "from=abc",
			     "by=team",
			     "from=2026-11-28&to=2026-11-27",
			     "from=" DAY "&foo=1",
			     "by=unit&by=official",
			     "to=2026-11-27T00:00"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *body = NULL;
		int st = fh_get("/indicators", bad[i], &body);
		json_t *j = json_loads(body ? body : "", 0, NULL);
		CHECK(st == 400 && json_is_string(json_object_get(j, "error")),
		      "%s: status %d body %s", bad[i], st, body ? body : "");
		json_decref(j);
		free(body);
	}

	/* the snapshot: a JSON event "indicators.snapshot" with type, at (+07:00),
	 * office, groups, streamed to the dashboards (event_broadcast: not stored) */
	current_case = "snapshot";
	int64_t n_before = motcua_testhost_last_event_id(fh_th);
	size_t snapshots = motcua_testhost_published_count(fh_th, "indicators.snapshot");
	CHECK(motcua_testhost_timer_fire(fh_th, 0) == 0, "no snapshot timer");
	const struct motcua_testhost_event *snap =
	    motcua_testhost_published_last(fh_th, "indicators.snapshot");
	CHECK(motcua_testhost_published_count(fh_th, "indicators.snapshot") == snapshots + 1 &&
		  snap && snap->broadcast,
	      "no snapshot event");
	CHECK(motcua_testhost_last_event_id(fh_th) == n_before,
	      "the snapshot went into the durable event log");
	check_snapshot(snap ? snap->json : "");

	/* restart: the plugin resumes after the last event it made durable */
	current_case = "restart";
	int64_t last = motcua_testhost_last_event_id(fh_th);
	fh_stop();
	/* events that happen while the plugin is down: D8 (online, TP, A) */
	dossier("D8", 2, TP, OA, NULL, DAY "T17:00:00+07:00", NULL);
	CHECK(fh_start() == 0, "restart: %s", fh_last_error());
	int64_t since = -1;
	CHECK(motcua_testhost_subscription_count(fh_th) == 1 &&
		  motcua_testhost_subscription(fh_th, 0, NULL, &since) == 0 && since == last,
	      "resumed from %lld, want %lld", (long long)since, (long long)last);
	/* D8 counted once; every other figure as before */
	{
		struct expect e = office_day[0];
		e.dossiers = 7;
		e.online = 42.86;	/* 3/7 */
		e.digitization = 28.57; /* 2/7 */
		e.reuse = 28.57;
		e.sync = 42.86;
		e.satisfaction = 31.43; /* 100 - (40 + 2/7) */
		check_groups("from=" DAY "&to=" DAY, &e, 1);
	}
	/* a restart with nothing new, and a stray replay of old ids: no double counting */
	fh_stop();
	CHECK(fh_start() == 0, "restart 2: %s", fh_last_error());
	CHECK(motcua_testhost_replay(fh_th, 1, 10) == 10, "replay");
	{
		struct expect e = office_day[0];
		e.dossiers = 7;
		e.online = 42.86;
		e.digitization = 28.57;
		e.reuse = 28.57;
		e.sync = 42.86;
		e.satisfaction = 31.43;
		check_groups("from=" DAY "&to=" DAY, &e, 1);
	}

	/* a long catch-up (batched transactions while replaying): 2500 tickets
	 * of another day issued while the plugin was down */
	current_case = "long replay";
	fh_stop();
	for (int i = 0; i < 2500; i++) {
		char json[256];
		snprintf(json, sizeof json,
			 "{\"type\": \"ticket.issued\", \"at\": \"2026-12-01T08:00:00+07:00\", "
			 "\"id\": \"r%d\","
			 " \"number\": %d, \"issued_at\": \"2026-12-01T08:00:00+07:00\"}",
			 i, i);
		fh_emit("ticket.issued", json);
	}
	CHECK(fh_start() == 0, "restart 3: %s", fh_last_error());
	{
		char *body = NULL;
		fh_get("/indicators", "from=2026-12-01&to=2026-12-01", &body);
		json_t *j = json_loads(body ? body : "", 0, NULL);
		CHECK(json_integer_value(json_object_get(
			  json_array_get(json_object_get(j, "groups"), 0), "tickets")) == 2500,
		      "after a long replay: %s", body ? body : "");
		json_decref(j);
		free(body);
		fh_get("/status", NULL, &body);
		j = json_loads(body ? body : "", 0, NULL);
		CHECK(json_integer_value(json_object_get(j, "last_event_id")) ==
			  motcua_testhost_last_event_id(fh_th),
		      "status %s", body ? body : "");
		json_decref(j);
		free(body);
	}

	/* the offline report gives the same JSON as the route */
	current_case = "eval_report";
	{
		char db[1024], *off = NULL, *live = NULL;
		snprintf(db, sizeof db, "%s/eval-stream/eval.db", fh_data_dir);
		CHECK(eval_report(db, DAY, DAY, "unit", &off) == 0, "eval_report");
		fh_get("/indicators", "from=" DAY "&to=" DAY "&by=unit", &live);
		CHECK(off && live && !strcmp(off, live), "offline != live:\n%s\n%s", off ? off : "",
		      live ? live : "");
		char *x = NULL;
		CHECK(eval_report(db, DAY, DAY, "nobody", &x) == -EINVAL && !x, "bad by offline");
		free(off);
		free(live);
	}
	fh_stop();

	/* an older gateway, without event_broadcast: the snapshot is a stored event */
	current_case = "snapshot, older host";
	motcua_testhost_set_table_size(fh_th, MOTCUA_TESTHOST_TABLE_BEFORE(event_broadcast));
	CHECK(fh_start() == 0, "an older host: %s", fh_last_error());
	n_before = motcua_testhost_last_event_id(fh_th);
	CHECK(motcua_testhost_timer_fire(fh_th, 0) == 0, "no snapshot timer");
	snap = motcua_testhost_event_by_id(fh_th, n_before + 1);
	CHECK(snap && snap->from_plugin && !snap->broadcast &&
		  !strcmp(snap->type, "indicators.snapshot") &&
		  motcua_testhost_last_event_id(fh_th) == n_before + 1,
	      "no stored snapshot event");
	check_snapshot(snap ? snap->json : "");
	fh_stop();
	motcua_testhost_set_table_size(fh_th, MOTCUA_TESTHOST_TABLE_FULL);

	/* config errors are refused */
	current_case = "config";
	fh_quiet = 1;
	fh_set_config("snapshot_interval_s", "soon", NULL);
	CHECK(fh_start() == -EINVAL, "bad snapshot_interval_s accepted");
	fh_set_config("mqtt_tls", "maybe", NULL);
	CHECK(fh_start() == -EINVAL, "bad mqtt_tls accepted");
	fh_set_config("topic_prefix", "motcua/#", NULL);
	CHECK(fh_start() == -EINVAL, "bad topic_prefix accepted");
	fh_quiet = 0;
}

/* ---- MQTT with a real broker --------------------------------------------------------------- */

struct sub {
	pthread_mutex_t mu;
	char **topics, **payloads;
	size_t n, cap;
	char filter[256];
	int connected;
};

static void sub_on_connect(struct mosquitto *m, void *data, int rc)
{
	struct sub *s = data;
	if (rc == 0) {
		mosquitto_subscribe(m, NULL, s->filter, 1);
		s->connected = 1;
	}
}

static void sub_on_message(struct mosquitto *m, void *data, const struct mosquitto_message *msg)
{
	struct sub *s = data;
	pthread_mutex_lock(&s->mu);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->topics = realloc(s->topics, s->cap * sizeof *s->topics);
		s->payloads = realloc(s->payloads, s->cap * sizeof *s->payloads);
	}
	s->topics[s->n] = strdup(msg->topic);
	s->payloads[s->n] = strndup(msg->payload, (size_t)msg->payloadlen);
	s->n++;
	pthread_mutex_unlock(&s->mu);
}

static void sub_free(struct sub *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->topics[i]);
		free(s->payloads[i]);
	}
	free(s->topics);
	free(s->payloads);
	pthread_mutex_destroy(&s->mu);
}

static size_t sub_count(struct sub *s)
{
	pthread_mutex_lock(&s->mu);
	size_t n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) ||
	    getsockname(fd, (struct sockaddr *)&a, &l)) {
		close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

static int port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

static void msleep(int ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

static pid_t broker_start(const char *conf, int port)
{
	const char *mosq = getenv("EVAL_MOSQUITTO");
	pid_t pid = fork();
	if (pid == 0) {
		char log[1100];
		snprintf(log, sizeof log, "%s.log", conf);
		FILE *f = freopen(log, "a", stderr);
		(void)f;
		execl(mosq, mosq, "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !port_open(port); i++)
		msleep(50);
	return pid;
}

static void broker_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static int wait_count(struct sub *s, size_t n, int ms)
{
	for (int i = 0; i < ms / 20 && sub_count(s) < n; i++)
		msleep(20);
	return sub_count(s) >= n;
}

static long long queued_rows(void)
{
	char db[1024];
	snprintf(db, sizeof db, "%s/eval-stream/eval.db", fh_data_dir);
	sqlite3 *h;
	long long n = -1;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(h, 2000);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(h, "SELECT count(*) FROM outq", -1, &st, NULL) ==
		    SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				n = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
	}
	sqlite3_close(h);
	return n;
}

/* The events received, in order, with their event ids (first occurrence of
 * each; at-least-once delivery may repeat the few in flight at an outage). */
static void check_stream(struct sub *s, int64_t first, int64_t last, const char *prefix)
{
	pthread_mutex_lock(&s->mu);
	int64_t expect = first;
	size_t dups = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (!strstr(s->topics[i], "/events/"))
			continue;
		/* the plugin's own snapshot events go to <prefix>/indicators only */
		while (expect <= last && !strcmp(motcua_testhost_event_by_id(fh_th, expect)->type,
						 "indicators.snapshot"))
			expect++;
		json_t *j = json_loads(s->payloads[i], 0, NULL);
		int64_t id = json_integer_value(json_object_get(j, "event_id"));
		const char *type = json_string_value(json_object_get(j, "type"));
		const char *at = json_string_value(json_object_get(j, "at"));
		const char *office = json_string_value(json_object_get(j, "office"));
		char topic[300];
		snprintf(topic, sizeof topic, "%s/events/%s", prefix, type ? type : "?");
		CHECK(!strcmp(s->topics[i], topic), "topic %s, want %s", s->topics[i], topic);
		CHECK(at && !strcmp(at + strlen(at) - 6, "+07:00"), "at %s", at ? at : "(none)");
		CHECK(office && !strcmp(office, fh_agency), "office %s",
		      office ? office : "(none)");
		if (id < expect) {
			dups++;
		} else {
			CHECK(id == expect,
			      "event %lld arrived where %lld was due (lost or out of order)",
			      (long long)id, (long long)expect);
			expect = id + 1;
		}
		json_decref(j);
	}
	CHECK(expect == last + 1, "received up to %lld, want %lld", (long long)expect - 1,
	      (long long)last);
	fprintf(stderr, "  stream: events %lld..%lld in order, %zu repeated\n", (long long)first,
		(long long)last, dups);
	pthread_mutex_unlock(&s->mu);
}

static const char *sub_ca_file;

static struct mosquitto *sub_start(struct sub *s, int port, const char *id, const char *user,
				   const char *pw)
{
	pthread_mutex_init(&s->mu, NULL);
	snprintf(s->filter, sizeof s->filter, "motcua/#");
	struct mosquitto *m = mosquitto_new(id, false, s);
	if (sub_ca_file)
		CHECK(mosquitto_tls_set(m, sub_ca_file, NULL, NULL, NULL, NULL) == MOSQ_ERR_SUCCESS,
		      "sub tls");
	mosquitto_connect_callback_set(m, sub_on_connect);
	mosquitto_message_callback_set(m, sub_on_message);
	mosquitto_reconnect_delay_set(m, 1, 1, false);
	if (user)
		mosquitto_username_pw_set(m, user, pw);
	CHECK(mosquitto_connect(m, "127.0.0.1", port, 30) == MOSQ_ERR_SUCCESS,
	      "subscriber connect");
	mosquitto_loop_start(m);
	for (int i = 0; i < 100 && !s->connected; i++)
		msleep(20);
	msleep(100); /* SUBACK */
	return m;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* password_file is read through host->secret_read() (secret-cases.h): a
 * symlink, a 0644 file and an empty file are refused with the host's reason,
 * a good file is taken, a host without secret_read is refused (when a
 * password file is configured; without one the plugin still serves an older
 * host, see "snapshot, older host"). No broker needed: the file is read in
 * init. */
static void secret_password(struct motcua_testhost *h, const char *path, void *arg)
{
	(void)h, (void)arg;
	fh_set_config("username", "motcua", "password_file", path, NULL);
}

static int secret_start(struct motcua_testhost *h, void *arg)
{
	(void)h, (void)arg;
	return fh_start();
}

static void test_secret_files(void)
{
	current_case = "secret files";
	char good[600];
	snprintf(fh_data_dir, sizeof fh_data_dir, "%s/data-secret", root);
	mkdir(fh_data_dir, 0700);
	snprintf(good, sizeof good, "%s/mqtt-password", root);
	write_file(good, "mật-khẩu-1\n", 0600);
	const struct secret_case c = {.key = "password_file",
				      .flags = MOTCUA_SECRET_LINE,
				      .good = good,
				      .configure = secret_password,
				      .start = secret_start};
	fh_quiet = 1;
	failures += secret_cases_run(fh_th, &c);
	fh_quiet = 0;
	fh_stop();
}

static void reset_events(void)
{
	motcua_testhost_events_clear(fh_th);
}

static void feed_tickets(int from, int to)
{
	for (int i = from; i <= to; i++) {
		char json[256];
		snprintf(json, sizeof json,
			 "{\"type\": \"ticket.issued\", \"at\": \"2026-11-27T08:00:00+07:00\", "
			 "\"id\": %d, \"number\": %d,"
			 " \"issued_at\": \"2026-11-27T08:00:00+07:00\"}",
			 i, i);
		fh_emit("ticket.issued", json);
	}
}

static void test_mqtt(void)
{
	const char *mosq = getenv("EVAL_MOSQUITTO");
	if (!mosq || !*mosq) {
		CHECK(0, "mosquitto (the broker) is not installed: packaging/install-deps.sh test");
		return;
	}
	mosquitto_lib_init();
	current_case = "mqtt anonymous";
	char dir[700], conf[800], text[2048], portbuf[16];
	snprintf(dir, sizeof dir, "%s/broker", root);
	mkdir(dir, 0700);
	int port = free_port();
	snprintf(portbuf, sizeof portbuf, "%d", port);
	snprintf(conf, sizeof conf, "%s/mosquitto.conf", dir);
	/* (as root, mosquitto would switch to the user "mosquitto", who cannot
	 * write here: `user` keeps the test's own) */
	struct passwd *pw = getpwuid(getuid());
	snprintf(text, sizeof text,
		 "user %s\nlistener %d 127.0.0.1\nallow_anonymous true\npersistence "
		 "true\npersistence_location %s/\n"
		 "log_dest stderr\n",
		 pw ? pw->pw_name : "root", port, dir);
	write_file(conf, text, 0600);
	pid_t broker = broker_start(conf, port);
	CHECK(port_open(port), "broker did not start on %d (see %s.log)", port, conf);

	struct sub s = {0};
	struct mosquitto *sm = sub_start(&s, port, "eval-test-sub", NULL, NULL);

	snprintf(fh_data_dir, sizeof fh_data_dir, "%s/data-mqtt", root);
	mkdir(fh_data_dir, 0700);
	reset_events();
	fh_set_config("mqtt_host", "127.0.0.1", "mqtt_port", portbuf, "snapshot_interval_s", "60",
		      "mqtt_reconnect_max_s", "1", NULL);
	CHECK(fh_start() == 0, "init: %s", fh_last_error());
	feed_tickets(1, 50);
	CHECK(wait_count(&s, 50, 10000), "got %zu of 50", sub_count(&s));
	/* a snapshot: to <prefix>/indicators (and to the dashboards, not as an event) */
	CHECK(motcua_testhost_timer_fire(fh_th, 0) == 0, "no snapshot timer");
	CHECK(wait_count(&s, 51, 5000), "no snapshot over MQTT");
	pthread_mutex_lock(&s.mu);
	int saw_snapshot = 0;
	for (size_t i = 0; i < s.n; i++) {
		if (!strcmp(s.topics[i], "motcua/000.00.12.H50/indicators")) {
			json_t *j = json_loads(s.payloads[i], 0, NULL);
			saw_snapshot =
			    !strcmp(str_or_empty(json_string_value(json_object_get(j, "type"))),
				    "indicators.snapshot") &&
			    json_is_string(json_object_get(j, "at")) &&
			    json_array_size(json_object_get(j, "groups")) == 1 &&
			    !strcmp(str_or_empty(json_string_value(json_object_get(j, "office"))),
				    fh_agency);
			json_decref(j);
		}
	}
	pthread_mutex_unlock(&s.mu);
	CHECK(saw_snapshot, "snapshot payload");

	/* the broker goes down: events are kept in the queue */
	current_case = "mqtt broker down then up";
	broker_stop(broker);
	int64_t first_down = motcua_testhost_last_event_id(fh_th) + 1;
	feed_tickets(100, 149);
	msleep(300);
	CHECK(queued_rows() == 50, "queued %lld while the broker is down, want 50", queued_rows());
	broker = broker_start(conf, port);
	CHECK(port_open(port), "broker did not restart");
	int64_t last = motcua_testhost_last_event_id(fh_th);
	size_t want = 51 + 50;
	CHECK(wait_count(&s, want, 20000), "got %zu of %zu after the broker came back",
	      sub_count(&s), want);
	for (int i = 0; i < 100 && queued_rows() != 0; i++)
		msleep(50);
	CHECK(queued_rows() == 0, "queue not drained: %lld", queued_rows());
	check_stream(&s, 1, last, "motcua/000.00.12.H50");
	(void)first_down;

	/* the plugin restarts with rows still queued (broker down): they go after it */
	current_case = "mqtt restart with a queue";
	broker_stop(broker);
	feed_tickets(200, 209);
	fh_stop();
	CHECK(queued_rows() == 10, "queued %lld", queued_rows());
	broker = broker_start(conf, port);
	CHECK(fh_start() == 0, "restart: %s", fh_last_error());
	last = motcua_testhost_last_event_id(fh_th);
	CHECK(wait_count(&s, want + 10, 20000), "got %zu of %zu", sub_count(&s), want + 10);
	check_stream(&s, 1, last, "motcua/000.00.12.H50");
	fh_stop();
	mosquitto_disconnect(sm);
	mosquitto_loop_stop(sm, true);
	mosquitto_destroy(sm);
	sub_free(&s);
	broker_stop(broker);

	/* a broker that wants a user name and password (mosquitto_passwd) */
	current_case = "mqtt password";
	const char *passwd = getenv("EVAL_MOSQUITTO_PASSWD");
	char pwfile[800], secret[800], cmd[2000];
	snprintf(pwfile, sizeof pwfile, "%s/passwd", dir);
	snprintf(secret, sizeof secret, "%s/mqtt-password", root);
	snprintf(cmd, sizeof cmd,
		 "'%s' -c -b '%s' motcua 'mật-khẩu-1' && '%s' -b '%s' reader 'đọc-2'", passwd,
		 pwfile, passwd, pwfile);
	CHECK(passwd && *passwd && system(cmd) == 0, "mosquitto_passwd failed");
	chmod(pwfile, 0600);
	port = free_port();
	snprintf(portbuf, sizeof portbuf, "%d", port);
	snprintf(conf, sizeof conf, "%s/mosquitto-auth.conf", dir);
	snprintf(text, sizeof text,
		 "user %s\nlistener %d 127.0.0.1\nallow_anonymous false\npassword_file "
		 "%s\nlog_dest stderr\n",
		 pw ? pw->pw_name : "root", port, pwfile);
	write_file(conf, text, 0600);
	broker = broker_start(conf, port);
	CHECK(port_open(port), "auth broker did not start");
	struct sub s2 = {0};
	struct mosquitto *sm2 = sub_start(&s2, port, "eval-test-sub2", "reader", "đọc-2");
	snprintf(fh_data_dir, sizeof fh_data_dir, "%s/data-auth", root);
	mkdir(fh_data_dir, 0700);
	reset_events();
	/* a password file others can read is refused */
	write_file(secret, "mật-khẩu-1\n", 0644);
	fh_set_config("mqtt_host", "127.0.0.1", "mqtt_port", portbuf, "username", "motcua",
		      "password_file", secret, "topic_prefix", "motcua/test-tinh",
		      "mqtt_reconnect_max_s", "1", NULL);
	fh_quiet = 1;
	CHECK(fh_start() == -EPERM, "a 0644 password file was accepted");
	fh_quiet = 0;
	chmod(secret, 0600);
	CHECK(fh_start() == 0, "init: %s", fh_last_error());
	feed_tickets(1, 20);
	CHECK(wait_count(&s2, 20, 10000), "got %zu of 20 with a password", sub_count(&s2));
	check_stream(&s2, 1, 20, "motcua/test-tinh");
	fh_stop();
	mosquitto_disconnect(sm2);
	mosquitto_loop_stop(sm2, true);
	mosquitto_destroy(sm2);
	sub_free(&s2);
	broker_stop(broker);

	/* TLS: a broker with a certificate from a CA made here */
	current_case = "mqtt tls";
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
		 "-days 2"
		 " -subj '/CN=motcua test CA' 2>/dev/null && openssl req -x509 -newkey rsa:2048 "
		 "-nodes -keyout other.key"
		 " -out other-ca.pem -days 2 -subj '/CN=another CA' 2>/dev/null && openssl req "
		 "-newkey rsa:2048 -nodes"
		 " -keyout server.key -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null && printf"
		 " 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf && openssl x509 -req -in server.csr "
		 "-CA ca.pem -CAkey ca.key"
		 " -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null",
		 dir);
	CHECK(system(cmd) == 0, "openssl could not make the test CA");
	port = free_port();
	snprintf(portbuf, sizeof portbuf, "%d", port);
	snprintf(conf, sizeof conf, "%s/mosquitto-tls.conf", dir);
	snprintf(text, sizeof text,
		 "user %s\nlistener %d 127.0.0.1\ncafile %s/ca.pem\ncertfile "
		 "%s/server.pem\nkeyfile %s/server.key\n"
		 "allow_anonymous true\nlog_dest stderr\n",
		 pw ? pw->pw_name : "root", port, dir, dir, dir);
	write_file(conf, text, 0600);
	broker = broker_start(conf, port);
	CHECK(port_open(port), "tls broker did not start");
	char ca[800], other[800];
	snprintf(ca, sizeof ca, "%s/ca.pem", dir);
	snprintf(other, sizeof other, "%s/other-ca.pem", dir);
	sub_ca_file = ca;
	struct sub s3 = {0};
	struct mosquitto *sm3 = sub_start(&s3, port, "eval-test-sub3", NULL, NULL);
	sub_ca_file = NULL;
	snprintf(fh_data_dir, sizeof fh_data_dir, "%s/data-tls", root);
	mkdir(fh_data_dir, 0700);
	reset_events();
	/* a broker whose certificate the configured CA did not sign: nothing goes */
	fh_set_config("mqtt_host", "127.0.0.1", "mqtt_port", portbuf, "mqtt_tls", "true",
		      "mqtt_ca_file", other, "mqtt_reconnect_max_s", "1", NULL);
	fh_quiet = 1;
	CHECK(fh_start() == 0, "init: %s", fh_last_error());
	feed_tickets(1, 5);
	msleep(1500);
	CHECK(sub_count(&s3) == 0 && queued_rows() == 5, "untrusted broker got %zu, queued %lld",
	      sub_count(&s3), queued_rows());
	fh_stop();
	fh_quiet = 0;
	fh_set_config("mqtt_host", "127.0.0.1", "mqtt_port", portbuf, "mqtt_tls", "true",
		      "mqtt_ca_file", ca, "mqtt_reconnect_max_s", "1", NULL);
	CHECK(fh_start() == 0, "init: %s", fh_last_error());
	feed_tickets(6, 10);
	CHECK(wait_count(&s3, 10, 10000), "got %zu of 10 over TLS", sub_count(&s3));
	check_stream(&s3, 1, 10, "motcua/000.00.12.H50");
	fh_stop();
	mosquitto_disconnect(sm3);
	mosquitto_loop_stop(sm3, true);
	mosquitto_destroy(sm3);
	sub_free(&s3);
	broker_stop(broker);
	mosquitto_lib_cleanup();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "indicators";
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof root, "%s/test-eval-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	if (fh_load())
		return 1;
	if (!strcmp(mode, "indicators")) {
		test_indicators();
		test_secret_files();
	} else if (!strcmp(mode, "mqtt"))
		test_mqtt();
	else {
		fprintf(stderr, "usage: %s indicators|mqtt\n", argv[0]);
		return 2;
	}
	current_case = "host";
	CHECK(motcua_testhost_violations(fh_th) == 0, "the plugin broke the host's contract");
	motcua_testhost_free(fh_th);
	if (failures) {
		fprintf(stderr, "%d failure(s); files kept in %s\n", failures, root);
		return 1;
	}
	rm_rf(root);
	fprintf(stderr, "ok\n");
	return 0;
}
