/* The floor: N GETs of one URL at concurrency C through one libcurl multi handle driven by
 * libev, with nothing else. Bodies are discarded, easy handles are reused (so are their
 * connections), there is no Lua. autolua stands on the same two libraries; whatever it spends
 * above this program is the cost of its own layers.
 *
 *   cc -O2 -o floor scripts/bench/floor.c -lcurl -lev
 *   floor URL N C [LINE...]  ->  "floor: N requests, B not 200, R requests/s, T s"
 *
 * For the TLS jobs: FLOOR_CA=FILE trusts that certificate, FLOOR_H2=1 asks for HTTP/2 and waits
 * to multiplex on one connection (CURLOPT_PIPEWAIT), FLOOR_FRESH=1 opens a fresh connection for
 * every request (cold-tls). FLOOR_CURLU=1 hands libcurl the URL parsed once (CURLOPT_CURLU),
 * as autolua does, instead of as text it parses and prints back for every transfer: a floor
 * for that way of using libcurl (scripts/bench/instr prints it; the timed jobs use the text).
 *
 * Each LINE is a request header line sent as is ("User-Agent: x"); an "Accept-Encoding:" line
 * also turns on decoding of that encoding, as autolua does. The bench runs the floor bare and
 * once more with autolua's own lines, so the two make the same request: libcurl (7.88) formats
 * every header byte one at a time, and two short lines cost it about 7 000 instructions.
 *
 * Written from libcurl's multi-socket API (curl_multi_socket_action, CURLMOPT_SOCKETFUNCTION,
 * CURLMOPT_TIMERFUNCTION) following the pattern of shared/design/HTTP-CORE.md: one non-repeating
 * ev_timer re-armed with the timeout as a double (0 arms a 0 s timer, curl is never called from
 * its own callback), CURL_CSELECT_* flags derived from libev's events (an error becomes
 * CURL_CSELECT_ERR), callbacks that never return -1, per-socket records found through
 * curl_multi_assign, completions drained after every socket_action whoever called it, the
 * result copied out of the CURLMsg before the handle is removed, and a handle re-added only
 * once socket_action has returned. */
#include <curl/curl.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct sock {              /* one socket libcurl asked us to watch */
  ev_io io;
  curl_socket_t fd;
  int what;                /* CURL_POLL_IN / OUT / INOUT as last armed */
};

static struct ev_loop *loop;
static CURLM *multi;
static ev_timer timer;
static long total, started, finished, not_ok, failed;
static int running;

static void check(CURLMcode rc, const char *where) {
  if (rc != CURLM_OK) {
    fprintf(stderr, "floor: %s: %s\n", where, curl_multi_strerror(rc));
    exit(1);
  }
}

/* Every finished transfer: count it, and start the next request on the same easy handle. */
static void drain(void) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL *easy = msg->easy_handle;
    CURLcode result = msg->data.result;      /* msg is invalid after remove_handle */
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    finished++;
    if (result != CURLE_OK) {
      failed++;
      if (failed <= 5) fprintf(stderr, "floor: %s\n", curl_easy_strerror(result));
    } else if (status != 200) {
      not_ok++;
    }
    check(curl_multi_remove_handle(multi, easy), "remove_handle");
    if (started < total) {
      started++;
      check(curl_multi_add_handle(multi, easy), "add_handle");   /* schedules a 0 ms timeout */
    }
  }
  if (finished == total) ev_break(loop, EVBREAK_ALL);
}

static void act(curl_socket_t fd, int flags) {
  check(curl_multi_socket_action(multi, fd, flags, &running), "socket_action");
  drain();
}

static void io_cb(struct ev_loop *l, ev_io *w, int revents) {
  (void)l;
  struct sock *s = w->data;
  int flags = 0;
  if (revents & EV_READ) flags |= CURL_CSELECT_IN;
  if (revents & EV_WRITE) flags |= CURL_CSELECT_OUT;
  if (revents & EV_ERROR) flags |= CURL_CSELECT_ERR;
  act(s->fd, flags);
}

