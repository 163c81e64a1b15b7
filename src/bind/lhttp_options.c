/*
** autolua.http's options: read in one pass, checked before anything is sent (an argument error
** leaves nothing behind), and turned into the request's header list.
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
#include "llimiter.h"
#include "sched.h"
#include "url.h"

const char *const option_names[] = {"method", "url", "query", "headers", "body", "json", "timeout", "follow", "sink", "limiter", "max_wait", "ca_file", "expect_bytes", "reuse", "max_body", "replace", "stall", NULL};


/* Pushes option 'o' and returns its type. */
int lhttp_getopt(lua_State *L, int o) {
  lua_pushvalue(L, OPTSLOT(o));
  return lua_type(L, -1);
}

/* Moves every option into its slot; an unknown name is an argument error (a typo would
** otherwise be ignored silently). */
void lhttp_read_options(lua_State *L) {
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

const char *lhttp_opt_string(lua_State *L, int o, int required) {
  const char *field = option_names[o];
  int t = lhttp_getopt(L, o);
  if (t == LUA_TNIL && !required) { lua_pop(L, 1); return NULL; }
  if (t != LUA_TSTRING)
    al_argerror(L, FNAME, "'%s' must be a string, got %s", field, luaL_typename(L, -1));
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  if (strlen(s) != len) al_argerror(L, FNAME, "'%s' has a NUL byte, which would cut it short", field);
  lua_pop(L, 1);          /* still referenced by the options table */
  return s;
}

double lhttp_opt_seconds(lua_State *L, int o) {
  const char *field = option_names[o];
  int t = lhttp_getopt(L, o);
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
void lhttp_build_url(lua_State *L) {
  const char *url = lhttp_opt_string(L, O_URL, 1);
  const char *err = al_url_check(url);
  if (err) al_argerror(L, FNAME, "%s: %s", err, url);
  lhttp_getopt(L, O_QUERY);
  if (!lua_isnil(L, -1) && !lua_istable(L, -1))
    al_argerror(L, FNAME, "'query' must be a table, got %s", luaL_typename(L, -1));
  if (lua_isnil(L, -1)) lua_pushstring(L, url);
  else if (al_url_with_query(L, url, lua_gettop(L)) != 0)
    al_argerror(L, FNAME, "%s", lua_tostring(L, -1));
  lua_replace(L, URL);
  lua_pop(L, 1);
}

/* Method into slot METHOD (upper case), body into slot BODY (string or nil). */
void lhttp_build_method_body(lua_State *L) {
  const char *m = lhttp_opt_string(L, O_METHOD, 0);
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
  int tb = lhttp_getopt(L, O_BODY);
  int tj = lhttp_getopt(L, O_JSON);
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

/* Whether the 'headers' option is unusable: not a table, or an entry that is not a name and a
** string (or number) without line breaks; a bad name goes to *name. Raises nothing. */
int lhttp_headers_bad(lua_State *L, const char **name) {
  *name = NULL;
  int t = lhttp_getopt(L, O_HEADERS), bad = t != LUA_TNIL && t != LUA_TTABLE;
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

void lhttp_check_headers(lua_State *L) {
  const char *name;
  if (!lhttp_headers_bad(L, &name)) return;
  if (name) al_argerror(L, FNAME, "header '%s' has a line break, a colon or a NUL byte", name);
  if (!lua_istable(L, OPTSLOT(O_HEADERS))) al_argerror(L, FNAME, "'headers' must be a table");
  al_argerror(L, FNAME, "'headers' must map names to strings");
}

/* The request's own header list (checked already) into r->headers, or NULL when the defaults
** will do. After a redirect to another origin only the harmless headers go on. */
void lhttp_build_headers(lua_State *L, al_req *r, int has_body, int is_json) {
  int ct = 0, ua = 0, ae = 0;
  if (r->headers) { curl_slist_free_all(r->headers); r->headers = NULL; }
  if (lhttp_getopt(L, O_HEADERS) == LUA_TTABLE) {
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

void lhttp_check_limiter(lua_State *L) {
  if (lhttp_getopt(L, O_LIMITER) != LUA_TNIL && !luaL_testudata(L, -1, AL_LIMITER_MT))
    al_argerror(L, FNAME, "'limiter' must be a limiter, got %s", luaL_typename(L, -1));
  lua_replace(L, LIMITER);
}

double lhttp_max_wait(lua_State *L) {
  int t = lhttp_getopt(L, O_MAX_WAIT);
  double v = t == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
  if ((t != LUA_TNIL && t != LUA_TNUMBER) || (t == LUA_TNUMBER && v < 0))
    al_argerror(L, FNAME, "'max_wait' must be a number of seconds >= 0");
  lua_pop(L, 1);
  return v;
}

/* The options only read once the transfer is set up, checked now: nothing is held yet, so an
** argument error leaves nothing behind and takes nothing from the limiter. */
void lhttp_check_rest(lua_State *L) {
  int tf = lhttp_getopt(L, O_FOLLOW);
  if (tf != LUA_TNIL && tf != LUA_TBOOLEAN) al_argerror(L, FNAME, "'follow' must be a boolean");
  lua_pop(L, 1);
  lhttp_opt_seconds(L, O_TIMEOUT);
  lhttp_opt_seconds(L, O_STALL);
  int ts = lhttp_getopt(L, O_SINK);
  if (ts != LUA_TNIL && ts != LUA_TSTRING && ts != LUA_TFUNCTION)
    al_argerror(L, FNAME, "'sink' must be a file path or a function, got %s", luaL_typename(L, -1));
  if (ts == LUA_TSTRING && strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1))
    al_argerror(L, FNAME, "'sink' has a NUL byte, which would cut the path short");
  lua_replace(L, SINKFN);
  if (lhttp_getopt(L, O_EXPECT_BYTES) != LUA_TNIL &&
      (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || ts != LUA_TSTRING))
    al_argerror(L, FNAME, "'expect_bytes' must be a byte count, with a file 'sink'");
  lua_pop(L, 1);
  int tr = lhttp_getopt(L, O_REPLACE);
  if (tr != LUA_TNIL && (tr != LUA_TBOOLEAN || ts != LUA_TSTRING))
    al_argerror(L, FNAME, "'replace' must be a boolean, with a file 'sink'");
  lua_pop(L, 1);
  int tm = lhttp_getopt(L, O_MAX_BODY);
  if (tm != LUA_TNIL && !(tm == LUA_TBOOLEAN && !lua_toboolean(L, -1)) &&
      (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0))
    al_argerror(L, FNAME, "'max_body' must be a byte count or false, got %s",
                tm == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
  lua_pop(L, 1);
  lhttp_check_headers(L);
  lhttp_opt_string(L, O_CA_FILE, 0);
}
