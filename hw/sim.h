/* SPDX-License-Identifier: MIT */
/*
 * The simulated buttons, LEDs and keypad's UNIX socket. One line a command,
 * one reply (the last line of a reply is "ok" or "error: ..."):
 *
 *   press NAME   a press of button NAME (scan, next, finish, or any added)
 *   key N        a rating key of level N (1-3)
 *   leds         one line "NAME on|off|blink" per LED, then "ok"
 *   help         the commands, then "ok"
 *
 * A press and a key go through hw_gpio_press / hw_keypad_key: the callbacks
 * the real backends call. A line that is not one of these, a name that is
 * not a button, or a line longer than HW_SIM_LINE_MAX gets an error line
 * back and changes nothing (a line too long also closes the connection).
 * Many clients at once.
 */
#ifndef MOTCUA_HW_SIM_H
#define MOTCUA_HW_SIM_H

#include <stddef.h>

struct event_base;
struct hw_gpio;
struct hw_keypad;

#define HW_SIM_LINE_MAX 256
#define HW_SIM_CLIENTS_MAX 32

struct hw_sim;

/* gpio or keypad may be NULL (then press or key is refused). The socket at
 * path is made (an old one is removed first, if it is a socket) with mode
 * 0660. NULL with err when it cannot listen. */
struct hw_sim *hw_sim_new(struct event_base *base, const char *path, struct hw_gpio *gpio,
			  struct hw_keypad *keypad, char *err, size_t errlen);
/* Closes the clients and removes the socket. */
void hw_sim_free(struct hw_sim *sim);

/* What one line does, the reply written into out (lines ending "\n"); the
 * socket's own handler, exposed for tests. Returns 0 when the last line
 * is "ok", -1 when it is an error. */
int hw_sim_command(struct hw_sim *sim, const char *line, char *out, size_t outlen);

#endif
