/* gz.c - gzip for request bodies: ISA-L's igzip (level 1 is about 9x zlib's speed on
 * NDJSON) when its header is present at build time, zlib as the fallback and reference.
 *
 * Notes:
 *  1. Segments (gz.h) are raw deflate ending in a full flush: byte-aligned, not final.
 *  2. Learned codes. A stream's bodies and segments (a sink's records) are alike, and
 *     ISA-L's level 0 with Huffman codes made for the data (isal_create_hufftables, which
 *     gives every symbol a code, so any input can be written) skips level 1's histogram
 *     and codes per block: 15-20% faster on OTLP records at the same size. So each thread
 *     keeps, per stream, codes learned from one body (a lesson: written at level 1 and
 *     with the new codes, the smaller kept) and uses them for the next LEARN_EVERY
 *     bodies, but only when they came within 1/32 of level 1 there (the bulk lines of
 *     Elasticsearch, full of repeats, do better at level 1 and stay there) and the data
 *     compressed at all. A body that comes out an eighth bigger than the lesson's ratio
 *     calls the next lesson early, once: drifting again within LEARN_CALM bodies of an
 *     early lesson means level 1 until the next lesson. Codes are per thread (no lock;
 *     routing threads compress in parallel); a stream pointer reused by another sink
 *     only costs ratio until the next lesson. */
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

/* ISA-L's own level (0..3) for a zlib level. */
static int isal_level(int level) { return level <= 1 ? 1 : level <= 4 ? 2 : 3; }

/* One stateless run at ISA-L level il, appended to out; level 0 codes with `codes` (NULL:
 * ISA-L's defaults). False when ISA-L fails (out unchanged). */
static bool isal_run(int il, const struct isal_hufftables *codes, const char *data, size_t len,
                     sl_buf *out, bool segment)
{
    struct isal_zstream zs;
    gz_lvl *lvl = NULL;
    isal_deflate_stateless_init(&zs);
    zs.level = (uint32_t)il;
    if (il > 0) {
        size_t need = il == 1 ? ISAL_DEF_LVL1_DEFAULT : il == 2 ? ISAL_DEF_LVL2_DEFAULT
                                                                : ISAL_DEF_LVL3_DEFAULT;
        lvl = lvl_get(need);
        zs.level_buf = lvl->buf;
        zs.level_buf_size = (uint32_t)need;
    } else if (codes) {
        zs.hufftables = (struct isal_hufftables *)codes;
    }
    /* a segment: raw deflate, not the last block, byte-aligned at its end */
    zs.gzip_flag = segment ? IGZIP_DEFLATE : IGZIP_GZIP;
    zs.end_of_stream = !segment;
    zs.flush = segment ? FULL_FLUSH : NO_FLUSH;
    /* Stored blocks bound the worst case: input + 5 bytes per 64 KiB + header/trailer. */
    size_t bound = len + len / 16384 * 5 + 1024;
    buf_reserve(out, bound);
    zs.next_in = (uint8_t *)data;
    zs.avail_in = (uint32_t)len;
    zs.next_out = (uint8_t *)out->p + out->len;
    zs.avail_out = (uint32_t)bound;
    int rc = isal_deflate_stateless(&zs);
    if (lvl)
        lvl_put(lvl);
    if (rc != COMP_OK)
        return false;
    out->len += zs.total_out;
    return true;
}

/* Learned codes (note 2): per thread, the streams it compressed lately. A body is a
 * gz_compress input or a segment. */
enum {
    LEARN_STREAMS = 4, /* streams a thread keeps codes for */
    LEARN_EVERY = 256, /* bodies between two lessons */
    LEARN_MIN = 8192,  /* bytes a body needs to be a lesson */
    LEARN_CALM = 16,   /* bodies an early lesson must hold before another may be called */
};

typedef struct gz_lesson {
    const void *stream;
    struct isal_hufftables codes;
    uint32_t since;    /* bodies since the lesson; LEARN_EVERY: a lesson is due */
    uint32_t permille; /* level 0's output per 1,000 input bytes at the lesson */
    bool fast;         /* level 0 with codes came within 1/32 of level 1 */
    bool drifted;      /* the next lesson is called early */
    bool early;        /* this lesson was */
} gz_lesson;

typedef struct gz_learned {
    gz_lesson lesson[LEARN_STREAMS];
    unsigned next; /* the slot a new stream takes */
    uint64_t lessons; /* taken on this thread (gz_lessons) */
    struct isal_huff_histogram hist;
    sl_buf alt; /* level 0's candidate during a lesson; empty between lessons */
} gz_learned;

static pthread_key_t learned_key;
static pthread_once_t learned_once = PTHREAD_ONCE_INIT;

static void learned_free(void *p)
{
    gz_learned *l = p;
    buf_free(&l->alt);
    free(l);
}

static void learned_init(void) { pthread_key_create(&learned_key, learned_free); }

