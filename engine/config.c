/* Environment configuration; see config.h. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dup_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        v = def;
    return v ? strdup(v) : NULL;
}

static int int_env(const char *name, int def, int lo, int hi, int *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    errno = 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < lo || n > hi) {
        snprintf(err, errlen, "%s must be an integer from %d to %d, not \"%.40s\"", name, lo, hi,
                 v);
        return IE_CONFIG;
    }
    *out = (int)n;
    return 0;
}

/* INTENTD_RETENTION_DAYS, or INTENTD_RETENTION_SECONDS for finer ages (tests); one of them at
 * most, up to ten years. 0 or unset: terminal intents stay in the hot table for ever. */
#define RETENTION_MAX_DAYS 3650
static int retention_env(struct config *cfg, char *err, size_t errlen)
{
    const char *d = getenv("INTENTD_RETENTION_DAYS"), *s = getenv("INTENTD_RETENTION_SECONDS");
    if (d && *d && s && *s) {
        snprintf(err, errlen, "set INTENTD_RETENTION_DAYS or INTENTD_RETENTION_SECONDS, not both");
        return IE_CONFIG;
    }
    int days = 0;
    int rc = int_env("INTENTD_RETENTION_DAYS", 0, 0, RETENTION_MAX_DAYS, &days, err, errlen);
    if (!rc)
        rc = int_env("INTENTD_RETENTION_SECONDS", days * 86400, 0, RETENTION_MAX_DAYS * 86400,
                     &cfg->retention_seconds, err, errlen);
    return rc;
}

