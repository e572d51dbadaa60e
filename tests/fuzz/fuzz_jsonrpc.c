/* fuzz_jsonrpc.c: bytes from a worker's stdout → the JSON-RPC line reader and dispatcher, with
 * calls pending (with and without callbacks, and timed out) so that responses can match, and
 * server requests answered as the gateway answers them.
 *
 * Oracle: each line is also fed on its own, and whenever the reader skips it unparsed (as an
 * unwanted notification, or as the answer to a fire-and-forget call) a full jansson parse of the
 * line must say the same: a notification of that method with no id, or a response to that id.
 * A line jansson rejects may be skipped as a notification (it is dropped either way). Calls that
 * want one member of their result (cg_rpc_call_want) get what the full parse of their answer
 * gives: the same error, or the same member. And a turn running on thread T0, fed the input
 * once with the hot notifications read from the raw bytes and once parsed, must tell its
 * creator the same (events, text, usage, error). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/jsonrpc.h"
#include "backend/sessions.h"
#include "backend/turn.h"
#include "core/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_LINE = 4096, WITH_CB = 3, WITHOUT_CB = 3, TIMED_OUT = 2, WANTING = 2 };

/* What the reader did with the line being fed. */
static struct {
    bool refused;              /* `wanted` said no */
    char method[MAX_LINE + 1]; /* ... to this method */
    size_t method_len;
} seen;

static void on_send(void *owner, char *line, size_t len)
{
    free(line);
}

static void on_notification(void *owner, const char *method, json_t *params)
{
}

static void on_request(void *owner, json_t *id, const char *method, json_t *params)
{
    cg_rpc_respond_error(owner, id, -32601, "not supported");
}

static void on_oversized(void *owner, const char *head, size_t hl, const char *tail, size_t tl)
{
}

static bool on_wanted(void *owner, struct cg_str method, struct cg_str line)
{
    if (method.len % 2 != 0)
        return true; /* skip about half, to exercise both paths */
    seen.refused = true;
    memcpy(seen.method, method.ptr, method.len);
    seen.method_len = method.len;
    return false;
}

static void on_late(void *owner, const char *method, const char *thread_id, json_t *result)
{
    if (result == NULL)
        abort();
}

static const struct cg_rpc_ops ops = {on_send,   on_notification, on_request, on_oversized,
                                      on_wanted, on_late,         NULL};

static void on_result(void *data, json_t *result, const struct cg_rpc_error *err)
{
    (*(int *)data)++;
}

/* Calls 1..WITH_CB with callbacks, then WITHOUT_CB fire-and-forget, then TIMED_OUT expired. */
static void start_calls(struct cg_rpc *rpc, int *settled)
{
    for (int i = 0; i < WITH_CB; i++)
        cg_rpc_call(rpc, "thread/start", NULL, 1000, 0, on_result, settled);
    for (int i = 0; i < WITHOUT_CB; i++)
        cg_rpc_call(rpc, "thread/unsubscribe", NULL, 1000, 0, NULL, NULL);
    for (int i = 0; i < TIMED_OUT; i++)
        cg_rpc_call(rpc, "thread/start", NULL, 0, 0, on_result, settled);
    cg_rpc_expire(rpc, 0);
}

/* The line being fed one at a time, for the calls that want one member of their result. */
static struct {
    const char *line;
    size_t len;
    int settled;
} wanting;

/* A call made with cg_rpc_call_want({"thread", "id"}) got what handle_response would hand
 * over for the full parse of the line: the same error, or a result whose thread.id is the same. */
static void on_wanted_result(void *data, json_t *result, const struct cg_rpc_error *err)
{
    wanting.settled++;
    if (wanting.line == NULL) {
        if (err == NULL || err->code != CG_RPC_ECLOSED)
            abort(); /* only the dispose settles these with no line */
        return;
    }
    size_t len = wanting.len;
    while (len > 0 && (wanting.line[len - 1] == '\r' || wanting.line[len - 1] == ' '))
        len--;
    json_t *msg = json_loadb(wanting.line, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(msg))
        abort(); /* settled by a line that is no message */
    json_t *error = json_object_get(msg, "error");
    if (error && !json_is_null(error)) {
        json_t *code = json_object_get(error, "code");
        int64_t want_code = json_is_integer(code) ? json_integer_value(code) : -32603;
        const char *m = json_string_value(json_object_get(error, "message"));
        char want_message[sizeof(err->message)];
        snprintf(want_message, sizeof(want_message), "%s", m ? m : "error without a message");
        if (err == NULL || err->code != want_code || strcmp(err->message, want_message) != 0)
            abort();
    } else {
        json_t *full = json_object_get(msg, "result");
        const json_t *want = json_object_get(json_object_get(full, "thread"), "id");
        const json_t *got = json_object_get(json_object_get(result, "thread"), "id");
        if (err != NULL || result == NULL || (want == NULL) != (got == NULL) ||
            (want && !json_equal(want, got)))
            abort();
    }
    json_decref(msg);
}

