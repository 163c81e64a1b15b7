/*
** The Redis store: hiredis 0.14's async API on the one libev loop, through our own event hooks
** (docs/STORE.md, ../shared/design/REDIS-CLIENT.md). Each call is one EVALSHA of a script in
** store_redis_scripts.h, sent at once, so the calls of many tasks share one connection as a
** pipeline. hiredis 0.14 has no command timeout: every command carries a deadline and one
** ev_timer watches the oldest; a command past it drops the connection (everything behind it is
** stuck as well), which fails what was in flight, and the next call reconnects.
**
** The connection is made on demand: the first call connects; a failed attempt sets a backoff
** (100 ms doubling to 10 s) during which calls fail at once with the reason, so a caller falls
** back without waiting. The read watcher does not keep the loop alive, so an idle connection
** never holds a finished process open; the deadline timer does while calls are in flight.
**
** Jobs claim items by key (every worker enumerates the items and claims each with a lease),
** not through a Stream with a consumer group: it is one script per item as in SQLite, with the
** same semantics (lease, once, unknown), no enumerator lease and no read-ahead that holds items
** other workers then reclaim; enumeration is far cheaper than the API work per item.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "clock.h"
#include "clock_offset.h"
#include "store_impl.h"
#include "store_redis_scripts.h"

enum { DOWN, CONNECTING, READY };
enum { CMD_AUTH, CMD_SELECT, CMD_LOAD, CMD_USER, CMD_INTERNAL };

typedef struct rcall {
  struct rcall *next;
  struct rd *rd;
  al_store_req *req;     /* CMD_USER */
  int kind, script;
  double deadline;
  double issued;         /* when it was handed to hiredis (our clock) */
  int argc;
  char **argv;
  size_t *argvlen;
} rcall;

typedef struct rd {
  al_store *s;
  char ip[INET6_ADDRSTRLEN];
  char where[300];   /* "HOST:PORT" for messages */
  int port, db;
  char *user, *password;
  redisAsyncContext *ac;
  int state;
  ev_io rev, wev;
  int rev_on, wev_on;
  ev_timer timer;
  double backoff, next_attempt;
  int setup_left;
  char sha[RS_COUNT][41];
  rcall *sent_head, *sent_tail;          /* given to hiredis, in its order */
  al_store_req *wait_head, *wait_tail;  /* waiting for the connection */
  al_clock_offset clock;                /* the server's clock against ours, on this connection */
  char reason[300];                     /* why the last connection failed or ended */
  al_store_status reason_status;
} rd;

static void fail_waiting(rd *r);
static void send_req(rd *r, al_store_req *q);
static void arm(rd *r);

/* ---- our event hooks: the read watcher is unref'd so an idle connection lets the loop end ---- */

static void on_io(struct ev_loop *loop, ev_io *w, int revents) {
  (void)loop;
  rd *r = w->data;
  if (!r->ac) return;
  if (revents & EV_READ) redisAsyncHandleRead(r->ac);
  else if (revents & EV_WRITE) redisAsyncHandleWrite(r->ac);
}

static void add_read(void *p) {
  rd *r = p;
  if (r->rev_on) return;
  ev_io_start(r->s->loop, &r->rev);
  ev_unref(r->s->loop);
  r->rev_on = 1;
}

static void del_read(void *p) {
  rd *r = p;
  if (!r->rev_on) return;
  ev_ref(r->s->loop);
  ev_io_stop(r->s->loop, &r->rev);
  r->rev_on = 0;
}

static void add_write(void *p) {
  rd *r = p;
  if (r->wev_on) return;
  ev_io_start(r->s->loop, &r->wev);
  r->wev_on = 1;
}

static void del_write(void *p) {
  rd *r = p;
  if (!r->wev_on) return;
  ev_io_stop(r->s->loop, &r->wev);
  r->wev_on = 0;
}

static void cleanup(void *p) {
  del_read(p);
  del_write(p);
}

/* ---- commands ---- */

