/* sse.c: streaming load client. Holds C connections to the gateway, each POSTing streaming chat
 * completions (or, with --api responses, streaming Responses with store:false); decodes the
 * chunked SSE and reports time to the first content chunk, the gaps between content chunks
 * (µs), streams completed/failed, and optionally the RSS of given pids while every stream is
 * open. One thread, non-blocking sockets, epoll. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "samples.h"

enum {
    CONNS_MAX = 60000,
    PIDS_MAX = 4,
    REQUEST_MAX_BYTES = 4096,
    HEAD_MAX_BYTES = 8192,      /* response head; longer is a failure */
    SSE_LINE_MAX_BYTES = 65536, /* one SSE line; longer is a failure */
    READ_BUF_BYTES = 65536,
    EVENTS_MAX = 256,
    TICK_MS = 100, /* RSS sampling and stall checks */
    FD_RESERVE = 64,
};

enum conn_state {
    CONN_IDLE,       /* not connected, or finished */
    CONN_CONNECTING, /* connect() in progress */
    CONN_SENDING,    /* request partly written */
    CONN_HEAD,       /* reading the response head */
    CONN_BODY,       /* reading the body */
    CONN_DONE,       /* all its streams are over */
};

/* The chunked-transfer decoder, one state per position in the framing. */
enum chunk_state {
    CHUNK_SIZE,    /* hex digits of a chunk size */
    CHUNK_EXT,     /* chunk extension up to CRLF, ignored */
    CHUNK_DATA,    /* chunk_left bytes of payload */
    CHUNK_DATA_CR, /* the CRLF after a chunk's payload */
    CHUNK_DATA_LF,
    CHUNK_TRAILER, /* after the 0 chunk: trailer lines until an empty one */
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
    char *line; /* SSE_LINE_MAX_BYTES, allocated on first use */
    size_t line_len;
    bool line_too_long;
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

static int ep = -1;
static struct sockaddr_in addr;
static char request[REQUEST_MAX_BYTES];
static size_t request_len;
static struct conn *conns;
static size_t conns_live; /* not CONN_DONE */
static uint64_t t0_ns;
static uint64_t deadline_ns; /* duration mode: no stream starts after this */
static uint64_t last_progress_ns;

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

/* --- /proc sampling ----------------------------------------------------------------------- */

/* The value in kB of a "Key:   123 kB" line of /proc/<pid>/status, or -1. */
static long status_kb(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (p == NULL)
        return -1;
    p += strlen(key);
    char *end = NULL;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || end == p)
        return -1;
    return v;
}

static void read_status(int pid, long *rss_kb, long *hwm_kb)
{
    *rss_kb = -1;
    *hwm_kb = -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char text[8192];
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return;
    text[n] = '\0';
    *rss_kb = status_kb(text, "\nVmRSS:");
    *hwm_kb = status_kb(text, "\nVmHWM:");
}

static void sample_rss(bool all_open)
{
    for (size_t i = 0; i < opt.npids; i++) {
        long kb = -1;
        long hwm = -1;
        read_status(opt.pids[i], &kb, &hwm);
        if (kb > rss[i].max_kb)
            rss[i].max_kb = kb;
        if (hwm > 0)
            rss[i].hwm_kb = hwm;
        if (all_open)
            rss[i].open_kb = kb;
    }
}

/* --- connections -------------------------------------------------------------------------- */

static void conn_close_fd(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

static void set_events(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        perror("sse: epoll_ctl");
        exit(1);
    }
}

static void reset_response(struct conn *c)
{
    c->sent = 0;
    c->head_len = 0;
    c->status = 0;
    c->chunked = false;
    c->has_length = false;
    c->body_left = 0;
    c->keep_alive = true;
    c->cstate = CHUNK_SIZE;
    c->chunk_left = 0;
    c->chunk_size_digits = false;
    c->trailer_line_len = 0;
    c->line_len = 0;
    c->line_too_long = false;
    c->done_seen = false;
    c->error_seen = false;
    c->open_counted = false;
    c->chunks = 0;
}

