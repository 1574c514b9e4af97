/* SPDX-License-Identifier: MIT */
/* motcua: the operator's command-line tool. Token commands work offline on the
 * gateway's database (found through the configuration); dossier and document
 * commands talk to the running gateway's API. Any other command NAME is a
 * program of its own, motcua-NAME (the plugins' offline tools: verify,
 * archive, report), run with the configuration in MOTCUA_SETTINGS (run_tool). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "auth.h"
#include "config.h"
#include "db.h"
#include "gateway.h"
#include "outbox.h"
#include "users.h"
#include "util.h"

struct cli {
	struct config *config;
	struct settings settings;
	const char *url_host;
	unsigned url_port;
	const char *token;
	bool json;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: motcua [--config FILE] [-o SECTION.KEY=VALUE] [--token TOKEN] COMMAND ...\n"
		"\n"
		"Tokens (offline, on the gateway's database):\n"
		"  token create --role clerk|supervisor|admin|agency|kiosk [--name NAME]\n"
		"  token list\n"
		"  token revoke ID\n"
		"Officials' accounts (offline, on the gateway's database; the password is\n"
		"asked twice on the terminal, or read from standard input):\n"
		"  user add --username U --name \"Họ tên\" --role clerk|supervisor|admin\n"
		"           --unit UNIT [--counter N] [--password-stdin]\n"
		"  user passwd U [--password-stdin]   (ends U's sessions)\n"
		"  user list [--json]\n"
		"  user disable U                     (ends U's sessions)\n"
		"Dossiers and documents (through the running gateway; token from --token or\n"
		"the MOTCUA_TOKEN environment variable):\n"
		"  dossier create --procedure CODE [--procedure-name TEXT] --name NAME\n"
		"                 --id-number NUMBER [--phone PHONE] [--channel 1|2|3]\n"
		"                 [--ticket ID] [--unit UNIT] [--processing-days N]\n"
		"  dossier show CODE\n"
		"  dossier list [--status N] [--from DATE] [--to DATE] [--limit N] [--offset N]\n"
		"  document add CODE FILE [--name NAME] [--type MEDIA-TYPE] [--wait]\n"
		"  document scan CODE [--source flatbed|adf] [--duplex] [--resolution DPI]\n"
		"                [--mode color|gray|lineart] [--name NAME] [--wait]\n"
		"  document confirm CODE ID [--order 2,1,3] [--wait]\n"
		"                the clerk's review done: signed and archived next\n"
		"  document show CODE ID\n"
		"  health\n"
		"Reports (offline, on the evaluation plugin's database):\n"
		"  report --quarter YYYYQn | --year YYYY | --from DATE --to DATE [--out DIR]\n"
		"                 indicators per office, unit and official with the plan's\n"
		"                 targets: a CSV and a printable HTML page\n"
		"Deliveries (offline, on the gateway's database):\n"
		"  sync report [--from DATE] [--to DATE] [--destination ADAPTER] [--json]\n"
		"                 dossiers whose latest change the portal (adapter-dvcqg)\n"
		"                 has not acknowledged; exit 0 when there is none\n"
		"Signatures and the e-archive (offline, on files and the archive folder):\n"
		"  verify FILE [--trust BUNDLE] [--data FILE] [--json]\n"
		"                 exit 0 only when the signature is intact and chains to the\n"
		"                 trust bundle ([sign-openssl] trust)\n"
		"  archive verify             fixity of every blob and the audit chain\n"
		"  archive export CODE DIR    one dossier as a BagIt package\n"
		"  archive search [--id-number N] [--procedure P] [--from D] [--to D] WORDS...\n"
		"  archive disposal           items past their retention period\n");
}

/* ---- HTTP client on libevent ---- */

struct http_result {
	struct event_base *base;
	int status;
	char *body;
	size_t len;
};

static void on_response(struct evhttp_request *req, void *arg)
{
	struct http_result *r = arg;
	if (!req) {
		r->status = -1;
	} else {
		r->status = evhttp_request_get_response_code(req);
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		r->len = evbuffer_get_length(in);
		r->body = malloc(r->len + 1);
		if (r->body) {
			evbuffer_remove(in, r->body, r->len);
			r->body[r->len] = 0;
		}
	}
	event_base_loopexit(r->base, NULL);
}

static int http_call(struct cli *c, enum evhttp_cmd_type cmd, const char *path, const char *ctype,
		     const void *body, size_t len, struct http_result *res)
{
	memset(res, 0, sizeof *res);
	struct event_base *base = event_base_new();
	struct evhttp_connection *conn =
	    base ? evhttp_connection_base_new(base, NULL, c->url_host, (ev_uint16_t)c->url_port)
		 : NULL;
	struct evhttp_request *req = conn ? evhttp_request_new(on_response, res) : NULL;
	res->base = base;
	if (!req) {
		if (conn)
			evhttp_connection_free(conn);
		if (base)
			event_base_free(base);
		return -ENOMEM;
	}
	evhttp_connection_set_timeout(conn, 120);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char host[300], auth[200];
	snprintf(host, sizeof host, "%s:%u", c->url_host, c->url_port);
	evhttp_add_header(h, "Host", host);
	if (c->token) {
		snprintf(auth, sizeof auth, "Bearer %s", c->token);
		evhttp_add_header(h, "Authorization", auth);
	}
	if (ctype)
		evhttp_add_header(h, "Content-Type", ctype);
	if (body)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	/* the request belongs to the connection from here on */
	evhttp_make_request(conn, req, cmd, path);
	event_base_dispatch(base);
	evhttp_connection_free(conn);
	event_base_free(base);
	if (res->status <= 0) {
		fprintf(stderr,
			"motcua: cannot reach the gateway at http://%s:%u/ (is it running?)\n",
			c->url_host, c->url_port);
		return -ECONNREFUSED;
	}
	return 0;
}

