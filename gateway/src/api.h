/* SPDX-License-Identifier: MIT */
/* The HTTP server (evhttp on the listen address, every request through the
 * route table) and the gateway's own routes: health, metrics, the route
 * list. */
#ifndef MOTCUA_API_H
#define MOTCUA_API_H

#include <stddef.h>

struct gateway;
struct api;

/* Binds the listen address; NULL with a reason in err. */
struct api *api_new(struct gateway *gw, char *err, size_t errlen);
void api_free(struct api *a);

#endif
