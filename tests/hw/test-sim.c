/* SPDX-License-Identifier: MIT */
/*
 * hw/sim.c: the simulated buttons, LEDs and keypad through their UNIX
 * socket, as clients (and motcua-hw-sim) talk to it, with the loop running.
 */
#include "harness.h"

#include "gpio.h"
#include "keypad.h"
#include "sim.h"

#include <event2/event.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static struct {
	unsigned presses;
	char last[32];
	unsigned ratings;
	int level;
} got;

static void on_press(const char *name, void *arg)
{
	got.presses++;
	snprintf(got.last, sizeof(got.last), "%s", name);
}

static void on_rating(int level, void *arg)
{
	got.ratings++;
	got.level = level;
}

struct rig {
	struct event_base *base;
	struct hw_gpio *gpio;
	struct hw_keypad *kp;
	struct hw_sim *sim;
	char path[512];
};

static void rig_up(struct rig *r)
{
	memset(&got, 0, sizeof(got));
	char err[256];
	r->base = event_base_new();
	r->gpio = hw_gpio_new_sim(r->base);
	hw_gpio_set_button_cb(r->gpio, on_press, NULL);
	CHECK_EQ_INT(hw_gpio_add_button(r->gpio, "scan", NULL, 0, err, sizeof(err)), 0);
	CHECK_EQ_INT(hw_gpio_add_button(r->gpio, "next", NULL, 0, err, sizeof(err)), 0);
	CHECK_EQ_INT(hw_gpio_add_button(r->gpio, "finish", NULL, 0, err, sizeof(err)), 0);
	CHECK_EQ_INT(hw_gpio_add_led(r->gpio, "ready", NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(hw_gpio_add_led(r->gpio, "scanning", NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(hw_gpio_add_led(r->gpio, "attention", NULL, err, sizeof(err)), 0);
	r->kp = hw_keypad_new_sim(r->base, on_rating, NULL);
	snprintf(r->path, sizeof(r->path), "%s/hw.sock", harness_mkdtemp());
	r->sim = hw_sim_new(r->base, r->path, r->gpio, r->kp, err, sizeof(err));
	CHECK_MSG(r->sim != NULL, "%s", err);
}

static void rig_down(struct rig *r)
{
	hw_sim_free(r->sim);
	CHECK(access(r->path, F_OK) < 0);
	hw_keypad_free(r->kp);
	hw_gpio_free(r->gpio);
	event_base_free(r->base);
}

static int client(struct rig *r)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", r->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	CHECK_EQ_INT(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Sends text, runs the loop until a reply ends in "ok\n" or an error line
 * (or the socket closes, or 5 s); returns the reply. */
static char reply[8192];
static const char *say(struct rig *r, int fd, const char *text)
{
	size_t n = strlen(text);
	CHECK_EQ_INT((int)write(fd, text, n), (int)n);
	size_t used = 0;
	reply[0] = '\0';
	for (int i = 0; i < 500; i++) {
		event_base_loop(r->base, EVLOOP_NONBLOCK);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t got_n = read(fd, reply + used, sizeof(reply) - 1 - used);
		if (got_n <= 0)
			break;
		used += (size_t)got_n;
		reply[used] = '\0';
		if ((used >= 3 && strcmp(reply + used - 3, "ok\n") == 0) ||
		    (strstr(reply, "error") && reply[used - 1] == '\n'))
			break;
	}
	return reply;
}

static void test_press_key_leds(void)
{
	struct rig r;
	rig_up(&r);
	int fd = client(&r);
	CHECK_STREQ(say(&r, fd, "press scan\n"), "ok\n");
	CHECK_EQ_UINT(got.presses, 1);
	CHECK_STREQ(got.last, "scan");
	CHECK_STREQ(say(&r, fd, "press finish\r\n"), "ok\n");
	CHECK_STREQ(got.last, "finish");
	CHECK_STREQ(say(&r, fd, "key 2\n"), "ok\n");
	CHECK_EQ_UINT(got.ratings, 1);
	CHECK_EQ_INT(got.level, 2);

	CHECK_STREQ(say(&r, fd, "leds\n"), "ready off\nscanning off\nattention off\nok\n");
	hw_gpio_led_set(r.gpio, "ready", HW_LED_ON, 0);
	hw_gpio_led_set(r.gpio, "attention", HW_LED_BLINK, 400);
	CHECK_STREQ(say(&r, fd, "leds\n"), "ready on\nscanning off\nattention blink\nok\n");
	CHECK_STRSTR(say(&r, fd, "help\n"), "press NAME\n");
	close(fd);
	rig_down(&r);
}

static void bad(struct rig *r, int fd, const char *line, const char *needle)
{
	const char *rep = say(r, fd, line);
	CHECK_STRSTR(rep, "error: ");
	CHECK_STRSTR(rep, needle);
	CHECK_EQ_UINT(got.presses, 0);
	CHECK_EQ_UINT(got.ratings, 0);
}

static void test_bad_lines_change_nothing(void)
{
	struct rig r;
	rig_up(&r);
	int fd = client(&r);
	bad(&r, fd, "press nope\n", "no button 'nope'");
	bad(&r, fd, "press\n", "usage: press NAME");
	bad(&r, fd, "press scan next\n", "usage: press NAME");
	bad(&r, fd, "press ready\n", "no button 'ready'"); /* an LED */
	bad(&r, fd, "key 4\n", "key '4': a rating key is 1 to 3");
	bad(&r, fd, "key 0\n", "key '0'");
	bad(&r, fd, "key 22\n", "key '22'");
	bad(&r, fd, "key\n", "usage: key N");
	bad(&r, fd, "frobnicate\n", "unknown command 'frobnicate'");
	bad(&r, fd, "PRESS scan\n", "unknown command 'PRESS'");
	bad(&r, fd, "\n", "empty line");
	bad(&r, fd, "press\tscan\x01\n", "control characters");
	/* Still answering after all that. */
	CHECK_STREQ(say(&r, fd, "leds\n"), "ready off\nscanning off\nattention off\nok\n");
	close(fd);

	/* A line longer than the bound: an error, and the connection closed. */
	fd = client(&r);
	char big[1200];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "press ", 6);
	bad(&r, fd, big, "line too long");
	char c;
	for (int i = 0; i < 100; i++) {
		event_base_loop(r.base, EVLOOP_NONBLOCK);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10) > 0)
			break;
	}
	CHECK_EQ_INT((int)read(fd, &c, 1), 0);
	close(fd);
	rig_down(&r);
}

static void test_many_clients(void)
{
	struct rig r;
	rig_up(&r);
	int fds[8];
	for (int i = 0; i < 8; i++)
		fds[i] = client(&r);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 8; i++)
			CHECK_STREQ(say(&r, fds[i], i % 2 ? "press next\n" : "key 1\n"), "ok\n");
	CHECK_EQ_UINT(got.presses, 8);
	CHECK_EQ_UINT(got.ratings, 8);
	/* Two lines in one write: two replies. */
	CHECK_EQ_INT((int)write(fds[0], "press scan\npress next\n", 22), 22);
	CHECK_STREQ(say(&r, fds[0], "leds\n"),
		    "ok\nok\nready off\nscanning off\nattention off\nok\n");
	CHECK_EQ_UINT(got.presses, 10);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	rig_down(&r);
}

