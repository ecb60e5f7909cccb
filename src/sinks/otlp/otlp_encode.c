/* otlp_encode.c - sluice events to an OTLP ExportLogsServiceRequest, written by hand from
 * the public field numbers of opentelemetry/proto (logs/v1, common/v1, resource/v1).
 *
 * Notes on the design:
 *  1. Every field of an event gets one role: resource attribute, severity, trace id, span
 *     id, W3C traceparent, body, or (the rest) log record attribute. Roles live in one
 *     scratch array per request, so the event itself is never changed (the batch may be
 *     retried or dead-lettered as it came).
 *  2. Events are grouped by their resource attributes (an order-independent hash, then
 *     an exact comparison) and each group becomes one ResourceLogs with one ScopeLogs;
 *     the order of events inside a group is kept. The events of the first group (usually
 *     all of them) are written as they are classified, in the same pass, while they are
 *     in cache; the other groups follow.
 *  3. Protobuf needs every length before the bytes it covers. A nested message reserves
 *     bytes for its length, and when it ends the real varint is written there and the
 *     body moved only if its length took more or fewer bytes: 5 (room for any length) for
 *     small messages, 2 for a log record and its body (usually 128 B to 16 KiB), and for
 *     ResourceLogs / ScopeLogs the varint length of an estimate of the group's size, as
 *     moving a whole request costs more than the estimate. Scalar KeyValues, the common
 *     case, compute their lengths up front instead. No size pass.
 *  4. Nested values (SL_VAL_JSON raw text, e.g. objects kept by the parse transform)
 *     become kvlist / array AnyValues. Numbers without a fraction or exponent that fit
 *     in int64 are intValue, others doubleValue.
 *  5. trace_id / span_id move to traceId / spanId only when they are hex of the right
 *     length and not all zero; otherwise they stay attributes, never lost.
 *  6. The fields the otlp source writes go back where they came from, so a record crossing
 *     otlp source -> otlp sink keeps its shape: resource attributes by their names (the
 *     semantic conventions' resource namespaces, otlp_resource_spaces), severity_number
 *     (int 1-24, with the severity string kept verbatim as severityText), trace_flags,
 *     observed_time_unix_nano, event.name, and otel.scope.name / otel.scope.version /
 *     otel.scope.attributes.* (the scope; events are grouped by resource and scope).
 *  7. A record does not depend on the request around it, so the sink may write the
 *     records of events without resource or scope fields ahead, on the thread that routes
 *     their batch (otlp_prepare; event.h, event_prep), where the events are still in
 *     cache; the request then copies those bytes. Read cold on a sink thread of another
 *     core, the events cost more than writing them does. A batch whose first 8 events
 *     all have resource or scope fields is left whole to the sink (a source's events look
 *     alike; classifying them all here would only be done again there).
 *  8. With gzip, when no event of a batch has resource or scope fields, the records of
 *     every `per` events (batch.max_events: requests are cut at its multiples) are also
 *     compressed there, as a deflate segment (net/gz_prep.h) for m->seg_id, with the
 *     sink's learned codes (note 2 of net/gz.c). Such events have one ResourceLogs and one
 *     ScopeLogs, whose lengths follow from the records' length, so a request of whole
 *     segments is its framing and the segments joined (gz_join), never compressed again;
 *     the events of a segment the request cuts are written and compressed here. */
#include "sinks/otlp/otlp.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include "core/arena.h"
#include "core/common.h"
#include "core/log.h"
#include "core/version.h"
#include "formats/json.h"
#include "formats/severity.h"
#include "formats/utf8.h"
#include "net/gz.h"
#include "net/gz_prep.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { ROLE_ATTR = 0, ROLE_RESOURCE, ROLE_SEVERITY, ROLE_TRACE, ROLE_SPAN, ROLE_PARENT,
       ROLE_BODY, ROLE_SEVNUM, ROLE_FLAGS, ROLE_OBSERVED, ROLE_EVENT, ROLE_SCOPE };

/* rmap values of ROLE_SCOPE fields (resource indexes stay below 226), and of a resource
 * field named by its own key (a semantic-convention name matched by its namespace) */
enum { RES_OWN = 249, SCOPE_NAME = 250, SCOPE_VERSION, SCOPE_ATTR };
#define SCOPE_ATTR_PREFIX "otel.scope.attributes."
#define SCOPE_ATTR_PLEN (sizeof SCOPE_ATTR_PREFIX - 1)

/* Event fields that describe where a log comes from rather than the log itself. The
 * kubernetes_logs source's own names map to the semantic conventions. */
static const struct {
    sl_str from;
    sl_str to;
} otlp_resource_keys[] = {
    {SL_STR("service.name"), SL_STR("service.name")},
    {SL_STR("service.namespace"), SL_STR("service.namespace")},
    {SL_STR("service.version"), SL_STR("service.version")},
    {SL_STR("service.instance.id"), SL_STR("service.instance.id")},
    {SL_STR("deployment.environment"), SL_STR("deployment.environment")},
    {SL_STR("deployment.environment.name"), SL_STR("deployment.environment.name")},
    {SL_STR("host.name"), SL_STR("host.name")},
    {SL_STR("k8s.cluster.name"), SL_STR("k8s.cluster.name")},
    {SL_STR("k8s.namespace.name"), SL_STR("k8s.namespace.name")},
    {SL_STR("k8s.node.name"), SL_STR("k8s.node.name")},
    {SL_STR("k8s.pod.name"), SL_STR("k8s.pod.name")},
    {SL_STR("k8s.pod.uid"), SL_STR("k8s.pod.uid")},
    {SL_STR("k8s.container.name"), SL_STR("k8s.container.name")},
    {SL_STR("k8s.deployment.name"), SL_STR("k8s.deployment.name")},
    {SL_STR("container.id"), SL_STR("container.id")},
    {SL_STR("cloud.provider"), SL_STR("cloud.provider")},
    {SL_STR("cloud.region"), SL_STR("cloud.region")},
    {SL_STR("cloud.account.id"), SL_STR("cloud.account.id")},
    {SL_STR("aws.log.group.names"), SL_STR("aws.log.group.names")},
    {SL_STR("aws.log.stream.names"), SL_STR("aws.log.stream.names")},
    {SL_STR("kubernetes.namespace"), SL_STR("k8s.namespace.name")},
    {SL_STR("kubernetes.pod_name"), SL_STR("k8s.pod.name")},
    {SL_STR("kubernetes.pod_uid"), SL_STR("k8s.pod.uid")},
    {SL_STR("kubernetes.container_name"), SL_STR("k8s.container.name")},
    {SL_STR("kubernetes.container_id"), SL_STR("container.id")},
};
#define OTLP_NKEYS SL_ARRAY_LEN(otlp_resource_keys)

/* The semantic conventions' namespaces whose attributes describe the resource, kept under
 * their own names: an SDK's resource (telemetry.sdk.*, process.*, os.*, host.*) relayed by
 * the otlp source stays a resource. A name ending in '.' is a namespace, others exact;
 * process.* is taken attribute by attribute, as ECS logs carry process.thread.* per line. */
static const sl_str otlp_resource_spaces[] = {
    SL_STR("service."),           SL_STR("telemetry.sdk."),       SL_STR("telemetry.distro."),
    SL_STR("k8s."),               SL_STR("cloud."),               SL_STR("host."),
    SL_STR("os."),                SL_STR("container."),           SL_STR("device."),
    SL_STR("aws.ecs."),           SL_STR("aws.eks."),             SL_STR("aws.log."),
    SL_STR("process.runtime."),   SL_STR("process.executable."),  SL_STR("process.pid"),
    SL_STR("process.parent_pid"), SL_STR("process.owner"),        SL_STR("process.command"),
    SL_STR("process.command_line"),
};

static const sl_str otlp_level_keys[] = {SL_STR("level"), SL_STR("severity"),
                                         SL_STR("log.level"), SL_STR("lvl")};

/* What a field's key alone says about its role (classify): bits, as a key may be named
 * twice (a config resource key that is also a level key). */
enum {
    K_RES = 1 << 0, K_SEVNUM = 1 << 1, K_FLAGS = 1 << 2, K_OBSERVED = 1 << 3,
    K_SCOPE_NAME = 1 << 4, K_SCOPE_VERSION = 1 << 5, K_SCOPE_ATTR = 1 << 6, K_EVENT = 1 << 7,
    K_LEVEL = 1 << 8, K_TRACE = 1 << 9, K_SPAN = 1 << 10, K_PARENT = 1 << 11, K_BODY = 1 << 12,
};
#define KC_SLOTS 32 /* field positions remembered */
#define KC_KEYMAX 32 /* longest key remembered */

/* The class of the key last seen at a field position: events of one source mostly have
 * the same keys in the same order, so the next event's key there is usually the same. */
typedef struct key_class {
    uint8_t len;     /* 0: empty slot (a key of length 0 is never remembered) */
    uint8_t rmap;    /* resource index, with K_RES */
    uint16_t bits;
    char key[KC_KEYMAX];
} key_class;

