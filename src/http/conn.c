/* conn.c: a client connection. Reads feed the parser; a complete request goes to the router
 * while later (pipelined) bytes wait in `pending`; when the response is done the next request
 * is parsed. A connection that must close shuts its write side once the response is flushed
 * and keeps reading (discarding) for a moment, so the client is not hit by a reset before it
 * has read the response. */
#include "http/conn.h"
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "core/limits.h"
#include "http/server.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#define LOG_COMPONENT "http"

/* Below this many queued bytes, pipelined requests held back for the queue are parsed. */
#define WRITE_QUEUE_LOW_BYTES (64 * 1024)
#define READ_BUFFER_BYTES (64 * 1024)
/* Writes of one loop iteration are gathered up to this much, then sent at once: a stream's
 * deltas from one worker read leave in one syscall instead of one each. Larger writes go
 * straight out. Far below WRITE_QUEUE_LOW_BYTES, so the pipelining logic, which looks at
 * libuv's queue, never waits on bytes held here. */
#define OUT_GATHER_MAX_BYTES (16 * 1024)

struct write_req {
    uv_write_t req;
    char *data;
    size_t counted; /* bytes held against the server's client budget */
};

static void process(struct cg_conn *c, const char *data, size_t len);
static void begin_linger(struct cg_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void after_response(struct cg_conn *c);

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Every timer use of a connection goes through here: once it failed, the timer is the pending
 * close and nothing may re-arm it. */
static void start_timer(struct cg_conn *c, uv_timer_cb cb, uint64_t ms)
{
    if (c->failed)
        return;
    uv_timer_start(&c->timer, cb, ms, 0);
}

static void on_failed(uv_timer_t *t)
{
    cg_conn_close(t->data);
}

/* Redis's freeClientAsync: the write (or handler) that found the connection dead may be deep
 * inside an exchange that closing would free, so the close waits for the loop to unwind. */
static void conn_fail(struct cg_conn *c)
{
    if (c->failed || c->state == CG_CONN_CLOSING)
        return;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    c->timer_is_deferral = false;
    uv_timer_start(&c->timer, on_failed, 0, 0);
    c->failed = true;
}

/* --- writes ------------------------------------------------------------------------------ */

static void on_write_done(uv_write_t *req, int status)
{
    struct write_req *wr = CG_CONTAINER_OF(req, struct write_req, req);
    struct cg_conn *c = req->data;
    cg_exchange_budget_give(&c->server->budget, wr->counted);
    free(wr->data);
    free(wr);
    if (c->state == CG_CONN_CLOSING || c->failed)
        return;
    if (status < 0) {
        conn_fail(c);
        return;
    }
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (queued < WRITE_QUEUE_LOW_BYTES && c->state == CG_CONN_IDLE && c->pending.len &&
        !c->timer_is_deferral)
        after_response(c); /* pipelined requests were held back for this queue */
}

/* Writes `data` (owned, freed here) to the socket now: what the kernel takes at once, the rest
 * through uv_write, held against the client budget until it completes. */
static void write_now(struct cg_conn *c, char *data, size_t len)
{
    uv_buf_t buf = uv_buf_init(data, (unsigned)len);
    /* Try the socket first: most responses fit, and no request object is needed then. */
    int n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (n == (int)len) {
        free(data);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        free(data);
        conn_fail(c);
        return;
    }
    size_t off = n > 0 ? (size_t)n : 0;
    size_t rest = len - off;
    if (!cg_exchange_budget_take(&c->server->budget, rest)) {
        c->server->stats.client_buffer_closes_total++;
        cg_log_warn("client %s: %zu response bytes unsent and %zu held for all clients "
                    "(PROXY_CLIENT_BUFFER_MAX_BYTES): closing it",
                    c->parser.peer, uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + rest,
                    c->server->budget.used);
        free(data);
        conn_fail(c);
        return;
    }
    struct write_req *wr = cg_xmalloc(sizeof(*wr));
    wr->data = data;
    wr->counted = rest;
    wr->req.data = c;
    buf = uv_buf_init(data + off, (unsigned)rest);
    int err = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write_done);
    if (err) {
        cg_exchange_budget_give(&c->server->budget, rest);
        free(data);
        free(wr);
        conn_fail(c);
    }
}

