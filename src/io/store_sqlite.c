/*
** The SQLite store: one file every process of the user on this machine shares. Each call is
** one short transaction (BEGIN IMMEDIATE for writes) on the loop, with the real-time clock read
** inside it. busy_timeout is 0, so a lock held by another process never blocks the loop: the
** call is retried from an ev_timer, with backoff, until its deadline, and calls behind it wait
** their turn so that the order of reservations is kept.
*/
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "clock.h"
#include "store_impl.h"

enum {
  S_BEGIN, S_BEGIN_READ, S_COMMIT, S_ROLLBACK,
  S_LIM_GET, S_LIM_PUT, S_LIM_SET, S_GR_PRUNE, S_GR_COUNT, S_GR_NTH, S_GR_ADD,
  S_BEAT_PUT, S_BEAT_PRUNE, S_BEAT_COUNT,
  S_ITEM_GET, S_ITEM_CLAIM, S_ITEM_RENEW, S_ITEM_FINISH, S_JOB_TOUCH, S_COUNTS, S_JOB_GET,
  S_LIST, S_FORGET_ITEMS, S_FORGET_JOB, S_FORGET_ITEM,
  S_GC_ITEMS, S_GC_JOBS, S_GC_LIMITERS, S_GC_GRANTS, S_GC_BEATS,
  S_COUNT
};

_Static_assert(S_COUNT <= 64, "the statements run are kept in a 64-bit mask");

