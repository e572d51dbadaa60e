/* chat_parse.c: validation of Chat Completions and Completions bodies and their translation
 * into a stateless Codex replay (see chat_parse.h). */
#include "api/chat_parse.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/str.h"

enum { TOOLS_MAX = 128, TOOL_NAME_MAX = 64, INSTRUCTIONS_MAX_BYTES = 64 * 1024 * 1024 };

#define TOOL_PREFIX "fn_"

struct parse {
    const struct cg_chat_limits *lim;
    struct cg_request *req;
    struct cg_chat_opts *opts;
    struct cg_error *err;
    struct cg_buf base;      /* leading system/developer text */
    struct cg_buf developer; /* instructions the gateway adds (JSON mode, tool_choice) */
    bool legacy_functions;
    bool offer_tools;
};

static enum cg_err bad(struct parse *p, enum cg_err code, const char *param, const char *fmt, ...)
    CG_PRINTF(4, 5);

static enum cg_err bad(struct parse *p, enum cg_err code, const char *param, const char *fmt, ...)
{
    cg_error_init(p->err, code);
    if (param)
        snprintf(p->err->param, sizeof(p->err->param), "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
    va_end(ap);
    return code;
}

static const char *type_name(const json_t *v)
{
    if (v == NULL)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

static enum cg_err bad_type(struct parse *p, const char *param, const char *want, const json_t *got)
{
    return bad(p, CG_ERR_INVALID_REQUEST, param,
               "Invalid type for '%s': expected %s, but got %s instead.", param, want,
               type_name(got));
}

/* --- small validators -------------------------------------------------------------------- */

static enum cg_err check_number(struct parse *p, json_t *root, const char *key, double lo,
                                double hi)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v))
        return CG_OK;
    if (!json_is_number(v))
        return bad_type(p, key, "a number", v);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return bad(p, CG_ERR_INVALID_REQUEST, key,
                   "Invalid value for '%s': expected a number from %g to %g, got %g.", key, lo,
                   hi, d);
    return CG_OK;
}

static enum cg_err check_int(struct parse *p, json_t *root, const char *key, json_int_t lo)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v))
        return CG_OK;
    if (!json_is_integer(v))
        return bad_type(p, key, "an integer", v);
    if (json_integer_value(v) < lo)
        return bad(p, CG_ERR_INVALID_REQUEST, key,
                   "Invalid value for '%s': expected an integer of at least %lld.", key,
                   (long long)lo);
    return CG_OK;
}

static enum cg_err check_kind(struct parse *p, json_t *root, const char *key, json_type type,
                              const char *want)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v))
        return CG_OK;
    bool ok = json_typeof(v) == type || (type == JSON_TRUE && json_is_boolean(v));
    return ok ? CG_OK : bad_type(p, key, want, v);
}

/* Parameters Codex cannot carry: type-checked, then ignored (as OpenAI's reasoning models
 * ignore sampling settings), or rejected where ignoring them would mislead. */
static enum cg_err check_ignored(struct parse *p, json_t *root)
{
    enum cg_err e = CG_OK;
    if (!e)
        e = check_number(p, root, "temperature", 0, 2);
    if (!e)
        e = check_number(p, root, "top_p", 0, 1);
    if (!e)
        e = check_number(p, root, "presence_penalty", -2, 2);
    if (!e)
        e = check_number(p, root, "frequency_penalty", -2, 2);
    if (!e)
        e = check_int(p, root, "max_tokens", 1);
    if (!e)
        e = check_int(p, root, "max_completion_tokens", 1);
    if (!e)
        e = check_int(p, root, "seed", INT64_MIN);
    if (!e)
        e = check_kind(p, root, "logit_bias", JSON_OBJECT, "an object");
    if (!e)
        e = check_kind(p, root, "user", JSON_STRING, "a string");
    if (!e)
        e = check_kind(p, root, "metadata", JSON_OBJECT, "an object");
    if (!e)
        e = check_kind(p, root, "store", JSON_TRUE, "a boolean");
    if (!e)
        e = check_kind(p, root, "service_tier", JSON_STRING, "a string");
    if (e)
        return e;
    json_t *lp = json_object_get(root, "logprobs");
    if (lp && !json_is_null(lp) && !json_is_boolean(lp))
        return bad_type(p, "logprobs", "a boolean", lp);
    if (json_is_true(lp))
        return bad(p, CG_ERR_UNSUPPORTED_PARAM, "logprobs",
                   "logprobs is not supported: Codex does not report token probabilities.");
    json_t *tlp = json_object_get(root, "top_logprobs");
    if (tlp && !json_is_null(tlp))
        return bad(p, CG_ERR_UNSUPPORTED_PARAM, "top_logprobs",
                   "top_logprobs is not supported: Codex does not report token probabilities.");
    json_t *mod = json_object_get(root, "modalities");
    size_t i;
    json_t *m;
    if (json_is_array(mod)) {
        json_array_foreach(mod, i, m)
        {
            if (!json_is_string(m) || strcmp(json_string_value(m), "text") != 0)
                return bad(p, CG_ERR_UNSUPPORTED_VALUE, "modalities",
                           "Only the \"text\" modality is supported.");
        }
    }
    json_t *audio = json_object_get(root, "audio");
    if (audio && !json_is_null(audio))
        return bad(p, CG_ERR_UNSUPPORTED_PARAM, "audio", "Audio output is not supported.");
    json_t *ws = json_object_get(root, "web_search_options");
    if (ws && !json_is_null(ws))
        return bad(p, CG_ERR_UNSUPPORTED_PARAM, "web_search_options",
                   "Web search is not available through this gateway.");
    return CG_OK;
}

