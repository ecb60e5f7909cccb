/* test_codec.c - batch encoding round trips every field type and string shape, and
 * the decoder rejects truncated, garbled and hostile input with SL_ERR_CORRUPT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/codec.h"
#include "core/common.h"

static sl_batch *sample_batch(void)
{
    sl_batch *b = batch_new(4);
    sl_event *e = batch_add(b);
    e->ts_ns = -42;
    e->message = batch_str(b, "hello world", 11);
    e->id_stream = 0xdeadbeefcafef00dULL;
    e->id_seq = 123456789;
    e->id_str = batch_str(b, "cw-event-1", 10);
    event_set_str(b, e, "k.str", "value", 5);
    event_set_int(b, e, "k.int", INT64_MIN);
    sl_field *f = event_add_field(b, e, "k.float", 7);
    f->type = SL_VAL_FLOAT;
    f->v.f = 3.25;
    f = event_add_field(b, e, "k.bool", 6);
    f->type = SL_VAL_BOOL;
    f->v.b = true;
    f = event_add_field(b, e, "k.null", 6);
    f->type = SL_VAL_NULL;
    f = event_add_field(b, e, "k.json", 6);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, "{\"a\":[1,2]}", 11);
    event_set_str(b, e, "k.empty", "", 0);
    b->bytes += event_size(e);

    /* An event with nothing set: absent message and id_str, no fields. */
    e = batch_add(b);
    b->bytes += event_size(e);

    /* A large message with embedded NUL bytes. */
    e = batch_add(b);
    size_t big = 1 << 20;
    char *m = malloc(big);
    for (size_t i = 0; i < big; i++)
        m[i] = (char)(i * 7);
    e->message = batch_str(b, m, big);
    free(m);
    e->message.len = (uint32_t)big;
    b->bytes += event_size(e);
    return b;
}

static void assert_str_eq(sl_str a, sl_str b)
{
    assert_int_equal(a.len, b.len);
    assert_int_equal(a.ptr == NULL, b.ptr == NULL);
    if (a.ptr) {
        assert_memory_equal(a.ptr, b.ptr, a.len);
        assert_int_equal(b.ptr[b.len], '\0');
    }
}

static void assert_batches_equal(const sl_batch *a, const sl_batch *b)
{
    assert_int_equal(a->n, b->n);
    for (uint32_t i = 0; i < a->n; i++) {
        const sl_event *x = &a->events[i], *y = &b->events[i];
        assert_int_equal(x->ts_ns, y->ts_ns);
        assert_int_equal(x->id_stream, y->id_stream);
        assert_int_equal(x->id_seq, y->id_seq);
        assert_str_eq(x->message, y->message);
        assert_str_eq(x->id_str, y->id_str);
        assert_int_equal(x->nfields, y->nfields);
        for (uint32_t j = 0; j < x->nfields; j++) {
            const sl_field *f = &x->fields[j], *g = &y->fields[j];
            assert_str_eq(f->key, g->key);
            assert_int_equal(f->type, g->type);
            switch (f->type) {
            case SL_VAL_STR:
            case SL_VAL_JSON: assert_str_eq(f->v.s, g->v.s); break;
            case SL_VAL_INT: assert_int_equal(f->v.i, g->v.i); break;
            case SL_VAL_FLOAT: assert_memory_equal(&f->v.f, &g->v.f, sizeof(double)); break;
            case SL_VAL_BOOL: assert_int_equal(f->v.b, g->v.b); break;
            default: break;
            }
        }
    }
}

static void test_roundtrip(void **state)
{
    (void)state;
    sl_batch *b = sample_batch();
    sl_buf out = SL_BUF_INIT;
    buf_puts(&out, "prefix"); /* encode appends */
    codec_encode_batch(&out, b);
    assert_int_equal(codec_peek_count(out.p + 6, out.len - 6), 3);
    sl_batch *d = NULL;
    char err[256];
    assert_int_equal(codec_decode_batch(out.p + 6, out.len - 6, &d, err, sizeof err), SL_OK);
    assert_non_null(d);
    assert_batches_equal(b, d);
    assert_int_equal(d->bytes, b->bytes);
    assert_null(d->ack);
    assert_int_equal(atomic_load(&d->refs), 1);
    batch_release(d);
    batch_release(b);
    buf_free(&out);
}

