/*
** autolua.http: http.request{...} -> res. Arguments are checked before anything is sent; the
** running task parks on its limiter (if any) and on the transfer; every failure raises a
** structured error. lua/autolua/http.lua adds res:json().
*/
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include "modules.h"
#include "lhttp_impl.h"
#include "lerror.h"
#include "llimiter.h"
#include "sched.h"
#include "url.h"

#define MAX_REDIRECTS 10

/* {====================================================== setting up the transfer */

/* A long option, set only when it differs from what the (pooled) handle has already. */
static void setlong(al_req *r, CURLoption opt, long *cache, long v) {
  if (*cache == v) return;
  curl_easy_setopt(r->easy, opt, v);
  *cache = v;
}

/* A pooled handle still carries the last request's method options: a plain GET after a plain
** GET needs none, anything else starts from a plain GET again. */
static void set_method(al_req *r, const char *method, const char *body, size_t len) {
  CURL *e = r->easy;
  int plain = body == NULL && strcmp(method, "GET") == 0;
  if (plain && r->o_plain) return;               /* the handle is a plain GET already */
  r->o_plain = plain;
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);       /* back to a plain GET, no body, no NOBODY */
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL);
  if (strcmp(method, "HEAD") == 0) { curl_easy_setopt(e, CURLOPT_NOBODY, 1L); return; }
  if (body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  else if (strcmp(method, "GET") == 0 && body)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
}

static void notify(al_req *r, al_req_event ev);

/* Configures the transfer from the record, checked already: from here on only a memory error
** can raise, and a request it strands stays on the core's list until exit. */
static void configure(lua_State *L, lhttp_call *c) {
  al_req *r = c->r;
  /* first: going back to the default CA store resets the handle's options */
  if (al_req_set_ca(r, c->ca_file) != 0) al_error_raise(L, "network", "out of memory");
  const char *body = c->body_dropped ? NULL : c->body;
  size_t blen = body ? c->body_len : 0;
  lhttp_build_headers(L, c, body != NULL);
  const struct curl_slist *list = r->headers ? r->headers : lhttp_default_headers(r->h, body != NULL, c->is_json);
  if (list != r->o_headers) {
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, list);
    r->o_headers = list;
  }
  al_req_set_url(r, c->url);
  set_method(r, c->method, body, blen);
  double timeout = c->timeout > 1e9 ? 1e9 : c->timeout;   /* a long holds it in ms; past that is "never" anyway */
  setlong(r, CURLOPT_TIMEOUT_MS, &r->o_timeout, timeout > 0 ? (long)(timeout * 1000) : 0L);
  /* a request without a timeout still ends when the server stops sending (AL_STALL_DEFAULT
  ** seconds without a byte); one with a timeout may wait in silence up to it (a long poll) */
  double stall = c->stall > 1e9 ? 1e9 : c->stall;
  r->stall = stall > 0 ? (long)ceil(stall) : timeout > 0 ? 0L : AL_STALL_DEFAULT;
  /* On a reused connection that dies before any answer libcurl sends the request again by
  ** itself; a call that must not be repeated (a POST that may have acted) asks for a
  ** connection of its own instead, closed once the call is done: the next such call opens
  ** its own again anyway, so a run of them would leave an idle connection each, up to the cap. */
  if (r->o_fresh != (long)c->fresh) {
    curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, (long)c->fresh);
    curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, (long)c->fresh);
    r->o_fresh = c->fresh;
  }
  /* a body streamed to a sink is read in large pieces (as the curl tool does): fewer reads,
  ** callbacks and writes; small answers kept in memory keep the small default buffer */
  setlong(r, CURLOPT_BUFFERSIZE, &r->o_bufsize, c->sink == AL_SINK_MEMORY ? (long)CURL_MAX_WRITE_SIZE : 128L * 1024);
  r->notify = notify;
}

/* }====================================================== */

/* {====================================================== the transfer */

static int transferk(lua_State *L, int status, lua_KContext ctx);

static void notify(al_req *r, al_req_event ev) {
  (void)ev;
  /* only a task parked on this very transfer: inside its sink function it may wait elsewhere */
  al_task_wake_park(r->ud, r->ud_token, 0);
}

static void cancel_transfer(al_task *t) {
  lhttp_call *c = (lhttp_call *)t->kctx;
  al_req_free(c->r);
  c->r = NULL;
}

/* Parks the request's task until the transfer has news (notify). */
static int park_transfer(lua_State *L, lhttp_call *c) {
  c->r->ud_token = al_task_park_token(c->r->ud);
  return al_task_park(L, c->r->ud, cancel_transfer, (lua_KContext)c, transferk);
}

