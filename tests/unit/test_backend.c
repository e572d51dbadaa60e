/* test_backend.c: the JSON-RPC reader, the backoff schedule, routing and error mapping, without
 * processes or sockets. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "backend/codex_error.h"
#include "backend/rate_limits.h"
#include "backend/sessions.h"
#include "backend/jsonrpc.h"
#include "backend/pool.h"
#include "backend/worker.h"

/* --- a recording peer -------------------------------------------------------------------- */

struct rec {
    char sent[8][512];
    int nsent;
    char notes[16][64];
    int nnotes;
    char requests[8][64];
    int nrequests;
    int oversized;
    char over_tail[600];
    int results;
    int errors;
    int64_t last_code;
};

static void rec_send(void *owner, char *line, size_t len)
{
    struct rec *r = owner;
    if (r->nsent < 8)
        snprintf(r->sent[r->nsent++], sizeof(r->sent[0]), "%.*s", (int)len, line);
    free(line);
}

static void rec_note(void *owner, const char *method, json_t *params)
{
    struct rec *r = owner;
    if (r->nnotes < 16)
        snprintf(r->notes[r->nnotes++], sizeof(r->notes[0]), "%s", method);
}

static void rec_request(void *owner, json_t *id, const char *method, json_t *params)
{
    struct rec *r = owner;
    if (r->nrequests < 8)
        snprintf(r->requests[r->nrequests++], sizeof(r->requests[0]), "%s", method);
}

static void rec_oversized(void *owner, const char *head, size_t hl, const char *tail, size_t tl)
{
    struct rec *r = owner;
    r->oversized++;
    snprintf(r->over_tail, sizeof(r->over_tail), "%.*s", (int)tl, tail);
}

static bool rec_wanted(void *owner, struct cg_str method, struct cg_str line)
{
    return !cg_str_eq(method, CG_STR("noise"));
}

static const struct cg_rpc_ops ops = {rec_send,   rec_note, rec_request, rec_oversized,
                                      rec_wanted, NULL,     NULL};

static void on_result(void *data, json_t *result, const struct cg_rpc_error *err)
{
    struct rec *r = data;
    if (err) {
        r->errors++;
        r->last_code = err->code;
    } else {
        r->results++;
    }
}

static void feed(struct cg_rpc *rpc, const char *s)
{
    cg_rpc_feed(rpc, s, strlen(s));
}

Test(jsonrpc, classifies_messages_and_matches_responses)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &ops, &r, 1 << 20, "t");
    uint64_t id =
        cg_rpc_call(&rpc, "initialize", json_pack("{s:i}", "a", 1), 1000, 0, on_result, &r);
    cr_assert_eq(id, 1);
    cr_assert_str_eq(r.sent[0], "{\"id\":1,\"method\":\"initialize\",\"params\":{\"a\":1}}\n");
    feed(&rpc, "{\"method\":\"turn/started\",\"params\":{}}\n");
    feed(&rpc, "{\"id\":0,\"method\":\"item/tool/call\",\"params\":{}}\n");
    feed(&rpc, "{\"id\":1,\"result\":{\"ok\":true}}\n");
    feed(&rpc, "{\"id\":1,\"result\":{}}\n"); /* again: unknown now */
    cr_assert_eq(r.nnotes, 1);
    cr_assert_str_eq(r.notes[0], "turn/started");
    cr_assert_eq(r.nrequests, 1);
    cr_assert_str_eq(r.requests[0], "item/tool/call");
    cr_assert_eq(r.results, 1);
    cr_assert_eq(rpc.stats.unknown, 1);
    cr_assert_eq(cg_rpc_pending(&rpc), 0);
    cg_rpc_dispose(&rpc);
}

Test(jsonrpc, reassembles_lines_split_across_reads)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &ops, &r, 1 << 20, "t");
    const char *two = "{\"method\":\"a\"}\n{\"method\":\"bb\",\"params\":{\"x\":\"y\"}}\n";
    for (size_t i = 0; two[i]; i++)
        cg_rpc_feed(&rpc, two + i, 1);
    cr_assert_eq(r.nnotes, 2);
    cr_assert_str_eq(r.notes[1], "bb");
    feed(&rpc, "{\"method\":\"c\"}\r\n\n   \n");
    cr_assert_eq(r.nnotes, 3);
    cg_rpc_dispose(&rpc);
}

