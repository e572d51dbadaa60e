/* test_run.c: the turn runner's seal on a real loop: a real pool with one fake Codex worker, an
 * exchange on a recording sink, a Responses request parsed from a small body and the real
 * Responses encoder. The seal hook answers later (from a timer or a check handle), so the loop
 * runs between the seal and cg_run_sealed; meanwhile the client leaves, the deadline fires or
 * keepalives are due. Each test counts the sink's and the outcome consumer's callbacks, stops the
 * pool, closes every handle and requires the loop to close. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include "api/responses_encode.h"
#include "api/responses_parse.h"
#include "api/run.h"
#include "backend/pool.h"
#include "util/clock.h"
#include "util/log.h"
#include "fake_workers.h"

#ifdef CG_FAKE_CODEX

/* Each test's hard bound (see test_pool.c: not Criterion's .timeout). */
enum { POLL_MS = 5, TEST_BOUND_S = 60, FRAMES_MAX = 64, WIRE_MAX_BYTES = 1 << 20 };

#define FAKE_TEXT "Hello from fake-codex."

/* When the seal hook answers. */
enum answer_when {
    ANSWER_AT_ONCE,       /* inside the seal hook */
    ANSWER_LATER,         /* from a timer, answer_ms after the seal */
    ANSWER_AFTER_LEAVING, /* the client leaves first (as its connection closing does) */
    ANSWER_AFTER_OUTCOME, /* once the run has reported its outcome (the deadline fired) */
};

struct outcome {
    int count;
    enum cg_err error;
    int status;
    bool stream;
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t ttfb_ms;
    int worker;
    char name[16];
    char route[32];
};

static struct fixture {
    uv_loop_t loop;
    uv_timer_t poll;       /* until the worker is ready */
    uv_timer_t answer;     /* the seal's deferred answer */
    uv_check_t answer_now; /* ... or the answer later in this loop iteration */
    uv_timer_t leave;      /* the client's departure */
    uv_timer_t stop;       /* ends the test on a fresh stack */
    struct cg_pool pool;
    struct cg_worker_config wcfg;
    struct cg_pool_config pcfg;
    struct cg_config cfg;
    struct cg_catalog catalog;
    struct cg_api api;
    char home[64];
    /* The case. */
    bool stream;
    bool keepalive;
    enum answer_when when;
    uint64_t answer_ms;
    /* After the client left or the deadline passed: the answer comes once the run's timers
     * have closed (the next loop iteration), not before (this one's check phase). */
    bool answer_after_close;
    const struct cg_error *seal_err; /* what the seal answers; NULL: sealed */
    const char *input;               /* the request's text (a fake: marker picks the case) */
    bool fails_before_seal;          /* the backend fails the turn: no seal, a disposal */
    int disposals;
    /* What happened. */
    struct cg_exchange *ex; /* the connection's reference, until it drops it */
    struct cg_run *run;
    struct cg_buf wire; /* every byte the sink was given */
    int writes;
    int done_calls;
    int close_calls;
    int seals;
    int answers;
    int left;
    size_t wire_at_seal;
    size_t wire_at_leave;
    size_t wire_at_answer;
    int done_at_seal;
    int outcomes_at_seal;
    bool seal_saw_completed_response;
    bool final_at_seal; /* a stream's last event or its end was on the wire at seal time */
    struct outcome outcome;
    bool stopping;
    int pool_stopped;
} fx;

/* --- the connection's side: a sink that records ------------------------------------------ */

static void sink_write(void *ctx, char *data, size_t len)
{
    fx.writes++;
    cr_assert_eq(cg_buf_append(&fx.wire, data, len), 0);
    free(data);
}

static size_t sink_queued(void *ctx)
{
    return 0;
}

static void maybe_stop(void);

static void sink_done(void *ctx, struct cg_exchange *ex)
{
    fx.done_calls++;
    maybe_stop();
}

static void sink_close(void *ctx)
{
    fx.close_calls++;
}

static const struct cg_sink_ops sink_ops = {sink_write, sink_queued, sink_done, sink_close};

static bool wire_has(const char *s, size_t from)
{
    if (fx.wire.len <= from)
        return false;
    return memmem(fx.wire.data + from, fx.wire.len - from, s, strlen(s)) != NULL;
}

/* --- the run's hooks --------------------------------------------------------------------- */

