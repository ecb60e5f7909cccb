/* tap.h - `sluice tap <component>`: the events passing a component, as NDJSON. */
#ifndef SL_CLI_TAP_H
#define SL_CLI_TAP_H

/* `api` is the address to use when no --api is given (`config`: unused). Returns the exit
 * status. */
int tap_cli(const char *api, const char *config, int argc, char **argv);

#endif
