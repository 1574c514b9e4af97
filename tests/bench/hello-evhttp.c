/* SPDX-License-Identifier: MIT */
/* The baseline for http-bench.sh: a bare libevent evhttp server on one thread
 * (like the gateway's loop) answering every request 200 {"status":"ok"}.
 * Usage: hello-evhttp PORT   (listens on 127.0.0.1:PORT; SIGTERM/SIGINT stop it) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static void on_request(struct evhttp_request *req, void *arg)
{
	static const char body[] = "{\"status\":\"ok\"}\n";
	struct evbuffer *buf = arg;
	/* Like the gateway: a Content-Type header and a reply evbuffer. */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json; charset=utf-8");
	evbuffer_add(buf, body, sizeof body - 1);
	evhttp_send_reply(req, 200, "OK", buf);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	char *end;
	long port = strtol(argv[1], &end, 10);
	if (*end || port < 1 || port > 65535) {
		fprintf(stderr, "hello-evhttp: bad port '%s'\n", argv[1]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct event_base *base = event_base_new();
	struct evhttp *http = base ? evhttp_new(base) : NULL;
	struct evbuffer *buf = evbuffer_new();
	if (!http || !buf) {
		fprintf(stderr, "hello-evhttp: cannot set up libevent\n");
		return 1;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
					     EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, on_request, buf);
	if (!evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port)) {
		fprintf(stderr, "hello-evhttp: cannot listen on 127.0.0.1:%ld\n", port);
		return 1;
	}
	struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	fprintf(stderr, "hello-evhttp: listening on http://127.0.0.1:%ld/\n", port);
	event_base_dispatch(base);

	event_free(sigterm);
	event_free(sigint);
	evhttp_free(http);
	evbuffer_free(buf);
	event_base_free(base);
	return 0;
}
