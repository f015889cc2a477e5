/* The store: a pool of asynchronous libpq connections on the libuv loop (see store.h for the
 * contract). Each connection is a small state machine (enum conn_state plus change_state());
 * jobs wait in one bounded FIFO and run one at a time per connection as a pipeline:
 * BEGIN, the statements (prepared once per connection), COMMIT, Sync. Nothing in this file
 * blocks the loop except store_exec_startup(), which is for start-up only. */
#include "store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "log.h"

#define STORE_MAX_STMTS          1024
#define STORE_BACKOFF_MIN_MS     100
#define STORE_BACKOFF_MAX_MS     5000
#define STORE_STABLE_MS          3000 /* up this long before the backoff starts over */
#define STORE_CONNECT_TIMEOUT_MS 10000
#define STORE_QUEUE_TIMEOUT_MS   10000 /* default for store_config.queue_timeout_ms */
#define STORE_JOB_TIMEOUT_MS     30000 /* default for store_config.job_timeout_ms */
#define STORE_CLOSE_GRACE_MS     5000  /* store_close waits this long for in-flight jobs */
#define STORE_MAX_ADDRS          8     /* resolved addresses handed to libpq as hostaddr */
#define STORE_MAX_QUEUE          10000 /* default for store_config.max_queue */
#define STORE_STMT_CACHE_MAX     256   /* prepared statements per connection; beyond: unnamed */
#define STORE_STMT_BUCKETS       64
#define STORE_ERRMSG_MAX         512

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

enum conn_state {
    CONN_CLOSED,     /* no PGconn; initial and final state */
    CONN_RESOLVING,  /* uv_getaddrinfo of the host in progress; timer is the deadline */
    CONN_CONNECTING, /* PQconnectPoll in progress; timer is the connect deadline */
    CONN_IDLE,       /* connected, no job */
    CONN_BUSY,       /* a job (or the listener's LISTEN) is in flight; timer is its deadline */
    CONN_BROKEN,     /* lost or failed; timer is the reconnect backoff */
};

static const char *const conn_state_names[] = {"CLOSED", "RESOLVING", "CONNECTING",
                                               "IDLE",   "BUSY",      "BROKEN"};

/* conn_transitions[from] has bit (1 << to) set when from -> to is legal. BUSY -> CLOSED is the
 * listener's LISTEN abandoned by store_close; a pool connection with a job never takes it (its
 * job must finish or fail first, see conn_close). */
#define T(s) (1u << (s))
static const unsigned conn_transitions[] = {
    [CONN_CLOSED] = T(CONN_RESOLVING) | T(CONN_CONNECTING),
    [CONN_RESOLVING] = T(CONN_CONNECTING) | T(CONN_BROKEN) | T(CONN_CLOSED),
    [CONN_CONNECTING] = T(CONN_IDLE) | T(CONN_BUSY) | T(CONN_BROKEN) | T(CONN_CLOSED),
    [CONN_IDLE] = T(CONN_BUSY) | T(CONN_BROKEN) | T(CONN_CLOSED),
    [CONN_BUSY] = T(CONN_IDLE) | T(CONN_BROKEN) | T(CONN_CLOSED),
    [CONN_BROKEN] = T(CONN_RESOLVING) | T(CONN_CONNECTING) | T(CONN_CLOSED),
};
#undef T

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
    bool conn_lost; /* an error says the connection failed (see job_fail_with): IE_UNAVAIL */
    bool rolling_back;
    char sqlstate[6];
    char errmsg[STORE_ERRMSG_MAX];
};

/* One prepared statement of one connection, found by its SQL text. */
struct stmt_entry {
    struct stmt_entry *next;
    uint64_t hash;
    unsigned no; /* server-side name is "s<no>" */
    bool ready;  /* PREPARE succeeded; until then only this job's items may use it */
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
    char *app_name;
    char *listen_app_name;
    int pool_size;
    int max_queue;
    unsigned queue_timeout_ms;
    unsigned job_timeout_ms;
    bool no_prepared;
    char *dns_host;     /* the host name to resolve before connecting, or NULL */
    uint64_t rng;       /* xorshift state for the reconnect jitter */
    struct conn *conns; /* pool_size of them */
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
};

static void conn_start(struct conn *c);
static void conn_broken(struct conn *c, const char *why);
static void conn_close(struct conn *c);
static void conn_on_poll(uv_poll_t *h, int status, int events);
static void pump(struct store *s);
static void timer_cb(uv_timer_t *t);
static void maybe_finish_close(struct store *s);

/* ---- small helpers ---- */

static uint64_t hash_str(const char *p)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    return h;
}

static void copy_str(char *dst, size_t dstlen, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= dstlen)
        n = dstlen - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static void notice_processor(void *arg, const char *message)
{
    (void)arg;
    log_debug("postgres notice: %s", message);
}

/* ---- connection state machine ---- */

static void change_state(struct conn *c, enum conn_state to)
{
    if (!(conn_transitions[c->state] & (1u << to))) {
        log_error("store: illegal connection transition %s -> %s", conn_state_names[c->state],
                  conn_state_names[to]);
        abort();
    }
    log_debug("store: connection %d%s %s -> %s", c->idx, c->role == ROLE_LISTEN ? " (listen)" : "",
              conn_state_names[c->state], conn_state_names[to]);
    c->state = to;
}

static void pollh_close_cb(uv_handle_t *h)
{
    struct pollh *p = container_of((uv_poll_t *)h, struct pollh, h);
    struct store *s = p->s;
    free(p);
    s->handles--;
    maybe_finish_close(s);
}

/* Stops watching the socket. Must run before PQfinish() closes it. */
static void poll_detach(struct conn *c)
{
    if (!c->poll)
        return;
    c->poll->c = NULL;
    uv_close((uv_handle_t *)&c->poll->h, pollh_close_cb);
    c->poll = NULL;
    c->poll_events = 0;
}

