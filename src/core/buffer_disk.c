/* buffer_disk.c - the disk buffer: append-only CRC32C-framed segment files, a persisted
 * read cursor that only passes delivered records, and replay with repair on start.
 *
 * Notes on the design
 * -------------------
 * Files in the buffer directory: segments named by a 20-digit decimal id
 * ("00000000000000000007.seg"), and DISK_CURSOR_FILE. A segment is a sequence of
 * records; a record is a 20-byte header followed by a codec payload (one batch):
 *
 *   u32 magic "SLR1" | u32 payload length | u32 event count | u32 crc32c(payload)
 *   | u32 crc32c(the 16 header bytes before it)        (all little-endian)
 *
 * The cursor file holds two 32-byte slots, each u32 magic "SLC2" | u64 sequence | u64
 * segment | u64 offset | u32 crc32c(28 bytes before it): every record before (segment,
 * offset) has been delivered. The valid slot with the higher sequence counts. Each time the
 * cursor moves, the next sequence is written over the older slot with one pwrite (in the
 * page cache: it survives kill -9; a write torn by a power loss leaves the other slot),
 * and the file is fdatasynced on the ticker's period unless fsync is never. A v1 file (24
 * bytes, "SLC1" | segment | offset | crc) is read and rewritten as two slots.
 *
 * Invariants:
 *  1. Only the newest segment (the write segment) is ever appended to; a segment is
 *     sealed when the next one is created and never changes afterwards.
 *  2. write_end is the end of the last complete record in the write segment. Readers
 *     never look past it, so they never see a record being written. A failed write is
 *     cut back to write_end (ftruncate) before push returns SL_ERR_IO.
 *  3. push returns SL_OK only after write(2) of the whole record, so it survives kill -9;
 *     with fsync=always also after fdatasync (survives power loss).
 *  4. Records are handed out by pop in file order, each with a ledger token keyed by
 *     (segment, offset after the record). The cursor moves only over the in-order
 *     prefix of done tokens (ack_ledger_collect), so it never passes an undelivered
 *     record: a restart replays (at-least-once), never skips. It is written as soon as it
 *     moves, so after kill -9 the replay is exactly the records popped and not done.
 *  5. A segment is deleted only when the cursor has moved past all of it and it is not
 *     the write segment. Deleting before the cursor file is saved is safe: a stale
 *     cursor naming a missing segment restarts at the oldest existing one.
 *  6. Segment ids only grow; a new write segment gets an id above every segment on disk
 *     and above the cursor's, so a stale cursor can never skip new records.
 *  7. Corrupt bytes never stop the buffer: a bad record is logged and counted once, and
 *     reading resumes at the next offset whose header and payload CRCs both check out.
 *     A torn tail of the newest segment is cut off at open. Every scan is bounded by the
 *     segment's size, so nothing loops forever.
 *  8. Memory is bounded whatever is on disk: one read-ahead buffer (a chunk, or one
 *     record if larger) and one token per record popped and not yet collected.
 *
 * States (metrics_set_state):
 *
 *      open_scan ──(repair torn tail, load cursor)──► ok
 *      ok ──(write/fdatasync/ftruncate fails: push → SL_ERR_IO)──► io_error
 *      io_error ──(a later push writes a whole record: disk_buffer_push)──► ok
 *      ok | io_error ──(disk_buffer_close)──► closed: pushes fail, pops drain the disk
 *
 * Close: push returns SL_ERR_CLOSED; pop keeps returning the records on disk until the
 * reader reaches the end, then SL_ERR_CLOSED. Whatever is not done stays on disk.
 *
 * Locking: `mu` guards the segment list, the reader, the ledger cursor and counters;
 * `wmu` serialises writers so the record write and fdatasync run without `mu`. Order:
 * wmu before mu. */
#include "buffer_disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "common.h"
#include "crc32c.h"
#include "log.h"

#define REC_MAGIC 0x31524c53u    /* "SLR1" */
#define CUR_MAGIC_V1 0x31434c53u /* "SLC1" */
#define CUR_SIZE_V1 24
#define CUR_MAGIC 0x32434c53u    /* "SLC2" */
#define REC_MAX_PAYLOAD (1u << 30) /* sanity bound on a header's length field */
#define READ_CHUNK (256 * 1024)
#define SEG_ROLL_MAX (64ull << 20)
#define CURSOR_SYNC_MS 1000 /* fdatasync of the cursor file at most this far apart */

typedef struct seg {
    uint64_t id, size;
} seg;

struct sl_disk_buffer {
    sl_buffer_config cfg;
    char *dir;
    const char *comp; /* name in log lines */
    sl_metrics *m;
    uint64_t roll_size;

    pthread_mutex_t mu;
    pthread_cond_t data_cv, space_cv, tick_cv;
    /* under mu */
    seg *segs; /* ascending ids; the last is the write segment */
    size_t nsegs, capsegs;
    uint64_t total_bytes;
    int64_t events; /* events in records not yet popped (approximate after a restart) */
    atomic_uint_fast64_t wakes; /* disk_buffer_wake calls (written under mu) */
    bool closed, stop;
    uint64_t rseg, roff; /* reader: next record */
    int rfd;
    uint64_t rfd_seg;
    sl_buf rbuf;
    uint64_t rbuf_off; /* file offset of rbuf.p[0] */
    bool read_err_logged;
    sl_ack_ledger *ledger;
    /* items given back undelivered (disk_buffer_requeue), popped again first, last in
     * first out: requeueing at the head, as a memory buffer does */
    sl_buffer_item *redo;
    size_t nredo, capredo;
    uint64_t cur_seg, cur_off;     /* done cursor, in memory */
    uint64_t saved_seg, saved_off; /* as last written to the cursor file */
    uint64_t cur_seq;              /* sequence of the newest slot written */
    int cfd;                       /* the cursor file, open for pwrite; -1 if none */
    bool cur_unsynced, cur_err_logged;
    int64_t cur_sync_ms;