static void cmd_free(rcall *c) {
  for (int i = 0; i < c->argc; i++) free(c->argv[i]);
  free(c->argv);
  free(c->argvlen);
  free(c);
}

static void set_reason(rd *r, al_store_status st, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static void set_reason(rd *r, al_store_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->reason, sizeof r->reason, fmt, ap);
  va_end(ap);
  r->reason_status = st;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv);

/* Hands 'c' to hiredis and appends it to our list; on refusal the command is completed or
** dropped here. */
static void issue(rd *r, rcall *c) {
  c->next = NULL;
  c->issued = al_clock_now();
  if (r->ac && redisAsyncCommandArgv(r->ac, on_reply, c, c->argc, (const char **)c->argv, c->argvlen) == REDIS_OK) {
    if (r->sent_tail) r->sent_tail->next = c; else r->sent_head = c;
    r->sent_tail = c;
    arm(r);
    return;
  }
  if (c->req) al_store_fail(c->req, AL_STORE_UNREACHABLE, "redis %s: the connection is closing", r->where);
  cmd_free(c);
}

/* A command from 'argc' strings (NULL length: strlen). */
static rcall *cmd_new(rd *r, int kind, int argc, const char *const *argv, const size_t *len) {
  rcall *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->rd = r; c->kind = kind; c->argc = argc;
  c->argv = calloc((size_t)argc, sizeof *c->argv);
  c->argvlen = calloc((size_t)argc, sizeof *c->argvlen);
  if (!c->argv || !c->argvlen) { cmd_free(c); return NULL; }
  for (int i = 0; i < argc; i++) {
    size_t n = len && len[i] != (size_t)-1 ? len[i] : strlen(argv[i]);
    if (!(c->argv[i] = malloc(n + 1))) { cmd_free(c); return NULL; }
    memcpy(c->argv[i], argv[i], n);
    c->argv[i][n] = '\0';
    c->argvlen[i] = n;
  }
  return c;
}

/* ---- connection ---- */

