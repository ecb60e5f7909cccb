/* stdout.c - the `stdout` sink: NDJSON (or text) lines on standard output, for demos,
 * debugging and piping. One write per request keeps lines from interleaving. A standard
 * output whose reader left (`sluice run | head`, a journal stream that broke) can never
 * take a line again: the sink stops the pipeline, and `run` exits 1 (a service manager
 * restarts it with a new one); its events stay unacknowledged (read again at the next start
 * where the source keeps positions). A standard output that is a regular file (`> out.log`,
 * systemd's StandardOutput=file:) whose disk fills keeps whole lines only, as the file sink
 * does: the torn end of a failed write is cut off and the events written whole count as
 * delivered, so a retry writes neither half a line nor a line twice. A pipe or socket whose
 * reader is alive but does not read (a paused pager) is written only as it takes bytes, so a
 * stop still ends at its deadline (sl_send_result.cancel) instead of waiting on the reader;
 * what was not written stays unacknowledged. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "formats/json.h"

enum { STDOUT_ENC_JSON = 0, STDOUT_ENC_TEXT = 1 };

typedef struct stdout_config {
    int encoding;
} stdout_config;

static const char *const stdout_encodings[] = {"json", "text", NULL};

static const sl_option stdout_options[] = {
    {"encoding", SL_OPT_ENUM, offsetof(stdout_config, encoding), "json", 0, stdout_encodings,
     NULL, 0, 0, "json: one JSON object per line; text: the message only"},
    SL_OPT_END,
};

typedef struct stdout_sink {
    const stdout_config *cfg; /* borrowed */
    const sl_component_ctx *cc;
    int fd;
    sl_buf out; /* reused between requests (the sink is serial) */
    size_t *ends; /* end of each event's line in out */
    size_t capends;
    bool gone;  /* EPIPE seen: the pipeline was asked to stop */
} stdout_sink;

static int stdout_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                       size_t errlen)
{
    stdout_sink *s = sl_xcalloc(1, sizeof *s);
    s->cfg = config;
    s->cc = cc;
    s->fd = STDOUT_FILENO;
    *self = s;
    return SL_OK;
}

/* A regular file's write failed after `done` bytes of the request that began at `start`:
 * cuts the file back to the last whole line and returns the events written whole. */
static size_t keep_whole_lines(stdout_sink *s, off_t start, size_t done, size_t n)
{
    size_t k = 0;
    while (k < n && s->ends[k] <= done)
        k++;
    off_t keep = start + (off_t)(k ? s->ends[k - 1] : 0);
    /* '>' does not open with O_APPEND: the offset must come back too, or the next write
     * leaves a hole of NULs */
    if (ftruncate(s->fd, keep) != 0 || lseek(s->fd, keep, SEEK_SET) != keep) {
        log_warn(s->cc->id, "cutting a torn line off standard output: %s", strerror(errno));
        return 0;
    }
    return k;
}

/* Waits until fd takes bytes (or fails), looking at the stop deadline every 100 ms; false
 * once it has passed. */
static bool wait_writable(int fd, const atomic_bool *cancel)
{
    for (;;) {
        if (cancel && atomic_load_explicit(cancel, memory_order_relaxed))
            return false;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int r = poll(&pf, 1, 100);
        if (r > 0 || (r < 0 && errno != EINTR))
            return true; /* writable, or an error the write will name */
    }
}

/* Bytes a write to pipe fd takes now without waiting: its free pages but two (the pages
 * the reader is in and the writer last filled may be partly used), at least PIPE_BUF,
 * which a pipe poll() calls writable always takes. */
static size_t pipe_room(int fd)
{
    int cap = fcntl(fd, F_GETPIPE_SZ), unread = 0;
    if (cap <= 0 || ioctl(fd, FIONREAD, &unread) != 0 || unread < 0 || unread > cap)
        return PIPE_BUF;
    long pages = (long)(cap - unread) / 4096 - 2;
    return pages > 0 ? SL_MAX((size_t)pages * 4096, (size_t)PIPE_BUF) : PIPE_BUF;
}

static int stdout_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    stdout_sink *s = self;
    buf_reset(&s->out);
    if (n > s->capends) {
        s->capends = n;
        s->ends = sl_xrealloc(s->ends, n * sizeof *s->ends);
    }
    for (size_t i = 0; i < n; i++) {
        const sl_event *e = events[i];
        if (s->cfg->encoding == STDOUT_ENC_TEXT)
            buf_append(&s->out, e->message.ptr, e->message.len);
        else
            json_encode_event(&s->out, e);
        buf_putc(&s->out, '\n');
        s->ends[i] = s->out.len;
    }
    /* where the request begins in a regular file: its end with O_APPEND ('>>'), whatever
     * the offset says, else the offset */
    struct stat st;
    off_t start = -1;
    bool fifo = false, sock = false; /* a reader that does not read blocks a write */
    if (fstat(s->fd, &st) == 0) {
        if (S_ISREG(st.st_mode))
            start = fcntl(s->fd, F_GETFL) & O_APPEND ? st.st_size : lseek(s->fd, 0, SEEK_CUR);
        fifo = S_ISFIFO(st.st_mode);
        sock = S_ISSOCK(st.st_mode);
    }
    size_t done = 0;
    while (done < s->out.len) {
        size_t chunk = s->out.len - done;
        if ((fifo || sock) && !wait_writable(s->fd, res->cancel))
            break;
        if (fifo)
            chunk = SL_MIN(chunk, pipe_room(s->fd));
        ssize_t w = sock ? send(s->fd, s->out.p + done, chunk, MSG_DONTWAIT | MSG_NOSIGNAL)
                         : write(s->fd, s->out.p + done, chunk);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) { /* non-blocking pipe full: wait for the reader */
            if (!wait_writable(s->fd, res->cancel))
                break;
            continue;
        }
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            metrics_error(s->cc->metrics, "write");
            res->status = SL_SEND_RETRY;
            if (e == EPIPE) {
                res->gone = true;
                if (!s->gone && s->cc->stop_pipeline) {
                    log_warn(s->cc->id, "standard output was closed by its reader: stopping");
                    s->cc->stop_pipeline(s->cc->stop_arg);
                }
                s->gone = true;
            }
            snprintf(res->reason, sizeof res->reason, "write stdout: %s", strerror(e));
            /* In a pipe, part of the request may be out already and a retry repeats those
             * lines; a file is cut back to its whole lines */
            size_t k = start >= 0 && done ? keep_whole_lines(s, start, done, n) : 0;
            if (k) {
                res->status = SL_SEND_PARTIAL;
                for (size_t i = k; i < n; i++)
                    res->item_status[i] = SL_ITEM_RETRY;
            }
            return SL_OK;
        }
        done += (size_t)w;
    }
    if (done < s->out.len) { /* the stop deadline passed while the reader did not read */
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason,
                 "stopping: standard output is not read (%zu of %zu bytes written)", done,
                 s->out.len);
        return SL_OK;
    }
    if (s->out.cap > (16u << 20))
        buf_free(&s->out);
    res->status = SL_SEND_OK;
    return SL_OK;
}

static void stdout_destroy(void *self)
{
    stdout_sink *s = self;
    if (!s)
        return;
    buf_free(&s->out);
    free(s->ends);
    free(s);
}

const sl_sink_vtable sl_sink_stdout = {
    .type = "stdout",
    .help = "Writes events to standard output as NDJSON or plain text",
    .options = stdout_options,
    .config_size = sizeof(stdout_config),
    .init = stdout_init,
    .send = stdout_send,
    .destroy = stdout_destroy,
    .serial = true,
};
