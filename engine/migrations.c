/* Applies the embedded schema migrations at start-up; see migrations.h. This is the only place
 * that uses blocking libpq calls, and it runs before the loop serves anything. */
#include "migrations.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lifecycle.h"
#include "log.h"

#define MIGRATION_LOCK_KEY "7242000"

int migrations_latest(void)
{
    int v = 0;
    for (int i = 0; i < migrations_count; i++)
        if (migrations[i].version > v)
            v = migrations[i].version;
    return v;
}

static void copy_error(PGresult *r, const char *prefix, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s%s", prefix, PQresultErrorMessage(r));
    size_t n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

/* Runs one command; on failure copies the server's message into err. keep (may be NULL)
 * receives the result, which the caller clears. */
static int run(PGconn *c, const char *sql, int nparams, const char *const *params, char *err,
               size_t errlen, PGresult **keep)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        copy_error(r, "", err, errlen);
        PQclear(r);
        return IE_DB;
    }
    if (keep)
        *keep = r;
    else
        PQclear(r);
    return 0;
}

/* Runs a string of several statements (simple query protocol). */
static int run_script(PGconn *c, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "%s: ", what);
        copy_error(r, prefix, err, errlen);
        rc = IE_DB;
    }
    PQclear(r);
    return rc;
}

/* Opens a transaction that holds the migration lock until it ends. The lock and the setting are
 * transaction-scoped on purpose: through a pooler in transaction mode (pgbouncer) each
 * transaction may run on another server session, so a session-level lock could be taken on one
 * and "released" on another, staying held for good on a pooled session and blocking every later
 * start-up; a session SET would likewise leak to other clients. */
static int begin_locked(PGconn *c, char *err, size_t errlen)
{
    int rc = run_script(c,
                        "BEGIN; SET LOCAL client_min_messages = warning; "
                        "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")",
                        "taking the migration lock", err, errlen);
    if (rc)
        PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}

/* Ends what begin_locked opened: COMMIT when rc is 0, else ROLLBACK. Returns rc or COMMIT's. */
static int end_locked(PGconn *c, int rc, char *err, size_t errlen)
{
    if (!rc)
        rc = run(c, "COMMIT", 0, NULL, err, errlen, NULL);
    if (rc)
        PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}

/* Applies one migration unless it is recorded already; the check runs under the lock, so of
 * nodes starting together exactly one applies it and the others see it done. */
static int apply_one(PGconn *c, const struct migration *m, char *err, size_t errlen)
{
    char vbuf[16];
    snprintf(vbuf, sizeof vbuf, "%d", m->version);
    const char *p[2] = {vbuf, m->name};
    PGresult *r = NULL;
    int rc = begin_locked(c, err, errlen);
    if (rc)
        return rc;
    rc =
        run(c, "SELECT 1 FROM intentd.schema_migrations WHERE version = $1", 1, p, err, errlen, &r);
    if (!rc) {
        int have = PQntuples(r) > 0;
        PQclear(r);
        if (have)
            return end_locked(c, 0, err, errlen);
        log_info("applying migration %s", m->name);
        rc = run_script(c, m->sql, m->name, err, errlen);
    }
    if (!rc)
        rc = run(c, "INSERT INTO intentd.schema_migrations (version, name) VALUES ($1, $2)", 2, p,
                 err, errlen, NULL);
    return end_locked(c, rc, err, errlen);
}

static int seed_lifecycle(PGconn *c, const struct lifecycle *lc, char *err, size_t errlen)
{
    struct buf sql;
    buf_init(&sql, 1 << 16);
    int rc = buf_puts(&sql, "INSERT INTO intentd.lifecycle_transitions (from_state, to_state) "
                            "VALUES ");
    if (!rc)
        rc = lifecycle_sql_pairs(lc, &sql);
    if (rc) {
        snprintf(err, errlen, "rendering the lifecycle table: %s", ie_strerror(rc));
        goto out;
    }
    rc = begin_locked(c, err, errlen);
    if (rc)
        goto out;
    rc = run(c, "DELETE FROM intentd.lifecycle_transitions", 0, NULL, err, errlen, NULL);
    if (!rc)
        rc = run(c, sql.data, 0, NULL, err, errlen, NULL);
    rc = end_locked(c, rc, err, errlen);
out:
    buf_free(&sql);
    return rc;
}

int migrations_apply(const char *conninfo, const struct lifecycle *lc, long long *ledger_head,
                     char *err, size_t errlen)
{
    int rc = 0;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to the database: %s", PQerrorMessage(c));
        rc = IE_UNAVAIL;
        goto out;
    }
    /* Every step is its own transaction holding the migration lock (see begin_locked): no
     * session state, so this works through pgbouncer in transaction mode too. */
    rc = begin_locked(c, err, errlen);
    if (rc)
        goto out;
    rc = run_script(c,
                    "CREATE SCHEMA IF NOT EXISTS intentd; "
                    "CREATE TABLE IF NOT EXISTS intentd.schema_migrations ("
                    " version int PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    "creating intentd.schema_migrations", err, errlen);
    rc = end_locked(c, rc, err, errlen);
    for (int i = 0; i < migrations_count && !rc; i++)
        rc = apply_one(c, &migrations[i], err, errlen);
    if (!rc && lc)
        rc = seed_lifecycle(c, lc, err, errlen);
    /* this month's and next month's ledger partitions exist before anything is served (the
     * retention module checks again hourly); failing that is not fatal: the DEFAULT partition
     * takes the rows meanwhile */
    if (!rc && run(c, "SELECT intentd.ledger_ensure_partitions(1)", 0, NULL, err, errlen, NULL))
        log_warn("creating the ledger's partitions failed: %s", err);
    if (!rc && ledger_head) {
        PGresult *r = NULL;
        rc = run(c, "SELECT coalesce(max(seq), 0) FROM intentd.ledger", 0, NULL, err, errlen, &r);
        if (!rc) {
            *ledger_head = atoll(PQgetvalue(r, 0, 0));
            PQclear(r);
        }
    }
out:
    PQfinish(c);
    return rc;
}
