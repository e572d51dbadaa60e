/* appserver.c: a turn's JSON-RPC sequence and the translation of Codex notifications into
 * normalized events.
 *
 * Text: deltas are passed on as they arrive, but Codex's `item/completed` is authoritative: if it
 * holds more than was streamed, the rest is sent then. After a mid-stream retry (an `error`
 * notification with willRetry) Codex streams the whole message again in a new item; the part the
 * client already has is not sent twice.
 *
 * References: the creator holds one until cg_turn_release; the session holds one from
 * cg_turn_begin until the Codex side is over; each pending call holds one. */
#include "backend/appserver.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#define LOG_COMPONENT "appserver"

enum { TURN_TEXT_MAX_BYTES = 256 * 1024 * 1024 };

/* --- lifetime ---------------------------------------------------------------------------- */

struct turn_box {
    struct cg_turn t;
    unsigned refs;
};

static unsigned *refs_of(struct cg_turn *t)
{
    return &CG_CONTAINER_OF(t, struct turn_box, t)->refs;
}

static void turn_hold(struct cg_turn *t)
{
    (*refs_of(t))++;
}

static void turn_put(struct cg_turn *t)
{
    if (--(*refs_of(t)) > 0)
        return;
    cg_buf_dispose(&t->item_text);
    cg_buf_dispose(&t->retry_text);
    json_decref(t->calls);
    free(CG_CONTAINER_OF(t, struct turn_box, t));
}

