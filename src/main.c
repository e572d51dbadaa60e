/* main.c: the command line: `serve` (default), `forward-auth`, `probe`, `check-config`,
 * `hash-key`, `version`. Serving wires the
 * pieces together: config → catalog, CORS, auth → router → HTTP server, then runs the loop until
 * SIGTERM/SIGINT and a graceful stop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "api/api.h"
#include "backend/home_check.h"
#include "backend/launch.h"
#include "backend/pool.h"
#include "backend/procs.h"
#include "cmd_doctor.h"
#include "cmd_login.h"
#include "config.h"
#include "core/catalog.h"
#include "forward_auth.h"
#include "http/auth.h"
#include "http/cors.h"
#include "http/keys.h"
#include "http/ratelimit.h"
#include "http/router.h"
#include "http/server.h"
#include "listener.h"
#include "probe.h"
#include "store/state.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#include "util/notify.h"
#define LOG_COMPONENT "main"

enum { EXIT_CONFIG = 2, CONFIG_PRINT_MAX_BYTES = 1 << 20 };

struct gateway {
    uv_loop_t *loop;
    struct cg_config cfg;
    struct cg_catalog catalog;
    struct cg_cors cors;
    struct cg_auth auth;
    struct cg_router router;
    struct cg_ratelimit ratelimit;
    struct cg_keys_watch keys;
    struct cg_api api;
    struct cg_server server;
    struct cg_launch launch;
    struct cg_worker_config worker_cfg;
    struct cg_pool pool;
    struct cg_procs procs;
    struct cg_state *state; /* gateway.db: stored responses and the usage ledger */
    struct cg_home_check home_check;
    char home_warning[CG_HOME_CHECK_ERROR_BYTES * 2];
    uv_signal_t sigterm;
    uv_signal_t sigint;
    int signals_seen;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: codex-gateway [serve]            run the gateway (settings from the "
                 "environment)\n"
                 "       codex-gateway check-config     print the effective settings and exit\n"
                 "       codex-gateway check-config --markdown   the settings table\n"
                 "       codex-gateway hash-key         print the sha256: form of a key read "
                 "from stdin (for PROXY_API_KEYS_FILE)\n"
                 "       codex-gateway forward-auth     run the key verifier for an edge proxy "
                 "(PROXY_FORWARD_AUTH_*)\n"
                 "       codex-gateway probe [PATH] [--port N] [--forward-auth]   GET PATH "
                 "(default /readyz) on the local listener; exit 0 on 2xx\n"
                 "       codex-gateway doctor           check the setup, one item per line\n"
                 "       codex-gateway login [ARGS]     log Codex in to CODEX_HOME (default: "
                 "CODEX_BIN login --device-auth)\n"
                 "       codex-gateway version\n");
}

static int load_config(struct cg_config *cfg)
{
    char err[512];
    if (cg_config_load(cfg, NULL, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "codex-gateway: %s\n", err);
        return -1;
    }
    enum cg_log_level level = CG_LOG_INFO;
    cg_log_parse_level(cfg->log_level, &level);
    cg_log_threshold = level;
    return 0;
}

