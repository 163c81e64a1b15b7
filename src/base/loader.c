/*
** The module searcher for autolua's Lua sources (see loader.h).
*/
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "loader.h"
#include "lerror.h"

static const al_embedded *find_embedded(const char *name) {
  for (const al_embedded *m = al_embedded_modules; m->name; m++)
    if (strcmp(m->name, name) == 0) return m;
  return NULL;
}

/* Tries AUTOLUA_PATH/<a/b>.lua then AUTOLUA_PATH/<a/b>/init.lua; 1 when one was loaded, 0
** with "no file" lines for require's message when neither is there, -1 on a load error. */
static int load_from_tree(lua_State *L, const char *root, const char *name) {
  static const char *const forms[] = {"%s/%s.lua", "%s/%s/init.lua"};
  const char *rel = luaL_gsub(L, name, ".", "/");
  for (int i = 0; i < 2; i++) {
    const char *path = lua_pushfstring(L, forms[i], root, rel);
    int st = luaL_loadfilex(L, path, "t");
    if (st == LUA_OK) {
      lua_remove(L, -3);                 /* rel */
      lua_insert(L, -2);                 /* chunk, path */
      lua_pop(L, 1);
      return 1;
    }
    if (st != LUA_ERRFILE) { lua_remove(L, -2); lua_remove(L, -2); return -1; }
    lua_pop(L, 2);
  }
  lua_pushfstring(L, "no file '%s/%s.lua'\n\tno file '%s/%s/init.lua'", root, rel, root, rel);
  lua_remove(L, -2);
  return 0;
}

int al_loader_load(lua_State *L, const char *name) {
  const char *root = getenv("AUTOLUA_PATH");
  int tried = 0;
  if (root && *root) {
    int r = load_from_tree(L, root, name);
    if (r != 0) return r > 0 ? 0 : -1;
    tried = 1;
  }
  const al_embedded *m = find_embedded(name);
  if (!m) {
    if (!tried) lua_pushliteral(L, "");
    return 1;
  }
  if (tried) lua_pop(L, 1);
  lua_pushfstring(L, "@[autolua]/%s", m->file);
  int st = luaL_loadbufferx(L, m->src, m->len, lua_tostring(L, -1), "t");
  lua_remove(L, -2);
  return st == LUA_OK ? 0 : -1;
}

/* Like Lua's own searchers: a message without the "\n\t" that require puts before each, and
** none at all for a module that is not one of ours and had no file to look for. */
static int searcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  int r = al_loader_load(L, name);
  if (r == 0) {
    lua_pushliteral(L, ":autolua:");
    return 2;
  }
  if (r > 0) return lua_rawlen(L, -1) > 0 ? 1 : 0;
  return lua_error(L);   /* a syntax error in one of our modules */
}

/* help(...): a global that loads autolua.help on first use and calls its show(). */
static int help_global(lua_State *L) {
  int n = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "autolua.help");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "show");
  lua_remove(L, -2);
  lua_insert(L, 1);
  lua_call(L, n, 0);
  return 0;
}

void al_loader_install(lua_State *L) {
  lua_pushcfunction(L, help_global);
  lua_setglobal(L, "help");
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  for (lua_Integer i = luaL_len(L, -1); i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, searcher);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}
