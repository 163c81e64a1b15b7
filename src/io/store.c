/*
** The store's front (store.h): parses the URL, checks arguments, turns every call into a
** request for the backend, and runs completions from the loop.
*/
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "store_impl.h"

const char *al_store_status_code(al_store_status s) {
  switch (s) {
    case AL_STORE_OK: return "ok";
    case AL_STORE_BUSY: return "busy";
    case AL_STORE_CORRUPT: return "corrupt";
    case AL_STORE_UNREACHABLE: return "unreachable";
    case AL_STORE_READONLY: return "readonly";
    case AL_STORE_TIMEOUT: return "timeout";
    case AL_STORE_AUTH: return "auth";
    case AL_STORE_SCRIPT: return "script";
    case AL_STORE_ARGUMENT: return "argument";
    case AL_STORE_NOMEM: return "nomem";
    case AL_STORE_CLOSED: return "closed";
  }
  return "unknown";
}

double al_store_realtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

char *al_store_default_url(void) {
  const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
  char buf[4096];
  int n;
  if (state && state[0] == '/') n = snprintf(buf, sizeof buf, "sqlite:%s/autolua/state.db", state);
  else if (home && home[0]) n = snprintf(buf, sizeof buf, "sqlite:%s/.local/state/autolua/state.db", home);
  else return NULL;
  if (n < 0 || (size_t)n >= sizeof buf) return NULL;
  return strdup(buf);
}

/* ---- completions ---- */

static void req_free(al_store_req *r) {
  free(r->key); free(r->job); free(r->owner); free(r->data); free(r->kind); free(r->code);
  free(r->msg_buf); free(r->result_buf);
  if (r->job_names)
    for (size_t i = 0; i < r->res.njobs; i++) free(r->job_names[i]);
  free(r->job_names); free(r->jobs_buf);
  free(r);
}

static void run_one(al_store_req *r) {
  r->cb(r->ud, &r->res);
  req_free(r);
}

/* Runs the completions queued so far; those queued by these callbacks wait for the next turn
** of the loop, so a caller that keeps calling from its callback cannot starve the loop. */
static void drain(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop; (void)revents;
  al_store *s = w->data;
  al_store_req *r = s->done_head, *last = s->done_tail;
  s->done_head = s->done_tail = NULL;
  while (r) {
    al_store_req *next = r->next;
    int was_last = r == last;
    run_one(r);
    if (was_last) break;
    r = next;
  }
}

void al_store_complete(al_store_req *r) {
  al_store *s = r->store;
  r->next = NULL;
  if (s->closing) { run_one(r); return; }
  if (s->done_tail) s->done_tail->next = r; else s->done_head = r;
  s->done_tail = r;
  if (!ev_is_active(&s->done_timer)) {
    ev_timer_set(&s->done_timer, 0., 0.);
    ev_timer_start(s->loop, &s->done_timer);
  }
}

void al_store_fail(al_store_req *r, al_store_status st, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  free(r->msg_buf);
  r->msg_buf = strdup(buf);
  r->res.status = st;
  r->res.message = r->msg_buf ? r->msg_buf : "out of memory";
  al_store_complete(r);
}

/* ---- open and close ---- */

static char *make_owner(void) {
  char host[256] = "host", buf[400];
  unsigned rnd;
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  FILE *f = fopen("/dev/urandom", "rb");
  if (!f || fread(&rnd, sizeof rnd, 1, f) != 1) rnd = (unsigned)time(NULL) ^ (unsigned)getpid();
  if (f) fclose(f);
  snprintf(buf, sizeof buf, "%s-%ld-%08x", host, (long)getpid(), rnd);
  return strdup(buf);
}

