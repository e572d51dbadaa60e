/* exec_line.c: one JSONL line of `codex exec --json` as a cg_proc_event. Pure: no state
 * between lines; everything the event points to is borrowed from the parsed line. */
#include "backend/exec_line.h"
#include <stdint.h>
#include <string.h>
#include "backend/codex_error.h"

/* turn.completed's usage; have_usage when at least one count is valid. */
static void read_usage(const json_t *usage, struct cg_proc_event *out)
{
    out->have_usage = cg_proc_event_token_usage(usage, &out->usage);
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
