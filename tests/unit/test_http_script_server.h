/* A scripted HTTP/1.1 server for the HTTP client's unit tests: plain libuv TCP on the test's
 * loop, answering each request by its path (see route()) so that delays, resets, early closes,
 * slow and oversized bodies happen on demand, and recording the last request it read. Included
 * by test_http_client.c only; it assumes cmocka and the system headers that file includes. */
#ifndef INTENTD_TEST_HTTP_SCRIPT_SERVER_H
#define INTENTD_TEST_HTTP_SCRIPT_SERVER_H

#define SRV_IN_MAX (256 * 1024)

enum accept_mode { ACCEPT_SERVE, ACCEPT_CLOSE };

struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    enum accept_mode mode;
    int accepted, requests;
    struct sconn *conns;
    /* the last request */
    char method[16], path[256];
    char head[8192];
    char body[128 * 1024];
    size_t body_len;
};

struct sconn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct srv *s;
    struct sconn *prev, *next;
    char *in;
    size_t len;
    int open_handles, closing;
    int waiting; /* an answer is pending on the timer, or never comes */
    int slow_left;
};

struct wr {
    uv_write_t req;
    struct sconn *sc;
    int close_after;
    char data[];
};

static void sconn_closed(uv_handle_t *h)
{
    struct sconn *sc = h->data;
    if (--sc->open_handles)
        return;
    free(sc->in);
    free(sc);
}

static void sconn_unlink(struct sconn *sc)
{
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        sc->s->conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
}

static void sconn_close(struct sconn *sc, int reset)
{
    if (sc->closing)
        return;
    sc->closing = 1;
    sconn_unlink(sc);
    uv_close((uv_handle_t *)&sc->timer, sconn_closed);
    if (reset && uv_tcp_close_reset(&sc->tcp, sconn_closed) == 0)
        return;
    uv_close((uv_handle_t *)&sc->tcp, sconn_closed);
}

static void wrote(uv_write_t *req, int status)
{
    struct wr *w = container_of(req, struct wr, req);
    if (status < 0 || w->close_after)
        sconn_close(w->sc, 0);
    free(w);
}

static void swrite_then(struct sconn *sc, const char *data, size_t len, int close_after)
{
    if (sc->closing)
        return;
    struct wr *w = malloc(sizeof *w + len);
    assert_non_null(w);
    w->sc = sc;
    w->close_after = close_after;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&sc->tcp, &b, 1, wrote)) {
        free(w);
        sconn_close(sc, 0);
    }
}

static void swrite(struct sconn *sc, const char *data, size_t len)
{
    swrite_then(sc, data, len, 0);
}

static void sprintf_write(struct sconn *sc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sprintf_write(struct sconn *sc, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    swrite(sc, buf, (size_t)n);
}

static void answer(struct sconn *sc, int status, const char *extra, const char *body)
{
    sprintf_write(sc, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n%s", status, strlen(body),
                  extra, body);
}

/* A body of n bytes, written in one go after the given head. */
static void answer_big(struct sconn *sc, const char *head, size_t n)
{
    size_t hl = strlen(head);
    char *b = malloc(hl + n);
    assert_non_null(b);
    memcpy(b, head, hl);
    memset(b + hl, 'x', n);
    swrite(sc, b, hl + n);
    free(b);
}

static void process(struct sconn *sc);

static void on_stimer(uv_timer_t *t)
{
    struct sconn *sc = container_of(t, struct sconn, timer);
    if (sc->slow_left > 0) {
        swrite(sc, "0123456789", 10);
        sc->slow_left -= 10;
        if (sc->slow_left > 0)
            return;
    } else {
        answer(sc, 200, "", "late");
    }
    uv_timer_stop(t);
    sc->waiting = 0;
    process(sc);
}

static void route(struct sconn *sc, const char *path)
{
    if (strcmp(path, "/echo") == 0) {
        char extra[512] = "Content-Type: application/json\r\n";
        const char *x = strcasestr(sc->s->head, "\r\nX-Test: ");
        if (x)
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "X-Seen: %.*s\r\n",
                     (int)strcspn(x + 10, "\r\n"), x + 10);
        char body[256];
        snprintf(body, sizeof body, "%s %zu", sc->s->method, sc->s->body_len);
        answer(sc, 200, extra, body);
    } else if (strcmp(path, "/status/404") == 0) {
        answer(sc, 404, "Location: /moved\r\n", "not here");
    } else if (strcmp(path, "/status/503") == 0) {
        answer(sc, 503, "retry-after: 7\r\nCONTENT-TYPE: text/plain\r\n", "busy");
    } else if (strcmp(path, "/redirect") == 0) {
        answer(sc, 302, "Location: /echo\r\n", "");
    } else if (strcmp(path, "/interim") == 0) {
        swrite(sc, "HTTP/1.1 100 Continue\r\nRetry-After: 99\r\n\r\n", 42);
        answer(sc, 200, "Content-Type: text/plain\r\n", "final");
    } else if (strcmp(path, "/long-location") == 0) {
        char extra[4200];
        memcpy(extra, "Location: /", 11);
        memset(extra + 11, 'a', 3000);
        snprintf(extra + 3011, sizeof extra - 3011, "\r\nContent-Type: text/plain\r\n");
        answer(sc, 200, extra, "ok");
    } else if (strcmp(path, "/delay") == 0) {
        sc->waiting = 1;
        uv_timer_start(&sc->timer, on_stimer, 150, 0);
    } else if (strcmp(path, "/slow") == 0) {
        sc->waiting = 1;
        sc->slow_left = 100;
        sprintf_write(sc, "HTTP/1.1 200 X\r\nContent-Length: 100\r\n\r\n");
        uv_timer_start(&sc->timer, on_stimer, 50, 50);
    } else if (strcmp(path, "/close") == 0) {
        const char *r = "HTTP/1.1 200 X\r\nConnection: close\r\nContent-Length: 6\r\n\r\nclosed";
        swrite_then(sc, r, strlen(r), 1);
        sc->waiting = 1; /* nothing more is read on this connection */
    } else if (strcmp(path, "/hang") == 0) {
        sc->waiting = 1;
    } else if (strcmp(path, "/reset") == 0) {
        sconn_close(sc, 1);
    } else if (strcmp(path, "/exact") == 0) {
        char head[128];
        snprintf(head, sizeof head, "HTTP/1.1 200 X\r\nContent-Length: %d\r\n\r\n",
                 HTTP_CLIENT_BODY_MAX);
        answer_big(sc, head, HTTP_CLIENT_BODY_MAX);
    } else if (strcmp(path, "/huge-length") == 0) {
        char head[128];
        snprintf(head, sizeof head, "HTTP/1.1 200 X\r\nContent-Length: %d\r\n\r\n",
                 2 * HTTP_CLIENT_BODY_MAX);
        answer_big(sc, head, 2 * (size_t)HTTP_CLIENT_BODY_MAX);
    } else if (strcmp(path, "/huge-chunked") == 0) {
        /* one chunk a byte past the cap: only the write callback can notice */
        char head[128];
        snprintf(head, sizeof head, "HTTP/1.1 200 X\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n",
                 HTTP_CLIENT_BODY_MAX + 1);
        answer_big(sc, head, (size_t)HTTP_CLIENT_BODY_MAX + 1);
        swrite(sc, "\r\n0\r\n\r\n", 7);
    } else {
        answer(sc, 200, "Content-Type: text/plain\r\n", "ok");
    }
}

