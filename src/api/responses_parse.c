/* responses_parse.c: the Responses request body (see responses_parse.h). */
#include "api/responses_parse.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/params.h"
#include "api/replay.h"
#include "api/tools.h"
#include "core/limits.h"
#include "util/alloc.h"
#include "util/common.h"

enum { METADATA_MAX = 16, METADATA_KEY_MAX = 64, METADATA_VALUE_MAX = 512 };

struct parse {
    const struct cg_responses_context *cx;
    struct cg_request *req;
    struct cg_responses_opts *opts;
    struct cg_error *err;
    struct cg_buf base;      /* the client's instructions */
    struct cg_buf developer; /* instructions the gateway adds (JSON mode, tool_choice) */
    struct cg_replay replay;
};

enum kind { ITEM_MESSAGE, ITEM_CALL, ITEM_OUTPUT, ITEM_REASONING };
enum role { ROLE_SYSTEM, ROLE_DEVELOPER, ROLE_USER, ROLE_ASSISTANT };

/* One item of the conversation: the stored chain's, then the body's (references resolved). */
struct item {
    json_t *v; /* borrowed from `all` */
    enum kind kind;
    enum role role;
    char param[CG_ERROR_PARAM_BYTES]; /* how errors name it */
};

/* Accepted after a type and range check, and ignored, as OpenAI's reasoning models ignore
 * sampling settings and Codex has no place for the rest. */
static const struct cg_params_ignored ignored[] = {
    {"temperature", CG_PARAMS_NUMBER, 0, 2},
    {"top_p", CG_PARAMS_NUMBER, 0, 1},
    {"max_output_tokens", CG_PARAMS_INT, 1, 0},
    {"max_tool_calls", CG_PARAMS_INT, 1, 0},
    {"user", CG_PARAMS_STRING, 0, 0},
    {"prompt_cache_key", CG_PARAMS_STRING, 0, 0},
    {"prompt_cache_retention", CG_PARAMS_STRING, 0, 0},
    {"safety_identifier", CG_PARAMS_STRING, 0, 0},
    {"client_metadata", CG_PARAMS_OBJECT, 0, 0},
    {"stream_options", CG_PARAMS_OBJECT, 0, 0},
};

static const char *const truncations[] = {"auto", "disabled"};
static const char *const tiers[] = {"auto", "default", "flex", "scale", "priority"};
static const char *const verbosities[] = {"low", "medium", "high"};
static const char *const summaries[] = {"auto", "concise", "detailed"};

/* The index of string `v` in `names`, or `count` when it is not one of them. */
static size_t index_of(const json_t *v, const char *const *names, size_t count)
{
    for (size_t i = 0; json_is_string(v) && i < count; i++) {
        if (strcmp(json_string_value(v), names[i]) == 0)
            return i;
    }
    return count;
}

static enum cg_err check_rejected(struct cg_error *err, const json_t *root)
{
    bool background = false;
    enum cg_err e = cg_params_bool(err, root, "background", &background);
    if (!e && background)
        e = cg_params_fail(err, CG_ERR_UNSUPPORTED_PARAM, "background",
                           "Background responses are not supported by this gateway.");
    if (!e)
        e = cg_params_reject(err, root, "conversation", CG_ERR_UNSUPPORTED_PARAM,
                             "Conversations are not supported by this gateway; use "
                             "previous_response_id or send the items.");
    if (!e)
        e = cg_params_reject(err, root, "prompt", CG_ERR_UNSUPPORTED_PARAM,
                             "Prompt templates are not supported by this gateway.");
    if (!e)
        e = cg_params_reject(err, root, "top_logprobs", CG_ERR_UNSUPPORTED_PARAM,
                             "top_logprobs is not supported: Codex does not report token "
                             "probabilities.");
    if (!e)
        e = cg_params_enum(err, root, "truncation", truncations, CG_ARRAY_SIZE(truncations), NULL);
    if (!e)
        e = cg_params_enum(err, root, "service_tier", tiers, CG_ARRAY_SIZE(tiers), NULL);
    return e;
}

static enum cg_err parse_metadata(struct parse *p, const json_t *root)
{
    json_t *md = NULL;
    enum cg_err e = cg_params_object(p->err, root, "metadata", &md);
    if (e || md == NULL)
        return e;
    if (json_object_size(md) > METADATA_MAX)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "metadata",
                              "Invalid 'metadata': at most %d key-value pairs are allowed.",
                              METADATA_MAX);
    const char *key;
    json_t *v;
    json_object_foreach(md, key, v)
    {
        if (strlen(key) > METADATA_KEY_MAX)
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "metadata",
                                  "Invalid 'metadata': keys may be at most %d characters long.",
                                  METADATA_KEY_MAX);
        if (!json_is_string(v) || json_string_length(v) > METADATA_VALUE_MAX)
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "metadata",
                                  "Invalid 'metadata': values must be strings of at most %d "
                                  "characters.",
                                  METADATA_VALUE_MAX);
    }
    return CG_OK;
}