al_store *al_store_open(struct ev_loop *loop, const char *url, const al_store_options *opt,
                        al_store_status *status, char *err, size_t errlen) {
  al_store_status st_dummy;
  if (!status) status = &st_dummy;
  char *dflt = NULL;
  if (!url || !url[0]) {
    url = dflt = al_store_default_url();
    if (!url) {
      *status = AL_STORE_ARGUMENT;
      snprintf(err, errlen, "no default store: neither XDG_STATE_HOME nor HOME is set");
      return NULL;
    }
  }
  al_store *s = calloc(1, sizeof *s);
  if (!s) { free(dflt); *status = AL_STORE_NOMEM; snprintf(err, errlen, "out of memory"); return NULL; }
  s->loop = loop;
  s->call_timeout = opt && opt->call_timeout > 0 ? opt->call_timeout : 2.0;
  s->connect_timeout = opt && opt->connect_timeout > 0 ? opt->connect_timeout : 2.0;
  s->retention = opt && opt->retention > 0 ? opt->retention : 30 * AL_STORE_DAY;
  s->owner = opt && opt->owner ? strdup(opt->owner) : make_owner();
  ev_timer_init(&s->done_timer, drain, 0., 0.);
  s->done_timer.data = s;
  int rc = -1;
  if (!s->owner) {
    *status = AL_STORE_NOMEM; snprintf(err, errlen, "out of memory");
  } else if (strcmp(url, "memory") == 0) {
    s->be = &al_store_memory_backend;
    s->url = strdup(url);
    rc = al_store_memory_open(s, status, err, errlen);
  } else if (strncmp(url, "sqlite:", 7) == 0) {
    s->be = &al_store_sqlite_backend;
    s->url = strdup(url);
    rc = al_store_sqlite_open(s, url + 7, status, err, errlen);
  } else if (strncmp(url, "redis://", 8) == 0) {
    s->be = &al_store_redis_backend;
    rc = al_store_redis_open(s, url + 8, status, err, errlen);   /* sets s->url, redacted */
  } else {
    *status = AL_STORE_ARGUMENT;
    /* only the scheme: the rest may hold a password */
    int scheme = (int)strcspn(url, ":/@");
    snprintf(err, errlen, "unknown store '%.*s%s': expected memory, sqlite:PATH or redis://HOST[:PORT][/DB]",
             scheme < 40 ? scheme : 40, url, url[scheme] ? "..." : "");
  }
  free(dflt);
  if (rc != 0) {
    free(s->url); free(s->owner); free(s);
    return NULL;
  }
  *status = AL_STORE_OK;
  return s;
}

void al_store_close(al_store *s) {
  if (!s) return;
  s->closing = 1;
  /* what already completed runs first, in order */
  al_store_req *r = s->done_head;
  s->done_head = s->done_tail = NULL;
  while (r) { al_store_req *next = r->next; run_one(r); r = next; }
  ev_timer_stop(s->loop, &s->done_timer);
  s->be->close(s);
  free(s->url); free(s->owner); free(s);
}

const char *al_store_backend(const al_store *s) { return s->be->name; }
const char *al_store_url(const al_store *s) { return s->url; }
const char *al_store_owner(const al_store *s) { return s->owner; }

/* ---- what every backend decides the same way ---- */

al_claim_state al_store_decide_claim(const al_item_view *v, double now, const char *owner,
                                     int retry_unknown, double *lease_left) {
  *lease_left = 0;
  switch (v->state) {
    case AL_ITEM_NONE: case AL_ITEM_FAILED: return AL_CLAIM_GRANTED;
    case AL_ITEM_DONE: return AL_CLAIM_DONE;
    case AL_ITEM_RUNNING: break;
  }
  if (v->owner && strcmp(v->owner, owner) == 0) return AL_CLAIM_GRANTED;
  if (v->lease_until > now) { *lease_left = v->lease_until - now; return AL_CLAIM_HELD; }
  if (v->once && !retry_unknown) return AL_CLAIM_UNKNOWN;
  return AL_CLAIM_GRANTED;   /* its owner died: at-least-once */
}

void al_store_count_item(al_store_counts *c, const al_item_view *v, double now) {
  switch (v->state) {
    case AL_ITEM_DONE: c->done++; break;
    case AL_ITEM_FAILED: c->failed++; break;
    case AL_ITEM_RUNNING:
      if (v->lease_until > now) c->running++;
      else if (v->once) c->unknown++;
      else c->pending++;
      break;
    case AL_ITEM_NONE: break;
  }
}

