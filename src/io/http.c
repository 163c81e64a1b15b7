/*
** The HTTP core (see http.h).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include "http.h"
#include "tmpfile.h"

#define NOTE_DATA_MAX (256 * 1024)   /* stream sinks pause past this much unread data */
#define ERROR_BODY_MAX (1024 * 1024) /* a non-2xx body kept in memory with a sink, at most */

typedef struct sockw { ev_io io; al_http *h; int events; } sockw;

static void drain(al_http *h);

/* {====================================================== loop glue */

static void action(al_http *h, curl_socket_t fd, int flags) {
  CURLMcode rc = curl_multi_socket_action(h->multi, fd, flags, &h->running);
  if (rc != CURLM_OK) fprintf(stderr, "autolua: curl_multi_socket_action: %s\n", curl_multi_strerror(rc));
  drain(h);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents) {
  (void)loop;
  sockw *s = (sockw *)w;
  int flags = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0) |
              (revents & EV_ERROR ? CURL_CSELECT_ERR : 0);
  action(s->h, w->fd, flags);   /* 's' may be freed inside: nothing reads it after */
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop; (void)revents;
  action(w->data, CURL_SOCKET_TIMEOUT, 0);
}

/* The watcher record of descriptor 'fd', made on its first use and kept, by descriptor number:
** a kept-alive connection goes out of libcurl's sight (CURL_POLL_REMOVE) after every transfer
** and back at the next, and a record made and freed each time, with libcurl's own per-socket
** pointer (curl_multi_assign, a hash insertion), cost a flood ~250 instructions a request. */
static sockw *sock_of(al_http *h, curl_socket_t fd) {
  if (fd < 0) return NULL;
  if ((size_t)fd >= h->nsocks) {
    size_t n = h->nsocks ? h->nsocks : 64;
    while (n <= (size_t)fd) n *= 2;
    sockw **p = realloc(h->socks, n * sizeof *p);
    if (!p) return NULL;
    memset(p + h->nsocks, 0, (n - h->nsocks) * sizeof *p);
    h->socks = p;
    h->nsocks = n;
  }
  if (!h->socks[fd] && (h->socks[fd] = calloc(1, sizeof **h->socks)) != NULL) h->socks[fd]->h = h;
  return h->socks[fd];
}

/* curl tells which events it wants on a socket. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp) {
  (void)e; (void)sockp;
  al_http *h = userp;
  sockw *s = sock_of(h, fd);
  if (!s) return 0;           /* never -1: that would abort every transfer */
  int events = what == CURL_POLL_REMOVE ? 0 :
               (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
  if (ev_is_active(&s->io)) {
    if (s->events == events) return 0;
    ev_io_stop(h->loop, &s->io);
  }
  s->events = events;
  if (!events) return 0;
  ev_io_init(&s->io, on_io, fd, events);
  ev_io_start(h->loop, &s->io);
  return 0;
}

/* One timer for the whole multi handle; a new value replaces the old, -1 removes it. Zero is
** honoured by a 0 s timer, never by calling curl from inside its own callback. */
static int on_timer(CURLM *m, long ms, void *userp) {
  (void)m;
  al_http *h = userp;
  ev_timer_stop(h->loop, &h->timer);
  if (ms >= 0) {
    ev_timer_set(&h->timer, (double)ms / 1000.0, 0.);
    ev_timer_start(h->loop, &h->timer);
  }
  return 0;
}

/* }====================================================== */

/* {====================================================== requests */

static void link_live(al_req *r) {
  r->next = r->h->live;
  r->prev = NULL;
  if (r->next) r->next->prev = r;
  r->h->live = r;
}

