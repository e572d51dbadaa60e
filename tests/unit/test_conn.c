/* test_conn.c: the connection and exchange state machine over real loopback sockets. The real
 * server listens on 127.0.0.1:0 with a tiny router (an answer at once, one later from a timer, a
 * stream, a large body); scripted libuv clients in the same loop drive it. Each test runs the
 * loop dry, counts callbacks, and requires every handle closed and every byte of the client
 * budget given back. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "core/limits.h"
#include "http/conn.h"
#include "http/server.h"
#include "util/log.h"

enum { BIG_BODY_BYTES = 64 * 1024, CLIENTS_MAX = 4, POLL_MS = 2 };

struct job {
    uv_timer_t timer;
    struct cg_exchange *ex;
    int chunks_left;
    bool stream;
    bool burst; /* records what is still unsent at its first tick */
    bool ended;
};

struct client {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct cg_buf in;
    char *script;
    size_t script_len;
    bool read_at_once; /* else the test starts reading later */
    bool reset_after_write;
    bool close_after_first_chunk;
    bool body_sent;
    const char *body;       /* sent once "100 Continue" arrives */
    const char *then_send;  /* sent once the first response is complete ... */
    unsigned then_stall_ms; /* ... and then the loop is held up this long */
    bool then_sent;
    bool eof;
    bool closed;
};

struct send_req {
    uv_write_t req;
    char *data;
};

static struct {
    uv_loop_t loop;
    struct cg_server server;
    struct cg_router router;
    struct cg_cors cors;
    struct cg_auth auth;
    struct client clients[CLIENTS_MAX];
    int clients_open;
    int clients_started;
    uv_timer_t poll;
    bool (*poll_until)(void); /* polled every POLL_MS until true; then poll_then runs */
    void (*poll_then)(void);
    int stopped;
    int jobs_answered;
    int streams_ended;
    int aborts;
    size_t burst_unsent_in_callback; /* cg_exchange_queued right after the burst's writes */
    size_t burst_unsent_next_tick;
} T;

static char *keys[] = {"k-one", "k-two"};

/* --- handlers ---------------------------------------------------------------------------- */

static void on_now(struct cg_exchange *ex, void *ctx)
{
    char body[192];
    int n = snprintf(body, sizeof(body), "{\"label\":\"%s\",\"body\":%zu,\"trailer\":%s}",
                     ex->key_label ? ex->key_label : "-", ex->body.len,
                     cg_exchange_has_header(ex, "x-trailer") ? "true" : "false");
    cg_exchange_send_json(ex, body, (size_t)n);
}

static void on_big(struct cg_exchange *ex, void *ctx)
{
    static char big[BIG_BODY_BYTES];
    memset(big, 'b', sizeof(big));
    cg_exchange_send(ex, "text/plain", big, sizeof(big));
}

static void on_job_closed(uv_handle_t *h)
{
    free(h->data);
}

static void job_end(struct job *j)
{
    if (j->ended)
        return;
    j->ended = true;
    j->ex->on_abort = NULL;
    cg_exchange_release(j->ex);
    uv_close((uv_handle_t *)&j->timer, on_job_closed);
}

static void on_job_tick(uv_timer_t *t)
{
    struct job *j = t->data;
    if (j->burst && j->chunks_left == 0)
        T.burst_unsent_next_tick = cg_exchange_queued(j->ex);
    if (!j->stream) {
        cg_exchange_send_json(j->ex, "{\"later\":true}", 14);
        T.jobs_answered++;
        job_end(j);
        return;
    }
    if (j->chunks_left-- > 0) {
        cg_exchange_stream_write(j->ex, "data: x\n\n", 9);
        return;
    }
    cg_exchange_stream_end(j->ex);
    T.streams_ended++;
    job_end(j);
}

static void on_job_abort(struct cg_exchange *ex, enum cg_err reason)
{
    T.aborts++;
    if (reason == CG_ERR_CLIENT_CLOSED)
        job_end(ex->handler_data); /* on shutdown the job just finishes on its own */
}

