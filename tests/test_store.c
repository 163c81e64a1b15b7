/*
** The store's behaviour, the same table run against each backend:
**   test_store memory | sqlite | redis
** (redis starts its own redis-server on a free loopback port; exit 77, "skipped", without it).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "store_testlib.h"

static al_store *S;

static const al_store_limit rate10 = { .kind = AL_STORE_RATE, .interval = 0.1, .burst = 1 };

static t_call reserve(const char *key, const al_store_limit *l, double n, double max_wait) {
  t_call c;
  T_RUN(c, al_store_reserve(S, key, l, n, max_wait, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK, "reserve %s: %s", key, c.message);
  return c;
}

/* |a - b| <= tol */
#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

static void test_rate_spacing(void) {
  double prev = 0, prev_err = 0;
  for (int i = 0; i < 6; i++) {
    t_call c = reserve("spacing", &rate10, 1, -1);
    CHECK(c.res.granted, "reservation %d granted", i);
    double err, at = t_slot(&c, &err);
    if (i == 0) CHECK(c.res.wait < 0.05, "the first slot is now (wait %.3f)", c.res.wait);
    else CHECK(NEAR(at - prev, 0.1, err + prev_err + 0.002), "slot %d is 0.1 s after the one before (%.4f)", i, at - prev);
    prev = at; prev_err = err;
  }
}

static void test_burst(void) {
  al_store_limit l = { .kind = AL_STORE_RATE, .interval = 0.2, .burst = 3 };
  double first = 0, e1 = 0, e4;
  for (int i = 0; i < 3; i++) {
    t_call c = reserve("burst", &l, 1, -1);
    CHECK(c.res.wait == 0, "burst unit %d goes now (wait %.3f)", i, c.res.wait);
    if (i == 0) first = t_slot(&c, &e1);
  }
  t_call c = reserve("burst", &l, 1, -1);
  CHECK(NEAR(t_slot(&c, &e4), first + 0.2, e1 + e4 + 0.002), "past the burst the next unit goes one interval after the first (%.4f)",
        t_slot(&c, &e4) - first);
  t_call big;
  T_RUN(big, al_store_reserve(S, "burst", &l, 4, -1, t_cb, &big));
  CHECK(big.res.status == AL_STORE_ARGUMENT, "n above the burst is an argument error (%d)", big.res.status);
}

static void test_max_wait(void) {
  double first = 0, ef = 0, er;
  for (int i = 0; i < 5; i++) {   /* slots first .. first + 0.4 */
    t_call c = reserve("maxwait", &rate10, 1, -1);
    if (i == 0) first = t_slot(&c, &ef);
  }
  t_call refused = reserve("maxwait", &rate10, 1, 0.1);
  CHECK(!refused.res.granted, "a slot 0.5 s away is refused with max_wait 0.1");
  CHECK(NEAR(t_slot(&refused, &er), first + 0.5, ef + er + 0.002), "the refusal says how long it would have waited (%.4f)",
        t_slot(&refused, &er) - first);
  t_call refused2 = reserve("maxwait", &rate10, 1, 0.2);
  CHECK(!refused2.res.granted, "refused again");
  t_call next = reserve("maxwait", &rate10, 1, -1);
  double e1, e2;
  CHECK(NEAR(t_slot(&next, &e1), t_slot(&refused, &e2), e1 + e2 + 0.002),
        "the refusals used no slot: the next one gets the refused slot (%.4f vs %.4f)",
        t_slot(&next, &e1), t_slot(&refused, &e2));
  t_call fits = reserve("maxwait", &rate10, 1, 1.0);
  CHECK(fits.res.granted, "a slot within max_wait is granted");
}

static void test_pause(void) {
  t_call p, q;
  T_RUN(p, al_store_pause(S, "paused", 0.5, t_cb, &p));
  CHECK(p.res.status == AL_STORE_OK, "pause: %s", p.message);
  T_RUN(q, al_store_pause(S, "paused", 0.1, t_cb, &q));   /* never shortens */
  /* the pause ends 0.5 s after the store's clock read it, somewhere within the call */
  t_call c = reserve("paused", &rate10, 1, -1);
  double ec, at = t_slot(&c, &ec);
  CHECK(at >= p.t0 + 0.5 - ec && at <= p.t1 + 0.5 + ec, "a paused limiter's next slot is at the pause's end (%.4f)", at - p.t0);
  t_call d = reserve("paused", &rate10, 1, -1);
  double ed;
  CHECK(NEAR(t_slot(&d, &ed), at + 0.1, ec + ed + 0.002), "and the one after that one interval later");
  al_store_limit w = { .kind = AL_STORE_WINDOW, .limit = 5, .window = 1 };
  T_RUN(p, al_store_pause(S, "paused-window", 0.3, t_cb, &p));
  t_call e = reserve("paused-window", &w, 1, -1);
  double ee, ae = t_slot(&e, &ee);
  CHECK(ae >= p.t0 + 0.3 - ee && ae <= p.t1 + 0.3 + ee, "a pause holds a window limiter too (%.4f)", ae - p.t0);
}

