/* journald.h - the pure pieces of the journald source: unit names to matches, PRIORITY to
 * severity, journal timestamps, entry fields and the event id taken from a cursor. No
 * libsystemd here, so the unit tests and the rules stay apart from the journal itself. */
#ifndef SL_FORMATS_JOURNALD_H
#define SL_FORMATS_JOURNALD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes the match "_SYSTEMD_UNIT=<unit>" into out, with ".service" appended when the unit
 * name has no type suffix (no '.'), as Vector does. Returns its length, or -1 when the
 * unit is empty or out is too small. */
int journald_unit_match(const char *unit, char *out, size_t outlen);

/* Checks a `matches` entry: a field name journald accepts in a match (A-Z, 0-9, '_', not
 * starting with a digit, at most 64 bytes). */
bool journald_field_name_ok(const char *name);

/* PRIORITY ("0".."7") to the syslog severity name (emerg .. debug); NULL for anything
 * else. */
const char *journald_severity(const char *prio, size_t len);

/* A decimal count of microseconds (__REALTIME_TIMESTAMP, _SOURCE_REALTIME_TIMESTAMP) to
 * nanoseconds. False when it is not all digits, empty or out of range. */
bool journald_parse_usec(const char *s, size_t len, int64_t *ns);

/* One enumerated entry datum "KEY=value" (value may be any bytes): the length of KEY, or
 * -1 when there is no '=' or the key is empty. */
long journald_field_key_len(const void *data, size_t len);

/* The stable id of an entry from its cursor "s=<seqnum id>;i=<seqnum hex>;...": stream =
 * a hash of the seqnum id, seq = the sequence number. A cursor without them (never from
 * libsystemd) gives a hash of the whole cursor and 0. */
void journald_cursor_id(const char *cursor, uint64_t *stream, uint64_t *seq);

#endif
