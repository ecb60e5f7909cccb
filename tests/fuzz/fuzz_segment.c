/* fuzz_segment.c - arbitrary bytes as a disk buffer segment (and as a cursor file):
 * opening and draining the buffer must never crash, hang or leak; the bytes also go to
 * codec_decode_batch directly. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buffer.h"
#include "core/buffer_disk.h"
#include "core/codec.h"
#include "core/common.h"
#include "core/log.h"

static char root[64];

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (n && fwrite(p, 1, n, f) != n)
        abort();
    fclose(f);
}

static void clear_dir(void)
{
    DIR *d = opendir(root);
    if (!d)
        abort();
    struct dirent *de;
    char path[512];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", root, de->d_name);
        unlink(path);
    }
    closedir(d);
}

static void remove_root(void) { rmdir(root); }

static void drain(const char *dir, bool push_after)
{
    sl_buffer_config cfg = {.type = SL_BUFFER_DISK, .max_size = 1 << 20,
                            .fsync = SL_FSYNC_NEVER, .when_full = SL_WHEN_FULL_DROP_NEWEST};
    sl_buffer *b = NULL;
    char err[256];
    if (buffer_open(&b, &cfg, dir, NULL, err, sizeof err) != SL_OK)
        abort(); /* corrupt data must never stop the buffer from opening */
    sl_buffer_item it;
    while (buffer_pop(b, &it, 0) == SL_OK) {
        for (uint32_t i = 0; i < it.batch->n; i++) /* touch every decoded string */
            if (it.batch->events[i].message.ptr)
                (void)strlen(it.batch->events[i].message.ptr);
        buffer_done(b, &it);
    }
    if (push_after) {
        sl_batch *x = batch_new(1);
        sl_event *e = batch_add(x);
        e->message = batch_str(x, "after", 5);
        if (buffer_push(b, x) != SL_OK)
            abort();
        if (buffer_pop(b, &it, 0) != SL_OK || it.batch->n != 1)
            abort(); /* what was appended after repair must come back */
        buffer_done(b, &it);
        batch_release(x);
    }
    buffer_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        char err[64];
        log_configure(SL_LOG_ERROR + 1, false, NULL, err, sizeof err);
        /* tmpfs when there is one: fsync of the cursor file is then free */
        strcpy(root, access("/dev/shm", W_OK) == 0 ? "/dev/shm/sluice-fuzz-XXXXXX"
                                                   : "/tmp/sluice-fuzz-XXXXXX");
        if (!mkdtemp(root))
            abort();
        atexit(remove_root);
    }
    sl_batch *b = NULL;
    if (codec_decode_batch((const char *)data, size, &b, NULL, 0) == SL_OK)
        batch_release(b);

    char path[256];
    snprintf(path, sizeof path, "%s/00000000000000000001.seg", root);
    write_file(path, data, size);
    drain(root, true);

    /* Same bytes again with their head as the cursor file. */
    snprintf(path, sizeof path, "%s/00000000000000000001.seg", root);
    write_file(path, data, size);
    snprintf(path, sizeof path, "%s/%s", root, DISK_CURSOR_FILE);
    write_file(path, data, size < DISK_CURSOR_BYTES ? size : DISK_CURSOR_BYTES);
    drain(root, false);

    clear_dir();
    return 0;
}
