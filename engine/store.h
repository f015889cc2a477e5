/* The store: a pool of asynchronous libpq connections driven by the libuv loop. It is the only
 * module that talks to PostgreSQL. Work is submitted as a transaction job (one or more
 * statements run between BEGIN and COMMIT in pipeline mode, each as a prepared statement cached
 * per connection) and finished by exactly one callback. Nothing here blocks the loop once
 * store_open() has returned. */
#ifndef INTENTD_STORE_H
#define INTENTD_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <uv.h>

#include "errors.h"

struct store;

struct store_config {
    const char *conninfo; /* libpq connection string; copied */
    int pool_size;        /* connections for jobs (>= 1) */
    int max_queue;        /* jobs waiting for a connection before store_txn says IE_UNAVAIL
                             (0: 10000) */
    const char *app_name; /* application_name for the connections; copied */
    int queue_timeout_ms; /* a job still waiting for a connection after this long fails with
                             IE_UNAVAIL, so callers answer 503 instead of hanging while the
                             database is unreachable (0: 10000) */
    int job_timeout_ms;   /* a job sent to the server and not finished after this long (a lock
                             wait, a server or network that stopped answering) fails with
                             IE_UNAVAIL and its connection is dropped and reconnected; the
                             transaction may have committed if the COMMIT was sent (0: 30000) */
    const char *listen_conninfo; /* store_listen's connection, or NULL for conninfo; copied.
                                    Behind a transaction-mode pooler it must reach PostgreSQL
                                    directly: a LISTEN there is lost with its server session */
    int group_inflight;          /* group transactions (store_query_grouped) in flight at once
                                    (0: STORE_GROUP_INFLIGHT) */
    bool no_prepared;            /* send every statement unprepared (PQsendQueryParams) instead of
                                    caching named prepared statements per connection; set it behind a
                                    pooler in transaction mode (pgbouncer pool_mode=transaction before
                                    1.21), where a named statement prepared on one server connection
                                    is missing on the next */
};

/* One statement of a job. Parameters are text (NULL pointer = SQL NULL); the store copies sql
 * and params at submission, so the caller may free them when store_txn returns. */
struct store_stmt {
    const char *sql;
    int nparams;
    const char *const *params;
};

/* Results of a finished job, in statement order; valid only during the callback (the store
 * clears them afterwards). */
struct store_result {
    int nresults;
    PGresult **results;
};

/* Called exactly once per job, on the loop thread. err is 0 and res holds one PGresult per
 * statement (each PGRES_TUPLES_OK or PGRES_COMMAND_OK) when the transaction committed.
 * Otherwise err is IE_DB (a statement failed: the transaction was rolled back; sqlstate and
 * message describe the first failure; a COMMIT that answered ROLLBACK is 40000), IE_UNAVAIL
 * (no connection to the database, it was lost, the server reported a connection-level error
 * (SQLSTATE class 08, 57P01-57P03, or an error made by libpq), the job ran past job_timeout_ms,
 * or store_close's grace period ended: the transaction may or may not have committed if this
 * happened during COMMIT), or IE_CANCELED (the store closed before the job was sent). res is
 * NULL when err != 0. */
typedef void (*store_cb)(void *arg, int err, const struct store_result *res, const char *sqlstate,
                         const char *errmsg);

/* Connects the pool (connections are opened in the background; jobs queue until one is up and
 * reconnection uses exponential backoff from 100 ms to 5 s with jitter, reset only once a
 * connection has stayed up for a few seconds). Connections default to TCP keepalives,
 * tcp_user_timeout=10000 and gssencmode=disable; cfg->conninfo overrides any of them. A host
 * name in conninfo is resolved with uv_getaddrinfo (off the loop thread) and passed to libpq as
 * hostaddr, keeping host for TLS; host lists and service files are left to libpq, which then
 * resolves them synchronously. Returns 0 and *out, IE_NOMEM or IE_INVAL. The loop must outlive
 * the store. */
int store_open(uv_loop_t *loop, const struct store_config *cfg, struct store **out) IE_MUST_CHECK;

