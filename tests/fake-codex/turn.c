/* turn.c: runs a turn's program of output operations on the event loop, routes the client's
 * answers to the fake's server requests, and implements turn/interrupt and steering. */
#include "turn.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "main.h"
#include "out.h"
#include "threads.h"

#define REQ_KEY_MAX 24
/* A flood writes another round only while less than this waits for stdout. */
#define FLOOD_BACKLOG_BYTES (1u << 20)
/* Unknown notifications in a flood carry this much padding. */
#define FLOOD_PAD_BYTES 4096u

static struct fc_map pending; /* server request id -> turn */
static int64_t next_req_id;

static void run(struct fc_turn *t);

static void req_key(char *out, int64_t id)
{
    snprintf(out, REQ_KEY_MAX, "%lld", (long long)id);
}

static void on_timer_closed(uv_handle_t *handle)
{
    free(handle);
}

static void on_timer(uv_timer_t *timer)
{
    struct fc_turn *t = timer->data;
    if (t)
        run(t);
}

static struct fc_op *push_op(struct fc_turn *t, enum fc_op_kind kind)
{
    if (t->nops == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 32;
        t->ops = fc_xrealloc(t->ops, t->cap * sizeof(*t->ops));
    }
    struct fc_op *op = &t->ops[t->nops++];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    return op;
}

static void op_release(struct fc_op *op)
{
    json_decref(op->json);
    op->json = NULL;
    free(op->text);
    op->text = NULL;
}

/* Drops the not yet executed ops. */
static void truncate_ops(struct fc_turn *t)
{
    for (size_t i = t->pc; i < t->nops; i++)
        op_release(&t->ops[i]);
    t->nops = t->pc;
}

/* On turn/interrupt, real Codex still finishes writing what the model response had under way.
 * Keeps up to `n` output ops of the current response (up to where the turn would wait for an
 * answer, halt or end), with the pauses between them; drops server requests, usage and the
 * rest. */
static void keep_tail(struct fc_turn *t, uint64_t n)
{
    size_t w = t->pc;
    size_t i = t->pc;
    for (; i < t->nops && n > 0; i++) {
        struct fc_op *op = &t->ops[i];
        enum fc_op_kind k = op->kind;
        if (k == FC_OP_WAIT || k == FC_OP_HALT || k == FC_OP_COMPLETE || k == FC_OP_EXIT)
            break;
        if (k == FC_OP_REQUEST || k == FC_OP_USAGE) {
            op_release(op);
            continue;
        }
        if (k != FC_OP_DELAY)
            n--;
        t->ops[w++] = *op;
    }
    for (; i < t->nops; i++)
        op_release(&t->ops[i]);
    t->nops = w;
}

static void forget_request(struct fc_call *call)
{
    if (!call->sent || call->answered)
        return;
    char key[REQ_KEY_MAX];
    req_key(key, call->req_id);
    fc_map_remove(&pending, key);
    call->answered = true;
}

static void free_calls(struct fc_turn *t)
{
    for (size_t i = 0; i < t->ncalls; i++) {
        forget_request(&t->calls[i]);
        json_decref(t->calls[i].item);
        free(t->calls[i].output);
    }
    free(t->calls);
    t->calls = NULL;
    t->ncalls = 0;
    t->cap_calls = 0;
}

static bool subscribed(const struct fc_turn *t)
{
    return t->thread->subscribed;
}

/* Sends a notification of this turn now, honouring thread/unsubscribe. Steals `params`. */
static void send_notify(struct fc_turn *t, const char *method, json_t *params, unsigned flags)
{
    if (!(flags & FC_OPF_STATUS) && !subscribed(t)) {
        json_decref(params);
        return;
    }
    if (flags & FC_OPF_STAMP_START)
        json_object_set_new(params, "startedAtMs", json_integer(fc_now_ms()));
    if (flags & FC_OPF_STAMP_DONE)
        json_object_set_new(params, "completedAtMs", json_integer(fc_now_ms()));
    if (flags & FC_OPF_FINAL) {
        json_decref(t->final_item);
        t->final_item = json_incref(json_object_get(params, "item"));
    }
    fc_out_notify(method, params);
}

