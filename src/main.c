/* main.c - the `sluice` command line: run, validate, dlq, checkpoints, version, help.
 * Signals are handled on one dedicated thread with sigwait, so no handler runs on a worker. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/from_env.h"
#include "cli/logfowd.h"
#include "cli/options.h"
#include "cli/quickstart.h"
#include "cli/reload_cli.h"
#include "cli/tap.h"
#include "cli/top.h"
#include "core/api.h"
#include "core/checkpoint.h"
#include "core/common.h"
#include "core/component.h"
#include "core/config.h"
#include "core/dlq.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/notify.h"
#include "core/sink_runtime.h"
#include "core/topology.h"
#include "core/version.h"

static const char usage_text[] =
    "usage: sluice <command> [options]\n"
    "\n"
    "commands:\n"
    "  run [-c FILE]              run the pipeline in FILE (or logfowd2's config.json); without\n"
    "                             -c, a drop-in from the environment (sluice config --help)\n"
    "                             or the built-in quickstart\n"
    "  validate -c FILE           check FILE (syntax, options, graph) and exit non-zero on error\n"
    "  dlq list|replay|purge      inspect and replay dead-lettered events (sluice dlq --help)\n"
    "  checkpoints show|reset     inspect or reset source positions (sluice checkpoints --help)\n"
    "  components [TYPE]          list component types, or the options of one type\n"
    "  config from-env|convert    print the configuration a drop-in builds (sluice config --help)\n"
    "  top [--api HOST:PORT]      a live terminal view of a running sluice (sluice top --help)\n"
    "  tap COMPONENT [-n COUNT]   print the events passing a component as NDJSON (sluice tap --help)\n"
    "  reload [--api HOST:PORT]   make a running sluice reload its configuration (sluice reload --help)\n"
    "  version                    print the version\n"
    "\n"
    "Every command accepts --help (-h). An option's value follows it (-c FILE) or is written\n"
    "with = (--config=FILE); -- ends the options. An unknown option, a missing value or an\n"
    "option given twice is refused with exit status 2.\n";

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0;
}

static const cli_opt config_opts[] = {CLI_OPT_CONFIG, {0}};

/* A -c file that is logfowd2's config.json is translated (logfowd.h); anything else is
 * read by the config loader itself. Returns SL_OK with *text NULL for the latter. */
static int translate_config(const char *config, char **text, sl_buf *notes, char *err,
                            size_t errlen)
{
    *text = NULL;
    FILE *f = fopen(config, "rb");
    if (!f)
        return SL_OK; /* the loader says why */
    char head[4096];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    size_t i = 0;
    while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r'))
        i++;
    size_t l = strlen(config);
    bool json = (i < n && head[i] == '{') || (l > 5 && strcmp(config + l - 5, ".json") == 0);
    if (!json)
        return SL_OK;
    sl_buf b = SL_BUF_INIT;
    f = fopen(config, "rb");
    if (f) {
        size_t r;
        while ((r = fread(head, 1, sizeof head, f)) > 0 && b.len < (1u << 20))
            buf_append(&b, head, r);
        fclose(f);
    }
    int rc = SL_OK;
    if (b.len && logfowd_detect(b.p, b.len))
        rc = logfowd_translate(b.p, b.len, config, text, notes, err, errlen);
    buf_free(&b);
    return rc;
}

/* Logs translate_config's notes, each at its level. */
static void log_notes(const sl_buf *notes)
{
    if (!notes->len)
        return;
    const char *p = notes->p, *end = notes->p + notes->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l > 6 && strncmp(p, "warn: ", 6) == 0)
            log_warn("config", "%.*s", (int)(l - 6), p + 6);
        else if (l > 6 && strncmp(p, "info: ", 6) == 0)
            log_info("config", "%.*s", (int)(l - 6), p + 6);
        p += l + 1;
    }
}

/* `envcfg`, when set, is a configuration built by a drop-in (from_env.h, logfowd.h) and
 * `what` names it in messages. `check_only`: for a command that runs nothing. */