static const char *const sql[S_COUNT] = {
  [S_BEGIN] = "BEGIN IMMEDIATE",
  [S_BEGIN_READ] = "BEGIN",
  [S_COMMIT] = "COMMIT",
  [S_ROLLBACK] = "ROLLBACK",
  [S_LIM_GET] = "SELECT tat, paused, last FROM limiters WHERE key = ?1",
  [S_LIM_PUT] = "INSERT INTO limiters(key, tat, paused, last, touched) VALUES(?1, ?2, ?3, ?4, ?5) "
                "ON CONFLICT(key) DO UPDATE SET tat = ?2, paused = ?3, last = ?4, touched = ?5",
  [S_LIM_SET] = "UPDATE limiters SET tat = ?2, paused = ?3, last = ?4, touched = ?5 WHERE key = ?1",
  [S_GR_PRUNE] = "DELETE FROM grants WHERE key = ?1 AND t <= ?2",
  [S_GR_COUNT] = "SELECT count(*) FROM grants WHERE key = ?1",
  [S_GR_NTH] = "SELECT t FROM grants WHERE key = ?1 ORDER BY t LIMIT 1 OFFSET ?2",
  [S_GR_ADD] = "INSERT INTO grants(key, t) VALUES(?1, ?2)",
  [S_BEAT_PUT] = "INSERT INTO beats(key, owner, until) VALUES(?1, ?2, ?3) "
                 "ON CONFLICT(key, owner) DO UPDATE SET until = ?3",
  [S_BEAT_PRUNE] = "DELETE FROM beats WHERE key = ?1 AND until <= ?2",
  [S_BEAT_COUNT] = "SELECT count(*) FROM beats WHERE key = ?1",
  [S_ITEM_GET] = "SELECT state, owner, lease, once, result FROM items WHERE job = ?1 AND key = ?2",
  [S_ITEM_CLAIM] = "INSERT INTO items(job, key, state, owner, lease, once, changed) "
                   "VALUES(?1, ?2, 1, ?3, ?4, ?5, ?6) ON CONFLICT(job, key) DO UPDATE SET state = 1, "
                   "owner = ?3, lease = ?4, once = ?5, result = NULL, kind = NULL, code = NULL, changed = ?6",
  [S_ITEM_RENEW] = "UPDATE items SET lease = ?4 WHERE job = ?1 AND key = ?2 AND state = 1 AND owner = ?3",
  [S_ITEM_FINISH] = "INSERT INTO items(job, key, state, owner, once, result, kind, code, changed) "
                    "VALUES(?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8) ON CONFLICT(job, key) DO UPDATE SET "
                    "state = ?3, result = ?5, kind = ?6, code = ?7, changed = ?8",
  [S_JOB_TOUCH] = "INSERT INTO jobs(name, changed) VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET changed = ?2",
  [S_COUNTS] = "SELECT state, owner, lease, once FROM items WHERE job = ?1",
  [S_JOB_GET] = "SELECT changed FROM jobs WHERE name = ?1",
  [S_LIST] = "SELECT name, changed FROM jobs ORDER BY name",
  [S_FORGET_ITEMS] = "DELETE FROM items WHERE job = ?1",
  [S_FORGET_JOB] = "DELETE FROM jobs WHERE name = ?1",
  [S_FORGET_ITEM] = "DELETE FROM items WHERE job = ?1 AND key = ?2",
  [S_GC_ITEMS] = "DELETE FROM items WHERE changed < ?1 AND (state != 1 OR lease < ?1)",
  [S_GC_JOBS] = "DELETE FROM jobs WHERE changed < ?1 AND NOT EXISTS (SELECT 1 FROM items WHERE job = name)",
  [S_GC_LIMITERS] = "DELETE FROM limiters WHERE touched < ?1 AND paused < ?2 AND last < ?2",
  [S_GC_GRANTS] = "DELETE FROM grants WHERE t < ?1",
  [S_GC_BEATS] = "DELETE FROM beats WHERE until <= ?1",
};

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS limiters(key TEXT PRIMARY KEY, tat REAL NOT NULL, "
  "  paused REAL NOT NULL, last REAL NOT NULL, touched REAL NOT NULL);"
  "CREATE TABLE IF NOT EXISTS grants(key TEXT NOT NULL, t REAL NOT NULL);"
  "CREATE INDEX IF NOT EXISTS grants_key_t ON grants(key, t);"
  "CREATE TABLE IF NOT EXISTS beats(key TEXT NOT NULL, owner TEXT NOT NULL, until REAL NOT NULL,"
  "  PRIMARY KEY(key, owner));"
  "CREATE TABLE IF NOT EXISTS items(job TEXT NOT NULL, key TEXT NOT NULL, state INTEGER NOT NULL,"
  "  owner TEXT, lease REAL, once INTEGER NOT NULL DEFAULT 0, result TEXT, kind TEXT, code TEXT,"
  "  changed REAL NOT NULL, PRIMARY KEY(job, key));"
  "CREATE TABLE IF NOT EXISTS jobs(name TEXT PRIMARY KEY, changed REAL NOT NULL);";

/* How long unused limiter rows and old grants are kept: past any window anyone uses. */
#define LIMITER_KEEP (7 * AL_STORE_DAY)
#define GC_EVERY 3600.0

typedef struct sq {
  sqlite3 *db;
  char *path;
  sqlite3_stmt *st[S_COUNT];
  unsigned long long used;      /* the statements run since the last reset: only they are reset */
  int schema_ok;
  double next_gc;
  al_store_req *head, *tail;    /* calls waiting their turn */
  ev_timer retry;
  double backoff;
} sq;

static al_store_status status_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: return AL_STORE_BUSY;
    case SQLITE_CORRUPT: case SQLITE_NOTADB: case SQLITE_FORMAT: case SQLITE_SCHEMA: return AL_STORE_CORRUPT;
    case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_FULL: case SQLITE_AUTH: return AL_STORE_READONLY;
    case SQLITE_NOMEM: return AL_STORE_NOMEM;
    case SQLITE_CANTOPEN: return errno == EACCES || errno == EROFS ? AL_STORE_READONLY : AL_STORE_UNREACHABLE;
    default: return AL_STORE_UNREACHABLE;
  }
}

static sqlite3_stmt *stmt(sq *q, int i, int *rc) {
  if (!q->st[i]) {
    *rc = sqlite3_prepare_v3(q->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL);
    if (*rc != SQLITE_OK) return NULL;
  }
  if (q->used & 1ULL << i) sqlite3_reset(q->st[i]);
  q->used |= 1ULL << i;
  sqlite3_clear_bindings(q->st[i]);
  return q->st[i];
}

