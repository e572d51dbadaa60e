/* models.c: the model list and single-model lookups, straight from the catalog. */
#include "api/models.h"
#include <string.h>
#include "api/api.h"
#include "http/keys.h"
#include "http/router.h"
#include "util/buf.h"

enum { MODELS_BODY_MAX_BYTES = 64 * 1024 };

/* A key with a models= list sees only those models (http/keys.h). */
static bool allowed(const struct cg_model *m, const void *ctx)
{
    return cg_keys_model_allowed(ctx, m->id);
}

void cg_models_handle(struct cg_exchange *ex, void *ctx)
{
    const struct cg_api *api = ctx;
    struct cg_buf body;
    cg_buf_init(&body, MODELS_BODY_MAX_BYTES);
    struct cg_str tail = cg_router_tail(ex, "/v1/models");
    int err;
    if (tail.len == 0) {
        err = cg_catalog_list_json(api->catalog, ex->key_models ? allowed : NULL, ex->key_models,
                                   &body);
    } else {
        char id[CG_MODEL_ID_MAX_BYTES];
        size_t idlen = 0;
        const struct cg_model *m = NULL;
        if (cg_str_percent_decode(tail, id, sizeof(id), &idlen))
            m = cg_catalog_find(api->catalog, id, idlen);
        if (m != NULL && !cg_keys_model_allowed(ex->key_models, m->id))
            m = NULL; /* not this key's: as if it did not exist, as OpenAI answers */
        if (m == NULL) {
            struct cg_error e;
            cg_error_set(&e, CG_ERR_MODEL_NOT_FOUND, "model",
                         "The model '%.*s' does not exist or you do not have access to it.",
                         (int)CG_MIN(tail.len, 128), tail.ptr);
            cg_exchange_fail(ex, &e);
            cg_buf_dispose(&body);
            return;
        }
        err = cg_catalog_model_json(api->catalog, m, &body);
    }
    if (err)
        cg_exchange_fail_code(ex, CG_ERR_INTERNAL);
    else
        cg_exchange_send_json(ex, body.data, body.len);
    cg_buf_dispose(&body);
}
