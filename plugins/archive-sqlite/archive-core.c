/* SPDX-License-Identifier: MIT */
/*
 * archive-core: see archive-core.h. The schema and the audit chain are
 * described in README.md; keep the two in step.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "archive-core.h"
#include "archive-internal.h"
#include "plugin-io.h"

#define SCHEMA_VERSION "1"
#define VN_OFFSET (7 * 3600)
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define MAX_TEXT (16u << 20) /* OCR text kept per item */
#define MAX_FIELD 1024	     /* any other string field */
#define MAX_RULES 256
#define READERS_KEPT 4
#define APPLICANT_MAX 1000
#define LIST_MAX 10000

void (*archive_test_hook)(const char *point);

struct rule {
	char code[65];
	int years;
};

struct archive {
	char dir[PATH_MAX];
	char blobs[PATH_MAX];
	char tmp[PATH_MAX];
	bool read_only;
	int retention_years;
	struct rule rules[MAX_RULES];
	size_t n_rules;
	sqlite3 *w; /* the writer; NULL when read-only */
	pthread_mutex_t wlock;
	pthread_mutex_t rlock;
	sqlite3 *readers[READERS_KEPT];
	size_t n_readers;
};

static void hook(const char *point)
{
	if (archive_test_hook)
		archive_test_hook(point);
}

static void say(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *msg, size_t len, const char *fmt, ...)
{
	if (!msg || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

/* ---- small helpers ---------------------------------------------------------- */

static void hex(const unsigned char *d, size_t n, char *out)
{
	static const char x[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = x[d[i] >> 4];
		out[2 * i + 1] = x[d[i] & 15];
	}
	out[2 * n] = 0;
}

void archive_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int l = 0;
	EVP_Digest(data, n, md, &l, EVP_sha256(), NULL);
	hex(md, 32, out);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == 0;
}

bool archive_valid_id(const char *id)
{
	return id && strlen(id) == ARCHIVE_ID_LEN && is_hex(id, ARCHIVE_ID_LEN);
}

bool archive_valid_id_number(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n != 9 && n != 12)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool archive_valid_date(const char *s)
{
	int y, m, d;
	char c;
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &c) != 3)
		return false;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

bool archive_valid_code(const char *s)
{
	if (!s || !*s || s[0] == '.' || strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
			return false;
	return true;
}

bool archive_valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p;
		int n;
		unsigned cp;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

/* "YYYY-MM-DDTHH:MM:SS+07:00" and "YYYY-MM-DD" in Vietnam time. */
static void vn_time(int64_t t, char iso[32], char date[11])
{
	time_t v = (time_t)(t + VN_OFFSET);
	struct tm tm;
	gmtime_r(&v, &tm);
	if (iso)
		strftime(iso, 32, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
	if (date)
		strftime(date, 11, "%Y-%m-%d", &tm);
}

static int64_t now_unix(void)
{
	return (int64_t)time(NULL);
}

static int errno_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	default:
		return -EIO;
	}
}

static int db_fail(sqlite3 *db, int rc, char *msg, size_t len, const char *what)
{
	say(msg, len, "archive database: %s: %s", what,
	    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	return errno_of(rc);
}

static int mkdir_p1(const char *dir)
{
	if (mkdir(dir, 0750) == 0)
		return 1;
	return errno == EEXIST ? 0 : -errno;
}

/* ---- the tokenizer: unicode61 remove_diacritics 2, and đ/Đ read as d ---------- */

struct vi_tok {
	fts5_tokenizer inner_api;
	Fts5Tokenizer *inner;
};

static int vi_create(void *ctx, const char **az, int n, Fts5Tokenizer **out)
{
	fts5_api *api = ctx;
	void *uctx = NULL;
	fts5_tokenizer t;
	int rc = api->xFindTokenizer(api, "unicode61", &uctx, &t);
	if (rc != SQLITE_OK)
		return rc;
	struct vi_tok *v = sqlite3_malloc(sizeof *v);
	if (!v)
		return SQLITE_NOMEM;
	const char *args[34] = {"remove_diacritics", "2"};
	int na = 2;
	for (int i = 0; i < n && na < 34; i++)
		args[na++] = az[i];
	v->inner_api = t;
	rc = t.xCreate(uctx, args, na, &v->inner);
	if (rc != SQLITE_OK) {
		sqlite3_free(v);
		return rc;
	}
	*out = (Fts5Tokenizer *)v;
	return SQLITE_OK;
}

static void vi_delete(Fts5Tokenizer *p)
{
	struct vi_tok *v = (struct vi_tok *)p;
	if (!v)
		return;
	v->inner_api.xDelete(v->inner);
	sqlite3_free(v);
}

/* đ Đ (U+0111 U+0110) and ð Ð (U+00F0 U+00D0, which OCR and keyboards give
 * for Đ) have no decomposition, so remove_diacritics keeps them. Each is
 * replaced by ď/Ď (U+010F U+010E), the same length in UTF-8, which unicode61
 * folds to d: token offsets stay those of the original text, so snippets
 * show it with its diacritics. */
static int vi_tokenize(Fts5Tokenizer *p, void *ctx, int flags, const char *text, int n,
		       int (*token)(void *, int, const char *, int, int, int))
{
	struct vi_tok *v = (struct vi_tok *)p;
	char local[2048];
	char *copy = NULL;
	bool needs = false;
	for (int i = 0; i + 1 < n; i++) {
		unsigned char c = (unsigned char)text[i], d = (unsigned char)text[i + 1];
		if ((c == 0xc4 && (d == 0x90 || d == 0x91)) ||
		    (c == 0xc3 && (d == 0x90 || d == 0xb0))) {
			needs = true;
			break;
		}
	}
	if (!needs)
		return v->inner_api.xTokenize(v->inner, ctx, flags, text, n, token);
	copy = n <= (int)sizeof local ? local : sqlite3_malloc(n);
	if (!copy)
		return SQLITE_NOMEM;
	memcpy(copy, text, (size_t)n);
	for (int i = 0; i + 1 < n; i++) {
		unsigned char c = (unsigned char)copy[i], d = (unsigned char)copy[i + 1];
		if (c == 0xc4 && (d == 0x90 || d == 0x91)) {
			copy[i + 1] = (char)(d == 0x90 ? 0x8e : 0x8f);
			i++;
		} else if (c == 0xc3 && (d == 0x90 || d == 0xb0)) {
			copy[i] = (char)0xc4;
			copy[i + 1] = (char)(d == 0x90 ? 0x8e : 0x8f);
			i++;
		}
	}
	int rc = v->inner_api.xTokenize(v->inner, ctx, flags, copy, n, token);
	if (copy != local)
		sqlite3_free(copy);
	return rc;
}

static fts5_tokenizer vi_methods = {vi_create, vi_delete, vi_tokenize};

int archive_register_tokenizer(void *vdb)
{
	sqlite3 *db = vdb;
	fts5_api *api = NULL;
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_pointer(s, 1, &api, "fts5_api_ptr", NULL);
	sqlite3_step(s);
	rc = sqlite3_finalize(s);
	if (rc != SQLITE_OK)
		return rc;
	if (!api)
		return SQLITE_ERROR;
	return api->xCreateTokenizer(api, "motcua_vi", api, &vi_methods, NULL);
}

char *archive_fts_query(const char *words, bool *empty)
{
	size_t n = strlen(words);
	char *q = malloc(2 * n + 3 * (n / 2 + 1) + 8);
	size_t o = 0;
	*empty = true;
	if (!q)
		return NULL;
	const char *p = words;
	int count = 0;
	while (*p && count < 32) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' ||
		       *p == '\v')
			p++;
		const char *s = p;
		while (*p && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' ||
			       *p == '\v'))
			p++;
		const char *e = p;
		bool prefix = false;
		while (e > s && e[-1] == '*') {
			e--;
			prefix = true;
		}
		bool alnum = false;
		for (const char *c = s; c < e; c++)
			if ((unsigned char)*c >= 0x80 || (*c >= '0' && *c <= '9') ||
			    (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))
				alnum = true;
		if (!alnum)
			continue;
		if (o)
			q[o++] = ' ';
		q[o++] = '"';
		for (const char *c = s; c < e; c++) {
			if (*c == '"')
				q[o++] = '"';
			q[o++] = *c;
		}
		q[o++] = '"';
		if (prefix)
			q[o++] = '*';
		count++;
	}
	q[o] = 0;
	if (!count) {
		free(q);
		return NULL;
	}
	*empty = false;
	return q;
}

