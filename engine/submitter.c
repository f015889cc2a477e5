/* Submission group commit; see submitter.h. */
#include "submitter.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queries.h"
#include "store.h"

struct submit_job {
    struct submit_job *next;
    char *tenant, *body, *signature, *items;
    int nitems;
    bool solo; /* retried alone after its group failed */
    submit_cb cb;
    void *arg;
};

struct submitter {
    struct app *app;
    struct submit_job *head, *tail;
    int queued;
    int inflight;
    bool closing;
};

struct flight {
    struct submitter *s;
    struct submit_job *jobs; /* in statement order */
    int n;
};

static void job_free(struct submit_job *j)
{
    free(j->tenant);
    free(j->body);
    free(j->signature);
    free(j->items);
    free(j);
}

int submitter_new(struct app *app, struct submitter **out)
{
    struct submitter *s = calloc(1, sizeof *s);
    if (!s)
        return IE_NOMEM;
    s->app = app;
    *out = s;
    return 0;
}

static void fail_queued(struct submitter *s, int err)
{
    while (s->head) {
        struct submit_job *j = s->head;
        s->head = j->next;
        j->cb(j->arg, err, NULL);
        job_free(j);
    }
    s->tail = NULL;
    s->queued = 0;
}

void submitter_free(struct submitter *s)
{
    if (!s)
        return;
    fail_queued(s, IE_CANCELED);
    if (s->inflight)
        s->closing = true; /* the last flight frees it */
    else
        free(s);
}

static void flush(struct submitter *s);

static void requeue_front(struct submitter *s, struct submit_job *list)
{
    struct submit_job *last = list;
    int n = 1;
    while (last->next) {
        last = last->next;
        n++;
    }
    last->next = s->head;
    if (!s->head)
        s->tail = last;
    s->head = list;
    s->queued += n;
}

static void landed(void *arg, int err, const struct store_result *res, const char *sqlstate,
                   const char *msg)
{
    struct flight *f = arg;
    struct submitter *s = f->s;
    s->inflight--;
    if (err == IE_DB && f->n > 1 && !s->closing) {
        /* One request's data broke the whole group: retry each alone so the rest go through. */
        log_warn("submit group of %d failed (%s: %s); retrying requests one by one", f->n,
                 sqlstate ? sqlstate : "", msg ? msg : "");
        for (struct submit_job *j = f->jobs; j; j = j->next)
            j->solo = true;
        requeue_front(s, f->jobs);
        free(f);
        flush(s);
        return;
    }
    struct submit_job *j = f->jobs;
    for (int i = 0; j; i++) {
        struct submit_job *next = j->next;
        if (err)
            j->cb(j->arg, err, NULL);
        else
            j->cb(j->arg, 0, res->results[i]);
        job_free(j);
        j = next;
    }
    free(f);
    if (s->closing) {
        if (!s->inflight)
            free(s);
        return;
    }
    flush(s);
}

static void flush(struct submitter *s)
{
    while (s->head && s->inflight < SUBMITTER_INFLIGHT) {
        struct flight *f = calloc(1, sizeof *f);
        struct store_stmt *stmts = calloc(SUBMITTER_MAX_REQUESTS, sizeof *stmts);
        const char **params = calloc(SUBMITTER_MAX_REQUESTS * 5, sizeof *params);
        if (!f || !stmts || !params) {
            free(f);
            free(stmts);
            free(params);
            fail_queued(s, IE_NOMEM);
            return;
        }
        f->s = s;
        struct submit_job **tailp = &f->jobs;
        int items = 0;
        while (s->head && f->n < SUBMITTER_MAX_REQUESTS &&
               (f->n == 0 || (items + s->head->nitems <= SUBMITTER_MAX_ITEMS && !s->head->solo &&
                              !f->jobs->solo))) {
            struct submit_job *j = s->head;
            s->head = j->next;
            if (!s->head)
                s->tail = NULL;
            s->queued--;
            j->next = NULL;
            *tailp = j;
            tailp = &j->next;
            const char **p = params + f->n * 5;
            p[0] = j->tenant;
            p[1] = j->body;
            p[2] = j->signature;
            p[3] = s->app->cfg.node_id;
            p[4] = j->items;
            stmts[f->n].sql = Q_SUBMIT;
            stmts[f->n].nparams = 5;
            stmts[f->n].params = p;
            f->n++;
            items += j->nitems;
        }
        int rc = store_txn(s->app->store, stmts, f->n, landed, f);
        free(stmts);
        free(params);
        if (rc) {
            struct submit_job *j = f->jobs;
            while (j) {
                struct submit_job *next = j->next;
                j->cb(j->arg, rc, NULL);
                job_free(j);
                j = next;
            }
            free(f);
            continue;
        }
        s->inflight++;
    }
}

int submitter_enqueue(struct submitter *s, const char *tenant, const char *body,
                      const char *signature, char *items_json, int nitems, submit_cb cb, void *arg)
{
    if (s->closing || s->queued >= SUBMITTER_QUEUE_MAX) {
        free(items_json);
        return IE_UNAVAIL;
    }
    struct submit_job *j = calloc(1, sizeof *j);
    if (!j) {
        free(items_json);
        return IE_NOMEM;
    }
    j->tenant = strdup(tenant);
    j->body = strdup(body);
    j->signature = strdup(signature);
    j->items = items_json;
    j->nitems = nitems;
    j->cb = cb;
    j->arg = arg;
    if (!j->tenant || !j->body || !j->signature) {
        job_free(j);
        return IE_NOMEM;
    }
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->queued++;
    flush(s);
    return 0;
}
