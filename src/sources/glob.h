/* glob.h - path discovery for the file source: expands include patterns with `*`, `?`,
 * `[...]` and `**` (any depth), filters exclude patterns, and names the directories walked. */
#ifndef SL_GLOB_H
#define SL_GLOB_H

#include <stdbool.h>

/* Called for each path whose last component matched (may be a directory or anything:
 * the caller decides what to do with it). `path` is borrowed for the call. */
typedef void (*glob_path_fn)(void *arg, const char *path);
/* Called for each directory the walk opened or probed (to watch it with inotify). */
typedef void (*glob_dir_fn)(void *arg, const char *dir);

/* Walks the filesystem for `pattern`. Paths keep the pattern's spelling ("./a/x*.log"
 * gives "./a/x.log"). `**` matches zero or more directories and does not follow
 * symlinked directories (no loops). dir_fn may be NULL. Unreadable directories are
 * skipped silently (the caller's rescan retries). */
void glob_expand(const char *pattern, glob_path_fn fn, glob_dir_fn dir_fn, void *arg);

/* True if `path` matches `pattern` component by component (`**` = any number of
 * components). A pattern without '/' is matched against the last component only, so
 * exclude: ["*.gz"] works anywhere. */
bool glob_match(const char *pattern, const char *path);

/* An exclude pattern's test: glob_match, or, for a pattern with '/', fnmatch(3) over the
 * whole path with '*' crossing '/', as Fluent Bit's Exclude_Path and Vector's exclude
 * read it (a "*.gz" after "/var/log/" skips /var/log/app/old.gz too). */
bool glob_excludes(const char *pattern, const char *path);

#endif
