/* SPDX-License-Identifier: MIT */
/*
 * The URL of this gateway as the citizen's phone reaches it: [station]
 * public_url when it is set; else the Host the request came with (the kiosk, the counter's browser,
 * the receipt printer's client reached it there), when it is a plain name or address with a port;
 * else the address the gateway listens on. Printed in QR codes (the
 * receipt's lookup, the ticket's follow page).
 */
#ifndef MOTCUA_WEBURL_H
#define MOTCUA_WEBURL_H

#include <stdbool.h>

struct evhttp_request;
struct gateway;

/* A Host header we would put in a URL: letters, digits and ".-:[]", at most
 * 255 bytes. */
bool weburl_plain_host(const char *host);
/* "http://HOST" followed by path (which starts with '/'), as g_strdup_printf
 * gives it (g_free it); NULL when out of memory. */
char *weburl_make(const struct gateway *gw, struct evhttp_request *req, const char *path);

#endif
