/*
** Temporary files beside their target, for files written whole or not at all. One helper for
** the HTTP file sink (http.c) and the Lua side (lsys.c, lua/autolua/atomic.lua): mkstemp in the
** target's directory (no name to guess or plant, and the final rename stays on one file
** system), and the user's umask on the finished file, as 'curl -o' and 'cp' give it.
*/
#ifndef AUTOLUA_TMPFILE_H
#define AUTOLUA_TMPFILE_H

#include <sys/types.h>

/* Creates ".NAME.part-XXXXXX" beside 'path' (mode 0600, close-on-exec); returns its descriptor
** and its name in *tmp (malloc'd), or -1 with errno. */
int al_tmp_open(const char *path, char **tmp);
/* Gives the finished temporary file the mode a new file of the user's gets: 0666 & ~umask. */
int al_tmp_seal(int fd);
/* 0666 & ~umask, the umask read once. */
mode_t al_tmp_mode(void);

#endif