/* ---- calls ---- */

static al_store_req *req_new(al_store *s, al_store_op op, al_store_cb cb, void *ud) {
  al_store_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->store = s; r->op = op; r->cb = cb; r->ud = ud;
  return r;
}

static char *dup_or_null(const char *p, int *bad) {
  if (!p) return NULL;
  char *c = strdup(p);
  if (!c) *bad = 1;
  return c;
}

/* Hands the request to the backend unless its arguments are already known to be wrong. */
static void submit(al_store_req *r, int nomem, const char *argerr) {
  if (nomem) { al_store_fail(r, AL_STORE_NOMEM, "out of memory"); return; }
  if (argerr) { al_store_fail(r, AL_STORE_ARGUMENT, "%s", argerr); return; }
  if (r->store->closing) { al_store_fail(r, AL_STORE_CLOSED, "store closed"); return; }
  r->store->be->submit(r->store, r);
}

#define NEW_OR_RETURN(r, s, op, cb, ud) \
  al_store_req *r = req_new(s, op, cb, ud); \
  if (!r) { al_store_result res_ = { .status = AL_STORE_NOMEM, .message = "out of memory" }; \
            cb(ud, &res_); return; }

static const char *check_key(const char *what, const char *k) {
  if (!k || !k[0]) return what;
  return NULL;
}

void al_store_reserve(al_store *s, const char *key, const al_store_limit *lim, double n,
                      double max_wait, al_store_cb cb, void *ud) {
  NEW_OR_RETURN(r, s, AL_OP_RESERVE, cb, ud);
  int bad = 0;
  r->key = dup_or_null(key, &bad);
  r->limit = *lim;
  r->n = n;
  r->max_wait = max_wait;
  const char *e = check_key("reserve: the limiter key is empty", key);
  if (!e && !(n >= 1 && n == floor(n))) e = "reserve: n must be a whole number >= 1";
  if (!e && lim->kind == AL_STORE_RATE &&
      !(lim->interval > 0 && isfinite(lim->interval) && lim->burst >= 1 && isfinite(lim->burst)))
    e = "reserve: a rate needs interval > 0 and burst >= 1";
  if (!e && lim->kind == AL_STORE_WINDOW && !(lim->limit >= 1 && lim->window > 0 && isfinite(lim->window)))
    e = "reserve: a window needs limit >= 1 and window > 0";
  if (!e && lim->kind == AL_STORE_WINDOW && !(lim->spacing >= 0 && isfinite(lim->spacing)))
    e = "reserve: a window's spacing must be >= 0";
  if (!e && n > (lim->kind == AL_STORE_RATE ? lim->burst : (double)lim->limit))
    e = "reserve: n is above the limiter's capacity";
  if (!e && isnan(max_wait)) e = "reserve: max_wait is not a number";
  submit(r, bad, e);
}

void al_store_pause(al_store *s, const char *key, double seconds, al_store_cb cb, void *ud) {
  NEW_OR_RETURN(r, s, AL_OP_PAUSE, cb, ud);
  int bad = 0;
  r->key = dup_or_null(key, &bad);
  r->seconds = seconds;
  const char *e = check_key("pause: the limiter key is empty", key);
  if (!e && !(seconds >= 0 && seconds < 366 * AL_STORE_DAY)) e = "pause: seconds must be within [0, 1 year)";
  submit(r, bad, e);
}

void al_store_heartbeat(al_store *s, const char *key, const char *owner, double ttl,
                        al_store_cb cb, void *ud) {
  NEW_OR_RETURN(r, s, AL_OP_HEARTBEAT, cb, ud);
  int bad = 0;
  r->key = dup_or_null(key, &bad);
  r->owner = dup_or_null(owner ? owner : s->owner, &bad);
  r->seconds = ttl;
  const char *e = check_key("heartbeat: the limiter key is empty", key);
  if (!e && !(ttl > 0 && ttl < AL_STORE_DAY)) e = "heartbeat: ttl must be within (0, 1 day)";
  submit(r, bad, e);
}