/* Runs statement 'i' with text/double bindings given by a format ("t" text, "d" double,
** "i" int, "n" null); answers the step's code (SQLITE_ROW leaves the row to read). */
static int run(sq *q, int i, const char *fmt, ...) {
  int rc = SQLITE_OK;
  sqlite3_stmt *s = stmt(q, i, &rc);
  if (!s) return rc;
  va_list ap;
  va_start(ap, fmt);
  for (int k = 1; fmt && *fmt; fmt++, k++) {
    switch (*fmt) {
      case 't': { const char *v = va_arg(ap, const char *);
                  rc = v ? sqlite3_bind_text(s, k, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, k); break; }
      case 'b': { const char *v = va_arg(ap, const char *); int len = va_arg(ap, int);
                  rc = v ? sqlite3_bind_text(s, k, v, len, SQLITE_STATIC) : sqlite3_bind_null(s, k); break; }
      case 'd': rc = sqlite3_bind_double(s, k, va_arg(ap, double)); break;
      case 'i': rc = sqlite3_bind_int64(s, k, va_arg(ap, int)); break;
      default: rc = sqlite3_bind_null(s, k); break;
    }
    if (rc != SQLITE_OK) { va_end(ap); return rc; }
  }
  va_end(ap);
  return sqlite3_step(s);
}

#define OK_DONE(rc) ((rc) == SQLITE_DONE)
#define TRY(expr) do { int rc_ = (expr); if (rc_ != SQLITE_DONE && rc_ != SQLITE_ROW && rc_ != SQLITE_OK) return rc_; } while (0)

/* ---- the operations, each inside its transaction; they answer an SQLite code ---- */

static int op_reserve(sq *q, al_store_req *r, double now) {
  const al_store_limit *p = &r->limit;
  double tat = -INFINITY, paused = 0, last = 0;
  int rc = run(q, S_LIM_GET, "t", r->key), found = rc == SQLITE_ROW;
  if (found) {
    sqlite3_stmt *s = q->st[S_LIM_GET];
    tat = sqlite3_column_double(s, 0);
    paused = sqlite3_column_double(s, 1);
    last = sqlite3_column_double(s, 2);
  } else if (!OK_DONE(rc)) return rc;
  double at = now > paused ? now : paused;
  if (at < last) at = last;
  if (p->kind == AL_STORE_RATE) {
    /* GCRA: n more units fit once the bucket has drained to burst - n */
    double t = tat + (r->n - p->burst) * p->interval - p->interval * 1e-9;
    if (t > at) at = t;
  } else {
    TRY(run(q, S_GR_PRUNE, "td", r->key, now - p->window));
    if ((rc = run(q, S_GR_COUNT, "t", r->key)) != SQLITE_ROW) return rc;
    long count = (long)sqlite3_column_int64(q->st[S_GR_COUNT], 0);
    long need = count + (long)r->n - p->limit;
    if (need > 0) {
      if ((rc = run(q, S_GR_NTH, "ti", r->key, (int)(need - 1))) != SQLITE_ROW) return rc;
      double t = sqlite3_column_double(q->st[S_GR_NTH], 0) + p->window;
      if (t > at) at = t;
    }
    /* a backlog (a slot that cannot be now) is paced */
    if (p->spacing > 0 && at > now && at < last + r->n * p->spacing) at = last + r->n * p->spacing;
  }
  r->res.wait = at - now;
  r->res.slot = al_clock_now() + r->res.wait;
  if (r->max_wait >= 0 && r->res.wait > r->max_wait) return SQLITE_OK;
  if (p->kind == AL_STORE_RATE) tat = (tat > at ? tat : at) + r->n * p->interval;
  else {
    tat = 0;
    for (int i = 0; i < (int)r->n; i++) TRY(run(q, S_GR_ADD, "td", r->key, at));
  }
  TRY(run(q, found ? S_LIM_SET : S_LIM_PUT, "tdddd", r->key, tat, paused, at, now));
  r->res.granted = 1;
  return SQLITE_OK;
}

