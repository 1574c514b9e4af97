/* SPDX-License-Identifier: MIT */
/* The procedures and their papers ("thành phần hồ sơ") as the console sees
 * them: the configured procedures, a dossier's checklist (which document is
 * which paper, what is missing), and a document's paper. */
#include <errno.h>

#include "gateway.h"
#include "http.h"
#include "papers-api.h"
#include "procedures.h"
#include "records.h"
#include "router.h"

static void route_procedures(struct call *c)
{
	struct gateway *gw = c->data;
	http_reply_json(c->req, 200, procedures_json(gw->procedures));
}

static void route_checklist(struct call *c)
{
	struct gateway *gw = c->data;
	json_t *list = dossier_checklist(gw->records, c->params[0]);
	if (!list)
		http_reply_error(c->req, 404, "not_found", "no dossier %s", c->params[0]);
	else
		http_reply_json(c->req, 200, list);
}

/* POST .../documents/{id}/paper {"paper": ID|null}. */
static void route_document_paper(struct call *c)
{
	static const char *const keys[] = {"paper", NULL};
	struct gateway *gw = c->data;
	const char *code = c->params[0], *id = c->params[1];
	json_t *j = http_json_body(c->req);
	if (!j)
		return;
	json_t *v = json_object_get(j, "paper");
	const char *paper = NULL;
	if (!http_only_keys(c->req, j, "", keys))
		goto out;
	if (!v || (!json_is_null(v) && !json_is_string(v))) {
		http_reply_error(c->req, 400, "bad_request",
				 "paper must be the id of a paper of the dossier's procedure "
				 "(GET /api/v1/dossiers/%s/checklist), or null",
				 code);
		goto out;
	}
	paper = json_string_value(v);
	char msg[600];
	int r = document_set_paper(gw->records, code, id, paper, msg, sizeof msg);
	if (r == -ENOENT)
		http_reply_error(c->req, 404, "not_found", "%s", msg);
	else if (r == -EINVAL)
		http_reply_error(c->req, 400, "bad_request", "%s", msg);
	else if (r < 0)
		http_reply_error(c->req, 503, "unavailable", "the paper could not be recorded");
	else
		http_reply_json(c->req, 200, document_get(gw->records, code, id));
out:
	json_decref(j);
}

static const struct route_def routes[] = {
    {"GET", "/api/v1/procedures", R_ALL, route_procedures,
     "the office's procedures: processing time, unit, fee, result place, papers"},
    {"GET", "/api/v1/dossiers/{code}/checklist", R_ALL, route_checklist,
     "the procedure's papers with the documents assigned to each, and those missing"},
    {"POST", "/api/v1/dossiers/{code}/documents/{id}/paper", R_WRITE, route_document_paper,
     "assign a document to a paper of the procedure ({\"paper\": id or null})"},
};

int papers_routes_add(struct gateway *gw)
{
	return router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], gw, NULL);
}
