/*
** The offset between a server's clock and ours: see clock_offset.h.
*/
#include "clock_offset.h"

void al_clock_offset_add(al_clock_offset *o, double sent, double received, double server) {
  if (received < sent) return;   /* not a round trip */
  double half = (received - sent) / 2;
  double current = o->half + (received - o->at) * AL_CLOCK_OFFSET_AGING;
  if (o->at > 0 && half > current) return;
  o->offset = server - (sent + half);
  o->half = half;
  o->at = received;
}

double al_clock_offset_local(const al_clock_offset *o, double server) {
  return server - o->offset;
}
