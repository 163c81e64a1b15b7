/*
** Unit tests of what castore.c does to a new TLS context (run by ctest, also under the
** sanitizers), against the OpenSSL libcurl loads: the record buffers libcurl sets to be released
** are kept, a store is handed over, and a CA file that cannot be read is named as such. Skipped
** (77) where the cache is not used: libcurl without OpenSSL 3, or older than 7.84.
*/
#include <stdio.h>
#include <string.h>
#include <openssl/ssl.h>
#include "castore.h"

static int failures, checks;

#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
  fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
  fputc('\n', stderr); } } while (0)

/* A context as libcurl 7.88 leaves it before its SSL_CTX callback (lib/vtls/openssl.c). */
static SSL_CTX *curl_like_ctx(void) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx) SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

static void test_keep_buffers(void) {
  SSL_CTX *ctx = curl_like_ctx();
  CHECK(ctx && (SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS), "libcurl's mode set");
  al_castore_keep_buffers(ctx);
  CHECK(!(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS), "buffers are kept");
  CHECK(SSL_CTX_get_mode(ctx) & SSL_MODE_AUTO_RETRY, "OpenSSL's own modes stay");
  SSL_CTX_free(ctx);
}

static void test_install(al_castore *c, const char *bundle) {
  SSL_CTX *ctx = curl_like_ctx();
  X509_STORE *before = SSL_CTX_get_cert_store(ctx);
  CHECK(al_castore_install(c, bundle, ctx) == 0, "the store for %s", bundle);
  CHECK(SSL_CTX_get_cert_store(ctx) != before, "a store handed over");
  X509_STORE *first = SSL_CTX_get_cert_store(ctx);
  SSL_CTX *again = curl_like_ctx();
  CHECK(al_castore_install(c, bundle, again) == 0 && SSL_CTX_get_cert_store(again) == first,
        "the same file: the same store, built once");
  CHECK(al_castore_install(c, "/nonexistent/ca.pem", again) == 1, "an unreadable file is 1");
  char msg[256];
  al_castore_describe(c, "/nonexistent/ca.pem", 1, msg, sizeof msg);
  CHECK(strstr(msg, "/nonexistent/ca.pem") != NULL, "the message names the file: %s", msg);
  SSL_CTX_free(again);
  SSL_CTX_free(ctx);
}

int main(int argc, char **argv) {
  char err[256];
  if (al_curl_load(err, sizeof err) != 0) { fprintf(stderr, "libcurl: %s\n", err); return 1; }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *probe = curl_easy_init();
  al_castore *c = probe ? al_castore_new(probe) : NULL;
  if (probe) curl_easy_cleanup(probe);
  if (!c) {
    printf("test_castore: libcurl keeps its own CA load here (not OpenSSL 3, or before 7.84): skipped\n");
    curl_global_cleanup();
    return 77;
  }
  test_keep_buffers();
  test_install(c, argc > 1 ? argv[1] : NULL);
  al_castore_free(c);
  curl_global_cleanup();
  printf("test_castore: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
