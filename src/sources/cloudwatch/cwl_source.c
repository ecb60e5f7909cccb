/* cwl_source.c - the `cloudwatch_logs` source: live tail and backfill of CloudWatch Logs
 * groups with FilterLogEvents, priorities, a token bucket, and checkpoints after acks.
 *
 * Notes on the design
 *  1. Work is a set of time windows per log group, read with FilterLogEvents (one page per
 *     step, one batch per page). The live tail of each group is a window
 *     [cursor - overlap, now) read every poll_interval_secs; the trailing overlap re-reads
 *     recent time so late (ingestion delay) and out-of-order events are picked up.
 *  2. Backfill: the first time a group is seen, [now - backfill_days, now) is split into
 *     windows of window_minutes, stored as pending windows. A restart that finds the live
 *     cursor further behind than two windows turns the gap into pending windows too
 *     (repairs), so the live tail stays at "now".
 *  3. Priority: a due live tail always goes first. Pending windows go newest first, so
 *     recent backfill and repairs (last recent_days) come before older backfill and deep
 *     history (older than deep_days) comes last. Pages of live and backfill interleave, so
 *     a long window never delays the live tail by more than one page.
 *  4. Requests: the account's token bucket (cwl_bucket.c: shared by the sources of one
 *     account and region, at the smallest max_requests_per_sec among them) caps calls;
 *     each priority checks and takes its token in one step, and backfill leaves one token
 *     of headroom for a live tail (its own or a sharer's). Throttling (ThrottlingException,
 *     LimitExceededException, 429) and 5xx back off exponentially with jitter; a throttle
 *     pauses backfill first (longer for older classes), the live tail only briefly: a
 *     live retry waits at most 4 x backoff_base_ms, a throttled backfill page at least
 *     that (and twice or four times more for older and deep history); a
 *     refused live request pauses backfill, stream listings and reconciliation until after
 *     the live retry plus a backoff one step longer than the live one, so while the tail
 *     is refused no request of a lower priority is sent. Hence, once a group's live poll is
 *     due (at most poll_interval_secs after an event arrives), no backfill page is served
 *     before the live request that returns the event.
 *  5. Acknowledgements: every page batch carries a token; when a window is read to its last
 *     page, a marker token (no batch) is opened and released at once. The ledger commits in
 *     order, so the marker commits only after every batch of the window is delivered; then
 *     the window's checkpoint entry is removed (backfill) or the live cursor advances.
 *  6. Checkpoint entries: "live\t<group>" -> cursor ms; "win\t<group>\t<start>" -> end ms
 *     for each pending window. A window interrupted by a restart is read again from its
 *     start: the eventId is the event's stable id, so the elasticsearch sink's _id makes
 *     the replay harmless (exactly once in the destination).
 *     The live tail remembers the eventIds it emitted inside the overlap and skips them
 *     when the overlap is read again, so a running source sends each live event once;
 *     after a restart the first overlap is sent again (folded by the sink's _id).
 *  7. What is not guaranteed: events ingested later than overlap_secs after their
 *     timestamp, while the live tail has moved past them, are not re-read (raise
 *     overlap_secs for sources with long ingestion delays) - unless reconciliation (8)
 *     checks that window.
 *  8. Reconciliation (reconcile_interval_secs > 0): every interval a round queues, per
 *     group, the completed windows (window_minutes, aligned) of the last recent_hours and
 *     the next `sample` older windows (back to backfill_days) of a seeded pseudo-random
 *     walk that visits every older window once per ceil(older windows / sample) rounds.
 *     A window is checked only when it is settled: it ends before the committed live
 *     cursor minus the overlap, and no pending or active backfill window overlaps it. A
 *     check counts the window's events in CloudWatch (FilterLogEvents pages, same token
 *     bucket, lowest priority: after the live tail and recent backfill, before older
 *     backfill) and asks the destination for its count (an Elasticsearch _count with a
 *     term on the group and a range on @timestamp; configured on this source, so no
 *     component depends on another). Fewer in the destination: the window is queued as a
 *     persisted repair window and read again like backfill, before any further check
 *     (however old the window); the eventId _id makes the resend harmless.
 *  9. Streams: every stream_discover_interval_secs each group's streams are listed with
 *     DescribeLogStreams (50 a page, nextToken to the end, orderBy LastEventTime descending
 *     so the first page names the active streams; by name when log_stream_prefix is set, as
 *     the API refuses a prefix with that order). A page is one request from the same token
 *     bucket, below the live tail and paused with backfill under throttling. What the
 *     listing earns: per-group stream counts and the newest lastEventTimestamp /
 *     lastIngestionTime in the status API, and a group listed with no (matching) stream at
 *     all is neither polled nor backfilled until a later listing finds one; its live cursor
 *     stays put meanwhile, so the first poll after that reads everything since. The
 *     listing never lets a window be skipped because a stream looks idle:
 *     lastEventTimestamp and lastIngestionTime are updated lazily by the service (typically
 *     within an hour, sometimes later), so a stream whose fields say "idle since
 *     yesterday" may hold events from a minute ago. Only "no stream exists" gates reads.
 *     log_stream_prefix / log_streams narrow FilterLogEvents (logStreamNamePrefix, or
 *     logStreamNames 100 at a time: a window is then read once per chunk of 100 names).
 * 10. Backfill progress: per group, windows queued by this process (new groups, restart
 *     gaps, repairs, and those a restart found in the checkpoint), windows committed, and
 *     backfill events read. Once a second a tick takes rates over its last 30 ticks (a
 *     moving average) and an ETA: the windows still to be committed before the group's
 *     oldest pending window (the queue is read newest first over all groups) divided by
 *     the source's window rate; unknown (null) until a window was committed within the
 *     span, 0 when nothing is left. The snapshot feeds the status API and /metrics (the
 *     total and the CWL_PROGRESS_SERIES groups with most left, the rest as "(other)");
 *     an info line per busy group every progress_log_interval_secs, one when a group's
 *     queue empties. Windows of a group with no stream wait (note 9) and hold its ETA.
 * 11. Seasonal plausibility (reconcile.seasonal, on by default; the model is
 *     cwl_season.c): every whole window whose CloudWatch count is known - a backfill or
 *     repair window read to its end, a reconciliation count - is learned once into its
 *     group's model (hour of the week). A check whose bucket has enough history asks the
 *     destination first: zero there and plausible -> no CloudWatch request (the window is
 *     learned as 0); implausibly low -> the CloudWatch count follows at once, ahead of
 *     backfill (with its headroom), and a shortfall becomes a repair as in note 8;
 *     anything else is counted as in note 8. A bucket without enough history: note 8
 *     unchanged. The model is saved beside the checkpoint (<id>.season) with its durable
 *     writes, at most every CWL_SEASON_SAVE_MS, and at shutdown.
 * 12. Sharding (shard: {index, count}): replicas split the groups with no coordinator. A
 *     group (listed or discovered) is read by the replica whose index has the largest
 *     rendezvous weight for its name (cwl_shard.c), so the N replicas own disjoint sets
 *     that cover every group, and a change of count moves only the groups whose largest
 *     weight changed hands. Groups of other shards are only counted (status, metrics).
 *     Handover: a replica has no checkpoint for a group it just took over, or an old one
 *     (it owned the group before another replica did). With reconcile.elasticsearch set,
 *     every group is "pending" (not read) at start until the destination answered the
 *     newest @timestamp it holds for the group (a max aggregation, the term on
 *     group_field as for _count). Everything this replica delivered of a group has a
 *     timestamp below its committed live cursor, so a newest event at or past the
 *     checkpoint's cursor means another replica read the group since (or this one
 *     crashed with deliveries not yet committed): the group is taken over. Taken over, or
 *     without a checkpoint and found in the destination: the live cursor starts at the
 *     start of the window (window_minutes grid) holding that event (the tail re-reads it
 *     and the overlap before it; a gap longer than two windows becomes repair windows),
 *     and every window from backfill_days back up to there is queued once for a
 *     reconciliation check, held until settled, so what the previous owner left unread
 *     (an unfinished backfill, repairs it had queued, batches lost with it) is found by
 *     count and read again; the eventId _id makes every re-read harmless. Not in the
 *     destination: a new group, or its checkpoint. Otherwise: its checkpoint, as
 *     without sharding. Checkpoint entries of groups another shard owns are kept (read
 *     again should the group come back, harmless). Without a destination a group
 *     without a checkpoint is read as a new one and an old checkpoint is trusted. Two
 *     replicas that briefly own one group (while a count change rolls out) both read it:
 *     duplicates, folded by the _id.
 * 13. Re-reads for a sink's repair (core/reread.h): every group this source reads is
 *     served there (with the cloudwatch.log_group and cloudwatch.log_group_slug its events
 *     carry; the named log_groups from init, so a repair that starts before the source
 *     runs finds them; discovered ones once listed; a group with no stream (note 9) gets
 *     an empty plan); the elasticsearch sink's schema healing posts {group, from, to} once its
 *     repair has swapped the alias to the rebuilt version. The scheduler claims posted requests (a cheap
 *     generation check per loop) and, right after the live tail, asks DescribeLogGroups
 *     (the group's name as prefix, one request from the bucket) for retentionInDays
 *     (absent: never expires). The plan is [max(from, now - retention - 1 h rounded up to
 *     the window grid), to): nothing older is ever requested, as CloudWatch no longer
 *     holds it (the sink's copy keeps it). Its windows are queued as repairs (not
 *     persisted: a restart ends the repair too) and popped before every other window; each
 *     commits with a CWL_KIND_REREAD marker, and the request is done when the last one
 *     has (every event read delivered). A dry request gets the plan only. At shutdown the
 *     source stops serving and its open requests fail (the repair copies only). The
 *     retention is the group's, learned as note 14 says; a request waits for it.
 * 14. Retention: every group's retentionInDays comes from one DescribeLogGroups (its name
 *     as prefix, limit 1; a log_group_prefix listing tells it for the groups it finds),
 *     below the live tail and before stream listings and backfill, refreshed every
 *     CWL_RET_REFRESH_MS (absent: never expires). Until the first answer the group's
 *     backfill and reconciliation wait (after CWL_RET_HOLD_FAILS failed asks they go on as
 *     if it never expired; a group the answer does not list is asked again every
 *     CWL_RET_MISSING_MS). A window that ends at or before now - retention - an hour
 *     (SL_REREAD_MARGIN_MS: CloudWatch deletes lazily, clocks differ) is never requested:
 *     pending backfill and repair windows are dropped (their checkpoint entries too) and
 *     counted as expired in the progress (windows_expired, not remaining; one info line
 *     per group the first time), reconciliation checks of such windows are skipped
 *     (counter reconcile_windows_expired). A window is aligned at its end, so one that
 *     starts before the floor and ends after it is read whole. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "core/checkpoint.h"
#include "core/common.h"
#include "core/component.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "core/memlimit.h"
#include "core/reread.h"
#include "formats/json.h"
#include "net/url.h"
#include "sources/cloudwatch/cwl.h"
#include "sources/cloudwatch/cwl_bucket.h"
#include "sources/cloudwatch/cwl_season.h"
#include "sources/cloudwatch/cwl_shard.h"

typedef struct cwl_config {
    sl_strlist log_groups, log_streams;
    char *log_group_prefix, *log_stream_prefix, *region, *endpoint, *profile, *credentials_file;
    int64_t poll_interval_secs, backfill_days, window_minutes, overlap_secs;
    int64_t recent_days, deep_days, max_requests_per_sec, page_limit, http_timeout_secs;
    int64_t backoff_base_ms, backoff_max_ms, checkpoint_interval_ms, discover_interval_secs;
    int64_t stream_discover_interval_secs, progress_log_interval_secs;
    bool parse_json;
    int64_t reconcile_interval_secs;
    struct cwl_reconcile_config {
        char *elasticsearch, *index, *group_field, *user, *password, *api_key, *ca_file;
        int64_t recent_hours, sample, seed;
        struct cwl_seasonal_config {
            bool enabled;
            char *threshold;
            int64_t min_history, half_life_weeks, change_z, change_runs;
        } seasonal;
    } reconcile;
    struct cwl_shard_config {
        char *index;
        int64_t count; /* 0: not set */
    } shard;
} cwl_config;

#define S(name, type, field, def, min, max, help)                                          \
    {name, type, offsetof(struct cwl_seasonal_config, field), def, 0, NULL, NULL, min, max, help}
static const sl_option cwl_seasonal_options[] = {
    S("enabled", SL_OPT_BOOL, enabled, "true", 0, 0,
      "learn each group's volume by hour of the week and skip or hurry checks by it"),
    S("min_history", SL_OPT_INT, min_history, "3", 1, 64,
      "observations (weeks, for hourly windows) an hour of the week needs before it judges"),
    S("half_life_weeks", SL_OPT_INT, half_life_weeks, "4", 1, 520,
      "an observation's weight halves every this many weeks"),
    S("threshold", SL_OPT_STR, threshold, "0.001", 0, 0,
      "a destination count c is implausible when P(count <= c) is below this"),
    S("change_z", SL_OPT_INT, change_z, "4", 1, 100,
      "a new count this many deviations from the mean is held aside as a possible change"),
    S("change_runs", SL_OPT_INT, change_runs, "2", 1, 64,
      "that many such counts in a row, the same way, restart the hour from them"),
    SL_OPT_END,
};
#undef S

#define R(name, type, field, def, min, max, help)                                          \
    {name, type, offsetof(struct cwl_reconcile_config, field), def, 0, NULL, NULL, min, max, help}
static const sl_option cwl_reconcile_options[] = {
    R("elasticsearch", SL_OPT_STR, elasticsearch, NULL, 0, 0,
      "destination URL whose _count is compared (required when reconciling)"),
    R("index", SL_OPT_STR, index, "*", 0, 0,
      "index pattern to count in; {{ cloudwatch.log_group_slug }} and "
      "{{ cloudwatch.log_group }} are replaced per group (use '*' for date patterns)"),
    R("group_field", SL_OPT_STR, group_field, "cloudwatch.log_group", 0, 0,
      "keyword field holding the group name (e.g. cloudwatch.log_group.keyword)"),
    R("user", SL_OPT_STR, user, NULL, 0, 0, "basic auth user"),
    R("password", SL_OPT_STR, password, NULL, 0, 0, "basic auth password"),
    R("api_key", SL_OPT_STR, api_key, NULL, 0, 0,
      "API key: id:key, or its base64 (Authorization: ApiKey ...)"),
    R("ca_file", SL_OPT_STR, ca_file, NULL, 0, 0, "CA bundle for an https:// destination"),
    R("recent_hours", SL_OPT_INT, recent_hours, "24", 0, 87600,
      "every settled window of this many last hours is checked each round"),
    R("sample", SL_OPT_INT, sample, "4", 0, 100000,
      "older windows per group drawn at random each round"),
    R("seed", SL_OPT_INT, seed, "1", 0, INT64_MAX, "seed of the random sample"),
    {"seasonal", SL_OPT_OBJECT, offsetof(struct cwl_reconcile_config, seasonal), NULL, 0, NULL,
     cwl_seasonal_options, 0, 0, "the seasonal plausibility model of zero counts"},
    SL_OPT_END,
};
#undef R

#define S(name, type, field, min, max, help)                                                 \
    {name, type, offsetof(struct cwl_shard_config, field), NULL, 0, NULL, NULL, min, max, help}
static const sl_option cwl_shard_options[] = {
    S("index", SL_OPT_STR, index, 0, 0,
      "this replica's shard, 0..count-1: a number, or a StatefulSet pod name whose trailing "
      "ordinal is taken (\"${HOSTNAME}\" in pod sluice-puller-2 gives 2)"),
    S("count", SL_OPT_INT, count, 1, 100000, "how many replicas share the log groups"),
    SL_OPT_END,
};
#undef S

