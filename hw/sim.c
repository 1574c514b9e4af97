/* SPDX-License-Identifier: MIT */
#include "sim.h"

#include "gpio.h"
#include "keypad.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define HW_SIM_OUTPUT_MAX (64 * 1024)

struct sim_client {
	struct hw_sim *sim;
	struct bufferevent *bev;
	struct sim_client *next;
	bool closing;
};

struct hw_sim {
	struct event_base *base;
	struct hw_gpio *gpio;
	struct hw_keypad *keypad;
	struct evconnlistener *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sim_client *clients;
	unsigned nclients;
};

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int hw_sim_command(struct hw_sim *sim, const char *line, char *out, size_t outlen)
{
	char cmd[16], arg[HW_SIM_LINE_MAX], extra[2];
	out[0] = '\0';
	if (strlen(line) >= HW_SIM_LINE_MAX) {
		snprintf(out, outlen, "error: line longer than %d bytes\n", HW_SIM_LINE_MAX - 1);
		return -1;
	}
	if (!printable(line)) {
		snprintf(out, outlen, "error: control characters in the line\n");
		return -1;
	}
	int n = sscanf(line, "%15s %255s %1s", cmd, arg, extra);
	if (n <= 0) {
		snprintf(out, outlen, "error: empty line (try 'help')\n");
		return -1;
	}
	if (strcmp(cmd, "help") == 0 && n == 1) {
		snprintf(out, outlen, "press NAME\nkey N (1-%d)\nleds\nok\n", HW_KEYPAD_LEVELS);
		return 0;
	}
	if (strcmp(cmd, "leds") == 0 && n == 1) {
		size_t used = 0;
		enum hw_led_mode m;
		const char *name;
		for (size_t i = 0; sim->gpio && (name = hw_gpio_led_at(sim->gpio, i, &m)); i++) {
			int w = snprintf(out + used, outlen - used, "%s %s\n", name,
					 hw_led_mode_name(m));
			if (w < 0 || (size_t)w >= outlen - used)
				break;
			used += (size_t)w;
		}
		snprintf(out + used, outlen - used, "ok\n");
		return 0;
	}
	if (strcmp(cmd, "press") == 0) {
		if (n != 2) {
			snprintf(out, outlen, "error: usage: press NAME\n");
			return -1;
		}
		if (!sim->gpio || !hw_gpio_has_button(sim->gpio, arg)) {
			snprintf(out, outlen, "error: no button '%s'\n", arg);
			return -1;
		}
		hw_gpio_press(sim->gpio, arg);
		snprintf(out, outlen, "ok\n");
		return 0;
	}
	if (strcmp(cmd, "key") == 0) {
		if (n != 2) {
			snprintf(out, outlen, "error: usage: key N (1-%d)\n", HW_KEYPAD_LEVELS);
			return -1;
		}
		if (!sim->keypad) {
			snprintf(out, outlen, "error: no simulated keypad\n");
			return -1;
		}
		if (arg[1] || arg[0] < '1' || arg[0] > '0' + HW_KEYPAD_LEVELS) {
			snprintf(out, outlen, "error: key '%s': a rating key is 1 to %d\n", arg,
				 HW_KEYPAD_LEVELS);
			return -1;
		}
		hw_keypad_key(sim->keypad, arg[0] - '0');
		snprintf(out, outlen, "ok\n");
		return 0;
	}
	snprintf(out, outlen, "error: unknown command '%s' (press, key, leds, help)\n", cmd);
	return -1;
}

static void client_free(struct sim_client *c)
{
	struct hw_sim *sim = c->sim;
	for (struct sim_client **p = &sim->clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	sim->nclients--;
	bufferevent_free(c->bev);
	free(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct sim_client *c = arg;
	if (c->closing)
		client_free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct sim_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char reply[4096];
	while (!c->closing) {
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (!line) {
			if (evbuffer_get_length(in) >= HW_SIM_LINE_MAX) {
				bufferevent_write(bev, "error: line too long\n", 21);
				c->closing = true;
				bufferevent_disable(bev, EV_READ);
			}
			return;
		}
		if (evbuffer_get_length(bufferevent_get_output(bev)) > HW_SIM_OUTPUT_MAX) {
			/* A client that sends and never reads its replies. */
			free(line);
			client_free(c);
			return;
		}
		if (len >= HW_SIM_LINE_MAX || strlen(line) != len) {
			bufferevent_write(bev, "error: line too long or with NUL bytes\n", 39);
		} else {
			hw_sim_command(c->sim, line, reply, sizeof(reply));
			bufferevent_write(bev, reply, strlen(reply));
		}
		free(line);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct hw_sim *sim = arg;
	if (sim->nclients >= HW_SIM_CLIENTS_MAX) {
		static const char msg[] = "error: too many clients\n";
		ssize_t w = write(fd, msg, sizeof(msg) - 1);
		(void)w;
		evutil_closesocket(fd);
		return;
	}
	struct sim_client *c = calloc(1, sizeof(*c));
	struct bufferevent *bev =
	    c ? bufferevent_socket_new(sim->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
	if (!bev) {
		free(c);
		evutil_closesocket(fd);
		return;
	}
	c->sim = sim;
	c->bev = bev;
	c->next = sim->clients;
	sim->clients = c;
	sim->nclients++;
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct hw_sim *hw_sim_new(struct event_base *base, const char *path, struct hw_gpio *gpio,
			  struct hw_keypad *keypad, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (!path || !*path || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "sim socket '%s': empty or longer than %zu bytes",
			 path ? path : "", sizeof(sun.sun_path) - 1);
		return NULL;
	}
	struct hw_sim *sim = calloc(1, sizeof(*sim));
	if (!sim) {
		snprintf(err, errlen, "sim socket: out of memory");
		return NULL;
	}
	sim->base = base;
	sim->gpio = gpio;
	sim->keypad = keypad;
	snprintf(sim->path, sizeof(sim->path), "%s", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "sim socket '%s': exists and is not a socket", path);
			free(sim);
			return NULL;
		}
		unlink(path);
	}
	mode_t old = umask(0117);
	sim->listener = evconnlistener_new_bind(base, on_accept, sim,
						LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
						(struct sockaddr *)&sun, (int)sizeof(sun));
	int e = errno;
	umask(old);
	if (!sim->listener) {
		snprintf(err, errlen, "sim socket '%s': cannot listen: %s", path, strerror(e));
		free(sim);
		return NULL;
	}
	return sim;
}

void hw_sim_free(struct hw_sim *sim)
{
	if (!sim)
		return;
	while (sim->clients)
		client_free(sim->clients);
	evconnlistener_free(sim->listener);
	unlink(sim->path);
	free(sim);
}
