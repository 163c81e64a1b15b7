/*
** The libcurl function table (see curlapi.h).
*/
#include "curlapi.h"
#include "dynload.h"

/* Process-wide, as dlopen is: the library and its symbols belong to the process. */
al_curl_api al_curl;
static void *handle;

#define SYM(field, name) {name, (void **)&al_curl.field}

int al_curl_load(char *err, size_t n) {
  static const al_sym syms[] = {
    SYM(global_init, "curl_global_init"), SYM(global_cleanup, "curl_global_cleanup"),
    SYM(version_info, "curl_version_info"), SYM(easy_init, "curl_easy_init"),
    SYM(easy_reset, "curl_easy_reset"), SYM(easy_cleanup, "curl_easy_cleanup"),
    SYM(easy_setopt, "curl_easy_setopt"), SYM(easy_getinfo, "curl_easy_getinfo"),
    SYM(easy_pause, "curl_easy_pause"), SYM(easy_strerror, "curl_easy_strerror"),
    SYM(multi_init, "curl_multi_init"), SYM(multi_setopt, "curl_multi_setopt"),
    SYM(multi_add_handle, "curl_multi_add_handle"), SYM(multi_remove_handle, "curl_multi_remove_handle"),
    SYM(multi_assign, "curl_multi_assign"), SYM(multi_socket_action, "curl_multi_socket_action"),
    SYM(multi_info_read, "curl_multi_info_read"), SYM(multi_cleanup, "curl_multi_cleanup"),
    SYM(multi_strerror, "curl_multi_strerror"), SYM(slist_append, "curl_slist_append"),
    SYM(slist_free_all, "curl_slist_free_all"), SYM(url, "curl_url"), SYM(url_set, "curl_url_set"),
    SYM(url_cleanup, "curl_url_cleanup"), {0, 0}};
  return al_dynload("libcurl.so.4", &handle, syms, err, n);
}
