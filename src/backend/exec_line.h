/* exec_line.h: one stdout line of `codex exec --json` (JSONL; research/codex-runtime.md §5):
 *   thread.started, turn.started, item.started / item.updated (nothing), item.completed with
 *   item.type agent_message (MESSAGE, item.id) or reasoning (REASONING) or error (WARNING: a
 *   warning Codex types "error"), other item types (nothing), turn.completed (DONE with usage:
 *   input_tokens, cached_input_tokens, output_tokens, reasoning_output_tokens), top-level
 *   "error" (WARNING: a retry note, or the message turn.failed repeats), turn.failed (FAILED,
 *   its error mapped by cg_codex_error_map). Fuzzed by tests/fuzz/fuzz_exec_line.c. */
#ifndef CG_BACKEND_EXEC_LINE_H
#define CG_BACKEND_EXEC_LINE_H

#include <stddef.h>
#include "backend/proc_event.h"

/* Parses `line` (no newline, not NUL-terminated) into `out`, which the caller disposes. Any
 * input is accepted: what is not a JSON object is CG_PROC_MALFORMED. */
void cg_exec_line_parse(const char *line, size_t len, struct cg_proc_event *out);

#endif
