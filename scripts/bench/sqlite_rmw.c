/*
** The floor a shared acquisition is compared with (issue 16): one bare SQLite read-modify-write
** transaction (BEGIN IMMEDIATE, one SELECT, one UPDATE, COMMIT) in WAL mode with
** synchronous=NORMAL, as the store runs them. Prints microseconds of wall and CPU time per
** transaction. Usage: sqlite_rmw [N] (SMOKE=1: a few hundred, only to show it runs).
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static int check(int rc, sqlite3 *db, const char *what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return 0;
  fprintf(stderr, "sqlite_rmw: %s: %s\n", what, sqlite3_errmsg(db));
  return 1;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000;
  if (getenv("SMOKE") && strcmp(getenv("SMOKE"), "1") == 0) n = 300;
  if (n < 1) n = 1;
  char dir[] = "/tmp/sqlite-rmw-XXXXXX", path[64];
  if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
  snprintf(path, sizeof path, "%s/rmw.db", dir);
  sqlite3 *db = NULL;
  sqlite3_stmt *begin = NULL, *sel = NULL, *upd = NULL, *commit = NULL;
  int bad = check(sqlite3_open(path, &db), db, "open");
  bad = bad || check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                      "CREATE TABLE t(k TEXT PRIMARY KEY, v REAL NOT NULL);"
                                      "INSERT INTO t VALUES('key', 0);", NULL, NULL, NULL), db, "schema");
  bad = bad || check(sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL), db, "prepare");
  bad = bad || check(sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k = 'key'", -1, &sel, NULL), db, "prepare");
  bad = bad || check(sqlite3_prepare_v2(db, "UPDATE t SET v = ?1 WHERE k = 'key'", -1, &upd, NULL), db, "prepare");
  bad = bad || check(sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL), db, "prepare");
  double t0 = now(), c0 = cpu();
  for (long i = 0; i < n && !bad; i++) {
    bad = check(sqlite3_step(begin), db, "begin");
    bad = bad || check(sqlite3_step(sel), db, "select");
    double v = sqlite3_column_double(sel, 0);
    sqlite3_bind_double(upd, 1, v + 1);
    bad = bad || check(sqlite3_step(upd), db, "update");
    bad = bad || check(sqlite3_step(commit), db, "commit");
    sqlite3_reset(begin); sqlite3_reset(sel); sqlite3_reset(upd); sqlite3_reset(commit);
  }
  double t1 = now(), c1 = cpu();
  sqlite3_finalize(begin); sqlite3_finalize(sel); sqlite3_finalize(upd); sqlite3_finalize(commit);
  sqlite3_close(db);
  char wal[80], shm[80];
  snprintf(wal, sizeof wal, "%s-wal", path);
  snprintf(shm, sizeof shm, "%s-shm", path);
  unlink(path); unlink(wal); unlink(shm); rmdir(dir);
  if (bad) return 1;
  printf("sqlite_rmw: %ld transactions, %.2f us wall, %.2f us cpu per transaction\n", n, (t1 - t0) / n * 1e6,
         (c1 - c0) / n * 1e6);
  return 0;
}