static void timer_cb(struct ev_loop *l, ev_timer *w, int revents) {
  (void)l; (void)w; (void)revents;
  act(CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: one timer; a new value replaces the old, -1 deletes it. */
static int timer_fn(CURLM *m, long timeout_ms, void *userp) {
  (void)m; (void)userp;
  ev_timer_stop(loop, &timer);
  if (timeout_ms >= 0) {
    ev_timer_set(&timer, (double)timeout_ms / 1000.0, 0.0);
    ev_timer_start(loop, &timer);
  }
  return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-arm or forget one socket. */
static int socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)easy; (void)userp;
  struct sock *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      ev_io_stop(loop, &s->io);
      curl_multi_assign(multi, fd, NULL);
      free(s);
    }
    return 0;
  }
  int events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s) { fprintf(stderr, "floor: out of memory\n"); exit(1); }
    s->fd = fd;
    s->io.data = s;
    ev_io_init(&s->io, io_cb, fd, events);
    ev_io_start(loop, &s->io);
    curl_multi_assign(multi, fd, s);
  } else if (s->what != what || s->fd != fd) {
    ev_io_stop(loop, &s->io);
    s->fd = fd;
    ev_io_set(&s->io, fd, events);
    ev_io_start(loop, &s->io);
  }
  s->what = what;
  return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *u) {
  (void)p; (void)u;
  return size * n;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tls_options(CURL *e) {
  const char *ca = getenv("FLOOR_CA"), *h2 = getenv("FLOOR_H2"), *fresh = getenv("FLOOR_FRESH");
  if (ca && *ca) curl_easy_setopt(e, CURLOPT_CAINFO, ca);
  if (h2 && strcmp(h2, "1") == 0) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  }
  if (fresh && strcmp(fresh, "1") == 0) {
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: floor URL [N] [CONCURRENCY] [HEADER-LINE...]\n");
    return 2;
  }
  const char *url = argv[1];
  total = argc > 2 ? atol(argv[2]) : 20000;
  long conc = argc > 3 ? atol(argv[3]) : 64;
  if (total < 1 || conc < 1) { fprintf(stderr, "floor: N and CONCURRENCY must be positive\n"); return 2; }
  if (conc > total) conc = total;

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  loop = EV_DEFAULT;
  multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_fn);
  ev_init(&timer, timer_cb);

  struct curl_slist *lines = NULL;
  const char *encoding = NULL;
  for (int i = 4; i < argc; i++) {
    lines = curl_slist_append(lines, argv[i]);
    if (strncasecmp(argv[i], "Accept-Encoding:", 16) == 0) encoding = argv[i] + 16 + strspn(argv[i] + 16, " ");
  }

  /* libcurl only reads a CURLU (it copies it for each transfer): one serves every handle */
  CURLU *parsed = NULL;
  const char *curlu = getenv("FLOOR_CURLU");
  if (curlu && strcmp(curlu, "1") == 0) {
    parsed = curl_url();
    if (!parsed || curl_url_set(parsed, CURLUPART_URL, url, 0) != CURLUE_OK) {
      fprintf(stderr, "floor: cannot parse %s\n", url);
      return 1;
    }
  }

  CURL **easy = calloc((size_t)conc, sizeof *easy);
  for (long i = 0; i < conc; i++) {
    easy[i] = curl_easy_init();
    curl_easy_setopt(easy[i], CURLOPT_URL, url);
    if (parsed) curl_easy_setopt(easy[i], CURLOPT_CURLU, parsed);
    curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy[i], CURLOPT_PRIVATE, (void *)easy[i]);
    /* no SIGPIPE dance around every libcurl call (two sigaction()s each); autolua sets it too */
    curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
    if (lines) curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, lines);
    if (encoding) curl_easy_setopt(easy[i], CURLOPT_ACCEPT_ENCODING, encoding);
    tls_options(easy[i]);
  }

  double t0 = now();
  for (long i = 0; i < conc; i++) {
    started++;
    check(curl_multi_add_handle(multi, easy[i]), "add_handle");
  }
  ev_run(loop, 0);
  double dt = now() - t0;

  for (long i = 0; i < conc; i++) {
    curl_multi_remove_handle(multi, easy[i]);   /* a no-op for handles already removed */
  }
  curl_multi_cleanup(multi);                    /* may still call socket_fn: loop is alive */
  for (long i = 0; i < conc; i++) curl_easy_cleanup(easy[i]);
  curl_url_cleanup(parsed);
  free(easy);
  curl_slist_free_all(lines);
  ev_timer_stop(loop, &timer);
  curl_global_cleanup();

  printf("floor: %ld requests, %ld not 200, %ld failed, %.0f requests/s, %.3f s\n", finished, not_ok,
         failed, (double)finished / dt, dt);
  return (failed || not_ok) ? 1 : 0;
}