static void answer(void)
{
    fx.answers++;
    cg_run_sealed(fx.run, fx.seal_err);
    fx.wire_at_answer = fx.wire.len;
    maybe_stop();
}

static void on_answer(uv_timer_t *t)
{
    answer();
}

static void on_answer_now(uv_check_t *c)
{
    uv_check_stop(c);
    answer();
}

/* Check callbacks run before this iteration closes handles; a timer due 1 ms from now runs no
 * earlier than the next iteration, after them. */
static void answer_soon(void)
{
    if (fx.answer_after_close)
        uv_timer_start(&fx.answer, on_answer, 1, 0);
    else
        uv_check_start(&fx.answer_now, on_answer_now);
}

/* As the connection does when its socket closes: abort, then drop its reference. */
static void on_leave(uv_timer_t *t)
{
    fx.left++;
    fx.wire_at_leave = fx.wire.len;
    struct cg_exchange *ex = fx.ex;
    fx.ex = NULL;
    cg_exchange_abort(ex, CG_ERR_CLIENT_CLOSED);
    cg_exchange_release(ex);
    answer_soon();
}

static void on_seal(struct cg_run *run, void *enc, void *data)
{
    cr_assert_eq(data, &fx);
    fx.seals++;
    fx.run = run;
    fx.wire_at_seal = fx.wire.len;
    fx.done_at_seal = fx.done_calls;
    fx.outcomes_at_seal = fx.outcome.count;
    fx.final_at_seal = wire_has("response.completed", 0) || wire_has("\r\n0\r\n\r\n", 0);
    /* What a store would be given: the final response, from the encoder the hook is handed. */
    struct cg_buf out;
    cg_buf_init(&out, WIRE_MAX_BYTES);
    cr_assert_eq(cg_responses_encoder_response(enc, &out), 0);
    json_t *response = json_loadb(out.data, out.len, 0, NULL);
    cg_buf_dispose(&out);
    cr_assert_not_null(response);
    fx.seal_saw_completed_response =
        strcmp(json_string_value(json_object_get(response, "status")), "completed") == 0;
    json_decref(response);
    if (fx.when == ANSWER_AT_ONCE)
        answer();
    else if (fx.when == ANSWER_LATER)
        uv_timer_start(&fx.answer, on_answer, fx.answer_ms, 0);
    else if (fx.when == ANSWER_AFTER_LEAVING)
        uv_timer_start(&fx.leave, on_leave, 0, 0);
}

static void on_seal_dispose(void *data)
{
    cr_assert_eq(data, &fx);
    fx.disposals++;
}

static void on_outcome(const struct cg_run_outcome *o, void *data)
{
    cr_assert_eq(data, &fx);
    fx.outcome.count++;
    fx.outcome.error = o->error;
    fx.outcome.status = o->status;
    fx.outcome.stream = o->stream;
    fx.outcome.input_tokens = o->usage.input;
    fx.outcome.output_tokens = o->usage.output;
    fx.outcome.ttfb_ms = o->ttfb_ms;
    fx.outcome.worker = o->worker;
    snprintf(fx.outcome.name, sizeof(fx.outcome.name), "%s", cg_run_outcome_name(o));
    snprintf(fx.outcome.route, sizeof(fx.outcome.route), "%s", o->route ? o->route : "");
    if (fx.when == ANSWER_AFTER_OUTCOME && fx.seals == 1 && fx.answers == 0)
        answer_soon();
    maybe_stop();
}

/* --- the test's loop --------------------------------------------------------------------- */

static void on_pool_stopped(struct cg_pool *p)
{
    fx.pool_stopped++;
}

static void on_stop(uv_timer_t *t)
{
    if (fx.ex) {
        cg_exchange_release(fx.ex); /* the connection is done with its exchange */
        fx.ex = NULL;
    }
    cg_pool_stop(&fx.pool, on_pool_stopped);
    uv_close((uv_handle_t *)&fx.answer, NULL);
    uv_close((uv_handle_t *)&fx.answer_now, NULL);
    uv_close((uv_handle_t *)&fx.leave, NULL);
    uv_close((uv_handle_t *)&fx.stop, NULL);
}

/* The run is over once it has reported, every seal is answered and the exchange is complete
 * (or its client gone). A run that never seals still stops here, and its test fails on the
 * counts. */