#define O(name, type, field, def, flags, min, max, help) \
    {name, type, offsetof(cwl_config, field), def, flags, NULL, NULL, min, max, help}
static const sl_option cwl_options[] = {
    O("log_groups", SL_OPT_STRLIST, log_groups, NULL, 0, 0, 0, "log group names to read"),
    O("log_group_prefix", SL_OPT_STR, log_group_prefix, NULL, 0, 0, 0,
      "also read every group whose name starts with this (DescribeLogGroups)"),
    O("log_stream_prefix", SL_OPT_STR, log_stream_prefix, NULL, 0, 0, 0,
      "read only streams whose name starts with this (FilterLogEvents logStreamNamePrefix)"),
    O("log_streams", SL_OPT_STRLIST, log_streams, NULL, 0, 0, 0,
      "read only these streams (FilterLogEvents logStreamNames, 100 per request)"),
    O("region", SL_OPT_STR, region, NULL, 0, 0, 0,
      "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)"),
    O("endpoint", SL_OPT_STR, endpoint, NULL, 0, 0, 0,
      "API URL for compatible servers and tests (default https://logs.<region>.amazonaws.com)"),
    O("profile", SL_OPT_STR, profile, NULL, 0, 0, 0,
      "shared credentials file profile (default: AWS_PROFILE, default)"),
    O("credentials_file", SL_OPT_STR, credentials_file, NULL, 0, 0, 0,
      "shared credentials file (default: AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials)"),
    O("poll_interval_secs", SL_OPT_INT, poll_interval_secs, "10", 0, 1, 86400,
      "how often each group's live tail is read"),
    O("backfill_days", SL_OPT_INT, backfill_days, "0", 0, 0, 3650,
      "history read the first time a group is seen"),
    O("window_minutes", SL_OPT_INT, window_minutes, "60", 0, 1, 1440,
      "backfill window size (the unit of checkpointing and of re-reading after a restart)"),
    O("overlap_secs", SL_OPT_INT, overlap_secs, "120", 0, 0, 86400,
      "the live tail re-reads this much time before its cursor (late events)"),
    O("recent_days", SL_OPT_INT, recent_days, "7", 0, 0, 3650,
      "backfill newer than this is 'recent' (slowed last under throttling)"),
    O("deep_days", SL_OPT_INT, deep_days, "30", 0, 0, 3650,
      "backfill older than this is deep history (slowed first under throttling, held first "
      "under limits.memory)"),
    O("max_requests_per_sec", SL_OPT_INT, max_requests_per_sec, "5", 0, 1, 10000,
      "token bucket over every API call; sources of one account and region (same region, "
      "endpoint and access key id) share one bucket at the smallest of their limits"),
    O("page_limit", SL_OPT_INT, page_limit, "1000", 0, 1, 10000,
      "events per FilterLogEvents page (one batch per page)"),
    O("http_timeout_secs", SL_OPT_INT, http_timeout_secs, "30", 0, 1, 3600, "per request"),
    O("backoff_base_ms", SL_OPT_INT, backoff_base_ms, "200", 0, 1, 3600000,
      "first delay after throttling or a 5xx"),
    O("backoff_max_ms", SL_OPT_INT, backoff_max_ms, "30000", 0, 1, 3600000,
      "longest delay between retries"),
    O("checkpoint_interval_ms", SL_OPT_DURATION, checkpoint_interval_ms, "1000", 0, 10,
      3600000, "how often committed positions are made durable (fsync); they are also "
      "written, without fsync, as acknowledgements move them"),
    O("discover_interval_secs", SL_OPT_INT, discover_interval_secs, "300", 0, 1, 86400,
      "how often log_group_prefix is listed again"),
    O("stream_discover_interval_secs", SL_OPT_INT, stream_discover_interval_secs, "60", 0, 0,
      86400, "how often each group's streams are listed (DescribeLogStreams; 0 = never)"),
    O("progress_log_interval_secs", SL_OPT_INT, progress_log_interval_secs, "60", 0, 0, 86400,
      "how often backfill progress is logged while windows are left (0 = never)"),
    O("parse_json", SL_OPT_BOOL, parse_json, "true", 0, 0, 0,
      "JSON object messages become fields"),
    O("reconcile_interval_secs", SL_OPT_INT, reconcile_interval_secs, "0", 0, 0, 604800,
      "how often event counts are compared with the destination (0 = off)"),
    {"reconcile", SL_OPT_OBJECT, offsetof(cwl_config, reconcile), NULL, 0, NULL,
     cwl_reconcile_options, 0, 0, "the destination reconciliation counts in (and where a "
     "sharded replica learns where a group it takes over stands)"},
    {"shard", SL_OPT_OBJECT, offsetof(cwl_config, shard), NULL, 0, NULL, cwl_shard_options, 0, 0,
     "read only this replica's share of the groups (rendezvous hashing over count replicas)"},
    SL_OPT_END,
};
#undef O

enum { CWL_KIND_DATA = 0, CWL_KIND_LIVE = 1, CWL_KIND_WIN = 2, CWL_KIND_REREAD = 3 };

/* An eventId (hashed) emitted by the live tail, with its timestamp. */
typedef struct cwl_seen {
    uint64_t h;
    int64_t ts;
} cwl_seen;

/* Backfill progress (note 10): rates are moving averages over the last CWL_RING ticks. */
#define CWL_RING 30
#define CWL_TICK_MS 1000
#define CWL_PROGRESS_SERIES 16 /* groups with their own /metrics series; the rest "(other)" */

typedef struct cwl_progress {
    uint64_t total, done, expired, events; /* windows queued, committed, dropped (note 14) */
    double events_per_sec, windows_per_sec;
    double eta_secs; /* < 0: not known yet (nothing done in the averaging span) */
} cwl_progress;

typedef struct cwl_group {
    char *name;
    /* ids the live tail emitted within the overlap: re-reads skip them (note 1) */
    cwl_seen *seen;
    size_t nseen, capseen;
    uint64_t *tab; /* open addressing over seen[].h of earlier polls; 0 = empty */
    size_t tabcap;
    char slug[256];
    int64_t cursor;       /* live: read up to here (wall ms) */
    int64_t next_poll;    /* mono ms */
    bool missing_logged;
    /* note 9: -1 = not listed yet (polled); 0 = no stream (not polled) */
    int64_t nstreams, newest_event, newest_ingest;
    int64_t next_streams; /* mono ms */
    /* note 10, the source thread's: windows queued / committed, backfill events read */
    uint64_t bf_total, bf_done, bf_events;
    uint64_t ring_ev[CWL_RING]; /* bf_events at the last CWL_RING progress ticks */
    bool bf_complete_logged;
    cwl_progress snap; /* what the status shows, under mu */
    cwl_season *season; /* note 11: owned, NULL when off; changed and shown under mu */
    /* note 12: where the live cursor came from ("checkpoint", "new", "destination"), or
     * "pending" while the destination is asked (the group is not read meanwhile) */
    const char *started_from;
    bool pending;
    int64_t ck_cursor; /* while pending: the checkpoint's live cursor, -1 none */
    uint32_t ho_fails;
    int64_t ho_at; /* mono ms: the next question to the destination */
    int64_t retention_days; /* note 14: -1 not known yet, 0 never expires */
    int64_t ret_at;         /* mono ms: the next DescribeLogGroups for it */
    uint32_t ret_fails;     /* asks failed in a row */
    bool ret_missing;       /* the last answer did not list the group */
    bool ret_logged;        /* its first expired windows were logged */
    uint64_t bf_expired;    /* windows dropped as older than the retention */
} cwl_group;

/* note 14 */
#define CWL_RET_REFRESH_MS 3600000
#define CWL_RET_MISSING_MS 60000
#define CWL_RET_HOLD_FAILS 3

/* At most this many names go into one FilterLogEvents logStreamNames (an API limit). */
#define CWL_MAX_NAMES 100

/* One window being read, page by page. */
typedef struct cwl_job {
    bool active;
    uint32_t gi;
    int64_t start, end; /* [start, end) wall ms */
    uint32_t chunk;     /* which CWL_MAX_NAMES of log_streams (note 9) */
    bool repair;        /* a reconciliation repair (note 8) */
    uint64_t rr;        /* the re-read request it serves (note 13), 0 none */
    uint64_t nread;     /* events read in the window so far (note 11) */
    char *token;        /* nextToken for the next page, owned */
    uint32_t fails;
    int64_t retry_at;   /* mono ms */
} cwl_job;

typedef struct cwl_window {
    uint32_t gi;
    int64_t start, end;
    bool repair; /* queued by reconciliation (note 8); in the reconciliation queue: a
                    handover's check, held until its window settles (note 12) */
    uint64_t rr; /* a re-read request's window (note 13), 0 none */
} cwl_window;

/* A re-read request this source claimed (note 13). */
typedef struct cwl_rr {
    uint64_t id;
    uint32_t gi;
    int64_t from, to;
    bool dry, planned;
    int64_t plan_from;
    uint64_t left; /* windows queued and not yet committed */
    uint32_t fails;
    int64_t retry_at; /* mono ms */
} cwl_rr;

/* One reconciliation check: CloudWatch pages counted, then the destination asked. */
typedef struct cwl_rec {
    bool active;
    uint32_t gi;
    int64_t start, end;
    uint32_t chunk;
    char *token; /* owned */
    uint64_t count;
    uint32_t fails;
    int64_t retry_at; /* mono ms */
    bool season;      /* note 11: the destination is asked first */
    bool have_dst, urgent; /* its count is in dst; implausibly low: re-checked first */
    uint64_t dst;
} cwl_rec;

/* One DescribeLogStreams pass over a group (note 9). */
typedef struct cwl_sjob {
    bool active;
    uint32_t gi;
    char *token; /* owned */
    uint32_t fails;
    int64_t retry_at; /* mono ms */
    int64_t n, newest_event, newest_ingest;
} cwl_sjob;

typedef struct cwl_source {
    const cwl_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    sl_ckpt_store *ck;
    http_client *hc;
    cwl_client api;
    char region[64];
    cwl_group *groups;
    uint32_t ngroups, capgroups;
    cwl_window *wins; /* pending windows, sorted by end, oldest first (pop from the back) */
    size_t nwins, capwins;
    size_t nrepairs; /* pending windows that are repairs */
    cwl_job live, bf;
    cwl_rec rec;
    cwl_sjob disc;
    /* groups[] (its address and the fields shown in the status) is read by the API thread */
    pthread_mutex_t mu;
    int64_t live_delay_max; /* ms from ingestion to a live read, the largest seen */
    cwl_window *rq; /* windows this reconciliation round still has to check (pop back) */
    size_t nrq, caprq;
    int64_t next_reconcile; /* mono ms */
    uint64_t rec_pos; /* how far the walk over older windows has come (note 8) */
    url_endpoint rec_ep; /* reconcile.elasticsearch: its prefix and query are kept */
    sl_buf rec_url;
    /* the account's token bucket (cwl_bucket.c), shared with other sources of the same
     * account and region; set and cleared under mu (the status reads it) */
    cwl_bucket *bucket;
    int64_t bf_pause_until;
    uint32_t bf_throttles;
    int64_t next_discover;
    bool dirty;    /* the store changed since it was last written */
    bool unsynced; /* the live copy is newer than the durable one */
    sl_arena tmp;
    sl_buf req;
    /* note 10: progress ticks; ring_* hold the values of the last CWL_RING ticks */
    int64_t next_tick, next_progress_log;
    int64_t ring_t[CWL_RING];
    uint64_t ring_done[CWL_RING], ring_ev[CWL_RING];
    uint32_t ring_n, ring_pos; /* ticks recorded (at most CWL_RING); the next slot */
    cwl_progress snap; /* the source's total, under mu */
    int64_t log_at; /* rate limit of repeated warnings */
    uint64_t log_suppressed;
    uint64_t rng;
    /* note 11: the model's settings, what the file held for groups not added yet */
    cwl_season_cfg scfg;
    bool season_on, season_dirty;
    cwl_season_file sfile;
    char season_path[4200];
    int64_t season_saved; /* mono ms */
    /* note 12: this replica's shard (0/1 when not sharded); handover: ask the destination
     * where a group without a checkpoint stands */
    bool sharded, handover;
    uint32_t shard_index, shard_count;
    uint64_t *others; /* FNV hashes of the groups other shards own, sorted; under mu */
    size_t nothers, capothers;
    bool listed; /* every group source named is known (the first listing is done) */
    uint32_t logged_owned, logged_seen;
    /* note 13: this instance's name in core/reread.h, the generation last looked at, and
     * the requests claimed */
    char rr_reader[200];
    uint64_t rr_gen;
    cwl_rr *rrs;
    size_t nrrs, caprrs;
} cwl_source;

#define CWL_SEASON_SAVE_MS 10000

/* ---- Small helpers ------------------------------------------------------------------ */