static void unlist_out(struct cg_conn *c)
{
    if (!c->out_listed)
        return;
    struct cg_server *s = c->server;
    if (c->out_prev)
        c->out_prev->out_next = c->out_next;
    else
        s->out_conns = c->out_next;
    if (c->out_next)
        c->out_next->out_prev = c->out_prev;
    c->out_prev = NULL;
    c->out_next = NULL;
    c->out_listed = false;
}

/* Sends what this connection gathered (before anything written after it). */
static void flush_out(struct cg_conn *c)
{
    unlist_out(c);
    if (cg_gather_is_empty(&c->out))
        return;
    if (c->state == CG_CONN_CLOSING || c->shutting || c->failed) {
        cg_gather_drop(&c->out);
        return;
    }
    size_t len = 0;
    char *data = cg_gather_take(&c->out, &len);
    write_now(c, data, len);
}

static void sink_write(void *ctx, char *data, size_t len)
{
    struct cg_conn *c = ctx;
    if (c->state == CG_CONN_CLOSING || c->shutting || c->failed) {
        free(data);
        return;
    }
    if (len > OUT_GATHER_MAX_BYTES - cg_gather_len(&c->out)) {
        flush_out(c);
        if (c->failed) {
            free(data); /* the flush found the client gone or over its budget */
            return;
        }
        if (len > OUT_GATHER_MAX_BYTES) {
            write_now(c, data, len);
            return;
        }
    }
    if (!cg_gather_add(&c->out, data, len)) {
        conn_fail(c); /* cannot happen: the buffer's cap is above OUT_GATHER_MAX_BYTES */
        return;
    }
    if (!c->out_listed) {
        struct cg_server *s = c->server;
        if (s->out_conns == NULL)
            cg_server_want_flush(s);
        c->out_next = s->out_conns;
        if (s->out_conns)
            s->out_conns->out_prev = c;
        s->out_conns = c;
        c->out_listed = true;
    }
}

void cg_conn_flush_all(struct cg_server *s)
{
    /* A write never closes its connection synchronously (conn_fail defers), so the list holds
     * while it is walked; each flush unlinks the head. */
    while (s->out_conns)
        flush_out(s->out_conns);
}

static size_t sink_queued(void *ctx)
{
    struct cg_conn *c = ctx;
    if (c->state == CG_CONN_CLOSING || c->failed)
        return 0;
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + cg_gather_len(&c->out);
}

static void on_deferred(uv_timer_t *t);

static void sink_done(void *ctx, struct cg_exchange *ex)
{
    struct cg_conn *c = ctx;
    if (ex != c->ex)
        return; /* an error exchange answered outside dispatch */
    c->response_done = true;
    if (!c->in_dispatch && c->state == CG_CONN_HANDLING) {
        /* Continue on a fresh stack: the handler that finished may still be unwinding. */
        c->timer_is_deferral = !c->failed;
        start_timer(c, on_deferred, 0);
    }
}

static void sink_close(void *ctx)
{
    conn_fail(ctx);
}

static const struct cg_sink_ops sink_ops = {sink_write, sink_queued, sink_done, sink_close};

/* --- closing ----------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    struct cg_conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    cg_parser_dispose(&c->parser);
    cg_buf_dispose(&c->pending);
    cg_gather_dispose(&c->out);
    cg_server_conn_closed(c->server, c);
    free(c);
}

void cg_conn_close(struct cg_conn *c)
{
    if (c->state == CG_CONN_CLOSING)
        return;
    c->state = CG_CONN_CLOSING;
    unlist_out(c);
    cg_gather_drop(&c->out);
    if (c->ex) {
        struct cg_exchange *ex = c->ex;
        c->ex = NULL;
        cg_exchange_abort(ex, CG_ERR_CLIENT_CLOSED);
        cg_exchange_release(ex);
    }
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_linger_timeout(uv_timer_t *t)
{
    cg_conn_close(t->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct cg_conn *c = req->data;
    if (c->state == CG_CONN_CLOSING)
        return;
    if (status < 0) {
        cg_conn_close(c);
        return;
    }
    /* Everything is written and FIN sent: give the client a moment to read it. */
    start_timer(c, on_linger_timeout, CG_LINGER_MS);
}

