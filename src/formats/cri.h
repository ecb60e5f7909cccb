/* cri.h - parsers for container runtime log lines: CRI ("<RFC3339Nano> <stream> <P|F> msg")
 * and Docker json-file ({"log":"...","stream":"...","time":"..."}), plus RFC 3339 times. */
#ifndef SL_CRI_H
#define SL_CRI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CRI_STDOUT = 0, CRI_STDERR = 1 };

/* One parsed line. `msg` points into the input (CRI) or into the caller's scratch buffer
 * (Docker, after unescaping); borrowed. `partial` means the message continues in the next
 * line of the same stream (CRI tag P; Docker "log" without a trailing newline). */
typedef struct cri_line {
    int64_t ts_ns;
    int stream; /* CRI_STDOUT | CRI_STDERR */
    bool partial;
    const char *msg;
    size_t len;
    /* Docker: the raw text of the "attrs" object (docker's --log-opt labels, env, tag) in
     * the input, NULL when the line has none or it is not an object; CRI: always NULL. */
    const char *attrs;
    size_t attrs_len;
} cri_line;

/* Parses "2024-01-15T10:20:30.123456789Z" or with a "+hh:mm"/"-hh:mm" offset; fraction
 * optional, up to 9 digits. The whole of s[0..n) must be the time, between the years 1677
 * and 2262 (nanoseconds in int64). Returns 0 or -1. The one RFC 3339 parser of the project. */
int cri_parse_time(const char *s, size_t n, int64_t *ns);

/* Parses one CRI line (without its '\n'). Returns 0, or -1 with a static reason in *why. */
int cri_parse(const char *s, size_t n, cri_line *out, const char **why);

/* Parses one Docker json-file line. The "log" string is unescaped into `scratch`, which
 * must hold at least n bytes (an unescaped JSON string is never longer than its source).
 * A trailing '\n' of "log" is removed; its absence makes the line partial. "attrs" is
 * only delimited (cri_line.attrs), other keys are skipped. Returns 0, or -1 with a static
 * reason in *why. */
int docker_json_parse(const char *s, size_t n, char *scratch, cri_line *out, const char **why);

#endif
