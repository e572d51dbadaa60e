/* turn.c: a turn's JSON-RPC sequence, its ending, and the translation of Codex notifications
 * into normalized events.
 *
 * References: the creator holds one until cg_turn_release; the session holds one from
 * cg_turn_begin until the Codex side is over; each pending call holds one. */
#include "backend/turn.h"
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/codex_error.h"
#include "backend/sessions.h"
#include "core/limits.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#define LOG_COMPONENT "turn"

static size_t live_turns;

/* --- lifetime ---------------------------------------------------------------------------- */

struct turn_box {
    struct cg_turn t;
    unsigned refs;
};

static unsigned *refs_of(struct cg_turn *t)
{
    return &CG_CONTAINER_OF(t, struct turn_box, t)->refs;
}

void cg_turn_hold(struct cg_turn *t)
{
    (*refs_of(t))++;
}

void cg_turn_put(struct cg_turn *t)
{
    if (--(*refs_of(t)) > 0)
        return;
    cg_reply_text_dispose(&t->text);
    json_decref(t->calls);
    free(CG_CONTAINER_OF(t, struct turn_box, t));
    live_turns--;
}

size_t cg_turn_live(void)
{
    return live_turns;
}

struct cg_turn *cg_turn_new(const struct cg_request *req, unsigned choice, cg_turn_event_cb cb,
                            void *data)
{
    struct turn_box *box = cg_xcalloc(1, sizeof(*box));
    struct cg_turn *t = &box->t;
    box->refs = 1;
    live_turns++;
    t->req = req;
    t->choice = choice;
    t->cb = cb;
    t->cb_data = data;
    t->state = CG_TURN_NEW;
    t->summary_index = -1;
    cg_reply_text_init(&t->text, CG_ANSWER_TEXT_MAX_BYTES);
    t->calls = json_array();
    return t;
}

/* --- events ------------------------------------------------------------------------------ */

static void emit(struct cg_turn *t, struct cg_event *ev)
{
    if (t->released || t->ended || t->cancel_requested || t->cb == NULL)
        return;
    ev->choice = t->choice;
    if (ev->type == CG_EVENT_FINISH || ev->type == CG_EVENT_ERROR)
        t->ended = true;
    t->cb(t, ev, t->cb_data);
}

static void emit_text(struct cg_turn *t, enum cg_event_type type, struct cg_str s)
{
    if (s.len == 0)
        return;
    struct cg_event ev = {.type = type, .text = s};
    emit(t, &ev);
}

static void emit_error(struct cg_turn *t, const struct cg_error *err)
{
    struct cg_event ev = {.type = CG_EVENT_ERROR, .error = err};
    emit(t, &ev);
}

static void emit_usage(struct cg_turn *t)
{
    struct cg_event ev = {.type = CG_EVENT_USAGE};
    ev.usage = t->usage;
    emit(t, &ev);
}

static void emit_finish(struct cg_turn *t, enum cg_finish f)
{
    emit_usage(t);
    struct cg_event ev = {.type = CG_EVENT_FINISH, .finish = f};
    emit(t, &ev);
}

/* --- params, written as bytes ------------------------------------------------------------
 *
 * The calls of a turn are small objects of known shape: written straight into a buffer, they
 * cost a fraction of building a value and dumping it. Only what a client sent as JSON (the
 * input, a schema, tools) is a value, and cg_json_write dumps it. The buffers are capped only
 * by the request, which the HTTP layer capped already. */

static void params_init(struct cg_buf *b)
{
    cg_buf_init(b, SIZE_MAX / 2);
}

/* Appends ,"key": (or {"key": when the buffer is empty): what every put starts with. */
static bool put_key(struct cg_buf *b, const char *key)
{
    return cg_buf_append_char(b, b->len ? ',' : '{') == 0 && cg_json_cstring(b, key) == 0 &&
           cg_buf_append_char(b, ':') == 0;
}

/* The values come from parsed JSON, the worker's scanned lines or the config, so are UTF-8; a
 * byte that is not would go out as U+FFFD (cg_json_string), never as invalid JSON. */
static bool put_string(struct cg_buf *b, const char *key, const char *value)
{
    return put_key(b, key) && cg_json_cstring(b, value) == 0;
}

/* Writes v as cg_json_write does. */
static bool put_value(struct cg_buf *b, const char *key, const json_t *v)
{
    return put_key(b, key) && cg_json_write(b, v) == 0;
}

