/* tail_ml.h - the `multiline:` option of the tailing sources (file, kubernetes_logs): the
 * lines of one stream (a file, or one of a container file's stdout and stderr, after CRI
 * and Docker partial lines are joined) become one message by the multiline transform's
 * rules before they become events.
 *
 * The open group of a stream is kept here, in the source, not in a batch: the source lowers
 * the position its batches commit to the first line of any group still open in that file
 * (tail_ml_hold), so a position only ever passes complete groups. After a crash a group is
 * read again whole, never as a tail; other files are not held back by it. */
#ifndef SL_TAIL_ML_H
#define SL_TAIL_ML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"

typedef struct tail_ml_config {
    int mode; /* index in tail_ml_modes: 0 off, else ML_MODE_* + 1 */
    char *start_pattern, *continue_pattern;
    int64_t timeout_ms, max_lines;
    uint64_t max_bytes;
} tail_ml_config;

extern const sl_option tail_ml_options[];

/* The option-table entry for a tail_ml_config at member `m` of config struct `T`. */
#define TAIL_ML_OPTION(T, m)                                                                  \
    {"multiline", SL_OPT_OBJECT, offsetof(T, m), NULL, 0, NULL, tail_ml_options, 0, 0,         \
     "join the lines of one message (a stack trace) per stream before they become events; "  \
     "positions commit only past complete groups"}

typedef struct tail_ml tail_ml;

/* One stream's open group, embedded in the source's per-file state (zeroed at first). */
typedef struct tail_ml_stream {
    sl_buf text;
    uint64_t first_off, end; /* of its first line's start and its last line's end */
    int64_t ts_ns;           /* its first line's time */
    int64_t last_ms;         /* monotonic, at its last line */
    uint32_t lines;
    int state;
    bool active;
    void *owner;             /* the caller's: its per-file state */
    int id;                  /* the caller's: which stream of that file */
    struct tail_ml_stream *prev, *next; /* in the list of open groups (expiry) */
} tail_ml_stream;

/* A finished group, borrowed during the callback. `cut`: closed by max_lines or max_bytes,
 * the rest of the message follows as the next event. */
typedef struct tail_ml_group {
    const char *text;
    size_t len;
    uint64_t first_off, end;
    int64_t ts_ns;
    bool cut;
} tail_ml_group;

typedef void (*tail_ml_emit_fn)(void *arg, tail_ml_stream *st, const tail_ml_group *g);

/* Compiles the rules. *out stays NULL when the mode is off. */
int tail_ml_new(tail_ml **out, const tail_ml_config *c, char *err, size_t errlen);
void tail_ml_free(tail_ml *m);

/* One line of st (s[0..n), at [off, end), with its time): the open group takes it when the
 * rules say it continues it, else the open group is emitted and the line opens the next. */
void tail_ml_line(tail_ml *m, tail_ml_stream *st, const char *s, size_t n, uint64_t off,
                  uint64_t end, int64_t ts_ns, tail_ml_emit_fn fn, void *arg);
/* Emits st's open group, if any: its file goes away, or a line that cannot join comes. */
void tail_ml_close(tail_ml *m, tail_ml_stream *st, tail_ml_emit_fn fn, void *arg);
/* Emits every open group whose last line is timeout_ms old (monotonic ms). */
void tail_ml_expire(tail_ml *m, int64_t now_ms, tail_ml_emit_fn fn, void *arg);
/* The first offset of st's open group, or UINT64_MAX: what its file's position must not pass. */
static inline uint64_t tail_ml_hold(const tail_ml_stream *st)
{
    return st->active ? st->first_off : UINT64_MAX;
}
/* Drops st's open group without emitting it (its file is forgotten, or truncated: the lines
 * are read again) and frees its memory. */
void tail_ml_forget(tail_ml_stream *st);

#endif
