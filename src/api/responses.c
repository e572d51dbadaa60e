/* responses.c: the Responses API handlers. POST /v1/responses loads the body, asks the store for
 * what it refers to (the previous_response_id chain, item references), parses it into a
 * cg_request and runs it on the shared turn runner; a stored response is written before its
 * last bytes go out. GET and DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items
 * read the store. Every store job holds the exchange until its callback. */
#include "api/responses.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/admit.h"
#include "api/params.h"
#include "api/responses_encode.h"
#include "api/responses_parse.h"
#include "api/run.h"
#include "http/router.h"
#include "store/responses_store.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/log.h"
#define LOG_COMPONENT "responses"

enum { RESPONSE_ID_BYTES = 64, INPUT_ITEMS_LIMIT_DEFAULT = 20, INPUT_ITEMS_LIMIT_MAX = 100 };

/* Stored responses belong to the key's stable id, not its place in PROXY_API_KEY. */
static const char *key_of(const struct cg_exchange *ex)
{
    return ex->key_id ? ex->key_id : "";
}

/* A store job's view of its exchange: held until the callback, which answers only a client
 * that is still there. */
struct pending {
    struct cg_exchange *ex;
    struct cg_api *api;
    json_t *root; /* create: the loaded body */
    char id[RESPONSE_ID_BYTES];
    bool show_encrypted; /* get: include=reasoning.encrypted_content */
};

static struct pending *pending_new(struct cg_exchange *ex, struct cg_api *api)
{
    struct pending *p = cg_xcalloc(1, sizeof(*p));
    p->ex = ex;
    p->api = api;
    cg_exchange_hold(ex);
    return p;
}

static void pending_free(struct pending *p)
{
    json_decref(p->root);
    cg_exchange_release(p->ex);
    free(p);
}

/* The store's failure as the client sees it. */
static void fail_store(struct cg_exchange *ex, enum cg_err code, const char *id)
{
    struct cg_error err;
    if (code == CG_ERR_RESPONSE_NOT_FOUND)
        cg_error_set(&err, code, NULL, "Response with id '%.80s' not found.", id);
    else if (code == CG_ERR_PREVIOUS_RESPONSE_NOT_FOUND)
        cg_error_set(&err, code, "previous_response_id",
                     "Previous response with id '%.80s' not found.", id);
    else
        cg_error_set(&err, code, code == CG_ERR_STORE_FAILED ? NULL : "previous_response_id", NULL);
    cg_exchange_fail(ex, &err);
}

/* ---- POST /v1/responses --------------------------------------------------------------- */

/* What a stored response's seal needs: written to the store, then the run answers. */
struct seal {
    struct cg_run *run;
    struct cg_responses_store *store;
    char *key;
    char *id;
    char *previous_id;
    json_t *input_items;
};

static void seal_free(void *data)
{
    struct seal *s = data;
    json_decref(s->input_items);
    free(s->key);
    free(s->id);
    free(s->previous_id);
    free(s);
}

static void on_stored(const struct cg_store_result *res, void *data)
{
    struct seal *s = data;
    if (res->code == CG_OK) {
        cg_run_sealed(s->run, NULL);
    } else {
        struct cg_error err;
        cg_error_init(&err, CG_ERR_STORE_FAILED);
        cg_run_sealed(s->run, &err);
    }
    seal_free(s);
}

static void on_seal(struct cg_run *run, void *enc, void *data)
{
    struct seal *s = data;
    s->run = run;
    struct cg_buf out;
    cg_buf_init(&out, CG_RESPONSE_OUT_MAX_BYTES);
    json_t *response = NULL;
    json_error_t jerr;
    /* Model text may hold U+0000: the encoder escapes it, the parse must allow it. */
    if (cg_responses_encoder_response(enc, &out) == 0)
        response = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &jerr);
    else
        snprintf(jerr.text, sizeof(jerr.text), "the response is too large");
    cg_buf_dispose(&out);
    if (response == NULL) {
        cg_log_error("response %s: not stored: %s", s->id, jerr.text);
        struct cg_store_result res = {.code = CG_ERR_STORE_FAILED};
        on_stored(&res, s);
        return;
    }
    json_t *items = s->input_items;
    s->input_items = NULL; /* the store's now */
    cg_responses_store_put(s->store, s->key, s->id, s->previous_id, response, items, on_stored, s);
}

