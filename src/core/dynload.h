/*
** Libraries loaded on first use instead of at start-up. libcurl (with the dozen libraries it
** pulls in: TLS, LDAP, Kerberos, SSH, IDN...) and libcrypto cost most of a plain start-up to
** map and relocate, and a script that never makes a request or computes a digest does not
** need them: `autolua -e ''` then starts nearly as fast as `lua5.4 -e ''`.
*/
#ifndef AUTOLUA_DYNLOAD_H
#define AUTOLUA_DYNLOAD_H

#include <stddef.h>

typedef struct al_sym { const char *name; void **slot; } al_sym;

/* Opens 'soname' once and fills every slot; 0, or -1 with the reason in 'err'. */
int al_dynload(const char *soname, void **handle, const al_sym *syms, char *err, size_t n);

#endif
