/* SPDX-License-Identifier: MIT */
/* The papers of a dossier's procedure ("thành phần hồ sơ", [office]
 * procedures): which document is which paper, what is still missing, and
 * the papers a supplement request names. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "gateway.h"
#include "procedures.h"
#include "records-internal.h"
#include "util.h"
#include "validate.h"

#define MISSING_MAX PROCEDURE_PAPERS_MAX
#define MISSING_TEXT_MAX 500

/* The dossier's procedure (NULL if not configured); -ENOENT no dossier. */
static int dossier_procedure(struct records *r, const char *code, const struct procedure **out)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOSSIER_PROCEDURE);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	int e = -ENOENT;
	*out = NULL;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = procedures_find(r->gw->procedures, db_text(st, 0));
		e = 0;
	}
	sqlite3_reset(st);
	return e;
}

/* "a, b, c" of the procedure's paper ids, for messages. */
static void paper_ids(const struct procedure *p, char *buf, size_t len)
{
	buf[0] = 0;
	size_t used = 0;
	for (size_t i = 0; p && i < p->n_papers && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", p->papers[i].id);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static void not_a_paper(const struct procedure *p, const char *code, const char *paper, char *msg,
			size_t msglen)
{
	char ids[400];
	paper_ids(p, ids, sizeof ids);
	if (!p || !p->n_papers)
		snprintf(msg, msglen,
			 "'%s' is not a paper of this dossier's procedure: %s lists no papers in "
			 "[office] procedures",
			 paper, p ? p->code : code);
	else
		snprintf(msg, msglen, "'%s' is not a paper of procedure %s (its papers: %s)", paper,
			 p->code, ids);
}

int dossier_paper_check(struct records *r, const char *code, const char *paper, char *msg,
			size_t msglen)
{
	const struct procedure *p;
	if (dossier_procedure(r, code, &p) < 0) {
		snprintf(msg, msglen, "no dossier %s", code);
		return -ENOENT;
	}
	if (procedure_paper(p, paper))
		return 0;
	not_a_paper(p, code, paper, msg, msglen);
	return -EINVAL;
}

int document_set_paper(struct records *r, const char *code, const char *id, const char *paper,
		       char *msg, size_t msglen)
{
	sqlite3 *db = r->gw->db;
	if (paper) {
		int e = dossier_paper_check(r, code, paper, msg, msglen);
		if (e == -ENOENT)
			snprintf(msg, msglen, "no document %s in dossier %s", id, code);
		if (e < 0)
			return e;
	}
	if (db_begin(db) < 0)
		return -EIO;
	sqlite3_stmt *st = rec_stmt(r, ST_DOCUMENT_SET_PAPER);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, paper, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, time_now());
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	int e = -EIO;
	if (rc != SQLITE_DONE)
		goto fail;
	if (sqlite3_changes(db) == 0) {
		snprintf(msg, msglen, "no document %s in dossier %s", id, code);
		e = -ENOENT;
		goto fail;
	}
	json_t *ev =
	    json_pack("{s:s, s:s, s:s?}", "dossier_code", code, "document_id", id, "paper", paper);
	if (events_publish(r->gw->events, "document.paper", ev) < 0 || db_commit(db) < 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return e;
}

json_t *dossier_checklist(struct records *r, const char *code)
{
	const struct procedure *p;
	if (dossier_procedure(r, code, &p) < 0)
		return NULL;
	json_t *papers = json_array(), *missing = json_array();
	json_t *docs[PROCEDURE_PAPERS_MAX];
	size_t n = p ? p->n_papers : 0;
	for (size_t i = 0; i < n; i++)
		docs[i] = json_array();
	sqlite3_stmt *st = rec_stmt(r, ST_DOSSIER_DOCUMENTS);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *paper = db_text(st, DOC_PAPER), *state = db_text(st, DOC_STATE);
		if (!paper || (state && !strcmp(state, "failed")))
			continue;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(p->papers[i].id, paper))
				json_array_append_new(docs[i], db_json_text(st, DOC_ID));
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++) {
		const struct paper *pp = &p->papers[i];
		if (!json_array_size(docs[i]))
			json_array_append_new(missing, json_string(pp->id));
		json_array_append_new(papers,
				      json_pack("{s:s, s:s, s:s, s:i, s:o}", "id", pp->id, "name",
						pp->name, "form", paper_form_name(pp->form),
						"count", pp->count, "documents", docs[i]));
	}
	return json_pack("{s:o, s:o}", "papers", papers, "missing", missing);
}

