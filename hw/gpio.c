/* SPDX-License-Identifier: MIT */
#include "gpio.h"

#include <errno.h>
#include <event2/event.h>
#include <gpiod.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct hw_gpio_ops libgpiod_ops = {
    .chip_open_lookup = gpiod_chip_open_lookup,
    .chip_close = gpiod_chip_close,
    .chip_get_line = gpiod_chip_get_line,
    .line_find = gpiod_line_find,
    .line_close_chip = gpiod_line_close_chip,
    .line_request_both_edges_events_flags = gpiod_line_request_both_edges_events_flags,
    .line_request_output_flags = gpiod_line_request_output_flags,
    .line_release = gpiod_line_release,
    .line_event_get_fd = gpiod_line_event_get_fd,
    .line_event_read = gpiod_line_event_read,
    .line_get_value = gpiod_line_get_value,
    .line_set_value = gpiod_line_set_value,
};

const struct hw_gpio_ops *hw_gpio_libgpiod_ops(void)
{
	return &libgpiod_ops;
}

/* A requested line and how to give it back. */
struct hw_line {
	struct gpiod_line *line;
	struct gpiod_chip *chip; /* opened by CHIP:OFFSET; NULL when found by name */
	bool by_name;
};

struct hw_button {
	struct hw_gpio *gpio;
	char name[HW_GPIO_NAME_MAX];
	struct hw_line l;
	unsigned debounce_ms;
	bool pressed; /* the last stable state */
	struct event *ev_edge;
	struct event *ev_settle;
};

struct hw_led {
	struct hw_gpio *gpio;
	char name[HW_GPIO_NAME_MAX];
	struct hw_line l;
	enum hw_led_mode mode;
	unsigned period_ms;
	int level;
	struct event *ev_blink;
};

struct hw_gpio {
	struct event_base *base;
	const struct hw_gpio_ops *ops; /* NULL: simulated */
	hw_button_cb cb;
	void *cb_arg;
	struct hw_button **buttons;
	size_t nbuttons;
	struct hw_led **leds;
	size_t nleds;
};

struct hw_gpio *hw_gpio_new(struct event_base *base, const struct hw_gpio_ops *ops)
{
	struct hw_gpio *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->base = base;
	g->ops = ops ? ops : &libgpiod_ops;
	return g;
}

struct hw_gpio *hw_gpio_new_sim(struct event_base *base)
{
	struct hw_gpio *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->base = base;
	return g;
}

bool hw_gpio_is_sim(const struct hw_gpio *gpio)
{
	return gpio->ops == NULL;
}

void hw_gpio_set_button_cb(struct hw_gpio *gpio, hw_button_cb cb, void *arg)
{
	gpio->cb = cb;
	gpio->cb_arg = arg;
}

static void line_put(struct hw_gpio *g, struct hw_line *l)
{
	if (!g->ops || !l->line)
		return;
	g->ops->line_release(l->line);
	if (l->by_name)
		g->ops->line_close_chip(l->line);
	else if (l->chip)
		g->ops->chip_close(l->chip);
	l->line = NULL;
	l->chip = NULL;
}

static bool name_ok(const char *s)
{
	if (!s || !*s || strlen(s) >= HW_GPIO_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* Finds the line "CHIP:OFFSET" or "NAME". */
static int line_get(struct hw_gpio *g, const char *what, const char *spec, struct hw_line *l,
		    char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	if (!spec || !*spec || strlen(spec) > 255) {
		snprintf(err, errlen, "%s: line '%s': empty or too long", what, spec ? spec : "");
		return -1;
	}
	for (const char *p = spec; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			snprintf(err, errlen, "%s: line '%s': spaces or control characters", what,
				 spec);
			return -1;
		}
	}
	const char *colon = strrchr(spec, ':');
	if (colon) {
		char chip[256];
		size_t n = (size_t)(colon - spec);
		const char *off = colon + 1;
		if (n == 0 || !*off) {
			snprintf(err, errlen, "%s: line '%s' is not CHIP:OFFSET", what, spec);
			return -1;
		}
		char *end;
		errno = 0;
		unsigned long o = strtoul(off, &end, 10);
		if (*end || errno || o > 65535 || *off < '0' || *off > '9') {
			snprintf(err, errlen, "%s: line '%s': offset '%s' is not a number", what,
				 spec, off);
			return -1;
		}
		memcpy(chip, spec, n);
		chip[n] = '\0';
		errno = 0;
		l->chip = g->ops->chip_open_lookup(chip);
		if (!l->chip) {
			snprintf(err, errlen, "%s: line '%s': no GPIO chip '%s' (%s)", what, spec,
				 chip, strerror(errno ? errno : ENOENT));
			return -1;
		}
		l->line = g->ops->chip_get_line(l->chip, (unsigned)o);
		if (!l->line) {
			snprintf(err, errlen, "%s: line '%s': chip '%s' has no line %lu", what,
				 spec, chip, o);
			g->ops->chip_close(l->chip);
			l->chip = NULL;
			return -1;
		}
		return 0;
	}
	errno = 0;
	l->line = g->ops->line_find(spec);
	if (!l->line) {
		snprintf(err, errlen, "%s: line '%s': no GPIO line of that name%s%s", what, spec,
			 errno && errno != ENOENT ? ": " : "",
			 errno && errno != ENOENT ? strerror(errno) : "");
		return -1;
	}
	l->by_name = true;
	return 0;
}

static void report(struct hw_button *b)
{
	if (b->gpio->cb)
		b->gpio->cb(b->name, b->gpio->cb_arg);
}

/* The line has had no edge for debounce_ms: its level now is its state. */
static void on_settle(evutil_socket_t fd, short what, void *arg)
{
	struct hw_button *b = arg;
	int v = b->gpio->ops->line_get_value(b->l.line);
	if (v < 0)
		return;
	if (v == 1 && !b->pressed) {
		b->pressed = true;
		report(b);
	} else if (v == 0) {
		b->pressed = false;
	}
}

static void on_edge(evutil_socket_t fd, short what, void *arg)
{
	struct hw_button *b = arg;
	struct gpiod_line_event e;
	errno = 0;
	if (b->gpio->ops->line_event_read(b->l.line, &e) < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			/* Not to spin on a line that only fails. */
			fprintf(stderr,
				"motcua-hw: button '%s': reading its edges: %s; ignored now\n",
				b->name, strerror(errno ? errno : EIO));
			event_del(b->ev_edge);
		}
		return;
	}
	struct timeval tv = {b->debounce_ms / 1000, (b->debounce_ms % 1000) * 1000};
	evtimer_add(b->ev_settle, &tv); /* again: from this edge on */
}

