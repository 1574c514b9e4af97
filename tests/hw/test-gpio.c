/* SPDX-License-Identifier: MIT */
/*
 * hw/gpio.c's real backend, run against a stand-in chip: the few libgpiod
 * calls it makes (struct hw_gpio_ops) answered by an in-process "gpiochip0"
 * of 32 lines named GPIO0..GPIO31, whose event fd is a pipe the test writes
 * edges into.
 */
#include "harness.h"

#include "gpio.h"

#include <event2/event.h>
#include <fcntl.h>
#include <gpiod.h>

struct fake_line {
	char name[16];
	int kind; /* 0 free, 1 events, 2 output */
	int flags;
	char consumer[32];
	int fds[2];
	int value;
	unsigned sets; /* line_set_value calls */
};

static struct {
	struct fake_line lines[32];
	int opens;
} chip;

static void fake_reset(void)
{
	memset(&chip, 0, sizeof(chip));
	for (int i = 0; i < 32; i++) {
		snprintf(chip.lines[i].name, sizeof(chip.lines[i].name), "GPIO%d", i);
		chip.lines[i].fds[0] = chip.lines[i].fds[1] = -1;
	}
}

static struct fake_line *fl(struct gpiod_line *l)
{
	return (struct fake_line *)(void *)l;
}

static struct gpiod_chip *f_chip_open_lookup(const char *descr)
{
	if (strcmp(descr, "gpiochip0") != 0 && strcmp(descr, "/dev/gpiochip0") != 0) {
		errno = ENOENT;
		return NULL;
	}
	chip.opens++;
	return (struct gpiod_chip *)(void *)&chip;
}

static void f_chip_close(struct gpiod_chip *c)
{
	chip.opens--;
}

static struct gpiod_line *f_chip_get_line(struct gpiod_chip *c, unsigned int off)
{
	if (off >= 32) {
		errno = EINVAL;
		return NULL;
	}
	return (struct gpiod_line *)(void *)&chip.lines[off];
}

static struct gpiod_line *f_line_find(const char *name)
{
	for (int i = 0; i < 32; i++) {
		if (strcmp(chip.lines[i].name, name) == 0) {
			chip.opens++;
			return (struct gpiod_line *)(void *)&chip.lines[i];
		}
	}
	errno = ENOENT;
	return NULL;
}

static void f_line_close_chip(struct gpiod_line *l)
{
	chip.opens--;
}

static int f_request_events(struct gpiod_line *l, const char *consumer, int flags)
{
	struct fake_line *f = fl(l);
	if (f->kind) {
		errno = EBUSY;
		return -1;
	}
	if (pipe2(f->fds, O_CLOEXEC) < 0)
		return -1;
	fcntl(f->fds[0], F_SETFL, O_NONBLOCK);
	f->kind = 1;
	f->flags = flags;
	f->value = 0; /* pulled up, active-low: released */
	snprintf(f->consumer, sizeof(f->consumer), "%s", consumer);
	return 0;
}

static int f_request_output(struct gpiod_line *l, const char *consumer, int flags, int def)
{
	struct fake_line *f = fl(l);
	if (f->kind) {
		errno = EBUSY;
		return -1;
	}
	f->kind = 2;
	f->flags = flags;
	f->value = def;
	snprintf(f->consumer, sizeof(f->consumer), "%s", consumer);
	return 0;
}

static void f_release(struct gpiod_line *l)
{
	struct fake_line *f = fl(l);
	if (f->fds[0] >= 0) {
		close(f->fds[0]);
		close(f->fds[1]);
	}
	f->fds[0] = f->fds[1] = -1;
	f->kind = 0;
}

static int f_event_get_fd(struct gpiod_line *l)
{
	return fl(l)->kind == 1 ? fl(l)->fds[0] : -1;
}