/* One request's scratch; freed at the end of otlp_encode. */
typedef struct enc {
    sl_buf *out;
    bool json;
    const otlp_map *m;
    sl_buf tmp;       /* UTF-8 repair */
    sl_arena arena;   /* parsed JSON values */
    uint8_t **roles;  /* per event, per field */
    uint8_t *rmap;    /* per event, per field: index into the resource table (+extra) */
    size_t sev_len, body_len; /* strlen of m->severity_field, m->body_field */
    key_class kc[KC_SLOTS];   /* zeroed with the enc */
    /* Level texts read and their severity, by a hash of length and end bytes that keeps
     * apart the six words of each usual set (trace..fatal, in any one case): a stream
     * repeats a few words. */
    struct level_memo {
        uint8_t len; /* 0: empty */
        char text[16];
        sl_severity sev;
    } lv[16];
} enc;

static bool str_eq(sl_str a, const char *b, size_t blen)
{
    return a.len == blen && memcmp(a.ptr, b, blen) == 0;
}

/* ---- protobuf primitives ---------------------------------------------------------- */

/* Written in place: these run several times per attribute. */
static inline void pb_varint(sl_buf *b, uint64_t v)
{
    if (b->cap - b->len < 10)
        buf_reserve(b, 10);
    unsigned char *p = (unsigned char *)b->p + b->len;
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    b->len = (size_t)((char *)p - b->p);
}

static inline size_t pb_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void pb_tag(sl_buf *b, unsigned field, unsigned wire)
{
    pb_varint(b, (uint64_t)field << 3 | wire);
}

/* Tag (a field below 16: one byte) and 8 little-endian bytes with one capacity check. */
static inline void pb_fixed64(sl_buf *b, unsigned field, uint64_t v)
{
    if (b->cap - b->len < 9)
        buf_reserve(b, 9);
    unsigned char *p = (unsigned char *)b->p + b->len;
    p[0] = (unsigned char)(field << 3 | 1);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p + 1, &v, 8); /* protobuf's fixed64 is little-endian: one store */
#else
    for (int i = 0; i < 8; i++)
        p[1 + i] = (unsigned char)(v >> (8 * i));
#endif
    b->len += 9;
}

static void pb_fixed32(sl_buf *b, unsigned field, uint32_t v)
{
    char tmp[4];
    pb_tag(b, field, 5);
    for (int i = 0; i < 4; i++)
        tmp[i] = (char)(v >> (8 * i));
    buf_append(b, tmp, 4);
}

