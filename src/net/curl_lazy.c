/* curl_lazy.c - libcurl, loaded on first use instead of at process start.
 * libcurl drags in a TLS, Kerberos and LDAP stack (about 6 MB of RSS); a pipeline with no
 * HTTP component never pays for it. These definitions stand in for libcurl's own and
 * forward to the library once dlopen has found it. */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "core/log.h"

static struct {
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    time_t (*getdate)(const char *, const time_t *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
} fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;

static void curl_load(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        log_error("http", "cannot load libcurl: %s", dlerror());
        return;
    }
#define SYM(field, name)                                                           \
    if (!(*(void **)&fn.field = dlsym(h, name))) {                                  \
        log_error("http", "libcurl has no %s: %s", name, dlerror());               \
        return;                                                                    \
    }
    SYM(global_init, "curl_global_init")
    SYM(global_cleanup, "curl_global_cleanup")
    SYM(easy_init, "curl_easy_init")
    SYM(easy_setopt, "curl_easy_setopt")
    SYM(easy_perform, "curl_easy_perform")
    SYM(easy_getinfo, "curl_easy_getinfo")
    SYM(easy_cleanup, "curl_easy_cleanup")
    SYM(easy_reset, "curl_easy_reset")
    SYM(easy_strerror, "curl_easy_strerror")
    SYM(slist_append, "curl_slist_append")
    SYM(slist_free_all, "curl_slist_free_all")
    SYM(getdate, "curl_getdate")
    SYM(multi_init, "curl_multi_init")
    SYM(multi_setopt, "curl_multi_setopt")
    SYM(multi_add_handle, "curl_multi_add_handle")
    SYM(multi_remove_handle, "curl_multi_remove_handle")
    SYM(multi_perform, "curl_multi_perform")
    SYM(multi_poll, "curl_multi_poll")
    SYM(multi_wakeup, "curl_multi_wakeup")
    SYM(multi_info_read, "curl_multi_info_read")
    SYM(multi_cleanup, "curl_multi_cleanup")
#undef SYM
    loaded = 1;
}

static int ready(void)
{
    pthread_once(&load_once, curl_load);
    return loaded;
}

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
