/* The 'autolua.limiter' binding, and the acquisition other C modules use (http.request). */
#ifndef AUTOLUA_LLIMITER_H
#define AUTOLUA_LLIMITER_H

#include <lua.h>

/* The limiters' metatable, in the registry; the only spelling of its name. */
#define AL_LIMITER_MT "autolua.limiter"

typedef struct al_limiter al_limiter;

al_limiter *al_limiter_check(lua_State *L, int idx, const char *fname);
/* Takes 'n' units: returns 1 when they were taken at once; otherwise parks the running task
** (does not return) and runs 'k' with 'ctx' once they are taken. Past 'max_wait' seconds
** (negative: no bound) it raises kind = "rate_limited" instead. */
int al_limiter_acquire(lua_State *L, al_limiter *lim, double n, double max_wait,
                       lua_KContext ctx, lua_KFunction k);

/* In that continuation: pops the admission flag, raises when max_wait ran out. */
void al_limiter_admitted(lua_State *L, al_limiter *l);

int luaopen_autolua_limiter(lua_State *L);

#endif
