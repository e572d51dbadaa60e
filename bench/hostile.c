/* hostile.c: a normal client's latency next to slow and hostile ones (build/hostile). One thread
 * runs the normal client: one keep-alive connection, non-stream chat completions (fake:text)
 * back to back, each checked, latency per request (µs). It runs twice for -d seconds: alone,
 * then while the main thread's epoll loop holds -s slowloris connections (a partial request
 * head, then one byte a second; each one the gateway closes is replaced until the second run
 * ends) and -t streamed chats whose client stopped reading after the first body bytes (a 4 KiB
 * receive buffer, so the gateway's own queue fills). Then it stops replacing, waits for the
 * slowloris to be closed, polls /healthz until the gateway holds no more of the stalled streams'
 * connections (at most -w seconds), and reads every stalled stream again: one the gateway cut
 * off ends in its close; none may end in its [DONE]; one still streaming after 10 s was not cut
 * off yet. Prints HOSTILE_* key=value lines; exits 1 on a failed normal request, a slowloris not
 * answered 408, or a stalled stream sent to its end. */
#define CLIENT_NAME "hostile"
#include <inttypes.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include "client.h"

enum {
    CONNS_MAX = 60000,
    REQUEST_MAX_BYTES = 2048,
    NORMAL_BUF_BYTES = 65536,
    TRICKLE_MS = 1000,         /* a slowloris sends one more byte this often */
    STALL_RCVBUF_BYTES = 4096, /* a stalled stream's receive buffer */
};

enum kind { LORIS, STALL };

enum conn_state {
    CONN_OFF,        /* closed and not replaced */
    CONN_CONNECTING, /* connect() in progress */
    CONN_OPEN,       /* a slowloris trickling, or a stream reading its first bytes */
    CONN_HELD,       /* a stream that stopped reading */
    CONN_DRAINING,   /* a stalled stream read again, to its end */
};

struct conn {
    int fd;
    enum kind kind;
    enum conn_state state;
    uint64_t opened_ns;
    uint64_t next_byte_ns;
    size_t trickled;
    char head[HEAD_MAX_BYTES];
    size_t head_len;
    bool body_seen;
    char tail[8]; /* the last bytes read, to find [DONE] across reads */
    bool done_seen;
};

static struct {
    const char *host;
    int port;
    size_t slowloris;
    size_t stalled;
    double duration_s;
    double wait_s;
    const char *stall_message;
} opt = {"127.0.0.1", 0, 2000, 1000, 10.0, 30.0, "fake:slow=100,3000"};

static struct conn *conns;
static size_t nconns;
static bool replace_loris = true;
static char stall_request[REQUEST_MAX_BYTES];
static size_t stall_request_len;

/* What the loop saw. */
static size_t loris_open;
static size_t loris_closed;
static size_t loris_408;
static size_t loris_other; /* closed with an answer other than 408 */
static struct samples loris_held;
static size_t stall_held;
static size_t stall_failed; /* closed or refused before they stopped reading */
static size_t stall_cut;    /* read again: the gateway's close, no [DONE] */
static size_t stall_done;   /* read again: the stream's end: not cut off */
static size_t stall_open;   /* read again: still open after -w */

/* --- the normal client --------------------------------------------------------------------- */

struct normal_run {
    double duration_s;
    struct samples lat;
    size_t ok;
    size_t errors;
    double secs;
};