/* Prints the body; returns the exit code for the status. */
static int finish(struct http_result *r, int want)
{
	int rc = 0;
	if (r->status != want) {
		json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
		const char *detail = j ? json_string_value(json_object_get(j, "detail")) : NULL;
		fprintf(stderr, "motcua: HTTP %d: %s\n", r->status,
			detail ? detail : (r->body ? r->body : ""));
		json_decref(j);
		rc = 1;
	} else if (r->body) {
		fputs(r->body, stdout);
		if (r->len && r->body[r->len - 1] != '\n')
			fputc('\n', stdout);
	}
	free(r->body);
	return rc;
}

static char *urlenc(const char *s)
{
	return evhttp_uriencode(s, -1, 0);
}

static sqlite3 *open_db(struct cli *c);

/* ---- sync report: what the portal has not acknowledged ---- */

/* For each dossier received in [from, to]: its latest outbox row for the
 * destination (the national portal's adapter by default). A dossier is synced
 * when that row is delivered; otherwise it is listed with why. Offline, on
 * the gateway's database. Exit 0 when every dossier is synced. */
static int cmd_sync(struct cli *c, int argc, char **argv)
{
	static const struct option o[] = {{"from", required_argument, NULL, 'f'},
					  {"to", required_argument, NULL, 't'},
					  {"destination", required_argument, NULL, 'd'},
					  {"json", no_argument, NULL, 'j'},
					  {0}};
	const char *from = NULL, *to = NULL, *dest = "adapter-dvcqg";
	bool json = c->json;
	int ch;
	if (argc < 1 || strcmp(argv[0], "report")) {
		usage(stderr);
		return 2;
	}
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (ch == 'f')
			from = optarg;
		else if (ch == 't')
			to = optarg;
		else if (ch == 'd')
			dest = optarg;
		else if (ch == 'j')
			json = true;
		else
			return 2;
	}
	int64_t t0 = 0, t1 = INT64_MAX;
	if ((from && time_parse(from, false, &t0) < 0) || (to && time_parse(to, true, &t1) < 0) ||
	    optind != argc) {
		fprintf(stderr, "motcua: sync report [--from DATE] [--to DATE] [--destination "
				"ADAPTER] [--json]\n"
				"  DATE: YYYY-MM-DD (Vietnam time) or ISO 8601\n");
		return 2;
	}
	sqlite3 *db = open_db(c);
	if (!db)
		return 1;
	json_t *rep = outbox_sync_report(db, t0, t1, dest);
	db_close(db);
	if (!rep) {
		fprintf(stderr, "motcua: cannot make the sync report from %s/motcua.db\n",
			c->settings.data_dir);
		return 1;
	}
	long long total = json_integer_value(json_object_get(rep, "dossiers"));
	long long synced = json_integer_value(json_object_get(rep, "synced"));
	if (json) {
		char *text = json_dumps(rep, JSON_INDENT(2));
		puts(text ? text : "{}");
		free(text);
	} else {
		size_t i;
		json_t *m;
		printf(
		    "Đồng bộ với %s / sync with %s: %lld of %lld dossiers acknowledged (%.1f%%)\n",
		    dest, dest, synced, total,
		    total ? 100.0 * (double)synced / (double)total : 100.0);
		json_array_foreach(json_object_get(rep, "not_synced"), i, m)
		{
			const char *state = json_string_value(json_object_get(m, "outbox_state"));
			const char *err = json_string_value(json_object_get(m, "last_error"));
			const char *type = json_string_value(json_object_get(m, "event_type"));
			printf("  %s  status %lld  %s%s%s\n",
			       json_string_value(json_object_get(m, "code")),
			       (long long)json_integer_value(json_object_get(m, "status")),
			       !strcmp(state, "none") ? "never queued (no adapter took it)" : state,
			       type ? ", last change " : "", type ? type : "");
			if (err)
				printf("      %s\n", err);
		}
	}
	json_decref(rep);
	return synced == total ? 0 : 1;
}

/* ---- token commands ---- */

static sqlite3 *open_db(struct cli *c)
{
	char path[4096], err[512];
	snprintf(path, sizeof path, "%s/motcua.db", c->settings.data_dir);
	if (mkdir_p(c->settings.data_dir, 0750) < 0) {
		fprintf(stderr, "motcua: cannot create %s: %s\n", c->settings.data_dir,
			strerror(errno));
		return NULL;
	}
	sqlite3 *db = db_open(path, err, sizeof err);
	if (!db)
		fprintf(stderr, "motcua: %s\n", err);
	return db;
}

