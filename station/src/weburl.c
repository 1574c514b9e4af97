/* SPDX-License-Identifier: MIT */
/* The gateway's URL as the citizen's phone reaches it (see weburl.h). */
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "gateway.h"
#include "http.h"
#include "weburl.h"

bool weburl_plain_host(const char *h)
{
	size_t n = h ? strlen(h) : 0;
	if (!n || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isalnum(h[i]) && !strchr(".-:[]", h[i]))
			return false;
	return true;
}

char *weburl_make(const struct gateway *gw, struct evhttp_request *req, const char *path)
{
	if (gw->settings.public_url)
		return g_strdup_printf("%s%s", gw->settings.public_url, path ? path : "");
	const char *host = req ? http_header(req, "Host") : NULL;
	char fallback[300];
	if (!weburl_plain_host(host)) {
		snprintf(fallback, sizeof fallback, "%s:%u", gw->settings.listen_host,
			 gw->settings.listen_port);
		host = fallback;
	}
	return g_strdup_printf("http://%s%s", host, path ? path : "");
}
