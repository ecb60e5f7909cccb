/* curl_lazy.c - libcurl, loaded on first use instead of at process start.
 * libcurl drags in a TLS, Kerberos and LDAP stack (about 6 MB of RSS); a pipeline with no
 * HTTP component never pays for it. These definitions stand in for libcurl's own and
 * forward to the library once core/lazylib.c has loaded it. */
#include <curl/curl.h>
#include <stdarg.h>

#include "core/lazylib.h"

static struct {
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_global_cleanup) *global_cleanup;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_perform) *easy_perform;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_reset) *easy_reset;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
    __typeof__(curl_getdate) *getdate;
    __typeof__(curl_multi_init) *multi_init;
    __typeof__(curl_multi_setopt) *multi_setopt;
    __typeof__(curl_multi_add_handle) *multi_add_handle;
    __typeof__(curl_multi_remove_handle) *multi_remove_handle;
    __typeof__(curl_multi_perform) *multi_perform;
    __typeof__(curl_multi_poll) *multi_poll;
    __typeof__(curl_multi_wakeup) *multi_wakeup;
    __typeof__(curl_multi_info_read) *multi_info_read;
    __typeof__(curl_multi_cleanup) *multi_cleanup;
} fn;

static const lazy_sym syms[] = {
    {"curl_global_init", &fn.global_init},
    {"curl_global_cleanup", &fn.global_cleanup},
    {"curl_easy_init", &fn.easy_init},
    {"curl_easy_setopt", &fn.easy_setopt},
    {"curl_easy_perform", &fn.easy_perform},
    {"curl_easy_getinfo", &fn.easy_getinfo},
    {"curl_easy_cleanup", &fn.easy_cleanup},
    {"curl_easy_reset", &fn.easy_reset},
    {"curl_easy_strerror", &fn.easy_strerror},
    {"curl_slist_append", &fn.slist_append},
    {"curl_slist_free_all", &fn.slist_free_all},
    {"curl_getdate", &fn.getdate},
    {"curl_multi_init", &fn.multi_init},
    {"curl_multi_setopt", &fn.multi_setopt},
    {"curl_multi_add_handle", &fn.multi_add_handle},
    {"curl_multi_remove_handle", &fn.multi_remove_handle},
    {"curl_multi_perform", &fn.multi_perform},
    {"curl_multi_poll", &fn.multi_poll},
    {"curl_multi_wakeup", &fn.multi_wakeup},
    {"curl_multi_info_read", &fn.multi_info_read},
    {"curl_multi_cleanup", &fn.multi_cleanup},
    {NULL, NULL},
};

lazylib lazy_curl = LAZYLIB_INIT("libcurl.so.4", syms);

static int ready(void) { return lazylib_ready(&lazy_curl); }

CURLcode (curl_global_init)(long flags) { return ready() ? fn.global_init(flags) : CURLE_FAILED_INIT; }
void (curl_global_cleanup)(void) { if (ready()) fn.global_cleanup(); }
CURL *(curl_easy_init)(void) { return ready() ? fn.easy_init() : NULL; }
CURLcode (curl_easy_perform)(CURL *c) { return ready() ? fn.easy_perform(c) : CURLE_FAILED_INIT; }
void (curl_easy_cleanup)(CURL *c) { if (ready()) fn.easy_cleanup(c); }
void (curl_easy_reset)(CURL *c) { if (ready()) fn.easy_reset(c); }
const char *(curl_easy_strerror)(CURLcode rc) { return ready() ? fn.easy_strerror(rc) : "libcurl not available"; }
void (curl_slist_free_all)(struct curl_slist *l) { if (ready()) fn.slist_free_all(l); }
struct curl_slist *(curl_slist_append)(struct curl_slist *l, const char *s)
{
    return ready() ? fn.slist_append(l, s) : NULL;
}
time_t (curl_getdate)(const char *s, const time_t *unused) { return ready() ? fn.getdate(s, unused) : -1; }
CURLM *(curl_multi_init)(void) { return ready() ? fn.multi_init() : NULL; }
CURLMcode (curl_multi_add_handle)(CURLM *m, CURL *c) { return ready() ? fn.multi_add_handle(m, c) : CURLM_INTERNAL_ERROR; }
CURLMcode (curl_multi_remove_handle)(CURLM *m, CURL *c) { return ready() ? fn.multi_remove_handle(m, c) : CURLM_INTERNAL_ERROR; }
CURLMcode (curl_multi_perform)(CURLM *m, int *running) { return ready() ? fn.multi_perform(m, running) : CURLM_INTERNAL_ERROR; }
CURLMcode (curl_multi_wakeup)(CURLM *m) { return ready() ? fn.multi_wakeup(m) : CURLM_INTERNAL_ERROR; }
CURLMsg *(curl_multi_info_read)(CURLM *m, int *left) { return ready() ? fn.multi_info_read(m, left) : NULL; }
CURLMcode (curl_multi_cleanup)(CURLM *m) { return ready() ? fn.multi_cleanup(m) : CURLM_INTERNAL_ERROR; }
CURLMcode (curl_multi_poll)(CURLM *m, struct curl_waitfd *fds, unsigned int n, int timeout, int *ret)
{
    return ready() ? fn.multi_poll(m, fds, n, timeout, ret) : CURLM_INTERNAL_ERROR;
}

/* The option number says the argument's type (curl.h: CURLOPTTYPE_*), which is how a
 * variadic call is forwarded without guessing. */
CURLcode (curl_easy_setopt)(CURL *c, CURLoption opt, ...)
{
    if (!ready())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, opt);
    CURLcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        rc = fn.easy_setopt(c, opt, va_arg(ap, long));
    else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
        rc = fn.easy_setopt(c, opt, va_arg(ap, void *));
    else if (opt < CURLOPTTYPE_OFF_T)
        rc = fn.easy_setopt(c, opt, va_arg(ap, void (*)(void)));
    else if (opt < CURLOPTTYPE_BLOB)
        rc = fn.easy_setopt(c, opt, va_arg(ap, curl_off_t));
    else
        rc = fn.easy_setopt(c, opt, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLMcode (curl_multi_setopt)(CURLM *m, CURLMoption opt, ...)
{
    if (!ready())
        return CURLM_INTERNAL_ERROR;
    va_list ap;
    va_start(ap, opt);
    CURLMcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        rc = fn.multi_setopt(m, opt, va_arg(ap, long));
    else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
        rc = fn.multi_setopt(m, opt, va_arg(ap, void *));
    else if (opt < CURLOPTTYPE_OFF_T)
        rc = fn.multi_setopt(m, opt, va_arg(ap, void (*)(void)));
    else
        rc = fn.multi_setopt(m, opt, va_arg(ap, curl_off_t));
    va_end(ap);
    return rc;
}

/* Every CURLINFO takes a pointer to where the answer goes. */
CURLcode (curl_easy_getinfo)(CURL *c, CURLINFO info, ...)
{
    if (!ready())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = fn.easy_getinfo(c, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}
