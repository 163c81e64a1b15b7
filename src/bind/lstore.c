/*
** autolua.store.core: the store (src/store.h) for Lua. One store per URL per process; each call
** parks the running task and the completion callback wakes it with a result table, or with nil
** and a 'kind = "store"' error. Policy (fallbacks, jobs, shared limiters) is in Lua.
*/
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "modules.h"
#include "lerror.h"
#include "sched.h"
#include "store.h"
#include "clock.h"

#define STORE_MT "autolua.store"
#define REGISTRY_KEY "autolua.stores"

typedef struct lstore {
  al_store *s;
  int closing;       /* in __gc: completions only free their records */
} lstore;

typedef enum { OP_RESERVE, OP_PAUSE, OP_BEAT, OP_CLAIM, OP_RENEW, OP_FINISH, OP_COUNTS, OP_LIST,
               OP_FORGET } op_kind;

/* One call in flight. It outlives a cancelled task: the cancel hook forgets the task, and the
** completion, which always comes, frees the record. */
typedef struct call {
  al_task *task;
  lstore *ls;
  op_kind op;
} call;

static lstore *check_store(lua_State *L, const char *fname) {
  lstore *ls = al_checkudata(L, 1, STORE_MT, fname, "a store");
  if (!ls->s) al_error_raise(L, "store", "%s: the store is closed", fname);
  return ls;
}

static void push_store_error(lua_State *L, const al_store_result *r) {
  al_error_push(L, "store", "%s", r->message ? r->message : al_store_status_code(r->status));
  al_error_setstr(L, "code", al_store_status_code(r->status));
}

static void setnum(lua_State *L, const char *k, double v) { lua_pushnumber(L, v); lua_setfield(L, -2, k); }
static void setint(lua_State *L, const char *k, long v) { lua_pushinteger(L, v); lua_setfield(L, -2, k); }
static void setbool(lua_State *L, const char *k, int v) { lua_pushboolean(L, v); lua_setfield(L, -2, k); }

static void push_counts(lua_State *L, const al_store_counts *c) {
  lua_createtable(L, 0, 6);
  setint(L, "done", c->done);
  setint(L, "failed", c->failed);
  setint(L, "running", c->running);
  setint(L, "unknown", c->unknown);
  setint(L, "pending", c->pending);
  if (c->changed > 0) setnum(L, "changed", c->changed);
}

static void push_claim(lua_State *L, const al_store_result *r) {
  static const char *const names[] = {"granted", "done", "held", "unknown"};
  lua_createtable(L, 0, 4);
  lua_pushstring(L, names[r->claim]);
  lua_setfield(L, -2, "state");
  if (r->claim == AL_CLAIM_DONE && r->result) {
    lua_pushlstring(L, r->result, r->result_len);
    lua_setfield(L, -2, "result");
  }
  if (r->claim == AL_CLAIM_GRANTED) setbool(L, "previously_failed", r->previously_failed);
  if (r->claim == AL_CLAIM_HELD) setnum(L, "lease_left", r->lease_left);
}

static void push_result(lua_State *L, op_kind op, const al_store_result *r) {
  switch (op) {
    case OP_RESERVE:
      lua_createtable(L, 0, 2);
      setbool(L, "granted", r->granted);
      setnum(L, "wait", r->wait);
      break;
    case OP_BEAT: lua_pushinteger(L, r->processes); break;
    case OP_CLAIM: push_claim(L, r); break;
    case OP_RENEW: lua_pushboolean(L, r->owned); break;
    case OP_COUNTS: push_counts(L, &r->counts); break;
    case OP_LIST:
      lua_createtable(L, (int)r->njobs, 0);
      for (size_t i = 0; i < r->njobs; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, r->jobs[i].name);
        lua_setfield(L, -2, "name");
        setnum(L, "changed", r->jobs[i].changed);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    case OP_FORGET: lua_pushinteger(L, r->forgotten); break;
    default: lua_pushboolean(L, 1); break;
  }
}

