/* kafka.c - the kafka components' connection options as librdkafka properties, the
 * delivery error classes, and the stable id header's text. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "formats/msgpack.h"
#include "kafka.h"
#include "redis.h"

const char *const kafka_sasl_mechanisms[] = {"none", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512",
                                             NULL};

const sl_option kafka_sasl_options[] = {
    {"mechanism", SL_OPT_ENUM, offsetof(kafka_sasl_config, mechanism), "none", 0,
     kafka_sasl_mechanisms, NULL, 0, 0, "none, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
    {"username", SL_OPT_STR, offsetof(kafka_sasl_config, username), NULL, 0, NULL, NULL, 0, 0,
     "SASL user name"},
    {"password", SL_OPT_STR, offsetof(kafka_sasl_config, password), NULL, 0, NULL, NULL, 0, 0,
     "SASL password"},
    SL_OPT_END,
};

/* tls_client_options but server_name: librdkafka checks each broker's advertised host name
 * and has no override, so `sluice components kafka` must not offer one. */
const sl_option kafka_tls_options[] = {
    TLS_CLIENT_BASE_OPTIONS(
        "verify each broker's certificate and its advertised host name (false: tests only)",
        "client certificate (PEM), for brokers that require one"),
    SL_OPT_END,
};

void kafka_log(const char *id, int level, const char *fac, const char *msg)
{
    if (level <= 3)
        log_warn(id, "librdkafka %s: %s", fac, msg);
    else if (level <= 5)
        log_info(id, "librdkafka %s: %s", fac, msg);
    else
        log_debug(id, "librdkafka %s: %s", fac, msg);
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                   size_t errlen)
{
    char why[512];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "librdkafka property %s: %s", name, why);
    return SL_OK;
}

/* host:port with a non-empty host and a port in 1..65535 ([v6]:port too). */
static bool hostport_ok(const char *s, size_t n)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ':')
            colon = s + i;
    if (!colon || colon == s || (size_t)(colon - s) == n - 1)
        return false;
    long port = 0;
    for (const char *p = colon + 1; p < s + n; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port = port * 10 + (*p - '0');
        if (port > 65535)
            return false;
    }
    return port > 0;
}

int kafka_brokers_join(const sl_strlist *brokers, sl_buf *out, char *err, size_t errlen)
{
    buf_reset(out);
    for (size_t i = 0; i < brokers->n; i++) {
        const char *s = brokers->v[i];
        while (*s) {
            size_t n = strcspn(s, ",");
            const char *a = s;
            size_t an = n;
            while (an && (*a == ' ' || *a == '\t'))
                a++, an--;
            while (an && (a[an - 1] == ' ' || a[an - 1] == '\t'))
                an--;
            if (an) {
                if (!hostport_ok(a, an))
                    return sl_seterr(err, errlen, SL_ERR_CONFIG,
                                     "brokers: \"%.*s\" is not host:port", (int)SL_MIN(an, (size_t)200), a);
                if (out->len)
                    buf_putc(out, ',');
                buf_append(out, a, an);
            }
            s += n;
            if (*s == ',')
                s++;
        }
    }
    if (!out->len)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "brokers: at least one host:port is needed");
    buf_putc(out, '\0');
    out->len--;
    return SL_OK;
}

int kafka_conf_apply(rd_kafka_conf_t *conf, const kafka_conn_config *c, char *err,
                     size_t errlen)
{
    sl_buf bs = {0};
    int rc = kafka_brokers_join(&c->brokers, &bs, err, errlen);
    if (rc == SL_OK)
        rc = kafka_conf_set(conf, "bootstrap.servers", bs.p, err, errlen);
    buf_free(&bs);
    if (rc != SL_OK)
        return rc;

    const tls_client_config *t = &c->tls;
    if (t->server_name)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "tls.server_name: not supported for kafka (librdkafka checks each "
                         "broker's advertised host name)");
    /* The shared checks: files readable, nothing set without enabled: true. */
    char why[400] = "";
    SSL_CTX *ctx = tls_client_ctx_new(t, why, sizeof why);
    if (ctx)
        SSL_CTX_free(ctx);
    else if (why[0])
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "tls: %s", why);

    const kafka_sasl_config *sa = &c->sasl;
    bool sasl = sa->mechanism != KAFKA_SASL_NONE;
    if (sasl && (!sa->username || !sa->password))
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "sasl: %s needs username and password",
                         kafka_sasl_mechanisms[sa->mechanism]);
    if (!sasl && (sa->username || sa->password))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "sasl: username/password given without a mechanism (PLAIN, "
                         "SCRAM-SHA-256, SCRAM-SHA-512)");
    const char *proto = t->enabled ? (sasl ? "sasl_ssl" : "ssl") : (sasl ? "sasl_plaintext" : "plaintext");
    if ((rc = kafka_conf_set(conf, "security.protocol", proto, err, errlen)) != SL_OK)
        return rc;
    if (t->enabled) {
        if (t->ca_file && (rc = kafka_conf_set(conf, "ssl.ca.location", t->ca_file, err, errlen)))
            return rc;
        if (t->cert_file &&
            (rc = kafka_conf_set(conf, "ssl.certificate.location", t->cert_file, err, errlen)))
            return rc;
        const char *key = t->key_file ? t->key_file : t->cert_file;
        if (key && (rc = kafka_conf_set(conf, "ssl.key.location", key, err, errlen)))
            return rc;
        if ((rc = kafka_conf_set(conf, "enable.ssl.certificate.verification",
                                 t->verify ? "true" : "false", err, errlen)) ||
            (rc = kafka_conf_set(conf, "ssl.endpoint.identification.algorithm",
                                 t->verify ? "https" : "none", err, errlen)))
            return rc;
    }
    if (sasl) {
        if ((rc = kafka_conf_set(conf, "sasl.mechanisms", kafka_sasl_mechanisms[sa->mechanism],
                                 err, errlen)) ||
            (rc = kafka_conf_set(conf, "sasl.username", sa->username, err, errlen)) ||
            (rc = kafka_conf_set(conf, "sasl.password", sa->password, err, errlen)))
            return rc;
    }
    for (size_t i = 0; i < c->librdkafka.n; i++) {
        rc = kafka_conf_set(conf, c->librdkafka.keys[i], c->librdkafka.vals[i], err, errlen);
        if (rc != SL_OK) {
            snprintf(why, sizeof why, "%s", err);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "librdkafka: %s", why);
        }
    }
    return SL_OK;
}