Test(jsonrpc, counts_bad_lines_and_survives)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &ops, &r, 1 << 20, "t");
    feed(&rpc, "not json\n[1,2]\n{}\n{\"id\":\"x\",\"result\":1}\n\"str\"\n{\"method\":\"ok\"}\n");
    cr_assert_eq(rpc.stats.invalid, 4);
    cr_assert_eq(rpc.stats.unknown, 1);
    cr_assert_eq(r.nnotes, 1);
    cg_rpc_dispose(&rpc);
}

Test(jsonrpc, skips_oversized_lines_and_reports_their_ends)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &ops, &r, 64, "t");
    char big[300];
    memset(big, 'x', sizeof(big));
    feed(&rpc, "{\"method\":\"item/completed\",\"params\":{\"text\":\"");
    cg_rpc_feed(&rpc, big, sizeof(big));
    feed(&rpc, "\",\"threadId\":\"T1\"}}\n{\"method\":\"after\"}\n");
    cr_assert_eq(rpc.stats.oversized, 1);
    cr_assert_eq(r.oversized, 1);
    cr_assert_not_null(strstr(r.over_tail, "\"threadId\":\"T1\""));
    cr_assert_eq(r.nnotes, 1);
    cr_assert_str_eq(r.notes[0], "after");
    /* A whole oversized line in one read, too. */
    char line[200];
    memset(line, 'y', sizeof(line));
    line[sizeof(line) - 1] = '\n';
    cg_rpc_feed(&rpc, line, sizeof(line));
    cr_assert_eq(rpc.stats.oversized, 2);
    cg_rpc_dispose(&rpc);
}

Test(jsonrpc, errors_timeouts_and_close_settle_calls)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &ops, &r, 1 << 20, "t");
    cg_rpc_call(&rpc, "a", NULL, 100, 0, on_result, &r);
    cg_rpc_call(&rpc, "b", NULL, 5000, 0, on_result, &r);
    cg_rpc_call(&rpc, "c", NULL, 5000, 0, on_result, &r);
    feed(&rpc, "{\"id\":2,\"error\":{\"code\":-32600,\"message\":\"nope\"}}\n");
    cr_assert_eq(r.errors, 1);
    cr_assert_eq(r.last_code, -32600);
    cr_assert_eq(cg_rpc_next_deadline(&rpc), 100);
    cg_rpc_expire(&rpc, 99);
    cr_assert_eq(r.errors, 1);
    cg_rpc_expire(&rpc, 100);
    cr_assert_eq(r.errors, 2);
    cr_assert_eq(r.last_code, CG_RPC_ETIMEOUT);
    uint64_t d = cg_rpc_call(&rpc, "d", NULL, 5000, 0, on_result, &r);
    cg_rpc_forget(&rpc, d);
    cg_rpc_dispose(&rpc); /* settles "c" as closed; "d" was forgotten */
    cr_assert_eq(r.errors, 3);
    cr_assert_eq(r.last_code, CG_RPC_ECLOSED);
}

Test(jsonrpc, answers_server_requests)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &ops, &r, 1 << 20, "t");
    json_t *id = json_integer(7);
    cg_rpc_respond(&rpc, id, json_pack("{s:s}", "decision", "decline"));
    cg_rpc_respond_error(&rpc, id, -32601, "no");
    json_decref(id);
    cr_assert_str_eq(r.sent[0], "{\"id\":7,\"result\":{\"decision\":\"decline\"}}\n");
    cr_assert_str_eq(r.sent[1], "{\"id\":7,\"error\":{\"code\":-32601,\"message\":\"no\"}}\n");
    cg_rpc_dispose(&rpc);
}

/* --- supervision and routing ------------------------------------------------------------- */

