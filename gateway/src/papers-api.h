/* SPDX-License-Identifier: MIT */
/* The procedures' routes: GET /api/v1/procedures, a dossier's checklist of
 * papers, and assigning a document to one of its procedure's papers. */
#ifndef MOTCUA_PAPERS_API_H
#define MOTCUA_PAPERS_API_H

struct gateway;

int papers_routes_add(struct gateway *gw);

#endif
