/* reload_cli.h - `sluice reload`: asks a running sluice to reload its configuration. */
#ifndef SL_CLI_RELOAD_H
#define SL_CLI_RELOAD_H

/* `api` is the address to use when no --api is given; `config`, the -c FILE (or NULL), is
 * checked to be the file the running sluice reads. Returns the exit status: 0 when the
 * reload was applied, 1 when it was refused or failed, 2 on a usage or connection error. */
int reload_cli(const char *api, const char *config, int argc, char **argv);

#endif
