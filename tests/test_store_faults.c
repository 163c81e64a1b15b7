/*
** The store's failures, with real parts:
**   test_store_faults sqlite: another process holding the lock (the loop keeps running; busy past
**     the deadline, success after release), a file of garbage, a directory where the file should
**     be, an unwritable directory or file, the modes of what open creates;
**   test_store_faults redis: a wrong or missing password, a slow server (DEBUG SLEEP from another
**     client), the server stopped and started again empty, scripts flushed (NOSCRIPT), EVALSHA
**     refused by an ACL. Exit 77 ("skipped") without redis-server.
*/
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "store_testlib.h"

static const al_store_limit rate = { .kind = AL_STORE_RATE, .interval = 0.01, .burst = 1 };

/* Ticks of a 10 ms timer while a call is pending: the loop must keep running. */
static int ticks;
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents) { (void)loop; (void)w; (void)revents; ticks++; }

static t_call reserve_ticking(al_store *s, const char *key) {
  ev_timer tick;
  ev_timer_init(&tick, on_tick, 0.01, 0.01);
  ev_timer_start(t_loop, &tick);
  ticks = 0;
  t_call c;
  T_RUN(c, al_store_reserve(s, key, &rate, 1, -1, t_cb, &c));
  ev_timer_stop(t_loop, &tick);
  return c;
}

static al_store *open_url(const char *url, double timeout, al_store_status *st, char *err, size_t errlen) {
  return al_store_open(t_loop, url, &(al_store_options){ .call_timeout = timeout, .connect_timeout = timeout },
                       st, err, errlen);
}

/* ---- SQLite ---- */

/* A child process that takes the database's write lock for 'hold' seconds; returns its pid once
** the lock is held. */
static pid_t hold_lock(const char *path, double hold) {
  int p[2];
  if (pipe(p) != 0) { perror("pipe"); exit(1); }
  pid_t pid = fork();
  if (pid == 0) {
    sqlite3 *db;
    char one = 1;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS other(a); INSERT INTO other VALUES(1);",
                     NULL, NULL, NULL) != SQLITE_OK) _exit(2);
    if (write(p[1], &one, 1) != 1) _exit(3);
    usleep((useconds_t)(hold * 1e6));
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    _exit(0);
  }
  close(p[1]);
  char c;
  if (read(p[0], &c, 1) != 1) { fprintf(stderr, "the lock holder failed\n"); exit(1); }
  close(p[0]);
  return pid;
}

static void test_lock_held(const char *dir) {
  char path[600], url[700];
  snprintf(path, sizeof path, "%s/locked.db", dir);
  snprintf(url, sizeof url, "sqlite:%s", path);
  al_store_status st;
  char err[512];
  al_store *s = open_url(url, 0.5, &st, err, sizeof err);
  CHECK(s != NULL, "open %s", err);
  if (!s) return;
  t_call c = reserve_ticking(s, "k");
  CHECK(c.res.status == AL_STORE_OK, "a reservation before the lock: %s", c.message);

  pid_t pid = hold_lock(path, 1.5);
  c = reserve_ticking(s, "k");
  double took = c.t1 - c.t0;
  CHECK(c.res.status == AL_STORE_BUSY, "the lock held past the deadline gives busy (%s)", al_store_status_code(c.res.status));
  CHECK(strstr(c.message, "locked by another process") && strstr(c.message, path), "busy names the cause: %s", c.message);
  CHECK(took >= 0.45 && took < 1.4, "busy after the 0.5 s deadline (%.3f s)", took);
  CHECK(ticks >= 15, "the loop ran while the lock was held (%d ticks of 10 ms)", ticks);
  int wst;
  waitpid(pid, &wst, 0);

  al_store_close(s);
  s = open_url(url, 3, &st, err, sizeof err);
  pid = hold_lock(path, 0.6);
  c = reserve_ticking(s, "k");
  took = c.t1 - c.t0;
  CHECK(c.res.status == AL_STORE_OK && c.res.granted, "the call goes through once the lock is released: %s", c.message);
  CHECK(took >= 0.4 && took < 2.5, "it waited for the release (%.3f s)", took);
  CHECK(ticks >= 20, "without blocking the loop (%d ticks)", ticks);
  waitpid(pid, &wst, 0);
  al_store_close(s);
}