/* Watches the connection's current socket for events (a fresh handle when fresh is set, as
 * during connection set-up where libpq may close and reopen its socket under the same fd). */
static int poll_watch(struct conn *c, int events, bool fresh)
{
    int fd = PQsocket(c->pg);
    int rc;
    if (fd < 0)
        return IE_IO;
    if (c->poll && (fresh || c->poll->fd != fd))
        poll_detach(c);
    if (!c->poll) {
        struct pollh *p = calloc(1, sizeof(*p));
        if (!p)
            return IE_NOMEM;
        rc = uv_poll_init(c->s->loop, &p->h, fd);
        if (rc) {
            free(p);
            log_error("store: uv_poll_init: %s", uv_strerror(rc));
            return IE_IO;
        }
        p->fd = fd;
        p->c = c;
        p->s = c->s;
        c->s->handles++;
        c->poll = p;
        c->poll_events = 0;
    }
    if (events == c->poll_events)
        return 0;
    rc = uv_poll_start(&c->poll->h, events, conn_on_poll);
    if (rc) {
        log_error("store: uv_poll_start: %s", uv_strerror(rc));
        return IE_IO;
    }
    c->poll_events = events;
    return 0;
}

static void cache_clear(struct conn *c)
{
    for (int i = 0; i < STORE_STMT_BUCKETS; i++) {
        struct stmt_entry *e = c->cache[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
        c->cache[i] = NULL;
    }
    c->ncached = 0;
}

static struct stmt_entry *cache_find(struct conn *c, const char *sql, uint64_t h)
{
    struct stmt_entry *e = c->cache[h % STORE_STMT_BUCKETS];
    for (; e; e = e->next)
        if (e->hash == h && strcmp(e->sql, sql) == 0)
            return e;
    return NULL;
}

static struct stmt_entry *cache_add(struct conn *c, const char *sql, uint64_t h)
{
    size_t len = strlen(sql);
    struct stmt_entry *e;
    if (c->ncached >= STORE_STMT_CACHE_MAX)
        return NULL;
    e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    memcpy(e->sql, sql, len + 1);
    e->hash = h;
    e->no = c->next_stmt_no++;
    e->ready = false;
    e->next = c->cache[h % STORE_STMT_BUCKETS];
    c->cache[h % STORE_STMT_BUCKETS] = e;
    c->ncached++;
    return e;
}

static void cache_remove(struct conn *c, const char *sql)
{
    uint64_t h = hash_str(sql);
    struct stmt_entry **pp = &c->cache[h % STORE_STMT_BUCKETS];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->hash == h && strcmp((*pp)->sql, sql) == 0) {
            struct stmt_entry *e = *pp;
            *pp = e->next;
            free(e);
            c->ncached--;
            return;
        }
    }
}

/* ---- jobs ---- */

static void job_free(struct job *j)
{
    for (int i = 0; i < j->n; i++)
        PQclear(j->results[i]);
    free(j);
}

/* Completes a job: the callback runs, then the job is freed. The caller must not touch the
 * connection afterwards without re-checking its state (the callback may close the store). */
static void job_complete(struct store *s, struct job *j, int err)
{
    struct store_result res = {.nresults = j->n, .results = j->results};
    if (err)
        s->jobs_failed++;
    else
        s->jobs_done++;
    if (err == IE_DB)
        j->cb(j->arg, err, NULL, j->sqlstate, j->errmsg);
    else
        j->cb(j->arg, err, err ? NULL : &res, NULL, err ? ie_strerror(err) : NULL);
    job_free(j);
}

static void queue_push_tail(struct store *s, struct job *j)
{
    j->next = NULL;
    if (s->qtail)
        s->qtail->next = j;
    else
        s->qhead = j;
    s->qtail = j;
    s->nqueued++;
}

static void queue_push_head(struct store *s, struct job *j)
{
    j->next = s->qhead;
    s->qhead = j;
    if (!s->qtail)
        s->qtail = j;
    s->nqueued++;
}

static struct job *queue_pop(struct store *s)
{
    struct job *j = s->qhead;
    if (!j)
        return NULL;
    s->qhead = j->next;
    if (!s->qhead)
        s->qtail = NULL;
    s->nqueued--;
    j->next = NULL;
    return j;
}

static void qtimer_cb(uv_timer_t *t);

static void qtimer_arm(struct store *s)
{
    uint64_t now = uv_now(s->loop);
    if (s->closing || !s->qhead) {
        uv_timer_stop(&s->qtimer);
        return;
    }
    (void)uv_timer_start(&s->qtimer, qtimer_cb,
                         s->qhead->deadline > now ? s->qhead->deadline - now : 0, 0);
}

/* Fails queued jobs that waited past their deadline, so callers get a quick IE_UNAVAIL (HTTP
 * 503) instead of hanging while the database is unreachable or the pool is saturated. */
static void qtimer_cb(uv_timer_t *t)
{
    struct store *s = container_of(t, struct store, qtimer);
    uint64_t now = uv_now(s->loop);
    while (!s->closing && s->qhead && s->qhead->deadline <= now) {
        struct job *j = queue_pop(s);
        log_warn("store: job waited %u ms for a connection; failing it", s->queue_timeout_ms);
        job_complete(s, j, IE_UNAVAIL);
    }
    qtimer_arm(s);
}

