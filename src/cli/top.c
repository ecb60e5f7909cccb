/* top.c - `sluice top`: polls /api/v1/status and draws one line per component with plain
 * ANSI escapes (no curses). On a terminal: the alternate screen, raw keyboard (q quits),
 * redrawn every interval and at once on SIGWINCH. Not a terminal, or --once: one frame
 * (two polls an interval apart, so rates are measured) printed, then exit.
 * Rates are computed here from sent_events between polls, like the status page does. */
#include "top.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "api_client.h"
#include "core/arena.h"
#include "core/common.h"
#include "formats/json.h"

#define TOP_MAX_COMPONENTS 256

typedef struct prev_sample {
    char id[128];
    double sent;
    int64_t t_ms;
} prev_sample;

typedef struct top_state {
    const char *api;
    int interval_ms;
    prev_sample prev[TOP_MAX_COMPONENTS];
    size_t nprev;
} top_state;

static volatile sig_atomic_t g_resized, g_stop;
static void on_winch(int sig) { (void)sig; g_resized = 1; }
static void on_stop(int sig) { (void)sig; g_stop = 1; }

static double num(const json_value *o, const char *k)
{
    const json_value *v = o ? json_get(o, k) : NULL;
    return v && v->type == JSON_NUM ? v->num : 0;
}
static const char *str(const json_value *o, const char *k)
{
    const json_value *v = o ? json_get(o, k) : NULL;
    return v && v->type == JSON_STR ? v->str : "";
}
static bool has(const json_value *o, const char *k) { return o && json_get(o, k) != NULL; }

/* Events per second since the previous poll of this id; -1 until there is one. */
static double rate_of(top_state *st, const char *id, double sent, int64_t now)
{
    prev_sample *p = NULL;
    for (size_t i = 0; i < st->nprev; i++)
        if (strcmp(st->prev[i].id, id) == 0)
            p = &st->prev[i];
    double r = -1;
    if (p && now > p->t_ms)
        r = sent >= p->sent ? (sent - p->sent) * 1000.0 / (double)(now - p->t_ms) : 0;
    if (!p && st->nprev < TOP_MAX_COMPONENTS) {
        p = &st->prev[st->nprev++];
        snprintf(p->id, sizeof p->id, "%s", id);
    }
    if (p) {
        p->sent = sent;
        p->t_ms = now;
    }
    return r;
}

/* A rate or, with `count`, a number of events: whole below 10k (5 events are "5", not a
 * rate's "5.0"), with k, M or G above. */
