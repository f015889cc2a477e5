/* Unit tests for the outbound HTTP client (engine/http_client.c): each test runs the client and
 * a small scripted HTTP/1.1 server (test_http_script_server.h) on one loop on the test thread, so
 * every failure the client classifies — refused, reset, empty reply, slow or oversized answers —
 * happens on demand. Every test ends by closing both and checking that the loop closes with no
 * handle left; the sanitizer and valgrind runs check that nothing leaked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "http_client.h"
#include "log.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#include "test_http_script_server.h"

#define MAX_CALLS 600

/* ---- the client side ---------------------------------------------------------------------- */

struct fx;

struct call {
    struct fx *fx;
    int calls, in_send;
    enum http_outcome outcome;
    long status;
    char body[512];
    size_t body_len;
    int has_ra, has_loc, has_ct;
    char ra[64], loc[4096], ct[128], error[512];
    double elapsed_ms;
    void (*then)(struct call *); /* runs inside the callback */
};

struct fx {
    uv_loop_t loop;
    struct srv srv;
    struct http_client *c;
    uv_timer_t guard;
    int guard_fired;
    int in_send, completed, closed;
    struct call calls[MAX_CALLS];
};

static void on_resp(void *arg, const struct http_client_resp *r)
{
    struct call *k = arg;
    k->calls++;
    k->in_send = k->fx->in_send;
    k->outcome = r->outcome;
    k->status = r->status;
    k->body_len = r->body_len;
    k->elapsed_ms = r->elapsed_ms;
    snprintf(k->body, sizeof k->body, "%s", r->body ? r->body : "(null)");
    if ((k->has_ra = r->retry_after != NULL))
        snprintf(k->ra, sizeof k->ra, "%s", r->retry_after);
    if ((k->has_loc = r->location != NULL))
        snprintf(k->loc, sizeof k->loc, "%s", r->location);
    if ((k->has_ct = r->content_type != NULL))
        snprintf(k->ct, sizeof k->ct, "%s", r->content_type);
    snprintf(k->error, sizeof k->error, "%s", r->error ? r->error : "");
    k->fx->completed++;
    if (k->then)
        k->then(k);
}

static struct fx *fx_new_cfg(const struct http_client_config *cfg)
{
    struct fx *fx = calloc(1, sizeof *fx);
    char err[256] = "";
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    srv_start(&fx->srv, &fx->loop);
    assert_int_equal(uv_timer_init(&fx->loop, &fx->guard), 0);
    assert_int_equal(http_client_new(&fx->loop, cfg, &fx->c, err, sizeof err), 0);
    assert_non_null(fx->c);
    for (int i = 0; i < MAX_CALLS; i++)
        fx->calls[i].fx = fx;
    return fx;
}

static struct fx *fx_new(void)
{
    return fx_new_cfg(NULL);
}

static int send_url(struct fx *fx, struct call *k, const char *method, const char *url,
                    const char *const *headers, int nheaders, const char *body, long timeout_ms)
{
    struct http_client_req req = {
        .method = method,
        .url = url,
        .headers = headers,
        .nheaders = nheaders,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = timeout_ms,
    };
    fx->in_send = 1;
    int r = http_client_send(fx->c, &req, on_resp, k);
    fx->in_send = 0;
    return r;
}

static void send_path(struct fx *fx, struct call *k, const char *method, const char *path,
                      long timeout_ms)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", fx->srv.port, path);
    assert_int_equal(send_url(fx, k, method, url, NULL, 0, NULL, timeout_ms), 0);
}

static void on_guard(uv_timer_t *t)
{
    container_of(t, struct fx, guard)->guard_fired = 1;
}

/* Runs the loop until n callbacks have run in all (20 s at most). */
static void wait_for(struct fx *fx, int n)
{
    assert_int_equal(uv_timer_start(&fx->guard, on_guard, 20000, 0), 0);
    while (fx->completed < n && !fx->guard_fired)
        uv_run(&fx->loop, UV_RUN_ONCE);
    uv_timer_stop(&fx->guard);
    assert_false(fx->guard_fired);
    assert_int_equal(fx->completed, n);
}

static void on_closed(void *arg)
{
    ((struct fx *)arg)->closed++;
}