static inline unsigned char *put_varint(unsigned char *d, uint64_t v)
{
    while (v >= 0x80) {
        *d++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *d++ = (unsigned char)v;
    return d;
}

/* Copies n bytes to d and returns d + n; short strings (keys, ids, most values) as two
 * overlapping words instead of a memcpy call. */
static inline unsigned char *put_bytes(unsigned char *d, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (n >= 8 && n <= 16) {
        uint64_t a, z;
        memcpy(&a, s, 8);
        memcpy(&z, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &z, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &z, 4);
    } else if (n > 16) {
        memcpy(d, s, n);
    } else if (n) { /* 1 to 3 bytes: the first, middle and last cover them */
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
    return d + n;
}

/* Tag, length and bytes with one capacity check; short strings (keys, ids, most values)
 * are copied as two overlapping words instead of a memcpy call. */
static void pb_bytes(sl_buf *b, unsigned field, const void *p, size_t n)
{
    if (b->cap - b->len < n + 24)
        buf_reserve(b, n + 24);
    unsigned char *d = (unsigned char *)b->p + b->len;
    d = put_varint(d, (uint64_t)field << 3 | 2);
    d = put_varint(d, n);
    d = put_bytes(d, p, n);
    b->len = (size_t)((char *)d - b->p);
}

/* Begins a length-delimited field with `reserved` bytes (1..5) for its length, to be
 * closed by pb_end_n with the same count; returns the offset of the reservation. */
static inline size_t pb_begin_n(sl_buf *b, unsigned field, size_t reserved)
{
    pb_tag(b, field, 2);
    buf_reserve(b, reserved);
    size_t mark = b->len;
    b->len += reserved;
    return mark;
}

/* Returns the offset of the reserved length (see note 3): 5 bytes, room for any length. */
static size_t pb_begin(sl_buf *b, unsigned field) { return pb_begin_n(b, field, 5); }

/* Ends the message begun at mark with `reserved` bytes for its length: the length is
 * written there and the body moved only when its varint is not exactly that long. */
static inline void pb_end_n(sl_buf *b, size_t mark, size_t reserved)
{
    size_t body = b->len - mark - reserved;
    char tmp[10];
    size_t n = 0;
    uint64_t v = body;
    while (v >= 0x80) {
        tmp[n++] = (char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (char)v;
    if (n > reserved) {
        buf_reserve(b, n - reserved);
        memmove(b->p + mark + n, b->p + mark + reserved, body);
    } else if (n < reserved) {
        memmove(b->p + mark + n, b->p + mark + reserved, body);
    }
    memcpy(b->p + mark, tmp, n);
    b->len = mark + n + body;
}

static void pb_end(sl_buf *b, size_t mark) { pb_end_n(b, mark, 5); }

/* A message that is usually 128 bytes to 16 KiB (a log record, its body): two bytes for
 * the length, so the common case moves nothing. */
static size_t pb_begin2(sl_buf *b, unsigned field) { return pb_begin_n(b, field, 2); }

static void pb_end2(sl_buf *b, size_t mark) { pb_end_n(b, mark, 2); }

/* Valid UTF-8, with ASCII strings of up to 32 bytes (keys, ids, most values, short
 * messages) decided inline by overlapping words instead of a call. */
static inline bool utf8_ok(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    if (n >= 8 && n <= 32) { /* four overlapping words cover 17 to 32 bytes */
        uint64_t a, b, y, z;
        memcpy(&a, s, 8);
        memcpy(&z, s + n - 8, 8);
        if (n > 16) {
            memcpy(&b, s + 8, 8);
            memcpy(&y, s + n - 16, 8);
            a |= b | y;
        }
        if (!((a | z) & 0x8080808080808080ULL))
            return true;
    } else if (n >= 4 && n < 8) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + n - 4, 4);
        if (!((a | z) & 0x80808080u))
            return true;
    } else if (n < 4) { /* 0 to 3 bytes: the first, middle and last cover them */
        if (!n || !((s[0] | s[n / 2] | s[n - 1]) & 0x80))
            return true;
    }
    return utf8_valid_prefix(p, n) == n;
}

/* A protobuf string must be valid UTF-8: bad bytes become U+FFFD. */
static void pb_string(enc *e, unsigned field, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    if (SL_LIKELY(utf8_ok(p, n))) {
        pb_bytes(e->out, field, p, n);
        return;
    }
    size_t ok = utf8_valid_prefix(p, n);
    buf_reset(&e->tmp);
    while (n) {
        buf_append(&e->tmp, s, ok);
        s += ok, n -= ok;
        if (n) {
            buf_append(&e->tmp, "\xEF\xBF\xBD", 3);
            s++, n--;
        }
        ok = utf8_valid_prefix((const char *)s, n);
    }
    pb_bytes(e->out, field, e->tmp.p, e->tmp.len);
}

/* ---- values ------------------------------------------------------------------------ */

static void json_str(sl_buf *b, const char *p, size_t n)
{
    buf_putc(b, '"');
    json_escape(b, p, n);
    buf_putc(b, '"');
}

static void any_string(enc *e, const char *p, size_t n)
{
    if (e->json) {
        buf_puts(e->out, "{\"stringValue\":");
        json_str(e->out, p, n);
        buf_putc(e->out, '}');
    } else {
        pb_string(e, 1, p, n);
    }
}

static void any_int(enc *e, int64_t v)
{
    if (e->json) {
        buf_puts(e->out, "{\"intValue\":\"");
        json_write_int(e->out, v);
        buf_append(e->out, "\"}", 2);
    } else {
        pb_tag(e->out, 3, 0);
        pb_varint(e->out, (uint64_t)v);
    }
}

static void any_double(enc *e, double v)
{
    if (e->json) {
        /* proto3 JSON spells non-finite doubles as strings; the collector's reader takes
         * a number or a string and refuses null (the whole request would be a 400) */
        buf_puts(e->out, "{\"doubleValue\":");
        if (isnan(v))
            buf_puts(e->out, "\"NaN\"");
        else if (isinf(v))
            buf_puts(e->out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        else
            json_write_double(e->out, v);
        buf_putc(e->out, '}');
    } else {
        uint64_t bits;
        memcpy(&bits, &v, 8);
        pb_fixed64(e->out, 4, bits);
    }
}

static void any_bool(enc *e, bool v)
{
    if (e->json) {
        buf_puts(e->out, v ? "{\"boolValue\":true}" : "{\"boolValue\":false}");
    } else {
        pb_tag(e->out, 2, 0);
        pb_varint(e->out, v);
    }
}

static void any_json(enc *e, const json_value *v, int depth);

/* A JSON number: intValue when written as an integer that fits, else doubleValue. */
static void any_number(enc *e, const json_value *v)
{
    if (v->raw_len < 21 && !memchr(v->raw, '.', v->raw_len) && !memchr(v->raw, 'e', v->raw_len) &&
        !memchr(v->raw, 'E', v->raw_len)) {
        char tmp[24];
        memcpy(tmp, v->raw, v->raw_len);
        tmp[v->raw_len] = '\0';
        errno = 0;
        char *end;
        long long ll = strtoll(tmp, &end, 10);
        if (errno == 0 && *end == '\0') {
            any_int(e, ll);
            return;
        }
    }
    any_double(e, v->num);
}

/* KeyValue: key + AnyValue produced by fn. */
static void kv_json_value(enc *e, const char *k, size_t klen, const json_value *v, int depth)
{
    if (e->json) {
        buf_puts(e->out, "{\"key\":");
        json_str(e->out, k, klen);
        buf_puts(e->out, ",\"value\":");
        any_json(e, v, depth);
        buf_putc(e->out, '}');
    } else {
        pb_string(e, 1, k, klen);
        size_t mv = pb_begin(e->out, 2);
        any_json(e, v, depth);
        pb_end(e->out, mv);
    }
}

/* Writes the AnyValue content (JSON object, or protobuf message body). Depth is bounded by
 * the JSON parser (64). */
static void any_json(enc *e, const json_value *v, int depth)
{
    switch (v->type) {
    case JSON_NULL:
        if (e->json)
            buf_append(e->out, "{}", 2);
        return;
    case JSON_BOOL:
        any_bool(e, v->b);
        return;
    case JSON_NUM:
        any_number(e, v);
        return;
    case JSON_STR:
        any_string(e, v->str, v->len);
        return;
    case JSON_ARR:
        if (e->json) {
            buf_puts(e->out, "{\"arrayValue\":{\"values\":[");
            for (size_t i = 0; i < v->n; i++) {
                if (i)
                    buf_putc(e->out, ',');
                any_json(e, v->items[i], depth + 1);
            }
            buf_puts(e->out, "]}}");
        } else {
            size_t ma = pb_begin(e->out, 5);
            for (size_t i = 0; i < v->n; i++) {
                size_t mi = pb_begin(e->out, 1);
                any_json(e, v->items[i], depth + 1);
                pb_end(e->out, mi);
            }
            pb_end(e->out, ma);
        }
        return;
    case JSON_OBJ:
        if (e->json) {
            buf_puts(e->out, "{\"kvlistValue\":{\"values\":[");
            for (size_t i = 0; i < v->n; i++) {
                if (i)
                    buf_putc(e->out, ',');
                kv_json_value(e, v->keys[i], strlen(v->keys[i]), v->items[i], depth + 1);
            }
            buf_puts(e->out, "]}}");
        } else {
            size_t mk = pb_begin(e->out, 6);
            for (size_t i = 0; i < v->n; i++) {
                size_t mi = pb_begin(e->out, 1);
                kv_json_value(e, v->keys[i], strlen(v->keys[i]), v->items[i], depth + 1);
                pb_end(e->out, mi);
            }
            pb_end(e->out, mk);
        }
        return;
    }
}

/* AnyValue content for one event field. */
static void any_field(enc *e, const sl_field *f)
{
    switch (f->type) {
    case SL_VAL_STR:
        any_string(e, f->v.s.ptr, f->v.s.len);
        break;
    case SL_VAL_INT:
        any_int(e, f->v.i);
        break;
    case SL_VAL_FLOAT:
        any_double(e, f->v.f);
        break;
    case SL_VAL_BOOL:
        any_bool(e, f->v.b);
        break;
    case SL_VAL_JSON: {
        char err[8];
        json_value *v = json_parse(&e->arena, f->v.s.ptr, f->v.s.len, err, sizeof err);
        if (v)
            any_json(e, v, 0);
        else
            any_string(e, f->v.s.ptr, f->v.s.len);
        break;
    }
    default: /* null: an empty AnyValue */
        if (e->json)
            buf_append(e->out, "{}", 2);
        break;
    }
}

/* A protobuf KeyValue with a scalar value and valid UTF-8 strings, the common case, with
 * its lengths computed up front instead of reserved and moved (note 3), and written with
 * one capacity check. Returns false when the general path must write it. Always inlined:
 * as a function of its own, saving and restoring registers was a sixth of its cost. */
static inline __attribute__((always_inline)) bool kv_direct(enc *e, unsigned field,
                                                            sl_str key, const sl_field *f,
                                                            const char *sval)
{
    const char *sp = NULL;
    size_t sn = 0, asz = 0;
    int type = SL_VAL_STR;
    uint64_t u = 0;
    if (!f) {
        sp = sval;
        sn = strlen(sval);
    } else {
        type = f->type;
        switch (type) {
        case SL_VAL_STR: sp = f->v.s.ptr; sn = f->v.s.len; break;
        case SL_VAL_INT: u = (uint64_t)f->v.i; asz = 1 + pb_varint_len(u); break;
        case SL_VAL_FLOAT: memcpy(&u, &f->v.f, 8); asz = 9; break;
        case SL_VAL_BOOL: u = f->v.b; asz = 2; break;
        case SL_VAL_JSON: return false;
        default: type = SL_VAL_NULL; break; /* null: an empty AnyValue */
        }
    }
    if (!utf8_ok(key.ptr, key.len))
        return false;
    sl_buf *b = e->out;
    if (sp) {
        if (!utf8_ok(sp, sn))
            return false;
        if (4 + key.len + 2 + sn < 128 && field < 16) {
            /* a short string KeyValue: every length is one byte */
            size_t kv = 4 + key.len + 2 + sn;
            if (b->cap - b->len < kv + 2)
                buf_reserve(b, kv + 2);
            unsigned char *d = (unsigned char *)b->p + b->len;
            d[0] = (unsigned char)(field << 3 | 2);
            d[1] = (unsigned char)kv;
            d[2] = 1 << 3 | 2; /* KeyValue.key */
            d[3] = (unsigned char)key.len;
            d = put_bytes(d + 4, key.ptr, key.len);
            d[0] = 2 << 3 | 2; /* KeyValue.value */
            d[1] = (unsigned char)(2 + sn);
            d[2] = 1 << 3 | 2; /* AnyValue.string_value */
            d[3] = (unsigned char)sn;
            d = put_bytes(d + 4, sp, sn);
            b->len = (size_t)((char *)d - b->p);
            return true;
        }
        asz = 1 + pb_varint_len(sn) + sn;
    }
    size_t kvsz = 1 + pb_varint_len(key.len) + key.len + 1 + pb_varint_len(asz) + asz;
    if (b->cap - b->len < kvsz + 16)
        buf_reserve(b, kvsz + 16);
    unsigned char *d = (unsigned char *)b->p + b->len;
    d = put_varint(d, (uint64_t)field << 3 | 2);
    d = put_varint(d, kvsz);
    *d++ = 1 << 3 | 2; /* KeyValue.key */
    d = put_varint(d, key.len);
    d = put_bytes(d, key.ptr, key.len);
    *d++ = 2 << 3 | 2; /* KeyValue.value */
    d = put_varint(d, asz);
    switch (type) {
    case SL_VAL_STR:
        *d++ = 1 << 3 | 2; /* AnyValue.string_value */
        d = put_varint(d, sn);
        d = put_bytes(d, sp, sn);
        break;
    case SL_VAL_INT:
        *d++ = 3 << 3 | 0; /* AnyValue.int_value */
        d = put_varint(d, u);
        break;
    case SL_VAL_FLOAT:
        *d++ = 4 << 3 | 1; /* AnyValue.double_value, little-endian */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(d, &u, 8);
        d += 8;
#else
        for (int i = 0; i < 8; i++)
            *d++ = (unsigned char)(u >> (8 * i));
#endif
        break;
    case SL_VAL_BOOL:
        *d++ = 2 << 3 | 0; /* AnyValue.bool_value */
        *d++ = (unsigned char)u;
        break;
    default:
        break;
    }
    b->len = (size_t)((char *)d - b->p);
    return true;
}

/* One KeyValue (JSON object, or a protobuf KeyValue message as field `field`). */
static void keyvalue(enc *e, unsigned field, bool *first, sl_str key, const sl_field *f,
                     const char *sval)
{
    if (e->json) {
        if (!*first)
            buf_putc(e->out, ',');
        buf_puts(e->out, "{\"key\":");
        json_str(e->out, key.ptr, key.len);
        buf_puts(e->out, ",\"value\":");
        if (f)
            any_field(e, f);
        else
            any_string(e, sval, strlen(sval));
        buf_putc(e->out, '}');
    } else if (!kv_direct(e, field, key, f, sval)) {
        size_t mk = pb_begin(e->out, field);
        pb_string(e, 1, key.ptr, key.len);
        size_t mv = pb_begin(e->out, 2);
        if (f)
            any_field(e, f);
        else
            any_string(e, sval, strlen(sval));
        pb_end(e->out, mv);
        pb_end(e->out, mk);
    }
    *first = false;
}

/* ---- roles and grouping ------------------------------------------------------------ */

static const int8_t hex_table[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
    ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* 0-15, or -1 (the table stores value + 1 so that 0 means "not hex") */
static int hexval(char c)
{
    return hex_table[(unsigned char)c] - 1;
}

/* Valid id: `n` hex digits, not all zero. Writes n/2 bytes to out when given. */
static bool hex_id(const char *p, size_t len, size_t n, uint8_t *out)
{
    if (len != n)
        return false;
    bool nonzero = false;
    size_t i = 0;
#ifdef __SSE2__
    /* 16 digits at a time (trace and span ids are 32 and 16): validate, convert, and
     * pack nibble pairs, high nibble first. */
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i lo = _mm_or_si128(v, _mm_set1_epi8(0x20)); /* 'A'-'F' -> 'a'-'f' */
        __m128i dig = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                    _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
        __m128i alp = _mm_and_si128(_mm_cmpgt_epi8(lo, _mm_set1_epi8('a' - 1)),
                                    _mm_cmplt_epi8(lo, _mm_set1_epi8('f' + 1)));
        if (_mm_movemask_epi8(_mm_or_si128(dig, alp)) != 0xffff)
            return false;
        __m128i val = _mm_or_si128(_mm_and_si128(dig, _mm_sub_epi8(v, _mm_set1_epi8('0'))),
                                   _mm_andnot_si128(dig, _mm_sub_epi8(lo, _mm_set1_epi8('a' - 10))));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(val, _mm_setzero_si128())) != 0xffff)
            nonzero = true;
        if (out) {
            __m128i hi = _mm_slli_epi16(_mm_and_si128(val, _mm_set1_epi16(0x00ff)), 4);
            __m128i pair = _mm_or_si128(hi, _mm_srli_epi16(val, 8));
            _mm_storel_epi64((__m128i *)(out + i / 2), _mm_packus_epi16(pair, pair));
        }
    }
#endif
    for (; i < n; i += 2) {
        int hi = hexval(p[i]), lo = hexval(p[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        uint8_t v = (uint8_t)(hi << 4 | lo);
        nonzero |= v != 0;
        if (out)
            out[i / 2] = v;
    }
    return nonzero;
}

/* A valid id field: its n/2 bytes go to out (untouched otherwise). */
static bool field_hex(const sl_field *f, size_t n, uint8_t *out)
{
    uint8_t tmp[16];
    if (f->type != SL_VAL_STR || !hex_id(f->v.s.ptr, f->v.s.len, n, tmp))
        return false;
    memcpy(out, tmp, n / 2);
    return true;
}

/* W3C traceparent: 2-hex version, 32-hex trace id, 16-hex span id, 2-hex flags. */
static bool traceparent_ok(const sl_field *f)
{
    if (f->type != SL_VAL_STR || f->v.s.len < 55)
        return false;
    const char *p = f->v.s.ptr;
    return hexval(p[0]) >= 0 && hexval(p[1]) >= 0 && p[2] == '-' && hex_id(p + 3, 32, 32, NULL) &&
           p[35] == '-' && hex_id(p + 36, 16, 16, NULL) && p[52] == '-' && hexval(p[53]) >= 0 &&
           hexval(p[54]) >= 0 && (f->v.s.len == 55 || p[55] == '-');
}

/* The built-in resource keys by length (all are shorter than 32), built once. */
static uint8_t res_bylen[32][OTLP_NKEYS];
static uint8_t res_nlen[32];
static pthread_once_t res_once = PTHREAD_ONCE_INIT;

static void res_index(void)
{
    for (size_t i = 0; i < OTLP_NKEYS; i++) {
        size_t l = otlp_resource_keys[i].from.len;
        res_bylen[l][res_nlen[l]++] = (uint8_t)i;
    }
}

/* Resource table index for a key (config extras after the built-ins), or -1. */
static int resource_index(const otlp_map *m, sl_str key)
{
    if (key.len < 32) {
        /* only the built-ins of that length, first match in table order as before */
        for (unsigned j = 0; j < res_nlen[key.len]; j++) {
            size_t i = res_bylen[key.len][j];
            if (otlp_resource_keys[i].from.ptr[0] == key.ptr[0] &&
                memcmp(otlp_resource_keys[i].from.ptr, key.ptr, key.len) == 0)
                return (int)i;
        }
    }
    if (m->resource_keys)
        for (size_t i = 0; i < m->resource_keys->n && i < 200; i++)
            if (str_eq(key, m->resource_keys->v[i], strlen(m->resource_keys->v[i])))
                return (int)(OTLP_NKEYS + i);
    for (size_t i = 0; i < SL_ARRAY_LEN(otlp_resource_spaces); i++) {
        sl_str sp = otlp_resource_spaces[i];
        bool ns = sp.ptr[sp.len - 1] == '.';
        if ((ns ? key.len > sp.len : key.len == sp.len) && sp.ptr[0] == key.ptr[0] &&
            memcmp(key.ptr, sp.ptr, sp.len) == 0)
            return RES_OWN;
    }
    return -1;
}

/* The resource attribute name of field f, whose rmap value is idx. */
static sl_str resource_name(const otlp_map *m, int idx, const sl_field *f)
{
    if (idx == RES_OWN)
        return f->key;
    if ((size_t)idx < OTLP_NKEYS)
        return otlp_resource_keys[idx].to;
    const char *k = m->resource_keys->v[(size_t)idx - OTLP_NKEYS];
    return (sl_str){k, (uint32_t)strlen(k)};
}

/* Sizes an event from its field array alone (no string is read): *est, a rough size of
 * its protobuf LogRecord (it only picks a length reservation), and *hint, an upper
 * estimate of its encoded size in the request's encoding (the body is allocated once from
 * their sum). */
static void event_sizes(const enc *c, const sl_event *ev, size_t *est, size_t *hint)
{
    size_t klen = 0, slen = 0, jlen = 0, nscalar = 0, nf = ev->nfields;
    for (uint32_t i = 0; i < ev->nfields; i++) {
        const sl_field *f = &ev->fields[i];
        klen += f->key.len;
        if (f->type == SL_VAL_STR || f->type == SL_VAL_JSON) {
            slen += f->v.s.len;
            jlen += f->type == SL_VAL_JSON ? f->v.s.len : 0;
        } else {
            nscalar++;
        }
    }
    *est = 64 + ev->message.len + 8 * nf + klen + slen + 9 * nscalar;
    *hint = (c->json ? 192 + 64 * nf : 96 + 24 * nf) + ev->message.len + klen + slen + jlen;
}

/* Keys with a role of their own, whatever the config (their names differ). */
static const struct {
    sl_str key;
    uint16_t bit;
} otlp_role_keys[] = {
    {SL_STR("severity_number"), K_SEVNUM},   {SL_STR("trace_flags"), K_FLAGS},
    {SL_STR("observed_time_unix_nano"), K_OBSERVED}, {SL_STR("otel.scope.name"), K_SCOPE_NAME},
    {SL_STR("otel.scope.version"), K_SCOPE_VERSION}, {SL_STR("event.name"), K_EVENT},
    {SL_STR("trace_id"), K_TRACE},           {SL_STR("span_id"), K_SPAN},
    {SL_STR("traceparent"), K_PARENT},
};

/* The key-only part of classify's decisions for key k. */
static unsigned key_bits(const enc *c, sl_str k, int *res)
{
    const otlp_map *m = c->m;
    unsigned b = 0;
    *res = resource_index(m, k);
    if (*res >= 0)
        b |= K_RES;
    for (size_t i = 0; i < SL_ARRAY_LEN(otlp_role_keys); i++)
        if (str_eq(k, otlp_role_keys[i].key.ptr, otlp_role_keys[i].key.len))
            b |= otlp_role_keys[i].bit;
    if (k.len > SCOPE_ATTR_PLEN && memcmp(k.ptr, SCOPE_ATTR_PREFIX, SCOPE_ATTR_PLEN) == 0)
        b |= K_SCOPE_ATTR;
    if (m->severity_field) {
        if (str_eq(k, m->severity_field, c->sev_len))
            b |= K_LEVEL;
    } else {
        for (size_t i = 0; i < SL_ARRAY_LEN(otlp_level_keys); i++)
            if (str_eq(k, otlp_level_keys[i].ptr, otlp_level_keys[i].len))
                b |= K_LEVEL;
    }
    if (m->body_field && str_eq(k, m->body_field, c->body_len))
        b |= K_BODY;
    return b;
}

/* n bytes (1 to KC_KEYMAX) equal; up to 16 as two overlapping words, without a call. */
static inline bool key_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t x0, x1, y0, y1;
        memcpy(&x0, a, 8);
        memcpy(&y0, b, 8);
        memcpy(&x1, a + n - 8, 8);
        memcpy(&y1, b + n - 8, 8);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t x0, x1, y0, y1;
        memcpy(&x0, a, 4);
        memcpy(&y0, b, 4);
        memcpy(&x1, a + n - 4, 4);
        memcpy(&y1, b + n - 4, 4);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    return memcmp(a, b, n) == 0;
}

/* key_bits through the slot of field position i (KC_SLOTS of them). */
static inline unsigned key_class_of(enc *c, uint32_t i, sl_str k, int *res)
{
    key_class *kc = i < KC_SLOTS ? &c->kc[i] : NULL;
    if (kc && kc->len == k.len && k.len && key_eq(kc->key, k.ptr, k.len)) {
        *res = kc->rmap;
        return kc->bits;
    }
    unsigned b = key_bits(c, k, res);
    if (kc && k.len && k.len <= KC_KEYMAX && *res < 256) {
        kc->len = (uint8_t)k.len;
        kc->bits = (uint16_t)b;
        kc->rmap = (uint8_t)(*res >= 0 ? *res : 0);
        memcpy(kc->key, k.ptr, k.len);
    } else if (kc) {
        kc->len = 0;
    }
    return b;
}

/* severity_from_field through the table of level words read (enc.lv). */
static inline sl_severity level_severity(enc *c, const sl_field *f)
{
    if (f->type != SL_VAL_STR || f->v.s.len == 0 || f->v.s.len > sizeof c->lv[0].text)
        return severity_from_field(f);
    const char *p = f->v.s.ptr;
    size_t n = f->v.s.len;
    struct level_memo *lm =
        &c->lv[((unsigned char)p[0] ^ (unsigned char)p[n - 1] * 3u ^ n * 5) & 15];
    if (lm->len == n && key_eq(lm->text, p, n))
        return lm->sev;
    lm->sev = severity_from_field(f);
    lm->len = (uint8_t)n;
    memcpy(lm->text, p, n);
    return lm->sev;
}

/* Gives every field its role (note 1); returns how many are resource or scope fields. The
 * bytes of the trace_id and span_id fields given those roles go to ids[0..16), [16..24). */
static uint32_t classify(enc *c, const sl_event *ev, uint8_t *roles, uint8_t *rmap,
                         sl_severity *sevout, uint8_t ids[24])
{
    const otlp_map *m = c->m;
    int sev = -1, body = -1, sevnum = -1;
    uint32_t nres = 0;
    sl_severity sv = {0};
    for (uint32_t i = 0; i < ev->nfields; i++) {
        const sl_field *f = &ev->fields[i];
        roles[i] = ROLE_ATTR;
        rmap[i] = 0;
        int r;
        unsigned kb = key_class_of(c, i, f->key, &r);
        if (!kb)
            continue; /* a plain attribute, the common case */
        if ((kb & K_RES) && f->type != SL_VAL_JSON) {
            roles[i] = ROLE_RESOURCE;
            rmap[i] = (uint8_t)r;
            nres++;
            continue;
        }
        if (f->type == SL_VAL_INT) {
            if ((kb & K_SEVNUM) && f->v.i >= 1 && f->v.i <= 24) {
                roles[i] = ROLE_SEVNUM;
                sevnum = (int)i;
                continue;
            }
            if ((kb & K_FLAGS) && f->v.i > 0 && f->v.i <= (int64_t)UINT32_MAX) {
                roles[i] = ROLE_FLAGS;
                continue;
            }
            if ((kb & K_OBSERVED) && f->v.i > 0) {
                roles[i] = ROLE_OBSERVED;
                continue;
            }
        }
        if (f->type == SL_VAL_STR && (kb & (K_SCOPE_NAME | K_SCOPE_VERSION))) {
            rmap[i] = kb & K_SCOPE_NAME ? SCOPE_NAME : SCOPE_VERSION;
            roles[i] = ROLE_SCOPE;
            nres++;
            continue;
        }
        if (kb & K_SCOPE_ATTR) {
            roles[i] = ROLE_SCOPE;
            rmap[i] = SCOPE_ATTR;
            nres++;
            continue;
        }
        if (f->type == SL_VAL_STR && (kb & K_EVENT)) {
            roles[i] = ROLE_EVENT;
            continue;
        }
        if (sev < 0 && (kb & K_LEVEL) && (sv = level_severity(c, f)).number)
            sev = (int)i;
        if ((kb & K_TRACE) && field_hex(f, 32, ids))
            roles[i] = ROLE_TRACE;
        else if ((kb & K_SPAN) && field_hex(f, 16, ids + 16))
            roles[i] = ROLE_SPAN;
        else if ((kb & K_PARENT) && traceparent_ok(f))
            roles[i] = ROLE_PARENT;
        else if ((kb & K_BODY) && ev->message.len == 0 && body < 0)
            body = (int)i;
    }
    if (sevnum >= 0) {
        /* an explicit number: the level field is its text, verbatim, known word or not */
        const char *lk = m->severity_field ? m->severity_field : "severity";
        size_t ll = strlen(lk);
        for (uint32_t i = 0; i < ev->nfields && sev < 0; i++)
            if (roles[i] == ROLE_ATTR && ev->fields[i].type == SL_VAL_STR &&
                str_eq(ev->fields[i].key, lk, ll))
                sev = (int)i;
        sv.number = (int)ev->fields[sevnum].v.i;
        sv.text = NULL;
    }
    if (sev >= 0)
        roles[sev] = ROLE_SEVERITY;
    *sevout = sev >= 0 || sevnum >= 0 ? sv : (sl_severity){0};
    if (body >= 0)
        roles[body] = ROLE_BODY;
    return nres;
}

static uint64_t hash_bytes(const char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static uint64_t field_value_hash(const sl_field *f)
{
    uint64_t h = 14695981039346656037ULL ^ f->type;
    if (f->type == SL_VAL_STR || f->type == SL_VAL_JSON)
        return hash_bytes(f->v.s.ptr, f->v.s.len, h);
    return hash_bytes((const char *)&f->v.i, 8, h);
}

static bool field_value_eq(const sl_field *a, const sl_field *b)
{
    if (a->type != b->type)
        return false;
    if (a->type == SL_VAL_STR || a->type == SL_VAL_JSON)
        return a->v.s.len == b->v.s.len && memcmp(a->v.s.ptr, b->v.s.ptr, a->v.s.len) == 0;
    if (a->type == SL_VAL_NULL)
        return true;
    return memcmp(&a->v, &b->v, sizeof a->v) == 0;
}

static uint64_t resource_hash(const sl_event *ev, const uint8_t *roles, const uint8_t *rmap)
{
    uint64_t h = 0;
    for (uint32_t i = 0; i < ev->nfields; i++)
        if (roles[i] == ROLE_RESOURCE || roles[i] == ROLE_SCOPE)
            h += (field_value_hash(&ev->fields[i]) ^ rmap[i] ^
                  hash_bytes(ev->fields[i].key.ptr, ev->fields[i].key.len, 0)) *
                 0x9E3779B97F4A7C15ULL;
    return h;
}

/* Same resource and scope: every such field of one has an equal one in the other. */
static bool resource_eq(const sl_event *a, const uint8_t *ra, const uint8_t *ma,
                        const sl_event *b, const uint8_t *rb, const uint8_t *mb)
{
    size_t na = 0, nb = 0;
    for (uint32_t i = 0; i < a->nfields; i++)
        na += ra[i] == ROLE_RESOURCE || ra[i] == ROLE_SCOPE;
    for (uint32_t j = 0; j < b->nfields; j++)
        nb += rb[j] == ROLE_RESOURCE || rb[j] == ROLE_SCOPE;
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < a->nfields; i++) {
        if (ra[i] != ROLE_RESOURCE && ra[i] != ROLE_SCOPE)
            continue;
        bool found = false;
        for (uint32_t j = 0; j < b->nfields && !found; j++)
            found = rb[j] == ra[i] && mb[j] == ma[i] &&
                    ((ra[i] == ROLE_RESOURCE && ma[i] != RES_OWN) ||
                     str_eq(b->fields[j].key, a->fields[i].key.ptr, a->fields[i].key.len)) &&
                    field_value_eq(&a->fields[i], &b->fields[j]);
        if (!found)
            return false;
    }
    return true;
}

/* ---- records ----------------------------------------------------------------------- */

static void json_u64_str(sl_buf *b, const char *key, uint64_t v)
{
    buf_printf(b, "\"%s\":\"%llu\"", key, (unsigned long long)v);
}

static void json_hex(sl_buf *b, const char *key, const char *p, size_t n)
{
    buf_printf(b, ",\"%s\":\"", key);
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        buf_putc(b, c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c);
    }
    buf_putc(b, '"');
}

static void write_record(enc *c, const sl_event *ev, const uint8_t *roles, sl_severity sev,
                         const uint8_t ids[24], int64_t observed_ns)
{
    sl_buf *out = c->out;
    const sl_field *trace = NULL, *span = NULL, *parent = NULL, *bodyf = NULL;
    const sl_field *flagsf = NULL, *obsf = NULL, *eventf = NULL, *sevf = NULL;
    for (uint32_t i = 0; i < ev->nfields; i++) {
        switch (roles[i]) {
        case ROLE_FLAGS: flagsf = &ev->fields[i]; break;
        case ROLE_OBSERVED: obsf = &ev->fields[i]; break;
        case ROLE_EVENT: eventf = &ev->fields[i]; break;
        case ROLE_SEVERITY: sevf = &ev->fields[i]; break;
        case ROLE_TRACE: trace = &ev->fields[i]; break;
        case ROLE_SPAN: span = &ev->fields[i]; break;
        case ROLE_PARENT: parent = &ev->fields[i]; break;
        case ROLE_BODY: bodyf = &ev->fields[i]; break;
        default: break;
        }
    }
    /* explicit trace_id / span_id win over a traceparent */
    const char *tid = trace ? trace->v.s.ptr : parent ? parent->v.s.ptr + 3 : NULL;
    const char *sid = span ? span->v.s.ptr : parent && !trace ? parent->v.s.ptr + 36 : NULL;
    uint32_t flags = 0;
    if (parent)
        flags = (uint32_t)(hexval(parent->v.s.ptr[53]) << 4 | hexval(parent->v.s.ptr[54]));
    if (flagsf)
        flags = (uint32_t)flagsf->v.i;
    if (obsf)
        observed_ns = obsf->v.i;
    /* severity text: the canonical word, or with an explicit number the field verbatim */
    const char *stext = sev.text;
    size_t slen = stext ? strlen(stext) : 0;
    if (!stext && sevf && sevf->type == SL_VAL_STR)
        stext = sevf->v.s.ptr, slen = sevf->v.s.len;

    if (c->json) {
        buf_putc(out, '{');
        if (ev->ts_ns > 0) {
            json_u64_str(out, "timeUnixNano", (uint64_t)ev->ts_ns);
            buf_putc(out, ',');
        }
        json_u64_str(out, "observedTimeUnixNano", (uint64_t)observed_ns);
        if (sev.number)
            buf_printf(out, ",\"severityNumber\":%d", sev.number);
        if (sev.number && stext) {
            buf_puts(out, ",\"severityText\":");
            json_str(out, stext, slen);
        }
        if (eventf) {
            buf_puts(out, ",\"eventName\":");
            json_str(out, eventf->v.s.ptr, eventf->v.s.len);
        }
        buf_puts(out, ",\"body\":");
        if (bodyf)
            any_field(c, bodyf);
        else
            any_string(c, ev->message.ptr, ev->message.len);
        buf_puts(out, ",\"attributes\":[");
        bool first = true;
        for (uint32_t i = 0; i < ev->nfields; i++)
            if (roles[i] == ROLE_ATTR)
                keyvalue(c, 6, &first, ev->fields[i].key, &ev->fields[i], NULL);
        buf_putc(out, ']');
        if (flags)
            buf_printf(out, ",\"flags\":%u", flags);
        if (tid)
            json_hex(out, "traceId", tid, 32);
        if (sid)
            json_hex(out, "spanId", sid, 16);
        buf_putc(out, '}');
        return;
    }
    size_t mr = pb_begin2(out, 2); /* ScopeLogs.log_records */
    if (ev->ts_ns > 0)
        pb_fixed64(out, 1, (uint64_t)ev->ts_ns);
    if (sev.number) {
        pb_tag(out, 2, 0);
        pb_varint(out, (uint64_t)sev.number);
        if (stext)
            pb_string(c, 3, stext, slen);
    }
    if (!bodyf && utf8_ok(ev->message.ptr, ev->message.len)) {
        /* a string body, the common case: its lengths are known, so nothing moves (a
         * short message would, from the two bytes pb_begin2 reserves) */
        size_t n = ev->message.len;
        pb_tag(out, 5, 2);
        pb_varint(out, 1 + pb_varint_len(n) + n);
        pb_bytes(out, 1, ev->message.ptr, n);
    } else {
        size_t mb = pb_begin2(out, 5);
        if (bodyf)
            any_field(c, bodyf);
        else
            any_string(c, ev->message.ptr, ev->message.len);
        pb_end2(out, mb);
    }
    bool first = true;
    for (uint32_t i = 0; i < ev->nfields; i++) /* kv_direct inlined for attributes */
        if (roles[i] == ROLE_ATTR && !kv_direct(c, 6, ev->fields[i].key, &ev->fields[i], NULL))
            keyvalue(c, 6, &first, ev->fields[i].key, &ev->fields[i], NULL);
    if (flags)
        pb_fixed32(out, 8, flags);
    uint8_t id[16];
    /* trace_id / span_id fields decoded by classify (ids, when given); a traceparent, or
     * the events of later groups, decoded here */
    if (trace && ids)
        pb_bytes(out, 9, ids, 16);
    else if (tid && hex_id(tid, 32, 32, id))
        pb_bytes(out, 9, id, 16);
    if (span && ids)
        pb_bytes(out, 10, ids + 16, 8);
    else if (sid && hex_id(sid, 16, 16, id))
        pb_bytes(out, 10, id, 8);
    pb_fixed64(out, 11, (uint64_t)observed_ns);
    if (eventf)
        pb_string(c, 12, eventf->v.s.ptr, eventf->v.s.len);
    pb_end2(out, mr);
}

/* Resource attributes of a group: config first, then the first event's resource fields
 * (an event field overrides a config key of the same name). */
static void write_resource(enc *c, const sl_event *ev, const uint8_t *roles,
                           const uint8_t *rmap)
{
    const otlp_map *m = c->m;
    bool first = true;
    size_t nres = m->resource ? m->resource->n : 0;
    for (size_t k = 0; k < nres; k++) {
        const char *key = m->resource->keys[k];
        sl_str ks = {key, (uint32_t)strlen(key)};
        bool shadowed = false;
        for (uint32_t i = 0; i < ev->nfields && !shadowed; i++)
            shadowed = roles[i] == ROLE_RESOURCE &&
                       str_eq(resource_name(m, rmap[i], &ev->fields[i]), key, ks.len);
        if (!shadowed)
            keyvalue(c, 1, &first, ks, NULL, m->resource->vals[k]);
    }
    for (uint32_t i = 0; i < ev->nfields; i++)
        if (roles[i] == ROLE_RESOURCE)
            keyvalue(c, 1, &first, resource_name(m, rmap[i], &ev->fields[i]), &ev->fields[i],
                     NULL);
}

/* The InstrumentationScope of a group (its content; a whole JSON object): the event's
 * otel.scope.* fields (note 6), else sluice itself. */
static void write_scope(enc *c, const sl_event *ev, const uint8_t *roles, const uint8_t *rmap)
{
    const sl_field *name = NULL, *version = NULL;
    bool any = false;
    for (uint32_t i = 0; i < ev->nfields; i++) {
        if (roles[i] != ROLE_SCOPE)
            continue;
        any = true;
        if (rmap[i] == SCOPE_NAME)
            name = &ev->fields[i];
        else if (rmap[i] == SCOPE_VERSION)
            version = &ev->fields[i];
    }
    sl_str nm = any ? (name ? name->v.s : (sl_str){"", 0}) : SL_STR("sluice");
    sl_str vs = any ? (version ? version->v.s : (sl_str){"", 0}) : SL_STR(SLUICE_VERSION);
    if (c->json) {
        buf_puts(c->out, "{\"name\":");
        json_str(c->out, nm.ptr, nm.len);
        buf_puts(c->out, ",\"version\":");
        json_str(c->out, vs.ptr, vs.len);
        buf_puts(c->out, ",\"attributes\":[");
    } else {
        if (nm.len)
            pb_string(c, 1, nm.ptr, nm.len);
        if (vs.len)
            pb_string(c, 2, vs.ptr, vs.len);
    }
    bool first = true;
    for (uint32_t i = 0; i < ev->nfields; i++)
        if (roles[i] == ROLE_SCOPE && rmap[i] == SCOPE_ATTR) {
            sl_str k = ev->fields[i].key;
            keyvalue(c, 3, &first,
                     (sl_str){k.ptr + SCOPE_ATTR_PLEN, (uint32_t)(k.len - SCOPE_ATTR_PLEN)},
                     &ev->fields[i], NULL);
        }
    if (c->json)
        buf_puts(c->out, "]}");
}

/* Opens the ResourceLogs and ScopeLogs of the group whose first event is f. The protobuf
 * pair reserve the varint length of gest, an estimate of their size, so that they are
 * usually not moved when closed (a wrong guess costs a move, never a different byte);
 * marks[0..1] and *rl are for group_close. */
static void group_open(enc *c, bool comma, const sl_event *ev, const uint8_t *roles,
                       const uint8_t *rmap, size_t gest, size_t marks[2], size_t *rl)
{
    sl_buf *out = c->out;
    if (c->json) {
        if (comma)
            buf_putc(out, ',');
        buf_puts(out, "{\"resource\":{\"attributes\":[");
        write_resource(c, ev, roles, rmap);
        buf_puts(out, "]},\"scopeLogs\":[{\"scope\":");
        write_scope(c, ev, roles, rmap);
        buf_puts(out, ",\"logRecords\":[");
        return;
    }
    *rl = pb_varint_len(gest);
    marks[0] = pb_begin_n(out, 1, *rl);
    size_t mres = pb_begin(out, 1);
    write_resource(c, ev, roles, rmap);
    pb_end(out, mres);
    marks[1] = pb_begin_n(out, 2, *rl);
    size_t msc = pb_begin(out, 1);
    write_scope(c, ev, roles, rmap);
    pb_end(out, msc);
}

static void group_close(enc *c, const size_t marks[2], size_t rl)
{
    if (c->json) {
        buf_puts(c->out, "]}]}");
        return;
    }
    pb_end_n(c->out, marks[1], rl);
    pb_end_n(c->out, marks[0], rl);
}

/* Note 2: each event is classified and, when it belongs to the first group (that of the
 * first event), written at once while its strings are still in cache; the events of other
 * groups are written after it, group by group, in order: the bytes of writing group by
 * group. */
static void encode_request(sl_buf *out, bool json, sl_event *const *events, size_t n,
                           const otlp_map *m, int64_t observed_ns)
{
    enc c = {.out = out, .json = json, .m = m, .tmp = SL_BUF_INIT,
             .sev_len = m->severity_field ? strlen(m->severity_field) : 0,
             .body_len = m->body_field ? strlen(m->body_field) : 0};
    arena_init(&c.arena, 16384);
    size_t total = 0, hint = 512, esum = 256;
    for (size_t i = 0; i < n; i++) {
        size_t h, e;
        total += events[i]->nfields;
        sl_str pre = event_prep(events[i], m->prep_id);
        if (pre.len)
            e = h = pre.len + 1;
        else
            event_sizes(&c, events[i], &e, &h);
        hint += h;
        esum += e;
    }
    /* the body at once, before the scratch below, not grown by doubling (which would leave
     * up to twice its size per request in flight); pages reserved but never written cost
     * no memory */
    buf_reserve(out, hint);
    uint8_t *roles = sl_xmalloc(total * 2 + 1);
    uint8_t **er = sl_xmalloc((n + 1) * sizeof *er);
    uint64_t *hash = sl_xmalloc((n + 1) * sizeof *hash);
    uint32_t *group = sl_xmalloc((n + 1) * sizeof *group);
    sl_severity *sevs = sl_xmalloc((n + 1) * sizeof *sevs);
    uint32_t *first = sl_xmalloc((n + 1) * sizeof *first); /* first event of each group */
    uint32_t *nres = sl_xmalloc((n + 1) * sizeof *nres);   /* resource and scope fields */
    size_t tsize = 16;
    while (tsize < n * 2)
        tsize <<= 1;
    uint32_t *table = sl_xmalloc(tsize * sizeof *table); /* group id + 1, 0 = empty */
    memset(table, 0, tsize * sizeof *table);

    if (json)
        buf_puts(out, "{\"resourceLogs\":[");
    size_t off = 0, ngroups = 0, marks[2] = {0, 0}, rl = 0;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        er[i] = roles + off;
        uint8_t *rm = er[i] + total;
        uint8_t ids[24]; /* for the first group, written at once; the others decode again */
        sl_str pre = event_prep(events[i], m->prep_id);
        if (pre.len) { /* note 7: no resource or scope field; roles only for group_open */
            memset(er[i], ROLE_ATTR, events[i]->nfields);
            memset(rm, 0, events[i]->nfields);
            nres[i] = 0;
        } else {
            nres[i] = classify(&c, events[i], er[i], rm, &sevs[i], ids);
        }
        off += events[i]->nfields;
        /* no resource or scope field, the common case: hash 0, equal to any other such */
        hash[i] = nres[i] ? resource_hash(events[i], er[i], rm) : 0;
        size_t slot = hash[i] & (tsize - 1);
        for (;;) {
            uint32_t g = table[slot];
            if (g == 0) {
                first[ngroups] = (uint32_t)i;
                table[slot] = (uint32_t)++ngroups;
                group[i] = (uint32_t)(ngroups - 1);
                break;
            }
            size_t f = first[g - 1];
            if (hash[f] == hash[i] && nres[f] == nres[i] &&
                (nres[i] == 0 ||
                 resource_eq(events[f], er[f], er[f] + total, events[i], er[i], rm))) {
                group[i] = g - 1;
                break;
            }
            slot = (slot + 1) & (tsize - 1);
        }
        if (group[i] != 0)
            continue;
        if (i == 0) /* the first group's size is not known yet: all events bound it */
            group_open(&c, false, events[0], er[0], er[0] + total, esum, marks, &rl);
        if (json && any)
            buf_putc(out, ',');
        any = true;
        if (pre.len)
            buf_append(out, pre.ptr, pre.len);
        else
            write_record(&c, events[i], er[i], sevs[i], ids, observed_ns);
    }
    if (n)
        group_close(&c, marks, rl);
    for (size_t g = 1; g < ngroups; g++) {
        size_t f = first[g], gest = 256;
        for (size_t i = f; i < n; i++) {
            size_t e, h;
            if (group[i] == g) {
                sl_str pre = event_prep(events[i], m->prep_id);
                if (pre.len)
                    e = pre.len;
                else
                    event_sizes(&c, events[i], &e, &h);
                gest += e;
            }
        }
        group_open(&c, true, events[f], er[f], er[f] + total, gest, marks, &rl);
        any = false;
        for (size_t i = f; i < n; i++) {
            if (group[i] != g)
                continue;
            if (json && any)
                buf_putc(out, ',');
            any = true;
            sl_str pre = event_prep(events[i], m->prep_id);
            if (pre.len)
                buf_append(out, pre.ptr, pre.len);
            else
                write_record(&c, events[i], er[i], sevs[i], NULL, observed_ns);
        }
        group_close(&c, marks, rl);
    }
    if (json)
        buf_puts(out, "]}");
    free(table);
    free(first);
    free(nres);
    free(group);
    free(sevs);
    free(hash);
    free(er);
    free(roles);
    buf_free(&c.tmp);
    arena_free(&c.arena);
}

