/* forward_auth.c: the verifier role. The gateway's own router decides every check with a
 * two-route table (the verify path as a CG_ACCESS_VERIFY route, and /livez), so the key list,
 * the keys file with its reload and the failed-auth slowdown are the gateway's code: edge and
 * origin cannot disagree about a key. No workers, no database. */
#include "forward_auth.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "api/api.h"
#include "api/health.h"
#include "config.h"
#include "http/auth.h"
#include "http/cors.h"
#include "http/keys.h"
#include "http/ratelimit.h"
#include "http/router.h"
#include "http/server.h"
#include "listener.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#define LOG_COMPONENT "forward_auth"

enum {
    EXIT_CONFIG = 2,
    VERIFY_PATH_MAX_BYTES = 256,
    FORWARDED_FIELD_MAX_BYTES = 64, /* as the path in the access line */
    ACCESS_LINE_MAX_BYTES = CG_EXCHANGE_ACCESS_LINE_MAX_BYTES + 3 * 8 * FORWARDED_FIELD_MAX_BYTES,
};

struct verifier {
    uv_loop_t *loop;
    struct cg_config cfg;
    struct cg_cors cors; /* off: a verifier answers proxies, not browsers */
    struct cg_auth auth;
    struct cg_keys_watch keys;
    struct cg_ratelimit ratelimit;
    struct cg_route routes[2];
    struct cg_router router;
    struct cg_api api; /* no pool: /livez answers for the process alone */
    struct cg_server server;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    int signals_seen;
};

static const unsigned ANY_METHOD = CG_METHOD_GET | CG_METHOD_HEAD | CG_METHOD_POST |
                                   CG_METHOD_OPTIONS | CG_METHOD_PUT | CG_METHOD_DELETE |
                                   CG_METHOD_PATCH | CG_METHOD_OTHER;

/* 200 with the key's label for the proxy to pass on. A preflight passes with an empty one:
 * proxies that copy the header (Caddy 2.6's copy_headers) would otherwise pass their own
 * placeholder text, or the client's header, on to the gateway. */
static void on_verify(struct cg_exchange *ex, void *ctx)
{
    (void)ctx;
    cg_exchange_add_header(ex, "X-Auth-User", ex->key_label ? ex->key_label : "");
    cg_exchange_send(ex, NULL, NULL, 0);
}

/* ,"<name>":"<header value, query cut off, cut to FORWARDED_FIELD_MAX_BYTES>" or null. The
 * query goes because clients put keys there too. */
static int forwarded_field(struct cg_buf *b, const char *name, const struct cg_exchange *ex,
                           const char *header, bool cut_query)
{
    struct cg_str v = cg_exchange_header(ex, header);
    int err = cg_buf_appendf(b, ",\"%s\":", name);
    if (err)
        return err;
    if (v.ptr == NULL)
        return cg_buf_append_str(b, "null");
    if (cut_query) {
        const char *q = memchr(v.ptr, '?', v.len);
        if (q)
            v.len = (size_t)(q - v.ptr);
    }
    return cg_json_string(b, v.ptr, CG_MIN(v.len, (size_t)FORWARDED_FIELD_MAX_BYTES));
}

/* The access line: the gateway's fields, plus what the proxy says about the original request. */
static void on_done(const struct cg_exchange *ex, void *data)
{
    if (!cg_log_enabled(CG_LOG_INFO))
        return;
    struct cg_buf b;
    cg_buf_init(&b, ACCESS_LINE_MAX_BYTES);
    int err = cg_exchange_access_fields(ex, &b);
    if (!err)
        err = forwarded_field(&b, "fwd_method", ex, "x-forwarded-method", false);
    if (!err)
        err = forwarded_field(&b, "fwd_uri", ex, "x-forwarded-uri", true);
    char client[CG_RATELIMIT_ID_MAX_BYTES];
    if (!err)
        err = forwarded_field(&b, "fwd_for", ex, "x-forwarded-for", false);
    /* The address the slowdown counted: the proxy's last entry, or the TCP peer. */
    if (!err)
        err = cg_buf_append_str(&b, ",\"client\":");
    if (!err)
        err = cg_json_cstring(&b, cg_router_client_addr(data, ex, client, sizeof(client)));
    if (!err)
        cg_log_event(CG_LOG_INFO, LOG_COMPONENT, "access", b.data);
    cg_buf_dispose(&b);
}