static void start_job(struct cg_exchange *ex, bool stream)
{
    struct job *j = calloc(1, sizeof(*j));
    cr_assert_not_null(j);
    j->ex = ex;
    j->stream = stream;
    j->chunks_left = 3;
    cg_exchange_hold(ex);
    ex->handler_data = j;
    ex->on_abort = on_job_abort;
    uv_timer_init(&T.loop, &j->timer);
    j->timer.data = j;
    if (stream) {
        cg_exchange_stream_begin(ex, "text/event-stream");
        uv_timer_start(&j->timer, on_job_tick, 1, 1);
    } else {
        uv_timer_start(&j->timer, on_job_tick, 3, 0);
    }
}

static void on_later(struct cg_exchange *ex, void *ctx)
{
    start_job(ex, false);
}

static void on_stream(struct cg_exchange *ex, void *ctx)
{
    start_job(ex, true);
}

/* Three chunks written in one callback, as a stream's deltas from one worker read. */
static void on_burst(struct cg_exchange *ex, void *ctx)
{
    start_job(ex, true);
    struct job *j = ex->handler_data;
    j->burst = true;
    for (; j->chunks_left > 0; j->chunks_left--)
        cg_exchange_stream_write(ex, "data: x\n\n", 9);
    T.burst_unsent_in_callback = cg_exchange_queued(ex);
}

static void on_client_closed(uv_handle_t *h);

/* Resets the (only) client from inside a handler: the connection is then dead under the very
 * write that answers, as when a client resets while a burst of pipelined answers goes out. */
static void on_reset(struct cg_exchange *ex, void *ctx)
{
    if (!uv_is_closing((uv_handle_t *)&T.clients[0].tcp))
        uv_tcp_close_reset(&T.clients[0].tcp, on_client_closed);
    on_now(ex, ctx);
}

static const struct cg_route routes[] = {
    {"/reset", false, CG_METHOD_GET, CG_ACCESS_OPEN, "reset", on_reset},
    {"/now", false, CG_METHOD_GET | CG_METHOD_POST, CG_ACCESS_KEY, "now", on_now},
    {"/open", false, CG_METHOD_GET, CG_ACCESS_OPEN, "open", on_now},
    {"/big", false, CG_METHOD_GET, CG_ACCESS_OPEN, "big", on_big},
    {"/later", false, CG_METHOD_GET, CG_ACCESS_OPEN, "later", on_later},
    {"/stream", false, CG_METHOD_GET, CG_ACCESS_OPEN, "stream", on_stream},
    {"/burst", false, CG_METHOD_GET, CG_ACCESS_OPEN, "burst", on_burst},
};

/* --- clients ----------------------------------------------------------------------------- */

static void on_server_stopped(struct cg_server *s)
{
    T.stopped++;
}

static void on_client_closed(uv_handle_t *h)
{
    struct client *cl = h->data;
    cl->closed = true;
    if (--T.clients_open == 0)
        cg_server_stop(&T.server, on_server_stopped);
}

static void client_close(struct client *cl)
{
    if (!uv_is_closing((uv_handle_t *)&cl->tcp))
        uv_close((uv_handle_t *)&cl->tcp, on_client_closed);
}

static void on_sent(uv_write_t *req, int status)
{
    struct send_req *sr = CG_CONTAINER_OF(req, struct send_req, req);
    struct client *cl = req->data;
    free(sr->data);
    free(sr);
    if (status == 0 && cl->reset_after_write && !uv_is_closing((uv_handle_t *)&cl->tcp))
        uv_tcp_close_reset(&cl->tcp, on_client_closed);
}

static void client_send(struct client *cl, const char *data, size_t len)
{
    struct send_req *sr = malloc(sizeof(*sr));
    cr_assert_not_null(sr);
    sr->data = malloc(len);
    cr_assert_not_null(sr->data);
    memcpy(sr->data, data, len);
    sr->req.data = cl;
    uv_buf_t buf = uv_buf_init(sr->data, (unsigned)len);
    cr_assert_eq(uv_write(&sr->req, (uv_stream_t *)&cl->tcp, &buf, 1, on_sent), 0);
}

