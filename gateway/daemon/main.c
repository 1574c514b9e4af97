/* SPDX-License-Identifier: MIT */
/* motcua-gateway: the daemon on the counter's appliance. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <event2/thread.h>

#include "api.h"
#include "archive.h"
#include "calendar.h"
#include "capture.h"
#include "counter.h"
#include "db.h"
#include "dossier-api.h"
#include "events.h"
#include "gateway.h"
#include "host.h"
#include "log.h"
#include "notify.h"
#include "outbox.h"
#include "pipeline.h"
#include "plugins.h"
#include "queue.h"
#include "queue-view.h"
#include "rating-session.h"
#include "records.h"
#include "router.h"
#include "services.h"
#include "session.h"
#include "store.h"
#include "util.h"
#include "workers.h"
#include "station.h"
#include "www.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: motcua-gateway [--config FILE] [-o SECTION.KEY=VALUE]... [--check]\n"
		   "\n"
		   "The motcua gateway for one-stop counters. Without --config it runs on its\n"
		   "embedded defaults: data in ./motcua-data, listening on 127.0.0.1:8080.\n"
		   "\n"
		   "  -c, --config FILE   read the configuration (see conf/motcua.conf)\n"
		   "  -o SECTION.KEY=VAL  set one key, over the file\n"
		   "      --check         check the configuration and plugins, then exit\n"
		   "  -V, --version       print the version\n"
		   "  -h, --help          this help\n");
}

/* SIGTERM and SIGINT are blocked in every thread and read from a signalfd on
 * the loop: libraries in plugins (SANE's reader threads, for one) reset
 * signal dispositions, which would otherwise turn a SIGTERM into a kill. */
static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct gateway *gw = arg;
	struct signalfd_siginfo si;
	if (read(fd, &si, sizeof si) != (ssize_t)sizeof si)
		return;
	if (gw->stopping) {
		log_warning("second signal: stopping now");
		event_base_loopbreak(gw->base);
		return;
	}
	log_info("%s: stopping (running steps finish, queued ones resume at the next start)",
		 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	gw->stopping = true;
	pipeline_stop(gw->pipeline);
	outbox_stop(gw->outbox);
	capture_cancel(gw->capture);
	event_base_loopexit(gw->base, NULL);
}

static int lock_data_dir(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/gateway.lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = -errno;
		close(fd);
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}
	return fd; /* held until exit */
}

/* The data folder (made absolute and locked), the database, the store and
 * the loop. */
static int open_state(struct gateway *gw, int *lock_fd)
{
	char err[1024];
	if (mkdir_p(gw->settings.data_dir, 0750) < 0) {
		log_error("cannot create data_dir %s: %s", gw->settings.data_dir, strerror(errno));
		return -EIO;
	}
	/* Absolute from here on: plugins keep their files under it. */
	char *abs_dir = realpath(gw->settings.data_dir, NULL);
	if (!abs_dir) {
		log_error("data_dir %s: %s", gw->settings.data_dir, strerror(errno));
		return -EIO;
	}
	free(gw->settings.data_dir);
	gw->settings.data_dir = abs_dir;
	*lock_fd = lock_data_dir(gw->settings.data_dir);
	if (*lock_fd < 0) {
		log_error("data_dir %s: %s", gw->settings.data_dir,
			  *lock_fd == -EBUSY ? "another gateway is using it" : strerror(-*lock_fd));
		return -EIO;
	}
	char dbpath[4096];
	snprintf(dbpath, sizeof dbpath, "%s/motcua.db", gw->settings.data_dir);
	gw->db = db_open(dbpath, err, sizeof err);
	if (!gw->db) {
		log_error("%s", err);
		return -EIO;
	}
	gw->store = store_open(gw->settings.data_dir);
	gw->base = event_base_new();
	if (!gw->store || !gw->base) {
		log_error("cannot set up the store or the event loop");
		return -EIO;
	}
	store_clean_tmp(gw->store);
	return 0;
}

/* The parts, each on the ones before it (ARCHITECTURE.md). */
static int start_parts(struct gateway *gw)
{
	gw->router = router_new(gw->db, &gw->stopping);
	if (!gw->router || router_protect(gw->router, "/api/v1/*") < 0 ||
	    router_protect(gw->router, "/metrics") < 0 ||
	    !(gw->workers = workers_new(gw->base, gw->settings.workers)) ||
	    !(gw->io_workers = workers_new(gw->base, 2)) || !(gw->events = events_new(gw)) ||
	    !(gw->records = records_new(gw)) || !(gw->pipeline = pipeline_new(gw)) ||
	    !(gw->capture = capture_new(gw)) || !(gw->archive = archive_new(gw)) ||
	    !(gw->outbox = outbox_new(gw)) || counter_routes_add(gw) < 0 ||
	    !(gw->dossier_api = dossier_api_new(gw)) || !(gw->session_api = session_api_new(gw)) ||
	    www_routes_add(gw->router) < 0 || host_routes_add(gw) < 0 ||
	    !(gw->station = station_new(gw))) {
		log_error("cannot start the worker pools, event bus, records, pipeline, capture, "
			  "archive, outbox or station");
		return -ENOMEM;
	}
	/* the queue: tickets, their views, the counters' rating sessions */
	if (!(gw->rating_sessions = rating_sessions_new(gw)) || queue_routes_add(gw) < 0 ||
	    queue_view_routes_add(gw) < 0) {
		log_error("cannot start the queue");
		return -ENOMEM;
	}
	return 0;
}

/* In the reverse order; the plugins before the parts that hold what they
 * registered. */
