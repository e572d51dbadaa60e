/* cmd_doctor.c: the checklist: config, the Codex binary and its version, CODEX_HOME and
 * auth.json (as at start), the port, one real worker handshake (the supervisor's own code,
 * with no restarts), the login state, and the edge proxy if PROXY_EDGE_URL names one. */
#include "cmd_doctor.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include "backend/home_check.h"
#include "backend/launch.h"
#include "backend/worker.h"
#include "config.h"
#include "probe.h"
#include "core/catalog.h"
#include "util/capture.h"
#include "util/clock.h"
#include "util/log.h"
#define LOG_COMPONENT "doctor"

enum {
    DOCTOR_CHECK_MS = 10000,
    /* The worker check: handshake, a guard for a wedged start, then the stop, within 10 s. */
    PROBE_HANDSHAKE_MAX_MS = 7000,
    PROBE_GUARD_MS = 1000,
    PROBE_STOP_MAX_MS = 2000,
    DETAIL_BYTES = 1024,
    VERSION_OUT_BYTES = 512,
    EDGE_HOST_BYTES = 256,
    EDGE_REPLY_BYTES = 256,
};

struct doctor {
    char first_fail[32];
};

static void item(struct doctor *d, const char *status, const char *name, const char *fmt, ...)
    CG_PRINTF(4, 5);

