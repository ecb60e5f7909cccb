/* test_file_sink_id.c - unit test for the file sink's id_key option: each JSON line carries
 * the event's stable id (hex of stream + position, or its string id), none when it has none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"
#include "core/config.h"
#include "core/metrics.h"

extern const sl_sink_vtable sl_sink_file;

static void test_id_key(void **state)
{
    char dir[] = "/tmp/test_file_sink_id.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char yaml[256], err[256], path[128];
    snprintf(path, sizeof path, "%s/out.ndjson", dir);
    snprintf(yaml, sizeof yaml, "path: %s\nid_key: _id\n", path);
    sl_config_doc *doc;
    assert_int_equal(config_doc_load(&doc, "t.yaml", yaml, err, sizeof err), SL_OK);
    void *cfg = calloc(1, sl_sink_file.config_size);
    const sl_option *tables[] = {sl_sink_file.options};
    void *bases[] = {cfg};
    assert_int_equal(config_apply(tables, bases, 1, doc->root, NULL, "t.yaml", "sinks.out", err,
                                  sizeof err), SL_OK);
    sl_component_ctx cc = {.id = "out", .type = "file", .data_dir = dir};
    cc.metrics = metrics_register("out", "sink", "file");
    void *sink;
    assert_int_equal(sl_sink_file.init(&sink, cfg, &cc, err, sizeof err), SL_OK);

    sl_batch *b = batch_new(4);
    sl_event *e = batch_add(b);
    e->message = batch_str(b, "a", 1);
    e->id_stream = 0x0123456789abcdefULL;
    e->id_seq = 42;
    e = batch_add(b);
    e->message = batch_str(b, "b", 1);
    e->id_str = batch_str(b, "cw\"1", 4);
    e = batch_add(b);
    e->message = batch_str(b, "c", 1);
    sl_event *evs[3] = {&b->events[0], &b->events[1], &b->events[2]};
    uint8_t st[3] = {0};
    const char *reasons[3] = {0};
    sl_send_result res = {.item_status = st, .item_reason = reasons};
    assert_int_equal(sl_sink_file.send(sink, evs, 3, &res), SL_OK);
    assert_int_equal(res.status, SL_SEND_OK);
    sl_sink_file.destroy(sink);

    char *text;
    size_t len;
    assert_int_equal(sl_read_file(path, &text, &len, err, sizeof err), SL_OK);
    char *l1 = text, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    assert_non_null(strstr(l1, "\"message\":\"a\",\"_id\":\"0123456789abcdef000000000000002a\"}\n"));
    assert_non_null(strstr(l2, "\"_id\":\"cw\\\"1\"}\n"));
    assert_null(strstr(l3, "_id"));
    free(text);
    batch_release(b);
    config_options_free(sl_sink_file.options, cfg);
    free(cfg);
    config_doc_free(doc);
    metrics_reset();
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
