/* test_dlq.c - the dead-letter file (record format, torn tail cut on reopen) and the
 * `sluice dlq list|purge|replay` command on a temporary configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"
#include "core/dlq.h"
#include "core/event.h"
#include "formats/json.h"

typedef struct fixture {
    char dir[64];
    char path[128];   /* <dir>/dlq/out.ndjson */
    char config[128]; /* <dir>/sluice.yaml */
} fixture;

static void fx_init(fixture *x)
{
    strcpy(x->dir, "/tmp/sl_dlq_XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->path, sizeof x->path, "%s/dlq/out.ndjson", x->dir);
    snprintf(x->config, sizeof x->config, "%s/sluice.yaml", x->dir);
}

static void fx_done(fixture *x)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", x->dir);
    assert_int_equal(system(cmd), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static char *slurp(const char *path, size_t *len)
{
    char *data = NULL, err[256];
    size_t n = 0;
    if (sl_read_file(path, &data, &n, err, sizeof err) != SL_OK)
        return NULL;
    if (len)
        *len = n;
    data = realloc(data, n + 1);
    data[n] = '\0';
    return data;
}

static int count_lines(const char *path)
{
    char *d = slurp(path, NULL);
    if (!d)
        return -1;
    int n = 0;
    for (char *p = d; *p; p++)
        n += *p == '\n';
    free(d);
    return n;
}

/* Writes n records "msg-<i>" through a fresh handle. */
static void write_records(fixture *x, int first, int n)
{
    sl_dlq *d;
    char err[256];
    assert_int_equal(dlq_open(&d, x->dir, "out", err, sizeof err), SL_OK);
    sl_batch *b = batch_new(4);
    for (int i = first; i < first + n; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "msg-%d", i);
        sl_event *e = batch_add(b);
        e->ts_ns = 1700000000123456789LL;
        e->message = batch_str(b, msg, (size_t)len);
        /* stable ids: a file position, or (record 2) a string id such as CloudWatch's */
        if (i == 2) {
            e->id_str = SL_STR("cw-event-2");
        } else {
            e->id_stream = 0xabcdef0123456789ULL;
            e->id_seq = (uint64_t)i;
        }
        event_set_str(b, e, "kubernetes.pod_name", "web-1", 5);
        assert_int_equal(dlq_write(d, e, "400 \"bad\" field", 3, 1700000000000000000LL,
                                   1700000001000000000LL),
                         SL_OK);
    }
    batch_release(b);
    dlq_close(d);
}

/* Runs dlq_cli with stdout captured into out (NUL-terminated). Returns the exit status. */
static int run_cli(fixture *x, char *out, size_t outlen, int argc, char **argv)
{
    char cap[160];
    snprintf(cap, sizeof cap, "%s/stdout.txt", x->dir);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, 1);
    close(fd);
    int rc = dlq_cli(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    char *d = slurp(cap, NULL);
    snprintf(out, outlen, "%s", d ? d : "");
    free(d);
    return rc;
}

static void test_record_format(void **state)
{
    fixture x;
    fx_init(&x);
    write_records(&x, 0, 3);
    char *data = slurp(x.path, NULL);
    assert_non_null(data);
    int n = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n"), n++) {
        sl_arena a;
        arena_init(&a, 4096);
        char err[128];
        json_value *r = json_parse(&a, line, strlen(line), err, sizeof err);
        assert_non_null(r);
        assert_int_equal(r->type, JSON_OBJ);
        assert_string_equal(json_get(r, "sink")->str, "out");
        assert_string_equal(json_get(r, "reason")->str, "400 \"bad\" field");
        assert_int_equal((int)json_get(r, "attempts")->num, 3);
        assert_int_equal(json_get(r, "time")->type, JSON_STR);
        assert_string_equal(json_get(r, "first_attempt")->str, "2023-11-14T22:13:20.000000000Z");
        assert_string_equal(json_get(r, "last_attempt")->str, "2023-11-14T22:13:21.000000000Z");
        if (n == 2) {
            assert_string_equal(json_get(r, "id_str")->str, "cw-event-2");
            assert_null(json_get(r, "id"));
        } else {
            char id[40];
            snprintf(id, sizeof id, "abcdef0123456789%016x", n);
            assert_string_equal(json_get(r, "id")->str, id);
        }
        const json_value *ev = json_get(r, "event");
        assert_non_null(ev);
        assert_int_equal(ev->type, JSON_OBJ);
        /* The event round-trips for replay. */
        sl_batch *b = batch_new(1);
        assert_int_equal(json_decode_event(b, ev->raw, ev->raw_len), SL_OK);
        assert_int_equal(b->n, 1);
        char want[32];
        snprintf(want, sizeof want, "msg-%d", n);
        assert_int_equal(b->events[0].message.len, strlen(want));
        assert_memory_equal(b->events[0].message.ptr, want, strlen(want));
        assert_int_equal(b->events[0].ts_ns, 1700000000123456789LL);
        assert_non_null(event_get(&b->events[0], "kubernetes.pod_name", 19));
        batch_release(b);
        arena_free(&a);
    }
    assert_int_equal(n, 3);
    free(data);
    fx_done(&x);
}