/* Closes the object; `ok` is what the puts returned. The params are {NULL, 0} when they could
 * not be written (a value jansson cannot dump either): such a call is never sent. */
static struct cg_rpc_raw params_end(struct cg_buf *b, bool ok, const char *thread_id)
{
    if (!ok || cg_buf_append_char(b, '}') != 0)
        return (struct cg_rpc_raw){{NULL, 0}, thread_id};
    return (struct cg_rpc_raw){{b->data, b->len}, thread_id};
}

/* --- ending ------------------------------------------------------------------------------ */

/* The Codex side of the turn is over (or abandoned): free the slot and the thread. */
static void finish_turn(struct cg_turn *t)
{
    if (t->state == CG_TURN_DONE)
        return;
    struct cg_sessions *s = t->sess;
    if (t->pending_call) {
        cg_sessions_forget(s, t->pending_call);
        t->pending_call = 0;
        cg_turn_put(t); /* the forgotten call's reference */
    }
    if (t->thread_id[0]) {
        cg_sessions_remove(s, t);
        struct cg_buf b;
        params_init(&b);
        struct cg_rpc_raw params =
            params_end(&b, put_string(&b, "threadId", t->thread_id), t->thread_id);
        if (params.json.ptr)
            cg_sessions_call_raw(s, "thread/unsubscribe", &params, NULL, NULL, NULL);
        cg_buf_dispose(&b);
    }
    t->state = CG_TURN_DONE;
    if (s->turn_done)
        s->turn_done(s, t, s->data);
    cg_turn_put(t); /* the session's reference */
}

static void interrupt(struct cg_turn *t)
{
    if (t->state == CG_TURN_INTERRUPTING || t->state == CG_TURN_DONE)
        return;
    if (t->turn_id[0] == '\0') {
        finish_turn(t);
        return;
    }
    struct cg_buf b;
    params_init(&b);
    bool ok = put_string(&b, "threadId", t->thread_id) && put_string(&b, "turnId", t->turn_id);
    struct cg_rpc_raw params = params_end(&b, ok, t->thread_id);
    uint64_t id = params.json.ptr
                      ? cg_sessions_call_raw(t->sess, "turn/interrupt", &params, NULL, NULL, NULL)
                      : 0;
    cg_buf_dispose(&b);
    if (id == 0) {
        finish_turn(t); /* the worker is gone (or the call could not be written) */
        return;
    }
    t->state = CG_TURN_INTERRUPTING;
    t->interrupt_deadline_ms = cg_clock_mono_ms() + t->sess->interrupt_timeout_ms;
}

/* An error before or during the turn: tell the client, then wind the Codex side down. */
static void fail(struct cg_turn *t, const struct cg_error *err)
{
    emit_error(t, err);
    if (t->state == CG_TURN_RUNNING || t->state == CG_TURN_STARTING)
        interrupt(t);
    else
        finish_turn(t);
}

static void fail_rpc(struct cg_turn *t, const char *what, const struct cg_rpc_error *e)
{
    struct cg_error err;
    if (e->code == CG_RPC_ETIMEOUT)
        cg_error_set(&err, CG_ERR_TIMEOUT, NULL, "Codex did not answer %s in time", what);
    else if (e->code == CG_RPC_ECLOSED)
        cg_error_set(&err, CG_ERR_BACKEND_UNAVAILABLE, NULL, "%s", e->message);
    else
        cg_error_set(&err, CG_ERR_BACKEND_ERROR, NULL, "Codex rejected %s: %s", what, e->message);
    fail(t, &err);
}

/* --- the call sequence ------------------------------------------------------------------- */

/* Params are a value (`json`, stolen) or bytes (`raw`); `want` as cg_rpc_call_want's: the one
 * result member the callback reads (NULL: the whole). */
static bool call(struct cg_turn *t, const char *method, json_t *json, const struct cg_rpc_raw *raw,
                 const char *const *want, cg_rpc_result_cb cb)
{
    if (raw && raw->json.ptr == NULL) {
        struct cg_error err;
        cg_error_set(&err, CG_ERR_INTERNAL, NULL, "The %s call could not be written", method);
        fail(t, &err);
        return false;
    }
    cg_turn_hold(t);
    t->pending_call = raw ? cg_sessions_call_raw(t->sess, method, raw, want, cb, t)
                          : cg_sessions_call_want(t->sess, method, json, want, cb, t);
    if (t->pending_call)
        return true;
    cg_turn_put(t);
    struct cg_error err;
    cg_error_set(&err, CG_ERR_BACKEND_UNAVAILABLE, NULL, "Codex worker %u is not running",
                 t->sess->worker_id);
    fail(t, &err);
    return false;
}