static int load_topology(const char *config, const char *envcfg, const char *what,
                         bool check_only, sl_config_doc **doc, sl_topology **t)
{
    char err[2048];
    int rc = envcfg   ? config_doc_load(doc, what, envcfg, err, sizeof err)
             : config ? config_doc_load(doc, config, NULL, err, sizeof err)
                      : config_doc_load(doc, "<built-in quickstart>", quickstart_config(), err,
                                        sizeof err);
    if (rc == SL_OK)
        rc = check_only ? topology_check(t, *doc, err, sizeof err)
                        : topology_build(t, *doc, err, sizeof err);
    if (rc != SL_OK) {
        fprintf(stderr, "sluice: %s\n", err);
        return rc;
    }
    return SL_OK;
}

/* Loads the file `config` (translated when it is logfowd2's) for a command that reads it
 * and runs nothing (validate, top, tap): on SL_OK the caller owns *doc and *t and frees
 * them with unload_config; the translation's notes are appended to notes. Errors go to
 * stderr. */
static int load_config_file(const char *config, sl_config_doc **doc, sl_topology **t,
                            sl_buf *notes)
{
    char err[2048], *text = NULL;
    int rc = translate_config(config, &text, notes, err, sizeof err);
    if (rc != SL_OK)
        fprintf(stderr, "sluice: %s\n", err);
    else
        rc = load_topology(config, text, config, true, doc, t);
    free(text);
    return rc;
}

static void unload_config(sl_config_doc *doc, sl_topology *t)
{
    topology_free(t);
    config_doc_free(doc);
    metrics_reset();
}

static const cli_cmd validate_cmd = {
    "validate",
    "usage: sluice validate -c FILE\n"
    "Checks syntax, every option and the component graph.\n",
    config_opts, 0};

static int cmd_validate(int argc, char **argv)
{
    cli_args a;
    int arc = cli_parse(&validate_cmd, argc, argv, &a);
    if (arc != CLI_GO)
        return arc;
    const char *config = a.val[0];
    if (!config)
        return cli_usage_error(&validate_cmd, "-c FILE is required");
    sl_config_doc *doc = NULL;
    sl_topology *t = NULL;
    sl_buf notes = SL_BUF_INIT;
    int rc = load_config_file(config, &doc, &t, &notes);
    if (rc == SL_OK && notes.len)
        fwrite(notes.p, 1, notes.len, stderr);
    buf_free(&notes);
    unload_config(doc, t);
    if (rc != SL_OK)
        return 1;
    printf("%s: ok\n", config);
    return 0;
}

/* ---- run --------------------------------------------------------------------------------- */

typedef struct signal_ctx {
    sigset_t set;
    sl_topology *t;
    /* SIGHUP's reload runs on its own thread, so a second signal (SIGTERM) is seen at once */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int reloads_asked;
    bool done;
} signal_ctx;

