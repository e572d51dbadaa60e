/* params.c: typed, range-checked reads of request body members with OpenAI-worded errors. */
#include "api/params.h"
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "util/alloc.h"
#include "util/line_scan.h"
#include "util/str.h"

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

enum cg_err cg_params_fail(struct cg_error *err, enum cg_err code, const char *param,
                           const char *fmt, ...)
{
    cg_error_init(err, code);
    if (param)
        snprintf(err->param, sizeof(err->param), "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

enum cg_err cg_params_bad_type(struct cg_error *err, const char *param, const char *want,
                               const json_t *got)
{
    return cg_params_fail(err, CG_ERR_INVALID_REQUEST, param,
                          "Invalid type for '%s': expected %s, but got %s instead.", param, want,
                          type_name(got));
}

bool cg_params_present(const json_t *v)
{
    return v != NULL && !json_is_null(v);
}

enum cg_err cg_params_number(struct cg_error *err, const json_t *obj, const char *key, double lo,
                             double hi, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!cg_params_present(v))
        return CG_OK;
    if (!json_is_number(v))
        return cg_params_bad_type(err, key, "a number", v);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return cg_params_fail(err, CG_ERR_INVALID_REQUEST, key,
                              "Invalid value for '%s': expected a number from %g to %g, got %g.",
                              key, lo, hi, d);
    if (out)
        *out = d;
    return CG_OK;
}

enum cg_err cg_params_int(struct cg_error *err, const json_t *obj, const char *key, json_int_t lo,
                          json_int_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!cg_params_present(v))
        return CG_OK;
    if (!json_is_integer(v))
        return cg_params_bad_type(err, key, "an integer", v);
    if (json_integer_value(v) < lo)
        return cg_params_fail(err, CG_ERR_INVALID_REQUEST, key,
                              "Invalid value for '%s': expected an integer of at least %lld.", key,
                              (long long)lo);
    if (out)
        *out = json_integer_value(v);
    return CG_OK;
}

enum cg_err cg_params_bool(struct cg_error *err, const json_t *obj, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (!cg_params_present(v))
        return CG_OK;
    if (!json_is_boolean(v))
        return cg_params_bad_type(err, key, "a boolean", v);
    if (out)
        *out = json_is_true(v);
    return CG_OK;
}

enum cg_err cg_params_string(struct cg_error *err, const json_t *obj, const char *key,
                             const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!cg_params_present(v))
        return CG_OK;
    if (!json_is_string(v))
        return cg_params_bad_type(err, key, "a string", v);
    if (out)
        *out = json_string_value(v);
    return CG_OK;
}

static enum cg_err get_typed(struct cg_error *err, const json_t *obj, const char *key,
                             json_type type, const char *want, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    if (!cg_params_present(v))
        return CG_OK;
    if (json_typeof(v) != type)
        return cg_params_bad_type(err, key, want, v);
    if (out)
        *out = v;
    return CG_OK;
}

enum cg_err cg_params_object(struct cg_error *err, const json_t *obj, const char *key, json_t **out)
{
    return get_typed(err, obj, key, JSON_OBJECT, "an object", out);
}

enum cg_err cg_params_array(struct cg_error *err, const json_t *obj, const char *key, json_t **out)
{
    return get_typed(err, obj, key, JSON_ARRAY, "an array", out);
}

enum cg_err cg_params_enum(struct cg_error *err, const json_t *obj, const char *key,
                           const char *const *names, size_t count, size_t *out)
{
    const char *s = NULL;
    enum cg_err e = cg_params_string(err, obj, key, &s);
    if (e || s == NULL)
        return e;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(s, names[i]) == 0) {
            if (out)
                *out = i;
            return CG_OK;
        }
    }
    char list[CG_ERROR_MESSAGE_BYTES / 2] = "";
    size_t used = 0;
    for (size_t i = 0; i < count && used < sizeof(list); i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return cg_params_fail(err, CG_ERR_UNSUPPORTED_VALUE, key,
                          "Invalid value for '%s': '%.40s' is not one of %s.", key, s, list);
}

enum cg_err cg_params_reject(struct cg_error *err, const json_t *obj, const char *key,
                             enum cg_err code, const char *message)
{
    if (!cg_params_present(json_object_get(obj, key)))
        return CG_OK;
    return cg_params_fail(err, code, key, "%s", message);
}

enum cg_err cg_params_ignore(struct cg_error *err, const json_t *obj,
                             const struct cg_params_ignored *list, size_t count)
{
    /* A body names few of the listed members: find those it has (one pass over its keys),
     * then check them in the list's order, as checking each listed name would. */
    assert(count <= 64);
    uint64_t present = 0;
    const char *key = NULL;
    json_t *value = NULL;
    json_object_foreach((json_t *)obj, key, value)
    {
        for (size_t i = 0; i < count; i++) {
            if (strcmp(list[i].key, key) == 0) {
                present |= 1ull << i;
                break;
            }
        }
    }
    enum cg_err e = CG_OK;
    for (size_t i = 0; i < count && !e; i++) {
        if ((present & (1ull << i)) == 0)
            continue;
        const struct cg_params_ignored *p = &list[i];
        switch (p->kind) {
        case CG_PARAMS_NUMBER:
            e = cg_params_number(err, obj, p->key, p->lo, p->hi, NULL);
            break;
        case CG_PARAMS_INT:
            e = cg_params_int(err, obj, p->key,
                              p->lo <= (double)INT64_MIN ? INT64_MIN : (json_int_t)p->lo, NULL);
            break;
        case CG_PARAMS_BOOL:
            e = cg_params_bool(err, obj, p->key, NULL);
            break;
        case CG_PARAMS_STRING:
            e = cg_params_string(err, obj, p->key, NULL);
            break;
        case CG_PARAMS_OBJECT:
            e = cg_params_object(err, obj, p->key, NULL);
            break;
        }
    }
    return e;
}

