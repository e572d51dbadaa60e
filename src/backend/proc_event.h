/* proc_event.h: what one stdout line of a per-request Codex process means to its choice, in
 * either dialect (`codex exec --json`: exec_line.h; `codex proto`: proto_line.h). The dialect
 * parsers are pure functions of one line; backend/proc.c turns their results into the
 * normalized events (core/events.h). */
#ifndef CG_BACKEND_PROC_EVENT_H
#define CG_BACKEND_PROC_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/errors.h"
#include "core/events.h"
#include "util/str.h"

enum cg_proc_event_kind {
    CG_PROC_NOTHING,         /* a line that changes nothing for the client (thread.started,
                              * session_configured, command items, unknown types, ...) */
    CG_PROC_MALFORMED,       /* not a JSON object (logged and skipped) */
    CG_PROC_TEXT_DELTA,      /* text: part of the answer, streamed (proto) */
    CG_PROC_MESSAGE,         /* text: one whole agent message; item_id names it (exec) */
    CG_PROC_REASONING_DELTA, /* text: part of a reasoning summary (proto) */
    CG_PROC_REASONING,       /* text: a whole reasoning summary (exec; proto agent_reasoning) */
    CG_PROC_USAGE,           /* usage: the turn's totals so far (the last one wins) */
    CG_PROC_WARNING,         /* text: a non-fatal error line (a warning, "Reconnecting...") */
    CG_PROC_RETRY,           /* text: Codex reconnects and will stream the message again */
    CG_PROC_DONE,            /* the turn completed; usage when have_usage; text: the last
                              * agent message when the line carries one (proto task_complete) */
    CG_PROC_FAILED,          /* error: the turn failed (exec turn.failed, proto error) */
};

struct cg_proc_event {
    enum cg_proc_event_kind kind;
    struct cg_str text;  /* borrowed from `doc` */
    const char *item_id; /* borrowed from `doc`; NULL when the line names no item */
    struct cg_usage usage;
    bool have_usage;
    struct cg_error error; /* CG_PROC_FAILED: the client's error (backend/codex_error.h) */
    json_t *doc;           /* owns what text and item_id point into */
};

/* Resets `out` and reads `line` for a dialect parser: the line's object (out->doc owns it), or
 * NULL with out->kind CG_PROC_MALFORMED when it is not a JSON object. Duplicate keys are
 * accepted (the last wins), as everywhere else Codex's JSON is read; \u0000 in a string is
 * content, not a reason to drop the line. */
json_t *cg_proc_event_load(const char *line, size_t len, struct cg_proc_event *out);

/* A non-negative integer member `snake` (else `camel`, when not NULL) of `obj`, at most 2^53,
 * into *out; false, *out untouched, for anything else. */
bool cg_proc_event_count(const json_t *obj, const char *snake, const char *camel, int64_t *out);
/* Codex's TokenUsage names (input_tokens, cached_input_tokens, output_tokens,
 * reasoning_output_tokens, or camelCase) into `u`; true when at least one count is valid. */
bool cg_proc_event_token_usage(const json_t *obj, struct cg_usage *u);

/* Frees what the event borrows from; the event may be parsed into again. */
static inline void cg_proc_event_dispose(struct cg_proc_event *ev)
{
    json_decref(ev->doc);
    ev->doc = NULL;
}

#endif
