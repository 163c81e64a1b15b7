/*
** A shared limiter's slots (store:slots): its acquisitions, from lim:acquire() to the store's
** reservation and the local sleep, in C.
*/
#include <stdlib.h>
#include <string.h>
#include <ev.h>
#include <lauxlib.h>
#include "lerror.h"
#include "sched.h"
#include "store.h"
#include "clock.h"
#include "lstore_impl.h"

/* {------------------------------------------------------ slots: a shared limiter's acquisitions
** One acquisition in C from lim:acquire() to the store call and the local sleep: the task
** parks once. Inside a process the acquisitions reserve in order, one store call at a time
** (the next one's call goes while this one sleeps), so a store that fails fails them together
** instead of each waiting out its own deadline. A task that runs again later than 'late' after
** its slot does not send on it: a late send shares a sliding second with on-time sends of the
** other processes. It reserves again (a second store call, only in that case), up to LATE_TRIES.
** The check is made when the task runs, not when its timer fires, so that a run queue held up
** by the other tasks' work counts too. */

#define SLOTS_MT "autolua.store.slots"
#define LATE_TRIES 3
#define EARLY 0.0002      /* a timer may fire this much before its slot (the loop's rounding) */

typedef enum { W_QUEUED, W_CALLING, W_SLEEPING } wait_stage;

typedef struct slots slots;

typedef struct slot_wait {
  al_task *t;              /* NULL once cancelled */
  unsigned token;
  slots *sl;               /* NULL once the slots are gone */
  wait_stage stage;
  double n;
  double deadline;         /* max_wait's end (monotonic); < 0: none */
  double t0, sent, slot;   /* began, its store call went, its slot (monotonic) */
  int tries;
  ev_timer timer;
  struct slot_wait *next;              /* in the queue */
  struct slot_wait *all_prev, *all_next;
} slot_wait;

struct slots {
  lstore *ls;
  al_sched *sched;
  al_store_limit lim;
  double late;
  slot_wait *head, *tail;  /* waiting for their store call, in order */
  slot_wait *calling;      /* the one whose call is in flight */
  slot_wait *all;          /* every record, for __gc */
  long waiting;            /* tasks inside take() */
  double acquired, waited;
  long relaid;             /* late wakes that reserved again */
  char key[];
};

static void slots_unlink_all(slots *sl, slot_wait *w) {
  if (w->all_prev) w->all_prev->all_next = w->all_next; else sl->all = w->all_next;
  if (w->all_next) w->all_next->all_prev = w->all_prev;
}

static void wait_free(slot_wait *w) {
  if (w->sl) {
    ev_timer_stop(w->sl->sched->loop, &w->timer);
    slots_unlink_all(w->sl, w);
  }
  free(w);
}

static void queue_push(slots *sl, slot_wait *w, int front) {
  w->stage = W_QUEUED;
  if (front) {
    w->next = sl->head;
    sl->head = w;
    if (!sl->tail) sl->tail = w;
    return;
  }
  w->next = NULL;
  if (sl->tail) sl->tail->next = w; else sl->head = w;
  sl->tail = w;
}

static void queue_remove(slots *sl, slot_wait *w) {
  slot_wait *prev = NULL;
  for (slot_wait *p = sl->head; p; prev = p, p = p->next) {
    if (p != w) continue;
    if (prev) prev->next = p->next; else sl->head = p->next;
    if (sl->tail == p) sl->tail = prev;
    return;
  }
}

/* Wakes the waiter's task with the 'nvals' values pushed on its thread and frees the record. */
static void wait_finish(slot_wait *w, int nvals) {
  al_task *t = w->t;
  unsigned token = w->token;
  if (w->sl) w->sl->waiting--;
  t->wait = NULL;
  wait_free(w);
  al_task_wake_park(t, token, nvals);
}

static void on_reserved(void *ud, const al_store_result *r);

/* Starts the store call of the first queued waiter unless one is in flight. */
static void next_call(slots *sl) {
  slot_wait *w = sl->head;
  if (!w || sl->calling || !sl->ls->s) return;
  sl->head = w->next;
  if (!sl->head) sl->tail = NULL;
  sl->calling = w;
  w->stage = W_CALLING;
  w->sent = al_clock_now();
  double mw = w->deadline < 0 ? -1 : w->deadline > w->sent ? w->deadline - w->sent : 0;
  al_store_reserve(sl->ls->s, sl->key, &sl->lim, w->n, mw, on_reserved, w);
}