static void human(char *out, size_t n, double v, bool count)
{
    if (v < 0)
        snprintf(out, n, "-");
    else if (v >= 1e9)
        snprintf(out, n, "%.1fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(out, n, "%.1fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(out, n, "%.1fk", v / 1e3);
    else
        snprintf(out, n, count ? "%.0f" : "%.1f", v);
}

/* One line into the frame, cut to the terminal's width (cols 0: no limit). */
static void line(sl_buf *f, int cols, bool tty, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void line(sl_buf *f, int cols, bool tty, const char *fmt, ...)
{
    char l[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l, sizeof l, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof l)
        n = sizeof l - 1;
    if (cols > 0 && n > cols)
        n = cols;
    buf_append(f, l, (size_t)n);
    buf_puts(f, tty ? "\033[K\r\n" : "\n");
}

/* The last reload (when, its result, why it failed) and the counts since start. */
static void reload_line(sl_buf *f, int cols, bool tty, const json_value *r)
{
    const char *result = str(r, "last_result");
    if (!*result) {
        line(f, cols, tty, "reload: none since start");
        return;
    }
    bool failed = strcmp(result, "ok") != 0;
    line(f, cols, tty, "reload: last %s %s%s%s (%.0f ok, %.0f failed)", str(r, "last_time"),
         result, failed ? ": " : "", failed ? str(r, "last_error") : "", num(r, "reloads_ok"),
         num(r, "reloads_failed"));
}

/* "cw: retention: /a 3d, /b never, /c ? (+2 more)": the first TOP_RETENTION_GROUPS
 * groups' retentionInDays, "?" while the source has not asked. */
#define TOP_RETENTION_GROUPS 3
static void retention_line(sl_buf *extra, const char *id, const json_value *lg)
{
    buf_printf(extra, "%s: retention:", id);
    for (size_t i = 0; i < lg->n && i < TOP_RETENTION_GROUPS; i++) {
        const json_value *d = json_get(lg->items[i], "retention_days");
        buf_printf(extra, "%s %s ", i ? "," : "", str(lg->items[i], "name"));
        if (!d || d->type != JSON_NUM)
            buf_puts(extra, "?");
        else if (d->num <= 0)
            buf_puts(extra, "never");
        else
            buf_printf(extra, "%.0fd", d->num);
    }
    if (lg->n > TOP_RETENTION_GROUPS)
        buf_printf(extra, " (+%zu more)", lg->n - TOP_RETENTION_GROUPS);
    buf_putc(extra, '\n');
}

/* Polls once and renders a frame into f. Returns SL_OK, or an error with err set (the
 * frame then says so). */
static int frame(top_state *st, sl_buf *f, int cols, int rows, bool tty, char *err,
                 size_t errlen)
{
    sl_buf body = SL_BUF_INIT;
    int status = 0;
    int rc = api_client_get(st->api, "/api/v1/status", 5000, &status, &body, NULL, NULL, err,
                            errlen);
    int64_t now = sl_mono_ms();
    if (rc == SL_OK && status != 200)
        rc = sl_seterr(err, errlen, SL_ERR_IO, "API at %s answered %d", st->api, status);
    sl_arena a;
    arena_init(&a, 16384);
    const json_value *doc = NULL;
    if (rc == SL_OK) {
        doc = json_parse(&a, body.p ? body.p : "", body.len, err, errlen);
        if (!doc || doc->type != JSON_OBJ) {
            rc = SL_ERR_CORRUPT;
            doc = NULL;
        }
    }
    if (tty)
        buf_puts(f, "\033[H");
    if (!doc) {
        line(f, cols, tty, "sluice top  %s  unreachable: %s", st->api, err);
    } else {
        const json_value *ready = json_get(doc, "ready"), *stopping = json_get(doc, "stopping");
        line(f, cols, tty, "sluice top  %s  %s  up %.0fs%s", st->api,
             stopping && stopping->b ? "stopping" : ready && ready->b ? "ready" : "starting",
             num(doc, "uptime_seconds"), tty ? "   (q quits)" : "");
        reload_line(f, cols, tty, json_get(doc, "reload"));
        line(f, cols, tty, "%-16s %-9s %-14s %9s %11s %11s %7s %-9s %7s %8s %7s", "ID", "KIND",
             "TYPE", "EV/S", "IN", "OUT", "BUFFER", "CIRCUIT", "LAG_S", "DLQ", "ERRORS");
        const json_value *cs = json_get(doc, "components");
        int used = 3;
        sl_buf extra = SL_BUF_INIT; /* backfill, retention, schema healing and seasonal
                                       lines, shown below the table */
        for (size_t i = 0; cs && cs->type == JSON_ARR && i < cs->n; i++) {
            const json_value *c = cs->items[i];
            const char *id = str(c, "id");
            double rate = rate_of(st, id, num(c, "sent_events"), now);
            double errors = 0;
            const json_value *es = json_get(c, "errors");
            for (size_t k = 0; es && es->type == JSON_ARR && k < es->n; k++)
                errors += num(es->items[k], "count");
            char r[16], in[16], out[16], buf[16] = "", lag[16] = "", dlq[16] = "";
            human(r, sizeof r, rate, false);
            human(in, sizeof in, num(c, "received_events"), true);
            human(out, sizeof out, num(c, "sent_events"), true);
            if (has(c, "buffer"))
                snprintf(buf, sizeof buf, "%.1f%%", 100 * num(json_get(c, "buffer"), "fill_ratio"));
            if (has(c, "lag_seconds"))
                snprintf(lag, sizeof lag, "%.1f", num(c, "lag_seconds"));
            if (has(c, "dlq_events"))
                snprintf(dlq, sizeof dlq, "%.0f", num(c, "dlq_events"));
            const char *circuit = str(c, "circuit");
            bool bad = tty && *circuit && strcmp(circuit, "closed") != 0;
            if (rows <= 0 || used < rows - 1)
                line(f, cols + (bad ? 9 : 0), tty,
                     "%-16s %-9s %-14s %9s %11s %11s %7s %s%-9s%s %7s %8s %7.0f", id,
                     str(c, "kind"), str(c, "type"), r, in, out, buf, bad ? "\033[31m" : "",
                     circuit, bad ? "\033[0m" : "", lag, dlq, errors);
            used++;
            const json_value *q = json_get(c, "counters"), *bf = json_get(c, "backfill");
            double queued = num(q, "backfill_windows_queued"), done = num(q, "backfill_windows_done");
            if (bf && num(bf, "windows_total") > 0) { /* cloudwatch_logs' own progress */
                double total = num(bf, "windows_total"), d = num(bf, "windows_done");
                const json_value *eta = json_get(bf, "eta_seconds");
                char e[32] = "done";
                if (num(bf, "remaining_windows") > 0) {
                    if (eta && eta->type == JSON_NUM)
                        snprintf(e, sizeof e, "eta %.0fs", eta->num);
                    else
                        snprintf(e, sizeof e, "eta ?");
                }
                /* windows older than the group's retention are skipped, not read */
                double x = num(bf, "windows_expired");
                char xs[48] = "";
                if (x > 0)
                    snprintf(xs, sizeof xs, ", %.0f expired", x);
                buf_printf(&extra, "%s: backfill %.0f/%.0f windows (%.0f%%)%s, %.0f events/s, %s\n",
                           id, d, total, 100 * (d + x) / total, xs, num(bf, "events_per_sec"), e);
            } else if (queued > 0)
                buf_printf(&extra, "%s: backfill %.0f/%.0f windows (%.0f%%)\n", id, done, queued,
                           100 * done / queued);
            const json_value *lg = json_get(c, "log_groups"), *v = json_get(c, "versions");
            if (lg && lg->type == JSON_ARR && lg->n) /* cloudwatch_logs: each group's retention */
                retention_line(&extra, id, lg);
            if (v && v->type == JSON_OBJ) /* elasticsearch: schema healing and its re-reads */
                buf_printf(&extra,
                           "%s: schema healing %s: %.0f conflicts, %.0f indices fixed, %.0f swaps; "
                           "%.0f re-reads from the source (%.0f failed, %.0f windows)\n",
                           id, str(v, "schema_heal"), num(v, "conflicts"), num(v, "indices_fixed"),
                           num(v, "swaps"), num(v, "rereads"), num(v, "rereads_failed"),
                           num(v, "reread_windows"));
            if (has(q, "season_skipped")) /* cloudwatch_logs' seasonal model */
                buf_printf(&extra,
                           "%s: seasonal model: %.0f windows skipped as plausible, %.0f re-read "
                           "as implausible (%.0f repaired)\n",
                           id, num(q, "season_skipped"), num(q, "season_implausible"),
                           num(q, "season_repaired"));
        }
        const json_value *re = json_get(doc, "recent_errors");
        if (extra.len || (re && re->type == JSON_ARR && re->n))
            line(f, cols, tty, "%s", "");
        for (const char *p = extra.p, *e; p && p < extra.p + extra.len; p = e + 1) {
            e = memchr(p, '\n', (size_t)(extra.p + extra.len - p));
            if (rows <= 0 || ++used < rows - 1)
                line(f, cols, tty, "%.*s", (int)(e - p), p);
        }
        buf_free(&extra);
        /* The newest warnings and errors that still fit. */
        size_t nre = re && re->type == JSON_ARR ? re->n : 0, show = nre;
        if (rows > 0)
            show = used + 2 < rows ? (size_t)(rows - used - 2) : 0;
        if (show > 5 && rows <= 0)
            show = 5;
        if (show > nre)
            show = nre;
        if (show)
            line(f, cols, tty, "recent errors:");
        for (size_t i = nre - show; i < nre; i++)
            line(f, cols, tty, "  %s %s %s: %s", str(re->items[i], "time"),
                 str(re->items[i], "level"), str(re->items[i], "component"),
                 str(re->items[i], "message"));
    }
    if (tty)
        buf_puts(f, "\033[J");
    arena_free(&a);
    buf_free(&body);
    return rc;
}

static void term_size(int *cols, int *rows)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
    } else {
        *cols = 80;
        *rows = 24;
    }
}

