/*
** The HTTP server on the loop (see serve.h). One MHD daemon in epoll mode with no thread of its
** own: one ev_io watches MHD's epoll fd, one ev_timer follows MHD_get_timeout, and 'drive' runs
** MHD from those two callbacks only, never from inside an MHD callback. A request is suspended
** while its handler runs; answering resumes it and kicks the timer, because nothing else would
** make MHD look at it again (SERVE.md §2).
*/
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "serve.h"

enum { RQ_RECEIVING, RQ_QUEUED, RQ_RUNNING, RQ_ANSWERED, RQ_DONE };

typedef struct sock sock;

/* A list of requests (waiting for a slot, or running), linked through their own fields. */
typedef struct rlist { al_sreq *head, *tail; int n; } rlist;

struct al_sreq {
  al_server *srv;
  struct MHD_Connection *conn;
  sock *sk;
  int state;
  int reject;                /* a status to answer at the final call (a body over the cap) */
  char *body;
  size_t len, cap;
  int status;
  struct MHD_Response *resp; /* built by al_sreq_respond, queued once MHD runs the request again */
  ev_timer deadline;         /* queue wait, then handler time */
  al_sreq *prev, *next;
  rlist *in;
  const char *method, *url;
  char remote[64];
  void *user;
};

/* One connection: the deadline for receiving a whole request (MHD has only an idle timeout). */
struct sock {
  al_server *srv;
  int fd;
  ev_timer read;
  al_sreq *req;
  sock *prev, *next;
};

struct al_server {
  struct ev_loop *loop;
  struct MHD_Daemon *d;
  al_serve_opts o;
  char *token;
  al_serve_cb cb;
  void *ud;
  ev_io io;
  ev_timer timer;
  ev_timer drain;
  int port;
  int kicked, draining, graced, done, stopping;
  rlist queued, running;
  sock *socks;
  al_serve_stats st;
};

void al_serve_defaults(al_serve_opts *o) {
  memset(o, 0, sizeof *o);
  o->host = "127.0.0.1";
  o->port = 8080;
  o->max_body = 1 << 20;
  o->max_header = 16 << 10;
  o->read_timeout = 30;
  o->handler_timeout = 60;
  o->max_handlers = 64;
  o->max_queue = 256;
  o->queue_timeout = 10;
  o->max_connections = 1000;
}

/* {====================================================== lists */

static void rl_push(rlist *l, al_sreq *r) {
  r->next = NULL;
  r->prev = l->tail;
  if (l->tail) l->tail->next = r; else l->head = r;
  l->tail = r;
  r->in = l;
  l->n++;
}

static void rl_remove(al_sreq *r) {
  rlist *l = r->in;
  if (!l) return;
  if (r->prev) r->prev->next = r->next; else l->head = r->next;
  if (r->next) r->next->prev = r->prev; else l->tail = r->prev;
  r->prev = r->next = NULL;
  r->in = NULL;
  l->n--;
}

/* }====================================================== */

/* {====================================================== driving MHD */

static void kick(al_server *s) {
  if (s->stopping) return;
  s->kicked = 1;
  ev_timer_stop(s->loop, &s->timer);
  ev_timer_set(&s->timer, 0., 0.);
  ev_timer_start(s->loop, &s->timer);
}

static void start_waiting(al_server *s);
static void check_drained(al_server *s);

/* Runs MHD until nothing was kicked meanwhile, then sleeps as long as MHD allows; a 0 from
** MHD_get_timeout means edge-triggered data is pending and must be read now (SERVE.md §1). */
static void drive(al_server *s) {
  int rounds = 0;
  do {
    s->kicked = 0;
    MHD_run(s->d);
    start_waiting(s);
  } while (s->kicked && ++rounds < 8);
  check_drained(s);
  if (s->done) return;
  MHD_UNSIGNED_LONG_LONG ms;
  ev_timer_stop(s->loop, &s->timer);
  if (s->kicked) ev_timer_set(&s->timer, 0., 0.);
  else if (MHD_get_timeout(s->d, &ms) == MHD_YES) ev_timer_set(&s->timer, (double)ms / 1000.0, 0.);
  else return;
  ev_timer_start(s->loop, &s->timer);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents) {
  (void)loop; (void)revents;
  drive(w->data);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop; (void)revents;
  drive(w->data);
}

/* }====================================================== */

