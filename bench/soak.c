/* soak.c: the long-run load client (build/soak). Keeps C keep-alive connections busy with a
 * rotating mix of requests until N are done: non-stream chat, streamed chat, chat with tools
 * (answered finish_reason tool_calls), Responses (store:false, non-stream and streamed) and
 * streams closed by the client after a few content chunks. Every answer is checked. Every
 * interval it samples the gateway's VmRSS and open descriptors (/proc/PID/status, /proc/PID/fd)
 * and prints a line; at the end the count of each kind, the failures, and the least-squares
 * slopes of RSS and descriptors over the second half of the run. Before the load and after it
 * every connection is closed and the gateway's descriptors are counted once they settle: more
 * after than before is a leak. Exits 1 on any failed request or leaked descriptor. One thread,
 * non-blocking sockets, epoll. */
#define CLIENT_NAME "soak"
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include "client.h"

enum {
    CONNS_MAX = 10000,
    REQUEST_MAX_BYTES = 4096,
    BODY_MAX_BYTES = 65536,   /* a non-stream body; longer is a failure */
    SAMPLES_CAP = 100000,     /* periodic /proc samples kept for the slopes */
    SETTLE_STABLE_TICKS = 10, /* descriptors unchanged this many ticks: settled */
    SETTLE_MAX_TICKS = 150,   /* give up waiting after 15 s */
};

enum kind { K_CHAT, K_STREAM, K_TOOLS, K_RESP, K_RESP_STREAM, K_ABORT, KINDS };

static const char *const kind_names[KINDS] = {"chat",      "stream",           "tools",
                                              "responses", "responses_stream", "abort"};

/* The rotation: 20 slots, 30 % non-stream chat, 20 % streamed chat, 15 % tools, 10 % Responses,
 * 10 % streamed Responses, 15 % aborted streams. */
static const enum kind mix[] = {K_CHAT,  K_STREAM, K_TOOLS, K_CHAT,        K_RESP,
                                K_ABORT, K_STREAM, K_CHAT,  K_TOOLS,       K_RESP_STREAM,
                                K_CHAT,  K_STREAM, K_ABORT, K_CHAT,        K_TOOLS,
                                K_RESP,  K_STREAM, K_CHAT,  K_RESP_STREAM, K_ABORT};

enum conn_state {
    CONN_IDLE,       /* no request yet */
    CONN_CONNECTING, /* connect() in progress */
    CONN_SENDING,    /* request partly written */
    CONN_HEAD,       /* reading the response head */
    CONN_BODY,       /* reading the body */
    CONN_DONE,       /* closed, nothing more to send */
};

enum failure {
    FAIL_CONNECT,
    FAIL_STATUS,
    FAIL_ERROR_FRAME,
    FAIL_SHORT,
    FAIL_CHUNKS,
    FAIL_BODY,
    FAIL_KINDS
};

static const char *const failure_names[FAIL_KINDS] = {"fail_connect", "fail_status", "fail_error",
                                                      "fail_short",   "fail_chunks", "fail_body"};

struct conn {
    int fd;
    enum conn_state state;
    enum kind kind;
    size_t sent;
    bool keep_alive;
    char head[HEAD_MAX_BYTES];
    size_t head_len;
    int status;
    bool chunked;
    bool has_length;
    uint64_t body_left;
    enum chunk_state cstate;
    uint64_t chunk_left;
    bool chunk_size_digits;
    size_t trailer_line_len;
    char *buf; /* the SSE line, or the whole non-stream body; allocated on first use */
    size_t buf_len;
    bool too_long;
    bool done_seen;
    bool error_seen;
    size_t chunks;
};

struct options {
    const char *host;
    int port;
    size_t concurrency;
    size_t requests;
    size_t warmup;
    double interval_s;
    double stall_s;
    const char *model;
    const char *stream_msg;
    size_t stream_chunks;
    const char *abort_msg;
    size_t abort_after;
    int pid;
};

static struct options opt = {
    .host = "127.0.0.1",
    .concurrency = 64,
    .requests = 1000000,
    .warmup = 2000,
    .interval_s = 10,
    .stall_s = 60,
    .model = "codex-5",
    .stream_msg = "fake:slow=1,20",
    .stream_chunks = 20,
    .abort_msg = "fake:slow=20,20",
    .abort_after = 2,
};

static char requests[KINDS][REQUEST_MAX_BYTES];
static size_t request_lens[KINDS];
static struct conn *conns;
static size_t conns_live;

