/* test_forward_recorded.c - the Forward codec against the bytes a real Fluent Bit 5.1.1
 * put on the wire (tests/data/fluent-bit-forward, README there): every client message
 * decodes to the recorded events, the acks the source would answer are the recorded
 * server's, and both sides of the shared-key handshake agree with Fluent Bit's byte for
 * byte (our PONG = Fluent Bit's PONG, our PING = Fluent Bit's PING for the same salt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "formats/msgpack.h"
#include "net/forward.h"

#define DATA "tests/data/fluent-bit-forward/"

static const fwd_limits lim = {1 << 20, 32};

typedef struct blob {
    uint8_t *p;
    size_t n;
} blob;

static blob load(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, DATA "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (run from the repository root)", path);
    blob b = {malloc(4096), 0};
    size_t r;
    while ((r = fread(b.p + b.n, 1, 4096, f)) > 0) {
        b.n += r;
        b.p = realloc(b.p, b.n + 4096);
    }
    fclose(f);
    return b;
}

/* The messages of a recorded stream, in order (pointers into b). */
typedef struct msgs {
    const uint8_t *p[16];
    size_t len[16];
    int n;
} msgs;

static msgs split(const blob *b)
{
    msgs m = {0};
    mp_reader r = {b->p, b->p + b->n};
    while (r.p < r.end) {
        const uint8_t *start = r.p;
        assert_int_equal(mp_skip(&r, 32, 1 << 20), MP_OK);
        assert_true(m.n < 16);
        m.p[m.n] = start;
        m.len[m.n++] = (size_t)(r.p - start);
    }
    return m;
}

static bool is_ping(const uint8_t *p, size_t n)
{
    return n > 6 && p[0] == 0x96 && memcmp(p + 1, "\xa4PING", 5) == 0;
}

static const sl_field *field(const sl_event *e, const char *k)
{
    return event_get(e, k, strlen(k));
}

static void want_str(const sl_event *e, const char *k, const char *v)
{
    const sl_field *f = field(e, k);
    if (!f || f->type != SL_VAL_STR || f->v.s.len != strlen(v) || memcmp(f->v.s.ptr, v, f->v.s.len))
        fail_msg("field %s is not %s", k, v);
}

static const struct {
    const char *name;
    const char *ns[3]; /* event times, ns (decoded from the recordings independently) */
    bool acks;
} cases[] = {
    {"forward_default", {"1796389524588691466", "1796389525588616125", "1796389526589253769"}, false},
    {"forward_no_metadata", {"1796389531588858018", "1796389532590534417", "1796389533588954647"}, false},
    {"forward_send_options_ack", {"1796389538588797719", "1796389539591065453", "1796389540589568449"}, true},
    {"packed_gzip_ack", {"1796389545588684349", "1796389546589062120", "1796389547588715764"}, true},
    {"packed_gzip_no_metadata", {"1796389552588887011", "1796389553590692745", "1796389554588935788"}, false},
    {"time_as_integer", {"1796389559000000000", "1796389560000000000", "1796389561000000000"}, false},
    {"shared_key", {"1796389566588687152", "1796389567588578077", "1796389568588569753"}, false},
    {"shared_key_users", {"1796389573588594782", "1796389574590019162", "1796389575588890168"}, false},
};

/* Every data message of every case: tag, time to the ns, the record, no metadata fields
 * (Fluent Bit's maps are empty here), and for the ack cases the answers the source builds
 * equal the recorded server's bytes. */
