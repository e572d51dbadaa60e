/* replay.c: Chat Completions messages → the Responses items of a stateless Codex replay. */
#include "api/replay.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/params.h"
#include "core/limits.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/common.h"

enum role { ROLE_SYSTEM, ROLE_DEVELOPER, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL, ROLE_FUNCTION };

static bool parse_role(const char *s, enum role *out)
{
    static const char *const names[] = {"system",    "developer", "user",
                                        "assistant", "tool",      "function"};
    for (size_t i = 0; i < CG_ARRAY_SIZE(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum role)i;
            return true;
        }
    }
    return false;
}

enum cg_err cg_replay_content_text(struct cg_replay *p, const json_t *content, const char *param,
                                   struct cg_buf *out, bool allow_null)
{
    if (content == NULL || json_is_null(content)) {
        if (allow_null)
            return CG_OK;
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, param, "'%s' must not be null.",
                              param);
    }
    if (json_is_string(content))
        return cg_buf_append(out, json_string_value(content), json_string_length(content))
                   ? cg_params_fail(p->err, CG_ERR_TOO_LARGE, param, "Message too large.")
                   : CG_OK;
    if (!json_is_array(content))
        return cg_params_bad_type(p->err, param, "a string or an array of content parts", content);
    size_t i;
    json_t *part;
    char sub[CG_ERROR_PARAM_BYTES];
    json_array_foreach(content, i, part)
    {
        cg_buf_format(sub, sizeof(sub), "%s[%zu]", param, i);
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *text = NULL;
        if (type && strcmp(type, "text") == 0)
            text = json_object_get(part, "text");
        else if (type && strcmp(type, "refusal") == 0)
            text = json_object_get(part, "refusal");
        else
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, sub,
                                  "Invalid content part: only 'text' parts are allowed here.");
        if (!json_is_string(text))
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, sub,
                                  "A text part needs a 'text' string.");
        if (cg_buf_append(out, json_string_value(text), json_string_length(text)) != 0)
            return cg_params_fail(p->err, CG_ERR_TOO_LARGE, param, "Message too large.");
    }
    return CG_OK;
}

void cg_replay_user_text(const char *text, size_t len, json_t *history_parts, json_t *turn_items)
{
    if (history_parts)
        json_array_append_new(history_parts,
                              json_pack("{s:s,s:s%}", "type", "input_text", "text", text, len));
    if (turn_items) {
        /* Every request's input: built member by member, without parsing a format (and, as
         * json_pack, nothing for text that is not UTF-8, which a parsed body never holds). */
        json_t *value = json_stringn(text, len);
        if (value == NULL)
            return;
        json_t *item = json_object();
        json_object_set_new_nocheck(item, "type", json_string_nocheck("text"));
        json_object_set_new_nocheck(item, "text", value);
        json_object_set_new_nocheck(item, "text_elements", json_array());
        json_array_append_new(turn_items, item);
    }
}

enum cg_err cg_replay_user_image(struct cg_replay *p, const char *url, const char *field,
                                 const char *param, json_t *history_parts, json_t *turn_items)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0 &&
        strncmp(url, "data:image/", 11) != 0)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, param,
                              "%s must be an http(s) URL or a data:image/ URL.", field);
    if (history_parts)
        json_array_append_new(history_parts,
                              json_pack("{s:s,s:s}", "type", "input_image", "image_url", url));
    if (turn_items)
        json_array_append_new(turn_items, json_pack("{s:s,s:s}", "type", "image", "url", url));
    return CG_OK;
}