static void unlink_live(al_req *r) {
  if (r->prev) r->prev->next = r->next; else if (r->h->live == r) r->h->live = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

static void drop_tmp(al_req *r) {
  if (r->fd >= 0) { close(r->fd); r->fd = -1; }
  if (r->tmp) { unlink(r->tmp); free(r->tmp); r->tmp = NULL; }
}

/* Renames 'tmp' to 'path'; with 'keep', a file that appeared at 'path' meanwhile stays and this
** fails with EEXIST (a hard link cannot replace; where the file system has none, a rename). */
static int place(const char *tmp, const char *path, int keep) {
  if (!keep) return rename(tmp, path);
  if (link(tmp, path) == 0) { unlink(tmp); return 0; }
  if (errno == EEXIST) return -1;
  return rename(tmp, path);
}

/* A file sink is renamed into place only when the whole 2xx body arrived. */
static void settle_file(al_req *r) {
  if (r->sink != AL_SINK_FILE || r->fd < 0) return;
  int ok = r->result == CURLE_OK && r->status >= 200 && r->status < 300;
  if (ok && r->expect >= 0 && r->bytes != r->expect) { r->size_mismatch = 1; ok = 0; }
  if (ok && al_tmp_seal(r->fd) != 0) { r->sys_errno = errno; ok = 0; r->result = CURLE_WRITE_ERROR; }
  if (!ok) { drop_tmp(r); return; }
  if (close(r->fd) != 0) { r->sys_errno = errno; ok = 0; r->result = CURLE_WRITE_ERROR; }
  r->fd = -1;
  if (ok && place(r->tmp, r->path, r->keep_existing) != 0) { r->sys_errno = errno; r->result = CURLE_WRITE_ERROR; ok = 0; }
  if (ok) { free(r->tmp); r->tmp = NULL; }
  else drop_tmp(r);
}

static void complete(al_req *r, CURLcode result) {
  curl_multi_remove_handle(r->h->multi, r->easy);
  r->in_multi = 0;
  r->result = result;
  /* libcurl's "error signaled by ssl ctx callback" replaced by what its own load would say */
  if (r->ca_bad > 0) al_castore_describe(r->h->ca, r->o_ca, r->ca_bad, r->errbuf, sizeof r->errbuf);
  settle_file(r);
  r->done = 1;
  if (r->notify) r->notify(r, AL_REQ_DONE);
}

static void drain(al_http *h) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE) continue;
    CURLcode result = m->data.result;   /* 'm' dies with the handle's removal */
    al_req *r = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    if (r) complete(r, result);
  }
}

static int is2xx(long status) { return status >= 200 && status < 300; }

static size_t write_file(al_req *r, const char *p, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(r->fd, p + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      r->sys_errno = errno;
      return 0;               /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    done += (size_t)n;
  }
  return len;
}

/* Whether 'len' more body bytes pass the size the body must have (a pointer's) or the most
** the caller takes. Checked as the bytes come, after decoding: a body that lies about its size
** or a compressed bomb stops at the cap instead of filling the disk or the memory. */
static int over_cap(al_req *r, size_t len) {
  curl_off_t after = r->bytes + (curl_off_t)len;
  if (r->expect >= 0 && after > r->expect) r->over = 1;
  else if (r->max_body >= 0 && after > r->max_body) r->over = 2;
  return r->over;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
  al_req *r = ud;
  size_t len = size * nmemb;
  r->activity += (curl_off_t)len;
  if ((r->sink == AL_SINK_MEMORY || is2xx(r->status)) && over_cap(r, len)) return 0;
  if (r->sink == AL_SINK_MEMORY || !is2xx(r->status)) {
    size_t keep = len;
    if (r->sink != AL_SINK_MEMORY && r->body.len + keep > ERROR_BODY_MAX)
      keep = r->body.len < ERROR_BODY_MAX ? ERROR_BODY_MAX - r->body.len : 0;
    if (al_buf_add(&r->body, p, keep) != 0) { r->sys_errno = ENOMEM; return 0; }
    if (r->sink == AL_SINK_MEMORY) r->bytes += (curl_off_t)len;
    return len;
  }
  if (r->sink == AL_SINK_FILE) {
    size_t n = write_file(r, p, len);
    r->bytes += (curl_off_t)n;
    return n;
  }
  if (r->body.len >= r->stream_max) {   /* the reader is behind: wait for it */
    r->paused = 1;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (al_buf_add(&r->body, p, len) != 0) { r->sys_errno = ENOMEM; return 0; }
  r->bytes += (curl_off_t)len;
  if (r->notify) r->notify(r, AL_REQ_DATA);
  return len;
}

/* The code of a status line ("HTTP/1.1 200 OK", "HTTP/2 200"), 0 when it has none: strtol's
** answer for the digits after the first space, read here without its locale and sign work. */
static long status_of(const char *p, size_t len) {
  const char *sp = memchr(p, ' ', len), *end = p + len;
  if (!sp) return 0;
  while (++sp < end && (*sp == ' ' || *sp == '\t')) {}
  long code = 0;
  for (int n = 0; sp < end && *sp >= '0' && *sp <= '9' && n < 9; sp++, n++) code = code * 10 + (*sp - '0');
  return code;
}

/* Keeps the header lines of the last response only: a new status line starts over, so the
** headers of a 100 Continue or of an intermediate response never mix in. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  al_req *r = ud;
  size_t len = size * nmemb;
  r->activity += (curl_off_t)len;
  if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
    al_buf_reset(&r->head);
    r->status = status_of(p, len);
    return len;
  }
  if (al_buf_add(&r->head, p, len) != 0) return 0;
  return len;
}

static void arm_watchdog(al_http *h);

/* libcurl's own socket(), but a request learns why it failed: out of descriptors (EMFILE) is
** no refused connection. Runs only when a new connection opens, which starts the request's
** connect clock (the watchdog below). */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
  (void)purpose;
  al_req *r = ud;
#ifdef SOCK_CLOEXEC
  curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);   /* not to children */
