/* http_conn.h: the load clients' HTTP/1.1 connection (sse, soak): a non-blocking connect driven
 * by epoll, the request written, the response head parsed, a chunked or Content-Length body
 * decoded, and SSE lines split and classified (chat chunks and [DONE], or Responses events).
 *
 * A tool includes it after client.h and after defining
 *   - enum conn_state with at least CONN_CONNECTING, CONN_SENDING, CONN_HEAD, CONN_BODY and
 *     CONN_DONE;
 *   - struct conn with at least: int fd; enum conn_state state; size_t sent; bool keep_alive;
 *     char head[HEAD_MAX_BYTES]; size_t head_len; int status; bool chunked, has_length;
 *     uint64_t body_left; enum chunk_state cstate; uint64_t chunk_left; bool chunk_size_digits;
 *     size_t trailer_line_len; char *buf (the SSE line; SSE_LINE_MAX_BYTES are allocated on
 *     first use when it is NULL); size_t buf_len; bool too_long, done_seen, error_seen;
 *     size_t chunks;
 * and then defines the hooks declared below. */
#ifndef CG_BENCH_HTTP_CONN_H
#define CG_BENCH_HTTP_CONN_H

#include <netinet/tcp.h>
#include <strings.h>
#include "client.h"

/* The request `c` sends. */
static void conn_request(const struct conn *c, const char **req, size_t *len);
/* Starts sending the request: sets CONN_SENDING, then calls try_send. */
static void start_send(struct conn *c);
/* `c` could not connect or send (its descriptor is closed). */
static void conn_failed(struct conn *c);
/* Body bytes; false when the connection is gone (a hook closed it). */
static bool on_body(struct conn *c, const char *p, size_t n);
/* A content chunk (or output_text delta); false when the connection is gone. */
static bool on_content_chunk(struct conn *c);
/* The response is over (the connection may be reused when `reuse`). */
static void finish_response(struct conn *c, bool reuse);

static uint64_t last_progress_ns; /* the last bytes read, for the stall timeout */

static inline void conn_close_fd(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

static inline void set_events(struct conn *c, uint32_t events)
{
    epoll_set(EPOLL_CTL_MOD, c->fd, c, events);
}

static inline void conn_lost(struct conn *c)
{
    conn_close_fd(c);
    conn_failed(c);
}

/* Clears what one response left behind, for the next request. */
static inline void reset_response(struct conn *c)
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

/* --- SSE ---------------------------------------------------------------------------------- */

/* A chat content chunk carries "content":"<at least one character>"; the role chunk has "" and
 * the finish chunk an empty delta. Cheaper than parsing every frame as JSON. */
static inline bool is_content(const char *p, size_t n)
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

static inline bool has_type(const char *p, size_t n, const char *type)
{
    static const char key[] = "{\"type\":\"";
    size_t k = sizeof(key) - 1;
    size_t t = strlen(type);
    return n > k + t && memcmp(p, key, k) == 0 && memcmp(p + k, type, t) == 0 && p[k + t] == '"';
}

/* One SSE line of a chat stream, or of a Responses stream when `responses`: every Responses
 * event object starts with its type; a content chunk is an output_text delta, the stream is
 * over with response.completed, and response.failed, response.incomplete and error events are
 * failures. False when the connection is gone. */
static inline bool on_sse_line(struct conn *c, const char *p, size_t n, bool responses)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n < 5 || memcmp(p, "data:", 5) != 0)
        return true; /* blank separators, comments (keepalives), other fields */
    p += 5;
    n -= 5;
    if (n > 0 && *p == ' ') {
        p++;
        n--;
    }
    if (responses) {
        if (has_type(p, n, "response.output_text.delta"))
            return on_content_chunk(c);
        if (has_type(p, n, "response.completed"))
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

/* Splits body bytes into SSE lines (a line longer than SSE_LINE_MAX_BYTES sets too_long). False
 * when the connection is gone. */
static inline bool feed_sse(struct conn *c, const char *p, size_t n, bool responses)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (c->buf_len + take > SSE_LINE_MAX_BYTES) {
            c->too_long = true;
            c->buf_len = 0;
        } else if (c->buf_len > 0 || nl == NULL) {
            if (c->buf == NULL)
                c->buf = xrealloc(NULL, SSE_LINE_MAX_BYTES);
            memcpy(c->buf + c->buf_len, p, take);
            c->buf_len += take;
        }
        if (nl == NULL)
            return true;
        bool alive = true;
        if (c->buf_len > 0) {
            alive = on_sse_line(c, c->buf, c->buf_len, responses);
            c->buf_len = 0;
        } else if (take > 0) {
            alive = on_sse_line(c, p, take, responses);
        }
        if (!alive)
            return false;
        p += take + 1;
        n -= take + 1;
    }
    return true;
}

