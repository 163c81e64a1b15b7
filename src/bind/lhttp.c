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
#include "http.h"
#include "lerror.h"
#include "llimiter.h"
#include "sched.h"
#include "url.h"

#define RESPONSE_MT "autolua.http.response"
#define FNAME "http.request"
#define MAX_REDIRECTS 10
#define DEFAULT_MAX_BODY (64LL * 1024 * 1024)   /* a body kept in memory, unless 'max_body' says */

/* Stack slots of http.request while it runs: then one slot per option, filled in one pass
** over the options table (a look-up per known option would cost more than the pass). */
enum { OPTS = 1, URL, METHOD, BODY, SINKFN, LIMITER, NSLOTS = LIMITER };
enum { O_METHOD, O_URL, O_QUERY, O_HEADERS, O_BODY, O_JSON, O_TIMEOUT, O_FOLLOW, O_SINK, O_LIMITER, O_MAX_WAIT, O_CA_FILE, O_EXPECT_BYTES, O_REUSE, O_MAX_BODY, O_REPLACE, O_STALL, NOPTS };
static const char *const option_names[] = {"method", "url", "query", "headers", "body", "json", "timeout", "follow", "sink", "limiter", "max_wait", "ca_file", "expect_bytes", "reuse", "max_body", "replace", "stall", NULL};
#define OPTSLOT(o) (NSLOTS + 1 + (o))

/* Pushes option 'o' and returns its type. */
static int getopt(lua_State *L, int o) {
  lua_pushvalue(L, OPTSLOT(o));
  return lua_type(L, -1);
}

/* Moves every option into its slot; an unknown name is an argument error (a typo would
** otherwise be ignored silently). */
static void read_options(lua_State *L) {
  lua_settop(L, NSLOTS + NOPTS);
  lua_pushnil(L);
  while (lua_next(L, OPTS)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    int o = 0;
    while (k && option_names[o] && strcmp(option_names[o], k) != 0) o++;
    if (!k || !option_names[o])
      al_argerror(L, "http.request", "unknown option '%s'", k ? k : luaL_typename(L, -2));
    lua_replace(L, OPTSLOT(o));
  }
}

/* {====================================================== arguments */

static const char *opt_string(lua_State *L, int o, int required) {
  const char *field = option_names[o];
  int t = getopt(L, o);
  if (t == LUA_TNIL && !required) { lua_pop(L, 1); return NULL; }
  if (t != LUA_TSTRING)
    al_argerror(L, FNAME, "'%s' must be a string, got %s", field, luaL_typename(L, -1));
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  if (strlen(s) != len) al_argerror(L, FNAME, "'%s' has a NUL byte, which would cut it short", field);
  lua_pop(L, 1);          /* still referenced by the options table */
  return s;
}