Test(worker, backoff_doubles_up_to_the_cap)
{
    struct cg_worker_config cfg = {.backoff_initial_ms = 500, .backoff_max_ms = 5000};
    uint64_t want[] = {500, 1000, 2000, 4000, 5000, 5000};
    for (unsigned i = 0; i < 6; i++)
        cr_assert_eq(cg_worker_backoff_ms(&cfg, i + 1), want[i], "failure %u", i + 1);
    /* Many failures never overflow: the doubling stops at the cap. */
    struct cg_worker_config big = {.backoff_initial_ms = 1, .backoff_max_ms = UINT64_MAX / 2};
    cr_assert_eq(cg_worker_backoff_ms(&big, 1000000), UINT64_MAX / 2);
}

Test(pool, chooses_the_ready_worker_with_the_fewest_turns)
{
    struct cg_worker w[4];
    memset(w, 0, sizeof(w));
    enum cg_worker_state states[] = {CG_WORKER_READY, CG_WORKER_READY, CG_WORKER_BACKOFF,
                                     CG_WORKER_READY};
    size_t active[] = {3, 1, 0, 1};
    for (int i = 0; i < 4; i++) {
        w[i].state = states[i];
        w[i].active = active[i];
    }
    cr_assert_eq(cg_pool_choose(w, 4, 4), &w[1],
                 "fewest active, first of equals, never a "
                 "worker that is down");
    w[1].active = 4;
    w[3].active = 4;
    cr_assert_eq(cg_pool_choose(w, 4, 4), &w[0]);
    w[0].active = 4;
    cr_assert_null(cg_pool_choose(w, 4, 4), "all ready workers full");
    w[0].state = CG_WORKER_LOGIN_REQUIRED;
    w[0].active = 0;
    cr_assert_null(cg_pool_choose(w, 4, 4));
}

/* --- error mapping ----------------------------------------------------------------------- */

static enum cg_err map(const char *json)
{
    json_t *v = json_loads(json, 0, NULL);
    struct cg_error e;
    cg_codex_error_map(v, &e);
    json_decref(v);
    return e.code;
}

Test(codex_error, maps_codex_errors_to_openai_codes)
{
    cr_assert_eq(map("{\"message\":\"m\",\"codexErrorInfo\":\"contextWindowExceeded\"}"),
                 CG_ERR_CONTEXT_LENGTH);
    cr_assert_eq(map("{\"message\":\"m\",\"codexErrorInfo\":\"usageLimitExceeded\"}"),
                 CG_ERR_QUOTA_EXCEEDED);
    cr_assert_eq(map("{\"message\":\"m\",\"codexErrorInfo\":\"unauthorized\"}"),
                 CG_ERR_UPSTREAM_AUTH);
    cr_assert_eq(map("{\"message\":\"m\",\"codexErrorInfo\":{\"responseTooManyFailedAttempts\":"
                     "{\"httpStatusCode\":429}}}"),
                 CG_ERR_UPSTREAM_RATE_LIMIT);
    cr_assert_eq(map("{\"message\":\"m\",\"codexErrorInfo\":{\"httpConnectionFailed\":"
                     "{\"httpStatusCode\":401}}}"),
                 CG_ERR_UPSTREAM_AUTH);
    cr_assert_eq(map("{\"message\":\"m\",\"codexErrorInfo\":{\"httpConnectionFailed\":"
                     "{\"httpStatusCode\":null}}}"),
                 CG_ERR_BACKEND_ERROR);
    cr_assert_eq(map("{\"message\":\"m\",\"codexErrorInfo\":\"internalServerError\"}"),
                 CG_ERR_BACKEND_ERROR);
    cr_assert_eq(map("{\"message\":\"m\"}"), CG_ERR_BACKEND_ERROR);
    /* exec and proto give a message only. */
    cr_assert_eq(map("{\"message\":\"Your input exceeds the context window of this model.\"}"),
                 CG_ERR_CONTEXT_LENGTH);
    cr_assert_eq(map("{\"message\":\"You've hit your usage limit.\"}"), CG_ERR_QUOTA_EXCEEDED);
    cr_assert_eq(map("{\"message\":\"exceeded retry limit, last status: 429 Too Many Requests\"}"),
                 CG_ERR_UPSTREAM_RATE_LIMIT);
    cr_assert_eq(map("{\"message\":\"unexpected status 401 Unauthorized: invalid api key\"}"),
                 CG_ERR_UPSTREAM_AUTH);
    cr_assert_eq(map("{\"message\":\"context window\",\"codexErrorInfo\":\"other\"}"),
                 CG_ERR_BACKEND_ERROR, "codexErrorInfo, when there, decides");
    cr_assert_eq(map("{}"), CG_ERR_BACKEND_ERROR);
    json_t *v = json_loads(
        "{\"message\":\"too long\",\"codexErrorInfo\":\"contextWindowExceeded\"}", 0, NULL);
    struct cg_error e;
    cg_codex_error_map(v, &e);
    cr_assert_str_eq(e.message, "too long");
    cr_assert_str_eq(e.param, "messages");
    json_decref(v);
}

