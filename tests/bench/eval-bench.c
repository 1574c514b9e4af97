/* SPDX-License-Identifier: MIT */
/*
 * eval-bench: the eval-stream plugin against its baselines, in one run.
 *
 *  1. Throughput: EVAL_BENCH_EVENTS (20000) events fed to the plugin as fast
 *     as the loop can (each one a SQLite transaction: derived tables + the
 *     MQTT queue row), until a subscriber on a local mosquitto has them all;
 *     beside `mosquitto_pub -q 1 -l` publishing the same payloads (no
 *     indicators, no queue).
 *  2. Latency: EVAL_BENCH_PACED (2000) events at EVAL_BENCH_RATE (500/s),
 *     event (its "t_ns" in the payload) to subscriber, p50/p99; beside a plain
 *     libmosquitto QoS 1 publisher sending the same payloads at the same rate.
 *  3. Indicator query over a year of a busy office: EVAL_BENCH_DOSSIERS
 *     (100000) dossiers with their events (tickets, statuses, supplements,
 *     documents, reuses, portal deliveries, ratings) applied with eval-core,
 *     then GET /indicators for the year by office, unit and official; beside
 *     a plain SQL aggregate over a flat table of the same dossiers.
 */
#include "../../plugins/eval-stream/test-eval-common.h"

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

static char root[512];

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int64_t real_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : def;
}