static void on_done(void *ud, const al_store_result *r) {
  call *c = ud;
  al_task *t = c->task;
  int closing = c->ls->closing;
  op_kind op = c->op;
  free(c);
  if (!t || closing) return;
  t->wait = NULL;
  lua_checkstack(t->co, 4);
  if (r->status == AL_STORE_OK) {
    push_result(t->co, op, r);
    al_task_wake(t, 1);
  } else {
    lua_pushnil(t->co);
    push_store_error(t->co, r);
    al_task_wake(t, 2);
  }
}

static void cancel_call(al_task *t) {
  call *c = t->wait;
  if (c) c->task = NULL;
  t->wait = NULL;
}

static int resultk(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return al_task_park_nvals(L, al_sched_of(L)->current);
}

/* Sets up the record for one call and the running task; the caller starts the store call with
** it, then parks. */
static call *begin(lua_State *L, lstore *ls, op_kind op, const char *fname, al_task **tp) {
  al_task *t = al_task_current(L, fname);
  call *c = malloc(sizeof *c);
  if (!c) { al_error_raise(L, "store", "%s: out of memory", fname); return NULL; }
  c->task = t;
  c->ls = ls;
  c->op = op;
  t->wait = c;
  *tp = t;
  return c;
}

static int park(lua_State *L, al_task *t) {
  lua_settop(L, 0);
  return al_task_park(L, t, cancel_call, 0, resultk);
}

/* {====================================================== limiters */

static double field_number(lua_State *L, int idx, const char *k, double def) {
  lua_getfield(L, idx, k);
  double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
  lua_pop(L, 1);
  return v;
}

/* s:reserve(key, {kind = "rate", interval =, burst =} | {kind = "window", limit =, window =},
** n, max_wait) -> {granted =, wait =} | nil, err */
static int l_reserve(lua_State *L) {
  lstore *ls = check_store(L, "store:reserve");
  const char *key = al_checklstring(L, 2, NULL, "store:reserve");
  al_checktype(L, 3, LUA_TTABLE, "store:reserve");
  al_store_limit lim;
  memset(&lim, 0, sizeof lim);
  lua_getfield(L, 3, "kind");
  lim.kind = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "window") == 0 ? AL_STORE_WINDOW : AL_STORE_RATE;
  lua_pop(L, 1);
  lim.interval = field_number(L, 3, "interval", 1);
  lim.burst = field_number(L, 3, "burst", 1);
  lim.limit = (int)field_number(L, 3, "limit", 1);
  lim.window = field_number(L, 3, "window", 1);
  lim.spacing = field_number(L, 3, "spacing", 0);
  double n = lua_isnoneornil(L, 4) ? 1 : al_checknumber(L, 4, "store:reserve");
  double max_wait = lua_isnoneornil(L, 5) ? -1 : al_checknumber(L, 5, "store:reserve");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_RESERVE, "store:reserve", &t);
  al_store_reserve(ls->s, key, &lim, n, max_wait, on_done, c);
  return park(L, t);
}

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
    push_store_error(co, r);
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
static int l_slots(lua_State *L) {
  lstore *ls = check_store(L, "store:slots");
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
  al_store_limit *lim = &sl->lim;
  lua_getfield(L, 3, "kind");
  lim->kind = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "window") == 0 ? AL_STORE_WINDOW : AL_STORE_RATE;
  lua_pop(L, 1);
  lim->interval = field_number(L, 3, "interval", 1);
  lim->burst = field_number(L, 3, "burst", 1);
  lim->limit = (int)field_number(L, 3, "limit", 1);
  lim->window = field_number(L, 3, "window", 1);
  lim->spacing = field_number(L, 3, "spacing", 0);
  luaL_setmetatable(L, SLOTS_MT);
  lua_pushvalue(L, 1);                           /* the store lives as long as its slots */
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* }------------------------------------------------------ */

