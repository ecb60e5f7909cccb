/* test_cloudwatch.c - unit tests for the cloudwatch_logs API helpers: FilterLogEvents and
 * DescribeLogGroups parsing, error classification, group slugs, credential providers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "sources/cloudwatch/cwl.h"

static const sl_field *get(const sl_event *e, const char *k)
{
    return event_get(e, k, strlen(k));
}

static void test_parse_filter(void **state)
{
    (void)state;
    const char *body =
        "{\"events\":[{\"logStreamName\":\"s1\",\"timestamp\":1700000000123,"
        "\"message\":\"{\\\"level\\\":\\\"warn\\\",\\\"n\\\":3,\\\"f\\\":1.5,\\\"o\\\":{\\\"a\\\":1},"
        "\\\"message\\\":\\\"inner\\\"}\",\"ingestionTime\":1700000000200,\"eventId\":\"e1\"},"
        "{\"timestamp\":5,\"message\":\"no id\"},"
        "{\"logStreamName\":\"s2\",\"timestamp\":1700000000124,\"message\":\"plain\",\"eventId\":\"e2\"}],"
        "\"nextToken\":\"tok/1\"}";
    sl_arena tmp;
    arena_init(&tmp, 1024);
    sl_batch *b = batch_new(4);
    cwl_group_strs g = {SL_STR("/aws/lambda/x"), SL_STR("aws-lambda-x")};
    cwl_page pg;
    char err[128];
    assert_int_equal(cwl_parse_filter(body, strlen(body), b, &g, true, &tmp, &pg, err, sizeof err), SL_OK);
    assert_int_equal(pg.n, 2);
    assert_int_equal(pg.skipped, 1);
    assert_string_equal(pg.next_token, "tok/1");
    free(pg.next_token);
    const sl_event *e = &b->events[0];
    assert_int_equal(e->ts_ns, 1700000000123LL * 1000000);
    assert_int_equal(e->id_str.len, 2);
    assert_memory_equal(e->id_str.ptr, "e1", 2);
    assert_int_equal(get(e, "level")->type, SL_VAL_STR);
    assert_int_equal(get(e, "n")->type, SL_VAL_INT);
    assert_int_equal(get(e, "n")->v.i, 3);
    assert_int_equal(get(e, "f")->type, SL_VAL_FLOAT);
    assert_int_equal(get(e, "o")->type, SL_VAL_JSON);
    assert_null(get(e, "message")); /* the body stays the whole message */
    assert_int_equal(get(e, "cloudwatch.ingestion_time")->v.i, 1700000000200LL);
    assert_memory_equal(get(e, "cloudwatch.log_stream")->v.s.ptr, "s1", 2);
    assert_memory_equal(get(e, "cloudwatch.log_group")->v.s.ptr, "/aws/lambda/x", 13);
    assert_null(get(&b->events[1], "level"));
    assert_null(get(&b->events[1], "cloudwatch.ingestion_time"));
    batch_release(b);

    /* parse_json: false keeps JSON messages as text only */
    b = batch_new(4);
    assert_int_equal(cwl_parse_filter(body, strlen(body), b, &g, false, &tmp, &pg, err, sizeof err), SL_OK);
    assert_null(get(&b->events[0], "level"));
    free(pg.next_token);
    batch_release(b);

    /* not JSON, wrong shape: rejected, nothing appended */
    b = batch_new(4);
    assert_int_equal(cwl_parse_filter("<html>", 6, b, &g, true, &tmp, &pg, err, sizeof err), SL_ERR_CORRUPT);
    assert_int_equal(cwl_parse_filter("{\"events\":3}", 12, b, &g, true, &tmp, &pg, err, sizeof err), SL_ERR_CORRUPT);
    assert_int_equal(b->n, 0);
    /* an empty last page */
    assert_int_equal(cwl_parse_filter("{\"events\":[]}", 13, b, &g, true, &tmp, &pg, err, sizeof err), SL_OK);
    assert_null(pg.next_token);
    batch_release(b);
    arena_free(&tmp);
}

static void on_group(void *arg, const char *name, int64_t retention_days)
{
    sl_buf *b = arg;
    buf_puts(b, name);
    if (retention_days)
        buf_printf(b, "=%lld", (long long)retention_days);
    buf_putc(b, ';');
}

