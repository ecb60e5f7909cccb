/* from_env.c - builds a pipeline from the environment variables of a system sluice
 * replaces, for `sluice run` without -c and for `sluice config from-env`:
 *   LOG_GROUPS set: the CloudWatch-to-Elasticsearch streamer (cloudwatch_logs -> elasticsearch);
 *   FLUENTD_SHARED_KEY or DASH0_LOGS_ENDPOINT set: the Fluentd aggregator (forward and http
 *   -> disk buffer -> otlp to Dash0, Redis failover);
 *   CFG_PATH set: logfowd2's config.json (logfowd.h).
 * Each is YAML text handed to the ordinary config loader, so what runs is what prints. */
#include "cli/from_env.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "cli/logfowd.h"
#include "cli/options.h"
#include "cli/yaml_quote.h"
#include "core/common.h"

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
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

/* The CloudWatch-to-Elasticsearch streamer (LOG_GROUPS set). */
static char *cloudwatch_config(const char *groups)
{
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
    yaml_quote(&y, dir);
    const char *api = getenv("SLUICE_API_ADDRESS"); /* not the streamer's; ours, optional */
    if (api && *api) {
        buf_puts(&y, "\napi: { address: ");
        yaml_quote(&y, api);
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
            yaml_quote(&y, g);
        }
        p += l;
        if (*p == ',')
            p++;
    }
    buf_puts(&y, "]\n    region: ");
    yaml_quote(&y, env_or("AWS_REGION", env_or("AWS_DEFAULT_REGION", "us-east-1")));
    /* the SDKs' endpoint override, for compatible servers and tests */
    const char *ep = env_or("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", env_or("AWS_ENDPOINT_URL", NULL));
    if (ep) {
        buf_puts(&y, "\n    endpoint: ");
        yaml_quote(&y, ep);
    }
    buf_printf(&y,
               "\n    poll_interval_secs: %ld\n    backfill_days: %ld\n"
               "    http_timeout_secs: %ld\n    backoff_base_ms: %ld\n    backoff_max_ms: %ld\n",
               env_num("POLL_INTERVAL_SECS", 15), env_num("BACKFILL_DAYS", 30),
               env_num("HTTP_TIMEOUT_SECS", 30), env_num("BACKOFF_BASE_MS", 200),
               env_num("BACKOFF_MAX_MS", 10000));
    /* SHARD_COUNT (ours): replicas split the groups; the index is SHARD_INDEX, else the
     * pod name's ordinal (HOSTNAME in a StatefulSet) */
    long shards = env_num("SHARD_COUNT", 0);
    if (shards > 0) {
        buf_puts(&y, "    shard: { index: ");
        yaml_quote(&y, env_or("SHARD_INDEX", env_or("HOSTNAME", "0")));
        buf_printf(&y, ", count: %ld }\n", shards);
    }
    long rec = env_num("RECONCILE_INTERVAL_SECS", 0);
    /* counts compared in the same indices the sink writes; a shard also asks them where a
     * group it takes over stands */
    if (rec > 0 || shards > 0) {
        if (rec > 0)
            buf_printf(&y, "    reconcile_interval_secs: %ld\n", rec);
        buf_puts(&y, "    reconcile:\n      elasticsearch: ");
        yaml_quote(&y, env_or("ES_HOST", "http://localhost:9200"));
        sl_buf ri = SL_BUF_INIT;
        buf_puts(&ri, env_or("INDEX_PREFIX", "cloudwatch"));
        buf_puts(&ri, "-{{ cloudwatch.log_group_slug }}");
        buf_putc(&ri, '\0');
        buf_puts(&y, "\n      index: ");
        yaml_quote(&y, ri.p);
        buf_free(&ri);
        buf_puts(&y, "\n      user: ");
        yaml_quote(&y, env_or("ES_USER", "elastic"));
        buf_puts(&y, "\n      password: ");
        yaml_quote(&y, env_or("ES_PASS", "changeme"));
        buf_putc(&y, '\n');
    }
    buf_puts(&y, "sinks:\n  elasticsearch:\n    type: elasticsearch\n    inputs: [cloudwatch]\n"
                 "    endpoint: ");
    yaml_quote(&y, env_or("ES_HOST", "http://localhost:9200"));
    buf_puts(&y, "\n    index: ");
    sl_buf idx = SL_BUF_INIT;
    buf_puts(&idx, env_or("INDEX_PREFIX", "cloudwatch"));
    buf_puts(&idx, "-{{ cloudwatch.log_group_slug }}");
    buf_putc(&idx, '\0');
    yaml_quote(&y, idx.p);
    buf_free(&idx);
    buf_puts(&y, "\n    auth: { user: ");
    yaml_quote(&y, env_or("ES_USER", "elastic"));
    buf_puts(&y, ", password: ");
    yaml_quote(&y, env_or("ES_PASS", "changeme"));
    long bs = env_num("BATCH_SIZE", 100), mif = env_num("MAX_IN_FLIGHT", 2);
    buf_printf(&y, " }\n    batch: { max_events: %ld }\n    concurrency: %ld\n", bs ? bs : 100,
               mif ? mif : 2);
    /* the streamer's layout: the stable name is an alias over versioned data streams,
     * and mapping conflicts are healed (SCHEMA_HEAL=off|dry_run to change that) */
    buf_puts(&y, "    versioned: true\n    schema_heal: ");
    yaml_quote(&y, env_or("SCHEMA_HEAL", "on"));
    buf_putc(&y, '\n');
    /* the streamer's refresh policy (on by default there; ES_REFRESH_TUNE_INTERVAL_SECS=0
     * turns it off) */
    buf_printf(&y, "    refresh_tuning: { every: %lds, cold_age_days: %ld, hot_interval: ",
               env_num("ES_REFRESH_TUNE_INTERVAL_SECS", 3600), env_num("ES_COLD_AGE_DAYS", 7));
    yaml_quote(&y, env_or("ES_HOT_REFRESH_INTERVAL", "1s"));
    buf_puts(&y, ", cold_interval: ");
    yaml_quote(&y, env_or("ES_COLD_REFRESH_INTERVAL", "30s"));
    buf_puts(&y, " }\n");
    buf_putc(&y, '\0');
    return y.p;
}