Test(jsonrpc, unwanted_notifications_are_skipped_unparsed_but_requests_never)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &ops, &r, 1 << 20, "t");
    feed(&rpc, "{\"method\":\"noise\",\"params\":{\"a\":not-even-json}}\n");
    feed(&rpc, "{\"id\":3,\"method\":\"noise\",\"params\":{}}\n");
    feed(&rpc, "{\"method\":\"noise\",\"id\":4,\"params\":{}}\n");
    feed(&rpc, "{\"method\":\"keep\",\"params\":{}}\n");
    feed(&rpc, " { \"params\" : {\"id\":1} , \"method\" : \"noise\" } \n");
    cr_assert_eq(rpc.stats.skipped, 2, "notifications in any member order");
    cr_assert_eq(r.nrequests, 2, "a request is never skipped, whatever its member order");
    cr_assert_eq(r.nnotes, 1);
    cr_assert_str_eq(r.notes[0], "keep");
    /* What the raw scan cannot judge exactly is parsed: a repeated method (the last one
     * counts), an escaped key. */
    feed(&rpc, "{\"method\":\"noise\",\"method\":\"keep2\"}\n");
    feed(&rpc, "{\"\\u006dethod\":\"noise\"}\n");
    cr_assert_eq(rpc.stats.skipped, 2);
    cr_assert_eq(r.nnotes, 3);
    cr_assert_str_eq(r.notes[1], "keep2");
    cr_assert_str_eq(r.notes[2], "noise");
    cr_assert_eq(rpc.stats.invalid, 0);
    cg_rpc_dispose(&rpc);
}

/* Codex numbers its own requests from 0 and writes the id first: a request whose id equals
 * one of our pending fire-and-forget calls is still a request, and the call stays pending. */
Test(jsonrpc, a_server_request_with_the_id_of_our_pending_call_is_a_request)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &ops, &r, 1 << 20, "t");
    uint64_t id = cg_rpc_call(&rpc, "turn/interrupt", NULL, 1000, 0, NULL, NULL);
    cr_assert_eq(id, 1);
    feed(&rpc, "{\"id\":1,\"method\":\"item/tool/call\",\"params\":{\"threadId\":\"T\"}}\n");
    feed(&rpc, "{\"id\":1,\"params\":{},\"method\":\"item/tool/requestUserInput\"}\n");
    cr_assert_eq(r.nrequests, 2);
    cr_assert_str_eq(r.requests[0], "item/tool/call");
    cr_assert_eq(cg_rpc_pending(&rpc), 1, "our call is still waiting for its answer");
    feed(&rpc, "{\"id\":1,\"result\":{},\"method\":\"x\"}\n"); /* a request, oddly shaped */
    cr_assert_eq(r.nrequests, 3);
    cr_assert_eq(cg_rpc_pending(&rpc), 1);
    feed(&rpc, "{\"id\":1,\"result\":{}}\n");
    cr_assert_eq(cg_rpc_pending(&rpc), 0);
    cr_assert_eq(rpc.stats.skipped, 1, "the answer itself is settled unparsed");
    cg_rpc_dispose(&rpc);
}

static int lates;
static char late_method[32];

static void rec_late(void *owner, const char *method, const char *thread_id, json_t *result)
{
    lates++;
    snprintf(late_method, sizeof(late_method), "%s", method);
}

