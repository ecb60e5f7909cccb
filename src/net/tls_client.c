/* tls_client.c - OpenSSL client side for components that do their own socket I/O: the
 * `tls:` option table, contexts, a timed non-blocking handshake, and error text. */
#include "tls_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "core/lazylib.h"

const sl_option tls_client_options[] = {
    TLS_CLIENT_BASE_OPTIONS("verify the server certificate and its name (false: tests only)",
                            "client certificate (PEM), for servers that require one"),
    {"server_name", SL_OPT_STR, offsetof(tls_client_config, server_name), NULL, 0, NULL, NULL, 0,
     0, "name checked in the certificate and sent as SNI (default: the address's host)"},
    SL_OPT_END,
};

/* The reason text of the newest queued OpenSSL error, or "" (clears the queue). */
static void last_reason(char *out, size_t outlen)
{
    unsigned long code = ERR_peek_last_error();
    const char *r = code ? ERR_reason_error_string(code) : NULL;
    if (r)
        snprintf(out, outlen, "%s", r);
    else if (code)
        ERR_error_string_n(code, out, outlen);
    else
        out[0] = '\0';
    ERR_clear_error();
}

SSL_CTX *tls_client_ctx_new(const tls_client_config *t, char *err, size_t errlen)
{
    err[0] = '\0';
    if (!t->enabled) {
        if (t->ca_file || t->cert_file || t->key_file || t->server_name)
            sl_seterr(err, errlen, SL_ERR_CONFIG,
                      "tls: options given but tls is not enabled (add enabled: true)");
        return NULL;
    }
    if (t->key_file && !t->cert_file) {
        sl_seterr(err, errlen, SL_ERR_CONFIG, "tls: key_file needs cert_file");
        return NULL;
    }
    if (lazylib_need(&lazy_openssl, "tls", err, errlen) != SL_OK)
        return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        sl_seterr(err, errlen, SL_ERR_NOMEM, "tls: cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Writes from a buffer that may be retried after WANT_WRITE, in pieces. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    char why[160];
    if (t->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (t->ca_file ? SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1
                       : SSL_CTX_set_default_verify_paths(ctx) != 1) {
            last_reason(why, sizeof why);
            sl_seterr(err, errlen, SL_ERR_CONFIG, "tls: cannot load ca_file %s: %s",
                      t->ca_file ? t->ca_file : "(system)", why);
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (t->cert_file) {
        const char *key = t->key_file ? t->key_file : t->cert_file;
        if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
            last_reason(why, sizeof why);
            sl_seterr(err, errlen, SL_ERR_CONFIG, "tls: cannot load cert_file %s: %s",
                      t->cert_file, why);
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            last_reason(why, sizeof why);
            sl_seterr(err, errlen, SL_ERR_CONFIG, "tls: cannot load key_file %s: %s", key, why);
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

void tls_client_error(SSL *ssl, int r, char *out, size_t outlen)
{
    int saved = errno;
    int e = SSL_get_error(ssl, r);
    char why[160];
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(out, outlen, "connection closed by the server (TLS close)");
    } else if (e == SSL_ERROR_SYSCALL) {
        last_reason(why, sizeof why);
        if (why[0])
            snprintf(out, outlen, "TLS: %s", why);
        else
            snprintf(out, outlen, "%s", saved ? strerror(saved) : "connection closed by the server");
    } else {
        long v = SSL_get_verify_result(ssl);
        last_reason(why, sizeof why);
        if (v != X509_V_OK)
            snprintf(out, outlen, "TLS: certificate verify failed: %s",
                     X509_verify_cert_error_string(v));
        else
            snprintf(out, outlen, "TLS: %s", why[0] ? why : "handshake failed");
    }
}

SSL *tls_client_handshake(SSL_CTX *ctx, const tls_client_config *t, int fd, const char *host,
                          int64_t timeout_ms, char *err, size_t errlen)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    SSL_set_fd(ssl, fd);
    const char *name = t->server_name && t->server_name[0] ? t->server_name : host;
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    if (!is_ip)
        SSL_set_tlsext_host_name(ssl, name); /* RFC 6066: no SNI for addresses */
    if (t->verify) {
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                       : SSL_set1_host(ssl, name);
        if (ok != 1) {
            snprintf(err, errlen, "TLS: cannot check the name \"%s\"", name);
            SSL_free(ssl);
            return NULL;
        }
    }
    /* A blocking socket with SO_RCVTIMEO/SO_SNDTIMEO reports WANT_* only once it timed out. */
    int fl = fcntl(fd, F_GETFL);
    bool blocking = fl >= 0 && !(fl & O_NONBLOCK);
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(ssl);
        if (r == 1)
            return ssl;
        int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            tls_client_error(ssl, r, err, errlen);
            SSL_free(ssl);
            return NULL;
        }
        if (blocking) {
            snprintf(err, errlen, "TLS: handshake timed out");
            SSL_free(ssl);
            return NULL;
        }
        struct pollfd p = {fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, 0};
        int pr;
        do
            pr = poll(&p, 1, (int)SL_MIN(timeout_ms, (int64_t)INT32_MAX));
        while (pr < 0 && errno == EINTR);
        if (pr <= 0) {
            snprintf(err, errlen, "TLS: handshake timed out");
            SSL_free(ssl);
            return NULL;
        }
    }
}
