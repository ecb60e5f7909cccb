/* test_buffer.c - memory and disk buffers: order, byte bounds (block and drop_newest),
 * close, replay after reopen, out-of-order done, corruption, torn tails, bad cursor. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/resource.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buffer.h"
#include "core/buffer_disk.h"
#include "core/common.h"
#include "core/crc32c.h"
#include "core/metrics.h"

typedef struct fixture {
    char dir[64];
    sl_metrics *m;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/sluice-test-buffer-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->m = metrics_register("buf", "sink", "test");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    metrics_reset();
    free(f);
    return 0;
}

/* A batch of `n` events whose messages name the batch: "b<tag>-e<i>". */
static sl_batch *mk(int tag, int n)
{
    sl_batch *b = batch_new((uint32_t)n);
    for (int i = 0; i < n; i++) {
        sl_event *e = batch_add(b);
        char msg[64];
        int len = snprintf(msg, sizeof msg, "b%d-e%d", tag, i);
        e->message = batch_str(b, msg, (size_t)len);
        e->id_seq = (uint64_t)tag;
        event_set_int(b, e, "i", i);
        b->bytes += event_size(e);
    }
    return b;
}

static int tag_of(const sl_batch *b) { return (int)b->events[0].id_seq; }

static sl_buffer_config mem_cfg(uint64_t max_bytes, int when_full)
{
    sl_buffer_config c = {0};
    c.type = SL_BUFFER_MEMORY;
    c.max_bytes = max_bytes;
    c.when_full = when_full;
    return c;
}

static sl_buffer_config disk_cfg(uint64_t max_size, int fsync, int when_full)
{
    sl_buffer_config c = {0};
    c.type = SL_BUFFER_DISK;
    c.max_size = max_size;
    c.fsync = fsync;
    c.fsync_interval_ms = 50;
    c.when_full = when_full;
    return c;
}

static sl_buffer *open_buf(fixture *f, sl_buffer_config c)
{
    sl_buffer *b = NULL;
    char err[256];
    int rc = buffer_open(&b, &c, f->dir, f->m, err, sizeof err);
    if (rc != SL_OK)
        print_error("buffer_open: %s\n", err);
    assert_int_equal(rc, SL_OK);
    return b;
}

static void push_n(sl_buffer *b, int from, int to)
{
    for (int t = from; t < to; t++) {
        sl_batch *x = mk(t, 3);
        assert_int_equal(buffer_push(b, x), SL_OK);
        batch_release(x);
    }
}

/* Pops `n` batches and checks their tags are from, from+1, ...; dones them. */
static void pop_expect(sl_buffer *b, int from, int n)
{
    for (int i = 0; i < n; i++) {
        sl_buffer_item it;
        assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
        assert_int_equal(tag_of(it.batch), from + i);
        assert_int_equal(it.batch->n, 3);
        char want[64];
        snprintf(want, sizeof want, "b%d-e2", from + i);
        assert_string_equal(it.batch->events[2].message.ptr, want);
        buffer_done(b, &it);
    }
}

static void expect_empty(sl_buffer *b)
{
    sl_buffer_item it;
    assert_int_equal(buffer_pop(b, &it, 0), SL_ERR_TIMEOUT);
    assert_null(it.batch);
}

/* ---- memory ---- */

static void test_mem_order(void **state)
{
    fixture *f = *state;
    sl_buffer *b = open_buf(f, mem_cfg(1 << 20, SL_WHEN_FULL_BLOCK));
    push_n(b, 0, 20);
    assert_int_equal(buffer_events(b), 60);
    assert_int_equal(atomic_load(&f->m->buffer_events), 60);
    pop_expect(b, 0, 20);
    assert_int_equal(buffer_events(b), 0);
    assert_int_equal(buffer_bytes(b), 0);
    expect_empty(b);
    buffer_close(b);
    sl_buffer_item it;
    assert_int_equal(buffer_pop(b, &it, 100), SL_ERR_CLOSED);
    buffer_free(b);
}