void otlp_encode(sl_buf *out, bool json, sl_event *const *events, size_t n, const otlp_map *m,
                 int64_t observed_ns)
{
    pthread_once(&res_once, res_index);
    size_t k = 0; /* prepared events are not read for their fields (note 7) */
    while (k < n && (!events[k]->nshared || event_prep(events[k], m->prep_id).len))
        k++;
    if (k == n) {
        encode_request(out, json, events, n, m, observed_ns);
        return;
    }
    /* The encoder walks each event's fields several times, as one array: events with shared
     * fields (event.h; kubernetes_logs' metadata) are encoded from copies whose fields are
     * all their own (the strings stay where they are: the batch outlives the call). */
    sl_event **evs = sl_xmalloc(n * sizeof *evs), *copies = sl_xmalloc(n * sizeof *copies);
    sl_arena a;
    arena_init(&a, 16384);
    for (size_t i = 0; i < n; i++) {
        const sl_event *e = events[i];
        evs[i] = events[i];
        if (!e->nshared || event_prep(e, m->prep_id).len)
            continue;
        uint32_t nf = event_nfields(e);
        copies[i] = *e;
        copies[i].fields = event_fields_flat(&a, e, nf);
        copies[i].nfields = copies[i].cap_fields = nf;
        copies[i].shared = NULL;
        copies[i].nshared = 0;
        evs[i] = &copies[i];
    }
    encode_request(out, json, evs, n, m, observed_ns);
    arena_free(&a);
    free(copies);
    free(evs);
}