/* Input items get ids where the client sent none, so input_items can page by them. */
static void number_items(json_t *items, const char *response_id)
{
    const char *suffix = strncmp(response_id, "resp_", 5) == 0 ? response_id + 5 : response_id;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        if (json_is_string(json_object_get(item, "id")))
            continue;
        const char *type = json_string_value(json_object_get(item, "type"));
        const char *prefix = "item";
        if (type && strcmp(type, "message") == 0)
            prefix = "msg";
        else if (type && strcmp(type, "function_call") == 0)
            prefix = "fc";
        else if (type && strcmp(type, "function_call_output") == 0)
            prefix = "fco";
        else if (type && strcmp(type, "reasoning") == 0)
            prefix = "rs";
        char id[RESPONSE_ID_BYTES + 32];
        snprintf(id, sizeof(id), "%s_%.60si%zu", prefix, suffix, i);
        json_object_set_new(item, "id", json_string(id));
    }
}

/* Item references resolved from the store's answer ({"<id>": item}). */
static json_t *lookup_item(void *ctx, const char *id)
{
    json_t *item = json_object_get(ctx, id);
    return item ? json_incref(item) : NULL;
}

static void create(struct cg_exchange *ex, struct cg_api *api, const json_t *root,
                   const json_t *resolved)
{
    struct cg_responses_context cx = {
        .catalog = api->catalog,
        .ignore_system_prompt = api->cfg->ignore_client_system_prompt,
        .lookup = lookup_item,
        .lookup_ctx = json_object_get(resolved, "items"),
    };
    const json_t *chain = json_object_get(resolved, "chain");
    cx.prior_items = json_is_array(chain) ? chain : NULL;
    struct cg_request req;
    struct cg_responses_opts opts;
    struct cg_error err;
    if (cg_responses_parse_root(root, &cx, &req, &opts, &err) != CG_OK) {
        cg_exchange_fail(ex, &err);
        return;
    }
    if (!cg_admit_model_allowed(ex, req.model_id)) {
        cg_request_dispose(&req);
        cg_responses_opts_dispose(&opts);
        return;
    }
    char id[RESPONSE_ID_BYTES];
    cg_ids_make(id, sizeof(id), "resp_", 40);
    json_t *echo = cg_responses_echo(&opts);
    struct cg_responses_encode_params p = {
        .id = cg_arena_strdup(&ex->arena, id),
        .created_at = cg_clock_unix_s(),
        .model = cg_arena_strdup(&ex->arena, req.model_id),
        .stream = req.stream,
        .echo = echo,
        .include_encrypted_reasoning = opts.include_encrypted_reasoning,
        .single_call = !opts.parallel_tool_calls,
        .now_s = cg_clock_unix_s,
    };
    void *enc = cg_responses_encoder_new(&p);
    json_decref(echo);
    ex->model = p.model;
    struct cg_run_spec spec = {
        .api = api,
        .ex = ex,
        .req = req,
        .enc_ops = &cg_responses_encoder_ops,
        .enc = enc,
        .keepalive = cg_admit_keepalive_wanted(ex),
    };
    if (opts.store && api->store) {
        struct seal *s = cg_xcalloc(1, sizeof(*s));
        s->store = api->store;
        s->key = cg_xstrdup(key_of(ex));
        s->id = cg_xstrdup(id);
        s->previous_id = opts.previous_response_id ? cg_xstrdup(opts.previous_response_id) : NULL;
        number_items(opts.input_items, id);
        s->input_items = json_incref(opts.input_items);
        spec.seal = on_seal;
        spec.seal_data = s;
        spec.seal_dispose = seal_free;
    }
    cg_responses_opts_dispose(&opts);
    cg_run_start(&spec);
}