static int cmd_token(struct cli *c, int argc, char **argv)
{
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	sqlite3 *db = NULL;
	int rc = 1;
	if (!strcmp(argv[0], "create")) {
		static const struct option o[] = {{"role", required_argument, NULL, 'r'},
						  {"name", required_argument, NULL, 'n'},
						  {0}};
		const char *role = NULL, *name = NULL;
		int ch;
		optind = 0;
		while ((ch = getopt_long(argc, argv, "r:n:", o, NULL)) != -1) {
			if (ch == 'r')
				role = optarg;
			else if (ch == 'n')
				name = optarg;
			else
				return 2;
		}
		if (optind != argc) {
			fprintf(stderr, "motcua: token create takes no argument '%s'\n",
				argv[optind]);
			return 2;
		}
		unsigned r = role ? role_from_name(role) : 0;
		if (!r) {
			fprintf(stderr,
				"motcua: --role must be clerk, supervisor, admin or agency\n");
			return 2;
		}
		if (!name)
			name = role;
		if (!(db = open_db(c)))
			return 1;
		char token[80];
		int64_t id;
		int e = token_create(db, r, name, token, &id);
		if (e < 0)
			fprintf(stderr, "motcua: cannot create the token: %s\n",
				e == -EINVAL ? "--name must be 1 to 100 bytes" : strerror(-e));
		else {
			printf("%s\n", token);
			fprintf(stderr, "token %lld for %s (%s) created; it is shown only once\n",
				(long long)id, name, role);
			rc = 0;
		}
	} else if (!strcmp(argv[0], "list")) {
		if (!(db = open_db(c)))
			return 1;
		json_t *l = token_list(db);
		size_t i;
		json_t *t;
		if (c->json) {
			char *s = json_dumps(l, JSON_INDENT(2));
			puts(s);
			free(s);
		} else {
			printf("%-5s %-12s %-26s %-26s %s\n", "ID", "ROLE", "CREATED", "REVOKED",
			       "NAME");
			json_array_foreach(l, i, t)
			    printf("%-5lld %-12s %-26s %-26s %s\n",
				   (long long)json_integer_value(json_object_get(t, "id")),
				   json_string_value(json_object_get(t, "role")),
				   json_string_value(json_object_get(t, "created_at")),
				   json_is_string(json_object_get(t, "revoked_at"))
				       ? json_string_value(json_object_get(t, "revoked_at"))
				       : "-",
				   json_string_value(json_object_get(t, "name")));
		}
		json_decref(l);
		rc = 0;
	} else if (!strcmp(argv[0], "revoke") && argc == 2) {
		char *end;
		long long id = strtoll(argv[1], &end, 10);
		if (!*argv[1] || *end || id <= 0) {
			fprintf(stderr,
				"motcua: token revoke takes the token's ID (see token list)\n");
			return 2;
		}
		if (!(db = open_db(c)))
			return 1;
		int e = token_revoke(db, id);
		if (e < 0)
			fprintf(stderr, "motcua: token %lld: %s\n", id,
				e == -ENOENT ? "no such token, or already revoked" : strerror(-e));
		else {
			fprintf(stderr, "token %lld revoked\n", id);
			rc = 0;
		}
	} else {
		usage(stderr);
		return 2;
	}
	db_close(db);
	return rc;
}

/* ---- officials' accounts ---- */

/* One line from f into buf without its newline; false at EOF or too long. */
static bool read_line(FILE *f, char *buf, size_t n)
{
	if (!fgets(buf, (int)n, f))
		return false;
	size_t len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	else if (!feof(f))
		return false; /* longer than the buffer */
	if (len && buf[len - 1] == '\r')
		buf[--len] = 0;
	return true;
}

/* Asks on the terminal (fd 0) without echo. */
static bool ask_hidden(const char *prompt, char *buf, size_t n)
{
	struct termios old, quiet;
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return false;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	/* echo off before the prompt shows: what is typed after it is kept */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
		return false;
	fputs(prompt, stderr);
	fflush(stderr);
	bool ok = read_line(stdin, buf, n);
	tcsetattr(STDIN_FILENO, TCSANOW, &old);
	return ok;
}

/* The new password into pw: from standard input (its first line), or asked
 * twice on the terminal. Returns 0, or an exit code after a message. */
static int get_password(bool from_stdin, char pw[USER_PASSWORD_MAX + 2])
{
	char again[USER_PASSWORD_MAX + 2];
	const char *problem;
	if (from_stdin) {
		if (!read_line(stdin, pw, USER_PASSWORD_MAX + 2)) {
			fprintf(stderr,
				"motcua: no password on standard input (one line, at most "
				"%d bytes)\n",
				USER_PASSWORD_MAX);
			return 2;
		}
	} else if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "motcua: standard input is not a terminal: give the password "
				"with --password-stdin\n");
		return 2;
	} else {
		if (!ask_hidden("Mật khẩu mới / New password: ", pw, USER_PASSWORD_MAX + 2)) {
			fprintf(stderr, "motcua: no password read\n");
			return 2;
		}
		if ((problem = user_password_problem(pw))) {
			fprintf(stderr, "motcua: %s\n", problem);
			sodium_memzero(pw, USER_PASSWORD_MAX + 2);
			return 2;
		}
		bool same =
		    ask_hidden("Nhập lại / Again: ", again, sizeof again) && !strcmp(pw, again);
		sodium_memzero(again, sizeof again);
		if (!same) {
			fprintf(stderr, "motcua: the two passwords differ (hai mật khẩu không "
					"khớp); nothing changed\n");
			sodium_memzero(pw, USER_PASSWORD_MAX + 2);
			return 2;
		}
	}
	if ((problem = user_password_problem(pw))) {
		fprintf(stderr, "motcua: %s\n", problem);
		sodium_memzero(pw, USER_PASSWORD_MAX + 2);
		return 2;
	}
	return 0;
}

