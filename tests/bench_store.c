/*
** One reservation through each backend of the store, for the bench job to compare with
** scripts/bench/sqlite_rmw.c: wall and CPU microseconds per reservation, one call at a time
** ("serial": the call's whole round trip) and 64 in flight ("pipelined"). Usage:
**   bench_store [memory|sqlite|redis ...] [-n N]   (SMOKE=1: a few hundred, only to show it runs)
** redis starts its own redis-server on a free loopback port (skipped without one).
*/
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
