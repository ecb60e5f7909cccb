/* tail_loop.h - the run loop every tailing source (file, kubernetes_logs) shares: the
 * checkpoint store, inotify + epoll wake-ups, poll / walk / checkpoint timing, orderly end. */
#ifndef SL_TAIL_LOOP_H
#define SL_TAIL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/checkpoint.h"
#include "core/component.h"
#include "sources/tailer.h"

/* What the source plugs in. Every hook gets tail_loop.arg. Acknowledged positions go to
 * the tailer's commit by the loop itself (the source's ack tokens carry tailer keys). */
typedef struct tail_loop_ops {
    tailer_line_fn on_line;         /* as for tailer_poll */
    tailer_file_done_fn on_done;
    void (*flush)(void *arg);       /* emit the batch being filled */
    /* Walks the patterns or the tree (watches go on *tail_loop.ino_fd when >= 0); returns
     * the ms until the next periodic walk. */
    int64_t (*scan)(void *arg);
    void (*discard)(void *arg);     /* at the end: drop the batch never emitted */
} tail_loop_ops;

typedef struct tail_loop {
    tailer *t;
    sl_source_ctx *ctx;
    const sl_component_ctx *cc;
    int64_t checkpoint_interval_ms;
    sl_ckpt_store **ck; /* the source's: opened here, closed (and NULL) at the end */
    int *ino_fd;        /* the source's: inotify while running, else -1 */
    bool *stopping;     /* the source's: set by its hooks when emitting failed */
    const tail_loop_ops *ops;
    void *arg;
} tail_loop;

/* Runs until the source is told to stop or emitting fails: loads the checkpoint, walks,
 * polls the tailer, walks again on inotify events or every scan interval, writes committed
 * positions as acknowledgements move them (the live copy, paced by sl_ckpt_pace), durably
 * every checkpoint_interval_ms and once more at the end. Returns SL_OK, or the error of
 * opening the checkpoint store (logged). */
int tail_loop_run(const tail_loop *l);

#endif