static int op_pause(sq *q, al_store_req *r, double now) {
  double tat = -1e300, paused = 0, last = 0, until = now + r->seconds;
  int rc = run(q, S_LIM_GET, "t", r->key);
  if (rc == SQLITE_ROW) {
    sqlite3_stmt *s = q->st[S_LIM_GET];
    tat = sqlite3_column_double(s, 0);
    paused = sqlite3_column_double(s, 1);
    last = sqlite3_column_double(s, 2);
  } else if (!OK_DONE(rc)) return rc;
  if (until <= paused) return SQLITE_OK;
  TRY(run(q, S_LIM_PUT, "tdddd", r->key, tat, until, last, now));
  return SQLITE_OK;
}

static int op_heartbeat(sq *q, al_store_req *r, double now) {
  TRY(run(q, S_BEAT_PRUNE, "td", r->key, now));
  TRY(run(q, S_BEAT_PUT, "ttd", r->key, r->owner, now + r->seconds));
  int rc = run(q, S_BEAT_COUNT, "t", r->key);
  if (rc != SQLITE_ROW) return rc;
  r->res.processes = (long)sqlite3_column_int64(q->st[S_BEAT_COUNT], 0);
  return SQLITE_OK;
}

/* Reads the item; *found is 0 when it has no row. The strings live until the next reset. */
static int item_get(sq *q, al_store_req *r, al_item_view *v) {
  *v = (al_item_view){0};
  int rc = run(q, S_ITEM_GET, "tt", r->job, r->key);
  if (rc == SQLITE_DONE) return SQLITE_OK;
  if (rc != SQLITE_ROW) return rc;
  sqlite3_stmt *s = q->st[S_ITEM_GET];
  int state = sqlite3_column_int(s, 0);
  if (state < AL_ITEM_RUNNING || state > AL_ITEM_FAILED) return SQLITE_CORRUPT;
  v->state = (al_item_state)state;
  v->owner = (const char *)sqlite3_column_text(s, 1);
  v->lease_until = sqlite3_column_double(s, 2);
  v->once = sqlite3_column_int(s, 3);
  return SQLITE_OK;
}

static int op_claim(sq *q, al_store_req *r, double now) {
  al_item_view v;
  TRY(item_get(q, r, &v));
  r->res.claim = al_store_decide_claim(&v, now, r->owner, r->retry_unknown, &r->res.lease_left);
  if (r->res.claim == AL_CLAIM_DONE) {
    sqlite3_stmt *s = q->st[S_ITEM_GET];
    const unsigned char *res = sqlite3_column_text(s, 4);
    if (res) {
      size_t len = (size_t)sqlite3_column_bytes(s, 4);
      if (!(r->result_buf = malloc(len + 1))) return SQLITE_NOMEM;
      memcpy(r->result_buf, res, len + 1);
      r->res.result = r->result_buf;
      r->res.result_len = len;
    }
    return SQLITE_OK;
  }
  if (r->res.claim != AL_CLAIM_GRANTED) return SQLITE_OK;
  r->res.previously_failed = v.state == AL_ITEM_FAILED;
  TRY(run(q, S_ITEM_CLAIM, "tttdid", r->job, r->key, r->owner, now + r->seconds, r->once ? 1 : 0, now));
  TRY(run(q, S_JOB_TOUCH, "td", r->job, now));
  return SQLITE_OK;
}

static int op_renew(sq *q, al_store_req *r, double now) {
  TRY(run(q, S_ITEM_RENEW, "tttd", r->job, r->key, r->owner, now + r->seconds));
  r->res.owned = sqlite3_changes(q->db) > 0;
  return SQLITE_OK;
}

static int op_finish(sq *q, al_store_req *r, double now) {
  al_item_view v;
  TRY(item_get(q, r, &v));
  if (r->op == AL_OP_FAILED) {
    if (v.state == AL_ITEM_DONE) return SQLITE_OK;
    if (v.state == AL_ITEM_RUNNING && v.lease_until > now && v.owner && strcmp(v.owner, r->owner) != 0)
      return SQLITE_OK;
  }
  int state = r->op == AL_OP_DONE ? AL_ITEM_DONE : AL_ITEM_FAILED;
  TRY(run(q, S_ITEM_FINISH, "ttitbttd", r->job, r->key, state, r->owner, r->data, (int)r->data_len,
          r->kind, r->code, now));
  TRY(run(q, S_JOB_TOUCH, "td", r->job, now));
  return SQLITE_OK;
}