enum cg_err cg_replay_user_parts(struct cg_replay *p, const json_t *content, const char *param,
                                 json_t *history_parts, json_t *turn_items)
{
    if (json_is_string(content)) {
        cg_replay_user_text(json_string_value(content), json_string_length(content), history_parts,
                            turn_items);
        return CG_OK;
    }
    if (content == NULL || json_is_null(content))
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, param, "'%s' must not be null.",
                              param);
    if (!json_is_array(content))
        return cg_params_bad_type(p->err, param, "a string or an array of content parts", content);
    size_t i;
    json_t *part;
    char sub[CG_ERROR_PARAM_BYTES];
    json_array_foreach(content, i, part)
    {
        cg_buf_format(sub, sizeof(sub), "%s[%zu]", param, i);
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type && strcmp(type, "text") == 0) {
            json_t *text = json_object_get(part, "text");
            if (!json_is_string(text))
                return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, sub,
                                      "A text part needs a 'text' string.");
            enum cg_err e = cg_replay_user_parts(p, text, sub, history_parts, turn_items);
            if (e)
                return e;
        } else if (type && strcmp(type, "image_url") == 0) {
            json_t *iu = json_object_get(part, "image_url");
            json_t *url = json_is_object(iu) ? json_object_get(iu, "url") : iu;
            if (!json_is_string(url))
                return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, sub,
                                      "An image_url part needs 'image_url.url'.");
            enum cg_err e = cg_replay_user_image(p, json_string_value(url), "image_url.url", sub,
                                                 history_parts, turn_items);
            if (e)
                return e;
        } else {
            return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, sub,
                                  "Unsupported content part type '%.40s': use text or image_url.",
                                  type ? type : "(none)");
        }
    }
    return CG_OK;
}

json_t *cg_replay_message_item(const char *role, const char *part_type, const char *text,
                               size_t len)
{
    return json_pack("{s:s,s:s,s:[{s:s,s:s%}]}", "type", "message", "role", role, "content", "type",
                     part_type, "text", text, len);
}

/* Tool-call bookkeeping: OpenAI requires every assistant tool call to be answered by a tool
 * message before the conversation goes on, and every tool message to answer one. */
struct calls {
    json_t *open;        /* call ids awaiting a tool message */
    json_t *all;         /* every call id seen (object used as a set) */
    json_t *legacy_open; /* legacy function_call: [{name, call_id}] awaiting a function msg */
};

/* Made at the first tool call: most conversations have none (until then every member is NULL,
 * which jansson's getters read as empty). */
static void calls_start(struct calls *c)
{
    if (c->open)
        return;
    c->open = json_array();
    c->all = json_object();
    c->legacy_open = json_array();
}

static enum cg_err require_answered(struct cg_replay *p, struct calls *c, size_t at)
{
    if (json_array_size(c->open) == 0)
        return CG_OK;
    char param[32];
    cg_buf_format(param, sizeof(param), "messages[%zu]", at);
    return cg_params_fail(
        p->err, CG_ERR_INVALID_REQUEST, param,
        "An assistant message with 'tool_calls' must be followed by tool messages "
        "responding to each 'tool_call_id'. The following tool_call_ids did not have "
        "response messages: %.120s",
        json_string_value(json_array_get(c->open, 0)));
}

static enum cg_err assistant_items(struct cg_replay *p, json_t *msg, size_t i, json_t *history,
                                   struct calls *c)
{
    char param[CG_ERROR_PARAM_BYTES];
    cg_buf_format(param, sizeof(param), "messages[%zu].content", i);
    struct cg_buf text;
    cg_buf_init(&text, CG_REQUEST_TEXT_MAX_BYTES);
    enum cg_err e = cg_replay_content_text(p, json_object_get(msg, "content"), param, &text, true);
    if (!e && text.len)
        json_array_append_new(
            history, cg_replay_message_item("assistant", "output_text", text.data, text.len));
    cg_buf_dispose(&text);
    if (e)
        return e;
    json_t *calls = json_object_get(msg, "tool_calls");
    size_t k;
    json_t *tc;
    if (calls && !json_is_null(calls)) {
        cg_buf_format(param, sizeof(param), "messages[%zu].tool_calls", i);
        if (!json_is_array(calls))
            return cg_params_bad_type(p->err, param, "an array", calls);
        json_array_foreach(calls, k, tc)
        {
            cg_buf_format(param, sizeof(param), "messages[%zu].tool_calls[%zu]", i, k);
            json_t *id = json_object_get(tc, "id");
            json_t *fn = json_object_get(tc, "function");
            json_t *name = json_object_get(fn, "name");
            json_t *args = json_object_get(fn, "arguments");
            if (!json_is_string(id) || !json_is_string(name) || (args && !json_is_string(args)))
                return cg_params_fail(
                    p->err, CG_ERR_INVALID_REQUEST, param,
                    "A tool call needs 'id', 'function.name' and 'function.arguments' "
                    "strings.");
            const char *alias = cg_request_tool_alias(p->req, json_string_value(name));
            json_array_append_new(history,
                                  json_pack("{s:s,s:s,s:s,s:s}", "type", "function_call", "call_id",
                                            json_string_value(id), "name", alias, "arguments",
                                            args ? json_string_value(args) : "{}"));
            calls_start(c);
            json_array_append(c->open, id);
            json_object_set_new(c->all, json_string_value(id), json_true());
        }
    }
    json_t *fc = json_object_get(msg, "function_call");
    if (fc && !json_is_null(fc)) {
        json_t *name = json_object_get(fc, "name");
        json_t *args = json_object_get(fc, "arguments");
        cg_buf_format(param, sizeof(param), "messages[%zu].function_call", i);
        if (!json_is_string(name))
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, param,
                                  "function_call needs a 'name' string.");
        char call_id[48];
        cg_buf_format(call_id, sizeof(call_id), "call_legacy_%zu", i);
        const char *alias = cg_request_tool_alias(p->req, json_string_value(name));
        json_array_append_new(history,
                              json_pack("{s:s,s:s,s:s,s:s}", "type", "function_call", "call_id",
                                        call_id, "name", alias, "arguments",
                                        json_is_string(args) ? json_string_value(args) : "{}"));
        calls_start(c);
        json_array_append_new(
            c->legacy_open,
            json_pack("{s:s,s:s}", "name", json_string_value(name), "call_id", call_id));
    }
    return CG_OK;
}