static void send_usage(struct fc_turn *t, const struct fc_usage *u)
{
    struct fc_usage *tot = &t->thread->total;
    tot->input += u->input;
    tot->cached += u->cached;
    tot->output += u->output;
    tot->reasoning += u->reasoning;
    if (!subscribed(t))
        return;
    json_t *total = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I}", "totalTokens", (json_int_t)(tot->input + tot->output),
        "inputTokens", (json_int_t)tot->input, "cachedInputTokens", (json_int_t)tot->cached,
        "cacheWriteInputTokens", (json_int_t)0, "outputTokens", (json_int_t)tot->output,
        "reasoningOutputTokens", (json_int_t)tot->reasoning);
    json_t *last = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I}", "totalTokens", (json_int_t)(u->input + u->output),
        "inputTokens", (json_int_t)u->input, "cachedInputTokens", (json_int_t)u->cached,
        "cacheWriteInputTokens", (json_int_t)0, "outputTokens", (json_int_t)u->output,
        "reasoningOutputTokens", (json_int_t)u->reasoning);
    fc_out_notify("thread/tokenUsage/updated",
                  json_pack("{s:s, s:s, s:{s:o, s:o, s:i}}", "threadId", t->thread->id, "turnId",
                            t->id, "tokenUsage", "total", total, "last", last, "modelContextWindow",
                            128000));
    fc_out_notify("account/rateLimits/updated",
                  json_pack("{s:{s:s, s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n}}", "rateLimits",
                            "limitId", "codex", "limitName", "normalModelSlug", "primary",
                            "secondary", "credits", "individualLimit", "spendControlReached",
                            "planType"));
}

static void send_completed(struct fc_turn *t, const char *status, json_t *error)
{
    if (!subscribed(t))
        return;
    int64_t now = fc_now_ms();
    json_t *items = json_array();
    if (strcmp(status, "completed") == 0 && t->final_item)
        json_array_append(items, t->final_item);
    json_t *turn =
        json_pack("{s:s, s:o, s:s, s:s, s:O?, s:I, s:I, s:I}", "id", t->id, "items", items,
                  "itemsView", "summary", "status", status, "error", error, "startedAt",
                  (json_int_t)(t->started_ms / 1000), "completedAt", (json_int_t)(now / 1000),
                  "durationMs", (json_int_t)(now - t->started_ms));
    fc_out_notify("turn/completed",
                  json_pack("{s:s, s:o}", "threadId", t->thread->id, "turn", turn));
}

static void send_request(struct fc_turn *t, struct fc_op *op)
{
    struct fc_call *call = &t->calls[op->num];
    if (!subscribed(t))
        return; /* nobody to ask: the turn goes on without an answer */
    call->req_id = next_req_id++;
    call->sent = true;
    call->sent_ms = fc_now_ms();
    char key[REQ_KEY_MAX];
    req_key(key, call->req_id);
    fc_map_put(&pending, key, t);
    fc_out_request(call->req_id, op->method, op->json);
}

static bool all_answered(const struct fc_turn *t)
{
    for (size_t i = 0; i < t->ncalls; i++) {
        if (t->calls[i].sent && !t->calls[i].answered)
            return false;
    }
    return true;
}

static void finish(struct fc_turn *t)
{
    struct fc_thread *thread = t->thread;
    fc_turn_free(t);
    fc_threads_turn_done(thread);
}

/* One round of a flood: a line of op->len bytes of 'x', a short non-JSON line, JSON that is
 * not an object, an answer to no request and a padded unknown notification. Returns true while
 * bytes are left, with the pause before the next round in *wait_ms. */
static bool flood_round(struct fc_op *op, uint64_t *wait_ms)
{
    *wait_ms = 0;
    if (fc_out_pending() >= FLOOD_BACKLOG_BYTES) {
        *wait_ms = 1;
        return true;
    }
    static const char *const junk[] = {"fake-codex flood: this is not JSON {", "[1,2,3]",
                                       "{\"id\":-7,\"result\":{}}", "\"just a string\""};
    size_t huge = op->len;
    char *line = fc_xmalloc(huge > FLOOD_PAD_BYTES ? huge : FLOOD_PAD_BYTES);
    memset(line, 'x', huge);
    fc_out_raw(line, huge);
    uint64_t wrote = huge + 1;
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        fc_out_raw(junk[i], strlen(junk[i]));
        wrote += strlen(junk[i]) + 1;
    }
    memset(line, 'z', FLOOD_PAD_BYTES);
    json_t *pad = json_stringn(line, FLOOD_PAD_BYTES);
    free(line);
    json_t *msg = json_pack("{s:s, s:{s:o}}", "method", "fake/flood", "params", "pad", pad);
    fc_out_json(msg);
    json_decref(msg);
    wrote += FLOOD_PAD_BYTES + 40;
    op->num = op->num > wrote ? op->num - wrote : 0;
    return op->num > 0;
}