#else
  curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
#endif
  if (fd == CURL_SOCKET_BAD && (errno == EMFILE || errno == ENFILE)) r->sys_errno = errno;
  if (fd != CURL_SOCKET_BAD && r->opened_at == 0) {
    r->opened_at = ev_now(r->h->loop);
    arm_watchdog(r->h);            /* the connect timeout */
  }
  return fd;
}

/* A new TLS connection gets the cached store of the handle's trust (castore.h); runs before
** libcurl's own (now empty) load, which then only adds the CA path already in the store. */
static CURLcode on_ssl_ctx(CURL *e, void *ssl_ctx, void *ud) {
  (void)e;
  al_req *r = ud;
  int why = al_castore_install(r->h->ca, r->o_ca, ssl_ctx);
  al_castore_keep_buffers(ssl_ctx);
  if (why == 0) return CURLE_OK;
  r->ca_bad = why;
  return why < 0 ? CURLE_OUT_OF_MEMORY : CURLE_SSL_CACERT_BADFILE;
}

/* Whether the environment names a proxy for libcurl: the variables it reads for an http or
** https transfer (lib/url.c, detect_proxy and the no_proxy check; it never reads HTTP_PROXY). */
static int proxy_in_env(void) {
  static const char *const names[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                      "ALL_PROXY", "no_proxy", "NO_PROXY"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (getenv(names[i])) return 1;
  return 0;
}

/* Options every transfer shares, set once per easy handle: a pooled handle keeps them, so a
** request only sets what is its own (lhttp.c sets every such option each time). */
static void setup_common(al_http *h, CURL *e) {
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  /* Turns decoding on. The Accept-Encoding and User-Agent lines themselves come from
  ** lhttp.c's header lists: libcurl formats a line it makes twice, a byte at a time. */
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);              /* wait to learn whether HTTP/2 multiplexes */
  /* Without a proxy option libcurl looks these variables up again for every transfer: up to
  ** six getenv() scans of the whole environment, ~2 000 instructions a request. When none was
  ** set as the core started, "no proxy" said here is what it would conclude anyway. */
  if (!h->proxy_env) {
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "");
  }
  /* With the cache, libcurl's own load of the CA file is off (its CA path stays, as the
  ** trust's name for reuse: al_castore_key), and so is its store cache, which would hand a
  ** connection the last store it kept whatever the connection's trust. */
  if (h->ca) {
    curl_easy_setopt(e, CURLOPT_CAINFO, (char *)NULL);
#if LIBCURL_VERSION_NUM >= 0x075700
    curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L);
#endif
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
  }
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

/* The pointers into this request that libcurl calls back with: set once for a request and
** its handle, which stay together in the pool. */
static void setup_request(al_req *r) {
  CURL *e = r->easy;
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, r);
  al_req_forget_options(r);
}

void al_req_forget_options(al_req *r) {
  r->o_timeout = r->o_fresh = 0;
  r->o_bufsize = CURL_MAX_WRITE_SIZE;
  r->o_headers = NULL;
  r->o_plain = 1;
  r->o_url_set = 0;
}

static al_req *fresh_req(al_http *h) {
  al_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->easy = curl_easy_init();
  if (!r->easy) { free(r); return NULL; }
  setup_common(h, r->easy);
  setup_request(r);
  return r;
}