static enum cg_err tool_item(struct cg_replay *p, json_t *msg, size_t i, enum role role,
                             json_t *history, struct calls *c)
{
    char param[CG_ERROR_PARAM_BYTES];
    cg_buf_format(param, sizeof(param), "messages[%zu].content", i);
    struct cg_buf text;
    cg_buf_init(&text, CG_REQUEST_TEXT_MAX_BYTES);
    enum cg_err e = cg_replay_content_text(p, json_object_get(msg, "content"), param, &text, true);
    if (e) {
        cg_buf_dispose(&text);
        return e;
    }
    const char *call_id = NULL;
    char legacy_id[48];
    if (role == ROLE_TOOL) {
        json_t *id = json_object_get(msg, "tool_call_id");
        cg_buf_format(param, sizeof(param), "messages[%zu].tool_call_id", i);
        if (!json_is_string(id)) {
            cg_buf_dispose(&text);
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, param,
                                  "A message with role 'tool' needs a 'tool_call_id' string.");
        }
        call_id = json_string_value(id);
        if (json_object_get(c->all, call_id) == NULL) {
            cg_buf_dispose(&text);
            return cg_params_fail(
                p->err, CG_ERR_INVALID_REQUEST, param,
                "Messages with role 'tool' must be a response to a preceding message "
                "with 'tool_calls'; '%.80s' is not one of its ids.",
                call_id);
        }
        for (size_t k = 0; k < json_array_size(c->open); k++) {
            if (strcmp(json_string_value(json_array_get(c->open, k)), call_id) == 0) {
                json_array_remove(c->open, k);
                break;
            }
        }
    } else {
        /* Legacy role "function": answers the latest open function_call (by name if given). */
        const char *name = json_string_value(json_object_get(msg, "name"));
        size_t n = json_array_size(c->legacy_open);
        size_t pick = n;
        for (size_t k = n; k-- > 0;) {
            json_t *o = json_array_get(c->legacy_open, k);
            if (name == NULL || strcmp(json_string_value(json_object_get(o, "name")), name) == 0) {
                pick = k;
                break;
            }
        }
        if (pick == n) {
            cg_buf_dispose(&text);
            cg_buf_format(param, sizeof(param), "messages[%zu]", i);
            return cg_params_fail(
                p->err, CG_ERR_INVALID_REQUEST, param,
                "A message with role 'function' must follow an assistant function_call.");
        }
        cg_buf_format(
            legacy_id, sizeof(legacy_id), "%s",
            json_string_value(json_object_get(json_array_get(c->legacy_open, pick), "call_id")));
        json_array_remove(c->legacy_open, pick);
        call_id = legacy_id;
    }
    json_array_append_new(history,
                          json_pack("{s:s,s:s,s:s%}", "type", "function_call_output", "call_id",
                                    call_id, "output", text.data ? text.data : "", text.len));
    cg_buf_dispose(&text);
    return CG_OK;
}

