/* Private to the store (store.c and store_conn.c), NOT part of the public API: the structs a
 * connection and a job share between the pool/queue side and the libpq side, and the functions
 * each side calls on the other. Nothing outside engine/store*.c may include it. */
#ifndef INTENTD_STORE_INTERNAL_H
#define INTENTD_STORE_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store.h"

#define STORE_STMT_BUCKETS 64
#define STORE_ERRMSG_MAX   512

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

enum conn_state {
    CONN_CLOSED,     /* no PGconn; initial and final state */
    CONN_RESOLVING,  /* uv_getaddrinfo of the host in progress; timer is the deadline */
    CONN_CONNECTING, /* PQconnectPoll in progress; timer is the connect deadline */
    CONN_IDLE,       /* connected, no job */
    CONN_BUSY,       /* a job (or the listener's LISTEN) is in flight; timer is its deadline */
    CONN_BROKEN,     /* lost or failed; timer is the reconnect backoff */
};

/* What a result read from a connection belongs to, in the order the pipeline was sent. */
enum item_kind { ITEM_BEGIN, ITEM_PREPARE, ITEM_STMT, ITEM_COMMIT, ITEM_ROLLBACK, ITEM_SYNC };

struct item {
    enum item_kind kind;
    int stmt; /* statement index for ITEM_PREPARE and ITEM_STMT */
    bool got; /* its result arrived (the next NULL ends it) */
};

struct job_stmt {
    char *sql;
    int nparams;
    char **params;
};

struct job {
    struct job *next;
    store_cb cb;
    void *arg;
    bool txn; /* BEGIN/COMMIT around the statements */
    int n;    /* statements */
    struct job_stmt *stmts;
    uint64_t deadline;  /* uv_now() after which a queued job fails with IE_UNAVAIL */
    PGresult **results; /* n slots, filled as results arrive */
    struct item *items; /* expected results; room for 2n + 6 */
    int nitems, head;
    bool failed;    /* a statement (or COMMIT) failed: IE_DB */
    bool conn_lost; /* an error says the connection failed (job_fail_with in store_conn.c):
                       IE_UNAVAIL */
    bool rolling_back;
    char sqlstate[6];
    char errmsg[STORE_ERRMSG_MAX];
};

/* One prepared statement of one connection, found by its SQL text. */
struct stmt_entry {
    struct stmt_entry *next;
    uint64_t hash;
    unsigned no; /* server-side name is "s<no>" */
    char sql[];
};

/* A uv_poll_t watches one socket; it is allocated per socket because libpq may replace its
 * socket while connecting, and a handle's memory is reusable only after its close callback. */
struct pollh {
    uv_poll_t h;
    int fd;
    struct conn *c; /* NULL once detached (closing) */
    struct store *s;
};

/* A host name lookup for one connection attempt; allocated per lookup because a request that
 * has started cannot be stopped, only detached (c = NULL) and freed by its callback. */
struct resolveh {
    uv_getaddrinfo_t req;
    struct conn *c; /* NULL once detached */
    struct store *s;
};

enum conn_role { ROLE_POOL, ROLE_LISTEN };

struct conn {
    struct store *s;
    enum conn_role role;
    int idx;
    enum conn_state state;
    PGconn *pg;
    struct pollh *poll;
    int poll_events;
    struct resolveh *resolve;
    uv_timer_t timer;    /* deadline (RESOLVING, CONNECTING, BUSY) or backoff (BROKEN) */
    unsigned backoff_ms; /* base of the last reconnect delay; 0 before the first failure */
    uint64_t up_since;   /* uv_now() when the connection came up */
    struct job *job;
    struct stmt_entry *cache[STORE_STMT_BUCKETS];
    int ncached;
    unsigned next_stmt_no;
};

struct store {
    uv_loop_t *loop;
    char *conninfo;
    char *listen_conninfo; /* the listener's; a copy of conninfo when not configured */
    char *app_name;
    char *listen_app_name;
    int pool_size;
    int max_queue;
    unsigned queue_timeout_ms;
    unsigned job_timeout_ms;
    bool no_prepared;
    char *dns_host;        /* the host name to resolve before connecting, or NULL */
    char *listen_dns_host; /* the same for listen_conninfo */
    uint64_t rng;          /* xorshift state for the reconnect jitter */
    struct conn *conns;    /* pool_size of them */
    struct conn *listener;
    char *listen_channel;
    store_notify_cb listen_cb;
    void *listen_arg;
    struct job *qhead, *qtail;
    int nqueued;
    uv_idle_t kick;    /* dispatches newly queued jobs on the next loop iteration */
    uv_timer_t qtimer; /* fails queued jobs past their deadline */
    int handles;       /* handles (and lookups) open or closing; freed when it reaches 0 */
    bool closing;
    bool handles_closed;
    void (*close_cb)(void *arg);
    void *close_arg;
    unsigned long long jobs_done, jobs_failed;
    /* group commit (store_group.c): grouped statements waiting for the next group transaction */
    struct job *ghead, *gtail;
    int ngqueued;
    int group_inflight;     /* group transactions sent and not yet finished */
    int group_max_inflight; /* store_config.group_inflight */
    unsigned long long group_txns, group_members, group_fallbacks;
    struct {
        void (*fill)(void *arg);
        void *arg;
    } sources[STORE_GROUP_SOURCES];
    int nsources;
};