static void test_parse_groups(void **state)
{
    (void)state;
    const char *body = "{\"logGroups\":[{\"logGroupName\":\"/a\"},{\"x\":1},{\"logGroupName\":"
                       "\"/b\",\"retentionInDays\":14},{\"logGroupName\":\"/c\",\"retentionInDays\":"
                       "\"x\"},{\"logGroupName\":\"/d\",\"retentionInDays\":-3}]}";
    sl_arena tmp;
    arena_init(&tmp, 1024);
    sl_buf names = SL_BUF_INIT;
    char *tok = (char *)1, err[64];
    assert_int_equal(cwl_parse_groups(body, strlen(body), &tmp, on_group, &names, &tok, err, sizeof err), SL_OK);
    assert_null(tok);
    buf_putc(&names, '\0');
    assert_string_equal(names.p, "/a;/b=14;/c;/d;"); /* absent or malformed: never expires */
    buf_free(&names);
    arena_free(&tmp);
}

static void on_stream(void *arg, const cwl_stream_info *si)
{
    sl_buf *b = arg;
    buf_printf(b, "%s:%lld:%lld;", si->name, (long long)si->last_event_ms,
               (long long)si->last_ingestion_ms);
}

static void test_parse_streams(void **state)
{
    (void)state;
    const char *body = "{\"logStreams\":[{\"logStreamName\":\"s1\",\"lastEventTimestamp\":5,"
                       "\"lastIngestionTime\":7},{\"logStreamName\":\"\"},{\"logStreamName\":3},"
                       "{\"logStreamName\":\"new\",\"lastEventTimestamp\":-4},7],"
                       "\"nextToken\":\"t2\"}";
    sl_arena tmp;
    arena_init(&tmp, 1024);
    sl_buf out = SL_BUF_INIT;
    char *tok = NULL, err[64];
    assert_int_equal(cwl_parse_streams(body, strlen(body), &tmp, on_stream, &out, &tok, err, sizeof err),
                     SL_OK);
    assert_string_equal(tok, "t2");
    free(tok);
    buf_putc(&out, '\0');
    /* unnamed and non-object entries skipped; absent or negative times are 0 */
    assert_string_equal(out.p, "s1:5:7;new:0:0;");
    const char *bad = "{\"logStreams\":{}}";
    assert_int_equal(cwl_parse_streams(bad, strlen(bad), &tmp, on_stream, &out, &tok, err, sizeof err),
                     SL_ERR_CORRUPT);
    assert_null(tok);
    assert_int_equal(cwl_parse_streams("{", 1, &tmp, on_stream, &out, &tok, err, sizeof err),
                     SL_ERR_CORRUPT);
    buf_free(&out);
    arena_free(&tmp);
}

