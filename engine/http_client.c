/* The outbound HTTP client: one libcurl multi handle per client, its sockets watched with
 * uv_poll_t handles and its timeout with one uv_timer_t, so every transfer runs on the loop
 * thread without blocking it. See http_client.h for the contract. */
#include "http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_MAX_HOST_CONNS     256
#define DEFAULT_MAX_TOTAL_CONNS    4096
#define DEFAULT_TIMEOUT_MS         30000
#define URL_MAX                    8192              /* longest URL accepted by http_client_send */
#define HEADERS_MAX                64                /* request header lines per request */
#define HEADER_LINE_MAX            8192              /* one request header line */
#define REQUEST_BODY_MAX           (8 * 1024 * 1024) /* request bodies we agree to copy */
#define SHORT_VALUE_MAX            256               /* Retry-After, Content-Type */
#define LOCATION_MAX               2048              /* Location */
#define ERROR_MAX                  (CURL_ERROR_SIZE + 128)
/* Finished transfers kept for the next request (see xfer_new). More than a client usually has
 * in flight against a fast vendor; a burst beyond it allocates as before. */
#define IDLE_XFERS_MAX 128

/* A response header we keep: present only when its whole value fit (a cut URL or date is worse
 * than none). */
struct hval {
    int present;
    char *value; /* points into the owning transfer's storage */
    size_t cap;
};

/* One request in flight. Owned by the client from http_client_send until its callback
 * returns. */
struct xfer {
    struct http_client *c;
    struct xfer *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    char *body; /* our copy of the request body */
    http_client_cb cb;
    void *arg;
    uint64_t start_ns;
    struct buf resp; /* the response body, capped at HTTP_CLIENT_BODY_MAX */
    int body_over;   /* the write callback refused a body past the cap */
    int body_nomem;
    struct hval retry_after, location, content_type;
    /* Kept last: a kept transfer is cleared up to here (xfer_new). These arrays are read only
     * through hvals marked present, and the error texts from their first byte. */
    struct {
        char ra[SHORT_VALUE_MAX], ct[SHORT_VALUE_MAX], loc[LOCATION_MAX];
        char curl_err[CURL_ERROR_SIZE];
        char err[ERROR_MAX];
    } text;
};

/* One socket libcurl asked us to watch. Freed in its close callback, so a pointer libcurl still
 * holds as socketp stays valid until the loop has moved past it. */
struct sock {
    uv_poll_t h;
    struct http_client *c;
    struct sock *prev, *next;
    curl_socket_t fd;
    int closing;
};

struct http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct xfer *xfers; /* in flight, doubly linked */
    struct xfer *idle;  /* finished, kept for reuse (linked through next) */
    int nidle;
    struct sock *socks; /* open poll handles, doubly linked */
    int inflight;
    int handles; /* uv handles not yet through their close callback */
    int closing;
    void (*done)(void *arg);
    void *done_arg;
    long connect_timeout_ms;
    char *ca_file;
    char *user_agent;
};

/* ---- process-wide libcurl initialisation ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void http_client_global_cleanup(void)
{
    /* Only undo an initialisation that happened; a second call is harmless for libcurl too. */
    if (global_rc == CURLE_OK) {
        curl_global_cleanup();
        global_rc = CURLE_FAILED_INIT;
    }
}

/* ---- small helpers ---- */

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static char *dup_or_null(const char *s, int *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = 1;
    return d;
}

/* A transfer for a new request, with its easy handle: a finished one if the client kept any.
 * curl_easy_init allocates and clears several kilobytes (and so does the transfer itself). With
 * glibc's malloc, which merges every freed small chunk before it serves an allocation that
 * large, that was a tenth of intentd's time under a burst of connector calls; with jemalloc (the
 * default build) a new handle costs about 1.2 us against 0.3 us for a reset one, so keeping them
 * matters for the system-allocator builds. A kept handle was curl_easy_reset, so no option of
 * its last request carries over; its connections and DNS entries belong to the multi handle
 * either way, and it has no cookie engine (CURLOPT_COOKIEFILE is never set) for reset to keep. */
