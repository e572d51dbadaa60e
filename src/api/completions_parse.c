/* completions_parse.c: the legacy Completions body (see completions_parse.h). */
#include "api/completions_parse.h"
#include "api/params.h"
#include "core/limits.h"

/* `prompt`: a string, or strings joined by newlines. */
static enum cg_err parse_prompt(struct cg_chat_parse *p, const json_t *root, struct cg_buf *out)
{
    json_t *pr = json_object_get(root, "prompt");
    size_t count = json_is_string(pr) ? 1 : json_is_array(pr) ? json_array_size(pr) : 0;
    if (count == 0)
        return cg_params_fail(p->err, CG_ERR_INVALID_REQUEST, "prompt",
                              "'prompt' is required: a string or an array of strings.");
    for (size_t i = 0; i < count; i++) {
        json_t *s = json_is_string(pr) ? pr : json_array_get(pr, i);
        if (!json_is_string(s))
            return cg_params_fail(p->err, CG_ERR_UNSUPPORTED_VALUE, "prompt",
                                  "'prompt' must be a string or an array of strings (token "
                                  "arrays are not supported).");
        if ((i && cg_buf_append_char(out, '\n')) ||
            cg_buf_append(out, json_string_value(s), json_string_length(s)))
            return cg_params_fail(p->err, CG_ERR_TOO_LARGE, "prompt", "The prompt is too large.");
    }
    return CG_OK;
}

static enum cg_err parse_legacy_extras(struct cg_chat_parse *p, const json_t *root)
{
    json_int_t best_of = 1;
    enum cg_err e = cg_params_reject(p->err, root, "suffix", CG_ERR_UNSUPPORTED_PARAM,
                                     "'suffix' is not supported.");
    if (!e)
        e = cg_params_int(p->err, root, "best_of", INT64_MIN, &best_of);
    if (!e && best_of > (json_int_t)p->req->n)
        e = cg_params_fail(p->err, CG_ERR_UNSUPPORTED_PARAM, "best_of",
                           "'best_of' larger than 'n' is not supported.");
    if (!e)
        e = cg_params_bool(p->err, root, "echo", &p->opts->echo);
    return e;
}

enum cg_err cg_completions_parse(const char *body, size_t len, const struct cg_chat_limits *lim,
                                 struct cg_request *req, struct cg_chat_opts *opts,
                                 struct cg_error *err)
{
    struct cg_chat_parse p;
    json_t *root = cg_chat_parse_begin(&p, body, len, lim, req, opts, err);
    enum cg_err e = root ? cg_chat_parse_common(&p, root) : err->code;
    struct cg_buf prompt;
    cg_buf_init(&prompt, CG_REQUEST_TEXT_MAX_BYTES);
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
    }
    cg_buf_dispose(&prompt);
    return cg_chat_parse_end(&p, root, e);
}
