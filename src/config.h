/* config.h: every setting, read from the environment once at start, range-checked, and printed
 * by `codex-gateway check-config`. This table is the only list of settings: the struct, the
 * parser, the printed config and the README's table all come from it. */
#ifndef CG_CONFIG_H
#define CG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"
#include "util/common.h"

/* X(ENV_NAME, field, kind, default, min, max, help)
 * kinds: INT (min..max), BOOL, STR, SECRET (a string never printed), LEVEL (log level). */
#define CG_CONFIG_MAP(X)                                                                           \
    X(PORT, port, INT, "11435", 0, 65535, "TCP port to listen on (0 picks a free port)")           \
    X(PROXY_HOST, host, STR, "127.0.0.1", 0, 0, "address to bind (IPv4 or IPv6)")                  \
    X(PROXY_API_KEY, api_key, SECRET, "", 0, 0,                                                    \
      "client keys, comma-separated; empty = serve loopback clients only")                         \
    X(PROXY_PROTECT_MODELS, protect_models, BOOL, "false", 0, 0,                                   \
      "require a key for /v1/models too")                                                          \
    X(PROXY_ENABLE_CORS, enable_cors, BOOL, "false", 0, 0, "answer browser CORS requests")         \
    X(PROXY_CORS_ALLOWED_ORIGINS, cors_allowed_origins, STR, "*", 0, 0,                            \
      "allowed origins, comma-separated; * = any; https://*.example.com and :* ports allowed")    \
    X(CODEX_MODEL, codex_model, STR, "gpt-5.5", 0, 0,                                              \
      "default Codex model; also the target of the codex-5* aliases")                              \
    X(PROXY_MAX_BODY_BYTES, max_body_bytes, INT, "16777216", 1024, 268435456,                      \
      "largest request body (413 above)")                                                          \
    X(PROXY_MAX_HEADER_BYTES, max_header_bytes, INT, "32768", 1024, 1048576,                       \
      "largest request head: request line and headers (431 above)")                                \
    X(PROXY_MAX_HEADERS, max_headers, INT, "100", 8, 1000, "most request headers (431 above)")     \
    X(PROXY_MAX_URL_BYTES, max_url_bytes, INT, "8192", 256, 65536,                                 \
      "longest request target (414 above)")                                                        \
    X(PROXY_HEADER_TIMEOUT_MS, header_timeout_ms, INT, "10000", 100, 600000,                       \
      "time to receive a request's headers, and the longest pause inside a body (408)")            \
    X(PROXY_KEEPALIVE_TIMEOUT_MS, keepalive_timeout_ms, INT, "5000", 0, 3600000,                   \
      "idle keep-alive connections close after this; 0 = one request per connection")             \
    X(PROXY_MAX_CONNECTIONS, max_connections, INT, "4096", 1, 1000000,                             \
      "open client connections; more get 503 and are closed")                                      \
    X(PROXY_SHUTDOWN_GRACE_MS, shutdown_grace_ms, INT, "10000", 0, 600000,                         \
      "on SIGTERM, how long in-flight responses may finish")                                       \
    X(PROXY_LOG_LEVEL, log_level, LEVEL, "info", 0, 0, "error, warn, info or debug")

#define CG_CFG_TYPE_INT    int64_t
#define CG_CFG_TYPE_BOOL   bool
#define CG_CFG_TYPE_STR    const char *
#define CG_CFG_TYPE_SECRET const char *
#define CG_CFG_TYPE_LEVEL  const char *

struct cg_config {
#define CG_CFG_FIELD(env, field, kind, def, min, max, help) CG_CFG_TYPE_##kind field;
    CG_CONFIG_MAP(CG_CFG_FIELD)
#undef CG_CFG_FIELD

    /* Derived from the settings above. */
    char **api_keys; /* PROXY_API_KEY split on commas, trimmed, empties dropped */
    size_t api_key_count;
    bool sources_env[64]; /* per table row: the value came from the environment */
};

/* Looks a variable up; returns NULL when unset. */
typedef const char *(*cg_config_getenv_fn)(const char *name, void *ctx);

/* Fills `cfg` from `get` (NULL = getenv). On a bad value returns -1 with one line in `errbuf`
 * naming the variable, e.g. "PORT: expected an integer in 0..65535, got \"x\"". */
int cg_config_load(struct cg_config *cfg, cg_config_getenv_fn get, void *ctx, char *errbuf,
                   size_t errlen) CG_MUST_CHECK;
void cg_config_dispose(struct cg_config *cfg);

/* One "NAME=value" line per setting, secrets masked, with "(default)" for unset ones. */
int cg_config_print(const struct cg_config *cfg, struct cg_buf *out) CG_MUST_CHECK;

/* The effective config as a JSON object fragment for the start log line (secrets masked). */
int cg_config_to_json(const struct cg_config *cfg, struct cg_buf *out) CG_MUST_CHECK;

/* The settings table in Markdown, for the README. */
int cg_config_markdown(struct cg_buf *out) CG_MUST_CHECK;

#endif
