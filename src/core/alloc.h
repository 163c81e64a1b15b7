/*
** The Lua state's allocator. Lua gives the size of every block it frees or resizes, so small
** blocks need no header: a freed one goes on a list for its size class and serves the next
** request of that class before malloc is asked. An HTTP response is a handful of such blocks
** (the table, its fields, the body string) made and swept again thousands of times a second.
*/
#ifndef AUTOLUA_ALLOC_H
#define AUTOLUA_ALLOC_H

#include <stddef.h>

typedef struct al_alloc al_alloc;

/* keep = 0: every call goes straight to realloc/free (for the address sanitizer's view). */
al_alloc *al_alloc_new(int keep);
/* Frees the blocks still kept; after lua_close. */
void al_alloc_free(al_alloc *a);
/* A lua_Alloc; 'ud' is the al_alloc. */
void *al_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize);

#endif
