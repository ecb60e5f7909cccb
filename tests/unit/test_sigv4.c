/* test_sigv4.c - unit tests for AWS Signature Version 4 against the published test-suite
 * vectors in tests/unit/data/sigv4 (canonical request, string to sign, Authorization). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "net/sigv4.h"

#define DATA "tests/unit/data/sigv4"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sl_buf b = SL_BUF_INIT;
    char tmp[4096];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(&b, tmp, r);
    fclose(f);
    buf_putc(&b, '\0');
    if (len)
        *len = b.len - 1;
    return b.p;
}

/* Runs one case; returns 0 when all three outputs match. */
static int run_case(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, DATA "/%s/%s.req", name, name);
    size_t len;
    char *req = slurp(path, &len);
    assert_non_null(req);
    /* request line: METHOD SP target SP HTTP/1.1 */
    char *line_end = strchr(req, '\n');
    assert_non_null(line_end);
    *line_end = '\0';
    char *sp1 = strchr(req, ' ');
    char *sp2 = strrchr(req, ' ');
    assert_true(sp1 && sp2 && sp2 > sp1);
    *sp1 = '\0';
    *sp2 = '\0';
    char *target = sp1 + 1;
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    sigv4_header hdr[32];
    char *vals[32];
    size_t nh = 0;
    char *p = line_end + 1;
    const char *body = "";
    char amz_date[32] = "";
    while (*p) {
        char *e = strchr(p, '\n');
        if (e)
            *e = '\0';
        if (*p == '\0') { /* blank line: the body follows */
            body = e ? e + 1 : "";
            break;
        }
        if ((*p == ' ' || *p == '\t') && nh > 0) { /* continuation of the previous value */
            size_t ol = strlen(vals[nh - 1]);
            vals[nh - 1] = realloc(vals[nh - 1], ol + strlen(p) + 2);
            vals[nh - 1][ol] = '\n';
            strcpy(vals[nh - 1] + ol + 1, p);
            hdr[nh - 1].value = vals[nh - 1];
        } else {
            char *colon = strchr(p, ':');
            assert_non_null(colon);
            *colon = '\0';
            assert_true(nh < 32);
            hdr[nh].name = p;
            vals[nh] = strdup(colon + 1);
            hdr[nh].value = vals[nh];
            if (strcasecmp(p, "X-Amz-Date") == 0)
                snprintf(amz_date, sizeof amz_date, "%s", colon + 1);
            nh++;
        }
        if (!e)
            break;
        p = e + 1;
    }
    sigv4_request r = {.method = req, .path = target, .query = q, .headers = hdr,
                       .nheaders = nh, .body = body, .body_len = strlen(body)};
    sigv4_credentials c = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};
    if (strstr(name, "session-token")) /* the suite's token, added by the signer */
        c.session_token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    sl_buf authz = SL_BUF_INIT, creq = SL_BUF_INIT, sts = SL_BUF_INIT;
    assert_int_equal(sigv4_sign(&r, &c, "us-east-1", "service", amz_date, &authz, &creq, &sts),
                     SL_OK);
    buf_putc(&authz, '\0');
    buf_putc(&creq, '\0');
    buf_putc(&sts, '\0');
    int bad = 0;
    const char *ext[] = {"creq", "sts", "authz"};
    const sl_buf *got[] = {&creq, &sts, &authz};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, DATA "/%s/%s.%s", name, name, ext[i]);
        char *want = slurp(path, NULL);
        assert_non_null(want);
        if (strcmp(want, got[i]->p) != 0) {
            fprintf(stderr, "%s.%s mismatch:\n--- want\n%s\n--- got\n%s\n", name, ext[i], want,
                    got[i]->p);
            bad = 1;
        }
        free(want);
    }
    for (size_t i = 0; i < nh; i++)
        free(vals[i]);
    buf_free(&authz);
    buf_free(&creq);
    buf_free(&sts);
    free(req);
    return bad;
}

static void test_suite(void **state)
{
    (void)state;
    DIR *d = opendir(DATA);
    assert_non_null(d);
    struct dirent *de;
    int cases = 0, bad = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strchr(de->d_name, '.') || strncmp(de->d_name, "LICENSE", 7) == 0 ||
            strcmp(de->d_name, "NOTICE") == 0)
            continue;
        bad += run_case(de->d_name);
        cases++;
    }
    closedir(d);
    assert_true(cases >= 20);
    assert_int_equal(bad, 0);
}

/* The CloudWatch Logs shape: POST / with a JSON body, session token signed as a header. */
static void test_cloudwatch_shape(void **state)
{
    (void)state;
    sigv4_header h[] = {{"Content-Type", "application/x-amz-json-1.1"},
                        {"Host", "logs.us-east-1.amazonaws.com"},
                        {"X-Amz-Date", "20150830T123600Z"},
                        {"X-Amz-Security-Token", "tok"},
                        {"X-Amz-Target", "Logs_20140328.FilterLogEvents"}};
    const char *body = "{\"logGroupName\":\"/aws/lambda/x\"}";
    sigv4_request r = {"POST", "/", NULL, h, 5, body, strlen(body)};
    sigv4_credentials c = {"AK", "SECRET", "tok"};
    sl_buf a = SL_BUF_INIT, a2 = SL_BUF_INIT;
    assert_int_equal(sigv4_sign(&r, &c, "us-east-1", "logs", "20150830T123600Z", &a, NULL, NULL),
                     SL_OK);
    buf_putc(&a, '\0');
    assert_non_null(strstr(a.p, "Credential=AK/20150830/us-east-1/logs/aws4_request"));
    assert_non_null(strstr(a.p,
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"));
    /* a different body gives a different signature */
    r.body = "{}";
    r.body_len = 2;
    sigv4_sign(&r, &c, "us-east-1", "logs", "20150830T123600Z", &a2, NULL, NULL);
    buf_putc(&a2, '\0');
    assert_string_not_equal(a.p, a2.p);
    assert_int_equal(sigv4_sign(&r, &c, "us-east-1", "logs", "bad", &a2, NULL, NULL),
                     SL_ERR_INVAL);
    char d[17];
    sigv4_format_date(1440938160, d);
    assert_string_equal(d, "20150830T123600Z");
    buf_free(&a);
    buf_free(&a2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite),
        cmocka_unit_test(test_cloudwatch_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