/* Hashes pw (wiped after) into hash. */
static int hash_password(char *pw, char hash[USER_HASH_MAX])
{
	int e = users_crypto_init() < 0 ? -EIO : user_hash_password(pw, hash);
	sodium_memzero(pw, USER_PASSWORD_MAX + 2);
	if (e < 0)
		fprintf(stderr, "motcua: cannot hash the password (libsodium: out of memory?)\n");
	return e;
}

static int cmd_user(struct cli *c, int argc, char **argv)
{
	static const struct option o[] = {
	    {"username", required_argument, NULL, 'u'}, {"name", required_argument, NULL, 'n'},
	    {"role", required_argument, NULL, 'r'},	{"unit", required_argument, NULL, 'U'},
	    {"counter", required_argument, NULL, 'C'},	{"password-stdin", no_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},		{0}};
	const char *username = NULL, *name = NULL, *role = NULL, *unit = NULL, *counter = NULL;
	bool from_stdin = false;
	int ch;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	const char *sub = argv[0];
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		switch (ch) {
		case 'u':
			username = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'r':
			role = optarg;
			break;
		case 'U':
			unit = optarg;
			break;
		case 'C':
			counter = optarg;
			break;
		case 'p':
			from_stdin = true;
			break;
		case 'j':
			c->json = true;
			break;
		default:
			return 2;
		}
	}
	int rest = argc - optind;
	char pw[USER_PASSWORD_MAX + 2], hash[USER_HASH_MAX];
	sqlite3 *db = NULL;
	int rc = 1, e;
	if (!strcmp(sub, "add") && rest == 0) {
		const char *problem = user_fields_problem(username, name, role, unit, counter);
		if (!username || !name || !role || !unit) {
			fprintf(stderr, "motcua: user add needs --username, --name, --role and "
					"--unit\n");
			return 2;
		}
		if (problem) {
			fprintf(stderr, "motcua: %s\n", problem);
			return 2;
		}
		if (!(db = open_db(c)))
			return 1;
		struct user u;
		if (user_find(db, username, &u) == 0) {
			fprintf(stderr, "motcua: the username %s is taken\n", username);
			goto out;
		}
		if ((rc = get_password(from_stdin, pw)) != 0)
			goto out;
		rc = 1;
		if (hash_password(pw, hash) < 0)
			goto out;
		int64_t id;
		e = user_add(db, username, name, role, unit, counter, hash, &id);
		if (e == -EEXIST)
			fprintf(stderr, "motcua: the username %s is taken\n", username);
		else if (e < 0)
			fprintf(stderr, "motcua: cannot add %s: %s\n", username, strerror(-e));
		else {
			fprintf(stderr, "user %s (%s, %s) added\n", username, name, role);
			rc = 0;
		}
	} else if (!strcmp(sub, "passwd") && rest == 1 && !username) {
		username = argv[optind];
		if (!(db = open_db(c)))
			return 1;
		struct user u;
		if (user_find(db, username, &u) < 0) {
			fprintf(stderr, "motcua: no user %s (see motcua user list)\n", username);
			goto out;
		}
		if ((rc = get_password(from_stdin, pw)) != 0)
			goto out;
		rc = 1;
		if (hash_password(pw, hash) < 0)
			goto out;
		e = user_set_hash(db, username, hash);
		if (e < 0)
			fprintf(stderr, "motcua: cannot change the password of %s: %s\n", username,
				strerror(-e));
		else {
			fprintf(stderr, "password of %s changed; its sessions are ended\n",
				username);
			rc = 0;
		}
	} else if (!strcmp(sub, "disable") && rest == 1 && !username) {
		username = argv[optind];
		if (!(db = open_db(c)))
			return 1;
		e = user_disable(db, username);
		if (e == -ENOENT)
			fprintf(stderr, "motcua: no user %s, or disabled already\n", username);
		else if (e < 0)
			fprintf(stderr, "motcua: cannot disable %s: %s\n", username, strerror(-e));
		else {
			fprintf(stderr, "user %s disabled; its sessions are ended\n", username);
			rc = 0;
		}
	} else if (!strcmp(sub, "list") && rest == 0) {
		if (!(db = open_db(c)))
			return 1;
		json_t *l = user_list(db), *u;
		size_t i;
		if (!l) {
			fprintf(stderr, "motcua: cannot list the users\n");
			goto out;
		}
		if (c->json) {
			char *text = json_dumps(l, JSON_INDENT(2));
			puts(text ? text : "[]");
			free(text);
		} else {
			printf("%-20s %-11s %-8s %-9s %s / %s\n", "USERNAME", "ROLE", "COUNTER",
			       "STATE", "NAME", "UNIT");
			json_array_foreach(l, i, u)
			{
				const char *ctr = json_string_value(json_object_get(u, "counter"));
				printf(
				    "%-20s %-11s %-8s %-9s %s / %s\n",
				    json_string_value(json_object_get(u, "username")),
				    json_string_value(json_object_get(u, "role")), ctr ? ctr : "-",
				    json_is_string(json_object_get(u, "disabled_at")) ? "disabled"
										      : "active",
				    json_string_value(json_object_get(u, "name")),
				    json_string_value(json_object_get(u, "unit")));
			}
		}
		json_decref(l);
		rc = 0;
	} else {
		usage(stderr);
		return 2;
	}