/* Closes the client (unless a test did) and the server; the loop must then end on its own. */
static void fx_end(struct fx *fx)
{
    if (fx->c)
        http_client_close(fx->c, on_closed, fx);
    srv_stop(&fx->srv);
    uv_close((uv_handle_t *)&fx->guard, NULL);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(fx->closed, 1);
    for (int i = 0; i < MAX_CALLS; i++) {
        assert_true(fx->calls[i].calls <= 1);
        assert_int_equal(fx->calls[i].in_send, 0);
    }
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    free(fx);
}

static void expect_status(const struct call *k, long status)
{
    if (k->outcome != HTTP_RESPONSE)
        print_error("outcome %d: %s\n", (int)k->outcome, k->error);
    assert_int_equal(k->calls, 1);
    assert_int_equal(k->outcome, HTTP_RESPONSE);
    assert_int_equal(k->status, status);
}

static void expect_failure(const struct call *k, enum http_outcome outcome)
{
    if (k->outcome != outcome)
        print_error("outcome %d, want %d: %s\n", (int)k->outcome, (int)outcome, k->error);
    assert_int_equal(k->calls, 1);
    assert_int_equal(k->outcome, outcome);
    assert_int_equal(k->status, 0);
    assert_true(strlen(k->error) > 0);
    assert_false(k->has_ra || k->has_loc || k->has_ct);
}

/* ---- responses ---------------------------------------------------------------------------- */

static void get_round_trips_headers_and_body(void **state)
{
    struct fx *fx = fx_new();
    const char *h[] = {"X-Test: abc", "Accept: application/json"};
    char url[128];
    (void)state;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", fx->srv.port);
    assert_int_equal(send_url(fx, &fx->calls[0], "GET", url, h, 2, NULL, 0), 0);
    assert_int_equal(http_client_inflight(fx->c), 1);
    assert_int_equal(fx->calls[0].calls, 0); /* nothing completes inside send */
    wait_for(fx, 1);
    assert_int_equal(http_client_inflight(fx->c), 0);
    expect_status(&fx->calls[0], 200);
    assert_string_equal(fx->calls[0].body, "GET 0");
    assert_int_equal(fx->calls[0].body_len, 5);
    assert_true(fx->calls[0].has_ct);
    assert_string_equal(fx->calls[0].ct, "application/json");
    assert_false(fx->calls[0].has_ra || fx->calls[0].has_loc);
    assert_string_equal(fx->srv.method, "GET");
    assert_string_equal(fx->srv.path, "/echo");
    assert_non_null(strstr(fx->srv.head, "\r\nX-Test: abc\r\n"));
    assert_non_null(strstr(fx->srv.head, "\r\nAccept: application/json\r\n"));
    assert_non_null(strstr(fx->srv.head, "\r\nUser-Agent: intentd/" INTENTD_VERSION "\r\n"));
    fx_end(fx);
}