static void run(struct fc_turn *t)
{
    while (t->pc < t->nops) {
        if (fc_main_is_quitting())
            return;
        struct fc_op *op = &t->ops[t->pc];
        switch (op->kind) {
        case FC_OP_NOTIFY:
            send_notify(t, op->method, op->json, op->flags);
            op->json = NULL;
            break;
        case FC_OP_DELTA:
            if (subscribed(t))
                fc_out_delta(t->thread->id, t->id, op->item_id, op->text, op->len);
            break;
        case FC_OP_DELAY:
            if (op->num > 0) {
                t->pc++;
                uv_timer_start(t->timer, on_timer, op->num, 0);
                return;
            }
            break;
        case FC_OP_REQUEST:
            send_request(t, op);
            break;
        case FC_OP_WAIT: {
            if (!all_answered(t)) {
                t->waiting = true;
                return;
            }
            t->waiting = false;
            t->pc++;
            void (*cont)(struct fc_turn *) = t->cont;
            t->cont = NULL;
            if (cont)
                cont(t); /* may grow t->ops: `op` is stale from here on */
            continue;
        }
        case FC_OP_USAGE:
            if (op->flags & FC_OPF_DEFER) {
                t->pending_usage = op->usage;
                t->usage_pending = true;
            } else {
                send_usage(t, &op->usage);
            }
            break;
        case FC_OP_COMPLETE:
            send_completed(t, op->text, op->json);
            finish(t);
            return;
        case FC_OP_HALT:
            return;
        case FC_OP_EXIT:
            t->pc++;
            fc_main_crash((int)(int64_t)op->num);
            return;
        case FC_OP_STDOUT:
            fc_out_raw(op->text, op->len);
            break;
        case FC_OP_STDERR:
            fprintf(stderr, "%s\n", op->text);
            break;
        case FC_OP_FLOOD: {
            uint64_t wait_ms = 0;
            if (flood_round(op, &wait_ms)) {
                uv_timer_start(t->timer, on_timer, wait_ms, 0);
                return;
            }
            break;
        }
        }
        op_release(&t->ops[t->pc]);
        t->pc++;
    }
}

void fc_turn_global_init(void)
{
    fc_map_init(&pending);
    next_req_id = 0;
}

void fc_turn_global_dispose(void)
{
    fc_map_dispose(&pending);
}

struct fc_turn *fc_turn_new(struct fc_thread *thread)
{
    assert(!thread->turn);
    struct fc_turn *t = fc_xcalloc(1, sizeof(*t));
    t->thread = thread;
    fc_id_uuid(t->id);
    t->started_ms = fc_now_ms();
    t->timer = fc_xmalloc(sizeof(*t->timer));
    uv_timer_init(fc_loop, t->timer);
    t->timer->data = t;
    thread->turn = t;
    fc_threads_turn_begins(thread);
    fc_turn_schedule(t);
    return t;
}

void fc_turn_free(struct fc_turn *t)
{
    if (t->thread && t->thread->turn == t)
        t->thread->turn = NULL;
    free_calls(t);
    t->pc = 0;
    truncate_ops(t);
    free(t->ops);
    json_decref(t->final_item);
    t->timer->data = NULL;
    uv_close((uv_handle_t *)t->timer, on_timer_closed);
    free(t);
}

void fc_turn_schedule(struct fc_turn *t)
{
    uv_timer_start(t->timer, on_timer, 0, 0);
}

void fc_turn_notify(struct fc_turn *t, const char *method, json_t *params, unsigned flags)
{
    struct fc_op *op = push_op(t, FC_OP_NOTIFY);
    op->method = method;
    op->json = params;
    op->flags = flags;
}

void fc_turn_delta(struct fc_turn *t, const char *item_id, const char *text, size_t len)
{
    struct fc_op *op = push_op(t, FC_OP_DELTA);
    snprintf(op->item_id, sizeof(op->item_id), "%s", item_id);
    op->text = fc_xstrndup(text, len);
    op->len = len;
}

