/*
** The lua-compatible command line (see luacli.h): the options are read here as lua.c's
** collectargs reads them, before any Lua runs; autolua.luacli then does what they ask, in
** order, inside the main task.
*/
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include "luacli.h"
#include "lerror.h"
#include "modules.h"
#include "runtime.h"
#include "sched.h"

#define EXIT_USAGE 2

enum { HAS_I = 1, HAS_V = 2, HAS_E = 4, HAS_NOENV = 8 };

/* lua.c's collectargs: returns the option bits, or -1 with '*first' at the bad argument;
** otherwise '*first' is the script's index (argc when there is none). */
static int collect(char **argv, int *first) {
  int args = 0, i;
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    const char *a = argv[i];
    if (a[0] != '-') return args;
    switch (a[1]) {
      case '-':
        if (a[2] != '\0') return -1;
        *first = i + 1;
        return args;
      case '\0': return args;                     /* '-': the script is stdin */
      case 'E': if (a[2] != '\0') return -1; args |= HAS_NOENV; break;
      case 'W': if (a[2] != '\0') return -1; break;
      case 'i': if (a[2] != '\0') return -1; args |= HAS_I | HAS_V; break;
      case 'v': if (a[2] != '\0') return -1; args |= HAS_V; break;
      case 'e': case 'l':
        if (a[1] == 'e') args |= HAS_E;
        if (a[2] == '\0') {
          i++;
          if (argv[i] == NULL || argv[i][0] == '-') return -1;
        }
        break;
      default: return -1;
    }
  }
  *first = i;
  return args;
}

static int bad_option(const al_runtime *rt, const char *opt) {
  fprintf(stderr, "%s: ", rt->progname);
  if (opt[1] == 'e' || opt[1] == 'l') fprintf(stderr, "'%s' needs argument\n", opt);
  else fprintf(stderr, "unrecognized option '%s'\n", opt);
  fprintf(stderr, "Try 'autolua --help'.\n");
  return EXIT_USAGE;
}

/* -E: what lua does by setting LUA_NOENV before opening the libraries. */
static void ignore_env(lua_State *L) {
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  lua_getglobal(L, "package");
  lua_pushliteral(L, LUA_PATH_DEFAULT);
  lua_setfield(L, -2, "path");
  lua_pushliteral(L, LUA_CPATH_DEFAULT);
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
}

/* The plan for autolua.luacli: {steps = {{"e", code} | {"l", "g=mod"} | {"W"}...}, script =,
** stdin_script =, interactive =, bare =, noenv =}. */
static void push_plan(lua_State *L, int argc, char **argv, int args, int script) {
  lua_newtable(L);
  lua_newtable(L);
  int n = 0;
  for (int i = 1; i < script; i++) {
    char opt = argv[i][1];
    if (opt != 'e' && opt != 'l' && opt != 'W') continue;
    lua_newtable(L);
    lua_pushlstring(L, &opt, 1);
    lua_rawseti(L, -2, 1);
    if (opt != 'W') {
      const char *extra = argv[i] + 2;
      if (*extra == '\0') extra = argv[++i];
      lua_pushstring(L, extra);
      lua_rawseti(L, -2, 2);
    }
    lua_rawseti(L, -2, ++n);
  }
  lua_setfield(L, -2, "steps");
  if (script < argc) {
    int stdin_script = strcmp(argv[script], "-") == 0 && strcmp(argv[script - 1], "--") != 0;
    lua_pushstring(L, argv[script]);
    lua_setfield(L, -2, "script");
    lua_pushboolean(L, stdin_script);
    lua_setfield(L, -2, "stdin_script");
  }
  lua_pushboolean(L, (args & HAS_I) != 0);
  lua_setfield(L, -2, "interactive");
  lua_pushboolean(L, script == argc && !(args & (HAS_E | HAS_V | HAS_I)));
  lua_setfield(L, -2, "bare");
  lua_pushboolean(L, (args & HAS_NOENV) != 0);
  lua_setfield(L, -2, "noenv");
}

int al_luacli_main(al_runtime *rt, int argc, char **argv) {
  lua_State *L = rt->L;
  int script = argc;
  int args = collect(argv, &script);
  if (args < 0) return bad_option(rt, argv[script]);
  if (args & HAS_V) {
    fputs(LUA_COPYRIGHT "\n", stdout);
    fflush(stdout);
  }
  if (args & HAS_NOENV) ignore_env(L);
  al_runtime_setargs(rt, argv, argc, script == argc ? 0 : script);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "autolua.luacli");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    al_runtime_report(rt, NULL, lua_tostring(L, -1));
    return 1;
  }
  lua_getfield(L, -1, "main");
  lua_remove(L, -2);
  push_plan(L, argc, argv, args, script);
  return al_runtime_main(rt, 1);
}

/* {====================================================== autolua.luacli.core */

/* lua.c's message handler: a string, the result of __tostring, or the type, and a traceback.
** A cancellation passes untouched, for the scheduler. It is a C function so that, as in lua,
** __tostring finds the function that raised the error at level 4. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (al_error_kind_is(L, 1, "cancelled")) return 1;
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
    else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int is_cancel(lua_State *L) {
  lua_pushboolean(L, al_error_kind_is(L, 1, "cancelled"));
  return 1;
}

/* fail(msg): lua.c's report; the run ends with status 1 and the other tasks are cancelled. */
static int fail(lua_State *L) {
  al_runtime *rt = al_runtime_of(L);
  al_runtime_report(rt, NULL, al_checklstring(L, 1, NULL, "luacli.fail"));
  if (rt->exit_code == 0) rt->exit_code = 1;
  al_sched_cancel_all(&rt->sched);
  return 0;
}

static int progname(lua_State *L) {
  lua_pushstring(L, al_runtime_of(L)->progname);
  return 1;
}

int luaopen_autolua_luacli_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"msghandler", msghandler}, {"is_cancel", is_cancel}, {"fail", fail},
    {"progname", progname}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}

/* }====================================================== */