out:
	sodium_memzero(hash, sizeof hash);
	db_close(db);
	return rc;
}

/* ---- dossier and document commands ---- */

static int cmd_dossier(struct cli *c, int argc, char **argv)
{
	struct http_result r;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[0], "create")) {
		static const struct option o[] = {{"procedure", required_argument, NULL, 'p'},
						  {"procedure-name", required_argument, NULL, 'P'},
						  {"name", required_argument, NULL, 'n'},
						  {"id-number", required_argument, NULL, 'i'},
						  {"phone", required_argument, NULL, 't'},
						  {"channel", required_argument, NULL, 'c'},
						  {"ticket", required_argument, NULL, 'T'},
						  {"unit", required_argument, NULL, 'u'},
						  {"processing-days", required_argument, NULL, 'd'},
						  {0}};
		const char *proc = NULL, *pname = NULL, *name = NULL, *id = NULL, *phone = NULL,
			   *unit = NULL;
		long channel = 1, ticket = 0, days = -1;
		int ch;
		optind = 0;
		while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
			switch (ch) {
			case 'p':
				proc = optarg;
				break;
			case 'P':
				pname = optarg;
				break;
			case 'n':
				name = optarg;
				break;
			case 'i':
				id = optarg;
				break;
			case 't':
				phone = optarg;
				break;
			case 'c':
				channel = strtol(optarg, NULL, 10);
				break;
			case 'T':
				ticket = strtol(optarg, NULL, 10);
				break;
			case 'u':
				unit = optarg;
				break;
			case 'd':
				days = strtol(optarg, NULL, 10);
				break;
			default:
				return 2;
			}
		}
		if (!proc || !name || !id) {
			fprintf(
			    stderr,
			    "motcua: dossier create needs --procedure, --name and --id-number\n");
			return 2;
		}
		json_t *app = json_pack("{s:s, s:s}", "name", name, "id_number", id);
		if (!app) {
			fprintf(stderr, "motcua: arguments must be UTF-8 text\n");
			return 2;
		}
		if (phone)
			json_object_set_new(app, "phone", json_string(phone));
		json_t *body = json_pack("{s:s, s:o, s:I}", "procedure_code", proc, "applicant",
					 app, "channel", (json_int_t)channel);
		if (pname)
			json_object_set_new(body, "procedure_name", json_string(pname));
		if (ticket)
			json_object_set_new(body, "ticket_id", json_integer(ticket));
		if (unit)
			json_object_set_new(body, "unit", json_string(unit));
		if (days >= 0)
			json_object_set_new(body, "processing_days", json_integer(days));
		char *text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		int e = http_call(c, EVHTTP_REQ_POST, "/api/v1/dossiers", "application/json", text,
				  strlen(text), &r);
		free(text);
		return e < 0 ? 1 : finish(&r, 201);
	}
	if (!strcmp(argv[0], "show") && argc == 2) {
		char path[512], *code = urlenc(argv[1]);
		snprintf(path, sizeof path, "/api/v1/dossiers/%s", code);
		free(code);
		return http_call(c, EVHTTP_REQ_GET, path, NULL, NULL, 0, &r) < 0 ? 1
										 : finish(&r, 200);
	}
	if (!strcmp(argv[0], "list")) {
		static const struct option o[] = {{"status", required_argument, NULL, 's'},
						  {"from", required_argument, NULL, 'f'},
						  {"to", required_argument, NULL, 't'},
						  {"limit", required_argument, NULL, 'l'},
						  {"offset", required_argument, NULL, 'o'},
						  {0}};
		char path[1024] = "/api/v1/dossiers";
		int ch;
		char sep = '?';
		optind = 0;
		while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
			if (ch == '?')
				return 2;
			const char *key = ch == 's'   ? "status"
					  : ch == 'f' ? "from"
					  : ch == 't' ? "to"
					  : ch == 'l' ? "limit"
						      : "offset";
			char *v = urlenc(optarg);
			size_t l = strlen(path);
			snprintf(path + l, sizeof path - l, "%c%s=%s", sep, key, v);
			free(v);
			sep = '&';
		}
		return http_call(c, EVHTTP_REQ_GET, path, NULL, NULL, 0, &r) < 0 ? 1
										 : finish(&r, 200);
	}
	usage(stderr);
	return 2;
}

static const char *guess_type(const char *file)
{
	const char *dot = strrchr(file, '.');
	if (!dot)
		return NULL;
	if (!strcasecmp(dot, ".pdf"))
		return "application/pdf";
	if (!strcasecmp(dot, ".png"))
		return "image/png";
	if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"))
		return "image/jpeg";
	if (!strcasecmp(dot, ".tif") || !strcasecmp(dot, ".tiff"))
		return "image/tiff";
	return NULL;
}

