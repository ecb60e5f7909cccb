/* from_env.c - builds the cloudwatch_logs -> elasticsearch pipeline from the environment
 * variables of the streamer sluice replaces, for `sluice run` without -c and for
 * `sluice config from-env`. */
#include "cli/from_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/common.h"

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* A double-quoted YAML scalar; '$' doubled so ${...} expansion leaves it alone. */
static void yaml_str(sl_buf *out, const char *s)
{
    buf_putc(out, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf_putc(out, '\\');
            buf_putc(out, (char)c);
        } else if (c == '$') {
            buf_puts(out, "$$");
        } else if (c < 0x20) {
            buf_printf(out, "\\x%02x", c);
        } else {
            buf_putc(out, (char)c);
        }
    }
    buf_putc(out, '"');
}

/* A whole number from the environment, or the default when unset or not a number. */
static long env_num(const char *name, long def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n < 0 ? def : n;
}

char *from_env_config(void)
{
    const char *groups = getenv("LOG_GROUPS");
    if (!groups || !*groups)
        return NULL;
    sl_buf y = SL_BUF_INIT;
    buf_puts(&y, "# sluice configuration equivalent to the streamer's environment variables\n");
    /* CHECKPOINT_PATH named a file; its directory becomes the data_dir. */
    const char *ck = env_or("CHECKPOINT_PATH", "/state/checkpoints.json");
    const char *slash = strrchr(ck, '/');
    char dir[1024];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == ck)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - ck), ck);
    buf_puts(&y, "data_dir: ");
    yaml_str(&y, dir);
    const char *api = getenv("SLUICE_API_ADDRESS"); /* not the streamer's; ours, optional */
    if (api && *api) {
        buf_puts(&y, "\napi: { address: ");
        yaml_str(&y, api);
        buf_puts(&y, " }");
    }
    buf_puts(&y, "\nsources:\n  cloudwatch:\n    type: cloudwatch_logs\n    log_groups: [");
    int n = 0;
    for (const char *p = groups; *p;) {
        size_t l = strcspn(p, ",");
        while (l && (*p == ' ' || *p == '\t')) {
            p++;
            l--;
        }
        size_t t = l;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t) {
            char g[1024];
            snprintf(g, sizeof g, "%.*s", (int)SL_MIN(t, sizeof g - 1), p);
            if (n++)
                buf_puts(&y, ", ");
            yaml_str(&y, g);
        }
        p += l;
        if (*p == ',')
            p++;
    }
    buf_puts(&y, "]\n    region: ");
    yaml_str(&y, env_or("AWS_REGION", env_or("AWS_DEFAULT_REGION", "us-east-1")));
    /* the SDKs' endpoint override, for compatible servers and tests */
    const char *ep = env_or("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", env_or("AWS_ENDPOINT_URL", NULL));
    if (ep) {
        buf_puts(&y, "\n    endpoint: ");
        yaml_str(&y, ep);
    }
    buf_printf(&y,
               "\n    poll_interval_secs: %ld\n    backfill_days: %ld\n"
               "    http_timeout_secs: %ld\n    backoff_base_ms: %ld\n    backoff_max_ms: %ld\n",
               env_num("POLL_INTERVAL_SECS", 15), env_num("BACKFILL_DAYS", 30),
               env_num("HTTP_TIMEOUT_SECS", 30), env_num("BACKOFF_BASE_MS", 200),
               env_num("BACKOFF_MAX_MS", 10000));
    long rec = env_num("RECONCILE_INTERVAL_SECS", 0);
    if (rec > 0) { /* counts compared in the same indices the sink writes */
        buf_printf(&y, "    reconcile_interval_secs: %ld\n    reconcile:\n      elasticsearch: ", rec);
        yaml_str(&y, env_or("ES_HOST", "http://localhost:9200"));
        sl_buf ri = SL_BUF_INIT;
        buf_puts(&ri, env_or("INDEX_PREFIX", "cloudwatch"));
        buf_puts(&ri, "-{{ cloudwatch.log_group_slug }}");
        buf_putc(&ri, '\0');
        buf_puts(&y, "\n      index: ");
        yaml_str(&y, ri.p);
        buf_free(&ri);
        buf_puts(&y, "\n      user: ");
        yaml_str(&y, env_or("ES_USER", "elastic"));
        buf_puts(&y, "\n      password: ");
        yaml_str(&y, env_or("ES_PASS", "changeme"));
        buf_putc(&y, '\n');
    }
    buf_puts(&y, "sinks:\n  elasticsearch:\n    type: elasticsearch\n    inputs: [cloudwatch]\n"
                 "    endpoint: ");
    yaml_str(&y, env_or("ES_HOST", "http://localhost:9200"));
    buf_puts(&y, "\n    index: ");
    sl_buf idx = SL_BUF_INIT;
    buf_puts(&idx, env_or("INDEX_PREFIX", "cloudwatch"));
    buf_puts(&idx, "-{{ cloudwatch.log_group_slug }}");
    buf_putc(&idx, '\0');
    yaml_str(&y, idx.p);
    buf_free(&idx);
    buf_puts(&y, "\n    auth: { user: ");
    yaml_str(&y, env_or("ES_USER", "elastic"));
    buf_puts(&y, ", password: ");
    yaml_str(&y, env_or("ES_PASS", "changeme"));
    long bs = env_num("BATCH_SIZE", 100), mif = env_num("MAX_IN_FLIGHT", 2);
    buf_printf(&y, " }\n    batch: { max_events: %ld }\n    concurrency: %ld\n", bs ? bs : 100,
               mif ? mif : 2);
    buf_putc(&y, '\0');
    return y.p;
}

int from_env_cli(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "from-env") != 0 || argc > 1) {
        fputs("usage: sluice config from-env\n"
              "Prints the configuration that `sluice run` without -c uses when LOG_GROUPS is set\n"
              "(the environment variables of the CloudWatch-to-Elasticsearch streamer: LOG_GROUPS,\n"
              "AWS_REGION, ES_HOST, ES_USER, ES_PASS, INDEX_PREFIX, BATCH_SIZE, MAX_IN_FLIGHT,\n"
              "POLL_INTERVAL_SECS, BACKFILL_DAYS, CHECKPOINT_PATH, RECONCILE_INTERVAL_SECS,\n"
              "HTTP_TIMEOUT_SECS, BACKOFF_BASE_MS, BACKOFF_MAX_MS).\n",
              argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) ? stdout
                                                                                        : stderr);
        return argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) ? 0 : 2;
    }
    char *y = from_env_config();
    if (!y) {
        fputs("sluice: LOG_GROUPS is not set\n", stderr);
        return 1;
    }
    fputs(y, stdout);
    free(y);
    return 0;
}