static double opt_seconds(lua_State *L, int o) {
  const char *field = option_names[o];
  int t = getopt(L, o);
  double v = -1;
  if (t == LUA_TNUMBER) v = lua_tonumber(L, -1);
  if ((t != LUA_TNIL && t != LUA_TNUMBER) || (t == LUA_TNUMBER && !(v > 0)))
    al_argerror(L, FNAME, "'%s' must be a positive number of seconds, got %s", field,
                t == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static int has_crlf(const char *s) { return strpbrk(s, "\r\n") != NULL; }

/* Builds the URL from 'url' and the 'query' table into slot URL. */
static void build_url(lua_State *L) {
  const char *url = opt_string(L, O_URL, 1);
  const char *err = al_url_check(url);
  if (err) al_argerror(L, FNAME, "%s: %s", err, url);
  getopt(L, O_QUERY);
  if (!lua_isnil(L, -1) && !lua_istable(L, -1))
    al_argerror(L, FNAME, "'query' must be a table, got %s", luaL_typename(L, -1));
  if (lua_isnil(L, -1)) lua_pushstring(L, url);
  else if (al_url_with_query(L, url, lua_gettop(L)) != 0)
    al_argerror(L, FNAME, "%s", lua_tostring(L, -1));
  lua_replace(L, URL);
  lua_pop(L, 1);
}

/* Method into slot METHOD (upper case), body into slot BODY (string or nil). */
static void build_method_body(lua_State *L) {
  const char *m = opt_string(L, O_METHOD, 0);
  char up[16];
  size_t n = m ? strlen(m) : 0;
  if (m && (n == 0 || n >= sizeof up)) al_argerror(L, FNAME, "'method' is not an HTTP method: %s", m);
  for (size_t i = 0; i < n; i++) {
    if (!isalpha((unsigned char)m[i])) al_argerror(L, FNAME, "'method' is not an HTTP method: %s", m);
    up[i] = (char)toupper((unsigned char)m[i]);
  }
  up[n] = 0;
  lua_pushstring(L, m ? up : "GET");
  lua_replace(L, METHOD);
  int tb = getopt(L, O_BODY);
  int tj = getopt(L, O_JSON);
  if (tb != LUA_TNIL && tj != LUA_TNIL) al_argerror(L, FNAME, "give 'body' or 'json', not both");
  if (tb != LUA_TNIL && tb != LUA_TSTRING)
    al_argerror(L, FNAME, "'body' must be a string, got %s", luaL_typename(L, -2));
  if (tj != LUA_TNIL) {
    lua_getfield(L, LUA_REGISTRYINDEX, "autolua.json.encode");
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_getglobal(L, "require");
      lua_pushliteral(L, "autolua.json");
      lua_call(L, 1, 1);
      lua_getfield(L, -1, "encode");
      lua_remove(L, -2);
      lua_pushvalue(L, -1);
      lua_setfield(L, LUA_REGISTRYINDEX, "autolua.json.encode");
    }
    lua_pushvalue(L, -2);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      if (lua_istable(L, -1)) lua_getfield(L, -1, "message");   /* json.encode's error object */
      al_argerror(L, FNAME, "'json' cannot be encoded: %s", lua_tostring(L, -1));
    }
    lua_replace(L, BODY);
    lua_pop(L, 2);
  } else {
    lua_pop(L, 1);
    lua_replace(L, BODY);
  }
}

/* Headers the caller gave, checked; after a cross-origin redirect only the harmless ones. */
static int safe_header(const char *name) {
  static const char *const safe[] = {"accept", "accept-encoding", "accept-language", "user-agent", NULL};
  for (int i = 0; safe[i]; i++) if (strcasecmp(name, safe[i]) == 0) return 1;
  return 0;
}


/* Lines every request carries unless its own headers name them. gzip alone, as Go's HTTP
** client asks: what APIs compress with, and every byte of a request head costs libcurl (7.88)
** about a hundred instructions a request. */
#define UA_LINE "User-Agent: autolua/" AUTOLUA_VERSION
#define AE_LINE "Accept-Encoding: gzip"
#define EXPECT_LINE "Expect:"
#define JSON_LINE "Content-Type: application/json"

/* The lists for a request without headers of its own: shared, built once per HTTP core (which
** frees them). "Expect:" (no 100-continue round trip before a large body) only where there is
** a body: libcurl reads the whole list several times for every request. */
static const struct curl_slist *default_headers(al_http *h, int body, int json) {
  struct curl_slist **lists = h->shared_headers;
  static const char *const lines[] = {UA_LINE, AE_LINE, EXPECT_LINE, JSON_LINE};
  int which = !body ? 0 : !json ? 1 : 2;
  if (!lists[which])
    for (int i = 0; i < 2 + which; i++) lists[which] = curl_slist_append(lists[which], lines[i]);
  return lists[which];
}

static struct curl_slist *add_line(lua_State *L, struct curl_slist *list, const char *line) {
  struct curl_slist *l = curl_slist_append(list, line);
  if (!l) al_error_raise(L, "network", "out of memory");   /* 'list' stays with its request */
  return l;
}

static struct curl_slist *add_header(lua_State *L, struct curl_slist *list, const char *name, const char *value) {
  lua_pushfstring(L, "%s: %s", name, value);
  list = add_line(L, list, lua_tostring(L, -1));
  lua_pop(L, 1);
  return list;
}

