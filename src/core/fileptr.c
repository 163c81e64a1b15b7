/*
** Dexi file pointer parser (see fileptr.h). The id is the third field exactly: later fields are
** extras, never glued onto it (one official parser does that), and the last field is never
** taken for the id (another does that).
*/
#include <string.h>
#include "fileptr.h"

static const char *next_field(const char *p, const char *end, al_span *f) {
  const char *semi = memchr(p, ';', (size_t)(end - p));
  f->p = p;
  f->n = (size_t)((semi ? semi : end) - p);
  return semi ? semi + 1 : NULL;
}

/* type "/" subtype, each made of RFC 6838 token characters: image/png, image/svg+xml. */
static int valid_mime(al_span m) {
  static const char ok[] = "!#$&-^_.+";
  int slash = -1;
  for (size_t i = 0; i < m.n; i++) {
    char c = m.p[i];
    if (c == '/') {
      if (slash >= 0) return 0;
      slash = (int)i;
    } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 (c && strchr(ok, c)))) {
      return 0;
    }
  }
  return slash > 0 && (size_t)slash < m.n - 1;
}

static int parse_size(al_span f, uint64_t *out) {
  uint64_t v = 0;
  if (f.n == 0 || f.n > 15) return 0;     /* at most 15 digits: exact in a double too */
  for (size_t i = 0; i < f.n; i++) {
    if (f.p[i] < '0' || f.p[i] > '9') return 0;
    v = v * 10 + (uint64_t)(f.p[i] - '0');
  }
  *out = v;
  return 1;
}

static int has_control(al_span f) {
  for (size_t i = 0; i < f.n; i++)
    if ((unsigned char)f.p[i] < 0x20 || f.p[i] == 0x7f) return 1;
  return 0;
}

const char *al_fileptr_parse(const char *s, size_t n, al_fileptr *fp) {
  memset(fp, 0, sizeof *fp);
  if (n < 5 || memcmp(s, "FILE:", 5) != 0) return "does not start with FILE:";
  const char *p = s + 5, *end = s + n;
  if (p == end) return "empty file pointer";
  p = next_field(p, end, &fp->mime);
  if (!valid_mime(fp->mime)) return "bad MIME type";
  al_span size;
  if (!p) return "no size";
  p = next_field(p, end, &size);
  if (!parse_size(size, &fp->size)) return "size is not a whole number of bytes";
  if (!p) return "no file id";
  p = next_field(p, end, &fp->id);
  if (fp->id.n == 0) return "empty file id";
  if (has_control(fp->id)) return "control character in the file id";
  while (p) {
    if (fp->nextra == AL_FP_MAX_EXTRA) return "too many fields";
    p = next_field(p, end, &fp->extra[fp->nextra++]);
  }
  return NULL;
}
