/* test_sessions.c: the turn/session state machine driven by a scripted JSON-RPC peer, with no
 * processes: a real cg_rpc whose `send` captures our lines and whose feed takes the peer's, and
 * the sessions' calls routed into it. Every test ends with every turn freed. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/jsonrpc.h"
#include "backend/sessions.h"
#include "backend/turn.h"
#include "core/request.h"
#include "util/clock.h"

enum { SENT_MAX = 64, TURNS_MAX = 4, TIMEOUT_MS = 1000 };

struct peer {
    struct cg_rpc rpc;
    struct cg_sessions sess;
    json_t *sent[SENT_MAX]; /* our messages, parsed */
    size_t nsent;
    bool gone;
    bool parsed_only; /* every notification the sessions want goes the parsed way */
    uint64_t now_ms;
    int turns_done;
};

/* The creator of the turns, like api/run.c: it owns the request and, when `release_on_error`,
 * gives up every turn and frees the request on the first error. */
struct creator {
    struct cg_request *req;
    struct cg_turn *turns[TURNS_MAX];
    size_t nturns;
    bool release_on_error;
    int events[CG_EVENT_ERROR + 1];
    int events_after_release;
    bool released;
    struct cg_error last_error;
    char text[256];
    char tool[128];        /* the last call: "<ns>/<name>" or "-/<name>" */
    char encrypted[128];   /* the last REASONING_END's encrypted_content */
    struct cg_usage usage; /* the last USAGE */
};

static struct peer P;
static struct creator C;

/* --- the peer ---------------------------------------------------------------------------- */

static void on_send(void *owner, char *line, size_t len)
{
    json_t *msg = json_loadb(line, len, 0, NULL);
    cr_assert_not_null(msg, "we sent invalid JSON: %.*s", (int)len, line);
    cr_assert_lt(P.nsent, SENT_MAX);
    P.sent[P.nsent++] = msg;
    free(line);
}

static void on_notification(void *owner, const char *method, json_t *params)
{
    cg_sessions_notification(&P.sess, method, params);
}

static void on_request(void *owner, json_t *id, const char *method, json_t *params)
{
    cg_sessions_request(&P.sess, id, method, params);
}

static void on_oversized(void *owner, const char *head, size_t hl, const char *tail, size_t tl)
{
    cg_sessions_oversized(&P.sess, head, hl, tail, tl);
}

static bool on_wanted(void *owner, struct cg_str method, struct cg_str line)
{
    return P.parsed_only ? cg_sessions_wants(method, line)
                         : cg_sessions_offer(&P.sess, method, line);
}

static void on_late(void *owner, const char *method, const char *thread_id, json_t *result)
{
    cg_sessions_late(&P.sess, method, thread_id, result);
}

static bool on_take(void *owner, struct cg_str method, struct cg_str line)
{
    return !P.parsed_only && cg_sessions_take(&P.sess, method, line);
}

static const struct cg_rpc_ops rpc_ops = {on_send,   on_notification, on_request, on_oversized,
                                          on_wanted, on_late,         on_take};

static uint64_t peer_call(void *peer, const char *method, json_t *params, const char *const *want,
                          cg_rpc_result_cb cb, void *data)
{
    if (P.gone) {
        json_decref(params);
        return 0;
    }
    return cg_rpc_call_want(&P.rpc, method, params, TIMEOUT_MS, P.now_ms,
                            P.parsed_only ? NULL : want, cb, data);
}

static uint64_t peer_call_raw(void *peer, const char *method, const struct cg_rpc_raw *params,
                              const char *const *want, cg_rpc_result_cb cb, void *data)
{
    if (P.gone)
        return 0;
    return cg_rpc_call_raw(&P.rpc, method, params, TIMEOUT_MS, P.now_ms,
                           P.parsed_only ? NULL : want, cb, data);
}

static void peer_forget(void *peer, uint64_t id)
{
    cg_rpc_forget(&P.rpc, id);
}

static void peer_respond(void *peer, json_t *id, json_t *result)
{
    cg_rpc_respond(&P.rpc, id, result);
}

static void peer_respond_error(void *peer, json_t *id, int64_t code, const char *message)
{
    cg_rpc_respond_error(&P.rpc, id, code, message);
}

static const struct cg_sessions_ops sess_ops = {peer_call, peer_call_raw, peer_forget, peer_respond,
                                                peer_respond_error};

static void on_turn_done(struct cg_sessions *s, struct cg_turn *t, void *data)
{
    P.turns_done++;
}