static int check_config(int argc, char **argv)
{
    struct cg_buf out;
    cg_buf_init(&out, CONFIG_PRINT_MAX_BYTES);
    int rc = 0;
    if (argc > 2 && strcmp(argv[2], "--markdown") == 0) {
        rc = cg_config_markdown(&out);
    } else {
        struct cg_config cfg;
        if (load_config(&cfg) != 0) {
            cg_buf_dispose(&out);
            return EXIT_CONFIG;
        }
        char err[512];
        char *bin = cg_launch_resolve_bin(cfg.codex_bin, getenv("PATH"), err, sizeof(err));
        if (bin == NULL) {
            fprintf(stderr, "codex-gateway: %s\n", err);
            cg_config_dispose(&cfg);
            cg_buf_dispose(&out);
            return EXIT_CONFIG;
        }
        free(bin);
        struct cg_keys *keys = NULL;
        if (cfg.api_keys_file[0] && cg_keys_load(cfg.api_keys_file, &keys, err, sizeof(err))) {
            fprintf(stderr, "codex-gateway: PROXY_API_KEYS_FILE: %s\n", err);
            cg_config_dispose(&cfg);
            cg_buf_dispose(&out);
            return EXIT_CONFIG;
        }
        cg_keys_free(keys);
        rc = cg_config_print(&cfg, &out);
        if (rc == 0)
            rc = cg_buf_appendf(&out, "# backend: %s, chosen by %s\n",
                                cg_config_backend_name(cfg.backend_kind), cfg.backend_reason);
        cg_config_dispose(&cfg);
    }
    if (rc == 0)
        fwrite(out.data, 1, out.len, stdout);
    cg_buf_dispose(&out);
    return rc == 0 ? 0 : 1;
}

static void log_start(const struct gateway *g)
{
    struct cg_buf b;
    cg_buf_init(&b, CONFIG_PRINT_MAX_BYTES);
    int err = cg_buf_appendf(&b, "\"version\":\"%s\",\"pid\":%d,\"config\":", CG_VERSION,
                             (int)uv_os_getpid());
    if (!err)
        err = cg_config_to_json(&g->cfg, &b);
    if (!err)
        err = cg_buf_appendf(&b, ",\"backend\":{\"kind\":\"%s\",\"reason\":\"%s\"}",
                             cg_config_backend_name(g->cfg.backend_kind), g->cfg.backend_reason);
    if (!err)
        err = cg_buf_append_str(&b, ",\"codex_home\":");
    if (!err)
        err = cg_home_check_json(&g->home_check, g->cfg.codex_home, &b);
    if (!err)
        cg_log_event(CG_LOG_NOTICE, LOG_COMPONENT, "start", b.data);
    cg_buf_dispose(&b);
    if (g->home_warning[0])
        cg_log_warn("%s", g->home_warning);
    if (g->cfg.api_key_count == 0 && g->cfg.api_keys_file[0] == '\0')
        cg_log_warn("PROXY_API_KEY is not set: only loopback clients are served; set it to "
                    "serve others");
}

/* CODEX_HOME before any worker: an unusable one, or a too open auth.json with
 * PROXY_STRICT_HOME, stops the start with one line; a warning waits for the start line. */
static int check_home(struct gateway *g)
{
    int rc = cg_home_check_run(g->cfg.codex_home, &g->home_check);
    enum cg_home_verdict v =
        cg_home_check_verdict(&g->home_check, g->cfg.codex_home, g->cfg.strict_home,
                              g->home_warning, sizeof(g->home_warning));
    if (rc != 0 || v == CG_HOME_REFUSED) {
        fprintf(stderr, "codex-gateway: %s\n", g->home_warning);
        return -1;
    }
    g->api.home_check = &g->home_check;
    return 0;
}

static void backend_stopped(struct gateway *g)
{
    uv_close((uv_handle_t *)&g->sigterm, NULL);
    uv_close((uv_handle_t *)&g->sigint, NULL);
    cg_keys_watch_stop(&g->keys);
    /* Last: no connection is left to queue a job, and what is queued still completes. */
    g->api.store = NULL;
    g->api.ledger = NULL;
    cg_state_close(g->state);
    g->state = NULL;
    cg_log_event(CG_LOG_NOTICE, LOG_COMPONENT, "stopped", NULL);
}

static void on_pool_stopped(struct cg_pool *p)
{
    backend_stopped(CG_CONTAINER_OF(p, struct gateway, pool));
}

static void on_procs_stopped(struct cg_procs *ps)
{
    backend_stopped(CG_CONTAINER_OF(ps, struct gateway, procs));
}

/* Clients first (their turns are interrupted, their processes killed, as their responses
 * end), then the backend. */