static void start_send(struct conn *c);
static void open_conn(struct conn *c);

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

static void on_content_chunk(struct conn *c)
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
}

/* A content chunk carries "content":"<at least one character>"; the role chunk has "" and the
 * finish chunk an empty delta. Cheaper than parsing every frame as JSON. */
static bool is_content(const char *p, size_t n)
{
    static const char key[] = "\"content\":\"";
    size_t k = sizeof(key) - 1;
    const char *end = p + n;
    while ((size_t)(end - p) > k) {
        const char *hit = memmem(p, (size_t)(end - p), key, k);
        if (hit == NULL || hit + k >= end)
            return false;
        if (hit[k] != '"')
            return true;
        p = hit + k;
    }
    return false;
}

static bool has_type(const char *p, size_t n, const char *type)
{
    static const char key[] = "{\"type\":\"";
    size_t k = sizeof(key) - 1;
    size_t t = strlen(type);
    return n > k + t && memcmp(p, key, k) == 0 && memcmp(p + k, type, t) == 0 && p[k + t] == '"';
}

/* A Responses event's data: every event object starts with its type. A content chunk is an
 * output_text delta; the stream is over with response.completed; response.failed,
 * response.incomplete and error events are failures. */
static void on_responses_data(struct conn *c, const char *p, size_t n)
{
    if (has_type(p, n, "response.output_text.delta"))
        on_content_chunk(c);
    else if (has_type(p, n, "response.completed"))
        c->done_seen = true;
    else if (has_type(p, n, "response.failed") || has_type(p, n, "response.incomplete") ||
             has_type(p, n, "error"))
        c->error_seen = true;
}

static void on_sse_line(struct conn *c, const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n < 5 || memcmp(p, "data:", 5) != 0)
        return; /* blank separators, comments (keepalives), other fields */
    p += 5;
    n -= 5;
    if (n > 0 && *p == ' ') {
        p++;
        n--;
    }
    if (opt.api == API_RESPONSES) {
        on_responses_data(c, p, n);
        return;
    }
    if (n == 6 && memcmp(p, "[DONE]", 6) == 0) {
        c->done_seen = true;
        return;
    }
    if (memmem(p, n, "\"error\":{", 9) != NULL) {
        c->error_seen = true;
        return;
    }
    if (is_content(p, n))
        on_content_chunk(c);
}

static void feed_sse(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (c->line_len + take > SSE_LINE_MAX_BYTES) {
            c->line_too_long = true;
            c->line_len = 0;
        } else if (c->line_len > 0 || nl == NULL) {
            if (c->line == NULL)
                c->line = xrealloc(NULL, SSE_LINE_MAX_BYTES);
            memcpy(c->line + c->line_len, p, take);
            c->line_len += take;
        }
        if (nl == NULL)
            return;
        if (c->line_len > 0) {
            on_sse_line(c, c->line, c->line_len);
            c->line_len = 0;
        } else if (take > 0) {
            on_sse_line(c, p, take);
        }
        p += take + 1;
        n -= take + 1;
    }
}