static int read_file(const char *path, char **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	*len = (size_t)sb.st_size;
	*data = malloc(*len + 1);
	size_t got = 0;
	while (*data && got < *len) {
		ssize_t n = read(fd, *data + got, *len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!*data || got != *len) {
		free(*data);
		return -EIO;
	}
	return 0;
}

/* Follows a document just accepted (r holds the 202 with its id) until its
 * pipeline ends or it waits for the clerk's review; prints the document.
 * Exit code 0 only if it is done or in review. */
static int follow_document(struct cli *c, const char *ecode, struct http_result *r)
{
	json_t *j = json_loads(r->body, 0, NULL);
	free(r->body);
	const char *id = json_string_value(json_object_get(j, "id"));
	if (!id) {
		json_decref(j);
		return 1;
	}
	char path[1024];
	snprintf(path, sizeof path, "/api/v1/dossiers/%s/documents/%s", ecode, id);
	json_decref(j);
	for (int i = 0; i < 3000; i++) {
		if (http_call(c, EVHTTP_REQ_GET, path, NULL, NULL, 0, r) < 0)
			return 1;
		j = r->status == 200 ? json_loads(r->body, 0, NULL) : NULL;
		const char *state = json_string_value(json_object_get(j, "state"));
		bool ok = state && (!strcmp(state, "done") || !strcmp(state, "review"));
		bool end = ok || (state && !strcmp(state, "failed"));
		json_decref(j);
		if (end || r->status != 200) {
			int rc = finish(r, 200);
			return rc ? rc : ok ? 0 : 1;
		}
		free(r->body);
		usleep(100 * 1000);
	}
	fprintf(stderr, "motcua: the document is still being processed\n");
	return 1;
}

static int cmd_document(struct cli *c, int argc, char **argv)
{
	struct http_result r;
	if (argc >= 1 && !strcmp(argv[0], "add")) {
		static const struct option o[] = {{"name", required_argument, NULL, 'n'},
						  {"type", required_argument, NULL, 't'},
						  {"wait", no_argument, NULL, 'w'},
						  {0}};
		const char *name = NULL, *type = NULL;
		bool wait = false;
		int ch;
		optind = 0;
		while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
			if (ch == 'n')
				name = optarg;
			else if (ch == 't')
				type = optarg;
			else if (ch == 'w')
				wait = true;
			else
				return 2;
		}
		if (argc - optind != 2) {
			fprintf(stderr, "motcua: document add takes CODE and FILE\n");
			return 2;
		}
		const char *code = argv[optind], *file = argv[optind + 1];
		if (!type)
			type = guess_type(file);
		if (!type) {
			fprintf(stderr, "motcua: cannot tell the type of %s; use --type\n", file);
			return 2;
		}
		if (!name) {
			const char *slash = strrchr(file, '/');
			name = slash ? slash + 1 : file;
		}
		char *data = NULL;
		size_t len = 0;
		int e = read_file(file, &data, &len);
		if (e < 0) {
			fprintf(stderr, "motcua: cannot read %s: %s\n", file, strerror(-e));
			return 1;
		}
		char path[1024], *ec = urlenc(code), *en = urlenc(name);
		snprintf(path, sizeof path, "/api/v1/dossiers/%s/documents?name=%s", ec, en);
		free(en);
		e = http_call(c, EVHTTP_REQ_POST, path, type, data, len, &r);
		free(data);
		if (e < 0)
			return 1;
		if (!wait || r.status != 202) {
			int rc = finish(&r, 202);
			free(ec);
			return rc;
		}
		int rc = follow_document(c, ec, &r);
		free(ec);
		return rc;
	}
	if (argc >= 1 && !strcmp(argv[0], "scan")) {
		static const struct option o[] = {{"source", required_argument, NULL, 's'},
						  {"resolution", required_argument, NULL, 'r'},
						  {"mode", required_argument, NULL, 'm'},
						  {"duplex", no_argument, NULL, 'd'},
						  {"name", required_argument, NULL, 'n'},
						  {"wait", no_argument, NULL, 'w'},
						  {0}};
		json_t *body = json_object();
		bool wait = false;
		int ch;
		optind = 0;
		while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
			switch (ch) {
			case 's':
				json_object_set_new(body, "source", json_string(optarg));
				break;
			case 'r':
				json_object_set_new(body, "resolution",
						    json_integer(strtol(optarg, NULL, 10)));
				break;
			case 'm':
				json_object_set_new(body, "mode", json_string(optarg));
				break;
			case 'd':
				json_object_set_new(body, "duplex", json_true());
				break;
			case 'n':
				json_object_set_new(body, "name", json_string(optarg));
				break;
			case 'w':
				wait = true;
				break;
			default:
				json_decref(body);
				return 2;
			}
		}
		if (argc - optind != 1) {
			json_decref(body);
			fprintf(stderr, "motcua: document scan takes the dossier CODE\n");
			return 2;
		}
		char path[1024], *ec = urlenc(argv[optind]);
		snprintf(path, sizeof path, "/api/v1/dossiers/%s/scan", ec);
		char *text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		int e = text ? http_call(c, EVHTTP_REQ_POST, path, "application/json", text,
					 strlen(text), &r)
			     : -ENOMEM;
		free(text);
		int rc = e < 0			    ? 1
			 : !wait || r.status != 202 ? finish(&r, 202)
						    : follow_document(c, ec, &r);
		free(ec);
		return rc;
	}
	if (argc >= 3 && !strcmp(argv[0], "confirm")) {
		/* the clerk looked at the document in review: it is signed next */
		static const struct option o[] = {
		    {"order", required_argument, NULL, 'o'}, {"wait", no_argument, NULL, 'w'}, {0}};
		json_t *body = json_object(), *order = NULL;
		bool wait = false;
		int ch;
		optind = 0;
		while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
			if (ch == 'w') {
				wait = true;
			} else if (ch == 'o') {
				order = json_array();
				for (char *t = strtok(optarg, ","); t; t = strtok(NULL, ","))
					json_array_append_new(order,
							      json_integer(strtol(t, NULL, 10)));
				json_object_set_new(body, "order", order);
			} else {
				json_decref(body);
				return 2;
			}
		}
		if (argc - optind != 2) {
			json_decref(body);
			fprintf(stderr, "motcua: document confirm takes CODE and ID\n");
			return 2;
		}
		char path[1024], *ec = urlenc(argv[optind]), *ei = urlenc(argv[optind + 1]);
		snprintf(path, sizeof path, "/api/v1/dossiers/%s/documents/%s/confirm", ec, ei);
		free(ei);
		char *text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		int e = text ? http_call(c, EVHTTP_REQ_POST, path, "application/json", text,
					 strlen(text), &r)
			     : -ENOMEM;
		free(text);
		int rc = e < 0			    ? 1
			 : !wait || r.status != 202 ? finish(&r, 202)
						    : follow_document(c, ec, &r);
		free(ec);
		return rc;
	}
	if (argc == 3 && !strcmp(argv[0], "show")) {
		char path[1024], *ec = urlenc(argv[1]), *ei = urlenc(argv[2]);
		snprintf(path, sizeof path, "/api/v1/dossiers/%s/documents/%s", ec, ei);
		free(ec);
		free(ei);
		return http_call(c, EVHTTP_REQ_GET, path, NULL, NULL, 0, &r) < 0 ? 1
										 : finish(&r, 200);
	}
	usage(stderr);
	return 2;
}