/* The response is queued; send FIN after it and read until EOF or the linger timeout. A client
 * that does not read what is queued gets the header timeout to do so. */
static void begin_linger(struct cg_conn *c)
{
    if (c->state == CG_CONN_CLOSING || c->state == CG_CONN_LINGER || c->failed)
        return;
    flush_out(c); /* FIN goes after every byte of the response */
    if (c->failed)
        return;
    c->state = CG_CONN_LINGER;
    c->timer_is_deferral = false;
    start_timer(c, on_linger_timeout, c->server->cfg.header_timeout_ms);
    c->shutdown_req.data = c;
    c->shutting = true;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_fail(c);
        return;
    }
    if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

/* Keeps what a client has not taken in our own queue, where PROXY_STREAM_QUEUE_MAX_BYTES and
 * the client budget see it: otherwise the kernel's autotuned send buffer (megabytes) fills
 * first, and a stalled stream holds that much kernel memory before its bound even starts. */
static void limit_unsent(struct cg_conn *c)
{
    uv_os_fd_t fd;
    int lowat = CG_KERNEL_UNSENT_MAX_BYTES;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
        setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) != 0)
        cg_log_debug("TCP_NOTSENT_LOWAT: %s", strerror(errno));
}

/* --- timers ------------------------------------------------------------------------------ */

static void arm_idle(struct cg_conn *c, uint64_t ms);

static void on_idle_timeout(uv_timer_t *t)
{
    struct cg_conn *c = t->data;
    if (c->state == CG_CONN_READING) {
        /* Slowloris: part of a request, then nothing for too long. */
        c->server->stats.timeouts_total++;
        struct cg_exchange *ex = cg_parser_take_current(&c->parser);
        cg_exchange_fail_code(ex, CG_ERR_REQUEST_TIMEOUT);
        cg_exchange_release(ex);
        begin_linger(c);
        return;
    }
    if (c->state != CG_CONN_IDLE)
        return;
    /* Timers run before the loop polls for input: after a busy stretch the client's next
     * request may already wait in the socket. Closing then would reset a request that arrived
     * in time; it is read in this same loop iteration instead. */
    uv_os_fd_t fd;
    char byte;
    if (c->reading && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
        recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
        arm_idle(c, c->server->cfg.header_timeout_ms);
        return;
    }
    cg_conn_close(c); /* keep-alive idle timeout: nothing to say */
}

static void arm_idle(struct cg_conn *c, uint64_t ms)
{
    c->timer_is_deferral = false;
    start_timer(c, on_idle_timeout, ms);
}

/* How long the body may pause now: PROXY_HEADER_TIMEOUT_MS, but no later than the whole
 * request's deadline, so a body sent a byte at a time cannot hold a connection for days. */
static uint64_t body_wait_ms(const struct cg_conn *c)
{
    uint64_t gap = c->server->cfg.header_timeout_ms;
    uint64_t total = c->server->cfg.body_timeout_ms;
    if (total == 0)
        return gap;
    uint64_t used = cg_clock_mono_ms() - c->request_started_ms;
    return used >= total ? 0 : CG_MIN(gap, total - used);
}

static void on_deferred(uv_timer_t *t)
{
    struct cg_conn *c = t->data;
    c->timer_is_deferral = false;
    if (c->state == CG_CONN_HANDLING && c->response_done)
        after_response(c);
    else if (c->state == CG_CONN_IDLE && c->pending.len)
        after_response(c);
}

/* --- reading ----------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    /* One buffer for every connection: each read is parsed (or copied) before the next. */
    static char shared[READ_BUFFER_BYTES];
    buf->base = shared;
    buf->len = sizeof(shared);
}

