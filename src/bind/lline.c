/*
** autolua.line: reading lines for the REPL without stopping the loop. On a terminal GNU
** readline runs in its callback mode from an ev_io watcher (line editing, history, completion);
** otherwise standard input is read in plain lines. Also the REPL's Ctrl-C hook.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <readline/readline.h>
#include <readline/history.h>
#include <lauxlib.h>
#include "modules.h"
#include "sched.h"
#include "lerror.h"
#include "buf.h"

typedef struct reader {
  ev_io io;
  al_task *task;            /* the task waiting for a line, if any */
  al_buf pending;           /* plain mode: bytes read past the last line */
  int eof, tty, rl_active;
} reader;

/* Process-wide, because readline is: it reads one terminal for the whole process, and its
** callbacks (the line handler, the completion functions) take no user data, so what they need
** can only be found here, as lua.c keeps 'globalL' for its signal handler. The same holds for
** the completion state below. Nothing else in autolua is process-wide but the dlopen'd
** libraries' tables (curlapi.c, ldigest.c), the umask (tmpfile.c) and the runtime the signal
** handler reaches (runtime.c). */
static reader in;

/* {====================================================== reading */

static void on_rl_line(char *line) {
  al_task *t = in.task;
  rl_callback_handler_remove();
  in.rl_active = 0;
  in.task = NULL;
  ev_io_stop(t->sched->loop, &in.io);
  if (line) lua_pushstring(t->co, line); else lua_pushnil(t->co);
  al_task_wake(t, 1);
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
    ev_io_stop(t->sched->loop, &in.io);
    al_task_wake(t, 1);
  }
}

static void cancel_read(al_task *t) {
  ev_io_stop(t->sched->loop, &in.io);
  if (in.rl_active) { rl_callback_handler_remove(); in.rl_active = 0; }
  in.task = NULL;
}

static int linek(lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status; (void)ctx;
  return 1;
}

/* line.read(prompt) -> line, nil at end of input, or false when line.reset dropped it; other
** tasks run while it waits. */
static int l_read(lua_State *L) {
  const char *prompt = al_optlstring(L, 1, "", NULL, "line.read");
  al_task *t = al_task_current(L, "line.read");
  if (in.task) return al_error_raise(L, "argument", "another task is already reading standard input");
  in.tty = isatty(0);
  if (!in.tty) {
    fputs(prompt, stdout);
    fflush(stdout);
    if (plain_line(L)) return 1;
  }
  in.task = t;
  ev_io_init(&in.io, on_stdin, 0, EV_READ);
  if (in.tty) {
    rl_catch_signals = 0;
    rl_callback_handler_install(prompt, on_rl_line);
    in.rl_active = 1;
  }
  ev_io_start(t->sched->loop, &in.io);
  return al_task_park(L, t, cancel_read, 0, linek);
}

/* line.reset(): Ctrl-C at the prompt: drops what was typed, and the read waiting for a line
** returns false, so the REPL drops a half-typed multi-line block too (as Python and Node). */
static int l_reset(lua_State *L) {
  (void)L;
  if (in.rl_active) {
    rl_callback_sigcleanup();
    rl_replace_line("", 0);
    rl_callback_handler_remove();
    in.rl_active = 0;
    fputs("\n", stdout);
    fflush(stdout);
  }
  al_task *t = in.task;
  if (t) {
    in.task = NULL;
    ev_io_stop(t->sched->loop, &in.io);
    lua_pushboolean(t->co, 0);
    al_task_wake(t, 1);
  }
  return 0;
}

/* line.print_above(text): writes 'text' to standard error above the prompt and what is typed
** after it, which stay as they were (a background task's report while the user types). */
static int l_print_above(lua_State *L) {
  size_t len;
  const char *text = al_checklstring(L, 1, &len, "line.print_above");
  fflush(stdout);
  if (in.rl_active) rl_clear_visible_line();
  fwrite(text, 1, len, stderr);
  fflush(stderr);
  if (in.rl_active) rl_forced_update_display();
  return 0;
}

