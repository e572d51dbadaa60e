/* chat_parse.c: the Chat Completions body (see chat_parse.h), and the members it shares with
 * legacy Completions. */
#include "api/chat_parse.h"
#include <stdio.h>
#include <string.h>
#include "api/params.h"
#include "api/replay.h"
#include "api/tools.h"
#include "core/limits.h"
#include "util/alloc.h"
#include "util/common.h"

/* Accepted and ignored, as OpenAI's reasoning models ignore sampling settings. */
static const struct cg_params_ignored ignored[] = {
    {"temperature", CG_PARAMS_NUMBER, 0, 2},
    {"top_p", CG_PARAMS_NUMBER, 0, 1},
    {"presence_penalty", CG_PARAMS_NUMBER, -2, 2},
    {"frequency_penalty", CG_PARAMS_NUMBER, -2, 2},
    {"max_tokens", CG_PARAMS_INT, 1, 0},
    {"max_completion_tokens", CG_PARAMS_INT, 1, 0},
    {"seed", CG_PARAMS_INT, (double)INT64_MIN, 0},
    {"logit_bias", CG_PARAMS_OBJECT, 0, 0},
    {"user", CG_PARAMS_STRING, 0, 0},
    {"metadata", CG_PARAMS_OBJECT, 0, 0},
    {"store", CG_PARAMS_BOOL, 0, 0},
    {"service_tier", CG_PARAMS_STRING, 0, 0},
};

/* Parameters Codex cannot carry: ignored after a type check, or rejected where ignoring them
 * would mislead. */
static enum cg_err check_ignored(struct cg_error *err, const json_t *root)
{
    enum cg_err e = cg_params_ignore(err, root, ignored, CG_ARRAY_SIZE(ignored));
    bool logprobs = false;
    if (!e)
        e = cg_params_bool(err, root, "logprobs", &logprobs);
    if (!e && logprobs)
        e = cg_params_fail(err, CG_ERR_UNSUPPORTED_PARAM, "logprobs",
                           "logprobs is not supported: Codex does not report token "
                           "probabilities.");
    if (!e)
        e = cg_params_reject(err, root, "top_logprobs", CG_ERR_UNSUPPORTED_PARAM,
                             "top_logprobs is not supported: Codex does not report token "
                             "probabilities.");
    json_t *mod = NULL;
    if (!e)
        e = cg_params_array(err, root, "modalities", &mod);
    size_t i;
    json_t *m;
    json_array_foreach(e ? NULL : mod, i, m)
    {
        if (!json_is_string(m) || strcmp(json_string_value(m), "text") != 0)
            return cg_params_fail(err, CG_ERR_UNSUPPORTED_VALUE, "modalities",
                                  "Only the \"text\" modality is supported.");
    }
    if (!e)
        e = cg_params_reject(err, root, "audio", CG_ERR_UNSUPPORTED_PARAM,
                             "Audio output is not supported.");
    if (!e)
        e = cg_params_reject(err, root, "web_search_options", CG_ERR_UNSUPPORTED_PARAM,
                             "Web search is not available through this gateway.");
    return e;
}

static enum cg_err parse_stream(struct cg_chat_parse *p, const json_t *root)
{
    enum cg_err e = cg_params_bool(p->err, root, "stream", &p->req->stream);
    json_t *so = NULL;
    if (!e)
        e = cg_params_object(p->err, root, "stream_options", &so);
    if (e || so == NULL)
        return e;
    if (!p->req->stream)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "stream_options",
                              "The 'stream_options' parameter is only allowed when 'stream' is "
                              "enabled.");
    json_t *iu = json_object_get(so, "include_usage");
    if (cg_params_present(iu) && !json_is_boolean(iu))
        return cg_params_bad_type(p->err, "stream_options.include_usage", "a boolean", iu);
    p->req->include_usage = json_is_true(iu);
    return CG_OK;
}

static enum cg_err parse_n(struct cg_chat_parse *p, const json_t *root)
{
    json_int_t n = 1;
    p->req->n = 1;
    enum cg_err e = cg_params_int(p->err, root, "n", INT64_MIN, &n);
    if (e)
        return e;
    if (n < 1 || n > (json_int_t)p->lim->max_choices)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "n",
                              "Invalid value for 'n': expected an integer from 1 to %u "
                              "(PROXY_MAX_CHAT_CHOICES), got %lld.",
                              p->lim->max_choices, (long long)n);
    p->req->n = (unsigned)n;
    return CG_OK;
}

