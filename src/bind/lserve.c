/*
** autolua.serve.core: the Lua side of the HTTP server (serve.c). Each request becomes a task
** running the dispatcher given to 'listen' with a request handle and a request table; the
** handle's 'respond' answers. lua/autolua/serve.lua builds http.serve and 'autolua serve' on it.
*/
#include <ctype.h>
#include <string.h>
#include <lauxlib.h>
#include "modules.h"
#include "serve.h"
#include "sched.h"
#include "lerror.h"

#define SERVER_MT "autolua.server"
#define REQUEST_MT "autolua.server.request"
#define MAX_HEADERS 64     /* headers of one answer */

typedef struct lserver {
  al_server *s;
  al_sched *sched;
  int self_ref;              /* anchors the userdata (and its dispatcher) while it listens */
  al_task *waiter;           /* the task in srv:wait() */
  int drained, closing;
} lserver;

typedef struct lreq {
  al_sreq *r;                /* NULL once the server freed the request */
  al_task *task;             /* the handler's task (its handle is the uservalue) */
  lserver *ls;
  int ref;                   /* anchors this handle while 'r' points at it */
} lreq;

/* {====================================================== the request table */

static void push_lower(lua_State *L, const char *s) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (; *s; s++) luaL_addchar(&b, (char)tolower((unsigned char)*s));
  luaL_pushresult(&b);
}

/* Repeated headers are joined with ", " (RFC 9110 §5.3); a repeated query argument becomes a
** list of its values in order. */
static void add_kv(void *cls, int kind, const char *key, const char *value) {
  lua_State *L = cls;
  int t = lua_gettop(L) - (kind ? 0 : 1);   /* stack: ..., headers, query */
  if (kind) lua_pushstring(L, key); else push_lower(L, key);
  lua_pushvalue(L, -1);
  int old = lua_rawget(L, t);
  if (old == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushstring(L, value);
  } else if (!kind) {
    lua_pushfstring(L, "%s, %s", lua_tostring(L, -1), value);
    lua_remove(L, -2);
  } else if (old == LUA_TSTRING) {
    lua_createtable(L, 2, 0);
    lua_insert(L, -2);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, value);
    lua_rawseti(L, -2, 2);
  } else {
    lua_pushstring(L, value);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  }
  lua_rawset(L, t);
}

static void push_request(lua_State *L, al_sreq *r) {
  size_t len;
  const char *body = al_sreq_body(r, &len);
  lua_createtable(L, 0, 7);
  lua_pushstring(L, al_sreq_method(r));
  lua_setfield(L, -2, "method");
  lua_pushstring(L, al_sreq_path(r));
  lua_setfield(L, -2, "path");
  lua_pushstring(L, al_sreq_remote(r));
  lua_setfield(L, -2, "remote");
  lua_pushlstring(L, body, len);
  lua_setfield(L, -2, "body");
  lua_newtable(L);
  lua_newtable(L);
  al_sreq_each(r, add_kv, L);
  lua_setfield(L, -3, "query");
  lua_setfield(L, -2, "headers");
}

/* }====================================================== */

/* {====================================================== the server's callbacks */

/* Runs protected: the dispatcher as a task with (handle, request). */
static int start_handler(lua_State *L) {
  lserver *ls = lua_touserdata(L, 1);
  al_sreq *r = lua_touserdata(L, 2);
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->self_ref);
  lua_getiuservalue(L, 1, 1);
  lreq *h = lua_newuserdatauv(L, sizeof *h, 1);
  memset(h, 0, sizeof *h);
  h->ls = ls;
  luaL_setmetatable(L, REQUEST_MT);
  lua_pushvalue(L, -1);
  h->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  h->r = r;
  al_sreq_set_user(r, h);
  push_request(L, r);
  al_task *t = al_task_spawn(L, 2);          /* dispatcher(handle, request) */
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
  lua_insert(L, -2);
  lua_setiuservalue(L, -2, 1);               /* the handle keeps the task's memory */
  h->task = t;
  return 0;
}

