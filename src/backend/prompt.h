/* prompt.h: a conversation as the one prompt text a per-request Codex process takes (exec
 * and proto have no thread to inject history into, and no field for instructions). A request
 * with a single user message and no instructions is that message's text, byte for byte;
 * anything more is rendered as a plain transcript (see prompt.c for the exact layout).
 * What a prompt cannot carry is refused, never dropped in silence. */
#ifndef CG_BACKEND_PROMPT_H
#define CG_BACKEND_PROMPT_H

#include "core/errors.h"
#include "core/request.h"
#include "util/buf.h"

/* Renders `req` into `out` (appended). Fails, filling `err`, with:
 *   CG_ERR_UNSUPPORTED_PARAM, param "tools": the request offers client tools (dynamic_tools);
 *   CG_ERR_UNSUPPORTED_PARAM, param NULL: it asks for an output schema (response_format or
 *     text.format), or holds an image part (the endpoint's field names differ), or an item,
 *     role or content part that a transcript has no place for;
 *   CG_ERR_TOO_LARGE, param NULL: the prompt would pass out's cap.
 * Each message names what is refused and says that the app-server backend
 * (PROXY_BACKEND=app-server) does it. On failure `out` is left as it was. */
enum cg_err cg_prompt_render(const struct cg_request *req, struct cg_buf *out,
                             struct cg_error *err) CG_MUST_CHECK;

#endif
