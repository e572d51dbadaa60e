/* proc_event.c: what both dialect parsers do first with a line. */
#include "backend/proc_event.h"
#include <string.h>

json_t *cg_proc_event_load(const char *line, size_t len, struct cg_proc_event *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = CG_PROC_NOTHING;
    out->text = (struct cg_str){"", 0};
    cg_error_init(&out->error, CG_OK);
    json_t *doc = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        out->kind = CG_PROC_MALFORMED;
        return NULL;
    }
    out->doc = doc;
    return doc;
}

/* Larger counts than a double holds exactly are no token counts: ignored, like wrong types. */
#define COUNT_MAX ((json_int_t)1 << 53)

bool cg_proc_event_count(const json_t *obj, const char *snake, const char *camel, int64_t *out)
{
    const json_t *v = json_object_get(obj, snake);
    if (v == NULL && camel)
        v = json_object_get(obj, camel);
    if (!json_is_integer(v))
        return false;
    json_int_t n = json_integer_value(v);
    if (n < 0 || n > COUNT_MAX)
        return false;
    *out = (int64_t)n;
    return true;
}

bool cg_proc_event_token_usage(const json_t *obj, struct cg_usage *u)
{
    if (!json_is_object(obj))
        return false;
    bool any = false;
    any |= cg_proc_event_count(obj, "input_tokens", "inputTokens", &u->input);
    any |= cg_proc_event_count(obj, "cached_input_tokens", "cachedInputTokens", &u->cached);
    any |= cg_proc_event_count(obj, "output_tokens", "outputTokens", &u->output);
    any |=
        cg_proc_event_count(obj, "reasoning_output_tokens", "reasoningOutputTokens", &u->reasoning);
    return any;
}
