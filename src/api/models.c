/* models.c: the model list and single-model lookups, straight from the catalog. */
#include "api/models.h"
#include <string.h>
#include "api/api.h"
#include "http/router.h"
#include "util/buf.h"

enum { MODELS_BODY_MAX_BYTES = 64 * 1024 };

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes a path segment into out[size]; false when malformed or too long. */
static bool decode_segment(struct cg_str in, char *out, size_t size, size_t *outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c == '%') {
            if (i + 2 >= in.len)
                return false;
            int hi = hex_value(in.ptr[i + 1]);
            int lo = hex_value(in.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n + 1 >= size || c == '\0')
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    *outlen = n;
    return true;
}

void cg_models_handle(struct cg_exchange *ex, void *ctx)
{
    const struct cg_api *api = ctx;
    struct cg_buf body;
    cg_buf_init(&body, MODELS_BODY_MAX_BYTES);
    struct cg_str tail = cg_router_tail(ex, "/v1/models");
    int err;
    if (tail.len == 0) {
        err = cg_catalog_list_json(api->catalog, &body);
    } else {
        char id[CG_MODEL_ID_MAX_BYTES];
        size_t idlen = 0;
        const struct cg_model *m = NULL;
        if (decode_segment(tail, id, sizeof(id), &idlen))
            m = cg_catalog_find(api->catalog, id, idlen);
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
