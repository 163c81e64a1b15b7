/*
** The Lua state's allocator (see alloc.h).
*/
#include <stdlib.h>
#include <string.h>
#include "alloc.h"

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

static void *take(al_alloc *a, size_t n) {
  if (n > SMALL_MAX) return malloc(n);
  size_t c = class_of(n);
  block *b = a->free[c];
  if (!b) return malloc(class_size(c));
  a->free[c] = b->next;
  a->kept[c] -= class_size(c);
  return b;
}

static void give(al_alloc *a, void *p, size_t n) {
  size_t c = class_of(n);
  if (n > SMALL_MAX || a->kept[c] >= KEEP_MAX) { free(p); return; }
  block *b = p;
  b->next = a->free[c];
  a->free[c] = b;
  a->kept[c] += class_size(c);
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
  if (osize <= SMALL_MAX && nsize <= SMALL_MAX && class_of(osize) == class_of(nsize)) return ptr;
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
      next = b->next;
      free(b);
    }
  }
  free(a);
}