/* The Fluentd aggregator: its ports are fixed (the Fluent Bit senders, the load balancer
 * and the Prometheus scrape know them), so only what the seed reads from the environment
 * is read here. The Redis failover exists only with REDIS_HOST: a spill list the otlp sink
 * falls back to while Dash0 is down, read back into it once its circuit closes. */
static char *fluentd_config(void)
{
    sl_buf y = SL_BUF_INIT;
    buf_puts(&y, "# sluice configuration equivalent to the Fluentd aggregator's environment variables\n"
                 "data_dir: ");
    yaml_quote(&y, env_or("SLUICE_DATA_DIR", "/var/lib/sluice"));
    buf_puts(&y, "\n# 24220: Fluentd's monitor_agent (/api/plugins.json); 9880: Prometheus (/metrics)\n"
                 "api: { address: [\"0.0.0.0:24220\", \"0.0.0.0:9880\"] }\nsources:\n");
    const char *key = getenv("FLUENTD_SHARED_KEY"), *host = getenv("HOSTNAME");
    const char *cert = getenv("TLS_CERT_PATH"), *pkey = getenv("TLS_KEY_PATH");
    const char *ca = getenv("TLS_CA_PATH");
    bool tls = cert && *cert && pkey && *pkey;
    for (int t = 0; t < 2; t++) {
        if (t == 1 && !tls) {
            buf_puts(&y, "  # no TLS_CERT_PATH and TLS_KEY_PATH: no TLS listener on 24225\n");
            break;
        }
        buf_printf(&y, "  %s:\n    type: forward\n    address: \"0.0.0.0:%d\"\n",
                   t ? "forward_tls" : "forward", t ? 24225 : 24224);
        if (key && *key) {
            buf_puts(&y, "    shared_key: ");
            yaml_quote(&y, key);
            buf_putc(&y, '\n');
        }
        if (host && *host) {
            buf_puts(&y, "    self_hostname: ");
            yaml_quote(&y, host);
            buf_putc(&y, '\n');
        }
        if (t == 1) {
            buf_puts(&y, "    tls:\n      cert_file: ");
            yaml_quote(&y, cert);
            buf_puts(&y, "\n      key_file: ");
            yaml_quote(&y, pkey);
            if (ca && *ca) {
                buf_puts(&y, "\n      ca_file: ");
                yaml_quote(&y, ca);
            }
            buf_putc(&y, '\n');
        }
    }
    buf_puts(&y, "  http:\n    type: http\n    address: \"0.0.0.0:8888\"\n");
    const char *rhost = getenv("REDIS_HOST"), *rpass = getenv("REDIS_PASSWORD");
    bool redis = rhost && *rhost;
    char raddr[600];
    if (redis) {
        const char *rport = env_or("REDIS_PORT", "6379");
        snprintf(raddr, sizeof raddr, strchr(rhost, ':') ? "[%s]:%s" : "%s:%s", rhost, rport);
        buf_puts(&y, "  redis_retry: # the failover list, read back into dash0 once it takes events again\n"
                     "    type: redis\n    address: ");
        yaml_quote(&y, raddr);
        if (rpass && *rpass) {
            buf_puts(&y, "\n    password: ");
            yaml_quote(&y, rpass);
        }
        buf_puts(&y, "\n    key: \"" FROM_ENV_REDIS_KEY "\"\n    pause_while_open: dash0\n");
    }
    buf_printf(&y, "sinks:\n  dash0:\n    type: otlp\n    inputs: [forward%s, http%s]\n"
                   "    endpoint: ", tls ? ", forward_tls" : "", redis ? ", redis_retry" : "");
    yaml_quote(&y, env_or("DASH0_LOGS_ENDPOINT", "https://ingress.us-west-2.aws.dash0.com/v1/logs"));
    buf_puts(&y, "\n    headers:\n");
    const char *apikey = getenv("DASH0_API_KEY");
    if (apikey && *apikey) {
        sl_buf b = SL_BUF_INIT;
        buf_printf(&b, "Bearer %s", apikey);
        buf_putc(&b, '\0');
        buf_puts(&y, "      Authorization: ");
        yaml_quote(&y, b.p);
        buf_putc(&y, '\n');
        buf_free(&b);
    }
    buf_puts(&y, "      Dash0-Dataset: ");
    yaml_quote(&y, env_or("DASH0_DATASET", "default"));
    buf_puts(&y, "\n    resource:\n      service.name: ");
    yaml_quote(&y, env_or("SERVICE_NAME", "emp-job-queue"));
    buf_puts(&y, "\n      deployment.environment: ");
    yaml_quote(&y, env_or("NODE_ENV", "development"));
    buf_puts(&y, "\n    buffer: { type: disk }\n");
    if (redis) {
        buf_puts(&y, "    fallback: redis_failover\n  redis_failover:\n    type: redis\n    address: ");
        yaml_quote(&y, raddr);
        if (rpass && *rpass) {
            buf_puts(&y, "\n    password: ");
            yaml_quote(&y, rpass);
        }
        buf_puts(&y, "\n    key: \"" FROM_ENV_REDIS_KEY "\"\n");
    }
    buf_putc(&y, '\0');
    return y.p;
}