int config_load(struct config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = 0;
    char host[128] = "localhost";
    gethostname(host, sizeof host - 1);
    char node[200];
    snprintf(node, sizeof node, "%s:%ld", host, (long)getpid());

    cfg->database_url = dup_env("INTENTD_DATABASE_URL", NULL);
    cfg->listen_database_url = dup_env("INTENTD_LISTEN_DATABASE_URL", NULL);
    cfg->listen = dup_env("INTENTD_LISTEN", "127.0.0.1:8080");
    cfg->home = dup_env("INTENTD_HOME", "./.intentd");
    cfg->node_id = dup_env("INTENTD_NODE_ID", node);
    cfg->admin_token = dup_env("INTENTD_ADMIN_TOKEN", NULL);
    cfg->ca_file = dup_env("INTENTD_CA_FILE", NULL);
    cfg->alert_webhook_url = dup_env("INTENTD_ALERT_WEBHOOK_URL", NULL);
    const char *sm = getenv("INTENTD_STATEMACHINES");
    if (!sm || !*sm)
        sm = access(INTENTD_STATEMACHINES_DIR "/lifecycle.json", R_OK) == 0
                 ? INTENTD_STATEMACHINES_DIR
                 : INTENTD_SOURCE_STATEMACHINES_DIR;
    cfg->statemachines_dir = strdup(sm);
    if (!cfg->listen || !cfg->home || !cfg->node_id || !cfg->statemachines_dir) {
        rc = IE_NOMEM;
        goto out;
    }
    const char *mk = getenv("INTENTD_MASTER_KEY_FILE");
    if (mk && *mk) {
        cfg->master_key_file = strdup(mk);
    } else {
        size_t n = strlen(cfg->home) + sizeof "/master.key";
        cfg->master_key_file = malloc(n);
        if (cfg->master_key_file)
            snprintf(cfg->master_key_file, n, "%s/master.key", cfg->home);
    }
    if (!cfg->master_key_file) {
        rc = IE_NOMEM;
        goto out;
    }
    if (strlen(cfg->node_id) > 128) {
        snprintf(err, errlen, "INTENTD_NODE_ID must be at most 128 characters");
        rc = IE_CONFIG;
        goto out;
    }
    if (cfg->admin_token && strlen(cfg->admin_token) < 16) {
        snprintf(err, errlen, "INTENTD_ADMIN_TOKEN must be at least 16 characters");
        rc = IE_CONFIG;
        goto out;
    }
    if ((rc = int_env("INTENTD_QUARANTINE_AFTER", 3, 1, 1000, &cfg->quarantine_after, err,
                      errlen)) ||
        (rc = int_env("INTENTD_LEASE_SECONDS", 30, 2, 3600, &cfg->lease_seconds, err, errlen)) ||
        (rc = int_env("INTENTD_MAX_CONNECTIONS", 1024, 1, 100000, &cfg->max_connections, err,
                      errlen)) ||
        (rc = int_env("INTENTD_DB_POOL", 4, 1, 64, &cfg->db_pool, err, errlen)) ||
        (rc = int_env("INTENTD_DB_GROUP_INFLIGHT", 2, 1, 64, &cfg->db_group_inflight, err,
                      errlen)) ||
        (rc = int_env("INTENTD_CLAIM_BATCH", 256, 1, 5000, &cfg->claim_batch, err, errlen)) ||
        (rc = int_env("INTENTD_POLL_MS", 1000, 50, 60000, &cfg->poll_ms, err, errlen)) ||
        (rc = int_env("INTENTD_RESUME_WINDOW_MS", 5000, 0, 3600000, &cfg->resume_window_ms, err,
                      errlen)) ||
        (rc = retention_env(cfg, err, errlen)))
        goto out;
    const char *estop = getenv("INTENTD_EMERGENCY_STOP");
    if (estop && *estop && strcmp(estop, "0") && strcmp(estop, "1")) {
        snprintf(err, errlen, "INTENTD_EMERGENCY_STOP must be 0 or 1");
        rc = IE_CONFIG;
        goto out;
    }
    cfg->emergency_stop = estop && !strcmp(estop, "1");
    const char *prep = getenv("INTENTD_DB_PREPARED");
    if (prep && *prep && strcmp(prep, "0") && strcmp(prep, "1")) {
        snprintf(err, errlen, "INTENTD_DB_PREPARED must be 0 or 1");
        rc = IE_CONFIG;
        goto out;
    }
    cfg->db_prepared = !(prep && !strcmp(prep, "0"));
    if (cfg->listen_database_url && !cfg->database_url) {
        /* The embedded cluster is reached over its own socket: a second URL has no meaning. */
        snprintf(err, errlen, "INTENTD_LISTEN_DATABASE_URL needs INTENTD_DATABASE_URL");
        rc = IE_CONFIG;
        goto out;
    }
    const char *sched = getenv("INTENTD_SCHEDULER");
    cfg->scheduler = !(sched && (!strcmp(sched, "off") || !strcmp(sched, "0")));
    const char *lvl = getenv("INTENTD_LOG_LEVEL");
    cfg->log_level = LOG_INFO;
    if (lvl && *lvl) {
        static const char *names[] = {"debug", "info", "warn", "error"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(lvl, names[i]))
                found = i;
        if (found < 0) {
            snprintf(err, errlen, "INTENTD_LOG_LEVEL must be debug, info, warn or error");
            rc = IE_CONFIG;
            goto out;
        }
        cfg->log_level = (enum log_level)found;
    }
out:
    if (rc)
        config_free(cfg);
    return rc;
}

void config_free(struct config *cfg)
{
    free(cfg->database_url);
    free(cfg->listen_database_url);
    free(cfg->listen);
    free(cfg->home);
    free(cfg->node_id);
    free(cfg->admin_token);
    free(cfg->master_key_file);
    free(cfg->statemachines_dir);
    free(cfg->ca_file);
    free(cfg->alert_webhook_url);
    memset(cfg, 0, sizeof *cfg);
}