/* Serves every complete request in the input, in order, unless one is left waiting. */
static void process(struct sconn *sc)
{
    struct srv *s = sc->s;
    while (!sc->closing && !sc->waiting) {
        if (sc->len && (unsigned char)sc->in[0] == 0x16) { /* a TLS ClientHello */
            swrite(sc, "HTTP/1.1 400 Not TLS\r\n\r\n", 24);
            sconn_close(sc, 0);
            return;
        }
        char *end = memmem(sc->in, sc->len, "\r\n\r\n", 4);
        if (!end)
            return;
        size_t hl = (size_t)(end - sc->in) + 4, cl = 0;
        assert_true(hl < sizeof s->head);
        memcpy(s->head, sc->in, hl);
        s->head[hl] = '\0';
        const char *clh = strcasestr(s->head, "\r\nContent-Length:");
        if (clh)
            cl = strtoul(clh + 17, NULL, 10);
        if (sc->len < hl + cl)
            return;
        s->requests++;
        assert_true(cl <= sizeof s->body);
        memcpy(s->body, sc->in + hl, cl);
        s->body_len = cl;
        assert_int_equal(sscanf(s->head, "%15s %255s", s->method, s->path), 2);
        memmove(sc->in, sc->in + hl + cl, sc->len - hl - cl);
        sc->len -= hl + cl;
        route(sc, s->path);
    }
}

static void salloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct sconn *sc = h->data;
    (void)hint;
    *b = uv_buf_init(sc->in + sc->len, (unsigned)(SRV_IN_MAX - sc->len));
}

static void sread(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct sconn *sc = st->data;
    (void)b;
    if (n < 0 || (n == 0 && sc->len == SRV_IN_MAX)) {
        sconn_close(sc, 0);
        return;
    }
    sc->len += (size_t)n;
    process(sc);
}

static void on_accept(uv_stream_t *l, int status)
{
    struct srv *s = container_of((uv_tcp_t *)l, struct srv, listener);
    assert_int_equal(status, 0);
    struct sconn *sc = calloc(1, sizeof *sc);
    assert_non_null(sc);
    sc->in = malloc(SRV_IN_MAX);
    assert_non_null(sc->in);
    sc->s = s;
    assert_int_equal(uv_tcp_init(s->loop, &sc->tcp), 0);
    assert_int_equal(uv_timer_init(s->loop, &sc->timer), 0);
    sc->tcp.data = sc->timer.data = sc;
    sc->open_handles = 2;
    sc->next = s->conns;
    if (s->conns)
        s->conns->prev = sc;
    s->conns = sc;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&sc->tcp), 0);
    s->accepted++;
    if (s->mode == ACCEPT_CLOSE) {
        sconn_close(sc, 0);
        return;
    }
    assert_int_equal(uv_read_start((uv_stream_t *)&sc->tcp, salloc, sread), 0);
}

static void srv_start(struct srv *s, uv_loop_t *loop)
{
    struct sockaddr_in a;
    struct sockaddr_storage got;
    int len = sizeof got;
    memset(s, 0, sizeof *s);
    s->loop = loop;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &a), 0);
    assert_int_equal(uv_tcp_init(loop, &s->listener), 0);
    assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 1024, on_accept), 0);
    assert_int_equal(uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len), 0);
    s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void srv_stop(struct srv *s)
{
    uv_close((uv_handle_t *)&s->listener, NULL);
    while (s->conns)
        sconn_close(s->conns, 0);
}

#endif
