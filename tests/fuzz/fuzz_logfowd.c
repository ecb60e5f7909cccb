/* fuzz_logfowd.c - libFuzzer target: arbitrary bytes as logfowd2's config.json. Detection and
 * translation must not crash, and whatever translates must load as YAML (every string from
 * the JSON is quoted so that no value can break out of its scalar). The same bytes as an
 * environment value quoted by yaml_quote (the other drop-ins) must load too, and read back
 * unchanged when they are UTF-8. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/logfowd.h"
#include "cli/yaml_quote.h"
#include "core/common.h"
#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    (void)logfowd_detect(s, size);
    char *y = NULL, err[512];
    sl_buf notes = SL_BUF_INIT;
    if (logfowd_translate(s, size, "config.json", &y, &notes, err, sizeof err) == SL_OK) {
        sl_config_doc *doc = NULL;
        char yerr[1024];
        if (config_doc_load(&doc, "config.json", y, yerr, sizeof yerr) != SL_OK) {
            fprintf(stderr, "translation does not load: %s\n%s", yerr, y);
            abort();
        }
        config_doc_free(doc);
        free(y);
    }
    buf_free(&notes);

    char *v = malloc(size + 1);
    memcpy(v, data, size);
    v[size] = '\0';
    sl_buf q = SL_BUF_INIT;
    buf_puts(&q, "k: ");
    yaml_quote(&q, v);
    buf_putc(&q, '\0');
    sl_config_doc *doc = NULL;
    char yerr[1024];
    if (config_doc_load(&doc, "env", q.p, yerr, sizeof yerr) != SL_OK) {
        fprintf(stderr, "quoted value does not load: %s\n%s\n", yerr, q.p);
        abort();
    }
    const sl_cnode *k = cnode_get(doc->root, "k");
    if (!k || !k->scalar || (yaml_utf8_valid(v) && strcmp(k->scalar, v) != 0)) {
        fprintf(stderr, "quoted value reads back differently:\n%s\n", q.p);
        abort();
    }
    config_doc_free(doc);
    buf_free(&q);
    free(v);
    return 0;
}
