/* kafka_mock.c - a Kafka cluster for the tests: librdkafka's mock cluster (brokers on
 * loopback ports speaking the real protocol, topics, consumer groups, offset commits)
 * behind a line protocol on stdin, so a test can inject errors and outages.
 *
 *   kafka_mock [BROKERS]        (default 3)
 *
 * Prints the bootstrap servers ("127.0.0.1:p1,127.0.0.1:p2,...") as its first line, then
 * answers each command with one line, "ok" or "error <why>":
 *
 *   topic NAME PARTITIONS          create a topic (others are auto-created, 4 partitions)
 *   errors API COUNT ERR           the next COUNT requests of API fail with Kafka error ERR
 *   clear API                      drop the errors still queued for API
 *   topic_error NAME ERR           metadata answers ERR for the topic (0 = none)
 *   down ID | up ID                broker ID (1..BROKERS) goes down / comes back
 *   rtt ID MS                      broker ID answers MS ms late
 *   leader NAME PARTITION ID       move a partition's leader
 *   committed GROUP NAME PARTITIONS  answers "ok O0 O1 ..." : the group's committed offsets
 *                                  (-1 none), fetched as any client would (OffsetFetch)
 *   watermarks NAME PARTITIONS     answers "ok L0:H0 L1:H1 ...": each partition's log start
 *                                  and end offsets (ListOffsets). The mock keeps about 5 MB
 *                                  per partition and deletes the oldest batches beyond it
 *                                  (as retention would): a log start above 0 says so.
 *
 * API is a name (produce, fetch, offsetcommit, offsetfetch, metadata, joingroup,
 * heartbeat, syncgroup, findcoordinator, initproducerid) or the numeric ApiKey; ERR a
 * name (e.g. NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT, MSG_SIZE_TOO_LARGE) or a
 * number. Runs until stdin reaches EOF or SIGTERM/SIGINT.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static const struct {
    const char *name;
    int16_t key;
} apis[] = {
    /* Kafka's ApiKeys (the protocol's numbers; librdkafka keeps its names private) */
    {"produce", 0},       {"fetch", 1},           {"listoffsets", 2},  {"metadata", 3},
    {"offsetcommit", 8},  {"offsetfetch", 9},     {"findcoordinator", 10},
    {"joingroup", 11},    {"heartbeat", 12},      {"leavegroup", 13},  {"syncgroup", 14},
    {"initproducerid", 22},
};

static int parse_api(const char *s, int16_t *out)
{
    for (size_t i = 0; i < sizeof apis / sizeof apis[0]; i++)
        if (strcasecmp(s, apis[i].name) == 0) {
            *out = apis[i].key;
            return 0;
        }
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 100)
        return -1;
    *out = (int16_t)v;
    return 0;
}

/* A Kafka error by name (as rd_kafka_err2name prints it, without the leading '_' of
 * librdkafka's local errors) or number. */
static int parse_err(const char *s, rd_kafka_resp_err_t *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s != '\0' && *end == '\0') {
        *out = (rd_kafka_resp_err_t)v;
        return 0;
    }
    const struct rd_kafka_err_desc *d;
    size_t n;
    rd_kafka_get_err_descs(&d, &n);
    for (size_t i = 0; i < n; i++)
        if (d[i].name && d[i].code > 0 && strcasecmp(d[i].name, s) == 0) {
            *out = d[i].code;
            return 0;
        }
    return -1;
}

/* A client of the cluster that asks what any client would (a consumer in group when group
 * is set, else a producer). NULL with "error <why>" in ans. The caller destroys it. */
static rd_kafka_t *client(rd_kafka_mock_cluster_t *mc, const char *group, char *ans, size_t anslen)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK ||
        (group && rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr) !=
                      RD_KAFKA_CONF_OK)) {
        rd_kafka_conf_destroy(conf);
        snprintf(ans, anslen, "error %s", errstr);
        return NULL;
    }
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t *c = rd_kafka_new(group ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, errstr,
                                 sizeof errstr);
    if (!c)
        snprintf(ans, anslen, "error %s", errstr);
    return c;
}

/* The committed offsets of a group, read with a consumer that never joins it. */
static void committed(rd_kafka_mock_cluster_t *mc, const char *group, const char *topic, int n,
                      char *ans, size_t anslen)
{
    rd_kafka_t *c = client(mc, group, ans, anslen);
    if (!c)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topic, i);
    rd_kafka_resp_err_t err = rd_kafka_committed(c, l, 10000);
    if (err) {
        snprintf(ans, anslen, "error %s", rd_kafka_err2str(err));
    } else {
        size_t len = (size_t)snprintf(ans, anslen, "ok");
        for (int i = 0; i < l->cnt && len < anslen; i++)
            len += (size_t)snprintf(ans + len, anslen - len, " %lld",
                                    l->elems[i].offset < 0 ? -1LL : (long long)l->elems[i].offset);
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(c);
}

