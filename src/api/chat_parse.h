/* chat_parse.h: a Chat Completions request body → a cg_request plus the options only the
 * encoder needs (chat_opts.h). Validation follows OpenAI: every invalid body gets a 400 whose
 * `param` names the field. The conversation is replayed statelessly (replay.h); client tools
 * become Codex dynamic tools under a private alias (tools.h). The legacy Completions parser
 * (completions_parse.h) shares the members both bodies have through cg_chat_parse_*. */
#ifndef CG_API_CHAT_PARSE_H
#define CG_API_CHAT_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "api/chat_opts.h"
#include "core/catalog.h"
#include "core/errors.h"
#include "core/request.h"
#include "util/buf.h"

struct cg_chat_limits {
    const struct cg_catalog *catalog;
    unsigned max_choices;
    bool ignore_system_prompt; /* PROXY_IGNORE_CLIENT_SYSTEM_PROMPT */
};

/* Parses a /v1/chat/completions body. On error fills `err` (and the request is disposed). */
enum cg_err cg_chat_parse(const char *body, size_t len, const struct cg_chat_limits *lim,
                          struct cg_request *req, struct cg_chat_opts *opts,
                          struct cg_error *err) CG_MUST_CHECK;

/* One chat-family parse in progress. */
struct cg_chat_parse {
    const struct cg_chat_limits *lim;
    struct cg_request *req;
    struct cg_chat_opts *opts;
    struct cg_error *err;
    struct cg_buf base;      /* the client's instructions (system/developer text) */
    struct cg_buf developer; /* instructions the gateway adds (JSON mode, tool_choice) */
};

/* Resets req, opts and err and loads the body: the root object (new reference), or NULL with
 * `err` filled. Always pair with cg_chat_parse_end. */
json_t *cg_chat_parse_begin(struct cg_chat_parse *p, const char *body, size_t len,
                            const struct cg_chat_limits *lim, struct cg_request *req,
                            struct cg_chat_opts *opts, struct cg_error *err);
/* The members both bodies have: model, stream and stream_options, n, the parameters Codex
 * cannot carry, stop. */
enum cg_err cg_chat_parse_common(struct cg_chat_parse *p, const json_t *root) CG_MUST_CHECK;
/* Ends the parse with result `e`: on success the instructions move into the request; on
 * failure the request is disposed and `err` is sure to be filled. Drops `root`; returns `e`. */
enum cg_err cg_chat_parse_end(struct cg_chat_parse *p, json_t *root, enum cg_err e);

#endif
