/* errors.c: lookups into the error table and its JSON form. */
#include "core/errors.h"
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "util/json.h"

struct err_row {
    const char *name;
    int status;
    const char *type;
    const char *code;
    const char *message;
};

static const struct err_row rows[] = {
#define CG_ERR_ROW(name, status, type, code, msg) {#name, status, type, code, msg},
    CG_ERR_MAP(CG_ERR_ROW)
#undef CG_ERR_ROW
};

_Static_assert(CG_ARRAY_SIZE(rows) == CG_ERR__COUNT, "one row per error");

static const struct err_row *row(enum cg_err e)
{
    assert((unsigned)e < CG_ERR__COUNT);
    return &rows[e];
}

int cg_err_status(enum cg_err e)
{
    return row(e)->status;
}

const char *cg_err_type(enum cg_err e)
{
    return row(e)->type;
}

const char *cg_err_code(enum cg_err e)
{
    return row(e)->code;
}

const char *cg_err_message(enum cg_err e)
{
    return row(e)->message;
}

const char *cg_err_name(enum cg_err e)
{
    return row(e)->name;
}

void cg_error_init(struct cg_error *err, enum cg_err code)
{
    err->code = code;
    err->retry_after_s = 0;
    err->param[0] = '\0';
    err->message[0] = '\0';
}

void cg_error_set(struct cg_error *err, enum cg_err code, const char *param, const char *fmt, ...)
{
    cg_error_init(err, code);
    if (param)
        snprintf(err->param, sizeof(err->param), "%s", param);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
}

const char *cg_error_message(const struct cg_error *err)
{
    return err->message[0] ? err->message : cg_err_message(err->code);
}

int cg_error_to_json(const struct cg_error *err, struct cg_buf *out)
{
    const char *type = cg_err_type(err->code);
    int rc = cg_buf_append_str(out, "{\"error\":{\"message\":");
    if (!rc)
        rc = cg_json_cstring(out, cg_error_message(err));
    if (!rc)
        rc = cg_buf_append_str(out, ",\"type\":");
    if (!rc)
        rc = cg_json_cstring(out, type ? type : "server_error");
    if (!rc)
        rc = cg_buf_append_str(out, ",\"param\":");
    if (!rc)
        rc = cg_json_cstring(out, err->param[0] ? err->param : NULL);
    if (!rc)
        rc = cg_buf_append_str(out, ",\"code\":");
    if (!rc)
        rc = cg_json_cstring(out, cg_err_code(err->code));
    if (!rc)
        rc = cg_buf_append_str(out, "}}");
    return rc;
}
