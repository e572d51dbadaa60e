/* scenario.c: the fake model. Chooses a turn's scenario from its `fake:` markers and appends
 * the notifications the real app-server sends for such a model response (see README.md). */
#include "scenario.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "main.h"
#include "threads.h"
#include "util.h"

#define ECHO_DELTA_BYTES 16
#define DELTAS_MAX       1000000u
#define TOOL_CALLS_MAX   256u
#define HUGELINE_MAX     (1024u * 1024u * 1024u)
#define HUGELINE_DEFAULT (1024u * 1024u)
#define SLOW_MS_MAX      3600000u
#define FLOOD_MAX        (4ull * 1024u * 1024u * 1024u)
#define FLOOD_DEFAULT    (16u * 1024u * 1024u)
#define FLOOD_LINE_MAX   (64u * 1024u * 1024u)
#define FLOOD_LINE_DEF   (256u * 1024u)
#define SLOW_DEFAULT_N   20u
#define DELTAS_DEFAULT_N 8u
#define RESET_DEFAULT_S  120u
#define RESET_MAX_S      (7u * 24u * 3600u)

/* One scenario being built. */
struct ctx {
    struct fc_turn *t;
    struct fc_thread *th;
    json_t *params; /* turn/start params */
    const char *name;
    const char *arg; /* NULL when absent */
};

/* An agent message being appended. */
struct msg {
    char id[FC_ID_MAX];
    struct fc_buf text;
    size_t n;
};

struct error_kind {
    const char *kind;
    const char *message;
    const char *info_json; /* codexErrorInfo */
};

static const struct error_kind error_kinds[] = {
    {"server",
     "We\xe2\x80\x99re currently experiencing high demand, which may cause temporary errors.",
     "\"internalServerError\""},
    {"ratelimit", "exceeded retry limit, last status: 429 Too Many Requests",
     "{\"responseTooManyFailedAttempts\":{\"httpStatusCode\":429}}"},
    {"usage", "You've hit your usage limit.", "\"usageLimitExceeded\""},
    {"context",
     "Your input exceeds the context window of this model. Please adjust your input and try "
     "again.",
     "\"contextWindowExceeded\""},
    {"unauthorized",
     "unexpected status 401 Unauthorized: invalid api key, url: http://127.0.0.1/v1/responses",
     "{\"httpConnectionFailed\":{\"httpStatusCode\":401}}"},
    {"failed", "stream disconnected before completion: mock response.failed", "\"other\""},
};

static const char *const cities[] = {"Paris", "Tokyo",  "Oslo",    "Lima",
                                     "Cairo", "Sydney", "Toronto", "Nairobi"};

/* ---- markers ---------------------------------------------------------------------------- */

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

static bool parse_usage(const char *arg, struct fc_usage *u)
{
    uint64_t v[4] = {0, 0, 0, 0};
    size_t n = 0;
    const char *p = arg;
    while (n < 4) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!fc_parse_u64(p, len, INT64_MAX / 4, &v[n]))
            return false;
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    if (n < 3 || (n == 4 && strchr(p, ',')))
        return false;
    u->input = (int64_t)v[0];
    u->cached = (int64_t)v[1];
    u->output = (int64_t)v[2];
    u->reasoning = (int64_t)v[3];
    return true;
}

/* Records the marker at s[0..len) (without the "fake:" prefix); returns the bytes used. */
static size_t take_marker(const char *s, size_t len, struct fc_markers *m)
{
    size_t i = 0;
    while (i < len && is_name_char(s[i]))
        i++;
    size_t name_len = i;
    const char *arg = NULL;
    size_t arg_len = 0;
    if (i < len && s[i] == '=') {
        arg = s + i + 1;
        i++;
        while (i < len && !isspace((unsigned char)s[i]))
            i++;
        arg_len = (size_t)(s + i - arg);
    }
    if (name_len == 0)
        return i;
    if (name_len == 5 && memcmp(s, "usage", 5) == 0) {
        if (m->has_usage)
            return i;
        m->has_usage = true;
        char *copy = fc_xstrndup(arg ? arg : "", arg_len);
        m->usage_bad = !parse_usage(copy, &m->usage);
        free(copy);
        return i;
    }
    if (m->has_scenario)
        return i;
    m->has_scenario = true;
    if (name_len >= sizeof(m->name))
        name_len = sizeof(m->name) - 1;
    memcpy(m->name, s, name_len);
    m->name[name_len] = '\0';
    m->arg = arg ? fc_xstrndup(arg, arg_len) : NULL;
    return i;
}

/* Finds the `fake:` markers of a text (prefixed) or the space-separated markers of
 * FAKE_CODEX_SCENARIO (not prefixed). */
static void scan_markers(const char *text, size_t len, bool prefixed, struct fc_markers *m)
{
    size_t i = 0;
    while (i < len) {
        if (prefixed) {
            const char *hit = memmem(text + i, len - i, "fake:", 5);
            if (!hit)
                return;
            i = (size_t)(hit - text) + 5;
        } else {
            while (i < len && isspace((unsigned char)text[i]))
                i++;
            if (i >= len)
                return;
        }
        i += take_marker(text + i, len - i, m);
        if (!prefixed) {
            while (i < len && !isspace((unsigned char)text[i]))
                i++;
        }
    }
}

static void markers_dispose(struct fc_markers *m)
{
    free(m->arg);
    m->arg = NULL;
}

/* Texts of the input items (type "text"), joined with newlines; false when there is none. */
static bool input_text(json_t *input, struct fc_buf *out)
{
    size_t i;
    json_t *item;
    bool any = false;
    json_array_foreach(input, i, item)
    {
        json_t *text = json_object_get(item, "text");
        if (!json_is_string(text) || json_string_length(text) == 0)
            continue;
        if (!json_is_string(json_object_get(item, "type")) ||
            strcmp(json_string_value(json_object_get(item, "type")), "text") != 0)
            continue;
        if (any)
            fc_buf_appendc(out, '\n');
        fc_buf_append(out, json_string_value(text), json_string_length(text));
        any = true;
    }
    return any;
}