static void maybe_stop(void)
{
    if (fx.stopping || fx.outcome.count == 0 || fx.answers < fx.seals)
        return;
    if (fx.done_calls == 0 && fx.left == 0)
        return;
    fx.stopping = true;
    uv_timer_start(&fx.stop, on_stop, 0, 0);
}

/* A POST /v1/responses as the handler runs it, with no store behind it: the test's seal hook
 * stands in for the store. */
static void start_run(void)
{
    struct cg_exchange *ex = cg_exchange_new(&sink_ops, NULL);
    ex->method = CG_METHOD_POST;
    ex->method_name = "POST";
    ex->path = CG_STR("/v1/responses");
    ex->target = ex->path;
    ex->http_minor = 1;
    ex->keep_alive = true;
    ex->state = CG_EXCHANGE_HANDLING;
    ex->route = "responses";
    ex->key_label = "loopback";
    fx.ex = ex;

    char body[128];
    int n =
        snprintf(body, sizeof(body), "{\"model\":\"fake-model\",\"input\":\"%s\",\"stream\":%s}",
                 fx.input ? fx.input : "hi", fx.stream ? "true" : "false");
    struct cg_responses_context cx = {.catalog = &fx.catalog};
    struct cg_request req;
    struct cg_responses_opts opts;
    struct cg_error err;
    cr_assert_eq(cg_responses_parse(body, (size_t)n, &cx, &req, &opts, &err), CG_OK, "%s",
                 err.message);
    json_t *echo = cg_responses_echo(&opts);
    struct cg_responses_encode_params p = {
        .id = "resp_runtest",
        .created_at = cg_clock_unix_s(),
        .model = cg_arena_strdup(&ex->arena, req.model_id),
        .stream = req.stream,
        .echo = echo,
        .single_call = !opts.parallel_tool_calls,
        .now_s = cg_clock_unix_s,
    };
    void *enc = cg_responses_encoder_new(&p);
    json_decref(echo);
    cg_responses_opts_dispose(&opts);
    struct cg_run_spec spec = {
        .api = &fx.api,
        .ex = ex,
        .req = req,
        .enc_ops = &cg_responses_encoder_ops,
        .enc = enc,
        .keepalive = fx.keepalive,
        .seal = on_seal,
        .seal_data = &fx,
        .seal_dispose = on_seal_dispose,
    };
    cg_run_start(&spec);
}

static void on_poll(uv_timer_t *t)
{
    if (!cg_pool_ready(&fx.pool))
        return;
    uv_close((uv_handle_t *)&fx.poll, NULL);
    start_run();
}

static void run_case(void)
{
    cg_pool_init(&fx.pool, &fx.loop, &fx.pcfg);
    fx.api.backend.pool = &fx.pool;
    fx.api.loop = &fx.loop;
    cg_pool_start(&fx.pool);
    uv_timer_init(&fx.loop, &fx.poll);
    uv_timer_init(&fx.loop, &fx.answer);
    uv_check_init(&fx.loop, &fx.answer_now);
    uv_timer_init(&fx.loop, &fx.leave);
    uv_timer_init(&fx.loop, &fx.stop);
    uv_timer_start(&fx.poll, on_poll, 0, POLL_MS);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    cr_assert_eq(fx.pool_stopped, 1);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    int sealed = fx.fails_before_seal ? 0 : 1;
    cr_assert_eq(fx.seals, sealed, "a case that ends its choices well has one seal");
    cr_assert_eq(fx.answers, sealed, "the seal is answered once");
    cr_assert_eq(fx.disposals, 1 - sealed, "seal data never sealed is disposed of, once");
    cr_assert_eq(fx.outcome.count, 1, "the outcome is reported once");
    cr_assert_eq(fx.outcome.stream, fx.stream);
    cr_assert_str_eq(fx.outcome.route, "responses");
    cr_assert_eq(fx.close_calls, 0);
}

/* --- what the client got ----------------------------------------------------------------- */

struct reply {
    int status;
    struct cg_buf body; /* de-chunked */
    bool ended;         /* the last chunk, or all of Content-Length */
};

