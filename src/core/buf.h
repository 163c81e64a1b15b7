/* A growable byte buffer. */
#ifndef AUTOLUA_BUF_H
#define AUTOLUA_BUF_H

#include <stddef.h>

typedef struct al_buf { char *p; size_t len, cap; } al_buf;

/* Appends 'n' bytes; returns 0, or -1 when memory runs out (the buffer is left as it was). */
int al_buf_add(al_buf *b, const void *data, size_t n);
void al_buf_reset(al_buf *b);   /* empties, keeps the memory */
void al_buf_free(al_buf *b);

#endif