static struct job *job_new(const struct store_stmt *stmts, int n, bool txn, store_cb cb, void *arg)
{
    size_t size = sizeof(struct job), off;
    struct job *j;
    char *p;
    for (int i = 0; i < n; i++) {
        size += strlen(stmts[i].sql) + 1;
        size += sizeof(char *) * (size_t)stmts[i].nparams;
        for (int k = 0; k < stmts[i].nparams; k++)
            if (stmts[i].params[k])
                size += strlen(stmts[i].params[k]) + 1;
    }
    /* Pointer-aligned arrays go first, strings last. */
    size += sizeof(struct job_stmt) * (size_t)n + sizeof(PGresult *) * (size_t)n +
            sizeof(struct item) * (size_t)(2 * n + 6);
    j = calloc(1, size);
    if (!j)
        return NULL;
    p = (char *)j;
    off = sizeof(struct job);
    j->stmts = (struct job_stmt *)(p + off);
    off += sizeof(struct job_stmt) * (size_t)n;
    j->results = (PGresult **)(p + off);
    off += sizeof(PGresult *) * (size_t)n;
    for (int i = 0; i < n; i++) {
        j->stmts[i].params = (char **)(p + off);
        off += sizeof(char *) * (size_t)stmts[i].nparams;
    }
    j->items = (struct item *)(p + off);
    off += sizeof(struct item) * (size_t)(2 * n + 6);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(stmts[i].sql) + 1;
        j->stmts[i].sql = memcpy(p + off, stmts[i].sql, len);
        off += len;
        j->stmts[i].nparams = stmts[i].nparams;
        for (int k = 0; k < stmts[i].nparams; k++) {
            if (!stmts[i].params[k])
                continue;
            len = strlen(stmts[i].params[k]) + 1;
            j->stmts[i].params[k] = memcpy(p + off, stmts[i].params[k], len);
            off += len;
        }
    }
    j->n = n;
    j->txn = txn;
    j->cb = cb;
    j->arg = arg;
    return j;
}

static void job_add_item(struct job *j, enum item_kind kind, int stmt)
{
    j->items[j->nitems++] = (struct item){.kind = kind, .stmt = stmt, .got = false};
}

static int send_plain(struct conn *c, struct job *j, enum item_kind kind, const char *sql)
{
    if (!PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0))
        return IE_UNAVAIL;
    job_add_item(j, kind, -1);
    return 0;
}

static int send_flush(struct conn *c)
{
    int r = PQflush(c->pg);
    if (r < 0)
        return IE_UNAVAIL;
    return poll_watch(c, UV_READABLE | (r == 1 ? UV_WRITABLE : 0), false);
}

/* Queues the whole pipeline of a job on an idle connection. *past_commit_point tells, on
 * failure, whether the COMMIT (or for an autocommit query, the Sync) may have reached the
 * server; before that point the job can safely run again on another connection. */
static int send_job(struct conn *c, struct job *j, bool *past_commit_point)
{
    int rc;
    *past_commit_point = false;
    j->nitems = j->head = 0;
    if (j->txn && (rc = send_plain(c, j, ITEM_BEGIN, "BEGIN")))
        return rc;
    for (int i = 0; i < j->n; i++) {
        const struct job_stmt *st = &j->stmts[i];
        const char *const *params = (const char *const *)st->params;
        uint64_t h = hash_str(st->sql);
        struct stmt_entry *e = c->s->no_prepared ? NULL : cache_find(c, st->sql, h);
        char name[16];
        if (!e && !c->s->no_prepared) {
            e = cache_add(c, st->sql, h);
            if (e) {
                snprintf(name, sizeof(name), "s%u", e->no);
                if (!PQsendPrepare(c->pg, name, st->sql, st->nparams, NULL))
                    return IE_UNAVAIL;
                job_add_item(j, ITEM_PREPARE, i);
            }
        }
        if (e) {
            snprintf(name, sizeof(name), "s%u", e->no);
            if (!PQsendQueryPrepared(c->pg, name, st->nparams, params, NULL, NULL, 0))
                return IE_UNAVAIL;
        } else if (!PQsendQueryParams(c->pg, st->sql, st->nparams, NULL, params, NULL, NULL, 0)) {
            return IE_UNAVAIL; /* no_prepared or cache full: the unnamed statement */
        }
        job_add_item(j, ITEM_STMT, i);
    }
    *past_commit_point = true;
    if (j->txn && (rc = send_plain(c, j, ITEM_COMMIT, "COMMIT")))
        return rc;
    if (!PQpipelineSync(c->pg))
        return IE_UNAVAIL;
    job_add_item(j, ITEM_SYNC, -1);
    return send_flush(c);
}

/* True when an error result says the connection failed rather than the SQL: made by libpq (no
 * SQLSTATE), connection_exception (class 08), or the server going away (57P01 admin_shutdown,
 * 57P02 crash_shutdown, 57P03 cannot_connect_now). A COMMIT answered this way may or may not
 * have committed, so it must never be reported as a plain IE_DB. */
static bool is_connection_error(const char *state)
{
    return !state || strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
           strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0;
}

/* Records the first failure of a job. */
static void job_fail_with(struct job *j, const PGresult *r)
{
    const char *state, *msg;
    if (is_connection_error(PQresultErrorField(r, PG_DIAG_SQLSTATE)))
        j->conn_lost = true;
    if (j->failed)
        return;
    j->failed = true;
    state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (!msg)
        msg = PQresultErrorMessage(r);
    copy_str(j->sqlstate, sizeof(j->sqlstate), state ? state : "XX000");
    copy_str(j->errmsg, sizeof(j->errmsg), msg && *msg ? msg : PQresStatus(PQresultStatus(r)));
}

/* The outcome of a job whose results have all arrived. */
static int job_err(const struct job *j)
{
    if (j->conn_lost)
        return IE_UNAVAIL;
    return j->failed ? IE_DB : 0;
}

