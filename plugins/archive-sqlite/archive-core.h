/* SPDX-License-Identifier: MIT */
/*
 * archive-core: the e-archive of motcua, without any gateway glue, so that
 * the archive-sqlite plugin and the `motcua archive` command share it.
 *
 * An archive is a folder:
 *   archive.db                 SQLite 3 (WAL, synchronous=FULL): items, blob
 *                              index, reuse records, full-text index (FTS5),
 *                              hash-chained audit log
 *   blobs/<aa>/<sha256>        every file once, named by its SHA-256 (aa = the
 *                              first two hex digits), written durably (temp
 *                              file, fsync, rename, fsync of the folder)
 *   blobs/.tmp/                files being written (emptied on open)
 * README.md describes the schema and the audit chain.
 *
 * Functions return 0 or a negative errno, with a reason a clerk or an
 * operator can act on in msg (at most len bytes): -EINVAL bad input,
 * -ENOENT no such item or dossier, -EEXIST the export target exists,
 * -EAGAIN the database is busy, another errno a failure. They do not log.
 *
 * Threads: one struct archive may be used from several threads at once;
 * writes are serialised inside, searches and verify read on connections of
 * their own (WAL), so a long fixity check does not hold up an ingest.
 *
 * JSON results are jansson objects owned by the caller (json_decref()).
 */
#ifndef MOTCUA_ARCHIVE_CORE_H
#define MOTCUA_ARCHIVE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* An item id: 24 lowercase hex digits, the first 96 bits of
 * SHA-256(document_id "\n" sha256 of the signed file). */
#define ARCHIVE_ID_LEN 24
#define ARCHIVE_SEARCH_MAX_LIMIT 200
#define ARCHIVE_QUERY_MAX 512 /* bytes of a search's words */

struct archive;

struct archive_options {
	bool read_only;	     /* open the database read-only (verify, search) */
	bool create;	     /* create the folder and database if missing */
	int retention_years; /* default retention for new items, 0 = permanent */
	/* "CODE:YEARS, CODE:YEARS": retention per procedure code; may be NULL. */
	const char *retention_by_procedure;
	/* The office's name for exports (bag-info.txt Source-Organization); kept in
	 * the database so that an offline export knows it. May be NULL. */
	const char *organization;
};

/* Opens (and with opt->create, creates) the archive in dir. opt may be NULL
 * (read-write, no create, retention 10 years). *out is the caller's, for
 * archive_close(), on success only. */
int archive_open(const char *dir, const struct archive_options *opt, struct archive **out,
		 char *msg, size_t len);
void archive_close(struct archive *a);

/* Checks a retention_by_procedure value without opening anything. */
int archive_check_retention_rules(const char *rules, char *msg, size_t len);

struct archive_file {
	const char *path;
	const char *media_type; /* NULL = application/octet-stream */
};

/* One document to archive. Strings are borrowed; NULL = unknown. */
struct archive_item_in {
	const char *document_id;  /* required: the gateway's document id */
	const char *name;	  /* document name */
	const char *dossier_code; /* required */
	const char *procedure_code;
	const char *id_number; /* applicant's ID number */
	const char *applicant_name;
	const char *document_type;
	const char *text;		      /* OCR text */
	const char *signature_json;	      /* the sign step's JSON object, or NULL */
	const char *reused_from;	      /* an archived item id, or NULL */
	struct archive_file signed_file;      /* required */
	const struct archive_file *originals; /* the upload, or the scanned pages */
	size_t n_originals;
	struct archive_file sidecar; /* path NULL when none */
	int64_t archived_unix;	     /* 0 = now (tests and the benchmark set it) */
};

enum archive_ingest_result {
	ARCHIVE_INGESTED = 0, /* a new item */
	ARCHIVE_EXISTED = 1,  /* the same item was archived before: nothing done */
	ARCHIVE_LINKED = 2,   /* a reuse of item reused_from, recorded as a link */
};

/* Archives one item: its files into blobs/, then in one transaction its
 * rows, its full-text entry, the supersession of an earlier version of the
 * same document, and the audit entry. Returns 0 with *result, and *item
 * (what archive_item() answers, with "path") when item is not NULL. */
int archive_ingest(struct archive *a, const struct archive_item_in *in,
		   enum archive_ingest_result *result, json_t **item, char *msg, size_t len);

/* One item as the plugin SDK's archive ops describe it; with_path adds the
 * absolute paths of its files. -ENOENT when there is no such item. */
int archive_item(struct archive *a, const char *id, bool with_path, json_t **out, char *msg,
		 size_t len);

/* Search; query as motcua_archive_ops.search takes it (a JSON object). */
int archive_search(struct archive *a, const json_t *query, json_t **out, char *msg, size_t len);

/* {"id_number", "items": [...]} newest first, current versions only. */
int archive_applicant_documents(struct archive *a, const char *id_number, json_t **out, char *msg,
				size_t len);

/* Records (once) that item id is attached to document document_id of another
 * dossier, with an audit entry. */
int archive_reused(struct archive *a, const char *id, const char *dossier_code,
		   const char *document_id, char *msg, size_t len);

/* Items past their retention period: {"today", "items": [...]}. log adds an
 * audit entry (needs a writable archive). Never deletes anything. */
int archive_disposal(struct archive *a, bool log, json_t **out, char *msg, size_t len);

/* Fixity of every blob and the audit chain: {"ok", "items", "blobs",
 * "changed", "missing", "unexpected", "chain": {"ok", "entries", "broken_at",
 * "problems"}}. log adds an audit entry with the outcome (writable archive).
 * Returns 0 whenever the check ran, whatever it found. */
int archive_verify(struct archive *a, bool log, json_t **out, char *msg, size_t len);

/* Writes the BagIt (RFC 8493) package of one dossier to dir/<code>, built in
 * dir/.tmp-<code>-XXXXXX and renamed when complete. bag_path (may be NULL)
 * receives the bag's path. -ENOENT no item of that dossier, -EEXIST the bag
 * exists. */
int archive_export(struct archive *a, const char *dossier_code, const char *dir, char *bag_path,
		   size_t bag_path_len, char *msg, size_t len);

/* Form checks shared with the plugin and the CLI. */
bool archive_valid_id(const char *id);
bool archive_valid_id_number(const char *s);
bool archive_valid_date(const char *s); /* YYYY-MM-DD, a real date */
bool archive_valid_code(const char *s); /* dossier / procedure code: [A-Za-z0-9._-], 1-64 */

/* Builds the FTS5 query for the words a user typed: every word becomes a
 * quoted string ("..." with " doubled), a trailing * on a word makes it a
 * prefix; words are ANDed. Returns NULL (with *empty = true) when no word has
 * a letter or digit. malloc()ed. */
char *archive_fts_query(const char *words, bool *empty);

/* Registers the "motcua_vi" FTS5 tokenizer on a connection (sqlite3 *):
 * unicode61 remove_diacritics 2, with đ/Đ read as d. Returns an SQLite code. */
int archive_register_tokenizer(void *db);

/* The search form of a text, as the index sees it: lower case, tone marks
 * and other diacritics dropped, đ -> d (for tests and the benchmark).
 * malloc()ed. */
char *archive_fold(const char *text);

#endif