static int op_counts(sq *q, al_store_req *r, double now) {
  int rc, first = 1;
  while ((rc = first ? run(q, S_COUNTS, "t", r->job) : sqlite3_step(q->st[S_COUNTS])) == SQLITE_ROW) {
    first = 0;
    sqlite3_stmt *s = q->st[S_COUNTS];
    al_item_view v = { (al_item_state)sqlite3_column_int(s, 0), (const char *)sqlite3_column_text(s, 1),
                       sqlite3_column_double(s, 2), sqlite3_column_int(s, 3) };
    al_store_count_item(&r->res.counts, &v, now);
  }
  if (rc != SQLITE_DONE) return rc;
  rc = run(q, S_JOB_GET, "t", r->job);
  if (rc == SQLITE_ROW) r->res.counts.changed = sqlite3_column_double(q->st[S_JOB_GET], 0);
  else if (rc != SQLITE_DONE) return rc;
  return SQLITE_OK;
}

static int op_list(sq *q, al_store_req *r, double now) {
  (void)now;
  size_t cap = 0;
  int rc;
  int first = 1;
  while ((rc = first ? run(q, S_LIST, NULL) : sqlite3_step(q->st[S_LIST])) == SQLITE_ROW) {
    first = 0;
    if (r->res.njobs == cap) {
      cap = cap ? cap * 2 : 16;
      al_store_job *j = realloc(r->jobs_buf, cap * sizeof *j);
      if (j) r->jobs_buf = j;
      char **n = realloc(r->job_names, cap * sizeof *n);
      if (n) r->job_names = n;
      if (!j || !n) return SQLITE_NOMEM;
    }
    const char *name = (const char *)sqlite3_column_text(q->st[S_LIST], 0);
    char *copy = strdup(name ? name : "");
    if (!copy) return SQLITE_NOMEM;
    r->job_names[r->res.njobs] = copy;
    r->jobs_buf[r->res.njobs] = (al_store_job){ copy, sqlite3_column_double(q->st[S_LIST], 1) };
    r->res.njobs++;
  }
  r->res.jobs = r->jobs_buf;
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int op_forget(sq *q, al_store_req *r, double now) {
  if (r->key) {
    TRY(run(q, S_FORGET_ITEM, "tt", r->job, r->key));
    r->res.forgotten = sqlite3_changes(q->db);
    if (r->res.forgotten) TRY(run(q, S_JOB_TOUCH, "td", r->job, now));
  } else {
    TRY(run(q, S_FORGET_ITEMS, "t", r->job));
    r->res.forgotten = sqlite3_changes(q->db);
    TRY(run(q, S_FORGET_JOB, "t", r->job));
  }
  return SQLITE_OK;
}

/* Records past their retention go, at most once an hour, inside a writing transaction. */
static int gc(sq *q, al_store *s, double now) {
  if (now < q->next_gc) return SQLITE_OK;
  q->next_gc = now + GC_EVERY;
  TRY(run(q, S_GC_ITEMS, "d", now - s->retention));
  TRY(run(q, S_GC_JOBS, "d", now - s->retention));
  TRY(run(q, S_GC_LIMITERS, "dd", now - LIMITER_KEEP, now));
  TRY(run(q, S_GC_GRANTS, "d", now - LIMITER_KEEP));
  TRY(run(q, S_GC_BEATS, "d", now));
  return SQLITE_OK;
}

static int body(sq *q, al_store_req *r, double now) {
  switch (r->op) {
    case AL_OP_RESERVE: return op_reserve(q, r, now);
    case AL_OP_PAUSE: return op_pause(q, r, now);
    case AL_OP_HEARTBEAT: return op_heartbeat(q, r, now);
    case AL_OP_CLAIM: return op_claim(q, r, now);
    case AL_OP_RENEW: return op_renew(q, r, now);
    case AL_OP_DONE: case AL_OP_FAILED: return op_finish(q, r, now);
    case AL_OP_COUNTS: return op_counts(q, r, now);
    case AL_OP_LIST: return op_list(q, r, now);
    case AL_OP_FORGET: return op_forget(q, r, now);
  }
  return SQLITE_MISUSE;
}

static void reset_all(sq *q) {
  for (int i = 0; q->used; i++)
    if (q->used & 1ULL << i) {
      sqlite3_reset(q->st[i]);
      q->used &= ~(1ULL << i);
    }
}

/* One attempt at call 'r': SQLITE_BUSY means "try again later"; otherwise the call has been
** completed. */
static int attempt(al_store *s, sq *q, al_store_req *r) {
  int reading = r->op == AL_OP_COUNTS || r->op == AL_OP_LIST;
  char early[300] = "";
  int rc = run(q, reading ? S_BEGIN_READ : S_BEGIN, NULL);
  if (rc == SQLITE_DONE) {
    double now = al_store_realtime();   /* read once the lock is ours */
    rc = SQLITE_OK;
    if (!q->schema_ok && !reading) {
      rc = sqlite3_exec(q->db, schema, NULL, NULL, NULL);
      if (rc == SQLITE_OK) q->schema_ok = 1;
    }
    if (rc == SQLITE_OK && !reading) rc = gc(q, s, now);
    if (rc == SQLITE_OK) rc = body(q, r, now);
    /* the message now: resetting the statements clears it ("no such table" is read below) */
    if (rc != SQLITE_OK) snprintf(early, sizeof early, "%s", sqlite3_errmsg(q->db));
    reset_all(q);
    if (rc == SQLITE_OK && run(q, S_COMMIT, NULL) != SQLITE_DONE) rc = sqlite3_errcode(q->db);
  } else {
    rc = sqlite3_errcode(q->db);
  }
  char msg[300] = "";
  if (rc != SQLITE_OK)
    snprintf(msg, sizeof msg, "%s", rc == SQLITE_NOMEM ? "out of memory" : early[0] ? early : sqlite3_errmsg(q->db));
  reset_all(q);
  if (rc != SQLITE_OK && !sqlite3_get_autocommit(q->db)) {
    run(q, S_ROLLBACK, NULL);
    reset_all(q);
  }
  /* A reading call in a database that has no tables yet sees no jobs. */
  if (reading && rc == SQLITE_ERROR && strstr(msg, "no such table")) {
    r->res.jobs = r->jobs_buf;
    r->res.counts = (al_store_counts){0};
    rc = SQLITE_OK;
  }
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) return SQLITE_BUSY;
  if (rc == SQLITE_OK) al_store_complete(r);
  else al_store_fail(r, status_of(rc), "%s: %s", q->path, msg);
  return rc;
}