static void parse_reply(struct reply *r)
{
    memset(r, 0, sizeof(*r));
    cg_buf_init(&r->body, WIRE_MAX_BYTES);
    const char *w = fx.wire.data;
    size_t len = fx.wire.len;
    cr_assert_gt(len, 0, "nothing was written");
    const char *eoh = memmem(w, len, "\r\n\r\n", 4);
    cr_assert_not_null(eoh, "no end of headers");
    cr_assert(strncmp(w, "HTTP/1.1 ", 9) == 0);
    r->status = (int)strtol(w + 9, NULL, 10);
    size_t head = (size_t)(eoh - w) + 4;
    const char *p = w + head;
    size_t left = len - head;
    if (memmem(w, head, "Transfer-Encoding: chunked\r\n", 28) == NULL) {
        const char *cl = memmem(w, head, "Content-Length: ", 16);
        cr_assert_not_null(cl);
        size_t want = (size_t)strtoull(cl + 16, NULL, 10);
        cr_assert_eq(left, want, "the body is exactly Content-Length bytes");
        cr_assert_eq(cg_buf_append(&r->body, p, left), 0);
        r->ended = true;
        return;
    }
    for (size_t guard = 0; left > 0 && guard < len; guard++) {
        char *end = NULL;
        size_t n = (size_t)strtoull(p, &end, 16);
        cr_assert(end != p && (size_t)(end - p) + 2 <= left && end[0] == '\r' && end[1] == '\n',
                  "bad chunk size line");
        size_t line = (size_t)(end - p) + 2;
        cr_assert_leq(line + n + 2, left, "chunk cut short");
        cr_assert(p[line + n] == '\r' && p[line + n + 1] == '\n', "chunk not terminated");
        if (n == 0) {
            cr_assert_eq(left, line + 2, "bytes after the last chunk");
            r->ended = true;
            return;
        }
        cr_assert_eq(cg_buf_append(&r->body, p + line, n), 0);
        p += line + n + 2;
        left -= line + n + 2;
    }
}

struct frame {
    char event[64];
    json_t *data;
};

struct frames {
    struct frame f[FRAMES_MAX];
    size_t n;
    size_t keepalives; /* comments, not kept: their number depends on the loop's pace */
};

/* Splits an SSE body into its events; each data line must be one JSON object whose `type` is
 * the frame's event. */
static void parse_frames(const struct cg_buf *body, struct frames *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = body->data;
    const char *end = body->data + body->len;
    while (p < end) {
        const char *stop = memmem(p, (size_t)(end - p), "\n\n", 2);
        cr_assert_not_null(stop, "a frame without its blank line");
        if (*p == ':') {
            cr_assert(strncmp(p, ": keepalive\n\n", 13) == 0);
            out->keepalives++;
            p = stop + 2;
            continue;
        }
        cr_assert_lt(out->n, FRAMES_MAX);
        struct frame *f = &out->f[out->n++];
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        cr_assert(nl != NULL && strncmp(p, "event: ", 7) == 0, "frame: %.40s", p);
        snprintf(f->event, sizeof(f->event), "%.*s", (int)(nl - p - 7), p + 7);
        cr_assert(strncmp(nl + 1, "data: ", 6) == 0);
        json_error_t jerr;
        f->data = json_loadb(nl + 7, (size_t)(stop - nl - 7), 0, &jerr);
        cr_assert_not_null(f->data, "%s frame is not JSON: %s", f->event, jerr.text);
        cr_assert_str_eq(json_string_value(json_object_get(f->data, "type")), f->event);
        p = stop + 2;
    }
}

static void frames_dispose(struct frames *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        json_decref(fs->f[i].data);
}

static size_t count_event(const struct frames *fs, const char *event)
{
    size_t n = 0;
    for (size_t i = 0; i < fs->n; i++)
        n += strcmp(fs->f[i].event, event) == 0;
    return n;
}

/* Every event the client saw is numbered, from 0, without a gap. */
static void assert_numbered(const struct frames *fs)
{
    json_int_t want = 0;
    for (size_t i = 0; i < fs->n; i++) {
        json_int_t seq = json_integer_value(json_object_get(fs->f[i].data, "sequence_number"));
        cr_assert_eq(seq, want, "%s: sequence_number %lld, want %lld", fs->f[i].event,
                     (long long)seq, (long long)want);
        want++;
    }
}

static const struct frame *last_frame(const struct frames *fs)
{
    cr_assert_gt(fs->n, 0);
    return &fs->f[fs->n - 1];
}

