/* gz.c - gzip for request bodies: ISA-L's igzip (level 1 is about 9x zlib's speed on
 * NDJSON) when its header is present at build time, zlib as the fallback and reference. */
#include "gz.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/common.h"

#if defined(__has_include)
#if __has_include(<isa-l/igzip_lib.h>)
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#define GZ_ISAL 1
#endif
#endif

bool gz_have_isal(void)
{
#ifdef GZ_ISAL
    return true;
#else
    return false;
#endif
}

static int gz_zlib(int level, const char *data, size_t len, sl_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return SL_ERR_NOMEM;
    buf_reset(out);
    size_t bound = deflateBound(&zs, (uLong)len) + 32;
    buf_reserve(out, bound);
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out->p;
    zs.avail_out = (uInt)bound;
    int rc = deflate(&zs, Z_FINISH);
    out->len = zs.total_out;
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? SL_OK : SL_ERR_NOMEM;
}

/* A raw deflate segment ending with a sync flush (an empty stored block: byte-aligned). */
static int zlib_segment(int level, const char *data, size_t len, sl_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return SL_ERR_NOMEM;
    size_t bound = deflateBound(&zs, (uLong)len) + 32;
    buf_reserve(out, bound);
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out->p + out->len;
    zs.avail_out = (uInt)bound;
    int rc = deflate(&zs, Z_SYNC_FLUSH);
    out->len += zs.total_out;
    deflateEnd(&zs);
    return rc == Z_OK && zs.avail_in == 0 ? SL_OK : SL_ERR_NOMEM;
}

static uint32_t crc_of(const char *p, size_t n)
{
#ifdef GZ_ISAL
    return crc32_gzip_refl(0, (const unsigned char *)p, (uint64_t)n);
#else
    return (uint32_t)crc32(0, (const Bytef *)p, (uInt)n);
#endif
}

#ifdef GZ_ISAL
/* Level buffers are large (hundreds of KiB): kept on a global free list between requests
 * (reachable, so never a leak), taken and given back under a lock. */
typedef struct gz_lvl {
    struct gz_lvl *next;
    size_t size;
    uint8_t buf[];
} gz_lvl;
static pthread_mutex_t gz_mu = PTHREAD_MUTEX_INITIALIZER;
static gz_lvl *gz_free;

static gz_lvl *lvl_get(size_t need)
{
    pthread_mutex_lock(&gz_mu);
    gz_lvl *l = gz_free;
    if (l)
        gz_free = l->next;
    pthread_mutex_unlock(&gz_mu);
    if (l && l->size < need) {
        free(l);
        l = NULL;
    }
    if (!l) {
        l = sl_xmalloc(sizeof *l + need);
        l->size = need;
    }
    return l;
}

static void lvl_put(gz_lvl *l)
{
    pthread_mutex_lock(&gz_mu);
    l->next = gz_free;
    gz_free = l;
    pthread_mutex_unlock(&gz_mu);
}

static int gz_isal(int level, const char *data, size_t len, sl_buf *out, bool segment)
{
    struct isal_zstream zs;
    int il = level <= 1 ? 1 : level <= 4 ? 2 : 3;
    size_t need = il == 1 ? ISAL_DEF_LVL1_DEFAULT : il == 2 ? ISAL_DEF_LVL2_DEFAULT
                                                            : ISAL_DEF_LVL3_DEFAULT;
    gz_lvl *lvl = lvl_get(need);
    uint8_t *lvlbuf = lvl->buf;
    isal_deflate_stateless_init(&zs);
    zs.level = (uint32_t)il;
    zs.level_buf = lvlbuf;
    zs.level_buf_size = (uint32_t)need;
    /* a segment: raw deflate, not the last block, byte-aligned at its end */
    zs.gzip_flag = segment ? IGZIP_DEFLATE : IGZIP_GZIP;
    zs.end_of_stream = !segment;
    zs.flush = segment ? FULL_FLUSH : NO_FLUSH;
    if (!segment)
        buf_reset(out);
    /* Stored blocks bound the worst case: input + 5 bytes per 64 KiB + header/trailer. */
    size_t bound = len + len / 16384 * 5 + 1024;
    buf_reserve(out, bound);
    zs.next_in = (uint8_t *)data;
    zs.avail_in = (uint32_t)len;
    zs.next_out = (uint8_t *)out->p + out->len;
    zs.avail_out = (uint32_t)bound;
    int rc = isal_deflate_stateless(&zs);
    lvl_put(lvl);
    if (rc != COMP_OK)
        return segment ? zlib_segment(level, data, len, out) : gz_zlib(level, data, len, out);
    out->len += zs.total_out;
    return SL_OK;
}
#endif

int gz_compress(gz_engine engine, int level, const char *data, size_t len, sl_buf *out)
{
    if (level < 1 || level > 9)
        level = 1;
    if (len > UINT32_MAX / 2)
        return SL_ERR_NOMEM;
#ifdef GZ_ISAL
    if (engine != GZ_ZLIB)
        return gz_isal(level, data, len, out, false);
#endif
    return gz_zlib(level, data, len, out);
}

int gz_segment(gz_engine engine, int level, const char *data, size_t len, sl_buf *out,
               uint32_t *crc)
{
    if (level < 1 || level > 9)
        level = 1;
    if (len > UINT32_MAX / 2)
        return SL_ERR_NOMEM;
    *crc = crc_of(data, len);
#ifdef GZ_ISAL
    if (engine != GZ_ZLIB)
        return gz_isal(level, data, len, out, true);
#endif
    return zlib_segment(level, data, len, out);
}

static void put_le32(sl_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    buf_append(b, (const char *)x, 4);
}

void gz_join_begin(gz_join *j, sl_buf *out)
{
    /* magic, deflate, no flags, no mtime, no extra flags, OS unknown (RFC 1952) */
    static const char head[10] = {0x1f, (char)0x8b, 8, 0, 0, 0, 0, 0, 0, (char)0xff};
    *j = (gz_join){.out = out};
    buf_append(out, head, sizeof head);
}

static void join_crc(gz_join *j, uint32_t crc, size_t n)
{
    j->crc = (uint32_t)crc32_combine(j->crc, crc, (z_off_t)n);
    j->len += n;
}

void gz_join_raw(gz_join *j, const char *p, size_t n)
{
    if (!n)
        return;
    join_crc(j, crc_of(p, n), n);
    while (n) {
        /* a stored block, not the last: BFINAL 0, BTYPE 00, then LEN and its complement */
        uint16_t k = (uint16_t)SL_MIN(n, (size_t)65535), nk = (uint16_t)~k;
        unsigned char h[5] = {0, (unsigned char)k, (unsigned char)(k >> 8), (unsigned char)nk,
                              (unsigned char)(nk >> 8)};
        buf_append(j->out, (const char *)h, sizeof h);
        buf_append(j->out, p, k);
        p += k;
        n -= k;
    }
}

void gz_join_segment(gz_join *j, const char *comp, size_t comp_len, uint32_t crc,
                     size_t raw_len)
{
    if (!raw_len)
        return;
    join_crc(j, crc, raw_len);
    buf_append(j->out, comp, comp_len);
}

void gz_join_end(gz_join *j)
{
    /* an empty stored block marked last, then CRC-32 and the length mod 2^32 */
    static const char last[5] = {1, 0, 0, (char)0xff, (char)0xff};
    buf_append(j->out, last, sizeof last);
    put_le32(j->out, j->crc);
    put_le32(j->out, (uint32_t)j->len);
}