static struct xfer *xfer_new(struct http_client *c)
{
    struct xfer *x = c->idle;
    if (x) {
        CURL *easy = x->easy;
        c->idle = x->next;
        c->nidle--;
        memset(x, 0, offsetof(struct xfer, text));
        x->easy = easy;
        x->text.curl_err[0] = '\0';
        x->text.err[0] = '\0';
        return x;
    }
    if (!(x = calloc(1, sizeof *x)))
        return NULL;
    if (!(x->easy = curl_easy_init())) {
        free(x);
        return NULL;
    }
    return x;
}

static void xfer_destroy(struct xfer *x)
{
    curl_easy_cleanup(x->easy);
    free(x);
}

/* Frees what the request owned; keeps the transfer and its handle for the next request if it
 * ended with a response (a handle whose transfer failed, perhaps in the middle of a name lookup,
 * is not worth the doubt) and the client is open and has room. The handle is out of the multi
 * handle by now. */
static void xfer_free(struct http_client *c, struct xfer *x, int reusable)
{
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    free(x->body);
    x->body = NULL;
    buf_free(&x->resp);
    if (reusable && !c->closing && c->nidle < IDLE_XFERS_MAX) {
        curl_easy_reset(x->easy);
        x->next = c->idle;
        c->idle = x;
        c->nidle++;
        return;
    }
    xfer_destroy(x);
}

static void free_idle(struct http_client *c)
{
    struct xfer *x;
    while ((x = c->idle)) {
        c->idle = x->next;
        c->nidle--;
        xfer_destroy(x);
    }
}

static void xfer_link(struct http_client *c, struct xfer *x)
{
    x->prev = NULL;
    x->next = c->xfers;
    if (c->xfers)
        c->xfers->prev = x;
    c->xfers = x;
    c->inflight++;
}

static void xfer_unlink(struct http_client *c, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        c->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    c->inflight--;
}

/* ---- closing and freeing the client ---- */

static void handle_gone(struct http_client *c)
{
    if (--c->handles > 0 || !c->closing)
        return;
    void (*done)(void *) = c->done;
    void *arg = c->done_arg;
    free(c->ca_file);
    free(c->user_agent);
    free(c);
    if (done)
        done(arg);
}

static void sock_closed(uv_handle_t *h)
{
    struct sock *s = container_of((uv_poll_t *)h, struct sock, h);
    struct http_client *c = s->c;
    free(s);
    handle_gone(c);
}

/* Stops watching s at once (uv_close stops the poll before returning), so libcurl may close the
 * descriptor and reuse its number for a new socket within the same tick. */
static void sock_close(struct sock *s)
{
    struct http_client *c = s->c;
    if (s->closing)
        return;
    s->closing = 1;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_close((uv_handle_t *)&s->h, sock_closed);
}

static void timer_closed(uv_handle_t *h)
{
    handle_gone(container_of((uv_timer_t *)h, struct http_client, timer));
}

/* ---- completing transfers ---- */

static void respond(struct xfer *x, enum http_outcome outcome, long status)
{
    struct http_client_resp r = {
        .outcome = outcome,
        .status = outcome == HTTP_RESPONSE ? status : 0,
        .body = "",
        .error = outcome == HTTP_RESPONSE ? NULL : x->text.err,
        .elapsed_ms = (double)(uv_hrtime() - x->start_ns) / 1e6,
    };
    if (outcome == HTTP_RESPONSE) {
        if (x->resp.data)
            r.body = x->resp.data;
        r.body_len = x->resp.len;
        r.retry_after = x->retry_after.present ? x->retry_after.value : NULL;
        r.location = x->location.present ? x->location.value : NULL;
        r.content_type = x->content_type.present ? x->content_type.value : NULL;
    }
    x->cb(x->arg, &r);
}

/* Whether libcurl never handed a byte of this request to a socket. request_size counts what the
 * first send took, the upload counter the body sent later, and pretransfer is stamped once the
 * request went out (or its first send would block): all three zero means the server cannot
 * have seen the request. This also catches libcurl's silent re-send on a new connection after a
 * reused one died: its bytes are counted, so a later connect failure is HTTP_UNKNOWN. */
static int nothing_sent(CURL *e)
{
    long req = 0;
    curl_off_t up = 0, pre = 0;
    if (curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &req) != CURLE_OK ||
        curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &up) != CURLE_OK ||
        curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK)
        return 0;
    return req == 0 && up == 0 && pre == 0;
}