/* The start of every step's callback: false when the sequence stops here (the turn ended
 * meanwhile, or the call failed and the turn now fails). The callback still drops the call's
 * reference. */
static bool step_ok(struct cg_turn *t, const char *what, const struct cg_rpc_error *e)
{
    t->pending_call = 0;
    if (t->state == CG_TURN_DONE)
        return false;
    if (e) {
        fail_rpc(t, what, e);
        return false;
    }
    return true;
}

static void on_turn_start(void *data, json_t *result, const struct cg_rpc_error *e)
{
    struct cg_turn *t = data;
    if (step_ok(t, "turn/start", e)) {
        const char *id = json_string_value(json_object_get(json_object_get(result, "turn"), "id"));
        if (t->turn_id[0] == '\0' && id)
            cg_buf_format(t->turn_id, sizeof(t->turn_id), "%s", id);
        if (t->state == CG_TURN_STARTING)
            t->state = CG_TURN_RUNNING;
        if (t->cancel_requested && t->state == CG_TURN_RUNNING)
            interrupt(t);
    }
    cg_turn_put(t);
}

static void start_turn(struct cg_turn *t)
{
    const struct cg_request *r = t->req;
    t->state = CG_TURN_STARTING;
    struct cg_buf b;
    params_init(&b);
    bool ok = put_string(&b, "threadId", t->thread_id);
    if (r->input)
        ok = ok && put_value(&b, "input", r->input);
    else
        ok = ok && cg_buf_append_str(&b, ",\"input\":[]") == 0;
    if (r->effort)
        ok = ok && put_string(&b, "effort", r->effort);
    if (r->summary)
        ok = ok && put_string(&b, "summary", r->summary);
    if (r->output_schema)
        ok = ok && put_value(&b, "outputSchema", r->output_schema);
    struct cg_rpc_raw params = params_end(&b, ok, t->thread_id);
    static const char *const turn_id[] = {"turn", "id", NULL}; /* what on_turn_start reads */
    call(t, "turn/start", NULL, &params, turn_id, on_turn_start);
    cg_buf_dispose(&b);
}

static const char *const no_member[] = {NULL}; /* on_injected reads no result */

static void on_injected(void *data, json_t *result, const struct cg_rpc_error *e)
{
    struct cg_turn *t = data;
    if (step_ok(t, "thread/inject_items", e)) {
        if (t->cancel_requested)
            finish_turn(t);
        else
            start_turn(t);
    }
    cg_turn_put(t);
}

static void on_thread_start(void *data, json_t *result, const struct cg_rpc_error *e)
{
    struct cg_turn *t = data;
    if (!step_ok(t, "thread/start", e)) {
        cg_turn_put(t);
        return;
    }
    const char *id = json_string_value(json_object_get(json_object_get(result, "thread"), "id"));
    if (id == NULL || strlen(id) >= sizeof(t->thread_id)) {
        struct cg_error err;
        cg_error_set(&err, CG_ERR_BACKEND_ERROR, NULL, "thread/start returned no usable thread id");
        fail(t, &err);
        cg_turn_put(t);
        return;
    }
    cg_buf_format(t->thread_id, sizeof(t->thread_id), "%s", id);
    cg_sessions_add(t->sess, t);
    if (t->cancel_requested) {
        finish_turn(t);
    } else if (t->req->history && json_array_size(t->req->history) > 0) {
        t->state = CG_TURN_INJECTING;
        call(t, "thread/inject_items",
             json_pack("{s:s,s:O}", "threadId", t->thread_id, "items", t->req->history), NULL,
             no_member, on_injected);
    } else {
        start_turn(t);
    }
    cg_turn_put(t);
}

void cg_turn_begin(struct cg_turn *t, struct cg_sessions *s)
{
    const struct cg_request *r = t->req;
    t->sess = s;
    t->state = CG_TURN_THREAD_STARTING;
    cg_turn_hold(t); /* the session's reference */
    struct cg_buf b;
    params_init(&b);
    bool ok = put_string(&b, "model", r->model->target) &&
              cg_buf_append_str(&b, ",\"ephemeral\":true,\"experimentalRawEvents\":true") == 0;
    if (r->base_instructions)
        ok = ok && put_string(&b, "baseInstructions", r->base_instructions);
    if (r->developer_instructions)
        ok = ok && put_string(&b, "developerInstructions", r->developer_instructions);
    if (r->dynamic_tools && json_array_size(r->dynamic_tools) > 0)
        ok = ok && put_value(&b, "dynamicTools", r->dynamic_tools);
    struct cg_rpc_raw params = params_end(&b, ok, NULL);
    static const char *const thread_id[] = {"thread", "id", NULL}; /* what on_thread_start reads */
    call(t, "thread/start", NULL, &params, thread_id, on_thread_start);
    cg_buf_dispose(&b);
}