/* Ends the connection from outside hiredis' callbacks (or defers to it when inside one):
** every command in flight gets a NULL reply and fails with the reason. */
static void drop(rd *r, al_store_status st, const char *why) {
  if (why) set_reason(r, st, "%s", why);
  redisAsyncContext *ac = r->ac;
  r->ac = NULL;
  r->state = DOWN;
  r->next_attempt = ev_now(r->s->loop) + r->backoff;
  r->backoff = r->backoff ? r->backoff * 2 : 0.1;
  if (r->backoff > 10) r->backoff = 10;
  if (ac) redisAsyncFree(ac);
  fail_waiting(r);
  arm(r);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  rd *r = ac->data;
  if (status == REDIS_OK) return;
  /* hiredis frees the context after this: no disconnect callback will follow */
  set_reason(r, AL_STORE_UNREACHABLE, "redis %s unreachable: %s", r->where, ac->c.errstr);
  r->ac = NULL;
  r->state = DOWN;
  r->next_attempt = ev_now(r->s->loop) + r->backoff;
  r->backoff = r->backoff ? r->backoff * 2 : 0.1;
  if (r->backoff > 10) r->backoff = 10;
  fail_waiting(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  rd *r = ac->data;
  if (r->ac != ac) return;   /* we dropped it ourselves */
  if (status != REDIS_OK)
    set_reason(r, AL_STORE_UNREACHABLE, "redis %s: connection lost: %s", r->where,
               ac->errstr ? ac->errstr : "closed");
  r->ac = NULL;
  r->state = DOWN;
  r->next_attempt = ev_now(r->s->loop);   /* a lost connection may come back at once */
  fail_waiting(r);
}

static void setup_cmd(rd *r, int kind, int script, int argc, const char *const *argv) {
  rcall *c = cmd_new(r, kind, argc, argv, NULL);
  if (!c) return;
  c->script = script;
  c->deadline = ev_now(r->s->loop) + r->s->connect_timeout;
  r->setup_left++;
  issue(r, c);
}

static void connect_now(rd *r) {
  r->reason[0] = '\0';
  redisAsyncContext *ac = redisAsyncConnect(r->ip, r->port);
  if (!ac) { set_reason(r, AL_STORE_NOMEM, "out of memory"); return; }
  if (ac->err) {
    set_reason(r, AL_STORE_UNREACHABLE, "redis %s unreachable: %s", r->where, ac->errstr);
    redisAsyncFree(ac);
    r->next_attempt = ev_now(r->s->loop) + (r->backoff ? r->backoff : 0.1);
    return;
  }
  ac->data = r;
  ev_io_init(&r->rev, on_io, ac->c.fd, EV_READ);
  ev_io_init(&r->wev, on_io, ac->c.fd, EV_WRITE);
  r->rev.data = r->wev.data = r;
  ac->ev.data = r;
  ac->ev.addRead = add_read; ac->ev.delRead = del_read;
  ac->ev.addWrite = add_write; ac->ev.delWrite = del_write;
  ac->ev.cleanup = cleanup;
  r->ac = ac;
  r->state = CONNECTING;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  r->setup_left = 0;
  if (r->password) {
    if (r->user) setup_cmd(r, CMD_AUTH, 0, 3, (const char *[]){ "AUTH", r->user, r->password });
    else setup_cmd(r, CMD_AUTH, 0, 2, (const char *[]){ "AUTH", r->password });
  }
  if (r->db) {
    char db[16];
    snprintf(db, sizeof db, "%d", r->db);
    setup_cmd(r, CMD_SELECT, 0, 2, (const char *[]){ "SELECT", db });
  }
  for (int i = 0; i < RS_COUNT; i++)
    setup_cmd(r, CMD_LOAD, i, 3, (const char *[]){ "SCRIPT", "LOAD", rs_body[i] });
}

/* ---- deadlines ---- */

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  rd *r = w->data;
  double now = ev_now(loop);
  while (r->wait_head && r->wait_head->deadline <= now) {
    al_store_req *q = r->wait_head;
    r->wait_head = q->next;
    if (!r->wait_head) r->wait_tail = NULL;
    al_store_fail(q, AL_STORE_TIMEOUT, "redis %s: not connected within %.3g s", r->where, r->s->call_timeout);
  }
  if (r->sent_head && r->sent_head->deadline <= now) {
    char why[400];
    snprintf(why, sizeof why, "redis %s: no reply within %.3g s", r->where,
             r->sent_head->kind == CMD_USER ? r->s->call_timeout : r->s->connect_timeout);
    drop(r, r->state == READY ? AL_STORE_TIMEOUT : AL_STORE_UNREACHABLE, why);
  }
  arm(r);
}

/* One timer, at the earliest deadline of the oldest command sent and the oldest call waiting. */
static void arm(rd *r) {
  double at = INFINITY;
  if (r->sent_head) at = r->sent_head->deadline;
  if (r->wait_head && r->wait_head->deadline < at) at = r->wait_head->deadline;
  if (at == INFINITY) { ev_timer_stop(r->s->loop, &r->timer); return; }
  double after = at - ev_now(r->s->loop);
  ev_timer_stop(r->s->loop, &r->timer);
  ev_timer_set(&r->timer, after > 0 ? after : 0., 0.);
  ev_timer_start(r->s->loop, &r->timer);
}

/* ---- replies ---- */

static int is_int(const redisReply *x) { return x && x->type == REDIS_REPLY_INTEGER; }

/* A reservation's slot on our clock. The server's clock placed it; when its answer is read
** says little (an answer left unread while the process was busy would put the slot that much
** late, and the next one, read at once, too close to it), so the slot is mapped through the
** offset of the two clocks, kept from the calls with the narrowest round trips. */
static double slot_of(rd *r, const rcall *c, double server_now, double wait) {
  al_clock_offset_add(&r->clock, c->issued, al_clock_now(), server_now);
  return al_clock_offset_local(&r->clock, server_now + wait);
}