/* --- model, n, stream, effort ------------------------------------------------------------ */

static enum cg_err parse_model(struct parse *p, json_t *root)
{
    json_t *v = json_object_get(root, "model");
    if (v == NULL || json_is_null(v))
        return bad(p, CG_ERR_INVALID_REQUEST, "model", "You must provide a model parameter.");
    if (!json_is_string(v))
        return bad_type(p, "model", "a string", v);
    const char *id = json_string_value(v);
    size_t len = json_string_length(v);
    const struct cg_model *m = cg_catalog_find(p->lim->catalog, id, len);
    if (m == NULL)
        return bad(p, CG_ERR_MODEL_NOT_FOUND, "model",
                   "The model '%.100s' does not exist or you do not have access to it.", id);
    p->req->model = m;
    p->req->model_id = cg_xstrndup(id, len);
    p->req->effort = m->effort;
    return CG_OK;
}

static enum cg_err parse_stream(struct parse *p, json_t *root)
{
    json_t *s = json_object_get(root, "stream");
    if (s && !json_is_null(s) && !json_is_boolean(s))
        return bad_type(p, "stream", "a boolean", s);
    p->req->stream = json_is_true(s);
    json_t *so = json_object_get(root, "stream_options");
    if (so == NULL || json_is_null(so))
        return CG_OK;
    if (!json_is_object(so))
        return bad_type(p, "stream_options", "an object", so);
    if (!p->req->stream)
        return bad(p, CG_ERR_INVALID_REQUEST, "stream_options",
                   "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
    json_t *iu = json_object_get(so, "include_usage");
    if (iu && !json_is_null(iu) && !json_is_boolean(iu))
        return bad_type(p, "stream_options.include_usage", "a boolean", iu);
    p->req->include_usage = json_is_true(iu);
    return CG_OK;
}

static enum cg_err parse_n(struct parse *p, json_t *root)
{
    json_t *v = json_object_get(root, "n");
    p->req->n = 1;
    if (v == NULL || json_is_null(v))
        return CG_OK;
    if (!json_is_integer(v))
        return bad_type(p, "n", "an integer", v);
    json_int_t n = json_integer_value(v);
    if (n < 1 || n > (json_int_t)p->lim->max_choices)
        return bad(p, CG_ERR_INVALID_REQUEST, "n",
                   "Invalid value for 'n': expected an integer from 1 to %u (PROXY_MAX_CHAT_CHOICES), "
                   "got %lld.",
                   p->lim->max_choices, (long long)n);
    p->req->n = (unsigned)n;
    return CG_OK;
}

static enum cg_err set_effort(struct parse *p, json_t *v, const char *param)
{
    if (v == NULL || json_is_null(v))
        return CG_OK;
    if (!json_is_string(v))
        return bad_type(p, param, "a string", v);
    const char *e = json_string_value(v);
    for (size_t i = 0; i < cg_catalog_effort_count; i++) {
        if (strcmp(e, cg_catalog_efforts[i]) == 0) {
            p->req->effort = cg_catalog_efforts[i];
            return CG_OK;
        }
    }
    return bad(p, CG_ERR_UNSUPPORTED_VALUE, param,
               "Invalid value for '%s': '%.40s' is not one of low, medium, high, xhigh.", param, e);
}

static enum cg_err parse_effort(struct parse *p, json_t *root)
{
    json_t *r = json_object_get(root, "reasoning");
    if (r && !json_is_null(r)) {
        if (!json_is_object(r))
            return bad_type(p, "reasoning", "an object", r);
        enum cg_err e = set_effort(p, json_object_get(r, "effort"), "reasoning.effort");
        if (e)
            return e;
    }
    return set_effort(p, json_object_get(root, "reasoning_effort"), "reasoning_effort");
}

static enum cg_err parse_stop(struct parse *p, json_t *root)
{
    json_t *v = json_object_get(root, "stop");
    p->opts->stop_count = 0;
    if (v == NULL || json_is_null(v))
        return CG_OK;
    json_t *one = json_is_string(v) ? v : NULL;
    size_t count = one ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (!one && !json_is_array(v))
        return bad_type(p, "stop", "a string or an array of strings", v);
    if (count > CG_STOP_MAX)
        return bad(p, CG_ERR_INVALID_REQUEST, "stop", "At most %d stop sequences are allowed.",
                   CG_STOP_MAX);
    for (size_t i = 0; i < count; i++) {
        json_t *s = one ? one : json_array_get(v, i);
        if (!json_is_string(s))
            return bad_type(p, "stop", "a string or an array of strings", s);
        size_t len = json_string_length(s);
        if (len == 0)
            continue;
        if (len > CG_STOP_MAX_BYTES)
            return bad(p, CG_ERR_INVALID_REQUEST, "stop",
                       "A stop sequence may be at most %d bytes long.", CG_STOP_MAX_BYTES);
        memcpy(p->opts->stop[p->opts->stop_count], json_string_value(s), len);
        p->opts->stop[p->opts->stop_count][len] = '\0';
        p->opts->stop_count++;
    }
    return CG_OK;
}

/* --- tools ------------------------------------------------------------------------------- */

void cg_chat_tool_alias(const char *name, char *out, size_t size)
{
    size_t len = strlen(name);
    if (len + sizeof(TOOL_PREFIX) - 1 <= TOOL_NAME_MAX) {
        snprintf(out, size, TOOL_PREFIX "%s", name);
        return;
    }
    /* Too long for the prefix: keep a stable, unique, 64-character form. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 16777619u;
    snprintf(out, size, TOOL_PREFIX "%.52s_%08x", name, h);
}

static bool valid_tool_name(const char *s, size_t len)
{
    if (len == 0 || len > TOOL_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void add_tool_name(struct cg_request *r, const char *name)
{
    char alias[TOOL_NAME_MAX + 8];
    cg_chat_tool_alias(name, alias, sizeof(alias));
    if (cg_request_tool_name(r, alias))
        return;
    r->tool_names = cg_xrealloc(r->tool_names, (r->tool_count + 1) * sizeof(*r->tool_names));
    r->tool_names[r->tool_count].alias = cg_xstrdup(alias);
    r->tool_names[r->tool_count].name = cg_xstrdup(name);
    r->tool_count++;
}

/* One function definition: {name, description?, parameters?, strict?}. */
static enum cg_err parse_function(struct parse *p, json_t *fn, const char *param, json_t *out)
{
    char sub[CG_ERROR_PARAM_BYTES];
    if (!json_is_object(fn))
        return bad_type(p, param, "an object", fn);
    json_t *name = json_object_get(fn, "name");
    snprintf(sub, sizeof(sub), "%s.name", param);
    if (!json_is_string(name))
        return bad(p, CG_ERR_INVALID_REQUEST, sub, "A function needs a 'name' string.");
    if (!valid_tool_name(json_string_value(name), json_string_length(name)))
        return bad(p, CG_ERR_INVALID_REQUEST, sub,
                   "Invalid function name '%.80s': use 1 to 64 of a-z, A-Z, 0-9, _ and -.",
                   json_string_value(name));
    json_t *desc = json_object_get(fn, "description");
    snprintf(sub, sizeof(sub), "%s.description", param);
    if (desc && !json_is_null(desc) && !json_is_string(desc))
        return bad_type(p, sub, "a string", desc);
    json_t *params = json_object_get(fn, "parameters");
    snprintf(sub, sizeof(sub), "%s.parameters", param);
    if (params && !json_is_null(params) && !json_is_object(params))
        return bad_type(p, sub, "an object (a JSON Schema)", params);
    json_t *strict = json_object_get(fn, "strict");
    snprintf(sub, sizeof(sub), "%s.strict", param);
    if (strict && !json_is_null(strict) && !json_is_boolean(strict))
        return bad_type(p, sub, "a boolean", strict);
    const char *n = json_string_value(name);
    for (size_t i = 0; i < json_array_size(out); i++) {
        if (strcmp(json_string_value(json_object_get(json_array_get(out, i), "client_name")), n) ==
            0)
            return bad(p, CG_ERR_INVALID_REQUEST, param, "Duplicate function name '%.80s'.", n);
    }
    char alias[TOOL_NAME_MAX + 8];
    cg_chat_tool_alias(n, alias, sizeof(alias));
    json_t *schema = json_is_object(params) ? json_incref(params)
                                            : json_pack("{s:s,s:{}}", "type", "object",
                                                        "properties");
    json_t *tool = json_pack("{s:s,s:s,s:s,s:o,s:s}", "type", "function", "name", alias,
                             "description", json_is_string(desc) ? json_string_value(desc) : "",
                             "inputSchema", schema, "client_name", n);
    json_array_append_new(out, tool);
    add_tool_name(p->req, n);
    return CG_OK;
}

static enum cg_err parse_tools(struct parse *p, json_t *root, json_t *out)
{
    json_t *tools = json_object_get(root, "tools");
    json_t *functions = json_object_get(root, "functions");
    char param[CG_ERROR_PARAM_BYTES];
    size_t i;
    json_t *t;
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools))
            return bad_type(p, "tools", "an array", tools);
        if (json_array_size(tools) > TOOLS_MAX)
            return bad(p, CG_ERR_INVALID_REQUEST, "tools", "At most %d tools are allowed.",
                       TOOLS_MAX);
        json_array_foreach(tools, i, t)
        {
            snprintf(param, sizeof(param), "tools[%zu]", i);
            if (!json_is_object(t))
                return bad_type(p, param, "an object", t);
            json_t *type = json_object_get(t, "type");
            snprintf(param, sizeof(param), "tools[%zu].type", i);
            if (!json_is_string(type) || strcmp(json_string_value(type), "function") != 0)
                return bad(p, CG_ERR_UNSUPPORTED_VALUE, param,
                           "Only tools of type 'function' are supported.");
            snprintf(param, sizeof(param), "tools[%zu].function", i);
            enum cg_err e = parse_function(p, json_object_get(t, "function"), param, out);
            if (e)
                return e;
        }
    }
    if (functions && !json_is_null(functions)) {
        if (!json_is_array(functions))
            return bad_type(p, "functions", "an array", functions);
        p->legacy_functions = true;
        json_array_foreach(functions, i, t)
        {
            snprintf(param, sizeof(param), "functions[%zu]", i);
            enum cg_err e = parse_function(p, t, param, out);
            if (e)
                return e;
        }
    }
    return CG_OK;
}

