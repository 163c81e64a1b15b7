/*
** The masking registry: every secret a client knows (an API key, a token, the Dexi access
** hash, a password in a base URL) is registered once, and every place that shows a value to a
** person (error text, the REPL, eval, the failure report) replaces it with "***".
*/
#ifndef AUTOLUA_LSECRET_H
#define AUTOLUA_LSECRET_H

#include <stddef.h>
#include <lua.h>

/* Shorter values are not masked: a 1-3 byte secret would mask every occurrence of common text. */
#define AL_SECRET_MIN 4

/* Registers 'n' bytes at 's' as a secret. */
void al_secret_add(lua_State *L, const char *s, size_t n);
/* Registers the password of a URL's user information (http://user:PW@host/), raw and decoded. */
void al_secret_add_url(lua_State *L, const char *url);
/* Registers the secrets of the environment the clients read (DEXI_API_KEY, DX_TOKEN,
** DX_API_TOKEN), so that even a script that never makes a client cannot print them by mistake. */
void al_secret_add_environment(lua_State *L);
/* Pushes the string at 'idx' with every registered secret replaced by "***" and returns it. */
const char *al_secret_mask(lua_State *L, int idx);

int luaopen_autolua_secret(lua_State *L);

#endif
