/* fuzz_api_client.c - libFuzzer target for the response reader of `sluice top` / `sluice tap`
 * (cli/api_client.c): any bytes from the peer give a status and a body or an error, never a
 * crash; a streamed 200 body gives the same bytes as one read whole. The first byte picks
 * whether the body is streamed; the rest is what the peer sent, through a pipe. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/api_client.h"
#include "core/common.h"

static int collect(void *arg, const char *p, size_t n)
{
    buf_append(arg, p, n);
    return 0;
}

static int read_from(const uint8_t *data, size_t n, bool stream, int *status, sl_buf *body)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        abort();
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 17);
    if (n && write(fds[1], data, n) != (ssize_t)n)
        abort();
    close(fds[1]);
    char err[256];
    int rc = api_client_read_response(fds[0], "fuzz", 1000, status, stream ? NULL : body,
                                      stream ? collect : NULL, body, err, sizeof err);
    close(fds[0]);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    int s1 = 0, s2 = 0;
    sl_buf whole = SL_BUF_INIT, streamed = SL_BUF_INIT;
    int rc1 = read_from(data + 1, size - 1, false, &s1, &whole);
    int rc2 = read_from(data + 1, size - 1, data[0] & 1, &s2, &streamed);
    if (s1 != s2 || (s1 == 200 && rc1 == SL_OK && rc2 == SL_OK &&
                     (whole.len != streamed.len ||
                      (whole.len && memcmp(whole.p, streamed.p, whole.len) != 0))))
        abort();
    buf_free(&whole);
    buf_free(&streamed);
    return 0;
}