/* Stops taking jobs, fails queued jobs with IE_CANCELED, lets in-flight jobs finish for up to
 * 5 s (then drops their connections and fails them with IE_UNAVAIL), closes the connections and
 * frees the store; cb (may be NULL) runs after the last handle is closed, so closing always
 * completes even when the server stopped answering. */
void store_close(struct store *s, void (*cb)(void *arg), void *arg);

/* Submits a job of n statements (1 <= n <= 1024) to run in one transaction. Returns 0 (cb will
 * be called exactly once, never from inside this call) or an error (cb will never be called):
 * IE_INVAL, IE_NOMEM, IE_UNAVAIL (queue full or the store is closing). */
int store_txn(struct store *s, const struct store_stmt *stmts, int n, store_cb cb,
              void *arg) IE_MUST_CHECK;

/* Like store_txn with one statement and no BEGIN/COMMIT (autocommit), for reads. */
int store_query(struct store *s, const char *sql, int nparams, const char *const *params,
                store_cb cb, void *arg) IE_MUST_CHECK;

/* Like store_query, for a statement that writes and may share its transaction with others: the
 * statements grouped while the store's group transactions (at most group_inflight) are in
 * flight run together in the next one, so a single COMMIT, one WAL flush and one turn at any
 * lock held until commit (the ledger's) serves them all. Each callback sees only its own result,
 * after the shared transaction committed. When one statement fails, the others' work was rolled
 * back with it, so each then runs again on its own and only the failing one reports the error.
 * The statement must be safe to run inside another's transaction: no transaction control, no
 * SET, nothing that waits on purpose. Returns as store_query. */
#define STORE_GROUP_INFLIGHT 2
int store_query_grouped(struct store *s, const char *sql, int nparams, const char *const *params,
                        store_cb cb, void *arg) IE_MUST_CHECK;

/* A writer that gathers work and sends it with store_query_grouped registers a fill function:
 * it runs whenever a group transaction is about to be put together (a slot is free), so the
 * writer sends one statement holding everything it has gathered by then instead of one per
 * arrival. Fills run in registration order, so their statements run in that order within the
 * transaction. A writer with work calls store_group_request; it removes itself (by arg) before
 * it is freed. At most STORE_GROUP_SOURCES; returns 0, IE_INVAL or IE_NOMEM (too many). */
#define STORE_GROUP_SOURCES 8
int store_group_source(struct store *s, void (*fill)(void *arg), void *arg) IE_MUST_CHECK;
void store_group_source_remove(struct store *s, void *arg);
void store_group_request(struct store *s);

/* LISTEN on a channel over a dedicated connection that reconnects by itself. cb runs for every
 * notification (payload may be ""), and once with channel NULL after each (re)connection, so
 * the caller can re-scan for anything missed while disconnected. One listener per store.
 * Returns 0, IE_INVAL, IE_NOMEM, IE_EXISTS (a listener is already set) or IE_UNAVAIL (closing).
 * The listener connection uses application_name "<app_name>-listen". */
typedef void (*store_notify_cb)(void *arg, const char *channel, const char *payload);
int store_listen(struct store *s, const char *channel, store_notify_cb cb, void *arg) IE_MUST_CHECK;

/* True when at least one pool connection is up. */
bool store_is_connected(const struct store *s);

/* Pool statistics for metrics and readiness. */
struct store_stats {
    int connections_up;
    int connections_busy;
    int jobs_queued;
    unsigned long long jobs_done;
    unsigned long long jobs_failed;
    unsigned long long group_txns;      /* group transactions sent */
    unsigned long long group_members;   /* statements they carried */
    unsigned long long group_fallbacks; /* group transactions that failed and were re-run apart */
};
void store_get_stats(const struct store *s, struct store_stats *out);

/* Runs statements synchronously on a fresh connection, never on a running loop: the unit tests
 * use it to set up and poke their databases (migrations.c has its own transaction-scoped
 * runner). Each string may contain several statements. Returns 0, IE_DB (errbuf
 * holds the message) or IE_UNAVAIL. */
int store_exec_startup(const char *conninfo, const char *const *sqls, int n, char *errbuf,
                       size_t errlen) IE_MUST_CHECK;

#endif
