/*
** autolua.http's results: the response table (its headers parsed on first read) and the
** structured error object of a failed transfer.
*/
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include "lhttp_impl.h"
#include "lerror.h"
#include "url.h"

#define RESPONSE_MT "autolua.http.response"

/* A response keeps the fields most scripts never read under this key, in one block, until one
** of them is first read: its headers (their table costs about a third of the response) and the
** transfer's figures. Each field set at once costs a table insertion; this is one. */
static char rawkey;

typedef struct lazy {
  double elapsed;
  lua_Integer bytes;
  unsigned char version;         /* 0: "1.1", 1: "2", 2: "1.0" */
  unsigned char reused;
  size_t head_len;
  char head[];                   /* the raw header lines */
} lazy;

/* The lazy fields, in the order of the upvalues of response_index after its methods table. */
static const char *const lazy_names[] = {"headers", "bytes", "version", "elapsed", "reused"};
#define NLAZY (int)(sizeof lazy_names / sizeof lazy_names[0])

/* Fills the table at 't' from the raw header lines: lower-case names, values trimmed, a
** repeated header joined with ", " as HTTP allows. */
static void parse_headers(lua_State *L, int t, const char *p, size_t len) {
  const char *end = p + len;
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end;
    const char *colon = memchr(p, ':', (size_t)(line_end - p));
    if (colon && colon > p) {
      char name[256];
      size_t n = (size_t)(colon - p) < sizeof name - 1 ? (size_t)(colon - p) : sizeof name - 1;
      for (size_t i = 0; i < n; i++) name[i] = (char)tolower((unsigned char)p[i]);
      name[n] = 0;
      const char *v = colon + 1, *ve = line_end;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      lua_pushstring(L, name);
      lua_pushvalue(L, -1);
      if (lua_rawget(L, t) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_rawset(L, t);
    }
    p = eol ? eol + 1 : NULL;
  }
}

/* Pushes the value of lazy field 'i' from 'z'. */
static void push_lazy(lua_State *L, const lazy *z, int i) {
  static const char *const versions[] = {"1.1", "2", "1.0"};
  switch (i) {
  case 0: lua_createtable(L, 0, 8); parse_headers(L, lua_gettop(L), z->head, z->head_len); break;
  case 1: lua_pushinteger(L, z->bytes); break;
  case 2: lua_pushstring(L, versions[z->version]); break;
  case 3: lua_pushnumber(L, z->elapsed); break;
  default: lua_pushboolean(L, z->reused); break;
  }
}

/* Sets the lazy fields of the response at 'res' from its block, once (a field the script set
** itself stays its own). */
static void materialize(lua_State *L, int res) {
  lua_pushlightuserdata(L, &rawkey);
  if (lua_rawget(L, res) == LUA_TUSERDATA) {
    const lazy *z = lua_touserdata(L, -1);
    for (int i = 0; i < NLAZY; i++) {
      lua_pushstring(L, lazy_names[i]);
      if (lua_rawget(L, res) == LUA_TNIL) {
        lua_pushstring(L, lazy_names[i]);
        push_lazy(L, z, i);
        lua_rawset(L, res);
      }
      lua_pop(L, 1);
    }
    lua_pushlightuserdata(L, &rawkey);
    lua_pushnil(L);
    lua_rawset(L, res);
  }
  lua_pop(L, 1);
}

