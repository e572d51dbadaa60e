/* server.c: listener, connection list and cap, graceful stop. */
#include "http/server.h"
#include <stdint.h>
#include <string.h>
#include "http/conn.h"
#include "util/alloc.h"
#include "util/log.h"
#define LOG_COMPONENT "http"

/* A burst of thousands of connections must wait in the kernel, not be dropped and resent a
 * second later; the kernel caps the backlog at net.core.somaxconn (4096 on current kernels). */
enum { LISTEN_BACKLOG = 4096, REJECTED_OPEN_MAX = 256, ABORT_SETTLE_MS = 2000 };

static void on_server_handle_closed(uv_handle_t *h);

/* Once stopping and every connection is gone: close our own handles, then report. */
static void maybe_stopped(struct cg_server *s)
{
    if (!s->stopping || s->conns != NULL)
        return;
    if (!s->grace_closed) {
        s->grace_closed = true;
        uv_close((uv_handle_t *)&s->grace_timer, on_server_handle_closed);
        uv_close((uv_handle_t *)&s->out_prepare, on_server_handle_closed);
        uv_close((uv_handle_t *)&s->out_check, on_server_handle_closed);
        return;
    }
    if (s->handles_open > 0 || s->on_stopped == NULL)
        return;
    cg_server_stopped_cb cb = s->on_stopped;
    s->on_stopped = NULL;
    cb(s);
}

static void on_server_handle_closed(uv_handle_t *h)
{
    struct cg_server *s = h->data;
    s->handles_open--;
    maybe_stopped(s);
}

static void link_conn(struct cg_server *s, struct cg_conn *c)
{
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
}

void cg_server_conn_closed(struct cg_server *s, struct cg_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->rejected)
        s->rejected_open--;
    else
        s->conn_count--;
    if (s->conn_count == 0)
        cg_alloc_release_unused();
    maybe_stopped(s);
}

static void flush_out(struct cg_server *s)
{
    cg_conn_flush_all(s);
    uv_prepare_stop(&s->out_prepare);
    uv_check_stop(&s->out_check);
}

static void on_out_prepare(uv_prepare_t *h)
{
    flush_out(h->data);
}

static void on_out_check(uv_check_t *h)
{
    flush_out(h->data);
}

void cg_server_want_flush(struct cg_server *s)
{
    uv_prepare_start(&s->out_prepare, on_out_prepare);
    uv_check_start(&s->out_check, on_out_check);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct cg_server *s = listener->data;
    if (status < 0) {
        cg_log_warn("accept failed: %s", uv_strerror(status));
        return;
    }
    bool rejected = s->conn_count >= s->cfg.max_connections || s->stopping;
    if (rejected) {
        s->stats.connections_rejected++;
        s->rejected_open++;
    } else {
        s->conn_count++;
    }
    s->stats.connections_total++;
    struct cg_conn *c = cg_conn_accept(s, rejected);
    link_conn(s, c);
    if (rejected && s->rejected_open > REJECTED_OPEN_MAX)
        cg_conn_close(c); /* a flood: do not keep lingering sockets for all of it */
}

int cg_server_start(struct cg_server *s, uv_loop_t *loop, const struct cg_server_config *cfg,
                    const struct cg_router *router)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->cfg = *cfg;
    s->router = router;
    s->budget.max = cfg->client_buffer_max_bytes ? cfg->client_buffer_max_bytes : SIZE_MAX;
    struct sockaddr_storage addr;
    int err = uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&addr);
    if (err)
        err = uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&addr);
    if (err) {
        cg_log_error("PROXY_HOST \"%s\" is not an IPv4 or IPv6 address", cfg->host);
        return err;
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->handles_open = 1;
    uv_timer_init(loop, &s->grace_timer);
    s->grace_timer.data = s;
    s->handles_open++;
    uv_prepare_init(loop, &s->out_prepare);
    s->out_prepare.data = s;
    uv_check_init(loop, &s->out_check);
    s->out_check.data = s;
    s->handles_open += 2;
    err = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (!err)
        err = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection);
    if (err) {
        cg_log_error("cannot listen on %s:%d: %s", cfg->host, cfg->port, uv_strerror(err));
        return err;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len) == 0) {
        s->bound_port = ntohs(bound.ss_family == AF_INET6
                                  ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                  : ((struct sockaddr_in *)&bound)->sin_port);
    }
    s->listening = true;
    return 0;
}

size_t cg_server_connections(const struct cg_server *s)
{
    return s->conn_count;
}

static void on_abort_settle(uv_timer_t *t)
{
    /* Handlers had their chance to end in-band; whatever is still open goes now. */
    struct cg_server *s = t->data;
    struct cg_conn *c = s->conns;
    while (c) {
        struct cg_conn *next = c->next;
        cg_conn_close(c);
        c = next;
    }
}

static void on_grace_expired(uv_timer_t *t)
{
    struct cg_server *s = t->data;
    s->grace_expired = true;
    size_t open = 0;
    for (struct cg_conn *c = s->conns; c; c = c->next)
        open++;
    if (open)
        cg_log_warn("shutdown grace over: ending %zu connection(s) now", open);
    struct cg_conn *c = s->conns;
    while (c) {
        struct cg_conn *next = c->next;
        cg_conn_abort(c);
        c = next;
    }
    if (s->conns)
        uv_timer_start(&s->grace_timer, on_abort_settle, ABORT_SETTLE_MS, 0);
}

void cg_server_stop(struct cg_server *s, cg_server_stopped_cb on_stopped)
{
    if (s->stopping)
        return;
    s->stopping = true;
    s->on_stopped = on_stopped;
    if (s->listening) {
        s->listening = false;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    }
    struct cg_conn *c = s->conns;
    while (c) {
        struct cg_conn *next = c->next;
        cg_conn_stop(c);
        c = next;
    }
    if (s->conns)
        uv_timer_start(&s->grace_timer, on_grace_expired, s->cfg.shutdown_grace_ms, 0);
    maybe_stopped(s);
}