/* Whether the 'headers' option is unusable: not a table, or an entry that is not a name and a
** string (or number) without line breaks; a bad name goes to *name. Raises nothing. */
static int headers_bad(lua_State *L, const char **name) {
  *name = NULL;
  int t = getopt(L, O_HEADERS), bad = t != LUA_TNIL && t != LUA_TTABLE;
  if (t == LUA_TTABLE) {
    lua_pushnil(L);
    while (!bad && lua_next(L, -2)) {
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1)) {
        bad = 1;
      } else {
        size_t kn, vn;
        const char *k = lua_tolstring(L, -2, &kn), *v = lua_tolstring(L, -1, &vn);
        if (has_crlf(k) || has_crlf(v) || strchr(k, ':') || strlen(k) != kn || strlen(v) != vn) { bad = 1; *name = k; }
      }
      lua_pop(L, bad ? 2 : 1);    /* an early stop leaves the key too */
    }
  }
  lua_pop(L, 1);
  return bad;
}

static void check_headers(lua_State *L) {
  const char *name;
  if (!headers_bad(L, &name)) return;
  if (name) al_argerror(L, FNAME, "header '%s' has a line break, a colon or a NUL byte", name);
  if (!lua_istable(L, OPTSLOT(O_HEADERS))) al_argerror(L, FNAME, "'headers' must be a table");
  al_argerror(L, FNAME, "'headers' must map names to strings");
}