static int check_settings(const struct cg_config *cfg, char *err, size_t size)
{
    if (cfg->api_key_count == 0 && cfg->api_keys_file[0] == '\0') {
        /* The verifier's peer is the proxy, so the gateway's keyless rule (loopback clients
         * only) would pass every request the proxy forwards. */
        snprintf(err, size,
                 "forward-auth needs PROXY_API_KEY or PROXY_API_KEYS_FILE: without keys it "
                 "would let every request through the proxy");
        return -1;
    }
    struct sockaddr_in6 addr;
    if (uv_ip4_addr(cfg->forward_auth_host, 0, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(cfg->forward_auth_host, 0, &addr) != 0) {
        snprintf(err, size,
                 "PROXY_FORWARD_AUTH_HOST: expected an IPv4 or IPv6 address, got \"%.64s\"",
                 cfg->forward_auth_host);
        return -1;
    }
    const char *p = cfg->forward_auth_path;
    size_t n = strlen(p);
    bool ok = n > 1 && n < VERIFY_PATH_MAX_BYTES && p[0] == '/' && p[n - 1] != '/' &&
              strcmp(p, "/livez") != 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = p[i] > ' ' && p[i] < 0x7f && p[i] != '?' && p[i] != '#';
    if (!ok) {
        snprintf(err, size,
                 "PROXY_FORWARD_AUTH_PATH: expected a path like /verify (not /livez, no "
                 "query, no trailing slash), got \"%.64s\"",
                 p);
        return -1;
    }
    return 0;
}

static void on_stopped(struct cg_server *s)
{
    struct verifier *v = CG_CONTAINER_OF(s, struct verifier, server);
    uv_close((uv_handle_t *)&v->sigterm, NULL);
    uv_close((uv_handle_t *)&v->sigint, NULL);
    cg_keys_watch_stop(&v->keys);
    cg_log_event(CG_LOG_NOTICE, LOG_COMPONENT, "stopped", NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct verifier *v = sig->data;
    if (++v->signals_seen > 1) {
        cg_log_warn("second signal: exiting now");
        exit(1);
    }
    cg_server_stop(&v->server, on_stopped);
    cg_log_info("%s: stopping", strsignal(signum));
}

static void init_router(struct verifier *v)
{
    v->routes[0] = (struct cg_route){v->cfg.forward_auth_path, false,    ANY_METHOD,
                                     CG_ACCESS_VERIFY,         "verify", on_verify};
    v->routes[1] =
        (struct cg_route){"/livez", false, CG_METHOD_GET, CG_ACCESS_OPEN, "livez", cg_health_livez};
    v->api.cfg = &v->cfg;
    v->router = (struct cg_router){
        .routes = v->routes,
        .count = CG_ARRAY_SIZE(v->routes),
        .cors = &v->cors,
        .auth = &v->auth,
        .ctx = &v->api,
        .ratelimit = &v->ratelimit,
        .on_done = on_done,
        .on_done_data = &v->router,
        .own_access_log = true,
        .peer_from_forwarded = true,
    };
}

static int start(struct verifier *v, char *err, size_t size)
{
    if (check_settings(&v->cfg, err, size) != 0)
        return -1;
    if (cg_cors_init(&v->cors, false, "*", err, size) != 0)
        return -1;
    v->loop = uv_default_loop();
    cg_auth_init(&v->auth, v->cfg.api_keys, v->cfg.api_key_count);
    char detail[512];
    if (v->cfg.api_keys_file[0] &&
        cg_keys_watch_start(&v->keys, v->loop, v->cfg.api_keys_file, &v->auth.named, detail,
                            sizeof(detail)) != 0) {
        snprintf(err, size, "PROXY_API_KEYS_FILE: %s", detail);
        return -1;
    }
    /* No per-key limits here (the gateway spends those), only the failed-auth slowdown. */
    cg_ratelimit_init(&v->ratelimit, false, NULL, (uint64_t)v->cfg.auth_failures_max, NULL);
    init_router(v);
    return 0;
}

int cg_forward_auth_main(void)
{
    static struct verifier v; /* static: handles must outlive every callback */
    char err[1024];
    if (cg_config_load(&v.cfg, NULL, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "codex-gateway forward-auth: %s\n", err);
        return EXIT_CONFIG;
    }
    enum cg_log_level level = CG_LOG_INFO;
    cg_log_parse_level(v.cfg.log_level, &level);
    cg_log_threshold = level;
    if (start(&v, err, sizeof(err)) != 0) {
        fprintf(stderr, "codex-gateway forward-auth: %s\n", err);
        cg_config_dispose(&v.cfg);
        return EXIT_CONFIG;
    }
    signal(SIGPIPE, SIG_IGN);
    cg_listener_raise_fd_limit((size_t)v.cfg.max_connections + 64);
    struct cg_server_config sc =
        cg_listener_config(&v.cfg, v.cfg.forward_auth_host, v.cfg.forward_auth_port);
    int rc = cg_server_start(&v.server, v.loop, &sc, &v.router);
    if (rc != 0)
        return 1; /* logged by the server: the address is taken or not ours */
    uv_signal_init(v.loop, &v.sigterm);
    uv_signal_init(v.loop, &v.sigint);
    v.sigterm.data = &v;
    v.sigint.data = &v;
    uv_signal_start(&v.sigterm, on_signal, SIGTERM);
    uv_signal_start(&v.sigint, on_signal, SIGINT);
    struct cg_buf fields;
    cg_buf_init(&fields, 512);
    if (cg_buf_appendf(&fields,
                       "\"role\":\"forward-auth\",\"version\":\"%s\",\"host\":", CG_VERSION) == 0 &&
        cg_json_cstring(&fields, v.cfg.forward_auth_host) == 0 &&
        cg_buf_appendf(&fields, ",\"port\":%d,\"path\":", v.server.bound_port) == 0 &&
        cg_json_cstring(&fields, v.cfg.forward_auth_path) == 0)
        cg_log_event(CG_LOG_NOTICE, LOG_COMPONENT, "listening", fields.data);
    cg_buf_dispose(&fields);

    uv_run(v.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(v.loop);
    if (rc != 0)
        cg_log_warn("event loop closed with handles open: %s", uv_strerror(rc));
    cg_ratelimit_dispose(&v.ratelimit);
    cg_config_dispose(&v.cfg);
    return 0;
}