static void *reload_thread(void *arg)
{
    signal_ctx *sc = arg;
    pthread_mutex_lock(&sc->mu);
    for (;;) {
        while (!sc->done && sc->reloads_asked == 0)
            pthread_cond_wait(&sc->cv, &sc->mu);
        if (sc->done)
            break;
        sc->reloads_asked = 0; /* several SIGHUPs while one runs: one more reload */
        pthread_mutex_unlock(&sc->mu);
        topology_reload(sc->t, NULL);
        pthread_mutex_lock(&sc->mu);
    }
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

/* What a reload reads: the -c file again (translated as at start). */
typedef struct reload_src {
    const char *config;
} reload_src;

static int reload_load(void *arg, sl_config_doc **out, char *err, size_t errlen)
{
    reload_src *r = arg;
    char *text = NULL;
    sl_buf notes = SL_BUF_INIT;
    int rc = translate_config(r->config, &text, &notes, err, errlen);
    if (rc == SL_OK)
        rc = text ? config_doc_load(out, r->config, text, err, errlen)
                  : config_doc_load(out, r->config, NULL, err, errlen);
    if (rc == SL_OK)
        log_notes(&notes);
    free(text);
    buf_free(&notes);
    return rc;
}

/* The loader of `dlq` and `checkpoints` (config_set_file_loader): the file as run reads it,
 * its notes left out (validate and config convert print them). */
static int load_file_as_run(sl_config_doc **out, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    sl_buf notes = SL_BUF_INIT;
    int rc = translate_config(path, &text, &notes, err, errlen);
    if (rc == SL_OK)
        rc = config_doc_load(out, path, text, err, errlen);
    free(text);
    buf_free(&notes);
    return rc;
}

static void *signal_thread(void *arg)
{
    signal_ctx *sc = arg;
    int stops = 0;
    siginfo_t first = {0};
    int64_t first_ms = 0;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&sc->set, &si);
        if (sig < 0)
            continue;
        if (sig == SIGHUP) {
            log_reopen();
            log_info("sluice", "SIGHUP: log file reopened; reloading the configuration");
            pthread_mutex_lock(&sc->mu);
            sc->reloads_asked++;
            pthread_cond_signal(&sc->cv);
            pthread_mutex_unlock(&sc->mu);
        } else if (sig == SIGUSR1) {
            return NULL; /* main is done */
        } else {
            /* `timeout` signals sluice and then its whole process group, and a script may
             * signal a process group sluice is in: the same signal from the same process
             * within 3 s is that one stop, not a second asking to force. A terminal's
             * Ctrl-C (sent by the kernel) or another sender forces at once. */
            if (stops == 1 && si.si_code == SI_USER && first.si_code == SI_USER &&
                si.si_signo == first.si_signo && si.si_pid == first.si_pid &&
                sl_mono_ms() - first_ms < 3000) {
                log_info("sluice", "%s again from the same process (pid %d): the same stop "
                         "(again after 3 s, or from elsewhere, to force)", strsignal(sig), (int)si.si_pid);
                continue;
            }
            if (++stops == 1) {
                first = si;
                first_ms = sl_mono_ms();
                log_info("sluice", "%s received: stopping (again to force)", strsignal(sig));
                topology_request_stop(sc->t);
            } else {
                log_warn("sluice", "second %s: exiting now; undelivered events will be re-read",
                         strsignal(sig));
                _exit(1);
            }
        }
    }
}

static bool api_ready(void *arg) { return topology_ready(arg); }
/* What the service manager is told (Type=notify): the same readiness as /readyz. */
static sl_notify_phase notify_phase(void *arg)
{
    return topology_ready(arg) ? SL_NOTIFY_READY
           : topology_stopping(arg) ? SL_NOTIFY_STOPPING : SL_NOTIFY_STARTING;
}
static void api_status(void *arg, sl_buf *out) { topology_status_json(arg, out); }
static void api_plugins(void *arg, sl_buf *out) { topology_plugins_json(arg, out); }
static int api_reload(void *arg, sl_buf *out) { return topology_reload(arg, out); }
static struct sl_tap *api_tap(void *arg, const char *id, sl_buf *ids)
{
    struct sl_tap *tap = topology_tap(arg, id);
    if (!tap)
        topology_component_ids(arg, ids);
    return tap;
}

static const cli_cmd run_cmd = {
    "run",
    "usage: sluice run [-c FILE]\n"
    "Runs the pipeline described in FILE; a FILE that is logfowd2's config.json (JSON with\n"
    "log_path, es, ...) runs the equivalent pipeline. Without -c: the drop-in whose variables\n"
    "are set (LOG_GROUPS, FLUENTD_SHARED_KEY or DASH0_LOGS_ENDPOINT, CFG_PATH; see sluice config\n"
    "--help), else the built-in quickstart: sample pod logs under ./demo/pods are tailed into\n"
    "./demo/out, with the API on 127.0.0.1:2020.\n"
    "Signals: SIGTERM/SIGINT drain in-flight batches and commit positions (a second one forces\n"
    "an exit, but not the same signal from the same sender within 3 s); SIGHUP reopens the log\n"
    "and reloads FILE (as POST /api/v1/reload and `sluice reload` do): only the components whose\n"
    "configuration changed restart.\n",
    config_opts, 0};