static uint64_t cwl_rand(cwl_source *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

/* Exponential backoff with full jitter in [d/2, d]. */
static int64_t cwl_backoff(cwl_source *s, uint32_t fails)
{
    int64_t d = s->cfg->backoff_base_ms << SL_MIN(fails, 20u);
    d = SL_MIN(d, s->cfg->backoff_max_ms);
    return d / 2 + (int64_t)(cwl_rand(s) % (uint64_t)(d / 2 + 1));
}

/* One warning line per 5 s at most; the others are counted and summarised. */
#define cwl_warn(s, ...)                                                                   \
    do {                                                                                   \
        int64_t now_ = sl_mono_ms();                                                       \
        if (now_ >= (s)->log_at) {                                                         \
            if ((s)->log_suppressed)                                                       \
                log_warn((s)->cc->id, "(%" PRIu64 " similar warnings suppressed)",       \
                         (s)->log_suppressed);                                             \
            log_warn((s)->cc->id, __VA_ARGS__);                                            \
            (s)->log_at = now_ + 5000;                                                     \
            (s)->log_suppressed = 0;                                                       \
        } else {                                                                           \
            (s)->log_suppressed++;                                                         \
        }                                                                                  \
    } while (0)

static int64_t cwl_wall_ms(void) { return sl_now_ns() / 1000000; }

static void cwl_win_key(char *out, size_t n, const char *group, int64_t start)
{
    snprintf(out, n, "win\t%s\t%" PRId64, group, start);
}

static void cwl_add_window(cwl_source *s, uint32_t gi, int64_t start, int64_t end, bool persist)
{
    if (s->nwins == s->capwins) {
        s->capwins = s->capwins ? s->capwins * 2 : 64;
        s->wins = sl_xrealloc(s->wins, s->capwins * sizeof *s->wins);
    }
    s->wins[s->nwins++] = (cwl_window){gi, start, end, false, 0};
    s->groups[gi].bf_total++;
    metrics_count(s->cc->metrics, "backfill_windows_queued", 1);
    if (persist) {
        char key[700];
        cwl_win_key(key, sizeof key, s->groups[gi].name, start);
        ckpt_set(s->ck, key, (uint64_t)end, NULL);
        s->dirty = true;
    }
}

static int cwl_win_cmp(const void *a, const void *b)
{
    const cwl_window *x = a, *y = b;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->gi < y->gi ? -1 : x->gi > y->gi;
}

/* Splits [from, to) into aligned windows and queues them as pending. */
static void cwl_add_range(cwl_source *s, uint32_t gi, int64_t from, int64_t to)
{
    int64_t w = s->cfg->window_minutes * 60000;
    for (int64_t a = from; a < to;) {
        int64_t b = (a / w + 1) * w;
        if (b > to)
            b = to;
        cwl_add_window(s, gi, a, b, true);
        a = b;
    }
}

/* note 14: whether the group's backfill and checks may go on (its retention was told, or
 * asking failed CWL_RET_HOLD_FAILS times, or it is not listed), and the time a window must
 * end after to be requested (INT64_MIN: nothing expires). */
static bool cwl_ret_settled(const cwl_group *g)
{
    return g->retention_days >= 0 || g->ret_missing || g->ret_fails >= CWL_RET_HOLD_FAILS;
}

static int64_t cwl_ret_floor(const cwl_group *g, int64_t wall)
{
    return g->retention_days > 0 ? wall - g->retention_days * 86400000 - SL_REREAD_MARGIN_MS
                                 : INT64_MIN;
}

/* Drops pending window i (wholly older than its group's retention): its checkpoint entry
 * too, counted as expired. */
static void cwl_drop_expired(cwl_source *s, size_t i)
{
    cwl_window *w = &s->wins[i];
    cwl_group *g = &s->groups[w->gi];
    char key[700];
    cwl_win_key(key, sizeof key, g->name, w->start);
    if (ckpt_get(s->ck, key)) {
        ckpt_remove(s->ck, key);
        s->dirty = true;
    }
    s->nrepairs -= w->repair;
    g->bf_expired++;
    metrics_count(s->cc->metrics, "backfill_windows_expired", 1);
    memmove(&s->wins[i], &s->wins[i + 1], (s->nwins - i - 1) * sizeof *s->wins);
    s->nwins--;
}

/* After the group's retention was told: drops its pending windows that expired, with one
 * info line the first time. Re-read windows (note 13) are clipped by their own plan. */
static void cwl_expire(cwl_source *s, uint32_t gi)
{
    cwl_group *g = &s->groups[gi];
    int64_t floor = cwl_ret_floor(g, cwl_wall_ms());
    if (floor == INT64_MIN)
        return;
    uint64_t n = 0;
    for (size_t i = s->nwins; i-- > 0;)
        if (s->wins[i].gi == gi && !s->wins[i].rr && s->wins[i].end <= floor) {
            cwl_drop_expired(s, i);
            n++;
        }
    if (n && !g->ret_logged) {
        char when[32];
        time_t t = (time_t)(floor / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%MZ", &tm);
        log_info(s->cc->id, "log group %s: retention %" PRId64 " days; %" PRIu64 " backfill "
                 "windows before %s skipped as expired (CloudWatch no longer holds them)",
                 g->name, g->retention_days, n, when);
        g->ret_logged = true;
    }
}

static uint32_t cwl_group_find(cwl_source *s, const char *name)
{
    for (uint32_t i = 0; i < s->ngroups; i++)
        if (strcmp(s->groups[i].name, name) == 0)
            return i;
    return UINT32_MAX;
}

static uint64_t cwl_hash(sl_str id);

static bool cwl_owns(const cwl_source *s, const char *name)
{
    return !s->sharded || cwl_shard_owner(name, s->shard_count) == s->shard_index;
}

/* Counts a group another shard owns (once). */
static void cwl_other_add(cwl_source *s, const char *name)
{
    uint64_t h = cwl_hash((sl_str){name, (uint32_t)strlen(name)});
    size_t lo = 0, hi = s->nothers;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->others[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->nothers && s->others[lo] == h)
        return;
    pthread_mutex_lock(&s->mu);
    if (s->nothers == s->capothers) {
        s->capothers = s->capothers ? s->capothers * 2 : 64;
        s->others = sl_xrealloc(s->others, s->capothers * sizeof *s->others);
    }
    memmove(&s->others[lo + 1], &s->others[lo], (s->nothers - lo) * sizeof *s->others);
    s->others[lo] = h;
    s->nothers++;
    pthread_mutex_unlock(&s->mu);
}

/* One info line when what this shard owns changed (note 12). */
static void cwl_shard_log(cwl_source *s)
{
    uint32_t seen = s->ngroups + (uint32_t)s->nothers;
    if (!s->sharded || !s->listed || (s->logged_owned == s->ngroups && s->logged_seen == seen))
        return;
    log_info(s->cc->id, "shard %" PRIu32 "/%" PRIu32 " owns %" PRIu32 " of %" PRIu32 " groups",
             s->shard_index, s->shard_count, s->ngroups, seen);
    s->logged_owned = s->ngroups;
    s->logged_seen = seen;
}

/* Queues the backfill of a group seen for the first time anywhere. Under mu. */
static void cwl_group_new(cwl_source *s, uint32_t gi, int64_t now)
{
    cwl_group *g = &s->groups[gi];
    g->cursor = now;
    g->started_from = "new";
    if (s->cfg->backfill_days > 0)
        cwl_add_range(s, gi, now - s->cfg->backfill_days * 86400000, now);
    log_info(s->cc->id, "log group %s: new; backfilling %" PRId64 " days", g->name,
             s->cfg->backfill_days);
}

/* Goes on from the group's checkpoint cursor. Under mu. */
static void cwl_group_resume(cwl_source *s, uint32_t gi, int64_t cursor, int64_t now)
{
    cwl_group *g = &s->groups[gi];
    g->started_from = "checkpoint";
    g->cursor = cursor;
    /* A long stop: the gap becomes repair windows, the live tail starts at now. */
    if (now - (cursor - s->cfg->overlap_secs * 1000) > 2 * s->cfg->window_minutes * 60000) {
        cwl_add_range(s, gi, cursor - s->cfg->overlap_secs * 1000, now);
        g->cursor = now;
        char key[600];
        snprintf(key, sizeof key, "live\t%s", g->name);
        ckpt_set(s->ck, key, (uint64_t)now, NULL);
        s->dirty = true;
    }
}

/* Adds a group this shard owns: from its checkpoint, or new (its backfill queued); when
 * handing over (note 12), it waits for the destination's answer first. */
static void cwl_group_add(cwl_source *s, const char *name)
{
    if (cwl_group_find(s, name) != UINT32_MAX)
        return;
    if (!cwl_owns(s, name)) {
        cwl_other_add(s, name);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (s->ngroups == s->capgroups) {
        s->capgroups = s->capgroups ? s->capgroups * 2 : 8;
        s->groups = sl_xrealloc(s->groups, s->capgroups * sizeof *s->groups);
    }
    uint32_t gi = s->ngroups++;
    cwl_group *g = &s->groups[gi];
    memset(g, 0, sizeof *g);
    g->nstreams = -1;
    g->retention_days = -1;
    g->name = sl_xstrdup(name);
    if (s->season_on) { /* note 11: what the file held for it, else a new model */
        g->season = cwl_season_file_take(&s->sfile, name);
        if (!g->season)
            g->season = sl_xcalloc(1, sizeof *g->season);
    }
    cwl_slug(name, g->slug, sizeof g->slug);
    char key[600];
    snprintf(key, sizeof key, "live\t%s", name);
    const sl_ckpt_entry *e = ckpt_get(s->ck, key);
    int64_t now = cwl_wall_ms();
    if (s->handover) {
        /* cwl_handover decides from the destination's newest event whether the checkpoint
         * (if any) is still this group's truth; nothing is read until then */
        g->started_from = "pending";
        g->pending = true;
        g->ck_cursor = e ? (int64_t)e->pos : -1;
        g->cursor = e ? (int64_t)e->pos : now;
    } else if (!e) {
        cwl_group_new(s, gi, now);
        ckpt_set(s->ck, key, (uint64_t)now, NULL);
        s->dirty = true;
    } else {
        cwl_group_resume(s, gi, (int64_t)e->pos, now);
    }
    /* windows persisted for this group by an earlier run */
    char pfx[600];
    int pl = snprintf(pfx, sizeof pfx, "win\t%s\t", name);
    for (size_t i = 0; i < ckpt_count(s->ck); i++) {
        const sl_ckpt_entry *w = ckpt_at(s->ck, i);
        if (strncmp(w->key, pfx, (size_t)pl) != 0)
            continue;
        char *endp;
        long long st = strtoll(w->key + pl, &endp, 10);
        if (*endp || (int64_t)w->pos <= st) {
            log_warn(s->cc->id, "checkpoint entry '%s' not understood; ignored", w->key);
            metrics_error(s->cc->metrics, "corrupt_checkpoint");
            continue;
        }
        bool queued = false; /* just added by cwl_add_range above */
        for (size_t j = 0; j < s->nwins && !queued; j++)
            queued = s->wins[j].gi == gi && s->wins[j].start == st;
        if (!queued)
            cwl_add_window(s, gi, st, (int64_t)w->pos, false);
    }
    if (s->nwins > 1)
        qsort(s->wins, s->nwins, sizeof *s->wins, cwl_win_cmp);
    g->next_poll = 0;
    pthread_mutex_unlock(&s->mu); /* the status reads the group from here on */
    /* note 13: a sink repairing what this group's events became may ask for a re-read */
    sl_reread_field rf[2] = {{"cloudwatch.log_group", g->name},
                             {"cloudwatch.log_group_slug", g->slug}};
    reread_serve(s->rr_reader, g->name, rf, 2);
}

/* ---- Overlap de-duplication of the live tail ---------------------------------------- */

static uint64_t cwl_hash(sl_str id)
{
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < id.len; i++)
        h = (h ^ (unsigned char)id.ptr[i]) * 1099511628211ULL;
    return h | 1; /* never 0, the empty slot */
}

static bool cwl_seen_has(const cwl_group *g, uint64_t h)
{
    if (!g->tabcap)
        return false;
    for (size_t i = h & (g->tabcap - 1);; i = (i + 1) & (g->tabcap - 1)) {
        if (g->tab[i] == h)
            return true;
        if (g->tab[i] == 0)
            return false;
    }
}

/* Drops the events of a live page that an earlier poll already emitted; remembers the rest. */
static void cwl_dedupe(cwl_group *g, sl_batch *b)
{
    bool *keep = sl_xmalloc(b->n * sizeof *keep);
    uint32_t dropped = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        uint64_t h = cwl_hash(b->events[i].id_str);
        keep[i] = !cwl_seen_has(g, h);
        if (!keep[i]) {
            dropped++;
            continue;
        }
        if (g->nseen == g->capseen) {
            g->capseen = g->capseen ? g->capseen * 2 : 256;
            g->seen = sl_xrealloc(g->seen, g->capseen * sizeof *g->seen);
        }
        g->seen[g->nseen++] = (cwl_seen){h, b->events[i].ts_ns / 1000000};
    }
    if (dropped)
        batch_compact(b, keep);
    free(keep);
}

/* After a live poll: forget ids older than the next poll's start and rebuild the table. */
static void cwl_seen_trim(cwl_group *g, int64_t cutoff_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < g->nseen; i++)
        if (g->seen[i].ts >= cutoff_ms)
            g->seen[n++] = g->seen[i];
    g->nseen = n;
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap *= 2;
    if (cap != g->tabcap) {
        free(g->tab);
        g->tab = sl_xmalloc(cap * sizeof *g->tab);
        g->tabcap = cap;
    }
    memset(g->tab, 0, cap * sizeof *g->tab);
    for (size_t i = 0; i < n; i++) {
        size_t j = g->seen[i].h & (cap - 1);
        while (g->tab[j] && g->tab[j] != g->seen[i].h)
            j = (j + 1) & (cap - 1);
        g->tab[j] = g->seen[i].h;
    }
}

/* ---- Seasonal model (note 11) ----------------------------------------------------------- */

/* A whole window's CloudWatch count (or a skipped window's destination count). */
static void cwl_season_observe(cwl_source *s, uint32_t gi, int64_t start, int64_t end,
                               uint64_t n)
{
    cwl_group *g = &s->groups[gi];
    if (!g->season)
        return;
    pthread_mutex_lock(&s->mu);
    uint64_t resets = g->season->resets;
    bool took = cwl_season_learn(g->season, &s->scfg, start, end, n);
    bool reset = g->season->resets != resets;
    pthread_mutex_unlock(&s->mu);
    if (!took)
        return;
    s->season_dirty = true;
    metrics_count(s->cc->metrics, "season_learned", 1);
    if (reset) {
        metrics_count(s->cc->metrics, "season_resets", 1);
        log_info(s->cc->id, "season: %s hour %u of the week changed its level; learning it anew",
                 g->name, cwl_season_bucket_of(start));
    }
}

/* Writes the models when they changed (with the durable checkpoint, at most every
 * CWL_SEASON_SAVE_MS) or at shutdown (force). Groups the file held that were not added
 * (yet: a prefix lists them later) are kept. */
static void cwl_season_persist(cwl_source *s, bool force)
{
    int64_t now = sl_mono_ms();
    if (!s->season_on || !s->season_dirty || (!force && now - s->season_saved < CWL_SEASON_SAVE_MS))
        return;
    size_t n = s->ngroups + s->sfile.n;
    const char **names = sl_xmalloc((n + 1) * sizeof *names);
    const cwl_season **models = sl_xmalloc((n + 1) * sizeof *models);
    for (uint32_t i = 0; i < s->ngroups; i++) {
        names[i] = s->groups[i].name;
        models[i] = s->groups[i].season;
    }
    for (size_t i = 0; i < s->sfile.n; i++) {
        names[s->ngroups + i] = s->sfile.names[i];
        models[s->ngroups + i] = s->sfile.models[i];
    }
    char err[512]; /* no lock: only this thread changes the models, the API only reads them */
    int rc = cwl_season_save(s->season_path, s->scfg.window_ms, n, names, models, err, sizeof err);
    free(names);
    free(models);
    s->season_saved = now;
    if (rc != SL_OK) {
        cwl_warn(s, "saving the seasonal model: %s", err);
        metrics_error(s->cc->metrics, "season_model_write");
        return;
    }
    s->season_dirty = false;
}

/* ---- Acks and checkpoints ----------------------------------------------------------- */

static void cwl_rr_committed(cwl_source *s, uint32_t gi, uint64_t id);

static void cwl_on_commit(void *arg, uint64_t key, uint64_t value)
{
    cwl_source *s = arg;
    uint32_t kind = (uint32_t)(key >> 32), gi = (uint32_t)key;
    if (kind == CWL_KIND_DATA || gi >= s->ngroups)
        return;
    if (kind == CWL_KIND_REREAD) { /* not in the checkpoint: nothing to remove */
        s->groups[gi].bf_done++;
        metrics_count(s->cc->metrics, "backfill_windows_done", 1);
        cwl_rr_committed(s, gi, value);
        return;
    }
    char k[700];
    if (kind == CWL_KIND_LIVE) {
        snprintf(k, sizeof k, "live\t%s", s->groups[gi].name);
        const sl_ckpt_entry *e = ckpt_get(s->ck, k);
        if (!e || e->pos < value)
            ckpt_set(s->ck, k, value, NULL);
    } else {
        cwl_win_key(k, sizeof k, s->groups[gi].name, (int64_t)value);
        ckpt_remove(s->ck, k);
        s->groups[gi].bf_done++;
        metrics_count(s->cc->metrics, "backfill_windows_done", 1);
    }
    s->dirty = true;
}

/* Writes the store if it changed: the live copy, or durably (then also when only the live
 * copy holds the last change). */
static void cwl_persist(cwl_source *s, bool durable)
{
    if (!s->dirty && !(durable && s->unsynced))
        return;
    if (ckpt_write_logged(s->ck, durable, s->cc->id, s->cc->metrics) == SL_OK) {
        s->dirty = false;
        s->unsynced = !durable;
    }
}

/* A token without a batch: commits once everything emitted before it has. */
static void cwl_marker(cwl_source *s, uint32_t kind, uint32_t gi, uint64_t value)
{
    sl_ack_token *t =
        ack_token_open(source_ledger(s->ctx), ((uint64_t)kind << 32) | gi, value);
    ack_token_release(t);
}

/* ---- Requests ----------------------------------------------------------------------- */

