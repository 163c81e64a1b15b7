/*
** autolua.digest: md5 and sha256 as lowercase hex, from OpenSSL's libcrypto (Dexi's access
** hash is an MD5; downloads are checked with SHA-256).
*/
#include <openssl/evp.h>
#include <lauxlib.h>
#include "modules.h"

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

static int hexdigest(lua_State *L, const EVP_MD *md) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_Digest(s, n, out, &len, md, NULL)) return luaL_error(L, "digest failed");
  return pushhex(L, out, len);
}

static int l_md5(lua_State *L) { return hexdigest(L, EVP_md5()); }
static int l_sha256(lua_State *L) { return hexdigest(L, EVP_sha256()); }

/* digest.sha256_file(path) -> hex, or nil and a message */
static int l_sha256_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  FILE *f = fopen(path, "rb");
  if (!f) return luaL_fileresult(L, 0, path);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  unsigned char buf[65536], out[EVP_MAX_MD_SIZE];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
  int bad = ferror(f);
  fclose(f);
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, out, &len);
  EVP_MD_CTX_free(ctx);
  if (bad) return luaL_fileresult(L, 0, path);
  return pushhex(L, out, len);
}

int luaopen_autolua_digest(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"md5", l_md5}, {"sha256", l_sha256}, {"sha256_file", l_sha256_file}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