/* The request's own header list (checked already) into r->headers, or NULL when the defaults
** will do. After a redirect to another origin only the harmless headers go on. */
static void build_headers(lua_State *L, al_req *r, int has_body, int is_json) {
  int ct = 0, ua = 0, ae = 0;
  if (r->headers) { curl_slist_free_all(r->headers); r->headers = NULL; }
  if (getopt(L, O_HEADERS) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      const char *name = lua_tostring(L, -2), *value = lua_tostring(L, -1);
      if (!r->cross_origin || safe_header(name)) {
        int is_ct = strcasecmp(name, "content-type") == 0;
        ct |= is_ct;
        ua |= strcasecmp(name, "user-agent") == 0;
        ae |= strcasecmp(name, "accept-encoding") == 0;
        if (!(r->body_dropped && is_ct))
          r->headers = add_header(L, r->headers, name, value);
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  if (!r->headers) return;
  if (is_json && !ct && has_body) r->headers = add_line(L, r->headers, JSON_LINE);
  if (!ua) r->headers = add_line(L, r->headers, UA_LINE);
  if (!ae) r->headers = add_line(L, r->headers, AE_LINE);
  if (has_body) r->headers = add_line(L, r->headers, EXPECT_LINE);
}

/* }====================================================== */

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
static int transferk(lua_State *L, int status, lua_KContext ctx);

/* Configures 'r' from the options and slots, all checked already: from here on only a memory
** error can raise, and a request it strands stays on the core's list until exit. */
static void configure(lua_State *L, al_req *r) {
  /* first: going back to the default CA store resets the handle's options */
  if (al_req_set_ca(r, opt_string(L, O_CA_FILE, 0)) != 0) al_error_raise(L, "network", "out of memory");
  const char *method = lua_tostring(L, METHOD);
  size_t blen = 0;
  const char *body = r->body_dropped ? NULL : lua_tolstring(L, BODY, &blen);
  int is_json = getopt(L, O_JSON) != LUA_TNIL;
  lua_pop(L, 1);
  build_headers(L, r, body != NULL, is_json);
  const struct curl_slist *list = r->headers ? r->headers : default_headers(r->h, body != NULL, is_json);
  if (list != r->o_headers) {
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, list);
    r->o_headers = list;
  }
  curl_easy_setopt(r->easy, CURLOPT_URL, lua_tostring(L, URL));
  set_method(r, method, body, blen);
  double timeout = opt_seconds(L, O_TIMEOUT);
  if (timeout > 1e9) timeout = 1e9;      /* a long holds it in ms; past that is "never" anyway */
  setlong(r, CURLOPT_TIMEOUT_MS, &r->o_timeout, timeout > 0 ? (long)(timeout * 1000) : 0L);
  /* a request without a timeout still ends when the server stops sending (AL_STALL_DEFAULT
  ** seconds without a byte); one with a timeout may wait in silence up to it (a long poll) */
  double stall = opt_seconds(L, O_STALL);
  if (stall > 1e9) stall = 1e9;
  r->stall = stall > 0 ? (long)ceil(stall) : timeout > 0 ? 0L : AL_STALL_DEFAULT;
  /* On a reused connection that dies before any answer libcurl sends the request again by
  ** itself; a call that must not be repeated (a POST that may have acted) asks for a
  ** connection of its own instead. */
  int fresh = getopt(L, O_REUSE) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  setlong(r, CURLOPT_FRESH_CONNECT, &r->o_fresh, (long)fresh);
  lua_pop(L, 1);
  /* a body streamed to a sink is read in large pieces (as the curl tool does): fewer reads,
  ** callbacks and writes; small answers kept in memory keep the small default buffer */
  setlong(r, CURLOPT_BUFFERSIZE, &r->o_bufsize, lua_isnil(L, SINKFN) ? (long)CURL_MAX_WRITE_SIZE : 128L * 1024);
  r->notify = notify;
}

/* }====================================================== */

/* {====================================================== results */

/* A response keeps its raw header block under this key until res.headers is first read: most
** scripts never look at the headers, and their table costs about a third of the response. */
static char rawkey;

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

/* Turns the raw block of the response at 'res' into its headers table, once (a script that
** set res.headers itself keeps its own). */
static void materialize(lua_State *L, int res) {
  lua_pushlightuserdata(L, &rawkey);
  if (lua_rawget(L, res) == LUA_TSTRING) {
    lua_pushliteral(L, "headers");
    if (lua_rawget(L, res) == LUA_TNIL) {
      size_t len;
      const char *raw = lua_tolstring(L, -2, &len);
      lua_pushliteral(L, "headers");
      lua_createtable(L, 0, 8);
      parse_headers(L, lua_gettop(L), raw, len);
      lua_rawset(L, res);
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, &rawkey);
    lua_pushnil(L);
    lua_rawset(L, res);
  }
  lua_pop(L, 1);
}

/* res.headers is made on first read; any other missing field may be a method (res:json()).
** Upvalues: the methods table, the string "headers". */
static int response_index(lua_State *L) {
  lua_settop(L, 2);
  if (lua_rawequal(L, 2, lua_upvalueindex(2))) {
    materialize(L, 1);
    lua_rawget(L, 1);
  } else {
    lua_rawget(L, lua_upvalueindex(1));
  }
  return 1;
}

/* pairs(res) shows the headers too. Upvalue: the base library's next. */
static int response_pairs(lua_State *L) {
  al_checktype(L, 1, LUA_TTABLE, "pairs");
  materialize(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* Upvalues of http.request (and so of its continuations): the response metatable, then the
** field names, set with rawset (lua_setfield would look each name up and check __newindex). */
enum { UV_MT = 1, UV_STATUS, UV_BODY, UV_PATH, UV_URL, UV_BYTES, UV_VERSION, UV_ELAPSED, UV_REUSED, NUV = UV_REUSED };
static const char *const field_names[] = {"status", "body", "path", "url", "bytes", "version", "elapsed", "reused"};

static void setkey(lua_State *L, int uv) {   /* t[name] = v, with t and v on the stack */
  lua_pushvalue(L, lua_upvalueindex(uv));
  lua_insert(L, -2);
  lua_rawset(L, -3);
}

static void push_response(lua_State *L, al_req *r) {
  long version = 0;
  double total = 0;
  long connects = 0;
  curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
  curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &version);
  curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &total);
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, r->status);
  setkey(L, UV_STATUS);
  lua_pushlightuserdata(L, &rawkey);
  lua_pushlstring(L, r->head.p ? r->head.p : "", r->head.len);
  lua_rawset(L, -3);
  if (r->sink == AL_SINK_MEMORY || r->body.len > 0 || !(r->status >= 200 && r->status < 300)) {
    lua_pushlstring(L, r->body.p ? r->body.p : "", r->body.len);
    setkey(L, UV_BODY);
  }
  if (r->sink == AL_SINK_FILE) {
    lua_pushstring(L, r->path);
    setkey(L, UV_PATH);
  }
  lua_pushvalue(L, URL);          /* redirects are followed here, not by curl: the last URL */
  setkey(L, UV_URL);
  lua_pushinteger(L, (lua_Integer)r->bytes);
  setkey(L, UV_BYTES);
  lua_pushstring(L, version == CURL_HTTP_VERSION_2_0 ? "2" : version == CURL_HTTP_VERSION_1_0 ? "1.0" : "1.1");
  setkey(L, UV_VERSION);
  lua_pushnumber(L, total);
  setkey(L, UV_ELAPSED);
  lua_pushboolean(L, connects == 0);
  setkey(L, UV_REUSED);
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
static const errmap *refine(al_req *r, const errmap *m) {
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
    return r->redirects > 0 ? &redirect_scheme : &own_scheme;
  case CURLE_URL_MALFORMAT:
    return r->redirects > 0 ? m : &own_url;
  case CURLE_OUT_OF_MEMORY:   /* libcurl's answer to a header line over its 100 KiB limit */
    return r->status != 0 || strstr(r->errbuf, "header") ? &header_too_large : m;
  case CURLE_COULDNT_CONNECT:   /* http.c's socket function keeps socket()'s errno */
    return r->sys_errno == EMFILE || r->sys_errno == ENFILE ? &descriptors : m;
  default:
    return m;
  }
}

