/*
** Dexi file pointers: "FILE:<mime>;<size>;<id>[;extra...]" (result cells that reference a
** stored file). Pure C, no Lua, so a fuzzer can drive it directly.
*/
#ifndef AUTOLUA_FILEPTR_H
#define AUTOLUA_FILEPTR_H

#include <stddef.h>
#include <stdint.h>

#define AL_FP_MAX_EXTRA 16

typedef struct al_span { const char *p; size_t n; } al_span;

typedef struct al_fileptr {
  al_span mime, id;
  uint64_t size;
  al_span extra[AL_FP_MAX_EXTRA];
  int nextra;
} al_fileptr;

/* Parses 's' (not NUL-terminated: 'n' bytes). Returns NULL and fills 'fp' (spans point into
** 's'), or returns why it is not a file pointer. */
const char *al_fileptr_parse(const char *s, size_t n, al_fileptr *fp);

#endif