static void on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char space[64 * 1024];
    buf->base = space;
    buf->len = sizeof(space);
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct client *cl = s->data;
    if (nread < 0) {
        cl->eof = true;
        client_close(cl);
        return;
    }
    cr_assert_eq(cg_buf_append(&cl->in, buf->base, (size_t)nread), 0);
    if (cl->body && !cl->body_sent && strstr(cl->in.data, "100 Continue\r\n\r\n")) {
        cl->body_sent = true;
        client_send(cl, cl->body, strlen(cl->body));
    }
    if (cl->then_send && !cl->then_sent && strchr(cl->in.data, '}')) {
        cl->then_sent = true;
        client_send(cl, cl->then_send, strlen(cl->then_send));
        /* A busy loop: the server's timers are overdue when it next runs. */
        uv_sleep(cl->then_stall_ms);
    }
    if (cl->close_after_first_chunk && strstr(cl->in.data, "data: x\n\n"))
        client_close(cl);
}

static void client_read(struct client *cl)
{
    cr_assert_eq(uv_read_start((uv_stream_t *)&cl->tcp, on_client_alloc, on_client_read), 0);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct client *cl = req->data;
    cr_assert_eq(status, 0);
    if (cl->read_at_once)
        client_read(cl);
    client_send(cl, cl->script, cl->script_len);
}

/* Connects a client that writes `script` at once (and reads everything, unless told not to). */
static struct client *client_start(const char *script, size_t len)
{
    cr_assert(T.clients_started < CLIENTS_MAX);
    struct client *cl = &T.clients[T.clients_started++];
    T.clients_open++;
    cl->script = malloc(len);
    memcpy(cl->script, script, len);
    cl->script_len = len;
    cl->read_at_once = true;
    cg_buf_init(&cl->in, 64u * 1024 * 1024);
    uv_tcp_init(&T.loop, &cl->tcp);
    cl->tcp.data = cl;
    cl->connect.data = cl;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", T.server.bound_port, &addr);
    cr_assert_eq(
        uv_tcp_connect(&cl->connect, &cl->tcp, (const struct sockaddr *)&addr, on_connected), 0);
    return cl;
}

static size_t count(const struct client *cl, const char *needle)
{
    size_t n = 0;
    size_t nlen = strlen(needle);
    const char *at = cl->in.data;
    while (at && (at = strstr(at, needle)) != NULL) {
        n++;
        at += nlen;
    }
    return n;
}

/* --- polling (for states only the server can see) ----------------------------------------- */

static void on_poll(uv_timer_t *t)
{
    if (!T.poll_until())
        return;
    uv_close((uv_handle_t *)t, NULL);
    T.poll_then();
}

static void poll_start(bool (*until)(void), void (*then)(void))
{
    T.poll_until = until;
    T.poll_then = then;
    uv_timer_init(&T.loop, &T.poll);
    uv_timer_start(&T.poll, on_poll, POLL_MS, POLL_MS);
}

static struct cg_conn *only_conn(void)
{
    return T.server.conns;
}

/* --- fixture ----------------------------------------------------------------------------- */

static void start_server(size_t budget_bytes)
{
    memset(&T, 0, sizeof(T));
    cg_log_threshold = CG_LOG_ERROR;
    cr_assert_eq(uv_loop_init(&T.loop), 0);
    char err[128];
    cr_assert_eq(cg_cors_init(&T.cors, false, "*", err, sizeof(err)), 0);
    cg_auth_init(&T.auth, keys, 2);
    T.router.routes = routes;
    T.router.count = CG_ARRAY_SIZE(routes);
    T.router.cors = &T.cors;
    T.router.auth = &T.auth;
    struct cg_server_config cfg = {
        .host = "127.0.0.1",
        .port = 0,
        .limits = {.max_url_bytes = 1024,
                   .max_header_bytes = 8192,
                   .max_headers = 32,
                   .max_body_bytes = 16u * 1024 * 1024},
        .header_timeout_ms = 10000,
        .keepalive_timeout_ms = 60000,
        .shutdown_grace_ms = 1000,
        .max_connections = 16,
        .client_buffer_max_bytes = budget_bytes,
    };
    cr_assert_eq(cg_server_start(&T.server, &T.loop, &cfg, &T.router), 0);
}