/* {====================================================== answers */

static struct MHD_Response *json_response(const char *code, const char *message) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, "{\"ok\":false,\"error\":\"%s\",\"message\":\"%s\"}\n",
                   code, message);
  struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)n, buf, MHD_RESPMEM_MUST_COPY);
  if (resp) MHD_add_response_header(resp, "Content-Type", "application/json");
  return resp;
}

static const char *reason_code(int status) {
  switch (status) {
  case 400: return "bad_request";
  case 401: return "unauthorized";
  case 413: return "payload_too_large";
  case 431: return "headers_too_large";
  case 503: return "unavailable";
  case 504: return "handler_timeout";
  default: return "internal_error";
  }
}

/* An answer the server makes itself, queued now (first and final calls only). */
static enum MHD_Result reject_now(al_server *s, struct MHD_Connection *c, int status, const char *msg) {
  struct MHD_Response *resp = json_response(reason_code(status), msg);
  if (!resp) return MHD_NO;
  if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
  if (status == 503) MHD_add_response_header(resp, "Retry-After", "1");
  if (s->draining) MHD_add_response_header(resp, "Connection", "close");
  s->st.rejected[status]++;
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return ok;
}

static void finish_slot(al_sreq *r) {
  al_server *s = r->srv;
  rl_remove(r);
  ev_timer_stop(s->loop, &r->deadline);
}

/* Stores the answer and gives the connection back to MHD, which sends it at its next run. */
static void answer(al_sreq *r, int status, struct MHD_Response *resp) {
  al_server *s = r->srv;
  finish_slot(r);
  if (s->draining && resp) MHD_add_response_header(resp, "Connection", "close");
  r->status = status;
  r->resp = resp;
  r->state = RQ_ANSWERED;
  MHD_resume_connection(r->conn);
  kick(s);
}

/* A request the server answers itself while it waits or runs (timeouts, shutdown). */
static void answer_for_handler(al_sreq *r, int status, const char *msg) {
  al_server *s = r->srv;
  int was_running = r->state == RQ_RUNNING;
  struct MHD_Response *resp = json_response(reason_code(status), msg);
  if (resp && status == 503) MHD_add_response_header(resp, "Retry-After", "1");
  s->st.rejected[status]++;
  answer(r, status, resp);
  if (was_running && s->cb.abort) s->cb.abort(s->ud, r);
}

static int valid_header(const char *v) {
  return v[strcspn(v, "\r\n")] == '\0';
}

int al_sreq_respond(al_sreq *r, int status, const char *const *headers, size_t nh,
                    const char *body, size_t len) {
  if (r->state != RQ_RUNNING && r->state != RQ_QUEUED) return -1;
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  int bad = resp == NULL || status < 200 || status > 599;
  for (size_t i = 0; !bad && i < nh; i++)
    bad = !valid_header(headers[2 * i]) || !valid_header(headers[2 * i + 1]) ||
          MHD_add_response_header(resp, headers[2 * i], headers[2 * i + 1]) != MHD_YES;
  if (bad) {
    if (resp) MHD_destroy_response(resp);
    answer_for_handler(r, 500, "the handler's answer was invalid (status or a header)");
    return -1;
  }
  answer(r, status, resp);
  return 0;
}

/* }====================================================== */

/* {====================================================== deadlines */

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop; (void)revents;
  al_sreq *r = w->data;
  if (r->state == RQ_QUEUED) answer_for_handler(r, 503, "no handler slot freed in time");
  else if (r->state == RQ_RUNNING) answer_for_handler(r, 504, "the handler took too long");
}

static void arm_deadline(al_sreq *r, double after) {
  ev_timer_stop(r->srv->loop, &r->deadline);
  ev_timer_set(&r->deadline, after, 0.);
  ev_timer_start(r->srv->loop, &r->deadline);
}

/* A client too slow to send a whole request: shutdown(), never close(), so MHD notices at its
** next run and closes the socket itself (SERVE.md §4). */
static void on_read_deadline(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop; (void)revents;
  sock *k = w->data;
  k->srv->st.read_timeouts++;
  shutdown(k->fd, SHUT_RDWR);
  kick(k->srv);
}

static void arm_read(sock *k) {
  ev_timer_stop(k->srv->loop, &k->read);
  ev_timer_set(&k->read, k->srv->o.read_timeout, 0.);
  ev_timer_start(k->srv->loop, &k->read);
}