static void put(const sl_buf *b)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(STDOUT_FILENO, b->p + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

enum { TOP_ONCE = API_CLIENT_NOPTS, TOP_INTERVAL };
static const cli_opt top_opts[] = {
    API_CLIENT_OPTS, {"once", 0, NULL, false}, {"interval", 0, "MS", false}, {0}};

const cli_cmd top_cmd = {
    "top",
    "usage: sluice top [-c FILE] [--api HOST:PORT] [--once] [--interval MS]\n"
    "A live terminal view of a running sluice: per component events/s, in and out, buffer\n"
    "fill, circuit, lag, DLQ and error counts, backfill progress, log groups' retention,\n"
    "schema healing and its re-reads, the seasonal model's verdicts, the last reload and\n"
    "recent errors, polled from its API (--api HOST:PORT or http://HOST:PORT, else the api\n"
    "address of -c FILE, else 127.0.0.1:2020) every --interval ms (1000, at least 100).\n"
    "q quits.\n"
    "Without a terminal, or with --once: one frame and exit.\n",
    top_opts, 0};

int top_cli(const char *addr, const char *config, const cli_args *a)
{
    long long interval = 1000;
    if (a->val[TOP_INTERVAL] && cli_number(&top_cmd, TOP_INTERVAL, a->val[TOP_INTERVAL], 100,
                                            3600000, &interval) != CLI_GO)
        return 2;
    top_state *st = sl_xcalloc(1, sizeof *st);
    st->interval_ms = (int)interval;
    char err[512];
    st->api = addr;
    bool tty = !a->val[TOP_ONCE] && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    sl_buf f = SL_BUF_INIT;
    if (!tty) { /* two polls an interval apart: the second frame has rates */
        int rc = frame(st, &f, 0, 0, false, err, sizeof err);
        if (rc == SL_OK) {
            struct timespec ts = {st->interval_ms / 1000, (long)(st->interval_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
            buf_reset(&f);
            rc = frame(st, &f, 0, 0, false, err, sizeof err);
        }
        if (rc == SL_OK) /* a frame; an API that does not answer is an error, on stderr */
            put(&f);
        else
            fprintf(stderr, "sluice top: %s: %s\n", st->api, err);
        buf_free(&f);
        free(st);
        return rc == SL_OK ? 0 : 1;
    }

    struct termios saved, raw;
    tcgetattr(STDIN_FILENO, &saved);
    raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    struct sigaction sa = {0};
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    fputs("\033[?1049h\033[?25l\033[2J", stdout); /* alternate screen, cursor hidden */
    fflush(stdout);

    int64_t next = 0;
    while (!g_stop) {
        int64_t now = sl_mono_ms();
        if (now >= next || g_resized) {
            int cols, rows;
            term_size(&cols, &rows);
            if (g_resized)
                buf_puts(&f, "\033[2J");
            g_resized = 0;
            frame(st, &f, cols, rows, true, err, sizeof err);
            put(&f);
            buf_reset(&f);
            if (now >= next)
                next = now + st->interval_ms;
            continue;
        }
        struct pollfd pf = {.fd = STDIN_FILENO, .events = POLLIN};
        int pr = poll(&pf, 1, (int)(next - now));
        if (pr > 0) {
            char k[64];
            ssize_t n = read(STDIN_FILENO, k, sizeof k);
            if (n == 0)
                break; /* the terminal went away */
            for (ssize_t i = 0; i < n; i++)
                if (k[i] == 'q' || k[i] == 'Q' || k[i] == 3 /* ^C */)
                    g_stop = 1;
        }
    }
    fputs("\033[?25h\033[?1049l", stdout);
    fflush(stdout);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    buf_free(&f);
    free(st);
    return 0;
}
