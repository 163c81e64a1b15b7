/*
** Where 'require' finds autolua's own Lua modules: compiled into the binary, or, when the
** AUTOLUA_PATH environment variable names a source tree, read from there.
*/
#ifndef AUTOLUA_LOADER_H
#define AUTOLUA_LOADER_H

#include <stddef.h>
#include <lua.h>

typedef struct al_embedded {
  const char *name;   /* module name, "dexi.client" */
  const char *file;   /* path under lua/, "dexi/client.lua" */
  const char *src;
  size_t len;
} al_embedded;

extern const al_embedded al_embedded_modules[];

/* Adds the searcher to package.searchers, right after the preload one. */
void al_loader_install(lua_State *L);

/* Loads module 'name' the same way and pushes its chunk; returns 0. When it is not there, returns
** 1 with require's "no file" lines pushed (an empty string when nothing was tried); on a load
** error, -1 with the message pushed. */
int al_loader_load(lua_State *L, const char *name);

#endif