static void test_garbage(const char *dir) {
  char path[600], url[700], junk[8192];
  snprintf(path, sizeof path, "%s/garbage.db", dir);
  snprintf(url, sizeof url, "sqlite:%s", path);
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 7919 % 251);
  FILE *f = fopen(path, "wb");
  fwrite(junk, 1, sizeof junk, f);
  fclose(f);
  al_store_status st;
  char err[512];
  al_store *s = open_url(url, 1, &st, err, sizeof err);
  CHECK(!s && st == AL_STORE_CORRUPT, "a file of garbage is corrupt (%s: %s)", al_store_status_code(st), err);
  CHECK(strstr(err, path) != NULL, "the error names the file: %s", err);
  al_store_close(s);

  /* a database whose pages are damaged after it was made */
  snprintf(path, sizeof path, "%s/damaged.db", dir);
  snprintf(url, sizeof url, "sqlite:%s", path);
  s = open_url(url, 1, &st, err, sizeof err);
  t_call c;
  al_store_claim_opts o = { .lease = 10 };
  for (int i = 0; i < 200; i++) {
    char key[64];
    snprintf(key, sizeof key, "item-%d-with-some-length-to-fill-pages", i);
    T_RUN(c, al_store_claim(s, "big", key, &o, t_cb, &c));
  }
  al_store_close(s);
  int fd = open(path, O_WRONLY);
  CHECK(fd >= 0, "reopen to damage");
  struct stat sb;
  fstat(fd, &sb);
  for (off_t at = 4096; at < sb.st_size; at += 4096)   /* every page but the first */
    if (pwrite(fd, junk, 4096, at) != 4096) CHECK(0, "damage written");
  char wal[700];
  snprintf(wal, sizeof wal, "%s-wal", path);
  unlink(wal);
  close(fd);
  s = open_url(url, 1, &st, err, sizeof err);
  if (s) {
    T_RUN(c, al_store_counts_get(s, "big", t_cb, &c));
    CHECK(c.res.status == AL_STORE_CORRUPT, "damaged pages give corrupt (%s: %s)", al_store_status_code(c.res.status), c.message);
    al_store_close(s);
  } else CHECK(st == AL_STORE_CORRUPT, "damaged pages give corrupt at open (%s: %s)", al_store_status_code(st), err);
}

static void test_directory(const char *dir) {
  char path[600], url[700];
  snprintf(path, sizeof path, "%s/adir.db", dir);
  snprintf(url, sizeof url, "sqlite:%s", path);
  mkdir(path, 0700);
  al_store_status st;
  char err[512];
  al_store *s = open_url(url, 1, &st, err, sizeof err);
  CHECK(!s && st == AL_STORE_UNREACHABLE && strstr(err, "directory"), "a directory where the file should be (%s: %s)",
        al_store_status_code(st), err);
  al_store_close(s);
}