static json_t *find_tool(json_t *tools, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "client_name")), name) == 0)
            return t;
    }
    return NULL;
}

/* tool_choice (or legacy function_call): Codex always lets the model choose, so "none" offers no
 * tools and "required" or a named function are approximated with an instruction (and, for a
 * named one, by offering only that function). */
static enum cg_err parse_tool_choice(struct parse *p, json_t *root, json_t *tools)
{
    const char *key = p->legacy_functions ? "function_call" : "tool_choice";
    json_t *v = json_object_get(root, key);
    if (!p->legacy_functions && json_object_get(root, "function_call"))
        v = v ? v : json_object_get(root, "function_call");
    p->offer_tools = json_array_size(tools) > 0;
    if (v == NULL || json_is_null(v))
        return CG_OK;
    if (json_array_size(tools) == 0)
        return bad(p, CG_ERR_INVALID_REQUEST, key,
                   "'%s' is only allowed when 'tools' are specified.", key);
    const char *named = NULL;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "none") == 0) {
            p->offer_tools = false;
            return CG_OK;
        }
        if (strcmp(s, "auto") == 0)
            return CG_OK;
        if (strcmp(s, "required") == 0) {
            int err = cg_buf_append_str(&p->developer,
                                        "You must call at least one of the available functions "
                                        "in this response.\n");
            (void)err;
            return CG_OK;
        }
        return bad(p, CG_ERR_INVALID_REQUEST, key,
                   "Invalid value for '%s': expected none, auto, required or a function.", key);
    }
    if (json_is_object(v)) {
        json_t *fn = json_object_get(v, "function");
        named = json_string_value(json_object_get(json_is_object(fn) ? fn : v, "name"));
    }
    if (named == NULL)
        return bad(p, CG_ERR_INVALID_REQUEST, key,
                   "Invalid value for '%s': expected {\"type\":\"function\",\"function\":"
                   "{\"name\":...}}.",
                   key);
    json_t *chosen = find_tool(tools, named);
    if (chosen == NULL)
        return bad(p, CG_ERR_INVALID_REQUEST, key, "'%s' names '%.80s', which is not in tools.",
                   key, named);
    json_incref(chosen);
    json_array_clear(tools);
    json_array_append_new(tools, chosen);
    int err = cg_buf_appendf(&p->developer, "You must call the function %s in this response.\n",
                             json_string_value(json_object_get(chosen, "name")));
    (void)err;
    return CG_OK;
}