/* ---- the plugins' offline tools: `motcua NAME ARGS...` runs motcua-NAME ---- */

#ifndef MOTCUA_LIBEXEC_DIR
#define MOTCUA_LIBEXEC_DIR "/usr/libexec/motcua"
#endif
#ifndef MOTCUA_BUILD_ROOT
#define MOTCUA_BUILD_ROOT ""
#endif
#ifndef MOTCUA_BUILD_TOOL_DIRS
#define MOTCUA_BUILD_TOOL_DIRS ""
#endif
#ifndef MOTCUA_HAVE_TOOL_VERIFY
#define MOTCUA_HAVE_TOOL_VERIFY 0
#endif
#ifndef MOTCUA_HAVE_TOOL_ARCHIVE
#define MOTCUA_HAVE_TOOL_ARCHIVE 0
#endif
#ifndef MOTCUA_HAVE_TOOL_REPORT
#define MOTCUA_HAVE_TOOL_REPORT 0
#endif
#define SETTINGS_ENV "MOTCUA_SETTINGS"

/* The tools this project's plugins ship, to say which plugin a build lacks
 * when one is not found (see cli/meson.build). */
static const struct plugin_tool {
	const char *command;
	const char *plugin;
	bool built;
} plugin_tools[] = {
    {"verify", "sign-openssl", MOTCUA_HAVE_TOOL_VERIFY},
    {"archive", "archive-sqlite", MOTCUA_HAVE_TOOL_ARCHIVE},
    {"report", "eval-stream", MOTCUA_HAVE_TOOL_REPORT},
};

/* A command word that may name a tool: no path, no option. */
static bool tool_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64 || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '-'))
			return false;
	return true;
}

/* motcua-NAME in one of the colon-separated folders dirs (empty ones are
 * skipped): its path into path. */
