/* gz_prep.c - request bodies compressed ahead (gz_prep.h). */
#include "gz_prep.h"

#include <string.h>

#include "core/common.h"
#include "net/gz.h"

bool gz_prep_piece(sl_buf *out, const char *raw, size_t len, uint32_t n, int level,
                   const void *stream)
{
    if (len > UINT32_MAX / 2)
        return false;
    gz_prep_head h = {.n = n, .raw_len = (uint32_t)len};
    size_t at = out->len;
    /* the worst case at once: one growth, given back by batch_prep_done */
    buf_reserve(out, sizeof h + len + len / 16384 * 5 + 1024);
    out->len += sizeof h;
    if (gz_segment(GZ_AUTO, level, stream, raw, len, out, &h.crc) != SL_OK)
        return false;
    h.comp_len = (uint32_t)(out->len - at - sizeof h);
    memcpy(out->p + at, &h, sizeof h);
    return true;
}

bool gz_prep_add(sl_batch *b, uint32_t first, uint32_t n, const char *raw, size_t len,
                 int level, const void *stream)
{
    size_t start = b->prep.len;
    if (!gz_prep_piece(&b->prep, raw, len, n, level, stream))
        return false;
    batch_prep_event(b, first, start);
    return true;
}

void gz_prep_end(sl_batch *b, uint32_t id, bool ok)
{
    if (!ok) {
        for (uint32_t i = 0; i < b->n; i++)
            b->events[i].prep_len = 0;
        buf_free(&b->prep);
        return;
    }
    batch_prep_done(b, id);
    for (uint32_t i = 0; i < b->n; i++)
        b->events[i].prep_owner = id;
}

size_t gz_prep_at(sl_event *const *events, size_t n, size_t i, uint32_t id, gz_prep_head *h,
                  const char **comp)
{
    sl_str p = event_prep(events[i], id);
    if (p.len < sizeof *h)
        return 0;
    memcpy(h, p.ptr, sizeof *h); /* at any offset of the prep buffer */
    if (h->n > n - i || sizeof *h + h->comp_len != p.len)
        return 0;
    for (uint32_t k = 1; k < h->n; k++)
        if (events[i + k] != events[i] + k)
            return 0;
    *comp = p.ptr + sizeof *h;
    return h->n;
}
