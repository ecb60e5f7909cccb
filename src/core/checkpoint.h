/* checkpoint.h - a keyed position store that sources persist their committed positions in.
 * One file per source, <data_dir>/checkpoints/<id>.ckpt, checksummed and replaced atomically. */
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

size_t ckpt_count(const sl_ckpt_store *s);
/* Borrowed; valid until the next change to the store. */
const sl_ckpt_entry *ckpt_at(const sl_ckpt_store *s, size_t i);
const sl_ckpt_entry *ckpt_get(const sl_ckpt_store *s, const char *key);
/* Inserts or replaces; copies key and meta (meta may be NULL). */
void ckpt_set(sl_ckpt_store *s, const char *key, uint64_t pos, const char *meta);
/* Returns true if the key was present. */
bool ckpt_remove(sl_ckpt_store *s, const char *key);
void ckpt_clear(sl_ckpt_store *s);

/* Writes the store atomically (temp, fsync, rename, fsync dir). */
int ckpt_save(sl_ckpt_store *s, char *err, size_t errlen);

/* The on-disk text: replaces the store's entries with those parsed from buf. On any
 * damage (bad header, bad line, checksum mismatch) returns SL_ERR_CORRUPT and leaves the
 * store empty. Never reads past len. */
int ckpt_parse(sl_ckpt_store *s, const char *buf, size_t len, char *err, size_t errlen);
/* Appends the on-disk text of the store to out. */
void ckpt_serialize(const sl_ckpt_store *s, sl_buf *out);

/* `sluice checkpoints show|reset [-c FILE | --data-dir DIR] [--source ID]`.
 * argv[0] is "checkpoints" or the subcommand itself. Returns the process exit status. */
int checkpoints_cli(int argc, char **argv);

#endif
