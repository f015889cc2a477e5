/* Writing HTTP responses: status lines and headers, the server's own problem+json errors, the
 * write requests that carry them and what follows a written response (next request, linger). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "http_internal.h"
#include "http_server.h"
#include "log.h"

#define OUT_HEAD_MAX 65536 /* status line + headers of one response */

/* One uv_write of a response (or of a 100 Continue); the bytes follow it in the same allocation. */
struct wreq {
    uv_write_t req;
    struct conn *conn;
    int final; /* the response (not an interim 100 Continue) */
    size_t len;
    char data[];
};

/* ---- status lines and headers ---------------------------------------------------------- */

static const struct {
    int status;
    const char *text;
} reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

static const char *reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].text;
    return status < 200   ? "Informational"
           : status < 400 ? "OK"
           : status < 500 ? "Client Error"
                          : "Server Error";
}

static const char *http_date(struct http_server *srv)
{
    time_t now = time(NULL);
    if (now != srv->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(srv->date, sizeof srv->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        srv->date_sec = now;
    }
    return srv->date;
}

/* ---- writing ---------------------------------------------------------------------------- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = container_of(req, struct conn, shut);
    if (status < 0)
        http_conn_close_now(c);
}

/* After a closing response: half-close our side, then discard input until the client closes,
 * so unread request bytes do not turn our close into a reset that destroys the response. */
static void linger(struct conn *c)
{
    if (c->peer_eof) {
        http_conn_close_now(c);
        return;
    }
    http_conn_change_state(c, CS_LINGER);
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown)) {
        http_conn_close_now(c);
        return;
    }
    http_conn_start_reading(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = container_of(req, struct wreq, req);
    struct conn *c = w->conn;
    int final = w->final;
    free(w);
    if (c->state == CS_CLOSING)
        return;
    if (status < 0) {
        http_conn_close_now(c);
        return;
    }
    if (!final)
        return;
    if (c->close_after) {
        linger(c);
        return;
    }
    http_conn_change_state(c, CS_IDLE);
    c->head_fed = 0;
    http_conn_process(c);
}

/* Queues len bytes (copied). On failure the connection is closed. */
void http_queue_write(struct conn *c, const char *a, size_t alen, const char *b, size_t blen,
                      int final)
{
    struct wreq *w = malloc(sizeof *w + alen + blen);
    if (!w) {
        http_conn_close_now(c);
        return;
    }
    w->conn = c;
    w->final = final;
    w->len = alen + blen;
    memcpy(w->data, a, alen);
    if (blen)
        memcpy(w->data + alen, b, blen);
    uv_buf_t ub = uv_buf_init(w->data, (unsigned)w->len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_write)) {
        free(w);
        http_conn_close_now(c);
    }
}

/* Status line and headers into out. */
static int build_head(struct http_server *srv, struct buf *out, int status, const char *ctype,
                      size_t len, const char *rid, int closing, int http10_keep,
                      const char *const *extra)
{
    int r =
        buf_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, reason(status), http_date(srv));
    if (!r && ctype)
        r = buf_printf(out, "Content-Type: %s\r\n", ctype);
    if (!r && status != 204 && status >= 200)
        r = buf_printf(out, "Content-Length: %zu\r\n", len);
    if (!r)
        r = buf_printf(out, "X-Request-ID: %s\r\n", rid);
    for (size_t i = 0; !r && extra && extra[i]; i++) {
        if (strpbrk(extra[i], "\r\n") || !strchr(extra[i], ':')) {
            log_ctx(LOG_WARN, rid, NULL, "http: dropped malformed response header");
            continue;
        }
        r = buf_printf(out, "%s\r\n", extra[i]);
    }
    if (!r && closing)
        r = buf_puts(out, "Connection: close\r\n");
    else if (!r && http10_keep)
        r = buf_puts(out, "Connection: keep-alive\r\n");
    if (!r)
        r = buf_puts(out, "\r\n");
    return r;
}