struct cg_turn *cg_turn_new(const struct cg_request *req, unsigned choice, cg_turn_event_cb cb,
                            void *data)
{
    struct turn_box *box = cg_xcalloc(1, sizeof(*box));
    struct cg_turn *t = &box->t;
    box->refs = 1;
    t->req = req;
    t->choice = choice;
    t->cb = cb;
    t->cb_data = data;
    t->state = CG_TURN_NEW;
    t->summary_index = -1;
    cg_buf_init(&t->item_text, TURN_TEXT_MAX_BYTES);
    cg_buf_init(&t->retry_text, TURN_TEXT_MAX_BYTES);
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

static void emit_text(struct cg_turn *t, enum cg_event_type type, const char *p, size_t n)
{
    if (n == 0)
        return;
    struct cg_event ev = {.type = type, .text = {p, n}};
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

/* --- ending ------------------------------------------------------------------------------ */

static bool worker_alive(const struct cg_turn *t)
{
    return t->sess && t->sess->worker->rpc_live;
}

/* The Codex side of the turn is over (or abandoned): free the slot and the thread. */
static void finish_turn(struct cg_turn *t)
{
    if (t->state == CG_TURN_DONE)
        return;
    struct cg_sessions *s = t->sess;
    if (t->pending_call) {
        cg_worker_forget(s->worker, t->pending_call);
        t->pending_call = 0;
        turn_put(t); /* the forgotten call's reference */
    }
    if (t->thread_id[0]) {
        cg_map_remove_str(&s->threads, t->thread_id, strlen(t->thread_id));
        if (worker_alive(t))
            cg_worker_call(s->worker, "thread/unsubscribe",
                           json_pack("{s:s}", "threadId", t->thread_id), NULL, NULL);
    }
    t->state = CG_TURN_DONE;
    if (s->turn_done)
        s->turn_done(s, t, s->data);
    turn_put(t); /* the session's reference */
}

static void interrupt(struct cg_turn *t)
{
    if (t->state == CG_TURN_INTERRUPTING || t->state == CG_TURN_DONE)
        return;
    if (t->turn_id[0] == '\0' || !worker_alive(t)) {
        finish_turn(t);
        return;
    }
    t->state = CG_TURN_INTERRUPTING;
    t->interrupt_deadline_ms = cg_clock_mono_ms() + t->sess->interrupt_timeout_ms;
    cg_worker_call(t->sess->worker, "turn/interrupt",
                   json_pack("{s:s,s:s}", "threadId", t->thread_id, "turnId", t->turn_id), NULL,
                   NULL);
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

static bool call(struct cg_turn *t, const char *method, json_t *params, cg_rpc_result_cb cb)
{
    turn_hold(t);
    t->pending_call = cg_worker_call(t->sess->worker, method, params, cb, t);
    if (t->pending_call)
        return true;
    turn_put(t);
    struct cg_error err;
    cg_error_set(&err, CG_ERR_BACKEND_UNAVAILABLE, NULL, "Codex worker %u is not running",
                 t->sess->worker->id);
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
            snprintf(t->turn_id, sizeof(t->turn_id), "%s", id);
        if (t->state == CG_TURN_STARTING)
            t->state = CG_TURN_RUNNING;
        if (t->cancel_requested && t->state == CG_TURN_RUNNING)
            interrupt(t);
    }
    turn_put(t);
}

static void start_turn(struct cg_turn *t)
{
    const struct cg_request *r = t->req;
    t->state = CG_TURN_STARTING;
    json_t *params = json_pack("{s:s}", "threadId", t->thread_id);
    if (r->input)
        json_object_set(params, "input", r->input);
    else
        json_object_set_new(params, "input", json_array());
    if (r->effort)
        json_object_set_new(params, "effort", json_string(r->effort));
    if (r->summary)
        json_object_set_new(params, "summary", json_string(r->summary));
    if (r->output_schema)
        json_object_set(params, "outputSchema", r->output_schema);
    call(t, "turn/start", params, on_turn_start);
}

static void on_injected(void *data, json_t *result, const struct cg_rpc_error *e)
{
    struct cg_turn *t = data;
    if (step_ok(t, "thread/inject_items", e)) {
        if (t->cancel_requested)
            finish_turn(t);
        else
            start_turn(t);
    }
    turn_put(t);
}

static void on_thread_start(void *data, json_t *result, const struct cg_rpc_error *e)
{
    struct cg_turn *t = data;
    if (!step_ok(t, "thread/start", e)) {
        turn_put(t);
        return;
    }
    const char *id = json_string_value(json_object_get(json_object_get(result, "thread"), "id"));
    if (id == NULL || strlen(id) >= sizeof(t->thread_id)) {
        struct cg_error err;
        cg_error_set(&err, CG_ERR_BACKEND_ERROR, NULL, "thread/start returned no usable thread id");
        fail(t, &err);
        turn_put(t);
        return;
    }
    snprintf(t->thread_id, sizeof(t->thread_id), "%s", id);
    cg_map_put_str(&t->sess->threads, t->thread_id, strlen(t->thread_id), t);
    if (t->cancel_requested) {
        finish_turn(t);
    } else if (t->req->history && json_array_size(t->req->history) > 0) {
        t->state = CG_TURN_INJECTING;
        call(t, "thread/inject_items",
             json_pack("{s:s,s:O}", "threadId", t->thread_id, "items", t->req->history),
             on_injected);
    } else {
        start_turn(t);
    }
    turn_put(t);
}

void cg_turn_begin(struct cg_turn *t, struct cg_sessions *s)
{
    const struct cg_request *r = t->req;
    t->sess = s;
    t->state = CG_TURN_THREAD_STARTING;
    turn_hold(t); /* the session's reference */
    json_t *params = json_pack("{s:s,s:b,s:b}", "model", r->model->target, "ephemeral", 1,
                               "experimentalRawEvents", 1);
    if (r->base_instructions)
        json_object_set_new(params, "baseInstructions", json_string(r->base_instructions));
    if (r->developer_instructions)
        json_object_set_new(params, "developerInstructions",
                            json_string(r->developer_instructions));
    if (r->dynamic_tools && json_array_size(r->dynamic_tools) > 0)
        json_object_set(params, "dynamicTools", r->dynamic_tools);
    call(t, "thread/start", params, on_thread_start);
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
    cg_turn_cancel(t);
    turn_put(t);
}

void cg_turn_fail(struct cg_turn *t, const struct cg_error *err)
{
    turn_hold(t); /* the callback may release the turn */
    t->state = CG_TURN_DONE;
    emit_error(t, err);
    turn_put(t);
}

/* --- text -------------------------------------------------------------------------------- */

/* Sends text belonging to the current message item, with a blank line between items. */
static void text_out(struct cg_turn *t, const char *p, size_t n, bool continuing_item)
{
    if (n == 0)
        return;
    if (!continuing_item) {
        if (t->message_items > 0)
            emit_text(t, CG_EVENT_TEXT, "\n\n", 2);
        t->message_items++;
    }
    emit_text(t, CG_EVENT_TEXT, p, n);
}

static void item_begin(struct cg_turn *t, const char *id)
{
    snprintf(t->item_id, sizeof(t->item_id), "%s", id ? id : "");
    cg_buf_reset(&t->item_text);
    t->item_sent = 0;
}

/* Brings the client up to date with item_text, honouring a pending retry. */
static void sync_item(struct cg_turn *t)
{
    const char *txt = t->item_text.data ? t->item_text.data : "";
    size_t len = t->item_text.len;
    if (t->retrying) {
        const char *had = t->retry_text.data ? t->retry_text.data : "";
        size_t hlen = t->retry_text.len;
        size_t common = len < hlen ? len : hlen;
        if (memcmp(txt, had, common) != 0) {
            cg_log_warn("thread %s: text re-streamed after a retry differs from what was sent",
                        t->thread_id);
            t->retrying = false;
            t->item_sent = hlen < len ? hlen : len;
            text_out(t, txt + t->item_sent, len - t->item_sent, true);
            t->item_sent = len;
            return;
        }
        if (len <= hlen) {
            t->item_sent = len; /* still repeating what the client has */
            return;
        }
        t->retrying = false;
        text_out(t, txt + hlen, len - hlen, true);
        t->item_sent = len;
        return;
    }
    if (len > t->item_sent) {
        text_out(t, txt + t->item_sent, len - t->item_sent, t->item_sent > 0);
        t->item_sent = len;
    }
}

static void on_delta(struct cg_turn *t, json_t *params)
{
    const char *item = json_string_value(json_object_get(params, "itemId"));
    json_t *d = json_object_get(params, "delta");
    if (!json_is_string(d))
        return;
    if (item && strcmp(item, t->item_id) != 0)
        item_begin(t, item);
    if (cg_buf_append(&t->item_text, json_string_value(d), json_string_length(d)) != 0)
        return;
    sync_item(t);
}

static void on_message_completed(struct cg_turn *t, json_t *item)
{
    const char *id = json_string_value(json_object_get(item, "id"));
    json_t *text = json_object_get(item, "text");
    if (!json_is_string(text))
        return;
    if (id && strcmp(id, t->item_id) != 0)
        item_begin(t, id);
    const char *full = json_string_value(text);
    size_t flen = json_string_length(text);
    size_t have = t->item_text.len;
    if (flen >= have && memcmp(full, t->item_text.data ? t->item_text.data : "", have) == 0) {
        if (cg_buf_append(&t->item_text, full + have, flen - have) == 0)
            sync_item(t);
    } else {
        cg_log_debug("thread %s: completed text differs from the streamed deltas", t->thread_id);
    }
    t->retrying = false;
    item_begin(t, NULL);
}

/* Codex gave up on the current item and will stream the message again. */
static void on_retry(struct cg_turn *t)
{
    if (t->item_sent > 0 || t->retrying) {
        if (!t->retrying) {
            cg_buf_reset(&t->retry_text);
            if (cg_buf_append(&t->retry_text, t->item_text.data, t->item_sent) != 0)
                cg_buf_reset(&t->retry_text);
        }
        t->retrying = true;
    }
    item_begin(t, NULL);
}

static void on_reasoning_delta(struct cg_turn *t, json_t *params)
{
    json_t *d = json_object_get(params, "delta");
    if (!json_is_string(d))
        return;
    int index = (int)json_integer_value(json_object_get(params, "summaryIndex"));
    if (index != t->summary_index) {
        if (t->summary_index >= 0)
            emit_text(t, CG_EVENT_REASONING, "\n\n", 2);
        t->summary_index = index;
    }
    emit_text(t, CG_EVENT_REASONING, json_string_value(d), json_string_length(d));
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

static void on_raw_item(struct cg_turn *t, json_t *item)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    if (type == NULL || strcmp(type, "function_call") != 0 || t->tools_ready)
        return;
    const char *call_id = json_string_value(json_object_get(item, "call_id"));
    const char *alias = json_string_value(json_object_get(item, "name"));
    json_t *args = json_object_get(item, "arguments");
    if (call_id == NULL || alias == NULL || in_history(t->req, call_id))
        return; /* replayed history comes back as raw items too */
    const char *name = cg_request_tool_name(t->req, alias);
    if (name == NULL)
        return; /* one of Codex's own tools (agent mode): Codex runs it */
    size_t i;
    json_t *c;
    json_array_foreach(t->calls, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "call_id")), call_id) == 0)
            return;
    }
    json_array_append_new(t->calls,
                          json_pack("{s:s,s:s,s:s}", "call_id", call_id, "name", name, "arguments",
                                    json_is_string(args) ? json_string_value(args) : "{}"));
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

