/*
** libFuzzer target: the file pointer parser must never read outside its input, and what it
** accepts must hold together (spans inside the input, digits-only size, no ';' in the id).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fileptr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(al_span s, const uint8_t *data, size_t size) {
  return (const uint8_t *)s.p >= data && (const uint8_t *)s.p + s.n <= data + size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);   /* exact size: ASan catches any read past the end */
  if (!copy) return 0;
  memcpy(copy, data, size);
  al_fileptr fp;
  if (al_fileptr_parse(copy, size, &fp) == NULL) {
    const uint8_t *d = (const uint8_t *)copy;
    if (!inside(fp.mime, d, size) || !inside(fp.id, d, size) || fp.id.n == 0 ||
        memchr(fp.id.p, ';', fp.id.n) || fp.nextra > AL_FP_MAX_EXTRA)
      abort();
    for (int i = 0; i < fp.nextra; i++)
      if (!inside(fp.extra[i], d, size)) abort();
  }
  free(copy);
  return 0;
}