/* A reason `run` cannot start: logged, and on stderr as well when the log goes to a file,
 * so whoever started it sees why it exited 1. */
static void start_error(const sl_global_config *g, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_error("sluice", "cannot start: %s", msg);
    if (g->log.file)
        fprintf(stderr, "sluice: cannot start: %s\n", msg);
}

static int cmd_run(int argc, char **argv)
{
    cli_args a;
    int arc = cli_parse(&run_cmd, argc, argv, &a);
    if (arc != CLI_GO)
        return arc;
    const char *config = a.val[0];
    char err[2048];
    const char *what = config;
    char *envcfg = NULL; /* a drop-in's configuration */
    sl_buf notes = SL_BUF_INIT;
    int trc = config ? translate_config(config, &envcfg, &notes, err, sizeof err)
                     : (envcfg = from_env_config(&what, &notes, err, sizeof err), *err ? 1 : 0);
    if (trc != SL_OK) {
        fprintf(stderr, "sluice: %s\n", err);
        buf_free(&notes);
        return 1;
    }
    bool quick = !config && !envcfg;
    if (quick && quickstart_prepare(err, sizeof err) != SL_OK) {
        fprintf(stderr, "sluice: quickstart: %s\n", err);
        return 1;
    }
    /* Block the signals before any thread starts so every thread inherits the mask. */
    signal_ctx sc;
    sigemptyset(&sc.set);
    sigaddset(&sc.set, SIGTERM);
    sigaddset(&sc.set, SIGINT);
    sigaddset(&sc.set, SIGHUP);
    sigaddset(&sc.set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit must surface as EFBIG on the write (handled: buffer and sink retry),
     * not kill the process. */
    signal(SIGXFSZ, SIG_IGN);
    /* Batches of a few MB are freed on one thread and rebuilt on another all the time:
     * with glibc's default (dynamic) thresholds each free trimmed a thread heap and the
     * next batch faulted its pages back in (over a million minor faults in a forward
     * benchmark, more system time than user time). Fixed thresholds keep that memory for
     * reuse; the peak RSS is the same. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 8 << 20);

    sl_config_doc *doc = NULL;
    sl_topology *t = NULL;
    int lrc = load_topology(config, envcfg, what, false, &doc, &t);
    free(envcfg);
    if (lrc != SL_OK) {
        buf_free(&notes);
        config_doc_free(doc);
        return 1;
    }
    const sl_global_config *g = topology_globals(t);
    if (log_configure(g->log.level, g->log.format == 1, g->log.file, err, sizeof err) != SL_OK) {
        fprintf(stderr, "sluice: %s\n", err);
        buf_free(&notes);
        topology_free(t);
        config_doc_free(doc);
        return 1;
    }
    log_notes(&notes);
    buf_free(&notes);
    sc.t = t;
    pthread_mutex_init(&sc.mu, NULL);
    pthread_cond_init(&sc.cv, NULL);
    sc.reloads_asked = 0;
    sc.done = false;
    reload_src rsrc = {.config = config};
    if (config)
        topology_set_reloader(t, reload_load, &rsrc);
    pthread_t sig_th, reload_th;
    pthread_create(&sig_th, NULL, signal_thread, &sc);
    pthread_create(&reload_th, NULL, reload_thread, &sc);
    sl_thread_name(sig_th, "signals", NULL);
    sl_thread_name(reload_th, "reload", NULL);

    int status = 0;
    sl_api *apis[SL_API_MAX_LISTENERS] = {0};
    size_t napis = 0;
    if (topology_start(t, err, sizeof err) != SL_OK) {
        start_error(g, "%s", err);
        topology_request_stop(t);
        status = 1;
    } else if (g->api.enabled) {
        sl_api_handlers h = {.ready = api_ready, .status_json = api_status, .arg = t,
                             .plugins_json = api_plugins, .tap = api_tap, .reload = api_reload,
                             .metrics_path = g->api.metrics_path};
        for (size_t i = 0; i < g->api.address.n && status == 0; i++) {
            const char *addr = g->api.address.v[i];
            if (api_start(&apis[napis], addr, &h, err, sizeof err) != SL_OK) {
                start_error(g, "the API: %s", err);
                topology_request_stop(t);
                status = 1;
            } else {
                napis++;
                log_info("sluice", "API listening on http://%s", addr);
            }
        }
    }
    if (quick && status == 0) {
        quickstart_start_writer();
        quickstart_print_hints(g->api.address.n ? g->api.address.v[0] : "(api disabled)");
    }
    sl_notifier *notifier = NULL;
    if (status == 0) {
        char desc[300];
        snprintf(desc, sizeof desc, "%s, API %s",
                 config ? config : quick ? "quickstart" : "config from the environment",
                 g->api.enabled && g->api.address.n ? g->api.address.v[0] : "off");
        notifier = notifier_start(notify_phase, t, desc);
    }
    int drained = topology_run_until_stopped(t);
    if (topology_start_failed(t) && status == 0) {
        if (g->log.file) /* the source said why in the log */
            fprintf(stderr, "sluice: cannot start: a network source could not listen (see %s)\n",
                    g->log.file);
        status = 1;
    }
    if (topology_output_gone(t) && status == 0)
        status = 1; /* the sink said why; a service manager restarts on it */
    notifier_stop(notifier); /* STOPPING=1 went when the drain began; this ends the pings */
    if (quick)
        quickstart_stop();
    for (size_t i = 0; i < napis; i++)
        api_stop(apis[i]);
    pthread_kill(sig_th, SIGUSR1);
    pthread_join(sig_th, NULL);
    pthread_mutex_lock(&sc.mu);
    sc.done = true;
    pthread_cond_signal(&sc.cv);
    pthread_mutex_unlock(&sc.mu);
    pthread_join(reload_th, NULL);
    topology_free(t);
    config_doc_free(doc);
    metrics_reset();
    /* Undelivered events (drained != 0) are re-read at the next start: not an error exit. */
    (void)drained;
    return status;
}

