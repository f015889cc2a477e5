/* The store's connections: each one's state machine (enum conn_state plus change_state()) and
 * its libpq I/O on the libuv loop: host lookup, connect, socket polling, the per-connection
 * prepared-statement cache, and a job's pipeline (BEGIN, the statements, COMMIT, Sync) sent
 * and its results read back. Nothing in this file blocks the loop. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "log.h"
#include "fnv.h"
#include "store_internal.h"

#define STORE_BACKOFF_MIN_MS     100
#define STORE_BACKOFF_MAX_MS     5000
#define STORE_STABLE_MS          3000 /* up this long before the backoff starts over */
#define STORE_CONNECT_TIMEOUT_MS 10000
#define STORE_MAX_ADDRS          8   /* resolved addresses handed to libpq as hostaddr */
#define STORE_STMT_CACHE_MAX     256 /* prepared statements per connection; beyond: unnamed */

static const char *const conn_state_names[] = {"CLOSED", "RESOLVING", "CONNECTING",
                                               "IDLE",   "BUSY",      "BROKEN"};

/* conn_transitions[from] has bit (1 << to) set when from -> to is legal. BUSY -> CLOSED is the
 * listener's LISTEN abandoned by store_close; a pool connection with a job never takes it (its
 * job must finish or fail first, see store_conn_close). */
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

static void conn_broken(struct conn *c, const char *why);
static void conn_on_poll(uv_poll_t *h, int status, int events);
static void timer_cb(uv_timer_t *t);

/* ---- small helpers ---- */

void store_copy_str(char *dst, size_t dstlen, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= dstlen)
        n = dstlen - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void store_notice_processor(void *arg, const char *message)
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
    store_maybe_finish_close(s);
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

void store_conn_cache_clear(struct conn *c)
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
    e->next = c->cache[h % STORE_STMT_BUCKETS];
    c->cache[h % STORE_STMT_BUCKETS] = e;
    c->ncached++;
    return e;
}

static void cache_remove(struct conn *c, const char *sql)
{
    uint64_t h = fnv1a64(sql);
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
 * server; before that point the job can safely run again on another connection.
 * One job, one Sync, and nothing sent behind it until its last result is read: a pooler in
 * transaction mode (pgbouncer) hands the server connection to another client at the
 * ReadyForQuery that answers an idle Sync, so messages pipelined past that Sync could land on
 * a server session that is no longer ours (pgbouncer issue #759). The ROLLBACK after a failed
 * statement follows a ReadyForQuery that says "in a failed transaction", which keeps the
 * server connection ours until it is done. */
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
        uint64_t h = fnv1a64(st->sql);
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
    store_copy_str(j->sqlstate, sizeof(j->sqlstate), state ? state : "XX000");
    store_copy_str(j->errmsg, sizeof(j->errmsg),
                   msg && *msg ? msg : PQresStatus(PQresultStatus(r)));
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
        if (!ok) {
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
            store_copy_str(j->sqlstate, sizeof(j->sqlstate), "40000");
            store_copy_str(j->errmsg, sizeof(j->errmsg), "COMMIT rolled back the transaction");
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
        store_copy_str(j->sqlstate, sizeof(j->sqlstate), "25000");
        store_copy_str(j->errmsg, sizeof(j->errmsg), "transaction left open after COMMIT");
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
void store_conn_start_job(struct conn *c, struct job *j)
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
        store_queue_push_head(c->s, j);
    conn_broken(c, PQerrorMessage(c->pg));
    if (past)
        store_job_complete(c->s, j, IE_UNAVAIL);
}

/* ---- connection life ---- */

static void timer_cb(uv_timer_t *t)
{
    struct conn *c = container_of(t, struct conn, timer);
    switch (c->state) {
    case CONN_BROKEN:
        store_conn_start(c);
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
    store_conn_cache_clear(c);
}

/* Closes a connection that has no job (a job must complete first: see conn_broken). */
void store_conn_close(struct conn *c)
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
    store_maybe_finish_close(s);
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
    store_copy_str(msg, sizeof(msg), why);
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
        store_conn_close(c);
    } else {
        unsigned delay = jitter(s, c->backoff_ms);
        log_warn("store: connection %d%s unavailable (%s); retrying in %u ms", c->idx,
                 c->role == ROLE_LISTEN ? " (listen)" : "", msg, delay);
        (void)uv_timer_start(&c->timer, timer_cb, delay, 0);
    }
    if (j)
        store_job_complete(s, j, IE_UNAVAIL); /* last: the callback may close the store */
}

/* The connection string and the host name to look up for the connection's role. */
static const char *conn_conninfo(const struct conn *c)
{
    return c->role == ROLE_LISTEN ? c->s->listen_conninfo : c->s->conninfo;
}

static const char *conn_dns_host(const struct conn *c)
{
    return c->role == ROLE_LISTEN ? c->s->listen_dns_host : c->s->dns_host;
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
                          conn_conninfo(c),
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
    PQsetNoticeProcessor(c->pg, store_notice_processor, NULL);
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
        store_maybe_finish_close(s);
        return;
    }
    c->resolve = NULL;
    if (status < 0) {
        char why[256];
        snprintf(why, sizeof(why), "cannot resolve %s: %s", conn_dns_host(c), uv_strerror(status));
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
        rc = buf_printf(&hosts, "%s%s", n ? "," : "", conn_dns_host(c));
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
void store_conn_start(struct conn *c)
{
    struct store *s = c->s;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct resolveh *r;
    int rc;
    if (!conn_dns_host(c)) {
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
    rc = uv_getaddrinfo(s->loop, &r->req, on_resolved, conn_dns_host(c), NULL, &hints);
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
    store_pump(c->s);
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
    store_job_complete(s, j, err);
    if (c->state != CONN_IDLE)
        return; /* the callback closed the store */
    if (s->closing)
        store_conn_close(c);
    else
        store_pump(s);
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

void store_conn_init(struct store *s, struct conn *c, enum conn_role role, int idx)
{
    c->s = s;
    c->role = role;
    c->idx = idx;
    c->state = CONN_CLOSED;
    (void)uv_timer_init(s->loop, &c->timer); /* cannot fail on unix */
    s->handles++;
}

void store_conn_cap_deadline(struct conn *c, uint64_t ms)
{
    if (uv_timer_get_due_in(&c->timer) > ms)
        (void)uv_timer_start(&c->timer, timer_cb, ms, 0);
}