static void fill_result(rd *r, const rcall *c, const redisReply *x) {
  al_store_req *q = c->req;
  const char *bad = NULL;
  switch (q->op) {
    case AL_OP_RESERVE:
      if (x->type != REDIS_REPLY_ARRAY || x->elements != 3 || !is_int(x->element[0]) || !is_int(x->element[1]) ||
          !is_int(x->element[2])) { bad = "reserve"; break; }
      q->res.granted = (int)x->element[0]->integer;
      q->res.wait = x->element[1]->integer / 1e6;
      q->res.slot = slot_of(r, c, x->element[2]->integer / 1e6, q->res.wait);
      break;
    case AL_OP_PAUSE: break;
    case AL_OP_HEARTBEAT:
      if (!is_int(x)) { bad = "heartbeat"; break; }
      q->res.processes = (long)x->integer;
      break;
    case AL_OP_CLAIM:
      if (x->type != REDIS_REPLY_ARRAY || x->elements != 3 || !is_int(x->element[0]) || !is_int(x->element[2]) ||
          x->element[0]->integer < 0 || x->element[0]->integer > AL_CLAIM_UNKNOWN) { bad = "claim"; break; }
      q->res.claim = (al_claim_state)x->element[0]->integer;
      q->res.lease_left = x->element[2]->integer / 1e6;
      if (q->res.claim == AL_CLAIM_GRANTED) q->res.previously_failed = is_int(x->element[1]) && x->element[1]->integer;
      if (q->res.claim == AL_CLAIM_DONE && x->element[1]->type == REDIS_REPLY_STRING) {
        if (!(q->result_buf = malloc(x->element[1]->len + 1))) { al_store_fail(q, AL_STORE_NOMEM, "out of memory"); return; }
        memcpy(q->result_buf, x->element[1]->str, x->element[1]->len);
        q->result_buf[x->element[1]->len] = '\0';
        q->res.result = q->result_buf;
        q->res.result_len = x->element[1]->len;
      }
      break;
    case AL_OP_RENEW:
      if (!is_int(x)) { bad = "renew"; break; }
      q->res.owned = (int)x->integer;
      break;
    case AL_OP_DONE: case AL_OP_FAILED: break;
    case AL_OP_COUNTS:
      if (x->type != REDIS_REPLY_ARRAY || x->elements != 6) { bad = "counts"; break; }
      for (int i = 0; i < 6; i++) if (!is_int(x->element[i])) bad = "counts";
      if (bad) break;
      q->res.counts = (al_store_counts){ (long)x->element[0]->integer, (long)x->element[1]->integer,
        (long)x->element[2]->integer, (long)x->element[3]->integer, (long)x->element[4]->integer,
        x->element[5]->integer / 1e6 };
      break;
    case AL_OP_LIST: {
      if (x->type != REDIS_REPLY_ARRAY || x->elements % 2) { bad = "list"; break; }
      size_t n = x->elements / 2;
      q->jobs_buf = calloc(n ? n : 1, sizeof *q->jobs_buf);
      q->job_names = calloc(n ? n : 1, sizeof *q->job_names);
      if (!q->jobs_buf || !q->job_names) { al_store_fail(q, AL_STORE_NOMEM, "out of memory"); return; }
      for (size_t i = 0; i < n; i++) {
        const redisReply *name = x->element[2 * i], *score = x->element[2 * i + 1];
        if (name->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING) { bad = "list"; break; }
        if (!(q->job_names[i] = strndup(name->str, name->len))) { al_store_fail(q, AL_STORE_NOMEM, "out of memory"); return; }
        q->jobs_buf[i] = (al_store_job){ q->job_names[i], strtod(score->str, NULL) / 1e6 };
        q->res.njobs = i + 1;
      }
      q->res.jobs = q->jobs_buf;
      break;
    }
    case AL_OP_FORGET:
      if (!is_int(x)) { bad = "forget"; break; }
      q->res.forgotten = (long)x->integer;
      break;
  }
  if (bad) al_store_fail(q, AL_STORE_CORRUPT, "redis %s: unexpected reply to %s (type %d)", r->where, bad, x->type);
  else al_store_complete(q);
}