/* Waiting requests take the free handler slots in arrival order. */
static void start_waiting(al_server *s) {
  while (s->queued.head && s->running.n < s->o.max_handlers && !s->graced) {
    al_sreq *r = s->queued.head;
    rl_remove(r);
    rl_push(&s->running, r);
    r->state = RQ_RUNNING;
    arm_deadline(r, s->o.handler_timeout);
    s->cb.start(s->ud, r);
  }
}

/* }====================================================== */

/* {====================================================== MHD's calls */

/* Compares in time that depends only on the expected token's length. */
static int token_ok(const char *expected, const char *got) {
  if (!got || strncmp(got, "Bearer ", 7) != 0) return 0;
  got += 7;
  size_t n = strlen(expected), m = strlen(got);
  unsigned char diff = (unsigned char)(n != m);
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)expected[i] ^ (unsigned char)(i < m ? got[i] : 0);
  return diff == 0;
}

static void remote_of(struct MHD_Connection *c, char *out, size_t n) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  char host[INET6_ADDRSTRLEN] = "?", port[8] = "0";
  if (ci && ci->client_addr) {
    socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in);
    getnameinfo(ci->client_addr, len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
  }
  snprintf(out, n, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
}

/* Framing a proxy in front could read differently from MHD 0.9.75 (request smuggling): a
** Transfer-Encoding other than exactly "chunked", or one together with Content-Length. */
static int ambiguous_framing(struct MHD_Connection *c) {
  const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  return te && (strcasecmp(te, "chunked") != 0 || cl);
}

static enum MHD_Result first_call(al_server *s, struct MHD_Connection *c, const char *method,
                                  const char *url, void **req_cls) {
  al_sreq *r = calloc(1, sizeof *r);
  if (!r) return MHD_NO;
  r->method = method;
  r->url = url;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  r->srv = s;
  r->conn = c;
  r->sk = ci ? ci->socket_context : NULL;
  if (r->sk) r->sk->req = r;
  ev_timer_init(&r->deadline, on_deadline, 0., 0.);
  r->deadline.data = r;
  remote_of(c, r->remote, sizeof r->remote);
  *req_cls = r;
  if (s->token && !token_ok(s->token, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"))) {
    r->state = RQ_DONE;
    return reject_now(s, c, 401, "a valid 'Authorization: Bearer' token is required");
  }
  ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
  if (ci && ci->header_size > s->o.max_header) {
    r->state = RQ_DONE;
    return reject_now(s, c, 431, "the request's headers are too large");
  }
  if (ambiguous_framing(c)) {
    r->state = RQ_DONE;
    return reject_now(s, c, 400, "ambiguous body framing (Transfer-Encoding)");
  }
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
    r->state = RQ_DONE;   /* an early answer: MHD skips 100-continue and discards the body */
    return reject_now(s, c, 413, "the request body is too large");
  }
  return MHD_YES;
}

/* Takes every byte offered (0.9.75 mishandles partial consumption); past the cap the rest is
** dropped and the final call answers 413. */
static void take_body(al_sreq *r, const char *data, size_t n) {
  if (r->reject) return;
  if (r->len + n > r->srv->o.max_body) {
    r->reject = 413;
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
    return;
  }
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 1024;
    while (cap < r->len + n + 1) cap *= 2;
    char *b = realloc(r->body, cap);
    if (!b) { r->reject = 413; return; }
    r->body = b;
    r->cap = cap;
  }
  memcpy(r->body + r->len, data, n);
  r->len += n;
  r->body[r->len] = '\0';
}