static enum cg_err parse_include(struct parse *p, const json_t *root)
{
    static const char *const known[] = {
        "reasoning.encrypted_content",    "message.input_image.image_url",
        "file_search_call.results",       "web_search_call.results",
        "web_search_call.action.sources", "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",  "message.output_text.logprobs",
    };
    json_t *inc = NULL;
    enum cg_err e = cg_params_array(p->err, root, "include", &inc);
    size_t i;
    json_t *v;
    json_array_foreach(e ? NULL : inc, i, v)
    {
        char param[CG_ERROR_PARAM_BYTES];
        snprintf(param, sizeof(param), "include[%zu]", i);
        if (!json_is_string(v))
            return cg_params_bad_type(p->err, param, "a string", v);
        const char *s = json_string_value(v);
        size_t k = index_of(v, known, CG_ARRAY_SIZE(known));
        if (k == CG_ARRAY_SIZE(known))
            return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, param,
                                  "Invalid value for '%s': '%.60s' is not a supported include.",
                                  param, s);
        if (k == 0)
            p->opts->include_encrypted_reasoning = true;
        if (strcmp(s, "message.output_text.logprobs") == 0)
            return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, param,
                                  "Logprobs are not supported: Codex does not report token "
                                  "probabilities.");
    }
    return e;
}

static enum cg_err parse_reasoning(struct parse *p, const json_t *root)
{
    json_t *r = NULL;
    enum cg_err e = cg_params_object(p->err, root, "reasoning", &r);
    if (e || r == NULL)
        return e;
    e = cg_params_effort(p->err, json_object_get(r, "effort"), "reasoning.effort", p->req);
    const char *const keys[] = {"summary", "generate_summary"};
    for (size_t k = 0; !e && k < CG_ARRAY_SIZE(keys); k++) {
        char param[32];
        snprintf(param, sizeof(param), "reasoning.%s", keys[k]);
        json_t *v = json_object_get(r, keys[k]);
        if (!cg_params_present(v))
            continue;
        size_t at = index_of(v, summaries, CG_ARRAY_SIZE(summaries));
        if (at == CG_ARRAY_SIZE(summaries))
            return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, param,
                                  "Invalid value for '%s': expected auto, concise or detailed.",
                                  param);
        p->req->summary = summaries[at];
    }
    return e;
}

static enum cg_err parse_text(struct parse *p, const json_t *root)
{
    json_t *text = NULL;
    enum cg_err e = cg_params_object(p->err, root, "text", &text);
    json_t *verbosity = json_object_get(text, "verbosity");
    if (!e && cg_params_present(verbosity) &&
        index_of(verbosity, verbosities, CG_ARRAY_SIZE(verbosities)) == CG_ARRAY_SIZE(verbosities))
        return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, "text.verbosity",
                              "Invalid value for 'text.verbosity': expected low, medium or "
                              "high.");
    json_t *f = json_object_get(text, "format");
    if (e || !cg_params_present(f))
        return e;
    if (!json_is_object(f))
        return cg_params_bad_type(p->err, "text.format", "an object", f);
    const char *type = json_string_value(json_object_get(f, "type"));
    if (type == NULL)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "text.format.type",
                              "text.format needs a 'type'.");
    json_t *strict = json_object_get(f, "strict");
    if (cg_params_present(strict) && !json_is_boolean(strict))
        return cg_params_bad_type(p->err, "text.format.strict", "a boolean", strict);
    return cg_params_output_format(p->err, type, "text.format.type", f, "text.format",
                                   &p->developer, p->req);
}

static enum cg_err parse_tools(struct parse *p, const json_t *root, struct cg_tools *t)
{
    json_t *tools = NULL;
    enum cg_err e = cg_params_array(p->err, root, "tools", &tools);
    size_t i;
    json_t *v;
    json_array_foreach(e ? NULL : tools, i, v)
    {
        char param[CG_ERROR_PARAM_BYTES];
        snprintf(param, sizeof(param), "tools[%zu]", i);
        if (!json_is_object(v))
            return cg_params_bad_type(p->err, param, "an object", v);
        const char *type = json_string_value(json_object_get(v, "type"));
        if (type && strcmp(type, "function") == 0)
            e = cg_tools_add(t, v, param);
        else if (type && strcmp(type, "namespace") == 0)
            e = cg_tools_add_namespace(t, v, param);
        else {
            snprintf(param, sizeof(param), "tools[%zu].type", i);
            return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, param,
                                  "Tools of type '%.40s' are not supported: only 'function' "
                                  "and 'namespace' tools can run through Codex.",
                                  type ? type : "(none)");
        }
        if (!e && cg_tools_functions(t) > CG_TOOLS_MAX)
            e = cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "tools",
                               "At most %d tools are allowed.", CG_TOOLS_MAX);
        if (e)
            return e;
    }
    return e;
}

