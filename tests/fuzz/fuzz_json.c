/* fuzz_json.c - libFuzzer target for the strict JSON parser, the DOM-free object reader
 * (against the parser) and the event decoder. Any input must be rejected or accepted
 * cleanly; accepted events must re-encode. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/common.h"
#include "formats/json.h"
#include "formats/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy so reads past the end are caught even though json_parse takes a length. */
    char *s = malloc(size ? size : 1);
    if (size)
        memcpy(s, data, size);

    sl_arena a;
    arena_init(&a, 4096);
    char err[128];
    json_value *v = json_parse(&a, s, size, err, sizeof err);
    if (v && v->raw_len != size) {
        /* the root's raw text excludes only surrounding whitespace */
        if (v->raw < s || v->raw + v->raw_len > s + size)
            abort();
    }
    /* The DOM-free object reader accepts exactly what json_parse accepts, with the same
     * keys and values (strings, unescaped; numbers; raw text of nested values), by each of
     * its scans (the one json_scan_object picks, 16-byte, 32-byte where the CPU has it). */
    bool obj = v && v->type == JSON_OBJ;
    int first = 0;
    for (int path = 0; path < 3; path++) {
        json_member m[64];
        sl_arena a2;
        arena_init(&a2, 4096);
        int k;
        if (path == 0)
            k = first = json_scan_object(&a2, s, size, m, SL_ARRAY_LEN(m));
        else if (path == 1)
            k = json_scan_object_sse2(&a2, s, size, m, SL_ARRAY_LEN(m));
        else if (!json_scan_object_avx2(&a2, s, size, m, SL_ARRAY_LEN(m), &k))
            k = first;
        if (k != first)
            abort();
        /* -2 comes as soon as a key past the 64th is read, before the rest is checked */
        if (k == -1 ? obj : !obj && k != -2)
            abort();
        if (k == -2 && obj && v->n <= SL_ARRAY_LEN(m))
            abort();
        for (int i = 0; i < k; i++) {
            const json_value *x = v->items[i];
            if (strlen(v->keys[i]) != m[i].keylen || memcmp(v->keys[i], m[i].key, m[i].keylen) ||
                x->type != m[i].type || x->raw_len != m[i].raw_len ||
                memcmp(x->raw, m[i].raw, x->raw_len))
                abort();
            if (x->type == JSON_STR && (x->len != m[i].len || memcmp(x->str, m[i].str, x->len)))
                abort();
            if (x->type == JSON_BOOL && x->b != m[i].b)
                abort();
            if (x->type == JSON_NUM && !m[i].is_int &&
                !(x->num == m[i].num || (x->num != x->num && m[i].num != m[i].num)))
                abort();
        }
        if (k >= 0 && (size_t)k != v->n)
            abort();
        arena_free(&a2);
    }
    arena_free(&a);

    sl_batch *b = batch_new(2);
    if (json_decode_event(b, s, size) == SL_OK) {
        if (b->n != 1)
            abort();
        /* Re-encoding must produce JSON that decodes again. */
        sl_buf out = SL_BUF_INIT;
        json_encode_event(&out, &b->events[0]);
        if (json_decode_event(b, out.p, out.len) != SL_OK)
            abort();
        buf_free(&out);
    }
    /* Escaping arbitrary bytes always yields a valid JSON string. */
    sl_buf esc = SL_BUF_INIT;
    buf_putc(&esc, '"');
    json_escape(&esc, s, size);
    buf_putc(&esc, '"');
    arena_init(&a, 4096);
    if (!json_parse(&a, esc.p, esc.len, err, sizeof err))
        abort();
    arena_free(&a);
    /* Every scan writes the same bytes. */
    sl_buf e16 = SL_BUF_INIT, e32 = SL_BUF_INIT, e64 = SL_BUF_INIT;
    json_escape_sse2(&e16, s, size);
    if (json_escape_avx2(&e32, s, size) &&
        (e16.len != e32.len || memcmp(e16.p, e32.p, e16.len) != 0))
        abort();
    if (json_escape_avx512(&e64, s, size) &&
        (e16.len != e64.len || memcmp(e16.p, e64.p, e16.len) != 0))
        abort();
    buf_free(&e64);
    if (e16.len + 2 != esc.len || memcmp(e16.p, esc.p + 1, e16.len) != 0)
        abort();
    /* The valid UTF-8 prefix, 32 bytes at a time, is the one a character at a time. */
    size_t ok = 0, l;
    while (ok < size && (l = utf8_seq_len((const unsigned char *)s + ok, size - ok)) != 0)
        ok += l;
    if (utf8_valid_prefix(s, size) != ok)
        abort();
    buf_free(&e16);
    buf_free(&e32);
    buf_free(&esc);
    batch_release(b);
    free(s);
    return 0;
}