/* A whole response's JSON body, sent with `status` (a new reference). */
static json_t *reply_json(int status)
{
    struct reply r;
    parse_reply(&r);
    cr_assert_eq(r.status, status);
    json_error_t jerr;
    json_t *body = json_loadb(r.body.data, r.body.len, 0, &jerr);
    cg_buf_dispose(&r.body);
    cr_assert_not_null(body, "the body is one JSON value: %s", jerr.text);
    return body;
}

/* A stream's frames: status 200, ended, and one `terminal` event (response.completed or
 * response.failed), the last frame, with none of the other. Returns the terminal event's
 * response object (borrowed from `fs`). */
static const json_t *stream_reply(struct frames *fs, const char *terminal)
{
    struct reply r;
    parse_reply(&r);
    cr_assert_eq(r.status, 200);
    cr_assert(r.ended, "the stream ended");
    parse_frames(&r.body, fs);
    cg_buf_dispose(&r.body);
    cr_assert_eq(count_event(fs, "response.completed") + count_event(fs, "response.failed"), 1);
    const struct frame *last = last_frame(fs);
    cr_assert_str_eq(last->event, terminal);
    return json_object_get(last->data, "response");
}

static void assert_status(const json_t *response, const char *status)
{
    cr_assert_str_eq(json_string_value(json_object_get(response, "status")), status);
}

/* The response's one message, as the fake model wrote it. */
static void assert_answer_text(const json_t *response)
{
    const json_t *message = json_array_get(json_object_get(response, "output"), 0);
    const json_t *part = json_array_get(json_object_get(message, "content"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(part, "text")), FAKE_TEXT);
}

/* --- fixture ----------------------------------------------------------------------------- */

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    cg_log_threshold = CG_LOG_ERROR;
    fake_workers_watch(&fx.pool, TEST_BOUND_S);
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    snprintf(fx.home, sizeof(fx.home), "/tmp/cg-run-test-XXXXXX");
    cr_assert_not_null(mkdtemp(fx.home));
    cr_assert_eq(cg_catalog_init(&fx.catalog, "fake-model"), 0);
    fx.wcfg = fake_workers_config(fx.home, 3);
    fx.pcfg = (struct cg_pool_config){
        .codex_home = fx.home,
        .codex_home_check_ms = 600000,
        .workers = 1,
        .max_concurrency = 2,
        .queue_max = 4,
        .queue_timeout_ms = 10000,
        .worker = &fx.wcfg,
    };
    fx.cfg.timeout_ms = 20000;
    fx.cfg.sse_keepalive_ms = 0;
    fx.cfg.stream_queue_max_bytes = 4 << 20;
    fx.api.cfg = &fx.cfg;
    fx.api.catalog = &fx.catalog;
    cr_assert(cg_run_subscribe(&fx.api, on_outcome, &fx));
    cg_buf_init(&fx.wire, WIRE_MAX_BYTES);
    fx.when = ANSWER_LATER;
    fx.answer_ms = 20;
}

static void teardown(void)
{
    fake_workers_kill();
    cg_buf_dispose(&fx.wire);
    rmdir(fx.home);
}

TestSuite(run_seal, .init = setup, .fini = teardown);

/* --- 1. sealed: the final bytes go out only after the seal answered ------------------------ */

Test(run_seal, body_waits_for_the_seal)
{
    run_case();
    cr_assert_eq(fx.wire_at_seal, 0, "nothing of a JSON response goes out before the seal");
    cr_assert_eq(fx.done_at_seal, 0);
    cr_assert_eq(fx.outcomes_at_seal, 0, "the run is not over while the seal is pending");
    cr_assert(fx.seal_saw_completed_response);
    cr_assert_eq(fx.done_calls, 1);
    cr_assert_eq(fx.outcome.error, CG_OK);
    cr_assert_eq(fx.outcome.status, 200);
    cr_assert_eq(fx.outcome.input_tokens, 21, "usage is the fake's, summed");
    cr_assert_eq(fx.outcome.output_tokens, 9);
    cr_assert_geq(fx.outcome.ttfb_ms, 0, "the fake's text was the first output");
    cr_assert_eq(fx.outcome.worker, 0);
    cr_assert_str_eq(fx.outcome.name, "completed");
    json_t *response = reply_json(200);
    assert_status(response, "completed");
    assert_answer_text(response);
    json_decref(response);
}

