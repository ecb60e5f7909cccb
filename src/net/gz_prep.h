/* gz_prep.h - request bodies compressed ahead: a sink's `prepare` (component.h) writes the
 * bytes of every run of events of a batch and compresses them there, on the source's
 * thread, as one deflate segment (gz.h); the request joins the segments that cover its
 * events whole into one gzip member, so the sink's thread reads compressed bytes only.
 *
 * A segment is the prepared bytes (event.h, event_prep) of the first event of its run:
 * a gz_prep_head, then the deflate bytes. Every event of a batch prepared so carries the
 * sink's prep id, with or without bytes of its own: the sink runtime ends a request's
 * slice where a run starts (note 10 of sink_runtime.c), and the sink writes itself the
 * events of a run that a request cuts. */
#ifndef SL_GZ_PREP_H
#define SL_GZ_PREP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/event.h"

typedef struct gz_prep_head {
    uint32_t n;        /* events of the run, from the one it starts at */
    uint32_t raw_len;  /* uncompressed bytes */
    uint32_t crc;      /* their CRC-32 */
    uint32_t comp_len; /* deflate bytes after the head */
} gz_prep_head;

/* How many events a run holds for a sink whose requests hold max_events: half, so that
 * requests cut to half (an adaptive target, note 10 of sink_runtime.c) still hold whole
 * runs. Not less: each run is compressed on its own, and each deflate block's codes cost
 * about 100,000 instructions to make (an eighth measured 8,730 instructions an event
 * against 8,332 without runs). */
static inline uint32_t gz_prep_run(uint32_t max_events)
{
    return max_events >= 2 ? max_events / 2 : 1;
}

/* Appends a head and the segment of raw[0..len) for a run of n events to out, at `level`
 * for `stream` (gz_segment: the sink). Returns false when it cannot be compressed (out
 * then holds a partial piece: drop it). */
bool gz_prep_piece(sl_buf *out, const char *raw, size_t len, uint32_t n, int level,
                   const void *stream);

/* On the batch being prepared: the segment of events [first, first+n) of b, from raw. */
bool gz_prep_add(sl_batch *b, uint32_t first, uint32_t n, const char *raw, size_t len,
                 int level, const void *stream);
/* Ends the preparation: `ok`, every event of b is marked `id`; otherwise nothing of it
 * stays. */
void gz_prep_end(sl_batch *b, uint32_t id, bool ok);

/* The run whose segment starts at events[i], when events[i..] holds all of it in order:
 * its length, with *h and *comp set; else 0. */
size_t gz_prep_at(sl_event *const *events, size_t n, size_t i, uint32_t id, gz_prep_head *h,
                  const char **comp);

#endif