static void post_round_trips_body_and_headers(void **state)
{
    struct fx *fx = fx_new();
    const char *h[] = {"Content-Type: application/json", "Idempotency-Key: k-1"};
    char url[128];
    (void)state;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", fx->srv.port);
    assert_int_equal(send_url(fx, &fx->calls[0], "POST", url, h, 2, "{\"a\":1}", 0), 0);
    wait_for(fx, 1);
    expect_status(&fx->calls[0], 200);
    assert_string_equal(fx->calls[0].body, "POST 7");
    assert_string_equal(fx->srv.method, "POST");
    assert_int_equal(fx->srv.body_len, 7);
    assert_memory_equal(fx->srv.body, "{\"a\":1}", 7);
    assert_non_null(strstr(fx->srv.head, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(fx->srv.head, "\r\nIdempotency-Key: k-1\r\n"));
    fx_end(fx);
}

static void large_post_body_is_sent_without_waiting_for_continue(void **state)
{
    struct fx *fx = fx_new();
    size_t n = 100000;
    char *body = malloc(n + 1);
    char url[128];
    (void)state;
    assert_non_null(body);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    body[n] = '\0';
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", fx->srv.port);
    assert_int_equal(send_url(fx, &fx->calls[0], "POST", url, NULL, 0, body, 0), 0);
    free(body); /* the client keeps its own copy */
    wait_for(fx, 1);
    expect_status(&fx->calls[0], 200);
    assert_string_equal(fx->calls[0].body, "POST 100000");
    assert_null(strcasestr(fx->srv.head, "\r\nExpect:"));
    assert_null(strcasestr(fx->srv.head, "\r\nContent-Type:")); /* no invented form type */
    assert_int_equal(fx->srv.body[99999], 'a' + 99999 % 26);
    fx_end(fx);
}

static void put_patch_delete_use_their_methods(void **state)
{
    struct fx *fx = fx_new();
    char url[128];
    (void)state;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", fx->srv.port);
    assert_int_equal(send_url(fx, &fx->calls[0], "PUT", url, NULL, 0, "abc", 0), 0);
    wait_for(fx, 1);
    expect_status(&fx->calls[0], 200);
    assert_string_equal(fx->calls[0].body, "PUT 3");
    assert_int_equal(send_url(fx, &fx->calls[1], "PATCH", url, NULL, 0, "de", 0), 0);
    wait_for(fx, 2);
    assert_string_equal(fx->calls[1].body, "PATCH 2");
    assert_int_equal(send_url(fx, &fx->calls[2], "DELETE", url, NULL, 0, NULL, 0), 0);
    wait_for(fx, 3);
    assert_string_equal(fx->calls[2].body, "DELETE 0");
    assert_int_equal(send_url(fx, &fx->calls[3], "POST", url, NULL, 0, NULL, 0), 0);
    wait_for(fx, 4);
    assert_string_equal(fx->calls[3].body, "POST 0");
    assert_non_null(strcasestr(fx->srv.head, "\r\nContent-Length: 0\r\n"));
    fx_end(fx);
}

static void error_statuses_carry_location_and_retry_after(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "GET", "/status/404", 0);
    send_path(fx, &fx->calls[1], "POST", "/status/503", 0);
    wait_for(fx, 2);
    expect_status(&fx->calls[0], 404);
    assert_string_equal(fx->calls[0].body, "not here");
    assert_true(fx->calls[0].has_loc);
    assert_string_equal(fx->calls[0].loc, "/moved");
    assert_false(fx->calls[0].has_ra);
    expect_status(&fx->calls[1], 503);
    assert_true(fx->calls[1].has_ra); /* sent as "retry-after" */
    assert_string_equal(fx->calls[1].ra, "7");
    assert_true(fx->calls[1].has_ct); /* sent as "CONTENT-TYPE" */
    assert_string_equal(fx->calls[1].ct, "text/plain");
    assert_true(http_retry_after_seconds(fx->calls[1].ra, 0) == 7);
    fx_end(fx);
}

static void redirect_is_returned_not_followed(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "GET", "/redirect", 0);
    wait_for(fx, 1);
    expect_status(&fx->calls[0], 302);
    assert_string_equal(fx->calls[0].loc, "/echo");
    assert_string_equal(fx->calls[0].body, "");
    assert_int_equal(fx->calls[0].body_len, 0);
    assert_int_equal(fx->srv.requests, 1);
    fx_end(fx);
}

static void interim_response_headers_are_forgotten(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "GET", "/interim", 0);
    wait_for(fx, 1);
    expect_status(&fx->calls[0], 200);
    assert_string_equal(fx->calls[0].body, "final");
    assert_false(fx->calls[0].has_ra);
    assert_string_equal(fx->calls[0].ct, "text/plain");
    fx_end(fx);
}

static void overlong_header_value_is_dropped(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "GET", "/long-location", 0);
    wait_for(fx, 1);
    expect_status(&fx->calls[0], 200);
    assert_false(fx->calls[0].has_loc);
    assert_string_equal(fx->calls[0].ct, "text/plain");
    fx_end(fx);
}

static void delayed_answer_within_timeout_arrives(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "GET", "/delay", 3000);
    wait_for(fx, 1);
    expect_status(&fx->calls[0], 200);
    assert_string_equal(fx->calls[0].body, "late");
    fx_end(fx);
}

static void body_of_exactly_the_cap_is_accepted(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "GET", "/exact", 0);
    wait_for(fx, 1);
    expect_status(&fx->calls[0], 200);
    assert_int_equal(fx->calls[0].body_len, HTTP_CLIENT_BODY_MAX);
    fx_end(fx);
}

/* ---- failures before anything was sent ---------------------------------------------------- */

static int unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd); /* bound, never listening: connecting is refused */
    return ntohs(a.sin_port);
}

static void refused_connection_is_not_sent(void **state)
{
    struct fx *fx = fx_new();
    char url[128];
    (void)state;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", unused_port());
    assert_int_equal(send_url(fx, &fx->calls[0], "POST", url, NULL, 0, "payload", 0), 0);
    wait_for(fx, 1);
    expect_failure(&fx->calls[0], HTTP_NOT_SENT);
    assert_non_null(strstr(fx->calls[0].error, "connect"));
    fx_end(fx);
}

