/* Private to the HTTP server (http_server.c and http_response.c), not part of the public API in
 * http_server.h: the server, connection and exchange structs and the functions each file calls
 * on the other. */
#ifndef INTENTD_HTTP_INTERNAL_H
#define INTENTD_HTTP_INTERNAL_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "buf.h"
#include "http_server.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define READ_SIZE 65536 /* one read from a socket */

/* IDLE: between requests. HEAD: request line and headers arriving. BODY: body arriving.
 * HANDLER: the handler has the exchange. WRITING: a response is being written. LINGER: the last
 * response is written and our side shut down; input is discarded until EOF. CLOSING: uv_close()
 * called, memory released in the close callback. */
enum conn_state { CS_IDLE, CS_HEAD, CS_BODY, CS_HANDLER, CS_WRITING, CS_LINGER, CS_CLOSING };

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    http_handler_fn handler;
    void *arg;
    int max_connections;
    unsigned header_timeout_ms, idle_timeout_ms, body_timeout_ms;
    int port;
    struct conn *conns; /* every live connection, doubly linked */
    int nconns;         /* live connections, including rejected and closing ones */
    int nactive;        /* live connections not rejected for the connection limit */
    int inflight;       /* exchanges handed to the handler and not yet responded */
    int stopping, listener_closed;
    void (*stop_cb)(void *arg);
    void *stop_arg;
    uint64_t rng; /* fallback when getrandom() would block */
    time_t date_sec;
    char date[40];
    char rbuf[READ_SIZE]; /* shared: libuv calls alloc_cb and read_cb back to back */
};

struct conn {
    struct http_server *srv;
    struct conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    enum conn_state state;
    int pending_closes;
    int reading, peer_eof, close_after, rejected, msg_ready;
    int err_status; /* set by a parser callback that fails the request */
    const char *err_detail;
    http_parser parser;
    struct buf in;            /* received, not yet parsed */
    size_t head_fed;          /* bytes given to the parser since the current request began */
    struct http_exchange *ex; /* request being read or handled; NULL between requests */
    char peer[64];
};

enum last_cb { LAST_NONE, LAST_URL, LAST_FIELD, LAST_VALUE };

struct http_exchange {
    struct http_server *srv;
    struct conn *conn; /* NULL once the client is gone */
    struct http_request req;
    int dispatched, keep_alive, http10, head_only;
    uint64_t start_ns;
    struct buf head; /* url and header strings, NUL-separated */
    struct buf body;
    enum last_cb last;
    size_t url_off;
    int nh;
    size_t hname[HTTP_MAX_HEADERS], hval[HTTP_MAX_HEADERS];
    char nul[1];
    char peer[64];
};

/* ---- connections and requests (http_server.c) ---- */

/* Moves c to state to (aborting on a transition the table does not allow) and restarts its
 * timer with that state's timeout (none for HANDLER; CLOSING leaves the timer to the close). */
void http_conn_change_state(struct conn *c, enum conn_state to);

/* Closes the connection now (does nothing when it is already CLOSING); its memory, and its
 * exchange unless the handler still has it, are released in the close callback. */
void http_conn_close_now(struct conn *c);

/* Resumes reading unless the client has sent EOF or the connection is closing; closes the
 * connection when libuv refuses. */
void http_conn_start_reading(struct conn *c);

/* Parses buffered input: dispatches the next complete request, answers a malformed one, or
 * waits for more. Called after a response has been written, to serve pipelined requests. */
void http_conn_process(struct conn *c);

/* Frees an exchange and everything it owns. */
void http_exchange_free(struct http_exchange *ex);

/* Once the server is stopping and the listener, every connection and every exchange are gone,
 * frees the server and runs http_server_stop's callback; srv must not be used afterwards. */
void http_maybe_finish(struct http_server *srv);

/* Writes a fresh request id (32 hex digits and a NUL) into out; never blocks. */
void http_gen_rid(struct http_server *srv, char *out);

/* ---- writing responses (http_response.c) ---- */

/* Queues alen bytes of a and blen of b (both copied; b may be NULL when blen is 0) as one write.
 * final marks the response itself, as opposed to an interim 100 Continue: once it is written the
 * connection goes back to IDLE and parses the next request, or lingers and closes. On failure
 * the connection is closed. */
void http_queue_write(struct conn *c, const char *a, size_t alen, const char *b, size_t blen,
                      int final);

/* Answers a request the server itself rejects with a problem+json body, closes after it, logs
 * it and frees the connection's exchange (if any). detail is a constant of ours or of
 * http_parser, with nothing that needs JSON escaping. Does nothing on a CLOSING connection. */
void http_send_error(struct conn *c, int status, const char *detail);

#endif
