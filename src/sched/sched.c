/*
** Task scheduler: coroutines, a run queue, and the park/wake primitive. See sched.h.
*/
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "sched.h"
#include "runtime.h"
#include "lerror.h"

#define TASK_MT "autolua.task"

/* The value a parking C function yields: tells the scheduler (and the coroutine wrappers that
** pass it through nested coroutines) that the task waits for the core. */
static char parkkey;
#define PARK ((void *)&parkkey)

void *al_park_key(void) { return PARK; }
int al_is_park(void *p) { return p == PARK; }

/* A pass over the run queue resumes at most this many tasks before letting I/O in. */
#define DRAIN_BATCH 4096

/* {====================================================== queues */

void al_q_push(al_queue *q, al_task *t) {
  t->q_next = NULL;
  t->q_prev = q->tail;
  if (q->tail) q->tail->q_next = t; else q->head = t;
  q->tail = t;
  t->q_in = q;
  q->n++;
}

void al_q_remove(al_task *t) {
  al_queue *q = t->q_in;
  if (!q) return;
  if (t->q_prev) t->q_prev->q_next = t->q_next; else q->head = t->q_next;
  if (t->q_next) t->q_next->q_prev = t->q_prev; else q->tail = t->q_prev;
  t->q_prev = t->q_next = NULL;
  t->q_in = NULL;
  q->n--;
}

al_task *al_q_pop(al_queue *q) {
  al_task *t = q->head;
  if (t) al_q_remove(t);
  return t;
}

/* }====================================================== */

static void rq_push(al_sched *s, al_task *t) {
  t->rq_next = NULL;
  if (s->rq_tail) s->rq_tail->rq_next = t; else s->rq_head = t;
  s->rq_tail = t;
}

static void enqueue(al_runtime *rt, al_task *t) {
  rq_push(&rt->sched, t);
  if (!ev_is_active(&rt->sched.idle)) ev_idle_start(rt->loop, &rt->sched.idle);
}

void al_wake(al_task *t, int n) {
  if (t->state != AL_PARKED) {  /* a second wake of the same park: drop its values */
    lua_pop(t->co, n);
    return;
  }
  t->on_cancel = NULL;
  t->nargs = n;
  t->state = AL_READY;
  enqueue(t->rt, t);
}

/* {====================================================== spawn and finish */

static void all_link(al_sched *s, al_task *t) {
  t->all_prev = NULL;
  t->all_next = s->all;
  if (s->all) s->all->all_prev = t;
  s->all = t;
  s->live++;
}

static void all_unlink(al_sched *s, al_task *t) {
  if (t->all_prev) t->all_prev->all_next = t->all_next; else s->all = t->all_next;
  if (t->all_next) t->all_next->all_prev = t->all_prev;
  t->all_prev = t->all_next = NULL;
  s->live--;
}

al_task *al_task_spawn(lua_State *L, int nargs) {
  al_runtime *rt = al_runtime_of(L);
  luaL_checktype(L, -(nargs + 1), LUA_TFUNCTION);
  al_task *t = lua_newuserdatauv(L, sizeof *t, 1);
  memset(t, 0, sizeof *t);
  luaL_setmetatable(L, TASK_MT);
  t->rt = rt;
  t->co = lua_newthread(L);
  if (!lua_checkstack(t->co, nargs + 1)) al_error_raise(L, "argument", "task.spawn: too many arguments (%d)", nargs);
  al_mark_task_thread(t->co);
  lua_setiuservalue(L, -2, 1);               /* the handle keeps its coroutine alive */
  lua_insert(L, -(nargs + 2));                /* handle below function and arguments */
  lua_xmove(L, t->co, nargs + 1);
  lua_pushvalue(L, -1);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);    /* alive until finished and observed */
  t->nargs = nargs;
  t->state = AL_NEW;
  ev_init(&t->timer, NULL);
  all_link(&rt->sched, t);
  enqueue(rt, t);
  return t;
}

