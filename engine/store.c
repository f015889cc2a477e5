/* The store: a pool of asynchronous libpq connections on the libuv loop (see store.h for the
 * contract). This file holds the pool, the one bounded FIFO of jobs waiting for a connection and
 * the public API; store_conn.c holds each connection's state machine and its libpq I/O. Nothing
 * in this file blocks the loop except store_exec_startup(), which never runs on a loop. */
#include "store.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "store_internal.h"

#define STORE_MAX_STMTS        1024
#define STORE_QUEUE_TIMEOUT_MS 10000 /* default for store_config.queue_timeout_ms */
#define STORE_JOB_TIMEOUT_MS   30000 /* default for store_config.job_timeout_ms */
#define STORE_CLOSE_GRACE_MS   5000  /* store_close waits this long for in-flight jobs */
#define STORE_MAX_QUEUE        10000 /* default for store_config.max_queue */

/* ---- jobs ---- */

void store_job_free(struct job *j)
{
    for (int i = 0; i < j->n; i++)
        PQclear(j->results[i]);
    free(j);
}

/* Completes a job: the callback runs, then the job is freed. The caller must not touch the
 * connection afterwards without re-checking its state (the callback may close the store). */
void store_job_complete(struct store *s, struct job *j, int err)
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
    store_job_free(j);
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

void store_queue_push_head(struct store *s, struct job *j)
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
        store_job_complete(s, j, IE_UNAVAIL);
    }
    qtimer_arm(s);
}

bool store_stmt_ok(const char *sql, int nparams, const char *const *params)
{
    return sql && nparams >= 0 && nparams <= 65535 && (nparams == 0 || params);
}

struct job *store_job_new(const struct store_stmt *stmts, int n, bool txn, bool copy, store_cb cb,
                          void *arg)
{
    size_t size = sizeof(struct job), off;
    struct job *j;
    char *p;
    for (int i = 0; copy && i < n; i++) {
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
    for (int i = 0; copy && i < n; i++) {
        j->stmts[i].params = (char **)(p + off);
        off += sizeof(char *) * (size_t)stmts[i].nparams;
    }
    j->items = (struct item *)(p + off);
    off += sizeof(struct item) * (size_t)(2 * n + 6);
    for (int i = 0; i < n; i++) {
        j->stmts[i].nparams = stmts[i].nparams;
        if (!copy) {
            /* borrowed: the caller keeps these alive until the job's callback has run, and the
             * store only ever reads them */
            j->stmts[i].sql = (char *)stmts[i].sql;
            j->stmts[i].params = (char **)stmts[i].params;
            continue;
        }
        size_t len = strlen(stmts[i].sql) + 1;
        j->stmts[i].sql = memcpy(p + off, stmts[i].sql, len);
        off += len;
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

void store_pump(struct store *s)
{
    for (int i = 0; i < s->pool_size && s->qhead && !s->closing; i++)
        if (s->conns[i].state == CONN_IDLE)
            store_conn_start_job(&s->conns[i], queue_pop(s));
    qtimer_arm(s);
}

static void kick_cb(uv_idle_t *h)
{
    struct store *s = container_of(h, struct store, kick);
    uv_idle_stop(h);
    store_group_flush(s);
    store_pump(s);
}

void store_kick(struct store *s)
{
    (void)uv_idle_start(&s->kick, kick_cb);
}

/* ---- store life ---- */

static void store_free(struct store *s)
{
    for (int i = 0; i < s->pool_size; i++)
        store_conn_cache_clear(&s->conns[i]);
    free(s->conns);
    free(s->listener);
    free(s->conninfo);
    free(s->listen_conninfo);
    free(s->dns_host);
    free(s->listen_dns_host);
    free(s->app_name);
    free(s->listen_app_name);
    free(s->listen_channel);
    free(s);
}

static void handle_close_cb(uv_handle_t *h)
{
    struct store *s = h->data;
    s->handles--;
    store_maybe_finish_close(s);
}

static void close_handle(struct store *s, uv_handle_t *h)
{
    h->data = s;
    uv_close(h, handle_close_cb);
}

/* Once every connection is closed, closes the store's own handles; once the last handle's
 * close callback has run, frees the store and calls the close callback. */
void store_maybe_finish_close(struct store *s)
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

/* Finds the host name that store_conn_start must look up: a single name (not an address, not a
 * socket directory) in conninfo or else $PGHOST, with no hostaddr and no service (which libpq reads
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
    s->group_max_inflight = cfg->group_inflight > 0 ? cfg->group_inflight : STORE_GROUP_INFLIGHT;
    s->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)s) | 1;
    s->conninfo = strdup(cfg->conninfo);
    s->listen_conninfo = strdup(cfg->listen_conninfo ? cfg->listen_conninfo : cfg->conninfo);
    s->app_name = strdup(cfg->app_name ? cfg->app_name : "intentd");
    buf_init(&b, 256);
    if (buf_printf(&b, "%s-listen", s->app_name ? s->app_name : "") == 0)
        s->listen_app_name = buf_detach(&b, NULL);
    buf_free(&b);
    s->conns = calloc((size_t)s->pool_size, sizeof(*s->conns));
    if (!s->conninfo || !s->listen_conninfo || !s->app_name || !s->listen_app_name || !s->conns)
        goto out;
    if ((rc = host_to_resolve(s->conninfo, &s->dns_host)) ||
        (rc = host_to_resolve(s->listen_conninfo, &s->listen_dns_host)))
        goto out;
    rc = IE_NOMEM;
    (void)uv_idle_init(loop, &s->kick);
    (void)uv_timer_init(loop, &s->qtimer);
    s->handles += 2;
    for (int i = 0; i < s->pool_size; i++)
        store_conn_init(s, &s->conns[i], ROLE_POOL, i);
    for (int i = 0; i < s->pool_size; i++)
        store_conn_start(&s->conns[i]);
    *out = s;
    return 0;
out:
    free(s->dns_host);
    free(s->listen_dns_host);
    free(s->conns);
    free(s->conninfo);
    free(s->listen_conninfo);
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
        store_job_complete(s, j, IE_CANCELED);
    store_group_cancel(s);
    for (int i = 0; i < s->pool_size; i++) {
        struct conn *c = &s->conns[i];
        if (c->state == CONN_BUSY) {
            /* Let the job finish, but not for longer than the grace period. */
            store_conn_cap_deadline(c, STORE_CLOSE_GRACE_MS);
        } else if (c->state != CONN_CLOSED) {
            store_conn_close(c);
        }
    }
    if (s->listener && s->listener->state != CONN_CLOSED)
        store_conn_close(s->listener); /* LISTEN in flight is not a job: no need to wait for it */
    store_maybe_finish_close(s);
}