static enum cg_err parse_response_format(struct parse *p, json_t *root)
{
    json_t *rf = json_object_get(root, "response_format");
    if (rf == NULL || json_is_null(rf))
        return CG_OK;
    if (!json_is_object(rf))
        return bad_type(p, "response_format", "an object", rf);
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (type == NULL)
        return bad(p, CG_ERR_INVALID_REQUEST, "response_format.type",
                   "response_format needs a 'type'.");
    if (strcmp(type, "text") == 0)
        return CG_OK;
    if (strcmp(type, "json_object") == 0) {
        int err = cg_buf_append_str(&p->developer,
                                    "Respond with one valid JSON object and nothing else: no "
                                    "prose, no code fences.\n");
        (void)err;
        return CG_OK;
    }
    if (strcmp(type, "json_schema") == 0) {
        json_t *js = json_object_get(rf, "json_schema");
        if (!json_is_object(js))
            return bad(p, CG_ERR_INVALID_REQUEST, "response_format.json_schema",
                       "response_format of type json_schema needs a 'json_schema' object.");
        json_t *name = json_object_get(js, "name");
        if (!json_is_string(name))
            return bad(p, CG_ERR_INVALID_REQUEST, "response_format.json_schema.name",
                       "response_format.json_schema needs a 'name' string.");
        json_t *schema = json_object_get(js, "schema");
        if (!json_is_object(schema))
            return bad(p, CG_ERR_INVALID_REQUEST, "response_format.json_schema.schema",
                       "response_format.json_schema needs a 'schema' object.");
        p->req->output_schema = json_deep_copy(schema);
        return CG_OK;
    }
    return bad(p, CG_ERR_UNSUPPORTED_VALUE, "response_format.type",
               "Invalid value for 'response_format.type': expected text, json_object or "
               "json_schema.");
}

/* --- messages ---------------------------------------------------------------------------- */

enum role { ROLE_SYSTEM, ROLE_DEVELOPER, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL, ROLE_FUNCTION };

static bool parse_role(const char *s, enum role *out)
{
    static const char *const names[] = {"system", "developer", "user",
                                        "assistant", "tool", "function"};
    for (size_t i = 0; i < CG_ARRAY_SIZE(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum role)i;
            return true;
        }
    }
    return false;
}

