/*
** The cache of CA stores (see castore.h).
*/
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include "castore.h"
#include "dynload.h"

#define MAX_STORES 8   /* distinct trust settings kept; past that the oldest goes */

/* What a file or directory looked like when its store was built: a change means read again. */
typedef struct sig {
  int ok;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime, ctime;
} sig;

typedef struct entry {
  char *ca;               /* the 'ca_file' (NULL: libcurl's default file) */
  sig file, dir;
  X509_STORE *store;
} entry;

struct al_castore {
  char *file, *path;      /* libcurl's default CA file and CA path (path may be NULL) */
  entry e[MAX_STORES];
  int n;
};

/* OpenSSL, reached through pointers as libcurl is (dynload.h): process-wide, as the libraries. */
static struct {
  X509_STORE *(*store_new)(void);
  void (*store_free)(X509_STORE *);
  int (*load_file)(X509_STORE *, const char *);
  int (*load_path)(X509_STORE *, const char *);
  int (*set_flags)(X509_STORE *, unsigned long);
  void (*clear_error)(void);
  void (*set1_cert_store)(SSL_CTX *, X509_STORE *);
  long (*ctx_ctrl)(SSL_CTX *, int, long, void *);
} ossl;
static void *crypto_handle, *ssl_handle;

/* Only a library libcurl has loaded already: the same copy as its connections'. */
static int load_loaded(const char *soname, void **handle, const al_sym *syms) {
  char err[256];
  if (*handle) return 0;
  void *h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
  if (!h) return -1;
  int rc = al_dynload(soname, handle, syms, err, sizeof err);
  dlclose(h);
  return rc;
}

#define SYM(field, name) {name, (void **)&ossl.field}

static int load_openssl(void) {
  static const al_sym crypto[] = {
    SYM(store_new, "X509_STORE_new"), SYM(store_free, "X509_STORE_free"),
    SYM(load_file, "X509_STORE_load_file"), SYM(load_path, "X509_STORE_load_path"),
    SYM(set_flags, "X509_STORE_set_flags"), SYM(clear_error, "ERR_clear_error"), {0, 0}};
  static const al_sym ssl[] = {SYM(set1_cert_store, "SSL_CTX_set1_cert_store"),
                               SYM(ctx_ctrl, "SSL_CTX_ctrl"), {0, 0}};
  return load_loaded("libcrypto.so.3", &crypto_handle, crypto) == 0 &&
         load_loaded("libssl.so.3", &ssl_handle, ssl) == 0 ? 0 : -1;
}

al_castore *al_castore_new(CURL *probe) {
#if LIBCURL_VERSION_NUM >= 0x075400
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  if (!v || v->version_num < 0x075400 || !v->ssl_version || strncmp(v->ssl_version, "OpenSSL/3.", 10) != 0)
    return NULL;
  char *file = NULL, *path = NULL;
  if (curl_easy_getinfo(probe, CURLINFO_CAINFO, &file) != CURLE_OK || !file || !*file) return NULL;
  if (curl_easy_getinfo(probe, CURLINFO_CAPATH, &path) != CURLE_OK || (path && !*path)) return NULL;
  if (load_openssl() != 0) return NULL;
  al_castore *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->file = strdup(file);
  c->path = path ? strdup(path) : NULL;
  if (!c->file || (path && !c->path)) { al_castore_free(c); return NULL; }
  return c;
#else
  (void)probe;
  return NULL;
#endif
}

static void drop(entry *e) {
  if (e->store) ossl.store_free(e->store);
  free(e->ca);
  memset(e, 0, sizeof *e);
}

void al_castore_free(al_castore *c) {
  if (!c) return;
  for (int i = 0; i < c->n; i++) drop(&c->e[i]);
  free(c->file);
  free(c->path);
  free(c);
}

