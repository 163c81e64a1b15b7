/*
** URL helpers (see url.h).
*/
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include "url.h"

static size_t scheme_len(const char *url) {
  if (strncasecmp(url, "http://", 7) == 0) return 7;
  if (strncasecmp(url, "https://", 8) == 0) return 8;
  return 0;
}

/* Whether a byte is <= ' ' or DEL: isspace or iscntrl in the C locale (autolua never sets
** another). Every request's URL passes here, so eight bytes are looked at a time: a byte below
** 0x21 makes (x - 0x21) borrow into its top bit, a DEL byte is zero in x ^ 0x7f (the bit
** tricks of "Bit Twiddling Hacks", haszero/hasless; a byte >= 0x80 is let through by ~x). */
static int has_space_or_control(const char *s, size_t n) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, d;
    memcpy(&x, s + i, 8);
    d = x ^ (0x7f * ones);
    if ((((x - 0x21 * ones) | (d - ones)) & ~x & highs) != 0) return 1;
  }
  for (; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f) return 1;
  return 0;
}

const char *al_url_check(const char *url) {
  size_t s = scheme_len(url);
  if (!s) return strstr(url, "://") ? "unsupported URL scheme (only http and https)" : "not an absolute http(s) URL";
  if (!url[s] || url[s] == '/' || url[s] == '?' || url[s] == '#') return "URL has no host";
  if (has_space_or_control(url, strlen(url))) return "URL contains white space or control characters";
  return NULL;
}

static int unreserved(unsigned char c) {
  return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static void add_escaped(luaL_Buffer *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c)) { luaL_addchar(b, (char)c); continue; }
    luaL_addchar(b, '%');
    luaL_addchar(b, hex[c >> 4]);
    luaL_addchar(b, hex[c & 15]);
  }
}

void al_url_push_escaped(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  add_escaped(&b, s, n);
  luaL_pushresult(&b);
}

static int cmpkeys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes "k=v&k=v" for one key whose value is at the top (a scalar or a list); 0 or -1. */
static int push_pair(lua_State *L, const char *k) {
  int n = lua_istable(L, -1) ? (int)luaL_len(L, -1) : 1;
  luaL_Buffer b;
  int list = lua_istable(L, -1), vi = lua_gettop(L);
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (list) lua_rawgeti(L, vi, i); else lua_pushvalue(L, vi);
    int t = lua_type(L, -1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN) {
      lua_pushfstring(L, "query value for '%s' must be a string, number or boolean", k);
      return -1;
    }
    size_t vl;
    const char *v = t == LUA_TBOOLEAN ? (lua_toboolean(L, -1) ? "true" : "false") : lua_tolstring(L, -1, &vl);
    if (t == LUA_TBOOLEAN) vl = strlen(v);
    lua_pop(L, 1);
    if (i > 1) luaL_addchar(&b, '&');
    add_escaped(&b, k, strlen(k));
    luaL_addchar(&b, '=');
    add_escaped(&b, v, vl);
  }
  luaL_pushresult(&b);
  return 0;
}

int al_url_with_query(lua_State *L, const char *url, int qidx) {
  int n = 0, top = lua_gettop(L);
  for (lua_pushnil(L); lua_next(L, qidx); lua_pop(L, 1)) n++;
  const char **keys = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n ? n : 1), 0);
  int i = 0;
  for (lua_pushnil(L); lua_next(L, qidx); lua_pop(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_settop(L, top);
      lua_pushliteral(L, "query keys must be strings");
      return -1;
    }
    keys[i++] = lua_tostring(L, -2);
  }
  qsort(keys, (size_t)n, sizeof *keys, cmpkeys);
  const char *hash = strchr(url, '#');
  size_t ul = hash ? (size_t)(hash - url) : strlen(url);
  char sep = memchr(url, '?', ul) ? '&' : '?';
  lua_pushlstring(L, url, ul);
  int parts = 1;
  for (i = 0; i < n; i++) {
    if (!lua_checkstack(L, 4)) {             /* the caller raises it as an argument error */
      lua_settop(L, top);
      lua_pushliteral(L, "the query has too many parameters");
      return -1;
    }
    lua_getfield(L, qidx, keys[i]);
    if (push_pair(L, keys[i]) != 0) {
      lua_replace(L, top + 1);
      lua_settop(L, top + 1);
      return -1;
    }
    lua_remove(L, -2);                       /* the value */
    lua_pushfstring(L, "%c", sep);
    lua_insert(L, -2);
    parts += 2;
    sep = '&';
  }
  lua_concat(L, parts);
  lua_replace(L, top + 1);                   /* over the key array */
  return 0;
}

static int secret_name(const char *k, size_t n) {
  static const char *const words[] = {"key", "token", "secret", "pass", "auth", "sig", "access", "credential", NULL};
  char low[64];
  if (n >= sizeof low) n = sizeof low - 1;
  for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)k[i]);
  low[n] = 0;
  for (int i = 0; words[i]; i++) if (strstr(low, words[i])) return 1;
  return 0;
}

void al_url_push_redacted(lua_State *L, const char *url) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t s = scheme_len(url);
  const char *host = url + s, *at = NULL;
  for (const char *p = host; *p && *p != '/' && *p != '?' && *p != '#'; p++) if (*p == '@') at = p;
  luaL_addlstring(&b, url, s);
  if (s && at) { luaL_addstring(&b, "***@"); host = at + 1; }
  const char *q = strchr(host, '?');
  if (!q) { luaL_addstring(&b, host); luaL_pushresult(&b); return; }
  luaL_addlstring(&b, host, (size_t)(q - host) + 1);
  for (const char *p = q + 1; *p && *p != '#';) {
    size_t len = strcspn(p, "&#");
    const char *eq = memchr(p, '=', len);
    if (eq && secret_name(p, (size_t)(eq - p))) {
      luaL_addlstring(&b, p, (size_t)(eq - p) + 1);
      luaL_addstring(&b, "***");
    } else {
      luaL_addlstring(&b, p, len);
    }
    p += len;
    if (*p == '&') { luaL_addchar(&b, '&'); p++; }
  }
  luaL_pushresult(&b);
}

/* The "scheme://host:port" part, lower-cased, with the default port made explicit. */
static void origin(const char *url, char *out, size_t n) {
  size_t s = scheme_len(url);
  const char *h = url + s, *end = h + strcspn(h, "/?#");
  const char *at = memchr(h, '@', (size_t)(end - h));
  if (at) h = at + 1;
  size_t len = (size_t)(end - h);
  const char *colon = memchr(h, ':', len);
  snprintf(out, n, "%.*s%.*s%s", (int)s, url, (int)len, h,
           colon ? "" : (s == 8 ? ":443" : ":80"));
  for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
}

int al_url_same_origin(const char *a, const char *b) {
  char oa[512], ob[512];
  origin(a, oa, sizeof oa);
  origin(b, ob, sizeof ob);
  return strcmp(oa, ob) == 0;
}
