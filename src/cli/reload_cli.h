/* reload_cli.h - `sluice reload`: asks a running sluice to reload its configuration. */
#ifndef SL_CLI_RELOAD_H
#define SL_CLI_RELOAD_H

#include "api_client.h"

/* `sluice reload`'s options and usage; reload_cli runs it (see api_client_fn): `config`,
 * the -c FILE (or NULL), is checked to be the file the running sluice reads. Returns 0 when
 * the reload was applied, 1 when it was refused or failed, 2 on a usage or connection
 * error. */
extern const cli_cmd reload_cmd;
int reload_cli(const char *addr, const char *config, const cli_args *a);

#endif
