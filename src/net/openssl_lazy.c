/* openssl_lazy.c - libssl and libcrypto, loaded on first use instead of at process start:
 * for TLS (src/net/tls_client.c, server.c), SigV4 (sigv4.c) and Forward's shared key
 * (forward.c) alone. These definitions stand in for the functions sluice calls; the
 * components that need them load the library at init (lazylib.h), so a failure is a
 * clear refusal to start there and the fallbacks below are never reached in practice.
 * libssl.so.3 brings libcrypto.so.3 with it, and dlsym on libssl's handle finds the
 * functions of both. The SSL_CTX_set_* and SSL_set_* macros sluice uses expand to
 * SSL_CTX_ctrl and SSL_ctrl. */
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/lazylib.h"

static const char unloaded[] = "libssl.so.3 is not loaded";

static struct {
    __typeof__(ERR_clear_error) *ERR_clear_error;
    __typeof__(ERR_error_string_n) *ERR_error_string_n;
    __typeof__(ERR_get_error) *ERR_get_error;
    __typeof__(ERR_peek_error) *ERR_peek_error;
    __typeof__(ERR_peek_last_error) *ERR_peek_last_error;
    __typeof__(ERR_reason_error_string) *ERR_reason_error_string;
    __typeof__(EVP_Digest) *EVP_Digest;
    __typeof__(EVP_DigestFinal_ex) *EVP_DigestFinal_ex;
    __typeof__(EVP_DigestInit_ex) *EVP_DigestInit_ex;
    __typeof__(EVP_DigestUpdate) *EVP_DigestUpdate;
    __typeof__(EVP_MD_CTX_free) *EVP_MD_CTX_free;
    __typeof__(EVP_MD_CTX_new) *EVP_MD_CTX_new;
    __typeof__(EVP_sha256) *EVP_sha256;
    __typeof__(EVP_sha512) *EVP_sha512;
    __typeof__(HMAC) *HMAC;
    __typeof__(SSL_CTX_check_private_key) *SSL_CTX_check_private_key;
    __typeof__(SSL_CTX_ctrl) *SSL_CTX_ctrl;
    __typeof__(SSL_CTX_free) *SSL_CTX_free;
    __typeof__(SSL_CTX_load_verify_locations) *SSL_CTX_load_verify_locations;
    __typeof__(SSL_CTX_new) *SSL_CTX_new;
    __typeof__(SSL_CTX_set_default_verify_paths) *SSL_CTX_set_default_verify_paths;
    __typeof__(SSL_CTX_set_options) *SSL_CTX_set_options;
    __typeof__(SSL_CTX_set_verify) *SSL_CTX_set_verify;
    __typeof__(SSL_CTX_up_ref) *SSL_CTX_up_ref;
    __typeof__(SSL_CTX_use_PrivateKey_file) *SSL_CTX_use_PrivateKey_file;
    __typeof__(SSL_CTX_use_certificate_chain_file) *SSL_CTX_use_certificate_chain_file;
    __typeof__(SSL_connect) *SSL_connect;
    __typeof__(SSL_ctrl) *SSL_ctrl;
    __typeof__(SSL_do_handshake) *SSL_do_handshake;
    __typeof__(SSL_free) *SSL_free;
    __typeof__(SSL_get0_param) *SSL_get0_param;
    __typeof__(SSL_get_error) *SSL_get_error;
    __typeof__(SSL_get_verify_result) *SSL_get_verify_result;
    __typeof__(SSL_new) *SSL_new;
    __typeof__(SSL_pending) *SSL_pending;
    __typeof__(SSL_read) *SSL_read;
    __typeof__(SSL_set1_host) *SSL_set1_host;
    __typeof__(SSL_set_accept_state) *SSL_set_accept_state;
    __typeof__(SSL_set_fd) *SSL_set_fd;
    __typeof__(SSL_shutdown) *SSL_shutdown;
    __typeof__(SSL_write) *SSL_write;
    __typeof__(TLS_client_method) *TLS_client_method;
    __typeof__(TLS_server_method) *TLS_server_method;
    __typeof__(X509_VERIFY_PARAM_set1_ip_asc) *X509_VERIFY_PARAM_set1_ip_asc;
    __typeof__(X509_verify_cert_error_string) *X509_verify_cert_error_string;
} fn;