static enum cg_err parse_tool_choice(struct parse *p, const json_t *root, struct cg_tools *t)
{
    json_t *v = json_object_get(root, "tool_choice");
    if (json_is_object(v)) {
        const char *type = json_string_value(json_object_get(v, "type"));
        if (type == NULL || strcmp(type, "function") != 0)
            return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, "tool_choice",
                                  "Invalid value for 'tool_choice': only \"none\", \"auto\", "
                                  "\"required\" or {\"type\":\"function\",\"name\":...} are "
                                  "supported.");
    }
    /* Clients send "auto" (or "none") whether or not they offer tools; OpenAI allows it. */
    if (cg_tools_count(t) == 0 && json_is_string(v) &&
        (strcmp(json_string_value(v), "auto") == 0 || strcmp(json_string_value(v), "none") == 0))
        v = NULL;
    return cg_tools_choice(t, v, "tool_choice");
}

/* ---- items ---- */

static bool role_of(const char *s, enum role *out)
{
    static const char *const names[] = {"system", "developer", "user", "assistant"};
    for (size_t i = 0; s && i < CG_ARRAY_SIZE(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum role)i;
            return true;
        }
    }
    return false;
}

/* Classifies `v` into `it` (param already set). */
static enum cg_err classify(struct parse *p, struct item *it)
{
    char sub[CG_ERROR_PARAM_BYTES + 16];
    if (!json_is_object(it->v))
        return cg_params_bad_type(p->err, it->param, "an object", it->v);
    const char *type = json_string_value(json_object_get(it->v, "type"));
    json_t *role = json_object_get(it->v, "role");
    if (type == NULL || strcmp(type, "message") == 0) {
        snprintf(sub, sizeof(sub), "%s.role", it->param);
        if (type == NULL && role == NULL)
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, sub,
                                  "Missing required parameter: '%s'.", sub);
        if (!role_of(json_string_value(role), &it->role))
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, sub,
                                  "Invalid value for '%s': expected one of user, assistant, "
                                  "system, developer.",
                                  sub);
        it->kind = ITEM_MESSAGE;
        return CG_OK;
    }
    if (strcmp(type, "function_call") == 0)
        it->kind = ITEM_CALL;
    else if (strcmp(type, "function_call_output") == 0)
        it->kind = ITEM_OUTPUT;
    else if (strcmp(type, "reasoning") == 0)
        it->kind = ITEM_REASONING;
    else {
        snprintf(sub, sizeof(sub), "%s.type", it->param);
        return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, sub,
                              "Input items of type '%.40s' are not supported: Codex runs only "
                              "messages, function calls and their outputs, and reasoning.",
                              type);
    }
    return CG_OK;
}

static bool is_reference(const json_t *v)
{
    const char *type = json_string_value(json_object_get(v, "type"));
    if (type)
        return strcmp(type, "item_reference") == 0;
    return json_is_object(v) && json_object_get(v, "role") == NULL &&
           json_is_string(json_object_get(v, "id"));
}

/* The whole conversation in order: the chain's items, then the body's `input` with every
 * item_reference replaced by the item it names. *all holds the references. */
