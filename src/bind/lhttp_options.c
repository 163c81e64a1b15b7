/*
** autolua.http's options: read in one pass over the table into the request's record, checked
** before anything is sent (an argument error leaves nothing behind), and turned into the
** request's header list.
*/
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include "lhttp_impl.h"
#include "lerror.h"
#include "llimiter.h"
#include "sched.h"
#include "url.h"

static const char *const option_names[NOPTS] = {"url", "query", "method", "body", "json", "limiter",
  "max_wait", "follow", "timeout", "stall", "sink", "expect_bytes", "replace", "max_body", "headers",
  "ca_file", "reuse"};

/* The option a key names, or -1: by length, then the whole name (one comparison at most). */
static int option_of(const char *k, size_t n) {
  int o;
  switch (n) {
  case 3: o = O_URL; break;
  case 4: o = k[0] == 'b' ? O_BODY : k[0] == 'j' ? O_JSON : O_SINK; break;
  case 5: o = k[0] == 'q' ? O_QUERY : k[0] == 'r' ? O_REUSE : O_STALL; break;
  case 6: o = k[0] == 'm' ? O_METHOD : O_FOLLOW; break;
  case 7: o = k[0] == 'h' ? O_HEADERS : k[0] == 't' ? O_TIMEOUT : k[0] == 'l' ? O_LIMITER :
              k[0] == 'c' ? O_CA_FILE : O_REPLACE; break;
  case 8: o = k[4] == 'w' ? O_MAX_WAIT : O_MAX_BODY; break;
  case 12: o = O_EXPECT_BYTES; break;
  default: return -1;
  }
  return memcmp(k, option_names[o], n) == 0 ? o : -1;
}

static int has_crlf(const char *s) { return strpbrk(s, "\r\n") != NULL; }

/* A string without a NUL byte (which would cut it short in C), or NULL. */
static const char *clean_string(lua_State *L, int idx) {
  size_t len;
  if (lua_type(L, idx) != LUA_TSTRING) return NULL;
  const char *s = lua_tolstring(L, idx, &len);
  return strlen(s) == len ? s : NULL;
}

/* The value at the top of the stack, as a number > 0 of seconds, or 0. */
static double seconds(lua_State *L) {
  double v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
  return v > 0 ? v : 0;
}

/* 'method' in upper case into c->method; 0 when it is no HTTP method. */
static int upper_method(lhttp_call *c, const char *m) {
  size_t n = m ? strlen(m) : 0;
  if (n == 0 || n >= sizeof c->method) return 0;
  for (size_t i = 0; i < n; i++) {
    if (!isalpha((unsigned char)m[i])) return 0;
    c->method[i] = (char)toupper((unsigned char)m[i]);
  }
  c->method[n] = 0;
  return 1;
}

/* A shared limiter (autolua.shared_limiter, a Lua object) names itself in its metatable. */
static int is_shared_limiter(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  int t = luaL_getmetafield(L, idx, "__name"), yes = 0;
  if (t == LUA_TSTRING) yes = strcmp(lua_tostring(L, -1), "autolua.shared_limiter") == 0;
  if (t != LUA_TNIL) lua_pop(L, 1);
  return yes;
}

/* Reads option 'o' (its value at the top of the stack) into 'c'. Returns the slot that must keep
** the value alive (the record points into it, or calls it), or 0. An unusable value only marks
** the option bad: the errors are raised in option order once all are read. */
static int read_option(lua_State *L, lhttp_call *c, int o) {
  int t = lua_type(L, -1), ok = 1, slot = 0;
  switch (o) {
  case O_URL: ok = (c->origin = clean_string(L, -1)) != NULL; slot = ORIGIN; break;
  case O_QUERY: ok = t == LUA_TTABLE; slot = QUERY; break;
  case O_METHOD: ok = upper_method(c, clean_string(L, -1)); break;
  case O_BODY: ok = t == LUA_TSTRING; if (ok) c->body = lua_tolstring(L, -1, &c->body_len); slot = BODY; break;
  case O_JSON: c->is_json = 1; slot = JSON; break;
  case O_LIMITER: ok = luaL_testudata(L, -1, AL_LIMITER_MT) != NULL || is_shared_limiter(L, -1); slot = LIMITER; break;
  case O_MAX_WAIT: c->max_wait = t == LUA_TNUMBER ? lua_tonumber(L, -1) : -1; ok = t == LUA_TNUMBER && !(c->max_wait < 0); break;
  case O_FOLLOW: ok = t == LUA_TBOOLEAN; c->follow = lua_toboolean(L, -1); break;
  case O_TIMEOUT: ok = (c->timeout = seconds(L)) > 0; break;
  case O_STALL: ok = (c->stall = seconds(L)) > 0; break;
  case O_SINK:
    if (t == LUA_TFUNCTION) c->sink = AL_SINK_STREAM;
    else if ((c->sink_path = clean_string(L, -1)) != NULL) c->sink = AL_SINK_FILE;
    else ok = 0;
    slot = SINK;
    break;
  case O_EXPECT_BYTES: ok = lua_isinteger(L, -1) && (c->expect = (curl_off_t)lua_tointeger(L, -1)) >= 0; break;
  case O_REPLACE: ok = t == LUA_TBOOLEAN; c->keep_existing = ok && !lua_toboolean(L, -1); break;
  case O_MAX_BODY:
    if (lua_isinteger(L, -1)) ok = (c->max_body = (curl_off_t)lua_tointeger(L, -1)) >= 0;
    else ok = t == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    break;
  case O_HEADERS: ok = t == LUA_TTABLE; slot = HEADERS; break;
  case O_CA_FILE: ok = (c->ca_file = clean_string(L, -1)) != NULL; slot = CA; break;
  case O_REUSE: c->fresh = t == LUA_TBOOLEAN && !lua_toboolean(L, -1); break;   /* anything else: ignored */
  }
  if (!ok) c->bad |= OBIT(o);
  return ok ? slot : 0;
}

