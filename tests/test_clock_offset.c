/* The clock offset estimator (src/core/clock_offset.c): the narrowest round trip wins, a late
** read never moves the estimate, and an old sample gives way. */
#include <math.h>
#include <stdio.h>
#include "clock_offset.h"

static int failed;
#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d %s\n", __FILE__, __LINE__, #c); failed++; } } while (0)
#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

int main(void) {
  al_clock_offset o = {0};
  /* the server is 100 s ahead; the first call: 2 ms round trip, read at its middle */
  al_clock_offset_add(&o, 10.000, 10.002, 110.001);
  CHECK(NEAR(o.offset, 100.0));
  CHECK(NEAR(al_clock_offset_local(&o, 110.5), 10.5));
  /* an answer read 7 ms late (the process was busy): its bound is wider, the estimate stays */
  al_clock_offset_add(&o, 10.010, 10.0172, 110.0102);
  CHECK(NEAR(o.offset, 100.0));
  /* a narrower call replaces it */
  al_clock_offset_add(&o, 10.020, 10.0202, 110.0201 + 0.00005);
  CHECK(NEAR(o.offset, 100.00005));
  CHECK(NEAR(o.half, 0.0001));
  /* a wider call long after: the old bound has widened past it (the server's clock was stepped) */
  al_clock_offset_add(&o, 20.0, 20.004, 121.002);
  CHECK(NEAR(o.offset, 101.0));
  /* but not soon after */
  al_clock_offset_add(&o, 20.1, 20.110, 120.105 + 5);
  CHECK(NEAR(o.offset, 101.0));
  /* no round trip at all is ignored */
  al_clock_offset_add(&o, 30.0, 29.0, 0.0);
  CHECK(NEAR(o.offset, 101.0));
  printf("%s\n", failed ? "clock_offset: FAILED" : "clock_offset: ok");
  return failed != 0;
}