/* --- usage and completion ---------------------------------------------------------------- */

static void read_usage(json_t *u, struct cg_usage *out)
{
    out->input = json_integer_value(json_object_get(u, "inputTokens"));
    out->cached = json_integer_value(json_object_get(u, "cachedInputTokens"));
    out->output = json_integer_value(json_object_get(u, "outputTokens"));
    out->reasoning = json_integer_value(json_object_get(u, "reasoningOutputTokens"));
}

static void on_raw_completed(struct cg_turn *t, json_t *params)
{
    json_t *u = json_object_get(params, "usage");
    if (json_is_object(u)) {
        struct cg_usage one;
        read_usage(u, &one);
        cg_usage_add(&t->usage, &one);
    }
    if (json_array_size(t->calls) > 0 && !t->tools_ready)
        deliver_tools(t);
}


static void on_error_notification(struct cg_turn *t, json_t *params)
{
    if (json_is_true(json_object_get(params, "willRetry"))) {
        const char *m = json_string_value(json_object_get(json_object_get(params, "error"),
                                                          "message"));
        cg_log_info("thread %s: Codex retries: %.120s", t->thread_id, m ? m : "");
        on_retry(t);
        return;
    }
    cg_appserver_map_error(json_object_get(params, "error"), &t->error);
    t->have_error = true;
}

