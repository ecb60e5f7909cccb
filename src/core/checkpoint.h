/* checkpoint.h - a keyed position store that sources persist their committed positions in.
 * Per source <data_dir>/checkpoints/<id>.ckpt (durable: fsynced on an interval) and its live
 * copy <id>.ckpt.live (written as positions move; survives kill -9), each checksummed and
 * replaced atomically; the newer valid one is loaded (checkpoint.c design notes). */
#ifndef SL_CHECKPOINT_H
#define SL_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"

/* One entry: an opaque key chosen by the source (unique in the store), the committed
 * position, and free-form metadata (the file source stores fingerprint and path). */
typedef struct sl_ckpt_entry {
    char *key;    /* owned by the store */
    uint64_t pos;
    char *meta;   /* owned by the store, never NULL ("" when unset) */
} sl_ckpt_entry;

typedef struct sl_ckpt_store sl_ckpt_store;

/* An empty in-memory store with no file behind it (tests, fuzzing, the CLI). */
sl_ckpt_store *ckpt_new(void);

/* Opens the store of source `source_id` under data_dir: creates the directories, takes an
 * exclusive lock (so `sluice checkpoints reset` cannot pull it away from a running source)
 * and loads the file. A corrupt file is logged, counted as "corrupt_checkpoint" on `m`
 * (may be NULL), moved aside to <file>.corrupt, and the store starts empty. Returns
 * SL_OK with an owned store, or an error (e.g. locked by another process). */
int ckpt_open(sl_ckpt_store **out, const char *data_dir, const char *source_id, sl_metrics *m,
              char *err, size_t errlen);
/* Releases the lock and frees the store. Does not save. NULL is fine. */
void ckpt_close(sl_ckpt_store *s);

/* True when a checkpoint file (valid or not) existed when the store was opened: sources use
 * it to decide whether this is the very first start (read_from applies only then). */
bool ckpt_existed(const sl_ckpt_store *s);
/* The file path behind the store ("" for ckpt_new stores). Borrowed. */
const char *ckpt_path(const sl_ckpt_store *s);
/* Wall-clock time (ns) the version loaded by ckpt_open was written: the mtime of the copy
 * it came from; 0 if none was loaded. */
int64_t ckpt_loaded_mtime(const sl_ckpt_store *s);

size_t ckpt_count(const sl_ckpt_store *s);
/* Borrowed; valid until the next change to the store. */
const sl_ckpt_entry *ckpt_at(const sl_ckpt_store *s, size_t i);
const sl_ckpt_entry *ckpt_get(const sl_ckpt_store *s, const char *key);
/* Inserts or replaces; copies key and meta (meta may be NULL). */
void ckpt_set(sl_ckpt_store *s, const char *key, uint64_t pos, const char *meta);
/* Returns true if the key was present. */
bool ckpt_remove(sl_ckpt_store *s, const char *key);
void ckpt_clear(sl_ckpt_store *s);

/* Writes the store with the next generation. durable: <id>.ckpt atomically (temp, fsync,
 * rename, fsync dir; survives power loss); skipped (SL_OK) when the entries are those of the
 * last durable write and were already so for the settle time before it (ckpt_set_settle):
 * the copy on disk says the same, and its mtime dates them. Otherwise the live copy by
 * write + rename without fsync: survives kill -9 at any instant and costs no disk flush. */
int ckpt_write(sl_ckpt_store *s, bool durable, char *err, size_t errlen);
/* ckpt_write as a source runs it: each failure is counted (error checkpoint_write) and
 * sets the component's state to checkpoint_write_failed, which the stop's last line reads;
 * the failure is logged when saving starts to fail and again when a save works, not at
 * every try (a full disk fails them all, several a second). Returns ckpt_write's code. */
int ckpt_write_logged(sl_ckpt_store *s, bool durable, const char *id, sl_metrics *m);
/* How long the same entries keep being written durably (default 2000 ms; tests set 0). */
void ckpt_set_settle(sl_ckpt_store *s, int64_t ms);
/* ckpt_write(s, true, ...). */
int ckpt_save(sl_ckpt_store *s, char *err, size_t errlen);
/* Generation of the version loaded or last written (0: none, or a v1 file). */
uint64_t ckpt_generation(const sl_ckpt_store *s);

/* ---- Pacing: positions follow acknowledgements ----
 * A source reports each ack collection (ckpt_pace_committed with the number of batches
 * committed) and asks ckpt_pace_due which write is due: the live copy as soon as positions
 * moved, but at most every SL_CKPT_LIVE_MS unless SL_CKPT_LIVE_BATCHES batches have
 * committed since the last write; a durable write every durable_ms. So after kill -9 at
 * most min(SL_CKPT_LIVE_BATCHES batches, SL_CKPT_LIVE_MS of commits) committed positions
 * are not on disk, besides what was in flight. */
#define SL_CKPT_LIVE_MS 20
#define SL_CKPT_LIVE_BATCHES 16
enum { SL_CKPT_NONE = 0, SL_CKPT_LIVE, SL_CKPT_DURABLE };

typedef struct sl_ckpt_pace {
    int64_t durable_ms, next_durable, last_write; /* monotonic ms */
    size_t unsaved; /* batches committed since the last write */
} sl_ckpt_pace;

void ckpt_pace_init(sl_ckpt_pace *p, int64_t durable_ms, int64_t now);
void ckpt_pace_committed(sl_ckpt_pace *p, size_t batches);
/* SL_CKPT_NONE, SL_CKPT_LIVE or SL_CKPT_DURABLE (the interval has passed, moved or not). */
int ckpt_pace_due(const sl_ckpt_pace *p, int64_t now);
/* After a write of that kind (or a durable one skipped because nothing changed). */
void ckpt_pace_written(sl_ckpt_pace *p, int kind, int64_t now);
/* Milliseconds until ckpt_pace_due will say something other than NONE (0: now). */
int64_t ckpt_pace_wait(const sl_ckpt_pace *p, int64_t now);

/* The on-disk text: replaces the store's entries with those parsed from buf. On any
 * damage (bad header, bad line, checksum mismatch) returns SL_ERR_CORRUPT and leaves the
 * store empty. Never reads past len. */
int ckpt_parse(sl_ckpt_store *s, const char *buf, size_t len, char *err, size_t errlen);
/* Appends the on-disk text of the store to out. */
void ckpt_serialize(const sl_ckpt_store *s, sl_buf *out);

/* `sluice checkpoints show|reset [-c FILE | --data-dir DIR] [--source ID]`.
 * argv holds the words after "checkpoints". Returns the process exit status. */
int checkpoints_cli(int argc, char **argv);

#endif