static const struct cg_rpc_ops late_ops = {rec_send,   rec_note, rec_request, rec_oversized,
                                           rec_wanted, rec_late, NULL};

Test(jsonrpc, a_late_answer_goes_to_the_owner_once)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &late_ops, &r, 1 << 20, "t");
    cg_rpc_call(&rpc, "thread/start", NULL, 100, 0, on_result, &r);
    cg_rpc_call(&rpc, "thread/unsubscribe", NULL, 100, 0, NULL, NULL);
    cg_rpc_expire(&rpc, 100);
    cr_assert_eq(r.errors, 1);
    feed(&rpc, "{\"id\":1,\"result\":{\"thread\":{\"id\":\"T\"}}}\n");
    feed(&rpc, "{\"id\":1,\"result\":{\"thread\":{\"id\":\"T\"}}}\n");
    feed(&rpc, "{\"id\":2,\"result\":{}}\n");
    cr_assert_eq(lates, 1);
    cr_assert_str_eq(late_method, "thread/start");
    cr_assert_eq(rpc.stats.late, 1);
    cr_assert_eq(rpc.stats.unknown, 2, "a repeat and an answer to a fire-and-forget call");
    cr_assert_eq(r.errors, 1, "the callback ran once, with the timeout");
    /* Only the last CG_RPC_LATE_MAX are remembered. */
    for (int i = 0; i < CG_RPC_LATE_MAX + 1; i++)
        cg_rpc_call(&rpc, "thread/start", NULL, 100, 200, on_result, &r);
    while (cg_rpc_pending(&rpc) > 0)
        cg_rpc_expire(&rpc, 300); /* ids 3 .. 3 + CG_RPC_LATE_MAX */
    for (int i = 0; i < CG_RPC_LATE_MAX + 1; i++) {
        char line[64];
        snprintf(line, sizeof(line), "{\"id\":%d,\"result\":{}}\n", 3 + i);
        feed(&rpc, line);
    }
    cr_assert_eq(lates, 1 + CG_RPC_LATE_MAX, "the oldest timed-out call was forgotten");
    cg_rpc_dispose(&rpc);
}

Test(sessions, skips_notifications_it_would_not_use)
{
    cr_assert(cg_sessions_wants(CG_STR("item/agentMessage/delta"), CG_STR("{}")));
    cr_assert_not(cg_sessions_wants(CG_STR("thread/status/changed"), CG_STR("{}")));
    cr_assert(cg_sessions_wants(CG_STR("item/completed"),
                                CG_STR("{\"item\":{\"type\":\"agentMessage\"}}")));
    cr_assert_not(cg_sessions_wants(CG_STR("item/completed"),
                                    CG_STR("{\"item\":{\"type\":\"userMessage\",\"text\":"
                                           "\"\\\"type\\\":\\\"agentMessage\\\"\"}}")));
    cr_assert(cg_sessions_wants(CG_STR("rawResponseItem/completed"),
                                CG_STR("{\"item\":{\"type\":\"function_call\"}}")));
    cr_assert_not(cg_sessions_wants(CG_STR("rawResponseItem/completed"),
                                    CG_STR("{\"item\":{\"type\":\"message\"}}")));
}

Test(jsonrpc, responses_to_fire_and_forget_calls_are_settled_unparsed)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &ops, &r, 1 << 20, "t");
    cg_rpc_call(&rpc, "thread/unsubscribe", NULL, 1000, 0, NULL, NULL);
    cg_rpc_call(&rpc, "turn/start", NULL, 1000, 0, on_result, &r);
    feed(&rpc, "{\"id\":1,\"result\":{\"status\":\"unsubscribed\"}}\n");
    feed(&rpc, "{\"id\":2,\"result\":{\"turn\":{}}}\n");
    cr_assert_eq(rpc.stats.skipped, 1);
    cr_assert_eq(r.results, 1);
    cr_assert_eq(cg_rpc_pending(&rpc), 0);
    cg_rpc_dispose(&rpc);
}

/* --- rate limits ------------------------------------------------------------------------- */