/* Text of a system/developer/tool/assistant content: a string, or text (and refusal) parts. */
static enum cg_err content_text(struct parse *p, json_t *content, const char *param,
                                struct cg_buf *out, bool allow_null)
{
    if (content == NULL || json_is_null(content)) {
        if (allow_null)
            return CG_OK;
        return bad(p, CG_ERR_INVALID_REQUEST, param, "'%s' must not be null.", param);
    }
    if (json_is_string(content))
        return cg_buf_append(out, json_string_value(content), json_string_length(content))
                   ? bad(p, CG_ERR_TOO_LARGE, param, "Message too large.")
                   : CG_OK;
    if (!json_is_array(content))
        return bad_type(p, param, "a string or an array of content parts", content);
    size_t i;
    json_t *part;
    char sub[CG_ERROR_PARAM_BYTES];
    json_array_foreach(content, i, part)
    {
        snprintf(sub, sizeof(sub), "%s[%zu]", param, i);
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *text = NULL;
        if (type && strcmp(type, "text") == 0)
            text = json_object_get(part, "text");
        else if (type && strcmp(type, "refusal") == 0)
            text = json_object_get(part, "refusal");
        else
            return bad(p, CG_ERR_INVALID_REQUEST, sub,
                       "Invalid content part: only 'text' parts are allowed here.");
        if (!json_is_string(text))
            return bad(p, CG_ERR_INVALID_REQUEST, sub, "A text part needs a 'text' string.");
        if (cg_buf_append(out, json_string_value(text), json_string_length(text)) != 0)
            return bad(p, CG_ERR_TOO_LARGE, param, "Message too large.");
    }
    return CG_OK;
}

/* A user message's content as Responses input parts (history) or turn/start input items. */
static enum cg_err user_parts(struct parse *p, json_t *content, const char *param,
                              json_t *history_parts, json_t *turn_items)
{
    if (json_is_string(content)) {
        const char *s = json_string_value(content);
        if (history_parts)
            json_array_append_new(history_parts,
                                  json_pack("{s:s,s:s%}", "type", "input_text", "text", s,
                                            json_string_length(content)));
        if (turn_items)
            json_array_append_new(turn_items,
                                  json_pack("{s:s,s:s%,s:[]}", "type", "text", "text", s,
                                            json_string_length(content), "text_elements"));
        return CG_OK;
    }
    if (content == NULL || json_is_null(content))
        return bad(p, CG_ERR_INVALID_REQUEST, param, "'%s' must not be null.", param);
    if (!json_is_array(content))
        return bad_type(p, param, "a string or an array of content parts", content);
    size_t i;
    json_t *part;
    char sub[CG_ERROR_PARAM_BYTES];
    json_array_foreach(content, i, part)
    {
        snprintf(sub, sizeof(sub), "%s[%zu]", param, i);
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type && strcmp(type, "text") == 0) {
            json_t *text = json_object_get(part, "text");
            if (!json_is_string(text))
                return bad(p, CG_ERR_INVALID_REQUEST, sub, "A text part needs a 'text' string.");
            enum cg_err e = user_parts(p, text, sub, history_parts, turn_items);
            if (e)
                return e;
        } else if (type && strcmp(type, "image_url") == 0) {
            json_t *iu = json_object_get(part, "image_url");
            json_t *url = json_is_object(iu) ? json_object_get(iu, "url") : iu;
            if (!json_is_string(url))
                return bad(p, CG_ERR_INVALID_REQUEST, sub,
                           "An image_url part needs 'image_url.url'.");
            const char *u = json_string_value(url);
            if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0 &&
                strncmp(u, "data:image/", 11) != 0)
                return bad(p, CG_ERR_INVALID_REQUEST, sub,
                           "image_url.url must be an http(s) URL or a data:image/ URL.");
            if (history_parts)
                json_array_append_new(history_parts, json_pack("{s:s,s:s}", "type",
                                                               "input_image", "image_url", u));
            if (turn_items)
                json_array_append_new(turn_items, json_pack("{s:s,s:s}", "type", "image", "url",
                                                            u));
        } else {
            return bad(p, CG_ERR_UNSUPPORTED_VALUE, sub,
                       "Unsupported content part type '%.40s': use text or image_url.",
                       type ? type : "(none)");
        }
    }
    return CG_OK;
}

static json_t *message_item(const char *role, const char *part_type, const char *text,
                            size_t len)
{
    return json_pack("{s:s,s:s,s:[{s:s,s:s%}]}", "type", "message", "role", role, "content",
                     "type", part_type, "text", text, len);
}

/* Tool-call bookkeeping: OpenAI requires every assistant tool call to be answered by a tool
 * message before the conversation goes on, and every tool message to answer one. */
struct calls {
    json_t *open; /* call ids awaiting a tool message */
    json_t *all;  /* every call id seen (object used as a set) */
    json_t *legacy_open; /* legacy function_call: [{name, call_id}] awaiting a function msg */
};

static enum cg_err require_answered(struct parse *p, struct calls *c, size_t at)
{
    if (json_array_size(c->open) == 0)
        return CG_OK;
    char param[32];
    snprintf(param, sizeof(param), "messages[%zu]", at);
    return bad(p, CG_ERR_INVALID_REQUEST, param,
               "An assistant message with 'tool_calls' must be followed by tool messages "
               "responding to each 'tool_call_id'. The following tool_call_ids did not have "
               "response messages: %.120s",
               json_string_value(json_array_get(c->open, 0)));
}

