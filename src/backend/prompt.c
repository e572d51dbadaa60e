/* prompt.c: a request as the one prompt text of `codex exec` / `codex proto`.
 *
 * A request with no instructions whose whole conversation is one user message (this turn's
 * input with no history, or a history of that one message and no input) is that message's
 * text, byte for byte: its text parts joined with "\n". Anything else is a transcript of
 * blocks separated by one blank line ("\n\n"), each a header line and then its text verbatim,
 * with no newline after the last block:
 *
 *     [system]                        base_instructions (when non-empty)
 *     [developer]                     developer_instructions (when non-empty)
 *     [user] / [assistant] /          each history message, in order; its text parts
 *     [developer] / [system]            joined with "\n"
 *     [assistant called tool NAME, CALL_ID]
 *                                     a history function_call: its arguments; NAME is the
 *                                       client's name (aliases mapped back)
 *     [tool result, CALL_ID]          a history function_call_output: its output (a string,
 *                                       or its text parts joined with "\n")
 *     [user]                          this turn's input text items joined with "\n" (no
 *                                       block when the input is empty)
 *
 * Reasoning items are skipped (Codex regenerates its reasoning). A prompt that is exactly
 * "-" becomes "-\n": the CLI reads a lone "-" as "read the prompt from stdin". */
#include "backend/prompt.h"
#include <stdbool.h>
#include <string.h>
#include "util/json.h"

#define APP_SERVER_HINT "the app-server backend (PROXY_BACKEND=app-server) supports it"

struct render {
    const struct cg_request *req;
    struct cg_buf *out;
    struct cg_error *err;
    unsigned blocks; /* blocks written so far */
};