/* Texts of the last injected user message. */
static void last_injected_user_text(struct fc_thread *th, struct fc_buf *out)
{
    for (size_t i = json_array_size(th->injected); i-- > 0;) {
        json_t *item = json_array_get(th->injected, i);
        const char *type = json_string_value(json_object_get(item, "type"));
        const char *role = json_string_value(json_object_get(item, "role"));
        if (!type || !role || strcmp(type, "message") != 0 || strcmp(role, "user") != 0)
            continue;
        size_t k;
        json_t *part;
        json_array_foreach(json_object_get(item, "content"), k, part)
        {
            json_t *text = json_object_get(part, "text");
            if (!json_is_string(text))
                continue;
            fc_buf_appendc(out, '\n');
            fc_buf_append(out, json_string_value(text), json_string_length(text));
        }
        return;
    }
}

/* ---- building blocks -------------------------------------------------------------------- */

static json_t *usage_json(const struct fc_usage *u)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "totalTokens",
                     (json_int_t)(u->input + u->output), "inputTokens", (json_int_t)u->input,
                     "cachedInputTokens", (json_int_t)u->cached, "cacheWriteInputTokens",
                     (json_int_t)0, "outputTokens", (json_int_t)u->output, "reasoningOutputTokens",
                     (json_int_t)u->reasoning);
}

static json_t *item_params(struct fc_turn *t, json_t *item)
{
    return json_pack("{s:o, s:s, s:s}", "item", item, "threadId", t->thread->id, "turnId", t->id);
}

static void status_changed(struct fc_turn *t, json_t *status)
{
    fc_turn_notify(t, "thread/status/changed",
                   json_pack("{s:s, s:o}", "threadId", t->thread->id, "status", status),
                   FC_OPF_STATUS);
}

static void raw_item(struct fc_turn *t, json_t *item)
{
    if (!t->thread->raw_events) {
        json_decref(item);
        return;
    }
    fc_turn_notify(t, "rawResponseItem/completed", item_params(t, item), 0);
}

static void rate_limits(struct fc_turn *t)
{
    fc_turn_notify(t, "account/rateLimits/updated",
                   json_pack("{s:{s:s, s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n}}", "rateLimits",
                             "limitId", "codex", "limitName", "normalModelSlug", "primary",
                             "secondary", "credits", "individualLimit", "spendControlReached",
                             "planType"),
                   0);
}

/* rawResponse/completed (raw events only) for the model response that just ended. */
static void raw_response_done(struct fc_turn *t)
{
    if (!t->thread->raw_events)
        return;
    char resp_id[FC_ID_MAX];
    fc_id_prefixed(resp_id, "resp_");
    fc_turn_notify(t, "rawResponse/completed",
                   json_pack("{s:s, s:s, s:s, s:o, s:n}", "threadId", t->thread->id, "turnId",
                             t->id, "responseId", resp_id, "usage", usage_json(&t->usage),
                             "usageMetadata"),
                   0);
}

/* End of a model response that the turn does not wait on: raw completion and token usage. */
static void response_end(struct fc_turn *t)
{
    raw_response_done(t);
    fc_turn_usage(t, &t->usage);
}

static void finish_ok(struct fc_turn *t)
{
    status_changed(t, json_pack("{s:s}", "type", "idle"));
    fc_turn_complete(t, "completed", NULL);
}

static void msg_begin(struct fc_turn *t, struct msg *m)
{
    fc_id_prefixed(m->id, "msg_");
    memset(&m->text, 0, sizeof(m->text));
    m->n = 0;
    fc_turn_notify(t, "item/started",
                   item_params(t, json_pack("{s:s, s:s, s:s}", "type", "agentMessage", "id", m->id,
                                            "text", "")),
                   FC_OPF_STAMP_START);
}

static void msg_delta(struct fc_turn *t, struct msg *m, const char *s, size_t len)
{
    if (m->n++ > 0)
        fc_turn_delay(t, t->gap_ms);
    fc_turn_delta(t, m->id, s, len);
    fc_buf_append(&m->text, s, len);
}

/* Splits `s` into deltas at word starts: "a b c" -> "a", " b", " c". */
static void msg_words(struct fc_turn *t, struct msg *m, const char *s)
{
    size_t len = strlen(s);
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] == ' ')
            j++;
        while (j < len && s[j] != ' ')
            j++;
        msg_delta(t, m, s + i, j - i);
        i = j;
    }
}

static void msg_end(struct fc_turn *t, struct msg *m)
{
    const char *text = m->text.data ? m->text.data : "";
    fc_turn_notify(t, "item/completed",
                   item_params(t, json_pack("{s:s, s:s, s:s}", "type", "agentMessage", "id", m->id,
                                            "text", text)),
                   FC_OPF_STAMP_DONE | FC_OPF_FINAL);
    raw_item(t, json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:[]}], s:s}", "type", "message", "id",
                          m->id, "role", "assistant", "content", "type", "output_text", "text",
                          text, "annotations", "status", "completed"));
    fc_buf_dispose(&m->text);
}

static void msg_abandon(struct msg *m)
{
    fc_buf_dispose(&m->text);
}

/* A whole text answer: agent message in word deltas, usage, turn completed. */
static void answer_text(struct fc_turn *t, const char *text)
{
    struct msg m;
    msg_begin(t, &m);
    msg_words(t, &m, text);
    msg_end(t, &m);
    response_end(t);
    finish_ok(t);
}

