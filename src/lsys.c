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
  int fd = (int)luaL_optinteger(L, 1, 1);
  lua_pushboolean(L, isatty(fd));
  return 1;
}

/* os.exit([code]): transfers are aborted and partial files removed before the process ends. */
static int l_exit(lua_State *L) {
  int code;
  if (lua_isboolean(L, 1)) code = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
  else code = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
  al_runtime_exit(al_runtime_of(L), code);
  return 0;
}

/* sys.stat(path) -> {type = "file"|"directory"|"other", size =, mode = permission bits} or nil,
** message */
static int l_stat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) return luaL_fileresult(L, 0, path);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  lua_setfield(L, -2, "mode");
  return 1;
}

/* sys.mkdir(path): creates the directory and its missing parents; true, or nil and a message */
static int l_mkdir(lua_State *L) {
  size_t n;
  const char *path = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, n + 1);
  memcpy(p, path, n + 1);
  for (char *s = p + 1; ; s++) {
    if (*s == '/' || *s == 0) {
      char c = *s;
      *s = 0;
      if (mkdir(p, 0777) != 0 && errno != EEXIST) return luaL_fileresult(L, 0, path);
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
  const char *path = luaL_checkstring(L, 1);
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

/* sys.exe_dir() -> the directory of the running binary (installed data lives beside it, in
** ../share/autolua), or nil */
static int l_exe_dir(lua_State *L) {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) { lua_pushnil(L); return 1; }
  path[n] = '\0';
  char *slash = strrchr(path, '/');
  if (slash) *slash = '\0';
  lua_pushstring(L, path);
  return 1;
}

/* sys.source_dir() -> the source tree the binary was built from, for running from the build
** tree (the simulator's files are found there when they are not installed) */
static int l_source_dir(lua_State *L) {
  lua_pushliteral(L, AUTOLUA_SOURCE_DIR);
  return 1;
}

/* sys.exec(argv): replaces the process with argv[1] (found in PATH) and its arguments; returns
** only on failure: nil and a message. */
static int l_exec(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = (int)luaL_len(L, 1);
  if (n < 1) return al_argerror(L, "sys.exec", "expects a non-empty list");
  const char **argv = lua_newuserdatauv(L, sizeof *argv * ((size_t)n + 1), 0);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    argv[i - 1] = luaL_checkstring(L, -1);
    lua_pop(L, 1);                     /* the table keeps the string alive */
  }
  argv[n] = NULL;
  fflush(stdout);
  fflush(stderr);
  execvp(argv[0], (char *const *)argv);
  return luaL_fileresult(L, 0, argv[0]);
}

static int l_version(lua_State *L) {
  lua_pushliteral(L, AUTOLUA_VERSION);
  return 1;
}

int luaopen_autolua_sys(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"isatty", l_isatty}, {"exit", l_exit}, {"version", l_version},
    {"stat", l_stat}, {"embedded", l_embedded}, {"mkdir", l_mkdir}, {"listdir", l_listdir},
    {"exe_dir", l_exe_dir}, {"source_dir", l_source_dir}, {"exec", l_exec}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}

void al_sys_install(lua_State *L) {
  lua_getglobal(L, "os");
  lua_pushcfunction(L, l_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
}
