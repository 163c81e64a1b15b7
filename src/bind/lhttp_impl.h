/*
** What the three files of autolua.http share (lhttp.c: the transfer, lhttp_options.c: the
** options, lhttp_response.c: the response and the error objects).
*/
#ifndef AUTOLUA_LHTTP_IMPL_H
#define AUTOLUA_LHTTP_IMPL_H

#include <lua.h>
#include "http.h"

#define FNAME "http.request"
#define DEFAULT_MAX_BODY (64LL * 1024 * 1024)   /* a body kept in memory, unless 'max_body' says */

/* Stack slots of http.request while it runs: then one slot per option, filled in one pass
** over the options table (a look-up per known option would cost more than the pass). */
enum { OPTS = 1, URL, METHOD, BODY, SINKFN, LIMITER, NSLOTS = LIMITER };
enum { O_METHOD, O_URL, O_QUERY, O_HEADERS, O_BODY, O_JSON, O_TIMEOUT, O_FOLLOW, O_SINK, O_LIMITER, O_MAX_WAIT, O_CA_FILE, O_EXPECT_BYTES, O_REUSE, O_MAX_BODY, O_REPLACE, O_STALL, NOPTS };
extern const char *const option_names[];
#define OPTSLOT(o) (NSLOTS + 1 + (o))

/* lhttp_options.c: the arguments, checked before anything is sent */
int lhttp_getopt(lua_State *L, int o);
void lhttp_read_options(lua_State *L);
const char *lhttp_opt_string(lua_State *L, int o, int required);
double lhttp_opt_seconds(lua_State *L, int o);
void lhttp_build_url(lua_State *L);
void lhttp_build_method_body(lua_State *L);
const struct curl_slist *lhttp_default_headers(al_http *h, int body, int json);
int lhttp_headers_bad(lua_State *L, const char **name);
void lhttp_check_headers(lua_State *L);
void lhttp_build_headers(lua_State *L, al_req *r, int has_body, int is_json);
void lhttp_check_limiter(lua_State *L);
double lhttp_max_wait(lua_State *L);
void lhttp_check_rest(lua_State *L);

/* lhttp_response.c: what a request returns or raises. Upvalues of http.request (and so of its
** continuations): the response metatable, then the field names. */
enum { UV_MT = 1, UV_STATUS, UV_BODY, UV_PATH, UV_URL, UV_BYTES, UV_VERSION, UV_ELAPSED, UV_REUSED, NUV = UV_REUSED };
/* Makes the response metatable (its methods table goes to lib.response_methods) and pushes the
** upvalues of http.request: the metatable, then the field names. */
void lhttp_push_upvalues(lua_State *L, int lib);
void lhttp_push_response(lua_State *L, al_req *r);
void lhttp_push_failure(lua_State *L, al_req *r);

#endif
