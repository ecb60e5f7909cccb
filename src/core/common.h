/* common.h - error codes, small helpers and time functions shared by every module.
 * Errors are negative values of one enum (X-macro); sl_strerror names them. */
#ifndef SL_COMMON_H
#define SL_COMMON_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_ERRORS(X)                                       \
    X(SL_OK, 0, "ok")                                      \
    X(SL_ERR_NOMEM, -1, "out of memory")                   \
    X(SL_ERR_IO, -2, "I/O error")                          \
    X(SL_ERR_CONFIG, -3, "invalid configuration")          \
    X(SL_ERR_CORRUPT, -4, "corrupt data")                  \
    X(SL_ERR_FULL, -5, "full")                             \
    X(SL_ERR_CLOSED, -6, "closed")                         \
    X(SL_ERR_TIMEOUT, -7, "timed out")                     \
    X(SL_ERR_AGAIN, -8, "try again")                       \
    X(SL_ERR_NOTFOUND, -9, "not found")                    \
    X(SL_ERR_INVAL, -10, "invalid argument")               \
    X(SL_ERR_TOOBIG, -11, "too big")

enum sl_error {
#define SL_ERR_ENUM(name, val, msg) name = val,
    SL_ERRORS(SL_ERR_ENUM)
#undef SL_ERR_ENUM
};

const char *sl_strerror(int err);

/* Format into a caller's error buffer; always NUL-terminates. Returns `code`. */
int sl_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SL_UNUSED(x) ((void)(x))
#define SL_LIKELY(x) __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* The value of a hex digit of either case, -1 for any other byte. */
static inline int sl_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* ASCII letters to lower case; no other byte lands on a-f */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Wall-clock time in nanoseconds since the epoch. */
int64_t sl_now_ns(void);
/* Monotonic time in milliseconds, for timeouts. */
int64_t sl_mono_ms(void);
/* Monotonic time in nanoseconds, for durations. */
int64_t sl_mono_ns(void);

/* Condition variables here wait on CLOCK_MONOTONIC, so a wall-clock jump neither
 * stretches nor cuts a timeout. sl_deadline_mono gives the absolute time `ms` from now
 * for pthread_cond_timedwait on such a variable. */
void sl_cond_init_mono(pthread_cond_t *c);
struct timespec sl_deadline_mono(int64_t ms);

/* Allocation that never returns NULL: aborts the process with a message on
 * exhaustion (the only place the daemon dies on its own; OOM is not outside input). */
void *sl_xmalloc(size_t n);
void *sl_xcalloc(size_t n, size_t sz);
void *sl_xrealloc(void *p, size_t n);
char *sl_xstrdup(const char *s);

/* Write `len` bytes to a path atomically: temp file, fsync, rename, fsync dir. */
int sl_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);
/* Same without fsync (durable = false): the new content replaces the old in one rename, so it
 * survives the process being killed at any instant, but not a power loss. */
int sl_write_file_replace(const char *path, const void *data, size_t len, bool durable,
                          char *err, size_t errlen);
/* Read a whole file into a malloc'd buffer (caller frees *out). */
int sl_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen);
/* mkdir -p */
int sl_mkdirs(const char *path, char *err, size_t errlen);
/* fsync a directory by path. */
int sl_fsync_dir(const char *path);
/* One process per data_dir: an flock on <data_dir>/sluice.pid, which then holds our pid
 * for the message of the next one. Returns SL_OK with *fd_out holding the lock (closing it
 * drops it; err is "" or says the pid could not be written), SL_ERR_AGAIN when another
 * process holds it (err: "data_dir D is in use by another sluice process (pid N)"), or
 * SL_ERR_IO. */
int sl_data_dir_lock(const char *data_dir, int *fd_out, char *err, size_t errlen);
/* Whether a component id can name a file under data_dir (its checkpoints, buffer, DLQ):
 * 1 to SL_ID_MAX bytes, no '/', '\\' or control character, not starting with '.'. */
#define SL_ID_MAX 200
bool sl_id_names_file(const char *id);

/* Number of online CPUs, at least 1. */
int sl_ncpu(void);

/* n bytes from the kernel's random source (getrandom). Returns SL_OK or SL_ERR_IO. */
int sl_random_bytes(void *p, size_t n);

/* Names thread th "role:id" (id may be NULL), cut to the kernel's 15 bytes, so that top -H,
 * ps -L and perf tell the threads apart. */
void sl_thread_name(pthread_t th, const char *role, const char *id);

#endif
