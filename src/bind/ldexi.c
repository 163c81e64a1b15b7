/*
** dexi.core: the file pointer parser for Lua. dexi.file_pointer (lua/dexi/init.lua) wraps it.
*/
#include <lauxlib.h>
#include "fileptr.h"
#include "modules.h"

/* parse_pointer(v) -> {mime =, size =, id =, extra = {...}} or nil, reason */
static int l_parse_pointer(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    lua_pushnil(L);
    lua_pushfstring(L, "not a string but a %s", luaL_typename(L, 1));
    return 2;
  }
  size_t n;
  const char *s = lua_tolstring(L, 1, &n);
  al_fileptr fp;
  const char *why = al_fileptr_parse(s, n, &fp);
  if (why) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
  }
  lua_createtable(L, 0, 4);
  lua_pushlstring(L, fp.mime.p, fp.mime.n);
  lua_setfield(L, -2, "mime");
  lua_pushinteger(L, (lua_Integer)fp.size);
  lua_setfield(L, -2, "size");
  lua_pushlstring(L, fp.id.p, fp.id.n);
  lua_setfield(L, -2, "id");
  lua_createtable(L, fp.nextra, 0);
  for (int i = 0; i < fp.nextra; i++) {
    lua_pushlstring(L, fp.extra[i].p, fp.extra[i].n);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "extra");
  return 1;
}

int luaopen_dexi_core(lua_State *L) {
  static const luaL_Reg funcs[] = {{"parse_pointer", l_parse_pointer}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
