/* HTTP/1.1 server on libuv with http_parser: keep-alive, bounded requests, timeouts, a
 * connection limit and graceful shutdown. It knows sockets and HTTP framing only; routing and
 * meaning belong to the handler (api.c). */
#ifndef INTENTD_HTTP_SERVER_H
#define INTENTD_HTTP_SERVER_H

#include <stddef.h>
#include <uv.h>

#include "errors.h"

#define HTTP_MAX_HEAD    16384   /* request line + headers; past it: 431 */
#define HTTP_MAX_BODY    1048576 /* body; past it: 413 */
#define HTTP_MAX_HEADERS 64      /* header count; past it: 431 */

struct http_server;
struct http_exchange;

struct http_header {
    char *name;  /* lower-cased */
    char *value; /* leading/trailing whitespace trimmed */
};

/* A parsed request. Owned by its exchange; valid until http_respond() is called. */
struct http_request {
    char method[16]; /* "GET", "POST", … */
    char *path;      /* raw path without the query, e.g. "/v1/intents/ai_1" */
    char *query;     /* raw query string without '?', or NULL */
    struct http_header *headers;
    int nheaders;
    char *body; /* NUL-terminated (the NUL is not counted); "" when absent */
    size_t body_len;
    char request_id[80]; /* X-Request-ID from the client when sane (<=64 chars of
                            [A-Za-z0-9._:-]), else generated */
    const char *peer;    /* textual peer address */
};

/* Called once per complete request, on the loop thread. The handler must call http_respond()
 * exactly once for the exchange, now or later (asynchronously). If the client goes away first,
 * the exchange stays valid until http_respond() is called, which then discards the answer. */
typedef void (*http_handler_fn)(void *arg, struct http_exchange *ex,
                                const struct http_request *req);

/* A zero (or negative max_connections) field takes the default shown. */
struct http_server_config {
    const char *listen;         /* "host:port"; port 0 picks a free one */
    int max_connections;        /* accepted at once; over it new connections get 503 and close
                                   (default 1024) */
    unsigned header_timeout_ms; /* first byte to end of headers (default 10000) */
    unsigned idle_timeout_ms;   /* keep-alive idle (default 60000) */
    unsigned body_timeout_ms;   /* end of headers to end of body (default 30000) */
};

/* Binds and starts listening. Returns 0 and *out, IE_NOMEM, IE_INVAL (bad address), IE_IO (bind
 * or listen failed: errbuf says why). On error nothing is left to release (in the unlikely case
 * that libuv refuses an already-listening socket, the handle is released on the loop's next
 * run). */
int http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
                      http_handler_fn handler, void *arg, struct http_server **out, char *errbuf,
                      size_t errlen) IE_MUST_CHECK;

/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *srv);

/* Number of exchanges whose handler has not yet responded. */
int http_server_inflight(const struct http_server *srv);

/* Number of open connections, counting ones being refused (503) or closed. */
int http_server_connections(const struct http_server *srv);

/* Graceful stop: closes the listener, closes idle connections (and ones whose request is still
 * arriving), lets in-flight exchanges answer (with Connection: close), then closes everything and
 * frees the server; cb (may be NULL) runs when the last handle is closed and the last exchange
 * has been released by http_respond() (an exchange whose client went away still counts until
 * then). The handler is never called after this. A second call does nothing. srv must not be
 * used after cb has run. */
void http_server_stop(struct http_server *srv, void (*cb)(void *arg), void *arg);

/* Returns a request header value (name in lower case) or NULL. */
const char *http_header_get(const struct http_request *req, const char *name);

/* Sends the response for an exchange and releases the exchange. body may be NULL when len is 0;
 * it is copied. extra_headers is NULL or a NULL-terminated array of "Name: value" strings
 * (copied). Content-Length, Date, Connection and X-Request-ID are added by the server
 * (no Content-Length and no body for 1xx and 204, as RFC 9110 requires; a HEAD request gets the
 * length but no body). A status outside 100..999 is logged and sent as 500. */
void http_respond(struct http_exchange *ex, int status, const char *content_type, const char *body,
                  size_t len, const char *const *extra_headers);

/* The request id of an exchange (for logs made after the request is gone). */
const char *http_exchange_request_id(const struct http_exchange *ex);

#endif
