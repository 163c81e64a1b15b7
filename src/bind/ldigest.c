/*
** autolua.digest: md5 and sha256 as lowercase hex, from OpenSSL's libcrypto (Dexi's access
** hash is an MD5; downloads are checked with SHA-256).
*/
#include <openssl/evp.h>
#include <lauxlib.h>
#include "modules.h"
#include "dynload.h"
#include "lerror.h"

/* libcrypto is opened on first use (dynload.h); these are the few functions needed.
** Process-wide, as dlopen is: the library and its symbols belong to the process, and any state
** of the process finds the same ones. */
static struct {
  int (*Digest)(const void *, size_t, unsigned char *, unsigned int *, const EVP_MD *, ENGINE *);
  const EVP_MD *(*md5)(void);
  const EVP_MD *(*sha256)(void);
  EVP_MD_CTX *(*CTX_new)(void);
  void (*CTX_free)(EVP_MD_CTX *);
  int (*Init)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
  int (*Update)(EVP_MD_CTX *, const void *, size_t);
  int (*Final)(EVP_MD_CTX *, unsigned char *, unsigned int *);
} evp;

static void load(lua_State *L) {
  static void *handle;
  static const al_sym syms[] = {
    {"EVP_Digest", (void **)&evp.Digest}, {"EVP_md5", (void **)&evp.md5},
    {"EVP_sha256", (void **)&evp.sha256}, {"EVP_MD_CTX_new", (void **)&evp.CTX_new},
    {"EVP_MD_CTX_free", (void **)&evp.CTX_free}, {"EVP_DigestInit_ex", (void **)&evp.Init},
    {"EVP_DigestUpdate", (void **)&evp.Update}, {"EVP_DigestFinal_ex", (void **)&evp.Final},
    {0, 0}};
  char err[256];
  if (al_dynload("libcrypto.so.3", &handle, syms, err, sizeof err) != 0) al_error_raise(L, "network", "%s", err);
}

static int pushhex(lua_State *L, const unsigned char *d, unsigned int len) {
  static const char digits[] = "0123456789abcdef";
  char hex[2 * EVP_MAX_MD_SIZE];
  for (unsigned int i = 0; i < len; i++) {
    hex[2 * i] = digits[d[i] >> 4];
    hex[2 * i + 1] = digits[d[i] & 15];
  }
  lua_pushlstring(L, hex, 2 * (size_t)len);
  return 1;
}

static int hexdigest(lua_State *L, const EVP_MD *(*which)(void), const char *fname) {
  const EVP_MD *md = which();
  size_t n;
  const char *s = al_checklstring(L, 1, &n, fname);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!evp.Digest(s, n, out, &len, md, NULL)) return al_error_raise(L, "network", "%s: libcrypto failed", fname);
  return pushhex(L, out, len);
}

static int l_md5(lua_State *L) { load(L); return hexdigest(L, evp.md5, "digest.md5"); }
static int l_sha256(lua_State *L) { load(L); return hexdigest(L, evp.sha256, "digest.sha256"); }

/* digest.sha256_file(path) -> hex, or nil and a message */
static int l_sha256_file(lua_State *L) {
  const char *path = al_checklstring(L, 1, NULL, "digest.sha256_file");
  load(L);
  FILE *f = fopen(path, "rb");
  if (!f) return luaL_fileresult(L, 0, path);
  EVP_MD_CTX *ctx = evp.CTX_new();
  evp.Init(ctx, evp.sha256(), NULL);
  unsigned char buf[65536], out[EVP_MAX_MD_SIZE];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) evp.Update(ctx, buf, n);
  int bad = ferror(f);
  fclose(f);
  unsigned int len = 0;
  evp.Final(ctx, out, &len);
  evp.CTX_free(ctx);
  if (bad) return luaL_fileresult(L, 0, path);
  return pushhex(L, out, len);
}

int luaopen_autolua_digest(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"md5", l_md5}, {"sha256", l_sha256}, {"sha256_file", l_sha256_file}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
