/* from_env.h - the CloudWatch-to-Elasticsearch drop-in: a configuration built from the
 * environment variables of the streamer sluice replaces (LOG_GROUPS, ES_HOST, ...). */
#ifndef SL_FROM_ENV_H
#define SL_FROM_ENV_H

/* Returns the YAML text (owned by the caller: free) when LOG_GROUPS is set, else NULL. */
char *from_env_config(void);
/* `sluice config from-env`: prints that YAML. argv[0] is the subcommand. Returns the exit
 * status (2 on usage errors, 1 when LOG_GROUPS is unset). */
int from_env_cli(int argc, char **argv);

#endif