void cg_turn_cancel(struct cg_turn *t)
{
    if (t->state == CG_TURN_NEW || t->state == CG_TURN_QUEUED || t->state == CG_TURN_DONE)
        return;
    t->cancel_requested = true; /* no events from here on */
    if (t->state == CG_TURN_RUNNING)
        interrupt(t);
    /* Other states act on cancel_requested when their pending call returns. */
}

void cg_turn_release(struct cg_turn *t)
{
    t->released = true;
    t->cb = NULL;
    t->cb_data = NULL;
    cg_turn_cancel(t);
    t->req = NULL;
    cg_turn_put(t);
}

void cg_turn_fail(struct cg_turn *t, const struct cg_error *err)
{
    cg_turn_hold(t); /* the callback may release the turn */
    t->state = CG_TURN_DONE;
    emit_error(t, err);
    cg_turn_put(t);
}

/* --- text -------------------------------------------------------------------------------- */

static void send_text(struct cg_turn *t, struct cg_reply_text_out out, const char *what)
{
    if (out.diverged)
        cg_log_debug("thread %s: %s text differs from what was sent", t->thread_id, what);
    emit_text(t, CG_EVENT_TEXT, out.sep);
    emit_text(t, CG_EVENT_TEXT, out.text);
}

/* The string member `key` of `obj` as bytes; false when there is none. */
static bool string_member(json_t *obj, const char *key, struct cg_str *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return false;
    *out = (struct cg_str){json_string_value(v), json_string_length(v)};
    return true;
}

static void on_delta(struct cg_turn *t, json_t *params)
{
    struct cg_str delta;
    if (!string_member(params, "delta", &delta))
        return;
    const char *item = json_string_value(json_object_get(params, "itemId"));
    send_text(t, cg_reply_text_delta(&t->text, item, delta), "re-streamed");
}

static void message_completed(struct cg_turn *t, const char *id, struct cg_str full)
{
    send_text(t, cg_reply_text_completed(&t->text, id, full), "completed");
}

static void on_message_completed(struct cg_turn *t, json_t *item)
{
    struct cg_str full;
    if (!string_member(item, "text", &full))
        return;
    message_completed(t, json_string_value(json_object_get(item, "id")), full);
}

static void on_reasoning_delta(struct cg_turn *t, json_t *params)
{
    struct cg_str delta;
    if (!string_member(params, "delta", &delta))
        return;
    int index = (int)json_integer_value(json_object_get(params, "summaryIndex"));
    if (index != t->summary_index) {
        if (t->summary_index >= 0)
            emit_text(t, CG_EVENT_REASONING, CG_STR("\n\n"));
        t->summary_index = index;
    }
    emit_text(t, CG_EVENT_REASONING, delta);
}

/* --- tools ------------------------------------------------------------------------------- */

static bool in_history(const struct cg_request *r, const char *call_id)
{
    size_t i;
    json_t *item;
    json_array_foreach(r->history, i, item)
    {
        const char *c = json_string_value(json_object_get(item, "call_id"));
        if (c && strcmp(c, call_id) == 0)
            return true;
    }
    return false;
}

/* A reasoning item is over: its encrypted_content goes to clients that replay it later
 * (reasoning the request itself replayed comes back too, and is not news). */
static void on_raw_reasoning(struct cg_turn *t, json_t *item)
{
    json_t *enc = json_object_get(item, "encrypted_content");
    if (!json_is_string(enc) || json_string_length(enc) == 0)
        return;
    size_t i;
    json_t *h;
    json_array_foreach(t->req->history, i, h)
    {
        if (json_equal(json_object_get(h, "encrypted_content"), enc))
            return;
    }
    struct cg_event ev = {.type = CG_EVENT_REASONING_END,
                          .text = {json_string_value(enc), json_string_length(enc)}};
    emit(t, &ev);
}

