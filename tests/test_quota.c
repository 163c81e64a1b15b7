/*
** Unit tests of the limiter arithmetic with an injected clock (run by ctest).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "quota.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
  fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
  fputc('\n', stderr); } } while (0)

/* A task queue served the way llimiter.c serves it: an ask that fits now is charged now; one
** that must wait is woken by a timer a little late and charged at its scheduled time (rate) or
** at the moment it really went (window), or at its scheduled time too for a paced window
** while backlogged. Returns when it went; *at gets the scheduled time. */
static double serve(al_quota *l, double *t, double n, double lateness, double *at) {
  *at = al_quota_next(l, n);
  if (*at <= *t) {
    al_quota_take(l, *t, n);
    *at = *t;
    return *t;
  }
  *t = *at + lateness;
  al_quota_take(l, l->kind == AL_QUOTA_RATE || l->backlogged ? *at : *t, n);
  return *t;
}

static void test_rate_spacing_and_drift(void) {
  al_quota l;
  al_quota_init_rate(&l, 75, 1, 1);
  double t = 100, at, prev = 0, interval = 1.0 / 75;
  int bad = 0;
  srand(7);
  for (int i = 0; i < 10000; i++) {
    serve(&l, &t, 1, (rand() % 1000) * 1e-6, &at);   /* timers fire up to 1 ms late */
    if (i > 0 && fabs(at - prev - interval) > 1e-9) bad++;
    prev = at;
  }
  CHECK(bad == 0, "uneven spacing in %d of 10000 acquisitions", bad);
  double expected = 100 + 9999 * interval;
  CHECK(fabs(prev - expected) < 1e-6, "drift after 10000: last at %.9f, expected %.9f", prev, expected);
}

static void test_rate_burst(void) {
  al_quota l;
  al_quota_init_rate(&l, 10, 1, 5);
  double now = 50;
  int at_once = 0;
  while (al_quota_next(&l, 1) <= now) { al_quota_take(&l, now, 1); at_once++; }
  CHECK(at_once == 5, "burst 5 admitted %d at once", at_once);
  CHECK(fabs(al_quota_next(&l, 1) - (now + 0.1)) < 1e-9, "sixth at +0.1 s, got %.9f", al_quota_next(&l, 1) - now);
  /* an idle limiter does not bank more than its burst */
  now += 1000;
  at_once = 0;
  while (al_quota_next(&l, 1) <= now) { al_quota_take(&l, now, 1); at_once++; }
  CHECK(at_once == 5, "after idling, burst still 5, got %d", at_once);
}

/* Exactly 'limit' admissions in any window of 'window' seconds, never more. */
static void test_window_exact(void) {
  al_quota l;
  int limit = 100;
  double window = 6;
  al_quota_init_window(&l, limit, window);
  double t = 0, times[3000];
  double at;
  for (int i = 0; i < 3000; i++) times[i] = serve(&l, &t, 1, (i % 7) * 1e-4, &at);
  int worst = 0;
  for (int i = 0; i < 3000; i++) {      /* windows (times[i] - window, times[i]] */
    int c = 0;
    for (int j = i; j >= 0 && times[j] > times[i] - window; j--) c++;
    if (c > worst) worst = c;
  }
  CHECK(worst == limit, "most admissions in one window: %d, want %d", worst, limit);
  double rate = 3000 / (times[2999] - times[0]);
  CHECK(rate > limit / window * 0.99, "window rate %.3f/s below 99%% of %.3f/s", rate, limit / window);
  al_quota_free(&l);
}

static void test_window_units(void) {
  al_quota l;
  al_quota_init_window(&l, 5, 1);
  al_quota_take(&l, 0.0, 3);
  CHECK(al_quota_next(&l, 2) <= 0.0, "2 more fit beside 3 of 5");
  CHECK(fabs(al_quota_next(&l, 3) - 1.0) < 1e-12, "3 more wait for the first to leave at 1.0");
  al_quota_take(&l, 0.5, 2);
  CHECK(fabs(al_quota_next(&l, 1) - 1.0) < 1e-12, "next single at 1.0");
  CHECK(fabs(al_quota_next(&l, 4) - 1.5) < 1e-12, "four need the 0.5 ones gone: 1.5");
  al_quota_free(&l);
}

