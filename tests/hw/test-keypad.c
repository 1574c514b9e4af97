/* SPDX-License-Identifier: MIT */
/*
 * hw/keypad.c without a keypad: the key map (libevdev's own key names), the
 * events the reader hands over, the keyboard check on devices made with
 * libevdev_new (a mouse, a keyless device, a keypad), and the refusals of
 * a missing path, a file that is no input device and an unknown name.
 * test_real_keypad (suite hardware) opens $MOTCUA_TEST_KEYPAD on a Pi.
 */
#include "harness.h"

#include "keypad.h"

#include <event2/event.h>
#include <libevdev/libevdev.h>

static struct {
	unsigned n;
	int last;
} ratings;

static void on_rating(int level, void *arg)
{
	ratings.n++;
	ratings.last = level;
}

static void test_default_map(void)
{
	struct hw_keymap m;
	char err[256];
	CHECK_EQ_INT(hw_keymap_parse(NULL, &m, err, sizeof(err)), 0);
	CHECK_EQ_UINT(m.n, 6);
	CHECK_EQ_INT(hw_keymap_level(&m, KEY_KP1), 1);
	CHECK_EQ_INT(hw_keymap_level(&m, KEY_2), 2);
	CHECK_EQ_INT(hw_keymap_level(&m, KEY_KP3), 3);
	CHECK_EQ_INT(hw_keymap_level(&m, KEY_KP4), 0);
	CHECK_EQ_INT(
	    hw_keymap_parse("KEY_KPPLUS=3, KEY_KPMINUS=1 KEY_KPENTER=2", &m, err, sizeof(err)), 0);
	CHECK_EQ_INT(hw_keymap_level(&m, KEY_KPENTER), 2);
	CHECK_EQ_INT(hw_keymap_level(&m, KEY_KPMINUS), 1);
}

static void map_refused(const char *text, const char *needle)
{
	struct hw_keymap m;
	char err[256] = "";
	CHECK_EQ_INT(hw_keymap_parse(text, &m, err, sizeof(err)), -1);
	CHECK_STRSTR(err, needle);
}

static void test_bad_map_refused(void)
{
	map_refused("KEY_NOPE=1", "'KEY_NOPE' is not a key name");
	map_refused("KEY_1=4", "'KEY_1=4': the level is 1 to 3");
	map_refused("KEY_1=0", "'KEY_1=0'");
	map_refused("KEY_1=12", "'KEY_1=12'");
	map_refused("KEY_1", "'KEY_1' is not KEY_NAME=LEVEL");
	map_refused("=1", "'=1' is not");
	map_refused("KEY_1=1,KEY_1=2", "'KEY_1' is mapped twice");
	map_refused(" , ", "maps no key");
	map_refused("REL_X=1", "'REL_X' is not a key name");
}

static void test_presses_only_mapped_and_value_1(void)
{
	struct event_base *base = event_base_new();
	struct hw_keypad *kp = hw_keypad_new_sim(base, on_rating, NULL);
	memset(&ratings, 0, sizeof(ratings));
	CHECK_EQ_INT(hw_keypad_handle_event(kp, EV_KEY, KEY_KP2, 1), 2);
	CHECK_EQ_UINT(ratings.n, 1);
	CHECK_EQ_INT(ratings.last, 2);
	CHECK_EQ_INT(hw_keypad_handle_event(kp, EV_KEY, KEY_KP2, 2), 0); /* repeat */
	CHECK_EQ_INT(hw_keypad_handle_event(kp, EV_KEY, KEY_KP2, 0), 0); /* release */
	CHECK_EQ_INT(hw_keypad_handle_event(kp, EV_KEY, KEY_A, 1), 0);	 /* unmapped */
	CHECK_EQ_INT(hw_keypad_handle_event(kp, EV_MSC, MSC_SCAN, 1), 0);
	CHECK_EQ_INT(hw_keypad_handle_event(kp, EV_SYN, SYN_REPORT, 0), 0);
	CHECK_EQ_UINT(ratings.n, 1);
	CHECK_EQ_INT(hw_keypad_key(kp, 3), 0);
	CHECK_EQ_INT(ratings.last, 3);
	CHECK_EQ_INT(hw_keypad_key(kp, 0), -1);
	CHECK_EQ_INT(hw_keypad_key(kp, 4), -1);
	CHECK_EQ_UINT(ratings.n, 2);
	hw_keypad_free(kp);
	event_base_free(base);
}