static void free_parts(struct gateway *gw)
{
	workers_free(gw->io_workers);
	api_free(gw->api);
	outbox_drain(gw->outbox);
	workers_free(gw->workers);
	plugins_free(gw->plugins);
	station_free(gw->station);
	session_api_free(gw->session_api);
	dossier_api_free(gw->dossier_api);
	rating_sessions_free(gw->rating_sessions);
	outbox_free(gw->outbox);
	archive_free(gw->archive);
	capture_free(gw->capture);
	pipeline_free(gw->pipeline);
	records_free(gw->records);
	events_free(gw->events);
	router_free(gw->router);
	store_free(gw->store);
	db_close(gw->db);
	if (gw->base)
		event_base_free(gw->base);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check", no_argument, NULL, 'k'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct gateway gw = {0};
	char err[1024] = "";
	const char *config_path = NULL;
	bool check_only = false;
	int rc = EXIT_FAILURE, lock_fd = -1, sig_fd = -1, c;
	struct event *sig_ev = NULL;
	sigset_t stop_signals;

	gw.config = config_new();
	if (!gw.config)
		return EXIT_FAILURE;
	/* -o applies after the file whatever the order: collect first. */
	const char **overrides = calloc((size_t)argc, sizeof *overrides);
	size_t n_over = 0;
	while ((c = getopt_long(argc, argv, "c:o:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			overrides[n_over++] = optarg;
			break;
		case 'k':
			check_only = true;
			break;
		case 'V':
			printf("motcua-gateway %s\n", MOTCUA_VERSION_STRING);
			rc = EXIT_SUCCESS;
			goto out;
		case 'h':
			usage(stdout);
			rc = EXIT_SUCCESS;
			goto out;
		default:
			usage(stderr);
			rc = 2;
			goto out;
		}
	}
	if (optind < argc) {
		usage(stderr);
		rc = 2;
		goto out;
	}
	if (config_path && config_load_file(gw.config, config_path, err, sizeof err) < 0)
		goto config_error;
	for (size_t i = 0; i < n_over; i++)
		if (config_set_override(gw.config, overrides[i], err, sizeof err) < 0)
			goto config_error;
	if (settings_load(&gw.settings, gw.config, err, sizeof err) < 0)
		goto config_error;

	/* Before any thread exists (a plugin's libraries may start some when loaded), so that every
	 * thread inherits the mask. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	sig_fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0) {
		log_error("cannot watch for signals: %s", strerror(errno));
		goto out;
	}

	/* Plugins run one engine per worker thread (OCR): OpenMP threads inside
	 * them would fight over the few cores. libgomp reads this once, when it
	 * is loaded, so it must be set before any plugin is dlopen()ed. An
	 * operator's own setting wins. */
	setenv("OMP_THREAD_LIMIT", "1", 0);

	/* Everything the configuration names is checked before any data is
	 * touched: a refused configuration changes nothing. */
	gw.plugins = plugins_new(&gw);
	if (!gw.plugins)
		goto out;
	if (plugins_open(gw.plugins, err, sizeof err) < 0 ||
	    config_check_all_used(gw.config, err, sizeof err) < 0)
		goto config_error;
	gw.calendar =
	    calendar_load(gw.settings.holidays_file, gw.settings.procedures_file, err, sizeof err);
	if (!gw.calendar)
		goto config_error;
	gw.services = services_load(gw.settings.services_file, err, sizeof err);
	if (!gw.services)
		goto config_error;
	if (check_only) {
		printf("configuration OK\n");
		rc = EXIT_SUCCESS;
		goto out;
	}

	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	if (open_state(&gw, &lock_fd) < 0 || start_parts(&gw) < 0)
		goto out;
	plugins_init(gw.plugins);
	gw.api = api_new(&gw, err, sizeof err);
	if (!gw.api) {
		log_error("%s", err);
		goto out;
	}
	sig_ev = event_new(gw.base, sig_fd, EV_READ | EV_PERSIST, on_signal, &gw);
	if (!sig_ev || event_add(sig_ev, NULL) < 0) {
		log_error("cannot watch for signals");
		goto out;
	}
	log_info(
	    "motcua-gateway %s for %s (%s): listening on http://%s:%u/, data in %s, %u workers",
	    MOTCUA_VERSION_STRING, gw.settings.office_name, gw.settings.agency_code,
	    gw.settings.listen_host, gw.settings.listen_port, gw.settings.data_dir,
	    gw.settings.workers);
	pipeline_start(gw.pipeline);
	outbox_start(gw.outbox);
	if (notify_start(gw.base) < 0)
		log_warning("cannot start the systemd watchdog pings");
	event_base_dispatch(gw.base);
	notify_stop();

	/* Stop: answer what is in flight, close the server, then let running
	 * steps finish and record them. */
	events_close_streams(gw.events);
	session_api_stop(gw.session_api);
	workers_free(gw.io_workers);
	gw.io_workers = NULL;
	api_free(gw.api);
	gw.api = NULL;
	outbox_drain(gw.outbox);
	workers_free(gw.workers);
	gw.workers = NULL;
	log_info("stopped cleanly");
	rc = EXIT_SUCCESS;
	goto out;

config_error:
	log_error("configuration: %s", err);
	rc = 78; /* EX_CONFIG */
out:
	if (sig_ev)
		event_free(sig_ev);
	if (sig_fd >= 0)
		close(sig_fd);
	free_parts(&gw);
	calendar_free(gw.calendar);
	services_free(gw.services);
	settings_clear(&gw.settings);
	config_free(gw.config);
	free(overrides);
	if (lock_fd >= 0)
		close(lock_fd);
	return rc;
}