static int f_event_read(struct gpiod_line *l, struct gpiod_line_event *e)
{
	unsigned char b;
	if (read(fl(l)->fds[0], &b, 1) != 1)
		return -1;
	memset(e, 0, sizeof(*e));
	e->event_type = b ? GPIOD_LINE_EVENT_RISING_EDGE : GPIOD_LINE_EVENT_FALLING_EDGE;
	return 0;
}

static int f_get_value(struct gpiod_line *l)
{
	return fl(l)->value;
}

static int f_set_value(struct gpiod_line *l, int v)
{
	if (fl(l)->kind != 2) {
		errno = EPERM;
		return -1;
	}
	fl(l)->value = v;
	fl(l)->sets++;
	return 0;
}

static const struct hw_gpio_ops fake_ops = {
    .chip_open_lookup = f_chip_open_lookup,
    .chip_close = f_chip_close,
    .chip_get_line = f_chip_get_line,
    .line_find = f_line_find,
    .line_close_chip = f_line_close_chip,
    .line_request_both_edges_events_flags = f_request_events,
    .line_request_output_flags = f_request_output,
    .line_release = f_release,
    .line_event_get_fd = f_event_get_fd,
    .line_event_read = f_event_read,
    .line_get_value = f_get_value,
    .line_set_value = f_set_value,
};

/* A logical edge (1 pressed, 0 released) as the kernel reports one. */
static void edge(struct fake_line *f, int level)
{
	unsigned char b = (unsigned char)level;
	f->value = level;
	if (write(f->fds[1], &b, 1) != 1)
		abort();
}

static struct {
	unsigned n;
	char last[32];
} presses;

static void on_press(const char *name, void *arg)
{
	presses.n++;
	snprintf(presses.last, sizeof(presses.last), "%s", name);
}

/* A script of edges at given times, played on the loop. */
struct step {
	unsigned ms;
	int level;
};
struct player {
	struct fake_line *f;
	struct event *ev;
	int level;
};

static void on_step(evutil_socket_t fd, short what, void *arg)
{
	struct player *p = arg;
	edge(p->f, p->level);
}

static void play(struct event_base *base, struct fake_line *f, const struct step *steps, size_t n,
		 unsigned run_ms)
{
	struct player *ps = calloc(n, sizeof(*ps));
	for (size_t i = 0; i < n; i++) {
		ps[i].f = f;
		ps[i].level = steps[i].level;
		ps[i].ev = evtimer_new(base, on_step, &ps[i]);
		struct timeval tv = {steps[i].ms / 1000, (steps[i].ms % 1000) * 1000};
		evtimer_add(ps[i].ev, &tv);
	}
	struct timeval end = {run_ms / 1000, (run_ms % 1000) * 1000};
	event_base_loopexit(base, &end);
	event_base_dispatch(base);
	for (size_t i = 0; i < n; i++)
		event_free(ps[i].ev);
	free(ps);
}

static void run_for(struct event_base *base, unsigned ms)
{
	play(base, NULL, NULL, 0, ms);
}

static struct hw_gpio *setup(struct event_base **base)
{
	fake_reset();
	memset(&presses, 0, sizeof(presses));
	*base = event_base_new();
	struct hw_gpio *g = hw_gpio_new(*base, &fake_ops);
	hw_gpio_set_button_cb(g, on_press, NULL);
	return g;
}

static void teardown(struct event_base *base, struct hw_gpio *g)
{
	hw_gpio_free(g);
	event_base_free(base);
	CHECK_EQ_INT(chip.opens, 0);
	for (int i = 0; i < 32; i++)
		CHECK_EQ_INT(chip.lines[i].kind, 0);
}