static void setup(void)
{
    memset(&P, 0, sizeof(P));
    memset(&C, 0, sizeof(C));
    cg_rpc_init(&P.rpc, &rpc_ops, &P, 1 << 20, "peer");
    cg_sessions_init_peer(&P.sess, &sess_ops, &P, 0, TIMEOUT_MS, 30);
    P.sess.turn_done = on_turn_done;
}

static void teardown(void)
{
    for (size_t i = 0; i < P.nsent; i++)
        json_decref(P.sent[i]);
    cg_rpc_dispose(&P.rpc);
    cg_sessions_dispose(&P.sess);
}

TestSuite(sessions_sm, .init = setup, .fini = teardown);

static void feedf(const char *fmt, ...) CG_PRINTF(1, 2);
static void feedf(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && (size_t)n < sizeof(line) - 1);
    line[n] = '\n';
    cg_rpc_feed(&P.rpc, line, (size_t)n + 1);
}

/* The last message we sent with `method`, or NULL. */
static json_t *sent_last(const char *method)
{
    for (size_t i = P.nsent; i-- > 0;) {
        const char *m = json_string_value(json_object_get(P.sent[i], "method"));
        if (m && strcmp(m, method) == 0)
            return P.sent[i];
    }
    return NULL;
}

static size_t sent_count(const char *method)
{
    size_t n = 0;
    for (size_t i = 0; i < P.nsent; i++) {
        const char *m = json_string_value(json_object_get(P.sent[i], "method"));
        n += m && strcmp(m, method) == 0;
    }
    return n;
}

static json_int_t call_id(const char *method)
{
    json_t *msg = sent_last(method);
    cr_assert_not_null(msg, "no %s was sent", method);
    return json_integer_value(json_object_get(msg, "id"));
}

/* Answers our last `method` call with `result` (JSON text). */
static void answer(const char *method, const char *result)
{
    feedf("{\"id\":%" JSON_INTEGER_FORMAT ",\"result\":%s}", call_id(method), result);
}

/* --- the creator ------------------------------------------------------------------------- */

static void release_all(void)
{
    for (size_t i = 0; i < C.nturns; i++)
        cg_turn_release(C.turns[i]);
    C.released = true;
    cg_request_dispose(C.req);
    free(C.req); /* a turn that still read it would be caught by ASan */
    C.req = NULL;
}

static void on_event(struct cg_turn *t, const struct cg_event *ev, void *data)
{
    if (C.released)
        C.events_after_release++;
    C.events[ev->type]++;
    if (ev->type == CG_EVENT_TEXT) {
        size_t have = strlen(C.text);
        snprintf(C.text + have, sizeof(C.text) - have, "%.*s", (int)ev->text.len, ev->text.ptr);
    }
    if (ev->type == CG_EVENT_USAGE)
        C.usage = ev->usage;
    if (ev->type == CG_EVENT_TOOL_CALL_START)
        snprintf(C.tool, sizeof(C.tool), "%s/%s", ev->ns ? ev->ns : "-", ev->name);
    if (ev->type == CG_EVENT_REASONING_END)
        snprintf(C.encrypted, sizeof(C.encrypted), "%.*s", (int)ev->text.len, ev->text.ptr);
    if (ev->type == CG_EVENT_ERROR) {
        C.last_error = *ev->error;
        if (C.release_on_error && !C.released)
            release_all();
    }
}

static struct cg_model model = {.id = "codex-5", .target = "gpt-5.5"};

/* A request with one client tool (get_weather, alias cg_get_weather) and a replayed call. */
static void make_request(unsigned n)
{
    C.req = calloc(1, sizeof(*C.req));
    cg_request_init(C.req);
    C.req->model = &model;
    C.req->n = n;
    C.req->history = json_pack("[{s:s,s:s,s:s,s:s}]", "type", "function_call", "call_id", "old",
                               "name", "cg_get_weather", "arguments", "{}");
    C.req->input = json_pack("[{s:s,s:s}]", "type", "text", "text", "hi");
    C.req->dynamic_tools = json_pack("[{s:s}]", "name", "cg_get_weather");
    C.req->tool_names = calloc(1, sizeof(*C.req->tool_names));
    C.req->tool_names[0].alias = strdup("cg_get_weather");
    C.req->tool_names[0].name = strdup("get_weather");
    C.req->tool_count = 1;
    for (unsigned i = 0; i < n; i++)
        C.turns[C.nturns++] = cg_turn_new(C.req, i, on_event, &C);
}

/* Drives turn `i` to RUNNING on thread T<i>, turn U<i>. */
static void run_turn(size_t i)
{
    cg_turn_begin(C.turns[i], &P.sess);
    answer("thread/start",
           i == 0 ? "{\"thread\":{\"id\":\"T0\"}}" : "{\"thread\":{\"id\":\"T1\"}}");
    answer("thread/inject_items", "{}");
    answer("turn/start", i == 0 ? "{\"turn\":{\"id\":\"U0\"}}" : "{\"turn\":{\"id\":\"U1\"}}");
    cr_assert_eq(C.turns[i]->state, CG_TURN_RUNNING);
}

