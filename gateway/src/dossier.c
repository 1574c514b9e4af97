/* SPDX-License-Identifier: MIT */
/* Dossiers: reception with the day's gap-free code and the promised return
 * date, reading, listing, status changes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "events.h"
#include "gateway.h"
#include "log.h"
#include "procedures.h"
#include "records-internal.h"
#include "util.h"
#include "validate.h"

/* The promised return date: the procedure's legal processing time in working
 * days (given, or from [office] procedures); 0 when neither says. The unit
 * and the procedure's name, when not given, are the configured ones. */
static int64_t due_date(struct records *r, const struct dossier_new *d, int64_t now,
			const char **unit, const char **name)
{
	int days = d->processing_days;
	*unit = d->unit;
	*name = d->procedure_name;
	const struct procedure *p = procedures_find(r->gw->procedures, d->procedure_code);
	if (p) {
		if (days < 0)
			days = p->days;
		if (!*unit)
			*unit = p->unit;
		if (!*name)
			*name = p->name;
	}
	return days >= 0 ? calendar_due(r->gw->calendar, now, days) : 0;
}

/* The next code of the day; in the caller's transaction, so that codes are
 * unique and have no gaps even after a crash. */
static int next_code(struct records *r, int64_t now, char code[96])
{
	char day[8];
	time_yymmdd_vn(now, day);
	sqlite3_stmt *st = rec_stmt(r, ST_DAY_SEQ);
	sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
	int64_t seq = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	if (seq < 1)
		return -EIO;
	snprintf(code, 96, "%s-%s-%04lld", r->gw->settings.agency_code, day, (long long)seq);
	return 0;
}

static int insert_dossier(struct records *r, const struct dossier_new *d, const char *code,
			  int64_t now, int64_t due, const char *unit, const char *name)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOSSIER_INSERT);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->procedure_code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, d->applicant_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, d->applicant_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, d->applicant_phone, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 7, d->channel);
	sqlite3_bind_int64(st, 8, now);
	sqlite3_bind_text(st, 9, d->created_by, -1, SQLITE_TRANSIENT);
	if (due)
		sqlite3_bind_int64(st, 10, due);
	sqlite3_bind_text(st, 11, unit, -1, SQLITE_TRANSIENT);
	if (d->ticket_id)
		sqlite3_bind_int64(st, 12, d->ticket_id);
	sqlite3_bind_text(st, 13, d->applicant_address, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 14, d->applicant_email, -1, SQLITE_TRANSIENT);
	char key[LOOKUP_KEY_LEN + 1];
	if (lookup_key_new(key) < 0) {
		sqlite3_reset(st);
		return -EIO;
	}
	sqlite3_bind_text(st, 15, key, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

json_t *dossier_create(struct records *r, const struct dossier_new *d, int *err)
{
	sqlite3 *db = r->gw->db;
	int64_t now = time_now();
	char code[96], received[32], due_iso[32] = "";
	const char *unit, *name;
	time_iso_vn(now, received);
	int64_t due = due_date(r, d, now, &unit, &name);
	if (due)
		time_iso_vn(due, due_iso);
	*err = -EIO;
	if (db_begin(db) < 0)
		return NULL;
	if (next_code(r, now, code) < 0 || insert_dossier(r, d, code, now, due, unit, name) < 0)
		goto fail;
	json_t *ev = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s?, s:s?, s:s?}", "code", code,
			       "procedure_code", d->procedure_code, "channel", d->channel, "status",
			       1, "received_at", received, "due_at", due ? due_iso : NULL, "unit",
			       unit, "official", d->created_by);
	if (ev)
		json_object_set_new(ev, "ticket_id",
				    d->ticket_id ? json_integer(d->ticket_id) : json_null());
	if (events_publish(r->gw->events, "dossier.created", ev) < 0 || db_commit(db) < 0)
		goto fail;
	*err = 0;
	return dossier_get(r, code);
fail:
	db_rollback(db);
	return NULL;
}

bool dossier_exists(struct records *r, const char *code)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOSSIER_EXISTS);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	bool ok = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return ok;
}

static json_t *dossier_row(sqlite3_stmt *st)
{
	json_t *applicant = json_object();
	json_object_set_new(applicant, "name", db_json_text(st, DC_APPLICANT_NAME));
	json_object_set_new(applicant, "id_number", db_json_text(st, DC_APPLICANT_ID));
	json_object_set_new(applicant, "phone", db_json_text(st, DC_APPLICANT_PHONE));
	json_object_set_new(applicant, "address", db_json_text(st, DC_APPLICANT_ADDRESS));
	json_object_set_new(applicant, "email", db_json_text(st, DC_APPLICANT_EMAIL));
	json_t *d = json_object();
	json_object_set_new(d, "code", db_json_text(st, DC_CODE));
	json_object_set_new(d, "procedure_code", db_json_text(st, DC_PROCEDURE_CODE));
	json_object_set_new(d, "procedure_name", db_json_text(st, DC_PROCEDURE_NAME));
	json_object_set_new(d, "applicant", applicant);
	json_object_set_new(d, "channel", json_integer(sqlite3_column_int(st, DC_CHANNEL)));
	json_object_set_new(d, "status", json_integer(sqlite3_column_int(st, DC_STATUS)));
	json_object_set_new(d, "received_at", db_json_time(st, DC_RECEIVED_AT));
	json_object_set_new(d, "updated_at", db_json_time(st, DC_UPDATED_AT));
	json_object_set_new(d, "due_at", db_json_time(st, DC_DUE_AT));
	json_object_set_new(d, "unit", db_json_text(st, DC_UNIT));
	json_object_set_new(d, "ticket_id", db_json_int(st, DC_TICKET_ID));
	json_object_set_new(d, "official", db_json_text(st, DC_CREATED_BY));
	json_object_set_new(d, "lookup_key", db_json_text(st, DC_LOOKUP_KEY));
	return d;
}

