/*
** The masking registry (see lsecret.h) and the 'autolua.secret' module. The secrets live in one
** registry table: a list sorted longest first (so a secret that contains another is masked
** whole) and a set of the same strings.
*/
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "lsecret.h"
#include "lerror.h"

#define REGISTRY_KEY "autolua.secrets"
#define MASK "***"

static void push_registry(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, REGISTRY_KEY);
}

void al_secret_add(lua_State *L, const char *s, size_t n) {
  if (n < AL_SECRET_MIN) return;
  push_registry(L);
  lua_pushlstring(L, s, n);
  if (lua_rawget(L, -2) != LUA_TNIL) { lua_pop(L, 2); return; }
  lua_pop(L, 1);
  lua_pushlstring(L, s, n);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  /* insertion into the list, longest first */
  lua_Integer i = (lua_Integer)lua_rawlen(L, -1);
  for (; i >= 1; i--) {
    lua_rawgeti(L, -1, i);
    size_t len = lua_rawlen(L, -1);
    if (len >= n) { lua_pop(L, 1); break; }
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushlstring(L, s, n);
  lua_rawseti(L, -2, i + 1);
  lua_pop(L, 1);
}

static int hexval(int c) {
  return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

void al_secret_add_url(lua_State *L, const char *url) {
  const char *p = strstr(url, "://");
  if (!p) return;
  p += 3;
  size_t auth = strcspn(p, "/?#");
  const char *at = NULL;
  for (const char *q = p; q < p + auth; q++) if (*q == '@') at = q;
  const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
  if (!colon) return;
  const char *pw = colon + 1;
  size_t n = (size_t)(at - pw);
  al_secret_add(L, pw, n);
  luaL_Buffer b;              /* the same password percent-decoded, as it goes on the wire */
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    if (pw[i] == '%' && i + 2 < n && isxdigit((unsigned char)pw[i + 1]) && isxdigit((unsigned char)pw[i + 2])) {
      luaL_addchar(&b, (char)(hexval((unsigned char)pw[i + 1]) * 16 + hexval((unsigned char)pw[i + 2])));
      i += 2;
    } else {
      luaL_addchar(&b, pw[i]);
    }
  }
  luaL_pushresult(&b);
  size_t dn;
  const char *d = lua_tolstring(L, -1, &dn);
  al_secret_add(L, d, dn);
  lua_pop(L, 1);
}

void al_secret_add_environment(lua_State *L) {
  static const char *const names[] = {"DEXI_API_KEY", "DX_TOKEN", "DX_API_TOKEN", NULL};
  for (int i = 0; names[i]; i++) {
    const char *v = getenv(names[i]);
    if (v) al_secret_add(L, v, strlen(v));
  }
}

/* Replaces every 'sec' in the string on top of the stack (in place on the stack). */
static void mask_one(lua_State *L, const char *sec, size_t sn) {
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  const char *end = s + n, *p = s, *hit = NULL;
  for (const char *q = s; q + sn <= end; q++)
    if (*q == *sec && memcmp(q, sec, sn) == 0) { hit = q; break; }
  if (!hit) return;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (const char *q = hit; q + sn <= end;) {
    if (*q == *sec && memcmp(q, sec, sn) == 0) {
      luaL_addlstring(&b, p, (size_t)(q - p));
      luaL_addstring(&b, MASK);
      q += sn;
      p = q;
    } else {
      q++;
    }
  }
  luaL_addlstring(&b, p, (size_t)(end - p));
  luaL_pushresult(&b);
  lua_remove(L, -2);
}

const char *al_secret_mask(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  push_registry(L);
  lua_pushvalue(L, idx);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -2);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -2, i);
    size_t sn;
    const char *sec = lua_tolstring(L, -1, &sn);
    lua_insert(L, -2);          /* [registry, secret, text] */
    mask_one(L, sec, sn);
    lua_remove(L, -2);
  }
  lua_remove(L, -2);
  return lua_tostring(L, -1);
}

/* {====================================================== module */

static const char *check_string(lua_State *L, const char *fname, size_t *n) {
  if (lua_type(L, 1) != LUA_TSTRING)
    al_argerror(L, fname, "expects a string, got %s", luaL_typename(L, 1));
  return lua_tolstring(L, 1, n);
}

/* secret.add(value): masks 'value' from now on (values shorter than 4 bytes are ignored). */
static int l_add(lua_State *L) {
  size_t n;
  const char *s = check_string(L, "secret.add", &n);
  al_secret_add(L, s, n);
  return 0;
}

/* secret.add_url(url): masks the password of the URL's user information, if it has one. */
static int l_add_url(lua_State *L) {
  al_secret_add_url(L, check_string(L, "secret.add_url", NULL));
  return 0;
}

/* secret.mask(text) -> text with every registered secret shown as *** */
static int l_mask(lua_State *L) {
  check_string(L, "secret.mask", NULL);
  al_secret_mask(L, 1);
  return 1;
}

int luaopen_autolua_secret(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"add", l_add}, {"add_url", l_add_url}, {"mask", l_mask}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}

/* }====================================================== */