static void feed_function_call(const char *thread, const char *call)
{
    feedf("{\"method\":\"rawResponseItem/"
          "completed\",\"params\":{\"threadId\":\"%s\",\"turnId\":\"U\","
          "\"item\":{\"type\":\"function_call\",\"name\":\"cg_get_weather\",\"arguments\":"
          "\"{\\\"city\\\":\\\"Paris\\\"}\",\"call_id\":\"%s\"}}}",
          thread, call);
}

static void feed_raw_completed(const char *thread)
{
    feedf("{\"method\":\"rawResponse/completed\",\"params\":{\"threadId\":\"%s\",\"turnId\":\"U\","
          "\"responseId\":\"r\",\"usage\":{\"inputTokens\":3,\"cachedInputTokens\":0,"
          "\"outputTokens\":2,\"reasoningOutputTokens\":0}}}",
          thread);
}

static void feed_turn_completed(const char *thread, const char *status, const char *error)
{
    feedf("{\"method\":\"turn/completed\",\"params\":{\"threadId\":\"%s\",\"turn\":{\"id\":\"U\","
          "\"status\":\"%s\",\"error\":%s}}}",
          thread, status, error);
}

static void feed_delta(const char *thread, const char *text)
{
    feedf(
        "{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"%s\",\"turnId\":\"U\","
        "\"itemId\":\"m1\",\"delta\":\"%s\"}}",
        thread, text);
}

/* Every turn freed, every thread gone, nothing of ours left pending but fire-and-forget. */
static void assert_all_over(void)
{
    if (!C.released)
        release_all();
    cr_assert_eq(cg_turn_live(), 0, "%zu turn(s) still allocated", cg_turn_live());
    cr_assert_eq(P.sess.threads.count, 0);
    cr_assert_eq(P.turns_done, (int)C.nturns);
}

/* Codex ends an interrupted turn: nobody hears of it, its thread is dropped, all is over. */
static void end_interrupted(const char *thread, size_t unsubscribes)
{
    feed_turn_completed(thread, "interrupted", "null");
    cr_assert_eq(C.events_after_release, 0);
    cr_assert_eq(sent_count("thread/unsubscribe"), unsubscribes);
    assert_all_over();
}

/* --- tests ------------------------------------------------------------------------------- */

Test(sessions_sm, a_full_turn_streams_text_and_unsubscribes)
{
    make_request(1);
    run_turn(0);
    feed_delta("T0", "Hel");
    feed_delta("T0", "lo");
    feedf("{\"method\":\"item/completed\",\"params\":{\"threadId\":\"T0\",\"item\":{\"type\":"
          "\"agentMessage\",\"id\":\"m1\",\"text\":\"Hello!\"}}}");
    feed_raw_completed("T0");
    feed_turn_completed("T0", "completed", "null");
    cr_assert_str_eq(C.text, "Hello!");
    cr_assert_eq(C.events[CG_EVENT_FINISH], 1);
    cr_assert_eq(C.events[CG_EVENT_USAGE], 1);
    cr_assert_eq(sent_count("thread/unsubscribe"), 1);
    json_t *inject = sent_last("thread/inject_items");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(inject, "params"), "items")), 1);
    assert_all_over();
}

Test(sessions_sm, a_namespace_call_comes_back_with_the_clients_namespace)
{
    make_request(1);
    C.req->tool_names = realloc(C.req->tool_names, 2 * sizeof(*C.req->tool_names));
    C.req->tool_names[1].alias = strdup("cg_weather");
    C.req->tool_names[1].name = strdup("weather");
    C.req->tool_count = 2;
    run_turn(0);
    /* a namespace Codex owns (agent mode) is not the client's: nothing is handed out */
    feedf("{\"method\":\"rawResponseItem/completed\",\"params\":{\"threadId\":\"T0\",\"item\":"
          "{\"type\":\"function_call\",\"namespace\":\"multi_agent_v1\",\"name\":\"spawn\","
          "\"arguments\":\"{}\",\"call_id\":\"c0\"}}}");
    feedf("{\"method\":\"rawResponseItem/completed\",\"params\":{\"threadId\":\"T0\",\"item\":"
          "{\"type\":\"function_call\",\"namespace\":\"cg_weather\",\"name\":\"forecast\","
          "\"arguments\":\"{}\",\"call_id\":\"c1\"}}}");
    feed_raw_completed("T0");
    cr_assert_eq(C.events[CG_EVENT_TOOL_CALL_START], 1);
    cr_assert_str_eq(C.tool, "weather/forecast");
    feed_turn_completed("T0", "interrupted", "null");
    assert_all_over();
}

