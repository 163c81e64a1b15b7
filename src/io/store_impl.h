/*
** What the store's backends share (store.c): the request record every call becomes, the
** backend's table of functions, and the queue that runs completions from the loop.
*/
#ifndef AUTOLUA_STORE_IMPL_H
#define AUTOLUA_STORE_IMPL_H

#include "store.h"

typedef enum {
  AL_OP_RESERVE, AL_OP_PAUSE, AL_OP_HEARTBEAT, AL_OP_CLAIM, AL_OP_RENEW,
  AL_OP_DONE, AL_OP_FAILED, AL_OP_COUNTS, AL_OP_LIST, AL_OP_FORGET
} al_store_op;

typedef struct al_store_req {
  struct al_store_req *next;
  al_store *store;
  al_store_op op;
  al_store_cb cb;
  void *ud;
  /* arguments (owned copies) */
  char *key;            /* limiter key or item key (NULL: the whole job for FORGET) */
  char *job;
  char *owner;
  char *data;           /* DONE: result JSON; FAILED: message */
  size_t data_len;
  char *kind, *code;    /* FAILED */
  al_store_limit limit;
  double n, max_wait, seconds;  /* seconds: pause, heartbeat ttl, lease */
  int once, retry_unknown;
  /* the answer, filled by the backend; 'owned' strings are freed after the callback */
  al_store_result res;
  char *msg_buf, *result_buf;
  al_store_job *jobs_buf;
  char **job_names;
  double deadline;      /* backend use: ev_now() past which the call gives up */
  int backend_state;    /* backend use */
} al_store_req;

typedef struct al_store_vtable {
  const char *name;
  /* Takes the request; completes it later with al_store_complete(). */
  void (*submit)(al_store *s, al_store_req *r);
  /* Completes every request it still holds with AL_STORE_CLOSED and frees its state. */
  void (*close)(al_store *s);
} al_store_vtable;

struct al_store {
  const al_store_vtable *be;
  void *impl;
  struct ev_loop *loop;
  char *url;            /* redacted */
  char *owner;
  double call_timeout, connect_timeout, retention;
  /* completions waiting to run from the loop */
  al_store_req *done_head, *done_tail;
  ev_timer done_timer;
  int closing;
};

extern const al_store_vtable al_store_memory_backend;
extern const al_store_vtable al_store_sqlite_backend;
extern const al_store_vtable al_store_redis_backend;

/* Backend constructors: fill s->impl; on failure set *status and err and return -1. */
int al_store_memory_open(al_store *s, al_store_status *status, char *err, size_t errlen);
int al_store_sqlite_open(al_store *s, const char *path, al_store_status *status, char *err,
                         size_t errlen);
int al_store_redis_open(al_store *s, const char *rest, al_store_status *status, char *err,
                        size_t errlen);

/* Queues 'r' to have its callback run from the loop, then freed. */
void al_store_complete(al_store_req *r);
/* Sets r->res.status and a formatted message, then completes it. */
void al_store_fail(al_store_req *r, al_store_status st, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

/* One item as every backend sees it, and the decisions made on it the same way everywhere. */
typedef enum { AL_ITEM_NONE, AL_ITEM_RUNNING, AL_ITEM_DONE, AL_ITEM_FAILED } al_item_state;
typedef struct al_item_view {
  al_item_state state;
  const char *owner;
  double lease_until;
  int once;
} al_item_view;
al_claim_state al_store_decide_claim(const al_item_view *v, double now, const char *owner,
                                     int retry_unknown, double *lease_left);
void al_store_count_item(al_store_counts *c, const al_item_view *v, double now);

/* The real-time clock, seconds since the epoch. */
double al_store_realtime(void);

#define AL_STORE_DAY 86400.0

#endif