static void test_empty_batch(void **state)
{
    (void)state;
    sl_batch *b = batch_new(1);
    sl_buf out = SL_BUF_INIT;
    codec_encode_batch(&out, b);
    assert_int_equal(out.len, 5);
    sl_batch *d = NULL;
    assert_int_equal(codec_decode_batch(out.p, out.len, &d, NULL, 0), SL_OK);
    assert_int_equal(d->n, 0);
    batch_release(d);
    batch_release(b);
    buf_free(&out);
}

static void test_truncated(void **state)
{
    (void)state;
    sl_batch *b = sample_batch();
    sl_buf out = SL_BUF_INIT;
    codec_encode_batch(&out, b);
    char err[256];
    /* Every proper prefix is malformed; step through the small part byte by byte. */
    for (size_t n = 0; n < out.len; n += (n < 400 ? 1 : 4099)) {
        sl_batch *d = (sl_batch *)1;
        err[0] = 0;
        assert_int_equal(codec_decode_batch(out.p, n, &d, err, sizeof err), SL_ERR_CORRUPT);
        assert_null(d);
        assert_true(err[0] != 0);
    }
    /* Trailing garbage is malformed too. */
    buf_putc(&out, 'x');
    sl_batch *d = NULL;
    assert_int_equal(codec_decode_batch(out.p, out.len, &d, err, sizeof err), SL_ERR_CORRUPT);
    batch_release(b);
    buf_free(&out);
}

static void test_garbled(void **state)
{
    (void)state;
    char err[256];
    sl_batch *d = NULL;
    /* Wrong version. */
    char v[5] = {9, 0, 0, 0, 0};
    assert_int_equal(codec_decode_batch(v, 5, &d, err, sizeof err), SL_ERR_CORRUPT);
    /* A huge event count in a tiny input must not allocate for it. */
    char huge[9] = {CODEC_VERSION, (char)0xff, (char)0xff, (char)0xff, (char)0x7f, 0, 0, 0, 0};
    assert_int_equal(codec_decode_batch(huge, sizeof huge, &d, err, sizeof err),
                     SL_ERR_CORRUPT);

    /* An unknown field type and a bool that is not 0/1. */
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    event_set_int(b, e, "k", 1);
    e->fields[0].type = SL_VAL_BOOL;
    e->fields[0].v.b = true;
    sl_buf out = SL_BUF_INIT;
    codec_encode_batch(&out, b);
    /* The bool byte is the last byte, its type byte just before it. */
    out.p[out.len - 1] = 2;
    assert_int_equal(codec_decode_batch(out.p, out.len, &d, err, sizeof err), SL_ERR_CORRUPT);
    out.p[out.len - 1] = 1;
    out.p[out.len - 2] = 17;
    assert_int_equal(codec_decode_batch(out.p, out.len, &d, err, sizeof err), SL_ERR_CORRUPT);
    out.p[out.len - 2] = SL_VAL_BOOL;
    assert_int_equal(codec_decode_batch(out.p, out.len, &d, err, sizeof err), SL_OK);
    batch_release(d);

    /* Random bit flips: decode either succeeds or says corrupt, never crashes. */
    sl_batch *s = sample_batch();
    buf_reset(&out);
    codec_encode_batch(&out, s);
    unsigned seed = 7;
    char *copy = malloc(out.len);
    int corrupt = 0;
    for (int round = 0; round < 300; round++) {
        memcpy(copy, out.p, out.len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % 400; /* the structured head, not the big message */
            copy[pos] ^= (char)(1u << (seed % 8));
        }
        d = NULL;
        int rc = codec_decode_batch(copy, out.len, &d, err, sizeof err);
        assert_true(rc == SL_OK || rc == SL_ERR_CORRUPT);
        if (rc == SL_OK)
            batch_release(d);
        else
            corrupt++;
    }
    assert_true(corrupt > 0);
    free(copy);
    batch_release(s);
    batch_release(b);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_empty_batch),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
