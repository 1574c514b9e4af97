/* SPDX-License-Identifier: MIT */
/*
 * The rating keypad: a USB keypad through libevdev, grabbed (EVIOCGRAB) so
 * its keys never reach another program, its key presses (value 1; repeats
 * and releases ignored) mapped to rating levels 1-3 by a key map
 * ("KEY_KP1=1,KEY_1=1,KEY_KP2=2,..."), reported on a libevent loop.
 *
 * The simulated keypad (hw_keypad_new_sim) has no device: hw_keypad_key()
 * reports a level through the same callback (hw/sim.c drives it).
 */
#ifndef MOTCUA_HW_KEYPAD_H
#define MOTCUA_HW_KEYPAD_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct libevdev;

#define HW_KEYPAD_LEVELS 3
#define HW_KEYPAD_MAP_MAX 64
/* The map when the config gives none: digits and keypad digits 1-3. */
#define HW_KEYPAD_DEFAULT_MAP "KEY_KP1=1,KEY_1=1,KEY_KP2=2,KEY_2=2,KEY_KP3=3,KEY_3=3"

struct hw_keymap {
	size_t n;
	struct {
		unsigned code; /* KEY_* */
		int level;     /* 1..HW_KEYPAD_LEVELS */
	} keys[HW_KEYPAD_MAP_MAX];
};

/* "NAME=LEVEL,..." (commas or spaces between), names as
 * libevdev_event_code_from_name(EV_KEY, ...) knows them. 0, or -1 with err
 * naming the entry that is wrong. */
int hw_keymap_parse(const char *text, struct hw_keymap *map, char *err, size_t errlen);
/* The level of a key, 0 when unmapped. */
int hw_keymap_level(const struct hw_keymap *map, unsigned code);

typedef void (*hw_rating_cb)(int level, void *arg);

struct hw_keypad;

/* device: /dev/input/eventN, or a name looked up in /dev/input/by-id and
 * /dev/input/by-path (a file whose name is it or contains it). map NULL:
 * HW_KEYPAD_DEFAULT_MAP. NULL with err on refusal (missing, not an input
 * device, not a keyboard, grabbed by another program, bad map). */
struct hw_keypad *hw_keypad_open(struct event_base *base, const char *device, const char *map,
				 hw_rating_cb cb, void *arg, char *err, size_t errlen);
struct hw_keypad *hw_keypad_new_sim(struct event_base *base, hw_rating_cb cb, void *arg);
void hw_keypad_free(struct hw_keypad *kp);

/* The simulated keypad's way in, and the tests': a level 1..3 reported as a
 * mapped key press is. -1 when out of range. */
int hw_keypad_key(struct hw_keypad *kp, int level);

/* One input event, as the reader hands them over: reports a mapped key's
 * press (value 1). Returns the level reported, or 0. */
int hw_keypad_handle_event(struct hw_keypad *kp, unsigned type, unsigned code, int value);

/* Whether dev is a keypad: EV_KEY with at least one digit or keypad digit
 * key. 0, or -1 with err naming what (a path or a name). */
int hw_keypad_check_device(const struct libevdev *dev, const char *what, char *err, size_t errlen);

/* The device path hw_keypad_open resolves device to; 0 or -1 with err. */
int hw_keypad_resolve(const char *device, char *path, size_t pathlen, char *err, size_t errlen);

#endif