/* The log start and end offsets of a topic's partitions, queried as any client would. */
static void watermarks(rd_kafka_mock_cluster_t *mc, const char *topic, int n, char *ans,
                       size_t anslen)
{
    rd_kafka_t *c = client(mc, NULL, ans, anslen);
    if (!c)
        return;
    size_t len = (size_t)snprintf(ans, anslen, "ok");
    for (int i = 0; i < n && len < anslen; i++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(c, topic, i, &lo, &hi, 10000);
        if (err) {
            snprintf(ans, anslen, "error partition %d: %s", i, rd_kafka_err2str(err));
            break;
        }
        len += (size_t)snprintf(ans + len, anslen - len, " %lld:%lld", (long long)lo, (long long)hi);
    }
    rd_kafka_destroy(c);
}

/* Runs one command line; writes the answer into ans. */
static void command(rd_kafka_mock_cluster_t *mc, int nbrokers, char *line, char *ans, size_t anslen)
{
    char *argv[8];
    int argc = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok && argc < 8; tok = strtok(NULL, " \t\r\n"))
        argv[argc++] = tok;
    snprintf(ans, anslen, "ok");
    if (argc == 0)
        return;
    const char *cmd = argv[0];
    int16_t api;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (strcmp(cmd, "topic") == 0 && argc == 3) {
        err = rd_kafka_mock_topic_create(mc, argv[1], atoi(argv[2]), nbrokers < 3 ? nbrokers : 3);
    } else if (strcmp(cmd, "errors") == 0 && argc == 4) {
        rd_kafka_resp_err_t e;
        long cnt = atol(argv[2]);
        if (parse_api(argv[1], &api) != 0 || parse_err(argv[3], &e) != 0 || cnt <= 0) {
            snprintf(ans, anslen, "error bad api, count or error");
            return;
        }
        for (long i = 0; i < cnt; i++)
            rd_kafka_mock_push_request_errors(mc, api, 1, e);
    } else if (strcmp(cmd, "clear") == 0 && argc == 2) {
        if (parse_api(argv[1], &api) != 0) {
            snprintf(ans, anslen, "error bad api");
            return;
        }
        rd_kafka_mock_clear_request_errors(mc, api);
    } else if (strcmp(cmd, "topic_error") == 0 && argc == 3) {
        rd_kafka_resp_err_t e;
        if (parse_err(argv[2], &e) != 0) {
            snprintf(ans, anslen, "error bad error");
            return;
        }
        rd_kafka_mock_topic_set_error(mc, argv[1], e);
    } else if (strcmp(cmd, "down") == 0 && argc == 2) {
        err = rd_kafka_mock_broker_set_down(mc, atoi(argv[1]));
    } else if (strcmp(cmd, "up") == 0 && argc == 2) {
        err = rd_kafka_mock_broker_set_up(mc, atoi(argv[1]));
    } else if (strcmp(cmd, "rtt") == 0 && argc == 3) {
        err = rd_kafka_mock_broker_set_rtt(mc, atoi(argv[1]), atoi(argv[2]));
    } else if (strcmp(cmd, "committed") == 0 && argc == 4) {
        committed(mc, argv[1], argv[2], atoi(argv[3]), ans, anslen);
        return;
    } else if (strcmp(cmd, "watermarks") == 0 && argc == 3) {
        watermarks(mc, argv[1], atoi(argv[2]), ans, anslen);
        return;
    } else if (strcmp(cmd, "leader") == 0 && argc == 4) {
        err = rd_kafka_mock_partition_set_leader(mc, argv[1], atoi(argv[2]), atoi(argv[3]));
    } else {
        snprintf(ans, anslen, "error unknown command or wrong arguments: %s", cmd);
        return;
    }
    if (err)
        snprintf(ans, anslen, "error %s", rd_kafka_err2str(err));
}

int main(int argc, char **argv)
{
    int nbrokers = argc > 1 ? atoi(argv[1]) : 3;
    if (nbrokers < 1 || nbrokers > 32) {
        fprintf(stderr, "usage: kafka_mock [BROKERS 1..32]\n");
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The cluster lives inside a client handle; this one is never used to produce. */
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: could not create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    char line[1024], ans[16384];
    size_t len = 0;
    while (!stop) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int r = poll(&p, 1, 200);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        ssize_t got = read(0, line + len, sizeof line - 1 - len);
        if (got <= 0)
            break; /* EOF: the test is gone */
        len += (size_t)got;
        char *nl;
        while ((nl = memchr(line, '\n', len))) {
            *nl = '\0';
            size_t used = (size_t)(nl - line) + 1;
            command(mc, nbrokers, line, ans, sizeof ans);
            printf("%s\n", ans);
            fflush(stdout);
            memmove(line, line + used, len - used);
            len -= used;
        }
        if (len == sizeof line - 1)
            len = 0; /* an over-long line: dropped */
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