Test(run_seal, seal_answered_at_once_sends_the_body)
{
    fx.when = ANSWER_AT_ONCE;
    run_case();
    cr_assert_eq(fx.wire_at_seal, 0);
    cr_assert_eq(fx.done_calls, 1);
    cr_assert_eq(fx.outcome.error, CG_OK);
    json_t *response = reply_json(200);
    assert_answer_text(response);
    json_decref(response);
}

Test(run_seal, stream_completes_only_after_the_seal)
{
    fx.stream = true;
    run_case();
    cr_assert_gt(fx.wire_at_seal, 0, "the earlier events went out before the seal");
    cr_assert(wire_has("response.output_text.delta", 0));
    cr_assert(!fx.final_at_seal, "response.completed waits for the seal");
    cr_assert_eq(fx.done_at_seal, 0);
    cr_assert_eq(fx.outcomes_at_seal, 0);
    cr_assert_eq(fx.done_calls, 1);
    cr_assert_eq(fx.outcome.error, CG_OK);
    cr_assert_eq(fx.outcome.status, 200);
    struct frames fs;
    const json_t *response = stream_reply(&fs, "response.completed");
    assert_numbered(&fs);
    assert_status(response, "completed");
    assert_answer_text(response);
    frames_dispose(&fs);
}

/* --- 2. the seal fails: the client gets the error instead -------------------------------- */

static struct cg_error store_failed;

static void fail_the_seal(void)
{
    cg_error_set(&store_failed, CG_ERR_STORE_FAILED, NULL, "store down (test)");
    fx.seal_err = &store_failed;
}

Test(run_seal, failed_seal_answers_500)
{
    fail_the_seal();
    run_case();
    cr_assert_eq(fx.wire_at_seal, 0);
    cr_assert_eq(fx.done_calls, 1);
    cr_assert_eq(fx.outcome.error, CG_ERR_STORE_FAILED);
    cr_assert_eq(fx.outcome.status, 500);
    json_t *body = reply_json(500);
    const json_t *error = json_object_get(body, "error");
    cr_assert_str_eq(json_string_value(json_object_get(error, "code")), "store_error");
    cr_assert_str_eq(json_string_value(json_object_get(error, "message")), "store down (test)");
    cr_assert_null(json_object_get(body, "output"), "no response object with the error");
    json_decref(body);
}

Test(run_seal, failed_seal_ends_a_stream_with_response_failed)
{
    fx.stream = true;
    fail_the_seal();
    run_case();
    cr_assert(!fx.final_at_seal);
    cr_assert_eq(fx.done_calls, 1);
    cr_assert_eq(fx.outcome.error, CG_ERR_STORE_FAILED);
    cr_assert_eq(fx.outcome.status, 200, "a stream's status stays 200");
    struct frames fs;
    const json_t *response = stream_reply(&fs, "response.failed");
    assert_status(response, "failed");
    const json_t *error = json_object_get(response, "error");
    cr_assert_str_eq(json_string_value(json_object_get(error, "message")), "store down (test)");
    /* the message's closing events went out before the seal: no gap before response.failed */
    assert_numbered(&fs);
    cr_assert_eq(count_event(&fs, "response.output_item.done"), 1);
    frames_dispose(&fs);
}

/* --- 3. the client leaves while the seal is pending -------------------------------------- */

static void assert_left_during_seal(void)
{
    cr_assert_eq(fx.left, 1);
    cr_assert_eq(fx.wire.len, fx.wire_at_leave, "no bytes after the client left");
    cr_assert_eq(fx.wire_at_answer, fx.wire_at_leave, "the late seal answer only frees");
    cr_assert_eq(fx.done_calls, 0, "a gone client's sink hears nothing more");
    cr_assert_eq(fx.outcome.error, CG_ERR_CLIENT_CLOSED);
}

static void leave_during_the_body_seal(void)
{
    fx.when = ANSWER_AFTER_LEAVING;
    run_case();
    assert_left_during_seal();
    cr_assert_eq(fx.wire.len, 0);
    cr_assert_eq(fx.outcome.status, 499, "the client left before any response");
}

Test(run_seal, client_leaving_during_the_seal_only_frees_the_run)
{
    leave_during_the_body_seal();
}

Test(run_seal, client_leaving_during_the_seal_frees_the_run_after_its_timers_closed)
{
    fx.answer_after_close = true;
    leave_during_the_body_seal();
}