/* Appends the configured stream filter to the request body (note 9). */
static void cwl_put_streams(cwl_source *s, uint32_t chunk)
{
    const cwl_config *c = s->cfg;
    if (c->log_stream_prefix && *c->log_stream_prefix) {
        buf_puts(&s->req, ",\"logStreamNamePrefix\":\"");
        json_escape(&s->req, c->log_stream_prefix, strlen(c->log_stream_prefix));
        buf_putc(&s->req, '"');
    } else if (c->log_streams.n) {
        size_t a = (size_t)chunk * CWL_MAX_NAMES, b = SL_MIN(a + CWL_MAX_NAMES, c->log_streams.n);
        buf_puts(&s->req, ",\"logStreamNames\":[");
        for (size_t i = a; i < b; i++) {
            buf_puts(&s->req, i > a ? ",\"" : "\"");
            json_escape(&s->req, c->log_streams.v[i], strlen(c->log_streams.v[i]));
            buf_putc(&s->req, '"');
        }
        buf_putc(&s->req, ']');
    }
}

/* How many FilterLogEvents passes one window takes: one per CWL_MAX_NAMES names. */
static uint32_t cwl_nchunks(const cwl_source *s)
{
    const cwl_config *c = s->cfg;
    if ((c->log_stream_prefix && *c->log_stream_prefix) || !c->log_streams.n)
        return 1;
    return (uint32_t)((c->log_streams.n + CWL_MAX_NAMES - 1) / CWL_MAX_NAMES);
}

/* Live events: how long after ingestion they were read (the live tail's own lag). */
static void cwl_live_delay(cwl_source *s, const sl_batch *b)
{
    int64_t now = cwl_wall_ms(), sum = 0, mx = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        const sl_field *f = event_get(&b->events[i], "cloudwatch.ingestion_time", 25);
        if (!f || f->type != SL_VAL_INT)
            continue;
        int64_t d = SL_MAX(0, now - f->v.i);
        sum += d;
        mx = SL_MAX(mx, d);
    }
    metrics_count(s->cc->metrics, "live_events", b->n);
    metrics_count(s->cc->metrics, "live_delay_ms", (uint64_t)sum);
    if (mx > s->live_delay_max) {
        pthread_mutex_lock(&s->mu);
        s->live_delay_max = mx;
        pthread_mutex_unlock(&s->mu);
    }
}

static void cwl_reload_creds(cwl_source *s)
{
    char err[512];
    cwl_creds c;
    if (cwl_creds_load(&c, s->hc, s->region, s->cfg->profile, s->cfg->credentials_file, err,
                       sizeof err) == SL_OK) {
        s->api.creds = c;
    } else {
        cwl_warn(s, "%s", err);
        metrics_error(s->cc->metrics, "credentials");
    }
}

/* Reads one page of `j`. Returns the classification; on CWL_OK the job advanced (and
 * may have finished: j->active false). */
static cwl_status cwl_step(cwl_source *s, cwl_job *j, bool live)
{
    cwl_group *g = &s->groups[j->gi];
    if (cwl_creds_stale(&s->api.creds, cwl_wall_ms()))
        cwl_reload_creds(s);
    buf_reset(&s->req);
    buf_puts(&s->req, "{\"logGroupName\":\"");
    json_escape(&s->req, g->name, strlen(g->name));
    buf_printf(&s->req, "\",\"startTime\":%" PRId64 ",\"endTime\":%" PRId64 ",\"limit\":%" PRId64,
               j->start, j->end - 1, s->cfg->page_limit);
    cwl_put_streams(s, j->chunk);
    if (j->token) {
        buf_puts(&s->req, ",\"nextToken\":\"");
        json_escape(&s->req, j->token, strlen(j->token));
        buf_putc(&s->req, '"');
    }
    buf_putc(&s->req, '}');
    http_response r = {0};
    char etype[96], err[512]; /* the token was taken by the scheduler (cwl_bucket_try) */
    cwl_status st = cwl_call(&s->api, "FilterLogEvents", s->req.p, s->req.len, &r, etype,
                             sizeof etype, err, sizeof err);
    if (st == CWL_OK) {
        sl_batch *b = batch_new((uint32_t)SL_MIN(s->cfg->page_limit, 1024));
        cwl_group_strs gs = {batch_str(b, g->name, strlen(g->name)),
                             batch_str(b, g->slug, strlen(g->slug))};
        cwl_page pg;
        if (cwl_parse_filter(r.body.p, r.body.len, b, &gs, s->cfg->parse_json, &s->tmp, &pg, err,
                             sizeof err) != SL_OK) {
            batch_release(b);
            cwl_warn(s, "log group %s: bad FilterLogEvents answer (%s); retrying", g->name, err);
            metrics_error(s->cc->metrics, "bad_response");
            buf_free(&r.body);
            return CWL_RETRY;
        }
        if (live && b->n)
            cwl_dedupe(g, b);
        if (live && b->n)
            cwl_live_delay(s, b);
        if (!live) {
            g->bf_events += b->n;
            j->nread += b->n;
        }
        if (pg.skipped) {
            cwl_warn(s, "log group %s: %u malformed events skipped", g->name, pg.skipped);
            metrics_error(s->cc->metrics, "bad_event");
        }
        if (b->n) {
            b->ack = ack_token_open(source_ledger(s->ctx), 0, 0);
            b->origin = s->cc->id;
            atomic_fetch_add_explicit(&s->cc->metrics->received_events, b->n,
                                      memory_order_relaxed);
            atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, r.body.len,
                                      memory_order_relaxed);
            source_emit(s->ctx, b);
        } else {
            batch_release(b);
        }
        free(j->token);
        j->token = pg.next_token;
        j->fails = 0;
        if (!j->token && j->chunk + 1 < cwl_nchunks(s)) {
            j->chunk++; /* the same window for the next names of log_streams */
        } else if (!j->token) { /* last page: the window is complete once this commits */
            j->active = false;
            if (live) {
                pthread_mutex_lock(&s->mu);
                g->cursor = j->end;
                pthread_mutex_unlock(&s->mu);
                cwl_seen_trim(g, j->end - s->cfg->overlap_secs * 1000);
                cwl_marker(s, CWL_KIND_LIVE, j->gi, (uint64_t)j->end);
            } else {
                if (j->rr)
                    cwl_marker(s, CWL_KIND_REREAD, j->gi, j->rr);
                else
                    cwl_marker(s, CWL_KIND_WIN, j->gi, (uint64_t)j->start);
                log_debug(s->cc->id, "log group %s: window %" PRId64 "..%" PRId64 " read",
                          g->name, j->start, j->end);
                cwl_season_observe(s, j->gi, j->start, j->end, j->nread);
            }
        }
    } else if (st == CWL_FAILED && strcmp(etype, "ResourceNotFoundException") == 0) {
        if (!g->missing_logged)
            log_warn(s->cc->id, "log group %s does not exist (yet)", g->name);
        g->missing_logged = true;
        metrics_error(s->cc->metrics, "group_not_found");
        free(j->token);
        j->token = NULL;
        j->active = false;
        if (!live && j->rr) /* nothing to read in that window */
            cwl_marker(s, CWL_KIND_REREAD, j->gi, j->rr);
        else if (!live)
            cwl_marker(s, CWL_KIND_WIN, j->gi, (uint64_t)j->start);
    } else {
        if (st == CWL_AUTH)
            cwl_reload_creds(s);
        cwl_warn(s, "log group %s: %s", g->name, err);
        metrics_error(s->cc->metrics, st == CWL_THROTTLED ? "throttled"
                                      : st == CWL_AUTH    ? "auth"
                                      : st == CWL_RETRY   ? "unavailable"
                                                          : "request_failed");
        atomic_fetch_add_explicit(&s->cc->metrics->retries, 1, memory_order_relaxed);
        /* the live tail retries briefly (at most 4 x backoff_base_ms); backfill's own pause
         * after a throttle starts where that ends (cwl_schedule) */
        j->retry_at = sl_mono_ms() + cwl_backoff(s, live ? SL_MIN(j->fails, 2u) : j->fails);
        j->fails++;
    }
    buf_free(&r.body);
    return st;
}

static void cwl_discover_cb(void *arg, const char *name, int64_t retention_days)
{
    cwl_source *s = arg;
    cwl_group_add(s, name);
    uint32_t gi = cwl_group_find(s, name);
    if (gi != UINT32_MAX) { /* the listing tells its retention (note 14) */
        cwl_group *g = &s->groups[gi];
        pthread_mutex_lock(&s->mu);
        g->retention_days = retention_days;
        pthread_mutex_unlock(&s->mu);
        g->ret_at = sl_mono_ms() + CWL_RET_REFRESH_MS;
        g->ret_fails = 0;
        g->ret_missing = false;
        cwl_expire(s, gi);
    }
}

static void cwl_discover(cwl_source *s)
{
    char *tok = NULL;
    for (int pages = 0; pages < 1000 && !source_should_stop(s->ctx); pages++) {
        buf_reset(&s->req);
        buf_puts(&s->req, "{\"logGroupNamePrefix\":\"");
        json_escape(&s->req, s->cfg->log_group_prefix, strlen(s->cfg->log_group_prefix));
        buf_putc(&s->req, '"');
        if (tok) {
            buf_puts(&s->req, ",\"nextToken\":\"");
            json_escape(&s->req, tok, strlen(tok));
            buf_putc(&s->req, '"');
        }
        buf_putc(&s->req, '}');
        free(tok);
        tok = NULL;
        http_response r = {0};
        char etype[96], err[512];
        if (pages > 0) /* the first page's token was taken by the scheduler */
            cwl_bucket_take(s->bucket, sl_mono_ms());
        cwl_status st = cwl_call(&s->api, "DescribeLogGroups", s->req.p, s->req.len, &r, etype,
                                 sizeof etype, err, sizeof err);
        if (st == CWL_OK &&
            cwl_parse_groups(r.body.p, r.body.len, &s->tmp, cwl_discover_cb, s, &tok, err,
                             sizeof err) != SL_OK) {
            metrics_error(s->cc->metrics, "bad_response");
            st = CWL_RETRY;
        }
        buf_free(&r.body);
        if (st != CWL_OK) {
            cwl_warn(s, "listing log groups: %s", err);
            if (st == CWL_AUTH)
                cwl_reload_creds(s);
            s->next_discover = sl_mono_ms() + cwl_backoff(s, 3);
            free(tok);
            return;
        }
        if (!tok)
            break;
    }
    free(tok);
    s->next_discover = sl_mono_ms() + s->cfg->discover_interval_secs * 1000;
    s->listed = true;
    cwl_shard_log(s);
}

/* ---- Stream discovery (note 9) ------------------------------------------------------ */

static bool cwl_stream_wanted(const cwl_source *s, const char *name)
{
    const sl_strlist *l = &s->cfg->log_streams;
    if (!l->n)
        return true;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return true;
    return false;
}

static void cwl_streams_cb(void *arg, const cwl_stream_info *si)
{
    cwl_source *s = arg;
    cwl_sjob *d = &s->disc;
    if (!cwl_stream_wanted(s, si->name))
        return;
    d->n++;
    d->newest_event = SL_MAX(d->newest_event, si->last_event_ms);
    d->newest_ingest = SL_MAX(d->newest_ingest, si->last_ingestion_ms);
}

/* The listing of d's group is complete: publish it and gate the group on it. */
static void cwl_streams_done(cwl_source *s, cwl_sjob *d)
{
    cwl_group *g = &s->groups[d->gi];
    int64_t was = g->nstreams;
    pthread_mutex_lock(&s->mu);
    g->nstreams = d->n;
    g->newest_event = d->newest_event;
    g->newest_ingest = d->newest_ingest;
    pthread_mutex_unlock(&s->mu);
    if (d->n && was == 0) {
        log_info(s->cc->id, "log group %s: %" PRId64 " streams now; reading it again", g->name,
                 d->n);
        g->next_poll = 0;
    } else if (!d->n && was != 0) {
        log_info(s->cc->id, "log group %s has no %sstreams; not read until one appears", g->name,
                 s->cfg->log_streams.n || (s->cfg->log_stream_prefix && *s->cfg->log_stream_prefix)
                     ? "matching "
                     : "");
    }
    metrics_count(s->cc->metrics, "stream_listings", 1);
    free(d->token);
    d->token = NULL;
    d->active = false;
    g->next_streams = sl_mono_ms() + s->cfg->stream_discover_interval_secs * 1000;
}

/* One DescribeLogStreams page of the pass under way. */
static cwl_status cwl_streams_step(cwl_source *s)
{
    cwl_sjob *d = &s->disc;
    cwl_group *g = &s->groups[d->gi];
    const char *pfx = s->cfg->log_stream_prefix;
    if (cwl_creds_stale(&s->api.creds, cwl_wall_ms()))
        cwl_reload_creds(s);
    buf_reset(&s->req);
    buf_puts(&s->req, "{\"logGroupName\":\"");
    json_escape(&s->req, g->name, strlen(g->name));
    buf_puts(&s->req, "\",\"limit\":50");
    if (pfx && *pfx) { /* the API refuses a prefix ordered by LastEventTime */
        buf_puts(&s->req, ",\"logStreamNamePrefix\":\"");
        json_escape(&s->req, pfx, strlen(pfx));
        buf_putc(&s->req, '"');
    } else {
        buf_puts(&s->req, ",\"orderBy\":\"LastEventTime\",\"descending\":true");
    }
    if (d->token) {
        buf_puts(&s->req, ",\"nextToken\":\"");
        json_escape(&s->req, d->token, strlen(d->token));
        buf_putc(&s->req, '"');
    }
    buf_putc(&s->req, '}');
    http_response r = {0};
    char etype[96], err[512];
    cwl_status st = cwl_call(&s->api, "DescribeLogStreams", s->req.p, s->req.len, &r, etype,
                             sizeof etype, err, sizeof err);
    char *tok = NULL;
    if (st == CWL_OK && cwl_parse_streams(r.body.p, r.body.len, &s->tmp, cwl_streams_cb, s, &tok,
                                          err, sizeof err) != SL_OK) {
        metrics_error(s->cc->metrics, "bad_response");
        st = CWL_RETRY;
    }
    buf_free(&r.body);
    if (st == CWL_OK) {
        free(d->token);
        d->token = tok;
        d->fails = 0;
        if (!tok)
            cwl_streams_done(s, d);
        return st;
    }
    if (st == CWL_FAILED && strcmp(etype, "ResourceNotFoundException") == 0) {
        d->n = 0; /* no group: nothing to read until it exists with a stream */
        cwl_streams_done(s, d);
        return CWL_OK;
    }
    if (st == CWL_AUTH)
        cwl_reload_creds(s);
    if (st == CWL_THROTTLED)
        metrics_count(s->cc->metrics, "throttled_discovery", 1);
    cwl_warn(s, "log group %s: listing streams: %s", g->name, err);
    metrics_error(s->cc->metrics, st == CWL_THROTTLED ? "throttled" : "stream_listing");
    if (++d->fails > 5) { /* give this pass up; the group keeps what it had */
        free(d->token);
        d->token = NULL;
        d->active = false;
        g->next_streams = sl_mono_ms() + s->cfg->stream_discover_interval_secs * 1000;
        return st;
    }
    d->retry_at = sl_mono_ms() + 2 * cwl_backoff(s, d->fails); /* low priority: slower */
    return st;
}

/* The newest pending window of a group that is read (note 9), removed from the queue; a
 * re-read request's windows (note 13) first. */
static bool cwl_window_ready(const cwl_source *s, const cwl_window *w)
{
    const cwl_group *g = &s->groups[w->gi];
    return g->nstreams != 0 && !g->pending && cwl_ret_settled(g); /* notes 9, 12, 14 */
}

static bool cwl_pop_window(cwl_source *s, cwl_window *out)
{
    bool any_rr = false;
    for (size_t i = 0; i < s->nwins && !any_rr; i++)
        any_rr = s->wins[i].rr != 0 && cwl_window_ready(s, &s->wins[i]);
    int64_t wall = cwl_wall_ms();
    for (size_t i = s->nwins; i-- > 0;) {
        if (!cwl_window_ready(s, &s->wins[i]) || (any_rr && !s->wins[i].rr))
            continue;
        if (!s->wins[i].rr && s->wins[i].end <= cwl_ret_floor(&s->groups[s->wins[i].gi], wall)) {
            cwl_drop_expired(s, i); /* expired since the group's retention was told */
            continue;
        }
        *out = s->wins[i];
        s->nrepairs -= out->repair;
        memmove(&s->wins[i], &s->wins[i + 1], (s->nwins - i - 1) * sizeof *s->wins);
        s->nwins--;
        return true;
    }
    return false;
}