/* Pushes the error object for a failed transfer. */
static void push_failure(lua_State *L, al_req *r) {
  const errmap *m = refine(r, map_error(r->result));
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
  al_error_setstr(L, "method", lua_tostring(L, METHOD));
  al_url_push_redacted(L, lua_tostring(L, URL));
  lua_setfield(L, -2, "url");
}

/* }====================================================== */

/* {====================================================== the transfer */

static void notify(al_req *r, al_req_event ev) {
  (void)ev;
  /* only a task parked on this very transfer: inside its sink function it may wait elsewhere */
  al_task_wake_park(r->ud, r->ud_token, 0);
}

static void cancel_transfer(al_task *t) { al_req_free((al_req *)t->kctx); }

/* Parks the request's task until the transfer has news (notify). */
static int park_transfer(lua_State *L, al_req *r) {
  r->ud_token = al_task_park_token(r->ud);
  return al_task_park(L, r->ud, cancel_transfer, (lua_KContext)r, transferk);
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

static int start(lua_State *L, al_req *r) {
  if (lua_type(L, SINKFN) == LUA_TSTRING && al_req_sink_file(r, lua_tostring(L, SINKFN)) != 0) {
    int e = errno;
    al_req_free(r);
    return sink_error(L, lua_tostring(L, SINKFN), e);
  }
  al_req_start(r);
  return park_transfer(L, r);
}

static int is_redirect(long s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

/* Follows a redirect as a new transfer: 303 (and 301/302 after a POST) become a GET without a
** body; once the target leaves the first origin, only harmless headers go on, so credentials
** (Authorization, X-DexiIO-*, cookies) never reach another host. */
static int redirect(lua_State *L, al_req *r) {
  char *loc = NULL;
  curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &loc);
  if (!loc) return 0;
  if (++r->redirects > MAX_REDIRECTS) {
    r->result = CURLE_TOO_MANY_REDIRECTS;
    al_url_push_redacted(L, loc);          /* the last target, where it would have gone next */
    snprintf(r->errbuf, sizeof r->errbuf, "more than %d redirects; the last one pointed to %s",
             MAX_REDIRECTS, lua_tostring(L, -1));
    lua_pop(L, 1);
    push_failure(L, r);
    al_req_free(r);
    return lua_error(L);
  }
  const char *method = lua_tostring(L, METHOD);
  long st = r->status;
  if (st == 303 || ((st == 301 || st == 302) && strcmp(method, "POST") == 0)) {
    if (strcmp(method, "HEAD") != 0) { lua_pushliteral(L, "GET"); lua_replace(L, METHOD); }
    r->body_dropped = 1;
  }
  const char *name;
  if (headers_bad(L, &name)) {     /* changed since the first request was checked */
    al_req_free(r);
    check_headers(L);
  }
  lua_pushstring(L, loc);
  lua_replace(L, URL);
  if (!al_url_same_origin(opt_string(L, O_URL, 1), loc)) r->cross_origin = 1;
  al_req_rearm(r);
  configure(L, r);
  return start(L, r);
}

static int sinkdone(lua_State *L, int status, lua_KContext ctx);

static int transferk(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  al_req *r = (al_req *)ctx;
  if (r->sink == AL_SINK_STREAM && r->body.len > 0 && r->status >= 200 && r->status < 300) {
    lua_pushvalue(L, SINKFN);
    lua_pushlstring(L, r->body.p, r->body.len);
    al_buf_reset(&r->body);
    return sinkdone(L, lua_pcallk(L, 1, 0, 0, ctx, sinkdone), ctx);
  }
  if (!r->done) return park_transfer(L, r);
  if (r->result != CURLE_OK || r->size_mismatch) {
    push_failure(L, r);
    al_req_free(r);
    return lua_error(L);
  }
  if (lua_toboolean(L, OPTSLOT(O_FOLLOW)) && is_redirect(r->status)) {
    int n = redirect(L, r);
    if (n == 0) goto respond;     /* a 3xx without Location is an answer like any other */
    return n;
  }
respond:
  push_response(L, r);
  al_req_free(r);
  return 1;
}

/* After the sink function ran (or failed): an error stops the transfer and propagates. */
static int sinkdone(lua_State *L, int status, lua_KContext ctx) {
  al_req *r = (al_req *)ctx;
  if (status != LUA_OK && status != LUA_YIELD) {
    al_req_free(r);
    return lua_error(L);
  }
  al_req_resume(r);
  return transferk(L, LUA_OK, ctx);
}

/* Everything checked and the limiter passed: the transfer is set up and started. */
static int launch(lua_State *L) {
  al_req *r = al_req_new(al_sched_http(L));
  if (!r) return al_error_raise(L, "network", "cannot create a curl handle");
  r->ud = al_task_current(L, FNAME);
  if (lua_type(L, SINKFN) == LUA_TFUNCTION) r->sink = AL_SINK_STREAM;
  if (lua_isinteger(L, OPTSLOT(O_EXPECT_BYTES))) r->expect = (curl_off_t)lua_tointeger(L, OPTSLOT(O_EXPECT_BYTES));
  if (lua_isinteger(L, OPTSLOT(O_MAX_BODY))) r->max_body = (curl_off_t)lua_tointeger(L, OPTSLOT(O_MAX_BODY));
  else if (lua_isnil(L, OPTSLOT(O_MAX_BODY)) && r->sink == AL_SINK_MEMORY) r->max_body = DEFAULT_MAX_BODY;
  r->keep_existing = lua_isboolean(L, OPTSLOT(O_REPLACE)) && !lua_toboolean(L, OPTSLOT(O_REPLACE));
  configure(L, r);
  return start(L, r);
}

static int limitedk(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  al_limiter_admitted(L, al_limiter_check(L, LIMITER, FNAME));
  return launch(L);
}

/* }====================================================== */

/* A shared limiter (autolua.shared_limiter, a Lua object) names itself in its metatable. */
static int is_shared_limiter(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  int t = luaL_getmetafield(L, idx, "__name");
  if (t == LUA_TNIL) return 0;
  int yes = t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "autolua.shared_limiter") == 0;
  lua_pop(L, 1);
  return yes;
}