static enum cg_err collect(struct parse *p, const json_t *input, json_t *all, struct item **out,
                           size_t *count)
{
    const json_t *prior = p->cx->prior_items;
    size_t np = json_array_size(prior);
    size_t ni = json_is_array(input) ? json_array_size(input) : 1;
    *out = NULL;
    *count = 0;
    if (!json_is_string(input) && !json_is_array(input))
        return cg_params_bad_type(p->err, "input", "a string or an array of input items", input);
    if (np + ni == 0)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "input",
                              "'input' must contain at least one item.");
    struct item *items = cg_xmalloc((np + ni) * sizeof(*items));
    enum cg_err e = CG_OK;
    size_t n = 0;
    for (size_t i = 0; i < np && !e; i++, n++) {
        items[n].v = json_array_get(prior, i);
        snprintf(items[n].param, sizeof(items[n].param), "previous_response_id");
        e = classify(p, &items[n]);
    }
    for (size_t i = 0; i < ni && !e; i++, n++) {
        json_t *v = (json_t *)input;
        if (json_is_string(input)) {
            v = json_pack("{s:s,s:O}", "role", "user", "content", input);
            snprintf(items[n].param, sizeof(items[n].param), "input");
        } else {
            v = json_incref(json_array_get(input, i));
            snprintf(items[n].param, sizeof(items[n].param), "input[%zu]", i);
        }
        if (is_reference(v)) {
            char sub[CG_ERROR_PARAM_BYTES + 8];
            snprintf(sub, sizeof(sub), "%s.id", items[n].param);
            json_t *id = json_object_get(v, "id");
            json_t *found = NULL;
            if (json_is_string(id) && p->cx->lookup)
                found = p->cx->lookup(p->cx->lookup_ctx, json_string_value(id));
            json_decref(v);
            v = found;
            if (found == NULL || is_reference(found)) {
                e = cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, sub,
                                   "Item with id '%.80s' not found.",
                                   json_is_string(id) ? json_string_value(id) : "");
                json_decref(found);
                break;
            }
        }
        json_array_append_new(all, v);
        items[n].v = v;
        e = classify(p, &items[n]);
    }
    if (e) {
        free(items);
        return e;
    }
    *out = items;
    *count = n;
    return CG_OK;
}

/* The text of a message's content (a string or text parts) appended to `out`. */
static enum cg_err message_text(struct parse *p, const struct item *it, struct cg_buf *out)
{
    char param[CG_ERROR_PARAM_BYTES + 16];
    char sub[CG_ERROR_PARAM_BYTES + 48];
    snprintf(param, sizeof(param), "%s.content", it->param);
    json_t *content = json_object_get(it->v, "content");
    if (json_is_string(content))
        return cg_buf_append(out, json_string_value(content), json_string_length(content))
                   ? cg_params_fail(p->err, CG_ERR_TOO_LARGE, param, "Message too large.")
                   : CG_OK;
    if (!json_is_array(content))
        return cg_params_bad_type(p->err, param, "a string or an array of content parts", content);
    bool assistant = it->role == ROLE_ASSISTANT;
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        snprintf(sub, sizeof(sub), "%s[%zu]", param, i);
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *text = NULL;
        if (type && strcmp(type, "input_text") == 0)
            text = json_object_get(part, "text");
        else if (assistant && type && strcmp(type, "output_text") == 0)
            text = json_object_get(part, "text");
        else if (assistant && type && strcmp(type, "refusal") == 0)
            text = json_object_get(part, "refusal");
        else
            return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, sub,
                                  "Invalid content part type '%.40s' for a %s message: expected "
                                  "%s.",
                                  type ? type : "(none)",
                                  json_string_value(json_object_get(it->v, "role")),
                                  assistant ? "output_text, refusal or input_text" : "input_text");
        if (!json_is_string(text))
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, sub,
                                  "A %s part needs a '%s' string.", type,
                                  strcmp(type, "refusal") == 0 ? "refusal" : "text");
        if (cg_buf_append(out, json_string_value(text), json_string_length(text)) != 0)
            return cg_params_fail(p->err, CG_ERR_TOO_LARGE, param, "Message too large.");
    }
    return CG_OK;
}

/* Parts that carry text or images (user messages, function outputs) → Responses input parts
 * and/or turn/start items. */
static enum cg_err input_parts(struct parse *p, const json_t *content, const char *param,
                               json_t *history_parts, json_t *turn_items)
{
    char sub[CG_ERROR_PARAM_BYTES + 48];
    if (json_is_string(content)) {
        cg_replay_user_text(json_string_value(content), json_string_length(content), history_parts,
                            turn_items);
        return CG_OK;
    }
    if (!json_is_array(content))
        return cg_params_bad_type(p->err, param, "a string or an array of content parts", content);
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        snprintf(sub, sizeof(sub), "%s[%zu]", param, i);
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type && strcmp(type, "input_text") == 0) {
            json_t *text = json_object_get(part, "text");
            if (!json_is_string(text))
                return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, sub,
                                      "An input_text part needs a 'text' string.");
            cg_replay_user_text(json_string_value(text), json_string_length(text), history_parts,
                                turn_items);
        } else if (type && strcmp(type, "input_image") == 0) {
            json_t *url = json_object_get(part, "image_url");
            if (!json_is_string(url))
                return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, sub,
                                      "An input_image part needs an 'image_url' (file_id is not "
                                      "supported).");
            enum cg_err e = cg_replay_user_image(&p->replay, json_string_value(url), "image_url",
                                                 sub, history_parts, turn_items);
            if (e)
                return e;
        } else {
            return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, sub,
                                  "Unsupported content part type '%.40s': use input_text or "
                                  "input_image.",
                                  type ? type : "(none)");
        }
    }
    return CG_OK;
}

