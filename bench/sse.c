/* sse.c: streaming load client. Holds C connections to the gateway, each POSTing streaming chat
 * completions (or, with --api responses, streaming Responses with store:false); decodes the
 * chunked SSE and reports time to the first content chunk, the gaps between content chunks
 * (µs), streams completed/failed, and optionally the RSS of given pids while every stream is
 * open. One thread, non-blocking sockets, epoll. */
#define CLIENT_NAME "sse"
#include <inttypes.h>
#include <signal.h>
#include "client.h"

enum {
    CONNS_MAX = 60000,
    PIDS_MAX = 4,
    REQUEST_MAX_BYTES = 4096,
};

enum conn_state {
    CONN_IDLE,       /* not connected, or finished */
    CONN_CONNECTING, /* connect() in progress */
    CONN_SENDING,    /* request partly written */
    CONN_HEAD,       /* reading the response head */
    CONN_BODY,       /* reading the body */
    CONN_DONE,       /* all its streams are over */
};

enum failure { FAIL_CONNECT, FAIL_STATUS, FAIL_ERROR_FRAME, FAIL_SHORT, FAIL_CHUNKS, FAIL_KINDS };

static const char *const failure_names[FAIL_KINDS] = {"fail_connect", "fail_status", "fail_error",
                                                      "fail_short", "fail_chunks"};

struct conn {
    int fd;
    enum conn_state state;
    size_t sent;
    size_t streams_done;
    bool keep_alive; /* the server did not say Connection: close */
    /* response head */
    char head[HEAD_MAX_BYTES];
    size_t head_len;
    int status;
    bool chunked;
    bool has_length;
    uint64_t body_left; /* Content-Length bodies */
    /* chunked decoder */
    enum chunk_state cstate;
    uint64_t chunk_left;
    bool chunk_size_digits;
    size_t trailer_line_len;
    /* SSE */
    char *buf; /* the SSE line: SSE_LINE_MAX_BYTES, allocated on first use */
    size_t buf_len;
    bool too_long;
    bool done_seen;
    bool error_seen;
    bool open_counted; /* counts toward open_now */
    size_t chunks;
    uint64_t started_ns;
    uint64_t last_chunk_ns;
};

enum api { API_CHAT, API_RESPONSES };

struct options {
    enum api api;
    const char *host;
    int port;
    size_t concurrency;
    size_t streams_per_conn; /* used when duration_s == 0 */
    double duration_s;
    double stall_s;
    const char *message;
    const char *model;
    size_t expect_chunks; /* 0: any number */
    int pids[PIDS_MAX];
    size_t npids;
    bool verbose;
};

static struct options opt = {
    .api = API_CHAT,
    .host = "127.0.0.1",
    .port = 0,
    .concurrency = 1,
    .streams_per_conn = 1,
    .duration_s = 0,
    .stall_s = 60,
    .message = "fake:slow=20,50",
    .model = "codex-5",
    .expect_chunks = 0,
    .npids = 0,
    .verbose = false,
};

static char request[REQUEST_MAX_BYTES];
static size_t request_len;
static struct conn *conns;
static size_t conns_live; /* not CONN_DONE */
static uint64_t t0_ns;
static uint64_t deadline_ns; /* duration mode: no stream starts after this */

static size_t completed;
static size_t failures[FAIL_KINDS];
static size_t open_now; /* streams past their first content chunk and not yet over */
static size_t open_max;
static struct samples ttfb;
static struct samples gaps;

struct rss {
    long open_kb; /* VmRSS when all C streams were open at once */
    long max_kb;  /* highest VmRSS sampled */
    long hwm_kb;  /* VmHWM at the end */
};
static struct rss rss[PIDS_MAX];
static bool rss_open_taken;

#include "http_conn.h"

/* --- /proc sampling ----------------------------------------------------------------------- */

static void sample_rss(bool all_open)
{
    for (size_t i = 0; i < opt.npids; i++) {
        long kb = -1;
        long hwm = -1;
        pid_status_kb(opt.pids[i], &kb, &hwm);
        if (kb > rss[i].max_kb)
            rss[i].max_kb = kb;
        if (hwm > 0)
            rss[i].hwm_kb = hwm;
        if (all_open)
            rss[i].open_kb = kb;
    }
}

/* --- streams ------------------------------------------------------------------------------ */

static bool wants_another(const struct conn *c)
{
    if (opt.duration_s > 0)
        return now_ns() < deadline_ns;
    return c->streams_done < opt.streams_per_conn;
}

/* One stream is over (ok or not); start the next one or retire the connection. */
static void stream_over(struct conn *c, bool ok, enum failure why, bool reuse)
{
    if (c->open_counted) {
        open_now--;
        c->open_counted = false;
    }
    if (ok)
        completed++;
    else
        failures[why]++;
    if (!ok && opt.verbose)
        fprintf(stderr, "sse: stream failed: %s (status %d, %zu chunks)\n", failure_names[why],
                c->status, c->chunks);
    c->streams_done++;
    if (!wants_another(c)) {
        conn_close_fd(c);
        c->state = CONN_DONE;
        conns_live--;
        return;
    }
    if (reuse && c->keep_alive && c->fd >= 0) {
        reset_response(c);
        start_send(c);
        return;
    }
    conn_close_fd(c);
    open_conn(c);
}

