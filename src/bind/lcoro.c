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
  luaL_argexpected(L, co, 1, "thread");   /* lcorolib's word */
  return co;
}

static int resumek(lua_State *L, int status, lua_KContext ctx);

/* A failed resume inside a wrapper, as lcorolib's auxwrap does it: only a coroutine that died
** of an error is closed (not one the resume never reached, such as a running one), and closing
** it runs its pending __close handlers, whose last error, if any, replaces the body's; then the
** error leaves the dead thread, so a later call finds it empty and "dead". */
static int wrap_error(lua_State *L, lua_State *co) {
  int st = lua_status(co);
  if (st != LUA_OK && st != LUA_YIELD) {
#if LUA_VERSION_RELEASE_NUM >= 50406
    st = lua_closethread(co, L);
#else
    st = lua_resetthread(co);
#endif
  }
  lua_xmove(co, L, 1);       /* the error, from the closed thread or from lua_resume */
  if (st != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

/* Resumes 'co' (argument 1) with 'narg' values already moved to it. Returns the number of
** results pushed on L: true + values, or false + error (the 'wrap' flavour raises instead). */
static int run(lua_State *L, lua_State *co, int narg, int wrap) {
  int nres;
  int st = lua_resume(co, L, narg, &nres);
  if (st == LUA_YIELD && nres > 0 && al_task_is_park(lua_touserdata(co, -1))) {
    lua_pop(co, nres);
    lua_settop(L, 1);
    lua_pushlightuserdata(L, al_task_park_key());
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
  if (!wrap) {
    lua_xmove(co, L, 1);   /* the error */
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  return wrap_error(L, co);
}

/* The task was woken: its values go into the nested coroutine, which goes on. */
static int resumek(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lua_State *co = lua_tothread(L, 1);
  int n = lua_gettop(L) - 1;
  if (!lua_checkstack(co, n)) return al_error_raise(L, "argument", "coroutine.resume: too many values to pass on (%d)", n);
  lua_xmove(L, co, n);
  return run(L, co, n, (int)ctx);
}

static int co_resume(lua_State *L) {
  lua_State *co = getco(L);
  int narg = lua_gettop(L) - 1;
  if (al_task_is_thread(co) && co != L) {   /* only the scheduler resumes a task */
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "cannot resume non-suspended coroutine");
    return 2;
  }
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

/* {====================================================== a task's own thread as the main one
** The main chunk and every task run in coroutines, but to the coroutine library a task's own
** thread is what the main thread is to lua: running() calls it main, it is not yieldable, and
** coroutine.yield() there raises lua's error (task.yield() gives the other tasks a turn). */

static int co_yield(lua_State *L) {
  if (al_task_is_thread(L)) {
    lua_pushliteral(L, "attempt to yield from outside a coroutine");
    return lua_error(L);
  }
  return lua_yield(L, lua_gettop(L));
}

static int co_running(lua_State *L) {
  int ismain = lua_pushthread(L);
  lua_pushboolean(L, ismain || al_task_is_thread(L));
  return 2;
}

static int co_isyieldable(lua_State *L) {
  lua_State *co = lua_isnone(L, 1) ? L : getco(L);
  lua_pushboolean(L, lua_isyieldable(co) && !al_task_is_thread(co));
  return 1;
}

/* Another task's thread is "normal" (alive, and not ours to touch), never "suspended". */
static int co_status(lua_State *L) {
  lua_State *co = getco(L);
  if (co != L && al_task_is_thread(co)) {
    lua_pushliteral(L, "normal");
    return 1;
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

static int co_close(lua_State *L) {
  lua_State *co = getco(L);
  if (co != L && al_task_is_thread(co)) return luaL_error(L, "cannot close a normal coroutine");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* }====================================================== */

/* Replaces coroutine[name] with 'f', which gets the original as its upvalue. */
static void patch(lua_State *L, const char *name, lua_CFunction f) {
  lua_getfield(L, -1, name);
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, -2, name);
}

void al_coro_install(lua_State *L) {
  lua_getglobal(L, "coroutine");
  lua_pushcfunction(L, co_resume);
  lua_setfield(L, -2, "resume");
  lua_pushcfunction(L, co_wrap);
  lua_setfield(L, -2, "wrap");
  lua_pushcfunction(L, co_yield);
  lua_setfield(L, -2, "yield");
  lua_pushcfunction(L, co_running);
  lua_setfield(L, -2, "running");
  lua_pushcfunction(L, co_isyieldable);
  lua_setfield(L, -2, "isyieldable");
  patch(L, "status", co_status);
  patch(L, "close", co_close);
  lua_pop(L, 1);
}