static void test_button_requests_pull_up_active_low(void)
{
	struct event_base *base;
	struct hw_gpio *g = setup(&base);
	char err[256];
	CHECK_EQ_INT(hw_gpio_add_button(g, "scan", "gpiochip0:17", 20, err, sizeof(err)), 0);
	CHECK_EQ_INT(chip.lines[17].kind, 1);
	CHECK_EQ_INT(chip.lines[17].flags,
		     GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP | GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW);
	CHECK_STREQ(chip.lines[17].consumer, HW_GPIO_CONSUMER);
	CHECK_EQ_INT(chip.opens, 1);
	/* By line name too. */
	CHECK_EQ_INT(hw_gpio_add_button(g, "next", "GPIO22", 20, err, sizeof(err)), 0);
	CHECK_EQ_INT(chip.lines[22].kind, 1);
	CHECK_EQ_INT(chip.lines[22].flags,
		     GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP | GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW);
	CHECK_EQ_INT(chip.opens, 2);
	CHECK(hw_gpio_has_button(g, "scan"));
	CHECK(!hw_gpio_has_button(g, "finish"));
	teardown(base, g);
}

static void test_burst_of_edges_is_one_press(void)
{
	struct event_base *base;
	struct hw_gpio *g = setup(&base);
	char err[256];
	CHECK_EQ_INT(hw_gpio_add_button(g, "scan", "gpiochip0:17", 30, err, sizeof(err)), 0);
	/* A contact bouncing for 8 ms (edges inside 10 ms), then held. */
	const struct step s[] = {{0, 1}, {2, 0}, {4, 1}, {5, 0}, {7, 1}, {8, 0}, {9, 1}};
	play(base, &chip.lines[17], s, sizeof(s) / sizeof(s[0]), 90);
	CHECK_EQ_UINT(presses.n, 1);
	CHECK_STREQ(presses.last, "scan");
	/* Held longer: still one. */
	run_for(base, 50);
	CHECK_EQ_UINT(presses.n, 1);
	teardown(base, g);
}

static void test_two_presses_100ms_apart_are_two(void)
{
	struct event_base *base;
	struct hw_gpio *g = setup(&base);
	char err[256];
	CHECK_EQ_INT(hw_gpio_add_button(g, "next", "GPIO5", 30, err, sizeof(err)), 0);
	const struct step s[] = {
	    {0, 1},   {3, 0},	{6, 1},	  /* press, bouncing */
	    {55, 0},  {57, 1},	{59, 0},  /* release, bouncing */
	    {100, 1}, {103, 0}, {105, 1}, /* press again */
	    {150, 0}, {153, 1}, {155, 0}, /* release */
	};
	play(base, &chip.lines[5], s, sizeof(s) / sizeof(s[0]), 240);
	CHECK_EQ_UINT(presses.n, 2);
	CHECK_STREQ(presses.last, "next");
	teardown(base, g);
}

static void test_glitch_shorter_than_debounce_is_no_press(void)
{
	struct event_base *base;
	struct hw_gpio *g = setup(&base);
	char err[256];
	CHECK_EQ_INT(hw_gpio_add_button(g, "finish", "gpiochip0:6", 30, err, sizeof(err)), 0);
	const struct step s[] = {{0, 1}, {3, 0}};
	play(base, &chip.lines[6], s, 2, 80);
	CHECK_EQ_UINT(presses.n, 0);
	teardown(base, g);
}

