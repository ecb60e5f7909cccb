/* fuzz_cloudwatch.c - libFuzzer target for the CloudWatch Logs response parsing: the
 * FilterLogEvents page (events and reconciliation counts), the DescribeLogGroups page, the
 * Elasticsearch _count and newest-@timestamp answers and error classification. Every appended
 * event must carry its id and the cloudwatch fields; nothing may read out of bounds. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/cloudwatch/cwl.h"

static void on_group(void *arg, const char *name, int64_t retention_days)
{
    size_t *n = arg;
    if (!name[0] || retention_days < 0 || retention_days > 36500)
        abort();
    (*n)++;
}

static void on_stream(void *arg, const cwl_stream_info *si)
{
    if (!si->name[0] || strlen(si->name) > 512 || si->last_event_ms < 0 || si->last_ingestion_ms < 0)
        abort();
    ++*(size_t *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (size)
        memcpy(s, data, size);
    sl_arena tmp;
    arena_init(&tmp, 4096);
    sl_batch *b = batch_new(16);
    cwl_group_strs g = {SL_STR("/aws/lambda/x"), SL_STR("aws-lambda-x")};
    cwl_page pg;
    char err[256];
    uint64_t cnt = 0;
    char *ctok = NULL;
    int crc = cwl_parse_count(s, size, &tmp, &cnt, &ctok, err, sizeof err);
    free(ctok);
    if (cwl_parse_filter(s, size, b, &g, size && (data[0] & 1), &tmp, &pg, err, sizeof err) == 0) {
        if (pg.n != b->n || crc != 0 || cnt != pg.n) /* the count is what would be sent */
            abort();
        for (uint32_t i = 0; i < b->n; i++)
            if (!b->events[i].id_str.len ||
                !event_get(&b->events[i], "cloudwatch.event_id", 19) ||
                !event_get(&b->events[i], "cloudwatch.log_group", 20))
                abort();
        free(pg.next_token);
    } else if (b->n) {
        abort(); /* a rejected answer appends nothing */
    }
    batch_release(b);
    size_t n = 0;
    char *tok = NULL;
    if (cwl_parse_groups(s, size, &tmp, on_group, &n, &tok, err, sizeof err) == 0)
        free(tok);
    if (cwl_parse_streams(s, size, &tmp, on_stream, &n, &tok, err, sizeof err) == 0)
        free(tok);
    cwl_parse_es_count(s, size, &tmp, &cnt, err, sizeof err);
    bool found = true;
    int64_t newest = -1;
    if (cwl_parse_es_newest(s, size, &tmp, &found, &newest, err, sizeof err) == 0 &&
        (newest < 0 || (!found && newest != 0)))
        abort();
    char etype[64];
    cwl_classify(size ? 400 + data[0] % 200 : 0, s, size, etype, sizeof etype);
    if (strlen(etype) >= sizeof etype)
        abort();
    arena_free(&tmp);
    free(s);
    return 0;
}
