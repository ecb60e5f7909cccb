/* memlimit.h - the process-wide memory limit (`limits: { memory }`): a governor thread
 * samples the resident set every 100 ms and pauses sources, lowest priority class first,
 * before the process reaches the limit. Sources see it through source_emit (which waits
 * while their class is paused) and source_would_block / source_mem_paused. */
#ifndef SL_MEMLIMIT_H
#define SL_MEMLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

/* What a source reads, lowest priority first. Sources are LIVE unless they say otherwise
 * (cloudwatch_logs asks for its backfill and deep history; a source that would lose data
 * when it stops reading, such as syslog over UDP, is NEVER). */
typedef enum sl_mem_class {
    SL_MEM_DEEP = 0,  /* history older than a source's deep horizon */
    SL_MEM_BACKFILL,  /* other backfill and repairs */
    SL_MEM_LIVE,      /* live tails and every other source */
    SL_MEM_NCLASS,
    SL_MEM_NEVER = SL_MEM_NCLASS, /* never paused */
} sl_mem_class;

/* Headroom H = limit/8, at least 4 MiB, at most limit/2. Class LIVE pauses at limit - H,
 * BACKFILL at limit - 3H/2, DEEP at limit - 2H; each resumes once the resident set is H/2
 * below where it paused. */
uint64_t memlimit_headroom(uint64_t limit);
uint64_t memlimit_pause_at(uint64_t limit, sl_mem_class c);

/* The decision, a pure function: the new mask of paused classes (bit c = class c) given
 * the resident set and the previous mask. `drainable` says memory is held by what sluice
 * can drain (events in memory buffers or requests in flight): pausing when nothing is
 * would wait forever, so then every class resumes. */
unsigned memlimit_decide(uint64_t limit, uint64_t rss, unsigned paused, bool drainable);

/* The effective cgroup v2 limit of this process: the smallest memory.max of its cgroup
 * (from `proc_cgroup`, normally /proc/self/cgroup) and its ancestors below `cgroup_root`
 * (normally /sys/fs/cgroup); 0 when none is set or there is no cgroup v2. */
uint64_t memlimit_cgroup(const char *proc_cgroup, const char *cgroup_root);

/* What the pipeline holds that delivery frees: returns the bytes of events in memory
 * buffers and sets *drainable when that or a request in flight is non-zero. */
typedef uint64_t (*sl_mem_held_fn)(void *arg, bool *drainable);

/* Starts the governor (limit 0: not started). `held` is called from the governor thread
 * at each sample; arg is borrowed until memlimit_stop. `from` names where the limit came
 * from ("config", "cgroup memory.max"). SL_ERR_AGAIN (not an error for the caller) when a
 * governor already runs in this process: the first one stays. */
int memlimit_start(uint64_t limit, const char *from, sl_mem_held_fn held, void *arg, char *err,
                   size_t errlen);
void memlimit_stop(void);

/* One relaxed atomic load: is a limit in force? */
bool memlimit_active(void);
/* One relaxed atomic load: has the governor paused class c at its last sample? */
bool memlimit_paused(int c);
/* Between two samples: would class c pause if the resident set had grown by what memory
 * buffers gained since the last sample (`buffered_now`: what `held` returns now)? A fast
 * source can fill buffers faster than 100 ms of sampling sees. False when they did not
 * grow: then the last sample's decision stands. */
bool memlimit_over(int c, uint64_t buffered_now);
/* A source entered (+1) or left (-1) a pause (for sluice_memory_paused_sources). */
void memlimit_count_paused(int delta);

/* ,"memory":{...} for /api/v1/status (limit, rss, paused classes and sources). */
void memlimit_status_json(sl_buf *out);
/* sluice_memory_limit_bytes, sluice_memory_paused_sources, sluice_memory_paused{class}. */
void memlimit_render_prometheus(sl_buf *out);

#endif
