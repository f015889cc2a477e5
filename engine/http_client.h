/* The outbound HTTP client: libcurl's multi interface driven by the libuv loop (socket and timer
 * callbacks), so thousands of calls can be in flight on one thread. Connections are reused per
 * host; TLS peers are always verified; DNS runs off the loop (libcurl's threaded resolver,
 * checked at start-up); response bodies are capped. Every request ends in exactly one callback
 * that tells a response apart from a failure before anything was sent (safe to retry) and a
 * failure after the request may have reached the server (the outcome is unknown). */
#ifndef INTENTD_HTTP_CLIENT_H
#define INTENTD_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "errors.h"

#define HTTP_CLIENT_BODY_MAX (1024 * 1024)

struct http_client;

struct http_client_config {
    long connect_timeout_ms; /* TCP + TLS handshake (0: 5000) */
    long max_host_conns;     /* connections per host (0: 256) */
    long max_total_conns;    /* connections overall (0: 4096) */
    const char *ca_file;     /* extra CA bundle (tests with a private CA), or NULL */
    const char *user_agent;  /* or NULL for "intentd/<version>" */
};

struct http_client_req {
    const char *method;         /* GET, POST, PUT, PATCH, DELETE */
    const char *url;            /* absolute http:// or https:// URL */
    const char *const *headers; /* "Name: value" lines, may be NULL */
    int nheaders;
    const char *body; /* may be NULL (no body) */
    size_t body_len;
    long timeout_ms;       /* the whole attempt, connect to last byte (0: 30000) */
    bool fresh_connection; /* open a new connection and close it after: on a reused one,
                              libcurl silently repeats a request once if the connection dies
                              before any byte of the answer, which callers whose vendor does
                              not de-duplicate must not allow */
};

enum http_outcome {
    HTTP_RESPONSE,  /* a complete response arrived: status, headers and body are set */
    HTTP_NOT_SENT,  /* failed before any byte of the request was sent (DNS, refused, TLS
                       handshake, connect timeout): the server cannot have acted on it */
    HTTP_UNKNOWN,   /* failed after the request was (perhaps partly) sent: timeout, reset,
                       empty reply, a body over HTTP_CLIENT_BODY_MAX: it may have acted */
    HTTP_CANCELLED, /* the client was closed first */
};

struct http_client_resp {
    enum http_outcome outcome;
    long status;      /* HTTP_RESPONSE only */
    const char *body; /* NUL-terminated, "" when empty; HTTP_RESPONSE only */
    size_t body_len;
    const char *retry_after; /* header values, NULL when absent */
    const char *location;
    const char *content_type;
    const char *error; /* a human-readable reason for anything but HTTP_RESPONSE */
    double elapsed_ms;
};

/* Called exactly once per request, on the loop thread, never from inside http_client_send. The
 * response and everything it points to is valid only during the callback. */
typedef void (*http_client_cb)(void *arg, const struct http_client_resp *resp);

/* Creates a client on loop. Returns 0 and *out, IE_NOMEM, or IE_INVAL (libcurl lacks an
 * asynchronous resolver or TLS: err says which). */
int http_client_new(uv_loop_t *loop, const struct http_client_config *cfg, struct http_client **out,
                    char *err, size_t errlen) IE_MUST_CHECK;

/* Starts a request. The client copies everything in req. Returns 0 (cb will run once) or
 * IE_INVAL (bad method or URL), IE_NOMEM, IE_UNAVAIL (closing): then cb never runs. */
int http_client_send(struct http_client *c, const struct http_client_req *req, http_client_cb cb,
                     void *arg) IE_MUST_CHECK;

/* Requests in flight. */
int http_client_inflight(const struct http_client *c);

/* Finished transfers the client keeps to serve later requests without allocating (at most
 * 128; for tests). */
int http_client_idle(const struct http_client *c);

/* Fails every request in flight with HTTP_CANCELLED (their callbacks run before this returns),
 * closes the handles and frees the client; done (may be NULL) runs once every handle is
 * closed. May be called from a request's callback; a second call while closing does nothing. */
void http_client_close(struct http_client *c, void (*done)(void *arg), void *arg);

/* Releases libcurl's process-wide state (curl_global_cleanup), which the first http_client_new
 * initialised once for the process. Call it at exit, after every client is closed and with no
 * other thread using libcurl. */
void http_client_global_cleanup(void);

/* Parses a Retry-After value (delta-seconds or an HTTP-date) into seconds from now_epoch;
 * returns -1 when absent or unparseable. Never negative otherwise. */
double http_retry_after_seconds(const char *value, double now_epoch);

#endif
