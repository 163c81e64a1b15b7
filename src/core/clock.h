/*
** The clock of everything: task.now(), every limiter and every wait. Monotonic seconds, so a
** change of the wall clock never makes a wait longer or a limiter lend more.
*/
#ifndef AUTOLUA_CLOCK_H
#define AUTOLUA_CLOCK_H

#include <time.h>

/* Inline: the limiters read it on every acquisition, and a call into another file costs more
** than the read itself. */
static inline double al_clock_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
