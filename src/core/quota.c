/*
** The limiters' arithmetic (see quota.h).
*/
#include <math.h>
#include <stdlib.h>
#include "quota.h"

int al_quota_init_rate(al_quota *l, double rate, double per, double burst) {
  if (!(rate > 0) || !(per > 0) || !(burst >= 1) || !isfinite(rate / per)) return -1;
  *l = (al_quota){0};
  l->kind = AL_QUOTA_RATE;
  l->interval = per / rate;
  l->burst = burst;
  l->tat = -INFINITY;
  l->paused_until = -INFINITY;
  return 0;
}

int al_quota_init_window(al_quota *l, int limit, double window) {
  if (limit < 1 || limit > AL_LIMIT_MAX_WINDOW || !(window > 0) || !isfinite(window)) return -1;
  *l = (al_quota){0};
  l->kind = AL_QUOTA_WINDOW;
  l->limit = limit;
  l->window = window;
  l->paused_until = -INFINITY;
  l->ring = malloc(sizeof(double) * (size_t)limit);
  return l->ring ? 0 : -1;
}

void al_quota_pace(al_quota *l) {
  if (l->kind == AL_QUOTA_WINDOW) l->spacing = l->window / l->limit;
}

void al_quota_backlog(al_quota *l, int on) {
  l->backlogged = on && l->spacing > 0;
}

void al_quota_free(al_quota *l) {
  free(l->ring);
  l->ring = NULL;
}

double al_quota_capacity(const al_quota *l) {
  return l->kind == AL_QUOTA_RATE ? l->burst : (double)l->limit;
}

/* GCRA: taking 'n' at 't' moves the empty-again time to max(tat, t) + n*interval, which may
** lie at most 'burst' intervals ahead of 't'. */
static double rate_next(const al_quota *l, double n) {
  /* a billionth of an interval of slack, so sums of intervals that round up still fit */
  return l->tat + (n - l->burst) * l->interval - l->interval * 1e-9;
}

/* The window has room for 'n' once the unit 'limit - n' places before the newest has left it. */
static double window_next(const al_quota *l, double n) {
  int need = l->count + (int)n - l->limit;
  double t = need <= 0 ? -INFINITY : l->ring[(l->head + need - 1) % l->limit] + l->window;
  return l->backlogged && l->next_paced > t ? l->next_paced : t;
}

double al_quota_next(const al_quota *l, double n) {
  double t = l->kind == AL_QUOTA_RATE ? rate_next(l, n) : window_next(l, n);
  return t > l->paused_until ? t : l->paused_until;
}

void al_quota_take(al_quota *l, double t, double n) {
  if (l->kind == AL_QUOTA_RATE) {
    l->tat = (l->tat > t ? l->tat : t) + n * l->interval;
    return;
  }
  l->next_paced = t + n * l->spacing;
  for (int i = 0; i < (int)n; i++) {
    if (l->count == l->limit) {     /* the oldest leaves the ring */
      l->head = (l->head + 1) % l->limit;
      l->count--;
    }
    l->ring[(l->head + l->count) % l->limit] = t;
    l->count++;
  }
}

void al_quota_pause_until(al_quota *l, double t) {
  if (t > l->paused_until) l->paused_until = t;
}