static bool cwl_has_window(const cwl_source *s)
{
    for (size_t i = s->nwins; i-- > 0;)
        if (cwl_window_ready(s, &s->wins[i]))
            return true;
    return false;
}

/* ---- Backfill progress (note 10) ------------------------------------------------------ */

static uint64_t cwl_remaining(const cwl_progress *p)
{
    return p->total > p->done + p->expired ? p->total - p->done - p->expired : 0;
}

/* 3400 -> "3,400" */
static void cwl_fmt_count(char *out, size_t n, uint64_t v)
{
    char d[32];
    int len = snprintf(d, sizeof d, "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = d[i];
    }
    out[o] = '\0';
}

/* 130 -> "2m10s"; also "45s", "1h05m", "3d04h"; "unknown" when negative */
static void cwl_fmt_eta(char *out, size_t n, double secs)
{
    if (secs < 0) {
        snprintf(out, n, "unknown");
        return;
    }
    uint64_t t = (uint64_t)(secs + 0.5);
    if (t >= 86400)
        snprintf(out, n, "%" PRIu64 "d%02" PRIu64 "h", t / 86400, t % 86400 / 3600);
    else if (t >= 3600)
        snprintf(out, n, "%" PRIu64 "h%02" PRIu64 "m", t / 3600, t % 3600 / 60);
    else if (t >= 60)
        snprintf(out, n, "%" PRIu64 "m%02" PRIu64 "s", t / 60, t % 60);
    else
        snprintf(out, n, "%" PRIu64 "s", t);
}

static void cwl_progress_json(sl_buf *out, const cwl_progress *p)
{
    buf_printf(out,
               "\"backfill\":{\"windows_total\":%" PRIu64 ",\"windows_done\":%" PRIu64
               ",\"windows_expired\":%" PRIu64 ",\"remaining_windows\":%" PRIu64
               ",\"events_read\":%" PRIu64
               ",\"events_per_sec\":%.1f,\"windows_per_sec\":%.3f,\"eta_seconds\":",
               p->total, p->done, p->expired, cwl_remaining(p), p->events, p->events_per_sec,
               p->windows_per_sec);
    if (p->eta_secs < 0)
        buf_puts(out, "null}");
    else
        buf_printf(out, "%.1f}", p->eta_secs);
}

static void cwl_progress_line(cwl_source *s, const char *what, const char *name,
                              const cwl_progress *p)
{
    char rate[32], eta[32];
    cwl_fmt_count(rate, sizeof rate, (uint64_t)(p->events_per_sec + 0.5));
    cwl_fmt_eta(eta, sizeof eta, p->eta_secs);
    log_info(s->cc->id, "backfill: %s%s %" PRIu64 "/%" PRIu64 " windows, %s events/s, eta %s", what,
             name, p->done, p->total, rate, eta);
}

/* A group and its windows left, sorted most first (then by index, for a stable order). */
typedef struct cwl_rank {
    uint64_t left;
    uint32_t gi;
} cwl_rank;

static int cwl_by_remaining(const void *a, const void *b)
{
    const cwl_rank *x = a, *y = b;
    if (x->left != y->left)
        return x->left > y->left ? -1 : 1;
    return x->gi < y->gi ? -1 : x->gi > y->gi;
}

/* /metrics: the total (no group label) and up to CWL_PROGRESS_SERIES groups with the most
 * windows left, the rest summed as group "(other)" (a name CloudWatch does not allow), so
 * the series stay bounded however many groups a prefix finds. `order` is sorted. */
static void cwl_progress_metrics(cwl_source *s, const cwl_rank *order, uint32_t n)
{
    sl_gauge_sample rem[CWL_PROGRESS_SERIES + 2], eta[CWL_PROGRESS_SERIES + 2];
    size_t nr = 0, ne = 0;
    rem[nr++] = (sl_gauge_sample){NULL, (double)cwl_remaining(&s->snap)};
    if (s->snap.eta_secs >= 0)
        eta[ne++] = (sl_gauge_sample){NULL, s->snap.eta_secs};
    uint64_t other_rem = 0;
    double other_eta = 0;
    bool others = false;
    for (uint32_t k = 0; k < n; k++) {
        const cwl_group *g = &s->groups[order[k].gi];
        if (k < CWL_PROGRESS_SERIES) {
            rem[nr++] = (sl_gauge_sample){g->name, (double)cwl_remaining(&g->snap)};
            if (g->snap.eta_secs >= 0)
                eta[ne++] = (sl_gauge_sample){g->name, g->snap.eta_secs};
            continue;
        }
        others = true;
        other_rem += cwl_remaining(&g->snap);
        if (other_eta >= 0)
            other_eta = g->snap.eta_secs < 0 ? -1 : SL_MAX(other_eta, g->snap.eta_secs);
    }
    if (others) {
        rem[nr++] = (sl_gauge_sample){"(other)", (double)other_rem};
        if (other_eta >= 0)
            eta[ne++] = (sl_gauge_sample){"(other)", other_eta};
    }
    metrics_gauges_set(s->cc->metrics, "sluice_backfill_remaining_windows",
                       "Backfill and repair windows queued but not yet committed (no group "
                       "label: the source's total).", "group", rem, nr);
    metrics_gauges_set(s->cc->metrics, "sluice_backfill_eta_seconds",
                       "Estimated seconds until a group's (no group label: every) queued window "
                       "is committed, at the recent window rate; absent while not known.",
                       "group", eta, ne);
}

/* /metrics (note 12): the groups this shard owns and all it has seen, labelled "1/3". */
static void cwl_shard_metrics(cwl_source *s)
{
    char shard[32];
    snprintf(shard, sizeof shard, "%" PRIu32 "/%" PRIu32, s->shard_index, s->shard_count);
    sl_gauge_sample owned = {shard, (double)s->ngroups};
    sl_gauge_sample seen = {shard, (double)(s->ngroups + s->nothers)};
    metrics_gauges_set(s->cc->metrics, "sluice_cloudwatch_owned_groups",
                       "Log groups this replica reads (its shard index/count as the label).",
                       "shard", &owned, 1);
    metrics_gauges_set(s->cc->metrics, "sluice_cloudwatch_groups_seen",
                       "Log groups named or discovered, this replica's and other shards'.",
                       "shard", &seen, 1);
}

/* Once a second: rates over the last CWL_RING ticks, ETAs, the status snapshot, /metrics,
 * and (every progress_log_interval_secs while windows are left) the info lines. */
static void cwl_progress_tick(cwl_source *s, int64_t now)
{
    if (now < s->next_tick)
        return;
    s->next_tick = now + CWL_TICK_MS;
    uint32_t old = s->ring_n < CWL_RING ? 0 : s->ring_pos; /* the oldest sample */
    double span = s->ring_n ? (double)(now - s->ring_t[old]) / 1000.0 : 0;
    cwl_progress tot = {0};
    for (uint32_t i = 0; i < s->ngroups; i++) {
        tot.total += s->groups[i].bf_total;
        tot.done += s->groups[i].bf_done;
        tot.expired += s->groups[i].bf_expired;
        tot.events += s->groups[i].bf_events;
    }
    if (span > 0) {
        tot.windows_per_sec = (double)(tot.done - s->ring_done[old]) / span;
        tot.events_per_sec = (double)(tot.events - s->ring_ev[old]) / span;
    }
    uint64_t left = cwl_remaining(&tot);
    tot.eta_secs = left == 0 ? 0 : tot.windows_per_sec > 0 ? (double)left / tot.windows_per_sec : -1;
    /* Windows are read newest first over all groups, so a group is done when the queue has
     * reached its oldest pending window: what it waits for is everything left except the
     * pending windows queued behind that one (lower indexes of wins[]). */
    size_t *behind = sl_xmalloc((s->ngroups + 1) * sizeof *behind);
    for (uint32_t i = 0; i < s->ngroups; i++)
        behind[i] = SIZE_MAX;
    for (size_t i = 0; i < s->nwins; i++)
        if (behind[s->wins[i].gi] == SIZE_MAX)
            behind[s->wins[i].gi] = i;
    cwl_rank *order = sl_xmalloc((s->ngroups + 1) * sizeof *order);
    uint32_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (uint32_t i = 0; i < s->ngroups; i++) {
        cwl_group *g = &s->groups[i];
        cwl_progress p = {.total = g->bf_total, .done = g->bf_done, .expired = g->bf_expired,
                          .events = g->bf_events};
        if (span > 0)
            p.events_per_sec = (double)(g->bf_events - g->ring_ev[old]) / span;
        size_t b = behind[i] == SIZE_MAX ? s->nwins : behind[i];
        uint64_t wait = left > b ? left - b : 0;
        p.windows_per_sec = tot.windows_per_sec;
        p.eta_secs = cwl_remaining(&p) == 0 ? 0 : tot.windows_per_sec > 0 ? (double)wait / tot.windows_per_sec : -1;
        g->snap = p;
        g->ring_ev[s->ring_pos] = g->bf_events;
        if (g->bf_total)
            order[n++] = (cwl_rank){cwl_remaining(&p), i};
    }
    s->snap = tot;
    pthread_mutex_unlock(&s->mu);
    free(behind);
    s->ring_t[s->ring_pos] = now;
    s->ring_done[s->ring_pos] = tot.done;
    s->ring_ev[s->ring_pos] = tot.events;
    s->ring_pos = (s->ring_pos + 1) % CWL_RING;
    s->ring_n = SL_MIN(s->ring_n + 1, (uint32_t)CWL_RING);

    qsort(order, n, sizeof *order, cwl_by_remaining);
    cwl_progress_metrics(s, order, n);
    cwl_shard_metrics(s);
    for (uint32_t k = 0; k < n; k++) { /* one line when a group's queue empties */
        cwl_group *g = &s->groups[order[k].gi];
        if (cwl_remaining(&g->snap) > 0) {
            g->bf_complete_logged = false;
        } else if (!g->bf_complete_logged) {
            char ev[32];
            cwl_fmt_count(ev, sizeof ev, g->bf_events);
            char exp[48] = "";
            if (g->bf_expired) /* note 14 */
                snprintf(exp, sizeof exp, ", %" PRIu64 " expired", g->bf_expired);
            log_info(s->cc->id, "backfill: group %s complete, %" PRIu64 " windows, %s events%s",
                     g->name, g->bf_done, ev, exp);
            g->bf_complete_logged = true;
        }
    }
    int64_t every = s->cfg->progress_log_interval_secs * 1000;
    if (every > 0 && left > 0 && now >= s->next_progress_log) {
        s->next_progress_log = now + every;
        uint32_t busy = 0;
        for (uint32_t k = 0; k < n && busy < CWL_PROGRESS_SERIES; k++)
            if (order[k].left > 0) {
                cwl_progress_line(s, "group ", s->groups[order[k].gi].name,
                                  &s->groups[order[k].gi].snap);
                busy++;
            }
        if (busy != 1)
            cwl_progress_line(s, "total", "", &tot);
    }
    free(order);
}

/* Status API: what the listings said, per group (called from the API thread). */
static void cwl_status_json(void *self, sl_buf *out)
{
    cwl_source *s = self;
    int64_t now = cwl_wall_ms();
    pthread_mutex_lock(&s->mu);
    buf_printf(out, ",\"live_delay_max_ms\":%" PRId64, s->live_delay_max);
    buf_printf(out, ",\"shard\":{\"index\":%" PRIu32 ",\"count\":%" PRIu32 ",\"owned_groups\":%" PRIu32
                    ",\"groups_seen\":%zu}",
               s->shard_index, s->shard_count, s->ngroups, s->ngroups + s->nothers);
    if (s->bucket)
        buf_printf(out, ",\"rate_limit\":{\"requests_per_sec\":%" PRId64 ",\"sharers\":%" PRIu32 "}",
                   cwl_bucket_rate(s->bucket), cwl_bucket_sharers(s->bucket));
    buf_puts(out, ",\"log_groups\":[");
    for (uint32_t i = 0; i < s->ngroups; i++) {
        const cwl_group *g = &s->groups[i];
        buf_puts(out, i ? ",{\"name\":\"" : "{\"name\":\"");
        json_escape(out, g->name, strlen(g->name));
        if (g->nstreams < 0)
            buf_puts(out, "\",\"streams\":null");
        else
            buf_printf(out, "\",\"streams\":%" PRId64, g->nstreams);
        buf_printf(out,
                   ",\"newest_event_ms\":%" PRId64 ",\"newest_ingestion_ms\":%" PRId64
                   ",\"live_cursor_ms\":%" PRId64 ",\"live_lag_seconds\":%.3f,\"read\":%s"
                   ",\"started_from\":\"%s\"}",
                   g->newest_event, g->newest_ingest, g->cursor,
                   (double)(now - g->cursor) / 1000.0,
                   g->nstreams != 0 && !g->pending ? "true" : "false", g->started_from);
        out->len--; /* the closing brace */
        if (g->retention_days < 0) /* note 13: null until DescribeLogGroups said it */
            buf_puts(out, ",\"retention_days\":null,");
        else
            buf_printf(out, ",\"retention_days\":%" PRId64 ",", g->retention_days);
        cwl_progress_json(out, &g->snap);
        if (g->season) {
            buf_puts(out, ",\"season\":");
            cwl_season_status_json(out, g->season, &s->scfg);
        }
        buf_putc(out, '}');
    }
    buf_putc(out, ']');
    buf_putc(out, ',');
    cwl_progress_json(out, &s->snap);
    pthread_mutex_unlock(&s->mu);
}

/* ---- Reconciliation (note 8) -------------------------------------------------------- */

static void cwl_rq_push(cwl_source *s, uint32_t gi, int64_t start, int64_t end)
{
    if (s->nrq == s->caprq) {
        s->caprq = s->caprq ? s->caprq * 2 : 64;
        s->rq = sl_xrealloc(s->rq, s->caprq * sizeof *s->rq);
    }
    s->rq[s->nrq++] = (cwl_window){gi, start, end, false, 0};
}

/* Queues one round, popped from the back: the recent windows, newest first, then the next
 * `sample` steps of a seeded pseudo-random walk over the older windows that visits each of
 * them once per cycle (cwl_walk: by absolute window, so a window's turn stays put while the
 * range slides with time). */
static void cwl_rec_round(cwl_source *s)
{
    const struct cwl_reconcile_config *rc = &s->cfg->reconcile;
    int64_t w = s->cfg->window_minutes * 60000, now = cwl_wall_ms();
    int64_t recent_from = (now - rc->recent_hours * 3600000) / w * w;
    int64_t history_from = now - s->cfg->backfill_days * 86400000;
    cwl_walk wk;
    cwl_walk_init(&wk, history_from, recent_from, w, (uint64_t)rc->seed);
    for (uint32_t gi = 0; gi < s->ngroups; gi++) {
        for (uint64_t k = 0; k < (uint64_t)rc->sample && k < wk.nwin; k++) {
            int64_t a = cwl_walk_at(&wk, s->rec_pos + k);
            cwl_rq_push(s, gi, a, a + w);
        }
        for (int64_t a = recent_from; a + w <= now; a += w) /* recent: all, newest first */
            cwl_rq_push(s, gi, a, a + w);
    }
    s->rec_pos += (uint64_t)rc->sample;
}

/* A window is settled when its events were all read and delivered at least once: it ends
 * before the committed live cursor (minus the overlap and a margin for the destination's
 * refresh), and no backfill window overlapping it is still in the checkpoint (pending,
 * being read, or read but not yet committed). */
