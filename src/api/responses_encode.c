/* responses_encode.c: the Responses `response` object and its SSE events, written by hand on
 * the per-token path; the echoed request fields are serialised once, at construction. */
#include "api/responses_encode.h"
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/limits.h"
#include "util/alloc.h"
#include "util/json.h"

enum kind { KIND_REASONING, KIND_MESSAGE, KIND_CALL };

struct item {
    enum kind kind;
    char id[96];
    struct cg_buf text; /* summary text, message text or call arguments */
    char *call_id;
    char *name;
    char *ns;        /* NULL: not in a namespace */
    char *encrypted; /* reasoning: Codex's encrypted_content, NULL until it is known */
    bool has_part;   /* reasoning or message: its content or summary part was opened */
    unsigned tool_index;
    bool done;
    bool incomplete; /* ended by the turn's length or content-filter finish */
};

struct resp_encoder {
    struct cg_responses_encode_params p;
    struct item *items;
    size_t n_items;
    size_t cap_items;
    bool finished;
    enum cg_finish finish;
    struct cg_usage usage;
    bool any_usage;
    uint64_t seq;
    bool plain_id;        /* the id, and so every item id, needs no JSON escaping */
    int64_t completed_at; /* read once from the clock, so every copy of the response agrees */
    /* The response object's constant members, in OpenAI's order around the ones that change:
     * instructions..max_tool_calls (before model), parallel_tool_calls..truncation (after
     * output), user and metadata (after usage). */
    struct cg_buf echo_mid;
    struct cg_buf echo_late;
    struct cg_buf echo_tail;
};

/* A request field and the JSON OpenAI shows when the client left it out. */
struct echo_field {
    const char *key;
    const char *dflt;
};

static const struct echo_field mid_fields[] = {
    {"instructions", "null"},
    {"max_output_tokens", "null"},
    {"max_tool_calls", "null"},
};

static const struct echo_field late_fields[] = {
    {"parallel_tool_calls", "true"},
    {"previous_response_id", "null"},
    {"prompt_cache_key", "null"},
    {"reasoning", NULL},
    {"safety_identifier", "null"},
    {"service_tier", NULL},
    {"store", "true"},
    {"temperature", "1.0"},
    {"text", NULL},
    {"tool_choice", "\"auto\""},
    {"tools", "[]"},
    {"top_logprobs", "0"},
    {"top_p", "1.0"},
    {"truncation", "\"disabled\""},
};

static const struct echo_field tail_fields[] = {
    {"user", "null"},
    {"metadata", "{}"},
};

/* Digits by hand: on the per-event path snprintf costs more than the rest of a frame. */
static int append_u64(struct cg_buf *out, uint64_t v)
{
    char digits[20];
    size_t i = sizeof(digits);
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return cg_buf_append(out, digits + i, sizeof(digits) - i);
}