static void test_window(void) {
  al_store_limit w = { .kind = AL_STORE_WINDOW, .limit = 3, .window = 0.5 };
  double first = 0, err;
  for (int i = 0; i < 3; i++) {
    t_call c = reserve("window", &w, 1, -1);
    CHECK(c.res.wait < 0.05, "unit %d of the window goes now (%.3f)", i, c.res.wait);
    if (i == 0) first = t_slot(&c, &err);
  }
  t_call refused = reserve("window", &w, 1, 0.05);
  CHECK(!refused.res.granted, "a full window refuses within max_wait");
  t_call c4 = reserve("window", &w, 1, -1);
  double e4, at4 = t_slot(&c4, &e4);
  CHECK(NEAR(at4, first + 0.5, err + e4 + 0.01), "the 4th unit goes when the 1st leaves the window (%.4f)", at4 - first);
  t_call c5 = reserve("window", &w, 2, -1);
  double e5, at5 = t_slot(&c5, &e5);
  CHECK(at5 >= first + 0.5 - e5 && at5 <= first + 0.56 + e5, "two more fit once the 2nd and 3rd leave (%.4f)", at5 - first);
  t_call c6 = reserve("window", &w, 1, -1);
  double e6, at6 = t_slot(&c6, &e6);
  CHECK(NEAR(at6, at4 + 0.5, e4 + e6 + 0.01), "the next waits for the 4th to leave (%.4f)", at6 - at4);
  t_call big;
  T_RUN(big, al_store_reserve(S, "window", &w, 4, -1, t_cb, &big));
  CHECK(big.res.status == AL_STORE_ARGUMENT, "n above the window's limit is an argument error");
}

/* Exactness under many pipelined calls: in any window of 0.3 s no more than 10 slots. */
static void test_window_pipelined(void) {
  al_store_limit w = { .kind = AL_STORE_WINDOW, .limit = 10, .window = 0.3 };
  enum { N = 40 };
  static t_call c[N];
  for (int i = 0; i < N; i++) T_START(c[i], al_store_reserve(S, "window-many", &w, 1, -1, t_cb, &c[i]));
  for (int i = 0; i < N; i++) t_wait(&c[i], 30);
  double slot[N];
  for (int i = 0; i < N; i++) {
    CHECK(c[i].res.status == AL_STORE_OK && c[i].res.granted, "pipelined reservation %d", i);
    if (i) CHECK(c[i].order > c[i - 1].order, "completions in call order (%d)", i);
    slot[i] = c[i].res.wait + c[i].t0;   /* relative to its own call: only the order matters */
  }
  /* slots, taken on the store's clock, must be non-decreasing and 10 per window */
  int bad = 0;
  for (int i = 10; i < N; i++) {
    double ei, ej;
    if (t_slot(&c[i], &ei) < t_slot(&c[i - 10], &ej) + 0.3 - ei - ej - 0.002) bad++;
  }
  CHECK(bad == 0, "%d slots came less than a window after the 10th before them", bad);
  (void)slot;
}

static void test_heartbeat(void) {
  t_call h;
  T_RUN(h, al_store_heartbeat(S, "beats", "p1", 1.0, t_cb, &h));
  CHECK(h.res.status == AL_STORE_OK && h.res.processes == 1, "one process (%ld) %s", h.res.processes, h.message);
  T_RUN(h, al_store_heartbeat(S, "beats", "p2", 5, t_cb, &h));
  CHECK(h.res.processes == 2, "two processes (%ld)", h.res.processes);
  T_RUN(h, al_store_heartbeat(S, "beats", "p2", 5, t_cb, &h));
  CHECK(h.res.processes == 2, "a refresh is not a new process (%ld)", h.res.processes);
  t_sleep(1.1);
  T_RUN(h, al_store_heartbeat(S, "beats", "p2", 5, t_cb, &h));
  CHECK(h.res.processes == 1, "an expired heartbeat no longer counts (%ld)", h.res.processes);
}