static void on_resolved(const struct cg_store_result *res, void *data)
{
    struct pending *p = data;
    if (cg_exchange_is_gone(p->ex)) {
        /* nobody to answer */
    } else if (res->code != CG_OK) {
        fail_store(p->ex, res->code, p->id);
    } else {
        create(p->ex, p->api, p->root, res->value);
    }
    pending_free(p);
}

void cg_responses_handle_create(struct cg_exchange *ex, void *ctx)
{
    struct cg_api *api = ctx;
    if (!cg_admit_model_request(ex, api))
        return;
    struct cg_error err;
    json_t *root = cg_params_load(ex->body.data, ex->body.len, &err);
    cg_exchange_drop_body(ex); /* the loaded body holds all it needs */
    if (root == NULL) {
        cg_exchange_fail(ex, &err);
        return;
    }
    struct cg_responses_refs refs;
    cg_responses_refs(root, &refs);
    if (refs.too_many) {
        cg_error_set(&err, CG_ERR_INVALID_REQUEST, "input",
                     "At most %d item references are allowed in one request.",
                     CG_RESPONSE_REFS_MAX);
        cg_exchange_fail(ex, &err);
    } else if (refs.previous_id && api->store == NULL) {
        fail_store(ex, CG_ERR_PREVIOUS_RESPONSE_NOT_FOUND, refs.previous_id);
    } else if ((refs.previous_id || refs.count) && api->store) {
        struct pending *p = pending_new(ex, api);
        p->root = json_incref(root);
        snprintf(p->id, sizeof(p->id), "%s", refs.previous_id ? refs.previous_id : "");
        cg_responses_store_resolve(api->store, key_of(ex), refs.previous_id, refs.ids, refs.count,
                                   on_resolved, p);
    } else {
        create(ex, api, root, NULL);
    }
    json_decref(root);
}

/* ---- GET / DELETE /v1/responses/{id}[/input_items] ------------------------------------ */

/* Answers a read or delete job with `value` (borrowed) and lets the exchange go. */
static void answer(struct pending *p, const struct cg_store_result *res, const json_t *value)
{
    if (cg_exchange_is_gone(p->ex)) {
        /* nobody to answer */
    } else if (res->code != CG_OK) {
        fail_store(p->ex, res->code, p->id);
    } else {
        struct cg_buf out;
        cg_buf_init(&out, CG_RESPONSE_OUT_MAX_BYTES);
        if (value && cg_json_dump(&out, value) == 0)
            cg_exchange_send_json(p->ex, out.data, out.len);
        else
            cg_exchange_fail_code(p->ex, CG_ERR_INTERNAL);
        cg_buf_dispose(&out);
    }
    pending_free(p);
}

static void on_found(const struct cg_store_result *res, void *data)
{
    answer(data, res, res->value);
}

/* A stored response keeps its reasoning's encrypted_content; a reader sees it when it asks. */
static void on_got(const struct cg_store_result *res, void *data)
{
    struct pending *p = data;
    json_t *shown = NULL;
    const json_t *output = json_object_get(res->value, "output");
    if (res->code == CG_OK && !p->show_encrypted && json_is_array(output)) {
        shown = json_copy(res->value);
        json_t *items = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(output, i, item)
        {
            json_t *copy = json_copy(item);
            json_object_del(copy, "encrypted_content");
            json_array_append_new(items, copy);
        }
        json_object_set_new(shown, "output", items);
    }
    answer(p, res, shown ? shown : res->value);
    json_decref(shown);
}

/* Whether the query holds include=reasoning.encrypted_content (or include[]=...). */
static bool wants_encrypted(const struct cg_exchange *ex)
{
    struct cg_str rest = ex->query;
    while (rest.len > 0) {
        struct cg_str pair = cg_str_split(&rest, '&');
        char key[32];
        char value[64];
        size_t klen = 0;
        size_t vlen = 0;
        struct cg_str k = cg_str_split(&pair, '=');
        if (!cg_str_percent_decode(k, key, sizeof(key), &klen) ||
            !cg_str_percent_decode(pair, value, sizeof(value), &vlen))
            continue;
        if ((strcmp(key, "include") == 0 || strcmp(key, "include[]") == 0) &&
            strcmp(value, "reasoning.encrypted_content") == 0)
            return true;
    }
    return false;
}