static void pump(al_store *s);

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop; (void)revents;
  pump(w->data);
}

/* Runs the calls in order until one finds the lock held, which then waits on the timer. */
static void pump(al_store *s) {
  sq *q = s->impl;
  while (q->head) {
    al_store_req *r = q->head, *next = r->next;   /* completing r reuses its link */
    if (attempt(s, q, r) == SQLITE_BUSY) {
      ev_now_update(s->loop);
      double now = ev_now(s->loop);
      if (now < r->deadline) {
        q->backoff = q->backoff > 0 ? q->backoff * 2 : 0.001;
        if (q->backoff > 0.025) q->backoff = 0.025;
        double wait = q->backoff < r->deadline - now ? q->backoff : r->deadline - now;
        ev_timer_set(&q->retry, wait, 0.);
        ev_timer_start(s->loop, &q->retry);
        return;
      }
      al_store_fail(r, AL_STORE_BUSY, "%s: locked by another process for more than %.3g s", q->path,
                    s->call_timeout);
    }
    q->backoff = 0;
    q->head = next;
    if (!next) q->tail = NULL;
  }
}

static void sq_submit(al_store *s, al_store_req *r) {
  sq *q = s->impl;
  /* ev_now may be stale when the loop has been busy: the deadline counts from the call */
  ev_now_update(s->loop);
  r->deadline = ev_now(s->loop) + s->call_timeout;
  r->next = NULL;
  int idle = !q->head;
  if (q->tail) q->tail->next = r; else q->head = r;
  q->tail = r;
  if (idle && !ev_is_active(&q->retry)) pump(s);
}

static void sq_free(sq *q) {
  for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(q->st[i]);
  sqlite3_close(q->db);
  free(q->path);
  free(q);
}

