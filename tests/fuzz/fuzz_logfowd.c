/* fuzz_logfowd.c - libFuzzer target: arbitrary bytes as logfowd2's config.json. Detection and
 * translation must not crash, and whatever translates must load as YAML (every string from
 * the JSON is quoted so that no value can break out of its scalar). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/logfowd.h"
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
    return 0;
}
