/* Pushes outcome signals; see signal_push.h. One round at a time, as alerts.c: take the due
 * tenants (leased), run one job per tenant (read its next batch, sign it, post it, record the
 * outcome), and start the next round when every job has ended, or after the poll interval
 * when nothing was due. */
#include "signal_push.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "http_client.h"
#include "log.h"
#include "queries.h"
#include "signals.h"
#include "signature.h"
#include "store.h"
#include "tenant_keys.h"

#define POLL_MS      1000
#define TENANTS      50
#define SIGNALS      100
#define LEASE_S      60 /* well beyond POST_TIMEOUT, so a lease never runs out mid-job */
#define RETRY_MAX_S  300
#define POST_TIMEOUT 10000

struct signal_push {
    struct app *app;
    uv_timer_t timer;
    int outstanding; /* the take and the jobs in flight */
    bool stopping;
    bool timer_closed;
};

/* One tenant's batch, from reading its signals to recording the outcome. */
struct job {
    struct signal_push *sp;
    char tenant[72];
    char *url;
    char from[24]; /* last_seq as read: the compare-and-set's expected value */
    char to[24];   /* seq of the last signal in the batch */
    int attempts;
    char *body;
    size_t body_len;
};

static void round_start(uv_timer_t *t);

/* Every callback ends here: the next round, or (stopping) the last one out frees. */
static void round_end(struct signal_push *sp, uint64_t delay_ms)
{
    if (!sp->stopping)
        uv_timer_start(&sp->timer, round_start, delay_ms, 0);
    else if (sp->outstanding == 0 && sp->timer_closed)
        free(sp);
}

static void job_end(struct job *j)
{
    struct signal_push *sp = j->sp;
    free(j->url);
    free(j->body);
    free(j);
    if (--sp->outstanding == 0)
        round_end(sp, 0);
}

static void recorded(void *arg, int err, const struct store_result *res, const char *sqlstate,
                     const char *msg)
{
    struct job *j = arg;
    if (err)
        log_warn("recording a signal push of tenant %s failed: %s", j->tenant,
                 msg ? msg : ie_strerror(err));
    else if (strcmp(PQgetvalue(res->results[0], 0, 0), "t"))
        log_info("signal push of tenant %s was reconfigured or deleted meanwhile", j->tenant);
    job_end(j);
}

/* Ends the job after recording a failed batch: due again after an exponential backoff. */
static void record_failure(struct job *j, const char *why)
{
    int retry = 1;
    for (int i = 0; i < j->attempts && retry < RETRY_MAX_S; i++)
        retry *= 2;
    if (retry > RETRY_MAX_S)
        retry = RETRY_MAX_S;
    log_warn("signal push of tenant %s after seq %s failed (%s); again in %d s", j->tenant, j->from,
             why, retry);
    char rs[16];
    snprintf(rs, sizeof rs, "%d", retry);
    const char *p[6] = {j->tenant, j->url, j->from, why, rs, j->sp->app->cfg.node_id};
    if (store_query(j->sp->app->store, Q_SIGNAL_PUSH_FAILED, 6, p, recorded, j))
        job_end(j); /* the lease brings it back */
}

/* Ends the job after moving last_seq to j->to (j->from for an empty batch: only the lease
 * ends). */
static void record_ack(struct job *j)
{
    const char *p[5] = {j->tenant, j->url, j->from, j->to, j->sp->app->cfg.node_id};
    if (store_query(j->sp->app->store, Q_SIGNAL_PUSH_ACKED, 5, p, recorded, j))
        job_end(j);
}

static void posted(void *arg, const struct http_client_resp *resp)
{
    struct job *j = arg;
    if (resp->outcome == HTTP_CANCELLED) {
        job_end(j); /* shutting down: the lease brings it back */
        return;
    }
    if (resp->outcome == HTTP_RESPONSE && resp->status >= 200 && resp->status < 300) {
        record_ack(j);
        return;
    }
    char why[200];
    if (resp->outcome == HTTP_RESPONSE)
        snprintf(why, sizeof why, "HTTP %ld", resp->status);
    else
        snprintf(why, sizeof why, "%s", resp->error ? resp->error : "no response");
    record_failure(j, why);
}