static void unresolvable_host_is_not_sent(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    /* .invalid never resolves (RFC 6761); a resolver that fails or times out is "not sent"
     * either way, and the failure names the lookup. How long the lookup took is not checked:
     * that depends on the machine's resolver, not on the client. */
    assert_int_equal(
        send_url(fx, &fx->calls[0], "POST", "http://intentd-test.invalid/x", NULL, 0, "p", 2000),
        0);
    wait_for(fx, 1);
    expect_failure(&fx->calls[0], HTTP_NOT_SENT);
    if (!strstr(fx->calls[0].error, "resolv") && !strstr(fx->calls[0].error, "Resolv"))
        print_error("error: %s\n", fx->calls[0].error);
    assert_true(strstr(fx->calls[0].error, "resolv") || strstr(fx->calls[0].error, "Resolv"));
    fx_end(fx);
}

static void tls_handshake_failure_is_not_sent(void **state)
{
    struct fx *fx = fx_new();
    char url[128];
    (void)state;
    snprintf(url, sizeof url, "https://127.0.0.1:%d/x", fx->srv.port);
    assert_int_equal(send_url(fx, &fx->calls[0], "POST", url, NULL, 0, "payload", 5000), 0);
    wait_for(fx, 1);
    expect_failure(&fx->calls[0], HTTP_NOT_SENT);
    assert_int_equal(fx->srv.requests, 0);
    fx_end(fx);
}

/* A listener whose accept queue is full drops new SYNs, so connecting hangs. */
static void connect_timeout_is_not_sent(void **state)
{
    struct http_client_config cfg = {.connect_timeout_ms = 300};
    struct fx *fx = fx_new_cfg(&cfg);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), filler = socket(AF_INET, SOCK_STREAM, 0);
    char url[128];
    (void)state;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof a), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    assert_int_equal(send_url(fx, &fx->calls[0], "POST", url, NULL, 0, "payload", 5000), 0);
    wait_for(fx, 1);
    expect_failure(&fx->calls[0], HTTP_NOT_SENT);
    assert_non_null(strstr(fx->calls[0].error, "imeout"));
    close(filler);
    close(lfd);
    fx_end(fx);
}

/* ---- failures after the request went out ------------------------------------------------- */

static void reset_after_request_is_unknown(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "POST", "/reset", 0);
    wait_for(fx, 1);
    expect_failure(&fx->calls[0], HTTP_UNKNOWN);
    assert_int_equal(fx->srv.requests, 1);
    fx_end(fx);
}

static void close_before_reading_is_unknown(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    fx->srv.mode = ACCEPT_CLOSE;
    send_path(fx, &fx->calls[0], "POST", "/x", 0);
    wait_for(fx, 1);
    expect_failure(&fx->calls[0], HTTP_UNKNOWN);
    assert_int_equal(fx->srv.accepted, 1);
    fx_end(fx);
}

static void timeout_after_send_is_unknown(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "POST", "/hang", 300);
    wait_for(fx, 1);
    expect_failure(&fx->calls[0], HTTP_UNKNOWN);
    assert_non_null(strstr(fx->calls[0].error, "imeout"));
    assert_int_equal(fx->srv.requests, 1);
    fx_end(fx);
}

static void slow_body_past_timeout_is_unknown(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "GET", "/slow", 250);
    wait_for(fx, 1);
    expect_failure(&fx->calls[0], HTTP_UNKNOWN);
    fx_end(fx);
}

static void announced_body_over_cap_is_unknown(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "GET", "/huge-length", 0);
    wait_for(fx, 1);
    expect_failure(&fx->calls[0], HTTP_UNKNOWN);
    assert_non_null(strstr(fx->calls[0].error, "response body exceeds 1048576 bytes"));
    fx_end(fx);
}

static void streamed_body_over_cap_is_unknown(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "GET", "/huge-chunked", 0);
    wait_for(fx, 1);
    expect_failure(&fx->calls[0], HTTP_UNKNOWN);
    assert_non_null(strstr(fx->calls[0].error, "response body exceeds 1048576 bytes"));
    fx_end(fx);
}

/* ---- concurrency, closing and re-entry ---------------------------------------------------- */

