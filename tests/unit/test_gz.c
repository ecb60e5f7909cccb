/* test_gz.c - gzip of request bodies: gz_compress at every engine and gz_compress_learned
 * (one pass with codes learned from earlier bodies): every output inflates with zlib to the
 * input, whatever the data does from one body to the next (alike, then random, empty, one
 * byte, zeros, 3 MB), from several threads sharing one set of codes; on bodies that look
 * alike the learned codes write about what level 1 writes. */
#include <pthread.h>
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

static unsigned lcg(uint64_t *r)
{
    *r = *r * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(*r >> 33);
}

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

/* A body of log records that look alike, numbers and ids changing (as a sink's requests). */
static size_t alike_body(char *p, size_t cap, uint64_t *rnd)
{
    size_t n = 0;
    while (n + 200 < cap) {
        unsigned v = lcg(rnd);
        n += (size_t)snprintf(p + n, cap - n,
                              "\x0a\x05level\x12%s job %u processed in %u ms trace=%08x%08x w-%u\n",
                              v % 4 ? "info" : "warn", v % 1000, v % 977, lcg(rnd), lcg(rnd),
                              v % 7);
    }
    return n;
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

/* One stream of bodies through one gz_learned: alike ones, then every kind of change. */
static void test_learned_roundtrip(void **state)
{
    (void)state;
    size_t cap = 3u << 20;
    char *body = malloc(cap);
    uint64_t rnd = 5;
    gz_learned *l = gz_learned_new();
    sl_buf out = SL_BUF_INIT, ref = SL_BUF_INIT;
    size_t learned_bytes = 0, level1_bytes = 0;
    for (int i = 0; i < 120; i++) {
        size_t n;
        int kind = i < 40 ? 0 : (int)(lcg(&rnd) % 7);
        switch (kind) {
        case 0: n = alike_body(body, 64 * 1024 + lcg(&rnd) % (192 * 1024), &rnd); break;
        case 1: /* random bytes: nothing to match, every literal */
            n = 1 + lcg(&rnd) % 100000;
            for (size_t k = 0; k < n; k++)
                body[k] = (char)lcg(&rnd);
            break;
        case 2: n = 0; break;
        case 3: n = 1, body[0] = (char)lcg(&rnd); break;
        case 4: n = 200000, memset(body, 0, n); break;
        case 5: n = cap, alike_body(body, cap, &rnd), n = cap - 256; break;
        default: /* text the codes never saw: upper case and digits only */
            n = 50000;
            for (size_t k = 0; k < n; k++)
                body[k] = (char)("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n"[lcg(&rnd) % 38]);
            break;
        }
        assert_int_equal(gz_compress_learned(l, body, n, &out), SL_OK);
        check_roundtrip(&out, body, n);
        if (kind == 0 && i >= 8) { /* codes learned from earlier bodies of the same kind */
            assert_int_equal(gz_compress(GZ_AUTO, 1, body, n, &ref), SL_OK);
            learned_bytes += out.len;
            level1_bytes += ref.len;
        }
    }
    /* about what level 1 writes (without ISA-L both are zlib's level 1) */
    print_message("learned %zu, level 1 %zu\n", learned_bytes, level1_bytes);
    if (level1_bytes)
        assert_true(learned_bytes * 100 <= level1_bytes * 110);
    buf_free(&out);
    buf_free(&ref);
    gz_learned_free(l);
    free(body);
}

typedef struct {
    gz_learned *l;
    uint64_t seed;
    int fails;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    size_t cap = 256 * 1024;
    char *body = malloc(cap);
    sl_buf out = SL_BUF_INIT;
    for (int i = 0; i < 60; i++) {
        size_t n = i % 5 == 4 ? 1 + lcg(&a->seed) % 4096 : alike_body(body, cap, &a->seed);
        if (i % 5 == 4)
            for (size_t k = 0; k < n; k++)
                body[k] = (char)lcg(&a->seed);
        if (gz_compress_learned(a->l, body, n, &out) != SL_OK) {
            a->fails++;
            continue;
        }
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        char *got = malloc(n + 1);
        inflateInit2(&zs, 16 + MAX_WBITS);
        zs.next_in = (Bytef *)out.p;
        zs.avail_in = (uInt)out.len;
        zs.next_out = (Bytef *)got;
        zs.avail_out = (uInt)(n + 1);
        if (inflate(&zs, Z_FINISH) != Z_STREAM_END || zs.total_out != n || memcmp(got, body, n))
            a->fails++;
        inflateEnd(&zs);
        free(got);
    }
    buf_free(&out);
    free(body);
    return NULL;
}

/* Several sink workers share one set of codes while it is learned again. */
static void test_learned_threads(void **state)
{
    (void)state;
    gz_learned *l = gz_learned_new();
    pthread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){.l = l, .seed = 100 + (uint64_t)i};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].fails, 0);
    }
    gz_learned_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compress_engines),
        cmocka_unit_test(test_learned_roundtrip),
        cmocka_unit_test(test_learned_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