static void on_start(void *ud, al_sreq *r) {
  lserver *ls = ud;
  lua_State *L = ls->sched->L;
  lua_pushcfunction(L, start_handler);
  lua_pushlightuserdata(L, ls);
  lua_pushlightuserdata(L, r);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    ls->sched->host->report(ls->sched, "serve: cannot start a handler: ", lua_tostring(L, -1));
    lua_pop(L, 1);
    lreq *h = al_sreq_user(r);
    if (!h || !h->task) {
      static const char body[] = "{\"ok\":false,\"error\":\"internal_error\",\"message\":\"cannot start the handler\"}\n";
      const char *hd[] = {"Content-Type", "application/json"};
      al_sreq_respond(r, 500, hd, 1, body, sizeof body - 1);
    }
  }
}

static void on_abort(void *ud, al_sreq *r) {
  lserver *ls = ud;
  lreq *h = al_sreq_user(r);
  if (h && h->task && !ls->closing) al_task_cancel(h->task);
}

static void on_release(void *ud, al_sreq *r) {
  lserver *ls = ud;
  lreq *h = al_sreq_user(r);
  al_sreq_set_user(r, NULL);
  if (!h) return;
  h->r = NULL;
  if (!ls->closing) luaL_unref(ls->sched->L, LUA_REGISTRYINDEX, h->ref);
  h->ref = LUA_NOREF;
}

static void on_drained(void *ud) {
  lserver *ls = ud;
  ls->drained = 1;
  al_task *t = ls->waiter;
  ls->waiter = NULL;
  if (t) al_task_wake(t, 0);
}

/* }====================================================== */

/* {====================================================== listen */

