/*
** autolua's lua-compatible command line: `autolua [options] [script [args]]` with lua's options
** -e, -l, -i, -v, -E, -W, -- and -, and LUA_INIT_5_4 / LUA_INIT, as lua.c runs them.
*/
#ifndef AUTOLUA_LUACLI_H
#define AUTOLUA_LUACLI_H

#include "runtime.h"

/* Reads the options, then runs them in order as the main task; returns the exit status. */
int al_luacli_main(al_runtime *rt, int argc, char **argv);

#endif
