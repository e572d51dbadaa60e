/* test_metrics.c: the Prometheus exposition (format, label escaping, cumulative histogram
 * buckets, bounded label sets) and the /metrics access rule, without sockets. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/metrics.h"
#include "backend/pool.h"
#include "http/parser.h"
#include "http/router.h"
#include "util/clock.h"

static struct cg_catalog catalog;
static struct cg_api api;
static struct cg_metrics metrics;
static struct cg_buf out;

static void setup(void)
{
    cr_assert_eq(cg_catalog_init(&catalog, "gpt-5.5"), 0);
    api = (struct cg_api){.catalog = &catalog, .started_ms = cg_clock_mono_ms()};
    cg_metrics_init(&metrics, &api);
    cg_buf_init(&out, 1 << 22);
}

static void teardown(void)
{
    cg_buf_dispose(&out);
}

TestSuite(metrics, .init = setup, .fini = teardown);

static const char *render(void)
{
    cg_buf_reset(&out);
    cr_assert_eq(cg_metrics_render(&metrics, &out), 0);
    cr_assert_eq(cg_buf_append_char(&out, '\0'), 0);
    return out.data;
}

/* `line` appears in `text` as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line)) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    }
    return false;
}

#define assert_line(text, line) cr_assert(has_line((text), (line)), "missing line: %s", (line))

static struct cg_run_outcome outcome(const char *model, const char *key, int status)
{
    return (struct cg_run_outcome){
        .request_id = "req_secret",
        .route = "chat",
        .model = model,
        .key_label = key,
        .usage = {100, 40, 30, 10},
        .status = status,
        .error = status == 200 ? CG_OK : CG_ERR_INTERNAL,
        .latency_ms = 120,
        .ttfb_ms = 30,
        .worker = 0,
        .stream = false,
    };
}

Test(metrics, label_values_escape_backslash_quote_and_newline)
{
    cr_assert_eq(cg_metrics_label_value(&out, "a\\b\"c\nd"), 0);
    cr_assert_eq(cg_buf_append_char(&out, '\0'), 0);
    cr_assert_str_eq(out.data, "\"a\\\\b\\\"c\\nd\"");
}

/* The family a sample line belongs to is declared before it: its own name, or for a
 * histogram's _bucket, _sum and _count lines the histogram's. */
static bool declared_before(const char *text, const char *line)
{
    size_t n = strcspn(line, "{ ");
    char decl[160];
    snprintf(decl, sizeof(decl), "# TYPE %.*s ", (int)n, line);
    const char *d = strstr(text, decl);
    if (d && d < line)
        return true;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < CG_ARRAY_SIZE(suffixes); i++) {
        size_t sl = strlen(suffixes[i]);
        if (n > sl && strncmp(line + n - sl, suffixes[i], sl) == 0) {
            snprintf(decl, sizeof(decl), "# TYPE %.*s histogram\n", (int)(n - sl), line);
            d = strstr(text, decl);
            return d && d < line;
        }
    }
    return false;
}

/* A finished exchange as the router's done hook sees it. */
static void request_done(const char *route, enum cg_method method, int status, const char *model)
{
    struct cg_exchange ex = {.route = route, .method = method, .status = status, .model = model};
    cg_metrics_request_done(&ex, &metrics);
}

Test(metrics, every_family_has_help_and_type_before_its_samples)
{
    struct cg_run_outcome o = outcome("gpt-5.5", "key1", 200);
    cg_metrics_outcome(&o, &metrics);
    request_done("chat", CG_METHOD_POST, 200, "gpt-5.5");
    const char *text = render();
    assert_line(text, "# HELP codex_gateway_requests_total Requests answered, by route, method, "
                      "HTTP status class and model.");
    assert_line(text, "# TYPE codex_gateway_requests_total counter");
    assert_line(text, "# TYPE codex_gateway_request_duration_seconds histogram");
    assert_line(text, "# TYPE process_cpu_seconds_total counter");
    cr_assert_eq(text[strlen(text) - 1], '\n');
    size_t samples = 0;
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        if (*line == '#')
            continue;
        samples++;
        cr_assert(declared_before(text, line), "undeclared: %.*s", (int)strcspn(line, "\n"),
                  line);
    }
    cr_assert_gt(samples, 20);
    cr_assert_null(strstr(text, "req_secret"), "no request ids");
}

