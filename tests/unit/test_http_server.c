/* Unit tests for the HTTP server: each test runs a real server on 127.0.0.1:0 in a libuv loop
 * on the test thread and drives it with plain blocking sockets from a client thread. The client
 * thread only records what it saw; assertions run on the test thread after it is joined, and
 * every test ends by checking that the loop closes with no handle left. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "http_server.h"
#include "log.h"

#define MAX_RESP 4

struct resp {
    int status;
    char head[8192];
    char body[8192];
    size_t body_len;
};

struct fx {
    uv_loop_t loop;
    struct http_server *srv;
    struct http_server_config cfg;
    uv_async_t done;
    uv_timer_t poll;
    int port;
    void (*client)(struct fx *);
    /* written by the client thread, read after join */
    struct resp r[MAX_RESP];
    int nresp;
    int saw_eof;
    int client_err; /* line of the first client-side failure */
    char sent_rid[128];
    /* loop side */
    atomic_int handled;
    struct http_exchange *held;
    int stop_called, stopped, stopped_before_answer;
    char seen_rid[80];
    size_t seen_body_len;
    int in_order; /* pipelined responses that matched their request */
};

struct later {
    uv_timer_t t;
    struct fx *fx;
    struct http_exchange *ex;
    const char *body;
};

/* ---- client side (runs on its own thread) ----------------------------------------------- */

struct rd {
    int fd;
    size_t len;
    char buf[1 << 17];
};

#define CFAIL(fx)                                                                                  \
    do {                                                                                           \
        if (!(fx)->client_err)                                                                     \
            (fx)->client_err = __LINE__;                                                           \
    } while (0)

static int cl_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 10};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sends(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

static int fill(struct rd *rd)
{
    if (rd->len == sizeof rd->buf)
        return -1;
    ssize_t n = recv(rd->fd, rd->buf + rd->len, sizeof rd->buf - rd->len, 0);
    if (n <= 0)
        return -1;
    rd->len += (size_t)n;
    return 0;
}

/* Value of a header in a raw response head (case-insensitive name), copied into out. */
static const char *hdr(const char *head, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p, "\r\n")) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return out;
        }
    }
    return NULL;
}

/* Reads one response into r. Returns 0, or -1 on EOF, timeout or a malformed response. */
static int read_resp(struct rd *rd, struct resp *r)
{
    char *end;
    while (!(end = memmem(rd->buf, rd->len, "\r\n\r\n", 4)))
        if (fill(rd))
            return -1;
    size_t hl = (size_t)(end - rd->buf) + 4;
    if (hl >= sizeof r->head)
        return -1;
    memcpy(r->head, rd->buf, hl);
    r->head[hl] = '\0';
    /* parsed from the terminated copy: sscanf measures its input, and the read buffer holds
     * no NUL when it is full */
    if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
        return -1;
    char cl[32];
    size_t blen = 0;
    if (hdr(r->head, "Content-Length", cl, sizeof cl))
        blen = strtoul(cl, NULL, 10);
    if (blen >= sizeof r->body)
        return -1;
    while (rd->len < hl + blen)
        if (fill(rd))
            return -1;
    memcpy(r->body, rd->buf + hl, blen);
    r->body[blen] = '\0';
    r->body_len = blen;
    memmove(rd->buf, rd->buf + hl + blen, rd->len - hl - blen);
    rd->len -= hl + blen;
    return 0;
}

/* Reads the next response into fx->r[]. */
static int next_resp(struct fx *fx, struct rd *rd)
{
    if (fx->nresp == MAX_RESP || read_resp(rd, &fx->r[fx->nresp])) {
        CFAIL(fx);
        return -1;
    }
    fx->nresp++;
    return 0;
}

/* Records whether the server closed the connection (EOF or reset, with nothing else sent). */
static void expect_eof(struct fx *fx, struct rd *rd)
{
    char c;
    ssize_t n = rd->len ? 1 : recv(rd->fd, &c, 1, 0);
    fx->saw_eof = n == 0 || (n < 0 && errno == ECONNRESET);
}

static struct rd *rd_open(struct fx *fx)
{
    struct rd *rd = calloc(1, sizeof *rd);
    if (!rd)
        return NULL;
    rd->fd = cl_connect(fx->port);
    if (rd->fd < 0) {
        free(rd);
        CFAIL(fx);
        return NULL;
    }
    return rd;
}

