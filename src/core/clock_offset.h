/*
** How far a server's clock is ahead of ours (al_clock_now), from calls that read it: the server
** read its clock somewhere between when the call left and when its answer was read, so a call
** bounds the offset within half its round trip (Cristian's method). A call whose answer sat
** unread while the process was busy has a wide bound and must not move the estimate: the
** narrowest bound wins, and a bound widens with its age (the server's clock may drift or be
** stepped), so a fresher call replaces an old one in time.
*/
#ifndef AUTOLUA_CLOCK_OFFSET_H
#define AUTOLUA_CLOCK_OFFSET_H

typedef struct al_clock_offset {
  double offset;   /* server time minus our time */
  double half;     /* the bound of the sample in use: half its round trip, when it was taken */
  double at;       /* when it was taken (our clock); 0: no sample yet */
} al_clock_offset;

/* How fast an old sample's bound widens, in seconds per second: a sample 1 s old counts as
** 1 ms less sure than when it was taken. */
#define AL_CLOCK_OFFSET_AGING 1e-3

/* A call that left at 'sent' and whose answer was read at 'received' (our clock) carried the
** server's clock reading 'server'. */
void al_clock_offset_add(al_clock_offset *o, double sent, double received, double server);
/* Our clock's reading when the server's clock reads 'server' (needs one sample). */
double al_clock_offset_local(const al_clock_offset *o, double server);

#endif
