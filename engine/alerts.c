/* Posts queued alerts; see alerts.h. One round at a time: take a batch (leased), post each,
 * record each outcome; the next round starts when the batch is done, or after the poll
 * interval when nothing was due. */
#include "alerts.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "http_client.h"
#include "log.h"
#include "queries.h"
#include "store.h"

#define POLL_MS      1000
#define BATCH        50
#define LEASE_S      60
#define RETRY_BASE_S 5
#define RETRY_MAX_S  900
#define POST_TIMEOUT 10000

struct alerts {
    struct app *app;
    uv_timer_t timer;
    int outstanding; /* posts and their outcome writes in flight */
    bool stopping;
    bool timer_closed;
};

struct post {
    struct alerts *a;
    char tenant[72];
    char id[136];
    char kind[32];
    int attempts;
};

static void round_start(uv_timer_t *t);

/* Every callback ends here: the next round, or (stopping) the last one out frees. */
static void round_end(struct alerts *a, uint64_t delay_ms)
{
    if (!a->stopping)
        uv_timer_start(&a->timer, round_start, delay_ms, 0);
    else if (a->outstanding == 0 && a->timer_closed)
        free(a);
}

static void recorded(void *arg, int err, const struct store_result *res, const char *sqlstate,
                     const char *msg)
{
    struct alerts *a = arg;
    if (err)
        log_warn("recording an alert's outcome failed: %s", msg ? msg : ie_strerror(err));
    if (--a->outstanding == 0)
        round_end(a, 0);
}

static void posted(void *arg, const struct http_client_resp *resp)
{
    struct post *p = arg;
    struct alerts *a = p->a;
    bool ok = resp->outcome == HTTP_RESPONSE && resp->status >= 200 && resp->status < 300;
    char why[200] = "";
    if (!ok) {
        if (resp->outcome == HTTP_RESPONSE)
            snprintf(why, sizeof why, "HTTP %ld", resp->status);
        else
            snprintf(why, sizeof why, "%s", resp->error ? resp->error : "no response");
        log_ctx(LOG_WARN, NULL, p->id, "alert %s not delivered (%s); will retry", p->kind, why);
    }
    int retry = RETRY_BASE_S;
    for (int i = 1; i < p->attempts && retry < RETRY_MAX_S; i++)
        retry *= 2;
    if (retry > RETRY_MAX_S)
        retry = RETRY_MAX_S;
    char rs[16];
    snprintf(rs, sizeof rs, "%d", retry);
    const char *params[6] = {p->tenant, p->id, p->kind, ok ? "true" : "false", why, rs};
    int rc = resp->outcome == HTTP_CANCELLED
                 ? IE_CANCELED
                 : store_query(a->app->store, Q_ALERT_DONE, 6, params, recorded, a);
    free(p);
    if (rc && --a->outstanding == 0)
        round_end(a, POLL_MS); /* the lease brings it back */
}

static void taken(void *arg, int err, const struct store_result *res, const char *sqlstate,
                  const char *msg)
{
    struct alerts *a = arg;
    a->outstanding--;
    if (err || a->stopping) {
        round_end(a, POLL_MS);
        return;
    }
    PGresult *r = res->results[0];
    int n = PQntuples(r);
    const char *hdr[] = {"Content-Type: application/json"};
    for (int i = 0; i < n; i++) {
        struct post *p = calloc(1, sizeof *p);
        json_t *body = json_pack("{s:s}", "text", PQgetvalue(r, i, 3));
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!p || !text) {
            free(p);
            free(text);
            continue; /* its lease brings it back */
        }
        p->a = a;
        snprintf(p->tenant, sizeof p->tenant, "%s", PQgetvalue(r, i, 0));
        snprintf(p->id, sizeof p->id, "%s", PQgetvalue(r, i, 1));
        snprintf(p->kind, sizeof p->kind, "%s", PQgetvalue(r, i, 2));
        p->attempts = atoi(PQgetvalue(r, i, 4));
        struct http_client_req hr = {.method = "POST",
                                     .url = a->app->cfg.alert_webhook_url,
                                     .headers = hdr,
                                     .nheaders = 1,
                                     .body = text,
                                     .body_len = strlen(text),
                                     .timeout_ms = POST_TIMEOUT};
        if (http_client_send(a->app->http_client, &hr, posted, p) == 0)
            a->outstanding++;
        else
            free(p);
        free(text);
    }
    if (a->outstanding == 0)
        round_end(a, n == BATCH ? 0 : POLL_MS);
}

static void round_start(uv_timer_t *t)
{
    struct alerts *a = t->data;
    char lim[16], lease[16];
    snprintf(lim, sizeof lim, "%d", BATCH);
    snprintf(lease, sizeof lease, "%d", LEASE_S);
    const char *p[2] = {lim, lease};
    if (store_query(a->app->store, Q_TAKE_ALERTS, 2, p, taken, a) == 0)
        a->outstanding++;
    else
        round_end(a, POLL_MS);
}

int alerts_start(struct app *app, struct alerts **out)
{
    *out = NULL;
    if (!app->cfg.alert_webhook_url)
        return 0;
    struct alerts *a = calloc(1, sizeof *a);
    if (!a)
        return IE_NOMEM;
    a->app = app;
    uv_timer_init(app->loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, round_start, POLL_MS, 0);
    *out = a;
    return 0;
}

static void closed(uv_handle_t *h)
{
    struct alerts *a = h->data;
    a->timer_closed = true;
    round_end(a, 0);
}

void alerts_stop(struct alerts *a)
{
    if (!a)
        return;
    a->stopping = true;
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, closed);
}
