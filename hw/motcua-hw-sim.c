/* SPDX-License-Identifier: MIT */
/*
 * motcua-hw-sim SOCKET [LINE...]: sends each LINE (or, with none, each line
 * of standard input) to the simulated buttons and keypad's socket and
 * prints the replies. Exit 0 when every reply ended "ok", 1 when one was an
 * error, 2 when the socket cannot be reached.
 *
 *   motcua-hw-sim /run/motcua/hw.sock 'press scan'
 *   motcua-hw-sim /run/motcua/hw.sock 'key 2' leds
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int talk(int fd, FILE *in, const char *line)
{
	char buf[512];
	size_t n = strlen(line);
	if (n == 0 || n >= 256 || strchr(line, '\n')) {
		fprintf(stderr, "motcua-hw-sim: '%s': a line is 1 to 255 bytes\n", line);
		return 1;
	}
	if (write(fd, line, n) != (ssize_t)n || write(fd, "\n", 1) != 1) {
		fprintf(stderr, "motcua-hw-sim: write: %s\n", strerror(errno));
		return 2;
	}
	while (fgets(buf, sizeof(buf), in)) {
		fputs(buf, stdout);
		if (strcmp(buf, "ok\n") == 0)
			return 0;
		if (strncmp(buf, "error", 5) == 0)
			return 1;
	}
	fprintf(stderr, "motcua-hw-sim: the socket closed before a reply\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "usage: motcua-hw-sim SOCKET [LINE...]\n"
				"  lines: press NAME | key N | leds | help\n");
		return argc < 2 ? 2 : 0;
	}
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "motcua-hw-sim: socket path '%s' is too long\n", argv[1]);
		return 2;
	}
	strcpy(sun.sun_path, argv[1]);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "motcua-hw-sim: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	FILE *in = fdopen(dup(fd), "r");
	if (!in)
		return 2;
	int rc = 0;
	if (argc > 2) {
		for (int i = 2; i < argc && rc < 2; i++) {
			int r = talk(fd, in, argv[i]);
			rc = r > rc ? r : rc;
		}
	} else {
		char line[512];
		while (rc < 2 && fgets(line, sizeof(line), stdin)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (!line[0])
				continue;
			int r = talk(fd, in, line);
			rc = r > rc ? r : rc;
		}
	}
	fclose(in);
	close(fd);
	return rc;
}