/* Scratch of record writing outside a request: the fields of one event with shared
 * fields as one array, and the roles of one event. */
typedef struct rec_scratch {
    sl_arena flat;
    uint8_t *roles;
    size_t rcap;
} rec_scratch;

/* Writes ev's record to c->out, unless ev has resource or scope fields: then writes
 * nothing and returns false (otlp_encode groups it). */
static bool write_alone(enc *c, rec_scratch *x, const sl_event *ev, int64_t observed_ns)
{
    sl_event copy;
    if (ev->nshared) {
        uint32_t nf = event_nfields(ev);
        arena_reset(&x->flat);
        copy = *ev;
        copy.fields = event_fields_flat(&x->flat, ev, nf);
        copy.nfields = copy.cap_fields = nf;
        copy.shared = NULL;
        copy.nshared = 0;
        ev = &copy;
    }
    if (2 * (size_t)ev->nfields + 1 > x->rcap) {
        x->rcap = 2 * (size_t)ev->nfields + 16;
        free(x->roles);
        x->roles = sl_xmalloc(x->rcap);
    }
    sl_severity sev;
    uint8_t ids[24];
    if (classify(c, ev, x->roles, x->roles + ev->nfields, &sev, ids))
        return false;
    write_record(c, ev, x->roles, sev, ids, observed_ns);
    return true;
}