/* Runs until every client closed, the server stopped and every job ended; then checks that
 * nothing is left behind. */
static void run_dry(void)
{
    cr_assert_eq(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(T.stopped, 1);
    cr_assert_eq(T.server.conns, NULL);
    cr_assert_eq(T.server.budget.used, 0, "%zu bytes still counted", T.server.budget.used);
    cr_assert_eq(uv_loop_close(&T.loop), 0);
}

static void clients_dispose(void)
{
    for (int i = 0; i < CLIENTS_MAX; i++) {
        free(T.clients[i].script);
        cg_buf_dispose(&T.clients[i].in);
    }
}

TestSuite(conn, .fini = clients_dispose, .timeout = 30);

/* --- tests ------------------------------------------------------------------------------- */

#define REQ(path, extra) "GET " path " HTTP/1.1\r\nHost: t\r\n" extra "\r\n"

Test(conn, pipelined_requests_are_answered_in_order)
{
    start_server(0);
    static const char script[] =
        REQ("/later", "X-Request-Id: r1\r\n") REQ("/now", "X-Request-Id: r2\r\nAuthorization: "
                                                          "Bearer k-two\r\n")
            REQ("/stream", "X-Request-Id: r3\r\n") REQ("/nope", "X-Request-Id: r4\r\n")
                REQ("/later", "X-Request-Id: r5\r\nConnection: close\r\n");
    struct client *cl = client_start(script, sizeof(script) - 1);
    run_dry();
    cr_assert(cl->eof);
    const char *d = cl->in.data;
    const char *r[5];
    static const char *const ids[] = {"X-Request-Id: r1\r", "X-Request-Id: r2\r",
                                      "X-Request-Id: r3\r", "X-Request-Id: r4\r",
                                      "X-Request-Id: r5\r"};
    for (int i = 0; i < 5; i++) {
        r[i] = strstr(d, ids[i]);
        cr_assert_not_null(r[i], "%s missing", ids[i]);
        if (i)
            cr_assert(r[i] > r[i - 1], "%s out of order", ids[i]);
    }
    cr_assert_not_null(strstr(d, "{\"label\":\"key2\""));
    cr_assert_eq(count(cl, "data: x\n\n"), 3);
    cr_assert_eq(count(cl, "HTTP/1.1 404"), 1);
    cr_assert_eq(T.jobs_answered, 2);
    cr_assert_eq(T.streams_ended, 1);
    cr_assert_eq(T.server.stats.requests_total, 5);
}

Test(conn, writes_of_one_callback_leave_together_by_the_next_tick)
{
    start_server(0);
    T.burst_unsent_next_tick = SIZE_MAX; /* proves the tick ran */
    static const char script[] = REQ("/burst", "Connection: close\r\n");
    struct client *cl = client_start(script, sizeof(script) - 1);
    run_dry();
    /* The head and three chunks were gathered, none sent while the handler ran; by the next
     * timer tick all had gone out. */
    cr_assert_geq(T.burst_unsent_in_callback, 3 * 9 + 40, "%zu", T.burst_unsent_in_callback);
    cr_assert_eq(T.burst_unsent_next_tick, 0);
    cr_assert(cl->eof);
    cr_assert_eq(count(cl, "data: x\n\n"), 3);
    cr_assert_eq(T.streams_ended, 1);
}

Test(conn, a_request_waiting_when_the_idle_timeout_fires_is_served)
{
    start_server(0);
    /* The client must read the first response and send the second request before the idle
     * timer is due: a loop iteration under valgrind with parallel jobs can take tens of ms, so
     * the timeout leaves that margin, and the stall is well past it. */
    T.server.cfg.keepalive_timeout_ms = 300;
    struct client *cl = client_start(REQ("/open", ""), sizeof(REQ("/open", "")) - 1);
    cl->then_send = REQ("/open", "Connection: close\r\n");
    cl->then_stall_ms = 700;
    run_dry();
    cr_assert(cl->eof);
    cr_assert_eq(count(cl, "HTTP/1.1 200"), 2, "%s", cl->in.data);
    cr_assert_eq(T.server.stats.requests_total, 2);
}

Test(conn, expect_continue_is_sent_only_to_an_admitted_request)
{
    start_server(0);
    static const char good[] = "POST /now HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer k-one\r\n"
                               "Content-Length: 2\r\nExpect: 100-continue\r\nConnection: close"
                               "\r\n\r\n";
    static const char bad[] = "POST /now HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer nope\r\n"
                              "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n";
    struct client *ok = client_start(good, sizeof(good) - 1);
    ok->body = "{}";
    struct client *no = client_start(bad, sizeof(bad) - 1);
    run_dry();
    cr_assert(strncmp(ok->in.data, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ", 38) == 0, "%s",
              ok->in.data);
    cr_assert_not_null(strstr(ok->in.data, "{\"label\":\"key1\",\"body\":2"));
    cr_assert(strncmp(no->in.data, "HTTP/1.1 401 ", 13) == 0, "%s", no->in.data);
    cr_assert_null(strstr(no->in.data, "100 Continue"));
    cr_assert_not_null(strstr(no->in.data, "WWW-Authenticate: Bearer"));
    cr_assert_not_null(strstr(no->in.data, "Connection: close"));
    cr_assert(no->eof, "closed after the refusal");
}

Test(conn, a_refused_body_is_never_read)
{
    start_server(0);
    /* 8 MB announced, 1 MB sent: the 401 comes from the head alone, and the bytes that follow
     * are discarded by the lingering close, never counted as a body. */
    static char script[1024 * 1024 + 256];
    int n = snprintf(script, sizeof(script),
                     "POST /now HTTP/1.1\r\nHost: t\r\n"
                     "Content-Length: 8388608\r\n\r\n");
    memset(script + n, 'x', sizeof(script) - (size_t)n);
    struct client *cl = client_start(script, sizeof(script));
    run_dry();
    cr_assert(strncmp(cl->in.data, "HTTP/1.1 401 ", 13) == 0, "%s", cl->in.data);
    cr_assert_eq(count(cl, "HTTP/1.1 "), 1);
    cr_assert(cl->eof);
}

Test(conn, trailer_fields_do_not_become_headers)
{
    start_server(0);
    static const char script[] = "POST /now HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer k-one\r\n"
                                 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                 "2\r\n{}\r\n0\r\nX-Trailer: 1\r\nAuthorization: Bearer x\r\n\r\n";
    struct client *cl = client_start(script, sizeof(script) - 1);
    run_dry();
    cr_assert_not_null(strstr(cl->in.data, "{\"label\":\"key1\",\"body\":2,\"trailer\":false}"),
                       "%s", cl->in.data);
}

Test(conn, a_client_that_leaves_mid_body_or_mid_stream_is_cleaned_up)
{
    start_server(0);
    static const char partial[] = "POST /now HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer k-one\r\n"
                                  "Content-Length: 100000\r\n\r\nonly a little";
    struct client *body = client_start(partial, sizeof(partial) - 1);
    body->reset_after_write = true;
    static const char stream[] = REQ("/stream", "");
    struct client *reader = client_start(stream, sizeof(stream) - 1);
    reader->close_after_first_chunk = true;
    run_dry();
    cr_assert(reader->closed);
    cr_assert_eq(T.streams_ended, 0);
    cr_assert_eq(T.aborts, 1, "the stream's handler heard the client go");
}

static bool stalled(void)
{
    struct cg_conn *c = only_conn();
    return c && c->pending.len > 0 &&
           uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > CG_WRITE_QUEUE_HIGH_BYTES;
}

static void check_bounded_then_read(void)
{
    struct cg_conn *c = only_conn();
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    cr_assert(queued <= CG_WRITE_QUEUE_HIGH_BYTES + BIG_BODY_BYTES + 1024, "%zu queued", queued);
    /* The budget holds each response's bytes until its write completes; the kernel may
     * already have taken part of the oldest (TCP_NOTSENT_LOWAT makes partial writes common). */
    cr_assert_geq(T.server.budget.used, queued, "the budget counts every unsent byte");
    cr_assert_leq(T.server.budget.used - queued, BIG_BODY_BYTES + 1024,
                  "and no more than the part of one response already sent");
    client_read(&T.clients[0]);
}

Test(conn, a_client_that_stops_reading_has_a_bounded_write_queue)
{
    start_server(0);
    enum { N = 500 };
    static char script[N * 64];
    size_t n = 0;
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(script + n, sizeof(script) - n, "%s",
                              i == N - 1 ? REQ("/big", "Connection: close\r\n") : REQ("/big", ""));
    struct client *cl = client_start(script, n);
    cl->read_at_once = false;
    poll_start(stalled, check_bounded_then_read);
    run_dry();
    cr_assert_eq(count(cl, "HTTP/1.1 200 "), N);
    cr_assert(cl->eof);
}

static bool budget_closed_it(void)
{
    return T.server.stats.client_buffer_closes_total > 0;
}

static void read_what_is_left(void)
{
    client_read(&T.clients[0]);
}

Test(conn, unsent_output_over_the_budget_closes_that_client)
{
    start_server(256 * 1024);
    enum { N = 500 };
    static char script[N * 64];
    size_t n = 0;
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(script + n, sizeof(script) - n, "%s", REQ("/big", ""));
    struct client *cl = client_start(script, n);
    cl->read_at_once = false;
    poll_start(budget_closed_it, read_what_is_left);
    run_dry();
    cr_assert_eq(T.server.stats.client_buffer_closes_total, 1);
    cr_assert(count(cl, "HTTP/1.1 200 ") < N);
    cr_assert(cl->eof);
}

static bool body_held(void)
{
    return T.server.budget.used >= 700 * 1024;
}

static void send_second_body(void)
{
    static char second[512 * 1024];
    int n = snprintf(second, sizeof(second),
                     "POST /now HTTP/1.1\r\nHost: t\r\nAuthorization: "
                     "Bearer k-one\r\nContent-Length: 900000\r\n\r\n");
    memset(second + n, 'y', sizeof(second) - (size_t)n);
    struct client *cl = client_start(second, sizeof(second));
    (void)cl;
}

Test(conn, bodies_over_the_budget_get_503)
{
    start_server(1024 * 1024);
    static char first[800 * 1024];
    int n = snprintf(first, sizeof(first),
                     "POST /now HTTP/1.1\r\nHost: t\r\nAuthorization: "
                     "Bearer k-one\r\nContent-Length: 900000\r\n\r\n");
    memset(first + n, 'x', sizeof(first) - (size_t)n);
    struct client *a = client_start(first, sizeof(first));
    poll_start(body_held, send_second_body);
    /* The first client would wait for the rest of its body forever: it leaves once the second
     * was refused (which closes the second connection). */
    for (int turns = 0; turns < 100000 && T.server.stats.client_buffer_refusals_total == 0; turns++)
        cr_assert(uv_run(&T.loop, UV_RUN_ONCE) != 0);
    client_close(a);
    run_dry();
    struct client *b = &T.clients[1];
    cr_assert(strncmp(b->in.data, "HTTP/1.1 503 ", 13) == 0, "%s", b->in.data);
    cr_assert_not_null(strstr(b->in.data, "server_overloaded"));
    cr_assert_eq(T.server.stats.client_buffer_refusals_total, 1);
}

Test(conn, a_reset_during_pipelined_writes_is_survived)
{
    /* 3,000 pipelined requests, and the client resets without reading while they are answered:
     * the writes fail while the parser is still handing out requests, and neither the
     * connection nor the exchange being answered may be freed under them. */
    start_server(0);
    enum { N = 3000, RESET_AT = 100 };
    static char script[N * 40];
    size_t n = 0;
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(script + n, sizeof(script) - n, "%s",
                              i == RESET_AT ? REQ("/reset", "") : REQ("/open", ""));
    struct client *cl = client_start(script, n);
    cl->read_at_once = false;
    run_dry();
    cr_assert(cl->closed);
    cr_assert_eq(T.server.stats.requests_total, RESET_AT + 1,
                 "nothing is answered after the reset");
}
