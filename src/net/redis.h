/* redis.h - what the redis sink and source share: connecting (address, AUTH, SELECT),
 * key templates, and turning a stored value back into an event. */
#ifndef SL_REDIS_H
#define SL_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "../core/buf.h"
#include "../core/event.h"

enum { REDIS_MODE_LIST = 0, REDIS_MODE_STREAM = 1 };
extern const char *const redis_modes[]; /* "list", "stream", NULL */

/* The stream entry field that holds an event's JSON. */
#define REDIS_STREAM_FIELD "event"

/* Connection settings, borrowed from a component's config. */
typedef struct redis_endpoint {
    const char *address; /* host:port */
    const char *password; /* NULL or "" = no AUTH */
    int64_t db;
    int64_t timeout_ms;  /* connect and per-reply timeout */
} redis_endpoint;

/* Checks "host:port". Returns 0, or -1 with a message in err. */
int redis_address_check(const char *address, char *err, size_t errlen);
/* Connects, authenticates and selects the database. Returns an owned context
 * (redisFree), or NULL with a message in err. */
redisContext *redis_connect(const redis_endpoint *ep, char *err, size_t errlen);

/* A compiled key: literal text with strftime conversions of the event's time (UTC) and
 * {{ field }} substitutions (a missing field renders as "unknown"). */
typedef struct redis_key_part {
    bool field;
    char *text; /* owned */
    size_t len;
    bool has_pct; /* literal with '%' conversions */
} redis_key_part;

typedef struct redis_key_tmpl {
    redis_key_part *parts;
    size_t n;
    bool dynamic;
} redis_key_tmpl;

int redis_key_compile(redis_key_tmpl *t, const char *s, char *err, size_t errlen);
void redis_key_free(redis_key_tmpl *t);
/* Appends the key for e to out. */
void redis_key_render(const redis_key_tmpl *t, const sl_event *e, sl_buf *out);

/* Appends one event decoded from a stored value to b. sluice's own JSON comes back as
 * the event it was; anything else becomes an event whose message is the text (returns
 * false then, so the caller can count it). Never fails. */
bool redis_decode_value(sl_batch *b, const char *s, size_t n);

/* Stream entries. `entries` is the array of [id, [field, value, ...]] pairs inside an
 * XREADGROUP or XAUTOCLAIM reply. fn is called for each well-formed entry with its id and
 * its field array (NULL when the entry was deleted meanwhile). Malformed entries are
 * skipped; returns how many. */
typedef void (*redis_entry_fn)(void *arg, const char *id, size_t idlen, const redisReply *fields);
size_t redis_stream_walk(const redisReply *entries, redis_entry_fn fn, void *arg);
/* Appends the event of one stream entry: the REDIS_STREAM_FIELD value decoded as by
 * redis_decode_value; an entry written by someone else becomes an event with its "message"
 * field (if any) as message and the other fields as string fields (returns false). */
bool redis_decode_fields(sl_batch *b, const redisReply *fields);

#endif
