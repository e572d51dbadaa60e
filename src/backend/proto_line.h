/* proto_line.h: the `codex proto` dialect (CLI releases up to 0.5x; research/reference-spec.md
 * §7): one submission line on stdin, event lines on stdout, {"id":..., "msg":{"type":...}}.
 * Event type is msg.type, else the line's own type (a leading "codex/event/" is dropped); the
 * payload is msg (or msg.msg when nested). Types:
 *   agent_message_delta / agent_message_content_delta: delta (a string, or an object with
 *     content or text) → TEXT_DELTA;  agent_message: message (string, or object with text /
 *     content) → MESSAGE;  agent_reasoning_delta → REASONING_DELTA;  agent_reasoning (text) →
 *     REASONING;  token_count → USAGE: info.total_token_usage, else the flat input_tokens /
 *     cached_input_tokens / output_tokens / reasoning_output_tokens, else prompt_tokens /
 *     completion_tokens (and their camelCase forms);  task_complete → DONE (text:
 *     last_agent_message if a string; usage if it carries counts as token_count does);
 *     error (message) → FAILED;  stream_error → RETRY;  everything else → NOTHING.
 * Fuzzed by tests/fuzz/fuzz_proto_line.c. */
#ifndef CG_BACKEND_PROTO_LINE_H
#define CG_BACKEND_PROTO_LINE_H

#include <stddef.h>
#include "backend/proc_event.h"
#include "util/buf.h"
#include "util/str.h"

/* Parses one stdout line, as cg_exec_line_parse does. */
void cg_proto_line_parse(const char *line, size_t len, struct cg_proc_event *out);

/* The one submission line (newline included) that asks for a turn on `prompt`:
 * {"id":"<id>","op":{"type":"user_input","items":[{"type":"text","text":"<prompt>"}]}}\n
 * -1 when `out` would pass its cap. */
int cg_proto_line_submission(const char *id, struct cg_str prompt,
                             struct cg_buf *out) CG_MUST_CHECK;

#endif
