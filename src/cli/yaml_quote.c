/* yaml_quote.c - double-quoted YAML scalars for the configurations the drop-ins write. */
#include "cli/yaml_quote.h"

#include <stdint.h>

/* Length of the UTF-8 sequence at s (NUL-terminated) and its code point, or 0 when it is
 * not one (overlong forms, surrogates and values past U+10FFFF are not). */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
             : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!n)
        return 0;
    uint32_t c = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

bool yaml_utf8_valid(const char *s)
{
    uint32_t cp;
    for (size_t n; *s; s += n)
        if (!(n = utf8_seq((const unsigned char *)s, &cp)))
            return false;
    return true;
}

void yaml_quote(sl_buf *out, const char *s)
{
    buf_putc(out, '"');
    uint32_t cp;
    for (size_t n; *s; s += n) {
        n = utf8_seq((const unsigned char *)s, &cp);
        if (!n) { /* an environment value that is not UTF-8 */
            buf_puts(out, "\\ufffd");
            n = 1;
        } else if (cp == '"' || cp == '\\') {
            buf_putc(out, '\\');
            buf_putc(out, (char)cp);
        } else if (cp == '$') {
            buf_puts(out, "$$");
        } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xfeff || cp == 0xfffe ||
                   cp == 0xffff) {
            buf_printf(out, "\\u%04x", (unsigned)cp);
        } else {
            buf_append(out, s, n);
        }
    }
    buf_putc(out, '"');
}