/* A whole answer in deltas of at most ECHO_DELTA_BYTES, cut on UTF-8 boundaries. */
static void answer_chunked(struct fc_turn *t, const char *text)
{
    struct msg m;
    msg_begin(t, &m);
    size_t len = strlen(text);
    for (size_t off = 0; off < len;) {
        size_t n = fc_utf8_prefix(text + off, len - off, ECHO_DELTA_BYTES);
        msg_delta(t, &m, text + off, n);
        off += n;
    }
    msg_end(t, &m);
    response_end(t);
    finish_ok(t);
}

/* Raw events replay the thread's initial context once, at its first turn: the developer
 * messages built from baseInstructions and developerInstructions. */
static void initial_context(struct fc_turn *t)
{
    struct fc_thread *th = t->thread;
    if (!th->raw_events || th->context_sent)
        return;
    th->context_sent = true;
    static const char *const keys[] = {"baseInstructions", "developerInstructions"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *text = json_object_get(th->params, keys[i]);
        if (!json_is_string(text) || json_string_length(text) == 0)
            continue;
        raw_item(t, json_pack("{s:s, s:s, s:[{s:s, s:O}]}", "type", "message", "role", "developer",
                              "content", "type", "input_text", "text", text));
    }
}

static void user_message(struct fc_turn *t, json_t *input)
{
    if (json_array_size(input) == 0)
        return;
    char id[FC_ID_MAX];
    fc_id_uuid(id);
    if (t->thread->raw_events) {
        json_t *content = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(input, i, item)
        {
            json_t *text = json_object_get(item, "text");
            if (json_is_string(text))
                json_array_append_new(content,
                                      json_pack("{s:s, s:O}", "type", "input_text", "text", text));
        }
        raw_item(
            t, json_pack("{s:s, s:s, s:o}", "type", "message", "role", "user", "content", content));
    }
    fc_turn_notify(t, "item/started",
                   item_params(t, json_pack("{s:s, s:s, s:n, s:O}", "type", "userMessage", "id", id,
                                            "clientId", "content", input)),
                   FC_OPF_STAMP_START);
    fc_turn_notify(t, "item/completed",
                   item_params(t, json_pack("{s:s, s:s, s:n, s:O}", "type", "userMessage", "id", id,
                                            "clientId", "content", input)),
                   FC_OPF_STAMP_DONE);
}

static json_t *turn_error(const char *message, json_t *info, json_t *details)
{
    return json_pack("{s:s, s:o, s:o, s:n}", "message", message, "codexErrorInfo", info,
                     "additionalDetails", details ? details : json_null(), "misalignment");
}

static const char *cwd_of(struct fc_thread *th, char *buf, size_t size)
{
    const char *cwd = json_string_value(json_object_get(th->params, "cwd"));
    if (cwd)
        return cwd;
    return getcwd(buf, size) ? buf : "/";
}

static bool arg_u64(const char *arg, uint64_t def, uint64_t max, uint64_t *out)
{
    if (!arg) {
        *out = def;
        return true;
    }
    return fc_parse_u64(arg, strlen(arg), max, out);
}

static void bad_scenario(struct ctx *c)
{
    struct fc_buf b = {0};
    fc_buf_appendf(&b, "fake-codex: bad scenario `%s%s%s`", c->name, c->arg ? "=" : "",
                   c->arg ? c->arg : "");
    fprintf(stderr, "%s\n", b.data);
    answer_text(c->t, b.data);
    fc_buf_dispose(&b);
}

/* ---- scenarios -------------------------------------------------------------------------- */

static void sc_text(struct ctx *c)
{
    static const char *const parts[] = {"Hello", " from", " fake-codex", "."};
    struct msg m;
    msg_begin(c->t, &m);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        msg_delta(c->t, &m, parts[i], strlen(parts[i]));
    msg_end(c->t, &m);
    response_end(c->t);
    finish_ok(c->t);
}

static void numbered_deltas(struct fc_turn *t, char letter, uint64_t n)
{
    struct msg m;
    msg_begin(t, &m);
    for (uint64_t i = 0; i < n; i++) {
        char d[32];
        int len = snprintf(d, sizeof(d), "%c%llu ", letter, (unsigned long long)i);
        msg_delta(t, &m, d, (size_t)len);
    }
    msg_end(t, &m);
    response_end(t);
    finish_ok(t);
}

static void sc_deltas(struct ctx *c)
{
    uint64_t n = 0;
    if (!arg_u64(c->arg, DELTAS_DEFAULT_N, DELTAS_MAX, &n)) {
        bad_scenario(c);
        return;
    }
    numbered_deltas(c->t, 'w', n);
}

static void sc_slow(struct ctx *c)
{
    uint64_t ms = 100;
    uint64_t n = SLOW_DEFAULT_N;
    if (c->arg) {
        const char *comma = strchr(c->arg, ',');
        size_t ms_len = comma ? (size_t)(comma - c->arg) : strlen(c->arg);
        if (!fc_parse_u64(c->arg, ms_len, SLOW_MS_MAX, &ms) ||
            (comma && !fc_parse_u64(comma + 1, strlen(comma + 1), DELTAS_MAX, &n))) {
            bad_scenario(c);
            return;
        }
    }
    c->t->gap_ms = ms;
    numbered_deltas(c->t, 's', n);
}