static void became_ready(rd *r) {
  r->state = READY;
  r->backoff = 0;
  r->clock = (al_clock_offset){0};     /* it may be another server now (a restart, a failover) */
  r->reason[0] = '\0';
  while (r->wait_head) {
    al_store_req *q = r->wait_head;
    r->wait_head = q->next;
    if (!r->wait_head) r->wait_tail = NULL;
    send_req(r, q);
  }
}

/* A setup step failed: the connection is useless, and so is waiting for it. */
static void setup_failed(rd *r, const redisReply *x, const char *step) {
  const char *msg = x && x->type == REDIS_REPLY_ERROR ? x->str : "unexpected reply";
  int auth = strncmp(msg, "NOAUTH", 6) == 0 || strncmp(msg, "WRONGPASS", 9) == 0 ||
             strstr(msg, "invalid password") || strstr(msg, "AUTH") != NULL;
  if (auth) set_reason(r, AL_STORE_AUTH, "redis %s refused the credentials (%s): %.120s", r->where, step, msg);
  else if (strcmp(step, "SCRIPT LOAD") == 0)
    set_reason(r, AL_STORE_SCRIPT, "redis %s refused to load the store's scripts: %.120s", r->where, msg);
  else set_reason(r, AL_STORE_UNREACHABLE, "redis %s refused %s: %.120s", r->where, step, msg);
  drop(r, r->reason_status, NULL);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  rcall *c = priv;
  rd *r = c->rd;
  const redisReply *x = reply;
  /* replies come in order: this is the head of our list */
  if (r->sent_head == c) {
    r->sent_head = c->next;
    if (!r->sent_head) r->sent_tail = NULL;
  }
  if (!x) {   /* the connection ended */
    if (c->req) {
      if (r->reason[0]) al_store_fail(c->req, r->reason_status, "%s", r->reason);
      else al_store_fail(c->req, AL_STORE_UNREACHABLE, "redis %s: connection lost: %s", r->where,
                         ac->errstr ? ac->errstr : "closed");
    }
    cmd_free(c);
    return;
  }
  if (c->kind != CMD_USER && c->kind != CMD_INTERNAL) {
    int ok = x->type != REDIS_REPLY_ERROR;
    if (ok && c->kind == CMD_LOAD) {
      ok = x->type == REDIS_REPLY_STRING && x->len == 40;
      if (ok) memcpy(r->sha[c->script], x->str, 41);
    }
    if (!ok) setup_failed(r, x, c->kind == CMD_AUTH ? "AUTH" : c->kind == CMD_SELECT ? "SELECT" : "SCRIPT LOAD");
    else if (--r->setup_left == 0 && r->state == CONNECTING) became_ready(r);
    cmd_free(c);
    arm(r);
    return;
  }
  if (x->type == REDIS_REPLY_ERROR && strncmp(x->str, "NOSCRIPT", 8) == 0 && r->ac) {
    /* the server lost its scripts (restart, SCRIPT FLUSH, failover): EVAL caches it again */
    free(c->argv[0]); free(c->argv[1]);
    c->argv[0] = strdup("EVAL");
    c->argv[1] = strdup(rs_body[c->script]);
    if (c->argv[0] && c->argv[1]) {
      c->argvlen[0] = 4;
      c->argvlen[1] = strlen(c->argv[1]);
      issue(r, c);
      arm(r);
      return;
    }
  }
  if (c->req) {
    if (x->type == REDIS_REPLY_ERROR) {
      int auth = strncmp(x->str, "NOAUTH", 6) == 0;
      al_store_fail(c->req, auth ? AL_STORE_AUTH : AL_STORE_SCRIPT, "redis %s refused the call: %.200s", r->where, x->str);
    } else fill_result(r, c, x);
  }
  cmd_free(c);
  arm(r);
}

/* ---- calls ---- */

