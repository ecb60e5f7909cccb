/* fuzz_syslog.c - libFuzzer target for the syslog parser, its structured-data iterator and
 * the TCP framer. Every part of a parsed message must lie inside the input, the iterator
 * must end, and the framer must consume every byte exactly once whatever the split. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/syslog.h"

static void inside(const char *s, size_t n, const char *p, size_t len)
{
    if (len && (!p || p < s || p + len > s + n))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes so any read past the end is caught. */
    char *s = malloc(size ? size : 1);
    if (size)
        memcpy(s, data, size);
    syslog_msg m;
    syslog_parse(s, size, 1796407200000000000LL, &m);
    inside(s, size, m.hostname, m.hostname_len);
    inside(s, size, m.appname, m.appname_len);
    inside(s, size, m.procid, m.procid_len);
    inside(s, size, m.msgid, m.msgid_len);
    inside(s, size, m.sd, m.sd_len);
    inside(s, size, m.msg, m.msg_len);
    if (m.facility < 0 || m.facility > 23 || m.severity < 0 || m.severity > 7)
        abort();
    if (m.sd_len) {
        syslog_sd_iter it;
        syslog_sd_param p;
        size_t k = 0;
        syslog_sd_begin(&it, m.sd, m.sd_len);
        while (syslog_sd_next(&it, &p)) {
            inside(s, size, p.id, p.id_len);
            if (!p.no_params) {
                inside(s, size, p.name, p.name_len);
                inside(s, size, p.value, p.value_len);
                char *u = malloc(p.value_len ? p.value_len : 1);
                if (syslog_sd_unescape(p.value, p.value_len, u) > p.value_len)
                    abort();
                free(u);
            }
            if (++k > size)
                abort();
        }
    }
    /* Framing, fed in pieces of a size taken from the first byte, max from the second. */
    size_t step = size ? (size_t)data[0] % 17 + 1 : 1;
    size_t max = size > 1 ? (size_t)data[1] % 64 + 1 : 8;
    syslog_framer f = {0};
    char *buf = malloc(size + 1);
    size_t have = 0, fed = 0, consumed = 0;
    for (;;) {
        size_t k = size - fed < step ? size - fed : step;
        memcpy(buf + have, s + fed, k);
        have += k;
        fed += k;
        bool eof = fed == size;
        for (;;) {
            const char *msg;
            size_t len, used;
            int r = syslog_frame_next(&f, buf, have, max, eof, &msg, &len, &used);
            if (used > have)
                abort();
            if (r == SYSLOG_FRAME && (len == 0 || len > max || msg < buf || msg + len > buf + used))
                abort();
            if (r == SYSLOG_TRUNCATED && (len != max || msg < buf || msg + len > buf + used))
                abort();
            memmove(buf, buf + used, have - used);
            have -= used;
            consumed += used;
            if (r == SYSLOG_NEED_MORE && used == 0)
                break;
        }
        if (eof)
            break;
    }
    if (consumed + have != size || have > max + 12)
        abort();
    free(buf);
    free(s);
    return 0;
}