static void test_non_keyboard_refused(void)
{
	char err[256] = "";
	struct libevdev *mouse = libevdev_new();
	libevdev_set_name(mouse, "Test Mouse");
	libevdev_enable_event_code(mouse, EV_REL, REL_X, NULL);
	libevdev_enable_event_code(mouse, EV_REL, REL_Y, NULL);
	CHECK_EQ_INT(hw_keypad_check_device(mouse, "/dev/input/event7", err, sizeof(err)), -1);
	CHECK_STRSTR(err, "'/dev/input/event7' (Test Mouse): not a keyboard");
	/* Buttons but no digits: still no keypad. */
	libevdev_enable_event_code(mouse, EV_KEY, BTN_LEFT, NULL);
	CHECK_EQ_INT(hw_keypad_check_device(mouse, "/dev/input/event7", err, sizeof(err)), -1);
	CHECK_STRSTR(err, "no digit or keypad keys");
	libevdev_free(mouse);

	struct libevdev *pad = libevdev_new();
	libevdev_set_name(pad, "Test Keypad");
	libevdev_enable_event_code(pad, EV_KEY, KEY_KP1, NULL);
	CHECK_EQ_INT(hw_keypad_check_device(pad, "pad", err, sizeof(err)), 0);
	libevdev_free(pad);
}

static void open_refused(const char *device, const char *map, const char *needle)
{
	struct event_base *base = event_base_new();
	char err[256] = "";
	struct hw_keypad *kp = hw_keypad_open(base, device, map, on_rating, NULL, err, sizeof(err));
	event_base_free(base);
	if (kp) {
		hw_keypad_free(kp);
		FAIL("'%s' was opened", device);
	}
	CHECK_STRSTR(err, needle);
}

static void test_missing_or_wrong_device_refused(void)
{
	open_refused("/nonexistent/input/event9", NULL,
		     "'/nonexistent/input/event9': No such file or directory");
	open_refused("/dev/null", NULL, "'/dev/null': not an input device");
	open_refused("usb-No_Such_Keypad-event-kbd", NULL,
		     "'usb-No_Such_Keypad-event-kbd': no such device in /dev/input/by-id");
	open_refused("../event0", NULL, "a name has no '/'");
	open_refused("", NULL, "empty");
	open_refused("/dev/null", "KEY_WHAT=1", "'KEY_WHAT' is not a key name");
}

/* Needs a keypad: MOTCUA_TEST_KEYPAD=/dev/input/eventN (or its by-id
 * name), and a person pressing 1, 2 or 3 within 10 s. */
static void on_real(int level, void *arg)
{
	on_rating(level, arg);
	event_base_loopbreak(arg);
}

static void test_real_keypad(void)
{
	const char *dev = getenv("MOTCUA_TEST_KEYPAD");
	if (!dev || !*dev)
		SKIP("MOTCUA_TEST_KEYPAD is not set (a keypad's /dev/input/eventN)");
	char path[512], err[256];
	if (hw_keypad_resolve(dev, path, sizeof(path), err, sizeof(err)) < 0 ||
	    access(path, R_OK) < 0)
		SKIP("the keypad is absent or not readable");
	struct event_base *base = event_base_new();
	memset(&ratings, 0, sizeof(ratings));
	struct hw_keypad *kp = hw_keypad_open(base, dev, NULL, on_real, base, err, sizeof(err));
	CHECK_MSG(kp != NULL, "%s", err);
	/* Grabbed: a second open cannot grab it. */
	struct hw_keypad *again = hw_keypad_open(base, dev, NULL, on_real, base, err, sizeof(err));
	CHECK_NULL(again);
	CHECK_STRSTR(err, "cannot grab it");
	fprintf(stderr, "press 1, 2 or 3 on the keypad within 10 s\n");
	struct timeval tv = {10, 0};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	hw_keypad_free(kp);
	event_base_free(base);
	CHECK_EQ_UINT(ratings.n, 1);
}

int main(int argc, char **argv)
{
	harness_init(argc, argv);
	if (getenv("MOTCUA_HW_HARDWARE")) {
		RUN(test_real_keypad);
		return harness_result();
	}
	RUN(test_default_map);
	RUN(test_bad_map_refused);
	RUN(test_presses_only_mapped_and_value_1);
	RUN(test_non_keyboard_refused);
	RUN(test_missing_or_wrong_device_refused);
	return harness_result();
}