Test(metrics, every_request_by_route_method_class_and_model)
{
    request_done("chat", CG_METHOD_POST, 200, "gpt-5.5");
    request_done("chat", CG_METHOD_POST, 200, "gpt-5.5");
    request_done("chat", CG_METHOD_POST, 502, "GPT-5.5");
    request_done("chat", CG_METHOD_POST, 499, "made-up");
    request_done("chat", CG_METHOD_POST, 429, NULL);
    request_done("chat", CG_METHOD_OPTIONS, 204, NULL);
    request_done(NULL, CG_METHOD_GET, 404, NULL);
    request_done("healthz", CG_METHOD_GET, 0, NULL);
    const char *text = render();
    assert_line(text, "codex_gateway_requests_total{route=\"chat\",method=\"POST\","
                      "status_class=\"2xx\",model=\"gpt-5.5\"} 2");
    /* the catalog's spelling, whatever the client's */
    assert_line(text, "codex_gateway_requests_total{route=\"chat\",method=\"POST\","
                      "status_class=\"5xx\",model=\"gpt-5.5\"} 1");
    assert_line(text, "codex_gateway_requests_total{route=\"chat\",method=\"POST\","
                      "status_class=\"4xx\",model=\"other\"} 1");
    assert_line(text, "codex_gateway_requests_total{route=\"chat\",method=\"POST\","
                      "status_class=\"4xx\",model=\"none\"} 1");
    assert_line(text, "codex_gateway_requests_total{route=\"chat\",method=\"OPTIONS\","
                      "status_class=\"2xx\",model=\"none\"} 1");
    assert_line(text, "codex_gateway_requests_total{route=\"unmatched\",method=\"GET\","
                      "status_class=\"4xx\",model=\"none\"} 1");
    assert_line(text, "codex_gateway_requests_total{route=\"healthz\",method=\"GET\","
                      "status_class=\"4xx\",model=\"none\"} 1");
    cr_assert_null(strstr(text, "made-up"), "unknown models fold to other");
}

Test(metrics, tokens_and_errors_by_model_and_key)
{
    struct cg_run_outcome ok = outcome("gpt-5.5", "key1", 200);
    struct cg_run_outcome failed = outcome("GPT-5.5", "key1", 502);
    struct cg_run_outcome unknown = outcome("made-up", NULL, 499);
    cg_metrics_outcome(&ok, &metrics);
    cg_metrics_outcome(&ok, &metrics);
    cg_metrics_outcome(&failed, &metrics);
    cg_metrics_outcome(&unknown, &metrics);
    const char *text = render();
    assert_line(text, "codex_gateway_tokens_total{model=\"gpt-5.5\",key=\"key1\",kind=\"input\"} 300");
    assert_line(text, "codex_gateway_tokens_total{model=\"gpt-5.5\",key=\"key1\",kind=\"cached\"} 120");
    assert_line(text, "codex_gateway_tokens_total{model=\"gpt-5.5\",key=\"key1\",kind=\"output\"} 90");
    assert_line(text,
                "codex_gateway_tokens_total{model=\"gpt-5.5\",key=\"key1\",kind=\"reasoning\"} 30");
    assert_line(text, "codex_gateway_tokens_total{model=\"other\",key=\"none\",kind=\"input\"} 100");
    cr_assert_null(strstr(text, "made-up"), "unknown models fold to other");
    assert_line(text, "codex_gateway_request_errors_total{route=\"chat\",error=\"internal\"} 2");
}

Test(metrics, stream_outcomes_by_how_the_stream_ended)
{
    struct cg_run_outcome o = outcome("gpt-5.5", "key1", 200);
    o.stream = true;
    cg_metrics_outcome(&o, &metrics);
    o.error = CG_ERR_CLIENT_CLOSED;
    cg_metrics_outcome(&o, &metrics);
    o.error = CG_ERR_TIMEOUT;
    cg_metrics_outcome(&o, &metrics);
    cg_metrics_outcome(&o, &metrics);
    o.stream = false;
    cg_metrics_outcome(&o, &metrics);
    const char *text = render();
    assert_line(text, "codex_gateway_stream_outcomes_total{route=\"chat\",outcome=\"completed\"} 1");
    assert_line(text,
                "codex_gateway_stream_outcomes_total{route=\"chat\",outcome=\"client_closed\"} 1");
    assert_line(text, "codex_gateway_stream_outcomes_total{route=\"chat\",outcome=\"timeout\"} 2");
    cr_assert_null(strstr(text, "outcome=\"error\""));
}