/* The full parse must agree with what the reader decided without it. */
static void check_line(const char *line, size_t len, bool refused, uint64_t settled_id)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    json_t *msg = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    bool object = json_is_object(msg);
    json_t *id = json_object_get(msg, "id");
    json_t *method = json_object_get(msg, "method");
    if (refused && object) {
        if (!json_is_string(method) || json_string_length(method) != seen.method_len ||
            memcmp(json_string_value(method), seen.method, seen.method_len) != 0)
            abort(); /* skipped as a notification of another method */
        if (id && !json_is_null(id))
            abort(); /* skipped a request */
    }
    if (settled_id) {
        if (!object || json_is_string(method))
            abort(); /* settled our call on something that is no response */
        if (!json_is_integer(id) || (uint64_t)json_integer_value(id) != settled_id)
            abort(); /* settled the wrong call */
        if (!json_object_get(msg, "result") && !json_object_get(msg, "error"))
            abort();
    }
    json_decref(msg);
}

static void feed_lines(const uint8_t *data, size_t size)
{
    struct cg_rpc rpc;
    int settled = 0;
    cg_rpc_init(&rpc, &ops, &rpc, MAX_LINE, "fuzz-lines");
    start_calls(&rpc, &settled);
    static const char *const thread_id[] = {"thread", "id", NULL};
    for (int i = 0; i < WANTING; i++)
        cg_rpc_call_want(&rpc, "thread/start", NULL, 1000, 0, thread_id, on_wanted_result, NULL);
    wanting.settled = 0;
    const char *p = (const char *)data;
    const char *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len < MAX_LINE) {
            bool before[WITH_CB + WITHOUT_CB + 1] = {false};
            for (uint64_t i = 1; i <= WITH_CB + WITHOUT_CB; i++)
                before[i] = cg_map_get_int(&rpc.pending, i) != NULL;
            uint64_t skipped = rpc.stats.skipped;
            seen.refused = false;
            wanting.line = p;
            wanting.len = len;
            cg_rpc_feed(&rpc, p, len);
            cg_rpc_feed(&rpc, "\n", 1);
            wanting.line = NULL;
            uint64_t settled_id = 0;
            for (uint64_t i = 1; i <= WITH_CB + WITHOUT_CB; i++) {
                if (before[i] && cg_map_get_int(&rpc.pending, i) == NULL && i > WITH_CB &&
                    rpc.stats.skipped > skipped)
                    settled_id = i;
            }
            if (rpc.stats.skipped > skipped && !seen.refused && settled_id == 0)
                abort(); /* skipped for no reason the reader has */
            check_line(p, len, rpc.stats.skipped > skipped && seen.refused, settled_id);
        }
        p += len + 1;
    }
    cg_rpc_dispose(&rpc);
    if (settled != WITH_CB + TIMED_OUT || wanting.settled != WANTING)
        abort();
}

/* --- a running turn, fed the raw way and the parsed way --------------------------------- */

/* One side: a worker's JSON-RPC reader with the sessions behind it and one turn running on
 * thread T0, and what the turn told its creator. */
struct side {
    struct cg_rpc rpc;
    struct cg_sessions sess;
    bool parsed_only; /* hot notifications not read from the raw bytes */
    struct cg_request req;
    struct cg_turn *turn;
    bool released;
    int events[CG_EVENT_ERROR + 1];
    uint64_t text_hash; /* FNV-1a of every text event's bytes, in order */
    size_t text_len;
    enum cg_err error;
    struct cg_usage usage;
};

static void side_send(void *owner, char *line, size_t len)
{
    free(line);
}

static void side_notification(void *owner, const char *method, json_t *params)
{
    struct side *d = owner;
    cg_sessions_notification(&d->sess, method, params);
}

static void side_request(void *owner, json_t *id, const char *method, json_t *params)
{
    struct side *d = owner;
    cg_sessions_request(&d->sess, id, method, params);
}

static void side_oversized(void *owner, const char *head, size_t hl, const char *tail, size_t tl)
{
    struct side *d = owner;
    cg_sessions_oversized(&d->sess, head, hl, tail, tl);
}

static bool side_wanted(void *owner, struct cg_str method, struct cg_str line)
{
    struct side *d = owner;
    return d->parsed_only ? cg_sessions_wants(method, line)
                          : cg_sessions_offer(&d->sess, method, line);
}

static void side_late(void *owner, const char *method, const char *thread_id, json_t *result)
{
    struct side *d = owner;
    cg_sessions_late(&d->sess, method, thread_id, result);
}

static bool side_take(void *owner, struct cg_str method, struct cg_str line)
{
    struct side *d = owner;
    return !d->parsed_only && cg_sessions_take(&d->sess, method, line);
}

static const struct cg_rpc_ops side_rpc_ops = {
    side_send, side_notification, side_request, side_oversized, side_wanted, side_late, side_take};

static uint64_t side_call(void *peer, const char *method, json_t *params, const char *const *want,
                          cg_rpc_result_cb cb, void *data)
{
    struct side *d = peer;
    return cg_rpc_call_want(&d->rpc, method, params, 1000, 0, d->parsed_only ? NULL : want, cb,
                            data);
}

