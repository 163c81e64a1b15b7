/*
** Unit tests of the clock (run by ctest): monotonic seconds that never go back and advance
** with a sleep about as much as the sleep.
*/
#include <stdio.h>
#include <time.h>
#include "clock.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
  fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
  fputc('\n', stderr); } } while (0)

int main(void) {
  double last = al_clock_now(), back = 0;
  for (int i = 0; i < 100000; i++) {
    double now = al_clock_now();
    if (now < last) back = last - now;
    last = now;
  }
  CHECK(back == 0, "went back by %g s", back);
  double before = al_clock_now();
  nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
  double slept = al_clock_now() - before;
  CHECK(slept >= 0.049 && slept < 5, "a 50 ms sleep took %g s", slept);   /* a loaded machine */
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
