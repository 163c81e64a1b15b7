/*
** What the three files of autolua.http share (lhttp.c: the transfer, lhttp_options.c: the
** options, lhttp_response.c: the response and the error objects): the request's own record.
*/
#ifndef AUTOLUA_LHTTP_IMPL_H
#define AUTOLUA_LHTTP_IMPL_H

#include <lua.h>
#include "http.h"

#define FNAME "http.request"
#define DEFAULT_MAX_BODY (64LL * 1024 * 1024)   /* a body kept in memory, unless 'max_body' says */

/* Stack slots of http.request while it runs (its continuations share the frame). The request's
** state is its lhttp_call, in slot CALL; the other slots only keep alive the Lua values the
** record points into or calls (a script may change its options table while the request
** waits), and they go with the frame on every way out. */
enum { OPTS = 1, CALL, URL, ORIGIN, BODY, SINK, LIMITER, HEADERS, CA, QUERY, JSON, NSLOTS = JSON };

/* The options, in the order their errors are raised when several are wrong. */
enum { O_URL, O_QUERY, O_METHOD, O_BODY, O_JSON, O_LIMITER, O_MAX_WAIT, O_FOLLOW, O_TIMEOUT, O_STALL,
       O_SINK, O_EXPECT_BYTES, O_REPLACE, O_MAX_BODY, O_HEADERS, O_CA_FILE, O_REUSE, NOPTS };
#define OBIT(o) (1u << (o))

/* One http.request: its options, parsed once, and what the redirects it followed changed. */
typedef struct lhttp_call {
  al_req *r;                /* the transfer, from launch until it is freed */
  unsigned given;           /* OBIT per option present */
  unsigned bad;             /* OBIT per option whose value is unusable (raised in option order) */
  char method[16];          /* upper case */
  const char *url;          /* slot URL: what is fetched now (the query added; a redirect's target) */
  const char *origin;       /* slot ORIGIN: 'url' as given, the origin redirects are compared with */
  const char *body;         /* slot BODY: 'body', or 'json' encoded; NULL: none */
  size_t body_len;
  const char *sink_path;    /* slot SINK: a file sink (a sink function is there too) */
  const char *ca_file;      /* slot CA; NULL: the default store */
  al_sink sink;
  double timeout, stall, max_wait;   /* -1: not given */
  curl_off_t expect, max_body;       /* -1: none ('max_body' = false, or not given) */
  int follow, fresh, keep_existing, is_json;
  /* the redirects followed: how many; whether one left the first origin (only harmless
  ** headers go on); whether one turned the request into a GET without its body */
  int redirects, cross_origin, body_dropped;
} lhttp_call;

/* lhttp_options.c: the arguments, all checked before anything is sent */
/* Fills 'c' from the options table in slot OPTS in one pass, then raises the first error, in
** option order, as an argument error (nothing is held yet, so it leaves nothing behind). */
void lhttp_parse_options(lua_State *L, lhttp_call *c);
/* Whether the headers table (slot HEADERS, if any) is unusable now: a redirect reads it again,
** and the script may have changed it meanwhile. A bad name goes to *name. Raises nothing. */
int lhttp_headers_bad(lua_State *L, const char **name);
/* Raises the argument error of the 'headers' option when it is unusable. */
void lhttp_recheck_headers(lua_State *L);
const struct curl_slist *lhttp_default_headers(al_http *h, int body, int json);
void lhttp_build_headers(lua_State *L, const lhttp_call *c, int has_body);

/* lhttp_response.c: what a request returns or raises. Upvalues of http.request (and so of its
** continuations): the response metatable, the names of the fields set at once. */
enum { UV_MT = 1, UV_STATUS, UV_BODY, UV_PATH, UV_URL, NUV = UV_URL };
/* Makes the response metatable (its methods table goes to lib.response_methods) and pushes the
** upvalues of http.request. */
void lhttp_push_upvalues(lua_State *L, int lib);
void lhttp_push_response(lua_State *L, const lhttp_call *c);
void lhttp_push_failure(lua_State *L, const lhttp_call *c);

#endif