static const lazy_sym syms[] = {
    {"ERR_clear_error", &fn.ERR_clear_error},
    {"ERR_error_string_n", &fn.ERR_error_string_n},
    {"ERR_get_error", &fn.ERR_get_error},
    {"ERR_peek_error", &fn.ERR_peek_error},
    {"ERR_peek_last_error", &fn.ERR_peek_last_error},
    {"ERR_reason_error_string", &fn.ERR_reason_error_string},
    {"EVP_Digest", &fn.EVP_Digest},
    {"EVP_DigestFinal_ex", &fn.EVP_DigestFinal_ex},
    {"EVP_DigestInit_ex", &fn.EVP_DigestInit_ex},
    {"EVP_DigestUpdate", &fn.EVP_DigestUpdate},
    {"EVP_MD_CTX_free", &fn.EVP_MD_CTX_free},
    {"EVP_MD_CTX_new", &fn.EVP_MD_CTX_new},
    {"EVP_sha256", &fn.EVP_sha256},
    {"EVP_sha512", &fn.EVP_sha512},
    {"HMAC", &fn.HMAC},
    {"SSL_CTX_check_private_key", &fn.SSL_CTX_check_private_key},
    {"SSL_CTX_ctrl", &fn.SSL_CTX_ctrl},
    {"SSL_CTX_free", &fn.SSL_CTX_free},
    {"SSL_CTX_load_verify_locations", &fn.SSL_CTX_load_verify_locations},
    {"SSL_CTX_new", &fn.SSL_CTX_new},
    {"SSL_CTX_set_default_verify_paths", &fn.SSL_CTX_set_default_verify_paths},
    {"SSL_CTX_set_options", &fn.SSL_CTX_set_options},
    {"SSL_CTX_set_verify", &fn.SSL_CTX_set_verify},
    {"SSL_CTX_up_ref", &fn.SSL_CTX_up_ref},
    {"SSL_CTX_use_PrivateKey_file", &fn.SSL_CTX_use_PrivateKey_file},
    {"SSL_CTX_use_certificate_chain_file", &fn.SSL_CTX_use_certificate_chain_file},
    {"SSL_connect", &fn.SSL_connect},
    {"SSL_ctrl", &fn.SSL_ctrl},
    {"SSL_do_handshake", &fn.SSL_do_handshake},
    {"SSL_free", &fn.SSL_free},
    {"SSL_get0_param", &fn.SSL_get0_param},
    {"SSL_get_error", &fn.SSL_get_error},
    {"SSL_get_verify_result", &fn.SSL_get_verify_result},
    {"SSL_new", &fn.SSL_new},
    {"SSL_pending", &fn.SSL_pending},
    {"SSL_read", &fn.SSL_read},
    {"SSL_set1_host", &fn.SSL_set1_host},
    {"SSL_set_accept_state", &fn.SSL_set_accept_state},
    {"SSL_set_fd", &fn.SSL_set_fd},
    {"SSL_shutdown", &fn.SSL_shutdown},
    {"SSL_write", &fn.SSL_write},
    {"TLS_client_method", &fn.TLS_client_method},
    {"TLS_server_method", &fn.TLS_server_method},
    {"X509_VERIFY_PARAM_set1_ip_asc", &fn.X509_VERIFY_PARAM_set1_ip_asc},
    {"X509_verify_cert_error_string", &fn.X509_verify_cert_error_string},
    {NULL, NULL},
};

lazylib lazy_openssl = LAZYLIB_INIT("libssl.so.3", syms);

void ERR_clear_error(void)
{
    if (lazylib_ready(&lazy_openssl))
        fn.ERR_clear_error();
}

void ERR_error_string_n(unsigned long e, char *buf, size_t len)
{
    if (lazylib_ready(&lazy_openssl))
        fn.ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", unloaded);
}

unsigned long ERR_get_error(void)
{
    return lazylib_ready(&lazy_openssl) ? fn.ERR_get_error() : 0;
}

unsigned long ERR_peek_error(void)
{
    return lazylib_ready(&lazy_openssl) ? fn.ERR_peek_error() : 0;
}

unsigned long ERR_peek_last_error(void)
{
    return lazylib_ready(&lazy_openssl) ? fn.ERR_peek_last_error() : 0;
}

const char *ERR_reason_error_string(unsigned long e)
{
    return lazylib_ready(&lazy_openssl) ? fn.ERR_reason_error_string(e) : unloaded;
}

int EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type, ENGINE *impl)
{
    return lazylib_ready(&lazy_openssl) ? fn.EVP_Digest(data, count, md, size, type, impl) : 0;
}

int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s)
{
    return lazylib_ready(&lazy_openssl) ? fn.EVP_DigestFinal_ex(ctx, md, s) : 0;
}

int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl)
{
    return lazylib_ready(&lazy_openssl) ? fn.EVP_DigestInit_ex(ctx, type, impl) : 0;
}

int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt)
{
    return lazylib_ready(&lazy_openssl) ? fn.EVP_DigestUpdate(ctx, d, cnt) : 0;
}

void EVP_MD_CTX_free(EVP_MD_CTX *ctx)
{
    if (lazylib_ready(&lazy_openssl))
        fn.EVP_MD_CTX_free(ctx);
}

