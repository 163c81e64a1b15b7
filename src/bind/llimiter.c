/*
** autolua.limiter: limiters as userdata, with a FIFO queue of parked tasks woken by one timer.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include "modules.h"
#include "clock.h"
#include "quota.h"
#include "llimiter.h"
#include "lerror.h"
#include "sched.h"

#define REGISTRY_KEY "autolua.limiters"

/* A task waiting for a limiter: the limiter's own record, in its FIFO, not fields of the task.
** The token names the park it waits in; a wake for another one is dropped. */
typedef struct waiter {
  al_task *t;
  struct al_limiter *l;
  unsigned token;
  double want;               /* units asked for */
  double parked_at;          /* when it started waiting */
  ev_timer max_wait;
  struct waiter *prev, *next;
} waiter;

struct al_limiter {
  al_quota lim;
  al_sched *sched;
  struct { waiter *head, *tail; int n; } waiting;
  ev_timer timer;
  double acquired, waited;
  char key[64];
};

al_limiter *al_limiter_check(lua_State *L, int idx, const char *fname) {
  return al_checkudata(L, idx, AL_LIMITER_MT, fname, "a limiter");
}

/* {====================================================== the queue */

static void arm(al_limiter *l) {
  struct ev_loop *loop = l->sched->loop;
  ev_timer_stop(loop, &l->timer);
  if (!l->waiting.head) return;
  double at = al_quota_next(&l->lim, l->waiting.head->want);
  ev_now_update(loop);
  double delay = at - al_clock_now();
  ev_timer_set(&l->timer, delay > 0 ? delay : 0., 0.);
  ev_timer_start(loop, &l->timer);
}

static void enqueue(al_limiter *l, waiter *w) {
  w->next = NULL;
  w->prev = l->waiting.tail;
  if (l->waiting.tail) l->waiting.tail->next = w; else l->waiting.head = w;
  l->waiting.tail = w;
  l->waiting.n++;
}

/* Takes 'w' out of the queue and frees it, its timer stopped. */
static void drop(al_limiter *l, waiter *w) {
  if (w->prev) w->prev->next = w->next; else l->waiting.head = w->next;
  if (w->next) w->next->prev = w->prev; else l->waiting.tail = w->prev;
  l->waiting.n--;
  ev_timer_stop(l->sched->loop, &w->max_wait);
  free(w);
}

/* Wakes the waiter's task with 'ok' as the admission flag and drops the record. */
static void release(al_limiter *l, waiter *w, int ok) {
  al_task *t = w->t;
  unsigned token = w->token;
  drop(l, w);
  lua_pushboolean(t->co, ok);
  al_task_wake_park(t, token, 1);
}

/* How late a timer may run and still count as on time: the poll's millisecond rounding. */
#define ON_TIME 0.002

/* A queued task is charged at its scheduled time when the timer ran about on time, so the
** timer's rounding never accumulates into drift. A wake-up much later than that (the machine
** was busy) is charged when it really went: charging it at the schedule would let the next
** requests catch up and crowd into the same window as this one. */
static void admit(al_limiter *l, waiter *w, double at, double now) {
  int spaced = l->lim.kind == AL_QUOTA_RATE || l->lim.backlogged;
  al_quota_take(&l->lim, spaced && now - at <= ON_TIME ? at : now, w->want);
  l->acquired += w->want;
  l->waited += now - w->parked_at;
  release(l, w, 1);
}

static void service(al_limiter *l) {
  double now = al_clock_now();
  waiter *w;
  while ((w = l->waiting.head) != NULL) {
    double at = al_quota_next(&l->lim, w->want);
    if (at > now) break;
    admit(l, w, at, now);
  }
  /* a paced window paces only while tasks wait for it */
  if (!l->waiting.head) al_quota_backlog(&l->lim, 0);
  arm(l);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop; (void)revents;
  service(w->data);
}

static void on_max_wait(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop; (void)revents;
  waiter *wr = w->data;
  al_limiter *l = wr->l;
  int was_head = l->waiting.head == wr;
  release(l, wr, 0);
  if (was_head) service(l);
}

static void cancel_wait(al_task *t) {
  waiter *w = t->wait;
  al_limiter *l = w->l;
  int was_head = l->waiting.head == w;
  t->wait = NULL;
  drop(l, w);
  if (was_head) service(l);
}

/* }====================================================== */

/* {====================================================== acquisition */

void al_limiter_admitted(lua_State *L, al_limiter *l) {
  int ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!ok)
    al_error_raise(L, "rate_limited", "waited longer than max_wait for limiter%s%s",
                   l->key[0] ? " " : "", l->key);
}