static void test_led_on_off_blink(void)
{
	struct event_base *base;
	struct hw_gpio *g = setup(&base);
	char err[256];
	CHECK_EQ_INT(hw_gpio_add_led(g, "ready", "gpiochip0:23", err, sizeof(err)), 0);
	CHECK_EQ_INT(hw_gpio_add_led(g, "rating", "GPIO24", err, sizeof(err)), 0);
	CHECK_EQ_INT(chip.lines[23].kind, 2);
	CHECK_EQ_INT(chip.lines[23].value, 0);
	enum hw_led_mode m;
	CHECK_EQ_INT(hw_gpio_led_set(g, "ready", HW_LED_ON, 0), 0);
	CHECK_EQ_INT(chip.lines[23].value, 1);
	CHECK_EQ_INT(hw_gpio_led_get(g, "ready", &m), 0);
	CHECK_EQ_INT(m, HW_LED_ON);
	CHECK_EQ_INT(hw_gpio_led_set(g, "ready", HW_LED_OFF, 0), 0);
	CHECK_EQ_INT(chip.lines[23].value, 0);

	unsigned before = chip.lines[24].sets;
	CHECK_EQ_INT(hw_gpio_led_set(g, "rating", HW_LED_BLINK, 40), 0);
	CHECK_EQ_INT(chip.lines[24].value, 1);
	run_for(base, 130); /* toggles every 20 ms: about 6 */
	unsigned toggles = chip.lines[24].sets - before;
	CHECK_GE_INT((int)toggles, 4);
	CHECK_LE_INT((int)toggles, 9);
	CHECK_EQ_INT(hw_gpio_led_get(g, "rating", &m), 0);
	CHECK_EQ_INT(m, HW_LED_BLINK);
	CHECK_STREQ(hw_gpio_led_at(g, 1, &m), "rating");
	CHECK_STREQ(hw_led_mode_name(m), "blink");
	CHECK_NULL(hw_gpio_led_at(g, 2, &m));

	CHECK_EQ_INT(hw_gpio_led_set(g, "rating", HW_LED_OFF, 0), 0);
	CHECK_EQ_INT(chip.lines[24].value, 0);
	unsigned after = chip.lines[24].sets;
	run_for(base, 60);
	CHECK_EQ_UINT(chip.lines[24].sets, after); /* the blink stopped */
	CHECK_EQ_INT(hw_gpio_led_set(g, "nope", HW_LED_ON, 0), -1);
	teardown(base, g);
}

static void refused(struct hw_gpio *g, const char *line, const char *needle)
{
	char err[256] = "";
	CHECK_EQ_INT(hw_gpio_add_button(g, "b", line, 20, err, sizeof(err)), -1);
	CHECK_STRSTR(err, needle);
	err[0] = '\0';
	CHECK_EQ_INT(hw_gpio_add_led(g, "l", line, err, sizeof(err)), -1);
	CHECK_STRSTR(err, needle);
	CHECK_EQ_INT(chip.opens, 0);
}

static void test_unknown_line_name_refused(void)
{
	struct event_base *base;
	struct hw_gpio *g = setup(&base);
	refused(g, "gpiochip9:17", "'gpiochip9:17'");
	refused(g, "gpiochip9:17", "no GPIO chip 'gpiochip9'");
	refused(g, "gpiochip0:99", "has no line 99");
	refused(g, "gpiochip0:x", "offset 'x' is not a number");
	refused(g, "gpiochip0:-1", "offset '-1'");
	refused(g, "gpiochip0:", "not CHIP:OFFSET");
	refused(g, ":4", "not CHIP:OFFSET");
	refused(g, "GPIO99", "'GPIO99': no GPIO line of that name");
	refused(g, "GPIO 4", "spaces");
	refused(g, "", "empty");
	refused(g, NULL, "empty");

	char err[256];
	CHECK_EQ_INT(hw_gpio_add_button(g, "scan", "GPIO4", 20, err, sizeof(err)), 0);
	CHECK_EQ_INT(hw_gpio_add_button(g, "scan", "GPIO5", 20, err, sizeof(err)), -1);
	CHECK_STRSTR(err, "'scan': the name is already used");
	CHECK_EQ_INT(hw_gpio_add_led(g, "led", "GPIO4", err, sizeof(err)), -1);
	CHECK_STRSTR(err, "cannot request it");
	CHECK_EQ_INT(hw_gpio_add_button(g, "bad name", "GPIO6", 20, err, sizeof(err)), -1);
	CHECK_STRSTR(err, "'bad name'");
	CHECK_EQ_INT(chip.opens, 1);
	teardown(base, g);
}