static void finish_response(struct conn *c, bool reuse)
{
    bool ok = c->status == 200 && c->done_seen && !c->error_seen && !c->line_too_long;
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

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Feeds chunked framing; returns bytes used, and sets *over when the last chunk ended. A
 * framing error ends the response as failed (*over, with done_seen left as it was). */
static size_t feed_chunked(struct conn *c, const char *p, size_t n, bool *over, bool *bad)
{
    size_t i = 0;
    while (i < n && !*over) {
        char ch = p[i];
        switch (c->cstate) {
        case CHUNK_SIZE: {
            int h = hexval(ch);
            if (h >= 0) {
                if (c->chunk_left > (UINT64_MAX >> 4)) {
                    *bad = true;
                    *over = true;
                    return i;
                }
                c->chunk_left = c->chunk_left * 16 + (uint64_t)h;
                c->chunk_size_digits = true;
                i++;
                break;
            }
            if (!c->chunk_size_digits) {
                *bad = true;
                *over = true;
                return i;
            }
            c->cstate = CHUNK_EXT;
            break; /* CHUNK_EXT looks at this same byte */
        }
        case CHUNK_EXT:
            i++;
            if (ch != '\n')
                break;
            c->chunk_size_digits = false;
            if (c->chunk_left == 0) {
                c->cstate = CHUNK_TRAILER;
                c->trailer_line_len = 0;
            } else {
                c->cstate = CHUNK_DATA;
            }
            break;
        case CHUNK_DATA: {
            size_t take = n - i;
            if (take > c->chunk_left)
                take = (size_t)c->chunk_left;
            feed_sse(c, p + i, take);
            i += take;
            c->chunk_left -= take;
            if (c->chunk_left == 0)
                c->cstate = CHUNK_DATA_CR;
            break;
        }
        case CHUNK_DATA_CR:
        case CHUNK_DATA_LF:
            i++;
            if (ch == '\n')
                c->cstate = CHUNK_SIZE;
            else if (ch != '\r') {
                *bad = true;
                *over = true;
                return i;
            }
            break;
        case CHUNK_TRAILER:
            i++;
            if (ch == '\n') {
                if (c->trailer_line_len == 0)
                    *over = true;
                c->trailer_line_len = 0;
            } else if (ch != '\r') {
                c->trailer_line_len++;
            }
            break;
        }
    }
    return i;
}

static bool header_is(const char *line, size_t len, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return false;
    const char *v = line + nlen + 1;
    size_t vlen = len - nlen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    size_t want = strlen(value);
    if (value[0] == '\0')
        return true;
    return vlen >= want && strncasecmp(v, value, want) == 0;
}

/* Parses the head in c->head (ending in CRLFCRLF); false when it is not HTTP. */
static bool parse_head(struct conn *c)
{
    if (c->head_len < 12 || memcmp(c->head, "HTTP/1.", 7) != 0)
        return false;
    c->status = (c->head[9] - '0') * 100 + (c->head[10] - '0') * 10 + (c->head[11] - '0');
    const char *p = memchr(c->head, '\n', c->head_len);
    const char *end = c->head + c->head_len;
    while (p != NULL && p + 1 < end) {
        const char *line = p + 1;
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (header_is(line, len, "Transfer-Encoding", "chunked"))
            c->chunked = true;
        else if (header_is(line, len, "Connection", "close"))
            c->keep_alive = false;
        else if (header_is(line, len, "Content-Length", "")) {
            const char *v = memchr(line, ':', len) + 1;
            char *vend = NULL;
            errno = 0;
            unsigned long long cl = strtoull(v, &vend, 10);
            if (errno == 0 && vend != v) {
                c->has_length = true;
                c->body_left = cl;
            }
        }
        p = nl;
    }
    return true;
}

/* Feeds response bytes; may end the stream (and start the next one on this connection). */
static void on_bytes(struct conn *c, const char *p, size_t n)
{
    while (n > 0 && (c->state == CONN_HEAD || c->state == CONN_BODY)) {
        if (c->state == CONN_HEAD) {
            size_t room = sizeof(c->head) - c->head_len;
            size_t take = n < room ? n : room;
            memcpy(c->head + c->head_len, p, take);
            size_t old = c->head_len;
            c->head_len += take;
            size_t from = old >= 3 ? old - 3 : 0;
            const char *hit = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
            if (hit == NULL) {
                if (c->head_len == sizeof(c->head)) {
                    c->keep_alive = false;
                    finish_response(c, false);
                    return;
                }
                return;
            }
            size_t head_end = (size_t)(hit - c->head) + 4;
            size_t used = head_end - old;
            c->head_len = head_end;
            if (!parse_head(c)) {
                c->keep_alive = false;
                finish_response(c, false);
                return;
            }
            c->state = CONN_BODY;
            p += used;
            n -= used;
            if (!c->chunked && c->has_length && c->body_left == 0) {
                finish_response(c, true);
                return;
            }
            continue;
        }
        if (c->chunked) {
            bool over = false;
            bool bad = false;
            size_t used = feed_chunked(c, p, n, &over, &bad);
            p += used;
            n -= used;
            if (over) {
                if (bad) {
                    c->keep_alive = false;
                    c->done_seen = false;
                }
                /* Bytes after the response would be a pipelining bug on either side. */
                if (n > 0)
                    c->keep_alive = false;
                finish_response(c, true);
                return;
            }
        } else if (c->has_length) {
            size_t take = n;
            if (take > c->body_left)
                take = (size_t)c->body_left;
            feed_sse(c, p, take);
            c->body_left -= take;
            p += take;
            n -= take;
            if (c->body_left == 0) {
                finish_response(c, true);
                return;
            }
        } else {
            feed_sse(c, p, n); /* until EOF */
            return;
        }
    }
}

static void on_readable(struct conn *c)
{
    static char buf[READ_BUF_BYTES];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* EOF or reset: a body without length ends here; anything else is cut short. */
        bool eof_body = n == 0 && c->state == CONN_BODY && !c->chunked && !c->has_length;
        c->keep_alive = false;
        if (c->state == CONN_HEAD && c->head_len == 0 && c->sent == 0) {
            conn_close_fd(c);
            stream_over(c, false, FAIL_CONNECT, false);
        } else if (eof_body) {
            finish_response(c, false);
        } else {
            c->done_seen = false;
            finish_response(c, false);
        }
        return;
    }
    last_progress_ns = now_ns();
    on_bytes(c, buf, (size_t)n);
}

