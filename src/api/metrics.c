/* metrics.c: the Prometheus exposition and the outcome counters behind it (see metrics.h). */
#include "api/metrics.h"
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include "backend/pool.h"
#include "backend/procs.h"
#include "http/server.h"
#include "store/ledger.h"
#include "util/clock.h"
#include "util/str.h"

/* Large enough for 64 workers in every state and every bounded series at once. */
enum { METRICS_BODY_MAX_BYTES = 4 * 1024 * 1024, LABELS_MAX = 4, VALUE_BYTES = 32 };
/* /proc/self/fd is read at most this far: a process at its fd limit still answers. */
enum { FD_COUNT_MAX = 1 << 20 };

static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";
static const char *const class_names[CG_METRICS_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const method_names[CG_METRICS_METHODS] = {"GET", "HEAD",   "POST",  "OPTIONS",
                                                             "PUT", "DELETE", "PATCH", "OTHER"};
static const char *const kind_names[CG_METRICS_TOKEN_KINDS] = {"input", "cached", "output",
                                                               "reasoning"};

struct label {
    const char *name;
    const char *value;
};

/* The slot of `name` among those seen, adding it while fewer than `max` are; `max` ("other")
 * once the cap is reached. */
static size_t intern(struct cg_metrics_names *names, size_t max, const char *name)
{
    for (size_t i = 0; i < names->count; i++) {
        if (strncmp(names->v[i], name, CG_METRICS_LABEL_BYTES - 1) == 0)
            return i;
    }
    if (names->count >= max)
        return max;
    size_t n = CG_MIN(strlen(name), (size_t)CG_METRICS_LABEL_BYTES - 1);
    memcpy(names->v[names->count], name, n);
    names->v[names->count][n] = '\0';
    return names->count++;
}

static const char *name_at(const struct cg_metrics_names *names, size_t max, size_t i)
{
    return i == max ? "other" : names->v[i];
}

static size_t model_slot(const struct cg_catalog *cat, const char *model)
{
    const struct cg_model *m = model ? cg_catalog_find(cat, model, strlen(model)) : NULL;
    return m ? (size_t)(m - cat->models) : CG_CATALOG_MAX_MODELS;
}

static const char *model_name(const struct cg_catalog *cat, size_t i)
{
    return i < cat->count ? cat->models[i].id : "other";
}

/* "UPSTREAM_RATE_LIMIT" -> "upstream_rate_limit", cut to fit. */
static void lower(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; s[n] && n + 1 < size; n++)
        out[n] = cg_ascii_lower(s[n]);
    out[n] = '\0';
}

static uint64_t tokens(int64_t n)
{
    return n > 0 ? (uint64_t)n : 0;
}

void cg_metrics_init(struct cg_metrics *m, const struct cg_api *api)
{
    memset(m, 0, sizeof(*m));
    m->api = api;
}

static size_t method_slot(enum cg_method method)
{
    unsigned bits = (unsigned)method;
    size_t i = bits ? (size_t)__builtin_ctz(bits) : CG_METRICS_METHODS - 1;
    return CG_MIN(i, (size_t)CG_METRICS_METHODS - 1);
}

void cg_metrics_request_done(const struct cg_exchange *ex, void *data)
{
    struct cg_metrics *m = data;
    size_t route = intern(&m->routes, CG_METRICS_ROUTES_MAX, ex->route ? ex->route : "unmatched");
    size_t model = ex->model ? model_slot(m->api->catalog, ex->model) : CG_METRICS_NO_MODEL;
    /* A status outside 100..599 (none sent) counts with the client errors, as 499 does. */
    int cls = ex->status >= 100 && ex->status < 600 ? ex->status / 100 - 1 : 3;
    m->requests[route][method_slot(ex->method)][cls][model]++;
}