static void msleep(int ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

/* ---- broker and subscriber ------------------------------------------------------------------ */

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

struct sub {
	pthread_mutex_t mu;
	size_t n;
	double *lat_ms;
	size_t n_lat, cap_lat;
	int measure;
	int connected;
};

static struct sub S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void sub_on_connect(struct mosquitto *m, void *data, int rc)
{
	if (rc == 0) {
		mosquitto_subscribe(m, NULL, "bench/#", 1);
		S.connected = 1;
	}
}

static void sub_on_message(struct mosquitto *m, void *data, const struct mosquitto_message *msg)
{
	int64_t t = real_ns();
	pthread_mutex_lock(&S.mu);
	S.n++;
	if (S.measure) {
		const char *p = memmem(msg->payload, (size_t)msg->payloadlen, "\"t_ns\":", 7);
		if (p) {
			int64_t sent = strtoll(p + 7, NULL, 10);
			if (S.n_lat == S.cap_lat) {
				S.cap_lat = S.cap_lat ? S.cap_lat * 2 : 4096;
				S.lat_ms = realloc(S.lat_ms, S.cap_lat * sizeof *S.lat_ms);
			}
			S.lat_ms[S.n_lat++] = (double)(t - sent) / 1e6;
		}
	}
	pthread_mutex_unlock(&S.mu);
}

static size_t sub_count(void)
{
	pthread_mutex_lock(&S.mu);
	size_t n = S.n;
	pthread_mutex_unlock(&S.mu);
	return n;
}

static void sub_reset(int measure)
{
	pthread_mutex_lock(&S.mu);
	S.n = 0;
	S.n_lat = 0;
	S.measure = measure;
	pthread_mutex_unlock(&S.mu);
}

static int wait_count(size_t n, double timeout_s)
{
	double end = now_s() + timeout_s;
	while (sub_count() < n && now_s() < end)
		msleep(1);
	return sub_count() >= n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void percentiles(double *p50, double *p99)
{
	pthread_mutex_lock(&S.mu);
	qsort(S.lat_ms, S.n_lat, sizeof *S.lat_ms, cmp_double);
	*p50 = S.n_lat ? S.lat_ms[(size_t)ceil(0.50 * (double)S.n_lat) - 1] : NAN;
	*p99 = S.n_lat ? S.lat_ms[(size_t)ceil(0.99 * (double)S.n_lat) - 1] : NAN;
	pthread_mutex_unlock(&S.mu);
}

static char *payload(long i, int64_t t_ns)
{
	static char buf[512];
	snprintf(
	    buf, sizeof buf,
	    "{\"type\":\"ticket.issued\",\"at\":\"2026-11-27T08:00:00+07:00\",\"id\":%ld,"
	    "\"number\":%ld,"
	    "\"service\":\"Chứng thực\",\"issued_at\":\"2026-11-27T08:00:00+07:00\",\"t_ns\":%lld}",
	    i, i, (long long)t_ns);
	return buf;
}

static struct mosquitto *pub_m;
static void pub_on_publish(struct mosquitto *m, void *data, int mid)
{
}

/* ---- 3. a year of a busy office
 * ------------------------------------------------------------------- */

static uint64_t rng = 42;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static void iso(int64_t epoch, char *buf)
{
	time_t t = (time_t)(epoch + 7 * 3600);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d+07:00", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *const units[] = {"Tư pháp - Hộ tịch", "Địa chính - Xây dựng", "Văn hóa - Xã hội",
				    "Kinh tế", "Công an"};
static const char *const officials[] = {"Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường",
					"Phạm Thị Dung", "Hoàng Văn Em",  "Vũ Thị Giang",
					"Đặng Văn Hùng", "Bùi Thị Lan"};

static int64_t ev_id;
static struct eval *Y;
static long n_year_events;

static void apply(const char *type, const char *json)
{
	if (eval_apply(Y, ++ev_id, type, json, strlen(json), NULL) < 0) {
		fprintf(stderr, "eval_apply failed: %s\n", sqlite3_errmsg(eval_db(Y)));
		exit(1);
	}
	n_year_events++;
}

static void year(long n_dossiers, sqlite3 *flat)
{
	const int64_t start = 1735664400; /* 2025-01-01T00:00:00+07:00 */
	char j[1024], a[32], b[32], c[32];
	sqlite3_stmt *fi;
	sqlite3_prepare_v2(flat,
			   "INSERT INTO flat(day, unit, official, channel, received, due, end_at, "
			   "supp_s, supp_n, paper, result,"
			   " reused, synced, complaint, waited_s) "
			   "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
			   -1, &fi, NULL);
	sqlite3_exec(flat, "BEGIN", NULL, NULL, NULL);
	eval_begin(Y);
	for (long i = 0; i < n_dossiers; i++) {
		int64_t received = start + (int64_t)((double)i / (double)n_dossiers * 365 * 86400);
		/* office hours */
		int64_t sec = (received + 7 * 3600) % 86400;
		received += 7 * 3600 + (sec * 9 / 86400) * 3600 - sec;
		const char *unit = units[rnd() % 5], *off = officials[rnd() % 8];
		int channel = rnd() % 100 < 45 ? 2 : (rnd() % 10 == 0 ? 3 : 1);
		int64_t waited = -1;
		char ticket[32] = "null";
		if (channel == 1) {
			waited = 60 + rnd() % 3000;
			snprintf(ticket, sizeof ticket, "%ld", i);
			iso(received - waited - 300, a);
			iso(received - 300, b);
			snprintf(j, sizeof j,
				 "{\"type\":\"ticket.issued\",\"at\":\"%s\",\"id\":%ld,\"number\":%"
				 "ld,\"issued_at\":\"%s\"}",
				 a, i, i % 500, a);
			apply("ticket.issued", j);
			snprintf(j, sizeof j,
				 "{\"type\":\"ticket.called\",\"at\":\"%s\",\"id\":%ld,\"number\":%"
				 "ld,\"counter\":\"Q%d\",\"official\":\"%s\","
				 "\"issued_at\":\"%s\",\"called_at\":\"%s\",\"waited_s\":%lld}",
				 b, i, i % 500, (int)(rnd() % 6), off, a, b, (long long)waited);
			apply("ticket.called", j);
		}
		int64_t due = received + (3 + rnd() % 10) * 86400;
		iso(received, a);
		iso(due, b);
		char code[64];
		snprintf(code, sizeof code, "000.00.12.H50-%06ld", i);
		snprintf(j, sizeof j,
			 "{\"type\":\"dossier.created\",\"at\":\"%s\",\"code\":\"%s\",\"procedure_"
			 "code\":\"1.00%d\",\"channel\":%d,"
			 "\"status\":1,\"received_at\":\"%s\",\"due_at\":\"%s\",\"unit\":\"%s\","
			 "\"official\":\"%s\",\"ticket_id\":%s}",
			 a, code, (int)(rnd() % 40), channel, a, b, unit, off, ticket);
		apply("dossier.created", j);
		snprintf(j, sizeof j,
			 "{\"type\":\"document.done\",\"at\":\"%s\",\"dossier_code\":\"%s\","
			 "\"document_id\":\"p%ld\",\"sha256\":\"0\",\"type\":null}",
			 a, code, i);
		apply("document.done", j);
		int reused = rnd() % 100 < 35;
		if (reused) {
			snprintf(j, sizeof j,
				 "{\"type\":\"document.reused\",\"at\":\"%s\",\"dossier_code\":\"%"
				 "s\",\"document_id\":\"r%ld\",\"archive_id\":\"x\"}",
				 a, code, i);
			apply("document.reused", j);
		}
		int synced = rnd() % 100 < 97;
		if (synced) {
			snprintf(j, sizeof j,
				 "{\"type\":\"outbox.delivered\",\"at\":\"%s\",\"id\":%ld,"
				 "\"destination\":\"adapter-dvcqg\",\"dossier_code\":\"%s\","
				 "\"event_type\":\"dossier.created\",\"attempts\":1}",
				 a, i, code);
			apply("outbox.delivered", j);
		}
		int64_t t = received + 600;
		iso(t, c);
		snprintf(j, sizeof j,
			 "{\"type\":\"dossier.status\",\"at\":\"%s\",\"code\":\"%s\",\"status\":4,"
			 "\"previous\":1,\"by\":\"x\"}",
			 c, code);
		apply("dossier.status", j);
		int64_t supp_s = 0, supp_n = 0;
		if (rnd() % 100 < 12) {
			t += 86400;
			iso(t, c);
			snprintf(j, sizeof j,
				 "{\"type\":\"dossier.status\",\"at\":\"%s\",\"code\":\"%s\","
				 "\"status\":5,\"previous\":4,\"by\":\"x\"}",
				 c, code);
			apply("dossier.status", j);
			supp_s = 86400 * (1 + rnd() % 3);
			supp_n = 1;
			t += supp_s;
			iso(t, c);
			snprintf(j, sizeof j,
				 "{\"type\":\"dossier.status\",\"at\":\"%s\",\"code\":\"%s\","
				 "\"status\":4,\"previous\":5,\"by\":\"x\"}",
				 c, code);
			apply("dossier.status", j);
		}
		int64_t end_at = -1;
		int result = 0;
		if (rnd() % 100 < 96) {
			end_at = t + (int64_t)(rnd() % (12 * 86400));
			iso(end_at, c);
			snprintf(j, sizeof j,
				 "{\"type\":\"dossier.status\",\"at\":\"%s\",\"code\":\"%s\","
				 "\"status\":9,\"previous\":4,\"by\":\"x\"}",
				 c, code);
			apply("dossier.status", j);
			if (rnd() % 100 < 85) {
				result = 1;
				snprintf(j, sizeof j,
					 "{\"type\":\"document.done\",\"at\":\"%s\",\"dossier_"
					 "code\":\"%s\",\"document_id\":\"k%ld\",\"sha256\":\"0\","
					 "\"type\":\"ket-qua\"}",
					 c, code, i);
				apply("document.done", j);
			}
			snprintf(j, sizeof j,
				 "{\"type\":\"dossier.status\",\"at\":\"%s\",\"code\":\"%s\","
				 "\"status\":10,\"previous\":9,\"by\":\"x\"}",
				 c, code);
			apply("dossier.status", j);
		}
		int complaint = 0;
		if (rnd() % 100 < 30) {
			int level = rnd() % 100 < 60 ? 1 : rnd() % 100 < 85 ? 2 : 3;
			complaint = level == 3;
			snprintf(j, sizeof j,
				 "{\"type\":\"rating.added\",\"at\":\"%s\",\"id\":%ld,\"dossier_"
				 "code\":\"%s\",\"ticket_id\":null,\"level\":%d,"
				 "\"official\":null,\"unit\":null}",
				 a, i, code, level);
			apply("rating.added", j);
		}
		char day[11];
		eval_vn_day(received, day);
		sqlite3_bind_text(fi, 1, day, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(fi, 2, unit, -1, SQLITE_STATIC);
		sqlite3_bind_text(fi, 3, off, -1, SQLITE_STATIC);
		sqlite3_bind_int(fi, 4, channel);
		sqlite3_bind_int64(fi, 5, received);
		sqlite3_bind_int64(fi, 6, due);
		if (end_at >= 0)
			sqlite3_bind_int64(fi, 7, end_at);
		else
			sqlite3_bind_null(fi, 7);
		sqlite3_bind_int64(fi, 8, supp_s);
		sqlite3_bind_int64(fi, 9, supp_n);
		sqlite3_bind_int(fi, 10, 1);
		sqlite3_bind_int(fi, 11, result);
		sqlite3_bind_int(fi, 12, reused);
		sqlite3_bind_int(fi, 13, synced);
		sqlite3_bind_int(fi, 14, complaint);
		if (waited >= 0)
			sqlite3_bind_int64(fi, 15, waited);
		else
			sqlite3_bind_null(fi, 15);
		sqlite3_step(fi);
		sqlite3_reset(fi);
		if (i % 1000 == 999) {
			eval_commit(Y);
			eval_begin(Y);
		}
	}
	eval_commit(Y);
	sqlite3_exec(flat, "COMMIT", NULL, NULL, NULL);
	sqlite3_finalize(fi);
}

static double time_query(const char *by, int runs, size_t *bytes)
{
	double best[16];
	for (int r = 0; r < runs; r++) {
		char *json = NULL, msg[256];
		double t0 = now_s();
		if (eval_query(Y, "2025-01-01", "2025-12-31", by, &json, msg, sizeof msg)) {
			fprintf(stderr, "query: %s\n", msg);
			exit(1);
		}
		best[r] = now_s() - t0;
		*bytes = strlen(json);
		free(json);
	}
	qsort(best, (size_t)runs, sizeof *best, cmp_double);
	return best[runs / 2] * 1000.0;
}

static sqlite3 *flat_db;

static double time_flat(const char *col, int runs)
{
	char sql[1024];
	snprintf(sql, sizeof sql,
		 "SELECT %s, count(*), sum(channel = 2), sum(paper AND result), sum(reused), "
		 "sum(synced),"
		 " sum(end_at IS NOT NULL), sum(end_at <= due + supp_s AND supp_n <= 1),"
		 " avg(end_at - received - supp_s), sum(complaint), avg(waited_s)"
		 " FROM flat WHERE day BETWEEN '2025-01-01' AND '2025-12-31' GROUP BY 1",
		 col);
	double best[16];
	for (int r = 0; r < runs; r++) {
		sqlite3_stmt *st;
		double t0 = now_s();
		sqlite3_prepare_v2(flat_db, sql, -1, &st, NULL);
		while (sqlite3_step(st) == SQLITE_ROW)
			;
		sqlite3_finalize(st);
		best[r] = now_s() - t0;
	}
	qsort(best, (size_t)runs, sizeof *best, cmp_double);
	return best[runs / 2] * 1000.0;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof root, "%s/eval-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root) || fh_load())
		return 1;
	long n_events = env_long("EVAL_BENCH_EVENTS", 20000);
	long n_paced = env_long("EVAL_BENCH_PACED", 2000);
	long rate = env_long("EVAL_BENCH_RATE", 500);
	long n_dossiers = env_long("EVAL_BENCH_DOSSIERS", 100000);
	const char *mosq = getenv("EVAL_MOSQUITTO"), *mosq_pub = getenv("EVAL_MOSQUITTO_PUB");
	fh_quiet = 1;

	/* the broker */
	int port = free_port();
	char conf[700], text[1024], portbuf[16];
	snprintf(portbuf, sizeof portbuf, "%d", port);
	snprintf(conf, sizeof conf, "%s/mosquitto.conf", root);
	struct passwd *pw = getpwuid(getuid());
	snprintf(text, sizeof text,
		 "user %s\nlistener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n",
		 pw ? pw->pw_name : "root", port);
	FILE *f = fopen(conf, "w");
	fputs(text, f);
	fclose(f);
	pid_t broker = fork();
	if (broker == 0) {
		char log[800];
		snprintf(log, sizeof log, "%s.log", conf);
		FILE *lf = freopen(log, "w", stderr);
		(void)lf;
		execl(mosq, mosq, "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !port_open(port); i++)
		msleep(50);
	mosquitto_lib_init();
	struct mosquitto *sm = mosquitto_new("bench-sub", true, NULL);
	mosquitto_connect_callback_set(sm, sub_on_connect);
	mosquitto_message_callback_set(sm, sub_on_message);
	if (mosquitto_connect(sm, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "eval-bench: cannot reach the broker (mosquitto at %s)\n",
			mosq ? mosq : "?");
		return 1;
	}
	mosquitto_loop_start(sm);
	while (!S.connected)
		msleep(10);
	msleep(200);

	printf("eval-bench: %ld events burst, %ld paced at %ld/s, a year of %ld dossiers\n",
	       n_events, n_paced, rate, n_dossiers);

	/* 1. throughput through the plugin */
	snprintf(fh_data_dir, sizeof fh_data_dir, "%s/data", root);
	mkdir(fh_data_dir, 0700);
	fh_set_config("mqtt_host", "127.0.0.1", "mqtt_port", portbuf, "topic_prefix",
		      "bench/000.00.12.H50", "snapshot_interval_s", "0", NULL);
	if (fh_start()) {
		fprintf(stderr, "init: %s\n", fh_last_error());
		return 1;
	}
	msleep(300);
	sub_reset(0);
	double t0 = now_s();
	for (long i = 0; i < n_events; i++) {
		const char *p = payload(i, real_ns());
		fh_emit("ticket.issued", p);
	}
	double t_fed = now_s() - t0;
	int ok = wait_count((size_t)n_events, 120);
	double t_all = now_s() - t0;
	printf("\n1. Throughput, %ld events (QoS 1, local mosquitto)\n", n_events);
	printf("   %-44s %10.0f events/s consumed (%.2f s), %10.0f events/s delivered to the "
	       "subscriber (%.2f s)%s\n",
	       "eval-stream (SQLite txn + queue + PUBACK):", n_events / t_fed, t_fed,
	       n_events / t_all, t_all, ok ? "" : "  [INCOMPLETE]");

	/* baseline: mosquitto_pub -l -q 1 with the same payloads */
	char lines[700];
	snprintf(lines, sizeof lines, "%s/payloads.txt", root);
	f = fopen(lines, "w");
	for (long i = 0; i < n_events; i++)
		fprintf(f, "%s\n", payload(i, 0));
	fclose(f);
	sub_reset(0);
	char cmd[2000];
	snprintf(cmd, sizeof cmd,
		 "'%s' -h 127.0.0.1 -p %d -q 1 -t bench/baseline/events/ticket.issued -l < '%s'",
		 mosq_pub && *mosq_pub ? mosq_pub : "mosquitto_pub", port, lines);
	t0 = now_s();
	int rc = system(cmd);
	ok = wait_count((size_t)n_events, 120);
	t_all = now_s() - t0;
	printf("   %-44s %10s                             %10.0f events/s delivered to the "
	       "subscriber (%.2f s)%s\n",
	       "baseline: mosquitto_pub -q 1 -l:", "", n_events / t_all, t_all,
	       ok && rc == 0 ? "" : "  [INCOMPLETE]");

	/* 2. latency at a steady rate */
	printf("\n2. Event-to-subscriber latency, %ld events at %ld/s\n", n_paced, rate);
	sub_reset(1);
	double period = 1.0 / (double)rate, next = now_s();
	for (long i = 0; i < n_paced; i++) {
		while (now_s() < next)
			;
		next += period;
		fh_emit("ticket.issued", payload(i, real_ns()));
	}
	wait_count((size_t)n_paced, 30);
	double p50, p99;
	percentiles(&p50, &p99);
	printf("   %-44s p50 %7.3f ms   p99 %7.3f ms   (%zu received)\n", "eval-stream:", p50, p99,
	       sub_count());
	fh_stop();

	pub_m = mosquitto_new("bench-pub", true, NULL);
	mosquitto_publish_callback_set(pub_m, pub_on_publish);
	mosquitto_connect(pub_m, "127.0.0.1", port, 60);
	mosquitto_loop_start(pub_m);
	msleep(200);
	sub_reset(1);
	next = now_s();
	for (long i = 0; i < n_paced; i++) {
		while (now_s() < next)
			;
		next += period;
		const char *p = payload(i, real_ns());
		mosquitto_publish(pub_m, NULL, "bench/baseline/events/ticket.issued",
				  (int)strlen(p), p, 1, false);
	}
	wait_count((size_t)n_paced, 30);
	percentiles(&p50, &p99);
	printf("   %-44s p50 %7.3f ms   p99 %7.3f ms   (%zu received)\n",
	       "baseline: libmosquitto publish, QoS 1:", p50, p99, sub_count());
	mosquitto_disconnect(pub_m);
	mosquitto_loop_stop(pub_m, true);
	mosquitto_destroy(pub_m);
	mosquitto_disconnect(sm);
	mosquitto_loop_stop(sm, true);
	mosquitto_destroy(sm);
	kill(broker, SIGTERM);
	waitpid(broker, NULL, 0);

	/* 3. a year */
	char ydb[700], fdb[700], msg[512];
	snprintf(ydb, sizeof ydb, "%s/year.db", root);
	snprintf(fdb, sizeof fdb, "%s/flat.db", root);
	if (eval_open(ydb, &Y, msg, sizeof msg)) {
		fprintf(stderr, "%s\n", msg);
		return 1;
	}
	sqlite3_open(fdb, &flat_db);
	sqlite3_exec(flat_db,
		     "PRAGMA journal_mode=WAL; CREATE TABLE flat(day TEXT, unit TEXT, official "
		     "TEXT, channel INT, received INT,"
		     " due INT, end_at INT, supp_s INT, supp_n INT, paper INT, result INT, reused "
		     "INT, synced INT,"
		     " complaint INT, waited_s INT); CREATE INDEX flat_day ON flat(day);",
		     NULL, NULL, NULL);
	t0 = now_s();
	year(n_dossiers, flat_db);
	double t_year = now_s() - t0;
	printf("\n3. A year of a busy office: %ld dossiers, %ld events applied in %.1f s (%.0f "
	       "events/s, batches of"
	       " ~1000 dossiers)\n",
	       n_dossiers, n_year_events, t_year, n_year_events / t_year);
	const char *bys[] = {"office", "unit", "official"},
		   *cols[] = {"'office'", "unit", "official"};
	for (int k = 0; k < 3; k++) {
		size_t bytes = 0;
		double q = time_query(bys[k], 5, &bytes);
		double b = time_flat(cols[k], 5);
		printf("   by=%-9s GET /indicators (year): %8.1f ms (%zu bytes)   baseline flat "
		       "SQL aggregate: %8.1f ms\n",
		       bys[k], q, bytes, b);
	}
	{
		size_t bytes = 0;
		char *json = NULL;
		double q0 = now_s();
		eval_query(Y, "2025-11-28", "2025-11-28", "office", &json, msg, sizeof msg);
		double q = (now_s() - q0) * 1000.0;
		bytes = json ? strlen(json) : 0;
		printf("   by=office one day (the snapshot's query): %.2f ms (%zu bytes)\n", q,
		       bytes);
		free(json);
	}
	eval_close(Y);
	sqlite3_close(flat_db);
	mosquitto_lib_cleanup();
	motcua_testhost_free(fh_th);
	if (getenv("EVAL_BENCH_KEEP")) {
		printf("   (files kept in %s)\n", root);
		return 0;
	}
	char rm[700];
	snprintf(rm, sizeof rm, "rm -rf '%s'", root);
	if (system(rm) != 0)
		return 1;
	return 0;
}
