/* fuzz_k8s_meta.c - libFuzzer target for the Kubernetes API decoders: any watch event line
 * or list answer must be rejected or decoded into well-formed objects, and the owner
 * derivation must stay inside its buffers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/k8s_meta.h"

static void check(const k8s_obj *o)
{
    if (!o->name[0] || !o->ns || !o->uid || !o->node || !o->owner_kind || !o->owner_name)
        abort();
    for (uint32_t i = 0; i < o->nlabels; i++)
        if (strlen(o->labels[i].k) != o->labels[i].kl)
            abort();
}

static void item(void *arg, k8s_obj *o)
{
    check(o);
    (*(size_t *)arg)++;
    k8s_obj_release(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    k8s_event ev;
    if (k8s_decode_event(s, size, &ev) == 0) {
        if (ev.type < K8S_EV_ADDED || ev.type > K8S_EV_ERROR)
            abort();
        if (ev.obj)
            check(ev.obj);
        k8s_obj_release(ev.obj);
    }
    char rv[64];
    size_t n = 0;
    (void)k8s_decode_list(s, size, item, &n, rv, sizeof rv);
    /* owner names: the input split at its first NUL-free newline into kind and name */
    char *c = malloc(size + 1);
    memcpy(c, data, size);
    c[size] = '\0';
    char *nl = strchr(c, '\n');
    if (nl) {
        *nl = '\0';
        char k[16], name[32];
        k8s_owner(c, nl + 1, NULL, k, sizeof k, name, sizeof name);
        if (strlen(k) >= sizeof k || strlen(name) >= sizeof name)
            abort();
    }
    free(c);
    return 0;
}