static int append_i64(struct cg_buf *out, int64_t v)
{
    int err = 0;
    if (v < 0)
        err = cg_buf_append_char(out, '-');
    return err ? err : append_u64(out, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

static bool is_plain(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* The strings up to the NULL, one after another, in one reservation: events are made of such
 * runs, and an append each cost more than the bytes. */
__attribute__((sentinel)) static int append_strs(struct cg_buf *out, ...)
{
    enum { PARTS_MAX = 8 };
    const char *part[PARTS_MAX];
    size_t len[PARTS_MAX];
    size_t n = 0;
    size_t total = 0;
    va_list ap;
    va_start(ap, out);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
        assert(n < PARTS_MAX);
        part[n] = s;
        len[n] = strlen(s);
        total += len[n++];
    }
    va_end(ap);
    char *room = cg_buf_reserve(out, total);
    if (room == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        memcpy(room, part[i], len[i]);
        room += len[i];
    }
    cg_buf_commit(out, total);
    return 0;
}

/* ,"<key>": */
static int append_key(struct cg_buf *out, const char *key)
{
    return append_strs(out, ",\"", key, "\":", NULL);
}

enum { ECHO_DEPTH = 3 }; /* containers written by hand down to here; deeper ones by jansson */

static int echo_value(struct cg_buf *out, const json_t *v, int depth);

/* An object's members, `{` already written; each member after the first takes a comma. */
static int echo_members(struct cg_buf *out, const json_t *obj, int depth, bool *first)
{
    int err = 0;
    for (void *it = json_object_iter((json_t *)obj); it && !err;
         it = json_object_iter_next((json_t *)obj, it)) {
        if (!*first)
            err = cg_buf_append_char(out, ',');
        *first = false;
        if (!err)
            err = cg_json_string(out, json_object_iter_key(it), json_object_iter_key_len(it));
        if (!err)
            err = cg_buf_append_char(out, ':');
        if (!err)
            err = echo_value(out, json_object_iter_value(it), depth - 1);
    }
    return err;
}

/* A request value as cg_json_dump writes it (compact, members in their order). The scalars and
 * small containers a request carries are written directly: json_dumpb's setup costs more than
 * the few bytes it writes, and the echo is built for every request. */
static int echo_value(struct cg_buf *out, const json_t *v, int depth)
{
    if (json_is_null(v))
        return cg_buf_append_str(out, "null");
    if (json_is_true(v))
        return cg_buf_append_str(out, "true");
    if (json_is_false(v))
        return cg_buf_append_str(out, "false");
    if (json_is_string(v))
        return cg_json_string(out, json_string_value(v), json_string_length(v));
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return append_u64(out, (uint64_t)json_integer_value(v));
    if (json_is_real(v) && json_real_value(v) == 1.0)
        return cg_buf_append_str(out, "1.0"); /* the default temperature and top_p */
    if (depth > 0 && json_is_object(v)) {
        bool first = true;
        int err = cg_buf_append_char(out, '{');
        if (!err)
            err = echo_members(out, v, depth, &first);
        if (!err)
            err = cg_buf_append_char(out, '}');
        return err;
    }
    if (depth > 0 && json_is_array(v)) {
        int err = cg_buf_append_char(out, '[');
        for (size_t i = 0; i < json_array_size(v) && !err; i++) {
            if (i > 0)
                err = cg_buf_append_char(out, ',');
            if (!err)
                err = echo_value(out, json_array_get(v, i), depth - 1);
        }
        if (!err)
            err = cg_buf_append_char(out, ']');
        return err;
    }
    return cg_json_dump(out, v);
}

/* The members the echo of reasoning and text gains when the request left them out. */
static const struct {
    const char *field;
    const char *key;
    const char *json;
} merged_defaults[] = {
    {"reasoning", "effort", "null"},
    {"reasoning", "summary", "null"},
    {"text", "format", "{\"type\":\"text\"}"},
    {"text", "verbosity", "\"medium\""},
};

/* The echo of reasoning or text: the request's object (if any), then the missing defaults. */
static int echo_merged(struct cg_buf *out, const char *field, const json_t *given)
{
    bool first = true;
    int err = cg_buf_append_char(out, '{');
    if (!err && json_is_object(given))
        err = echo_members(out, given, ECHO_DEPTH, &first);
    for (size_t i = 0; i < CG_ARRAY_SIZE(merged_defaults) && !err; i++) {
        if (strcmp(merged_defaults[i].field, field) != 0 ||
            json_object_get(given, merged_defaults[i].key))
            continue;
        if (!first)
            err = cg_buf_append_char(out, ',');
        first = false;
        if (!err)
            err = cg_json_cstring(out, merged_defaults[i].key);
        if (!err)
            err = cg_buf_append_char(out, ':');
        if (!err)
            err = cg_buf_append_str(out, merged_defaults[i].json);
    }
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}

static int echo_fields(const json_t *echo, const struct echo_field *f, size_t n, struct cg_buf *out)
{
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        const json_t *given = echo ? json_object_get(echo, f[i].key) : NULL;
        err = append_key(out, f[i].key);
        if (err)
            break;
        if (strcmp(f[i].key, "service_tier") == 0) {
            /* A response reports the tier it ran in; "auto" resolves to "default". */
            const char *tier = json_string_value(given);
            err = cg_json_cstring(out, tier && strcmp(tier, "auto") != 0 ? tier : "default");
        } else if (f[i].dflt == NULL) {
            err = echo_merged(out, f[i].key, given);
        } else if (given && !json_is_null(given)) {
            err = echo_value(out, given, ECHO_DEPTH);
        } else {
            err = cg_buf_append_str(out, f[i].dflt);
        }
    }
    return err;
}

void *cg_responses_encoder_new(const struct cg_responses_encode_params *p)
{
    struct resp_encoder *e = cg_xcalloc(1, sizeof(*e));
    e->p = *p;
    e->p.echo = NULL; /* borrowed for this call only */
    e->plain_id = is_plain(p->id);
    cg_buf_init(&e->echo_mid, CG_REQUEST_TEXT_MAX_BYTES);
    cg_buf_init(&e->echo_late, CG_REQUEST_TEXT_MAX_BYTES);
    cg_buf_init(&e->echo_tail, CG_REQUEST_TEXT_MAX_BYTES);
    int err = echo_fields(p->echo, mid_fields, CG_ARRAY_SIZE(mid_fields), &e->echo_mid);
    if (!err)
        err = echo_fields(p->echo, late_fields, CG_ARRAY_SIZE(late_fields), &e->echo_late);
    if (!err)
        err = echo_fields(p->echo, tail_fields, CG_ARRAY_SIZE(tail_fields), &e->echo_tail);
    (void)err; /* bounded inputs: the echoed fields come from a request of bounded size */
    return e;
}

static void encoder_free(void *enc)
{
    struct resp_encoder *e = enc;
    for (size_t i = 0; i < e->n_items; i++) {
        cg_buf_dispose(&e->items[i].text);
        free(e->items[i].call_id);
        free(e->items[i].name);
        free(e->items[i].ns);
        free(e->items[i].encrypted);
    }
    free(e->items);
    cg_buf_dispose(&e->echo_mid);
    cg_buf_dispose(&e->echo_late);
    cg_buf_dispose(&e->echo_tail);
    free(e);
}

/* `event: <type>` and the data object up to its sequence number; end it with frame_end. */
static int frame_begin(struct resp_encoder *e, const char *type, struct cg_buf *out)
{
    int err = append_strs(out, "event: ", type, "\ndata: {\"type\":\"", type,
                          "\",\"sequence_number\":", NULL);
    if (!err)
        err = append_u64(out, e->seq++);
    return err;
}

static int frame_end(struct cg_buf *out)
{
    return cg_buf_append_str(out, "}\n\n");
}

/* The response id or an item id, quoted; ids are written into every event. */
static int append_id(const struct resp_encoder *e, struct cg_buf *out, const char *id)
{
    return e->plain_id ? append_strs(out, "\"", id, "\"", NULL) : cg_json_cstring(out, id);
}

static const char *item_status(const struct item *it)
{
    if (!it->done)
        return "in_progress";
    return it->incomplete ? "incomplete" : "completed";
}

/* ,"item_id":"..","output_index":n */
static int item_ref(const struct resp_encoder *e, const struct item *it, size_t index,
                    struct cg_buf *out)
{
    int err = cg_buf_append_str(out, ",\"item_id\":");
    if (!err)
        err = append_id(e, out, it->id);
    if (!err)
        err = cg_buf_append_str(out, ",\"output_index\":");
    if (!err)
        err = append_u64(out, index);
    return err;
}

static int text_part(const struct item *it, bool empty, struct cg_buf *out)
{
    const char *s = empty || it->text.data == NULL ? "" : it->text.data;
    size_t n = empty ? 0 : it->text.len;
    int err = cg_buf_append_str(out, it->kind == KIND_MESSAGE
                                         ? "{\"type\":\"output_text\",\"annotations\":[],"
                                           "\"logprobs\":[],\"text\":"
                                         : "{\"type\":\"summary_text\",\"text\":");
    if (!err)
        err = cg_json_string(out, s, n);
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}

/* The item as output_item.added (empty) or as it stands now. */
static int item_json(const struct resp_encoder *e, const struct item *it, bool empty,
                     struct cg_buf *out)
{
    int err = cg_buf_append_str(out, "{\"id\":");
    if (!err)
        err = append_id(e, out, it->id);
    if (err)
        return err;
    switch (it->kind) {
    case KIND_REASONING:
        err = cg_buf_append_str(out, ",\"type\":\"reasoning\",\"summary\":[");
        if (!err && !empty && it->has_part)
            err = text_part(it, false, out);
        if (!err)
            err = cg_buf_append_char(out, ']');
        if (!err && e->p.include_encrypted_reasoning) {
            err = cg_buf_append_str(out, ",\"encrypted_content\":");
            if (!err)
                err = cg_json_cstring(out, empty ? NULL : it->encrypted);
        }
        break;
    case KIND_MESSAGE:
        err = append_strs(out, ",\"type\":\"message\",\"status\":\"", item_status(it),
                          "\",\"content\":[", NULL);
        if (!err && !empty)
            err = text_part(it, false, out);
        if (!err)
            err = cg_buf_append_str(out, "],\"role\":\"assistant\"");
        break;
    case KIND_CALL:
        err = cg_buf_appendf(
            out, ",\"type\":\"function_call\",\"status\":\"%s\",\"arguments\":", item_status(it));
        if (!err)
            err = empty ? cg_buf_append_str(out, "\"\"")
                        : cg_json_string(out, it->text.data ? it->text.data : "", it->text.len);
        if (!err)
            err = cg_buf_append_str(out, ",\"call_id\":");
        if (!err)
            err = cg_json_cstring(out, it->call_id);
        if (!err)
            err = cg_buf_append_str(out, ",\"name\":");
        if (!err)
            err = cg_json_cstring(out, it->name);
        if (!err && it->ns) {
            err = cg_buf_append_str(out, ",\"namespace\":");
            if (!err)
                err = cg_json_cstring(out, it->ns);
        }
        break;
    }
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}

/* output_item.added / output_item.done */
static int item_frame(struct resp_encoder *e, size_t index, bool added, struct cg_buf *out)
{
    int err =
        frame_begin(e, added ? "response.output_item.added" : "response.output_item.done", out);
    if (!err)
        err = cg_buf_append_str(out, ",\"output_index\":");
    if (!err)
        err = append_u64(out, index);
    if (!err)
        err = cg_buf_append_str(out, ",\"item\":");
    if (!err)
        err = item_json(e, &e->items[index], added, out);
    if (!err)
        err = frame_end(out);
    return err;
}

/* content_part.added/done (message) or reasoning_summary_part.added/done (reasoning). */
static int part_frame(struct resp_encoder *e, size_t index, bool added, struct cg_buf *out)
{
    const struct item *it = &e->items[index];
    bool msg = it->kind == KIND_MESSAGE;
    const char *type = msg ? (added ? "response.content_part.added" : "response.content_part.done")
                           : (added ? "response.reasoning_summary_part.added"
                                    : "response.reasoning_summary_part.done");
    int err = frame_begin(e, type, out);
    if (!err)
        err = item_ref(e, it, index, out);
    if (!err)
        err = cg_buf_append_str(out, msg ? ",\"content_index\":0,\"part\":"
                                         : ",\"summary_index\":0,\"part\":");
    if (!err)
        err = text_part(it, added, out);
    if (!err)
        err = frame_end(out);
    return err;
}

/* A delta event of the item's kind, or (delta NULL) its `.done` event with the full text. */
static int text_frame(struct resp_encoder *e, size_t index, const struct cg_str *delta,
                      struct cg_buf *out)
{
    const struct item *it = &e->items[index];
    static const char *const types[][2] = {
        [KIND_REASONING] = {"response.reasoning_summary_text.delta",
                            "response.reasoning_summary_text.done"},
        [KIND_MESSAGE] = {"response.output_text.delta", "response.output_text.done"},
        [KIND_CALL] = {"response.function_call_arguments.delta",
                       "response.function_call_arguments.done"},
    };
    int err = frame_begin(e, types[it->kind][delta == NULL], out);
    if (!err)
        err = item_ref(e, it, index, out);
    if (!err && it->kind == KIND_MESSAGE)
        err = cg_buf_append_str(out, ",\"content_index\":0");
    else if (!err && it->kind == KIND_REASONING)
        err = cg_buf_append_str(out, ",\"summary_index\":0");
    if (!err && it->kind == KIND_CALL && delta == NULL) {
        err = cg_buf_append_str(out, ",\"name\":");
        if (!err)
            err = cg_json_cstring(out, it->name);
    }
    if (!err)
        err = append_key(out, delta ? "delta" : it->kind == KIND_CALL ? "arguments" : "text");
    if (!err && delta)
        err = cg_json_string(out, delta->ptr, delta->len);
    else if (!err)
        err = cg_json_string(out, it->text.data ? it->text.data : "", it->text.len);
    if (!err && it->kind == KIND_MESSAGE)
        err = cg_buf_append_str(out, ",\"logprobs\":[]");
    if (!err)
        err = frame_end(out);
    return err;
}

/* Marks the open item done and, in a stream, sends its closing events. */
static int close_open(struct resp_encoder *e, struct cg_buf *out)
{
    if (e->n_items == 0 || e->items[e->n_items - 1].done)
        return 0;
    size_t i = e->n_items - 1;
    struct item *it = &e->items[i];
    it->done = true;
    it->incomplete =
        e->finished && (e->finish == CG_FINISH_LENGTH || e->finish == CG_FINISH_CONTENT_FILTER);
    if (!e->p.stream)
        return 0;
    int err = 0;
    if (it->kind == KIND_CALL || it->has_part)
        err = text_frame(e, i, NULL, out);
    if (!err && it->has_part)
        err = part_frame(e, i, false, out);
    if (!err)
        err = item_frame(e, i, false, out);
    return err;
}

static const char *const id_prefixes[] = {
    [KIND_REASONING] = "rs", [KIND_MESSAGE] = "msg", [KIND_CALL] = "fc"};

/* Closes the open item and opens one of `kind`; NULL when the response holds its maximum. */
static struct item *open_item(struct resp_encoder *e, enum kind kind, int *err, struct cg_buf *out)
{
    *err = close_open(e, out);
    if (*err)
        return NULL;
    if (e->n_items == CG_RESPONSE_ITEMS_MAX) {
        *err = -1;
        return NULL;
    }
    if (e->n_items == e->cap_items) {
        e->cap_items = e->cap_items ? 2 * e->cap_items : 4;
        e->items = cg_xrealloc(e->items, e->cap_items * sizeof(*e->items));
    }
    struct item *it = &e->items[e->n_items++];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    cg_buf_init(&it->text, CG_ANSWER_TEXT_MAX_BYTES);
    /* Unique per response and stable, so a stored response's items can be referenced. */
    const char *suffix = strncmp(e->p.id, "resp_", 5) == 0 ? e->p.id + 5 : e->p.id;
    snprintf(it->id, sizeof(it->id), "%s_%.*s%zu", id_prefixes[kind], 64, suffix, e->n_items - 1);
    return it;
}

/* Reasoning or text: appended to the open item of that kind, or to a new one. */
static int on_text(struct resp_encoder *e, enum kind kind, const struct cg_str *delta,
                   struct cg_buf *out)
{
    if (delta->len == 0)
        return 0; /* no item for nothing: an empty delta must not close the open one */
    int err = 0;
    struct item *it = e->n_items ? &e->items[e->n_items - 1] : NULL;
    if (it == NULL || it->done || it->kind != kind) {
        it = open_item(e, kind, &err, out);
        if (err)
            return err;
        it->has_part = true;
        if (e->p.stream) {
            err = item_frame(e, e->n_items - 1, true, out);
            if (!err)
                err = part_frame(e, e->n_items - 1, true, out);
        }
    }
    if (!err)
        err = cg_buf_append(&it->text, delta->ptr, delta->len);
    if (!err && e->p.stream)
        err = text_frame(e, e->n_items - 1, delta, out);
    return err;
}

static int on_tool_start(struct resp_encoder *e, const struct cg_event *ev, struct cg_buf *out)
{
    if (e->p.single_call && ev->tool_index > 0)
        return 0;
    int err = 0;
    struct item *it = open_item(e, KIND_CALL, &err, out);
    if (err)
        return err;
    it->call_id = cg_xstrdup(ev->call_id ? ev->call_id : "");
    it->name = cg_xstrdup(ev->name ? ev->name : "");
    it->ns = ev->ns ? cg_xstrdup(ev->ns) : NULL;
    it->tool_index = ev->tool_index;
    return e->p.stream ? item_frame(e, e->n_items - 1, true, out) : 0;
}

static int on_tool_args(struct resp_encoder *e, const struct cg_event *ev, struct cg_buf *out)
{
    struct item *it = e->n_items ? &e->items[e->n_items - 1] : NULL;
    /* app-server hands over whole calls: arguments follow their own start. */
    if (it == NULL || it->done || it->kind != KIND_CALL || it->tool_index != ev->tool_index)
        return 0;
    int err = cg_buf_append(&it->text, ev->text.ptr, ev->text.len);
    if (!err && e->p.stream)
        err = text_frame(e, e->n_items - 1, &ev->text, out);
    return err;
}

/* The reasoning item is complete: it keeps Codex's encrypted_content and closes. Reasoning
 * without a summary is an item of its own, with an empty summary. */
static int on_reasoning_end(struct resp_encoder *e, const struct cg_event *ev, struct cg_buf *out)
{
    struct item *it = e->n_items ? &e->items[e->n_items - 1] : NULL;
    int err = 0;
    if (it == NULL || it->done || it->kind != KIND_REASONING) {
        it = open_item(e, KIND_REASONING, &err, out);
        if (err)
            return err;
        if (e->p.stream)
            err = item_frame(e, e->n_items - 1, true, out);
    }
    free(it->encrypted);
    it->encrypted = cg_xstrndup(ev->text.ptr ? ev->text.ptr : "", ev->text.len);
    if (!err)
        err = close_open(e, out);
    return err;
}

static int on_event(void *enc, const struct cg_event *ev, struct cg_buf *out)
{
    struct resp_encoder *e = enc;
    if (ev->choice != 0)
        return 0;
    if (ev->type == CG_EVENT_USAGE) {
        cg_usage_add(&e->usage, &ev->usage);
        e->any_usage = true;
        return 0;
    }
    if (e->finished)
        return 0;
    switch (ev->type) {
    case CG_EVENT_REASONING:
        return on_text(e, KIND_REASONING, &ev->text, out);
    case CG_EVENT_REASONING_END:
        return on_reasoning_end(e, ev, out);
    case CG_EVENT_TEXT:
        return on_text(e, KIND_MESSAGE, &ev->text, out);
    case CG_EVENT_TOOL_CALL_START:
        return on_tool_start(e, ev, out);
    case CG_EVENT_TOOL_CALL_ARGS:
        return on_tool_args(e, ev, out);
    case CG_EVENT_FINISH:
        e->finished = true;
        e->finish = ev->finish;
        return 0;
    default:
        return 0;
    }
}

/* The codes OpenAI's clients act on: the Codex CLI maps context_length_exceeded,
 * insufficient_quota and server_is_overloaded to their own errors and retries
 * rate_limit_exceeded; everything else is server_error. */
static const char *failure_code(enum cg_err code)
{
    switch (code) {
    case CG_ERR_RATE_LIMITED:
    case CG_ERR_UPSTREAM_RATE_LIMIT:
    case CG_ERR_QUEUE_FULL:
        return "rate_limit_exceeded";
    case CG_ERR_QUOTA_EXCEEDED:
        return "insufficient_quota";
    case CG_ERR_CONTEXT_LENGTH:
        return "context_length_exceeded";
    case CG_ERR_CONTENT_POLICY:
        return "invalid_prompt";
    case CG_ERR_UPSTREAM_OVERLOADED:
        return "server_is_overloaded";
    default:
        return "server_error";
    }
}

static int usage_json(const struct resp_encoder *e, struct cg_buf *out)
{
    if (!e->any_usage)
        return cg_buf_append_str(out, "null");
    const struct cg_usage *u = &e->usage;
    return cg_buf_appendf(out,
                          "{\"input_tokens\":%" PRId64
                          ",\"input_tokens_details\":{\"cached_tokens\":%" PRId64
                          ",\"cache_write_tokens\":0},\"output_tokens\":%" PRId64
                          ",\"output_tokens_details\":{\"reasoning_tokens\":%" PRId64
                          "},\"total_tokens\":%" PRId64 "}",
                          u->input, u->cached, u->output, u->reasoning, u->input + u->output);
}

/* The response object; `status` in_progress shows no output and no usage yet. Only items
 * that are done are shown (a failed response keeps what was complete). */
static int response_json(struct resp_encoder *e, const char *status, const struct cg_error *error,
                         struct cg_buf *out)
{
    bool progress = strcmp(status, "in_progress") == 0;
    if (strcmp(status, "completed") == 0 && e->completed_at == 0 && e->p.now_s)
        e->completed_at = e->p.now_s();
    int err = cg_buf_append_str(out, "{\"id\":");
    if (!err)
        err = append_id(e, out, e->p.id);
    if (!err)
        err = cg_buf_append_str(out, ",\"object\":\"response\",\"created_at\":");
    if (!err)
        err = append_i64(out, e->p.created_at);
    if (!err)
        err = append_strs(out, ",\"status\":\"", status,
                          "\",\"background\":false,\"completed_at\":", NULL);
    if (!err && strcmp(status, "completed") == 0 && e->completed_at > 0)
        err = append_i64(out, e->completed_at);
    else if (!err)
        err = cg_buf_append_str(out, "null");
    if (!err)
        err = cg_buf_append_str(out, ",\"error\":");
    if (!err && error) {
        err = cg_buf_appendf(out, "{\"code\":\"%s\",\"message\":", failure_code(error->code));
        if (!err)
            err = cg_json_cstring(out, cg_error_message(error));
        if (!err)
            err = cg_buf_append_char(out, '}');
    } else if (!err) {
        err = cg_buf_append_str(out, "null");
    }
    if (!err)
        err = cg_buf_append_str(out, ",\"incomplete_details\":");
    if (!err && strcmp(status, "incomplete") == 0)
        err = cg_buf_appendf(out, "{\"reason\":\"%s\"}",
                             e->finish == CG_FINISH_CONTENT_FILTER ? "content_filter"
                                                                   : "max_output_tokens");
    else if (!err)
        err = cg_buf_append_str(out, "null");
    if (!err)
        err = cg_buf_append(out, e->echo_mid.data, e->echo_mid.len);
    if (!err)
        err = cg_buf_append_str(out, ",\"model\":");
    if (!err)
        err = cg_json_cstring(out, e->p.model);
    if (!err)
        err = cg_buf_append_str(out, ",\"output\":[");
    bool first = true;
    for (size_t i = 0; i < e->n_items && !err && !progress; i++) {
        if (!e->items[i].done)
            continue;
        if (!first)
            err = cg_buf_append_char(out, ',');
        first = false;
        if (!err)
            err = item_json(e, &e->items[i], false, out);
    }
    if (!err)
        err = cg_buf_append_char(out, ']');
    if (!err)
        err = cg_buf_append(out, e->echo_late.data, e->echo_late.len);
    if (!err)
        err = cg_buf_append_str(out, ",\"usage\":");
    if (!err)
        err = progress ? cg_buf_append_str(out, "null") : usage_json(e, out);
    if (!err)
        err = cg_buf_append(out, e->echo_tail.data, e->echo_tail.len);
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}

static int response_frame(struct resp_encoder *e, const char *type, const char *status,
                          const struct cg_error *error, struct cg_buf *out)
{
    int err = frame_begin(e, type, out);
    if (!err)
        err = cg_buf_append_str(out, ",\"response\":");
    if (!err)
        err = response_json(e, status, error, out);
    if (!err)
        err = frame_end(out);
    return err;
}

static const char *final_status(const struct resp_encoder *e)
{
    if (e->finish == CG_FINISH_LENGTH || e->finish == CG_FINISH_CONTENT_FILTER)
        return "incomplete";
    return "completed";
}

static int stream_begin(void *enc, struct cg_buf *out)
{
    struct resp_encoder *e = enc;
    int err = response_frame(e, "response.created", "in_progress", NULL, out);
    if (!err)
        err = response_frame(e, "response.in_progress", "in_progress", NULL, out);
    return err;
}

static int stream_settle(void *enc, struct cg_buf *out)
{
    return close_open(enc, out);
}

static int stream_end(void *enc, struct cg_buf *out)
{
    struct resp_encoder *e = enc;
    int err = close_open(e, out);
    const char *status = final_status(e);
    if (!err)
        err = response_frame(
            e, strcmp(status, "incomplete") == 0 ? "response.incomplete" : "response.completed",
            status, NULL, out);
    return err;
}

static int stream_error(void *enc, const struct cg_error *error, struct cg_buf *out)
{
    return response_frame(enc, "response.failed", "failed", error, out);
}

static int body(void *enc, struct cg_buf *out)
{
    struct resp_encoder *e = enc;
    int err = close_open(e, out);
    if (!err)
        err = response_json(e, final_status(e), NULL, out);
    return err;
}

int cg_responses_encoder_response(void *enc, struct cg_buf *out)
{
    struct resp_encoder *e = enc;
    /* The stored copy keeps Codex's encrypted reasoning whatever the client asked to see: a
     * chain continued later replays it (a reader sees it only when it asks). */
    bool shown = e->p.include_encrypted_reasoning;
    e->p.include_encrypted_reasoning = true;
    int err = body(e, out);
    e->p.include_encrypted_reasoning = shown;
    return err;
}

static bool stopped(void *enc, unsigned choice)
{
    (void)enc;
    (void)choice;
    return false; /* Responses has no stop sequences */
}

const struct cg_encoder_ops cg_responses_encoder_ops = {
    .stream_begin = stream_begin,
    .event = on_event,
    .stream_settle = stream_settle,
    .stream_end = stream_end,
    .stream_error = stream_error,
    .body = body,
    .stopped = stopped,
    .free = encoder_free,
};