/* Answers a request the server itself rejects (problem+json) and closes after it. detail is a
 * constant of ours or of http_parser, with nothing that needs JSON escaping. */
void http_send_error(struct conn *c, int status, const char *detail)
{
    struct http_server *srv = c->srv;
    struct http_exchange *ex = c->ex;
    char rid[sizeof ex->req.request_id], body[512];
    if (c->state == CS_CLOSING)
        return; /* the exchange, if any, is released in the close callback */
    if (ex && ex->req.request_id[0])
        memcpy(rid, ex->req.request_id, sizeof rid);
    else
        http_gen_rid(srv, rid);
    int n = snprintf(body, sizeof body,
                     "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d,\"detail\":\"%s\"}",
                     reason(status), status, detail);
    size_t blen = n < 0 ? 0 : (size_t)n >= sizeof body ? sizeof body - 1 : (size_t)n;
    struct buf head;
    buf_init(&head, OUT_HEAD_MAX);
    c->close_after = 1;
    http_conn_change_state(c, CS_WRITING);
    if (build_head(srv, &head, status, "application/problem+json", blen, rid, 1, 0, NULL)) {
        buf_free(&head);
        http_conn_close_now(c);
        goto out;
    }
    http_queue_write(c, head.data, head.len, body, blen, 1);
    buf_free(&head);
out:
    log_ctx(LOG_INFO, rid, NULL,
            "http request method=%s path=%.256s status=%d duration_ms=%.3f peer=%s detail=%s",
            ex && ex->req.method[0] ? ex->req.method : "-", ex && ex->req.path ? ex->req.path : "-",
            status, ex ? (double)(uv_hrtime() - ex->start_ns) / 1e6 : 0.0, c->peer, detail);
    if (ex) {
        c->ex = NULL;
        http_exchange_free(ex);
    }
}

/* ---- public ----------------------------------------------------------------------------- */

void http_respond(struct http_exchange *ex, int status, const char *content_type, const char *body,
                  size_t len, const char *const *extra_headers)
{
    struct http_server *srv = ex->srv;
    struct conn *c = ex->conn;
    struct buf head;
    buf_init(&head, OUT_HEAD_MAX);
    double ms = (double)(uv_hrtime() - ex->start_ns) / 1e6;
    if (status < 100 || status > 999 || len > UINT32_MAX - OUT_HEAD_MAX) {
        log_ctx(LOG_ERROR, ex->req.request_id, NULL, "http: bad response (status %d, %zu bytes)",
                status, len);
        status = 500;
        len = 0;
    }
    srv->inflight--;
    if (!c || c->state == CS_CLOSING) {
        log_ctx(LOG_INFO, ex->req.request_id, NULL,
                "http request method=%s path=%.256s status=%d duration_ms=%.3f peer=%s "
                "client gone, response discarded",
                ex->req.method, ex->req.path, status, ms, ex->peer);
        if (c)
            c->ex = NULL;
        http_exchange_free(ex);
        if (!c)
            http_maybe_finish(srv);
        return;
    }
    int closing =
        !ex->keep_alive || srv->stopping || c->close_after || (c->peer_eof && c->in.len == 0);
    c->close_after = closing;
    int nobody = ex->head_only || status == 204 || status == 304 || status < 200;
    if (build_head(srv, &head, status, content_type, len, ex->req.request_id, closing,
                   ex->http10 && !closing, extra_headers)) {
        log_ctx(LOG_ERROR, ex->req.request_id, NULL, "http: response head too large");
        http_conn_change_state(c, CS_WRITING);
        http_conn_close_now(c);
    } else {
        http_conn_change_state(c, CS_WRITING);
        http_queue_write(c, head.data, head.len, body, nobody ? 0 : len, 1);
    }
    log_ctx(LOG_INFO, ex->req.request_id, NULL,
            "http request method=%s path=%.256s status=%d duration_ms=%.3f peer=%s", ex->req.method,
            ex->req.path, status, ms, ex->peer);
    buf_free(&head);
    c->ex = NULL;
    http_exchange_free(ex);
}