static bool cwl_rec_settled(cwl_source *s, const cwl_window *w)
{
    const char *name = s->groups[w->gi].name;
    char key[600];
    snprintf(key, sizeof key, "live\t%s", name);
    const sl_ckpt_entry *e = ckpt_get(s->ck, key);
    if (!e || (int64_t)e->pos - s->cfg->overlap_secs * 1000 - 5000 < w->end)
        return false;
    int pl = snprintf(key, sizeof key, "win\t%s\t", name);
    for (size_t i = 0; i < ckpt_count(s->ck); i++) {
        const sl_ckpt_entry *c = ckpt_at(s->ck, i);
        if (strncmp(c->key, key, (size_t)pl) != 0)
            continue;
        long long st = strtoll(c->key + pl, NULL, 10);
        if (st < w->end && w->start < (int64_t)c->pos)
            return false;
    }
    return true;
}

/* Appends the index pattern with the group substituted, sanitised as index names are. */
static void cwl_rec_index(cwl_source *s, const cwl_group *g, sl_buf *out)
{
    static const char slug_var[] = "{{ cloudwatch.log_group_slug }}";
    static const char group_var[] = "{{ cloudwatch.log_group }}";
    for (const char *p = s->cfg->reconcile.index; *p;) {
        const char *val = NULL;
        if (strncmp(p, slug_var, sizeof slug_var - 1) == 0) {
            val = g->slug;
            p += sizeof slug_var - 1;
        } else if (strncmp(p, group_var, sizeof group_var - 1) == 0) {
            val = g->name;
            p += sizeof group_var - 1;
        }
        if (!val) {
            buf_putc(out, *p++);
            continue;
        }
        for (; *val; val++) {
            unsigned char c = (unsigned char)*val;
            buf_putc(out, c >= 'A' && c <= 'Z' ? (char)(c + 32)
                          : c < 0x20 || c >= 0x7f || strchr("\\/*?\"<>| ,#:", c) ? '_'
                                                                                 : (char)c);
        }
    }
}

/* POSTs `body` (in s->req) to <reconcile.elasticsearch>/<index of g>/<api>, with the
 * configured credentials. Returns SL_OK and a 200 answer in *resp (the caller frees its
 * body), or an error. */
static int cwl_dest_post(cwl_source *s, const cwl_group *g, const char *api_name,
                         http_response *resp, char *err, size_t errlen)
{
    const struct cwl_reconcile_config *rc = &s->cfg->reconcile;
    sl_buf ix = SL_BUF_INIT, api = SL_BUF_INIT;
    cwl_rec_index(s, g, &ix);
    url_encode(&api, ix.p, ix.len, URL_SEGMENT);
    buf_puts(&api, api_name);
    buf_putc(&api, '\0');
    url_build(&s->rec_url, &s->rec_ep, api.p, "ignore_unavailable=true");
    buf_free(&ix);
    buf_free(&api);
    sl_buf authz = SL_BUF_INIT;
    const char *hdrs[2] = {"Content-Type: application/json", NULL};
    size_t nh = 1;
    if (rc->api_key && *rc->api_key) {
        http_api_key_header(&authz, rc->api_key); /* id:key goes as its base64 */
        buf_putc(&authz, '\0');
        hdrs[nh++] = authz.p;
    }
    http_request rq = {.method = "POST", .url = s->rec_url.p, .headers = hdrs, .nheaders = nh,
                       .body = s->req.p, .body_len = s->req.len,
                       .timeout_ms = s->cfg->http_timeout_secs * 1000,
                       .user = rc->user && *rc->user ? rc->user : NULL,
                       .password = rc->password ? rc->password : "", .ca_file = rc->ca_file};
    *resp = (http_response){0};
    int rc_do = http_client_do(s->hc, &rq, resp);
    buf_free(&authz);
    if (rc_do != SL_OK) {
        buf_free(&resp->body);
        return sl_seterr(err, errlen, SL_ERR_IO, "destination %s: %s", api_name + 1, resp->error);
    }
    if (resp->status != 200) {
        buf_free(&resp->body);
        return sl_seterr(err, errlen, SL_ERR_IO, "destination %s: HTTP %ld", api_name + 1,
                         resp->status);
    }
    return SL_OK;
}

/* Starts a bool query whose filter is the term on the group: the caller adds the rest. */
static void cwl_dest_query(cwl_source *s, const cwl_group *g)
{
    const char *gf = s->cfg->reconcile.group_field;
    buf_reset(&s->req);
    buf_puts(&s->req, "{\"query\":{\"bool\":{\"filter\":[{\"term\":{\"");
    json_escape(&s->req, gf, strlen(gf));
    buf_puts(&s->req, "\":\"");
    json_escape(&s->req, g->name, strlen(g->name));
    buf_puts(&s->req, "\"}}");
}

/* Asks the destination how many events of the group it holds in [start, end). */
static int cwl_rec_dest_count(cwl_source *s, const cwl_rec *r, uint64_t *n, char *err,
                              size_t errlen)
{
    const cwl_group *g = &s->groups[r->gi];
    cwl_dest_query(s, g);
    buf_printf(&s->req,
               ",{\"range\":{\"@timestamp\":{\"gte\":%" PRId64 ",\"lt\":%" PRId64
               ",\"format\":\"epoch_millis\"}}}]}}}",
               r->start, r->end);
    http_response resp;
    int rcode = cwl_dest_post(s, g, "/_count", &resp, err, errlen);
    if (rcode != SL_OK)
        return rcode;
    rcode = cwl_parse_es_count(resp.body.p, resp.body.len, &s->tmp, n, err, errlen);
    buf_free(&resp.body);
    return rcode;
}

/* Asks the destination for the newest @timestamp it holds of the group (note 12). */
static int cwl_dest_newest(cwl_source *s, const cwl_group *g, bool *found, int64_t *ms,
                           char *err, size_t errlen)
{
    cwl_dest_query(s, g);
    buf_puts(&s->req, "]}},\"size\":0,\"aggs\":{\"newest\":{\"max\":{\"field\":\"@timestamp\"}}}}");
    http_response resp;
    int rcode = cwl_dest_post(s, g, "/_search", &resp, err, errlen);
    if (rcode != SL_OK)
        return rcode;
    rcode = cwl_parse_es_newest(resp.body.p, resp.body.len, &s->tmp, found, ms, err, errlen);
    buf_free(&resp.body);
    return rcode;
}

static void cwl_rec_fail(cwl_source *s, cwl_rec *r, const char *what, const char *reason)
{
    metrics_error(s->cc->metrics, reason);
    if (++r->fails > 8) { /* the next round checks it again */
        cwl_warn(s, "log group %s: reconciliation of %" PRId64 "..%" PRId64 " gave up: %s",
                 s->groups[r->gi].name, r->start, r->end, what);
        free(r->token);
        r->token = NULL;
        r->active = false;
        return;
    }
    cwl_warn(s, "log group %s: reconciliation: %s", s->groups[r->gi].name, what);
    r->retry_at = sl_mono_ms() + 2 * cwl_backoff(s, r->fails); /* lowest priority: slower */
}

/* Note 11: the destination's count first, and what the model makes of it. */
static cwl_status cwl_rec_season(cwl_source *s, cwl_rec *r)
{
    cwl_group *g = &s->groups[r->gi];
    char err[512];
    if (cwl_rec_dest_count(s, r, &r->dst, err, sizeof err) != SL_OK) {
        cwl_rec_fail(s, r, err, "reconcile_destination");
        return CWL_OK;
    }
    r->have_dst = true;
    pthread_mutex_lock(&s->mu);
    cwl_season_action a = cwl_season_decide(g->season, &s->scfg, s->cc->id, g->name, r->start,
                                            r->end, r->dst, s->cc->metrics);
    pthread_mutex_unlock(&s->mu);
    if (a == CWL_SEASON_SKIP) {
        r->active = false;
        cwl_season_observe(s, r->gi, r->start, r->end, r->dst);
    } else if (a == CWL_SEASON_RECHECK) {
        r->urgent = true;
    }
    return CWL_OK;
}

/* One step of the check: a CloudWatch page, or, after the last one, the comparison. */
static cwl_status cwl_rec_step(cwl_source *s, cwl_rec *r)
{
    cwl_group *g = &s->groups[r->gi];
    if (r->season && !r->have_dst)
        return cwl_rec_season(s, r);
    if (cwl_creds_stale(&s->api.creds, cwl_wall_ms()))
        cwl_reload_creds(s);
    buf_reset(&s->req);
    buf_puts(&s->req, "{\"logGroupName\":\"");
    json_escape(&s->req, g->name, strlen(g->name));
    buf_printf(&s->req, "\",\"startTime\":%" PRId64 ",\"endTime\":%" PRId64 ",\"limit\":10000",
               r->start, r->end - 1);
    cwl_put_streams(s, r->chunk);
    if (r->token) {
        buf_puts(&s->req, ",\"nextToken\":\"");
        json_escape(&s->req, r->token, strlen(r->token));
        buf_putc(&s->req, '"');
    }
    buf_putc(&s->req, '}');
    http_response resp = {0};
    char etype[96], err[512];
    cwl_status st = cwl_call(&s->api, "FilterLogEvents", s->req.p, s->req.len, &resp, etype,
                             sizeof etype, err, sizeof err);
    uint64_t n = 0;
    char *tok = NULL;
    if (st == CWL_OK && cwl_parse_count(resp.body.p, resp.body.len, &s->tmp, &n, &tok, err,
                                        sizeof err) != SL_OK)
        st = CWL_RETRY;
    buf_free(&resp.body);
    if (st == CWL_FAILED && strcmp(etype, "ResourceNotFoundException") == 0) {
        st = CWL_OK; /* no group: no events */
        n = 0;
        tok = NULL;
    }
    if (st != CWL_OK) {
        if (st == CWL_AUTH)
            cwl_reload_creds(s);
        cwl_rec_fail(s, r, err, st == CWL_THROTTLED ? "throttled" : "reconcile_source");
        return st;
    }
    r->count += n;
    free(r->token);
    r->token = tok;
    if (tok)
        return st;
    if (r->chunk + 1 < cwl_nchunks(s)) {
        r->chunk++;
        return st;
    }
    cwl_season_observe(s, r->gi, r->start, r->end, r->count);
    uint64_t dst = r->dst;
    if (!r->have_dst && cwl_rec_dest_count(s, r, &dst, err, sizeof err) != SL_OK) {
        r->count = 0; /* count the window again: CloudWatch may have changed meanwhile */
        cwl_rec_fail(s, r, err, "reconcile_destination");
        return CWL_OK;
    }
    r->active = false;
    sl_metrics *m = s->cc->metrics;
    metrics_count(m, "reconcile_windows_checked", 1);
    /* One line per window checked, at info: the audit trail of what was verified. */
    if (dst >= r->count) {
        log_info(s->cc->id,
                  "reconcile %s %" PRId64 "..%" PRId64 ": cloudwatch %" PRIu64
                  ", destination %" PRIu64 ": ok",
                  g->name, r->start, r->end, r->count, dst);
        return CWL_OK;
    }
    log_warn(s->cc->id,
             "reconcile %s %" PRId64 "..%" PRId64 ": cloudwatch %" PRIu64
             ", destination %" PRIu64 ": %" PRIu64 " missing, reading the window again",
             g->name, r->start, r->end, r->count, dst, r->count - dst);
    metrics_count(m, "reconcile_mismatches", 1);
    metrics_count(m, "reconcile_events_missing", r->count - dst);
    metrics_count(m, "reconcile_events_resent", r->count);
    cwl_add_window(s, r->gi, r->start, r->end, true);
    s->wins[s->nwins - 1].repair = true;
    s->nrepairs++;
    if (r->urgent) {
        pthread_mutex_lock(&s->mu);
        g->season->repaired++;
        pthread_mutex_unlock(&s->mu);
        metrics_count(m, "season_repaired", 1);
    }
    qsort(s->wins, s->nwins, sizeof *s->wins, cwl_win_cmp);
    return CWL_OK;
}

/* Starts the next settled window of the round; false when there is nothing to check. */
static bool cwl_rec_next(cwl_source *s)
{
    while (s->nrq) {
        cwl_window w = s->rq[--s->nrq];
        if (s->groups[w.gi].nstreams == 0)
            continue; /* no stream: nothing to count */
        if (!cwl_ret_settled(&s->groups[w.gi])) { /* note 14: its retention first */
            s->nrq++;
            return false;
        }
        if (w.end <= cwl_ret_floor(&s->groups[w.gi], cwl_wall_ms())) {
            metrics_count(s->cc->metrics, "reconcile_windows_expired", 1);
            continue; /* CloudWatch no longer holds it: a count would say 0 */
        }
        if (!cwl_rec_settled(s, &w)) {
            if (w.repair) { /* a handover's check (note 12): wait until the tail passed it */
                s->nrq++;
                return false;
            }
            continue;
        }
        s->rec = (cwl_rec){.active = true, .gi = w.gi, .start = w.start, .end = w.end};
        /* note 11: a bucket with enough history asks the destination first */
        cwl_group *g = &s->groups[w.gi];
        s->rec.season = g->season && cwl_season_judge(g->season, &s->scfg, w.start, w.end, 0)
                                             .verdict != CWL_SEASON_UNKNOWN;
        return true;
    }
    return false;
}

/* ---- Handover of a group another shard read (note 12) ---------------------------------- */

/* Asks the destination where the pending group `gi` stands and starts it: from its own
 * checkpoint when nothing newer than that reached the destination, else from there. */
static void cwl_handover(cwl_source *s, uint32_t gi)
{
    cwl_group *g = &s->groups[gi];
    bool found;
    int64_t newest;
    char err[512];
    if (cwl_dest_newest(s, g, &found, &newest, err, sizeof err) != SL_OK) {
        cwl_warn(s, "log group %s: asking the destination where it stands: %s; the group is "
                 "not read until it answers", g->name, err);
        metrics_error(s->cc->metrics, "handover_destination");
        g->ho_at = sl_mono_ms() + cwl_backoff(s, SL_MIN(g->ho_fails + 3, 8u));
        g->ho_fails++;
        return;
    }
    int64_t now = cwl_wall_ms(), w = s->cfg->window_minutes * 60000;
    int64_t overlap = s->cfg->overlap_secs * 1000;
    uint32_t checks = 0;
    bool mine = g->ck_cursor >= 0 && (!found || newest < g->ck_cursor);
    pthread_mutex_lock(&s->mu);
    g->pending = false;
    if (mine) { /* nobody delivered anything of it past this replica's cursor */
        cwl_group_resume(s, gi, g->ck_cursor, now);
    } else if (!found) {
        cwl_group_new(s, gi, now);
    } else { /* another replica read it since (or it is new here) */
        /* events up to `newest` reached the destination: the tail goes on from the start
         * of the window holding it (re-read: the _id folds it), the overlap before that
         * too; a long gap is read as repair windows */
        int64_t cursor = SL_MIN(newest, now) / w * w;
        g->cursor = cursor;
        g->started_from = "destination";
        if (now - (cursor - overlap) > 2 * w) {
            cwl_add_range(s, gi, cursor - overlap, now);
            g->cursor = now;
        }
        /* one check of every window before that point, once the tail has passed it: what
         * the previous owner left unread is found by count and read again (popped from the
         * back: newest first) */
        int64_t from = SL_MIN(now - s->cfg->backfill_days * 86400000, cursor - w) / w * w;
        for (int64_t a = from; a < cursor; a += w, checks++) {
            cwl_rq_push(s, gi, a, a + w);
            s->rq[s->nrq - 1].repair = true; /* held until settled (cwl_rec_next) */
        }
        metrics_count(s->cc->metrics, "groups_taken_over", 1);
    }
    char key[600];
    snprintf(key, sizeof key, "live\t%s", g->name);
    ckpt_set(s->ck, key, (uint64_t)g->cursor, NULL);
    s->dirty = true;
    if (s->nwins > 1)
        qsort(s->wins, s->nwins, sizeof *s->wins, cwl_win_cmp);
    g->next_poll = 0;
    pthread_mutex_unlock(&s->mu);
    if (found && !mine)
        log_info(s->cc->id,
                 "log group %s: taken over%s; the destination holds events up to %" PRId64
                 " ms, read on from there (%" PRId64 " s overlap); %" PRIu32
                 " earlier windows to check against it",
                 g->name, g->ck_cursor >= 0 ? " (read by another replica since its checkpoint)" : "",
                 newest, s->cfg->overlap_secs, checks);
}

