/* fuzz_k8s_path.c - libFuzzer target for kubelet log path and link name parsing: any name
 * must be rejected or parsed into spans that lie inside it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/k8s_path.h"

static void inside(k8s_span s, const char *str, size_t n)
{
    if (s.p && (s.p < str || s.p + s.n > str + n))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    size_t n = strlen(s);
    k8s_meta m = {.restart = -1};
    if (k8s_parse_pods_path(s, &m)) {
        inside(m.ns, s, n), inside(m.pod, s, n), inside(m.uid, s, n), inside(m.container, s, n);
        if (m.restart < 0 || !m.ns.n || !m.pod.n || !m.uid.n || !m.container.n)
            abort();
    }
    memset(&m, 0, sizeof m);
    if (k8s_parse_link_name(s, &m)) {
        inside(m.ns, s, n), inside(m.pod, s, n), inside(m.container, s, n);
        inside(m.container_id, s, n);
    }
    if (k8s_split_pod_dir(s, n, &m))
        inside(m.ns, s, n), inside(m.pod, s, n), inside(m.uid, s, n);
    if (k8s_is_log_name(s) && k8s_restart_of(s) < 0)
        abort();
    (void)k8s_is_rotated_name(s);
    free(s);
    return 0;
}