/* Invariant 2: a batch shared with another sink grows while it waits (that sink prepares
 * its events in the batch); the bytes it took leave with it, no more. They used to be
 * counted again at pop and the count went below zero. */
static void test_mem_shared_batch_grows(void **state)
{
    fixture *f = *state;
    sl_buffer *b = open_buf(f, mem_cfg(1 << 20, SL_WHEN_FULL_BLOCK));
    sl_batch *x = mk(0, 3);
    assert_int_equal(buffer_push(b, x), SL_OK);
    size_t in = buffer_bytes(b);
    assert_true(in > 0);
    arena_alloc(&x->arena, 64 * 1024); /* what another sink's preparing adds */
    assert_true(batch_mem_size(x) > in);
    batch_release(x);
    sl_buffer_item it;
    assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
    assert_int_equal(buffer_bytes(b), 0);
    assert_int_equal(atomic_load(&f->m->buffer_bytes), 0);
    /* requeued (a stop): counted at its size now, and that leaves with it again */
    assert_int_equal(buffer_requeue(b, &it), SL_OK);
    assert_int_equal(buffer_bytes(b), batch_mem_size(x));
    assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
    assert_int_equal(buffer_bytes(b), 0);
    buffer_done(b, &it);
    buffer_free(b);
}

typedef struct pusher {
    sl_buffer *b;
    sl_batch *batch;
    atomic_int finished;
    int rc;
} pusher;

static void *pusher_main(void *arg)
{
    pusher *p = arg;
    p->rc = buffer_push(p->b, p->batch);
    atomic_store(&p->finished, 1);
    return NULL;
}

/* Invariant 4: a pop that leaves the queue more than half full does not wake a blocked
 * producer, but its timed wait still admits a batch that fits, and in order. */
static void test_mem_low_water(void **state)
{
    fixture *f = *state;
    sl_batch *bs[5];
    for (int i = 0; i < 5; i++)
        bs[i] = mk(10 + i, 3);
    sl_buffer *b = open_buf(f, mem_cfg(4 * batch_mem_size(bs[0]), SL_WHEN_FULL_BLOCK));
    for (int i = 0; i < 4; i++)
        assert_int_equal(buffer_push(b, bs[i]), SL_OK);
    pusher p = {.b = b, .batch = bs[4]};
    pthread_t th;
    pthread_create(&th, NULL, pusher_main, &p);
    while (atomic_load(&f->m->buffer_blocked) == 0)
        sched_yield();
    sl_buffer_item it;
    assert_int_equal(buffer_pop(b, &it, 1000), SL_OK); /* three quarters full: no wake */
    assert_ptr_equal(it.batch, bs[0]);
    buffer_done(b, &it);
    /* Admitted by its own look, not left waiting: a bound for a hang, not a timing. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 60;
    int joined = pthread_timedjoin_np(th, NULL, &dl);
    if (joined != 0) {
        buffer_close(b); /* wakes it, so that the failure below is reported */
        pthread_join(th, NULL);
    }
    assert_int_equal(joined, 0);
    assert_int_equal(p.rc, SL_OK);
    assert_int_equal(buffer_events(b), 12);
    for (int i = 1; i < 5; i++) {
        assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
        assert_ptr_equal(it.batch, bs[i]);
        buffer_done(b, &it);
    }
    buffer_free(b);
    for (int i = 0; i < 5; i++)
        batch_release(bs[i]);
}

