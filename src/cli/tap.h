/* tap.h - `sluice tap <component>`: the events passing a component, as NDJSON. */
#ifndef SL_CLI_TAP_H
#define SL_CLI_TAP_H

#include "api_client.h"

/* `sluice tap`'s options and usage; tap_cli runs it (see api_client_fn). */
extern const cli_cmd tap_cmd;
int tap_cli(const char *addr, const char *config, const cli_args *a);

#endif