static void check_limiter(lua_State *L) {
  if (getopt(L, O_LIMITER) != LUA_TNIL && !luaL_testudata(L, -1, AL_LIMITER_MT) && !is_shared_limiter(L, -1))
    al_argerror(L, FNAME, "'limiter' must be a limiter, got %s", luaL_typename(L, -1));
  lua_replace(L, LIMITER);
}

static int sharedk(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return launch(L);
}

/* limiter:acquire(1, {max_wait =}) of a shared limiter, then the transfer. */
static int acquire_shared(lua_State *L, double wait) {
  lua_getfield(L, LIMITER, "acquire");
  lua_pushvalue(L, LIMITER);
  lua_pushinteger(L, 1);
  if (wait >= 0) {
    lua_createtable(L, 0, 1);
    lua_pushnumber(L, wait);
    lua_setfield(L, -2, "max_wait");
  } else {
    lua_pushnil(L);
  }
  lua_callk(L, 3, 0, 0, sharedk);
  return sharedk(L, LUA_OK, 0);
}

static double max_wait(lua_State *L) {
  int t = getopt(L, O_MAX_WAIT);
  double v = t == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
  if ((t != LUA_TNIL && t != LUA_TNUMBER) || (t == LUA_TNUMBER && v < 0))
    al_argerror(L, FNAME, "'max_wait' must be a number of seconds >= 0");
  lua_pop(L, 1);
  return v;
}