static void rd_close(struct rd *rd)
{
    if (rd) {
        close(rd->fd);
        free(rd);
    }
}

static void *client_main(void *arg)
{
    struct fx *fx = arg;
    fx->client(fx);
    uv_async_send(&fx->done);
    return NULL;
}

/* ---- server side (loop thread) ---------------------------------------------------------- */

static void respond_text(struct http_exchange *ex, const char *text)
{
    http_respond(ex, 200, "text/plain", text, strlen(text), NULL);
}

static void later_closed(uv_handle_t *h)
{
    free(h->data);
}

static void later_fire(uv_timer_t *t)
{
    struct later *l = t->data;
    l->fx->stopped_before_answer = l->fx->stopped;
    respond_text(l->ex, l->body);
    uv_close((uv_handle_t *)&l->t, later_closed);
}

static void answer_later(struct fx *fx, struct http_exchange *ex, const char *body)
{
    struct later *l = calloc(1, sizeof *l);
    assert_non_null(l);
    l->fx = fx;
    l->ex = ex;
    l->body = body;
    uv_timer_init(&fx->loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, later_fire, 50, 0);
}

static void on_stopped(void *arg)
{
    ((struct fx *)arg)->stopped = 1;
}

static void stop_server(struct fx *fx)
{
    if (!fx->stop_called) {
        fx->stop_called = 1;
        http_server_stop(fx->srv, on_stopped, fx);
    }
}

static void handler(void *arg, struct http_exchange *ex, const struct http_request *req)
{
    struct fx *fx = arg;
    snprintf(fx->seen_rid, sizeof fx->seen_rid, "%s", req->request_id);
    fx->seen_body_len = req->body_len;
    assert_string_equal(http_exchange_request_id(ex), req->request_id);
    if (strcmp(req->path, "/slow") == 0) {
        answer_later(fx, ex, "slow");
    } else if (strcmp(req->path, "/hold") == 0) {
        fx->held = ex;
    } else if (strcmp(req->path, "/stop") == 0) {
        stop_server(fx);
        answer_later(fx, ex, "stopped");
    } else {
        char body[256];
        snprintf(body, sizeof body, "hello %s %zu", req->path, req->body_len);
        respond_text(ex, body);
    }
    atomic_fetch_add(&fx->handled, 1);
}

static void poll_closed(uv_handle_t *h)
{
    (void)h;
}

/* Waits until the server has seen the client go, then answers the held exchange. */
static void poll_gone(uv_timer_t *t)
{
    struct fx *fx = t->data;
    if (http_server_connections(fx->srv) != 0)
        return;
    respond_text(fx->held, "too late");
    fx->held = NULL;
    uv_close((uv_handle_t *)&fx->poll, poll_closed);
    stop_server(fx);
}

static void on_client_done(uv_async_t *a)
{
    struct fx *fx = a->data;
    uv_close((uv_handle_t *)a, NULL);
    if (fx->held) {
        uv_timer_init(&fx->loop, &fx->poll);
        fx->poll.data = fx;
        uv_timer_start(&fx->poll, poll_gone, 5, 5);
        return;
    }
    stop_server(fx);
}

static struct fx *fx_new(void (*client)(struct fx *))
{
    struct fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->client = client;
    fx->cfg.listen = "127.0.0.1:0";
    fx->cfg.max_connections = 16;
    return fx;
}

/* Runs the server until the client is done and the server has stopped; checks nothing leaked. */
static void run(struct fx *fx)
{
    char err[256];
    pthread_t th;
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    assert_int_equal(http_server_start(&fx->loop, &fx->cfg, handler, fx, &fx->srv, err, sizeof err),
                     0);
    fx->port = http_server_port(fx->srv);
    assert_true(fx->port > 0);
    assert_int_equal(uv_async_init(&fx->loop, &fx->done, on_client_done), 0);
    fx->done.data = fx;
    assert_int_equal(pthread_create(&th, NULL, client_main, fx), 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(fx->stopped);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    assert_int_equal(fx->client_err, 0);
}

static int has_header(const struct resp *r, const char *name, const char *want)
{
    char v[256];
    if (!hdr(r->head, name, v, sizeof v))
        return 0;
    return !want || strcmp(v, want) == 0;
}

static void assert_problem(const struct fx *fx, const struct resp *r, int status)
{
    char want[64];
    (void)fx;
    assert_int_equal(r->status, status);
    assert_true(has_header(r, "Content-Type", "application/problem+json"));
    assert_true(has_header(r, "Connection", "close"));
    assert_true(has_header(r, "X-Request-ID", NULL));
    assert_true(has_header(r, "Date", NULL));
    snprintf(want, sizeof want, "\"status\":%d", status);
    assert_non_null(strstr(r->body, want));
    assert_non_null(strstr(r->body, "\"type\":\"about:blank\""));
}

/* ---- tests ------------------------------------------------------------------------------ */

static void c_simple_get(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "GET /hello?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"))
        next_resp(fx, rd);
    rd_close(rd);
}