static void test_pause(void) {
  al_quota r, w;
  al_quota_init_rate(&r, 75, 1, 1);
  al_quota_init_window(&w, 10, 1);
  al_quota_pause_until(&r, 30);
  al_quota_pause_until(&w, 30);
  al_quota_pause_until(&w, 20);    /* an earlier pause never shortens a later one */
  CHECK(al_quota_next(&r, 1) == 30, "rate paused until 30");
  CHECK(al_quota_next(&w, 1) == 30, "window paused until 30");
  al_quota_take(&r, 30, 1);
  CHECK(fabs(al_quota_next(&r, 1) - (30 + 1.0 / 75)) < 1e-9, "after the pause, spacing resumes");
  al_quota_free(&w);
}

/* Head-of-line order: a large ask at the head is served before smaller ones behind it. */
static void test_fifo_order(void) {
  al_quota l;
  al_quota_init_window(&l, 4, 1);
  double asks[] = {3, 3, 1, 1, 4}, t = 0, when[5], at;
  for (int i = 0; i < 5; i++) when[i] = serve(&l, &t, asks[i], 0, &at);
  for (int i = 1; i < 5; i++) CHECK(when[i] >= when[i - 1], "ask %d served before ask %d", i, i - 1);
  CHECK(when[1] == 1.0 && when[2] == 1.0 && when[3] == 2.0 && when[4] == 3.0,
        "served at %g %g %g %g %g", when[0], when[1], when[2], when[3], when[4]);
  al_quota_free(&l);
}

/* A paced window lets a burst below the limit go at once; a flood past it is spaced evenly
** after its first window (no second burst), at the full rate, never over the limit. */
static void test_window_paced(void) {
  al_quota l;
  int limit = 20, n = 200;
  double window = 1, spacing = window / limit, times[200], t = 10, at;
  al_quota_init_window(&l, limit, window);
  al_quota_pace(&l);
  for (int i = 0; i < limit - 1; i++) CHECK(al_quota_next(&l, 1) <= t, "burst unit %d waits", i);
  /* the flood: every ask that must wait sets the backlog, as llimiter.c does when a task parks */
  for (int i = 0; i < n; i++) {
    if (al_quota_next(&l, 1) > t) al_quota_backlog(&l, 1);
    serve(&l, &t, 1, (i % 5) * 2e-4, &at);
    times[i] = at;                    /* when it was due: the charged time */
  }
  CHECK(times[limit - 1] == 10, "the first %d went at once", limit);
  int crowded = 0, over = 0;
  for (int i = limit + 1; i < n; i++)
    if (times[i] - times[i - 1] < spacing - 1e-9) crowded++;
  for (int i = limit; i < n; i++)
    if (times[i] - times[i - limit] < window - 1e-9) over++;
  CHECK(crowded == 0, "%d units closer than %g s after the first window", crowded, spacing);
  CHECK(over == 0, "%d windows with more than %d units", over, limit);
  double rate = (n - 1 - limit) / (times[n - 1] - times[limit]) * window;
  CHECK(rate > limit * 0.99, "paced rate %.2f per window, below 99%% of %d", rate, limit);
  /* idle again: the backlog cleared, a burst goes at once */
  al_quota_backlog(&l, 0);
  t = times[n - 1] + 2 * window;
  for (int i = 0; i < limit; i++) CHECK(al_quota_next(&l, 1) <= t, "burst after idling waits");
  /* an unpaced window ignores the backlog */
  al_quota u;
  al_quota_init_window(&u, 5, 1);
  al_quota_backlog(&u, 1);
  al_quota_take(&u, 0, 1);
  CHECK(al_quota_next(&u, 1) <= 0, "unpaced window spaced a unit");
  al_quota_free(&u);
  al_quota_free(&l);
}

static void test_bad_parameters(void) {
  al_quota l;
  CHECK(al_quota_init_rate(&l, 0, 1, 1) != 0, "rate 0 refused");
  CHECK(al_quota_init_rate(&l, 1, 0, 1) != 0, "per 0 refused");
  CHECK(al_quota_init_rate(&l, 1, 1, 0.5) != 0, "burst < 1 refused");
  CHECK(al_quota_init_window(&l, 0, 1) != 0, "limit 0 refused");
  CHECK(al_quota_init_window(&l, 1, 0) != 0, "window 0 refused");
  CHECK(al_quota_init_rate(&l, NAN, 1, 1) != 0, "NaN refused");
}

int main(void) {
  test_rate_spacing_and_drift();
  test_rate_burst();
  test_window_exact();
  test_window_units();
  test_pause();
  test_fifo_order();
  test_window_paced();
  test_bad_parameters();
  printf("limiter: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
