/*
** The runtime (see runtime.h): builds the Lua state and the loop, runs the main task, and
** turns what happened into an exit status.
*/
#include <signal.h>
#include <stddef.h>
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
#include "lsecret.h"


/* The signal handler's way in; also keeps everything reachable for the leak checker when
** os.exit ends the process without closing the state. */
static al_runtime *g_rt;

/* The signals that end a run cleanly (see on_signal). */
static const int ended_by[] = {SIGINT, SIGTERM, SIGHUP};

al_runtime *al_runtime_of(lua_State *L) {
  return (al_runtime *)((char *)al_sched_of(L) - offsetof(al_runtime, sched));
}

static al_runtime *runtime_of_sched(al_sched *s) {
  return (al_runtime *)((char *)s - offsetof(al_runtime, sched));
}

static void report(al_sched *s, const char *what, const char *msg) {
  al_runtime_report(runtime_of_sched(s), what, msg);
}

static void exit_hook(al_sched *s, int code, int close) {
  al_runtime_exit(runtime_of_sched(s), code, close);
}

static void on_shutdown_hook(al_sched *s, al_shutdown_fn fn, void *ud) {
  al_runtime_on_shutdown(runtime_of_sched(s), fn, ud);
}

static const al_host_hooks hooks = {report, exit_hook, on_shutdown_hook};

/* {====================================================== interruption */

static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  int sig = g_rt->interrupted;
  if (sig == SIGTERM) al_error_raise(L, "cancelled", "terminated (SIGTERM)");
  if (sig == SIGHUP) al_error_raise(L, "cancelled", "hung up (SIGHUP)");
  al_error_raise(L, "cancelled", "interrupted");
}

/* Like lua.c: a signal may not touch the state, so it only arms a hook that raises inside the
** running task (if Lua is busy) and wakes the loop, which cancels every task: transfers are
** aborted and partial files removed, and the process ends with 128 + the signal. SIGTERM and
** SIGHUP end it the same way as ^C. A second one finds the default action and ends the
** process at once. While 'autolua serve' drains (al_runtime_on_shutdown), a signal goes to its
** shutdown function instead, and the handlers keep running. */
static void on_signal(int sig) {
  g_rt->signo = sig;
  if (g_rt->shutdown_fn) {           /* a graceful shutdown: handlers keep running */
    signal(sig, SIG_DFL);
    ev_async_send(g_rt->loop, &g_rt->interrupt);
    return;
  }
  if (sig != SIGINT || g_rt->sched.interrupt_ref == LUA_NOREF) {   /* the REPL handles every ^C itself */
    signal(sig, SIG_DFL);
    if (!g_rt->interrupted) g_rt->interrupted = sig;   /* the first signal gives the status */
  }
  al_task *t = g_rt->sched.current;
  /* not the REPL's own loop: caught between two reads, it would end the REPL */
  if (t && !(t->is_main && g_rt->sched.interrupt_ref != LUA_NOREF))
    lua_sethook(t->co, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  ev_async_send(g_rt->loop, &g_rt->interrupt);
}

static void on_interrupt(struct ev_loop *loop, ev_async *w, int revents) {
  (void)loop; (void)revents;
  al_runtime *rt = w->data;
  if (rt->shutdown_fn) {
    rt->shutdown_fn(&rt->sched, rt->signo, rt->shutdown_ud);
    return;
  }
  if (rt->interrupted || rt->sched.interrupt_ref == LUA_NOREF) {
    al_sched_cancel_all(&rt->sched);
    return;
  }
  lua_State *L = rt->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->sched.interrupt_ref);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    al_runtime_report(rt, "interrupt handler: ", al_error_tostring(L, -1));
    lua_pop(L, 2);
  }
}

void al_runtime_on_shutdown(al_runtime *rt, al_shutdown_fn fn, void *ud) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;          /* with or without 'fn': it decides on each signal */
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  rt->shutdown_fn = fn;
  rt->shutdown_ud = ud;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
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
  /* AUTOLUA_ALLOC_POOL=1 turns the pool on under the sanitizer too (alloc.c poisons the kept
  ** blocks), for the test that checks it; =0 turns it off */
  const char *pool = getenv("AUTOLUA_ALLOC_POOL");
  rt->alloc = al_alloc_new(pool && *pool ? strcmp(pool, "0") != 0 : KEEP_BLOCKS);
  lua_State *L = rt->alloc ? lua_newstate(al_alloc_fn, rt->alloc) : NULL;
  if (!L) return NULL;
  lua_atpanic(L, panic);
  lua_setwarnf(L, warning, rt);
  /* Generational collection: most of what a task makes dies young (a request's options, its
  ** response table and strings), while a script's long-lived data (the list task.each walks, a
  ** job's state) would be traversed again by every incremental cycle. On the TLS flood it takes
  ** about 3 % off the CPU of a request (docs/BENCHMARKS.md); a script may switch back with
  ** collectgarbage("incremental"). */
  lua_gc(L, LUA_GCGEN, 0, 0);
  return L;
}

