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
#include "lstore_impl.h"

#define REGISTRY_KEY "autolua.stores"

typedef enum { OP_RESERVE, OP_PAUSE, OP_BEAT, OP_CLAIM, OP_RENEW, OP_FINISH, OP_COUNTS, OP_LIST,
               OP_FORGET } op_kind;

/* One call in flight. It outlives a cancelled task: the cancel hook forgets the task, and the
** completion, which always comes, frees the record. */
typedef struct call {
  al_task *task;
  lstore *ls;
  op_kind op;
} call;

lstore *lstore_check(lua_State *L, const char *fname) {
  lstore *ls = al_checkudata(L, 1, STORE_MT, fname, "a store");
  if (!ls->s) al_error_raise(L, "store", "%s: the store is closed", fname);
  return ls;
}

void lstore_push_error(lua_State *L, const al_store_result *r) {
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
    lstore_push_error(t->co, r);
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

/* {kind = "rate", interval =, burst =} | {kind = "window", limit =, window =, spacing =} at idx */
void lstore_read_limit(lua_State *L, int idx, al_store_limit *lim) {
  memset(lim, 0, sizeof *lim);
  lua_getfield(L, idx, "kind");
  lim->kind = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "window") == 0 ? AL_STORE_WINDOW : AL_STORE_RATE;
  lua_pop(L, 1);
  lim->interval = field_number(L, idx, "interval", 1);
  lim->burst = field_number(L, idx, "burst", 1);
  lim->limit = (int)field_number(L, idx, "limit", 1);
  lim->window = field_number(L, idx, "window", 1);
  lim->spacing = field_number(L, idx, "spacing", 0);
}

/* s:reserve(key, {kind = "rate", interval =, burst =} | {kind = "window", limit =, window =},
** n, max_wait) -> {granted =, wait =} | nil, err */
static int l_reserve(lua_State *L) {
  lstore *ls = lstore_check(L, "store:reserve");
  const char *key = al_checklstring(L, 2, NULL, "store:reserve");
  al_checktype(L, 3, LUA_TTABLE, "store:reserve");
  al_store_limit lim;
  lstore_read_limit(L, 3, &lim);
  double n = lua_isnoneornil(L, 4) ? 1 : al_checknumber(L, 4, "store:reserve");
  double max_wait = lua_isnoneornil(L, 5) ? -1 : al_checknumber(L, 5, "store:reserve");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_RESERVE, "store:reserve", &t);
  al_store_reserve(ls->s, key, &lim, n, max_wait, on_done, c);
  return park(L, t);
}

/* s:pause(key, seconds) -> true | nil, err */
static int l_pause(lua_State *L) {
  lstore *ls = lstore_check(L, "store:pause");
  const char *key = al_checklstring(L, 2, NULL, "store:pause");
  double secs = al_checknumber(L, 3, "store:pause");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_PAUSE, "store:pause", &t);
  al_store_pause(ls->s, key, secs, on_done, c);
  return park(L, t);
}

/* s:heartbeat(key, ttl) -> processes | nil, err */
static int l_heartbeat(lua_State *L) {
  lstore *ls = lstore_check(L, "store:heartbeat");
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
  lstore *ls = lstore_check(L, "store:claim");
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
  lstore *ls = lstore_check(L, "store:renew");
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
  lstore *ls = lstore_check(L, "store:done");
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
  lstore *ls = lstore_check(L, "store:failed");
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
  lstore *ls = lstore_check(L, "store:counts");
  const char *job = al_checklstring(L, 2, NULL, "store:counts");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_COUNTS, "store:counts", &t);
  al_store_counts_get(ls->s, job, on_done, c);
  return park(L, t);
}

/* s:list() -> {{name =, changed =}...} | nil, err */
static int l_list(lua_State *L) {
  lstore *ls = lstore_check(L, "store:list");
  al_task *t = NULL;
  call *c = begin(L, ls, OP_LIST, "store:list", &t);
  al_store_list(ls->s, on_done, c);
  return park(L, t);
}

/* s:forget(job, [key]) -> items deleted | nil, err */
static int l_forget(lua_State *L) {
  lstore *ls = lstore_check(L, "store:forget");
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
  lstore *ls = lstore_check(L, "store:info");
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
    {"list", l_list}, {"forget", l_forget}, {"info", l_info}, {"slots", lstore_slots}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"open", l_open}, {"default_url", l_default_url}, {NULL, NULL}};
  luaL_newmetatable(L, STORE_MT);
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lstore_open_slots(L);
  luaL_newlib(L, funcs);
  return 1;
}

/* }====================================================== */
