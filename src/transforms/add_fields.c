/* add_fields.c - the `add_fields` transform: sets static fields on every event
 * (environment, service, cluster name ...). Values may use ${VAR} like any option. */
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"

typedef struct add_fields_config {
    sl_strmap fields;
    bool overwrite;
} add_fields_config;

typedef struct add_fields {
    const add_fields_config *cfg;
    sl_str *keys, *vals; /* point into cfg; outlive every batch */
} add_fields;

static const sl_option add_fields_options[] = {
    {"fields", SL_OPT_STRMAP, offsetof(add_fields_config, fields), NULL, SL_OPT_REQUIRED, NULL,
     NULL, 0, 0, "map of field name to value, e.g. {env: prod, service.name: api}; `message` "
     "sets the event's message"},
    {"overwrite", SL_OPT_BOOL, offsetof(add_fields_config, overwrite), "true", 0, NULL, NULL, 0, 0,
     "replace a field the event already has"},
    SL_OPT_END,
};

static int add_fields_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                           size_t errlen)
{
    const add_fields_config *cfg = config;
    if (cfg->fields.n == 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "fields: set at least one field");
    add_fields *af = sl_xcalloc(1, sizeof *af);
    af->cfg = cfg;
    af->keys = sl_xcalloc(cfg->fields.n, sizeof(sl_str));
    af->vals = sl_xcalloc(cfg->fields.n, sizeof(sl_str));
    for (size_t i = 0; i < cfg->fields.n; i++) {
        af->keys[i] = (sl_str){cfg->fields.keys[i], (uint32_t)strlen(cfg->fields.keys[i])};
        af->vals[i] = (sl_str){cfg->fields.vals[i], (uint32_t)strlen(cfg->fields.vals[i])};
    }
    *self = af;
    return SL_OK;
}

static int add_fields_process(void *self, sl_batch *b)
{
    add_fields *af = self;
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event *e = &b->events[i];
        for (size_t k = 0; k < af->cfg->fields.n; k++) {
            if (af->keys[k].len == 7 && memcmp(af->keys[k].ptr, "message", 7) == 0) {
                /* the event's message, not a second "message" beside it */
                if (af->cfg->overwrite || !e->message.len)
                    e->message = af->vals[k];
                continue;
            }
            if (!af->cfg->overwrite && event_get(e, af->keys[k].ptr, af->keys[k].len))
                continue;
            event_set_static(b, e, af->keys[k], af->vals[k]);
            b->bytes += af->keys[k].len + af->vals[k].len + 16;
        }
    }
    return SL_OK;
}

static void add_fields_destroy(void *self)
{
    add_fields *af = self;
    if (!af)
        return;
    free(af->keys);
    free(af->vals);
    free(af);
}

const sl_transform_vtable sl_transform_add_fields = {
    .type = "add_fields",
    .help = "Set static fields on every event",
    .options = add_fields_options,
    .config_size = sizeof(add_fields_config),
    .init = add_fields_init,
    .process = add_fields_process,
    .destroy = add_fields_destroy,
};
