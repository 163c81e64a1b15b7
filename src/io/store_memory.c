/*
** The in-process store: limiters are the quota.c arithmetic kept in a hash table by key,
** jobs a hash table of items. Every call is decided at once and completed from the loop.
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "quota.h"
#include "clock.h"
#include "store_impl.h"

/* A chained string-keyed table; entries are never moved, so pointers to them stay valid. */
typedef struct entry {
  struct entry *next;
  char *key;
  void *val;
} entry;

typedef struct table {
  entry **slots;
  size_t nslots, count;
} table;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static entry *tget(table *t, const char *key) {
  if (!t->nslots) return NULL;
  for (entry *e = t->slots[hash_str(key) % t->nslots]; e; e = e->next)
    if (strcmp(e->key, key) == 0) return e;
  return NULL;
}

static int tgrow(table *t) {
  size_t n = t->nslots ? t->nslots * 2 : 16;
  entry **slots = calloc(n, sizeof *slots);
  if (!slots) return -1;
  for (size_t i = 0; i < t->nslots; i++)
    for (entry *e = t->slots[i], *next; e; e = next) {
      next = e->next;
      size_t j = hash_str(e->key) % n;
      e->next = slots[j];
      slots[j] = e;
    }
  free(t->slots);
  t->slots = slots;
  t->nslots = n;
  return 0;
}

/* The entry for 'key', created with a NULL value when missing; NULL on no memory. */
static entry *tput(table *t, const char *key) {
  entry *e = tget(t, key);
  if (e) return e;
  if (t->count >= t->nslots && tgrow(t) != 0) return NULL;
  e = calloc(1, sizeof *e);
  if (!e || !(e->key = strdup(key))) { free(e); return NULL; }
  size_t j = hash_str(key) % t->nslots;
  e->next = t->slots[j];
  t->slots[j] = e;
  t->count++;
  return e;
}

/* Unlinks 'key' and returns its value (the caller frees it), or NULL. */
static void *tdel(table *t, const char *key) {
  if (!t->nslots) return NULL;
  for (entry **p = &t->slots[hash_str(key) % t->nslots]; *p; p = &(*p)->next)
    if (strcmp((*p)->key, key) == 0) {
      entry *e = *p;
      void *v = e->val;
      *p = e->next;
      free(e->key); free(e);
      t->count--;
      return v;
    }
  return NULL;
}

static void tfree(table *t, void (*freeval)(void *)) {
  for (size_t i = 0; i < t->nslots; i++)
    for (entry *e = t->slots[i], *next; e; e = next) {
      next = e->next;
      if (freeval) freeval(e->val);
      free(e->key); free(e);
    }
  free(t->slots);
  *t = (table){0};
}

/* ---- limiters ---- */

typedef struct mlimiter {
  al_quota lim;
  double last;            /* the latest slot reserved: later reservations never go before it */
  table beats;            /* owner -> double* expiry */
} mlimiter;

static void free_limiter(void *p) {
  mlimiter *m = p;
  if (!m) return;
  al_quota_free(&m->lim);
  tfree(&m->beats, free);
  free(m);
}

/* The limiter's arithmetic follows the last parameters it was asked with. */
static int same_params(const al_quota *l, const al_store_limit *p) {
  if (p->kind == AL_STORE_RATE)
    return l->kind == AL_QUOTA_RATE && l->interval == p->interval && l->burst == p->burst;
  return l->kind == AL_QUOTA_WINDOW && l->limit == p->limit && l->window == p->window;
}

static int init_limit(al_quota *l, const al_store_limit *p) {
  if (p->kind == AL_STORE_RATE) return al_quota_init_rate(l, 1.0, p->interval, p->burst);
  return al_quota_init_window(l, p->limit, p->window);
}

typedef struct mem {
  table limiters;         /* key -> mlimiter */
  table jobs;             /* name -> mjob */
} mem;

static mlimiter *limiter_for(mem *m, const char *key, const al_store_limit *p) {
  entry *e = tput(&m->limiters, key);
  if (!e) return NULL;
  mlimiter *ml = e->val;
  if (!ml) {
    if (!(ml = calloc(1, sizeof *ml))) return NULL;
    ml->last = -INFINITY;
    ml->lim.kind = AL_QUOTA_RATE;
    ml->lim.paused_until = -INFINITY;
    ml->lim.tat = -INFINITY;
    e->val = ml;
  }
  if (p && !same_params(&ml->lim, p)) {
    double paused = ml->lim.paused_until;
    al_quota fresh;
    if (init_limit(&fresh, p) != 0) return NULL;
    al_quota_free(&ml->lim);
    ml->lim = fresh;
    ml->lim.paused_until = paused;
  }
  return ml;
}

