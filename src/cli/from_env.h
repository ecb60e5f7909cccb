/* from_env.h - drop-ins: a configuration built from the environment variables of a system
 * sluice replaces (the CloudWatch streamer's LOG_GROUPS & co, the Fluentd aggregator's
 * FLUENTD_SHARED_KEY / DASH0_* & co, logfowd2's CFG_PATH). */
#ifndef SL_FROM_ENV_H
#define SL_FROM_ENV_H

#include <stddef.h>

#include "core/buf.h"

/* The Redis list the Fluentd drop-in spills to and reads back from. */
#define FROM_ENV_REDIS_KEY "sluice:dash0:failover"

/* Returns the YAML text (owned by the caller: free) of the first drop-in whose variables
 * are set, with *what naming it for messages; NULL when none is set (err empty) or when
 * CFG_PATH names a file that cannot be translated (err says why). `notes` (may be NULL)
 * gets logfowd.h's remarks on that file. */
char *from_env_config(const char **what, sl_buf *notes, char *err, size_t errlen);
/* `sluice config from-env|convert FILE`: prints that YAML. argv[0] is the subcommand.
 * Returns the exit status (2 on usage errors, 1 when nothing is set or FILE is bad). */
int from_env_cli(int argc, char **argv);

#endif