/* At (or after) the slot: the task runs again with what it needs to judge, once it runs, whether
** it still goes on time (takek): the slot, the tries, the deadline, when it began, n. */
static void at_slot(slot_wait *w) {
  lua_State *co = w->t->co;
  lua_checkstack(co, 6);
  lua_pushboolean(co, 1);
  lua_pushnumber(co, w->slot);
  lua_pushinteger(co, w->tries);
  lua_pushnumber(co, w->deadline);
  lua_pushnumber(co, w->t0);
  lua_pushnumber(co, w->n);
  wait_finish(w, 6);
}

static void on_slot(struct ev_loop *loop, ev_timer *tm, int revents) {
  (void)revents;
  slot_wait *w = tm->data;
  double now = al_clock_now();
  if (w->slot - now > EARLY) {   /* the loop's clock ran behind: the rest of the wait */
    ev_timer_set(tm, w->slot - now, 0.);
    ev_timer_start(loop, tm);
    return;
  }
  at_slot(w);
}

/* A failed store call fails this waiter and every one queued behind it: the limiter falls back
** for them all at once. */
static void fail_queued(slots *sl, slot_wait *w, const al_store_result *r) {
  while (w) {
    lua_State *co = w->t->co;
    lua_checkstack(co, 4);
    lua_pushnil(co);
    lstore_push_error(co, r);
    wait_finish(w, 2);
    w = sl->head;
    if (w) { sl->head = w->next; if (!sl->head) sl->tail = NULL; }
  }
}

static void on_reserved(void *ud, const al_store_result *r) {
  slot_wait *w = ud;
  slots *sl = w->sl;
  if (!sl) { free(w); return; }                  /* the slots went first */
  sl->calling = NULL;
  if (!w->t || sl->ls->closing) {                /* cancelled, or the state is closing */
    if (w->t) { w->t->wait = NULL; sl->waiting--; }
    wait_free(w);
    if (!sl->ls->closing) next_call(sl);
    return;
  }
  if (r->status != AL_STORE_OK) { fail_queued(sl, w, r); return; }
  if (!r->granted) {
    lua_State *co = w->t->co;
    lua_pushboolean(co, 0);
    lua_pushnumber(co, r->wait);
    wait_finish(w, 2);
    next_call(sl);
    return;
  }
  w->slot = r->slot > 0 ? r->slot : w->sent + r->wait;
  next_call(sl);                                 /* the next one reserves while this one sleeps */
  double now = al_clock_now();
  if (w->slot - now > EARLY) {
    w->stage = W_SLEEPING;
    ev_timer_set(&w->timer, w->slot - now, 0.);
    ev_timer_start(sl->sched->loop, &w->timer);
    return;
  }
  at_slot(w);
}

static void cancel_take(al_task *t) {
  slot_wait *w = t->wait;
  t->wait = NULL;
  if (!w) return;
  w->t = NULL;
  slots *sl = w->sl;
  sl->waiting--;
  if (w->stage == W_CALLING) return;             /* its completion frees it */
  if (w->stage == W_QUEUED) queue_remove(sl, w);
  wait_free(w);
}

static int takek(lua_State *L, int status, lua_KContext ctx);

/* Queues an acquisition (at the front when it reserves again) and parks its task. */
static int enqueue_take(lua_State *L, slots *sl, double n, double deadline, double t0, int tries, int front) {
  al_task *t = al_task_current(L, "limiter:acquire");
  slot_wait *w = calloc(1, sizeof *w);
  if (!w) { lua_pushliteral(L, "not enough memory"); return lua_error(L); }
  w->t = t;
  w->token = al_task_park_token(t);
  w->sl = sl;
  w->n = n;
  w->t0 = t0;
  w->deadline = deadline;
  w->tries = tries;
  ev_init(&w->timer, on_slot);
  w->timer.data = w;
  w->all_next = sl->all;
  if (sl->all) sl->all->all_prev = w;
  sl->all = w;
  sl->waiting++;
  t->wait = w;
  queue_push(sl, w, front);
  next_call(sl);
  lua_settop(L, 1);            /* the slots stay on the stack, alive, while the task waits */
  return al_task_park(L, t, cancel_take, (lua_KContext)sl, takek);
}

