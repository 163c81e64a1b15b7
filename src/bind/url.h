/* URL helpers for the HTTP binding: checks, query strings, origins, redaction of secrets. */
#ifndef AUTOLUA_URL_H
#define AUTOLUA_URL_H

#include <stddef.h>
#include <lua.h>

/* NULL when 'url' is an http(s) URL with a host, otherwise why not. */
const char *al_url_check(const char *url);

/* Pushes 'url' with the query table at 'qidx' appended (keys sorted, RFC 3986 escaping; a list
** value repeats its key). Returns 0, or -1 with a message pushed. */
int al_url_with_query(lua_State *L, const char *url, int qidx);

/* Pushes 's' percent-encoded: every byte outside RFC 3986's unreserved set. */
void al_url_push_escaped(lua_State *L, const char *s, size_t n);

/* Pushes 'url' with user info and the values of secret-looking query parameters as ***. */
void al_url_push_redacted(lua_State *L, const char *url);

/* Same scheme, host and port. */
int al_url_same_origin(const char *a, const char *b);

#endif