void config_print_help(FILE *out)
{
    fputs("usage: intentd [--help] [--version]\n"
          "\n"
          "intentd turns approved ActionIntents into real-world effects: it keeps each intent\n"
          "as a state machine in PostgreSQL, runs its workflow, and ledgers every step.\n"
          "\n"
          "Configuration (environment):\n"
          "  INTENTD_DATABASE_URL     PostgreSQL connection string. Unset: intentd creates,\n"
          "                           starts and on exit stops a private cluster under\n"
          "                           INTENTD_HOME (unix socket only).\n"
          "  INTENTD_LISTEN_DATABASE_URL  connection string of the one LISTEN connection\n"
          "                           (default: INTENTD_DATABASE_URL). Behind pgbouncer in\n"
          "                           transaction mode point it at PostgreSQL directly: LISTEN\n"
          "                           through such a pooler receives nothing, and new work is\n"
          "                           then found only by the INTENTD_POLL_MS poll.\n"
          "  INTENTD_DB_PREPARED      1 (default): cache named prepared statements per\n"
          "                           connection; 0: unnamed statements only, required behind\n"
          "                           pgbouncer in transaction mode (before 1.21)\n"
          "  INTENTD_PG_BINDIR        PostgreSQL server binaries for that cluster (default:\n"
          "                           pg_config --bindir, else the newest\n"
          "                           /usr/lib/postgresql/*/bin)\n"
          "  INTENTD_LISTEN           HTTP address host:port (default 127.0.0.1:8080)\n"
          "  INTENTD_HOME             state directory (default ./.intentd)\n"
          "  INTENTD_NODE_ID          this process's name in leases and the ledger\n"
          "                           (default host:pid; must be unique per process)\n"
          "  INTENTD_ADMIN_TOKEN      bootstrap admin bearer token (>= 16 chars); unset\n"
          "                           disables the admin endpoints\n"
          "  INTENTD_MASTER_KEY_FILE  AES-256-GCM key for secrets at rest, 64 hex chars,\n"
          "                           mode 0600 (default $INTENTD_HOME/master.key, created\n"
          "                           if absent)\n"
          "  INTENTD_STATEMACHINES    directory of lifecycle.json and *.asl.json\n"
          "                           (default: installed, else the source tree's)\n"
          "  INTENTD_QUARANTINE_AFTER crash-cut attempts before an intent fails as\n"
          "                           quarantined (default 3)\n"
          "  INTENTD_LEASE_SECONDS    lease length (default 30); a killed node's work is\n"
          "                           resumed by others after it lapses\n"
          "  INTENTD_MAX_CONNECTIONS  HTTP connections at once (default 1024)\n"
          "  INTENTD_DB_POOL          database connections (default 4)\n"
          "  INTENTD_DB_GROUP_INFLIGHT group-commit transactions in flight at once\n"
          "                           (default 2): submissions, claims and step outcomes\n"
          "                           queued meanwhile share the next one\n"
          "  INTENTD_CLAIM_BATCH      intents claimed per round (default 256)\n"
          "  INTENTD_POLL_MS          slow poll for due work (default 1000)\n"
          "  INTENTD_SCHEDULER        'off' to accept and serve without executing\n"
          "  INTENTD_EMERGENCY_STOP   1: set the global kill switch to pause at start-up\n"
          "  INTENTD_RESUME_WINDOW_MS held intents resume spread over this window when a\n"
          "                           paused scope runs again (default 5000)\n"
          "  INTENTD_RETENTION_DAYS   terminal intents that ended longer ago than this move\n"
          "                           from the hot table to intentd.intents_archive (their\n"
          "                           ledger rows stay; GET still answers them). 0 to 3650;\n"
          "                           default 0: kept for ever\n"
          "  INTENTD_RETENTION_SECONDS  the same age in seconds (instead of the days)\n"
          "  INTENTD_ALERT_WEBHOOK_URL  Slack-shaped webhook that gets one message per intent\n"
          "                           and kind when it FAILS, EXPIRES, its compensation fails\n"
          "                           or it is quarantined (unset: alerts stay queued in\n"
          "                           intentd.alerts)\n"
          "  INTENTD_CA_FILE          extra CA bundle (PEM) trusted for connector TLS, besides\n"
          "                           the system store; peers are always verified\n"
          "  INTENTD_LOG_LEVEL        debug | info | warn | error (default info)\n"
          "\n"
          "Logs are JSON lines on stderr. SIGTERM or SIGINT stops gracefully.\n",
          out);
}
