/* cwl_shard.c - rendezvous hashing of log groups over the replicas of a sharded
 * cloudwatch_logs source (see cwl_shard.h). */
#include "sources/cloudwatch/cwl_shard.h"

#include <stddef.h>
#include <string.h>

/* 64-bit FNV-1a: offset basis and prime as the FNV specification gives them. */
static uint64_t shard_fnv(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* A bijective finaliser (xor-shifts and odd multipliers): FNV's low-entropy high bits
 * and nearby indexes become independent-looking weights. */
static uint64_t shard_mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static uint64_t shard_weight(uint64_t name_hash, uint32_t index)
{
    return shard_mix(name_hash ^ shard_mix(0x9e3779b97f4a7c15ULL * ((uint64_t)index + 1)));
}

uint64_t cwl_shard_weight(const char *group, uint32_t index)
{
    return shard_weight(shard_fnv(group), index);
}

uint32_t cwl_shard_owner(const char *group, uint32_t count)
{
    uint64_t h = shard_fnv(group), best = 0;
    uint32_t owner = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t w = shard_weight(h, i);
        if (i == 0 || w > best) {
            best = w;
            owner = i;
        }
    }
    return owner;
}

int cwl_shard_index(const char *text, int64_t *out)
{
    size_t n = strlen(text), d = n;
    while (d > 0 && text[d - 1] >= '0' && text[d - 1] <= '9')
        d--;
    /* all digits, or "<name>-<digits>" with a name */
    if (n == 0 || d == n || n - d > 9 || (d > 0 && (d < 2 || text[d - 1] != '-')))
        return -1;
    int64_t v = 0;
    for (size_t i = d; i < n; i++)
        v = v * 10 + (text[i] - '0');
    *out = v;
    return 0;
}
