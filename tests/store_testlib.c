/*
** The store tests' helpers (store_testlib.h).
*/
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "store_testlib.h"

int t_failures, t_checks;
struct ev_loop *t_loop;
static int order_counter;

double t_realtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void t_start(t_call *c) {
  memset(c, 0, sizeof *c);
  c->t0 = t_realtime();
}

void t_cb(void *ud, const al_store_result *r) {
  t_call *c = ud;
  c->done++;
  c->t1 = t_realtime();
  c->order = ++order_counter;
  c->res = *r;
  if (r->message) snprintf(c->message, sizeof c->message, "%s", r->message);
  c->res.message = r->message ? c->message : NULL;
  if (r->result) {
    snprintf(c->result, sizeof c->result, "%.*s", (int)r->result_len, r->result);
    c->res.result = c->result;
  }
  for (size_t i = 0; i < r->njobs && i < 64; i++) {
    snprintf(c->jobs[i], sizeof c->jobs[i], "%s", r->jobs[i].name);
    c->jobs_changed[i] = r->jobs[i].changed;
  }
  c->res.jobs = NULL;
}

static void on_limit(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents; (void)w;
  ev_break(loop, EVBREAK_ONE);
}

void t_wait(t_call *c, double limit) {
  ev_timer guard;
  ev_timer_init(&guard, on_limit, limit, 0.);
  ev_timer_start(t_loop, &guard);
  while (!c->done && ev_is_active(&guard)) ev_run(t_loop, EVRUN_ONCE);
  ev_timer_stop(t_loop, &guard);
  CHECK(c->done == 1, "a call completed %d times within %.0f s", c->done, limit);
}

void t_sleep(double sec) {
  ev_timer w;
  ev_timer_init(&w, on_limit, sec, 0.);
  ev_timer_start(t_loop, &w);
  while (ev_is_active(&w)) ev_run(t_loop, EVRUN_ONCE);
}

double t_slot(const t_call *c, double *err) {
  *err = (c->t1 - c->t0) / 2 + 0.002;
  return (c->t0 + c->t1) / 2 + c->res.wait;
}

static char tmpdir[256];

const char *t_tmpdir(void) {
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/autolua-store-test-XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); exit(1); }
  }
  return tmpdir;
}

void t_cleanup(void) {
  if (!tmpdir[0]) return;
  char cmd[700];
  snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", tmpdir, tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  tmpdir[0] = '\0';
}

int t_redis_have(void) {
  return system("command -v redis-server >/dev/null 2>&1") == 0;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    perror("free port");
    exit(1);
  }
  close(fd);
  return ntohs(a.sin_port);
}

int t_redis_start(t_redis *r, const char *const *extra) {
  if (!r->port) r->port = free_port();
  char port[16];
  snprintf(port, sizeof port, "%d", r->port);
  const char *argv[32] = { "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning" };
  int n = 13;
  for (int i = 0; extra && extra[i] && n < 31; i++) argv[n++] = extra[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); exit(1); }
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
    execvp("redis-server", (char *const *)argv);
    _exit(127);
  }
  r->pid = pid;
  for (int i = 0; i < 500; i++) {   /* up to 5 s */
    redisContext *c = redisConnect("127.0.0.1", r->port);
    int ok = c && !c->err;
    redisFree(c);
    if (ok) return 0;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) { r->pid = 0; return -1; }
    usleep(10000);
  }
  t_redis_stop(r);
  return -1;
}

void t_redis_stop(t_redis *r) {
  if (r->pid <= 0) return;
  kill(r->pid, SIGTERM);
  int st;
  for (int i = 0; i < 500 && waitpid(r->pid, &st, WNOHANG) == 0; i++) usleep(10000);
  if (waitpid(r->pid, &st, WNOHANG) == 0) { kill(r->pid, SIGKILL); waitpid(r->pid, &st, 0); }
  r->pid = 0;
}

int t_redis_cmd(int port, const char *password, char *out, size_t outlen, const char *fmt, ...) {
  redisContext *c = redisConnect("127.0.0.1", port);
  if (!c || c->err) { redisFree(c); return -1; }
  if (password) {
    redisReply *a = redisCommand(c, "AUTH %s", password);
    freeReplyObject(a);
  }
  va_list ap;
  va_start(ap, fmt);
  redisReply *x = redisvCommand(c, fmt, ap);
  va_end(ap);
  int rc = x ? 0 : -1;
  if (out && outlen) {
    out[0] = '\0';
    if (x && (x->type == REDIS_REPLY_STRING || x->type == REDIS_REPLY_STATUS || x->type == REDIS_REPLY_ERROR))
      snprintf(out, outlen, "%s", x->str);
    else if (x && x->type == REDIS_REPLY_INTEGER) snprintf(out, outlen, "%lld", x->integer);
  }
  freeReplyObject(x);
  redisFree(c);
  return rc;
}

int t_report(const char *name) {
  printf("%s: %d checks, %d failed\n", name, t_checks, t_failures);
  return t_failures ? 1 : 0;
}