static struct hw_button *button_find(const struct hw_gpio *g, const char *name)
{
	for (size_t i = 0; i < g->nbuttons; i++)
		if (strcmp(g->buttons[i]->name, name) == 0)
			return g->buttons[i];
	return NULL;
}

static struct hw_led *led_find(const struct hw_gpio *g, const char *name)
{
	for (size_t i = 0; i < g->nleds; i++)
		if (strcmp(g->leds[i]->name, name) == 0)
			return g->leds[i];
	return NULL;
}

static void button_free(struct hw_button *b)
{
	if (!b)
		return;
	if (b->ev_edge)
		event_free(b->ev_edge);
	if (b->ev_settle)
		event_free(b->ev_settle);
	line_put(b->gpio, &b->l);
	free(b);
}

static void led_free(struct hw_led *l)
{
	if (!l)
		return;
	if (l->ev_blink)
		event_free(l->ev_blink);
	line_put(l->gpio, &l->l);
	free(l);
}

static int check_new_name(struct hw_gpio *g, const char *kind, const char *name, char *err,
			  size_t errlen)
{
	if (!name_ok(name)) {
		snprintf(err, errlen, "%s '%s': a name is 1 to %d letters, digits, '-' or '_'",
			 kind, name ? name : "", HW_GPIO_NAME_MAX - 1);
		return -1;
	}
	if (button_find(g, name) || led_find(g, name)) {
		snprintf(err, errlen, "%s '%s': the name is already used", kind, name);
		return -1;
	}
	return 0;
}

int hw_gpio_add_button(struct hw_gpio *g, const char *name, const char *line, unsigned debounce_ms,
		       char *err, size_t errlen)
{
	if (check_new_name(g, "button", name, err, errlen) < 0)
		return -1;
	if (debounce_ms > 1000) {
		snprintf(err, errlen, "button '%s': debounce %u ms is more than 1000", name,
			 debounce_ms);
		return -1;
	}
	struct hw_button **nb = realloc(g->buttons, (g->nbuttons + 1) * sizeof(*nb));
	if (!nb)
		goto oom;
	g->buttons = nb;
	struct hw_button *b = calloc(1, sizeof(*b));
	if (!b)
		goto oom;
	b->gpio = g;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->debounce_ms = debounce_ms ? debounce_ms : HW_GPIO_DEFAULT_DEBOUNCE_MS;
	if (g->ops) {
		char what[64];
		snprintf(what, sizeof(what), "button '%s'", name);
		if (line_get(g, what, line, &b->l, err, errlen) < 0) {
			free(b);
			return -1;
		}
		if (g->ops->line_request_both_edges_events_flags(
			b->l.line, HW_GPIO_CONSUMER,
			GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP | GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) <
		    0) {
			snprintf(err, errlen, "button '%s': line '%s': cannot request it: %s", name,
				 line, strerror(errno));
			if (b->l.by_name)
				g->ops->line_close_chip(b->l.line);
			else
				g->ops->chip_close(b->l.chip);
			free(b);
			return -1;
		}
		int fd = g->ops->line_event_get_fd(b->l.line);
		if (fd < 0) {
			snprintf(err, errlen, "button '%s': line '%s': no event fd", name, line);
			button_free(b);
			return -1;
		}
		b->ev_edge = event_new(g->base, fd, EV_READ | EV_PERSIST, on_edge, b);
		b->ev_settle = evtimer_new(g->base, on_settle, b);
		if (!b->ev_edge || !b->ev_settle || event_add(b->ev_edge, NULL) < 0) {
			button_free(b);
			goto oom;
		}
		/* Its state at start: held down now is not a press. */
		b->pressed = g->ops->line_get_value(b->l.line) == 1;
	}
	g->buttons[g->nbuttons++] = b;
	return 0;
oom:
	snprintf(err, errlen, "button '%s': out of memory", name);
	return -1;
}