Test(sessions_sm, raw_reasoning_hands_over_its_encrypted_content_once)
{
    make_request(1);
    json_array_append_new(C.req->history, json_pack("{s:s,s:[],s:s}", "type", "reasoning",
                                                    "summary", "encrypted_content", "gOLD"));
    run_turn(0);
#define RAW_REASONING                                                                              \
    "{\"method\":\"rawResponseItem/completed\",\"params\":{\"threadId\":\"T0\",\"item\":{"         \
    "\"type\":\"reasoning\",\"summary\":[],\"encrypted_content\":\"%s\"}}}"
    cr_assert(cg_sessions_wants(
        CG_STR("rawResponseItem/completed"),
        CG_STR("{\"item\":{\"type\":\"reasoning\",\"encrypted_content\":\"g\"}}")));
    cr_assert_not(cg_sessions_wants(CG_STR("rawResponseItem/completed"),
                                    CG_STR("{\"item\":{\"type\":\"message\"}}")));
    feedf(RAW_REASONING, "gOLD"); /* replayed history: not news */
    cr_assert_eq(C.events[CG_EVENT_REASONING_END], 0);
    feedf(RAW_REASONING, "gNEW");
    cr_assert_eq(C.events[CG_EVENT_REASONING_END], 1);
    cr_assert_str_eq(C.encrypted, "gNEW");
    feed_raw_completed("T0");
    feed_turn_completed("T0", "completed", "null");
    assert_all_over();
#undef RAW_REASONING
}

/* Bug 1: the client went away mid-turn (run.c releases its turns and frees the request) while
 * Codex was still emitting a function call. */
Test(sessions_sm, a_released_turn_reads_nothing_of_its_request)
{
    make_request(1);
    run_turn(0);
    feed_delta("T0", "Let me check.");
    cr_assert_eq(C.events[CG_EVENT_TEXT], 1);
    release_all();
    cr_assert_eq(C.turns[0]->req, NULL);
    cr_assert_eq(sent_count("turn/interrupt"), 1);
    cr_assert_eq(cg_turn_live(), 1, "the turn lives on until Codex has wound down");
    feed_function_call("T0", "call_1");
    feed_raw_completed("T0");
    feedf("{\"method\":\"error\",\"params\":{\"threadId\":\"T0\",\"willRetry\":false,\"error\":"
          "{\"message\":\"m\"}}}");
    feed_delta("T0", "more");
    answer("turn/interrupt", "{}");
    cr_assert_eq(cg_turn_live(), 1);
    end_interrupted("T0", 1);
}

/* A released turn whose turn/completed never comes is ended by the interrupt deadline. */
Test(sessions_sm, an_unanswered_interrupt_ends_at_its_deadline)
{
    make_request(1);
    run_turn(0);
    release_all();
    feed_function_call("T0", "call_1");
    cg_sessions_sweep(&P.sess, cg_clock_mono_ms());
    cr_assert_eq(cg_turn_live(), 1, "not before the deadline");
    cg_sessions_sweep(&P.sess, cg_clock_mono_ms() + TIMEOUT_MS + 1);
    cr_assert_eq(sent_count("thread/unsubscribe"), 1);
    feed_turn_completed("T0", "interrupted", "null"); /* too late: nobody is listening */
    assert_all_over();
}

/* Bug 2: Codex numbers its requests from 0, and one may carry the id of our pending
 * fire-and-forget call (here thread/unsubscribe of an earlier turn). */
Test(sessions_sm, a_worker_request_with_the_id_of_our_pending_call_is_answered)
{
    make_request(2);
    run_turn(0);
    feed_turn_completed("T0", "completed", "null");
    json_int_t unsub = call_id("thread/unsubscribe");
    run_turn(1);
    feedf("{\"id\":%" JSON_INTEGER_FORMAT ",\"method\":\"item/commandExecution/requestApproval\","
          "\"params\":{\"threadId\":\"T1\",\"turnId\":\"U1\",\"itemId\":\"i\"}}",
          unsub);
    json_t *reply = P.sent[P.nsent - 1];
    cr_assert_eq(json_integer_value(json_object_get(reply, "id")), unsub);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(reply, "result"), "decision")),
        "decline");
    cr_assert_not_null(cg_map_get_int(&P.rpc.pending, (uint64_t)unsub), "ours still pending");
    /* A tool call with a colliding id is held for the turn, not taken as an answer. */
    size_t before = P.nsent;
    feedf("{\"id\":%" JSON_INTEGER_FORMAT ",\"method\":\"item/tool/call\",\"params\":{\"threadId\":"
          "\"T1\",\"callId\":\"c\"}}",
          unsub);
    cr_assert_eq(P.nsent, before);
    cr_assert_not_null(cg_map_get_int(&P.rpc.pending, (uint64_t)unsub));
    feed_function_call("T1", "c");
    feed_raw_completed("T1");
    cr_assert_eq(C.events[CG_EVENT_TOOL_CALL_START], 1);
    feed_turn_completed("T1", "interrupted", "null");
    assert_all_over();
}