/* "autolua:{H}:NAME" where H is the FNV-1a hash of the limiter key or job name. */
static void key_of(char *out, size_t n, const char *id, const char *name) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  snprintf(out, n, "autolua:{%016llx}:%s", (unsigned long long)h, name);
}

static void fmt_us(char *out, double seconds) { snprintf(out, 32, "%.0f", seconds * 1e6); }

static void send_script(rd *r, al_store_req *q, int kind, int script, int nkeys, int argc,
                        const char *const *argv, const size_t *len) {
  const char *full[16];
  size_t flen[16];
  char nk[8];
  snprintf(nk, sizeof nk, "%d", nkeys);
  full[0] = "EVALSHA"; full[1] = r->sha[script]; full[2] = nk;
  flen[0] = flen[1] = flen[2] = (size_t)-1;
  for (int i = 0; i < argc; i++) { full[3 + i] = argv[i]; flen[3 + i] = len ? len[i] : (size_t)-1; }
  rcall *c = cmd_new(r, kind, argc + 3, full, flen);
  if (!c) { if (q) al_store_fail(q, AL_STORE_NOMEM, "out of memory"); return; }
  c->req = q;
  c->script = script;
  c->deadline = q ? q->deadline : ev_now(r->s->loop) + r->s->call_timeout;
  issue(r, c);
}

static void send_req(rd *r, al_store_req *q) {
  char k1[64], k2[64], a[8][32];
  const char *jobs = "autolua:jobs";
  size_t nolen = (size_t)-1;
  char ret_ms[32];
  snprintf(ret_ms, sizeof ret_ms, "%.0f", r->s->retention * 1e3);
  switch (q->op) {
    case AL_OP_RESERVE: {
      key_of(k1, sizeof k1, q->key, "lim");
      key_of(k2, sizeof k2, q->key, "log");
      const al_store_limit *l = &q->limit;
      snprintf(a[0], 32, "%.0f", q->n);
      if (q->max_wait >= 0 && isfinite(q->max_wait)) fmt_us(a[1], q->max_wait); else strcpy(a[1], "-1");
      snprintf(a[2], 32, "%.6f", l->kind == AL_STORE_RATE ? l->interval * 1e6 : 0.);
      snprintf(a[3], 32, "%.6f", l->kind == AL_STORE_RATE ? l->burst : 0.);
      snprintf(a[4], 32, "%d", l->kind == AL_STORE_WINDOW ? l->limit : 0);
      fmt_us(a[5], l->kind == AL_STORE_WINDOW ? l->window : 0.);
      fmt_us(a[6], l->kind == AL_STORE_WINDOW ? l->spacing : 0.);
      const char *v[] = { k1, k2, l->kind == AL_STORE_RATE ? "r" : "w", a[0], a[1], a[2], a[3], a[4], a[5], a[6] };
      send_script(r, q, CMD_USER, RS_RESERVE, 2, 10, v, NULL);
      break;
    }
    case AL_OP_PAUSE: {
      key_of(k1, sizeof k1, q->key, "lim");
      fmt_us(a[0], q->seconds);
      send_script(r, q, CMD_USER, RS_PAUSE, 1, 2, (const char *[]){ k1, a[0] }, NULL);
      break;
    }
    case AL_OP_HEARTBEAT:
      key_of(k1, sizeof k1, q->key, "hb");
      fmt_us(a[0], q->seconds);
      send_script(r, q, CMD_USER, RS_HEARTBEAT, 1, 3, (const char *[]){ k1, q->owner, a[0] }, NULL);
      break;
    case AL_OP_CLAIM:
      key_of(k1, sizeof k1, q->job, "items");
      key_of(k2, sizeof k2, q->job, "job");
      fmt_us(a[0], q->seconds);
      send_script(r, q, CMD_USER, RS_CLAIM, 2, 8, (const char *[]){ k1, k2, q->key, q->owner, a[0],
                  q->once ? "1" : "0", q->retry_unknown ? "1" : "0", ret_ms }, NULL);
      send_script(r, NULL, CMD_INTERNAL, RS_TOUCH, 1, 3, (const char *[]){ jobs, q->job, "add" }, NULL);
      break;
    case AL_OP_RENEW:
      key_of(k1, sizeof k1, q->job, "items");
      fmt_us(a[0], q->seconds);
      send_script(r, q, CMD_USER, RS_RENEW, 1, 4, (const char *[]){ k1, q->key, q->owner, a[0] }, NULL);
      break;
    case AL_OP_DONE: case AL_OP_FAILED: {
      key_of(k1, sizeof k1, q->job, "items");
      key_of(k2, sizeof k2, q->job, "job");
      const char *v[] = { k1, k2, q->key, q->owner, q->op == AL_OP_DONE ? "2" : "3", q->data ? "1" : "0",
                          q->data ? q->data : "", q->kind ? q->kind : "", q->code ? q->code : "", ret_ms };
      size_t len[] = { nolen, nolen, nolen, nolen, nolen, nolen, q->data ? q->data_len : 0, nolen, nolen, nolen };
      send_script(r, q, CMD_USER, RS_FINISH, 2, 10, v, len);
      send_script(r, NULL, CMD_INTERNAL, RS_TOUCH, 1, 3, (const char *[]){ jobs, q->job, "add" }, NULL);
      break;
    }
    case AL_OP_COUNTS:
      key_of(k1, sizeof k1, q->job, "items");
      key_of(k2, sizeof k2, q->job, "job");
      send_script(r, q, CMD_USER, RS_COUNTS, 2, 2, (const char *[]){ k1, k2 }, NULL);
      break;
    case AL_OP_LIST:
      fmt_us(a[0], r->s->retention);
      send_script(r, q, CMD_USER, RS_LIST, 1, 2, (const char *[]){ jobs, a[0] }, NULL);
      break;
    case AL_OP_FORGET:
      key_of(k1, sizeof k1, q->job, "items");
      key_of(k2, sizeof k2, q->job, "job");
      send_script(r, q, CMD_USER, RS_FORGET, 2, 3, (const char *[]){ k1, k2, q->key ? q->key : "" }, NULL);
      send_script(r, NULL, CMD_INTERNAL, RS_TOUCH, 1, 3, (const char *[]){ jobs, q->job, q->key ? "add" : "del" }, NULL);
      break;
  }
}