    /* under wmu (write_seg/write_end also under mu when they change) */
    pthread_mutex_t wmu;
    uint64_t write_seg, write_end;
    int wfd;
    bool dirty;
    int64_t last_sync_ms;
    bool io_error, full_logged;
    sl_buf wbuf;

    pthread_t ticker;
    bool has_ticker;
};

/* ---- small helpers ---- */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static void seg_path(const sl_disk_buffer *d, uint64_t id, char *out, size_t n)
{
    snprintf(out, n, "%s/%020" PRIu64 ".seg", d->dir, id);
}

static void publish(sl_disk_buffer *d)
{
    if (d->m) {
        atomic_store(&d->m->buffer_bytes, (int_fast64_t)d->total_bytes);
        atomic_store(&d->m->buffer_events, (int_fast64_t)(d->events > 0 ? d->events : 0));
    }
}

static seg *seg_find(sl_disk_buffer *d, uint64_t id)
{
    for (size_t i = 0; i < d->nsegs; i++)
        if (d->segs[i].id == id)
            return &d->segs[i];
    return NULL;
}

static void seg_append(sl_disk_buffer *d, uint64_t id, uint64_t size)
{
    if (d->nsegs == d->capsegs) {
        d->capsegs = d->capsegs ? d->capsegs * 2 : 16;
        d->segs = sl_xrealloc(d->segs, sizeof(seg) * d->capsegs);
    }
    d->segs[d->nsegs++] = (seg){id, size};
}

/* Fills a record header for `payload`. */
static void rec_header(unsigned char h[DISK_RECORD_HEADER], const char *payload, uint32_t len,
                       uint32_t nevents)
{
    put32(h, REC_MAGIC);
    put32(h + 4, len);
    put32(h + 8, nevents);
    put32(h + 12, crc32c(0, payload, len));
    put32(h + 16, crc32c(0, h, 16));
}

/* Header checks that need no payload: magic, header CRC, length fits in `room`. */
static bool rec_header_ok(const unsigned char *h, uint64_t room, uint32_t *len)
{
    if (get32(h) != REC_MAGIC || get32(h + 16) != crc32c(0, h, 16))
        return false;
    *len = get32(h + 4);
    return *len <= REC_MAX_PAYLOAD && (uint64_t)*len + DISK_RECORD_HEADER <= room;
}

/* ---- reading: a read-ahead window over one segment file (caller holds mu) ---- */

/* Points *out at n bytes at `off` of segment `id`. SL_ERR_CORRUPT if the file is
 * shorter than that (it was truncated behind our back), SL_ERR_IO on read errors. */
static int rd_get(sl_disk_buffer *d, uint64_t id, uint64_t off, size_t n, const unsigned char **out)
{
    if (d->rfd < 0 || d->rfd_seg != id) {
        if (d->rfd >= 0)
            close(d->rfd);
        char path[4200];
        seg_path(d, id, path, sizeof path);
        d->rfd = open(path, O_RDONLY | O_CLOEXEC);
        d->rbuf.len = 0;
        if (d->rfd < 0)
            return errno == ENOENT ? SL_ERR_CORRUPT : SL_ERR_IO;
        d->rfd_seg = id;
    }
    if (off >= d->rbuf_off && off + n <= d->rbuf_off + d->rbuf.len) {
        *out = (const unsigned char *)d->rbuf.p + (off - d->rbuf_off);
        return SL_OK;
    }
    size_t want = n > READ_CHUNK ? n : READ_CHUNK;
    if (d->rbuf.cap > 4 * READ_CHUNK && want <= READ_CHUNK)
        buf_free(&d->rbuf); /* give back the room a huge record needed */
    d->rbuf.len = 0;
    buf_reserve(&d->rbuf, want);
    d->rbuf_off = off;
    while (d->rbuf.len < want) {
        ssize_t r = pread(d->rfd, d->rbuf.p + d->rbuf.len, want - d->rbuf.len,
                          (off_t)(off + d->rbuf.len));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            d->rbuf.len = 0;
            return SL_ERR_IO;
        }
        if (r == 0)
            break;
        d->rbuf.len += (size_t)r;
    }
    if (d->rbuf.len < n)
        return SL_ERR_CORRUPT;
    *out = (const unsigned char *)d->rbuf.p;
    return SL_OK;
}

/* Is there a whole valid record at `off` (within `end`)? Sets *len. */
static int rec_check(sl_disk_buffer *d, uint64_t id, uint64_t off, uint64_t end, uint32_t *len,
                     const unsigned char **payload)
{
    if (off + DISK_RECORD_HEADER > end)
        return SL_ERR_CORRUPT;
    const unsigned char *h;
    int rc = rd_get(d, id, off, DISK_RECORD_HEADER, &h);
    if (rc != SL_OK)
        return rc;
    if (!rec_header_ok(h, end - off, len))
        return SL_ERR_CORRUPT;
    uint32_t want_crc = get32(h + 12);
    const unsigned char *p;
    rc = rd_get(d, id, off + DISK_RECORD_HEADER, *len, &p);
    if (rc != SL_OK)
        return rc;
    if (crc32c(0, p, *len) != want_crc)
        return SL_ERR_CORRUPT;
    *payload = p;
    return SL_OK;
}

