/* SPDX-License-Identifier: MIT */
/*
 * adapter-bench: deliveries per second of adapter-http-json's deliver()
 * (loaded as the gateway loads it, through the SDK's test host) to a local
 * peer, with T worker threads sharing N deliveries, each with its own
 * idempotency key. The plugin keeps one CURL handle per worker at a time
 * (keep-alive), so a worker reconnects only when the peer closes.
 *
 *   adapter-bench PLUGIN URL N THREADS [CA_FILE]
 *
 * Prints one line: rate, failures, and the process's peak RSS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <motcua/plugin.h>
#include <motcua/testhost.h>

static struct motcua_testhost *th;
static const struct motcua_adapter_ops *ops;
static void *ops_data;
static atomic_int next_item, failures;
static int n_items;
static char last_failure[256];
static const char *dossier =
    "{\"code\":\"000.00.12.H50-261128-0007\",\"procedure_code\":\"1.001234\","
    "\"procedure_name\":\"Chứng thực bản sao từ bản chính giấy tờ, văn bản\","
    "\"applicant\":{\"name\":\"Nguyễn Văn "
    "Ánh\",\"id_number\":\"079123456789\",\"phone\":\"0901234567\"},"
    "\"channel\":\"counter\",\"status\":2,\"received_at\":\"2026-11-28T09:00:00+07:00\","
    "\"updated_at\":\"2026-11-28T09:05:00+07:00\",\"due_at\":\"2026-11-30T17:00:00+07:00\","
    "\"documents\":[{\"id\":\"d1\",\"name\":\"Tờ "
    "khai\",\"type\":\"to-khai\",\"media_type\":\"application/pdf\","
    "\"state\":\"done\",\"sha256\":"
    "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","
    "\"size\":183422,\"signature\":{\"format\":\"PAdES\",\"level\":\"B-T\"},\"path\":\"/"
    "nonexistent\","
    "\"sidecar_path\":null},{\"id\":\"d2\",\"name\":\"Căn "
    "cước\",\"type\":\"cccd\",\"media_type\":\"image/jpeg\","
    "\"state\":\"done\",\"sha256\":"
    "\"60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752\","
    "\"size\":95211,\"signature\":null,\"path\":\"/nonexistent\",\"sidecar_path\":null}]}";

static void *worker(void *arg)
{
	(void)arg;
	char key[64];
	for (;;) {
		int i = atomic_fetch_add(&next_item, 1);
		if (i >= n_items)
			break;
		struct motcua_delivery d = {
		    .struct_size = sizeof d,
		    .id = i,
		    .idempotency_key = key,
		    .destination = "adapter-http-json",
		    .dossier_code = "000.00.12.H50-261128-0007",
		    .event_type = "dossier.status",
		    .event_json = "{\"at\":\"2026-11-28T09:05:00+07:00\",\"status\":2}",
		    .dossier_json = dossier,
		    .attempt = 1,
		};
		snprintf(key, sizeof key, "bench-%d-%d", (int)getpid(), i);
		if (ops->deliver(ops_data, &d) != 0) {
			atomic_fetch_add(&failures, 1);
			snprintf(last_failure, sizeof last_failure, "%s", d.message);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s PLUGIN URL N THREADS [CA_FILE]\n", argv[0]);
		return 2;
	}
	const char *url = argv[2];
	n_items = atoi(argv[3]);
	int threads = atoi(argv[4]);
	const char *ca = argc > 5 ? argv[5] : NULL;
	if (n_items < 1 || threads < 1 || threads > 64)
		return 2;
	/* loaded as the gateway loads it, through the SDK's test host */
	th = motcua_testhost_new();
	if (!th || motcua_testhost_load(th, argv[1]) < 0) {
		fprintf(stderr, "%s\n", th ? motcua_testhost_error(th) : "no test host");
		return 1;
	}
	motcua_testhost_set_echo(th, MOTCUA_LOG_WARNING);
	motcua_testhost_config(th, "url", url, "ca_file", ca, "timeout_s", "10", NULL);
	if (motcua_testhost_start(th) != 0 || !(ops = motcua_testhost_adapter_ops(th, &ops_data))) {
		fprintf(stderr, "init failed: %s\n", motcua_testhost_error(th));
		return 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t tid[64];
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, worker, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf(
	    "deliver() threads=%d N=%d: %.2f s, %.0f deliveries/s, failures %d, peak RSS %.1f MB\n",
	    threads, n_items, dt, n_items / dt, atomic_load(&failures), ru.ru_maxrss / 1024.0);
	if (atomic_load(&failures))
		printf("  last failure: %s\n", last_failure);
	motcua_testhost_free(th);
	return atomic_load(&failures) ? 1 : 0;
}
