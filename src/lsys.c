/*
** autolua.sys: what scripts need from the host beyond tasks, HTTP and limiters: isatty, stat,
** mkdir, the embedded module list, and os.exit that cleans up.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <dirent.h>
#include <lauxlib.h>
#include "modules.h"
#include "runtime.h"
#include "lerror.h"
#include "loader.h"



static int l_isatty(lua_State *L) {
  int fd = (int)al_optinteger(L, 1, 1, "sys.isatty");
  lua_pushboolean(L, isatty(fd));
  return 1;
}

/* os.exit([code [, close]]): transfers are aborted and partial files removed before the
** process ends; with 'close', the state is closed first, as in lua. */
static int l_exit(lua_State *L) {
  int code;
  if (lua_isboolean(L, 1)) code = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
  else code = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
  al_runtime_exit(al_runtime_of(L), code, lua_toboolean(L, 2));
  return 0;
}

/* sys.stat(path) -> {type = "file"|"directory"|"other", size =} or nil, message */
static int l_stat(lua_State *L) {
  const char *path = al_checklstring(L, 1, NULL, "sys.stat");
  struct stat st;
  if (stat(path, &st) != 0) return luaL_fileresult(L, 0, path);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  return 1;
}

/* sys.mkdir(path, [mode]): creates the directory and its missing parents, each with 'mode'
** (default 0777; the umask applies); true, or nil and a message */
static int l_mkdir(lua_State *L) {
  size_t n;
  const char *path = al_checklstring(L, 1, &n, "sys.mkdir");
  mode_t mode = (mode_t)al_optinteger(L, 2, 0777, "sys.mkdir");
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, n + 1);
  memcpy(p, path, n + 1);
  for (char *s = p + 1; ; s++) {
    if (*s == '/' || *s == 0) {
      char c = *s;
      *s = 0;
      if (mkdir(p, mode) != 0 && errno != EEXIST) return luaL_fileresult(L, 0, path);
      *s = c;
      if (!c) break;
    }
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: not a directory", path);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* sys.listdir(path) -> sorted list of entry names (no . and ..), or nil and a message */
static int l_listdir(lua_State *L) {
  const char *path = al_checklstring(L, 1, NULL, "sys.listdir");
  DIR *d = opendir(path);
  if (!d) return luaL_fileresult(L, 0, path);
  lua_newtable(L);
  int i = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -2, ++i);
  }
  closedir(d);
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_remove(L, -2);
  lua_pushvalue(L, -2);
  lua_call(L, 1, 0);
  return 1;
}

/* sys.embedded() -> the names of the Lua modules compiled into the binary */
static int l_embedded(lua_State *L) {
  lua_newtable(L);
  int i = 0;
  for (const al_embedded *m = al_embedded_modules; m->name; m++) {
    lua_pushstring(L, m->name);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

static int l_version(lua_State *L) {
  lua_pushliteral(L, AUTOLUA_VERSION);
  return 1;
}

int luaopen_autolua_sys(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"isatty", l_isatty}, {"exit", l_exit}, {"version", l_version},
    {"stat", l_stat}, {"embedded", l_embedded}, {"mkdir", l_mkdir}, {"listdir", l_listdir},
    {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}

void al_sys_install(lua_State *L) {
  lua_getglobal(L, "os");
  lua_pushcfunction(L, l_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
}
