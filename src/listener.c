/* listener.c: server settings from the configuration (see listener.h). */
#include "listener.h"
#include <sys/resource.h>
#include "util/log.h"
#define LOG_COMPONENT "main"

struct cg_server_config cg_listener_config(const struct cg_config *cfg, const char *host,
                                           int64_t port)
{
    return (struct cg_server_config){
        .host = host,
        .port = (int)port,
        .limits =
            {
                .max_url_bytes = (size_t)cfg->max_url_bytes,
                .max_header_bytes = (size_t)cfg->max_header_bytes,
                .max_headers = (size_t)cfg->max_headers,
                .max_body_bytes = (size_t)cfg->max_body_bytes,
            },
        .header_timeout_ms = (uint64_t)cfg->header_timeout_ms,
        .body_timeout_ms = (uint64_t)cfg->body_timeout_ms,
        .keepalive_timeout_ms = (uint64_t)cfg->keepalive_timeout_ms,
        .shutdown_grace_ms = (uint64_t)cfg->shutdown_grace_ms,
        .max_connections = (size_t)cfg->max_connections,
        .client_buffer_max_bytes = (size_t)cfg->client_buffer_max_bytes,
    };
}

void cg_listener_raise_fd_limit(size_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        cg_log_warn("open file limit %llu is below PROXY_MAX_CONNECTIONS + reserve (%zu)",
                    (unsigned long long)rl.rlim_cur, want);
}
