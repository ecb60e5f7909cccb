/* topology.h - the running pipeline: config -> validated graph -> threads.
 * Owns every component, buffer and sink runtime; the API reads its status. */
#ifndef SL_TOPOLOGY_H
#define SL_TOPOLOGY_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

typedef struct sl_topology sl_topology;
struct sl_sink_vtable;
struct sl_sink_common;

/* Global settings (top-level keys of the config). */
typedef struct sl_global_config {
    char *data_dir;
    int64_t shutdown_timeout_ms;
    struct {
        sl_strlist address; /* one listener per entry, each serving every route */
        char *metrics_path;
        bool enabled;
    } api;
    struct {
        int level;  /* index in debug|info|warn|error */
        int format; /* 0 text, 1 json */
        char *file;
    } log;
    struct {
        uint64_t memory; /* bytes; 0 = the cgroup's memory.max, or none (memlimit.h) */
    } limits;
} sl_global_config;

extern const sl_option sl_global_options[];

/* Validates the whole document (globals, every component's options, the graph: unknown
 * inputs, cycles, unknown types, fallback targets) and instantiates components without
 * starting them. Returns an owned topology, or an error "file:line:col: ...". */
int topology_build(sl_topology **out, const sl_config_doc *doc, char *err, size_t errlen);
/* The same for a command that only checks the file (validate, top, tap, reload -c): the
 * components are built check_only (component.h) and the topology must not be started. */
int topology_check(sl_topology **out, const sl_config_doc *doc, char *err, size_t errlen);
const sl_global_config *topology_globals(const sl_topology *t);
/* Opens buffers, starts sink runtimes then sources. */
int topology_start(sl_topology *t, char *err, size_t errlen);
/* Asks for a graceful stop: sources stop reading, and what is in flight has
 * shutdown_timeout to be delivered. From any thread, not from a signal handler. */
void topology_request_stop(sl_topology *t);
/* The same with at most `ms` for the drain (a shorter one shortens a stop under way). */
void topology_request_stop_within(sl_topology *t, int64_t ms);
/* Blocks until stop is requested or every source has ended, then drains within
 * shutdown_timeout and commits positions. Returns 0 when everything drained. */
int topology_run_until_stopped(sl_topology *t);
void topology_free(sl_topology *t);

/* True once started, every sink runtime is running and every source that signals
 * readiness (a network listener) serves; false again once stopping (for /readyz). */
bool topology_ready(const sl_topology *t);
/* True once a stop was requested (or every source ended): the drain has begun. */
bool topology_stopping(const sl_topology *t);
/* True when topology_start failed, or a network source it started ended before it
 * listened (a port in use): the topology stopped itself, and `run` exits 1. */
bool topology_start_failed(const sl_topology *t);
/* True when a sink stopped the pipeline because its output can take nothing again (stdout
 * whose reader left): `run` exits 1, so a service manager restarts it. */
bool topology_output_gone(const sl_topology *t);
/* The tap of component `id` (tap.h), or NULL if there is none by that name. The
 * topology owns it; it lives until topology_free. */
struct sl_tap *topology_tap(sl_topology *t, const char *id);
/* Appends "a, b, c": every component id, for messages. */
void topology_component_ids(const sl_topology *t, sl_buf *out);
/* Appends the /api/v1/status JSON document. */
void topology_status_json(const sl_topology *t, sl_buf *out);
/* Appends a Fluentd monitor_agent style {"plugins":[...]} document (GET /api/plugins.json):
 * every component with its category and, for sinks, buffer and retry state. */
void topology_plugins_json(const sl_topology *t, sl_buf *out);



/* ---- Reload (reload.c) ----------------------------------------------------------------
 * Reads the configuration again (the loader), validates all of it, and restarts only the
 * components whose configuration changed or that were added or removed; see the notes at
 * the top of reload.c. */
typedef int (*sl_reload_loader)(void *arg, sl_config_doc **out, char *err, size_t errlen);
/* Where a reload reads its document from; without one a reload fails ("nothing to
 * reload": a drop-in or the quickstart). `arg` must outlive the topology. */
void topology_set_reloader(sl_topology *t, sl_reload_loader fn, void *arg);
/* Runs one reload (SIGHUP, POST /api/v1/reload) and appends the JSON answer to `reply`
 * (may be NULL): {"reloaded":true,"changed":[..],"added":[..],"removed":[..]} or
 * {"reloaded":false,"error":"..."}. Returns the HTTP status: 200, 400 (the new
 * configuration is refused; nothing changed) or 503 (stopping). */
int topology_reload(sl_topology *t, sl_buf *reply);

/* For `sluice dlq replay`: builds one sink from the config without starting anything.
 * Returns SL_ERR_NOTFOUND if no sink has that id. The instance is owned by t. */
int topology_sink_instance(sl_topology *t, const char *id, const struct sl_sink_vtable **vt,
                           void **self, const struct sl_sink_common **common);
#endif
