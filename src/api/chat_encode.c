/* chat_encode.c: chat.completion(.chunk) JSON, written by hand on the per-token path. */
#include "api/chat_encode.h"
#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "api/choices.h"
#include "core/limits.h"
#include "util/alloc.h"
#include "util/json.h"

/* What a chat choice keeps beyond the common bookkeeping. */
struct extra {
    struct cg_buf reasoning; /* whole-body mode */
    json_t *calls;           /* [{id, type, function:{name, arguments}}] */
};

struct chat_encoder {
    struct cg_choices choices; /* first: the cg_choices_* encoder ops take the encoder */
    struct cg_chat_encode_params p;
    struct cg_buf prefix; /* {"id":..,"object":"chat.completion.chunk","created":..,"model":.. */
    struct cg_buf scratch;
    struct extra *extras;
};
static_assert(offsetof(struct chat_encoder, choices) == 0, "cg_choices_* ops cast the encoder");


static int text_chunk_content(void *enc, unsigned choice, const char *p, size_t n,
                              struct cg_buf *out);
static int finish_chunk(void *enc, unsigned choice, enum cg_finish f, struct cg_buf *out);

static const struct cg_choices_ops choices_ops = {text_chunk_content, finish_chunk};

void *cg_chat_encoder_new(const struct cg_chat_encode_params *p)
{
    struct chat_encoder *e = cg_xcalloc(1, sizeof(*e));
    e->p = *p;
    cg_buf_init(&e->prefix, 4096);
    cg_buf_init(&e->scratch, CG_ANSWER_TEXT_MAX_BYTES);
    int err = cg_buf_append_str(&e->prefix, "{\"id\":");
    if (!err)
        err = cg_json_cstring(&e->prefix, p->id);
    if (!err)
        err = cg_buf_appendf(&e->prefix, ",\"object\":\"chat.completion.chunk\",\"created\":%" PRId64
                                         ",\"model\":",
                             p->created);
    if (!err)
        err = cg_json_cstring(&e->prefix, p->model);
    (void)err; /* bounded inputs: the id is ours, the model id a catalog entry's length */
    cg_choices_init(&e->choices, p->n, p->stream, p->opts, &choices_ops, e);
    e->extras = cg_xcalloc(p->n ? p->n : 1, sizeof(*e->extras));
    for (unsigned i = 0; i < p->n; i++) {
        cg_buf_init(&e->extras[i].reasoning, CG_ANSWER_TEXT_MAX_BYTES);
        e->extras[i].calls = json_array();
    }
    return e;
}

static void encoder_free(void *enc)
{
    struct chat_encoder *e = enc;
    for (unsigned i = 0; i < e->p.n; i++) {
        cg_buf_dispose(&e->extras[i].reasoning);
        json_decref(e->extras[i].calls);
    }
    free(e->extras);
    cg_choices_dispose(&e->choices);
    cg_buf_dispose(&e->prefix);
    cg_buf_dispose(&e->scratch);
    free(e);
}

/* One SSE frame: prefix, one choice with `delta` (raw JSON), finish reason or null. */
static int chunk(struct chat_encoder *e, unsigned choice, const char *delta, size_t dlen,
                 const char *finish, struct cg_buf *out)
{
    int err = cg_buf_append_str(out, "data: ");
    if (!err)
        err = cg_buf_append(out, e->prefix.data, e->prefix.len);
    if (!err)
        err = cg_buf_appendf(out, ",\"choices\":[{\"index\":%u,\"delta\":", choice);
    if (!err)
        err = cg_buf_append(out, delta, dlen);
    if (!err)
        err = cg_buf_append_str(out, ",\"logprobs\":null,\"finish_reason\":");
    if (!err)
        err = cg_choices_finish_json(finish, out);
    if (!err)
        err = cg_buf_append_str(out, "}]");
    if (!err && e->p.include_usage)
        err = cg_buf_append_str(out, ",\"usage\":null");
    if (!err)
        err = cg_buf_append_str(out, "}\n\n");
    return err;
}