static uint64_t side_call_raw(void *peer, const char *method, const struct cg_rpc_raw *params,
                              const char *const *want, cg_rpc_result_cb cb, void *data)
{
    struct side *d = peer;
    return cg_rpc_call_raw(&d->rpc, method, params, 1000, 0, d->parsed_only ? NULL : want, cb,
                           data);
}

static void side_forget(void *peer, uint64_t id)
{
    struct side *d = peer;
    cg_rpc_forget(&d->rpc, id);
}

static void side_respond(void *peer, json_t *id, json_t *result)
{
    struct side *d = peer;
    cg_rpc_respond(&d->rpc, id, result);
}

static void side_respond_error(void *peer, json_t *id, int64_t code, const char *message)
{
    struct side *d = peer;
    cg_rpc_respond_error(&d->rpc, id, code, message);
}

static const struct cg_sessions_ops side_sess_ops = {side_call, side_call_raw, side_forget,
                                                     side_respond, side_respond_error};

static void side_event(struct cg_turn *t, const struct cg_event *ev, void *data)
{
    struct side *d = data;
    d->events[ev->type]++;
    if (ev->type == CG_EVENT_TEXT) {
        for (size_t i = 0; i < ev->text.len; i++)
            d->text_hash = (d->text_hash ^ (unsigned char)ev->text.ptr[i]) * 0x100000001b3u;
        d->text_len += ev->text.len;
    }
    if (ev->type == CG_EVENT_USAGE)
        d->usage = ev->usage;
    if (ev->type == CG_EVENT_ERROR)
        d->error = ev->error->code;
}

static const struct cg_model side_model = {.id = "codex-5", .target = "gpt-5.5"};

static void side_feed(struct side *d, const char *s)
{
    cg_rpc_feed(&d->rpc, s, strlen(s));
}

static void side_start(struct side *d, bool parsed_only)
{
    memset(d, 0, sizeof(*d));
    d->parsed_only = parsed_only;
    d->text_hash = 0xcbf29ce484222325u;
    cg_rpc_init(&d->rpc, &side_rpc_ops, d, MAX_LINE, "fuzz-side");
    cg_sessions_init_peer(&d->sess, &side_sess_ops, d, 0, 1000, 30);
    cg_request_init(&d->req);
    d->req.model = &side_model;
    d->req.n = 1;
    d->req.input = json_pack("[{s:s,s:s}]", "type", "text", "text", "hi");
    d->turn = cg_turn_new(&d->req, 0, side_event, d);
    cg_turn_begin(d->turn, &d->sess);
    side_feed(d, "{\"id\":1,\"result\":{\"thread\":{\"id\":\"T0\"}}}\n");
    side_feed(d, "{\"id\":2,\"result\":{\"turn\":{\"id\":\"U0\"}}}\n");
    if (d->turn->state != CG_TURN_RUNNING)
        abort();
}

static void side_end(struct side *d)
{
    cg_turn_release(d->turn);
    cg_rpc_fail_all(&d->rpc, CG_RPC_ECLOSED, "gone");
    cg_sessions_lost(&d->sess, "gone");
    cg_rpc_dispose(&d->rpc);
    cg_sessions_dispose(&d->sess);
    cg_request_dispose(&d->req);
}

/* The same lines tell the turn the same, read from the raw bytes or parsed. */
static void raw_against_parsed(const uint8_t *data, size_t size)
{
    static struct side raw;
    static struct side parsed;
    side_start(&raw, false);
    side_start(&parsed, true);
    cg_rpc_feed(&raw.rpc, (const char *)data, size);
    cg_rpc_feed(&raw.rpc, "\n", 1);
    cg_rpc_feed(&parsed.rpc, (const char *)data, size);
    cg_rpc_feed(&parsed.rpc, "\n", 1);
    if (memcmp(raw.events, parsed.events, sizeof(raw.events)) != 0 ||
        raw.text_hash != parsed.text_hash || raw.text_len != parsed.text_len ||
        raw.error != parsed.error || memcmp(&raw.usage, &parsed.usage, sizeof(raw.usage)) != 0 ||
        raw.turn->state != parsed.turn->state)
        abort();
    side_end(&raw);
    side_end(&parsed);
    if (cg_turn_live() != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cg_rpc rpc;
    int settled = 0;
    cg_rpc_init(&rpc, &ops, &rpc, MAX_LINE, "fuzz");
    start_calls(&rpc, &settled);
    /* Feed in pieces so lines split across reads, like pipe reads do. */
    size_t off = 0;
    size_t step = size ? 1 + data[0] % 97 : 1;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        cg_rpc_feed(&rpc, (const char *)data + off, n);
        off += n;
    }
    cg_rpc_expire(&rpc, 500);
    cg_rpc_dispose(&rpc);
    if (settled != WITH_CB + TIMED_OUT)
        abort(); /* every call is settled exactly once */
    feed_lines(data, size);
    raw_against_parsed(data, size);
    return 0;
}