void cg_metrics_outcome(const struct cg_run_outcome *o, void *data)
{
    struct cg_metrics *m = data;
    size_t route = intern(&m->routes, CG_METRICS_ROUTES_MAX, o->route ? o->route : "other");
    size_t key = intern(&m->keys, CG_METRICS_KEYS_MAX, o->key_label ? o->key_label : "none");
    size_t model = model_slot(m->api->catalog, o->model);
    if (o->stream)
        m->streams[route][cg_run_outcome_end(o)]++;
    if (o->error != CG_OK && (size_t)o->error < CG_ERR__COUNT)
        m->errors[route][o->error]++;
    uint64_t *t = m->tokens[model][key];
    t[0] += tokens(o->usage.input);
    t[1] += tokens(o->usage.cached);
    t[2] += tokens(o->usage.output);
    t[3] += tokens(o->usage.reasoning);
    cg_histogram_observe_us(&m->latency[route], o->latency_ms * 1000);
    if (o->stream)
        cg_histogram_observe_us(&m->stream_duration[route], o->latency_ms * 1000);
    if (o->ttfb_ms >= 0)
        cg_histogram_observe_us(&m->ttfb[route], (uint64_t)o->ttfb_ms * 1000);
}

int cg_metrics_label_value(struct cg_buf *out, const char *s)
{
    int err = cg_buf_append_char(out, '"');
    for (const char *p = s; *p && !err; p++) {
        if (*p == '\\')
            err = cg_buf_append_str(out, "\\\\");
        else if (*p == '"')
            err = cg_buf_append_str(out, "\\\"");
        else if (*p == '\n')
            err = cg_buf_append_str(out, "\\n");
        else
            err = cg_buf_append_char(out, *p);
    }
    if (!err)
        err = cg_buf_append_char(out, '"');
    return err;
}

