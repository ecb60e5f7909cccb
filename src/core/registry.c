/* registry.c - the one table of component types.
 * Adding a source, transform or sink is one line here plus its own file. */
#include <stdio.h>
#include <string.h>

#include "component.h"

extern const sl_source_vtable sl_source_file, sl_source_stdin, sl_source_demo;
extern const sl_source_vtable sl_source_forward;
extern const sl_source_vtable sl_source_http;
extern const sl_source_vtable sl_source_kubernetes_logs;
extern const sl_source_vtable sl_source_cloudwatch_logs;
extern const sl_source_vtable sl_source_redis;
extern const sl_source_vtable sl_source_syslog;
extern const sl_source_vtable sl_source_journald;
extern const sl_source_vtable sl_source_otlp;
extern const sl_source_vtable sl_source_kafka;
extern const sl_transform_vtable sl_transform_add_fields;
extern const sl_transform_vtable sl_transform_route;
extern const sl_transform_vtable sl_transform_parse, sl_transform_severity;
extern const sl_transform_vtable sl_transform_set, sl_transform_rename, sl_transform_remove, sl_transform_copy;
extern const sl_transform_vtable sl_transform_add_env, sl_transform_flatten, sl_transform_sanitize_keys;
extern const sl_transform_vtable sl_transform_filter;
extern const sl_transform_vtable sl_transform_multiline;
extern const sl_sink_vtable sl_sink_file, sl_sink_stdout, sl_sink_blackhole, sl_sink_http;
extern const sl_sink_vtable sl_sink_forward;
extern const sl_sink_vtable sl_sink_elasticsearch;
extern const sl_sink_vtable sl_sink_otlp;
extern const sl_sink_vtable sl_sink_loki;
extern const sl_sink_vtable sl_sink_redis;
extern const sl_sink_vtable sl_sink_s3;
extern const sl_sink_vtable sl_sink_kafka;

const sl_source_vtable *const sl_sources[] = {
    &sl_source_file,
    &sl_source_stdin,
    &sl_source_demo,
    &sl_source_forward,
    &sl_source_http,
    &sl_source_kubernetes_logs,
    &sl_source_cloudwatch_logs,
    &sl_source_redis,
    &sl_source_syslog,
    &sl_source_journald,
    &sl_source_otlp,
    &sl_source_kafka,
    NULL,
};

const sl_transform_vtable *const sl_transforms[] = {
    &sl_transform_add_fields,
    &sl_transform_route,
    &sl_transform_parse,
    &sl_transform_severity,
    &sl_transform_set,
    &sl_transform_rename,
    &sl_transform_remove,
    &sl_transform_copy,
    &sl_transform_add_env,
    &sl_transform_flatten,
    &sl_transform_sanitize_keys,
    &sl_transform_filter,
    &sl_transform_multiline,
    NULL,
};

const sl_sink_vtable *const sl_sinks[] = {
    &sl_sink_file,
    &sl_sink_stdout,
    &sl_sink_blackhole,
    &sl_sink_http,
    &sl_sink_forward,
    &sl_sink_elasticsearch,
    &sl_sink_otlp,
    &sl_sink_loki,
    &sl_sink_redis,
    &sl_sink_s3,
    &sl_sink_kafka,
    NULL,
};

const sl_source_vtable *registry_source(const char *type)
{
    for (size_t i = 0; sl_sources[i]; i++)
        if (strcmp(sl_sources[i]->type, type) == 0)
            return sl_sources[i];
    return NULL;
}

const sl_transform_vtable *registry_transform(const char *type)
{
    for (size_t i = 0; sl_transforms[i]; i++)
        if (strcmp(sl_transforms[i]->type, type) == 0)
            return sl_transforms[i];
    return NULL;
}

const sl_sink_vtable *registry_sink(const char *type)
{
    for (size_t i = 0; sl_sinks[i]; i++)
        if (strcmp(sl_sinks[i]->type, type) == 0)
            return sl_sinks[i];
    return NULL;
}

void registry_list(const char *kind, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
#define LIST(arr)                                                                           \
    for (size_t i = 0; arr[i] && n < outlen; i++)                                           \
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", i ? ", " : "", arr[i]->type);
    if (strcmp(kind, "source") == 0) {
        LIST(sl_sources)
    } else if (strcmp(kind, "transform") == 0) {
        LIST(sl_transforms)
    } else {
        LIST(sl_sinks)
    }
#undef LIST
}
