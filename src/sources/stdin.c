/* stdin.c - the `stdin` source: lines from fd 0, batched, ending at EOF once every batch
 * is acknowledged. Long lines follow the file source's policy (chunks, log.truncated).
 * A partial last line is emitted as an event at EOF and at a stop alike: its bytes are
 * out of the pipe, so nothing else could deliver them. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"

typedef struct stdin_config {
    uint64_t max_line_bytes, batch_max_bytes;
    int64_t batch_max_events;
} stdin_config;

static const sl_option stdin_options[] = {
    {"max_line_bytes", SL_OPT_SIZE, offsetof(stdin_config, max_line_bytes), "1MiB", 0, NULL,
     NULL, 16, INT32_MAX, "longer lines are emitted in chunks with log.truncated: true"},
    {"batch_max_events", SL_OPT_INT, offsetof(stdin_config, batch_max_events), "1024", 0, NULL,
     NULL, 1, 1 << 20, "events per batch at most"},
    {"batch_max_bytes", SL_OPT_SIZE, offsetof(stdin_config, batch_max_bytes), "1MiB", 0, NULL,
     NULL, 1024, 1LL << 30, "bytes per batch at most"},
    SL_OPT_END,
};

typedef struct stdin_source {
    const stdin_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    int fd;
    char *buf; /* max_line_bytes + chunk: the incomplete line plus one read */
    size_t blen, bcap;
    uint64_t offset; /* bytes consumed so far: the ack position */
    bool long_line;
    sl_batch *b;
    bool closed;
} stdin_source;

#define STDIN_CHUNK (64 * 1024)

static void stdin_noop_commit(void *arg, uint64_t key, uint64_t value) {}

static void stdin_flush(stdin_source *s)
{
    if (!s->b)
        return;
    sl_batch *b = s->b;
    s->b = NULL;
    b->ack = ack_token_open(source_ledger(s->ctx), 0, s->offset);
    b->origin = s->cc->id;
    if (source_emit(s->ctx, b) != SL_OK)
        s->closed = true;
}

static void stdin_line(stdin_source *s, const char *p, size_t len, bool truncated)
{
    if (!truncated && len && p[len - 1] == '\r')
        len--;
    if (!s->b)
        s->b = batch_new((uint32_t)SL_MIN(s->cfg->batch_max_events, 256));
    sl_batch *b = s->b;
    sl_event *e = batch_add(b);
    e->ts_ns = sl_now_ns();
    e->message = batch_str(b, p, len);
    if (truncated) {
        sl_field *f = event_add_field(b, e, "log.truncated", 13);
        f->type = SL_VAL_BOOL;
        f->v.b = true;
    }
    b->bytes += event_size(e);
    atomic_fetch_add_explicit(&s->cc->metrics->received_events, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, len + 1, memory_order_relaxed);
    if (b->n >= (uint32_t)s->cfg->batch_max_events || b->bytes >= s->cfg->batch_max_bytes)
        stdin_flush(s);
}

/* Emits every complete line in buf (and chunks of an over-long one); at EOF the rest too. */
static void stdin_split(stdin_source *s, bool eof)
{
    size_t pos = 0, max = s->cfg->max_line_bytes;
    for (;;) {
        char *nl = memchr(s->buf + pos, '\n', s->blen - pos);
        size_t avail = nl ? (size_t)(nl - (s->buf + pos)) : s->blen - pos;
        if (avail >= max && (!nl || avail > max)) {
            if (!s->long_line)
                metrics_error(s->cc->metrics, "line_too_long");
            stdin_line(s, s->buf + pos, max, true);
            s->long_line = true;
            pos += max;
            continue;
        }
        if (!nl) {
            if (eof && avail) {
                stdin_line(s, s->buf + pos, avail, s->long_line);
                pos += avail;
            }
            break;
        }
        if (!s->long_line || avail)
            stdin_line(s, s->buf + pos, avail, s->long_line);
        s->long_line = false;
        pos += avail + 1;
    }
    memmove(s->buf, s->buf + pos, s->blen - pos);
    s->blen -= pos;
    s->offset += pos;
}

static int stdin_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                      size_t errlen)
{
    stdin_source *s = sl_xcalloc(1, sizeof *s);
    s->cfg = config;
    s->cc = cc;
    s->fd = 0;
    s->bcap = s->cfg->max_line_bytes + STDIN_CHUNK;
    *self = s;
    return SL_OK;
}

static int stdin_run(void *self, sl_source_ctx *ctx)
{
    stdin_source *s = self;
    s->ctx = ctx;
    s->buf = sl_xmalloc(s->bcap);
    bool eof = false;
    while (!eof && !s->closed && !source_should_stop(ctx)) {
        source_collect_acks(ctx, stdin_noop_commit, s);
        struct pollfd pfd[2] = {{s->fd, POLLIN, 0}, {source_stop_fd(ctx), POLLIN, 0}};
        /* With a partial batch, only look: no input right now means flush it. */
        int r = poll(pfd, 2, s->b ? 0 : 1000);
        if (r < 0 && errno != EINTR) {
            log_error(s->cc->id, "poll: %s", strerror(errno));
            break;
        }
        if (r == 0) {
            stdin_flush(s);
            continue;
        }
        if (pfd[1].revents)
            break;
        if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = read(s->fd, s->buf + s->blen, SL_MIN((size_t)STDIN_CHUNK, s->bcap - s->blen));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            log_error(s->cc->id, "read stdin: %s", strerror(errno));
            metrics_error(s->cc->metrics, "read_error");
            eof = true;
        } else if (n == 0) {
            eof = true;
        } else {
            s->blen += (size_t)n;
        }
        stdin_split(s, eof);
    }
    /* At a stop too: what is held (a partial line, a batch not yet sent) was read from the
     * pipe and exists nowhere else. */
    if (!eof && !s->closed)
        stdin_split(s, true);
    if (!s->closed)
        stdin_flush(s);
    source_drain_acks(ctx, stdin_noop_commit, s);
    if (eof)
        log_info(s->cc->id, "end of input");
    return SL_OK;
}

static void stdin_destroy(void *self)
{
    stdin_source *s = self;
    if (!s)
        return;
    if (s->b)
        batch_release(s->b);
    free(s->buf);
    free(s);
}

const sl_source_vtable sl_source_stdin = {
    .type = "stdin",
    .help = "Reads lines from standard input; ends at end of input",
    .options = stdin_options,
    .config_size = sizeof(stdin_config),
    .init = stdin_init,
    .run = stdin_run,
    .destroy = stdin_destroy,
};
