/*
** One reservation through each backend of the store, for the bench job to compare with
** scripts/bench/sqlite_rmw.c: wall and CPU microseconds per reservation, one call at a time
** ("serial": the call's whole round trip) and 64 in flight ("pipelined"). Usage:
**   bench_store [memory|sqlite|redis ...] [-n N]   (SMOKE=1: a few hundred, only to show it runs)
** redis starts its own redis-server on a free loopback port (skipped without one).
**   bench_store jobs [-n N]: the two shapes of Redis jobs side by side, per item: claiming by
**   key through the store (claim + done, 64 in flight), and a Stream with a consumer group
**   (XADD by the enumerator, XREADGROUP COUNT 64, XACK and a done record per item).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <hiredis/hiredis.h>
#include "store_testlib.h"

static double cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static long pending, failed;
static void on_done(void *ud, const al_store_result *r) {
  (void)ud;
  pending--;
  if (r->status != AL_STORE_OK || !r->granted) failed++;
}

/* A limiter that never makes anyone wait: only the store's work is measured. */
static const al_store_limit fast = { .kind = AL_STORE_RATE, .interval = 1e-9, .burst = 1e9 };

static int bench(al_store *s, const char *name, long n, int depth, int print) {
  failed = 0;
  double t0 = t_realtime(), c0 = cpu();
  long sent = 0;
  while (sent < n || pending > 0) {
    while (sent < n && pending < depth) { pending++; sent++; al_store_reserve(s, "bench", &fast, 1, -1, on_done, NULL); }
    ev_run(t_loop, EVRUN_ONCE);
  }
  double t1 = t_realtime(), c1 = cpu();
  if (print)
    printf("bench_store: %-6s %-9s %ld reservations, %.2f us wall, %.2f us cpu per reservation%s\n", name,
           depth == 1 ? "serial" : "pipelined", n, (t1 - t0) / n * 1e6, (c1 - c0) / n * 1e6, failed ? " (FAILURES)" : "");
  if (failed) fprintf(stderr, "bench_store: %s: %ld reservations failed\n", name, failed);
  return failed ? 1 : 0;
}

/* ---- jobs: claim by key against a Stream ---- */

static al_store *job_store;
static void on_recorded(void *ud, const al_store_result *r) {
  (void)ud;
  pending--;
  if (r->status != AL_STORE_OK) failed++;
}
static void on_claimed(void *ud, const al_store_result *r) {
  long i = (long)(intptr_t)ud;
  char key[32];
  snprintf(key, sizeof key, "item-%ld", i);
  if (r->status != AL_STORE_OK || r->claim != AL_CLAIM_GRANTED) failed++;
  /* the claim's place in flight passes to its done record */
  al_store_finish_done(job_store, "bench-job", key, NULL, "{\"ok\":true}", 11, on_recorded, NULL);
}

static void bench_claims(int port, long n) {
  char url[100], err[512];
  al_store_status st;
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
  job_store = al_store_open(t_loop, url, NULL, &st, err, sizeof err);
  if (!job_store) { fprintf(stderr, "bench_store: %s\n", err); failed++; return; }
  failed = 0;
  double t0 = t_realtime(), c0 = cpu();
  long sent = 0;
  al_store_claim_opts o = { .lease = 60 };
  while (sent < n || pending > 0) {
    while (sent < n && pending < 64) {
      char key[32];
      snprintf(key, sizeof key, "item-%ld", sent);
      pending++;
      al_store_claim(job_store, "bench-job", key, &o, on_claimed, (void *)(intptr_t)sent);
      sent++;
    }
    ev_run(t_loop, EVRUN_ONCE);
  }
  double t1 = t_realtime(), c1 = cpu();
  printf("bench_store: jobs claim-by-key %ld items, %.2f us wall, %.2f us cpu per item (claim + done)%s\n", n,
         (t1 - t0) / n * 1e6, (c1 - c0) / n * 1e6, failed ? " (FAILURES)" : "");
  al_store_close(job_store);
}