/* ---- opening ------------------------------------------------------------------ */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS blobs(sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL,"
    " first_seen TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS items(n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " document_id TEXT NOT NULL, dossier_code TEXT NOT NULL, procedure_code TEXT, id_number TEXT,"
    " applicant TEXT, document_type TEXT, name TEXT, sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
    " media_type TEXT NOT NULL, sidecar_sha256 TEXT, sidecar_media_type TEXT,"
    " archived_at TEXT NOT NULL, archived_date TEXT NOT NULL, retention_years INTEGER NOT NULL,"
    " retain_until TEXT, signature TEXT, text TEXT, reused_from TEXT, superseded_by TEXT);"
    "CREATE INDEX IF NOT EXISTS items_id_number ON items(id_number, archived_at);"
    "CREATE INDEX IF NOT EXISTS items_procedure ON items(procedure_code, archived_date);"
    "CREATE INDEX IF NOT EXISTS items_date ON items(archived_date);"
    "CREATE INDEX IF NOT EXISTS items_dossier ON items(dossier_code);"
    "CREATE INDEX IF NOT EXISTS items_document ON items(document_id);"
    "CREATE INDEX IF NOT EXISTS items_retain ON items(retain_until) WHERE retain_until IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS originals(item_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " sha256 TEXT NOT NULL, size INTEGER NOT NULL, media_type TEXT NOT NULL,"
    " PRIMARY KEY(item_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS reuses(item_id TEXT NOT NULL, dossier_code TEXT NOT NULL,"
    " document_id TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY(item_id, dossier_code, document_id))"
    " WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS reuses_dossier ON reuses(dossier_code);"
    "CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT "
    "NULL,"
    " item_id TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_item ON audit(item_id, action);"
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE VIRTUAL TABLE IF NOT EXISTS item_fts USING fts5(name, applicant, text,"
    " content='items', content_rowid='n', tokenize='motcua_vi');"
    "INSERT OR IGNORE INTO settings VALUES('schema_version', '" SCHEMA_VERSION "');";

static int open_db(struct archive *a, bool writer, bool create, sqlite3 **out, char *msg,
		   size_t len)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/archive.db", a->dir);
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK && !writer) {
		/* an operator without write access to the folder may still read */
		sqlite3_close(db);
		db = NULL;
		rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	}
	if (rc != SQLITE_OK) {
		say(msg, len, "cannot open %s: %s", path,
		    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return rc == SQLITE_CANTOPEN ? -ENOENT : errno_of(rc);
	}
	sqlite3_busy_timeout(db, 10000);
	sqlite3_extended_result_codes(db, 0);
	if ((rc = archive_register_tokenizer(db)) != SQLITE_OK) {
		int r = db_fail(db, rc, msg, len, "the FTS5 tokenizer");
		sqlite3_close(db);
		return r;
	}
	const char *pragmas =
	    writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
		   : "PRAGMA query_only=ON;";
	if ((rc = sqlite3_exec(db, pragmas, NULL, NULL, NULL)) != SQLITE_OK) {
		int r = db_fail(db, rc, msg, len, "setting it up");
		sqlite3_close(db);
		return r;
	}
	*out = db;
	return 0;
}

static int get_reader(struct archive *a, sqlite3 **out, char *msg, size_t len)
{
	pthread_mutex_lock(&a->rlock);
	if (a->n_readers) {
		*out = a->readers[--a->n_readers];
		pthread_mutex_unlock(&a->rlock);
		return 0;
	}
	pthread_mutex_unlock(&a->rlock);
	return open_db(a, false, false, out, msg, len);
}

static void put_reader(struct archive *a, sqlite3 *db)
{
	if (!db)
		return;
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); /* in case a read was left open */
	pthread_mutex_lock(&a->rlock);
	if (a->n_readers < READERS_KEPT) {
		a->readers[a->n_readers++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&a->rlock);
	sqlite3_close(db);
}

static int parse_rules(struct archive *a, const char *rules, char *msg, size_t len)
{
	size_t n = 0;
	const char *p = rules;
	while (p && *p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != ':' && *p != ',' && *p != ' ')
			p++;
		size_t cl = (size_t)(p - s);
		char code[65];
		if (*p != ':' || cl == 0 || cl > 64) {
			say(msg, len,
			    "retention_by_procedure: expected CODE:YEARS, e.g. 1.004227:20, near "
			    "'%.20s'",
			    s);
			return -EINVAL;
		}
		memcpy(code, s, cl);
		code[cl] = 0;
		if (!archive_valid_code(code)) {
			say(msg, len, "retention_by_procedure: '%s' is not a procedure code", code);
			return -EINVAL;
		}
		p++;
		char *end;
		errno = 0;
		long y = strtol(p, &end, 10);
		if (end == p || errno || y < 0 || y > 1000 ||
		    (*end && *end != ',' && *end != ' ' && *end != '\t')) {
			say(msg, len,
			    "retention_by_procedure: the years for %s must be 0-1000 (0 = "
			    "permanent)",
			    code);
			return -EINVAL;
		}
		p = end;
		if (n == MAX_RULES) {
			say(msg, len, "retention_by_procedure: more than %d procedures", MAX_RULES);
			return -EINVAL;
		}
		if (a) {
			snprintf(a->rules[n].code, sizeof a->rules[n].code, "%s", code);
			a->rules[n].years = (int)y;
		}
		n++;
	}
	if (a)
		a->n_rules = n;
	return 0;
}

int archive_check_retention_rules(const char *rules, char *msg, size_t len)
{
	return parse_rules(NULL, rules, msg, len);
}

static int clean_tmp(const char *tmp)
{
	DIR *d = opendir(tmp);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	return 0;
}

int archive_open(const char *dir, const struct archive_options *opt, struct archive **out,
		 char *msg, size_t len)
{
	struct archive_options def = {.retention_years = 10};
	if (!opt)
		opt = &def;
	if (!dir || !*dir || strlen(dir) > PATH_MAX - 100) {
		say(msg, len, "no archive folder given, or its path is too long");
		return -EINVAL;
	}
	if (opt->retention_years < 0 || opt->retention_years > 1000) {
		say(msg, len, "retention_years must be 0-1000 (0 = permanent)");
		return -EINVAL;
	}
	struct archive *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	int r;
	pthread_mutex_init(&a->wlock, NULL);
	pthread_mutex_init(&a->rlock, NULL);
	snprintf(a->dir, sizeof a->dir, "%s", dir);
	snprintf(a->blobs, sizeof a->blobs, "%s/blobs", dir);
	snprintf(a->tmp, sizeof a->tmp, "%s/blobs/.tmp", dir);
	a->read_only = opt->read_only;
	a->retention_years = opt->retention_years;
	if ((r = parse_rules(a, opt->retention_by_procedure, msg, len)) < 0)
		goto fail;
	if (opt->create && !opt->read_only) {
		int c1 = 0;
		if ((c1 = mkdir_p1(dir)) < 0 || (r = mkdir_p1(a->blobs)) < 0 ||
		    (r = mkdir_p1(a->tmp)) < 0) {
			r = c1 < 0 ? c1 : r;
			say(msg, len, "cannot create the archive folder %s: %s", dir, strerror(-r));
			goto fail;
		}
		clean_tmp(a->tmp);
	}
	struct stat st;
	if (stat(a->blobs, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = -ENOENT;
		say(msg, len, "%s is not an archive folder (no blobs/ in it)", dir);
		goto fail;
	}
	if (!opt->read_only) {
		if ((r = open_db(a, true, opt->create, &a->w, msg, len)) < 0)
			goto fail;
		int rc = sqlite3_exec(a->w, schema_sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			r = db_fail(a->w, rc, msg, len, "creating the schema");
			goto fail;
		}
		if (opt->organization && *opt->organization) {
			sqlite3_stmt *s;
			sqlite3_prepare_v2(
			    a->w, "INSERT OR REPLACE INTO settings VALUES('organization', ?1)", -1,
			    &s, NULL);
			sqlite3_bind_text(s, 1, opt->organization, -1, SQLITE_STATIC);
			sqlite3_step(s);
			sqlite3_finalize(s);
		}
	} else {
		sqlite3 *db;
		if ((r = open_db(a, false, false, &db, msg, len)) < 0)
			goto fail;
		int rc =
		    sqlite3_exec(db, "SELECT 1 FROM items, audit, blobs LIMIT 0", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			r = db_fail(db, rc, msg, len, "not an archive database");
			sqlite3_close(db);
			goto fail;
		}
		put_reader(a, db);
	}
	*out = a;
	return 0;
fail:
	archive_close(a);
	return r;
}

void archive_close(struct archive *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_readers; i++)
		sqlite3_close(a->readers[i]);
	sqlite3_close(a->w);
	pthread_mutex_destroy(&a->wlock);
	pthread_mutex_destroy(&a->rlock);
	free(a);
}

/* ---- blobs ---------------------------------------------------------------------- */

static void blob_path(const struct archive *a, const char *sha, char *out, size_t n)
{
	snprintf(out, n, "%s/%.2s/%s", a->blobs, sha, sha);
}

/* What a copy or a hash of a file does with each chunk it reads: hashes it,
 * writes it to out (unless out is -1), counts it and calls the test hook
 * (if any). */
struct sha_copy {
	EVP_MD_CTX *md;
	int out;
	const char *hook;
	int64_t total;
	bool write_failed;
};

static int sha_copy_chunk(void *arg, const void *data, size_t n)
{
	struct sha_copy *c = arg;
	EVP_DigestUpdate(c->md, data, n);
	if (c->out >= 0) {
		int r = io_write_all(c->out, data, n);
		if (r < 0) {
			c->write_failed = true;
			return r;
		}
	}
	c->total += (int64_t)n;
	if (c->hook)
		hook(c->hook);
	return 0;
}

/* Copies src into the blob store while hashing it; the blob is on disk, under
 * its name, fsynced, when this returns 0. */
static int blob_put(struct archive *a, const char *src, char sha[65], int64_t *size, char *msg,
		    size_t len)
{
	char tmp[PATH_MAX];
	int in = -1, out = -1, r = 0;
	EVP_MD_CTX *md = NULL;
	unsigned char *buf = NULL;
	snprintf(tmp, sizeof tmp, "%s/in-XXXXXX", a->tmp);
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		r = -errno;
		say(msg, len, "cannot read %s: %s", src, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = -EINVAL;
		say(msg, len, "%s is not a regular file", src);
		goto out;
	}
	if ((out = mkostemp(tmp, O_CLOEXEC)) < 0) {
		r = -errno;
		say(msg, len, "cannot write in %s: %s", a->tmp, strerror(errno));
		tmp[0] = 0;
		goto out;
	}
	md = EVP_MD_CTX_new();
	buf = malloc(1 << 16);
	if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		r = -ENOMEM;
		goto out;
	}
	struct sha_copy c = {.md = md, .out = out, .hook = "blob-copying"};
	if ((r = io_read_chunks(in, buf, 1 << 16, sha_copy_chunk, &c)) < 0) {
		if (c.write_failed)
			say(msg, len, "cannot write the archive copy of %s: %s", src, strerror(-r));
		else
			say(msg, len, "cannot read %s: %s", src, strerror(-r));
		goto out;
	}
	int64_t total = c.total;
	if (fsync(out) < 0) {
		r = -errno;
		say(msg, len, "cannot write the archive copy of %s: %s", src, strerror(errno));
		goto out;
	}
	close(out);
	out = -1;
	unsigned char d[32];
	unsigned dl = 0;
	EVP_DigestFinal_ex(md, d, &dl);
	hex(d, 32, sha);
	*size = total;
	char sub[PATH_MAX], dst[PATH_MAX];
	snprintf(sub, sizeof sub, "%s/%.2s", a->blobs, sha);
	blob_path(a, sha, dst, sizeof dst);
	int made = mkdir_p1(sub);
	if (made < 0) {
		r = made;
		say(msg, len, "cannot create %s: %s", sub, strerror(-r));
		goto out;
	}
	if (made)
		io_fsync_dir(a->blobs);
	struct stat ds;
	if (stat(dst, &ds) == 0 && S_ISREG(ds.st_mode) && ds.st_size == total) {
		/* content-addressed: the same bytes are there already */
		unlink(tmp);
		tmp[0] = 0;
		goto out;
	}
	if (rename(tmp, dst) < 0) {
		r = -errno;
		say(msg, len, "cannot store %s: %s", dst, strerror(errno));
		goto out;
	}
	tmp[0] = 0;
	/* the name must be durable before a row names it (the temp name's
	 * removal need not be) */
	if ((r = io_fsync_dir(sub)) < 0)
		say(msg, len, "cannot sync %s: %s", sub, strerror(-r));
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (r < 0 && tmp[0])
		unlink(tmp);
	EVP_MD_CTX_free(md);
	free(buf);
	return r;
}

