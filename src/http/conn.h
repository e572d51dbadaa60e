/* conn.h: one client connection (private to http/): socket reads into the parser, response
 * bytes out through uv_write (what one loop iteration writes goes out in one write), the
 * per-connection timer (header, body-gap, keep-alive idle, linger), and the lingering close
 * that lets a client read our last response. */
#ifndef CG_HTTP_CONN_H
#define CG_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "http/exchange.h"
#include "http/parser.h"
#include "util/buf.h"
#include "util/gather.h"

struct cg_server;

enum cg_conn_state {
    CG_CONN_IDLE,     /* between requests */
    CG_CONN_READING,  /* part of a request has arrived */
    CG_CONN_HANDLING, /* a request is being answered */
    CG_CONN_LINGER,   /* response sent, write side shut, discarding input until EOF */
    CG_CONN_CLOSING,  /* handles closing */
};

struct cg_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    struct cg_server *server;
    struct cg_conn *prev;
    struct cg_conn *next;
    struct cg_parser parser;
    struct cg_exchange *ex; /* the request being answered; the connection holds a reference */
    struct cg_buf pending;  /* bytes that arrived while `ex` was being answered */
    struct cg_gather out;   /* response bytes written this loop iteration, not yet sent */
    struct cg_conn *out_prev; /* on the server's list of connections with `out` to send */
    struct cg_conn *out_next;
    bool out_listed;
    enum cg_conn_state state;
    int handles_open;
    bool reading;
    bool in_dispatch;   /* inside the router: a finished response is handled on return */
    bool response_done; /* the sink's done callback fired for `ex` */
    bool rejected;      /* over the connection cap: gets 503 and is closed */
    bool timer_is_deferral; /* the timer is a zero-delay "continue after response" */
    bool shutting;      /* uv_shutdown issued */
    bool failed;        /* a write failed or the client was dropped: closes when the loop
                         * unwinds, and writes until then are discarded */
    uint64_t requests;
    uint64_t request_started_ms; /* monotonic: the first byte of the request being read */
};

/* Accepts a pending connection from the server's listener. `rejected` connections get a 503
 * and are closed. If the accept itself fails the connection is already closing; either way the
 * server links it and learns of its end through cg_server_conn_closed. */
struct cg_conn *cg_conn_accept(struct cg_server *s, bool rejected);

/* Server stop: closes the connection now if it is idle or mid-request, else marks the current
 * response as the last one. */
void cg_conn_stop(struct cg_conn *c);

/* Server stop, grace period over: abort the in-flight response (handlers end streams in-band). */
void cg_conn_abort(struct cg_conn *c);

/* Sends what every connection wrote in this loop iteration (the server's prepare and check
 * handles call it, before the loop polls and after the I/O callbacks ran). */
void cg_conn_flush_all(struct cg_server *s);
/* Closes immediately, aborting any response in flight. Only from a fresh stack (a libuv
 * callback of this connection or the server); code that may run under a handler, such as a
 * write, marks the connection failed instead. */
void cg_conn_close(struct cg_conn *c);

#endif