/* Empties a finished request for its next use; the handle, its options and the buffers'
** memory stay (a buffer grown past 64 KiB is let go). */
static void recycle(al_req *r) {
  if (r->body.cap > 65536) al_buf_free(&r->body); else al_buf_reset(&r->body);
  if (r->head.cap > 65536) al_buf_free(&r->head); else al_buf_reset(&r->head);
  r->sink = AL_SINK_MEMORY;
  r->status = 0;
  r->bytes = 0;
  r->result = CURLE_OK;
  r->done = r->paused = r->in_multi = r->size_mismatch = r->over = r->keep_existing = 0;
  r->sys_errno = r->ca_bad = 0;
  r->notify = NULL;
  r->ud = NULL;
  r->activity = 0;
  r->stall = 0;
  r->opened_at = 0;
  r->errbuf[0] = 0;
}

al_req *al_req_new(al_http *h) {
  al_req *r = h->npool > 0 ? h->pool[--h->npool] : fresh_req(h);
  if (!r) return NULL;
  r->h = h;
  r->fd = -1;
  r->stream_max = NOTE_DATA_MAX;
  r->expect = -1;
  r->max_body = -1;
  link_live(r);
  return r;
}

int al_req_sink_file(al_req *r, const char *path) {
  char *tmp = NULL, *dst = strdup(path);
  if (!dst) { errno = ENOMEM; return -1; }
  int fd = al_tmp_open(path, &tmp);
  if (fd < 0) { int e = errno; free(dst); errno = e; return -1; }
  r->sink = AL_SINK_FILE;
  r->fd = fd;
  r->tmp = tmp;
  free(r->path);
  r->path = dst;
  return 0;
}

/* {====================================================== the watchdog: connect and stall */

/* libcurl's own stall detector (CURLOPT_LOW_SPEED_*) and its connect timeout arm a timer for
** every transfer, on a kept-alive connection too: together about 3 % of a flood's instructions.
** This watchdog looks at the running requests once a second instead.
** - Connect: a request that opened a socket and has not sent its request connect_timeout
**   seconds later fails, as libcurl's CURLOPT_CONNECTTIMEOUT would (name resolution keeps
**   libcurl's own bound). Waiting for a connection under the cap, or for another request's
**   HTTP/2 connection, opens no socket: no clock runs, as in libcurl, where such a transfer is
**   pending and not connecting.
** - Stall: a request counts as quiet only once it was sent and while it is not paused by its
**   reader. */
static void check_connect(al_req *r, double now) {
  if (r->opened_at > 0 && now - r->opened_at >= r->h->connect_timeout) {
    snprintf(r->errbuf, sizeof r->errbuf, "Connection timed out after %g s", r->h->connect_timeout);
    complete(r, CURLE_OPERATION_TIMEDOUT);
  }
}

static void check_stall(al_req *r, curl_off_t progress, double now) {
  if (progress != r->seen || r->paused) {
    r->seen = progress;
    r->quiet_since = now;
  } else if (now - r->quiet_since >= (double)r->stall) {
    snprintf(r->errbuf, sizeof r->errbuf, "the server sent nothing for %ld s (stalled)", r->stall);
    complete(r, CURLE_OPERATION_TIMEDOUT);
  }
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  al_http *h = w->data;
  double now = ev_now(loop);
  int watching = 0;
  for (al_req *r = h->live, *next; r; r = next) {
    next = r->next;
    if (!r->in_multi || r->done || (r->stall <= 0 && r->opened_at == 0)) continue;
    watching = 1;
    curl_off_t sent = 0, pretransfer = 0, progress = r->activity;
    curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &sent);
    progress += sent;
    if (progress == 0) curl_easy_getinfo(r->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    if (progress == 0 && pretransfer == 0) {   /* not sent yet: connecting, or waiting */
      r->quiet_since = now;
      check_connect(r, now);
    } else if (r->stall > 0) {
      check_stall(r, progress, now);
    } else {
      r->opened_at = 0;                        /* connected: nothing left to watch */
    }
  }
  if (!watching) { ev_ref(loop); ev_timer_stop(loop, w); }
}

static void arm_watchdog(al_http *h) {
  if (!ev_is_active(&h->watchdog)) {
    ev_timer_again(h->loop, &h->watchdog);
    ev_unref(h->loop);            /* it never keeps the loop alive by itself */
  }
}

static void watch(al_req *r) {
  r->seen = -1;
  r->quiet_since = ev_now(r->h->loop);
  arm_watchdog(r->h);
}