/* {====================================================== errors, in option order */

/* Raises the error of option 'o', whose value is unusable (the cold path: it reads it again). */
static int option_error(lua_State *L, int o) {
  const char *field = option_names[o];
  lua_pushstring(L, field);
  int t = lua_rawget(L, OPTS);
  const char *tn = luaL_typename(L, -1), *num = t == LUA_TNUMBER ? lua_tostring(L, -1) : tn;
  switch (o) {
  case O_URL: case O_METHOD: case O_CA_FILE:
    if (t != LUA_TSTRING) return al_argerror(L, FNAME, "'%s' must be a string, got %s", field, tn);
    if (strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1))
      return al_argerror(L, FNAME, "'%s' has a NUL byte, which would cut it short", field);
    return al_argerror(L, FNAME, "'method' is not an HTTP method: %s", lua_tostring(L, -1));
  case O_QUERY: return al_argerror(L, FNAME, "'query' must be a table, got %s", tn);
  case O_BODY: return al_argerror(L, FNAME, "'body' must be a string, got %s", tn);
  case O_LIMITER: return al_argerror(L, FNAME, "'limiter' must be a limiter, got %s", tn);
  case O_MAX_WAIT: return al_argerror(L, FNAME, "'max_wait' must be a number of seconds >= 0");
  case O_FOLLOW: return al_argerror(L, FNAME, "'follow' must be a boolean");
  case O_TIMEOUT: case O_STALL:
    return al_argerror(L, FNAME, "'%s' must be a positive number of seconds, got %s", field, num);
  case O_SINK:
    if (t != LUA_TSTRING) return al_argerror(L, FNAME, "'sink' must be a file path or a function, got %s", tn);
    return al_argerror(L, FNAME, "'sink' has a NUL byte, which would cut the path short");
  case O_EXPECT_BYTES: return al_argerror(L, FNAME, "'expect_bytes' must be a byte count, with a file 'sink'");
  case O_REPLACE: return al_argerror(L, FNAME, "'replace' must be a boolean, with a file 'sink'");
  case O_MAX_BODY: return al_argerror(L, FNAME, "'max_body' must be a byte count or false, got %s", num);
  default: lhttp_recheck_headers(L); return 0;   /* O_HEADERS */
  }
}

static void check_url(lua_State *L, lhttp_call *c) {
  if (c->bad & OBIT(O_URL) || !c->origin) option_error(L, O_URL);
  const char *err = al_url_check(c->origin);
  if (err) al_argerror(L, FNAME, "%s: %s", err, c->origin);
  if (c->bad & OBIT(O_QUERY)) option_error(L, O_QUERY);
  if (!(c->given & OBIT(O_QUERY))) lua_pushvalue(L, ORIGIN);
  else if (al_url_with_query(L, c->origin, QUERY) != 0)
    al_argerror(L, FNAME, "%s", lua_tostring(L, -1));
  c->url = lua_tostring(L, -1);
  lua_replace(L, URL);
}

/* The 'json' value encoded into slot BODY, with autolua.json's encode (cached in the registry). */
static void encode_json(lua_State *L, lhttp_call *c) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "autolua.json.encode") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "autolua.json");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "encode");
    lua_remove(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "autolua.json.encode");
  }
  lua_pushvalue(L, JSON);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    if (lua_istable(L, -1)) lua_getfield(L, -1, "message");   /* json.encode's error object */
    al_argerror(L, FNAME, "'json' cannot be encoded: %s", lua_tostring(L, -1));
  }
  c->body = lua_tolstring(L, -1, &c->body_len);
  lua_replace(L, BODY);
}