static bool has_text(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static enum cg_err too_large(struct render *r)
{
    cg_error_set(r->err, CG_ERR_TOO_LARGE, NULL,
                 "The conversation does not fit in one prompt of at most %zu bytes, which is "
                 "all a per-request Codex process takes; " APP_SERVER_HINT ".",
                 r->out->max);
    return CG_ERR_TOO_LARGE;
}

static enum cg_err refuse_image(struct render *r)
{
    cg_error_set(r->err, CG_ERR_UNSUPPORTED_PARAM, NULL,
                 "Image inputs cannot be passed to a per-request Codex process; " APP_SERVER_HINT
                 ".");
    return CG_ERR_UNSUPPORTED_PARAM;
}

static enum cg_err refuse_kind(struct render *r, const char *what, const char *name)
{
    cg_error_set(r->err, CG_ERR_UNSUPPORTED_PARAM, NULL,
                 "%s '%.40s' cannot be rendered into the prompt of a per-request Codex process; "
                 "the app-server backend (PROXY_BACKEND=app-server) supports it.",
                 what, name ? name : "(none)");
    return CG_ERR_UNSUPPORTED_PARAM;
}

static enum cg_err append(struct render *r, const char *p, size_t n)
{
    return cg_buf_append(r->out, p, n) ? too_large(r) : CG_OK;
}

static enum cg_err append_json_string(struct render *r, const json_t *s)
{
    return append(r, json_string_value(s), json_string_length(s));
}

/* Starts a block: the separator, then "[label]\n" (label = the two parts joined). */
static enum cg_err block(struct render *r, const char *label, const char *more)
{
    int rc = r->blocks > 0 ? cg_buf_append_str(r->out, "\n\n") : 0;
    if (!rc)
        rc = cg_buf_appendf(r->out, "[%s%s]\n", label, more ? more : "");
    r->blocks++;
    return rc ? too_large(r) : CG_OK;
}

/* The text of one content part, or a refusal. */
static enum cg_err part_text(struct render *r, const json_t *part, const json_t **text)
{
    const char *type = json_string_value(json_object_get(part, "type"));
    const char *key = "text";
    if (type == NULL)
        return refuse_kind(r, "A content part of type", NULL);
    if (strcmp(type, "input_image") == 0 || strcmp(type, "image") == 0 ||
        strcmp(type, "localImage") == 0)
        return refuse_image(r);
    if (strcmp(type, "refusal") == 0)
        key = "refusal";
    else if (strcmp(type, "input_text") != 0 && strcmp(type, "output_text") != 0 &&
             strcmp(type, "text") != 0)
        return refuse_kind(r, "A content part of type", type);
    *text = json_object_get(part, key);
    if (!json_is_string(*text))
        return refuse_kind(r, "A content part without text, of type", type);
    return CG_OK;
}

/* A string, or an array of parts whose texts are joined with "\n"; null is empty. */
static enum cg_err content_text(struct render *r, const json_t *content)
{
    if (content == NULL || json_is_null(content))
        return CG_OK;
    if (json_is_string(content))
        return append_json_string(r, content);
    if (!json_is_array(content))
        return refuse_kind(r, "Content of JSON type", json_is_object(content) ? "object" : "other");
    size_t i;
    const json_t *part;
    json_array_foreach(content, i, part)
    {
        const json_t *text = NULL;
        enum cg_err e = part_text(r, part, &text);
        if (!e && i > 0)
            e = append(r, "\n", 1);
        if (!e)
            e = append_json_string(r, text);
        if (e)
            return e;
    }
    return CG_OK;
}

static bool known_role(const char *role)
{
    static const char *const roles[] = {"user", "assistant", "developer", "system"};
    for (size_t i = 0; role && i < CG_ARRAY_SIZE(roles); i++) {
        if (strcmp(role, roles[i]) == 0)
            return true;
    }
    return false;
}

static enum cg_err render_message(struct render *r, const json_t *item)
{
    const char *role = json_string_value(json_object_get(item, "role"));
    if (!known_role(role))
        return refuse_kind(r, "A message of role", role);
    enum cg_err e = block(r, role, NULL);
    if (!e)
        e = content_text(r, json_object_get(item, "content"));
    return e;
}

static enum cg_err render_call(struct render *r, const json_t *item)
{
    const char *name = json_string_value(json_object_get(item, "name"));
    const char *call_id = json_string_value(json_object_get(item, "call_id"));
    const char *client = name ? cg_request_tool_name(r->req, name) : NULL;
    if (client)
        name = client;
    int rc = r->blocks > 0 ? cg_buf_append_str(r->out, "\n\n") : 0;
    if (!rc)
        rc = cg_buf_appendf(r->out, "[assistant called tool %s%s%s]\n", name ? name : "",
                            call_id ? ", " : "", call_id ? call_id : "");
    r->blocks++;
    if (rc)
        return too_large(r);
    const json_t *args = json_object_get(item, "arguments");
    if (json_is_string(args))
        return append_json_string(r, args);
    if (args && cg_json_dump(r->out, args))
        return too_large(r);
    return CG_OK;
}

static enum cg_err render_output(struct render *r, const json_t *item)
{
    const char *call_id = json_string_value(json_object_get(item, "call_id"));
    enum cg_err e = call_id ? block(r, "tool result, ", call_id) : block(r, "tool result", NULL);
    if (!e)
        e = content_text(r, json_object_get(item, "output"));
    return e;
}

static enum cg_err render_history_item(struct render *r, const json_t *item)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    if (type == NULL || strcmp(type, "message") == 0)
        return render_message(r, item);
    if (strcmp(type, "function_call") == 0)
        return render_call(r, item);
    if (strcmp(type, "function_call_output") == 0)
        return render_output(r, item);
    if (strcmp(type, "reasoning") == 0)
        return CG_OK;
    return refuse_kind(r, "A history item of type", type);
}

/* This turn's input items (app-server UserInput) as one text joined with "\n". */
static enum cg_err input_text(struct render *r, const json_t *input)
{
    size_t i;
    const json_t *item;
    json_array_foreach(input, i, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        if (type && (strcmp(type, "image") == 0 || strcmp(type, "localImage") == 0))
            return refuse_image(r);
        if (type == NULL || strcmp(type, "text") != 0)
            return refuse_kind(r, "An input item of type", type);
        const json_t *text = json_object_get(item, "text");
        if (!json_is_string(text))
            return refuse_kind(r, "An input item without text, of type", type);
        enum cg_err e = i > 0 ? append(r, "\n", 1) : CG_OK;
        if (!e)
            e = append_json_string(r, text);
        if (e)
            return e;
    }
    return CG_OK;
}