/* This thread's codes for `stream`, a fresh slot (a lesson due) when it has none; NULL
 * without memory for them. */
static gz_lesson *lesson_of(const void *stream, gz_learned **lp)
{
    pthread_once(&learned_once, learned_init);
    gz_learned *l = pthread_getspecific(learned_key);
    if (!l) {
        if (!(l = calloc(1, sizeof *l)) || pthread_setspecific(learned_key, l) != 0) {
            free(l);
            return NULL;
        }
    }
    *lp = l;
    for (unsigned i = 0; i < LEARN_STREAMS; i++)
        if (l->lesson[i].stream == stream)
            return &l->lesson[i];
    gz_lesson *s = &l->lesson[l->next++ % LEARN_STREAMS];
    *s = (gz_lesson){.stream = stream, .since = LEARN_EVERY};
    return s;
}

/* A lesson: codes from data's own histogram; the data is written at level 1 and with
 * them, and the smaller kept. */
static bool lesson_take(gz_learned *l, gz_lesson *s, const char *data, size_t len, sl_buf *out,
                        bool segment)
{
    size_t at = out->len;
    if (!isal_run(1, NULL, data, len, out, segment))
        return false;
    s->since = 0;
    s->fast = false;
    s->early = s->drifted;
    s->drifted = false;
    l->lessons++;
    memset(&l->hist, 0, sizeof l->hist);
    isal_update_histogram((uint8_t *)data, (int)len, &l->hist);
    if (isal_create_hufftables(&s->codes, &l->hist) != 0 ||
        !isal_run(0, &s->codes, data, len, &l->alt, segment)) {
        buf_free(&l->alt);
        return true;
    }
    size_t one = out->len - at, zero = l->alt.len;
    s->permille = (uint32_t)((uint64_t)zero * 1000 / len);
    /* nothing to learn from incompressible data (stored blocks either way) */
    s->fast = zero <= one + one / 32 && s->permille < 900;
    if (zero < one) {
        out->len = at;
        buf_append(out, l->alt.p, l->alt.len);
    }
    buf_free(&l->alt); /* lessons are rare: no body-sized buffer kept per thread */
    return true;
}

/* ISA-L at `level`, appended to out; at level 1 with the codes learned for `stream`
 * (NULL: none). */
static bool isal_learned(int level, const void *stream, const char *data, size_t len,
                         sl_buf *out, bool segment)
{
    gz_learned *l;
    int il = isal_level(level);
    gz_lesson *s = stream && il == 1 ? lesson_of(stream, &l) : NULL;
    if (!s)
        return isal_run(il, NULL, data, len, out, segment);
    if (s->since >= LEARN_EVERY && len >= LEARN_MIN)
        return lesson_take(l, s, data, len, out, segment);
    if (s->since < LEARN_EVERY)
        s->since++;
    if (!s->fast || s->since >= LEARN_EVERY)
        return isal_run(1, NULL, data, len, out, segment);
    size_t at = out->len;
    if (!isal_run(0, &s->codes, data, len, out, segment))
        return false;
    /* The data drifted from the lesson's (an eighth more bytes): the next body is a
     * lesson. Drifting again soon after an early lesson is data of two kinds taking turns
     * (two sources into one sink), which would make every other body a lesson: level 1
     * until the lesson due in its time instead. */
    if (len >= LEARN_MIN &&
        (uint64_t)(out->len - at) * 1000 > (uint64_t)len * (s->permille + s->permille / 8 + 8)) {
        if (s->early && s->since < LEARN_CALM) {
            s->fast = false;
        } else {
            s->since = LEARN_EVERY;
            s->drifted = true;
        }
    }
    return true;
}
#endif

uint64_t gz_lessons(void)
{
#ifdef GZ_ISAL
    pthread_once(&learned_once, learned_init);
    gz_learned *l = pthread_getspecific(learned_key);
    return l ? l->lessons : 0;
#else
    return 0;
#endif
}

int gz_compress(gz_engine engine, int level, const void *stream, const char *data, size_t len,
                sl_buf *out)
{
    if (level < 1 || level > 9)
        level = 1;
    if (len > UINT32_MAX / 2)
        return SL_ERR_NOMEM;
#ifdef GZ_ISAL
    if (engine != GZ_ZLIB) {
        buf_reset(out);
        if (isal_learned(level, stream, data, len, out, false))
            return SL_OK;
    }
#else
    (void)stream;
#endif
    return gz_zlib(level, data, len, out);
}

int gz_segment(gz_engine engine, int level, const void *stream, const char *data, size_t len,
               sl_buf *out, uint32_t *crc)
{
    if (level < 1 || level > 9)
        level = 1;
    if (len > UINT32_MAX / 2)
        return SL_ERR_NOMEM;
    *crc = crc_of(data, len);
#ifdef GZ_ISAL
    if (engine != GZ_ZLIB && isal_learned(level, stream, data, len, out, true))
        return SL_OK;
#else
    (void)stream;
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
