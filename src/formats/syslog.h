/* syslog.h - syslog messages: RFC 5424 (strict) with a fallback to the RFC 3164 ("BSD")
 * heuristics rsyslog applies, structured data, and the TCP framings of RFC 6587 (octet
 * counting and LF- or NUL-terminated frames). No allocation; everything points into the input. */
#ifndef SL_SYSLOG_H
#define SL_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A parsed message. Every pointer borrows the input; a missing part has length 0. */
typedef struct syslog_msg {
    int facility, severity; /* from PRI; 1 (user) and 5 (notice) when it has none */
    bool has_pri;
    bool fallback;          /* announced RFC 5424 ("<PRI>1 ") but is not: read as RFC 3164 */
    int version;            /* 1 for RFC 5424, 0 for RFC 3164 and anything else */
    int64_t ts_ns;          /* 0 when the message has no (readable) time */
    bool zoneless;          /* ts_ns is an RFC 3164 time ("Mmm dd hh:mm:ss"), read as UTC */
    const char *hostname, *appname, *procid, *msgid, *sd, *msg;
    size_t hostname_len, appname_len, procid_len, msgid_len, sd_len, msg_len;
} syslog_msg;

/* Parses one message (one frame, without its framing). RFC 5424 when it starts with
 * "<PRI>1 " and parses strictly, else RFC 3164: optional PRI, a timestamp ("Mmm dd
 * hh:mm:ss" with an optional year before or after the time, or RFC 3339), a hostname when
 * the word after the time is not a tag, and a tag "app[pid]:". A year-less time is taken in
 * UTC (zoneless: syslog_tz_apply moves it to another zone), in the year that puts it closest to now_ns (at most a month ahead). Never fails:
 * anything unrecognised becomes the message. */
void syslog_parse(const char *p, size_t n, int64_t now_ns, syslog_msg *m);

/* A `timezone` option's value: "UTC" (or "Z"), "local" (the process's zone, TZ, with its
 * daylight saving rules) or a fixed offset "+05:30" / "-0800". Sets *local or *offset_s;
 * false when s is none of these. */
bool syslog_tz_parse(const char *s, bool *local, int32_t *offset_s);
/* The UTC time of a zoneless time (zoneless_ns read as if it were UTC) in the zone. */
int64_t syslog_tz_apply(int64_t zoneless_ns, bool local, int32_t offset_s);

/* Names of facilities 0-23 ("kern", "user", ..., "local7") and severities 0-7 ("emerg",
 * "alert", "crit", "err", "warning", "notice", "info", "debug"), as syslog(3) spells them. */
const char *syslog_facility_name(int facility);
const char *syslog_severity_name(int severity);

/* Structured data: iterate the elements and parameters of m->sd. */
typedef struct syslog_sd_iter {
    const char *p, *end;
    const char *id;   /* the element being read, NULL between elements */
    size_t id_len;
} syslog_sd_iter;

typedef struct syslog_sd_param {
    const char *id, *name, *value; /* value still escaped (\" \\ \]) */
    size_t id_len, name_len, value_len;
    bool no_params;                /* an element without parameters: name and value empty */
} syslog_sd_param;

void syslog_sd_begin(syslog_sd_iter *it, const char *sd, size_t len);
/* The next parameter (or parameterless element). Returns false at the end. Only called on
 * structured data that syslog_parse accepted. */
bool syslog_sd_next(syslog_sd_iter *it, syslog_sd_param *out);
/* Removes the escapes of an SD value into dst (at least n bytes); returns the length. */
size_t syslog_sd_unescape(const char *v, size_t n, char *dst);

/* ---- TCP framing (RFC 6587) ---------------------------------------------------------
 * Each frame is detected on its own, as rsyslog's imtcp does: one that starts with a digit
 * followed by digits and a space is octet-counted ("<len> <msg>"), any other runs to the
 * next LF or NUL (some senders end frames with a NUL; a CR before either is dropped). A
 * connection may mix both. */
typedef struct syslog_framer {
    uint64_t skip;     /* bytes of an oversize octet-counted frame still to discard */
    bool skip_line;    /* discarding an oversize LF frame up to its LF (or NUL) */
} syslog_framer;

enum {
    SYSLOG_FRAME = 0,  /* *msg, *len: one message; *used bytes consumed */
    SYSLOG_NEED_MORE,  /* no complete frame; *used bytes (discarded) may still be consumed */
    SYSLOG_TRUNCATED,  /* a frame over max: *msg, *len its first max bytes; the rest is
                        * discarded (now and in later calls) */
    SYSLOG_EMPTY,      /* an empty frame ("0 ", a bare LF or NUL): consumed, nothing to deliver */
};

/* Finds the next frame in p[0..n). With `eof` (the peer closed), a last LF frame without
 * its LF is returned whole. `max` bounds a message: a larger one is cut to its first max
 * bytes (as rsyslog does), so no more than max bytes of a frame are ever kept. */
int syslog_frame_next(syslog_framer *f, const char *p, size_t n, size_t max, bool eof,
                      const char **msg, size_t *len, size_t *used);

#endif