static int connect_blocking(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* One request on `fd`; reads one Content-Length response into buf. Returns its length, or -1. */
static long exchange(int fd, const char *req, size_t req_len, char *buf, size_t cap, int *status)
{
    if (!write_all(fd, req, req_len))
        return -1;
    size_t len = 0;
    size_t need = 0;
    for (;;) {
        if (len == cap)
            return -1;
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return need == 0 && len > 0 ? (long)len : -1;
        len += (size_t)r;
        if (need == 0) {
            char *end = memmem(buf, len, "\r\n\r\n", 4);
            if (end == NULL)
                continue;
            size_t head = (size_t)(end - buf) + 4;
            if (sscanf(buf, "HTTP/1.1 %d", status) != 1)
                return -1;
            char *cl = memmem(buf, head, "Content-Length: ", 16);
            if (cl == NULL)
                return -1;
            char *e = NULL;
            unsigned long long n = strtoull(cl + 16, &e, 10);
            if (e == cl + 16 || n > cap - head)
                return -1;
            need = head + (size_t)n;
        }
        if (len >= need)
            return (long)len;
    }
}

static void *normal_main(void *arg)
{
    struct normal_run *run = arg;
    static const char body[] =
        "{\"model\":\"codex-5\",\"messages\":[{\"role\":\"user\",\"content\":\"fake:text\"}]}";
    static const char want[] = "\"content\":\"Hello from fake-codex.\"";
    char req[REQUEST_MAX_BYTES];
    int n = snprintf(req, sizeof(req),
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     opt.host, opt.port, sizeof(body) - 1, body);
    char *buf = xrealloc(NULL, NORMAL_BUF_BYTES);
    int fd = -1;
    uint64_t start = now_ns();
    uint64_t until = start + (uint64_t)(run->duration_s * 1e9);
    while (now_ns() < until) {
        if (fd < 0)
            fd = connect_blocking();
        uint64_t t0 = now_ns();
        int status = 0;
        long got = fd < 0 ? -1 : exchange(fd, req, (size_t)n, buf, NORMAL_BUF_BYTES, &status);
        if (got < 0 || status != 200 || memmem(buf, (size_t)got, want, sizeof(want) - 1) == NULL) {
            run->errors++;
            if (fd >= 0)
                close(fd);
            fd = -1;
            continue;
        }
        samples_add(&run->lat, now_ns() - t0);
        run->ok++;
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    run->secs = (double)(now_ns() - start) / 1e9;
    return NULL;
}

/* The gateway's open client connections from /healthz (this request's own included); -1 when
 * it cannot be read. */
static long healthz_connections(void)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *buf = xrealloc(NULL, NORMAL_BUF_BYTES);
    int fd = connect_blocking();
    int status = 0;
    long got = fd < 0 ? -1 : exchange(fd, req, sizeof(req) - 1, buf, NORMAL_BUF_BYTES - 1, &status);
    long conns_now = -1;
    if (got > 0 && status == 200) {
        buf[got] = '\0';
        static const char key[] = "\"http\":{\"connections\":";
        char *p = strstr(buf, key);
        if (p)
            conns_now = strtol(p + sizeof(key) - 1, NULL, 10);
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return conns_now;
}

/* --- the hostile connections --------------------------------------------------------------- */

static void set_events(struct conn *c, uint32_t events)
{
    epoll_set(EPOLL_CTL_MOD, c->fd, c, events);
}

static void open_conn(struct conn *c)
{
    c->fd = socket_nonblock();
    if (c->kind == STALL) {
        int rcv = STALL_RCVBUF_BYTES;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    }
    c->state = CONN_CONNECTING;
    c->opened_ns = now_ns();
    c->trickled = 0;
    c->head_len = 0;
    c->body_seen = false;
    c->done_seen = false;
    memset(c->tail, 0, sizeof(c->tail));
    int rc = connect(c->fd, (struct sockaddr *)&addr, sizeof(addr));
    if (rc != 0 && errno != EINPROGRESS) {
        perror("hostile: connect");
        exit(1);
    }
    epoll_set(EPOLL_CTL_ADD, c->fd, c, EPOLLOUT | EPOLLIN | EPOLLRDHUP);
}

/* The gateway closed `c` (or refused it). */
static void on_closed(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
    enum conn_state was = c->state;
    c->state = CONN_OFF;
    if (c->kind == LORIS) {
        if (was != CONN_CONNECTING)
            loris_open--;
        loris_closed++;
        samples_add(&loris_held, now_ns() - c->opened_ns);
        if (c->head_len >= 13 && memcmp(c->head, "HTTP/1.1 408 ", 13) == 0)
            loris_408++;
        else if (c->head_len > 0)
            loris_other++;
        if (replace_loris)
            open_conn(c);
        return;
    }
    if (was == CONN_DRAINING) {
        if (c->done_seen)
            stall_done++;
        else
            stall_cut++;
    } else {
        stall_failed++;
    }
}

static void on_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        on_closed(c);
        return;
    }
    c->state = CONN_OPEN;
    if (c->kind == LORIS) {
        static const char head[] = "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        if (write(c->fd, head, sizeof(head) - 1) != (ssize_t)sizeof(head) - 1) {
            on_closed(c);
            return;
        }
        loris_open++;
        c->next_byte_ns = now_ns() + (uint64_t)TRICKLE_MS * 1000000u;
    } else if (write(c->fd, stall_request, stall_request_len) != (ssize_t)stall_request_len) {
        on_closed(c);
        return;
    }
    set_events(c, EPOLLIN | EPOLLRDHUP);
}