/* ---- Re-reads a sink's repair asks for (note 13) ------------------------------------------ */

/* Takes the requests posted for this source's groups since it last looked. */
static void cwl_rr_claim(cwl_source *s)
{
    uint64_t gen = reread_generation();
    if (gen == s->rr_gen)
        return;
    s->rr_gen = gen;
    char group[600];
    int64_t from, to;
    bool dry;
    uint64_t id;
    while ((id = reread_claim(s->rr_reader, group, sizeof group, &from, &to, &dry)) != 0) {
        uint32_t gi = cwl_group_find(s, group);
        if (gi == UINT32_MAX) { /* served a moment ago, gone now */
            reread_finish(id, false);
            continue;
        }
        if (s->nrrs == s->caprrs) {
            s->caprrs = s->caprrs ? s->caprrs * 2 : 4;
            s->rrs = sl_xrealloc(s->rrs, s->caprrs * sizeof *s->rrs);
        }
        s->rrs[s->nrrs++] = (cwl_rr){.id = id, .gi = gi, .from = from, .to = to, .dry = dry};
    }
}

static void cwl_rr_drop(cwl_source *s, size_t i)
{
    s->rrs[i] = s->rrs[--s->nrrs];
}

/* ---- Retention (note 14) ------------------------------------------------------------ */

/* What DescribeLogGroups said of one group. */
typedef struct cwl_ret_find {
    const char *name;
    bool found;
    int64_t days;
} cwl_ret_find;

static void cwl_ret_cb(void *arg, const char *name, int64_t retention_days)
{
    cwl_ret_find *f = arg;
    if (strcmp(name, f->name) == 0) {
        f->found = true;
        f->days = retention_days;
    }
}

/* DescribeLogGroups for group gi's retention (the scheduler took the token); on an answer
 * its expired windows are dropped. */
static void cwl_ret_ask(cwl_source *s, uint32_t gi, int64_t now)
{
    cwl_group *g = &s->groups[gi];
    if (cwl_creds_stale(&s->api.creds, cwl_wall_ms()))
        cwl_reload_creds(s);
    /* names come back sorted, so the group itself leads the answer to its own prefix */
    buf_reset(&s->req);
    buf_puts(&s->req, "{\"logGroupNamePrefix\":\"");
    json_escape(&s->req, g->name, strlen(g->name));
    buf_puts(&s->req, "\",\"limit\":1}");
    http_response resp = {0};
    char etype[96], err[512];
    cwl_ret_find f = {g->name, false, 0};
    char *tok = NULL;
    cwl_status st = cwl_call(&s->api, "DescribeLogGroups", s->req.p, s->req.len, &resp, etype,
                             sizeof etype, err, sizeof err);
    if (st == CWL_OK && cwl_parse_groups(resp.body.p, resp.body.len, &s->tmp, cwl_ret_cb, &f,
                                         &tok, err, sizeof err) != SL_OK) {
        metrics_error(s->cc->metrics, "bad_response");
        st = CWL_RETRY;
    }
    free(tok);
    buf_free(&resp.body);
    if (st != CWL_OK) {
        if (st == CWL_AUTH)
            cwl_reload_creds(s);
        g->ret_fails++;
        cwl_warn(s, "log group %s: its retention: %s%s", g->name, err,
                 g->ret_fails == CWL_RET_HOLD_FAILS && g->retention_days < 0
                     ? " (its backfill goes on as if it never expired)" : "");
        metrics_error(s->cc->metrics, st == CWL_THROTTLED ? "throttled" : "retention");
        g->ret_at = now + cwl_backoff(s, g->ret_fails);
        return;
    }
    g->ret_fails = 0;
    g->ret_missing = !f.found;
    if (!f.found) { /* not there (yet): its reads say so; asked again soon */
        g->ret_at = now + CWL_RET_MISSING_MS;
        return;
    }
    pthread_mutex_lock(&s->mu);
    g->retention_days = f.days;
    pthread_mutex_unlock(&s->mu);
    g->ret_at = now + CWL_RET_REFRESH_MS;
    cwl_expire(s, gi);
}

/* The group whose retention is due to be asked, UINT32_MAX none. */
static uint32_t cwl_ret_due(const cwl_source *s, int64_t now)
{
    for (uint32_t i = 0; i < s->ngroups; i++)
        if (s->groups[i].ret_at <= now)
            return i;
    return UINT32_MAX;
}

/* The next claimed request without a plan, once its group's retention is known (note 14):
 * the windows inside it are queued ahead of any other backfill. Returns false when
 * nothing was due. */
static bool cwl_rr_step(cwl_source *s, int64_t now)
{
    cwl_rr *r = NULL;
    for (size_t i = 0; i < s->nrrs && !r; i++)
        if (!s->rrs[i].planned && s->rrs[i].retry_at <= now)
            r = &s->rrs[i];
    if (!r)
        return false;
    cwl_group *g = &s->groups[r->gi];
    if (g->ret_missing) {
        log_warn(s->cc->id, "reread: log group %s not found; nothing read again for the repair",
                 g->name);
        reread_finish(r->id, false);
        cwl_rr_drop(s, (size_t)(r - s->rrs));
        return true;
    }
    if (g->retention_days < 0) { /* not told yet: asked with priority; give up when it fails */
        if (g->ret_fails > 8) {
            log_warn(s->cc->id, "reread: log group %s: its retention is not known; nothing "
                     "read again for the repair", g->name);
            reread_finish(r->id, false);
            cwl_rr_drop(s, (size_t)(r - s->rrs));
            return true;
        }
        r->retry_at = SL_MAX(now + 100, g->ret_at);
        return false;
    }
    int64_t days = g->retention_days;
    int64_t w = s->cfg->window_minutes * 60000;
    sl_reread_plan p;
    reread_clip(r->from, r->to, reread_floor(cwl_wall_ms(), days, SL_REREAD_MARGIN_MS, w), &p);
    p.retention_days = days;
    p.windows = 0;
    snprintf(p.source, sizeof p.source, "CloudWatch");
    if (g->nstreams == 0) /* no stream (note 9): nothing to read, and its windows would wait */
        p.from = p.to;
    if (!r->dry) {
        for (int64_t a = p.from; a < p.to;) {
            int64_t b = SL_MIN((a / w + 1) * w, p.to);
            cwl_add_window(s, r->gi, a, b, false); /* not persisted: a restart ends the repair */
            s->wins[s->nwins - 1].rr = r->id;
            s->wins[s->nwins - 1].repair = true;
            s->nrepairs++;
            p.windows++;
            a = b;
        }
        if (s->nwins > 1)
            qsort(s->wins, s->nwins, sizeof *s->wins, cwl_win_cmp);
        metrics_count(s->cc->metrics, "reread_windows_queued", p.windows);
    }
    char ret[32];
    if (days)
        snprintf(ret, sizeof ret, "%" PRId64 " days", days);
    else
        snprintf(ret, sizeof ret, "never expires");
    log_info(s->cc->id, "reread: log group %s: %s %" PRId64 "..%" PRId64 " again for a repair, %"
             PRIu64 " windows (retention %s; %" PRId64 "..%" PRId64 " not re-read)",
             g->name, r->dry ? "would read" : "reading", p.from, p.to, p.windows, ret, r->from,
             p.from);
    reread_planned(r->id, &p);
    r->planned = true;
    r->left = p.windows;
    r->plan_from = p.from;
    if (r->dry || !p.windows)
        cwl_rr_drop(s, (size_t)(r - s->rrs));
    return true;
}

/* A re-read window committed (delivered): the request is done with its last one. */
static void cwl_rr_committed(cwl_source *s, uint32_t gi, uint64_t id)
{
    metrics_count(s->cc->metrics, "reread_windows_done", 1);
    for (size_t i = 0; i < s->nrrs; i++) {
        cwl_rr *r = &s->rrs[i];
        if (r->id != id || r->gi != gi || !r->planned)
            continue;
        if (r->left && --r->left == 0) {
            log_info(s->cc->id, "reread: log group %s: %" PRId64 "..%" PRId64 " read again "
                     "and delivered", s->groups[gi].name, r->plan_from, r->to);
            reread_finish(id, true);
            cwl_rr_drop(s, i);
        }
        return;
    }
}

/* ---- Scheduling --------------------------------------------------------------------- */

/* Picks and performs one request. Returns ms to sleep when nothing was due (0 = busy). */
static int64_t cwl_schedule(cwl_source *s)
{
    int64_t now = sl_mono_ms();
    /* Each priority takes its token with cwl_bucket_try(reserve): the check and the take are
     * one step, as the bucket may be shared with other sources of the account. Headroom:
     * the live tail needs one token, stream listings and backfill two (when the rate allows),
     * reconciliation three, so lower priorities (of any sharing source) leave tokens for a
     * live tail. The reserves follow the bucket's rate (the smallest of its sharers). */
    int64_t rate = cwl_bucket_rate(s->bucket);
    double reserve2 = rate > 1 ? 2.0 : 1.0, reserve3 = SL_MIN(3.0, (double)rate);
    if (s->cfg->log_group_prefix && *s->cfg->log_group_prefix && now >= s->next_discover &&
        cwl_bucket_try(s->bucket, s->cc->id, 1.0, now) == 0)
        cwl_discover(s);
    /* 1. The live tail: continue the current one, else start the most overdue group. */
    if (!s->live.active) {
        uint32_t best = UINT32_MAX;
        for (uint32_t i = 0; i < s->ngroups; i++)
            if (s->groups[i].next_poll <= now && s->groups[i].nstreams != 0 &&
                !s->groups[i].pending &&
                (best == UINT32_MAX || s->groups[i].next_poll < s->groups[best].next_poll))
                best = i;
        if (best != UINT32_MAX) {
            cwl_group *g = &s->groups[best];
            int64_t wall = cwl_wall_ms();
            s->live = (cwl_job){.active = true, .gi = best,
                                .start = g->cursor - s->cfg->overlap_secs * 1000, .end = wall};
            g->next_poll = now + s->cfg->poll_interval_secs * 1000;
        }
    }
    if (s->live.active && now >= s->live.retry_at) {
        int64_t wt = cwl_bucket_try(s->bucket, s->cc->id, 1.0, sl_mono_ms());
        if (wt > 0)
            return wt;
        cwl_status st = cwl_step(s, &s->live, true);
        if (st == CWL_THROTTLED) { /* slow the lower priorities first */
            /* backfill waits for the live retry and then its own, longer backoff: nothing
             * of lower priority is served while the live tail is being refused */
            int64_t t = sl_mono_ms();
            s->bf_pause_until = SL_MAX(t, s->live.retry_at) + cwl_backoff(s, ++s->bf_throttles);
            metrics_count(s->cc->metrics, "throttled_live", 1);
            metrics_count(s->cc->metrics, "backoff_ms_live", (uint64_t)SL_MAX(0, s->live.retry_at - t));
        }
        return 0;
    }
    /* A sink's repair asks for a re-read (note 13): planned once the group's retention is
     * known (no request of its own); the windows then go ahead of other backfill. */
    cwl_rr_claim(s);
    if (cwl_rr_step(s, now))
        return 0;
    /* Retention (note 14): right after the live tail, with backfill's pause (under
     * throttling nothing of lower priority than the tail is sent). */
    uint32_t rg = now >= s->bf_pause_until ? cwl_ret_due(s, now) : UINT32_MAX;
    if (rg != UINT32_MAX) {
        int64_t wt = cwl_bucket_try(s->bucket, s->cc->id, 1.0, sl_mono_ms());
        if (wt > 0)
            return wt;
        cwl_ret_ask(s, rg, now);
        return 0;
    }
    /* A group taken over waits for the destination's answer (note 12): one question a step,
     * no CloudWatch token needed. */
    if (s->handover) {
        for (uint32_t i = 0; i < s->ngroups; i++) {
            if (s->groups[i].pending && s->groups[i].ho_at <= now) {
                cwl_handover(s, i);
                return 0;
            }
        }
    }
    /* Stream listings (note 9): below the live tail, with backfill's headroom and pause. */
    if (s->cfg->stream_discover_interval_secs > 0 && now >= s->bf_pause_until) {
        if (!s->disc.active) {
            uint32_t best = UINT32_MAX;
            for (uint32_t i = 0; i < s->ngroups; i++)
                if (s->groups[i].next_streams <= now &&
                    (best == UINT32_MAX ||
                     s->groups[i].next_streams < s->groups[best].next_streams))
                    best = i;
            if (best != UINT32_MAX)
                s->disc = (cwl_sjob){.active = true, .gi = best};
        }
        if (s->disc.active && now >= s->disc.retry_at) {
            int64_t wt = cwl_bucket_try(s->bucket, s->cc->id, reserve2, sl_mono_ms());
            if (wt > 0)
                return wt;
            cwl_streams_step(s);
            return 0;
        }
    }
    /* 2. Backfill and repairs of the last recent_days come before reconciliation (3);
     * older backfill (4) after it. */
    int64_t wall = cwl_wall_ms(), recent = s->cfg->recent_days * 86400000;
    bool bf_recent = s->bf.active ? wall - s->bf.end < recent
                                  : cwl_has_window(s) && wall - s->wins[s->nwins - 1].end < recent;
    /* a repair found by reconciliation is read before further checks, however old: the
     * checks would otherwise run round after round and the gap would wait behind them */
    if (s->nrepairs || (s->bf.active && s->bf.repair))
        bf_recent = true;
    /* an implausibly low destination count (note 11) is counted before any backfill */
    if (s->rec.active && s->rec.urgent && now >= s->rec.retry_at && now >= s->bf_pause_until) {
        int64_t wt = cwl_bucket_try(s->bucket, s->cc->id, reserve2, sl_mono_ms());
        if (wt > 0)
            return wt;
        cwl_rec_step(s, &s->rec);
        return 0;
    }
    /* the checks a handover queued (note 12) run without periodic reconciliation too */
    if ((s->cfg->reconcile_interval_secs > 0 || s->nrq || s->rec.active) && !bf_recent &&
        now >= s->bf_pause_until) {
        if (s->cfg->reconcile_interval_secs > 0 && !s->rec.active && !s->nrq &&
            now >= s->next_reconcile) {
            cwl_rec_round(s);
            s->next_reconcile = now + s->cfg->reconcile_interval_secs * 1000;
        }
        if ((s->rec.active || cwl_rec_next(s)) && now >= s->rec.retry_at) {
            if (s->rec.season && !s->rec.have_dst) { /* the destination alone (note 11): */
                cwl_rec_step(s, &s->rec);            /* no CloudWatch token spent */
                return 0;
            }
            /* the lowest priority: the most headroom left in the bucket */
            int64_t wt = cwl_bucket_try(s->bucket, s->cc->id, reserve3, sl_mono_ms());
            if (wt > 0)
                return wt;
            cwl_rec_step(s, &s->rec);
            return 0;
        }
    }
    /* Backfill and repairs, newest first, with one token of headroom for the tail. */
    cwl_window w;
    if (!s->bf.active && now >= s->bf_pause_until && cwl_pop_window(s, &w))
        s->bf = (cwl_job){.active = true, .gi = w.gi, .start = w.start, .end = w.end,
                          .repair = w.repair, .rr = w.rr};
    /* The memory limit (memlimit.h) holds deep history first, then the rest of backfill
     * and repairs; the live tail's pages wait in source_emit only at the last threshold. */
    bool mem_held = s->bf.active &&
                    source_mem_paused(s->ctx, wall - s->bf.end > s->cfg->deep_days * 86400000
                                                  ? SL_MEM_DEEP : SL_MEM_BACKFILL);
    if (s->bf.active && !mem_held && now >= s->bf.retry_at && now >= s->bf_pause_until) {
        int64_t wt = cwl_bucket_try(s->bucket, s->cc->id, reserve2, sl_mono_ms());
        if (wt > 0)
            return wt;
        cwl_status st = cwl_step(s, &s->bf, false);
        if (st == CWL_THROTTLED) {
            /* older classes pause longer: deep history 4x, older 2x */
            int64_t age = cwl_wall_ms() - s->bf.end;
            int64_t mult = age > s->cfg->deep_days * 86400000 ? 4
                           : age > s->cfg->recent_days * 86400000 ? 2 : 1;
            int64_t t = sl_mono_ms();
            s->bf_pause_until = t + mult * cwl_backoff(s, ++s->bf_throttles + 2);
            metrics_count(s->cc->metrics, "throttled_backfill", 1);
            metrics_count(s->cc->metrics, "backoff_ms_backfill",
                          (uint64_t)SL_MAX(0, SL_MAX(s->bf.retry_at, s->bf_pause_until) - t));
        } else if (st == CWL_OK) {
            s->bf_throttles = 0;
        }
        return 0;
    }
    /* Idle until the next due thing. */
    int64_t next = now + 1000;
    for (uint32_t i = 0; i < s->ngroups; i++) {
        if (s->groups[i].pending)
            next = SL_MIN(next, s->groups[i].ho_at);
        else if (s->groups[i].nstreams != 0)
            next = SL_MIN(next, s->groups[i].next_poll);
        if (s->cfg->stream_discover_interval_secs > 0)
            next = SL_MIN(next, SL_MAX(s->groups[i].next_streams, s->bf_pause_until));
    }
    if (s->disc.active)
        next = SL_MIN(next, SL_MAX(s->disc.retry_at, s->bf_pause_until));
    for (size_t i = 0; i < s->nrrs; i++)
        if (!s->rrs[i].planned)
            next = SL_MIN(next, s->rrs[i].retry_at);
    for (uint32_t i = 0; i < s->ngroups; i++)
        next = SL_MIN(next, SL_MAX(s->groups[i].ret_at, s->bf_pause_until));
    if (s->live.active)
        next = SL_MIN(next, s->live.retry_at);
    if (s->bf.active)
        next = SL_MIN(next, SL_MAX(s->bf.retry_at, s->bf_pause_until));
    else if (cwl_has_window(s))
        next = SL_MIN(next, s->bf_pause_until);
    if (s->cfg->reconcile_interval_secs > 0)
        next = SL_MIN(next, s->rec.active ? s->rec.retry_at : s->next_reconcile);
    else if (s->rec.active)
        next = SL_MIN(next, s->rec.retry_at);
    if (mem_held)
        next = SL_MIN(next, now + 100); /* look at the memory limit again soon */
    /* a handover's queued checks are tried again at the latest a second from now */
    return SL_MAX(1, next - now);
}

