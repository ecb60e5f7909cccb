/* tls_client.h - the `tls:` option of clients that open their own sockets (redis, forward) and the
 * OpenSSL client side they share: a context from the options, a timed handshake with SNI
 * and host-name verification, and readable OpenSSL error text. */
#ifndef SL_NET_TLS_CLIENT_H
#define SL_NET_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "core/config.h"

/* `tls:` of a client: enabled, verify (default true), ca_file, cert_file, key_file,
 * server_name. */
typedef struct tls_client_config {
    bool enabled, verify;
    char *ca_file, *cert_file, *key_file, *server_name;
} tls_client_config;

extern const sl_option tls_client_options[];

/* The entries of tls_client_options but server_name, with the words for the peer that
 * verify and cert_file's help name: for a client that cannot choose the name it checks
 * (kafka: librdkafka checks each broker's advertised host name). */
#define TLS_CLIENT_BASE_OPTIONS(verify_help, cert_help)                                        \
    {"enabled", SL_OPT_BOOL, offsetof(tls_client_config, enabled), "false", 0, NULL, NULL, 0, \
     0, "connect with TLS"},                                                                  \
    {"verify", SL_OPT_BOOL, offsetof(tls_client_config, verify), "true", 0, NULL, NULL, 0, 0,  \
     verify_help},                                                                            \
    {"ca_file", SL_OPT_STR, offsetof(tls_client_config, ca_file), NULL, 0, NULL, NULL, 0, 0,   \
     "PEM file of CAs to trust instead of the system store"},                                 \
    {"cert_file", SL_OPT_STR, offsetof(tls_client_config, cert_file), NULL, 0, NULL, NULL, 0,  \
     0, cert_help},                                                                           \
    {"key_file", SL_OPT_STR, offsetof(tls_client_config, key_file), NULL, 0, NULL, NULL, 0, 0, \
     "client private key (PEM; default: cert_file)"}

/* Checks the options and builds a client context (TLS 1.2 at least; the system's CAs
 * unless ca_file; the client certificate when cert_file). Returns an owned context
 * (SSL_CTX_free), NULL with *err empty when TLS is not enabled, or NULL with a message in
 * err (files that cannot be loaded, options set without enabled: true). */
SSL_CTX *tls_client_ctx_new(const tls_client_config *t, char *err, size_t errlen);

/* Runs the client handshake on a connected socket (blocking with timeouts or not): SNI and the certificate
 * name check use t->server_name, else `host` (an IP address is checked as one and sent
 * without SNI). Waits at most timeout_ms for each step. Returns an owned SSL (SSL_free;
 * the fd stays the caller's), or NULL with a message in err that says why (certificate
 * verification, alert from the server, timeout). */
SSL *tls_client_handshake(SSL_CTX *ctx, const tls_client_config *t, int fd, const char *host,
                          int64_t timeout_ms, char *err, size_t errlen);

/* Describes why an SSL call on `ssl` failed with result r (SSL_get_error rules), for
 * messages: the reason of the last OpenSSL error, the verification result, or errno. */
void tls_client_error(SSL *ssl, int r, char *out, size_t outlen);

#endif
