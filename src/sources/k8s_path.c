/* k8s_path.c - parsing of kubelet log paths and /var/log/containers link names for the
 * kubernetes_logs source. Every function reads only within the NUL-terminated input. */
#include "sources/k8s_path.h"

#include <stdint.h>
#include <string.h>

int64_t k8s_restart_of(const char *name)
{
    int64_t n = 0;
    const char *p = name;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        n = n * 10 + (*p - '0');
        if (n > INT32_MAX)
            return -1;
        p++;
    }
    if (strncmp(p, ".log", 4) != 0 || (p[4] != '\0' && p[4] != '.'))
        return -1;
    return n;
}

bool k8s_is_log_name(const char *name)
{
    size_t n = strlen(name);
    if (k8s_restart_of(name) < 0)
        return false;
    return !(n > 3 && strcmp(name + n - 3, ".gz") == 0) &&
           !(n > 4 && strcmp(name + n - 4, ".tmp") == 0);
}

bool k8s_is_rotated_name(const char *name)
{
    const char *dot = strchr(name, '.');
    return dot && strchr(dot + 1, '.') != NULL;
}

bool k8s_split_pod_dir(const char *s, size_t n, k8s_meta *m)
{
    const char *u1 = memchr(s, '_', n);
    if (!u1)
        return false;
    const char *u2 = memchr(u1 + 1, '_', (size_t)(s + n - u1 - 1));
    if (!u2 || u1 == s || u2 == u1 + 1 || u2 + 1 == s + n)
        return false;
    m->ns = (k8s_span){s, (size_t)(u1 - s)};
    m->pod = (k8s_span){u1 + 1, (size_t)(u2 - u1 - 1)};
    m->uid = (k8s_span){u2 + 1, (size_t)(s + n - u2 - 1)};
    return true;
}

bool k8s_parse_pods_path(const char *path, k8s_meta *m)
{
    /* the last three components: pod dir, container, file name */
    const char *end = path + strlen(path);
    const char *c[3];
    const char *stop = end;
    for (int i = 0; i < 3; i++) {
        const char *p = stop;
        while (p > path && p[-1] != '/')
            p--;
        if (p == stop || (p == path && i < 2))
            return false;
        c[i] = p;
        stop = p - 1; /* the '/' before this component */
    }
    int64_t restart = k8s_restart_of(c[0]);
    if (restart < 0 || !k8s_split_pod_dir(c[2], (size_t)(c[1] - 1 - c[2]), m))
        return false;
    m->container = (k8s_span){c[1], (size_t)(c[0] - 1 - c[1])};
    m->restart = restart;
    return true;
}

bool k8s_parse_link_name(const char *name, k8s_meta *m)
{
    size_t n = strlen(name);
    if (n < 5 || strcmp(name + n - 4, ".log") != 0)
        return false;
    n -= 4;
    const char *u1 = memchr(name, '_', n);
    if (!u1 || u1 == name)
        return false;
    const char *u2 = memchr(u1 + 1, '_', (size_t)(name + n - u1 - 1));
    if (!u2 || u2 == u1 + 1)
        return false;
    const char *rest = u2 + 1, *dash = NULL;
    for (const char *q = rest; q < name + n; q++)
        if (*q == '-')
            dash = q;
    if (!dash || dash == rest || dash + 1 == name + n)
        return false;
    m->pod = (k8s_span){name, (size_t)(u1 - name)};
    m->ns = (k8s_span){u1 + 1, (size_t)(u2 - u1 - 1)};
    m->container = (k8s_span){rest, (size_t)(dash - rest)};
    m->container_id = (k8s_span){dash + 1, (size_t)(name + n - dash - 1)};
    return true;
}
