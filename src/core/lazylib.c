/* lazylib.c - dlopen/dlsym once per library (see lazylib.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "core/common.h"
#include "core/lazylib.h"

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* dlerror's text, without the "<soname>: " it may start with (the message says it first). */
static const char *why(const lazylib *l, const char *none)
{
    const char *e = dlerror();
    size_t n = strlen(l->soname);
    if (!e)
        return none;
    return strncmp(e, l->soname, n) == 0 && e[n] == ':' && e[n + 1] == ' ' ? e + n + 2 : e;
}

/* Under load_lock: LOADED with every slot filled, or FAILED with the reason (slots filled
 * before the failure point into a closed library: no stand-in reads them unless LOADED). */
static void load(lazylib *l)
{
    /* RTLD_LOCAL: its symbols are found through this handle only, never by the dynamic
     * linker for another object. */
    void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        sl_seterr(l->err, sizeof l->err, SL_ERR_NOTFOUND, "cannot load %s: %s", l->soname,
                  why(l, "unknown error"));
        atomic_store_explicit(&l->state, LAZYLIB_FAILED, memory_order_release);
        return;
    }
    for (const lazy_sym *s = l->syms; s->name; s++) {
        dlerror();
        void *p = dlsym(h, s->name);
        if (!p) { /* a NULL address is no function either */
            sl_seterr(l->err, sizeof l->err, SL_ERR_NOTFOUND, "cannot load %s: %s", l->soname,
                      why(l, s->name));
            dlclose(h);
            atomic_store_explicit(&l->state, LAZYLIB_FAILED, memory_order_release);
            return;
        }
        /* memcpy: a function pointer filled from dlsym's void *, as POSIX allows */
        memcpy(s->slot, &p, sizeof p);
    }
    atomic_store_explicit(&l->state, LAZYLIB_LOADED, memory_order_release);
}

int lazylib_load(lazylib *l, char *err, size_t errlen)
{
    int st = atomic_load_explicit(&l->state, memory_order_acquire);
    if (st == LAZYLIB_UNTRIED) {
        pthread_mutex_lock(&load_lock);
        if (atomic_load_explicit(&l->state, memory_order_relaxed) == LAZYLIB_UNTRIED)
            load(l);
        st = atomic_load_explicit(&l->state, memory_order_relaxed);
        pthread_mutex_unlock(&load_lock);
    }
    if (st == LAZYLIB_LOADED)
        return SL_OK;
    return sl_seterr(err, errlen, SL_ERR_NOTFOUND, "%s", l->err);
}

int lazylib_need(lazylib *l, const char *what, char *err, size_t errlen)
{
    if (lazylib_load(l, NULL, 0) == SL_OK)
        return SL_OK;
    return sl_seterr(err, errlen, SL_ERR_NOTFOUND, "%s needs %s: %s", what, l->soname, l->err);
}