/* The whole request is in: it waits for a handler slot, or gets 503 when the queue is full. */
static enum MHD_Result final_call(al_server *s, al_sreq *r) {
  if (r->sk) ev_timer_stop(s->loop, &r->sk->read);
  if (r->reject) {
    r->state = RQ_DONE;
    return reject_now(s, r->conn, r->reject, "the request body is too large");
  }
  if (s->draining || (s->running.n >= s->o.max_handlers && s->queued.n >= s->o.max_queue)) {
    r->state = RQ_DONE;
    return reject_now(s, r->conn, 503, s->draining ? "the server is shutting down"
                                                    : "too many requests waiting for a handler");
  }
  r->state = RQ_QUEUED;
  rl_push(&s->queued, r);
  arm_deadline(r, s->o.queue_timeout);
  MHD_suspend_connection(r->conn);
  kick(s);
  return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls) {
  (void)version;
  al_server *s = cls;
  al_sreq *r = *req_cls;
  if (!r) return first_call(s, c, method, url, req_cls);
  if (r->state == RQ_ANSWERED) {
    r->state = RQ_DONE;
    if (!r->resp) return MHD_NO;       /* no memory for an answer: close the connection */
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return ok;
  }
  if (r->state != RQ_RECEIVING) return MHD_YES;
  if (*upload_size) {
    take_body(r, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  return final_call(s, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)c; (void)toe;
  al_server *s = cls;
  al_sreq *r = *req_cls;
  if (!r) return;
  *req_cls = NULL;
  int was_running = r->state == RQ_RUNNING;
  finish_slot(r);
  if (was_running && s->cb.abort) s->cb.abort(s->ud, r);
  if (r->user && s->cb.release) s->cb.release(s->ud, r);
  if (r->resp) MHD_destroy_response(r->resp);
  if (r->sk) {
    r->sk->req = NULL;
    if (!s->draining && !s->stopping) arm_read(r->sk);   /* the next request on this connection */
    else shutdown(r->sk->fd, SHUT_RDWR);
  }
  free(r->body);
  free(r);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  al_server *s = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    sock *k = calloc(1, sizeof *k);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_context = k;
    if (!k) return;
    k->srv = s;
    k->fd = ci ? ci->connect_fd : -1;
    ev_timer_init(&k->read, on_read_deadline, 0., 0.);
    k->read.data = k;
    k->next = s->socks;
    if (s->socks) s->socks->prev = k;
    s->socks = k;
    s->st.connections++;
    arm_read(k);
    return;
  }
  sock *k = *socket_context;
  if (!k) return;
  ev_timer_stop(s->loop, &k->read);
  if (k->req) k->req->sk = NULL;
  if (k->prev) k->prev->next = k->next; else s->socks = k->next;
  if (k->next) k->next->prev = k->prev;
  s->st.connections--;
  free(k);
  *socket_context = NULL;
}

static void on_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  static int verbose = -1;
  if (verbose < 0) {
    const char *lv = getenv("AUTOLUA_LOG");
    verbose = lv && strcasecmp(lv, "debug") == 0;
  }
  if (!verbose) return;
  fputs("autolua debug: libmicrohttpd: ", stderr);
  vfprintf(stderr, fmt, ap);
}

/* }====================================================== */

/* {====================================================== start, drain, stop */

