/* snappy_lazy.c - libsnappy, loaded on first use instead of at process start.
 * libsnappy is C++: linked, it maps libstdc++ and libgcc_s into every process (about
 * 1.0 MB of RSS) for the loki sink's protobuf encoding and the snappy bodies of the http
 * and otlp sources alone. These definitions stand in for the functions they call (the sink
 * loads the library at init, the sources when a snappy body comes; see lazylib.h). */
#include <snappy-c.h>

#include "core/lazylib.h"

static struct {
    __typeof__(snappy_compress) *compress;
    __typeof__(snappy_max_compressed_length) *max_compressed_length;
    __typeof__(snappy_uncompress) *uncompress;
    __typeof__(snappy_uncompressed_length) *uncompressed_length;
} fn;

static const lazy_sym syms[] = {
    {"snappy_compress", &fn.compress},
    {"snappy_max_compressed_length", &fn.max_compressed_length},
    {"snappy_uncompress", &fn.uncompress},
    {"snappy_uncompressed_length", &fn.uncompressed_length},
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

snappy_status snappy_uncompress(const char *in, size_t len, char *out, size_t *out_len)
{
    return lazylib_ready(&lazy_snappy) ? fn.uncompress(in, len, out, out_len)
                                       : SNAPPY_INVALID_INPUT;
}

snappy_status snappy_uncompressed_length(const char *in, size_t len, size_t *out)
{
    return lazylib_ready(&lazy_snappy) ? fn.uncompressed_length(in, len, out)
                                       : SNAPPY_INVALID_INPUT;
}