/* ---- top, tap: clients of a running sluice's API ------------------------------------------ */

/* Reads a client's options (its table starts with API_CLIENT_OPTS) and the API address to
 * ask: --api, else the first api.address of -c FILE, else 127.0.0.1:2020. `fn` gets that
 * address as one to dial, with FILE (or NULL) and the options read. */
static int cmd_api_client(const cli_cmd *cmd, int argc, char **argv, api_client_fn fn)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_GO)
        return rc;
    const char *config = a.val[API_CLIENT_OPT_CONFIG], *want = a.val[API_CLIENT_OPT_API];
    char api[256] = "127.0.0.1:2020";
    if (config) {
        sl_config_doc *doc = NULL;
        sl_topology *t = NULL;
        sl_buf notes = SL_BUF_INIT;
        rc = load_config_file(config, &doc, &t, &notes);
        if (rc == SL_OK) {
            const sl_global_config *g = topology_globals(t);
            if (g->api.enabled && g->api.address.n)
                snprintf(api, sizeof api, "%s", g->api.address.v[0]);
            else {
                fprintf(stderr, "sluice: %s has the API turned off\n", config);
                rc = SL_ERR_CONFIG;
            }
        }
        buf_free(&notes);
        unload_config(doc, t);
        /* reload: a FILE that does not load is a refused file (exit 1, as the daemon's
         * refusal), though the running sluice was not asked */
        if (rc != SL_OK)
            return fn == reload_cli ? 1 : 2;
    }
    char addr[300], err[512];
    if (api_client_dial_address(want ? want : api, addr, sizeof addr, err, sizeof err) != SL_OK) {
        fprintf(stderr, "sluice %s: %s\n", cmd->name, err);
        return 2;
    }
    return fn(addr, config, &a);
}

/* ---- components ----------------------------------------------------------------------------- */

