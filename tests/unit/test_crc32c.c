/* test_crc32c.c - CRC-32C against published vectors, and the SSE4.2 and table paths
 * agreeing on random data of every length and alignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crc32c.h"

uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n);
uint32_t crc32c_hw(uint32_t crc, const void *data, size_t n);
int crc32c_hw_available(void);

static void test_vectors(void **state)
{
    (void)state;
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c(0, "", 0), 0);
    unsigned char zeros[32] = {0}, ones[32], inc[32];
    memset(ones, 0xff, sizeof ones);
    for (int i = 0; i < 32; i++)
        inc[i] = (unsigned char)i;
    /* RFC 3720 (iSCSI) appendix B.4 */
    assert_int_equal(crc32c(0, zeros, 32), 0x8A9136AAu);
    assert_int_equal(crc32c(0, ones, 32), 0x62A8AB43u);
    assert_int_equal(crc32c(0, inc, 32), 0x46DD794Eu);
    assert_int_equal(crc32c_sw(0, inc, 32), 0x46DD794Eu);
}

static void test_incremental(void **state)
{
    (void)state;
    const char *s = "The quick brown fox jumps over the lazy dog";
    size_t n = strlen(s);
    uint32_t whole = crc32c(0, s, n);
    for (size_t cut = 0; cut <= n; cut++)
        assert_int_equal(crc32c(crc32c(0, s, cut), s + cut, n - cut), whole);
}

static void test_paths_agree(void **state)
{
    (void)state;
    unsigned seed = 12345;
    unsigned char *buf = malloc(4096 + 16);
    for (size_t i = 0; i < 4096 + 16; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len < 300; len++)
            assert_int_equal(crc32c_sw(0, buf + off, len), crc32c_hw(0, buf + off, len));
    assert_int_equal(crc32c_sw(7, buf, 4096), crc32c_hw(7, buf, 4096));
    assert_int_equal(crc32c_sw(0, buf, 4096), crc32c(0, buf, 4096));
    print_message("hardware crc32c: %s\n", crc32c_hw_available() ? "yes" : "no");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_paths_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
