/* fields.c - the small field transforms: `set`, `rename`, `remove`, `copy` and `add_env`
 * (environment, service, host name). They touch only the fields they name, so correlation
 * fields (trace_id, job_id, machine_id, worker_id) pass untouched unless named. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"

static sl_str fields_cstr(const char *s)
{
    return (sl_str){s, s ? (uint32_t)strlen(s) : 0};
}

/* Removes the field at index i, keeping the order of the others. */
static void fields_remove_at(sl_event *e, uint32_t i)
{
    memmove(&e->fields[i], &e->fields[i + 1], (e->nfields - i - 1) * sizeof *e->fields);
    e->nfields--;
}

static int fields_index(const sl_event *e, sl_str key)
{
    for (uint32_t i = 0; i < e->nfields; i++)
        if (e->fields[i].key.len == key.len && memcmp(e->fields[i].key.ptr, key.ptr, key.len) == 0)
            return (int)i;
    return -1;
}

/* `message` names the event's message in every field transform, not a field of that name
 * (which encoders would write beside the message, a second "message" key). */
static bool is_message(sl_str k)
{
    return k.len == 7 && memcmp(k.ptr, "message", 7) == 0;
}

/* A map option turned into static key/value pairs (they point into the config, which
 * outlives every batch). */
typedef struct fields_pairs {
    sl_str *a, *b;
    size_t n;
} fields_pairs;

static void fields_pairs_init(fields_pairs *p, const sl_strmap *m)
{
    p->n = m->n;
    p->a = sl_xcalloc(m->n ? m->n : 1, sizeof(sl_str));
    p->b = sl_xcalloc(m->n ? m->n : 1, sizeof(sl_str));
    for (size_t i = 0; i < m->n; i++) {
        p->a[i] = fields_cstr(m->keys[i]);
        p->b[i] = fields_cstr(m->vals[i]);
    }
}

static void fields_pairs_free(fields_pairs *p)
{
    free(p->a);
    free(p->b);
}

/* ---- set ------------------------------------------------------------------------------ */

typedef struct set_config {
    sl_strmap fields;
    bool overwrite;
} set_config;

static const sl_option set_options[] = {
    {"fields", SL_OPT_STRMAP, offsetof(set_config, fields), NULL, SL_OPT_REQUIRED, NULL, NULL, 0,
     0, "map of field name to value ({env: prod}); \"true\"/\"false\" and integers are typed; "
     "`message` sets the event's message"},
    {"overwrite", SL_OPT_BOOL, offsetof(set_config, overwrite), "true", 0, NULL, NULL, 0, 0,
     "replace a field the event already has"},
    SL_OPT_END,
};

typedef struct set_tf {
    const set_config *cfg;
    fields_pairs p;
    uint8_t *type; /* per pair: SL_VAL_STR, SL_VAL_INT or SL_VAL_BOOL */
    int64_t *ival;
} set_tf;

static bool parse_int(const char *s, int64_t *out)
{
    if (!*s)
        return false;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || (s[0] == '0' && s[1]) || (s[0] == '-' && s[1] == '0'))
        return false;
    *out = v;
    return true;
}

static int set_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                    size_t errlen)
{
    const set_config *cfg = config;
    if (cfg->fields.n == 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "fields: give at least one field");
    set_tf *t = sl_xcalloc(1, sizeof *t);
    t->cfg = cfg;
    fields_pairs_init(&t->p, &cfg->fields);
    t->type = sl_xcalloc(cfg->fields.n, 1);
    t->ival = sl_xcalloc(cfg->fields.n, sizeof *t->ival);
    for (size_t i = 0; i < cfg->fields.n; i++) {
        const char *v = cfg->fields.vals[i];
        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
            t->type[i] = SL_VAL_BOOL;
            t->ival[i] = v[0] == 't';
        } else if (parse_int(v, &t->ival[i])) {
            t->type[i] = SL_VAL_INT;
        } else {
            t->type[i] = SL_VAL_STR;
        }
    }
    *self = t;
    return SL_OK;
}

