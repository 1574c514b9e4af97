/* SPDX-License-Identifier: MIT */
/*
 * Buttons and LEDs on GPIO lines, on a libevent loop.
 *
 * Real backend: libgpiod 1.6 (v1 API), called only through a struct
 * hw_gpio_ops (hw_gpio_libgpiod_ops() is the real one; the tests pass a
 * stand-in chip). Buttons are requested for both edges with pull-up and
 * active-low; a press is reported once the line has been stable for
 * debounce_ms (v1 has no debounce of its own). LEDs are outputs: on, off,
 * or blinking with a period (an evtimer).
 *
 * Simulated backend: hw_gpio_new_sim(); buttons and LEDs have no lines,
 * hw_gpio_press() reports a press through the same callback (hw/sim.c
 * drives it from a UNIX socket), LED states are kept and read back.
 *
 * Line names: "CHIP:OFFSET" (gpiochip0:17, or a chip's label or path as
 * gpiod_chip_open_lookup takes them) or a line name (GPIO17).
 */
#ifndef MOTCUA_HW_GPIO_H
#define MOTCUA_HW_GPIO_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct gpiod_chip;
struct gpiod_line;
struct gpiod_line_event;

/* The few libgpiod calls the real backend makes. */
struct hw_gpio_ops {
	struct gpiod_chip *(*chip_open_lookup)(const char *descr);
	void (*chip_close)(struct gpiod_chip *chip);
	struct gpiod_line *(*chip_get_line)(struct gpiod_chip *chip, unsigned int offset);
	/* gpiod_line_find: the line's chip is opened for it, closed by
	 * line_close_chip. */
	struct gpiod_line *(*line_find)(const char *name);
	void (*line_close_chip)(struct gpiod_line *line);
	int (*line_request_both_edges_events_flags)(struct gpiod_line *line, const char *consumer,
						    int flags);
	int (*line_request_output_flags)(struct gpiod_line *line, const char *consumer, int flags,
					 int default_val);
	void (*line_release)(struct gpiod_line *line);
	int (*line_event_get_fd)(struct gpiod_line *line);
	int (*line_event_read)(struct gpiod_line *line, struct gpiod_line_event *event);
	int (*line_get_value)(struct gpiod_line *line);
	int (*line_set_value)(struct gpiod_line *line, int value);
};

const struct hw_gpio_ops *hw_gpio_libgpiod_ops(void);

enum hw_led_mode { HW_LED_OFF, HW_LED_ON, HW_LED_BLINK };

#define HW_GPIO_NAME_MAX 32
#define HW_GPIO_DEFAULT_DEBOUNCE_MS 30
#define HW_GPIO_CONSUMER "motcua-station"

/* name: the button's name (scan, next, finish, ...). */
typedef void (*hw_button_cb)(const char *name, void *arg);

struct hw_gpio;

/* ops NULL: libgpiod's own. */
struct hw_gpio *hw_gpio_new(struct event_base *base, const struct hw_gpio_ops *ops);
/* No lines: presses come from hw_gpio_press, LEDs are states only. */
struct hw_gpio *hw_gpio_new_sim(struct event_base *base);
void hw_gpio_free(struct hw_gpio *gpio);
bool hw_gpio_is_sim(const struct hw_gpio *gpio);

void hw_gpio_set_button_cb(struct hw_gpio *gpio, hw_button_cb cb, void *arg);

/* 0, or -1 with err saying what is wrong, naming the value. line is ignored
 * (may be NULL) by the simulated backend. debounce_ms 0: the default. */
int hw_gpio_add_button(struct hw_gpio *gpio, const char *name, const char *line,
		       unsigned debounce_ms, char *err, size_t errlen);
int hw_gpio_add_led(struct hw_gpio *gpio, const char *name, const char *line, char *err,
		    size_t errlen);

/* A press of a button by name, reported as a debounced one is (the
 * simulated backend's way in). -1 when there is no such button. */
int hw_gpio_press(struct hw_gpio *gpio, const char *name);
bool hw_gpio_has_button(const struct hw_gpio *gpio, const char *name);

/* period_ms: a full on+off cycle, for HW_LED_BLINK (0: 500 ms). -1 when
 * there is no such LED or the line cannot be set. */
int hw_gpio_led_set(struct hw_gpio *gpio, const char *name, enum hw_led_mode mode,
		    unsigned period_ms);
/* -1 when there is no such LED. */
int hw_gpio_led_get(const struct hw_gpio *gpio, const char *name, enum hw_led_mode *mode);
const char *hw_led_mode_name(enum hw_led_mode mode);

/* The LEDs in the order they were added: for i from 0 until it returns
 * NULL. */
const char *hw_gpio_led_at(const struct hw_gpio *gpio, size_t i, enum hw_led_mode *mode);

#endif