json_t *cg_params_load(const char *body, size_t len, struct cg_error *err)
{
    /* The fast reader builds what jansson would for the usual bodies; whatever it declines,
     * jansson reads (and words the error). */
    json_t *root = cg_line_scan_load(body, len, false);
    if (root != NULL)
        return root;
    json_error_t jerr;
    root = json_loadb(body, len, 0, &jerr);
    if (root == NULL) {
        cg_params_fail(err, CG_ERR_INVALID_JSON, NULL,
                       "We could not parse the JSON body of your request: %s (line %d, column "
                       "%d).",
                       jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        cg_params_fail(err, CG_ERR_INVALID_REQUEST, NULL,
                       "The request body must be a JSON object.");
        json_decref(root);
        return NULL;
    }
    return root;
}

enum cg_err cg_params_model(struct cg_error *err, const json_t *obj,
                            const struct cg_catalog *catalog, struct cg_request *req)
{
    json_t *v = json_object_get(obj, "model");
    if (!cg_params_present(v))
        return cg_params_fail(err, CG_ERR_INVALID_REQUEST, "model",
                              "You must provide a model parameter.");
    if (!json_is_string(v))
        return cg_params_bad_type(err, "model", "a string", v);
    const char *id = json_string_value(v);
    size_t len = json_string_length(v);
    const struct cg_model *m = cg_catalog_find(catalog, id, len);
    if (m == NULL)
        return cg_params_fail(err, CG_ERR_MODEL_NOT_FOUND, "model",
                              "The model '%.100s' does not exist or you do not have access to it.",
                              id);
    req->model = m;
    req->model_id = cg_xstrndup(id, len);
    req->effort = m->effort;
    return CG_OK;
}

enum cg_err cg_params_effort(struct cg_error *err, const json_t *v, const char *param,
                             struct cg_request *req)
{
    if (!cg_params_present(v))
        return CG_OK;
    if (!json_is_string(v))
        return cg_params_bad_type(err, param, "a string", v);
    const char *e = json_string_value(v);
    for (size_t i = 0; i < cg_catalog_effort_count; i++) {
        if (strcmp(e, cg_catalog_efforts[i]) == 0) {
            req->effort = cg_catalog_efforts[i];
            return CG_OK;
        }
    }
    return cg_params_fail(err, CG_ERR_UNSUPPORTED_VALUE, param,
                          "Invalid value for '%s': '%.40s' is not one of low, medium, high, "
                          "xhigh.",
                          param, e);
}

enum cg_err cg_params_output_format(struct cg_error *err, const char *type, const char *type_param,
                                    const json_t *js, const char *js_param,
                                    struct cg_buf *developer, struct cg_request *req)
{
    char param[CG_ERROR_PARAM_BYTES];
    if (strcmp(type, "text") == 0)
        return CG_OK;
    if (strcmp(type, "json_object") == 0) {
        int e =
            cg_buf_append_str(developer, "Respond with one valid JSON object and nothing else: no "
                                         "prose, no code fences.\n");
        (void)e; /* a fixed sentence into a buffer capped far above it */
        return CG_OK;
    }
    if (strcmp(type, "json_schema") != 0)
        return cg_params_fail(err, CG_ERR_UNSUPPORTED_VALUE, type_param,
                              "Invalid value for '%s': expected text, json_object or "
                              "json_schema.",
                              type_param);
    snprintf(param, sizeof(param), "%s.name", js_param);
    if (!json_is_string(json_object_get(js, "name")))
        return cg_params_fail(err, CG_ERR_INVALID_REQUEST, param, "%s needs a 'name' string.",
                              js_param);
    json_t *schema = json_object_get(js, "schema");
    snprintf(param, sizeof(param), "%s.schema", js_param);
    if (!json_is_object(schema))
        return cg_params_fail(err, CG_ERR_INVALID_REQUEST, param, "%s needs a 'schema' object.",
                              js_param);
    json_decref(req->output_schema);
    req->output_schema = json_deep_copy(schema);
    return CG_OK;
}

bool cg_params_json_content_type(const char *value, size_t len)
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
    return mime.len > 5 &&
           cg_str_ieq((struct cg_str){mime.ptr + mime.len - 5, 5}, CG_STR("+json")) &&
           mime.len > 12 && cg_str_ieq((struct cg_str){mime.ptr, 12}, CG_STR("application/"));
}