static t_call claim(const char *job, const char *key, const char *owner, double lease, int once, int retry) {
  al_store_claim_opts o = { .owner = owner, .lease = lease, .once = once, .retry_unknown = retry };
  t_call c;
  T_RUN(c, al_store_claim(S, job, key, &o, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK, "claim %s/%s: %s", job, key, c.message);
  return c;
}

static void done(const char *job, const char *key, const char *owner, const char *json) {
  t_call c;
  T_RUN(c, al_store_finish_done(S, job, key, owner, json, json ? strlen(json) : 0, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK, "done %s/%s: %s", job, key, c.message);
}

static void failed(const char *job, const char *key, const char *owner) {
  t_call c;
  T_RUN(c, al_store_finish_failed(S, job, key, owner, "api", "boom", "it broke", t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK, "failed %s/%s: %s", job, key, c.message);
}

static t_call renew(const char *job, const char *key, const char *owner, double lease) {
  t_call c;
  T_RUN(c, al_store_renew(S, job, key, owner, lease, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK, "renew: %s", c.message);
  return c;
}

static void test_claims(void) {
  t_call c = claim("j1", "a", "o1", 10, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_GRANTED, "a new item is granted");
  c = claim("j1", "a", "o2", 10, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_HELD && c.res.lease_left > 9 && c.res.lease_left <= 10,
        "another owner finds it held (%d, %.2f s left)", c.res.claim, c.res.lease_left);
  c = claim("j1", "a", "o1", 10, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_GRANTED, "its owner may claim it again");
  done("j1", "a", "o1", "{\"x\":[1,2,\"\\u00e9\"]}");
  c = claim("j1", "a", "o2", 10, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_DONE, "a done item is not claimed again (%d)", c.res.claim);
  CHECK(strcmp(c.result, "{\"x\":[1,2,\"\\u00e9\"]}") == 0, "its result comes back (%s)", c.result);
  failed("j1", "a", "o2");
  c = claim("j1", "a", "o2", 10, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_DONE, "a failure never overwrites done");
  done("j1", "n", "o1", NULL);
  c = claim("j1", "n", "o2", 10, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_DONE && !c.res.result, "a done item without result (%d)", c.res.claim);
}

static void test_lease_expiry(void) {
  t_call c = claim("j2", "b", "o1", 0.5, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_GRANTED, "granted");
  t_sleep(0.3);
  CHECK(renew("j2", "b", "o1", 0.6).res.owned, "its owner renews it");
  CHECK(!renew("j2", "b", "o2", 0.6).res.owned, "another cannot renew it");
  t_sleep(0.3);
  c = claim("j2", "b", "o2", 10, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_HELD, "the renewed lease still holds past the first (%d)", c.res.claim);
  t_sleep(0.45);
  c = claim("j2", "b", "o2", 10, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_GRANTED, "after the lease another owner reclaims it (%d)", c.res.claim);
  CHECK(!renew("j2", "b", "o1", 1).res.owned, "the old owner has lost it");
  failed("j2", "b", "o1");   /* the old owner's failure must not clobber the new claim */
  c = claim("j2", "b", "o3", 10, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_HELD, "a stale owner's failure is not recorded (%d)", c.res.claim);
  failed("j2", "b", "o2");
  c = claim("j2", "b", "o3", 10, 0, 0);
  CHECK(c.res.claim == AL_CLAIM_GRANTED && c.res.previously_failed, "a failed item is retried (%d, %d)",
        c.res.claim, c.res.previously_failed);
}

static void test_once(void) {
  t_call c = claim("j3", "trigger", "o1", 0.6, 1, 0);
  CHECK(c.res.claim == AL_CLAIM_GRANTED, "a once item is granted");
  c = claim("j3", "trigger", "o2", 10, 1, 0);
  CHECK(c.res.claim == AL_CLAIM_HELD, "held while its lease lives");
  t_sleep(0.7);
  c = claim("j3", "trigger", "o2", 10, 1, 0);
  CHECK(c.res.claim == AL_CLAIM_UNKNOWN, "started and never finished: unknown, not run again (%d)", c.res.claim);
  c = claim("j3", "trigger", "o2", 10, 1, 0);
  CHECK(c.res.claim == AL_CLAIM_UNKNOWN, "still unknown");
  c = claim("j3", "trigger", "o2", 10, 1, 1);
  CHECK(c.res.claim == AL_CLAIM_GRANTED, "retry_unknown claims it (%d)", c.res.claim);
  done("j3", "trigger", "o2", "1");
  c = claim("j3", "trigger", "o3", 10, 1, 0);
  CHECK(c.res.claim == AL_CLAIM_DONE, "then done");
}

static t_call counts(const char *job) {
  t_call c;
  T_RUN(c, al_store_counts_get(S, job, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK, "counts: %s", c.message);
  return c;
}

static void test_counts_list_forget(void) {
  double before = t_realtime();
  claim("j4", "d1", "o1", 10, 0, 0); done("j4", "d1", "o1", "1");
  claim("j4", "d2", "o1", 10, 0, 0); done("j4", "d2", "o1", "2");
  claim("j4", "f1", "o1", 10, 0, 0); failed("j4", "f1", "o1");
  claim("j4", "r1", "o1", 10, 0, 0);
  claim("j4", "u1", "o1", 0.1, 1, 0);
  claim("j4", "p1", "o1", 0.1, 0, 0);
  t_sleep(0.2);
  t_call c = counts("j4");
  al_store_counts k = c.res.counts;
  CHECK(k.done == 2 && k.failed == 1 && k.running == 1 && k.unknown == 1 && k.pending == 1,
        "counts done %ld failed %ld running %ld unknown %ld pending %ld", k.done, k.failed, k.running, k.unknown, k.pending);
  CHECK(k.changed >= before - 0.01 && k.changed <= t_realtime() + 0.01, "last change is real time (%.3f)", k.changed - before);
  c = counts("no-such-job");
  CHECK(c.res.counts.done == 0 && c.res.counts.changed == 0, "an unknown job has nothing");
  t_call l;
  T_RUN(l, al_store_list(S, t_cb, &l));
  int seen = 0;
  for (size_t i = 0; i < l.res.njobs; i++)
    if (strcmp(l.jobs[i], "j4") == 0) { seen = 1; CHECK(l.jobs_changed[i] >= before - 0.01, "list: j4 changed"); }
  CHECK(l.res.status == AL_STORE_OK && seen && l.res.njobs >= 4, "list names the jobs (%zu)", l.res.njobs);
  t_call f;
  T_RUN(f, al_store_forget(S, "j4", "u1", t_cb, &f));
  CHECK(f.res.forgotten == 1, "forget one key (%ld)", f.res.forgotten);
  c = claim("j4", "u1", "o2", 10, 1, 0);
  CHECK(c.res.claim == AL_CLAIM_GRANTED, "a forgotten unknown item can run again");
  T_RUN(f, al_store_forget(S, "j4", NULL, t_cb, &f));
  CHECK(f.res.forgotten == 6, "forget the job (%ld)", f.res.forgotten);
  c = counts("j4");
  CHECK(c.res.counts.done + c.res.counts.failed + c.res.counts.running == 0, "nothing left");
  T_RUN(l, al_store_list(S, t_cb, &l));
  for (size_t i = 0; i < l.res.njobs; i++) CHECK(strcmp(l.jobs[i], "j4") != 0, "a forgotten job is not listed");
}

static void test_arguments(void) {
  t_call c;
  T_RUN(c, al_store_reserve(S, "", &rate10, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_ARGUMENT && c.message[0], "an empty key: %s", c.message);
  al_store_claim_opts o = { .lease = 0 };
  T_RUN(c, al_store_claim(S, "j", "k", &o, t_cb, &c));
  CHECK(c.res.status == AL_STORE_ARGUMENT, "a zero lease");
  CHECK(strcmp(al_store_status_code(AL_STORE_BUSY), "busy") == 0 &&
        strcmp(al_store_status_code(AL_STORE_READONLY), "readonly") == 0, "status codes");
}

/* Four processes on one store share one budget: their slots, merged, keep the spacing. */
static void test_processes(const char *url) {
  enum { P = 4, N = 10 };
  const al_store_limit l = { .kind = AL_STORE_RATE, .interval = 0.02, .burst = 1 };
  int p[2];
  if (pipe(p) != 0) { perror("pipe"); exit(1); }
  pid_t pid[P - 1];
  for (int k = 0; k < P - 1; k++) {
    if ((pid[k] = fork()) != 0) continue;
    close(p[0]);
    t_loop = ev_loop_new(0);
    al_store_status st;
    char err[512];
    S = al_store_open(t_loop, url, &(al_store_options){ .call_timeout = 5 }, &st, err, sizeof err);
    for (int i = 0; S && i < N; i++) {
      t_call c = reserve("shared", &l, 1, -1);
      double e, slot[2] = { t_slot(&c, &e), e };
      if (write(p[1], slot, sizeof slot) != sizeof slot) _exit(2);
    }
    _exit(S && !t_failures ? 0 : 1);
  }
  close(p[1]);
  double slot[P * N], err[P * N];
  int n = 0;
  for (int i = 0; i < N; i++) {
    t_call c = reserve("shared", &l, 1, -1);
    slot[n] = t_slot(&c, &err[n]);
    n++;
  }
  double pair[2];
  while (n < P * N && read(p[0], pair, sizeof pair) == sizeof pair) { slot[n] = pair[0]; err[n] = pair[1]; n++; }
  close(p[0]);
  for (int k = 0; k < P - 1; k++) {
    int st;
    waitpid(pid[k], &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d reserved its slots", k + 2);
  }
  CHECK(n == P * N, "%d slots from %d processes", n, P);
  for (int i = 1; i < n; i++)   /* insertion sort by slot */
    for (int j = i; j > 0 && slot[j] < slot[j - 1]; j--) {
      double t = slot[j]; slot[j] = slot[j - 1]; slot[j - 1] = t;
      t = err[j]; err[j] = err[j - 1]; err[j - 1] = t;
    }
  int close_pairs = 0;
  for (int i = 1; i < n; i++)
    if (slot[i] - slot[i - 1] < 0.02 - err[i] - err[i - 1] - 0.001) close_pairs++;
  CHECK(close_pairs == 0, "%d slots of the processes came closer than the interval", close_pairs);
  CHECK(slot[n - 1] - slot[0] >= (n - 1) * 0.02 - 0.02, "together they took %.3f s for %d slots", slot[n - 1] - slot[0], n);
}

/* Job records go after the retention time. */
static void test_retention(const char *url) {
  al_store_status st;
  char err[512];
  al_store_options o = { .call_timeout = 5, .retention = 1.0 };
  al_store *main_store = S;
  S = al_store_open(t_loop, url, &o, &st, err, sizeof err);
  claim("kept-briefly", "r1", "o1", 10, 0, 0);
  done("kept-briefly", "r1", "o1", "1");
  CHECK(counts("kept-briefly").res.counts.done == 1, "recorded");
  al_store_close(S);
  t_sleep(1.3);
  S = al_store_open(t_loop, url, &o, &st, err, sizeof err);   /* a new process: cleans on its first write */
  claim("another", "x", "o1", 10, 0, 0);
  t_call c = counts("kept-briefly");
  CHECK(c.res.counts.done == 0 && c.res.counts.changed == 0, "a record past its retention is gone (%ld)", c.res.counts.done);
  al_store_close(S);
  S = main_store;
}

int main(int argc, char **argv) {
  const char *which = argc > 1 ? argv[1] : "memory";
  t_loop = ev_default_loop(0);
  t_redis redis = {0};
  char url[512];
  if (strcmp(which, "redis") == 0) {
    if (!t_redis_have()) { printf("skipped: redis-server not found (scripts/setup installs it)\n"); return 77; }
    if (t_redis_start(&redis, NULL) != 0) { fprintf(stderr, "could not start redis-server\n"); return 1; }
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/3", redis.port);
  } else if (strcmp(which, "sqlite") == 0) {
    snprintf(url, sizeof url, "sqlite:%s/sub/state.db", t_tmpdir());
  } else snprintf(url, sizeof url, "%s", which);
  al_store_status st;
  char err[512];
  S = al_store_open(t_loop, url, &(al_store_options){ .call_timeout = 5 }, &st, err, sizeof err);
  if (!S) { fprintf(stderr, "open %s: %s\n", url, err); t_redis_stop(&redis); t_cleanup(); return 1; }
  test_arguments();
  test_rate_spacing();
  test_burst();
  test_max_wait();
  test_pause();
  test_window();
  test_window_pipelined();
  test_heartbeat();
  test_claims();
  test_lease_expiry();
  test_once();
  test_counts_list_forget();
  if (strcmp(which, "memory") != 0) {
    test_processes(url);
    test_retention(url);
  }
  al_store_close(S);
  ev_run(t_loop, 0);   /* returns: nothing of the store keeps the loop alive */
  t_redis_stop(&redis);
  t_cleanup();
  return t_report(which);
}
