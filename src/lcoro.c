/*
** coroutine.resume and coroutine.wrap, made to pass a task's park through nested coroutines:
** when a coroutine running inside a task waits for the core (an HTTP request inside a
** coroutine.wrap iterator, say), its park is yielded on outwards to the scheduler, and the
** values that wake it are handed back in. Everything else behaves as in Lua's own library.
*/
#include <lauxlib.h>
#include "modules.h"
#include "sched.h"
#include "lerror.h"

static lua_State *getco(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  if (!co) al_argerror(L, "coroutine.resume", "argument #1 must be a coroutine, got %s", luaL_typename(L, 1));
  return co;
}

static int resumek(lua_State *L, int status, lua_KContext ctx);

/* Resumes 'co' (argument 1) with 'narg' values already moved to it. Returns the number of
** results pushed on L: true + values, or false + error (the 'wrap' flavour raises instead). */
static int run(lua_State *L, lua_State *co, int narg, int wrap) {
  int nres;
  int st = lua_resume(co, L, narg, &nres);
  if (st == LUA_YIELD && nres > 0 && al_is_park(lua_touserdata(co, -1))) {
    lua_pop(co, nres);
    lua_settop(L, 1);
    lua_pushlightuserdata(L, al_park_key());
    return lua_yieldk(L, 1, (lua_KContext)wrap, resumek);   /* on to the scheduler */
  }
  if (st == LUA_OK || st == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      return al_error_raise(L, "argument", "coroutine.resume: too many results to resume");
    }
    if (!wrap) lua_pushboolean(L, 1);
    lua_xmove(co, L, nres);
    return nres + !wrap;
  }
  lua_xmove(co, L, 1);   /* the error */
  if (!wrap) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
#if LUA_VERSION_RELEASE_NUM >= 50406
  lua_closethread(co, L);
#else
  lua_resetthread(co);
#endif
  if (lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

/* The task was woken: its values go into the nested coroutine, which goes on. */
static int resumek(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lua_State *co = lua_tothread(L, 1);
  int n = lua_gettop(L) - 1;
  lua_xmove(L, co, n);
  return run(L, co, n, (int)ctx);
}

static int co_resume(lua_State *L) {
  lua_State *co = getco(L);
  int narg = lua_gettop(L) - 1;
  if (!lua_checkstack(co, narg)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "too many arguments to resume");
    return 2;
  }
  lua_xmove(L, co, narg);
  return run(L, co, narg, 0);
}

static int wrapped(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int narg = lua_gettop(L);
  if (!lua_checkstack(co, narg)) return al_error_raise(L, "argument", "coroutine.wrap: too many arguments to resume");
  lua_xmove(L, co, narg);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);                    /* 'run' expects the coroutine at 1 */
  return run(L, co, narg, 1);
}

static int co_wrap(lua_State *L) {
  al_checktype(L, 1, LUA_TFUNCTION, "coroutine.wrap");
  lua_State *co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, wrapped, 1);
  return 1;
}

void al_coro_install(lua_State *L) {
  lua_getglobal(L, "coroutine");
  lua_pushcfunction(L, co_resume);
  lua_setfield(L, -2, "resume");
  lua_pushcfunction(L, co_wrap);
  lua_setfield(L, -2, "wrap");
  lua_pop(L, 1);
}