static enc enc_alone(sl_buf *out, bool json, const otlp_map *m, rec_scratch *x)
{
    pthread_once(&res_once, res_index);
    arena_init(&x->flat, 4096);
    x->roles = NULL;
    x->rcap = 0;
    enc c = {.out = out, .json = json, .m = m, .tmp = SL_BUF_INIT,
             .sev_len = m->severity_field ? strlen(m->severity_field) : 0,
             .body_len = m->body_field ? strlen(m->body_field) : 0};
    arena_init(&c.arena, 16384);
    return c;
}

static void enc_alone_free(enc *c, rec_scratch *x)
{
    free(x->roles);
    arena_free(&x->flat);
    buf_free(&c->tmp);
    arena_free(&c->arena);
}

void otlp_prepare(sl_batch *b, bool json, const otlp_map *m, int64_t observed_ns)
{
    rec_scratch x;
    enc c = enc_alone(&b->prep, json, m, &x);
    /* A first guess of a record's size (a walk of the fields to size them cost more than
     * growing the buffer now and then); batch_prep_done gives back what is not used. */
    buf_reserve(&b->prep, (size_t)b->n * (json ? 768 : 256));
    size_t first = b->prep.len;
    for (uint32_t i = 0; i < b->n; i++) {
        /* note 7: the first 8 all have resource or scope fields (none written): the rest
         * are left to otlp_encode without being classified twice */
        if (i == 8 && b->prep.len == first)
            break;
        size_t start = b->prep.len;
        if (write_alone(&c, &x, &b->events[i], observed_ns))
            batch_prep_event(b, i, start);
    }
    batch_prep_done(b, m->prep_id);
    enc_alone_free(&c, &x);
}