/* }====================================================== */

/* {====================================================== history */

static int l_history_load(lua_State *L) {
  const char *path = al_checklstring(L, 1, NULL, "line.history_load");
  using_history();
  int e = read_history(path);
  lua_pushboolean(L, e == 0 || e == ENOENT);
  return 1;
}

/* line.history_add(line, path) -> true, or nil and why the file could not be written */
static int l_history_add(lua_State *L) {
  const char *line = al_checklstring(L, 1, NULL, "line.history_add");
  const char *path = al_optlstring(L, 2, NULL, NULL, "line.history_add");
  add_history(line);
  if (!path) { lua_pushboolean(L, 1); return 1; }
  /* append_history needs the file to exist; it is the user's alone, as a shell's history is */
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return luaL_fileresult(L, 0, path);
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077)) fchmod(fd, 0600);
  close(fd);
  int e = append_history(1, path);
  if (e != 0) { errno = e; return luaL_fileresult(L, 0, path); }
  history_truncate_file(path, 1000);
  lua_pushboolean(L, 1);
  return 1;
}

/* }====================================================== */

/* {====================================================== completion */

/* Process-wide for readline (see 'in' above): its completion functions take no user data. */
static lua_State *complete_L;
static int complete_ref = LUA_NOREF;
static char **found;
static int nfound, next_found;

static void clear_found(void) {
  for (int i = next_found; i < nfound; i++) free(found[i]);
  free(found);
  found = NULL;
  nfound = next_found = 0;
}

static char *generator(const char *text, int state) {
  (void)text; (void)state;
  return next_found < nfound ? found[next_found++] : NULL;   /* readline frees what it gets */
}

/* Asks the Lua completer for the candidates of 'text' (with the line before it). */
static char **attempt(const char *text, int start, int end) {
  (void)end;
  rl_attempted_completion_over = 1;   /* never fall back to file names */
  rl_completion_append_character = '\0';   /* readline sets it back to ' ' every time */
  clear_found();
  lua_State *L = complete_L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, complete_ref);
  lua_pushstring(L, text);
  lua_pushlstring(L, rl_line_buffer, (size_t)start);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK || !lua_istable(L, -1)) { lua_pop(L, 1); return NULL; }
  int n = (int)lua_rawlen(L, -1);   /* raw: a raising __len would run unprotected */
  found = calloc((size_t)n + 1, sizeof *found);
  for (int i = 1; found && i <= n; i++) {
    lua_rawgeti(L, -1, i);
    const char *s = lua_tostring(L, -1);
    if (s) found[nfound++] = strdup(s);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return nfound ? rl_completion_matches(text, generator) : NULL;
}

/* line.set_completer(fn(text, before) -> {candidates}) */
static int l_set_completer(lua_State *L) {
  al_checktype(L, 1, LUA_TFUNCTION, "line.set_completer");
  al_sched *s = al_sched_of(L);
  if (complete_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, complete_ref);
  lua_pushvalue(L, 1);
  complete_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  complete_L = s->L;                  /* called from the loop, outside every task */
  rl_attempted_completion_function = attempt;
  rl_completion_append_character = '\0';
  rl_basic_word_break_characters = " \t\n\"'`@$><=;|&{(,+-*/%^#~[]";
  return 0;
}

/* }====================================================== */

/* line.on_interrupt(fn): Ctrl-C calls fn (outside any task) instead of ending the process. */
static int l_on_interrupt(lua_State *L) {
  al_checktype(L, 1, LUA_TFUNCTION, "line.on_interrupt");
  al_sched_on_interrupt(L, 1);
  return 0;
}

int luaopen_autolua_line(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"read", l_read}, {"reset", l_reset}, {"print_above", l_print_above}, {"history_load", l_history_load},
    {"history_add", l_history_add}, {"set_completer", l_set_completer},
    {"on_interrupt", l_on_interrupt}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
