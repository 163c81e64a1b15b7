/* The built-in C modules and the hooks that patch Lua's standard library. */
#ifndef AUTOLUA_MODULES_H
#define AUTOLUA_MODULES_H

#include <lua.h>

int luaopen_autolua_error(lua_State *L);
int luaopen_autolua_task_core(lua_State *L);
int luaopen_autolua_http_core(lua_State *L);
int luaopen_autolua_limiter(lua_State *L);
int luaopen_autolua_sys(lua_State *L);
int luaopen_autolua_digest(lua_State *L);
int luaopen_autolua_line(lua_State *L);
int luaopen_autolua_secret(lua_State *L);
int luaopen_dexi_core(lua_State *L);
int luaopen_autolua_luacli_core(lua_State *L);
int luaopen_autolua_serve_core(lua_State *L);
int luaopen_autolua_store_core(lua_State *L);

void al_coro_install(lua_State *L);   /* coroutine.resume/wrap that pass parks on */
void al_sys_install(lua_State *L);    /* os.exit that cleans up */
void al_sys_drop_temps(lua_State *L); /* removes sys.tmpfile's files not committed (at exit) */

#endif