static void test_parse_counts(void **state)
{
    (void)state;
    /* two valid events; one without an eventId and one with a string timestamp are not */
    const char *body = "{\"events\":[{\"timestamp\":1,\"message\":\"a\",\"eventId\":\"1\"},"
                       "{\"timestamp\":2,\"message\":\"b\"},"
                       "{\"timestamp\":\"3\",\"message\":\"c\",\"eventId\":\"3\"},"
                       "{\"timestamp\":4,\"message\":\"{}\",\"eventId\":\"4\"}],\"nextToken\":\"t\"}";
    sl_arena tmp;
    arena_init(&tmp, 1024);
    uint64_t n = 0;
    char *tok = NULL, err[64];
    assert_int_equal(cwl_parse_count(body, strlen(body), &tmp, &n, &tok, err, sizeof err), SL_OK);
    assert_int_equal(n, 2);
    assert_string_equal(tok, "t");
    free(tok);
    sl_batch *b = batch_new(8); /* the count is what would be sent */
    cwl_group_strs g = {SL_STR("/g"), SL_STR("g")};
    cwl_page pg;
    assert_int_equal(cwl_parse_filter(body, strlen(body), b, &g, true, &tmp, &pg, err, sizeof err), SL_OK);
    assert_int_equal(pg.n, n);
    free(pg.next_token);
    batch_release(b);
    assert_int_equal(cwl_parse_count("[1]", 3, &tmp, &n, &tok, err, sizeof err), SL_ERR_CORRUPT);
    assert_null(tok);
    const char *c = "{\"count\":1234,\"_shards\":{\"total\":1}}";
    assert_int_equal(cwl_parse_es_count(c, strlen(c), &tmp, &n, err, sizeof err), SL_OK);
    assert_int_equal(n, 1234);
    const char *bad[] = {"{\"count\":-1}", "{\"count\":\"5\"}", "{}", "{\"count\":", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cwl_parse_es_count(bad[i], strlen(bad[i]), &tmp, &n, err, sizeof err),
                         SL_ERR_CORRUPT);
    /* the newest @timestamp a destination holds of a group (a sharded replica's handover) */
    bool found = false;
    int64_t ms = -1;
    const char *nw = "{\"hits\":{\"hits\":[]},\"aggregations\":{\"newest\":{\"value\":"
                     "1733356800123.0,\"value_as_string\":\"2024-12-05T00:00:00.123Z\"}}}";
    assert_int_equal(cwl_parse_es_newest(nw, strlen(nw), &tmp, &found, &ms, err, sizeof err), SL_OK);
    assert_true(found);
    assert_true(ms == 1733356800123LL);
    const char *none = "{\"aggregations\":{\"newest\":{\"value\":null}}}";
    assert_int_equal(cwl_parse_es_newest(none, strlen(none), &tmp, &found, &ms, err, sizeof err), SL_OK);
    assert_false(found);
    assert_true(ms == 0);
    const char *nbad[] = {"{}", "{\"aggregations\":{}}", "{\"aggregations\":{\"newest\":{\"value\":\"x\"}}}",
                          "{\"aggregations\":{\"newest\":{\"value\":-5}}}", "[", "null"};
    for (size_t i = 0; i < sizeof nbad / sizeof *nbad; i++)
        assert_int_equal(cwl_parse_es_newest(nbad[i], strlen(nbad[i]), &tmp, &found, &ms, err, sizeof err),
                         SL_ERR_CORRUPT);
    arena_free(&tmp);
}

static void test_classify(void **state)
{
    (void)state;
    char t[64];
    const char *thr = "{\"__type\":\"com.amazonaws.logs#ThrottlingException\",\"message\":\"Rate exceeded\"}";
    assert_int_equal(cwl_classify(400, thr, strlen(thr), t, sizeof t), CWL_THROTTLED);
    assert_string_equal(t, "ThrottlingException");
    const char *lim = "{\"__type\":\"LimitExceededException\"}";
    assert_int_equal(cwl_classify(400, lim, strlen(lim), t, sizeof t), CWL_THROTTLED);
    assert_int_equal(cwl_classify(503, "", 0, t, sizeof t), CWL_RETRY);
    assert_int_equal(cwl_classify(0, NULL, 0, t, sizeof t), CWL_RETRY);
    const char *exp = "{\"__type\":\"ExpiredTokenException\"}";
    assert_int_equal(cwl_classify(400, exp, strlen(exp), t, sizeof t), CWL_AUTH);
    const char *nf = "{\"__type\":\"ResourceNotFoundException\"}";
    assert_int_equal(cwl_classify(400, nf, strlen(nf), t, sizeof t), CWL_FAILED);
    assert_string_equal(t, "ResourceNotFoundException");
    assert_int_equal(cwl_classify(200, "{}", 2, t, sizeof t), CWL_OK);
    /* the AWS JSON protocol's other spellings: a ":<url>" suffix, with or without a namespace */
    const char *url = "{\"__type\":\"ThrottlingException:http://internal.amazon.com/coral/"
                      "com.amazon.coral.availability/\",\"message\":\"Rate exceeded\"}";
    assert_int_equal(cwl_classify(400, url, strlen(url), t, sizeof t), CWL_THROTTLED);
    assert_string_equal(t, "ThrottlingException");
    const char *both = "{\"__type\":\"com.amazon.coral.service#ExpiredTokenException:http://x/\"}";
    assert_int_equal(cwl_classify(400, both, strlen(both), t, sizeof t), CWL_AUTH);
    assert_string_equal(t, "ExpiredTokenException");
    const char *cut = "{\"__type\":\"Thrott";
    cwl_classify(400, cut, strlen(cut), t, sizeof t); /* a cut body never reads past its end */
}

