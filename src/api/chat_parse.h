/* chat_parse.h: a Chat Completions (or legacy Completions) request body → a cg_request plus the
 * options only the encoder needs. Validation follows OpenAI: every invalid body gets a 400 whose
 * `param` names the field. The conversation is replayed statelessly: leading system/developer
 * messages become the thread's instructions, every other earlier message becomes a Responses
 * input item for thread/inject_items, and the last user message (if the conversation ends with
 * one) is the turn's input. Client tools become Codex dynamic tools under a private alias. */
#ifndef CG_API_CHAT_PARSE_H
#define CG_API_CHAT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include "core/catalog.h"
#include "core/errors.h"
#include "core/request.h"

enum { CG_STOP_MAX = 4, CG_STOP_MAX_BYTES = 256 };

struct cg_chat_limits {
    const struct cg_catalog *catalog;
    unsigned max_choices;
    bool ignore_system_prompt; /* PROXY_IGNORE_CLIENT_SYSTEM_PROMPT */
};

/* What the encoder needs beyond the cg_request. */
struct cg_chat_opts {
    bool parallel_tool_calls; /* false: only the first call of a response is returned */
    bool legacy_functions;    /* the request used `functions`: answer with function_call */
    size_t stop_count;
    char stop[CG_STOP_MAX][CG_STOP_MAX_BYTES + 1];
    bool echo;            /* legacy completions: prefix the prompt */
    const char *prompt;   /* legacy completions: the prompt (points into req) */
};

/* Parses a /v1/chat/completions body. On error fills `err` (and the request is disposed). */
enum cg_err cg_chat_parse(const char *body, size_t len, const struct cg_chat_limits *lim,
                          struct cg_request *req, struct cg_chat_opts *opts, struct cg_error *err)
    CG_MUST_CHECK;

/* Parses a legacy /v1/completions body: `prompt` (string, or array of strings joined by "\n")
 * becomes one user message. */
enum cg_err cg_completions_parse(const char *body, size_t len, const struct cg_chat_limits *lim,
                                 struct cg_request *req, struct cg_chat_opts *opts,
                                 struct cg_error *err) CG_MUST_CHECK;

/* The alias a client tool name gets on the Codex side (at most 64 characters). */
void cg_chat_tool_alias(const char *name, char *out, size_t size);

/* Does the Content-Type header value denote JSON (or is it absent)? */
bool cg_chat_json_content_type(const char *value, size_t len);

#endif