/* As root, permissions do not bind: the checks run in a child that has become 'nobody'. */
static void test_readonly(const char *dir) {
  char ro_dir[600], ro_file[700], url[800];
  snprintf(ro_dir, sizeof ro_dir, "%s/ro", dir);
  mkdir(ro_dir, 0755);
  snprintf(ro_file, sizeof ro_file, "%s/rw/state.db", dir);
  char rw[600];
  snprintf(rw, sizeof rw, "%s/rw", dir);
  mkdir(rw, 0777);
  chmod(rw, 0777);
  chmod(dir, 0755);
  al_store_status st;
  char err[512];
  snprintf(url, sizeof url, "sqlite:%s", ro_file);
  al_store *s = open_url(url, 1, &st, err, sizeof err);   /* made by us: 0600 */
  al_store_close(s);
  chmod(ro_file, 0644);
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) _exit(10);
    if (geteuid() != 0 && getuid() != 0) { chmod(ro_dir, 0555); chmod(ro_file, 0444); }
    t_loop = ev_loop_new(0);
    int bad = 0;
    snprintf(url, sizeof url, "sqlite:%s/state.db", ro_dir);
    s = open_url(url, 1, &st, err, sizeof err);
    if (s || st != AL_STORE_READONLY) { fprintf(stderr, "unwritable directory: %s %s\n", al_store_status_code(st), err); bad |= 1; }
    al_store_close(s);
    snprintf(url, sizeof url, "sqlite:%s/deeper/state.db", ro_dir);
    s = open_url(url, 1, &st, err, sizeof err);
    if (s || st != AL_STORE_READONLY) { fprintf(stderr, "unwritable parent: %s %s\n", al_store_status_code(st), err); bad |= 2; }
    al_store_close(s);
    snprintf(url, sizeof url, "sqlite:%s", ro_file);
    s = open_url(url, 1, &st, err, sizeof err);
    if (s || st != AL_STORE_READONLY) { fprintf(stderr, "read-only file: %s %s\n", al_store_status_code(st), err); bad |= 4; }
    al_store_close(s);
    _exit(bad);
  }
  int wst;
  waitpid(pid, &wst, 0);
  CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "unwritable directory and read-only file give readonly (%d)", WEXITSTATUS(wst));
}

static void test_modes(const char *dir) {
  char state[600], path[700];
  snprintf(state, sizeof state, "%s/xdg", dir);
  setenv("XDG_STATE_HOME", state, 1);
  char *url = al_store_default_url();
  snprintf(path, sizeof path, "sqlite:%s/autolua/state.db", state);
  CHECK(url && strcmp(url, path) == 0, "the default store (%s)", url ? url : "NULL");
  free(url);
  mode_t old = umask(022);
  al_store_status st;
  char err[512];
  al_store *s = open_url(NULL, 1, &st, err, sizeof err);
  umask(old);
  CHECK(s && strcmp(al_store_backend(s), "sqlite") == 0, "the default opens: %s", err);
  al_store_close(s);
  struct stat sb;
  snprintf(path, sizeof path, "%s/autolua", state);
  CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0700, "the directory is 0700 (%o)", sb.st_mode & 0777);
  snprintf(path, sizeof path, "%s/autolua/state.db", state);
  CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "the file is 0600 (%o)", sb.st_mode & 0777);
  s = open_url("nonsense:x", 1, &st, err, sizeof err);
  CHECK(!s && st == AL_STORE_ARGUMENT, "an unknown store: %s", err);
  s = open_url("redis:/:pa55word@127.0.0.1", 1, &st, err, sizeof err);
  CHECK(!s && st == AL_STORE_ARGUMENT && strstr(err, "'redis...'") && !strstr(err, "pa55word"),
        "a mistyped URL is named without its password: %s", err);
}

static int run_sqlite(void) {
  const char *dir = t_tmpdir();
  test_modes(dir);
  test_directory(dir);
  test_garbage(dir);
  test_readonly(dir);
  test_lock_held(dir);
  t_cleanup();
  return t_report("sqlite faults");
}

/* ---- Redis ---- */

static t_redis R;

static void no_secret(const char *msg, const char *secret) {
  CHECK(!strstr(msg, secret), "the password appears in: %s", msg);
}