enum cg_err cg_replay_messages(struct cg_replay *p, const json_t *msgs)
{
    if (msgs == NULL || json_is_null(msgs))
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "messages",
                              "'messages' is required.");
    if (!json_is_array(msgs))
        return cg_params_bad_type(p->err, "messages", "an array", msgs);
    size_t n = json_array_size(msgs);
    if (n == 0)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "messages",
                              "'messages' must contain at least one message.");
    enum role *roles = cg_xmalloc(n * sizeof(*roles));
    char param[CG_ERROR_PARAM_BYTES];
    enum cg_err e = CG_OK;
    for (size_t i = 0; i < n && !e; i++) {
        json_t *m = json_array_get(msgs, i);
        cg_buf_format(param, sizeof(param), "messages[%zu]", i);
        if (!json_is_object(m)) {
            e = cg_params_bad_type(p->err, param, "an object", m);
            break;
        }
        json_t *role = json_object_get(m, "role");
        cg_buf_format(param, sizeof(param), "messages[%zu].role", i);
        if (!json_is_string(role) || !parse_role(json_string_value(role), &roles[i]))
            e = cg_params_fail(
                p->err, CG_ERR_INVALID_REQUEST, param,
                "Invalid value for '%s': expected one of system, developer, user, assistant, "
                "tool, function.",
                param);
    }
    json_t *history = json_array();
    json_t *turn_input = json_array();
    struct calls c = {NULL, NULL, NULL};
    size_t last = n - 1;
    bool ends_with_user = !e && roles[last] == ROLE_USER;
    size_t i = 0;
    /* Leading system and developer messages are the thread's instructions. */
    for (; !e && i < n && (roles[i] == ROLE_SYSTEM || roles[i] == ROLE_DEVELOPER); i++) {
        cg_buf_format(param, sizeof(param), "messages[%zu].content", i);
        size_t before = p->base->len;
        if (before > 0)
            e = cg_buf_append(p->base, "\n\n", 2)
                    ? cg_params_fail(p->err, CG_ERR_TOO_LARGE, param,
                                     "The instructions are too large.")
                    : CG_OK;
        if (!e)
            e = cg_replay_content_text(p, json_object_get(json_array_get(msgs, i), "content"),
                                       param, p->base, false);
    }
    for (; !e && i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        cg_buf_format(param, sizeof(param), "messages[%zu].content", i);
        switch (roles[i]) {
        case ROLE_SYSTEM:
        case ROLE_DEVELOPER: {
            struct cg_buf t;
            cg_buf_init(&t, CG_REQUEST_TEXT_MAX_BYTES);
            e = cg_replay_content_text(p, json_object_get(m, "content"), param, &t, false);
            /* Mid-conversation system text goes in as developer text: Codex drops "system". */
            if (!e && t.len && !p->ignore_system_prompt)
                json_array_append_new(
                    history, cg_replay_message_item("developer", "input_text", t.data, t.len));
            cg_buf_dispose(&t);
            break;
        }
        case ROLE_USER: {
            e = require_answered(p, &c, i);
            if (e)
                break;
            if (i == last) {
                e = cg_replay_user_parts(p, json_object_get(m, "content"), param, NULL, turn_input);
                break;
            }
            json_t *parts = json_array();
            e = cg_replay_user_parts(p, json_object_get(m, "content"), param, parts, NULL);
            if (!e)
                json_array_append_new(history, json_pack("{s:s,s:s,s:o}", "type", "message", "role",
                                                         "user", "content", parts));
            else
                json_decref(parts);
            break;
        }
        case ROLE_ASSISTANT:
            e = require_answered(p, &c, i);
            if (!e)
                e = assistant_items(p, m, i, history, &c);
            break;
        case ROLE_TOOL:
        case ROLE_FUNCTION:
            e = tool_item(p, m, i, roles[i], history, &c);
            break;
        }
    }
    if (!e && !ends_with_user)
        e = require_answered(p, &c, n);
    json_decref(c.open);
    json_decref(c.all);
    json_decref(c.legacy_open);
    free(roles);
    if (e) {
        json_decref(history);
        json_decref(turn_input);
        return e;
    }
    p->req->history = history;
    p->req->input = turn_input;
    return CG_OK;
}
