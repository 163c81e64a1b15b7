/*
** Task scheduler: coroutines, a run queue, and the park/wake primitive. See sched.h.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "sched.h"
#include "lerror.h"
#include "http.h"

/* The value a parking C function yields: tells the scheduler (and the coroutine wrappers that
** pass it through nested coroutines) that the task waits for the core. */
static char parkkey;
#define PARK ((void *)&parkkey)

void *al_task_park_key(void) { return PARK; }
int al_task_is_park(void *p) { return p == PARK; }

/* Every thread's extra space holds the scheduler's address (new threads copy it from the main
** thread); a task's own thread has the lowest bit set as well, which an aligned address never
** has. */
#define TASK_BIT ((uintptr_t)1)

al_sched *al_sched_of(lua_State *L) {
  return (al_sched *)(*(uintptr_t *)lua_getextraspace(L) & ~TASK_BIT);
}

static void mark_task_thread(lua_State *co) {
  *(uintptr_t *)lua_getextraspace(co) |= TASK_BIT;
}

int al_task_is_thread(lua_State *co) {
  return (*(uintptr_t *)lua_getextraspace(co) & TASK_BIT) != 0;
}

/* A pass over the run queue resumes at most this many tasks before letting I/O in. */
#define DRAIN_BATCH 4096

/* {====================================================== queues */

void al_queue_push(al_queue *q, al_task *t) {
  t->q_next = NULL;
  t->q_prev = q->tail;
  if (q->tail) q->tail->q_next = t; else q->head = t;
  q->tail = t;
  t->q_in = q;
  q->n++;
}

void al_queue_remove(al_task *t) {
  al_queue *q = t->q_in;
  if (!q) return;
  if (t->q_prev) t->q_prev->q_next = t->q_next; else q->head = t->q_next;
  if (t->q_next) t->q_next->q_prev = t->q_prev; else q->tail = t->q_prev;
  t->q_prev = t->q_next = NULL;
  t->q_in = NULL;
  q->n--;
}

al_task *al_queue_pop(al_queue *q) {
  al_task *t = q->head;
  if (t) al_queue_remove(t);
  return t;
}

/* }====================================================== */

static void rq_push(al_sched *s, al_task *t) {
  t->rq_next = NULL;
  if (s->rq_tail) s->rq_tail->rq_next = t; else s->rq_head = t;
  s->rq_tail = t;
}

static void enqueue(al_sched *s, al_task *t) {
  rq_push(s, t);
  if (!ev_is_active(&s->idle)) ev_idle_start(s->loop, &s->idle);
}

void al_task_wake(al_task *t, int n) {
  if (t->state != AL_PARKED) {  /* a second wake of the same park: drop its values */
    lua_pop(t->co, n);
    return;
  }
  t->token++;                   /* this park ends: a wake meant for it is stale from now on */
  t->lua_parked = 0;
  t->on_cancel = NULL;
  t->nargs = n;
  t->state = AL_READY;
  enqueue(t->sched, t);
}

int al_task_wake_park(al_task *t, unsigned token, int n) {
  if (t->state != AL_PARKED || t->token != token) {
    lua_pop(t->co, n);
    return 0;
  }
  al_task_wake(t, n);
  return 1;
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
  al_sched *s = al_sched_of(L);
  luaL_checktype(L, -(nargs + 1), LUA_TFUNCTION);
  al_task *t = lua_newuserdatauv(L, sizeof *t, 1);
  memset(t, 0, sizeof *t);
  al_task_pushmeta(L);
  lua_setmetatable(L, -2);
  t->sched = s;
  t->co = lua_newthread(L);
  if (!lua_checkstack(t->co, nargs + 1)) al_error_raise(L, "argument", "task.spawn: too many arguments (%d)", nargs);
  mark_task_thread(t->co);
  lua_setiuservalue(L, -2, 1);               /* the handle keeps its coroutine alive */
  lua_insert(L, -(nargs + 2));                /* handle below function and arguments */
  lua_xmove(L, t->co, nargs + 1);
  lua_pushvalue(L, -1);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);    /* alive until finished and observed */
  t->nargs = nargs;
  t->state = AL_NEW;
  ev_init(&t->timer, NULL);
  all_link(s, t);
  enqueue(s, t);
  return t;
}