static const char *check_job(const char *job, const char *key, int need_key) {
  if (!job || !job[0]) return "the job name is empty";
  if (need_key && (!key || !key[0])) return "the item key is empty";
  return NULL;
}

void al_store_claim(al_store *s, const char *job, const char *key, const al_store_claim_opts *o,
                    al_store_cb cb, void *ud) {
  NEW_OR_RETURN(r, s, AL_OP_CLAIM, cb, ud);
  int bad = 0;
  r->job = dup_or_null(job, &bad);
  r->key = dup_or_null(key, &bad);
  r->owner = dup_or_null(o->owner ? o->owner : s->owner, &bad);
  r->seconds = o->lease;
  r->once = o->once;
  r->retry_unknown = o->retry_unknown;
  const char *e = check_job(job, key, 1);
  if (!e && !(o->lease > 0 && o->lease < 366 * AL_STORE_DAY)) e = "claim: lease must be within (0, 1 year)";
  submit(r, bad, e);
}

void al_store_renew(al_store *s, const char *job, const char *key, const char *owner,
                    double lease, al_store_cb cb, void *ud) {
  NEW_OR_RETURN(r, s, AL_OP_RENEW, cb, ud);
  int bad = 0;
  r->job = dup_or_null(job, &bad);
  r->key = dup_or_null(key, &bad);
  r->owner = dup_or_null(owner ? owner : s->owner, &bad);
  r->seconds = lease;
  const char *e = check_job(job, key, 1);
  if (!e && !(lease > 0 && lease < 366 * AL_STORE_DAY)) e = "renew: lease must be within (0, 1 year)";
  submit(r, bad, e);
}

void al_store_finish_done(al_store *s, const char *job, const char *key, const char *owner,
                          const char *result, size_t result_len, al_store_cb cb, void *ud) {
  NEW_OR_RETURN(r, s, AL_OP_DONE, cb, ud);
  int bad = 0;
  r->job = dup_or_null(job, &bad);
  r->key = dup_or_null(key, &bad);
  r->owner = dup_or_null(owner ? owner : s->owner, &bad);
  if (result) {
    r->data = malloc(result_len + 1);
    if (r->data) { memcpy(r->data, result, result_len); r->data[result_len] = '\0'; r->data_len = result_len; }
    else bad = 1;
  }
  submit(r, bad, check_job(job, key, 1));
}

void al_store_finish_failed(al_store *s, const char *job, const char *key, const char *owner,
                            const char *kind, const char *code, const char *message,
                            al_store_cb cb, void *ud) {
  NEW_OR_RETURN(r, s, AL_OP_FAILED, cb, ud);
  int bad = 0;
  r->job = dup_or_null(job, &bad);
  r->key = dup_or_null(key, &bad);
  r->owner = dup_or_null(owner ? owner : s->owner, &bad);
  r->kind = dup_or_null(kind ? kind : "error", &bad);
  r->code = dup_or_null(code, &bad);
  r->data = dup_or_null(message ? message : "", &bad);
  if (r->data) r->data_len = strlen(r->data);
  submit(r, bad, check_job(job, key, 1));
}

void al_store_counts_get(al_store *s, const char *job, al_store_cb cb, void *ud) {
  NEW_OR_RETURN(r, s, AL_OP_COUNTS, cb, ud);
  int bad = 0;
  r->job = dup_or_null(job, &bad);
  submit(r, bad, check_job(job, NULL, 0));
}

void al_store_list(al_store *s, al_store_cb cb, void *ud) {
  NEW_OR_RETURN(r, s, AL_OP_LIST, cb, ud);
  submit(r, 0, NULL);
}

void al_store_forget(al_store *s, const char *job, const char *key, al_store_cb cb, void *ud) {
  NEW_OR_RETURN(r, s, AL_OP_FORGET, cb, ud);
  int bad = 0;
  r->job = dup_or_null(job, &bad);
  r->key = dup_or_null(key, &bad);
  submit(r, bad, check_job(job, NULL, 0));
}
