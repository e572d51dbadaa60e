/* proto_line.c: `codex proto` event lines as cg_proc_events, and the one submission line.
 * Pure: no state between lines; what an event points to is borrowed from the parsed line. */
#include "backend/proto_line.h"
#include <stdint.h>
#include <string.h>
#include "backend/codex_error.h"
#include "util/json.h"

static const char event_prefix[] = "codex/event/";

/* The older chat-style names. */
static bool read_prompt_completion(const json_t *obj, struct cg_usage *u)
{
    if (!json_is_object(obj))
        return false;
    bool any = false;
    any |= cg_proc_event_count(obj, "prompt_tokens", "promptTokens", &u->input);
    any |= cg_proc_event_count(obj, "completion_tokens", "completionTokens", &u->output);
    return any;
}

/* token_count's counts (also carried by some task_complete lines), first shape that has any:
 * info.total_token_usage, the flat TokenUsage names, prompt/completion (flat or in a nested
 * token_count object). A token_count with "info": null (Codex sends one before the first
 * response) has none. */
static void read_usage(const json_t *payload, struct cg_proc_event *out)
{
    struct cg_usage u = {0};
    const json_t *info = json_object_get(payload, "info");
    bool any = cg_proc_event_token_usage(json_object_get(info, "total_token_usage"), &u);
    if (!any)
        any = cg_proc_event_token_usage(json_object_get(info, "totalTokenUsage"), &u);
    if (!any)
        any = cg_proc_event_token_usage(payload, &u);
    if (!any)
        any = read_prompt_completion(payload, &u);
    if (!any)
        any = read_prompt_completion(json_object_get(payload, "token_count"), &u);
    if (any) {
        out->usage = u;
        out->have_usage = true;
    }
}

static bool set_text(const json_t *v, struct cg_proc_event *out)
{
    if (!json_is_string(v))
        return false;
    out->text = (struct cg_str){json_string_value(v), json_string_length(v)};
    return true;
}

/* A string, or an object whose content or text is one. */
static bool take_text(const json_t *v, struct cg_proc_event *out)
{
    if (json_is_object(v)) {
        if (set_text(json_object_get(v, "content"), out))
            return true;
        return set_text(json_object_get(v, "text"), out);
    }
    return set_text(v, out);
}

static const char *item_id_of(const json_t *payload)
{
    const char *id = json_string_value(json_object_get(payload, "item_id"));
    return id ? id : json_string_value(json_object_get(payload, "itemId"));
}

static void parse_event(const char *type, const json_t *payload, struct cg_proc_event *out)
{
    if (strcmp(type, "agent_message_delta") == 0 ||
        strcmp(type, "agent_message_content_delta") == 0) {
        if (take_text(json_object_get(payload, "delta"), out)) {
            out->kind = CG_PROC_TEXT_DELTA;
            out->item_id = item_id_of(payload);
        }
    } else if (strcmp(type, "agent_message") == 0) {
        if (take_text(json_object_get(payload, "message"), out)) {
            out->kind = CG_PROC_MESSAGE;
            out->item_id = item_id_of(payload);
        }
    } else if (strcmp(type, "agent_reasoning_delta") == 0) {
        if (take_text(json_object_get(payload, "delta"), out))
            out->kind = CG_PROC_REASONING_DELTA;
    } else if (strcmp(type, "agent_reasoning") == 0) {
        if (set_text(json_object_get(payload, "text"), out))
            out->kind = CG_PROC_REASONING;
    } else if (strcmp(type, "token_count") == 0) {
        read_usage(payload, out);
        if (out->have_usage)
            out->kind = CG_PROC_USAGE;
    } else if (strcmp(type, "task_complete") == 0) {
        out->kind = CG_PROC_DONE;
        set_text(json_object_get(payload, "last_agent_message"), out);
        read_usage(payload, out);
    } else if (strcmp(type, "error") == 0) {
        out->kind = CG_PROC_FAILED;
        cg_codex_error_map((json_t *)payload, &out->error);
    } else if (strcmp(type, "stream_error") == 0) {
        out->kind = CG_PROC_RETRY;
        set_text(json_object_get(payload, "message"), out);
    }
}

void cg_proto_line_parse(const char *line, size_t len, struct cg_proc_event *out)
{
    json_t *doc = cg_proc_event_load(line, len, out);
    if (doc == NULL)
        return;
    const json_t *payload = doc;
    const char *type = NULL;
    const json_t *msg = json_object_get(doc, "msg");
    if (json_is_object(msg)) {
        payload = msg;
        type = json_string_value(json_object_get(msg, "type"));
        const json_t *inner = json_object_get(msg, "msg");
        if (json_is_object(inner)) {
            payload = inner;
            if (type == NULL)
                type = json_string_value(json_object_get(inner, "type"));
        }
    }
    if (type == NULL)
        type = json_string_value(json_object_get(doc, "type"));
    if (type == NULL)
        return;
    if (strncmp(type, event_prefix, sizeof(event_prefix) - 1) == 0)
        type += sizeof(event_prefix) - 1;
    parse_event(type, payload, out);
}

int cg_proto_line_submission(const char *id, struct cg_str prompt, struct cg_buf *out)
{
    size_t start = out->len;
    int err = cg_buf_append_str(out, "{\"id\":");
    if (!err)
        err = cg_json_cstring(out, id);
    if (!err)
        err = cg_buf_append_str(out, ",\"op\":{\"type\":\"user_input\",\"items\":[{\"type\":"
                                     "\"text\",\"text\":");
    if (!err)
        err = cg_json_string(out, prompt.ptr, prompt.len);
    if (!err)
        err = cg_buf_append_str(out, "}]}}\n");
    if (err) {
        cg_buf_truncate(out, start);
        return -1;
    }
    return 0;
}