static int family(struct cg_buf *b, const char *name, const char *type, const char *help)
{
    return cg_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{l1="v1",...} value */
static int sample(struct cg_buf *b, const char *name, const struct label *l, size_t n,
                  const char *value)
{
    int err = cg_buf_append_str(b, name);
    for (size_t i = 0; i < n && !err; i++) {
        err = cg_buf_appendf(b, "%c%s=", i ? ',' : '{', l[i].name);
        if (!err)
            err = cg_metrics_label_value(b, l[i].value);
    }
    if (!err && n > 0)
        err = cg_buf_append_char(b, '}');
    if (!err)
        err = cg_buf_appendf(b, " %s\n", value);
    return err;
}

static int sample_u64(struct cg_buf *b, const char *name, const struct label *l, size_t n,
                      uint64_t v)
{
    char value[VALUE_BYTES];
    snprintf(value, sizeof(value), "%" PRIu64, v);
    return sample(b, name, l, n, value);
}

static int sample_i64(struct cg_buf *b, const char *name, const struct label *l, size_t n,
                      int64_t v)
{
    char value[VALUE_BYTES];
    snprintf(value, sizeof(value), "%" PRId64, v);
    return sample(b, name, l, n, value);
}

/* name_bucket{labels,le=...} (cumulative), name_sum, name_count; `l` has room for `le`. */
static int histogram(struct cg_buf *b, const char *name, struct label *l, size_t n,
                     const struct cg_histogram *h)
{
    char series[128];
    char le[VALUE_BYTES];
    char value[VALUE_BYTES];
    snprintf(series, sizeof(series), "%s_bucket", name);
    int err = 0;
    for (size_t i = 0; i <= CG_HISTOGRAM_BUCKETS && !err; i++) {
        if (i < CG_HISTOGRAM_BUCKETS)
            snprintf(le, sizeof(le), "%g", (double)cg_histogram_bounds_us[i] / 1e6);
        else
            snprintf(le, sizeof(le), "+Inf");
        l[n] = (struct label){"le", le};
        err = sample_u64(b, series, l, n + 1, cg_histogram_cumulative(h, i));
    }
    snprintf(series, sizeof(series), "%s_sum", name);
    snprintf(value, sizeof(value), "%" PRIu64 ".%06" PRIu64, h->sum_us / 1000000,
             h->sum_us % 1000000);
    if (!err)
        err = sample(b, series, l, n, value);
    snprintf(series, sizeof(series), "%s_count", name);
    if (!err)
        err = sample_u64(b, series, l, n, h->count);
    return err;
}

static int render_requests(const struct cg_metrics *m, struct cg_buf *b)
{
    const struct cg_catalog *cat = m->api->catalog;
    const char *name = "codex_gateway_requests_total";
    int err = family(b, name, "counter",
                     "Requests answered, by route, method, HTTP status class and model.");
    for (size_t r = 0; r <= CG_METRICS_ROUTES_MAX && !err; r++) {
        for (size_t me = 0; me < CG_METRICS_METHODS && !err; me++) {
            for (size_t c = 0; c < CG_METRICS_CLASSES && !err; c++) {
                for (size_t md = 0; md <= CG_METRICS_MODELS && !err; md++) {
                    uint64_t n = m->requests[r][me][c][md];
                    if (n == 0)
                        continue;
                    struct label l[] = {
                        {"route", name_at(&m->routes, CG_METRICS_ROUTES_MAX, r)},
                        {"method", method_names[me]},
                        {"status_class", class_names[c]},
                        {"model", md == CG_METRICS_NO_MODEL ? "none" : model_name(cat, md)}};
                    err = sample_u64(b, name, l, CG_ARRAY_SIZE(l), n);
                }
            }
        }
    }
    name = "codex_gateway_stream_outcomes_total";
    if (!err)
        err = family(b, name, "counter", "Streamed model requests, by route and how they ended.");
    for (size_t r = 0; r <= CG_METRICS_ROUTES_MAX && !err; r++) {
        for (size_t o = 0; o < CG_METRICS_OUTCOMES && !err; o++) {
            if (m->streams[r][o] == 0)
                continue;
            struct label l[] = {{"route", name_at(&m->routes, CG_METRICS_ROUTES_MAX, r)},
                                {"outcome", cg_run_end_name((enum cg_run_end)o)}};
            err = sample_u64(b, name, l, CG_ARRAY_SIZE(l), m->streams[r][o]);
        }
    }
    name = "codex_gateway_request_errors_total";
    if (!err)
        err = family(b, name, "counter",
                     "Model requests that ended with an error (in-band once streaming), by "
                     "route and error.");
    for (size_t r = 0; r <= CG_METRICS_ROUTES_MAX && !err; r++) {
        for (size_t e = 0; e < CG_ERR__COUNT && !err; e++) {
            if (m->errors[r][e] == 0)
                continue;
            char error[CG_METRICS_LABEL_BYTES];
            lower(cg_err_name((enum cg_err)e), error, sizeof(error));
            struct label l[] = {{"route", name_at(&m->routes, CG_METRICS_ROUTES_MAX, r)},
                                {"error", error}};
            err = sample_u64(b, name, l, CG_ARRAY_SIZE(l), m->errors[r][e]);
        }
    }
    return err;
}

static int render_histograms(const struct cg_metrics *m, struct cg_buf *b)
{
    const struct {
        const char *name;
        const char *help;
        const struct cg_histogram *by_route;
    } families[] = {
        {"codex_gateway_request_duration_seconds",
         "Model requests from arrival to the end of the response, by route.", m->latency},
        {"codex_gateway_time_to_first_token_seconds",
         "Model requests from arrival to the first model output, by route.", m->ttfb},
        {"codex_gateway_stream_duration_seconds",
         "Streamed model requests from arrival to the end of the stream, by route.",
         m->stream_duration},
    };
    int err = 0;
    for (size_t f = 0; f < CG_ARRAY_SIZE(families) && !err; f++) {
        const struct cg_histogram *hs = families[f].by_route;
        err = family(b, families[f].name, "histogram", families[f].help);
        for (size_t r = 0; r <= CG_METRICS_ROUTES_MAX && !err; r++) {
            if (hs[r].count == 0)
                continue;
            struct label l[LABELS_MAX] = {{"route", name_at(&m->routes, CG_METRICS_ROUTES_MAX, r)}};
            err = histogram(b, families[f].name, l, 1, &hs[r]);
        }
    }
    return err;
}

static int render_tokens(const struct cg_metrics *m, struct cg_buf *b)
{
    const char *name = "codex_gateway_tokens_total";
    int err = family(b, name, "counter",
                     "Tokens Codex reported, by model, key label and kind (cached is part of "
                     "input, reasoning part of output).");
    for (size_t md = 0; md < CG_METRICS_MODELS && !err; md++) {
        for (size_t k = 0; k <= CG_METRICS_KEYS_MAX && !err; k++) {
            for (size_t t = 0; t < CG_METRICS_TOKEN_KINDS && !err; t++) {
                if (m->tokens[md][k][t] == 0)
                    continue;
                struct label l[] = {{"model", model_name(m->api->catalog, md)},
                                    {"key", name_at(&m->keys, CG_METRICS_KEYS_MAX, k)},
                                    {"kind", kind_names[t]}};
                err = sample_u64(b, name, l, CG_ARRAY_SIZE(l), m->tokens[md][k][t]);
            }
        }
    }
    return err;
}

/* One unlabelled sample in its own family. */
static int single(struct cg_buf *b, const char *name, const char *type, const char *help,
                  uint64_t v)
{
    int err = family(b, name, type, help);
    if (!err)
        err = sample_u64(b, name, NULL, 0, v);
    return err;
}

/* One unlabelled sample per family. */
struct scalar {
    const char *name;
    const char *type;
    const char *help;
    uint64_t value;
};

static int scalars(struct cg_buf *b, const struct scalar *s, size_t n)
{
    int err = 0;
    for (size_t i = 0; i < n && !err; i++)
        err = single(b, s[i].name, s[i].type, s[i].help, s[i].value);
    return err;
}

static int render_server(const struct cg_server *s, struct cg_buf *b)
{
    const struct scalar list[] = {
        {"codex_gateway_http_connections", "gauge", "Open client connections.",
         cg_server_connections(s)},
        {"codex_gateway_http_connections_total", "counter", "Client connections accepted.",
         s->stats.connections_total},
        {"codex_gateway_http_connections_rejected_total", "counter",
         "Client connections refused over PROXY_MAX_CONNECTIONS.", s->stats.connections_rejected},
        {"codex_gateway_http_requests_total", "counter", "HTTP requests received, on every route.",
         s->stats.requests_total},
        {"codex_gateway_http_timeouts_total", "counter",
         "Connections closed by the header or body timeout.", s->stats.timeouts_total},
        {"codex_gateway_http_bad_requests_total", "counter", "Requests refused as malformed.",
         s->stats.bad_requests_total},
    };
    return scalars(b, list, CG_ARRAY_SIZE(list));
}

/* Requests the per-key limits and the failed-auth slowdown refused, by reason. */
static int render_limits(const struct cg_ratelimit *rl, struct cg_buf *b)
{
    const char *name = "codex_gateway_rate_limit_rejections_total";
    int err = family(b, name, "counter",
                     "Requests refused with 429 by the gateway's own limits, by reason.");
    const struct {
        const char *reason;
        uint64_t n;
    } rows[] = {
        {"requests", rl->refused_rate},
        {"tokens", rl->refused_tokens},
        {"concurrency", rl->refused_concurrent},
        {"auth_failures", rl->refused_auth},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(rows) && !err; i++) {
        struct label l[] = {{"reason", rows[i].reason}};
        err = sample_u64(b, name, l, 1, rows[i].n);
    }
    return err;
}

static int render_ledger(const struct cg_ledger *ledger, struct cg_buf *b)
{
    struct cg_ledger_stats st;
    cg_ledger_stats(ledger, &st);
    const struct scalar list[] = {
        {"codex_gateway_ledger_rows_written_total", "counter", "Usage ledger rows committed.",
         st.written},
        {"codex_gateway_ledger_rows_lost_total", "counter",
         "Usage ledger rows dropped: the queue was full or their batch failed.", st.lost},
        {"codex_gateway_ledger_batches_total", "counter", "Usage ledger insert transactions.",
         st.batches},
        {"codex_gateway_ledger_rows_waiting", "gauge", "Usage ledger rows not yet committed.",
         st.waiting},
    };
    int err = scalars(b, list, CG_ARRAY_SIZE(list));
    const char *name = "codex_gateway_ledger_write_seconds";
    if (!err)
        err = family(b, name, "histogram",
                     "Usage ledger batches, from their first row recorded to its commit.");
    struct label l[LABELS_MAX];
    if (!err)
        err = histogram(b, name, l, 0, &st.write_latency);
    return err;
}

/* Which per-worker family render_worker_family writes. */
enum worker_family { WF_STATE, WF_READY, WF_RESTARTS, WF_EXIT_CODE, WF_BACKOFF, WF_ACTIVE };

static int render_worker_family(const struct cg_pool *p, struct cg_buf *b, enum worker_family f)
{
    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } families[] = {
        [WF_STATE] = {"codex_gateway_worker_state", "gauge",
                      "1 for the state each worker is in, 0 for the others."},
        [WF_READY] = {"codex_gateway_worker_ready", "gauge", "1 when the worker takes turns."},
        [WF_RESTARTS] = {"codex_gateway_worker_restarts_total", "counter",
                         "Times the worker process was restarted."},
        [WF_EXIT_CODE] = {"codex_gateway_worker_last_exit_code", "gauge",
                          "Exit code of the worker's last process (-signal when killed); only "
                          "for workers that have exited."},
        [WF_BACKOFF] = {"codex_gateway_worker_backoff_seconds", "gauge",
                        "Seconds until the worker's next restart attempt (0 when it is not "
                        "waiting to restart)."},
        [WF_ACTIVE] = {"codex_gateway_worker_active_turns", "gauge",
                       "Turns running on the worker."},
    };
    const char *name = families[f].name;
    int err = family(b, name, families[f].type, families[f].help);
    for (size_t i = 0; i < p->count && !err; i++) {
        const struct cg_worker *w = &p->workers[i];
        char id[VALUE_BYTES];
        snprintf(id, sizeof(id), "%u", w->id);
        struct label l[] = {{"worker", id}, {"state", NULL}};
        switch (f) {
        case WF_STATE:
            for (int s = CG_WORKER_STOPPED; s <= CG_WORKER_STOPPING && !err; s++) {
                l[1].value = cg_worker_state_name((enum cg_worker_state)s);
                err = sample_u64(b, name, l, 2, w->state == (enum cg_worker_state)s);
            }
            break;
        case WF_READY:
            err = sample_u64(b, name, l, 1, cg_worker_is_ready(w));
            break;
        case WF_RESTARTS:
            err = sample_u64(b, name, l, 1, w->restarts);
            break;
        case WF_EXIT_CODE:
            if (w->last_exit_at_ms != 0)
                err = sample_i64(b, name, l, 1,
                                 w->last_exit_signal ? -(int64_t)w->last_exit_signal
                                                     : w->last_exit_code);
            break;
        case WF_BACKOFF: {
            char v[VALUE_BYTES];
            uint64_t ms = cg_worker_retry_in_ms(w);
            snprintf(v, sizeof(v), "%" PRIu64 ".%03" PRIu64, ms / 1000, ms % 1000);
            err = sample(b, name, l, 1, v);
            break;
        }
        case WF_ACTIVE:
            err = sample_u64(b, name, l, 1, w->active);
            break;
        }
    }
    return err;
}