Test(run_seal, client_leaving_a_stream_during_the_seal_only_frees_the_run)
{
    fx.stream = true;
    fx.when = ANSWER_AFTER_LEAVING;
    fx.answer_after_close = true;
    run_case();
    assert_left_during_seal();
    cr_assert(wire_has("response.output_text.delta", 0));
    cr_assert(!wire_has("response.completed", 0));
    cr_assert_eq(fx.outcome.status, 200);
}

/* --- 4. the deadline fires while the seal is pending ------------------------------------- */

/* The deadline must pass after the seal (the fake answers within a few ms; the margin is for a
 * loaded machine) and before the answer:
 * the answer waits for the outcome the deadline reports. */
static void time_out_during_the_seal(void)
{
    fx.cfg.timeout_ms = 1000;
    fx.when = ANSWER_AFTER_OUTCOME;
}

static void assert_timed_out_during_the_seal(void)
{
    cr_assert_eq(fx.outcomes_at_seal, 0, "the turn ended before the deadline");
    cr_assert_eq(fx.done_calls, 1, "the client is answered once");
    cr_assert_eq(fx.outcome.error, CG_ERR_TIMEOUT);
    cr_assert_eq(fx.wire_at_answer, fx.wire.len, "the late seal answer only frees");
}

static void time_out_during_the_body_seal(void)
{
    time_out_during_the_seal();
    run_case();
    assert_timed_out_during_the_seal();
    cr_assert_eq(fx.wire_at_seal, 0);
    cr_assert_eq(fx.outcome.status, 504);
    json_t *body = reply_json(504);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(body, "error"), "code")),
                     "timeout");
    json_decref(body);
}

Test(run_seal, deadline_during_the_seal_answers_504_once)
{
    time_out_during_the_body_seal();
}

Test(run_seal, deadline_during_the_seal_answers_504_once_and_frees_after_the_timers_closed)
{
    fx.answer_after_close = true;
    time_out_during_the_body_seal();
}

Test(run_seal, deadline_during_a_streams_seal_fails_it_once)
{
    fx.stream = true;
    fx.answer_after_close = true;
    time_out_during_the_seal();
    run_case();
    assert_timed_out_during_the_seal();
    cr_assert(!fx.final_at_seal);
    struct frames fs;
    const json_t *response = stream_reply(&fs, "response.failed");
    const json_t *error = json_object_get(response, "error");
    cr_assert(strstr(json_string_value(json_object_get(error, "message")), "PROXY_TIMEOUT_MS"));
    frames_dispose(&fs);
}

/* --- 5. keepalives fall due while the seal is pending ------------------------------------ */

Test(run_seal, keepalives_during_the_seal_leave_the_final_bytes_intact)
{
    fx.stream = true;
    fx.keepalive = true;
    fx.cfg.sse_keepalive_ms = 5;
    fx.answer_ms = 60; /* a dozen keepalive intervals */
    run_case();
    cr_assert(!fx.final_at_seal);
    cr_assert_eq(fx.done_calls, 1);
    cr_assert_eq(fx.outcome.error, CG_OK);
    cr_assert(!wire_has(": keepalive", fx.wire_at_seal), "no keepalive once the final bytes wait");
    struct frames fs;
    const json_t *response = stream_reply(&fs, "response.completed");
    assert_numbered(&fs);
    assert_status(response, "completed");
    assert_answer_text(response);
    frames_dispose(&fs);
}

#endif

/* --- 6. no seal: the run fails before it, and its seal data is disposed of ----------------- */

Test(run_seal, a_run_that_fails_before_its_seal_disposes_the_seal_data)
{
    fx.input = "fake:error";
    fx.fails_before_seal = true;
    run_case();
    cr_assert_eq(fx.done_calls, 1);
    cr_assert_neq(fx.outcome.error, CG_OK);
    cr_assert_eq(fx.outcome.ttfb_ms, -1, "a turn that failed at once gave no output");
    cr_assert_str_eq(fx.outcome.name, "error");
    json_t *body = reply_json(502);
    json_decref(body);
}

Test(run_seal, a_stream_that_fails_before_its_seal_disposes_the_seal_data)
{
    fx.stream = true;
    fx.input = "fake:errorafter";
    fx.fails_before_seal = true;
    run_case();
    struct frames fs;
    stream_reply(&fs, "response.failed");
    assert_numbered(&fs);
    frames_dispose(&fs);
}
