/* fuzz_sts.c - libFuzzer target for the STS AssumeRoleWithWebIdentity answer the
 * credentials chain reads (web identity): the small XML reader on credentials and error
 * documents, with output buffers from one byte to roomy. A value found must fit its buffer
 * and be terminated; credentials taken must be complete and expire; nothing may read out
 * of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/cloudwatch/cwl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the first byte picks a buffer length; the rest is the answer, not terminated */
    size_t small = size ? (size_t)data[0] % 40 + 1 : 1;
    const uint8_t *body = size ? data + 1 : data;
    size_t n = size ? size - 1 : 0;
    char *s = malloc(n ? n : 1);
    if (n)
        memcpy(s, body, n);
    cwl_creds c;
    if (cwl_sts_creds(&c, s, n) == 0) {
        if (!c.access_key[0] || !c.secret_key[0] || !c.token[0] || !c.expires_ms ||
            strlen(c.token) >= sizeof c.token)
            abort();
    }
    static const char *const paths[] = {"Error/Code", "Error/Message", "Credentials/Expiration",
                                        "A", "A/B/C/D/E/F/G/H/I"};
    char big[512], *tiny = malloc(small);
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        if (cwl_xml_find(s, n, paths[i], big, sizeof big) == 0 && strlen(big) >= sizeof big)
            abort();
        if (cwl_xml_find(s, n, paths[i], tiny, small) == 0 && strlen(tiny) >= small)
            abort();
    }
    free(tiny);
    free(s);
    return 0;
}
