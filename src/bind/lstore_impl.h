/*
** What lstore.c (the store for Lua) shares with lslots.c (a shared limiter's acquisitions on
** that store); private to the two.
*/
#ifndef AL_LSTORE_IMPL_H
#define AL_LSTORE_IMPL_H

#include <lua.h>
#include "store.h"

#define STORE_MT "autolua.store"

typedef struct lstore {
  al_store *s;
  int closing;       /* in __gc: completions only free their records */
} lstore;

lstore *lstore_check(lua_State *L, const char *fname);
void lstore_push_error(lua_State *L, const al_store_result *r);
void lstore_read_limit(lua_State *L, int idx, al_store_limit *lim);

int lstore_slots(lua_State *L);        /* store:slots(key, spec, late) -> slots (lslots.c) */
void lstore_open_slots(lua_State *L);  /* the slots' metatable (lslots.c) */

#endif