/* A reasoning item: summary part and deltas, raw text deltas, its completion and raw item. */
static void reasoning_item(struct fc_turn *t)
{
    static const char *const summary[] = {"**Plan**", " think", " step one."};
    static const char *const raw[] = {"raw ", "thought"};
    char id[FC_ID_MAX];
    fc_id_prefixed(id, "rs_");
    fc_turn_notify(t, "item/started",
                   item_params(t, json_pack("{s:s, s:s, s:[], s:[]}", "type", "reasoning", "id", id,
                                            "summary", "content")),
                   FC_OPF_STAMP_START);
    fc_turn_notify(t, "item/reasoning/summaryPartAdded",
                   json_pack("{s:s, s:s, s:s, s:i}", "threadId", t->thread->id, "turnId", t->id,
                             "itemId", id, "summaryIndex", 0),
                   0);
    for (size_t i = 0; i < 3; i++) {
        if (i > 0)
            fc_turn_delay(t, t->gap_ms);
        fc_turn_notify(t, "item/reasoning/summaryTextDelta",
                       json_pack("{s:s, s:s, s:s, s:s, s:i}", "threadId", t->thread->id, "turnId",
                                 t->id, "itemId", id, "delta", summary[i], "summaryIndex", 0),
                       0);
    }
    for (size_t i = 0; i < 2; i++) {
        fc_turn_delay(t, t->gap_ms);
        fc_turn_notify(t, "item/reasoning/textDelta",
                       json_pack("{s:s, s:s, s:s, s:s, s:i}", "threadId", t->thread->id, "turnId",
                                 t->id, "itemId", id, "delta", raw[i], "contentIndex", 0),
                       0);
    }
    const char *summary_text = "**Plan** think step one.";
    const char *raw_text = "raw thought";
    fc_turn_notify(t, "item/completed",
                   item_params(t, json_pack("{s:s, s:s, s:[s], s:[s]}", "type", "reasoning", "id",
                                            id, "summary", summary_text, "content", raw_text)),
                   FC_OPF_STAMP_DONE);
    /* Codex always asks for encrypted reasoning, so its raw items carry the opaque blob. */
    char enc[FC_ID_MAX + 8];
    snprintf(enc, sizeof(enc), "gAAAA%s", id);
    raw_item(t,
             json_pack("{s:s, s:s, s:[{s:s, s:s}], s:[{s:s, s:s}], s:s}", "type", "reasoning", "id",
                       id, "summary", "type", "summary_text", "text", summary_text, "content",
                       "type", "reasoning_text", "text", raw_text, "encrypted_content", enc));
}

static void sc_reasoning(struct ctx *c)
{
    struct fc_turn *t = c->t;
    reasoning_item(t);
    struct msg m;
    msg_begin(t, &m);
    msg_words(t, &m, "Reasoned answer.");
    msg_end(t, &m);
    response_end(t);
    finish_ok(t);
}

static void tools_after_answers(struct fc_turn *t)
{
    struct fc_buf said = {0};
    fc_buf_append(&said, "Tool said: ", 11);
    for (size_t i = 0; i < t->ncalls; i++) {
        const char *out = t->calls[i].output ? t->calls[i].output : "";
        if (t->thread->raw_events) {
            raw_item(t, json_pack("{s:s, s:s, s:s}", "type", "function_call_output", "call_id",
                                  t->calls[i].id, "output", out));
        }
        if (i > 0)
            fc_buf_append(&said, "; ", 2);
        fc_buf_append(&said, out, strlen(out));
    }
    if (t->usage_pending) {
        fc_turn_usage(t, &t->pending_usage);
        t->usage_pending = false;
    }
    answer_text(t, said.data);
    fc_buf_dispose(&said);
}

/* What a model response says before its tool calls. */
enum preamble { PRE_NONE, PRE_TEXT, PRE_REASONING };

static void tool_calls(struct ctx *c, enum preamble pre)
{
    struct fc_turn *t = c->t;
    json_t *tools = c->th->tools;
    uint64_t n = 0;
    if (!arg_u64(c->arg, 1, TOOL_CALLS_MAX, &n) || n == 0) {
        bad_scenario(c);
        return;
    }
    if (json_array_size(tools) == 0) {
        answer_text(t, "no tools");
        return;
    }
    if (pre == PRE_REASONING)
        reasoning_item(t);
    if (pre == PRE_TEXT) {
        struct msg m;
        msg_begin(t, &m);
        msg_words(t, &m, "Let me check.");
        msg_end(t, &m);
    }
    for (uint64_t k = 0; k < n; k++) {
        json_t *tool = json_array_get(tools, k % json_array_size(tools));
        const char *name = json_string_value(json_object_get(tool, "name"));
        json_t *ns = json_object_get(tool, "namespace");
        json_t *args = json_pack("{s:s}", "city", cities[k % (sizeof(cities) / sizeof(*cities))]);
        char call_id[FC_ID_MAX];
        fc_id_call(call_id);
        if (t->thread->raw_events) {
            char fc_id[FC_ID_MAX];
            fc_id_prefixed(fc_id, "fc_");
            char *args_text = json_dumps(args, JSON_COMPACT);
            json_t *raw = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "function_call", "id",
                                    fc_id, "name", name, "arguments", args_text, "call_id", call_id,
                                    "status", "completed");
            if (json_is_string(ns))
                json_object_set(raw, "namespace", ns);
            free(args_text);
            raw_item(t, raw);
        }
        json_t *item =
            json_pack("{s:s, s:s, s:O, s:s, s:O, s:s, s:n, s:n, s:n}", "type", "dynamicToolCall",
                      "id", call_id, "namespace", ns, "tool", name, "arguments", args, "status",
                      "inProgress", "contentItems", "success", "durationMs");
        fc_turn_notify(t, "item/started", item_params(t, json_deep_copy(item)), FC_OPF_STAMP_START);
        fc_turn_request(t, FC_CALL_TOOL, call_id, item, "item/tool/call",
                        json_pack("{s:s, s:s, s:s, s:O, s:s, s:o}", "threadId", t->thread->id,
                                  "turnId", t->id, "callId", call_id, "namespace", ns, "tool", name,
                                  "arguments", args));
    }
    raw_response_done(t);
    fc_turn_usage_deferred(t, &t->usage);
    fc_turn_wait(t, tools_after_answers);
}