static void on_turn_completed(struct cg_turn *t, json_t *params)
{
    json_t *turn = json_object_get(params, "turn");
    const char *status = json_string_value(json_object_get(turn, "status"));
    if (status == NULL)
        status = "completed";
    if (strcmp(status, "failed") == 0) {
        json_t *terr = json_object_get(turn, "error");
        if (json_is_object(terr))
            cg_appserver_map_error(terr, &t->error);
        else if (!t->have_error)
            cg_error_set(&t->error, CG_ERR_BACKEND_ERROR, NULL, "The Codex turn failed");
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

/* --- session dispatch -------------------------------------------------------------------- */

static struct cg_turn *turn_for(struct cg_sessions *s, json_t *params)
{
    json_t *tid = json_object_get(params, "threadId");
    if (!json_is_string(tid))
        return NULL;
    return cg_map_get_str(&s->threads, json_string_value(tid), json_string_length(tid));
}

/* What cg_sessions_notification acts on, and for some methods a string the raw line must
 * contain. Quotes inside JSON strings are escaped, so a raw `"type":"agentMessage"` is always the
 * item's own type; user-message items and raw message items (the bulk of a turn) are skipped. */
static const struct {
    const char *method;
    const char *needle;
} handled[] = {
    {"item/agentMessage/delta", NULL},
    {"item/completed", "\"type\":\"agentMessage\""},
    {"item/reasoning/summaryTextDelta", NULL},
    {"rawResponseItem/completed", "\"function_call\""},
    {"rawResponse/completed", NULL},
    {"error", NULL},
    {"turn/completed", NULL},
};

bool cg_sessions_wants(struct cg_str method, struct cg_str line)
{
    for (size_t i = 0; i < CG_ARRAY_SIZE(handled); i++) {
        if (!cg_str_eq(method, cg_str_from(handled[i].method)))
            continue;
        const char *needle = handled[i].needle;
        return needle == NULL || memmem(line.ptr, line.len, needle, strlen(needle)) != NULL;
    }
    return false;
}

void cg_sessions_notification(struct cg_sessions *s, const char *method, json_t *params)
{
    struct cg_turn *t = turn_for(s, params);
    if (t == NULL || t->state == CG_TURN_DONE)
        return; /* other threads' leftovers, warnings, config notices */
    turn_hold(t);
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
    } else if (strcmp(method, "turn/completed") == 0) {
        on_turn_completed(t, params);
    }
    turn_put(t);
}

void cg_sessions_request(struct cg_sessions *s, json_t *id, const char *method, json_t *params)
{
    struct cg_turn *t = turn_for(s, params);
    if (strcmp(method, "item/tool/call") == 0 && t && t->state != CG_TURN_DONE)
        return; /* held: the turn is interrupted once the model response is complete */
    if (strcmp(method, "item/commandExecution/requestApproval") == 0 ||
        strcmp(method, "item/fileChange/requestApproval") == 0) {
        cg_worker_respond(s->worker, id, json_pack("{s:s}", "decision", "decline"));
        return;
    }
    if (strcmp(method, "applyPatchApproval") == 0 || strcmp(method, "execCommandApproval") == 0) {
        cg_worker_respond(s->worker, id, json_pack("{s:s}", "decision", "denied"));
        return;
    }
    /* User input, elicitation, token refresh, attestation, calls for finished turns: nobody
     * here can answer, and an unanswered request would block the worker. */
    cg_worker_respond_error(s->worker, id, -32601, "not supported by codex-gateway");
}

void cg_sessions_init(struct cg_sessions *s, struct cg_worker *w, uint64_t interrupt_timeout_ms)
{
    memset(s, 0, sizeof(*s));
    s->worker = w;
    cg_map_init(&s->threads);
    s->interrupt_timeout_ms = interrupt_timeout_ms;
}

void cg_sessions_dispose(struct cg_sessions *s)
{
    cg_map_dispose(&s->threads);
}

/* Collects the running turns so callbacks may change the map while we walk the copy. */
static size_t snapshot(struct cg_sessions *s, struct cg_turn ***out)
{
    size_t n = s->threads.count;
    *out = n ? cg_xmalloc(n * sizeof(**out)) : NULL;
    size_t it = 0;
    size_t k = 0;
    struct cg_turn *t;
    while ((t = cg_map_next(&s->threads, &it)) && k < n) {
        turn_hold(t);
        (*out)[k++] = t;
    }
    return k;
}

void cg_sessions_lost(struct cg_sessions *s, const char *reason)
{
    struct cg_turn **turns;
    size_t n = snapshot(s, &turns);
    struct cg_error err;
    cg_error_set(&err, CG_ERR_BACKEND_UNAVAILABLE, NULL, "%s", reason);
    for (size_t i = 0; i < n; i++) {
        emit_error(turns[i], &err);
        finish_turn(turns[i]);
        turn_put(turns[i]);
    }
    free(turns);
}

/* Finds "threadId":"<id>" in p[0..n) and looks the id up. */
static struct cg_turn *turn_in_fragment(struct cg_sessions *s, const char *p, size_t n)
{
    static const char key[] = "\"threadId\":\"";
    const char *hit = memmem(p, n, key, sizeof(key) - 1);
    if (hit == NULL)
        return NULL;
    const char *id = hit + sizeof(key) - 1;
    const char *end = memchr(id, '"', n - (size_t)(id - p));
    if (end == NULL)
        return NULL;
    return cg_map_get_str(&s->threads, id, (size_t)(end - id));
}

void cg_sessions_oversized(struct cg_sessions *s, const char *head, size_t head_len,
                           const char *tail, size_t tail_len)
{
    struct cg_turn *t = turn_in_fragment(s, tail, tail_len);
    if (t == NULL)
        t = turn_in_fragment(s, head, head_len);
    if (t == NULL || t->state == CG_TURN_DONE)
        return;
    turn_hold(t);
    struct cg_error err;
    cg_error_set(&err, CG_ERR_BACKEND_ERROR, NULL,
                 "Codex sent a message larger than WORKER_MAX_LINE_BYTES; the turn was abandoned.");
    fail(t, &err);
    turn_put(t);
}

void cg_sessions_sweep(struct cg_sessions *s, uint64_t now_ms)
{
    struct cg_turn **turns;
    size_t n = snapshot(s, &turns);
    for (size_t i = 0; i < n; i++) {
        struct cg_turn *t = turns[i];
        if (t->state == CG_TURN_INTERRUPTING && now_ms >= t->interrupt_deadline_ms) {
            cg_log_warn("thread %s: no turn/completed after turn/interrupt; dropping the thread",
                        t->thread_id);
            finish_turn(t);
        }
        turn_put(t);
    }
    free(turns);
}

/* --- errors ------------------------------------------------------------------------------ */

static enum cg_err map_info_string(const char *s)
{
    static const struct {
        const char *info;
        enum cg_err err;
    } table[] = {
        {"contextWindowExceeded", CG_ERR_CONTEXT_LENGTH},
        {"usageLimitExceeded", CG_ERR_QUOTA_EXCEEDED},
        {"sessionBudgetExceeded", CG_ERR_QUOTA_EXCEEDED},
        {"rateLimitExceeded", CG_ERR_UPSTREAM_RATE_LIMIT},
        {"serverOverloaded", CG_ERR_UPSTREAM_OVERLOADED},
        {"flexUnavailable", CG_ERR_UPSTREAM_OVERLOADED},
        {"policyCapacityUnavailable", CG_ERR_UPSTREAM_OVERLOADED},
        {"modelNotFound", CG_ERR_MODEL_NOT_FOUND},
        {"cyberPolicy", CG_ERR_CONTENT_POLICY},
        {"misalignmentPolicyViolation", CG_ERR_CONTENT_POLICY},
        {"inferenceHookDenied", CG_ERR_CONTENT_POLICY},
        {"unauthorized", CG_ERR_UPSTREAM_AUTH},
        {"badRequest", CG_ERR_UPSTREAM_BAD_REQUEST},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(table); i++) {
        if (strcmp(s, table[i].info) == 0)
            return table[i].err;
    }
    return CG_ERR_BACKEND_ERROR;
}

static enum cg_err map_http_status(json_int_t status)
{
    if (status == 429)
        return CG_ERR_UPSTREAM_RATE_LIMIT;
    if (status == 401 || status == 403)
        return CG_ERR_UPSTREAM_AUTH;
    if (status == 400 || status == 422)
        return CG_ERR_UPSTREAM_BAD_REQUEST;
    if (status == 503)
        return CG_ERR_UPSTREAM_OVERLOADED;
    return CG_ERR_BACKEND_ERROR;
}

void cg_appserver_map_error(json_t *turn_error, struct cg_error *out)
{
    const char *message = json_string_value(json_object_get(turn_error, "message"));
    json_t *info = json_object_get(turn_error, "codexErrorInfo");
    enum cg_err code = CG_ERR_BACKEND_ERROR;
    if (json_is_string(info)) {
        code = map_info_string(json_string_value(info));
    } else if (json_is_object(info)) {
        const char *key;
        json_t *v;
        json_object_foreach(info, key, v)
        {
            json_t *st = json_object_get(v, "httpStatusCode");
            if (json_is_integer(st))
                code = map_http_status(json_integer_value(st));
            break;
        }
    }
    const char *param = code == CG_ERR_CONTEXT_LENGTH    ? "messages"
                        : code == CG_ERR_MODEL_NOT_FOUND ? "model"
                                                         : NULL;
    cg_error_set(out, code, param, "%s", message && message[0] ? message : "The Codex turn failed");
}