Test(rate_limits, retry_after_comes_from_a_used_up_window)
{
    struct cg_rate_limits l = {0};
    cr_assert_eq(cg_rate_limits_retry_after_s(&l, 1000), 0, "nothing reported");
    json_t *snap = json_loads("{\"primary\":{\"usedPercent\":40,\"resetsAt\":2000},"
                              "\"secondary\":{\"usedPercent\":100,\"resetsAt\":1600}}",
                              0, NULL);
    cg_rate_limits_update(&l, snap);
    json_decref(snap);
    cr_assert_eq(cg_rate_limits_retry_after_s(&l, 1000), 600, "only the used-up window counts");
    snap = json_loads("{\"primary\":null,\"secondary\":null}", 0, NULL);
    cg_rate_limits_update(&l, snap);
    json_decref(snap);
    cr_assert_eq(cg_rate_limits_retry_after_s(&l, 1000), 600, "sparse updates keep the old");
    cr_assert_eq(cg_rate_limits_retry_after_s(&l, 1600), 0, "a reset in the past says nothing");
    snap = json_loads("{\"primary\":{\"usedPercent\":100,\"resetsAt\":1900}}", 0, NULL);
    cg_rate_limits_update(&l, snap);
    json_decref(snap);
    cr_assert_eq(cg_rate_limits_retry_after_s(&l, 1000), 900, "the latest reset of the two");
}

Test(jsonrpc, calls_are_written_as_jansson_writes_them)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    cg_rpc_init(&rpc, &ops, &r, 4096, "t");
    json_t *params =
        json_pack("{s:s,s:[{s:s,s:s},i,b,n],s:I,s:{}}", "threadId", "caf\xc3\xa9 \"q\"\n/", "input",
                  "type", "text", "text", "\x01\t\\", -7, 1, "big", (json_int_t)INT64_MIN, "none");
    json_t *msg =
        json_pack("{s:I,s:s,s:O}", "id", (json_int_t)1, "method", "turn/start", "params", params);
    char *want = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    cg_rpc_call(&rpc, "turn/start", params, 1000, 0, NULL, NULL);
    cr_assert_eq(r.nsent, 1);
    size_t n = strlen(r.sent[0]);
    cr_assert(n > 0 && r.sent[0][n - 1] == '\n');
    r.sent[0][n - 1] = '\0';
    cr_assert_str_eq(r.sent[0], want);
    free(want);
    /* A real is left to jansson. */
    cg_rpc_notify(&rpc, "x", json_pack("{s:f}", "t", 0.5));
    cr_assert_str_eq(r.sent[1], "{\"method\":\"x\",\"params\":{\"t\":0.5}}\n");
    cg_rpc_dispose(&rpc);
}

/* --- calls that want one member of their result ---------------------------------------- */

struct want_seen {
    bool called;
    bool failed;
    int64_t code;
    char message[256];
    char member[64]; /* json_string_value at the wanted path, "(none)" if NULL */
    size_t result_size;
};

static void on_want_result(void *data, json_t *result, const struct cg_rpc_error *err)
{
    struct want_seen *w = data;
    w->called = true;
    if (err) {
        w->failed = true;
        w->code = err->code;
        snprintf(w->message, sizeof(w->message), "%s", err->message);
        return;
    }
    const char *m = json_string_value(json_object_get(json_object_get(result, "thread"), "id"));
    snprintf(w->member, sizeof(w->member), "%s", m ? m : "(none)");
    w->result_size = json_is_object(result) ? json_object_size(result) : 0;
}

/* Feeds `answer` to a call made with `want` and returns what its callback saw. */
static struct want_seen answer_call(const char *const *want, const char *answer)
{
    struct rec r = {0};
    struct cg_rpc rpc;
    struct want_seen w = {0};
    cg_rpc_init(&rpc, &ops, &r, 1 << 20, "t");
    cg_rpc_call_want(&rpc, "thread/start", NULL, 1000, 0, want, on_want_result, &w);
    feed(&rpc, answer);
    cr_assert_eq(cg_rpc_pending(&rpc), 0, "%s", answer);
    cg_rpc_dispose(&rpc);
    return w;
}

