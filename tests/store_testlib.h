/*
** What the store's tests share: a loop, a way to make a call and wait for its completion, the
** checks, a temporary directory, and a real redis-server on a free loopback port.
*/
#ifndef AUTOLUA_STORE_TESTLIB_H
#define AUTOLUA_STORE_TESTLIB_H

#include <stdio.h>
#include "store.h"

extern int t_failures, t_checks;
extern struct ev_loop *t_loop;

#define CHECK(cond, ...) do { t_checks++; if (!(cond)) { t_failures++; \
  fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
  fputc('\n', stderr); } } while (0)

/* One call's completion, copied out of the callback. */
typedef struct t_call {
  int done, inline_done;
  al_store_result res;
  char message[512];
  char result[4096];
  char jobs[64][64];
  double jobs_changed[64];
  double t0, t1;          /* real time just before the call and when its completion ran */
  int order;              /* the rank in which completions ran */
} t_call;

void t_cb(void *ud, const al_store_result *r);
/* Starts a call: T_START(c, al_store_x(s, ..., t_cb, &c)). Checks it did not complete inline. */
#define T_START(c, expr) do { t_start(&(c)); expr; (c).inline_done = (c).done; \
  CHECK(!(c).inline_done, "a completion ran inside the call"); } while (0)
void t_start(t_call *c);
/* Runs the loop until the call completed (or 'limit' seconds passed: a failed check). */
void t_wait(t_call *c, double limit);
#define T_RUN(c, expr) do { T_START(c, expr); t_wait(&(c), 30); } while (0)
/* Runs the loop for 'sec' seconds. */
void t_sleep(double sec);
double t_realtime(void);
/* The absolute time of a reservation's slot, and how far it may be off. */
double t_slot(const t_call *c, double *err);

/* A new private temporary directory (removed, with what is in it, by t_cleanup). */
const char *t_tmpdir(void);
void t_cleanup(void);

/* redis-server on a free loopback port; NULL if it could not be found ("skip"). 'extra' is
** appended to its arguments (NULL-terminated). */
typedef struct t_redis { int pid, port; } t_redis;
int t_redis_start(t_redis *r, const char *const *extra);
void t_redis_stop(t_redis *r);
int t_redis_have(void);
/* Runs redis-cli-like commands with a blocking hiredis connection; returns 0 if it answered. */
int t_redis_cmd(int port, const char *password, char *out, size_t outlen, const char *fmt, ...);

int t_report(const char *name);

#endif
