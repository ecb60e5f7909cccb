/* redis.h - what the redis sink and source share: connections (TCP or TLS, AUTH, SELECT,
 * pipelines), key templates, and turning a stored value back into an event. */
#ifndef SL_REDIS_H
#define SL_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "../core/buf.h"
#include "../core/event.h"
#include "tls_client.h"

enum { REDIS_MODE_LIST = 0, REDIS_MODE_STREAM = 1 };
extern const char *const redis_modes[]; /* "list", "stream", NULL */

/* The stream entry field that holds an event's JSON. */
#define REDIS_STREAM_FIELD "event"

/* Connection settings, borrowed from a component's config (tls too); ssl_ctx is made by
 * redis_endpoint_init and owned by the endpoint. */
/* The connection settings of every redis component, in the same words: a component embeds
 * one in its config and lists REDIS_CONN_OPTIONS(config type, member, timeout help). */
typedef struct redis_conn_config {
    char *address, *username, *password;
    int64_t db, timeout_ms;
    tls_client_config tls;
} redis_conn_config;

#define REDIS_OPT_(T, m, name, type, field, def, flags, sub, min, max, help)                   \
    {name, type, offsetof(T, m) + offsetof(redis_conn_config, field), def, flags, NULL, sub,  \
     min, max, help}
#define REDIS_CONN_OPTIONS(T, m, timeout_help)                                                 \
    REDIS_OPT_(T, m, "address", SL_OPT_STR, address, "127.0.0.1:6379", 0, NULL, 0, 0,          \
               "Redis server as host:port"),                                                   \
    REDIS_OPT_(T, m, "username", SL_OPT_STR, username, NULL, 0, NULL, 0, 0,                    \
               "ACL user (Redis 6+; AUTH username password; needs password)"),                 \
    REDIS_OPT_(T, m, "password", SL_OPT_STR, password, NULL, 0, NULL, 0, 0,                    \
               "AUTH password (of username, else of the default user)"),                       \
    REDIS_OPT_(T, m, "db", SL_OPT_INT, db, "0", 0, NULL, 0, 1 << 20,                           \
               "database number (SELECT)"),                                                    \
    REDIS_OPT_(T, m, "timeout", SL_OPT_DURATION, timeout_ms, "5s", 0, NULL, 1, 3600000,        \
               timeout_help),                                                                  \
    REDIS_OPT_(T, m, "tls", SL_OPT_OBJECT, tls, NULL, 0, tls_client_options, 0, 0,             \
               "TLS: enabled, verify, ca_file, cert_file, key_file, server_name")

typedef struct redis_endpoint {
    const char *address; /* host:port */
    const char *password; /* NULL or "" = no AUTH */
    int64_t db;
    int64_t timeout_ms;  /* connect, and no progress on a read or write for this long */
    const tls_client_config *tls; /* NULL = plain TCP */
    SSL_CTX *ssl_ctx;             /* NULL = plain TCP */
    const char *username;         /* NULL or "" = the default user */
} redis_endpoint;

/* Checks "host:port". Returns 0, or -1 with a message in err. */
int redis_address_check(const char *address, char *err, size_t errlen);
/* Checks the address and builds the TLS context when ep->tls is enabled. Returns SL_OK or
 * SL_ERR_CONFIG with a message in err. */
int redis_endpoint_init(redis_endpoint *ep, char *err, size_t errlen);
void redis_endpoint_free(redis_endpoint *ep);

/* ---- Connections ---------------------------------------------------------------------
 * One connection, plain TCP or TLS alike: our own sockets and OpenSSL for the I/O, hiredis
 * only to encode commands (redisFormatCommandArgv) and parse replies (redisReader). Used
 * by one thread at a time. Once an I/O or protocol error happened the connection is
 * broken: every later call fails and the caller closes it. */
typedef struct redis_conn redis_conn;

/* Connects (with the endpoint's timeout), runs the TLS handshake, AUTH and SELECT.
 * Returns an owned connection (redis_conn_close), or NULL with a message in err. */
/* A reply reader that refuses array headers larger than any reply of ours (NULL: out of
 * memory). The caller owns it (redisReaderFree). */
redisReader *redis_reader_new(void);

redis_conn *redis_conn_open(const redis_endpoint *ep, char *err, size_t errlen);
void redis_conn_close(redis_conn *c);
/* Appends one command to the pipeline (lens NULL = strlen of each). Nothing is sent
 * until a reply is read. Returns 0, or -1 (out of memory: the connection is broken). */
int redis_conn_append(redis_conn *c, int argc, const char **argv, const size_t *lens);
/* Sends what the pipeline holds, then reads the next reply. Returns 0 with an owned reply
 * (freeReplyObject; error replies are replies), or -1 when the connection broke. */
int redis_conn_reply(redis_conn *c, redisReply **out);
/* One command and its reply; NULL when the connection broke. */
redisReply *redis_conn_command(redis_conn *c, int argc, const char **argv, const size_t *lens);
/* Why the connection broke ("" while it works). */
const char *redis_conn_error(const redis_conn *c);
/* True for an error reply that passes (OOM, LOADING, READONLY, MISCONF: the server cannot
 * write until it can persist, "ERR max number of clients reached": the server's answer to
 * the connection ...); every other error reply (WRONGTYPE, ERR) is permanent. */
bool redis_reply_transient(const char *str, size_t len);

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