/* Hashes a file; -ENOENT when it is missing. */
static int hash_file(const char *path, char sha[65], int64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(1 << 16);
	int r = 0;
	if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		r = -ENOMEM;
		goto out;
	}
	struct sha_copy c = {.md = md, .out = -1};
	if ((r = io_read_chunks(fd, buf, 1 << 16, sha_copy_chunk, &c)) < 0)
		goto out;
	unsigned char d[32];
	unsigned dl;
	EVP_DigestFinal_ex(md, d, &dl);
	hex(d, 32, sha);
	*size = c.total;
out:
	close(fd);
	EVP_MD_CTX_free(md);
	free(buf);
	return r;
}

/* ---- the audit chain ------------------------------------------------------------ */

/* The canonical line of an entry, hashed with SHA-256: exactly what
 * `sqlite3 -separator '|' archive.db "SELECT prev_hash, seq, at, action,
 * item_id, detail FROM audit WHERE seq = N"` prints, newline included. */
static char *audit_line(const char *prev, int64_t seq, const char *at, const char *action,
			const char *item, const char *detail)
{
	char *line = NULL;
	if (asprintf(&line, "%s|%lld|%s|%s|%s|%s\n", prev, (long long)seq, at, action, item,
		     detail) < 0)
		return NULL;
	return line;
}

/* Appends an entry; call inside the writer's transaction. detail is stolen. */
static int audit_append(struct archive *a, const char *action, const char *item, json_t *detail,
			char *msg, size_t len)
{
	sqlite3_stmt *s = NULL;
	char prev[65] = ZERO_HASH;
	int64_t seq = 1;
	int r = 0;
	char *d = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(detail);
	if (!d)
		return -ENOMEM;
	int rc = sqlite3_prepare_v2(a->w, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
				    -1, &s, NULL);
	if (rc != SQLITE_OK) {
		r = db_fail(a->w, rc, msg, len, "reading the audit log");
		goto out;
	}
	if (sqlite3_step(s) == SQLITE_ROW) {
		seq = sqlite3_column_int64(s, 0) + 1;
		snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(s, 1));
	}
	sqlite3_finalize(s);
	s = NULL;
	char at[32];
	vn_time(now_unix(), at, NULL);
	char *line = audit_line(prev, seq, at, action, item ? item : "", d);
	if (!line) {
		r = -ENOMEM;
		goto out;
	}
	char h[65];
	archive_sha256_hex(line, strlen(line), h);
	free(line);
	rc = sqlite3_prepare_v2(
	    a->w,
	    "INSERT INTO audit(seq, at, action, item_id, detail, prev_hash, hash)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	    -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, seq);
		sqlite3_bind_text(s, 2, at, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, action, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, item ? item : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, d, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, prev, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 7, h, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK)
		r = db_fail(a->w, rc, msg, len, "writing the audit log");
out:
	sqlite3_finalize(s);
	free(d);
	return r;
}

static int begin(struct archive *a, char *msg, size_t len)
{
	if (a->read_only || !a->w) {
		say(msg, len, "the archive is open read-only");
		return -EROFS;
	}
	pthread_mutex_lock(&a->wlock);
	int rc = sqlite3_exec(a->w, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int r = db_fail(a->w, rc, msg, len, "starting a transaction");
		pthread_mutex_unlock(&a->wlock);
		return r;
	}
	return 0;
}

static int end(struct archive *a, int r, char *msg, size_t len)
{
	if (r == 0) {
		int rc = sqlite3_exec(a->w, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			r = db_fail(a->w, rc, msg, len, "committing");
	}
	if (r < 0)
		sqlite3_exec(a->w, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&a->wlock);
	return r;
}

/* ---- items as JSON --------------------------------------------------------------- */

#define ITEM_COLS                                                                                  \
	"i.id, i.sha256, i.size, i.media_type, i.name, i.dossier_code, i.procedure_code, "         \
	"i.id_number,"                                                                             \
	" i.document_type, i.archived_at, i.retention_years, i.retain_until, i.signature, "        \
	"i.document_id,"                                                                           \
	" i.applicant, i.superseded_by, i.reused_from, i.sidecar_sha256, i.sidecar_media_type,"    \
	" (SELECT json_group_array(json_array(o.sha256, o.size, o.media_type)) FROM originals o"   \
	"  WHERE o.item_id = i.id),"                                                               \
	" (SELECT json_group_array(json_array(r.dossier_code, r.document_id, r.at)) FROM reuses r" \
	"  WHERE r.item_id = i.id)"
/* originals and reuses come as JSON arrays of arrays, in primary key order
 * (originals by seq): one statement per list, not three per item */
#define ITEM_NCOLS 21

static json_t *col_str(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? json_string((const char *)t) : json_null();
}

static json_t *item_json(struct archive *a, sqlite3 *db, sqlite3_stmt *s, bool with_path)
{
	(void)db;
	json_t *o = json_object();
	const char *id = (const char *)sqlite3_column_text(s, 0);
	const char *sha = (const char *)sqlite3_column_text(s, 1);
	char p[PATH_MAX];
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "sha256", json_string(sha));
	json_object_set_new(o, "size", json_integer(sqlite3_column_int64(s, 2)));
	json_object_set_new(o, "media_type", col_str(s, 3));
	json_object_set_new(o, "name", col_str(s, 4));
	json_object_set_new(o, "dossier_code", col_str(s, 5));
	json_object_set_new(o, "procedure_code", col_str(s, 6));
	json_object_set_new(o, "id_number", col_str(s, 7));
	json_object_set_new(o, "document_type", col_str(s, 8));
	json_object_set_new(o, "archived_at", col_str(s, 9));
	json_object_set_new(o, "retention_years", json_integer(sqlite3_column_int(s, 10)));
	json_object_set_new(o, "retain_until", col_str(s, 11));
	const char *sig = (const char *)sqlite3_column_text(s, 12);
	json_t *sj = sig ? json_loads(sig, 0, NULL) : NULL;
	json_object_set_new(o, "signature", sj ? sj : json_null());
	json_object_set_new(o, "document_id", col_str(s, 13));
	json_object_set_new(o, "applicant_name", col_str(s, 14));
	json_object_set_new(o, "superseded_by", col_str(s, 15));
	json_object_set_new(o, "reused_from", col_str(s, 16));
	if (with_path) {
		blob_path(a, sha, p, sizeof p);
		json_object_set_new(o, "path", json_string(p));
	}
	/* originals: the upload, or the scanned pages */
	json_t *origs = json_array();
	const char *oj = (const char *)sqlite3_column_text(s, 19);
	json_t *ol = oj ? json_loads(oj, 0, NULL) : NULL;
	size_t k;
	json_t *e;
	json_array_foreach(ol, k, e)
	{
		json_t *f = json_object();
		const char *osha = json_string_value(json_array_get(e, 0));
		json_object_set(f, "sha256", json_array_get(e, 0));
		json_object_set(f, "size", json_array_get(e, 1));
		json_object_set(f, "media_type", json_array_get(e, 2));
		if (with_path && osha) {
			blob_path(a, osha, p, sizeof p);
			json_object_set_new(f, "path", json_string(p));
		}
		json_array_append_new(origs, f);
	}
	json_decref(ol);
	json_t *first = json_array_get(origs, 0);
	if (with_path)
		json_object_set(o, "original_path",
				first ? json_object_get(first, "path") : json_null());
	json_object_set(o, "original_media_type",
			first ? json_object_get(first, "media_type") : json_null());
	json_object_set_new(o, "originals", origs);
	const char *ss = (const char *)sqlite3_column_text(s, 17);
	if (ss) {
		json_t *sc = json_object();
		json_object_set_new(sc, "sha256", json_string(ss));
		json_object_set_new(sc, "media_type", col_str(s, 18));
		if (with_path) {
			blob_path(a, ss, p, sizeof p);
			json_object_set_new(sc, "path", json_string(p));
		}
		json_object_set_new(o, "sidecar", sc);
	} else {
		json_object_set_new(o, "sidecar", json_null());
	}
	/* where it was reused */
	json_t *re = json_array();
	const char *rj = (const char *)sqlite3_column_text(s, 20);
	json_t *rl = rj ? json_loads(rj, 0, NULL) : NULL;
	json_array_foreach(rl, k, e)
	{
		json_array_append_new(
		    re, json_pack("{s:O, s:O, s:O}", "dossier_code", json_array_get(e, 0),
				  "document_id", json_array_get(e, 1), "at", json_array_get(e, 2)));
	}
	json_decref(rl);
	json_object_set_new(o, "reused_in", re);
	return o;
}

static int item_on(struct archive *a, sqlite3 *db, const char *id, bool with_path, json_t **out,
		   char *msg, size_t len)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT " ITEM_COLS " FROM items i WHERE i.id = ?1", -1, &s,
				    NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, msg, len, "reading an item");
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	int r = 0;
	if (rc == SQLITE_ROW) {
		*out = item_json(a, db, s, with_path);
	} else if (rc == SQLITE_DONE) {
		say(msg, len, "no archived item %s", id);
		r = -ENOENT;
	} else {
		r = db_fail(db, rc, msg, len, "reading an item");
	}
	sqlite3_finalize(s);
	return r;
}

