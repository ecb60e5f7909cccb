/* fuzz_cri.c - libFuzzer target for the CRI and Docker json-file line parsers and RFC 3339
 * times. Any input must be rejected or parsed with the message inside its buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/cri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copies of exactly `size` bytes so any read past the end is caught. */
    char *s = malloc(size ? size : 1);
    if (size)
        memcpy(s, data, size);
    char *scratch = malloc(size ? size : 1);
    cri_line l;
    const char *why;
    int64_t ns;
    if (cri_parse(s, size, &l, &why) == 0) {
        if (l.msg < s || l.msg + l.len > s + size || l.stream < 0 || l.stream > 1)
            abort();
    } else if (!why) {
        abort();
    }
    if (docker_json_parse(s, size, scratch, &l, &why) == 0) {
        if (l.msg != scratch || l.len > size || l.stream < 0 || l.stream > 1)
            abort();
        /* attrs: an object's text inside the input, or nothing */
        if (l.attrs ? l.attrs < s || l.attrs_len < 2 || l.attrs_len > size ||
                          (size_t)(l.attrs - s) > size - l.attrs_len || l.attrs[0] != '{'
                    : l.attrs_len != 0)
            abort();
    } else if (!why) {
        abort();
    }
    (void)cri_parse_time(s, size, &ns);
    free(scratch);
    free(s);
    return 0;
}