static void test_socket_path_refused(void)
{
	char err[256] = "";
	struct event_base *base = event_base_new();
	char path[512];
	snprintf(path, sizeof(path), "%s/file", harness_mkdtemp());
	harness_write_file(path, "not a socket");
	CHECK_NULL(hw_sim_new(base, path, NULL, NULL, err, sizeof(err)));
	CHECK_STRSTR(err, "exists and is not a socket");
	CHECK_NULL(hw_sim_new(base, "/nonexistent/dir/hw.sock", NULL, NULL, err, sizeof(err)));
	CHECK_STRSTR(err, "'/nonexistent/dir/hw.sock': cannot listen");
	CHECK_NULL(hw_sim_new(base, "", NULL, NULL, err, sizeof(err)));
	event_base_free(base);
}

/* motcua-hw-sim, as an operator runs it, while the loop runs here. */
static int run_tool(struct rig *r, const char *a1, const char *a2, char *out, size_t outlen)
{
	int p[2];
	CHECK_EQ_INT(pipe(p), 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(HW_SIM_TOOL, HW_SIM_TOOL, r->path, a1, a2, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	int status = 0;
	for (int i = 0; i < 500; i++) {
		event_base_loop(r->base, EVLOOP_NONBLOCK);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(10000);
	}
	ssize_t n = read(p[0], out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_tool(void)
{
	struct rig r;
	rig_up(&r);
	char out[1024];
	CHECK_EQ_INT(run_tool(&r, "press next", "leds", out, sizeof(out)), 0);
	CHECK_STREQ(out, "ok\nready off\nscanning off\nattention off\nok\n");
	CHECK_EQ_UINT(got.presses, 1);
	CHECK_EQ_INT(run_tool(&r, "key 9", NULL, out, sizeof(out)), 1);
	CHECK_STRSTR(out, "error: key '9'");
	CHECK_EQ_UINT(got.ratings, 0);
	rig_down(&r);
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	RUN(test_press_key_leds);
	RUN(test_bad_lines_change_nothing);
	RUN(test_many_clients);
	RUN(test_socket_path_refused);
	RUN(test_tool);
	return harness_result();
}