al_task *al_task_check(lua_State *L, int idx, const char *fname) {
  return al_checkudata(L, idx, AL_TASK_MT, fname, "a task");
}

static void release(al_task *t) {
  if (t->ref != LUA_NOREF) {
    luaL_unref(t->sched->L, LUA_REGISTRYINDEX, t->ref);
    t->ref = LUA_NOREF;
  }
}

static int is_cancel_error(lua_State *co) {
  return al_error_kind_is(co, -1, "cancelled");
}

/* Keeps the error and a traceback on the dead coroutine: [err, traceback]. */
static void keep_failure(al_task *t) {
  lua_State *L = t->sched->L;
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
  while ((w = al_queue_pop(&t->waiters)) != NULL) al_task_wake(w, 0);
}

/* A task failed and nobody waits for it: hands it to the failure hook if one is set (the REPL
** reports it at once) and returns 1; returns 0 when it must wait for the end of the run. */
static int unobserved(al_sched *s, al_task *t) {
  if (s->failure_ref == LUA_NOREF) return 0;
  lua_State *L = s->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->failure_ref);
  lua_pushvalue(t->co, 1);
  lua_xmove(t->co, L, 1);
  lua_pushvalue(t->co, 2);
  lua_xmove(t->co, L, 1);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    s->host->report(s, "failure handler: ", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return 1;
}

static void finish(al_task *t, int status, int nres) {
  al_sched *s = t->sched;
  all_unlink(s, t);
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
      s->host->report(s, NULL, lua_tostring(t->co, 2));
      s->main_failed = 1;
      al_sched_cancel_all(s);
    }
  }
  if (t->state == AL_FAILED && !t->observed && unobserved(s, t)) t->observed = 1;
  if (t->state == AL_FAILED && !t->observed) al_queue_push(&s->failed, t);
  else release(t);
}

/* }====================================================== */

/* {====================================================== run queue */

static void resume(al_sched *s, al_task *t) {
  int nres;
  lua_State *co = t->co;
  if (t->state == AL_NEW && t->cancelled) {
    lua_settop(co, 0);
    al_error_push(co, "cancelled", "task cancelled before it started");
    finish(t, LUA_ERRRUN, 0);
    return;
  }
  t->state = AL_RUNNING;
  s->current = t;
  int st = lua_resume(co, NULL, t->nargs, &nres);
  s->current = NULL;
  t->nargs = 0;
  if (st == LUA_YIELD) {
    int parked = nres > 0 && lua_touserdata(co, -1) == PARK;
    lua_pop(co, nres);
    if (!parked) {          /* a bare coroutine.yield() in a task: give others a turn */
      t->state = AL_READY;
      enqueue(s, t);
    } else if (t->state == AL_RUNNING) {
      t->state = AL_PARKED;
    }
    return;
  }
  finish(t, st, st == LUA_OK ? lua_gettop(co) : 0);
}