/* No control characters (jansson's strings are UTF-8 already). */
static bool plain_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* One entry of a supplement request's "missing": a paper of the procedure
 * by id or by name, else a paper named in words (with a space in it: a
 * word without one that is no paper id is taken for a mistyped id). */
static int missing_entry(const struct procedure *p, const char *code, json_t *v, size_t i,
			 const struct paper **paper, char *msg, size_t msglen)
{
	const char *s = json_string_value(v);
	*paper = NULL;
	if (!s || !*s || strlen(s) > MISSING_TEXT_MAX || !plain_text(s)) {
		snprintf(msg, msglen,
			 "missing[%zu] must be a paper id of the procedure or a paper's name (1 to "
			 "%d bytes of text)",
			 i, MISSING_TEXT_MAX);
		return -EINVAL;
	}
	*paper = procedure_paper(p, s);
	for (size_t k = 0; !*paper && p && k < p->n_papers; k++)
		if (!strcmp(p->papers[k].name, s))
			*paper = &p->papers[k];
	if (!*paper && p && p->n_papers && !strchr(s, ' ')) {
		not_a_paper(p, code, s, msg, msglen);
		size_t n = strlen(msg);
		snprintf(msg + n, msglen - n, "; a paper not in the list is named in words");
		return -EINVAL;
	}
	return 0;
}

json_t *dossier_status_details(struct records *r, const char *code, int status, const char *note,
			       json_t *missing, int *err, char *msg, size_t msglen)
{
	const struct procedure *p;
	*err = dossier_procedure(r, code, &p);
	if (*err < 0) {
		snprintf(msg, msglen, "no dossier %s", code);
		return NULL;
	}
	*err = -EINVAL;
	json_t *d = json_object();
	if (note)
		json_object_set_new(d, "note", json_string(note));
	if (!missing || json_is_null(missing)) {
		*err = 0;
		return d;
	}
	if (status != 5) {
		snprintf(msg, msglen,
			 "missing goes with status 5 (supplement requested), not status %d",
			 status);
		goto fail;
	}
	if (!json_is_array(missing) || !json_array_size(missing) ||
	    json_array_size(missing) > MISSING_MAX) {
		snprintf(msg, msglen,
			 "missing must be a list of 1 to %d papers (paper ids of the procedure or "
			 "papers' names)",
			 MISSING_MAX);
		goto fail;
	}
	json_t *names = json_array(), *papers = json_array();
	json_object_set_new(d, "missing", names);
	json_object_set_new(d, "missing_papers", papers);
	size_t i;
	json_t *v;
	json_array_foreach(missing, i, v)
	{
		const struct paper *pp;
		if (missing_entry(p, code, v, i, &pp, msg, msglen) < 0)
			goto fail;
		const char *name = pp ? pp->name : json_string_value(v);
		size_t k;
		json_t *seen;
		json_array_foreach(names, k, seen) if (!strcmp(json_string_value(seen), name))
		{
			snprintf(msg, msglen, "missing names %s twice", name);
			goto fail;
		}
		json_array_append_new(names, json_string(name));
		json_array_append_new(
		    papers, json_pack("{s:s?, s:s}", "id", pp ? pp->id : NULL, "name", name));
	}
	*err = 0;
	return d;
fail:
	json_decref(d);
	return NULL;
}

json_t *dossier_last_status(struct records *r, const char *code, int status)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOSSIER_LAST_STATUS);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, status);
	json_t *ev = NULL;
	if (sqlite3_step(st) == SQLITE_ROW) {
		ev = json_loads(db_text(st, 0), 0, NULL);
		if (!json_is_object(ev)) {
			json_decref(ev);
			ev = NULL;
		}
	}
	sqlite3_reset(st);
	return ev;
}