static int set_process(void *self, sl_batch *b)
{
    set_tf *t = self;
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event *e = &b->events[i];
        for (size_t k = 0; k < t->p.n; k++) {
            if (is_message(t->p.a[k])) {
                if (t->cfg->overwrite || !e->message.len)
                    e->message = t->p.b[k];
                continue;
            }
            int at = fields_index(e, t->p.a[k]);
            if (at >= 0 && !t->cfg->overwrite)
                continue;
            sl_field *f;
            if (at >= 0) {
                f = &e->fields[at];
            } else {
                f = event_push_field(b, e, t->p.a[k]);
                b->bytes += t->p.a[k].len + t->p.b[k].len + 16;
            }
            f->type = t->type[k];
            if (t->type[k] == SL_VAL_STR)
                f->v.s = t->p.b[k];
            else if (t->type[k] == SL_VAL_INT)
                f->v.i = t->ival[k];
            else
                f->v.b = t->ival[k] != 0;
        }
    }
    return SL_OK;
}

static void set_destroy(void *self)
{
    set_tf *t = self;
    if (!t)
        return;
    fields_pairs_free(&t->p);
    free(t->type);
    free(t->ival);
    free(t);
}

const sl_transform_vtable sl_transform_set = {
    .type = "set",
    .help = "Set fields to fixed values (strings, integers, booleans)",
    .options = set_options,
    .config_size = sizeof(set_config),
    .init = set_init,
    .process = set_process,
    .destroy = set_destroy,
};

/* ---- rename and copy ------------------------------------------------------------------ */

typedef struct move_config {
    sl_strmap fields;
    bool overwrite;
} move_config;

static const sl_option rename_options[] = {
    {"fields", SL_OPT_STRMAP, offsetof(move_config, fields), NULL, SL_OPT_REQUIRED, NULL, NULL,
     0, 0, "map of old name to new name ({lvl: level}); `message` is the event's message"},
    {"overwrite", SL_OPT_BOOL, offsetof(move_config, overwrite), "true", 0, NULL, NULL, 0, 0,
     "replace a field that already has the new name (else leave the event alone)"},
    SL_OPT_END,
};

static const sl_option copy_options[] = {
    {"fields", SL_OPT_STRMAP, offsetof(move_config, fields), NULL, SL_OPT_REQUIRED, NULL, NULL,
     0, 0, "map of source name to destination name; `message` is the event's message"},
    {"overwrite", SL_OPT_BOOL, offsetof(move_config, overwrite), "true", 0, NULL, NULL, 0, 0,
     "replace a field that already has the destination name"},
    SL_OPT_END,
};

typedef struct move_tf {
    const move_config *cfg;
    fields_pairs p;
    bool copy;
} move_tf;

static int move_init_common(void **self, const void *config, const sl_component_ctx *cc,
                            char *err, size_t errlen, bool copy)
{
    const move_config *cfg = config;
    if (cfg->fields.n == 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "fields: give at least one field");
    for (size_t i = 0; i < cfg->fields.n; i++) {
        if (!cfg->fields.keys[i][0])
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "fields: empty field name");
        if (!cfg->fields.vals[i][0])
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "fields.%s: empty field name",
                             cfg->fields.keys[i]);
    }
    move_tf *t = sl_xcalloc(1, sizeof *t);
    t->cfg = cfg;
    t->copy = copy;
    fields_pairs_init(&t->p, &cfg->fields);
    *self = t;
    return SL_OK;
}

static int rename_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                       size_t errlen)
{
    return move_init_common(self, config, cc, err, errlen, false);
}

static int copy_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                     size_t errlen)
{
    return move_init_common(self, config, cc, err, errlen, true);
}

