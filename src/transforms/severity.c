/* severity.c - the `severity` transform: normalises a level field written in any common
 * spelling ("WARNING", "Err", "I", syslog 3, pino 50) to trace|debug|info|warn|error|fatal. */
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"
#include "formats/severity.h"

typedef struct severity_config {
    char *field;
    char *target;
    char *number_field;
    char *default_level;
} severity_config;

static const sl_option severity_options[] = {
    {"field", SL_OPT_STR, offsetof(severity_config, field), NULL, 0, NULL, NULL, 0, 0,
     "level field (default: the first of level, severity, log.level, lvl)"},
    {"target", SL_OPT_STR, offsetof(severity_config, target), "level", 0, NULL, NULL, 0, 0,
     "where the normalised word is written"},
    {"number_field", SL_OPT_STR, offsetof(severity_config, number_field), NULL, 0, NULL, NULL, 0,
     0, "also write the OpenTelemetry severity number (1-24) to this field"},
    {"default", SL_OPT_STR, offsetof(severity_config, default_level), NULL, 0, NULL, NULL, 0, 0,
     "level for events without a recognisable one (unset: leave them alone); it is not "
     "written over a value already in `target` (\"audit\" stays), only number_field gets it"},
    SL_OPT_END,
};

/* Lower-case words, static: they outlive every batch. */
static const sl_str severity_words[] = {SL_STR("trace"), SL_STR("debug"), SL_STR("info"),
                                        SL_STR("warn"), SL_STR("error"), SL_STR("fatal")};
static const sl_str severity_default_keys[] = {SL_STR("level"), SL_STR("severity"),
                                               SL_STR("log.level"), SL_STR("lvl")};

typedef struct severity_tf {
    const severity_config *cfg;
    sl_str field, target, number_field;
    sl_severity def;
    bool target_read; /* target is a field the level is read from: absent when none is found */
} severity_tf;

static sl_str cstr(const char *s)
{
    return (sl_str){s, s ? (uint32_t)strlen(s) : 0};
}

static bool str_eq(sl_str a, sl_str b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static int severity_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                         size_t errlen)
{
    const severity_config *cfg = config;
    severity_tf *t = sl_xcalloc(1, sizeof *t);
    t->cfg = cfg;
    t->field = cstr(cfg->field);
    t->target = cstr(cfg->target && cfg->target[0] ? cfg->target : "level");
    t->number_field = cstr(cfg->number_field);
    t->target_read = str_eq(t->target, t->field);
    for (size_t k = 0; !t->field.len && k < SL_ARRAY_LEN(severity_default_keys); k++)
        t->target_read |= str_eq(t->target, severity_default_keys[k]);
    if (cfg->default_level) {
        t->def = severity_from_text(cfg->default_level, strlen(cfg->default_level));
        if (!t->def.number) {
            free(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "default: unknown level \"%s\" (valid: %s)", cfg->default_level,
                             SEVERITY_VALID_WORDS);
        }
    }
    *self = t;
    return SL_OK;
}

/* The first of the default level keys the event has. */
static inline const sl_field *first_level(const sl_event *e)
{
    for (size_t k = 0; k < SL_ARRAY_LEN(severity_default_keys); k++) {
        const sl_field *f = event_get(e, severity_default_keys[k].ptr,
                                      severity_default_keys[k].len);
        if (f)
            return f;
    }
    return NULL;
}

/* The word to target (unless told not to) and the number to number_field. */
static void severity_write(const severity_tf *t, sl_batch *b, sl_event *e, int number,
                           bool target)
{
    if (target)
        event_set_static(b, e, t->target, severity_words[(number - 1) / 4]);
    if (t->number_field.len) {
        sl_field *nf = event_add_field(b, e, t->number_field.ptr, t->number_field.len);
        nf->type = SL_VAL_INT;
        nf->v.i = number;
    }
}

static int severity_process(void *self, sl_batch *b)
{
    severity_tf *t = self;
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event *e = &b->events[i];
        const sl_field *f = t->field.len ? event_get(e, t->field.ptr, t->field.len)
                                         : first_level(e);
        sl_severity s = severity_from_field(f);
        if (s.number) {
            severity_write(t, b, e, s.number, true);
            continue;
        }
        if (!t->def.number)
            continue;
        /* The default never takes the place of a level it could not read ("audit",
         * "SECURITY"): that value is the only record of what the event said. */
        const sl_field *old = f || !t->target_read
                                  ? event_get(e, t->target.ptr, t->target.len) : NULL;
        severity_write(t, b, e, t->def.number, !old || old->type == SL_VAL_NULL);
    }
    return SL_OK;
}

static void severity_destroy(void *self)
{
    free(self);
}

const sl_transform_vtable sl_transform_severity = {
    .type = "severity",
    .help = "Normalise a level field (WARNING, Err, I, syslog and pino numbers ...)",
    .options = severity_options,
    .config_size = sizeof(severity_config),
    .init = severity_init,
    .process = severity_process,
    .destroy = severity_destroy,
};