int al_limiter_acquire(lua_State *L, al_limiter *l, double n, double max_wait,
                       lua_KContext ctx, lua_KFunction k) {
  if (!(n > 0) || n > al_quota_capacity(&l->lim))
    return al_argerror(L, "limiter:acquire", "cannot take %f units at once (capacity %f)", n,
                       al_quota_capacity(&l->lim));
  double now = al_clock_now();
  if (!l->waiting.head && al_quota_next(&l->lim, n) <= now) {
    al_quota_take(&l->lim, now, n);
    l->acquired += n;
    return 1;
  }
  al_task *t = al_task_current(L, "limiter:acquire");
  if (max_wait == 0) {
    al_error_push(L, "rate_limited", "limiter%s%s has no room now and max_wait is 0",
                  l->key[0] ? " " : "", l->key);
    return lua_error(L);
  }
  waiter *w = malloc(sizeof *w);
  if (!w) {                           /* what Lua raises when its own allocation fails */
    lua_pushliteral(L, "not enough memory");
    return lua_error(L);
  }
  *w = (waiter){.t = t, .l = l, .token = al_task_park_token(t), .want = n, .parked_at = now};
  ev_init(&w->max_wait, on_max_wait);
  w->max_wait.data = w;
  al_quota_backlog(&l->lim, 1);
  enqueue(l, w);
  if (l->waiting.head == w) arm(l);
  if (max_wait > 0) {
    ev_now_update(l->sched->loop);
    ev_timer_set(&w->max_wait, max_wait, 0.);
    ev_timer_start(l->sched->loop, &w->max_wait);
  }
  t->wait = w;
  return al_task_park(L, t, cancel_wait, ctx, k);
}

/* }====================================================== */

/* {====================================================== Lua API */

static double opt_number(lua_State *L, int t, const char *field, double def, const char *fname) {
  int ty = lua_getfield(L, t, field);
  double v = def;
  if (ty == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (ty != LUA_TNIL) al_argerror(L, fname, "'%s' must be a number, got %s", field, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

/* With a key, returns the limiter already registered under it (the first definition wins),
** leaving it on the stack; otherwise returns NULL. */
static al_limiter *lookup(lua_State *L, const char **key, const char *fname) {
  *key = NULL;
  if (lua_getfield(L, 1, "key") == LUA_TNIL) { lua_pop(L, 1); return NULL; }
  if (lua_type(L, -1) != LUA_TSTRING)
    al_argerror(L, fname, "'key' must be a string, got %s", luaL_typename(L, -1));
  *key = lua_tostring(L, -1);
  lua_pop(L, 1);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, REGISTRY_KEY);
  if (lua_getfield(L, -1, *key) != LUA_TNIL) {
    lua_remove(L, -2);
    return lua_touserdata(L, -1);
  }
  lua_pop(L, 2);
  return NULL;
}

static al_limiter *newlimiter(lua_State *L, const char *key) {
  al_limiter *l = lua_newuserdatauv(L, sizeof *l, 0);
  memset(l, 0, sizeof *l);
  l->sched = al_sched_of(L);
  ev_init(&l->timer, on_timer);
  l->timer.data = l;
  if (key) snprintf(l->key, sizeof l->key, "'%s'", key);
  luaL_setmetatable(L, AL_LIMITER_MT);
  return l;
}

static void remember(lua_State *L, const char *key) {
  if (!key) return;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, REGISTRY_KEY);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, key);
  lua_pop(L, 1);
}

/* {shared = true}: the limiter lives in the store; autolua.shared_limiter (Lua) builds it. */
static int wants_shared(lua_State *L, const char *fname) {
  int ty = lua_getfield(L, 1, "shared");
  if (ty != LUA_TNIL && ty != LUA_TBOOLEAN)
    al_argerror(L, fname, "'shared' must be a boolean, got %s", luaL_typename(L, -1));
  int on = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return on;
}

static int shared(lua_State *L, const char *kind) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "autolua.shared_limiter");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "new");
  lua_pushstring(L, kind);
  lua_pushvalue(L, 1);
  lua_call(L, 2, 1);
  return 1;
}

static int l_rate(lua_State *L) {
  const char *key;
  al_checktype(L, 1, LUA_TTABLE, "limiter.rate");
  if (wants_shared(L, "limiter.rate")) return shared(L, "rate");
  if (lookup(L, &key, "limiter.rate")) return 1;
  double rate = opt_number(L, 1, "rate", NAN, "limiter.rate");
  double per = opt_number(L, 1, "per", 1, "limiter.rate");
  double burst = opt_number(L, 1, "burst", 1, "limiter.rate");
  al_limiter *l = newlimiter(L, key);
  if (al_quota_init_rate(&l->lim, rate, per, burst) != 0)
    return al_argerror(L, "limiter.rate", "needs rate > 0, per > 0 and burst >= 1");
  remember(L, key);
  return 1;
}

static int l_window(lua_State *L) {
  const char *key;
  al_checktype(L, 1, LUA_TTABLE, "limiter.window");
  if (wants_shared(L, "limiter.window")) return shared(L, "window");
  if (lookup(L, &key, "limiter.window")) return 1;
  double limit = opt_number(L, 1, "limit", NAN, "limiter.window");
  double window = opt_number(L, 1, "window", NAN, "limiter.window");
  int pace = lua_getfield(L, 1, "pace");
  if (pace != LUA_TNIL && pace != LUA_TBOOLEAN)
    return al_argerror(L, "limiter.window", "'pace' must be a boolean, got %s", luaL_typename(L, -1));
  pace = lua_toboolean(L, -1);
  lua_pop(L, 1);
  al_limiter *l = newlimiter(L, key);
  if (!(limit >= 1 && limit <= AL_LIMIT_MAX_WINDOW && limit == floor(limit)) ||
      al_quota_init_window(&l->lim, (int)limit, window) != 0)
    return al_argerror(L, "limiter.window", "needs an integer limit from 1 to %d and window > 0",
                       AL_LIMIT_MAX_WINDOW);
  if (pace) al_quota_pace(&l->lim);
  remember(L, key);
  return 1;
}

