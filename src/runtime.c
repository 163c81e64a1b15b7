/*
** The runtime (see runtime.h): builds the Lua state and the loop, runs the main task, and
** turns what happened into an exit status.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "curlapi.h"
#include <lauxlib.h>
#include "modules.h"
#include <lualib.h>
#include "runtime.h"
#include "alloc.h"
#include "http.h"
#include "loader.h"
#include "lerror.h"


/* The signal handler's way in; also keeps everything reachable for the leak checker when
** os.exit ends the process without closing the state. */
static al_runtime *g_rt;

al_runtime *al_runtime_of(lua_State *L) {
  return *(al_runtime **)lua_getextraspace(L);
}

/* {====================================================== interruption */

static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  al_error_raise(L, "cancelled", "interrupted");
}

/* Like lua.c: a signal may not touch the state, so it only arms a hook that raises inside the
** running task (if Lua is busy) and wakes the loop, which cancels every task. A second ^C
** finds the default action and ends the process. */
static void on_sigint(int sig) {
  g_rt->signo = sig;
  if (g_rt->shutdown_fn) {           /* a graceful shutdown: handlers keep running */
    signal(sig, SIG_DFL);
    ev_async_send(g_rt->loop, &g_rt->interrupt);
    return;
  }
  if (g_rt->interrupt_ref == LUA_NOREF) {   /* the REPL handles every ^C itself */
    signal(sig, SIG_DFL);
    g_rt->interrupted = 1;
  }
  al_task *t = g_rt->sched.current;
  if (t) lua_sethook(t->co, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  ev_async_send(g_rt->loop, &g_rt->interrupt);
}

static void on_interrupt(struct ev_loop *loop, ev_async *w, int revents) {
  (void)loop; (void)revents;
  al_runtime *rt = w->data;
  if (rt->shutdown_fn) {
    rt->shutdown_fn(rt, rt->signo, rt->shutdown_ud);
    return;
  }
  if (rt->interrupt_ref == LUA_NOREF) {
    al_sched_cancel_all(rt);
    return;
  }
  lua_State *L = rt->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->interrupt_ref);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    al_runtime_report(rt, "interrupt handler: ", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

void al_runtime_on_shutdown(al_runtime *rt, al_shutdown_fn fn, void *ud) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn ? on_sigint : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  rt->shutdown_fn = fn;
  rt->shutdown_ud = ud;
  sigaction(SIGTERM, &sa, NULL);
  if (fn) sigaction(SIGINT, &sa, NULL);
}

/* }====================================================== */

static void preload(lua_State *L, const char *name, lua_CFunction f) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, f);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

/* {====================================================== the state */

#if defined(__SANITIZE_ADDRESS__)
#define KEEP_BLOCKS 0        /* the sanitizer sees every Lua block come and go */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEP_BLOCKS 0
#endif
#endif
#ifndef KEEP_BLOCKS
#define KEEP_BLOCKS 1
#endif

static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "autolua: PANIC: unprotected error in call to Lua API (%s)\n",
          msg ? msg : "error object is not a string");
  return 0;                  /* Lua aborts */
}

/* warn(): off until warn("@on"), as in the lua command; a message may come in pieces. */
static void warning(void *ud, const char *msg, int tocont) {
  al_runtime *rt = ud;
  if (!rt->warn_cont && !tocont && msg[0] == '@') {
    if (strcmp(msg, "@on") == 0) rt->warn_on = 1;
    else if (strcmp(msg, "@off") == 0) rt->warn_on = 0;
    return;
  }
  if (rt->warn_on) {
    if (!rt->warn_cont) fputs("Lua warning: ", stderr);
    fputs(msg, stderr);
    if (!tocont) fputc('\n', stderr);
  }
  rt->warn_cont = tocont;
}

static lua_State *new_state(al_runtime *rt) {
  rt->alloc = al_alloc_new(KEEP_BLOCKS);
  lua_State *L = rt->alloc ? lua_newstate(al_alloc_fn, rt->alloc) : NULL;
  if (!L) return NULL;
  lua_atpanic(L, panic);
  lua_setwarnf(L, warning, rt);
  return L;
}

/* }====================================================== */