static void led_write(struct hw_led *l, int level)
{
	l->level = level;
	if (l->gpio->ops && l->l.line)
		l->gpio->ops->line_set_value(l->l.line, level);
}

static void on_blink(evutil_socket_t fd, short what, void *arg)
{
	struct hw_led *l = arg;
	led_write(l, !l->level);
}

int hw_gpio_add_led(struct hw_gpio *g, const char *name, const char *line, char *err, size_t errlen)
{
	if (check_new_name(g, "LED", name, err, errlen) < 0)
		return -1;
	struct hw_led **nl = realloc(g->leds, (g->nleds + 1) * sizeof(*nl));
	if (!nl)
		goto oom;
	g->leds = nl;
	struct hw_led *l = calloc(1, sizeof(*l));
	if (!l)
		goto oom;
	l->gpio = g;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->ev_blink = event_new(g->base, -1, EV_PERSIST, on_blink, l);
	if (!l->ev_blink) {
		free(l);
		goto oom;
	}
	if (g->ops) {
		char what[64];
		snprintf(what, sizeof(what), "LED '%s'", name);
		if (line_get(g, what, line, &l->l, err, errlen) < 0) {
			led_free(l);
			return -1;
		}
		if (g->ops->line_request_output_flags(l->l.line, HW_GPIO_CONSUMER, 0, 0) < 0) {
			snprintf(err, errlen, "LED '%s': line '%s': cannot request it: %s", name,
				 line, strerror(errno));
			if (l->l.by_name)
				g->ops->line_close_chip(l->l.line);
			else
				g->ops->chip_close(l->l.chip);
			l->l.line = NULL;
			l->l.chip = NULL;
			led_free(l);
			return -1;
		}
	}
	g->leds[g->nleds++] = l;
	return 0;
oom:
	snprintf(err, errlen, "LED '%s': out of memory", name);
	return -1;
}

int hw_gpio_press(struct hw_gpio *g, const char *name)
{
	struct hw_button *b = button_find(g, name);
	if (!b)
		return -1;
	report(b);
	return 0;
}

bool hw_gpio_has_button(const struct hw_gpio *g, const char *name)
{
	return button_find(g, name) != NULL;
}

int hw_gpio_led_set(struct hw_gpio *g, const char *name, enum hw_led_mode mode, unsigned period_ms)
{
	struct hw_led *l = led_find(g, name);
	if (!l)
		return -1;
	evtimer_del(l->ev_blink);
	l->mode = mode;
	switch (mode) {
	case HW_LED_OFF:
		led_write(l, 0);
		break;
	case HW_LED_ON:
		led_write(l, 1);
		break;
	case HW_LED_BLINK: {
		l->period_ms = period_ms ? period_ms : 500;
		unsigned half = l->period_ms / 2 ? l->period_ms / 2 : 1;
		struct timeval tv = {half / 1000, (half % 1000) * 1000};
		led_write(l, 1);
		evtimer_add(l->ev_blink, &tv);
		break;
	}
	default:
		return -1;
	}
	return 0;
}

int hw_gpio_led_get(const struct hw_gpio *g, const char *name, enum hw_led_mode *mode)
{
	struct hw_led *l = led_find(g, name);
	if (!l)
		return -1;
	*mode = l->mode;
	return 0;
}

const char *hw_gpio_led_at(const struct hw_gpio *g, size_t i, enum hw_led_mode *mode)
{
	if (i >= g->nleds)
		return NULL;
	if (mode)
		*mode = g->leds[i]->mode;
	return g->leds[i]->name;
}

const char *hw_led_mode_name(enum hw_led_mode mode)
{
	switch (mode) {
	case HW_LED_ON:
		return "on";
	case HW_LED_BLINK:
		return "blink";
	default:
		return "off";
	}
}

void hw_gpio_free(struct hw_gpio *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nleds; i++) {
		struct hw_led *l = g->leds[i];
		if (g->ops && l->l.line)
			g->ops->line_set_value(l->l.line, 0); /* dark when we go */
		led_free(l);
	}
	for (size_t i = 0; i < g->nbuttons; i++)
		button_free(g->buttons[i]);
	free(g->leds);
	free(g->buttons);
	free(g);
}
