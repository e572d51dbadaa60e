/* responses_parse.h: an OpenAI Responses request body (POST /v1/responses) → a cg_request plus
 * the options only the Responses encoder and store need. Validation follows OpenAI: every
 * invalid body gets a 400 whose `param` names the field. The item list is replayed statelessly
 * as chat's messages are (replay.h); function and namespace tools become Codex dynamic tools
 * under a private alias (tools.h). Pure: no store, no I/O; stored items come from the caller. */
#ifndef CG_API_RESPONSES_PARSE_H
#define CG_API_RESPONSES_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "core/catalog.h"
#include "core/errors.h"
#include "core/limits.h"
#include "core/request.h"

/* What the parser gets from outside the body. */
struct cg_responses_context {
    const struct cg_catalog *catalog;
    bool ignore_system_prompt; /* PROXY_IGNORE_CLIENT_SYSTEM_PROMPT */
    /* Resolves an `item_reference`: the stored item with that id (new reference), or NULL
     * when there is none (a 400 naming input[i].id). NULL = no store: every id is unknown. */
    json_t *(*lookup)(void *ctx, const char *id);
    void *lookup_ctx;
    /* The items of the chain `previous_response_id` names, already resolved by the caller
     * (borrowed; NULL = none): they come before `input`, as if the client had sent them. */
    const json_t *prior_items;
};

/* What the Responses encoder and store need beyond the cg_request. The echoed fields are the
 * client's own values (owned references), or NULL when it sent none (the encoder shows OpenAI's
 * default); parallel_tool_calls_json and reasoning (the effort used) are always set. */
struct cg_responses_opts {
    bool store;                       /* default true, as OpenAI */
    bool stream;                      /* also req->stream */
    bool include_encrypted_reasoning; /* include: "reasoning.encrypted_content" */
    bool parallel_tool_calls;         /* false: only the first call of a response is returned */
    char *previous_response_id;       /* NULL = none */
    json_t *instructions;
    json_t *tools; /* as sent, with the client's names */
    json_t *tool_choice;
    json_t *parallel_tool_calls_json;
    json_t *text;      /* {format, verbosity} */
    json_t *reasoning; /* {effort (the one used), summary} */
    json_t *metadata;
    json_t *max_output_tokens;
    json_t *temperature;
    json_t *top_p;
    json_t *truncation;
    json_t *user;
    json_t *service_tier;
    json_t *prompt_cache_key;
    json_t *safety_identifier;
    /* With `store`: the body's own input items as a stored response lists them (references
     * resolved, messages in their typed form, without the chain of previous_response_id); ids
     * are the caller's to assign where the client gave none. NULL without `store`. */
    json_t *input_items;
};

void cg_responses_opts_init(struct cg_responses_opts *o);
/* Frees every member (the struct itself is the caller's). */
void cg_responses_opts_dispose(struct cg_responses_opts *o);

/* What a parsed body asks of the store before it can be parsed in full: its
 * previous_response_id and the ids of its item references (strings borrowed from the body). */
struct cg_responses_refs {
    const char *previous_id; /* NULL = none */
    const char *ids[CG_RESPONSE_REFS_MAX];
    size_t count;
    bool too_many; /* more references than CG_RESPONSE_REFS_MAX */
};

void cg_responses_refs(const json_t *root, struct cg_responses_refs *out);

/* The request fields a response echoes (a new object; cg_responses_encode_params.echo). */
json_t *cg_responses_echo(const struct cg_responses_opts *o);

/* Parses a /v1/responses body. On error fills `err`, and req and opts are disposed. */
enum cg_err cg_responses_parse(const char *body, size_t len, const struct cg_responses_context *cx,
                               struct cg_request *req, struct cg_responses_opts *opts,
                               struct cg_error *err) CG_MUST_CHECK;

/* The same for a body already loaded (a JSON object; borrowed). */
enum cg_err cg_responses_parse_root(const json_t *root, const struct cg_responses_context *cx,
                                    struct cg_request *req, struct cg_responses_opts *opts,
                                    struct cg_error *err) CG_MUST_CHECK;

#endif