static void key_ready(void *arg, int err, const struct tenant_key_set *ks)
{
    struct job *j = arg;
    struct signal_push *sp = j->sp;
    if (sp->stopping) {
        job_end(j);
        return;
    }
    if (err) {
        record_failure(j, err == IE_CRYPTO ? "the approval key does not open under this node's "
                                             "master key"
                                           : "the approval key could not be read");
        return;
    }
    char sig[SIG_HEADER_BUFLEN];
    char hdr[sizeof "Intent-Signature: " + SIG_HEADER_BUFLEN];
    if (sig_sign(ks->key, ks->keylen, (long long)time(NULL), j->body, j->body_len, sig,
                 sizeof sig)) {
        record_failure(j, "signing failed");
        return;
    }
    snprintf(hdr, sizeof hdr, "Intent-Signature: %s", sig);
    const char *hdrs[] = {"Content-Type: application/json", hdr};
    struct http_client_req hr = {.method = "POST",
                                 .url = j->url,
                                 .headers = hdrs,
                                 .nheaders = 2,
                                 .body = j->body,
                                 .body_len = j->body_len,
                                 .timeout_ms = POST_TIMEOUT};
    int rc = http_client_send(sp->app->http_client, &hr, posted, j);
    if (rc)
        record_failure(j, rc == IE_INVAL ? "the URL is not usable" : ie_strerror(rc));
}

static void read_batch(void *arg, int err, const struct store_result *res, const char *sqlstate,
                       const char *msg)
{
    struct job *j = arg;
    if (err || j->sp->stopping) {
        if (err)
            log_warn("reading the signals of tenant %s failed: %s", j->tenant,
                     msg ? msg : ie_strerror(err));
        job_end(j); /* the lease brings it back */
        return;
    }
    long long last;
    json_t *list = signals_json(res->results[0], &last);
    if (list && last < 0) { /* nothing new after all (a race with another reader) */
        json_decref(list);
        record_ack(j);
        return;
    }
    json_t *doc = list ? json_pack("{s:o}", "signals", list) : NULL;
    j->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!j->body) {
        record_failure(j, "out of memory");
        return;
    }
    j->body_len = strlen(j->body);
    snprintf(j->to, sizeof j->to, "%lld", last);
    tenant_keys_get(j->sp->app, j->tenant, key_ready, j);
}

static void taken(void *arg, int err, const struct store_result *res, const char *sqlstate,
                  const char *msg)
{
    struct signal_push *sp = arg;
    if (err || sp->stopping) {
        if (err && !sp->stopping)
            log_warn("taking signal pushes failed: %s", msg ? msg : ie_strerror(err));
        if (--sp->outstanding == 0)
            round_end(sp, POLL_MS);
        return;
    }
    PGresult *r = res->results[0];
    int n = PQntuples(r);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", SIGNALS);
    for (int i = 0; i < n; i++) {
        struct job *j = calloc(1, sizeof *j);
        char *url = strdup(PQgetvalue(r, i, 1));
        if (!j || !url) {
            free(j);
            free(url);
            continue; /* its lease brings it back */
        }
        j->sp = sp;
        j->url = url;
        snprintf(j->tenant, sizeof j->tenant, "%s", PQgetvalue(r, i, 0));
        snprintf(j->from, sizeof j->from, "%s", PQgetvalue(r, i, 2));
        j->attempts = atoi(PQgetvalue(r, i, 3));
        const char *p[3] = {j->tenant, j->from, lim};
        sp->outstanding++;
        if (store_query(sp->app->store, Q_SIGNALS, 3, p, read_batch, j))
            job_end(j);
    }
    /* the take's own count last, so a job ending above cannot start the next round early */
    if (--sp->outstanding == 0)
        round_end(sp, n == TENANTS ? 0 : POLL_MS);
}

static void round_start(uv_timer_t *t)
{
    struct signal_push *sp = t->data;
    char lim[16], lease[16];
    snprintf(lim, sizeof lim, "%d", TENANTS);
    snprintf(lease, sizeof lease, "%d", LEASE_S);
    const char *p[3] = {lim, lease, sp->app->cfg.node_id};
    if (store_query(sp->app->store, Q_SIGNAL_PUSH_TAKE, 3, p, taken, sp) == 0)
        sp->outstanding++;
    else
        round_end(sp, POLL_MS);
}

int signal_push_start(struct app *app, struct signal_push **out)
{
    struct signal_push *sp = calloc(1, sizeof *sp);
    *out = NULL;
    if (!sp)
        return IE_NOMEM;
    sp->app = app;
    uv_timer_init(app->loop, &sp->timer);
    sp->timer.data = sp;
    uv_timer_start(&sp->timer, round_start, POLL_MS, 0);
    *out = sp;
    return 0;
}

static void closed(uv_handle_t *h)
{
    struct signal_push *sp = h->data;
    sp->timer_closed = true;
    round_end(sp, 0);
}

void signal_push_stop(struct signal_push *sp)
{
    if (!sp)
        return;
    sp->stopping = true;
    uv_timer_stop(&sp->timer);
    uv_close((uv_handle_t *)&sp->timer, closed);
}
