/* replay.h: a conversation → the Responses items of a stateless Codex replay. Leading
 * system/developer messages become the thread's instructions, every other earlier message an
 * input item for thread/inject_items (user and assistant messages, function_call,
 * function_call_output; mid-conversation system text as developer messages, since Codex drops
 * role "system"), and the last user message, if the conversation ends with one, the turn's
 * input (text and images). Client tool names in the history get their aliases from the
 * request (cg_request_tool_alias). */
#ifndef CG_API_REPLAY_H
#define CG_API_REPLAY_H

#include <jansson.h>
#include <stdbool.h>
#include "core/errors.h"
#include "core/request.h"
#include "util/buf.h"

struct cg_replay {
    struct cg_request *req; /* gets history and input */
    struct cg_error *err;
    struct cg_buf *base;       /* leading system/developer text is appended here */
    bool ignore_system_prompt; /* PROXY_IGNORE_CLIENT_SYSTEM_PROMPT */
};

/* Chat `messages` (the member's value, may be absent): every message validated as OpenAI does
 * (roles, content types, each tool call answered before the conversation goes on, each tool
 * message answering one); sets req->history and req->input. */
enum cg_err cg_replay_messages(struct cg_replay *p, const json_t *msgs) CG_MUST_CHECK;

/* The text of a system/developer/tool/assistant content, a string or text (and refusal) parts,
 * appended to `out`. */
enum cg_err cg_replay_content_text(struct cg_replay *p, const json_t *content, const char *param,
                                   struct cg_buf *out, bool allow_null) CG_MUST_CHECK;

/* A user message's content (a string, or text and image_url parts) appended as Responses input
 * parts to `history_parts` and/or as turn/start input items to `turn_items` (either NULL). */
enum cg_err cg_replay_user_parts(struct cg_replay *p, const json_t *content, const char *param,
                                 json_t *history_parts, json_t *turn_items) CG_MUST_CHECK;

/* One text part of a user message, as a Responses input part and/or a turn/start item. */
void cg_replay_user_text(const char *text, size_t len, json_t *history_parts, json_t *turn_items);
/* One image of a user message (an http(s) or data:image/ URL; else a 400 for `param` whose
 * message names `field`), as a Responses input part and/or a turn/start item. */
enum cg_err cg_replay_user_image(struct cg_replay *p, const char *url, const char *field,
                                 const char *param, json_t *history_parts,
                                 json_t *turn_items) CG_MUST_CHECK;

/* {"type":"message","role":role,"content":[{"type":part_type,"text":text}]} (new reference). */
json_t *cg_replay_message_item(const char *role, const char *part_type, const char *text,
                               size_t len);

#endif