/* The options only read once the transfer is set up, checked now: nothing is held yet, so an
** argument error leaves nothing behind and takes nothing from the limiter. */
static void check_rest(lua_State *L) {
  int tf = getopt(L, O_FOLLOW);
  if (tf != LUA_TNIL && tf != LUA_TBOOLEAN) al_argerror(L, FNAME, "'follow' must be a boolean");
  lua_pop(L, 1);
  opt_seconds(L, O_TIMEOUT);
  opt_seconds(L, O_STALL);
  int ts = getopt(L, O_SINK);
  if (ts != LUA_TNIL && ts != LUA_TSTRING && ts != LUA_TFUNCTION)
    al_argerror(L, FNAME, "'sink' must be a file path or a function, got %s", luaL_typename(L, -1));
  if (ts == LUA_TSTRING && strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1))
    al_argerror(L, FNAME, "'sink' has a NUL byte, which would cut the path short");
  lua_replace(L, SINKFN);
  if (getopt(L, O_EXPECT_BYTES) != LUA_TNIL &&
      (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || ts != LUA_TSTRING))
    al_argerror(L, FNAME, "'expect_bytes' must be a byte count, with a file 'sink'");
  lua_pop(L, 1);
  int tr = getopt(L, O_REPLACE);
  if (tr != LUA_TNIL && (tr != LUA_TBOOLEAN || ts != LUA_TSTRING))
    al_argerror(L, FNAME, "'replace' must be a boolean, with a file 'sink'");
  lua_pop(L, 1);
  int tm = getopt(L, O_MAX_BODY);
  if (tm != LUA_TNIL && !(tm == LUA_TBOOLEAN && !lua_toboolean(L, -1)) &&
      (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0))
    al_argerror(L, FNAME, "'max_body' must be a byte count or false, got %s",
                tm == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
  lua_pop(L, 1);
  check_headers(L);
  opt_string(L, O_CA_FILE, 0);
}

/* http.request{method =, url =, query =, headers =, body = | json =, timeout =, follow =,
** sink = path | function(chunk), limiter =, max_wait =, ca_file =, expect_bytes =, reuse =,
** max_body =, replace =} -> res */
static int l_request(lua_State *L) {
  if (!lua_istable(L, 1))
    return al_argerror(L, FNAME, "expects a table of options, got %s", luaL_typename(L, 1));
  lua_settop(L, NSLOTS);
  read_options(L);
  al_task_current(L, FNAME);
  build_url(L);
  build_method_body(L);
  check_limiter(L);
  double wait = max_wait(L);
  check_rest(L);
  /* libcurl is loaded and started now, not after the limiter: a request charged at one time
  ** and sent tens of milliseconds later would crowd the next second of a strict server */
  al_sched_http(L);
  if (lua_istable(L, LIMITER)) return acquire_shared(L, wait);
  if (!lua_isnil(L, LIMITER) &&
      !al_limiter_acquire(L, al_limiter_check(L, LIMITER, FNAME), 1, wait, 0, limitedk))
    return 0;   /* not reached: the acquisition parked */
  return launch(L);
}

/* http.configure{max_connections = n} -> {max_connections = n}: sets what is given (0 restores
** the default), returns the settings in force. */
static int l_configure(lua_State *L) {
  const char *f = "http.configure";
  if (!lua_isnoneornil(L, 1) && !lua_istable(L, 1))
    return al_argerror(L, f, "expects a table of settings, got %s", luaL_typename(L, 1));
  al_http *h = al_sched_http(L);
  if (lua_istable(L, 1)) {
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      if (lua_type(L, -2) != LUA_TSTRING || strcmp(lua_tostring(L, -2), "max_connections") != 0)
        return al_argerror(L, f, "unknown setting '%s'", lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2));
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > 1L << 24)
        return al_argerror(L, f, "'max_connections' must be a whole number >= 0 (0: the default)");
      al_http_set_max_connections(h, (long)lua_tointeger(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, h->max_connections);
  lua_setfield(L, -2, "max_connections");
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
  luaL_newmetatable(L, RESPONSE_MT);
  lua_newtable(L);                          /* the methods: lua/autolua/http.lua adds them */
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "response_methods");
  lua_pushliteral(L, "headers");
  lua_pushcclosure(L, response_index, 2);
  lua_setfield(L, -2, "__index");
  lua_getglobal(L, "next");
  lua_pushcclosure(L, response_pairs, 1);
  lua_setfield(L, -2, "__pairs");
  for (int i = 0; i < NUV - 1; i++) lua_pushstring(L, field_names[i]);
  lua_pushcclosure(L, l_request, NUV);
  lua_setfield(L, -2, "request");
  return 1;
}