static int resolve(const char *host, int port, struct sockaddr_storage *ss, char *err, size_t errlen) {
  struct addrinfo hints, *res;
  char service[16];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  snprintf(service, sizeof service, "%d", port);
  int rc = getaddrinfo(host, service, &hints, &res);
  if (rc != 0) {
    snprintf(err, errlen, "cannot resolve listen address '%s': %s", host, gai_strerror(rc));
    return -1;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

al_server *al_serve_start(struct ev_loop *loop, const al_serve_opts *o, const al_serve_cb *cb,
                          void *ud, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  if (resolve(o->host ? o->host : "127.0.0.1", o->port, &ss, err, errlen) != 0) return NULL;
  al_server *s = calloc(1, sizeof *s);
  if (!s || (o->token && !(s->token = strdup(o->token)))) {
    free(s);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->loop = loop;
  s->o = *o;
  s->cb = *cb;
  s->ud = ud;
  /* the connection's pool holds the request line and headers, the read buffer and the answer's
  ** headers: room for a request of max_header plus working space (SERVE.md §4) */
  size_t pool = o->max_header + 16384;
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  errno = 0;
  s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_access, s,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
                          MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
                          /* idle only; our read deadline bounds the whole request */
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->read_timeout + 1),
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                          MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                          MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
                          MHD_OPTION_END);
  if (!s->d) {
    snprintf(err, errlen, "cannot listen on %s:%d: %s", o->host ? o->host : "127.0.0.1", o->port,
             errno ? strerror(errno) : "libmicrohttpd refused to start");
    free(s->token);
    free(s);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : o->port;
  di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
  ev_io_init(&s->io, on_io, di->epoll_fd, EV_READ);
  s->io.data = s;
  ev_io_start(loop, &s->io);
  ev_init(&s->timer, on_timer);
  s->timer.data = s;
  ev_init(&s->drain, NULL);
  s->drain.data = s;
  kick(s);
  return s;
}

int al_serve_port(al_server *s) { return s->port; }

static void shutdown_idle(al_server *s) {
  for (sock *k = s->socks; k; k = k->next)
    if (!k->req && k->fd >= 0) shutdown(k->fd, SHUT_RDWR);
}

static void check_drained(al_server *s) {
  if (!s->draining || s->done) return;
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
  if (di && di->num_connections > 0) return;
  s->done = 1;
  ev_timer_stop(s->loop, &s->drain);
  ev_timer_stop(s->loop, &s->timer);
  ev_io_stop(s->loop, &s->io);
  s->cb.drained(s->ud);
}

static void on_last_call(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop; (void)revents;
  al_server *s = w->data;
  if (s->done) return;
  s->done = 1;
  ev_timer_stop(s->loop, &s->timer);
  ev_io_stop(s->loop, &s->io);
  s->cb.drained(s->ud);
}

/* The grace is over: every waiting or running request gets 503 and one more second to leave. */
static void on_grace(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  al_server *s = w->data;
  s->graced = 1;
  while (s->queued.head) answer_for_handler(s->queued.head, 503, "the server is shutting down");
  while (s->running.head) answer_for_handler(s->running.head, 503, "the server is shutting down");
  shutdown_idle(s);
  ev_timer_stop(loop, &s->drain);
  ev_timer_init(&s->drain, on_last_call, 1., 0.);
  s->drain.data = s;
  ev_timer_start(loop, &s->drain);
}

void al_serve_drain(al_server *s, double grace) {
  if (s->draining) return;
  s->draining = 1;
  int fd = MHD_quiesce_daemon(s->d);   /* MHD will not close it any more: we do, refusing the backlog */
  if (fd >= 0) close(fd);
  shutdown_idle(s);
  ev_timer_init(&s->drain, on_grace, grace > 0 ? grace : 0., 0.);
  s->drain.data = s;
  ev_timer_start(s->loop, &s->drain);
  kick(s);
}

void al_serve_free(al_server *s) {
  s->graced = 1;
  /* one left suspended makes MHD_stop_daemon abort the process (SERVE.md §5) */
  while (s->queued.head) answer_for_handler(s->queued.head, 503, "the server is shutting down");
  while (s->running.head) answer_for_handler(s->running.head, 503, "the server is shutting down");
  MHD_run(s->d);
  s->stopping = 1;    /* from here on no callback may start a watcher */
  ev_timer_stop(s->loop, &s->drain);
  ev_timer_stop(s->loop, &s->timer);
  ev_io_stop(s->loop, &s->io);
  for (sock *k = s->socks; k; k = k->next) ev_timer_stop(s->loop, &k->read);
  MHD_stop_daemon(s->d);   /* completes and closes every connection through our callbacks */
  free(s->token);
  free(s);
}

void al_serve_stats_get(al_server *s, al_serve_stats *out) {
  *out = s->st;
  out->running = s->running.n;
  out->queued = s->queued.n;
}

/* }====================================================== */

/* {====================================================== request accessors */

/* The method and path live in the connection's pool until NOTIFY_COMPLETED; the binding copies
** them when the handler starts, while the connection is suspended (SERVE.md §2). */
const char *al_sreq_method(al_sreq *r) { return r->method; }
const char *al_sreq_path(al_sreq *r) { return r->url; }

const char *al_sreq_body(al_sreq *r, size_t *len) {
  *len = r->len;
  return r->body ? r->body : "";
}

const char *al_sreq_remote(al_sreq *r) { return r->remote; }

typedef struct kvctx { al_sreq_kv_fn fn; void *cls; } kvctx;

static enum MHD_Result each_kv(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  kvctx *k = cls;
  k->fn(k->cls, kind == MHD_GET_ARGUMENT_KIND, key, value ? value : "");
  return MHD_YES;
}

void al_sreq_each(al_sreq *r, al_sreq_kv_fn fn, void *cls) {
  kvctx k = {fn, cls};
  MHD_get_connection_values(r->conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, each_kv, &k);
}

void al_sreq_set_user(al_sreq *r, void *user) { r->user = user; }
void *al_sreq_user(al_sreq *r) { return r->user; }

/* }====================================================== */
