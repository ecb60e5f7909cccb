/* test_gz.c - gzip of request bodies: gz_compress at every engine and several levels
 * writes gzip that zlib inflates to the input; segments and raw bytes joined (gz_join)
 * are one gzip member of the pieces in order; bodies and segments of one stream, coded
 * with learned codes, too. */
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
                assert_int_equal(gz_segment(eng, 1 + (int)i, NULL, pieces[i], lens[i], &segs[i],
                                            &crcs[i]),
                                 SL_OK);
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

/* A segment of a record-like text (lower case, digits, random hex ids) of about n bytes;
 * kind 1 is one repeated line, kind 2 random capitals (which that text never has), kind 3
 * random bytes. */
static size_t make_piece(char *p, size_t n, int kind, uint64_t *r)
{
    size_t k = 0;
    while (k + 96 < n) {
        *r = *r * 6364136223846793005ull + 1442695040888963407ull;
        if (kind == 3) {
            memcpy(p + k, r, 8);
            k += 8;
        } else if (kind == 2) {
            for (int b = 0; b < 8; b++)
                p[k++] = (char)('A' + (*r >> (8 * b)) % 26);
        } else if (kind == 1) {
            k += (size_t)sprintf(p + k, "{\"index\":{\"_index\":\"logs\"}}\n{\"a\":1}\n");
        } else {
            k += (size_t)sprintf(p + k, "job %u done in %u ms trace=%016llx%08x level=%s\n",
                                 (unsigned)(*r >> 40), (unsigned)(*r >> 54),
                                 (unsigned long long)(*r * 31), (unsigned)(*r >> 7),
                                 (*r >> 62) ? "info" : "warn");
        }
    }
    return k;
}

/* Learned output against level 1's alone, body by body: how many bodies differ (the
 * learned codes were used) and the bytes of each way. */
typedef struct learned_tally {
    size_t learned, plain, differ;
} learned_tally;

static void tally_add(learned_tally *t, const sl_buf *learned, const sl_buf *plain)
{
    t->learned += learned->len;
    t->plain += plain->len;
    t->differ += learned->len != plain->len || memcmp(learned->p, plain->p, learned->len) != 0;
}

/* More than min bodies coded with learned codes (with ISA-L), the whole within 1/32 of
 * level 1's bytes. */
static void tally_check(const learned_tally *t, size_t min)
{
    if (gz_have_isal())
        assert_true(t->differ > min);
    assert_true(t->learned <= t->plain + t->plain / 32);
}

/* Segments of several streams (more than a thread keeps codes for), whose data changes
 * kind on the way (record text, random capitals, repeats, random bytes, text again), over
 * more segments than a lesson lasts, some too short to be a lesson: joined in order, one
 * member of all of them; the learned codes were used (most segments differ from level 1's
 * alone), and the whole costs at most 1/32 more bytes than each segment at level 1. A
 * stream that level 1 writes smaller stays at level 1. */
static void test_learned_segments(void **state)
{
    (void)state;
    enum { NSEG = 900, NSTREAM = 6 };
    static const int streams[NSTREAM] = {0};
    char *piece = malloc(20000);
    sl_buf seg = SL_BUF_INIT, plain = SL_BUF_INIT, gz = SL_BUF_INIT, want = SL_BUF_INIT;
    uint64_t r = 11;
    learned_tally t = {0};
    gz_join j;
    gz_join_begin(&j, &gz);
    for (int i = 0; i < NSEG; i++) {
        int kind = i < 200 ? 0 : i < 350 ? 2 : i < 500 ? 1 : i < 600 ? 3 : 0;
        size_t n = make_piece(piece, i % 5 == 4 ? 2000 : 9000 + (size_t)(i % 3) * 3000, kind, &r);
        /* stream 0 most of the time; the others now and then evict and come back */
        const void *stream = &streams[i % 7 == 6 ? (size_t)(i / 7) % NSTREAM : 0];
        uint32_t crc, crc_plain;
        buf_reset(&seg);
        buf_reset(&plain);
        assert_int_equal(gz_segment(GZ_AUTO, 1, stream, piece, n, &seg, &crc), SL_OK);
        assert_int_equal(gz_segment(GZ_AUTO, 1, NULL, piece, n, &plain, &crc_plain), SL_OK);
        assert_int_equal(crc, crc_plain);
        tally_add(&t, &seg, &plain);
        gz_join_segment(&j, seg.p, seg.len, crc, n);
        buf_append(&want, piece, n);
        if (i % 11 == 0) {
            gz_join_raw(&j, "\n", 1);
            buf_putc(&want, '\n');
        }
    }
    gz_join_end(&j);
    check_roundtrip(&gz, want.p, want.len);
    tally_check(&t, NSEG / 2);
    /* A stream of repeats, which level 1 writes smaller: every segment is level 1's. */
    static const int repeats = 0;
    for (int i = 0; i < 40; i++) {
        size_t n = make_piece(piece, 12000, 1, &r);
        uint32_t crc;
        buf_reset(&seg);
        buf_reset(&plain);
        assert_int_equal(gz_segment(GZ_AUTO, 1, &repeats, piece, n, &seg, &crc), SL_OK);
        assert_int_equal(gz_segment(GZ_AUTO, 1, NULL, piece, n, &plain, &crc), SL_OK);
        assert_int_equal(seg.len, plain.len);
        assert_memory_equal(seg.p, plain.p, seg.len);
    }
    free(piece);
    buf_free(&seg);
    buf_free(&plain);
    buf_free(&gz);
    buf_free(&want);
}

/* Whole bodies of one stream (gz_compress): each one gzip member of its input, most coded
 * with the learned codes, the whole within 1/32 of level 1's bytes. */
static void test_learned_bodies(void **state)
{
    (void)state;
    static const int stream = 0;
    char *piece = malloc(20000);
    sl_buf gz = SL_BUF_INIT, plain = SL_BUF_INIT;
    uint64_t r = 5;
    learned_tally t = {0};
    for (int i = 0; i < 300; i++) {
        size_t n = make_piece(piece, 12000, i < 200 ? 0 : 2, &r);
        assert_int_equal(gz_compress(GZ_AUTO, 1, &stream, piece, n, &gz), SL_OK);
        assert_int_equal(gz_compress(GZ_AUTO, 1, NULL, piece, n, &plain), SL_OK);
        check_roundtrip(&gz, piece, n);
        tally_add(&t, &gz, &plain);
    }
    tally_check(&t, 150);
    free(piece);
    buf_free(&gz);
    buf_free(&plain);
}

/* Bodies of two kinds taking turns in one stream (two sources into one sink), the second
 * compressing worse: the drift calls one early lesson, not a lesson every other body; each
 * body is one member of its input. */
static void test_learned_two_kinds(void **state)
{
    (void)state;
    static const int stream = 0;
    char *piece = malloc(20000);
    sl_buf gz = SL_BUF_INIT;
    uint64_t r = 3, before = gz_lessons();
    for (int i = 0; i < 200; i++) {
        size_t n = make_piece(piece, 12000, i % 2 ? 2 : 0, &r);
        assert_int_equal(gz_compress(GZ_AUTO, 1, &stream, piece, n, &gz), SL_OK);
        check_roundtrip(&gz, piece, n);
    }
    if (gz_have_isal())
        assert_in_range(gz_lessons() - before, 1, 4);
    free(piece);
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
            assert_int_equal(gz_compress((gz_engine)engine, level, NULL, in, sizeof in, &out),
                             SL_OK);
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
        cmocka_unit_test(test_learned_segments),
        cmocka_unit_test(test_learned_bodies),
        cmocka_unit_test(test_learned_two_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