static void item(struct doctor *d, const char *status, const char *name, const char *fmt, ...)
{
    char detail[DETAIL_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    printf("%-4s  %-13s  %s\n", status, name, detail);
    fflush(stdout);
    if (strcmp(status, "FAIL") == 0 && d->first_fail[0] == '\0')
        snprintf(d->first_fail, sizeof(d->first_fail), "%s", name);
}

/* Runs argv for at most DOCTOR_CHECK_MS; `out` holds the first line of its stdout. */
static int run_capture(char *const *argv, char *const *env, char *out, size_t outlen)
{
    int rc = cg_capture_run(argv, env, DOCTOR_CHECK_MS, out, outlen);
    out[strcspn(out, "\r\n")] = '\0';
    return rc;
}

static void check_version(struct doctor *d, const struct cg_launch *l)
{
    char *argv[4];
    size_t n = l->program_argc;
    memcpy(argv, l->argv, n * sizeof(char *));
    argv[n++] = "--version";
    argv[n] = NULL;
    char out[VERSION_OUT_BYTES];
    int rc = run_capture(argv, l->env, out, sizeof(out));
    if (rc == 0 && out[0])
        item(d, "ok", "codex_version", "%s", out);
    else if (rc < 0)
        item(d, "FAIL", "codex_version", "`%s --version` did not finish within %d ms%s%s",
             l->codex_bin, DOCTOR_CHECK_MS, out[0] ? ": " : "", out);
    else
        item(d, "FAIL", "codex_version", "`%s --version` exited with status %d%s%s", l->codex_bin,
             rc, out[0] ? ": " : "", out);
}

/* exec and proto: the command must exist in this CLI (proto left it after 0.5x). */
static void check_process_backend(struct doctor *d, const struct cg_config *cfg,
                                  const struct cg_launch *l)
{
    char err[DETAIL_BYTES];
    if (cg_launch_check_process(l, err, sizeof(err)) != 0) {
        item(d, "FAIL", "backend", "%s", err);
        return;
    }
    item(d, "ok", "backend", "%s (%s): one Codex process per request, at most %lld at once",
         cfg->backend, cfg->backend_reason, (long long)cfg->max_concurrent_processes);
}

static void check_home(struct doctor *d, const struct cg_config *cfg, bool *usable)
{
    struct cg_home_check r;
    *usable = cg_home_check_run(cfg->codex_home, &r) == 0;
    if (!*usable) {
        item(d, "FAIL", "codex_home", "%s", r.error);
        item(d, "skip", "auth_json", "CODEX_HOME is not usable");
        return;
    }
    item(d, "ok", "codex_home", "%s (%s, writable)", cfg->codex_home,
         r.created ? "created 0700" : "exists");
    char msg[CG_HOME_CHECK_ERROR_BYTES * 2];
    enum cg_home_verdict v =
        cg_home_check_verdict(&r, cfg->codex_home, cfg->strict_home, msg, sizeof(msg));
    if (v == CG_HOME_REFUSED)
        item(d, "FAIL", "auth_json", "%s", msg);
    else if (v == CG_HOME_WARN)
        item(d, "warn", "auth_json", "%s", msg);
    else if (r.auth == CG_HOME_AUTH_ABSENT)
        item(d, "ok", "auth_json", "absent (no ChatGPT login stored)");
    else
        item(d, "ok", "auth_json", "mode %04o", r.auth_mode);
}

static void check_port(struct doctor *d, const struct cg_config *cfg)
{
    if (cfg->port == 0) {
        item(d, "ok", "port", "PORT=0: a free port is picked at start");
        return;
    }
    char port[16];
    snprintf(port, sizeof(port), "%lld", (long long)cfg->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    int e = getaddrinfo(cfg->host, port, &hints, &ai);
    if (e != 0) {
        item(d, "FAIL", "port", "PROXY_HOST=%s: %s", cfg->host, gai_strerror(e));
        return;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    /* As the server binds (libuv sets SO_REUSEADDR): old TIME_WAIT connections are no clash. */
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
              bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0;
    int bind_errno = errno;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    if (ok)
        item(d, "ok", "port", "%s:%s is free", cfg->host, port);
    else
        item(d, "FAIL", "port", "cannot listen on %s:%s: %s", cfg->host, port,
             strerror(bind_errno));
}

struct probe {
    uv_loop_t loop;
    struct cg_worker worker;
    uv_timer_t timer;
    bool settled;
    bool timed_out;
    enum cg_worker_state state;
    uint64_t started_ms;
    uint64_t took_ms;
};

static void on_probe_worker_stopped(struct cg_worker *w)
{
    struct probe *p = CG_CONTAINER_OF(w, struct probe, worker);
    uv_close((uv_handle_t *)&p->timer, NULL);
}

/* Settled or overdue: stop the worker from the loop, not from inside its own callback. */
static void on_probe_timer(uv_timer_t *t)
{
    struct probe *p = t->data;
    if (!p->settled) {
        p->settled = true;
        p->timed_out = true;
        p->state = p->worker.state;
    }
    cg_worker_stop(&p->worker, on_probe_worker_stopped);
}

static void on_probe_state(struct cg_worker *w, void *data)
{
    struct probe *p = data;
    if (p->settled)
        return;
    switch (w->state) {
    case CG_WORKER_READY:
    case CG_WORKER_LOGIN_REQUIRED:
    case CG_WORKER_BACKOFF:
    case CG_WORKER_FAILED:
        p->settled = true;
        p->state = w->state;
        p->took_ms = cg_clock_mono_ms() - p->started_ms;
        uv_timer_start(&p->timer, on_probe_timer, 0, 0);
        break;
    default:
        break;
    }
}

/* One worker, started and stopped by the supervisor's code; the state it reached. */
static void check_worker(struct doctor *d, const struct cg_config *cfg, const struct cg_launch *l,
                         enum cg_worker_state *reached)
{
    uint64_t handshake_ms =
        CG_MIN((uint64_t)cfg->worker_handshake_timeout_ms, (uint64_t)PROBE_HANDSHAKE_MAX_MS);
    struct cg_worker_config wc = {
        .argv = (const char *const *)l->argv,
        .env = (const char *const *)l->env,
        .cwd = cfg->codex_workdir,
        .handshake_timeout_ms = handshake_ms,
        .request_timeout_ms = handshake_ms,
        .backoff_initial_ms = 1,
        .backoff_max_ms = 1,
        .stable_ms = (uint64_t)cfg->worker_stable_ms,
        .shutdown_grace_ms =
            CG_MIN((uint64_t)cfg->worker_shutdown_grace_ms, (uint64_t)PROBE_STOP_MAX_MS),
        .ping_interval_ms = 0,
        .ping_timeout_ms = handshake_ms,
        .unhealthy_grace_ms = handshake_ms,
        .restart_max = 0,
        .max_line_bytes = (size_t)cfg->worker_max_line_bytes,
        .login_hint = l->login_hint,
        .auth_path = l->auth_path,
        .upstream_retry_after_s = (unsigned)cfg->upstream_retry_after_s,
    };
    static const struct cg_worker_hooks hooks = {.state_changed = on_probe_state};
    struct probe p;
    memset(&p, 0, sizeof(p));
    uv_loop_init(&p.loop);
    uv_timer_init(&p.loop, &p.timer);
    p.timer.data = &p;
    p.started_ms = cg_clock_mono_ms();
    cg_worker_init(&p.worker, 0, &p.loop, &wc, &hooks, &p);
    /* The handshake deadline is the worker's; this one only bounds a wedged start. Armed
     * first: a start that fails at once re-arms it for now, from its state callback. */
    uv_timer_start(&p.timer, on_probe_timer, handshake_ms + PROBE_GUARD_MS, 0);
    cg_worker_start(&p.worker);
    uv_run(&p.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&p.loop);
    *reached = p.state;
    if (p.state == CG_WORKER_READY || p.state == CG_WORKER_LOGIN_REQUIRED)
        item(d, "ok", "worker", "app-server handshake (initialize, account/read) in %llu ms",
             (unsigned long long)p.took_ms);
    else if (p.timed_out)
        item(d, "FAIL", "worker", "no handshake within %llu ms",
             (unsigned long long)handshake_ms + PROBE_GUARD_MS);
    else
        item(d, "FAIL", "worker", "%s",
             p.worker.last_error[0] ? p.worker.last_error : "the app-server failed to start");
    if (rc != 0)
        cg_log_error("event loop closed with handles open: %s", uv_strerror(rc));
}

static void check_login(struct doctor *d, const struct cg_config *cfg, enum cg_worker_state w)
{
    struct cg_home_check r = {.writable = true};
    cg_home_check_auth(cfg->codex_home, &r);
    if (w == CG_WORKER_LOGIN_REQUIRED)
        item(d, "warn", "login",
             "Codex is not logged in (account/read): run `codex-gateway login`");
    else if (w == CG_WORKER_READY && r.auth == CG_HOME_AUTH_ABSENT)
        item(d, "ok", "login", "no auth.json, and account/read needs none (another provider)");
    else if (w == CG_WORKER_READY)
        item(d, "ok", "login", "auth.json present; account/read is satisfied");
    else if (r.auth == CG_HOME_AUTH_ABSENT)
        item(d, "warn", "login", "no auth.json: run `codex-gateway login` (worker not checked)");
    else
        item(d, "ok", "login", "auth.json present (worker not checked)");
}

/* "http://host[:port][/path]" or "https://..." into its parts; false when it is neither. */
static bool parse_edge(const char *url, bool *tls, char *host, size_t hostlen, char *port,
                       size_t portlen, const char **path)
{
    *tls = strncmp(url, "https://", 8) == 0;
    size_t skip = *tls ? 8 : 7;
    if (!*tls && strncmp(url, "http://", 7) != 0)
        return false;
    const char *h = url + skip;
    const char *slash = strchr(h, '/');
    *path = slash ? slash : "/";
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = memchr(h, ':', hl);
    size_t name = colon ? (size_t)(colon - h) : hl;
    if (name == 0 || name >= hostlen || h[0] == '[')
        return false;
    memcpy(host, h, name);
    host[name] = '\0';
    if (colon)
        snprintf(port, portlen, "%.*s", (int)(hl - name - 1), colon + 1);
    else
        snprintf(port, portlen, "%s", *tls ? "443" : "80");
    return port[0] != '\0';
}

static void check_edge(struct doctor *d, const struct cg_config *cfg)
{
    if (cfg->edge_url[0] == '\0') {
        item(d, "skip", "edge", "PROXY_EDGE_URL is not set");
        return;
    }
    bool tls = false;
    char host[EDGE_HOST_BYTES];
    char port[16];
    const char *path = "/";
    if (!parse_edge(cfg->edge_url, &tls, host, sizeof(host), port, sizeof(port), &path)) {
        item(d, "FAIL", "edge", "PROXY_EDGE_URL: expected http://host[:port]/path or https://...");
        return;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int e = getaddrinfo(host, port, &hints, &ai);
    if (e != 0) {
        item(d, "FAIL", "edge", "%s: %s", host, gai_strerror(e));
        return;
    }
    char host_header[EDGE_HOST_BYTES + 16];
    snprintf(host_header, sizeof(host_header), "%s", host);
    char what[EDGE_REPLY_BYTES];
    int status = cg_probe_get(ai->ai_addr, ai->ai_addrlen, host_header, path, DOCTOR_CHECK_MS, what,
                              sizeof(what));
    freeaddrinfo(ai);
    if (status == CG_PROBE_NO_CONNECTION)
        item(d, "FAIL", "edge", "cannot connect to %s:%s: %s", host, port, what);
    else if (tls)
        item(d, "ok", "edge", "%s:%s accepts connections (TLS itself is not checked)", host, port);
    else if (status > 0)
        item(d, "ok", "edge", "GET %s: %s", cfg->edge_url, what);
    else
        item(d, "FAIL", "edge", "GET %s: %s", cfg->edge_url, what);
}

int cg_cmd_doctor_run(void)
{
    struct doctor d = {{0}};
    struct cg_config cfg;
    char err[1024];
    if (cg_config_load(&cfg, NULL, NULL, err, sizeof(err)) != 0) {
        item(&d, "FAIL", "config", "%s", err);
        printf("doctor: FAIL: config\n");
        return 1;
    }
    /* The checklist is the output; the worker's own log lines only for errors. */
    cg_log_threshold = CG_LOG_ERROR;
    item(&d, "ok", "config", "settings valid (codex-gateway check-config prints them)");
    signal(SIGPIPE, SIG_IGN);

    char *bin = cg_launch_resolve_bin(cfg.codex_bin, getenv("PATH"), err, sizeof(err));
    bool bin_ok = bin != NULL;
    if (bin)
        item(&d, "ok", "codex_bin", "%s", bin);
    else
        item(&d, "FAIL", "codex_bin", "%s", err);
    free(bin);

    bool home_usable = false;
    check_home(&d, &cfg, &home_usable);

    struct cg_catalog catalog;
    struct cg_launch launch;
    memset(&launch, 0, sizeof(launch));
    bool launchable = false;
    if (cg_catalog_init(&catalog, cfg.codex_model) != 0) {
        item(&d, "FAIL", "launch", "CODEX_MODEL: invalid");
    } else if (bin_ok && home_usable) {
        launchable = cg_launch_init(&launch, &cfg, &catalog, err, sizeof(err)) == 0;
        if (!launchable)
            item(&d, "FAIL", "launch", "%s", err);
    }

    enum cg_worker_state reached = CG_WORKER_STOPPED;
    if (launchable) {
        check_version(&d, &launch);
        if (cfg.backend_kind == CG_BACKEND_APP_SERVER) {
            item(&d, "ok", "backend", "app-server (%s): supervised workers", cfg.backend_reason);
            check_worker(&d, &cfg, &launch, &reached);
        } else {
            check_process_backend(&d, &cfg, &launch);
            item(&d, "skip", "worker", "no app-server workers with PROXY_BACKEND=%s",
                 cfg.backend);
        }
    } else {
        item(&d, "skip", "codex_version", "needs codex_bin and codex_home");
        item(&d, "skip", "worker", "needs codex_bin and codex_home");
    }
    check_login(&d, &cfg, reached);
    check_port(&d, &cfg);
    check_edge(&d, &cfg);

    cg_launch_dispose(&launch);
    cg_config_dispose(&cfg);
    if (d.first_fail[0]) {
        printf("doctor: FAIL: %s\n", d.first_fail);
        return 1;
    }
    printf("doctor: ok\n");
    return 0;
}
