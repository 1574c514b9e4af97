/* SPDX-License-Identifier: MIT */
#include "keypad.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libevdev/libevdev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct hw_keypad {
	struct event_base *base;
	struct libevdev *dev; /* NULL: simulated */
	int fd;
	struct event *ev;
	struct hw_keymap map;
	hw_rating_cb cb;
	void *cb_arg;
};

int hw_keymap_parse(const char *text, struct hw_keymap *map, char *err, size_t errlen)
{
	memset(map, 0, sizeof(*map));
	if (!text)
		text = HW_KEYPAD_DEFAULT_MAP;
	const char *p = text;
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, ", \t");
		char entry[64];
		if (n >= sizeof(entry)) {
			snprintf(err, errlen, "keypad map: entry '%.*s...' is too long", 20, p);
			return -1;
		}
		memcpy(entry, p, n);
		entry[n] = '\0';
		p += n;
		char *eq = strchr(entry, '=');
		if (!eq || eq == entry || !eq[1]) {
			snprintf(err, errlen, "keypad map: '%s' is not KEY_NAME=LEVEL", entry);
			return -1;
		}
		*eq = '\0';
		const char *lv = eq + 1;
		if (lv[1] || lv[0] < '1' || lv[0] > '0' + HW_KEYPAD_LEVELS) {
			snprintf(err, errlen, "keypad map: '%s=%s': the level is 1 to %d", entry,
				 lv, HW_KEYPAD_LEVELS);
			return -1;
		}
		int code = libevdev_event_code_from_name(EV_KEY, entry);
		if (code < 0) {
			snprintf(err, errlen,
				 "keypad map: '%s' is not a key name (KEY_KP1, KEY_1...)", entry);
			return -1;
		}
		for (size_t i = 0; i < map->n; i++) {
			if (map->keys[i].code == (unsigned)code) {
				snprintf(err, errlen, "keypad map: '%s' is mapped twice", entry);
				return -1;
			}
		}
		if (map->n == HW_KEYPAD_MAP_MAX) {
			snprintf(err, errlen, "keypad map: more than %d keys", HW_KEYPAD_MAP_MAX);
			return -1;
		}
		map->keys[map->n].code = (unsigned)code;
		map->keys[map->n].level = lv[0] - '0';
		map->n++;
	}
	if (map->n == 0) {
		snprintf(err, errlen, "keypad map: '%s' maps no key", text);
		return -1;
	}
	return 0;
}

int hw_keymap_level(const struct hw_keymap *map, unsigned code)
{
	for (size_t i = 0; i < map->n; i++)
		if (map->keys[i].code == code)
			return map->keys[i].level;
	return 0;
}

int hw_keypad_check_device(const struct libevdev *dev, const char *what, char *err, size_t errlen)
{
	const char *name = libevdev_get_name(dev);
	if (!libevdev_has_event_type(dev, EV_KEY)) {
		snprintf(err, errlen, "keypad '%s' (%s): not a keyboard (it has no keys)", what,
			 name ? name : "?");
		return -1;
	}
	static const unsigned digits[] = {
	    KEY_1,   KEY_2,   KEY_3,   KEY_4,	KEY_5,	 KEY_6,	  KEY_7,
	    KEY_8,   KEY_9,   KEY_0,   KEY_KP0, KEY_KP1, KEY_KP2, KEY_KP3,
	    KEY_KP4, KEY_KP5, KEY_KP6, KEY_KP7, KEY_KP8, KEY_KP9,
	};
	for (size_t i = 0; i < sizeof(digits) / sizeof(digits[0]); i++)
		if (libevdev_has_event_code(dev, EV_KEY, digits[i]))
			return 0;
	snprintf(err, errlen, "keypad '%s' (%s): not a keyboard (no digit or keypad keys)", what,
		 name ? name : "?");
	return -1;
}

static int find_in(const char *dir, const char *device, char *path, size_t pathlen)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int found = -1;
	struct dirent *e;
	/* An exact name first, then one containing it. */
	for (int pass = 0; pass < 2 && found < 0; pass++) {
		rewinddir(d);
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			if (pass == 0 ? strcmp(e->d_name, device) == 0
				      : strstr(e->d_name, device) != NULL) {
				/* The event device, not its legacy mouse/joystick node. */
				if (pass == 1 && !strstr(e->d_name, "event"))
					continue;
				snprintf(path, pathlen, "%s/%s", dir, e->d_name);
				found = 0;
				break;
			}
		}
	}
	closedir(d);
	return found;
}

