/* config.h: every setting, read from the environment once at start, range-checked, and printed
 * by `codex-gateway check-config`. This table is the only list of settings: the struct, the
 * parser, the printed config and the README's table all come from it. */
#ifndef CG_CONFIG_H
#define CG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/limits.h"
#include "util/buf.h"
#include "util/common.h"

/* X(ENV_NAME, field, kind, default, min, max, help)
 * kinds: INT (min..max), BOOL, STR, SECRET (a string never printed), LEVEL (log level),
 * SANDBOX (a Codex sandbox mode), BACKEND (a backend name). Empty paths are derived after
 * loading (see config.c). */
#define CG_CONFIG_MAP(X)                                                                           \
    X(PORT, port, INT, "11435", 0, 65535, "TCP port to listen on (0 picks a free port)")           \
    X(PROXY_HOST, host, STR, "127.0.0.1", 0, 0, "address to bind (IPv4 or IPv6)")                  \
    X(PROXY_FORWARD_AUTH_HOST, forward_auth_host, STR, "127.0.0.1", 0, 0,                         \
      "address the forward-auth verifier binds (IPv4 or IPv6)")                                    \
    X(PROXY_FORWARD_AUTH_PORT, forward_auth_port, INT, "11436", 0, 65535,                          \
      "TCP port of the forward-auth verifier (0 picks a free port)")                               \
    X(PROXY_FORWARD_AUTH_PATH, forward_auth_path, STR, "/verify", 0, 0,                            \
      "path the forward-auth verifier answers (any method): 200 + X-Auth-User, or 401")            \
    X(PROXY_API_KEY, api_key, SECRET, "", 0, 0,                                                    \
      "client keys, comma-separated; empty = serve loopback clients only")                         \
    X(PROXY_API_KEYS_FILE, api_keys_file, STR, "", 0, 0,                                           \
      "named keys file (label sha256:<hex> [rpm=N] [tpm=N] [concurrent=N] [models=a,b] "           \
      "[admin]); "                                                                                 \
      "reloaded on SIGHUP and on change")                                                          \
    X(PROXY_PROTECT_MODELS, protect_models, BOOL, "false", 0, 0,                                   \
      "require a key for /v1/models too")                                                          \
    X(PROXY_RATE_LIMIT_ENABLED, rate_limit_enabled, BOOL, "false", 0, 0,                           \
      "per-key request limits (429 rate_limit_exceeded past them)")                                \
    X(PROXY_RATE_LIMIT_WINDOW_MS, rate_limit_window_ms, INT, "60000", 1, 86400000,                 \
      "the window of PROXY_RATE_LIMIT_MAX: a key's bucket refills MAX requests per window")        \
    X(PROXY_RATE_LIMIT_MAX, rate_limit_max, INT, "60", 1, 1000000,                                 \
      "requests per key per window (a bucket of this size)")                                       \
    X(PROXY_RATE_LIMIT_CONCURRENT, rate_limit_concurrent, INT, "0", 0, 1000000,                    \
      "requests in flight per key when limits are on; 0 = no cap")                                 \
    X(PROXY_RATE_LIMIT_TPM, rate_limit_tpm, INT, "0", 0, 1000000000,                               \
      "tokens per key per minute when limits are on, charged with each request's real usage; "     \
      "0 = no budget")                                                                             \
    X(PROXY_AUTH_FAILURES_MAX, auth_failures_max, INT, "20", 0, 1000000,                           \
      "wrong keys per client address per minute before it gets 429 for the minute; 0 = no cap")    \
    X(PROXY_ENABLE_METRICS, enable_metrics, BOOL, "true", 0, 0,                                    \
      "serve GET /metrics (Prometheus text format); false = 404")                                  \
    X(PROXY_METRICS_TOKEN, metrics_token, SECRET, "", 0, 0,                                        \
      "bearer token for /metrics from non-loopback clients; empty = loopback clients only")        \
    X(PROXY_ENABLE_CORS, enable_cors, BOOL, "false", 0, 0, "answer browser CORS requests")         \
    X(PROXY_CORS_ALLOWED_ORIGINS, cors_allowed_origins, STR, "*", 0, 0,                            \
      "allowed origins, comma-separated; * = any; https://*.example.com and :* ports allowed")     \
    X(CODEX_MODEL, codex_model, STR, "gpt-5.5", 0, 0,                                              \
      "default Codex model; also the target of the codex-5* aliases")                              \
    X(PROXY_MAX_BODY_BYTES, max_body_bytes, INT, "16777216", 1024, 268435456,                      \
      "largest request body (413 above)")                                                          \
    X(PROXY_MAX_HEADER_BYTES, max_header_bytes, INT, "32768", 1024, 1048576,                       \
      "largest request head: request line and headers (431 above)")                                \
    X(PROXY_MAX_HEADERS, max_headers, INT, "100", 8, 1000, "most request headers (431 above)")     \
    X(PROXY_MAX_URL_BYTES, max_url_bytes, INT, "8192", 256, 65536,                                 \
      "longest request target (414 above)")                                                        \
    X(PROXY_CLIENT_BUFFER_MAX_BYTES, client_buffer_max_bytes, INT, "268435456", 1048576,           \
      CG_CLIENT_BUFFER_CEILING_BYTES,                                                              \
      "request bodies and unsent responses held for all clients together (503 / close above)")     \
    X(PROXY_HEADER_TIMEOUT_MS, header_timeout_ms, INT, "10000", 100, 600000,                       \
      "time to receive a request's headers, and the longest pause inside a body (408)")            \
    X(PROXY_BODY_TIMEOUT_MS, body_timeout_ms, INT, "120000", 100, 3600000,                         \
      "time to receive a whole request, head and body, however steadily it trickles in (408)")    \
    X(PROXY_KEEPALIVE_TIMEOUT_MS, keepalive_timeout_ms, INT, "5000", 0, 3600000,                   \
      "idle keep-alive connections close after this; 0 = one request per connection")              \
    X(PROXY_MAX_CONNECTIONS, max_connections, INT, "4096", 1, 1000000,                             \
      "open client connections; more get 503 and are closed")                                      \
    X(PROXY_SHUTDOWN_GRACE_MS, shutdown_grace_ms, INT, "10000", 0, 600000,                         \
      "on SIGTERM, how long in-flight responses may finish")                                       \
    X(PROXY_LOG_LEVEL, log_level, LEVEL, "info", 0, 0, "error, warn, info or debug")               \
    X(CODEX_BIN, codex_bin, STR, "codex", 0, 0,                                                    \
      "the Codex CLI: a name on PATH or a path (relative to the gateway's directory), or a .js "   \
      "launcher (run with node); checked at start")                                                \
    X(PROXY_STATE_DIR, state_dir, STR, "", 0, 0,                                                   \
      "the gateway's own files: the model catalog for Codex and gateway.db (stored responses, "    \
      "the "                                                                                       \
      "usage ledger); empty = $HOME/.codex-gateway")                                               \
    X(PROXY_RESPONSES_MAX_AGE, responses_max_age, INT, "2592000", 0, 315360000,                    \
      "seconds a stored response is kept (30 days, as OpenAI); 0 = no age limit")                  \
    X(PROXY_RESPONSES_MAX_BYTES, responses_max_bytes, INT, "1073741824", 0, 1099511627776,         \
      "bytes of stored responses kept; past it the oldest are deleted first; 0 = no size limit")   \
    X(PROXY_USAGE_LEDGER, usage_ledger, BOOL, "true", 0, 0,                                        \
      "record one usage row per model request in gateway.db; false = /v1/usage answers 404")      \
    X(PROXY_USAGE_MAX_AGE, usage_max_age, INT, "7776000", 0, 315360000,                            \
      "seconds a usage ledger row is kept (90 days); 0 = kept for ever")                           \
    X(PROXY_ADMIN_KEYS, admin_keys, SECRET, "", 0, 0,                                              \
      "comma list of keys (also in PROXY_API_KEY) whose /v1/usage shows every key; with no "       \
      "PROXY_API_KEY every loopback client is admin")                                              \
    X(CODEX_HOME, codex_home, STR, "", 0, 0,                                                       \
      "Codex's home for the workers (auth.json lives here); empty = PROXY_STATE_DIR/codex-home")   \
    X(PROXY_STRICT_HOME, strict_home, BOOL, "false", 0, 0,                                         \
      "refuse to start when CODEX_HOME or its auth.json is open to others (else a warning)")       \
    X(PROXY_EDGE_URL, edge_url, STR, "", 0, 0,                                                    \
      "the edge proxy in front of the gateway (http://host:port/path), for `doctor` only; "        \
      "empty = not checked")                                                                       \
    X(PROXY_CODEX_WORKDIR, codex_workdir, STR, "", 0, 0,                                           \
      "working directory of the workers, created if missing; empty = PROXY_STATE_DIR/work")        \
    X(PROXY_AGENT_MODE, agent_mode, BOOL, "false", 0, 0,                                           \
      "keep Codex's own tools (shell, patches, web search) inside the sandbox")                    \
    X(PROXY_SANDBOX_MODE, sandbox_mode, SANDBOX, "read-only", 0, 0,                                \
      "Codex sandbox: read-only, workspace-write or danger-full-access")                           \
    X(CODEX_FORCE_PROVIDER, force_provider, STR, "", 0, 0,                                         \
      "model provider id for the workers (model_provider); empty = Codex's configured one")        \
    X(PROXY_BACKEND, backend, BACKEND, "app-server", 0, 0,                                         \
      "what runs a request: app-server (supervised workers), exec (one `codex exec --json` per "   \
      "request) or proto (one `codex proto` per request, for CLIs that still have it)")            \
    X(PROXY_USE_APP_SERVER, use_app_server, BOOL, "true", 0, 0,                                    \
      "the older switch: false means PROXY_BACKEND=exec (unset PROXY_BACKEND only)")               \
    X(PROXY_MAX_CONCURRENT_PROCESSES, max_concurrent_processes, INT, "4", 1, 4096,                 \
      "Codex processes the exec and proto backends run at once; more requests wait in the queue "  \
      "(PROXY_QUEUE_MAX, PROXY_QUEUE_TIMEOUT_MS)")                                                 \
    X(WORKER_COUNT, worker_count, INT, "1", 1, 64, "app-server worker processes")                  \
    X(WORKER_MAX_CONCURRENCY, worker_max_concurrency, INT, "8", 1, 10000,                          \
      "turns one worker runs at once")                                                             \
    X(PROXY_QUEUE_MAX, queue_max, INT, "64", 0, 100000,                                            \
      "turns waiting for a free worker; more get 429")                                             \
    X(PROXY_QUEUE_TIMEOUT_MS, queue_timeout_ms, INT, "30000", 1, 3600000,                          \
      "longest wait in that queue before 429")                                                     \
    X(WORKER_HANDSHAKE_TIMEOUT_MS, worker_handshake_timeout_ms, INT, "15000", 100, 600000,         \
      "time for a new worker's initialize handshake")                                              \
    X(WORKER_REQUEST_TIMEOUT_MS, worker_request_timeout_ms, INT, "30000", 100, 600000,             \
      "time for a worker to answer one JSON-RPC call")                                             \
    X(WORKER_BACKOFF_INITIAL_MS, worker_backoff_initial_ms, INT, "500", 1, 600000,                 \
      "first restart delay after a worker fails; doubles per failure")                             \
    X(WORKER_BACKOFF_MAX_MS, worker_backoff_max_ms, INT, "5000", 1, 3600000,                       \
      "longest restart delay")                                                                     \
    X(WORKER_RESTART_MAX, worker_restart_max, INT, "25", 0, 1000000,                               \
      "consecutive failures before a worker is given up (then /livez fails)")                      \
    X(WORKER_STABLE_MS, worker_stable_ms, INT, "30000", 1, 3600000,                                \
      "a worker ready this long starts counting failures from zero again")                         \
    X(WORKER_SHUTDOWN_GRACE_MS, worker_shutdown_grace_ms, INT, "5000", 0, 600000,                  \
      "on stop, SIGTERM to SIGKILL delay for workers")                                             \
    X(WORKER_PING_INTERVAL_MS, worker_ping_interval_ms, INT, "10000", 0, 3600000,                  \
      "a worker that answered no liveness ping for this long gets one; 0 = never")              \
    X(WORKER_PING_TIMEOUT_MS, worker_ping_timeout_ms, INT, "10000", 100, 600000,                   \
      "a worker that misses a ping this long is unhealthy: no new turns")                          \
    X(WORKER_UNHEALTHY_GRACE_MS, worker_unhealthy_grace_ms, INT, "20000", 100, 3600000,            \
      "an unhealthy worker still silent this long is killed and restarted")                        \
    X(WORKER_MAX_LINE_BYTES, worker_max_line_bytes, INT, "16777216", 4096, 1073741824,             \
      "longest JSON-RPC line accepted from a worker")                                              \
    X(PROXY_CODEX_LOG_MAX_BYTES, codex_log_max_bytes, INT, "67108864", 0, 68719476736,             \
      "Codex's own log database in CODEX_HOME is trimmed above this; 0 = never")                   \
    X(PROXY_CODEX_HOME_CHECK_MS, codex_home_check_ms, INT, "300000", 100, 86400000,                \
      "how often CODEX_HOME is measured (and its log trimmed)")                                    \
    X(PROXY_UPSTREAM_RETRY_AFTER_S, upstream_retry_after_s, INT, "30", 1, 86400,                   \
      "Retry-After of an upstream 429 when Codex reported no rate-limit reset time")               \
    X(PROXY_TIMEOUT_MS, timeout_ms, INT, "300000", 100, 86400000,                                  \
      "a model request ends with 504 (or an in-band error) after this long")                       \
    X(PROXY_SSE_KEEPALIVE_MS, sse_keepalive_ms, INT, "15000", 0, 3600000,                          \
      "SSE keepalive comment interval, from the start of a stream; 0 = none")                      \
    X(PROXY_STREAM_QUEUE_MAX_BYTES, stream_queue_max_bytes, INT, "4194304", 65536, 1073741824,     \
      "bytes a stream may have unsent to a slow client before it is cut off")                      \
    X(PROXY_MAX_CHAT_CHOICES, max_chat_choices, INT, "5", 1, CG_CHOICES_MAX, "largest n")          \
    X(PROXY_EXPOSE_REASONING, expose_reasoning, BOOL, "false", 0, 0,                               \
      "send reasoning summaries as reasoning_content")                                             \
    X(PROXY_IGNORE_CLIENT_SYSTEM_PROMPT, ignore_client_system_prompt, BOOL, "false", 0, 0,         \
      "drop client system/developer messages (for upstreams that reject foreign instructions)")

