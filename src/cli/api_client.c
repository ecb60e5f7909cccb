/* api_client.c - a small blocking HTTP/1.1 client for the API (see api_client.h). */
#include "api_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/common.h"
#include "formats/http_chunked.h"
#include "net/url.h"

#define MAX_HEADER (16 * 1024)
#define MAX_BODY (64u << 20) /* a status document is KiB; tap streams go to on_body */

int api_client_dial_address(const char *listen, char *out, size_t outlen, char *err,
                            size_t errlen)
{
    /* The log says "API listening on http://HOST:PORT": that URL pasted is the address. */
    char hp[300];
    const char *a = strncmp(listen, "http://", 7) == 0 ? listen + 7 : listen;
    if (strncmp(listen, "https://", 8) == 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "API address \"%s\": the API speaks plain HTTP (http://)", listen);
    snprintf(hp, sizeof hp, "%s", a);
    char *slash = strchr(hp, '/');
    if (slash && slash[1] == '\0')
        *slash = '\0';
    else if (slash)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "API address \"%s\": want HOST:PORT, without a path", listen);
    char host[256];
    int port;
    int rc = url_parse_hostport(hp, host, sizeof host, &port, err, errlen);
    if (rc != SL_OK)
        return rc;
    if (!*host || strcmp(host, "0.0.0.0") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(host, sizeof host, "::1");
    if (strchr(host, ':'))
        snprintf(out, outlen, "[%s]:%d", host, port);
    else
        snprintf(out, outlen, "%s:%d", host, port);
    return SL_OK;
}

static int dial(const char *address, int timeout_ms, char *err, size_t errlen)
{
    char host[256], port[8];
    int p;
    int rc = url_parse_hostport(address, host, sizeof host, &p, err, errlen);
    if (rc != SL_OK)
        return rc;
    snprintf(port, sizeof port, "%d", p);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(*host ? host : "127.0.0.1", port, &hints, &res);
    if (rc != 0)
        return sl_seterr(err, errlen, SL_ERR_IO, "%s: cannot resolve: %s", address,
                         gai_strerror(rc));
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int e = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
        if (e == EINPROGRESS) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            socklen_t el = sizeof e;
            if (poll(&pf, 1, timeout_ms > 0 ? timeout_ms : 5000) != 1)
                e = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
                e = errno;
        }
        if (e != 0) {
            saved = e;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return sl_seterr(err, errlen, SL_ERR_IO, "cannot connect to the API at %s: %s",
                         address, strerror(saved));
    return fd;
}