EVP_MD_CTX *EVP_MD_CTX_new(void)
{
    return lazylib_ready(&lazy_openssl) ? fn.EVP_MD_CTX_new() : NULL;
}

const EVP_MD *EVP_sha256(void)
{
    return lazylib_ready(&lazy_openssl) ? fn.EVP_sha256() : NULL;
}

const EVP_MD *EVP_sha512(void)
{
    return lazylib_ready(&lazy_openssl) ? fn.EVP_sha512() : NULL;
}

unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *data, size_t data_len, unsigned char *md, unsigned int *md_len)
{
    return lazylib_ready(&lazy_openssl) ? fn.HMAC(evp_md, key, key_len, data, data_len, md, md_len) : NULL;
}

int SSL_CTX_check_private_key(const SSL_CTX *ctx)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_CTX_check_private_key(ctx) : 0;
}

long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_CTX_ctrl(ctx, cmd, larg, parg) : 0;
}

void SSL_CTX_free(SSL_CTX *ctx)
{
    if (lazylib_ready(&lazy_openssl))
        fn.SSL_CTX_free(ctx);
}

int SSL_CTX_load_verify_locations(SSL_CTX *ctx, const char *CAfile, const char *CApath)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_CTX_load_verify_locations(ctx, CAfile, CApath) : 0;
}

SSL_CTX *SSL_CTX_new(const SSL_METHOD *meth)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_CTX_new(meth) : NULL;
}

int SSL_CTX_set_default_verify_paths(SSL_CTX *ctx)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_CTX_set_default_verify_paths(ctx) : 0;
}

uint64_t SSL_CTX_set_options(SSL_CTX *ctx, uint64_t op)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_CTX_set_options(ctx, op) : 0;
}

void SSL_CTX_set_verify(SSL_CTX *ctx, int mode, SSL_verify_cb callback)
{
    if (lazylib_ready(&lazy_openssl))
        fn.SSL_CTX_set_verify(ctx, mode, callback);
}

int SSL_CTX_up_ref(SSL_CTX *ctx)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_CTX_up_ref(ctx) : 0;
}

int SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_CTX_use_PrivateKey_file(ctx, file, type) : 0;
}

int SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_CTX_use_certificate_chain_file(ctx, file) : 0;
}

int SSL_connect(SSL *ssl)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_connect(ssl) : -1;
}

long SSL_ctrl(SSL *ssl, int cmd, long larg, void *parg)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_ctrl(ssl, cmd, larg, parg) : 0;
}

int SSL_do_handshake(SSL *s)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_do_handshake(s) : -1;
}

void SSL_free(SSL *ssl)
{
    if (lazylib_ready(&lazy_openssl))
        fn.SSL_free(ssl);
}

X509_VERIFY_PARAM *SSL_get0_param(SSL *ssl)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_get0_param(ssl) : NULL;
}

int SSL_get_error(const SSL *s, int ret_code)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_get_error(s, ret_code) : SSL_ERROR_SSL;
}

long SSL_get_verify_result(const SSL *ssl)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_get_verify_result(ssl) : X509_V_ERR_UNSPECIFIED;
}

SSL *SSL_new(SSL_CTX *ctx)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_new(ctx) : NULL;
}

int SSL_pending(const SSL *s)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_pending(s) : 0;
}

int SSL_read(SSL *ssl, void *buf, int num)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_read(ssl, buf, num) : -1;
}

int SSL_set1_host(SSL *s, const char *hostname)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_set1_host(s, hostname) : 0;
}

void SSL_set_accept_state(SSL *s)
{
    if (lazylib_ready(&lazy_openssl))
        fn.SSL_set_accept_state(s);
}

int SSL_set_fd(SSL *s, int fd)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_set_fd(s, fd) : 0;
}

int SSL_shutdown(SSL *s)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_shutdown(s) : -1;
}

int SSL_write(SSL *ssl, const void *buf, int num)
{
    return lazylib_ready(&lazy_openssl) ? fn.SSL_write(ssl, buf, num) : -1;
}

const SSL_METHOD *TLS_client_method(void)
{
    return lazylib_ready(&lazy_openssl) ? fn.TLS_client_method() : NULL;
}

const SSL_METHOD *TLS_server_method(void)
{
    return lazylib_ready(&lazy_openssl) ? fn.TLS_server_method() : NULL;
}

int X509_VERIFY_PARAM_set1_ip_asc(X509_VERIFY_PARAM *param, const char *ipasc)
{
    return lazylib_ready(&lazy_openssl) ? fn.X509_VERIFY_PARAM_set1_ip_asc(param, ipasc) : 0;
}

const char *X509_verify_cert_error_string(long n)
{
    return lazylib_ready(&lazy_openssl) ? fn.X509_verify_cert_error_string(n) : unloaded;
}
