/* codex_error.c: the codexErrorInfo table and HTTP status mapping of Codex turn errors. */
#include "backend/codex_error.h"
#include <string.h>
#include "util/common.h"

static enum cg_err map_info_string(const char *s)
{
    static const struct {
        const char *info;
        enum cg_err err;
    } table[] = {
        {"contextWindowExceeded", CG_ERR_CONTEXT_LENGTH},
        {"usageLimitExceeded", CG_ERR_QUOTA_EXCEEDED},
        {"sessionBudgetExceeded", CG_ERR_QUOTA_EXCEEDED},
        {"rateLimitExceeded", CG_ERR_UPSTREAM_RATE_LIMIT},
        {"serverOverloaded", CG_ERR_UPSTREAM_OVERLOADED},
        {"flexUnavailable", CG_ERR_UPSTREAM_OVERLOADED},
        {"policyCapacityUnavailable", CG_ERR_UPSTREAM_OVERLOADED},
        {"modelNotFound", CG_ERR_MODEL_NOT_FOUND},
        {"cyberPolicy", CG_ERR_CONTENT_POLICY},
        {"misalignmentPolicyViolation", CG_ERR_CONTENT_POLICY},
        {"inferenceHookDenied", CG_ERR_CONTENT_POLICY},
        {"unauthorized", CG_ERR_UPSTREAM_AUTH},
        {"badRequest", CG_ERR_UPSTREAM_BAD_REQUEST},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(table); i++) {
        if (strcmp(s, table[i].info) == 0)
            return table[i].err;
    }
    return CG_ERR_BACKEND_ERROR;
}

static enum cg_err map_http_status(json_int_t status)
{
    if (status == 429)
        return CG_ERR_UPSTREAM_RATE_LIMIT;
    if (status == 401 || status == 403)
        return CG_ERR_UPSTREAM_AUTH;
    if (status == 400 || status == 422)
        return CG_ERR_UPSTREAM_BAD_REQUEST;
    if (status == 503)
        return CG_ERR_UPSTREAM_OVERLOADED;
    return CG_ERR_BACKEND_ERROR;
}

/* Without codexErrorInfo (exec's turn.failed, proto's error event) only the message tells:
 * these are the phrases Codex puts in it. */
static enum cg_err map_message(const char *m)
{
    static const struct {
        const char *phrase;
        enum cg_err err;
    } table[] = {
        {"context window", CG_ERR_CONTEXT_LENGTH},
        {"usage limit", CG_ERR_QUOTA_EXCEEDED},
        {"429 Too Many Requests", CG_ERR_UPSTREAM_RATE_LIMIT},
        {"401 Unauthorized", CG_ERR_UPSTREAM_AUTH},
        {"403 Forbidden", CG_ERR_UPSTREAM_AUTH},
        {"503 Service Unavailable", CG_ERR_UPSTREAM_OVERLOADED},
    };
    for (size_t i = 0; m && i < CG_ARRAY_SIZE(table); i++) {
        if (strstr(m, table[i].phrase))
            return table[i].err;
    }
    return CG_ERR_BACKEND_ERROR;
}

void cg_codex_error_map(json_t *turn_error, struct cg_error *out)
{
    const char *message = json_string_value(json_object_get(turn_error, "message"));
    json_t *info = json_object_get(turn_error, "codexErrorInfo");
    enum cg_err code = CG_ERR_BACKEND_ERROR;
    if (json_is_string(info)) {
        code = map_info_string(json_string_value(info));
    } else if (json_is_object(info)) {
        const char *key;
        json_t *v;
        json_object_foreach(info, key, v)
        {
            json_t *st = json_object_get(v, "httpStatusCode");
            if (json_is_integer(st))
                code = map_http_status(json_integer_value(st));
            break;
        }
    } else {
        code = map_message(message);
    }
    const char *param = code == CG_ERR_CONTEXT_LENGTH    ? "messages"
                        : code == CG_ERR_MODEL_NOT_FOUND ? "model"
                                                         : NULL;
    cg_error_set(out, code, param, "%s", message && message[0] ? message : "The Codex turn failed");
}

bool cg_codex_error_is_rate_limit(enum cg_err code)
{
    return code == CG_ERR_UPSTREAM_RATE_LIMIT || code == CG_ERR_QUOTA_EXCEEDED;
}
