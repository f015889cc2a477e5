/* HTTP/1.1 server on libuv with http_parser; see http_server.h. Each connection is a small state
 * machine (enum conn_state, moved only by http_conn_change_state()) that reads into one bounded
 * input buffer, parses one request at a time and writes one response at a time, so pipelined
 * requests are answered in order and a client that does not read cannot make us buffer without
 * bound. This file accepts, reads and parses; http_response.c writes the answers. */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "http_internal.h"
#include "log.h"

#define IN_MAX                    65536 /* unparsed input kept per connection (pipelined requests) */
#define LINGER_MS                 2000 /* after a closing response: read and discard until EOF or this */
#define DEFAULT_MAX_CONNECTIONS   1024
#define DEFAULT_HEADER_TIMEOUT_MS 10000
#define DEFAULT_IDLE_TIMEOUT_MS   60000
#define DEFAULT_BODY_TIMEOUT_MS   30000
#define RID_MAX                   64

static const char *const state_names[] = {"IDLE",    "HEAD",   "BODY",   "HANDLER",
                                          "WRITING", "LINGER", "CLOSING"};

/* allowed[from] is a bit set of the states reachable from it. */
#define B(s) (1u << (s))
static const unsigned allowed[] = {
    [CS_IDLE] = B(CS_HEAD) | B(CS_WRITING) | B(CS_CLOSING),
    [CS_HEAD] = B(CS_BODY) | B(CS_WRITING) | B(CS_CLOSING),
    [CS_BODY] = B(CS_HANDLER) | B(CS_WRITING) | B(CS_CLOSING),
    [CS_HANDLER] = B(CS_WRITING) | B(CS_CLOSING),
    [CS_WRITING] = B(CS_IDLE) | B(CS_LINGER) | B(CS_CLOSING),
    [CS_LINGER] = B(CS_CLOSING),
    [CS_CLOSING] = 0,
};
#undef B

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void on_timer(uv_timer_t *t);

/* ---- small helpers ---------------------------------------------------------------------- */

static int rid_sane(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > RID_MAX)
        return 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '-'))
            return 0;
    }
    return 1;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 32 hex digits of fresh randomness; never blocks (GRND_NONBLOCK, else the seeded PRNG). */
void http_gen_rid(struct http_server *srv, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[16];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        uint64_t a = splitmix64(&srv->rng), b = splitmix64(&srv->rng);
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[32] = '\0';
}

/* ---- connection state ------------------------------------------------------------------- */

void http_conn_change_state(struct conn *c, enum conn_state to)
{
    struct http_server *srv = c->srv;
    if (!(allowed[c->state] & (1u << to))) {
        log_error("http: illegal connection state change %s -> %s", state_names[c->state],
                  state_names[to]);
        abort();
    }
    c->state = to;
    uint64_t ms = 0;
    switch (to) {
    case CS_IDLE:
        ms = srv->idle_timeout_ms;
        break;
    case CS_HEAD:
        ms = srv->header_timeout_ms;
        break;
    case CS_BODY:
        ms = srv->body_timeout_ms;
        break;
    case CS_WRITING:
        ms = srv->idle_timeout_ms;
        break; /* a client that stops reading */
    case CS_LINGER:
        ms = LINGER_MS;
        break;
    case CS_HANDLER: /* the handler's own deadlines apply */
    case CS_CLOSING:
        break;
    }
    if (to == CS_CLOSING)
        return;
    uv_timer_stop(&c->timer);
    if (ms)
        uv_timer_start(&c->timer, on_timer, ms, 0);
}

void http_exchange_free(struct http_exchange *ex)
{
    buf_free(&ex->head);
    buf_free(&ex->body);
    free(ex->req.headers);
    free(ex);
}

void http_maybe_finish(struct http_server *srv)
{
    if (!srv->stopping || !srv->listener_closed || srv->nconns || srv->inflight)
        return;
    void (*cb)(void *) = srv->stop_cb;
    void *arg = srv->stop_arg;
    free(srv);
    if (cb)
        cb(arg);
}

static void on_conn_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->pending_closes)
        return;
    struct http_server *srv = c->srv;
    if (c->ex) {
        if (c->ex->dispatched)
            c->ex->conn = NULL; /* http_respond() will discard and free it */
        else
            http_exchange_free(c->ex);
    }
    buf_free(&c->in);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    if (!c->rejected)
        srv->nactive--;
    free(c);
    http_maybe_finish(srv);
}

