/*
** Temporary files beside their target (see tmpfile.h).
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "tmpfile.h"

int al_tmp_open(const char *path, char **tmp) {
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
  const char *base = slash ? slash + 1 : path;
  if (!*base) { errno = EISDIR; return -1; }
  size_t n = strlen(path) + 32;
  char *name = malloc(n);
  if (!name) { errno = ENOMEM; return -1; }
  snprintf(name, n, "%.*s.%s.part-XXXXXX", (int)dirlen, path, base);
  int fd = mkstemp(name);     /* O_CREAT|O_EXCL: never opens a file or link already there */
  if (fd < 0) { int e = errno; free(name); errno = e; return -1; }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  *tmp = name;
  return fd;
}

/* umask() can only be read by setting it: read once, before any file of ours is made. The
** umask is the process's, so the copy is too. */
mode_t al_tmp_mode(void) {
  static int known;
  static mode_t mode;
  if (!known) {
    mode_t mask = umask(022);
    umask(mask);
    mode = 0666 & ~mask;
    known = 1;
  }
  return mode;
}

int al_tmp_seal(int fd) {
  return fchmod(fd, al_tmp_mode());
}