static bool on_content_chunk(struct conn *c)
{
    uint64_t t = now_ns();
    if (c->chunks == 0) {
        samples_add(&ttfb, t - c->started_ns);
        c->open_counted = true;
        open_now++;
        if (open_now > open_max)
            open_max = open_now;
        if (open_now == opt.concurrency && !rss_open_taken) {
            rss_open_taken = true;
            sample_rss(true);
        }
    } else {
        samples_add(&gaps, t - c->last_chunk_ns);
    }
    c->chunks++;
    c->last_chunk_ns = t;
    return true;
}

static bool on_body(struct conn *c, const char *p, size_t n)
{
    feed_sse(c, p, n, opt.api == API_RESPONSES);
    return true;
}

static void finish_response(struct conn *c, bool reuse)
{
    bool ok = c->status == 200 && c->done_seen && !c->error_seen && !c->too_long;
    enum failure why = FAIL_SHORT;
    if (c->status != 200)
        why = FAIL_STATUS;
    else if (c->error_seen)
        why = FAIL_ERROR_FRAME;
    if (ok && opt.expect_chunks > 0 && c->chunks != opt.expect_chunks) {
        ok = false;
        why = FAIL_CHUNKS;
    }
    stream_over(c, ok, why, reuse);
}

static void conn_failed(struct conn *c)
{
    stream_over(c, false, FAIL_CONNECT, false);
}

static void conn_request(const struct conn *c, const char **req, size_t *len)
{
    (void)c;
    *req = request;
    *len = request_len;
}

static void start_send(struct conn *c)
{
    c->state = CONN_SENDING;
    c->started_ns = now_ns();
    try_send(c);
}

/* Ends every stream still running (the stall timeout). */
static void abandon_all(void)
{
    for (size_t i = 0; i < opt.concurrency; i++) {
        struct conn *c = &conns[i];
        if (c->state == CONN_DONE)
            continue;
        if (c->open_counted) {
            open_now--;
            c->open_counted = false;
        }
        conn_close_fd(c);
        failures[c->state == CONN_CONNECTING ? FAIL_CONNECT : FAIL_SHORT]++;
        c->state = CONN_DONE;
        conns_live--;
    }
}

