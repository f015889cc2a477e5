/* Submission group commit; see submitter.h. Requests that queue while a transaction is in
 * flight are written by the next one, all in a single intentd.submit call. */
#include "submitter.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queries.h"
#include "store.h"

struct submit_job {
    struct submit_job *next;
    json_t *sub;   /* {tenant, body, signature} */
    json_t *items; /* the request's items */
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
    struct submit_job *jobs; /* in request order */
    int n;
};

static void job_free(struct submit_job *j)
{
    json_decref(j->sub);
    json_decref(j->items);
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

static void fail_list(struct submit_job *j, int err)
{
    while (j) {
        struct submit_job *next = j->next;
        j->cb(j->arg, err, NULL, 0, 0);
        job_free(j);
        j = next;
    }
}

void submitter_free(struct submitter *s)
{
    if (!s)
        return;
    struct submit_job *q = s->head;
    s->head = s->tail = NULL;
    s->queued = 0;
    fail_list(q, IE_CANCELED);
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
    if (err == IE_DB && sqlstate && !strcmp(sqlstate, "28000"))
        err = IE_AUTH; /* intentd.check_key_versions: the key was rotated out */
    if (err) {
        fail_list(f->jobs, err);
    } else {
        /* Rows come ordered by (req, idx): each request's rows are one contiguous range. */
        PGresult *r = res->results[0];
        int rows = PQntuples(r), row = 0, req = 0;
        for (struct submit_job *j = f->jobs; j; req++) {
            struct submit_job *next = j->next;
            int first = row;
            while (row < rows && atoi(PQgetvalue(r, row, 0)) == req)
                row++;
            j->cb(j->arg, 0, r, first, row - first);
            job_free(j);
            j = next;
        }
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
        json_t *subs = json_array(), *items = json_array();
        if (!f || !subs || !items) {
            free(f);
            json_decref(subs);
            json_decref(items);
            struct submit_job *q = s->head;
            s->head = s->tail = NULL;
            s->queued = 0;
            fail_list(q, IE_NOMEM);
            return;
        }
        f->s = s;
        struct submit_job **tailp = &f->jobs;
        int nitems = 0;
        while (s->head && f->n < SUBMITTER_MAX_REQUESTS &&
               (f->n == 0 || (nitems + s->head->nitems <= SUBMITTER_MAX_ITEMS && !s->head->solo &&
                              !f->jobs->solo))) {
            struct submit_job *j = s->head;
            s->head = j->next;
            if (!s->head)
                s->tail = NULL;
            s->queued--;
            j->next = NULL;
            *tailp = j;
            tailp = &j->next;
            size_t i;
            json_t *item;
            json_array_foreach(j->items, i, item)
            {
                json_object_set_new(item, "req", json_integer(f->n));
                json_array_append(items, item);
            }
            json_array_append(subs, j->sub);
            f->n++;
            nitems += j->nitems;
        }
        char *subs_text = json_dumps(subs, JSON_COMPACT);
        char *items_text = json_dumps(items, JSON_COMPACT);
        json_decref(subs);
        json_decref(items);
        int rc = IE_NOMEM;
        if (subs_text && items_text) {
            const char *p[3] = {s->app->cfg.node_id, subs_text, items_text};
            struct store_stmt st = {Q_SUBMIT, 3, p};
            rc = store_txn(s->app->store, &st, 1, landed, f);
        }
        free(subs_text);
        free(items_text);
        if (rc) {
            fail_list(f->jobs, rc);
            free(f);
            continue;
        }
        s->inflight++;
    }
}

int submitter_enqueue(struct submitter *s, const char *tenant, const char *body,
                      const char *signature, int key_version, json_t *items, submit_cb cb,
                      void *arg)
{
    if (s->closing || s->queued >= SUBMITTER_QUEUE_MAX) {
        json_decref(items);
        return IE_UNAVAIL;
    }
    struct submit_job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(items);
        return IE_NOMEM;
    }
    j->sub = json_pack("{s:s, s:s, s:s, s:i}", "tenant", tenant, "body", body, "signature",
                       signature, "key_version", key_version);
    j->items = items;
    j->nitems = (int)json_array_size(items);
    j->cb = cb;
    j->arg = arg;
    if (!j->sub) {
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
