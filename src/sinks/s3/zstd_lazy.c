/* zstd_lazy.c - libzstd, loaded on first use instead of at process start, for the s3 sink's
 * `compression: zstd` alone. These definitions stand in for the functions that sink calls
 * (it loads the library at init, see lazylib.h). */
#include <zstd.h>

#include "core/lazylib.h"

static struct {
    __typeof__(ZSTD_compress) *compress;
    __typeof__(ZSTD_compressBound) *compress_bound;
    __typeof__(ZSTD_isError) *is_error;
} fn;

static const lazy_sym syms[] = {
    {"ZSTD_compress", &fn.compress},
    {"ZSTD_compressBound", &fn.compress_bound},
    {"ZSTD_isError", &fn.is_error},
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