al_task *al_task_check(lua_State *L, int idx, const char *fname) {
  return al_checkudata(L, idx, TASK_MT, fname, "a task");
}

static void release(al_task *t) {
  if (t->ref != LUA_NOREF) {
    luaL_unref(t->rt->L, LUA_REGISTRYINDEX, t->ref);
    t->ref = LUA_NOREF;
  }
}

static int is_cancel_error(lua_State *co) {
  return al_error_kind_is(co, -1, "cancelled");
}

/* Keeps the error and a traceback on the dead coroutine: [err, traceback]. */
static void keep_failure(al_task *t) {
  lua_State *L = t->rt->L;
  const char *msg = al_error_tostring(t->co, -1);
  luaL_traceback(L, t->co, msg, 0);
  lua_pop(t->co, 1);                          /* the string al_error_tostring left */
#if LUA_VERSION_RELEASE_NUM >= 50406
  lua_closethread(t->co, NULL);               /* runs pending to-be-closed variables */
#else
  lua_resetthread(t->co);
#endif
  lua_settop(t->co, 1);                       /* the error object stays at 1 */
  lua_xmove(L, t->co, 1);
}

static void wake_waiters(al_task *t) {
  al_task *w;
  while ((w = al_q_pop(&t->waiters)) != NULL) al_wake(w, 0);
}

static void finish(al_task *t, int status, int nres) {
  al_runtime *rt = t->rt;
  all_unlink(&rt->sched, t);
  if (status == LUA_OK) {
    t->state = AL_DONE;
    t->nres = nres;
  } else if (t->cancelled && is_cancel_error(t->co)) {
    t->state = AL_CANCELLED;
    lua_settop(t->co, 0);
    lua_pushnil(t->co);
  } else {
    if (status != LUA_ERRRUN) lua_settop(t->co, 0), lua_pushstring(t->co, "error in error handling");
    t->state = AL_FAILED;
    keep_failure(t);
  }
  if (t->waiters.n > 0) t->observed = 1;
  wake_waiters(t);
  if (t->is_main) {
    if (t->state == AL_FAILED) {
      t->observed = 1;
      al_runtime_report(rt, NULL, lua_tostring(t->co, 2));
      if (rt->exit_code == 0) rt->exit_code = 1;
      al_sched_cancel_all(rt);
    }
  }
  if (t->state == AL_FAILED && !t->observed && al_runtime_unobserved(rt, t)) t->observed = 1;
  if (t->state == AL_FAILED && !t->observed) al_q_push(&rt->sched.failed, t);
  else release(t);
}

/* }====================================================== */

/* {====================================================== run queue */

static void resume(al_runtime *rt, al_task *t) {
  int nres;
  lua_State *co = t->co;
  if (t->state == AL_NEW && t->cancelled) {
    lua_settop(co, 0);
    al_error_push(co, "cancelled", "task cancelled before it started");
    finish(t, LUA_ERRRUN, 0);
    return;
  }
  t->state = AL_RUNNING;
  rt->sched.current = t;
  int st = lua_resume(co, NULL, t->nargs, &nres);
  rt->sched.current = NULL;
  t->nargs = 0;
  if (st == LUA_YIELD) {
    int parked = nres > 0 && lua_touserdata(co, -1) == PARK;
    lua_pop(co, nres);
    if (!parked) {          /* a bare coroutine.yield() in a task: give others a turn */
      t->state = AL_READY;
      enqueue(rt, t);
    } else if (t->state == AL_RUNNING) {
      t->state = AL_PARKED;
    }
    return;
  }
  finish(t, st, st == LUA_OK ? lua_gettop(co) : 0);
}

