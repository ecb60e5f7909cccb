/* openssl_lazy.c - libssl and libcrypto, loaded on first use instead of at process start.
 * Linked, they took 1.6 MB of every process's resident memory and 3 ms of every start, for
 * TLS (src/net/tls_client.c, server.c), SigV4 (sigv4.c) and Forward's shared key
 * (forward.c) alone. These definitions stand in for the functions sluice calls; the
 * components that need them load the library at init, or the HTTP sinks when they make
 * their first TLS context (see lazylib.h). Unloaded, a stand-in returns the value in its
 * row, which nothing reaches: every call but the context's constructors takes an object
 * only the loaded library can have made. libssl.so.3 brings libcrypto.so.3 with it, and
 * dlsym on libssl's handle finds the functions of both. The SSL_CTX_set_* and SSL_set_*
 * macros sluice uses expand to SSL_CTX_ctrl and SSL_ctrl. The list is an X-macro so one
 * row gives the pointer, the symbol to resolve and the definition. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/lazylib.h"

/* X(return type, name, value when unloaded, parameters, arguments); V(...) returns void. */
#define OPENSSL_FUNCS(X, V) \
    V(ERR_clear_error, (void), ()) \
    V(ERR_error_string_n, (unsigned long e, char *buf, size_t len), (e, buf, len)) \
    X(unsigned long, ERR_get_error, 0, (void), ()) \
    X(unsigned long, ERR_peek_error, 0, (void), ()) \
    X(unsigned long, ERR_peek_last_error, 0, (void), ()) \
    X(const char *, ERR_reason_error_string, "libssl.so.3 is not loaded", (unsigned long e), (e)) \
    X(int, EVP_Digest, 0, \
      (const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type, \
       ENGINE *impl), \
      (data, count, md, size, type, impl)) \
    X(int, EVP_DigestFinal_ex, 0, (EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s), \
      (ctx, md, s)) \
    X(int, EVP_DigestInit_ex, 0, (EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl), \
      (ctx, type, impl)) \
    X(int, EVP_DigestUpdate, 0, (EVP_MD_CTX *ctx, const void *d, size_t cnt), (ctx, d, cnt)) \
    V(EVP_MD_CTX_free, (EVP_MD_CTX *ctx), (ctx)) \
    X(EVP_MD_CTX *, EVP_MD_CTX_new, NULL, (void), ()) \
    X(const EVP_MD *, EVP_sha256, NULL, (void), ()) \
    X(const EVP_MD *, EVP_sha512, NULL, (void), ()) \
    X(unsigned char *, HMAC, NULL, \
      (const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *data, \
       size_t data_len, unsigned char *md, unsigned int *md_len), \
      (evp_md, key, key_len, data, data_len, md, md_len)) \
    X(int, SSL_CTX_check_private_key, 0, (const SSL_CTX *ctx), (ctx)) \
    X(long, SSL_CTX_ctrl, 0, (SSL_CTX *ctx, int cmd, long larg, void *parg), \
      (ctx, cmd, larg, parg)) \
    V(SSL_CTX_free, (SSL_CTX *ctx), (ctx)) \
    X(int, SSL_CTX_load_verify_locations, 0, \
      (SSL_CTX *ctx, const char *CAfile, const char *CApath), \
      (ctx, CAfile, CApath)) \
    X(SSL_CTX *, SSL_CTX_new, NULL, (const SSL_METHOD *meth), (meth)) \
    X(int, SSL_CTX_set_default_verify_paths, 0, (SSL_CTX *ctx), (ctx)) \
    X(uint64_t, SSL_CTX_set_options, 0, (SSL_CTX *ctx, uint64_t op), (ctx, op)) \
    V(SSL_CTX_set_verify, (SSL_CTX *ctx, int mode, SSL_verify_cb callback), (ctx, mode, callback)) \
    X(int, SSL_CTX_up_ref, 0, (SSL_CTX *ctx), (ctx)) \
    X(int, SSL_CTX_use_PrivateKey_file, 0, (SSL_CTX *ctx, const char *file, int type), \
      (ctx, file, type)) \
    X(int, SSL_CTX_use_certificate_chain_file, 0, (SSL_CTX *ctx, const char *file), (ctx, file)) \
    X(int, SSL_connect, -1, (SSL *ssl), (ssl)) \
    X(long, SSL_ctrl, 0, (SSL *ssl, int cmd, long larg, void *parg), (ssl, cmd, larg, parg)) \
    X(int, SSL_do_handshake, -1, (SSL *s), (s)) \
    V(SSL_free, (SSL *ssl), (ssl)) \
    X(X509_VERIFY_PARAM *, SSL_get0_param, NULL, (SSL *ssl), (ssl)) \
    X(int, SSL_get_error, SSL_ERROR_SSL, (const SSL *s, int ret_code), (s, ret_code)) \
    X(long, SSL_get_verify_result, X509_V_ERR_UNSPECIFIED, (const SSL *ssl), (ssl)) \
    X(SSL *, SSL_new, NULL, (SSL_CTX *ctx), (ctx)) \
    X(int, SSL_pending, 0, (const SSL *s), (s)) \
    X(int, SSL_read, -1, (SSL *ssl, void *buf, int num), (ssl, buf, num)) \
    X(int, SSL_set1_host, 0, (SSL *s, const char *hostname), (s, hostname)) \
    V(SSL_set_accept_state, (SSL *s), (s)) \
    X(int, SSL_set_fd, 0, (SSL *s, int fd), (s, fd)) \
    X(int, SSL_shutdown, -1, (SSL *s), (s)) \
    X(int, SSL_write, -1, (SSL *ssl, const void *buf, int num), (ssl, buf, num)) \
    X(const SSL_METHOD *, TLS_client_method, NULL, (void), ()) \
    X(const SSL_METHOD *, TLS_server_method, NULL, (void), ()) \
    X(int, X509_VERIFY_PARAM_set1_ip_asc, 0, (X509_VERIFY_PARAM *param, const char *ipasc), \
      (param, ipasc)) \
    X(const char *, X509_verify_cert_error_string, "libssl.so.3 is not loaded", (long n), (n))

#define LAZYLIB_SELF lazy_openssl
static struct {
    OPENSSL_FUNCS(LAZY_FN_PTR, LAZY_FN_VPTR)
} fn;

static const lazy_sym syms[] = {
    OPENSSL_FUNCS(LAZY_FN_SYM, LAZY_FN_VSYM)
    {NULL, NULL},
};

lazylib lazy_openssl = LAZYLIB_INIT("libssl.so.3", syms);

OPENSSL_FUNCS(LAZY_FN_DEF, LAZY_FN_VDEF)
