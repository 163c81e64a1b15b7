/*
** Unit tests of the Lua state's allocator (run by ctest, also under the sanitizers): random
** allocations, resizes and frees across and between size classes keep every byte, and the
** kept lists serve blocks again.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
  fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
  fputc('\n', stderr); } } while (0)

#define SLOTS 512

typedef struct { unsigned char *p; size_t n; unsigned char tag; } slot;

static void fill(slot *s) { memset(s->p, s->tag, s->n); }

static int intact(const slot *s, size_t n) {
  for (size_t i = 0; i < n; i++) if (s->p[i] != s->tag) return 0;
  return 1;
}

/* Sizes around the class edges, a few large ones, and zero. */
static size_t some_size(void) {
  static const size_t edges[] = {1, 15, 16, 17, 31, 32, 33, 100, 255, 256, 257, 496, 511, 512, 513, 600, 4096, 70000};
  int r = rand() % 4;
  if (r == 0) return edges[rand() % (int)(sizeof edges / sizeof edges[0])];
  if (r == 1) return (size_t)(rand() % 1024) + 1;
  return (size_t)(rand() % 160) + 1;
}

static void run(int keep) {
  al_alloc *a = al_alloc_new(keep);
  slot s[SLOTS] = {{0}};
  int lost = 0;
  for (int step = 0; step < 200000; step++) {
    slot *x = &s[rand() % SLOTS];
    size_t n = some_size();
    if (!x->p) {                                     /* new block (osize: a type tag) */
      x->p = al_alloc_fn(a, NULL, 5, n);
      x->n = n;
      x->tag = (unsigned char)(rand() & 0xff);
      fill(x);
    } else if (rand() % 3 == 0) {                    /* free */
      if (!intact(x, x->n)) lost++;
      al_alloc_fn(a, x->p, x->n, 0);
      x->p = NULL;
    } else {                                         /* resize: the common part survives */
      size_t keepn = x->n < n ? x->n : n;
      x->p = al_alloc_fn(a, x->p, x->n, n);
      if (!intact(x, keepn)) lost++;
      x->n = n;
      fill(x);
    }
  }
  for (int i = 0; i < SLOTS; i++) {
    if (s[i].p) {
      if (!intact(&s[i], s[i].n)) lost++;
      al_alloc_fn(a, s[i].p, s[i].n, 0);
    }
  }
  CHECK(lost == 0, "keep=%d: %d blocks lost bytes", keep, lost);
  al_alloc_free(a);
}

static void test_reuse(void) {
  al_alloc *a = al_alloc_new(1);
  void *p = al_alloc_fn(a, NULL, 0, 40);
  al_alloc_fn(a, p, 40, 0);
  void *q = al_alloc_fn(a, NULL, 0, 48);             /* same class (33..48) */
  CHECK(p == q, "a freed block serves its class again");
  void *r = al_alloc_fn(a, q, 48, 33);               /* shrinking within the class */
  CHECK(r == q, "a resize within the class keeps the block");
  void *big = al_alloc_fn(a, NULL, 0, 100000);
  CHECK(big != NULL, "large blocks come from malloc");
  al_alloc_fn(a, big, 100000, 0);
  al_alloc_fn(a, r, 33, 0);
  CHECK(al_alloc_fn(a, NULL, 0, 0) == NULL, "nothing for zero bytes");
  al_alloc_free(a);
}

int main(void) {
  srand(42);
  test_reuse();
  run(1);
  run(0);
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