static void simple_get_answers_200_with_body(void **state)
{
    struct fx *fx = fx_new(c_simple_get);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_int_equal(fx->r[0].status, 200);
    assert_string_equal(fx->r[0].body, "hello /hello 0");
    assert_true(has_header(&fx->r[0], "Content-Length", "14"));
    assert_true(has_header(&fx->r[0], "Date", NULL));
    assert_true(has_header(&fx->r[0], "X-Request-ID", NULL));
    assert_false(has_header(&fx->r[0], "Connection", NULL));
    free(fx);
}

static void c_keepalive(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "GET /one HTTP/1.1\r\nHost: t\r\n\r\n") && !next_resp(fx, rd) &&
        !sends(rd->fd, "POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"))
        next_resp(fx, rd);
    rd_close(rd);
}

static void keepalive_serves_two_requests_on_one_connection(void **state)
{
    struct fx *fx = fx_new(c_keepalive);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 2);
    assert_string_equal(fx->r[0].body, "hello /one 0");
    assert_string_equal(fx->r[1].body, "hello /two 3");
    assert_int_equal(atomic_load(&fx->handled), 2);
    free(fx);
}

static void c_pipelined(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n") &&
        !next_resp(fx, rd) && !next_resp(fx, rd) && !next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void pipelined_requests_are_answered_in_order(void **state)
{
    struct fx *fx = fx_new(c_pipelined);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 3);
    assert_string_equal(fx->r[0].body, "slow");
    assert_string_equal(fx->r[1].body, "hello /fast 0");
    assert_string_equal(fx->r[2].body, "hello /last 0");
    assert_true(has_header(&fx->r[2], "Connection", "close"));
    assert_true(fx->saw_eof);
    free(fx);
}

#define FLOOD 3000

struct flood {
    int fd;
    char *blob;
    size_t len;
};

static void *flood_send(void *arg)
{
    struct flood *f = arg;
    (void)send_all(f->fd, f->blob, f->len);
    return NULL;
}