void al_sched_drain(al_runtime *rt) {
  al_sched *s = &rt->sched;
  for (int i = 0; i < DRAIN_BATCH && s->rq_head; i++) {
    al_task *t = s->rq_head;
    s->rq_head = t->rq_next;
    if (!s->rq_head) s->rq_tail = NULL;
    resume(rt, t);
  }
  if (!s->rq_head && ev_is_active(&s->idle)) ev_idle_stop(rt->loop, &s->idle);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents) {
  (void)loop; (void)revents;
  al_sched_drain(w->data);
}

static void on_check(struct ev_loop *loop, ev_check *w, int revents) {
  (void)loop; (void)revents;
  al_sched_drain(w->data);
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents) {
  (void)loop; (void)w; (void)revents;   /* only there to make the poll not block */
}

void al_sched_init(al_runtime *rt) {
  al_sched *s = &rt->sched;
  memset(s, 0, sizeof *s);
  ev_prepare_init(&s->prepare, on_prepare);
  ev_check_init(&s->check, on_check);
  ev_idle_init(&s->idle, on_idle);
  s->prepare.data = s->check.data = rt;
  ev_prepare_start(rt->loop, &s->prepare);
  ev_check_start(rt->loop, &s->check);
  ev_unref(rt->loop);                   /* the hooks alone do not keep the loop running */
  ev_unref(rt->loop);
}

/* }====================================================== */

/* {====================================================== parking */

al_task *al_task_current(lua_State *L, const char *what) {
  al_task *t = al_runtime_of(L)->sched.current;
  if (!t || !lua_isyieldable(L))
    al_error_raise(L, "argument", "%s cannot wait here: not inside a task, or across a C-call "
                   "boundary (a metamethod, an iterator of a C function, table.sort)", what);
  return t;
}

int al_raise_cancelled(lua_State *L) {
  al_error_push(L, "cancelled", "task cancelled");
  return lua_error(L);
}

static int parkk(lua_State *L, int status, lua_KContext ctx) {
  al_task *t = (al_task *)ctx;
  if (t->cancelled) {
    lua_settop(L, t->kbase);
    return al_raise_cancelled(L);
  }
  return t->k(L, status, t->kctx);
}

int al_park(lua_State *L, al_task *t, al_cancel_fn on_cancel, lua_KContext ctx, lua_KFunction k) {
  /* set before the hook can run: it finds what to undo in 'kctx', and a stale one (the last
  ** park's request, freed already) would be undone twice */
  t->k = k;
  t->kctx = ctx;
  if (t->cancelled) {
    if (on_cancel) { t->on_cancel = on_cancel; on_cancel(t); t->on_cancel = NULL; }
    return al_raise_cancelled(L);
  }
  t->on_cancel = on_cancel;
  t->kbase = lua_gettop(L);
  if (t->state == AL_RUNNING) t->state = AL_PARKED;
  lua_pushlightuserdata(L, PARK);
  return lua_yieldk(L, 1, (lua_KContext)t, parkk);
}

int al_park_nvals(lua_State *L, al_task *t) {
  return lua_gettop(L) - t->kbase;
}

void al_task_cancel(al_task *t) {
  if (t->state >= AL_DONE || t->cancelled) return;
  t->cancelled = 1;
  if (t->state == AL_PARKED) {
    al_cancel_fn fn = t->on_cancel;
    t->on_cancel = NULL;
    if (fn) fn(t);
    if (t->state == AL_PARKED) al_wake(t, 0);   /* the hook may have woken it already */
  }
}

void al_sched_cancel_all(al_runtime *rt) {
  rt->exiting = 1;
  for (al_task *t = rt->sched.all, *next; t; t = next) {
    next = t->all_next;
    al_task_cancel(t);
  }
}

/* }====================================================== */

/* Puts the running task back at the end of the run queue and parks it: others run first. */
int al_yield(lua_State *L, al_task *t, lua_KFunction k) {
  t->state = AL_READY;
  t->nargs = 0;
  enqueue(t->rt, t);
  return al_park(L, t, NULL, 0, k);
}
