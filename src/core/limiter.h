/*
** Limiter arithmetic, with the clock passed in (so it is tested with an injected one).
** A rate limiter is GCRA: 'rate' units per 'per' seconds, evenly spaced, 'burst' at once.
** A window limiter admits at most 'limit' units in any sliding window of 'window' seconds.
** A paced window also spaces units window/limit apart, but only while it is backlogged: a
** burst below the limit goes at once, and a flood past it is spread evenly, so the next window
** does not begin with the first one's burst again.
*/
#ifndef AUTOLUA_LIMITER_H
#define AUTOLUA_LIMITER_H

typedef enum { AL_LIMIT_RATE, AL_LIMIT_WINDOW } al_limit_kind;

typedef struct al_limit {
  al_limit_kind kind;
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
} al_limit;

#define AL_LIMIT_MAX_WINDOW 10000000

/* 0 on success, -1 on bad parameters or no memory. */
int al_limit_init_rate(al_limit *l, double rate, double per, double burst);
int al_limit_init_window(al_limit *l, int limit, double window);
void al_limit_free(al_limit *l);

/* Makes a window limiter paced (see above); the caller says when it is backlogged. */
void al_limit_pace(al_limit *l);
void al_limit_backlog(al_limit *l, int on);

/* The most units one acquisition may ask for. */
double al_limit_capacity(const al_limit *l);

/* The earliest time 'n' units can be taken; may lie in the past for an idle limiter. */
double al_limit_next(const al_limit *l, double n);

/* Records 'n' units taken at time 't' (the caller checked al_limit_next(l, n) <= t). */
void al_limit_take(al_limit *l, double t, double n);

void al_limit_pause_until(al_limit *l, double t);

#endif
