/* cwl_shard.h - which replica of a sharded cloudwatch_logs source reads a log group:
 * rendezvous (highest random weight) hashing of (group name, shard index), and the index
 * taken from a StatefulSet pod name. Pure functions: the same answer in every process, on
 * every machine and in every release (the hash is part of the on-disk contract: changing
 * it moves groups between replicas). */
#ifndef SL_CWL_SHARD_H
#define SL_CWL_SHARD_H

#include <stdint.h>

/* The weight of shard `index` for `group`: a 64-bit FNV-1a of the name mixed with the
 * index. Every replica computes every weight; the largest wins. */
uint64_t cwl_shard_weight(const char *group, uint32_t index);
/* The shard (0..count-1) that owns `group` among `count` (>= 1): the index of the largest
 * weight (the lower index on a tie). Going from N to N+1 shards moves only the groups
 * whose new largest weight is shard N's, about 1/(N+1) of them, all to shard N. */
uint32_t cwl_shard_owner(const char *group, uint32_t count);
/* Reads a shard index: a number ("2"), or a name ending in "-<digits>" (a StatefulSet pod
 * name such as "sluice-puller-2", as ${HOSTNAME} gives it) whose ordinal is taken.
 * Returns 0 and *out, or -1 (not a number and no such ordinal, or above 999999999). */
int cwl_shard_index(const char *text, int64_t *out);

#endif