static void test_mem_bound_blocks(void **state)
{
    fixture *f = *state;
    sl_batch *a = mk(1, 3), *c = mk(2, 3);
    sl_buffer *b = open_buf(f, mem_cfg(batch_mem_size(a) + batch_mem_size(c) - 1, SL_WHEN_FULL_BLOCK));
    assert_int_equal(buffer_push(b, a), SL_OK);
    pusher p = {.b = b, .batch = c};
    pthread_t th;
    pthread_create(&th, NULL, pusher_main, &p);
    /* Room for only one batch: the producer waits, and says so in the gauge. */
    while (atomic_load(&f->m->buffer_blocked) == 0)
        sched_yield();
    assert_int_equal(atomic_load(&p.finished), 0);
    assert_int_equal(buffer_events(b), 3);
    sl_buffer_item it;
    assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
    assert_ptr_equal(it.batch, a);
    buffer_done(b, &it);
    pthread_join(th, NULL);
    assert_int_equal(p.rc, SL_OK);
    assert_int_equal(atomic_load(&f->m->buffer_blocked), 0);
    assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
    assert_ptr_equal(it.batch, c);
    buffer_done(b, &it);

    /* A batch larger than the whole bound still enters an empty queue. */
    sl_batch *big = mk(3, 100);
    assert_int_equal(buffer_push(b, big), SL_OK);
    assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
    buffer_done(b, &it);

    /* close wakes a blocked producer with SL_ERR_CLOSED. */
    assert_int_equal(buffer_push(b, a), SL_OK);
    pusher q = {.b = b, .batch = c};
    pthread_create(&th, NULL, pusher_main, &q);
    while (atomic_load(&f->m->buffer_blocked) == 0)
        sched_yield();
    buffer_close(b);
    pthread_join(th, NULL);
    assert_int_equal(q.rc, SL_ERR_CLOSED);
    assert_int_equal(atomic_load(&f->m->buffer_blocked), 0);
    /* pop drains what is left after close, then says closed. */
    assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
    buffer_done(b, &it);
    assert_int_equal(buffer_pop(b, &it, 1000), SL_ERR_CLOSED);
    buffer_free(b);
    batch_release(a);
    batch_release(c);
    batch_release(big);
}

static void test_mem_drop_newest(void **state)
{
    fixture *f = *state;
    sl_batch *a = mk(1, 3), *c = mk(2, 4);
    sl_buffer *b = open_buf(f, mem_cfg(batch_mem_size(a), SL_WHEN_FULL_DROP_NEWEST));
    assert_int_equal(buffer_push(b, a), SL_OK);
    assert_int_equal(buffer_push(b, c), SL_ERR_FULL);
    assert_int_equal(buffer_push(b, c), SL_ERR_FULL);
    assert_int_equal(atomic_load(&f->m->dropped_events), 8);
    assert_int_equal(atomic_load(&c->refs), 1); /* nothing kept */
    sl_buffer_item it;
    assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
    buffer_done(b, &it);
    assert_int_equal(buffer_push(b, c), SL_OK);
    buffer_free(b); /* frees the queued reference */
    assert_int_equal(atomic_load(&c->refs), 1);
    batch_release(a);
    batch_release(c);
}

/* ---- disk ---- */

static void test_disk_reopen_in_order(void **state)
{
    fixture *f = *state;
    sl_buffer_config c = disk_cfg(1 << 20, SL_FSYNC_INTERVAL, SL_WHEN_FULL_BLOCK);
    sl_buffer *b = open_buf(f, c);
    push_n(b, 0, 50);
    assert_int_equal(buffer_events(b), 150);
    assert_true(buffer_bytes(b) > 0);
    buffer_close(b);
    sl_batch *x = mk(99, 1);
    assert_int_equal(buffer_push(b, x), SL_ERR_CLOSED);
    batch_release(x);
    buffer_free(b);

    b = open_buf(f, c);
    assert_int_equal(buffer_events(b), 150);
    pop_expect(b, 0, 50);
    expect_empty(b);
    buffer_close(b);
    sl_buffer_item it;
    assert_int_equal(buffer_pop(b, &it, 100), SL_ERR_CLOSED);
    buffer_free(b);

    /* Everything was done: nothing comes back. */
    b = open_buf(f, c);
    expect_empty(b);
    assert_int_equal(buffer_events(b), 0);
    buffer_free(b);
}