int archive_item(struct archive *a, const char *id, bool with_path, json_t **out, char *msg,
		 size_t len)
{
	if (!archive_valid_id(id)) {
		say(msg, len, "'%.40s' is not an archived item id (%d hex digits)", id ? id : "",
		    ARCHIVE_ID_LEN);
		return -EINVAL;
	}
	sqlite3 *db;
	int r = get_reader(a, &db, msg, len);
	if (r < 0)
		return r;
	r = item_on(a, db, id, with_path, out, msg, len);
	put_reader(a, db);
	return r;
}

/* ---- ingest ------------------------------------------------------------------------ */

static int retention_for(const struct archive *a, const char *procedure)
{
	for (size_t i = 0; procedure && i < a->n_rules; i++)
		if (!strcmp(a->rules[i].code, procedure))
			return a->rules[i].years;
	return a->retention_years;
}

static bool field_ok(const char *what, const char *v, size_t max, bool required, char *msg,
		     size_t len)
{
	if (!v) {
		if (required)
			say(msg, len, "the %s is missing", what);
		return !required;
	}
	if ((required && !*v) || strlen(v) > max) {
		say(msg, len, "the %s is %s", what, *v ? "too long" : "empty");
		return false;
	}
	if (!archive_valid_utf8(v)) {
		say(msg, len, "the %s is not UTF-8 text", what);
		return false;
	}
	return true;
}

static int item_exists(sqlite3 *db, const char *id)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM items WHERE id = ?1", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

static int exec_bind(sqlite3 *db, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	va_list ap;
	va_start(ap, fmt);
	for (int i = 0; fmt[i]; i++) {
		if (fmt[i] == 's') {
			const char *v = va_arg(ap, const char *);
			if (v)
				sqlite3_bind_text(s, i + 1, v, -1, SQLITE_TRANSIENT);
			else
				sqlite3_bind_null(s, i + 1);
		} else if (fmt[i] == 'i') {
			sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
		}
	}
	va_end(ap);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int reuse_record(struct archive *a, const char *id, const char *dossier, const char *doc,
			int *added, char *msg, size_t len)
{
	char at[32];
	vn_time(now_unix(), at, NULL);
	int rc = exec_bind(a->w, "INSERT OR IGNORE INTO reuses VALUES(?1, ?2, ?3, ?4)", "ssss", id,
			   dossier, doc, at);
	if (rc != SQLITE_OK)
		return db_fail(a->w, rc, msg, len, "recording a reuse");
	*added = sqlite3_changes(a->w);
	if (!*added)
		return 0;
	json_t *d =
	    json_pack("{s:s, s:s, s:s}", "id", id, "dossier_code", dossier, "document_id", doc);
	return audit_append(a, "reuse", id, d, msg, len);
}

/* The item that a reuse refers to, when the file is one of its own. */
static int reuse_target(struct archive *a, const char *reused_from, const char *sha)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(a->w,
			       "SELECT 1 FROM items WHERE id = ?1 AND (sha256 = ?2 OR "
			       "EXISTS(SELECT 1 FROM originals"
			       " WHERE item_id = ?1 AND sha256 = ?2))",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(s, 1, reused_from, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, sha, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : 0;
}

struct stored {
	char sha[65];
	int64_t size;
	const char *media_type;
};

static int ingest_rows(struct archive *a, const struct archive_item_in *in, const char *id,
		       const struct stored *sf, const struct stored *orig, size_t n_orig,
		       const struct stored *side, char *msg, size_t len)
{
	int64_t t = in->archived_unix ? in->archived_unix : now_unix();
	char at[32], date[11], first[32], until[40] = "";
	vn_time(t, at, date);
	vn_time(now_unix(), first, NULL);
	int years = retention_for(a, in->procedure_code);
	if (years > 0) {
		int y, m, d;
		sscanf(date, "%d-%d-%d", &y, &m, &d);
		if (m == 2 && d == 29)
			d = 28; /* the anniversary of a leap day */
		snprintf(until, sizeof until, "%04d-%02d-%02d", y + years, m, d);
	}
	int rc;
	/* blobs first: the same sha256 may be an earlier item's file */
	for (size_t i = 0; i < n_orig + 2; i++) {
		const struct stored *b = i == 0 ? sf : i <= n_orig ? &orig[i - 1] : side;
		if (b && (rc = exec_bind(a->w, "INSERT OR IGNORE INTO blobs VALUES(?1, ?2, ?3)",
					 "sis", b->sha, b->size, first)) != SQLITE_OK)
			return db_fail(a->w, rc, msg, len, "recording a blob");
	}
	rc = exec_bind(
	    a->w,
	    "INSERT INTO items(id, document_id, dossier_code, procedure_code, id_number, applicant,"
	    " document_type, name, sha256, size, media_type, sidecar_sha256, sidecar_media_type,"
	    " archived_at, archived_date, retention_years, retain_until, signature, text, "
	    "reused_from)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
	    "?18, ?19, ?20)",
	    "sssssssssisssssissss", id, in->document_id, in->dossier_code, in->procedure_code,
	    in->id_number, in->applicant_name, in->document_type, in->name, sf->sha, sf->size,
	    sf->media_type, side ? side->sha : NULL, side ? side->media_type : NULL, at, date,
	    (int64_t)years, until[0] ? until : NULL, in->signature_json, in->text, in->reused_from);
	if (rc != SQLITE_OK)
		return db_fail(a->w, rc, msg, len, "recording the item");
	int64_t n = sqlite3_last_insert_rowid(a->w);
	rc = exec_bind(a->w,
		       "INSERT INTO item_fts(rowid, name, applicant, text) VALUES(?1, ?2, ?3, ?4)",
		       "isss", n, in->name, in->applicant_name, in->text);
	if (rc != SQLITE_OK)
		return db_fail(a->w, rc, msg, len, "indexing the text");
	json_t *osha = json_array();
	for (size_t i = 0; i < n_orig; i++) {
		rc = exec_bind(a->w, "INSERT INTO originals VALUES(?1, ?2, ?3, ?4, ?5)", "sisis",
			       id, (int64_t)i, orig[i].sha, orig[i].size, orig[i].media_type);
		if (rc != SQLITE_OK) {
			json_decref(osha);
			return db_fail(a->w, rc, msg, len, "recording an original");
		}
		json_array_append_new(osha, json_string(orig[i].sha));
	}
	/* a newer version of the same document supersedes the current one */
	json_t *sup = json_array();
	sqlite3_stmt *s;
	rc = sqlite3_prepare_v2(
	    a->w,
	    "UPDATE items SET superseded_by = ?1 WHERE document_id = ?2 AND id <> ?1 AND"
	    " superseded_by IS NULL RETURNING id",
	    -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, in->document_id, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			json_array_append_new(sup,
					      json_string((const char *)sqlite3_column_text(s, 0)));
		sqlite3_finalize(s);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		json_decref(osha);
		json_decref(sup);
		return db_fail(a->w, rc, msg, len, "superseding the earlier version");
	}
	json_t *d =
	    json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s, s:I, s:s, s:s, s:i, s:o, s:s?, s:o, s:s?}",
		      "id", id, "document_id", in->document_id, "dossier_code", in->dossier_code,
		      "procedure_code", in->procedure_code, "id_number", in->id_number, "sha256",
		      sf->sha, "size", (json_int_t)sf->size, "media_type", sf->media_type,
		      "archived_at", at, "retention_years", years, "originals", osha, "sidecar",
		      side ? side->sha : NULL, "supersedes", sup, "reused_from", in->reused_from);
	if (!d)
		return -ENOMEM;
	hook("rows-written");
	return audit_append(a, "ingest", id, d, msg, len);
}

static const char *mt(const char *m)
{
	return m && *m ? m : "application/octet-stream";
}