int al_castore_key(const al_castore *c, const char *ca_file, char **key) {
  *key = NULL;
  if (!ca_file) {
    if (c->path && !(*key = strdup(c->path))) return -1;
    return 0;
  }
  size_t n = (c->path ? strlen(c->path) + 1 : 0) + strlen(ca_file) + 1;
  if (!(*key = malloc(n))) return -1;
  snprintf(*key, n, "%s%s%s", c->path ? c->path : "", c->path ? ":" : "", ca_file);
  return 0;
}

static sig sig_of(const char *name) {
  struct stat st;
  sig s = {0};
  if (!name || stat(name, &st) != 0) return s;
  s.ok = 1;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime = st.st_mtim;
  s.ctime = st.st_ctim;
  return s;
}

static int same_time(struct timespec a, struct timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

static int same_sig(const sig *a, const sig *b) {
  if (a->ok != b->ok) return 0;
  return !a->ok || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                    same_time(a->mtime, b->mtime) && same_time(a->ctime, b->ctime));
}

static int same_ca(const char *a, const char *b) { return a ? b && strcmp(a, b) == 0 : !b; }

/* libcurl's load, into a new store: 0, or what failed (as al_castore_install). */
static int build(const al_castore *c, const char *ca_file, X509_STORE **out) {
  char *key;
  if (al_castore_key(c, ca_file, &key) != 0) return -1;
  X509_STORE *s = ossl.store_new();
  int why = !s ? -1 : !ossl.load_file(s, ca_file ? ca_file : c->file) ? 1 : key && !ossl.load_path(s, key) ? 2 : 0;
  free(key);
  if (why != 0) {
    ossl.clear_error();       /* OpenSSL's queue would leak into the next handshake's errors */
    if (s) ossl.store_free(s);
    return why;
  }
  ossl.set_flags(s, X509_V_FLAG_TRUSTED_FIRST);
  ossl.set_flags(s, X509_V_FLAG_PARTIAL_CHAIN);
  *out = s;
  return 0;
}

/* The entry for 'ca_file', up to date with its files, built or built again if needed. */
static int find(al_castore *c, const char *ca_file, entry **out) {
  sig file = sig_of(ca_file ? ca_file : c->file), dir = sig_of(c->path);
  entry *e = NULL;
  for (int i = 0; i < c->n && !e; i++)
    if (same_ca(c->e[i].ca, ca_file)) e = &c->e[i];
  if (e && same_sig(&e->file, &file) && same_sig(&e->dir, &dir)) { *out = e; return 0; }
  X509_STORE *s = NULL;
  int why = build(c, ca_file, &s);
  if (why != 0) return why;
  if (!e) {
    if (c->n == MAX_STORES) {          /* the oldest goes; connections keep their reference */
      drop(&c->e[0]);
      memmove(&c->e[0], &c->e[1], sizeof c->e[0] * (MAX_STORES - 1));
      memset(&c->e[--c->n], 0, sizeof c->e[0]);
    }
    e = &c->e[c->n];
    if (ca_file && !(e->ca = strdup(ca_file))) { ossl.store_free(s); return -1; }
    c->n++;
  } else {
    ossl.store_free(e->store);
  }
  e->store = s;
  e->file = file;
  e->dir = dir;
  *out = e;
  return 0;
}

int al_castore_install(al_castore *c, const char *ca_file, void *ssl_ctx) {
  entry *e;
  int why = find(c, ca_file, &e);
  if (why != 0) return why;
  ossl.set1_cert_store(ssl_ctx, e->store);   /* takes its own reference */
  return 0;
}

void al_castore_keep_buffers(void *ssl_ctx) {
  ossl.ctx_ctrl(ssl_ctx, SSL_CTRL_CLEAR_MODE, SSL_MODE_RELEASE_BUFFERS, NULL);
}

void al_castore_describe(const al_castore *c, const char *ca_file, int why, char *buf, size_t n) {
  if (why == 2) snprintf(buf, n, "error setting certificate path: %s", c->path);
  else snprintf(buf, n, "error setting certificate file: %s", ca_file ? ca_file : c->file);
}