static void test_disk_out_of_order_done(void **state)
{
    fixture *f = *state;
    sl_buffer_config c = disk_cfg(1 << 20, SL_FSYNC_NEVER, SL_WHEN_FULL_BLOCK);
    sl_buffer *b = open_buf(f, c);
    push_n(b, 0, 10);
    sl_buffer_item it[10];
    for (int i = 0; i < 10; i++) {
        assert_int_equal(buffer_pop(b, &it[i], 1000), SL_OK);
        assert_int_equal(tag_of(it[i].batch), i);
        assert_non_null(it[i].token);
    }
    int done_order[] = {2, 0, 1, 5, 4, 7};
    for (size_t k = 0; k < SL_ARRAY_LEN(done_order); k++)
        buffer_done(b, &it[done_order[k]]);
    buffer_close(b);
    /* 3, 6, 8, 9 were never delivered (a crash): drop the batches, not the tokens. */
    batch_release(it[3].batch);
    batch_release(it[6].batch);
    batch_release(it[8].batch);
    batch_release(it[9].batch);
    buffer_free(b);

    b = open_buf(f, c);
    /* The cursor passed 0..2 only: 3..9 come back (4, 5, 7 again: at-least-once). */
    pop_expect(b, 3, 7);
    expect_empty(b);
    buffer_free(b);
}

static char *seg_file(fixture *f, int which)
{
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *de;
    char names[64][32];
    int n = 0;
    while ((de = readdir(d)) && n < 64)
        if (strstr(de->d_name, ".seg") && strlen(de->d_name) < 32)
            memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
    closedir(d);
    assert_true(n > 0);
    qsort(names, (size_t)n, 32, (int (*)(const void *, const void *))strcmp);
    static char path[256];
    snprintf(path, sizeof path, "%.63s/%.31s", f->dir, names[which < 0 ? n + which : which]);
    return path;
}

static void read_whole(const char *path, char **p, size_t *n)
{
    char err[128];
    assert_int_equal(sl_read_file(path, p, n, err, sizeof err), SL_OK);
}