void http_conn_close_now(struct conn *c)
{
    if (c->state == CS_CLOSING)
        return;
    http_conn_change_state(c, CS_CLOSING);
    c->pending_closes = 2;
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
    uv_close((uv_handle_t *)&c->timer, on_conn_close);
}

static void stop_reading(struct conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = h->data;
    size_t n = READ_SIZE;
    (void)suggested;
    if (c->state != CS_LINGER && !(c->state == CS_WRITING && c->close_after) &&
        IN_MAX - c->in.len < n)
        n = IN_MAX - c->in.len;
    *b = uv_buf_init(c->srv->rbuf, (unsigned)n);
}

void http_conn_start_reading(struct conn *c)
{
    if (c->reading || c->peer_eof || c->state == CS_CLOSING)
        return;
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r) {
        http_conn_close_now(c);
        return;
    }
    c->reading = 1;
}

/* ---- parsing ---------------------------------------------------------------------------- */

static int fail(struct conn *c, int status, const char *detail)
{
    c->err_status = status;
    c->err_detail = detail;
    return -1; /* not 1 or 2: on_headers_complete gives those a meaning (skip body, upgrade) */
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;
    struct http_exchange *ex = calloc(1, sizeof *ex);
    if (!ex)
        return fail(c, 503, "out of memory");
    ex->srv = c->srv;
    ex->conn = c;
    ex->start_ns = uv_hrtime();
    buf_init(&ex->head, HTTP_MAX_HEAD);
    buf_init(&ex->body, HTTP_MAX_BODY);
    memcpy(ex->peer, c->peer, sizeof ex->peer);
    c->ex = ex;
    http_conn_change_state(c, CS_HEAD);
    return 0;
}