/* A {"<key>":"<text>"} delta chunk. */
static int text_chunk(struct chat_encoder *e, unsigned choice, const char *key, const char *p,
                      size_t n, struct cg_buf *out)
{
    cg_buf_reset(&e->scratch);
    int err = cg_buf_appendf(&e->scratch, "{\"%s\":", key);
    if (!err)
        err = cg_json_string(&e->scratch, p, n);
    if (!err)
        err = cg_buf_append_char(&e->scratch, '}');
    if (!err)
        err = chunk(e, choice, e->scratch.data, e->scratch.len, NULL, out);
    return err;
}

static int text_chunk_content(void *enc, unsigned choice, const char *p, size_t n,
                              struct cg_buf *out)
{
    return text_chunk(enc, choice, "content", p, n, out);
}

static const char *finish_name(const struct chat_encoder *e, enum cg_finish f)
{
    if (f == CG_FINISH_TOOL_CALLS && e->p.opts && e->p.opts->legacy_functions)
        return "function_call";
    return cg_finish_name(f);
}

static int finish_chunk(void *enc, unsigned choice, enum cg_finish f, struct cg_buf *out)
{
    struct chat_encoder *e = enc;
    return chunk(e, choice, "{}", 2, finish_name(e, f), out);
}

static int stream_begin(void *enc, struct cg_buf *out)
{
    struct chat_encoder *e = enc;
    static const char role[] = "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}";
    int err = 0;
    for (unsigned i = 0; i < e->p.n && !err; i++)
        err = chunk(e, i, role, sizeof(role) - 1, NULL, out);
    return err;
}

static int on_tool_start(struct chat_encoder *e, const struct cg_event *ev, struct cg_buf *out)
{
    struct cg_choice *c = &e->choices.v[ev->choice];
    bool single = e->p.opts && !e->p.opts->parallel_tool_calls;
    if (c->finished || (single && ev->tool_index > 0))
        return 0;
    c->any_call = true;
    json_array_append_new(e->extras[ev->choice].calls,
                          json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", ev->call_id, "type",
                                    "function", "function", "name", ev->name, "arguments", ""));
    if (!e->p.stream)
        return 0;
    json_t *delta;
    if (e->p.opts && e->p.opts->legacy_functions)
        delta = json_pack("{s:{s:s,s:s}}", "function_call", "name", ev->name, "arguments", "");
    else
        delta = json_pack("{s:[{s:i,s:s,s:s,s:{s:s,s:s}}]}", "tool_calls", "index",
                          (int)ev->tool_index, "id", ev->call_id, "type", "function", "function",
                          "name", ev->name, "arguments", "");
    cg_buf_reset(&e->scratch);
    int err = cg_json_dump(&e->scratch, delta);
    json_decref(delta);
    if (!err)
        err = chunk(e, ev->choice, e->scratch.data, e->scratch.len, NULL, out);
    return err;
}

static int on_tool_args(struct chat_encoder *e, const struct cg_event *ev, struct cg_buf *out)
{
    struct cg_choice *c = &e->choices.v[ev->choice];
    json_t *call = json_array_get(e->extras[ev->choice].calls, ev->tool_index);
    if (c->finished || call == NULL)
        return 0;
    json_t *fn = json_object_get(call, "function");
    struct cg_buf joined;
    cg_buf_init(&joined, CG_ANSWER_TEXT_MAX_BYTES);
    const char *old = json_string_value(json_object_get(fn, "arguments"));
    int err = cg_buf_append_str(&joined, old ? old : "");
    if (!err)
        err = cg_buf_append(&joined, ev->text.ptr, ev->text.len);
    if (!err)
        json_object_set_new(fn, "arguments", json_stringn(joined.data, joined.len));
    cg_buf_dispose(&joined);
    if (err || !e->p.stream)
        return err;
    cg_buf_reset(&e->scratch);
    if (e->p.opts && e->p.opts->legacy_functions) {
        err = cg_buf_append_str(&e->scratch, "{\"function_call\":{\"arguments\":");
    } else {
        err = cg_buf_appendf(&e->scratch,
                             "{\"tool_calls\":[{\"index\":%u,\"function\":{\"arguments\":",
                             ev->tool_index);
    }
    if (!err)
        err = cg_json_string(&e->scratch, ev->text.ptr, ev->text.len);
    if (!err)
        err = cg_buf_append_str(&e->scratch, e->p.opts && e->p.opts->legacy_functions ? "}}"
                                                                                       : "}}]}");
    if (!err)
        err = chunk(e, ev->choice, e->scratch.data, e->scratch.len, NULL, out);
    return err;
}

