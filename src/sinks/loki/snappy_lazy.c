/* snappy_lazy.c - libsnappy, loaded on first use instead of at process start.
 * libsnappy is C++: linked, it maps libstdc++ and libgcc_s into every process (about
 * 1.0 MB of RSS) for the loki sink's protobuf encoding alone. These definitions stand in
 * for the two functions that sink calls (it loads the library at init, see lazylib.h). */
#include <snappy-c.h>

#include "core/lazylib.h"

static struct {
    __typeof__(snappy_compress) *compress;
    __typeof__(snappy_max_compressed_length) *max_compressed_length;
} fn;

static const lazy_sym syms[] = {
    {"snappy_compress", &fn.compress},
    {"snappy_max_compressed_length", &fn.max_compressed_length},
    {NULL, NULL},
};

lazylib lazy_snappy = LAZYLIB_INIT("libsnappy.so.1", syms);

snappy_status snappy_compress(const char *in, size_t len, char *out, size_t *out_len)
{
    return lazylib_ready(&lazy_snappy) ? fn.compress(in, len, out, out_len) : SNAPPY_INVALID_INPUT;
}

size_t snappy_max_compressed_length(size_t len)
{
    return lazylib_ready(&lazy_snappy) ? fn.max_compressed_length(len) : 0;
}
