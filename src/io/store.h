/*
** The store: limiter slots, pauses, heartbeats and job items shared between processes
** (docs/STORE.md). One interface, three backends: "memory" (this process), "sqlite:PATH" (every
** process of the user on this machine) and "redis://..." (processes on many machines).
**
** Every operation is asynchronous: it takes a completion callback and its user data, and the
** callback runs later from the libev loop, exactly once, never inside the call that started
** it (not even for the memory backend, and not for an argument error either), so a caller may
** park its task after the call without checking whether it already finished. (One exception:
** when the call's own record cannot be allocated, the callback runs inline with NOMEM.) Calls made on one
** store complete in the order they were made, except that a Redis script found missing
** (NOSCRIPT) is re-sent behind later calls. Closing the store completes every call still
** pending with AL_STORE_CLOSED, from inside al_store_close().
**
** The result passed to a callback, and every string in it, lives only during the callback.
** Times given to the store are relative (seconds from the store's "now"); the store reads one
** clock itself (the Redis server's TIME; the machine's real-time clock for SQLite and memory),
** so processes whose clocks disagree still agree on the order of slots.
*/
#ifndef AUTOLUA_STORE_H
#define AUTOLUA_STORE_H

#include <stddef.h>
#include <ev.h>

typedef enum {
  AL_STORE_OK = 0,
  AL_STORE_BUSY,        /* SQLite: another process held the lock past the call's deadline */
  AL_STORE_CORRUPT,     /* not a database, a malformed one, or a reply the store cannot read */
  AL_STORE_UNREACHABLE, /* cannot open / connect, or the server stopped answering */
  AL_STORE_READONLY,    /* the file or its directory cannot be written */
  AL_STORE_TIMEOUT,     /* a Redis call got no answer within its deadline */
  AL_STORE_AUTH,        /* Redis refused the password (or needs one) */
  AL_STORE_SCRIPT,      /* Redis refused to run a script (EVAL disabled, a script error) */
  AL_STORE_ARGUMENT,    /* bad arguments: an unknown URL, n above the capacity, an empty key */
  AL_STORE_NOMEM,
  AL_STORE_CLOSED       /* the store was closed before the call completed */
} al_store_status;

/* The code of 'kind = "store"' errors: "busy", "corrupt", "unreachable", "readonly", ... */
const char *al_store_status_code(al_store_status s);

typedef struct al_store al_store;

typedef struct al_store_options {
  double call_timeout;   /* seconds a call may take (SQLite: retrying a held lock; Redis: the
                            reply); <= 0: 2 s */
  double connect_timeout;/* Redis: seconds to connect and set up; <= 0: 2 s */
  double retention;      /* seconds job records are kept after their last change; <= 0: 30 days */
  const char *owner;     /* this process's identity in claims and heartbeats; NULL: host-pid-random */
} al_store_options;

/* Opens the store named by 'url' ("memory", "sqlite:PATH", "redis://[[USER]:PASSWORD@]HOST
** [:PORT][/DB]"; NULL or "" gives al_store_default_url()). Returns NULL and fills 'err' (a
** message naming the cause, never a password) and '*status' on failure. Opening SQLite creates
** the directory (0700) and the file (0600, under the umask) when missing. Opening Redis
** resolves HOST once here (a blocking lookup unless HOST is a numeric address); the first call
** connects, and calls made before the connection is ready wait for it up to their deadline.
** After a failed attempt, calls fail at once with its reason until the backoff has passed. */
al_store *al_store_open(struct ev_loop *loop, const char *url, const al_store_options *opt,
                        al_store_status *status, char *err, size_t errlen);

/* Completes every pending call with AL_STORE_CLOSED, then frees the store. NULL is a no-op. */
void al_store_close(al_store *s);

/* "sqlite:$XDG_STATE_HOME/autolua/state.db" (or ~/.local/state/...); malloc'ed, NULL on no
** memory or when neither XDG_STATE_HOME nor HOME is set. */
char *al_store_default_url(void);

/* "memory", "sqlite" or "redis". */
const char *al_store_backend(const al_store *s);
/* The URL with any password replaced by "***". */
const char *al_store_url(const al_store *s);
const char *al_store_owner(const al_store *s);

/* ---- results ---- */

typedef enum {
  AL_CLAIM_GRANTED,   /* the caller owns the item until its lease runs out */
  AL_CLAIM_DONE,      /* done already: 'result' holds its recorded JSON */
  AL_CLAIM_HELD,      /* another owner holds a live lease: 'lease_left' seconds remain */
  AL_CLAIM_UNKNOWN    /* a 'once' item was started and never finished: never run again here */
} al_claim_state;

typedef struct al_store_counts {
  long done, failed, running, unknown;
  long pending;       /* claimed once, lease ran out, not 'once': another run may take it */
  double changed;     /* real-time seconds since the epoch of the last change; 0 if none */
} al_store_counts;