static int on_event(void *enc, const struct cg_event *ev, struct cg_buf *out)
{
    struct chat_encoder *e = enc;
    if (ev->choice >= e->p.n)
        return 0;
    switch (ev->type) {
    case CG_EVENT_REASONING:
        if (!e->p.expose_reasoning || e->choices.v[ev->choice].finished)
            return 0;
        if (!e->p.stream)
            return cg_buf_append(&e->extras[ev->choice].reasoning, ev->text.ptr, ev->text.len);
        return text_chunk(e, ev->choice, "reasoning_content", ev->text.ptr, ev->text.len, out);
    case CG_EVENT_TOOL_CALL_START:
        return on_tool_start(e, ev, out);
    case CG_EVENT_TOOL_CALL_ARGS:
        return on_tool_args(e, ev, out);
    default:
        return cg_choices_event(&e->choices, ev, out);
    }
}

static int stream_end(void *enc, struct cg_buf *out)
{
    struct chat_encoder *e = enc;
    return cg_choices_stream_end(&e->choices, e->prefix.data, e->prefix.len, e->p.include_usage,
                                 true, out);
}

static int message_json(struct chat_encoder *e, unsigned i, struct cg_buf *out)
{
    const struct cg_choice *c = &e->choices.v[i];
    const struct extra *x = &e->extras[i];
    bool legacy = e->p.opts && e->p.opts->legacy_functions;
    int err = cg_buf_append_str(out, "{\"role\":\"assistant\",\"content\":");
    if (!err)
        err = (c->text.len || !c->any_call)
                  ? cg_json_string(out, c->text.data ? c->text.data : "", c->text.len)
                  : cg_buf_append_str(out, "null");
    if (!err)
        err = cg_buf_append_str(out, ",\"refusal\":null,\"annotations\":[]");
    if (!err && c->any_call && legacy) {
        err = cg_buf_append_str(out, ",\"function_call\":");
        json_t *fn = json_object_get(json_array_get(x->calls, 0), "function");
        if (!err)
            err = cg_json_dump(out, fn);
    } else if (!err && c->any_call) {
        err = cg_buf_append_str(out, ",\"tool_calls\":");
        if (!err)
            err = cg_json_dump(out, x->calls);
    }
    if (!err && e->p.expose_reasoning && x->reasoning.len) {
        err = cg_buf_append_str(out, ",\"reasoning_content\":");
        if (!err)
            err = cg_json_string(out, x->reasoning.data, x->reasoning.len);
    }
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}

static int body(void *enc, struct cg_buf *out)
{
    struct chat_encoder *e = enc;
    int err = cg_buf_append_str(out, "{\"id\":");
    if (!err)
        err = cg_json_cstring(out, e->p.id);
    if (!err)
        err = cg_buf_appendf(out, ",\"object\":\"chat.completion\",\"created\":%" PRId64
                                  ",\"model\":",
                             e->p.created);
    if (!err)
        err = cg_json_cstring(out, e->p.model);
    if (!err)
        err = cg_buf_append_str(out, ",\"choices\":[");
    for (unsigned i = 0; i < e->p.n && !err; i++) {
        err = cg_buf_appendf(out, "%s{\"index\":%u,\"message\":", i ? "," : "", i);
        if (!err)
            err = message_json(e, i, out);
        if (!err)
            err = cg_buf_appendf(out, ",\"logprobs\":null,\"finish_reason\":\"%s\"}",
                                 finish_name(e, e->choices.v[i].finish));
    }
    if (!err)
        err = cg_buf_append_str(out, "],\"usage\":");
    if (!err)
        err = cg_encoder_usage_json(&e->choices.usage, true, out);
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}

const struct cg_encoder_ops cg_chat_encoder_ops = {
    .stream_begin = stream_begin,
    .event = on_event,
    .stream_end = stream_end,
    .stream_error = cg_choices_stream_error,
    .body = body,
    .stopped = cg_choices_stopped,
    .free = encoder_free,
};