/* The account's rate-limit windows as the workers last reported them; unknown ones absent. */
static int render_quota(const struct cg_rate_limits *l, struct cg_buf *b)
{
    const char *name = "codex_gateway_account_quota_used_ratio";
    int err = family(b, name, "gauge",
                     "Share of the Codex account's rate-limit window used, as last reported.");
    for (size_t i = 0; i < CG_RATE_LIMITS_WINDOWS && !err; i++) {
        if (!l->window[i].known)
            continue;
        int64_t pct = CG_MAX(l->window[i].used_percent, 0);
        char value[VALUE_BYTES];
        snprintf(value, sizeof(value), "%" PRId64 ".%02" PRId64, pct / 100, pct % 100);
        struct label window[] = {{"window", cg_rate_limits_window_name((int)i)}};
        err = sample(b, name, window, 1, value);
    }
    return err;
}

static int render_pool(const struct cg_pool *p, struct cg_buf *b)
{
    int err = 0;
    for (int f = WF_STATE; f <= WF_ACTIVE && !err; f++)
        err = render_worker_family(p, b, (enum worker_family)f);
    const struct scalar list[] = {
        {"codex_gateway_queue_depth", "gauge", "Turns waiting for a worker.", p->qlen},
        {"codex_gateway_turns_started_total", "counter", "Turns handed to a worker.",
         p->stats.turns_started},
        {"codex_gateway_turns_queued_total", "counter", "Turns that had to wait in the queue.",
         p->stats.turns_queued},
        {"codex_gateway_turns_rejected_total", "counter",
         "Turns refused: no worker ready, or the queue full.", p->stats.turns_rejected},
        {"codex_gateway_queue_timeouts_total", "counter",
         "Turns that waited past PROXY_QUEUE_TIMEOUT_MS.", p->stats.queue_timeouts},
        {"codex_gateway_codex_home_bytes", "gauge", "Size of CODEX_HOME at its last check.",
         p->home.total_bytes},
    };
    if (!err)
        err = scalars(b, list, CG_ARRAY_SIZE(list));
    const char *name = "codex_gateway_queue_wait_seconds";
    if (!err)
        err = family(b, name, "histogram",
                     "Queued turns, from joining the queue to being handed to a worker.");
    struct label l[LABELS_MAX];
    if (!err)
        err = histogram(b, name, l, 0, &p->stats.queue_wait);
    if (!err)
        err = render_quota(&p->limits, b);
    return err;
}

