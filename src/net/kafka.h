/* kafka.h - what the kafka sink and source share: the connection options (brokers, TLS,
 * SASL, the `librdkafka:` pass-through) turned into a librdkafka configuration, how a
 * delivery error maps to the sink runtime's outcomes, and the header that carries an
 * event's stable id across Kafka. */
#ifndef SL_KAFKA_H
#define SL_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/event.h"
#include "net/forward.h"
#include "net/tls_client.h"

/* The header every message the sink produces carries: the event's stable id, so a
 * consumer (sluice's kafka source among them) can drop duplicates. */
#define KAFKA_ID_HEADER "sluice-id"

/* Longest id kafka_format_id writes for an event without id_str (two hex u64). */
#define KAFKA_HEX_ID_LEN 32

enum { KAFKA_SASL_NONE = 0, KAFKA_SASL_PLAIN, KAFKA_SASL_SCRAM256, KAFKA_SASL_SCRAM512 };
extern const char *const kafka_sasl_mechanisms[]; /* "none", "PLAIN", "SCRAM-SHA-256", ... */

typedef struct kafka_sasl_config {
    int mechanism;
    char *username, *password;
} kafka_sasl_config;

extern const sl_option kafka_sasl_options[];
extern const sl_option kafka_tls_options[];

/* The connection settings of every kafka component: a component embeds one in its config
 * and lists KAFKA_CONN_OPTIONS(config type, member). */
typedef struct kafka_conn_config {
    sl_strlist brokers;
    tls_client_config tls;
    kafka_sasl_config sasl;
    sl_strmap librdkafka;
} kafka_conn_config;

#define KAFKA_OPT_(T, m, name, type, field, def, flags, sub, help)                          \
    {name, type, offsetof(T, m) + offsetof(kafka_conn_config, field), def, flags, NULL, sub, \
     0, 0, help}
#define KAFKA_CONN_OPTIONS(T, m)                                                              \
    KAFKA_OPT_(T, m, "brokers", SL_OPT_STRLIST, brokers, NULL, SL_OPT_REQUIRED, NULL,         \
               "bootstrap brokers: \"host:port,host:port\" or a list of host:port"),          \
    KAFKA_OPT_(T, m, "tls", SL_OPT_OBJECT, tls, NULL, 0, kafka_tls_options,                   \
               "TLS: enabled, verify, ca_file, cert_file, key_file"),                         \
    KAFKA_OPT_(T, m, "sasl", SL_OPT_OBJECT, sasl, NULL, 0, kafka_sasl_options,                \
               "SASL: mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), username, password"),  \
    KAFKA_OPT_(T, m, "librdkafka", SL_OPT_STRMAP, librdkafka, NULL, 0, NULL,                  \
               "any other librdkafka property, as name: value (applied last)")

/* Writes one of librdkafka's log lines (syslog levels) into sluice's log as component `id`:
 * errors and worse as warn, warnings and notices as info (librdkafka warns of what it
 * retries), info and debug as debug. */
void kafka_log(const char *id, int level, const char *fac, const char *msg);

/* Sets one property; on failure writes "<what>: <librdkafka's reason>" into err. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                   size_t errlen);
/* Applies the connection options to conf (bootstrap.servers, security.protocol, ssl.*,
 * sasl.*), then the `librdkafka:` map. Returns SL_OK or SL_ERR_CONFIG with a message that
 * names the option. */
int kafka_conf_apply(rd_kafka_conf_t *conf, const kafka_conn_config *c, char *err,
                     size_t errlen);
/* Joins the brokers list into bootstrap.servers form (entries may hold commas). Checks
 * each host:port. Returns SL_OK or SL_ERR_CONFIG. */
int kafka_brokers_join(const sl_strlist *brokers, sl_buf *out, char *err, size_t errlen);

/* SL_ITEM_OK, SL_ITEM_RETRY or SL_ITEM_REJECT for a delivery (or produce) error: a message
 * the broker can never take (too large, invalid, a topic name it refuses, a topic the
 * cluster does not have, authorization) is rejected, everything else (leaders moving,
 * timeouts, brokers down, queue full) is retried. */
int kafka_err_item_status(rd_kafka_resp_err_t err);
/* True for the errors that are about the message's topic (unknown, refused, not
 * authorized): a reason for them names the topic. */
bool kafka_err_is_topic(rd_kafka_resp_err_t err);

/* True when the event has a stable id (id_str, or id_stream/id_seq not both 0): an event
 * from a source without positions (http, stdin) has none, and a made-up one would be the
 * same for all of them (every consumer that drops duplicates by it would keep one). */
bool kafka_event_has_id(const sl_event *e);
/* Appends the default message key: the stream of the event's stable id (id_stream as 16
 * hex digits: one file, one connection...), so one stream stays in one partition and in
 * order; an event with only id_str is keyed by it. */
void kafka_format_stream_key(sl_buf *out, const sl_event *e);
/* Appends the event's stable id: id_str when set, else id_stream and id_seq as 32 hex
 * digits (the same text as the file sink's id_key). */
void kafka_format_id(sl_buf *out, const sl_event *e);

/* ---- Decoding what the source reads --------------------------------------------------- */
enum { KAFKA_DEC_JSON = 0, KAFKA_DEC_RAW = 1, KAFKA_DEC_FORWARD = 2 };
extern const char *const kafka_decodings[]; /* "json", "raw", "forward", NULL */

/* One consumed message, borrowed. `id` is the KAFKA_ID_HEADER value (NULL when absent). */
typedef struct kafka_msg_view {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t ts_ms; /* the message's timestamp, <= 0 when unknown */
    const void *payload;
    size_t len;
    const char *id;
    size_t idlen;
} kafka_msg_view;

/* Appends the events of one message to b and returns how many (one, or for forward as
 * many as the message holds, 0 for one without entries):
 *   json: sluice's own JSON (what the sink writes) becomes the event it was; any other
 *         payload becomes an event with the payload as message;
 *   raw: the payload is the message;
 *   forward: a Fluent Forward message (msgpack, any mode) becomes its events.
 * A payload that does not decode is kept as the message of one event and *bad is set.
 * Every event gets fields kafka.topic, kafka.partition and kafka.offset, and its stable id:
 * the id header when present (the event produced upstream keeps its id across Kafka),
 * else "topic/partition/offset"; a message of several events suffixes "/i". */
uint32_t kafka_decode(sl_batch *b, const kafka_msg_view *m, int decoding, fwd_scratch *scratch,
                      bool *bad);

#endif