/* ---- Vtable ------------------------------------------------------------------------- */

static int cwl_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                    size_t errlen)
{
    const cwl_config *cfg = config;
    if (lazylib_need(&lazy_openssl, "SigV4", err, errlen) != SL_OK)
        return SL_ERR_CONFIG;
    if (cfg->log_groups.n == 0 && (!cfg->log_group_prefix || !*cfg->log_group_prefix))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "log_groups or log_group_prefix: at least one is needed");
    for (size_t i = 0; i < cfg->log_groups.n; i++)
        if (!*cfg->log_groups.v[i] || strlen(cfg->log_groups.v[i]) > 512)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "log_groups: bad name '%s'",
                             cfg->log_groups.v[i]);
    if (cfg->log_streams.n && cfg->log_stream_prefix && *cfg->log_stream_prefix)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "log_streams and log_stream_prefix: set one (the API refuses both)");
    for (size_t i = 0; i < cfg->log_streams.n; i++)
        if (!*cfg->log_streams.v[i] || strlen(cfg->log_streams.v[i]) > 512)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "log_streams: bad name '%s'",
                             cfg->log_streams.v[i]);
    if (cfg->reconcile_interval_secs > 0 &&
        (!cfg->reconcile.elasticsearch || !*cfg->reconcile.elasticsearch))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "reconcile_interval_secs: needs reconcile.elasticsearch (the URL "
                         "whose _count is compared)");
    if (cfg->reconcile_interval_secs > 0 &&
        (!cfg->reconcile.index || !*cfg->reconcile.index || !cfg->reconcile.group_field ||
         !*cfg->reconcile.group_field))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "reconcile: index and group_field must not be empty");
    /* note 12: the shard; index < count is checked here, the range of count by its option */
    int64_t shard_ix = 0;
    bool has_ix = cfg->shard.index != NULL, has_n = cfg->shard.count > 0;
    if (has_ix != has_n)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "shard: index and count go together (e.g. shard: { index: "
                         "\"${HOSTNAME}\", count: 3 })");
    if (has_ix && cwl_shard_index(cfg->shard.index, &shard_ix) != 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "shard.index: '%s' is neither a number nor a name ending in "
                         "-<ordinal> (a StatefulSet pod name such as sluice-puller-2)",
                         cfg->shard.index);
    if (has_ix && shard_ix >= cfg->shard.count)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "shard.index: %" PRId64 " (from '%s') must be below shard.count (%" PRId64
                         "): replicas are numbered 0..%" PRId64,
                         shard_ix, cfg->shard.index, cfg->shard.count, cfg->shard.count - 1);
    bool handover = has_ix && cfg->reconcile.elasticsearch && *cfg->reconcile.elasticsearch;
    if (handover && (!cfg->reconcile.index || !*cfg->reconcile.index ||
                     !cfg->reconcile.group_field || !*cfg->reconcile.group_field))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "reconcile: index and group_field must not be empty");
    const struct cwl_seasonal_config *sc = &cfg->reconcile.seasonal;
    cwl_season_cfg scfg = {.window_ms = cfg->window_minutes * 60000,
                           .min_history = (uint32_t)sc->min_history,
                           .half_life_weeks = (double)sc->half_life_weeks,
                           .change_z = (double)sc->change_z,
                           .change_runs = (uint32_t)sc->change_runs};
    if (cfg->reconcile_interval_secs > 0 && sc->enabled) {
        char *end = NULL;
        scfg.threshold = sc->threshold ? strtod(sc->threshold, &end) : 0;
        if (!sc->threshold || end == sc->threshold || *end)
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "reconcile.seasonal.threshold: not a number");
        int rc = cwl_season_cfg_check(&scfg, err, errlen);
        if (rc != SL_OK)
            return rc;
    }
    cwl_source *s = sl_xcalloc(1, sizeof *s);
    s->scfg = scfg;
    s->season_on = cfg->reconcile_interval_secs > 0 && sc->enabled;
    s->sharded = has_ix;
    s->handover = handover;
    s->shard_index = (uint32_t)shard_ix;
    s->shard_count = has_ix ? (uint32_t)cfg->shard.count : 1;
    if (cfg->reconcile_interval_secs > 0 || handover) {
        char e2[300];
        if (url_endpoint_parse(&s->rec_ep, cfg->reconcile.elasticsearch, e2, sizeof e2) != SL_OK) {
            free(s);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "reconcile.elasticsearch: %s", e2);
        }
    }
    s->cfg = cfg;
    s->cc = cc;
    pthread_mutex_init(&s->mu, NULL);
    const char *region = cfg->region && *cfg->region ? cfg->region : getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    if (!region || !*region)
        region = "us-east-1";
    snprintf(s->region, sizeof s->region, "%s", region);
    s->rng = (uint64_t)sl_now_ns() | 1;
    /* unique per instance: a reload's new source may serve before the old one stops */
    snprintf(s->rr_reader, sizeof s->rr_reader, "%s@%p", cc->id, (void *)s);
    /* note 13: the named groups are served from the start, so a repair that begins before
     * this source runs still finds them (its request waits to be claimed) */
    for (size_t i = 0; i < cfg->log_groups.n; i++) {
        const char *name = cfg->log_groups.v[i];
        char slug[256];
        if (!cwl_owns(s, name))
            continue;
        cwl_slug(name, slug, sizeof slug);
        sl_reread_field rf[2] = {{"cloudwatch.log_group", name},
                                 {"cloudwatch.log_group_slug", slug}};
        reread_serve(s->rr_reader, name, rf, 2);
    }
    arena_init(&s->tmp, 64 * 1024);
    *self = s;
    return SL_OK;
}

static int cwl_run(void *self, sl_source_ctx *ctx)
{
    cwl_source *s = self;
    char err[512];
    cwl_bucket *bk = NULL;
    s->ctx = ctx;
    /* Backfill progress (windows queued by this process, loaded ones included, and windows
     * committed): both series exist from the start, so queued - done reads as what is left. */
    metrics_count(s->cc->metrics, "backfill_windows_queued", 0);
    metrics_count(s->cc->metrics, "backfill_windows_done", 0);
    metrics_count(s->cc->metrics, "backfill_windows_expired", 0); /* note 14 */
    int rc = ckpt_open(&s->ck, s->cc->data_dir, s->cc->id, s->cc->metrics, err, sizeof err);
    if (rc != SL_OK) {
        log_error(s->cc->id, "%s", err);
        return rc;
    }
    if (s->season_on) { /* note 11: <id>.season beside <id>.ckpt */
        const char *cp = ckpt_path(s->ck);
        size_t cl = strlen(cp);
        if (cl > 5 && strcmp(cp + cl - 5, ".ckpt") == 0)
            cl -= 5;
        snprintf(s->season_path, sizeof s->season_path, "%.*s.season", (int)cl, cp);
        cwl_season_load(&s->sfile, s->season_path, s->scfg.window_ms, s->cc->id, s->cc->metrics);
        metrics_count(s->cc->metrics, "season_learned", 0);
        metrics_count(s->cc->metrics, "season_implausible", 0);
        metrics_count(s->cc->metrics, "season_rereads", 0);
        metrics_count(s->cc->metrics, "season_repaired", 0);
        metrics_count(s->cc->metrics, "season_skipped", 0);
        metrics_count(s->cc->metrics, "season_resets", 0);
    }
    s->hc = http_client_new();
    cwl_client_init(&s->api, s->hc, s->cfg->endpoint, s->region, s->cfg->http_timeout_secs * 1000);
    while (cwl_creds_load(&s->api.creds, s->hc, s->region, s->cfg->profile,
                          s->cfg->credentials_file, err, sizeof err) != SL_OK) {
        cwl_warn(s, "%s; retrying", err);
        metrics_error(s->cc->metrics, "credentials");
        source_sleep(ctx, 5000);
        if (source_should_stop(ctx))
            goto out;
    }
    log_info(s->cc->id, "credentials from %s; endpoint %s", s->api.creds.from, s->api.url);
    if (s->sharded && !s->handover)
        log_warn(s->cc->id, "shard: no reconcile.elasticsearch, so a group taken over from "
                 "another shard starts as a new group (backfill_days again, or from now)");
    for (size_t i = 0; i < s->cfg->log_groups.n; i++)
        cwl_group_add(s, s->cfg->log_groups.v[i]);
    s->listed = !s->cfg->log_group_prefix || !*s->cfg->log_group_prefix;
    cwl_shard_log(s);
    cwl_persist(s, true);
    /* the account's bucket, keyed by the credentials it started with (cwl_bucket.c note 1) */
    char key[512];
    cwl_bucket_key(key, sizeof key, s->region, s->api.url, &s->api.creds);
    bk = cwl_bucket_get(key, s->cc->id, s->cfg->max_requests_per_sec, sl_mono_ms(), NULL);
    pthread_mutex_lock(&s->mu);
    s->bucket = bk;
    pthread_mutex_unlock(&s->mu);
    s->next_reconcile = sl_mono_ms() + s->cfg->reconcile_interval_secs * 1000;
    if (s->cfg->reconcile_interval_secs > 0)
        log_info(s->cc->id, "reconciling every %" PRId64 " s against %s", s->cfg->reconcile_interval_secs,
                 s->rec_ep.shown);
    /* Positions follow acknowledgements: the live copy as soon as a commit changed the
     * store (paced), the durable copy every checkpoint_interval_ms. */
    sl_ckpt_pace pace;
    ckpt_pace_init(&pace, s->cfg->checkpoint_interval_ms, sl_mono_ms());
    while (!source_should_stop(ctx)) {
        ckpt_pace_committed(&pace, source_collect_acks(ctx, cwl_on_commit, s));
        int64_t wait = cwl_schedule(s);
        ckpt_pace_committed(&pace, source_collect_acks(ctx, cwl_on_commit, s));
        int64_t now = sl_mono_ms();
        cwl_progress_tick(s, now);
        wait = SL_MIN(wait, SL_MAX(1, s->next_tick - now));
        int due = ckpt_pace_due(&pace, now);
        if (due != SL_CKPT_NONE) {
            cwl_persist(s, due == SL_CKPT_DURABLE);
            if (due == SL_CKPT_DURABLE)
                cwl_season_persist(s, false);
            ckpt_pace_written(&pace, due, now);
        }
        if (wait > 0) {
            now = sl_mono_ms();
            wait = SL_MIN(wait, SL_MAX(1, ckpt_pace_wait(&pace, now)));
            if (ack_ledger_pending(source_ledger(ctx)) > 0)
                wait = SL_MIN(wait, 5); /* collect acknowledgements soon after they come */
            source_sleep(ctx, (int)wait);
        }
    }
    size_t left = source_drain_acks(ctx, cwl_on_commit, s);
    if (left)
        log_warn(s->cc->id, "%zu batches not acknowledged at shutdown; they will be read again",
                 left);
    cwl_persist(s, true);
    cwl_season_persist(s, true);
out:
    reread_unserve(s->rr_reader); /* requests still open fail: their repairs copy only */
    pthread_mutex_lock(&s->mu);
    bk = s->bucket;
    s->bucket = NULL;
    pthread_mutex_unlock(&s->mu);
    cwl_bucket_put(bk, s->cc->id);
    cwl_client_free(&s->api);
    http_client_free(s->hc);
    s->hc = NULL;
    ckpt_close(s->ck);
    s->ck = NULL;
    return SL_OK;
}

static void cwl_destroy(void *self)
{
    cwl_source *s = self;
    if (!s)
        return;
    reread_unserve(s->rr_reader); /* also when it never ran */
    for (uint32_t i = 0; i < s->ngroups; i++) {
        free(s->groups[i].name);
        free(s->groups[i].seen);
        free(s->groups[i].tab);
        free(s->groups[i].season);
    }
    cwl_season_file_free(&s->sfile);
    free(s->groups);
    free(s->wins);
    free(s->live.token);
    free(s->bf.token);
    free(s->rec.token);
    free(s->disc.token);
    free(s->rq);
    free(s->rrs);
    free(s->others);
    buf_free(&s->rec_url);
    url_endpoint_free(&s->rec_ep);
    buf_free(&s->req);
    arena_free(&s->tmp);
    ckpt_close(s->ck);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const sl_source_vtable sl_source_cloudwatch_logs = {
    .type = "cloudwatch_logs",
    .help = "Streams and backfills AWS CloudWatch Logs groups (FilterLogEvents, streams listed "
            "with DescribeLogStreams), with "
            "priorities, throttling backoff and checkpoints after delivery",
    .options = cwl_options,
    .config_size = sizeof(cwl_config),
    .init = cwl_init,
    .run = cwl_run,
    .destroy = cwl_destroy,
    .status_json = cwl_status_json,
};