static enum cg_err assistant_items(struct parse *p, json_t *msg, size_t i, json_t *history,
                                   struct calls *c)
{
    char param[CG_ERROR_PARAM_BYTES];
    snprintf(param, sizeof(param), "messages[%zu].content", i);
    struct cg_buf text;
    cg_buf_init(&text, INSTRUCTIONS_MAX_BYTES);
    enum cg_err e = content_text(p, json_object_get(msg, "content"), param, &text, true);
    if (!e && text.len)
        json_array_append_new(history, message_item("assistant", "output_text", text.data,
                                                    text.len));
    cg_buf_dispose(&text);
    if (e)
        return e;
    json_t *calls = json_object_get(msg, "tool_calls");
    size_t k;
    json_t *tc;
    if (calls && !json_is_null(calls)) {
        snprintf(param, sizeof(param), "messages[%zu].tool_calls", i);
        if (!json_is_array(calls))
            return bad_type(p, param, "an array", calls);
        json_array_foreach(calls, k, tc)
        {
            snprintf(param, sizeof(param), "messages[%zu].tool_calls[%zu]", i, k);
            json_t *id = json_object_get(tc, "id");
            json_t *fn = json_object_get(tc, "function");
            json_t *name = json_object_get(fn, "name");
            json_t *args = json_object_get(fn, "arguments");
            if (!json_is_string(id) || !json_is_string(name) ||
                (args && !json_is_string(args)))
                return bad(p, CG_ERR_INVALID_REQUEST, param,
                           "A tool call needs 'id', 'function.name' and 'function.arguments' "
                           "strings.");
            char alias[TOOL_NAME_MAX + 8];
            cg_chat_tool_alias(json_string_value(name), alias, sizeof(alias));
            add_tool_name(p->req, json_string_value(name));
            json_array_append_new(
                history, json_pack("{s:s,s:s,s:s,s:s}", "type", "function_call", "call_id",
                                   json_string_value(id), "name", alias, "arguments",
                                   args ? json_string_value(args) : "{}"));
            json_array_append(c->open, id);
            json_object_set_new(c->all, json_string_value(id), json_true());
        }
    }
    json_t *fc = json_object_get(msg, "function_call");
    if (fc && !json_is_null(fc)) {
        json_t *name = json_object_get(fc, "name");
        json_t *args = json_object_get(fc, "arguments");
        snprintf(param, sizeof(param), "messages[%zu].function_call", i);
        if (!json_is_string(name))
            return bad(p, CG_ERR_INVALID_REQUEST, param, "function_call needs a 'name' string.");
        char call_id[48];
        snprintf(call_id, sizeof(call_id), "call_legacy_%zu", i);
        char alias[TOOL_NAME_MAX + 8];
        cg_chat_tool_alias(json_string_value(name), alias, sizeof(alias));
        add_tool_name(p->req, json_string_value(name));
        json_array_append_new(history,
                              json_pack("{s:s,s:s,s:s,s:s}", "type", "function_call", "call_id",
                                        call_id, "name", alias, "arguments",
                                        json_is_string(args) ? json_string_value(args) : "{}"));
        json_array_append_new(c->legacy_open,
                              json_pack("{s:s,s:s}", "name", json_string_value(name), "call_id",
                                        call_id));
    }
    return CG_OK;
}

