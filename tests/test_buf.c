/*
** Unit tests of the growable byte buffer (run by ctest, also under the sanitizers): appends
** keep every byte across growth, reset keeps the memory, free leaves an empty buffer.
*/
#include <stdio.h>
#include <string.h>
#include "buf.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
  fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
  fputc('\n', stderr); } } while (0)

static void test_growth(void) {
  al_buf b = {0};
  char chunk[97];
  size_t total = 0;
  for (int i = 0; i < 200; i++) {           /* 19 400 bytes: past several doublings */
    memset(chunk, 'a' + i % 26, sizeof chunk);
    CHECK(al_buf_add(&b, chunk, sizeof chunk) == 0, "append %d", i);
    total += sizeof chunk;
  }
  CHECK(b.len == total, "len %zu, want %zu", b.len, total);
  CHECK(b.cap >= b.len, "cap %zu below len %zu", b.cap, b.len);
  int intact = 1;
  for (size_t i = 0; i < total; i++) if (b.p[i] != 'a' + (int)(i / sizeof chunk) % 26) intact = 0;
  CHECK(intact, "every byte kept across growth");
  al_buf_free(&b);
  CHECK(b.p == NULL && b.len == 0 && b.cap == 0, "free leaves an empty buffer");
}

static void test_reset(void) {
  al_buf b = {0};
  CHECK(al_buf_add(&b, "hello", 5) == 0, "first append");
  char *p = b.p;
  size_t cap = b.cap;
  al_buf_reset(&b);
  CHECK(b.len == 0 && b.p == p && b.cap == cap, "reset empties and keeps the memory");
  CHECK(al_buf_add(&b, "hi", 2) == 0 && b.len == 2 && memcmp(b.p, "hi", 2) == 0, "refill");
  CHECK(al_buf_add(&b, NULL, 0) == 0 && b.len == 2, "an empty append changes nothing");
  al_buf_free(&b);
  al_buf_free(&b);                          /* twice: still harmless */
}

int main(void) {
  test_growth();
  test_reset();
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