/* ---- the pool and job queue (store.c) ---- */

/* Counts the job as done or failed, runs its callback (err 0: with its results; IE_DB: with
 * its sqlstate and message; otherwise with ie_strerror(err)) and frees it. The caller must not
 * touch the connection afterwards without re-checking its state: the callback may close the
 * store. */
void store_job_complete(struct store *s, struct job *j, int err);

/* True when a statement's arguments are acceptable (sql set, 0..65535 parameters, an array when
 * there are any). */
bool store_stmt_ok(const char *sql, int nparams, const char *const *params);

/* Makes a job of n statements, BEGIN/COMMIT around them when txn. With copy the statements'
 * texts are copied into the job; without it the job points at the caller's, which must stay
 * valid until the job's callback has run (a group transaction borrows its members'). NULL when
 * out of memory. */
struct job *store_job_new(const struct store_stmt *stmts, int n, bool txn, bool copy, store_cb cb,
                          void *arg);

/* Frees a job and the results it holds, without calling its callback. */
void store_job_free(struct job *j);

/* Queues a job for the next idle connection. Returns 0, or IE_UNAVAIL (the queue is full: the
 * job has been freed and its callback will never run). */
int store_job_submit(struct store *s, struct job *j);

/* Runs store_group_flush and store_pump on the next loop iteration. */
void store_kick(struct store *s);

/* Puts a job that never reached the server back at the head of the queue, so it runs next. */
void store_queue_push_head(struct store *s, struct job *j);

/* Hands queued jobs to idle pool connections and re-arms the queue deadline timer. Does nothing
 * once the store is closing. */
void store_pump(struct store *s);

/* Called whenever a connection closes or a handle's close callback has run: once the store is
 * closing and every connection is closed, closes the store's own handles; after the last one,
 * frees the store and runs store_close's callback. s must not be used after it returns when
 * the store is closing. */
void store_maybe_finish_close(struct store *s);

/* ---- group commit (store_group.c) ---- */

/* Sends the grouped statements that are waiting as group transactions, while fewer than
 * group_max_inflight are in flight. */
void store_group_flush(struct store *s);

/* Fails every grouped statement still waiting with IE_CANCELED (store_close). */
void store_group_cancel(struct store *s);

/* ---- connections and libpq I/O (store_conn.c) ---- */

/* Copies src (NULL: "") into dst, truncated to dstlen - 1 bytes; dstlen must be >= 1. */
void store_copy_str(char *dst, size_t dstlen, const char *src);

/* libpq notice processor for every connection: logs the notice at debug level. */
void store_notice_processor(void *arg, const char *message);

/* Sets up a CLOSED connection of role role (idx: its pool index, -1 for the listener) and its
 * timer, which counts in s->handles. */
void store_conn_init(struct store *s, struct conn *c, enum conn_role role, int idx);

/* Starts connecting a CLOSED or BROKEN connection: looks the host name up off the loop thread
 * (s->dns_host) or connects at once. Failures are not returned: they break the connection,
 * which retries with backoff. */
void store_conn_start(struct conn *c);

/* Closes a connection that has no job (aborts if it has one: the job must complete first),
 * moves it to CLOSED and lets the store finish closing. */
void store_conn_close(struct conn *c);

/* Frees the connection's prepared-statement cache (the server side is not told). */
void store_conn_cache_clear(struct conn *c);

/* Sends job j as one pipeline on the IDLE pool connection c, which becomes BUSY with a
 * job_timeout_ms deadline. On a send failure the connection breaks and the job goes back to
 * the head of the queue, or fails with IE_UNAVAIL when it may have committed. */
void store_conn_start_job(struct conn *c, struct job *j);

/* Makes the connection's pending deadline fire within ms (it is left alone when it is already
 * due sooner); used by store_close to bound the wait for an in-flight job. */
void store_conn_cap_deadline(struct conn *c, uint64_t ms);

#endif