static int render_backend_info(const struct cg_config *cfg, struct cg_buf *b)
{
    struct label kind[] = {
        {"kind", cg_config_backend_name(cfg->backend_kind)},
        {"reason", cfg->backend_reason ? cfg->backend_reason : "default"},
    };
    int err = family(b, "codex_gateway_backend_info", "gauge",
                     "Always 1; which backend runs requests, and what chose it.");
    if (!err)
        err = sample_u64(b, "codex_gateway_backend_info", kind, CG_ARRAY_SIZE(kind), 1);
    return err;
}

static int render_procs(const struct cg_procs *ps, struct cg_buf *b)
{
    const struct scalar list[] = {
        {"codex_gateway_processes_running", "gauge",
         "Codex processes of the exec or proto backend not yet gone.", ps->running},
        {"codex_gateway_processes_max", "gauge", "PROXY_MAX_CONCURRENT_PROCESSES.",
         ps->cfg.max_running},
        {"codex_gateway_queue_depth", "gauge", "Requests waiting for a process slot.", ps->qlen},
        {"codex_gateway_processes_started_total", "counter", "Codex processes started.",
         ps->stats.started},
        {"codex_gateway_processes_failed_total", "counter",
         "Codex processes whose request ended in an error they caused.", ps->stats.exits_failed},
        {"codex_gateway_processes_killed_total", "counter",
         "Codex processes signalled: the request was cancelled, or they outlived it.",
         ps->stats.killed},
        {"codex_gateway_processes_rejected_total", "counter",
         "Requests refused: the queue full, or a process that could not start.",
         ps->stats.rejected},
        {"codex_gateway_queue_timeouts_total", "counter",
         "Requests that waited past PROXY_QUEUE_TIMEOUT_MS.", ps->stats.queue_timeouts},
        {"codex_gateway_codex_home_bytes", "gauge", "Size of CODEX_HOME at its last check.",
         ps->home.total_bytes},
    };
    int err = scalars(b, list, CG_ARRAY_SIZE(list));
    const char *name = "codex_gateway_queue_wait_seconds";
    if (!err)
        err = family(b, name, "histogram",
                     "Queued requests, from joining the queue to their process starting.");
    struct label l[LABELS_MAX];
    if (!err)
        err = histogram(b, name, l, 0, &ps->stats.queue_wait);
    return err;
}