int store_job_submit(struct store *s, struct job *j)
{
    if (s->nqueued >= s->max_queue) {
        store_job_free(j);
        return IE_UNAVAIL;
    }
    j->deadline = uv_now(s->loop) + s->queue_timeout_ms;
    queue_push_tail(s, j);
    /* Dispatch on the next loop iteration, never from inside this call (so the callback can
     * never run before store_txn returns) and so that jobs submitted together go out together. */
    store_kick(s);
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
        if (!store_stmt_ok(stmts[i].sql, stmts[i].nparams, stmts[i].params))
            return IE_INVAL;
    if (s->closing)
        return IE_UNAVAIL;
    if (s->nqueued >= s->max_queue)
        return IE_UNAVAIL;
    j = store_job_new(stmts, n, true, true, cb, arg);
    if (!j)
        return IE_NOMEM;
    return store_job_submit(s, j);
}

int store_query(struct store *s, const char *sql, int nparams, const char *const *params,
                store_cb cb, void *arg)
{
    struct store_stmt st = {.sql = sql, .nparams = nparams, .params = params};
    struct job *j;
    if (!s || !cb || !store_stmt_ok(sql, nparams, params))
        return IE_INVAL;
    if (s->closing)
        return IE_UNAVAIL;
    if (s->nqueued >= s->max_queue)
        return IE_UNAVAIL;
    j = store_job_new(&st, 1, false, true, cb, arg);
    if (!j)
        return IE_NOMEM;
    return store_job_submit(s, j);
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
    store_conn_init(s, c, ROLE_LISTEN, -1);
    store_conn_start(c);
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
    out->group_txns = s->group_txns;
    out->group_members = s->group_members;
    out->group_fallbacks = s->group_fallbacks;
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
    PQsetNoticeProcessor(pg, store_notice_processor, NULL);
    if (PQstatus(pg) != CONNECTION_OK) {
        if (errbuf && errlen)
            store_copy_str(errbuf, errlen, PQerrorMessage(pg));
        rc = IE_UNAVAIL;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        PGresult *r = PQexec(pg, sqls[i]);
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
            if (errbuf && errlen)
                store_copy_str(errbuf, errlen, r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
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