void fc_turn_delay(struct fc_turn *t, uint64_t ms)
{
    if (ms == 0)
        return;
    push_op(t, FC_OP_DELAY)->num = ms;
}

size_t fc_turn_request(struct fc_turn *t, enum fc_call_kind kind, const char *call_id, json_t *item,
                       const char *method, json_t *params)
{
    if (t->ncalls == t->cap_calls) {
        t->cap_calls = t->cap_calls ? t->cap_calls * 2 : 4;
        t->calls = fc_xrealloc(t->calls, t->cap_calls * sizeof(*t->calls));
    }
    size_t slot = t->ncalls++;
    struct fc_call *call = &t->calls[slot];
    memset(call, 0, sizeof(*call));
    call->kind = kind;
    snprintf(call->id, sizeof(call->id), "%s", call_id);
    call->item = item;
    struct fc_op *op = push_op(t, FC_OP_REQUEST);
    op->method = method;
    op->json = params;
    op->num = slot;
    return slot;
}

void fc_turn_wait(struct fc_turn *t, void (*cont)(struct fc_turn *turn))
{
    t->cont = cont;
    push_op(t, FC_OP_WAIT);
}

void fc_turn_usage(struct fc_turn *t, const struct fc_usage *usage)
{
    push_op(t, FC_OP_USAGE)->usage = *usage;
}

void fc_turn_usage_deferred(struct fc_turn *t, const struct fc_usage *usage)
{
    struct fc_op *op = push_op(t, FC_OP_USAGE);
    op->usage = *usage;
    op->flags = FC_OPF_DEFER;
}

void fc_turn_complete(struct fc_turn *t, const char *status, json_t *error)
{
    struct fc_op *op = push_op(t, FC_OP_COMPLETE);
    op->text = fc_xstrdup(status);
    op->json = error;
}

void fc_turn_halt(struct fc_turn *t)
{
    push_op(t, FC_OP_HALT);
}

void fc_turn_exit(struct fc_turn *t, int code)
{
    push_op(t, FC_OP_EXIT)->num = (uint64_t)(int64_t)code;
}

void fc_turn_line(struct fc_turn *t, bool to_stderr, const char *text, size_t len)
{
    struct fc_op *op = push_op(t, to_stderr ? FC_OP_STDERR : FC_OP_STDOUT);
    op->text = fc_xstrndup(text, len);
    op->len = len;
}

void fc_turn_flood(struct fc_turn *t, uint64_t bytes, uint64_t huge)
{
    struct fc_op *op = push_op(t, FC_OP_FLOOD);
    op->num = bytes;
    op->len = (size_t)huge;
}

static void append_str(struct fc_buf *b, const char *s)
{
    fc_buf_append(b, s, strlen(s));
}

/* Joins the inputText parts of a dynamic tool answer; false when contentItems is malformed. */
static bool tool_text(json_t *content, struct fc_buf *text)
{
    if (!json_is_array(content))
        return false;
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        if (!json_is_object(part) || !json_is_string(json_object_get(part, "type")))
            return false;
        json_t *s = json_object_get(part, "text");
        if (strcmp(json_string_value(json_object_get(part, "type")), "inputText") == 0 &&
            json_is_string(s))
            fc_buf_append(text, json_string_value(s), json_string_length(s));
    }
    return true;
}

static void answer_tool(struct fc_turn *t, struct fc_call *call, json_t *result, json_t *error)
{
    struct fc_buf text = {0};
    json_t *content = NULL;
    bool success = false;
    const char *status = "failed";
    json_t *items = result ? json_object_get(result, "contentItems") : NULL;
    if (error) {
        append_str(&text, "dynamic tool request failed");
    } else if (!tool_text(items, &text)) {
        text.len = 0;
        append_str(&text, "dynamic tool response was invalid");
    } else {
        content = json_incref(items);
        json_t *ok = json_object_get(result, "success");
        success = json_is_boolean(ok) ? json_is_true(ok) : true;
        status = success ? "completed" : "failed";
    }
    if (!content)
        content = json_pack("[{s:s, s:s}]", "type", "inputText", "text", text.data);
    call->output = fc_xstrdup(text.data ? text.data : "");
    fc_buf_dispose(&text);
    json_t *item = json_deep_copy(call->item);
    json_object_set_new(item, "status", json_string(status));
    json_object_set_new(item, "contentItems", content);
    json_object_set_new(item, "success", json_boolean(success));
    json_object_set_new(item, "durationMs", json_integer(fc_now_ms() - call->sent_ms));
    send_notify(
        t, "item/completed",
        json_pack("{s:o, s:s, s:s}", "item", item, "threadId", t->thread->id, "turnId", t->id),
        FC_OPF_STAMP_DONE);
}

