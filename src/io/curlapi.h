/*
** libcurl, reached through a table of functions filled by al_curl_load() on first use (see
** dynload.h). Files that talk to libcurl include this instead of <curl/curl.h>: the usual
** names keep working and call through the table.
*/
#ifndef AUTOLUA_CURLAPI_H
#define AUTOLUA_CURLAPI_H

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

typedef struct al_curl_api {
  CURLcode (*global_init)(long);
  void (*global_cleanup)(void);
  curl_version_info_data *(*version_info)(CURLversion);
  CURL *(*easy_init)(void);
  void (*easy_reset)(CURL *);
  void (*easy_cleanup)(CURL *);
  CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
  CURLcode (*easy_pause)(CURL *, int);
  const char *(*easy_strerror)(CURLcode);
  CURLM *(*multi_init)(void);
  CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
  CURLMcode (*multi_add_handle)(CURLM *, CURL *);
  CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
  CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
  CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
  CURLMsg *(*multi_info_read)(CURLM *, int *);
  CURLMcode (*multi_cleanup)(CURLM *);
  const char *(*multi_strerror)(CURLMcode);
  struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
  void (*slist_free_all)(struct curl_slist *);
  CURLU *(*url)(void);
  CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
  void (*url_cleanup)(CURLU *);
} al_curl_api;

extern al_curl_api al_curl;

/* Loads libcurl if not loaded yet: 0, or -1 with why in 'err'. */
int al_curl_load(char *err, size_t n);

/* curl.h wraps these three in function-like macros of its own */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt

#define curl_global_init al_curl.global_init
#define curl_global_cleanup al_curl.global_cleanup
#define curl_version_info al_curl.version_info
#define curl_easy_init al_curl.easy_init
#define curl_easy_reset al_curl.easy_reset
#define curl_easy_cleanup al_curl.easy_cleanup
#define curl_easy_setopt al_curl.easy_setopt
#define curl_easy_getinfo al_curl.easy_getinfo
#define curl_easy_pause al_curl.easy_pause
#define curl_easy_strerror al_curl.easy_strerror
#define curl_multi_init al_curl.multi_init
#define curl_multi_setopt al_curl.multi_setopt
#define curl_multi_add_handle al_curl.multi_add_handle
#define curl_multi_remove_handle al_curl.multi_remove_handle
#define curl_multi_assign al_curl.multi_assign
#define curl_multi_socket_action al_curl.multi_socket_action
#define curl_multi_info_read al_curl.multi_info_read
#define curl_multi_cleanup al_curl.multi_cleanup
#define curl_multi_strerror al_curl.multi_strerror
#define curl_slist_append al_curl.slist_append
#define curl_slist_free_all al_curl.slist_free_all
#define curl_url al_curl.url
#define curl_url_set al_curl.url_set
#define curl_url_cleanup al_curl.url_cleanup

#endif
