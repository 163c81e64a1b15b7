/*
** The HTTP server on the loop: libmicrohttpd in its external-event mode (epoll), watched by one
** ev_io and one ev_timer, with the limits and deadlines it lacks. No Lua here: a request whose
** headers and body have arrived is handed to the 'start' callback, which answers it later, from
** anywhere on the loop thread, with al_sreq_respond. /work/shared/design/SERVE.md explains the
** pattern and its pitfalls.
*/
#ifndef AUTOLUA_SERVE_H
#define AUTOLUA_SERVE_H

#include <stddef.h>
#include <ev.h>

typedef struct al_server al_server;
typedef struct al_sreq al_sreq;

typedef struct al_serve_opts {
  const char *host;          /* numeric address or name; NULL: 127.0.0.1 */
  int port;                  /* 0: any free port (al_serve_port tells which) */
  const char *token;         /* non-NULL: every request needs "Authorization: Bearer <token>" */
  size_t max_body;           /* bytes of request body (413 beyond) */
  size_t max_header;         /* bytes of request line and headers (431 beyond) */
  double read_timeout;       /* seconds from connection (or the last answer) to a whole request */
  double handler_timeout;    /* seconds a handler may run before the server answers 504 */
  int max_handlers;          /* handlers running at once */
  int max_queue;             /* requests waiting for a handler slot (503 beyond) */
  double queue_timeout;      /* seconds a request may wait for a slot (then 503) */
  unsigned max_connections;  /* open connections; more wait in the listen backlog */
} al_serve_opts;

/* The defaults, documented in the README ("Serving"). */
void al_serve_defaults(al_serve_opts *o);

typedef struct al_serve_cb {
  /* A whole request is in: run its handler, which answers with al_sreq_respond. */
  void (*start)(void *ud, al_sreq *r);
  /* The server answered 'r' itself (handler timeout, shutdown): stop its handler. */
  void (*abort)(void *ud, al_sreq *r);
  /* 'r' is about to be freed: forget it (al_sreq_user tells what the binding hung on it). */
  void (*release)(void *ud, al_sreq *r);
  /* A drain (al_serve_drain) is over: no connection left, or the grace and the last answers
  ** ran out. Call al_serve_free from outside every server callback. */
  void (*drained)(void *ud);
} al_serve_cb;

/* Starts listening; on failure returns NULL with a message in 'err'. */
al_server *al_serve_start(struct ev_loop *loop, const al_serve_opts *o, const al_serve_cb *cb,
                          void *ud, char *err, size_t errlen);
int al_serve_port(al_server *s);

/* Stops accepting, answers the rest with "Connection: close", and after 'grace' seconds
** answers the requests still waiting or running with 503 and aborts their handlers. */
void al_serve_drain(al_server *s, double grace);
/* Stops at once: unanswered requests are dropped (their handlers aborted). Frees 's'. */
void al_serve_free(al_server *s);

/* What the server counts itself: its own answers (401, 408, 413, 431, 503, 504 ...). */
typedef struct al_serve_stats {
  unsigned long rejected[600];   /* by status, answers made by the server, not by a handler */
  unsigned long read_timeouts;   /* connections cut because a request came in too slowly */
  int connections, running, queued;
} al_serve_stats;
void al_serve_stats_get(al_server *s, al_serve_stats *out);

/* {====================================================== one request */

const char *al_sreq_method(al_sreq *r);
const char *al_sreq_path(al_sreq *r);           /* percent-decoded, without the query */
const char *al_sreq_body(al_sreq *r, size_t *len);
const char *al_sreq_remote(al_sreq *r);         /* "ADDR:PORT" of the client */
/* Calls 'fn' for each header (kind 0) or query argument (kind 1). */
typedef void (*al_sreq_kv_fn)(void *cls, int kind, const char *key, const char *value);
void al_sreq_each(al_sreq *r, al_sreq_kv_fn fn, void *cls);
void al_sreq_set_user(al_sreq *r, void *user);
void *al_sreq_user(al_sreq *r);

/* Answers 'r': 'headers' holds 'nh' name/value pairs. Returns 0, or -1 when 'r' was answered
** already (by the server, after a timeout) or a header is invalid (then 500 is sent). */
int al_sreq_respond(al_sreq *r, int status, const char *const *headers, size_t nh,
                    const char *body, size_t len);

/* }====================================================== */

#endif