static int move_process(void *self, sl_batch *b)
{
    move_tf *t = self;
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event *e = &b->events[i];
        for (size_t k = 0; k < t->p.n; k++) {
            sl_str from = t->p.a[k], to = t->p.b[k];
            sl_field val;
            int src = -1;
            if (is_message(from)) {
                val.type = SL_VAL_STR;
                val.v.s = e->message;
            } else {
                src = fields_index(e, from);
                if (src < 0)
                    continue;
                val = e->fields[src];
            }
            if (is_message(to)) {
                if (val.type != SL_VAL_STR)
                    continue; /* the message is text: other types stay where they are */
                e->message = val.v.s;
                if (!t->copy && src >= 0)
                    fields_remove_at(e, (uint32_t)src);
                continue;
            }
            int dst = fields_index(e, to);
            if (dst >= 0 && dst != src && !t->cfg->overwrite)
                continue;
            if (dst == src && src >= 0)
                continue;
            if (dst >= 0) {
                e->fields[dst].type = val.type;
                e->fields[dst].v = val.v;
            } else {
                sl_field *f = event_push_field(b, e, to);
                f->type = val.type;
                f->v = val.v;
                b->bytes += to.len + 16;
            }
            if (!t->copy) {
                if (src >= 0) {
                    /* dst may have been appended: find src again by key */
                    int again = fields_index(e, from);
                    if (again >= 0)
                        fields_remove_at(e, (uint32_t)again);
                } else {
                    e->message = (sl_str){"", 0};
                }
            }
        }
    }
    return SL_OK;
}

static void move_destroy(void *self)
{
    move_tf *t = self;
    if (!t)
        return;
    fields_pairs_free(&t->p);
    free(t);
}

const sl_transform_vtable sl_transform_rename = {
    .type = "rename",
    .help = "Rename fields",
    .options = rename_options,
    .config_size = sizeof(move_config),
    .init = rename_init,
    .process = move_process,
    .destroy = move_destroy,
};

const sl_transform_vtable sl_transform_copy = {
    .type = "copy",
    .help = "Copy fields under another name",
    .options = copy_options,
    .config_size = sizeof(move_config),
    .init = copy_init,
    .process = move_process,
    .destroy = move_destroy,
};

/* ---- remove --------------------------------------------------------------------------- */

typedef struct remove_config {
    sl_strlist fields;
} remove_config;

static const sl_option remove_options[] = {
    {"fields", SL_OPT_STRLIST, offsetof(remove_config, fields), NULL, SL_OPT_REQUIRED, NULL,
     NULL, 0, 0, "field names; a name ending in \".*\" removes every field under that prefix; "
     "`message` empties the event's message (after parse: the raw line)"},
    SL_OPT_END,
};

typedef struct remove_tf {
    const remove_config *cfg;
    sl_str *names;
    bool *prefix; /* name ended in ".*": names[i] keeps the dot */
    bool message; /* `message` is one of the names */
} remove_tf;

static int remove_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                       size_t errlen)
{
    const remove_config *cfg = config;
    if (cfg->fields.n == 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "fields: give at least one field");
    remove_tf *t = sl_xcalloc(1, sizeof *t);
    t->cfg = cfg;
    t->names = sl_xcalloc(cfg->fields.n, sizeof *t->names);
    t->prefix = sl_xcalloc(cfg->fields.n, sizeof *t->prefix);
    for (size_t i = 0; i < cfg->fields.n; i++) {
        t->names[i] = fields_cstr(cfg->fields.v[i]);
        if (t->names[i].len >= 2 && memcmp(t->names[i].ptr + t->names[i].len - 2, ".*", 2) == 0) {
            t->prefix[i] = true;
            t->names[i].len--; /* keep the dot */
        }
        t->message |= is_message(t->names[i]);
    }
    *self = t;
    return SL_OK;
}

static int remove_process(void *self, sl_batch *b)
{
    remove_tf *t = self;
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event *e = &b->events[i];
        if (t->message)
            e->message = (sl_str){"", 0};
        for (uint32_t f = 0; f < e->nfields;) {
            sl_str k = e->fields[f].key;
            bool drop = false;
            for (size_t n = 0; n < t->cfg->fields.n && !drop; n++) {
                sl_str m = t->names[n];
                drop = t->prefix[n] ? k.len > m.len && memcmp(k.ptr, m.ptr, m.len) == 0
                                    : k.len == m.len && memcmp(k.ptr, m.ptr, m.len) == 0;
            }
            if (drop)
                fields_remove_at(e, f);
            else
                f++;
        }
    }
    return SL_OK;
}

static void remove_destroy(void *self)
{
    remove_tf *t = self;
    if (!t)
        return;
    free(t->names);
    free(t->prefix);
    free(t);
}