static bool tool_find_in(const char *dirs, const char *name, char *path, size_t len)
{
	for (const char *p = dirs; *p;) {
		size_t n = strcspn(p, ":");
		struct stat sb;
		if (n > 0) {
			int w = snprintf(path, len, "%.*s/motcua-%s", (int)n, p, name);
			if (w > 0 && (size_t)w < len && stat(path, &sb) == 0 &&
			    S_ISREG(sb.st_mode) && access(path, X_OK) == 0)
				return true;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return false;
}

/* Whether this motcua is the one in its build tree (not an installed copy):
 * only then are the tools looked for where the build made them. */
static bool run_from_build_tree(void)
{
	char exe[PATH_MAX], root[PATH_MAX];
	if (!MOTCUA_BUILD_ROOT[0] || !realpath("/proc/self/exe", exe) ||
	    !realpath(MOTCUA_BUILD_ROOT, root))
		return false;
	size_t n = strlen(root);
	return n > 1 && !strncmp(exe, root, n) && exe[n] == '/';
}

/* $MOTCUA_EXEC_PATH, then the libexec folder, then (a build-tree motcua)
 * the build's tool folders. */
static bool tool_find(const char *name, char *path, size_t len)
{
	const char *env = getenv("MOTCUA_EXEC_PATH");
	return (env && tool_find_in(env, name, path, len)) ||
	       tool_find_in(MOTCUA_LIBEXEC_DIR, name, path, len) ||
	       (run_from_build_tree() && tool_find_in(MOTCUA_BUILD_TOOL_DIRS, name, path, len));
}

static int settings_put(json_t *root, const char *section, const char *key, const char *value)
{
	json_t *sec = json_object_get(root, section);
	if (!sec && json_object_set_new(root, section, sec = json_object()) < 0)
		return -EINVAL;
	return json_object_set_new(sec, key, json_string(value)) < 0 ? -EINVAL : 0;
}

/* What a tool gets in MOTCUA_SETTINGS: the effective configuration
 * {"section": {"key": "value"}} (the file, then the -o overrides), with the
 * gateway's data_dir, office name and agency code as the gateway would use
 * them (see plugins/common/motcua-tool.h). NULL after a message. */
static char *settings_json(struct cli *c)
{
	json_t *root = json_object();
	if (!root)
		return NULL;
	for (size_t i = 0; i < c->config->n; i++) {
		const struct config_entry *e = &c->config->entries[i];
		if (settings_put(root, e->section, e->key, e->value) < 0) {
			fprintf(stderr, "motcua: configuration: [%s] %s must be UTF-8 text\n",
				e->section, e->key);
			json_decref(root);
			return NULL;
		}
	}
	char *text = NULL;
	if (settings_put(root, "gateway", "data_dir", c->settings.data_dir) == 0 &&
	    settings_put(root, "office", "name", c->settings.office_name) == 0 &&
	    settings_put(root, "office", "agency_code", c->settings.agency_code) == 0)
		text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		fprintf(stderr, "motcua: out of memory\n");
	return text;
}

/* Runs motcua-NAME (NAME = argv[0]) with the arguments after it; its exit
 * code is ours. Returns only when there is no such tool or it cannot run. */
static int run_tool(struct cli *c, char **argv)
{
	const char *name = argv[0];
	const struct plugin_tool *known = NULL;
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof plugin_tools / sizeof plugin_tools[0]; i++)
		if (!strcmp(plugin_tools[i].command, name))
			known = &plugin_tools[i];
	if (!tool_name_valid(name) || !tool_find(name, path, sizeof path)) {
		if (known && !known->built)
			fprintf(stderr, "motcua: this build has no %s (meson -D%s=enabled)\n",
				known->plugin, known->plugin);
		else if (known)
			fprintf(stderr,
				"motcua: %s (from %s) is not installed: motcua-%s is in neither "
				"$MOTCUA_EXEC_PATH nor %s\n",
				name, known->plugin, name, MOTCUA_LIBEXEC_DIR);
		else
			usage(stderr);
		return 2;
	}
	char *settings = settings_json(c);
	if (!settings)
		return 2;
	int r = setenv(SETTINGS_ENV, settings, 1);
	free(settings);
	if (r < 0) {
		fprintf(stderr, "motcua: cannot set " SETTINGS_ENV ": %s\n", strerror(errno));
		return 2;
	}
	fflush(stdout);
	/* argv ends in NULL (main's argv) */
	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "motcua: cannot run %s: %s\n", path, strerror(errno));
	return 126;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"token", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},	      {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {0},
	};
	struct cli c = {0};
	char err[1024];
	int ch, rc = 2;
	c.config = config_new();
	c.token = getenv("MOTCUA_TOKEN");
	/* Global options stop at the first command word. */
	while ((ch = getopt_long(argc, argv, "+c:o:t:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (config_load_file(c.config, optarg, err, sizeof err) < 0) {
				fprintf(stderr, "motcua: configuration: %s\n", err);
				goto out;
			}
			break;
		case 'o':
			if (config_set_override(c.config, optarg, err, sizeof err) < 0) {
				fprintf(stderr, "motcua: %s\n", err);
				goto out;
			}
			break;
		case 't':
			c.token = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		case 'V':
			printf("motcua %s\n", MOTCUA_VERSION_STRING);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (settings_load(&c.settings, c.config, err, sizeof err) < 0) {
		fprintf(stderr, "motcua: configuration: %s\n", err);
		goto out;
	}
	c.url_host = c.settings.listen_host;
	c.url_port = c.settings.listen_port;
	if (optind >= argc) {
		usage(stderr);
		goto out;
	}
	/* Each command gets argv from its sub-command word on ("create", ...),
	 * and parses its options with getopt from there. */
	const char *cmd = argv[optind];
	int n = argc - optind - 1;
	char **sub = argv + optind + 1;
	if (!strcmp(cmd, "token"))
		rc = cmd_token(&c, n, sub);
	else if (!strcmp(cmd, "user"))
		rc = cmd_user(&c, n, sub);
	else if (!strcmp(cmd, "dossier") || !strcmp(cmd, "document") || !strcmp(cmd, "health")) {
		if (!c.token && strcmp(cmd, "health")) {
			fprintf(
			    stderr,
			    "motcua: set MOTCUA_TOKEN or pass --token (see motcua token create)\n");
			rc = 2;
		} else if (!strcmp(cmd, "health")) {
			struct http_result r;
			rc = http_call(&c, EVHTTP_REQ_GET, "/api/v1/health", NULL, NULL, 0, &r) < 0
				 ? 1
				 : finish(&r, 200);
		} else if (!strcmp(cmd, "dossier"))
			rc = cmd_dossier(&c, n, sub);
		else
			rc = cmd_document(&c, n, sub);
	} else if (!strcmp(cmd, "sync")) {
		rc = cmd_sync(&c, n, sub);
	} else {
		rc = run_tool(&c, argv + optind);
	}
out:
	settings_clear(&c.settings);
	config_free(c.config);
	return rc;
}