static void write_whole(const char *path, const char *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

/* Offset of record `k` in a segment image. */
static size_t rec_off(const char *p, size_t n, int k)
{
    size_t off = 0;
    for (int i = 0; i < k; i++) {
        assert_true(off + DISK_RECORD_HEADER <= n);
        uint32_t len;
        memcpy(&len, p + off + 4, 4);
        off += DISK_RECORD_HEADER + len;
    }
    return off;
}

static void test_disk_corrupt_middle(void **state)
{
    fixture *f = *state;
    sl_buffer_config c = disk_cfg(1 << 20, SL_FSYNC_NEVER, SL_WHEN_FULL_BLOCK);
    sl_buffer *b = open_buf(f, c);
    push_n(b, 0, 5);
    buffer_free(b);

    char *path = seg_file(f, 0), *img;
    size_t n;
    read_whole(path, &img, &n);
    size_t r2 = rec_off(img, n, 2), r3 = rec_off(img, n, 3);
    img[(r2 + r3) / 2] ^= 0x5a; /* inside record 2's payload */
    write_whole(path, img, n);
    free(img);

    b = open_buf(f, c);
    assert_int_equal(metrics_error_count(f->m, "torn_record"), 0);
    pop_expect(b, 0, 2);
    pop_expect(b, 3, 2);
    expect_empty(b);
    assert_int_equal(metrics_error_count(f->m, "corrupt_record"), 1);
    /* Appends after the damage still work. */
    push_n(b, 5, 6);
    pop_expect(b, 5, 1);
    buffer_free(b);
}

static void test_disk_corrupt_header(void **state)
{
    fixture *f = *state;
    sl_buffer_config c = disk_cfg(1 << 20, SL_FSYNC_NEVER, SL_WHEN_FULL_BLOCK);
    sl_buffer *b = open_buf(f, c);
    push_n(b, 0, 5);
    buffer_free(b);
    char *path = seg_file(f, 0), *img;
    size_t n;
    read_whole(path, &img, &n);
    size_t r1 = rec_off(img, n, 1);
    memset(img + r1 + 4, 0xff, 4); /* record 1 claims a huge length */
    write_whole(path, img, n);
    free(img);
    b = open_buf(f, c);
    pop_expect(b, 0, 1);
    pop_expect(b, 2, 3);
    expect_empty(b);
    assert_int_equal(metrics_error_count(f->m, "corrupt_record"), 1);
    buffer_free(b);
}

static void test_disk_torn_tail(void **state)
{
    fixture *f = *state;
    sl_buffer_config c = disk_cfg(1 << 20, SL_FSYNC_ALWAYS, SL_WHEN_FULL_BLOCK);
    sl_buffer *b = open_buf(f, c);
    push_n(b, 0, 3);
    buffer_free(b);

    /* Crash mid-write: the last record is cut short. */
    char *path = seg_file(f, -1), *img;
    size_t n;
    read_whole(path, &img, &n);
    size_t r2 = rec_off(img, n, 2);
    write_whole(path, img, r2 + 25);
    free(img);

    b = open_buf(f, c);
    assert_int_equal(metrics_error_count(f->m, "torn_record"), 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, r2);
    pop_expect(b, 0, 2);
    push_n(b, 10, 12);
    pop_expect(b, 10, 2);
    expect_empty(b);
    buffer_free(b);

    /* Reopen: clean, nothing more to cut or replay. */
    b = open_buf(f, c);
    assert_int_equal(metrics_error_count(f->m, "torn_record"), 1);
    assert_int_equal(metrics_error_count(f->m, "corrupt_record"), 0);
    expect_empty(b);
    buffer_free(b);
}

static uint64_t slot_seq(const char *img, int slot)
{
    uint64_t seq;
    memcpy(&seq, img + slot * DISK_CURSOR_SLOT + 4, 8); /* little-endian, as written */
    return seq;
}

static void test_disk_corrupt_cursor(void **state)
{
    fixture *f = *state;
    sl_buffer_config c = disk_cfg(1 << 20, SL_FSYNC_INTERVAL, SL_WHEN_FULL_BLOCK);
    sl_buffer *b = open_buf(f, c);
    push_n(b, 0, 5);
    pop_expect(b, 0, 5); /* each done moves the cursor: one slot write each */
    buffer_free(b);

    char path[256], *img;
    size_t n;
    snprintf(path, sizeof path, "%s/%s", f->dir, DISK_CURSOR_FILE);
    read_whole(path, &img, &n);
    assert_int_equal(n, DISK_CURSOR_BYTES);
    /* The newer slot damaged (a write torn by a power loss): the older one holds, and
     * only the record between them comes again. */
    int newer = slot_seq(img, 1) > slot_seq(img, 0);
    img[newer * DISK_CURSOR_SLOT + 13] ^= 1;
    write_whole(path, img, n);
    free(img);
    b = open_buf(f, c);
    assert_int_equal(metrics_error_count(f->m, "corrupt_state"), 0);
    pop_expect(b, 4, 1);
    expect_empty(b);
    buffer_free(b);

    /* Both damaged: replay from the oldest segment. */
    read_whole(path, &img, &n);
    img[5] ^= 1;
    img[DISK_CURSOR_SLOT + 5] ^= 1;
    write_whole(path, img, n);
    free(img);
    b = open_buf(f, c);
    assert_int_equal(metrics_error_count(f->m, "corrupt_state"), 1);
    pop_expect(b, 0, 5); /* duplicates rather than loss */
    expect_empty(b);
    buffer_free(b);

    /* A garbage cursor of the wrong size is handled the same way. */
    write_whole(path, "junk", 4);
    b = open_buf(f, c);
    assert_int_equal(metrics_error_count(f->m, "corrupt_state"), 2);
    buffer_free(b);
}

/* A cursor file of the previous format (24 bytes, "SLC1") is read and rewritten as two
 * slots; the cursor it held is kept. */
static void test_disk_cursor_v1(void **state)
{
    fixture *f = *state;
    sl_buffer_config c = disk_cfg(1 << 20, SL_FSYNC_INTERVAL, SL_WHEN_FULL_BLOCK);
    sl_buffer *b = open_buf(f, c);
    push_n(b, 0, 5);
    pop_expect(b, 0, 5);
    buffer_free(b);
    char path[256], *img;
    size_t n;
    snprintf(path, sizeof path, "%s/%s", f->dir, DISK_CURSOR_FILE);
    read_whole(path, &img, &n);
    int newer = slot_seq(img, 1) > slot_seq(img, 0);
    /* v1: "SLC1" | segment | offset | crc32c of the 20 bytes before */
    unsigned char v1[24];
    memcpy(v1, "SLC1", 4);
    memcpy(v1 + 4, img + newer * DISK_CURSOR_SLOT + 12, 16);
    uint32_t crc = crc32c(0, v1, 20);
    memcpy(v1 + 20, &crc, 4);
    free(img);
    write_whole(path, (const char *)v1, sizeof v1);
    b = open_buf(f, c);
    assert_int_equal(metrics_error_count(f->m, "corrupt_state"), 0);
    expect_empty(b); /* nothing replayed: the v1 cursor was at the end */
    push_n(b, 5, 6);
    pop_expect(b, 5, 1);
    buffer_free(b);
    read_whole(path, &img, &n);
    assert_int_equal(n, DISK_CURSOR_BYTES);
    free(img);
    b = open_buf(f, c);
    expect_empty(b);
    buffer_free(b);
}

static void test_disk_drop_newest(void **state)
{
    fixture *f = *state;
    sl_buffer_config c = disk_cfg(16384, SL_FSYNC_NEVER, SL_WHEN_FULL_DROP_NEWEST);
    sl_buffer *b = open_buf(f, c);
    int ok = 0, full = 0;
    for (int t = 0; t < 100; t++) {
        sl_batch *x = mk(t, 10);
        int rc = buffer_push(b, x);
        batch_release(x);
        assert_true(rc == SL_OK || rc == SL_ERR_FULL);
        if (rc == SL_OK) {
            assert_int_equal(full, 0); /* nothing accepted once full */
            ok++;
        } else {
            full++;
        }
        assert_true(buffer_bytes(b) <= 16384);
    }
    assert_true(ok > 0 && full > 0);
    assert_int_equal(atomic_load(&f->m->dropped_events), (uint64_t)full * 10);
    /* Consuming everything frees the disk and pushes succeed again. */
    for (int i = 0; i < ok; i++) {
        sl_buffer_item it;
        assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
        assert_int_equal(tag_of(it.batch), i);
        buffer_done(b, &it);
    }
    sl_batch *x = mk(1000, 10);
    assert_int_equal(buffer_push(b, x), SL_OK);
    batch_release(x);
    buffer_free(b);
}

static void test_disk_block_until_drained(void **state)
{
    fixture *f = *state;
    sl_buffer_config c = disk_cfg(16384, SL_FSYNC_NEVER, SL_WHEN_FULL_BLOCK);
    sl_buffer *b = open_buf(f, c);
    sl_batch *x = mk(0, 10);
    assert_int_equal(buffer_push(b, x), SL_OK);
    size_t rec = buffer_bytes(b);
    int n = 1;
    while (buffer_bytes(b) + rec <= 16384) {
        x->events[0].id_seq = (uint64_t)n++;
        assert_int_equal(buffer_push(b, x), SL_OK);
    }
    x->events[0].id_seq = (uint64_t)n;
    pusher p = {.b = b, .batch = x};
    pthread_t th;
    pthread_create(&th, NULL, pusher_main, &p);
    while (atomic_load(&f->m->buffer_blocked) == 0)
        sched_yield();
    assert_int_equal(atomic_load(&p.finished), 0);
    for (int i = 0; i < n; i++) {
        sl_buffer_item it;
        assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
        assert_int_equal(tag_of(it.batch), i);
        buffer_done(b, &it);
    }
    pthread_join(th, NULL);
    assert_int_equal(p.rc, SL_OK);
    assert_int_equal(atomic_load(&f->m->buffer_blocked), 0);
    sl_buffer_item it;
    assert_int_equal(buffer_pop(b, &it, 1000), SL_OK);
    assert_int_equal(tag_of(it.batch), n);
    buffer_done(b, &it);
    buffer_free(b);
    batch_release(x);
}

static void test_disk_fsync_modes_and_segments(void **state)
{
    fixture *f = *state;
    int modes[] = {SL_FSYNC_ALWAYS, SL_FSYNC_INTERVAL, SL_FSYNC_NEVER};
    int base = 0;
    for (size_t k = 0; k < SL_ARRAY_LEN(modes); k++) {
        /* Small bound: 4 KiB segments, so records span several segment files. */
        sl_buffer_config c = disk_cfg(32768, modes[k], SL_WHEN_FULL_BLOCK);
        sl_buffer *b = open_buf(f, c);
        push_n(b, base, base + 40);
        pop_expect(b, base, 10); /* consume some before the restart */
        buffer_free(b);
        b = open_buf(f, c);
        pop_expect(b, base + 10, 30);
        expect_empty(b);
        buffer_free(b);
        base += 40;
    }
    /* Fully consumed segments were deleted: at most the write segment remains. */
    int nseg = 0;
    DIR *d = opendir(f->dir);
    struct dirent *de;
    while ((de = readdir(d)))
        nseg += strstr(de->d_name, ".seg") != NULL;
    closedir(d);
    assert_int_equal(nseg, 1);
}

/* A write that fails halfway (file size limit, like a full disk) is cut back off,
 * reported, and the buffer recovers when writes work again. */
static void test_disk_write_error(void **state)
{
    fixture *f = *state;
    sl_buffer_config c = disk_cfg(1 << 20, SL_FSYNC_NEVER, SL_WHEN_FULL_BLOCK);
    sl_buffer *b = open_buf(f, c);
    push_n(b, 0, 2);
    char *path = seg_file(f, -1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    off_t before = st.st_size;

    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)before + 30; /* the next record fits only partly */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    sl_batch *x = mk(2, 3);
    int rc = buffer_push(b, x);
    setrlimit(RLIMIT_FSIZE, &old);
    assert_int_equal(rc, SL_ERR_IO);
    assert_int_equal(metrics_error_count(f->m, "io"), 1);
    assert_string_equal(atomic_load(&f->m->state), "io_error");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, before); /* partial record cut off */

    assert_int_equal(buffer_push(b, x), SL_OK); /* the caller's retry */
    assert_string_equal(atomic_load(&f->m->state), "ok");
    batch_release(x);
    pop_expect(b, 0, 3);
    buffer_free(b);
    b = open_buf(f, c);
    assert_int_equal(metrics_error_count(f->m, "torn_record"), 0);
    expect_empty(b);
    buffer_free(b);
}