static void on_deleted(const struct cg_store_result *res, void *data)
{
    struct pending *p = data;
    json_t *body =
        json_pack("{s:s,s:s,s:b}", "id", p->id, "object", "response.deleted", "deleted", 1);
    answer(p, res, body);
    json_decref(body);
}

/* The query of input_items: after, limit (1..100, default 20), order (asc | desc). include is
 * accepted: items are stored whole. */
static bool parse_page(struct cg_exchange *ex, struct cg_store_page *page, char *after,
                       size_t after_size)
{
    page->after = NULL;
    page->limit = INPUT_ITEMS_LIMIT_DEFAULT;
    page->ascending = false;
    struct cg_str rest = ex->query;
    struct cg_error err;
    while (rest.len > 0) {
        struct cg_str pair = cg_str_split(&rest, '&');
        struct cg_str key = cg_str_split(&pair, '=');
        char value[256];
        size_t vlen = 0;
        if (!cg_str_percent_decode(pair, value, sizeof(value), &vlen)) {
            cg_error_set(&err, CG_ERR_INVALID_REQUEST, NULL, "A query parameter is malformed.");
            goto bad;
        }
        if (cg_str_eq(key, CG_STR("after"))) {
            snprintf(after, after_size, "%s", value);
            page->after = vlen ? after : NULL;
        } else if (cg_str_eq(key, CG_STR("limit"))) {
            char *end = NULL;
            long long n = strtoll(value, &end, 10);
            if (vlen == 0 || *end != '\0' || n < 1 || n > INPUT_ITEMS_LIMIT_MAX) {
                cg_error_set(&err, CG_ERR_INVALID_REQUEST, "limit",
                             "'limit' must be an integer from 1 to %d.", INPUT_ITEMS_LIMIT_MAX);
                goto bad;
            }
            page->limit = (size_t)n;
        } else if (cg_str_eq(key, CG_STR("order"))) {
            if (strcmp(value, "asc") != 0 && strcmp(value, "desc") != 0) {
                cg_error_set(&err, CG_ERR_INVALID_REQUEST, "order",
                             "'order' must be 'asc' or 'desc'.");
                goto bad;
            }
            page->ascending = strcmp(value, "asc") == 0;
        }
    }
    return true;
bad:
    cg_exchange_fail(ex, &err);
    return false;
}

void cg_responses_handle_stored(struct cg_exchange *ex, void *ctx)
{
    struct cg_api *api = ctx;
    struct cg_str tail = cg_router_tail(ex, "/v1/responses");
    struct cg_str id_part = cg_str_split(&tail, '/');
    bool items = cg_str_eq(tail, CG_STR("input_items"));
    char id[RESPONSE_ID_BYTES];
    size_t idlen = 0;
    if ((tail.len > 0 && !items) || (items && ex->method == CG_METHOD_DELETE)) {
        cg_exchange_fail_code(ex, CG_ERR_NOT_FOUND);
        return;
    }
    if (!cg_str_percent_decode(id_part, id, sizeof(id), &idlen) || api->store == NULL) {
        struct cg_error err;
        cg_error_set(&err, CG_ERR_RESPONSE_NOT_FOUND, NULL, "Response with id '%.*s' not found.",
                     (int)CG_MIN(id_part.len, 80), id_part.ptr);
        cg_exchange_fail(ex, &err);
        return;
    }
    struct cg_store_page page;
    char after[256];
    if (items && !parse_page(ex, &page, after, sizeof(after)))
        return;
    struct pending *p = pending_new(ex, api);
    snprintf(p->id, sizeof(p->id), "%s", id);
    if (ex->method == CG_METHOD_DELETE) {
        cg_responses_store_delete(api->store, key_of(ex), id, on_deleted, p);
    } else if (items) {
        cg_responses_store_input_items(api->store, key_of(ex), id, &page, on_found, p);
    } else {
        p->show_encrypted = wants_encrypted(ex);
        cg_responses_store_get(api->store, key_of(ex), id, on_got, p);
    }
}
