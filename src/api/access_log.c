/* access_log.c: the access line of a model request (see access_log.h). */
#include "api/access_log.h"
#include <inttypes.h>
#include <string.h>
#include "http/exchange.h"
#include "util/json.h"
#include "util/log.h"
#define LOG_COMPONENT "api"

enum { FIELD_MAX_BYTES = 64, LINE_MAX_BYTES = CG_EXCHANGE_ACCESS_LINE_MAX_BYTES + 512 };

/* ,"<key>":"<value cut to FIELD_MAX_BYTES>" or ,"<key>":null */
static int field(struct cg_buf *b, const char *key, const char *value)
{
    int err = cg_buf_appendf(b, ",\"%s\":", key);
    if (!err && value == NULL)
        err = cg_buf_append_str(b, "null");
    else if (!err)
        err = cg_json_string(b, value, CG_MIN(strlen(value), (size_t)FIELD_MAX_BYTES));
    return err;
}

/* The exchange's fields when the outcome has its exchange, else the outcome's own few. */
static int request_fields(const struct cg_run_outcome *o, struct cg_buf *b)
{
    if (o->ex)
        return cg_exchange_access_fields(o->ex, b);
    int err = cg_buf_append_str(b, "\"req_id\":");
    if (!err)
        err = cg_json_cstring(b, o->request_id);
    if (!err)
        err = field(b, "route", o->route);
    if (!err)
        err = field(b, "model", o->model);
    if (!err)
        err = field(b, "key", o->key_label);
    if (!err)
        err = cg_buf_appendf(b, ",\"status\":%d,\"ms\":%" PRIu64, o->status, o->latency_ms);
    return err;
}

void cg_access_log_outcome(const struct cg_run_outcome *o, void *data)
{
    (void)data;
    if (!cg_log_enabled(CG_LOG_INFO))
        return;
    struct cg_buf b;
    cg_buf_init(&b, LINE_MAX_BYTES);
    int err = request_fields(o, &b);
    if (!err)
        err = field(&b, "error", o->error == CG_OK ? NULL : cg_err_code(o->error));
    if (!err)
        err = field(&b, "outcome", cg_run_outcome_name(o));
    if (!err && o->ttfb_ms >= 0)
        err = cg_buf_appendf(&b, ",\"ttfb_ms\":%" PRId64, o->ttfb_ms);
    else if (!err)
        err = cg_buf_append_str(&b, ",\"ttfb_ms\":null");
    if (!err && o->worker >= 0)
        err = cg_buf_appendf(&b, ",\"worker\":%d", o->worker);
    else if (!err)
        err = cg_buf_append_str(&b, ",\"worker\":null");
    if (!err)
        err = cg_buf_appendf(&b,
                             ",\"stream\":%s,\"input_tokens\":%" PRId64
                             ",\"cached_tokens\":%" PRId64 ",\"output_tokens\":%" PRId64
                             ",\"reasoning_tokens\":%" PRId64 ",\"total_tokens\":%" PRId64,
                             o->stream ? "true" : "false", o->usage.input, o->usage.cached,
                             o->usage.output, o->usage.reasoning, o->usage.input + o->usage.output);
    if (!err)
        cg_log_event(CG_LOG_INFO, LOG_COMPONENT, "access", b.data);
    cg_buf_dispose(&b);
}
