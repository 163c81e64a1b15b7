/*
** The Lua state's allocator (see alloc.h).
*/
#include <stdlib.h>
#include <string.h>
#include "alloc.h"

/* Under the address sanitizer a kept block is poisoned while it waits on its list, and only
** the bytes Lua asked for are addressable while it is in use, so the sanitizer sees a use after
** free or an overflow into a block's slack even when the pool is on (AUTOLUA_ALLOC_POOL=1). */
#if defined(__SANITIZE_ADDRESS__)
#define AL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AL_ASAN 1
#endif
#endif
#ifdef AL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define GRAIN 16
#define SMALL_MAX 512                 /* bigger blocks go to malloc at their own size */
#define NCLASS (SMALL_MAX / GRAIN)
#define KEEP_MAX (256 * 1024)         /* bytes kept per class; the rest is freed at once */

typedef struct block { struct block *next; } block;

struct al_alloc {
  int keep;
  block *free[NCLASS];
  size_t kept[NCLASS];
};

/* A small block of n bytes is always allocated at its class's full size, so any block on a
** class's list can serve any size of that class. */
static size_t class_of(size_t n) { return (n - 1) / GRAIN; }
static size_t class_size(size_t c) { return (c + 1) * GRAIN; }

/* Only the first 'n' bytes of a block of class 'c' are Lua's to touch. */
static void *lend(void *p, size_t c, size_t n) {
  if (p) {
    UNPOISON(p, n);
    POISON((char *)p + n, class_size(c) - n);
  }
  return p;
}

static void *take(al_alloc *a, size_t n) {
  if (n > SMALL_MAX) return malloc(n);
  size_t c = class_of(n);
  block *b = a->free[c];
  if (!b) return lend(malloc(class_size(c)), c, n);
  UNPOISON(b, sizeof *b);
  a->free[c] = b->next;
  a->kept[c] -= class_size(c);
  return lend(b, c, n);
}

static void give(al_alloc *a, void *p, size_t n) {
  size_t c = class_of(n);
  if (n > SMALL_MAX || a->kept[c] >= KEEP_MAX) {
    if (n <= SMALL_MAX) UNPOISON(p, class_size(c));   /* free() may touch the whole block */
    free(p);
    return;
  }
  block *b = p;
  UNPOISON(b, sizeof *b);
  b->next = a->free[c];
  a->free[c] = b;
  a->kept[c] += class_size(c);
  POISON(b, class_size(c));
}

void *al_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize) {
  al_alloc *a = ud;
  if (!a->keep) {
    if (nsize == 0) { free(ptr); return NULL; }
    return realloc(ptr, nsize);
  }
  if (ptr == NULL) return nsize ? take(a, nsize) : NULL;   /* osize is then a type tag */
  if (nsize == 0) { give(a, ptr, osize); return NULL; }
  if (osize > SMALL_MAX && nsize > SMALL_MAX) return realloc(ptr, nsize);
  if (osize <= SMALL_MAX && nsize <= SMALL_MAX && class_of(osize) == class_of(nsize))
    return lend(ptr, class_of(nsize), nsize);
  void *q = take(a, nsize);
  if (!q) return NULL;                  /* Lua keeps 'ptr' and may collect and try again */
  memcpy(q, ptr, osize < nsize ? osize : nsize);
  give(a, ptr, osize);
  return q;
}

al_alloc *al_alloc_new(int keep) {
  al_alloc *a = calloc(1, sizeof *a);
  if (a) a->keep = keep;
  return a;
}

void al_alloc_free(al_alloc *a) {
  if (!a) return;
  for (int c = 0; c < NCLASS; c++) {
    for (block *b = a->free[c], *next; b; b = next) {
      UNPOISON(b, class_size((size_t)c));
      next = b->next;
      free(b);
    }
  }
  free(a);
}