static void sc_tools(struct ctx *c)
{
    tool_calls(c, PRE_NONE);
}

static void sc_tooltext(struct ctx *c)
{
    tool_calls(c, PRE_TEXT);
}

static void sc_thinktools(struct ctx *c)
{
    tool_calls(c, PRE_REASONING);
}

static void sc_echo(struct ctx *c)
{
    json_t *sp = c->th->params;
    json_t *names = json_array();
    json_t *schemas = json_object();
    size_t i;
    json_t *spec;
    json_array_foreach(json_object_get(sp, "dynamicTools"), i, spec)
    {
        json_t *name = json_object_get(spec, "name");
        if (!json_is_string(name))
            continue;
        json_array_append(names, name);
        json_t *schema = json_object_get(spec, "inputSchema");
        json_object_set(schemas, json_string_value(name), schema ? schema : json_null());
    }
    json_t *model = json_object_get(c->params, "model");
    model = json_is_string(model) ? json_incref(model) : json_string(c->th->model);
    json_t *echo = json_pack(
        "{s:o, s:O?, s:O?, s:O?, s:O?, s:o, s:o, s:O, s:O?, s:O?, s:b, s:O?, s:O?, s:O?, s:O?, "
        "s:O?}",
        "model", model, "effort", json_object_get(c->params, "effort"), "summary",
        json_object_get(c->params, "summary"), "baseInstructions",
        json_object_get(sp, "baseInstructions"), "developerInstructions",
        json_object_get(sp, "developerInstructions"), "tools", names, "toolSchemas", schemas,
        "injected", c->th->injected, "input", json_object_get(c->params, "input"), "outputSchema",
        json_object_get(c->params, "outputSchema"), "experimentalRawEvents", c->th->raw_events,
        "approvalPolicy", json_object_get(sp, "approvalPolicy"), "sandbox",
        json_object_get(sp, "sandbox"), "cwd", json_object_get(sp, "cwd"), "config",
        json_object_get(sp, "config"), "ephemeral", json_object_get(sp, "ephemeral"));
    char *text = json_dumps(echo, JSON_COMPACT);
    json_decref(echo);
    answer_chunked(c->t, text);
    free(text);
}

/* The definition a local `$ref` ("#/$defs/X" or "#/definitions/X") points at, else `s`. */
static json_t *schema_deref(json_t *root, json_t *s)
{
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    static const char *const keys[] = {"$defs", "definitions"};
    for (size_t i = 0; ref && i < sizeof(keys) / sizeof(keys[0]); i++) {
        size_t n = strlen(keys[i]);
        if (strncmp(ref, "#/", 2) == 0 && strncmp(ref + 2, keys[i], n) == 0 && ref[2 + n] == '/') {
            json_t *found = json_object_get(json_object_get(root, keys[i]), ref + 3 + n);
            return found ? found : s;
        }
    }
    return s;
}

/* A value that satisfies JSON Schema `s` (the subset structured outputs use: object, array,
 * string, number, integer, boolean, null, enum, const, anyOf/oneOf, local $ref), as a model
 * under an outputSchema answers. `depth` bounds recursive schemas. */
static json_t *schema_instance(json_t *root, json_t *s, int depth)
{
    s = schema_deref(root, s);
    if (!json_is_object(s) || depth > 16)
        return json_null();
    json_t *v = json_object_get(s, "const");
    if (v)
        return json_deep_copy(v);
    v = json_object_get(s, "enum");
    if (json_array_size(v) > 0)
        return json_deep_copy(json_array_get(v, 0));
    static const char *const alts[] = {"anyOf", "oneOf", "allOf"};
    for (size_t i = 0; i < sizeof(alts) / sizeof(alts[0]); i++) {
        v = json_object_get(s, alts[i]);
        if (json_array_size(v) > 0)
            return schema_instance(root, json_array_get(v, 0), depth + 1);
    }
    json_t *type = json_object_get(s, "type");
    if (json_is_array(type))
        type = json_array_get(type, 0);
    const char *t = json_string_value(type);
    if (t == NULL)
        t = json_object_get(s, "properties") ? "object" : "null";
    if (strcmp(t, "object") == 0) {
        json_t *out = json_object();
        const char *key;
        json_t *prop;
        json_object_foreach(json_object_get(s, "properties"), key, prop)
        {
            json_object_set_new(out, key, schema_instance(root, prop, depth + 1));
        }
        return out;
    }
    if (strcmp(t, "array") == 0) {
        json_t *items = json_object_get(s, "items");
        json_t *min = json_object_get(s, "minItems");
        json_int_t n =
            json_is_integer(min) && json_integer_value(min) > 1 ? json_integer_value(min) : 1;
        json_t *out = json_array();
        for (json_int_t i = 0; i < n && i < 8; i++)
            json_array_append_new(out, schema_instance(root, items, depth + 1));
        return out;
    }
    if (strcmp(t, "string") == 0)
        return json_string("fake");
    if (strcmp(t, "integer") == 0 || strcmp(t, "number") == 0) {
        json_t *bound = json_object_get(s, "minimum");
        if (!json_is_number(bound))
            bound = json_object_get(s, "maximum");
        return json_integer(json_is_number(bound) ? (json_int_t)json_number_value(bound) : 42);
    }
    if (strcmp(t, "boolean") == 0)
        return json_true();
    return json_null();
}

/* The answer a model gives under turn/start.outputSchema: an instance of the schema (`{}`
 * without one). */
static void sc_json(struct ctx *c)
{
    json_t *schema = json_object_get(c->params, "outputSchema");
    json_t *value = json_is_object(schema) ? schema_instance(schema, schema, 0) : json_object();
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    answer_chunked(c->t, text);
    free(text);
}

