/* common.c - error names, time, allocation and atomic file helpers.
 * Everything here is used across the tree; nothing here knows about events. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *sl_strerror(int err)
{
    switch (err) {
#define SL_ERR_CASE(name, val, msg) \
    case val:                       \
        return msg;
        SL_ERRORS(SL_ERR_CASE)
#undef SL_ERR_CASE
    }
    return "unknown error";
}

int sl_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int64_t sl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t sl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t sl_mono_ms(void) { return sl_mono_ns() / 1000000LL; }

void sl_cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

struct timespec sl_deadline_mono(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void oom(size_t n)
{
    fprintf(stderr, "sluice: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *sl_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        oom(n * sz);
    return p;
}

void *sl_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *sl_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sl_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

bool sl_id_names_file(const char *id)
{
    if (!id || !id[0] || id[0] == '.' || strlen(id) > SL_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

int sl_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return SL_ERR_IO;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? SL_OK : SL_ERR_IO;
}

int sl_data_dir_lock(const char *data_dir, int *fd_out, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/sluice.pid", data_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_seterr(err, errlen, SL_ERR_IO, "data_dir: %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return sl_seterr(err, errlen, SL_ERR_AGAIN,
                             "data_dir %s is in use by another sluice process%s%s%s", data_dir,
                             pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
        return sl_seterr(err, errlen, SL_ERR_IO, "data_dir: lock %s: %s", path, strerror(e));
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (errlen)
        err[0] = '\0';
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        sl_seterr(err, errlen, SL_ERR_IO, "data_dir: cannot write %s: %s", path, strerror(errno));
    *fd_out = fd;
    return SL_OK;
}

int sl_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    return sl_write_file_replace(path, data, len, true, err, errlen);
}

int sl_write_file_replace(const char *path, const void *data, size_t len, bool durable,
                          char *err, size_t errlen)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return sl_seterr(err, errlen, SL_ERR_INVAL, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_seterr(err, errlen, SL_ERR_IO, "open %s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return sl_seterr(err, errlen, SL_ERR_IO, "write %s: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (durable && fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return sl_seterr(err, errlen, SL_ERR_IO, "fsync %s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sl_seterr(err, errlen, SL_ERR_IO, "rename %s: %s", tmp, strerror(e));
    }
    if (!durable)
        return SL_OK;
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    sl_fsync_dir(dir);
    return SL_OK;
}

int sl_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sl_seterr(err, errlen, errno == ENOENT ? SL_ERR_NOTFOUND : SL_ERR_IO, "open %s: %s",
                         path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sl_seterr(err, errlen, SL_ERR_IO, "%s: not a regular file", path);
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = sl_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = sl_xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            return sl_seterr(err, errlen, SL_ERR_IO, "read %s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SL_OK;
}

int sl_mkdirs(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return sl_seterr(err, errlen, SL_ERR_INVAL, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return sl_seterr(err, errlen, SL_ERR_IO, "mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return sl_seterr(err, errlen, SL_ERR_IO, "mkdir %s: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return sl_seterr(err, errlen, SL_ERR_IO, "%s exists and is not a directory", buf);
    return SL_OK;
}

int sl_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

void sl_thread_name(pthread_t th, const char *role, const char *id)
{
    char name[16];
    snprintf(name, sizeof name, "%s%s%s", role, id ? ":" : "", id ? id : "");
    pthread_setname_np(th, name);
}

int sl_random_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    while (n > 0) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return SL_ERR_IO;
        b += r;
        n -= (size_t)r;
    }
    return SL_OK;
}
