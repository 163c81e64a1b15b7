/*
** Unit tests of the Dexi file pointer parser (run by ctest).
*/
#include <stdio.h>
#include <string.h>
#include "fileptr.h"

static int failures, checks;

static int span_is(al_span s, const char *want) {
  return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

static void ok(const char *in, const char *mime, unsigned long long size, const char *id, int nextra) {
  al_fileptr fp;
  const char *why = al_fileptr_parse(in, strlen(in), &fp);
  checks++;
  if (why || !span_is(fp.mime, mime) || fp.size != size || !span_is(fp.id, id) || fp.nextra != nextra) {
    failures++;
    fprintf(stderr, "FAIL: %s -> %s (id %.*s, %d extra)\n", in, why ? why : "wrong fields",
            (int)fp.id.n, fp.id.p ? fp.id.p : "", fp.nextra);
  }
}

static void bad(const char *in, size_t n, const char *reason) {
  al_fileptr fp;
  const char *why = al_fileptr_parse(in, n, &fp);
  checks++;
  if (!why || strcmp(why, reason) != 0) {
    failures++;
    fprintf(stderr, "FAIL: %.*s should be refused with '%s', got '%s'\n", (int)n, in, reason, why ? why : "accepted");
  }
}

#define BAD(s, reason) bad(s, strlen(s), reason)

int main(void) {
  ok("FILE:image/png;26071;11fed7f0-6a7b-4f1e-9d4e-3c8a2b1c0d9e", "image/png", 26071,
     "11fed7f0-6a7b-4f1e-9d4e-3c8a2b1c0d9e", 0);
  ok("FILE:image/png;432123;9F1C2B3A-4D5E-4F60-8A7B-1C2D3E4F5A6B", "image/png", 432123,
     "9F1C2B3A-4D5E-4F60-8A7B-1C2D3E4F5A6B", 0);
  ok("FILE:image/svg+xml;10;abc", "image/svg+xml", 10, "abc", 0);
  ok("FILE:image/jpeg;2974;accounts/a1/robots/r1/runs/u1/executions/e1/results/s1/lines/l1/ImageFile",
     "image/jpeg", 2974, "accounts/a1/robots/r1/runs/u1/executions/e1/results/s1/lines/l1/ImageFile", 0);
  ok("FILE:image/jpeg;5;legacy-store/accounts/a/lines/l/Image File+1;x-extra;42", "image/jpeg", 5,
     "legacy-store/accounts/a/lines/l/Image File+1", 2);
  ok("FILE:application/pdf;0;id;;", "application/pdf", 0, "id", 2);
  BAD("FILE:", "empty file pointer");
  BAD("FILE:a;b;c", "bad MIME type");
  BAD("FILE:image/png;b;c", "size is not a whole number of bytes");
  BAD("FILE:image/png;-1;c", "size is not a whole number of bytes");
  BAD("FILE:image/png;;c", "size is not a whole number of bytes");
  BAD("FILE:image/png;10;", "empty file id");
  BAD("FILE:image/png;10", "no file id");
  BAD("FILE:image/png", "no size");
  BAD("file:image/png;1;x", "does not start with FILE:");
  BAD("FILE:image png;1;x", "bad MIME type");
  BAD("FILE:/png;1;x", "bad MIME type");
  BAD("FILE:image/;1;x", "bad MIME type");
  BAD("FILE:image/png;1234567890123456;x", "size is not a whole number of bytes");
  BAD("FILE:image/png;1;a\nb", "control character in the file id");
  bad("FILE:image/png;1;a\0b", 19, "control character in the file id");
  BAD("", "does not start with FILE:");
  char many[256] = "FILE:a/b;1;id";
  for (int i = 0; i < 17; i++) strcat(many, ";x");
  BAD(many, "too many fields");
  printf("fileptr: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