static void answer_other(struct fc_turn *t, struct fc_call *call, json_t *result, json_t *error)
{
    if (call->kind == FC_CALL_APPROVAL) {
        json_t *decision = result ? json_object_get(result, "decision") : NULL;
        const char *d = "error";
        if (json_is_string(decision))
            d = json_string_value(decision);
        else if (json_is_object(decision) && json_object_size(decision) > 0)
            d = json_object_iter_key(json_object_iter(decision));
        else if (result)
            d = "invalid";
        call->output = fc_xstrdup(d);
    } else {
        call->output = fc_xstrdup(error ? "error" : "answered");
    }
    send_notify(
        t, "serverRequest/resolved",
        json_pack("{s:s, s:I}", "threadId", t->thread->id, "requestId", (json_int_t)call->req_id),
        0);
    if (call->kind == FC_CALL_APPROVAL) {
        send_notify(t, "thread/status/changed",
                    json_pack("{s:s, s:{s:s, s:[]}}", "threadId", t->thread->id, "status", "type",
                              "active", "activeFlags"),
                    FC_OPF_STATUS);
    }
}

void fc_turn_answer(int64_t req_id, json_t *result, json_t *error)
{
    char key[REQ_KEY_MAX];
    req_key(key, req_id);
    struct fc_turn *t = fc_map_remove(&pending, key);
    if (!t)
        return;
    struct fc_call *call = NULL;
    for (size_t i = 0; i < t->ncalls; i++) {
        if (t->calls[i].sent && !t->calls[i].answered && t->calls[i].req_id == req_id)
            call = &t->calls[i];
    }
    if (!call)
        return;
    call->answered = true;
    if (call->kind == FC_CALL_TOOL)
        answer_tool(t, call, result, error);
    else
        answer_other(t, call, result, error);
    if (t->waiting && all_answered(t)) {
        t->waiting = false;
        run(t);
    }
}

void fc_turn_interrupt(struct fc_turn *t)
{
    if (t->stuck || t->ending)
        return;
    t->ending = true;
    uv_timer_stop(t->timer);
    keep_tail(t, fc_cfg.interrupt_tail);
    t->cont = NULL;
    t->waiting = false;
    fc_turn_delay(t, fc_cfg.interrupt_delay_ms);
    for (size_t i = 0; i < t->ncalls; i++) {
        struct fc_call *call = &t->calls[i];
        if (!call->sent || call->answered)
            continue;
        forget_request(call);
        if (call->kind != FC_CALL_TOOL)
            continue;
        json_t *item = json_deep_copy(call->item);
        json_object_set_new(item, "status", json_string("failed"));
        json_object_set_new(item, "success", json_false());
        json_object_set_new(item, "durationMs", json_integer(fc_now_ms() - call->sent_ms));
        fc_turn_notify(
            t, "item/completed",
            json_pack("{s:o, s:s, s:s}", "item", item, "threadId", t->thread->id, "turnId", t->id),
            FC_OPF_STAMP_DONE);
    }
    if (t->usage_pending) {
        fc_turn_usage(t, &t->pending_usage);
        t->usage_pending = false;
    }
    fc_turn_notify(t, "thread/status/changed",
                   json_pack("{s:s, s:{s:s}}", "threadId", t->thread->id, "status", "type", "idle"),
                   FC_OPF_STATUS);
    fc_turn_complete(t, "interrupted", NULL);
    fc_turn_schedule(t);
}

bool fc_turn_reset_for_steer(struct fc_turn *t)
{
    if (t->ending)
        return false;
    uv_timer_stop(t->timer);
    truncate_ops(t);
    free_calls(t);
    t->cont = NULL;
    t->waiting = false;
    t->stuck = false;
    t->usage_pending = false;
    return true;
}
