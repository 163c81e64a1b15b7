/*
** On-demand loading of shared libraries (see dynload.h).
*/
#include <dlfcn.h>
#include <stdio.h>
#include "dynload.h"

int al_dynload(const char *soname, void **handle, const al_sym *syms, char *err, size_t n) {
  if (*handle) return 0;
  void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(err, n, "cannot load %s: %s", soname, dlerror());
    return -1;
  }
  for (const al_sym *s = syms; s->name; s++) {
    *s->slot = dlsym(h, s->name);
    if (!*s->slot) {
      snprintf(err, n, "%s has no %s", soname, s->name);
      dlclose(h);
      return -1;
    }
  }
  *handle = h;
  return 0;
}