static void fail_waiting(rd *r) {
  while (r->wait_head) {
    al_store_req *q = r->wait_head;
    r->wait_head = q->next;
    if (!r->wait_head) r->wait_tail = NULL;
    al_store_fail(q, r->reason_status ? r->reason_status : AL_STORE_UNREACHABLE, "%s",
                  r->reason[0] ? r->reason : "redis: not connected");
  }
}

static void rd_submit(al_store *s, al_store_req *q) {
  rd *r = s->impl;
  ev_now_update(s->loop);
  double now = ev_now(s->loop);
  q->deadline = now + s->call_timeout;
  if (r->state == READY) { send_req(r, q); return; }
  if (r->state == DOWN) {
    if (now < r->next_attempt) {   /* backing off: answer at once, so the caller falls back */
      al_store_fail(q, r->reason_status ? r->reason_status : AL_STORE_UNREACHABLE, "%s (retrying in %.2g s)",
                    r->reason[0] ? r->reason : "redis: not connected", r->next_attempt - now);
      return;
    }
    connect_now(r);
    if (r->state == DOWN) {
      al_store_fail(q, r->reason_status, "%s", r->reason);
      return;
    }
  }
  q->next = NULL;
  if (r->wait_tail) r->wait_tail->next = q; else r->wait_head = q;
  r->wait_tail = q;
  arm(r);
}

static void rd_close(al_store *s) {
  rd *r = s->impl;
  set_reason(r, AL_STORE_CLOSED, "store closed");
  if (r->ac) {
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    redisAsyncFree(ac);   /* every command in flight completes with AL_STORE_CLOSED */
  }
  fail_waiting(r);
  ev_timer_stop(s->loop, &r->timer);
  free(r->user);
  free(r->password);
  free(r);
}