/* }====================================================== */

void al_req_start(al_req *r) {
  r->in_multi = 1;
  if (r->stall > 0) watch(r);
  curl_multi_add_handle(r->h->multi, r->easy);   /* schedules its own 0 ms kick-off */
}

void al_req_resume(al_req *r) {
  if (r->paused && r->in_multi) {
    r->paused = 0;
    curl_easy_pause(r->easy, CURLPAUSE_CONT);
  }
}

static void stop(al_req *r) {
  if (r->in_multi) {
    curl_multi_remove_handle(r->h->multi, r->easy);
    r->in_multi = 0;
  }
}

/* Back to the options of a new handle; connections and TLS sessions stay. */
static void reset_handle(al_req *r) {
  curl_easy_reset(r->easy);
  setup_common(r->h, r->easy);
  setup_request(r);
  free(r->o_ca);
  r->o_ca = NULL;
}

void al_req_rearm(al_req *r) {
  stop(r);
  drop_tmp(r);
  al_buf_reset(&r->body);
  al_buf_reset(&r->head);
  r->status = 0;
  r->bytes = 0;
  r->done = r->paused = r->size_mismatch = r->over = 0;
  r->result = CURLE_OK;
  r->activity = 0;
  r->opened_at = 0;
  r->ca_bad = 0;
  r->errbuf[0] = 0;
  reset_handle(r);
}

/* An IPv6 address with a zone ("http://[fe80::1%25eth0]/"): libcurl 7.88 drops the zone when
** it copies a parsed URL for a transfer (curl_url_dup), so such a URL goes as text. */
static int has_zone(const char *url) {
  const char *a = strstr(url, "://");
  if (!a) return 0;
  a += 3;
  size_t n = strcspn(a, "/?#");
  const char *b = memchr(a, '[', n);
  return b && memchr(b, '%', n - (size_t)(b - a)) != NULL;
}

/* Parses 'url' into the request's URL handle as libcurl would parse it itself: 0, or -1 when
** the parser refuses it, the handle would lose part of it, or no handle can be made. */
static int parse_url(al_req *r, const char *url) {
  if (has_zone(url)) return -1;
  if (!r->uh && !(r->uh = curl_url())) return -1;
  curl_url_set(r->uh, CURLUPART_URL, NULL, 0);    /* empty first: nothing resolves against the last URL */
  return curl_url_set(r->uh, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK ? 0 : -1;
}

/* Given a URL as text, libcurl (7.88) parses it again for every transfer, then prints it back
** a byte at a time: ~11 700 instructions a request, over a tenth of an HTTPS request. Given
** it parsed (CURLOPT_CURLU), libcurl only copies the parts. So the URL is parsed here, and only
** when it changes: a handle fetching the URL it fetched last (a poll, a flood, a paged
** endpoint's first page) sets nothing at all. The text goes too, as what libcurl reports and
** reads when the handle is not used. A URL the parser refuses goes as text alone, and the
** transfer fails with libcurl's own error for it, as before. */
void al_req_set_url(al_req *r, const char *url) {
  size_t n = strlen(url) + 1;
  if (r->o_url_set && r->o_url_len == n && memcmp(r->o_url, url, n) == 0) return;
  curl_easy_setopt(r->easy, CURLOPT_CURLU, parse_url(r, url) == 0 ? r->uh : NULL);
  curl_easy_setopt(r->easy, CURLOPT_URL, url);
  r->o_url_set = 0;
  if (n > r->o_url_cap) {
    char *p = realloc(r->o_url, n);
    if (!p) return;            /* set anyway; only the next comparison is lost */
    r->o_url = p;
    r->o_url_cap = n;
  }
  memcpy(r->o_url, url, n);
  r->o_url_len = n;
  r->o_url_set = 1;
}

/* With the store cache the handle's trust is only named, by its CA path (al_castore_key). */
static int set_ca_key(al_req *r, const char *ca) {
  char *copy = NULL, *key;
  if (ca && !(copy = strdup(ca))) return -1;
  if (al_castore_key(r->h->ca, ca, &key) != 0) { free(copy); return -1; }
  curl_easy_setopt(r->easy, CURLOPT_CAPATH, key);
  free(key);
  free(r->o_ca);
  r->o_ca = copy;
  return 0;
}

/* A CA file stays set on the pooled handle, so requests naming the same file (the usual case)
** set nothing; without the store cache, only a return to the default store needs the reset
** that alone undoes it. */
int al_req_set_ca(al_req *r, const char *ca) {
  if (ca ? (r->o_ca && strcmp(ca, r->o_ca) == 0) : !r->o_ca) return 0;
  if (r->h->ca) return set_ca_key(r, ca);
  if (!ca) { reset_handle(r); return 0; }
  char *copy = strdup(ca);
  if (!copy) return -1;
  curl_easy_setopt(r->easy, CURLOPT_CAINFO, ca);
  free(r->o_ca);
  r->o_ca = copy;
  return 0;
}

static void destroy(al_req *r) {
  curl_easy_cleanup(r->easy);
  curl_url_cleanup(r->uh);
  free(r->o_ca);
  free(r->o_url);
  al_buf_free(&r->body);
  al_buf_free(&r->head);
  free(r);
}

void al_req_free(al_req *r) {
  if (!r) return;
  stop(r);
  drop_tmp(r);
  free(r->path);
  r->path = NULL;
  if (r->headers) {
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    r->o_headers = NULL;       /* the handle pointed at it: set the next list whatever it is */
  }
  al_http *h = r->h;
  unlink_live(r);
  recycle(r);
  if (h->npool < (int)(sizeof h->pool / sizeof h->pool[0])) h->pool[h->npool++] = r;
  else destroy(r);
}

/* }====================================================== */

/* Half the descriptors the process may open, less a few for stdio and the loop: the rest is
** for sink files, pipes and whatever the script opens. Without a cap, 10 000 requests at once
** fail with EMFILE instead of waiting their turn. */
static long default_max_connections(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1L << 20)
    return 1L << 19;
  long n = ((long)rl.rlim_cur - 16) / 2;
  return n < 1 ? 1 : n;
}