/* Frees the transfer and raises the error object on the stack. */
static int fail(lua_State *L, lhttp_call *c) {
  al_req_free(c->r);
  c->r = NULL;
  return lua_error(L);
}

/* Raises the error for a 'sink' file that cannot be created: a missing or unusable directory
** is the caller's mistake; a name too long (a server's id made it) or no descriptor left is not. */
static int sink_error(lua_State *L, const char *path, int e) {
  const char *kind = e == ENAMETOOLONG ? "http" : e == EMFILE || e == ENFILE ? "network" : NULL;
  if (!kind)
    return al_argerror(L, FNAME, "cannot write 'sink' %s: %s", path,
                       e == ENOENT ? "its directory does not exist" : strerror(e));
  al_error_push(L, kind, "cannot write 'sink' %s: %s", path, strerror(e));
  al_error_setstr(L, "code", e == ENAMETOOLONG ? "name_too_long" : "descriptors");
  return lua_error(L);
}

static int start(lua_State *L, lhttp_call *c) {
  if (c->sink == AL_SINK_FILE && al_req_sink_file(c->r, c->sink_path) != 0) {
    int e = errno;
    al_req_free(c->r);
    c->r = NULL;
    return sink_error(L, c->sink_path, e);
  }
  al_req_start(c->r);
  return park_transfer(L, c);
}

static int is_redirect(long s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

/* Follows a redirect as a new transfer: 303 (and 301/302 after a POST) become a GET without a
** body; once the target leaves the first origin, only harmless headers go on, so credentials
** (Authorization, X-DexiIO-*, cookies) never reach another host. */
static int redirect(lua_State *L, lhttp_call *c) {
  al_req *r = c->r;
  char *loc = NULL;
  curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &loc);
  if (!loc) return 0;
  if (++c->redirects > MAX_REDIRECTS) {
    r->result = CURLE_TOO_MANY_REDIRECTS;
    al_url_push_redacted(L, loc);          /* the last target, where it would have gone next */
    snprintf(r->errbuf, sizeof r->errbuf, "more than %d redirects; the last one pointed to %s",
             MAX_REDIRECTS, lua_tostring(L, -1));
    lua_pop(L, 1);
    lhttp_push_failure(L, c);
    return fail(L, c);
  }
  long st = r->status;
  if (st == 303 || ((st == 301 || st == 302) && strcmp(c->method, "POST") == 0)) {
    if (strcmp(c->method, "HEAD") != 0) memcpy(c->method, "GET", 4);
    c->body_dropped = 1;
  }
  const char *name;
  if (lhttp_headers_bad(L, &name)) {     /* changed since the first request was checked */
    al_req_free(r);
    c->r = NULL;
    lhttp_recheck_headers(L);
  }
  lua_pushstring(L, loc);
  c->url = lua_tostring(L, -1);
  lua_replace(L, URL);
  if (!al_url_same_origin(c->origin, loc)) c->cross_origin = 1;
  al_req_rearm(r);
  configure(L, c);
  return start(L, c);
}

static int sinkdone(lua_State *L, int status, lua_KContext ctx);

static int transferk(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lhttp_call *c = (lhttp_call *)ctx;
  al_req *r = c->r;
  if (r->sink == AL_SINK_STREAM && r->body.len > 0 && r->status >= 200 && r->status < 300) {
    lua_pushvalue(L, SINK);
    lua_pushlstring(L, r->body.p, r->body.len);
    al_buf_reset(&r->body);
    return sinkdone(L, lua_pcallk(L, 1, 0, 0, ctx, sinkdone), ctx);
  }
  if (!r->done) return park_transfer(L, c);
  if (r->result != CURLE_OK || r->size_mismatch) {
    lhttp_push_failure(L, c);
    return fail(L, c);
  }
  if (c->follow && is_redirect(r->status)) {
    int n = redirect(L, c);
    if (n != 0) return n;     /* 0: a 3xx without Location is an answer like any other */
  }
  lhttp_push_response(L, c);
  al_req_free(r);
  c->r = NULL;
  return 1;
}

/* After the sink function ran (or failed): an error stops the transfer and propagates. */
static int sinkdone(lua_State *L, int status, lua_KContext ctx) {
  lhttp_call *c = (lhttp_call *)ctx;
  if (status != LUA_OK && status != LUA_YIELD) return fail(L, c);
  al_req_resume(c->r);
  return transferk(L, LUA_OK, ctx);
}

