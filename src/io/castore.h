/*
** The trust stores of new TLS connections, each built once and handed to every connection that
** trusts the same files. libcurl 7.88 (Debian's) reads its CA file again for every new TLS
** connection: it keeps a loaded store (CURLOPT_CA_CACHE_TIMEOUT) only when no CA path is set,
** and Debian's libcurl has one (/etc/ssl/certs). That is ~1.5 M instructions for a file of one
** certificate and ~238 M (~60 ms of CPU) for the system bundle, on every handshake.
**
** A store here is what libcurl's own load makes (lib/vtls/openssl.c, populate_x509_store, with
** OpenSSL 3): X509_STORE_load_file of the CA file (the request's 'ca_file', or libcurl's
** default bundle), X509_STORE_load_path of the CA path, X509_V_FLAG_TRUSTED_FIRST and
** X509_V_FLAG_PARTIAL_CHAIN (no CRL file is ever set). A store is built again when the file or
** the directory changed since (stat), as libcurl would have read them anew.
**
** Only with libcurl's OpenSSL 3 backend, already loaded by libcurl itself (the store must come
** from the very libcrypto libcurl's connections use), libcurl 7.84 or later (it tells its
** default CA file and path) and a default CA file; otherwise libcurl loads as before (and so it
** does with a proxy in the environment: http.c makes no cache then).
*/
#ifndef AUTOLUA_CASTORE_H
#define AUTOLUA_CASTORE_H

#include "curlapi.h"

typedef struct al_castore al_castore;

/* The cache, or NULL when libcurl must keep loading by itself (see above). 'probe' is an easy
** handle with libcurl's default options, asked for its default CA file and path. */
al_castore *al_castore_new(CURL *probe);
void al_castore_free(al_castore *c);

/* The CURLOPT_CAPATH a handle trusting 'ca_file' (NULL: the default store) carries, into *key
** (malloc'd; NULL when there is none to set); -1 when out of memory. libcurl matches a
** connection, and a TLS session, for reuse by the handle's CA options: with its CA file
** cleared, this path is what keeps apart connections verified with different trust. It is the
** default path, and for a 'ca_file' the default path and the file, "PATH:FILE" (X509's list of
** hash directories: the file adds no directory that could hold a certificate). */
int al_castore_key(const al_castore *c, const char *ca_file, char **key);

/* Hands the store for 'ca_file' (NULL: the default) to 'ssl_ctx' (an SSL_CTX *), building it
** first if needed: 0; 1 when the CA file cannot be read, 2 the CA path; -1 out of memory. */
int al_castore_install(al_castore *c, const char *ca_file, void *ssl_ctx);

/* Lets the connections of 'ssl_ctx' keep their record buffers between records. libcurl 7.88
** sets SSL_MODE_RELEASE_BUFFERS (lib/vtls/openssl.c), so OpenSSL frees a connection's ~17 KB
** read and write buffers whenever they empty and allocates them again for the next record:
** four large malloc/free pairs a request on a kept-alive connection, ~1 900 instructions and
** the cache misses of fresh memory. OpenSSL's own default keeps them; an idle connection then
** holds ~34 KB. Called from the same callback as al_castore_install, so only where the cache
** is in use (OpenSSL 3 under libcurl, no proxy in the environment). */
void al_castore_keep_buffers(void *ssl_ctx);

/* libcurl's own message for failure 'why' (1 or 2, from al_castore_install) into 'buf'. */
void al_castore_describe(const al_castore *c, const char *ca_file, int why, char *buf, size_t n);

#endif
