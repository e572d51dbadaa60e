/* server.h: the HTTP/1.1 listener on libuv. It accepts connections up to a cap (more get 503
 * and are closed), reads requests one at a time per connection (keep-alive and pipelining),
 * enforces the header, body-gap and idle timeouts, and hands each complete request to the
 * router. cg_server_stop is the graceful stop: no new connections, idle ones closed, in-flight
 * responses given a grace period, then aborted. */
#ifndef CG_HTTP_SERVER_H
#define CG_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "http/parser.h"
#include "http/router.h"

struct cg_conn;
struct cg_server;

typedef void (*cg_server_stopped_cb)(struct cg_server *s);

struct cg_server_config {
    const char *host;
    int port; /* 0 = any free port (see cg_server.bound_port) */
    struct cg_http_limits limits;
    uint64_t header_timeout_ms;
    uint64_t body_timeout_ms; /* the whole request, however steadily it comes; 0 = no bound */
    uint64_t keepalive_timeout_ms;
    uint64_t shutdown_grace_ms;
    size_t max_connections;
    size_t client_buffer_max_bytes; /* PROXY_CLIENT_BUFFER_MAX_BYTES; 0 = no budget */
};

struct cg_server_stats {
    uint64_t connections_total;
    uint64_t connections_rejected;
    uint64_t requests_total;
    uint64_t timeouts_total;
    uint64_t bad_requests_total;
    uint64_t client_buffer_refusals_total; /* bodies refused with 503: budget full */
    uint64_t client_buffer_closes_total;   /* clients closed: their unsent output did not fit */
};

struct cg_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t grace_timer;
    struct cg_server_config cfg;
    const struct cg_router *router;
    struct cg_conn *conns; /* every open connection, including ones being closed */
    struct cg_conn *out_conns; /* connections with bytes gathered this loop iteration */
    uv_prepare_t out_prepare;  /* send them before the loop polls (writes from timers) */
    uv_check_t out_check;      /* and after the I/O callbacks ran */
    size_t conn_count;     /* connections counted against the cap */
    size_t rejected_open;  /* over-cap connections still being answered */
    int bound_port;
    bool listening;
    bool stopping;
    bool grace_expired;
    bool grace_closed;
    int handles_open;
    cg_server_stopped_cb on_stopped;
    struct cg_server_stats stats;
    struct cg_client_budget budget; /* every connection's bodies and unsent output */
};

/* Binds and listens. Returns 0 or a negative UV_E* (the reason is logged). */
int cg_server_start(struct cg_server *s, uv_loop_t *loop, const struct cg_server_config *cfg,
                    const struct cg_router *router) CG_MUST_CHECK;

/* Graceful stop; `on_stopped` runs once every connection is closed and the server's handles
 * are closed. */
void cg_server_stop(struct cg_server *s, cg_server_stopped_cb on_stopped);

/* Open client connections (not counting over-cap ones being turned away). */
size_t cg_server_connections(const struct cg_server *s);

/* For conn.c: a connection finished closing. */
void cg_server_conn_closed(struct cg_server *s, struct cg_conn *c);

/* For conn.c: out_conns is no longer empty; cg_conn_flush_all runs before the loop next polls
 * or blocks. */
void cg_server_want_flush(struct cg_server *s);

#endif
