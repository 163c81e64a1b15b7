/*
** autolua.task.core: spawn, wait, cancel, sleep, now, and the park/wake pair that Lua code
** (task.all, task.map) builds on. lua/autolua/task.lua completes the module.
*/
#include <string.h>
#include <lauxlib.h>
#include "sched.h"
#include "clock.h"
#include "lerror.h"

static const char *const state_names[] = {
  "new", "ready", "running", "waiting", "done", "failed", "cancelled"};

static int l_spawn(lua_State *L) {
  if (lua_type(L, 1) != LUA_TFUNCTION)
    return al_argerror(L, "task.spawn", "expects a function, got %s", luaL_typename(L, 1));
  al_task_spawn(L, lua_gettop(L) - 1);
  return 1;
}

/* {====================================================== wait */

/* Pushes the results of a finished task 't' (argument 1), or raises its error. */
static int results(lua_State *L, al_task *t) {
  if (t->state == AL_DONE) {
    luaL_checkstack(L, t->nres, "too many results");
    for (int i = 1; i <= t->nres; i++) {
      lua_pushvalue(t->co, i);
      lua_xmove(t->co, L, 1);
    }
    return t->nres;
  }
  if (t->state == AL_CANCELLED) {
    al_error_push(L, "cancelled", "the task waited for was cancelled");
    return lua_error(L);
  }
  t->observed = 1;
  if (t->q_in == &t->sched->failed) {
    al_queue_remove(t);
    luaL_unref(L, LUA_REGISTRYINDEX, t->ref);   /* argument 1 keeps it alive for now */
    t->ref = LUA_NOREF;
  }
  lua_pushvalue(t->co, 1);
  lua_xmove(t->co, L, 1);
  return lua_error(L);
}

static int waitk(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  lua_settop(L, 1);
  return results(L, al_task_check(L, 1, "task:wait"));
}

static void cancel_wait(al_task *me) { al_queue_remove(me); }

static int l_wait(lua_State *L) {
  al_task *t = al_task_check(L, 1, "task:wait");
  lua_settop(L, 1);
  if (t->state >= AL_DONE) return results(L, t);
  al_task *me = al_task_current(L, "task:wait");
  if (me == t) return al_argerror(L, "task:wait", "a task cannot wait for itself");
  al_queue_push(&t->waiters, me);
  return al_task_park(L, me, cancel_wait, 0, waitk);
}

/* }====================================================== */

static int l_cancel(lua_State *L) {
  al_task_cancel(al_task_check(L, 1, "task:cancel"));
  return 0;
}

static int l_status(lua_State *L) {
  lua_pushstring(L, state_names[al_task_check(L, 1, "task:status")->state]);
  return 1;
}

static int l_tostring(lua_State *L) {
  al_task *t = al_task_check(L, 1, "task:__tostring");
  lua_pushfstring(L, "task (%s): %p", state_names[t->state], (void *)t);
  return 1;
}

static int l_gc(lua_State *L) {
  al_task *t = al_task_check(L, 1, "task:__gc");
  if (ev_is_active(&t->timer)) ev_timer_stop(t->sched->loop, &t->timer);
  return 0;
}

/* {====================================================== sleep, now, yield */

static int donek(lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status; (void)ctx;
  return 0;
}

static void on_sleep(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop; (void)revents;
  al_task_wake(w->data, 0);
}

static void cancel_sleep(al_task *t) { ev_timer_stop(t->sched->loop, &t->timer); }

static int l_sleep(lua_State *L) {
  double s = al_checknumber(L, 1, "task.sleep");
  al_task *t = al_task_current(L, "task.sleep");
  lua_settop(L, 0);
  if (!(s > 0)) return al_task_yield(L, t, donek);
  struct ev_loop *loop = t->sched->loop;
  ev_init(&t->timer, on_sleep);
  t->timer.data = t;
  ev_now_update(loop);
  ev_timer_set(&t->timer, s, 0.);
  ev_timer_start(loop, &t->timer);
  return al_task_park(L, t, cancel_sleep, 0, donek);
}

static int l_yield(lua_State *L) {
  al_task *t = al_task_current(L, "task.yield");
  lua_settop(L, 0);
  return al_task_yield(L, t, donek);
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, al_clock_now());
  return 1;
}

static int l_current(lua_State *L) {
  al_task *t = al_sched_of(L)->current;
  if (!t) lua_pushnil(L);
  else lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
  return 1;
}

/* }====================================================== */

/* {====================================================== park and wake, for Lua code */

static int parkedk(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return al_task_park_nvals(L, al_sched_of(L)->current);
}

/* core.park(): parks the running task until core.wake(t, ...) passes it values. */
static int l_park(lua_State *L) {
  al_task *t = al_task_current(L, "task.park");
  lua_settop(L, 0);
  t->lua_parked = 1;                   /* cleared by the wake or cancellation that ends it */
  return al_task_park(L, t, NULL, 0, parkedk);
}

/* core.wake(t, ...) -> bool: wakes a task parked by core.park (and nothing else). */
static int l_wake(lua_State *L) {
  al_task *t = al_task_check(L, 1, "task.wake");
  int n = lua_gettop(L) - 1;
  if (t->state != AL_PARKED || !t->lua_parked) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (!lua_checkstack(t->co, n)) return al_error_raise(L, "argument", "task.wake: too many values (%d)", n);
  lua_xmove(L, t->co, n);
  al_task_wake(t, n);
  lua_pushboolean(L, 1);
  return 1;
}

/* }====================================================== */

/* {====================================================== for the REPL */

/* core.others() -> {task...}: the live tasks but the running one and the main one. */
static int l_others(lua_State *L) {
  al_sched *s = al_sched_of(L);
  lua_newtable(L);
  int n = 0;
  for (al_task *t = s->all; t; t = t->all_next) {
    if (t == s->current || t->is_main || t->ref == LUA_NOREF) continue;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* core.on_failure(fn): fn(err, traceback) hears of each task that fails with nobody waiting
** for it, when it fails, instead of at the end of the run (which then does not fail for it). */
static int l_on_failure(lua_State *L) {
  al_checktype(L, 1, LUA_TFUNCTION, "task.on_failure");
  al_sched *s = al_sched_of(L);
  if (s->failure_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, s->failure_ref);
  lua_pushvalue(L, 1);
  s->failure_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

/* }====================================================== */

void al_task_pushmeta(lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__tostring", l_tostring}, {"__gc", l_gc}, {"__index", NULL}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
    {"wait", l_wait}, {"cancel", l_cancel}, {"status", l_status}, {NULL, NULL}};
  if (!luaL_newmetatable(L, AL_TASK_MT)) return;
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
}

int luaopen_autolua_task_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"spawn", l_spawn}, {"sleep", l_sleep}, {"yield", l_yield}, {"now", l_now},
    {"current", l_current}, {"park", l_park}, {"wake", l_wake},
    {"others", l_others}, {"on_failure", l_on_failure}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