static enum cg_err string_member(struct parse *p, const struct item *it, const char *key,
                                 const char **out)
{
    char param[CG_ERROR_PARAM_BYTES + 16];
    snprintf(param, sizeof(param), "%s.%s", it->param, key);
    *out = json_string_value(json_object_get(it->v, key));
    if (*out == NULL)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, param,
                              "Missing required parameter: '%s' (a string).", param);
    return CG_OK;
}

static enum cg_err call_item(struct parse *p, const struct item *it, json_t *history, json_t *open)
{
    const char *call_id = NULL;
    const char *name = NULL;
    const char *args = NULL;
    enum cg_err e = string_member(p, it, "call_id", &call_id);
    if (!e)
        e = string_member(p, it, "name", &name);
    if (!e)
        e = string_member(p, it, "arguments", &args);
    json_t *ns = json_object_get(it->v, "namespace");
    if (!e && cg_params_present(ns) && !json_is_string(ns)) {
        char param[CG_ERROR_PARAM_BYTES + 16];
        snprintf(param, sizeof(param), "%s.namespace", it->param);
        e = cg_params_bad_type(p->err, param, "a string", ns);
    }
    if (e)
        return e;
    json_t *out =
        json_pack("{s:s,s:s,s:s}", "type", "function_call", "call_id", call_id, "arguments", args);
    if (json_is_string(ns)) {
        json_object_set_new(out, "namespace",
                            json_string(cg_request_tool_alias(p->req, json_string_value(ns))));
        json_object_set_new(out, "name", json_string(name));
    } else {
        json_object_set_new(out, "name", json_string(cg_request_tool_alias(p->req, name)));
    }
    json_array_append_new(history, out);
    json_object_set_new(open, call_id, json_true());
    return CG_OK;
}

static enum cg_err output_item(struct parse *p, const struct item *it, json_t *history,
                               json_t *open, json_t *answered)
{
    const char *call_id = NULL;
    enum cg_err e = string_member(p, it, "call_id", &call_id);
    if (e)
        return e;
    if (json_object_get(open, call_id) == NULL && json_object_get(answered, call_id) == NULL)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "input",
                              "No tool call found for function call output with call_id "
                              "%.80s.",
                              call_id);
    char param[CG_ERROR_PARAM_BYTES + 16];
    snprintf(param, sizeof(param), "%s.output", it->param);
    json_t *output = json_object_get(it->v, "output");
    json_t *copy = NULL;
    if (json_is_string(output)) {
        copy = json_incref(output);
    } else if (json_is_array(output)) {
        copy = json_array();
        e = input_parts(p, output, param, copy, NULL);
    } else {
        e = cg_params_bad_type(p->err, param, "a string or an array of content parts", output);
    }
    if (!e)
        json_array_append_new(history, json_pack("{s:s,s:s,s:O}", "type", "function_call_output",
                                                 "call_id", call_id, "output", copy));
    json_decref(copy);
    if (!e) {
        json_object_del(open, call_id);
        json_object_set_new(answered, call_id, json_true());
    }
    return e;
}

static enum cg_err check_text_parts(struct parse *p, const json_t *parts, const char *param,
                                    const char *part_type)
{
    char sub[CG_ERROR_PARAM_BYTES + 48];
    size_t i;
    json_t *part;
    json_array_foreach(parts, i, part)
    {
        snprintf(sub, sizeof(sub), "%s[%zu]", param, i);
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type == NULL || strcmp(type, part_type) != 0 ||
            !json_is_string(json_object_get(part, "text")))
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, sub,
                                  "Expected a {\"type\":\"%s\",\"text\":...} part.", part_type);
    }
    return CG_OK;
}

/* Kept raw (encrypted_content included) so that Codex replays the model's own reasoning. */
static enum cg_err reasoning_item(struct parse *p, const struct item *it, json_t *history)
{
    char param[CG_ERROR_PARAM_BYTES + 32];
    json_t *summary = json_object_get(it->v, "summary");
    snprintf(param, sizeof(param), "%s.summary", it->param);
    if (!json_is_array(summary))
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, param,
                              "Missing required parameter: '%s' (an array).", param);
    enum cg_err e = check_text_parts(p, summary, param, "summary_text");
    json_t *content = json_object_get(it->v, "content");
    snprintf(param, sizeof(param), "%s.content", it->param);
    if (!e && cg_params_present(content) && !json_is_array(content))
        e = cg_params_bad_type(p->err, param, "an array", content);
    if (!e && json_is_array(content))
        e = check_text_parts(p, content, param, "reasoning_text");
    json_t *enc = json_object_get(it->v, "encrypted_content");
    snprintf(param, sizeof(param), "%s.encrypted_content", it->param);
    if (!e && cg_params_present(enc) && !json_is_string(enc))
        e = cg_params_bad_type(p->err, param, "a string", enc);
    if (e)
        return e;
    /* Without its encrypted_content a reasoning item carries nothing the model can use, and
     * an upstream that does not store items rejects its id: it is not replayed. */
    if (!json_is_string(enc))
        return CG_OK;
    /* Without the id, as Codex resends its own reasoning: an id the upstream never stored
     * (store:false, or one of ours) would be looked up and rejected. */
    json_t *out = json_pack("{s:s,s:O}", "type", "reasoning", "summary", summary);
    if (json_is_array(content))
        json_object_set(out, "content", content);
    if (json_is_string(enc))
        json_object_set(out, "encrypted_content", enc);
    json_array_append_new(history, out);
    return CG_OK;
}