static const struct error_kind *find_error(const char *kind)
{
    for (size_t i = 0; i < sizeof(error_kinds) / sizeof(error_kinds[0]); i++) {
        if (strcmp(error_kinds[i].kind, kind) == 0)
            return &error_kinds[i];
    }
    return NULL;
}

static void error_sequence(struct fc_turn *t, const struct error_kind *e)
{
    json_t *info = json_loads(e->info_json, JSON_DECODE_ANY, NULL);
    status_changed(t, json_pack("{s:s}", "type", "systemError"));
    fc_turn_notify(t, "error",
                   json_pack("{s:o, s:b, s:s, s:s}", "error",
                             turn_error(e->message, json_incref(info), NULL), "willRetry", 0,
                             "threadId", t->thread->id, "turnId", t->id),
                   0);
    fc_turn_complete(t, "failed", turn_error(e->message, info, NULL));
}

static void sc_error(struct ctx *c)
{
    const struct error_kind *e = find_error(c->arg ? c->arg : "server");
    if (!e) {
        bad_scenario(c);
        return;
    }
    if (strcmp(e->kind, "failed") == 0)
        rate_limits(c->t);
    error_sequence(c->t, e);
}

static void sc_errorafter(struct ctx *c)
{
    const struct error_kind *e = find_error(c->arg ? c->arg : "server");
    if (!e) {
        bad_scenario(c);
        return;
    }
    struct msg m;
    msg_begin(c->t, &m);
    msg_delta(c->t, &m, "partial ", 8);
    msg_delta(c->t, &m, "answer ", 7);
    msg_abandon(&m);
    rate_limits(c->t);
    error_sequence(c->t, e);
}

/* An upstream 429 after Codex saw the account's primary window used up until now + SECONDS. */
static void sc_ratelimited(struct ctx *c)
{
    uint64_t secs = 0;
    if (!arg_u64(c->arg, RESET_DEFAULT_S, RESET_MAX_S, &secs)) {
        bad_scenario(c);
        return;
    }
    json_int_t resets = (json_int_t)(fc_now_ms() / 1000 + (int64_t)secs);
    fc_turn_notify(c->t, "account/rateLimits/updated",
                   json_pack("{s:{s:s, s:n, s:{s:i, s:i, s:I}, s:n, s:n, s:n}}", "rateLimits",
                             "limitId", "codex", "limitName", "primary", "usedPercent", 100,
                             "windowDurationMins", 300, "resetsAt", resets, "secondary", "credits",
                             "planType"),
                   0);
    error_sequence(c->t, find_error("ratelimit"));
}

/* A plain answer from an account whose windows are partly used: the primary (5 h) window at
 * PERCENT, resetting in an hour, the secondary (7 d) at half of it, resetting in a day. As
 * Codex does, the snapshot follows the model response's text. */
static void sc_quota(struct ctx *c)
{
    uint64_t percent = 0;
    if (!arg_u64(c->arg, 42, 100, &percent)) {
        bad_scenario(c);
        return;
    }
    struct msg m;
    msg_begin(c->t, &m);
    msg_delta(c->t, &m, "Hello", 5);
    msg_end(c->t, &m);
    json_int_t now = (json_int_t)(fc_now_ms() / 1000);
    fc_turn_notify(c->t, "account/rateLimits/updated",
                   json_pack("{s:{s:s, s:n, s:{s:I, s:i, s:I}, s:{s:I, s:i, s:I}, s:n, s:n}}",
                             "rateLimits", "limitId", "codex", "limitName", "primary",
                             "usedPercent", (json_int_t)percent, "windowDurationMins", 300,
                             "resetsAt", now + 3600, "secondary", "usedPercent",
                             (json_int_t)percent / 2, "windowDurationMins", 10080, "resetsAt",
                             now + 86400, "credits", "planType"),
                   0);
    response_end(c->t);
    finish_ok(c->t);
}

static void sc_retry(struct ctx *c)
{
    struct fc_turn *t = c->t;
    struct msg a;
    msg_begin(t, &a);
    msg_delta(t, &a, "Hel", 3);
    msg_delta(t, &a, "lo", 2);
    msg_abandon(&a);
    fc_turn_notify(
        t, "error",
        json_pack("{s:o, s:b, s:s, s:s}", "error",
                  turn_error("Reconnecting... 1/5",
                             json_pack("{s:{s:n}}", "responseStreamDisconnected", "httpStatusCode"),
                             json_string("stream disconnected before completion")),
                  "willRetry", 1, "threadId", t->thread->id, "turnId", t->id),
        0);
    struct msg b;
    msg_begin(t, &b);
    msg_words(t, &b, "Hello after retry.");
    msg_end(t, &b);
    response_end(t);
    finish_ok(t);
}

static void sc_hang(struct ctx *c)
{
    fc_turn_halt(c->t);
}

static void sc_stuck(struct ctx *c)
{
    c->t->stuck = true;
    fc_turn_halt(c->t);
}

static void sc_crash(struct ctx *c)
{
    int code = 1;
    if (c->arg && strcmp(c->arg, "signal") == 0) {
        code = -1;
    } else if (c->arg) {
        bad_scenario(c);
        return;
    }
    struct msg m;
    msg_begin(c->t, &m);
    msg_delta(c->t, &m, "Hello", 5);
    msg_delta(c->t, &m, " from", 5);
    msg_abandon(&m);
    fc_turn_exit(c->t, code);
}