al_runtime *al_runtime_new(void) {
  al_runtime *rt = calloc(1, sizeof *rt);
  if (!rt) return NULL;
  /* not ev_default_loop: it reaps every child, which breaks os.execute and io.popen */
  rt->loop = ev_loop_new(EVFLAG_AUTO);
  rt->L = new_state(rt);
  rt->interrupt_ref = LUA_NOREF;
  if (!rt->loop || !rt->L) { fprintf(stderr, "autolua: cannot start (out of memory)\n"); exit(1); }
  g_rt = rt;
  lua_State *L = rt->L;
  *(al_runtime **)lua_getextraspace(L) = rt;
  luaL_openlibs(L);
  al_sched_init(rt);
  preload(L, "autolua.error", luaopen_autolua_error);
  preload(L, "autolua.task.core", luaopen_autolua_task_core);
  preload(L, "autolua.http.core", luaopen_autolua_http_core);
  preload(L, "autolua.limiter", luaopen_autolua_limiter);
  preload(L, "autolua.sys", luaopen_autolua_sys);
  preload(L, "autolua.digest", luaopen_autolua_digest);
  preload(L, "autolua.line", luaopen_autolua_line);
  preload(L, "dexi.core", luaopen_dexi_core);
  preload(L, "autolua.serve.core", luaopen_autolua_serve_core);
  luaL_requiref(L, "autolua.task.core", luaopen_autolua_task_core, 0);  /* task metatable */
  lua_pop(L, 1);
  al_loader_install(L);
  al_coro_install(L);
  al_sys_install(L);
  ev_async_init(&rt->interrupt, on_interrupt);
  rt->interrupt.data = rt;
  ev_async_start(rt->loop, &rt->interrupt);
  ev_unref(rt->loop);
  /* sigaction, not signal(): with strict POSIX feature macros signal() resets the handler */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  return rt;
}

void al_runtime_free(al_runtime *rt) {
  signal(SIGINT, SIG_DFL);
  ev_ref(rt->loop);
  ev_async_stop(rt->loop, &rt->interrupt);
  lua_close(rt->L);              /* finalizers still need the loop and the HTTP core */
  al_alloc_free(rt->alloc);
  if (rt->http) {
    al_http_free(rt->http);
    curl_global_cleanup();
  }
  ev_ref(rt->loop);
  ev_ref(rt->loop);
  ev_prepare_stop(rt->loop, &rt->sched.prepare);
  ev_check_stop(rt->loop, &rt->sched.check);
  ev_idle_stop(rt->loop, &rt->sched.idle);
  ev_loop_destroy(rt->loop);
  g_rt = NULL;
  free(rt);
}

void al_runtime_setargs(al_runtime *rt, char **argv, int argc, int script) {
  lua_State *L = rt->L;
  lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

void al_runtime_report(al_runtime *rt, const char *what, const char *msg) {
  (void)rt;
  fflush(stdout);
  fprintf(stderr, "autolua: %s%s\n", what ? what : "", msg ? msg : "(no message)");
  fflush(stderr);
}

/* After the loop: errors nobody waited for, and tasks nothing can wake any more. */
static void settle(al_runtime *rt) {
  al_task *t;
  while ((t = al_q_pop(&rt->sched.failed)) != NULL) {
    al_runtime_report(rt, "error in a task nobody waited for: ", lua_tostring(t->co, 2));
    if (rt->exit_code == 0) rt->exit_code = 1;
    luaL_unref(rt->L, LUA_REGISTRYINDEX, t->ref);
    t->ref = LUA_NOREF;
  }
  if (rt->sched.live > 0 && !rt->interrupted) {
    fprintf(stderr, "autolua: %d task(s) still waiting with nothing left to wake them (deadlock)\n",
            rt->sched.live);
    if (rt->exit_code == 0) rt->exit_code = 1;
  }
}

int al_runtime_main(al_runtime *rt, int nargs) {
  al_task *t = al_task_spawn(rt->L, nargs);
  t->is_main = 1;
  lua_pop(rt->L, 1);
  ev_run(rt->loop, 0);
  settle(rt);
  return rt->interrupted ? 130 : rt->exit_code;
}

void al_runtime_exit(al_runtime *rt, int code) {
  fflush(stdout);
  fflush(stderr);
  if (rt->http) {   /* removes the temporary files of unfinished downloads */
    al_http_free(rt->http);
    rt->http = NULL;
  }
  exit(code);
}