/* Next offset in [from, end) holding a valid record, or `end`. Bounded by end. */
static uint64_t resync(sl_disk_buffer *d, uint64_t id, uint64_t from, uint64_t end)
{
    static const unsigned char magic[4] = {'S', 'L', 'R', '1'};
    for (uint64_t pos = from; pos + DISK_RECORD_HEADER <= end; pos++) {
        const unsigned char *h;
        if (rd_get(d, id, pos, DISK_RECORD_HEADER, &h) != SL_OK)
            return end;
        if (memcmp(h, magic, 4) != 0)
            continue;
        uint32_t len;
        const unsigned char *p;
        if (rec_check(d, id, pos, end, &len, &p) == SL_OK)
            return pos;
    }
    return end;
}

static void report_corrupt(sl_disk_buffer *d, uint64_t id, uint64_t off, uint64_t next,
                           const char *why)
{
    log_warn(d->comp,
             "disk buffer %s: corrupt record in segment %020" PRIu64 " at offset %" PRIu64
             " (%s); skipped %" PRIu64 " bytes to the next valid record",
             d->dir, id, off, why, next - off);
    metrics_error(d->m, "corrupt_record");
}

enum { RD_GOT, RD_NONE, RD_IOERR };

/* Reads the next record in order into a new batch (caller holds mu). */
static int reader_next(sl_disk_buffer *d, sl_batch **out, uint64_t *seg_id, uint64_t *off_after)
{
    for (;;) {
        seg *s = seg_find(d, d->rseg);
        if (!s) {
            /* Deleted or never existed: move to the next segment after it. */
            size_t i = 0;
            while (i < d->nsegs && d->segs[i].id < d->rseg)
                i++;
            if (i == d->nsegs)
                return RD_NONE;
            d->rseg = d->segs[i].id;
            d->roff = 0;
            continue;
        }
        uint64_t end = s->size;
        bool sealed = d->rseg != d->write_seg;
        if (d->roff + DISK_RECORD_HEADER > end) {
            if (!sealed)
                return RD_NONE;
            if (d->roff < end) {
                report_corrupt(d, d->rseg, d->roff, end, "short tail");
                d->roff = end;
            }
            size_t i = (size_t)(s - d->segs) + 1;
            if (i == d->nsegs)
                return RD_NONE;
            d->rseg = d->segs[i].id;
            d->roff = 0;
            continue;
        }
        uint32_t len;
        const unsigned char *p;
        int rc = rec_check(d, d->rseg, d->roff, end, &len, &p);
        if (rc == SL_ERR_IO)
            return RD_IOERR;
        if (rc != SL_OK) {
            uint64_t next = resync(d, d->rseg, d->roff + 1, end);
            report_corrupt(d, d->rseg, d->roff, next, "bad header or checksum");
            d->roff = next;
            continue;
        }
        uint64_t after = d->roff + DISK_RECORD_HEADER + len;
        char err[160];
        sl_batch *b = NULL;
        if (codec_decode_batch((const char *)p, len, &b, err, sizeof err) != SL_OK) {
            report_corrupt(d, d->rseg, d->roff, after, err);
            d->roff = after;
            continue;
        }
        *out = b;
        *seg_id = d->rseg;
        *off_after = after;
        d->roff = after;
        return RD_GOT;
    }
}

/* ---- cursor ---- */

static void cursor_path(const sl_disk_buffer *d, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", d->dir, DISK_CURSOR_FILE);
}

static void cursor_slot(unsigned char c[DISK_CURSOR_SLOT], uint64_t seq, uint64_t segment,
                        uint64_t off)
{
    put32(c, CUR_MAGIC);
    put64(c + 4, seq);
    put64(c + 12, segment);
    put64(c + 20, off);
    put32(c + 28, crc32c(0, c, 28));
}

static bool cursor_slot_ok(const unsigned char *c)
{
    return get32(c) == CUR_MAGIC && get32(c + 28) == crc32c(0, c, 28);
}

static void cursor_io_error(sl_disk_buffer *d, const char *what)
{
    if (!d->cur_err_logged)
        log_error(d->comp, "disk buffer %s: cannot %s the read cursor: %s", d->dir, what,
                  strerror(errno));
    d->cur_err_logged = true;
    metrics_error(d->m, "io");
}

/* Writes the cursor over the older slot (caller holds mu, or is opening). */
static int cursor_save(sl_disk_buffer *d)
{
    if (d->cfd < 0)
        return SL_ERR_IO;
    unsigned char c[DISK_CURSOR_SLOT];
    uint64_t seq = d->cur_seq + 1;
    cursor_slot(c, seq, d->cur_seg, d->cur_off);
    if (pwrite(d->cfd, c, sizeof c, (off_t)((seq & 1) * DISK_CURSOR_SLOT)) != (ssize_t)sizeof c) {
        cursor_io_error(d, "write");
        return SL_ERR_IO;
    }
    d->cur_err_logged = false;
    d->cur_seq = seq;
    d->saved_seg = d->cur_seg;
    d->saved_off = d->cur_off;
    d->cur_unsynced = true;
    return SL_OK;
}

/* fdatasync of the cursor file when it changed (caller holds mu). */
static void cursor_sync(sl_disk_buffer *d)
{
    if (!d->cur_unsynced || d->cfd < 0 || d->cfg.fsync == SL_FSYNC_NEVER)
        return;
    if (fdatasync(d->cfd) != 0)
        cursor_io_error(d, "fdatasync");
    d->cur_unsynced = false;
    d->cur_sync_ms = sl_mono_ms();
}

/* Creates the two-slot cursor file (both slots the current cursor; replacing a v1 file or
 * a damaged one atomically) and opens it for pwrite. */
