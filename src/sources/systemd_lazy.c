/* systemd_lazy.c - libsystemd, loaded on first use instead of at process start.
 * Linked, libsystemd maps libgcrypt, libgpg-error, liblzma, libzstd, liblz4 and libcap into
 * every process (about 0.8 MB of RSS) for the journald source alone. These definitions
 * stand in for the sd-journal functions that source calls (it loads the library at init,
 * see lazylib.h); unloaded, they fail with -ELIBACC. */
#include <errno.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>

#include "core/lazylib.h"

static struct {
    __typeof__(sd_id128_get_boot) *id128_get_boot;
    __typeof__(sd_id128_to_string) *id128_to_string;
    __typeof__(sd_journal_open) *open;
    __typeof__(sd_journal_open_directory) *open_directory;
    __typeof__(sd_journal_open_files) *open_files;
    __typeof__(sd_journal_close) *close;
    __typeof__(sd_journal_add_match) *add_match;
    __typeof__(sd_journal_add_disjunction) *add_disjunction;
    __typeof__(sd_journal_add_conjunction) *add_conjunction;
    __typeof__(sd_journal_set_data_threshold) *set_data_threshold;
    __typeof__(sd_journal_next) *next;
    __typeof__(sd_journal_previous) *previous;
    __typeof__(sd_journal_seek_head) *seek_head;
    __typeof__(sd_journal_seek_tail) *seek_tail;
    __typeof__(sd_journal_seek_cursor) *seek_cursor;
    __typeof__(sd_journal_test_cursor) *test_cursor;
    __typeof__(sd_journal_get_cursor) *get_cursor;
    __typeof__(sd_journal_get_realtime_usec) *get_realtime_usec;
    __typeof__(sd_journal_restart_data) *restart_data;
    __typeof__(sd_journal_enumerate_available_data) *enumerate_available_data;
    __typeof__(sd_journal_get_fd) *get_fd;
    __typeof__(sd_journal_get_events) *get_events;
    __typeof__(sd_journal_get_timeout) *get_timeout;
    __typeof__(sd_journal_process) *process;
    __typeof__(sd_journal_has_runtime_files) *has_runtime_files;
    __typeof__(sd_journal_has_persistent_files) *has_persistent_files;
} fn;

static const lazy_sym syms[] = {
    {"sd_id128_get_boot", &fn.id128_get_boot},
    {"sd_id128_to_string", &fn.id128_to_string},
    {"sd_journal_open", &fn.open},
    {"sd_journal_open_directory", &fn.open_directory},
    {"sd_journal_open_files", &fn.open_files},
    {"sd_journal_close", &fn.close},
    {"sd_journal_add_match", &fn.add_match},
    {"sd_journal_add_disjunction", &fn.add_disjunction},
    {"sd_journal_add_conjunction", &fn.add_conjunction},
    {"sd_journal_set_data_threshold", &fn.set_data_threshold},
    {"sd_journal_next", &fn.next},
    {"sd_journal_previous", &fn.previous},
    {"sd_journal_seek_head", &fn.seek_head},
    {"sd_journal_seek_tail", &fn.seek_tail},
    {"sd_journal_seek_cursor", &fn.seek_cursor},
    {"sd_journal_test_cursor", &fn.test_cursor},
    {"sd_journal_get_cursor", &fn.get_cursor},
    {"sd_journal_get_realtime_usec", &fn.get_realtime_usec},
    {"sd_journal_restart_data", &fn.restart_data},
    {"sd_journal_enumerate_available_data", &fn.enumerate_available_data},
    {"sd_journal_get_fd", &fn.get_fd},
    {"sd_journal_get_events", &fn.get_events},
    {"sd_journal_get_timeout", &fn.get_timeout},
    {"sd_journal_process", &fn.process},
    {"sd_journal_has_runtime_files", &fn.has_runtime_files},
    {"sd_journal_has_persistent_files", &fn.has_persistent_files},
    {NULL, NULL},
};

