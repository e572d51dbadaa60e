/* chat.c: the chat-completions family of handlers: check the body's type, parse it into a
 * cg_request, pick the encoder for the shape, and hand both to the turn runner. */
#include "api/chat.h"
#include <string.h>
#include "api/admit.h"
#include "api/api.h"
#include "api/chat_encode.h"
#include "api/chat_parse.h"
#include "api/completions_parse.h"
#include "api/completions_encode.h"
#include "api/params.h"
#include "api/run.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/log.h"
#define LOG_COMPONENT "api"

enum { RESPONSE_ID_BYTES = 48 };

static struct cg_chat_limits limits_of(const struct cg_api *api)
{
    struct cg_chat_limits lim = {
        .catalog = api->catalog,
        .max_choices = (unsigned)api->cfg->max_chat_choices,
        .ignore_system_prompt = api->cfg->ignore_client_system_prompt,
    };
    return lim;
}

/* What differs between the two endpoints of the family. */
struct family {
    enum cg_err (*parse)(const char *body, size_t len, const struct cg_chat_limits *lim,
                         struct cg_request *req, struct cg_chat_opts *opts, struct cg_error *err);
    const char *id_prefix;
    const struct cg_encoder_ops *ops;
    void *(*encoder)(const struct cg_api *api, const struct cg_request *req, const char *id,
                     const struct cg_chat_opts *opts);
};

static void *chat_encoder(const struct cg_api *api, const struct cg_request *req, const char *id,
                          const struct cg_chat_opts *opts)
{
    struct cg_chat_encode_params p = {
        .id = id,
        .created = cg_clock_unix_s(),
        .model = req->model_id,
        .n = req->n,
        .stream = req->stream,
        .include_usage = req->include_usage,
        .expose_reasoning = api->cfg->expose_reasoning,
        .opts = opts,
    };
    return cg_chat_encoder_new(&p);
}

static void *completions_encoder(const struct cg_api *api, const struct cg_request *req,
                                 const char *id, const struct cg_chat_opts *opts)
{
    struct cg_completions_encode_params p = {
        .id = id,
        .created = cg_clock_unix_s(),
        .model = req->model_id,
        .n = req->n,
        .stream = req->stream,
        .include_usage = req->include_usage,
        .opts = opts,
    };
    return cg_completions_encoder_new(&p);
}

static const struct family chat_family = {cg_chat_parse, "chatcmpl-", &cg_chat_encoder_ops,
                                          chat_encoder};
static const struct family completions_family = {cg_completions_parse, "cmpl-",
                                                 &cg_completions_encoder_ops, completions_encoder};

static void handle(struct cg_exchange *ex, struct cg_api *api, const struct family *f)
{
    if (!cg_admit_model_request(ex, api))
        return;
    struct cg_chat_limits lim = limits_of(api);
    struct cg_request req;
    struct cg_chat_opts *opts = cg_arena_calloc(&ex->arena, sizeof(*opts));
    struct cg_error err;
    enum cg_err parsed = f->parse(ex->body.data, ex->body.len, &lim, &req, opts, &err);
    cg_exchange_drop_body(ex); /* the request holds copies of all it needs */
    if (parsed != CG_OK) {
        cg_exchange_fail(ex, &err);
        return;
    }
    if (!cg_admit_model_allowed(ex, req.model_id)) {
        cg_request_dispose(&req);
        return;
    }
    char id[RESPONSE_ID_BYTES];
    cg_ids_make(id, sizeof(id), f->id_prefix, 29);
    ex->model = cg_arena_strdup(&ex->arena, req.model_id);
    /* The encoder keeps pointers to the id, the model and opts: the exchange's arena and the
     * request both live as long as the run. */
    void *enc = f->encoder(api, &req, cg_arena_strdup(&ex->arena, id), opts);
    struct cg_run_spec spec = {
        .api = api,
        .ex = ex,
        .req = req,
        .enc_ops = f->ops,
        .enc = enc,
        .keepalive = cg_admit_keepalive_wanted(ex),
    };
    cg_run_start(&spec);
}

void cg_chat_handle(struct cg_exchange *ex, void *ctx)
{
    handle(ex, ctx, &chat_family);
}

void cg_completions_handle(struct cg_exchange *ex, void *ctx)
{
    handle(ex, ctx, &completions_family);
}