static void c_flood(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    struct flood f;
    pthread_t th;
    if (!rd)
        return;
    f.fd = rd->fd;
    f.blob = malloc(FLOOD * 64);
    f.len = 0;
    for (int i = 0; i < FLOOD; i++)
        f.len += (size_t)sprintf(f.blob + f.len, "GET /p%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
    /* Far more than the server buffers per connection: it must stop reading and resume. */
    if (pthread_create(&th, NULL, flood_send, &f)) {
        CFAIL(fx);
    } else {
        struct resp *r = malloc(sizeof *r);
        char want[64];
        for (int i = 0; i < FLOOD && !read_resp(rd, r); i++) {
            snprintf(want, sizeof want, "hello /p%d 0", i);
            if (strcmp(r->body, want) == 0)
                fx->in_order++;
        }
        free(r);
        pthread_join(th, NULL);
    }
    free(f.blob);
    rd_close(rd);
}

static void pipelined_flood_beyond_input_buffer_is_answered_in_order(void **state)
{
    struct fx *fx = fx_new(c_flood);
    (void)state;
    run(fx);
    assert_int_equal(fx->in_order, FLOOD);
    free(fx);
}

static void c_async(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"))
        next_resp(fx, rd);
    rd_close(rd);
}

static void async_handler_can_respond_later(void **state)
{
    struct fx *fx = fx_new(c_async);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_int_equal(fx->r[0].status, 200);
    assert_string_equal(fx->r[0].body, "slow");
    free(fx);
}

static void c_big_head(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    static char req[HTTP_MAX_HEAD + 4096];
    if (!rd)
        return;
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + n, 'a', HTTP_MAX_HEAD);
    memcpy(req + n + HTTP_MAX_HEAD, "\r\n\r\n", 5);
    if (!sends(rd->fd, req) && !next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void oversized_head_gets_431_and_close(void **state)
{
    struct fx *fx = fx_new(c_big_head);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_problem(fx, &fx->r[0], 431);
    assert_true(fx->saw_eof);
    assert_int_equal(atomic_load(&fx->handled), 0);
    free(fx);
}

static void c_exact_head(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    static char req[HTTP_MAX_HEAD + 1];
    if (!rd)
        return;
    /* Request line and headers of exactly HTTP_MAX_HEAD bytes, final CRLF included. */
    int n = snprintf(req, sizeof req, "GET /exact HTTP/1.1\r\nX-Big: ");
    size_t fillc = HTTP_MAX_HEAD - (size_t)n - 4;
    memset(req + n, 'a', fillc);
    memcpy(req + n + fillc, "\r\n\r\n", 5);
    if (strlen(req) != HTTP_MAX_HEAD)
        CFAIL(fx);
    else if (!sends(rd->fd, req))
        next_resp(fx, rd);
    rd_close(rd);
}

static void head_of_exactly_the_limit_is_accepted(void **state)
{
    struct fx *fx = fx_new(c_exact_head);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_int_equal(fx->r[0].status, 200);
    assert_string_equal(fx->r[0].body, "hello /exact 0");
    free(fx);
}

static void c_many_headers(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    char req[4096];
    if (!rd)
        return;
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "X-H%d: v\r\n", i);
    snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    if (!sends(rd->fd, req) && !next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void too_many_headers_get_431(void **state)
{
    struct fx *fx = fx_new(c_many_headers);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_problem(fx, &fx->r[0], 431);
    assert_true(fx->saw_eof);
    free(fx);
}

static void c_big_length(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    /* No body is sent: the answer must come from the headers alone. */
    if (!sends(rd->fd, "POST /x HTTP/1.1\r\nHost: t\r\nX-Request-ID: big-1\r\n"
                       "Content-Length: 2000000\r\n\r\n") &&
        !next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void content_length_over_limit_gets_413_before_the_body(void **state)
{
    struct fx *fx = fx_new(c_big_length);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_problem(fx, &fx->r[0], 413);
    assert_true(has_header(&fx->r[0], "X-Request-ID", "big-1"));
    assert_true(fx->saw_eof);
    assert_int_equal(atomic_load(&fx->handled), 0);
    free(fx);
}

static void c_big_chunked(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    static char chunk[65536 + 32];
    if (!rd)
        return;
    if (sends(rd->fd, "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")) {
        CFAIL(fx);
        rd_close(rd);
        return;
    }
    int n = snprintf(chunk, sizeof chunk, "10000\r\n");
    memset(chunk + n, 'b', 65536);
    memcpy(chunk + n + 65536, "\r\n", 2);
    /* 17 x 64 KiB passes the limit; the server may stop listening at any point. */
    for (int i = 0; i < 17; i++)
        if (send_all(rd->fd, chunk, (size_t)n + 65536 + 2))
            break;
    (void)sends(rd->fd, "0\r\n\r\n");
    if (!next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void chunked_body_over_limit_gets_413(void **state)
{
    struct fx *fx = fx_new(c_big_chunked);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_problem(fx, &fx->r[0], 413);
    assert_true(fx->saw_eof);
    assert_int_equal(atomic_load(&fx->handled), 0);
    free(fx);
}

static void c_chunked(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: yes\r\n\r\n"
                       "GET /after HTTP/1.1\r\nHost: t\r\n\r\n") &&
        !next_resp(fx, rd))
        next_resp(fx, rd);
    rd_close(rd);
}

static void chunked_body_with_trailer_is_assembled(void **state)
{
    struct fx *fx = fx_new(c_chunked);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 2);
    assert_string_equal(fx->r[0].body, "hello /c 7");
    assert_string_equal(fx->r[1].body, "hello /after 0");
    free(fx);
}

static void c_garbage(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "\x01\x02 nonsense here\r\n\r\n") && !next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void garbage_gets_400_and_close(void **state)
{
    struct fx *fx = fx_new(c_garbage);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_problem(fx, &fx->r[0], 400);
    assert_true(fx->saw_eof);
    free(fx);
}

static void c_rid(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    char req[512];
    if (!rd)
        return;
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\nX-Request-ID: %s\r\n\r\n",
             fx->sent_rid);
    if (!sends(rd->fd, req))
        next_resp(fx, rd);
    rd_close(rd);
}

static void sane_request_id_is_echoed(void **state)
{
    struct fx *fx = fx_new(c_rid);
    (void)state;
    snprintf(fx->sent_rid, sizeof fx->sent_rid, "Abc-123.x:y_z");
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_true(has_header(&fx->r[0], "X-Request-ID", "Abc-123.x:y_z"));
    assert_string_equal(fx->seen_rid, "Abc-123.x:y_z");
    free(fx);
}

static void bad_request_id_is_replaced_by_a_generated_one(void **state)
{
    struct fx *fx = fx_new(c_rid);
    char v[128];
    (void)state;
    /* 65 characters: one too many. */
    snprintf(fx->sent_rid, sizeof fx->sent_rid, "%065d", 7);
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_non_null(hdr(fx->r[0].head, "X-Request-ID", v, sizeof v));
    assert_string_not_equal(v, fx->sent_rid);
    assert_int_equal(strlen(v), 32);
    assert_int_equal(strspn(v, "0123456789abcdef"), 32);
    assert_string_equal(fx->seen_rid, v);
    free(fx);
}

static void c_max_conn(struct fx *fx)
{
    struct rd *a = rd_open(fx), *b = NULL;
    if (!a)
        return;
    /* a is fully accepted once it has been answered; b is then over the limit. */
    if (!sends(a->fd, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n") && !next_resp(fx, a)) {
        b = rd_open(fx);
        if (b && !next_resp(fx, b))
            expect_eof(fx, b);
    }
    rd_close(b);
    rd_close(a);
}

static void over_max_connections_gets_503(void **state)
{
    struct fx *fx = fx_new(c_max_conn);
    (void)state;
    fx->cfg.max_connections = 1;
    run(fx);
    assert_int_equal(fx->nresp, 2);
    assert_int_equal(fx->r[0].status, 200);
    assert_problem(fx, &fx->r[1], 503);
    assert_true(fx->saw_eof);
    free(fx);
}

static void c_slowloris(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "GET / HTTP/1.1\r\nHost: t\r\n") && !next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void slow_head_gets_408_and_close(void **state)
{
    struct fx *fx = fx_new(c_slowloris);
    (void)state;
    fx->cfg.header_timeout_ms = 200;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_problem(fx, &fx->r[0], 408);
    assert_true(fx->saw_eof);
    assert_int_equal(atomic_load(&fx->handled), 0);
    free(fx);
}

static void c_disconnect(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (!rd)
        return;
    if (sends(rd->fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")) {
        CFAIL(fx);
        rd_close(rd);
        return;
    }
    /* Wait until the handler holds the exchange, then reset the connection. */
    for (int i = 0; i < 10000 && atomic_load(&fx->handled) == 0; i++)
        usleep(1000);
    if (atomic_load(&fx->handled) == 0)
        CFAIL(fx);
    setsockopt(rd->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    rd_close(rd);
}

static void client_gone_before_response_is_discarded_safely(void **state)
{
    struct fx *fx = fx_new(c_disconnect);
    (void)state;
    run(fx);
    assert_int_equal(atomic_load(&fx->handled), 1);
    assert_null(fx->held);
    free(fx);
}

static void c_stop(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "GET /stop HTTP/1.1\r\nHost: t\r\n\r\n") && !next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void graceful_stop_lets_inflight_request_answer(void **state)
{
    struct fx *fx = fx_new(c_stop);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_int_equal(fx->r[0].status, 200);
    assert_string_equal(fx->r[0].body, "stopped");
    assert_true(has_header(&fx->r[0], "Connection", "close"));
    assert_true(fx->saw_eof);
    assert_false(fx->stopped_before_answer);
    free(fx);
}

static void c_half_close(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n") && !shutdown(rd->fd, SHUT_WR) &&
        !next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void half_closed_client_still_gets_its_answer(void **state)
{
    struct fx *fx = fx_new(c_half_close);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_string_equal(fx->r[0].body, "slow");
    assert_true(fx->saw_eof);
    free(fx);
}

static void c_http10(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") && !next_resp(fx, rd) &&
        !sends(rd->fd, "GET /b HTTP/1.0\r\n\r\n") && !next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void http10_keeps_alive_only_when_asked(void **state)
{
    struct fx *fx = fx_new(c_http10);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 2);
    assert_true(has_header(&fx->r[0], "Connection", "keep-alive"));
    assert_string_equal(fx->r[1].body, "hello /b 0");
    assert_true(has_header(&fx->r[1], "Connection", "close"));
    assert_true(fx->saw_eof);
    free(fx);
}

static void c_expect(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "PUT /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                       "Content-Length: 5\r\n\r\n") &&
        !next_resp(fx, rd) && !sends(rd->fd, "12345"))
        next_resp(fx, rd);
    rd_close(rd);
}

static void expect_100_continue_is_honoured(void **state)
{
    struct fx *fx = fx_new(c_expect);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 2);
    assert_int_equal(fx->r[0].status, 100);
    assert_int_equal(fx->r[1].status, 200);
    assert_string_equal(fx->r[1].body, "hello /e 5");
    free(fx);
}

static void c_expect_other(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    if (!sends(rd->fd, "PUT /e HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n"
                       "Content-Length: 5\r\n\r\n12345") &&
        !next_resp(fx, rd))
        expect_eof(fx, rd);
    rd_close(rd);
}

static void unsupported_expectation_gets_417(void **state)
{
    struct fx *fx = fx_new(c_expect_other);
    (void)state;
    run(fx);
    assert_int_equal(fx->nresp, 1);
    assert_problem(fx, &fx->r[0], 417);
    assert_true(fx->saw_eof);
    free(fx);
}

static void c_idle(struct fx *fx)
{
    struct rd *rd = rd_open(fx);
    if (!rd)
        return;
    expect_eof(fx, rd);
    rd_close(rd);
}

static void idle_connection_is_closed_silently(void **state)
{
    struct fx *fx = fx_new(c_idle);
    (void)state;
    fx->cfg.idle_timeout_ms = 200;
    run(fx);
    assert_int_equal(fx->nresp, 0);
    assert_true(fx->saw_eof);
    free(fx);
}

static void bad_listen_address_is_rejected(void **state)
{
    uv_loop_t loop;
    struct http_server *srv = NULL;
    struct http_server_config cfg = {.listen = "nonsense"};
    char err[256];
    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(http_server_start(&loop, &cfg, handler, NULL, &srv, err, sizeof err),
                     IE_INVAL);
    assert_null(srv);
    assert_true(strlen(err) > 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_get_answers_200_with_body),
        cmocka_unit_test(keepalive_serves_two_requests_on_one_connection),
        cmocka_unit_test(pipelined_requests_are_answered_in_order),
        cmocka_unit_test(pipelined_flood_beyond_input_buffer_is_answered_in_order),
        cmocka_unit_test(async_handler_can_respond_later),
        cmocka_unit_test(oversized_head_gets_431_and_close),
        cmocka_unit_test(head_of_exactly_the_limit_is_accepted),
        cmocka_unit_test(too_many_headers_get_431),
        cmocka_unit_test(content_length_over_limit_gets_413_before_the_body),
        cmocka_unit_test(chunked_body_over_limit_gets_413),
        cmocka_unit_test(chunked_body_with_trailer_is_assembled),
        cmocka_unit_test(garbage_gets_400_and_close),
        cmocka_unit_test(sane_request_id_is_echoed),
        cmocka_unit_test(bad_request_id_is_replaced_by_a_generated_one),
        cmocka_unit_test(over_max_connections_gets_503),
        cmocka_unit_test(slow_head_gets_408_and_close),
        cmocka_unit_test(client_gone_before_response_is_discarded_safely),
        cmocka_unit_test(graceful_stop_lets_inflight_request_answer),
        cmocka_unit_test(half_closed_client_still_gets_its_answer),
        cmocka_unit_test(http10_keeps_alive_only_when_asked),
        cmocka_unit_test(expect_100_continue_is_honoured),
        cmocka_unit_test(unsupported_expectation_gets_417),
        cmocka_unit_test(idle_connection_is_closed_silently),
        cmocka_unit_test(bad_listen_address_is_rejected),
    };
    log_set_level(getenv("HTTP_TEST_LOG") ? LOG_DEBUG : LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
