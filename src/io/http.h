/*
** The HTTP core: one curl multi handle driven by libev through the socket and timer callbacks.
** No Lua here: a request reports through its 'notify' function, which only marks work to do.
** HTTP-CORE.md (in the design notes) lists the pitfalls this file avoids.
*/
#ifndef AUTOLUA_HTTP_H
#define AUTOLUA_HTTP_H

#include "curlapi.h"
#include <ev.h>
#include "buf.h"
#include "castore.h"

typedef struct al_req al_req;

/* Seconds without a byte either way, once the request is sent, after which a request without a
** timeout fails (see al_req.stall). */
#define AL_STALL_DEFAULT 60L

/* Seconds a request may take to get its connection up, from the moment it opened a socket
** (al_http.connect_timeout; http.configure sets it). */
#define AL_CONNECT_TIMEOUT 30.0

typedef enum { AL_SINK_MEMORY, AL_SINK_FILE, AL_SINK_STREAM } al_sink;
typedef enum { AL_REQ_DATA, AL_REQ_DONE } al_req_event;

struct al_http {
  struct ev_loop *loop;
  CURLM *multi;
  ev_timer timer;
  int running;
  al_req *pool[64];        /* finished requests with their easy handles, kept for reuse */
  int npool;
  al_req *live;            /* every request handed out and not yet freed: freed at exit */
  long max_connections;    /* open connections at most; more transfers wait in libcurl's queue */
  ev_timer watchdog;       /* once a second while a request connects or may stall */
  double connect_timeout;  /* seconds from a request's first socket to its connection up */
  int proxy_env;           /* the environment named a proxy as the core started */
  struct sockw **socks;     /* the watcher of each descriptor libcurl has used, by number */
  size_t nsocks;
  al_castore *ca;          /* the CA stores new TLS connections share (NULL: libcurl loads) */
  /* Header lists the caller shares between its requests (lhttp.c: the defaults), built once
  ** and freed with the core. */
  struct curl_slist *shared_headers[3];
};
typedef struct al_http al_http;

struct al_req {
  al_http *h;
  CURL *easy;
  struct curl_slist *headers;
  al_sink sink;
  al_buf body;             /* memory sink, pending stream chunks, or a non-2xx answer's body */
  al_buf head;             /* raw header lines of the last response */
  long status;             /* from the last status line seen */
  curl_off_t bytes;        /* body bytes delivered to the sink */
  CURLcode result;
  int done, paused, in_multi;
  int sys_errno;           /* why a file write failed */
  int ca_bad;              /* the CA store could not be built (al_castore_install's answer) */
  curl_off_t expect;       /* file sink: the size the body must have, or -1 */
  long stall;              /* fail after this many seconds without a byte either way (0: never) */
  curl_off_t activity, seen;   /* header and body bytes received; what the watchdog saw last */
  double quiet_since;      /* when the watchdog last saw the request make progress */
  double opened_at;        /* when its connect clock started, at its first socket (0: none yet: it
                           ** reuses or waits; or connected, the watchdog done with it) */
  int size_mismatch;       /* the body arrived whole but with another size than 'expect' */
  curl_off_t max_body;     /* the most body bytes taken (decoded), or -1 */
  int over;                /* stopped: 1 the body passed 'expect', 2 it passed 'max_body' */
  int fd;                  /* file sink: the temporary file */
  int keep_existing;       /* file sink: fail (EEXIST) rather than replace a file at the path */
  char *path, *tmp;
  size_t stream_max;       /* stream sink: pause when this much is waiting */
  void (*notify)(al_req *r, al_req_event ev);
  void *ud;
  unsigned ud_token;       /* the caller's, with 'ud' (lhttp.c: the park its task waits in) */
  al_req *prev, *next;
  /* What the easy handle was last set to, so a reused request sets only what changed. */
  long o_timeout, o_fresh, o_bufsize;
  char *o_ca;              /* the CA file the handle trusts (NULL: the default store) */
  const void *o_headers;
  char *o_url;             /* the URL the handle has (when o_url_set), in a buffer kept for reuse */
  size_t o_url_len, o_url_cap;   /* its length with the NUL; the buffer's size */
  int o_url_set;
  CURLU *uh;               /* o_url parsed, for CURLOPT_CURLU (al_req_set_url) */
  int o_plain;             /* a plain GET without body: no method options to undo */
  char errbuf[CURL_ERROR_SIZE];
};

/* NULL with the reason in 'err' when libcurl cannot be loaded or started. */
al_http *al_http_new(struct ev_loop *loop, char *err, size_t n);
/* Caps the open connections (and sizes the idle cache to match); 0 restores the default, which
** leaves half the descriptors RLIMIT_NOFILE allows to files, pipes and the rest. */
void al_http_set_max_connections(al_http *h, long n);
/* Seconds a connection may take (see AL_CONNECT_TIMEOUT); <= 0 restores the default. */
void al_http_set_connect_timeout(al_http *h, double seconds);
/* Aborts every request still running (their temporary files are removed) and frees the core. */
void al_http_free(al_http *h);

/* A request with an easy handle carrying the options every request shares. Until
** al_req_free it is on the core's list, so even one stranded by an error is freed at exit. */
al_req *al_req_new(al_http *h);
/* Streams the answer into 'path' through a temporary file beside it; -1 and errno on failure. */
int al_req_sink_file(al_req *r, const char *path);
void al_req_start(al_req *r);
/* Lets a paused stream transfer go on once its chunks were consumed. */
void al_req_resume(al_req *r);
/* The option cache as libcurl has it right after setup (see al_req.o_*). */
void al_req_forget_options(al_req *r);

/* Stops a request if running, removes its temporary file, frees it (keeping it for reuse). */
void al_req_free(al_req *r);
/* Prepares the same request object for another transfer (a followed redirect). */
void al_req_rearm(al_req *r);
/* Sets the URL to fetch, parsed for libcurl (CURLOPT_CURLU); a pooled handle that has it
** already sets nothing. */
void al_req_set_url(al_req *r, const char *url);
/* Points the handle at a CA file (NULL: the default store); -1 when out of memory. */
int al_req_set_ca(al_req *r, const char *ca);

#endif
