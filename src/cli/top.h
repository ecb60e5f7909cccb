/* top.h - `sluice top`: a terminal view of a running sluice, from its /api/v1/status. */
#ifndef SL_TOP_H
#define SL_TOP_H

#include "api_client.h"

/* `sluice top`'s options and usage; top_cli runs it (see api_client_fn). */
extern const cli_cmd top_cmd;
int top_cli(const char *addr, const char *config, const cli_args *a);

#endif