/* --- the response ------------------------------------------------------------------------- */

static inline int hexval(char ch)
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
 * framing error), *gone when the connection went away while its payload was fed. */
static inline size_t feed_chunked(struct conn *c, const char *p, size_t n, bool *over, bool *bad,
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
            break; /* CHUNK_EXT looks at this same byte */
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
            if (!on_body(c, p + i, take)) {
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

/* Whether a head line is `name: value...` (any value when `value` is ""), case-insensitively. */
static inline bool header_is(const char *line, size_t len, const char *name, const char *value)
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

/* Parses the head in c->head (ending in CRLFCRLF); false when it is not HTTP. */
static inline bool parse_head(struct conn *c)
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

/* Feeds response bytes; may end the response (and start the next request on this connection). */
static inline void on_bytes(struct conn *c, const char *p, size_t n)
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
            if (!on_body(c, p, take))
                return;
            c->body_left -= take;
            p += take;
            n -= take;
            if (c->body_left == 0) {
                finish_response(c, true);
                return;
            }
        } else {
            on_body(c, p, n); /* until EOF */
            return;
        }
    }
}

/* --- the connection ----------------------------------------------------------------------- */

static inline void on_readable(struct conn *c)
{
    static char rbuf[READ_BUF_BYTES];
    ssize_t n = read(c->fd, rbuf, sizeof(rbuf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* EOF or reset: a body without length ends here; anything else is cut short. */
        bool eof_body = n == 0 && c->state == CONN_BODY && !c->chunked && !c->has_length;
        c->keep_alive = false;
        conn_close_fd(c);
        if (c->state == CONN_HEAD && c->head_len == 0 && c->sent == 0) {
            conn_failed(c);
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

static inline void try_send(struct conn *c)
{
    const char *req = NULL;
    size_t len = 0;
    conn_request(c, &req, &len);
    while (c->sent < len) {
        ssize_t n = write(c->fd, req + c->sent, len - c->sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            set_events(c, EPOLLOUT);
            return;
        }
        if (n <= 0) {
            conn_lost(c);
            return;
        }
        c->sent += (size_t)n;
    }
    c->state = CONN_HEAD;
    set_events(c, EPOLLIN | EPOLLRDHUP);
}

/* A fresh connection for `c`, its request sent as soon as it is connected. */
static inline void open_conn(struct conn *c)
{
    reset_response(c);
    c->fd = socket_nonblock();
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    epoll_set(EPOLL_CTL_ADD, c->fd, c, EPOLLOUT);
    if (connect(c->fd, (const struct sockaddr *)&addr, sizeof(addr)) == 0) {
        start_send(c);
        return;
    }
    if (errno != EINPROGRESS) {
        conn_lost(c);
        return;
    }
    c->state = CONN_CONNECTING;
}

static inline void on_writable(struct conn *c)
{
    if (c->state == CONN_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            conn_lost(c);
            return;
        }
        start_send(c);
        return;
    }
    if (c->state == CONN_SENDING)
        try_send(c);
}

/* Waits up to `timeout_ms` for events on the connections and handles them. */
static inline void poll_conns(int timeout_ms)
{
    struct epoll_event events[EVENTS_MAX];
    int n = epoll_wait(ep, events, EVENTS_MAX, timeout_ms);
    if (n < 0 && errno != EINTR) {
        perror(CLIENT_NAME ": epoll_wait");
        exit(1);
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
}

#endif
