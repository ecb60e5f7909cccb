/* quickstart.h - the built-in pipeline `sluice run` uses without -c: sample pod logs
 * under ./demo, tailed into NDJSON under ./demo/out, API on 127.0.0.1:2020. */
#ifndef SL_QUICKSTART_H
#define SL_QUICKSTART_H

#include <stddef.h>

/* The built-in configuration (YAML text, static). */
const char *quickstart_config(void);
/* Writes the sample pod log tree under ./demo/pods (idempotent: adds to existing files). */
int quickstart_prepare(char *err, size_t errlen);
/* Starts a thread that appends a few lines per second to the sample files until
 * quickstart_stop. */
void quickstart_start_writer(void);
void quickstart_stop(void);
/* Printed once the pipeline is up: what to look at. */
void quickstart_print_hints(const char *api_address);

#endif