void al_http_set_connect_timeout(al_http *h, double seconds) {
  h->connect_timeout = seconds > 0 ? seconds : AL_CONNECT_TIMEOUT;
}

void al_http_set_max_connections(al_http *h, long n) {
  h->max_connections = n > 0 ? n : default_max_connections();
  curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, h->max_connections);
  /* the idle cache as large as the cap: by default libcurl keeps 4 per easy handle present
  ** when a transfer ends, and closes connections a flood is about to need again */
  curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, h->max_connections);
}

al_http *al_http_new(struct ev_loop *loop, char *err, size_t n) {
  if (al_curl_load(err, n) != 0) return NULL;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(err, n, "curl_global_init failed");
    return NULL;
  }
  al_http *h = calloc(1, sizeof *h);
  if (h) h->multi = curl_multi_init();
  if (!h || !h->multi) {
    free(h);
    snprintf(err, n, "cannot create a curl multi handle");
    return NULL;
  }
  h->loop = loop;
  h->proxy_env = proxy_in_env();
  /* libcurl's default CA file and path, for the store cache. Not with a proxy in the
  ** environment: libcurl calls the same SSL_CTX callback for an HTTPS proxy's own handshake,
  ** whose trust is the proxy options', so it loads by itself then, as before. */
  CURL *probe = h->proxy_env ? NULL : curl_easy_init();
  if (probe) {
    h->ca = al_castore_new(probe);
    curl_easy_cleanup(probe);
  }
  ev_timer_init(&h->timer, on_timeout, 0., 0.);
  h->timer.data = h;
  ev_timer_init(&h->watchdog, on_watchdog, 0., 1.);
  h->watchdog.data = h;
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  al_http_set_max_connections(h, 0);
  al_http_set_connect_timeout(h, 0);
  return h;
}

void al_http_free(al_http *h) {
  if (!h) return;
  while (h->live) al_req_free(h->live);
  /* the socket callback still fires during cleanup, so the loop must outlive it */
  curl_multi_cleanup(h->multi);
  ev_timer_stop(h->loop, &h->timer);
  if (ev_is_active(&h->watchdog)) { ev_ref(h->loop); ev_timer_stop(h->loop, &h->watchdog); }
  for (int i = 0; i < h->npool; i++) destroy(h->pool[i]);
  for (size_t i = 0; i < h->nsocks; i++) free(h->socks[i]);   /* stopped by curl's cleanup */
  free(h->socks);
  al_castore_free(h->ca);
  for (int i = 0; i < 3; i++) curl_slist_free_all(h->shared_headers[i]);
  free(h);
}