json_t *dossier_get(struct records *r, const char *code)
{
	sqlite3_stmt *st = rec_stmt(r, ST_DOSSIER_GET);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	json_t *d = sqlite3_step(st) == SQLITE_ROW ? dossier_row(st) : NULL;
	sqlite3_reset(st);
	if (!d)
		return NULL;
	json_t *docs = json_array();
	st = rec_stmt(r, ST_DOSSIER_DOCUMENTS);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    docs, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id",
				    db_json_text(st, DOC_ID), "name", db_json_text(st, DOC_NAME),
				    "state", db_json_text(st, DOC_STATE), "sha256",
				    db_json_text(st, DOC_ORIGINAL_SHA), "media_type",
				    db_json_text(st, DOC_MEDIA_TYPE), "paper",
				    db_json_text(st, DOC_PAPER)));
	sqlite3_reset(st);
	json_object_set_new(d, "documents", docs);
	return d;
}

json_t *dossier_snapshot(struct records *r, const char *code)
{
	json_t *d = dossier_get(r, code);
	if (!d)
		return NULL;
	json_t *docs = json_array(), *brief = json_object_get(d, "documents");
	size_t i;
	json_t *b;
	json_array_foreach(brief, i, b)
	{
		json_t *full = document_brief(r, code, json_string_value(json_object_get(b, "id")));
		if (!full)
			continue;
		json_t *side = json_object_get(full, "sidecar");
		json_t *one = json_pack(
		    "{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "id", json_object_get(full, "id"),
		    "name", json_object_get(full, "name"), "type", json_object_get(full, "type"),
		    "media_type", json_object_get(full, "current_media_type"), "state",
		    json_object_get(full, "state"), "sha256",
		    json_object_get(full, "current_sha256"), "reused_from",
		    json_object_get(full, "reused_from"));
		json_object_set(one, "paper", json_object_get(full, "paper"));
		json_t *sig = json_object_get(full, "signature");
		json_object_set(one, "signature", sig ? sig : json_null());
		json_object_set(one, "sidecar_sha256",
				json_is_object(side) ? json_object_get(side, "sha256")
						     : json_null());
		json_object_set(one, "sidecar_media_type",
				json_is_object(side) ? json_object_get(side, "media_type")
						     : json_null());
		json_array_append_new(docs, one);
		json_decref(full);
	}
	json_object_set_new(d, "documents", docs);
	return d;
}

int dossier_set_status(struct records *r, const char *code, int status, const char *by,
		       json_t *details)
{
	sqlite3 *db = r->gw->db;
	int e = -EIO;
	if (status < 1 || status > 10) {
		json_decref(details);
		return -EINVAL;
	}
	if (db_begin(db) < 0) {
		json_decref(details);
		return -EIO;
	}
	sqlite3_stmt *st = rec_stmt(r, ST_DOSSIER_STATUS);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	int previous = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_reset(st);
	if (previous < 0) {
		e = -ENOENT;
		goto fail;
	}
	st = rec_stmt(r, ST_DOSSIER_SET_STATUS);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, status);
	sqlite3_bind_int64(st, 3, time_now());
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail;
	json_t *ev = json_pack("{s:s, s:i, s:i, s:s}", "code", code, "status", status, "previous",
			       previous, "by", by);
	if (ev && json_is_object(details))
		json_object_set(ev, "details", details);
	if (events_publish(r->gw->events, "dossier.status", ev) < 0 || db_commit(db) < 0)
		goto fail;
	json_decref(details);
	log_info("dossier %s: status %d -> %d (%s)", code, previous, status, by);
	return 0;
fail:
	db_rollback(db);
	json_decref(details);
	return e;
}

json_t *dossier_list(struct records *r, int status, int64_t from, int64_t to, int limit, int offset)
{
	json_t *arr = json_array();
	sqlite3_stmt *st = rec_stmt(r, ST_DOSSIER_COUNT);
	sqlite3_bind_int(st, 1, status);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
	json_int_t total = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	st = rec_stmt(r, ST_DOSSIER_LIST);
	sqlite3_bind_int(st, 1, status);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
	sqlite3_bind_int(st, 4, limit);
	sqlite3_bind_int(st, 5, offset);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, dossier_row(st));
	sqlite3_reset(st);
	return json_pack("{s:o, s:I, s:i, s:i}", "dossiers", arr, "total", total, "limit", limit,
			 "offset", offset);
}