static void do_reserve(mem *m, al_store_req *r) {
  mlimiter *ml = limiter_for(m, r->key, &r->limit);
  if (!ml) { al_store_fail(r, AL_STORE_NOMEM, "out of memory"); return; }
  double now = al_store_realtime();
  double at = al_quota_next(&ml->lim, r->n);
  if (at < now) at = now;
  if (at < ml->last) at = ml->last;
  if (r->limit.kind == AL_STORE_WINDOW && r->limit.spacing > 0 && at > now && at < ml->last + r->n * r->limit.spacing)
    at = ml->last + r->n * r->limit.spacing;
  r->res.wait = at - now;
  r->res.slot = al_clock_now() + r->res.wait;
  if (r->max_wait >= 0 && r->res.wait > r->max_wait) { al_store_complete(r); return; }
  al_quota_take(&ml->lim, at, r->n);
  ml->last = at;
  r->res.granted = 1;
  al_store_complete(r);
}

static void do_pause(mem *m, al_store_req *r) {
  mlimiter *ml = limiter_for(m, r->key, NULL);
  if (!ml) { al_store_fail(r, AL_STORE_NOMEM, "out of memory"); return; }
  al_quota_pause_until(&ml->lim, al_store_realtime() + r->seconds);
  al_store_complete(r);
}

static void do_heartbeat(mem *m, al_store_req *r) {
  mlimiter *ml = limiter_for(m, r->key, NULL);
  entry *e = ml ? tput(&ml->beats, r->owner) : NULL;
  if (!e || (!e->val && !(e->val = malloc(sizeof(double))))) {
    al_store_fail(r, AL_STORE_NOMEM, "out of memory");
    return;
  }
  double now = al_store_realtime();
  *(double *)e->val = now + r->seconds;
  long live = 0;
  for (size_t i = 0; i < ml->beats.nslots; i++)
    for (entry **p = &ml->beats.slots[i]; *p;) {
      entry *b = *p;
      if (*(double *)b->val > now) { live++; p = &b->next; continue; }
      *p = b->next;   /* an owner gone for good: drop it */
      free(b->val); free(b->key); free(b);
      ml->beats.count--;
    }
  r->res.processes = live;
  al_store_complete(r);
}

/* ---- jobs ---- */

typedef struct mitem {
  al_item_state state;
  char *owner;
  double lease_until;
  int once;
  char *result;           /* done: JSON; failed: the message */
  size_t result_len;
} mitem;

typedef struct mjob {
  table items;
  double changed;
} mjob;

static void free_item(void *p) {
  mitem *it = p;
  if (!it) return;
  free(it->owner); free(it->result); free(it);
}

static void free_job(void *p) {
  mjob *j = p;
  if (!j) return;
  tfree(&j->items, free_item);
  free(j);
}

static mitem *item_for(mem *m, const char *job, const char *key, mjob **jobp) {
  entry *je = tput(&m->jobs, job);
  if (!je) return NULL;
  if (!je->val && !(je->val = calloc(1, sizeof(mjob)))) return NULL;
  *jobp = je->val;
  entry *ie = tput(&(*jobp)->items, key);
  if (!ie) return NULL;
  if (!ie->val) ie->val = calloc(1, sizeof(mitem));
  return ie->val;
}

static al_item_view view_of(const mitem *it) {
  return (al_item_view){ it->state, it->owner, it->lease_until, it->once };
}

static int set_owner(mitem *it, const char *owner) {
  char *o = strdup(owner);
  if (!o) return -1;
  free(it->owner);
  it->owner = o;
  return 0;
}

static void do_claim(mem *m, al_store_req *r) {
  mjob *j;
  mitem *it = item_for(m, r->job, r->key, &j);
  if (!it) { al_store_fail(r, AL_STORE_NOMEM, "out of memory"); return; }
  double now = al_store_realtime();
  al_item_view v = view_of(it);
  r->res.claim = al_store_decide_claim(&v, now, r->owner, r->retry_unknown, &r->res.lease_left);
  if (r->res.claim == AL_CLAIM_DONE) {
    r->res.result = it->result;   /* lives until the item changes: copy for the callback */
    r->res.result_len = it->result_len;
    if (it->result) {
      if (!(r->result_buf = malloc(it->result_len + 1))) { al_store_fail(r, AL_STORE_NOMEM, "out of memory"); return; }
      memcpy(r->result_buf, it->result, it->result_len + 1);
      r->res.result = r->result_buf;
    }
  } else if (r->res.claim == AL_CLAIM_GRANTED) {
    if (set_owner(it, r->owner) != 0) { al_store_fail(r, AL_STORE_NOMEM, "out of memory"); return; }
    r->res.previously_failed = it->state == AL_ITEM_FAILED;
    it->state = AL_ITEM_RUNNING;
    it->lease_until = now + r->seconds;
    it->once = r->once;
    free(it->result); it->result = NULL; it->result_len = 0;
    j->changed = now;
  }
  al_store_complete(r);
}

