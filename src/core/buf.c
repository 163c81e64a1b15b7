#include <stdlib.h>
#include <string.h>
#include "buf.h"

int al_buf_add(al_buf *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  return 0;
}

void al_buf_reset(al_buf *b) { b->len = 0; }

void al_buf_free(al_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}
