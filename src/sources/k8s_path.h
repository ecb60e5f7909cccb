/* k8s_path.h - names in the kubelet's log layout: <namespace>_<pod>_<uid>/<container>/<N>.log
 * (rotated: <N>.log.<suffix>) and the /var/log/containers/<pod>_<namespace>_<container>-<id>.log
 * links. Pure string functions (no I/O), fuzzed: file names are outside input. */
#ifndef SL_K8S_PATH_H
#define SL_K8S_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct k8s_span {
    const char *p; /* borrowed from the parsed string; NULL when absent */
    size_t n;
} k8s_span;

typedef struct k8s_meta {
    k8s_span ns, pod, uid, container, container_id;
    int64_t restart; /* -1 when unknown */
} k8s_meta;

/* "<N>.log" or "<N>.log.<suffix>" -> N; -1 for any other name. */
int64_t k8s_restart_of(const char *name);
/* A name we read: <N>.log or a rotated <N>.log.<suffix>, never *.gz or *.tmp. */
bool k8s_is_log_name(const char *name);
/* <N>.log.<suffix> (a rotated file), as opposed to the live <N>.log. */
bool k8s_is_rotated_name(const char *name);
/* "<namespace>_<pod>_<uid>" (Kubernetes names cannot hold '_', so the split is exact). */
bool k8s_split_pod_dir(const char *s, size_t n, k8s_meta *m);
/* ".../<namespace>_<pod>_<uid>/<container>/<N>.log*": fills ns, pod, uid, container, restart. */
bool k8s_parse_pods_path(const char *path, k8s_meta *m);
/* "<pod>_<namespace>_<container>-<id>.log": fills pod, ns, container, container_id. */
bool k8s_parse_link_name(const char *name, k8s_meta *m);

#endif
