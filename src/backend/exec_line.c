/* exec_line.c: one JSONL line of `codex exec --json` as a cg_proc_event. Pure: no state
 * between lines; everything the event points to is borrowed from the parsed line. */
#include "backend/exec_line.h"
#include <stdint.h>
#include <string.h>
#include "backend/codex_error.h"

/* Larger counts than a double holds exactly are no token counts: ignored, like wrong types. */
#define COUNT_MAX ((json_int_t)1 << 53)

/* A non-negative integer member of `obj` into *out; false (and *out untouched) otherwise. */
static bool read_count(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return false;
    json_int_t n = json_integer_value(v);
    if (n < 0 || n > COUNT_MAX)
        return false;
    *out = (int64_t)n;
    return true;
}

/* turn.completed's usage; have_usage when at least one count is valid. */
static void read_usage(const json_t *usage, struct cg_proc_event *out)
{
    if (!json_is_object(usage))
        return;
    bool any = false;
    any |= read_count(usage, "input_tokens", &out->usage.input);
    any |= read_count(usage, "cached_input_tokens", &out->usage.cached);
    any |= read_count(usage, "output_tokens", &out->usage.output);
    any |= read_count(usage, "reasoning_output_tokens", &out->usage.reasoning);
    out->have_usage = any;
}

/* Sets out->text to the string member `key` of `obj`; false when it is not a string. */
static bool take_text(const json_t *obj, const char *key, struct cg_proc_event *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return false;
    out->text = (struct cg_str){json_string_value(v), json_string_length(v)};
    return true;
}

static void parse_item_completed(const json_t *item, struct cg_proc_event *out)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    if (type == NULL)
        return;
    enum cg_proc_event_kind kind;
    const char *key = "text";
    if (strcmp(type, "agent_message") == 0) {
        kind = CG_PROC_MESSAGE;
    } else if (strcmp(type, "reasoning") == 0) {
        kind = CG_PROC_REASONING;
    } else if (strcmp(type, "error") == 0) {
        /* exec reports warnings (missing model metadata, ...) as items typed "error" */
        kind = CG_PROC_WARNING;
        key = "message";
    } else {
        return; /* command_execution, file_change, todo_list, ...: the client sees none */
    }
    if (!take_text(item, key, out))
        return;
    out->kind = kind;
    out->item_id = json_string_value(json_object_get(item, "id"));
}

void cg_exec_line_parse(const char *line, size_t len, struct cg_proc_event *out)
{
    json_t *doc = cg_proc_event_load(line, len, out);
    if (doc == NULL)
        return;
    const char *type = json_string_value(json_object_get(doc, "type"));
    if (type == NULL)
        return;
    if (strcmp(type, "item.completed") == 0) {
        parse_item_completed(json_object_get(doc, "item"), out);
    } else if (strcmp(type, "turn.completed") == 0) {
        out->kind = CG_PROC_DONE;
        read_usage(json_object_get(doc, "usage"), out);
    } else if (strcmp(type, "turn.failed") == 0) {
        out->kind = CG_PROC_FAILED;
        cg_codex_error_map(json_object_get(doc, "error"), &out->error);
    } else if (strcmp(type, "error") == 0) {
        /* a retry note ("Reconnecting... 2/5") or the message turn.failed repeats */
        if (take_text(doc, "message", out))
            out->kind = CG_PROC_WARNING;
    }
}
