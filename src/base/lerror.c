/*
** Structured error objects (see lerror.h) and the 'autolua.error' module.
*/
#include <stdarg.h>
#include <string.h>
#include <lauxlib.h>
#include "lerror.h"
#include "lsecret.h"

static void setmeta(lua_State *L) {
  if (luaL_getmetatable(L, ERROR_MT) == LUA_TNIL) {
    lua_pop(L, 1);
    luaopen_autolua_error(L);   /* creates the metatable */
    lua_pop(L, 1);
    luaL_getmetatable(L, ERROR_MT);
  }
  lua_setmetatable(L, -2);
}

static void pushv(lua_State *L, const char *kind, const char *fmt, va_list ap) {
  lua_createtable(L, 0, 8);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushvfstring(L, fmt, ap);
  al_secret_mask(L, -1);
  lua_remove(L, -2);
  lua_setfield(L, -2, "message");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "retryable");
  setmeta(L);
}

void al_error_push(lua_State *L, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pushv(L, kind, fmt, ap);
  va_end(ap);
}

int al_error_raise(lua_State *L, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pushv(L, kind, fmt, ap);
  va_end(ap);
  return lua_error(L);
}

int al_argerror(lua_State *L, const char *fname, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  al_error_push(L, "argument", "%s: %s", fname, lua_tostring(L, -1));
  return lua_error(L);
}

/* {====================================================== argument checks */

static int typeerror(lua_State *L, int arg, const char *fname, const char *expected) {
  const char *got = luaL_typename(L, arg);
  if (strchr(fname, ':')) {
    if (arg == 1) return al_argerror(L, fname, "must be called on %s with a colon, as %s(...); got %s",
                                     expected, fname, got);
    arg--;
  }
  return al_argerror(L, fname, "argument #%d must be %s, got %s", arg, expected, got);
}

void al_checktype(lua_State *L, int arg, int t, const char *fname) {
  if (lua_type(L, arg) == t) return;
  const char *name = lua_typename(L, t);
  typeerror(L, arg, fname, lua_pushfstring(L, "%s %s", t == LUA_TUSERDATA ? "a" : strchr("aeiou", name[0]) ? "an" : "a", name));
}

const char *al_checklstring(lua_State *L, int arg, size_t *len, const char *fname) {
  int t = lua_type(L, arg);
  if (t != LUA_TSTRING && t != LUA_TNUMBER) typeerror(L, arg, fname, "a string");
  return lua_tolstring(L, arg, len);
}

const char *al_optlstring(lua_State *L, int arg, const char *def, size_t *len, const char *fname) {
  if (!lua_isnoneornil(L, arg)) return al_checklstring(L, arg, len, fname);
  if (len) *len = def ? strlen(def) : 0;
  return def;
}

lua_Number al_checknumber(lua_State *L, int arg, const char *fname) {
  int isnum;
  lua_Number n = lua_tonumberx(L, arg, &isnum);
  if (!isnum) typeerror(L, arg, fname, "a number");
  return n;
}

lua_Integer al_checkinteger(lua_State *L, int arg, const char *fname) {
  int isnum;
  lua_Integer n = lua_tointegerx(L, arg, &isnum);
  if (!isnum) typeerror(L, arg, fname, "an integer");
  return n;
}

lua_Integer al_optinteger(lua_State *L, int arg, lua_Integer def, const char *fname) {
  if (lua_isnoneornil(L, arg)) return def;
  int isnum;
  lua_Integer n = lua_tointegerx(L, arg, &isnum);
  if (!isnum) typeerror(L, arg, fname, "an integer");
  return n;
}

void *al_checkudata(lua_State *L, int arg, const char *tname, const char *fname, const char *what) {
  void *p = luaL_testudata(L, arg, tname);
  if (!p) typeerror(L, arg, fname, what);
  return p;
}

/* }====================================================== */

void al_error_setstr(lua_State *L, const char *field, const char *value) {
  lua_pushstring(L, value);
  lua_setfield(L, -2, field);
}

void al_error_setint(lua_State *L, const char *field, lua_Integer value) {
  lua_pushinteger(L, value);
  lua_setfield(L, -2, field);
}

void al_error_setbool(lua_State *L, const char *field, int value) {
  lua_pushboolean(L, value);
  lua_setfield(L, -2, field);
}

int al_error_kind_is(lua_State *L, int idx, const char *kind) {
  if (!lua_istable(L, idx)) return 0;
  idx = lua_absindex(L, idx);
  lua_pushliteral(L, "kind");
  lua_rawget(L, idx);                  /* raw: a user's raising __index cannot get in */
  int same = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), kind) == 0;
  lua_pop(L, 1);
  return same;
}