/* Takes one non-NULL result for the item at j->head. */
static void take_result(struct conn *c, struct job *j, PGresult *r)
{
    struct item *it = &j->items[j->head];
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    it->got = true;
    switch (it->kind) {
    case ITEM_PREPARE:
        if (ok) {
            struct stmt_entry *e =
                cache_find(c, j->stmts[it->stmt].sql, hash_str(j->stmts[it->stmt].sql));
            if (e)
                e->ready = true;
        } else {
            /* Not prepared on the server (a syntax error, or aborted by an earlier failure):
             * forget it so the next job prepares it again. */
            cache_remove(c, j->stmts[it->stmt].sql);
            if (st != PGRES_PIPELINE_ABORTED)
                job_fail_with(j, r);
        }
        PQclear(r);
        break;
    case ITEM_STMT:
        if (!ok && st != PGRES_PIPELINE_ABORTED)
            job_fail_with(j, r);
        PQclear(j->results[it->stmt]);
        j->results[it->stmt] = r;
        break;
    case ITEM_COMMIT:
        /* COMMIT of a transaction that is already aborted succeeds with the tag ROLLBACK. */
        if (st == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") != 0 && !j->failed) {
            j->failed = true;
            copy_str(j->sqlstate, sizeof(j->sqlstate), "40000");
            copy_str(j->errmsg, sizeof(j->errmsg), "COMMIT rolled back the transaction");
        }
        /* fall through */
    case ITEM_BEGIN:
    case ITEM_ROLLBACK:
    case ITEM_SYNC:
        if (!ok && st != PGRES_PIPELINE_ABORTED && st != PGRES_PIPELINE_SYNC &&
            it->kind != ITEM_ROLLBACK)
            job_fail_with(j, r);
        PQclear(r);
        break;
    }
}

/* After the job's Sync: a failed statement leaves the explicit transaction open and aborted
 * (the pipelined COMMIT was skipped, not turned into ROLLBACK), so roll it back before the
 * connection takes other work. Returns 1 when a ROLLBACK was sent, 0 when the job is done. */
static int after_sync(struct conn *c, struct job *j, int *err)
{
    PGTransactionStatusType ts = PQtransactionStatus(c->pg);
    *err = 0;
    if (ts == PQTRANS_IDLE)
        return 0;
    if (!j->failed) {
        /* A statement of the job ended or opened a transaction itself: not allowed. */
        j->failed = true;
        copy_str(j->sqlstate, sizeof(j->sqlstate), "25000");
        copy_str(j->errmsg, sizeof(j->errmsg), "transaction left open after COMMIT");
    }
    if (j->rolling_back || (ts != PQTRANS_INERROR && ts != PQTRANS_INTRANS)) {
        *err = IE_UNAVAIL;
        return 0;
    }
    j->rolling_back = true;
    if (send_plain(c, j, ITEM_ROLLBACK, "ROLLBACK") || !PQpipelineSync(c->pg)) {
        *err = IE_UNAVAIL;
        return 0;
    }
    job_add_item(j, ITEM_SYNC, -1);
    if (send_flush(c)) {
        *err = IE_UNAVAIL;
        return 0;
    }
    return 1;
}

/* Reads whatever results are available for the connection's job. Returns 0 while the job is
 * still running, 1 when it finished (ok or IE_DB, *err set), or IE_UNAVAIL when the
 * connection is unusable. */
static int read_job_results(struct conn *c, int *err)
{
    struct job *j = c->job;
    while (j->head < j->nitems) {
        struct item *it = &j->items[j->head];
        PGresult *r;
        if (PQisBusy(c->pg))
            return 0;
        r = PQgetResult(c->pg);
        if (!r) {
            if (PQstatus(c->pg) == CONNECTION_BAD)
                return IE_UNAVAIL;
            if (!it->got)
                return IE_UNAVAIL; /* out of step with the pipeline: never expected */
            j->head++;
            continue;
        }
        if (it->got && it->kind != ITEM_SYNC) {
            /* A result without the NULL that ends the previous one: it belongs to the next. */
            if (++j->head >= j->nitems) {
                PQclear(r);
                return IE_UNAVAIL;
            }
            it = &j->items[j->head];
        }
        if (it->kind == ITEM_SYNC) {
            int rc;
            if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
                log_error("store: expected a pipeline sync, got %s",
                          PQresStatus(PQresultStatus(r)));
                PQclear(r);
                return IE_UNAVAIL;
            }
            PQclear(r);
            j->head++; /* no NULL follows a sync */
            if (j->head < j->nitems)
                continue;
            if (!j->txn) {
                *err = job_err(j);
                return 1;
            }
            rc = after_sync(c, j, err);
            if (*err)
                return IE_UNAVAIL;
            if (rc == 1)
                continue;
            *err = job_err(j);
            return 1;
        }
        take_result(c, j, r);
    }
    return 0;
}

/* Hands a job to an idle pool connection. On a send failure the connection breaks and the job
 * goes back to the head of the queue, or fails with IE_UNAVAIL when it may have committed. */
static void start_job(struct conn *c, struct job *j)
{
    bool past;
    int rc;
    change_state(c, CONN_BUSY);
    c->job = j;
    rc = send_job(c, j, &past);
    if (rc == 0) {
        /* Without a deadline a server that never answers (a lock wait, a silent network)
         * would hold the job, and store_close, forever. */
        (void)uv_timer_start(&c->timer, timer_cb, c->s->job_timeout_ms, 0);
        return;
    }
    c->job = NULL;
    for (int i = 0; i < j->n; i++) {
        PQclear(j->results[i]);
        j->results[i] = NULL;
    }
    j->failed = false;
    j->conn_lost = false;
    j->rolling_back = false;
    if (!past)
        queue_push_head(c->s, j);
    conn_broken(c, PQerrorMessage(c->pg));
    if (past)
        job_complete(c->s, j, IE_UNAVAIL);
}

static void pump(struct store *s)
{
    for (int i = 0; i < s->pool_size && s->qhead && !s->closing; i++)
        if (s->conns[i].state == CONN_IDLE)
            start_job(&s->conns[i], queue_pop(s));
    qtimer_arm(s);
}

