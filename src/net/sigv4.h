/* sigv4.h - AWS Signature Version 4 (HMAC-SHA256) request signing: canonical request,
 * string to sign and the Authorization header, per the published algorithm. */
#ifndef SL_SIGV4_H
#define SL_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* One header as it will be sent. Borrowed. Names are case-insensitive; values are
 * trimmed and inner runs of spaces collapsed when signed. */
typedef struct sigv4_header {
    const char *name, *value;
} sigv4_header;

/* The request to sign. Everything is borrowed for the duration of sigv4_sign. */
typedef struct sigv4_request {
    const char *method;  /* "POST" */
    const char *path;    /* unencoded absolute path ("/"); normalised and encoded here */
    const char *query;   /* raw query string without '?', may be NULL or "" */
    const sigv4_header *headers; /* must include Host and X-Amz-Date */
    size_t nheaders;
    const char *body;
    size_t body_len;
} sigv4_request;

typedef struct sigv4_credentials {
    const char *access_key, *secret_key;
    const char *session_token; /* NULL or "" when none; signed as X-Amz-Security-Token
                                * unless listed in the headers (the caller sends it) */
} sigv4_credentials;

/* Signs `req` for `region`/`service` at `amz_date` ("20150830T123600Z", which must equal
 * the X-Amz-Date header). Appends the Authorization header value to authz (reset first).
 * When creq/sts are non-NULL they receive the canonical request and the string to sign
 * (for tests and debugging). Returns SL_OK or SL_ERR_INVAL (bad date). */
int sigv4_sign(const sigv4_request *req, const sigv4_credentials *cred, const char *region,
               const char *service, const char *amz_date, sl_buf *authz, sl_buf *creq,
               sl_buf *sts);

/* Formats a Unix time as the X-Amz-Date form into out[17]. */
void sigv4_format_date(int64_t unix_secs, char out[17]);

/* Lower-case hex SHA-256 of data into out[65]. */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

#endif
