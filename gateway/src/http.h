/* SPDX-License-Identifier: MIT */
/* Helpers every HTTP handler uses: replies (JSON, errors, files), a bounded
 * JSON body, field and query checks. Each check that fails has answered the
 * request (an error with a reason) and returns false or NULL. */
#ifndef MOTCUA_HTTP_H
#define MOTCUA_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "motcua/plugin.h"

#define HTTP_JSON_BODY_MAX (64 * 1024)

/* body is stolen. */
void http_reply_json(struct evhttp_request *req, int code, json_t *body);
/* {"error": error, "detail": ...}. */
void http_reply_error(struct evhttp_request *req, int code, const char *error, const char *fmt, ...)
    MOTCUA_PRINTF(4, 5);
/* Sends the open file fd as the body (sendfile, no copy) and takes fd over,
 * whatever happens. etag_sha (may be NULL) becomes the ETag. */
void http_reply_file(struct evhttp_request *req, int fd, const char *media_type,
		     const char *etag_sha);
/* The request's header (case-insensitive name), or NULL. */
const char *http_header(struct evhttp_request *req, const char *name);
void http_set_header(struct evhttp_request *req, const char *name, const char *value);
/* Has the client gone away (libevent detached the request)? Such a request is
 * ended with http_reply_gone(), which frees it. */
bool http_client_gone(struct evhttp_request *req);
void http_reply_gone(struct evhttp_request *req);

/* A JSON object body (application/json or no type, at most
 * HTTP_JSON_BODY_MAX bytes, UTF-8, no duplicate keys): a new reference. */
json_t *http_json_body(struct evhttp_request *req);
/* A JSON object body, or an empty object when the body is empty. */
json_t *http_json_body_or_empty(struct evhttp_request *req);
/* Refuses members of obj not in keys (NULL-terminated); where prefixes the
 * name in the message ("applicant."). */
bool http_only_keys(struct evhttp_request *req, json_t *obj, const char *where,
		    const char *const *keys);
/* An optional or required string member: 1 to max bytes of text without
 * control characters, not only blanks. *out is borrowed from obj. */
bool http_str_field(struct evhttp_request *req, json_t *obj, const char *key, const char *label,
		    bool required, size_t max, const char **out);

/* Parses the query string into q (cleared with evhttp_clear_headers()). */
bool http_query(struct evhttp_request *req, struct evkeyvalq *q);
/* A whole number from lo to hi, from a query parameter's value. */
bool http_int_param(struct evhttp_request *req, const char *name, const char *value, long lo,
		    long hi, long *out);
/* The client's address (the peer of the connection: no proxy header is
 * believed), "?" when it is gone. */
void http_client_address(struct evhttp_request *req, char *out, size_t n);

#endif
