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

/* ---- Learned codes -----------------------------------------------------------------------
 * ISA-L's level 1 takes two passes over a body: it finds the matches while it counts the
 * symbols, makes Huffman codes for that body, then encodes. Level 0 takes one, with codes
 * given in advance (its built-in ones fit no body well) and a smaller search for matches.
 * A sink's bodies look alike (the same keys, the same shapes), so codes made from one of
 * them fit the next ones: on OTLP protobuf bodies, level 0 with them writes what level 1
 * writes in less time (0.79 against 0.93 ns a byte, both 25.4% of the input;
 * docs/BENCHMARKS.md, otlp sink, round 12). On other bodies its smaller search falls short
 * (30% larger on some text), so every GZ_RELEARN calls one body is compressed both ways:
 * the codes are made again from it, and level 0 is used until the next such body only if
 * it wrote at most GZ_L0_SLACK percent more than level 1. That body is sent as level 1
 * wrote it. Every symbol has a code, so any body compresses with the codes; a body they
 * fit badly (its output over GZ_MISFIT percent of the size level 1 gave the learning body,
 * relative to their lengths: the data changed) is compressed again at level 1, and the next
 * call learns again. */
#define GZ_RELEARN 32
#define GZ_MISFIT 110
#define GZ_L0_SLACK 3
#define GZ_LEARN_MAX (1u << 20) /* bytes of a body counted to learn from */

struct gz_learned {
    pthread_mutex_t mu;
    unsigned calls;
    bool use_codes; /* level 0 with codes, else level 1 (the last comparison) */
    uint32_t ratio;  /* level 1's output per 65536 input bytes on the learning body */
#ifdef GZ_ISAL
    struct isal_hufftables codes;
#endif
};

gz_learned *gz_learned_new(void)
{
    gz_learned *l = sl_xcalloc(1, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void gz_learned_free(gz_learned *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

#ifdef GZ_ISAL
static int gz_isal_codes(struct isal_hufftables *codes, const char *data, size_t len,
                         sl_buf *out)
{
    struct isal_zstream zs;
    isal_deflate_stateless_init(&zs);
    zs.level = 0;
    zs.gzip_flag = IGZIP_GZIP;
    zs.end_of_stream = 1;
    zs.flush = NO_FLUSH;
    if (isal_deflate_set_hufftables(&zs, codes, IGZIP_HUFFTABLE_CUSTOM) != COMP_OK)
        return SL_ERR_INVAL;
    buf_reset(out);
    size_t bound = len + len / 16384 * 5 + 1024; /* as gz_isal */
    buf_reserve(out, bound);
    zs.next_in = (uint8_t *)data;
    zs.avail_in = (uint32_t)len;
    zs.next_out = (uint8_t *)out->p;
    zs.avail_out = (uint32_t)bound;
    if (isal_deflate_stateless(&zs) != COMP_OK)
        return SL_ERR_INVAL;
    out->len = zs.total_out;
    return SL_OK;
}
#endif

int gz_compress_learned(gz_learned *l, const char *data, size_t len, sl_buf *out)
{
#ifdef GZ_ISAL
    if (len > UINT32_MAX / 2)
        return SL_ERR_NOMEM;
    struct isal_hufftables codes;
    pthread_mutex_lock(&l->mu);
    bool learn = l->calls++ % GZ_RELEARN == 0, use = l->use_codes;
    uint64_t ratio = l->ratio;
    if (!learn && use)
        codes = l->codes;
    pthread_mutex_unlock(&l->mu);
    if (!learn && !use)
        return gz_isal(1, data, len, out);
    if (!learn) {
        if (gz_isal_codes(&codes, data, len, out) == SL_OK &&
            (uint64_t)out->len * 65536 * 100 <= (uint64_t)len * ratio * GZ_MISFIT + 65536 * 100 * 64)
            return SL_OK;
        pthread_mutex_lock(&l->mu);
        l->calls = 0; /* the data changed: learn from the next body */
        pthread_mutex_unlock(&l->mu);
        return gz_isal(1, data, len, out);
    }
    int rc = gz_isal(1, data, len, out); /* what this body is sent as */
    if (rc != SL_OK)
        return rc;
    struct isal_huff_histogram *h = sl_xcalloc(1, sizeof *h);
    isal_update_histogram((uint8_t *)data, (int)SL_MIN(len, (size_t)GZ_LEARN_MAX), h);
    bool made = isal_create_hufftables(&codes, h) == 0;
    free(h);
    sl_buf l0 = SL_BUF_INIT;
    use = made && gz_isal_codes(&codes, data, len, &l0) == SL_OK &&
          l0.len * 100 <= out->len * (100 + GZ_L0_SLACK);
    buf_free(&l0);
    pthread_mutex_lock(&l->mu);
    if (made)
        l->codes = codes;
    l->use_codes = use;
    l->ratio = (uint32_t)SL_MIN((uint64_t)out->len * 65536 / (len ? len : 1), (uint64_t)UINT32_MAX);
    pthread_mutex_unlock(&l->mu);
    return SL_OK;
#else
    (void)l;
    return gz_compress(GZ_ZLIB, 1, data, len, out);
#endif
}

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