/* The phase being run: requests issued and finished against its target. */
static size_t target;
static size_t issued;
static size_t finished;
static size_t mix_next;

static size_t ok_by_kind[KINDS];
static size_t failed_by_kind[KINDS];
static size_t failures[FAIL_KINDS];

struct sample {
    double t_s;
    size_t requests;
    long rss_kb;
    long fds;
};
static struct sample *series;
static size_t series_len;

#include "http_conn.h"

/* --- /proc -------------------------------------------------------------------------------- */

static long rss_kb(int pid)
{
    long kb = -1;
    pid_status_kb(pid, &kb, NULL);
    return kb;
}

static long fd_count(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    long n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* --- requests ----------------------------------------------------------------------------- */

static void build_one(enum kind k)
{
    char body[2048];
    const char *path = "/v1/chat/completions";
    int blen;
    switch (k) {
    case K_CHAT:
        blen = snprintf(body, sizeof(body),
                        "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":"
                        "\"fake:text\"}]}",
                        opt.model);
        break;
    case K_STREAM:
    case K_ABORT:
        blen = snprintf(body, sizeof(body),
                        "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                        "\"content\":\"%s\"}]}",
                        opt.model, k == K_STREAM ? opt.stream_msg : opt.abort_msg);
        break;
    case K_TOOLS:
        blen = snprintf(body, sizeof(body),
                        "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":"
                        "\"fake:tools\"}],\"tools\":[{\"type\":\"function\",\"function\":{"
                        "\"name\":\"get_weather\",\"description\":\"Weather in a city\","
                        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{"
                        "\"type\":\"string\"}},\"required\":[\"city\"]}}}]}",
                        opt.model);
        break;
    case K_RESP:
    case K_RESP_STREAM:
        path = "/v1/responses";
        blen = snprintf(body, sizeof(body),
                        "{\"model\":\"%s\",\"stream\":%s,\"store\":false,\"input\":"
                        "\"fake:text\"}",
                        opt.model, k == K_RESP_STREAM ? "true" : "false");
        break;
    default:
        abort();
    }
    if (blen < 0 || (size_t)blen >= sizeof(body)) {
        fprintf(stderr, "soak: message too long\n");
        exit(2);
    }
    int n = snprintf(requests[k], sizeof(requests[k]),
                     "POST %s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %d\r\n"
                     "\r\n"
                     "%s",
                     path, opt.host, opt.port, blen, body);
    if (n < 0 || (size_t)n >= sizeof(requests[k])) {
        fprintf(stderr, "soak: request too long\n");
        exit(2);
    }
    request_lens[k] = (size_t)n;
}

static bool is_stream(enum kind k)
{
    return k == K_STREAM || k == K_ABORT || k == K_RESP_STREAM;
}

/* --- connections -------------------------------------------------------------------------- */

/* The next request on this connection (reusing it when it may), or its retirement. */
static void next_request(struct conn *c, bool reuse)
{
    if (issued >= target) {
        conn_close_fd(c);
        c->state = CONN_DONE;
        conns_live--;
        return;
    }
    issued++;
    c->kind = mix[mix_next];
    mix_next = (mix_next + 1) % (sizeof(mix) / sizeof(mix[0]));
    if (reuse && c->keep_alive && c->fd >= 0) {
        reset_response(c);
        start_send(c);
        return;
    }
    conn_close_fd(c);
    open_conn(c);
}

static void request_over(struct conn *c, bool ok, enum failure why, bool reuse)
{
    finished++;
    if (ok) {
        ok_by_kind[c->kind]++;
    } else {
        failed_by_kind[c->kind]++;
        failures[why]++;
        if (failed_by_kind[c->kind] <= 5)
            fprintf(stderr, "soak: %s failed: %s (status %d, %zu chunks)\n", kind_names[c->kind],
                    failure_names[why], c->status, c->chunks);
    }
    next_request(c, reuse);
}

/* Counts a content chunk; false when it was an abort's last one and the connection is gone
 * (the struct already carries the next request). */
static bool on_content_chunk(struct conn *c)
{
    c->chunks++;
    if (c->kind != K_ABORT || c->chunks < opt.abort_after)
        return true;
    /* The client goes away mid-stream: the gateway must let the turn go. */
    c->keep_alive = false;
    conn_close_fd(c);
    request_over(c, true, FAIL_SHORT, false);
    return false;
}

/* Body bytes: SSE lines for a stream, kept whole otherwise. False when the connection is gone. */
static bool on_body(struct conn *c, const char *p, size_t n)
{
    if (c->buf == NULL)
        c->buf = xrealloc(NULL, (size_t)BODY_MAX_BYTES > (size_t)SSE_LINE_MAX_BYTES
                                    ? (size_t)BODY_MAX_BYTES
                                    : (size_t)SSE_LINE_MAX_BYTES);
    if (!is_stream(c->kind)) {
        if (c->buf_len + n > BODY_MAX_BYTES) {
            c->too_long = true;
            return true;
        }
        memcpy(c->buf + c->buf_len, p, n);
        c->buf_len += n;
        return true;
    }
    return feed_sse(c, p, n, c->kind == K_RESP_STREAM);
}

static bool body_has(const struct conn *c, const char *s)
{
    return memmem(c->buf, c->buf_len, s, strlen(s)) != NULL;
}

/* Whether a finished response is what its kind must get. */
static void finish_response(struct conn *c, bool reuse)
{
    enum failure why = FAIL_SHORT;
    bool ok = c->status == 200 && !c->too_long;
    if (c->status != 200)
        why = FAIL_STATUS;
    else if (c->too_long)
        why = FAIL_BODY;
    if (ok && is_stream(c->kind)) {
        if (c->error_seen) {
            ok = false;
            why = FAIL_ERROR_FRAME;
        } else if (!c->done_seen || c->kind == K_ABORT) {
            ok = false; /* an abort that reached its end is short of its abort point */
            why = FAIL_SHORT;
        } else if (c->chunks != (c->kind == K_STREAM ? opt.stream_chunks : 4)) {
            ok = false;
            why = FAIL_CHUNKS;
        }
    } else if (ok) {
        switch (c->kind) {
        case K_CHAT:
            ok = body_has(c, "\"finish_reason\":\"stop\"") &&
                 body_has(c, "\"content\":\"Hello from fake-codex.\"");
            break;
        case K_TOOLS:
            ok = body_has(c, "\"finish_reason\":\"tool_calls\"") &&
                 body_has(c, "\"name\":\"get_weather\"");
            break;
        case K_RESP:
            ok = body_has(c, "\"status\":\"completed\"") &&
                 body_has(c, "\"text\":\"Hello from fake-codex.\"");
            break;
        default:
            break;
        }
        if (!ok)
            why = FAIL_BODY;
    }
    request_over(c, ok, why, reuse);
}

static void conn_failed(struct conn *c)
{
    request_over(c, false, FAIL_CONNECT, false);
}

static void conn_request(const struct conn *c, const char **req, size_t *len)
{
    *req = requests[c->kind];
    *len = request_lens[c->kind];
}

static void start_send(struct conn *c)
{
    c->state = CONN_SENDING;
    try_send(c);
}

static void abandon_all(void)
{
    for (size_t i = 0; i < opt.concurrency; i++) {
        struct conn *c = &conns[i];
        if (c->state == CONN_DONE)
            continue;
        conn_close_fd(c);
        failed_by_kind[c->kind]++;
        failures[c->state == CONN_CONNECTING ? FAIL_CONNECT : FAIL_SHORT]++;
        c->state = CONN_DONE;
        conns_live--;
    }
}

/* --- phases ------------------------------------------------------------------------------- */

static size_t total_failed(void)
{
    size_t n = 0;
    for (size_t i = 0; i < FAIL_KINDS; i++)
        n += failures[i];
    return n;
}

/* Prints a sample; keeps it for the slopes when `keep` (not the one after the last request,
 * whose connections are already closed). */
static void take_sample(uint64_t t0, size_t base, size_t *last_done, uint64_t *last_t, bool keep)
{
    uint64_t t = now_ns();
    struct sample s = {.t_s = (double)(t - t0) / 1e9,
                       .requests = finished - base,
                       .rss_kb = rss_kb(opt.pid),
                       .fds = fd_count(opt.pid)};
    double dt = (double)(t - *last_t) / 1e9;
    double rps = dt > 0 ? (double)(s.requests - *last_done) / dt : 0;
    printf("SOAK_SAMPLE t_s=%.1f requests=%zu rss_kb=%ld fds=%ld rps=%.0f failed=%zu\n", s.t_s,
           s.requests, s.rss_kb, s.fds, rps, total_failed());
    fflush(stdout);
    *last_done = s.requests;
    *last_t = t;
    if (keep && series_len < SAMPLES_CAP)
        series[series_len++] = s;
}

/* Runs `n` requests on fresh connections, then closes them all. Samples every interval when
 * `sampled`. */
static void run_phase(size_t n, bool sampled)
{
    target = issued + n;
    size_t base = finished;
    conns_live = opt.concurrency;
    for (size_t i = 0; i < opt.concurrency; i++) {
        conns[i].fd = -1;
        conns[i].state = CONN_IDLE;
        next_request(&conns[i], false);
    }
    uint64_t t0 = now_ns();
    uint64_t last_t = t0;
    size_t last_done = 0;
    last_progress_ns = t0;
    uint64_t interval_ns = (uint64_t)(opt.interval_s * 1e9);
    uint64_t next_sample = t0 + interval_ns;
    while (conns_live > 0) {
        poll_conns(TICK_MS);
        uint64_t t = now_ns();
        if (sampled && t >= next_sample) {
            next_sample += interval_ns;
            take_sample(t0, base, &last_done, &last_t, true);
        }
        if (t - last_progress_ns > (uint64_t)(opt.stall_s * 1e9)) {
            fprintf(stderr, "soak: nothing arrived for %.0f s: giving up\n", opt.stall_s);
            abandon_all();
        }
    }
    if (sampled)
        take_sample(t0, base, &last_done, &last_t, false);
}

/* With every connection closed: the gateway's descriptors once unchanged for a second (or, with
 * `at_most` >= 0, once no more than that), waiting at most 15 s. */
static long settled_fds(long at_most)
{
    long last = fd_count(opt.pid);
    int stable = 0;
    for (int i = 0; i < SETTLE_MAX_TICKS; i++) {
        if (at_most >= 0 && last >= 0 && last <= at_most)
            return last;
        usleep(TICK_MS * 1000);
        long now = fd_count(opt.pid);
        stable = now == last ? stable + 1 : 0;
        last = now;
        if (at_most < 0 && stable >= SETTLE_STABLE_TICKS)
            return last;
    }
    return last;
}

/* Least-squares slope of y over x for the samples from the second half (x = requests). */
static bool slope(size_t half, bool fds, double *out)
{
    double sx = 0, sy = 0, n = 0;
    for (size_t i = 0; i < series_len; i++) {
        if (series[i].requests < half)
            continue;
        sx += (double)series[i].requests;
        sy += (double)(fds ? series[i].fds : series[i].rss_kb);
        n++;
    }
    if (n < 3)
        return false;
    double mx = sx / n;
    double my = sy / n;
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < series_len; i++) {
        if (series[i].requests < half)
            continue;
        double dx = (double)series[i].requests - mx;
        sxy += dx * ((double)(fds ? series[i].fds : series[i].rss_kb) - my);
        sxx += dx * dx;
    }
    if (sxx <= 0)
        return false;
    *out = sxy / sxx;
    return true;
}

/* --- setup -------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: soak -p PORT --pid GATEWAY_PID [options]\n"
            "  --host ADDR        IPv4 address of the gateway (127.0.0.1)\n"
            "  -c N               concurrent keep-alive connections (64)\n"
            "  -n N               requests after the warm-up (1000000)\n"
            "  -w N               warm-up requests before the first descriptor count (2000)\n"
            "  -i SECONDS         sample interval (10)\n"
            "  --model NAME       model (codex-5)\n"
            "  --stream-msg TEXT  streamed chat message (fake:slow=1,20)\n"
            "  --stream-chunks N  its content chunks (20)\n"
            "  --abort-msg TEXT   message of the streams the client closes (fake:slow=20,20)\n"
            "  --abort-after N    close them after this many content chunks (2)\n"
            "  --stall SECONDS    give up when nothing arrives for this long (60)\n");
    exit(2);
}

/* One option and its value; false when the name is unknown or the value bad. */
static bool option(const char *a, const char *v)
{
    bool ok = true;
    size_t n = 0;
    if (strcmp(a, "--host") == 0) {
        opt.host = v;
    } else if (strcmp(a, "-p") == 0) {
        ok = parse_port(v, &opt.port);
    } else if (strcmp(a, "--pid") == 0) {
        ok = parse_size(v, 1, 1u << 30, &n);
        opt.pid = (int)n;
    } else if (strcmp(a, "-c") == 0) {
        ok = parse_size(v, 1, CONNS_MAX, &opt.concurrency);
    } else if (strcmp(a, "-n") == 0) {
        ok = parse_size(v, 1, 1000000000, &opt.requests);
    } else if (strcmp(a, "-w") == 0) {
        ok = parse_size(v, 0, 1000000000, &opt.warmup);
    } else if (strcmp(a, "-i") == 0) {
        ok = parse_secs(v, &opt.interval_s) && opt.interval_s > 0;
    } else if (strcmp(a, "--model") == 0) {
        opt.model = v;
    } else if (strcmp(a, "--stream-msg") == 0) {
        opt.stream_msg = v;
    } else if (strcmp(a, "--stream-chunks") == 0) {
        ok = parse_size(v, 1, 1000000, &opt.stream_chunks);
    } else if (strcmp(a, "--abort-msg") == 0) {
        opt.abort_msg = v;
    } else if (strcmp(a, "--abort-after") == 0) {
        ok = parse_size(v, 1, 1000000, &opt.abort_after);
    } else if (strcmp(a, "--stall") == 0) {
        ok = parse_secs(v, &opt.stall_s);
    } else {
        ok = false;
    }
    return ok;
}

static void parse_args(int argc, char **argv)
{
    parse_pairs(argc, argv, option, usage);
    if (opt.port == 0 || opt.pid == 0)
        usage();
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(opt.concurrency);
    for (int k = 0; k < KINDS; k++)
        build_one((enum kind)k);
    if (!client_set_addr(opt.host, opt.port)) {
        fprintf(stderr, "soak: --host must be an IPv4 address\n");
        return 2;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc(opt.concurrency, sizeof(*conns));
    series = calloc(SAMPLES_CAP, sizeof(*series));
    if (ep < 0 || conns == NULL || series == NULL) {
        perror("soak: setup");
        return 1;
    }
    if (opt.warmup > 0)
        run_phase(opt.warmup, false);
    size_t warm_failed = total_failed();
    long fds_before = settled_fds(-1);
    long rss_before = rss_kb(opt.pid);
    printf("SOAK_START warmup=%zu warmup_failed=%zu rss_kb=%ld fds=%ld\n", opt.warmup, warm_failed,
           rss_before, fds_before);
    fflush(stdout);
    memset(ok_by_kind, 0, sizeof(ok_by_kind));
    uint64_t t0 = now_ns();
    run_phase(opt.requests, true);
    double secs = (double)(now_ns() - t0) / 1e9;
    long fds_after = settled_fds(fds_before);
    long rss_after = rss_kb(opt.pid);

    size_t failed = total_failed();
    printf("SOAK requests=%zu secs=%.1f rps=%.0f failed=%zu", finished - opt.warmup, secs,
           secs > 0 ? (double)(finished - opt.warmup) / secs : 0, failed);
    for (int k = 0; k < KINDS; k++)
        printf(" %s=%zu", kind_names[k], ok_by_kind[k]);
    for (int k = 0; k < KINDS; k++)
        if (failed_by_kind[k])
            printf(" %s_failed=%zu", kind_names[k], failed_by_kind[k]);
    for (int i = 0; i < FAIL_KINDS; i++)
        if (failures[i])
            printf(" %s=%zu", failure_names[i], failures[i]);
    printf("\n");
    double rs = 0;
    double fs = 0;
    bool have_rs = slope(opt.requests / 2, false, &rs);
    bool have_fs = slope(opt.requests / 2, true, &fs);
    if (have_rs && have_fs)
        printf("SOAK_SLOPE samples=%zu rss_kb_per_100k=%.1f fds_per_100k=%.2f\n", series_len,
               rs * 1e5, fs * 1e5);
    else
        printf("SOAK_SLOPE samples=%zu rss_kb_per_100k=n/a fds_per_100k=n/a (fewer than 3 "
               "samples in the second half)\n",
               series_len);
    bool fds_grew = fds_after < 0 || fds_after > fds_before;
    printf("SOAK_END rss_kb_before=%ld rss_kb_after=%ld fds_before=%ld fds_after=%ld%s\n",
           rss_before, rss_after, fds_before, fds_after, fds_grew ? " FDS_GREW" : "");
    fflush(stdout);
    for (size_t i = 0; i < opt.concurrency; i++)
        free(conns[i].buf);
    free(conns);
    free(series);
    close(ep);
    return failed || fds_grew ? 1 : 0;
}
