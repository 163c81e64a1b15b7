/*
** autolua's command line: picks what to run and hands it to the runtime as the main task.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "curlapi.h"
#include <ev.h>
#include <lauxlib.h>
#include "runtime.h"
#include "loader.h"

#define EXIT_USAGE 2

static const char usage_text[] =
  "usage: autolua [FILE.lua | -] [ARGS...]     run a script ('-' reads it from standard input)\n"
  "       autolua run FILE [ARGS...]           the same\n"
  "       autolua eval CODE | -e CODE          run a chunk and print the values it returns\n"
  "       autolua repl                         interactive prompt (also: no arguments on a terminal)\n"
  "       autolua recipe list                  the packaged recipes\n"
  "       autolua recipe NAME [--opt value]... run a recipe; 'autolua recipe NAME --help' for its options\n"
  "       autolua serve FILE.lua [--listen HOST:PORT] [--token T] [--grace S]\n"
  "                                            serve HTTP; 'autolua serve --help' for the limits\n"
  "       autolua --version                    versions of autolua, Lua, libcurl and libev\n"
  "       autolua --help                       this text\n"
  "\n"
  "Scripts can require \"dexi\", \"dx\", \"autolua.task\", \"autolua.http\", \"autolua.limiter\",\n"
  "\"autolua.log\" and \"cjson\". Recipes: dexi-download, dexi-export, dexi-run, dx-trigger, dx-query.\n"
  "Exit status: 0 success, 1 error, 2 usage error, 130 interrupted.\n"
  "Environment: DEXI_ACCOUNT, DEXI_API_KEY, DEXI_BASE_URL; DX_TOKEN (or DX_API_TOKEN), DX_BASE_URL;\n"
  "  AUTOLUA_LOG (error|warn|info|debug), AUTOLUA_LOG_FORMAT (text|json), AUTOLUA_RECIPES_PATH,\n"
  "  AUTOLUA_SERVE_TOKEN (the token 'autolua serve' requires),\n"
  "  AUTOLUA_PATH (load autolua's Lua modules from this source tree). See autolua(1).\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "autolua: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'autolua --help'.\n");
  return EXIT_USAGE;
}

static void print_version(void) {
  char err[256];
  printf("autolua %s\n%s\n", AUTOLUA_VERSION, LUA_RELEASE);
  if (al_curl_load(err, sizeof err) == 0) {
    curl_version_info_data *c = curl_version_info(CURLVERSION_NOW);
    printf("libcurl %s (%s%s%s)\n", c->version, c->ssl_version ? c->ssl_version : "no TLS",
           c->nghttp2_version ? ", nghttp2/" : "", c->nghttp2_version ? c->nghttp2_version : "");
  } else {
    printf("libcurl: %s\n", err);
  }
  printf("libev %d.%d\n", ev_version_major(), ev_version_minor());
}

/* Calls require(mod)[fn] with the strings argv[0..argc-1] as the main task. */
static int run_module(al_runtime *rt, const char *mod, const char *fn, char **argv, int argc) {
  lua_State *L = rt->L;
  lua_getglobal(L, "require");
  lua_pushstring(L, mod);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    al_runtime_report(rt, NULL, lua_tostring(L, -1));
    return 1;
  }
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  for (int i = 0; i < argc; i++) lua_pushstring(L, argv[i]);
  return al_runtime_main(rt, argc);
}

static int run_file(al_runtime *rt, const char *path, char **argv, int argc, int script) {
  lua_State *L = rt->L;
  const char *name = strcmp(path, "-") == 0 ? NULL : path;
  if (luaL_loadfilex(L, name, NULL) != LUA_OK) {
    al_runtime_report(rt, NULL, lua_tostring(L, -1));
    return 1;
  }
  al_runtime_setargs(rt, argv, argc, script);
  int n = argc - script - 1;
  for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
  return al_runtime_main(rt, n);
}

/* A word that is no file and looks like no path is taken for a mistyped command. */
static int looks_like_command(const char *a) {
  return !strchr(a, '/') && !strchr(a, '.') && access(a, F_OK) != 0;
}

static int dispatch(al_runtime *rt, int argc, char **argv) {
  const char *a = argv[1];
  if (argc < 2)
    return isatty(0) ? run_module(rt, "autolua.repl", "run", NULL, 0) : run_file(rt, "-", argv, argc, 0);
  if (strcmp(a, "run") == 0) {
    if (argc < 3) return usage_error("%s needs a script file", "run");
    return run_file(rt, argv[2], argv, argc, 2);
  }
  if (strcmp(a, "eval") == 0 || strcmp(a, "-e") == 0) {
    if (argc < 3) return usage_error("%s needs a chunk of Lua code", a);
    al_runtime_setargs(rt, argv, argc, 2);
    return run_module(rt, "autolua.cli", "eval", argv + 2, argc - 2);
  }
  if (strcmp(a, "repl") == 0) return run_module(rt, "autolua.repl", "run", NULL, 0);
  if (strcmp(a, "recipe") == 0) {
    al_runtime_setargs(rt, argv, argc, 1);
    return run_module(rt, "autolua.recipe", "main", argv + 2, argc - 2);
  }
  if (strcmp(a, "serve") == 0) {
    al_runtime_setargs(rt, argv, argc, 1);
    return run_module(rt, "autolua.serve_cli", "main", argv + 2, argc - 2);
  }
  if (strcmp(a, "-") == 0) return run_file(rt, a, argv, argc, 1);
  if (a[0] == '-') return usage_error("unknown option '%s'", a);
  if (looks_like_command(a)) return usage_error("unknown command or missing file '%s'", a);
  return run_file(rt, a, argv, argc, 1);
}

int main(int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
    print_version();
    return 0;
  }
  al_runtime *rt = al_runtime_new();
  int status = dispatch(rt, argc, argv);
  al_runtime_free(rt);
  return status;
}
