/* SPDX-License-Identifier: MIT */
/*
 * adapter-bench: deliveries per second of adapter-http-json's deliver()
 * (loaded with dlopen, as the gateway does) to a local peer, with T worker
 * threads sharing N deliveries, each with its own idempotency key. The
 * plugin keeps one CURL handle per worker at a time (keep-alive), so a
 * worker reconnects only when the peer closes.
 *
 *   adapter-bench PLUGIN URL N THREADS [CA_FILE]
 *
 * Prints one line: rate, failures, and the process's peak RSS.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <motcua/plugin.h>

struct motcua_plugin_ctx {
	int unused;
};

static const char *cfg_url, *cfg_ca;
static struct motcua_adapter_ops ops;
static void *ops_data;
static motcua_free_fn ops_free;
static char data_dir[256];
static atomic_int next_item, failures;
static int n_items;
static char last_failure[256];
static const char *dossier =
	"{\"code\":\"000.00.12.H50-261128-0007\",\"procedure_code\":\"1.001234\","
	"\"procedure_name\":\"Chứng thực bản sao từ bản chính giấy tờ, văn bản\","
	"\"applicant\":{\"name\":\"Nguyễn Văn Ánh\",\"id_number\":\"079123456789\",\"phone\":\"0901234567\"},"
	"\"channel\":\"counter\",\"status\":2,\"received_at\":\"2026-11-28T09:00:00+07:00\","
	"\"updated_at\":\"2026-11-28T09:05:00+07:00\",\"due_at\":\"2026-11-30T17:00:00+07:00\","
	"\"documents\":[{\"id\":\"d1\",\"name\":\"Tờ khai\",\"type\":\"to-khai\",\"media_type\":\"application/pdf\","
	"\"state\":\"done\",\"sha256\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","
	"\"size\":183422,\"signature\":{\"format\":\"PAdES\",\"level\":\"B-T\"},\"path\":\"/nonexistent\","
	"\"sidecar_path\":null},{\"id\":\"d2\",\"name\":\"Căn cước\",\"type\":\"cccd\",\"media_type\":\"image/jpeg\","
	"\"state\":\"done\",\"sha256\":\"60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752\","
	"\"size\":95211,\"signature\":null,\"path\":\"/nonexistent\",\"sidecar_path\":null}]}";

static void MOTCUA_PRINTF(3, 4) bench_log(struct motcua_plugin_ctx *c, enum motcua_log_level l, const char *fmt, ...)
{
	(void)c;
	if (l > MOTCUA_LOG_WARNING)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *bench_config(struct motcua_plugin_ctx *c, const char *section, const char *key)
{
	(void)c;
	(void)section;
	if (!strcmp(key, "url"))
		return cfg_url;
	if (!strcmp(key, "ca_file"))
		return cfg_ca;
	if (!strcmp(key, "timeout_s"))
		return "10";
	return NULL;
}

static int bench_route_add(struct motcua_plugin_ctx *c, const char *m, const char *p, unsigned r, motcua_route_fn fn,
			   void *d, motcua_free_fn f)
{
	(void)c, (void)m, (void)p, (void)r, (void)fn, (void)d, (void)f;
	return 0;
}

static const char *bench_data_dir(struct motcua_plugin_ctx *c)
{
	(void)c;
	return data_dir;
}

static int bench_adapter_register(struct motcua_plugin_ctx *c, const struct motcua_adapter_ops *o, void *d,
				  motcua_free_fn f)
{
	(void)c;
	ops = *o;
	ops_data = d;
	ops_free = f;
	return 0;
}

static int bench_dossier_status(struct motcua_plugin_ctx *c, const char *code, int s, const char *j)
{
	(void)c, (void)code, (void)s, (void)j;
	return 0;
}

static int bench_result_add(struct motcua_plugin_ctx *c, const char *code, const char *p, const char *m, const char *n)
{
	(void)c, (void)code, (void)p, (void)m, (void)n;
	return 0;
}

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
		if (ops.deliver(ops_data, &d) != 0) {
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
	cfg_url = argv[2];
	n_items = atoi(argv[3]);
	int threads = atoi(argv[4]);
	cfg_ca = argc > 5 ? argv[5] : NULL;
	if (n_items < 1 || threads < 1 || threads > 64)
		return 2;
	snprintf(data_dir, sizeof data_dir, "%s/adapter-bench-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(data_dir))
		return 1;
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	motcua_plugin_entry_fn entry = (motcua_plugin_entry_fn)dlsym(h, MOTCUA_PLUGIN_ENTRY_SYMBOL);
	uint32_t abi = MOTCUA_ABI_VERSION;
	const struct motcua_plugin_info *info = entry(&abi, 1);
	struct motcua_plugin_ctx ctx;
	struct motcua_host host = {
		.struct_size = sizeof host,
		.abi = MOTCUA_ABI_VERSION,
		.log = bench_log,
		.config_get = bench_config,
		.route_add = bench_route_add,
		.data_dir = bench_data_dir,
		.adapter_register = bench_adapter_register,
		.dossier_status = bench_dossier_status,
		.result_add = bench_result_add,
	};
	void *state = NULL;
	if (info->init(&ctx, &host, &state) != 0) {
		fprintf(stderr, "init failed\n");
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
	printf("deliver() threads=%d N=%d: %.2f s, %.0f deliveries/s, failures %d, peak RSS %.1f MB\n", threads, n_items,
	       dt, n_items / dt, atomic_load(&failures), ru.ru_maxrss / 1024.0);
	if (atomic_load(&failures))
		printf("  last failure: %s\n", last_failure);
	info->fini(state);
	if (ops_free)
		ops_free(ops_data);
	dlclose(h);
	rmdir(data_dir);
	return atomic_load(&failures) ? 1 : 0;
}