static double opt_num(lua_State *L, const char *field, double def, double lo, double hi) {
  int ty = lua_getfield(L, 1, field);
  double v = def;
  if (ty == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (ty != LUA_TNIL) al_argerror(L, "http.serve", "'%s' must be a number, got %s", field, luaL_typename(L, -1));
  if (!(v >= lo && v <= hi)) al_argerror(L, "http.serve", "'%s' must be from %g to %g", field, lo, hi);
  lua_pop(L, 1);
  return v;
}

static const char *opt_str(lua_State *L, const char *field, const char *def) {
  int ty = lua_getfield(L, 1, field);
  const char *v = def;
  if (ty == LUA_TSTRING) v = lua_tostring(L, -1);
  else if (ty != LUA_TNIL) al_argerror(L, "http.serve", "'%s' must be a string, got %s", field, luaL_typename(L, -1));
  lua_pop(L, 1);   /* the options table (argument 1) keeps the string alive */
  return v;
}

static void read_opts(lua_State *L, al_serve_opts *o) {
  al_serve_defaults(o);
  o->host = opt_str(L, "host", o->host);
  o->port = (int)opt_num(L, "port", o->port, 0, 65535);
  o->token = opt_str(L, "token", NULL);
  if (o->token && !*o->token) o->token = NULL;
  o->max_body = (size_t)opt_num(L, "max_body", (double)o->max_body, 0, 1 << 30);
  o->max_header = (size_t)opt_num(L, "max_header", (double)o->max_header, 1024, 1 << 20);
  o->read_timeout = opt_num(L, "read_timeout", o->read_timeout, 0.001, 86400);
  o->handler_timeout = opt_num(L, "handler_timeout", o->handler_timeout, 0.001, 86400 * 7);
  o->max_handlers = (int)opt_num(L, "max_handlers", o->max_handlers, 1, 1e6);
  o->max_queue = (int)opt_num(L, "max_queue", o->max_queue, 0, 1e6);
  o->queue_timeout = opt_num(L, "queue_timeout", o->queue_timeout, 0.001, 86400);
  o->max_connections = (unsigned)opt_num(L, "max_connections", o->max_connections, 1, 1e5);
}

/* core.listen(opts, dispatch) -> server */
static int l_listen(lua_State *L) {
  al_checktype(L, 1, LUA_TTABLE, "serve.listen");
  al_checktype(L, 2, LUA_TFUNCTION, "serve.listen");
  al_serve_opts o;
  read_opts(L, &o);
  lserver *ls = lua_newuserdatauv(L, sizeof *ls, 1);
  memset(ls, 0, sizeof *ls);
  ls->sched = al_sched_of(L);
  ls->self_ref = LUA_NOREF;
  luaL_setmetatable(L, SERVER_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 1);
  static const al_serve_cb cb = {on_start, on_abort, on_release, on_drained};
  char err[256];
  ls->s = al_serve_start(ls->sched->loop, &o, &cb, ls, err, sizeof err);
  if (!ls->s) return al_error_raise(L, "network", "http.serve: %s", err);
  lua_pushvalue(L, -1);
  ls->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

/* }====================================================== */

/* {====================================================== server methods */

static lserver *check_server(lua_State *L, const char *fname) {
  return al_checkudata(L, 1, SERVER_MT, fname, "a server");
}

static void stop(lserver *ls) {
  if (!ls->s) return;
  al_server *s = ls->s;
  ls->s = NULL;
  al_serve_free(s);
  luaL_unref(ls->sched->L, LUA_REGISTRYINDEX, ls->self_ref);
  ls->self_ref = LUA_NOREF;
}

static int l_port(lua_State *L) {
  lserver *ls = check_server(L, "server:port");
  if (!ls->s) return 0;
  lua_pushinteger(L, al_serve_port(ls->s));
  return 1;
}

static int waitk(lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status;
  stop((lserver *)ctx);
  return 0;
}

/* A cancelled wait (every task cancelled: ^C in a script) stops the server at once. */
static void cancel_wait(al_task *t) {
  lserver *ls = t->wait;
  ls->waiter = NULL;
  stop(ls);
}

/* srv:wait(): until a drain is over; then the server is stopped. */
static int l_wait(lua_State *L) {
  lserver *ls = check_server(L, "server:wait");
  if (!ls->s || ls->drained) { stop(ls); return 0; }
  if (ls->waiter) return al_argerror(L, "server:wait", "another task waits for this server already");
  al_task *t = al_task_current(L, "server:wait");
  ls->waiter = t;
  t->wait = ls;
  return al_task_park(L, t, cancel_wait, (lua_KContext)ls, waitk);
}

static int l_drain(lua_State *L) {
  lserver *ls = check_server(L, "server:drain");
  double grace = lua_isnoneornil(L, 2) ? 10 : al_checknumber(L, 2, "server:drain");
  if (ls->s) al_serve_drain(ls->s, grace);
  return 0;
}

static int l_stop(lua_State *L) {
  stop(check_server(L, "server:stop"));
  return 0;
}

static int l_stats(lua_State *L) {
  lserver *ls = check_server(L, "server:stats");
  al_serve_stats st;
  memset(&st, 0, sizeof st);
  if (ls->s) al_serve_stats_get(ls->s, &st);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, st.connections);
  lua_setfield(L, -2, "connections");
  lua_pushinteger(L, st.running);
  lua_setfield(L, -2, "running");
  lua_pushinteger(L, st.queued);
  lua_setfield(L, -2, "queued");
  lua_pushinteger(L, (lua_Integer)st.read_timeouts);
  lua_setfield(L, -2, "read_timeouts");
  lua_newtable(L);
  for (int i = 0; i < 600; i++) {
    if (!st.rejected[i]) continue;
    lua_pushinteger(L, (lua_Integer)st.rejected[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setfield(L, -2, "rejected");
  return 1;
}

static int l_server_gc(lua_State *L) {
  lserver *ls = check_server(L, "server:__gc");
  ls->closing = 1;          /* the state is closing: the callbacks must not touch it */
  if (ls->s) { al_serve_free(ls->s); ls->s = NULL; }
  return 0;
}

/* }====================================================== */

/* {====================================================== the request handle */

/* h:respond(status, headers, body) -> bool: false when the server answered already. */
static int l_respond(lua_State *L) {
  lreq *h = al_checkudata(L, 1, REQUEST_MT, "request:respond", "a request");
  int status = (int)al_checkinteger(L, 2, "request:respond");
  size_t len = 0;
  const char *body = al_optlstring(L, 4, "", &len, "request:respond");
  if (!h->r) { lua_pushboolean(L, 0); return 1; }
  const char *hd[2 * MAX_HEADERS];
  size_t n = 0;
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      /* strings only: the table keeps them alive while the pointers are used */
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        return al_argerror(L, "respond", "headers must map names to strings");
      if (n == MAX_HEADERS) return al_argerror(L, "respond", "at most %d headers", MAX_HEADERS);
      hd[2 * n] = lua_tostring(L, -2);
      hd[2 * n + 1] = lua_tostring(L, -1);
      n++;
      lua_pop(L, 1);
    }
  }
  lua_pushboolean(L, al_sreq_respond(h->r, status, hd, n, body, len) == 0);
  return 1;
}

/* }====================================================== */

/* {====================================================== signals and the process */

static int signalk(lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status; (void)ctx;
  return 1;
}

static void on_shutdown(al_sched *s, int sig, void *ud) {
  al_task *t = ud;
  if (!t || t->state != AL_PARKED) {           /* a drain runs already: end at once */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    raise(sig);
    return;
  }
  s->host->on_shutdown(s, on_shutdown, NULL);   /* the drain starts: no waiter any more */
  lua_pushstring(t->co, sig == SIGTERM ? "SIGTERM" : "SIGINT");
  al_task_wake(t, 1);
}

static void cancel_signal(al_task *t) { t->sched->host->on_shutdown(t->sched, NULL, NULL); }

/* core.wait_signal() -> "SIGINT" | "SIGTERM": from now on both signals end up here instead of
** cancelling every task; a second one ends the process at once. */
static int l_wait_signal(lua_State *L) {
  al_task *t = al_task_current(L, "serve.wait_signal");
  lua_settop(L, 0);
  t->sched->host->on_shutdown(t->sched, on_shutdown, t);
  return al_task_park(L, t, cancel_signal, 0, signalk);
}

/* core.release_signals(): SIGINT and SIGTERM go back to the runtime's usual handling. */
static int l_release_signals(lua_State *L) {
  al_sched *s = al_sched_of(L);
  s->host->on_shutdown(s, NULL, NULL);
  return 0;
}

static int l_live(lua_State *L) {
  lua_pushinteger(L, al_sched_of(L)->live);
  return 1;
}

/* Cancels every task but the running one; returns how many were cancelled. */
static int l_cancel_others(lua_State *L) {
  al_sched *s = al_sched_of(L);
  int n = 0;
  for (al_task *t = s->all; t; t = t->all_next) {
    if (t == s->current || t->state >= AL_DONE || t->cancelled) continue;
    al_task_cancel(t);
    n++;
  }
  lua_pushinteger(L, n);
  return 1;
}

/* }====================================================== */

int luaopen_autolua_serve_core(lua_State *L) {
  static const luaL_Reg server_methods[] = {
    {"port", l_port}, {"wait", l_wait}, {"drain", l_drain}, {"stop", l_stop}, {"stats", l_stats},
    {NULL, NULL}};
  static const luaL_Reg request_methods[] = {{"respond", l_respond}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"listen", l_listen}, {"wait_signal", l_wait_signal}, {"release_signals", l_release_signals},
    {"live", l_live},
    {"cancel_others", l_cancel_others}, {NULL, NULL}};
  luaL_newmetatable(L, SERVER_MT);
  lua_pushcfunction(L, l_server_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, server_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newmetatable(L, REQUEST_MT);
  luaL_newlib(L, request_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
