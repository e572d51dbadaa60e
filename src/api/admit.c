/* admit.c: the checks model requests share (see admit.h). */
#include "api/admit.h"
#include "api/params.h"
#include "http/keys.h"
#include "api/quota.h"

bool cg_admit_model_request(struct cg_exchange *ex, const struct cg_api *api)
{
    struct cg_str ct = cg_exchange_header(ex, "content-type");
    if (!cg_params_json_content_type(ct.ptr, ct.len)) {
        cg_exchange_fail_code(ex, CG_ERR_UNSUPPORTED_MEDIA);
        return false;
    }
    if (api->backend.pool == NULL && api->backend.procs == NULL) {
        struct cg_error err;
        cg_error_set(&err, CG_ERR_BACKEND_UNAVAILABLE, NULL, "No Codex backend is configured.");
        cg_exchange_fail(ex, &err);
        return false;
    }
    struct cg_error quota;
    if (cg_quota_exhausted(api, &quota)) {
        cg_quota_add_headers(api, ex);
        cg_exchange_fail(ex, &quota);
        return false;
    }
    return true;
}

bool cg_admit_model_allowed(struct cg_exchange *ex, const char *model)
{
    if (cg_keys_model_allowed(ex->key_models, model))
        return true;
    struct cg_error err;
    cg_error_set(&err, CG_ERR_MODEL_NOT_FOUND, "model",
                 "The model '%.100s' does not exist or you do not have access to it.", model);
    cg_exchange_fail(ex, &err);
    return false;
}

bool cg_admit_keepalive_wanted(const struct cg_exchange *ex)
{
    struct cg_str v = cg_exchange_header(ex, "x-no-keepalive");
    return v.ptr == NULL || !(cg_str_eq(v, CG_STR("1")) || cg_str_ieq(v, CG_STR("true")));
}