/* The text of the value at 1: its __tostring when that gives a string, else the string or
** number itself, else its type. Runs protected: a __tostring may raise. */
static int to_text(lua_State *L) {
  if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
  if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER) {
    lua_pushvalue(L, 1);
    lua_tostring(L, -1);
    return 1;
  }
  lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  return 1;
}

const char *al_error_tostring(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TSTRING) {   /* the common case needs no protected call */
    lua_pushvalue(L, idx);
    return lua_tostring(L, -1);
  }
  lua_pushcfunction(L, to_text);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) return lua_tostring(L, -1);
  const char *why = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1);
  lua_pushfstring(L, "(a %s error value whose __tostring failed: %s)", luaL_typename(L, idx), why);
  lua_remove(L, -2);
  return lua_tostring(L, -1);
}

/* {====================================================== module */

/* Pushes "<pre><field><post>" for field 'f' of the error at 1 and returns 1, or pushes nothing
** and returns 0 when the field is absent. */
static int piece(lua_State *L, const char *f, const char *pre, const char *post) {
  int t = lua_getfield(L, 1, f);
  if (t == LUA_TNIL || t == LUA_TBOOLEAN) { lua_pop(L, 1); return 0; }
  const char *s = luaL_tolstring(L, -1, NULL);
  lua_pushfstring(L, "%s%s%s", pre, s, post);
  lua_replace(L, -3);
  lua_pop(L, 1);
  return 1;
}

/* "kind: METHOD url: HTTP status: code: message (after N attempts)", absent parts left out. */
static int error_tostring(lua_State *L) {
  al_checktype(L, 1, LUA_TTABLE, "error:__tostring");
  lua_settop(L, 1);
  int n = piece(L, "kind", "", ": ");
  int m = piece(L, "method", "", "");
  int u = piece(L, "url", m ? " " : "", "");
  n += m + u;
  if (m || u) { lua_pushliteral(L, ": "); n++; }
  n += piece(L, "status", "HTTP ", ": ");
  lua_getfield(L, 1, "code");
  lua_getfield(L, 1, "message");
  int dup = lua_isstring(L, -2) && lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!dup) n += piece(L, "code", "", ": ");
  if (!piece(L, "message", "", "")) lua_pushliteral(L, "(no message)");
  n++;
  lua_getfield(L, 1, "attempts");
  lua_Integer k = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (k > 1) { lua_pushfstring(L, " (after %d attempts)", (int)k); n++; }
  lua_concat(L, n);
  al_secret_mask(L, -1);    /* any field may carry what a server echoed */
  return 1;
}

/* The text fields a server's answer can fill, masked when the error is made. */
static void mask_fields(lua_State *L) {
  static const char *const fields[] = {"message", "code", "url", NULL};
  for (int i = 0; fields[i]; i++) {
    if (lua_getfield(L, 1, fields[i]) == LUA_TSTRING) {
      al_secret_mask(L, -1);
      lua_setfield(L, 1, fields[i]);
    }
    lua_pop(L, 1);
  }
}

/* error.new{kind =, message =, ...}: stamps a table as an error object (kind defaults to "api"). */
static int error_new(lua_State *L) {
  al_checktype(L, 1, LUA_TTABLE, "error.new");
  lua_settop(L, 1);
  if (lua_getfield(L, 1, "kind") == LUA_TNIL) {
    lua_pushliteral(L, "api");
    lua_setfield(L, 1, "kind");
  }
  if (lua_getfield(L, 1, "retryable") == LUA_TNIL) {
    lua_pushboolean(L, 0);
    lua_setfield(L, 1, "retryable");
  }
  lua_settop(L, 1);
  mask_fields(L);
  luaL_setmetatable(L, ERROR_MT);
  return 1;
}

static int error_is(lua_State *L) {
  int ok = 0;
  if (lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, ERROR_MT);
    ok = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  if (ok && !lua_isnoneornil(L, 2)) ok = al_error_kind_is(L, 1, al_checklstring(L, 2, NULL, "error.is"));
  lua_pushboolean(L, ok);
  return 1;
}

/* error.raise(t): new(t) then error(t, level) without position information. */
static int error_raise(lua_State *L) {
  al_checktype(L, 1, LUA_TTABLE, "error.raise");
  error_new(L);
  return lua_error(L);
}

int luaopen_autolua_error(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"new", error_new}, {"is", error_is}, {"raise", error_raise}, {NULL, NULL}};
  if (luaL_newmetatable(L, ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "autolua.error");
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  luaL_getmetatable(L, ERROR_MT);
  lua_setfield(L, -2, "metatable");
  return 1;
}

/* }====================================================== */