/* }====================================================== */

al_runtime *al_runtime_new(void) {
  al_runtime *rt = calloc(1, sizeof *rt);
  if (!rt) return NULL;
  /* not ev_default_loop: it reaps every child, which breaks os.execute and io.popen */
  rt->loop = ev_loop_new(EVFLAG_AUTO);
  rt->L = new_state(rt);
  rt->progname = "autolua";
  if (!rt->loop || !rt->L) { fprintf(stderr, "autolua: cannot start (out of memory)\n"); exit(1); }
  g_rt = rt;
  lua_State *L = rt->L;
  al_sched_init(&rt->sched, L, rt->loop, &hooks);   /* before any thread: they copy its address */
  luaL_openlibs(L);
  preload(L, "autolua.error", luaopen_autolua_error);
  preload(L, "autolua.task.core", luaopen_autolua_task_core);
  preload(L, "autolua.http.core", luaopen_autolua_http_core);
  preload(L, "autolua.limiter", luaopen_autolua_limiter);
  preload(L, "autolua.sys", luaopen_autolua_sys);
  preload(L, "autolua.digest", luaopen_autolua_digest);
  preload(L, "autolua.line", luaopen_autolua_line);
  preload(L, "autolua.secret", luaopen_autolua_secret);
  preload(L, "dexi.core", luaopen_dexi_core);
  preload(L, "autolua.luacli.core", luaopen_autolua_luacli_core);
  preload(L, "autolua.serve.core", luaopen_autolua_serve_core);
  preload(L, "autolua.store.core", luaopen_autolua_store_core);
  al_loader_install(L);
  al_coro_install(L);
  al_sys_install(L);
  al_secret_add_environment(L);
  ev_async_init(&rt->interrupt, on_interrupt);
  rt->interrupt.data = rt;
  ev_async_start(rt->loop, &rt->interrupt);
  ev_unref(rt->loop);
  /* sigaction, not signal(): with strict POSIX feature macros signal() resets the handler */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int i = 0; i < (int)(sizeof ended_by / sizeof ended_by[0]); i++) sigaction(ended_by[i], &sa, NULL);
  return rt;
}

void al_runtime_free(al_runtime *rt) {
  for (int i = 0; i < (int)(sizeof ended_by / sizeof ended_by[0]); i++) signal(ended_by[i], SIG_DFL);
  ev_ref(rt->loop);
  ev_async_stop(rt->loop, &rt->interrupt);
  lua_close(rt->L);              /* finalizers still need the loop and the HTTP core */
  al_alloc_free(rt->alloc);
  if (rt->sched.http) {
    al_http_free(rt->sched.http);
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
  lua_State *L = rt->L;
  fflush(stdout);
  if (msg && lua_checkstack(L, 4)) {   /* a plain string error may still carry a secret */
    lua_pushstring(L, msg);
    fprintf(stderr, "%s: %s%s\n", rt->progname, what ? what : "", al_secret_mask(L, -1));
    lua_pop(L, 2);
  } else {
    fprintf(stderr, "%s: %s%s\n", rt->progname, what ? what : "", msg ? msg : "(no message)");
  }
  fflush(stderr);
}

/* After the loop: errors nobody waited for, and tasks nothing can wake any more. */
static void settle(al_runtime *rt) {
  al_task *t;
  if (rt->sched.main_failed && rt->exit_code == 0) rt->exit_code = 1;
  while ((t = al_queue_pop(&rt->sched.failed)) != NULL) {
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
  /* ^C was seen at the terminal; a SIGTERM or SIGHUP from elsewhere leaves a line in the log */
  if (rt->interrupted == SIGTERM || rt->interrupted == SIGHUP)
    al_runtime_report(rt, NULL, rt->interrupted == SIGTERM ? "terminated by SIGTERM" : "hung up (SIGHUP)");
  return rt->interrupted ? 128 + rt->interrupted : rt->exit_code;
}

void al_runtime_exit(al_runtime *rt, int code, int close) {
  fflush(stdout);
  fflush(stderr);
  if (close && !rt->closing) {
    /* As os.exit(code, true) closes lua's state from inside its main thread: the calling task's
    ** thread is unwound, running its pending __close handlers, and lua_close then runs every
    ** finalizer while the loop and the HTTP core are still there (al_runtime_free). */
    rt->closing = 1;
    al_task *t = rt->sched.current;
    if (t) {
#if LUA_VERSION_RELEASE_NUM >= 50406
      lua_closethread(t->co, NULL);
#else
      lua_resetthread(t->co);
#endif
    }
    al_runtime_free(rt);
    exit(code);
  }
  if (rt->sched.http) {   /* removes the temporary files of unfinished downloads */
    al_http_free(rt->sched.http);
    rt->sched.http = NULL;
  }
  al_sys_drop_temps(rt->L);
  exit(code);
}
