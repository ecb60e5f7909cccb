/* tap.c - `sluice tap`: streams GET /api/v1/tap to stdout, one event a line. The
 * server's notices of skipped events ({"tap_skipped":N}) go to stderr as a sentence and
 * its keep-alive blank lines are dropped, so stdout is the events alone. */
#include "tap.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "core/common.h"

typedef struct tap_out {
    sl_buf line; /* the part of a line not yet printed */
    int rate;
    long long events; /* printed */
} tap_out;

static void emit_line(tap_out *o, const char *p, size_t n)
{
    static const char skip[] = "{\"tap_skipped\":";
    if (n == 0)
        return; /* keep-alive */
    if (n > sizeof skip - 1 && memcmp(p, skip, sizeof skip - 1) == 0) {
        fprintf(stderr, "sluice tap: %.*s events skipped (over --rate %d/s)\n",
                (int)(n - sizeof skip), p + sizeof skip - 1, o->rate);
        return;
    }
    fwrite(p, 1, n, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    o->events++;
}

static int on_body(void *arg, const char *p, size_t n)
{
    tap_out *o = arg;
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            buf_append(&o->line, p, (size_t)(end - p));
            break;
        }
        if (o->line.len) {
            buf_append(&o->line, p, (size_t)(nl - p));
            emit_line(o, o->line.p, o->line.len);
            buf_reset(&o->line);
        } else {
            emit_line(o, p, (size_t)(nl - p));
        }
        p = nl + 1;
    }
    return ferror(stdout) ? 1 : 0;
}

enum { TAP_COUNT = API_CLIENT_NOPTS, TAP_RATE };
static const cli_opt tap_opts[] = {
    API_CLIENT_OPTS, {"count", 'n', "a COUNT", false}, {"rate", 0, "a number", false}, {0}};

const cli_cmd tap_cmd = {
    "tap",
    "usage: sluice tap COMPONENT [-n COUNT] [--rate N] [-c FILE | --api HOST:PORT]\n"
    "Prints the events COMPONENT outputs (a sink: the events it takes in) as NDJSON, live,\n"
    "from a running sluice; the pipeline is not changed. At most --rate events a second are\n"
    "copied (default 100); how many were skipped is said on stderr. -n stops after COUNT\n"
    "events (exit status 1 if the stream ends before). The API address is --api (HOST:PORT\n"
    "or http://HOST:PORT), else that of -c FILE, else 127.0.0.1:2020.\n",
    tap_opts, 1};

int tap_cli(const char *addr, const char *config, const cli_args *a)
{
    long long count = 0, rate = 100;
    if (a->val[TAP_COUNT] &&
        cli_number(&tap_cmd, TAP_COUNT, a->val[TAP_COUNT], 0, LLONG_MAX, &count) != CLI_GO)
        return 2;
    if (a->val[TAP_RATE] &&
        cli_number(&tap_cmd, TAP_RATE, a->val[TAP_RATE], 1, 100000, &rate) != CLI_GO)
        return 2;
    if (!a->nargs)
        return cli_usage_error(&tap_cmd, "which component? (sluice tap COMPONENT)");
    const char *component = a->arg[0];
    char err[512];
    sl_buf path = SL_BUF_INIT;
    buf_puts(&path, "/api/v1/tap?component=");
    for (const unsigned char *p = (const unsigned char *)component; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            buf_append(&path, p, 1);
        else
            buf_printf(&path, "%%%02X", *p);
    }
    buf_printf(&path, "&limit=%lld&rate=%lld", count, rate);
    buf_append(&path, "", 1);
    tap_out o = {.line = SL_BUF_INIT, .rate = (int)rate};
    sl_buf errbody = SL_BUF_INIT;
    int status = 0;
    int rc = api_client_get(addr, path.p, 0, &status, &errbody, on_body, &o, err, sizeof err);
    int exit_status = 0;
    if (rc != SL_OK && status == 0) {
        fprintf(stderr, "sluice tap: %s\n", err);
        exit_status = 1;
    } else if (status != 200) {
        const char *m = errbody.p ? errbody.p : "";
        size_t ml = errbody.len;
        if (ml > 5 && memcmp(m, "tap: ", 5) == 0) /* the server's own prefix */
            m += 5, ml -= 5;
        fprintf(stderr, "sluice tap: %.*s", (int)ml, m);
        if (!ml || m[ml - 1] != '\n')
            fprintf(stderr, "(HTTP %d)\n", status);
        exit_status = 1;
    } else {
        /* A stream cut inside a line leaves a piece of an event, not one to print. */
        if (o.line.len && rc == SL_OK)
            emit_line(&o, o.line.p, o.line.len);
        /* Fewer than -n asked for (sluice stopped, the connection broke): a script taking
         * a sample must not take the part for the whole. */
        if (count > 0 && o.events < count) {
            fprintf(stderr, "sluice tap: %lld of the %lld events asked for: %s\n", o.events,
                    count, rc != SL_OK ? err : "the stream ended");
            exit_status = 1;
        } else if (rc != SL_OK && count == 0) {
            fprintf(stderr, "sluice tap: %s\n", err); /* e.g. sluice stopped */
        }
    }
    buf_free(&o.line);
    buf_free(&errbody);
    buf_free(&path);
    return exit_status;
}