lazylib lazy_systemd = LAZYLIB_INIT("libsystemd.so.0", syms);

#define READY lazylib_ready(&lazy_systemd)

int sd_id128_get_boot(sd_id128_t *ret) { return READY ? fn.id128_get_boot(ret) : -ELIBACC; }
int sd_journal_open(sd_journal **ret, int flags) { return READY ? fn.open(ret, flags) : -ELIBACC; }
int sd_journal_open_files(sd_journal **ret, const char **paths, int flags)
{
    return READY ? fn.open_files(ret, paths, flags) : -ELIBACC;
}
int sd_journal_open_directory(sd_journal **ret, const char *path, int flags)
{
    return READY ? fn.open_directory(ret, path, flags) : -ELIBACC;
}
void sd_journal_close(sd_journal *j) { if (READY) fn.close(j); }
int sd_journal_add_match(sd_journal *j, const void *data, size_t size)
{
    return READY ? fn.add_match(j, data, size) : -ELIBACC;
}
int sd_journal_add_disjunction(sd_journal *j) { return READY ? fn.add_disjunction(j) : -ELIBACC; }
int sd_journal_add_conjunction(sd_journal *j) { return READY ? fn.add_conjunction(j) : -ELIBACC; }
int sd_journal_set_data_threshold(sd_journal *j, size_t sz)
{
    return READY ? fn.set_data_threshold(j, sz) : -ELIBACC;
}
int sd_journal_next(sd_journal *j) { return READY ? fn.next(j) : -ELIBACC; }
int sd_journal_previous(sd_journal *j) { return READY ? fn.previous(j) : -ELIBACC; }
int sd_journal_seek_head(sd_journal *j) { return READY ? fn.seek_head(j) : -ELIBACC; }
int sd_journal_seek_tail(sd_journal *j) { return READY ? fn.seek_tail(j) : -ELIBACC; }
int sd_journal_seek_cursor(sd_journal *j, const char *c) { return READY ? fn.seek_cursor(j, c) : -ELIBACC; }
int sd_journal_test_cursor(sd_journal *j, const char *c) { return READY ? fn.test_cursor(j, c) : -ELIBACC; }
int sd_journal_get_cursor(sd_journal *j, char **c) { return READY ? fn.get_cursor(j, c) : -ELIBACC; }
int sd_journal_get_realtime_usec(sd_journal *j, uint64_t *ret)
{
    return READY ? fn.get_realtime_usec(j, ret) : -ELIBACC;
}
void sd_journal_restart_data(sd_journal *j) { if (READY) fn.restart_data(j); }
int sd_journal_enumerate_available_data(sd_journal *j, const void **data, size_t *l)
{
    return READY ? fn.enumerate_available_data(j, data, l) : -ELIBACC;
}
int sd_journal_get_fd(sd_journal *j) { return READY ? fn.get_fd(j) : -ELIBACC; }
int sd_journal_get_events(sd_journal *j) { return READY ? fn.get_events(j) : -ELIBACC; }
int sd_journal_get_timeout(sd_journal *j, uint64_t *usec) { return READY ? fn.get_timeout(j, usec) : -ELIBACC; }
int sd_journal_process(sd_journal *j) { return READY ? fn.process(j) : -ELIBACC; }
int sd_journal_has_runtime_files(sd_journal *j)
{
    return READY ? fn.has_runtime_files(j) : -ELIBACC;
}
int sd_journal_has_persistent_files(sd_journal *j)
{
    return READY ? fn.has_persistent_files(j) : -ELIBACC;
}

/* Only after sd_id128_get_boot succeeded, so loaded; else an empty string. */
char *sd_id128_to_string(sd_id128_t id, char s[static SD_ID128_STRING_MAX])
{
    if (READY)
        return fn.id128_to_string(id, s);
    s[0] = '\0';
    return s;
}