static void bench_stream(int port, long n) {
  redisContext *c = redisConnect("127.0.0.1", port);
  if (!c || c->err) { fprintf(stderr, "bench_store: no redis\n"); failed++; redisFree(c); return; }
  double t0 = t_realtime(), c0 = cpu();
  for (long i = 0; i < n; i++) redisAppendCommand(c, "XADD bench-stream * key item-%ld", i);
  redisAppendCommand(c, "XGROUP CREATE bench-stream workers 0");
  redisReply *x;
  for (long i = 0; i <= n; i++) { if (redisGetReply(c, (void **)&x) != REDIS_OK) { failed++; break; } freeReplyObject(x); }
  long got = 0;
  while (got < n) {
    x = redisCommand(c, "XREADGROUP GROUP workers w1 COUNT 64 STREAMS bench-stream >");
    if (!x || x->type != REDIS_REPLY_ARRAY || x->elements != 1) { failed++; freeReplyObject(x); break; }
    redisReply *entries = x->element[0]->element[1];
    for (size_t i = 0; i < entries->elements; i++) {
      const char *id = entries->element[i]->element[0]->str;
      const char *key = entries->element[i]->element[1]->element[1]->str;
      redisAppendCommand(c, "HSET bench-done %s {\"ok\":true}", key);
      redisAppendCommand(c, "XACK bench-stream workers %s", id);
    }
    size_t k = entries->elements;
    freeReplyObject(x);
    for (size_t i = 0; i < 2 * k; i++) { if (redisGetReply(c, (void **)&x) != REDIS_OK) failed++; else freeReplyObject(x); }
    got += (long)k;
    if (!k) break;
  }
  double t1 = t_realtime(), c1 = cpu();
  printf("bench_store: jobs stream       %ld items, %.2f us wall, %.2f us cpu per item (XADD + XREADGROUP/64 + XACK + done)%s\n",
         got, (t1 - t0) / (got ? got : 1) * 1e6, (c1 - c0) / (got ? got : 1) * 1e6, got == n ? "" : " (FAILURES)");
  if (got != n) failed++;
  redisFree(c);
}

static int bench_jobs(long n) {
  t_redis redis = {0};
  if (!t_redis_have() || t_redis_start(&redis, NULL) != 0) { printf("bench_store: jobs skipped (no redis-server)\n"); return 0; }
  failed = 0;
  bench_claims(redis.port, n);
  long f = failed;
  bench_stream(redis.port, n);
  t_redis_stop(&redis);
  return f || failed;
}

int main(int argc, char **argv) {
  long n = 20000;
  const char *which[3];
  int nw = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) n = atol(argv[++i]);
    else if (nw < 3) which[nw++] = argv[i];
  }
  if (!nw) { which[0] = "memory"; which[1] = "sqlite"; which[2] = "redis"; nw = 3; }
  if (getenv("SMOKE") && strcmp(getenv("SMOKE"), "1") == 0) n = 300;
  if (n < 10) n = 10;
  t_loop = ev_default_loop(0);
  if (nw == 1 && strcmp(which[0], "jobs") == 0) return bench_jobs(n);
  for (int i = 0; i < nw; i++) {
    char url[600], err[512];
    t_redis redis = {0};
    if (strcmp(which[i], "sqlite") == 0) snprintf(url, sizeof url, "sqlite:%s/bench.db", t_tmpdir());
    else if (strcmp(which[i], "redis") == 0) {
      if (!t_redis_have() || t_redis_start(&redis, NULL) != 0) { printf("bench_store: redis skipped (no redis-server)\n"); continue; }
      snprintf(url, sizeof url, "redis://127.0.0.1:%d", redis.port);
    } else snprintf(url, sizeof url, "%s", which[i]);
    al_store_status st;
    al_store *s = al_store_open(t_loop, url, NULL, &st, err, sizeof err);
    if (!s) { fprintf(stderr, "bench_store: %s\n", err); bad = 1; t_redis_stop(&redis); continue; }
    bad |= bench(s, which[i], n / 10, 1, 0);   /* warm up: connect, prepare */
    bad |= bench(s, which[i], n, 1, 1);
    bad |= bench(s, which[i], n, 64, 1);
    al_store_close(s);
    t_redis_stop(&redis);
  }
  t_cleanup();
  return bad;
}