static enum cg_err message_item(struct parse *p, const struct item *it, json_t *history,
                                json_t *turn_input, bool last)
{
    char param[CG_ERROR_PARAM_BYTES + 16];
    snprintf(param, sizeof(param), "%s.content", it->param);
    json_t *content = json_object_get(it->v, "content");
    if (it->role == ROLE_USER) {
        if (last)
            return input_parts(p, content, param, NULL, turn_input);
        json_t *parts = json_array();
        enum cg_err e = input_parts(p, content, param, parts, NULL);
        if (!e)
            json_array_append_new(history, json_pack("{s:s,s:s,s:O}", "type", "message", "role",
                                                     "user", "content", parts));
        json_decref(parts);
        return e;
    }
    struct cg_buf t;
    cg_buf_init(&t, CG_REQUEST_TEXT_MAX_BYTES);
    enum cg_err e = message_text(p, it, &t);
    if (!e && t.len && it->role == ROLE_ASSISTANT)
        json_array_append_new(history,
                              cg_replay_message_item("assistant", "output_text", t.data, t.len));
    /* Mid-conversation system text goes in as developer text: Codex drops "system". */
    if (!e && t.len && it->role != ROLE_ASSISTANT && !p->cx->ignore_system_prompt)
        json_array_append_new(history,
                              cg_replay_message_item("developer", "input_text", t.data, t.len));
    cg_buf_dispose(&t);
    return e;
}

static enum cg_err append_base(struct parse *p, const char *param, const char *s, size_t len)
{
    if ((p->base.len && cg_buf_append(&p->base, "\n\n", 2) != 0) ||
        cg_buf_append(&p->base, s, len) != 0)
        return cg_params_fail(p->err, CG_ERR_TOO_LARGE, param, "The instructions are too large.");
    return CG_OK;
}

/* A message's content as input_items lists it: always an array of parts. */
static json_t *listed_content(const json_t *item)
{
    json_t *content = json_object_get(item, "content");
    if (!json_is_string(content))
        return json_incref(content);
    const char *role = json_string_value(json_object_get(item, "role"));
    const char *type = role && strcmp(role, "assistant") == 0 ? "output_text" : "input_text";
    return json_pack("[{s:s,s:O}]", "type", type, "text", content);
}

/* The body's own input items (references resolved) as a stored response lists them: every
 * message with its type and content parts. Ids are the caller's to assign. */
static json_t *listed_items(const json_t *all)
{
    json_t *list = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v)
    {
        json_t *item = json_copy((json_t *)v);
        if (json_object_get(item, "type") == NULL && json_object_get(item, "role") != NULL)
            json_object_set_new(item, "type", json_string("message"));
        const char *type = json_string_value(json_object_get(item, "type"));
        if (type && strcmp(type, "message") == 0)
            json_object_set_new(item, "content", listed_content(item));
        json_array_append_new(list, item);
    }
    return list;
}