static enum cg_err parse_stop(struct cg_chat_parse *p, const json_t *root)
{
    json_t *v = json_object_get(root, "stop");
    p->opts->stop_count = 0;
    if (!cg_params_present(v))
        return CG_OK;
    json_t *one = json_is_string(v) ? v : NULL;
    size_t count = one ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (!one && !json_is_array(v))
        return cg_params_bad_type(p->err, "stop", "a string or an array of strings", v);
    if (count > CG_STOP_MAX)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "stop",
                              "At most %d stop sequences are allowed.", CG_STOP_MAX);
    for (size_t i = 0; i < count; i++) {
        json_t *s = one ? one : json_array_get(v, i);
        if (!json_is_string(s))
            return cg_params_bad_type(p->err, "stop", "a string or an array of strings", s);
        size_t len = json_string_length(s);
        if (len == 0)
            continue;
        if (len > CG_STOP_MAX_BYTES)
            return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "stop",
                                  "A stop sequence may be at most %d bytes long.",
                                  CG_STOP_MAX_BYTES);
        memcpy(p->opts->stop[p->opts->stop_count], json_string_value(s), len);
        p->opts->stop[p->opts->stop_count][len] = '\0';
        p->opts->stop_count++;
    }
    return CG_OK;
}

static enum cg_err parse_effort(struct cg_chat_parse *p, const json_t *root)
{
    json_t *r = NULL;
    enum cg_err e = cg_params_object(p->err, root, "reasoning", &r);
    if (!e && r)
        e = cg_params_effort(p->err, json_object_get(r, "effort"), "reasoning.effort", p->req);
    if (!e)
        e = cg_params_effort(p->err, json_object_get(root, "reasoning_effort"), "reasoning_effort",
                             p->req);
    return e;
}

static enum cg_err parse_response_format(struct cg_chat_parse *p, const json_t *root)
{
    json_t *rf = NULL;
    enum cg_err e = cg_params_object(p->err, root, "response_format", &rf);
    if (e || rf == NULL)
        return e;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (type == NULL)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "response_format.type",
                              "response_format needs a 'type'.");
    json_t *js = json_object_get(rf, "json_schema");
    if (strcmp(type, "json_schema") == 0 && !json_is_object(js))
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "response_format.json_schema",
                              "response_format of type json_schema needs a 'json_schema' "
                              "object.");
    return cg_params_output_format(p->err, type, "response_format.type", js,
                                   "response_format.json_schema", &p->developer, p->req);
}

/* `tools` ([{type:"function", function:{...}}]) and the legacy `functions` ([{...}]). */
static enum cg_err parse_tools(struct cg_chat_parse *p, const json_t *root, struct cg_tools *t)
{
    json_t *tools = NULL;
    json_t *functions = NULL;
    char param[CG_ERROR_PARAM_BYTES];
    size_t i;
    json_t *v;
    enum cg_err e = cg_params_array(p->err, root, "tools", &tools);
    if (!e && json_array_size(tools) > CG_TOOLS_MAX)
        e = cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "tools", "At most %d tools are allowed.",
                           CG_TOOLS_MAX);
    json_array_foreach(e ? NULL : tools, i, v)
    {
        snprintf(param, sizeof(param), "tools[%zu]", i);
        if (!json_is_object(v))
            return cg_params_bad_type(p->err, param, "an object", v);
        json_t *type = json_object_get(v, "type");
        snprintf(param, sizeof(param), "tools[%zu].type", i);
        if (!json_is_string(type) || strcmp(json_string_value(type), "function") != 0)
            return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, param,
                                  "Only tools of type 'function' are supported.");
        snprintf(param, sizeof(param), "tools[%zu].function", i);
        e = cg_tools_add(t, json_object_get(v, "function"), param);
        if (e)
            return e;
    }
    if (!e)
        e = cg_params_array(p->err, root, "functions", &functions);
    if (functions)
        p->opts->legacy_functions = true;
    json_array_foreach(e ? NULL : functions, i, v)
    {
        snprintf(param, sizeof(param), "functions[%zu]", i);
        e = cg_tools_add(t, v, param);
        if (e)
            return e;
    }
    return e;
}