/* --- setup -------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: sse -p PORT [options]\n"
            "  --api NAME      chat (POST /v1/chat/completions) or responses (POST\n"
            "                  /v1/responses, store:false) (chat)\n"
            "  --host ADDR     IPv4 address of the gateway (127.0.0.1)\n"
            "  -p PORT         its port\n"
            "  -c N            concurrent connections, one stream at a time each (1)\n"
            "  -n N            streams per connection (1); ignored with -d\n"
            "  -d SECONDS      start new streams for this long, then let them finish\n"
            "  -m TEXT         user message (fake:slow=20,50)\n"
            "  --model NAME    model (codex-5)\n"
            "  --expect N      a stream must carry exactly N content chunks\n"
            "  --pid PID       sample this process's VmRSS/VmHWM (repeatable, up to %d)\n"
            "  --stall SECONDS give up when nothing arrives for this long (60)\n"
            "  -v              log each failed stream\n",
            PIDS_MAX);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        size_t n = 0;
        if (strcmp(a, "-v") == 0) {
            opt.verbose = true;
            continue;
        } else if (strcmp(a, "--api") == 0 && v) {
            ok = strcmp(v, "chat") == 0 || strcmp(v, "responses") == 0;
            opt.api = strcmp(v, "responses") == 0 ? API_RESPONSES : API_CHAT;
        } else if (strcmp(a, "--host") == 0 && v) {
            opt.host = v;
        } else if (strcmp(a, "-p") == 0 && v) {
            ok = parse_port(v, &opt.port);
        } else if (strcmp(a, "-c") == 0 && v) {
            ok = parse_size(v, 1, CONNS_MAX, &opt.concurrency);
        } else if (strcmp(a, "-n") == 0 && v) {
            ok = parse_size(v, 1, 10000000, &opt.streams_per_conn);
        } else if (strcmp(a, "-d") == 0 && v) {
            ok = parse_secs(v, &opt.duration_s);
        } else if (strcmp(a, "-m") == 0 && v) {
            opt.message = v;
        } else if (strcmp(a, "--model") == 0 && v) {
            opt.model = v;
        } else if (strcmp(a, "--expect") == 0 && v) {
            ok = parse_size(v, 1, 10000000, &opt.expect_chunks);
        } else if (strcmp(a, "--pid") == 0 && v) {
            ok = opt.npids < PIDS_MAX && parse_size(v, 1, 1u << 30, &n);
            if (ok)
                opt.pids[opt.npids++] = (int)n;
        } else if (strcmp(a, "--stall") == 0 && v) {
            ok = parse_secs(v, &opt.stall_s);
        } else {
            usage();
        }
        if (!ok)
            usage();
        i++;
    }
    if (opt.port == 0)
        usage();
}

static void build_request(void)
{
    char body[1024];
    bool chat = opt.api == API_CHAT;
    int blen = chat ? snprintf(body, sizeof(body),
                               "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":"
                               "\"user\",\"content\":\"%s\"}]}",
                               opt.model, opt.message)
                    : snprintf(body, sizeof(body),
                               "{\"model\":\"%s\",\"stream\":true,\"store\":false,\"input\":"
                               "\"%s\"}",
                               opt.model, opt.message);
    if (blen < 0 || (size_t)blen >= sizeof(body)) {
        fprintf(stderr, "sse: message too long\n");
        exit(2);
    }
    int n =
        snprintf(request, sizeof(request),
                 "POST %s HTTP/1.1\r\n"
                 "Host: %s:%d\r\n"
                 "Content-Type: application/json\r\n"
                 "Accept: text/event-stream\r\n"
                 "Content-Length: %d\r\n"
                 "\r\n"
                 "%s",
                 chat ? "/v1/chat/completions" : "/v1/responses", opt.host, opt.port, blen, body);
    if (n < 0 || (size_t)n >= sizeof(request)) {
        fprintf(stderr, "sse: request too long\n");
        exit(2);
    }
    request_len = (size_t)n;
}

static void report(void)
{
    double secs = (double)(now_ns() - t0_ns) / 1e9;
    samples_sort(&ttfb);
    samples_sort(&gaps);
    size_t failed = 0;
    for (size_t i = 0; i < FAIL_KINDS; i++)
        failed += failures[i];
    printf("SSE c=%zu streams=%zu completed=%zu failed=%zu secs=%.3f open_max=%zu"
           " ttfb_p50_us=%" PRIu32 " ttfb_p99_us=%" PRIu32 " ttfb_max_us=%" PRIu32
           " gaps=%zu gap_p50_us=%" PRIu32 " gap_p90_us=%" PRIu32 " gap_p99_us=%" PRIu32
           " gap_max_us=%" PRIu32,
           opt.concurrency, completed + failed, completed, failed, secs, open_max, pct(&ttfb, 50),
           pct(&ttfb, 99), pct(&ttfb, 100), gaps.len, pct(&gaps, 50), pct(&gaps, 90),
           pct(&gaps, 99), pct(&gaps, 100));
    for (size_t i = 0; i < FAIL_KINDS; i++)
        printf(" %s=%zu", failure_names[i], failures[i]);
    printf("\n");
    for (size_t i = 0; i < opt.npids; i++)
        printf("SSE_RSS pid=%d rss_open_kb=%ld rss_max_kb=%ld hwm_kb=%ld\n", opt.pids[i],
               rss_open_taken ? rss[i].open_kb : -1L, rss[i].max_kb, rss[i].hwm_kb);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(opt.concurrency);
    build_request();
    if (!client_set_addr(opt.host, opt.port)) {
        fprintf(stderr, "sse: --host must be an IPv4 address\n");
        return 2;
    }
    for (size_t i = 0; i < opt.npids; i++)
        rss[i] = (struct rss){.open_kb = -1, .max_kb = -1, .hwm_kb = -1};
    ep = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc(opt.concurrency, sizeof(*conns));
    if (ep < 0 || conns == NULL) {
        perror("sse: setup");
        return 1;
    }
    t0_ns = now_ns();
    last_progress_ns = t0_ns;
    deadline_ns = t0_ns + (uint64_t)(opt.duration_s * 1e9);
    conns_live = opt.concurrency;
    for (size_t i = 0; i < opt.concurrency; i++) {
        conns[i].fd = -1;
        open_conn(&conns[i]);
    }
    sample_rss(false);
    uint64_t next_tick = now_ns() + (uint64_t)TICK_MS * 1000000u;
    while (conns_live > 0) {
        poll_conns(TICK_MS);
        uint64_t t = now_ns();
        if (t >= next_tick) {
            next_tick = t + (uint64_t)TICK_MS * 1000000u;
            sample_rss(false);
            if (t - last_progress_ns > (uint64_t)(opt.stall_s * 1e9)) {
                fprintf(stderr, "sse: nothing arrived for %.0f s: giving up\n", opt.stall_s);
                abandon_all();
            }
        }
    }
    sample_rss(false);
    report();
    for (size_t i = 0; i < opt.concurrency; i++)
        free(conns[i].buf);
    free(conns);
    free(ttfb.v);
    free(gaps.v);
    close(ep);
    size_t failed = 0;
    for (size_t i = 0; i < FAIL_KINDS; i++)
        failed += failures[i];
    return failed ? 1 : 0;
}