/* The task runs again: refused or failed, its answer; at its slot, it goes unless it runs later
** than 'late' after the slot (the loop was busy, the machine loaded), and then reserves again. */
static int takek(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  slots *sl = (slots *)ctx;
  int nv = al_task_park_nvals(L, al_sched_of(L)->current);
  if (nv != 6) return nv;
  double slot = lua_tonumber(L, -5), deadline = lua_tonumber(L, -3), t0 = lua_tonumber(L, -2);
  double n = lua_tonumber(L, -1);
  int tries = (int)lua_tointeger(L, -4);
  double now = al_clock_now();
  if (now - slot > sl->late && tries < LATE_TRIES && sl->ls->s) {
    sl->relaid++;
    return enqueue_take(L, sl, n, deadline, t0, tries + 1, 1);
  }
  sl->acquired += n;
  sl->waited += now - t0;
  lua_pushboolean(L, 1);
  return 1;
}

/* sl:take(n, max_wait) -> true | false, wait (max_wait refused it) | nil, err (the store failed) */
static int l_take(lua_State *L) {
  slots *sl = al_checkudata(L, 1, SLOTS_MT, "limiter:acquire", "a shared limiter's slots");
  double n = luaL_optnumber(L, 2, 1);
  double max_wait = luaL_optnumber(L, 3, -1);
  if (!sl->ls->s) al_error_raise(L, "store", "limiter:acquire: the store is closed");
  double now = al_clock_now();
  return enqueue_take(L, sl, n, max_wait >= 0 ? now + max_wait : -1, now, 0, 0);
}

/* sl:stats() -> acquired, waited seconds, tasks waiting, late wakes that reserved again */
static int l_slots_stats(lua_State *L) {
  slots *sl = al_checkudata(L, 1, SLOTS_MT, "limiter:stats", "a shared limiter's slots");
  lua_pushnumber(L, sl->acquired);
  lua_pushnumber(L, sl->waited);
  lua_pushinteger(L, sl->waiting);
  lua_pushinteger(L, sl->relaid);
  return 4;
}

static int l_slots_gc(lua_State *L) {
  slots *sl = luaL_checkudata(L, 1, SLOTS_MT);
  while (sl->all) {
    slot_wait *w = sl->all;
    ev_timer_stop(sl->sched->loop, &w->timer);
    sl->all = w->all_next;
    if (w->t) w->t->wait = NULL;
    w->sl = NULL;
    if (w != sl->calling) free(w);               /* the one in flight: its completion frees it */
  }
  sl->head = sl->tail = sl->calling = NULL;
  return 0;
}

/* s:slots(key, {kind =, interval =, burst =, limit =, window =, spacing =}, late) -> the slots
** of limiter 'key' in this store; 'late' is how long after its slot a wake still goes. */
int lstore_slots(lua_State *L) {
  lstore *ls = lstore_check(L, "store:slots");
  size_t klen;
  const char *key = al_checklstring(L, 2, &klen, "store:slots");
  al_checktype(L, 3, LUA_TTABLE, "store:slots");
  double late = al_checknumber(L, 4, "store:slots");
  slots *sl = lua_newuserdatauv(L, sizeof *sl + klen + 1, 1);
  memset(sl, 0, sizeof *sl);
  memcpy(sl->key, key, klen + 1);
  sl->ls = ls;
  sl->sched = al_sched_of(L);
  sl->late = late;
  lstore_read_limit(L, 3, &sl->lim);
  luaL_setmetatable(L, SLOTS_MT);
  lua_pushvalue(L, 1);                           /* the store lives as long as its slots */
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* }------------------------------------------------------ */

void lstore_open_slots(lua_State *L) {
  static const luaL_Reg methods[] = {{"take", l_take}, {"stats", l_slots_stats}, {NULL, NULL}};
  luaL_newmetatable(L, SLOTS_MT);
  lua_pushcfunction(L, l_slots_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