static void many_concurrent_requests_reuse_connections(void **state)
{
    struct http_client_config cfg = {.max_host_conns = 16};
    struct fx *fx = fx_new_cfg(&cfg);
    int n = 500;
    (void)state;
    for (int i = 0; i < n; i++)
        send_path(fx, &fx->calls[i], i % 2 ? "POST" : "GET", "/ok", 0);
    assert_int_equal(http_client_inflight(fx->c), n);
    wait_for(fx, n);
    for (int i = 0; i < n; i++) {
        expect_status(&fx->calls[i], 200);
        assert_string_equal(fx->calls[i].body, "ok");
    }
    assert_int_equal(fx->srv.requests, n);
    assert_true(fx->srv.accepted <= 16);
    assert_int_equal(http_client_inflight(fx->c), 0);
    fx_end(fx);
}

/* A finished transfer serves the next request; nothing of the last request comes with it: not
 * its method, headers, body, timeout or fresh-connection demand, nor its response's headers. */
static void kept_transfers_carry_nothing_over(void **state)
{
    struct fx *fx = fx_new();
    const char *h[] = {"X-Test: first", "Content-Type: application/json"};
    char url[128];
    struct http_client_req fresh = {.method = "GET"};
    (void)state;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", fx->srv.port);
    assert_int_equal(http_client_idle(fx->c), 0);
    send_path(fx, &fx->calls[0], "POST", "/status/503", 0);
    wait_for(fx, 1);
    expect_status(&fx->calls[0], 503);
    assert_true(fx->calls[0].has_ra && fx->calls[0].has_ct);
    assert_int_equal(http_client_idle(fx->c), 1);
    assert_int_equal(send_url(fx, &fx->calls[1], "DELETE", url, h, 2, "xyz", 0), 0);
    assert_int_equal(http_client_idle(fx->c), 0); /* the kept one was taken */
    wait_for(fx, 2);
    assert_string_equal(fx->calls[1].body, "DELETE 3");
    assert_non_null(strstr(fx->srv.head, "\r\nX-Test: first\r\n"));
    /* a GET without headers on the same kept transfer: no method, header or body of the DELETE */
    assert_int_equal(send_url(fx, &fx->calls[2], "GET", url, NULL, 0, NULL, 0), 0);
    wait_for(fx, 3);
    assert_string_equal(fx->calls[2].body, "GET 0");
    assert_null(strstr(fx->srv.head, "X-Test"));
    assert_null(strcasestr(fx->srv.head, "Content-Length"));
    assert_false(fx->calls[2].has_ra);
    assert_string_equal(fx->calls[2].ct, "application/json");
    /* a request that demanded a fresh connection leaves none of that behind */
    fresh.url = url;
    fresh.fresh_connection = 1;
    fx->in_send = 1;
    assert_int_equal(http_client_send(fx->c, &fresh, on_resp, &fx->calls[3]), 0);
    fx->in_send = 0;
    wait_for(fx, 4);
    int accepted = fx->srv.accepted;
    send_path(fx, &fx->calls[4], "GET", "/ok", 0);
    wait_for(fx, 5);
    expect_status(&fx->calls[4], 200);
    assert_int_equal(fx->srv.accepted, accepted); /* a cached connection, not a fresh one */
    /* a request whose transfer failed does not come back to be reused */
    send_path(fx, &fx->calls[5], "GET", "/reset", 0);
    wait_for(fx, 6);
    assert_int_equal(fx->calls[5].outcome, HTTP_UNKNOWN);
    assert_int_equal(http_client_idle(fx->c), 0);
    fx_end(fx);
}

/* A burst keeps at most 128 finished transfers, and close frees them (the sanitizer and valgrind
 * runs see to that). */
static void kept_transfers_are_bounded(void **state)
{
    struct fx *fx = fx_new();
    int n = 300;
    (void)state;
    for (int i = 0; i < n; i++)
        send_path(fx, &fx->calls[i], "GET", "/ok", 0);
    wait_for(fx, n);
    for (int i = 0; i < n; i++)
        expect_status(&fx->calls[i], 200);
    assert_int_equal(http_client_idle(fx->c), 128);
    fx_end(fx);
}

/* With one connection allowed, each finished transfer closes its socket and the next queued one
 * opens a new socket inside the same libcurl call, usually with the same descriptor number: the
 * poll handle for the old one must be closed before the new one is set up. */
static void sockets_replaced_within_one_tick(void **state)
{
    struct http_client_config cfg = {.max_host_conns = 1};
    struct fx *fx = fx_new_cfg(&cfg);
    int n = 20;
    (void)state;
    for (int i = 0; i < n; i++)
        send_path(fx, &fx->calls[i], "GET", "/close", 0);
    wait_for(fx, n);
    for (int i = 0; i < n; i++) {
        expect_status(&fx->calls[i], 200);
        assert_string_equal(fx->calls[i].body, "closed");
    }
    assert_int_equal(fx->srv.accepted, n);
    fx_end(fx);
}