static void on_server_stopped(struct cg_server *s)
{
    struct gateway *g = CG_CONTAINER_OF(s, struct gateway, server);
    if (g->api.backend.procs)
        cg_procs_stop(&g->procs, on_procs_stopped);
    else
        cg_pool_stop(&g->pool, on_pool_stopped);
}

/* A Codex process per choice: exec or proto. */
static void start_procs(struct gateway *g)
{
    const struct cg_config *c = &g->cfg;
    struct cg_procs_config pc = {
        .codex_home = c->codex_home,
        .codex_log_max_bytes = (uint64_t)c->codex_log_max_bytes,
        .codex_home_check_ms = (uint64_t)c->codex_home_check_ms,
        .max_running = (size_t)c->max_concurrent_processes,
        .queue_max = (size_t)c->queue_max,
        .queue_timeout_ms = (uint64_t)c->queue_timeout_ms,
        .proc =
            {
                .loop = g->loop,
                .launch = &g->launch,
                .cwd = c->codex_workdir,
                .max_line_bytes = (size_t)c->worker_max_line_bytes,
                .kill_grace_ms = (uint64_t)c->worker_shutdown_grace_ms,
            },
    };
    cg_procs_init(&g->procs, &pc);
    g->api.backend.procs = &g->procs;
    g->api.backend.launch = &g->launch;
}

static void start_backend(struct gateway *g)
{
    const struct cg_config *c = &g->cfg;
    if (c->backend_kind != CG_BACKEND_APP_SERVER) {
        start_procs(g);
        return;
    }
    g->worker_cfg = (struct cg_worker_config){
        .argv = (const char *const *)g->launch.argv,
        .env = (const char *const *)g->launch.env,
        .cwd = c->codex_workdir,
        .handshake_timeout_ms = (uint64_t)c->worker_handshake_timeout_ms,
        .request_timeout_ms = (uint64_t)c->worker_request_timeout_ms,
        .backoff_initial_ms = (uint64_t)c->worker_backoff_initial_ms,
        .backoff_max_ms = (uint64_t)c->worker_backoff_max_ms,
        .stable_ms = (uint64_t)c->worker_stable_ms,
        .shutdown_grace_ms = (uint64_t)c->worker_shutdown_grace_ms,
        .ping_interval_ms = (uint64_t)c->worker_ping_interval_ms,
        .ping_timeout_ms = (uint64_t)c->worker_ping_timeout_ms,
        .unhealthy_grace_ms = (uint64_t)c->worker_unhealthy_grace_ms,
        .restart_max = (unsigned)c->worker_restart_max,
        .max_line_bytes = (size_t)c->worker_max_line_bytes,
        .login_hint = g->launch.login_hint,
        .auth_path = g->launch.auth_path,
        .upstream_retry_after_s = (unsigned)c->upstream_retry_after_s,
    };
    struct cg_pool_config pc = {
        .codex_home = c->codex_home,
        .codex_log_max_bytes = (uint64_t)c->codex_log_max_bytes,
        .codex_home_check_ms = (uint64_t)c->codex_home_check_ms,
        .workers = (size_t)c->worker_count,
        .max_concurrency = (size_t)c->worker_max_concurrency,
        .queue_max = (size_t)c->queue_max,
        .queue_timeout_ms = (uint64_t)c->queue_timeout_ms,
        .worker = &g->worker_cfg,
    };
    cg_pool_init(&g->pool, g->loop, &pc);
    g->api.backend.pool = &g->pool;
}