static enum cg_err replay_items(struct parse *p, const json_t *root)
{
    json_t *input = json_object_get(root, "input");
    if (!cg_params_present(input) && p->cx->prior_items == NULL)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "input",
                              "Missing required parameter: 'input'.");
    json_t *empty = json_array();
    json_t *all = json_array();
    struct item *items = NULL;
    size_t n = 0;
    enum cg_err e = collect(p, cg_params_present(input) ? input : empty, all, &items, &n);
    json_t *history = json_array();
    json_t *turn_input = json_array();
    json_t *open = json_object();
    json_t *answered = json_object();
    size_t i = 0;
    /* Leading system and developer messages are the thread's instructions, after
     * `instructions`. */
    for (; !e && i < n && items[i].kind == ITEM_MESSAGE &&
           (items[i].role == ROLE_SYSTEM || items[i].role == ROLE_DEVELOPER);
         i++) {
        struct cg_buf t;
        cg_buf_init(&t, CG_REQUEST_TEXT_MAX_BYTES);
        e = message_text(p, &items[i], &t);
        if (!e)
            e = append_base(p, items[i].param, t.data ? t.data : "", t.len);
        cg_buf_dispose(&t);
    }
    for (; !e && i < n; i++) {
        switch (items[i].kind) {
        case ITEM_MESSAGE:
            e = message_item(p, &items[i], history, turn_input, i == n - 1);
            break;
        case ITEM_CALL:
            e = call_item(p, &items[i], history, open);
            break;
        case ITEM_OUTPUT:
            e = output_item(p, &items[i], history, open, answered);
            break;
        case ITEM_REASONING:
            e = reasoning_item(p, &items[i], history);
            break;
        }
    }
    if (!e && json_object_size(open) > 0) {
        const char *id = json_object_iter_key(json_object_iter(open));
        e = cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "input",
                           "No tool output found for function call %.80s.", id);
    }
    /* The stored chain was checked when it was stored; still, never name a body field for it. */
    static const char prev[] = "previous_response_id";
    if (e && strncmp(p->err->param, prev, sizeof(prev) - 1) == 0)
        p->err->param[sizeof(prev) - 1] = '\0';
    free(items);
    if (!e && p->opts->store)
        p->opts->input_items = listed_items(all);
    json_decref(all);
    json_decref(empty);
    json_decref(open);
    json_decref(answered);
    if (e) {
        json_decref(history);
        json_decref(turn_input);
        return e;
    }
    p->req->history = history;
    p->req->input = turn_input;
    return CG_OK;
}

static enum cg_err parse_instructions(struct parse *p, const json_t *root)
{
    const char *s = NULL;
    enum cg_err e = cg_params_string(p->err, root, "instructions", &s);
    if (e || s == NULL)
        return e;
    return append_base(p, "instructions", s,
                       json_string_length(json_object_get(root, "instructions")));
}

/* ---- echo ---- */

/* The client's value (a reference, not a copy: the body is not changed after the parse), or
 * NULL when it sent none: the encoder echoes OpenAI's default then. */
static json_t *echo(const json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    return cg_params_present(v) ? json_incref(v) : NULL;
}

static void fill_echo(struct parse *p, const json_t *root)
{
    struct cg_responses_opts *o = p->opts;
    o->instructions = echo(root, "instructions");
    o->tools = echo(root, "tools");
    o->tool_choice = echo(root, "tool_choice");
    o->parallel_tool_calls_json = json_boolean(o->parallel_tool_calls);
    o->text = echo(root, "text");
    o->reasoning = json_pack("{s:s?,s:s?}", "effort", p->req->effort, "summary", p->req->summary);
    o->metadata = echo(root, "metadata");
    o->max_output_tokens = echo(root, "max_output_tokens");
    o->temperature = echo(root, "temperature");
    o->top_p = echo(root, "top_p");
    o->truncation = echo(root, "truncation");
    o->user = echo(root, "user");
    o->service_tier = echo(root, "service_tier");
    o->prompt_cache_key = echo(root, "prompt_cache_key");
    o->safety_identifier = echo(root, "safety_identifier");
}

/* ---- public ---- */

void cg_responses_opts_init(struct cg_responses_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->store = true;
    o->parallel_tool_calls = true;
}

void cg_responses_opts_dispose(struct cg_responses_opts *o)
{
    free(o->previous_response_id);
    json_t *const owned[] = {
        o->instructions,
        o->tools,
        o->tool_choice,
        o->parallel_tool_calls_json,
        o->text,
        o->reasoning,
        o->metadata,
        o->max_output_tokens,
        o->temperature,
        o->top_p,
        o->truncation,
        o->user,
        o->service_tier,
        o->prompt_cache_key,
        o->safety_identifier,
        o->input_items,
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(owned); i++)
        json_decref(owned[i]);
    cg_responses_opts_init(o);
}

void cg_responses_refs(const json_t *root, struct cg_responses_refs *out)
{
    memset(out, 0, sizeof(*out));
    out->previous_id = json_string_value(json_object_get(root, "previous_response_id"));
    const json_t *input = json_object_get(root, "input");
    size_t i;
    json_t *v;
    json_array_foreach(input, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        if (id == NULL || !is_reference(v))
            continue;
        if (out->count == CG_RESPONSE_REFS_MAX) {
            out->too_many = true;
            break;
        }
        out->ids[out->count++] = id;
    }
}