static void kick_cb(uv_idle_t *h)
{
    struct store *s = container_of(h, struct store, kick);
    uv_idle_stop(h);
    pump(s);
}

/* ---- connection life ---- */

static void timer_cb(uv_timer_t *t)
{
    struct conn *c = container_of(t, struct conn, timer);
    switch (c->state) {
    case CONN_BROKEN:
        conn_start(c);
        break;
    case CONN_RESOLVING:
        conn_broken(c, "host name lookup timed out");
        break;
    case CONN_CONNECTING:
        conn_broken(c, "connect timed out");
        break;
    case CONN_BUSY:
        if (c->s->closing)
            conn_broken(c, "store closing: in-flight job abandoned after the grace period");
        else
            conn_broken(c, c->role == ROLE_LISTEN ? "LISTEN timed out" : "job timed out");
        break;
    case CONN_CLOSED:
    case CONN_IDLE:
        break;
    }
}

/* Drops the PGconn (if any) and stops watching its socket. */
static void conn_drop(struct conn *c)
{
    if (c->resolve) {
        c->resolve->c = NULL;
        (void)uv_cancel((uv_req_t *)&c->resolve->req); /* fails once it runs: that is fine */
        c->resolve = NULL;
    }
    poll_detach(c);
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    cache_clear(c);
}

/* Closes a connection that has no job (a job must complete first: see conn_broken). */
static void conn_close(struct conn *c)
{
    struct store *s = c->s;
    if (c->job) {
        log_error("store: connection %d closed with a job in flight", c->idx);
        abort();
    }
    uv_timer_stop(&c->timer);
    conn_drop(c);
    if (c->state != CONN_CLOSED)
        change_state(c, CONN_CLOSED);
    maybe_finish_close(s);
}

/* A delay in [ms/2, ms], so that pool connections lost together do not retry in lockstep. */
static unsigned jitter(struct store *s, unsigned ms)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return ms / 2 + (unsigned)(s->rng % (ms / 2 + 1));
}

/* The connection failed or was lost: the in-flight job (if any) fails with IE_UNAVAIL and a
 * reconnect is scheduled with exponential backoff (or, when the store is closing, it closes). */
static void conn_broken(struct conn *c, const char *why)
{
    struct store *s = c->s;
    struct job *j = c->job;
    char msg[256];
    copy_str(msg, sizeof(msg), why);
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    c->job = NULL;
    /* Start over only after the connection proved itself: one that the server drops right
     * after accepting it (too many clients, a failing pooler) keeps backing off. */
    if (c->backoff_ms == 0 || ((c->state == CONN_IDLE || c->state == CONN_BUSY) &&
                               uv_now(s->loop) - c->up_since >= STORE_STABLE_MS))
        c->backoff_ms = STORE_BACKOFF_MIN_MS;
    else if ((c->backoff_ms *= 2) > STORE_BACKOFF_MAX_MS)
        c->backoff_ms = STORE_BACKOFF_MAX_MS;
    conn_drop(c);
    change_state(c, CONN_BROKEN);
    if (s->closing) {
        conn_close(c);
    } else {
        unsigned delay = jitter(s, c->backoff_ms);
        log_warn("store: connection %d%s unavailable (%s); retrying in %u ms", c->idx,
                 c->role == ROLE_LISTEN ? " (listen)" : "", msg, delay);
        (void)uv_timer_start(&c->timer, timer_cb, delay, 0);
    }
    if (j)
        job_complete(s, j, IE_UNAVAIL); /* last: the callback may close the store */
}

/* Starts libpq's connection; host and hostaddr (both or neither) come from our own lookup. */
static void conn_connect(struct conn *c, const char *host, const char *hostaddr)
{
    struct store *s = c->s;
    const char *keys[] = {"application_name",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "gssencmode",
                          "dbname",
                          "host",
                          "hostaddr",
                          NULL};
    const char *vals[] = {c->role == ROLE_LISTEN ? s->listen_app_name : s->app_name,
                          "1",
                          "30",
                          "10",
                          "3",
                          "10000",
                          "disable",
                          s->conninfo,
                          host,
                          hostaddr,
                          NULL};
    if (!host)
        keys[8] = NULL; /* no lookup: the arrays end after dbname */
    change_state(c, CONN_CONNECTING);
    /* Defaults first: settings in the caller's conninfo (expanded from dbname) override them,
     * and the looked-up addresses, after it, override its host. */
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (!c->pg) {
        conn_broken(c, "out of memory");
        return;
    }
    PQsetNoticeProcessor(c->pg, notice_processor, NULL);
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
    /* libpq's own connect_timeout is not applied to PQconnectPoll; this is ours. */
    (void)uv_timer_start(&c->timer, timer_cb, STORE_CONNECT_TIMEOUT_MS, 0);
    if (poll_watch(c, UV_WRITABLE, true))
        conn_broken(c, "cannot watch socket");
}

/* Turns the looked-up addresses into libpq's "host=h,h,... hostaddr=a1,a2,..." (one entry per
 * address, so libpq still tries each in turn and verifies TLS against the name). */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct resolveh *r = container_of(req, struct resolveh, req);
    struct conn *c = r->c;
    struct store *s = r->s;
    struct buf hosts, addrs;
    char *h = NULL, *a = NULL;
    int n = 0, rc = 0;
    free(r);
    s->handles--;
    if (!c) { /* detached: the connection was dropped or the store is closing */
        uv_freeaddrinfo(res);
        maybe_finish_close(s);
        return;
    }
    c->resolve = NULL;
    if (status < 0) {
        char why[256];
        snprintf(why, sizeof(why), "cannot resolve %s: %s", s->dns_host, uv_strerror(status));
        conn_broken(c, why);
        return;
    }
    buf_init(&hosts, 4096);
    buf_init(&addrs, 4096);
    for (struct addrinfo *ai = res; ai && n < STORE_MAX_ADDRS && rc == 0; ai = ai->ai_next) {
        char ip[64];
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            uv_ip_name(ai->ai_addr, ip, sizeof(ip)) != 0)
            continue;
        rc = buf_printf(&hosts, "%s%s", n ? "," : "", s->dns_host);
        if (rc == 0)
            rc = buf_printf(&addrs, "%s%s", n ? "," : "", ip);
        n++;
    }
    uv_freeaddrinfo(res);
    if (rc == 0 && n > 0) {
        h = buf_detach(&hosts, NULL);
        a = buf_detach(&addrs, NULL);
    }
    buf_free(&hosts);
    buf_free(&addrs);
    if (h && a)
        conn_connect(c, h, a);
    else
        conn_broken(c, n == 0 && rc == 0 ? "host name has no usable address" : "out of memory");
    free(h);
    free(a);
}

