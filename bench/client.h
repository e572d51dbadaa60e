/* client.h: what the load clients (sse, soak, hostile) share beside samples.h: their bounds, the
 * gateway's address, the open file limit, epoll registration, the non-blocking socket, the port
 * option, and another process's VmRSS/VmHWM. A tool defines CLIENT_NAME, its name and the prefix
 * of its messages, before including it. http_conn.h adds the HTTP/1.1 connection. Header-only:
 * each bench C file is its own program. */
#ifndef CG_BENCH_CLIENT_H
#define CG_BENCH_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

#ifndef CLIENT_NAME
#error "define CLIENT_NAME before including client.h"
#endif

enum {
    HEAD_MAX_BYTES = 8192,      /* response head; longer is a failure */
    SSE_LINE_MAX_BYTES = 65536, /* one SSE line; longer is a failure */
    READ_BUF_BYTES = 65536,
    EVENTS_MAX = 256,
    TICK_MS = 100,
    FD_RESERVE = 64, /* descriptors beyond the connections */
};

/* The chunked-transfer decoder (http_conn.h), one state per position in the framing. */
enum chunk_state {
    CHUNK_SIZE,    /* hex digits of a chunk size */
    CHUNK_EXT,     /* chunk extension up to CRLF, ignored */
    CHUNK_DATA,    /* chunk_left bytes of payload */
    CHUNK_DATA_CR, /* the CRLF after a chunk's payload */
    CHUNK_TRAILER, /* after the 0 chunk: trailer lines until an empty one */
};

static int ep = -1;
static struct sockaddr_in addr; /* the gateway */

/* Sets `addr` to host:port; false when `host` is not an IPv4 address. */
static inline bool client_set_addr(const char *host, int port)
{
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &addr.sin_addr) == 1;
}

/* Raises the soft open file limit to `conns` connections plus FD_RESERVE, up to the hard limit;
 * warns when that is not enough. */
static inline void raise_fd_limit(size_t conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)conns + FD_RESERVE;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        fprintf(stderr, CLIENT_NAME ": warning: open file limit %llu is below %llu\n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

/* A non-blocking TCP socket; exits when none can be made. */
static inline int socket_nonblock(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror(CLIENT_NAME ": socket");
        exit(1);
    }
    return fd;
}

/* Registers `fd` with `ep` (EPOLL_CTL_ADD or EPOLL_CTL_MOD) for `events`, with `ptr` as its
 * data; exits on failure. */
static inline void epoll_set(int op, int fd, void *ptr, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    if (epoll_ctl(ep, op, fd, &ev) != 0) {
        perror(CLIENT_NAME ": epoll_ctl");
        exit(1);
    }
}

/* Options that all take a value, so they come in pairs: `option(name, value)` takes one and
 * returns false on an unknown name or a bad value; then, as on a name without a value, `usage`
 * is called (it does not return). */
static inline void parse_pairs(int argc, char **argv, bool (*option)(const char *, const char *),
                               void (*usage)(void))
{
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc || !option(argv[i], argv[i + 1]))
            usage();
    }
}

/* The -p option's value: 1..65535. */
static inline bool parse_port(const char *s, int *port)
{
    size_t n = 0;
    bool ok = parse_size(s, 1, 65535, &n);
    *port = (int)n;
    return ok;
}

/* The value in kB of a "Key:   123 kB" line of /proc/<pid>/status, or -1. */
static inline long status_kb(const char *text, const char *key)
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

/* VmRSS and VmHWM (kB) of process `pid`, each -1 when it cannot be read; `hwm_kb` may be NULL. */
static inline void pid_status_kb(int pid, long *rss_kb, long *hwm_kb)
{
    *rss_kb = -1;
    if (hwm_kb)
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
    if (hwm_kb)
        *hwm_kb = status_kb(text, "\nVmHWM:");
}

#endif