/* The history's one user message when the whole conversation is that message, else NULL. */
static const json_t *lone_user_message(const json_t *history, const json_t *input)
{
    const json_t *found = NULL;
    size_t i;
    const json_t *item;
    json_array_foreach(history, i, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        if (type && strcmp(type, "reasoning") == 0)
            continue;
        if (found)
            return NULL;
        found = item;
    }
    if (found == NULL || json_array_size(input) > 0)
        return NULL;
    const char *type = json_string_value(json_object_get(found, "type"));
    const char *role = json_string_value(json_object_get(found, "role"));
    if ((type && strcmp(type, "message") != 0) || role == NULL || strcmp(role, "user") != 0)
        return NULL;
    return found;
}

static bool history_is_empty(const json_t *history)
{
    size_t i;
    const json_t *item;
    json_array_foreach(history, i, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        if (type == NULL || strcmp(type, "reasoning") != 0)
            return false;
    }
    return true;
}

static enum cg_err render_transcript(struct render *r)
{
    const struct cg_request *req = r->req;
    enum cg_err e = CG_OK;
    if (has_text(req->base_instructions)) {
        e = block(r, "system", NULL);
        if (!e)
            e = append(r, req->base_instructions, strlen(req->base_instructions));
    }
    if (!e && has_text(req->developer_instructions)) {
        e = block(r, "developer", NULL);
        if (!e)
            e = append(r, req->developer_instructions, strlen(req->developer_instructions));
    }
    size_t i;
    const json_t *item;
    json_array_foreach(req->history, i, item)
    {
        if (e)
            break;
        e = render_history_item(r, item);
    }
    if (!e && json_array_size(req->input) > 0) {
        e = block(r, "user", NULL);
        if (!e)
            e = input_text(r, req->input);
    }
    return e;
}

/* An empty tool list offers nothing; anything else does. */
static bool offers_tools(const json_t *tools)
{
    return tools != NULL && !(json_is_array(tools) && json_array_size(tools) == 0);
}

static enum cg_err render(struct render *r)
{
    const struct cg_request *req = r->req;
    if (offers_tools(req->dynamic_tools)) {
        cg_error_set(r->err, CG_ERR_UNSUPPORTED_PARAM, "tools",
                     "Client tools cannot be offered to a per-request Codex process; "
                     "the app-server backend (PROXY_BACKEND=app-server) supports them.");
        return CG_ERR_UNSUPPORTED_PARAM;
    }
    if (req->output_schema) {
        cg_error_set(r->err, CG_ERR_UNSUPPORTED_PARAM, NULL,
                     "Structured output (response_format or text.format) cannot be asked of a "
                     "per-request Codex process; " APP_SERVER_HINT ".");
        return CG_ERR_UNSUPPORTED_PARAM;
    }
    if (!has_text(req->base_instructions) && !has_text(req->developer_instructions)) {
        const json_t *lone = lone_user_message(req->history, req->input);
        if (lone)
            return content_text(r, json_object_get(lone, "content"));
        if (history_is_empty(req->history))
            return input_text(r, req->input);
    }
    return render_transcript(r);
}

enum cg_err cg_prompt_render(const struct cg_request *req, struct cg_buf *out, struct cg_error *err)
{
    struct render r = {.req = req, .out = out, .err = err, .blocks = 0};
    size_t start = out->len;
    cg_error_init(err, CG_OK);
    enum cg_err e = render(&r);
    if (!e && out->len - start == 1 && out->data[start] == '-' && cg_buf_append_char(out, '\n'))
        e = too_large(&r);
    if (e)
        cg_buf_truncate(out, start);
    return e;
}