typedef struct consumer {
    sl_buffer *b;
    atomic_int *seen;
    int got;
} consumer;

static void *consumer_main(void *arg)
{
    consumer *c = arg;
    for (;;) {
        sl_buffer_item it;
        int rc = buffer_pop(c->b, &it, 100);
        if (rc == SL_ERR_CLOSED)
            return NULL;
        if (rc != SL_OK)
            continue;
        atomic_fetch_add(&c->seen[tag_of(it.batch)], 1);
        c->got++;
        buffer_done(c->b, &it);
    }
}

static void run_concurrent(fixture *f, sl_buffer_config cfg)
{
    enum { N = 400, T = 4 };
    sl_buffer *b = open_buf(f, cfg);
    atomic_int seen[N];
    for (int i = 0; i < N; i++)
        atomic_init(&seen[i], 0);
    consumer cs[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        cs[i] = (consumer){b, seen, 0};
        pthread_create(&th[i], NULL, consumer_main, &cs[i]);
    }
    push_n(b, 0, N);
    /* Wait until everything was consumed, then close so consumers exit. */
    for (;;) {
        int total = 0;
        for (int i = 0; i < N; i++)
            total += atomic_load(&seen[i]);
        if (total >= N)
            break;
        sched_yield();
    }
    buffer_close(b);
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(atomic_load(&seen[i]), 1);
    buffer_free(b);
}

