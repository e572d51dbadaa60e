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
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "samples.h"

enum {
    CONNS_MAX = 10000,
    REQUEST_MAX_BYTES = 4096,
    HEAD_MAX_BYTES = 8192,      /* response head; longer is a failure */
    BODY_MAX_BYTES = 65536,     /* a non-stream body; longer is a failure */
    SSE_LINE_MAX_BYTES = 65536, /* one SSE line; longer is a failure */
    READ_BUF_BYTES = 65536,
    EVENTS_MAX = 256,
    TICK_MS = 100,
    SAMPLES_CAP = 100000,     /* periodic /proc samples kept for the slopes */
    SETTLE_STABLE_TICKS = 10, /* descriptors unchanged this many ticks: settled */
    SETTLE_MAX_TICKS = 150,   /* give up waiting after 15 s */
    FD_RESERVE = 64,
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

enum chunk_state {
    CHUNK_SIZE,    /* hex digits of a chunk size */
    CHUNK_EXT,     /* chunk extension up to CRLF, ignored */
    CHUNK_DATA,    /* chunk_left bytes of payload */
    CHUNK_DATA_CR, /* the CRLF after a chunk's payload */
    CHUNK_TRAILER, /* after the 0 chunk: trailer lines until an empty one */
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

static int ep = -1;
static struct sockaddr_in addr;
static char requests[KINDS][REQUEST_MAX_BYTES];
static size_t request_lens[KINDS];
static struct conn *conns;
static size_t conns_live;
static uint64_t last_progress_ns;

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

/* --- /proc -------------------------------------------------------------------------------- */

static long rss_kb(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char text[8192];
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    const char *p = strstr(text, "\nVmRSS:");
    if (p == NULL)
        return -1;
    p += 7;
    char *end = NULL;
    errno = 0;
    long v = strtol(p, &end, 10);
    return errno || end == p ? -1 : v;
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
        perror("soak: epoll_ctl");
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
    c->buf_len = 0;
    c->too_long = false;
    c->done_seen = false;
    c->error_seen = false;
    c->chunks = 0;
}

static void open_conn(struct conn *c);
static void start_send(struct conn *c);

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

/* A chat content chunk carries "content":"<at least one character>"; the role chunk has "". */
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

/* One SSE line; false when the connection is gone (an abort closed it). */
static bool on_sse_line(struct conn *c, const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n < 5 || memcmp(p, "data:", 5) != 0)
        return true;
    p += 5;
    n -= 5;
    if (n > 0 && *p == ' ') {
        p++;
        n--;
    }
    if (c->kind == K_RESP_STREAM) {
        if (has_type(p, n, "response.output_text.delta"))
            c->chunks++;
        else if (has_type(p, n, "response.completed"))
            c->done_seen = true;
        else if (has_type(p, n, "response.failed") || has_type(p, n, "response.incomplete") ||
                 has_type(p, n, "error"))
            c->error_seen = true;
        return true;
    }
    if (n == 6 && memcmp(p, "[DONE]", 6) == 0) {
        c->done_seen = true;
        return true;
    }
    if (memmem(p, n, "\"error\":{", 9) != NULL) {
        c->error_seen = true;
        return true;
    }
    if (is_content(p, n))
        return on_content_chunk(c);
    return true;
}

/* Body bytes: SSE lines for a stream, kept whole otherwise. False when the connection is gone. */
static bool feed_body(struct conn *c, const char *p, size_t n)
{
    if (c->buf == NULL)
        c->buf = xrealloc(NULL, BODY_MAX_BYTES > SSE_LINE_MAX_BYTES ? BODY_MAX_BYTES
                                                                    : SSE_LINE_MAX_BYTES);
    if (!is_stream(c->kind)) {
        if (c->buf_len + n > BODY_MAX_BYTES) {
            c->too_long = true;
            return true;
        }
        memcpy(c->buf + c->buf_len, p, n);
        c->buf_len += n;
        return true;
    }
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (c->buf_len + take > SSE_LINE_MAX_BYTES) {
            c->too_long = true;
            c->buf_len = 0;
        } else if (c->buf_len > 0 || nl == NULL) {
            memcpy(c->buf + c->buf_len, p, take);
            c->buf_len += take;
        }
        if (nl == NULL)
            return true;
        bool alive;
        if (c->buf_len > 0) {
            alive = on_sse_line(c, c->buf, c->buf_len);
            c->buf_len = 0;
        } else {
            alive = on_sse_line(c, p, take);
        }
        if (!alive)
            return false;
        p += take + 1;
        n -= take + 1;
    }
    return true;
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

/* Chunked framing; returns bytes used and sets *over when the last chunk ended (*bad on a
 * framing error), *gone when an abort closed the connection. */
static size_t feed_chunked(struct conn *c, const char *p, size_t n, bool *over, bool *bad,
                           bool *gone)
{
    size_t i = 0;
    while (i < n && !*over) {
        char ch = p[i];
        switch (c->cstate) {
        case CHUNK_SIZE: {
            int h = hexval(ch);
            if (h >= 0) {
                if (c->chunk_left > (UINT64_MAX >> 4)) {
                    *bad = *over = true;
                    return i;
                }
                c->chunk_left = c->chunk_left * 16 + (uint64_t)h;
                c->chunk_size_digits = true;
                i++;
                break;
            }
            if (!c->chunk_size_digits) {
                *bad = *over = true;
                return i;
            }
            c->cstate = CHUNK_EXT;
            break;
        }
        case CHUNK_EXT:
            i++;
            if (ch != '\n')
                break;
            c->chunk_size_digits = false;
            c->trailer_line_len = 0;
            c->cstate = c->chunk_left == 0 ? CHUNK_TRAILER : CHUNK_DATA;
            break;
        case CHUNK_DATA: {
            size_t take = n - i;
            if (take > c->chunk_left)
                take = (size_t)c->chunk_left;
            if (!feed_body(c, p + i, take)) {
                *gone = true;
                return i + take;
            }
            i += take;
            c->chunk_left -= take;
            if (c->chunk_left == 0)
                c->cstate = CHUNK_DATA_CR;
            break;
        }
        case CHUNK_DATA_CR:
            i++;
            if (ch == '\n') {
                c->cstate = CHUNK_SIZE;
            } else if (ch != '\r') {
                *bad = *over = true;
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
    return vlen >= want && strncasecmp(v, value, want) == 0;
}

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
        if (header_is(line, len, "Transfer-Encoding", "chunked")) {
            c->chunked = true;
        } else if (header_is(line, len, "Connection", "close")) {
            c->keep_alive = false;
        } else if (header_is(line, len, "Content-Length", "")) {
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
                }
                return;
            }
            size_t used = (size_t)(hit - c->head) + 4 - old;
            c->head_len = (size_t)(hit - c->head) + 4;
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
            bool gone = false;
            size_t used = feed_chunked(c, p, n, &over, &bad, &gone);
            if (gone)
                return;
            p += used;
            n -= used;
            if (over) {
                if (bad) {
                    c->keep_alive = false;
                    c->done_seen = false;
                }
                if (n > 0)
                    c->keep_alive = false;
                finish_response(c, true);
                return;
            }
        } else if (c->has_length) {
            size_t take = n;
            if (take > c->body_left)
                take = (size_t)c->body_left;
            if (!feed_body(c, p, take))
                return;
            c->body_left -= take;
            p += take;
            n -= take;
            if (c->body_left == 0) {
                finish_response(c, true);
                return;
            }
        } else {
            if (!feed_body(c, p, n))
                return;
            return;
        }
    }
}