static void test_slug(void **state)
{
    (void)state;
    char out[64];
    cwl_slug("/aws/lambda/x", out, sizeof out);
    assert_string_equal(out, "aws-lambda-x");
    cwl_slug("/ECS//My Service_1.v2/", out, sizeof out);
    assert_string_equal(out, "ecs-my-service_1.v2");
    cwl_slug("/aws/lambda/long", out, 8);
    assert_true(strlen(out) < 8);
}

static void test_creds(void **state)
{
    (void)state;
    char path[] = "/tmp/sluice-cwl-credsXXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "[default]\naws_access_key_id = AKD\naws_secret_access_key = SKD\n"
                       "# comment\n[prod]\n aws_access_key_id=AKP \naws_secret_access_key= SKP\n"
                       "aws_session_token = TOK\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    cwl_creds c;
    assert_int_equal(cwl_creds_load(&c, NULL, NULL, NULL, path, err, sizeof err), SL_OK);
    assert_string_equal(c.access_key, "AKD");
    assert_string_equal(c.from, "file");
    assert_int_equal(cwl_creds_load(&c, NULL, NULL, "prod", path, err, sizeof err), SL_OK);
    assert_string_equal(c.access_key, "AKP");
    assert_string_equal(c.secret_key, "SKP");
    assert_string_equal(c.token, "TOK");
    assert_false(cwl_creds_stale(&c, 0));
    assert_int_equal(cwl_creds_load(&c, NULL, NULL, "missing", path, err, sizeof err),
                     SL_ERR_NOTFOUND);
    setenv("AWS_ACCESS_KEY_ID", "AKE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SKE", 1);
    assert_int_equal(cwl_creds_load(&c, NULL, NULL, "prod", path, err, sizeof err), SL_OK);
    assert_string_equal(c.access_key, "AKE");
    assert_string_equal(c.from, "env");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    c.expires_ms = 1000000;
    assert_true(cwl_creds_stale(&c, 1000000 - 60000));
    unlink(path);
}

/* The XML reader for STS answers: nested paths, namespaces and prefixes, attributes,
 * comments, CDATA, entities; the first match wins; malformed or cut answers are refused. */
static void test_xml_find(void **state)
{
    (void)state;
    char out[64];
    const char *x = "<?xml version=\"1.0\"?>\n<!-- c <X> -->"
                    "<R xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><A a='x>y'>"
                    "<B>one</B><sts:B>two</sts:B><C>a &amp; b &lt;&#65;&#x42;&#xe9;&gt;</C>"
                    "<D><![CDATA[<raw>&amp;]]>tail</D><E/><F>x<!-- note -->y</F></A></R>";
    size_t n = strlen(x);
    assert_int_equal(cwl_xml_find(x, n, "A/B", out, sizeof out), SL_OK);
    assert_string_equal(out, "one");
    assert_int_equal(cwl_xml_find(x, n, "R/A/C", out, sizeof out), SL_OK);
    assert_string_equal(out, "a & b <AB\xc3\xa9>");
    assert_int_equal(cwl_xml_find(x, n, "D", out, sizeof out), SL_OK);
    assert_string_equal(out, "<raw>&amp;tail");
    assert_int_equal(cwl_xml_find(x, n, "E", out, sizeof out), SL_OK);
    assert_string_equal(out, "");
    assert_int_equal(cwl_xml_find(x, n, "F", out, sizeof out), SL_OK);
    assert_string_equal(out, "xy");
    assert_int_equal(cwl_xml_find(x, n, "X", out, sizeof out), SL_ERR_NOTFOUND);
    assert_int_equal(cwl_xml_find(x, n, "B/A", out, sizeof out), SL_ERR_NOTFOUND);
    /* a value longer than the buffer is no value (a cut token would be refused later) */
    assert_int_equal(cwl_xml_find(x, n, "C", out, 4), SL_ERR_CORRUPT);
    const char *bad[] = {"<A><B>x</C></A>", "<A><B>x", "<A><B>x &bogus; y</B></A>",
                         "<A><B>&#0;</B></A>", "<A><B>&#x110000;</B></A>", "<A><B",
                         "<A><!-- open <B>x</B></A>", "<A><B>&#xD800;</B></A>", "<></>"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cwl_xml_find(bad[i], strlen(bad[i]), "A/B", out, sizeof out),
                         SL_ERR_CORRUPT);
    /* the match is complete before the malformed rest */
    const char *early = "<A><B>ok</B><C></D>";
    assert_int_equal(cwl_xml_find(early, strlen(early), "A/B", out, sizeof out), SL_OK);
    assert_string_equal(out, "ok");
}

