/*
** autolua.sys: what scripts need from the host beyond tasks, HTTP and limiters: isatty, stat,
** mkdir, the embedded module list, temporary files for atomic writes, and os.exit that cleans
** up.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <dirent.h>
#include <lauxlib.h>
#include <lualib.h>
#include "modules.h"
#include "sched.h"
#include "lerror.h"
#include "loader.h"
#include "tmpfile.h"



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
  al_sched *s = al_sched_of(L);
  s->host->exit(s, code, lua_toboolean(L, 2));
  return 0;
}

/* sys.stat(path) -> {type = "file"|"directory"|"other", size =, mode = permission bits} or nil,
** message */
static int l_stat(lua_State *L) {
  const char *path = al_checklstring(L, 1, NULL, "sys.stat");
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

/* {====================================================== temporary files */

/* An io file handle (the io library's own methods work on it) over a temporary file made by
** al_tmp_open: closed or collected before sys.commit, it takes its file with it. Every one
** still open is on a list, so os.exit removes them too. */
typedef struct tmpstream {
  luaL_Stream s;             /* first: the io library takes this for its own handle */
  char *tmp;
  struct temps *list;        /* the list it is on, while it is */
  struct tmpstream *prev, *next;
} tmpstream;

/* The state's list of them, a userdata in the registry: the state's, not the process's. Its
** memory outlives every handle's finalizer, as lua_close frees objects only after running
** them all. */
typedef struct temps { tmpstream *head; } temps;
static const char tempskey = 0;   /* its registry key: only the address counts */

static temps *temps_of(lua_State *L, int make) {
  temps *ts = NULL;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &tempskey) == LUA_TUSERDATA) ts = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!ts && make) {
    ts = lua_newuserdatauv(L, sizeof *ts, 0);
    ts->head = NULL;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &tempskey);
  }
  return ts;
}

static void untrack(tmpstream *t) {
  if (t->prev) t->prev->next = t->next; else if (t->list && t->list->head == t) t->list->head = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
  t->list = NULL;
}

static void discard(tmpstream *t) {
  if (t->tmp) { unlink(t->tmp); free(t->tmp); t->tmp = NULL; }
  untrack(t);
}

/* The handle's close function (f:close() and collection): the temporary file goes too. */
static int tmp_close(lua_State *L) {
  tmpstream *t = lua_touserdata(L, 1);   /* only liolib calls it, with a handle it checked */
  int ok = fclose(t->s.f) == 0;
  discard(t);
  return luaL_fileresult(L, ok, NULL);
}

void al_sys_drop_temps(lua_State *L) {
  temps *ts = temps_of(L, 0);
  while (ts && ts->head) {
    tmpstream *t = ts->head;
    if (t->s.closef) { fclose(t->s.f); t->s.closef = NULL; }
    discard(t);
  }
}

/* sys.tmpfile(path) -> file, tmpname | nil, message: a new temporary file beside 'path', open
** for writing, that only sys.commit(file, path) puts in place. */
static int l_tmpfile(lua_State *L) {
  const char *path = al_checklstring(L, 1, NULL, "sys.tmpfile");
  temps *ts = temps_of(L, 1);
  tmpstream *t = lua_newuserdatauv(L, sizeof *t, 0);
  t->s.f = NULL;
  t->s.closef = NULL;          /* "closed" until it holds a file */
  t->tmp = NULL;
  t->list = NULL;
  t->prev = t->next = NULL;
  luaL_setmetatable(L, LUA_FILEHANDLE);
  char *tmp;
  int fd = al_tmp_open(path, &tmp);
  if (fd < 0) return luaL_fileresult(L, 0, path);
  t->s.f = fdopen(fd, "wb");
  if (!t->s.f) {
    int e = errno;
    close(fd);
    unlink(tmp);
    free(tmp);
    errno = e;
    return luaL_fileresult(L, 0, path);
  }
  t->s.closef = tmp_close;
  t->tmp = tmp;
  t->list = ts;
  t->next = ts->head;
  if (ts->head) ts->head->prev = t;
  ts->head = t;
  lua_pushstring(L, tmp);
  return 2;
}

/* sys.commit(file, path) -> true | nil, message: flushes and closes a file from sys.tmpfile,
** gives it the user's umask and renames it to 'path'; on failure its temporary file is gone. */
static int l_commit(lua_State *L) {
  tmpstream *t = al_checkudata(L, 1, LUA_FILEHANDLE, "sys.commit", "a file");
  const char *path = al_checklstring(L, 2, NULL, "sys.commit");
  if (t->s.closef != tmp_close) {
    lua_pushnil(L);
    lua_pushstring(L, t->s.closef ? "not a file from sys.tmpfile" : "attempt to use a closed file");
    return 2;
  }
  t->s.closef = NULL;          /* closed from here on, whatever happens */
  errno = EIO;                 /* what a write that failed earlier (its flag set) reports */
  int ok = !ferror(t->s.f) && fflush(t->s.f) == 0 && al_tmp_seal(fileno(t->s.f)) == 0;
  int e = errno;
  if (fclose(t->s.f) != 0 && ok) { ok = 0; e = errno; }
  if (ok && rename(t->tmp, path) != 0) { ok = 0; e = errno; }
  if (ok) { free(t->tmp); t->tmp = NULL; }
  discard(t);
  errno = e;
  return luaL_fileresult(L, ok, path);
}

/* }====================================================== */

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
  al_checktype(L, 1, LUA_TTABLE, "sys.exec");
  int n = (int)luaL_len(L, 1);
  if (n < 1) return al_argerror(L, "sys.exec", "expects a non-empty list");
  const char **argv = lua_newuserdatauv(L, sizeof *argv * ((size_t)n + 1), 0);
  if (!lua_checkstack(L, n)) return al_argerror(L, "sys.exec", "too many arguments (%d)", n);
  for (int i = 1; i <= n; i++) {
    int t = lua_rawgeti(L, 1, i);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
      return al_argerror(L, "sys.exec", "argv[%d] must be a string, got %s", i, luaL_typename(L, -1));
    argv[i - 1] = lua_tostring(L, -1);   /* stays on the stack: a number's string lives there */
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
    {"tmpfile", l_tmpfile}, {"commit", l_commit},
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
