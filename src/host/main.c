/*
** autolua's command line: picks what to run and hands it to the runtime as the main task.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "curlapi.h"
#include <ev.h>
#include <lauxlib.h>
#include "runtime.h"
#include "loader.h"
#include "luacli.h"
#include "lerror.h"

#define EXIT_USAGE 2

static const char usage_text[] =
  "usage: autolua [FILE.lua | -] [ARGS...]     run a script ('-' reads it from standard input)\n"
  "       autolua run FILE [ARGS...]           the same\n"
  "       autolua eval CODE                    run a chunk (or expression) and print the values it\n"
  "                                            returns: a string as it is, anything else pretty-printed\n"
  "       autolua eval --json CODE             the same, each value as one line of JSON (also -e --json)\n"
  "       autolua [OPTIONS] [FILE [ARGS...]]   as the lua command: -e STAT (its returned values are\n"
  "                                            printed), -l MOD, -l G=MOD, -i, -v, -E, -W, --, -\n"
  "       autolua repl                         interactive prompt (also: no arguments on a terminal)\n"
  "       autolua recipe list [--json]         the packaged recipes\n"
  "       autolua recipe NAME [--opt value]... run a recipe; 'autolua recipe NAME --help' for its options\n"
  "       autolua help [TOPIC]                 the API reference: dexi, dx, task, http, limiter, errors, recipes\n"
  "       autolua sim [--port N] [--state FILE] the fake Dexi and DX APIs, offline; prints the exports\n"
  "       autolua job list|show NAME|forget NAME [--key K] [--json]\n"
  "                                            the durable jobs in the store (AUTOLUA_STORE)\n"
  "       autolua completion bash|zsh          a shell completion script (installed with autolua)\n"
  "       autolua --profile NAME COMMAND...    the clients take NAME's settings (see autolua(1))\n"
  "       autolua serve FILE.lua [--listen HOST:PORT] [--token T] [--grace S]\n"
  "                                            serve HTTP; 'autolua serve --help' for the limits\n"
  "       autolua --version                    versions of autolua, Lua, libcurl and libev\n"
  "       autolua --help                       this text\n"
  "\n"
  "Scripts can require \"dexi\", \"dx\", \"autolua.task\", \"autolua.http\", \"autolua.limiter\",\n"
  "\"autolua.log\", \"autolua.json\" and \"cjson\". Recipes: dexi-download, dexi-export, dexi-run, dx-trigger,\n"
  "dx-query, dx-deploy.\n"
  "Exit status: 0 success, 1 error, 2 usage error, 128+N ended by signal N (130 SIGINT,\n"
  "  143 SIGTERM, 129 SIGHUP: transfers aborted, partial files removed).\n"
  "Environment: DEXI_ACCOUNT, DEXI_API_KEY, DEXI_BASE_URL; DX_TOKEN (or DX_API_TOKEN), DX_BASE_URL,\n"
  "  DX_DATACLOUD_URL;\n"
  "  AUTOLUA_LOG (error|warn|info|debug), AUTOLUA_LOG_FORMAT (text|json), AUTOLUA_RECIPES_PATH,\n"
  "  AUTOLUA_SERVE_TOKEN (the token 'autolua serve' requires), AUTOLUA_STORE (memory, sqlite:PATH,\n"
  "  redis://...: shared limiters and jobs; default sqlite:$XDG_STATE_HOME/autolua/state.db),\n"
  "  AUTOLUA_PATH (load autolua's Lua modules from this source tree), AUTOLUA_PROFILE (a profile\n"
  "  of $XDG_CONFIG_HOME/autolua/config.lua). See autolua(1), autolua-api(3).\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "autolua: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'autolua --help'.\n");
  return EXIT_USAGE;
}

/* A setting autolua does not know is refused, not quietly replaced by the default: someone who
** asked for AUTOLUA_LOG=verbose expects more than the default shows. */
static int check_setting(const char *name, const char *const *allowed) {
  const char *v = getenv(name);
  if (!v || !*v) return 0;
  for (int i = 0; allowed[i]; i++)
    if (strcasecmp(v, allowed[i]) == 0) return 0;
  fprintf(stderr, "autolua: %s=%s is not one of", name, v);
  for (int i = 0; allowed[i]; i++) fprintf(stderr, "%s %s", i ? "," : "", allowed[i]);
  fprintf(stderr, "\n");
  return EXIT_USAGE;
}