struct closer {
    uv_timer_t t;
    struct fx *fx;
    int completed_when_returned;
};

static void try_send_while_closing(struct call *k)
{
    struct http_client_req req = {.method = "GET", .url = "http://127.0.0.1:1/"};
    assert_int_equal(http_client_send(k->fx->c, &req, on_resp, k), IE_UNAVAIL);
}

static void close_now(uv_timer_t *t)
{
    struct closer *cl = container_of(t, struct closer, t);
    http_client_close(cl->fx->c, on_closed, cl->fx);
    cl->completed_when_returned = cl->fx->completed;
    assert_int_equal(cl->fx->closed, 0); /* handles close later */
    cl->fx->c = NULL;
    uv_close((uv_handle_t *)t, NULL);
}

static void close_cancels_requests_in_flight(void **state)
{
    struct fx *fx = fx_new();
    struct closer cl = {.fx = fx};
    int n = 20;
    (void)state;
    for (int i = 0; i < n; i++) {
        send_path(fx, &fx->calls[i], "POST", i % 2 ? "/hang" : "/delay", 0);
        fx->calls[i].then = try_send_while_closing;
    }
    assert_int_equal(uv_timer_init(&fx->loop, &cl.t), 0);
    assert_int_equal(uv_timer_start(&cl.t, close_now, 50, 0), 0);
    wait_for(fx, n);
    assert_int_equal(cl.completed_when_returned, n);
    for (int i = 0; i < n; i++)
        expect_failure(&fx->calls[i], HTTP_CANCELLED);
    fx_end(fx);
}

static void close_with_nothing_in_flight_calls_done_later(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    http_client_close(fx->c, on_closed, fx);
    fx->c = NULL;
    assert_int_equal(fx->closed, 0);
    fx_end(fx);
}

static void close_from_a_callback(struct call *k)
{
    http_client_close(k->fx->c, on_closed, k->fx);
    k->fx->c = NULL;
}

static void close_inside_a_callback_cancels_the_rest(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    send_path(fx, &fx->calls[0], "GET", "/ok", 0);
    send_path(fx, &fx->calls[1], "GET", "/hang", 0);
    send_path(fx, &fx->calls[2], "GET", "/hang", 0);
    fx->calls[0].then = close_from_a_callback;
    wait_for(fx, 3);
    expect_status(&fx->calls[0], 200);
    expect_failure(&fx->calls[1], HTTP_CANCELLED);
    expect_failure(&fx->calls[2], HTTP_CANCELLED);
    fx_end(fx);
}

static void send_again(struct call *k)
{
    struct fx *fx = k->fx;
    int next = (int)(k - fx->calls) + 1;
    if (next < 3)
        send_path(fx, &fx->calls[next], "GET", "/ok", 0);
}

static void callback_may_send_the_next_request(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    for (int i = 0; i < 3; i++)
        fx->calls[i].then = send_again;
    send_path(fx, &fx->calls[0], "GET", "/ok", 0);
    wait_for(fx, 3);
    for (int i = 0; i < 3; i++)
        expect_status(&fx->calls[i], 200);
    assert_int_equal(fx->srv.accepted, 1); /* one kept-alive connection served all three */
    fx_end(fx);
}

static void send_fresh(struct call *k)
{
    struct fx *fx = k->fx;
    int next = (int)(k - fx->calls) + 1;
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", fx->srv.port);
    struct http_client_req req = {
        .method = "POST", .url = url, .body = "x", .body_len = 1, .fresh_connection = true};
    if (next < 3)
        assert_int_equal(http_client_send(fx->c, &req, on_resp, &fx->calls[next]), 0);
}

/* A call whose repeat the vendor would not notice never rides a reused connection (on which
 * libcurl may silently send it twice). */
static void fresh_connection_requests_never_reuse_one(void **state)
{
    struct fx *fx = fx_new();
    (void)state;
    for (int i = 0; i < 3; i++)
        fx->calls[i].then = send_fresh;
    send_path(fx, &fx->calls[0], "GET", "/ok", 0);
    wait_for(fx, 3);
    for (int i = 0; i < 3; i++)
        expect_status(&fx->calls[i], 200);
    assert_int_equal(fx->srv.accepted, 3);
    fx_end(fx);
}