/* Looks the host name up off the loop thread (libpq would block the loop doing it), or
 * connects at once when there is no name to look up. */
static void conn_start(struct conn *c)
{
    struct store *s = c->s;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct resolveh *r;
    int rc;
    if (!s->dns_host) {
        conn_connect(c, NULL, NULL);
        return;
    }
    change_state(c, CONN_RESOLVING);
    r = calloc(1, sizeof(*r));
    if (!r) {
        conn_broken(c, "out of memory");
        return;
    }
    r->c = c;
    r->s = s;
    rc = uv_getaddrinfo(s->loop, &r->req, on_resolved, s->dns_host, NULL, &hints);
    if (rc) {
        free(r);
        conn_broken(c, uv_strerror(rc));
        return;
    }
    s->handles++;
    c->resolve = r;
    (void)uv_timer_start(&c->timer, timer_cb, STORE_CONNECT_TIMEOUT_MS, 0);
}

static int listener_send_listen(struct conn *c)
{
    struct store *s = c->s;
    char *ident = PQescapeIdentifier(c->pg, s->listen_channel, strlen(s->listen_channel));
    struct buf b;
    int rc;
    if (!ident)
        return IE_NOMEM;
    buf_init(&b, 1024);
    rc = buf_printf(&b, "LISTEN %s", ident);
    PQfreemem(ident);
    if (rc == 0 && !PQsendQuery(c->pg, b.data))
        rc = IE_UNAVAIL;
    buf_free(&b);
    if (rc == 0)
        rc = send_flush(c);
    return rc;
}

static void connected(struct conn *c)
{
    uv_timer_stop(&c->timer);
    c->up_since = uv_now(c->s->loop);
    if (PQsetnonblocking(c->pg, 1) != 0 ||
        (c->role == ROLE_POOL && PQenterPipelineMode(c->pg) != 1)) {
        conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
    if (poll_watch(c, UV_READABLE, true)) {
        conn_broken(c, "cannot watch socket");
        return;
    }
    log_info("store: connection %d%s up", c->idx, c->role == ROLE_LISTEN ? " (listen)" : "");
    if (c->role == ROLE_LISTEN) {
        change_state(c, CONN_BUSY);
        if (listener_send_listen(c))
            conn_broken(c, PQerrorMessage(c->pg));
        else
            (void)uv_timer_start(&c->timer, timer_cb, c->s->job_timeout_ms, 0);
        return;
    }
    change_state(c, CONN_IDLE);
    pump(c->s);
}

static void on_connecting(struct conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        if (poll_watch(c, UV_READABLE, true))
            conn_broken(c, "cannot watch socket");
        break;
    case PGRES_POLLING_WRITING:
        if (poll_watch(c, UV_WRITABLE, true))
            conn_broken(c, "cannot watch socket");
        break;
    case PGRES_POLLING_OK:
        connected(c);
        break;
    default:
        conn_broken(c, PQerrorMessage(c->pg));
        break;
    }
}

/* Delivers pending notifications; returns false when a callback closed the store. */
static bool deliver_notifies(struct conn *c)
{
    PGnotify *n;
    while (c->pg && (n = PQnotifies(c->pg)) != NULL) {
        struct store *s = c->s;
        if (c->role == ROLE_LISTEN && !s->closing)
            s->listen_cb(s->listen_arg, n->relname, n->extra ? n->extra : "");
        PQfreemem(n);
        if (c->state == CONN_CLOSED)
            return false;
    }
    return true;
}

static void on_listener_readable(struct conn *c)
{
    struct store *s = c->s;
    if (!deliver_notifies(c))
        return;
    if (c->state != CONN_BUSY)
        return;
    while (!PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            uv_timer_stop(&c->timer);
            change_state(c, CONN_IDLE);
            log_info("store: listening on channel %s", s->listen_channel);
            s->listen_cb(s->listen_arg, NULL, NULL);
            return;
        }
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            log_error("store: LISTEN failed: %s", PQresultErrorMessage(r));
            PQclear(r);
            conn_broken(c, "LISTEN failed");
            return;
        }
        PQclear(r);
    }
}