int archive_ingest(struct archive *a, const struct archive_item_in *in,
		   enum archive_ingest_result *result, json_t **item, char *msg, size_t len)
{
	enum archive_ingest_result res = ARCHIVE_INGESTED;
	if (!in || !in->signed_file.path || !*in->signed_file.path) {
		say(msg, len, "no file to archive");
		return -EINVAL;
	}
	if (!field_ok("document id", in->document_id, 128, true, msg, len) ||
	    !field_ok("dossier code", in->dossier_code, 64, true, msg, len) ||
	    !field_ok("procedure code", in->procedure_code, 128, false, msg, len) ||
	    !field_ok("applicant's name", in->applicant_name, MAX_FIELD, false, msg, len) ||
	    !field_ok("document type", in->document_type, MAX_FIELD, false, msg, len) ||
	    !field_ok("document name", in->name, MAX_FIELD, false, msg, len) ||
	    !field_ok("OCR text", in->text, MAX_TEXT, false, msg, len) ||
	    !field_ok("signature status", in->signature_json, 1u << 20, false, msg, len))
		return -EINVAL;
	if (in->id_number && *in->id_number && !archive_valid_id_number(in->id_number)) {
		say(msg, len, "the applicant's ID number '%.20s' must have 12 or 9 digits",
		    in->id_number);
		return -EINVAL;
	}
	if (in->reused_from && !archive_valid_id(in->reused_from)) {
		say(msg, len, "reused_from '%.40s' is not an archived item id", in->reused_from);
		return -EINVAL;
	}
	if (in->n_originals > 4096) {
		say(msg, len, "more than 4096 original files");
		return -EINVAL;
	}
	if (in->signature_json) {
		json_t *sj = json_loads(in->signature_json, 0, NULL);
		bool ok = sj && json_is_object(sj);
		json_decref(sj);
		if (!ok) {
			say(msg, len, "the signature status is not a JSON object");
			return -EINVAL;
		}
	}
	if (a->read_only) {
		say(msg, len, "the archive is open read-only");
		return -EROFS;
	}
	struct stored sf = {.media_type = mt(in->signed_file.media_type)};
	struct stored side = {.media_type = mt(in->sidecar.media_type)};
	struct stored *orig = calloc(in->n_originals + 1, sizeof *orig);
	char id[ARCHIVE_ID_LEN + 1] = "";
	int r;
	if (!orig)
		return -ENOMEM;
	if ((r = blob_put(a, in->signed_file.path, sf.sha, &sf.size, msg, len)) < 0)
		goto out;
	{
		char buf[256], h[65];
		snprintf(buf, sizeof buf, "%s\n%s", in->document_id, sf.sha);
		archive_sha256_hex(buf, strlen(buf), h);
		memcpy(id, h, ARCHIVE_ID_LEN);
		id[ARCHIVE_ID_LEN] = 0;
	}
	/* the step may run again after a crash: an archived item stays as it is */
	if ((r = begin(a, msg, len)) < 0)
		goto out;
	int ex = item_exists(a->w, id);
	if (ex == 0 && in->reused_from && reuse_target(a, in->reused_from, sf.sha) == 1) {
		int added;
		r = reuse_record(a, in->reused_from, in->dossier_code, in->document_id, &added, msg,
				 len);
		r = end(a, r, msg, len);
		if (r == 0) {
			res = ARCHIVE_LINKED;
			snprintf(id, sizeof id, "%s", in->reused_from);
		}
		goto done;
	}
	r = end(a, ex < 0 ? -EIO : 0, msg, len);
	if (r < 0)
		goto out;
	if (ex == 1) {
		res = ARCHIVE_EXISTED;
		goto done;
	}
	for (size_t i = 0; i < in->n_originals; i++) {
		orig[i].media_type = mt(in->originals[i].media_type);
		if (!in->originals[i].path) {
			r = -EINVAL;
			say(msg, len, "original file %zu has no path", i + 1);
			goto out;
		}
		if ((r = blob_put(a, in->originals[i].path, orig[i].sha, &orig[i].size, msg, len)) <
		    0)
			goto out;
	}
	if (in->sidecar.path &&
	    (r = blob_put(a, in->sidecar.path, side.sha, &side.size, msg, len)) < 0)
		goto out;
	hook("blobs-written");
	if ((r = begin(a, msg, len)) < 0)
		goto out;
	ex = item_exists(a->w, id);
	if (ex == 0) {
		r = ingest_rows(a, in, id, &sf, orig, in->n_originals,
				in->sidecar.path ? &side : NULL, msg, len);
		int added;
		if (r == 0 && in->reused_from)
			r = reuse_record(a, in->reused_from, in->dossier_code, in->document_id,
					 &added, msg, len);
	} else if (ex == 1) {
		res = ARCHIVE_EXISTED;
	} else {
		r = -EIO;
	}
	if ((r = end(a, r, msg, len)) < 0)
		goto out;
done:
	if (r == 0 && item) {
		sqlite3 *db;
		if ((r = get_reader(a, &db, msg, len)) == 0) {
			r = item_on(a, db, id, true, item, msg, len);
			put_reader(a, db);
		}
	}
	if (r == 0 && result)
		*result = res;
	if (r == 0)
		say(msg, len, "%s %s",
		    res == ARCHIVE_INGESTED  ? "archived as"
		    : res == ARCHIVE_EXISTED ? "already archived as"
					     : "reused archived item",
		    id);
out:
	free(orig);
	return r;
}

/* ---- search ------------------------------------------------------------------------- */

static int get_str(const json_t *q, const char *key, const char **out, char *msg, size_t len)
{
	json_t *v = json_object_get(q, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		say(msg, len, "'%s' must be a string", key);
		return -EINVAL;
	}
	const char *s = json_string_value(v);
	*out = *s ? s : NULL;
	return 0;
}

static int get_int(const json_t *q, const char *key, long def, long min, long max, long *out,
		   char *msg, size_t len)
{
	json_t *v = json_object_get(q, key);
	*out = def;
	if (!v || json_is_null(v))
		return 0;
	long x;
	if (json_is_integer(v)) {
		x = (long)json_integer_value(v);
	} else if (json_is_string(v) && *json_string_value(v)) {
		char *e;
		errno = 0;
		x = strtol(json_string_value(v), &e, 10);
		if (*e || errno)
			goto bad;
	} else {
		goto bad;
	}
	if (x < min || x > max)
		goto bad;
	*out = x;
	return 0;
bad:
	say(msg, len, "'%s' must be a whole number from %ld to %ld", key, min, max);
	return -EINVAL;
}

int archive_search(struct archive *a, const json_t *query, json_t **out, char *msg, size_t len)
{
	const char *q, *idn, *proc, *from, *to;
	long limit, offset;
	int r;
	if (!query || !json_is_object(query)) {
		say(msg, len, "the search must be a JSON object");
		return -EINVAL;
	}
	if ((r = get_str(query, "q", &q, msg, len)) < 0 ||
	    (r = get_str(query, "id_number", &idn, msg, len)) < 0 ||
	    (r = get_str(query, "procedure", &proc, msg, len)) < 0 ||
	    (r = get_str(query, "from", &from, msg, len)) < 0 ||
	    (r = get_str(query, "to", &to, msg, len)) < 0 ||
	    (r = get_int(query, "limit", 50, 1, ARCHIVE_SEARCH_MAX_LIMIT, &limit, msg, len)) < 0 ||
	    (r = get_int(query, "offset", 0, 0, 1000000, &offset, msg, len)) < 0)
		return r;
	if (q && strlen(q) > ARCHIVE_QUERY_MAX) {
		say(msg, len, "the search words are too long (at most %d bytes)",
		    ARCHIVE_QUERY_MAX);
		return -EINVAL;
	}
	if (idn && !archive_valid_id_number(idn)) {
		say(msg, len, "id_number must have 12 or 9 digits");
		return -EINVAL;
	}
	if (proc && (!archive_valid_code(proc))) {
		say(msg, len, "procedure '%.64s' is not a procedure code", proc);
		return -EINVAL;
	}
	if ((from && !archive_valid_date(from)) || (to && !archive_valid_date(to))) {
		say(msg, len, "from and to must be dates as YYYY-MM-DD");
		return -EINVAL;
	}
	if (from && to && strcmp(from, to) > 0) {
		say(msg, len, "from (%s) is after to (%s)", from, to);
		return -EINVAL;
	}
	char *fts = NULL;
	bool empty = false;
	if (q) {
		fts = archive_fts_query(q, &empty);
		if (!fts && !empty)
			return -ENOMEM;
	}
	json_t *res = json_object(), *items = json_array();
	json_object_set_new(res, "total", json_integer(0));
	json_object_set_new(res, "items", items);
	if (empty) { /* words without a letter or digit match nothing */
		*out = res;
		return 0;
	}
	char where[512] = " WHERE i.superseded_by IS NULL";
	if (idn)
		strcat(where, " AND i.id_number = ?2");
	if (proc)
		strcat(where, " AND i.procedure_code = ?3");
	if (from)
		strcat(where, " AND i.archived_date >= ?4");
	if (to)
		strcat(where, " AND i.archived_date <= ?5");
	if (fts)
		strcat(where, " AND item_fts MATCH ?1");
	const char *src =
	    fts ? " FROM item_fts JOIN items i ON i.n = item_fts.rowid" : " FROM items i";
	char sql_count[1024], sql[2048];
	snprintf(sql_count, sizeof sql_count, "SELECT count(*)%s%s", src, where);
	snprintf(sql, sizeof sql, "SELECT " ITEM_COLS "%s%s%s ORDER BY %s LIMIT ?6 OFFSET ?7",
		 fts ? ", snippet(item_fts, -1, '[', ']', '…', 16)" : "", src, where,
		 fts ? "item_fts.rank" : "i.archived_at DESC, i.n DESC");
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	if ((r = get_reader(a, &db, msg, len)) < 0)
		goto out;
	for (int pass = 0; pass < 2; pass++) {
		int rc = sqlite3_prepare_v2(db, pass ? sql : sql_count, -1, &s, NULL);
		if (rc != SQLITE_OK) {
			r = db_fail(db, rc, msg, len, "searching");
			goto out;
		}
		sqlite3_bind_text(s, 1, fts, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, idn, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, proc, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, from, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, to, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, limit);
		sqlite3_bind_int64(s, 7, offset);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (!pass) {
				json_object_set_new(res, "total",
						    json_integer(sqlite3_column_int64(s, 0)));
				continue;
			}
			json_t *it = item_json(a, db, s, false);
			if (fts)
				json_object_set_new(it, "snippet", col_str(s, ITEM_NCOLS));
			json_array_append_new(items, it);
		}
		if (rc != SQLITE_DONE) {
			r = db_fail(db, rc, msg, len, "searching");
			goto out;
		}
		sqlite3_finalize(s);
		s = NULL;
		if (!pass && json_integer_value(json_object_get(res, "total")) <= offset)
			break;
	}
out:
	sqlite3_finalize(s);
	put_reader(a, db);
	free(fts);
	if (r < 0)
		json_decref(res);
	else
		*out = res;
	return r;
}

static int list_items(struct archive *a, sqlite3 *db, const char *sql, const char *arg,
		      json_t *items, char *msg, size_t len)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, msg, len, "listing items");
	if (arg)
		sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(items, item_json(a, db, s, false));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, msg, len, "listing items");
}

int archive_applicant_documents(struct archive *a, const char *id_number, json_t **out, char *msg,
				size_t len)
{
	if (!archive_valid_id_number(id_number)) {
		say(msg, len, "the ID number must have 12 or 9 digits");
		return -EINVAL;
	}
	sqlite3 *db;
	int r = get_reader(a, &db, msg, len);
	if (r < 0)
		return r;
	json_t *items = json_array();
	char sql[2048];
	snprintf(sql, sizeof sql,
		 "SELECT " ITEM_COLS
		 " FROM items i WHERE i.id_number = ?1 AND i.superseded_by IS NULL"
		 " ORDER BY i.archived_at DESC, i.n DESC LIMIT %d",
		 APPLICANT_MAX);
	r = list_items(a, db, sql, id_number, items, msg, len);
	put_reader(a, db);
	if (r < 0) {
		json_decref(items);
		return r;
	}
	*out = json_pack("{s:s, s:o}", "id_number", id_number, "items", items);
	return 0;
}

