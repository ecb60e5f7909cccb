/* quickstart.c - sample data and the built-in pipeline for `sluice run` without -c.
 * The sample tree mimics /var/log/pods: <namespace>_<pod>_<uid>/<container>/0.log in CRI format. */
#include "quickstart.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"

static const char config_text[] =
    "# Built-in quickstart pipeline: tail sample pod logs, write NDJSON.\n"
    "data_dir: ./demo/data\n"
    "shutdown_timeout: 5s\n"
    "api: { address: \"127.0.0.1:2020\" }\n"
    "sources:\n"
    "  pods:\n"
    "    type: kubernetes_logs\n"
    "    path: ./demo/pods\n"
    "    read_from: head\n"
    "    rescan_interval_ms: 1s\n"
    "transforms:\n"
    "  tag:\n"
    "    type: add_fields\n"
    "    inputs: [pods]\n"
    "    fields: { pipeline: quickstart }\n"
    "sinks:\n"
    "  out:\n"
    "    type: file\n"
    "    inputs: [tag]\n"
    "    path: \"./demo/out/pods-%Y-%m-%d.ndjson\"\n"
    "    batch: { max_events: 1000, timeout_ms: 200 }\n";

static const struct {
    const char *ns, *pod, *uid, *container;
} pods[] = {
    {"shop", "checkout-7d9f8b6c5-x2k4p", "5f1c2a9e-8b1d-4c3e-9a7f-0e2b4d6f8a1c", "app"},
    {"shop", "cart-5b8c9d7f4-q9w8e", "a3b4c5d6-e7f8-4a9b-8c7d-6e5f4a3b2c1d", "app"},
    {"kube-system", "coredns-6d4b75cb6d-abcde", "0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f", "coredns"},
};

static const char *const messages[] = {
    "{\"level\":\"info\",\"msg\":\"order placed\",\"order_id\":%d,\"amount\":42.5}",
    "GET /api/cart/%d 200 12ms",
    "[INFO] plugin/reload: Running configuration SHA512 = %d",
    "{\"level\":\"warn\",\"msg\":\"slow query\",\"duration_ms\":%d}",
};

static atomic_bool writer_stop;
static pthread_t writer_thread;
static bool writer_started;
static int seq;

const char *quickstart_config(void) { return config_text; }

static void pod_path(size_t i, char *dir, size_t dirlen, char *file, size_t filelen)
{
    snprintf(dir, dirlen, "./demo/pods/%s_%s_%s/%s", pods[i].ns, pods[i].pod, pods[i].uid,
             pods[i].container);
    snprintf(file, filelen, "%s/0.log", dir);
}

static void append_lines(size_t pod, int count)
{
    char dir[512], file[600];
    pod_path(pod, dir, sizeof dir, file, sizeof file);
    FILE *f = fopen(file, "a");
    if (!f)
        return;
    for (int i = 0; i < count; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char msg[256];
        snprintf(msg, sizeof msg, messages[(size_t)seq % SL_ARRAY_LEN(messages)], seq);
        fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s F %s\n", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec,
                seq % 7 == 0 ? "stderr" : "stdout", msg);
        seq++;
    }
    fclose(f);
}

int quickstart_prepare(char *err, size_t errlen)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(pods); i++) {
        char dir[512], file[600];
        pod_path(i, dir, sizeof dir, file, sizeof file);
        int rc = sl_mkdirs(dir, err, errlen);
        if (rc)
            return rc;
        append_lines(i, 100);
    }
    return sl_mkdirs("./demo/out", err, errlen);
}

static void *writer_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&writer_stop)) {
        for (size_t i = 0; i < SL_ARRAY_LEN(pods); i++)
            append_lines(i, 1);
        for (int i = 0; i < 10 && !atomic_load(&writer_stop); i++)
            usleep(100 * 1000);
    }
    return NULL;
}

void quickstart_start_writer(void)
{
    atomic_store(&writer_stop, false);
    writer_started = pthread_create(&writer_thread, NULL, writer_main, NULL) == 0;
}

void quickstart_stop(void)
{
    atomic_store(&writer_stop, true);
    if (writer_started)
        pthread_join(writer_thread, NULL);
    writer_started = false;
}

void quickstart_print_hints(const char *api_address)
{
    printf("\n"
           "sluice quickstart is running.\n"
           "  input : ./demo/pods/<namespace>_<pod>_<uid>/<container>/0.log (3 sample pods, a new line\n"
           "          per pod every second)\n"
           "  output: ./demo/out/pods-<date>.ndjson      try: tail -f demo/out/*.ndjson\n"
           "  api   : curl http://%s/api/v1/status\n"
           "          curl http://%s/metrics\n"
           "          curl http://%s/healthz\n"
           "  state : ./demo/data (checkpoints: %s checkpoints show --data-dir ./demo/data)\n"
           "Press Ctrl-C to stop; positions are committed and the next run resumes where this one ended.\n\n",
           api_address, api_address, api_address,
           /* the binary as invoked: ./build/sluice from the repository, /usr/bin/sluice in
            * the image */
           program_invocation_name);
    fflush(stdout);
}