/* Starts a new NUL-separated token in the head buffer when the callback kind changes. */
static int token(struct conn *c, enum last_cb kind, const char *at, size_t len)
{
    struct http_exchange *ex = c->ex;
    if (c->state == CS_BODY)
        return 0; /* chunked trailers: ignored; the head buffer must not move any more */
    if (ex->last != kind) {
        if (ex->last != LAST_NONE && buf_append(&ex->head, "", 1))
            return fail(c, 431, "request head too large");
        if (kind == LAST_URL) {
            ex->url_off = ex->head.len;
        } else if (kind == LAST_FIELD) {
            if (ex->nh == HTTP_MAX_HEADERS)
                return fail(c, 431, "too many header fields");
            ex->hname[ex->nh] = ex->head.len;
            ex->hval[ex->nh++] = SIZE_MAX;
        } else {
            ex->hval[ex->nh - 1] = ex->head.len;
        }
        ex->last = kind;
    }
    if (buf_append(&ex->head, at, len))
        return fail(c, 431, "request head too large");
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    return token(p->data, LAST_URL, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    return token(p->data, LAST_FIELD, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    return token(p->data, LAST_VALUE, at, len);
}

/* Resolves offsets into pointers: lower-cased names, trimmed values, path and query. */
static int finish_head(struct conn *c)
{
    struct http_exchange *ex = c->ex;
    struct http_request *req = &ex->req;
    if (buf_append(&ex->head, "", 1))
        return fail(c, 431, "request head too large");
    char *base = ex->head.data;
    if (ex->nh) {
        req->headers = calloc((size_t)ex->nh, sizeof *req->headers);
        if (!req->headers)
            return fail(c, 503, "out of memory");
    }
    for (int i = 0; i < ex->nh; i++) {
        char *name = base + ex->hname[i];
        char *val = ex->hval[i] == SIZE_MAX ? ex->nul : base + ex->hval[i];
        for (char *s = name; *s; s++)
            if (*s >= 'A' && *s <= 'Z')
                *s = (char)(*s - 'A' + 'a');
        while (*val == ' ' || *val == '\t')
            val++;
        size_t vl = strlen(val);
        while (vl && (val[vl - 1] == ' ' || val[vl - 1] == '\t'))
            val[--vl] = '\0';
        req->headers[i].name = name;
        req->headers[i].value = val;
    }
    req->nheaders = ex->nh;

    char *url = base + ex->url_off;
    if (url[0] == '/' || strcmp(url, "*") == 0) {
        req->path = url;
        url[strcspn(url, "#")] = '\0';
        char *q = strchr(url, '?');
        if (q) {
            *q = '\0';
            req->query = q + 1;
        }
    } else { /* absolute-form or authority-form */
        struct http_parser_url u;
        http_parser_url_init(&u);
        size_t ul = strlen(url);
        if (http_parser_parse_url(url, ul, c->parser.method == HTTP_CONNECT, &u))
            return fail(c, 400, "malformed request target");
        if (u.field_set & (1 << UF_QUERY)) {
            req->query = url + u.field_data[UF_QUERY].off;
            req->query[u.field_data[UF_QUERY].len] = '\0';
        }
        if (u.field_set & (1 << UF_PATH)) {
            req->path = url + u.field_data[UF_PATH].off;
            req->path[u.field_data[UF_PATH].len] = '\0';
        } else {
            req->path = (char *)"/";
        }
    }
    snprintf(req->method, sizeof req->method, "%s", http_method_str(c->parser.method));
    const char *rid = http_header_get(req, "x-request-id");
    if (rid && rid_sane(rid))
        snprintf(req->request_id, sizeof req->request_id, "%s", rid);
    else
        http_gen_rid(c->srv, req->request_id);
    req->peer = ex->peer;
    ex->http10 = c->parser.http_major == 1 && c->parser.http_minor == 0;
    ex->head_only = c->parser.method == HTTP_HEAD;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    int r = finish_head(c);
    if (r)
        return r;
    int chunked = (p->flags & F_CHUNKED) != 0;
    int has_len = (p->flags & F_CONTENTLENGTH) != 0;
    if (has_len && p->content_length > HTTP_MAX_BODY)
        return fail(c, 413, "request body exceeds 1048576 bytes");
    const char *expect = http_header_get(&c->ex->req, "expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0)
            return fail(c, 417, "only 100-continue is supported");
        if (p->http_major == 1 && p->http_minor >= 1 &&
            (chunked || (has_len && p->content_length > 0))) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            http_queue_write(c, cont, sizeof cont - 1, NULL, 0, 0);
            if (c->state == CS_CLOSING)
                return -1;
        }
    }
    http_conn_change_state(c, CS_BODY);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    int r = buf_append(&c->ex->body, at, len);
    if (r == IE_TOOBIG)
        return fail(c, 413, "request body exceeds 1048576 bytes");
    if (r)
        return fail(c, 503, "out of memory");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->msg_ready = 1;
    c->ex->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    http_parser_pause(p, 1); /* one request at a time; the rest stays in c->in */
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void dispatch(struct conn *c)
{
    struct http_server *srv = c->srv;
    struct http_exchange *ex = c->ex;
    c->msg_ready = 0;
    if (srv->stopping) { /* the handler is never called after http_server_stop() */
        http_conn_close_now(c);
        return;
    }
    ex->req.body = ex->body.data ? ex->body.data : ex->nul;
    ex->req.body_len = ex->body.len;
    ex->dispatched = 1;
    srv->inflight++;
    http_conn_change_state(c, CS_HANDLER);
    srv->handler(srv->arg, ex, &ex->req);
}

/* Feeds buffered input to the parser until a request is complete, input runs out, or the
 * request fails; then dispatches, answers the failure, or waits for more. */
void http_conn_process(struct conn *c)
{
    struct buf *in = &c->in;
    size_t off = 0;
    while (!c->msg_ready && off < in->len &&
           (c->state == CS_IDLE || c->state == CS_HEAD || c->state == CS_BODY)) {
        size_t feed = in->len - off;
        int in_head = c->state == CS_IDLE || c->state == CS_HEAD;
        if (in_head && feed > HTTP_MAX_HEAD - c->head_fed)
            feed = HTTP_MAX_HEAD - c->head_fed; /* the head limit is exact: never feed past it */
        size_t n = http_parser_execute(&c->parser, &settings, in->data + off, feed);
        off += n;
        if (in_head)
            c->head_fed += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (c->state == CS_CLOSING)
            return;
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
        } else if (e != HPE_OK) {
            int st = c->err_status ? c->err_status : e == HPE_HEADER_OVERFLOW ? 431 : 400;
            http_send_error(c, st, c->err_status ? c->err_detail : http_errno_description(e));
            in->len = 0;
            return;
        } else if (!c->msg_ready && (c->state == CS_IDLE || c->state == CS_HEAD) &&
                   c->head_fed >= HTTP_MAX_HEAD) {
            http_send_error(c, 431, "request head exceeds 16384 bytes");
            in->len = 0;
            return;
        } else if (!c->msg_ready && n < feed) {
            break; /* upgrade: the parser stopped; nothing more to parse here */
        }
    }
    if (off) {
        memmove(in->data, in->data + off, in->len - off);
        in->len -= off;
        in->data[in->len] = '\0';
    }
    if (c->msg_ready) {
        dispatch(c);
    } else if (c->peer_eof && c->state != CS_CLOSING) {
        http_conn_close_now(c); /* no complete request left and none can arrive */
    }
    if (c->state != CS_CLOSING && in->len < IN_MAX)
        http_conn_start_reading(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = s->data;
    if (nread == 0 || c->state == CS_CLOSING)
        return;
    if (nread < 0 && nread != UV_EOF && nread != UV_ENOBUFS) {
        http_conn_close_now(
            c); /* reset or error: a pending exchange is detached in the close callback */
        return;
    }
    if (nread == UV_ENOBUFS) {
        stop_reading(c);
        return;
    }
    if (nread == UV_EOF) {
        c->peer_eof = 1;
        stop_reading(c);
        if (c->state == CS_IDLE || c->state == CS_HEAD || c->state == CS_BODY ||
            c->state == CS_LINGER)
            http_conn_close_now(c);
        return; /* HANDLER/WRITING: answer, then close (half-closed client) */
    }
    if (c->state == CS_LINGER || (c->state == CS_WRITING && c->close_after))
        return; /* discarded */
    if (buf_append(&c->in, b->base, (size_t)nread)) {
        http_conn_close_now(c); /* cannot happen: on_alloc never hands out more than fits */
        return;
    }
    if (c->in.len >= IN_MAX) {
        log_debug("http: %s: input buffer full, reading paused", c->peer);
        stop_reading(c);
    }
    if (c->state == CS_IDLE || c->state == CS_HEAD || c->state == CS_BODY)
        http_conn_process(c);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = container_of(t, struct conn, timer);
    switch (c->state) {
    case CS_HEAD:
        http_send_error(c, 408, "request head not received in time");
        break;
    case CS_BODY:
        http_send_error(c, 408, "request body not received in time");
        break;
    case CS_IDLE:    /* keep-alive idle: close silently */
    case CS_WRITING: /* the client is not reading its response */
    case CS_LINGER:
        http_conn_close_now(c);
        break;
    case CS_HANDLER:
    case CS_CLOSING:
        break;
    }
}

/* ---- accepting -------------------------------------------------------------------------- */

static void on_connection(uv_stream_t *l, int status)
{
    struct http_server *srv = container_of(l, struct http_server, listener);
    if (status < 0) {
        log_warn("http: accept failed: %s", uv_strerror(status));
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("http: out of memory accepting a connection");
        return;
    }
    c->srv = srv;
    c->state = CS_IDLE;
    buf_init(&c->in, IN_MAX);
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->next = srv->conns;
    if (c->next)
        c->next->prev = c;
    srv->conns = c;
    srv->nconns++;
    c->rejected = srv->nactive >= srv->max_connections;
    if (!c->rejected)
        srv->nactive++;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    uv_timer_start(&c->timer, on_timer, srv->idle_timeout_ms, 0); /* born IDLE */
    if (uv_accept(l, (uv_stream_t *)&c->tcp)) {
        http_conn_close_now(c);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, host, sizeof host);
            port = ntohs(a->sin6_port);
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, host, sizeof host);
            port = ntohs(a->sin_port);
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    uv_tcp_nodelay(&c->tcp, 1);
    if (c->rejected) {
        if (srv->nconns - srv->nactive > srv->max_connections) {
            http_conn_close_now(c); /* a flood: do not spend more on answering it */
            return;
        }
        http_send_error(c, 503, "too many connections");
        return;
    }
    http_conn_start_reading(c);
}

/* Parses "host:port" or "[v6]:port". */
static int parse_listen(const char *s, struct sockaddr_storage *ss)
{
    char host[INET6_ADDRSTRLEN];
    const char *colon = strrchr(s, ':');
    if (!colon || colon[1] == '\0')
        return IE_INVAL;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host)
        return IE_INVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || port < 0 || port > 65535)
        return IE_INVAL;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return IE_INVAL;
}