int archive_reused(struct archive *a, const char *id, const char *dossier_code,
		   const char *document_id, char *msg, size_t len)
{
	if (!archive_valid_id(id)) {
		say(msg, len, "'%.40s' is not an archived item id", id ? id : "");
		return -EINVAL;
	}
	if (!archive_valid_code(dossier_code)) {
		say(msg, len, "'%.64s' is not a dossier code", dossier_code ? dossier_code : "");
		return -EINVAL;
	}
	if (!field_ok("document id", document_id, 128, true, msg, len))
		return -EINVAL;
	int r = begin(a, msg, len);
	if (r < 0)
		return r;
	int ex = item_exists(a->w, id);
	int added = 0;
	if (ex == 0) {
		say(msg, len, "no archived item %s", id);
		r = -ENOENT;
	} else if (ex < 0) {
		r = db_fail(a->w, SQLITE_ERROR, msg, len, "reading an item");
	} else {
		r = reuse_record(a, id, dossier_code, document_id, &added, msg, len);
	}
	r = end(a, r, msg, len);
	if (r == 0)
		say(msg, len, added ? "reuse of %s recorded" : "reuse of %s was recorded before",
		    id);
	return r;
}

int archive_disposal(struct archive *a, bool log, json_t **out, char *msg, size_t len)
{
	char today[11];
	vn_time(now_unix(), NULL, today);
	sqlite3 *db;
	int r = get_reader(a, &db, msg, len);
	if (r < 0)
		return r;
	json_t *items = json_array();
	char sql[2048];
	snprintf(sql, sizeof sql,
		 "SELECT " ITEM_COLS
		 " FROM items i WHERE i.retain_until IS NOT NULL AND i.retain_until < ?1"
		 " ORDER BY i.retain_until, i.n LIMIT %d",
		 LIST_MAX);
	r = list_items(a, db, sql, today, items, msg, len);
	put_reader(a, db);
	if (r == 0 && log) {
		json_t *ids = json_array();
		size_t i;
		json_t *v;
		json_array_foreach(items, i, v) json_array_append(ids, json_object_get(v, "id"));
		if ((r = begin(a, msg, len)) == 0)
			r = end(a,
				audit_append(a, "disposal-list", NULL,
					     json_pack("{s:s, s:I, s:o}", "today", today, "count",
						       (json_int_t)json_array_size(items), "items",
						       ids),
					     msg, len),
				msg, len);
		else
			json_decref(ids);
	}
	if (r < 0) {
		json_decref(items);
		return r;
	}
	*out = json_pack("{s:s, s:o}", "today", today, "items", items);
	return 0;
}

/* ---- verify --------------------------------------------------------------------------- */

static json_t *items_of_blob(sqlite3 *db, const char *sha)
{
	json_t *ids = json_array();
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db,
			       "SELECT id FROM items WHERE sha256 = ?1 OR sidecar_sha256 = ?1"
			       " UNION SELECT item_id FROM originals WHERE sha256 = ?1",
			       -1, &s, NULL) != SQLITE_OK)
		return ids;
	sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
	while (sqlite3_step(s) == SQLITE_ROW)
		json_array_append_new(ids, json_string((const char *)sqlite3_column_text(s, 0)));
	sqlite3_finalize(s);
	return ids;
}

static bool blob_known(sqlite3 *db, const char *sha)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM blobs WHERE sha256 = ?1", -1, &s, NULL) !=
	    SQLITE_OK)
		return true;
	sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
	bool known = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return known;
}

static void problem(json_t *problems, int64_t seq, const char *item, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(json_t *problems, int64_t seq, const char *item, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	json_t *p = json_object();
	if (seq > 0)
		json_object_set_new(p, "seq", json_integer(seq));
	json_object_set_new(p, "item_id", item && *item ? json_string(item) : json_null());
	json_object_set_new(p, "problem", json_string(text));
	if (json_array_size(problems) < LIST_MAX)
		json_array_append_new(problems, p);
	else
		json_decref(p);
}

/* Walks blobs/: every file must be blobs/<aa>/<sha256> of a known blob. */
static void find_unexpected(struct archive *a, sqlite3 *db, json_t *candidates)
{
	DIR *d = opendir(a->blobs);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, ".tmp"))
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof sub, "%s/%s", a->blobs, e->d_name);
		struct stat st;
		if (lstat(sub, &st) < 0)
			continue;
		bool prefix_ok = strlen(e->d_name) == 2 && is_hex(e->d_name, 2);
		if (!S_ISDIR(st.st_mode) || !prefix_ok) {
			json_array_append_new(candidates,
					      json_pack("{s:s, s:s}", "path", sub, "reason",
							"not a blob folder (blobs/<aa>/)"));
			continue;
		}
		DIR *sd = opendir(sub);
		if (!sd)
			continue;
		struct dirent *f;
		while ((f = readdir(sd))) {
			if (!strcmp(f->d_name, ".") || !strcmp(f->d_name, ".."))
				continue;
			char p[PATH_MAX];
			snprintf(p, sizeof p, "%s/%s", sub, f->d_name);
			const char *why = NULL;
			if (strlen(f->d_name) != 64 || !is_hex(f->d_name, 64) ||
			    strncmp(f->d_name, e->d_name, 2))
				why = "not named by a SHA-256 in its folder";
			else if (!blob_known(db, f->d_name))
				why = "not in the archive (an interrupted ingest leaves one; "
				      "running the step again adopts it)";
			if (why && json_array_size(candidates) < LIST_MAX)
				json_array_append_new(candidates,
						      json_pack("{s:s, s:s, s:s}", "path", p,
								"name", f->d_name, "reason", why));
		}
		closedir(sd);
	}
	closedir(d);
}

static void check_chain(sqlite3 *db, json_t *chain, json_t *problems)
{
	sqlite3_stmt *s;
	int64_t expect = 1, entries = 0, broken = 0;
	char prev[65] = ZERO_HASH;
	if (sqlite3_prepare_v2(
		db,
		"SELECT seq, at, action, item_id, detail, prev_hash, hash FROM audit ORDER BY seq",
		-1, &s, NULL) != SQLITE_OK) {
		problem(problems, 0, NULL, "the audit log cannot be read: %s", sqlite3_errmsg(db));
		broken = -1;
		goto out;
	}
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(s, 0);
		const char *at = (const char *)sqlite3_column_text(s, 1);
		const char *action = (const char *)sqlite3_column_text(s, 2);
		const char *item = (const char *)sqlite3_column_text(s, 3);
		const char *detail = (const char *)sqlite3_column_text(s, 4);
		const char *ph = (const char *)sqlite3_column_text(s, 5);
		const char *h = (const char *)sqlite3_column_text(s, 6);
		entries++;
		if (!at || !action || !item || !detail || !ph || !h) {
			problem(problems, seq, item, "audit entry %lld has an empty field",
				(long long)seq);
			if (!broken)
				broken = seq;
			expect = seq + 1;
			continue;
		}
		if (seq != expect) {
			problem(problems, seq, NULL,
				"audit entries %lld to %lld are missing (deleted)",
				(long long)expect, (long long)seq - 1);
			if (!broken)
				broken = expect;
		}
		if (strcmp(ph, prev)) {
			problem(problems, seq, item,
				"audit entry %lld does not follow the entry before it%s%s",
				(long long)seq, *item ? ", item " : "", item);
			if (!broken)
				broken = seq;
		}
		char *line = audit_line(ph, seq, at, action, item, detail);
		char rh[65] = "";
		if (line)
			archive_sha256_hex(line, strlen(line), rh);
		free(line);
		if (strcmp(rh, h)) {
			problem(problems, seq, item,
				"audit entry %lld (%s%s%s) was changed: its hash does not match",
				(long long)seq, action, *item ? " of item " : "", item);
			if (!broken)
				broken = seq;
		}
		snprintf(prev, sizeof prev, "%s", h);
		expect = seq + 1;
	}
out:
	sqlite3_finalize(s);
	json_object_set_new(chain, "entries", json_integer(entries));
	json_object_set_new(chain, "broken_at", broken > 0 ? json_integer(broken) : json_null());
	json_object_set_new(chain, "head", json_string(prev));
}

/* Each item row must say what its ingest entry says, and every ingested item
 * must still be there. */
static void check_items(sqlite3 *db, json_t *problems)
{
	sqlite3_stmt *s, *q;
	if (sqlite3_prepare_v2(db,
			       "SELECT i.id, i.document_id, i.dossier_code, i.procedure_code, "
			       "i.id_number, i.sha256,"
			       " i.size, i.media_type, i.archived_at, i.retention_years,"
			       " (SELECT detail FROM audit a WHERE a.item_id = i.id AND a.action = "
			       "'ingest' ORDER BY seq"
			       "  LIMIT 1)"
			       " FROM items i ORDER BY i.n",
			       -1, &s, NULL) != SQLITE_OK) {
		problem(problems, 0, NULL, "the items cannot be read: %s", sqlite3_errmsg(db));
		return;
	}
	static const char *const fields[] = {
	    "id",     "document_id", "dossier_code", "procedure_code", "id_number",
	    "sha256", "size",	     "media_type",   "archived_at",    "retention_years"};
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(s, 0);
		const char *detail = (const char *)sqlite3_column_text(s, 10);
		if (!detail) {
			problem(problems, 0, id, "item %s has no ingest entry in the audit log",
				id ? id : "?");
			continue;
		}
		json_t *d = json_loads(detail, 0, NULL);
		for (int c = 0; c < 10; c++) {
			json_t *v = json_object_get(d, fields[c]);
			bool same;
			if (sqlite3_column_type(s, c) == SQLITE_NULL)
				same = !v || json_is_null(v);
			else if (sqlite3_column_type(s, c) == SQLITE_INTEGER)
				same = json_is_integer(v) &&
				       json_integer_value(v) == sqlite3_column_int64(s, c);
			else
				same = json_is_string(v) &&
				       !strcmp(json_string_value(v),
					       (const char *)sqlite3_column_text(s, c));
			if (!same) {
				problem(problems, 0, id,
					"item %s was changed: its %s is not what the audit log "
					"recorded",
					id ? id : "?", fields[c]);
				break;
			}
		}
		json_decref(d);
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(db,
			       "SELECT seq, item_id FROM audit a WHERE action = 'ingest' AND"
			       " NOT EXISTS(SELECT 1 FROM items i WHERE i.id = a.item_id)",
			       -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *id = (const char *)sqlite3_column_text(q, 1);
			problem(problems, sqlite3_column_int64(q, 0), id,
				"item %s was deleted from the archive", id);
		}
		sqlite3_finalize(q);
	}
	if (sqlite3_prepare_v2(db,
			       "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND"
			       " name IN ('audit_no_update', 'audit_no_delete')",
			       -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) != 2)
			problem(problems, 0, NULL,
				"the triggers that keep the audit log append-only were removed");
		sqlite3_finalize(q);
	}
}

