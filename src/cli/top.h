/* top.h - `sluice top`: a terminal view of a running sluice, from its /api/v1/status. */
#ifndef SL_TOP_H
#define SL_TOP_H

/* `api` is the address to poll when no --api is given ("host:port"). argv holds the
 * options after `top` (--api, --once, --interval). Returns the exit status. */
int top_cli(const char *api, const char *config, int argc, char **argv);

#endif
