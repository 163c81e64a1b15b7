/*
** Tasks are coroutines. A C function that has to wait parks the running task ('al_park'); the
** C core wakes it later with values ('al_wake') from a libev or curl callback, which only puts it
** on the run queue. The queue is drained from the loop's prepare/check hooks, outside every
** libcurl callback, so Lua never runs inside one.
*/
#ifndef AUTOLUA_SCHED_H
#define AUTOLUA_SCHED_H

#include <ev.h>
#include <lua.h>

typedef struct al_runtime al_runtime;
typedef struct al_task al_task;
typedef void (*al_cancel_fn)(al_task *t);

enum { AL_NEW, AL_READY, AL_RUNNING, AL_PARKED, AL_DONE, AL_FAILED, AL_CANCELLED };

/* A FIFO of tasks linked through their 'q_prev'/'q_next' fields: a task waits in one at most. */
typedef struct al_queue { al_task *head, *tail; int n; } al_queue;

struct al_task {
  lua_State *co;
  al_runtime *rt;
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
  double want;               /* limiter: amount asked for */
  double parked_at;          /* limiter: when it started waiting */
  void *parked_on;           /* whatever the cancel hook needs */
  ev_timer timer;            /* sleep and max_wait */
};

typedef struct al_sched {
  al_task *rq_head, *rq_tail;
  al_task *all;              /* live tasks, for cancellation at exit */
  al_task *current;
  al_queue failed;           /* failed tasks nobody has waited for yet */
  int live;
  ev_prepare prepare;
  ev_check check;
  ev_idle idle;              /* keeps the loop from blocking while the run queue is not empty */
} al_sched;

void al_sched_init(al_runtime *rt);
void al_sched_drain(al_runtime *rt);

/* Creates a task from the function and 'nargs' arguments on top of 'L' (popped) and pushes
** its handle. It starts on the next pass of the run queue. */
al_task *al_task_spawn(lua_State *L, int nargs);
al_task *al_task_check(lua_State *L, int idx, const char *fname);

/* The task running now; raises an argument-style error when 'L' cannot yield to it. */
al_task *al_task_current(lua_State *L, const char *what);

/* Parks the running task: never returns. When woken, 'k' runs with the waker's values on top
** of the stack (from index 'base'+1); when cancelled, a cancellation error is raised instead. */
int al_park(lua_State *L, al_task *t, al_cancel_fn on_cancel, lua_KContext ctx, lua_KFunction k);
int al_park_nvals(lua_State *L, al_task *t);

/* Makes a parked task runnable; the 'n' values on top of t->co become the park's results. */
void al_wake(al_task *t, int n);
/* Lets every other runnable task run, then goes on with 'k'. */
int al_yield(lua_State *L, al_task *t, lua_KFunction k);
void al_task_cancel(al_task *t);
void al_sched_cancel_all(al_runtime *rt);

void al_q_push(al_queue *q, al_task *t);
void al_q_remove(al_task *t);
al_task *al_q_pop(al_queue *q);

/* The value a park yields, for the coroutine wrappers that pass it on (lcoro.c). */
void *al_park_key(void);
int al_is_park(void *p);

/* Raises the structured cancellation error. */
int al_raise_cancelled(lua_State *L);

/* The task type's Lua face (ltask.c): the 'autolua.task.core' module. */
int luaopen_autolua_task_core(lua_State *L);

#endif