char *from_env_config(const char **what, sl_buf *notes, char *err, size_t errlen)
{
    const char *v = getenv("LOG_GROUPS");
    *err = '\0';
    if (v && *v) {
        *what = "<environment: LOG_GROUPS>";
        return cloudwatch_config(v);
    }
    const char *k = getenv("FLUENTD_SHARED_KEY"), *e = getenv("DASH0_LOGS_ENDPOINT");
    if ((k && *k) || (e && *e)) {
        *what = k && *k ? "<environment: FLUENTD_SHARED_KEY>" : "<environment: DASH0_LOGS_ENDPOINT>";
        return fluentd_config();
    }
    v = getenv("CFG_PATH");
    if (v && *v) {
        *what = v;
        char *y = NULL;
        if (logfowd_translate_file(v, &y, notes, err, errlen) != SL_OK)
            return NULL;
        return y;
    }
    return NULL;
}

static const cli_opt config_cmd_opts[] = {{0}};

static const cli_cmd config_cmd = {
    "config",
    "usage: sluice config from-env\n"
    "       sluice config convert FILE\n"
    "from-env prints the configuration that `sluice run` without -c builds from the\n"
    "environment, the first of:\n"
    "  LOG_GROUPS set: the CloudWatch-to-Elasticsearch streamer (AWS_REGION,\n"
    "    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, ES_HOST, ES_USER, ES_PASS, INDEX_PREFIX,\n"
    "    BATCH_SIZE, MAX_IN_FLIGHT, POLL_INTERVAL_SECS, BACKFILL_DAYS, CHECKPOINT_PATH,\n"
    "    RECONCILE_INTERVAL_SECS, HTTP_TIMEOUT_SECS, BACKOFF_BASE_MS, BACKOFF_MAX_MS,\n"
    "    ES_HOT_REFRESH_INTERVAL, ES_COLD_REFRESH_INTERVAL, ES_COLD_AGE_DAYS,\n"
    "    ES_REFRESH_TUNE_INTERVAL_SECS, SCHEMA_HEAL, SLUICE_API_ADDRESS, SHARD_COUNT,\n"
    "    SHARD_INDEX);\n"
    "  FLUENTD_SHARED_KEY or DASH0_LOGS_ENDPOINT set: the Fluentd aggregator (DASH0_API_KEY,\n"
    "    DASH0_DATASET, SERVICE_NAME, NODE_ENV, HOSTNAME, TLS_CERT_PATH, TLS_KEY_PATH,\n"
    "    TLS_CA_PATH, REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, SLUICE_DATA_DIR);\n"
    "  CFG_PATH set: logfowd2's config.json.\n"
    "convert prints the configuration equivalent to logfowd2's config.json FILE\n"
    "(`sluice run -c FILE` runs it directly).\n",
    config_cmd_opts, 2};

