/* tail_loop.c - the run loop of the tailing sources: see tail_loop.h. The sources differ in
 * what they walk and how lines become events; waiting, timing and shutdown are the same. */
#include "tail_loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/common.h"
#include "core/log.h"
#include "core/metrics.h"

/* Reads every pending inotify event; true when one asks for a walk (a file came, went or
 * moved, or the queue overflowed and events were lost). Writes alone are left to polling. */
static bool drain_inotify(const tail_loop *l)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool rescan = false;
    for (;;) {
        ssize_t r = read(*l->ino_fd, buf, sizeof buf);
        if (r <= 0)
            break;
        for (char *p = buf; p < buf + r;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW) {
                log_info(l->cc->id, "inotify queue overflowed; walking the files again");
                metrics_error(l->cc->metrics, "inotify_overflow");
            }
            if (ev->mask & ~(uint32_t)IN_MODIFY)
                rescan = true;
            p += sizeof *ev + ev->len;
        }
    }
    return rescan;
}

/* An acknowledged position: arg is the tailer. */
static void commit(void *arg, uint64_t key, uint64_t value) { tailer_commit(arg, key, value); }

int tail_loop_run(const tail_loop *l)
{
    const tail_loop_ops *o = l->ops;
    const sl_component_ctx *cc = l->cc;
    char err[512];
    int rc = ckpt_open(l->ck, cc->data_dir, cc->id, cc->metrics, err, sizeof err);
    if (rc != SL_OK) {
        log_error(cc->id, "%s", err);
        return rc;
    }
    tailer_set_first_start(l->t, !ckpt_existed(*l->ck));
    tailer_load_checkpoint(l->t, *l->ck, cc);

    *l->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (*l->ino_fd < 0)
        log_warn(cc->id, "inotify unavailable (%s); polling only", strerror(errno));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = source_stop_fd(l->ctx)};
        epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
        if (*l->ino_fd >= 0) {
            ev.data.fd = *l->ino_fd;
            epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
        }
    }

    int64_t next_scan = sl_mono_ms() + o->scan(l->arg);
    tailer_save_checkpoint(l->t, *l->ck, cc, true); /* from now on a checkpoint exists: read_from applies no more */
    sl_ckpt_pace pace;
    ckpt_pace_init(&pace, l->checkpoint_interval_ms, sl_mono_ms());
    bool rescan = false;
    while (!*l->stopping && !source_should_stop(l->ctx)) {
        ckpt_pace_committed(&pace, source_collect_acks(l->ctx, commit, l->t));
        size_t n = tailer_poll(l->t, o->on_line, o->on_done, l->arg);
        o->flush(l->arg);
        int64_t now = sl_mono_ms();
        if (rescan || now >= next_scan) {
            next_scan = now + o->scan(l->arg);
            rescan = false;
        }
        /* Positions follow acknowledgements: the live copy as soon as they moved (paced),
         * the durable copy every checkpoint_interval_ms. */
        ckpt_pace_committed(&pace, source_collect_acks(l->ctx, commit, l->t));
        int due = ckpt_pace_due(&pace, now);
        if (due != SL_CKPT_NONE) {
            tailer_save_checkpoint(l->t, *l->ck, cc, due == SL_CKPT_DURABLE);
            ckpt_pace_written(&pace, due, now);
        }
        /* Idle: sleep until inotify, stop, the next walk or checkpoint write, or 250 ms (the
         * fallback for filesystems without inotify); while batches are out, 5 ms, so their
         * acknowledgements are collected (and written) soon after they come. */
        int timeout = 0;
        if (n == 0) {
            now = sl_mono_ms();
            int64_t until = SL_MIN(next_scan - now, ckpt_pace_wait(&pace, now));
            if (ack_ledger_pending(source_ledger(l->ctx)) > 0)
                until = SL_MIN(until, 5);
            timeout = (int)SL_MAX(0, SL_MIN(until, 250));
        }
        if (ep >= 0) {
            struct epoll_event evs[4];
            if (epoll_wait(ep, evs, 4, timeout) > 0 && *l->ino_fd >= 0)
                rescan |= drain_inotify(l);
        } else if (timeout) {
            source_sleep(l->ctx, timeout);
        }
    }
    o->discard(l->arg); /* read but never emitted: not acked, so read again after restart */
    size_t left = source_drain_acks(l->ctx, commit, l->t);
    if (left)
        log_warn(cc->id, "%zu batches not acknowledged at shutdown; they will be read again",
                 left);
    tailer_save_checkpoint(l->t, *l->ck, cc, true);
    if (ep >= 0)
        close(ep);
    if (*l->ino_fd >= 0)
        close(*l->ino_fd);
    *l->ino_fd = -1;
    ckpt_close(*l->ck);
    *l->ck = NULL;
    return SL_OK;
}