/* An AssumeRoleWithWebIdentity answer as STS writes it, and its error document. */
static void test_sts_creds(void **state)
{
    (void)state;
    const char *ok =
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
        "  <AssumeRoleWithWebIdentityResult>\n"
        "    <SubjectFromWebIdentityToken>system:serviceaccount:ns:sa"
        "</SubjectFromWebIdentityToken>\n"
        "    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>"
        "<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\n"
        "    <Credentials>\n"
        "      <SessionToken>FwoG+ab/cd==</SessionToken>\n"
        "      <SecretAccessKey>wJal/rXUtn+FEMI</SecretAccessKey>\n"
        "      <Expiration>2026-11-21T06:00:00Z</Expiration>\n"
        "      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>\n"
        "    </Credentials>\n"
        "    <Provider>oidc.eks.amazonaws.com</Provider>\n"
        "  </AssumeRoleWithWebIdentityResult>\n"
        "  <ResponseMetadata><RequestId>x</RequestId></ResponseMetadata>\n"
        "</AssumeRoleWithWebIdentityResponse>\n";
    cwl_creds c;
    assert_int_equal(cwl_sts_creds(&c, ok, strlen(ok)), SL_OK);
    assert_string_equal(c.access_key, "ASIAEXAMPLE");
    assert_string_equal(c.secret_key, "wJal/rXUtn+FEMI");
    assert_string_equal(c.token, "FwoG+ab/cd==");
    assert_int_equal(c.expires_ms, (int64_t)1795240800 * 1000);
    assert_string_equal(c.from, "web_identity");
    /* without an expiry the credentials would never be refreshed */
    const char *noexp = "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A"
                        "</AccessKeyId><SecretAccessKey>S</SecretAccessKey><SessionToken>T"
                        "</SessionToken></Credentials></AssumeRoleWithWebIdentityResult>";
    assert_int_equal(cwl_sts_creds(&c, noexp, strlen(noexp)), SL_ERR_CORRUPT);
    const char *err = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                      "<Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                      "<Message>Token &quot;x&quot; is expired</Message></Error>"
                      "<RequestId>r</RequestId></ErrorResponse>";
    char code[64], msg[128];
    assert_int_equal(cwl_sts_creds(&c, err, strlen(err)), SL_ERR_CORRUPT);
    assert_int_equal(cwl_xml_find(err, strlen(err), "Error/Code", code, sizeof code), SL_OK);
    assert_string_equal(code, "InvalidIdentityToken");
    assert_int_equal(cwl_xml_find(err, strlen(err), "Error/Message", msg, sizeof msg), SL_OK);
    assert_string_equal(msg, "Token \"x\" is expired");
}

/* Configured web identity that fails is the answer: no fall through to the shared file
 * (or the node's role). */
static void test_web_identity_no_fallthrough(void **state)
{
    (void)state;
    char path[] = "/tmp/sluice-cwl-credsXXXXXX", err[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "[default]\naws_access_key_id = AKD\naws_secret_access_key = SKD\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/sluice-token", 1);
    cwl_creds c;
    assert_int_not_equal(cwl_creds_load(&c, NULL, NULL, NULL, path, err, sizeof err), SL_OK);
    assert_non_null(strstr(err, "/nonexistent/sluice-token"));
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    assert_int_equal(cwl_creds_load(&c, NULL, NULL, NULL, path, err, sizeof err), SL_OK);
    assert_string_equal(c.from, "file");
    unsetenv("AWS_ROLE_ARN");
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_filter), cmocka_unit_test(test_parse_groups),
        cmocka_unit_test(test_parse_streams),
        cmocka_unit_test(test_parse_counts), cmocka_unit_test(test_classify),     cmocka_unit_test(test_slug),
        cmocka_unit_test(test_creds),
        cmocka_unit_test(test_xml_find), cmocka_unit_test(test_sts_creds),
        cmocka_unit_test(test_web_identity_no_fallthrough),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