static mitem *existing_item(mem *m, const char *job, const char *key) {
  entry *je = tget(&m->jobs, job);
  entry *ie = je ? tget(&((mjob *)je->val)->items, key) : NULL;
  return ie ? ie->val : NULL;
}

static void do_renew(mem *m, al_store_req *r) {
  mitem *it = existing_item(m, r->job, r->key);
  if (it && it->state == AL_ITEM_RUNNING && it->owner && strcmp(it->owner, r->owner) == 0) {
    it->lease_until = al_store_realtime() + r->seconds;
    r->res.owned = 1;
  }
  al_store_complete(r);
}

static void do_finish(mem *m, al_store_req *r) {
  mjob *j;
  mitem *it = item_for(m, r->job, r->key, &j);
  if (!it) { al_store_fail(r, AL_STORE_NOMEM, "out of memory"); return; }
  double now = al_store_realtime();
  if (r->op == AL_OP_FAILED && it->state == AL_ITEM_RUNNING && it->lease_until > now &&
      it->owner && strcmp(it->owner, r->owner) != 0) { al_store_complete(r); return; }
  if (r->op == AL_OP_FAILED && it->state == AL_ITEM_DONE) { al_store_complete(r); return; }
  free(it->result);
  it->result = r->data;          /* the request's copy moves into the item */
  it->result_len = r->data_len;
  r->data = NULL;
  it->state = r->op == AL_OP_DONE ? AL_ITEM_DONE : AL_ITEM_FAILED;
  j->changed = now;
  al_store_complete(r);
}

static void do_counts(mem *m, al_store_req *r) {
  entry *je = tget(&m->jobs, r->job);
  if (je) {
    mjob *j = je->val;
    double now = al_store_realtime();
    for (size_t i = 0; i < j->items.nslots; i++)
      for (entry *e = j->items.slots[i]; e; e = e->next) {
        al_item_view v = view_of(e->val);
        al_store_count_item(&r->res.counts, &v, now);
      }
    r->res.counts.changed = j->changed;
  }
  al_store_complete(r);
}

static void do_list(mem *m, al_store_req *r) {
  size_t n = m->jobs.count, k = 0;
  r->jobs_buf = calloc(n ? n : 1, sizeof *r->jobs_buf);
  r->job_names = calloc(n ? n : 1, sizeof *r->job_names);
  if (!r->jobs_buf || !r->job_names) { al_store_fail(r, AL_STORE_NOMEM, "out of memory"); return; }
  for (size_t i = 0; i < m->jobs.nslots; i++)
    for (entry *e = m->jobs.slots[i]; e; e = e->next) {
      if (!(r->job_names[k] = strdup(e->key))) { al_store_fail(r, AL_STORE_NOMEM, "out of memory"); return; }
      r->jobs_buf[k].name = r->job_names[k];
      r->jobs_buf[k].changed = ((mjob *)e->val)->changed;
      r->res.njobs = ++k;
    }
  r->res.jobs = r->jobs_buf;
  al_store_complete(r);
}

static void do_forget(mem *m, al_store_req *r) {
  if (!r->key) {
    mjob *j = tdel(&m->jobs, r->job);
    if (j) r->res.forgotten = (long)j->items.count;
    free_job(j);
  } else {
    entry *je = tget(&m->jobs, r->job);
    mitem *it = je ? tdel(&((mjob *)je->val)->items, r->key) : NULL;
    if (it) { r->res.forgotten = 1; ((mjob *)je->val)->changed = al_store_realtime(); }
    free_item(it);
  }
  al_store_complete(r);
}

static void mem_submit(al_store *s, al_store_req *r) {
  mem *m = s->impl;
  switch (r->op) {
    case AL_OP_RESERVE: do_reserve(m, r); break;
    case AL_OP_PAUSE: do_pause(m, r); break;
    case AL_OP_HEARTBEAT: do_heartbeat(m, r); break;
    case AL_OP_CLAIM: do_claim(m, r); break;
    case AL_OP_RENEW: do_renew(m, r); break;
    case AL_OP_DONE: case AL_OP_FAILED: do_finish(m, r); break;
    case AL_OP_COUNTS: do_counts(m, r); break;
    case AL_OP_LIST: do_list(m, r); break;
    case AL_OP_FORGET: do_forget(m, r); break;
  }
}

static void mem_close(al_store *s) {
  mem *m = s->impl;
  tfree(&m->limiters, free_limiter);
  tfree(&m->jobs, free_job);
  free(m);
}

int al_store_memory_open(al_store *s, al_store_status *status, char *err, size_t errlen) {
  (void)err; (void)errlen;
  s->impl = calloc(1, sizeof(mem));
  if (!s->impl) { *status = AL_STORE_NOMEM; return -1; }
  return 0;
}

const al_store_vtable al_store_memory_backend = { "memory", mem_submit, mem_close };