static void on_pool_readable(struct conn *c)
{
    struct store *s = c->s;
    struct job *j;
    int err = 0, rc;
    if (!deliver_notifies(c) || c->state != CONN_BUSY)
        return;
    rc = read_job_results(c, &err);
    if (rc == 0)
        return;
    if (rc < 0) {
        conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
    j = c->job;
    c->job = NULL;
    uv_timer_stop(&c->timer);
    change_state(c, CONN_IDLE);
    job_complete(s, j, err);
    if (c->state != CONN_IDLE)
        return; /* the callback closed the store */
    if (s->closing)
        conn_close(c);
    else
        pump(s);
}

static void conn_on_poll(uv_poll_t *h, int status, int events)
{
    struct pollh *p = container_of(h, struct pollh, h);
    struct conn *c = p->c;
    if (!c)
        return;
    if (status < 0) {
        conn_broken(c, uv_strerror(status));
        return;
    }
    if (c->state == CONN_CONNECTING) {
        on_connecting(c);
        return;
    }
    if (events & UV_WRITABLE) {
        if (send_flush(c)) {
            conn_broken(c, PQerrorMessage(c->pg));
            return;
        }
    }
    if (!(events & UV_READABLE))
        return;
    if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
    if (c->role == ROLE_LISTEN)
        on_listener_readable(c);
    else
        on_pool_readable(c);
}

/* ---- store life ---- */

static void store_free(struct store *s)
{
    for (int i = 0; i < s->pool_size; i++)
        cache_clear(&s->conns[i]);
    free(s->conns);
    free(s->listener);
    free(s->conninfo);
    free(s->dns_host);
    free(s->app_name);
    free(s->listen_app_name);
    free(s->listen_channel);
    free(s);
}

static void handle_close_cb(uv_handle_t *h)
{
    struct store *s = h->data;
    s->handles--;
    maybe_finish_close(s);
}

static void close_handle(struct store *s, uv_handle_t *h)
{
    h->data = s;
    uv_close(h, handle_close_cb);
}

/* Once every connection is closed, closes the store's own handles; once the last handle's
 * close callback has run, frees the store and calls the close callback. */
static void maybe_finish_close(struct store *s)
{
    if (!s->closing)
        return;
    if (!s->handles_closed) {
        for (int i = 0; i < s->pool_size; i++)
            if (s->conns[i].state != CONN_CLOSED)
                return;
        if (s->listener && s->listener->state != CONN_CLOSED)
            return;
        s->handles_closed = true;
        for (int i = 0; i < s->pool_size; i++)
            close_handle(s, (uv_handle_t *)&s->conns[i].timer);
        if (s->listener)
            close_handle(s, (uv_handle_t *)&s->listener->timer);
        close_handle(s, (uv_handle_t *)&s->kick);
        close_handle(s, (uv_handle_t *)&s->qtimer);
        return;
    }
    if (s->handles == 0) {
        void (*cb)(void *) = s->close_cb;
        void *arg = s->close_arg;
        store_free(s);
        if (cb)
            cb(arg);
    }
}

static void conn_init(struct store *s, struct conn *c, enum conn_role role, int idx)
{
    c->s = s;
    c->role = role;
    c->idx = idx;
    c->state = CONN_CLOSED;
    (void)uv_timer_init(s->loop, &c->timer); /* cannot fail on unix */
    s->handles++;
}

/* Finds the host name that conn_start must look up: a single name (not an address, not a socket
 * directory) in conninfo or else $PGHOST, with no hostaddr and no service (which libpq reads
 * itself). *out is NULL when there is none. Returns 0 or IE_NOMEM; a conninfo that does not
 * parse is left for libpq to report. */
static int host_to_resolve(const char *conninfo, char **out)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    const char *host = NULL, *hostaddr = NULL, *service = NULL;
    unsigned char addr[sizeof(struct in6_addr)];
    *out = NULL;
    if (!opts)
        return 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
        else if (strcmp(o->keyword, "service") == 0)
            service = o->val;
    }
    if (!host && !hostaddr && !service) {
        host = getenv("PGHOST");
        hostaddr = getenv("PGHOSTADDR");
        service = getenv("PGSERVICE");
    }
    if (host && *host && !(hostaddr && *hostaddr) && !(service && *service) && host[0] != '/' &&
        host[0] != '@' && !strchr(host, ',') && inet_pton(AF_INET, host, addr) != 1 &&
        inet_pton(AF_INET6, host, addr) != 1) {
        *out = strdup(host);
        if (!*out) {
            PQconninfoFree(opts);
            return IE_NOMEM;
        }
    }
    PQconninfoFree(opts);
    return 0;
}

int store_open(uv_loop_t *loop, const struct store_config *cfg, struct store **out)
{
    struct store *s;
    struct buf b;
    int rc = IE_NOMEM;
    if (!loop || !cfg || !out || !cfg->conninfo || cfg->pool_size < 1 || cfg->max_queue < 0)
        return IE_INVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return IE_NOMEM;
    s->loop = loop;
    s->pool_size = cfg->pool_size;
    s->max_queue = cfg->max_queue > 0 ? cfg->max_queue : STORE_MAX_QUEUE;
    s->queue_timeout_ms =
        cfg->queue_timeout_ms > 0 ? (unsigned)cfg->queue_timeout_ms : STORE_QUEUE_TIMEOUT_MS;
    s->job_timeout_ms =
        cfg->job_timeout_ms > 0 ? (unsigned)cfg->job_timeout_ms : STORE_JOB_TIMEOUT_MS;
    s->no_prepared = cfg->no_prepared;
    s->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)s) | 1;
    s->conninfo = strdup(cfg->conninfo);
    s->app_name = strdup(cfg->app_name ? cfg->app_name : "intentd");
    buf_init(&b, 256);
    if (buf_printf(&b, "%s-listen", s->app_name ? s->app_name : "") == 0)
        s->listen_app_name = buf_detach(&b, NULL);
    buf_free(&b);
    s->conns = calloc((size_t)s->pool_size, sizeof(*s->conns));
    if (!s->conninfo || !s->app_name || !s->listen_app_name || !s->conns)
        goto out;
    if ((rc = host_to_resolve(s->conninfo, &s->dns_host)))
        goto out;
    rc = IE_NOMEM;
    (void)uv_idle_init(loop, &s->kick);
    (void)uv_timer_init(loop, &s->qtimer);
    s->handles += 2;
    for (int i = 0; i < s->pool_size; i++)
        conn_init(s, &s->conns[i], ROLE_POOL, i);
    for (int i = 0; i < s->pool_size; i++)
        conn_start(&s->conns[i]);
    *out = s;
    return 0;
