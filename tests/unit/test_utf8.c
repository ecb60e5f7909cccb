/* test_utf8.c - utf8_seq_len and utf8_valid_prefix against a decoder written apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/common.h"
#include "formats/utf8.h"

/* The reference: decode, then refuse by code point (RFC 3629's table, read the other way). */
static size_t ref_seq(const unsigned char *s, size_t n)
{
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = s[0] < 0x80        ? 1
                 : s[0] >> 5 == 6  ? 2
                 : s[0] >> 4 == 14 ? 3
                 : s[0] >> 3 == 30 ? 4
                                   : 0;
    if (!len || len > n)
        return 0;
    uint32_t cp = len == 1 ? s[0] : s[0] & (0xffu >> (len + 1));
    for (size_t k = 1; k < len; k++) {
        if (s[k] >> 6 != 2)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
        return 0;
    return len;
}

static size_t ref_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0, l;
    while (i < n && (l = ref_seq(s + i, n - i)) != 0)
        i += l;
    return i;
}

/* Every lead byte with every second byte, and third and fourth bytes at their edges. */
static void test_seq_len_table(void **state)
{
    (void)state;
    static const unsigned char tail[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                         0xc0, 0xff};
    unsigned char s[4];
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            for (size_t c = 0; c < sizeof tail; c++)
                for (size_t d = 0; d < sizeof tail; d++) {
                    s[0] = (unsigned char)a, s[1] = (unsigned char)b;
                    s[2] = tail[c], s[3] = tail[d];
                    for (size_t n = 1; n <= 4; n++)
                        if (utf8_seq_len(s, n) != ref_seq(s, n))
                            fail_msg("%02x %02x %02x %02x, n %zu: %zu, want %zu", a, b, tail[c],
                                     tail[d], n, utf8_seq_len(s, n), ref_seq(s, n));
                }
}

/* Seeded text of valid characters of every length with ASCII runs, then one bad or edge
 * byte at a random place, or the text cut inside a character, or nothing wrong: the valid
 * prefix is the reference's at every length up to 300 (blocks of 32 and their ends). */
static void test_valid_prefix_random(void **state)
{
    (void)state;
    static const unsigned char edge[] = {0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
                                         0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x00};
    uint64_t x = 0x2545f4914f6cdd1dull;
    unsigned char s[320];
    for (int t = 0; t < 60000; t++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = (size_t)(x % 300), len = 0;
        bool ascii_runs = (x >> 20) & 1; /* whole blocks of ASCII between the characters */
        while (len + 4 <= n) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint32_t r = (uint32_t)(x >> 16), cp;
            switch (r % 5) {
            case 0:
                cp = 0x80 + r / 5 % 0x780;
                s[len++] = (unsigned char)(0xc0 | cp >> 6);
                s[len++] = (unsigned char)(0x80 | (cp & 63));
                break;
            case 1:
                cp = 0x800 + r / 5 % 0xf800;
                if (cp >= 0xd800 && cp < 0xe000)
                    cp += 0x800;
                s[len++] = (unsigned char)(0xe0 | cp >> 12);
                s[len++] = (unsigned char)(0x80 | (cp >> 6 & 63));
                s[len++] = (unsigned char)(0x80 | (cp & 63));
                break;
            case 2:
                cp = 0x10000 + r / 5 % 0x100000;
                s[len++] = (unsigned char)(0xf0 | cp >> 18);
                s[len++] = (unsigned char)(0x80 | (cp >> 12 & 63));
                s[len++] = (unsigned char)(0x80 | (cp >> 6 & 63));
                s[len++] = (unsigned char)(0x80 | (cp & 63));
                break;
            default:
                for (size_t k = ascii_runs ? 1 + r % 40 : 1; k-- && len < n;)
                    s[len++] = (unsigned char)('a' + k % 26);
            }
        }
        unsigned what = (unsigned)(x >> 40) % 3;
        if (what == 0 && len)
            s[x % len] = edge[(x >> 8) % sizeof edge];
        else if (what == 1 && len > 1)
            len -= 1 + (x >> 8) % 2;
        if (utf8_valid_prefix((const char *)s, len) != ref_prefix(s, len))
            fail_msg("input %d (%zu bytes): %zu, want %zu", t, len,
                     utf8_valid_prefix((const char *)s, len), ref_prefix(s, len));
    }
}

/* A character open at the end of a 32-byte block, then a block of ASCII: the ASCII block
 * is not skipped as valid. Likewise open at the end of the input. */
static void test_valid_prefix_open_blocks(void **state)
{
    (void)state;
    static const char *const leads[] = {"\xc3", "\xe4\xb8", "\xe4", "\xf0\x9f\x98", "\xf0"};
    unsigned char s[128];
    for (size_t l = 0; l < SL_ARRAY_LEN(leads); l++)
        for (size_t at = 1; at <= 96; at++) {
            size_t ll = strlen(leads[l]);
            memset(s, 'a', sizeof s);
            if (at < ll)
                continue;
            memcpy(s + at - ll, leads[l], ll);
            for (size_t n = at; n <= sizeof s; n += (n < at + 40 ? 1 : 17)) {
                char why[64];
                snprintf(why, sizeof why, "lead %zu ending at %zu, n %zu", l, at, n);
                size_t got = utf8_valid_prefix((const char *)s, n);
                if (got != at - ll)
                    fail_msg("%s: %zu, want %zu", why, got, at - ll);
            }
        }
}

/* Multi-byte text with bad bytes here and there, looked at from every place as the otlp
 * sink does after replacing one: the check that stops at the first bad block agrees with
 * the reference from each start. */
static void test_valid_prefix_many_bad(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    unsigned char s[400];
    for (int t = 0; t < 200; t++) {
        for (size_t i = 0; i + 3 <= sizeof s; i += 3)
            memcpy(s + i, "\xe4\xb8\x80", 3);
        s[sizeof s - 1] = 'a';
        for (int k = 0; k < 1 + t % 12; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            s[x % sizeof s] = (unsigned char)(0x80 + (x >> 16) % 0x80);
        }
        for (size_t i = 0; i < sizeof s; i++)
            if (utf8_valid_prefix((const char *)s + i, sizeof s - i) !=
                ref_prefix(s + i, sizeof s - i))
                fail_msg("input %d from %zu: %zu, want %zu", t, i,
                         utf8_valid_prefix((const char *)s + i, sizeof s - i),
                         ref_prefix(s + i, sizeof s - i));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_len_table),
        cmocka_unit_test(test_valid_prefix_random),
        cmocka_unit_test(test_valid_prefix_open_blocks),
        cmocka_unit_test(test_valid_prefix_many_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
