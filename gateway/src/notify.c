/* SPDX-License-Identifier: MIT */
/* The systemd notify protocol, without libsystemd: READY=1 once the gateway
 * serves, STOPPING=1 when it stops, and WATCHDOG=1 from the loop while it
 * turns. If a plugin's library wedges the process (a lock left held by a
 * cancelled thread in a scanner backend, say), the pings stop and systemd
 * restarts the gateway, which resumes every unfinished job. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

static struct event *watchdog_ev;

void notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0; /* abstract socket */
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		log_debug("notify: %s", strerror(errno));
	close(fd);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_send("WATCHDOG=1");
}

int notify_start(struct event_base *base)
{
	notify_send("READY=1");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	if (!usec || (pid && strtol(pid, NULL, 10) != (long)getpid()))
		return 0;
	long long us = strtoll(usec, NULL, 10);
	if (us <= 0)
		return 0;
	/* Ping at half the interval, as sd_watchdog_enabled() advises. */
	us /= 2;
	struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
	watchdog_ev = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
	if (!watchdog_ev || event_add(watchdog_ev, &tv) < 0)
		return -ENOMEM;
	log_info("systemd watchdog: pinging every %lld ms", us / 1000);
	return 0;
}

void notify_stop(void)
{
	notify_send("STOPPING=1");
	if (watchdog_ev) {
		event_free(watchdog_ev);
		watchdog_ev = NULL;
	}
}
