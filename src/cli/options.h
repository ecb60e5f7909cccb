/* options.h - the one reader of every command's options.
 *
 * A command declares its options in a table (cli_opt) and its usage text (cli_cmd); the
 * reader takes `--name VALUE`, `--name=VALUE`, `-x VALUE` and `-xVALUE`, in any order
 * with the command's arguments, and `--` ends the options. Every command answers the same:
 * --help or -h prints its usage on stdout (exit 0); an unknown option, a missing or empty
 * value, a flag given a value, a second one of an option that does not repeat and an
 * argument too many are said on stderr with the usage (exit 2). */
#ifndef SL_CLI_OPTIONS_H
#define SL_CLI_OPTIONS_H

#include <stdbool.h>

#define CLI_MAX_OPTS 8 /* options in one table */
#define CLI_MAX_ARGS 2 /* arguments one command takes */
#define CLI_GO (-1)    /* cli_parse: go on (else the status to exit with) */

typedef struct cli_opt {
    const char *name;  /* long name without "--"; NULL for none */
    char letter;       /* short name; 0 for none */
    const char *value; /* the value as a message names it ("a FILE"); NULL for a flag */
    bool repeats;      /* may be given again (the last value is kept); else refused */
} cli_opt;

/* -c FILE / --config FILE, which most commands take. */
#define CLI_OPT_CONFIG {"config", 'c', "a FILE", false}

typedef struct cli_cmd {
    const char *name;    /* "dlq": messages start "sluice dlq: " */
    const char *usage;   /* starts "usage: "; --help prints it, a usage error follows it */
    const cli_opt *opts; /* ended by an entry with neither name nor letter */
    int max_args;        /* arguments (not options) it takes, at most CLI_MAX_ARGS */
} cli_cmd;

typedef struct cli_args {
    const char *val[CLI_MAX_OPTS]; /* by table index: the value ("" for a flag), or NULL */
    int count[CLI_MAX_OPTS];       /* how many times each was given */
    const char *arg[CLI_MAX_ARGS]; /* the arguments, in order */
    int nargs;
} cli_args;

/* Reads argv (the words after the command's name) into *out. Returns CLI_GO, or the exit
 * status after printing the help (0) or saying a usage error (2). */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *out);

/* Says "sluice CMD: <message>" and the usage on stderr; returns 2, the usage status. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The value of option `i` read as a whole number within [min, max] into *out. Returns
 * CLI_GO, or 2 after saying what was wrong. */
int cli_number(const cli_cmd *cmd, int i, const char *text, long long min, long long max,
               long long *out);

#endif
