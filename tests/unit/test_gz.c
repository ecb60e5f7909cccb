/* test_gz.c - gzip of request bodies: gz_compress at every engine and several levels
 * writes gzip that zlib inflates to the input; segments and raw bytes joined (gz_join)
 * are one gzip member of the pieces in order. */
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
#include "gunzip_one.h"

/* One gzip member (nothing after it) of exactly want. */
static void check_roundtrip(const sl_buf *gz, const char *want, size_t n)
{
    assert_true(gz->len >= 18);
    assert_int_equal((unsigned char)gz->p[0], 0x1f);
    assert_int_equal((unsigned char)gz->p[1], 0x8b);
    sl_buf got = SL_BUF_INIT;
    assert_true(gunzip_one(gz->p, gz->len, &got));
    assert_int_equal(got.len, n);
    assert_memory_equal(got.p, want, n);
    buf_free(&got);
}

/* Pieces of every kind and size (empty, one byte, over a stored block's 65,535 bytes,
 * incompressible, repetitive), as segments (of both engines) or raw bytes in every pattern
 * of four, joined: one member (check_roundtrip: nothing after it) of their concatenation. */
static void test_join_segments(void **state)
{
    (void)state;
    enum { NP = 5 };
    size_t lens[NP] = {0, 1, 70000, 3000, 200000};
    char *pieces[NP];
    uint64_t r = 7;
    for (size_t i = 0; i < NP; i++) {
        pieces[i] = malloc(lens[i] + 1);
        for (size_t k = 0; k < lens[i]; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            pieces[i][k] = i == 3 ? (char)(r >> 56) : (char)('a' + (k / 7 + (r >> 60)) % 5);
        }
    }
    sl_buf segs[NP], gz = SL_BUF_INIT;
    uint32_t crcs[NP];
    for (unsigned pat = 0; pat < 512; pat++) {
        if (pat % 256 == 0) { /* ISA-L's segments (when built with it), then zlib's */
            gz_engine eng = pat ? GZ_ZLIB : GZ_AUTO;
            for (size_t i = 0; i < NP; i++) {
                if (pat)
                    buf_free(&segs[i]);
                segs[i] = (sl_buf)SL_BUF_INIT;
                buf_append(&segs[i], "head", 4); /* appended after what out holds */
                assert_int_equal(
                    gz_segment(eng, 1 + (int)i, pieces[i], lens[i], &segs[i], &crcs[i]), SL_OK);
                assert_int_equal(crcs[i],
                                 (uint32_t)crc32(0, (const Bytef *)pieces[i], (uInt)lens[i]));
            }
        }
        size_t idx[4], total = 0;
        for (int k = 0; k < 4; k++) {
            idx[k] = (pat >> (2 * k) & 3) + (k == 3 && pat % 7 == 0);
            total += lens[idx[k]];
        }
        char *want = malloc(total + 1), *w = want;
        gz_join j;
        buf_reset(&gz);
        gz_join_begin(&j, &gz);
        for (int k = 0; k < 4; k++) {
            size_t i = idx[k];
            if (pat >> k & 16 || lens[i] == 0)
                gz_join_raw(&j, pieces[i], lens[i]);
            else
                gz_join_segment(&j, segs[i].p + 4, segs[i].len - 4, crcs[i], lens[i]);
            memcpy(w, pieces[i], lens[i]);
            w += lens[i];
        }
        gz_join_end(&j);
        assert_int_equal(j.len, total);
        check_roundtrip(&gz, want, total);
        free(want);
    }
    for (size_t i = 0; i < NP; i++) {
        buf_free(&segs[i]);
        free(pieces[i]);
    }
    buf_free(&gz);
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
        cmocka_unit_test(test_join_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