int archive_verify(struct archive *a, bool log, json_t **out, char *msg, size_t len)
{
	sqlite3 *db;
	int r = get_reader(a, &db, msg, len);
	if (r < 0)
		return r;
	json_t *changed = json_array(), *missing = json_array(), *unexpected = json_array();
	json_t *chain = json_object(), *problems = json_array(), *cand = json_array();
	int64_t n_items = 0, n_blobs = 0;
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL); /* one snapshot for the whole check */
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM items", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		r = db_fail(db, rc, msg, len, "verifying");
		goto out;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		n_items = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if ((rc = sqlite3_prepare_v2(db, "SELECT sha256, size FROM blobs ORDER BY sha256", -1, &s,
				     NULL)) != SQLITE_OK) {
		r = db_fail(db, rc, msg, len, "verifying");
		goto out;
	}
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *sha = (const char *)sqlite3_column_text(s, 0);
		int64_t size = sqlite3_column_int64(s, 1), got = 0;
		char p[PATH_MAX], actual[65];
		n_blobs++;
		blob_path(a, sha, p, sizeof p);
		int hr = hash_file(p, actual, &got);
		if (hr == -ENOENT) {
			json_array_append_new(missing,
					      json_pack("{s:s, s:s, s:o}", "sha256", sha, "path", p,
							"items", items_of_blob(db, sha)));
		} else if (hr < 0) {
			json_array_append_new(changed,
					      json_pack("{s:s, s:s, s:s, s:o}", "sha256", sha,
							"path", p, "error", strerror(-hr), "items",
							items_of_blob(db, sha)));
		} else if (strcmp(actual, sha) || got != size) {
			json_array_append_new(
			    changed, json_pack("{s:s, s:s, s:s, s:I, s:o}", "sha256", sha, "path",
					       p, "actual_sha256", actual, "actual_size",
					       (json_int_t)got, "items", items_of_blob(db, sha)));
		}
	}
	sqlite3_finalize(s);
	s = NULL;
	/* an item whose blob is not even in the index */
	if (sqlite3_prepare_v2(
		db,
		"SELECT id, sha256 FROM items i WHERE NOT EXISTS(SELECT 1 FROM blobs b WHERE"
		" b.sha256 = i.sha256)",
		-1, &s, NULL) == SQLITE_OK) {
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *sha = (const char *)sqlite3_column_text(s, 1);
			char p[PATH_MAX];
			blob_path(a, sha, p, sizeof p);
			json_array_append_new(
			    missing, json_pack("{s:s, s:s, s:[s], s:s}", "sha256", sha, "path", p,
					       "items", (const char *)sqlite3_column_text(s, 0),
					       "reason", "not in the blob index"));
		}
		sqlite3_finalize(s);
		s = NULL;
	}
	find_unexpected(a, db, cand);
	check_chain(db, chain, problems);
	check_items(db, problems);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	/* files of an ingest that committed during the check are no surprise */
	size_t i;
	json_t *c;
	json_array_foreach(cand, i, c)
	{
		const char *name = json_string_value(json_object_get(c, "name"));
		if (name && blob_known(db, name))
			continue;
		json_object_del(c, "name");
		json_array_append(unexpected, c);
	}
	bool chain_ok = json_array_size(problems) == 0;
	json_object_set_new(chain, "ok", json_boolean(chain_ok));
	json_object_set_new(chain, "problems", problems);
	problems = NULL;
	bool ok = chain_ok && !json_array_size(changed) && !json_array_size(missing) &&
		  !json_array_size(unexpected);
	json_t *res =
	    json_pack("{s:b, s:I, s:I, s:O, s:O, s:O, s:O}", "ok", ok, "items", (json_int_t)n_items,
		      "blobs", (json_int_t)n_blobs, "changed", changed, "missing", missing,
		      "unexpected", unexpected, "chain", chain);
	if (log && !a->read_only) {
		json_t *d =
		    json_pack("{s:b, s:I, s:I, s:I, s:I, s:b, s:O}", "ok", ok, "blobs",
			      (json_int_t)n_blobs, "changed", (json_int_t)json_array_size(changed),
			      "missing", (json_int_t)json_array_size(missing), "unexpected",
			      (json_int_t)json_array_size(unexpected), "chain_ok", chain_ok,
			      "chain_entries", json_object_get(chain, "entries"));
		if ((r = begin(a, msg, len)) == 0)
			r = end(a, audit_append(a, "verify", NULL, d, msg, len), msg, len);
		else
			json_decref(d);
	}
	if (r < 0)
		json_decref(res);
	else
		*out = res;
	if (r == 0)
		say(msg, len, "%s", ok ? "the archive is intact" : "the archive has problems");
out:
	sqlite3_finalize(s);
	put_reader(a, db);
	json_decref(changed);
	json_decref(missing);
	json_decref(unexpected);
	json_decref(chain);
	json_decref(problems);
	json_decref(cand);
	return r;
}

/* ---- export (BagIt, RFC 8493) ------------------------------------------------------------ */

static const char *ext_of(const char *media_type)
{
	static const struct {
		const char *mt, *ext;
	} map[] = {
	    {"application/pdf", "pdf"},
	    {"image/png", "png"},
	    {"image/jpeg", "jpg"},
	    {"image/tiff", "tif"},
	    {"application/pkcs7-signature", "p7s"},
	    {"application/xml", "xml"},
	    {"text/xml", "xml"},
	    {"application/json", "json"},
	    {"text/plain", "txt"},
	    {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
	    {"application/msword", "doc"},
	    {"application/zip", "zip"},
	};
	for (size_t i = 0; media_type && i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(map[i].mt, media_type))
			return map[i].ext;
	return "bin";
}

/* A new file of the bag holding text, fsynced. */
static int write_text(const char *path, const char *text)
{
	return io_create_file(path, text, strlen(text), 0640);
}

/* Copies a blob into the bag, checking it against its name on the way. */
static int copy_blob(struct archive *a, const char *sha, const char *dst, int64_t *size, char *msg,
		     size_t len)
{
	char src[PATH_MAX];
	blob_path(a, sha, src, sizeof src);
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(1 << 16);
	if (in < 0) {
		r = -errno;
		say(msg, len, "the archived file %s is missing: %s", src, strerror(errno));
		goto out;
	}
	if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		r = -ENOMEM;
		goto out;
	}
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) < 0) {
		r = -errno;
		say(msg, len, "cannot write %s: %s", dst, strerror(errno));
		goto out;
	}
	struct sha_copy c = {.md = md, .out = out};
	if ((r = io_read_chunks(in, buf, 1 << 16, sha_copy_chunk, &c)) < 0) {
		if (c.write_failed)
			say(msg, len, "cannot write %s: %s", dst, strerror(-r));
		else
			say(msg, len, "cannot read %s: %s", src, strerror(-r));
		goto out;
	}
	unsigned char d[32];
	unsigned dl;
	char h[65];
	EVP_DigestFinal_ex(md, d, &dl);
	hex(d, 32, h);
	if (strcmp(h, sha)) {
		r = -EBADMSG;
		say(msg, len,
		    "the archived file %s does not match its SHA-256 (run motcua archive verify)",
		    src);
		goto out;
	}
	if (fsync(out) < 0)
		r = -errno;
	*size = c.total;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	EVP_MD_CTX_free(md);
	free(buf);
	return r;
}

static int rm_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return unlink(path) < 0 ? -errno : 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		rm_tree(p);
	}
	closedir(d);
	return rmdir(path) < 0 ? -errno : 0;
}

struct manifest {
	char *text;
	size_t len, cap;
};

static int manifest_add(struct manifest *m, const char *sha, const char *rel)
{
	size_t need = strlen(sha) + strlen(rel) + 4;
	if (m->len + need >= m->cap) {
		size_t cap = (m->cap + need) * 2;
		char *t = realloc(m->text, cap);
		if (!t)
			return -ENOMEM;
		m->text = t;
		m->cap = cap;
	}
	m->len += (size_t)sprintf(m->text + m->len, "%s  %s\n", sha, rel);
	return 0;
}

static int file_sha(const char *path, char sha[65], int64_t *size)
{
	return hash_file(path, sha, size);
}

struct bagged {
	const char *sha, *mt, *role;
};

static int bag_file(const char *rel, const char *sha, int64_t size, struct manifest *m,
		    int64_t *octets, int64_t *files)
{
	*octets += size;
	(*files)++;
	return manifest_add(m, sha, rel);
}