const sl_transform_vtable sl_transform_remove = {
    .type = "remove",
    .help = "Remove fields (exact names, or prefixes written name.*)",
    .options = remove_options,
    .config_size = sizeof(remove_config),
    .init = remove_init,
    .process = remove_process,
    .destroy = remove_destroy,
};

/* ---- add_env -------------------------------------------------------------------------- */

typedef struct add_env_config {
    char *environment, *service, *host_name;
    char *environment_key, *service_key, *host_key;
    bool host, overwrite;
} add_env_config;

static const sl_option add_env_options[] = {
    {"environment", SL_OPT_STR, offsetof(add_env_config, environment), NULL, 0, NULL, NULL, 0, 0,
     "deployment environment (production, staging ...); ${VAR} works"},
    {"service", SL_OPT_STR, offsetof(add_env_config, service), NULL, 0, NULL, NULL, 0, 0,
     "service name"},
    {"host", SL_OPT_BOOL, offsetof(add_env_config, host), "true", 0, NULL, NULL, 0, 0,
     "add the host name"},
    {"host_name", SL_OPT_STR, offsetof(add_env_config, host_name), NULL, 0, NULL, NULL, 0, 0,
     "host name to use (default: this machine's)"},
    {"environment_key", SL_OPT_STR, offsetof(add_env_config, environment_key),
     "deployment.environment", 0, NULL, NULL, 0, 0, "field for the environment"},
    {"service_key", SL_OPT_STR, offsetof(add_env_config, service_key), "service.name", 0, NULL,
     NULL, 0, 0, "field for the service"},
    {"host_key", SL_OPT_STR, offsetof(add_env_config, host_key), "host.name", 0, NULL, NULL, 0,
     0, "field for the host name"},
    {"overwrite", SL_OPT_BOOL, offsetof(add_env_config, overwrite), "false", 0, NULL, NULL, 0, 0,
     "replace values the event already has (default: the event's own win)"},
    SL_OPT_END,
};

typedef struct add_env_tf {
    const add_env_config *cfg;
    sl_str keys[3], vals[3];
    size_t n;
    char host[256];
} add_env_tf;

static int add_env_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                        size_t errlen)
{
    const add_env_config *cfg = config;
    add_env_tf *t = sl_xcalloc(1, sizeof *t);
    t->cfg = cfg;
    if (cfg->environment && cfg->environment[0]) {
        t->keys[t->n] = fields_cstr(cfg->environment_key);
        t->vals[t->n++] = fields_cstr(cfg->environment);
    }
    if (cfg->service && cfg->service[0]) {
        t->keys[t->n] = fields_cstr(cfg->service_key);
        t->vals[t->n++] = fields_cstr(cfg->service);
    }
    if (cfg->host) {
        if (cfg->host_name && cfg->host_name[0])
            snprintf(t->host, sizeof t->host, "%s", cfg->host_name);
        else if (gethostname(t->host, sizeof t->host - 1) != 0)
            t->host[0] = '\0';
        if (t->host[0]) {
            t->keys[t->n] = fields_cstr(cfg->host_key);
            t->vals[t->n++] = fields_cstr(t->host);
        }
    }
    if (t->n == 0) {
        free(t);
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "%s: nothing to add (set environment, service or host)", cc->id);
    }
    *self = t;
    return SL_OK;
}

static int add_env_process(void *self, sl_batch *b)
{
    add_env_tf *t = self;
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event *e = &b->events[i];
        for (size_t k = 0; k < t->n; k++) {
            if (!t->cfg->overwrite && event_get(e, t->keys[k].ptr, t->keys[k].len))
                continue;
            event_set_static(b, e, t->keys[k], t->vals[k]);
            b->bytes += t->keys[k].len + t->vals[k].len + 16;
        }
    }
    return SL_OK;
}

static void add_env_destroy(void *self)
{
    free(self);
}

const sl_transform_vtable sl_transform_add_env = {
    .type = "add_env",
    .help = "Add deployment environment, service name and host name (OpenTelemetry keys)",
    .options = add_env_options,
    .config_size = sizeof(add_env_config),
    .init = add_env_init,
    .process = add_env_process,
    .destroy = add_env_destroy,
};
