/* intentd's configuration, read once from the environment at start-up and validated; every
 * variable is documented by config_print_help() (intentd --help) and the README. */
#ifndef INTENTD_CONFIG_H
#define INTENTD_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "errors.h"
#include "log.h"

struct config {
    char *database_url;        /* NULL: run the embedded cluster under home */
    char *listen_database_url; /* the LISTEN connection's; NULL: database_url's */
    char *listen;              /* host:port */
    char *home;                /* INTENTD_HOME */
    char *node_id;             /* unique per process */
    char *admin_token;         /* bootstrap global admin token; NULL disables admin endpoints */
    char *master_key_file;     /* AES-256-GCM key for secrets at rest */
    char *statemachines_dir;
    char *alert_webhook_url; /* Slack-shaped webhook for human notification, or NULL */
    char *ca_file;           /* extra CA bundle for connector TLS, or NULL (system store only) */
    int quarantine_after;    /* crash-cut attempts before an intent is quarantined */
    int lease_seconds;       /* lease length; renewed every third of it */
    int max_connections;     /* HTTP connections at once */
    int db_pool;             /* pool connections */
    int db_group_inflight;   /* group-commit transactions in flight (store_query_grouped) */
    int claim_batch;         /* intents claimed per scheduler round */
    int poll_ms;             /* slow poll for due work, besides NOTIFY and timers */
    int resume_window_ms;    /* held intents resume spread over this after a toggle runs */
    int retention_seconds;   /* terminal intents older than this are archived; 0: kept forever */
    bool emergency_stop;     /* INTENTD_EMERGENCY_STOP=1: global pause at start-up */
    bool db_prepared;        /* false (INTENTD_DB_PREPARED=0): unnamed statements only, for a pooler
                                in transaction mode */
    bool scheduler; /* false: accept and serve, but execute nothing (INTENTD_SCHEDULER=off) */
    enum log_level log_level;
};

/* Fills cfg from the environment. Returns 0, or IE_CONFIG with err naming the variable and
 * what is wrong with it, or IE_NOMEM. On error cfg holds nothing that needs freeing. */
int config_load(struct config *cfg, char *err, size_t errlen) IE_MUST_CHECK;
/* Frees what config_load allocated. */
void config_free(struct config *cfg);
/* Prints usage and every environment variable with its default. */
void config_print_help(FILE *out);

#endif