/* Released with thread/start (steps 0) or thread/inject_items (1) pending: the answer ends
 * the turn, and no turn is started on the thread. */
static void release_before_turn_start(int steps)
{
    static const char *const calls[][2] = {{"thread/start", "{\"thread\":{\"id\":\"T0\"}}"},
                                           {"thread/inject_items", "{}"}};
    make_request(1);
    cg_turn_begin(C.turns[0], &P.sess);
    for (int i = 0; i < steps; i++)
        answer(calls[i][0], calls[i][1]);
    release_all();
    answer(calls[steps][0], calls[steps][1]);
    cr_assert_eq(sent_count("thread/inject_items"), (size_t)steps);
    cr_assert_eq(sent_count("turn/start"), 0);
    cr_assert_eq(sent_count("thread/unsubscribe"), 1);
    assert_all_over();
}

Test(sessions_sm, cancelled_while_thread_start_is_pending)
{
    release_before_turn_start(0);
}

Test(sessions_sm, cancelled_while_inject_is_pending)
{
    release_before_turn_start(1);
}

Test(sessions_sm, cancelled_while_turn_start_is_pending)
{
    make_request(1);
    cg_turn_begin(C.turns[0], &P.sess);
    answer("thread/start", "{\"thread\":{\"id\":\"T0\"}}");
    answer("thread/inject_items", "{}");
    release_all();
    feed_delta("T0", "early");
    answer("turn/start", "{\"turn\":{\"id\":\"U0\"}}");
    cr_assert_eq(sent_count("turn/interrupt"), 1);
    feed_turn_completed("T0", "interrupted", "null");
    cr_assert_eq(C.events_after_release, 0);
    assert_all_over();
}

/* Codex may end the turn before it answers the interrupt. */
Test(sessions_sm, turn_completed_before_the_interrupt_answer)
{
    make_request(1);
    run_turn(0);
    cg_turn_cancel(C.turns[0]);
    json_int_t irq = call_id("turn/interrupt");
    feed_turn_completed("T0", "interrupted", "null");
    cr_assert_eq(C.turns[0]->state, CG_TURN_DONE);
    feedf("{\"id\":%" JSON_INTEGER_FORMAT ",\"result\":{}}", irq);
    cr_assert_eq(cg_rpc_pending(&P.rpc), 1, "only the unsubscribe is left");
    cr_assert_eq(C.events[CG_EVENT_ERROR], 0, "a cancelled turn tells nobody");
    assert_all_over();
}

/* n > 1: choice 0 fails mid-stream, the creator gives up both turns and frees the request;
 * choice 1 was in the middle of a function call and Codex finishes it anyway. */
Test(sessions_sm, a_failing_choice_ends_its_sibling_safely)
{
    make_request(2);
    C.release_on_error = true;
    run_turn(0);
    run_turn(1);
    feed_delta("T0", "a");
    feed_delta("T1", "b");
    feed_turn_completed("T0", "failed", "{\"message\":\"boom\",\"codexErrorInfo\":\"other\"}");
    cr_assert(C.released);
    cr_assert_eq(C.events[CG_EVENT_ERROR], 1);
    cr_assert_eq(sent_count("turn/interrupt"), 1, "the sibling is interrupted");
    feed_function_call("T1", "call_9");
    feed_delta("T1", "c");
    feed_raw_completed("T1");
    end_interrupted("T1", 2);
}

/* Bug 6: a thread/start answered after its deadline is unsubscribed, not left loaded. */
Test(sessions_sm, a_late_thread_start_is_unsubscribed)
{
    make_request(1);
    cg_turn_begin(C.turns[0], &P.sess);
    json_int_t start = call_id("thread/start");
    cg_rpc_expire(&P.rpc, P.now_ms + TIMEOUT_MS);
    cr_assert_eq(C.events[CG_EVENT_ERROR], 1);
    cr_assert_eq(C.last_error.code, CG_ERR_TIMEOUT);
    feedf("{\"id\":%" JSON_INTEGER_FORMAT ",\"result\":{\"thread\":{\"id\":\"LATE\"}}}", start);
    json_t *unsub = sent_last("thread/unsubscribe");
    cr_assert_not_null(unsub);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(unsub, "params"), "threadId")), "LATE");
    assert_all_over();
}

