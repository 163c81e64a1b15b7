/*
** The runtime: one lua_State, one libev loop, one curl multi handle, and the task scheduler that
** ties them together. Every C module finds it through the state's extra space.
*/
#ifndef AUTOLUA_RUNTIME_H
#define AUTOLUA_RUNTIME_H

#include <signal.h>
#include <ev.h>
#include <lua.h>
#include "sched.h"

typedef struct al_runtime al_runtime;

typedef struct al_runtime {
  lua_State *L;
  const char *progname;   /* before every error message: argv[0], as lua.c has it */
  struct al_alloc *alloc; /* the state's allocator (alloc.c) */
  int warn_on, warn_cont; /* warn(): on after "@on"; in the middle of a message */
  struct ev_loop *loop;
  al_sched sched;          /* with the HTTP core and the REPL's ^C handler: what bindings use */
  int exit_code;          /* set by failures, os.exit and interrupts */
  int closing;            /* os.exit(code, true) is closing the state */
  ev_async interrupt;     /* SIGINT, SIGTERM, SIGHUP arrive here from the signal handler */
  volatile sig_atomic_t interrupted;   /* the signal that ends the run, or 0 */
  al_shutdown_fn shutdown_fn;  /* set: SIGINT/SIGTERM drain through it instead of cancelling */
  void *shutdown_ud;
  volatile sig_atomic_t signo;
} al_runtime;

/* The runtime that owns 'L' (any thread of the state): the one around its scheduler. */
al_runtime *al_runtime_of(lua_State *L);

al_runtime *al_runtime_new(void);
void al_runtime_free(al_runtime *rt);

/* Sets the global 'arg' table the way lua.c does: script at 0, its arguments from 1. */
void al_runtime_setargs(al_runtime *rt, char **argv, int argc, int script);

/* Runs the function on top of the stack (with 'nargs' arguments below it... see .c) as the
** main task, drives the loop until every task is done, and returns the exit status. */
int al_runtime_main(al_runtime *rt, int nargs);

/* Reports an error value of a finished task on stderr with its traceback. */
void al_runtime_report(al_runtime *rt, const char *what, const char *msg);

/* Routes SIGINT and SIGTERM to 'fn' (NULL: back to cancelling every task). A second signal of
** either kind then ends the process at once. */
void al_runtime_on_shutdown(al_runtime *rt, al_shutdown_fn fn, void *ud);

/* Ends the process now with 'code' after aborting transfers (os.exit). With 'close', first
** closes the calling task's pending to-be-closed variables and the state, as lua does. */
void al_runtime_exit(al_runtime *rt, int code, int close);

#endif
