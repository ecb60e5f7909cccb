/* tf_harness.h - what the transform unit tests share: a transform built from YAML through
 * the registry as the engine builds it, events carrying the correlation fields, asserts. */
#ifndef SL_TEST_TF_HARNESS_H
#define SL_TEST_TF_HARNESS_H

#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"
#include "core/config.h"
#include "core/metrics.h"

/* data_dir handed to transforms (a test that dead-letters points it at a temporary one). */
static const char *tf_data_dir = "/nonexistent";

typedef struct tf {
    const sl_transform_vtable *vt;
    sl_config_doc *doc;
    void *cfg, *self;
    sl_component_ctx cc;
} tf;

static inline tf *tf_new(const char *type, const char *yaml)
{
    tf *t = calloc(1, sizeof *t);
    char err[256];
    t->vt = registry_transform(type);
    assert_non_null(t->vt);
    if (config_doc_load(&t->doc, "test", yaml, err, sizeof err) != 0)
        fail_msg("%s", err);
    t->cfg = calloc(1, t->vt->config_size);
    const sl_option *tabs[] = {t->vt->options};
    void *bases[] = {t->cfg};
    if (config_apply(tabs, bases, 1, t->doc->root, NULL, "test", "transforms.t", err, sizeof err))
        fail_msg("%s", err);
    t->cc = (sl_component_ctx){.id = "t", .type = type, .data_dir = tf_data_dir,
                               .metrics = metrics_register("t", "transform", type)};
    if (t->vt->init(&t->self, t->cfg, &t->cc, err, sizeof err) != 0)
        fail_msg("%s", err);
    return t;
}

static inline int tf_init_fails(const char *type, const char *yaml)
{
    const sl_transform_vtable *vt = registry_transform(type);
    sl_config_doc *doc;
    char err[256];
    assert_int_equal(config_doc_load(&doc, "test", yaml, err, sizeof err), 0);
    void *cfg = calloc(1, vt->config_size);
    const sl_option *tabs[] = {vt->options};
    void *bases[] = {cfg};
    int rc = config_apply(tabs, bases, 1, doc->root, NULL, "test", "t", err, sizeof err);
    sl_component_ctx cc = {.id = "t", .type = type, .data_dir = "/nonexistent",
                           .metrics = metrics_register("t2", "transform", type)};
    void *self = NULL;
    if (rc == 0)
        rc = vt->init(&self, cfg, &cc, err, sizeof err);
    if (rc == 0)
        vt->destroy(self);
    config_options_free(vt->options, cfg);
    free(cfg);
    config_doc_free(doc);
    return rc;
}

static inline void tf_free(tf *t)
{
    t->vt->destroy(t->self);
    config_options_free(t->vt->options, t->cfg);
    free(t->cfg);
    config_doc_free(t->doc);
    free(t);
}

/* An event with the four correlation fields plus whatever the test adds. */
static inline sl_event *corr_event(sl_batch *b, const char *msg)
{
    sl_event *e = batch_add(b);
    e->ts_ns = 1;
    e->message = batch_str(b, msg, strlen(msg));
    event_set_str(b, e, "trace_id", "0af7651916cd43dd8448eb211c80319c", 32);
    event_set_str(b, e, "job_id", "job-789", 7);
    event_set_str(b, e, "machine_id", "m-1", 3);
    event_set_str(b, e, "worker_id", "m-1-w0", 6);
    return e;
}

static inline void assert_corr(const sl_event *e)
{
    static const char *const k[] = {"trace_id", "job_id", "machine_id", "worker_id"};
    static const char *const v[] = {"0af7651916cd43dd8448eb211c80319c", "job-789", "m-1", "m-1-w0"};
    for (int i = 0; i < 4; i++) {
        const sl_field *f = event_get(e, k[i], strlen(k[i]));
        assert_non_null(f);
        assert_int_equal(f->type, SL_VAL_STR);
        assert_int_equal(f->v.s.len, strlen(v[i]));
        assert_memory_equal(f->v.s.ptr, v[i], f->v.s.len);
    }
}

static inline const sl_field *get(const sl_event *e, const char *k)
{
    return event_get(e, k, strlen(k));
}

static inline void assert_str(const sl_event *e, const char *k, const char *v)
{
    const sl_field *f = get(e, k);
    if (!f)
        fail_msg("missing %s", k);
    assert_int_equal(f->type, SL_VAL_STR);
    assert_int_equal(f->v.s.len, strlen(v));
    assert_memory_equal(f->v.s.ptr, v, f->v.s.len);
}

#endif