typedef struct al_store_job {
  const char *name;
  double changed;
} al_store_job;

typedef struct al_store_result {
  al_store_status status;
  const char *message;     /* set when status != OK */
  /* reserve */
  int granted;             /* 0: refused by max_wait, nothing was reserved */
  double wait;             /* seconds from now until the slot (also when refused) */
  double slot;             /* granted: the slot on this process's monotonic clock (clock.h), as
                              read in the same step as the store's now (Redis: as the reply comes
                              in); 0 when the backend cannot tell (the caller's send time plus
                              'wait' is then as near as it gets) */
  /* heartbeat */
  long processes;
  /* claim */
  al_claim_state claim;
  const char *result;      /* DONE: the result JSON recorded by finish (may be NULL) */
  size_t result_len;
  int previously_failed;   /* GRANTED: the item had failed before (a retry) */
  double lease_left;       /* HELD */
  /* renew */
  int owned;               /* renew: 1 if the caller still held the item and its lease moved */
  /* counts */
  al_store_counts counts;
  /* list */
  const al_store_job *jobs;
  size_t njobs;
  /* forget */
  long forgotten;          /* items deleted */
} al_store_result;

typedef void (*al_store_cb)(void *ud, const al_store_result *r);

/* ---- limiters ---- */

typedef enum { AL_STORE_RATE, AL_STORE_WINDOW } al_store_limit_kind;

typedef struct al_store_limit {
  al_store_limit_kind kind;
  double interval;   /* RATE: seconds one unit costs (per / rate) */
  double burst;      /* RATE: units that may go at once (>= 1) */
  int limit;         /* WINDOW: units in any window */
  double window;     /* WINDOW: seconds */
  double spacing;    /* WINDOW: > 0 paces a backlog: a unit that cannot go at once goes no
                        sooner than 'spacing' seconds per unit after the last slot (0: no pacing) */
} al_store_limit;

/* Reserves 'n' units of limiter 'key' at the earliest slot no earlier than now, the limiter's
** pause and every slot reserved before (so processes are served in the order their calls
** reach the store), and answers the wait from now until that slot. A slot more than
** 'max_wait' seconds away (max_wait >= 0) is refused and the limiter's state is left as it
** was. A paced window (spacing > 0) spaces the slots of a backlog: a slot that cannot be now
** is also no sooner than n * spacing after the last one, so a flood's next window does not
** begin with a burst. All users of one key must pass the same limit. n above the burst (RATE) or the limit
** (WINDOW) is AL_STORE_ARGUMENT. */
void al_store_reserve(al_store *s, const char *key, const al_store_limit *lim, double n,
                      double max_wait, al_store_cb cb, void *ud);

/* No slot of 'key' starts earlier than 'seconds' from now (a 429's Retry-After, for every
** process); a pause only ever lengthens. */
void al_store_pause(al_store *s, const char *key, double seconds, al_store_cb cb, void *ud);

/* Records that this process ('owner' or the store's own) uses 'key' for the next 'ttl'
** seconds and answers how many processes have a live heartbeat on it (>= 1). */
void al_store_heartbeat(al_store *s, const char *key, const char *owner, double ttl,
                        al_store_cb cb, void *ud);

/* ---- jobs ---- */

typedef struct al_store_claim_opts {
  const char *owner;    /* NULL: the store's owner */
  double lease;         /* seconds */
  int once;             /* mark the item started in the same step */
  int retry_unknown;    /* claim a 'once' item of unknown outcome anyway */
} al_store_claim_opts;

/* Claims item 'key' of job 'job'. A new, failed or expired (non-'once') item is GRANTED with
** a lease; an item that is already the caller's is GRANTED again with a new lease. */
void al_store_claim(al_store *s, const char *job, const char *key, const al_store_claim_opts *o,
                    al_store_cb cb, void *ud);

/* Moves the lease of an item the caller still owns to 'lease' seconds from now ('owned'). */
void al_store_renew(al_store *s, const char *job, const char *key, const char *owner,
                    double lease, al_store_cb cb, void *ud);

/* Records the item done with 'result' (JSON text, may be NULL), or failed with kind/code/
** message (code may be NULL). A done record is kept whoever owns the item now (the work was
** done); a failure is recorded only if no other owner holds a live lease on it. */
void al_store_finish_done(al_store *s, const char *job, const char *key, const char *owner,
                          const char *result, size_t result_len, al_store_cb cb, void *ud);
void al_store_finish_failed(al_store *s, const char *job, const char *key, const char *owner,
                            const char *kind, const char *code, const char *message,
                            al_store_cb cb, void *ud);

void al_store_counts_get(al_store *s, const char *job, al_store_cb cb, void *ud);
void al_store_list(al_store *s, al_store_cb cb, void *ud);
/* Deletes job 'job' (key == NULL) or one of its items. */
void al_store_forget(al_store *s, const char *job, const char *key, al_store_cb cb, void *ud);

#endif