/* ---- argument checks ---------------------------------------------------------------------- */

static void invalid_requests_are_rejected_without_callback(void **state)
{
    struct fx *fx = fx_new();
    struct call *k = &fx->calls[0];
    char ok[128];
    const char *crlf[] = {"X-A: b\r\nX-Evil: 1"};
    const char *nocolon[] = {"X-A b"};
    const char *noname[] = {": b"};
    const char *space[] = {"X A: b"};
    (void)state;
    snprintf(ok, sizeof ok, "http://127.0.0.1:%d/ok", fx->srv.port);
    assert_int_equal(send_url(fx, k, "TRACE", ok, NULL, 0, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "get", ok, NULL, 0, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, NULL, ok, NULL, 0, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", NULL, NULL, 0, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", "ftp://127.0.0.1/x", NULL, 0, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", "file:///etc/passwd", NULL, 0, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", "http://", NULL, 0, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", "/relative", NULL, 0, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", "http://a b/", NULL, 0, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", ok, crlf, 1, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", ok, nocolon, 1, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", ok, noname, 1, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", ok, space, 1, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", ok, NULL, 1, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", ok, NULL, -1, NULL, 0), IE_INVAL);
    assert_int_equal(send_url(fx, k, "GET", ok, NULL, 0, NULL, -5), IE_INVAL);
    char *long_url = malloc(9000);
    assert_non_null(long_url);
    memcpy(long_url, ok, strlen(ok));
    memset(long_url + strlen(ok), 'a', 9000 - strlen(ok) - 1);
    long_url[8999] = '\0';
    assert_int_equal(send_url(fx, k, "GET", long_url, NULL, 0, NULL, 0), IE_INVAL);
    free(long_url);
    struct http_client_req nobody = {.method = "POST", .url = ok, .body_len = 3};
    assert_int_equal(http_client_send(fx->c, &nobody, on_resp, k), IE_INVAL);
    struct http_client_req huge = {.method = "POST", .url = ok, .body = ok, .body_len = 1u << 30};
    assert_int_equal(http_client_send(fx->c, &huge, on_resp, k), IE_INVAL);
    struct http_client_req good = {.method = "GET", .url = ok};
    assert_int_equal(http_client_send(fx->c, &good, NULL, k), IE_INVAL);
    assert_int_equal(http_client_send(fx->c, NULL, on_resp, k), IE_INVAL);
    assert_int_equal(http_client_inflight(fx->c), 0);
    /* the loop has nothing of ours to run: no callback is pending */
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(k->calls, 0);
    fx_end(fx);
}

static void bad_config_is_rejected(void **state)
{
    uv_loop_t loop;
    struct http_client *c = (struct http_client *)&loop; /* must be reset to NULL */
    char err[128] = "";
    struct http_client_config neg_host = {.max_host_conns = -1};
    struct http_client_config neg_timeout = {.connect_timeout_ms = -1};
    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(http_client_new(&loop, &neg_host, &c, err, sizeof err), IE_INVAL);
    assert_null(c);
    assert_true(strlen(err) > 0);
    err[0] = '\0';
    assert_int_equal(http_client_new(&loop, &neg_timeout, &c, err, sizeof err), IE_INVAL);
    assert_true(strlen(err) > 0);
    assert_int_equal(http_client_new(NULL, NULL, &c, err, sizeof err), IE_INVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- Retry-After -------------------------------------------------------------------------- */

static void retry_after_values_parse(void **state)
{
    /* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example) */
    const double t0 = 784111777;
    static const struct {
        const char *v;
        double now, want;
    } cases[] = {
        {"120", 0, 120},
        {"  0 ", 0, 0},
        {"86400", 0, 86400},
        {"86401", 0, 86400},
        {"99999999999999999999999999", 0, 86400},
        {"Sun, 06 Nov 1994 08:49:37 GMT", t0 - 30, 30},
        {"Sunday, 06-Nov-94 08:49:37 GMT", t0 - 30, 30},
        {"Sun Nov  6 08:49:37 1994", t0 - 30, 30},
        {"Sun, 06 Nov 1994 08:49:37 GMT", t0 + 30, 0},     /* in the past */
        {"Mon, 07 Nov 1994 08:49:37 GMT", t0 - 10, 86400}, /* a day and more: capped */
        {"Thu, 01 Jan 1970 00:00:00 GMT", 0, 0},
        {"Wed, 29 Feb 2024 12:00:00 GMT", 1709208000 - 5, 5},    /* leap day */
        {"Sat, 31 Dec 2039 23:59:60 GMT", 2208988800 - 1, 1},    /* leap second: next midnight */
        {"Friday, 01-Jan-38 00:00:00 GMT", 2145916800 - 60, 60}, /* 2038, not 1938 */
        {"Friday, 01-Jan-99 00:00:00 GMT", 915148800 - 60, 60},  /* 1999 seen from 1998 */
        {"", 0, -1},
        {"   ", 0, -1},
        {"-5", 0, -1},
        {"+5", 0, -1},
        {"5.5", 0, -1},
        {"12abc", 0, -1},
        {"soon", 0, -1},
        {"Sun, 06 Nov 1994 08:49:37 UTC", 0, -1},
        {"Sun, 06 Nov 1994 08:49:37 GMT extra", 0, -1},
        {"Sun, 6 Nov 1994 08:49:37 GMT", 0, -1},
        {"Sun, 31 Nov 1994 08:49:37 GMT", 0, -1},
        {"Sun, 29 Feb 2023 08:49:37 GMT", 0, -1},
        {"Sun, 06 Nov 1994 24:00:00 GMT", 0, -1},
        {"Sun, 06 Nov 1994 08:60:00 GMT", 0, -1},
        {"Sun, 06 Foo 1994 08:49:37 GMT", 0, -1},
        {"Sunday, 06 Nov 1994 08:49:37 GMT", 0, -1},
        {"Sun Nov 6 08:49:37 1994", 0, -1},
        {"Sun, 06 Nov 1994 08:49:37 GMT                                                    x", 0,
         -1},
    };
    (void)state;
    assert_true(http_retry_after_seconds(NULL, 0) == -1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = http_retry_after_seconds(cases[i].v, cases[i].now);
        if (got != cases[i].want)
            print_error("\"%s\": got %g, want %g\n", cases[i].v, got, cases[i].want);
        assert_true(got == cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_round_trips_headers_and_body),
        cmocka_unit_test(post_round_trips_body_and_headers),
        cmocka_unit_test(large_post_body_is_sent_without_waiting_for_continue),
        cmocka_unit_test(put_patch_delete_use_their_methods),
        cmocka_unit_test(error_statuses_carry_location_and_retry_after),
        cmocka_unit_test(redirect_is_returned_not_followed),
        cmocka_unit_test(interim_response_headers_are_forgotten),
        cmocka_unit_test(overlong_header_value_is_dropped),
        cmocka_unit_test(delayed_answer_within_timeout_arrives),
        cmocka_unit_test(body_of_exactly_the_cap_is_accepted),
        cmocka_unit_test(fresh_connection_requests_never_reuse_one),
        cmocka_unit_test(refused_connection_is_not_sent),
        cmocka_unit_test(unresolvable_host_is_not_sent),
        cmocka_unit_test(tls_handshake_failure_is_not_sent),
        cmocka_unit_test(connect_timeout_is_not_sent),
        cmocka_unit_test(reset_after_request_is_unknown),
        cmocka_unit_test(close_before_reading_is_unknown),
        cmocka_unit_test(timeout_after_send_is_unknown),
        cmocka_unit_test(slow_body_past_timeout_is_unknown),
        cmocka_unit_test(announced_body_over_cap_is_unknown),
        cmocka_unit_test(streamed_body_over_cap_is_unknown),
        cmocka_unit_test(many_concurrent_requests_reuse_connections),
        cmocka_unit_test(sockets_replaced_within_one_tick),
        cmocka_unit_test(kept_transfers_carry_nothing_over),
        cmocka_unit_test(kept_transfers_are_bounded),
        cmocka_unit_test(close_cancels_requests_in_flight),
        cmocka_unit_test(close_with_nothing_in_flight_calls_done_later),
        cmocka_unit_test(close_inside_a_callback_cancels_the_rest),
        cmocka_unit_test(callback_may_send_the_next_request),
        cmocka_unit_test(invalid_requests_are_rejected_without_callback),
        cmocka_unit_test(bad_config_is_rejected),
        cmocka_unit_test(retry_after_values_parse),
    };
    int rc;
    signal(SIGPIPE, SIG_IGN); /* the server writes to sockets the client has reset */
    log_set_level(getenv("HTTP_TEST_LOG") ? LOG_DEBUG : LOG_WARN);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return rc;
}