int archive_export(struct archive *a, const char *dossier_code, const char *dir, char *bag_path,
		   size_t bag_path_len, char *msg, size_t len)
{
	if (!archive_valid_code(dossier_code)) {
		say(msg, len, "'%.64s' is not a dossier code", dossier_code ? dossier_code : "");
		return -EINVAL;
	}
	if (!dir || !*dir || strlen(dir) > PATH_MAX - 200) {
		say(msg, len, "no export folder given, or its path is too long");
		return -EINVAL;
	}
	char final[PATH_MAX], tmp[PATH_MAX];
	snprintf(final, sizeof final, "%s/%s", dir, dossier_code);
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		say(msg, len, "the export folder %s does not exist", dir);
		return -ENOENT;
	}
	if (lstat(final, &st) == 0) {
		say(msg, len, "%s exists already; remove it or export into another folder", final);
		return -EEXIST;
	}
	sqlite3 *db;
	int r = get_reader(a, &db, msg, len);
	if (r < 0)
		return r;
	json_t *items = json_array();
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	r = list_items(a, db,
		       "SELECT " ITEM_COLS
		       " FROM items i WHERE i.dossier_code = ?1 OR i.id IN (SELECT item_id FROM"
		       " reuses WHERE dossier_code = ?1) ORDER BY i.archived_at, i.n",
		       dossier_code, items, msg, len);
	char org[512] = "motcua";
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE key = 'organization'", -1, &s,
			       NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			snprintf(org, sizeof org, "%s", (const char *)sqlite3_column_text(s, 0));
		sqlite3_finalize(s);
	}
	/* the reuse records of this dossier, to mark reused items */
	json_t *reused = json_object();
	if (sqlite3_prepare_v2(db,
			       "SELECT item_id, document_id FROM reuses WHERE dossier_code = ?1",
			       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, dossier_code, -1, SQLITE_STATIC);
		while (sqlite3_step(s) == SQLITE_ROW)
			json_object_set_new(reused, (const char *)sqlite3_column_text(s, 0),
					    json_string((const char *)sqlite3_column_text(s, 1)));
		sqlite3_finalize(s);
	}
	/* the OCR text belongs in the package too */
	if (r == 0 && sqlite3_prepare_v2(db, "SELECT text FROM items WHERE id = ?1", -1, &s,
					 NULL) == SQLITE_OK) {
		size_t k;
		json_t *ki;
		json_array_foreach(items, k, ki)
		{
			sqlite3_reset(s);
			sqlite3_bind_text(s, 1, json_string_value(json_object_get(ki, "id")), -1,
					  SQLITE_STATIC);
			if (sqlite3_step(s) == SQLITE_ROW)
				json_object_set_new(ki, "text", col_str(s, 0));
		}
		sqlite3_finalize(s);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	put_reader(a, db);
	struct manifest man = {0};
	char *meta_text = NULL;
	tmp[0] = 0;
	if (r < 0)
		goto out;
	if (!json_array_size(items)) {
		say(msg, len, "no archived item of dossier %s", dossier_code);
		r = -ENOENT;
		goto out;
	}
	snprintf(tmp, sizeof tmp, "%s/.tmp-%s-XXXXXX", dir, dossier_code);
	if (!mkdtemp(tmp)) {
		r = -errno;
		say(msg, len, "cannot create a folder in %s: %s", dir, strerror(errno));
		tmp[0] = 0;
		goto out;
	}
	char p[PATH_MAX], rel[256];
	snprintf(p, sizeof p, "%s/data", tmp);
	if (mkdir(p, 0750) < 0) {
		r = -errno;
		goto io;
	}
	int64_t octets = 0, files = 0;
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		const char *id = json_string_value(json_object_get(it, "id"));
		const char *doc = json_string_value(json_object_get(reused, id));
		if (doc) {
			json_object_set_new(it, "reused_in_this_dossier", json_true());
			json_object_set_new(it, "reused_as_document_id", json_string(doc));
		}
		snprintf(rel, sizeof rel, "data/%03zu-%s", i + 1, id);
		snprintf(p, sizeof p, "%s/%s", tmp, rel);
		if (mkdir(p, 0750) < 0) {
			r = -errno;
			goto io;
		}
		json_t *files_j = json_array();
		json_object_set_new(it, "files", files_j);
		/* the signed file, the originals, the sidecar */
		size_t nf = 0;
		struct bagged *f =
		    calloc(json_array_size(json_object_get(it, "originals")) + 2, sizeof *f);
		if (!f) {
			r = -ENOMEM;
			goto out;
		}
		f[nf].sha = json_string_value(json_object_get(it, "sha256"));
		f[nf].mt = json_string_value(json_object_get(it, "media_type"));
		f[nf++].role = "signed";
		size_t k;
		json_t *o;
		json_array_foreach(json_object_get(it, "originals"), k, o)
		{
			f[nf].sha = json_string_value(json_object_get(o, "sha256"));
			f[nf].mt = json_string_value(json_object_get(o, "media_type"));
			f[nf++].role = "original";
		}
		json_t *sc = json_object_get(it, "sidecar");
		if (json_is_object(sc)) {
			f[nf].sha = json_string_value(json_object_get(sc, "sha256"));
			f[nf].mt = json_string_value(json_object_get(sc, "media_type"));
			f[nf++].role = "sidecar";
		}
		for (size_t j = 0; j < nf; j++) {
			char name[64], frel[320];
			if (!strcmp(f[j].role, "original") && nf > 2)
				snprintf(name, sizeof name, "original-%zu.%s", j, ext_of(f[j].mt));
			else
				snprintf(name, sizeof name, "%s.%s", f[j].role, ext_of(f[j].mt));
			snprintf(frel, sizeof frel, "%s/%s", rel, name);
			snprintf(p, sizeof p, "%s/%s", tmp, frel);
			int64_t size = 0;
			if ((r = copy_blob(a, f[j].sha, p, &size, msg, len)) < 0) {
				say(msg + strlen(msg), len - strlen(msg), " (item %s)", id);
				free(f);
				goto out;
			}
			if ((r = bag_file(frel, f[j].sha, size, &man, &octets, &files)) < 0) {
				free(f);
				goto out;
			}
			json_array_append_new(
			    files_j, json_pack("{s:s, s:s, s:s, s:s, s:I}", "role", f[j].role,
					       "path", frel, "sha256", f[j].sha, "media_type",
					       f[j].mt ? f[j].mt : "application/octet-stream",
					       "size", (json_int_t)size));
		}
		free(f);
		snprintf(p, sizeof p, "%s/%s", tmp, rel);
		io_fsync_dir(p);
	}
	/* data/metadata.json: every item's fields */
	char today[11], at[32];
	vn_time(now_unix(), at, today);
	json_t *meta = json_pack("{s:s, s:s, s:s, s:O}", "dossier_code", dossier_code,
				 "exported_at", at, "source_organization", org, "items", items);
	meta_text = json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(meta);
	if (!meta_text) {
		r = -ENOMEM;
		goto out;
	}
	size_t ml = strlen(meta_text);
	meta_text[ml] = 0;
	snprintf(p, sizeof p, "%s/data/metadata.json", tmp);
	{
		char *mt2 = NULL;
		if (asprintf(&mt2, "%s\n", meta_text) < 0) {
			r = -ENOMEM;
			goto out;
		}
		r = write_text(p, mt2);
		char h[65];
		archive_sha256_hex(mt2, strlen(mt2), h);
		int64_t sz = (int64_t)strlen(mt2);
		free(mt2);
		if (r < 0)
			goto io;
		if ((r = bag_file("data/metadata.json", h, sz, &man, &octets, &files)) < 0)
			goto out;
	}
	snprintf(p, sizeof p, "%s/data", tmp);
	io_fsync_dir(p);
	/* tag files */
	char *info = NULL;
	if (asprintf(&info,
		     "Source-Organization: %s\n"
		     "External-Identifier: %s\n"
		     "External-Description: Hồ sơ %s: %zu giấy tờ đã ký số và lưu trữ (archived "
		     "signed documents)\n"
		     "Bagging-Date: %s\n"
		     "Payload-Oxum: %lld.%lld\n"
		     "Bag-Software-Agent: motcua archive-sqlite\n",
		     org, dossier_code, dossier_code, json_array_size(items), today,
		     (long long)octets, (long long)files) < 0) {
		r = -ENOMEM;
		goto out;
	}
	static const char bagit_txt[] = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";
	struct manifest tag = {0};
	snprintf(p, sizeof p, "%s/bagit.txt", tmp);
	if ((r = write_text(p, bagit_txt)) == 0) {
		snprintf(p, sizeof p, "%s/bag-info.txt", tmp);
		r = write_text(p, info);
	}
	if (r == 0) {
		snprintf(p, sizeof p, "%s/manifest-sha256.txt", tmp);
		r = write_text(p, man.text ? man.text : "");
	}
	free(info);
	static const char *const tags[] = {"bagit.txt", "bag-info.txt", "manifest-sha256.txt"};
	for (size_t t = 0; r == 0 && t < 3; t++) {
		char h[65];
		int64_t sz;
		snprintf(p, sizeof p, "%s/%s", tmp, tags[t]);
		if ((r = file_sha(p, h, &sz)) == 0)
			r = manifest_add(&tag, h, tags[t]);
	}
	if (r == 0) {
		snprintf(p, sizeof p, "%s/tagmanifest-sha256.txt", tmp);
		r = write_text(p, tag.text);
	}
	free(tag.text);
	if (r < 0)
		goto io;
	io_fsync_dir(tmp);
	if (rename(tmp, final) < 0) {
		r = -errno;
		say(msg, len, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
		goto out;
	}
	tmp[0] = 0;
	io_fsync_dir(dir);
	if (bag_path)
		snprintf(bag_path, bag_path_len, "%s", final);
	say(msg, len, "exported %zu items of %s to %s", json_array_size(items), dossier_code,
	    final);
	if (!a->read_only) {
		json_t *ids = json_array();
		json_array_foreach(items, i, it) json_array_append(ids, json_object_get(it, "id"));
		char m2[256], oxum[64];
		snprintf(oxum, sizeof oxum, "%lld.%lld", (long long)octets, (long long)files);
		if (begin(a, m2, sizeof m2) == 0)
			end(a,
			    audit_append(a, "export", NULL,
					 json_pack("{s:s, s:o, s:s}", "dossier_code", dossier_code,
						   "items", ids, "payload_oxum", oxum),
					 m2, sizeof m2),
			    m2, sizeof m2);
		else
			json_decref(ids);
	}
	goto out;
io:
	say(msg, len, "cannot write the export in %s: %s", tmp, strerror(-r));
out:
	if (tmp[0])
		rm_tree(tmp);
	free(man.text);
	free(meta_text);
	json_decref(items);
	json_decref(reused);
	return r;
}