static int check_settings(void) {
  static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
  static const char *const formats[] = {"text", "json", NULL};
  int st = check_setting("AUTOLUA_LOG", levels);
  return st ? st : check_setting("AUTOLUA_LOG_FORMAT", formats);
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
    al_runtime_report(rt, NULL, al_error_tostring(L, -1));
    return 1;
  }
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  luaL_checkstack(L, argc + 1, "too many arguments");   /* the chunk gets every one */
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
  luaL_checkstack(L, n + 1, "too many arguments");   /* the chunk gets every one */
  for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
  return al_runtime_main(rt, n);
}

/* A word that is no file and looks like no path is taken for a mistyped command. */
static int looks_like_command(const char *a) {
  return !strchr(a, '/') && !strchr(a, '.') && access(a, F_OK) != 0;
}

static int dispatch(al_runtime *rt, int argc, char **argv) {
  const char *a = argv[1];
  if (argc < 2) return al_luacli_main(rt, argc, argv);   /* the prompt, or stdin as a script */
  if (strcmp(a, "run") == 0) {
    if (argc < 3) return usage_error("%s needs a script file", "run");
    return run_file(rt, argv[2], argv, argc, 2);
  }
  /* 'eval --json CODE', and '-e --json CODE' (lua would run "--json" as a comment) */
  int json_e = strcmp(a, "-e") == 0 && argc > 3 && strcmp(argv[2], "--json") == 0;
  if (strcmp(a, "eval") == 0 || json_e) {
    int json = argc > 2 && strcmp(argv[2], "--json") == 0;
    if (argc < 3 + json) return usage_error("%s needs a chunk of Lua code", a);
    al_runtime_setargs(rt, argv, argc, 2 + json);
    return run_module(rt, "autolua.cli", json ? "eval_json" : "eval", argv + 2 + json, argc - 2 - json);
  }
  if (strcmp(a, "repl") == 0) return run_module(rt, "autolua.repl", "run", NULL, 0);
  if (strcmp(a, "recipe") == 0) {
    al_runtime_setargs(rt, argv, argc, 1);
    return run_module(rt, "autolua.recipe", "main", argv + 2, argc - 2);
  }
  if (strcmp(a, "help") == 0) return run_module(rt, "autolua.help", "main", argv + 2, argc - 2);
  if (strcmp(a, "sim") == 0) return run_module(rt, "autolua.sim", "main", argv + 2, argc - 2);
  if (strcmp(a, "job") == 0) return run_module(rt, "autolua.job_cli", "main", argv + 2, argc - 2);
  if (strcmp(a, "completion") == 0) return run_module(rt, "autolua.shellcomp", "main", argv + 2, argc - 2);
  if (strcmp(a, "serve") == 0) {
    al_runtime_setargs(rt, argv, argc, 1);
    return run_module(rt, "autolua.serve_cli", "main", argv + 2, argc - 2);
  }
  if (a[0] != '-' && looks_like_command(a))
    return usage_error("unknown command or missing file '%s'", a);
  return al_luacli_main(rt, argc, argv);   /* lua's options, or a script */
}

int main(int argc, char **argv) {
  /* --profile NAME before the command: every client takes that profile (as AUTOLUA_PROFILE) */
  if (argc >= 2 && strncmp(argv[1], "--profile", 9) == 0 && (argv[1][9] == '\0' || argv[1][9] == '=')) {
    int eq = argv[1][9] == '=';
    const char *name = eq ? argv[1] + 10 : argc >= 3 ? argv[2] : "";
    if (!*name) return usage_error("%s needs a profile name", "--profile");
    setenv("AUTOLUA_PROFILE", name, 1);
    argv[eq ? 1 : 2] = argv[0];
    argv += eq ? 1 : 2;
    argc -= eq ? 1 : 2;
  }
  if (argc >= 2 && strcmp(argv[1], "--help") == 0) {   /* -h is lua's: an unrecognized option */
    fputs(usage_text, stdout);
    return 0;
  }
  if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
    print_version();
    return 0;
  }
  int bad = check_settings();
  if (bad) return bad;
  al_runtime *rt = al_runtime_new();
  if (argv[0] && argv[0][0]) rt->progname = argv[0];
  int status = dispatch(rt, argc, argv);
  al_runtime_free(rt);
  return status;
}
