/* fuzz_otlp_response.c - libFuzzer target for the reader of OTLP export answers
 * (protobuf and JSON partial_success) and of error answers (a google.rpc.Status in either
 * encoding, else the body as text): any bytes are read or refused, never overrun. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "sinks/otlp/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (size)
        memcpy(s, data, size);
    int64_t rejected;
    char msg[64];
    for (int json = 0; json < 2; json++) {
        int rc = otlp_parse_response(s, size, json, &rejected, msg, sizeof msg);
        if (rc != SL_OK && rc != SL_ERR_CORRUPT)
            abort();
        if (rejected < 0 || strlen(msg) >= sizeof msg)
            abort();
    }
    char text[201];
    otlp_error_text(text, sizeof text, s, size);
    if (strlen(text) >= sizeof text)
        abort();
    free(s);
    return 0;
}
