/*
** Unit tests of the temporary files beside their target (run by ctest, also under the
** sanitizers), on real files in a fresh directory: the name is hidden and unguessable, the
** file is new (mode 0600, close-on-exec), sealing gives it the user's umask, and a name
** without a file part is refused.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "tmpfile.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
  fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
  fputc('\n', stderr); } } while (0)

static char dir[] = "/tmp/autolua-test-tmpfile-XXXXXX";

static void test_open_and_seal(void) {
  char path[128], prefix[128];
  snprintf(path, sizeof path, "%s/out.json", dir);
  snprintf(prefix, sizeof prefix, "%s/.out.json.part-", dir);
  char *tmp = NULL, *tmp2 = NULL;
  int fd = al_tmp_open(path, &tmp);
  CHECK(fd >= 0, "al_tmp_open: %s", strerror(errno));
  if (fd < 0) return;
  CHECK(strncmp(tmp, prefix, strlen(prefix)) == 0, "name %s beside the target, hidden", tmp);
  CHECK(strlen(tmp) == strlen(prefix) + 6, "six random characters in %s", tmp);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o, want 600", st.st_mode & 0777);
  CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "close-on-exec");
  int fd2 = al_tmp_open(path, &tmp2);
  CHECK(fd2 >= 0 && strcmp(tmp, tmp2) != 0, "a second one gets another name");
  mode_t mask = umask(027);                 /* read the umask the process has, as al_tmp_mode does */
  umask(mask);
  CHECK(al_tmp_seal(fd) == 0, "seal");
  CHECK(fstat(fd, &st) == 0 && (st.st_mode & 0777) == (0666 & ~mask),
        "sealed mode %o, want %o", st.st_mode & 0777, 0666 & ~mask);
  CHECK(al_tmp_mode() == (0666 & ~mask), "al_tmp_mode %o", al_tmp_mode());
  close(fd);
  unlink(tmp);
  free(tmp);
  if (fd2 >= 0) { close(fd2); unlink(tmp2); free(tmp2); }
}

static void test_refusals(void) {
  char path[128];
  char *tmp = NULL;
  snprintf(path, sizeof path, "%s/", dir);
  errno = 0;
  CHECK(al_tmp_open(path, &tmp) == -1 && errno == EISDIR, "a path ending in / is refused");
  snprintf(path, sizeof path, "%s/missing/out.json", dir);
  errno = 0;
  CHECK(al_tmp_open(path, &tmp) == -1 && errno == ENOENT, "a missing directory gives ENOENT");
}

int main(void) {
  if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
  test_open_and_seal();
  test_refusals();
  rmdir(dir);
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