static void finish(struct http_client *c, struct xfer *x, CURLcode rc)
{
    enum http_outcome outcome;
    long status = 0;
    if (rc == CURLE_OK) {
        if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
            status = 0;
        outcome = HTTP_RESPONSE;
    } else {
        /* Only "nothing left this host" makes a retry safe; every other failure, whatever its
         * code (reset, empty reply, timeout, our own body cap), may follow a request the
         * server has acted on. */
        outcome = nothing_sent(x->easy) ? HTTP_NOT_SENT : HTTP_UNKNOWN;
        if (x->body_over || rc == CURLE_FILESIZE_EXCEEDED)
            snprintf(x->text.err, sizeof x->text.err, "response body exceeds %d bytes",
                     HTTP_CLIENT_BODY_MAX);
        else if (x->body_nomem)
            snprintf(x->text.err, sizeof x->text.err, "out of memory storing the response body");
        else
            snprintf(x->text.err, sizeof x->text.err, "%s%s%s", curl_easy_strerror(rc),
                     x->text.curl_err[0] ? ": " : "", x->text.curl_err);
    }
    curl_multi_remove_handle(c->multi, x->easy);
    xfer_unlink(c, x);
    respond(x, outcome, status);
    xfer_free(c, x, rc == CURLE_OK);
}

/* Hands finished transfers to their callbacks. Stops as soon as a callback closed the client:
 * the multi handle is gone then, and the client is only waiting for its close callbacks. */
static void check_done(struct http_client *c)
{
    CURLMsg *m;
    int left;
    while (!c->closing && (m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result; /* m is invalid once the handle is removed */
        char *priv = NULL;
        if (curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv) {
            log_error("http client: finished transfer without its request");
            abort();
        }
        finish(c, (struct xfer *)(void *)priv, rc);
    }
}

static void action(struct http_client *c, curl_socket_t fd, int ev)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(c->multi, fd, ev, &running);
    if (mc != CURLM_OK)
        log_error("http client: curl_multi_socket_action: %s", curl_multi_strerror(mc));
    check_done(c);
}

/* ---- libuv -> libcurl ---- */

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock *s = container_of(h, struct sock, h);
    int ev = 0;
    if (status < 0)
        ev = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            ev |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            ev |= CURL_CSELECT_OUT;
    }
    /* s may be closed inside action(); only the client is used afterwards. */
    action(s->c, s->fd, ev);
}

static void on_timer(uv_timer_t *t)
{
    action(container_of(t, struct http_client, timer), CURL_SOCKET_TIMEOUT, 0);
}

/* ---- libcurl -> libuv (these run inside libcurl calls and must not call back into it,
 * except curl_multi_assign, which libcurl allows here) ---- */

/* A new poll handle for fd, known to libcurl as the socket's socketp. */
static struct sock *sock_open(struct http_client *c, curl_socket_t fd)
{
    struct sock *s = calloc(1, sizeof *s);
    if (!s) {
        log_error("http client: out of memory watching socket %d", (int)fd);
        return NULL;
    }
    int r = uv_poll_init_socket(c->loop, &s->h, fd);
    if (r) {
        log_error("http client: uv_poll_init_socket(%d): %s", (int)fd, uv_strerror(r));
        free(s);
        return NULL;
    }
    s->c = c;
    s->fd = fd;
    s->next = c->socks;
    if (c->socks)
        c->socks->prev = s;
    c->socks = s;
    c->handles++;
    if (curl_multi_assign(c->multi, fd, s) != CURLM_OK) {
        log_error("http client: curl_multi_assign(%d) failed", (int)fd);
        sock_close(s);
        return NULL;
    }
    return s;
}

/* Failures here are logged and reported to libcurl as success: a -1 would mark the whole multi
 * handle dead and fail every later transfer, whereas an unwatched socket only costs its own
 * transfer, which then ends at its timeout. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct http_client *c = userp;
    struct sock *s = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (s)
            sock_close(s);
        return 0;
    }
    if (c->closing)
        return 0; /* libcurl is tearing down; every poll handle is already closed */
    /* libcurl forgets socketp on REMOVE, so a closing one is never handed back; if it were,
     * a fresh handle is still safe because uv_close already stopped the old one. */
    if (!s || s->closing)
        s = sock_open(c, fd);
    if (!s)
        return 0;
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    int r = uv_poll_start(&s->h, events, on_poll);
    if (r)
        log_error("http client: uv_poll_start(%d): %s", (int)fd, uv_strerror(r));
    return 0;
}