static void on_raw_item(struct cg_turn *t, json_t *item)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    if (type && strcmp(type, "reasoning") == 0 && !t->tools_ready) {
        on_raw_reasoning(t, item);
        return;
    }
    if (type == NULL || strcmp(type, "function_call") != 0 || t->tools_ready)
        return;
    const char *call_id = json_string_value(json_object_get(item, "call_id"));
    const char *alias = json_string_value(json_object_get(item, "name"));
    json_t *args = json_object_get(item, "arguments");
    if (call_id == NULL || alias == NULL || in_history(t->req, call_id))
        return; /* replayed history comes back as raw items too */
    /* A namespace's functions keep their names; only the namespace has an alias. */
    const char *ns_alias = json_string_value(json_object_get(item, "namespace"));
    const char *ns = ns_alias ? cg_request_tool_name(t->req, ns_alias) : NULL;
    const char *name = ns_alias ? (ns ? alias : NULL) : cg_request_tool_name(t->req, alias);
    if (name == NULL)
        return; /* one of Codex's own tools (agent mode): Codex runs it */
    size_t i;
    json_t *c;
    json_array_foreach(t->calls, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "call_id")), call_id) == 0)
            return;
    }
    json_array_append_new(
        t->calls, json_pack("{s:s,s:s,s:s*,s:s}", "call_id", call_id, "name", name, "namespace", ns,
                            "arguments", json_is_string(args) ? json_string_value(args) : "{}"));
}

/* All calls of the model response are known: hand them out and stop the turn, unanswered. */
static void deliver_tools(struct cg_turn *t)
{
    t->tools_ready = true;
    size_t i;
    json_t *c;
    json_array_foreach(t->calls, i, c)
    {
        struct cg_event start = {.type = CG_EVENT_TOOL_CALL_START,
                                 .call_id = json_string_value(json_object_get(c, "call_id")),
                                 .name = json_string_value(json_object_get(c, "name")),
                                 .ns = json_string_value(json_object_get(c, "namespace")),
                                 .tool_index = (unsigned)i};
        emit(t, &start);
        json_t *args = json_object_get(c, "arguments");
        struct cg_event delta = {.type = CG_EVENT_TOOL_CALL_ARGS,
                                 .tool_index = (unsigned)i,
                                 .text = {json_string_value(args), json_string_length(args)}};
        emit(t, &delta);
    }
    emit_finish(t, CG_FINISH_TOOL_CALLS);
    interrupt(t);
}

/* --- usage, errors and completion -------------------------------------------------------- */

static void read_usage(json_t *u, struct cg_usage *out)
{
    out->input = json_integer_value(json_object_get(u, "inputTokens"));
    out->cached = json_integer_value(json_object_get(u, "cachedInputTokens"));
    out->output = json_integer_value(json_object_get(u, "outputTokens"));
    out->reasoning = json_integer_value(json_object_get(u, "reasoningOutputTokens"));
}

/* A model response is over; `usage` NULL when it reported none. */
static void response_completed(struct cg_turn *t, const struct cg_usage *usage)
{
    if (usage) {
        cg_usage_add(&t->usage, usage);
    }
    if (json_array_size(t->calls) > 0 && !t->tools_ready) {
        deliver_tools(t);
    }
}

static void on_raw_completed(struct cg_turn *t, json_t *params)
{
    json_t *u = json_object_get(params, "usage");
    struct cg_usage one = {0};
    if (json_is_object(u)) {
        read_usage(u, &one);
    }
    response_completed(t, json_is_object(u) ? &one : NULL);
}

/* Codex's error as ours; an upstream 429 says when to retry (Codex's own text never does). */
static void map_error(struct cg_turn *t, json_t *turn_error)
{
    cg_codex_error_map(turn_error, &t->error);
    if (cg_codex_error_is_rate_limit(t->error.code))
        t->error.retry_after_s = cg_sessions_retry_after_s(t->sess);
    t->have_error = true;
}

static void on_error_notification(struct cg_turn *t, json_t *params)
{
    if (json_is_true(json_object_get(params, "willRetry"))) {
        const char *m =
            json_string_value(json_object_get(json_object_get(params, "error"), "message"));
        cg_log_info("thread %s: Codex retries: %.120s", t->thread_id, m ? m : "");
        cg_reply_text_retry(&t->text);
        return;
    }
    map_error(t, json_object_get(params, "error"));
}

/* `status` NULL when Codex sent none; `terr` the turn's error (NULL, or anything but an
 * object, when there is none to map). */
