/* Group commit (store_query_grouped in store.h). The engine's writers (submissions, claims and
 * step outcomes) each batch their own work already, but every batch was its own transaction:
 * each took the ledger lock, which is held through COMMIT, so their WAL flushes ran one after
 * another and at a steady 1,000 intents/s the lock queue set the latency. Statements grouped
 * here share one transaction, so the node's writers take the lock and flush the WAL once per
 * round between them. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_internal.h"

/* A group stays well under the store's 1,024 statements; what does not fit waits for the next
 * one. With GROUP_SOLO_BYTES this also bounds a transaction's parameters (4 MiB). */
#define GROUP_MAX_MEMBERS 64
/* A statement carrying this much has amortised its commit over a large batch already; grouping
 * it would only make the others' work wait behind its own under the ledger lock (and stop two
 * large batches from using two cores), so it runs as a transaction of its own. */
#define GROUP_SOLO_BYTES ((size_t)64 << 10)

struct gflight {
    struct store *s;
    struct job *members; /* in the order their statements run */
    int n;
};

int store_query_grouped(struct store *s, const char *sql, int nparams, const char *const *params,
                        store_cb cb, void *arg)
{
    struct store_stmt st = {.sql = sql, .nparams = nparams, .params = params};
    struct job *j;
    size_t bytes = 0;
    if (!s || !cb || !store_stmt_ok(sql, nparams, params))
        return IE_INVAL;
    if (s->closing || s->ngqueued >= s->max_queue)
        return IE_UNAVAIL;
    j = store_job_new(&st, 1, false, true, cb, arg);
    if (!j)
        return IE_NOMEM;
    for (int i = 0; i < nparams; i++)
        if (params[i])
            bytes += strlen(params[i]);
    if (bytes > GROUP_SOLO_BYTES)
        return store_job_submit(s, j);
    j->next = NULL;
    if (s->gtail)
        s->gtail->next = j;
    else
        s->ghead = j;
    s->gtail = j;
    s->ngqueued++;
    /* sent on the next loop iteration, together with whatever else is grouped in this one */
    store_kick(s);
    return 0;
}

static void fail_members(struct job *m, int err)
{
    while (m) {
        struct job *next = m->next;
        m->cb(m->arg, err, NULL, NULL, ie_strerror(err));
        store_job_free(m);
        m = next;
    }
}

/* Each member alone, as an ordinary autocommit job: after a failure nobody can tell which
 * member's statement failed without running them apart. */
static void rerun_apart(struct store *s, struct job *m)
{
    while (m) {
        struct job *next = m->next;
        store_cb cb = m->cb;
        void *arg = m->arg;
        m->next = NULL;
        if (s->closing)
            fail_members(m, IE_CANCELED);
        else if (store_job_submit(s, m)) /* freed it */
            cb(arg, IE_UNAVAIL, NULL, NULL, ie_strerror(IE_UNAVAIL));
        m = next;
    }
}

static void group_done(void *arg, int err, const struct store_result *res, const char *sqlstate,
                       const char *msg)
{
    struct gflight *f = arg;
    struct store *s = f->s;
    struct job *m = f->members;
    s->group_inflight--;
    if (err == IE_DB && f->n > 1) {
        s->group_fallbacks++;
        log_debug("store: a group of %d statements failed (%s %s); running them apart", f->n,
                  sqlstate ? sqlstate : "", msg ? msg : "");
        rerun_apart(s, m);
    } else {
        for (int i = 0; m; i++) {
            struct job *next = m->next;
            if (err == 0) {
                struct store_result one = {.nresults = 1, .results = &res->results[i]};
                m->cb(m->arg, 0, &one, NULL, NULL);
            } else {
                m->cb(m->arg, err, NULL, sqlstate, msg);
            }
            store_job_free(m);
            m = next;
        }
    }
    free(f);
    store_group_flush(s);
}

int store_group_source(struct store *s, void (*fill)(void *arg), void *arg)
{
    if (!s || !fill)
        return IE_INVAL;
    if (s->nsources >= STORE_GROUP_SOURCES)
        return IE_NOMEM;
    s->sources[s->nsources].fill = fill;
    s->sources[s->nsources].arg = arg;
    s->nsources++;
    return 0;
}

void store_group_source_remove(struct store *s, void *arg)
{
    for (int i = 0; s && i < s->nsources; i++) {
        if (s->sources[i].arg != arg)
            continue;
        memmove(&s->sources[i], &s->sources[i + 1],
                sizeof s->sources[0] * (size_t)(s->nsources - i - 1));
        s->nsources--;
        return;
    }
}

void store_group_request(struct store *s)
{
    if (s && !s->closing)
        store_kick(s);
}

/* Runs from the store's kick and from a group's completion, never from a fill: a fill only
 * queues (store_query_grouped completes nothing synchronously), so fills cannot re-enter. */
void store_group_flush(struct store *s)
{
    if (s->group_inflight < s->group_max_inflight && !s->closing)
        for (int i = 0; i < s->nsources; i++)
            s->sources[i].fill(s->sources[i].arg);
    while (s->ghead && s->group_inflight < s->group_max_inflight && !s->closing) {
        struct store_stmt st[GROUP_MAX_MEMBERS];
        struct gflight *f = calloc(1, sizeof *f);
        struct job **tailp;
        if (!f) {
            struct job *all = s->ghead;
            s->ghead = s->gtail = NULL;
            s->ngqueued = 0;
            fail_members(all, IE_NOMEM);
            return;
        }
        f->s = s;
        tailp = &f->members;
        while (s->ghead && f->n < GROUP_MAX_MEMBERS) {
            struct job *m = s->ghead;
            s->ghead = m->next;
            if (!s->ghead)
                s->gtail = NULL;
            s->ngqueued--;
            m->next = NULL;
            *tailp = m;
            tailp = &m->next;
            st[f->n].sql = m->stmts[0].sql;
            st[f->n].nparams = m->stmts[0].nparams;
            st[f->n].params = (const char *const *)m->stmts[0].params;
            f->n++;
        }
        /* One statement needs no BEGIN/COMMIT of its own. The statements are borrowed from the
         * members, which group_done frees only after the group job's last use. */
        struct job *g = store_job_new(st, f->n, f->n > 1, false, group_done, f);
        if (!g) {
            fail_members(f->members, IE_NOMEM);
            free(f);
            continue;
        }
        if (store_job_submit(s, g)) {
            fail_members(f->members, IE_UNAVAIL);
            free(f);
            continue;
        }
        s->group_inflight++;
        s->group_txns++;
        s->group_members += (unsigned long long)f->n;
    }
}

void store_group_cancel(struct store *s)
{
    struct job *all = s->ghead;
    s->ghead = s->gtail = NULL;
    s->ngqueued = 0;
    fail_members(all, IE_CANCELED);
}