/* A lazy field is set on its first read; any other missing field may be a method (res:json()).
** Upvalues: the methods table, then the lazy fields' names. */
static int response_index(lua_State *L) {
  lua_settop(L, 2);
  for (int i = 0; i < NLAZY; i++) {
    if (lua_rawequal(L, 2, lua_upvalueindex(2 + i))) {
      materialize(L, 1);
      lua_rawget(L, 1);
      return 1;
    }
  }
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

/* pairs(res) shows the lazy fields too. Upvalue: the base library's next. */
static int response_pairs(lua_State *L) {
  al_checktype(L, 1, LUA_TTABLE, "pairs");
  materialize(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* Upvalues of http.request from UV_STATUS on (lhttp_impl.h): the field names, set with rawset
** (lua_setfield would look each name up and check __newindex). */
static const char *const upvalue_strings[] = {"status", "body", "path", "url"};

/* t[name] = v for the table at the top, the name pushed first (no lua_insert). */
#define KEY(L, uv) lua_pushvalue(L, lua_upvalueindex(uv))
static void field_int(lua_State *L, int uv, lua_Integer v) { KEY(L, uv); lua_pushinteger(L, v); lua_rawset(L, -3); }
static void field_copy(lua_State *L, int uv, int idx) { KEY(L, uv); lua_pushvalue(L, idx); lua_rawset(L, -3); }
static void field_lstr(lua_State *L, int uv, const char *p, size_t n) {
  KEY(L, uv);
  lua_pushlstring(L, p ? p : "", n);
  lua_rawset(L, -3);
}

/* The block of lazy fields of the answer of 'r', under rawkey of the table at the top. */
static void set_lazy(lua_State *L, const al_req *r) {
  long version = 0, connects = 0;
  double total = 0;
  curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
  curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &version);
  curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &total);
  size_t n = r->head.p ? r->head.len : 0;
  lua_pushlightuserdata(L, &rawkey);
  lazy *z = lua_newuserdatauv(L, sizeof *z + n, 0);
  z->elapsed = total;
  z->bytes = (lua_Integer)r->bytes;
  z->version = version == CURL_HTTP_VERSION_2_0 ? 1 : version == CURL_HTTP_VERSION_1_0 ? 2 : 0;
  z->reused = connects == 0;
  z->head_len = n;
  if (n) memcpy(z->head, r->head.p, n);
  lua_rawset(L, -3);
}

void lhttp_push_response(lua_State *L, const lhttp_call *c) {
  const al_req *r = c->r;
  int has_body = r->sink == AL_SINK_MEMORY || r->body.len > 0 || !(r->status >= 200 && r->status < 300);
  lua_createtable(L, 0, 3 + has_body + (r->sink == AL_SINK_FILE));   /* every field, no rehash */
  field_int(L, UV_STATUS, r->status);
  set_lazy(L, r);
  if (has_body) field_lstr(L, UV_BODY, r->body.p, r->body.len);
  if (r->sink == AL_SINK_FILE) field_lstr(L, UV_PATH, r->path, strlen(r->path));
  field_copy(L, UV_URL, URL);      /* redirects are followed here, not by curl: the last URL */
  lua_pushvalue(L, lua_upvalueindex(UV_MT));
  lua_setmetatable(L, -2);
}

typedef struct { CURLcode c; const char *kind, *code; int retryable; } errmap;

static const errmap *map_error(CURLcode c) {
  static const errmap map[] = {
    {CURLE_COULDNT_RESOLVE_HOST, "network", "dns", 1},
    {CURLE_COULDNT_RESOLVE_PROXY, "network", "dns", 1},
    {CURLE_COULDNT_CONNECT, "network", "refused", 1},
    {CURLE_OPERATION_TIMEDOUT, "timeout", "timeout", 1},
    {CURLE_SEND_ERROR, "network", "reset", 1},
    {CURLE_RECV_ERROR, "network", "reset", 1},
    {CURLE_GOT_NOTHING, "network", "reset", 1},
    {CURLE_PARTIAL_FILE, "network", "truncated", 1},
    {CURLE_HTTP2, "network", "reset", 1},
    {CURLE_HTTP2_STREAM, "network", "reset", 1},
    {CURLE_SSL_CONNECT_ERROR, "network", "tls", 0},
    {CURLE_PEER_FAILED_VERIFICATION, "network", "tls", 0},
    {CURLE_SSL_CACERT_BADFILE, "network", "tls", 0},
    {CURLE_SSL_CERTPROBLEM, "network", "tls", 0},
    {CURLE_BAD_CONTENT_ENCODING, "decode", "encoding", 0},
    {CURLE_WRITE_ERROR, "http", "io", 0},
    {CURLE_TOO_MANY_REDIRECTS, "http", "redirects", 0},
    /* the URL was checked before sending: these come from the server's answer */
    {CURLE_UNSUPPORTED_PROTOCOL, "http", "malformed", 0},   /* HTTP/0.9, a status it cannot read */
    {CURLE_WEIRD_SERVER_REPLY, "http", "malformed", 0},
    {CURLE_URL_MALFORMAT, "http", "location", 0},             /* a redirect's Location */
    {CURLE_OK, "network", "curl", 0}};
  const errmap *m = map;
  while (m->c != CURLE_OK && m->c != c) m++;
  return m;
}

/* The codes that need more than the CURLcode to name their cause. */
static const errmap *refine(const lhttp_call *c, const errmap *m) {
  const al_req *r = c->r;
  static const errmap stalled = {CURLE_OPERATION_TIMEDOUT, "timeout", "stalled", 1},
    redirect_scheme = {CURLE_UNSUPPORTED_PROTOCOL, "http", "scheme", 0},
    own_scheme = {CURLE_UNSUPPORTED_PROTOCOL, "argument", "scheme", 0},
    own_url = {CURLE_URL_MALFORMAT, "argument", "url", 0},
    header_too_large = {CURLE_OUT_OF_MEMORY, "http", "header_too_large", 0},
    descriptors = {CURLE_COULDNT_CONNECT, "network", "descriptors", 0};
  switch (r->result) {
  case CURLE_OPERATION_TIMEDOUT:
    return strstr(r->errbuf, "(stalled)") ? &stalled : m;   /* http.c's watchdog */
  case CURLE_UNSUPPORTED_PROTOCOL:   /* a scheme libcurl refuses: the caller's URL, or a Location */
    if (strncmp(r->errbuf, "Protocol ", 9) != 0) return m;
    return c->redirects > 0 ? &redirect_scheme : &own_scheme;
  case CURLE_URL_MALFORMAT:
    return c->redirects > 0 ? m : &own_url;
  case CURLE_OUT_OF_MEMORY:   /* libcurl's answer to a header line over its 100 KiB limit */
    return r->status != 0 || strstr(r->errbuf, "header") ? &header_too_large : m;
  case CURLE_COULDNT_CONNECT:   /* http.c's socket function keeps socket()'s errno */
    return r->sys_errno == EMFILE || r->sys_errno == ENFILE ? &descriptors : m;
  default:
    return m;
  }
}

/* Pushes the error object for a failed transfer. */
void lhttp_push_failure(lua_State *L, const lhttp_call *c) {
  const al_req *r = c->r;
  const errmap *m = refine(c, map_error(r->result));
  if (r->over) {
    static const errmap over_error = {CURLE_OK, "http", "too_large", 0};
    if (r->over == 1)
      al_error_push(L, "http", "the body is longer than the %I bytes expected; the transfer was stopped and nothing was kept",
                    (lua_Integer)r->expect);
    else
      al_error_push(L, "http", "the body is larger than 'max_body' (%I bytes); the transfer was stopped",
                    (lua_Integer)r->max_body);
    m = &over_error;
  } else if (r->size_mismatch) {
    static const errmap size_error = {CURLE_OK, "http", "size", 1};
    al_error_push(L, "http", "the body has %I bytes, not the %I expected; nothing was kept",
                  (lua_Integer)r->bytes, (lua_Integer)r->expect);
    m = &size_error;
  } else if (r->result == CURLE_WRITE_ERROR && r->sys_errno)
    al_error_push(L, m->kind, "writing %s: %s", r->path ? r->path : "the response", strerror(r->sys_errno));
  else if (r->result == CURLE_PARTIAL_FILE)
    al_error_push(L, m->kind, "connection closed before the body was complete (%s)", r->errbuf);
  else if (strcmp(m->code, "header_too_large") == 0)
    al_error_push(L, m->kind, "the answer has a header line over libcurl's limit (100 KiB)");
  else if (strcmp(m->code, "descriptors") == 0)
    al_error_push(L, m->kind, "out of file descriptors (%s): lower the concurrency or raise 'ulimit -n'", strerror(EMFILE));
  else
    al_error_push(L, m->kind, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
  al_error_setstr(L, "code", m->code);
  al_error_setbool(L, "retryable", m->retryable);
  al_error_setint(L, "attempts", 1);
  al_error_setstr(L, "method", c->method);
  al_url_push_redacted(L, c->url);
  lua_setfield(L, -2, "url");
}

void lhttp_push_upvalues(lua_State *L, int lib) {
  luaL_newmetatable(L, RESPONSE_MT);
  lua_newtable(L);                          /* the methods: lua/autolua/http.lua adds them */
  lua_pushvalue(L, -1);
  lua_setfield(L, lib, "response_methods");
  for (int i = 0; i < NLAZY; i++) lua_pushstring(L, lazy_names[i]);
  lua_pushcclosure(L, response_index, 1 + NLAZY);
  lua_setfield(L, -2, "__index");
  lua_getglobal(L, "next");
  lua_pushcclosure(L, response_pairs, 1);
  lua_setfield(L, -2, "__pairs");
  for (int i = 0; i < NUV - 1; i++) lua_pushstring(L, upvalue_strings[i]);
}