void al_sched_drain(al_sched *s) {
  for (int i = 0; i < DRAIN_BATCH && s->rq_head; i++) {
    al_task *t = s->rq_head;
    s->rq_head = t->rq_next;
    if (!s->rq_head) s->rq_tail = NULL;
    resume(s, t);
  }
  if (!s->rq_head && ev_is_active(&s->idle)) ev_idle_stop(s->loop, &s->idle);
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

void al_sched_init(al_sched *s, lua_State *L, struct ev_loop *loop, const al_host_hooks *host) {
  memset(s, 0, sizeof *s);
  s->L = L;
  s->loop = loop;
  s->host = host;
  s->failure_ref = s->interrupt_ref = LUA_NOREF;
  *(uintptr_t *)lua_getextraspace(L) = (uintptr_t)s;
  ev_prepare_init(&s->prepare, on_prepare);
  ev_check_init(&s->check, on_check);
  ev_idle_init(&s->idle, on_idle);
  s->prepare.data = s->check.data = s;
  ev_prepare_start(loop, &s->prepare);
  ev_check_start(loop, &s->check);
  ev_unref(loop);                       /* the hooks alone do not keep the loop running */
  ev_unref(loop);
}

/* }====================================================== */

/* {====================================================== parking */

void al_sched_on_interrupt(lua_State *L, int idx) {
  al_sched *s = al_sched_of(L);
  lua_pushvalue(L, idx);
  if (s->interrupt_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, s->interrupt_ref);
  s->interrupt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

al_http *al_sched_http(lua_State *L) {
  al_sched *s = al_sched_of(L);
  if (!s->http) {
    char err[256];
    s->http = al_http_new(s->loop, err, sizeof err);
    if (!s->http) al_error_raise(L, "network", "%s", err);
  }
  return s->http;
}

al_task *al_task_current(lua_State *L, const char *what) {
  al_task *t = al_sched_of(L)->current;
  if (!t || !lua_isyieldable(L))
    al_error_raise(L, "argument", "%s cannot wait here: not inside a task, or across a C-call "
                   "boundary (a metamethod, an iterator of a C function, table.sort)", what);
  return t;
}

int al_task_raise_cancelled(lua_State *L) {
  al_error_push(L, "cancelled", "task cancelled");
  return lua_error(L);
}

static int parkk(lua_State *L, int status, lua_KContext ctx) {
  al_task *t = (al_task *)ctx;
  if (t->cancelled) {
    lua_settop(L, t->kbase);
    return al_task_raise_cancelled(L);
  }
  return t->k(L, status, t->kctx);
}

int al_task_park(lua_State *L, al_task *t, al_cancel_fn on_cancel, lua_KContext ctx, lua_KFunction k) {
  /* set before the hook can run: it finds what to undo in 'kctx', and a stale one (the last
  ** park's request, freed already) would be undone twice */
  t->k = k;
  t->kctx = ctx;
  if (t->cancelled) {           /* no park begins: its client's marks go too */
    t->lua_parked = 0;
    if (on_cancel) { t->on_cancel = on_cancel; on_cancel(t); t->on_cancel = NULL; }
    return al_task_raise_cancelled(L);
  }
  t->on_cancel = on_cancel;
  t->kbase = lua_gettop(L);
  if (t->state == AL_RUNNING) t->state = AL_PARKED;
  lua_pushlightuserdata(L, PARK);
  return lua_yieldk(L, 1, (lua_KContext)t, parkk);
}

int al_task_park_nvals(lua_State *L, al_task *t) {
  return lua_gettop(L) - t->kbase;
}

void al_task_cancel(al_task *t) {
  if (t->state >= AL_DONE || t->cancelled) return;
  t->cancelled = 1;
  if (t->state == AL_PARKED) {
    al_cancel_fn fn = t->on_cancel;
    t->on_cancel = NULL;
    if (fn) fn(t);
    if (t->state == AL_PARKED) al_task_wake(t, 0);   /* the hook may have woken it already */
  }
}

void al_sched_cancel_all(al_sched *s) {
  for (al_task *t = s->all, *next; t; t = next) {
    next = t->all_next;
    al_task_cancel(t);
  }
}

/* }====================================================== */

/* Puts the running task back at the end of the run queue and parks it: others run first. */
int al_task_yield(lua_State *L, al_task *t, lua_KFunction k) {
  t->state = AL_READY;
  t->nargs = 0;
  enqueue(t->sched, t);
  return al_task_park(L, t, NULL, 0, k);
}
