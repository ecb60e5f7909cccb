/* test_gz.c - gzip of request bodies: gz_compress at every engine and several levels
 * writes gzip that zlib inflates to the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/common.h"
#include "net/gz.h"

/* Inflates a gzip stream and compares it with want. */
static void check_roundtrip(const sl_buf *gz, const char *want, size_t n)
{
    assert_true(gz->len >= 18);
    assert_int_equal((unsigned char)gz->p[0], 0x1f);
    assert_int_equal((unsigned char)gz->p[1], 0x8b);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    char *got = malloc(n + 1);
    zs.next_in = (Bytef *)gz->p;
    zs.avail_in = (uInt)gz->len;
    zs.next_out = (Bytef *)got;
    zs.avail_out = (uInt)(n + 1);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, n);
    assert_int_equal(zs.avail_in, 0);
    assert_memory_equal(got, want, n);
    inflateEnd(&zs);
    free(got);
}

static void test_compress_engines(void **state)
{
    (void)state;
    char in[4096];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = "{\"message\":\"abc\"}\n"[i % 18];
    for (int engine = 0; engine < 3; engine++)
        for (int level = 1; level <= 9; level += 4) {
            sl_buf out = SL_BUF_INIT;
            assert_int_equal(gz_compress((gz_engine)engine, level, in, sizeof in, &out), SL_OK);
            assert_true(out.len < sizeof in);
            check_roundtrip(&out, in, sizeof in);
            buf_free(&out);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compress_engines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