/* A turn/start answered after its deadline: the turn it started runs for nobody, so it is
 * interrupted on the thread the call named. */
Test(sessions_sm, a_late_turn_start_is_interrupted)
{
    make_request(1);
    cg_turn_begin(C.turns[0], &P.sess);
    answer("thread/start", "{\"thread\":{\"id\":\"T0\"}}");
    answer("thread/inject_items", "{}");
    json_int_t start = call_id("turn/start");
    cg_rpc_expire(&P.rpc, P.now_ms + TIMEOUT_MS);
    cr_assert_eq(C.events[CG_EVENT_ERROR], 1);
    cr_assert_eq(C.last_error.code, CG_ERR_TIMEOUT);
    feedf("{\"id\":%" JSON_INTEGER_FORMAT ",\"result\":{\"turn\":{\"id\":\"LATE\"}}}", start);
    json_t *intr = sent_last("turn/interrupt");
    cr_assert_not_null(intr);
    json_t *params = json_object_get(intr, "params");
    cr_assert_str_eq(json_string_value(json_object_get(params, "threadId")), "T0");
    cr_assert_str_eq(json_string_value(json_object_get(params, "turnId")), "LATE");
    assert_all_over();
}

/* Bug 9b: an upstream 429 says when to retry. */
Test(sessions_sm, an_upstream_429_carries_retry_after)
{
    make_request(2);
    run_turn(0);
    static const char rate_limited[] = "{\"message\":\"exceeded retry limit, last status: 429\","
                                       "\"codexErrorInfo\":{\"responseTooManyFailedAttempts\":"
                                       "{\"httpStatusCode\":429}}}";
    feed_turn_completed("T0", "failed", rate_limited);
    cr_assert_eq(C.last_error.code, CG_ERR_UPSTREAM_RATE_LIMIT);
    cr_assert_eq(C.last_error.retry_after_s, 30, "the default without a reported reset");
    long long resets = (long long)(cg_clock_wall_ms() / 1000) + 120;
    feedf(
        "{\"method\":\"account/rateLimits/updated\",\"params\":{\"rateLimits\":{\"limitId\":"
        "\"codex\",\"primary\":{\"usedPercent\":100,\"windowDurationMins\":300,\"resetsAt\":%lld},"
        "\"secondary\":null}}}",
        resets);
    run_turn(1);
    feed_turn_completed("T1", "failed", rate_limited);
    cr_assert(C.last_error.retry_after_s >= 118 && C.last_error.retry_after_s <= 120, "%u",
              C.last_error.retry_after_s);
    assert_all_over();
}

/* The worker died: every running turn fails at once. */
Test(sessions_sm, a_lost_worker_fails_its_turns)
{
    make_request(2);
    run_turn(0);
    run_turn(1);
    P.gone = true;
    cg_rpc_fail_all(&P.rpc, CG_RPC_ECLOSED, "gone");
    cg_sessions_lost(&P.sess, "Codex worker 0 exited");
    cr_assert_eq(C.events[CG_EVENT_ERROR], 2);
    cr_assert_eq(C.last_error.code, CG_ERR_BACKEND_UNAVAILABLE);
    assert_all_over();
}

/* Lines read from the raw bytes (cg_sessions_offer) and the same lines parsed tell the turn the
 * same, including those the raw reader declines. */
static void run_tricky_turn(void)
{
    make_request(1);
    run_turn(0);
    feed_delta("T0", "caf\\u00e9\\n");
    feedf("{\"method\":\"item/agentMessage/delta\",\"params\":{\"delta\":\" \\ud83d\\ude00\","
          "\"threadId\":\"T\\u0030\"}}"); /* no itemId; an escaped thread id */
    feedf("{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"T0\",\"itemId\":7,"
          "\"delta\":\"!\"}}");
    feedf("{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"T0\",\"itemId\":"
          "\"m1\",\"delta\":\"?\"},\"emittedAtMs\":1.5}"); /* a real: declined */
    feedf("{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"T0\",\"delta\":5}}");
    feedf("{\"method\":\"item/completed\",\"params\":{\"item\":{\"type\":\"agentMessage\","
          "\"id\":\"m1\",\"text\":\"caf\\u00e9\\n \\ud83d\\ude00!?\"},\"threadId\":\"T0\"}}");
    feedf("{\"method\":\"rawResponse/completed\",\"params\":{\"threadId\":\"T0\",\"usage\":{"
          "\"inputTokens\":3,\"cachedInputTokens\":1,\"outputTokens\":\"2\","
          "\"reasoningOutputTokens\":null}}}");
    feedf("{\"method\":\"rawResponse/completed\",\"params\":{\"threadId\":\"T0\",\"usage\":{"
          "\"inputTokens\":2.0,\"outputTokens\":4}}}");
    feedf("{\"method\":\"rawResponse/completed\",\"params\":{\"threadId\":\"T0\",\"usage\":[]}}");
    feedf("{\"method\":\"turn/completed\",\"params\":{\"threadId\":\"T0\",\"turn\":{\"id\":"
          "\"U0\",\"error\":null}}}"); /* no status: completed */
}

