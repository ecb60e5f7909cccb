/* http_client.h - a small libcurl wrapper for sinks: one easy handle per calling thread,
 * reused for keep-alive, POST/PUT with headers, optional gzip body, Retry-After. */
#ifndef SL_HTTP_CLIENT_H
#define SL_HTTP_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"

/* The `tls:` option every HTTP sink takes, declared once: ca_file, cert_file, key_file,
 * verify (default true). */
typedef struct http_tls_config {
    char *ca_file, *cert_file, *key_file;
    bool verify;
} http_tls_config;

extern const sl_option http_tls_options[];
/* A sink built to run (not check_only: `validate` runs where the files are not) refuses TLS
 * files it cannot read, and key_file without cert_file: SL_ERR_CONFIG, "tls.<option>: why",
 * so the error points at the option; otherwise each request would fail and retry. */
int http_tls_check(const http_tls_config *t, bool check_only, char *err, size_t errlen);

/* The `auth:` option of the plain HTTP sinks (http, loki): user + password (basic auth,
 * done by the transfer) or a bearer token (a header: http_headers_add_bearer). */
typedef struct http_auth_config {
    char *user, *password, *bearer;
} http_auth_config;

extern const sl_option http_auth_options[];
/* Refuses bearer with user, and password without user: SL_ERR_CONFIG, "<id>: why". */
int http_auth_check(const http_auth_config *a, const char *id, char *err, size_t errlen);

/* A list of "Name: value" header lines owned by the list. */
typedef struct http_headers {
    char **v;
    size_t n;
} http_headers;

/* Appends "name: value". */
void http_headers_add(http_headers *h, const char *name, const char *value);
/* Appends "Authorization: Bearer token". */
void http_headers_add_bearer(http_headers *h, const char *token);
/* Appends "Authorization: ApiKey <key>" to out (no NUL): an Elasticsearch API key given
 * as id:key (as its create API key answer and Beats and Logstash have it) goes as its
 * base64, which has no ':'; an encoded one as it is. */
void http_api_key_header(sl_buf *out, const char *api_key);
void http_headers_free(http_headers *h);
/* Adds the `headers:` option's entries after checking them (no empty names, no ':' or
 * whitespace in names, no line breaks anywhere). *has_content_type tells whether the user
 * set one. Returns SL_OK or SL_ERR_CONFIG naming the bad header. */
int http_headers_from_options(http_headers *h, const sl_strmap *m, bool *has_content_type,
                              char *err, size_t errlen);

typedef struct http_client http_client;

/* One request. Everything is borrowed for the duration of http_client_do. */
typedef struct http_request {
    const char *method;           /* "POST" (default when NULL), "PUT", "GET" */
    const char *url;
    const char *const *headers;   /* "Name: value" lines */
    size_t nheaders;
    const char *body;
    size_t body_len;
    bool gzip;                    /* compress body, send Content-Encoding: gzip */
    int64_t timeout_ms;           /* whole request; 0 = 30 s */
    const char *user, *password;  /* basic auth when user != NULL */
    const char *ca_file;          /* TLS trust store override, or NULL */
    const char *cert_file;        /* TLS client certificate (PEM), or NULL */
    const char *key_file;         /* its private key (PEM), or NULL */
    bool insecure;                /* skip TLS verification (tests only) */
    /* When set and it turns true, the request ends within about 100 ms (a second through
     * libcurl) with SL_ERR_CLOSED: a sink's stop deadline (sl_send_result.cancel). */
    const atomic_bool *cancel;
} http_request;

typedef struct http_response {
    long status;            /* HTTP status, 0 when no response arrived */
    sl_buf body;            /* response body (owned by the caller: buf_free) */
    int64_t retry_after_ms; /* from Retry-After (seconds or HTTP date), 0 = none */
    char error[256];        /* transport error text when status == 0 */
    char location[256];     /* Location of a redirect (not followed), "" when none */
} http_response;

/* Returns an owned client (http_client_free). Safe to share between threads: each
 * thread gets its own connection handle on first use. */
http_client *http_client_new(void);
/* Frees every thread's handle. No thread may be inside http_client_do. */
void http_client_free(http_client *c);
/* Performs the request. Returns SL_OK when a response (any status) arrived, or
 * SL_ERR_IO / SL_ERR_TIMEOUT with resp->error set when none did. resp->body is reset
 * first and grows up to 64 MiB (the rest is discarded). */
int http_client_do(http_client *c, const http_request *req, http_response *resp);
/* gzip-compresses `len` bytes into out (replacing its content). Returns SL_OK. */
int http_gzip(const char *data, size_t len, int level, sl_buf *out);
/* The value of a header line's rest p[0..n) (after "Name:"), blanks and CRLF trimmed, into
 * out (cut to outlen - 1 bytes). */
void http_header_value(char *out, size_t outlen, const char *p, size_t n);
/* What follows "http <status>: " in a sink's reason for a refused request: for a redirect
 * (not followed) where it points, else the answer's body as one printable line. */
void http_answer_excerpt(char *out, size_t outlen, long status, const char *location,
                         const char *body, size_t n);
/* Parses a Retry-After value ("120" or an HTTP date) into ms from now; 0 if invalid. */
int64_t http_parse_retry_after(const char *value);

#endif