Test(metrics, histogram_buckets_are_cumulative_and_end_at_the_count)
{
    static const uint64_t ms[] = {3, 5, 7, 400000};
    for (size_t i = 0; i < CG_ARRAY_SIZE(ms); i++) {
        struct cg_run_outcome o = outcome("gpt-5.5", "key1", 200);
        o.latency_ms = ms[i];
        o.ttfb_ms = i == 0 ? -1 : (int64_t)ms[i];
        cg_metrics_outcome(&o, &metrics);
    }
    const char *text = render();
    const char *b = "codex_gateway_request_duration_seconds_bucket{route=\"chat\",le=";
    char line[160];
    static const struct {
        const char *le;
        unsigned n;
    } want[] = {{"0.001", 0}, {"0.0025", 0}, {"0.005", 2}, {"0.01", 3},
                {"0.025", 3}, {"1", 3},      {"300", 3},    {"+Inf", 4}};
    for (size_t i = 0; i < CG_ARRAY_SIZE(want); i++) {
        snprintf(line, sizeof(line), "%s\"%s\"} %u", b, want[i].le, want[i].n);
        assert_line(text, line);
    }
    assert_line(text, "codex_gateway_request_duration_seconds_sum{route=\"chat\"} 400.015000");
    assert_line(text, "codex_gateway_request_duration_seconds_count{route=\"chat\"} 4");
    /* a run without model output has no time to first token */
    assert_line(text, "codex_gateway_time_to_first_token_seconds_count{route=\"chat\"} 3");
    assert_line(text, "codex_gateway_time_to_first_token_seconds_bucket{route=\"chat\",le=\"0.005\"} 1");
}

Test(metrics, key_labels_past_the_cap_fold_to_other)
{
    char key[16];
    for (int i = 0; i < CG_METRICS_KEYS_MAX + 10; i++) {
        snprintf(key, sizeof(key), "key%d", i + 1);
        struct cg_run_outcome o = outcome("gpt-5.5", key, 200);
        cg_metrics_outcome(&o, &metrics);
    }
    const char *text = render();
    snprintf(key, sizeof(key), "key%d", CG_METRICS_KEYS_MAX);
    char line[160];
    snprintf(line, sizeof(line),
             "codex_gateway_tokens_total{model=\"gpt-5.5\",key=\"%s\",kind=\"input\"} 100", key);
    assert_line(text, line);
    assert_line(text, "codex_gateway_tokens_total{model=\"gpt-5.5\",key=\"other\",kind=\"input\"} 1000");
    snprintf(key, sizeof(key), "\"key%d\"", CG_METRICS_KEYS_MAX + 1);
    cr_assert_null(strstr(text, key));
}

Test(metrics, workers_one_state_each_restarts_and_last_exit)
{
    struct cg_worker workers[2];
    memset(workers, 0, sizeof(workers));
    workers[0].id = 0;
    workers[0].state = CG_WORKER_READY;
    workers[0].active = 3;
    workers[1].id = 1;
    workers[1].state = CG_WORKER_BACKOFF;
    workers[1].restarts = 4;
    workers[1].last_exit_at_ms = 1;
    workers[1].last_exit_signal = 9;
    struct cg_pool pool;
    memset(&pool, 0, sizeof(pool));
    pool.workers = workers;
    pool.count = 2;
    pool.qlen = 5;
    pool.home.total_bytes = 12345;
    pool.limits.window[0].known = true;
    pool.limits.window[0].used_percent = 42;
    api.backend.pool = &pool;
    const char *text = render();
    assert_line(text, "codex_gateway_worker_state{worker=\"0\",state=\"ready\"} 1");
    assert_line(text, "codex_gateway_worker_state{worker=\"0\",state=\"backoff\"} 0");
    assert_line(text, "codex_gateway_worker_state{worker=\"1\",state=\"backoff\"} 1");
    assert_line(text, "codex_gateway_worker_state{worker=\"1\",state=\"ready\"} 0");
    assert_line(text, "codex_gateway_worker_ready{worker=\"0\"} 1");
    assert_line(text, "codex_gateway_worker_ready{worker=\"1\"} 0");
    assert_line(text, "codex_gateway_worker_restarts_total{worker=\"1\"} 4");
    assert_line(text, "codex_gateway_worker_last_exit_code{worker=\"1\"} -9");
    cr_assert_null(strstr(text, "codex_gateway_worker_last_exit_code{worker=\"0\"}"),
                   "a worker that never exited has no exit code");
    assert_line(text, "codex_gateway_worker_active_turns{worker=\"0\"} 3");
    assert_line(text, "codex_gateway_queue_depth 5");
    assert_line(text, "codex_gateway_codex_home_bytes 12345");
    assert_line(text, "codex_gateway_account_quota_used_ratio{window=\"primary\"} 0.42");
    cr_assert_null(strstr(text, "window=\"secondary\""), "an unreported window is absent");
    api.backend.pool = NULL;
}