static void on_listener_close(uv_handle_t *h)
{
    struct http_server *srv = container_of(h, struct http_server, listener);
    srv->listener_closed = 1;
    http_maybe_finish(srv);
}

/* ---- public ----------------------------------------------------------------------------- */

int http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
                      http_handler_fn handler, void *arg, struct http_server **out, char *errbuf,
                      size_t errlen)
{
    struct sockaddr_storage ss;
    int fd = -1, r;
    struct http_server *srv = NULL;
    if (errlen)
        errbuf[0] = '\0';
    if (!loop || !cfg || !cfg->listen || !handler || !out) {
        r = IE_INVAL;
        goto out;
    }
    memset(&ss, 0, sizeof ss);
    if (parse_listen(cfg->listen, &ss)) {
        snprintf(errbuf, errlen, "bad listen address \"%s\" (want host:port)", cfg->listen);
        r = IE_INVAL;
        goto out;
    }
    srv = calloc(1, sizeof *srv);
    if (!srv) {
        r = IE_NOMEM;
        goto out;
    }
    /* Socket, bind and listen by hand so that a failure leaves no libuv handle to close. */
    socklen_t sl =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int one = 1;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 511) ||
        getsockname(fd, (struct sockaddr *)&ss, &sl)) {
        snprintf(errbuf, errlen, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        r = IE_IO;
        goto out;
    }
    srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    srv->loop = loop;
    srv->handler = handler;
    srv->arg = arg;
    srv->max_connections =
        cfg->max_connections > 0 ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS;
    srv->header_timeout_ms =
        cfg->header_timeout_ms ? cfg->header_timeout_ms : DEFAULT_HEADER_TIMEOUT_MS;
    srv->idle_timeout_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
    srv->body_timeout_ms = cfg->body_timeout_ms ? cfg->body_timeout_ms : DEFAULT_BODY_TIMEOUT_MS;
    srv->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)srv;
    r = uv_tcp_init(loop, &srv->listener);
    if (r) {
        snprintf(errbuf, errlen, "cannot listen on %s: %s", cfg->listen, uv_strerror(r));
        r = IE_IO;
        goto out;
    }
    /* From here the listener is a live handle: failures release it through its close callback. */
    r = uv_tcp_open(&srv->listener, fd);
    if (!r) {
        fd = -1;
        r = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
    }
    if (r) {
        snprintf(errbuf, errlen, "cannot listen on %s: %s", cfg->listen, uv_strerror(r));
        srv->stopping = 1;
        uv_close((uv_handle_t *)&srv->listener, on_listener_close);
        srv = NULL;
        r = IE_IO;
        goto out;
    }
    *out = srv;
    srv = NULL;
