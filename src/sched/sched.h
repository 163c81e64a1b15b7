/*
** Tasks are coroutines. A C function that has to wait parks the running task ('al_task_park'); the
** C core wakes it later with values ('al_task_wake') from a libev or curl callback, which only puts it
** on the run queue. The queue is drained from the loop's prepare/check hooks, outside every
** libcurl callback, so Lua never runs inside one.
*/
#ifndef AUTOLUA_SCHED_H
#define AUTOLUA_SCHED_H

#include <ev.h>
#include <lua.h>

typedef struct al_sched al_sched;
typedef struct al_task al_task;
typedef void (*al_cancel_fn)(al_task *t);

/* The tasks' metatable, in the registry; the only spelling of its name. */
#define AL_TASK_MT "autolua.task"

enum { AL_NEW, AL_READY, AL_RUNNING, AL_PARKED, AL_DONE, AL_FAILED, AL_CANCELLED };

/* A FIFO of tasks linked through their 'q_prev'/'q_next' fields: a task waits in one at most. */
typedef struct al_queue { al_task *head, *tail; int n; } al_queue;

struct al_task {
  lua_State *co;
  al_sched *sched;
  int state;
  int nargs;                 /* values on 'co' for the next resume */
  int nres;                  /* results on 'co' once done */
  int ref;                   /* registry anchor while the task is alive or unobserved */
  unsigned cancelled : 1, observed : 1, is_main : 1;
  al_task *rq_next;          /* run queue */
  al_task *all_prev, *all_next;
  al_task *q_prev, *q_next;  /* the queue it waits in */
  al_queue *q_in;
  al_queue waiters;          /* tasks in t:wait() on this one */
  al_cancel_fn on_cancel;    /* undoes whatever the task is parked on */
  lua_KFunction k;           /* what runs when the park ends */
  lua_KContext kctx;
  int kbase;                 /* stack top of the parked C function before the yield */
  unsigned token;            /* the park token: changes when a park ends (al_task_park_token) */
  unsigned lua_parked : 1;   /* parked by core.park (Lua code), so core.wake may end it */
  void *wait;                /* the parking client's own wait record, for its cancel hook */
  ev_timer timer;            /* task.sleep */
};

typedef struct al_http al_http;
/* A graceful shutdown (autolua serve): called on the loop for SIGINT or SIGTERM. */
typedef void (*al_shutdown_fn)(al_sched *s, int sig, void *ud);

/* What the host lends the layers below it (runtime.c fills it in): they call through it and
** never name the host, as Redis passes its aeEventLoop down instead of being reached into. */
typedef struct al_host_hooks {
  /* A line on stderr after the program's name, with every registered secret masked. */
  void (*report)(al_sched *s, const char *what, const char *msg);
  /* os.exit: ends the process after aborting transfers; with 'close', closes the state. */
  void (*exit)(al_sched *s, int code, int close);
  /* Routes SIGINT and SIGTERM to 'fn' (NULL: back to cancelling every task). */
  void (*on_shutdown)(al_sched *s, al_shutdown_fn fn, void *ud);
} al_host_hooks;

struct al_sched {
  lua_State *L;              /* the main thread */
  struct ev_loop *loop;
  const al_host_hooks *host;
  al_http *http;             /* the HTTP core on this loop, made on first use (al_sched_http) */
  int main_failed;           /* the main task failed: the run's status is 1 */
  int failure_ref;           /* a Lua function told of a task that failed unobserved (the REPL) */
  int interrupt_ref;         /* a Lua function that handles ^C (the REPL), or LUA_NOREF */
  al_task *rq_head, *rq_tail;
  al_task *all;              /* live tasks, for cancellation at exit */
  al_task *current;
  al_queue failed;           /* failed tasks nobody has waited for yet */
  int live;
  ev_prepare prepare;
  ev_check check;
  ev_idle idle;              /* keeps the loop from blocking while the run queue is not empty */
};

/* Sets the scheduler up on 'loop' for the state 'L', whose threads all find it from now on. */
void al_sched_init(al_sched *s, lua_State *L, struct ev_loop *loop, const al_host_hooks *host);
void al_sched_drain(al_sched *s);
/* The scheduler that runs 'L' (any thread of the state). */
al_sched *al_sched_of(lua_State *L);
/* Makes the function at 'idx' the one ^C calls (outside any task) instead of ending the run:
** the REPL's. The host's signal handling reads it. */
void al_sched_on_interrupt(lua_State *L, int idx);
/* The HTTP core on the scheduler's loop, made on first use (libcurl is opened then); raises a
** kind = "network" error when it cannot be made. The host frees it after the state. */
al_http *al_sched_http(lua_State *L);

/* A task's own coroutine is marked at its birth: the coroutine library treats it as Lua
** treats the main thread (nothing can resume it, coroutine.yield cannot leave it). */
int al_task_is_thread(lua_State *co);

/* Creates a task from the function and 'nargs' arguments on top of 'L' (popped) and pushes
** its handle. It starts on the next pass of the run queue. */
al_task *al_task_spawn(lua_State *L, int nargs);
al_task *al_task_check(lua_State *L, int idx, const char *fname);

/* The task running now; raises an argument-style error when 'L' cannot yield to it. */
al_task *al_task_current(lua_State *L, const char *what);

/* Parks the running task: never returns. When woken, 'k' runs with the waker's values on top
** of the stack (from index 'base'+1); when cancelled, a cancellation error is raised instead. */
int al_task_park(lua_State *L, al_task *t, al_cancel_fn on_cancel, lua_KContext ctx, lua_KFunction k);
int al_task_park_nvals(lua_State *L, al_task *t);

/* Makes a parked task runnable; the 'n' values on top of t->co become the park's results. */
void al_task_wake(al_task *t, int n);

/* A client that parks a task keeps the token read just before al_task_park in its own wait record,
** and wakes it with al_task_wake_park: a wake meant for a park that has ended since (woken,
** cancelled) then finds another token and does nothing. */
static inline unsigned al_task_park_token(const al_task *t) { return t->token; }
/* Wakes 't' with the 'n' values on top of t->co if it is still in the park 'token' names;
** otherwise drops them. Returns whether it woke it. */
int al_task_wake_park(al_task *t, unsigned token, int n);

/* Pushes the tasks' metatable, made on first use: a task can be spawned before any module is
** loaded. */
void al_task_pushmeta(lua_State *L);
/* Lets every other runnable task run, then goes on with 'k'. */
int al_task_yield(lua_State *L, al_task *t, lua_KFunction k);
void al_task_cancel(al_task *t);
void al_sched_cancel_all(al_sched *s);

void al_queue_push(al_queue *q, al_task *t);
void al_queue_remove(al_task *t);
al_task *al_queue_pop(al_queue *q);

/* The value a park yields, for the coroutine wrappers that pass it on (lcoro.c). */
void *al_task_park_key(void);
int al_task_is_park(void *p);

/* Raises the structured cancellation error. */
int al_task_raise_cancelled(lua_State *L);

/* The task type's Lua face (ltask.c): the 'autolua.task.core' module. */
int luaopen_autolua_task_core(lua_State *L);

#endif
