/* glob.c - include/exclude pattern expansion for file discovery, with `**` for any depth.
 * Component matching is fnmatch(3); this file adds the directory walk and `**`. */
#include "sources/glob.h"

#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"

#define GLOB_MAX_COMPONENTS 64
#define GLOB_MAX_DEPTH 48 /* bound on `**` recursion, whatever the tree */
#define GLOB_PATH_MAX 4096

typedef struct glob_walk {
    char *comps[GLOB_MAX_COMPONENTS];
    int n;
    glob_path_fn fn;
    glob_dir_fn dir_fn;
    void *arg;
} glob_walk;

static bool has_magic(const char *s) { return strpbrk(s, "*?[") != NULL; }

/* Splits a copy of `s` on '/', dropping empty components. Returns the count. strtok_r:
 * every source scans on its own thread, and strtok's hidden state would let one source's
 * walk continue another's pattern (and offer it that source's files). */
static int split(char *s, char **out, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, "/", &save); tok && n < max; tok = strtok_r(NULL, "/", &save))
        out[n++] = tok;
    return n;
}

static void join(char *out, size_t outlen, const char *dir, const char *name)
{
    if (!*dir)
        snprintf(out, outlen, "%s", name);
    else if (dir[strlen(dir) - 1] == '/')
        snprintf(out, outlen, "%s%s", dir, name);
    else
        snprintf(out, outlen, "%s/%s", dir, name);
}

static bool is_real_dir(const char *dir, const struct dirent *de)
{
    if (de->d_type == DT_DIR)
        return true;
    if (de->d_type != DT_UNKNOWN)
        return false;
    char p[GLOB_PATH_MAX];
    join(p, sizeof p, dir, de->d_name);
    struct stat st;
    return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void walk(glob_walk *w, const char *dir, int i, int depth)
{
    if (depth > GLOB_MAX_DEPTH)
        return;
    const char *comp = w->comps[i];
    bool last = i == w->n - 1;
    const char *list_dir = *dir ? dir : ".";
    char path[GLOB_PATH_MAX];

    if (strcmp(comp, "**") == 0) {
        if (last) { /* trailing `**`: every file below */
            if (w->dir_fn)
                w->dir_fn(w->arg, list_dir);
        } else {
            walk(w, dir, i + 1, depth + 1); /* zero directories */
        }
        DIR *d = opendir(list_dir);
        if (!d)
            return;
        if (w->dir_fn)
            w->dir_fn(w->arg, list_dir);
        struct dirent *de;
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            join(path, sizeof path, dir, de->d_name);
            if (is_real_dir(dir, de))
                walk(w, path, i, depth + 1);
            else if (last)
                w->fn(w->arg, path);
        }
        closedir(d);
        return;
    }
    if (!has_magic(comp)) {
        join(path, sizeof path, dir, comp);
        if (w->dir_fn)
            w->dir_fn(w->arg, list_dir);
        struct stat st;
        if (last) {
            if (lstat(path, &st) == 0)
                w->fn(w->arg, path);
        } else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            walk(w, path, i + 1, depth + 1);
        }
        return;
    }
    DIR *d = opendir(list_dir);
    if (!d)
        return;
    if (w->dir_fn)
        w->dir_fn(w->arg, list_dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fnmatch(comp, de->d_name, 0) != 0)
            continue;
        join(path, sizeof path, dir, de->d_name);
        if (last) {
            w->fn(w->arg, path);
        } else {
            struct stat st;
            if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
                walk(w, path, i + 1, depth + 1);
        }
    }
    closedir(d);
}

void glob_expand(const char *pattern, glob_path_fn fn, glob_dir_fn dir_fn, void *arg)
{
    char *copy = sl_xstrdup(pattern);
    glob_walk w = {.fn = fn, .dir_fn = dir_fn, .arg = arg};
    w.n = split(copy, w.comps, GLOB_MAX_COMPONENTS);
    if (w.n > 0)
        walk(&w, pattern[0] == '/' ? "/" : "", 0, 0);
    free(copy);
}

static bool match_comps(char **pc, int np, char **sc, int ns)
{
    if (np == 0)
        return ns == 0;
    if (strcmp(pc[0], "**") == 0) {
        for (int k = 0; k <= ns; k++)
            if (match_comps(pc + 1, np - 1, sc + k, ns - k))
                return true;
        return false;
    }
    if (ns == 0 || fnmatch(pc[0], sc[0], 0) != 0)
        return false;
    return match_comps(pc + 1, np - 1, sc + 1, ns - 1);
}

/* s without empty and "." components ("//a/./b" is "/a/b"), into out; false when it does
 * not fit. */
static bool normalize(const char *s, char *out, size_t outlen)
{
    char *copy = sl_xstrdup(s), *c[GLOB_MAX_COMPONENTS];
    int n = split(copy, c, GLOB_MAX_COMPONENTS);
    size_t len = 0;
    bool ok = true;
    if (s[0] == '/')
        out[len++] = '/';
    for (int i = 0; i < n && ok; i++) {
        if (strcmp(c[i], ".") == 0)
            continue;
        size_t cl = strlen(c[i]);
        ok = len + cl + 2 <= outlen;
        if (ok) {
            if (len > 0 && out[len - 1] != '/')
                out[len++] = '/';
            memcpy(out + len, c[i], cl);
            len += cl;
        }
    }
    out[len] = '\0';
    free(copy);
    return ok;
}

bool glob_excludes(const char *pattern, const char *path)
{
    if (glob_match(pattern, path))
        return true;
    if (!strchr(pattern, '/'))
        return false;
    /* Fluent Bit's Exclude_Path and Vector's exclude: the whole path, '*' crossing '/' */
    char p[GLOB_PATH_MAX], q[GLOB_PATH_MAX];
    return normalize(pattern, p, sizeof p) && normalize(path, q, sizeof q) &&
           fnmatch(p, q, 0) == 0;
}

bool glob_match(const char *pattern, const char *path)
{
    if (!strchr(pattern, '/')) {
        const char *base = strrchr(path, '/');
        return fnmatch(pattern, base ? base + 1 : path, 0) == 0;
    }
    char *pcopy = sl_xstrdup(pattern), *scopy = sl_xstrdup(path);
    char *pc[GLOB_MAX_COMPONENTS], *sc[GLOB_MAX_COMPONENTS];
    int np = split(pcopy, pc, GLOB_MAX_COMPONENTS);
    int ns = split(scopy, sc, GLOB_MAX_COMPONENTS);
    /* "./a" and "a" name the same thing. */
    int po = (np > 0 && strcmp(pc[0], ".") == 0), so = (ns > 0 && strcmp(sc[0], ".") == 0);
    bool ok = match_comps(pc + po, np - po, sc + so, ns - so);
    free(pcopy);
    free(scopy);
    return ok;
}