static int on_timeout_change(CURLM *m, long timeout_ms, void *userp)
{
    struct http_client *c = userp;
    int r = 0;
    (void)m;
    if (c->closing)
        return 0;
    if (timeout_ms < 0)
        r = uv_timer_stop(&c->timer);
    else /* a 0 timeout runs on the next loop iteration, never inside http_client_send */
        r = uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    if (r)
        log_error("http client: timer: %s", uv_strerror(r)); /* see on_socket on returning -1 */
    return 0;
}

/* ---- transfer data callbacks ---- */

static size_t on_body(char *p, size_t size, size_t n, void *userp)
{
    struct xfer *x = userp;
    size_t len = size * n;
    int r = buf_append(&x->resp, p, len);
    if (r == 0)
        return len;
    if (r == IE_TOOBIG)
        x->body_over = 1;
    else
        x->body_nomem = 1;
    return 0; /* any short count makes libcurl abort with CURLE_WRITE_ERROR */
}

static void hval_set(struct hval *h, const char *v, size_t len)
{
    if (len >= h->cap) {
        h->present = 0; /* too long to keep whole */
        return;
    }
    memcpy(h->value, v, len);
    h->value[len] = '\0';
    h->present = 1;
}

static int name_is(const char *line, size_t namelen, const char *name)
{
    return strlen(name) == namelen && strncasecmp(line, name, namelen) == 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *userp)
{
    struct xfer *x = userp;
    size_t len = size * n;
    /* A status line starts a new response (after a 100 Continue, say): forget what the
     * previous one said. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        x->retry_after.present = x->location.present = x->content_type.present = 0;
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon || colon == p)
        return len;
    size_t namelen = (size_t)(colon - p);
    const char *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    if (name_is(p, namelen, "Retry-After"))
        hval_set(&x->retry_after, v, vlen);
    else if (name_is(p, namelen, "Location"))
        hval_set(&x->location, v, vlen);
    else if (name_is(p, namelen, "Content-Type"))
        hval_set(&x->content_type, v, vlen);
    return len;
}

/* ---- public API ---- */

static int check_libcurl(char *err, size_t errlen)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (!v) {
        set_err(err, errlen, "libcurl: no version information");
        return IE_INVAL;
    }
    /* Without the threaded (or c-ares) resolver, name lookups would block the loop. */
    if (!(v->features & CURL_VERSION_ASYNCHDNS)) {
        set_err(err, errlen, "libcurl was built without an asynchronous resolver");
        return IE_INVAL;
    }
    if (!(v->features & CURL_VERSION_SSL)) {
        set_err(err, errlen, "libcurl was built without TLS support");
        return IE_INVAL;
    }
    return 0;
}

int http_client_new(uv_loop_t *loop, const struct http_client_config *cfg, struct http_client **out,
                    char *err, size_t errlen)
{
    struct http_client *c = NULL;
    int rc = 0, failed = 0;
    struct http_client_config none = {0};
    *out = NULL;
    if (!cfg)
        cfg = &none;
    if (!loop || cfg->connect_timeout_ms < 0 || cfg->max_host_conns < 0 ||
        cfg->max_total_conns < 0) {
        set_err(err, errlen, "http client: negative timeout or connection limit");
        return IE_INVAL;
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        set_err(err, errlen, "curl_global_init failed");
        return IE_NOMEM;
    }
    rc = check_libcurl(err, errlen);
    if (rc)
        return rc;
    c = calloc(1, sizeof *c);
    if (!c)
        goto nomem;
    c->loop = loop;
    c->connect_timeout_ms =
        cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    c->ca_file = dup_or_null(cfg->ca_file, &failed);
    c->user_agent =
        dup_or_null(cfg->user_agent ? cfg->user_agent : "intentd/" INTENTD_VERSION, &failed);
    if (failed)
        goto nomem;
    c->multi = curl_multi_init();
    if (!c->multi)
        goto nomem;
    long host = cfg->max_host_conns ? cfg->max_host_conns : DEFAULT_MAX_HOST_CONNS;
    long total = cfg->max_total_conns ? cfg->max_total_conns : DEFAULT_MAX_TOTAL_CONNS;
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket) ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timeout_change) ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) ||
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, host) ||
        curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total) ||
        /* keep as many idle connections as we may open, so bursts reuse them */
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, total)) {
        set_err(err, errlen, "libcurl rejected a multi option");
        rc = IE_INVAL;
        goto fail;
    }
    if (uv_timer_init(loop, &c->timer)) {
        set_err(err, errlen, "uv_timer_init failed");
        rc = IE_INVAL;
        goto fail;
    }
    c->handles = 1;
    *out = c;
    return 0;