static double check_units(lua_State *L, int idx, const char *fname) {
  if (lua_isnoneornil(L, idx) || lua_istable(L, idx)) return 1;
  return al_checknumber(L, idx, fname);
}

static int acquirek(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  al_limiter_admitted(L, al_limiter_check(L, 1, "limiter:acquire"));
  lua_pushboolean(L, 1);
  return 1;
}

/* lim:acquire([n], [{max_wait = s}]) */
static int l_acquire(lua_State *L) {
  al_limiter *l = al_limiter_check(L, 1, "limiter:acquire");
  double n = check_units(L, 2, "limiter:acquire");
  if (!lua_isnoneornil(L, 3)) al_checktype(L, 3, LUA_TTABLE, "limiter:acquire");
  int opts = lua_istable(L, 2) ? 2 : lua_istable(L, 3) ? 3 : 0;
  double max_wait = opts ? opt_number(L, opts, "max_wait", -1, "limiter:acquire") : -1;
  if (opts && max_wait < 0 && max_wait != -1)
    return al_argerror(L, "limiter:acquire", "max_wait must be >= 0");
  lua_settop(L, 1);
  if (al_limiter_acquire(L, l, n, max_wait, 0, acquirek)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  return 0;
}

static int l_try(lua_State *L) {
  al_limiter *l = al_limiter_check(L, 1, "limiter:try");
  double n = check_units(L, 2, "limiter:try");
  double now = al_clock_now();
  int ok = n > 0 && n <= al_quota_capacity(&l->lim) && !l->waiting.head &&
           al_quota_next(&l->lim, n) <= now;
  if (ok) { al_quota_take(&l->lim, now, n); l->acquired += n; }
  lua_pushboolean(L, ok);
  return 1;
}

/* lim:pause_until(t): nothing is admitted before task.now() reaches 't'. */
static int l_pause_until(lua_State *L) {
  al_limiter *l = al_limiter_check(L, 1, "limiter:pause_until");
  al_quota_pause_until(&l->lim, al_checknumber(L, 2, "limiter:pause_until"));
  arm(l);
  return 0;
}

static int l_stats(lua_State *L) {
  al_limiter *l = al_limiter_check(L, 1, "limiter:stats");
  lua_createtable(L, 0, 4);
  lua_pushnumber(L, l->acquired);
  lua_setfield(L, -2, "acquired");
  lua_pushnumber(L, l->waited);
  lua_setfield(L, -2, "waited_seconds");
  lua_pushinteger(L, l->waiting.n);
  lua_setfield(L, -2, "queued");
  double pu = l->lim.paused_until;
  if (pu > al_clock_now()) { lua_pushnumber(L, pu); lua_setfield(L, -2, "paused_until"); }
  return 1;
}

/* limiter.registered() -> {key = limiter}: every keyed limiter, for /metrics. */
static int l_registered(lua_State *L) {
  if (lua_gettop(L) > 0) al_argerror(L, "limiter.registered", "takes no arguments, got %d", lua_gettop(L));
  lua_newtable(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, REGISTRY_KEY);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 1);
  return 1;
}

static int l_tostring(lua_State *L) {
  al_limiter *l = al_limiter_check(L, 1, "limiter:__tostring");
  if (l->lim.kind == AL_QUOTA_RATE)
    lua_pushfstring(L, "limiter.rate%s%s (%f/s, burst %f)", l->key[0] ? " " : "", l->key,
                    1.0 / l->lim.interval, l->lim.burst);
  else
    lua_pushfstring(L, "limiter.window%s%s (%d per %f s%s)", l->key[0] ? " " : "", l->key,
                    l->lim.limit, l->lim.window, l->lim.spacing > 0 ? ", paced when backlogged" : "");
  return 1;
}

static int l_gc(lua_State *L) {
  al_limiter *l = al_limiter_check(L, 1, "limiter:__gc");
  ev_timer_stop(l->sched->loop, &l->timer);
  while (l->waiting.head) drop(l, l->waiting.head);   /* the state closes with tasks waiting */
  al_quota_free(&l->lim);
  return 0;
}

int luaopen_autolua_limiter(lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__gc", l_gc}, {"__tostring", l_tostring}, {"__index", NULL}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
    {"acquire", l_acquire}, {"try", l_try}, {"pause_until", l_pause_until},
    {"stats", l_stats}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"rate", l_rate}, {"window", l_window}, {"registered", l_registered}, {NULL, NULL}};
  luaL_newmetatable(L, AL_LIMITER_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}

/* }====================================================== */