/* Reads what is there, waiting at most timeout_ms (0: for ever). 0 at EOF, -1 on error. */
static ssize_t read_some(int fd, char *p, size_t n, int timeout_ms)
{
    for (;;) {
        ssize_t r = read(fd, p, n);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -1;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int pr = poll(&pf, 1, timeout_ms > 0 ? timeout_ms : -1);
        if (pr == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (pr < 0 && errno != EINTR)
            return -1;
    }
}

static int deliver(sl_buf *body, api_client_body_fn on_body, void *arg, const char *p,
                   size_t n, int *stop)
{
    if (!n)
        return SL_OK;
    if (on_body) {
        *stop = on_body(arg, p, n);
        return SL_OK;
    }
    if (!body)
        return SL_OK;
    if (body->len + n > MAX_BODY)
        return SL_ERR_CORRUPT;
    buf_append(body, p, n);
    return SL_OK;
}

int api_client_get(const char *address, const char *path, int timeout_ms, int *status,
                   sl_buf *body, api_client_body_fn on_body, void *arg, char *err,
                   size_t errlen)
{
    return api_client_request(address, "GET", path, timeout_ms, status, body, on_body, arg, err,
                              errlen);
}

int api_client_request(const char *address, const char *method, const char *path,
                       int timeout_ms, int *status, sl_buf *body, api_client_body_fn on_body,
                       void *arg, char *err, size_t errlen)
{
    *status = 0;
    int fd = dial(address, timeout_ms, err, errlen);
    if (fd < 0)
        return fd;
    char req[2048];
    bool post = strcmp(method, "POST") == 0;
    int rl = snprintf(req, sizeof req,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n%sConnection: close\r\n\r\n",
                      method, path, address, post ? "Content-Length: 0\r\n" : "");
    if (rl < 0 || (size_t)rl >= sizeof req || write(fd, req, (size_t)rl) != rl) {
        close(fd);
        return sl_seterr(err, errlen, SL_ERR_IO, "API at %s: cannot send the request", address);
    }
    int rc = api_client_read_response(fd, address, timeout_ms, status, body, on_body, arg, err,
                                      errlen);
    close(fd);
    return rc;
}

int api_client_read_response(int fd, const char *address, int timeout_ms, int *status,
                             sl_buf *body, api_client_body_fn on_body, void *arg, char *err,
                             size_t errlen)
{
    *status = 0;
    /* Header first: up to the blank line. */
    char *h = malloc(MAX_HEADER + 1);
    size_t hl = 0;
    char *eoh = NULL;
    int rc = SL_OK;
    while (!eoh) {
        ssize_t r = hl < MAX_HEADER ? read_some(fd, h + hl, MAX_HEADER - hl, timeout_ms) : -2;
        if (r <= 0) {
            rc = sl_seterr(err, errlen, r == -2 ? SL_ERR_CORRUPT : SL_ERR_IO,
                           "API at %s: %s before the response header ended", address,
                           r == 0 ? "connection closed" : r == -2 ? "header too long"
                                                                  : strerror(errno));
            goto out;
        }
        hl += (size_t)r;
        h[hl] = '\0';
        eoh = memmem(h, hl, "\r\n\r\n", 4);
    }
    *eoh = '\0'; /* the header is read as a string from here on */
    if (memchr(h, '\0', (size_t)(eoh - h)) || sscanf(h, "HTTP/1.%*d %d", status) != 1) {
        rc = sl_seterr(err, errlen, SL_ERR_CORRUPT, "API at %s: not an HTTP response", address);
        goto out;
    }
    bool chunked = false;
    long long clen = -1;
    for (char *line = h; line;) {
        char *next = strstr(line, "\r\n");
        if (next)
            *next = '\0';
        if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked"))
            chunked = true;
        else if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = atoll(line + 15);
        line = next ? next + 2 : NULL;
    }
    if (clen < -1)
        clen = -1;
    if (*status != 200)
        on_body = NULL; /* an error's text goes to `body` */
    http_chunked dec;
    http_chunked_init(&dec, UINT64_MAX);
    int stop = 0;
    size_t got = 0;
    char *p = eoh + 4;
    size_t n = hl - (size_t)(p - h);
    char *chunk = h; /* the header buffer is reused for the body's reads */
    for (;;) {
        if (chunked) {
            size_t used = 0, wrote = 0;
            int d = http_chunked_decode(&dec, p, n, p, &used, &wrote, err, errlen);
            if (d == HTTP_CHUNKED_BAD || d == HTTP_CHUNKED_TOOBIG) {
                rc = SL_ERR_CORRUPT;
                goto out;
            }
            if (deliver(body, on_body, arg, p, wrote, &stop) != SL_OK) {
                rc = sl_seterr(err, errlen, SL_ERR_CORRUPT, "API at %s: body too large", address);
                goto out;
            }
            if (d == HTTP_CHUNKED_DONE)
                break;
        } else {
            if (clen >= 0 && got + n > (unsigned long long)clen)
                n = (size_t)clen - got;
            if (deliver(body, on_body, arg, p, n, &stop) != SL_OK) {
                rc = sl_seterr(err, errlen, SL_ERR_CORRUPT, "API at %s: body too large", address);
                goto out;
            }
            got += n;
            if (clen >= 0 && got >= (unsigned long long)clen)
                break;
        }
        if (stop)
            break;
        ssize_t r = read_some(fd, chunk, MAX_HEADER, timeout_ms);
        if (r == 0 && !chunked && clen < 0)
            break; /* the body ends with the connection */
        if (r <= 0) {
            rc = sl_seterr(err, errlen, SL_ERR_IO, "API at %s: %s in the response body", address,
                           r == 0 ? "connection closed" : strerror(errno));
            goto out;
        }
        p = chunk;
        n = (size_t)r;
    }
out:
    free(h);
    return rc;
}
