/* options.c - the one reader of every command's options (see options.h). */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The option as messages name it: its short name when it has one, as usage texts do. */
static const char *opt_shown(const cli_opt *o, char *buf, size_t len)
{
    if (o->letter)
        snprintf(buf, len, "-%c", o->letter);
    else
        snprintf(buf, len, "--%s", o->name);
    return buf;
}

static bool is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0; }

/* A word that a value option would take as its value but is an option itself: `--sink
 * --limit 3` is a missing ID, not a sink named "--limit". A lone "-" is a value. */
static bool looks_like_option(const char *a) { return a[0] == '-' && a[1] != '\0'; }

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sluice %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", cmd->usage);
    return 2;
}

/* Finds the option argv word `a` names: "--name", "--name=VALUE", "-x" or "-xVALUE".
 * *inline_val gets the VALUE written in the word itself, else NULL. Returns its index or
 * -1. */
static int find_opt(const cli_opt *opts, const char *a, const char **inline_val)
{
    *inline_val = NULL;
    if (a[1] == '-') {
        const char *eq = strchr(a + 2, '=');
        size_t n = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        for (int i = 0; opts[i].name || opts[i].letter; i++) {
            if (opts[i].name && strlen(opts[i].name) == n && memcmp(opts[i].name, a + 2, n) == 0) {
                *inline_val = eq ? eq + 1 : NULL;
                return i;
            }
        }
        return -1;
    }
    for (int i = 0; opts[i].name || opts[i].letter; i++) {
        if (opts[i].letter && opts[i].letter == a[1] && (a[2] == '\0' || opts[i].value)) {
            *inline_val = a[2] ? a + 2 : NULL;
            return i;
        }
    }
    return -1;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *out)
{
    memset(out, 0, sizeof *out);
    /* --help wins wherever it is before `--`: who asks for it gets it, not an error about
     * another word. A value that looks like an option is refused below, so --help is never
     * one. */
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (is_help(argv[i])) {
            fputs(cmd->usage, stdout);
            return 0;
        }
    }
    bool options = true;
    char shown[64];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (options && strcmp(a, "--") == 0) {
            options = false;
            continue;
        }
        if (!options || !looks_like_option(a)) {
            if (out->nargs >= cmd->max_args)
                return cli_usage_error(cmd, "unexpected argument '%s'", a);
            out->arg[out->nargs++] = a;
            continue;
        }
        const char *v;
        int k = find_opt(cmd->opts, a, &v);
        if (k < 0)
            return cli_usage_error(cmd, "unknown option '%s'", a);
        const cli_opt *o = &cmd->opts[k];
        /* named as written (without its =VALUE), but as the usage does when given twice */
        int typed = v && a[1] == '-' ? (int)(v - 1 - a) : (int)strlen(a);
        if (!o->value && v)
            return cli_usage_error(cmd, "%.*s takes no value", typed, a);
        if (o->value && !v) {
            if (i + 1 >= argc || looks_like_option(argv[i + 1]))
                return cli_usage_error(cmd, "%.*s needs %s", typed, a, o->value);
            v = argv[++i];
        }
        /* No option takes an empty value: "$DIR" with DIR unset made --data-dir the root. */
        if (o->value && !*v)
            return cli_usage_error(cmd, "%.*s needs %s, not an empty one", typed, a, o->value);
        opt_shown(o, shown, sizeof shown);
        /* Keeping the last of two would act on another file, sink, source or sluice than
         * the first one named. */
        if (out->count[k] && !o->repeats) {
            if (o->value)
                return cli_usage_error(cmd, "%s given twice ('%s' and '%s')", shown,
                                       out->val[k], v);
            return cli_usage_error(cmd, "%s given twice", shown);
        }
        out->count[k]++;
        out->val[k] = o->value ? v : "";
    }
    return CLI_GO;
}

int cli_number(const cli_cmd *cmd, int i, const char *text, long long min, long long max,
               long long *out)
{
    char shown[64];
    opt_shown(&cmd->opts[i], shown, sizeof shown);
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end)
        return cli_usage_error(cmd, "%s wants a number, got '%s'", shown, text);
    if (v < min || v > max) {
        if (max == LLONG_MAX)
            return cli_usage_error(cmd, "%s wants a number >= %lld, got '%s'", shown, min, text);
        return cli_usage_error(cmd, "%s wants a number from %lld to %lld, got '%s'", shown, min,
                               max, text);
    }
    *out = v;
    return CLI_GO;
}