static void test_concurrent_consumers(void **state)
{
    fixture *f = *state;
    run_concurrent(f, mem_cfg(4096, SL_WHEN_FULL_BLOCK));
    run_concurrent(f, disk_cfg(65536, SL_FSYNC_NEVER, SL_WHEN_FULL_BLOCK));
    /* Everything was done: a reopen replays nothing. */
    sl_buffer *b = open_buf(f, disk_cfg(65536, SL_FSYNC_NEVER, SL_WHEN_FULL_BLOCK));
    expect_empty(b);
    buffer_free(b);
}

typedef struct waiter {
    sl_buffer *b;
    uint64_t wakes;
    atomic_int rc, returned;
} waiter;

static void *wait_main(void *arg)
{
    waiter *w = arg;
    sl_buffer_item it;
    atomic_store(&w->rc, buffer_pop_since(w->b, &it, 60000, w->wakes));
    atomic_store(&w->returned, 1);
    return NULL;
}

/* buffer_wake ends a pop that took its count of wakes before the wake (SL_ERR_TIMEOUT,
 * nothing taken), whether it was already waiting or not yet: long before its timeout. A
 * pop with something queued still takes it. */
static void run_wake(fixture *f, sl_buffer_config c)
{
    sl_buffer *b = open_buf(f, c);
    waiter w = {.b = b, .wakes = buffer_wakes(b)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_main, &w), 0);
    buffer_wake(b); /* before or while it waits: either way it must return */
    int64_t deadline = sl_mono_ms() + 30000;
    while (!atomic_load(&w.returned) && sl_mono_ms() < deadline)
        usleep(1000);
    assert_int_equal(atomic_load(&w.returned), 1);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&w.rc), SL_ERR_TIMEOUT);

    sl_buffer_item it;
    push_n(b, 0, 1);
    assert_int_equal(buffer_pop_since(b, &it, 0, buffer_wakes(b) - 1), SL_OK);
    assert_int_equal(tag_of(it.batch), 0);
    buffer_done(b, &it);
    buffer_free(b);
}

static void test_wake(void **state)
{
    fixture *f = *state;
    run_wake(f, mem_cfg(4096, SL_WHEN_FULL_BLOCK));
    run_wake(f, disk_cfg(65536, SL_FSYNC_NEVER, SL_WHEN_FULL_BLOCK));
}

static void test_options_table(void **state)
{
    (void)state;
    sl_buffer_config c;
    memset(&c, 0xab, sizeof c);
    config_defaults(sl_buffer_options, &c);
    assert_int_equal(c.type, SL_BUFFER_MEMORY);
    assert_int_equal(c.max_bytes, 2ull << 20);
    assert_int_equal(c.max_size, 1ull << 30);
    assert_int_equal(c.fsync, SL_FSYNC_INTERVAL);
    assert_int_equal(c.fsync_interval_ms, 1000);
    assert_int_equal(c.when_full, SL_WHEN_FULL_BLOCK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mem_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mem_shared_batch_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mem_bound_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mem_low_water, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mem_drop_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_reopen_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_out_of_order_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_corrupt_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_corrupt_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_corrupt_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_cursor_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_drop_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_block_until_drained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_fsync_modes_and_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_write_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_consumers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wake, setup, teardown),
        cmocka_unit_test(test_options_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
