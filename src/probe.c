/* probe.c: GET PATH from the gateway (PORT) or the forward-auth verifier
 * (PROXY_FORWARD_AUTH_PORT) on the listener's address (loopback for a wildcard one), with
 * non-blocking sockets polled under one 5 s deadline, and an exit code from the status line. */
#include "probe.h"
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "config.h"
#include "util/clock.h"

enum {
    EXIT_UNHEALTHY = 1,
    EXIT_USAGE = 2,
    PROBE_TIMEOUT_MS = 5000,
    PATH_MAX_BYTES = 1024,
    REQUEST_MAX_BYTES = PATH_MAX_BYTES + 256,
    STATUS_LINE_MAX_BYTES = 512,
};

struct target {
    char host[64]; /* the listener's address; loopback for a wildcard one */
    int port;
    char path[PATH_MAX_BYTES];
};

static int fail(const struct target *t, const char *what)
{
    fprintf(stderr, "codex-gateway probe: http://%s%s%s:%d%s: %s\n",
            strchr(t->host, ':') ? "[" : "", t->host, strchr(t->host, ':') ? "]" : "", t->port,
            t->path, what);
    return EXIT_UNHEALTHY;
}

/* Waits for `events` on `fd` until `deadline_ms`; false on timeout or a poll error. */
static bool wait_for(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = cg_clock_mono_ms();
        if (now >= deadline_ms)
            return false;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(deadline_ms - now));
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

static bool valid_path(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n >= PATH_MAX_BYTES || p[0] != '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] <= ' ' || p[i] >= 0x7f)
            return false;
    }
    return true;
}

static bool parse_port(const char *s, int *out)
{
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < 1 || v > 65535)
        return false;
    *out = (int)v;
    return true;
}

/* The status code of "HTTP/1.x NNN ...", or -1. */
static int status_of(const char *line, size_t len)
{
    if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
        return -1;
    int code = 0;
    for (size_t i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        code = code * 10 + (line[i] - '0');
    }
    return code;
}

int cg_probe_get(const struct sockaddr *addr, socklen_t alen, const char *host_header,
                 const char *path, uint64_t timeout_ms, char *what, size_t whatlen)
{
    uint64_t deadline = cg_clock_mono_ms() + timeout_ms;
    int rc = CG_PROBE_NO_CONNECTION;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(what, whatlen, "socket: %s", strerror(errno));
        goto out;
    }
    if (connect(fd, addr, alen) != 0 && errno != EINPROGRESS) {
        snprintf(what, whatlen, "connect: %s", strerror(errno));
        goto out;
    }
    if (!wait_for(fd, POLLOUT, deadline)) {
        snprintf(what, whatlen, "no connection within %" PRIu64 " ms", timeout_ms);
        goto out;
    }
    int soerr = 0;
    socklen_t slen = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) != 0 || soerr != 0) {
        snprintf(what, whatlen, "connect: %s", strerror(soerr ? soerr : errno));
        goto out;
    }
    rc = CG_PROBE_NO_ANSWER;
    char req[REQUEST_MAX_BYTES];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: codex-gateway-probe\r\n"
                     "Connection: close\r\n\r\n",
                     path, host_header);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        snprintf(what, whatlen, "path or host too long");
        goto out;
    }
    size_t sent = 0;
    while (sent < (size_t)n) {
        ssize_t w = send(fd, req + sent, (size_t)n - sent, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(what, whatlen, "send: %s", strerror(errno));
            goto out;
        }
        if (!wait_for(fd, POLLOUT, deadline)) {
            snprintf(what, whatlen, "request not sent within %" PRIu64 " ms", timeout_ms);
            goto out;
        }
    }
    char line[STATUS_LINE_MAX_BYTES];
    size_t got = 0;
    while (got < sizeof(line) - 1 && memchr(line, '\n', got) == NULL) {
        ssize_t r = recv(fd, line + got, sizeof(line) - 1 - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno != EAGAIN && errno != EINTR) {
            snprintf(what, whatlen, "recv: %s", strerror(errno));
            goto out;
        }
        if (!wait_for(fd, POLLIN, deadline)) {
            snprintf(what, whatlen, "no answer within %" PRIu64 " ms", timeout_ms);
            goto out;
        }
    }
    int status = status_of(line, got);
    if (status < 0) {
        snprintf(what, whatlen, "not an HTTP response");
        goto out;
    }
    const char *eol = memchr(line, '\r', got);
    size_t shown = eol ? (size_t)(eol - line) : got;
    snprintf(what, whatlen, "%.*s", (int)CG_MIN(shown, (size_t)80), line);
    rc = status;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static int get(const struct target *t)
{
    bool v6 = strchr(t->host, ':') != NULL;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t alen;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)t->port);
        inet_pton(AF_INET6, t->host, &a->sin6_addr);
        alen = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)t->port);
        inet_pton(AF_INET, t->host, &a->sin_addr);
        alen = sizeof(*a);
    }
    char host[sizeof(t->host) + 16];
    snprintf(host, sizeof(host), "%s%s%s:%d", v6 ? "[" : "", t->host, v6 ? "]" : "", t->port);
    char what[STATUS_LINE_MAX_BYTES + 64];
    int status = cg_probe_get((struct sockaddr *)&ss, alen, host, t->path, PROBE_TIMEOUT_MS, what,
                              sizeof(what));
    if (status >= 200 && status <= 299)
        return 0;
    return fail(t, what);
}

/* The probe reads only hosts and ports: a health check must not fail because HOME, from which
 * the state paths are derived, is unset where it runs. */
static const char *probe_getenv(const char *name, void *ctx)
{
    (void)ctx;
    const char *v = getenv(name);
    if (v == NULL && strcmp(name, "HOME") == 0)
        return "/";
    return v;
}

int cg_probe_main(int argc, char **argv)
{
    const char *path = "/readyz";
    const char *port_arg = NULL;
    bool forward_auth = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--forward-auth") == 0) {
            forward_auth = true;
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port_arg = argv[++i];
        } else if (argv[i][0] == '/') {
            path = argv[i];
        } else {
            fprintf(stderr, "usage: codex-gateway probe [PATH] [--port N] [--forward-auth]\n");
            return EXIT_USAGE;
        }
    }
    struct target t = {.port = 0};
    if (!valid_path(path)) {
        fprintf(stderr, "codex-gateway probe: PATH must start with / and hold no spaces\n");
        return EXIT_USAGE;
    }
    snprintf(t.path, sizeof(t.path), "%s", path);
    struct cg_config cfg;
    char err[512];
    if (cg_config_load(&cfg, probe_getenv, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "codex-gateway probe: %s\n", err);
        return EXIT_UNHEALTHY;
    }
    /* A listener on every address answers on loopback; one on a given address only there. */
    const char *host = forward_auth ? cfg.forward_auth_host : cfg.host;
    if (strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    snprintf(t.host, sizeof(t.host), "%s", host);
    t.port = (int)(forward_auth ? cfg.forward_auth_port : cfg.port);
    cg_config_dispose(&cfg);
    if (port_arg && !parse_port(port_arg, &t.port)) {
        fprintf(stderr, "codex-gateway probe: --port: expected 1..65535, got \"%.32s\"\n",
                port_arg);
        return EXIT_USAGE;
    }
    if (t.port == 0) {
        fprintf(stderr, "codex-gateway probe: the port is 0 (any free port): pass --port N\n");
        return EXIT_USAGE;
    }
    return get(&t);
}