bool otlp_prepare_segment(sl_batch *b, bool json, const otlp_map *m, int64_t observed_ns,
                          int level, uint32_t per)
{
    if (!b->n || b->prep_owner)
        return false;
    if (per == 0)
        per = b->n;
    sl_buf raw = SL_BUF_INIT;
    rec_scratch x;
    enc c = enc_alone(&raw, json, m, &x);
    buf_reserve(&raw, (size_t)SL_MIN(per, b->n) * (json ? 768 : 256));
    bool ok = true;
    for (uint32_t i = 0; i < b->n && ok; i += per) {
        uint32_t k = SL_MIN(per, b->n - i);
        buf_reset(&raw);
        for (uint32_t j = 0; j < k && ok; j++) {
            if (json && j)
                buf_putc(&raw, ',');
            ok = write_alone(&c, &x, &b->events[i + j], observed_ns);
        }
        ok = ok && gz_prep_add(b, i, k, raw.p, raw.len, level, m);
    }
    gz_prep_end(b, m->seg_id, ok);
    buf_free(&raw);
    enc_alone_free(&c, &x);
    return ok;
}

/* The request around records_len bytes of records of events without resource or scope
 * fields: one ResourceLogs (the configured resource) with one ScopeLogs (sluice), as
 * group_open and group_close write it, with the lengths known up front. */
