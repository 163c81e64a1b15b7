/*
** autolua.sys: what scripts need from the host beyond tasks, HTTP and limiters: reading a line
** from the terminal without stopping the loop (the REPL), isatty, and os.exit that cleans up.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <readline/readline.h>
#include <readline/history.h>
#include <lauxlib.h>
#include "modules.h"
#include "runtime.h"
#include "lerror.h"
#include "buf.h"
#include "loader.h"

/* {====================================================== reading lines */

typedef struct reader {
  ev_io io;
  al_task *task;            /* the task waiting for a line, if any */
  al_buf pending;           /* plain mode: bytes read past the last line */
  int eof, tty, rl_active;
} reader;

static reader in;

static void deliver(lua_State *co, const char *line, size_t n, int ok) {
  al_task *t = in.task;
  in.task = NULL;
  ev_io_stop(t->rt->loop, &in.io);
  if (ok) lua_pushlstring(co, line, n); else lua_pushnil(co);
  al_wake(t, 1);
}

static void on_rl_line(char *line) {
  rl_callback_handler_remove();
  in.rl_active = 0;
  if (line && *line) add_history(line);
  deliver(in.task->co, line ? line : "", line ? strlen(line) : 0, line != NULL);
  free(line);
}

/* Plain mode: pushes the next whole line (or nil at EOF) onto 'co' and returns 1, or returns 0
** when more input is needed. */
static int plain_line(lua_State *co) {
  char *nl = in.pending.len ? memchr(in.pending.p, '\n', in.pending.len) : NULL;
  if (!nl && !in.eof) return 0;
  size_t n = nl ? (size_t)(nl - in.pending.p) : in.pending.len;
  if (!nl && n == 0) { lua_pushnil(co); return 1; }
  lua_pushlstring(co, in.pending.p, n);
  size_t used = nl ? n + 1 : n;
  memmove(in.pending.p, in.pending.p + used, in.pending.len - used);
  in.pending.len -= used;
  return 1;
}

static void on_stdin(struct ev_loop *loop, ev_io *w, int revents) {
  (void)loop; (void)w; (void)revents;
  if (!in.task) return;
  if (in.tty) { rl_callback_read_char(); return; }
  char chunk[4096];
  ssize_t n = read(0, chunk, sizeof chunk);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) in.eof = 1;
  else al_buf_add(&in.pending, chunk, (size_t)n);
  al_task *t = in.task;
  if (plain_line(t->co)) {
    in.task = NULL;
    ev_io_stop(t->rt->loop, &in.io);
    al_wake(t, 1);
  }
}

static void cancel_read(al_task *t) {
  ev_io_stop(t->rt->loop, &in.io);
  if (in.rl_active) { rl_callback_handler_remove(); in.rl_active = 0; }
  in.task = NULL;
}

static int linek(lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status; (void)ctx;
  return 1;
}

/* sys.readline(prompt) -> line or nil at end of input; other tasks run while it waits. */
static int l_readline(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, "");
  al_task *t = al_task_current(L, "sys.readline");
  if (in.task) return al_error_raise(L, "argument", "another task is already reading standard input");
  in.task = t;
  in.tty = isatty(0);
  ev_io_init(&in.io, on_stdin, 0, EV_READ);
  if (in.tty) {
    rl_catch_signals = 0;
    rl_callback_handler_install(prompt, on_rl_line);
    in.rl_active = 1;
  } else {
    fputs(prompt, stdout);
    fflush(stdout);
    if (plain_line(L)) { in.task = NULL; return 1; }
  }
  ev_io_start(t->rt->loop, &in.io);
  return al_park(L, t, cancel_read, 0, linek);
}

/* }====================================================== */

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

/* sys.stat(path) -> {type = "file"|"directory"|"other", size =} or nil, message */
static int l_stat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) return luaL_fileresult(L, 0, path);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
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
    {"readline", l_readline}, {"isatty", l_isatty}, {"exit", l_exit}, {"version", l_version},
    {"stat", l_stat}, {"embedded", l_embedded}, {"mkdir", l_mkdir},
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