static void turn_completed(struct cg_turn *t, const char *status, json_t *terr)
{
    if (status == NULL)
        status = "completed";
    t->turn_id[0] = '\0'; /* Codex's turn is over: nothing to interrupt if the client leaves */
    if (t->released) {
        /* Nobody listens any more: only the Codex side is left to end. */
    } else if (strcmp(status, "failed") == 0) {
        if (json_is_object(terr)) {
            map_error(t, terr);
        } else if (!t->have_error) {
            cg_error_set(&t->error, CG_ERR_BACKEND_ERROR, NULL, "The Codex turn failed");
        }
        emit_error(t, &t->error);
    } else if (strcmp(status, "interrupted") == 0) {
        if (!t->tools_ready && !t->cancel_requested) {
            struct cg_error err;
            cg_error_set(&err, CG_ERR_BACKEND_ERROR, NULL, "The Codex turn was interrupted");
            emit_error(t, &err);
        }
    } else if (json_array_size(t->calls) > 0 && !t->tools_ready) {
        deliver_tools(t);
    } else {
        emit_finish(t, CG_FINISH_STOP);
    }
    finish_turn(t);
}

static void on_turn_completed(struct cg_turn *t, json_t *params)
{
    json_t *turn = json_object_get(params, "turn");
    turn_completed(t, json_string_value(json_object_get(turn, "status")),
                   json_object_get(turn, "error"));
}

void cg_turn_notification(struct cg_turn *t, const char *method, json_t *params)
{
    if (t->state == CG_TURN_DONE)
        return;
    if (strcmp(method, "turn/completed") == 0) {
        cg_turn_hold(t);
        on_turn_completed(t, params);
        cg_turn_put(t);
        return;
    }
    /* A released turn has no request to read and no one to tell; Codex may still be
     * finishing a function call or a response it had begun. */
    if (t->released)
        return;
    cg_turn_hold(t);
    if (strcmp(method, "item/agentMessage/delta") == 0) {
        on_delta(t, params);
    } else if (strcmp(method, "item/completed") == 0) {
        json_t *item = json_object_get(params, "item");
        const char *type = json_string_value(json_object_get(item, "type"));
        if (type && strcmp(type, "agentMessage") == 0)
            on_message_completed(t, item);
    } else if (strcmp(method, "item/reasoning/summaryTextDelta") == 0) {
        on_reasoning_delta(t, params);
    } else if (strcmp(method, "rawResponseItem/completed") == 0) {
        on_raw_item(t, json_object_get(params, "item"));
    } else if (strcmp(method, "rawResponse/completed") == 0) {
        on_raw_completed(t, params);
    } else if (strcmp(method, "error") == 0) {
        on_error_notification(t, params);
    }
    cg_turn_put(t);
}

/* What cg_turn_notification checks before any notification but turn/completed. */
static bool takes_notice(struct cg_turn *t)
{
    if (t->state == CG_TURN_DONE || t->released)
        return false;
    cg_turn_hold(t);
    return true;
}

void cg_turn_text_delta(struct cg_turn *t, const char *item_id, struct cg_str delta)
{
    if (!takes_notice(t))
        return;
    send_text(t, cg_reply_text_delta(&t->text, item_id, delta), "re-streamed");
    cg_turn_put(t);
}

void cg_turn_message_completed(struct cg_turn *t, const char *item_id, struct cg_str text)
{
    if (!takes_notice(t))
        return;
    message_completed(t, item_id, text);
    cg_turn_put(t);
}

void cg_turn_response_completed(struct cg_turn *t, const struct cg_usage *usage)
{
    if (!takes_notice(t))
        return;
    response_completed(t, usage);
    cg_turn_put(t);
}

void cg_turn_completed(struct cg_turn *t, const char *status)
{
    if (t->state == CG_TURN_DONE)
        return;
    cg_turn_hold(t);
    turn_completed(t, status, NULL);
    cg_turn_put(t);
}

void cg_turn_abort(struct cg_turn *t, const struct cg_error *err, bool abandon)
{
    if (t->state == CG_TURN_DONE)
        return;
    cg_turn_hold(t);
    if (abandon) {
        emit_error(t, err);
        finish_turn(t);
    } else {
        fail(t, err);
    }
    cg_turn_put(t);
}

void cg_turn_sweep(struct cg_turn *t, uint64_t now_ms)
{
    if (t->state != CG_TURN_INTERRUPTING || now_ms < t->interrupt_deadline_ms)
        return;
    cg_log_warn("thread %s: no turn/completed after turn/interrupt; dropping the thread",
                t->thread_id);
    cg_turn_hold(t);
    finish_turn(t);
    cg_turn_put(t);
}
