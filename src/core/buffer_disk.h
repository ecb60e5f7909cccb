/* buffer_disk.h - the disk half of buffer.h, called only by buffer.c.
 * Same contracts as the buffer_* functions of the same name. */
#ifndef SL_BUFFER_DISK_H
#define SL_BUFFER_DISK_H

#include "buffer.h"

typedef struct sl_disk_buffer sl_disk_buffer;

int disk_buffer_open(sl_disk_buffer **out, const sl_buffer_config *cfg, const char *dir,
                     sl_metrics *m, char *err, size_t errlen);
int disk_buffer_push(sl_disk_buffer *d, sl_batch *batch, const atomic_bool *cancel);
int disk_buffer_pop(sl_disk_buffer *d, sl_buffer_item *item, int timeout_ms, uint64_t wakes);
void disk_buffer_done(sl_disk_buffer *d, sl_buffer_item *item);
/* Gives a popped item back (buffer_requeue): the next pop returns it again, with its
 * token (the cursor does not pass it until it is done). */
void disk_buffer_requeue(sl_disk_buffer *d, sl_buffer_item *item);
void disk_buffer_wake(sl_disk_buffer *d);
uint64_t disk_buffer_wakes(sl_disk_buffer *d);
void disk_buffer_close(sl_disk_buffer *d);
void disk_buffer_free(sl_disk_buffer *d);
size_t disk_buffer_bytes(const sl_disk_buffer *d);
size_t disk_buffer_events(const sl_disk_buffer *d);
int64_t disk_buffer_pending(const char *dir);

/* Segment records, exposed for tests and fuzzing: header size, and the name and size of
 * the read-cursor file inside the buffer directory (two slots of 32 bytes). */
#define DISK_RECORD_HEADER 20
#define DISK_CURSOR_FILE "cursor.state"
#define DISK_CURSOR_SLOT 32
#define DISK_CURSOR_BYTES (2 * DISK_CURSOR_SLOT)

#endif
