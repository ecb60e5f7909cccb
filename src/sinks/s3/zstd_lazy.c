/* zstd_lazy.c - libzstd, loaded on first use instead of at process start, for the s3 sink's
 * `compression: zstd` and the zstd bodies the http and otlp sources take. These definitions
 * stand in for the functions they call (the sink loads the library at init, the sources at
 * their first zstd body, see lazylib.h). */
#include <zstd.h>

#include "core/lazylib.h"

static struct {
    __typeof__(ZSTD_compress) *compress;
    __typeof__(ZSTD_compressBound) *compress_bound;
    __typeof__(ZSTD_isError) *is_error;
    __typeof__(ZSTD_createDCtx) *create_dctx;
    __typeof__(ZSTD_freeDCtx) *free_dctx;
    __typeof__(ZSTD_DCtx_setParameter) *dctx_set;
    __typeof__(ZSTD_decompressStream) *decompress_stream;
} fn;

static const lazy_sym syms[] = {
    {"ZSTD_compress", &fn.compress},
    {"ZSTD_compressBound", &fn.compress_bound},
    {"ZSTD_isError", &fn.is_error},
    {"ZSTD_createDCtx", &fn.create_dctx},
    {"ZSTD_freeDCtx", &fn.free_dctx},
    {"ZSTD_DCtx_setParameter", &fn.dctx_set},
    {"ZSTD_decompressStream", &fn.decompress_stream},
    {NULL, NULL},
};

lazylib lazy_zstd = LAZYLIB_INIT("libzstd.so.1", syms);

size_t ZSTD_compress(void *dst, size_t cap, const void *src, size_t len, int level)
{
    return lazylib_ready(&lazy_zstd) ? fn.compress(dst, cap, src, len, level) : (size_t)-1;
}

size_t ZSTD_compressBound(size_t len)
{
    return lazylib_ready(&lazy_zstd) ? fn.compress_bound(len) : 0;
}

unsigned ZSTD_isError(size_t code)
{
    return lazylib_ready(&lazy_zstd) ? fn.is_error(code) : 1;
}

ZSTD_DCtx *ZSTD_createDCtx(void)
{
    return lazylib_ready(&lazy_zstd) ? fn.create_dctx() : NULL;
}

size_t ZSTD_freeDCtx(ZSTD_DCtx *dc)
{
    return lazylib_ready(&lazy_zstd) ? fn.free_dctx(dc) : 0;
}

size_t ZSTD_DCtx_setParameter(ZSTD_DCtx *dc, ZSTD_dParameter p, int v)
{
    return lazylib_ready(&lazy_zstd) ? fn.dctx_set(dc, p, v) : (size_t)-1;
}

size_t ZSTD_decompressStream(ZSTD_DStream *ds, ZSTD_outBuffer *out, ZSTD_inBuffer *in)
{
    return lazylib_ready(&lazy_zstd) ? fn.decompress_stream(ds, out, in) : (size_t)-1;
}