static void test_password(void) {
  const char *extra[] = { "--requirepass", "s3cret-pw", NULL };
  t_redis r = {0};
  CHECK(t_redis_start(&r, extra) == 0, "redis with a password");
  char url[300], err[512];
  al_store_status st;
  snprintf(url, sizeof url, "redis://:wr0ng-pw@127.0.0.1:%d", r.port);
  al_store *s = open_url(url, 1, &st, err, sizeof err);
  CHECK(s && strstr(al_store_url(s), "***") && !strstr(al_store_url(s), "wr0ng"), "the URL prints redacted: %s",
        s ? al_store_url(s) : err);
  t_call c;
  T_RUN(c, al_store_reserve(s, "k", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_AUTH, "a wrong password is an auth error (%s: %s)", al_store_status_code(c.res.status), c.message);
  no_secret(c.message, "wr0ng-pw");
  T_RUN(c, al_store_reserve(s, "k", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_AUTH && c.t1 - c.t0 < 0.5, "and again at once while backing off: %s", c.message);
  no_secret(c.message, "wr0ng-pw");
  al_store_close(s);

  snprintf(url, sizeof url, "redis://127.0.0.1:%d", r.port);
  s = open_url(url, 1, &st, err, sizeof err);
  T_RUN(c, al_store_reserve(s, "k", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_AUTH, "no password where one is needed (%s: %s)", al_store_status_code(c.res.status), c.message);
  al_store_close(s);

  snprintf(url, sizeof url, "redis://:s3cret-pw@127.0.0.1:%d/2", r.port);
  s = open_url(url, 1, &st, err, sizeof err);
  T_RUN(c, al_store_reserve(s, "k", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK && c.res.granted, "the right password: %s", c.message);
  al_store_close(s);
  s = open_url("redis://:s3cret-pw@127.0.0.1:99999", 1, &st, err, sizeof err);
  CHECK(!s && st == AL_STORE_ARGUMENT, "a bad port: %s", err);
  no_secret(err, "s3cret-pw");
  t_redis_stop(&r);
}

static void test_slow(al_store *s) {
  t_call c;
  T_RUN(c, al_store_reserve(s, "slow", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK, "before: %s", c.message);
  pid_t pid = fork();
  if (pid == 0) {
    char out[64];
    _exit(t_redis_cmd(R.port, NULL, out, sizeof out, "DEBUG SLEEP 1.5") == 0 && strcmp(out, "OK") == 0 ? 0 : 1);
  }
  t_sleep(0.2);
  c = reserve_ticking(s, "slow");
  double took = c.t1 - c.t0;
  CHECK(c.res.status == AL_STORE_TIMEOUT, "a slow server gives a timeout (%s: %s)", al_store_status_code(c.res.status), c.message);
  CHECK(took >= 0.25 && took < 1.0, "after the 0.3 s call timeout (%.3f s)", took);
  CHECK(ticks >= 8, "the loop ran meanwhile (%d ticks)", ticks);
  int wst;
  waitpid(pid, &wst, 0);
  CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "DEBUG SLEEP ran");
  t_sleep(0.3);
  T_RUN(c, al_store_reserve(s, "slow", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK, "after it the store reconnects: %s", c.message);
}

static void test_restart(al_store *s) {
  t_call c;
  T_RUN(c, al_store_claim(s, "job", "x", &(al_store_claim_opts){ .lease = 10 }, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK && c.res.claim == AL_CLAIM_GRANTED, "claimed: %s", c.message);
  t_redis_stop(&R);
  c = reserve_ticking(s, "restart");
  CHECK(c.res.status == AL_STORE_UNREACHABLE, "a stopped server is unreachable (%s: %s)", al_store_status_code(c.res.status), c.message);
  CHECK(c.t1 - c.t0 < 0.5, "at once, not at the deadline (%.3f s)", c.t1 - c.t0);
  T_RUN(c, al_store_reserve(s, "restart", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_UNREACHABLE && c.t1 - c.t0 < 0.2, "calls fail fast while it is down: %s", c.message);
  CHECK(t_redis_start(&R, (const char *[]){ "--enable-debug-command", "yes", NULL }) == 0, "restarted on port %d", R.port);
  t_sleep(0.5);
  T_RUN(c, al_store_reserve(s, "restart", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK && c.res.granted, "reconnected to the empty server, scripts loaded again: %s", c.message);
  T_RUN(c, al_store_claim(s, "job", "x", &(al_store_claim_opts){ .owner = "other", .lease = 10 }, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK && c.res.claim == AL_CLAIM_GRANTED, "the empty server knows nothing of the claim");
}

static long eval_calls(void) {
  char info[8192];
  if (t_redis_cmd(R.port, NULL, info, sizeof info, "INFO commandstats") != 0) return -1;
  const char *p = strstr(info, "cmdstat_eval:calls=");
  return p ? atol(p + strlen("cmdstat_eval:calls=")) : 0;
}

static void test_noscript(al_store *s) {
  char out[64];
  t_call c;
  T_RUN(c, al_store_reserve(s, "noscript", &rate, 1, -1, t_cb, &c));   /* connected, scripts loaded */
  CHECK(c.res.status == AL_STORE_OK, "before: %s", c.message);
  long before = eval_calls();
  CHECK(t_redis_cmd(R.port, NULL, out, sizeof out, "SCRIPT FLUSH") == 0 && strcmp(out, "OK") == 0, "flushed");
  T_RUN(c, al_store_reserve(s, "noscript", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK && c.res.granted, "a call after SCRIPT FLUSH still works: %s", c.message);
  CHECK(eval_calls() == before + 1, "through one EVAL of the body (%ld -> %ld)", before, eval_calls());
  T_RUN(c, al_store_reserve(s, "noscript", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_OK && eval_calls() == before + 1, "and EVALSHA again after that");
}

static void test_refused_eval(al_store *s) {
  char out[256];
  CHECK(t_redis_cmd(R.port, NULL, out, sizeof out, "ACL SETUSER default -evalsha -eval") == 0 && strcmp(out, "OK") == 0,
        "ACL set: %s", out);
  t_call c;
  T_RUN(c, al_store_reserve(s, "acl", &rate, 1, -1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_SCRIPT, "EVALSHA refused gives a script error (%s: %s)", al_store_status_code(c.res.status), c.message);
  CHECK(strstr(c.message, "NOPERM") != NULL, "naming the cause: %s", c.message);
  t_redis_cmd(R.port, NULL, out, sizeof out, "ACL SETUSER default +@all");
}

static void test_unreachable_at_start(void) {
  t_redis gone = {0};
  t_redis_start(&gone, NULL);
  int port = gone.port;
  t_redis_stop(&gone);
  char url[100], err[512];
  al_store_status st;
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
  al_store *s = open_url(url, 0.5, &st, err, sizeof err);
  CHECK(s != NULL, "open does not wait for the server");
  t_call c;
  T_RUN(c, al_store_heartbeat(s, "k", NULL, 1, t_cb, &c));
  CHECK(c.res.status == AL_STORE_UNREACHABLE && strstr(c.message, "refused"), "nothing listening: %s", c.message);
  al_store_close(s);
  ev_run(t_loop, 0);   /* must return: no watcher of a dead store keeps the loop */
}

static int run_redis(void) {
  if (!t_redis_have()) { printf("skipped: redis-server not found (scripts/setup installs it)\n"); return 77; }
  if (t_redis_start(&R, (const char *[]){ "--enable-debug-command", "yes", NULL }) != 0) {
    fprintf(stderr, "could not start redis-server\n");
    return 1;
  }
  test_password();
  test_unreachable_at_start();
  char url[100], err[512];
  al_store_status st;
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", R.port);
  al_store *s = open_url(url, 0.3, &st, err, sizeof err);
  test_noscript(s);
  /* connected and idle: nothing of the store may keep the loop running (SIGALRM kills a hang) */
  alarm(10);
  double t0 = t_realtime();
  ev_run(t_loop, 0);
  alarm(0);
  CHECK(t_realtime() - t0 < 1, "an idle connection lets the loop end (%.3f s)", t_realtime() - t0);
  test_slow(s);
  test_restart(s);
  test_refused_eval(s);
  al_store_close(s);
  ev_run(t_loop, 0);
  t_redis_stop(&R);
  return t_report("redis faults");
}

int main(int argc, char **argv) {
  t_loop = ev_default_loop(0);
  const char *which = argc > 1 ? argv[1] : "sqlite";
  return strcmp(which, "redis") == 0 ? run_redis() : run_sqlite();
}