static void on_readable(struct conn *c)
{
    static char rbuf[READ_BUF_BYTES];
    ssize_t n = read(c->fd, rbuf, sizeof(rbuf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        bool eof_body = n == 0 && c->state == CONN_BODY && !c->chunked && !c->has_length;
        c->keep_alive = false;
        conn_close_fd(c);
        if (c->state == CONN_HEAD && c->head_len == 0 && c->sent == 0) {
            request_over(c, false, FAIL_CONNECT, false);
        } else {
            if (!eof_body)
                c->done_seen = false;
            finish_response(c, false);
        }
        return;
    }
    last_progress_ns = now_ns();
    on_bytes(c, rbuf, (size_t)n);
}

static void try_send(struct conn *c)
{
    const char *req = requests[c->kind];
    size_t len = request_lens[c->kind];
    while (c->sent < len) {
        ssize_t n = write(c->fd, req + c->sent, len - c->sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            set_events(c, EPOLLOUT);
            return;
        }
        if (n <= 0) {
            conn_close_fd(c);
            request_over(c, false, FAIL_CONNECT, false);
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
    try_send(c);
}

static void open_conn(struct conn *c)
{
    reset_response(c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("soak: socket");
        exit(1);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        perror("soak: epoll_ctl");
        exit(1);
    }
    if (connect(c->fd, (const struct sockaddr *)&addr, sizeof(addr)) == 0) {
        start_send(c);
        return;
    }
    if (errno != EINPROGRESS) {
        conn_close_fd(c);
        request_over(c, false, FAIL_CONNECT, false);
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
            request_over(c, false, FAIL_CONNECT, false);
            return;
        }
        start_send(c);
        return;
    }
    if (c->state == CONN_SENDING)
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
    struct epoll_event events[EVENTS_MAX];
    while (conns_live > 0) {
        int k = epoll_wait(ep, events, EVENTS_MAX, TICK_MS);
        if (k < 0 && errno != EINTR) {
            perror("soak: epoll_wait");
            exit(1);
        }
        for (int i = 0; i < k; i++) {
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

static void parse_args(int argc, char **argv)
{
    /* Every option takes a value: they come in pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        size_t n = 0;
        if (v == NULL) {
            usage();
        } else if (strcmp(a, "--host") == 0) {
            opt.host = v;
        } else if (strcmp(a, "-p") == 0) {
            ok = parse_size(v, 1, 65535, &n);
            opt.port = (int)n;
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
            usage();
        }
        if (!ok)
            usage();
    }
    if (opt.port == 0 || opt.pid == 0)
        usage();
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
        fprintf(stderr, "soak: warning: open file limit %llu is below %llu\n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    for (int k = 0; k < KINDS; k++)
        build_one((enum kind)k);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
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
