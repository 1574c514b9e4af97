/* SPDX-License-Identifier: MIT */
/* Pages the gateway serves itself (GET /dashboard), built into the binary. */
#ifndef MOTCUA_WWW_H
#define MOTCUA_WWW_H

struct router;

int www_routes_add(struct router *r);

#endif