/* s:pause(key, seconds) -> true | nil, err */
static int l_pause(lua_State *L) {
  lstore *ls = check_store(L, "store:pause");
  const char *key = al_checklstring(L, 2, NULL, "store:pause");
  double secs = al_checknumber(L, 3, "store:pause");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_PAUSE, "store:pause", &t);
  al_store_pause(ls->s, key, secs, on_done, c);
  return park(L, t);
}

/* s:heartbeat(key, ttl) -> processes | nil, err */
static int l_heartbeat(lua_State *L) {
  lstore *ls = check_store(L, "store:heartbeat");
  const char *key = al_checklstring(L, 2, NULL, "store:heartbeat");
  double ttl = al_checknumber(L, 3, "store:heartbeat");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_BEAT, "store:heartbeat", &t);
  al_store_heartbeat(ls->s, key, NULL, ttl, on_done, c);
  return park(L, t);
}

/* }====================================================== */

/* {====================================================== jobs */

/* s:claim(job, key, {lease =, once =, retry_unknown =}) -> {state =, result =, ...} | nil, err */
static int l_claim(lua_State *L) {
  lstore *ls = check_store(L, "store:claim");
  const char *job = al_checklstring(L, 2, NULL, "store:claim");
  const char *key = al_checklstring(L, 3, NULL, "store:claim");
  al_store_claim_opts o = {NULL, 60, 0, 0};
  if (lua_istable(L, 4)) {
    o.lease = field_number(L, 4, "lease", 60);
    lua_getfield(L, 4, "once");
    o.once = lua_toboolean(L, -1);
    lua_getfield(L, 4, "retry_unknown");
    o.retry_unknown = lua_toboolean(L, -1);
    lua_pop(L, 2);
  }
  al_task *t = NULL;
  call *c = begin(L, ls, OP_CLAIM, "store:claim", &t);
  al_store_claim(ls->s, job, key, &o, on_done, c);
  return park(L, t);
}

/* s:renew(job, key, lease) -> owned | nil, err */
static int l_renew(lua_State *L) {
  lstore *ls = check_store(L, "store:renew");
  const char *job = al_checklstring(L, 2, NULL, "store:renew");
  const char *key = al_checklstring(L, 3, NULL, "store:renew");
  double lease = al_checknumber(L, 4, "store:renew");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_RENEW, "store:renew", &t);
  al_store_renew(ls->s, job, key, NULL, lease, on_done, c);
  return park(L, t);
}

/* s:done(job, key, [json]) -> true | nil, err */
static int l_done(lua_State *L) {
  lstore *ls = check_store(L, "store:done");
  const char *job = al_checklstring(L, 2, NULL, "store:done");
  const char *key = al_checklstring(L, 3, NULL, "store:done");
  size_t len = 0;
  const char *json = al_optlstring(L, 4, NULL, &len, "store:done");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_FINISH, "store:done", &t);
  al_store_finish_done(ls->s, job, key, NULL, json, len, on_done, c);
  return park(L, t);
}

/* s:failed(job, key, kind, [code], message) -> true | nil, err */
static int l_failed(lua_State *L) {
  lstore *ls = check_store(L, "store:failed");
  const char *job = al_checklstring(L, 2, NULL, "store:failed");
  const char *key = al_checklstring(L, 3, NULL, "store:failed");
  const char *kind = al_checklstring(L, 4, NULL, "store:failed");
  const char *code = al_optlstring(L, 5, NULL, NULL, "store:failed");
  const char *msg = al_optlstring(L, 6, "", NULL, "store:failed");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_FINISH, "store:failed", &t);
  al_store_finish_failed(ls->s, job, key, NULL, kind, code, msg, on_done, c);
  return park(L, t);
}

/* s:counts(job) -> {done =, failed =, running =, unknown =, pending =, changed =} | nil, err */
static int l_counts(lua_State *L) {
  lstore *ls = check_store(L, "store:counts");
  const char *job = al_checklstring(L, 2, NULL, "store:counts");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_COUNTS, "store:counts", &t);
  al_store_counts_get(ls->s, job, on_done, c);
  return park(L, t);
}

