/* fuzz_forward.c - libFuzzer target for the Forward decoder and the handshake parsers: the
 * input is a stream of msgpack messages as a connection would deliver it (seeds include the
 * bytes a real Fluent Bit 5.1.1 sent and answered: fb511-*). Decoded events must re-encode
 * as PackedForward and decode back to the same count; the framed-read size of every prefix
 * of a message is never more than the message; every message also goes through the HELO,
 * PING and PONG parsers, which must not read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "formats/msgpack.h"
#include "net/forward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy so any read past the end is caught. */
    uint8_t *p = malloc(size ? size : 1);
    if (size)
        memcpy(p, data, size);
    static const fwd_limits lim = {1 << 20, 32};
    fwd_scratch sc = {SL_BUF_INIT, SL_BUF_INIT};
    char err[256];
    size_t off = 0;
    while (off < size) {
        mp_reader r = {p + off, p + size};
        if (mp_skip(&r, 32, 1 << 20) != MP_OK)
            break;
        size_t len = (size_t)(r.p - (p + off));
        for (size_t k = 0; k <= len; k += 1 + k / 8) {
            bool exact;
            size_t fs = fwd_frame_size(p + off, k, 1 << 20, &exact);
            if (fs > len || (exact && (k < len || fs != len)))
                abort();
        }
        static const uint8_t nonce[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
        static char *names[] = {"alice", ""}, *pws[] = {"s3cret", ""};
        fwd_helo helo;
        fwd_ping ping;
        if (fwd_parse_helo(p + off, len, &helo) == SL_OK && (!helo.nonce || helo.nonce_len > len))
            abort();
        int pr = fwd_check_ping(p + off, len, nonce, 16, nonce, 16, "k", names, pws, 2, &ping);
        if (pr != FWD_PING_MALFORMED && (ping.salt_len > len || ping.hostname_len > len))
            abort();
        (void)fwd_check_pong(p + off, len, nonce, 16, nonce, 16, "k", err, sizeof err);
        sl_batch *b = batch_new(4);
        fwd_msg_info info;
        if (fwd_decode(p + off, len, b, &info, &sc, &lim, err, sizeof err) == SL_OK) {
            if (info.events != b->n || (info.signal != 0 && info.events != 0))
                abort();
            sl_buf entries = SL_BUF_INIT, msg = SL_BUF_INIT;
            for (uint32_t i = 0; i < b->n; i++)
                fwd_encode_entry(&entries, &b->events[i], SL_STR("message"));
            if (fwd_encode_packed(&msg, "t", 1, &entries, b->n, "c", (size & 1) != 0) != SL_OK)
                abort();
            sl_batch *b2 = batch_new(4);
            fwd_msg_info info2;
            if (fwd_decode((const uint8_t *)msg.p, msg.len, b2, &info2, &sc, &lim, err, sizeof err) != SL_OK ||
                b2->n != b->n)
                abort();
            batch_release(b2);
            buf_free(&entries);
            buf_free(&msg);
        } else if (b->n != 0) {
            abort(); /* a failed decode appends nothing */
        }
        batch_release(b);
        off += len;
    }
    fwd_scratch_free(&sc);
    free(p);
    return 0;
}