static void sc_garbage(struct ctx *c)
{
    struct fc_turn *t = c->t;
    static const char *const lines[] = {"this is not JSON {", "", "[1,2,3]", "{}",
                                        "{\"id\":-42,\"result\":{}}"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        fc_turn_line(t, false, lines[i], strlen(lines[i]));
    fc_turn_notify(t, "fake/unknownNotification", json_pack("{s:s}", "hello", "world"), 0);
    char ghost_thread[FC_ID_MAX];
    char ghost_turn[FC_ID_MAX];
    fc_id_uuid(ghost_thread);
    fc_id_uuid(ghost_turn);
    fc_turn_notify(t, "item/agentMessage/delta",
                   json_pack("{s:s, s:s, s:s, s:s}", "threadId", ghost_thread, "turnId", ghost_turn,
                             "itemId", "msg_ghost", "delta", "ghost"),
                   0);
    const char *err = "fake-codex: WARN garbage scenario: junk lines written to stdout";
    fc_turn_line(t, true, err, strlen(err));
    sc_text(c);
}

static void sc_hugeline(struct ctx *c)
{
    uint64_t bytes = 0;
    if (!arg_u64(c->arg, HUGELINE_DEFAULT, HUGELINE_MAX, &bytes)) {
        bad_scenario(c);
        return;
    }
    char *text = fc_xmalloc(bytes + 1);
    memset(text, 'a', bytes);
    text[bytes] = '\0';
    struct msg m;
    msg_begin(c->t, &m);
    msg_delta(c->t, &m, text, bytes);
    free(text);
    msg_end(c->t, &m);
    response_end(c->t);
    finish_ok(c->t);
}

/* flood=BYTES[,LINE]: junk on stdout as fast as it is taken, then the `text` answer. */
static void sc_flood(struct ctx *c)
{
    uint64_t bytes = FLOOD_DEFAULT;
    uint64_t line = FLOOD_LINE_DEF;
    if (c->arg) {
        const char *comma = strchr(c->arg, ',');
        size_t len = comma ? (size_t)(comma - c->arg) : strlen(c->arg);
        if (!fc_parse_u64(c->arg, len, FLOOD_MAX, &bytes) ||
            (comma && !fc_parse_u64(comma + 1, strlen(comma + 1), FLOOD_LINE_MAX, &line))) {
            bad_scenario(c);
            return;
        }
    }
    fc_turn_flood(c->t, bytes, line);
    sc_text(c);
}

/* deaf: the fake stops reading stdin for good, sends one delta and then nothing for this turn;
 * the process stays up. */
static void sc_deaf(struct ctx *c)
{
    if (c->arg) {
        bad_scenario(c);
        return;
    }
    fc_main_stop_reading();
    struct msg m;
    msg_begin(c->t, &m);
    msg_delta(c->t, &m, "deaf ", 5);
    msg_abandon(&m);
    fc_turn_halt(c->t);
}

static void approval_after_answer(struct fc_turn *t)
{
    struct fc_call *call = &t->calls[0];
    const char *decision = call->output ? call->output : "none";
    const char *status = "declined";
    json_t *exit_code = json_null();
    json_t *output = json_null();
    if (strncmp(decision, "accept", 6) == 0) {
        status = "completed";
        exit_code = json_integer(0);
        output = json_string("");
    } else if (strcmp(decision, "error") == 0) {
        status = "failed";
    }
    json_t *item = json_deep_copy(call->item);
    json_object_set_new(item, "status", json_string(status));
    json_object_set_new(item, "exitCode", exit_code);
    json_object_set_new(item, "aggregatedOutput", output);
    json_object_set_new(item, "durationMs", json_integer(fc_now_ms() - call->sent_ms));
    fc_turn_notify(t, "item/completed", item_params(t, item), FC_OPF_STAMP_DONE);
    if (t->usage_pending) {
        fc_turn_usage(t, &t->pending_usage);
        t->usage_pending = false;
    }
    struct fc_buf text = {0};
    fc_buf_appendf(&text, "approval: %s", decision);
    answer_text(t, text.data);
    fc_buf_dispose(&text);
}

static void sc_approval(struct ctx *c)
{
    struct fc_turn *t = c->t;
    char cwd_buf[4096];
    const char *cwd = cwd_of(c->th, cwd_buf, sizeof(cwd_buf));
    char call_id[FC_ID_MAX];
    fc_id_call(call_id);
    status_changed(t,
                   json_pack("{s:s, s:[s]}", "type", "active", "activeFlags", "waitingOnApproval"));
    json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:n, s:s, s:s, s:[], s:n, s:n, s:n}", "type",
                             "commandExecution", "id", call_id, "command", "rm -rf /tmp/x", "cwd",
                             cwd, "processId", "source", "agent", "status", "inProgress",
                             "commandActions", "aggregatedOutput", "exitCode", "durationMs");
    fc_turn_notify(t, "item/started", item_params(t, json_deep_copy(item)), FC_OPF_STAMP_START);
    fc_turn_request(t, FC_CALL_APPROVAL, call_id, item, "item/commandExecution/requestApproval",
                    json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s, s, s]}", "threadId", t->thread->id,
                              "turnId", t->id, "itemId", call_id, "command", "rm -rf /tmp/x", "cwd",
                              cwd, "availableDecisions", "accept", "decline", "cancel"));
    fc_turn_usage_deferred(t, &t->usage);
    fc_turn_wait(t, approval_after_answer);
}

static void askuser_after_answer(struct fc_turn *t)
{
    const char *answer = t->calls[0].output ? t->calls[0].output : "none";
    if (t->usage_pending) {
        fc_turn_usage(t, &t->pending_usage);
        t->usage_pending = false;
    }
    struct fc_buf text = {0};
    fc_buf_appendf(&text, "askuser: %s", answer);
    answer_text(t, text.data);
    fc_buf_dispose(&text);
}

static void sc_askuser(struct ctx *c)
{
    struct fc_turn *t = c->t;
    char item_id[FC_ID_MAX];
    fc_id_call(item_id);
    fc_turn_request(t, FC_CALL_ASKUSER, item_id, NULL, "item/tool/requestUserInput",
                    json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:s}]}", "threadId", t->thread->id,
                              "turnId", t->id, "itemId", item_id, "questions", "id", "q1", "header",
                              "Q", "question", "Continue?"));
    fc_turn_usage_deferred(t, &t->usage);
    fc_turn_wait(t, askuser_after_answer);
}

