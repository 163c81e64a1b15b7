/*
** Structured error objects: tables with 'kind', 'message' and optional 'status', 'code',
** 'method', 'url', 'retryable', 'attempts', sharing one metatable whose __tostring gives a line.
*/
#ifndef AUTOLUA_LERROR_H
#define AUTOLUA_LERROR_H

#include <lua.h>

#define ERROR_MT "autolua.error"

/* Pushes a new error object of 'kind' with a formatted message. */
void al_error_push(lua_State *L, const char *kind, const char *fmt, ...);
/* Pushes one and raises it. */
int al_error_raise(lua_State *L, const char *kind, const char *fmt, ...);
/* Field setters for the error on top of the stack. */
void al_error_setstr(lua_State *L, const char *field, const char *value);
void al_error_setint(lua_State *L, const char *field, lua_Integer value);
void al_error_setbool(lua_State *L, const char *field, int value);

int al_error_kind_is(lua_State *L, int idx, const char *kind);
/* Pushes tostring(value) (error objects, strings, anything) and returns it; never raises but
** for memory: a __tostring that fails gives a line saying so. */
const char *al_error_tostring(lua_State *L, int idx);

/* Raises a 'kind = "argument"' error naming argument 'arg' of function 'fname'. */
int al_argerror(lua_State *L, const char *fname, const char *fmt, ...);

/* The bindings' argument checks: like luaL_check*, but a mistake raises a 'kind = "argument"'
** object naming the function ("limiter.rate: argument #1 must be a table, got number"), never
** a bare string. A 'fname' with a colon ("limiter:acquire") counts its object as argument #0, so
** the numbers match what the caller wrote, and a wrong object names the colon call. */
void al_checktype(lua_State *L, int arg, int t, const char *fname);
const char *al_checklstring(lua_State *L, int arg, size_t *len, const char *fname);
const char *al_optlstring(lua_State *L, int arg, const char *def, size_t *len, const char *fname);
lua_Number al_checknumber(lua_State *L, int arg, const char *fname);
lua_Integer al_checkinteger(lua_State *L, int arg, const char *fname);
lua_Integer al_optinteger(lua_State *L, int arg, lua_Integer def, const char *fname);
/* 'what' names the object for the error: "a limiter". */
void *al_checkudata(lua_State *L, int arg, const char *tname, const char *fname, const char *what);

int luaopen_autolua_error(lua_State *L);

#endif