#define CG_CFG_TYPE_INT     int64_t
#define CG_CFG_TYPE_BOOL    bool
#define CG_CFG_TYPE_STR     const char *
#define CG_CFG_TYPE_SECRET  const char *
#define CG_CFG_TYPE_LEVEL   const char *
#define CG_CFG_TYPE_SANDBOX const char *
#define CG_CFG_TYPE_BACKEND const char *

/* What runs a request (PROXY_BACKEND). */
enum cg_backend_kind {
    CG_BACKEND_APP_SERVER, /* supervised `codex app-server` workers */
    CG_BACKEND_EXEC,       /* one `codex exec --json` process per choice */
    CG_BACKEND_PROTO,      /* one `codex proto` process per choice */
};

struct cg_config {
#define CG_CFG_FIELD(env, field, kind, def, min, max, help) CG_CFG_TYPE_##kind field;
    CG_CONFIG_MAP(CG_CFG_FIELD)
#undef CG_CFG_FIELD

    /* Derived from the settings above. */
    char **api_keys; /* PROXY_API_KEY split on commas, trimmed, empties dropped */
    size_t api_key_count;
    char **admin_key_list; /* PROXY_ADMIN_KEYS, split the same way */
    size_t admin_key_count;
    enum cg_backend_kind backend_kind;
    const char *backend_reason; /* static: why this backend ("default", "PROXY_BACKEND", ...) */
    bool sources_env[96]; /* per table row: the value came from the environment */
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

/* "app-server", "exec" or "proto". */
const char *cg_config_backend_name(enum cg_backend_kind kind);

/* The settings table in Markdown, for the README. */
int cg_config_markdown(struct cg_buf *out) CG_MUST_CHECK;

#endif