static const struct {
    const char *name;
    void (*build)(struct ctx *c);
} scenarios[] = {
    {"text", sc_text},           {"deltas", sc_deltas},   {"slow", sc_slow},
    {"reasoning", sc_reasoning}, {"tools", sc_tools},     {"tooltext", sc_tooltext},
    {"echo", sc_echo},           {"error", sc_error},     {"errorafter", sc_errorafter},
    {"retry", sc_retry},         {"hang", sc_hang},       {"stuck", sc_stuck},
    {"crash", sc_crash},         {"garbage", sc_garbage}, {"hugeline", sc_hugeline},
    {"approval", sc_approval},   {"askuser", sc_askuser}, {"ratelimited", sc_ratelimited},
    {"quota", sc_quota},         {"json", sc_json},       {"thinktools", sc_thinktools},
    {"flood", sc_flood},         {"deaf", sc_deaf},
};

/* ---- entry points ----------------------------------------------------------------------- */

/* A replayed conversation that ends in tool results (turn input empty, last injected item a
 * function_call_output): like a model, answer from them: "Tool said: <out1>; <out2>". */
static bool answer_tool_results(struct fc_turn *t, json_t *input)
{
    json_t *injected = t->thread->injected;
    size_t n = json_array_size(injected);
    if (json_array_size(input) > 0 || n == 0)
        return false;
    size_t first = n;
    while (first > 0) {
        const char *type =
            json_string_value(json_object_get(json_array_get(injected, first - 1), "type"));
        if (type == NULL || strcmp(type, "function_call_output") != 0)
            break;
        first--;
    }
    if (first == n)
        return false;
    struct fc_buf said = {0};
    fc_buf_append(&said, "Tool said: ", 11);
    for (size_t i = first; i < n; i++) {
        json_t *out = json_object_get(json_array_get(injected, i), "output");
        if (i > first)
            fc_buf_append(&said, "; ", 2);
        if (json_is_string(out))
            fc_buf_append(&said, json_string_value(out), json_string_length(out));
        /* Content parts: the model reads their text. */
        size_t k;
        json_t *part;
        json_array_foreach(out, k, part)
        {
            json_t *text = json_object_get(part, "text");
            if (json_is_string(text))
                fc_buf_append(&said, json_string_value(text), json_string_length(text));
        }
    }
    answer_text(t, said.data);
    fc_buf_dispose(&said);
    return true;
}

static void build_response(struct fc_turn *t, json_t *params)
{
    struct fc_markers turn_m = {0};
    struct fc_markers env_m = {0};
    struct fc_buf text = {0};
    json_t *input = json_object_get(params, "input");
    if (!input_text(input, &text))
        last_injected_user_text(t->thread, &text);
    if (text.len)
        scan_markers(text.data, text.len, true, &turn_m);
    if (fc_cfg.scenario)
        scan_markers(fc_cfg.scenario, strlen(fc_cfg.scenario), false, &env_m);
    fc_buf_dispose(&text);

    const struct fc_markers *sm = turn_m.has_scenario ? &turn_m : &env_m;
    const struct fc_markers *um = turn_m.has_usage ? &turn_m : &env_m;
    struct ctx c = {
        .t = t,
        .th = t->thread,
        .params = params,
        .name = sm->has_scenario ? sm->name : "text",
        .arg = sm->has_scenario ? sm->arg : NULL,
    };
    bool reasoning = strcmp(c.name, "reasoning") == 0 || strcmp(c.name, "thinktools") == 0;
    t->usage = (struct fc_usage){21, 5, reasoning ? 13 : 9, reasoning ? 4 : 0};
    if (um->has_usage && !um->usage_bad)
        t->usage = um->usage;
    else if (um->has_usage)
        fprintf(stderr, "fake-codex: ignoring bad usage marker (want usage=I,C,O[,R])\n");
    t->gap_ms = fc_cfg.delta_delay_ms;

    if (strcmp(c.name, "echo") != 0 && answer_tool_results(t, input)) {
        markers_dispose(&turn_m);
        markers_dispose(&env_m);
        return;
    }
    bool found = false;
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        if (strcmp(scenarios[i].name, c.name) == 0) {
            scenarios[i].build(&c);
            found = true;
            break;
        }
    }
    if (!found)
        bad_scenario(&c);
    markers_dispose(&turn_m);
    markers_dispose(&env_m);
}

void fc_scenario_scan(const char *text, size_t len, bool prefixed, struct fc_markers *m)
{
    scan_markers(text, len, prefixed, m);
}

void fc_scenario_markers_dispose(struct fc_markers *m)
{
    markers_dispose(m);
}

const char *fc_scenario_error_message(const char *kind)
{
    const struct error_kind *e = find_error(kind);
    return e ? e->message : NULL;
}

void fc_scenario_start(struct fc_turn *t, json_t *params)
{
    status_changed(t, json_pack("{s:s, s:[]}", "type", "active", "activeFlags"));
    fc_turn_notify(t, "turn/started",
                   json_pack("{s:s, s:{s:s, s:[], s:s, s:s, s:n, s:I, s:n, s:n}}", "threadId",
                             t->thread->id, "turn", "id", t->id, "items", "itemsView", "notLoaded",
                             "status", "inProgress", "error", "startedAt",
                             (json_int_t)(t->started_ms / 1000), "completedAt", "durationMs"),
                   0);
    initial_context(t);
    user_message(t, json_object_get(params, "input"));
    build_response(t, params);
}

void fc_scenario_steer(struct fc_turn *t, json_t *params)
{
    user_message(t, json_object_get(params, "input"));
    build_response(t, params);
}