Test(sessions_sm, raw_and_parsed_notifications_tell_the_turn_the_same)
{
    run_tricky_turn();
    struct creator raw = C;
    uint64_t raw_skipped = P.rpc.stats.skipped;
    assert_all_over();
    teardown();
    setup();
    P.parsed_only = true;
    run_tricky_turn();
    cr_assert_str_eq(raw.text, C.text);
    cr_assert(strncmp(C.text, "caf\xc3\xa9\n \xf0\x9f\x98\x80", 10) == 0, "%s", C.text);
    cr_assert(memcmp(raw.events, C.events, sizeof(C.events)) == 0);
    cr_assert_eq(raw.usage.input, C.usage.input);
    cr_assert_eq(raw.usage.cached, C.usage.cached);
    cr_assert_eq(raw.usage.output, C.usage.output);
    cr_assert_eq(raw.usage.reasoning, C.usage.reasoning);
    cr_assert_eq(C.events[CG_EVENT_FINISH], 1);
    /* The raw way took most of them: deltas, the message, two responses, the end. */
    cr_assert_geq(raw_skipped, P.rpc.stats.skipped + 7, "%llu vs %llu",
                  (unsigned long long)raw_skipped, (unsigned long long)P.rpc.stats.skipped);
    assert_all_over();
}

Test(sessions_sm, a_failed_turn_with_an_error_object_goes_the_parsed_way)
{
    make_request(1);
    run_turn(0);
    feed_turn_completed("T0", "failed", "{\"message\":\"boom\"}");
    cr_assert_eq(C.events[CG_EVENT_ERROR], 1);
    cr_assert_eq(C.last_error.code, CG_ERR_BACKEND_ERROR);
    assert_all_over();
}

/* --- the raw path against the parsed path ------------------------------------------------ */

/* What a scenario left behind, to compare the raw way with the parsed way. */
struct outcome {
    struct creator c;
    uint64_t skipped;
    size_t sent;
    size_t errors_sent; /* our answers with an error: requests refused */
};

static struct outcome outcome_of(void (*scenario)(void))
{
    scenario();
    struct outcome o = {C, P.rpc.stats.skipped, P.nsent, 0};
    for (size_t i = 0; i < P.nsent; i++)
        o.errors_sent += json_object_get(P.sent[i], "error") != NULL;
    assert_all_over();
    return o;
}

/* Runs `scenario` the raw way and the parsed way and requires the same outcome; returns how
 * many more lines the raw way took unparsed. */
static uint64_t same_both_ways(void (*scenario)(void))
{
    teardown();
    setup();
    struct outcome raw = outcome_of(scenario);
    teardown();
    setup();
    P.parsed_only = true;
    struct outcome parsed = outcome_of(scenario);
    cr_assert_str_eq(raw.c.text, parsed.c.text);
    cr_assert(memcmp(raw.c.events, parsed.c.events, sizeof(raw.c.events)) == 0);
    cr_assert_eq(raw.c.events_after_release, 0);
    cr_assert_eq(parsed.c.events_after_release, 0);
    cr_assert_eq(raw.c.last_error.code, parsed.c.last_error.code);
    cr_assert_str_eq(raw.c.last_error.message, parsed.c.last_error.message);
    cr_assert_eq(raw.c.usage.input, parsed.c.usage.input);
    cr_assert_eq(raw.c.usage.output, parsed.c.usage.output);
    cr_assert_eq(raw.sent, parsed.sent);
    cr_assert_eq(raw.errors_sent, parsed.errors_sent);
    cr_assert_geq(raw.skipped, parsed.skipped);
    return raw.skipped - parsed.skipped;
}

static void released_turn(void)
{
    make_request(1);
    run_turn(0);
    feed_delta("T0", "a");
    release_all();
    feed_delta("T0", "b");
    feedf("{\"method\":\"item/completed\",\"params\":{\"threadId\":\"T0\",\"item\":{\"type\":"
          "\"agentMessage\",\"id\":\"m1\",\"text\":\"ab\"}}}");
    feed_raw_completed("T0");
    answer("turn/interrupt", "{}");
    feed_turn_completed("T0", "interrupted", "null");
}

