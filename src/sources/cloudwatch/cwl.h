/* cwl.h - the CloudWatch Logs API as the cloudwatch_logs source uses it: credentials
 * (environment, web identity, shared file, ECS, IMDSv2), signed JSON calls, and response
 * parsing. */
#ifndef SL_CWL_H
#define SL_CWL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/event.h"
#include "net/http_client.h"

/* ---- Credentials ----------------------------------------------------------------- */
typedef struct cwl_creds {
    char access_key[128], secret_key[128];
    char token[4096];
    int64_t expires_ms; /* wall-clock ms; 0 = does not expire */
    const char *from;   /* static: "env", "web_identity", "file", "ecs", "imds" */
} cwl_creds;

/* Resolves credentials in the SDK order: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
 * (+AWS_SESSION_TOKEN); web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, optional
 * AWS_ROLE_SESSION_NAME: STS AssumeRoleWithWebIdentity at AWS_ENDPOINT_URL_STS, else
 * AWS_ENDPOINT_URL, else https://sts.<region>.amazonaws.com, `region` else AWS_REGION /
 * AWS_DEFAULT_REGION; when configured, its failure is the result); the shared credentials
 * file (`file`, else AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) section
 * `profile` (else AWS_PROFILE, else "default"); the ECS container endpoint
 * (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI); EC2 IMDSv2 (endpoint from
 * AWS_EC2_METADATA_SERVICE_ENDPOINT, unless AWS_EC2_METADATA_DISABLED=true).
 * `hc` is borrowed for the HTTP providers. Returns SL_OK or an error naming every try. */
int cwl_creds_load(cwl_creds *c, http_client *hc, const char *region, const char *profile,
                   const char *file, char *err, size_t errlen);
/* True when temporary credentials expire within five minutes (refresh them first). */
bool cwl_creds_stale(const cwl_creds *c, int64_t now_ms);
/* The text of the first element at `path` ("A/B/C": names of nested elements, matched
 * as the innermost ones, namespace prefixes ignored) in an XML answer, entities and
 * character references decoded, CDATA kept. Returns SL_OK, SL_ERR_NOTFOUND, or
 * SL_ERR_CORRUPT (malformed before the element closed, or longer than outlen - 1). */
int cwl_xml_find(const char *xml, size_t len, const char *path, char *out, size_t outlen);
/* The credentials of an STS AssumeRoleWithWebIdentity answer (AccessKeyId,
 * SecretAccessKey, SessionToken, Expiration, all required). SL_OK or SL_ERR_CORRUPT. */
int cwl_sts_creds(cwl_creds *c, const char *xml, size_t len);

/* ---- Calls ----------------------------------------------------------------------- */
typedef enum cwl_status {
    CWL_OK = 0,
    CWL_THROTTLED, /* ThrottlingException, LimitExceededException, 429: slow down */
    CWL_RETRY,     /* 5xx or no answer: back off and retry */
    CWL_AUTH,      /* expired or rejected credentials: reload them, then retry */
    CWL_FAILED,    /* any other 4xx (e.g. ResourceNotFoundException): not retried as is */
} cwl_status;

typedef struct cwl_client {
    http_client *hc; /* borrowed */
    const char *url, *region;
    char *owned_url; /* the default endpoint, when none was configured */
    char host[256];
    int64_t timeout_ms;
    cwl_creds creds;
    sl_buf authz;
    uint64_t requests;
} cwl_client;

/* Sets url/host from `endpoint` (or https://logs.<region>.amazonaws.com when NULL/"").
 * `endpoint` and `region` are borrowed and must outlive the client. */
void cwl_client_init(cwl_client *c, http_client *hc, const char *endpoint, const char *region,
                     int64_t timeout_ms);
void cwl_client_free(cwl_client *c);
/* Signs and sends Logs_20140328.<action> with a JSON body. resp is the caller's (buf_free
 * its body). Returns the classification; the AWS error type goes to etype (may be "")
 * and a short message to err. */
cwl_status cwl_call(cwl_client *c, const char *action, const char *body, size_t len,
                    http_response *resp, char *etype, size_t etypelen, char *err, size_t errlen);
/* Classifies an answer (status + body). */
cwl_status cwl_classify(long status, const char *body, size_t len, char *etype, size_t etypelen);

/* ---- Parsing ----------------------------------------------------------------------- */
/* What a FilterLogEvents page said. next_token is malloc'd (NULL = last page). */
typedef struct cwl_page {
    uint32_t n;         /* events appended */
    uint32_t skipped;   /* malformed events skipped */
    char *next_token;
} cwl_page;

/* Per-group strings every event of a batch shares; they must live in the batch arena (or
 * outlive it). */
typedef struct cwl_group_strs {
    sl_str group, slug;
} cwl_group_strs;

/* Appends the events of a FilterLogEvents answer to b: timestamp, message, parsed JSON
 * fields (parse_json), cloudwatch.* fields, id_str = eventId. `tmp` is scratch memory
 * (reset here). Returns SL_OK or SL_ERR_CORRUPT (not JSON / not the expected shape;
 * nothing appended). Never reads past len. */
int cwl_parse_filter(const char *body, size_t len, sl_batch *b, const cwl_group_strs *g,
                     bool parse_json, sl_arena *tmp, cwl_page *out, char *err, size_t errlen);
/* Calls fn for each logGroupName of a DescribeLogGroups answer, with its retentionInDays
 * (0 when absent: the events never expire); *next_token as above. */
int cwl_parse_groups(const char *body, size_t len, sl_arena *tmp,
                     void (*fn)(void *arg, const char *name, int64_t retention_days),
                     void *arg, char **next_token, char *err, size_t errlen);
/* What DescribeLogStreams says of one stream. The two times are 0 when absent; both are
 * updated lazily by the service (an hour or more late), so they are for display only. */
typedef struct cwl_stream_info {
    const char *name; /* in `tmp`, valid during the callback */
    int64_t last_event_ms, last_ingestion_ms;
} cwl_stream_info;
/* Calls fn for each stream of a DescribeLogStreams answer; *next_token as above. */
int cwl_parse_streams(const char *body, size_t len, sl_arena *tmp,
                      void (*fn)(void *arg, const cwl_stream_info *si), void *arg,
                      char **next_token, char *err, size_t errlen);
/* Counts the events of a FilterLogEvents answer that cwl_parse_filter would append (the
 * same validity rules), for reconciliation. *next_token as above. */
int cwl_parse_count(const char *body, size_t len, sl_arena *tmp, uint64_t *n, char **next_token,
                    char *err, size_t errlen);
/* Reads {"count": N} (an Elasticsearch _count answer). */
int cwl_parse_es_count(const char *body, size_t len, sl_arena *tmp, uint64_t *n, char *err,
                       size_t errlen);
/* Reads aggregations.newest.value of an Elasticsearch _search answer (a max aggregation on
 * @timestamp, epoch ms): *found false when it is null (no document). */
int cwl_parse_es_newest(const char *body, size_t len, sl_arena *tmp, bool *found,
                        int64_t *ms, char *err, size_t errlen);
/* "/aws/lambda/x" -> "aws-lambda-x": lower case, [a-z0-9_.] kept, runs of anything else
 * one '-', no leading/trailing '-'. Writes at most outlen-1 bytes; returns the length. */
size_t cwl_slug(const char *group, char *out, size_t outlen);

#endif