static void stash(struct cg_conn *c, const char *data, size_t len)
{
    if (len == 0)
        return;
    if (cg_buf_append(&c->pending, data, len) != 0) {
        conn_fail(c); /* cannot happen: reading stops before the cap */
        return;
    }
    if (c->pending.len >= CG_PIPELINE_BUFFER_MAX_BYTES && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct cg_conn *c = stream->data;
    if (nread == 0 || c->failed)
        return;
    if (nread < 0) {
        /* EOF or reset. A half-closed client cannot be told apart from a gone one, and a
         * stream nobody reads must stop (the backend turn is interrupted), so both close. */
        cg_conn_close(c);
        return;
    }
    switch (c->state) {
    case CG_CONN_LINGER:
    case CG_CONN_CLOSING:
        return;
    case CG_CONN_HANDLING:
        stash(c, buf->base, (size_t)nread);
        return;
    case CG_CONN_IDLE:
    case CG_CONN_READING:
        if (c->pending.len) {
            stash(c, buf->base, (size_t)nread); /* keep request order */
            return;
        }
        process(c, buf->base, (size_t)nread);
        return;
    }
}

static void dispatch(struct cg_conn *c, struct cg_exchange *ex)
{
    c->ex = ex;
    c->response_done = false;
    c->state = CG_CONN_HANDLING;
    if (!c->failed)
        uv_timer_stop(&c->timer);
    c->timer_is_deferral = false;
    c->requests++;
    c->server->stats.requests_total++;
    if (c->server->stopping || c->server->cfg.keepalive_timeout_ms == 0)
        ex->close_after = true;
    c->in_dispatch = true;
    cg_router_dispatch(c->server->router, ex);
    c->in_dispatch = false;
}

/* Finishes the current exchange: the connection closes, or waits for the next request. */
static bool finish_exchange(struct cg_conn *c)
{
    struct cg_exchange *ex = c->ex;
    bool keep = ex->keep_alive && !ex->close_after && !c->server->stopping;
    /* The response is whole: it goes now, so a client found gone stops pipelined requests
     * before the next one is answered into a dead socket. */
    flush_out(c);
    c->ex = NULL;
    c->response_done = false;
    cg_exchange_release(ex);
    if (!keep) {
        begin_linger(c);
        return false;
    }
    c->state = CG_CONN_IDLE;
    arm_idle(c, c->server->cfg.keepalive_timeout_ms);
    return true;
}

/* A request that failed to parse, or that the access phase refused while its body was still to
 * come: answer it and close without reading further. */
static void answer_failed(struct cg_conn *c, const struct cg_parse_result *res)
{
    struct cg_exchange *ex = res->failed;
    if (ex->refusal) {
        cg_exchange_fail(ex, ex->refusal);
    } else if (res->error == CG_ERR_BUFFERS_FULL) {
        c->server->stats.client_buffer_refusals_total++;
        cg_log_warn("client %s: request body refused, %zu bytes already held for clients "
                    "(PROXY_CLIENT_BUFFER_MAX_BYTES)",
                    c->parser.peer, c->server->budget.used);
        cg_exchange_fail_code(ex, res->error);
    } else if (res->error != CG_ERR_CLIENT_CLOSED) {
        c->server->stats.bad_requests_total++;
        cg_exchange_fail_code(ex, res->error);
    }
    cg_exchange_release(ex);
    begin_linger(c);
}

static void process(struct cg_conn *c, const char *data, size_t len)
{
    while (len > 0 && !c->failed && (c->state == CG_CONN_IDLE || c->state == CG_CONN_READING)) {
        size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
        if (queued > CG_WRITE_QUEUE_HIGH_BYTES) {
            stash(c, data, len); /* the client is not reading its responses: wait */
            return;
        }
        if (c->state == CG_CONN_IDLE) {
            c->state = CG_CONN_READING;
            c->request_started_ms = cg_clock_mono_ms();
            arm_idle(c, c->server->cfg.header_timeout_ms);
        }
        struct cg_parse_result res;
        cg_parser_feed(&c->parser, data, len, &res);
        data += res.consumed;
        len -= res.consumed;
        switch (res.status) {
        case CG_PARSE_MORE:
            if (c->parser.cur && c->parser.cur->path.ptr)
                arm_idle(c, body_wait_ms(c)); /* body: a gap limit within a total */
            return;
        case CG_PARSE_CONTINUE:
            sink_write(c, cg_xstrndup(continue_line, sizeof(continue_line) - 1),
                       sizeof(continue_line) - 1);
            continue;
        case CG_PARSE_ERROR:
            answer_failed(c, &res);
            return;
        case CG_PARSE_REQUEST:
            dispatch(c, res.exchange);
            if (c->state != CG_CONN_HANDLING)
                return; /* closed while handling */
            if (!c->response_done) {
                stash(c, data, len);
                return;
            }
            if (!finish_exchange(c))
                return;
            continue;
        }
    }
}

/* Called once an asynchronous response is done, or when held-back bytes can be parsed. */
static void after_response(struct cg_conn *c)
{
    if (c->failed)
        return;
    if (c->state == CG_CONN_HANDLING) {
        if (!finish_exchange(c))
            return;
    }
    if (c->state != CG_CONN_IDLE)
        return;
    if (c->pending.len) {
        struct cg_buf held = c->pending;
        cg_buf_init(&c->pending, held.max);
        process(c, held.data, held.len);
        cg_buf_dispose(&held);
    }
    if ((c->state == CG_CONN_IDLE || c->state == CG_CONN_READING) && !c->reading &&
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

/* --- accept ------------------------------------------------------------------------------ */

static void describe_peer(struct cg_conn *c, char *out, size_t size, bool *loopback)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    *loopback = false;
    snprintf(out, size, "unknown");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        uv_ip4_name(in, out, size);
        *loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(in6, out, size);
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        const unsigned char *a = in6->sin6_addr.s6_addr;
        *loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                    (memcmp(a, mapped, sizeof(mapped)) == 0 && a[12] == 127);
    }
}

struct cg_conn *cg_conn_accept(struct cg_server *s, bool rejected)
{
    struct cg_conn *c = cg_xcalloc(1, sizeof(*c));
    c->server = s;
    c->rejected = rejected;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->state = CG_CONN_IDLE;
    cg_buf_init(&c->pending, CG_PIPELINE_BUFFER_MAX_BYTES + READ_BUFFER_BYTES);
    cg_gather_init(&c->out, 2 * OUT_GATHER_MAX_BYTES);
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp) != 0) {
        cg_conn_close(c); /* freed, and unlinked from the server, once its handles close */
        return c;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    limit_unsent(c);
    char peer[64];
    bool loopback;
    describe_peer(c, peer, sizeof(peer), &loopback);
    cg_parser_init(&c->parser, &s->cfg.limits, &sink_ops, c, peer, loopback);
    cg_parser_set_admission(&c->parser, s->router, &s->budget);
    if (rejected) {
        struct cg_exchange *ex = cg_parser_take_current(&c->parser);
        ex->path = CG_STR("-");
        ex->method_name = "-";
        cg_exchange_fail_code(ex, CG_ERR_OVERLOADED);
        cg_exchange_release(ex);
        begin_linger(c);
        return c;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    arm_idle(c, s->cfg.header_timeout_ms);
    return c;
}

void cg_conn_stop(struct cg_conn *c)
{
    switch (c->state) {
    case CG_CONN_IDLE:
        /* Responses may still be queued for this client: let them go out first. Requests it
         * pipelined behind them are not started. */
        cg_buf_reset(&c->pending);
        flush_out(c);
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > 0)
            begin_linger(c);
        else
            cg_conn_close(c);
        return;
    case CG_CONN_READING:
        cg_conn_close(c);
        return;
    case CG_CONN_HANDLING:
        if (c->ex)
            c->ex->close_after = true;
        return;
    case CG_CONN_LINGER:
    case CG_CONN_CLOSING:
        return;
    }
}

void cg_conn_abort(struct cg_conn *c)
{
    if (c->state == CG_CONN_HANDLING && c->ex) {
        struct cg_exchange *ex = c->ex;
        cg_exchange_hold(ex);
        cg_exchange_abort(ex, CG_ERR_SHUTTING_DOWN);
        cg_exchange_release(ex);
        return;
    }
    if (c->state != CG_CONN_CLOSING)
        cg_conn_close(c);
}
