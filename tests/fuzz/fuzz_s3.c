/* fuzz_s3.c - libFuzzer target for the s3 sink's outside input: S3's XML answers (any
 * status and body is read and classified, never overrun, the texts copied are printable and
 * terminated) and event content reaching the key template and the NDJSON body (a key of any
 * field value keeps to [A-Za-z0-9._-/=] with no empty, "." or ".." segment; the line parses
 * as JSON). Input: 2 bytes of status, then the body; the body split at its first NUL gives
 * a message and a field value. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/common.h"
#include "formats/json.h"
#include "sinks/s3/s3.h"

static s3_key_tmpl tmpl;

static void check_text(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7F)
            abort();
}

static void check_key(const char *k, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len) {
            char c = k[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '/' || c == '='))
                abort();
            if (c != '/')
                continue;
        }
        size_t l = i - start;
        if (i < len && l == 0)
            abort(); /* empty segment */
        if ((l == 1 && k[start] == '.') || (l == 2 && k[start] == '.' && k[start + 1] == '.'))
            abort();
        start = i + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tmpl.n) {
        char err[256];
        if (s3_key_compile(&tmpl, "logs/%Y/{{ app }}/x{{ app }}/", err, sizeof err) != SL_OK)
            abort();
    }
    if (size < 2)
        return 0;
    long status = ((long)data[0] << 8 | data[1]) % 600;
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    char code[64], msg[200], up[16], tag[8];
    s3_xml_get(body, len, "Code", code, sizeof code);
    s3_xml_get(body, len, "Message", msg, sizeof msg);
    s3_xml_get(body, len, "UploadId", up, sizeof up);
    s3_xml_get(body, len, "E", tag, sizeof tag);
    check_text(code, sizeof code);
    check_text(msg, sizeof msg);
    check_text(up, sizeof up);
    check_text(tag, sizeof tag);
    s3_outcome o = s3_classify(status, code);
    if (o != S3_OK && o != S3_RETRY && o != S3_AUTH && o != S3_REJECT)
        abort();
    if ((status >= 200 && status < 300) != (o == S3_OK))
        abort();

    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    const char *nul = memchr(body, '\0', len);
    size_t mlen = nul ? (size_t)(nul - body) : len;
    e->message = batch_str(b, body, mlen);
    e->ts_ns = (int64_t)(status * 86400LL) * 1000000000LL - 1;
    if (nul)
        event_set_str(b, e, "app", nul + 1, len - mlen - 1);
    sl_buf k = SL_BUF_INIT;
    s3_key_render(&tmpl, e, &k);
    check_key(k.p, k.len);
    sl_event *v[1] = {e};
    s3_key_name(&k, v, 1, ".ndjson");
    check_key(k.p, k.len);
    buf_free(&k);

    s3_body sb;
    s3_body_init(&sb, S3_COMP_NONE, 1, 0, "_id");
    if (s3_body_add(&sb, e) != SL_OK || !sb.part.len || sb.part.p[sb.part.len - 1] != '\n')
        abort();
    sl_arena a;
    arena_init(&a, 4096);
    char err[128];
    if (!json_parse(&a, sb.part.p, sb.part.len - 1, err, sizeof err))
        abort();
    arena_free(&a);
    s3_body_free(&sb);
    batch_release(b);
    return 0;
}