int kafka_err_item_status(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return SL_ITEM_OK;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:      /* not in the metadata past the propagation wait */
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: /* librdkafka retried it till it gave up */
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
        return SL_ITEM_REJECT;
    default:
        return SL_ITEM_RETRY;
    }
}

bool kafka_err_is_topic(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
}

bool kafka_event_has_id(const sl_event *e)
{
    return e->id_str.len || e->id_stream || e->id_seq;
}

void kafka_format_id(sl_buf *out, const sl_event *e)
{
    if (e->id_str.len) {
        buf_append(out, e->id_str.ptr, e->id_str.len);
        return;
    }
    char hex[KAFKA_HEX_ID_LEN + 1];
    int n = snprintf(hex, sizeof hex, "%016" PRIx64 "%016" PRIx64, e->id_stream, e->id_seq);
    buf_append(out, hex, (size_t)n);
}

void kafka_format_stream_key(sl_buf *out, const sl_event *e)
{
    if (!e->id_stream && e->id_str.len) {
        buf_append(out, e->id_str.ptr, e->id_str.len);
        return;
    }
    char hex[17];
    int n = snprintf(hex, sizeof hex, "%016" PRIx64, e->id_stream);
    buf_append(out, hex, (size_t)n);
}

/* ---- Decoding -------------------------------------------------------------------------- */

const char *const kafka_decodings[] = {"json", "raw", "forward", NULL};

static void text_event(sl_batch *b, const kafka_msg_view *m)
{
    sl_event *e = batch_add(b);
    e->ts_ns = m->ts_ms > 0 ? m->ts_ms * 1000000 : sl_now_ns();
    e->message = batch_str(b, m->payload ? m->payload : "", SL_MIN(m->len, (size_t)UINT32_MAX));
    b->bytes += event_size(e);
}

/* A Forward message is one msgpack value that fills the payload. */
static bool forward_events(sl_batch *b, const kafka_msg_view *m, fwd_scratch *scratch)
{
    if (!m->len)
        return false;
    mp_reader r = {(const uint8_t *)m->payload, (const uint8_t *)m->payload + m->len};
    if (mp_skip(&r, 32, m->len) != MP_OK || r.p != r.end)
        return false;
    fwd_msg_info info;
    fwd_limits lim = {.max_inflated = 64u << 20, .max_depth = 32};
    char err[128];
    uint32_t before = b->n;
    if (fwd_decode(m->payload, m->len, b, &info, scratch, &lim, err, sizeof err) != SL_OK)
        return false;
    return b->n > before || info.markers > 0;
}

uint32_t kafka_decode(sl_batch *b, const kafka_msg_view *m, int decoding, fwd_scratch *scratch,
                      bool *bad)
{
    uint32_t first = b->n;
    *bad = false;
    if (decoding == KAFKA_DEC_FORWARD) {
        if (!forward_events(b, m, scratch)) {
            *bad = true;
            text_event(b, m);
        }
    } else if (decoding == KAFKA_DEC_JSON) {
        redis_decode_value(b, m->payload ? m->payload : "", m->len);
    } else {
        text_event(b, m);
    }
    uint32_t n = b->n - first;
    char idb[64];
    for (uint32_t i = 0; i < n; i++) {
        sl_event *e = &b->events[first + i];
        sl_buf id = {0};
        if (m->id)
            buf_append(&id, m->id, m->idlen);
        else
            buf_printf(&id, "%s/%d/%lld", m->topic, (int)m->partition, (long long)m->offset);
        if (n > 1) {
            int k = snprintf(idb, sizeof idb, "/%u", i);
            buf_append(&id, idb, (size_t)k);
        }
        e->id_str = batch_str(b, id.p, SL_MIN(id.len, (size_t)UINT32_MAX));
        e->id_stream = e->id_seq = 0;
        buf_free(&id);
        event_set_str(b, e, "kafka.topic", m->topic, strlen(m->topic));
        event_set_int(b, e, "kafka.partition", m->partition);
        event_set_int(b, e, "kafka.offset", m->offset);
    }
    return n;
}
