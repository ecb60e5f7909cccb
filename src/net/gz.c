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

static int gz_isal(int level, const char *data, size_t len, sl_buf *out)
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
    zs.gzip_flag = IGZIP_GZIP;
    zs.end_of_stream = 1;
    zs.flush = NO_FLUSH;
    buf_reset(out);
    /* Stored blocks bound the worst case: input + 5 bytes per 64 KiB + header/trailer. */
    size_t bound = len + len / 16384 * 5 + 1024;
    buf_reserve(out, bound);
    zs.next_in = (uint8_t *)data;
    zs.avail_in = (uint32_t)len;
    zs.next_out = (uint8_t *)out->p;
    zs.avail_out = (uint32_t)bound;
    int rc = isal_deflate_stateless(&zs);
    lvl_put(lvl);
    if (rc != COMP_OK)
        return gz_zlib(level, data, len, out);
    out->len = zs.total_out;
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
        return gz_isal(level, data, len, out);
#endif
    return gz_zlib(level, data, len, out);
}