/* Reads what is there; returns false when the gateway closed the connection. */
static bool on_readable(struct conn *c)
{
    char buf[READ_BUF_BYTES];
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof(buf));
        if (r == 0)
            return false;
        if (r < 0)
            return errno == EAGAIN || errno == EINTR;
        size_t n = (size_t)r;
        size_t keep = n < sizeof(c->head) - c->head_len ? n : sizeof(c->head) - c->head_len;
        memcpy(c->head + c->head_len, buf, keep);
        c->head_len += keep;
        if (c->kind == STALL) {
            char joined[sizeof(c->tail) + 16];
            size_t tn = sizeof(c->tail);
            memcpy(joined, c->tail, tn);
            size_t add = n < 16 ? n : 16;
            memcpy(joined + tn, buf, add);
            if (memmem(joined, tn + add, "[DONE]", 6) || memmem(buf, n, "[DONE]", 6))
                c->done_seen = true;
            if (n >= sizeof(c->tail)) {
                memcpy(c->tail, buf + n - sizeof(c->tail), sizeof(c->tail));
            } else {
                memmove(c->tail, c->tail + n, sizeof(c->tail) - n);
                memcpy(c->tail + sizeof(c->tail) - n, buf, n);
            }
            if (c->state == CONN_OPEN) {
                char *end = memmem(c->head, c->head_len, "\r\n\r\n", 4);
                if (end && (size_t)(end - c->head) + 4 < c->head_len) {
                    if (memcmp(c->head, "HTTP/1.1 200 ", 13) != 0)
                        return false;
                    /* The first body bytes: stop reading, for good (until the drain). */
                    c->state = CONN_HELD;
                    stall_held++;
                    set_events(c, EPOLLRDHUP);
                    return true;
                }
            }
        }
    }
}

static void on_event(struct conn *c, uint32_t events)
{
    if (c->state == CONN_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_connected(c);
        return;
    }
    if (c->state == CONN_HELD) {
        /* Not reading: only a reset shows. */
        if (events & (EPOLLERR | EPOLLHUP)) {
            c->state = CONN_DRAINING;
            on_closed(c);
        }
        return;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) && !on_readable(c))
        on_closed(c);
}

static void trickle(uint64_t now)
{
    for (size_t i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (c->kind != LORIS || c->state != CONN_OPEN || now < c->next_byte_ns)
            continue;
        c->next_byte_ns = now + (uint64_t)TRICKLE_MS * 1000000u;
        if (write(c->fd, "z", 1) < 0 && errno != EAGAIN)
            continue; /* the close shows as an event */
        c->trickled++;
    }
}