static void describe(const char *kind, const char *type, const char *help, const sl_option *opts)
{
    char buf[16384];
    if (*type)
        printf("%s %s: %s\n", kind, type, help ? help : "");
    else
        printf("%s:\n", kind);
    if (opts) {
        config_options_describe(opts, "  ", buf, sizeof buf);
        fputs(buf, stdout);
    }
}

static const cli_opt no_opts[] = {{0}};

static const cli_cmd components_cmd = {
    "components",
    "usage: sluice components [TYPE]\nLists component types, or the options of TYPE.\n",
    no_opts, 1};

static int cmd_components(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(&components_cmd, argc, argv, &a);
    if (rc != CLI_GO)
        return rc;
    const char *want = a.nargs ? a.arg[0] : NULL;
    int shown = 0;
    for (size_t i = 0; sl_sources[i]; i++)
        if (!want || strcmp(want, sl_sources[i]->type) == 0)
            describe("source", sl_sources[i]->type, sl_sources[i]->help,
                     want ? sl_sources[i]->options : NULL), shown++;
    for (size_t i = 0; sl_transforms[i]; i++)
        if (!want || strcmp(want, sl_transforms[i]->type) == 0)
            describe("transform", sl_transforms[i]->type, sl_transforms[i]->help,
                     want ? sl_transforms[i]->options : NULL), shown++;
    for (size_t i = 0; sl_sinks[i]; i++)
        if (!want || strcmp(want, sl_sinks[i]->type) == 0) {
            describe("sink", sl_sinks[i]->type, sl_sinks[i]->help, want ? sl_sinks[i]->options : NULL);
            if (want)
                describe("every sink also takes", "", "", sl_sink_common_options);
            shown++;
        }
    if (want && !shown) {
        fprintf(stderr, "sluice: unknown component type '%s'\n", want);
        return 2;
    }
    return 0;
}

static const cli_cmd version_cmd = {"version", "usage: sluice version\nPrints the version.\n",
                                    no_opts, 0};

static int cmd_version(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(&version_cmd, argc, argv, &a);
    if (rc == CLI_GO)
        printf("sluice %s\n", SLUICE_VERSION);
    return rc == CLI_GO ? 0 : rc;
}

/* Standard input, output and error opened on /dev/null where the starter closed them.
 * Otherwise the next descriptor opened takes their number, and a log line (fd 2) or the
 * stdout sink (fd 1) writes into an eventfd, a checkpoint file or a sink's socket. */
static void keep_standard_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF)
            (void)open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY); /* the lowest free: fd */
    }
}

/* The soft limit on open files raised to the hard one. A shell's or systemd's soft limit
 * is 1024, kept low for programs that use select(), which sluice and its libraries do not;
 * the hard limit is far higher. The tailers keep their files within the soft limit
 * (tailer.c), so without this a few thousand files were read closing and reopening. */
static void raise_open_files_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    keep_standard_fds();
    if (argc < 2 || is_help(argv[1])) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    config_set_file_loader(load_file_as_run);
    if (strcmp(cmd, "run") == 0) {
        raise_open_files_limit();
        return cmd_run(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "validate") == 0)
        return cmd_validate(argc - 2, argv + 2);
    if (strcmp(cmd, "dlq") == 0)
        return dlq_cli(argc - 2, argv + 2);
    if (strcmp(cmd, "checkpoints") == 0)
        return checkpoints_cli(argc - 2, argv + 2);
    if (strcmp(cmd, "config") == 0)
        return from_env_cli(argc - 2, argv + 2);
    if (strcmp(cmd, "tap") == 0)
        return cmd_api_client(&tap_cmd, argc - 2, argv + 2, tap_cli);
    if (strcmp(cmd, "top") == 0)
        return cmd_api_client(&top_cmd, argc - 2, argv + 2, top_cli);
    if (strcmp(cmd, "reload") == 0)
        return cmd_api_client(&reload_cmd, argc - 2, argv + 2, reload_cli);
    if (strcmp(cmd, "components") == 0)
        return cmd_components(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return cmd_version(argc - 2, argv + 2);
    fprintf(stderr, "sluice: unknown command '%s'\n%s", cmd, usage_text);
    return 2;
}