int hw_keypad_resolve(const char *device, char *path, size_t pathlen, char *err, size_t errlen)
{
	if (!device || !*device) {
		snprintf(err, errlen, "keypad device: empty");
		return -1;
	}
	if (device[0] == '/') {
		snprintf(path, pathlen, "%s", device);
		return 0;
	}
	if (strchr(device, '/') || strstr(device, "..")) {
		snprintf(err, errlen, "keypad device '%s': a path is absolute, a name has no '/'",
			 device);
		return -1;
	}
	if (find_in("/dev/input/by-id", device, path, pathlen) == 0 ||
	    find_in("/dev/input/by-path", device, path, pathlen) == 0)
		return 0;
	snprintf(err, errlen,
		 "keypad device '%s': no such device in /dev/input/by-id or /dev/input/by-path",
		 device);
	return -1;
}

static void report(struct hw_keypad *kp, int level)
{
	if (kp->cb)
		kp->cb(level, kp->cb_arg);
}

int hw_keypad_handle_event(struct hw_keypad *kp, unsigned type, unsigned code, int value)
{
	if (type != EV_KEY || value != 1)
		return 0; /* releases (0), repeats (2), other events */
	int level = hw_keymap_level(&kp->map, code);
	if (level > 0)
		report(kp, level);
	return level;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct hw_keypad *kp = arg;
	struct input_event ev;
	unsigned flags = LIBEVDEV_READ_FLAG_NORMAL;
	for (;;) {
		int rc = libevdev_next_event(kp->dev, flags, &ev);
		if (rc == LIBEVDEV_READ_STATUS_SYNC) {
			/* Dropped events: take the device's state as it is, and
			 * report nothing from the catch-up (no stale presses). */
			flags = LIBEVDEV_READ_FLAG_SYNC;
			continue;
		}
		if (rc == -EAGAIN && flags == LIBEVDEV_READ_FLAG_SYNC) {
			flags = LIBEVDEV_READ_FLAG_NORMAL;
			continue;
		}
		if (rc != LIBEVDEV_READ_STATUS_SUCCESS) {
			if (rc == -ENODEV) {
				fprintf(stderr, "motcua-hw: keypad unplugged\n");
				event_del(kp->ev);
			}
			return;
		}
		if (flags == LIBEVDEV_READ_FLAG_NORMAL)
			hw_keypad_handle_event(kp, ev.type, ev.code, ev.value);
	}
}

struct hw_keypad *hw_keypad_new_sim(struct event_base *base, hw_rating_cb cb, void *arg)
{
	struct hw_keypad *kp = calloc(1, sizeof(*kp));
	if (!kp)
		return NULL;
	kp->base = base;
	kp->fd = -1;
	kp->cb = cb;
	kp->cb_arg = arg;
	char err[16];
	hw_keymap_parse(NULL, &kp->map, err, sizeof(err));
	return kp;
}

struct hw_keypad *hw_keypad_open(struct event_base *base, const char *device, const char *map,
				 hw_rating_cb cb, void *arg, char *err, size_t errlen)
{
	struct hw_keypad *kp = calloc(1, sizeof(*kp));
	if (!kp) {
		snprintf(err, errlen, "keypad: out of memory");
		return NULL;
	}
	kp->base = base;
	kp->fd = -1;
	kp->cb = cb;
	kp->cb_arg = arg;
	if (hw_keymap_parse(map, &kp->map, err, errlen) < 0)
		goto fail;
	char path[512];
	if (hw_keypad_resolve(device, path, sizeof(path), err, errlen) < 0)
		goto fail;
	kp->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kp->fd < 0) {
		snprintf(err, errlen, "keypad device '%s': %s", path, strerror(errno));
		goto fail;
	}
	int rc = libevdev_new_from_fd(kp->fd, &kp->dev);
	if (rc < 0) {
		kp->dev = NULL;
		snprintf(err, errlen, "keypad device '%s': not an input device (%s)", path,
			 strerror(-rc));
		goto fail;
	}
	if (hw_keypad_check_device(kp->dev, path, err, errlen) < 0)
		goto fail;
	rc = libevdev_grab(kp->dev, LIBEVDEV_GRAB);
	if (rc < 0) {
		snprintf(err, errlen, "keypad device '%s': cannot grab it (%s)%s", path,
			 strerror(-rc), rc == -EBUSY ? ": another program holds it" : "");
		goto fail;
	}
	kp->ev = event_new(base, kp->fd, EV_READ | EV_PERSIST, on_readable, kp);
	if (!kp->ev || event_add(kp->ev, NULL) < 0) {
		snprintf(err, errlen, "keypad: out of memory");
		goto fail;
	}
	return kp;
fail:
	hw_keypad_free(kp);
	return NULL;
}

int hw_keypad_key(struct hw_keypad *kp, int level)
{
	if (level < 1 || level > HW_KEYPAD_LEVELS)
		return -1;
	report(kp, level);
	return 0;
}

void hw_keypad_free(struct hw_keypad *kp)
{
	if (!kp)
		return;
	if (kp->ev)
		event_free(kp->ev);
	if (kp->dev) {
		libevdev_grab(kp->dev, LIBEVDEV_UNGRAB);
		libevdev_free(kp->dev);
	}
	if (kp->fd >= 0)
		close(kp->fd);
	free(kp);
}