json_t *cg_responses_echo(const struct cg_responses_opts *o)
{
    /* Set one by one: json_pack's format parsing cost more than the object, built per request. */
    const struct {
        const char *key;
        json_t *value;
    } fields[] = {
        {"instructions", o->instructions},
        {"tools", o->tools},
        {"tool_choice", o->tool_choice},
        {"parallel_tool_calls", o->parallel_tool_calls_json},
        {"text", o->text},
        {"reasoning", o->reasoning},
        {"metadata", o->metadata},
        {"max_output_tokens", o->max_output_tokens},
        {"temperature", o->temperature},
        {"top_p", o->top_p},
        {"truncation", o->truncation},
        {"user", o->user},
        {"service_tier", o->service_tier},
        {"prompt_cache_key", o->prompt_cache_key},
        {"safety_identifier", o->safety_identifier},
    };
    json_t *echo = json_object();
    for (size_t i = 0; i < CG_ARRAY_SIZE(fields); i++) {
        if (fields[i].value)
            json_object_set(echo, fields[i].key, fields[i].value);
    }
    json_object_set_new(echo, "store", json_boolean(o->store));
    if (o->previous_response_id)
        json_object_set_new(echo, "previous_response_id", json_string(o->previous_response_id));
    return echo;
}

static enum cg_err parse_body(struct parse *p, const json_t *root, struct cg_tools *tools)
{
    enum cg_err e = cg_params_model(p->err, root, p->cx->catalog, p->req);
    if (!e)
        e = cg_params_bool(p->err, root, "stream", &p->req->stream);
    p->opts->stream = p->req->stream;
    if (!e)
        e = cg_params_bool(p->err, root, "store", &p->opts->store);
    const char *prev = NULL;
    if (!e)
        e = cg_params_string(p->err, root, "previous_response_id", &prev);
    if (prev)
        p->opts->previous_response_id = cg_xstrdup(prev);
    if (!e)
        e = cg_params_ignore(p->err, root, ignored, CG_ARRAY_SIZE(ignored));
    if (!e)
        e = check_rejected(p->err, root);
    if (!e)
        e = parse_metadata(p, root);
    if (!e)
        e = parse_include(p, root);
    if (!e)
        e = parse_reasoning(p, root);
    if (!e)
        e = parse_text(p, root);
    if (!e)
        e = parse_tools(p, root, tools);
    if (!e)
        e = parse_tool_choice(p, root, tools);
    if (!e)
        e = cg_params_bool(p->err, root, "parallel_tool_calls", &p->opts->parallel_tool_calls);
    if (!e)
        e = parse_instructions(p, root);
    if (!e)
        e = replay_items(p, root);
    return e;
}

enum cg_err cg_responses_parse(const char *body, size_t len, const struct cg_responses_context *cx,
                               struct cg_request *req, struct cg_responses_opts *opts,
                               struct cg_error *err)
{
    cg_error_init(err, CG_OK);
    json_t *root = cg_params_load(body, len, err);
    if (root == NULL) {
        cg_request_init(req);
        cg_responses_opts_init(opts);
        return err->code;
    }
    enum cg_err e = cg_responses_parse_root(root, cx, req, opts, err);
    json_decref(root);
    return e;
}

enum cg_err cg_responses_parse_root(const json_t *root, const struct cg_responses_context *cx,
                                    struct cg_request *req, struct cg_responses_opts *opts,
                                    struct cg_error *err)
{
    struct parse p = {.cx = cx, .req = req, .opts = opts, .err = err};
    cg_buf_init(&p.base, CG_REQUEST_TEXT_MAX_BYTES);
    cg_buf_init(&p.developer, CG_REQUEST_TEXT_MAX_BYTES);
    cg_request_init(req);
    req->include_usage = true; /* a response always carries its usage */
    cg_responses_opts_init(opts);
    cg_error_init(err, CG_OK);
    p.replay = (struct cg_replay){
        .req = req, .err = err, .base = &p.base, .ignore_system_prompt = cx->ignore_system_prompt};
    struct cg_tools tools;
    cg_tools_init(&tools, req, err, &p.developer);
    enum cg_err e = parse_body(&p, root, &tools);
    if (!e) {
        cg_tools_finish(&tools);
        fill_echo(&p, root);
        if (p.base.len && !cx->ignore_system_prompt)
            req->base_instructions = cg_xstrndup(p.base.data, p.base.len);
        if (p.developer.len)
            req->developer_instructions = cg_xstrndup(p.developer.data, p.developer.len);
    }
    cg_tools_dispose(&tools);
    cg_buf_dispose(&p.base);
    cg_buf_dispose(&p.developer);
    if (e) {
        cg_request_dispose(req);
        cg_responses_opts_dispose(opts);
        /* Never answer a failure with the table's "ok" row. */
        if (err->code != e)
            cg_error_init(err, e);
    }
    return e;
}