static uint64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    uint64_t n = 0;
    for (size_t i = 0; i < FD_COUNT_MAX; i++) {
        struct dirent *e = readdir(d);
        if (e == NULL)
            break;
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
}

static int render_process(struct cg_buf *b)
{
    size_t rss = 0;
    if (uv_resident_set_memory(&rss) != 0)
        rss = 0;
    uv_rusage_t ru;
    uint64_t cpu_us = 0;
    if (uv_getrusage(&ru) == 0)
        cpu_us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                 (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    int err =
        single(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss);
    if (!err)
        err = single(b, "process_open_fds", "gauge", "Open file descriptors.", open_fds());
    char cpu[VALUE_BYTES];
    snprintf(cpu, sizeof(cpu), "%" PRIu64 ".%06" PRIu64, cpu_us / 1000000, cpu_us % 1000000);
    if (!err)
        err = family(b, "process_cpu_seconds_total", "counter",
                     "User and system CPU time spent, in seconds.");
    if (!err)
        err = sample(b, "process_cpu_seconds_total", NULL, 0, cpu);
    return err;
}

int cg_metrics_render(const struct cg_metrics *m, struct cg_buf *out)
{
    const struct cg_api *api = m->api;
    struct label version[] = {{"version", CG_VERSION}};
    int err = family(out, "codex_gateway_build_info", "gauge", "Always 1; the version as a label.");
    if (!err)
        err = sample_u64(out, "codex_gateway_build_info", version, 1, 1);
    if (!err)
        err = single(out, "codex_gateway_uptime_seconds", "gauge", "Seconds since the start.",
                     (cg_clock_mono_ms() - api->started_ms) / 1000);
    if (!err)
        err = render_requests(m, out);
    if (!err)
        err = render_histograms(m, out);
    if (!err)
        err = render_tokens(m, out);
    if (!err)
        err = single(out, "codex_gateway_streams_active", "gauge",
                     "Streamed model requests in flight.", api->streams_active);
    if (!err && api->server)
        err = render_server(api->server, out);
    if (!err && api->server && api->server->router && api->server->router->ratelimit)
        err = render_limits(api->server->router->ratelimit, out);
    if (!err && api->ledger)
        err = render_ledger(api->ledger, out);
    if (!err && api->cfg)
        err = render_backend_info(api->cfg, out);
    if (!err && api->backend.pool)
        err = render_pool(api->backend.pool, out);
    if (!err && api->backend.procs)
        err = render_procs(api->backend.procs, out);
    if (!err)
        err = render_process(out);
    return err;
}

void cg_metrics_handle(struct cg_exchange *ex, void *ctx)
{
    const struct cg_api *api = ctx;
    const struct cg_metrics *m = api->metrics;
    struct cg_buf b;
    cg_buf_init(&b, METRICS_BODY_MAX_BYTES);
    int err = m ? cg_metrics_render(m, &b) : -1;
    if (err)
        cg_exchange_fail_code(ex, CG_ERR_INTERNAL);
    else
        cg_exchange_send(ex, content_type, b.data, b.len);
    cg_buf_dispose(&b);
}