int from_env_cli(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(&config_cmd, argc, argv, &a);
    if (rc != CLI_GO)
        return rc;
    bool convert = a.nargs == 2 && strcmp(a.arg[0], "convert") == 0;
    if (!convert && (a.nargs != 1 || strcmp(a.arg[0], "from-env") != 0)) {
        if (a.nargs == 0)
            return cli_usage_error(&config_cmd, "from-env or convert?");
        if (strcmp(a.arg[0], "convert") == 0)
            return cli_usage_error(&config_cmd, "convert needs a FILE");
        if (strcmp(a.arg[0], "from-env") == 0)
            return cli_usage_error(&config_cmd, "unexpected argument '%s'", a.arg[1]);
        return cli_usage_error(&config_cmd, "unknown command '%s' (from-env, convert)",
                               a.arg[0]);
    }
    char err[1024];
    const char *what = NULL;
    char *y = NULL;
    sl_buf notes = SL_BUF_INIT; /* the translation's remarks go to stderr, the YAML to stdout */
    if (convert) {
        if (logfowd_translate_file(a.arg[1], &y, &notes, err, sizeof err) != SL_OK) {
            fprintf(stderr, "sluice: %s\n", err);
            buf_free(&notes);
            return 1;
        }
    } else {
        y = from_env_config(&what, &notes, err, sizeof err);
        if (!y) {
            buf_free(&notes);
            fprintf(stderr, "sluice: %s\n",
                    *err ? err : "none of LOG_GROUPS, FLUENTD_SHARED_KEY, DASH0_LOGS_ENDPOINT, "
                                 "CFG_PATH is set");
            return 1;
        }
    }
    if (notes.len)
        fwrite(notes.p, 1, notes.len, stderr);
    buf_free(&notes);
    fputs(y, stdout);
    free(y);
    return 0;
}
