/* lazylib.h - shared libraries loaded on first use instead of at process start.
 *
 * A library that only some components need (libcurl for the HTTP clients, libsnappy for the
 * loki sink, libsystemd for the journald source, libzstd for the s3 sink's zstd and zstd
 * request bodies, OpenSSL for TLS, SigV4 and Forward's shared key) would,
 * linked, cost every process its resident pages and those of all it drags in, whether that
 * component is configured or not. Such a library is left off the link line (the Makefile's
 * LAZY_PKGS; its headers are still used) and a stand-in file defines, under the library's
 * own names, the functions sluice calls (src/net/curl_lazy.c, src/sinks/loki/snappy_lazy.c,
 * src/sources/systemd_lazy.c, src/sinks/s3/zstd_lazy.c, src/net/rdkafka_lazy.c,
 * src/net/openssl_lazy.c).
 * Each stand-in forwards through a function pointer that lazylib_load fills from
 * dlopen/dlsym the first time it is needed.
 *
 * State of a library: UNTRIED -> LOADED | FAILED, decided once under a lock by the first
 * caller, read without the lock afterwards. FAILED is final and keeps the reason, so the
 * component that needs the library refuses to start with that message (lazylib_load in its
 * init; the HTTP clients report it as their first request's error) rather than failing
 * each call. A loaded library is never closed. */
#ifndef SL_LAZYLIB_H
#define SL_LAZYLIB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/common.h"

/* One function of the library: its name and the function pointer (of the stand-in's own
 * type, `__typeof__(name) *`) that receives its address. */
typedef struct lazy_sym {
    const char *name;
    void *slot;
} lazy_sym;

typedef struct lazylib {
    const char *soname;   /* the ABI the headers describe: "libsnappy.so.1" */
    const lazy_sym *syms; /* ends with {NULL, NULL}; every one must resolve */
    atomic_int state;     /* LAZYLIB_UNTRIED, _LOADED or _FAILED */
    char err[256];        /* why it FAILED */
} lazylib;

enum { LAZYLIB_UNTRIED = 0, LAZYLIB_LOADED, LAZYLIB_FAILED };

#define LAZYLIB_INIT(soname, syms) {(soname), (syms), LAZYLIB_UNTRIED, {0}}

/* Loads the library and resolves every symbol, once per process. Returns SL_OK, or
 * SL_ERR_NOTFOUND with "cannot load <soname>: <why>" in err (err may be NULL). */
int lazylib_load(lazylib *l, char *err, size_t errlen);

/* lazylib_load for a component's init: on failure "<what> needs <soname>: cannot load
 * <soname>: <why>" in err (what: the feature, "tls", "shared_key"). */
int lazylib_need(lazylib *l, const char *what, char *err, size_t errlen);

/* For stand-ins: true once loaded (one atomic read), else tries lazylib_load. */
static inline bool lazylib_ready(lazylib *l)
{
    return atomic_load_explicit(&l->state, memory_order_acquire) == LAZYLIB_LOADED ||
           lazylib_load(l, NULL, 0) == SL_OK;
}

/* For a stand-in file whose functions are an X-macro FUNCS(X, V), X(return type, name,
 * value when unloaded, parameters, arguments) and V(name, parameters, arguments) for a
 * void one, with `#define LAZYLIB_SELF lazy_x` before:
 *   static struct { FUNCS(LAZY_FN_PTR, LAZY_FN_VPTR) } fn;
 *   static const lazy_sym syms[] = { FUNCS(LAZY_FN_SYM, LAZY_FN_VSYM) {NULL, NULL} };
 *   lazylib lazy_x = LAZYLIB_INIT("libx.so.1", syms);
 *   FUNCS(LAZY_FN_DEF, LAZY_FN_VDEF)
 * gives one pointer, one symbol to resolve and one definition per row. */
#define LAZY_FN_PTR(ret, name, fail, params, args) __typeof__(name) *name;
#define LAZY_FN_VPTR(name, params, args) __typeof__(name) *name;
#define LAZY_FN_SYM(ret, name, fail, params, args) {#name, &fn.name},
#define LAZY_FN_VSYM(name, params, args) {#name, &fn.name},
#define LAZY_FN_DEF(ret, name, fail, params, args) \
    ret name params { return lazylib_ready(&LAZYLIB_SELF) ? fn.name args : (fail); }
#define LAZY_FN_VDEF(name, params, args) \
    void name params { if (lazylib_ready(&LAZYLIB_SELF)) fn.name args; }

/* The libraries sluice loads on first use, defined by their stand-in files. */
extern lazylib lazy_curl, lazy_snappy, lazy_systemd, lazy_zstd, lazy_rdkafka, lazy_openssl;

#endif
