/* test_access_log.c: the access line of a model request, the first consumer of run outcomes. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>
#include "api/access_log.h"
#include "http/exchange.h"
#include "util/clock.h"
#include "util/log.h"

/* Logs `o` through the consumer and returns the one line it wrote, parsed. */
static json_t *log_line(const struct cg_run_outcome *o)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cg_log_threshold = CG_LOG_INFO;
    cg_log_set_fd(fds[1]);
    cg_access_log_outcome(o, NULL);
    cg_log_set_fd(2);
    close(fds[1]);
    char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "one line: %s", buf);
    json_error_t jerr;
    json_t *line = json_loads(buf, JSON_REJECT_DUPLICATES, &jerr);
    cr_assert_not_null(line, "%s: %s", jerr.text, buf);
    return line;
}

#define STR(obj, key) json_string_value(json_object_get((obj), (key)))
#define INT(obj, key) json_integer_value(json_object_get((obj), (key)))

Test(access_log, one_line_with_the_totals_and_no_secrets)
{
    struct cg_run_outcome o = {
        .request_id = "req_1",
        .route = "chat",
        .model = "codex-5",
        .key_label = "team-a",
        .usage = {1000, 600, 250, 200},
        .status = 200,
        .error = CG_OK,
        .latency_ms = 42,
        .ttfb_ms = 17,
        .worker = 2,
        .stream = true,
    };
    json_t *l = log_line(&o);
    cr_assert_str_eq(STR(l, "event"), "access");
    cr_assert_str_eq(STR(l, "req_id"), "req_1");
    cr_assert_str_eq(STR(l, "route"), "chat");
    cr_assert_str_eq(STR(l, "model"), "codex-5");
    cr_assert_str_eq(STR(l, "key"), "team-a");
    cr_assert_eq(INT(l, "status"), 200);
    cr_assert(json_is_null(json_object_get(l, "error")));
    cr_assert(json_is_true(json_object_get(l, "stream")));
    cr_assert_eq(INT(l, "ms"), 42);
    cr_assert_str_eq(STR(l, "outcome"), "completed");
    cr_assert_eq(INT(l, "ttfb_ms"), 17);
    cr_assert_eq(INT(l, "worker"), 2);
    cr_assert_eq(INT(l, "input_tokens"), 1000);
    cr_assert_eq(INT(l, "cached_tokens"), 600);
    cr_assert_eq(INT(l, "output_tokens"), 250);
    cr_assert_eq(INT(l, "reasoning_tokens"), 200);
    cr_assert_eq(INT(l, "total_tokens"), 1250);
    json_decref(l);
}

Test(access_log, failures_name_their_code_and_unknown_fields_are_null)
{
    struct cg_run_outcome o = {
        .request_id = "req_2",
        .route = "completions",
        .model = "codex-5",
        .status = 429,
        .error = CG_ERR_UPSTREAM_RATE_LIMIT,
        .ttfb_ms = -1,
        .worker = -1,
    };
    json_t *l = log_line(&o);
    cr_assert_str_eq(STR(l, "error"), "rate_limit_exceeded");
    cr_assert_str_eq(STR(l, "outcome"), "error");
    cr_assert(json_is_null(json_object_get(l, "ttfb_ms")), "no model output");
    cr_assert(json_is_null(json_object_get(l, "worker")), "no worker took it");
    cr_assert(json_is_null(json_object_get(l, "key")));
    cr_assert(json_is_false(json_object_get(l, "stream")));
    cr_assert_eq(INT(l, "total_tokens"), 0);
    json_decref(l);
}

Test(access_log, with_its_exchange_the_line_has_the_http_fields_too)
{
    struct cg_exchange ex = {
        .method = CG_METHOD_POST,
        .method_name = "POST",
        .path = CG_STR("/v1/chat/completions"),
        .route = "chat",
        .model = "codex-5",
        .key_label = "team-a",
        .status = 200,
        .bytes_out = 321,
        .aborted = true,
        .start_us = cg_clock_mono_us(),
    };
    memcpy(ex.request_id, "req_3", 6);
    memcpy(ex.peer, "127.0.0.1", 10);
    struct cg_run_outcome o = {
        .ex = &ex,
        .request_id = "req_3",
        .usage = {10, 0, 5, 0},
        .status = 200,
        .error = CG_ERR_CLIENT_CLOSED,
        .ttfb_ms = 3,
        .worker = 0,
        .stream = true,
    };
    json_t *l = log_line(&o);
    cr_assert_str_eq(STR(l, "event"), "access");
    cr_assert_str_eq(STR(l, "req_id"), "req_3");
    cr_assert_str_eq(STR(l, "method"), "POST");
    cr_assert_str_eq(STR(l, "path"), "/v1/chat/completions");
    cr_assert_str_eq(STR(l, "route"), "chat");
    cr_assert_str_eq(STR(l, "model"), "codex-5");
    cr_assert_str_eq(STR(l, "key"), "team-a");
    cr_assert_eq(INT(l, "bytes"), 321);
    cr_assert_str_eq(STR(l, "peer"), "127.0.0.1");
    cr_assert(json_is_true(json_object_get(l, "aborted")));
    cr_assert(json_is_number(json_object_get(l, "ms")));
    cr_assert_str_eq(STR(l, "outcome"), "client_closed");
    cr_assert_eq(INT(l, "total_tokens"), 15);
    cr_assert_eq(json_object_size(l), 25, "4 of the logger, 11 of the exchange, 10 of the run");
    json_decref(l);
}

static void count(const struct cg_run_outcome *o, void *data)
{
    (void)o;
    ++*(int *)data;
}

Test(access_log, consumers_are_bounded)
{
    struct cg_api api = {0};
    int calls = 0;
    for (int i = 0; i < CG_API_CONSUMERS_MAX; i++)
        cr_assert(cg_run_subscribe(&api, count, &calls));
    cr_assert_not(cg_run_subscribe(&api, count, &calls));
    cr_assert_eq(api.consumer_count, CG_API_CONSUMERS_MAX);
}