Test(jsonrpc, a_request_that_carries_our_id_is_no_answer_to_a_wanting_call)
{
    static const char *const want[] = {"thread", "id", NULL};
    static const char *const lines[] = {
        "{\"id\":1,\"method\":\"x\",\"result\":{\"thread\":{\"id\":\"T5\"}}}\n",
        "{\"id\":1,\"result\":{\"thread\":{\"id\":\"T6\"}},\"method\":\"x\"}\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct rec r = {0};
        struct cg_rpc rpc;
        struct want_seen w = {0};
        cg_rpc_init(&rpc, &ops, &r, 1 << 20, "t");
        cg_rpc_call_want(&rpc, "thread/start", NULL, 1000, 0, want, on_want_result, &w);
        feed(&rpc, lines[i]);
        cr_assert(!w.called, "%s", lines[i]);
        cr_assert_eq(cg_rpc_pending(&rpc), 1, "still waiting: %s", lines[i]);
        cr_assert_eq(r.nrequests, 1, "handed over as a request: %s", lines[i]);
        cg_rpc_dispose(&rpc);
    }
}

Test(jsonrpc, a_wanted_member_reads_as_the_parsed_answer)
{
    static const char *const want[] = {"thread", "id", NULL};
    static const char *const answers[] = {
        "{\"id\":1,\"result\":{\"thread\":{\"id\":\"T1\",\"cwd\":\"/x\",\"turns\":[]},\"m\":1}}\n",
        "{\"result\":{\"thread\":{\"id\":\"T\\u00e9\\n\"}},\"id\":1}\n",
        "{\"id\":1,\"result\":{\"thread\":{\"cwd\":\"/x\"}}}\n",
        "{\"id\":1,\"result\":{\"thread\":[\"id\"]}}\n",
        "{\"id\":1,\"result\":{\"thread\":{\"id\":7}}}\n",
        "{\"id\":1,\"result\":{\"thread\":{\"id\":\"a\\u0000b\"}}}\n",
        "{\"id\":1,\"result\":{\"thread\":{\"id\":\"A\",\"id\":\"B\"}}}\n",
        "{\"id\":1,\"result\":{\"thread\":{\"id\":\"A\"},\"thread\":{\"id\":\"B\"}}}\n",
        "{\"id\":1,\"result\":[]}\n",
        "{\"id\":1,\"result\":null}\n",
        "{\"id\":1,\"error\":null,\"result\":{\"thread\":{\"id\":\"T2\"}}}\n",
        "{\"id\":1,\"error\":{\"code\":-32600,\"message\":\"bad\"}}\n",
        "{\"id\":1,\"error\":{\"message\":\"no code\"},\"result\":{\"thread\":{\"id\":\"T3\"}}}\n",
        "{\"id\":1,\"error\":\"text\"}\n",
        "{\"id\":1,\"result\":{\"thread\":{\"id\":\"T4\",\"x\":1.5}}}\n",
        "{\"id\":1,\"method\":null,\"result\":{\"thread\":{\"id\":\"T7\"}}}\n",
        "{\"id\":1,\"result\":{\"thread\":5}}\n",
        "{\"id\":1,\"result\":{}}\n",
    };
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        struct want_seen a = answer_call(want, answers[i]);
        struct want_seen b = answer_call(NULL, answers[i]);
        cr_assert(a.called && b.called, "%s", answers[i]);
        cr_assert_eq(a.failed, b.failed, "%s", answers[i]);
        cr_assert_eq(a.code, b.code, "%s", answers[i]);
        cr_assert_str_eq(a.message, b.message, "%s", answers[i]);
        cr_assert_str_eq(a.member, b.member, "%s", answers[i]);
    }
    /* The first answer is read from the raw bytes: only the wanted member is built. */
    struct want_seen a = answer_call(want, answers[0]);
    cr_assert_str_eq(a.member, "T1");
    cr_assert_eq(a.result_size, 1);
    static const char *const nothing[] = {NULL};
    a = answer_call(nothing, answers[0]);
    cr_assert_str_eq(a.member, "(none)");
    cr_assert_eq(a.result_size, 0);
}