static enum cg_err tool_item(struct parse *p, json_t *msg, size_t i, enum role role,
                             json_t *history, struct calls *c)
{
    char param[CG_ERROR_PARAM_BYTES];
    snprintf(param, sizeof(param), "messages[%zu].content", i);
    struct cg_buf text;
    cg_buf_init(&text, INSTRUCTIONS_MAX_BYTES);
    enum cg_err e = content_text(p, json_object_get(msg, "content"), param, &text, true);
    if (e) {
        cg_buf_dispose(&text);
        return e;
    }
    const char *call_id = NULL;
    char legacy_id[48];
    if (role == ROLE_TOOL) {
        json_t *id = json_object_get(msg, "tool_call_id");
        snprintf(param, sizeof(param), "messages[%zu].tool_call_id", i);
        if (!json_is_string(id)) {
            cg_buf_dispose(&text);
            return bad(p, CG_ERR_INVALID_REQUEST, param,
                       "A message with role 'tool' needs a 'tool_call_id' string.");
        }
        call_id = json_string_value(id);
        if (json_object_get(c->all, call_id) == NULL) {
            cg_buf_dispose(&text);
            return bad(p, CG_ERR_INVALID_REQUEST, param,
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
            snprintf(param, sizeof(param), "messages[%zu]", i);
            return bad(p, CG_ERR_INVALID_REQUEST, param,
                       "A message with role 'function' must follow an assistant function_call.");
        }
        snprintf(legacy_id, sizeof(legacy_id), "%s",
                 json_string_value(json_object_get(json_array_get(c->legacy_open, pick),
                                                   "call_id")));
        json_array_remove(c->legacy_open, pick);
        call_id = legacy_id;
    }
    json_array_append_new(history, json_pack("{s:s,s:s,s:s%}", "type", "function_call_output",
                                             "call_id", call_id, "output",
                                             text.data ? text.data : "", text.len));
    cg_buf_dispose(&text);
    return CG_OK;
}

static enum cg_err parse_messages(struct parse *p, json_t *root)
{
    json_t *msgs = json_object_get(root, "messages");
    if (msgs == NULL || json_is_null(msgs))
        return bad(p, CG_ERR_INVALID_REQUEST, "messages", "'messages' is required.");
    if (!json_is_array(msgs))
        return bad_type(p, "messages", "an array", msgs);
    size_t n = json_array_size(msgs);
    if (n == 0)
        return bad(p, CG_ERR_INVALID_REQUEST, "messages",
                   "'messages' must contain at least one message.");
    enum role *roles = cg_xmalloc(n * sizeof(*roles));
    char param[CG_ERROR_PARAM_BYTES];
    enum cg_err e = CG_OK;
    for (size_t i = 0; i < n && !e; i++) {
        json_t *m = json_array_get(msgs, i);
        snprintf(param, sizeof(param), "messages[%zu]", i);
        if (!json_is_object(m)) {
            e = bad_type(p, param, "an object", m);
            break;
        }
        json_t *role = json_object_get(m, "role");
        snprintf(param, sizeof(param), "messages[%zu].role", i);
        if (!json_is_string(role) || !parse_role(json_string_value(role), &roles[i]))
            e = bad(p, CG_ERR_INVALID_REQUEST, param,
                    "Invalid value for '%s': expected one of system, developer, user, assistant, "
                    "tool, function.",
                    param);
    }
    json_t *history = json_array();
    json_t *turn_input = json_array();
    struct calls c = {json_array(), json_object(), json_array()};
    size_t last = n - 1;
    bool ends_with_user = !e && roles[last] == ROLE_USER;
    size_t i = 0;
    /* Leading system and developer messages are the thread's instructions. */
    for (; !e && i < n && (roles[i] == ROLE_SYSTEM || roles[i] == ROLE_DEVELOPER); i++) {
        snprintf(param, sizeof(param), "messages[%zu].content", i);
        size_t before = p->base.len;
        if (before > 0)
            e = cg_buf_append(&p->base, "\n\n", 2) ? CG_ERR_TOO_LARGE : CG_OK;
        if (!e)
            e = content_text(p, json_object_get(json_array_get(msgs, i), "content"), param,
                             &p->base, false);
    }
    for (; !e && i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        snprintf(param, sizeof(param), "messages[%zu].content", i);
        switch (roles[i]) {
        case ROLE_SYSTEM:
        case ROLE_DEVELOPER: {
            struct cg_buf t;
            cg_buf_init(&t, INSTRUCTIONS_MAX_BYTES);
            e = content_text(p, json_object_get(m, "content"), param, &t, false);
            /* Mid-conversation system text goes in as developer text: Codex drops "system". */
            if (!e && t.len && !p->lim->ignore_system_prompt)
                json_array_append_new(history,
                                      message_item("developer", "input_text", t.data, t.len));
            cg_buf_dispose(&t);
            break;
        }
        case ROLE_USER: {
            e = require_answered(p, &c, i);
            if (e)
                break;
            if (i == last) {
                e = user_parts(p, json_object_get(m, "content"), param, NULL, turn_input);
                break;
            }
            json_t *parts = json_array();
            e = user_parts(p, json_object_get(m, "content"), param, parts, NULL);
            if (!e)
                json_array_append_new(history, json_pack("{s:s,s:s,s:o}", "type", "message",
                                                         "role", "user", "content", parts));
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

/* --- entry points ------------------------------------------------------------------------ */

static void finish_instructions(struct parse *p)
{
    if (p->base.len && !p->lim->ignore_system_prompt)
        p->req->base_instructions = cg_xstrndup(p->base.data, p->base.len);
    if (p->developer.len)
        p->req->developer_instructions = cg_xstrndup(p->developer.data, p->developer.len);
}

/* Keeps only Codex's fields of each dynamic tool. */
static json_t *codex_tools(json_t *tools)
{
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        json_t *copy = json_copy(t);
        json_object_del(copy, "client_name");
        json_array_append_new(out, copy);
    }
    return out;
}

static json_t *load_body(struct parse *p, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (root == NULL) {
        bad(p, CG_ERR_INVALID_JSON, NULL,
            "We could not parse the JSON body of your request: %s (line %d, column %d).",
            jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        bad(p, CG_ERR_INVALID_REQUEST, NULL, "The request body must be a JSON object.");
        json_decref(root);
        return NULL;
    }
    return root;
}

static void init_parse(struct parse *p, const struct cg_chat_limits *lim, struct cg_request *req,
                       struct cg_chat_opts *opts, struct cg_error *err)
{
    memset(p, 0, sizeof(*p));
    p->lim = lim;
    p->req = req;
    p->opts = opts;
    p->err = err;
    cg_buf_init(&p->base, INSTRUCTIONS_MAX_BYTES);
    cg_buf_init(&p->developer, INSTRUCTIONS_MAX_BYTES);
    cg_request_init(req);
    memset(opts, 0, sizeof(*opts));
    opts->parallel_tool_calls = true;
    cg_error_init(err, CG_OK);
}

/* The fields every model endpoint shares. */
static enum cg_err parse_common(struct parse *p, json_t *root)
{
    enum cg_err e = parse_model(p, root);
    if (!e)
        e = parse_stream(p, root);
    if (!e)
        e = parse_n(p, root);
    if (!e)
        e = check_ignored(p, root);
    if (!e)
        e = parse_stop(p, root);
    return e;
}

static enum cg_err end_parse(struct parse *p, json_t *root, enum cg_err e)
{
    json_decref(root);
    cg_buf_dispose(&p->base);
    cg_buf_dispose(&p->developer);
    if (e)
        cg_request_dispose(p->req);
    return e;
}

static enum cg_err parse_parallel(struct parse *p, json_t *root)
{
    json_t *ptc = json_object_get(root, "parallel_tool_calls");
    if (ptc && !json_is_null(ptc) && !json_is_boolean(ptc))
        return bad_type(p, "parallel_tool_calls", "a boolean", ptc);
    if (json_is_false(ptc) || p->legacy_functions)
        p->opts->parallel_tool_calls = false;
    p->opts->legacy_functions = p->legacy_functions;
    return CG_OK;
}

enum cg_err cg_chat_parse(const char *body, size_t len, const struct cg_chat_limits *lim,
                          struct cg_request *req, struct cg_chat_opts *opts, struct cg_error *err)
{
    struct parse p;
    init_parse(&p, lim, req, opts, err);
    json_t *root = load_body(&p, body, len);
    json_t *tools = json_array();
    enum cg_err e = root ? parse_common(&p, root) : err->code;
    if (!e)
        e = parse_effort(&p, root);
    if (!e)
        e = parse_response_format(&p, root);
    if (!e)
        e = parse_tools(&p, root, tools);
    if (!e)
        e = parse_tool_choice(&p, root, tools);
    if (!e)
        e = parse_parallel(&p, root);
    if (!e)
        e = parse_messages(&p, root);
    if (!e) {
        if (p.offer_tools)
            req->dynamic_tools = codex_tools(tools);
        finish_instructions(&p);
    }
    json_decref(tools);
    return end_parse(&p, root, e);
}

/* `prompt`: a string, or strings joined by newlines. */
static enum cg_err parse_prompt(struct parse *p, json_t *root, struct cg_buf *out)
{
    json_t *pr = json_object_get(root, "prompt");
    size_t count = json_is_string(pr) ? 1 : json_is_array(pr) ? json_array_size(pr) : 0;
    if (count == 0)
        return bad(p, CG_ERR_INVALID_REQUEST, "prompt",
                   "'prompt' is required: a string or an array of strings.");
    for (size_t i = 0; i < count; i++) {
        json_t *s = json_is_string(pr) ? pr : json_array_get(pr, i);
        if (!json_is_string(s))
            return bad(p, CG_ERR_UNSUPPORTED_VALUE, "prompt",
                       "'prompt' must be a string or an array of strings (token arrays are not "
                       "supported).");
        if ((i && cg_buf_append_char(out, '\n')) ||
            cg_buf_append(out, json_string_value(s), json_string_length(s)))
            return bad(p, CG_ERR_TOO_LARGE, "prompt", "The prompt is too large.");
    }
    return CG_OK;
}

static enum cg_err parse_legacy_extras(struct parse *p, json_t *root)
{
    json_t *suffix = json_object_get(root, "suffix");
    json_t *best_of = json_object_get(root, "best_of");
    json_t *echo = json_object_get(root, "echo");
    if (suffix && !json_is_null(suffix))
        return bad(p, CG_ERR_UNSUPPORTED_PARAM, "suffix", "'suffix' is not supported.");
    if (json_is_integer(best_of) && json_integer_value(best_of) > (json_int_t)p->req->n)
        return bad(p, CG_ERR_UNSUPPORTED_PARAM, "best_of",
                   "'best_of' larger than 'n' is not supported.");
    if (echo && !json_is_null(echo) && !json_is_boolean(echo))
        return bad_type(p, "echo", "a boolean", echo);
    p->opts->echo = json_is_true(echo);
    return CG_OK;
}

enum cg_err cg_completions_parse(const char *body, size_t len, const struct cg_chat_limits *lim,
                                 struct cg_request *req, struct cg_chat_opts *opts,
                                 struct cg_error *err)
{
    struct parse p;
    init_parse(&p, lim, req, opts, err);
    json_t *root = load_body(&p, body, len);
    enum cg_err e = root ? parse_common(&p, root) : err->code;
    struct cg_buf prompt;
    cg_buf_init(&prompt, INSTRUCTIONS_MAX_BYTES);
    if (!e)
        e = parse_prompt(&p, root, &prompt);
    if (!e)
        e = parse_legacy_extras(&p, root);
    if (!e) {
        req->history = json_array();
        req->input = json_array();
        json_array_append_new(req->input, json_pack("{s:s,s:s%,s:[]}", "type", "text", "text",
                                                    prompt.data ? prompt.data : "", prompt.len,
                                                    "text_elements"));
        opts->prompt = json_string_value(json_object_get(json_array_get(req->input, 0), "text"));
        finish_instructions(&p);
    }
    cg_buf_dispose(&prompt);
    return end_parse(&p, root, e);
}

bool cg_chat_json_content_type(const char *value, size_t len)
{
    if (value == NULL)
        return true; /* absent: OpenAI's SDKs always send it; curl users often forget */
    struct cg_str v = cg_str_trim((struct cg_str){value, len});
    const char *semi = memchr(v.ptr, ';', v.len);
    struct cg_str mime = {v.ptr, semi ? (size_t)(semi - v.ptr) : v.len};
    mime = cg_str_trim(mime);
    if (cg_str_ieq(mime, CG_STR("application/json")))
        return true;
    /* application/<anything>+json */
    return mime.len > 5 && cg_str_ieq((struct cg_str){mime.ptr + mime.len - 5, 5}, CG_STR("+json")) &&
           mime.len > 12 && cg_str_ieq((struct cg_str){mime.ptr, 12}, CG_STR("application/"));
}