static void check_method_body(lua_State *L, lhttp_call *c) {
  if (c->bad & OBIT(O_METHOD)) option_error(L, O_METHOD);
  if ((c->given & (OBIT(O_BODY) | OBIT(O_JSON))) == (OBIT(O_BODY) | OBIT(O_JSON)))
    al_argerror(L, FNAME, "give 'body' or 'json', not both");
  if (c->bad & OBIT(O_BODY)) option_error(L, O_BODY);
  if (c->is_json) encode_json(L, c);
}

/* Whether the table in slot HEADERS (if any) is unusable: an entry that is not a name and a
** string (or number) without line breaks; a bad name goes to *name. Raises nothing. */
int lhttp_headers_bad(lua_State *L, const char **name) {
  int bad = 0;
  *name = NULL;
  if (!lua_istable(L, HEADERS)) return 0;
  lua_pushnil(L);
  while (!bad && lua_next(L, HEADERS)) {
    if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1)) {
      bad = 1;
    } else {
      size_t kn, vn;
      const char *k = lua_tolstring(L, -2, &kn), *v = lua_tolstring(L, -1, &vn);
      if (has_crlf(k) || has_crlf(v) || strchr(k, ':') || strlen(k) != kn || strlen(v) != vn) { bad = 1; *name = k; }
    }
    lua_pop(L, bad ? 2 : 1);    /* an early stop leaves the key too */
  }
  return bad;
}

void lhttp_recheck_headers(lua_State *L) {
  const char *name;
  if (!lua_istable(L, HEADERS)) {
    lua_pushliteral(L, "headers");
    if (lua_rawget(L, OPTS) != LUA_TNIL) al_argerror(L, FNAME, "'headers' must be a table");
    lua_pop(L, 1);
    return;
  }
  if (!lhttp_headers_bad(L, &name)) return;
  if (name) al_argerror(L, FNAME, "header '%s' has a line break, a colon or a NUL byte", name);
  al_argerror(L, FNAME, "'headers' must map names to strings");
}

/* }====================================================== */

void lhttp_parse_options(lua_State *L, lhttp_call *c) {
  c->method[0] = 0;
  c->timeout = c->stall = c->max_wait = -1;
  c->expect = c->max_body = -1;
  lua_pushnil(L);
  while (lua_next(L, OPTS)) {
    size_t n = 0;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
    int o = k ? option_of(k, n) : -1;
    if (o < 0) al_argerror(L, FNAME, "unknown option '%s'", k ? k : luaL_typename(L, -2));
    c->given |= OBIT(o);
    int slot = read_option(L, c, o);
    if (slot) lua_replace(L, slot);
    else lua_pop(L, 1);
  }
  if (!c->method[0]) memcpy(c->method, "GET", 4);
  /* a byte count, and replacing or not, only make sense for a file */
  if (c->sink != AL_SINK_FILE) c->bad |= c->given & (OBIT(O_EXPECT_BYTES) | OBIT(O_REPLACE));
  if (c->given & OBIT(O_HEADERS) && !(c->bad & OBIT(O_HEADERS))) {
    const char *name;
    if (lhttp_headers_bad(L, &name)) c->bad |= OBIT(O_HEADERS);
  }
  al_task_current(L, FNAME);
  check_url(L, c);
  check_method_body(L, c);
  for (int o = O_LIMITER; c->bad && o < NOPTS; o++)   /* the rest, in order */
    if (c->bad & OBIT(o)) option_error(L, o);
}

/* {====================================================== the header list */

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
const struct curl_slist *lhttp_default_headers(al_http *h, int body, int json) {
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

/* The request's own header list (checked already) into r->headers, or NULL when the defaults
** will do. After a redirect to another origin only the harmless headers go on. */
void lhttp_build_headers(lua_State *L, const lhttp_call *c, int has_body) {
  al_req *r = c->r;
  int is_json = c->is_json;
  int ct = 0, ua = 0, ae = 0;
  if (r->headers) { curl_slist_free_all(r->headers); r->headers = NULL; }
  if (lua_istable(L, HEADERS)) {
    lua_pushnil(L);
    while (lua_next(L, HEADERS)) {
      const char *name = lua_tostring(L, -2), *value = lua_tostring(L, -1);
      if (!c->cross_origin || safe_header(name)) {
        int is_ct = strcasecmp(name, "content-type") == 0;
        ct |= is_ct;
        ua |= strcasecmp(name, "user-agent") == 0;
        ae |= strcasecmp(name, "accept-encoding") == 0;
        if (!(c->body_dropped && is_ct))
          r->headers = add_header(L, r->headers, name, value);
      }
      lua_pop(L, 1);
    }
  }
  if (!r->headers) return;
  if (is_json && !ct && has_body) r->headers = add_line(L, r->headers, JSON_LINE);
  if (!ua) r->headers = add_line(L, r->headers, UA_LINE);
  if (!ae) r->headers = add_line(L, r->headers, AE_LINE);
  if (has_body) r->headers = add_line(L, r->headers, EXPECT_LINE);
}

/* }====================================================== */
