/* params.h: typed getters for the members of a JSON request body, shared by every endpoint
 * parser so that their 400s read alike. Each getter reads one optional member: absent or null
 * leaves *out as it was and returns CG_OK; a member of the wrong type or out of range fills
 * `err` (its `param` names the member) and returns the error's code. */
#ifndef CG_API_PARAMS_H
#define CG_API_PARAMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "core/catalog.h"
#include "core/errors.h"
#include "core/request.h"
#include "util/buf.h"

/* Fills `err` (param may be NULL) and returns `code`. */
enum cg_err cg_params_fail(struct cg_error *err, enum cg_err code, const char *param,
                           const char *fmt, ...) CG_PRINTF(4, 5);
/* "Invalid type for '<param>': expected <want>, but got <type of got> instead." */
enum cg_err cg_params_bad_type(struct cg_error *err, const char *param, const char *want,
                               const json_t *got);

/* Present: neither absent nor JSON null. */
bool cg_params_present(const json_t *v);

enum cg_err cg_params_number(struct cg_error *err, const json_t *obj, const char *key, double lo,
                             double hi, double *out) CG_MUST_CHECK;
/* An integer of at least `lo`. */
enum cg_err cg_params_int(struct cg_error *err, const json_t *obj, const char *key, json_int_t lo,
                          json_int_t *out) CG_MUST_CHECK;
enum cg_err cg_params_bool(struct cg_error *err, const json_t *obj, const char *key,
                           bool *out) CG_MUST_CHECK;
/* *out borrows the string from `obj`. */
enum cg_err cg_params_string(struct cg_error *err, const json_t *obj, const char *key,
                             const char **out) CG_MUST_CHECK;
enum cg_err cg_params_object(struct cg_error *err, const json_t *obj, const char *key,
                             json_t **out) CG_MUST_CHECK;
enum cg_err cg_params_array(struct cg_error *err, const json_t *obj, const char *key,
                            json_t **out) CG_MUST_CHECK;
/* A string that is one of `names`; *out is its index. */
enum cg_err cg_params_enum(struct cg_error *err, const json_t *obj, const char *key,
                           const char *const *names, size_t count, size_t *out) CG_MUST_CHECK;
/* A parameter the gateway cannot honour: present means `code` with `message`. */
enum cg_err cg_params_reject(struct cg_error *err, const json_t *obj, const char *key,
                             enum cg_err code, const char *message) CG_MUST_CHECK;

/* Parameters Codex cannot carry, accepted (after a type and range check) and ignored. */
enum cg_params_kind {
    CG_PARAMS_NUMBER,
    CG_PARAMS_INT,
    CG_PARAMS_BOOL,
    CG_PARAMS_STRING,
    CG_PARAMS_OBJECT,
};
struct cg_params_ignored {
    const char *key;
    enum cg_params_kind kind;
    double lo; /* numbers: range; integers: lo is the least value */
    double hi;
};
enum cg_err cg_params_ignore(struct cg_error *err, const json_t *obj,
                             const struct cg_params_ignored *list, size_t count) CG_MUST_CHECK;

/* The body as a JSON object (new reference), or NULL with `err` filled. */
json_t *cg_params_load(const char *body, size_t len, struct cg_error *err);

/* `model` (required): sets req->model, req->model_id and the model's default effort. */
enum cg_err cg_params_model(struct cg_error *err, const json_t *obj,
                            const struct cg_catalog *catalog, struct cg_request *req) CG_MUST_CHECK;
/* A reasoning effort value (`v` may be absent) named `param`: sets req->effort. */
enum cg_err cg_params_effort(struct cg_error *err, const json_t *v, const char *param,
                             struct cg_request *req) CG_MUST_CHECK;

/* A structured-output format of `type` (named `type_param`): "text"; "json_object", a
 * developer instruction appended to `developer`; or "json_schema", whose {name, schema} object
 * `js` (named `js_param`) sets req->output_schema. */
enum cg_err cg_params_output_format(struct cg_error *err, const char *type, const char *type_param,
                                    const json_t *js, const char *js_param,
                                    struct cg_buf *developer, struct cg_request *req) CG_MUST_CHECK;

/* Does the Content-Type header value denote JSON (or is it absent)? */
bool cg_params_json_content_type(const char *value, size_t len);

#endif