static void test_client_messages(void **state)
{
    (void)state;
    for (size_t c = 0; c < SL_ARRAY_LEN(cases); c++) {
        char name[96];
        snprintf(name, sizeof name, "%s.client.bin", cases[c].name);
        blob cb = load(name);
        snprintf(name, sizeof name, "%s.server.bin", cases[c].name);
        blob sb = load(name);
        msgs m = split(&cb);
        sl_batch *b = batch_new(4);
        fwd_scratch sc = {SL_BUF_INIT, SL_BUF_INIT};
        sl_buf acks = SL_BUF_INIT;
        char err[256];
        for (int i = 0; i < m.n; i++) {
            if (is_ping(m.p[i], m.len[i]))
                continue;
            fwd_msg_info info;
            if (fwd_decode(m.p[i], m.len[i], b, &info, &sc, &lim, err, sizeof err) != SL_OK)
                fail_msg("%s message %d: %s", cases[c].name, i, err);
            assert_int_equal(info.events, 1);
            assert_int_equal(info.signal, 0);
            assert_int_equal(info.markers, 0);
            assert_true(info.tag_len == 7 && memcmp(info.tag, "app.web", 7) == 0);
            if (info.size >= 0)
                assert_int_equal(info.size, 1);
            if (info.chunk)
                fwd_encode_ack(&acks, info.chunk, info.chunk_len);
            assert_int_equal(info.chunk != NULL, cases[c].acks);
        }
        assert_int_equal(b->n, 3);
        for (uint32_t k = 0; k < 3; k++) {
            const sl_event *e = &b->events[k];
            if (e->ts_ns != strtoll(cases[c].ns[k], NULL, 10))
                fail_msg("%s event %u: time %lld, want %s", cases[c].name, k,
                         (long long)e->ts_ns, cases[c].ns[k]);
            assert_true(e->message.len == 21 && memcmp(e->message.ptr, "hello from fluent-bit", 21) == 0);
            want_str(e, "level", "info");
            want_str(e, "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
            want_str(e, "job_id", "job-7");
            want_str(e, "tag", "app.web");
            assert_int_equal(e->nfields, 4); /* level, trace_id, job_id, tag: nothing else */
        }
        /* The acks: exactly the recorded server's bytes (empty without acks; the shared-key
         * servers' HELO/PONG are checked below). */
        if (cases[c].acks) {
            assert_int_equal(acks.len, sb.n);
            assert_memory_equal(acks.p, sb.p, sb.n);
        } else {
            assert_int_equal(acks.len, 0);
        }
        buf_free(&acks);
        fwd_scratch_free(&sc);
        batch_release(b);
        free(cb.p);
        free(sb.p);
    }
}

/* The recorded handshake of one case, per connection: HELO, PING, PONG. */
typedef struct hs {
    const uint8_t *helo[2], *ping[2], *pong[2];
    size_t helo_len[2], ping_len[2], pong_len[2];
} hs;

static hs handshakes(const blob *cb, const blob *sb)
{
    hs h;
    msgs c = split(cb), s = split(sb);
    int np = 0;
    for (int i = 0; i < c.n; i++)
        if (is_ping(c.p[i], c.len[i])) {
            assert_true(np < 2);
            h.ping[np] = c.p[i], h.ping_len[np++] = c.len[i];
        }
    assert_int_equal(np, 2);    /* two connections */
    assert_int_equal(s.n, 4);   /* HELO PONG HELO PONG */
    for (int k = 0; k < 2; k++) {
        h.helo[k] = s.p[2 * k], h.helo_len[k] = s.len[2 * k];
        h.pong[k] = s.p[2 * k + 1], h.pong_len[k] = s.len[2 * k + 1];
    }
    return h;
}

static const struct {
    const char *name, *key, *user, *password;
} hs_cases[] = {
    {"shared_key", "emp-log-aggregation-key", "", ""},
    {"shared_key_users", "k", "alice", "s3cret"},
};

/* Our server side against Fluent Bit's client: the recorded PING passes fwd_check_ping
 * with the recorded HELO's nonce and auth salt (what the source would have sent), and the
 * PONG we build is Fluent Bit's PONG byte for byte. A wrong key or password is refused. */
static void test_server_side(void **state)
{
    (void)state;
    for (size_t c = 0; c < SL_ARRAY_LEN(hs_cases); c++) {
        char name[96];
        snprintf(name, sizeof name, "%s.client.bin", hs_cases[c].name);
        blob cb = load(name);
        snprintf(name, sizeof name, "%s.server.bin", hs_cases[c].name);
        blob sb = load(name);
        hs h = handshakes(&cb, &sb);
        char *names[] = {(char *)hs_cases[c].user}, *pws[] = {(char *)hs_cases[c].password};
        char *bad_pws[] = {"wrong"};
        size_t nusers = hs_cases[c].user[0] ? 1 : 0;
        for (int k = 0; k < 2; k++) {
            fwd_helo helo;
            assert_int_equal(fwd_parse_helo(h.helo[k], h.helo_len[k], &helo), SL_OK);
            assert_int_equal(helo.nonce_len, 16);
            assert_int_equal(helo.auth_len, 16);
            fwd_ping ping;
            assert_int_equal(fwd_check_ping(h.ping[k], h.ping_len[k], helo.nonce, 16, helo.auth, 16,
                                            hs_cases[c].key, names, pws, nusers, &ping),
                             FWD_PING_OK);
            assert_true(ping.hostname_len == 9 && memcmp(ping.hostname, "fb-client", 9) == 0);
            assert_int_equal(ping.salt_len, 16); /* raw bytes in a str */
            sl_buf pong = SL_BUF_INIT;
            fwd_encode_pong(&pong, true, "", "fb-server", &ping, helo.nonce, 16, hs_cases[c].key);
            assert_int_equal(pong.len, h.pong_len[k]);
            assert_memory_equal(pong.p, h.pong[k], pong.len);
            buf_free(&pong);
            assert_int_equal(fwd_check_ping(h.ping[k], h.ping_len[k], helo.nonce, 16, helo.auth, 16,
                                            "not-the-key", names, pws, nusers, &ping),
                             FWD_PING_KEY);
            if (nusers)
                assert_int_equal(fwd_check_ping(h.ping[k], h.ping_len[k], helo.nonce, 16, helo.auth,
                                                16, hs_cases[c].key, names, bad_pws, 1, &ping),
                                 FWD_PING_USER);
            /* The other connection's nonce does not fit this PING (the digest binds it). */
            fwd_helo other;
            assert_int_equal(fwd_parse_helo(h.helo[1 - k], h.helo_len[1 - k], &other), SL_OK);
            assert_int_equal(fwd_check_ping(h.ping[k], h.ping_len[k], other.nonce, 16, other.auth, 16,
                                            hs_cases[c].key, names, pws, nusers, &ping),
                             FWD_PING_KEY);
        }
        free(cb.p);
        free(sb.p);
    }
}

/* Our client side against Fluent Bit's server: the recorded HELO parses; with the salt
 * Fluent Bit chose, our PING is Fluent Bit's PING byte for byte (every item a str); the
 * recorded PONG passes fwd_check_pong, and fails with another key. */
static void test_client_side(void **state)
{
    (void)state;
    for (size_t c = 0; c < SL_ARRAY_LEN(hs_cases); c++) {
        char name[96];
        snprintf(name, sizeof name, "%s.client.bin", hs_cases[c].name);
        blob cb = load(name);
        snprintf(name, sizeof name, "%s.server.bin", hs_cases[c].name);
        blob sb = load(name);
        hs h = handshakes(&cb, &sb);
        for (int k = 0; k < 2; k++) {
            fwd_helo helo;
            assert_int_equal(fwd_parse_helo(h.helo[k], h.helo_len[k], &helo), SL_OK);
            /* The salt Fluent Bit sent: PING item 3, a 16-byte str (0xb0 header). */
            const uint8_t *salt = h.ping[k] + 1 + 5 + 10;
            assert_int_equal(salt[0], 0xb0);
            salt++;
            sl_buf ping = SL_BUF_INIT;
            fwd_encode_ping(&ping, &helo, "fb-client", salt, 16, hs_cases[c].key, hs_cases[c].user,
                            hs_cases[c].password);
            assert_int_equal(ping.len, h.ping_len[k]);
            assert_memory_equal(ping.p, h.ping[k], ping.len);
            buf_free(&ping);
            char err[256] = "";
            if (fwd_check_pong(h.pong[k], h.pong_len[k], salt, 16, helo.nonce, helo.nonce_len,
                               hs_cases[c].key, err, sizeof err) != SL_OK)
                fail_msg("%s PONG %d: %s", hs_cases[c].name, k, err);
            assert_int_equal(fwd_check_pong(h.pong[k], h.pong_len[k], salt, 16, helo.nonce,
                                            helo.nonce_len, "other", err, sizeof err),
                             SL_ERR_CONFIG);
            assert_non_null(strstr(err, "digest mismatch"));
        }
        free(cb.p);
        free(sb.p);
    }
}

/* Shapes the recordings do not hold but Fluent Bit sends: a non-empty metadata map (kept
 * as fluentbit.metadata.* fields), Message mode with [time, metadata] or with the
 * metadata in the option, group markers (skipped), fluent_signal beyond logs (not
 * decoded), and a Fluentd-style HELO (bin nonce, keepalive). */
static void test_fluent_bit_shapes(void **state)
{
    (void)state;
    sl_batch *b = batch_new(4);
    fwd_scratch sc = {SL_BUF_INIT, SL_BUF_INIT};
    char err[256];
    fwd_msg_info info;
    sl_buf m = SL_BUF_INIT;
    /* Forward mode: group start, one event with metadata, group end. */
    mp_put_array(&m, 3);
    mp_put_cstr(&m, "otel");
    mp_put_array(&m, 3);
    for (int i = 0; i < 3; i++) {
        mp_put_array(&m, 2);
        mp_put_array(&m, 2);
        if (i == 1)
            mp_put_event_time(&m, 1700000000123456789LL);
        else
            mp_put_int(&m, i == 0 ? -1 : -2); /* group start / end */
        mp_put_map(&m, i == 1 ? 2 : 1);
        mp_put_cstr(&m, "source");
        mp_put_cstr(&m, "agent");
        if (i == 1) {
            mp_put_cstr(&m, "otlp");
            mp_put_map(&m, 1);
            mp_put_cstr(&m, "severity_number");
            mp_put_int(&m, 9);
        }
        mp_put_map(&m, 1);
        mp_put_cstr(&m, "message");
        mp_put_cstr(&m, i == 1 ? "real" : "group");
    }
    mp_put_map(&m, 2);
    mp_put_cstr(&m, "size");
    mp_put_int(&m, 3);
    mp_put_cstr(&m, "fluent_signal");
    mp_put_int(&m, 0);
    assert_int_equal(fwd_decode((const uint8_t *)m.p, m.len, b, &info, &sc, &lim, err, sizeof err), SL_OK);
    assert_int_equal(info.events, 1);
    assert_int_equal(info.markers, 2);
    const sl_event *e = &b->events[0];
    assert_true(e->ts_ns == 1700000000123456789LL);
    assert_memory_equal(e->message.ptr, "real", 4);
    want_str(e, "fluentbit.metadata.source", "agent");
    const sl_field *f = field(e, "fluentbit.metadata.otlp");
    assert_non_null(f);
    assert_int_equal(f->type, SL_VAL_JSON);
    assert_true(f->v.s.len == 21 && memcmp(f->v.s.ptr, "{\"severity_number\":9}", 21) == 0);
    /* Message mode, [time, metadata] header. */
    buf_reset(&m);
    mp_put_array(&m, 3);
    mp_put_cstr(&m, "msg");
    mp_put_array(&m, 2);
    mp_put_int(&m, 1700000001);
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "k");
    mp_put_int(&m, 5);
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "log");
    mp_put_cstr(&m, "line");
    assert_int_equal(fwd_decode((const uint8_t *)m.p, m.len, b, &info, &sc, &lim, err, sizeof err), SL_OK);
    e = &b->events[1];
    assert_true(e->ts_ns == 1700000001000000000LL);
    assert_memory_equal(e->message.ptr, "line", 4);
    assert_int_equal(field(e, "fluentbit.metadata.k")->v.i, 5);
    want_str(e, "tag", "msg");
    /* Message mode, metadata in the option (in_forward's `metadata` option), with a chunk. */
    buf_reset(&m);
    mp_put_array(&m, 4);
    mp_put_cstr(&m, "msg");
    mp_put_double(&m, 1700000002.5);
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "message");
    mp_put_cstr(&m, "opt");
    mp_put_map(&m, 2);
    mp_put_cstr(&m, "metadata");
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "m");
    mp_put_cstr(&m, "v");
    mp_put_cstr(&m, "chunk");
    mp_put_cstr(&m, "c1");
    assert_int_equal(fwd_decode((const uint8_t *)m.p, m.len, b, &info, &sc, &lim, err, sizeof err), SL_OK);
    e = &b->events[2];
    assert_true(e->ts_ns == 1700000002500000000LL);
    want_str(e, "fluentbit.metadata.m", "v");
    want_str(e, "tag", "msg");
    assert_memory_equal(info.chunk, "c1", 2);
    /* Forward mode whose first entry is a plain time: still Forward mode (2 entries). */
    buf_reset(&m);
    mp_put_array(&m, 2);
    mp_put_cstr(&m, "two");
    mp_put_array(&m, 2);
    for (int i = 0; i < 2; i++) {
        mp_put_array(&m, 2);
        mp_put_int(&m, 1700000003 + i);
        mp_put_map(&m, 0);
    }
    assert_int_equal(fwd_decode((const uint8_t *)m.p, m.len, b, &info, &sc, &lim, err, sizeof err), SL_OK);
    assert_int_equal(info.events, 2);
    want_str(&b->events[4], "tag", "two");
    /* fluent_signal 1 (metrics): the payload is cmetrics, not entries; nothing decoded. */
    uint32_t before = b->n;
    buf_reset(&m);
    mp_put_array(&m, 3);
    mp_put_cstr(&m, "metrics");
    mp_put_bin(&m, "\x81\xa4meta\xc0", 7);
    mp_put_map(&m, 2);
    mp_put_cstr(&m, "fluent_signal");
    mp_put_int(&m, 1);
    mp_put_cstr(&m, "chunk");
    mp_put_cstr(&m, "m1");
    assert_int_equal(fwd_decode((const uint8_t *)m.p, m.len, b, &info, &sc, &lim, err, sizeof err), SL_OK);
    assert_int_equal(info.signal, 1);
    assert_int_equal(info.events, 0);
    assert_int_equal(b->n, before);
    assert_memory_equal(info.chunk, "m1", 2);
    /* Bad shapes: metadata not a map, header of three items. */
    buf_reset(&m);
    mp_put_array(&m, 2);
    mp_put_cstr(&m, "t");
    mp_put_array(&m, 1);
    mp_put_array(&m, 2);
    mp_put_array(&m, 2);
    mp_put_int(&m, 1);
    mp_put_cstr(&m, "not a map");
    mp_put_map(&m, 0);
    assert_int_equal(fwd_decode((const uint8_t *)m.p, m.len, b, &info, &sc, &lim, err, sizeof err),
                     SL_ERR_CORRUPT);
    assert_non_null(strstr(err, "metadata is not a map"));
    buf_reset(&m);
    mp_put_array(&m, 2);
    mp_put_cstr(&m, "t");
    mp_put_array(&m, 1);
    mp_put_array(&m, 2);
    mp_put_array(&m, 3);
    mp_put_int(&m, 1);
    mp_put_map(&m, 0);
    mp_put_nil(&m);
    mp_put_map(&m, 0);
    assert_int_equal(fwd_decode((const uint8_t *)m.p, m.len, b, &info, &sc, &lim, err, sizeof err),
                     SL_ERR_CORRUPT);
    assert_non_null(strstr(err, "[time, metadata]"));
    assert_int_equal(b->n, before);
    /* A Fluentd HELO: bin nonce and auth, keepalive. */
    buf_reset(&m);
    uint8_t nonce[16] = {1, 2, 3};
    fwd_encode_helo(&m, nonce, NULL, 0);
    fwd_helo h;
    assert_int_equal(fwd_parse_helo((const uint8_t *)m.p, m.len, &h), SL_OK);
    assert_int_equal(h.nonce_len, 16);
    assert_int_equal(h.auth_len, 0);
    /* No auth salt: the PING carries "" "" (Fluentd's rule), every item a str. */
    sl_buf ping = SL_BUF_INIT;
    fwd_encode_ping(&ping, &h, "me", (const uint8_t *)"0123456789abcdef0123456789abcdef", 32, "k",
                    "u", "p");
    mp_reader r = {(const uint8_t *)ping.p, (const uint8_t *)ping.p + ping.len};
    mp_obj o;
    assert_int_equal(mp_read(&r, &o), MP_OK);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(mp_read(&r, &o), MP_OK);
        assert_int_equal(o.type, MP_STR);
        if (i >= 4)
            assert_int_equal(o.len, 0);
    }
    buf_free(&ping);
    buf_free(&m);
    fwd_scratch_free(&sc);
    batch_release(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_messages),
        cmocka_unit_test(test_server_side),
        cmocka_unit_test(test_client_side),
        cmocka_unit_test(test_fluent_bit_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
