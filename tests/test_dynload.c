/*
** Unit tests of loading a library on first use (run by ctest, also under the sanitizers): the
** C math library's symbols are found and work, a second call keeps the first handle, and a
** missing library or symbol is an error that names it, with no slot half-filled in use.
*/
#include <stdio.h>
#include <string.h>
#include "dynload.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
  fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
  fputc('\n', stderr); } } while (0)

static void test_found(void) {
  static void *handle;
  double (*cbrt_fn)(double) = NULL;
  const al_sym syms[] = {{"cbrt", (void **)&cbrt_fn}, {0, 0}};
  char err[256] = "";
  CHECK(al_dynload("libm.so.6", &handle, syms, err, sizeof err) == 0, "libm: %s", err);
  CHECK(handle != NULL && cbrt_fn != NULL, "handle and slot filled");
  if (cbrt_fn) { double r = cbrt_fn(27.0); CHECK(r > 2.999999 && r < 3.000001, "cbrt(27) = %.17g", r); }
  void *first = handle;
  CHECK(al_dynload("libm.so.6", &handle, syms, err, sizeof err) == 0 && handle == first,
        "a second call keeps the handle");
}

static void test_missing(void) {
  void *handle = NULL;
  void *slot = NULL;
  const al_sym syms[] = {{"no_such_function_anywhere", &slot}, {0, 0}};
  char err[256] = "";
  CHECK(al_dynload("libautolua-none.so.9", &handle, syms, err, sizeof err) == -1, "no library");
  CHECK(strstr(err, "cannot load libautolua-none.so.9") != NULL, "names the library: %s", err);
  CHECK(handle == NULL, "no handle kept");
  CHECK(al_dynload("libm.so.6", &handle, syms, err, sizeof err) == -1, "no symbol");
  CHECK(strcmp(err, "libm.so.6 has no no_such_function_anywhere") == 0, "names the symbol: %s", err);
  CHECK(handle == NULL, "no handle kept when a symbol is missing");
}

int main(void) {
  test_found();
  test_missing();
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