/* tool_choice, or the legacy function_call that goes with `functions` (also accepted in place
 * of tool_choice). */
static enum cg_err parse_tool_choice(struct cg_chat_parse *p, const json_t *root,
                                     struct cg_tools *t)
{
    bool legacy = p->opts->legacy_functions;
    const char *key = legacy ? "function_call" : "tool_choice";
    json_t *v = json_object_get(root, key);
    if (!legacy && v == NULL)
        v = json_object_get(root, "function_call");
    return cg_tools_choice(t, v, key);
}

static enum cg_err parse_parallel(struct cg_chat_parse *p, const json_t *root)
{
    bool parallel = true;
    enum cg_err e = cg_params_bool(p->err, root, "parallel_tool_calls", &parallel);
    p->opts->parallel_tool_calls = parallel && !p->opts->legacy_functions;
    return e;
}

json_t *cg_chat_parse_begin(struct cg_chat_parse *p, const char *body, size_t len,
                            const struct cg_chat_limits *lim, struct cg_request *req,
                            struct cg_chat_opts *opts, struct cg_error *err)
{
    memset(p, 0, sizeof(*p));
    p->lim = lim;
    p->req = req;
    p->opts = opts;
    p->err = err;
    cg_buf_init(&p->base, CG_REQUEST_TEXT_MAX_BYTES);
    cg_buf_init(&p->developer, CG_REQUEST_TEXT_MAX_BYTES);
    cg_request_init(req);
    memset(opts, 0, sizeof(*opts));
    opts->parallel_tool_calls = true;
    cg_error_init(err, CG_OK);
    return cg_params_load(body, len, err);
}

enum cg_err cg_chat_parse_common(struct cg_chat_parse *p, const json_t *root)
{
    enum cg_err e = cg_params_model(p->err, root, p->lim->catalog, p->req);
    if (!e)
        e = parse_stream(p, root);
    if (!e)
        e = parse_n(p, root);
    if (!e)
        e = check_ignored(p->err, root);
    if (!e)
        e = parse_stop(p, root);
    return e;
}

enum cg_err cg_chat_parse_end(struct cg_chat_parse *p, json_t *root, enum cg_err e)
{
    if (!e) {
        if (p->base.len && !p->lim->ignore_system_prompt)
            p->req->base_instructions = cg_xstrndup(p->base.data, p->base.len);
        if (p->developer.len)
            p->req->developer_instructions = cg_xstrndup(p->developer.data, p->developer.len);
    }
    json_decref(root);
    cg_buf_dispose(&p->base);
    cg_buf_dispose(&p->developer);
    if (e) {
        cg_request_dispose(p->req);
        /* Never answer a failure with the table's "ok" row. */
        if (p->err->code != e)
            cg_error_init(p->err, e);
    }
    return e;
}

enum cg_err cg_chat_parse(const char *body, size_t len, const struct cg_chat_limits *lim,
                          struct cg_request *req, struct cg_chat_opts *opts, struct cg_error *err)
{
    struct cg_chat_parse p;
    json_t *root = cg_chat_parse_begin(&p, body, len, lim, req, opts, err);
    struct cg_tools tools;
    cg_tools_init(&tools, req, err, &p.developer);
    struct cg_replay replay = {
        .req = req,
        .err = err,
        .base = &p.base,
        .ignore_system_prompt = lim->ignore_system_prompt,
    };
    enum cg_err e = root ? cg_chat_parse_common(&p, root) : err->code;
    if (!e)
        e = parse_effort(&p, root);
    if (!e)
        e = parse_response_format(&p, root);
    if (!e)
        e = parse_tools(&p, root, &tools);
    if (!e)
        e = parse_tool_choice(&p, root, &tools);
    if (!e)
        e = parse_parallel(&p, root);
    if (!e)
        e = cg_replay_messages(&replay, json_object_get(root, "messages"));
    if (!e)
        cg_tools_finish(&tools);
    cg_tools_dispose(&tools);
    return cg_chat_parse_end(&p, root, e);
}