out:
    free(s->dns_host);
    free(s->conns);
    free(s->conninfo);
    free(s->app_name);
    free(s->listen_app_name);
    free(s);
    return rc;
}

void store_close(struct store *s, void (*cb)(void *arg), void *arg)
{
    struct job *j;
    if (s->closing)
        return;
    s->closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    uv_idle_stop(&s->kick);
    uv_timer_stop(&s->qtimer);
    while ((j = queue_pop(s)) != NULL)
        job_complete(s, j, IE_CANCELED);
    for (int i = 0; i < s->pool_size; i++) {
        struct conn *c = &s->conns[i];
        if (c->state == CONN_BUSY) {
            /* Let the job finish, but not for longer than the grace period. */
            if (uv_timer_get_due_in(&c->timer) > STORE_CLOSE_GRACE_MS)
                (void)uv_timer_start(&c->timer, timer_cb, STORE_CLOSE_GRACE_MS, 0);
        } else if (c->state != CONN_CLOSED) {
            conn_close(c);
        }
    }
    if (s->listener && s->listener->state != CONN_CLOSED)
        conn_close(s->listener); /* LISTEN in flight is not a job: no need to wait for it */
    maybe_finish_close(s);
}

static int submit(struct store *s, struct job *j)
{
    if (s->nqueued >= s->max_queue) {
        job_free(j);
        return IE_UNAVAIL;
    }
    j->deadline = uv_now(s->loop) + s->queue_timeout_ms;
    queue_push_tail(s, j);
    /* Dispatch on the next loop iteration, never from inside this call (so the callback can
     * never run before store_txn returns) and so that jobs submitted together go out together. */
    (void)uv_idle_start(&s->kick, kick_cb);
    if (!uv_is_active((uv_handle_t *)&s->qtimer))
        qtimer_arm(s);
    return 0;
}

int store_txn(struct store *s, const struct store_stmt *stmts, int n, store_cb cb, void *arg)
{
    struct job *j;
    if (!s || !stmts || n < 1 || n > STORE_MAX_STMTS || !cb)
        return IE_INVAL;
    for (int i = 0; i < n; i++)
        if (!stmts[i].sql || stmts[i].nparams < 0 || stmts[i].nparams > 65535 ||
            (stmts[i].nparams > 0 && !stmts[i].params))
            return IE_INVAL;
    if (s->closing)
        return IE_UNAVAIL;
    if (s->nqueued >= s->max_queue)
        return IE_UNAVAIL;
    j = job_new(stmts, n, true, cb, arg);
    if (!j)
        return IE_NOMEM;
    return submit(s, j);
}

int store_query(struct store *s, const char *sql, int nparams, const char *const *params,
                store_cb cb, void *arg)
{
    struct store_stmt st = {.sql = sql, .nparams = nparams, .params = params};
    struct job *j;
    if (!s || !sql || !cb || nparams < 0 || nparams > 65535 || (nparams > 0 && !params))
        return IE_INVAL;
    if (s->closing)
        return IE_UNAVAIL;
    if (s->nqueued >= s->max_queue)
        return IE_UNAVAIL;
    j = job_new(&st, 1, false, cb, arg);
    if (!j)
        return IE_NOMEM;
    return submit(s, j);
}

int store_listen(struct store *s, const char *channel, store_notify_cb cb, void *arg)
{
    struct conn *c;
    if (!s || !channel || !*channel || !cb)
        return IE_INVAL;
    if (s->listener)
        return IE_EXISTS;
    if (s->closing)
        return IE_UNAVAIL;
    c = calloc(1, sizeof(*c));
    s->listen_channel = strdup(channel);
    if (!c || !s->listen_channel) {
        free(c);
        free(s->listen_channel);
        s->listen_channel = NULL;
        return IE_NOMEM;
    }
    s->listen_cb = cb;
    s->listen_arg = arg;
    s->listener = c;
    conn_init(s, c, ROLE_LISTEN, -1);
    conn_start(c);
    return 0;
}

bool store_is_connected(const struct store *s)
{
    for (int i = 0; i < s->pool_size; i++)
        if (s->conns[i].state == CONN_IDLE || s->conns[i].state == CONN_BUSY)
            return true;
    return false;
}

void store_get_stats(const struct store *s, struct store_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < s->pool_size; i++) {
        if (s->conns[i].state == CONN_IDLE || s->conns[i].state == CONN_BUSY)
            out->connections_up++;
        if (s->conns[i].state == CONN_BUSY)
            out->connections_busy++;
    }
    out->jobs_queued = s->nqueued;
    out->jobs_done = s->jobs_done;
    out->jobs_failed = s->jobs_failed;
}

int store_exec_startup(const char *conninfo, const char *const *sqls, int n, char *errbuf,
                       size_t errlen)
{
    const char *keys[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *vals[] = {"intentd-startup", "10", conninfo, NULL};
    PGconn *pg;
    int rc = 0;
    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!conninfo || n < 0 || (n > 0 && !sqls))
        return IE_INVAL;
    /* Blocking libpq is acceptable here only: this runs before the loop serves anything. */
    pg = PQconnectdbParams(keys, vals, 1);
    if (!pg)
        return IE_NOMEM;
    PQsetNoticeProcessor(pg, notice_processor, NULL);
    if (PQstatus(pg) != CONNECTION_OK) {
        if (errbuf && errlen)
            copy_str(errbuf, errlen, PQerrorMessage(pg));
        rc = IE_UNAVAIL;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        PGresult *r = PQexec(pg, sqls[i]);
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
            if (errbuf && errlen)
                copy_str(errbuf, errlen, r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
            rc = PQstatus(pg) == CONNECTION_OK ? IE_DB : IE_UNAVAIL;
            PQclear(r);
            goto out;
        }
        PQclear(r);
    }
out:
    PQfinish(pg);
    return rc;
}
