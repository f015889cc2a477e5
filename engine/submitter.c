/* Submission group commit; see submitter.h. Requests that queue while a transaction is in
 * flight are written by the next one, all in a single intentd.submit call. */
#include "submitter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queries.h"
#include "scheduler.h"
#include "store.h"

struct submit_job {
    struct submit_job *next;
    char *sub;   /* {"tenant", "body", "signature", "key_version"} as JSON text */
    char *items; /* nitems item objects as JSON text, each followed by a NUL */
    size_t sub_len, items_len;
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

/* The submit call's texts are built by hand from pieces serialized once per request: dumping
 * json_t trees of every group again cost more than all the rest of a submission. */
#define TEXT_MAX ((size_t)1 << 40)

static void job_free(struct submit_job *j)
{
    free(j->sub);
    free(j->items);
    free(j);
}

static void fill(void *arg);

int submitter_new(struct app *app, struct submitter **out)
{
    struct submitter *s = calloc(1, sizeof *s);
    if (!s)
        return IE_NOMEM;
    s->app = app;
    int rc = store_group_source(app->store, fill, s);
    if (rc) {
        free(s);
        return rc;
    }
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
    store_group_source_remove(s->app->store, s);
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

/* Appends job j's part of the group's two arrays: its submission, and its items with
 * "req":req spliced in after each one's opening brace. */
static int append_job(struct buf *subs, struct buf *items, const struct submit_job *j, int req)
{
    int rc = buf_append(subs, req ? "," : "", req ? 1 : 0);
    if (!rc)
        rc = buf_append(subs, j->sub, j->sub_len);
    const char *item = j->items;
    for (int k = 0; !rc && k < j->nitems; k++) {
        size_t len = strlen(item);
        char head[32];
        int hl = snprintf(head, sizeof head, "%s{\"req\":%d,", items->len > 1 ? "," : "", req);
        rc = buf_append(items, head, (size_t)hl);
        if (!rc)
            rc = buf_append(items, item + 1, len - 1);
        item += len + 1;
    }
    return rc;
}

/* Requests are queued and a submit call may go out now. */
static bool can_submit(const struct submitter *s)
{
    return s->head && s->inflight < SUBMITTER_INFLIGHT && !s->closing;
}

/* Runs when the store puts a group transaction together: one submit call carries every
 * request queued by then. */
static void fill(void *arg)
{
    struct submitter *s = arg;
    if (can_submit(s)) {
        struct flight *f = calloc(1, sizeof *f);
        if (!f) {
            struct submit_job *q = s->head;
            s->head = s->tail = NULL;
            s->queued = 0;
            fail_list(q, IE_NOMEM);
            return;
        }
        f->s = s;
        struct submit_job **tailp = &f->jobs;
        int nitems = 0;
        /* Sizes of the two texts: '[' ']', and ',' plus "{"req":<int>, per item. */
        size_t subs_size = 2, items_size = 2;
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
            f->n++;
            nitems += j->nitems;
            subs_size += j->sub_len + 1;
            items_size += j->items_len + (size_t)j->nitems * 24;
        }
        struct buf subs, items;
        buf_init(&subs, TEXT_MAX);
        buf_init(&items, TEXT_MAX);
        int rc = buf_reserve(&subs, subs_size);
        if (!rc)
            rc = buf_reserve(&items, items_size);
        if (!rc)
            rc = buf_append(&subs, "[", 1);
        if (!rc)
            rc = buf_append(&items, "[", 1);
        int req = 0;
        for (struct submit_job *j = f->jobs; !rc && j; j = j->next)
            rc = append_job(&subs, &items, j, req++);
        if (!rc)
            rc = buf_append(&subs, "]", 1);
        if (!rc)
            rc = buf_append(&items, "]", 1);
        if (!rc) {
            const char *p[3] = {s->app->cfg.node_id, subs.data, items.data};
            rc = store_query_grouped(s->app->store, Q_SUBMIT, 3, p, landed, f);
        }
        buf_free(&subs);
        buf_free(&items);
        if (rc) {
            fail_list(f->jobs, rc);
            free(f);
            return;
        }
        s->inflight++;
        /* new intents due now may be claimed in the very same transaction */
        if (s->app->scheduler)
            scheduler_wake(s->app->scheduler);
    }
}

static void flush(struct submitter *s)
{
    if (can_submit(s))
        store_group_request(s->app->store);
}

/* The submission's JSON object, kept as text until its group is written. */
static char *sub_text(const char *tenant, const char *body, const char *signature, int key_version,
                      size_t *len)
{
    /* A header that is not UTF-8 cannot be put in JSON text: refused (IE_NOMEM, as jansson's
     * refusal always was). */
    json_t *sig = json_string(signature);
    if (!sig)
        return NULL;
    json_decref(sig);
    struct buf b;
    buf_init(&b, TEXT_MAX);
    int rc = buf_puts(&b, "{\"tenant\":");
    if (!rc)
        rc = buf_json_string(&b, tenant, strlen(tenant));
    if (!rc)
        rc = buf_puts(&b, ",\"body\":");
    if (!rc)
        rc = buf_json_string(&b, body, strlen(body));
    if (!rc)
        rc = buf_puts(&b, ",\"signature\":");
    if (!rc)
        rc = buf_json_string(&b, signature, strlen(signature));
    if (!rc)
        rc = buf_printf(&b, ",\"key_version\":%d}", key_version);
    if (rc) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, len);
}

int submitter_enqueue(struct submitter *s, const char *tenant, const char *body,
                      const char *signature, int key_version, struct buf *items, int nitems,
                      submit_cb cb, void *arg)
{
    size_t items_len = 0;
    char *items_text = buf_detach(items, &items_len);
    if (s->closing || s->queued >= SUBMITTER_QUEUE_MAX) {
        free(items_text);
        return IE_UNAVAIL;
    }
    struct submit_job *j = calloc(1, sizeof *j);
    if (!j) {
        free(items_text);
        return IE_NOMEM;
    }
    j->items = items_text;
    j->items_len = items_len;
    j->sub = sub_text(tenant, body, signature, key_version, &j->sub_len);
    j->nitems = nitems;
    j->cb = cb;
    j->arg = arg;
    if (!j->sub || !j->items) {
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