/* Runs the loop for at most `ms`, or until `until_fn` holds. */
static void run_loop(double secs, bool (*until_fn)(void))
{
    struct epoll_event evs[EVENTS_MAX];
    uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
    while (now_ns() < end && !(until_fn && until_fn())) {
        int n = epoll_wait(ep, evs, EVENTS_MAX, TICK_MS);
        if (n < 0 && errno != EINTR) {
            perror("hostile: epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events);
        trickle(now_ns());
    }
}

static bool all_held(void)
{
    return loris_open == opt.slowloris && stall_held + stall_failed == opt.stalled;
}

static bool loris_gone(void)
{
    return loris_open == 0 && loris_closed > 0;
}

static bool drained(void)
{
    return stall_cut + stall_done + stall_failed == opt.stalled;
}

/* --- main ---------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: hostile -p PORT [--host IPV4] [-s SLOWLORIS (2000)] [-t STALLED (1000)]\n"
            "               [-d SECONDS (10)] [-w WAIT_SECONDS (30)] [-m STALL_MESSAGE]\n"
            "  the normal client runs -d seconds alone, then -d seconds with the hostile\n"
            "  connections held; -m is the stalled streams' prompt (fake:slow=100,3000)\n");
    exit(2);
}

/* One option and its value; false when the name is unknown or the value bad. */
static bool option(const char *a, const char *v)
{
    bool ok = true;
    if (strcmp(a, "--host") == 0) {
        opt.host = v;
    } else if (strcmp(a, "-p") == 0) {
        ok = parse_port(v, &opt.port);
    } else if (strcmp(a, "-s") == 0) {
        ok = parse_size(v, 0, CONNS_MAX, &opt.slowloris);
    } else if (strcmp(a, "-t") == 0) {
        ok = parse_size(v, 0, CONNS_MAX, &opt.stalled);
    } else if (strcmp(a, "-d") == 0) {
        ok = parse_secs(v, &opt.duration_s);
    } else if (strcmp(a, "-w") == 0) {
        ok = parse_secs(v, &opt.wait_s);
    } else if (strcmp(a, "-m") == 0) {
        opt.stall_message = v;
    } else {
        ok = false;
    }
    return ok;
}

static void parse_args(int argc, char **argv)
{
    parse_pairs(argc, argv, option, usage);
    if (opt.port == 0 || opt.slowloris + opt.stalled > CONNS_MAX)
        usage();
}

static void report_run(const char *name, struct normal_run *run)
{
    samples_sort(&run->lat);
    printf("HOSTILE_%s requests=%zu errors=%zu rps=%.1f p50_us=%" PRIu32 " p90_us=%" PRIu32
           " p99_us=%" PRIu32 " max_us=%" PRIu32 "\n",
           name, run->ok, run->errors, run->secs > 0 ? (double)run->ok / run->secs : 0.0,
           pct(&run->lat, 50), pct(&run->lat, 90), pct(&run->lat, 99), pct(&run->lat, 100));
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(opt.slowloris + opt.stalled);
    if (!client_set_addr(opt.host, opt.port))
        usage();
    char body[512];
    int blen = snprintf(body, sizeof(body),
                        "{\"model\":\"codex-5\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                        "\"content\":\"%s\"}]}",
                        opt.stall_message);
    int rlen = blen < 0 || (size_t)blen >= sizeof(body)
                   ? -1
                   : snprintf(stall_request, sizeof(stall_request),
                              "POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\n"
                              "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                              opt.host, opt.port, blen, body);
    if (rlen < 0 || (size_t)rlen >= sizeof(stall_request))
        usage();
    stall_request_len = (size_t)rlen;

    /* 1. The normal client alone. */
    struct normal_run alone = {.duration_s = opt.duration_s};
    normal_main(&alone);
    report_run("ALONE", &alone);

    /* 2. The hostile connections, all held; then the normal client again. */
    ep = epoll_create1(EPOLL_CLOEXEC);
    nconns = opt.slowloris + opt.stalled;
    conns = calloc(nconns ? nconns : 1, sizeof(*conns));
    if (ep < 0 || conns == NULL) {
        perror("hostile");
        return 1;
    }
    uint64_t t_open = now_ns();
    for (size_t i = 0; i < nconns; i++) {
        conns[i].kind = i < opt.slowloris ? LORIS : STALL;
        open_conn(&conns[i]);
    }
    run_loop(60.0, all_held);
    printf("HOSTILE_HOLD slowloris_open=%zu streams_held=%zu streams_refused=%zu secs=%.3f\n",
           loris_open, stall_held, stall_failed, (double)(now_ns() - t_open) / 1e9);
    fflush(stdout);
    struct normal_run loaded = {.duration_s = opt.duration_s};
    pthread_t th;
    if (pthread_create(&th, NULL, normal_main, &loaded) != 0) {
        perror("hostile: pthread_create");
        return 1;
    }
    run_loop(opt.duration_s, NULL);
    pthread_join(th, NULL);
    size_t loris_min_open = loris_open;
    report_run("LOADED", &loaded);
    printf("HOSTILE_DIFF p50_us=%+" PRId64 " p99_us=%+" PRId64 " (loaded - alone)\n",
           (int64_t)pct(&loaded.lat, 50) - (int64_t)pct(&alone.lat, 50),
           (int64_t)pct(&loaded.lat, 99) - (int64_t)pct(&alone.lat, 99));
    fflush(stdout);

    /* 3. No more replacements: every slowloris is closed at its timeout. Then the stalled
     * streams' connections leave the gateway while their clients still read nothing. */
    replace_loris = false;
    uint64_t t_wait = now_ns();
    run_loop(opt.wait_s, loris_gone);
    long gw_conns = -1;
    while ((double)(now_ns() - t_wait) / 1e9 < opt.wait_s) {
        gw_conns = healthz_connections();
        if (gw_conns >= 0 && gw_conns <= 1)
            break;
        run_loop(0.5, NULL);
    }
    double cut_s = (double)(now_ns() - t_open) / 1e9;
    for (size_t i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (c->kind == STALL && c->state == CONN_HELD) {
            c->state = CONN_DRAINING;
            set_events(c, EPOLLIN | EPOLLRDHUP);
        }
    }
    run_loop(10.0, drained);
    for (size_t i = 0; i < nconns; i++)
        if (conns[i].kind == STALL && conns[i].state == CONN_DRAINING)
            stall_open++;
    samples_sort(&loris_held);
    printf("HOSTILE_CUT slowloris_closed=%zu with_408=%zu other_answer=%zu still_open=%zu"
           " held_p50_ms=%" PRIu32 " held_min_ms=%" PRIu32 " held_max_ms=%" PRIu32
           " slowloris_open_at_end_of_run=%zu\n",
           loris_closed, loris_408, loris_other, loris_open, pct(&loris_held, 50) / 1000,
           pct(&loris_held, 0) / 1000, pct(&loris_held, 100) / 1000, loris_min_open);
    printf("HOSTILE_STREAMS held=%zu cut_off=%zu sent_to_end=%zu still_open=%zu refused=%zu"
           " gateway_connections_after=%ld secs=%.1f\n",
           stall_held, stall_cut, stall_done, stall_open, stall_failed, gw_conns, cut_s);
    /* A stream still open after -w has not reached its bound yet (the kernel's send buffer
     * fills first); one sent to its end was never bounded. */
    bool ok = alone.errors == 0 && loaded.errors == 0 && loris_open == 0 && loris_other == 0 &&
              loris_408 == loris_closed && stall_done == 0 && stall_held == opt.stalled;
    printf("HOSTILE_RESULT %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