static void try_send(struct conn *c)
{
    while (c->sent < request_len) {
        ssize_t n = write(c->fd, request + c->sent, request_len - c->sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            set_events(c, EPOLLOUT);
            return;
        }
        if (n <= 0) {
            conn_close_fd(c);
            stream_over(c, false, FAIL_CONNECT, false);
            return;
        }
        c->sent += (size_t)n;
    }
    c->state = CONN_HEAD;
    set_events(c, EPOLLIN | EPOLLRDHUP);
}

static void start_send(struct conn *c)
{
    c->state = CONN_SENDING;
    c->started_ns = now_ns();
    try_send(c);
}

static void open_conn(struct conn *c)
{
    reset_response(c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("sse: socket");
        exit(1);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        perror("sse: epoll_ctl");
        exit(1);
    }
    int rc = connect(c->fd, (const struct sockaddr *)&addr, sizeof(addr));
    if (rc == 0) {
        start_send(c);
        return;
    }
    if (errno != EINPROGRESS) {
        conn_close_fd(c);
        stream_over(c, false, FAIL_CONNECT, false);
        return;
    }
    c->state = CONN_CONNECTING;
}

static void on_writable(struct conn *c)
{
    if (c->state == CONN_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            conn_close_fd(c);
            stream_over(c, false, FAIL_CONNECT, false);
            return;
        }
        start_send(c);
        return;
    }
    if (c->state == CONN_SENDING)
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
            ok = parse_size(v, 1, 65535, &n);
            opt.port = (int)n;
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

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)opt.concurrency + FD_RESERVE;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        fprintf(stderr, "sse: warning: open file limit %llu is below %llu\n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)want);
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
    raise_fd_limit();
    build_request();
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
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
    struct epoll_event events[EVENTS_MAX];
    while (conns_live > 0) {
        int n = epoll_wait(ep, events, EVENTS_MAX, TICK_MS);
        if (n < 0 && errno != EINTR) {
            perror("sse: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->fd < 0 || c->state == CONN_DONE)
                continue;
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                if (c->state == CONN_CONNECTING || c->state == CONN_SENDING)
                    on_writable(c);
                else
                    on_readable(c);
            } else if (events[i].events & EPOLLOUT) {
                on_writable(c);
            }
        }
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
        free(conns[i].line);
    free(conns);
    free(ttfb.v);
    free(gaps.v);
    close(ep);
    size_t failed = 0;
    for (size_t i = 0; i < FAIL_KINDS; i++)
        failed += failures[i];
    return failed ? 1 : 0;
}