static void frame_request(bool json, const otlp_map *m, size_t records_len, sl_buf *head,
                          sl_buf *tail)
{
    static const sl_event none;
    uint8_t roles[1] = {0};
    enc c = {.json = json, .m = m, .tmp = SL_BUF_INIT};
    arena_init(&c.arena, 1024);
    if (json) {
        c.out = head;
        buf_puts(head, "{\"resourceLogs\":[");
        group_open(&c, false, &none, roles, roles, 0, NULL, NULL);
        buf_puts(tail, "]}]}]}");
    } else {
        sl_buf res = SL_BUF_INIT, scope = SL_BUF_INIT;
        c.out = &res;
        write_resource(&c, &none, roles, roles);
        c.out = &scope;
        write_scope(&c, &none, roles, roles);
        size_t sc = 1 + pb_varint_len(scope.len) + scope.len + records_len;
        size_t rl = 1 + pb_varint_len(res.len) + res.len + 1 + pb_varint_len(sc) + sc;
        pb_tag(head, 1, 2); /* ExportLogsServiceRequest.resource_logs */
        pb_varint(head, rl);
        pb_tag(head, 1, 2); /* ResourceLogs.resource */
        pb_varint(head, res.len);
        buf_append(head, res.p, res.len);
        pb_tag(head, 2, 2); /* ResourceLogs.scope_logs */
        pb_varint(head, sc);
        pb_tag(head, 1, 2); /* ScopeLogs.scope */
        pb_varint(head, scope.len);
        buf_append(head, scope.p, scope.len);
        buf_free(&res);
        buf_free(&scope);
    }
    buf_free(&c.tmp);
    arena_free(&c.arena);
}

bool otlp_encode_segments(sl_buf *out, bool json, sl_event *const *events, size_t n,
                          const otlp_map *m, int level, int64_t observed_ns, size_t *raw_len)
{
    /* Only the first event is looked at before the walk: a sink thread reads no event
     * that a segment covers but the first of each. */
    if (!m->seg_id || !n || events[0]->prep_owner != m->seg_id)
        return false;
    /* Events no segment covers whole (a request cut inside one) are written here, each
     * run as a piece of its own, kept in `loose`; one with resource or scope fields ends
     * it (false: otlp_encode groups them). */
    sl_buf loose = SL_BUF_INIT, raw = SL_BUF_INIT;
    rec_scratch x;
    enc c = enc_alone(&raw, json, m, &x);
    size_t records = 0, npieces = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; npieces++) {
        gz_prep_head h;
        const char *comp;
        size_t k = gz_prep_at(events, n, i, m->seg_id, &h, &comp);
        if (k == 0) {
            buf_reset(&raw);
            for (; i < n && (k == 0 || !gz_prep_at(events, n, i, m->seg_id, &h, &comp));
                 i++, k++) {
                if (json && k)
                    buf_putc(&raw, ',');
                ok = ok && write_alone(&c, &x, events[i], observed_ns);
            }
            ok = ok && gz_prep_piece(&loose, raw.p, raw.len, (uint32_t)k, level, m);
            h.raw_len = (uint32_t)raw.len;
        } else {
            i += k;
        }
        records += h.raw_len + (json && npieces);
    }
    if (ok) {
        sl_buf head = SL_BUF_INIT, tail = SL_BUF_INIT;
        frame_request(json, m, records, &head, &tail);
        gz_join j;
        buf_reset(out);
        gz_join_begin(&j, out);
        gz_join_raw(&j, head.p, head.len);
        size_t lo = 0; /* the next loose piece */
        for (size_t i = 0, piece = 0; i < n; piece++) {
            gz_prep_head h;
            const char *comp;
            if (!gz_prep_at(events, n, i, m->seg_id, &h, &comp)) {
                memcpy(&h, loose.p + lo, sizeof h);
                comp = loose.p + lo + sizeof h;
                lo += sizeof h + h.comp_len;
            }
            if (json && piece)
                gz_join_raw(&j, ",", 1);
            gz_join_segment(&j, comp, h.comp_len, h.crc, h.raw_len);
            i += h.n;
        }
        gz_join_raw(&j, tail.p, tail.len);
        gz_join_end(&j);
        *raw_len = j.len;
        buf_free(&head);
        buf_free(&tail);
    }
    buf_free(&loose);
    buf_free(&raw);
    enc_alone_free(&c, &x);
    return ok;
}

/* ---- response ---------------------------------------------------------------------- */

static int pb_read_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return SL_ERR_CORRUPT;
        unsigned char b = *(*p)++;
        r |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return SL_OK;
        }
    }
    return SL_ERR_CORRUPT;
}

/* Skips or reads fields of one message; calls back for the ones we want. */
static int pb_walk(const unsigned char *p, const unsigned char *end, int depth, int64_t *rejected,
                   char *msg, size_t msglen)
{
    while (p < end) {
        uint64_t key, v;
        if (pb_read_varint(&p, end, &key))
            return SL_ERR_CORRUPT;
        unsigned field = (unsigned)(key >> 3), wire = (unsigned)(key & 7);
        if (field == 0)
            return SL_ERR_CORRUPT;
        switch (wire) {
        case 0:
            if (pb_read_varint(&p, end, &v))
                return SL_ERR_CORRUPT;
            if (depth == 1 && field == 1) /* int64: a negative count means none */
                *rejected = v > (uint64_t)INT64_MAX ? 0 : (int64_t)v;
            break;
        case 1:
            if (end - p < 8)
                return SL_ERR_CORRUPT;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return SL_ERR_CORRUPT;
            p += 4;
            break;
        case 2:
            if (pb_read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return SL_ERR_CORRUPT;
            if (depth == 0 && field == 1) {
                if (pb_walk(p, p + v, 1, rejected, msg, msglen))
                    return SL_ERR_CORRUPT;
            } else if (depth == 1 && field == 2 && msglen) {
                log_excerpt(msg, msglen, p, (size_t)v);
            }
            p += v;
            break;
        default:
            return SL_ERR_CORRUPT;
        }
    }
    return SL_OK;
}

int otlp_parse_response(const char *p, size_t n, bool json, int64_t *rejected, char *msg,
                        size_t msglen)
{
    *rejected = 0;
    if (msglen)
        msg[0] = '\0';
    if (n == 0)
        return SL_OK;
    if (!json)
        return pb_walk((const unsigned char *)p, (const unsigned char *)p + n, 0, rejected, msg,
                       msglen);
    sl_arena a;
    arena_init(&a, 4096);
    char err[64];
    json_value *root = json_parse(&a, p, n, err, sizeof err);
    int rc = SL_OK;
    if (!root || root->type != JSON_OBJ) {
        rc = SL_ERR_CORRUPT;
    } else {
        const json_value *ps = json_get(root, "partialSuccess");
        if (!ps)
            ps = json_get(root, "partial_success");
        if (ps && ps->type == JSON_OBJ) {
            const json_value *r = json_get(ps, "rejectedLogRecords");
            if (!r)
                r = json_get(ps, "rejected_log_records");
            if (r && r->type == JSON_NUM && r->num >= 0 && r->num < 9e18)
                *rejected = (int64_t)r->num;
            else if (r && r->type == JSON_STR)
                *rejected = strtoll(r->str, NULL, 10);
            const json_value *em = json_get(ps, "errorMessage");
            if (!em)
                em = json_get(ps, "error_message");
            if (em && em->type == JSON_STR && msglen) {
                log_excerpt(msg, msglen, em->str, em->len);
            }
        }
    }
    arena_free(&a);
    if (*rejected < 0)
        *rejected = 0;
    return rc;
}

/* google.rpc.Status { int32 code = 1; string message = 2; repeated Any details = 3; }:
 * true when the whole of p..end is one, with its message at *m (m_len bytes). */
static bool pb_status(const unsigned char *p, const unsigned char *end, const unsigned char **m,
                      size_t *m_len)
{
    *m = NULL;
    while (p < end) {
        uint64_t key, v;
        if (pb_read_varint(&p, end, &key))
            return false;
        unsigned field = (unsigned)(key >> 3), wire = (unsigned)(key & 7);
        if (field == 1 && wire == 0) {
            if (pb_read_varint(&p, end, &v))
                return false;
        } else if ((field == 2 || field == 3) && wire == 2) {
            if (pb_read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return false;
            if (field == 2) {
                *m = p;
                *m_len = (size_t)v;
            }
            p += v;
        } else {
            return false;
        }
    }
    return *m != NULL;
}

void otlp_error_text(char *out, size_t outlen, const char *p, size_t n)
{
    const unsigned char *m;
    size_t mlen;
    if (!p || !n) {
        log_excerpt(out, outlen, "", 0);
        return;
    }
    if (p[0] == '{') { /* the Status in OTLP JSON */
        sl_arena a;
        arena_init(&a, 1024);
        char err[64];
        json_value *root = json_parse(&a, p, n, err, sizeof err);
        const json_value *msg = root && root->type == JSON_OBJ ? json_get(root, "message") : NULL;
        bool found = msg && msg->type == JSON_STR;
        if (found)
            log_excerpt(out, outlen, msg->str, msg->len);
        arena_free(&a);
        if (found)
            return;
    } else if (pb_status((const unsigned char *)p, (const unsigned char *)p + n, &m, &mlen)) {
        log_excerpt(out, outlen, m, mlen);
        return;
    }
    log_excerpt(out, outlen, p, n);
}
