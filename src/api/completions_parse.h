/* completions_parse.h: a legacy /v1/completions body → a cg_request: `prompt` (a string, or an
 * array of strings joined by "\n") becomes the one user message of the turn. */
#ifndef CG_API_COMPLETIONS_PARSE_H
#define CG_API_COMPLETIONS_PARSE_H

#include "api/chat_parse.h"

/* On error fills `err` (and the request is disposed). */
enum cg_err cg_completions_parse(const char *body, size_t len, const struct cg_chat_limits *lim,
                                 struct cg_request *req, struct cg_chat_opts *opts,
                                 struct cg_error *err) CG_MUST_CHECK;

#endif