nomem:
    set_err(err, errlen, "out of memory");
    rc = IE_NOMEM;
fail:
    if (c) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        free(c->ca_file);
        free(c->user_agent);
        free(c);
    }
    return rc;
}

static int method_ok(const char *m)
{
    static const char *const ok[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; m && i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(m, ok[i]) == 0)
            return 1;
    return 0;
}

/* An absolute http(s) URL with a host, parsed by libcurl itself so the check and the transfer
 * agree on what the URL means. */
static int url_ok(const char *url)
{
    if (!url || strnlen(url, URL_MAX + 1) > URL_MAX)
        return 0;
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return 0;
    CURLU *u = curl_url();
    if (!u)
        return 0;
    char *host = NULL;
    int ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && host[0];
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* "Name: value" with a token-ish name and no line breaks (which would smuggle headers). */
static int header_ok(const char *h)
{
    if (!h)
        return 0;
    size_t len = strnlen(h, HEADER_LINE_MAX + 1);
    if (len > HEADER_LINE_MAX || strpbrk(h, "\r\n"))
        return 0;
    const char *colon = strchr(h, ':');
    if (!colon || colon == h)
        return 0;
    for (const char *p = h; p < colon; p++)
        if (*p <= ' ' || *p >= 127)
            return 0;
    return 1;
}

static int has_header(const struct http_client_req *req, const char *name)
{
    size_t nl = strlen(name);
    for (int i = 0; i < req->nheaders; i++)
        if (strncasecmp(req->headers[i], name, nl) == 0 && req->headers[i][nl] == ':')
            return 1;
    return 0;
}

static int validate(const struct http_client_req *req)
{
    if (!req || !method_ok(req->method) || !url_ok(req->url))
        return IE_INVAL;
    if (req->nheaders < 0 || req->nheaders > HEADERS_MAX || (req->nheaders && !req->headers))
        return IE_INVAL;
    for (int i = 0; i < req->nheaders; i++)
        if (!header_ok(req->headers[i]))
            return IE_INVAL;
    if ((!req->body && req->body_len) || req->body_len > REQUEST_BODY_MAX)
        return IE_INVAL;
    if (req->timeout_ms < 0)
        return IE_INVAL;
    return 0;
}

static int build_headers(struct xfer *x, const struct http_client_req *req)
{
    struct curl_slist *l;
    for (int i = 0; i < req->nheaders; i++) {
        if (!(l = curl_slist_append(x->headers, req->headers[i])))
            return IE_NOMEM;
        x->headers = l;
    }
    /* libcurl would otherwise wait up to a second for a 100 Continue before large bodies, and
     * label a body it did not type as a form. An empty value removes the header. */
    if (!has_header(req, "Expect")) {
        if (!(l = curl_slist_append(x->headers, "Expect:")))
            return IE_NOMEM;
        x->headers = l;
    }
    if (!has_header(req, "Content-Type")) {
        if (!(l = curl_slist_append(x->headers, "Content-Type:")))
            return IE_NOMEM;
        x->headers = l;
    }
    return 0;
}

static int setup_easy(struct http_client *c, struct xfer *x, const struct http_client_req *req)
{
    CURL *e = x->easy;
    long timeout = req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    int with_body = req->body_len > 0 || strcmp(req->method, "POST") == 0 ||
                    strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0;
    CURLcode r = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (r == CURLE_OK)                                                                         \
            r = curl_easy_setopt(e, opt, val);                                                     \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PRIVATE, x);
    SET(CURLOPT_NOSIGNAL, 1L);
    /* Without this, ending a transfer whose name lookup is still running joins the resolver
     * thread, blocking the loop until getaddrinfo returns; with it the thread is left to
     * finish and free itself. */
    SET(CURLOPT_QUICK_EXIT, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    /* Vendors are called directly: a proxy from the environment would also blur the line
     * between "not sent" and "sent" that callers rely on. */
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file)
        SET(CURLOPT_CAINFO, c->ca_file);
    SET(CURLOPT_TIMEOUT_MS, timeout);
    if (req->fresh_connection) {
        SET(CURLOPT_FRESH_CONNECT, 1L);
        SET(CURLOPT_FORBID_REUSE, 1L);
    }
    SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_HTTPHEADER, x->headers);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_ERRORBUFFER, x->text.curl_err);
    /* refuses an announced oversized body before reading it; on_body catches the rest */
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_CLIENT_BODY_MAX);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    /* on HTTP/2, wait for a connection to multiplex on rather than opening more */
    SET(CURLOPT_PIPEWAIT, 1L);
    if (with_body) {
        /* POSTFIELDS makes it a POST; CUSTOMREQUEST renames the method and keeps the body */
        SET(CURLOPT_POSTFIELDS, x->body ? x->body : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        if (strcmp(req->method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, req->method);
    } else if (strcmp(req->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, req->method);
    }
#undef SET
    if (r == CURLE_OUT_OF_MEMORY)
        return IE_NOMEM;
    if (r != CURLE_OK) {
        log_error("http client: curl_easy_setopt: %s", curl_easy_strerror(r));
        return IE_INVAL;
    }
    return 0;
}

int http_client_send(struct http_client *c, const struct http_client_req *req, http_client_cb cb,
                     void *arg)
{
    struct xfer *x = NULL;
    int rc;
    if (!c || !cb)
        return IE_INVAL;
    if (c->closing)
        return IE_UNAVAIL;
    rc = validate(req);
    if (rc)
        return rc;
    x = xfer_new(c);
    if (!x)
        return IE_NOMEM;
    x->c = c;
    x->cb = cb;
    x->arg = arg;
    buf_init(&x->resp, HTTP_CLIENT_BODY_MAX);
    x->retry_after = (struct hval){.value = x->text.ra, .cap = sizeof x->text.ra};
    x->location = (struct hval){.value = x->text.loc, .cap = sizeof x->text.loc};
    x->content_type = (struct hval){.value = x->text.ct, .cap = sizeof x->text.ct};
    rc = IE_NOMEM;
    if (req->body_len) {
        if (!(x->body = malloc(req->body_len)))
            goto fail;
        memcpy(x->body, req->body, req->body_len);
    }
    rc = build_headers(x, req);
    if (rc)
        goto fail;
    rc = setup_easy(c, x, req);
    if (rc)
        goto fail;
    x->start_ns = uv_hrtime();
    /* Adding only schedules work through the timer callback; nothing completes in here. */
    CURLMcode mc = curl_multi_add_handle(c->multi, x->easy);
    if (mc != CURLM_OK) {
        rc = mc == CURLM_OUT_OF_MEMORY ? IE_NOMEM : IE_INVAL;
        goto fail;
    }
    xfer_link(c, x);
    return 0;
fail:
    xfer_free(c, x, 0);
    return rc;
}

int http_client_inflight(const struct http_client *c)
{
    return c ? c->inflight : 0;
}

int http_client_idle(const struct http_client *c)
{
    return c ? c->nidle : 0;
}

void http_client_close(struct http_client *c, void (*done)(void *arg), void *arg)
{
    if (!c || c->closing)
        return;
    c->closing = 1;
    c->done = done;
    c->done_arg = arg;
    struct xfer *x;
    while ((x = c->xfers)) {
        curl_multi_remove_handle(c->multi, x->easy);
        xfer_unlink(c, x);
        snprintf(x->text.err, sizeof x->text.err, "cancelled: the HTTP client was closed");
        respond(x, HTTP_CANCELLED, 0);
        xfer_free(c, x, 0);
    }
    free_idle(c);
    /* Stop every poll before libcurl closes the descriptors of its cached connections. */
    while (c->socks)
        sock_close(c->socks);
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}