static void test_torn_line_cut(void **state)
{
    fixture x;
    fx_init(&x);
    write_records(&x, 0, 2);
    size_t good;
    free(slurp(x.path, &good));
    FILE *fp = fopen(x.path, "a");
    fputs("{\"time\":\"2023-11-14T22:13:20Z\",\"sink\":\"ou", fp);
    fclose(fp);
    write_records(&x, 2, 1); /* reopening cuts the torn tail first */
    size_t len;
    char *data = slurp(x.path, &len);
    assert_true(len > good);
    assert_null(strstr(data, "\"ou{"));
    assert_int_equal(count_lines(x.path), 3);
    assert_non_null(strstr(data, "msg-2"));
    free(data);
    /* A file that is only a torn line becomes empty. */
    write_text(x.path, "{\"time\":");
    sl_dlq *d;
    char err[256];
    assert_int_equal(dlq_open(&d, x.dir, "out", err, sizeof err), SL_OK);
    dlq_close(d);
    struct stat st;
    assert_int_equal(stat(x.path, &st), 0);
    assert_int_equal(st.st_size, 0);
    fx_done(&x);
}

static void test_bad_sink_id(void **state)
{
    fixture x;
    fx_init(&x);
    sl_dlq *d;
    char err[256];
    assert_int_not_equal(dlq_open(&d, x.dir, "../etc", err, sizeof err), SL_OK);
    assert_int_not_equal(dlq_open(&d, x.dir, "a/b", err, sizeof err), SL_OK);
    fx_done(&x);
}

static void test_cli_list_and_purge(void **state)
{
    fixture x;
    fx_init(&x);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "data_dir: %s\n", x.dir);
    write_text(x.config, cfg);
    write_records(&x, 0, 3);
    char out[8192];

    char *list[] = {"list", "-c", x.config};
    assert_int_equal(run_cli(&x, out, sizeof out, 3, list), 0);
    assert_non_null(strstr(out, "out: 3 record(s)"));
    assert_non_null(strstr(out, "msg-0"));
    assert_non_null(strstr(out, "msg-2"));
    assert_non_null(strstr(out, "attempts=3"));
    assert_non_null(strstr(out, "400 \"bad\" field"));

    char *limited[] = {"list", "-c", x.config, "--sink", "out", "--limit", "1"};
    assert_int_equal(run_cli(&x, out, sizeof out, 7, limited), 0);
    assert_non_null(strstr(out, "msg-0"));
    assert_null(strstr(out, "msg-1"));

    char *help[] = {"list", "--help"};
    assert_int_equal(run_cli(&x, out, sizeof out, 2, help), 0);
    assert_non_null(strstr(out, "usage"));

    char *bad[] = {"frobnicate", "-c", x.config};
    assert_int_equal(run_cli(&x, out, sizeof out, 3, bad), 2);
    char *noconf[] = {"list"};
    assert_int_equal(run_cli(&x, out, sizeof out, 1, noconf), 2);
    char *vague[] = {"purge", "-c", x.config};
    assert_int_equal(run_cli(&x, out, sizeof out, 3, vague), 2);
    assert_int_equal(count_lines(x.path), 3);

    char *purge[] = {"purge", "-c", x.config, "--sink", "out"};
    assert_int_equal(run_cli(&x, out, sizeof out, 5, purge), 0);
    assert_non_null(strstr(out, "purged 3"));
    assert_int_equal(access(x.path, F_OK), -1);

    write_records(&x, 0, 2);
    char *purge_all[] = {"purge", "-c", x.config, "--all"};
    assert_int_equal(run_cli(&x, out, sizeof out, 4, purge_all), 0);
    assert_int_equal(access(x.path, F_OK), -1);
    fx_done(&x);
}

/* Replay through the real file sink; needs the stdin source to build the topology. */
static void test_cli_replay(void **state)
{
    assert_non_null(registry_source("stdin"));
    assert_non_null(registry_sink("file"));
    fixture x;
    fx_init(&x);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "data_dir: %s\n"
             "sources:\n  in:\n    type: stdin\n"
             "sinks:\n  out:\n    type: file\n    inputs: [in]\n    path: %s/replayed.ndjson\n"
             "    id_key: id\n",
             x.dir, x.dir);
    write_text(x.config, cfg);
    write_records(&x, 0, 4);
    FILE *fp = fopen(x.path, "a");
    fputs("not json at all\n", fp); /* unreadable: kept */
    fclose(fp);
    char out[8192];
    char *replay[] = {"replay", "-c", x.config, "--sink", "out"};
    assert_int_equal(run_cli(&x, out, sizeof out, 5, replay), 1);
    assert_non_null(strstr(out, "replayed 4, remaining 1"));
    assert_int_equal(count_lines(x.path), 1);
    char sent[160];
    snprintf(sent, sizeof sent, "%s/replayed.ndjson", x.dir);
    char *data = slurp(sent, NULL);
    assert_non_null(data);
    assert_non_null(strstr(data, "msg-0"));
    assert_non_null(strstr(data, "msg-3"));
    /* replayed under the ids they had, so a peer that has them already folds them */
    assert_non_null(strstr(data, "\"id\":\"abcdef01234567890000000000000003\""));
    assert_non_null(strstr(data, "\"id\":\"cw-event-2\""));
    free(data);
    write_text(x.path, "");
    assert_int_equal(run_cli(&x, out, sizeof out, 5, replay), 0);
    assert_non_null(strstr(out, "replayed 0, remaining 0"));
    fx_done(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_format),
        cmocka_unit_test(test_torn_line_cut),
        cmocka_unit_test(test_bad_sink_id),
        cmocka_unit_test(test_cli_list_and_purge),
        cmocka_unit_test(test_cli_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
