/*
** Quotas: the limiters' arithmetic (al_quota_*; the Lua binding is llimiter.c, al_limiter_*),
** with the clock passed in (so it is tested with an injected one).
** A rate limiter is GCRA: 'rate' units per 'per' seconds, evenly spaced, 'burst' at once.
** A window limiter admits at most 'limit' units in any sliding window of 'window' seconds.
** A paced window also spaces units window/limit apart, but only while it is backlogged: a
** burst below the limit goes at once, and a flood past it is spread evenly, so the next window
** does not begin with the first one's burst again.
*/
#ifndef AUTOLUA_QUOTA_H
#define AUTOLUA_QUOTA_H

typedef enum { AL_QUOTA_RATE, AL_QUOTA_WINDOW } al_quota_kind;

typedef struct al_quota {
  al_quota_kind kind;
  double interval;       /* rate: seconds one unit costs */
  double burst;          /* rate: units that may go at once */
  double tat;            /* rate: theoretical arrival time, when the bucket is empty again */
  double window;         /* window: its length in seconds */
  int limit;             /* window: units per window */
  double *ring;          /* window: times of the last 'limit' units, oldest at 'head' */
  int head, count;
  double spacing;        /* window: seconds between units while backlogged; 0 never paces */
  int backlogged;        /* window: set while units wait for room */
  double next_paced;     /* window: the earliest time of the next unit while backlogged */
  double paused_until;
} al_quota;

#define AL_LIMIT_MAX_WINDOW 10000000

/* 0 on success, -1 on bad parameters or no memory. */
int al_quota_init_rate(al_quota *l, double rate, double per, double burst);
int al_quota_init_window(al_quota *l, int limit, double window);
void al_quota_free(al_quota *l);

/* Makes a window limiter paced (see above); the caller says when it is backlogged. */
void al_quota_pace(al_quota *l);
void al_quota_backlog(al_quota *l, int on);

/* The most units one acquisition may ask for. */
double al_quota_capacity(const al_quota *l);

/* The earliest time 'n' units can be taken; may lie in the past for an idle limiter. */
double al_quota_next(const al_quota *l, double n);

/* Records 'n' units taken at time 't' (the caller checked al_quota_next(l, n) <= t). */
void al_quota_take(al_quota *l, double t, double n);

void al_quota_pause_until(al_quota *l, double t);

#endif
