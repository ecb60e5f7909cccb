/* reload_cli.c - `sluice reload`: POST /api/v1/reload to a running sluice, print its JSON
 * answer (stdout when applied, stderr when refused). */
#include "reload_cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "core/arena.h"
#include "core/common.h"
#include "formats/json.h"

static const cli_opt reload_opts[] = {API_CLIENT_OPTS, {0}};

const cli_cmd reload_cmd = {
    "reload",
    "usage: sluice reload [-c FILE] [--api HOST:PORT]\n"
    "Asks a running sluice to read its configuration file again (as SIGHUP does): the file is\n"
    "validated whole, then only the components whose configuration changed restart. Prints\n"
    "{\"reloaded\":true,\"changed\":[..],\"added\":[..],\"removed\":[..]}; a refused file prints\n"
    "the reason (file:line:col) and exits 1, leaving the running pipeline as it was (with\n"
    "-c, a FILE that does not validate, or that is not the file the running sluice was\n"
    "started with, is refused before it is asked).\n"
    "The API is --api (HOST:PORT or http://HOST:PORT), else the first api.address of -c FILE,\n"
    "else 127.0.0.1:2020.\n"
    "Exit status: 0 reloaded, 1 refused, 2 no running sluice answered there (or a usage\n"
    "error), so a script can tell a bad file from a daemon that is not up.\n",
    reload_opts, 0};

/* With -c FILE: whether the sluice at addr reads FILE (its status's "config"). A reload reads
 * the file the daemon was started with, whatever FILE is: asked with another, it answered
 * reloaded:true with nothing changed and FILE was never read. Says why on false; a status
 * that cannot be read (an older sluice) lets the reload go on. */
static bool same_config(const char *addr, const char *config)
{
    sl_buf body = SL_BUF_INIT;
    char err[512];
    int status = 0;
    bool same = true;
    if (api_client_get(addr, "/api/v1/status", 30000, &status, &body, NULL, NULL, err,
                       sizeof err) != SL_OK || status != 200) {
        buf_free(&body);
        return true;
    }
    sl_arena arena;
    arena_init(&arena, 16 * 1024);
    const json_value *root = json_parse(&arena, body.p, body.len, err, sizeof err);
    const json_value *runs = json_get(root, "config");
    char *mine = realpath(config, NULL);
    if (runs && runs->type == JSON_STR && strcmp(runs->str, mine ? mine : config) != 0) {
        fprintf(stderr, "sluice reload: the sluice at %s runs %s, not %s: a reload reads the "
                        "file it was started with (edit that one, or start it with -c %s)\n",
                addr, runs->str, config, config);
        same = false;
    }
    free(mine);
    arena_free(&arena);
    buf_free(&body);
    return same;
}

int reload_cli(const char *addr, const char *config, const cli_args *a)
{
    char err[512];
    if (config && !same_config(addr, config))
        return 1;
    sl_buf body = SL_BUF_INIT;
    int status = 0;
    /* A reload may wait for in-flight requests up to shutdown_timeout (twice): be patient. */
    if (api_client_request(addr, "POST", "/api/v1/reload", 600000, &status, &body, NULL, NULL,
                           err, sizeof err) != SL_OK) {
        fprintf(stderr, "sluice reload: %s\n", err);
        buf_free(&body);
        return 2;
    }
    FILE *to = status == 200 ? stdout : stderr;
    if (status != 200)
        fprintf(stderr, "sluice reload: HTTP %d: ", status);
    fwrite(body.p ? body.p : "", 1, body.len, to);
    if (!body.len || body.p[body.len - 1] != '\n')
        fputc('\n', to);
    buf_free(&body);
    return status == 200 ? 0 : status == 404 ? 2 : 1;
}