/* The access rule, on the head alone. */

static void on_scrape(struct cg_exchange *ex, void *ctx)
{
    (void)ctx;
    cg_exchange_send(ex, "text/plain", "x", 1);
}

static void sink_write(void *ctx, char *data, size_t len)
{
    (void)ctx;
    (void)len;
    free(data);
}
static size_t sink_queued(void *ctx)
{
    (void)ctx;
    return 0;
}
static void sink_done(void *ctx, struct cg_exchange *ex)
{
    (void)ctx;
    (void)ex;
}
static const struct cg_sink_ops sink = {sink_write, sink_queued, sink_done, NULL};

static enum cg_err admit(const char *token, const char *authorization, bool loopback)
{
    static const struct cg_route routes[] = {
        {"/metrics", false, CG_METHOD_GET, CG_ACCESS_METRICS, "metrics", on_scrape},
    };
    static const struct cg_http_limits limits = {
        .max_url_bytes = 256, .max_header_bytes = 2048, .max_headers = 16, .max_body_bytes = 1024};
    static char *keys[] = {"client-key"};
    struct cg_cors cors;
    char err[64];
    cr_assert_eq(cg_cors_init(&cors, false, "*", err, sizeof(err)), 0);
    struct cg_auth auth;
    cg_auth_init(&auth, keys, 1);
    struct cg_router router = {.routes = routes, .count = 1, .cors = &cors, .auth = &auth,
                               .metrics_token = token};
    char req[256];
    snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nHost: h\r\n%s%s%s\r\n",
             authorization ? "Authorization: " : "", authorization ? authorization : "",
             authorization ? "\r\n" : "");
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, NULL, "peer", loopback);
    struct cg_parse_result r;
    cg_parser_feed(&p, req, strlen(req), &r);
    cr_assert_eq(r.status, CG_PARSE_REQUEST);
    cg_parser_dispose(&p);
    bool ok = cg_router_admit(&router, r.exchange);
    enum cg_err code = ok ? CG_OK : r.exchange->refusal->code;
    cg_exchange_release(r.exchange);
    return code;
}

Test(metrics_access, loopback_always_others_only_with_the_token)
{
    cr_assert_eq(admit(NULL, NULL, true), CG_OK);
    cr_assert_eq(admit("tok", NULL, true), CG_OK);
    cr_assert_eq(admit("tok", "Bearer tok", false), CG_OK);
    cr_assert_eq(admit("tok", "bearer  tok ", false), CG_OK);
    cr_assert_eq(admit("tok", NULL, false), CG_ERR_MISSING_API_KEY);
    cr_assert_eq(admit("tok", "Bearer to", false), CG_ERR_INVALID_API_KEY);
    cr_assert_eq(admit("tok", "Bearer client-key", false), CG_ERR_INVALID_API_KEY);
    cr_assert_eq(admit("tok", "Basic dG9r", false), CG_ERR_INVALID_API_KEY);
    cr_assert_eq(admit(NULL, "Bearer client-key", false), CG_ERR_LOOPBACK_ONLY);
    cr_assert_eq(admit("", "Bearer ", false), CG_ERR_LOOPBACK_ONLY);
}