/* Everything checked and the limiter passed: the transfer is set up and started. */
static int launch(lua_State *L, lhttp_call *c) {
  al_req *r = c->r = al_req_new(al_sched_http(L));
  if (!r) return al_error_raise(L, "network", "cannot create a curl handle");
  r->ud = al_task_current(L, FNAME);
  if (c->sink == AL_SINK_STREAM) r->sink = AL_SINK_STREAM;
  r->expect = c->expect;
  /* not given: a cap only on a body kept in memory; a file or function sink has none */
  if (c->given & OBIT(O_MAX_BODY)) r->max_body = c->max_body;
  else if (c->sink == AL_SINK_MEMORY) r->max_body = DEFAULT_MAX_BODY;
  r->keep_existing = c->keep_existing;
  configure(L, c);
  return start(L, c);
}

static int sharedk(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  return launch(L, (lhttp_call *)ctx);
}

/* limiter:acquire(1, {max_wait =}) of a shared limiter (a Lua object), then the transfer. */
static int acquire_shared(lua_State *L, lhttp_call *c) {
  lua_getfield(L, LIMITER, "acquire");
  lua_pushvalue(L, LIMITER);
  lua_pushinteger(L, 1);
  if (c->max_wait >= 0) {
    lua_createtable(L, 0, 1);
    lua_pushnumber(L, c->max_wait);
    lua_setfield(L, -2, "max_wait");
  } else {
    lua_pushnil(L);
  }
  lua_callk(L, 3, 0, (lua_KContext)c, sharedk);
  return sharedk(L, LUA_OK, (lua_KContext)c);
}

static int limitedk(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  al_limiter_admitted(L, al_limiter_check(L, LIMITER, FNAME));
  return launch(L, (lhttp_call *)ctx);
}

/* }====================================================== */

/* http.request{method =, url =, query =, headers =, body = | json =, timeout =, follow =,
** sink = path | function(chunk), limiter =, max_wait =, ca_file =, expect_bytes =, reuse =,
** max_body =, replace =} -> res */
static int l_request(lua_State *L) {
  if (!lua_istable(L, 1))
    return al_argerror(L, FNAME, "expects a table of options, got %s", luaL_typename(L, 1));
  lua_settop(L, NSLOTS);
  lhttp_call *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  lua_replace(L, CALL);
  lhttp_parse_options(L, c);
  /* libcurl is loaded and started now, not after the limiter: a request charged at one time
  ** and sent tens of milliseconds later would crowd the next second of a strict server */
  al_sched_http(L);
  if (c->given & OBIT(O_LIMITER) && lua_istable(L, LIMITER)) return acquire_shared(L, c);
  if (c->given & OBIT(O_LIMITER) &&
      !al_limiter_acquire(L, al_limiter_check(L, LIMITER, FNAME), 1, c->max_wait, (lua_KContext)c, limitedk))
    return 0;   /* not reached: the acquisition parked */
  return launch(L, c);
}

/* http.configure{max_connections = n, connect_timeout = s} -> the settings in force: sets what
** is given (0 restores a default). */
static int configure_one(lua_State *L, al_http *h, const char *f) {
  const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
  if (k && strcmp(k, "max_connections") == 0) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > 1L << 24)
      return al_argerror(L, f, "'max_connections' must be a whole number >= 0 (0: the default)");
    al_http_set_max_connections(h, (long)lua_tointeger(L, -1));
  } else if (k && strcmp(k, "connect_timeout") == 0) {
    double s = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
    if (!(s >= 0 && s <= 86400))
      return al_argerror(L, f, "'connect_timeout' must be a number of seconds >= 0 (0: the default)");
    al_http_set_connect_timeout(h, s);
  } else {
    return al_argerror(L, f, "unknown setting '%s'", k ? k : luaL_typename(L, -2));
  }
  return 0;
}

static int l_configure(lua_State *L) {
  const char *f = "http.configure";
  if (!lua_isnoneornil(L, 1) && !lua_istable(L, 1))
    return al_argerror(L, f, "expects a table of settings, got %s", luaL_typename(L, 1));
  al_http *h = al_sched_http(L);
  if (lua_istable(L, 1)) {
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      configure_one(L, h, f);
      lua_pop(L, 1);
    }
  }
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, h->max_connections);
  lua_setfield(L, -2, "max_connections");
  lua_pushnumber(L, h->connect_timeout);
  lua_setfield(L, -2, "connect_timeout");
  return 1;
}

static int l_escape(lua_State *L) {
  size_t n;
  const char *s = al_checklstring(L, 1, &n, "http.escape");
  al_url_push_escaped(L, s, n);
  return 1;
}

static int l_redact(lua_State *L) {
  al_url_push_redacted(L, al_checklstring(L, 1, NULL, "http.redact"));
  return 1;
}

int luaopen_autolua_http_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"escape", l_escape}, {"redact", l_redact}, {"configure", l_configure}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lhttp_push_upvalues(L, lua_gettop(L));
  lua_pushcclosure(L, l_request, NUV);
  lua_setfield(L, -2, "request");
  return 1;
}
