/* journald.c - see journald.h. */
#include "journald.h"

#include <string.h>

static const char *const sev_names[8] = {"emerg",   "alert",  "crit", "err",
                                         "warning", "notice", "info", "debug"};

int journald_unit_match(const char *unit, char *out, size_t outlen)
{
    size_t n = strlen(unit);
    if (n == 0)
        return -1;
    const char *suffix = strchr(unit, '.') ? "" : ".service";
    size_t need = 14 + n + strlen(suffix);
    if (need + 1 > outlen)
        return -1;
    memcpy(out, "_SYSTEMD_UNIT=", 14);
    memcpy(out + 14, unit, n);
    strcpy(out + 14 + n, suffix);
    return (int)need;
}

bool journald_field_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

const char *journald_severity(const char *prio, size_t len)
{
    if (len != 1 || prio[0] < '0' || prio[0] > '7')
        return NULL;
    return sev_names[prio[0] - '0'];
}

bool journald_parse_usec(const char *s, size_t len, int64_t *ns)
{
    if (len == 0 || len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX / 1000)
        return false;
    *ns = (int64_t)v * 1000;
    return true;
}

long journald_field_key_len(const void *data, size_t len)
{
    const char *eq = memchr(data, '=', len);
    if (!eq || eq == data)
        return -1;
    return (long)(eq - (const char *)data);
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The value of "<k>=" in a ';'-separated cursor, or NULL; *n its length. */
static const char *cursor_part(const char *c, char k, size_t *n)
{
    for (const char *p = c; *p;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= 2 && p[0] == k && p[1] == '=') {
            *n = len - 2;
            return p + 2;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

void journald_cursor_id(const char *cursor, uint64_t *stream, uint64_t *seq)
{
    size_t sn = 0, in = 0;
    const char *s = cursor_part(cursor, 's', &sn), *i = cursor_part(cursor, 'i', &in);
    uint64_t v = 0;
    bool ok = s && sn > 0 && i && in > 0 && in <= 16;
    for (size_t k = 0; ok && k < in; k++) {
        char c = i[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            ok = false;
        v = v << 4 | (uint64_t)(d < 0 ? 0 : d);
    }
    if (!ok) {
        *stream = fnv1a(cursor, strlen(cursor));
        *seq = 0;
        return;
    }
    *stream = fnv1a(s, sn);
    *seq = v;
}