/* ---- URL ---- */

static int bad_url(al_store_status *status, char *err, size_t errlen, const char *why) {
  *status = AL_STORE_ARGUMENT;
  snprintf(err, errlen, "bad redis URL: %s", why);
  return -1;
}

/* rest = "[[USER]:PASSWORD@]HOST[:PORT][/DB]" */
int al_store_redis_open(al_store *s, const char *rest, al_store_status *status, char *err,
                        size_t errlen) {
  rd *r = calloc(1, sizeof *r);
  if (!r) { *status = AL_STORE_NOMEM; snprintf(err, errlen, "out of memory"); return -1; }
  r->s = s;
  r->port = 6379;
  const char *at = strrchr(rest, '@'), *host = at ? at + 1 : rest;
  if (at) {
    const char *colon = memchr(rest, ':', (size_t)(at - rest));
    if (colon && colon > rest) r->user = strndup(rest, (size_t)(colon - rest));
    const char *pw = colon ? colon + 1 : rest;
    if (at > pw) r->password = strndup(pw, (size_t)(at - pw));
  }
  char hostbuf[256];
  const char *end = host + strcspn(host, "/");
  const char *portp = NULL;
  if (*host == '[') {
    const char *close = memchr(host, ']', (size_t)(end - host));
    if (!close) { free(r->user); free(r->password); free(r); return bad_url(status, err, errlen, "unclosed '['"); }
    snprintf(hostbuf, sizeof hostbuf, "%.*s", (int)(close - host - 1), host + 1);
    if (close[1] == ':') portp = close + 2;
  } else {
    const char *colon = memchr(host, ':', (size_t)(end - host));
    snprintf(hostbuf, sizeof hostbuf, "%.*s", (int)((colon ? colon : end) - host), host);
    if (colon) portp = colon + 1;
  }
  const char *why = NULL;
  if (!hostbuf[0]) why = "no host";
  if (!why && portp) {
    char *e;
    long p = strtol(portp, &e, 10);
    if (e == portp || e != end || p < 1 || p > 65535) why = "the port must be 1..65535";
    else r->port = (int)p;
  }
  if (!why && *end == '/' && end[1]) {
    char *e;
    long d = strtol(end + 1, &e, 10);
    if (*e || d < 0 || d > 1 << 20) why = "the database must be a number";
    else r->db = (int)d;
  }
  if (why) { free(r->user); free(r->password); free(r); return bad_url(status, err, errlen, why); }
  /* resolved once here, so that no reconnect blocks the loop on a lookup */
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
  int rc = getaddrinfo(hostbuf, NULL, &hints, &ai);
  if (rc != 0 || !ai) {
    *status = AL_STORE_UNREACHABLE;
    snprintf(err, errlen, "redis %s: cannot resolve: %s", hostbuf, gai_strerror(rc));
    free(r->user); free(r->password); free(r);
    return -1;
  }
  const void *addr = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                                               : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
  inet_ntop(ai->ai_family, addr, r->ip, sizeof r->ip);
  freeaddrinfo(ai);
  snprintf(r->where, sizeof r->where, "%s:%d", hostbuf, r->port);
  char url[600];
  snprintf(url, sizeof url, "redis://%s%s%s%.*s", r->user ? r->user : "", r->password ? ":***" : "",
           at ? "@" : "", (int)strlen(host), host);
  if (!(s->url = strdup(url))) {
    free(r->user); free(r->password); free(r);
    *status = AL_STORE_NOMEM; snprintf(err, errlen, "out of memory");
    return -1;
  }
  /* a write to a connection the server dropped must not kill the process */
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  ev_timer_init(&r->timer, on_timer, 0., 0.);
  r->timer.data = r;
  s->impl = r;
  return 0;
}

const al_store_vtable al_store_redis_backend = { "redis", rd_submit, rd_close };