static int cursor_create(sl_disk_buffer *d, char *err, size_t errlen)
{
    char path[4200];
    cursor_path(d, path, sizeof path);
    unsigned char c[DISK_CURSOR_BYTES];
    cursor_slot(c, d->cur_seq + 1, d->cur_seg, d->cur_off);
    cursor_slot(c + DISK_CURSOR_SLOT, d->cur_seq + 2, d->cur_seg, d->cur_off);
    int rc = sl_write_file_replace(path, c, sizeof c, d->cfg.fsync != SL_FSYNC_NEVER, err,
                                   errlen);
    if (rc != SL_OK)
        return rc;
    d->cur_seq += 2;
    d->cfd = open(path, O_RDWR | O_CLOEXEC);
    if (d->cfd < 0)
        return sl_seterr(err, errlen, SL_ERR_IO, "open %s: %s", path, strerror(errno));
    return SL_OK;
}

/* Loads the cursor; false when there is none or it cannot be trusted. *reuse is set when
 * the file is a valid two-slot file that can be written in place. */
/* Reads a two-slot (or v1) cursor file's newest valid slot into d->cur_*; false when
 * there is none. *reuse: a two-slot file that can be written in place. */
static bool cursor_parse(sl_disk_buffer *d, const unsigned char *c, size_t len, bool *reuse)
{
    bool ok = false;
    *reuse = false;
    if (len == CUR_SIZE_V1 && get32(c) == CUR_MAGIC_V1 && get32(c + 20) == crc32c(0, c, 20)) {
        d->cur_seg = get64(c + 4);
        d->cur_off = get64(c + 12);
        d->cur_seq = 0;
        ok = true;
    } else if (len == DISK_CURSOR_BYTES) {
        for (int i = 0; i < 2; i++) {
            const unsigned char *sl = c + i * DISK_CURSOR_SLOT;
            if (!cursor_slot_ok(sl) || (ok && get64(sl + 4) <= d->cur_seq))
                continue;
            d->cur_seq = get64(sl + 4);
            d->cur_seg = get64(sl + 12);
            d->cur_off = get64(sl + 20);
            ok = true;
        }
        *reuse = ok;
    }
    return ok;
}

static bool cursor_load(sl_disk_buffer *d, bool *reuse)
{
    char path[4200], err[256];
    cursor_path(d, path, sizeof path);
    *reuse = false;
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    char *data = NULL;
    size_t len = 0;
    if (sl_read_file(path, &data, &len, err, sizeof err) != SL_OK) {
        log_warn(d->comp, "disk buffer: cannot read cursor (%s); replaying from the oldest segment",
                 err);
        metrics_error(d->m, "corrupt_state");
        return false;
    }
    bool ok = cursor_parse(d, (const unsigned char *)data, len, reuse);
    if (!ok) {
        log_warn(d->comp,
                 "disk buffer %s: corrupt cursor file; replaying from the oldest segment "
                 "(duplicates rather than loss)",
                 d->dir);
        metrics_error(d->m, "corrupt_state");
    }
    free(data);
    return ok;
}

static void on_commit(void *arg, uint64_t key, uint64_t value)
{
    sl_disk_buffer *d = arg;
    if (key > d->cur_seg || (key == d->cur_seg && value > d->cur_off)) {
        d->cur_seg = key;
        d->cur_off = value;
    }
}

/* Moves the cursor over done records, deletes segments behind it and writes the cursor
 * when it moved; `sync` also makes it durable (caller holds mu). */
static void commit_locked(sl_disk_buffer *d, bool sync)
{
    ack_ledger_collect(d->ledger, on_commit, d);
    size_t drop = 0;
    while (drop < d->nsegs) {
        const seg *s = &d->segs[drop];
        if (s->id == d->write_seg)
            break;
        bool passed = s->id < d->cur_seg || (s->id == d->cur_seg && d->cur_off >= s->size);
        /* The reader must be past it too (a record before the cursor is always read). */
        if (!passed || s->id >= d->rseg)
            break;
        char path[4200];
        seg_path(d, s->id, path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            log_warn(d->comp, "disk buffer: cannot delete %s: %s", path, strerror(errno));
            metrics_error(d->m, "io");
        }
        if (d->rfd >= 0 && d->rfd_seg == s->id) {
            close(d->rfd);
            d->rfd = -1;
        }
        d->total_bytes -= s->size;
        drop++;
    }
    if (drop) {
        memmove(d->segs, d->segs + drop, sizeof(seg) * (d->nsegs - drop));
        d->nsegs -= drop;
        publish(d);
        pthread_cond_broadcast(&d->space_cv);
    }
    if (d->cur_seg != d->saved_seg || d->cur_off != d->saved_off)
        cursor_save(d);
    if (sync)
        cursor_sync(d);
}

/* ---- writing (caller holds wmu) ---- */

static void enter_io_error(sl_disk_buffer *d, const char *what, int e)
{
    const char *reason = e == ENOSPC || e == EDQUOT ? "disk_full" : "io";
    metrics_error(d->m, reason);
    if (!d->io_error)
        log_error(d->comp, "disk buffer %s: %s failed: %s; pushes fail until the disk recovers",
                  d->dir, what, strerror(e));
    d->io_error = true;
    metrics_set_state(d->m, "io_error");
}