/* PROXY_STATE_DIR/gateway.db; prints the one line of a failed start. */
static int open_store(struct gateway *g)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/gateway.db", g->cfg.state_dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fprintf(stderr, "codex-gateway: PROXY_STATE_DIR: path too long\n");
        return -1;
    }
    struct cg_responses_store_limits lim = {
        .max_age_s = (uint64_t)g->cfg.responses_max_age,
        .max_bytes = (uint64_t)g->cfg.responses_max_bytes,
    };
    char err[4096 + 512];
    struct cg_ledger_config lc = {.max_age_s = (uint64_t)g->cfg.usage_max_age};
    if (cg_state_open(g->loop, path, &lim, &lc, &g->state, err, sizeof(err)) != 0) {
        fprintf(stderr, "codex-gateway: %s\n", err);
        return -1;
    }
    g->api.store = cg_state_store(g->state);
    g->api.ledger = g->cfg.usage_ledger ? cg_state_ledger(g->state) : NULL;
    return 0;
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct gateway *g = sig->data;
    if (++g->signals_seen > 1) {
        cg_log_warn("second signal: exiting now");
        exit(1);
    }
    size_t open = cg_server_connections(&g->server);
    /* Logged once the listener is closed: whoever reads "stopping" finds new connections
     * already refused. */
    if (cg_notify_send("STOPPING=1") != 0)
        cg_log_warn("NOTIFY_SOCKET: STOPPING=1 was not delivered");
    cg_server_stop(&g->server, on_server_stopped);
    cg_log_info("%s: stopping (grace %lld ms, %zu connection(s) open)", strsignal(signum),
                (long long)g->cfg.shutdown_grace_ms, open);
}

