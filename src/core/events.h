/* events.h: the normalized events a backend turn produces and encoders consume. They are the
 * only thing an encoder sees, so every OpenAI shape can be tested from a list of events. */
#ifndef CG_CORE_EVENTS_H
#define CG_CORE_EVENTS_H

#include <stdint.h>
#include "core/errors.h"
#include "util/str.h"

enum cg_event_type {
    CG_EVENT_TEXT,            /* text: a content delta */
    CG_EVENT_REASONING,       /* text: a reasoning-summary delta */
    CG_EVENT_REASONING_END,   /* text: the reasoning item's encrypted_content: it is complete */
    CG_EVENT_TOOL_CALL_START, /* call_id, name, ns, tool_index */
    CG_EVENT_TOOL_CALL_ARGS,  /* tool_index, text: an arguments delta (JSON text) */
    CG_EVENT_USAGE,           /* usage: totals for this choice's turn */
    CG_EVENT_FINISH,          /* finish: the choice ended normally */
    CG_EVENT_ERROR,           /* error: the choice ended in failure */
    CG_EVENT_STARTED,         /* the choice's own Codex process started (exec, proto): a stream
                               * opens now; for the run only, encoders never see it */
};

enum cg_finish {
    CG_FINISH_STOP,
    CG_FINISH_LENGTH,
    CG_FINISH_TOOL_CALLS,
    CG_FINISH_CONTENT_FILTER,
};

struct cg_usage {
    int64_t input;
    int64_t cached; /* part of input */
    int64_t output;
    int64_t reasoning; /* part of output */
};

struct cg_event {
    enum cg_event_type type;
    unsigned choice;
    struct cg_str text;
    const char *call_id;
    const char *name;
    const char *ns; /* a tool call's namespace (the client's name), NULL for a plain function */
    unsigned tool_index;
    struct cg_usage usage;
    enum cg_finish finish;
    const struct cg_error *error;
};

static inline const char *cg_finish_name(enum cg_finish f)
{
    switch (f) {
    case CG_FINISH_LENGTH:
        return "length";
    case CG_FINISH_TOOL_CALLS:
        return "tool_calls";
    case CG_FINISH_CONTENT_FILTER:
        return "content_filter";
    case CG_FINISH_STOP:
        break;
    }
    return "stop";
}

static inline void cg_usage_add(struct cg_usage *a, const struct cg_usage *b)
{
    a->input += b->input;
    a->cached += b->cached;
    a->output += b->output;
    a->reasoning += b->reasoning;
}

#endif