static int open_write_seg(sl_disk_buffer *d, uint64_t id, char *err, size_t errlen)
{
    char path[4200];
    seg_path(d, id, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_seterr(err, errlen, SL_ERR_IO, "open %s: %s", path, strerror(errno));
    d->wfd = fd;
    return SL_OK;
}

/* Seals the write segment and starts the next one. */
static int roll(sl_disk_buffer *d)
{
    if (d->cfg.fsync != SL_FSYNC_NEVER && d->wfd >= 0 && fdatasync(d->wfd) != 0) {
        enter_io_error(d, "fdatasync", errno);
        return SL_ERR_IO;
    }
    uint64_t id = d->write_seg + 1;
    char err[256];
    int old = d->wfd;
    if (open_write_seg(d, id, err, sizeof err) != SL_OK) {
        d->wfd = old;
        enter_io_error(d, "segment create", errno);
        return SL_ERR_IO;
    }
    if (old >= 0)
        close(old);
    if (d->cfg.fsync != SL_FSYNC_NEVER)
        sl_fsync_dir(d->dir);
    d->dirty = false;
    pthread_mutex_lock(&d->mu);
    seg_append(d, id, 0);
    d->write_seg = id;
    d->write_end = 0;
    pthread_mutex_unlock(&d->mu);
    return SL_OK;
}

static int write_all(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
    while (iovcnt > 0) {
        ssize_t w = pwritev(fd, iov, iovcnt, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        off += (uint64_t)w;
        while (iovcnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Everything on disk has been read and done: admitting a record cannot deadlock. */
static bool drained_locked(sl_disk_buffer *d)
{
    return d->rseg == d->write_seg && d->roff >= d->write_end &&
           ack_ledger_pending(d->ledger) == 0;
}

int disk_buffer_push(sl_disk_buffer *d, sl_batch *batch, const atomic_bool *cancel)
{
    if (batch->n == 0)
        return SL_OK; /* nothing to keep */
    pthread_mutex_lock(&d->wmu);
    buf_reset(&d->wbuf);
    codec_encode_batch(&d->wbuf, batch);
    if (d->wbuf.len > REC_MAX_PAYLOAD) {
        pthread_mutex_unlock(&d->wmu);
        log_error(d->comp, "disk buffer: batch of %zu bytes exceeds the record limit",
                  d->wbuf.len);
        metrics_error(d->m, "too_big");
        return SL_ERR_IO;
    }
    uint64_t need = DISK_RECORD_HEADER + d->wbuf.len;

    pthread_mutex_lock(&d->mu);
    bool blocked = false; /* counted in the buffer_blocked gauge */
    for (;;) {
        if (d->closed || (cancel && atomic_load(cancel))) {
            if (blocked && d->m)
                atomic_fetch_sub(&d->m->buffer_blocked, 1);
            pthread_mutex_unlock(&d->mu);
            pthread_mutex_unlock(&d->wmu);
            return SL_ERR_CLOSED;
        }
        if (d->total_bytes + need <= d->cfg.max_size)
            break;
        commit_locked(d, false);
        if (d->total_bytes + need <= d->cfg.max_size || drained_locked(d))
            break;
        if (d->cfg.when_full == SL_WHEN_FULL_DROP_NEWEST) {
            if (d->m)
                atomic_fetch_add(&d->m->dropped_events, batch->n);
            if (!d->full_logged)
                log_warn(d->comp, "disk buffer %s full (%" PRIu64 " bytes): dropping newest batches",
                         d->dir, d->total_bytes);
            d->full_logged = true;
            pthread_mutex_unlock(&d->mu);
            pthread_mutex_unlock(&d->wmu);
            return SL_ERR_FULL;
        }
        /* Timed so dones collected by nobody else still free space. */
        struct timespec dl = sl_deadline_mono(100);
        if (!blocked && d->m)
            atomic_fetch_add(&d->m->buffer_blocked, 1);
        blocked = true; /* until the loop ends: the gauge does not flicker between waits */
        pthread_cond_timedwait(&d->space_cv, &d->mu, &dl);
    }
    d->full_logged = false;
    if (blocked && d->m)
        atomic_fetch_sub(&d->m->buffer_blocked, 1);
    pthread_mutex_unlock(&d->mu);

    if (d->write_end > 0 && d->write_end + need > d->roll_size && roll(d) != SL_OK) {
        pthread_mutex_unlock(&d->wmu);
        return SL_ERR_IO;
    }
    if (d->wfd < 0) {
        char err[256];
        if (open_write_seg(d, d->write_seg, err, sizeof err) != SL_OK) {
            enter_io_error(d, "segment open", errno);
            pthread_mutex_unlock(&d->wmu);
            return SL_ERR_IO;
        }
    }

    unsigned char h[DISK_RECORD_HEADER];
    rec_header(h, d->wbuf.p, (uint32_t)d->wbuf.len, batch->n);
    struct iovec iov[2] = {{h, sizeof h}, {d->wbuf.p, d->wbuf.len}};
    const char *what = "write";
    int rc = write_all(d->wfd, iov, 2, d->write_end);
    if (rc == 0 && d->cfg.fsync == SL_FSYNC_ALWAYS) {
        what = "fdatasync";
        rc = fdatasync(d->wfd);
    }
    if (rc != 0) {
        int e = errno;
        /* Cut the partial record back off so the segment ends on a record boundary. */
        if (ftruncate(d->wfd, (off_t)d->write_end) != 0) {
            /* Cannot repair in place: seal here and write elsewhere (the garbage is
             * skipped by readers as a corrupt tail). */
            close(d->wfd);
            d->wfd = -1;
            roll(d);
        }
        enter_io_error(d, what, e);
        pthread_mutex_unlock(&d->wmu);
        return SL_ERR_IO;
    }
    if (d->cfg.fsync == SL_FSYNC_INTERVAL)
        d->dirty = true;

    pthread_mutex_lock(&d->mu);
    d->write_end += need;
    d->segs[d->nsegs - 1].size = d->write_end;
    d->total_bytes += need;
    d->events += batch->n;
    publish(d);
    pthread_cond_broadcast(&d->data_cv);
    pthread_mutex_unlock(&d->mu);
    if (d->io_error) {
        d->io_error = false;
        metrics_set_state(d->m, "ok");
        log_info(d->comp, "disk buffer %s: writes succeed again", d->dir);
    }
    pthread_mutex_unlock(&d->wmu);
    return SL_OK;
}

/* ---- consumer side ---- */

int disk_buffer_pop(sl_disk_buffer *d, sl_buffer_item *item, int timeout_ms, uint64_t wakes)
{
    item->batch = NULL;
    item->token = NULL;
    struct timespec dl = sl_deadline_mono(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&d->mu);
    if (d->nredo) {
        *item = d->redo[--d->nredo];
        d->events -= item->batch->n;
        publish(d);
        pthread_mutex_unlock(&d->mu);
        return SL_OK;
    }
    for (;;) {
        sl_batch *b;
        uint64_t sid, after;
        int r = reader_next(d, &b, &sid, &after);
        if (r == RD_GOT) {
            d->read_err_logged = false;
            item->batch = b;
            item->token = ack_token_open(d->ledger, sid, after);
            d->events -= b->n;
            publish(d);
            pthread_mutex_unlock(&d->mu);
            return SL_OK;
        }
        if (r == RD_IOERR) {
            if (!d->read_err_logged)
                log_error(d->comp, "disk buffer %s: read of segment %020" PRIu64 " failed: %s",
                          d->dir, d->rseg, strerror(errno));
            d->read_err_logged = true;
            metrics_error(d->m, "io");
            metrics_set_state(d->m, "io_error");
        } else if (d->closed) {
            pthread_mutex_unlock(&d->mu);
            return SL_ERR_CLOSED;
        }
        if (timeout_ms <= 0 || d->wakes != wakes ||
            pthread_cond_timedwait(&d->data_cv, &d->mu, &dl) == ETIMEDOUT) {
            if (r == RD_NONE && reader_next(d, &b, &sid, &after) == RD_GOT) {
                item->batch = b;
                item->token = ack_token_open(d->ledger, sid, after);
                d->events -= b->n;
                publish(d);
                pthread_mutex_unlock(&d->mu);
                return SL_OK;
            }
            pthread_mutex_unlock(&d->mu);
            return SL_ERR_TIMEOUT;
        }
    }
}

void disk_buffer_requeue(sl_disk_buffer *d, sl_buffer_item *item)
{
    pthread_mutex_lock(&d->mu);
    if (d->nredo == d->capredo) {
        d->capredo = d->capredo ? d->capredo * 2 : 16;
        d->redo = sl_xrealloc(d->redo, d->capredo * sizeof *d->redo);
    }
    d->redo[d->nredo++] = *item;
    d->events += item->batch->n;
    publish(d);
    pthread_cond_broadcast(&d->data_cv);
    pthread_mutex_unlock(&d->mu);
    item->batch = NULL;
    item->token = NULL;
}

void disk_buffer_done(sl_disk_buffer *d, sl_buffer_item *item)
{
    if (item->token)
        ack_token_release(item->token);
    batch_release(item->batch);
    item->batch = NULL;
    item->token = NULL;
    pthread_mutex_lock(&d->mu);
    commit_locked(d, false);
    pthread_mutex_unlock(&d->mu);
}

/* ---- background: periodic fdatasync (fsync=interval) of segments and cursor ---- */

static void *ticker_main(void *arg)
{
    sl_disk_buffer *d = arg;
    int64_t period = CURSOR_SYNC_MS;
    if (d->cfg.fsync == SL_FSYNC_INTERVAL && d->cfg.fsync_interval_ms > 0 &&
        d->cfg.fsync_interval_ms < period)
        period = d->cfg.fsync_interval_ms;
    pthread_mutex_lock(&d->mu);
    while (!d->stop) {
        struct timespec dl = sl_deadline_mono(period);
        pthread_cond_timedwait(&d->tick_cv, &d->mu, &dl);
        if (d->stop)
            break;
        commit_locked(d, false);
        /* The cursor's fdatasync runs outside mu, so pops and dones do not wait on it. */
        bool sync = d->cur_unsynced && d->cfd >= 0 && d->cfg.fsync != SL_FSYNC_NEVER &&
                    sl_mono_ms() - d->cur_sync_ms >= period;
        if (sync) {
            d->cur_unsynced = false;
            d->cur_sync_ms = sl_mono_ms();
        }
        pthread_mutex_unlock(&d->mu);
        if (sync && fdatasync(d->cfd) != 0) {
            pthread_mutex_lock(&d->mu);
            cursor_io_error(d, "fdatasync");
            pthread_mutex_unlock(&d->mu);
        }
        pthread_mutex_lock(&d->wmu);
        if (d->dirty && d->wfd >= 0 &&
            sl_mono_ms() - d->last_sync_ms >= d->cfg.fsync_interval_ms) {
            if (fdatasync(d->wfd) != 0)
                enter_io_error(d, "fdatasync", errno);
            d->dirty = false;
            d->last_sync_ms = sl_mono_ms();
        }
        pthread_mutex_unlock(&d->wmu);
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* ---- open: list segments, load cursor, repair the newest segment ---- */

static int seg_cmp(const void *a, const void *b)
{
    const seg *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int list_segments(sl_disk_buffer *d, char *err, size_t errlen)
{
    DIR *dp = opendir(d->dir);
    if (!dp)
        return sl_seterr(err, errlen, SL_ERR_IO, "open %s: %s", d->dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        const char *n = de->d_name;
        if (strlen(n) != 24 || strcmp(n + 20, ".seg") != 0)
            continue;
        uint64_t id = 0;
        bool digits = true;
        for (int i = 0; i < 20; i++) {
            if (n[i] < '0' || n[i] > '9') {
                digits = false;
                break;
            }
            id = id * 10 + (uint64_t)(n[i] - '0');
        }
        if (!digits)
            continue;
        char path[4200];
        seg_path(d, id, path, sizeof path);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        seg_append(d, id, (uint64_t)st.st_size);
    }
    closedir(dp);
    if (d->nsegs)
        qsort(d->segs, d->nsegs, sizeof(seg), seg_cmp);
    return SL_OK;
}

/* End of the last valid record of segment `id` (size `size`), skipping corrupt runs. */
static uint64_t valid_end(sl_disk_buffer *d, uint64_t id, uint64_t size)
{
    uint64_t pos = 0, good = 0;
    while (pos + DISK_RECORD_HEADER <= size) {
        uint32_t len;
        const unsigned char *p;
        int rc = rec_check(d, id, pos, size, &len, &p);
        if (rc == SL_ERR_IO)
            return size; /* cannot tell: cut nothing */
        if (rc == SL_OK) {
            pos += DISK_RECORD_HEADER + len;
            good = pos;
            continue;
        }
        pos = resync(d, id, pos + 1, size);
    }
    return good;
}

/* Events in valid-looking headers from `off` on, without reading payloads. */
static int64_t count_events(sl_disk_buffer *d, uint64_t id, uint64_t off, uint64_t size)
{
    char path[4200];
    seg_path(d, id, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int64_t n = 0;
    unsigned char h[DISK_RECORD_HEADER];
    uint32_t len;
    while (off + DISK_RECORD_HEADER <= size &&
           pread(fd, h, sizeof h, (off_t)off) == (ssize_t)sizeof h &&
           rec_header_ok(h, size - off, &len)) {
        n += get32(h + 8);
        off += DISK_RECORD_HEADER + len;
    }
    close(fd);
    return n;
}

static void disk_free_struct(sl_disk_buffer *d)
{
    if (d->cfd >= 0)
        close(d->cfd);
    if (d->rfd >= 0)
        close(d->rfd);
    if (d->wfd >= 0)
        close(d->wfd);
    buf_free(&d->rbuf);
    buf_free(&d->wbuf);
    if (d->ledger)
        ack_ledger_free(d->ledger);
    pthread_cond_destroy(&d->data_cv);
    pthread_cond_destroy(&d->space_cv);
    pthread_cond_destroy(&d->tick_cv);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->wmu);
    free(d->segs);
    free(d->dir);
    free(d);
}

int disk_buffer_open(sl_disk_buffer **out, const sl_buffer_config *cfg, const char *dir,
                     sl_metrics *m, char *err, size_t errlen)
{
    *out = NULL;
    int rc = sl_mkdirs(dir, err, errlen);
    if (rc != SL_OK)
        return rc;
    sl_disk_buffer *d = sl_xcalloc(1, sizeof *d);
    d->cfg = *cfg;
    if (d->cfg.max_size == 0)
        d->cfg.max_size = 1ull << 30;
    d->dir = sl_xstrdup(dir);
    d->m = m;
    d->comp = m && m->id ? m->id : "buffer";
    d->roll_size = SL_MIN(d->cfg.max_size / 8, SEG_ROLL_MAX);
    if (d->roll_size < 4096)
        d->roll_size = 4096;
    d->rfd = d->wfd = d->cfd = -1;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->wmu, NULL);
    sl_cond_init_mono(&d->data_cv);
    sl_cond_init_mono(&d->space_cv);
    sl_cond_init_mono(&d->tick_cv);
    d->ledger = ack_ledger_new();
    metrics_set_state(m, "ok");

    rc = list_segments(d, err, errlen);
    if (rc != SL_OK) {
        disk_free_struct(d);
        return rc;
    }
    bool reuse;
    bool have_cursor = cursor_load(d, &reuse);
    if (!have_cursor)
        d->cur_seg = d->cur_off = 0;
    if (reuse) {
        char path[4200];
        cursor_path(d, path, sizeof path);
        d->cfd = open(path, O_RDWR | O_CLOEXEC);
    }
    if (d->cfd < 0 && (rc = cursor_create(d, err, errlen)) != SL_OK) {
        disk_free_struct(d);
        return rc;
    }

    /* Invariant 5 at open: segments wholly behind the cursor are done. */
    size_t drop = 0;
    while (drop + 1 < d->nsegs && d->segs[drop].id < d->cur_seg) {
        char path[4200];
        seg_path(d, d->segs[drop].id, path, sizeof path);
        unlink(path);
        drop++;
    }
    if (drop) {
        memmove(d->segs, d->segs + drop, sizeof(seg) * (d->nsegs - drop));
        d->nsegs -= drop;
    }

    /* Repair the newest segment: cut a torn tail left by a crash mid-write. */
    if (d->nsegs) {
        seg *last = &d->segs[d->nsegs - 1];
        uint64_t end = valid_end(d, last->id, last->size);
        if (end < last->size) {
            char path[4200];
            seg_path(d, last->id, path, sizeof path);
            log_warn(d->comp,
                     "disk buffer %s: cut a torn record at the end of segment %020" PRIu64
                     " (%" PRIu64 " bytes at offset %" PRIu64 ")",
                     dir, last->id, last->size - end, end);
            metrics_error(m, "torn_record");
            if (truncate(path, (off_t)end) == 0)
                last->size = end;
            else
                log_error(d->comp, "disk buffer: truncate %s: %s", path, strerror(errno));
        }
        if (d->rfd >= 0) {
            close(d->rfd);
            d->rfd = -1;
        }
    }

    /* Invariant 6: append to the newest segment only if the cursor cannot be past it. */
    seg *last = d->nsegs ? &d->segs[d->nsegs - 1] : NULL;
    if (last && (last->id > d->cur_seg || (last->id == d->cur_seg && d->cur_off <= last->size)) &&
        last->size < d->roll_size) {
        d->write_seg = last->id;
        d->write_end = last->size;
    } else {
        uint64_t id = SL_MAX(last ? last->id : 0, d->cur_seg) + 1;
        seg_append(d, id, 0);
        d->write_seg = id;
        d->write_end = 0;
    }
    rc = open_write_seg(d, d->write_seg, err, errlen);
    if (rc != SL_OK) {
        disk_free_struct(d);
        return rc;
    }
    if (d->cfg.fsync != SL_FSYNC_NEVER)
        sl_fsync_dir(dir);

    /* Reader starts at the cursor (or the oldest segment). */
    if (have_cursor && seg_find(d, d->cur_seg)) {
        d->rseg = d->cur_seg;
        d->roff = d->cur_off;
    } else {
        d->rseg = d->segs[0].id;
        d->roff = 0;
    }
    d->saved_seg = d->cur_seg;
    d->saved_off = d->cur_off;
    for (size_t i = 0; i < d->nsegs; i++) {
        d->total_bytes += d->segs[i].size;
        if (d->segs[i].id >= d->rseg)
            d->events += count_events(d, d->segs[i].id, d->segs[i].id == d->rseg ? d->roff : 0,
                                      d->segs[i].size);
    }
    publish(d);
    d->cur_sync_ms = d->last_sync_ms = sl_mono_ms();
    if (d->events > 0)
        log_info(d->comp, "disk buffer %s: replaying about %" PRId64 " events from %zu segments",
                 dir, d->events, d->nsegs);

    if (pthread_create(&d->ticker, NULL, ticker_main, d) == 0) {
        sl_thread_name(d->ticker, "disk", d->comp);
        d->has_ticker = true;
    }
    *out = d;
    return SL_OK;
}

int64_t disk_buffer_pending(const char *dir)
{
    /* Only what list_segments, cursor_parse and count_events read: nothing is written,
     * no thread started, nothing logged. */
    sl_disk_buffer d = {.dir = (char *)dir, .rfd = -1, .wfd = -1, .cfd = -1};
    char err[256];
    int64_t n = 0;
    if (list_segments(&d, err, sizeof err) == SL_OK && d.nsegs) {
        char path[4200], *data = NULL;
        size_t len = 0;
        bool reuse;
        cursor_path(&d, path, sizeof path);
        bool have = sl_read_file(path, &data, &len, err, sizeof err) == SL_OK &&
                    cursor_parse(&d, (const unsigned char *)data, len, &reuse);
        free(data);
        for (size_t i = 0; i < d.nsegs; i++) {
            const seg *s = &d.segs[i];
            if (have && s->id < d.cur_seg)
                continue;
            n += count_events(&d, s->id, have && s->id == d.cur_seg ? d.cur_off : 0, s->size);
        }
    }
    free(d.segs);
    return n;
}

void disk_buffer_wake(sl_disk_buffer *d)
{
    pthread_mutex_lock(&d->mu);
    atomic_fetch_add(&d->wakes, 1);
    pthread_cond_broadcast(&d->data_cv);
    pthread_mutex_unlock(&d->mu);
}

uint64_t disk_buffer_wakes(sl_disk_buffer *d)
{
    return atomic_load(&d->wakes);
}

void disk_buffer_close(sl_disk_buffer *d)
{
    pthread_mutex_lock(&d->mu);
    d->closed = true;
    commit_locked(d, true);
    pthread_cond_broadcast(&d->data_cv);
    pthread_cond_broadcast(&d->space_cv);
    pthread_mutex_unlock(&d->mu);
}

/* Every popped item must be done (or its runtime stopped) before this: their tokens
 * belong to the ledger freed here. */
void disk_buffer_free(sl_disk_buffer *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->closed = true;
    d->stop = true;
    pthread_cond_broadcast(&d->tick_cv);
    pthread_cond_broadcast(&d->data_cv);
    pthread_cond_broadcast(&d->space_cv);
    pthread_mutex_unlock(&d->mu);
    if (d->has_ticker)
        pthread_join(d->ticker, NULL);
    pthread_mutex_lock(&d->wmu);
    if (d->wfd >= 0 && d->cfg.fsync != SL_FSYNC_NEVER && fdatasync(d->wfd) != 0)
        log_error(d->comp, "disk buffer %s: final fdatasync: %s", d->dir, strerror(errno));
    pthread_mutex_unlock(&d->wmu);
    pthread_mutex_lock(&d->mu);
    /* Given back and never popped again: their tokens stay open, so the cursor stays
     * before them and they are replayed at the next start. */
    for (size_t i = 0; i < d->nredo; i++)
        batch_abandon(d->redo[i].batch);
    d->nredo = 0;
    free(d->redo);
    d->redo = NULL;
    commit_locked(d, true);
    pthread_mutex_unlock(&d->mu);
    disk_free_struct(d);
}

size_t disk_buffer_bytes(const sl_disk_buffer *d)
{
    pthread_mutex_lock((pthread_mutex_t *)&d->mu);
    size_t n = d->total_bytes;
    pthread_mutex_unlock((pthread_mutex_t *)&d->mu);
    return n;
}

size_t disk_buffer_events(const sl_disk_buffer *d)
{
    pthread_mutex_lock((pthread_mutex_t *)&d->mu);
    size_t n = d->events > 0 ? (size_t)d->events : 0;
    pthread_mutex_unlock((pthread_mutex_t *)&d->mu);
    return n;
}