Test(sessions_sm, raw_lines_for_a_released_turn_reach_nobody)
{
    cr_assert_geq(same_both_ways(released_turn), 4);
    cr_assert_str_eq(C.text, "a");
}

static void unknown_thread(void)
{
    make_request(1);
    run_turn(0);
    feed_delta("T9", "nobody");
    feedf("{\"method\":\"item/completed\",\"params\":{\"threadId\":\"T9\",\"item\":{\"type\":"
          "\"agentMessage\",\"id\":\"m1\",\"text\":\"nobody\"}}}");
    feed_raw_completed("T9");
    feed_turn_completed("T9", "completed", "null");
    feed_delta("T0", "mine");
    feed_turn_completed("T0", "completed", "null");
}

Test(sessions_sm, raw_lines_for_an_unknown_thread_are_dropped)
{
    cr_assert_geq(same_both_ways(unknown_thread), 6);
    cr_assert_str_eq(C.text, "mine");
    cr_assert_eq(C.events[CG_EVENT_FINISH], 1);
}

static void failed_without_error_object(void)
{
    make_request(1);
    run_turn(0);
    feed_turn_completed("T0", "failed", "null");
}

static void failed_without_error_member(void)
{
    make_request(1);
    run_turn(0);
    feedf("{\"method\":\"turn/completed\",\"params\":{\"threadId\":\"T0\",\"turn\":{\"id\":\"U0\","
          "\"status\":\"failed\"}}}");
}

Test(sessions_sm, raw_turn_failed_without_an_error_object_fails_as_parsed)
{
    cr_assert_geq(same_both_ways(failed_without_error_object), 1);
    cr_assert_eq(C.events[CG_EVENT_ERROR], 1);
    cr_assert_geq(same_both_ways(failed_without_error_member), 1);
    cr_assert_eq(C.events[CG_EVENT_ERROR], 1);
}

static void ids_with_nul(void)
{
    make_request(1);
    run_turn(0);
    feed_delta("T0", "a");
    feedf("{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"T0\",\"itemId\":"
          "\"m\\u00001\",\"delta\":\"b\"}}");
    feedf("{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"T0\\u0000\","
          "\"itemId\":\"m1\",\"delta\":\"c\"}}");
    feedf("{\"method\":\"item/completed\",\"params\":{\"threadId\":\"T0\",\"item\":{\"type\":"
          "\"agentMessage\",\"id\":\"m\\u00001\",\"text\":\"ab\"}}}");
    feed_turn_completed("T0", "completed", "null");
}

Test(sessions_sm, raw_ids_holding_a_nul_read_as_parsed)
{
    same_both_ways(ids_with_nul);
    cr_assert_eq(C.events[CG_EVENT_FINISH], 1);
}

static void long_item_id(void)
{
    char id[160];
    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    make_request(1);
    run_turn(0);
    feedf("{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"T0\",\"itemId\":"
          "\"%s\",\"delta\":\"long \"}}",
          id);
    feedf("{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"T0\",\"itemId\":"
          "\"%.127s\",\"delta\":\"id\"}}",
          id);
    feedf("{\"method\":\"item/completed\",\"params\":{\"threadId\":\"T0\",\"item\":{\"type\":"
          "\"agentMessage\",\"id\":\"%s\",\"text\":\"long id\"}}}",
          id);
    feed_turn_completed("T0", "completed", "null");
}

Test(sessions_sm, raw_item_ids_of_128_bytes_and_more_read_as_parsed)
{
    same_both_ways(long_item_id);
    cr_assert_eq(C.events[CG_EVENT_FINISH], 1);
    cr_assert_str_eq(C.text, "long id");
}

/* A line that starts like a hot notification but carries an id is the worker's request. */
static void hot_method_with_an_id(void)
{
    make_request(1);
    run_turn(0);
    feedf("{\"method\":\"item/agentMessage/delta\",\"id\":41,\"params\":{\"threadId\":\"T0\","
          "\"itemId\":\"m1\",\"delta\":\"request\"}}");
    feedf("{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"T0\",\"itemId\":"
          "\"m1\",\"delta\":\"x\"},\"method\":\"item/agentMessage/delta\"}"); /* repeated */
    feed_delta("T0", "ok");
    feed_turn_completed("T0", "completed", "null");
}

Test(sessions_sm, a_hot_method_with_an_id_is_a_request_both_ways)
{
    same_both_ways(hot_method_with_an_id);
    cr_assert_eq(C.events[CG_EVENT_FINISH], 1);
    cr_assert(strstr(C.text, "request") == NULL, "%s", C.text);
}