static int serve(void)
{
    static struct gateway g; /* static: handles must outlive every callback */
    if (load_config(&g.cfg) != 0)
        return EXIT_CONFIG;
    char err[512];
    if (cg_catalog_init(&g.catalog, g.cfg.codex_model) != 0) {
        fprintf(stderr, "codex-gateway: CODEX_MODEL: must be 1..%d characters\n",
                CG_MODEL_ID_MAX_BYTES - 1);
        return EXIT_CONFIG;
    }
    if (cg_cors_init(&g.cors, g.cfg.enable_cors, g.cfg.cors_allowed_origins, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "codex-gateway: %s\n", err);
        return EXIT_CONFIG;
    }
    /* Before the first log line, so a bad CODEX_HOME or CODEX_BIN is the one line a failed
     * start prints. */
    if (check_home(&g) != 0)
        return EXIT_CONFIG;
    if (cg_launch_init(&g.launch, &g.cfg, &g.catalog, err, sizeof(err)) != 0) {
        fprintf(stderr, "codex-gateway: %s\n", err);
        cg_launch_dispose(&g.launch);
        return EXIT_CONFIG;
    }
    if (g.cfg.backend_kind != CG_BACKEND_APP_SERVER &&
        cg_launch_check_process(&g.launch, err, sizeof(err)) != 0) {
        fprintf(stderr, "codex-gateway: %s\n", err);
        cg_launch_dispose(&g.launch);
        return EXIT_CONFIG;
    }
    signal(SIGPIPE, SIG_IGN);
    g.loop = uv_default_loop();
    if (open_store(&g) != 0) {
        cg_launch_dispose(&g.launch);
        return EXIT_CONFIG;
    }
    cg_auth_init(&g.auth, g.cfg.api_keys, g.cfg.api_key_count);
    if (g.cfg.api_keys_file[0] && cg_keys_watch_start(&g.keys, g.loop, g.cfg.api_keys_file,
                                                      &g.auth.named, err, sizeof(err)) != 0) {
        fprintf(stderr, "codex-gateway: PROXY_API_KEYS_FILE: %s\n", err);
        cg_launch_dispose(&g.launch);
        return EXIT_CONFIG;
    }
    g.api.cfg = &g.cfg;
    g.api.catalog = &g.catalog;
    g.api.server = &g.server;
    g.api.loop = g.loop;
    g.api.started_ms = cg_clock_mono_ms();
    cg_routes_init(&g.router, &g.api);
    g.router.cors = &g.cors;
    g.router.auth = &g.auth;
    g.router.protect_models = g.cfg.protect_models;
    struct cg_ratelimit_limits defaults = {
        .max = (uint64_t)g.cfg.rate_limit_max,
        .window_ms = (uint64_t)g.cfg.rate_limit_window_ms,
        .concurrent = (uint64_t)g.cfg.rate_limit_concurrent,
        .tpm = (uint64_t)g.cfg.rate_limit_tpm,
    };
    cg_ratelimit_init(&g.ratelimit, g.cfg.rate_limit_enabled, &defaults,
                      (uint64_t)g.cfg.auth_failures_max, NULL);
    g.router.ratelimit = &g.ratelimit;
    log_start(&g);
    size_t children = g.cfg.backend_kind == CG_BACKEND_APP_SERVER
                          ? (size_t)g.cfg.worker_count
                          : (size_t)g.cfg.max_concurrent_processes;
    cg_listener_raise_fd_limit((size_t)g.cfg.max_connections + 64 + 4 * children);
    start_backend(&g);

    struct cg_server_config sc = cg_listener_config(&g.cfg, g.cfg.host, g.cfg.port);
    if (cg_server_start(&g.server, g.loop, &sc, &g.router) != 0)
        return 1;
    if (g.api.backend.pool)
        cg_pool_start(&g.pool);
    /* Before "listening": a supervisor that reads that line may stop us at once. */
    uv_signal_init(g.loop, &g.sigterm);
    uv_signal_init(g.loop, &g.sigint);
    g.sigterm.data = &g;
    g.sigint.data = &g;
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    char fields[256];
    snprintf(fields, sizeof(fields), "\"host\":\"%s\",\"port\":%d", g.cfg.host,
             g.server.bound_port);
    cg_log_event(CG_LOG_NOTICE, LOG_COMPONENT, "listening", fields);
    if (cg_notify_send("READY=1") != 0)
        cg_log_warn("NOTIFY_SOCKET: READY=1 was not delivered; a Type=notify unit will time out");

    uv_run(g.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(g.loop);
    if (rc != 0)
        cg_log_warn("event loop closed with handles open: %s", uv_strerror(rc));
    cg_launch_dispose(&g.launch);
    cg_ratelimit_dispose(&g.ratelimit);
    cg_config_dispose(&g.cfg);
    return 0;
}

enum { HASH_KEY_INPUT_MAX_BYTES = 4096 };

/* Reads one key from stdin (a trailing newline is not part of it), prints its sha256: form. */
static int hash_key(void)
{
    static char key[HASH_KEY_INPUT_MAX_BYTES + 1];
    size_t n = fread(key, 1, sizeof(key), stdin);
    if (n > HASH_KEY_INPUT_MAX_BYTES) {
        fprintf(stderr, "codex-gateway hash-key: the key is longer than %d bytes\n",
                HASH_KEY_INPUT_MAX_BYTES);
        return 2;
    }
    while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r'))
        n--;
    struct cg_str k = cg_str_trim((struct cg_str){key, n});
    if (k.len == 0 || memchr(k.ptr, '\n', k.len)) {
        fprintf(stderr, "codex-gateway hash-key: expected one key on stdin\n");
        return 2;
    }
    char text[CG_KEYS_HASH_TEXT_BYTES];
    cg_keys_hash_text(k.ptr, k.len, text);
    printf("%s\n", text);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (strcmp(cmd, "serve") == 0)
        return serve();
    if (strcmp(cmd, "check-config") == 0)
        return check_config(argc, argv);
    if (strcmp(cmd, "hash-key") == 0)
        return hash_key();
    if (strcmp(cmd, "forward-auth") == 0)
        return cg_forward_auth_main();
    if (strcmp(cmd, "probe") == 0)
        return cg_probe_main(argc, argv);
    if (strcmp(cmd, "doctor") == 0)
        return cg_cmd_doctor_run();
    if (strcmp(cmd, "login") == 0)
        return cg_cmd_login_run(argc, argv);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("codex-gateway %s\n", CG_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