static void test_sim_backend_same_callback(void)
{
	fake_reset();
	memset(&presses, 0, sizeof(presses));
	struct event_base *base = event_base_new();
	struct hw_gpio *g = hw_gpio_new_sim(base);
	hw_gpio_set_button_cb(g, on_press, NULL);
	char err[256];
	CHECK(hw_gpio_is_sim(g));
	CHECK_EQ_INT(hw_gpio_add_button(g, "scan", NULL, 0, err, sizeof(err)), 0);
	CHECK_EQ_INT(hw_gpio_add_led(g, "ready", NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(hw_gpio_press(g, "scan"), 0);
	CHECK_EQ_INT(hw_gpio_press(g, "next"), -1);
	CHECK_EQ_UINT(presses.n, 1);
	CHECK_EQ_INT(hw_gpio_led_set(g, "ready", HW_LED_BLINK, 20), 0);
	run_for(base, 30);
	enum hw_led_mode m;
	CHECK_EQ_INT(hw_gpio_led_get(g, "ready", &m), 0);
	CHECK_EQ_INT(m, HW_LED_BLINK);
	hw_gpio_free(g);
	event_base_free(base);
}

/* libgpiod itself, on a machine without GPIO chips (these): the names are
 * refused as the stand-in's are. */
static void test_libgpiod_without_chips_refuses(void)
{
	if (access("/dev/gpiochip0", F_OK) == 0)
		SKIP("this machine has /dev/gpiochip0");
	struct event_base *base = event_base_new();
	struct hw_gpio *g = hw_gpio_new(base, NULL);
	char err[256] = "";
	CHECK_EQ_INT(hw_gpio_add_button(g, "scan", "gpiochip0:17", 0, err, sizeof(err)), -1);
	CHECK_STRSTR(err, "button 'scan': line 'gpiochip0:17': no GPIO chip 'gpiochip0'");
	CHECK_EQ_INT(hw_gpio_add_led(g, "ready", "GPIO17", err, sizeof(err)), -1);
	CHECK_STRSTR(err, "LED 'ready': line 'GPIO17': no GPIO line of that name");
	hw_gpio_free(g);
	event_base_free(base);
}

/* On a Pi (suite hardware): MOTCUA_TEST_GPIO_BUTTON and MOTCUA_TEST_GPIO_LED
 * (line names); the LED blinks and a person presses the button within
 * 10 s. */
static void on_real_press(const char *name, void *arg)
{
	on_press(name, NULL);
	event_base_loopbreak(arg);
}

static void test_real_chip(void)
{
	const char *button = getenv("MOTCUA_TEST_GPIO_BUTTON");
	const char *led = getenv("MOTCUA_TEST_GPIO_LED");
	if (!button || !led || access("/dev/gpiochip0", F_OK) < 0)
		SKIP("no /dev/gpiochip0, or MOTCUA_TEST_GPIO_BUTTON/_LED not set");
	memset(&presses, 0, sizeof(presses));
	struct event_base *base = event_base_new();
	struct hw_gpio *g = hw_gpio_new(base, NULL);
	hw_gpio_set_button_cb(g, on_real_press, base);
	char err[256];
	CHECK_MSG(hw_gpio_add_button(g, "test", button, 0, err, sizeof(err)) == 0, "%s", err);
	CHECK_MSG(hw_gpio_add_led(g, "test-led", led, err, sizeof(err)) == 0, "%s", err);
	CHECK_EQ_INT(hw_gpio_led_set(g, "test-led", HW_LED_BLINK, 300), 0);
	fprintf(stderr, "press the button on %s within 10 s (the LED on %s blinks)\n", button, led);
	struct timeval tv = {10, 0};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	hw_gpio_free(g);
	event_base_free(base);
	CHECK_EQ_UINT(presses.n, 1);
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	if (getenv("MOTCUA_HW_HARDWARE")) {
		RUN(test_real_chip);
		return harness_result();
	}
	RUN(test_button_requests_pull_up_active_low);
	RUN(test_burst_of_edges_is_one_press);
	RUN(test_two_presses_100ms_apart_are_two);
	RUN(test_glitch_shorter_than_debounce_is_no_press);
	RUN(test_led_on_off_blink);
	RUN(test_unknown_line_name_refused);
	RUN(test_sim_backend_same_callback);
	RUN(test_libgpiod_without_chips_refuses);
	return harness_result();
}