out:
    if (fd >= 0)
        close(fd);
    free(srv);
    return r;
}

int http_server_port(const struct http_server *srv)
{
    return srv->port;
}

int http_server_inflight(const struct http_server *srv)
{
    return srv->inflight;
}

int http_server_connections(const struct http_server *srv)
{
    return srv->nconns;
}

void http_server_stop(struct http_server *srv, void (*cb)(void *arg), void *arg)
{
    if (srv->stopping)
        return;
    srv->stopping = 1;
    srv->stop_cb = cb;
    srv->stop_arg = arg;
    uv_close((uv_handle_t *)&srv->listener, on_listener_close);
    for (struct conn *c = srv->conns; c; c = c->next) {
        switch (c->state) {
        case CS_IDLE:
        case CS_HEAD:
        case CS_BODY:
            http_conn_close_now(c);
            break; /* nothing promised yet */
        case CS_HANDLER:
        case CS_WRITING:
            c->close_after = 1;
            break;
        case CS_LINGER:
        case CS_CLOSING:
            break;
        }
    }
}

const char *http_header_get(const struct http_request *req, const char *name)
{
    for (int i = 0; i < req->nheaders; i++)
        if (strcmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *http_exchange_request_id(const struct http_exchange *ex)
{
    return ex->req.request_id;
}