static void sq_close(al_store *s) {
  sq *q = s->impl;
  ev_timer_stop(s->loop, &q->retry);
  while (q->head) {
    al_store_req *r = q->head;
    q->head = r->next;
    al_store_fail(r, AL_STORE_CLOSED, "store closed");
  }
  sq_free(q);
}

/* Creates the directories above 'path' that are missing, mode 0700. */
static int make_parents(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = mkdir(path, 0700);
    int e = errno;
    *p = '/';
    if (rc != 0 && e != EEXIST) { errno = e; return -1; }
  }
  return 0;
}

static int fail_open(al_store_status st, al_store_status *status, char *err, size_t errlen,
                     const char *path, const char *why) {
  *status = st;
  snprintf(err, errlen, "cannot open the store %s: %s", path, why);
  return -1;
}

static int open_file(const char *path, al_store_status *status, char *err, size_t errlen) {
  char *copy = strdup(path);
  if (!copy) return fail_open(AL_STORE_NOMEM, status, err, errlen, path, "out of memory");
  int rc = make_parents(copy);
  int e = errno;
  free(copy);
  if (rc != 0)
    return fail_open(e == EACCES || e == EROFS || e == EPERM ? AL_STORE_READONLY : AL_STORE_UNREACHABLE,
                     status, err, errlen, path, strerror(e));
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return fail_open(AL_STORE_UNREACHABLE, status, err, errlen, path, "it is a directory");
    if (!S_ISREG(st.st_mode)) return fail_open(AL_STORE_UNREACHABLE, status, err, errlen, path, "not a regular file");
    if (access(path, R_OK | W_OK) != 0)
      return fail_open(AL_STORE_READONLY, status, err, errlen, path, strerror(errno));
    return 0;
  }
  /* created by us, 0600 under the umask; O_EXCL so a file made meanwhile is not truncated */
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EEXIST) {
    e = errno;
    return fail_open(e == EACCES || e == EROFS || e == EPERM ? AL_STORE_READONLY : AL_STORE_UNREACHABLE,
                     status, err, errlen, path, strerror(e));
  }
  if (fd >= 0) close(fd);
  return 0;
}

static int is_busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

/* WAL (readers never wait for the writer) and NORMAL (no fsync on each commit, still safe),
** then a read of the schema, which finds a file that is not a database or a damaged header.
** Only the first process to make the file switches it to WAL; while it does, the others find
** it busy, even to prepare a statement, so the whole set-up is retried until 'until'. */
static int set_up_once(sqlite3 *db) {
  sqlite3_stmt *jm = NULL;
  int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &jm, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(jm);
  if (rc == SQLITE_ROW) {
    const char *mode = (const char *)sqlite3_column_text(jm, 0);
    rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_READONLY;
  }
  sqlite3_finalize(jm);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
  return rc;
}

static int set_up(sqlite3 *db, double until) {
  int rc;
  while (is_busy(rc = set_up_once(db)) && al_store_realtime() < until) usleep(2000);
  return rc;
}

int al_store_sqlite_open(al_store *s, const char *path, al_store_status *status, char *err,
                         size_t errlen) {
  if (!path[0]) return fail_open(AL_STORE_ARGUMENT, status, err, errlen, "sqlite:", "no path");
  if (open_file(path, status, err, errlen) != 0) return -1;
  sq *q = calloc(1, sizeof *q);
  if (!q || !(q->path = strdup(path))) { free(q); return fail_open(AL_STORE_NOMEM, status, err, errlen, path, "out of memory"); }
  int rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(q->db, 0);
  if (rc == SQLITE_OK) rc = set_up(q->db, al_store_realtime() + s->call_timeout);
  if (rc != SQLITE_OK) {
    al_store_status st = status_of(rc);
    char why[300];
    snprintf(why, sizeof why, "%s", q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
    sq_free(q);
    return fail_open(st, status, err, errlen, path, why);
  }
  ev_timer_init(&q->retry, on_retry, 0., 0.);
  q->retry.data = s;
  s->impl = q;
  return 0;
}

const al_store_vtable al_store_sqlite_backend = { "sqlite", sq_submit, sq_close };