/* s:list() -> {{name =, changed =}...} | nil, err */
static int l_list(lua_State *L) {
  lstore *ls = check_store(L, "store:list");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_LIST, "store:list", &t);
  al_store_list(ls->s, on_done, c);
  return park(L, t);
}

/* s:forget(job, [key]) -> items deleted | nil, err */
static int l_forget(lua_State *L) {
  lstore *ls = check_store(L, "store:forget");
  const char *job = al_checklstring(L, 2, NULL, "store:forget");
  const char *key = al_optlstring(L, 3, NULL, NULL, "store:forget");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_FORGET, "store:forget", &t);
  al_store_forget(ls->s, job, key, on_done, c);
  return park(L, t);
}

/* }====================================================== */

/* {====================================================== opening */

static int l_info(lua_State *L) {
  lstore *ls = check_store(L, "store:info");
  lua_createtable(L, 0, 3);
  lua_pushstring(L, al_store_backend(ls->s));
  lua_setfield(L, -2, "backend");
  lua_pushstring(L, al_store_url(ls->s));
  lua_setfield(L, -2, "url");
  lua_pushstring(L, al_store_owner(ls->s));
  lua_setfield(L, -2, "owner");
  return 1;
}

static int l_gc(lua_State *L) {
  lstore *ls = al_checkudata(L, 1, STORE_MT, "store.__gc", "a store");
  ls->closing = 1;
  al_store_close(ls->s);
  ls->s = NULL;
  return 0;
}

/* core.open(url) -> store | nil, err: the one store of this process for 'url' (nil or "": the
** default). A failure is not remembered, so a later call tries again. */
static int l_open(lua_State *L) {
  const char *url = al_optlstring(L, 1, "", NULL, "store.open");
  char *def = NULL;
  if (!*url) {
    def = al_store_default_url();
    if (!def) {
      lua_pushnil(L);
      al_error_push(L, "store", "no default store: neither XDG_STATE_HOME nor HOME is set");
      al_error_setstr(L, "code", "unreachable");
      return 2;
    }
    lua_pushstring(L, def);
    free(def);
    url = lua_tostring(L, -1);
  }
  luaL_getsubtable(L, LUA_REGISTRYINDEX, REGISTRY_KEY);
  if (lua_getfield(L, -1, url) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  al_store_status st = AL_STORE_OK;
  char err[512] = "";
  al_store_options opt;
  memset(&opt, 0, sizeof opt);
  al_store *s = al_store_open(al_sched_of(L)->loop, url, &opt, &st, err, sizeof err);
  if (!s) {
    lua_pushnil(L);
    al_error_push(L, "store", "%s", err);
    al_error_setstr(L, "code", al_store_status_code(st));
    return 2;
  }
  lstore *ls = lua_newuserdatauv(L, sizeof *ls, 0);
  ls->s = s;
  ls->closing = 0;
  luaL_setmetatable(L, STORE_MT);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, url);
  return 1;
}

static int l_default_url(lua_State *L) {
  char *def = al_store_default_url();
  if (!def) lua_pushnil(L);
  else { lua_pushstring(L, def); free(def); }
  return 1;
}

int luaopen_autolua_store_core(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"reserve", l_reserve}, {"pause", l_pause}, {"heartbeat", l_heartbeat}, {"claim", l_claim},
    {"renew", l_renew}, {"done", l_done}, {"failed", l_failed}, {"counts", l_counts},
    {"list", l_list}, {"forget", l_forget}, {"info", l_info}, {"slots", l_slots}, {NULL, NULL}};
  static const luaL_Reg slot_methods[] = {{"take", l_take}, {"stats", l_slots_stats}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"open", l_open}, {"default_url", l_default_url}, {NULL, NULL}};
  luaL_newmetatable(L, STORE_MT);
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newmetatable(L, SLOTS_MT);
  lua_pushcfunction(L, l_slots_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, slot_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}

/* }====================================================== */
