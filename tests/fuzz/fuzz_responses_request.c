/* fuzz_responses_request.c: request bodies → the Responses parser (validation, item replay,
 * tool translation), as the handler calls it. The first byte's bits pick the context: ignore
 * client system prompts, a store that resolves every item_reference, a stored chain before
 * the input. Aborts where a result breaks a rule the handler relies on. The echo goes through
 * the encoder, which writes most of it by hand: the body must be JSON that echoes each scalar
 * as it was sent. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api/responses_encode.h"
#include "api/responses_parse.h"
#include "core/limits.h"
#include "request_checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *lookup_any(void *ctx, const char *id)
{
    (void)ctx;
    if (id[0] == '\0')
        return NULL;
    return json_pack("{s:s,s:s,s:s}", "type", "message", "role", "assistant", "content", id);
}

static void check_echo(const json_t *echo)
{
    struct cg_responses_encode_params p = {.id = "resp_FUZZ", .model = "m", .echo = echo};
    void *enc = cg_responses_encoder_new(&p);
    struct cg_buf out;
    cg_buf_init(&out, CG_RESPONSE_OUT_MAX_BYTES);
    if (cg_responses_encoder_ops.body(enc, &out) != 0)
        abort();
    json_t *body = json_loadb(out.data, out.len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(body))
        abort();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)echo, key, v)
    {
        bool scalar = json_is_string(v) || json_is_integer(v) || json_is_boolean(v);
        if (scalar && strcmp(key, "service_tier") != 0 &&
            !json_equal(v, json_object_get(body, key)))
            abort();
    }
    json_decref(body);
    cg_buf_dispose(&out);
    cg_responses_encoder_ops.free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    json_t *prior = (data[0] & 4)
                        ? json_pack("[{s:s,s:s},{s:s,s:s,s:s,s:s}]", "role", "user", "content",
                                    "before", "type", "function_call", "call_id", "call_prior",
                                    "name", "f", "arguments", "{}")
                        : NULL;
    struct cg_responses_context cx = {
        .catalog = fuzz_catalog(),
        .ignore_system_prompt = data[0] & 1,
        .lookup = (data[0] & 2) ? lookup_any : NULL,
        .prior_items = prior,
    };
    struct cg_request req;
    struct cg_responses_opts opts;
    struct cg_error err;
    /* The handler reads the store references first, from the same loaded body. */
    json_t *root = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    if (json_is_object(root)) {
        struct cg_responses_refs refs;
        cg_responses_refs(root, &refs);
        if (refs.count > CG_RESPONSE_REFS_MAX ||
            (refs.too_many && refs.count != CG_RESPONSE_REFS_MAX))
            abort();
        for (size_t i = 0; i < refs.count; i++) {
            if (refs.ids[i] == NULL)
                abort();
        }
    }
    json_decref(root);
    enum cg_err e = cg_responses_parse((const char *)data + 1, size - 1, &cx, &req, &opts, &err);
    json_decref(prior);
    fuzz_check_failure(e, &err);
    if (e != CG_OK)
        return 0;
    if (!json_is_array(req.history) || !json_is_array(req.input) || opts.reasoning == NULL ||
        opts.parallel_tool_calls_json == NULL || opts.store != json_is_array(opts.input_items))
        abort();
    json_t *echo = cg_responses_echo(&opts);
    if (!json_is_object(echo))
        abort();
    check_echo(echo);
    json_decref(echo);
    fuzz_check_tools(&req);
    cg_request_dispose(&req);
    cg_responses_opts_dispose(&opts);
    return 0;
}
